"""The default buffer (services and homes loaded across the border) covers what the analyses reach.

A home at the edge counts services up to one straight-line reach of the largest threshold beyond the
border; a 2SFCA catchment around such a service takes in the homes up to one more reach beyond it.
Under the London model (road = max(straight, 235.09 m + 1.00435 x straight)) 20 minutes at 4 km/h
(1,333 m) reach 1,093.5 m in a straight line, so the default is 2,187 m; the fixed 2 km it replaces
left the people 2.0-2.2 km across the border out of the catchments of services 0.9-1.1 km across it.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from locmap.access import nearest as acc
from locmap.bands import BANDS
from locmap.cli import build_parser
from locmap.cli._options import settings_from_args
from locmap.data.homes import build_neighbour_homes
from locmap.distance.model import london_model
from locmap.distance.routing import EstimatedRouter
from locmap.settings import Settings, required_buffer_m, straight_reach_m


def test_the_default_buffer_is_twice_the_20_minute_reach_under_the_london_model():
    s = Settings()
    assert s.buffer_m == 2187.0 and s.buffer_m_derived
    assert straight_reach_m(1333.333, street_network=False) == pytest.approx(1093.48, abs=0.01)
    model = london_model()
    router = EstimatedRouter(model.circuity, model.intercept_m)
    # half the buffer is the longest straight line the model puts within 20 minutes (to 1 m)
    assert router.estimate(np.array([1093.0]))[0] <= s.minutes_to_metres(20) < router.estimate(np.array([1094.0]))[0]


def test_the_default_follows_the_ruler_the_speed_and_the_largest_threshold():
    assert Settings(network_file="streets.osm.pbf").buffer_m == 2667.0  # a route is never shorter
    assert Settings().for_street_network().buffer_m == 2667.0  # a network named by the area pack
    assert Settings(walk_speed_kmh=5.0).buffer_m == 2851.0
    assert Settings(thresholds_minutes=(10, 30)).buffer_m == required_buffer_m((30,), 4.0, False) == 3515.0
    assert Settings().with_(walk_speed_kmh=5.0).buffer_m == 2851.0  # a copy derives it again


def test_a_given_buffer_is_honoured_and_a_short_one_named():
    given = Settings(buffer_m=2000)
    assert given.buffer_m == 2000.0 and not given.buffer_m_derived
    assert given.with_(walk_speed_kmh=5.0).buffer_m == 2000.0
    assert given.buffer_note() == (
        "note: buffer_m 2,000 m (as given) is shorter than the 2,187 m that 20-minute catchments need at "
        "4 km/h (twice the straight-line reach; docs/decisions.md): services and homes beyond it are left "
        "out, so access near the border may be understated; leave buffer_m out for the default")
    assert Settings(buffer_m=3000).buffer_note() is None and Settings().buffer_note() is None


def test_the_command_line_honours_buffer_m_and_says_when_it_is_short(capsys):
    s = settings_from_args(build_parser().parse_args(["access", "--area", "ealing", "--buffer-m", "2000"]))
    assert s.buffer_m == 2000.0
    assert "shorter than the 2,187 m" in capsys.readouterr().err
    assert settings_from_args(build_parser().parse_args(["access", "--area", "ealing"])).buffer_m == 2187.0


def _postcodes(x_m, pop_0_4):
    pc = pd.DataFrame({"postcode": [f"N{i} 1AA" for i in range(len(x_m))], "easting": x_m,
                       "northing": [0.0] * len(x_m), "lsoa11cd": [f"E0100000{i}" for i in range(len(x_m))],
                       "usertype": 0, "n_at_same_point": 1})
    pop = pd.DataFrame({"lsoa11cd": pc["lsoa11cd"], "lad_cd": "E09000005",
                        **{b: pop_0_4 if b == "pop_0_4" else 0.0 for b in BANDS}})
    return pc, pop


def test_people_2100_m_across_the_border_share_a_service_1050_m_across_it():
    """The border is x = 0 (the area is x < 0).  A children's centre 1,050 m across it is 20 minutes
    (1,290 m by the model) from a home at the border and from a family 2,100 m across: that family
    competes for it, so the home's share is 10 places / (5 + 20) children, not 10 / 5."""
    area = shapely.box(-5000, -5000, 0, 5000)
    pc, pop = _postcodes([2100.0], 20.0)  # one postcode at x = 2,100 m
    model = london_model()
    router = EstimatedRouter(model.circuity, model.intercept_m)
    homes = gpd.GeoDataFrame({"home_id": ["H1"], "pop_0_4": [5.0]}, geometry=[shapely.Point(-1.0, 0.0)], crs=27700)
    services = gpd.GeoDataFrame({"service_id": ["S1"], "service_type": ["childrens_centre"], "located": [True],
                                 "capacity": [10.0], "name": ["s"]}, geometry=[shapely.Point(1050.0, 0.0)], crs=27700)
    shares = {}
    for s in (Settings(progress=False), Settings(buffer_m=2000, progress=False)):
        neighbours, _ = build_neighbour_homes(pc, pop, area, s.buffer_m)
        per_home, _ = acc.two_step_fca(homes, services, router, s, thresholds_minutes=(20,), engine="numpy",
                                       extra_demand=neighbours)
        shares[s.buffer_m] = per_home["fca_ratio"].iat[0]
    assert shares == {2187.0: pytest.approx(10 / 25), 2000.0: pytest.approx(10 / 5)}
