"""The cross-border figure: which homes' nearest service lies in another borough, and the
shares of children by ward, town and PCN (hand-checked on a toy area, pinned on Ealing)."""
from __future__ import annotations

from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from locmap.access.crossborder import crossborder_shares, home_crossborder
from locmap.access.nearest import TOTAL_ID, compute_access, nearest_services
from locmap.data.area import load_area
from locmap.distance.routing import EstimatedRouter
from locmap.finder import nearest_for_postcodes
from locmap.settings import Settings

HOME, NEIGHBOUR = "E09000009", "E09000017"
CRS = "EPSG:27700"


@pytest.fixture(scope="module")
def toy():
    """A 1 km borough (x 0-1000 m) with a neighbour to the east; distances = straight lines."""
    homes = gpd.GeoDataFrame({
        "home_id": ["A", "B", "C"], "postcode": ["AA1 1AA", "AA1 1AB", "AA1 1AD"],
        "ward_cd": ["W1", "W2", "W1"], "town": ["T1", "T1", "T2"], "pcn_code": ["P1", "P1", "P2"],
        "pop_0_4": [10.0, 20.0, 5.0], "pop_0_19": [30.0, 40.0, 5.0],
    }, geometry=[Point(900, 500), Point(100, 500), Point(950, 100)], crs=CRS)
    services = gpd.GeoDataFrame({
        "service_id": ["g_home", "g_nbr", "lib_nbr", "ph_unknown"],
        "service_type": ["gp_practice", "gp_practice", "library", "pharmacy"],
        "lad_cd": [HOME, NEIGHBOUR, NEIGHBOUR, None], "located": True,
    }, geometry=[Point(300, 500), Point(1100, 500), Point(1500, 500), Point(500, 500)], crs=CRS)
    settings = Settings(walk_speed_kmh=4.0)  # 66.67 m per minute
    router = EstimatedRouter(circuity=1.0)
    res = nearest_services(homes, services, router, settings, service_types=["gp_practice", "library", "pharmacy"],
                           k=1, area_lad_cd=HOME)
    area = SimpleNamespace(
        located_services=lambda: services,
        wards=pd.DataFrame({"ward_cd": ["W1", "W2"], "ward_nm": ["Ward One", "Ward Two"]}),
        towns=pd.DataFrame({"town": ["T1", "T2"]}),
        pcns=pd.DataFrame({"pcn_code": ["P1", "P2"], "pcn_name": ["PCN One", "PCN Two"]}))
    return area, res, router


def _row(shares, level, area_id, service_type, band="pop_0_4"):
    r = shares[(shares["level"] == level) & (shares["area_id"] == area_id)
               & (shares["service_type"] == service_type) & (shares["band"] == band)]
    assert len(r) == 1
    return r.iloc[0]


def test_each_home_knows_whether_its_nearest_is_across_the_border(toy):
    area, res, router = toy
    per_home = home_crossborder(area, res, router).set_index(["home_id", "service_type"])
    gp = per_home.xs("gp_practice", level="service_type")
    assert gp["cross_border"].tolist() == [True, False, True]
    assert gp["nearest_lad_cd"].tolist() == [NEIGHBOUR, HOME, NEIGHBOUR]
    # A: 200 m across vs 600 m at home -> 6 minutes more at 4 km/h
    assert gp.loc["A", "minutes"] == pytest.approx(3.0)
    assert gp.loc["A", "home_borough_minutes"] == pytest.approx(9.0)
    assert gp.loc["A", "extra_minutes_in_borough"] == pytest.approx(6.0)
    assert gp.loc["B", "extra_minutes_in_borough"] == pytest.approx(0.0)
    lib = per_home.xs("library", level="service_type")
    assert lib["cross_border"].all() and lib["home_borough_minutes"].isna().all()
    assert per_home.xs("pharmacy", level="service_type")["cross_border"].isna().all()


def test_shares_by_ward_town_pcn_and_total_are_people_weighted(toy):
    area, res, router = toy
    shares = crossborder_shares(area, res, router=router)
    t1 = _row(shares, "town", "T1", "gp_practice")
    assert (t1["people"], t1["people_cross_border"], t1["homes"], t1["homes_cross_border"]) == (30.0, 10.0, 2, 1)
    assert t1["share_cross_border"] == pytest.approx(1 / 3)
    assert t1["mean_extra_minutes_cross_border"] == pytest.approx(6.0)
    assert _row(shares, "town", "T2", "gp_practice")["share_cross_border"] == 1.0
    assert _row(shares, "ward", "W1", "gp_practice")["area_name"] == "Ward One"
    assert _row(shares, "ward", "W1", "gp_practice")["share_cross_border"] == 1.0
    assert _row(shares, "ward", "W2", "gp_practice")["share_cross_border"] == 0.0
    assert _row(shares, "pcn", "P1", "gp_practice", "pop_0_19")["share_cross_border"] == pytest.approx(30 / 70)
    assert _row(shares, "pcn", "P2", "gp_practice")["area_name"] == "PCN Two"
    total = _row(shares, "town", TOTAL_ID, "gp_practice")
    assert total["share_cross_border"] == pytest.approx(15 / 35)
    assert _row(shares, "town", TOTAL_ID, "library")["share_cross_border"] == 1.0
    # a nearest service of unknown borough is counted as unknown, not as "in the borough"
    ph = _row(shares, "town", TOTAL_ID, "pharmacy")
    assert ph["people_unknown"] == 35.0 and np.isnan(ph["share_cross_border"])
    assert set(shares["label"]) == {"estimated street distance (London model v1, typical error ±145 m)"}


# ----------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def ealing():
    area = load_area("ealing")
    res = compute_access(area, service_types=["gp_practice", "childrens_centre", "library", "primary_school"])
    per_home = home_crossborder(area, res)
    return area, res, per_home, crossborder_shares(area, res, homes_table=per_home)


@pytest.mark.realdata
def test_ealing_shares_by_town(ealing):
    _, _, _, shares = ealing
    town = shares[(shares["level"] == "town") & (shares["band"] == "pop_0_4")]
    pct = town.pivot_table(index="area_id", columns="service_type", values="share_cross_border") * 100
    assert pct.loc["Acton", "library"] == pytest.approx(30.7, abs=0.05)
    assert pct.loc["Acton", "gp_practice"] == pytest.approx(12.2, abs=0.05)
    assert pct.loc[TOTAL_ID, "gp_practice"] == pytest.approx(4.6, abs=0.05)
    assert pct.loc[TOTAL_ID, "library"] == pytest.approx(8.4, abs=0.05)
    assert pct.loc[TOTAL_ID, "primary_school"] == pytest.approx(4.3, abs=0.05)
    assert (pct.loc["Hanwell"] == 0).all()  # Hanwell does not touch the border
    # children's centres are listed for Ealing only: nothing across the border can be nearest
    assert (pct["childrens_centre"] == 0).all()


@pytest.mark.realdata
def test_ealing_people_are_conserved_at_every_level(ealing):
    area, _, _, shares = ealing
    for (level, band, t), g in shares.groupby(["level", "band", "service_type"]):
        parts = g[g["area_id"] != TOTAL_ID]
        total = g[g["area_id"] == TOTAL_ID].iloc[0]
        assert parts["people"].sum() == pytest.approx(total["people"])
        assert parts["people_cross_border"].sum() == pytest.approx(total["people_cross_border"])
        assert total["people"] == pytest.approx(area.homes[band].sum())
        assert total["homes"] == len(area.homes)
    assert set(shares["level"]) == {"ward", "town", "pcn"}
    assert shares.loc[shares["level"] == "ward", "area_id"].nunique() == 25  # 24 wards + total


@pytest.mark.realdata
def test_ealing_homes_agree_with_the_postcode_finder(ealing):
    area, _, per_home, _ = ealing
    sample = per_home[per_home["postcode"].notna() & (per_home["service_type"] == "library")].iloc[::97]
    found = nearest_for_postcodes(area, sample["postcode"], k=1, service_types=["library"])
    overall = found[found["scope"] == "overall"].set_index("postcode")
    home = found[found["scope"] == "home_borough"].set_index("postcode")
    s = sample.set_index("postcode")
    assert (overall.loc[s.index, "nearest_across_border"].to_numpy() == s["cross_border"].to_numpy()).all()
    assert np.allclose(home.loc[s.index, "minutes"], s["home_borough_minutes"])
    assert s["cross_border"].any()  # the sample holds homes on both sides of the question
