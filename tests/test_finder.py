"""The postcode finder on the real Ealing data: nearest services across the border, every way a
postcode can fail, the command line, and agreement with the access step."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from locmap.access.nearest import default_router_for, nearest_services
from locmap.cli import main
from locmap.data.area import load_area
from locmap.finder import build_index, lookup_postcodes, nearest_for_postcodes
from locmap.finder.nearest import answer_table, coverage_notes
from locmap.finder.postcodes import normalise

pytestmark = pytest.mark.realdata

#: Northolt, on the Hillingdon edge: nearest library is Hayes End (Hillingdon), 7.9 min nearer
EDGE_HILLINGDON = "UB5 6PA"
#: Southall, on the Hounslow edge: nearest library is Heston Library (Hounslow)
EDGE_HOUNSLOW = "UB2 4FG"
#: Ealing Broadway: the nearest of every type is in Ealing
CENTRAL = "W5 2ND"


@pytest.fixture(scope="module")
def area():
    return load_area("ealing")


@pytest.fixture(scope="module")
def index(area):
    return build_index(area)


def _first(res: pd.DataFrame, service_type: str, scope: str = "overall") -> pd.Series:
    rows = res[(res["service_type"] == service_type) & (res["scope"] == scope) & (res["rank"] == 1)]
    assert len(rows) == 1
    return rows.iloc[0]


# ----------------------------------------------------------------------------- across the border
def test_hillingdon_edge_postcode_has_its_nearest_library_across_the_border(area):
    res = nearest_for_postcodes(area, [EDGE_HILLINGDON], k=3)
    lib = _first(res, "library")
    assert (lib["name"], lib["service_lad_nm"]) == ("Hayes End Library", "Hillingdon")
    assert lib["cross_border"] and lib["nearest_across_border"] and lib["certain"]
    assert lib["minutes"] == pytest.approx(22.0, abs=0.05)  # London model v1
    own = _first(res, "library", "home_borough")
    assert (own["name"], own["service_lad_nm"]) == ("Northolt Library", "Ealing")
    assert not own["cross_border"]
    assert own["extra_minutes_in_borough"] == pytest.approx(own["minutes"] - lib["minutes"])
    assert own["extra_minutes_in_borough"] == pytest.approx(7.9, abs=0.05)
    # the three nearest libraries are all in Hillingdon, in increasing distance
    ranks = res[(res["service_type"] == "library") & (res["scope"] == "overall")]
    assert list(ranks["rank"]) == [1, 2, 3]
    assert set(ranks["service_lad_nm"]) == {"Hillingdon"}
    assert ranks["distance_m"].is_monotonic_increasing


def test_hounslow_edge_postcode_has_its_nearest_library_across_the_border(area):
    res = nearest_for_postcodes(area, [EDGE_HOUNSLOW], k=1)
    lib = _first(res, "library")
    assert (lib["name"], lib["service_lad_nm"]) == ("Heston Library", "Hounslow")
    assert lib["nearest_across_border"] and lib["certain"]
    own = _first(res, "library", "home_borough")
    assert own["service_lad_nm"] == "Ealing" and own["extra_minutes_in_borough"] > 10


def test_central_postcode_has_the_nearest_of_every_type_in_ealing(area):
    res = nearest_for_postcodes(area, [CENTRAL], k=1)
    ans = answer_table(res)
    assert len(ans) == 9  # every type with services
    assert not ans["across_border"].any()
    assert (ans["nearest_borough"] == "Ealing").all()
    # the nearest in the borough is then the nearest overall
    assert (ans["nearest"] == ans["nearest_in_home_borough"]).all()
    assert np.allclose(ans["extra_minutes_in_borough"], 0.0)


def test_childrens_centres_listed_for_ealing_only_are_flagged_uncertain_at_the_edge(area):
    notes = coverage_notes(area)
    assert "Hillingdon" in notes["childrens_centre"] and "Ealing" not in notes["childrens_centre"]
    assert "gp_practice" not in notes  # GP practices are listed in all six boroughs
    res = nearest_for_postcodes(area, [EDGE_HILLINGDON], k=1)
    cc = _first(res, "childrens_centre")
    assert cc["service_lad_nm"] == "Ealing" and not cc["certain"]
    assert _first(res, "gp_practice")["certain"]


def test_finder_distances_equal_the_access_step_for_the_same_homes(area):
    homes = area.homes[area.homes["postcode"].notna()].iloc[::40]
    settings = area.settings
    router = default_router_for(area, settings)
    types = ["gp_practice", "library", "primary_school"]
    acc = nearest_services(homes, area.services, router, settings, service_types=types, k=3,
                           area_lad_cd=area.pack.lad_cd).table
    res = nearest_for_postcodes(area, homes["postcode"], k=3, router=router, service_types=types)
    mine = res[res["scope"] == "overall"].merge(homes[["home_id", "postcode"]], on="postcode")
    both = mine.merge(acc, on=["home_id", "service_type", "rank"], suffixes=("", "_acc"))
    assert len(both) == len(homes) * 3 * 3
    assert (both["service_id"] == both["service_id_acc"]).all()
    assert np.allclose(both["minutes"], both["minutes_acc"])
    assert (both["cross_border"] == both["cross_border_acc"]).all()
    assert (both["label"] == "estimated street distance (London model v1, typical error ±145 m)").all()


# ----------------------------------------------------------------------------- postcodes
@pytest.mark.parametrize("typed", ["ub56pa", " UB5  6PA ", "Ub5 6pA", "UB56PA"])
def test_postcodes_are_normalised_before_the_look_up(index, typed):
    assert normalise(typed) == "UB5 6PA"
    row = lookup_postcodes(index, [typed]).iloc[0]
    assert (row["postcode"], row["status"], row["home_lad_nm"]) == ("UB5 6PA", "ok", "Ealing")


@pytest.mark.parametrize("typed, status, reason, suggestion", [
    ("UB5 6AB", "unknown", "no such postcode", "UB5 6AA"),
    ("UB5 6ZX", "unknown", "terminated", None),  # suggestion checked below
    ("UB18 7AT", "non_geographic", "one of 59 postcodes placed at one point", None),
    ("UB5 4YW", "non_geographic", "PO box or delivery office", "UB5 4XE"),
    ("HA0 1AB", "outside_area", "is in Brent, outside Ealing", None),
    ("SW1A 1AA", "outside_area", "district SW1A is not in Ealing", None),
    ("UB5-6AA", "malformed", "characters other than letters", None),
    ("", "malformed", "empty", None),
    ("UB5", "malformed", "too short", None),
    ("UB5 6AAAA", "malformed", "too long", None),
    ("123 456", "malformed", "not in the UK postcode format", None),
])
def test_every_failing_postcode_gets_a_status_reason_and_suggestion(index, typed, status, reason, suggestion):
    row = lookup_postcodes(index, [typed]).iloc[0]
    assert row["status"] == status
    assert reason in row["reason"]
    if typed == "UB5 6ZX":  # the nearest unit of the same sector, whatever it is, is answerable
        sug = row["suggestion"]
        assert sug.startswith("UB5 6") and lookup_postcodes(index, [sug]).iloc[0]["status"] == "ok"
    else:
        assert row["suggestion"] == suggestion or (suggestion is None and row["suggestion"] is None)
    assert np.isnan(row["easting"])


def test_stacked_new_build_postcodes_are_answered_with_a_note(index):
    row = lookup_postcodes(index, ["W3 6AB"]).iloc[0]
    assert row["status"] == "ok"
    assert "location shared with 8 other postcode(s)" in row["note"]


def test_a_list_keeps_order_and_failed_postcodes_as_single_rows(area):
    res = nearest_for_postcodes(area, ["nonsense", EDGE_HILLINGDON, "UB18 7AT"], k=2)
    assert list(res.drop_duplicates("row")["status"]) == ["malformed", "ok", "non_geographic"]
    assert (res["row"] == 1).sum() == 1 and (res["row"] == 3).sum() == 1
    ok = res[res["row"] == 2]
    assert len(ok) == 9 * (2 + 1)  # 9 types x (2 nearest + 1 in the home borough)
    assert res.loc[res["row"] == 1, "service_id"].isna().all()


def test_all_ealing_postcodes_in_one_vectorised_call(area, index):
    ealing = list(index.table.index[index.table["in_area"]])
    assert len(ealing) == 6592  # W12 9DG and HA0 1AY: their LSOAs are Ealing's (one membership rule)
    res = nearest_for_postcodes(area, ealing, k=3, index=index)
    status = res.drop_duplicates("row")["status"].value_counts()
    assert status.to_dict() == {"ok": 6222, "non_geographic": 370}
    assert len(res) == 6222 * 9 * 4 + 370
    first = res[(res["scope"] == "overall") & (res["rank"] == 1)]
    share = first.groupby("service_type")["nearest_across_border"].mean()
    assert share["library"] == pytest.approx(0.098, abs=0.001)  # 611 of 6,222 postcodes
    assert share["childrens_centre"] == 0.0


# ----------------------------------------------------------------------------- command line
def test_cli_single_postcode_prints_the_across_border_nearest(capsys):
    rc = main(["nearest", "--postcode", "ub5 6pa", "--k", "1", "--types", "library", "gp_practice",
               "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "Public library   ACROSS THE BORDER" in out
    assert "Hayes End Library" in out and "[Hillingdon]  22.0 min" in out
    assert "nearest in Ealing: Northolt Library  29.9 min (+7.9 min)" in out
    assert "estimated street distance (London model v1, typical error ±145 m)" in out


def test_cli_unknown_postcode_gives_the_reason_a_suggestion_and_exit_2(capsys):
    rc = main(["nearest", "--postcode", "UB5 6AB", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 2
    assert "no such postcode" in out and "Try UB5 6AA." in out


@pytest.mark.parametrize("argv, message", [
    (["--lonlat", "51.54", "-0.37"], "looks like LAT LON"),
    (["--lonlat", "-0.45", "51.54"], "outside Ealing (in Hillingdon)"),
    (["--easting", "513158"], "--easting needs --northing"),
])
def test_cli_refuses_bad_points_with_exit_2(capsys, argv, message):
    assert main(["nearest", *argv, "--no-progress"]) == 2
    assert message in capsys.readouterr().err


def test_cli_point_in_ealing_is_answered(capsys):
    assert main(["nearest", "--easting", "513158", "--northing", "184163", "--k", "1", "--types",
                 "gp_practice", "--no-progress"]) == 0
    assert "MANDEVILLE MEDICAL CENTRE" in capsys.readouterr().out


def test_cli_postcode_file_writes_csv_and_json(tmp_path, capsys):
    src = tmp_path / "homes.csv"
    src.write_text("Postcode,name\nUB5 6PA,a\nUB5 6AB,b\nW5 2ND,c\n", encoding="utf-8")
    out_csv, out_json = tmp_path / "n.csv", tmp_path / "n.json"
    assert main(["nearest", "--postcodes", str(src), "--k", "1", "--out", str(out_csv), "--no-progress"]) == 0
    assert "3 home(s): ok 2, unknown 1" in capsys.readouterr().out
    table = pd.read_csv(out_csv)
    assert len(table) == 2 * 9 * 2 + 1
    assert table.loc[table["row"] == 2, "suggestion"].tolist() == ["UB5 6AA"]
    assert main(["nearest", "--postcodes", str(src), "--k", "1", "--out", str(out_json), "--no-progress"]) == 0
    doc = json.loads(out_json.read_text(encoding="utf-8"))
    assert doc["label"] == "estimated street distance (London model v1, typical error ±145 m)" and doc["k"] == 1
    assert len(doc["results"]) == len(table)
    assert any("Children's centre" in n for n in doc["notes"])


def test_cli_postcode_file_errors_name_the_file(tmp_path, capsys):
    bad = tmp_path / "homes.csv"
    bad.write_text("pc\nUB5 6PA\n", encoding="utf-8")
    assert main(["nearest", "--postcodes", str(bad), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "'postcode'" in err
    assert main(["nearest", "--postcodes", str(tmp_path / "missing.txt"), "--no-progress"]) == 2
    assert main(["nearest", "--postcode", EDGE_HILLINGDON, "--out", str(tmp_path / "x.xlsx"),
                 "--no-progress"]) == 2
