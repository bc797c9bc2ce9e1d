"""The London summary: per-borough figures, the league table, the population check and the London map.

Real runs of two boroughs (Ealing's own pack and the generated City of London pack; the access
step only, for the region key types) feed every test; the region is a small fake made from the
GLA borough outlines, one borough carrying a hostile name.
"""
from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from locmap import api
from locmap.access.nearest import ANY_KEY
from locmap.batch.summary import (ANY, RegionSummaryError, borough_summary, field_name, headline_column,
                                  edge_boroughs, league_table, md_text, population_check, write_region_summary)
from locmap.maps.offline import external_assets
from locmap.maps.region import class_texts, pct_classes, region_figure
from locmap.results import RunResult

pytestmark = pytest.mark.realdata

KEY_TYPES = ("gp_practice", "primary_school", "library")
HOSTILE = "{{7*7}}<script>alert(1)</script> $x^2$"
THRESHOLDS = (10.0, 15.0, 20.0)


@dataclass(frozen=True)
class FakeRegion:
    """What the summary reads of a :class:`locmap.data.region.Region`."""

    name: str
    title: str
    region_cd: str
    boroughs: pd.DataFrame
    outlines: gpd.GeoDataFrame
    key_service_types: tuple[str, ...] = KEY_TYPES


def _run(name: str, settings, types: tuple[str, ...]):
    area = api.load(name, settings)
    access = api.analyse_access(area, settings, service_types=list(types), gaps=False)
    run = RunResult(out_dir=Path("."), access=access, localities=None, recommendation=None, sites=(),
                    files=(), timings={})
    return area, run


@pytest.fixture(scope="module")
def runs(settings):
    """(area, run) of Ealing (own pack, with children's centres) and the City of London (generated pack)."""
    return {"ealing": _run("ealing", settings, ("childrens_centre", *KEY_TYPES)),
            "city": _run("london:city-of-london", settings, KEY_TYPES)}


@pytest.fixture(scope="module")
def summaries(runs):
    return {k: borough_summary(area, run, KEY_TYPES) for k, (area, run) in runs.items()}


@pytest.fixture(scope="module")
def region(settings):
    path = settings.resolve_data_root() / "boundaries" / "boroughs" / "london_boroughs.geojson"
    outlines = gpd.read_file(path).to_crs("EPSG:27700").rename(columns={"gss_code": "lad_cd", "name": "lad_nm"})
    outlines = outlines[["lad_cd", "lad_nm", "geometry"]].sort_values("lad_cd").reset_index(drop=True)
    outlines.loc[outlines["lad_cd"] == "E09000018", "lad_nm"] = HOSTILE  # Hounslow: fails below
    return FakeRegion(name="london", title="Greater London", region_cd="E12000007",
                      boroughs=pd.DataFrame(outlines[["lad_cd", "lad_nm"]]), outlines=outlines)


@pytest.fixture(scope="module")
def written(region, summaries, settings, tmp_path_factory):
    out = tmp_path_factory.mktemp("london")
    failures = pd.DataFrame({"lad_cd": ["E09000018"], "reason": ['=HYPERLINK("http://x","y") ' + HOSTILE]})
    ealing = dict(summaries["ealing"], lad_nm=HOSTILE + " Ealing")
    t0 = time.perf_counter()
    paths = write_region_summary(region, [ealing, summaries["city"]], failures, out, settings)
    return {"out": out, "paths": paths, "seconds": time.perf_counter() - t0}


# ----------------------------------------------------------------------------- one borough
def test_ealing_population_equals_its_check_figures(summaries, runs):
    s = summaries["ealing"]
    assert s["pop_total"] == pytest.approx(367_111, abs=1e-6)
    assert s["population_lsoa_sum"] == pytest.approx(367_111, abs=1e-6)
    assert s["census_msoa_sum"] == 367_111 and s["census_ltla"] == 367_122
    assert s["ltla_minus_msoa"] == 11 and s["lsoa_minus_msoa"] == pytest.approx(0, abs=1e-6)
    assert (s["pop_0_4"], s["pop_0_19"]) == pytest.approx((21_511, 89_183))
    assert s["homes"] == len(runs["ealing"][0].homes) == 5_969


def test_single_type_figures_equal_the_runs_coverage_table(summaries, runs):
    cov = runs["ealing"][1].access.coverage_total
    for t in KEY_TYPES:
        for band in ("pop_0_4", "pop_0_19"):
            for thr in THRESHOLDS:
                row = cov[(cov["service_type"] == t) & (cov["band"] == band) & (cov["threshold_minutes"] == thr)]
                assert summaries["ealing"][field_name("people_beyond", t, band, thr)] == \
                    pytest.approx(float(row["pop_beyond"].iloc[0]))
    # Ealing, children 0-4, 15 min (London model v1): 7.2% beyond a GP practice, 5.7% a primary school, 47.1% a library
    got = [summaries["ealing"][field_name("pct_beyond", t, "pop_0_4", 15)] for t in KEY_TYPES]
    assert got == pytest.approx([7.189, 5.658, 47.055], abs=1e-3)


def test_any_key_service_is_the_nearest_of_the_region_key_types_only(summaries, runs):
    for s in summaries.values():
        for band in ("pop_0_4", "pop_0_19"):
            for thr in THRESHOLDS:
                any_pct = s[field_name("pct_beyond", ANY, band, thr)]
                assert all(any_pct <= s[field_name("pct_beyond", t, band, thr)] + 1e-9 for t in KEY_TYPES)
    s = summaries["ealing"]
    assert s[field_name("pct_beyond", ANY, "pop_0_4", 15)] == pytest.approx(1.507, abs=1e-3)  # London model v1
    wide = runs["ealing"][1].access.result.wide
    nearest = wide[[f"minutes__{t}" for t in KEY_TYPES]].min(axis=1)
    for thr in THRESHOLDS:
        assert s[field_name("people_beyond", ANY, "pop_0_19", thr)] == \
            pytest.approx(wide.loc[~(nearest <= thr), "pop_0_19"].sum())
    # Ealing's own 'any key service' also counts children's centres: nearer for 20 homes (none changes class)
    assert int((wide[f"minutes__{ANY_KEY}"] < nearest - 1e-9).sum()) == 20


def test_cross_border_shares_equal_the_runs_cross_border_table(summaries, runs):
    cb = runs["ealing"][1].access.cross_border
    for t in KEY_TYPES:
        for band in ("pop_0_4", "pop_0_19"):
            row = cb[(cb["service_type"] == t) & (cb["band"] == band)]
            assert summaries["ealing"][field_name("people_cross_border", t, band)] == \
                pytest.approx(float(row["people_nearest_across_border"].iloc[0]))
    assert summaries["ealing"][field_name("pct_cross_border", "library", "pop_0_4")] == pytest.approx(8.414, abs=1e-3)
    # 8.397 under the 2 km buffer: the 2,187 m buffer adds 2 libraries, the nearest of a few Greenford homes


def test_childrens_centres_are_an_extra_type_never_a_key_type(summaries, written):
    s = summaries["ealing"]
    assert s["key_types"] == list(KEY_TYPES) and s["extra_types"] == ["childrens_centre"]
    assert s[field_name("services_in", "childrens_centre")] == 5  # 6 listed, Jubilee has no location
    assert summaries["city"]["extra_types"] == []
    league = pd.read_csv(written["out"] / "london_league.csv")
    assert not [c for c in league.columns if "children's centre" in c.lower()]


def test_2sfca_is_the_demand_weighted_mean_of_the_home_scores(summaries, runs):
    area, run = runs["ealing"]
    fh = run.access.fca_homes
    gp = fh[(fh["service_type"] == "gp_practice") & (fh["threshold_minutes"] == 15)].merge(
        area.homes[["home_id", "pop_total"]], on="home_id")
    expected = float((gp["fca_per_1000"] * gp["pop_total"]).sum() / gp["pop_total"].sum())
    s = summaries["ealing"]
    assert s[field_name("fca_per_1000", "gp_practice")] == pytest.approx(expected)
    assert s[field_name("fca_demand", "gp_practice")] == pytest.approx(367_111)
    assert s[field_name("fca_demand_band", "primary_school")] == "pop_5_11"
    assert "GP practices within 15 min per 1,000 people (all ages)" in s[field_name("fca_unit", "gp_practice")]
    assert s[field_name("fca_unit", "primary_school")].startswith("places within 15 min per 1,000 children 5-11")
    assert s[field_name("fca_capacity_note", "primary_school")].startswith("150 of 181 capacities missing")  # 142 of 168 within 2 km; the 2025 records of URN 102505 and 139830 win and lie within the 2,187 m buffer


def test_unreachable_homes_count_as_beyond_and_are_reported(runs):
    area, run = runs["city"]
    res = run.access.result
    wide = res.wide.copy()
    cut = wide.index[:7]
    for t in KEY_TYPES:  # the first 7 homes reach no key service at all; 3 more no library
        wide.loc[cut, f"minutes__{t}"] = np.nan
    wide.loc[wide.index[7:10], "minutes__library"] = np.nan
    broken = replace(run, access=replace(run.access, result=replace(res, wide=wide)))
    s = borough_summary(area, broken, KEY_TYPES)
    kids = float(wide.loc[cut, "pop_0_4"].sum())
    assert kids > 0
    assert s[field_name("homes_unreachable", ANY)] == 7 and s[field_name("homes_unreachable", "library")] == 10
    assert s[field_name("people_unreachable", ANY, "pop_0_4")] == pytest.approx(kids)
    before = borough_summary(area, run, KEY_TYPES)
    for thr in THRESHOLDS:  # beyond grows by exactly the unreachable children who were within
        was_within = float(wide.loc[cut, "pop_0_4"][run.access.result.wide.loc[cut, "minutes__gp_practice"] <= thr].sum())
        key = field_name("people_beyond", "gp_practice", "pop_0_4", thr)
        assert s[key] == pytest.approx(before[key] + was_within)


def test_summary_is_plain_json(summaries):
    for s in summaries.values():
        text = json.dumps(s, allow_nan=False)
        assert json.loads(text) == s


def test_a_generated_borough_says_what_its_data_lacks(summaries):
    gaps = " | ".join(summaries["city"]["data_gaps"])
    assert "ward footprints are best-fit dissolves of LSOA 2021" in gaps
    assert "children's centre" in gaps and "no ward-to-town grouping" in gaps
    assert summaries["city"]["census_ltla"] == 8_579
    assert summaries["ealing"]["data_gaps"] == ["1 service(s) without a location left out"]


# ----------------------------------------------------------------------------- league table
def test_league_total_row_is_computed_from_summed_people(summaries):
    league = league_table(list(summaries.values()))
    rows, total = league.iloc[:-1], league.iloc[-1]
    assert list(rows["Rank"]) == [1, 2] and pd.isna(total["Rank"]) and total["Borough"] == "London total"
    head = headline_column(15)
    assert list(rows[head]) == sorted(rows[head], reverse=True)
    people = "Children 0-4 beyond 15 min: any key service"
    assert total[people] == pytest.approx(rows[people].sum())
    assert total["Children 0-4"] == pytest.approx(21_511 + 214)
    assert total[head] == pytest.approx(100 * rows[people].sum() / rows["Children 0-4"].sum())
    assert total[head] != pytest.approx(rows[head].mean())  # never a mean of percentages
    fca = "2SFCA GP practice per 1,000 (15 min)"
    w = [s[field_name("fca_demand", "gp_practice")] for s in summaries.values()]
    v = [s[field_name("fca_per_1000", "gp_practice")] for s in summaries.values()]
    assert total[fca] == pytest.approx(np.average(v, weights=w))
    assert pd.isna(total["Libraries across the border used"])  # services used by two boroughs: not additive


def test_league_refuses_boroughs_summarised_differently(summaries):
    other = dict(summaries["city"], thresholds_minutes=[10.0, 20.0, 30.0])
    with pytest.raises(RegionSummaryError, match="thresholds_minutes"):
        league_table([summaries["ealing"], other])
    with pytest.raises(RegionSummaryError, match="no such league-table column"):
        league_table(list(summaries.values()), by="% of nothing")


# ----------------------------------------------------------------------------- the files
def test_region_summary_writes_every_file(written):
    names = sorted(p.name for p in written["paths"])
    assert names == ["README.txt", "london_league.csv", "london_map.html", "london_map.png",
                     "london_population_check.csv", "summary.md"]
    readme = (written["out"] / "README.txt").read_text()
    league = pd.read_csv(written["out"] / "london_league.csv")
    for column in league.columns:
        assert column in readme
    assert league["Children 0-4 beyond 15 min: any key service"].dtype.kind == "i"  # people rounded
    assert league["Borough"].iloc[-1] == "Greater London total (2 of 33 boroughs)"


def test_population_check_lists_every_borough_and_the_london_census_totals(written):
    pop = pd.read_csv(written["out"] / "london_population_check.csv")
    boroughs, totals = pop.iloc[:33], pop.iloc[33:]
    assert len(pop) == 35 and boroughs["Code"].is_unique
    assert dict(boroughs["Status"].value_counts()) == {"not reported": 30, "run": 2, "failed": 1}
    ealing = boroughs[boroughs["Code"] == "E09000009"].iloc[0]
    assert (ealing["Population (LSOA sum)"], ealing["Census 2021 LTLA total"], ealing["LTLA minus MSOA"]) == \
        (367_111, 367_122, 11)
    run_row, census = totals.iloc[0], totals.iloc[1]
    assert run_row["Borough"] == "Greater London: boroughs run (2 of 33)"
    assert run_row["Population (LSOA sum)"] == 367_111 + 8_579 and run_row["LSOA minus MSOA"] == 0
    assert (census["Census 2021 MSOA sum"], census["Census 2021 LTLA total"], census["LTLA minus MSOA"]) == \
        (8_799_765, 8_799_756, -9)
    # 2 of 33 boroughs are not compared with London's Census tables (it printed -8,424,075 before)
    assert pd.isna(census["LSOA minus MSOA"])
    failed = boroughs[boroughs["Status"] == "failed"].iloc[0]
    assert failed["Reason"].startswith("'=HYPERLINK")  # formula-safe


def test_population_check_refuses_a_borough_outside_the_region(region, summaries, settings):
    stranger = dict(summaries["city"], lad_cd="E06000001", lad_nm="Hartlepool")
    with pytest.raises(RegionSummaryError, match="not a borough of Greater London"):
        population_check(region, [stranger], None, settings)
    with pytest.raises(RegionSummaryError, match="not boroughs of Greater London: E06000001"):
        population_check(region, [], pd.DataFrame({"lad_cd": ["E06000001"], "reason": ["x"]}), settings)
    with pytest.raises(RegionSummaryError, match="needs columns lad_cd and reason"):
        population_check(region, [], pd.DataFrame({"lad_cd": ["E09000018"], "error": ["x"]}), settings)


def test_london_map_is_offline_and_hostile_text_is_inert(written):
    page = (written["out"] / "london_map.html").read_text()
    assert external_assets(page) == []
    assert not re.search(r"""src\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|@import""", page, re.I)
    # the only web address in an href is Leaflet's own credit link (an anchor, never fetched)
    assert set(re.findall(r"""href\s*=\s*["']?((?:https?:)?//[^"' >]+)""", page, re.I)) == {"https://leafletjs.com"}
    assert "tile.openstreetmap" not in page and "{s}.tile" not in page
    assert "{{7*7}}" not in page and "<script>alert" not in page and "\\u003cscript\\u003ealert" not in page
    assert "&#123;&#123;7*7&#125;&#125;" in page.replace("\\u0026", "&")
    assert "Open Government Licence v3.0" in page
    for label in ("Any key service", "GP practice", "Primary school", "Library", "Boroughs not run"):
        assert f'"{label}' in page


def test_summary_markdown_and_png_show_hostile_text_literally(written, region, summaries):
    md = (written["out"] / "summary.md").read_text()
    assert "<script>" not in md and "{{" not in md and not re.search(r"(?<!\\)\$", md)
    assert md_text(HOSTILE) in md
    assert "City of London" in md and "ward footprints are best-fit dissolves" in md
    edge = edge_boroughs(region.outlines)
    assert {"E09000017", "E09000018", "E09000006"} <= edge and not {"E09000001", "E09000009"} & edge
    assert len(edge) == 14  # Hillingdon round to Hounslow: the boroughs bordering outside London
    figures = pd.DataFrame({"lad_cd": ["E09000009"], "pct": [2.8]})
    fig = region_figure(region.outlines, figures, "pct", pd.DataFrame({"lad_cd": ["E09000018"], "reason": ["x"]}),
                        title=HOSTILE)
    texts = [t for t in fig.findobj(Text) if "$x^2$" in t.get_text()]
    assert len(texts) >= 2 and not any(t.get_parse_math() for t in texts)  # the title and Hounslow's label


def test_classes_cover_every_percentage():
    assert list(pct_classes([0, 0.99, 1, 2.5, 4.99, 10, 39.9, 40, 100, np.nan])) == [0, 0, 1, 2, 2, 4, 5, 6, 6, -1]
    assert class_texts()[0] == "under 1%" and class_texts()[-1] == "40% or more"


# ----------------------------------------------------------------------------- in a browser
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.mark.browser
@pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                    reason="headless browser missing: apt-get install -y chromium chromium-driver")
def test_london_map_loads_nothing_from_the_network(written, tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_browser import make_driver, open_map, severe_errors  # noqa: PLC0415 (browser tests only)

    driver = make_driver(tmp_path)
    try:
        assert open_map(driver, written["out"] / "london_map.html") is not None
        assert severe_errors(driver) == []
        assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
        labels = driver.execute_script("return Array.from(document.querySelectorAll("
                                       "'.leaflet-control-layers label')).map(e => e.textContent.trim())")
        assert labels == ["Any key service", "GP practice", "Primary school", "Library", "Boroughs not run (hatched)"]
    finally:
        driver.quit()


def test_a_batch_where_every_borough_failed_still_reports_them(region, settings, tmp_path):
    failures = pd.DataFrame({"lad_cd": region.boroughs["lad_cd"], "reason": "worker died"})
    names = sorted(p.name for p in write_region_summary(region, [], failures, tmp_path, settings))
    assert names == ["README.txt", "london_map.html", "london_map.png", "london_population_check.csv", "summary.md"]
    pop = pd.read_csv(tmp_path / "london_population_check.csv")
    assert (pop["Status"].iloc[:33] == "failed").all()
    assert pop["Reason"].iloc[-1] == "33 borough(s) not run: their people are missing"
    assert "No borough of 33 ran" in (tmp_path / "summary.md").read_text()


def test_summary_markdown_of_a_subset_lists_the_left_out_boroughs_once_and_compares_like_with_like(
        region, summaries, settings, tmp_path):
    run = [summaries["ealing"], summaries["city"]]
    left_out = {c: "not in this run; no results in this folder" for c in region.boroughs["lad_cd"]
                if c not in {"E09000009", "E09000001"}}
    write_region_summary(region, run, None, tmp_path, settings, not_run=left_out)
    md = (tmp_path / "summary.md").read_text()
    assert "None: every borough ran." not in md and "no figures and no failure reported" not in md
    assert md.count("- 31 borough(s) (not in this run; no results in this folder): Barking and Dagenham,") == 1
    assert "boroughs run minus MSOA sum" not in md
    assert "Greater London: boroughs run (2 of 33): LSOA sum 375,690, Census 2021 MSOA sum 375,690 (difference 0)" in md
    pop = pd.read_csv(tmp_path / "london_population_check.csv")
    assert dict(pop["Status"].iloc[:33].value_counts()) == {"not run": 31, "run": 2}


def test_london_map_says_the_outer_boroughs_lack_services_beyond_london(written, region):
    n_edge = len(edge_boroughs(region.outlines))
    assert n_edge == 14  # on the GLA boundary: Barnet, Bexley, Bromley, Croydon, Enfield, Harrow, Havering, Hillingdon, ...
    # Hounslow, Kingston, Redbridge, Richmond, Sutton, Waltham Forest
    page = (written["out"] / "london_map.html").read_text()
    assert f"in the {n_edge} outer boroughs, families near the edge may have a nearer service than shown" in page
