"""locmap: map the needs and assets of a place for family-hub planning.

Plain data in, plain data out: loaders return GeoDataFrames in EPSG:27700
(British National Grid, metres); configuration lives in one
:class:`locmap.settings.Settings` object.
"""
from locmap.settings import Settings
from locmap.errors import LocmapError

__version__ = "0.1.0"
__all__ = ["Settings", "LocmapError", "__version__"]
