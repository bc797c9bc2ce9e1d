"""Capacity-aware access counts people across the border who use the same services."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from locmap.access import nearest as acc
from locmap.distance.routing import EstimatedRouter
from locmap.settings import Settings


def _homes(ids, xs, demand):
    return gpd.GeoDataFrame({"home_id": ids, "pop_0_4": demand}, geometry=shapely.points(xs, np.zeros(len(xs))),
                            crs=27700)


def test_neighbour_demand_shares_a_border_service_but_gets_no_rows():
    s = Settings(walk_speed_kmh=6.0)  # 100 m per minute
    homes = _homes(["H1"], [0.0], [5.0])
    neighbours = _homes(["N1", "N2"], [300.0, 5000.0], [5.0, 100.0])  # N2 is outside the catchment
    services = gpd.GeoDataFrame({"service_id": ["S1"], "service_type": ["childrens_centre"], "located": [True],
                                 "capacity": [10.0], "name": ["s"]},
                                geometry=[shapely.Point(100.0, 0.0)], crs=27700)
    r = EstimatedRouter(1.0)
    alone, _ = acc.two_step_fca(homes, services, r, s, thresholds_minutes=(10,), engine="numpy")
    shared, ps = acc.two_step_fca(homes, services, r, s, thresholds_minutes=(10,), engine="numpy",
                                  extra_demand=neighbours)
    assert alone["fca_ratio"].iat[0] == pytest.approx(10 / 5)
    assert shared["fca_ratio"].iat[0] == pytest.approx(10 / (5 + 5))
    assert list(shared["home_id"]) == ["H1"]
    assert ps["demand_in_catchment"].iat[0] == pytest.approx(10.0)
    # the PySAL access engine gives the same answer
    lib, _ = acc.two_step_fca(homes, services, r, s, thresholds_minutes=(10,), engine="access",
                              extra_demand=neighbours)
    assert lib["fca_ratio"].iat[0] == pytest.approx(1.0)


def test_extra_demand_ids_must_not_clash():
    s = Settings()
    homes = _homes(["H1"], [0.0], [5.0])
    services = gpd.GeoDataFrame({"service_id": ["S1"], "service_type": ["gp_practice"], "located": [True],
                                 "name": ["s"]}, geometry=[shapely.Point(1.0, 0.0)], crs=27700)
    with pytest.raises(ValueError, match="clash"):
        acc.two_step_fca(homes, services, EstimatedRouter(1.0), s, extra_demand=_homes(["H1"], [2.0], [1.0]))


@pytest.mark.realdata
def test_ealing_neighbour_homes_lie_outside_ealing_within_the_buffer(ealing):
    nh = ealing.neighbour_homes
    outline = ealing.borough.geometry.iloc[0]
    assert ealing.settings.buffer_m == 2187.0  # derived: twice the 20-minute reach (was 2,000 m: 8,283 homes)
    assert len(nh) == 9023
    assert set(nh["lad_cd"]) == set(ealing.pack.neighbour_lad_cds)
    assert not shapely.contains_xy(outline, nh.geometry.x, nh.geometry.y).any()
    assert shapely.distance(nh.geometry.values, outline).max() <= ealing.settings.buffer_m
    assert nh["home_id"].str.startswith("N").all()
    # demand only: Ealing's own totals are untouched
    assert ealing.homes["pop_total"].sum() == pytest.approx(367_111)
    assert nh["pop_0_4"].sum() == pytest.approx(33_614.5, abs=1)  # 30,794.7 within 2 km
