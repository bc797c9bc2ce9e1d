"""Ranking localities for a pathfinder, always with its stability.

Five criteria, each normalised to 0-1 across the localities of one scheme (1 = more
suitable as pathfinder), combined with explicit, user-settable :class:`Weights`:

* ``need``      : mean of normalised child deprivation (``pct_children_idaci_most_deprived_20``,
  ``imd_score_popw``) and number of children (``pop_0_19``);
* ``gaps``      : share of children beyond pram distance (``pct_gap_children``) -- more gap,
  more to gain;
* ``readiness`` : assets to build on: children's centres and GP practices per 1,000
  children and coverage of any key service within the middle threshold;
* ``alignment`` : mean of ``align_town_share`` and ``align_pcn_share`` minus hard-edge risk;
* ``size``      : closeness to the size guide (1 inside 30-50k, falling off outside).

:func:`sensitivity` draws weights from a Dirichlet distribution (seeded) and, optionally,
scenarios (e.g. walking speed / threshold, as precomputed scorecards or a callable), and
reports for each locality the probability of ranking first (sums to 1) and its rank range.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

CRITERIA: tuple[str, ...] = ("need", "gaps", "readiness", "alignment", "size")

#: criterion -> list of (scorecard column, direction +1 higher is better / -1 lower is better)
DEFAULT_CRITERIA_COLUMNS: dict[str, list[tuple[str, int]]] = {
    "need": [("pct_children_idaci_most_deprived_20", +1), ("imd_score_popw", +1),
             ("pop_0_19", +1)],
    "gaps": [("pct_gap_children", +1)],
    "readiness": [("childrens_centre_per_1000", +1), ("gp_practice_per_1000", +1),
                  ("pct_children_within_15min_any_key", +1)],
    "alignment": [("align_town_share", +1), ("align_pcn_share", +1),
                  ("hard_edge_risk_pct", -1)],
    "size": [("size_fit", +1)],
}

RANKING_COLUMNS: dict[str, tuple[str, str]] = {
    "locality": ("name", "locality"),
    "crit_need": ("score 0-1", "normalised need (1 = highest need among the localities)"),
    "crit_gaps": ("score 0-1", "normalised share of gap children (1 = largest gap)"),
    "crit_readiness": ("score 0-1", "normalised assets/coverage to build on"),
    "crit_alignment": ("score 0-1", "normalised town/PCN alignment minus hard-edge risk"),
    "crit_size": ("score 0-1", "normalised closeness to the size guide"),
    "score": ("score 0-1", "weighted sum of the criteria"),
    "rank": ("rank", "1 = best pathfinder candidate under these weights"),
}

SENSITIVITY_COLUMNS: dict[str, tuple[str, str]] = {
    "locality": ("name", "locality"),
    "p_first": ("probability 0-1", "share of Monte-Carlo draws in which the locality ranks first "
                "(sums to 1 over localities)"),
    "rank_base": ("rank", "rank under the base weights and base scenario"),
    "rank_min": ("rank", "best rank over all draws"),
    "rank_max": ("rank", "worst rank over all draws"),
    "rank_p05": ("rank", "5th percentile of rank"),
    "rank_p95": ("rank", "95th percentile of rank"),
    "rank_median": ("rank", "median rank"),
    "score_mean": ("score 0-1", "mean weighted score over draws"),
    "n_draws": ("draws", "number of Monte-Carlo draws"),
}


@dataclass(frozen=True)
class Weights:
    """Criterion weights (non-negative; normalised to sum 1 when used)."""

    need: float = 0.30
    gaps: float = 0.25
    readiness: float = 0.20
    alignment: float = 0.15
    size: float = 0.10

    def as_array(self) -> np.ndarray:
        """Weights in :data:`CRITERIA` order, normalised to sum 1."""
        v = np.array([getattr(self, c) for c in CRITERIA], dtype=float)
        if (v < 0).any() or v.sum() <= 0:
            raise ValueError(f"weights must be non-negative with a positive sum: {asdict(self)}")
        return v / v.sum()

    @classmethod
    def parse(cls, text: str | None) -> "Weights":
        """From ``"need=0.4,gaps=0.3,..."`` (missing names keep their defaults)."""
        if not text:
            return cls()
        vals = {}
        names = {f.name for f in fields(cls)}
        for part in text.split(","):
            k, _, v = part.partition("=")
            k = k.strip()
            if k not in names:
                raise ValueError(f"unknown weight '{k}' (one of {', '.join(CRITERIA)})")
            vals[k] = float(v)
        return cls(**vals)


def _minmax(s: pd.Series) -> pd.Series:
    s = s.astype(float)
    lo, hi = s.min(), s.max()
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo <= 1e-12:
        return pd.Series(0.5, index=s.index)
    return ((s - lo) / (hi - lo)).fillna(0.5)


def criteria_table(scorecard: pd.DataFrame,
                   columns: Mapping[str, list[tuple[str, int]]] | None = None) -> pd.DataFrame:
    """Normalised criteria (0-1, 1 = more suitable), one row per locality.

    Each criterion is the mean of its min-max normalised columns (direction applied);
    columns absent from the scorecard are skipped; a criterion with no column is 0.5.
    """
    columns = dict(columns or DEFAULT_CRITERIA_COLUMNS)
    sc = scorecard.set_index("locality")
    sc = sc.copy()
    if "size_gap_people" in sc.columns and "size_guide_min" in sc.columns:
        guide = (sc["size_guide_min"] + sc["size_guide_max"]) / 2
        sc["size_fit"] = 1.0 / (1.0 + np.abs(sc["size_gap_people"]) / guide)
    out = pd.DataFrame(index=sc.index)
    for c in CRITERIA:
        parts = [(_minmax(sc[col]) if d > 0 else 1 - _minmax(sc[col]))
                 for col, d in columns.get(c, []) if col in sc.columns]
        out[f"crit_{c}"] = pd.concat(parts, axis=1).mean(axis=1) if parts else 0.5
    return out


def rank_localities(scorecard: pd.DataFrame, weights: Weights | None = None,
                    columns: Mapping[str, list[tuple[str, int]]] | None = None) -> pd.DataFrame:
    """Weighted score and rank (1 = best) of each locality; ties broken by locality name.

    Never show this alone: pair it with :func:`sensitivity`.
    """
    weights = weights or Weights()
    crit = criteria_table(scorecard, columns)
    crit["score"] = crit[[f"crit_{c}" for c in CRITERIA]].to_numpy() @ weights.as_array()
    crit = crit.reset_index()
    crit = crit.sort_values(["score", "locality"], ascending=[False, True]).reset_index(drop=True)
    crit["rank"] = np.arange(1, len(crit) + 1)
    return crit


def _ranks(C: np.ndarray, W: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """Ranks (1 = best) for each weight draw: C (n_loc, n_crit), W (n_draw, n_crit)."""
    S = W @ C.T  # (n_draw, n_loc)
    # sort by score desc, then tiebreak (alphabetical position) asc
    order = np.lexsort((np.broadcast_to(tiebreak, S.shape), -np.round(S, 12)), axis=1)
    ranks = np.empty_like(order)
    rows = np.arange(S.shape[0])[:, None]
    ranks[rows, order] = np.arange(1, S.shape[1] + 1)
    return ranks, S


def sensitivity(scorecards: pd.DataFrame | Mapping[str, pd.DataFrame],
                weights: Weights | None = None, n_draws: int = 2000,
                concentration: float | None = None, seed: int = 0,
                columns: Mapping[str, list[tuple[str, int]]] | None = None,
                scenario_probs: Mapping[str, float] | None = None,
                base_scenario: str | None = None) -> dict:
    """Monte-Carlo stability of the pathfinder ranking.

    Parameters
    ----------
    scorecards : DataFrame or mapping scenario -> DataFrame
        One scorecard, or one per scenario (e.g. ``"4.0kmh_15min"``) with the same
        localities; each draw picks a scenario (uniformly, or by ``scenario_probs``).
    weights : Weights
        Base weights (the ``rank_base`` column and the Dirichlet centre).
    n_draws : int
        Number of draws.
    concentration : float, optional
        None: weights ~ Dirichlet(1,...,1) (uniform over all weightings).  Otherwise
        Dirichlet(concentration x base weights): larger = closer to the base weights.
    seed : int
        Seed of numpy's ``default_rng``: same inputs, same output.

    Returns
    -------
    dict
        ``summary`` (DataFrame, :data:`SENSITIVITY_COLUMNS`, sorted by p_first desc),
        ``ranks`` (long DataFrame: draw, scenario, locality, rank, score),
        ``base`` (DataFrame from :func:`rank_localities`), ``meta`` (dict).
    """
    weights = weights or Weights()
    if isinstance(scorecards, pd.DataFrame):
        scorecards = {"base": scorecards}
    names = list(scorecards)
    base_scenario = base_scenario or names[0]
    crits = {n: criteria_table(sc, columns) for n, sc in scorecards.items()}
    locs = sorted(crits[names[0]].index.astype(str))
    for n, c in crits.items():
        if sorted(c.index.astype(str)) != locs:
            raise ValueError(f"scenario '{n}' has different localities from '{names[0]}'")
    cols = [f"crit_{c}" for c in CRITERIA]
    Cs = np.stack([crits[n].reindex(locs)[cols].to_numpy(float) for n in names])
    rng = np.random.default_rng(seed)
    base_w = weights.as_array()
    alpha = np.ones(len(CRITERIA)) if concentration is None else np.maximum(
        concentration * base_w, 1e-3)
    W = rng.dirichlet(alpha, size=n_draws)
    if scenario_probs:
        p = np.array([scenario_probs.get(n, 0.0) for n in names], float)
        p = p / p.sum()
    else:
        p = np.full(len(names), 1.0 / len(names))
    scen = rng.choice(len(names), size=n_draws, p=p)
    tiebreak = np.arange(len(locs))
    R = np.empty((n_draws, len(locs)), dtype=int)
    S = np.empty((n_draws, len(locs)))
    for si in range(len(names)):
        m = scen == si
        if m.any():
            R[m], S[m] = _ranks(Cs[si], W[m], tiebreak)
    base_rank, _ = _ranks(Cs[names.index(base_scenario)], base_w[None], tiebreak)
    first = np.bincount(np.argmin(R, axis=1), minlength=len(locs)) / n_draws
    summary = pd.DataFrame({
        "locality": locs, "p_first": first, "rank_base": base_rank[0],
        "rank_min": R.min(0), "rank_max": R.max(0),
        "rank_p05": np.percentile(R, 5, axis=0), "rank_p95": np.percentile(R, 95, axis=0),
        "rank_median": np.median(R, axis=0), "score_mean": S.mean(0), "n_draws": n_draws})
    summary = summary.sort_values(["p_first", "rank_base"], ascending=[False, True]
                                  ).reset_index(drop=True)
    ranks = pd.DataFrame({"draw": np.repeat(np.arange(n_draws), len(locs)),
                          "scenario": np.repeat(np.array(names, dtype=object)[scen], len(locs)),
                          "locality": np.tile(locs, n_draws), "rank": R.ravel(),
                          "score": S.ravel()})
    meta = {"n_draws": n_draws, "seed": seed, "concentration": concentration,
            "scenarios": names, "base_scenario": base_scenario,
            "base_weights": dict(zip(CRITERIA, base_w.round(6).tolist()))}
    return {"summary": summary, "ranks": ranks,
            "base": rank_localities(scorecards[base_scenario], weights, columns), "meta": meta}


def scenario_scorecards(make_scorecard: Callable[[float, float], pd.DataFrame],
                        walk_speeds_kmh: Sequence[float] = (3.5, 4.0, 4.8),
                        gap_thresholds_min: Sequence[float] = (10.0, 15.0, 20.0)
                        ) -> dict[str, pd.DataFrame]:
    """Scorecards for each (walking speed, threshold) scenario via a callable
    ``make_scorecard(walk_speed_kmh, gap_threshold_min) -> scorecard``."""
    return {f"{v:g}kmh_{t:g}min": make_scorecard(v, t)
            for v in walk_speeds_kmh for t in gap_thresholds_min}


def rescale_minutes(distances: pd.DataFrame, walk_speed_kmh: float) -> pd.DataFrame:
    """Distance table with ``minutes`` recomputed from ``distance_m`` at another speed."""
    d = distances.copy()
    d["minutes"] = d["distance_m"] / (walk_speed_kmh * 1000.0 / 60.0)
    return d
