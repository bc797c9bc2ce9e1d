"""The study-area bundle: every validated layer of one area pack (built by :mod:`locmap.data.loaders`)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd

from locmap.settings import Settings


@dataclass
class AreaData:
    """All layers of one study area, in EPSG:27700.  See docs/architecture.md for columns."""

    pack: object
    settings: Settings
    wards: gpd.GeoDataFrame
    lsoa: gpd.GeoDataFrame
    towns: gpd.GeoDataFrame
    pcns: gpd.GeoDataFrame
    pcn_members: pd.DataFrame
    borough: gpd.GeoDataFrame
    neighbour_wards: gpd.GeoDataFrame
    services: gpd.GeoDataFrame
    rejects: pd.DataFrame
    homes: gpd.GeoDataFrame
    attribution: str
    notes: list[str] = field(default_factory=list)
    #: measured checks (tiling, population totals, homes, row accounting, PCN vintages)
    checks: dict = field(default_factory=dict)
    #: postcode table used for geocoding (index: normalised postcode)
    postcodes: pd.DataFrame | None = None
    #: homes in neighbouring boroughs near the border: cross-border demand for 2SFCA only
    neighbour_homes: gpd.GeoDataFrame | None = None

    @property
    def name(self) -> str:
        return getattr(self.pack, "name", "area")

    @property
    def file_stem(self) -> str:
        """The area name made safe for file names (``london:camden`` -> ``london_camden``)."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name)

    def located_services(self, service_type: str | None = None) -> gpd.GeoDataFrame:
        """Services with a location (optionally of one type)."""
        s = self.services[self.services["located"]]
        if service_type is not None:
            s = s[s["service_type"] == service_type]
        return s
