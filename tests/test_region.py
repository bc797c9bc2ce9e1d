"""Regions: data/regions/london.toml yields one area pack per borough, found from the data.

Every one of the 33 generated packs loads; its wards and LSOAs tile the borough; population is
conserved per borough and London-wide (Census 2021 MSOA sum 8,799,765 vs the LTLA file's
8,799,756); Ealing keeps its own pack; the whole region loads as one area.
"""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from locmap.cli import main
from locmap.data.area import load_area
from locmap.data.manifest import load_manifest
from locmap.data.region import area_input_files, load_pack, load_region
from locmap.errors import ManifestError
from locmap.settings import Settings

pytestmark = pytest.mark.realdata

LONDON_MSOA_TOTAL = 8_799_765
LONDON_LTLA_TOTAL = 8_799_756


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings.from_env(progress=False)


@pytest.fixture(scope="module")
def region(settings):
    return load_region("london", settings)


@pytest.fixture(scope="module")
def london(settings):
    return load_area("london", settings)


def test_region_finds_33_boroughs_with_slugs_and_area_names(region):
    b = region.boroughs
    assert len(b) == 33 and b["lad_cd"].is_unique and b["slug"].is_unique
    assert b.set_index("slug").loc["city-of-london", "area"] == "london:city-of-london"
    assert b.set_index("slug").loc["ealing", "area"] == "ealing"  # keeps its hand-written pack
    assert int(b["own_pack"].sum()) == 1
    # ward polygons exist for Ealing's five neighbours only; the other 27 are best-fit
    assert (b["ward_source"] == "best-fit").sum() == 27


def test_neighbours_come_from_the_boundaries_and_match_ealings_hand_written_list(region, settings):
    found = region.boroughs.set_index("lad_cd").loc["E09000009", "neighbour_lad_cds"]
    assert set(found) == set(load_manifest("ealing", settings).neighbour_lad_cds)
    camden = region.boroughs.set_index("slug").loc["camden", "neighbour_lad_cds"]
    assert set(camden) == {"E09000001", "E09000003", "E09000005", "E09000014", "E09000019", "E09000033"}


def test_unknown_borough_or_area_is_refused_with_the_known_names(settings):
    with pytest.raises(ManifestError, match="city-of-london"):
        load_pack("london:atlantis", settings)
    with pytest.raises(ManifestError, match="regions .*london"):
        load_pack("atlantis", settings)


def test_a_borough_resolves_by_slug_code_or_name_and_ealing_to_its_own_pack(settings):
    assert load_pack("london:E09000007", settings).name == "london:camden"
    assert load_pack("london:Kensington and Chelsea", settings).lad_cd == "E09000020"
    assert load_pack("london:ealing", settings).path.name == "ealing.toml"


def test_input_files_of_a_generated_pack_are_the_london_wide_files(settings):
    files = [p.name for p in area_input_files("london:camden", settings)]
    assert "postcodes_london.csv" in files and "gp_practices_london.csv" in files
    assert "london.toml" in files and "london_lsoa2021.geojson" in files


@pytest.mark.parametrize("slug", [
    "city-of-london", "barking-and-dagenham", "barnet", "bexley", "brent", "bromley", "camden", "croydon",
    "ealing", "enfield", "greenwich", "hackney", "hammersmith-and-fulham", "haringey", "harrow", "havering",
    "hillingdon", "hounslow", "islington", "kensington-and-chelsea", "kingston-upon-thames", "lambeth",
    "lewisham", "merton", "newham", "redbridge", "richmond-upon-thames", "southwark", "sutton",
    "tower-hamlets", "waltham-forest", "wandsworth", "westminster"])
def test_every_borough_pack_loads_tiles_its_borough_and_conserves_population(slug, region, london, settings):
    row = region.borough(slug)
    # not kept in the process's cache of loaded areas (it holds two): London, loaded once for this
    # module, stays there for the pan-London run below instead of being loaded a second time
    area = load_area(row["area"], settings, use_cache=False)
    gla = region.outlines.set_index("lad_cd").geometry.loc[row["lad_cd"]]
    outline = area.borough.geometry.iloc[0]
    # wards tile the borough: under 3 % of the wards' outline lies outside the GLA outline
    # (super-generalised edges; City of London 2.7 %) and they cover over 90 % of it (the GLA
    # polygons run to mid-Thames, the LSOA-based outlines stop at the bank: Tower Hamlets 91 %)
    assert shapely.area(shapely.difference(outline, gla)) < 0.03 * shapely.area(outline)
    assert shapely.area(shapely.intersection(outline, gla)) > 0.90 * shapely.area(gla)
    # LSOAs tile the wards' outline: same area to 1.5 %, overlaps only slivers
    lsoa_area = float(area.lsoa.geometry.area.sum())
    assert abs(lsoa_area - shapely.area(outline)) < 0.015 * shapely.area(outline)
    union = shapely.union_all(area.lsoa.geometry.values)
    assert lsoa_area - shapely.area(union) < 100.0 * len(area.lsoa)
    # population: the LSOA sum is the borough's Census 2021 MSOA sum, and the same LSOAs in the
    # London-wide area hold the same people
    pop = area.checks["population"]
    assert pop["lsoa21_total"] == pytest.approx(pop["census_msoa_total"], rel=1e-9)
    assert abs(pop["lsoa21_total"] - pop["census_lad_total"]) < 100
    in_london = london.lsoa[london.lsoa["lad_cd"] == row["lad_cd"]]["pop_total"].sum()
    assert area.lsoa["pop_total"].sum() == pytest.approx(in_london, rel=1e-9)
    assert area.homes["pop_total"].sum() == pytest.approx(pop["lsoa21_total"], rel=1e-9)
    assert len(area.wards) >= 4 and len(area.homes) > 500


def test_london_as_one_area_holds_every_person_of_the_census(london):
    pop = london.checks["population"]
    assert round(pop["census_msoa_total"]) == LONDON_MSOA_TOTAL
    assert round(pop["census_lad_total"]) == LONDON_LTLA_TOTAL
    assert round(london.homes["pop_total"].sum()) == LONDON_MSOA_TOTAL
    assert len(london.lsoa) == 4994 and len(london.towns) == 33
    # towns are the boroughs; every ward belongs to one of the 33 boroughs
    assert set(london.wards["lad_cd"]) == set(london.towns.merge(
        london.wards[["town", "lad_cd"]], on="town")["lad_cd"])
    # services of every borough are inside the area: nothing counts as cross-border
    assert london.services["in_study_area"].mean() > 0.99


def test_best_fit_wards_are_said_to_be_best_fit(settings):
    area = load_area("london:camden", settings)
    assert any("best-fit" in n and "dissolved" in n for n in area.notes)
    assert isinstance(area.wards, gpd.GeoDataFrame) and len(area.wards) == 20


def test_locmap_access_area_london_measures_every_home_of_london_in_one_run(tmp_path, london):
    # pan-London: every home to every library of any borough, one run (estimated distances)
    assert main(["access", "--area", "london", "--types", "library", "--format", "parquet",
                 "--out", str(tmp_path), "--no-progress"]) == 0
    cov = pd.read_parquet(tmp_path / "coverage.parquet")
    tot = cov[(cov["level"] == "lsoa") & (cov["area_id"] == "__total__") & (cov["service_type"] == "library")
              & (cov["threshold_minutes"] == 15.0)].set_index("band")
    people = tot["pop_within"] + tot["pop_beyond"]
    assert round(people["pop_total"]) == LONDON_MSOA_TOTAL and round(people["pop_0_4"]) == 528_990
    # the 33 boroughs are the area's towns: their rows add up to London
    towns = cov[(cov["level"] == "town") & (cov["area_id"] != "__total__") & (cov["service_type"] == "library")
                & (cov["threshold_minutes"] == 15.0) & (cov["band"] == "pop_0_4")]
    assert len(towns) == 33
    assert towns["pop_beyond"].sum() == pytest.approx(tot.loc["pop_0_4", "pop_beyond"], rel=1e-9)
    assert 0 < tot.loc["pop_0_4", "pct_within"] < 100


def test_locmap_run_on_a_generated_borough_leads_with_a_scheme_of_several_localities(tmp_path, capsys):
    # a generated pack has one town (the borough): "recommended pathfinder City of London" was
    # the run's answer before; the City also has one PCN footprint, so its wards lead; asking
    # for towns is refused
    assert main(["run", "--area", "london:city-of-london", "--out", str(tmp_path / "run"), "--no-maps",
                 "--no-report", "--no-progress"]) == 0
    said = capsys.readouterr()
    assert "one town" in said.out + said.err and "wards: recommended pathfinder" in said.out
    assert (tmp_path / "run" / "localities" / "ranking_wards.csv").is_file()
    # Cripplegate has one candidate site: the default p=2 becomes 1, and the summary says so
    summary = (tmp_path / "run" / "sites" / "sites_summary_Cripplegate_p1_15min.csv").read_text()
    assert "only 1 candidate site(s) in Cripplegate" in summary
    assert main(["run", "--area", "london:city-of-london", "--out", str(tmp_path / "towns"),
                 "--lead-scheme", "towns", "--no-progress"]) == 2
    assert "has 1 locality" in capsys.readouterr().err
    assert not (tmp_path / "towns").exists()
