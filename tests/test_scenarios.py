"""Scenarios (issue 25): the baseline register plus changes, compared side by side on Ealing.

Distances are measured once for the union of services and every scenario is a mask; these
tests pin that (router calls counted), the exactness of the masks (no change = the baseline,
close + reopen = the baseline, masked k-nearest = measuring the open services alone), the row
accounting of every change, the shipped examples' figures and the inertness of hostile text.
"""
from __future__ import annotations

import dataclasses
import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from locmap import api
from locmap.cli import main
from locmap._text import terminal_safe as plain
from locmap.errors import ScenarioError
from locmap.scenarios.comparison import CallCounter
from locmap.maps import palette
from locmap.maps.scenario import CLOSED_COLOUR, GAIN_COLOUR, LOSS_COLOUR
from locmap.report.scenarios import with_sections
from locmap.scenarios.spec import Scenario, closing, default_scenarios, opening, read_scenario

ROOT = Path(__file__).resolve().parents[1]
CLOSURES = ROOT / "data" / "scenarios" / "ealing_2025_closures.toml"
HUBS = ROOT / "data" / "scenarios" / "ealing_hubs_recommended.toml"
LIBRARY = ROOT / "data" / "scenarios" / "ealing_library_hub.toml"
PAYLOADS = ("{{7*7}}", "{% for x in range(3) %}", "{#", "</script>", "<img src=x onerror=alert(1)>",
            '=HYPERLINK("http://x","y")', "\x1b[31mRED\x1b[0m", "\u202egnp.exe")


@pytest.fixture(scope="module")
def access(ealing, settings):
    return api.analyse_access(ealing, settings, fca=False, gaps=False)


@pytest.fixture(scope="module")
def closures(ealing, settings, access):
    return api.compare_scenarios(ealing, [CLOSURES], settings, access=access, rescore=False)


def _cc_ids(ealing):
    svc = ealing.services
    return svc.loc[(svc["service_type"] == "childrens_centre") & svc["located"], "service_id"].tolist()


def _coverage(cmp, state):
    cov = cmp.comparison.coverage
    return cov[cov["state"] == state].drop(columns="state").reset_index(drop=True)


# ----------------------------------------------------------------------------- exactness
def test_a_scenario_that_changes_nothing_equals_the_baseline_exactly(ealing, settings, access):
    sid = _cc_ids(ealing)[0]
    cmp = api.compare_scenarios(ealing, [Scenario("nothing"), Scenario("one_closed", changes=(closing(ids=[sid]),))],
                                settings, access=access, rescore=False)
    assert "childrens_centre" in cmp.comparison.service_types
    pd.testing.assert_frame_equal(_coverage(cmp, "nothing"), _coverage(cmp, "baseline"), check_exact=True)
    diff = cmp.comparison.differences
    assert (diff.loc[diff["scenario"] == "nothing", ["gained", "lost", "net"]].to_numpy() == 0).all()
    assert not (cmp.comparison.homes_changed["scenario"] == "nothing").any()
    # the other scenario does change something (so the comparison above is not vacuous)
    assert diff.loc[diff["scenario"] == "one_closed", "lost"].sum() > 0


def test_closing_then_reopening_a_service_equals_the_baseline(ealing, settings, access):
    sid = _cc_ids(ealing)[1]
    back = Scenario("close_reopen", changes=(closing(ids=[sid]), opening(ids=[sid])))
    cmp = api.compare_scenarios(ealing, [back, Scenario("closed", changes=(closing(ids=[sid]),))], settings,
                                access=access, rescore=False)
    assert (cmp.resolution.states["close_reopen"] == cmp.resolution.states["baseline"]).all()
    pd.testing.assert_frame_equal(_coverage(cmp, "close_reopen"), _coverage(cmp, "baseline"), check_exact=True)
    assert list(cmp.changes["outcome"][cmp.changes["scenario"] == "close_reopen"]) == ["used", "used"]


def test_the_baseline_through_the_union_equals_the_access_step(closures, access):
    base = closures.comparison.home_states["baseline"]["childrens_centre"].minutes
    np.testing.assert_array_equal(base, access.result.wide["minutes__childrens_centre"].to_numpy(float))
    cov = closures.comparison.coverage
    mine = cov[(cov["state"] == "baseline") & (cov["level"] == "town") & (cov["service_type"] == "childrens_centre")]
    theirs = access.coverage[(access.coverage["level"] == "town")
                             & (access.coverage["service_type"] == "childrens_centre")]
    merged = mine.merge(theirs, on=["area_id", "threshold_minutes", "band"], suffixes=("", "_access"))
    assert len(merged) == len(mine) == 7 * 3 * 5
    np.testing.assert_allclose(merged["pop_within"], merged["pop_within_access"], rtol=1e-12, atol=1e-9)


def test_masked_nearest_equals_measuring_the_open_services_alone(ealing, closures, access):
    svc = closures.resolution.services("closures_2025_undone")
    cc = svc[(svc["service_type"] == "childrens_centre") & svc["located"]]
    homes = ealing.homes
    xy = np.column_stack([homes.geometry.x, homes.geometry.y])
    routes = access.router.nearest_routes(xy, np.column_stack([cc.geometry.x, cc.geometry.y]), k=3)
    state = closures.comparison.home_states["closures_2025_undone"]["childrens_centre"]
    np.testing.assert_array_equal(state.ranks[0], routes.cost_m)
    np.testing.assert_array_equal(state.ranks[2][:, 0], cc["service_id"].to_numpy(object)[routes.idx[:, 0]])


def test_distances_are_computed_once_for_the_union_not_per_scenario(ealing, settings, access):
    ids = _cc_ids(ealing)
    spy = CallCounter(access.router)
    spied = dataclasses.replace(access, router=spy)
    scns = [Scenario(f"close_{i}", changes=(closing(ids=ids[: i + 1]),)) for i in range(4)]
    cmp = api.compare_scenarios(ealing, scns, settings, access=spied, rescore=False)
    # one nearest_routes and one pairs_within (2SFCA) for the one changed type, for 4 scenarios
    assert spy.calls == {"nearest_routes": 1, "pairs_within": 1}
    assert cmp.router_calls == {"nearest_routes": 1, "pairs_within": 1}
    lost = cmp.summary[(cmp.summary["band"] == "pop_0_4") & (cmp.summary["threshold_minutes"] == 15)
                       & (cmp.summary["service_type"] == "childrens_centre")].set_index("scenario")["lost"]
    assert lost.is_monotonic_increasing and lost.iloc[-1] > lost.iloc[0] > 0


# ----------------------------------------------------------------------------- accounting
def test_every_change_row_is_used_or_rejected_with_a_reason(ealing, closures):
    ch = closures.changes
    rej = ealing.rejects
    closed_rows = set(rej.loc[(rej["source_key"] == "childrens_centres") & (rej["reason"] == "closed"), "row"])
    assert len(closed_rows) == 9
    assert set(ch["row"]) == closed_rows and len(ch) == 9
    assert ch["outcome"].value_counts().to_dict() == {"rejected": 6, "used": 3}
    assert set(ch.loc[ch["outcome"] == "rejected", "reason"]) == {"no location"}
    assert sorted(ch.loc[ch["outcome"] == "used", "name"]) == [
        "Greenfields Children's Centre", "Grove House Children's Centre", "Maples Children's Centre"]


def test_a_services_file_opens_row_by_row_with_the_register_rules(ealing, settings, access, tmp_path):
    f = tmp_path / "new.csv"
    f.write_text("name,service_type,postcode,easting,northing\n"
                 "Hub A,childrens_centre,,513500,182500\n"
                 "Hub B,childrens_centre,NOT A POSTCODE,,\n"
                 "Hub C,spaceport,,513600,182600\n"
                 "Hub D,childrens_centre,,,\n", encoding="utf-8")
    cmp = api.compare_scenarios(ealing, [Scenario("file", changes=(opening(file=f),))], settings, access=access,
                                rescore=False)
    ch = cmp.changes.set_index("row")
    assert sorted(ch.index) == [1, 2, 3, 4]
    assert ch.loc[1, "outcome"] == "used"
    assert ch.loc[2, "reason"] == "bad postcode" and ch.loc[3, "reason"] == "missing/unknown service type"
    assert ch.loc[4, "reason"] == "no location"
    assert len(cmp.resolution.opened("file")) == 1


def test_closing_an_id_that_does_not_exist_is_an_error_naming_it(ealing, settings, access):
    bad = Scenario("typo", changes=(closing(ids=["childrens_centres:row99"]),))
    with pytest.raises(ScenarioError, match=r"change 1 \(close\): no service with id 'childrens_centres:row99'"):
        api.compare_scenarios(ealing, [bad], settings, access=access, rescore=False)
    with pytest.raises(ScenarioError, match="no service named 'Nowhere Library'"):
        api.compare_scenarios(ealing, [Scenario("n", changes=(closing(names=["Nowhere Library"]),))], settings,
                              access=access, rescore=False)


def test_a_malformed_scenario_file_names_the_file_and_change(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('name = "x"\n[[change]]\naction = "close"\nids = ["a"]\ncolour = "red"\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"bad.toml: change 1 \(close\): unknown key\(s\) \['colour'\]"):
        read_scenario(f)
    f.write_text('name = "x"\n[[change]]\naction = "demolish"\n', encoding="utf-8")
    with pytest.raises(ScenarioError, match="change 1: 'action' must be one of open, close, retype"):
        read_scenario(f)
    with pytest.raises(ScenarioError, match="give exactly one of"):
        Scenario("x", changes=(closing(),))


def test_retyping_a_library_adds_a_family_hub_and_keeps_the_library(ealing, settings, access):
    cmp = api.compare_scenarios(ealing, [LIBRARY], settings, access=access, rescore=False)
    opened = cmp.resolution.opened("library_hub")
    closed = cmp.resolution.closed("library_hub")
    assert list(opened["service_type"]) == ["childrens_centre"]
    assert list(closed["name"]) == ["Northolt Library"]
    assert cmp.resolution.states["library_hub"][
        cmp.resolution.union["service_id"] == opened["service_id"].iloc[0].split(":as_")[0]].all()


# ----------------------------------------------------------------------------- shipped examples
def test_the_2025_closures_scenario_figures_for_ealing(closures):
    s = closures.summary
    s = s[(s["service_type"] == "childrens_centre") & (s["threshold_minutes"] == 15)].set_index("band")
    assert s.loc["pop_0_4", "gained"] == pytest.approx(2187.72, abs=0.01)
    assert s.loc["pop_0_19", "gained"] == pytest.approx(9531.89, abs=0.01)
    assert (s["lost"] == 0).all()
    towns = closures.by_area("town", "pop_0_4").set_index("area_name")["gained"].round(1)
    assert towns[towns > 0].to_dict() == {"Acton": 723.3, "Southall": 1464.4}


def test_the_recommended_hubs_scenario_opens_two_sites_in_each_of_the_leading_towns(ealing, settings, access):
    cmp = api.compare_scenarios(ealing, [HUBS], settings, access=access, rescore=True, n_draws=200)
    opened = cmp.resolution.opened("hubs_recommended")
    assert len(opened) == 4 and set(opened["service_type"]) == {"childrens_centre"}
    rec = cmp.recommendations.set_index("state")
    base = api.recommendation_for(api.analyse_localities(ealing, access, schemes=("towns",), n_draws=200), "towns")
    assert rec.loc["baseline", "recommended"] == base.locality
    towns = {id_.split(":")[2] for id_ in opened["service_id"]}
    assert towns == {base.locality, base.runner_up}


# ----------------------------------------------------------------------------- hostile text
def test_hostile_names_in_scenario_files_are_inert(ealing, settings, access, tmp_path):
    f = tmp_path / "hostile.toml"
    title = " ".join(PAYLOADS)
    rows = "".join(f'[[change]]\naction = "open"\nname = {json.dumps("Hub " + p)}\nservice_type = "childrens_centre"\n'
                   f"easting = {513000 + 300 * i}\nnorthing = 182000\n\n" for i, p in enumerate(PAYLOADS))
    f.write_text(f'name = "hostile"\ntitle = {json.dumps(title)}\ndescription = {json.dumps(title)}\n\n' + rows,
                 encoding="utf-8")
    scn = read_scenario(f)
    assert scn.title == title
    cmp = api.compare_scenarios(ealing, [scn], settings, access=access, rescore=False)
    out = tmp_path / "out"
    cmp.write(out)
    for page in ("scenario_map.html", "scenarios_section.html"):
        text = (out / page).read_text(encoding="utf-8")
        assert "<img src=x" not in text and "{{7*7}}" not in text and "Hub 49" not in text, page
        assert "\x1b" not in text.replace("\\u001b", "")
    section = (out / "scenarios_section.html").read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert(1)&gt;" in section
    changes = pd.read_csv(out / "changes.csv", dtype=str)
    assert changes["name"].str.startswith("=").sum() == 0
    printed = io.StringIO()
    with redirect_stdout(printed):
        for line in cmp.sentences()["hostile"]:
            print(plain(line))
    assert "\x1b" not in printed.getvalue() and "\u202e" not in printed.getvalue()
    assert plain("\x1b[31m") == "\\x1b[31m"  # the project-wide terminal sanitiser (locmap._text)


def test_locmap_scenario_writes_the_tables_and_says_what_changes(tmp_path, capsys):
    out = tmp_path / "scn"
    code = main(["scenario", "--area", "ealing", "--scenario", str(CLOSURES), "--out", str(out), "--no-rescore",
                 "--no-map", "--no-progress"])
    assert code == 0
    said = capsys.readouterr().out
    assert re.search(r"2,190 children aged 0-4 \(9,530 aged 0-19\) come within reach, mostly in Southall "
                     r"\(1,460\), Acton \(720\)", said)
    assert {p.name for p in out.iterdir()} >= {"summary.csv", "differences.csv", "homes_changed.csv", "changes.csv",
                                                "coverage.csv", "README.txt", "scenarios_section.html"}


# ----------------------------------------------------------------------------- small pieces
def test_an_area_without_shipped_scenarios_gets_hubs_at_the_recommended_sites(tmp_path):
    (tmp_path / "ealing_a.toml").write_text('name = "a"\n', encoding="utf-8")
    assert default_scenarios("ealing", folder=tmp_path) == [tmp_path / "ealing_a.toml"]
    (generic,) = default_scenarios("hounslow", "pcns", folder=tmp_path)
    assert [c.hub_sites for c in generic.changes] == [
        {"scheme": "pcns", "locality": "recommended", "p": 2}, {"scheme": "pcns", "locality": "runner_up", "p": 2}]


def test_the_pack_section_goes_before_method_and_caveats_without_a_template_pass():
    page = "<html><body><section id=\"recommendation\"></section>\n<section id=\"method\">M</section></body></html>"
    out = with_sections(page, ["<section>{{7*7}}</section>"])
    assert out.index("{{7*7}}") < out.index('<section id="method"') and "49" not in out
    assert with_sections(page, []) == page


def test_gains_and_losses_stay_distinct_for_colour_blind_readers():
    colours = [GAIN_COLOUR, LOSS_COLOUR, CLOSED_COLOUR]
    assert palette.min_pairwise_delta_e(colours)[0] >= palette.MIN_DELTA_E00
    for vision in ("deuteranopia", "protanopia", "tritanopia"):
        d, pair = palette.min_pairwise_delta_e(colours, vision)
        assert d >= palette.MIN_DELTA_E00_CVD, (vision, pair, d)
    # a red/green pair, which this map avoids, fails the same check for deuteranopes
    assert palette.min_pairwise_delta_e(["#d7191c", "#1a9641"], "deuteranopia")[0] < palette.MIN_DELTA_E00_CVD


def test_closing_the_centres_listed_as_closed_accounts_for_each_against_the_register(ealing, settings, access):
    # the shipped register already leaves the 9 out, so each row is rejected with that reason
    scn = Scenario("close_listed", changes=(closing(listed_closed="childrens_centres"),))
    cmp = api.compare_scenarios(ealing, [scn], settings, access=access, rescore=False)
    ch = cmp.changes
    assert len(ch) == 9 and set(ch["outcome"]) == {"rejected"}
    assert set(ch["reason"]) == {"not in the register"}
    assert (cmp.resolution.states["close_listed"] == cmp.resolution.states["baseline"]).all()
    with pytest.raises(ScenarioError, match="'gp_surgeries' is not a services source of ealing"):
        api.compare_scenarios(ealing, [Scenario("x", changes=(closing(listed_closed="gp_surgeries"),))], settings,
                              access=access, rescore=False)
