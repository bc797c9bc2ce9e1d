"""Presentation helpers: tables as an analyst reads them, area-aware caveats, comparators, maps."""
from __future__ import annotations

import dataclasses
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
    assert status == ["not ranked: infeasible: outside bounds 22296-37160: L2 Southall+ 38406", "ranked"]


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
