"""Locality scorecard: one tidy row per locality of a scheme, every column described.

Inputs are plain tables (see docs/architecture.md): the LSOA layer (population bands and
deprivation), homes (population at residential points, with ``lsoa21cd``), the service
register and the home -> service distance table of ``locmap.access.nearest``.  The scorecard does
not route: it reads ``minutes`` from the distance table, so the same code reports street
distances or calibrated estimates (column ``distance_method``).

:data:`COLUMN_DESCRIPTIONS` (and :func:`column_descriptions`) gives name, unit and
description of every column; column names carry their unit (``pct_`` = percent 0-100,
``_per_1000`` = per 1,000 children 0-19, ``pop_`` = people).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from locmap.bands import bands_in
from locmap.distance.routing import method_label
from locmap.errors import MissingColumnError
from locmap.localities.alignment import crosstab

LSOA_ID = "lsoa21cd"
DEFAULT_KEY_TYPES: tuple[str, ...] = ("childrens_centre", "gp_practice", "primary_school",
                                      "library", "pharmacy")
#: service types with their own coverage columns (besides "any key service")
COVERAGE_TYPES: tuple[str, ...] = ("childrens_centre", "gp_practice")
DEFAULT_SIZE_GUIDE: tuple[float, float] = (30000.0, 50000.0)

#: Static part of the column descriptions (dynamic columns are added by
#: :func:`column_descriptions`).  name -> (unit, description)
COLUMN_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "scheme": ("name", "locality scheme"),
    "locality": ("name", "locality"),
    "n_lsoa": ("LSOAs", "number of LSOA 2021 in the locality"),
    "pop_total": ("people", "total population (Census 2021 based, as loaded)"),
    "pop_0_4": ("people", "children aged 0-4"),
    "pop_5_11": ("people", "children aged 5-11"),
    "pop_12_19": ("people", "young people aged 12-19"),
    "pop_0_19": ("people", "children and young people aged 0-19"),
    "pct_pop_0_19": ("percent", "children 0-19 as % of total population"),
    "imd_score_popw": ("IMD score", "population-weighted mean IMD score (higher = more deprived)"),
    "imd_decile_childw": ("decile 1-10", "child-weighted mean IMD decile (1 = most deprived)"),
    "idaci_decile_childw": ("decile 1-10", "child-weighted mean IDACI decile (1 = most deprived)"),
    "idaci_rank_childw": ("national rank", "child-weighted mean IDACI rank (1 = most deprived)"),
    "idaci_children_income_deprived": ("children", "IDACI numerator: children in income-deprived "
                                       "families (suppressed LSOAs count 0)"),
    "pct_children_idaci_most_deprived_20": ("percent", "% of children 0-19 living in LSOAs in "
                                            "IDACI deciles 1-2 (most deprived 20% nationally)"),
    "pct_children_imd_most_deprived_20": ("percent", "% of children 0-19 living in LSOAs in IMD "
                                          "deciles 1-2"),
    "n_services_total": ("services", "located services of all types inside the locality"),
    "gap_children": ("children", "children 0-19 whose nearest key service is beyond the gap "
                     "threshold (minutes of pram distance)"),
    "pct_gap_children": ("percent", "gap_children as % of children 0-19"),
    "pct_children_nearest_key_other_locality": ("percent", "% of children whose nearest key "
                                                "service is in another locality of the scheme"),
    "pct_children_nearest_key_outside_borough": ("percent", "% of children whose nearest key "
                                                 "service is across the borough border"),
    "hard_edge_risk_pct": ("percent", "% of children whose nearest key service is across the "
                           "locality edge or the borough border (sum of the two above)"),
    "pct_children_nearest_cc_across_edge": ("percent", "% of children whose nearest children's "
                                            "centre/family hub is in another locality or borough"),
    "size_guide_min": ("people", "lower end of the size guide (Wigan places: 30,000)"),
    "size_guide_max": ("people", "upper end of the size guide (Wigan places: 50,000)"),
    "size_vs_guide": ("category", "below / within / above the size guide (total population)"),
    "size_gap_people": ("people", "people below the guide minimum (negative) or above the "
                        "maximum (positive); 0 when within"),
    "align_town_best": ("name", "town holding most of the locality's children"),
    "align_town_share": ("share 0-1", "share of the locality's children in that town"),
    "align_pcn_best": ("name", "PCN footprint holding most of the locality's children"),
    "align_pcn_share": ("share 0-1", "share of the locality's children in that PCN footprint"),
    "gap_threshold_min": ("minutes", "pram-distance threshold used for gap_children"),
    "walk_speed_kmh": ("km/h", "pram-pushing speed used to turn distance into minutes"),
    "distance_method": ("label", "street distance or estimated street distance (London model v1, typical error ±145 m)"),
}


def column_descriptions(df: pd.DataFrame) -> pd.DataFrame:
    """Description table (``name, unit, description``) for every column of a scorecard."""
    rows = []
    for c in df.columns:
        if c in COLUMN_DESCRIPTIONS:
            u, d = COLUMN_DESCRIPTIONS[c]
        elif c.startswith("n_") and c != "n_lsoa":
            u, d = "services", f"located {c[2:]} services inside the locality"
        elif c.endswith("_per_1000"):
            u, d = ("per 1,000 children",
                    f"{c[:-9]} services per 1,000 children 0-19 living in the locality")
        elif c.startswith("pct_children_within_"):
            rest = c[len("pct_children_within_"):]
            mins, typ = rest.split("min_", 1)
            what = "any key service" if typ == "any_key" else typ.replace("_", " ")
            u, d = "percent", f"% of children 0-19 within {mins} min pram distance of {what}"
        else:
            u, d = "", ""
        rows.append({"name": c, "unit": u, "description": d})
    return pd.DataFrame(rows, columns=["name", "unit", "description"])


def service_locality(services: gpd.GeoDataFrame, lsoa: gpd.GeoDataFrame,
                     assignment: pd.Series) -> pd.Series:
    """Locality of each located service (point in LSOA polygon); NaN outside the area.

    Returns a Series indexed by ``service_id``.
    """
    return service_lsoa(services, lsoa).map(assignment)


def service_lsoa(services: gpd.GeoDataFrame, lsoa: gpd.GeoDataFrame) -> pd.Series:
    """LSOA of each located service (point in LSOA polygon; NaN outside the area), indexed by
    ``service_id``: what :func:`service_locality` maps to a scheme's localities."""
    s = services[services.geometry.notna() & ~services.geometry.is_empty]
    s = s[["service_id", "geometry"]]
    j = gpd.sjoin(s, lsoa[[LSOA_ID, "geometry"]], how="left", predicate="within")
    j = j.drop_duplicates("service_id")
    out = j[LSOA_ID].copy()
    out.index = j["service_id"].to_numpy()
    return out


def _nearest_by_type(distances: pd.DataFrame) -> pd.DataFrame:
    d = distances[distances["rank"] == 1]
    return d.drop_duplicates(["home_id", "service_type"])


def coverage_thresholds(scorecard: pd.DataFrame) -> list[float]:
    """Thresholds (minutes) with an any-key coverage column in ``scorecard``, ascending."""
    pre, suf = "pct_children_within_", "min_any_key"
    return sorted(float(c[len(pre):-len(suf)]) for c in scorecard.columns
                  if c.startswith(pre) and c.endswith(suf))


def scorecard_at_threshold(scorecard: pd.DataFrame, minutes: float,
                           child_col: str = "pop_0_19") -> pd.DataFrame:
    """The scorecard with its gap columns at another gap threshold, from its coverage columns.

    Exact: a child beyond ``minutes`` of every key service is one not within ``minutes``
    of any, so ``pct_gap_children = 100 - pct_children_within_<minutes>min_any_key`` and
    ``gap_children`` is that share of ``child_col``.  Nothing else depends on the threshold.

    Raises
    ------
    MissingColumnError
        The scorecard has no coverage column at ``minutes`` (build it with that threshold).
    """
    col = f"pct_children_within_{float(minutes):g}min_any_key"
    if col not in scorecard.columns:
        raise MissingColumnError("scorecard", col, list(scorecard.columns))
    out = scorecard.copy()
    out["pct_gap_children"] = 100.0 - out[col]
    out["gap_children"] = out[child_col] * out["pct_gap_children"] / 100.0
    out["gap_threshold_min"] = float(minutes)
    return out


COVERAGE_PREFIX = "pct_children_within_"


def nearest_matrix(distances: pd.DataFrame, home_ids: Sequence[str], value: str = "minutes") -> pd.DataFrame:
    """``value`` of each home's rank-1 service of each type: rows ``home_ids`` (NaN where the table
    has none), columns every service type of the table (sorted).

    The same numbers as pivoting :func:`_nearest_by_type` (the first rank-1 row of a home and type
    counts), found by position: the strings are factorised once, not hashed per pivot.
    """
    rank1 = distances["rank"].to_numpy() == 1
    type_code, types = pd.factorize(distances["service_type"], sort=True)
    home_code, homes_seen = pd.factorize(distances["home_id"])
    row = pd.Index(home_ids).get_indexer(homes_seen)[home_code]
    use = np.flatnonzero(rank1 & (row >= 0) & (type_code >= 0))
    cell = row[use].astype(np.int64) * len(types) + type_code[use]
    _, first = np.unique(cell, return_index=True)  # the first row of each (home, type)
    out = np.full((len(home_ids), len(types)), np.nan)
    out[row[use[first]], type_code[use[first]]] = distances[value].to_numpy(float)[use[first]]
    return pd.DataFrame(out, index=pd.Index(home_ids, name="home_id"), columns=pd.Index(types, name="service_type"))


@dataclass(frozen=True)
class LocalityHomes:
    """The homes of one scheme grouped by locality: what every access column sums over.

    ``localities`` is the output order; ``codes[i]`` the position of home ``i``'s locality in it
    (-1: none, left out); ``children`` the children 0-19 at each home.
    """

    localities: pd.Index
    codes: np.ndarray
    children: np.ndarray

    @classmethod
    def of(cls, homes: pd.DataFrame, assignment: pd.Series, localities: Sequence[str],
           child_col: str = "pop_0_19") -> "LocalityHomes":
        idx = pd.Index(localities)
        codes = idx.get_indexer(homes[LSOA_ID].map(assignment))
        return cls(idx, codes, homes[child_col].astype(float).to_numpy())

    def sums(self, X: np.ndarray) -> np.ndarray:
        """``(n_localities, n_columns)`` sums of ``X``'s rows (homes) per locality (NaN: no home).

        pandas' grouped sum (compensated, in row order), so each column equals
        ``Series.groupby(locality).sum()`` to the bit; one pass for all columns.
        """
        keep = self.codes >= 0
        s = pd.DataFrame(X[keep]).groupby(self.codes[keep]).sum()
        return s.reindex(range(len(self.localities))).to_numpy(float)


def coverage_hits(minutes: pd.DataFrame, key: Sequence[str], thresholds_minutes: Sequence[float],
                  gap_thresholds_min: Sequence[float]) -> tuple[list[str], np.ndarray]:
    """Names and 0/1 columns (homes x columns) of every coverage column at each threshold and of
    the gap (``gap_<g>``: nearest key service beyond ``g`` minutes or none) at each gap threshold.

    ``minutes``: :func:`nearest_matrix` (homes x service types).
    """
    M = minutes.to_numpy(float)
    col = {t: i for i, t in enumerate(minutes.columns)}
    any_key = (np.fmin.reduce(M[:, [col[t] for t in key]], axis=1) if key  # NaN only when none reached
               else np.full(len(M), np.nan))
    names, hits = [], []
    for T in thresholds_minutes:
        for t in (t for t in COVERAGE_TYPES if t in col):
            names.append(f"{COVERAGE_PREFIX}{T:g}min_{t}")
            hits.append(M[:, col[t]] <= T)
        names.append(f"{COVERAGE_PREFIX}{T:g}min_any_key")
        hits.append(any_key <= T)
    for g in gap_thresholds_min:
        names.append(f"gap_{float(g):g}")
        hits.append(~(any_key <= float(g)))  # NaN (unreachable) counts as gap
    return names, np.column_stack(hits).astype(float) if hits else np.zeros((len(M), 0))


def _with_gap(thresholds_minutes: Sequence[float], gap_threshold_min: float) -> list[float]:
    """The coverage thresholds, the gap threshold added (the ranking reads coverage at it)."""
    out = list(thresholds_minutes)
    if float(gap_threshold_min) not in {float(t) for t in out}:
        out.append(float(gap_threshold_min))
    return out


@dataclass(frozen=True)
class CoverageBlocks:
    """The 0/1 coverage and gap columns of every scenario (:func:`coverage_hits`), each weighted by
    the children at each home: ``X`` is homes x (children, then each scenario's columns as
    ``layout`` lists them).  Nothing in it depends on the scheme, so a run builds it once and sums
    it per locality for every scheme (:meth:`per_locality`)."""

    layout: tuple[tuple[object, tuple[str, ...]], ...]
    X: np.ndarray
    thresholds_minutes: tuple[float, ...]
    gap_thresholds_min: tuple[float, ...]

    @classmethod
    def of(cls, children: np.ndarray, minutes_by_scenario: Mapping[object, pd.DataFrame], key: Sequence[str],
           thresholds_minutes: Sequence[float], gap_thresholds_min: Sequence[float]) -> "CoverageBlocks":
        """``children`` at each home (:attr:`LocalityHomes.children`); ``minutes_by_scenario``:
        :func:`nearest_matrix` of each scenario (rows: the same homes)."""
        all_t = list(thresholds_minutes) + [float(g) for g in gap_thresholds_min
                                            if float(g) not in {float(t) for t in thresholds_minutes}]
        layout, blocks = [], [children[:, None]]
        for name, mins in minutes_by_scenario.items():
            cols, hits = coverage_hits(mins, key, all_t, gap_thresholds_min)
            layout.append((name, tuple(cols)))
            blocks.append(children[:, None] * hits)
        return cls(tuple(layout), np.hstack(blocks), tuple(thresholds_minutes), tuple(gap_thresholds_min))

    def per_locality(self, homes: LocalityHomes) -> dict[object, dict[float, dict[str, np.ndarray]]]:
        """What :func:`access_columns` returns for the localities of ``homes`` (one grouped sum)."""
        S = homes.sums(self.X)
        kids, at = S[:, 0], 1
        out: dict[object, dict[float, dict[str, np.ndarray]]] = {}
        for name, cols in self.layout:
            sums = dict(zip(cols, S[:, at:at + len(cols)].T))
            at += len(cols)
            out[name] = {}
            for g in self.gap_thresholds_min:
                wanted = [c for T in _with_gap(self.thresholds_minutes, g) for c in cols
                          if c.startswith(f"{COVERAGE_PREFIX}{T:g}min_")]
                card = {c: 100 * sums[c] / kids for c in wanted}
                card["gap_children"] = sums[f"gap_{float(g):g}"]
                card["pct_gap_children"] = 100 * card["gap_children"] / kids
                out[name][float(g)] = card
        return out


def access_columns(homes: LocalityHomes, minutes_by_scenario: Mapping[str, pd.DataFrame], key: Sequence[str],
                   thresholds_minutes: Sequence[float], gap_thresholds_min: Sequence[float]
                   ) -> dict[str, dict[float, dict[str, np.ndarray]]]:
    """Coverage and gap columns per locality of every (minutes table x gap threshold) scenario.

    Returns ``{scenario: {gap: {column: values in homes.localities order}}}`` with the columns of
    :func:`build_scorecard` at that gap threshold (coverage at ``thresholds_minutes`` and the gap,
    ``gap_children`` and ``pct_gap_children``): all scenarios' children summed in one pass
    (:class:`CoverageBlocks`).
    """
    return CoverageBlocks.of(homes.children, minutes_by_scenario, key, thresholds_minutes,
                             gap_thresholds_min).per_locality(homes)


def _card_columns(base: pd.DataFrame, scenario_cols: Sequence[str]) -> list[str]:
    """The columns of a scenario's scorecard, in :func:`build_scorecard`'s order: the base's without
    its coverage columns, then the scenario's coverage, gap and run-label columns."""
    kept = [c for c in base.columns if not c.startswith(COVERAGE_PREFIX)]
    card_cols = kept + [c for c in scenario_cols if c not in kept]
    return _ordered([c for c in base.columns if c in card_cols], [c for c in card_cols if c not in base.columns])


def scenario_cards(base: pd.DataFrame, scenarios: Mapping[str, tuple[Mapping[str, np.ndarray], float, float]]
                   ) -> dict[str, pd.DataFrame]:
    """Scorecards of scenarios ``name -> (access columns, gap threshold min, walking speed km/h)``:
    ``base`` with the scenario's access and gap columns (:func:`access_columns`), gap threshold and
    walking speed, in the columns and order :func:`build_scorecard` gives that scenario.

    Scenarios with the same columns are built as one table (the base's rows repeated) and cut
    into scorecards, not built one by one.
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    for name, (access, _, _) in scenarios.items():
        groups.setdefault(tuple(access), []).append(name)
    n, out = len(base), {}
    for cols, names in groups.items():
        table = base.take(np.tile(np.arange(n), len(names))).reset_index(drop=True)
        for c in cols:
            table[c] = np.concatenate([scenarios[nm][0][c] for nm in names])
        table["gap_threshold_min"] = np.repeat([float(scenarios[nm][1]) for nm in names], n)
        labels = [*cols, "gap_threshold_min"]
        if "walk_speed_kmh" in base.columns:
            table["walk_speed_kmh"] = np.repeat([float(scenarios[nm][2]) for nm in names], n)
            labels.append("walk_speed_kmh")
        order = _card_columns(base, labels)
        if list(table.columns) != order:  # coverage thresholds other than the base's
            table = table[order]
        out.update({nm: table.iloc[i * n:(i + 1) * n].reset_index(drop=True) for i, nm in enumerate(names)})
    return {nm: out[nm] for nm in scenarios}


@dataclass(frozen=True)
class SpeedCoverage:
    """The coverage blocks of every (walking speed x gap threshold) scenario, speeds with the same key
    service types in one :class:`CoverageBlocks`: what :func:`scenario_scorecards` sums per scheme,
    built once for all of a run's schemes (:meth:`of`)."""

    speeds: tuple[float, ...]
    gap_scenarios: tuple[float, ...]
    groups: tuple[tuple[tuple[float, ...], CoverageBlocks], ...]

    @classmethod
    def of(cls, homes: pd.DataFrame, distances_by_speed: Mapping[float, pd.DataFrame],
           gap_scenarios: Sequence[float], key_service_types: Sequence[str] | None = None,
           thresholds_minutes: Sequence[float] = (10.0, 15.0, 20.0),
           child_col: str = "pop_0_19") -> "SpeedCoverage":
        ids = homes["home_id"].to_numpy()
        children = homes[child_col].astype(float).to_numpy()
        keys = {v: key_types(dist, key_service_types) for v, dist in distances_by_speed.items()}
        groups = []
        for key in dict.fromkeys(tuple(k) for k in keys.values()):  # speeds sharing the key types
            speeds = tuple(v for v in distances_by_speed if tuple(keys[v]) == key)
            groups.append((speeds, CoverageBlocks.of(children, {v: nearest_matrix(distances_by_speed[v], ids)
                                                                for v in speeds}, list(key),
                                                     thresholds_minutes, gap_scenarios)))
        return cls(tuple(distances_by_speed), tuple(gap_scenarios), tuple(groups))


def scenario_scorecards(base: pd.DataFrame, assignment: pd.Series, homes: pd.DataFrame,
                        distances_by_speed: Mapping[float, pd.DataFrame] | None, gap_scenarios: Sequence[float],
                        key_service_types: Sequence[str] | None = None,
                        thresholds_minutes: Sequence[float] = (10.0, 15.0, 20.0),
                        child_col: str = "pop_0_19", coverage: SpeedCoverage | None = None
                        ) -> dict[str, pd.DataFrame]:
    """Scorecards of every (walking speed x gap threshold) scenario, derived from one base scorecard.

    Only the access and gap columns depend on the scenario (re-read from that speed's distance
    table, one :func:`nearest_matrix` per speed); need, assets, hard-edge risk (the nearest service
    does not change when every time is scaled by the same speed), size and alignment are the
    base's.  Exactly equal to :func:`build_scorecard` per scenario (tested), without rebuilding the
    scenario-independent parts.  ``coverage``: the :class:`SpeedCoverage` of these distances, gap
    scenarios, key types, thresholds and homes, built once for many schemes (then
    ``distances_by_speed`` is not read).

    Returns
    -------
    dict
        ``"<speed>kmh_<gap>min"`` -> scorecard (the base's columns and order).
    """
    if coverage is None:
        coverage = SpeedCoverage.of(homes, distances_by_speed, gap_scenarios, key_service_types,
                                    thresholds_minutes, child_col)
    elif coverage.gap_scenarios != tuple(gap_scenarios):
        raise ValueError(f"coverage built for gap scenarios {coverage.gap_scenarios}, not {tuple(gap_scenarios)}")
    scen = speed_scenarios(base, assignment, homes, coverage, child_col)
    out: dict[str, pd.DataFrame] = {}
    for speeds, _ in coverage.groups:
        out.update(scenario_cards(base, {f"{v:g}kmh_{g:g}min": scen[f"{v:g}kmh_{g:g}min"]
                                         for v in speeds for g in coverage.gap_scenarios}))
    return {name: out[name] for name in scen}


def speed_scenarios(base: pd.DataFrame, assignment: pd.Series, homes: pd.DataFrame, coverage: SpeedCoverage,
                    child_col: str = "pop_0_19") -> dict[str, tuple[dict[str, np.ndarray], float, float]]:
    """``"<speed>kmh_<gap>min"`` -> (access columns, gap threshold, speed) of every scenario of
    ``coverage`` for one scheme: what :func:`scenario_cards` turns into the scenarios' scorecards
    (:func:`scenario_scorecards`), speeds in ``coverage``'s order."""
    H = LocalityHomes.of(homes, assignment, base["locality"], child_col)
    out: dict[str, tuple[dict[str, np.ndarray], float, float]] = {}
    for speeds, blocks in coverage.groups:
        acc = blocks.per_locality(H)
        out.update({f"{v:g}kmh_{g:g}min": (acc[v][float(g)], g, v) for v in speeds for g in coverage.gap_scenarios})
    return {f"{v:g}kmh_{g:g}min": out[f"{v:g}kmh_{g:g}min"] for v in coverage.speeds for g in coverage.gap_scenarios}


def key_types(distances: pd.DataFrame, key_service_types: Sequence[str] | None) -> list[str]:
    """The key service types (default :data:`DEFAULT_KEY_TYPES`) present in the distance table."""
    present = set(distances["service_type"].unique())
    return [t for t in (key_service_types or DEFAULT_KEY_TYPES) if t in present]


def _ordered(base_cols: list[str], new_cols: list[str]) -> list[str]:
    """Base column order, with coverage columns of a new threshold placed after the base's coverage
    columns (where build_scorecard puts them)."""
    cov = [c for c in base_cols if c.startswith("pct_children_within_")]
    if not new_cols or not cov:
        return base_cols + new_cols
    at = base_cols.index(cov[-1]) + 1
    return base_cols[:at] + new_cols + base_cols[at:]


def _check_inputs(lsoa: pd.DataFrame, homes: pd.DataFrame, distances: pd.DataFrame,
                  child_col: str) -> None:
    for c in (LSOA_ID,):
        if c not in lsoa.columns:
            raise MissingColumnError("lsoa layer", c, list(lsoa.columns))
    for c in ("home_id", LSOA_ID, child_col):
        if c not in homes.columns:
            raise MissingColumnError("homes layer", c, list(homes.columns))
    for c in ("home_id", "service_type", "rank", "service_id", "minutes"):
        if c not in distances.columns:
            raise MissingColumnError("distance table", c, list(distances.columns))


def _weighted_mean(L: pd.DataFrame, col: str, w: pd.Series, index: pd.Index) -> pd.Series:
    """Mean of ``L[col]`` weighted by ``w`` per locality (NaN values left out)."""
    if col not in L.columns:
        return pd.Series(np.nan, index=index)
    v = L[col].astype(float)
    ok = v.notna()
    num = (v.where(ok, 0) * w).groupby(L["locality"]).sum()
    den = w.where(ok, 0).groupby(L["locality"]).sum()
    return num / den.replace(0, np.nan)


def _population_and_need(L: pd.DataFrame, child_col: str) -> pd.DataFrame:
    """Population bands, child share and deprivation per locality (index: locality)."""
    g = L.groupby("locality")
    out = g[bands_in(L)].sum()
    out.insert(0, "n_lsoa", g.size())
    child = L[child_col].astype(float)
    popw = L["pop_total"].astype(float) if "pop_total" in L.columns else child
    if "pop_total" in out.columns and child_col in out.columns:
        out["pct_pop_0_19"] = 100 * out[child_col] / out["pop_total"].replace(0, np.nan)
    out["imd_score_popw"] = _weighted_mean(L, "imd_score", popw, out.index)
    out["imd_decile_childw"] = _weighted_mean(L, "imd_decile", child, out.index)
    out["idaci_decile_childw"] = _weighted_mean(L, "idaci_decile", child, out.index)
    out["idaci_rank_childw"] = _weighted_mean(L, "idaci_rank", child, out.index)
    out["idaci_children_income_deprived"] = (
        L["idaci_numerator"].astype(float).fillna(0).groupby(L["locality"]).sum()
        if "idaci_numerator" in L.columns else np.nan)
    for dec_col, name in (("idaci_decile", "pct_children_idaci_most_deprived_20"),
                          ("imd_decile", "pct_children_imd_most_deprived_20")):
        if dec_col in L.columns:
            most = (L[dec_col].astype(float) <= 2)
            out[name] = 100 * (child * most).groupby(L["locality"]).sum() / out[child_col]
        else:
            out[name] = np.nan
    return out


def _assets(out: pd.DataFrame, inputs: "ScorecardInputs", assignment: pd.Series, child_col: str) -> pd.Series:
    """Add service counts and per-1,000 rates to ``out``; return each located service's locality."""
    svc_loc = inputs.service_lsoa.map(assignment)
    s_tab = inputs.located.copy()
    s_tab["locality"] = s_tab["service_id"].map(svc_loc)
    cnt = s_tab.dropna(subset=["locality"]).groupby(["locality", "service_type"]).size()
    cnt = cnt.unstack(fill_value=0).reindex(index=out.index, fill_value=0)
    out["n_services_total"] = cnt.sum(axis=1) if len(cnt.columns) else 0
    for t in inputs.service_types:
        n = cnt[t] if t in cnt.columns else pd.Series(0, index=out.index)
        out[f"n_{t}"] = n.astype(int)
        out[f"{t}_per_1000"] = 1000 * n / out[child_col].replace(0, np.nan)
    return svc_loc


def _share(w: pd.Series, hit: pd.Series, loc: pd.Series, kids: pd.Series) -> pd.Series:
    """% of each locality's children (weights ``w``) for whom ``hit`` holds."""
    return 100 * (w * hit.astype(float)).groupby(loc).sum() / kids


def _nearest_rows(near: pd.DataFrame, key: list[str], home_index: pd.Index
                  ) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Each home's nearest key service (None without key types) and nearest children's centre
    (None when the register has none): rows of ``near`` indexed by ``home_index``."""
    nk = nc = None
    if key:
        nk = near[near["service_type"].isin(key)].sort_values(
            ["home_id", "minutes", "service_type"]).drop_duplicates("home_id")
        nk = nk.set_index("home_id").reindex(home_index)
    if (near["service_type"] == "childrens_centre").any():
        nc = near[near["service_type"] == "childrens_centre"].set_index("home_id").reindex(home_index)
    return nk, nc


def _hard_edge(out: pd.DataFrame, H: pd.DataFrame, inputs: "ScorecardInputs", svc_loc: pd.Series,
               child_col: str) -> None:
    """Nearest key service / children's centre across the locality edge or the borough border."""
    w, loc = H[child_col].astype(float), H["locality"]
    kids = w.groupby(loc).sum()
    nk, nc = inputs.nearest_key, inputs.nearest_cc
    if nk is not None:
        cross = (nk["cross_border"].fillna(False).astype(bool) if "cross_border" in nk.columns
                 else pd.Series(False, index=H.index))
        sloc = nk["service_id"].map(svc_loc)
        outside = cross | (sloc.isna() & nk["service_id"].notna())
        other = ~outside & nk["service_id"].notna() & (sloc != loc)
        out["pct_children_nearest_key_other_locality"] = _share(w, other, loc, kids)
        out["pct_children_nearest_key_outside_borough"] = _share(w, outside, loc, kids)
        out["hard_edge_risk_pct"] = (out["pct_children_nearest_key_other_locality"]
                                     + out["pct_children_nearest_key_outside_borough"])
    if nc is not None:
        cross = nc["cross_border"].fillna(False).astype(bool) if "cross_border" in nc else False
        sloc = nc["service_id"].map(svc_loc)
        across = (cross | (sloc != loc)) & nc["service_id"].notna()
        out["pct_children_nearest_cc_across_edge"] = _share(w, across, loc, kids)
    else:  # no children's centre in the register: the column stays, empty (same schema everywhere)
        out["pct_children_nearest_cc_across_edge"] = np.nan


def _size(out: pd.DataFrame, size_guide: tuple[float, float], child_col: str) -> None:
    """Size against the guide (total population)."""
    lo, hi = size_guide
    size_col = "pop_total" if "pop_total" in out.columns else child_col
    out["size_guide_min"] = float(lo)
    out["size_guide_max"] = float(hi)
    sz = out[size_col]
    out["size_vs_guide"] = np.where(sz < lo, "below", np.where(sz > hi, "above", "within"))
    out["size_gap_people"] = np.where(sz < lo, sz - lo, np.where(sz > hi, sz - hi, 0.0))


def _alignment(out: pd.DataFrame, L: pd.DataFrame, assignment: pd.Series,
               align_to: Mapping[str, pd.Series], child_col: str) -> None:
    """The town/PCN holding most of each locality's children, and that share."""
    cw = pd.Series(L[child_col].astype(float).to_numpy(), index=L[LSOA_ID].to_numpy())
    for nm, other_assign in align_to.items():
        t = crosstab(assignment, other_assign, cw, normalize="index")
        out[f"align_{nm}_best"] = t.idxmax(axis=1).reindex(out.index)
        out[f"align_{nm}_share"] = t.max(axis=1).reindex(out.index)


def _method_label(distances: pd.DataFrame) -> str | None:
    """The distance-method label of the run (None: the table has no methods)."""
    if "method" in distances.columns and len(distances):
        return "; ".join(method_label(x) for x in sorted(distances["method"].dropna().unique()))
    return None


def _run_labels(out: pd.DataFrame, label: str | None, gap_threshold_min: float,
                walk_speed_kmh: float | None) -> None:
    """Gap threshold, walking speed and the distance-method label of the run."""
    out["gap_threshold_min"] = float(gap_threshold_min)
    if walk_speed_kmh is not None:
        out["walk_speed_kmh"] = float(walk_speed_kmh)
    if label is not None:
        out["distance_method"] = label


@dataclass(frozen=True)
class ScorecardInputs:
    """What a scorecard reads from the LSOAs, homes, services and distance table whatever the scheme:
    located services and their LSOA (one spatial join), each home's nearest key service and
    children's centre, the coverage and gap blocks of the distances (:class:`CoverageBlocks`) and
    the distance-method label.  A run builds it once (:meth:`of`) and passes it to
    :func:`build_scorecard` for every scheme; the scorecards are the same as without it (tested)."""

    key: tuple[str, ...]
    thresholds_minutes: tuple[float, ...]
    gap_threshold_min: float
    child_col: str
    service_types: tuple[str, ...]
    located: pd.DataFrame  # service_id, service_type of every located service
    service_lsoa: pd.Series  # service_id -> lsoa21cd (NaN outside the area)
    nearest_key: pd.DataFrame | None  # rows of the distance table, index home_id (homes' order)
    nearest_cc: pd.DataFrame | None
    coverage: CoverageBlocks  # scenario "base": the distances' own minutes
    method: str | None

    @classmethod
    def of(cls, lsoa: gpd.GeoDataFrame, homes: pd.DataFrame, services: gpd.GeoDataFrame,
           distances: pd.DataFrame, key_service_types: Sequence[str] | None = None,
           thresholds_minutes: Sequence[float] = (10.0, 15.0, 20.0), gap_threshold_min: float = 15.0,
           child_col: str = "pop_0_19", service_types: Sequence[str] | None = None) -> "ScorecardInputs":
        """The inputs :func:`build_scorecard` derives from these arguments (the same names)."""
        _check_inputs(lsoa, homes, distances, child_col)
        present = set(distances["service_type"].unique())
        key = list(key_service_types) if key_service_types else [t for t in DEFAULT_KEY_TYPES if t in present]
        key = [t for t in key if t in present]
        svc = services[services["located"].fillna(False).astype(bool)] if "located" in services.columns \
            else services
        located = pd.DataFrame({"service_id": svc["service_id"].to_numpy(),
                                "service_type": svc["service_type"].to_numpy()})
        home_index = pd.Index(homes["home_id"], name="home_id")
        nk, nc = _nearest_rows(_nearest_by_type(distances), key, home_index)
        coverage = CoverageBlocks.of(homes[child_col].astype(float).to_numpy(),
                                     {"base": nearest_matrix(distances, home_index)}, key, thresholds_minutes,
                                     [gap_threshold_min])
        return cls(tuple(key), tuple(thresholds_minutes), float(gap_threshold_min), child_col,
                   tuple(service_types) if service_types else tuple(sorted(set(svc["service_type"]))),
                   located, service_lsoa(svc, lsoa), nk, nc, coverage, _method_label(distances))

    def check(self, thresholds_minutes: Sequence[float], gap_threshold_min: float, child_col: str) -> None:
        """ValueError unless built for these thresholds, gap threshold and child column."""
        want = (tuple(thresholds_minutes), float(gap_threshold_min), child_col)
        if (self.thresholds_minutes, self.gap_threshold_min, self.child_col) != want:
            raise ValueError(f"scorecard inputs built for thresholds, gap and children "
                             f"{(self.thresholds_minutes, self.gap_threshold_min, self.child_col)}, not {want}")


def build_scorecard(assignment: pd.Series, lsoa: gpd.GeoDataFrame, homes: pd.DataFrame,
                    services: gpd.GeoDataFrame, distances: pd.DataFrame,
                    key_service_types: Sequence[str] | None = None,
                    thresholds_minutes: Sequence[float] = (10.0, 15.0, 20.0),
                    gap_threshold_min: float = 15.0, child_col: str = "pop_0_19",
                    size_guide: tuple[float, float] = DEFAULT_SIZE_GUIDE,
                    align_to: Mapping[str, pd.Series] | None = None,
                    scheme_name: str = "scheme", walk_speed_kmh: float | None = None,
                    service_types: Sequence[str] | None = None,
                    inputs: ScorecardInputs | None = None) -> pd.DataFrame:
    """One row per locality with need, assets, access, hard-edge risk, size and alignment.

    Parameters
    ----------
    assignment : Series
        ``lsoa21cd`` -> locality (a :class:`locmap.localities.schemes.Scheme` ``assignment``).
    lsoa : GeoDataFrame
        LSOAs with population bands and ``imd_score, imd_decile, idaci_decile,
        idaci_rank, idaci_numerator`` (missing deprivation columns give NaN columns).
    homes : DataFrame
        ``home_id, lsoa21cd`` + ``child_col`` (people at each home).
    services : GeoDataFrame
        ``service_id, service_type, geometry`` (+ ``located``): counted by locality.
    distances : DataFrame
        Distance contract: ``home_id, service_type, rank, service_id, minutes,
        cross_border, method``.  Only rank 1 is used.
    key_service_types : sequence of str
        Types counted as "key services" (manifest ``key_service_types``).
    thresholds_minutes : sequence of float
        Pram-distance thresholds for coverage columns (minutes); the gap threshold is
        always added (the ranking's readiness criterion reads coverage at it).
    gap_threshold_min : float
        Threshold defining ``gap_children`` (minutes).
    align_to : mapping, optional
        ``{"town": lsoa->town, "pcn": lsoa->pcn}``: adds ``align_<name>_best/_share``.
    walk_speed_kmh : float, optional
        Recorded in the output (the minutes in ``distances`` already use it).
    inputs : ScorecardInputs, optional
        What does not depend on the scheme, built once from these same ``lsoa, homes, services,
        distances, key_service_types, thresholds_minutes, gap_threshold_min, child_col,
        service_types`` (:meth:`ScorecardInputs.of`) for many schemes; the scorecard is the same.

    Returns
    -------
    DataFrame
        Sorted by locality; see :func:`column_descriptions`.
    """
    # 1. what does not depend on the scheme (given, or derived here)
    _check_inputs(lsoa, homes, distances, child_col)
    if inputs is None:
        inputs = ScorecardInputs.of(lsoa, homes, services, distances, key_service_types, thresholds_minutes,
                                    gap_threshold_min, child_col, service_types)
    else:
        inputs.check(thresholds_minutes, gap_threshold_min, child_col)
    # 2. population, need and assets per locality (LSOA layer + service register)
    L = pd.DataFrame(lsoa.drop(columns="geometry", errors="ignore")).copy()
    L["locality"] = L[LSOA_ID].map(assignment)
    out = _population_and_need(L, child_col)
    svc_loc = _assets(out, inputs, assignment, child_col)
    # 3. access, gaps and hard-edge risk from the distance table (rank 1 per home x type)
    H = pd.DataFrame(homes[["home_id", LSOA_ID, child_col]]).copy()
    H["locality"] = H[LSOA_ID].map(assignment)
    H = H.set_index("home_id")
    by_loc = LocalityHomes.of(homes, assignment, out.index, child_col)
    for col, values in inputs.coverage.per_locality(by_loc)["base"][float(gap_threshold_min)].items():
        out[col] = values
    _hard_edge(out, H, inputs, svc_loc, child_col)
    # 4. size against the guide, alignment with towns/PCNs, labels of the run
    _size(out, size_guide, child_col)
    if align_to:
        _alignment(out, L, assignment, align_to, child_col)
    _run_labels(out, inputs.method, gap_threshold_min, walk_speed_kmh)
    out = out.reset_index().rename(columns={"index": "locality"})
    out.insert(0, "scheme", scheme_name)
    return out.sort_values("locality").reset_index(drop=True)
