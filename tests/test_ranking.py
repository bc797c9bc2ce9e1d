"""Ranking and Monte-Carlo sensitivity."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from locmap.localities.ranking import (CRITERIA, Weights, criteria_table, rank_localities,
                            rescale_minutes, sensitivity)


def _sc():
    return pd.DataFrame({
        "locality": ["A", "B", "C", "D"],
        "pct_children_idaci_most_deprived_20": [40, 10, 20, 30.0],
        "imd_score_popw": [35, 12, 20, 30.0], "pop_0_19": [20000, 15000, 18000, 9000.0],
        "pct_gap_children": [5, 20, 10, 1.0],
        "childrens_centre_per_1000": [0.2, 0.1, 0.3, 0.2],
        "gp_practice_per_1000": [0.5, 0.4, 0.6, 0.3],
        "pct_children_within_15min_any_key": [90, 70, 85, 95.0],
        "align_town_share": [1, 0.8, 0.9, 1.0], "align_pcn_share": [0.7, 0.5, 0.9, 0.6],
        "hard_edge_risk_pct": [10, 20, 5, 8.0],
        "size_guide_min": 30000.0, "size_guide_max": 50000.0,
        "size_gap_people": [0, -5000, 0, -20000.0], "gap_threshold_min": 15.0})


def test_weights_normalise_and_parse():
    w = Weights.parse("need=2,gaps=1,readiness=1,alignment=0,size=0")
    assert w.as_array() == pytest.approx([0.5, 0.25, 0.25, 0, 0])
    with pytest.raises(ValueError):
        Weights.parse("bogus=1")


def test_single_criterion_ranking():
    r = rank_localities(_sc(), Weights(need=1, gaps=0, readiness=0, alignment=0, size=0))
    assert r.iloc[0]["locality"] == "A"
    r = rank_localities(_sc(), Weights(need=0, gaps=1, readiness=0, alignment=0, size=0))
    assert r["locality"].tolist() == ["B", "C", "A", "D"]
    c = criteria_table(_sc())
    assert ((c >= 0) & (c <= 1)).all().all()


def test_sensitivity_probabilities_sum_to_one_and_seeded():
    res = sensitivity(_sc(), n_draws=500, seed=1)
    s = res["summary"]
    assert s["p_first"].sum() == pytest.approx(1.0)
    assert (s["rank_min"] <= s["rank_base"]).all() and (s["rank_base"] <= s["rank_max"]).all()
    again = sensitivity(_sc(), n_draws=500, seed=1)["summary"]
    pd.testing.assert_frame_equal(s, again)
    assert len(res["ranks"]) == 500 * 4


def test_concentrated_weights_reproduce_base_ranking():
    res = sensitivity(_sc(), Weights(need=1, gaps=0.001, readiness=0.001, alignment=0.001,
                                     size=0.001), n_draws=300, concentration=1e5, seed=0)
    assert res["summary"].iloc[0]["locality"] == "A"
    assert res["summary"].iloc[0]["p_first"] == pytest.approx(1.0)


def test_scenarios():
    a, b = _sc(), _sc()
    b["pct_gap_children"] = [50, 0, 0, 0.0]
    res = sensitivity({"slow": a, "fast": b}, n_draws=400, seed=0)
    assert res["summary"]["p_first"].sum() == pytest.approx(1.0)
    assert set(res["ranks"]["scenario"]) == {"slow", "fast"}


def test_rescale_minutes():
    d = pd.DataFrame({"distance_m": [1000.0], "minutes": [15.0]})
    assert rescale_minutes(d, 4.0)["minutes"].iloc[0] == pytest.approx(15.0)
    assert rescale_minutes(d, 3.0)["minutes"].iloc[0] == pytest.approx(20.0)


def test_rank_shares_form_a_doubly_stochastic_table():
    s = sensitivity(_sc(), n_draws=500, seed=3)["summary"]
    shares = s[[f"p_rank_{r}" for r in range(1, 5)]].to_numpy()
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)  # each locality has some rank in every draw
    np.testing.assert_allclose(shares.sum(axis=0), 1.0)  # each rank is held by one locality per draw
    np.testing.assert_allclose(s["p_rank_1"], s["p_first"])
