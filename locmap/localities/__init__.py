"""locmap.localities"""
