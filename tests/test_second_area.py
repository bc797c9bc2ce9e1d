"""A second borough (Hounslow) loads and runs through the same notebooks with only a new manifest."""
from __future__ import annotations

import nbformat
import pytest

from locmap.bands import BANDS

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def hounslow(settings):
    from locmap.data.area import load_area

    return load_area("hounslow", settings)


def test_hounslow_has_22_wards_tiling_55_95_km2(hounslow):
    assert len(hounslow.wards) == 22
    t = hounslow.checks["tiling"]["towns"]
    assert t["whole_km2"] == pytest.approx(55.95, abs=0.01)
    # no ward->town table in the pack: one town, the borough, and no ward called uncertain
    assert list(hounslow.towns["town"]) == ["Hounslow"] and hounslow.towns["uncertain_wards"].iat[0] == ""


def test_split_lsoas_without_polygons_become_merged_units(hounslow):
    # 150 LSOA 2021: 135 with polygons + 15 split children merged into 7 units with their 2011 parent polygon
    merged = hounslow.lsoa[hounslow.lsoa["lsoa21cd"].str.contains(r"\+")]
    assert len(hounslow.lsoa) == 142 and len(merged) == 7
    assert merged["lsoa21cd"].str.count(r"\+").sum() + len(merged) == 15
    assert hounslow.lsoa[["imd_score", "idaci_decile", "ward_cd", "pcn_code"]].notna().all().all()


def test_hounslow_population_conserves_census_msoa_totals(hounslow):
    pop = hounslow.checks["population"]
    assert pop["census_msoa_total"] == 288_158 and pop["census_lad_total"] == 288_181
    assert pop["n_lsoa21"] == 150 and pop["n_units"] == 142
    for b in BANDS:
        assert hounslow.homes[b].sum() == pytest.approx(hounslow.lsoa[b].sum(), rel=1e-12)
    assert hounslow.lsoa["pop_total"].sum() == pytest.approx(288_158)


def test_hounslow_pcns_and_register_rows_accounted(hounslow):
    assert hounslow.pcns["pcn_code"].nunique() == 5
    acct = hounslow.checks["services_accounting"]
    assert (acct["used"] + acct["rejected"] == acct["read"]).all()

# The notebooks' Hounslow run (all six, area-aware text) is tests/test_notebooks.py::test_hounslow_suite_is_area_aware.
