"""Distance from every home to its nearest services: the tidy table and the per-home layer.

:func:`nearest_services` turns *homes* (population at residential points) and *services*
(located facilities) into an :class:`AccessResult`: the tidy distance table of the data
contract (one row per home x service type x rank) and a wide per-home layer.
:func:`compute_access` does it for an :class:`~locmap.data.area.AreaData` with the area's
default router (:func:`locmap.distance.routing.default_router`).

Coverage by area and age band is in :mod:`locmap.access.coverage`, 2SFCA in
:mod:`locmap.access.fca`, gap polygons in :mod:`locmap.access.gaps`; their public names are
also importable from here (``acc.coverage``, ``acc.two_step_fca`` ...).

Every table carries ``method`` (``"street"`` or ``"estimated"``) and ``label`` (from
:func:`locmap.distance.routing.method_label`) so an estimated distance is never shown as if it
were measured along streets.  ``distance_m`` is always the physical route length in metres
(EPSG:27700); minutes are ``distance_m / settings.metres_per_minute``, except with pram
penalties, where the routes also carry ``pram_cost_m`` (equivalent flat, paved metres) and
minutes are ``pram_cost_m / metres_per_minute`` (docs/network.md says why).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from locmap._progress import progress
from locmap.access._common import (
    ANY_KEY,
    DEFAULT_LEVELS,
    STRAIGHT_LABEL,
    TABLE_COLUMNS,
    TOTAL_ID,
    UNASSIGNED_ID,
    points_xy,
    require,
    split_services,
    wide_column,
)
from locmap.access.coverage import coverage
from locmap.access.fca import DEMAND_BANDS, demand_band_for, fca_by_area, two_step_fca, two_step_fca_numpy
from locmap.distance.routing import REASONS, NearestRoutes, Router, default_router, method_label
from locmap.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from locmap.data.area import AreaData


@dataclass
class AccessResult:
    """Distances from homes to services, with everything needed to report them honestly.

    Attributes
    ----------
    table : pandas.DataFrame
        Tidy table, one row per home x service type x rank (columns
        :data:`TABLE_COLUMNS` + ``label``).  ``distance_m``/``minutes`` are NaN
        and ``service_id`` is missing where no service could be reached.
    wide : geopandas.GeoDataFrame
        The homes with, for each service type ``<t>``: ``distance_m__<t>``,
        ``minutes__<t>``, ``nearest_id__<t>``, ``cross_border__<t>``,
        ``straight_m__<t>`` (straight line to that same service),
        ``straight_nearest_m__<t>`` (straight line to the straight-line nearest
        service) and ``unreachable__<t>``; plus ``method`` and ``label``.
    unreachable : pandas.DataFrame
        ``home_id, service_type, reason, x, y``: homes with no reachable
        service of a type (never silently dropped).
    method : str
        ``"street"`` or ``"estimated"``.
    label : str
        User-facing label for ``method``.
    settings : Settings
        Settings used (walking speed -> minutes).
    service_types : list of str
        Types computed (including :data:`ANY_KEY` when it was computed).
    excluded_services : pandas.DataFrame
        Services not used: ``service_id, service_type, name, reason``.
    skipped_types : pandas.DataFrame
        ``service_type, reason`` for types requested implicitly but not computed.
    key_service_types : list of str
        Key types the "any key service" pseudo-type is built from.
    area_lad_cd : str or None
        Study-area local authority code (``cross_border`` is relative to it).
    notes : list of str
        Human-readable notes (what was skipped and why).
    minutes_from : str
        ``"distance_m"`` (minutes = physical distance / speed) or ``"pram_cost_m"`` (pram
        penalties applied: minutes = pram cost / speed; ``pram_cost_m`` columns present).
    """

    table: pd.DataFrame
    wide: gpd.GeoDataFrame
    unreachable: pd.DataFrame
    method: str
    label: str
    settings: Settings
    service_types: list[str] = field(default_factory=list)
    excluded_services: pd.DataFrame = field(default_factory=pd.DataFrame)
    skipped_types: pd.DataFrame = field(default_factory=pd.DataFrame)
    key_service_types: list[str] = field(default_factory=list)
    area_lad_cd: str | None = None
    notes: list[str] = field(default_factory=list)
    minutes_from: str = "distance_m"

    def summary(self) -> pd.DataFrame:
        """Per type: homes, reachable homes, median/p90 minutes to the nearest service."""
        rows = []
        for t in self.service_types:
            m = self.wide[wide_column("minutes", t)]
            rows.append({
                "service_type": t, "n_homes": len(m), "n_unreachable": int(m.isna().sum()),
                "median_minutes": float(m.median()) if m.notna().any() else np.nan,
                "p90_minutes": float(m.quantile(0.9)) if m.notna().any() else np.nan,
                "method": self.method, "label": self.label,
            })
        return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- nearest
@dataclass(frozen=True)
class _TypeRoutes:
    """Routes from every home to the k nearest services of one type (arrays (n, kk))."""

    distance_m: np.ndarray
    cost_m: np.ndarray
    missing: np.ndarray
    straight_m: np.ndarray
    service_id: np.ndarray
    service_lad: np.ndarray
    cross_border: pd.arrays.BooleanArray
    straight_nearest_m: np.ndarray


def nearest_services(
    homes: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
    router: Router,
    settings: Settings | None = None,
    service_types: Sequence[str] | None = None,
    k: int | None = None,
    area_lad_cd: str | None = None,
    key_service_types: Sequence[str] | None = None,
) -> AccessResult:
    """Distance from every home to its ``k`` nearest located services of each type.

    Parameters
    ----------
    homes : GeoDataFrame
        Points with ``home_id`` (+ age bands), EPSG:27700.
    services : GeoDataFrame
        ``service_id, service_type, located, lad_cd, geometry`` (contract columns).
    router : Router
        ``locmap.distance.routing.StreetRouter`` / ``EstimatedRouter`` (``method`` and
        ``nearest_routes``).  Called once per service type, never per facility.
    settings : Settings, optional
        Walking speed for minutes; ``k_nearest`` default.
    service_types : list of str, optional
        Types to compute.  Given explicitly, a type with no located services
        raises :class:`~locmap.errors.EmptyServiceTypeError`.  ``None`` means
        every type present in ``services`` plus the key types; empty ones are
        then skipped and listed in ``AccessResult.skipped_types``.
    k : int, optional
        Number of nearest services per type (default ``settings.k_nearest``);
        capped at the number of located services of the type.
    area_lad_cd : str, optional
        Study-area LAD code; ``cross_border`` is ``service lad_cd != area_lad_cd``
        (missing when either is unknown).
    key_service_types : list of str, optional
        Types combined into the :data:`ANY_KEY` pseudo-type (the cheapest over the key
        types that were computed).

    Returns
    -------
    AccessResult
    """
    settings = settings or Settings()
    k = int(k or settings.k_nearest)
    if k < 1:
        raise ValueError("k must be >= 1")
    require(homes, ("home_id",), "homes")
    method = str(getattr(router, "method", "estimated"))
    explicit = service_types is not None
    wanted = list(service_types) if explicit else \
        sorted(set(pd.unique(services["service_type"].dropna()).tolist())
               | set(key_service_types or ()))
    per_type, excluded, skipped = split_services(services, [t for t in wanted if t != ANY_KEY],
                                                 explicit)
    home_xy = points_xy(homes, "homes")
    home_ids = homes["home_id"].to_numpy()
    mpm = settings.metres_per_minute
    tables, unreach, cols = [], [], {}
    note = ""
    for t in progress(list(per_type), settings.progress, "nearest services"):
        routes = router.nearest_routes(home_xy, points_xy(per_type[t], f"services[{t}]"),
                                       k=min(k, len(per_type[t])))
        tr = _type_routes(routes, home_xy, per_type[t], area_lad_cd)
        note = routes.cost_note or note
        tables.append(_tidy_rows(t, home_ids, tr, mpm, method))
        cols.update(_wide_columns(t, tr, mpm))
        unreach.append(_unreachable_rows(home_ids, home_xy, t, tr.missing[:, 0],
                                         _router_reasons(router, np.flatnonzero(tr.missing[:, 0]))))
    keys = [t for t in (key_service_types or ()) if t != ANY_KEY]
    notes = _notes(excluded, skipped)
    computed = list(per_type)
    if _any_key(keys, per_type, cols, home_ids, home_xy, area_lad_cd, mpm, method, tables,
                unreach, notes):
        computed.append(ANY_KEY)
    label = method_label(method) + (f"; minutes from {note}" if note else "")
    return _assemble(homes, cols, tables, unreach, notes, method, label, settings, computed,
                     excluded, skipped, keys, area_lad_cd, bool(note))


def _type_routes(routes: NearestRoutes, home_xy: np.ndarray, sub: pd.DataFrame,
                 area_lad_cd: str | None) -> _TypeRoutes:
    """Routes of one type as arrays: NaN/None where a home reached no service."""
    svc_xy = points_xy(sub, "services")
    n = home_xy.shape[0]
    idx = np.asarray(routes.idx, dtype=np.int64).reshape(n, -1)
    cost = np.asarray(routes.cost_m, dtype=float).reshape(n, -1)
    dist = np.asarray(routes.distance_m, dtype=float).reshape(n, -1)
    missing = (idx < 0) | ~np.isfinite(cost)
    safe = np.where(missing, 0, idx)
    straight = np.hypot(home_xy[:, 0:1] - svc_xy[safe, 0], home_xy[:, 1:2] - svc_xy[safe, 1])
    lad = sub["lad_cd"].to_numpy(dtype=object) if "lad_cd" in sub.columns \
        else np.full(len(sub), None, dtype=object)
    slad = np.where(missing, None, lad[safe])
    return _TypeRoutes(
        distance_m=np.where(missing, np.nan, dist), cost_m=np.where(missing, np.nan, cost),
        missing=missing, straight_m=np.where(missing, np.nan, straight),
        service_id=np.where(missing, None, sub["service_id"].to_numpy()[safe].astype(object)),
        service_lad=slad, cross_border=_cross_border(slad.ravel(), area_lad_cd),
        straight_nearest_m=(np.asarray(cKDTree(svc_xy).query(home_xy, k=1)[0], float)
                            if n else np.empty(0)))


def _tidy_rows(t: str, home_ids: np.ndarray, tr: _TypeRoutes, mpm: float,
               method: str) -> pd.DataFrame:
    """Rows of the tidy table for one type; ``pram_cost_m`` only when costs differ."""
    n, kk = tr.distance_m.shape
    tab = pd.DataFrame({
        "home_id": np.repeat(home_ids, kk), "service_type": t,
        "rank": np.tile(np.arange(1, kk + 1), n), "service_id": tr.service_id.ravel(),
        "distance_m": tr.distance_m.ravel(), "minutes": tr.cost_m.ravel() / mpm,
        "straight_m": tr.straight_m.ravel(), "service_lad_cd": tr.service_lad.ravel(),
        "cross_border": tr.cross_border, "method": method,
    })
    if not _same(tr.cost_m, tr.distance_m):
        tab.insert(5, "pram_cost_m", tr.cost_m.ravel())
    return tab


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a, b, equal_nan=True))


def _wide_columns(t: str, tr: _TypeRoutes, mpm: float) -> dict[str, Any]:
    """Per-home columns of one type (nearest service only)."""
    cols = {wide_column("distance_m", t): tr.distance_m[:, 0]}
    if not _same(tr.cost_m, tr.distance_m):
        cols[wide_column("pram_cost_m", t)] = tr.cost_m[:, 0]
    cols.update({
        wide_column("minutes", t): tr.cost_m[:, 0] / mpm,
        wide_column("nearest_id", t): tr.service_id[:, 0],
        wide_column("cross_border", t): np.asarray(tr.cross_border).reshape(tr.missing.shape)[:, 0],
        wide_column("straight_m", t): tr.straight_m[:, 0],
        wide_column("straight_nearest_m", t): tr.straight_nearest_m,
        wide_column("unreachable", t): tr.missing[:, 0],
    })
    return cols


def _unreachable_rows(home_ids: np.ndarray, home_xy: np.ndarray, t: str, missing: np.ndarray,
                      reasons: Any) -> pd.DataFrame:
    rows = np.flatnonzero(missing)
    return pd.DataFrame({"home_id": home_ids[rows], "service_type": t, "reason": reasons,
                         "x": home_xy[rows, 0], "y": home_xy[rows, 1]})


def _notes(excluded: pd.DataFrame, skipped: pd.DataFrame) -> list[str]:
    notes = []
    if len(excluded):
        notes.append(f"{len(excluded)} services excluded (no location); see excluded_services")
    for row in skipped.itertuples():
        notes.append(f"skipped {row.service_type}: {row.reason}")
    return notes


def _any_key(keys: list[str], per_type: dict, cols: dict, home_ids: np.ndarray,
             home_xy: np.ndarray, area_lad_cd: str | None, mpm: float, method: str,
             tables: list, unreach: list, notes: list) -> bool:
    """The :data:`ANY_KEY` pseudo-type: per home, the cheapest of the computed key types.

    Adds its tidy rows, wide columns and unreachable rows; returns whether it was built."""
    if not keys:
        return False
    have = [t for t in keys if t in per_type]
    lacking = [t for t in keys if t not in per_type]
    if lacking:
        notes.append(f"'{ANY_KEY}' built without {lacking} (not computed/empty)")
    if not have:
        return False
    cost_kind = "pram_cost_m" if wide_column("pram_cost_m", have[0]) in cols else "distance_m"
    c = np.column_stack([cols[wide_column(cost_kind, t)] for t in have])
    allnan = np.isnan(c).all(axis=1)
    j = np.argmin(np.where(np.isnan(c), np.inf, c), axis=1)
    rows = np.arange(len(home_ids))

    def pick(kind: str) -> np.ndarray:
        arr = np.column_stack([np.asarray(cols[wide_column(kind, t)], dtype=object) for t in have])
        out = arr[rows, j]
        out[allnan] = None
        return out

    cmin = np.where(allnan, np.nan, c[rows, j])
    dmin = pick("distance_m").astype(float)
    nearest_type = np.array(have, dtype=object)[j]
    nearest_type[allnan] = None
    sid = pick("nearest_id")
    lad_lookup = {(t, s): lad for t in have for s, lad in zip(
        per_type[t]["service_id"], per_type[t]["lad_cd"] if "lad_cd" in per_type[t].columns
        else [None] * len(per_type[t]))}
    slad = np.array([lad_lookup.get((a, b)) for a, b in zip(nearest_type, sid)], dtype=object)
    cross = _cross_border(slad, area_lad_cd)
    st = pick("straight_m").astype(float)
    tab = pd.DataFrame({
        "home_id": home_ids, "service_type": ANY_KEY, "rank": 1, "service_id": sid,
        "distance_m": dmin, "minutes": cmin / mpm, "straight_m": st, "service_lad_cd": slad,
        "cross_border": cross, "method": method})
    if cost_kind == "pram_cost_m":
        tab.insert(5, "pram_cost_m", cmin)
    tables.append(tab)
    sn = np.column_stack([cols[wide_column("straight_nearest_m", t)] for t in have])
    cols[wide_column("distance_m", ANY_KEY)] = dmin
    if cost_kind == "pram_cost_m":
        cols[wide_column("pram_cost_m", ANY_KEY)] = cmin
    cols.update({
        wide_column("minutes", ANY_KEY): cmin / mpm, wide_column("nearest_id", ANY_KEY): sid,
        wide_column("nearest_type", ANY_KEY): nearest_type,
        wide_column("cross_border", ANY_KEY): cross, wide_column("straight_m", ANY_KEY): st,
        wide_column("straight_nearest_m", ANY_KEY): (np.nanmin(sn, axis=1) if len(home_ids)
                                                     else np.empty(0)),
        wide_column("unreachable", ANY_KEY): allnan})
    unreach.append(_unreachable_rows(home_ids, home_xy, ANY_KEY, allnan,
                                     f"no reachable service of any key type {have}"))
    return True


def _assemble(homes, cols, tables, unreach, notes, method, label, settings, computed, excluded,
              skipped, keys, area_lad_cd, penalised) -> AccessResult:
    """The wide layer, the tidy table and the unreachable rows as one :class:`AccessResult`."""
    wide = homes.copy()
    for c, v in cols.items():
        wide[c] = pd.array(v, dtype="boolean") if c.startswith("cross_border__") else v
    wide["method"] = method
    wide["label"] = label
    columns = list(TABLE_COLUMNS)
    if penalised:
        columns.insert(5, "pram_cost_m")
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
    table["cross_border"] = table["cross_border"].astype("boolean")
    table["rank"] = table["rank"].astype("int64")
    table["label"] = label
    unreach = [u for u in unreach if len(u)]
    unreachable = (pd.concat(unreach, ignore_index=True) if unreach else
                   pd.DataFrame(columns=["home_id", "service_type", "reason", "x", "y"]))
    if len(unreachable):
        notes.append(f"{unreachable['home_id'].nunique()} homes cannot reach at least one "
                     f"service type; see unreachable")
    return AccessResult(
        table=table, wide=wide, unreachable=unreachable, method=method, label=label,
        settings=settings, service_types=computed, excluded_services=excluded,
        skipped_types=skipped, key_service_types=list(keys), area_lad_cd=area_lad_cd,
        notes=notes, minutes_from="pram_cost_m" if penalised else "distance_m",
    )


def _router_reasons(router: Any, rows: np.ndarray) -> np.ndarray:
    """Why each origin in ``rows`` reached nothing, from ``router.unreachable_report``
    (last call) when the router keeps one; a generic reason otherwise."""
    generic = "no reachable service of this type"
    out = np.full(len(rows), generic, dtype=object)
    report = getattr(router, "unreachable_report", None)
    table = getattr(report, "rows", None)
    if not isinstance(table, pd.DataFrame) or table.empty:
        return out
    o = table[(table["side"] == "origin") & (table["reason"] != "fewer_than_k")]
    if o.empty:
        return out
    why = (o.assign(text=o["reason"].map(lambda r: f"{generic}: {REASONS.get(r, r)}"))
           .drop_duplicates("index").set_index("index")["text"])
    got = why.reindex(rows).to_numpy(dtype=object)
    return np.where(pd.isna(got), out, got)


def _cross_border(service_lad: np.ndarray, area_lad_cd: str | tuple[str, ...] | None) -> pd.arrays.BooleanArray:
    """Service outside the area's borough(s) (``area_lad_cd``: one code or a tuple of codes) as a
    nullable boolean (NA when unknown)."""
    vals = pd.Series(service_lad, dtype=object)
    known = vals.notna() & (vals.astype(str).str.len() > 0)
    out = pd.array([pd.NA] * len(vals), dtype="boolean")
    if area_lad_cd is None:
        return out
    codes = [area_lad_cd] if isinstance(area_lad_cd, str) else list(area_lad_cd)
    res = ~vals[known].astype(str).isin([str(c) for c in codes]).to_numpy()
    out[np.flatnonzero(known.to_numpy())] = res
    return out


# ----------------------------------------------------------------------------- bundle
def _pack_attr(area: Any, name: str, default: Any = None) -> Any:
    return getattr(getattr(area, "pack", None), name, default)


def _area_lads(area: Any) -> str | tuple[str, ...] | None:
    """The area's borough code, or its boroughs' codes when it has several (a region)."""
    lads = tuple(_pack_attr(area, "lad_cds", ()) or ())
    return lads if len(lads) > 1 else _pack_attr(area, "lad_cd")


def default_router_for(area: "AreaData", settings: Settings) -> Router:
    """The project's default router for ``area``: :func:`locmap.distance.routing.default_router`
    (street when a network was asked for, else the calibrated estimate)."""
    return default_router(area, settings)


def compute_access(
    area: "AreaData",
    settings: Settings | None = None,
    router: Router | None = None,
    service_types: Sequence[str] | None = None,
    k: int | None = None,
) -> AccessResult:
    """:func:`nearest_services` for an :class:`~locmap.data.area.AreaData` bundle.

    Uses ``area.homes``, ``area.services``, ``area.pack.lad_cd`` (for
    ``cross_border``) and ``area.pack.key_service_types`` (for
    :data:`ANY_KEY`).  ``router`` defaults to
    :func:`locmap.distance.routing.default_router`.
    """
    settings = settings or getattr(area, "settings", None) or Settings.from_env()
    if router is None:
        router = default_router_for(area, settings)
    return nearest_services(
        area.homes, area.services, router, settings, service_types=service_types, k=k,
        area_lad_cd=_area_lads(area),
        key_service_types=list(_pack_attr(area, "key_service_types", ()) or ()),
    )


__all__ = [
    "ANY_KEY", "STRAIGHT_LABEL", "TABLE_COLUMNS", "DEFAULT_LEVELS", "TOTAL_ID", "UNASSIGNED_ID",
    "AccessResult", "nearest_services", "compute_access", "default_router_for", "wide_column",
    # re-exported from locmap.access.coverage / locmap.access.fca (their home modules)
    "coverage", "two_step_fca", "two_step_fca_numpy", "fca_by_area", "demand_band_for",
    "DEMAND_BANDS",
]
