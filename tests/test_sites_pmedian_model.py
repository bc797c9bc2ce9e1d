"""The p-median model the hub-sites step builds is spopt's ``PMedian.from_cost_matrix`` model.

:func:`locmap.localities.sites._pmedian_model` builds the model term by term (faster); CBC reads
the model as PuLP writes it, so the written MPS and LP files must be spopt's to the byte -- zero
costs (left out of the objective) and unreachable pairs (``BIG_M``) included -- and the solutions
the same.
"""
from __future__ import annotations

import tempfile

import numpy as np
import pulp
import pulp.apis.coin_api as coin_api
import pytest
from spopt.locate import PMedian

from locmap.localities.sites import BIG_M, _pmedian_model, _selected, _solver, solve_pmedian


def _instance(seed: int, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    C = rng.random((n, m)) * 3000.0
    C[rng.random((n, m)) < 0.1] = 0.0  # a home at the candidate site
    C[rng.random((n, m)) < 0.05] = BIG_M  # unreachable
    return C, rng.random(n) * 20.0


@pytest.mark.parametrize(("seed", "n", "m", "p"), [(1, 5, 3, 1), (2, 40, 12, 2), (3, 200, 41, 3)])
def test_pmedian_model_is_spopts_model_as_cbc_reads_it(tmp_path, seed, n, m, p):
    C, w = _instance(seed, n, m)
    theirs, ours = PMedian.from_cost_matrix(C, w, p_facilities=p), _pmedian_model(PMedian, C, w, p)
    for model, name in ((theirs, "theirs"), (ours, "ours")):
        model.problem.writeMPS(tmp_path / f"{name}.mps")
        model.problem.writeLP(tmp_path / f"{name}.lp")
    assert (tmp_path / "ours.mps").read_bytes() == (tmp_path / "theirs.mps").read_bytes()
    assert (tmp_path / "ours.lp").read_bytes() == (tmp_path / "theirs.lp").read_bytes()
    assert len(ours.problem.constraints) == 1 + n + n * m
    assert len(ours.problem.objective) == int((C != 0).sum())  # zero costs left out, as PuLP does
    assert [v.name for v in ours.fac_vars] == [v.name for v in theirs.fac_vars]
    np.testing.assert_array_equal(ours.aij, theirs.aij)
    assert ours.ai_sum == theirs.ai_sum


def test_pmedian_model_solves_to_spopts_sites():
    rng = np.random.default_rng(5)  # distances between points: a model CBC solves in a blink
    homes, sites = rng.random((60, 2)) * 4000.0, rng.random((15, 2)) * 4000.0
    C, w = np.hypot(*(homes[:, None, :] - sites[None, :, :]).transpose(2, 0, 1)), rng.random(60) * 20.0
    chosen = []
    for model in (PMedian.from_cost_matrix(C, w, p_facilities=3), _pmedian_model(PMedian, C, w, 3)):
        model.solve(_solver(), results=False)
        chosen.append((_selected(model).tolist(), model.problem.objective.value()))
    assert chosen[0] == chosen[1] and len(chosen[0][0]) == 3


def test_solve_pmedian_still_picks_the_obvious_site():
    # two clusters of homes; one candidate in each cluster, one far away: p=2 takes the two near ones
    C = np.array([[10.0, 900.0, 5000.0], [20.0, 950.0, 5000.0], [900.0, 15.0, 5000.0], [980.0, 5.0, 5000.0]])
    r = solve_pmedian(C, np.array([3.0, 2.0, 4.0, 1.0]), 2, ["a", "b", "far"])
    assert r["selected"] == ["a", "b"] and r["status"] == "optimal"
    assert r["mean_distance_m"] == pytest.approx((3 * 10 + 2 * 20 + 4 * 15 + 1 * 5) / 10.0)


def test_non_finite_cost_is_refused_as_pulp_refuses_it():
    C, w = _instance(7, 4, 3)
    C[1, 2] = np.nan
    with pytest.raises(pulp.PulpError):
        _pmedian_model(PMedian, C, w, 1)


def test_a_solve_stopped_by_ctrl_c_leaves_no_solver_file_behind(tmp_path, monkeypatch):
    """pulp writes CBC's model (.mps) before starting CBC and deletes it only after a solve that
    returns; a Ctrl-C while CBC runs left it in the temporary folder.  The solve's files now live in
    a folder of their own, removed as the interrupt passes through."""
    def ctrl_c_while_cbc_starts(*_args, **_kwargs):
        assert any(tmp_path.rglob("*.mps")), "pulp wrote the model before starting CBC"
        raise KeyboardInterrupt

    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where pulp (and tempfile) put temporary files
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(coin_api.subprocess, "Popen", ctrl_c_while_cbc_starts)
    C = np.array([[10.0, 900.0], [900.0, 15.0]])
    with pytest.raises(KeyboardInterrupt):
        solve_pmedian(C, np.array([3.0, 2.0]), 1, ["a", "b"])
    assert list(tmp_path.iterdir()) == []
