"""The study-area bundle: every validated layer of one area pack.

``load_area("ealing")`` is the one call notebooks and the CLI make to get data.
"""
from __future__ import annotations

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

    @property
    def name(self) -> str:
        return getattr(self.pack, "name", "area")

    def located_services(self, service_type: str | None = None) -> gpd.GeoDataFrame:
        """Services with a location (optionally of one type)."""
        s = self.services[self.services["located"]]
        if service_type is not None:
            s = s[s["service_type"] == service_type]
        return s


def load_area(name: str = "ealing", settings: Settings | None = None) -> AreaData:
    """Load and validate every layer of the area pack ``data/areas/<name>.toml``."""
    from locmap.loaders import build_area  # noqa: PLC0415  (filled in by the data layer)

    return build_area(name, settings or Settings.from_env())
