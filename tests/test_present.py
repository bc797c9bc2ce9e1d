"""Presentation helpers: tables as an analyst reads them, area-aware caveats, comparators, maps."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from locmap import present


def _stub_area(with_cc: bool = True, title: str = "Testborough"):
    """The few attributes the presentation helpers read from an AreaData."""
    rows = [{"service_type": "gp_practice", "name": "Surgery", "located": True, "in_study_area": True,
             "source": "GP list", "vintage": "2025", "lad_nm": None}]
    if with_cc:
        rows += [{"service_type": "childrens_centre", "name": "Hub One", "located": True, "in_study_area": True,
                  "source": "CC list (INCOMPLETE)", "vintage": "2025", "lad_nm": None},
                 {"service_type": "childrens_centre", "name": "Hub Two", "located": False, "in_study_area": True,
                  "source": "CC list (INCOMPLETE)", "vintage": "2025", "lad_nm": None}]
    sources = [{"key": "cc", "path": "cc.csv", "service_type": "childrens_centre"}] if with_cc else []
    pack = SimpleNamespace(title=f"London Borough of {title}", lad_nm=title, lad_cd="E09999999",
                           service_types={"gp_practice": "GP practice", "childrens_centre": "Children's centre"},
                           key_service_types=("gp_practice",), services={"sources": sources})
    rejects = pd.DataFrame([{"file": "cc.csv", "row": 3, "reason": "closed", "detail": ""}] if with_cc else [],
                           columns=["file", "row", "reason", "detail"])
    return SimpleNamespace(pack=pack, services=pd.DataFrame(rows), rejects=rejects)


def test_table_formats_people_percentages_and_hides_the_index():
    df = pd.DataFrame({"town": ["B", "A"], "pop_0_4": [1234.4, 80162.0], "pct_0_19": [26.04, 5.0]})
    t = present.table(df, "t", sort_by="pop_0_4")
    assert list(t.frame.columns) == ["Town", "Children 0-4 (people)", "Aged 0-19 (% of residents)"]
    assert t.frame.values.tolist() == [["A", "80,162", "5.0%"], ["B", "1,234", "26.0%"]]
    page = t._repr_html_()
    assert "<th style='text-align:left'>Town</th>" in page and ">80,162</td>" in page
    assert "index" not in page.lower() and ">0</td>" not in page


def test_whole_area_row_is_relabelled_and_kept_last_when_sorting():
    df = pd.DataFrame({"area_id": ["__total__", "Small", "Big"], "gap_pop_0_4": [300.0, 10.0, 290.0]})
    t = present.table(df, "gaps", area=_stub_area(), sort_by="gap_pop_0_4")
    assert t.frame.iloc[:, 0].tolist() == ["Big", "Small", "All of Testborough"]
    assert "__total__" not in t._repr_html_()


def test_long_table_shows_the_first_rows_and_links_the_full_csv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = pd.DataFrame({"ward": [f"W{i:02d}" for i in range(40)], "pop_0_19": np.arange(40) * 100.0,
                       "area_m2": np.full(40, 2_500_000.0)})
    t = present.table(df, "wards", out_dir=tmp_path / "out", sort_by="pop_0_19", max_rows=15)
    assert len(t.frame) == 15 and t.n_rows == 40
    assert t.frame.iloc[0].tolist() == ["W39", "3,900", "2.50"]  # m² shown as km²
    assert t.link == "out/tables/wards.csv"
    full = pd.read_csv(tmp_path / "out" / "tables" / "wards.csv")
    assert list(full.columns) == ["Ward", "Children and young people 0-19 (people)", "Area (km²)"]
    assert len(full) == 40 and full["Area (km²)"].eq(2.5).all()
    assert "Showing 15 of 40 rows" in t._repr_html_() and "href='out/tables/wards.csv'" in t._repr_html_()


def test_empty_result_says_none_explicitly():
    t = present.table(pd.DataFrame(columns=["home_id"]), "unreachable", empty="None: every home reaches a service.")
    assert t.n_rows == 0 and "None: every home reaches a service." in t._repr_html_()
    assert present.table(None, "x", empty="None.").text() == "None."


def test_data_text_is_escaped_in_the_html():
    df = pd.DataFrame({"name": ["<script>alert(1)</script>"], "rows": [1]})
    page = present.table(df, "names")._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_childrens_centre_figures_carry_the_areas_own_caveat():
    df = pd.DataFrame({"service_type": ["childrens_centre", "gp_practice"], "in_area": [1, 5]})
    t = present.table(df, "by_type", area=_stub_area())
    assert t.frame.iloc[:, 0].tolist() == ["Children's centre", "GP practice"]
    (note,) = t.notes
    assert "2 children's centre / family hub site(s) (1 located in the area, 1 without a location: Hub Two)" in note
    assert "1 listed site(s) were left out as closed" in note and "incomplete" in note
    # an area without children's centres gets no children's-centre text at all
    t2 = present.table(df[df["service_type"] == "gp_practice"], "by_type", area=_stub_area(with_cc=False))
    assert t2.notes == ()
    assert present.childrens_centre_note(_stub_area(with_cc=False)) == ""


def test_hub_summary_reports_minutes_and_site_names_not_metres_and_ids():
    summary = pd.DataFrame({"model": ["mclp"], "p": [2], "selected": ["s:1;s:2"], "children_covered": [1257.8],
                            "pct_children_covered": [54.1], "mean_distance_m": [1166.6], "max_m": [1000.0],
                            "minutes": [15.0]})
    sites = pd.DataFrame({"site_id": ["s:1", "s:2"], "name": ["Viking Primary", "Alec Reed"]})
    hub = {"summary": summary, "sites": sites, "gain": pd.DataFrame(), "locality": "Northolt"}
    out = present.hub_summary([hub])
    assert out["sites_named"].tolist() == ["Viking Primary, Alec Reed"]
    assert out["mean_minutes"].iloc[0] == pytest.approx(1166.6 / (1000.0 / 15.0))  # 17.5 min
    t = present.table(out, "hubs")
    assert t.frame["Mean pram time to the nearest site (minutes)"].tolist() == ["17.5"]
    assert t.frame["Method"].tolist() == ["Most children within reach (maximal coverage)"]


def test_infeasible_generated_scheme_is_never_a_leader():
    loc = {"leaders": pd.DataFrame({"scheme": ["towns", "auto_skater_k3", "auto_skater_k4"],
                                    "most_often_first": ["Northolt", "L1 Greenford+", "L1 Southall"]}),
           "generated": pd.DataFrame({"scheme": ["auto_skater_k3", "auto_skater_k4"], "k": [3, 4],
                                      "feasible": [False, True],
                                      "status": ["infeasible: outside bounds 22296-37160: L2 Southall+ 38406", "ok"]})}
    assert present.leaders(loc)["scheme"].tolist() == ["towns", "auto_skater_k4"]
    status = present.generated_status(loc)["status"].tolist()
    assert status == ["not ranked: the localities could not be balanced to 22,296-37,160 children and young "
                      "people 0-19 each (L2 Southall+ would hold 38,406)", "ranked"]


def test_comparators_equal_the_london_files_counted_by_hand(ealing):
    comp = present.london_comparators(ealing).set_index("key")
    root = ealing.settings.resolve_data_root()
    census = pd.read_csv(root / present.LONDON_FILES["census"]).set_index("geography code")
    kids = census[["Aged 4 years and under", "Aged 5 to 9 years", "Aged 10 to 15 years",
                   "Aged 16 to 19 years"]].sum(axis=1)
    assert comp.loc["children_0_19", "area_value"] == pytest.approx(100 * kids["E09000009"] / census.loc["E09000009", "Total"])
    assert comp.loc["children_0_19", "london_value"] == pytest.approx(100 * kids.sum() / census["Total"].sum())
    assert round(comp.loc["children_0_19", "area_value"], 1) == 24.3
    assert round(comp.loc["children_0_19", "london_value"], 1) == 23.7
    gp = pd.read_csv(root / present.LONDON_FILES["gp_practice"])
    gp = gp[(gp["status_code"] == "A") & ~gp["is_care_home_or_special_service"].astype(str).eq("True")]
    assert comp.loc["gp_practice_per_1000", "area_value"] == pytest.approx(
        1000 * (gp["lad_code"] == "E09000009").sum() / kids["E09000009"])
    assert comp["n_boroughs"].eq(33).all() and comp["rank"].between(1, 33).all()


def test_caveats_come_from_the_area(ealing):
    text = present.caveats(ealing).text()
    assert "Jubilee Children's Centre" in text and "(INCOMPLETE)" in text
    assert "8 footprints" in text and "Brent" in text
    # the same call on an area without a children's-centre list says so, and names none
    no_cc = dataclasses.replace(ealing, services=ealing.services[ealing.services["service_type"] != "childrens_centre"])
    text2 = present.caveats(no_cc, ["childrens_centres"]).text()
    assert "no children's-centre list" in text2 and "Jubilee" not in text2
    with pytest.raises(ValueError, match="unknown caveat topic"):
        present.caveats(ealing, ["weather"])


def test_map_view_is_self_contained_labelled_and_inert(ealing):
    towns = ealing.towns.copy()
    towns.loc[towns.index[0], "town"] = "<script>alert(1)</script>{{ 7*7 }}"
    hostile = dataclasses.replace(ealing, towns=towns)
    view = present.map_view(hostile, ["boundaries"], labels=["towns", "pcns"], title="Towns")
    assert "<script src=" not in view.page  # Leaflet inlined: draws without a CDN
    assert "new ResizeObserver" in view.page  # re-fits when an off-screen output is first shown
    assert "Southall" in view.page and "NORTHOLT PCN" in view.page  # permanent labels
    assert "<script>alert(1)" not in view.page and "alert(1)" in view.page  # shown, as text
    assert "7*7" in view.page and "{{ 7*7 }}" not in view.page  # never compiled as a template
    frame = view._repr_html_()
    assert frame.startswith("<iframe") and "sandbox='allow-scripts allow-popups'" in frame
    assert "<script" not in frame  # the whole page sits escaped in srcdoc


def test_link_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert present.link_to(tmp_path / "a" / "b.csv") == "a/b.csv"
    assert present.link_to(Path("c.csv")) == "c.csv"


# ----------------------------------------------------------------------------- issue 24: plain findings
#: internal ids and truncation a reader must never see in Key findings
INTERNAL = re.compile(r"auto_\w+|_k\d\b|infeasible:|outside bounds|…|\.\.\.|\b[a-z]+_[a-z0-9_]+\b")
GENERATED = [
    {"scheme": "auto_skater_k3", "k": 3, "feasible": False,
     "status": "infeasible: outside bounds 22296-37160: L2 Southall+ 38406"},
    {"scheme": "auto_skater_k4", "k": 4, "feasible": True, "status": "ok"},
    {"scheme": "auto_skater_k5", "k": 5, "feasible": True, "status": "ok"},
    {"scheme": "auto_skater_k7", "k": 7, "feasible": False, "status": "infeasible: 6 localities found; outside "
     "bounds 9555-15926: L2 Southall+ 16665, L3 Northolt+ 20538, L5 Ealing+ 17788"},
]
FLIPS = ("need weight x0.5 (30% -> 18%): Greenford", "need weight x2 (30% -> 46%): Southall",
         "gaps weight x2 (25% -> 40%): Greenford", "readiness weight x0.5 (20% -> 11%): Greenford",
         "size weight x0.5 (10% -> 5%): Southall", "gap threshold 20 min instead of 15: Southall")


def _recommendation(scheme="towns"):
    from locmap.localities.ranking import Recommendation
    return Recommendation(scheme=scheme, locality="Northolt", runner_up="Greenford", score=0.539, p_first=0.395,
                          median_rank=2, rank_min=1, rank_max=7, stable=False, rule="The rule.",
                          reason="Southall has the highest score at the base weights.", flips=FLIPS,
                          base_leader="Southall", n_draws=2000, changes_tested=tuple(f"c{i}" for i in range(12)))


def test_notebook_findings_contain_no_internal_ids_or_truncation(ealing):
    ranking = pd.DataFrame({"locality": ["Northolt", "Greenford", "Southall"], "score": [0.54, 0.56, 0.58]})
    loc = {"rankings": {"towns": ranking}, "generated": GENERATED}
    text = present.pathfinder_findings(ealing, loc, _recommendation()).text()
    assert not INTERNAL.search(text), INTERNAL.search(text).group(0)
    assert "6 of the 12 single changes tried change the choice" in text
    assert "gap threshold 20 min instead of 15 would make it Southall." in text       # the last one, not "; ...."
    assert ("3 localities are not ranked: the localities could not be balanced to 22,296-37,160 children and young "
            "people 0-19 each (L2 Southall+ would hold 38,406)") in text
    assert "7 localities are not ranked: only 6 could be formed" in text
    assert "the schemes of 4 and 5 localities are balanced and ranked" in text
    status = present.generated_status(loc)["status"].tolist()
    assert status[1] == "ranked" and not any(INTERNAL.search(s) for s in status)
    assert present.scheme_words("auto_skater_k4") == "4 generated localities"
    assert present.scheme_words("pcns") == "PCN footprints"


def test_a_caveat_is_said_once_where_it_first_applies():
    area = _stub_area()
    cc = pd.DataFrame({"service_type": ["childrens_centre"], "in_area": [1]})
    first, second = present.table(cc, "a", area=area), present.table(cc, "b", area=area)
    assert len(first.notes) == 1 and second.notes == ()
    other = _stub_area()                                   # another area: its own caveat again
    assert len(present.table(cc, "c", area=other).notes) == 1
    shown = _stub_area()
    present.said_once(shown, [present.childrens_centre_note(shown)])   # as the caveats cell does
    assert present.table(cc, "d", area=shown).notes == ()
    tag = " (children's-centre list incomplete: this overstates the gap)"
    f = present.Findings((f"a{tag}.", f"b{tag}.", "c."))
    assert [p.count(tag) for p in f.points] == [1, 0, 0]


class _Acc(SimpleNamespace):
    """An access result as the presentation helpers read it (``acc[...]`` and ``acc.result``)."""

    def __getitem__(self, key):
        return getattr(self, key)


def test_gap_areas_are_named_by_place_and_a_borough_wide_blob_is_split(ealing):
    import geopandas as gpd
    from shapely.geometry import box as sbox
    homes = ealing.homes if hasattr(ealing, "homes") and ealing.homes is not None else None
    if homes is None or "town" not in homes.columns:
        pytest.skip("area has no homes table with towns")
    wide = homes[["home_id", "ward_cd", "town", "pop_0_4", "pop_0_19", "geometry"]].copy()
    wide["minutes__library"] = 99.0                                  # every home beyond 15 minutes
    blob = sbox(*ealing.borough.total_bounds)
    small = sbox(*wide.geometry.iloc[0].buffer(150).bounds)
    gaps = gpd.GeoDataFrame({"service_type": ["library", "library"], "threshold_minutes": [15.0, 15.0],
                             "area_m2": [blob.area, small.area]}, geometry=[blob, small], crs=wide.crs)
    acc = _Acc(result=SimpleNamespace(wide=wide), gap_areas=gaps)
    table = present.gap_areas_by_place(acc, ealing, "pop_0_4")
    parts = table[table["split"] != ""]
    assert set(parts["town"]) == set(wide["town"])                  # one row per town
    assert parts["gap_pop_0_4"].sum() == pytest.approx(
        wide.loc[wide.geometry.intersects(blob), "pop_0_4"].sum())   # people conserved
    assert all(s.startswith("part of a gap area of ") and s.endswith("split by town") for s in parts["split"])
    whole = table[table["split"] == ""].iloc[0]
    assert whole["where"] and whole["area_m2"] == pytest.approx(small.area)


def test_map_view_labels_an_area_drawn_as_several_polygons_once(ealing):
    import geopandas as gpd
    pcns = ealing.pcns
    split = gpd.GeoDataFrame(pd.concat([pcns, pcns.iloc[[0]]], ignore_index=True), crs=pcns.crs)
    view = present.map_view(dataclasses.replace(ealing, pcns=split), ["boundaries"], labels=["pcns"])
    name = str(pcns["pcn_name"].iloc[0])
    labels = re.findall(r"translate\(-50%,-50%\);[^\"]*?\\u003e([^\"]*?)\\u003c/div", view.page)
    assert labels.count(name) == 1 and len(labels) == pcns["pcn_name"].nunique()
