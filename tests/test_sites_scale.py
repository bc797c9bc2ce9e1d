"""Hub-site models stay exact (MCLP) or say how they were approximated (large p-median)."""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from locmap.localities import sites


def _instance(n=60, m=7, seed=3):
    rng = np.random.default_rng(seed)
    demand_xy = rng.uniform(0, 3000, (n, 2))
    cand_xy = rng.uniform(0, 3000, (m, 2))
    C = np.hypot(*(demand_xy[:, None, :] - cand_xy[None, :, :]).transpose(2, 0, 1))
    w = rng.integers(0, 20, n).astype(float)
    return C, w


@pytest.mark.parametrize("p", [1, 2, 3])
def test_mclp_with_merged_covering_classes_matches_brute_force(p):
    C, w = _instance()
    best = max(w[(C[:, list(s)] <= 900).any(axis=1)].sum() for s in combinations(range(C.shape[1]), p))
    res = sites.solve_mclp(C, w, 900.0, p)
    assert res["children_covered"] == pytest.approx(best)
    assert res["status"] == "optimal"
    assert res["n_demand_classes"] < int((w > 0).sum())  # the model really was reduced


def test_pmedian_matches_brute_force_when_small():
    C, w = _instance()
    best = min((w * C[:, list(s)].min(axis=1)).sum() for s in combinations(range(C.shape[1]), 2))
    res = sites.solve_pmedian(C, w, 2)
    assert res["mean_distance_m"] * w.sum() == pytest.approx(best)
    assert res["status"] == "optimal"


def test_large_pmedian_is_aggregated_and_says_so():
    C, w = _instance(n=400, m=8, seed=5)
    w = w + 1.0
    best = min((w * C[:, list(s)].min(axis=1)).sum() for s in combinations(range(C.shape[1]), 2))
    res = sites.solve_pmedian(C, w, 2, max_demand_points=40)
    assert "aggregated from 400 to 40" in res["status"]
    assert res["n_demand_classes"] == 40
    # evaluated on every point, and close to the true optimum on this instance
    assert res["mean_distance_m"] * w.sum() <= best * 1.02
