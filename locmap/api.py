"""High-level workflows shared by the notebooks (``notebooks/``) and the command line.

Each function combines the library pieces the way one notebook (or one CLI command) needs
them and returns plain tables (``dict`` of DataFrames), so a notebook is a few calls plus
displays and the CLI is the same calls plus file writing.

=============================  ===============================================  ==========
function                       what                                             notebook
=============================  ===============================================  ==========
:func:`make_settings`          Settings from notebook parameters                all
:func:`area_overview`          layers, population by area, alignment            01
:func:`need_and_assets`        children, deprivation, service register, rejects 02
:func:`access_analysis`        distances, coverage, gaps, cross-border,         03
                               straight vs street, calibration
:func:`build_schemes`          towns / PCNs / wards / generated / user schemes  04, CLI
:func:`locality_analysis`      scorecards, ranking, sensitivity, alignment      04, CLI
:func:`hub_sites`              MCLP / p-median hub sites for one locality       04, CLI
:func:`workshop_export`        HTML maps (online + offline) and print sheets    05
:func:`write_tables`           every table of a result dict to CSV (atomic)     all
=============================  ===============================================  ==========
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from locmap.errors import UnknownAreaError
from locmap.settings import Settings

#: Default candidate hub sites (service types).
DEFAULT_CANDIDATES: tuple[str, ...] = ("childrens_centre", "primary_school", "library", "gp_practice")
#: Scheme names built from an LSOA column.
COLUMN_SCHEMES: dict[str, str] = {"towns": "town", "pcns": "pcn_name", "pcn": "pcn_name",
                                  "wards": "ward_nm"}


# ----------------------------------------------------------------------------- settings
def make_settings(data_root: str | Path | None = None, profile: str | None = "pram",
                  walk_speed_kmh: float | None = 4.0,
                  thresholds_minutes: Sequence[float] | None = (10, 15, 20),
                  user_services: str | Path | None = None, network: str | Path | None = None,
                  progress: bool = False) -> Settings:
    """:class:`Settings` from notebook parameters (``None`` keeps the default)."""
    return Settings.from_env(
        data_root=Path(data_root) if data_root else None, profile=profile,
        walk_speed_kmh=float(walk_speed_kmh) if walk_speed_kmh else None,
        thresholds_minutes=tuple(float(t) for t in thresholds_minutes) if thresholds_minutes else None,
        progress=progress, user_services=user_services or None, network_file=network or None)


def load(area_name: str, settings: Settings):
    """``load_area`` (which takes the user-services file from ``settings.user_services``)."""
    from locmap.data.area import load_area  # noqa: PLC0415

    return load_area(area_name, settings)


def write_tables(tables: Mapping[str, Any], out_dir: str | Path, prefix: str = "") -> list[Path]:
    """Write every DataFrame of ``tables`` to ``out_dir/<prefix><name>.csv`` (geometry dropped)."""
    from locmap.export import write_csv  # noqa: PLC0415

    out, written = Path(out_dir), []
    for name, df in tables.items():
        if isinstance(df, pd.DataFrame):
            df = pd.DataFrame(df.drop(columns="geometry", errors="ignore"))
            written.append(write_csv(df, out / f"{prefix}{name}.csv"))
    return written


def _bands(df: pd.DataFrame) -> list[str]:
    from locmap.bands import BANDS  # noqa: PLC0415

    return [b for b in BANDS if b in df.columns]


def _by(df: pd.DataFrame, col: str, label: str) -> pd.DataFrame:
    bands = _bands(df)
    g = df.groupby(col, dropna=False)[bands].sum().reset_index().rename(columns={col: label})
    g["pct_0_19"] = 100.0 * g["pop_0_19"] / g["pop_total"]
    return g.sort_values("pop_0_19", ascending=False).reset_index(drop=True)


# ----------------------------------------------------------------------------- 01 overview
def area_overview(area) -> dict[str, pd.DataFrame]:
    """The study area: layer counts, population by ward/town/PCN footprint, how they align.

    Returns ``layers``, ``population_by_town``, ``population_by_pcn``, ``population_by_ward``,
    ``alignment`` (every pair of wards/towns/PCNs, child-weighted), ``towns_vs_pcns``
    (child-weighted cross-tab), ``pcn_membership``, ``tiling`` (towns vs borough check).
    """
    from locmap.localities.alignment import alignment_table, crosstab_long  # noqa: PLC0415

    lsoa = area.lsoa
    layers = pd.DataFrame([
        {"layer": "wards", "count": len(area.wards), "note": "ward boundaries (LSOA 2021 best fit)"},
        {"layer": "towns", "count": len(area.towns), "note": "groups of wards"},
        {"layer": "PCN footprints", "count": len(area.pcns),
         "note": "APPROXIMATE: each LSOA given to its nearest member practice"},
        {"layer": "LSOA 2021", "count": len(lsoa), "note": "building blocks of every table"},
        {"layer": "homes (residential postcodes)", "count": len(area.homes), "note": "where people live"},
        {"layer": "services", "count": len(area.services), "note": "in area + neighbours within buffer"},
    ])
    pcn_col = "pcn_name" if "pcn_name" in lsoa else "pcn_code"
    w = lsoa.set_index("lsoa21cd")["pop_0_19"]
    sets = {"wards": lsoa.set_index("lsoa21cd")["ward_nm"], "towns": lsoa.set_index("lsoa21cd")["town"],
            "pcns": lsoa.set_index("lsoa21cd")[pcn_col]}
    tiling = pd.DataFrame([area.checks.get("tiling", {}).get("towns", {})])
    by_ward = _by(lsoa, "ward_nm", "ward").merge(
        lsoa.drop_duplicates("ward_nm")[["ward_nm", "town"]].rename(columns={"ward_nm": "ward"}),
        on="ward", how="left")
    return {
        "layers": layers,
        "population_by_town": _by(lsoa, "town", "town"),
        "population_by_pcn": _by(lsoa, pcn_col, "pcn"),
        "population_by_ward": by_ward,
        "alignment": alignment_table(sets, w),
        "towns_vs_pcns": crosstab_long(sets["towns"], sets["pcns"], w, "towns", "pcns"),
        "pcn_membership": pd.DataFrame(area.pcn_members),
        "tiling": tiling,
    }


# ----------------------------------------------------------------------------- 02 need/assets
def need_and_assets(area, service_types: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    """Need (children by age band, IDACI/IMD deciles) and the service register, rejects included.

    Returns ``children_by_town``, ``children_by_idaci_decile``, ``children_by_imd_decile``,
    ``services_by_type`` (in area / neighbours / unlocated), ``services_by_town`` (located,
    in-area services per town and type), ``services_per_1000_children`` (per town),
    ``rejects_by_reason``, ``rejects`` (every rejected row), ``unlocated`` (kept but no
    location), ``accounting`` (read = used + rejected per input file).
    """
    from locmap.localities.schemes import scheme_from_column  # noqa: PLC0415
    from locmap.localities.scorecard import service_locality  # noqa: PLC0415

    lsoa, svc = area.lsoa, area.services
    if service_types:
        svc = svc[svc["service_type"].isin(list(service_types))]
    bands = _bands(lsoa)
    dec = {}
    for kind in ("idaci", "imd"):
        col = f"{kind}_decile"
        g = lsoa.groupby(col)[bands].sum().reindex(range(1, 11), fill_value=0.0)
        g["n_lsoa"] = lsoa.groupby(col).size().reindex(range(1, 11), fill_value=0)
        g["pct_of_children_0_19"] = 100.0 * g["pop_0_19"] / g["pop_0_19"].sum()
        dec[kind] = g.rename_axis(f"{kind}_decile (1 = most deprived)").reset_index()
    where = np.where(~svc["located"].astype(bool), "unlocated",
                     np.where(svc["in_study_area"].astype(bool), "in_area", "neighbours"))
    by_type = (svc.assign(where=where).groupby(["service_type", "where"]).size()
               .unstack(fill_value=0).reset_index())
    towns = scheme_from_column(lsoa, "town", "towns")
    loc = service_locality(svc[svc["located"].astype(bool)], lsoa, towns.assignment)
    inside = svc[svc["service_id"].isin(loc.dropna().index)].copy()
    inside["town"] = inside["service_id"].map(loc)
    by_town = inside.groupby(["town", "service_type"]).size().unstack(fill_value=0)
    kids = lsoa.groupby("town")["pop_0_19"].sum()
    per_1000 = (by_town.div(kids.reindex(by_town.index), axis=0) * 1000.0).round(2)
    rej = pd.DataFrame(area.rejects)
    unloc = svc.loc[~svc["located"].astype(bool),
                    [c for c in ("service_id", "service_type", "name", "address", "postcode",
                                 "location_quality", "source") if c in svc.columns]]
    acct = area.checks.get("services_accounting")
    return {
        "children_by_town": _by(lsoa, "town", "town"),
        "children_by_idaci_decile": dec["idaci"],
        "children_by_imd_decile": dec["imd"],
        "services_by_type": by_type,
        "services_by_town": by_town.reset_index(),
        "services_per_1000_children": per_1000.reset_index(),
        "rejects_by_reason": (rej.groupby("reason").size().rename("rows").reset_index()
                              .sort_values("rows", ascending=False).reset_index(drop=True)
                              if len(rej) else pd.DataFrame(columns=["reason", "rows"])),
        "rejects": rej,
        "unlocated": pd.DataFrame(unloc).reset_index(drop=True),
        "accounting": pd.DataFrame(acct) if acct is not None else pd.DataFrame(),
    }


# ----------------------------------------------------------------------------- 03 access
def calibration_summary(area, method: str) -> pd.DataFrame:
    """How good the estimated street distance is: the circuity fit on IoD2019 road distances.

    One row per service type plus ``all``; empty (with a note) when distances are along streets.
    """
    if method != "estimated":
        return pd.DataFrame([{"service_type": "all", "note": "street distances: no calibration used"}])
    from locmap.distance.calibration import calibrate  # noqa: PLC0415

    c = calibrate(area)
    rows = [{"service_type": "all", "n_lsoa11": c.n, "circuity": c.circuity, "intercept_m": c.intercept_m,
             "mae_m": c.mae_m, "rmse_m": c.rmse_m, "r2": c.r2, "source": c.source}]
    for st, d in c.per_service.items():
        rows.append({"service_type": st, "n_lsoa11": d["n"], "circuity": c.circuity,
                     "intercept_m": c.intercept_m, "mae_m": d["mae_m"], "r2": d["r2"],
                     "mean_road_m": d["mean_road_m"], "mean_straight_m": d["mean_straight_m"],
                     "source": c.source})
    return pd.DataFrame(rows)


def access_analysis(area, settings: Settings | None = None, service_types: Sequence[str] | None = None,
                    gap_minutes: float = 15.0, cell_m: float = 250.0, gap_band: str = "pop_0_4",
                    router: Any = None) -> dict[str, Any]:
    """Pram distance from every home to each service type, coverage, gaps and caveats.

    Returns a dict with ``result`` (the :class:`~locmap.access.nearest.AccessResult`), ``method``,
    ``label`` and the tables ``summary`` (median/p90 minutes per type), ``coverage_total``
    (children within each threshold, borough), ``coverage`` (every level), ``gaps_by_town``,
    ``gaps_by_pcn``, ``gap_areas`` (GeoDataFrame of contiguous gap areas of the key types at
    ``gap_minutes``), ``cross_border`` (children whose nearest service is across the border),
    ``straight_vs_street`` (% within threshold, both measures), ``calibration``,
    ``unreachable``, ``excluded_services``.
    """
    from locmap.access import nearest as acc  # noqa: PLC0415
    from locmap.access.gaps import all_gap_polygons, gap_summary  # noqa: PLC0415

    settings = settings or area.settings
    res = acc.compute_access(area, settings, router=router, service_types=service_types)
    thresholds = [float(t) for t in settings.thresholds_minutes]
    levels = {lvl: col for lvl, col in acc.DEFAULT_LEVELS.items() if col in res.wide.columns}
    cov = acc.coverage(res.wide, levels, thresholds, res.service_types, settings=settings)
    tot = cov[(cov["level"] == "lsoa") & (cov["area_id"] == acc.TOTAL_ID)]
    key_cols = ["service_type", "threshold_minutes", "band"]
    coverage_total = tot[key_cols + ["pop_within", "pop_beyond", "pct_within", "pct_within_straight",
                                     "label"]].reset_index(drop=True)
    svs = tot[tot["band"].isin(["pop_0_4", "pop_0_19"])][
        key_cols + ["pct_within", "pct_within_straight"]].copy()
    svs["difference_pts"] = svs["pct_within_straight"] - svs["pct_within"]
    svs["measure"] = res.label
    svs["comparison"] = acc.STRAIGHT_LABEL
    key = [t for t in res.key_service_types if t in res.service_types]
    gap_types = ([acc.ANY_KEY] if acc.ANY_KEY in res.service_types else []) + key
    gaps = all_gap_polygons(res.wide, gap_types or res.service_types[:1], [gap_minutes], cell_m=cell_m,
                            band=gap_band)
    gsum = {lvl: gap_summary(cov, lvl) for lvl in ("town", "pcn") if lvl in levels}
    if "pcn" in gsum and "pcn_name" in area.pcns:
        names = area.pcns.set_index("pcn_code")["pcn_name"]
        gsum["pcn"].insert(2, "pcn_name", gsum["pcn"]["area_id"].map(names))
    cross = []
    for t in res.service_types:
        cb = res.wide.get(acc.wide_column("cross_border", t))
        if cb is None:
            continue
        cbm = cb.fillna(False).astype(bool).to_numpy()
        for band in ("pop_0_4", "pop_0_19"):
            p = res.wide[band].to_numpy(float)
            cross.append({"service_type": t, "band": band, "people_nearest_across_border": p[cbm].sum(),
                          "pct_nearest_across_border": 100.0 * p[cbm].sum() / p.sum(),
                          "label": res.label})
    used = res.table[(res.table["rank"] == 1) & res.table["cross_border"].fillna(False).astype(bool)]
    cb_services = (used.groupby(["service_type", "service_id", "service_lad_cd"]).size()
                   .rename("homes_nearest").reset_index())
    svc = area.services.set_index("service_id")
    for c in ("name", "lad_nm"):
        cb_services[c] = cb_services["service_id"].map(svc[c]) if c in svc else None
    unr = res.unreachable.copy()
    return {
        "result": res, "method": res.method, "label": res.label,
        "summary": res.summary(), "coverage_total": coverage_total, "coverage": cov,
        "gaps_by_town": gsum.get("town", pd.DataFrame()), "gaps_by_pcn": gsum.get("pcn", pd.DataFrame()),
        "gap_areas": gaps, "cross_border": pd.DataFrame(cross),
        "cross_border_services": cb_services.sort_values("homes_nearest", ascending=False)
        .reset_index(drop=True),
        "straight_vs_street": svs.reset_index(drop=True),
        "calibration": calibration_summary(area, res.method),
        "unreachable": unr, "excluded_services": res.excluded_services,
    }


# ----------------------------------------------------------------------------- schemes
def parse_k(text: str | int | Iterable[int]) -> list[int]:
    """``"3..7"`` -> [3..7]; ``"4,6"`` -> [4, 6]; ``5`` -> [5]; an iterable -> list."""
    if isinstance(text, int):
        return [text]
    if not isinstance(text, str):
        return [int(k) for k in text]
    text = text.strip()
    if ".." in text:
        a, b = text.split("..", 1)
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in text.split(",") if x.strip()]


def build_schemes(area, spec: str, k_values: Iterable[int] | str = range(3, 8), units: str = "wards",
                  method: str = "skater", balance_col: str = "pop_0_19", tolerance: float = 0.25,
                  seed: int = 0) -> list:
    """Candidate schemes for one ``spec``: towns, pcns, wards, auto (k_values), a CSV or polygon file."""
    from locmap.localities import schemes as lc  # noqa: PLC0415

    lsoa = area.lsoa
    if spec in COLUMN_SCHEMES:
        col = COLUMN_SCHEMES[spec]
        col = col if col in lsoa else "pcn_code"
        return [lc.scheme_from_column(lsoa, col, "pcns" if spec == "pcn" else spec)]
    if spec == "auto":
        ks = parse_k(k_values)
        if units == "wards":
            u = lc.units_from_lsoa(lsoa, "ward_cd")
            return lc.generate_schemes(u, ks, pop_col=balance_col, method=method, tolerance=tolerance,
                                       id_col="ward_cd", lsoa=lsoa, seed=seed)
        return lc.generate_schemes(lsoa, ks, pop_col=balance_col, method=method, tolerance=tolerance,
                                   seed=seed, n_starts=2)
    path = Path(spec)
    if path.suffix.lower() == ".csv":
        return [lc.scheme_from_mapping_csv(path, lsoa, area.wards)]
    return [lc.scheme_from_polygons(path, lsoa)]


def nearest_table(res) -> tuple[pd.DataFrame, list[str]]:
    """Rank-1 distances per home and real service type (no "any key") + the key types."""
    from locmap.access.nearest import ANY_KEY  # noqa: PLC0415

    t = res.table[(res.table["service_type"] != ANY_KEY) & (res.table["rank"] == 1)]
    return t.reset_index(drop=True), list(res.key_service_types)


def generated_table(schemes: Sequence) -> pd.DataFrame:
    """One row per generated scheme: k, feasibility, status, population bounds."""
    return pd.DataFrame([{"scheme": s.name, "k": s.meta["k"], "k_achieved": s.meta.get("k_achieved"),
                          "method": s.meta["method"], "feasible": s.meta["feasible"],
                          "status": s.meta["status"], "bounds_min": s.meta["bounds_people"][0],
                          "bounds_max": s.meta["bounds_people"][1],
                          "max_dev_pct": s.meta.get("max_dev_pct"),
                          "contiguous": s.meta.get("contiguous")} for s in schemes])


# ----------------------------------------------------------------------------- 04 localities
def locality_analysis(area, access_result, schemes: Sequence[str] | str = ("towns", "pcns", "auto"),
                      k_values: Iterable[int] | str = range(3, 8), weights=None, n_draws: int = 2000,
                      seed: int = 0, gap_minutes: float = 15.0,
                      speeds_kmh: Sequence[float] = (3.5, 4.0, 4.8),
                      gap_scenarios: Sequence[float] = (10.0, 15.0, 20.0),
                      concentration: float | None = None, method: str = "skater", units: str = "wards",
                      balance_col: str = "pop_0_19", tolerance: float = 0.25,
                      settings: Settings | None = None) -> dict[str, Any]:
    """Scorecards, ranking under ``weights`` and its Monte-Carlo sensitivity for each scheme.

    ``weights`` is a :class:`~locmap.localities.ranking.Weights`, a ``dict`` or a ``"need=0.3,..."`` string.
    Each draw picks random weights (Dirichlet) *and* a (walking speed x gap threshold) scenario.

    Returns a dict: ``schemes`` (name -> Scheme), ``scorecards``, ``rankings``, ``sensitivity``,
    ``assignments``, ``crosstabs`` (name -> DataFrame), ``generated`` (table of generated
    schemes), ``best_generated`` (name or None), ``alignment``, ``leaders`` (one row per
    scheme: base-weights first, most often first, p_first, rank range, hard-edge risk),
    ``column_descriptions``, ``meta``.
    """
    from locmap.localities import schemes as lc  # noqa: PLC0415
    from locmap.localities.alignment import alignment_table, crosstab_long  # noqa: PLC0415
    from locmap.localities.ranking import Weights, rescale_minutes, sensitivity  # noqa: PLC0415
    from locmap.localities.scorecard import build_scorecard, column_descriptions  # noqa: PLC0415

    settings = settings or access_result.settings
    if isinstance(weights, Mapping):
        weights = Weights(**weights)
    elif not isinstance(weights, Weights):
        weights = Weights.parse(weights)
    if isinstance(schemes, str):
        schemes = [s.strip() for s in schemes.split(",") if s.strip()]
    dist, key = nearest_table(access_result)
    lsoa = area.lsoa
    towns = lc.scheme_from_column(lsoa, "town", "towns")
    pcns = lc.scheme_from_column(lsoa, "pcn_name" if "pcn_name" in lsoa else "pcn_code", "pcns")
    wards = lc.scheme_from_column(lsoa, "ward_nm", "wards")
    ref = {"town": towns.assignment, "pcn": pcns.assignment}
    built = []
    for spec in schemes:
        built.extend(build_schemes(area, spec, k_values, units=units, method=method,
                                   balance_col=balance_col, tolerance=tolerance, seed=seed))
    gen = [s for s in built if s.name.startswith("auto_")]
    best = lc.best_scheme(gen) if gen else None
    thresholds = list(settings.thresholds_minutes)
    w_child = lsoa.set_index("lsoa21cd")["pop_0_19"]
    base_speed = settings.walk_speed_kmh
    align_sets = {"wards": wards.assignment, "towns": towns.assignment, "pcns": pcns.assignment}
    out: dict[str, Any] = {"schemes": {}, "scorecards": {}, "rankings": {}, "sensitivity": {},
                           "assignments": {}, "crosstabs": {}}
    leaders, sc = [], None
    # distances re-timed once per walking speed, shared by every scheme
    dist_by_speed = {v: rescale_minutes(dist, v) for v in speeds_kmh}
    for sch in built:
        if not len(sch.assignment):
            continue
        lc.check_partition(sch.assignment, lsoa, homes=area.homes)
        common = dict(lsoa=lsoa, homes=area.homes, services=area.services, key_service_types=key,
                      thresholds_minutes=thresholds, align_to=ref, scheme_name=sch.name)
        sc = build_scorecard(sch.assignment, distances=dist, gap_threshold_min=gap_minutes,
                             walk_speed_kmh=base_speed, **common)
        scen = {}
        for v, d_v in dist_by_speed.items():
            for g in gap_scenarios:
                scen[f"{v:g}kmh_{g:g}min"] = build_scorecard(
                    sch.assignment, distances=d_v, gap_threshold_min=g, walk_speed_kmh=v, **common)
        base_name = f"{base_speed:g}kmh_{gap_minutes:g}min"
        if base_name not in scen:
            scen[base_name] = sc
        res = sensitivity(scen, weights, n_draws=n_draws, concentration=concentration, seed=seed,
                          base_scenario=base_name)
        out["schemes"][sch.name] = sch
        out["scorecards"][sch.name] = sc
        out["rankings"][sch.name] = res["base"]
        out["sensitivity"][sch.name] = res["summary"]
        out["assignments"][sch.name] = sch.assignment.rename("locality").reset_index()
        for nm, other in (("towns", towns.assignment), ("pcns", pcns.assignment)):
            if nm != sch.name:
                out["crosstabs"][f"{sch.name}_vs_{nm}"] = crosstab_long(sch.assignment, other, w_child,
                                                                        sch.name, nm)
        align_sets[sch.name] = sch.assignment
        top = res["summary"].iloc[0]
        first = res["base"].iloc[0]["locality"]
        hard = sc.set_index("locality")["hard_edge_risk_pct"] if "hard_edge_risk_pct" in sc else {}
        leaders.append({"scheme": sch.name, "k": sch.k, "first_base_weights": first,
                        "most_often_first": top["locality"], "p_first": float(top["p_first"]),
                        "rank_min": int(top["rank_min"]), "rank_max": int(top["rank_max"]),
                        "hard_edge_risk_pct_of_leader": float(hard.get(top["locality"], np.nan))
                        if len(hard) else np.nan})
    out["generated"] = generated_table(gen) if gen else pd.DataFrame()
    out["generated_list"] = gen
    out["best_generated"] = best.name if best is not None else None
    out["alignment"] = alignment_table(align_sets, w_child)
    out["leaders"] = pd.DataFrame(leaders)
    out["column_descriptions"] = column_descriptions(sc) if sc is not None else pd.DataFrame()
    out["meta"] = {"weights": weights.__dict__, "draws": n_draws, "seed": seed,
                   "speeds_kmh": [float(v) for v in speeds_kmh],
                   "gap_scenarios_min": [float(g) for g in gap_scenarios], "thresholds_min": thresholds,
                   "distance_method": sorted(set(dist["method"].dropna())) if "method" in dist else []}
    return out


def locality_tables(result: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """Flatten :func:`locality_analysis` into ``file stem -> DataFrame`` (the CLI's file names)."""
    t: dict[str, pd.DataFrame] = {}
    if len(result["generated"]):
        t["generated_schemes"] = result["generated"]
    for name in result["scorecards"]:
        t[f"scorecard_{name}"] = result["scorecards"][name]
        t[f"ranking_{name}"] = result["rankings"][name]
        t[f"sensitivity_{name}"] = result["sensitivity"][name]
        t[f"assignment_{name}"] = result["assignments"][name]
        for k, v in result["crosstabs"].items():
            if k.startswith(f"{name}_vs_"):
                t[f"crosstab_{k}"] = v
    t["alignment"] = result["alignment"]
    if len(result["column_descriptions"]):
        t["scorecard_columns"] = result["column_descriptions"]
    return t


def write_locality_outputs(result: Mapping[str, Any], out_dir: str | Path) -> list[Path]:
    """The CSVs of :func:`locality_tables` plus ``localities_run.json`` (atomic writes)."""
    from locmap.export import write_text  # noqa: PLC0415

    written = write_tables(locality_tables(result), out_dir)
    written.append(write_text(Path(out_dir) / "localities_run.json", json.dumps(result["meta"], indent=2)))
    return written


# ----------------------------------------------------------------------------- sites
def candidate_sites(area, spec: str | Sequence[str]) -> pd.DataFrame:
    """Candidate hub sites: service types (comma-separated or a list) or a CSV
    (``site_id, easting, northing`` [``name, service_type``])."""
    if isinstance(spec, str) and Path(spec).suffix.lower() == ".csv":
        from locmap.errors import DataFileError, MissingColumnError  # noqa: PLC0415

        p = Path(spec)
        if not p.exists():
            raise DataFileError(p, "file not found")
        df = pd.read_csv(p)
        for c in ("site_id", "easting", "northing"):
            if c not in df.columns:
                raise MissingColumnError(p, c, list(df.columns))
        df["x"], df["y"] = df["easting"].astype(float), df["northing"].astype(float)
        if "name" not in df.columns:
            df["name"] = df["site_id"].astype(str)
        df["service_type"] = df.get("service_type", "user")
        return df
    types = [t.strip() for t in spec.split(",") if t.strip()] if isinstance(spec, str) else list(spec)
    s = area.services
    s = s[s["located"].fillna(False).astype(bool) & s["service_type"].isin(types)]
    return pd.DataFrame({"site_id": s["service_id"].to_numpy(), "name": s["name"].to_numpy(),
                         "service_type": s["service_type"].to_numpy(),
                         "x": s.geometry.x.to_numpy(), "y": s.geometry.y.to_numpy()})


def hub_sites(area, settings: Settings | None = None, scheme=None, locality: str | None = None,
              p: int = 2, minutes: float = 15.0, band: str = "pop_0_4",
              candidates: str | Sequence[str] = DEFAULT_CANDIDATES,
              existing: str | Sequence[str] = ("childrens_centre",), include_outside: bool = False,
              router: Any = None) -> dict[str, Any]:
    """Suggest ``p`` hub sites in ``locality`` of ``scheme`` (a Scheme or a spec such as
    ``"towns"``; ``locality=None``: the whole area) - MCLP and p-median.

    Returns :func:`locmap.localities.sites.suggest_sites`'s dict (``sites``, ``gain``, ``summary``) plus
    ``locality`` and ``stem`` (file-name stem).
    """
    import geopandas as gpd  # noqa: PLC0415

    from locmap.access.nearest import default_router_for  # noqa: PLC0415
    from locmap.localities.sites import suggest_sites  # noqa: PLC0415

    settings = settings or area.settings
    max_m = settings.minutes_to_metres(minutes)
    if scheme is None or isinstance(scheme, str):
        scheme = build_schemes(area, scheme or "towns")[0]
    homes = area.homes
    loc_name = locality
    if loc_name:
        names = {str(n).casefold(): n for n in scheme.assignment.unique()}
        if str(loc_name).casefold() not in names:
            raise UnknownAreaError(f"locality '{loc_name}' is not in scheme '{scheme.name}' "
                                   f"(one of: {', '.join(sorted(map(str, names.values())))})")
        loc_name = names[str(loc_name).casefold()]
        homes = homes[homes["lsoa21cd"].map(scheme.assignment) == loc_name]
        poly = scheme.localities.loc[scheme.localities["locality"] == loc_name, "geometry"].iloc[0]
    else:
        poly = area.borough.geometry.iloc[0]
    homes = homes[homes[band] > 0]
    cand = candidate_sites(area, candidates)
    pts = gpd.points_from_xy(cand["x"], cand["y"])
    inside = np.array([poly.contains(q) for q in pts]) if len(cand) else np.array([], bool)
    if include_outside:
        inside = inside | np.array([poly.distance(q) <= max_m for q in pts])
    cand = cand[inside].reset_index(drop=True)
    if cand.empty:
        raise UnknownAreaError(f"no candidate sites of '{candidates}' in {loc_name or 'the area'}")
    router = router or default_router_for(area, settings)
    hxy = np.column_stack([homes.geometry.x.to_numpy(), homes.geometry.y.to_numpy()])
    cost = router.matrix(hxy, cand[["x", "y"]].to_numpy(), max_m=None)
    existing_cost = None
    ex_types = ([t.strip() for t in existing.split(",") if t.strip()] if isinstance(existing, str)
                else list(existing or ()))
    if ex_types:
        ex = area.services[area.services["located"].fillna(False).astype(bool)
                           & area.services["service_type"].isin(ex_types)]
        if len(ex):
            existing_cost = router.matrix(hxy, np.column_stack([ex.geometry.x, ex.geometry.y]))
    res = suggest_sites(cost, homes[band].to_numpy(float), cand["site_id"].tolist(), p, max_m,
                        sites=cand, existing_cost_m=existing_cost, minutes=minutes)
    res["summary"]["locality"] = loc_name or "whole area"
    res["summary"]["distance_method"] = getattr(router, "method", "")
    res["locality"] = loc_name or "whole area"
    res["stem"] = f"{(loc_name or 'area').replace(' ', '_')}_p{p}_{minutes:g}min"
    return res


def leading_sites(area, localities_result: Mapping[str, Any], scheme: str = "towns", top_n: int = 2,
                  settings: Settings | None = None, **kwargs) -> dict[str, pd.DataFrame]:
    """:func:`hub_sites` for the ``top_n`` most-often-first localities of ``scheme``.

    Returns ``sites``, ``gain`` and ``summary`` stacked over the leading localities.
    """
    sens = localities_result["sensitivity"][scheme]
    sch = localities_result["schemes"][scheme]
    parts: dict[str, list] = {"sites": [], "gain": [], "summary": []}
    for loc in sens["locality"].head(top_n):
        r = hub_sites(area, settings, sch, loc, **kwargs)
        for k in parts:
            parts[k].append(r[k].assign(locality=r["locality"]))
    return {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for k, v in parts.items()}


# ----------------------------------------------------------------------------- 05 export
def write_map(area, path: str | Path, inputs=None, layers: Sequence[str] | None = None,
              title: str | None = None, offline: bool = False, scheme: str = "towns",
              gap_minutes: float = 15.0) -> Path:
    """Build and save the workshop HTML map (``offline``: Leaflet inlined)."""
    from locmap.cli.maps import prepare_layers  # noqa: PLC0415
    from locmap.maps.web import DEFAULT_LAYERS, build_map  # noqa: PLC0415
    from locmap.maps.offline import save_map  # noqa: PLC0415

    layers = tuple(layers or DEFAULT_LAYERS)
    if inputs is None:
        inputs = prepare_layers(area, want_access="access" in layers, want_gaps="gaps" in layers,
                                want_localities="localities" in layers, scheme=scheme,
                                gap_threshold_minutes=gap_minutes)
    title = title or f"{area.name.title()}: children, deprivation and family services"
    m = build_map(area, layers=layers, access=inputs.access, gaps=inputs.gaps,
                  localities=inputs.localities, scorecard=inputs.scorecard, title=title,
                  offline=offline, method=inputs.method)
    return save_map(m, path, offline=offline)


def write_sheet(area, locality: str, out_dir: str | Path, inputs, scheme: str = "towns",
                paper: str = "A4", dpi: int = 200) -> list[Path]:
    """The printable profile sheet (PNG + PDF) of one locality of ``inputs.localities``."""
    from locmap.maps.static import profile_sheet  # noqa: PLC0415

    names = list(inputs.localities["locality"].astype(str))
    if locality not in names:
        raise UnknownAreaError(f"locality '{locality}' is not in scheme '{scheme}' "
                               f"(known: {', '.join(sorted(names))})")
    row = None
    if inputs.scorecard is not None and "locality" in inputs.scorecard.columns:
        match = inputs.scorecard[inputs.scorecard["locality"].astype(str) == locality]
        row = match.iloc[0] if len(match) else None
    return profile_sheet(area, locality, inputs.localities, row, out_dir, paper=paper, dpi=dpi,
                         access=inputs.access, method=inputs.method)


def workshop_export(area, out_dir: str | Path, scheme: str = "towns", localities: Sequence[str] | None = None,
                    online: bool = True, offline: bool = True, gap_minutes: float = 15.0,
                    layers: Sequence[str] | None = None, paper: str = "A4", dpi: int = 150) -> pd.DataFrame:
    """Everything a workshop needs in ``out_dir``: ``maps/<area>.html`` (online),
    ``maps/<area>_offline.html`` (self-contained) and ``sheets/`` (one PNG + PDF per locality;
    default: every locality of ``scheme``).  Returns a table of the files written."""
    from locmap.cli.maps import prepare_layers  # noqa: PLC0415

    out = Path(out_dir)
    inputs = prepare_layers(area, True, True, True, scheme=scheme, gap_threshold_minutes=gap_minutes)
    rows = []
    for flag, name in ((online, f"{area.name}.html"), (offline, f"{area.name}_offline.html")):
        if flag:
            p = write_map(area, out / "maps" / name, inputs, layers, offline=name.endswith("_offline.html"))
            rows.append({"kind": "map (offline)" if "_offline" in name else "map", "locality": "",
                         "path": p})
    names = list(localities) if localities else list(inputs.localities["locality"].astype(str))
    for loc in names:
        for p in write_sheet(area, loc, out / "sheets", inputs, scheme=scheme, paper=paper, dpi=dpi):
            rows.append({"kind": "sheet", "locality": loc, "path": Path(p)})
    df = pd.DataFrame(rows)
    df["size_kb"] = [round(Path(p).stat().st_size / 1024, 1) for p in df["path"]]
    df["path"] = df["path"].astype(str)
    df["notes"] = "; ".join(inputs.notes)
    return df
