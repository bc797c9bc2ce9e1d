"""Scorecard on the synthetic area (hand-checkable numbers) and on real Ealing."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from locmap.localities.schemes import scheme_from_column
from locmap.localities.testing import synthetic_area
from locmap.localities.scorecard import build_scorecard, column_descriptions


@pytest.fixture(scope="module")
def syn():
    return synthetic_area(seed=2)


def _sc(syn, **kw):
    lsoa = syn["lsoa"]
    towns = scheme_from_column(lsoa, "town", "towns")
    pcn = scheme_from_column(lsoa, "pcn_code", "pcns")
    return build_scorecard(towns.assignment, lsoa, syn["homes"], syn["services"],
                           syn["distances"], key_service_types=["childrens_centre", "gp_practice",
                                                                "library"],
                           align_to={"town": towns.assignment, "pcn": pcn.assignment},
                           scheme_name="towns", **kw)


def test_totals_conserved(syn):
    sc = _sc(syn)
    lsoa = syn["lsoa"]
    for b in ("pop_total", "pop_0_4", "pop_5_11", "pop_12_19", "pop_0_19"):
        assert sc[b].sum() == pytest.approx(lsoa[b].sum())
    assert sc["align_town_share"].tolist() == [1.0, 1.0, 1.0]


def test_coverage_and_gap_by_hand(syn):
    sc = _sc(syn).set_index("locality")
    h, d = syn["homes"], syn["distances"]
    near = d[(d["rank"] == 1)].pivot(index="home_id", columns="service_type", values="minutes")
    anyk = near.min(axis=1)
    hh = h.set_index("home_id")
    west = hh[hh["town"] == "West"]
    kids = west["pop_0_19"]
    exp15 = 100 * kids[anyk[west.index] <= 15].sum() / kids.sum()
    assert sc.loc["West", "pct_children_within_15min_any_key"] == pytest.approx(exp15)
    assert sc.loc["West", "gap_children"] == pytest.approx(kids[anyk[west.index] > 15].sum())
    # coverage rises with the threshold
    assert (sc["pct_children_within_10min_any_key"] <= sc["pct_children_within_20min_any_key"]).all()


def test_services_counted_and_hard_edge(syn):
    sc = _sc(syn)
    inside = syn["services"]["in_study_area"].sum()
    assert sc["n_services_total"].sum() == inside  # the two outside services are not counted
    assert ((sc["hard_edge_risk_pct"] >= 0) & (sc["hard_edge_risk_pct"] <= 100)).all()
    assert sc["hard_edge_risk_pct"].to_numpy() == pytest.approx(
        (sc["pct_children_nearest_key_other_locality"]
         + sc["pct_children_nearest_key_outside_borough"]).to_numpy())


def test_every_column_described(syn):
    sc = _sc(syn, walk_speed_kmh=4.0)
    desc = column_descriptions(sc)
    assert list(desc["name"]) == list(sc.columns)
    assert (desc["description"] != "").all(), desc[desc["description"] == ""]
    assert (desc["unit"] != "").all()


@pytest.mark.realdata
def test_ealing_town_scorecard():
    from locmap.errors import DataRootNotFoundError
    try:
        from locmap.access.nearest import ANY_KEY, compute_access
        from locmap.data.area import load_area
        area = load_area("ealing")
    except (DataRootNotFoundError, ImportError, NotImplementedError) as exc:
        pytest.skip(f"Ealing data not available: {exc}")
    res = compute_access(area, area.settings.with_(progress=False))
    d = res.table[res.table["service_type"] != ANY_KEY]
    towns = scheme_from_column(area.lsoa, "town", "towns")
    sc = build_scorecard(towns.assignment, area.lsoa, area.homes, area.services, d,
                         key_service_types=res.key_service_types)
    assert len(sc) == 7
    assert sc["pop_total"].sum() == pytest.approx(367111, abs=1)
    assert sc["pop_0_19"].sum() == pytest.approx(area.lsoa["pop_0_19"].sum())
    assert sc["n_gp_practice"].sum() > 40
