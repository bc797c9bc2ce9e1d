"""locmap.data"""
