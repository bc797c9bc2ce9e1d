"""Which distance model: out-of-sample comparison of model families on the London table.

Families (each predicts IoD2019 road distance from the straight line, GP and primary pairs pooled;
every prediction is at least the straight line):

``per_borough``  today's ruler: one OLS line per borough, fitted on that borough's training pairs
``london``       one OLS line for London (the shipped model)
``london_ratio`` one ratio for London (line through the origin)
``shrunk``       borough lines shrunk towards the London line (empirical Bayes: weight
                 ``n_b / (n_b + SHRINK_N)``, a random-intercept-and-slope model in closed form)
``knn_residual`` the London line + the mean residual of the ``KNN`` nearest training LSOAs' pairs
                 of the same service type
``gwr``          geographically weighted regression (``mgwr``), adaptive bisquare kernel over the
                 ``GWR_NEIGHBOURS`` nearest training pairs (fixed, not searched: a bandwidth search
                 on 9,460 pairs is too slow for the 2-core machine; a fixed 3 km kernel leaves some
                 local fits singular next to held-out blocks), predictions for held-out pairs

Cross-validation schemes: ``blocked`` (3 km blocks dealt to 10 folds), ``borough``
(leave-one-borough-out) and ``lsoa`` (10 folds of LSOAs).  Both pairs of one LSOA are always in the
same fold.  ``benchmarks/distance_model_cv.py`` prints the table of docs/distance-model.md.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from mgwr.gwr import GWR
from scipy.spatial import cKDTree

from locmap.distance.model import N_FOLDS, SEED, block_folds, errors, fit_line

SHRINK_N = 100.0
KNN = 5
GWR_NEIGHBOURS = 150
FAMILIES = ("per_borough", "london", "london_ratio", "shrunk", "knn_residual", "gwr")
SCHEMES = ("blocked", "borough", "lsoa")


def folds(t: pd.DataFrame, scheme: str) -> np.ndarray:
    """Fold of every row under a CV scheme (pairs of one LSOA share a fold)."""
    if scheme == "blocked":
        return block_folds(t["x"].to_numpy(), t["y"].to_numpy())
    if scheme == "borough":
        return pd.factorize(t["lad_cd"], sort=True)[0]
    if scheme == "lsoa":
        codes = pd.factorize(t["lsoa11cd"], sort=True)[0]
        perm = np.random.default_rng(SEED).permutation(codes.max() + 1) % N_FOLDS
        return perm[codes]
    raise ValueError(f"unknown CV scheme {scheme!r}; use one of {SCHEMES}")


def _line(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    a, b = fit_line(train["straight_m"], train["road_m"])
    return a + b * test["straight_m"].to_numpy(float)


def _ratio(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    x, y = train["straight_m"].to_numpy(float), train["road_m"].to_numpy(float)
    return float(np.sum(x * y) / np.sum(x * x)) * test["straight_m"].to_numpy(float)


def _per_borough(train: pd.DataFrame, test: pd.DataFrame, shrink_n: float | None = None) -> np.ndarray:
    a0, b0 = fit_line(train["straight_m"], train["road_m"])
    out = np.full(len(test), np.nan)
    for lad, g in test.groupby("lad_cd"):
        tr = train[train["lad_cd"] == lad]
        if len(tr) >= 3:
            a, b = fit_line(tr["straight_m"], tr["road_m"])
        elif shrink_n is None:
            continue  # a borough with no training data has no line of its own
        else:
            a, b = a0, b0
        if shrink_n is not None:
            w = len(tr) / (len(tr) + shrink_n)
            a, b = w * a + (1 - w) * a0, w * b + (1 - w) * b0
        out[test.index.get_indexer(g.index)] = a + b * g["straight_m"].to_numpy(float)
    return out


def _knn_residual(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    a, b = fit_line(train["straight_m"], train["road_m"])
    out = a + b * test["straight_m"].to_numpy(float)
    for st, g in test.groupby("service_type"):
        tr = train[train["service_type"] == st]
        resid = tr["road_m"].to_numpy(float) - (a + b * tr["straight_m"].to_numpy(float))
        _, i = cKDTree(tr[["x", "y"]].to_numpy()).query(g[["x", "y"]].to_numpy(), k=KNN)
        pos = test.index.get_indexer(g.index)
        out[pos] += resid[i].mean(axis=1)
    return out


def _gwr(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    coords = train[["x", "y"]].to_numpy()
    y = train["road_m"].to_numpy(float).reshape(-1, 1)
    x = train["straight_m"].to_numpy(float).reshape(-1, 1)
    model = GWR(coords, y, x, bw=GWR_NEIGHBOURS, fixed=False, kernel="bisquare")
    res = model.predict(test[["x", "y"]].to_numpy(), test["straight_m"].to_numpy(float).reshape(-1, 1))
    return np.asarray(res.predictions, float).reshape(-1)


PREDICTORS = {"per_borough": _per_borough, "london": _line, "london_ratio": _ratio,
              "shrunk": lambda tr, te: _per_borough(tr, te, SHRINK_N),
              "knn_residual": _knn_residual, "gwr": _gwr}


def cross_validate(t: pd.DataFrame, families=FAMILIES, schemes=SCHEMES) -> pd.DataFrame:
    """Out-of-sample prediction of every pair: one column ``pred__<family>__<scheme>`` each."""
    t = t.reset_index(drop=True)
    out = t.copy()
    for scheme in schemes:
        f = folds(t, scheme)
        for fam in families:
            pred = np.full(len(t), np.nan)
            for k in np.unique(f):
                test = t[f == k]
                pred[f == k] = PREDICTORS[fam](t[f != k], test)
            out[f"pred__{fam}__{scheme}"] = np.maximum(t["straight_m"].to_numpy(float), pred)
    return out


def summarise(cv: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(overall, per_borough)`` error tables: one row per family x scheme (x borough)."""
    overall, per = [], []
    for col in [c for c in cv.columns if c.startswith("pred__")]:
        _, fam, scheme = col.split("__")
        ok = cv[col].notna()
        overall.append({"family": fam, "scheme": scheme, **errors(cv.loc[ok, "road_m"], cv.loc[ok, col])})
        for lad, g in cv[ok].groupby("lad_nm"):
            per.append({"family": fam, "scheme": scheme, "borough": lad, **errors(g["road_m"], g[col])})
    per_df = pd.DataFrame(per)
    overall_df = pd.DataFrame(overall)
    worst = per_df.loc[per_df.groupby(["family", "scheme"])["mae_m"].idxmax()]
    bias = per_df.assign(abs_bias=per_df["mean_signed_pct"].abs())
    worst_bias = bias.loc[bias.groupby(["family", "scheme"])["abs_bias"].idxmax()]
    overall_df = overall_df.merge(
        worst[["family", "scheme", "borough", "mae_m"]].rename(columns={"borough": "worst_borough",
                                                                       "mae_m": "worst_mae_m"}),
        on=["family", "scheme"]).merge(
        worst_bias[["family", "scheme", "borough", "mean_signed_pct"]].rename(
            columns={"borough": "worst_bias_borough", "mean_signed_pct": "worst_bias_pct"}), on=["family", "scheme"])
    return overall_df, per_df


def _md(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    return "\n".join([head, rule, *("| " + " | ".join(map(str, r)) + " |" for r in df.itertuples(index=False))])


def markdown_tables(overall: pd.DataFrame, per: pd.DataFrame) -> str:
    """The tables of docs/distance-model.md: overall (family x scheme) and per borough (MAE m /
    mean signed %, spatially blocked CV, with leave-one-borough-out for the London line)."""
    o = overall.sort_values(["scheme", "mae_m"])[["scheme", "family", "n", "mae_m", "median_abs_pct",
                                                   "mean_signed_pct", "r2", "worst_borough", "worst_mae_m",
                                                   "worst_bias_borough", "worst_bias_pct"]]
    cells = per.assign(cell=per["mae_m"].map("{:.0f}".format) + " / " + per["mean_signed_pct"].map("{:+.1f}".format))
    cells = cells.assign(col=cells["family"] + " " + cells["scheme"])
    wanted = [c for c in ("per_borough blocked", "london blocked", "shrunk blocked", "knn_residual blocked",
                          "gwr blocked", "london borough", "london lsoa", "knn_residual lsoa") if c in set(cells["col"])]
    wide = cells.pivot(index="borough", columns="col", values="cell")[wanted].reset_index().fillna("n/a")
    n = per[(per["family"] == "london") & (per["scheme"] == "blocked")].set_index("borough")["n"]
    wide.insert(1, "pairs", wide["borough"].map(n))
    return _md(o) + "\n\nPer borough: MAE (m) / mean signed % error, out of sample\n\n" + _md(wide)


__all__ = ["FAMILIES", "SCHEMES", "folds", "cross_validate", "summarise", "markdown_tables"]
