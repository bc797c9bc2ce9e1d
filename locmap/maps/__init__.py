"""locmap.maps"""
