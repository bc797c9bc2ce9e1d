"""When a street network exists for the area, the same calls measure along streets (no code change)."""
from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import pytest

from locmap.access.nearest import compute_access
from locmap.distance.routing import default_router
from osm_fixtures import ealing_grid_osm

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def street_access(ealing, tmp_path_factory):
    osm = ealing_grid_osm(tmp_path_factory.mktemp("net") / "grid.osm")
    cache = tmp_path_factory.mktemp("cache")
    s = ealing.settings.with_(cache_dir=cache, network_file=osm, progress=False)
    area = dataclasses.replace(ealing, settings=s)
    router = default_router(area)
    return area, router, compute_access(area, s, router=router, service_types=["gp_practice"], k=1)


def test_configured_network_switches_labels_to_street_distance(street_access):
    area, router, res = street_access
    assert type(router).__name__ == "StreetRouter"
    assert res.method == "street" and res.label == "street distance"
    assert set(res.table["label"]) == {"street distance"}


def test_street_distances_equal_networkx_on_the_same_graph(street_access):
    area, router, res = street_access
    net = router.network
    G = net.to_networkx()
    gp = area.located_services("gp_practice")
    t_nodes, t_snap = net.snap(np.column_stack([gp.geometry.x, gp.geometry.y]), router.max_snap_m)
    homes = area.homes.sample(25, random_state=1)
    o_nodes, o_snap = net.snap(np.column_stack([homes.geometry.x, homes.geometry.y]), router.max_snap_m)
    gp_rows = res.table[(res.table["service_type"] == "gp_practice") & (res.table["rank"] == 1)]
    got = gp_rows.set_index("home_id").loc[homes["home_id"], "distance_m"].to_numpy()
    for g, on, od in zip(got, o_nodes, o_snap):
        d = nx.single_source_dijkstra_path_length(G, int(on), weight="cost_m")
        want = min(od + d[int(tn)] + td for tn, td in zip(t_nodes, t_snap) if int(tn) in d)
        assert g == pytest.approx(want, abs=1e-6)


def test_street_distance_is_never_shorter_than_straight_line(street_access):
    _, _, res = street_access
    t = res.table.dropna(subset=["distance_m"])
    assert (t["distance_m"] >= t["straight_m"] - 1.0).all()  # 1 m: WGS84->BNG rounding
