"""Specification of the Ealing data layer, asserted on the real shared data."""
from __future__ import annotations

import numpy as np
import pytest
import shapely

from locmap.bands import BANDS

pytestmark = pytest.mark.realdata


def test_ealing_has_24_wards_in_british_national_grid(ealing):
    assert len(ealing.wards) == 24
    assert ealing.wards.crs.to_epsg() == 27700
    assert ealing.wards["ward_cd"].is_unique


def test_seven_towns_tile_the_borough(ealing):
    assert sorted(ealing.towns["town"]) == ["Acton", "Ealing", "Greenford", "Hanwell", "Northolt", "Perivale", "Southall"]
    t = ealing.checks["tiling"]["towns"]
    assert t["area_diff_share"] < 0.005
    assert abs(t["whole_km2"] - 55.54) < 0.01
    assert t["overlap_m2"] < 100
    # every ward in exactly one town
    assert ealing.towns["n_wards"].sum() == 24


def test_uncertain_town_assignments_are_named(ealing):
    unc = "; ".join(ealing.towns["uncertain_wards"])
    for ward in ("Southfield", "Ealing Common", "Hanger Hill", "Pitshanger", "Lady Margaret"):
        assert ward in unc


def test_199_lsoa_2021_each_with_a_ward_town_and_pcn(ealing):
    assert len(ealing.lsoa) == 199
    assert ealing.lsoa[["ward_cd", "town", "pcn_code"]].notna().all().all()
    assert ealing.lsoa["lsoa21cd"].is_unique


def test_population_conserves_census_2021_msoa_totals(ealing):
    pop = ealing.checks["population"]
    assert pop["census_msoa_total"] == 367_111
    assert pop["census_lad_total"] == 367_122
    assert ealing.lsoa["pop_total"].sum() == pytest.approx(367_111, abs=1e-6)
    assert ealing.lsoa["pop_0_4"].sum() == pytest.approx(21_511, abs=1e-6)
    assert ealing.lsoa["pop_5_11"].sum() == pytest.approx(31_693, abs=1e-6)
    assert ealing.lsoa["pop_12_19"].sum() == pytest.approx(35_979, abs=1e-6)
    assert ealing.lsoa["pop_0_19"].sum() == pytest.approx(21_511 + 31_693 + 35_979, abs=1e-6)


@pytest.mark.parametrize("level", ["wards", "towns", "pcns"])
def test_aggregates_conserve_every_band(ealing, level):
    frame = getattr(ealing, level)
    for b in BANDS:
        assert frame[b].sum() == pytest.approx(ealing.lsoa[b].sum(), rel=1e-12)


def test_homes_conserve_each_lsoa_population(ealing):
    homes = ealing.homes
    assert len(homes) == 5969
    per = homes.groupby("lsoa21cd")[list(BANDS)].sum()
    want = ealing.lsoa.set_index("lsoa21cd").loc[per.index, list(BANDS)]
    assert np.allclose(per.to_numpy(), want.to_numpy(), rtol=0, atol=1e-9)
    assert set(per.index) == set(ealing.lsoa["lsoa21cd"])


def test_homes_lie_in_their_lsoa_up_to_polygon_generalisation(ealing):
    # homes take their LSOA from the ONS postcode lookup; the super-generalised (~200 m)
    # polygons put some postcodes just outside their own LSOA's outline
    geo = ealing.lsoa.set_index("lsoa21cd").geometry
    d = shapely.distance(ealing.homes.geometry.values, geo.loc[ealing.homes["lsoa21cd"]].values)
    assert (d == 0).mean() > 0.85
    assert np.quantile(d, 0.99) < 150


def test_eight_pcns_with_approximate_footprints(ealing):
    assert len(ealing.pcns) == 8
    assert ealing.pcns["footprint_method"].str.startswith("approximate").all()
    assert ealing.pcn_members["pcn_code"].nunique() == 8
    assert ealing.pcns["n_practices"].sum() == 68
    # footprints partition the LSOAs
    assert ealing.pcns["n_lsoas"].sum() == 199


def test_every_service_input_row_is_used_or_rejected(ealing):
    acct = ealing.checks["services_accounting"]
    assert (acct["used"] + acct["rejected"] == acct["read"]).all()
    assert acct["read"].sum() == 15 + 268 + 358 + 79 + 112 + 98 + 564
    # every reject names file, row and reason
    r = ealing.rejects
    assert r[["file", "row", "reason"]].notna().all().all()
    assert (r["row"] >= 1).all()


def test_services_per_type_in_ealing(ealing):
    s = ealing.services[ealing.services["in_study_area"]]
    counts = s.groupby("service_type").size().to_dict()
    assert counts["gp_practice"] == 69       # 70 active practices less the care-home service
    assert counts["pharmacy"] == 76
    assert counts["library"] == 13           # 14 listed; St Bernard's Hospital library excluded
    assert counts["primary_school"] == 65
    assert counts["childrens_centre"] == 6   # incomplete list: 15 rows, 9 closed in 2025


def test_unlocated_childrens_centre_is_kept_not_dropped(ealing):
    cc = ealing.services[ealing.services["service_type"] == "childrens_centre"]
    jub = cc[cc["name"].str.startswith("Jubilee")]
    assert len(jub) == 1 and not jub["located"].iloc[0]
    assert jub.geometry.iloc[0] is None


def test_closed_childrens_centres_go_to_rejects_with_reason(ealing):
    r = ealing.rejects
    closed = r[(r["source_key"] == "childrens_centres") & (r["reason"] == "closed")]
    assert len(closed) == 9
    assert closed["file"].str.endswith("childrens_centres_ealing_2025.csv").all()


def test_pcn_membership_vintages_are_compared(ealing):
    d = ealing.checks["pcn_membership_differences"]
    assert set(d["change"]) <= {"new practice (not in previous list)", "not in newest list (closed/merged?)", "moved PCN"}
    # the five practices closed by 2023 are among those gone from the 2026 list
    gone = set(d.loc[d["change"].str.startswith("not in"), "practice_code"])
    assert {"E85630", "E85105", "E85723", "E85740", "E85714"} <= gone
