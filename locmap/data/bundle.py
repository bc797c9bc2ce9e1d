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


@dataclass(frozen=True)
class LookupArea:
    """The layers of one study area a postcode look-up reads (:func:`locmap.data.area.load_for_lookup`):
    the pack, the borough and neighbour outlines, the service register and the postcode table, in
    EPSG:27700.  No population, homes, LSOAs, wards or PCNs: code that needs those takes an
    :class:`AreaData` (an attribute it reads here is missing, so such a use fails loudly)."""

    pack: object
    settings: Settings
    borough: gpd.GeoDataFrame
    neighbour_wards: gpd.GeoDataFrame
    services: gpd.GeoDataFrame
    rejects: pd.DataFrame
    #: postcode table used for geocoding (index: normalised postcode), as :attr:`AreaData.postcodes`
    postcodes: pd.DataFrame
    attribution: str
    notes: tuple[str, ...] = ()

    name = AreaData.name
    file_stem = AreaData.file_stem
    located_services = AreaData.located_services
