"""The hub-site candidates are bounded: at most MAX_CANDIDATE_SITES enter the models, the ones that can
reach most demand, with a note (a 1,000,000-row register grew the hub-sites step past 12 GB)."""
from __future__ import annotations

import numpy as np
import pytest

from locmap.errors import SolverError
from locmap.localities import sites
from locmap.localities.sites import MAX_CANDIDATE_SITES, cap_candidates


def test_below_the_cap_every_candidate_is_kept_without_a_note():
    keep, note = cap_candidates(np.zeros((3, 2)), np.zeros((1, 2)), np.ones(1), 100.0, cap=3)
    assert keep.tolist() == [0, 1, 2] and note == ""


def test_above_the_cap_the_candidates_reaching_most_demand_are_kept_in_order():
    homes = np.array([[0.0, 0.0], [1000.0, 0.0], [5000.0, 0.0]])
    demand = np.array([10.0, 30.0, 5.0])
    cand = np.array([[5000.0, 50.0],   # reaches 5
                     [1000.0, 50.0],   # reaches 30
                     [9000.0, 0.0],    # reaches nothing
                     [500.0, 0.0],     # reaches 10 + 30 = 40 (both within 600 m)
                     [0.0, 50.0]])     # reaches 10
    keep, note = cap_candidates(cand, homes, demand, max_m=600.0, cap=3)
    assert keep.tolist() == [1, 3, 4]
    assert note == ("5 candidate sites, more than the cap of 3: the 3 with the most demand within 600 m in a "
                    "straight line were compared (MAX_CANDIDATE_SITES)")


def test_a_register_sized_candidate_set_is_cut_to_the_documented_cap():
    rng = np.random.default_rng(0)
    cand = rng.uniform(0, 10_000, (20_000, 2))
    homes = rng.uniform(0, 10_000, (800, 2))
    keep, note = cap_candidates(cand, homes, np.ones(800), max_m=1000.0)
    assert MAX_CANDIDATE_SITES == 150 and len(keep) == 150 and len(np.unique(keep)) == 150
    assert note.startswith("20,000 candidate sites, more than the cap of 150")


def test_no_solution_within_the_time_limit_is_a_one_line_error_not_a_traceback():
    """At a cap of 500 on a busy machine, spopt raised RuntimeError('Model is not solved: Not Solved')."""
    class Unsolved:
        def solve(self, solver, results=False):
            raise RuntimeError("Model is not solved: Not Solved.")

    with pytest.raises(SolverError, match=r"p-median model \(200 demand points x 500 candidate sites\) found no "
                                          r"solution within the solver's 120 s time limit") as err:
        sites._solve(Unsolved(), None, "p-median", (200, 500))
    assert err.value.exit_code == 1 and "What to do:" in str(err.value)
