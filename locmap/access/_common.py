"""Shared pieces of the access modules: column names, constants and input checks."""
from __future__ import annotations

from typing import Iterable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from locmap.distance.routing import method_label
from locmap.errors import CRSError, EmptyServiceTypeError, LocmapError, MissingColumnError

#: Pseudo service type: the nearest of any of the manifest's key service types.
ANY_KEY = "any_key_service"

#: Label for the straight-line comparison columns.
STRAIGHT_LABEL = "straight-line distance (as the crow flies)"

#: Columns of the tidy distance table (data contract, docs/architecture.md).  With pram
#: penalties a ``pram_cost_m`` column follows ``distance_m`` (see docs/network.md).
TABLE_COLUMNS: tuple[str, ...] = (
    "home_id", "service_type", "rank", "service_id", "distance_m", "minutes", "straight_m",
    "service_lad_cd", "cross_border", "method",
)

#: Default area levels for coverage: level name -> homes column.
DEFAULT_LEVELS: dict[str, str] = {
    "lsoa": "lsoa21cd", "ward": "ward_cd", "town": "town", "pcn": "pcn_code",
}

TOTAL_ID = "__total__"
UNASSIGNED_ID = "__unassigned__"


def wide_column(kind: str, service_type: str) -> str:
    """Name of a per-home wide column, e.g. ``wide_column("minutes", "gp_practice")``."""
    return f"{kind}__{service_type}"


def points_xy(gdf: gpd.GeoDataFrame, what: str) -> np.ndarray:
    """(n, 2) array of point coordinates (metres); a geographic CRS or missing geometry is refused."""
    crs = gdf.crs
    if crs is not None and crs.is_geographic:
        raise CRSError(what, f"coordinates are in a geographic CRS ({crs.to_string()}); "
                             "reproject to EPSG:27700 (metres) before measuring")
    geom = gdf.geometry
    if len(geom) == 0:
        return np.empty((0, 2), dtype=float)
    if geom.isna().any() or geom.is_empty.any():
        bad = np.flatnonzero((geom.isna() | geom.is_empty).to_numpy())[:5]
        raise LocmapError(f"{what}: {int((geom.isna() | geom.is_empty).sum())} rows have no "
                          f"geometry (first positions: {bad.tolist()})")
    if not (geom.geom_type == "Point").all():
        geom = geom.representative_point()
    return np.column_stack([geom.x.to_numpy(dtype=float), geom.y.to_numpy(dtype=float)])


def require(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise :class:`MissingColumnError` naming the first missing column."""
    for c in columns:
        if c not in df.columns:
            raise MissingColumnError(what, c, list(df.columns))


def method_of(wide: pd.DataFrame, method: str | None, label: str | None) -> tuple[str, str]:
    """``(method, label)``: the given ones, else those stored in the table."""
    if method is None:
        method = str(wide["method"].iat[0]) if "method" in wide.columns and len(wide) else \
            "estimated"
    if label is None:
        label = str(wide["label"].iat[0]) if "label" in wide.columns and len(wide) else \
            method_label(method)
    return method, label


def area_keys(wide: pd.DataFrame, column: str) -> np.ndarray:
    """Area id per home as text; missing ids become :data:`UNASSIGNED_ID`."""
    require(wide, (column,), "homes")
    key = wide[column].astype(object)
    return key.where(key.notna(), UNASSIGNED_ID).astype(str).to_numpy()


def split_services(services: pd.DataFrame, service_types: Sequence[str] | None,
                   explicit: bool) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    """Located services per type, the excluded rows (with a reason) and the skipped types.

    ``explicit``: the caller named the types, so an empty one raises
    :class:`EmptyServiceTypeError` instead of being skipped.
    """
    require(services, ("service_id", "service_type"), "services")
    located = services["located"].fillna(False).astype(bool) if "located" in services.columns \
        else pd.Series(True, index=services.index)
    geom_ok = ~(services.geometry.isna() | services.geometry.is_empty) \
        if isinstance(services, gpd.GeoDataFrame) else pd.Series(True, index=services.index)
    excluded_df = _excluded(services, located, geom_ok)
    usable = services[located & geom_ok]
    types = list(dict.fromkeys(service_types)) if service_types is not None else \
        sorted(pd.unique(services["service_type"].dropna()).tolist())
    per_type: dict[str, pd.DataFrame] = {}
    skipped = []
    for t in types:
        sub = usable[usable["service_type"] == t]
        if len(sub) == 0:
            n_all = int((services["service_type"] == t).sum())
            reason = (f"no located services of type '{t}' "
                      f"({n_all} listed, {n_all} without location)" if n_all else
                      f"no services of type '{t}' in the register")
            if explicit:
                raise EmptyServiceTypeError(f"services: {reason}")
            skipped.append({"service_type": t, "reason": reason})
            continue
        per_type[t] = sub
    return per_type, excluded_df, pd.DataFrame(skipped, columns=["service_type", "reason"])


def _excluded(services: pd.DataFrame, located: pd.Series, geom_ok: pd.Series) -> pd.DataFrame:
    parts = []
    for mask, reason in ((~located, "not located (located == False)"),
                         (located & ~geom_ok, "located == True but geometry missing/empty")):
        if mask.any():
            part = services.loc[mask, [c for c in ("service_id", "service_type", "name")
                                       if c in services.columns]].copy()
            part["reason"] = reason
            parts.append(pd.DataFrame(part))
    return (pd.concat(parts, ignore_index=True) if parts else
            pd.DataFrame(columns=["service_id", "service_type", "name", "reason"]))


__all__ = ["ANY_KEY", "STRAIGHT_LABEL", "TABLE_COLUMNS", "DEFAULT_LEVELS", "TOTAL_ID",
           "UNASSIGNED_ID", "wide_column", "points_xy", "require", "method_of", "area_keys",
           "split_services"]
