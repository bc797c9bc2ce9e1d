"""Hostile street networks (hypothesis): islands, services on islands, zero-length and
duplicate edges, one-way-only footways.

Complements tests/test_network.py and tests/test_routing.py (which already cover a seeded
random geometric graph against networkx and a single island): here hypothesis generates the
graphs, and every call checks that

* finite distances equal networkx's (Dijkstra on the same directed graph + snaps);
* an origin-target pair with no path is NaN (nearest) / inf (matrix) and is *reported*
  (``unreachable_report``), never a silent inf/NaN and never a wrong finite number.
"""
from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from locmap.errors import DisconnectedGraphError, NetworkError, OutsideNetworkError
from locmap.distance.network import network_from_edges
from locmap.distance.routing import StreetRouter

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
X0, Y0 = 510_000.0, 175_000.0


@st.composite
def graphs(draw):
    """Nodes on a jittered grid; random edges incl. zero-length (coincident nodes), duplicates
    with other lengths, one-way footways (oneway:foot=yes / -1) and several islands."""
    n = draw(st.integers(3, 14))
    xy = {i: (X0 + 50.0 * (i % 4) + draw(st.floats(0, 10)), Y0 + 50.0 * (i // 4)) for i in range(n)}
    if draw(st.booleans()):  # a coincident node pair -> zero-length edge
        xy[n] = xy[0]
        n += 1
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] != p[1])
    rows = []
    for u, v in draw(st.lists(pairs, min_size=1, max_size=3 * n)):
        straight = float(np.hypot(xy[u][0] - xy[v][0], xy[u][1] - xy[v][1]))
        length = straight * draw(st.sampled_from([1.0, 1.0, 1.2, 2.0]))
        ow = draw(st.sampled_from(["", "", "", "yes", "-1"]))
        rows.append({"u": u, "v": v, "length_m": length, "highway": "footway", "oneway:foot": ow})
        if draw(st.integers(0, 5)) == 0:  # duplicate edge with another length
            rows.append({**rows[-1], "length_m": length + draw(st.floats(0, 30))})
    if n in xy and (n - 1) == max(xy) and xy[n - 1] == xy[0]:
        rows.append({"u": 0, "v": n - 1, "length_m": 0.0, "highway": "footway", "oneway:foot": ""})
    edges = pd.DataFrame(rows)
    nodes = pd.DataFrame({"id": list(xy), "x": [p[0] for p in xy.values()], "y": [p[1] for p in xy.values()]})
    return edges, nodes


def _expected_graph(edges: pd.DataFrame) -> nx.DiGraph:
    """Independent directed graph: two-way unless oneway:foot, duplicates keep the minimum."""
    G = nx.DiGraph()
    for r in edges.itertuples(index=False):
        ow = getattr(r, "_4")
        dirs = [(r.u, r.v)] if ow == "yes" else [(r.v, r.u)] if ow == "-1" else [(r.u, r.v), (r.v, r.u)]
        for a, b in dirs:
            if not G.has_edge(a, b) or G[a][b]["w"] > r.length_m:
                G.add_edge(a, b, w=float(r.length_m))
    return G


@SETTINGS
@given(g=graphs(), data=st.data())
def test_random_graphs_match_networkx_and_report_unreachable(g, data):
    edges, nodes = g
    net = network_from_edges(edges, nodes, "walk", largest_component=False)
    G = _expected_graph(edges)
    ids = net.node_ids
    assert set(map(int, ids)) == set(G.nodes)
    # explicit zeros are edges; costs match the expected minimum per direction
    assert net.n_edges == G.number_of_edges()
    # origins / targets exactly on nodes (snap 0) so totals are pure network distances
    o_nodes = data.draw(st.lists(st.sampled_from(list(range(len(ids)))), min_size=1, max_size=6))
    t_nodes = data.draw(st.lists(st.sampled_from(list(range(len(ids)))), min_size=1, max_size=4))
    oxy = np.column_stack([net.x[o_nodes], net.y[o_nodes]])
    txy = np.column_stack([net.x[t_nodes], net.y[t_nodes]])
    r = StreetRouter(net, max_snap_m=1.0)
    # the snapped node may be a coincident twin: compare with networkx from the snapped node
    try:
        m = r.matrix(oxy, txy)
    except DisconnectedGraphError:
        labels = net.component_labels
        on, tn = r.last_origin_nodes, r.last_target_nodes
        assert not np.isin(labels[on], labels[tn]).any()
        return
    on, tn = r.last_origin_nodes, r.last_target_nodes
    expect = np.full(m.shape, np.inf)
    for i, a in enumerate(on):
        d = nx.single_source_dijkstra_path_length(G, int(ids[a]), weight="w")
        for j, b in enumerate(tn):
            expect[i, j] = d.get(int(ids[b]), np.inf)
    assert not np.isnan(m).any()
    np.testing.assert_allclose(m, expect, rtol=1e-9, atol=1e-6)
    rep = r.unreachable_report
    assert rep.n_unreachable_pairs == int(np.isinf(m).sum())
    dead = np.flatnonzero(~np.isfinite(m).any(axis=1))
    assert set(rep.indices("origin")) >= set(dead)  # every origin reaching nothing is explained
    for k in (1, min(2, len(t_nodes))):
        try:
            dist, idx = r.nearest(oxy, txy, k=k)
        except DisconnectedGraphError:
            continue
        best = np.sort(expect, axis=1)[:, :k]
        np.testing.assert_allclose(np.where(np.isfinite(best), best, np.nan), dist, rtol=1e-9, atol=1e-6)
        assert ((idx >= 0) == np.isfinite(dist)).all()
        # every NaN is explained in the report (other component / no directed path / fewer than k)
        rep = r.unreachable_report
        nan_rows = np.flatnonzero(np.isnan(dist).any(axis=1))
        assert set(nan_rows) <= set(rep.indices("origin"))


def test_service_on_an_island_is_reported_with_reason():
    edges = pd.DataFrame({"u": [0, 1, 10], "v": [1, 2, 11], "length_m": [50.0, 50.0, 40.0],
                          "highway": "footway"})
    nodes = pd.DataFrame({"id": [0, 1, 2, 10, 11], "x": [X0, X0 + 50, X0 + 100, X0 + 400, X0 + 440],
                          "y": [Y0] * 5})
    net = network_from_edges(edges, nodes, "walk", largest_component=False)
    r = StreetRouter(net, max_snap_m=5)
    homes = np.array([[X0, Y0], [X0 + 400, Y0]])
    m = r.matrix(homes, np.array([[X0 + 100, Y0], [X0 + 440, Y0]]))
    assert m[0, 0] == pytest.approx(100) and np.isinf(m[0, 1]) and np.isinf(m[1, 0]) and m[1, 1] == pytest.approx(40)
    assert r.unreachable_report.n_unreachable_pairs == 2
    d, i = r.nearest(homes, np.array([[X0 + 440, Y0]]))  # the only service is on the island
    assert np.isnan(d[0, 0]) and i[0, 0] == -1 and d[1, 0] == pytest.approx(40)
    assert r.unreachable_report.indices("origin", "other_component").tolist() == [0]
    with pytest.raises(DisconnectedGraphError):
        r.nearest(homes[:1], np.array([[X0 + 440, Y0]]))


def test_one_way_only_footway_gives_directed_distances_and_reports():
    edges = pd.DataFrame({"u": [0, 1], "v": [1, 2], "length_m": [10.0, 10.0], "highway": "footway",
                          "oneway:foot": ["yes", "yes"]})
    nodes = pd.DataFrame({"id": [0, 1, 2], "x": [X0, X0 + 10, X0 + 20], "y": [Y0] * 3})
    net = network_from_edges(edges, nodes, "walk")
    r = StreetRouter(net, max_snap_m=1)
    pts = np.column_stack([net.x, net.y])
    m = r.matrix(pts, pts)
    assert m[0, 2] == pytest.approx(20) and np.isinf(m[2, 0]) and np.isinf(m[1, 0])
    d, _ = r.nearest(pts[2:], pts[:1])
    assert np.isnan(d[0, 0])
    assert r.unreachable_report.indices("origin", "no_directed_path").tolist() == [0]


def test_all_edges_unusable_is_a_network_error():
    edges = pd.DataFrame({"u": [0, 1], "v": [0, 5], "length_m": [1.0, 1.0], "highway": "footway"})
    nodes = pd.DataFrame({"id": [0, 1], "x": [X0, X0 + 1], "y": [Y0, Y0]})
    with pytest.raises(NetworkError, match="no usable walkable edges"):
        network_from_edges(edges, nodes, "walk")


def test_nan_length_falls_back_to_straight_line():
    """A non-finite length falls back to the straight line between the nodes."""
    edges = pd.DataFrame({"u": [0], "v": [1], "length_m": [np.nan], "highway": "footway"})
    nodes = pd.DataFrame({"id": [0, 1], "x": [X0, X0 + 30], "y": [Y0, Y0 + 40]})
    net = network_from_edges(edges, nodes, "walk")
    assert net.csr.data.tolist() == [50.0, 50.0]


def test_points_with_nan_or_far_away_are_reported_not_silent():
    edges = pd.DataFrame({"u": [0], "v": [1], "length_m": [10.0], "highway": "footway"})
    nodes = pd.DataFrame({"id": [0, 1], "x": [X0, X0 + 10], "y": [Y0, Y0]})
    r = StreetRouter(network_from_edges(edges, nodes, "walk"), max_snap_m=50)
    homes = np.array([[X0, Y0], [np.nan, Y0], [X0 + 5_000, Y0], [X0 + 5, Y0 + 30]])
    d, i = r.nearest(homes, np.array([[X0 + 10, Y0]]))
    assert d[0, 0] == pytest.approx(10) and np.isnan(d[1:3, 0]).all()
    rep = r.unreachable_report
    assert rep.indices("origin", "not_finite").tolist() == [1]
    assert rep.indices("origin", "outside_network_extent").tolist() == [2]
    with pytest.raises(OutsideNetworkError):
        StreetRouter(r.network, max_snap_m=50, on_outside="raise").nearest(homes, np.array([[X0 + 10, Y0]]))


def test_negative_edge_lengths_are_rejected_or_dropped():
    edges = pd.DataFrame({"u": [0, 1], "v": [1, 2], "length_m": [-5.0, 10.0], "highway": "footway"})
    nodes = pd.DataFrame({"id": [0, 1, 2], "x": [X0, X0 + 1, X0 + 2], "y": [Y0] * 3})
    try:
        net = network_from_edges(edges, nodes, "walk")
    except NetworkError:
        return
    assert (net.csr.data >= 0).all()
