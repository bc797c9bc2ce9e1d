"""Nearest services to a home, regardless of borough, and the nearest in the home borough.

:func:`nearest_for_points` is the vectorised core (one router call per service type and
scope for any number of homes); :func:`nearest_for_postcodes` adds the postcode look-up
(:mod:`locmap.finder.postcodes`) in front of it.  Distances come from the router the access
step uses (:func:`locmap.distance.routing.default_router`: street distance with a network,
otherwise the calibrated estimate) and every row carries ``method`` and ``label``.

Which services can be "nearest" is limited by what the area loaded: the study area's own
services, and its neighbours' services within ``settings.buffer_m`` of the border.  The
``certain`` column says, per row, whether a service missing from that data could be nearer:
it is False when the service found is farther than the gap to the edge of the covered region
(neighbouring boroughs beyond the buffer, boroughs whose services are not loaded, or boroughs
with no service of that type in the data, e.g. children's centres listed for the area only).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely

from locmap import export
from locmap.data.area import AreaData
from locmap.data.region import pack_input_files
from locmap.distance.routing import default_router, method_label
from locmap.errors import EmptyServiceTypeError
from locmap.finder._boroughs import borough_outlines
from locmap.finder.index import (KEY_COLUMN, ROW_GROUP_ROWS, NearestIndex, compact, index_paths, input_record,
                                  prune)
from locmap.finder.postcodes import LOOKUP_COLUMNS, PostcodeIndex, build_index, lad_names, lookup_postcodes
from locmap.settings import Settings

#: Columns of :func:`nearest_for_points` (one row per point x service type x scope x rank).
NEAREST_COLUMNS: tuple[str, ...] = (
    "point", "service_type", "type_label", "scope", "rank", "service_id", "name", "address",
    "service_postcode", "service_lad_cd", "service_lad_nm", "service_status", "distance_m",
    "minutes", "straight_m", "cross_border", "nearest_across_border", "extra_minutes_in_borough",
    "certain", "method", "label",
)

#: Scopes: the k nearest of any borough, and the nearest in the home's own borough.
SCOPES: tuple[str, ...] = ("overall", "home_borough")


@dataclass(frozen=True)
class TypeServices:
    """Located services of one type, as arrays (EPSG:27700 metres)."""

    service_type: str
    label: str
    frame: pd.DataFrame
    xy: np.ndarray
    lads: tuple[str, ...]


def _fill_lad(area: AreaData, svc: pd.DataFrame) -> pd.Series:
    """The services' borough codes, missing ones (e.g. a user's own services) taken from the
    borough outline their point lies in (left missing outside every loaded borough)."""
    lad = svc["lad_cd"].astype(object) if "lad_cd" in svc.columns else pd.Series(None, index=svc.index, dtype=object)
    miss = lad.isna().to_numpy()
    if miss.any():
        codes, shapes = zip(*_borough_shapes(area).items())
        tree = shapely.STRtree(list(shapes))
        pi, gi = tree.query(svc.geometry.values[miss], predicate="covered_by")
        found = np.full(int(miss.sum()), None, dtype=object)
        found[pi] = np.asarray(codes, dtype=object)[gi]
        lad = lad.copy()
        lad.iloc[np.flatnonzero(miss)] = found
    return lad


def services_by_type(area: AreaData, service_types: Sequence[str] | None = None) -> dict[str, TypeServices]:
    """Located services per type (``service_types`` default: every type with one).

    Raises
    ------
    EmptyServiceTypeError
        For a requested type with no located service.
    """
    svc = area.located_services()
    svc = svc[svc.geometry.notna() & ~svc.geometry.is_empty].copy()
    svc["lad_cd"] = _fill_lad(area, svc)
    names = lad_names(area)
    types = list(dict.fromkeys(service_types)) if service_types is not None else \
        [t for t in area.pack.service_types if (svc["service_type"] == t).any()] + \
        sorted(set(svc["service_type"]) - set(area.pack.service_types))
    out: dict[str, TypeServices] = {}
    for t in types:
        sub = svc[svc["service_type"] == t].reset_index(drop=True)
        if not len(sub):
            raise EmptyServiceTypeError(f"services: no located services of type '{t}' in area "
                                        f"'{area.name}' (types with services: "
                                        f"{', '.join(sorted(set(svc['service_type'])))})")
        frame = pd.DataFrame({
            "service_id": sub["service_id"].astype(str), "name": sub["name"].astype(str),
            "address": sub["address"].fillna("").astype(str) if "address" in sub else "",
            "postcode": sub["postcode"].fillna("").astype(str) if "postcode" in sub else "",
            "lad_cd": sub["lad_cd"].astype(object), "lad_nm": sub["lad_cd"].map(names).astype(object),
            "status": sub["status"].fillna("unknown").astype(str) if "status" in sub else "unknown",
        })
        out[t] = TypeServices(t, str(area.pack.service_types.get(t, t)), frame,
                              np.column_stack([sub.geometry.x.to_numpy(float), sub.geometry.y.to_numpy(float)]),
                              tuple(sorted(set(frame["lad_cd"].dropna()))))
    return out


def _borough_shapes(area: AreaData) -> dict[str, Any]:
    b = borough_outlines(area)
    return dict(zip(b["lad_cd"], b.geometry.values))


_REGIONS: dict = {}
_SIMPLIFY_M = 5.0
_CLOSE_M = 50.0


def covered_region(area: AreaData, lads: Iterable[str]) -> Any:
    """The region whose services are all loaded for a type with services in boroughs ``lads``:
    those boroughs within ``settings.buffer_m`` of the area (EPSG:27700 polygon, simplified by
    5 m; cached per area layers and ``lads``)."""
    lads = tuple(sorted(lads))
    key = (id(borough_outlines(area)), area.settings.buffer_m, lads)
    if key not in _REGIONS:
        shapes = _borough_shapes(area)
        parts = [shapes[lad] for lad in lads if lad in shapes]
        outline = area.borough.geometry.union_all()
        # closing by _CLOSE_M removes slivers between outlines of different generalisations
        joined = shapely.union_all(parts).buffer(_CLOSE_M).buffer(-_CLOSE_M) if parts else shapely.Polygon()
        region = shapely.intersection(joined, outline.buffer(area.settings.buffer_m))
        region = shapely.simplify(region, _SIMPLIFY_M)
        shapely.prepare(region)
        # the key's outlines stay referenced by the cache, so their id cannot be reused
        _REGIONS[key] = (borough_outlines(area), region, shapely.boundary(region))
    return _REGIONS[key][1:]


def covered_margin_m(area: AreaData, xy: np.ndarray, lads: Iterable[str]) -> np.ndarray:
    """Straight-line metres from each point to the edge of :func:`covered_region`: a service
    that is not loaded is at least this far away (0 for points outside the region)."""
    region, edge = covered_region(area, lads)
    if region.is_empty:
        return np.zeros(len(xy))
    pts = shapely.points(xy)
    d = shapely.distance(pts, edge) - _SIMPLIFY_M
    return np.where(shapely.contains(region, pts), np.maximum(d, 0.0), 0.0)


#: Service columns of :data:`NEAREST_COLUMNS` -> their column in :attr:`TypeServices.frame`.
_SERVICE_COLUMNS = {"service_id": "service_id", "name": "name", "address": "address",
                    "service_postcode": "postcode", "service_lad_cd": "lad_cd", "service_lad_nm": "lad_nm",
                    "service_status": "status"}


def _rows(ts: TypeServices, dist: np.ndarray, idx: np.ndarray, home_xy: np.ndarray,
          mpm: float) -> dict[str, np.ndarray]:
    """Long rows (point-major, then rank) of one (type, scope) from a router answer ``(n, k)``,
    as arrays; ``service`` is the row of ``ts.frame`` (-1 where none)."""
    n, kk = idx.shape
    missing = (idx < 0) | ~np.isfinite(dist)
    safe = np.where(missing, 0, idx)
    straight = np.hypot(home_xy[:, 0:1] - ts.xy[safe, 0], home_xy[:, 1:2] - ts.xy[safe, 1])
    d = np.where(missing, np.nan, dist).ravel()
    return {"point": np.repeat(np.arange(n), kk), "rank": np.tile(np.arange(1, kk + 1), n),
            "service": np.where(missing, -1, idx).ravel().astype(np.int64), "distance_m": d,
            "minutes": d / mpm, "straight_m": np.where(missing, np.nan, straight).ravel()}


def _text(values: Sequence[object], at: np.ndarray) -> Any:
    """``values[at]`` as a text column (missing where ``at`` is -1 or the value is)."""
    return pd.array(np.asarray(values, dtype=object), dtype="str").take(at, allow_fill=True)


def _nearest_in_home_borough(ts: TypeServices, home_xy: np.ndarray, home_lad: np.ndarray, router: Any,
                             dist0: np.ndarray, idx0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 1)`` distance and index of the nearest service in each home's borough.  Where the
    overall nearest is in the home borough it is that one (so ties resolve the same way);
    the others get one router call per borough, limited to that borough's services."""
    lads = ts.frame["lad_cd"].to_numpy(object)
    found = (idx0 >= 0) & (lads[np.maximum(idx0, 0)] == home_lad)
    dist = np.where(found, dist0, np.nan).reshape(-1, 1)
    idx = np.where(found, idx0, -1).astype(np.int64).reshape(-1, 1)
    for lad in pd.unique(home_lad[~found]):
        rows = np.flatnonzero(~found & (home_lad == lad))
        own = np.flatnonzero(lads == lad)
        if len(own):
            d1, i1 = router.nearest(home_xy[rows], ts.xy[own], k=1)
            i1 = np.asarray(i1).reshape(-1)
            dist[rows, 0] = np.asarray(d1, float).reshape(-1)
            idx[rows, 0] = np.where(i1 >= 0, own[np.maximum(i1, 0)], -1)
    return dist, idx


def _one_type(area: AreaData, ts: TypeServices, home_xy: np.ndarray, home_lad: np.ndarray,
              router: Any, k: int, settings: Settings, margins: dict | None = None) -> dict[str, np.ndarray]:
    """Overall k nearest + nearest in the home borough for one type, with the flags, as arrays
    (overall rows, then home-borough rows; ``home_scope`` tells them apart).
    ``margins`` caches :func:`covered_margin_m` of ``home_xy`` by boroughs (types share them)."""
    n = len(home_xy)
    kk = min(k, len(ts.frame))
    dist, idx = router.nearest(home_xy, ts.xy, k=kk)
    dist, idx = np.asarray(dist, float).reshape(n, kk), np.asarray(idx).reshape(n, kk)
    home_d, home_i = _nearest_in_home_borough(ts, home_xy, home_lad, router, dist[:, 0], idx[:, 0])
    parts = [_rows(ts, dist, idx, home_xy, settings.metres_per_minute),
             _rows(ts, home_d, home_i, home_xy, settings.metres_per_minute)]
    out = {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}
    out["home_scope"] = np.repeat([False, True], [n * kk, n])
    point = out["point"]
    lads = np.append(ts.frame["lad_cd"].to_numpy(object), None)[out["service"]]  # -1: the None
    no_lad = pd.isna(lads)
    out["cross_border"] = np.where(no_lad, None, lads != home_lad[point])
    first = slice(0, n * kk, kk)  # the overall nearest of each point
    across = np.where(no_lad[first], None, lads[first] != home_lad)
    out["nearest_across_border"] = across[point]
    extra = out["minutes"][n * kk:] - out["minutes"][first]
    out["extra_minutes_in_borough"] = np.where(out["home_scope"], extra[point], np.nan)
    margins = {} if margins is None else margins
    if ts.lads not in margins:
        margins[ts.lads] = covered_margin_m(area, home_xy, ts.lads)
    measure = out["straight_m"] if getattr(router, "method", "") == "estimated" else out["distance_m"]
    with np.errstate(invalid="ignore"):
        certain = (measure <= margins[ts.lads][point]) | out["home_scope"]
    out["certain"] = certain & ~np.isnan(out["distance_m"])
    return out


def _frame(by_type: dict[str, TypeServices], parts: list[dict[str, np.ndarray]], method: str) -> pd.DataFrame:
    """The table of :func:`nearest_for_points` from :func:`_one_type`'s arrays of each type (in
    ``by_type``'s order): sorted by point, type, scope (overall first) and rank; the text columns
    are made once, from the services' columns by row."""
    types = list(by_type.values())
    offset = np.cumsum([0] + [len(ts.frame) for ts in types])
    cols = {c: np.concatenate([p[c] for p in parts]) for c in parts[0] if c != "service"}
    cols["type"] = np.repeat(np.arange(len(parts)), [len(p["point"]) for p in parts])
    service = np.concatenate([np.where(p["service"] >= 0, p["service"] + offset[t], -1)
                              for t, p in enumerate(parts)])
    order = np.lexsort((cols["rank"], cols["home_scope"], cols["type"], cols["point"]))
    cols = {c: v[order] for c, v in cols.items()}
    service, type_at = service[order], cols["type"]
    out = {"point": cols["point"], "service_type": _text([ts.service_type for ts in types], type_at),
           "type_label": _text([ts.label for ts in types], type_at),
           "scope": _text(SCOPES, cols["home_scope"].astype(np.int64)), "rank": cols["rank"]}
    for col, src in _SERVICE_COLUMNS.items():
        out[col] = _text(np.concatenate([ts.frame[src].to_numpy(object) for ts in types]), service)
    out.update({c: cols[c] for c in ("distance_m", "minutes", "straight_m")})
    out["cross_border"] = pd.array(cols["cross_border"], dtype="boolean")
    out["nearest_across_border"] = pd.array(cols["nearest_across_border"], dtype="boolean")
    out["extra_minutes_in_borough"] = cols["extra_minutes_in_borough"]
    out["certain"] = cols["certain"].astype(bool)
    out["method"] = _text([method], np.zeros(len(order), np.int64))
    out["label"] = _text([method_label(method)], np.zeros(len(order), np.int64))
    return pd.DataFrame(out)[list(NEAREST_COLUMNS)]


def nearest_for_points(area: AreaData, xy: np.ndarray, home_lad_cd: Sequence[str] | str | None = None,
                       k: int | None = None, router: Any = None, service_types: Sequence[str] | None = None,
                       settings: Settings | None = None) -> pd.DataFrame:
    """The ``k`` nearest services of each type to each point, any borough, plus the nearest in
    the point's own borough.

    Parameters
    ----------
    area : AreaData
        Loaded area (its services include the neighbours' near the border).
    xy : (n, 2) array
        Home points, EPSG:27700 metres.
    home_lad_cd : str or sequence of str, optional
        Borough of each point (default: the study area's).
    k : int, optional
        Nearest services per type, any borough (default ``settings.k_nearest``); capped at
        the number of services of the type.
    router : Router, optional
        Default :func:`locmap.distance.routing.default_router` (street or estimated).
    service_types : list of str, optional
        Default: every type with located services, in the pack's order.
    settings : Settings, optional
        Walking speed (minutes) and ``k_nearest``; default ``area.settings``.

    Returns
    -------
    DataFrame
        Columns :data:`NEAREST_COLUMNS`, one row per point x type x scope x rank: ``scope``
        ``"overall"`` (ranks 1..k) or ``"home_borough"`` (rank 1); ``distance_m`` (m),
        ``minutes`` at ``settings.walk_speed_kmh``, ``straight_m``; ``cross_border`` (service
        in another borough than the home), ``nearest_across_border`` (the overall nearest
        is), ``extra_minutes_in_borough`` (home-borough rows: minutes more than the overall
        nearest), ``certain`` (no service missing from the data can be nearer, see the module
        docstring), ``method`` and ``label``.  Unreachable pairs have NaN distances and a
        missing ``service_id``.
    """
    settings = settings or area.settings
    k = int(k or settings.k_nearest)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    home_xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    lad = np.empty(len(home_xy), dtype=object)
    lad[:] = area.pack.lad_cd if home_lad_cd is None else home_lad_cd  # one code or one per point
    router = router if router is not None else default_router(area, settings)
    method = str(getattr(router, "method", "estimated"))
    margins: dict = {}
    by_type = services_by_type(area, service_types) if len(home_xy) else {}
    parts = [_one_type(area, ts, home_xy, lad, router, k, settings, margins) for ts in by_type.values()]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in NEAREST_COLUMNS})
    return _frame(by_type, parts, method)


def nearest_for_postcodes(area: AreaData, postcodes: Iterable[object], k: int | None = None,
                          router: Any = None, service_types: Sequence[str] | None = None,
                          settings: Settings | None = None, index: PostcodeIndex | None = None) -> pd.DataFrame:
    """Look up postcodes and find, for each, the nearest services of every type.

    Parameters
    ----------
    area : AreaData
    postcodes : iterable of str
        As typed; normalised here.  Order is kept.
    k, router, service_types, settings
        As for :func:`nearest_for_points`.
    index : PostcodeIndex, optional
        Reuse a :func:`locmap.finder.postcodes.build_index` result.

    Returns
    -------
    DataFrame
        ``row`` (1-based position in ``postcodes``), the look-up columns
        (:data:`locmap.finder.postcodes.LOOKUP_COLUMNS`), then :data:`NEAREST_COLUMNS`
        without ``point``.  A postcode that cannot be answered keeps one row with its
        ``status``, ``reason`` and ``suggestion`` and empty service columns.
    """
    looked = lookup_postcodes(index or build_index(area), postcodes)
    looked.insert(0, "row", np.arange(1, len(looked) + 1))
    ok = np.flatnonzero(looked["status"].to_numpy() == "ok")
    near = nearest_for_points(area, looked[["easting", "northing"]].to_numpy(float)[ok],
                              looked["home_lad_cd"].to_numpy(object)[ok], k=k, router=router,
                              service_types=service_types, settings=settings)
    near["row"] = ok[near["point"].to_numpy(int)] + 1
    out = looked.merge(near.drop(columns="point"), on="row", how="left", sort=False)
    out["rank"] = out["rank"].astype("Int64")
    for col in ("cross_border", "nearest_across_border", "certain"):
        out[col] = out[col].astype("boolean")
    return out[["row", *LOOKUP_COLUMNS, *[c for c in NEAREST_COLUMNS if c != "point"]]]


#: Columns of :func:`answer_table`.
ANSWER_COLUMNS: tuple[str, ...] = (
    "row", "postcode", "status", "service_type", "type_label", "nearest", "nearest_borough",
    "nearest_minutes", "across_border", "nearest_in_home_borough", "home_borough_minutes",
    "extra_minutes_in_borough", "certain",
)


def answer_table(result: pd.DataFrame) -> pd.DataFrame:
    """One row per answered postcode and type from :func:`nearest_for_postcodes`: the nearest
    service (any borough), whether it is across the border, and the nearest in the home
    borough with the extra minutes.  Columns :data:`ANSWER_COLUMNS`; rows not ``ok`` are left
    out (they have no services: see ``status``/``reason`` in ``result``)."""
    ok = result[result["status"] == "ok"]
    first = ok[(ok["scope"] == "overall") & (ok["rank"] == 1)].drop(columns="extra_minutes_in_borough")
    home = ok[ok["scope"] == "home_borough"][["row", "service_type", "name", "minutes",
                                              "extra_minutes_in_borough"]]
    out = first.merge(home, on=["row", "service_type"], how="left", suffixes=("", "_home"))
    out = out.rename(columns={
        "name": "nearest", "service_lad_nm": "nearest_borough", "minutes": "nearest_minutes",
        "nearest_across_border": "across_border", "name_home": "nearest_in_home_borough",
        "minutes_home": "home_borough_minutes",
    })
    return out[list(ANSWER_COLUMNS)].reset_index(drop=True)


def coverage_notes(area: AreaData, service_types: Sequence[str] | None = None) -> dict[str, str]:
    """Per type, which of the area's boroughs have no service of that type in the loaded data
    (so one there cannot be found, e.g. children's centres listed for the study area only).
    Types with services in every borough are left out."""
    return _notes(area, services_by_type(area, service_types))


def _notes(area: AreaData, by_type: dict[str, TypeServices]) -> dict[str, str]:
    """:func:`coverage_notes` of the types of a :func:`services_by_type` answer."""
    names = lad_names(area)
    lads = [str(area.pack.lad_cd), *map(str, getattr(area.pack, "neighbour_lad_cds", ()))]
    notes = {}
    for t, ts in by_type.items():
        missing = [names.get(lad, lad) for lad in lads if lad not in ts.lads]
        if missing:
            notes[t] = (f"{ts.label}: none listed in {', '.join(missing)} in the data, so one "
                        "there cannot be shown")
    return notes


def build_nearest_index(area: AreaData, area_name: str | None = None, settings: Settings | None = None,
                        router: Any = None) -> NearestIndex:
    """Answer every postcode of the area (those of its postcode table in the area: answerable or
    non-geographic) and save the answers as the area's nearest-services index (:mod:`locmap.finder.index`), read by later look-ups.

    Parameters
    ----------
    area : AreaData
    area_name : str, optional
        The name the area is asked for by (``ealing``, ``london:camden``); default ``area.name``.
    settings : Settings, optional
        Default ``area.settings``; ``k_nearest`` services per type are kept.
    router : Router, optional
        Default :func:`locmap.distance.routing.default_router`.

    Returns
    -------
    NearestIndex
        The index written: ``<cache>/finder/<key>.parquet`` (one row per postcode x type x scope x
        rank, as :func:`nearest_for_postcodes`), then ``<key>.json`` (what it was built from).

    Raises
    ------
    OutputError
        The cache folder cannot be written.
    """
    settings = settings or area.settings
    name = str(area_name or area.name)
    files = input_record([*pack_input_files(area.pack, settings.resolve_data_root()),
                          *[p for p in (settings.user_services, settings.network_file) if p is not None]])
    index = build_index(area)
    by_type = services_by_type(area)
    # the area's own postcodes (answerable or non-geographic); a neighbour's postcode is refused
    # by the full path, which explains it there (one row each, thousands: not worth indexing)
    own = index.table.index[index.table["in_area"].to_numpy(bool)]
    # asked in key order, the answers come out in key order: no sort of the whole table after
    own = own[np.argsort(np.asarray([compact(pc) for pc in own.tolist()], dtype=object), kind="stable")]
    res = nearest_for_postcodes(area, own, k=settings.k_nearest, router=router, settings=settings, index=index)
    codes, uniques = pd.factorize(res["postcode"])  # the key of each distinct postcode, once
    res[KEY_COLUMN] = np.asarray([*map(compact, uniques), ""], dtype=object)[codes]  # -1 (none): ""
    if not res[KEY_COLUMN].is_monotonic_increasing:
        res = res.sort_values(KEY_COLUMN, kind="stable").reset_index(drop=True)
    table, record_path = index_paths(name, settings)
    labels = res["label"].dropna()
    record = {
        "key": record_path.stem, "area": str(area.pack.name), "title": str(area.pack.title),
        "lad_nm": str(area.pack.lad_nm), "attribution": str(area.attribution or export.ATTRIBUTION),
        "label": str(labels.iat[0]) if len(labels) else None, "walk_speed_kmh": settings.walk_speed_kmh,
        "k": settings.k_nearest, "types": list(by_type), "notes": _notes(area, by_type),
        "n_postcodes": len(own), "files": files,
    }
    with export.atomic_path(table) as tmp:
        res.to_parquet(tmp, index=False, row_group_size=ROW_GROUP_ROWS)
    export.write_text(record_path, json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    prune(record_path.parent)
    return NearestIndex(table, record)
