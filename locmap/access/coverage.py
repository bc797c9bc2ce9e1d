"""People within / beyond pram-pushing thresholds, per area level and age band.

Minutes come from ``AccessResult.wide`` (``minutes__<type>``): street or estimated distance /
speed, or, with pram penalties, pram cost / speed (docs/network.md).  Population is conserved:
``pop_within + pop_beyond`` is the area total for every row.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from locmap.access._common import (
    DEFAULT_LEVELS,
    STRAIGHT_LABEL,
    TOTAL_ID,
    area_keys,
    method_of,
    require,
    wide_column,
)
from locmap.bands import BANDS
from locmap.settings import Settings

#: Columns of the coverage table.
COVERAGE_COLUMNS = ["level", "area_id", "service_type", "threshold_minutes", "band", "pop_within",
                    "pop_beyond", "pop_total", "pct_within", "pop_unreachable",
                    "pct_within_straight", "straight_label", "method", "label"]


def coverage(
    wide_homes: pd.DataFrame,
    areas: Mapping[str, str] | None = None,
    thresholds_minutes: Sequence[float] = (10.0, 15.0, 20.0),
    service_types: Sequence[str] | None = None,
    bands: Sequence[str] = BANDS,
    settings: Settings | None = None,
    method: str | None = None,
    label: str | None = None,
) -> pd.DataFrame:
    """People within / beyond each threshold, per area, service type and age band.

    Parameters
    ----------
    wide_homes : DataFrame
        ``AccessResult.wide``: homes with band columns and ``minutes__<type>``,
        ``straight_nearest_m__<type>``, ``unreachable__<type>``.
    areas : dict, optional
        Level name -> homes column (default :data:`DEFAULT_LEVELS`, only the
        columns present).  Homes with a missing area id are reported under
        ``"__unassigned__"`` so totals are conserved.
    thresholds_minutes : list of float
        Pram-distance thresholds (minutes).  "Within" means ``minutes <= t``.
    service_types : list of str, optional
        Default: every type with a ``minutes__`` column.
    bands : list of str
        Population columns (people, may be fractional).
    settings : Settings, optional
        Walking speed used to turn thresholds into metres for the straight-line
        comparison (default ``Settings()``: 4.0 km/h).
    method, label : str, optional
        Override the routing method/label (default: from ``wide_homes``).

    Returns
    -------
    DataFrame
        :data:`COVERAGE_COLUMNS`, plus one ``area_id="__total__"`` row per level.
        ``pop_total`` is defined as ``pop_within + pop_beyond`` (so the identity is exact);
        it equals the sum of the band over the area's homes up to floating-point rounding.
        Unreachable homes count as beyond and their people are also in ``pop_unreachable``.
        ``pct_within_straight`` uses the straight line to the nearest service
        (``straight_nearest_m``) at the same walking speed - a comparison only, labelled
        ``straight_label``.
    """
    settings = settings or Settings()
    method, label = method_of(wide_homes, method, label)
    if areas is None:
        areas = {lvl: col for lvl, col in DEFAULT_LEVELS.items() if col in wide_homes.columns}
    if service_types is None:
        service_types = [c.split("__", 1)[1] for c in wide_homes.columns
                         if c.startswith("minutes__")]
    require(wide_homes, bands, "homes")
    bands = list(bands)
    pop = wide_homes[bands].to_numpy(dtype=float)
    pop = np.where(np.isfinite(pop), pop, 0.0)
    keys = {lvl: area_keys(wide_homes, col) for lvl, col in areas.items()}
    out: list[dict[str, np.ndarray]] = []
    for t in service_types:
        minutes, straight_m = _type_columns(wide_homes, t)
        for thr in thresholds_minutes:
            people = _people_by_status(pop, minutes, straight_m, float(thr), settings)
            for lvl, key in keys.items():
                out.append(_level_rows(people, key, lvl, t, float(thr), bands))
    if not out:
        return pd.DataFrame(columns=COVERAGE_COLUMNS)
    # one table from the blocks' columns (a frame per block and band, concatenated, cost 4 x more)
    res = pd.DataFrame({c: np.concatenate([o[c] for o in out]) for c in out[0]})
    res["straight_label"] = STRAIGHT_LABEL
    res["method"] = method
    res["label"] = label
    return res[COVERAGE_COLUMNS]


def _type_columns(wide_homes: pd.DataFrame, service_type: str) -> tuple[np.ndarray, np.ndarray]:
    """Minutes to the nearest service of the type, and the straight line (metres) to it."""
    require(wide_homes, (wide_column("minutes", service_type),), "homes (access results)")
    minutes = wide_homes[wide_column("minutes", service_type)].to_numpy(dtype=float)
    sn_col = wide_column("straight_nearest_m", service_type)
    straight = wide_homes[sn_col].to_numpy(dtype=float) if sn_col in wide_homes.columns \
        else np.full(len(minutes), np.nan)
    return minutes, straight


def _people_by_status(pop: np.ndarray, minutes: np.ndarray, straight_m: np.ndarray, thr: float,
                      settings: Settings) -> np.ndarray:
    """People per home and band, stacked as [within | beyond | unreachable | within straight]."""
    within = np.isfinite(minutes) & (minutes <= thr)
    unreach = ~np.isfinite(minutes)
    within_s = np.isfinite(straight_m) & (straight_m <= thr * settings.metres_per_minute)
    return np.hstack([pop * within[:, None], pop * (~within)[:, None],
                      pop * unreach[:, None], pop * within_s[:, None]])


def _level_rows(people: np.ndarray, key: np.ndarray, level: str, service_type: str, thr: float,
                bands: list[str]) -> dict[str, np.ndarray]:
    """The rows of one level (band by band: the areas, then the level total) as columns."""
    g = pd.DataFrame(people).groupby(key, sort=True).sum()
    tot = g.sum(axis=0).to_frame().T
    tot.index = [TOTAL_ID]
    g = pd.concat([g, tot])
    nb, n_areas = len(bands), len(g)
    sums = g.to_numpy()
    pw, pb, pu, pws = (sums[:, k * nb:(k + 1) * nb].T.reshape(-1) for k in range(4))  # band-major
    ptot = pw + pb
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(ptot > 0, 100.0 * pw / ptot, np.nan)
        pcts = np.where(ptot > 0, 100.0 * pws / ptot, np.nan)
    n = nb * n_areas
    return {"level": np.full(n, level, dtype=object), "area_id": np.tile(g.index.astype(str).to_numpy(object), nb),
            "service_type": np.full(n, service_type, dtype=object), "threshold_minutes": np.full(n, thr),
            "band": np.repeat(np.asarray(bands, dtype=object), n_areas), "pop_within": pw, "pop_beyond": pb,
            "pop_total": ptot, "pct_within": pct, "pop_unreachable": pu, "pct_within_straight": pcts}


__all__ = ["coverage", "COVERAGE_COLUMNS"]
