"""Readers: every supported street-network input -> one :class:`EdgeTables`.

All inputs meet in :class:`EdgeTables` (one row per OSM way *segment*, i.e. per pair of
consecutive way nodes, in the way's own direction, with the tags every profile reads), which
:func:`locmap.distance.network.network_from_tables` turns into a ``StreetNetwork``.  So the
profile rules, lengths, component handling and cache key are the same whatever the format:

==============================  ==========================================================
input                           reader
==============================  ==========================================================
``.osm.pbf``, ``.osm``,         :func:`read_osm` (libosmium through pyosmium; one parser for
``.osm.bz2``, ``.osm.gz``        every OSM file format)
``.graphml`` (osmnx)            :func:`read_graphml` -> :func:`tables_from_osmnx`
``.gpkg``, ``.geojson``         :func:`read_vector` (ways as LineStrings with tag columns, or
                                the ``nodes`` + ``edges`` GeoPackage of osmnx)
Overpass API (internet)         :func:`fetch_overpass` (osmnx's client) writes a GraphML
==============================  ==========================================================

Clipped extracts (ways whose nodes are partly outside the file, as in most cut-outs) are not
refused: every segment keeps its two OSM node ids, only nodes with a location are listed, and
the network builder drops the segments that touch a missing node (reason ``node_missing``) and
reports them; :attr:`EdgeTables.report` counts the ways affected.

osmnx is imported inside the functions that need it (GraphML, GeoPackage from osmnx, fetch):
it takes about 1.5 s to import and most runs never read GraphML.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from locmap.errors import NetworkError
from locmap.export import atomic_path
from locmap.settings import CRS_WEB

#: ``highway`` values nobody walks along (dropped in every profile, reason "not_walkable_highway").
NON_WALKABLE_HIGHWAYS = frozenset({
    "motorway", "motorway_link", "bus_guideway", "busway", "construction", "proposed",
    "planned", "abandoned", "disused", "raceway", "razed", "escape", "no", "platform",
    "rest_area", "services",
})
#: Tags that, when "no", make a way unsuitable for a pram (reason = "<tag>_no").
PRAM_NO_TAGS = ("wheelchair", "stroller", "ramp:stroller", "pram", "ramp:pram")
#: ``sidewalk`` keys: "separate" means the footway is mapped as its own way (walk that instead).
SIDEWALK_KEYS = ("sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right")
#: Every OSM way tag a profile reads.  Readers keep all of them (osmnx only keeps the way tags
#: in ``settings.useful_tags_way``: :func:`osmnx_tags` widens it).
PROFILE_TAG_KEYS = ("highway", "area", "access", "foot", "service", *SIDEWALK_KEYS,
                    "oneway:foot", "surface", "incline", "kerb", *PRAM_NO_TAGS)
#: Overpass filter of :func:`fetch_overpass`: every highway except the values dropped by every
#: profile, so the download holds the same ways as an extract read with :func:`read_osm`.
OVERPASS_FILTER = '["highway"]["highway"!~"^(' + "|".join(sorted(NON_WALKABLE_HIGHWAYS)) + ')$"]'

_UNDEFINED_COORD = 2147483647  # libosmium's x/y of a node reference without a location


@dataclass(frozen=True)
class EdgeTables:
    """What a reader found, in the common form every reader produces.

    Attributes
    ----------
    edges : DataFrame or GeoDataFrame
        One row per way segment: ``u``, ``v`` (int64 node ids, ``u -> v`` in the direction of
        the OSM way), ``way_id`` (int64, -1 when unknown) and one column per
        :data:`PROFILE_TAG_KEYS` (lower-case text, "" when absent; several values joined by
        ";").  A ``geometry`` column (GeoDataFrame) when the input had edge geometries
        (simplified osmnx graphs); otherwise lengths come from the node coordinates.
    nodes : DataFrame
        ``id`` (int64), ``x``, ``y`` in :attr:`nodes_crs`; only nodes with a location.
    nodes_crs : str
        CRS of the node coordinates (EPSG:4326 for OSM files).
    source : str
        The file (or URL) read.
    report : dict
        Counts of what was read and left out (ways, segments, node references without a
        location, polygons skipped ...).
    """

    edges: pd.DataFrame
    nodes: pd.DataFrame
    nodes_crs: str
    source: str
    report: dict = field(default_factory=dict)


# ============================================================================ OSM files
def read_osm(path: str | Path) -> EdgeTables:
    """Read the ``highway`` ways of an OSM file (``.osm.pbf``, ``.osm``, ``.osm.bz2``, ``.osm.gz``).

    Parameters
    ----------
    path : path
        OSM file; the format comes from the suffix (libosmium).

    Returns
    -------
    EdgeTables
        Node coordinates in EPSG:4326 (exact OSM 1e-7 degree values); ``report`` has
        ``ways_read``, ``node_refs_missing`` and ``ways_with_missing_nodes`` (a clipped
        extract: those segments are dropped by the network builder as ``node_missing``).

    Raises
    ------
    NetworkError
        The file cannot be read as OSM data (libosmium's reason in the message).
    """
    path = Path(path)
    try:
        ways = _collect_ways(path)
    except RuntimeError as exc:  # libosmium reports every read/parse failure as RuntimeError
        raise NetworkError(f"{path}: not readable as OSM data ({exc})") from exc
    return _tables_from_ways(ways, str(path))


@dataclass
class _Ways:
    ids: list = field(default_factory=list)
    tags: dict = field(default_factory=lambda: {k: [] for k in PROFILE_TAG_KEYS})
    sizes: list = field(default_factory=list)
    refs: list = field(default_factory=list)
    xs: list = field(default_factory=list)
    ys: list = field(default_factory=list)


def _collect_ways(path: Path) -> _Ways:
    """Every way with a ``highway`` tag: id, profile tags, node refs and their locations."""
    import osmium  # noqa: PLC0415  (only to read an OSM file: not imported by a run without one)

    out = _Ways()
    fp = (osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
          .with_locations()
          .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
          .with_filter(osmium.filter.KeyFilter("highway")))
    for way in fp:
        tags = way.tags
        for key in PROFILE_TAG_KEYS:
            out.tags[key].append(tags.get(key, ""))
        nodes = way.nodes
        out.ids.append(way.id)
        out.sizes.append(len(nodes))
        out.refs.extend(n.ref for n in nodes)
        out.xs.extend(n.x for n in nodes)
        out.ys.extend(n.y for n in nodes)
    return out


def _tables_from_ways(ways: _Ways, source: str) -> EdgeTables:
    """Segments between consecutive way nodes; nodes that have a location."""
    sizes = np.asarray(ways.sizes, dtype=np.int64)
    refs = np.asarray(ways.refs, dtype=np.int64)
    xi = np.asarray(ways.xs, dtype=np.int64)
    yi = np.asarray(ways.ys, dtype=np.int64)
    way_of = np.repeat(np.arange(sizes.size), sizes)
    valid = (xi != _UNDEFINED_COORD) & (yi != _UNDEFINED_COORD)
    same_way = way_of[1:] == way_of[:-1] if refs.size else np.zeros(0, bool)
    seg = np.flatnonzero(same_way)
    edges = pd.DataFrame({"u": refs[seg], "v": refs[seg + 1],
                          "way_id": np.asarray(ways.ids, dtype=np.int64)[way_of[seg]]})
    for key in PROFILE_TAG_KEYS:
        cat = pd.Categorical(_normalise_values(ways.tags[key]))
        edges[key] = pd.Categorical.from_codes(cat.codes[way_of[seg]], cat.categories)
    node_ids, first = np.unique(refs[valid], return_index=True)
    nodes = pd.DataFrame({"id": node_ids, "x": xi[valid][first] / 1e7,
                          "y": yi[valid][first] / 1e7})
    missing_way = np.zeros(sizes.size, dtype=bool)
    missing_way[way_of[~valid]] = True
    report = {"reader": "osmium", "ways_read": int(sizes.size), "segments_read": int(seg.size),
              "node_refs_missing": int((~valid).sum()),
              "ways_with_missing_nodes": int(missing_way.sum()),
              "ways_with_one_node": int((sizes < 2).sum())}
    return EdgeTables(edges=edges, nodes=nodes, nodes_crs=CRS_WEB, source=source, report=report)


def _normalise_values(values: list) -> list[str]:
    """Tag values as lower-case text; lists (merged osmnx edges) joined by ";"; None -> ""."""
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append("")
        elif isinstance(v, (list, tuple, set)):
            out.append(";".join(str(x).strip().lower() for x in v if x is not None))
        else:
            out.append(str(v).strip().lower())
    return out


# ============================================================================ osmnx graphs
def tables_from_osmnx(G: Any, source: str = "osmnx graph") -> EdgeTables:
    """:class:`EdgeTables` from an osmnx ``MultiDiGraph`` (``graph_from_*``, ``load_graphml``).

    osmnx stores a two-way way twice (``reversed=False`` in the way's direction and
    ``reversed=True`` against it); the reversed copies are left out, so each segment appears
    once in the direction of its way (which ``oneway:foot`` refers to).  Edge geometries of
    simplified graphs are kept (their length is measured along them).
    """
    if G.number_of_edges() == 0:
        raise NetworkError(f"{source}: graph has no edges")
    rows = [(u, v, d) for u, v, d in G.edges(data=True) if not _all_true(d.get("reversed"))]
    edges = pd.DataFrame({"u": np.fromiter((r[0] for r in rows), np.int64, len(rows)),
                          "v": np.fromiter((r[1] for r in rows), np.int64, len(rows)),
                          "way_id": [_first_int(r[2].get("osmid")) for r in rows]})
    present = {k for _, _, d in rows for k in d}
    for key in PROFILE_TAG_KEYS:
        edges[key] = pd.Categorical(_normalise_values([r[2].get(key) for r in rows]))
    crs = str(G.graph.get("crs", CRS_WEB))
    if any("geometry" in r[2] for r in rows):
        geoms = [r[2].get("geometry") for r in rows]
        edges = gpd.GeoDataFrame(edges, geometry=geoms, crs=crs)
    node_ids = np.fromiter(G.nodes, np.int64, G.number_of_nodes())
    nodes = pd.DataFrame({"id": node_ids,
                          "x": [float(G.nodes[n]["x"]) for n in G.nodes],
                          "y": [float(G.nodes[n]["y"]) for n in G.nodes]})
    report = {"reader": "osmnx", "graph_edges": int(G.number_of_edges()),
              "reversed_copies_skipped": int(G.number_of_edges() - len(rows)),
              "segments_read": len(rows),
              "tags_absent": [k for k in PROFILE_TAG_KEYS if k not in present]}
    return EdgeTables(edges=edges, nodes=nodes, nodes_crs=crs, source=source, report=report)


def _all_true(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return bool(value) and all(_all_true(v) for v in value)
    return value is True or str(value) == "True"


def _first_int(value: Any) -> int:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def read_graphml(path: str | Path) -> EdgeTables:
    """Read a GraphML street network saved by osmnx (``ox.save_graphml``)."""
    import osmnx as ox  # noqa: PLC0415  (heavy import, only for GraphML; see module docstring)

    path = Path(path)
    try:
        G = ox.load_graphml(path)
    except (OSError, ValueError, KeyError, SyntaxError) as exc:
        raise NetworkError(f"{path}: not readable as an osmnx GraphML street network "
                           f"({type(exc).__name__}: {exc})") from exc
    return tables_from_osmnx(G, str(path))


# ============================================================================ vector files
def read_vector(path: str | Path) -> EdgeTables:
    """Read a GeoPackage / GeoJSON street network.

    Two layouts are understood:

    * the ``nodes`` + ``edges`` layers written by osmnx ``save_graph_geopackage`` (node ids
      ``osmid``; edges ``u``, ``v``, ``reversed``, tags, geometry);
    * one layer of ways as LineStrings with OSM tags as columns (e.g. ``osmium export -f
      geojson --geometry-types=linestring``, a QGIS export): every vertex is a node, and
      vertices at the same coordinates (to 1e-7 degree, or 1 mm in a projected CRS) are the
      same node.  Polygons are skipped and counted (areas are not routable ways).
    """
    path = Path(path)
    try:
        layers = {str(name) for name, _ in pyogrio.list_layers(path)}
        if {"nodes", "edges"} <= layers:
            return _read_osmnx_gpkg(path)
        frame = gpd.read_file(path, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        raise NetworkError(f"{path}: not readable as a vector street network ({exc})") from exc
    if frame.crs is None:
        raise NetworkError(f"{path}: the layer has no CRS; save it with one (EPSG:4326 for OSM)")
    return _tables_from_lines(frame, str(path))


def _read_osmnx_gpkg(path: Path) -> EdgeTables:
    nodes = gpd.read_file(path, layer="nodes", engine="pyogrio")
    edges = gpd.read_file(path, layer="edges", engine="pyogrio")
    for need, frame, cols in (("nodes", nodes, ("osmid",)), ("edges", edges, ("u", "v"))):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise NetworkError(f"{path}: layer '{need}' has no column(s) {missing} "
                               "(expected osmnx save_graph_geopackage output)")
    keep = ~edges["reversed"].map(_all_true).to_numpy(bool) if "reversed" in edges else \
        np.ones(len(edges), bool)
    e = edges[keep]
    out = gpd.GeoDataFrame({"u": e["u"].to_numpy(np.int64), "v": e["v"].to_numpy(np.int64),
                            "way_id": [_first_int(_literal(x)) for x in e.get("osmid", [-1] * len(e))]},
                           geometry=e.geometry.to_numpy(), crs=edges.crs)
    for key in PROFILE_TAG_KEYS:
        vals = e[key].map(_literal).tolist() if key in e.columns else [""] * len(e)
        out[key] = pd.Categorical(_normalise_values(vals))
    n = pd.DataFrame({"id": nodes["osmid"].to_numpy(np.int64),
                      "x": nodes.geometry.x.to_numpy(), "y": nodes.geometry.y.to_numpy()})
    report = {"reader": "osmnx geopackage", "graph_edges": int(len(edges)),
              "reversed_copies_skipped": int((~keep).sum()), "segments_read": int(keep.sum()),
              "tags_absent": [k for k in PROFILE_TAG_KEYS if k not in edges.columns]}
    return EdgeTables(edges=out, nodes=n, nodes_crs=str(nodes.crs), source=str(path), report=report)


def _literal(value: Any) -> Any:
    """osmnx writes lists as "['a', 'b']" text in GeoPackages: back to lists."""
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        inner = [s.strip().strip("'\"") for s in value[1:-1].split(",")]
        return [s for s in inner if s]
    return value


def _tables_from_lines(frame: gpd.GeoDataFrame, source: str) -> EdgeTables:
    """Ways as LineStrings -> segments between consecutive vertices; vertices -> nodes."""
    frame = frame.explode(index_parts=False, ignore_index=True)
    is_line = (frame.geom_type == "LineString").to_numpy()
    lines = frame[is_line].reset_index(drop=True)
    coords, which = shapely.get_coordinates(lines.geometry.to_numpy(), return_index=True)
    step = 1e-7 if frame.crs.is_geographic else 1e-3
    key = np.round(coords / step).astype(np.int64)
    _, node_of, = np.unique(key, axis=0, return_inverse=True)
    node_of = node_of.ravel().astype(np.int64)
    seg = np.flatnonzero(which[1:] == which[:-1])
    id_col = next((c for c in ("osmid", "osm_id", "@id", "id") if c in lines.columns), None)
    way_ids = (pd.to_numeric(lines[id_col].astype(str).str.lstrip("w"), errors="coerce")
               .fillna(-1).to_numpy(np.int64) if id_col else np.full(len(lines), -1, np.int64))
    edges = pd.DataFrame({"u": node_of[seg], "v": node_of[seg + 1], "way_id": way_ids[which[seg]]})
    for k in PROFILE_TAG_KEYS:
        vals = lines[k].tolist() if k in lines.columns else [""] * len(lines)
        cat = pd.Categorical(_normalise_values(vals))
        edges[k] = pd.Categorical.from_codes(cat.codes[which[seg]], cat.categories)
    n_nodes = int(node_of.max()) + 1 if node_of.size else 0
    first = np.full(n_nodes, -1, np.int64)
    first[node_of[::-1]] = np.arange(node_of.size - 1, -1, -1)
    nodes = pd.DataFrame({"id": np.arange(n_nodes, dtype=np.int64),
                          "x": coords[first, 0] if n_nodes else [], "y": coords[first, 1] if n_nodes else []})
    report = {"reader": "vector lines", "features_read": int(len(frame)),
              "polygons_skipped": int((frame.geom_type.isin(["Polygon", "MultiPolygon"])).sum()),
              "other_geometries_skipped": int((~is_line & ~frame.geom_type.isin(
                  ["Polygon", "MultiPolygon"])).sum()),
              "segments_read": int(seg.size),
              "tags_absent": [k for k in PROFILE_TAG_KEYS if k not in lines.columns]}
    return EdgeTables(edges=edges, nodes=nodes, nodes_crs=str(frame.crs), source=source, report=report)


# ============================================================================ dispatch
OSM_SUFFIXES = (".pbf", ".osm", ".osm.bz2", ".osm.gz", ".osm.xml", ".o5m")
GRAPHML_SUFFIXES = (".graphml",)
VECTOR_SUFFIXES = (".gpkg", ".geojson", ".geojsonl", ".geojsons")


def read_tables(path: str | Path) -> EdgeTables:
    """Read any supported street-network file (format from the file name; see module docstring)."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(OSM_SUFFIXES):
        return read_osm(path)
    if name.endswith(GRAPHML_SUFFIXES):
        return read_graphml(path)
    if name.endswith(VECTOR_SUFFIXES):
        return read_vector(path)
    formats = ", ".join(OSM_SUFFIXES + GRAPHML_SUFFIXES + VECTOR_SUFFIXES)
    raise NetworkError(f"{path}: unknown street-network format; use one of {formats}")


# ============================================================================ fetch
@contextlib.contextmanager
def osmnx_tags(**overrides: Any) -> Iterator[Any]:
    """osmnx settings for a locmap download: every profile tag kept, plus ``overrides``
    (e.g. ``overpass_url``, ``cache_folder``); the user's osmnx settings are restored after."""
    import osmnx as ox  # noqa: PLC0415  (heavy import, only for fetch/GraphML)
    import requests  # noqa: PLC0415  (only to download: not imported by a look-up or a run)

    wanted = {"useful_tags_way": sorted(set(ox.settings.useful_tags_way) | set(PROFILE_TAG_KEYS)),
              **overrides}
    old = {k: getattr(ox.settings, k) for k in wanted}
    for k, v in wanted.items():
        setattr(ox.settings, k, v)
    try:
        yield ox
    finally:
        for k, v in old.items():
            setattr(ox.settings, k, v)


def fetch_overpass(polygon_wgs84: Any, out_path: str | Path, *, cache_dir: str | Path,
                   overpass_url: str | None = None, timeout_s: float = 180.0) -> Path:
    """Download every highway way in a polygon with osmnx (Overpass API) and save it as GraphML.

    Parameters
    ----------
    polygon_wgs84 : shapely Polygon or MultiPolygon
        Area in EPSG:4326 lon/lat (buffer it first; osmnx adds 500 m itself).
    out_path : path
        GraphML file to write (atomically; read back with ``load_or_build``).
    cache_dir : path
        Folder for osmnx's response cache (``<cache>/overpass``), not the working directory.
    overpass_url : str, optional
        Overpass endpoint (default osmnx's, https://overpass-api.de/api).
    timeout_s : float
        HTTP timeout in seconds.

    The graph is not simplified (every OSM vertex stays a node) and keeps every component:
    locmap's own rules decide what is walkable, as for a file.

    Raises
    ------
    NetworkError
        No connection to the endpoint (offline), an HTTP/Overpass error, or no ways in the area.
    """
    import osmnx as ox  # noqa: PLC0415  (heavy import, only for fetch/GraphML)
    import requests  # noqa: PLC0415  (only to download: not imported by a look-up or a run)

    url = (overpass_url or ox.settings.overpass_url).rstrip("/")
    _check_reachable(url, timeout_s)
    with osmnx_tags(overpass_url=url, requests_timeout=timeout_s, cache_folder=str(cache_dir),
                    log_console=False):
        try:
            G = ox.graph_from_polygon(polygon_wgs84, network_type="walk", simplify=False,
                                      retain_all=True, truncate_by_edge=True,
                                      custom_filter=OVERPASS_FILTER)
        except requests.RequestException as exc:
            raise NetworkError(f"OpenStreetMap download from {url} failed: {exc}") from exc
        except (ox._errors.InsufficientResponseError, ox._errors.ResponseStatusCodeError,
                ValueError) as exc:
            raise NetworkError(f"{url}: no usable street data for the area ({exc})") from exc
    out_path = Path(out_path)
    with atomic_path(out_path, suffix=".graphml") as tmp:
        ox.save_graphml(G, tmp)
    return out_path


def _check_reachable(url: str, timeout_s: float) -> None:
    """Fail fast and clearly when the Overpass endpoint cannot be reached (osmnx would wait
    60 s and retry)."""
    import requests  # noqa: PLC0415

    try:
        requests.get(url + "/status", timeout=min(timeout_s, 20.0))
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise NetworkError(
            f"could not download OpenStreetMap data: no connection to the Overpass API at {url} "
            f"({type(exc).__name__}). This machine may be offline: download a Geofabrik extract "
            "elsewhere and pass it with --network FILE (geo/README.md)") from exc


__all__ = [
    "EdgeTables", "PROFILE_TAG_KEYS", "PRAM_NO_TAGS", "SIDEWALK_KEYS", "NON_WALKABLE_HIGHWAYS",
    "OVERPASS_FILTER", "read_osm", "read_graphml", "read_vector", "read_tables",
    "tables_from_osmnx", "fetch_overpass", "osmnx_tags",
]
