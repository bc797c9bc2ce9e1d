"""The study-area bundle: every validated layer of one area pack.

``load_area("ealing")`` is the one call notebooks and the CLI make to get data.
"""
from __future__ import annotations

import dataclasses
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

    def located_services(self, service_type: str | None = None) -> gpd.GeoDataFrame:
        """Services with a location (optionally of one type)."""
        s = self.services[self.services["located"]]
        if service_type is not None:
            s = s[s["service_type"] == service_type]
        return s


_CACHE: dict = {}


def load_area(name: str = "ealing", settings: Settings | None = None, user_services=None,
              use_cache: bool = True) -> AreaData:
    """Load and validate every layer of the area pack ``data/areas/<name>.toml``.

    Parameters
    ----------
    name : str
        Area pack name (``data/areas/<name>.toml``) or a path to a manifest.
    settings : Settings, optional
        Defaults to ``Settings.from_env()``.
    user_services : path, optional
        A CSV of services to add/replace/remove (docs/services.md); default
        ``settings.user_services`` (set by the CLI's ``--services``).
    use_cache : bool
        Reuse an already-loaded bundle in this process for the same inputs.

    Returns
    -------
    AreaData
        All layers in EPSG:27700 with population (people) by age band.
    """
    from locmap.data.loaders import build_area  # noqa: PLC0415

    settings = settings or Settings.from_env()
    user_services = user_services or settings.user_services
    # only what changes the loaded data (not speeds, thresholds or profile) keys the cache
    key = (str(name), str(settings.resolve_data_root()), str(settings.project_root), settings.crs,
           settings.buffer_m, str(user_services))
    if use_cache and key in _CACHE:
        # same data, possibly different speeds/thresholds: share the layers, carry these settings
        return dataclasses.replace(_CACHE[key], settings=settings)
    area = build_area(name, settings, user_services=user_services)
    if use_cache:
        _CACHE[key] = area
    return area
