"""The recommendation rule: base-weight score and rank stability together, and what flips it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from locmap.errors import MissingColumnError
from locmap.localities.ranking import (CRITERIA, Recommendation, Weights, criteria_sources,
                                       criteria_table, rank_localities, ranking_text, recommend,
                                       rule_order, sensitivity, what_if)
from locmap.localities.schemes import scheme_from_column
from locmap.localities.scorecard import build_scorecard, scorecard_at_threshold
from locmap.localities.testing import synthetic_area


def _ranking(crit: dict[str, list[float]], weights: Weights | None = None) -> pd.DataFrame:
    """A ranking table from criteria values (rows in locality order A, B, C...)."""
    names = [chr(65 + i) for i in range(len(next(iter(crit.values()))))]
    df = pd.DataFrame({"locality": names, **{f"crit_{c}": crit[c] for c in CRITERIA}})
    df["score"] = df[[f"crit_{c}" for c in CRITERIA]].to_numpy() @ (weights or Weights()).as_array()
    df = df.sort_values(["score", "locality"], ascending=[False, True]).reset_index(drop=True)
    df["rank"] = np.arange(1, len(df) + 1)
    return df


def _sens(p_first: dict[str, float], p95: dict[str, float] | None = None) -> pd.DataFrame:
    rows = [{"locality": k, "p_first": v, "rank_base": 0, "rank_min": 1, "rank_max": 4,
             "rank_p05": 1.0, "rank_p95": (p95 or {}).get(k, 4.0), "rank_median": 2.0,
             "score_mean": 0.5, "n_draws": 1000} for k, v in p_first.items()]
    return pd.DataFrame(rows)


#: A leads at the base weights by a hair (0.575 vs B 0.555), B wins most draws, C is far behind.
CRIT = {"need": [0.9, 0.6, 0.1], "gaps": [0.5, 0.5, 0.2], "readiness": [0.5, 0.6, 0.3],
        "alignment": [0.4, 0.6, 0.3], "size": [0.2, 0.4, 0.2]}


def test_fragile_base_leader_loses_to_the_near_top_locality_first_most_often():
    ranking = _ranking(CRIT)
    scores = ranking.set_index("locality")["score"]
    assert scores.idxmax() == "A" and scores["A"] - scores["B"] == pytest.approx(0.02)
    rec = recommend(ranking, _sens({"A": 0.15, "B": 0.55, "C": 0.30}, {"B": 3.0}), "towns")
    assert isinstance(rec, Recommendation)
    # runner-up: the rule's next choice (A is near-top, C is not)
    assert (rec.locality, rec.runner_up, rec.base_leader) == ("B", "A", "A")
    assert rec.p_first == pytest.approx(0.55) and rec.score == pytest.approx(scores["B"])
    assert not rec.stable  # it is not first at the base weights
    assert "A has the highest score at the base weights (0.575)" in rec.reason
    assert "first in only 15.0% of 1,000 draws" in rec.reason and "fragile" in rec.reason
    assert "within 0.05 of the best" in rec.rule


def test_locality_outside_the_score_margin_is_not_recommended_however_often_first():
    # C is first in most draws but 0.38 behind at the base weights: A (near-top) wins
    rec = recommend(_ranking(CRIT), _sens({"A": 0.20, "B": 0.10, "C": 0.70}), score_margin=0.01)
    assert rec.locality == "A" and rec.runner_up == "C"
    assert rule_order(_ranking(CRIT).set_index("locality")["score"],
                      pd.Series({"A": 0.2, "B": 0.1, "C": 0.7}), 0.05) == ["A", "B", "C"]


def test_clear_leader_is_stable_and_the_rule_names_the_thresholds():
    sens = _sens({"A": 0.8, "B": 0.15, "C": 0.05}, {"A": 2.0})
    rec = recommend(_ranking(CRIT), sens, stable_p_first=0.6, stable_rank_p95=2)
    assert rec.locality == "A" and rec.stable and "Its lead is stable." in rec.reason
    assert "at least 60% of the draws and ranked 2 or better" in rec.rule
    # the same leader with a long rank tail is not stable, and the reason says why
    rec = recommend(_ranking(CRIT), _sens({"A": 0.8, "B": 0.15, "C": 0.05}, {"A": 3.0}),
                    stable_rank_p95=2)
    assert not rec.stable and "in 5% of draws it ranks 3 or worse" in rec.reason


def test_flips_are_the_single_weight_changes_that_change_the_rule_outcome():
    ranking = _ranking(CRIT)
    sens = _sens({"A": 0.15, "B": 0.55, "C": 0.30})
    rec = recommend(ranking, sens)
    crit = ranking.set_index("locality")[[f"crit_{c}" for c in CRITERIA]]
    expected = []
    for c in CRITERIA:
        for f in (0.5, 2.0):
            w = Weights(**{**Weights().__dict__, c: getattr(Weights(), c) * f})
            s = pd.Series(crit.to_numpy() @ w.as_array(), index=crit.index)
            near = s[s >= s.max() - 0.05 - 1e-12].index
            winner = sens.set_index("locality").loc[near, "p_first"].idxmax()
            if winner != "B":
                expected.append((c, f, winner))
    assert len(rec.changes_tested) == 10 and len(rec.flips) == len(expected) > 0
    for (c, f, winner), text in zip(expected, rec.flips):
        assert text.startswith(f"{c} weight x{f:g} (") and text.endswith(f": {winner}")


def test_recommend_refuses_a_ranking_made_with_other_weights():
    ranking = _ranking(CRIT, Weights(need=1, gaps=0, readiness=0, alignment=0, size=0))
    with pytest.raises(ValueError, match="other weights"):
        recommend(ranking, _sens({"A": 0.5, "B": 0.3, "C": 0.2}))


# ----------------------------------------------------------------------------- thresholds
@pytest.fixture(scope="module")
def syn_scorecards():
    syn = synthetic_area(seed=4)
    towns = scheme_from_column(syn["lsoa"], "town", "towns")
    pcns = scheme_from_column(syn["lsoa"], "pcn_code", "pcns")
    common = dict(lsoa=syn["lsoa"], homes=syn["homes"], services=syn["services"],
                  distances=syn["distances"], key_service_types=["childrens_centre", "gp_practice",
                                                                 "library"],
                  align_to={"town": towns.assignment, "pcn": pcns.assignment})
    return {t: build_scorecard(towns.assignment, gap_threshold_min=t, **common) for t in (5, 10, 15)}


def test_scorecard_at_threshold_equals_building_it_at_that_threshold(syn_scorecards):
    derived = scorecard_at_threshold(syn_scorecards[15], 10)
    built = syn_scorecards[10]
    for c in ("pct_gap_children", "gap_children", "gap_threshold_min"):
        np.testing.assert_allclose(derived[c].to_numpy(float), built[c].to_numpy(float), atol=1e-9)
    assert built["pct_gap_children"].gt(syn_scorecards[15]["pct_gap_children"]).any()


def test_readiness_reads_coverage_at_the_scorecards_own_threshold(syn_scorecards):
    src = criteria_sources(syn_scorecards[10])
    assert "pct_children_within_10min_any_key" in set(src.loc[src["criterion"] == "readiness", "column"])
    # a 5-minute gap threshold that is not among the coverage thresholds is added, not skipped
    sc5 = syn_scorecards[5]
    assert "pct_children_within_5min_any_key" in sc5.columns
    assert src["present"].all()
    c5 = criteria_table(sc5)["crit_readiness"]
    c15 = criteria_table(syn_scorecards[15])["crit_readiness"]
    assert not np.allclose(c5.to_numpy(), c15.to_numpy())
    with pytest.raises(MissingColumnError, match="pct_children_within_5min_any_key"):
        criteria_table(sc5.drop(columns="pct_children_within_5min_any_key"))


def test_threshold_changes_reapply_the_rule_on_the_scorecard(syn_scorecards):
    sc = syn_scorecards[15]
    res = sensitivity(sc, n_draws=400, seed=0)
    wi = what_if(res["base"], res["summary"], scorecard=sc)
    thr = wi[wi["kind"] == "threshold"]
    # the scorecard has coverage at 10, 15, 20 min: the other two thresholds are tried
    assert list(thr["change"]) == ["gap threshold 10 min instead of 15",
                                   "gap threshold 20 min instead of 15"]
    at10 = rank_localities(scorecard_at_threshold(sc, 10))
    assert thr["leader_base"].iloc[0] == at10["locality"].iloc[0]
    with pytest.raises(MissingColumnError):
        what_if(res["base"], res["summary"], scorecard=sc, thresholds_min=[12])


def test_ranking_text_marks_the_recommendation_beside_the_base_order():
    ranking = _ranking(CRIT)
    sens = _sens({"A": 0.15, "B": 0.55, "C": 0.30})
    text = ranking_text(ranking, sens, recommend(ranking, sens))
    lines = text.splitlines()
    assert lines[0].split() == ["rank", "locality", "score", "first", "in", "median", "rank", "rank", "in", "90%"]
    assert lines[1].split()[:4] == ["1", "A", "0.575", "15.0%"]
    assert lines[2].split()[:5] == ["2", "B", "*", "0.555", "55.0%"]
    assert lines[-1] == "* recommended: B (runner-up A)"
