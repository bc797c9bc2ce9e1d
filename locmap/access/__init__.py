"""locmap.access"""
