"""Tests for locmap.access.gaps: hexagon gap areas conserve the people beyond a threshold."""
from __future__ import annotations

import numpy as np
import pytest
import shapely

from locmap.access import nearest as acc
from locmap.access import gaps
from locmap.bands import BANDS
from locmap.settings import Settings
try:  # tests/ as a package or as a plain folder on sys.path
    from tests.test_access import AREA_LAD, KEYS, LEVELS, FakeRouter, make_homes, make_services
except ImportError:  # pragma: no cover
    from test_access import AREA_LAD, KEYS, LEVELS, FakeRouter, make_homes, make_services


@pytest.fixture(scope="module")
def res():
    s = Settings(progress=False)
    return acc.nearest_services(make_homes(400, seed=3), make_services(),
                                FakeRouter(1.3, blocked_x=4900), s, area_lad_cd=AREA_LAD,
                                key_service_types=KEYS)


@pytest.fixture(scope="module")
def cov(res):
    return acc.coverage(res.wide, LEVELS, (10, 15, 20), settings=res.settings)


@pytest.mark.parametrize("band", ["pop_0_4", "pop_0_19", "pop_total"])
@pytest.mark.parametrize("thr", [10, 15, 20])
@pytest.mark.parametrize("stype", ["gp_practice", "library", "any_key_service"])
def test_gap_population_equals_beyond(res, cov, stype, thr, band):
    g = gaps.gap_polygons(res.wide, stype, thr, cell_m=250, band=band)
    beyond = cov[(cov.level == "ward") & (cov.area_id == "__total__")
                 & (cov.service_type == stype) & (cov.threshold_minutes == thr)
                 & (cov.band == band)]["pop_beyond"].iat[0]
    assert g[f"gap_{band}"].sum() == pytest.approx(beyond, rel=1e-12, abs=1e-9)
    if len(g):
        assert (g["service_type"] == stype).all()
        assert (g["threshold_minutes"] == thr).all()
        assert (g["label"] == "estimated street distance (London model v1, typical error ±145 m)").all()
        assert g.geometry.is_valid.all()
        assert g.crs == res.wide.crs
        # every beyond home with people of the band lies inside some gap polygon
        m = res.wide[f"minutes__{stype}"]
        out = res.wide[~(m <= thr) & (res.wide[band] > 0)]
        union = shapely.union_all(g.geometry.values)
        assert shapely.covers(union, out.geometry.values).all()


def test_gap_columns_and_contiguity(res):
    g = gaps.gap_polygons(res.wide, "gp_practice", 10, cell_m=250)
    assert list(g.columns) == list(gaps.GAP_COLUMNS)
    for c in ("gap_pop_0_4", "gap_pop_5_11", "gap_pop_12_19", "gap_pop_0_19", "gap_pop_total",
              "n_homes"):
        assert c in g.columns
    # each gap area is one contiguous polygon; distinct gaps do not share an edge
    assert (g.geometry.geom_type == "Polygon").all()
    for i in range(len(g)):
        for j in range(i + 1, len(g)):
            inter = g.geometry.iat[i].intersection(g.geometry.iat[j])
            assert inter.length < 1e-6
    cells = gaps.gap_polygons(res.wide, "gp_practice", 10, cell_m=250, dissolve=False)
    assert cells["n_cells"].eq(1).all()
    assert cells["gap_pop_0_4"].sum() == pytest.approx(g["gap_pop_0_4"].sum())
    assert g["n_cells"].sum() == len(cells)
    assert g["area_m2"].sum() == pytest.approx(cells["area_m2"].sum(), rel=1e-6)
    # largest gap first, ids stable
    assert g["gap_pop_0_4"].is_monotonic_decreasing
    assert g["gap_id"].iat[0] == "gp_practice-10-1"


def test_hex_axial_assigns_nearest_centre():
    rng = np.random.default_rng(0)
    xy = rng.uniform(-3000, 3000, (2000, 2))
    q, r = gaps.hex_axial(xy, 250.0)
    polys = gaps.hex_polygons(q, r, 250.0)
    assert shapely.covers(polys, shapely.points(xy)).all()
    # area of a hexagon with spacing s is sqrt(3)/2 s^2
    assert shapely.area(polys[0]) == pytest.approx(np.sqrt(3) / 2 * 250.0 ** 2, rel=1e-6)


def test_no_gap_when_everyone_within(res):
    g = gaps.gap_polygons(res.wide, "gp_practice", 10_000, cell_m=250)
    # the blocked homes (unreachable) stay gaps even at a huge threshold
    assert g["n_homes"].sum() == res.wide["unreachable__gp_practice"].sum()


def test_gap_summary(cov):
    s = gaps.gap_summary(cov, "ward")
    assert {"gap_pop_0_4", "pct_beyond_pop_0_4", "unreachable_pop_0_4", "method",
            "label"} <= set(s.columns)
    tot = s[(s.area_id == "__total__") & (s.service_type == "gp_practice")
            & (s.threshold_minutes == 15)]
    parts = s[(s.area_id != "__total__") & (s.service_type == "gp_practice")
              & (s.threshold_minutes == 15)]
    for b in BANDS:
        assert parts[f"gap_{b}"].sum() == pytest.approx(tot[f"gap_{b}"].iat[0])
    with pytest.raises(ValueError):
        gaps.gap_summary(cov, "nope")
