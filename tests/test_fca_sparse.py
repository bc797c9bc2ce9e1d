"""Sparse catchments: routers' ``pairs_within`` list exactly the finite entries of ``matrix``;
2SFCA on them equals the dense reference (ties at the threshold, homes with nothing in reach,
neighbours' demand); gap areas joined by coverage union equal the snapped overlay union."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from locmap.access import fca, gaps
from locmap.distance.network import network_from_edges, synthetic_street_tables
from locmap.distance.routing import EstimatedRouter, StreetRouter, default_router
from locmap.settings import Settings

CRS = "EPSG:27700"
#: 6 km/h = exactly 100 m per minute, so a tie at the threshold is exact in floats
S = Settings(walk_speed_kmh=6.0, thresholds_minutes=(10, 15), progress=False)


def _points(ids, xy, **cols) -> gpd.GeoDataFrame:
    xy = np.asarray(xy, dtype=float)
    return gpd.GeoDataFrame({"home_id": ids, **cols}, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
                            crs=CRS)


def _services(xy, capacity) -> gpd.GeoDataFrame:
    xy = np.asarray(xy, dtype=float)
    n = len(xy)
    return gpd.GeoDataFrame({
        "service_id": [f"S{i}" for i in range(n)], "service_type": "primary_school",
        "located": True, "lad_cd": "E09000009", "capacity": capacity, "name": "school",
    }, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS)


@pytest.fixture(scope="module")
def tie_case():
    """Estimated router 1.25 x straight: 15 minutes = 1,500 m = 1,200 m straight.

    H0 is exactly 15 minutes from S0, H1 exactly 10 from S0, H2 exactly 15 from S1, H3 reaches
    nothing within 15 minutes, H4 exactly 15 from S2 (capacity unknown: median fill); S3 has
    no demand in reach (ratio undefined).  200 random homes around them; 12 neighbour homes
    (demand only) crowd S1.
    """
    rng = np.random.default_rng(7)
    fixed = [(1200, 0), (0, 800), (6200, 0), (2600, 0), (0, 1800)]
    bulk = np.column_stack([rng.uniform(-500, 7000, 200), rng.uniform(-500, 4000, 200)])
    xy = np.vstack([fixed, bulk])
    homes = _points([f"H{i}" for i in range(len(xy))], xy, pop_0_4=rng.uniform(0, 5, len(xy)).round(2))
    homes.loc[3, "pop_0_4"] = 4.0
    services = _services([(0, 0), (5000, 0), (0, 3000), (20000, 20000)], [30.0, 60.0, np.nan, 10.0])
    nxy = np.column_stack([5000 + rng.uniform(-900, 900, 12), rng.uniform(-900, 900, 12)])
    extra = _points([f"N{i}" for i in range(12)], nxy, pop_0_4=rng.uniform(1, 9, 12).round(2))
    return homes, services, extra, EstimatedRouter(1.25)


def _dense_reference(homes, services, extra, router, thr):
    """Dense cost matrix (homes then neighbour homes) and two_step_fca_numpy at ``thr``."""
    allh = pd.concat([homes, extra], ignore_index=True) if extra is not None else homes
    hxy = np.column_stack([allh.geometry.x, allh.geometry.y])
    sxy = np.column_stack([services.geometry.x, services.geometry.y])
    cost = router.matrix(hxy, sxy, max_m=max(S.thresholds_minutes) * S.metres_per_minute)
    cost_min = cost / S.metres_per_minute
    supply = fca._capacities(services, "capacity")[0]
    access, ratio = fca.two_step_fca_numpy(allh["pop_0_4"].to_numpy(float), supply, cost_min, thr)
    inside = np.isfinite(cost_min) & (cost_min <= thr)
    return access[:len(homes)], ratio, inside, allh["pop_0_4"].to_numpy(float)


@pytest.mark.parametrize("engine", ["numpy", "access", "pandas"])
def test_sparse_2sfca_equals_dense_reference_with_ties_and_neighbours(tie_case, engine):
    homes, services, extra, router = tie_case
    ph, ps = fca.two_step_fca(homes, services, router, S, extra_demand=extra, engine=engine)
    assert len(ph) == 2 * len(homes)  # neighbour homes get no rows
    for thr in (10.0, 15.0):
        access, ratio, inside, demand = _dense_reference(homes, services, extra, router, thr)
        h = ph[ph["threshold_minutes"] == thr]
        s = ps[ps["threshold_minutes"] == thr]
        np.testing.assert_allclose(h["fca_ratio"], access, rtol=1e-12, atol=0)
        np.testing.assert_array_equal(h["n_in_catchment"], inside.sum(axis=1)[:len(homes)])
        np.testing.assert_allclose(s["demand_in_catchment"], inside.T.astype(float) @ demand, rtol=1e-12)
        np.testing.assert_allclose(s["supply_ratio"], ratio, rtol=1e-12, equal_nan=True)
    at = ph.set_index(["home_id", "threshold_minutes"])
    # ties at the threshold are inside (cost <= threshold)
    assert at.loc[("H0", 10.0), "n_in_catchment"] == 0 and at.loc[("H0", 15.0), "n_in_catchment"] == 1
    assert at.loc[("H1", 10.0), "n_in_catchment"] == 1
    assert at.loc[("H2", 15.0), "n_in_catchment"] >= 1 and at.loc[("H4", 15.0), "n_in_catchment"] >= 1
    # a home with nothing in reach scores 0, not NaN
    assert at.loc[("H3", 15.0), "fca_ratio"] == 0.0 and at.loc[("H3", 15.0), "n_in_catchment"] == 0
    s15 = ps[ps["threshold_minutes"] == 15.0].set_index("service_id")
    assert np.isnan(s15.loc["S3", "supply_ratio"]) and s15.loc["S3", "demand_in_catchment"] == 0.0
    assert s15.loc["S2", "capacity"] == 30.0  # unknown: the median of 30, 60 and 10


def test_pandas_engine_gives_the_access_librarys_bits_exactly():
    """Many overlapping catchments and demands over six orders of magnitude, where the order and
    the compensation of the sums show in the last bits: the ``pandas`` engine (the default) and
    PySAL ``access`` agree bit for bit; numpy's plain sums do not."""
    rng = np.random.default_rng(11)
    xy = rng.uniform(0, 4000, (3000, 2))
    homes = _points([f"H{i}" for i in range(len(xy))], xy, pop_0_4=10.0 ** rng.uniform(-3, 3, len(xy)))
    services = _services(rng.uniform(0, 4000, (40, 2)), rng.uniform(10, 500, 40))
    router = EstimatedRouter(1.25)
    out = {e: fca.two_step_fca(homes, services, router, S, engine=e)[0]["fca_ratio"].to_numpy()
           for e in ("access", "pandas", "numpy")}
    assert (out["access"] > 0).sum() > 2500
    assert out["pandas"].tobytes() == out["access"].tobytes()
    assert out["numpy"].tobytes() != out["access"].tobytes()
    default = fca.two_step_fca(homes, services, router, S)[0]["fca_ratio"].to_numpy()
    assert default.tobytes() == out["access"].tobytes()


def test_neighbour_demand_lowers_the_ratio_of_the_border_school(tie_case):
    homes, services, extra, router = tie_case
    _, with_n = fca.two_step_fca(homes, services, router, S, extra_demand=extra, thresholds_minutes=(15,))
    _, without = fca.two_step_fca(homes, services, router, S, thresholds_minutes=(15,))
    a, b = with_n.set_index("service_id"), without.set_index("service_id")
    nxy = np.column_stack([extra.geometry.x, extra.geometry.y])
    near = router.estimate(np.hypot(nxy[:, 0] - 5000, nxy[:, 1])) <= 1500
    assert near.sum() > 0
    added = extra.loc[near, "pop_0_4"].sum()
    assert a.loc["S1", "demand_in_catchment"] == pytest.approx(b.loc["S1", "demand_in_catchment"] + added,
                                                               rel=1e-12)
    assert a.loc["S1", "supply_ratio"] < b.loc["S1", "supply_ratio"]
    assert a.loc["S0", "demand_in_catchment"] == b.loc["S0", "demand_in_catchment"]  # no neighbour near S0


class _MatrixOnly:
    """A router offering only the Router protocol's dense ``matrix``."""

    method = "estimated"

    def __init__(self, router):
        self.router = router
        self.calls = 0

    def matrix(self, origins_xy, targets_xy, max_m=None):
        self.calls += 1
        return self.router.matrix(origins_xy, targets_xy, max_m)


def test_router_with_only_a_dense_matrix_gives_the_same_tables(tie_case):
    homes, services, extra, router = tie_case
    dense = _MatrixOnly(router)
    a = fca.two_step_fca(homes, services, router, S, extra_demand=extra)
    b = fca.two_step_fca(homes, services, dense, S, extra_demand=extra)
    assert dense.calls == 1  # one call per type, at the largest threshold
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])


# ----------------------------------------------------------------------------- routers
def _assert_pairs_equal_matrix(dense: np.ndarray, pairs) -> None:
    ii, jj = np.nonzero(np.isfinite(dense))
    np.testing.assert_array_equal(pairs.origin, ii)
    np.testing.assert_array_equal(pairs.target, jj)
    np.testing.assert_array_equal(pairs.cost_m, dense[ii, jj])  # the same floats, bit for bit
    assert pairs.shape == dense.shape
    np.testing.assert_array_equal(pairs.to_dense(), np.where(np.isnan(dense), np.inf, dense))


@pytest.mark.parametrize("circuity, intercept_m", [(1.0, 0.0), (1.3, 0.0), (1.25, 30.0), (1.1, -40.0),
                                                   (1.4, 5000.0)])
def test_estimated_pairs_within_equal_the_finite_matrix_entries(circuity, intercept_m):
    rng = np.random.default_rng(11)
    o = rng.uniform(0, 4000, (700, 2)).round(0)
    t = rng.uniform(0, 4000, (80, 2)).round(0)
    o[5] = np.nan
    t[7, 1] = np.inf
    o[9] = t[3]  # a home on a service
    o[10] = t[4] + [1200.0, 0.0]  # exactly on the 1,500 m bound of 1.25 x straight
    r = EstimatedRouter(circuity, intercept_m, chunk_rows=97)
    for max_m in (0.0, 250.0, 1500.0, 1e6):
        _assert_pairs_equal_matrix(r.matrix(o, t, max_m), r.pairs_within(o, t, max_m))
    rep = r.unreachable_report
    assert rep.indices("origin", "not_finite").tolist() == [5]
    assert rep.indices("target", "not_finite").tolist() == [7]


def test_estimated_pairs_within_keep_a_pair_exactly_on_the_bound():
    r = EstimatedRouter(1.25)
    p = r.pairs_within(np.array([[1200.0, 0.0], [1200.001, 0.0]]), np.array([[0.0, 0.0]]), 1500.0)
    assert p.origin.tolist() == [0] and p.cost_m.tolist() == [1500.0]


@pytest.fixture(scope="module")
def street():
    e, n = synthetic_street_tables(30, 25, spacing_m=80.0, seed=3)
    net = network_from_edges(e, n, "walk", largest_component=False)
    return net, StreetRouter(net, max_snap_m=150.0, chunk_size=5)


@pytest.mark.parametrize("n_o, n_t", [(300, 25), (25, 300)])  # both search directions
def test_street_pairs_within_equal_the_finite_matrix_entries(street, n_o, n_t):
    net, r = street
    rng = np.random.default_rng(n_o)
    minx, miny, maxx, maxy = net.bbox
    o = np.column_stack([rng.uniform(minx - 400, maxx + 400, n_o), rng.uniform(miny - 400, maxy + 400, n_o)])
    t = np.column_stack([rng.uniform(minx, maxx, n_t), rng.uniform(miny, maxy, n_t)])
    o[:6] = o[6:12]  # points sharing a node
    t[1] = t[2]
    for max_m in (200.0, 900.0, 1e5):
        dense = r.matrix(o, t, max_m)
        rep_dense = r.unreachable_report
        pairs = r.pairs_within(o, t, max_m)
        _assert_pairs_equal_matrix(dense, pairs)
        pd.testing.assert_frame_equal(r.unreachable_report.rows, rep_dense.rows)
        assert r.unreachable_report.n_unreachable_pairs == rep_dense.n_unreachable_pairs
    assert r.unreachable_report.indices("origin", "outside_network_extent").size > 0


def test_street_2sfca_equals_dense_reference(street, tie_case):
    net, r = street
    homes, _, _, _ = tie_case
    minx, miny, _, _ = net.bbox
    h = homes.copy()
    h["geometry"] = gpd.points_from_xy(h.geometry.x / 4 + minx, h.geometry.y / 4 + miny)
    svc = _services([(minx + 300, miny + 200), (minx + 1400, miny + 900), (minx + 700, miny + 1500)],
                    [20.0, 40.0, 30.0])
    ph, ps = fca.two_step_fca(h, svc, r, S, thresholds_minutes=(5, 10))
    for thr in (5.0, 10.0):
        access, ratio, inside, _ = _dense_reference(h, svc, None, r, thr)
        np.testing.assert_allclose(ph.loc[ph.threshold_minutes == thr, "fca_ratio"], access, rtol=1e-12)
        np.testing.assert_allclose(ps.loc[ps.threshold_minutes == thr, "supply_ratio"], ratio, rtol=1e-12,
                                   equal_nan=True)
    assert (ph["n_in_catchment"] > 0).any() and (ph["n_in_catchment"] == 0).any()


@pytest.mark.parametrize("bad", [-1.0, np.inf, np.nan])
def test_pairs_within_refuses_a_bound_that_is_not_a_distance(bad, street):
    with pytest.raises(ValueError, match="max_m"):
        EstimatedRouter(1.2).pairs_within(np.zeros((1, 2)), np.ones((1, 2)), bad)
    with pytest.raises(ValueError, match="max_m"):
        street[1].pairs_within(np.zeros((1, 2)), np.ones((1, 2)), bad)


# ----------------------------------------------------------------------------- gap areas
def _hex_centres(qr, cell_m):
    size = cell_m / np.sqrt(3.0)
    q, r = np.asarray(qr, dtype=float).T
    return np.column_stack([size * (np.sqrt(3.0) * q + np.sqrt(3.0) / 2 * r), size * 1.5 * r])


def test_hexagons_share_bit_identical_vertices_and_tile_exactly():
    rng = np.random.default_rng(2)
    q0, r0 = rng.integers(1900, 2100, 50), rng.integers(600, 800, 50)
    q = np.concatenate([q0, q0 + 1, q0, q0 - 1, q0 - 1, q0, q0 + 1])
    r = np.concatenate([r0, r0, r0 + 1, r0 + 1, r0, r0 - 1, r0 - 1])
    polys = gaps.hex_polygons(q, r, 250.0)
    coords = shapely.get_coordinates(polys).reshape(len(q), 7, 2)[:, :6]
    centre, right, upper_right = coords[:50], coords[50:100], coords[100:150]
    # corner at 30 deg of a hexagon = corner at 150 deg of its right neighbour, bit for bit
    np.testing.assert_array_equal(centre[:, 1], right[:, 3])
    np.testing.assert_array_equal(centre[:, 0], right[:, 4])
    np.testing.assert_array_equal(centre[:, 1], upper_right[:, 5])
    uq = np.unique(np.column_stack([q, r]), axis=0)
    assert shapely.coverage_is_valid(gaps.hex_polygons(uq[:, 0], uq[:, 1], 250.0))


def test_gap_areas_equal_the_snapped_overlay_union_of_their_hexagons():
    """Three gaps: a ring of 18 hexagons around a served centre (a hole), a 4-hexagon blob and a
    single hexagon.  Each dissolved gap equals ``union_all(grid_size=0.001)`` of its hexagons
    (the method used before coverage union)."""
    cell = 250.0
    ring = [(dq, dr) for dq in range(-2, 3) for dr in range(-2, 3) if abs(dq + dr) <= 2]
    ring = [(q, r) for q, r in ring if max(abs(q), abs(r), abs(q + r)) == 2]
    served = [(0, 0), (1, 0), (0, 1), (-1, 0), (0, -1), (1, -1), (-1, 1)]
    blob = [(10, 0), (11, 0), (10, 1), (12, -1)]
    single = [(-8, 3)]
    qr = np.array(ring + served + blob + single) + [2000, 700]
    xy = _hex_centres(qr, cell)
    minutes = np.where(np.arange(len(qr)) < len(ring), 30.0, 5.0)
    minutes[len(ring) + len(served):] = np.inf  # blob and single: unreachable
    wide = gpd.GeoDataFrame({"minutes__library": minutes, "method": "estimated",
                             "label": "estimated street distance (London model v1, typical error ±145 m)",
                             **{b: np.full(len(qr), 2.0) for b in gaps.BANDS}},
                            geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS)
    g = gaps.gap_polygons(wide, "library", 15, cell_m=cell)
    cells = gaps.gap_polygons(wide, "library", 15, cell_m=cell, dissolve=False)
    assert g["n_cells"].tolist() == [len(ring), len(blob), 1]
    assert g["gap_pop_0_4"].sum() == 2.0 * (len(ring) + len(blob) + 1)
    hexes = cells.geometry.values
    for poly in g.geometry.values:
        mine = hexes[shapely.contains(poly, shapely.centroid(hexes))]
        ref = shapely.union_all(mine, grid_size=0.001)
        assert shapely.equals(poly, ref)
        assert shapely.area(poly) == pytest.approx(shapely.area(ref), rel=1e-12)
        assert shapely.is_valid(poly) and poly.geom_type == "Polygon"
    assert shapely.get_num_interior_rings(g.geometry.values).tolist() == [1, 0, 0]
    assert g.geometry.values[0].interiors[0].length == pytest.approx(6 * 3 * cell / np.sqrt(3.0), rel=1e-6)


# ----------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_ealing_sparse_2sfca_equals_dense_reference(ealing):
    s = ealing.settings.with_(progress=False)
    router = default_router(ealing, s)
    extra = ealing.neighbour_homes
    svc = ealing.located_services()
    thr = max(s.thresholds_minutes)
    for stype, band in (("primary_school", "pop_5_11"), ("gp_practice", "pop_total")):
        sub = svc[svc["service_type"] == stype]
        ph, ps = fca.two_step_fca(ealing.homes, ealing.services, router, s, service_types=[stype],
                                  demand_band=band, extra_demand=extra, thresholds_minutes=[thr])
        allh = pd.concat([ealing.homes[["home_id", band, "geometry"]], extra[["home_id", band, "geometry"]]],
                         ignore_index=True)
        cost = router.matrix(np.column_stack([allh.geometry.x, allh.geometry.y]),
                             np.column_stack([sub.geometry.x, sub.geometry.y]), thr * s.metres_per_minute)
        demand = allh[band].fillna(0.0).to_numpy(float)
        supply = fca._capacities(sub, "capacity")[0]
        access, ratio = fca.two_step_fca_numpy(demand, supply, cost / s.metres_per_minute, thr)
        np.testing.assert_allclose(ph["fca_ratio"], access[:len(ealing.homes)], rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(ps["supply_ratio"], ratio, rtol=1e-9, equal_nan=True)
        assert (ph["n_in_catchment"] > 0).mean() > 0.9
