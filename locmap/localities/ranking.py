"""Ranking localities for a pathfinder, always with its stability, and the recommendation.

Five criteria, each normalised to 0-1 across the localities of one scheme (1 = more
suitable as pathfinder), combined with explicit, user-settable :class:`Weights`:

* ``need``      : mean of normalised child deprivation (``pct_children_idaci_most_deprived_20``,
  ``imd_score_popw``) and number of children (``pop_0_19``);
* ``gaps``      : share of children beyond pram distance (``pct_gap_children``) -- more gap,
  more to gain;
* ``readiness`` : assets to build on: children's centres and GP practices per 1,000
  children and coverage of any key service within the scorecard's gap threshold
  (``pct_children_within_<T>min_any_key`` with T = ``gap_threshold_min``: the same
  pram distance as the gaps criterion, whatever threshold was chosen);
* ``alignment`` : mean of ``align_town_share`` and ``align_pcn_share`` minus hard-edge risk;
* ``size``      : closeness to the size guide (1 inside 30-50k, falling off outside).

:func:`sensitivity` draws weights from a Dirichlet distribution (seeded) and, optionally,
scenarios (e.g. walking speed / threshold, as precomputed scorecards), and reports for each
locality the probability of ranking first (sums to 1), its rank range and the share of
draws at every rank.

:func:`distance_model_scenarios` adds, for estimated distances, scenarios in which the distance
model is wrong the way it is wrong out of sample: each of ``DISTANCE_FIELDS`` fields multiplies
every home's distances by the street / estimate ratio of its 3 km block, drawn from the model's
cross-validated block ratios (``local_error`` in the model file).  The gap and coverage criteria
are recomputed in each; the summary keeps each field's base-weight score and share of draws first
(``score_distfield<j>``, ``p_first_distfield<j>``), so :func:`recommend` can apply the rule
within every field and say whether the choice survives the distance model's uncertainty.

:func:`recommend` turns a ranking and its sensitivity into one :class:`Recommendation`
with :data:`RULE` (see docs/localities.md, "The recommendation rule").
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from locmap.distance.model import error_fields, london_model
from locmap.errors import MissingColumnError
from locmap.localities.scorecard import (COVERAGE_PREFIX, CoverageBlocks, LocalityHomes, coverage_thresholds,
                                         key_types, nearest_matrix, scenario_cards, scorecard_at_threshold)

CRITERIA: tuple[str, ...] = ("need", "gaps", "readiness", "alignment", "size")

#: Placeholder in a criterion column name replaced by the scorecard's ``gap_threshold_min``.
GAP_PLACEHOLDER = "{gap}"

#: criterion -> list of (scorecard column, direction +1 higher is better / -1 lower is better);
#: ``{gap}`` is replaced by the scorecard's gap threshold in minutes (e.g. ``15``).
DEFAULT_CRITERIA_COLUMNS: dict[str, list[tuple[str, int]]] = {
    "need": [("pct_children_idaci_most_deprived_20", +1), ("imd_score_popw", +1),
             ("pop_0_19", +1)],
    "gaps": [("pct_gap_children", +1)],
    "readiness": [("childrens_centre_per_1000", +1), ("gp_practice_per_1000", +1),
                  ("pct_children_within_{gap}min_any_key", +1)],
    "alignment": [("align_town_share", +1), ("align_pcn_share", +1),
                  ("hard_edge_risk_pct", -1)],
    "size": [("size_fit", +1)],
}

RANKING_COLUMNS: dict[str, tuple[str, str]] = {
    "locality": ("name", "locality"),
    "crit_need": ("score 0-1", "normalised need: mean of the min-max normalised % of children "
                  "in IDACI deciles 1-2, population-weighted IMD score and number of children "
                  "0-19 (1 = highest need among the localities)"),
    "crit_gaps": ("score 0-1", "normalised % of children 0-19 beyond the gap threshold "
                  "(1 = largest gap, most to gain)"),
    "crit_readiness": ("score 0-1", "normalised assets to build on: mean of children's centres "
                       "and GP practices per 1,000 children and % of children within the gap "
                       "threshold of any key service (1 = most ready)"),
    "crit_alignment": ("score 0-1", "normalised alignment: mean of the town share, the PCN share "
                       "and (reversed) the hard-edge risk (1 = best aligned)"),
    "crit_size": ("score 0-1", "normalised closeness of the total population to the size guide "
                  "(1 = closest)"),
    "score": ("score 0-1", "weighted sum of the five criteria under the base weights "
              "(weights normalised to sum 1)"),
    "rank": ("rank", "1 = best pathfinder candidate under these weights (ties: locality name)"),
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
#: prefix of the rank-distribution columns of the sensitivity summary (``p_rank_1`` ...)
RANK_SHARE_PREFIX = "p_rank_"


def sensitivity_column_description(name: str) -> tuple[str, str]:
    """(unit, description) of a sensitivity-summary column, ``p_rank_<r>`` and the distance-field
    columns included."""
    kind, sep, j = name.rpartition(FIELD_SUFFIX)
    if sep and j.isdigit() and kind in ("score", "p_first"):
        what = ("base-weight score" if kind == "score" else "share of draws ranked first")
        return ("score 0-1" if kind == "score" else "probability 0-1",
                f"{what} when street distances are the estimate x drawn error field {j} of the "
                "London distance model (estimated distances only)")
    if name in SENSITIVITY_COLUMNS:
        return SENSITIVITY_COLUMNS[name]
    if name.startswith(RANK_SHARE_PREFIX) and name[len(RANK_SHARE_PREFIX):].isdigit():
        r = name[len(RANK_SHARE_PREFIX):]
        return ("probability 0-1", f"share of Monte-Carlo draws in which the locality ranks {r}")
    raise KeyError(name)


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


def _minmax(values: np.ndarray) -> np.ndarray:
    """0-1 over the localities (NaN left out of the range and set to 0.5; all 0.5 without a range)."""
    v = np.asarray(values, dtype=float)
    lo, hi = (np.fmin.reduce(v), np.fmax.reduce(v)) if len(v) else (np.nan, np.nan)
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo <= 1e-12:
        return np.full(len(v), 0.5)
    out = (v - lo) / (hi - lo)
    return np.where(np.isnan(out), 0.5, out)


def _scorecard_column_error(column: str, available: Sequence[str]) -> MissingColumnError:
    err = MissingColumnError("scorecard", column, list(available))
    err.remedy = ("build the scorecard with locmap.localities.scorecard.build_scorecard: it records "
                  "gap_threshold_min and always has coverage columns at that threshold.")
    return err


def _gap_minutes(scorecard: pd.DataFrame) -> float:
    """The scorecard's one gap threshold (minutes)."""
    if "gap_threshold_min" not in scorecard.columns:
        raise _scorecard_column_error("gap_threshold_min", list(scorecard.columns))
    vals = pd.unique(scorecard["gap_threshold_min"].to_numpy(float))
    if len(vals) != 1:
        raise ValueError(f"scorecard mixes gap thresholds {sorted(vals)}: rank one threshold at a time")
    return float(vals[0])


def resolve_columns(scorecard: pd.DataFrame,
                    columns: Mapping[str, list[tuple[str, int]]] | None = None
                    ) -> dict[str, list[tuple[str, int]]]:
    """Criterion columns with ``{gap}`` replaced by the scorecard's gap threshold.

    Raises
    ------
    MissingColumnError
        A threshold-dependent column is missing (the scorecard was built without a coverage
        column at its own gap threshold): never silently skipped.
    """
    return _resolve_in(list(scorecard.columns), lambda: _gap_minutes(scorecard), columns)


def _resolve_in(available: list[str], gap_minutes: Callable[[], float],
                columns: Mapping[str, list[tuple[str, int]]] | None) -> dict[str, list[tuple[str, int]]]:
    """:func:`resolve_columns` for a scorecard with the columns ``available`` and the gap threshold
    ``gap_minutes()`` (read only when a column needs it)."""
    have = set(available)
    out: dict[str, list[tuple[str, int]]] = {}
    for crit, cols in dict(columns or DEFAULT_CRITERIA_COLUMNS).items():
        resolved = []
        for col, d in cols:
            if GAP_PLACEHOLDER in col:
                col = col.replace(GAP_PLACEHOLDER, f"{gap_minutes():g}")
                if col not in have:
                    raise _scorecard_column_error(col, available)
            resolved.append((col, d))
        out[crit] = resolved
    return out


def criteria_sources(scorecard: pd.DataFrame,
                     columns: Mapping[str, list[tuple[str, int]]] | None = None) -> pd.DataFrame:
    """Which scorecard columns make each criterion, and whether the scorecard has them.

    Returns ``criterion, column, direction, present`` (one row per column): a column that
    is absent (e.g. ``childrens_centre_per_1000`` for an area with no children's centre in
    its register) leaves the criterion to its other columns; this table says so.
    """
    sc = _with_size_fit(scorecard)
    rows = [{"criterion": c, "column": col, "direction": "higher is better" if d > 0 else
             "lower is better", "present": col in sc.columns}
            for c, cols in resolve_columns(scorecard, columns).items() for col, d in cols]
    return pd.DataFrame(rows, columns=["criterion", "column", "direction", "present"])


def _size_fit(guide_min: np.ndarray, guide_max: np.ndarray, gap_people: np.ndarray) -> np.ndarray:
    """Closeness of each locality to the size guide: 1 inside it, falling off with the people outside."""
    guide = (guide_min + guide_max) / 2
    return 1.0 / (1.0 + np.abs(gap_people) / guide)


SIZE_COLUMNS = ("size_guide_min", "size_guide_max", "size_gap_people")


def _with_size_fit(scorecard: pd.DataFrame) -> pd.DataFrame:
    sc = scorecard.copy()
    if all(c in sc.columns for c in SIZE_COLUMNS):
        sc["size_fit"] = _size_fit(*(sc[c].to_numpy(float) for c in SIZE_COLUMNS))
    return sc


def _criterion_columns(scorecard: pd.DataFrame, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Those of ``names`` the scorecard has (``size_fit`` computed from the size columns), as float arrays."""
    return _criterion_arrays(set(scorecard.columns), lambda c: scorecard[c].to_numpy(float), names)


def _criterion_arrays(have: set[str], get: Callable[[str], np.ndarray], names: Sequence[str]
                      ) -> dict[str, np.ndarray]:
    """:func:`_criterion_columns` of a scorecard with the columns ``have``, column ``c`` being ``get(c)``."""
    sizes = list(SIZE_COLUMNS) if "size_fit" in names and all(c in have for c in SIZE_COLUMNS) else []
    cols = {c: get(c) for c in dict.fromkeys([c for c in names if c in have] + sizes)}
    if sizes:
        cols["size_fit"] = _size_fit(*(cols[c] for c in SIZE_COLUMNS))
    return cols


def _criteria_values(scorecard: pd.DataFrame, columns: Mapping[str, list[tuple[str, int]]] | None = None
                     ) -> np.ndarray:
    """``(n_localities, 5)`` normalised criteria (:data:`CRITERIA` order; rows: the scorecard's)."""
    resolved = resolve_columns(scorecard, columns)
    sc = _criterion_columns(scorecard, [col for cols in resolved.values() for col, _ in cols])
    return _combined(resolved, sc, len(scorecard))


def _combined(resolved: Mapping[str, list[tuple[str, int]]], sc: Mapping[str, np.ndarray], n_rows: int
              ) -> np.ndarray:
    """Each criterion the mean of its min-max normalised columns (0.5 without any), ``(n_rows, 5)``."""
    out = np.full((n_rows, len(CRITERIA)), 0.5)
    for i, c in enumerate(CRITERIA):
        parts = [(_minmax(sc[col]) if d > 0 else 1 - _minmax(sc[col]))
                 for col, d in resolved.get(c, []) if col in sc]
        if parts:
            out[:, i] = np.stack(parts).sum(axis=0) / len(parts)
    return out


def criteria_table(scorecard: pd.DataFrame,
                   columns: Mapping[str, list[tuple[str, int]]] | None = None) -> pd.DataFrame:
    """Normalised criteria (0-1, 1 = more suitable), one row per locality.

    Each criterion is the mean of its min-max normalised columns (direction applied);
    readiness coverage follows the scorecard's ``gap_threshold_min``
    (:func:`resolve_columns`).  Columns absent from the scorecard are left out (listed by
    :func:`criteria_sources`); a criterion with no column at all is 0.5 for everyone.
    """
    return pd.DataFrame(_criteria_values(scorecard, columns), columns=[f"crit_{c}" for c in CRITERIA],
                        index=pd.Index(scorecard["locality"], name="locality"))


def _scores(crit: pd.DataFrame, weights: Weights) -> pd.Series:
    """Weighted score of each locality (index of ``crit``)."""
    return pd.Series(crit[[f"crit_{c}" for c in CRITERIA]].to_numpy() @ weights.as_array(),
                     index=crit.index)


def rank_localities(scorecard: pd.DataFrame, weights: Weights | None = None,
                    columns: Mapping[str, list[tuple[str, int]]] | None = None) -> pd.DataFrame:
    """Weighted score and rank (1 = best) of each locality; ties broken by locality name.

    Never show this alone: pair it with :func:`sensitivity`.
    """
    weights = weights or Weights()
    crit = criteria_table(scorecard, columns)
    crit["score"] = _scores(crit, weights)
    crit = crit.reset_index()
    crit = crit.sort_values(["score", "locality"], ascending=[False, True]).reset_index(drop=True)
    crit["rank"] = np.arange(1, len(crit) + 1)
    return crit


def _ranks(C: np.ndarray, W: np.ndarray, tiebreak: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranks (1 = best) for each weight draw: C (n_loc, n_crit), W (n_draw, n_crit)."""
    S = W @ C.T  # (n_draw, n_loc)
    # sort by score desc, then tiebreak (alphabetical position) asc
    order = np.lexsort((np.broadcast_to(tiebreak, S.shape), -np.round(S, 12)), axis=1)
    ranks = np.empty_like(order)
    rows = np.arange(S.shape[0])[:, None]
    ranks[rows, order] = np.arange(1, S.shape[1] + 1)
    return ranks, S


def _scenario_criteria(name: str, scorecard: pd.DataFrame, locs: list[str], first: str,
                       columns: Mapping[str, list[tuple[str, int]]] | None) -> np.ndarray:
    """Criteria of one scenario's scorecard with rows in ``locs`` order (the same localities as the
    first scenario's, or ValueError)."""
    names = scorecard["locality"].astype(str).tolist()
    if sorted(names) != locs:
        raise ValueError(f"scenario '{name}' has different localities from '{first}'")
    row = {n: i for i, n in enumerate(names)}
    # column-major, as a DataFrame's values: the matrix products of the draws round by memory
    # layout, and the published scores are those of this layout
    return np.asfortranarray(_criteria_values(scorecard, columns)[[row[n] for n in locs]])


def criteria_matrix(scorecard: pd.DataFrame, columns: Mapping[str, list[tuple[str, int]]] | None = None
                    ) -> np.ndarray:
    """The criteria :func:`sensitivity` reads from one scorecard (rows in sorted locality order)."""
    return _scenario_criteria("scorecard", scorecard, sorted(scorecard["locality"].astype(str)), "scorecard",
                              columns)


def scenario_criteria(base: pd.DataFrame, scenarios: Mapping[str, tuple[Mapping[str, np.ndarray], float, float]],
                      columns: Mapping[str, list[tuple[str, int]]] | None = None) -> dict[str, np.ndarray]:
    """The criteria :func:`sensitivity` reads from each scenario's scorecard (rows in sorted locality
    order), from the base scorecard and each scenario's (access columns, gap threshold, speed) --
    the arguments of :func:`~locmap.localities.scorecard.scenario_cards` -- without building the
    scorecards: the same numbers to the bit (tested), the scorecard being the base's columns but
    its coverage ones, then the scenario's access columns, gap threshold and speed."""
    names = base["locality"].astype(str).tolist()
    row = {n: i for i, n in enumerate(names)}
    order = [row[n] for n in sorted(names)]
    kept = [c for c in base.columns if not str(c).startswith(COVERAGE_PREFIX)]
    from_base: dict[str, np.ndarray] = {}

    def base_column(c: str) -> np.ndarray:
        if c not in from_base:
            from_base[c] = base[c].to_numpy(float)
        return from_base[c]

    out = {}
    for name, (access, gap, speed) in scenarios.items():
        labels = {**access, "gap_threshold_min": np.full(len(base), float(gap))}
        if "walk_speed_kmh" in base.columns:
            labels["walk_speed_kmh"] = np.full(len(base), float(speed))
        available = kept + [c for c in labels if c not in kept]
        resolved = _resolve_in(available, lambda: float(gap), columns)
        sc = _criterion_arrays(set(available), lambda c: (np.asarray(labels[c], float) if c in labels
                                                          else base_column(c)),
                               [col for cols in resolved.values() for col, _ in cols])
        out[name] = np.asfortranarray(_combined(resolved, sc, len(base))[order])
    return out


def _draw_weights(rng: np.random.Generator, base_w: np.ndarray, n_draws: int,
                  concentration: float | None) -> np.ndarray:
    alpha = np.ones(len(CRITERIA)) if concentration is None else np.maximum(
        concentration * base_w, 1e-3)
    return rng.dirichlet(alpha, size=n_draws)


def _draw_scenarios(rng: np.random.Generator, names: list[str], n_draws: int,
                    scenario_probs: Mapping[str, float] | None) -> np.ndarray:
    if scenario_probs:
        p = np.array([scenario_probs.get(n, 0.0) for n in names], float)
        p = p / p.sum()
    else:
        p = np.full(len(names), 1.0 / len(names))
    return rng.choice(len(names), size=n_draws, p=p)


def _summary(locs: list[str], R: np.ndarray, S: np.ndarray, base_rank: np.ndarray,
             fields: Mapping[int, tuple[np.ndarray, np.ndarray]] | None = None) -> pd.DataFrame:
    """One row per locality: p_first, rank statistics and the share of draws at every rank
    (+ ``score_distfield<j>`` / ``p_first_distfield<j>`` per distance-error field)."""
    n_draws, n_loc = R.shape
    first = np.bincount(np.argmin(R, axis=1), minlength=n_loc) / n_draws
    summary = pd.DataFrame({
        "locality": locs, "p_first": first, "rank_base": base_rank,
        "rank_min": R.min(0), "rank_max": R.max(0),
        "rank_p05": np.percentile(R, 5, axis=0, method="lower"),
        "rank_p95": np.percentile(R, 95, axis=0, method="higher"),
        "rank_median": np.median(R, axis=0), "score_mean": S.mean(0), "n_draws": n_draws})
    for r in range(1, n_loc + 1):
        summary[f"{RANK_SHARE_PREFIX}{r}"] = (R == r).mean(axis=0)
    for j, (score, p_first) in sorted((fields or {}).items()):
        summary[f"score{FIELD_SUFFIX}{j}"] = score
        summary[f"p_first{FIELD_SUFFIX}{j}"] = p_first
    return summary.sort_values(["p_first", "rank_base"], ascending=[False, True]
                               ).reset_index(drop=True)


def sensitivity(scorecards: pd.DataFrame | Mapping[str, pd.DataFrame],
                weights: Weights | None = None, n_draws: int = 2000,
                concentration: float | None = None, seed: int = 0,
                columns: Mapping[str, list[tuple[str, int]]] | None = None,
                scenario_probs: Mapping[str, float] | None = None,
                base_scenario: str | None = None, criteria: Mapping[str, np.ndarray] | None = None) -> dict:
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
        None: weights ~ Dirichlet(1,...,1) (uniform over all weightings, independent of the
        base weights).  Otherwise Dirichlet(concentration x base weights): larger = closer
        to the base weights.
    seed : int
        Seed of numpy's ``default_rng``: same inputs, same output.
    criteria : mapping scenario -> ndarray, optional
        Scenarios given by their criteria (:func:`scenario_criteria`) rather than a scorecard:
        the scenarios are then those of ``criteria``, in its order, followed by those of
        ``scorecards`` not in it; ``scorecards`` must hold the base scenario's scorecard.

    Returns
    -------
    dict
        ``summary`` (DataFrame, :data:`SENSITIVITY_COLUMNS` + ``p_rank_1..p_rank_n``, sorted
        by p_first desc), ``ranks`` (long DataFrame: draw, scenario, locality, rank, score),
        ``base`` (DataFrame from :func:`rank_localities`), ``meta`` (dict).
    """
    weights = weights or Weights()
    if isinstance(scorecards, pd.DataFrame):
        scorecards = {"base": scorecards}
    criteria = criteria or {}
    names = list(criteria) + [n for n in scorecards if n not in criteria]
    base_scenario = base_scenario or names[0]
    first = names[0] if names[0] in scorecards else base_scenario
    if first not in scorecards:
        raise ValueError(f"sensitivity: no scorecard of the base scenario '{base_scenario}'")
    locs = sorted(scorecards[first]["locality"].astype(str))
    Cs = np.stack([criteria[n] if n in criteria else _scenario_criteria(n, scorecards[n], locs, first, columns)
                   for n in names])
    rng = np.random.default_rng(seed)
    base_w = weights.as_array()
    W = _draw_weights(rng, base_w, n_draws, concentration)
    scen = _draw_scenarios(rng, names, n_draws, scenario_probs)
    tiebreak = np.arange(len(locs))
    R = np.empty((n_draws, len(locs)), dtype=int)
    S = np.empty((n_draws, len(locs)))
    for si in range(len(names)):
        m = scen == si
        if m.any():
            R[m], S[m] = _ranks(Cs[si], W[m], tiebreak)
    base_rank, _ = _ranks(Cs[names.index(base_scenario)], base_w[None], tiebreak)
    ranks = pd.DataFrame({"draw": np.repeat(np.arange(n_draws), len(locs)),
                          "scenario": np.repeat(np.array(names, dtype=object)[scen], len(locs)),
                          "locality": np.tile(locs, n_draws), "rank": R.ravel(),
                          "score": S.ravel()})
    meta = {"n_draws": n_draws, "seed": seed, "concentration": concentration,
            "scenarios": names, "base_scenario": base_scenario,
            "base_weights": dict(zip(CRITERIA, base_w.round(6).tolist()))}
    fields = _field_rule_inputs(names, base_scenario, Cs, base_w, tiebreak, R, scen)
    return {"summary": _summary(locs, R, S, base_rank[0], fields), "ranks": ranks,
            "base": rank_localities(scorecards[base_scenario], weights, columns), "meta": meta}


#: distance-error fields drawn per scheme (each x every speed x gap scenario), and their seed
DISTANCE_FIELDS = 4
DISTANCE_SEED = 22
#: scenario-name suffix of a distance-error field (``"4kmh_15min_distfield2"``)
FIELD_SUFFIX = "_distfield"


def _distance_field(name: str) -> int:
    """Field number of a scenario name (-1 when the distances are the model's own)."""
    head, sep, tail = str(name).rpartition(FIELD_SUFFIX)
    return int(tail) if sep and tail.isdigit() else -1


def distance_fields(homes, n_fields: int = DISTANCE_FIELDS, seed: int = DISTANCE_SEED) -> list[pd.Series]:
    """``n_fields`` multipliers per home (``home_id`` -> street / estimate) from
    :func:`locmap.distance.model.error_fields`: every 3 km block draws one cross-validated
    block ratio of the London model."""
    f = error_fields(london_model(), homes.geometry.x.to_numpy(), homes.geometry.y.to_numpy(), n_fields, seed)
    ids = homes["home_id"].to_numpy()
    return [pd.Series(row, index=ids) for row in f]


def distance_field_coverage(homes, distances: pd.DataFrame, speeds_kmh: Sequence[float],
                            gap_scenarios: Sequence[float], key_service_types: Sequence[str] | None = None,
                            thresholds_minutes: Sequence[float] = (10.0, 15.0, 20.0),
                            n_fields: int = DISTANCE_FIELDS) -> CoverageBlocks | None:
    """The coverage blocks of every (distance field x speed) scenario (None when any distance is along
    streets, or without fields): what :func:`distance_model_scenarios` sums per scheme, built once
    for all of a run's schemes."""
    methods = set(distances["method"].dropna().unique()) if "method" in distances else {"estimated"}
    if methods != {"estimated"} or n_fields < 1:
        return None
    # rank-1 metres per home and type; each field's minutes at each speed (metres x ratio / speed)
    metres = nearest_matrix(distances, homes["home_id"].to_numpy(), "distance_m")
    minutes = {(j, v): metres.mul(mult.to_numpy(float), axis=0) / (v * 1000.0 / 60.0)
               for j, mult in enumerate(distance_fields(homes, n_fields), start=1) for v in speeds_kmh}
    return CoverageBlocks.of(homes["pop_0_19"].astype(float).to_numpy(), minutes,
                             key_types(distances, key_service_types), thresholds_minutes, gap_scenarios)


def distance_model_scenarios(base: pd.DataFrame, assignment: pd.Series, homes, distances: pd.DataFrame | None,
                             speeds_kmh: Sequence[float], gap_scenarios: Sequence[float],
                             key_service_types: Sequence[str] | None = None,
                             thresholds_minutes: Sequence[float] = (10.0, 15.0, 20.0),
                             n_fields: int = DISTANCE_FIELDS, coverage: CoverageBlocks | None = None
                             ) -> dict[str, pd.DataFrame]:
    """Scorecards of every (distance field x speed x gap) scenario for estimated distances
    (``{}`` when any distance is along streets: the street distance stands).  Names end in
    ``_distfield<j>``; :func:`sensitivity` reports per field who is first most often.

    Each field multiplies every home's distances by its block's drawn ratio; the scorecards are
    :func:`~locmap.localities.scorecard.scenario_scorecards` of those distances, computed from one
    home x service-type matrix for all fields and speeds.  ``coverage``: the
    :func:`distance_field_coverage` of these arguments, built once for many schemes (then
    ``distances`` is not read; pass ``distances=None`` when it returned None, i.e. no fields)."""
    if coverage is None:
        coverage = None if distances is None else distance_field_coverage(
            homes, distances, speeds_kmh, gap_scenarios, key_service_types, thresholds_minutes, n_fields)
        if coverage is None:
            return {}
    elif coverage.gap_thresholds_min != tuple(gap_scenarios):
        raise ValueError(f"coverage built for gap scenarios {coverage.gap_thresholds_min}, not {tuple(gap_scenarios)}")
    return scenario_cards(base, distance_field_scenarios(base, assignment, homes, coverage))


def distance_field_scenarios(base: pd.DataFrame, assignment: pd.Series, homes, coverage: CoverageBlocks
                             ) -> dict[str, tuple[dict[str, np.ndarray], float, float]]:
    """``"<speed>kmh_<gap>min_distfield<j>"`` -> (access columns, gap threshold, speed) of every scenario
    of :func:`distance_field_coverage` for one scheme (field, speed, gap order): what
    :func:`~locmap.localities.scorecard.scenario_cards` turns into their scorecards."""
    # coverage and gaps of every scenario in one grouped sum
    acc = coverage.per_locality(LocalityHomes.of(homes, assignment, base["locality"]))
    return {f"{v:g}kmh_{g:g}min{FIELD_SUFFIX}{j}": (acc[(j, v)][float(g)], g, v)
            for (j, v), _ in coverage.layout for g in coverage.gap_thresholds_min}


def _field_rule_inputs(names: list[str], base_scenario: str, Cs: np.ndarray, base_w: np.ndarray,
                       tiebreak: np.ndarray, R: np.ndarray, scen: np.ndarray) -> dict:
    """Per distance-error field ``j``: (base-weight score in the field's base scenario, share of
    the field's draws ranked first) -- what the rule needs to choose within that field."""
    field_of_scen = np.array([_distance_field(n) for n in names])
    out = {}
    for j in sorted(set(field_of_scen[field_of_scen > 0].tolist())):
        base_j = f"{base_scenario}{FIELD_SUFFIX}{j}"
        draws = field_of_scen[scen] == j
        if base_j not in names or not draws.any():
            continue
        _, score = _ranks(Cs[names.index(base_j)], base_w[None], tiebreak)
        p_first = np.bincount(np.argmin(R[draws], axis=1), minlength=R.shape[1]) / int(draws.sum())
        out[j] = (score[0], p_first)
    return out


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


# ----------------------------------------------------------------------------- recommendation
#: Default rule parameters (see :data:`RULE`).
SCORE_MARGIN = 0.05
STABLE_P_FIRST = 0.5
STABLE_RANK_P95 = 3

#: The recommendation rule, in one plain sentence (formatted with the parameters).
RULE = ("Among the localities whose base-weight score is within {margin:.2f} of the best, "
        "recommend the one ranked first in the most sensitivity draws (ties: the higher score); "
        "its lead is stable when it is also first at the base weights, first in at least "
        "{p_first:.0%} of the draws and ranked {rank_p95} or better in 95% of them.")


@dataclass(frozen=True)
class Recommendation:
    """The recommended pathfinder locality of one scheme, with the rule and its evidence.

    ``score`` is the base-weight score (0-1) of ``locality``; ``p_first`` the share (0-1) of
    sensitivity draws ranking it first; ranks are 1 = best.  ``flips`` lists the single
    changes (a criterion weight halved or doubled, another gap threshold) that change the
    recommended locality, e.g. ``"gaps weight x2 (25% -> 40%): Greenford"``;
    ``changes_tested`` lists every change tried.
    """

    scheme: str
    locality: str
    runner_up: str | None
    score: float
    p_first: float
    median_rank: float
    rank_min: int
    rank_max: int
    stable: bool
    rule: str
    reason: str
    flips: tuple[str, ...]
    base_leader: str = ""
    rank_p05: float = float("nan")
    rank_p95: float = float("nan")
    n_draws: int = 0
    score_margin: float = SCORE_MARGIN
    changes_tested: tuple[str, ...] = ()
    #: True / False: the locality stays first most often in every drawn distance-model error
    #: field; None: not tested (street distances, or a sensitivity without distance fields)
    survives_distance: bool | None = None
    distance_note: str = ""

    def headline(self) -> str:
        """One line for a terminal: scheme, locality, runner-up, stability, distance-model test."""
        ru = f"; runner-up {self.runner_up}" if self.runner_up else ""
        st = "stable lead" if self.stable else "lead not stable"
        dist = ("" if self.survives_distance is None else
                "; survives distance-model uncertainty" if self.survives_distance else
                "; does NOT survive distance-model uncertainty")
        return (f"{self.scheme}: recommended pathfinder {self.locality} ({st}: first in "
                f"{self.p_first:.1%} of {self.n_draws:,} draws, base-weight score "
                f"{self.score:.3f}{dist}){ru}")

    def to_frame(self) -> pd.DataFrame:
        """One-row table (``flips`` and ``changes_tested`` joined with ``; ``)."""
        d = asdict(self)
        d["flips"] = "; ".join(self.flips)
        d["changes_tested"] = "; ".join(self.changes_tested)
        return pd.DataFrame([d])


#: Column descriptions of :meth:`Recommendation.to_frame` (name -> (unit, description)).
RECOMMENDATION_COLUMNS: dict[str, tuple[str, str]] = {
    "scheme": ("name", "locality scheme"),
    "locality": ("name", "recommended pathfinder locality"),
    "runner_up": ("name", "the locality the rule would choose next"),
    "score": ("score 0-1", "base-weight score of the recommended locality"),
    "p_first": ("probability 0-1", "share of sensitivity draws ranking it first"),
    "median_rank": ("rank", "median rank over the sensitivity draws"),
    "rank_min": ("rank", "best rank over the draws"),
    "rank_max": ("rank", "worst rank over the draws"),
    "stable": ("yes/no", "whether the rule judged the lead stable"),
    "rule": ("text", "the recommendation rule"),
    "reason": ("text", "why, with the numbers"),
    "flips": ("text", "single weight or threshold changes that change the recommendation"),
    "base_leader": ("name", "locality with the highest score at the base weights"),
    "rank_p05": ("rank", "5th percentile of its rank over the draws"),
    "rank_p95": ("rank", "95th percentile of its rank over the draws"),
    "n_draws": ("draws", "number of sensitivity draws"),
    "survives_distance": ("yes/no", "whether the locality stays first most often in every drawn "
                          "distance-model error field (empty: not tested, e.g. street distances)"),
    "distance_note": ("text", "the distance-model uncertainty test in words"),
    "score_margin": ("score 0-1", "score margin of the rule (near-top localities)"),
    "changes_tested": ("text", "every single change tried for 'flips'"),
}


def rule_order(scores: pd.Series, p_first: pd.Series, score_margin: float = SCORE_MARGIN) -> list[str]:
    """Localities in the order the rule prefers them: near-top (score within ``score_margin``
    of the best) first, then by share of draws ranked first, then score, then name."""
    df = pd.DataFrame({"score": scores.astype(float),
                       "p_first": p_first.reindex(scores.index).fillna(0.0).astype(float)})
    df["near_top"] = df["score"] >= df["score"].max() - score_margin - 1e-12
    df["name"] = df.index.astype(str)
    df = df.sort_values(["near_top", "p_first", "score", "name"],
                        ascending=[False, False, False, True])
    return list(df.index.astype(str))


def _weight_changes(weights: Weights) -> list[tuple[str, Weights]]:
    """Each criterion weight x0.5 and x2 (the others unchanged), with a readable label."""
    base = weights.as_array()
    out = []
    for i, c in enumerate(CRITERIA):
        if getattr(weights, c) <= 0:
            continue
        for f in (0.5, 2.0):
            w = Weights(**{**asdict(weights), c: getattr(weights, c) * f})
            label = f"{c} weight x{f:g} ({base[i]:.0%} -> {w.as_array()[i]:.0%})"
            out.append((label, w))
    return out


def what_if(ranking: pd.DataFrame, sensitivity_summary: pd.DataFrame,
            weights: Weights | None = None, scorecard: pd.DataFrame | None = None,
            thresholds_min: Sequence[float] | None = None, score_margin: float = SCORE_MARGIN,
            columns: Mapping[str, list[tuple[str, int]]] | None = None) -> pd.DataFrame:
    """The rule re-applied under single changes: each weight x0.5 / x2, each other threshold.

    The base-weight scores are recomputed under the change (weights from ``ranking``'s
    ``crit_*``; thresholds from ``scorecard`` via
    :func:`~locmap.localities.scorecard.scorecard_at_threshold`); the draw shares are held
    fixed (the draws already vary the weights and the speed/threshold scenarios).

    Parameters
    ----------
    thresholds_min : sequence of float, optional
        Gap thresholds to try (minutes); default: every threshold with coverage columns in
        ``scorecard``.  A threshold without coverage columns raises ``MissingColumnError``.

    Returns
    -------
    DataFrame
        ``change, kind, leader_base, recommended, flips`` (one row per change).
    """
    weights = weights or Weights()
    p_first = sensitivity_summary.set_index("locality")["p_first"]
    crit = ranking.set_index("locality")[[f"crit_{c}" for c in CRITERIA]]
    base = rule_order(_scores(crit, weights), p_first, score_margin)[0]
    rows = []
    for label, w in _weight_changes(weights):
        s = _scores(crit, w)
        rows.append(("weight", label, s, rule_order(s, p_first, score_margin)[0]))
    if scorecard is not None:
        base_t = _gap_minutes(scorecard)
        for t in (thresholds_min if thresholds_min is not None else coverage_thresholds(scorecard)):
            if float(t) == base_t:
                continue
            s = _scores(criteria_table(scorecard_at_threshold(scorecard, float(t)), columns), weights)
            rows.append(("threshold", f"gap threshold {float(t):g} min instead of {base_t:g}", s,
                         rule_order(s, p_first, score_margin)[0]))
    return pd.DataFrame([{"change": label, "kind": kind,
                          "leader_base": str(s.sort_index().idxmax()), "recommended": rec,
                          "flips": rec != base} for kind, label, s, rec in rows],
                        columns=["change", "kind", "leader_base", "recommended", "flips"])


def _check_ranking(ranking: pd.DataFrame, weights: Weights) -> pd.Series:
    """Base-weight scores recomputed from ``crit_*``; they must equal ``ranking['score']``."""
    crit = ranking.set_index("locality")[[f"crit_{c}" for c in CRITERIA]]
    s = _scores(crit, weights)
    given = ranking.set_index("locality")["score"].astype(float)
    if not np.allclose(s.reindex(given.index).to_numpy(), given.to_numpy(), atol=1e-9):
        raise ValueError("the ranking's scores were computed with other weights than "
                         f"{asdict(weights)}: pass the weights used for the ranking")
    return given


def _stability_note(rec: pd.Series, is_leader: bool, stable_p_first: float,
                    stable_rank_p95: float) -> str:
    """'Its lead is stable.' or which of the three stability conditions failed."""
    failed = []
    if not is_leader:
        failed.append("it is not first at the base weights")
    if rec["p_first"] < stable_p_first:
        failed.append(f"it is first in fewer than {stable_p_first:.0%} of draws")
    if rec["rank_p95"] > stable_rank_p95:
        failed.append(f"in 5% of draws it ranks {rec['rank_p95']:g} or worse")
    return "Its lead is stable." if not failed else "Its lead is not stable: " + "; ".join(failed) + "."


def _reason(rec: pd.Series, lead: pd.Series, n_draws: int, note: str, wi: pd.DataFrame,
            most_often: pd.Series | None = None, score_margin: float = SCORE_MARGIN) -> str:
    """Plain-words explanation with the numbers (rows of the merged ranking/sensitivity;
    ``most_often``: the locality first in the most draws, when it is not the recommended one)."""
    spread = (f"median rank {rec['rank_median']:g}, rank {rec['rank_p05']:g}-"
              f"{rec['rank_p95']:g} in 90% of draws")
    if rec.name == lead.name:
        txt = (f"{rec.name} has the highest score at the base weights ({rec['score']:.3f}) and is "
               f"first in {rec['p_first']:.1%} of {n_draws:,} draws ({spread}). {note}")
        if most_often is not None and most_often.name != rec.name:
            txt += (f" {most_often.name} is first more often ({most_often['p_first']:.1%} of draws) but is "
                    f"{rec['score'] - most_often['score']:.3f} behind at the base weights, outside the rule's "
                    f"{score_margin:.2f} margin.")
    else:
        txt = (f"{lead.name} has the highest score at the base weights ({lead['score']:.3f}) but is "
               f"first in only {lead['p_first']:.1%} of {n_draws:,} draws (median rank "
               f"{lead['rank_median']:g}): its lead is fragile. {rec.name}, "
               f"{lead['score'] - rec['score']:.3f} behind at the base weights "
               f"({rec['score']:.3f}), is first in {rec['p_first']:.1%} of draws ({spread}). {note}")
    n_flip = int(wi["flips"].sum())
    return txt + (f" {n_flip} of {len(wi)} single changes (a weight halved or doubled, another gap "
                  "threshold) change the choice." if len(wi) else "")


def recommend(ranking: pd.DataFrame, sensitivity: pd.DataFrame, scheme: str = "towns", *,
              weights: Weights | None = None, scorecard: pd.DataFrame | None = None,
              thresholds_min: Sequence[float] | None = None, score_margin: float = SCORE_MARGIN,
              stable_p_first: float = STABLE_P_FIRST, stable_rank_p95: float = STABLE_RANK_P95,
              columns: Mapping[str, list[tuple[str, int]]] | None = None) -> Recommendation:
    """The recommended pathfinder locality of a scheme by :data:`RULE`.

    Parameters
    ----------
    ranking : DataFrame
        :func:`rank_localities` output (``locality, crit_*, score, rank``) at the base weights.
    sensitivity : DataFrame
        :func:`sensitivity` ``summary`` (``locality, p_first, rank_*, n_draws``).
    weights : Weights, optional
        The base weights of ``ranking`` (checked against its scores; default :class:`Weights`).
    scorecard : DataFrame, optional
        The scheme's scorecard: enables the threshold changes in ``flips``.
    score_margin, stable_p_first, stable_rank_p95 : float
        Rule parameters (score 0-1, share 0-1, rank).

    Returns
    -------
    Recommendation
    """
    weights = weights or Weights()
    scores = _check_ranking(ranking, weights)
    sens = sensitivity.set_index("locality")
    missing = sorted(set(scores.index) - set(sens.index))
    if missing:
        raise ValueError(f"sensitivity table lacks localities {missing} of the ranking")
    order = rule_order(scores, sens["p_first"], score_margin)
    table = sens.join(scores.rename("score"))
    rec, lead = table.loc[order[0]], table.loc[str(scores.sort_index().idxmax())]
    note = _stability_note(rec, rec.name == lead.name, stable_p_first, stable_rank_p95)
    stable = note == "Its lead is stable."
    wi = what_if(ranking, sensitivity, weights, scorecard, thresholds_min, score_margin, columns)
    flips = tuple(f"{r.change}: {r.recommended}" for r in wi.itertuples() if r.flips)
    n_draws = int(rec["n_draws"])
    survives, dnote = distance_survival(table, str(rec.name), score_margin)
    return Recommendation(
        scheme=scheme, locality=str(rec.name), runner_up=order[1] if len(order) > 1 else None,
        score=float(rec["score"]), p_first=float(rec["p_first"]),
        median_rank=float(rec["rank_median"]), rank_min=int(rec["rank_min"]),
        rank_max=int(rec["rank_max"]), stable=stable,
        rule=RULE.format(margin=score_margin, p_first=stable_p_first, rank_p95=stable_rank_p95),
        reason=(_reason(rec, lead, n_draws, note, wi, table.sort_values(["p_first", "score"], ascending=False).iloc[0],
                        score_margin) + (f" {dnote}" if dnote else "")), flips=flips, base_leader=str(lead.name),
        rank_p05=float(rec["rank_p05"]), rank_p95=float(rec["rank_p95"]), n_draws=n_draws,
        score_margin=score_margin, changes_tested=tuple(wi["change"]),
        survives_distance=survives, distance_note=dnote)


def distance_survival(table: pd.DataFrame, locality: str, score_margin: float = SCORE_MARGIN) -> tuple[bool | None, str]:
    """Whether the rule picks ``locality`` again in every distance-error field of the sensitivity
    (``table``: indexed by locality, with ``score_distfield<j>`` / ``p_first_distfield<j>``), in words."""
    fields = sorted(int(c.rpartition(FIELD_SUFFIX)[2]) for c in table.columns
                    if c.startswith(f"p_first{FIELD_SUFFIX}"))
    if not fields:
        return None, ""
    picks = [rule_order(table[f"score{FIELD_SUFFIX}{j}"], table[f"p_first{FIELD_SUFFIX}{j}"], score_margin)[0]
             for j in fields]
    kept = sum(p == locality for p in picks)
    model = london_model()
    if kept == len(fields):
        return True, (f"Distance model: the choice survives its uncertainty - the rule picks {locality} again in "
                      f"all {len(fields)} drawn error fields of the {model.id} estimate.")
    others = ", ".join(sorted({p for p in picks if p != locality}))
    return False, (f"Distance model: the choice does NOT survive its uncertainty - the rule picks {locality} in "
                   f"only {kept} of {len(fields)} drawn error fields of the {model.id} estimate (else {others}); "
                   "a street network would settle it.")


def ranking_text(ranking: pd.DataFrame, sensitivity: pd.DataFrame,
                 recommendation: Recommendation | None = None) -> str:
    """The key ranking table for a terminal: rank at the base weights, locality, score, share of
    draws first, median rank and 90% rank range (plus a marker on the recommended locality)."""
    sens = sensitivity.set_index("locality")
    rows = [("rank", "locality", "score", "first in", "median rank", "rank in 90%")]
    for r in ranking.itertuples():
        s = sens.loc[r.locality]
        mark = " *" if recommendation is not None and r.locality == recommendation.locality else ""
        rows.append((f"{r.rank}", f"{r.locality}{mark}", f"{r.score:.3f}", f"{s['p_first']:.1%}",
                     f"{s['rank_median']:g}", f"{s['rank_p05']:g}-{s['rank_p95']:g}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) if i == 1 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths)))
             for row in rows]
    if recommendation is not None:
        lines.append(f"* recommended: {recommendation.locality} (runner-up {recommendation.runner_up})")
    return "\n".join(lines)
