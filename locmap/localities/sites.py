"""Hub-site suggestion: choose p sites that cover most children within pram distance.

Both models are solved with spopt.locate (PuLP + CBC) from a *cost matrix* (metres of
street or estimated distance, demand x candidate sites, from the routing engine):

* **MCLP** (maximal covering location problem, spopt ``MCLP``): choose ``p`` sites that
  maximise the children living within ``max_m`` metres (T minutes x walking speed).
  Demand already covered by *existing* services can be zero-weighted
  (``existing_cost_m``), so the model maximises *new* coverage.
* **p-median** (spopt ``PMedian``): choose ``p`` sites minimising the children-weighted
  total distance; reported with its coverage at ``max_m`` for comparison.

:func:`coverage_gain` solves MCLP for p = 1..P and reports the coverage gained by each
added site (the optimal sets are not always nested, so the table lists the full set).
:func:`cap_candidates` bounds the candidates compared (:data:`MAX_CANDIDATE_SITES`, with a note).
"""
from __future__ import annotations

import tempfile
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import pulp
from scipy.spatial import cKDTree

from locmap.errors import LocmapError, SolverError

#: Column descriptions of :func:`coverage_gain` / :func:`suggest_sites` tables.
SITES_COLUMNS: dict[str, tuple[str, str]] = {
    "model": ("name", "mclp (max coverage) or pmedian (min total distance)"),
    "p": ("sites", "number of sites chosen"),
    "order": ("position", "position of the site in the chosen set (1..p)"),
    "site_id": ("id", "candidate site id"),
    "sites": ("ids", "the chosen set, ';'-separated"),
    "site_names": ("names", "names of the chosen set, ';'-separated, in the order of sites"),
    "added_names": ("names", "names of added_sites"),
    "selected": ("ids", "the chosen sites, ';'-separated"),
    "selected_names": ("names", "names of the chosen sites, in the order of selected"),
    "name": ("name", "candidate site name"),
    "added_sites": ("ids", "sites in this set that were not in the set for p-1"),
    "children_covered": ("children", "children within max_m of a chosen site (new coverage "
                         "when existing services are given)"),
    "pct_children_covered": ("percent", "children_covered as % of all demand children"),
    "gain_children": ("children", "children_covered minus the value for p-1"),
    "gain_pct_points": ("percentage points", "pct_children_covered minus the value for p-1"),
    "mean_distance_m": ("metres", "children-weighted mean distance to the nearest chosen site"),
    "children_served": ("children", "children whose nearest chosen site is this site (p-median)"
                        " or who are within max_m of it (MCLP)"),
    "max_m": ("metres", "coverage distance (minutes x walking speed)"),
    "minutes": ("minutes", "coverage threshold in minutes of pram distance"),
    "status": ("label", "optimal, or stopped by the solver time limit (best solution found)"),
    "n_demand_classes": ("demand points", "demand points after merging identical ones (model size)"),
    "n_existing_services": ("services", "existing services whose coverage is not counted as new (MCLP); "
                            "0 = all coverage counts"),
}

BIG_M = 1e9


#: wall-clock limit per CBC solve (seconds); the result then says whether optimality was proven
SOLVER_TIME_LIMIT_S = 120.0
#: p-median models larger than this many demand points are aggregated (see solve_pmedian)
PMEDIAN_MAX_DEMAND_POINTS = 200
#: at most this many candidate sites enter the models of one locality (:func:`cap_candidates`):
#: the cost matrix is homes x candidates and CBC's models grow with it (a 1,000,000-row register
#: otherwise grew the hub-sites step past 12 GB; at 500, p-median found no solution within the time
#: limit on a busy machine).  Ealing's towns hold 7 to 41 candidates.
MAX_CANDIDATE_SITES = 150


def cap_candidates(cand_xy: np.ndarray, demand_xy: np.ndarray, demand: np.ndarray, max_m: float,
                   cap: int = MAX_CANDIDATE_SITES) -> tuple[np.ndarray, str]:
    """Positions of the candidate sites to compare (all of them up to ``cap``) and a note when capped.

    Above ``cap`` the candidates kept are the ``cap`` with the most demand within ``max_m`` metres in
    a straight line (an upper bound of what they can cover along streets, which are never shorter);
    ties keep the earlier candidate.  A candidate dropped covers at most what the last one kept
    covers in a straight line, so the sites suggested come from the ones that could cover most.
    """
    n = len(cand_xy)
    if n <= cap:
        return np.arange(n), ""
    tree = cKDTree(np.asarray(demand_xy, float))
    near = tree.query_ball_point(np.asarray(cand_xy, float), r=max_m, return_sorted=False)
    w = np.asarray(demand, float)
    reach = np.array([w[idx].sum() if len(idx) else 0.0 for idx in near])
    keep = np.sort(np.argsort(-reach, kind="stable")[:cap])
    return keep, (f"{n:,} candidate sites, more than the cap of {cap}: the {cap} with the most demand within "
                  f"{max_m:,.0f} m in a straight line were compared (MAX_CANDIDATE_SITES)")


def _solver(time_limit_s: float | None = None):
    return pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s or SOLVER_TIME_LIMIT_S)


def _solve(model, time_limit_s: float | None, what: str, shape: tuple[int, int]):
    """``model.solve`` with CBC; no solution within the time limit is a :class:`SolverError`, not a
    traceback.  CBC's files are written in a folder of their own that is removed however the solve
    ends (pulp deletes them only after a solve that returns: an interrupted run left them in /tmp)."""
    with tempfile.TemporaryDirectory(prefix="locmap-cbc-") as folder:
        solver = _solver(time_limit_s)
        solver.tmpDir = folder  # CBC's model and solution files: removed even when a Ctrl-C stops the solve
        try:
            return model.solve(solver, results=False)
        except RuntimeError as exc:  # spopt: "Model is not solved: Not Solved"
            raise SolverError(f"hub sites: the {what} model ({shape[0]} demand points x {shape[1]} candidate "
                              f"sites) found no solution within the solver's {time_limit_s or SOLVER_TIME_LIMIT_S:g} "
                              f"s time limit ({exc})") from exc


def _status(model) -> str:
    """"optimal" when CBC proved optimality, else that the time limit stopped it."""
    return "optimal" if getattr(model.problem, "sol_status", 1) == 1 else \
        "time limit reached: best solution found, optimality not proven"


def _aggregate_cost_rows(C: np.ndarray, w: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Group ``C``'s rows into ``n`` clusters (k-means, seeded); return weighted mean rows and summed weights."""
    # scikit-learn takes ~1 s to import; only large p-median problems need k-means
    from sklearn.cluster import KMeans  # noqa: PLC0415

    finite_max = float(np.max(C[C < BIG_M])) if (C < BIG_M).any() else 1.0
    X = np.minimum(C, 2.0 * finite_max)  # unreachable pairs: far, but not 1e9 (keeps k-means sane)
    labels = KMeans(n_clusters=n, n_init=1, random_state=0).fit_predict(X, sample_weight=w)
    W = np.bincount(labels, weights=w, minlength=n)
    rows = np.zeros((n, C.shape[1]))
    np.add.at(rows, labels, C * w[:, None])
    ok = W > 0
    return rows[ok] / W[ok, None], W[ok]


def _covering_classes(C: np.ndarray, w: np.ndarray, max_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Merge demand points that the same candidate set covers (exact for MCLP).

    Returns representative row indices and the summed weight of each class; points no
    candidate covers, or with zero weight, are left out (they cannot change the optimum).
    """
    A = np.isfinite(C) & (C <= max_m)
    useful = A.any(axis=1) & (w > 0)
    rows = np.flatnonzero(useful)
    if rows.size == 0:
        return rows, np.zeros(0)
    packed = np.packbits(A[rows], axis=1)
    _, first, inv = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    weights = np.bincount(inv.ravel(), weights=w[rows], minlength=first.size)
    return rows[first], weights


def _prepare(cost_m: np.ndarray, demand: np.ndarray, site_ids: Sequence | None):
    C = np.asarray(cost_m, dtype=float)
    w = np.asarray(demand, dtype=float)
    if C.ndim != 2 or C.shape[0] != len(w):
        raise LocmapError(f"cost matrix {C.shape} does not match {len(w)} demand points")
    if C.shape[1] == 0:
        raise LocmapError("no candidate sites")
    if (w < 0).any() or not np.isfinite(w).all():
        raise LocmapError("demand weights must be finite and non-negative")
    ids = np.asarray(site_ids if site_ids is not None else np.arange(C.shape[1]), dtype=object)
    if len(ids) != C.shape[1]:
        raise LocmapError(f"{len(ids)} site ids for {C.shape[1]} matrix columns")
    return C, w, ids


def _selected(model) -> np.ndarray:
    return np.array([j for j, v in enumerate(model.fac_vars) if (v.value() or 0) > 0.5], int)


def _coverage(C: np.ndarray, w: np.ndarray, sel: np.ndarray, max_m: float) -> float:
    if len(sel) == 0:
        return 0.0
    dmin = np.nanmin(np.where(np.isfinite(C[:, sel]), C[:, sel], np.inf), axis=1)
    return float(w[dmin <= max_m].sum())


def solve_mclp(cost_m: np.ndarray, demand: np.ndarray, max_m: float, p: int,
               site_ids: Sequence | None = None,
               existing_cost_m: np.ndarray | None = None, time_limit_s: float | None = None) -> dict:
    """Maximal covering: ``p`` sites maximising demand within ``max_m`` (spopt ``MCLP``).

    Demand points covered by exactly the same candidates are merged before solving
    (:func:`_covering_classes`; exact for MCLP), so the model size follows the number of
    distinct covering patterns, not of homes.

    Parameters
    ----------
    cost_m : ndarray (n_demand, n_sites)
        Distances in metres (NaN/inf = unreachable).
    demand : ndarray (n_demand,)
        Children at each demand point.
    max_m : float
        Coverage distance in metres.
    p : int
        Number of sites.
    existing_cost_m : ndarray (n_demand, n_existing), optional
        Distances to existing services: demand already within ``max_m`` gets weight 0.

    Returns
    -------
    dict
        ``selected`` (site ids, in column order), ``selected_idx``, ``children_covered``,
        ``pct_children_covered`` (of all demand), ``n_clients_uncovered`` and
        ``pct_clients_covered`` (unweighted, as spopt reports), ``mean_distance_m``.
    """
    from spopt.locate import MCLP  # noqa: PLC0415  (spopt: ~1.4 s import, only when solving)

    C, w, ids = _prepare(cost_m, demand, site_ids)
    if not 1 <= p <= C.shape[1]:
        raise LocmapError(f"p={p} must be between 1 and the {C.shape[1]} candidate sites")
    w_eff = w.copy()
    if existing_cost_m is not None:
        E = np.asarray(existing_cost_m, float)
        if E.shape[1]:
            already = np.nanmin(np.where(np.isfinite(E), E, np.inf), axis=1) <= max_m
            w_eff[already] = 0.0
    Cs = np.where(np.isfinite(C), C, BIG_M)
    rep, w_rep = _covering_classes(C, w_eff, max_m)
    if rep.size == 0:  # nothing left to cover: any p sites do; take the first p
        sel, status = np.arange(p), "trivial: no uncovered demand within reach of any candidate"
        objective = 0.0
    else:
        model = MCLP.from_cost_matrix(Cs[rep], w_rep, service_radius=float(max_m), p_facilities=int(p))
        model = _solve(model, time_limit_s, "MCLP", Cs[rep].shape)
        sel, status = _selected(model), _status(model)
        objective = float(model.problem.objective.value() or 0.0)
    covered = _coverage(C, w_eff, sel, max_m)
    dmin = Cs[:, sel].min(axis=1)
    n_unc = int((dmin > max_m).sum())
    tot = float(w.sum())
    return {"model": "mclp", "p": int(p), "selected_idx": sel, "selected": list(ids[sel]),
            "children_covered": covered,
            "pct_children_covered": 100 * covered / tot if tot > 0 else np.nan,
            "n_clients_uncovered": n_unc,
            "pct_clients_covered": 100 * (len(w) - n_unc) / len(w),
            "mean_distance_m": float((w * dmin).sum() / tot) if tot > 0 else np.nan,
            "max_m": float(max_m), "objective": objective, "status": status,
            "n_demand_classes": int(rep.size)}


def solve_pmedian(cost_m: np.ndarray, demand: np.ndarray, p: int,
                  site_ids: Sequence | None = None, max_m: float | None = None,
                  time_limit_s: float | None = None,
                  max_demand_points: int = PMEDIAN_MAX_DEMAND_POINTS) -> dict:
    """p-median: ``p`` sites minimising demand-weighted distance (spopt ``PMedian``).

    Demand points with zero weight are dropped and points with identical cost rows merged
    before solving (neither changes the optimum).  Large problems (thousands of homes x
    hundreds of candidates) are aggregated first: above ``max_demand_points`` distinct
    demand points, k-means on the cost rows (scikit-learn, seeded) groups points that are
    similarly far from every candidate; each group keeps its summed demand and its
    demand-weighted mean cost row.  The reported ``mean_distance_m`` is always evaluated on
    all demand points, and ``status`` says when aggregation or the time limit applied.  Returns ``selected``, ``mean_distance_m`` (weighted mean distance to the
    nearest chosen site) and, if ``max_m`` is given, ``children_covered`` /
    ``pct_children_covered``.
    """
    from spopt.locate import PMedian  # noqa: PLC0415  (spopt: ~1.4 s import, only when solving)

    C, w, ids = _prepare(cost_m, demand, site_ids)
    if not 1 <= p <= C.shape[1]:
        raise LocmapError(f"p={p} must be between 1 and the {C.shape[1]} candidate sites")
    Cs = np.where(np.isfinite(C), C, BIG_M)
    keep = np.flatnonzero(w > 0)
    _, first, inv = np.unique(Cs[keep], axis=0, return_index=True, return_inverse=True)
    w_rep = np.bincount(inv.ravel(), weights=w[keep], minlength=first.size)
    C_rep = Cs[keep[first]]
    note = ""
    if first.size > max_demand_points:
        C_rep, w_rep = _aggregate_cost_rows(C_rep, w_rep, max_demand_points)
        note = (f"; demand aggregated from {first.size} to {max_demand_points} points (k-means on cost "
                "rows); the mean distance is evaluated on every demand point")
    model = _pmedian_model(PMedian, C_rep, w_rep, int(p))
    model = _solve(model, time_limit_s, "p-median", C_rep.shape)
    sel = _selected(model)
    dmin = Cs[:, sel].min(axis=1)
    tot = float(w.sum())
    out = {"model": "pmedian", "p": int(p), "selected_idx": sel, "selected": list(ids[sel]),
           "mean_distance_m": float((w * dmin).sum() / tot) if tot > 0 else np.nan,
           "objective": float(model.problem.objective.value() or 0.0), "status": _status(model) + note,
           "n_demand_classes": int(len(w_rep))}
    if max_m is not None:
        cov = _coverage(C, w, sel, max_m)
        out.update({"children_covered": cov,
                    "pct_children_covered": 100 * cov / tot if tot > 0 else np.nan,
                    "max_m": float(max_m)})
    return out


def _pmedian_model(pmedian_cls, cost_m: np.ndarray, demand: np.ndarray, p: int):
    """spopt's ``PMedian.from_cost_matrix(cost_m, demand, p_facilities=p)``: the same variables,
    objective and constraints, in the same order and with the same coefficients (the model CBC reads
    is the same to the byte, tested), built term by term from coefficient lists rather than through
    one PuLP expression per term, which made most of the hub-sites step's own time.

    Variables ``y[j]`` (site j open) and ``z[i_j]`` (demand i served by j); minimise
    sum ``demand_i x cost_ij x z_ij``; ``sum y = p``; ``sum_j z_ij = 1``; ``y_j - z_ij >= 0``.
    """
    n_cli, n_fac = cost_m.shape
    problem = pulp.LpProblem("p-median", pulp.LpMinimize)
    aij = np.reshape(demand, (n_cli, 1)) * cost_m
    model = pmedian_cls("p-median", problem, aij, demand.sum())
    y = [pulp.LpVariable(f"y[{j}]", lowBound=0, upBound=1, cat=pulp.LpInteger) for j in range(n_fac)]
    z = [[pulp.LpVariable(f"z[{i}_{j}]", lowBound=0, upBound=1, cat=pulp.LpBinary) for j in range(n_fac)]
         for i in range(n_cli)]
    model.fac_vars, model.cli_assgn_vars = y, np.array(z)
    # a zero term is left out of the objective, as PuLP leaves out a product by 0; floats, as PuLP makes them
    terms = [(z[i][j], float(a)) for i, row in enumerate(aij.tolist()) for j, a in enumerate(row) if a != 0]
    if not all(np.isfinite(a) for _, a in terms):
        raise pulp.PulpError("Cannot multiply variables with NaN/inf values")
    problem += pulp.LpAffineExpression(terms, constant=0.0), "objective function"
    problem += pulp.lpSum(y) == p
    for i in range(n_cli):
        problem += pulp.lpSum(z[i]) == 1
    for i in range(n_cli):
        for j in range(n_fac):
            problem.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression([(y[j], 1), (z[i][j], -1)], constant=0),
                                                    pulp.LpConstraintGE, rhs=0))
    return model


def coverage_gain(cost_m: np.ndarray, demand: np.ndarray, max_m: float, p_max: int,
                  site_ids: Sequence | None = None,
                  existing_cost_m: np.ndarray | None = None,
                  model: str = "mclp", solved: Mapping[int, dict] | None = None) -> pd.DataFrame:
    """Solve for p = 1..``p_max`` and report coverage and the gain of each added site.

    ``solved``: results of this very model already solved for some p (``p -> solve_mclp`` or
    ``solve_pmedian`` result), used instead of solving it again.

    Returns
    -------
    DataFrame
        ``model, p, sites, added_sites, children_covered, pct_children_covered,
        gain_children, gain_pct_points, mean_distance_m, max_m``.
    """
    rows, prev_cov, prev_pct, prev = [], 0.0, 0.0, set()
    C, w, _ = _prepare(cost_m, demand, site_ids)
    p_max = min(int(p_max), C.shape[1])
    for p in range(1, p_max + 1):
        if solved and p in solved:
            r = solved[p]
        elif model == "mclp":
            r = solve_mclp(cost_m, demand, max_m, p, site_ids, existing_cost_m)
        else:
            r = solve_pmedian(cost_m, demand, p, site_ids, max_m)
        s = [str(x) for x in r["selected"]]
        rows.append({"model": r["model"], "p": p, "sites": ";".join(s),
                     "added_sites": ";".join(x for x in s if x not in prev),
                     "children_covered": r["children_covered"],
                     "pct_children_covered": r["pct_children_covered"],
                     "gain_children": r["children_covered"] - prev_cov,
                     "gain_pct_points": r["pct_children_covered"] - prev_pct,
                     "mean_distance_m": r["mean_distance_m"], "max_m": float(max_m)})
        prev_cov, prev_pct, prev = r["children_covered"], r["pct_children_covered"], set(s)
    return pd.DataFrame(rows)


def suggest_sites(cost_m: np.ndarray, demand: np.ndarray, site_ids: Sequence, p: int,
                  max_m: float, sites: pd.DataFrame | None = None,
                  existing_cost_m: np.ndarray | None = None,
                  minutes: float | None = None) -> dict:
    """MCLP and p-median suggestions for ``p`` sites, plus the per-site coverage gain.

    Parameters
    ----------
    sites : DataFrame, optional
        Candidate attributes (``site_id`` + e.g. ``name, service_type``) joined to output.

    Returns
    -------
    dict
        ``sites`` (one row per chosen site and model: ``model, p, order, site_id,
        children_served`` + attributes), ``gain`` (:func:`coverage_gain`, MCLP),
        ``summary`` (one row per model).
    """
    C, w, ids = _prepare(cost_m, demand, site_ids)
    mc = solve_mclp(C, w, max_m, p, ids, existing_cost_m)
    pm = solve_pmedian(C, w, p, ids, max_m)
    Cs = np.where(np.isfinite(C), C, np.inf)
    rows = []
    for r in (mc, pm):
        sel = r["selected_idx"]
        nearest = sel[np.argmin(Cs[:, sel], axis=1)] if len(sel) else np.array([], int)
        for o, j in enumerate(sel, start=1):
            if r["model"] == "mclp":
                served = float(w[Cs[:, j] <= max_m].sum())
            else:
                served = float(w[nearest == j].sum())
            rows.append({"model": r["model"], "p": p, "order": o, "site_id": ids[j],
                         "children_served": served})
    out_sites = pd.DataFrame(rows)
    summary = pd.DataFrame([{k: (";".join(map(str, v)) if k == "selected" else v)
                             for k, v in r.items() if k != "selected_idx"} for r in (mc, pm)])
    if minutes is not None:
        summary["minutes"] = float(minutes)
    summary["n_existing_services"] = 0 if existing_cost_m is None else int(np.asarray(existing_cost_m).shape[1])
    gain = coverage_gain(C, w, max_m, p, ids, existing_cost_m, solved={p: mc})
    if sites is not None and "site_id" in sites.columns:
        out_sites, gain, summary = _with_site_names(out_sites, gain, summary, sites)
    return {"sites": out_sites, "gain": gain, "summary": summary}


def _with_site_names(out_sites: pd.DataFrame, gain: pd.DataFrame, summary: pd.DataFrame,
                     sites: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Candidate attributes joined to the chosen sites (name right after the id) and the
    names of every ';'-separated id list beside it (``selected_names``, ``site_names``,
    ``added_names``)."""
    extra = pd.DataFrame(sites.drop(columns="geometry", errors="ignore"))
    out_sites = out_sites.merge(extra, on="site_id", how="left")
    if "name" not in extra.columns:
        return out_sites, gain, summary
    cols = list(out_sites.columns)
    cols.remove("name")
    cols.insert(cols.index("site_id") + 1, "name")
    name_of = dict(zip(extra["site_id"].astype(str), extra["name"].astype(str)))

    def names(ids: str) -> str:
        return ";".join(name_of.get(i, i) for i in ids.split(";")) if ids else ""

    summary.insert(summary.columns.get_loc("selected") + 1, "selected_names",
                   summary["selected"].map(names))
    gain.insert(gain.columns.get_loc("sites") + 1, "site_names", gain["sites"].map(names))
    gain.insert(gain.columns.get_loc("added_sites") + 1, "added_names",
                gain["added_sites"].map(names))
    return out_sites[cols], gain, summary
