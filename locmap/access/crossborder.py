"""The cross-border figure: homes whose nearest service of a type lies in another borough.

Cross-boundary planning needs one number per area: the share of children whose nearest
children's centre, GP, library or school is across the borough border.  Both functions read
an :class:`~locmap.access.nearest.AccessResult` (its tidy table already carries
``service_lad_cd`` and ``cross_border`` for every home, type and rank) and return plain
DataFrames:

* :func:`home_crossborder` - one row per home and service type: the nearest service, its
  borough, whether it is across the border, and the nearest in the home borough with the
  extra minutes it costs;
* :func:`crossborder_shares` - people (by age band) whose nearest service is across the
  border, per ward, town and PCN and for the whole area.

"Nearest" can only be among services in the data: the neighbours' services within the
loaded buffer, and only the types each borough lists (children's centres are listed for the
study area only, so their cross-border share is 0 by construction: see ``docs/finder.md``).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from locmap.access.fca import home_positions
from locmap.access.nearest import ANY_KEY, TOTAL_ID, UNASSIGNED_ID, AccessResult, default_router_for

#: Levels of :func:`crossborder_shares`: level -> (homes column, area layer, name column).
CROSSBORDER_LEVELS: dict[str, tuple[str, str, str]] = {
    "ward": ("ward_cd", "wards", "ward_nm"),
    "town": ("town", "towns", "town"),
    "pcn": ("pcn_code", "pcns", "pcn_name"),
}

#: Default age bands (children 0-4 and 0-19).
CROSSBORDER_BANDS: tuple[str, ...] = ("pop_0_4", "pop_0_19")

#: Columns of :func:`home_crossborder`.
HOME_COLUMNS: tuple[str, ...] = (
    "home_id", "postcode", "service_type", "nearest_id", "nearest_lad_cd", "minutes", "cross_border",
    "home_borough_id", "home_borough_minutes", "extra_minutes_in_borough", "method", "label",
)

#: Columns of :func:`crossborder_shares`.
SHARE_COLUMNS: tuple[str, ...] = (
    "level", "area_id", "area_name", "service_type", "band", "people", "people_cross_border",
    "share_cross_border", "people_unknown", "homes", "homes_cross_border",
    "mean_extra_minutes_cross_border", "method", "label",
)


def _home_borough_nearest(area: Any, result: AccessResult, router: Any, types: list[str]) -> dict[str, tuple]:
    """Per type: (service id, metres) of the nearest service in the study-area borough."""
    homes = result.wide
    xy = np.column_stack([homes.geometry.x.to_numpy(float), homes.geometry.y.to_numpy(float)])
    svc = area.located_services()
    lads = [result.area_lad_cd] if isinstance(result.area_lad_cd, str) else list(result.area_lad_cd or ())
    svc = svc[svc.geometry.notna() & svc["lad_cd"].isin(lads)]
    out = {}
    for t in types:
        own = svc[svc["service_type"] == t]
        if not len(own):
            out[t] = (np.full(len(xy), None, dtype=object), np.full(len(xy), np.nan))
            continue
        d, i = router.nearest(xy, np.column_stack([own.geometry.x, own.geometry.y]), k=1)
        i = np.asarray(i).reshape(-1)
        ids = np.where(i >= 0, own["service_id"].astype(str).to_numpy(object)[np.maximum(i, 0)], None)
        out[t] = (ids, np.asarray(d, float).reshape(-1))
    return out


def home_crossborder(area: Any, result: AccessResult, router: Any = None) -> pd.DataFrame:
    """For every home and service type: is the nearest service in another borough?

    Parameters
    ----------
    area : AreaData
        The area the access result was computed for (its services and borough code).
    result : AccessResult
        From :func:`locmap.access.nearest.compute_access`.
    router : Router, optional
        For the nearest service in the home borough; default the access step's router
        (use the one ``result`` was computed with).

    Returns
    -------
    DataFrame
        Columns :data:`HOME_COLUMNS`: ``minutes`` to the nearest of any borough,
        ``cross_border`` (boolean, missing when unreachable), ``home_borough_minutes`` and
        ``extra_minutes_in_borough`` (0 when the nearest is in the borough).  The
        ``any_key_service`` pseudo-type uses the nearest of the key types in the borough.
    """
    router = router if router is not None else default_router_for(area, result.settings)
    first = result.table[result.table["rank"] == 1]
    base = [t for t in result.service_types if t != ANY_KEY]
    own = _home_borough_nearest(area, result, router, base)
    keys = [t for t in result.key_service_types if t in own]
    if ANY_KEY in result.service_types and keys:
        d = np.column_stack([own[t][1] for t in keys])
        best = np.nanargmin(np.where(np.isnan(d), np.inf, d), axis=1)
        rows = np.arange(len(d))
        ids = np.column_stack([own[t][0] for t in keys])[rows, best]
        own[ANY_KEY] = (ids, np.where(np.isnan(d).all(axis=1), np.nan, d[rows, best]))
    homes = result.wide[["home_id", "postcode"]].reset_index(drop=True)
    mpm = result.settings.metres_per_minute
    rows_of = _first_rows(first, homes["home_id"])
    cols = {c: first[c].array for c in ("service_id", "service_lad_cd", "minutes")}
    cols["cross_border"] = first["cross_border"].astype("boolean").array
    parts = []
    for t, (ids, metres) in own.items():
        row = rows_of(t)  # row of ``first`` per home, -1 where the home has none of type t
        f = {c: a.take(row, allow_fill=True) for c, a in cols.items()}
        nearest_minutes = np.asarray(f["minutes"], dtype=float)
        minutes_home = metres / mpm
        parts.append(pd.DataFrame({
            "home_id": homes["home_id"], "postcode": homes["postcode"], "service_type": t,
            "nearest_id": f["service_id"], "nearest_lad_cd": f["service_lad_cd"],
            "minutes": nearest_minutes, "cross_border": f["cross_border"],
            "home_borough_id": ids, "home_borough_minutes": minutes_home,
            "extra_minutes_in_borough": minutes_home - nearest_minutes,
        }))
    out = pd.concat(parts, ignore_index=True)
    out["cross_border"] = out["cross_border"].astype("boolean")
    out["method"], out["label"] = result.method, result.label
    return out[list(HOME_COLUMNS)]


def _first_rows(first: pd.DataFrame, home_ids: pd.Series) -> Callable[[str], np.ndarray]:
    """``rows_of(service_type)``: for each home (in ``home_ids`` order) its row in ``first`` (the
    rank-1 table) for that type, -1 where it has none; a home listed twice for a type is an error."""
    pos = home_positions(first["home_id"], home_ids, "access_result.wide")
    codes, types = pd.factorize(first["service_type"])
    n = len(home_ids)

    def rows_of(service_type: str) -> np.ndarray:
        out = np.full(n, -1, dtype=np.int64)
        if service_type not in types:
            return out
        rows = np.flatnonzero(codes == types.get_loc(service_type))
        rows = rows[pos[rows] < n]
        if np.bincount(pos[rows], minlength=n).max(initial=0) > 1:
            raise ValueError(f"the access table lists a home twice at rank 1 for {service_type!r}")
        out[pos[rows]] = rows
        return out

    return rows_of


def _area_names(area: Any, level: str) -> dict[str, str]:
    _, layer, name_col = CROSSBORDER_LEVELS[level]
    frame = getattr(area, layer, None)
    id_col = CROSSBORDER_LEVELS[level][0]
    if frame is None or id_col not in frame.columns or name_col not in frame.columns:
        return {}
    if id_col == name_col:
        return {str(v): str(v) for v in frame[id_col].dropna()}
    return frame.drop_duplicates(id_col).set_index(id_col)[name_col].astype(str).to_dict()


def _area_codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Sorted integer codes of the area ids of each home plus one last slot for homes not found
    (missing ids -> ``__unassigned__``), and the ids themselves (str)."""
    key = pd.concat([values.astype(object), pd.Series([None], dtype=object)], ignore_index=True)
    codes, labels = pd.factorize(key.where(key.notna(), UNASSIGNED_ID).astype(str), sort=True)
    return codes, labels


def _sum_by_area(sums: pd.DataFrame, area_code: np.ndarray, area_ids: pd.Index, types: pd.Index,
                 names: Mapping[str, str]) -> pd.DataFrame:
    """Column sums of ``sums`` per area (``area_code`` into ``area_ids``) and type (``sums._t``
    into ``types``), sorted by area id then type, plus a ``__total__`` row per type; ``_area``,
    ``service_type`` and ``area_name`` columns."""
    cols = ["_p", "_pc", "_pu", "_h", "_hc", "_px"]
    g = sums.assign(_a=area_code).groupby(["_a", "_t"], sort=True)[cols].sum().reset_index()
    tot = sums.groupby("_t", sort=True)[cols].sum().reset_index()
    g.insert(0, "_area", area_ids.take(g.pop("_a").to_numpy()).array)
    tot.insert(0, "_area", TOTAL_ID)
    g = pd.concat([g, tot], ignore_index=True)
    g.insert(1, "service_type", types.take(g.pop("_t").to_numpy()).array)
    g["area_name"] = g["_area"].map(names).astype(object).fillna(g["_area"].astype(object))
    return g


def crossborder_shares(area: Any, access_result: AccessResult, bands: Sequence[str] = CROSSBORDER_BANDS,
                       levels: Mapping[str, str] | None = None, router: Any = None,
                       homes_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """People whose nearest service of each type lies in another borough, by area.

    Parameters
    ----------
    area : AreaData
    access_result : AccessResult
        From :func:`locmap.access.nearest.compute_access` for ``area``.
    bands : sequence of str
        Age-band columns of the homes (people), default children 0-4 and 0-19.
    levels : mapping, optional
        Level name -> homes column; default ward, town and PCN (:data:`CROSSBORDER_LEVELS`).
        Every level also gets a ``__total__`` row for the whole area.
    router : Router, optional
        Passed to :func:`home_crossborder` (for the extra minutes).
    homes_table : DataFrame, optional
        A :func:`home_crossborder` result to reuse.

    Returns
    -------
    DataFrame
        Columns :data:`SHARE_COLUMNS`, one row per level x area x service type x band:
        ``people`` in the band (homes' people, the conserved small-area totals),
        ``people_cross_border`` whose nearest service is across the border,
        ``share_cross_border`` = ``people_cross_border / (people - people_unknown)``,
        ``people_unknown`` at homes that reach no service of the type or whose nearest
        service has no borough code (left out of the share), ``homes`` and
        ``homes_cross_border`` (residential points), ``mean_extra_minutes_cross_border``
        (people-weighted: minutes more to the nearest in the home borough, for those whose
        nearest is across), ``method`` and ``label``.
    """
    levels = dict(levels) if levels is not None else {k: v[0] for k, v in CROSSBORDER_LEVELS.items()}
    per_home = homes_table if homes_table is not None else home_crossborder(area, access_result, router)
    wide = access_result.wide
    # each per-home row's home in the access result (a many-to-one join by position; the last
    # slot of every per-home array below stands for a home not found)
    pos = home_positions(per_home["home_id"], wide["home_id"], "access_result.wide")
    cross = per_home["cross_border"].fillna(False).to_numpy(bool)
    unknown = per_home["cross_border"].isna().to_numpy()
    extra = np.nan_to_num(per_home["extra_minutes_in_borough"].to_numpy(float))
    type_code, types = pd.factorize(per_home["service_type"], sort=True)
    areas = {level: _area_codes(wide[col]) for level, col in levels.items()}
    parts = []
    for band in bands:
        people = np.nan_to_num(np.append(wide[band].to_numpy(float), np.nan)[pos], nan=0.0)
        sums = pd.DataFrame({"_t": type_code, "_p": people, "_pc": people * cross,
                             "_pu": people * unknown, "_h": 1, "_hc": cross.astype(int), "_px": people * cross * extra})
        for level, (codes, ids) in areas.items():
            names = _area_names(area, level) if level in CROSSBORDER_LEVELS else {}
            parts.append(_sum_by_area(sums, codes[pos], ids, types, names).assign(level=level, band=band))
    res = pd.concat(parts, ignore_index=True).rename(columns={
        "_area": "area_id", "_p": "people", "_pc": "people_cross_border", "_pu": "people_unknown",
        "_h": "homes", "_hc": "homes_cross_border"})
    with np.errstate(invalid="ignore", divide="ignore"):
        known = res["people"] - res["people_unknown"]
        res["share_cross_border"] = np.where(known > 0, res["people_cross_border"] / known, np.nan)
        res["mean_extra_minutes_cross_border"] = np.where(
            res["people_cross_border"] > 0, res["_px"] / res["people_cross_border"], np.nan)
    res["method"], res["label"] = access_result.method, access_result.label
    return res[list(SHARE_COLUMNS)]
