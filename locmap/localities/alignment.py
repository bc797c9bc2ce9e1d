"""Boundary alignment between two area schemes (wards, towns, PCN footprints, localities).

Both schemes are given as LSOA -> area assignments (``pandas.Series`` indexed by
``lsoa21cd``), so any two schemes built from LSOAs (or expanded to them) compare on the
same units.  Population weights (people per LSOA) make the indices "share of people".

Indices
-------
* ``purity_a_in_b``: population-weighted share of each A-area's people that lie in its
  largest-overlap B-area (1 = every A-area sits inside one B-area).  ``purity_b_in_a``
  likewise; ``alignment_index`` is their mean (1 = identical up to nesting both ways).
* ``ari``: adjusted Rand index of the two LSOA labellings (unweighted, scikit-learn).
* ``vi_bits``: variation of information H(A|B)+H(B|A) on the population-weighted
  joint distribution (bits; 0 = identical); ``vi_norm`` = VI / log2(N LSOAs).
* ``nmi``: normalised mutual information (arithmetic mean, unweighted, scikit-learn).
"""
from __future__ import annotations

from itertools import combinations
from typing import Mapping

import numpy as np
import pandas as pd

#: Column descriptions of :func:`alignment_table` (name -> (unit, description)).
ALIGNMENT_COLUMNS: dict[str, tuple[str, str]] = {
    "scheme_a": ("name", "first scheme"),
    "scheme_b": ("name", "second scheme"),
    "n_a": ("areas", "number of areas in scheme A"),
    "n_b": ("areas", "number of areas in scheme B"),
    "purity_a_in_b": ("share 0-1", "population-weighted share of each A-area's people in its "
                      "largest-overlap B-area"),
    "purity_b_in_a": ("share 0-1", "population-weighted share of each B-area's people in its "
                      "largest-overlap A-area"),
    "alignment_index": ("share 0-1", "mean of the two purities (1 = perfectly nested both ways)"),
    "ari": ("index -1..1", "adjusted Rand index of the LSOA labellings (unweighted)"),
    "nmi": ("index 0-1", "normalised mutual information of the LSOA labellings (unweighted)"),
    "vi_bits": ("bits", "variation of information, population-weighted (0 = identical)"),
    "vi_norm": ("share 0-1", "variation of information / log2(number of LSOAs)"),
    "weight": ("name", "population column used as weights"),
}


def _align(a: pd.Series, b: pd.Series, weights: pd.Series | None) -> pd.DataFrame:
    idx = a.index.intersection(b.index)
    if len(idx) != len(a) or len(idx) != len(b):
        raise ValueError(f"schemes cover different LSOAs ({len(a)} vs {len(b)}, "
                         f"{len(idx)} shared)")
    w = (weights.reindex(idx).fillna(0.0).astype(float) if weights is not None
         else pd.Series(1.0, index=idx))
    return pd.DataFrame({"a": a.reindex(idx).astype(str), "b": b.reindex(idx).astype(str),
                         "w": w})


def _people_table(d: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """People (``w``) per A-area (rows, sorted) and B-area (columns, sorted) of an aligned table, and
    each LSOA's row and column position.

    The sums are pandas' grouped sums over the LSOAs in order (as ``pivot_table`` makes them), keyed
    by one integer per (A, B) pair instead of the two names.
    """
    a_code, a_names = pd.factorize(d["a"], sort=True)
    b_code, b_names = pd.factorize(d["b"], sort=True)
    sums = d["w"].groupby(a_code * len(b_names) + b_code).sum()
    M = np.zeros(len(a_names) * len(b_names))
    M[sums.index.to_numpy()] = sums.to_numpy()
    # row-major values, as pivot_table leaves them: sums over rows and columns round by memory layout
    table = pd.DataFrame(M.reshape(len(a_names), len(b_names)), index=pd.Index(a_names, name="a"),
                         columns=pd.Index(b_names, name="b"), copy=False)
    return table, a_code, b_code


def crosstab(a: pd.Series, b: pd.Series, weights: pd.Series | None = None,
             normalize: str | None = None) -> pd.DataFrame:
    """Cross-tabulation of people (or LSOAs when ``weights`` is None): rows A, columns B.

    ``normalize``: None (people), ``"index"`` (row shares) or ``"columns"``.
    """
    t = _people_table(_align(a, b, weights))[0]
    t.index.name, t.columns.name = "scheme_a", "scheme_b"
    if normalize == "index":
        t = t.div(t.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)
    elif normalize == "columns":
        t = t.div(t.sum(axis=0).replace(0, np.nan), axis=1).fillna(0.0)
    return t


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def alignment_index(a: pd.Series, b: pd.Series, weights: pd.Series | None = None) -> dict:
    """All alignment indices of scheme A vs B (see module docstring).

    Parameters
    ----------
    a, b : Series
        ``lsoa21cd`` -> area name, covering the same LSOAs.
    weights : Series, optional
        People per LSOA (e.g. ``pop_0_19``); None = each LSOA counts 1.
    """
    # scikit-learn takes ~0.9 s to import; only these two indices need it
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score  # noqa: PLC0415

    d = _align(a, b, weights)
    t, a_code, b_code = _people_table(d)
    tot = float(t.to_numpy().sum())
    M = t.to_numpy() / tot if tot > 0 else t.to_numpy()
    pur_ab = float(M.max(axis=1).sum())
    pur_ba = float(M.max(axis=0).sum())
    h_ab = _entropy(M.ravel())
    vi = 2 * h_ab - _entropy(M.sum(1)) - _entropy(M.sum(0))
    n = len(d)
    return {"n_a": int(t.shape[0]), "n_b": int(t.shape[1]),
            "purity_a_in_b": pur_ab, "purity_b_in_a": pur_ba,
            "alignment_index": (pur_ab + pur_ba) / 2,
            # positions in the sorted names: the same classes in the same order as the names
            "ari": float(adjusted_rand_score(a_code, b_code)),
            "nmi": float(normalized_mutual_info_score(a_code, b_code)),
            "vi_bits": float(max(vi, 0.0)),
            "vi_norm": float(max(vi, 0.0) / np.log2(n)) if n > 1 else 0.0}


def alignment_table(schemes: Mapping[str, pd.Series], weights: pd.Series | None = None,
                    weight_name: str = "pop_0_19",
                    pairs: list[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Alignment indices for every pair of schemes (or the given ``pairs``).

    Returns
    -------
    DataFrame
        Columns of :data:`ALIGNMENT_COLUMNS`, one row per pair.
    """
    names = list(schemes)
    pairs = pairs if pairs is not None else list(combinations(names, 2))
    rows = []
    for x, y in pairs:
        r = {"scheme_a": x, "scheme_b": y}
        r.update(alignment_index(schemes[x], schemes[y], weights))
        r["weight"] = weight_name if weights is not None else "lsoa_count"
        rows.append(r)
    return pd.DataFrame(rows, columns=list(ALIGNMENT_COLUMNS))


def locality_alignment(a: pd.Series, b: pd.Series, weights: pd.Series | None = None,
                       b_label: str = "b") -> pd.DataFrame:
    """Per A-area: its largest-overlap B-area and the share of its people inside it.

    Returns
    -------
    DataFrame
        ``locality, <b_label>_best, <b_label>_share`` (share 0-1), one row per A-area.
    """
    t = crosstab(a, b, weights, normalize="index")
    return pd.DataFrame({"locality": t.index.astype(str),
                         f"{b_label}_best": t.idxmax(axis=1).to_numpy(),
                         f"{b_label}_share": t.max(axis=1).to_numpy()}).reset_index(drop=True)


def crosstab_long(a: pd.Series, b: pd.Series, weights: pd.Series | None = None,
                  name_a: str = "a", name_b: str = "b") -> pd.DataFrame:
    """Tidy cross-tab: ``scheme_a, area_a, scheme_b, area_b, people, share_of_a,
    share_of_b`` (non-zero cells only), for CSV export."""
    t = crosstab(a, b, weights)
    long = t.stack().rename("people").reset_index()
    long = long[long["people"] > 0].copy()
    long.columns = ["area_a", "area_b", "people"]
    long["share_of_a"] = long["people"] / long.groupby("area_a")["people"].transform("sum")
    long["share_of_b"] = long["people"] / long.groupby("area_b")["people"].transform("sum")
    long.insert(0, "scheme_a", name_a)
    long.insert(2, "scheme_b", name_b)
    return long[["scheme_a", "area_a", "scheme_b", "area_b", "people", "share_of_a",
                 "share_of_b"]].reset_index(drop=True)
