"""The k-nearest-sources search runs on the graph renumbered along a Z-order curve
(locmap.distance._kbest.SearchGraph): the same graph, the same labels, ties included."""
from __future__ import annotations

import heapq

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from locmap.distance import _kbest
from locmap.distance._kbest import _KEYMAX, k_nearest_sources, renumbered, z_order
from locmap.distance.network import PramPenalties, network_from_edges, synthetic_street_tables
from locmap.distance.routing import StreetRouter


def shuffled_ids(edges, nodes, seed):
    """The same street tables with node ids drawn at random: the network's nodes (ascending ids)
    then lie in a random spatial order, as an OSM extract's do."""
    new = np.random.default_rng(seed).permutation(len(nodes)) * 7 + 11
    to_new = dict(zip(nodes["id"], new))
    return (edges.assign(u=edges["u"].map(to_new), v=edges["v"].map(to_new)),
            nodes.assign(id=nodes["id"].map(to_new)))


def brute_k(M, k):
    """k cheapest columns per row of a full cost matrix, ties by the lower column (NaN / -1 past the last)."""
    d, i = np.full((M.shape[0], k), np.nan), np.full((M.shape[0], k), -1)
    for r, row in enumerate(M):
        cols = sorted((c, j) for j, c in enumerate(row) if np.isfinite(c))[:k]
        for t, (c, j) in enumerate(cols):
            d[r, t], i[r, t] = c, j
    return d, i


def edge_set(indptr, indices, cost, length, rank=None):
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    if rank is not None:
        rows, indices = rank[rows], rank[indices]
    return sorted(zip(rows.tolist(), np.asarray(indices).tolist(), cost.tolist(), length.tolist()))


def test_the_search_graph_is_the_same_graph_with_nearby_nodes_numbered_close_together():
    e, n = shuffled_ids(*synthetic_street_tables(30, 30, seed=3), seed=1)
    net = network_from_edges(e, n, "pram", penalties=PramPenalties())
    rev = net.reversed_arrays()
    g = StreetRouter(net).search_graph()
    assert sorted(g.rank.tolist()) == list(range(net.n_nodes))
    assert g.indptr.dtype == rev[0].dtype and g.indices.dtype == rev[1].dtype
    assert edge_set(g.indptr, g.indices, g.cost, g.length) == edge_set(*rev, rank=g.rank)
    rows = np.repeat(np.arange(net.n_nodes), np.diff(rev[0]))
    gap_ids = np.median(np.abs(rows - rev[1]))  # ~ n / 3 when the ids are random
    gap_z = np.median(np.abs(g.rank[rows] - g.rank[rev[1]]))
    assert gap_ids > 150 and gap_z < gap_ids / 5


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_k_nearest_on_a_graph_in_random_node_order_equals_brute_force_ties_included(k):
    """Equal street lengths (many equal costs), services listed twice, nodes in a random order:
    the k nearest and their order equal a brute-force sort of the full matrix, bit for bit."""
    e, n = synthetic_street_tables(24, 24, spacing_m=50.0, jitter_m=0.0, p_delete=0.1, p_diagonal=0.0,
                                   seed=6)
    e["length_m"] = 50.0
    e, n = shuffled_ids(e, n, seed=k)
    net = network_from_edges(e, n, "walk")
    rng = np.random.default_rng(10 + k)
    origins = net.xy[rng.choice(net.n_nodes, 250)]
    t = net.xy[rng.choice(net.n_nodes, 10, replace=False)]
    targets = np.vstack([t, t[:3]])
    router = StreetRouter(net)
    M = router.matrix(origins, targets)
    for max_m in (None, 400.0):
        d, i = router.nearest(origins, targets, k=k, max_m=max_m)
        bd, bi = brute_k(M if max_m is None else np.where(M <= max_m, M, np.inf), k)
        assert np.array_equal(d, bd, equal_nan=True) and np.array_equal(i, bi)
    if k > 1:
        assert (d[:, 0] == d[:, 1]).any()  # ties really occur


@pytest.mark.parametrize("order", ["z", "random", "reversed"])
def test_every_nodes_labels_do_not_depend_on_how_the_nodes_are_numbered(order):
    """The kernel on the graph as given and renumbered: every node's costs, lengths and sources
    are equal (k = 3, lengths tracked apart from penalised costs, equal costs present)."""
    e, n = synthetic_street_tables(26, 22, seed=11)
    e.loc[e.index[::3], "length_m"] = 40.0
    rng = np.random.default_rng(4)
    e["surface"] = rng.choice(["asphalt", "gravel", ""], len(e))
    net = network_from_edges(e, n, "pram", penalties=PramPenalties())
    rev = net.reversed_arrays()
    perm = {"z": z_order(net.x, net.y), "random": rng.permutation(net.n_nodes),
            "reversed": np.arange(net.n_nodes)[::-1]}[order]
    g = renumbered(*rev, perm)
    src = np.sort(rng.choice(net.n_nodes, 15, replace=False))
    src = np.concatenate([src, src[:4]])  # duplicated sources: exact ties
    snap = np.round(rng.uniform(0, 30, src.size))
    everyone = np.arange(net.n_nodes)
    for k in (1, 3):
        a = k_nearest_sources(*rev, src, snap, snap, k, np.inf, everyone, True)
        b = k_nearest_sources(g.indptr, g.indices, g.cost, g.length, g.rank[src], snap, snap, k, np.inf,
                              np.sort(g.rank[everyone]), True)
        for x, y in zip(a, b):
            assert np.array_equal(x, y[g.rank])


@pytest.mark.parametrize("x, y", [
    ([5.0, 5.0, 5.0, 5.0], [1.0, 3.0, 2.0, 0.0]),  # a vertical line
    ([np.nan, 1.0, np.inf, 0.0], [2.0, np.nan, 0.0, 1.0]),  # non-finite coordinates
    ([7.0], [7.0]),
    ([], []),
])
def test_z_order_is_a_permutation_for_degenerate_coordinates(x, y):
    order = z_order(np.array(x), np.array(y))
    assert sorted(order.tolist()) == list(range(len(x)))


def test_z_order_follows_the_curve_on_a_two_by_two_grid():
    x, y = np.array([1.0, 0.0, 1.0, 0.0]), np.array([1.0, 1.0, 0.0, 0.0])
    assert z_order(x, y).tolist() == [3, 2, 1, 0]  # (0,0), (1,0), (0,1), (1,1)


def brute_labels(indptr, indices, cost, src_node, src_cost, k):
    """Every node's k cheapest (cost, source) pairs from one scipy Dijkstra per source (ties by
    the lower source index): the labels the search must find."""
    n = indptr.size - 1
    G = sp.csr_array((cost, indices, indptr), shape=(n, n))
    d = dijkstra(G, indices=src_node) + np.asarray(src_cost)[:, None]  # (sources, nodes)
    return brute_k(d.T, k)


def star_with_a_ring(n_leaves, seed):
    """A hub joined to every leaf (integer lengths: many equal costs), the leaves in a ring."""
    rng = np.random.default_rng(seed)
    hub, leaves = 0, np.arange(1, n_leaves + 1)
    u = np.concatenate([np.zeros(n_leaves, int), leaves])
    v = np.concatenate([leaves, np.roll(leaves, 1)])
    w = rng.integers(1, 5, u.size).astype(float)
    G = sp.csr_array((np.concatenate([w, w]), (np.concatenate([u, v]), np.concatenate([v, u]))),
                     shape=(n_leaves + 1,) * 2)
    G.sort_indices()
    return G.indptr.astype(np.int64), G.indices.astype(np.int64), G.data.astype(float)


@pytest.mark.parametrize("k", [1, 3])
def test_a_queue_outgrowing_its_first_allocation_still_pops_in_cost_then_source_order(k):
    """Settling the hub of a 6,000-leaf star queues ~6,000 entries at once, more than the queue's
    first allocation (2 x sources + nodes / 4 + 1,024 = 2,534 slots), so it must grow (twice)
    mid-search; every node's labels still equal brute force, ties included."""
    indptr, indices, cost = star_with_a_ring(6000, seed=k)
    src = np.array([0, 17, 17, 2900, 5999])  # the hub, a leaf listed twice (exact ties), others
    snap = np.array([0.0, 3.0, 3.0, 1.0, 0.0])
    everyone = np.arange(indptr.size - 1)
    c, _, s = k_nearest_sources(indptr, indices, cost, cost, src, snap, snap, k, np.inf, everyone, False)
    bc, bs = brute_labels(indptr, indices, cost, src, snap, k)
    assert np.array_equal(np.where(s >= 0, c, np.nan), bc, equal_nan=True) and np.array_equal(s, bs)
    assert (c[:, 0] == c[:, 1]).any() if k > 1 else True  # ties really occur


def test_the_queue_pops_in_cost_then_key_order_as_it_grows_and_shrinks():
    """The search's priority queue on its own: 5,000 entries with few distinct costs (ties broken
    by key), pushed and popped in a random interleaving from a 16-slot start, come out exactly
    as Python's heapq gives them."""
    _kbest._compile()  # the compiled heap, as the search uses it
    push, pop, grow = _kbest._push, _kbest._pop, _kbest._grow
    rng = np.random.default_rng(3)
    costs = rng.integers(0, 40, 5000).astype(float)
    keys = rng.permutation(5000).astype(np.int64) * 3
    hc, hk = np.full(16, np.inf), np.full(16, _KEYMAX, np.int64)
    size, ref, got, want = 0, [], [], []
    for c, key, popping in zip(costs, keys, rng.random(5000) < 0.4):
        if popping and size:
            got.append((hc[0], hk[0]))
            want.append(heapq.heappop(ref))
            size = pop(hc, hk, size)
        if size + 5 >= hc.size:
            hc, hk = grow(hc, hk, size)
        size = push(hc, hk, size, c, key)
        heapq.heappush(ref, (c, key))
    while size:
        got.append((hc[0], hk[0]))
        size = pop(hc, hk, size)
    want += sorted(ref)
    assert got == want and hc.size == 4096  # grown 8 times from 16 slots
    assert np.isinf(hc).all() and (hk == _KEYMAX).all()  # every slot emptied again
