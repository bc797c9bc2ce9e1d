"""Baseline and scenarios side by side: coverage, who gains, who loses, cross-border, 2SFCA.

:func:`compare` takes a :class:`~locmap.scenarios.resolve.Resolution` and the run's baseline
:class:`~locmap.results.AccessAnalysis`.  Only the service types a scenario changes are
measured again - once, for the union of services (:mod:`locmap.scenarios.distances`) - and
"any key service" is rebuilt from them and the baseline's unchanged key types.  A type no
scenario changes is the baseline's by definition, so it is not repeated in the tables.

Per state (baseline and each scenario), by borough, ward, town, PCN footprint and locality:
children by age band within / beyond each threshold, the share whose nearest service is across
the border, and the demand-weighted 2SFCA score; per scenario: the people who gain (beyond ->
within), who lose (within -> beyond) and the net change, and every home that changes side.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from locmap.access._common import ANY_KEY, TOTAL_ID, area_keys, wide_column
from locmap.access.fca import _capacities, demand_band_for, two_step_fca_numpy
from locmap.bands import BANDS
from locmap.scenarios.distances import TypeDistances, measure
from locmap.scenarios.resolve import Resolution

#: Area levels of the tables: level -> homes column.
LEVELS: dict[str, str] = {"ward": "ward_cd", "town": "town", "pcn": "pcn_code"}

#: The bands of the cross-border table.
CROSS_BANDS = ("pop_0_4", "pop_0_19")


@dataclass(frozen=True)
class HomeState:
    """Per home, one service type, one state: the k nearest open services and their cost."""

    minutes: np.ndarray          # (n,) to the nearest open service (NaN: none reachable)
    nearest_id: np.ndarray       # (n,) object
    cross_border: np.ndarray     # (n,) float: 1 across the border, 0 in the borough, NaN unknown
    ranks: tuple | None = None   # (cost_m, distance_m, service ids, lad) each (n, k); None for any-key


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` measured (tables described in docs/scenarios.md)."""

    states: tuple[str, ...]
    service_types: tuple[str, ...]
    thresholds: tuple[float, ...]
    headline_minutes: float
    label: str
    summary: pd.DataFrame
    coverage: pd.DataFrame
    differences: pd.DataFrame
    homes_changed: pd.DataFrame
    crossborder: pd.DataFrame
    fca: pd.DataFrame
    home_states: Mapping[str, Mapping[str, HomeState]] = field(repr=False, default_factory=dict)
    distances: Mapping[str, TypeDistances] = field(repr=False, default_factory=dict)


# ----------------------------------------------------------------------------- per-home states
def _lad_cross(lads: np.ndarray, area_lads: Sequence[str]) -> np.ndarray:
    known = np.array([v is not None and v == v and str(v) != "" for v in lads], dtype=bool)
    out = np.full(len(lads), np.nan)
    out[known] = (~np.isin(lads[known].astype(str), list(area_lads))).astype(float)
    return out


def _type_state(td: TypeDistances, union: pd.DataFrame, open_mask: np.ndarray, k: int, mpm: float,
                area_lads: Sequence[str]) -> HomeState:
    cost, dist, col = td.nearest(open_mask[td.rows], k)
    ids = union["service_id"].to_numpy(object)[td.rows]
    lads = union["lad_cd"].to_numpy(object)[td.rows]
    sid = np.where(col >= 0, ids[np.maximum(col, 0)], None)
    lad = np.where(col >= 0, lads[np.maximum(col, 0)], None)
    return HomeState(minutes=cost[:, 0] / mpm, nearest_id=sid[:, 0], cross_border=_lad_cross(lad[:, 0], area_lads),
                     ranks=(cost, dist, sid, lad, col))


def _baseline_type(wide: pd.DataFrame, t: str) -> HomeState:
    cb = wide[wide_column("cross_border", t)].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    return HomeState(minutes=wide[wide_column("minutes", t)].to_numpy(float),
                     nearest_id=wide[wide_column("nearest_id", t)].to_numpy(object), cross_border=cb)


def _any_key(parts: Mapping[str, HomeState]) -> HomeState:
    """The nearest of any key type: the smallest minutes over the key types (first type on ties)."""
    types = list(parts)
    m = np.column_stack([parts[t].minutes for t in types])
    none = np.isnan(m).all(axis=1)
    j = np.argmin(np.where(np.isnan(m), np.inf, m), axis=1)
    rows = np.arange(len(m))
    pick = lambda a: np.column_stack([getattr(parts[t], a) for t in types])[rows, j]  # noqa: E731
    ids = pick("nearest_id").astype(object)
    ids[none] = None
    cb = pick("cross_border").astype(float)
    cb[none] = np.nan
    return HomeState(minutes=np.where(none, np.nan, m[rows, j]), nearest_id=ids, cross_border=cb)


def home_states(res: Resolution, dists: Mapping[str, TypeDistances], baseline_wide: pd.DataFrame,
                key_types: Sequence[str], k: int, mpm: float, area_lads: Sequence[str]) -> dict[str, dict[str, HomeState]]:
    """state -> type -> :class:`HomeState` for the changed types (and any key service)."""
    out: dict[str, dict[str, HomeState]] = {}
    key_changed = [t for t in key_types if t in dists]
    for state, mask in res.states.items():
        per = {t: _type_state(td, res.union, mask, k, mpm, area_lads) for t, td in dists.items()}
        if key_changed and wide_column("minutes", ANY_KEY) in baseline_wide.columns:
            parts = {t: per[t] if t in per else _baseline_type(baseline_wide, t) for t in key_types
                     if t in per or wide_column("minutes", t) in baseline_wide.columns}
            per[ANY_KEY] = _any_key(parts)
        out[state] = per
    return out


# ----------------------------------------------------------------------------- area sums
@dataclass(frozen=True)
class _Groups:
    """Area codes of every home per level (``borough`` = one area)."""

    codes: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    names: dict[str, dict]

    @classmethod
    def of(cls, homes: pd.DataFrame, levels: Mapping[str, str], names: Mapping[str, dict]) -> "_Groups":
        codes, labels = {"borough": np.zeros(len(homes), np.int64)}, {"borough": np.array([TOTAL_ID], object)}
        for lvl, col in levels.items():
            if col in homes.columns:
                c, lab = pd.factorize(pd.Series(area_keys(homes, col)), sort=True)
                codes[lvl], labels[lvl] = c, np.asarray(lab, object)
        return cls(codes, labels, {k: dict(v) for k, v in names.items()})

    def sums(self, weights: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """(level, area ids, sums) of ``weights`` (n,) per area of every level."""
        return [(lvl, self.labels[lvl], np.bincount(c, weights=weights, minlength=len(self.labels[lvl])))
                for lvl, c in self.codes.items()]

    def frame(self, parts: list[dict]) -> pd.DataFrame:
        """One table from parts whose ``area_id`` (and sums) are arrays and other keys scalars."""
        if not parts:
            return pd.DataFrame()
        n = [len(p["area_id"]) for p in parts]
        cols = {}
        for key in parts[0]:
            vals = [p[key] for p in parts]
            cols[key] = (np.concatenate(vals) if isinstance(vals[0], np.ndarray)
                         else np.repeat(np.array(vals, dtype=object if isinstance(vals[0], str) else float), n))
        df = pd.DataFrame(cols)
        df.insert(df.columns.get_loc("area_id") + 1, "area_name",
                  [self.names.get(lvl, {}).get(a, a) for lvl, a in zip(df["level"], df["area_id"])])
        return df


def _coverage(groups: _Groups, pop: pd.DataFrame, states: Mapping[str, Mapping[str, HomeState]],
              thresholds: Sequence[float]) -> pd.DataFrame:
    parts = []
    for state, per in states.items():
        for t, hs in per.items():
            for thr in thresholds:
                within = np.isfinite(hs.minutes) & (hs.minutes <= thr)
                for band in pop.columns:
                    p = pop[band].to_numpy(float)
                    for (lvl, ids, w), (_, _, tot) in zip(groups.sums(p * within), groups.sums(p)):
                        parts.append({"state": state, "level": lvl, "area_id": ids, "service_type": t,
                                      "threshold_minutes": float(thr), "band": band, "pop_within": w,
                                      "pop_beyond": tot - w, "pop_total": tot})
    df = groups.frame(parts)
    if len(df):
        with np.errstate(invalid="ignore", divide="ignore"):
            df["pct_within"] = np.where(df["pop_total"] > 0, 100.0 * df["pop_within"] / df["pop_total"], np.nan)
    return df


def _differences(groups: _Groups, pop: pd.DataFrame, states: Mapping[str, Mapping[str, HomeState]],
                 thresholds: Sequence[float]) -> pd.DataFrame:
    parts = []
    for state, t, thr, _base, _hs, wb, ws in _within_pairs(states, thresholds):
        for band in pop.columns:
            p = pop[band].to_numpy(float)
            sums = [groups.sums(p * m) for m in (ws & ~wb, wb & ~ws, wb, ws)]
            for (lvl, ids, g), (_, _, lo), (_, _, b), (_, _, s) in zip(*sums):
                parts.append({"scenario": state, "level": lvl, "area_id": ids, "service_type": t,
                              "threshold_minutes": float(thr), "band": band, "baseline_within": b,
                              "scenario_within": s, "gained": g, "lost": lo, "net": g - lo})
    return groups.frame(parts)


def _within_pairs(states: Mapping[str, Mapping[str, HomeState]], thresholds: Sequence[float]):
    """(scenario, type, threshold, baseline state, scenario state, within in the baseline, within in
    the scenario) for every scenario (not the baseline), changed type and threshold."""
    base = states["baseline"]
    for state, per in states.items():
        if state == "baseline":
            continue
        for t, hs in per.items():
            for thr in thresholds:
                wb = np.isfinite(base[t].minutes) & (base[t].minutes <= thr)
                ws = np.isfinite(hs.minutes) & (hs.minutes <= thr)
                yield state, t, thr, base[t], hs, wb, ws


def _homes_changed(homes: pd.DataFrame, states: Mapping[str, Mapping[str, HomeState]],
                   thresholds: Sequence[float]) -> pd.DataFrame:
    cols = [c for c in ("home_id", "postcode", "ward_cd", "town", "pcn_code") if c in homes.columns]
    xy = np.column_stack([homes.geometry.x.to_numpy(float), homes.geometry.y.to_numpy(float)])
    parts = []
    for state, t, thr, bs, hs, wb, ws in _within_pairs(states, thresholds):
        rows = np.flatnonzero(wb != ws)
        if not len(rows):
            continue
        part = homes.iloc[rows][cols + [b for b in BANDS if b in homes.columns]].reset_index(drop=True)
        part.insert(0, "scenario", state)
        part.insert(1, "service_type", t)
        part.insert(2, "threshold_minutes", float(thr))
        part.insert(3, "change", np.where(ws[rows], "gains", "loses"))
        part["baseline_minutes"] = bs.minutes[rows]
        part["scenario_minutes"] = hs.minutes[rows]
        part["baseline_nearest_id"] = bs.nearest_id[rows]
        part["scenario_nearest_id"] = hs.nearest_id[rows]
        part["x"], part["y"] = xy[rows, 0], xy[rows, 1]
        parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["scenario", "service_type", "threshold_minutes", "change", *cols, "baseline_minutes",
                 "scenario_minutes", "baseline_nearest_id", "scenario_nearest_id", "x", "y"])


def _crossborder(groups: _Groups, pop: pd.DataFrame, states: Mapping[str, Mapping[str, HomeState]]) -> pd.DataFrame:
    parts = []
    for state, per in states.items():
        for t, hs in per.items():
            known = np.isfinite(hs.cross_border)
            cross = np.where(known, hs.cross_border, 0.0)
            for band in (b for b in CROSS_BANDS if b in pop.columns):
                p = pop[band].to_numpy(float)
                for (lvl, ids, c), (_, _, kn) in zip(groups.sums(p * cross), groups.sums(p * known)):
                    with np.errstate(invalid="ignore", divide="ignore"):
                        share = np.where(kn > 0, c / kn, np.nan)
                    parts.append({"state": state, "level": lvl, "area_id": ids, "service_type": t, "band": band,
                                  "people_cross_border": c, "people_known": kn, "share_cross_border": share})
    return groups.frame(parts)


def _fca(groups: _Groups, res: Resolution, dists: Mapping[str, TypeDistances], homes: pd.DataFrame,
         demand_homes: pd.DataFrame | None, thresholds: Sequence[float], mpm: float) -> pd.DataFrame:
    """Demand-weighted mean 2SFCA per area (per 1000 people of the type's demand band), per state."""
    n = len(homes)
    parts = []
    for t, td in dists.items():
        if td.pairs is None:
            continue
        band = demand_band_for(t)
        demand = homes[band].to_numpy(float)
        if demand_homes is not None and len(demand_homes):
            demand = np.concatenate([demand, demand_homes[band].to_numpy(float)])
        cost_min = td.pairs.to_dense() / mpm
        for state, mask in res.states.items():
            cols = np.flatnonzero(mask[td.rows])
            if not len(cols):
                continue
            supply, _ = _capacities(res.union.iloc[td.rows[cols]], "capacity")
            for thr in thresholds:
                acc_, _ = two_step_fca_numpy(np.nan_to_num(demand), supply, cost_min[:, cols], float(thr))
                d = np.nan_to_num(demand[:n])
                for (lvl, ids, w), (_, _, tot) in zip(groups.sums(d * acc_[:n]), groups.sums(d)):
                    with np.errstate(invalid="ignore", divide="ignore"):
                        score = np.where(tot > 0, 1000.0 * w / tot, np.nan)
                    parts.append({"state": state, "level": lvl, "area_id": ids, "service_type": t,
                                  "threshold_minutes": float(thr), "demand_band": band, "demand": tot,
                                  "fca_per_1000": score})
    return groups.frame(parts)


def _summary(diff: pd.DataFrame) -> pd.DataFrame:
    if not len(diff):
        return diff
    tot = diff[diff["level"] == "borough"].drop(columns=["level", "area_id", "area_name"])
    return tot.reset_index(drop=True)


# ----------------------------------------------------------------------------- the comparison
def compare(area: Any, res: Resolution, baseline: Any, router: Any, settings: Any,
            localities: pd.Series | None = None, fca: bool = True) -> Comparison:
    """Measure the union once and compare every scenario with the baseline (module docstring).

    ``baseline`` is the run's :class:`~locmap.results.AccessAnalysis` (its per-home table gives
    the unchanged key types for "any key service"); ``router`` the router it used;
    ``localities`` an optional LSOA -> locality assignment (the lead scheme) for a ``locality`` level.
    """
    thresholds = tuple(float(t) for t in settings.thresholds_minutes)
    mpm = settings.metres_per_minute
    types = sorted(set().union(*(res.changed_types(s) for s in res.states if s != "baseline")))
    homes = area.homes
    home_xy = np.column_stack([homes.geometry.x.to_numpy(float), homes.geometry.y.to_numpy(float)])
    nb = getattr(area, "neighbour_homes", None)
    nb_xy = None if nb is None or not len(nb) else np.column_stack([nb.geometry.x.to_numpy(float),
                                                                     nb.geometry.y.to_numpy(float)])
    dists = measure(res.union, res.states, types, home_xy, nb_xy, router, settings.k_nearest,
                    max(thresholds) * mpm if fca else None)
    key = [t for t in getattr(area.pack, "key_service_types", ()) if t != ANY_KEY]
    lads = list(getattr(area.pack, "lad_cds", ()) or (area.pack.lad_cd,))
    states = home_states(res, dists, baseline.result.wide, key, settings.k_nearest, mpm, lads)
    levels = dict(LEVELS)
    h = homes
    if localities is not None:
        h = homes.assign(locality=homes["lsoa21cd"].map(localities))
        levels["locality"] = "locality"
    names = {"ward": dict(zip(area.wards["ward_cd"], area.wards["ward_nm"])),
             "pcn": dict(zip(area.pcns["pcn_code"], area.pcns["pcn_name"])) if "pcn_name" in area.pcns else {},
             "borough": {TOTAL_ID: getattr(area.pack, "lad_nm", area.name)}}
    groups = _Groups.of(h, levels, names)
    pop = homes[[b for b in BANDS if b in homes.columns]]
    diff = _differences(groups, pop, states, thresholds)
    return Comparison(
        states=tuple(res.states), service_types=tuple(next(iter(states.values())).keys()) if states else (),
        thresholds=thresholds, headline_minutes=sorted(thresholds)[len(thresholds) // 2],
        label=baseline.result.label, summary=_summary(diff), coverage=_coverage(groups, pop, states, thresholds),
        differences=diff, homes_changed=_homes_changed(h, states, thresholds),
        crossborder=_crossborder(groups, pop, states),
        fca=_fca(groups, res, dists, homes, nb, thresholds, mpm) if fca else pd.DataFrame(),
        home_states=states, distances=dists)


# ----------------------------------------------------------------------------- a full AccessResult
def scenario_access_result(baseline_result: Any, cmp: Comparison, res: Resolution, state: str,
                           mpm: float) -> Any:
    """The baseline's :class:`~locmap.access.nearest.AccessResult` with the changed types (and any
    key service) replaced by ``state``'s: what the locality ranking needs to re-score."""
    per = cmp.home_states[state]
    table = baseline_result.table
    keep = ~table["service_type"].isin(list(per))
    wide = baseline_result.wide.copy()
    home_ids = wide["home_id"].to_numpy()
    hx, hy = wide.geometry.x.to_numpy(float), wide.geometry.y.to_numpy(float)
    parts = [table[keep]]
    xy = res.union.set_index("service_id")[["easting", "northing"]]
    for t, hs in per.items():
        if hs.ranks is None:
            cost, dist, sid, lad = (hs.minutes[:, None] * mpm, hs.minutes[:, None] * mpm,
                                    hs.nearest_id[:, None], np.full((len(hs.minutes), 1), None, object))
        else:
            cost, dist, sid, lad, _ = hs.ranks
        n, kk = cost.shape
        sx = xy["easting"].reindex(sid.ravel()).to_numpy(float).reshape(n, kk)
        sy = xy["northing"].reindex(sid.ravel()).to_numpy(float).reshape(n, kk)
        cross = _lad_cross(lad.ravel(), [baseline_result.area_lad_cd] if isinstance(
            baseline_result.area_lad_cd, str) else list(baseline_result.area_lad_cd or ()))
        rows = pd.DataFrame({
            "home_id": np.repeat(home_ids, kk), "service_type": t, "rank": np.tile(np.arange(1, kk + 1), n),
            "service_id": sid.ravel(), "distance_m": dist.ravel(), "minutes": cost.ravel() / mpm,
            "straight_m": np.hypot(np.repeat(hx, kk) - sx.ravel(), np.repeat(hy, kk) - sy.ravel()),
            "service_lad_cd": lad.ravel(),
            "cross_border": pd.array(np.where(np.isnan(cross), None, cross == 1), dtype="boolean"),
            "method": baseline_result.method, "label": baseline_result.label})
        if t == ANY_KEY:
            rows["cross_border"] = pd.array(np.where(np.isnan(hs.cross_border), None, hs.cross_border == 1),
                                            dtype="boolean")
        parts.append(rows)
        wide[wide_column("minutes", t)] = hs.minutes
        wide[wide_column("distance_m", t)] = dist[:, 0]
        wide[wide_column("nearest_id", t)] = hs.nearest_id
    new_table = pd.concat(parts, ignore_index=True)
    return dataclasses.replace(baseline_result, table=new_table, wide=wide)


def rescore(area_for: Callable[[str], Any], results: Mapping[str, Any],
            analyse: Callable[[Any, Any], Any], recommend: Callable[[Any], Any]) -> pd.DataFrame:
    """The recommendation re-scored per state: ``analyse(area, access_result)`` then ``recommend``."""
    rows = []
    for state, result in results.items():
        rec = recommend(analyse(area_for(state), result))
        rows.append({"state": state, "scheme": rec.scheme, "recommended": rec.locality, "runner_up": rec.runner_up,
                     "p_first": getattr(rec, "p_first", np.nan), "headline": rec.headline()})
    df = pd.DataFrame(rows)
    if len(df):
        base = df.loc[df["state"] == "baseline", "recommended"]
        df["changes_choice"] = df["recommended"] != (base.iloc[0] if len(base) else None)
    return df


__all__ = ["LEVELS", "HomeState", "Comparison", "compare", "home_states", "scenario_access_result", "rescore"]
