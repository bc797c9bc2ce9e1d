"""The localities step's fast paths equal the straightforward computations to the bit.

Scenario scorecards (speed x gap x distance-error field) come from one home x service-type matrix
and one grouped sum per scheme; criteria are computed on arrays; SKATER's cut search builds each
candidate forest from its edge list; alignment tables come from integer codes.  Each is checked
here against a reference written the plain way (pandas pivots and groupbys, one scorecard per
scenario, spopt's own cut search) on the synthetic area or random data.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import csr_array
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from locmap.localities.alignment import alignment_index, crosstab
from locmap.localities.ranking import (CRITERIA, criteria_table, distance_fields, distance_model_scenarios,
                                       rescale_minutes)
from locmap.localities.schemes import _best_cut, _cityblock, _forest_labels, scheme_from_column
from locmap.localities.scorecard import _nearest_by_type, build_scorecard, nearest_matrix, scenario_scorecards
from locmap.localities.testing import synthetic_area

KEY = ["childrens_centre", "gp_practice", "library"]


@pytest.fixture(scope="module")
def syn():
    area = synthetic_area(seed=4)
    area["towns"] = scheme_from_column(area["lsoa"], "town", "towns")
    return area


def _card(syn, distances, speed_kmh, gap_min, thresholds=(10.0, 15.0, 20.0)):
    return build_scorecard(syn["towns"].assignment, syn["lsoa"], syn["homes"], syn["services"], distances,
                           key_service_types=KEY, thresholds_minutes=thresholds, gap_threshold_min=gap_min,
                           scheme_name="towns", walk_speed_kmh=speed_kmh)


def test_nearest_matrix_is_the_pivot_of_the_rank_1_rows(syn):
    d = syn["distances"]
    d = pd.concat([d, d[d["rank"] == 1].head(5).assign(minutes=-1.0)])  # repeated (home, type): first counts
    ids = list(syn["homes"]["home_id"].iloc[::-1]) + ["nobody"]
    want = _nearest_by_type(d).pivot(index="home_id", columns="service_type", values="minutes").reindex(ids)
    got = nearest_matrix(d, ids)
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
    assert list(got.columns) == list(want.columns) == sorted(KEY)
    assert got.loc["nobody"].isna().all() and (got.to_numpy() >= 0).all(where=~np.isnan(got.to_numpy()))


@pytest.mark.parametrize("thresholds", [(10.0, 15.0, 20.0), (10.0, 20.0)])
def test_scenario_scorecards_equal_a_scorecard_built_for_each_scenario(syn, thresholds):
    base = _card(syn, rescale_minutes(syn["distances"], 4.0), 4.0, 15.0, thresholds)
    speeds, gaps = (3.5, 4.8), (10.0, 12.0, 20.0)  # 12 min: a gap threshold without coverage columns
    cards = scenario_scorecards(base, syn["towns"].assignment, syn["homes"],
                                {v: rescale_minutes(syn["distances"], v) for v in speeds}, gaps,
                                key_service_types=KEY, thresholds_minutes=thresholds)
    assert list(cards) == [f"{v:g}kmh_{g:g}min" for v in speeds for g in gaps]
    for v in speeds:
        for g in gaps:
            pd.testing.assert_frame_equal(cards[f"{v:g}kmh_{g:g}min"],
                                          _card(syn, rescale_minutes(syn["distances"], v), v, g, thresholds),
                                          check_exact=True)


def test_distance_field_scenarios_equal_scorecards_of_the_scaled_distances(syn):
    d = rescale_minutes(syn["distances"], 4.0)
    base = _card(syn, d, 4.0, 15.0)
    cards = distance_model_scenarios(base, syn["towns"].assignment, syn["homes"], d, [3.5, 4.0], (10.0, 15.0),
                                     key_service_types=KEY, n_fields=2)
    assert len(cards) == 2 * 2 * 2
    for j, mult in enumerate(distance_fields(syn["homes"], 2), start=1):
        scaled = d.copy()  # the field as the reference applies it: every distance row x its home's ratio
        scaled["distance_m"] = scaled["distance_m"] * scaled["home_id"].map(mult).fillna(1.0).to_numpy(float)
        for v in (3.5, 4.0):
            for g in (10.0, 15.0):
                pd.testing.assert_frame_equal(cards[f"{v:g}kmh_{g:g}min_distfield{j}"],
                                              _card(syn, rescale_minutes(scaled, v), v, g), check_exact=True)


def _minmax_ref(s: pd.Series) -> pd.Series:
    s = s.astype(float)
    lo, hi = s.min(), s.max()
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo <= 1e-12:
        return pd.Series(0.5, index=s.index)
    return ((s - lo) / (hi - lo)).fillna(0.5)


def _criteria_ref(sc: pd.DataFrame, columns: dict) -> pd.DataFrame:
    """Criteria the plain pandas way: min-max each column, mean per criterion (0.5 without columns)."""
    sc = sc.copy()
    guide = (sc["size_guide_min"] + sc["size_guide_max"]) / 2
    sc["size_fit"] = 1.0 / (1.0 + np.abs(sc["size_gap_people"]) / guide)
    sc = sc.set_index("locality")
    out = pd.DataFrame(index=sc.index)
    for c in CRITERIA:
        parts = [(_minmax_ref(sc[col]) if d > 0 else 1 - _minmax_ref(sc[col]))
                 for col, d in columns.get(c, []) if col in sc.columns]
        out[f"crit_{c}"] = pd.concat(parts, axis=1).mean(axis=1) if parts else 0.5
    return out


def test_criteria_equal_the_pandas_computation_to_the_bit():
    rng = np.random.default_rng(7)
    columns = {"need": [("a", 1), ("b", 1), ("c", -1)], "gaps": [("d", 1)], "readiness": [("e", 1), ("f", -1)],
               "alignment": [("missing", 1)], "size": [("size_fit", 1)]}
    for n in (2, 5, 9):
        sc = pd.DataFrame({"locality": [f"L{i}" for i in range(n)], "a": rng.random(n) * 100,
                           "b": rng.integers(0, 50, n), "c": np.where(rng.random(n) < 0.3, np.nan, rng.random(n)),
                           "d": np.full(n, 3.0), "e": rng.random(n), "f": rng.random(n) * 1e-3,
                           "size_guide_min": 30000.0, "size_guide_max": 50000.0,
                           "size_gap_people": rng.normal(0, 9000, n), "gap_threshold_min": 15.0})
        got, want = criteria_table(sc, columns), _criteria_ref(sc, columns)
        np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
        assert list(got.index) == list(want.index)
        assert (got["crit_gaps"] == 0.5).all() and (got["crit_alignment"] == 0.5).all()


def test_forest_labels_number_components_as_scipy_does():
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 30):
        m = int(rng.integers(0, max(n - 1, 1)))
        rows, cols = rng.integers(0, n, m), rng.integers(0, n, m)
        graph = csr_array((np.ones(m), (rows, cols)), shape=(n, n))
        np.testing.assert_array_equal(_forest_labels(n, rows, cols), connected_components(graph, directed=False)[1])


def test_skater_cut_search_finds_spopts_cut_and_score():
    from spopt.region.skater import SpanningForest

    rng = np.random.default_rng(11)
    for n in (5, 12, 25):
        X = rng.random((n, 3))
        dense = np.triu(rng.random((n, n)) + 0.01, 1)
        msf = minimum_spanning_tree(csr_array(dense))
        msf.eliminate_zeros()
        forest = SpanningForest(dissimilarity=_cityblock)
        want = forest.find_cut(msf.copy(), X)
        got = _best_cut(forest, msf, X, -np.inf)
        assert (int(got[0]), int(got[1]), got[2]) == (int(want.in_node), int(want.out_node), want.score)
        assert np.isfinite(got[2])


def test_cityblock_is_scikit_learns_manhattan_distance():
    from sklearn.metrics.pairwise import manhattan_distances

    X, Y = np.random.default_rng(2).random((9, 4)), np.random.default_rng(5).random((3, 4))
    np.testing.assert_array_equal(_cityblock(X), manhattan_distances(X))
    np.testing.assert_array_equal(_cityblock(X, Y), manhattan_distances(X, Y))


def test_alignment_tables_equal_pivot_tables_and_scikit_learn_on_the_names():
    rng = np.random.default_rng(9)
    idx = [f"E{i:03d}" for i in range(120)]
    a = pd.Series(rng.choice(["West", "Centre", "East", "North"], 120), index=idx)
    b = pd.Series(rng.choice([f"P{i}" for i in range(10)], 120), index=idx)
    w = pd.Series(rng.random(120) * 500, index=idx)
    d = pd.DataFrame({"a": a.astype(str), "b": b.astype(str), "w": w})
    want = d.pivot_table(index="a", columns="b", values="w", aggfunc="sum", fill_value=0.0)
    want.index.name, want.columns.name = "scheme_a", "scheme_b"
    pd.testing.assert_frame_equal(crosstab(a, b, w), want, check_exact=True)
    rows = want.div(want.sum(axis=1), axis=0)
    pd.testing.assert_frame_equal(crosstab(a, b, w, normalize="index"), rows, check_exact=True)
    res = alignment_index(a, b, w)
    assert res["ari"] == adjusted_rand_score(a.to_numpy(), b.to_numpy())
    assert res["nmi"] == normalized_mutual_info_score(a.to_numpy(), b.to_numpy())
    assert res["purity_a_in_b"] == float((want.to_numpy() / want.to_numpy().sum()).max(axis=1).sum())
