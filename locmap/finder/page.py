"""The self-contained offline finder page: one HTML file, no server, no CDN, no network.

``write_finder_page(area, "finder.html")`` precomputes, for every answerable postcode of the
area (:mod:`locmap.finder.postcodes`), the ``k`` nearest services of each type in any borough
and the nearest in the home borough (:func:`locmap.finder.nearest.nearest_for_points`, the
access step's router), and packs them as little-endian typed arrays in base64:

=================  ========================================================================
``near_idx``       uint16/uint32 ``(postcodes, types, k + 1)``: service number, ``k`` overall
                   then the home-borough nearest; the maximum value means "none"
``near_m``         uint16 ``(postcodes, types, k + 1)``: distance in whole metres (65535 = none
                   or farther than 65 km)
``certain``        uint8 ``(postcodes, types)``: bit ``r`` set when rank ``r`` (bit ``k``: the
                   home-borough nearest) cannot hide a nearer service missing from the data
``pc_ll``          int32 ``(postcodes, 2)``: latitude, longitude in micro-degrees (WGS84)
=================  ========================================================================

plus the services (name, address, postcode, borough, type, location), the neighbours'
postcodes (for "outside the area"), the non-geographic postcodes with their suggestions and
the borough outlines for the map.  A look-up in the page is a binary search and a few array
reads.

Safety: the page is built by plain string assembly (no folium/branca, no template engine).
Text from data reaches the page only inside one ``<script type="application/json">`` block,
serialised with ``json.dumps`` and ``<``, ``>``, ``&`` escaped as ``\\u003c`` ... so it cannot
close the block; the page's script puts it in the DOM with ``textContent`` only.  A
Content-Security-Policy allows only the page's own two scripts (by SHA-256 hash) and no
network requests at all.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from locmap.data.area import AreaData
from locmap.errors import OutputError
from locmap.export import ATTRIBUTION, write_text
from locmap.finder import _page_assets as assets
from locmap.finder._boroughs import borough_outlines
from locmap.finder.index import read_index
from locmap.finder.nearest import (NEAREST_COLUMNS, build_nearest_index, coverage_notes, nearest_for_points,
                                   services_by_type)
from locmap.finder.postcodes import PostcodeIndex, build_index, lad_names, suggest
from locmap.maps.offline import _assets as leaflet_assets
from locmap.settings import Settings

#: Services per type shown in the page (any borough).
DEFAULT_K = 3
#: Borough outlines are simplified by this many metres for the map.
OUTLINE_SIMPLIFY_M = 25.0
_TO_WGS84 = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
_NONE_M = 65535


@dataclass(frozen=True)
class FinderPage:
    """What :func:`write_finder_page` wrote."""

    path: Path
    size_bytes: int
    n_postcodes: int
    n_services: int
    k: int
    label: str


# ----------------------------------------------------------------------------- data
def _b64(arr: np.ndarray) -> str:
    """Base64 of the array's bytes, little-endian (what typed arrays read in every browser)."""
    little = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    return base64.b64encode(little.tobytes()).decode("ascii")


def _lonlat(xy: np.ndarray) -> np.ndarray:
    lon, lat = _TO_WGS84.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lat, lon])


def _outlines(area: AreaData) -> list[dict[str, Any]]:
    """Outlines of the area and its neighbours as ``{name, home, rings, label}`` in lat/lon."""
    b = borough_outlines(area)
    wanted = [str(area.pack.lad_cd), *map(str, area.pack.neighbour_lad_cds)]
    out = []
    for lad, name, geom in zip(b["lad_cd"], b["lad_nm"], b.geometry):
        if lad not in wanted:
            continue
        geom = shapely.simplify(geom, OUTLINE_SIMPLIFY_M)
        rings = [np.round(_lonlat(np.asarray(poly.exterior.coords)), 5).tolist()
                 for poly in getattr(geom, "geoms", [geom]) if poly.area > 1e4]
        label = np.round(_lonlat(np.asarray(geom.representative_point().coords)), 5)[0].tolist()
        out.append({"name": str(name), "home": lad == wanted[0], "rings": rings, "label": label})
    return out


def _notes_by_postcode(notes: pd.Series) -> dict[str, str]:
    """Postcode -> its note, for the postcodes with one (the Series' items, read as plain lists)."""
    return {pc: n for pc, n in zip(notes.index.tolist(), notes.tolist()) if n}


def _answers(area: AreaData, index: PostcodeIndex, k: int, service_types: Sequence[str] | None,
             settings: Settings, router: Any, index_name: str | None = None
             ) -> tuple[list[str], np.ndarray, pd.DataFrame]:
    """Answerable postcodes (sorted), their EPSG:27700 points and the nearest-services table
    (from the nearest-services index when ``index_name`` is given and it can answer)."""
    t = index.table
    ok = t[t["geographic"] & t["in_area"]].sort_index()
    xy = ok[["easting", "northing"]].to_numpy(float)
    near = None
    if index_name is not None and router is None:
        near = _near_from_index(area, index_name, list(ok.index), k, service_types, settings)
    if near is None:
        near = nearest_for_points(area, xy, k=k, router=router, service_types=service_types, settings=settings)
    return ok.index.tolist(), xy, near


def _near_from_index(area: AreaData, index_name: str, postcodes: list[str], k: int,
                     service_types: Sequence[str] | None, settings: Settings) -> pd.DataFrame | None:
    """:func:`nearest_for_points`' table for ``postcodes`` (in that order), read from the
    nearest-services index of ``index_name`` with ``k`` per type (:mod:`locmap.finder.index`;
    built first when none is current, the same index ``locmap nearest`` reads), or ``None`` when
    it cannot be saved or cannot answer (a type not in it, a postcode missing, a home borough
    other than the area's: the page then computes its answers)."""
    s = settings.with_(k_nearest=k)
    nidx = read_index(index_name, s)
    if nidx is None:
        try:
            nidx = build_nearest_index(area, index_name, s)
        except OutputError:
            return None
    types = list(dict.fromkeys(service_types)) if service_types is not None else list(nidx.record["types"])
    if not set(types) <= set(nidx.record["types"]):
        return None
    rows = pd.read_parquet(nidx.table_path, filters=[("status", "==", "ok"), ("service_type", "in", types)])
    point = pd.Index(postcodes).get_indexer(rows["postcode"])
    if (point < 0).any() or len(np.unique(point)) != len(postcodes) or \
            (rows["home_lad_cd"] != str(area.pack.lad_cd)).any():
        return None
    # each postcode's rows are in nearest_for_points' order per type (scope, rank): keep it
    order = np.lexsort((np.arange(len(rows)), pd.Index(types).get_indexer(rows["service_type"]), point))
    near = rows.iloc[order].assign(point=point[order]).reset_index(drop=True)
    near["rank"] = near["rank"].astype(int)
    near["certain"] = near["certain"].astype(bool)
    return near[list(NEAREST_COLUMNS)]


def _arrays(near: pd.DataFrame, n_pc: int, types: list[str], k: int) -> tuple[dict[str, Any], pd.Index]:
    """Pack the nearest table into the typed arrays of the module docstring."""
    sids = pd.Index(pd.unique(near["service_id"].dropna()))
    codes = sids.get_indexer(near["service_id"])
    none_idx = len(sids) if len(sids) < 65535 else np.iinfo(np.uint32).max
    dtype = np.uint16 if len(sids) < 65535 else np.uint32
    idx = np.full((n_pc, len(types), k + 1), none_idx, dtype=dtype)
    metres = np.full((n_pc, len(types), k + 1), _NONE_M, dtype=np.uint16)
    certain = np.zeros((n_pc, len(types)), dtype=np.uint8)
    p = near["point"].to_numpy(int)
    ti = pd.Index(types).get_indexer(near["service_type"])
    slot = np.where(near["scope"].to_numpy() == "home_borough", k, near["rank"].to_numpy(int) - 1)
    found = codes >= 0
    d = near["distance_m"].to_numpy(float)
    idx[p[found], ti[found], slot[found]] = codes[found]
    ok_m = found & np.isfinite(d) & (d < _NONE_M)
    metres[p[ok_m], ti[ok_m], slot[ok_m]] = np.round(d[ok_m]).astype(np.uint16)
    bits = (near["certain"].to_numpy(bool) & found).astype(np.uint8) << slot.astype(np.uint8)
    np.bitwise_or.at(certain, (p, ti), bits)
    return {"none_idx": int(none_idx), "idx_bytes": int(np.dtype(dtype).itemsize),
            "near_idx": _b64(idx), "near_m": _b64(metres), "certain": _b64(certain)}, sids


def _services(area: AreaData, sids: pd.Index, service_types: Sequence[str] | None,
              lad_order: list[str]) -> dict[str, list]:
    """Columns of the services the answers use, in ``sids`` order."""
    frames = []
    for ts in services_by_type(area, service_types).values():
        f = ts.frame.assign(service_type=ts.service_type, x=ts.xy[:, 0], y=ts.xy[:, 1])
        frames.append(f)
    s = pd.concat(frames, ignore_index=True).drop_duplicates("service_id").set_index("service_id").loc[sids]
    ll = np.round(_lonlat(s[["x", "y"]].to_numpy(float)), 6)
    return {
        "name": s["name"].tolist(), "address": s["address"].tolist(), "postcode": s["postcode"].tolist(),
        "lad": [lad_order.index(v) if v in lad_order else -1 for v in s["lad_cd"]],
        "status": s["status"].tolist(), "lat": ll[:, 0].tolist(), "lon": ll[:, 1].tolist(),
    }


def _other_postcodes(index: PostcodeIndex, lad_order: list[str]) -> dict[str, Any]:
    """Postcodes the page must recognise without answering: neighbours' (per borough) and
    the area's non-geographic ones (with their same-sector suggestion)."""
    t = index.table
    neighbours = {str(lad_order.index(lad)): "|".join(sorted(g.index))
                  for lad, g in t[~t["in_area"]].groupby("lad_cd") if lad in lad_order}
    ng = t[t["in_area"] & ~t["geographic"]].sort_index()
    return {
        "neighbours": neighbours,
        "non_geographic": [[pc, int(n), suggest(index, pc) or ""] for pc, n in ng["n_at_same_point"].items()],
        "districts": sorted(index.districts),
    }


def finder_data(area: AreaData, k: int = DEFAULT_K, service_types: Sequence[str] | None = None,
                settings: Settings | None = None, router: Any = None, index_name: str | None = None) -> dict[str, Any]:
    """Everything the page needs, as JSON-able plain data (see the module docstring).

    Parameters
    ----------
    area : AreaData
    k : int
        Services per type, any borough.
    service_types : list of str, optional
        Default: every type with located services.
    settings : Settings, optional
        Walking speed (minutes); default ``area.settings``.
    router : Router, optional
        Default: the access step's router.
    index_name : str, optional
        The name ``area`` was loaded by (``ealing``) with ``settings``: the answers are then read
        from that area's nearest-services index (:mod:`locmap.finder.index`, built when none is
        current), as ``locmap nearest`` reads them, instead of computed (without a ``router``).
        Leave it out for an area changed in memory: the index knows only the files.
    """
    settings = settings or area.settings
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    index = build_index(area)
    postcodes, xy, near = _answers(area, index, k, service_types, settings, router, index_name)
    types = list(dict.fromkeys(near["service_type"].tolist()))
    labels = near.drop_duplicates("service_type").set_index("service_type")["type_label"]
    names = lad_names(area)
    lad_order = [str(area.pack.lad_cd), *[c for c in names if c != str(area.pack.lad_cd)]]
    arrays, sids = _arrays(near, len(postcodes), types, k)
    notes = coverage_notes(area, types)
    return {
        "title": str(area.pack.title), "area": str(area.pack.lad_nm), "k": int(k),
        "label": str(near["label"].iat[0]) if len(near) else "",
        "walk_speed_kmh": float(settings.walk_speed_kmh),
        "metres_per_minute": float(settings.metres_per_minute),
        "types": [{"key": t, "label": str(labels[t]), "note": notes.get(t, "")} for t in types],
        "lads": [names.get(c, c) for c in lad_order],
        "postcodes": "|".join(postcodes), "pc_ll": _b64(np.round(_lonlat(xy) * 1e6).astype(np.int32)),
        "notes": _notes_by_postcode(index.table.loc[postcodes, "note"]),
        **arrays,
        "services": _services(area, sids, types, lad_order),
        "other": _other_postcodes(index, lad_order),
        "outlines": _outlines(area),
        "attribution": str(area.attribution or ATTRIBUTION),
        "built": date.today().isoformat(),
    }


# ----------------------------------------------------------------------------- page
def inert_json(obj: Any) -> str:
    """JSON that cannot end a ``<script>`` block or open markup: ``<``, ``>``, ``&`` (and the
    line separators U+2028/9) as ``\\u`` escapes."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def _sha256(code: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(code.encode("utf-8")).digest()).decode("ascii") + "'"


def render_page(data: dict[str, Any]) -> str:
    """The finder HTML for :func:`finder_data` output."""
    leaflet = leaflet_assets()
    leaflet_js = leaflet["leaflet_js"].replace("</script", "<\\/script")
    leaflet_js = "\n".join(ln for ln in leaflet_js.splitlines() if not ln.startswith("//# sourceMappingURL"))
    app_js = assets.APP_JS
    csp = ("default-src 'none'; script-src " + _sha256(leaflet_js) + " " + _sha256(app_js)
           + "; style-src 'unsafe-inline'; img-src data:; connect-src 'none'; font-src 'none'; "
           "form-action 'none'; base-uri 'none'")
    title = html.escape(f"Family services finder - {data['title']}")
    return assets.PAGE_TEMPLATE.format(
        csp=html.escape(csp, quote=False), title=title, area=html.escape(data["area"]),
        heading=html.escape(data["title"]),
        leaflet_css=leaflet["leaflet_css"].replace("</style", "<\\/style"), app_css=assets.APP_CSS,
        data=inert_json(data), leaflet_js=leaflet_js, app_js=app_js,
    )


def build_finder_page(area: AreaData, k: int = DEFAULT_K, service_types: Sequence[str] | None = None,
                      settings: Settings | None = None, router: Any = None, index_name: str | None = None) -> str:
    """The finder page for ``area`` as one HTML string (see :func:`finder_data`)."""
    return render_page(finder_data(area, k, service_types, settings, router, index_name))


def write_finder_page(area: AreaData, path: str | os.PathLike, k: int = DEFAULT_K,
                      service_types: Sequence[str] | None = None, settings: Settings | None = None,
                      router: Any = None, index_name: str | None = None) -> FinderPage:
    """Write the finder page atomically (:func:`locmap.export.write_text`).

    Returns
    -------
    FinderPage
        Path, size in bytes, number of answerable postcodes and services, ``k``, method label.
    """
    data = finder_data(area, k, service_types, settings, router, index_name)
    page = render_page(data)
    path = write_text(Path(path), page)
    return FinderPage(path=path, size_bytes=path.stat().st_size,
                      n_postcodes=data["postcodes"].count("|") + 1 if data["postcodes"] else 0,
                      n_services=len(data["services"]["name"]), k=int(k), label=data["label"])
