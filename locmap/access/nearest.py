"""Distance from every home to the nearest services, coverage, and 2SFCA.

The module turns *homes* (population at residential points) and *services*
(located facilities) into:

* :func:`nearest_services` - the tidy distance table of the data contract
  (one row per home x service type x rank) plus a wide per-home layer, both
  wrapped in an :class:`AccessResult`;
* :func:`coverage` - people within / beyond each pram-distance threshold, per
  area level (LSOA, ward, town, PCN) and age band, with a borough total;
* :func:`two_step_fca` / :func:`fca_by_area` - capacity-aware access (two-step
  floating catchment area, via PySAL ``access``);
* :func:`compute_access` - the whole thing for an :class:`~locmap.data.area.AreaData`.

Gap polygons live in :mod:`locmap.access.gaps`.

Every table carries ``method`` (``"street"`` or ``"estimated"``) and ``label``
(from :func:`locmap.distance.routing.method_label`) so an estimated distance is never
shown as if it were measured along streets.  Distances are metres in
EPSG:27700; minutes are ``distance_m / settings.metres_per_minute``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from locmap.errors import CRSError, EmptyServiceTypeError, LocmapError, MissingColumnError
from locmap.bands import BANDS
from locmap.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from locmap.data.area import AreaData

#: Pseudo service type: the nearest of any of the manifest's key service types.
ANY_KEY = "any_key_service"

#: Label for the straight-line comparison columns.
STRAIGHT_LABEL = "straight-line distance (as the crow flies)"

#: Columns of the tidy distance table (data contract, docs/architecture.md).
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

# the routing module owns the user-facing wording of each method
from locmap.distance.routing import method_label  # noqa: E402


def _progress(iterable: Iterable, settings: Settings, desc: str, total: int | None = None):
    if not settings.progress:
        return iterable
    from tqdm.auto import tqdm  # noqa: PLC0415

    return tqdm(iterable, desc=desc, total=total, leave=False)


def _points_xy(gdf: gpd.GeoDataFrame, what: str) -> np.ndarray:
    """(n, 2) array of point coordinates; projected CRS required."""
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


def _require(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    for c in columns:
        if c not in df.columns:
            raise MissingColumnError(what, c, list(df.columns))


def _safe(name: str) -> str:
    return str(name)


def wide_column(kind: str, service_type: str) -> str:
    """Name of a per-home wide column, e.g. ``wide_column("minutes", "gp_practice")``."""
    return f"{kind}__{_safe(service_type)}"


# ----------------------------------------------------------------------------- result
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
def _split_services(services: pd.DataFrame, service_types: Sequence[str] | None,
                    explicit: bool) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, pd.DataFrame]:
    """Located services per type, the excluded rows and the skipped types."""
    _require(services, ("service_id", "service_type"), "services")
    located = services["located"].fillna(False).astype(bool) if "located" in services.columns \
        else pd.Series(True, index=services.index)
    geom_ok = ~(services.geometry.isna() | services.geometry.is_empty) \
        if isinstance(services, gpd.GeoDataFrame) else pd.Series(True, index=services.index)
    excluded = []
    not_loc = ~located
    bad_geom = located & ~geom_ok
    for mask, reason in ((not_loc, "not located (located == False)"),
                         (bad_geom, "located == True but geometry missing/empty")):
        if mask.any():
            part = services.loc[mask, [c for c in ("service_id", "service_type", "name")
                                       if c in services.columns]].copy()
            part["reason"] = reason
            excluded.append(pd.DataFrame(part))
    excluded_df = (pd.concat(excluded, ignore_index=True) if excluded else
                   pd.DataFrame(columns=["service_id", "service_type", "name", "reason"]))
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
    skipped_df = pd.DataFrame(skipped, columns=["service_type", "reason"])
    return per_type, excluded_df, skipped_df


def nearest_services(
    homes: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
    router: Any,
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
        Object with ``method`` and ``nearest(origins_xy, targets_xy, k, max_m)``
        (``locmap.distance.routing.StreetRouter`` / ``EstimatedRouter``).  Called once per
        service type, never per facility.
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
        Types combined into the :data:`ANY_KEY` pseudo-type (minimum distance
        over the key types that were computed).

    Returns
    -------
    AccessResult
    """
    settings = settings or Settings()
    k = int(k or settings.k_nearest)
    if k < 1:
        raise ValueError("k must be >= 1")
    _require(homes, ("home_id",), "homes")
    method = str(getattr(router, "method", "estimated"))
    label = method_label(method)
    mpm = settings.metres_per_minute

    explicit = service_types is not None
    wanted = list(service_types) if explicit else \
        sorted(set(pd.unique(services["service_type"].dropna()).tolist())
               | set(key_service_types or ()))
    wanted = [t for t in wanted if t != ANY_KEY]
    per_type, excluded, skipped = _split_services(services, wanted, explicit)

    home_xy = _points_xy(homes, "homes")
    home_ids = homes["home_id"].to_numpy()
    n = len(home_ids)
    wide = homes.copy()
    tables: list[pd.DataFrame] = []
    unreach: list[pd.DataFrame] = []
    notes: list[str] = []
    if len(excluded):
        notes.append(f"{len(excluded)} services excluded (no location); see excluded_services")
    for row in skipped.itertuples():
        notes.append(f"skipped {row.service_type}: {row.reason}")

    new_cols: dict[str, Any] = {}
    for t in _progress(list(per_type), settings, "nearest services"):
        sub = per_type[t]
        svc_xy = _points_xy(sub, f"services[{t}]")
        svc_ids = sub["service_id"].to_numpy()
        svc_lad = sub["lad_cd"].to_numpy(dtype=object) if "lad_cd" in sub.columns \
            else np.full(len(sub), None, dtype=object)
        kk = min(k, len(sub))
        dist, idx = router.nearest(home_xy, svc_xy, k=kk)
        dist = np.asarray(dist, dtype=float).reshape(n, kk)
        idx = np.asarray(idx, dtype=np.int64).reshape(n, kk)
        missing = (idx < 0) | ~np.isfinite(dist)
        dist = np.where(missing, np.nan, dist)
        idx = np.where(missing, -1, idx)
        safe_idx = np.where(missing, 0, idx)
        straight = np.hypot(home_xy[:, 0:1] - svc_xy[safe_idx, 0],
                            home_xy[:, 1:2] - svc_xy[safe_idx, 1])
        straight = np.where(missing, np.nan, straight)
        sid = np.where(missing, None, svc_ids[safe_idx].astype(object))
        slad = np.where(missing, None, svc_lad[safe_idx])
        cross = _cross_border(slad.ravel(), area_lad_cd)
        tab = pd.DataFrame({
            "home_id": np.repeat(home_ids, kk),
            "service_type": t,
            "rank": np.tile(np.arange(1, kk + 1), n),
            "service_id": sid.ravel(),
            "distance_m": dist.ravel(),
            "minutes": dist.ravel() / mpm,
            "straight_m": straight.ravel(),
            "service_lad_cd": slad.ravel(),
            "cross_border": cross,
            "method": method,
        })
        tables.append(tab)

        # straight-line nearest of the type (for the crow-flies comparison)
        straight_nearest = cKDTree(svc_xy).query(home_xy, k=1)[0] if n else np.empty(0)

        first = tab[tab["rank"] == 1]
        new_cols[wide_column("distance_m", t)] = dist[:, 0]
        new_cols[wide_column("minutes", t)] = dist[:, 0] / mpm
        new_cols[wide_column("nearest_id", t)] = sid[:, 0]
        new_cols[wide_column("cross_border", t)] = first["cross_border"].to_numpy()
        new_cols[wide_column("straight_m", t)] = straight[:, 0]
        new_cols[wide_column("straight_nearest_m", t)] = np.asarray(straight_nearest, float)
        new_cols[wide_column("unreachable", t)] = missing[:, 0]
        if missing[:, 0].any():
            rows = np.flatnonzero(missing[:, 0])
            unreach.append(pd.DataFrame({
                "home_id": home_ids[rows], "service_type": t,
                "reason": _router_reasons(router, rows),
                "x": home_xy[rows, 0], "y": home_xy[rows, 1],
            }))

    computed = list(per_type)
    keys = [t for t in (key_service_types or ()) if t != ANY_KEY]
    if keys:
        have = [t for t in keys if t in per_type]
        lacking = [t for t in keys if t not in per_type]
        if lacking:
            notes.append(f"'{ANY_KEY}' built without {lacking} (not computed/empty)")
        if have:
            d = np.column_stack([new_cols[wide_column("distance_m", t)] for t in have])
            allnan = np.isnan(d).all(axis=1)
            j = np.argmin(np.where(np.isnan(d), np.inf, d), axis=1)
            rows_ = np.arange(n)

            def pick(kind: str) -> np.ndarray:
                arr = np.column_stack([np.asarray(new_cols[wide_column(kind, t)], dtype=object)
                                       for t in have])
                out = arr[rows_, j]
                out[allnan] = None
                return out

            dmin = np.where(allnan, np.nan, d[rows_, j])
            st = pick("straight_m").astype(float)
            sn = np.column_stack([new_cols[wide_column("straight_nearest_m", t)] for t in have])
            nearest_type = np.array(have, dtype=object)[j]
            nearest_type[allnan] = None
            sid = pick("nearest_id")
            lad_lookup = {
                (t, sid_): lad for t in have
                for sid_, lad in zip(per_type[t]["service_id"],
                                     per_type[t]["lad_cd"] if "lad_cd" in per_type[t].columns
                                     else [None] * len(per_type[t]))
            }
            slad = np.array([lad_lookup.get((a, b)) for a, b in zip(nearest_type, sid)],
                            dtype=object)
            cross = _cross_border(slad, area_lad_cd)
            tables.append(pd.DataFrame({
                "home_id": home_ids, "service_type": ANY_KEY, "rank": 1,
                "service_id": sid, "distance_m": dmin, "minutes": dmin / mpm,
                "straight_m": st, "service_lad_cd": slad, "cross_border": cross,
                "method": method,
            }))
            new_cols[wide_column("distance_m", ANY_KEY)] = dmin
            new_cols[wide_column("minutes", ANY_KEY)] = dmin / mpm
            new_cols[wide_column("nearest_id", ANY_KEY)] = sid
            new_cols[wide_column("nearest_type", ANY_KEY)] = nearest_type
            new_cols[wide_column("cross_border", ANY_KEY)] = cross
            new_cols[wide_column("straight_m", ANY_KEY)] = st
            new_cols[wide_column("straight_nearest_m", ANY_KEY)] = np.nanmin(sn, axis=1) \
                if n else np.empty(0)
            new_cols[wide_column("unreachable", ANY_KEY)] = allnan
            if allnan.any():
                rows = np.flatnonzero(allnan)
                unreach.append(pd.DataFrame({
                    "home_id": home_ids[rows], "service_type": ANY_KEY,
                    "reason": f"no reachable service of any key type {have}",
                    "x": home_xy[rows, 0], "y": home_xy[rows, 1],
                }))
            computed.append(ANY_KEY)

    for c, v in new_cols.items():
        if c.startswith("cross_border__"):
            wide[c] = pd.array(v, dtype="boolean")
        else:
            wide[c] = v
    wide["method"] = method
    wide["label"] = label

    table = (pd.concat(tables, ignore_index=True) if tables else
             pd.DataFrame(columns=list(TABLE_COLUMNS)))
    table["cross_border"] = table["cross_border"].astype("boolean")
    table["rank"] = table["rank"].astype("int64")
    table["label"] = label
    unreachable = (pd.concat(unreach, ignore_index=True) if unreach else
                   pd.DataFrame(columns=["home_id", "service_type", "reason", "x", "y"]))
    if len(unreachable):
        notes.append(f"{unreachable['home_id'].nunique()} homes cannot reach at least one "
                     f"service type; see unreachable")
    return AccessResult(
        table=table, wide=wide, unreachable=unreachable, method=method, label=label,
        settings=settings, service_types=computed, excluded_services=excluded,
        skipped_types=skipped, key_service_types=list(keys), area_lad_cd=area_lad_cd,
        notes=notes,
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
    try:
        from locmap.distance.routing import REASONS  # noqa: PLC0415
    except ImportError:  # pragma: no cover
        REASONS = {}
    o = table[(table["side"] == "origin") & (table["reason"] != "fewer_than_k")]
    if o.empty:
        return out
    why = (o.assign(text=o["reason"].map(lambda r: f"{generic}: {REASONS.get(r, r)}"))
           .drop_duplicates("index").set_index("index")["text"])
    got = why.reindex(rows).to_numpy(dtype=object)
    return np.where(pd.isna(got), out, got)


def _cross_border(service_lad: np.ndarray, area_lad_cd: str | None) -> pd.arrays.BooleanArray:
    """``service_lad != area_lad_cd`` as a nullable boolean (NA when unknown)."""
    vals = pd.Series(service_lad, dtype=object)
    known = vals.notna() & (vals.astype(str).str.len() > 0)
    out = pd.array([pd.NA] * len(vals), dtype="boolean")
    if area_lad_cd is None:
        return out
    res = (vals[known].astype(str) != str(area_lad_cd)).to_numpy()
    out[np.flatnonzero(known.to_numpy())] = res
    return out


# ----------------------------------------------------------------------------- coverage
def _bands_present(df: pd.DataFrame, bands: Sequence[str]) -> list[str]:
    _require(df, bands, "homes")
    return list(bands)


def _method_of(wide: pd.DataFrame, method: str | None, label: str | None) -> tuple[str, str]:
    if method is None:
        method = str(wide["method"].iat[0]) if "method" in wide.columns and len(wide) else \
            "estimated"
    if label is None:
        label = str(wide["label"].iat[0]) if "label" in wide.columns and len(wide) else \
            method_label(method)
    return method, label


def _area_keys(wide: pd.DataFrame, column: str) -> np.ndarray:
    _require(wide, (column,), "homes")
    key = wide[column].astype(object)
    return key.where(key.notna(), UNASSIGNED_ID).astype(str).to_numpy()


def coverage(
    wide_homes: pd.DataFrame,
    areas: Mapping[str, str] | None = None,
    thresholds_minutes: Sequence[float] = (10.0, 15.0, 20.0),
    service_types: Sequence[str] | None = None,
    bands: Sequence[str] = BANDS,
    settings: Settings | None = None,
    method: str | None = None,
    label: str | None = None,
) -> pd.DataFrame:
    """People within / beyond each threshold, per area, service type and age band.

    Parameters
    ----------
    wide_homes : DataFrame
        ``AccessResult.wide``: homes with band columns and ``minutes__<type>``,
        ``straight_nearest_m__<type>``, ``unreachable__<type>``.
    areas : dict, optional
        Level name -> homes column (default :data:`DEFAULT_LEVELS`, only the
        columns present).  Homes with a missing area id are reported under
        ``"__unassigned__"`` so totals are conserved.
    thresholds_minutes : list of float
        Pram-distance thresholds (minutes).  "Within" means ``minutes <= t``.
    service_types : list of str, optional
        Default: every type with a ``minutes__`` column.
    bands : list of str
        Population columns (people, may be fractional).
    settings : Settings, optional
        Walking speed used to turn thresholds into metres for the straight-line
        comparison (default ``Settings()``: 4.0 km/h).
    method, label : str, optional
        Override the routing method/label (default: from ``wide_homes``).

    Returns
    -------
    DataFrame
        ``level, area_id, service_type, threshold_minutes, band, pop_within,
        pop_beyond, pop_total, pct_within, pop_unreachable, pct_within_straight,
        straight_label, method, label``, plus one ``area_id="__total__"`` row per
        level.  ``pop_total`` is defined as ``pop_within + pop_beyond`` (so the
        identity is exact); it equals the sum of the band over the area's homes
        up to floating-point rounding.  Unreachable homes count as beyond and
        their people are also in ``pop_unreachable``.  ``pct_within_straight``
        uses the straight line to the nearest service (``straight_nearest_m``)
        at the same walking speed - a comparison only, labelled
        ``straight_label``.
    """
    settings = settings or Settings()
    method, label = _method_of(wide_homes, method, label)
    if areas is None:
        areas = {lvl: col for lvl, col in DEFAULT_LEVELS.items() if col in wide_homes.columns}
    if service_types is None:
        service_types = [c.split("__", 1)[1] for c in wide_homes.columns
                         if c.startswith("minutes__")]
    bands = _bands_present(wide_homes, bands)
    pop = wide_homes[list(bands)].to_numpy(dtype=float)
    pop = np.where(np.isfinite(pop), pop, 0.0)
    keys = {lvl: _area_keys(wide_homes, col) for lvl, col in areas.items()}

    out: list[pd.DataFrame] = []
    for t in service_types:
        _require(wide_homes, (wide_column("minutes", t),), "homes (access results)")
        minutes = wide_homes[wide_column("minutes", t)].to_numpy(dtype=float)
        unreach = ~np.isfinite(minutes)
        sn_col = wide_column("straight_nearest_m", t)
        straight = wide_homes[sn_col].to_numpy(dtype=float) if sn_col in wide_homes.columns \
            else np.full(len(minutes), np.nan)
        for thr in thresholds_minutes:
            thr = float(thr)
            within = np.isfinite(minutes) & (minutes <= thr)
            within_s = np.isfinite(straight) & (straight <= thr * settings.metres_per_minute)
            # people arrays: (n_homes, n_bands * 4)
            w = pop * within[:, None]
            b = pop * (~within)[:, None]
            u = pop * unreach[:, None]
            ws = pop * within_s[:, None]
            stacked = np.hstack([w, b, u, ws])
            for lvl, key in keys.items():
                g = pd.DataFrame(stacked).groupby(key, sort=True).sum()
                tot = g.sum(axis=0).to_frame().T
                tot.index = [TOTAL_ID]
                g = pd.concat([g, tot])
                nb = len(bands)
                for bi, band in enumerate(bands):
                    pw = g.iloc[:, bi].to_numpy()
                    pb = g.iloc[:, nb + bi].to_numpy()
                    pu = g.iloc[:, 2 * nb + bi].to_numpy()
                    pws = g.iloc[:, 3 * nb + bi].to_numpy()
                    ptot = pw + pb
                    with np.errstate(invalid="ignore", divide="ignore"):
                        pct = np.where(ptot > 0, 100.0 * pw / ptot, np.nan)
                        pcts = np.where(ptot > 0, 100.0 * pws / ptot, np.nan)
                    out.append(pd.DataFrame({
                        "level": lvl, "area_id": g.index.astype(str), "service_type": t,
                        "threshold_minutes": thr, "band": band, "pop_within": pw,
                        "pop_beyond": pb, "pop_total": ptot, "pct_within": pct,
                        "pop_unreachable": pu, "pct_within_straight": pcts,
                    }))
    cols = ["level", "area_id", "service_type", "threshold_minutes", "band", "pop_within",
            "pop_beyond", "pop_total", "pct_within", "pop_unreachable",
            "pct_within_straight", "straight_label", "method", "label"]
    if not out:
        return pd.DataFrame(columns=cols)
    res = pd.concat(out, ignore_index=True)
    res["straight_label"] = STRAIGHT_LABEL
    res["method"] = method
    res["label"] = label
    return res[cols]


# ----------------------------------------------------------------------------- 2SFCA
#: Who uses each service type (2SFCA demand) unless the caller chooses one band.
DEMAND_BANDS: dict[str, str] = {
    "childrens_centre": "pop_0_4",
    "nursery_school": "pop_0_4",
    "primary_school": "pop_5_11",
    "secondary_school": "pop_12_19",
    "special_school": "pop_0_19",
    "other_school": "pop_0_19",
    "gp_practice": "pop_total",
    "pharmacy": "pop_total",
    "library": "pop_total",
}


def demand_band_for(service_type: str, default: str = "pop_0_4") -> str:
    """The age band whose people use ``service_type`` (:data:`DEMAND_BANDS`)."""
    return DEMAND_BANDS.get(service_type, default)


def _capacities(sub: pd.DataFrame, column: str) -> tuple[np.ndarray, str]:
    """Supply per facility and a note on how missing capacities were filled.

    A type with no capacity at all gets 1.0 per facility (every facility equal).
    A type with some capacities gets the *median of the known ones* for the
    missing, because 1.0 next to real school rolls of ~400 would make those
    facilities vanish from the ratio.
    """
    if column not in sub.columns:
        return np.ones(len(sub)), "no capacity column: 1.0 per facility"
    cap = pd.to_numeric(sub[column], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(cap) & (cap > 0)
    if not ok.any():
        return np.ones(len(sub)), "no capacities: 1.0 per facility"
    if ok.all():
        return cap, "all capacities known"
    fill = float(np.median(cap[ok]))
    cap = np.where(ok, cap, fill)
    return cap, f"{int((~ok).sum())} of {len(ok)} capacities missing: filled with median {fill:g}"


def two_step_fca_numpy(
    demand: np.ndarray, supply: np.ndarray, cost: np.ndarray, max_cost: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Plain two-step floating catchment area (Luo & Wang 2003), dense numpy.

    Parameters
    ----------
    demand : (n,) people at each origin
    supply : (m,) capacity at each facility
    cost : (n, m) travel cost, ``inf`` where unreachable
    max_cost : catchment size (same unit as ``cost``; ``cost <= max_cost`` is inside)

    Returns
    -------
    access : (n,) supply per person reachable from each origin (0 where none)
    ratio : (m,) facility supply-to-demand ratio R_j (NaN where no demand in catchment)
    """
    inside = np.isfinite(cost) & (cost <= max_cost)
    demand_in = inside.T.astype(float) @ np.asarray(demand, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(demand_in > 0, np.asarray(supply, float) / demand_in, np.nan)
    access = inside.astype(float) @ np.where(np.isfinite(ratio), ratio, 0.0)
    return access, ratio


def _fca_with_access_lib(home_ids: np.ndarray, demand: np.ndarray, svc_ids: np.ndarray,
                         supply: np.ndarray, long: pd.DataFrame, max_cost: float) -> np.ndarray:
    """2SFCA through PySAL ``access`` (``Access.two_stage_fca``)."""
    from access import Access  # noqa: PLC0415

    demand_df = pd.DataFrame({"geoid": home_ids, "demand": demand})
    supply_df = pd.DataFrame({"geoid": svc_ids, "supply": supply})
    with warnings.catch_warnings():
        # access 1.1.10 uses set_index(inplace=True), deprecated in pandas 3.1 (Pandas4Warning)
        warnings.simplefilter("ignore")
        a = Access(demand_df=demand_df, demand_index="geoid", demand_value="demand",
                   supply_df=supply_df, supply_index="geoid", supply_value="supply",
                   cost_df=long, cost_origin="origin", cost_dest="dest", cost_name="cost")
        res = a.two_stage_fca(name="fca", max_cost=max_cost)
    s = res["fca_supply"].reindex(pd.Index(home_ids, name="geoid"))
    return s.fillna(0.0).to_numpy(dtype=float)


def two_step_fca(
    homes: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
    router: Any,
    settings: Settings | None = None,
    service_types: Sequence[str] | None = None,
    thresholds_minutes: Sequence[float] | None = None,
    demand_band: str = "pop_0_4",
    capacity_column: str = "capacity",
    engine: str = "access",
    per: float = 1000.0,
    extra_demand: gpd.GeoDataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Capacity-aware access: two-step floating catchment area per home.

    Step 1: each facility's capacity is divided by the demand (``demand_band``
    people) of all homes within ``threshold`` minutes of it.  Step 2: each
    home sums those ratios over the facilities within ``threshold`` minutes.
    Costs come from **one** ``router.matrix`` call per service type, limited
    to the largest threshold, converted to minutes.

    Parameters
    ----------
    homes, services : GeoDataFrame
        As for :func:`nearest_services`.
    router : Router
        Needs ``matrix(origins_xy, targets_xy, max_m)`` and ``method``.
    settings : Settings, optional
    service_types : list of str, optional
        Default: every type with located services.
    thresholds_minutes : list of float, optional
        Catchment sizes (default ``settings.thresholds_minutes``).
    demand_band : str
        Demand column (people, default children 0-4).
    capacity_column : str
        Supply column; see :func:`_capacities` for missing values.
    engine : {"access", "numpy"}
        ``"access"`` uses PySAL ``access`` (checked with pandas 3.1);
        ``"numpy"`` the dense reference implementation.
    per : float
        Scale: the ratio is reported per ``per`` people (``fca_per_1000``).
    extra_demand : GeoDataFrame, optional
        Demand-only homes (e.g. ``AreaData.neighbour_homes``: people in neighbouring
        boroughs near the border).  They count in every facility's catchment (step 1)
        but get no rows in ``per_home``: without them, services near the border look
        better than they are because cross-border users are ignored.

    Returns
    -------
    per_home : DataFrame
        ``home_id, service_type, threshold_minutes, demand_band, fca_ratio,
        fca_per_1000, n_in_catchment, method, label``.
    per_service : DataFrame
        ``service_id, service_type, threshold_minutes, demand_band, capacity,
        demand_in_catchment, supply_ratio, capacity_note, method, label``.
    """
    settings = settings or Settings()
    if engine not in ("access", "numpy"):
        raise ValueError("engine must be 'access' or 'numpy'")
    thresholds = [float(t) for t in (thresholds_minutes or settings.thresholds_minutes)]
    _require(homes, ("home_id", demand_band), "homes")
    method = str(getattr(router, "method", "estimated"))
    label = method_label(method)
    mpm = settings.metres_per_minute
    explicit = service_types is not None
    per_type, _, _ = _split_services(
        services, list(service_types) if explicit else None, explicit)
    n_report = len(homes)
    if extra_demand is not None and len(extra_demand):
        _require(extra_demand, ("home_id", demand_band), "extra_demand")
        clash = set(extra_demand["home_id"]) & set(homes["home_id"])
        if clash:
            raise ValueError(f"extra_demand home_ids clash with homes: {sorted(clash)[:5]}")
        homes = pd.concat([homes[["home_id", demand_band, "geometry"]],
                           extra_demand[["home_id", demand_band, "geometry"]]], ignore_index=True)
        homes = gpd.GeoDataFrame(homes, geometry="geometry", crs=extra_demand.crs)
    home_xy = _points_xy(homes, "homes")
    home_ids = homes["home_id"].to_numpy()
    demand = pd.to_numeric(homes[demand_band], errors="coerce").fillna(0.0).to_numpy(float)
    max_m = max(thresholds) * mpm

    homes_out, svc_out = [], []
    for t in _progress(list(per_type), settings, "2SFCA"):
        sub = per_type[t]
        svc_xy = _points_xy(sub, f"services[{t}]")
        svc_ids = sub["service_id"].astype(str).to_numpy()
        supply, cap_note = _capacities(sub, capacity_column)
        cost_m = np.asarray(router.matrix(home_xy, svc_xy, max_m=max_m), dtype=float)
        cost_min = cost_m / mpm
        for thr in thresholds:
            inside = np.isfinite(cost_min) & (cost_min <= thr)
            access_np, ratio = two_step_fca_numpy(demand, supply, cost_min, thr)
            if engine == "access":
                # facilities whose catchment holds no demand would give supply/0 = inf in
                # the library and poison every home near them: leave them out (their
                # ratio is undefined; they add nothing).
                keep_svc = np.isfinite(ratio)
                ii, jj = np.nonzero(inside & keep_svc[None, :])
                long = pd.DataFrame({"origin": home_ids[ii], "dest": svc_ids[jj],
                                     "cost": cost_min[ii, jj]})
                acc = _fca_with_access_lib(home_ids, demand, svc_ids[keep_svc],
                                           supply[keep_svc], long, thr) if len(long) else \
                    np.zeros(len(home_ids))
            else:
                acc = access_np
            homes_out.append(pd.DataFrame({
                "home_id": home_ids[:n_report], "service_type": t, "threshold_minutes": thr,
                "demand_band": demand_band, "fca_ratio": acc[:n_report], "fca_per_1000": acc[:n_report] * per,
                "n_in_catchment": inside[:n_report].sum(axis=1),
            }))
            svc_out.append(pd.DataFrame({
                "service_id": svc_ids, "service_type": t, "threshold_minutes": thr,
                "demand_band": demand_band, "capacity": supply,
                "demand_in_catchment": inside.T.astype(float) @ demand,
                "supply_ratio": ratio, "capacity_note": cap_note,
            }))
    ph = pd.concat(homes_out, ignore_index=True) if homes_out else pd.DataFrame(
        columns=["home_id", "service_type", "threshold_minutes", "demand_band", "fca_ratio",
                 "fca_per_1000", "n_in_catchment"])
    ps = pd.concat(svc_out, ignore_index=True) if svc_out else pd.DataFrame(
        columns=["service_id", "service_type", "threshold_minutes", "demand_band", "capacity",
                 "demand_in_catchment", "supply_ratio", "capacity_note"])
    for df in (ph, ps):
        df["method"] = method
        df["label"] = label
    if per != 1000.0:
        ph = ph.rename(columns={"fca_per_1000": f"fca_per_{per:g}"})
    return ph, ps


def fca_by_area(
    fca_homes: pd.DataFrame,
    homes: pd.DataFrame,
    areas: Mapping[str, str] | None = None,
    demand_band: str | None = None,
) -> pd.DataFrame:
    """Demand-weighted mean 2SFCA score per area (and ``__total__`` per level).

    Returns ``level, area_id, service_type, threshold_minutes, demand_band,
    demand, fca_ratio, fca_per_1000, method, label``.  ``fca_ratio`` is
    ``sum(demand_i * A_i) / sum(demand_i)``: for a closed system with every
    home in a catchment this equals total supply / total demand.
    """
    if areas is None:
        areas = {lvl: col for lvl, col in DEFAULT_LEVELS.items() if col in homes.columns}
    if len(fca_homes) == 0:
        return pd.DataFrame(columns=["level", "area_id", "service_type", "threshold_minutes",
                                     "demand_band", "demand", "fca_ratio", "fca_per_1000",
                                     "method", "label"])
    band = demand_band or str(fca_homes["demand_band"].iat[0])
    cols = ["home_id", band] + [c for c in areas.values() if c != band]
    h = pd.DataFrame(homes[cols])
    merged = fca_homes.merge(h, on="home_id", how="left", validate="many_to_one")
    merged["_w"] = merged[band].fillna(0.0) * merged["fca_ratio"]
    out = []
    for lvl, col in areas.items():
        key = merged[col].astype(object)
        merged["_area"] = key.where(key.notna(), UNASSIGNED_ID).astype(str)
        grp = ["service_type", "threshold_minutes"]
        g = merged.groupby(grp + ["_area"], sort=True)[[band, "_w"]].sum().reset_index()
        tot = merged.groupby(grp, sort=True)[[band, "_w"]].sum().reset_index()
        tot["_area"] = TOTAL_ID
        g = pd.concat([g, tot], ignore_index=True)
        g.insert(0, "level", lvl)
        out.append(g)
    res = pd.concat(out, ignore_index=True).rename(columns={"_area": "area_id", band: "demand"})
    with np.errstate(invalid="ignore", divide="ignore"):
        res["fca_ratio"] = np.where(res["demand"] > 0, res["_w"] / res["demand"], np.nan)
    res["fca_per_1000"] = res["fca_ratio"] * 1000.0
    res["demand_band"] = band
    res["method"] = fca_homes["method"].iat[0]
    res["label"] = fca_homes["label"].iat[0]
    return res[["level", "area_id", "service_type", "threshold_minutes", "demand_band",
                "demand", "fca_ratio", "fca_per_1000", "method", "label"]]


# ----------------------------------------------------------------------------- bundle
def _pack_attr(area: Any, name: str, default: Any = None) -> Any:
    return getattr(getattr(area, "pack", None), name, default)


def default_router_for(area: "AreaData", settings: Settings) -> Any:
    """The project's default router for ``area`` (street when a network is configured,
    otherwise calibrated estimate) - imported lazily from :mod:`locmap.distance.calibration`."""
    from locmap.distance.calibration import default_router  # noqa: PLC0415

    return default_router(area, settings)


def compute_access(
    area: "AreaData",
    settings: Settings | None = None,
    router: Any = None,
    service_types: Sequence[str] | None = None,
    k: int | None = None,
) -> AccessResult:
    """:func:`nearest_services` for an :class:`~locmap.data.area.AreaData` bundle.

    Uses ``area.homes``, ``area.services``, ``area.pack.lad_cd`` (for
    ``cross_border``) and ``area.pack.key_service_types`` (for
    :data:`ANY_KEY`).  ``router`` defaults to
    :func:`locmap.distance.calibration.default_router`.
    """
    settings = settings or getattr(area, "settings", None) or Settings.from_env()
    if router is None:
        router = default_router_for(area, settings)
    res = nearest_services(
        area.homes, area.services, router, settings, service_types=service_types, k=k,
        area_lad_cd=_pack_attr(area, "lad_cd"),
        key_service_types=list(_pack_attr(area, "key_service_types", ()) or ()),
    )
    return res
