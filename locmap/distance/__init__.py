"""locmap.distance"""
