"""The library API: one orchestration path for the command line, the main job, the notebooks
and users' own Python.

Each step takes typed inputs and a :class:`~locmap.settings.Settings` and returns a named,
frozen result (:mod:`locmap.results`) that the next step takes, so a run computes distances
once::

    from locmap import api
    s = api.make_settings()
    area = api.load("ealing", s)
    acc = api.analyse_access(area, s)             # AccessAnalysis (distances, coverage, gaps, 2SFCA)
    loc = api.analyse_localities(area, acc)       # LocalityAnalysis (scorecards, ranking, sensitivity)
    hub = api.hub_sites(area, s, "towns", "Northolt", router=acc.router)
    layers = api.map_layers(area, acc, loc)       # MapInputs for maps and sheets
    api.write_map(area, "out/ealing.html", layers)
    api.run_all("ealing", s, "out/")              # all of the above into one folder

=============================  ===============================================  ==========
function                       what                                             notebook
=============================  ===============================================  ==========
:func:`make_settings`          Settings from notebook parameters                all
:func:`load`                   load and validate an area pack                   all
:func:`check_summary`          counts, totals, rejects (``locmap check``)       CLI
:func:`area_overview`          layers, population by area, alignment            01
:func:`need_and_assets`        children, deprivation, service register, rejects 02
:func:`analyse_access`         distances, coverage, gaps, 2SFCA, cross-border   03
:func:`build_schemes`          towns / PCNs / wards / generated / user schemes  04, CLI
:func:`analyse_localities`     scorecards, ranking, sensitivity, alignment      04, CLI
:func:`hub_sites`              MCLP / p-median hub sites for one locality       04, CLI
:func:`map_layers`             analytic layers for maps and sheets              05, CLI
:func:`write_map`              workshop HTML map (online or offline)            05, CLI
:func:`write_sheet`            printable locality profile sheet                 05, CLI
:func:`workshop_export`        HTML maps and print sheets                       05
:func:`run_all`                the main job into one folder                     CLI run
=============================  ===============================================  ==========

``access_analysis`` and ``locality_analysis`` are the earlier names of :func:`analyse_access`
and :func:`analyse_localities`; results also answer ``result["name"]``.
"""
from __future__ import annotations

import contextlib
import copy
import gc
import hashlib
import pickle
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
import dataclasses
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from locmap import export, workbook
from locmap import _interrupt, runfolder
from locmap._background import Background
from locmap.access import nearest as acc
from locmap.access.crossborder import crossborder_shares
from locmap.access.gaps import all_gap_polygons, gap_summary
from locmap.bands import bands_in
from locmap.data import memo
from locmap.data.area import AreaData, load_area
from locmap.data.region import pack_input_files
from locmap.distance.network import requested_network
from locmap.errors import DataFileError, MissingColumnError, SettingsError, UnknownAreaError
from locmap.localities import schemes as lc
from locmap.localities.alignment import alignment_table, crosstab_long
from locmap.localities.ranking import (Weights, criteria_matrix, distance_field_coverage, distance_field_scenarios,
                                       rescale_minutes, scenario_criteria, sensitivity)
from locmap.localities.scorecard import (CoverageBlocks, ScorecardInputs, SpeedCoverage, build_scorecard,
                                         column_descriptions, scenario_cards, speed_scenarios)
from locmap.localities.sites import cap_candidates, suggest_sites
from locmap.maps.offline import save_map
from locmap.maps.static import profile_sheet
from locmap.maps.web import DEFAULT_LAYERS, build_maps
from locmap.report import PDF_NAME, build_report
from locmap.report.inputs import recommendation_for
from locmap.report.pdf import CHROMIUM_NAMES, print_pdf
from locmap.results import AccessAnalysis, LocalityAnalysis, MapInputs, RunResult, SitesResult
from locmap.scenarios.comparison import run_comparison
from locmap.scenarios.spec import Scenario, read_scenario
from locmap.settings import Settings
from locmap.summaries import area_overview, calibration_summary, need_and_assets

__all__ = [
    "make_settings", "load", "user_services_note", "check_summary", "area_overview", "need_and_assets", "calibration_summary",
    "analyse_access", "access_analysis", "forget_access_analyses", "build_schemes", "analyse_localities", "locality_analysis",
    "hub_sites", "leading_sites", "map_layers", "write_map", "workshop_maps", "write_sheet", "workshop_export",
    "write_tables", "locality_tables", "write_locality_outputs",
    "decision_pack", "compare_scenarios", "RunOptions", "default_lead_scheme", "run_all", "recommendation_for", "AccessAnalysis", "LocalityAnalysis", "SitesResult", "MapInputs", "RunResult",
]

ANY_KEY = acc.ANY_KEY
#: Default candidate hub sites (service types).
DEFAULT_CANDIDATES: tuple[str, ...] = ("childrens_centre", "primary_school", "library", "gp_practice")


# ----------------------------------------------------------------------------- settings, load
def make_settings(data_root: str | Path | None = None, profile: str | None = "pram",
                  walk_speed_kmh: float | None = 4.0,
                  thresholds_minutes: Sequence[float] | None = (10, 15, 20),
                  user_services: str | Path | None = None, network: str | Path | None = None,
                  progress: bool = False, **fields: Any) -> Settings:
    """:class:`Settings` from notebook parameters (``None`` keeps the default).

    ``network`` and ``user_services`` relative paths are resolved against the working directory;
    any other :class:`Settings` field can be passed by name (``k_nearest=1``, ``max_snap_m=200``).
    """
    return Settings.from_env(
        data_root=Path(data_root) if data_root else None, profile=profile,
        walk_speed_kmh=float(walk_speed_kmh) if walk_speed_kmh else None,
        thresholds_minutes=tuple(float(t) for t in thresholds_minutes) if thresholds_minutes else None,
        progress=progress, user_services=user_services or None, network_file=network or None, **fields)


def load(area_name: str, settings: Settings, stored: bool = False) -> AreaData:
    """Load and validate an area pack (:func:`locmap.data.area.load_area`; user services from
    ``settings.user_services``); with ``stored``, read from (or kept in) the cache folder's copy
    while its inputs and the code are unchanged."""
    return load_area(area_name, settings, stored=stored)


def user_services_note(area: AreaData, rejects_path: str | Path | None = None) -> str | None:
    """One line on the user's own services file: rows read, used and rejected, and where the
    reasons are (``None`` when no user file was loaded)."""
    acct = area.checks.get("services_accounting")
    if acct is None or not len(acct) or "user" not in set(acct["source_key"]):
        return None
    r = acct[acct["source_key"] == "user"].iloc[0]
    where = (f"reasons in {rejects_path}" if rejects_path
             else "reasons: locmap check --services FILE --rejects rejects.csv")
    return (f"your services file {r['file']}: {int(r['read'])} rows read, {int(r['used'])} used, "
            f"{int(r['rejected'])} rejected" + (f" ({where})" if int(r["rejected"]) else ""))


def check_summary(area: AreaData) -> dict:
    """A JSON-able summary of every layer: counts, CRS, totals, rejects (``locmap check``)."""
    c, svc = area.checks, area.services
    by_type = (svc.assign(where=svc["in_study_area"].map({True: "in_area", False: "neighbours"}))
               .groupby(["service_type", "where"]).size().unstack(fill_value=0))
    pop = c["population"]
    return {
        "area": area.pack.name, "title": area.pack.title, "crs": str(area.lsoa.crs),
        "layers": {"wards": len(area.wards), "towns": len(area.towns), "lsoa21": len(area.lsoa),
                   "pcns": len(area.pcns), "neighbour_wards": len(area.neighbour_wards),
                   "homes": len(area.homes), "services": len(svc)},
        "towns": area.towns[["town", "n_wards", "uncertain_wards"]].to_dict("records"),
        "towns_tile_borough": c["tiling"]["towns"],
        "population": {
            "lsoa21_total": round(float(area.lsoa["pop_total"].sum()), 3),
            "census_msoa_sum": pop["census_msoa_total"], "census_borough_total": pop["census_lad_total"],
            "perturbation_difference": (pop["census_lad_total"] or 0) - pop["census_msoa_total"],
            "bands": {b: round(float(area.lsoa[b].sum()), 3) for b in bands_in(area.lsoa)},
            "homes_total": round(float(area.homes["pop_total"].sum()), 3),
        },
        "homes": {k: v for k, v in c["homes"].items() if k != "lsoas_without_postcode"},
        "pcns": area.pcns[["pcn_code", "pcn_name", "n_practices", "n_lsoas"]].to_dict("records"),
        "pcn_footprint": "APPROXIMATE: nearest member practice per LSOA",
        "pcn_membership_differences": len(c["pcn_membership_differences"]),
        "services_by_type": {t: {k: int(v) for k, v in r.items()} for t, r in by_type.iterrows()},
        "unlocated_services": svc.loc[~svc["located"], ["service_type", "name"]].to_dict("records"),
        "rows": c["services_accounting"][["file", "read", "used", "rejected"]].to_dict("records"),
        "rejects_by_reason": area.rejects.groupby("reason").size().astype(int).to_dict(),
        "notes": area.notes,
        "load_seconds": round(c["load_seconds"], 2),
    }


# ----------------------------------------------------------------------------- access
def analyse_access(area: AreaData, settings: Settings | None = None,
                   service_types: Sequence[str] | None = None, gap_minutes: float | None = None,
                   cell_m: float = 250.0, gap_band: str = "pop_0_4", router: Any = None,
                   fca: bool = True, fca_band: str | None = None, gaps: bool = True,
                   reuse: bool = False) -> AccessAnalysis:
    """Pram distance from every home to each service type, coverage, gaps, 2SFCA and caveats.

    Distances are computed once here; every later step takes this result.

    Parameters
    ----------
    area : AreaData
        Loaded study area.
    settings : Settings, optional
        Speed, thresholds, profile, k; default ``area.settings``.
    service_types : sequence of str, optional
        Types to measure (default: every type of the area pack).
    gap_minutes : float, optional
        Threshold of the headline gap areas (minutes; default the middle threshold).
    cell_m : float
        Hexagon size of the gap areas (metres).
    gap_band : str
        Age-band column whose children make a gap (default ``pop_0_4``).
    router : Router, optional
        Street or estimated router; default from the area (street network if one is configured).
    fca : bool
        Also compute the two-step floating catchment (2SFCA) tables.
    fca_band : str, optional
        Demand band for every type (default: per type, :func:`locmap.access.nearest.demand_band_for`).
    gaps : bool
        Also draw the gap-area polygons (every type x threshold); ``False`` leaves them empty.
    reuse : bool
        Return a copy of the analysis an earlier ``reuse=True`` call of this process made from the
        same area content, settings, network file and arguments (a notebook's later cells and
        notebooks run in the same kernel; see :func:`forget_access_analyses`); with ``gaps=False``, also
        one kept with gap polygons (without them); computed as usual when there is none.  Not with
        ``router``: a router passed in is always used.
    """
    settings = settings or area.settings
    minutes = default_gap_minutes(settings) if gap_minutes is None else float(gap_minutes)
    args = (tuple(service_types) if service_types is not None else None, minutes, float(cell_m), gap_band, fca,
            fca_band)
    key = _access_key(area, settings, (*args, gaps)) if reuse and router is None else None
    if key is not None and key in _ACCESS_KEPT:
        _ACCESS_KEPT.move_to_end(key)
        return _copy_analysis(_ACCESS_KEPT[key])
    with_gaps = _access_key(area, settings, (*args, True)) if key is not None and not gaps else None
    if with_gaps is not None and with_gaps in _ACCESS_KEPT:
        # the same analysis with gap polygons is kept: everything but the polygons is what this call computes
        found = _ACCESS_KEPT[with_gaps]
        no_gaps = _no_gap_areas(found.result.wide.crs)
        return dataclasses.replace(_copy_analysis(found), gap_areas_all=no_gaps, gap_areas=no_gaps)
    router = router or acc.default_router_for(area, settings)
    res = acc.compute_access(area, settings, router=router, service_types=service_types)
    found = access_from(area, res, router, settings, gap_minutes=gap_minutes, cell_m=cell_m, gap_band=gap_band,
                        fca=fca, fca_band=fca_band, gaps=gaps)
    if key is not None:
        _ACCESS_KEPT[key] = _copy_analysis(found)
        while len(_ACCESS_KEPT) > ACCESS_KEPT:
            _ACCESS_KEPT.popitem(last=False)
    return found


#: How many analyses ``analyse_access(..., reuse=True)`` keeps in a process (the least recently used goes first).
ACCESS_KEPT = 4
_ACCESS_KEPT: OrderedDict[str, AccessAnalysis] = OrderedDict()


def forget_access_analyses() -> None:
    """Drop the analyses kept by ``analyse_access(..., reuse=True)`` (their memory is freed)."""
    _ACCESS_KEPT.clear()


def _access_key(area: AreaData, settings: Settings, arguments: tuple) -> str | None:
    """SHA-256 of everything a default-router :func:`analyse_access` reads: the area's content (every
    layer, pickled), the settings, the arguments and the street network file's identity (path, size,
    modification time; ``None`` when it cannot be read: nothing is reused, the call reports the error)."""
    request = requested_network(settings, getattr(area, "pack", None))
    network = None
    if request is not None:
        try:
            st = Path(request.path).stat()
        except OSError:
            return None
        network = (str(Path(request.path).resolve()), st.st_size, st.st_mtime_ns)
    content = pickle.dumps((area, settings, arguments, network), protocol=pickle.HIGHEST_PROTOCOL)
    return hashlib.sha256(content).hexdigest()


def _no_gap_areas(crs: Any) -> gpd.GeoDataFrame:
    """The gap areas of an analysis made with ``gaps=False``: none."""
    return gpd.GeoDataFrame({"service_type": [], "threshold_minutes": []}, geometry=[], crs=crs)


def _copy_analysis(found: AccessAnalysis) -> AccessAnalysis:
    """A copy whose tables can be changed without changing ``found`` (the router is shared, not copied)."""
    return copy.deepcopy(found, {id(found.router): found.router})


#: The earlier name of :func:`analyse_access`.
access_analysis = analyse_access


def access_from(area: AreaData, res: acc.AccessResult, router: Any, settings: Settings,
                gap_minutes: float | None = None, cell_m: float = 250.0, gap_band: str = "pop_0_4",
                fca: bool = True, fca_band: str | None = None, gaps: bool = True) -> AccessAnalysis:
    """Everything :func:`analyse_access` derives from the distances ``res`` (measured with
    ``router``): coverage, gap areas and summaries, cross-border shares, 2SFCA and caveats
    (``locmap run`` derives them in its second process while the localities, which need only
    the distances, are scored).  Parameters as :func:`analyse_access`."""
    gap_minutes = default_gap_minutes(settings) if gap_minutes is None else float(gap_minutes)
    thresholds = [float(t) for t in settings.thresholds_minutes]
    levels = _levels(res)
    cov = acc.coverage(res.wide, levels, thresholds, res.service_types, settings=settings)
    gaps_all = (all_gap_polygons(res.wide, res.service_types, thresholds, cell_m=cell_m, band=gap_band,
                                 progress=settings.progress) if gaps
                else _no_gap_areas(res.wide.crs))
    shares = crossborder_shares(area, res, router=router)
    summaries = {lvl: gap_summary(cov, lvl) for lvl in levels}
    fca_h, fca_s, fca_a = _fca_tables(area, res, router, settings, levels, fca_band) if fca else (
        pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    return AccessAnalysis(
        result=res, router=router, coverage=cov, coverage_total=_coverage_total(cov),
        gap_summaries=summaries, gaps_by_pcn=_named_pcn_gaps(area, cov, summaries.get("pcn")),
        gap_areas_all=gaps_all,
        gap_areas=_headline_gaps(res, gaps_all, gap_minutes, cell_m, gap_band) if gaps else gaps_all,
        fca_homes=fca_h, fca_services=fca_s, fca_areas=fca_a,
        cross_border=_cross_border_totals(shares, res.label), crossborder_shares=shares,
        cross_border_services=_cross_border_services(area, res),
        straight_vs_street=_straight_vs_street(res, cov), calibration=_calibration(area, res, router),
        gap_minutes=gap_minutes, cell_m=cell_m, gap_band=gap_band)



def _calibration(area: AreaData, res: acc.AccessResult, router: Any) -> pd.DataFrame:
    """The calibration table of the router actually used (none for a router without one)."""
    if res.method == "estimated" and getattr(router, "calibration", None) is None:
        return pd.DataFrame([{"service_type": "all", "note": "estimated distances from a supplied "
                              "router without a calibration record"}])
    return calibration_summary(area, res.method, getattr(router, "calibration", None))


def default_gap_minutes(settings: Settings) -> float:
    """The headline threshold: the middle of ``settings.thresholds_minutes`` (15 of 10/15/20)."""
    t = sorted(float(x) for x in settings.thresholds_minutes)
    return t[len(t) // 2]


def _levels(res: acc.AccessResult) -> dict[str, str]:
    return {lvl: col for lvl, col in acc.DEFAULT_LEVELS.items() if col in res.wide.columns}


def _coverage_total(cov: pd.DataFrame) -> pd.DataFrame:
    tot = cov[(cov["level"] == "lsoa") & (cov["area_id"] == acc.TOTAL_ID)]
    return tot[["service_type", "threshold_minutes", "band", "pop_within", "pop_beyond", "pct_within",
                "pct_within_straight", "label"]].reset_index(drop=True)


def _straight_vs_street(res: acc.AccessResult, cov: pd.DataFrame) -> pd.DataFrame:
    tot = cov[(cov["level"] == "lsoa") & (cov["area_id"] == acc.TOTAL_ID)]
    svs = tot[tot["band"].isin(["pop_0_4", "pop_0_19"])][
        ["service_type", "threshold_minutes", "band", "pct_within", "pct_within_straight"]].copy()
    svs["difference_pts"] = svs["pct_within_straight"] - svs["pct_within"]
    svs["measure"] = res.label
    svs["comparison"] = acc.STRAIGHT_LABEL
    return svs.reset_index(drop=True)


def _named_pcn_gaps(area: AreaData, cov: pd.DataFrame, pcn_summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """People beyond each threshold per PCN footprint, with the PCN's name beside its code
    (``pcn_summary``: the coverage's ``gap_summary(cov, "pcn")`` when already made; not changed)."""
    if "pcn" not in set(cov["level"]):
        return pd.DataFrame()
    g = gap_summary(cov, "pcn") if pcn_summary is None else pcn_summary.copy()
    if "pcn_name" in area.pcns:
        g.insert(2, "pcn_name", g["area_id"].map(area.pcns.set_index("pcn_code")["pcn_name"]))
    return g


def _headline_gaps(res: acc.AccessResult, gaps_all: gpd.GeoDataFrame, minutes: float, cell_m: float,
                   band: str) -> gpd.GeoDataFrame:
    """Gap areas of "any key service" and each key type at ``minutes``."""
    key = [t for t in res.key_service_types if t in res.service_types]
    types = ([ANY_KEY] if ANY_KEY in res.service_types else []) + key or res.service_types[:1]
    return _gaps_at(res, gaps_all, types, minutes, cell_m, band)


def _gaps_at(res: acc.AccessResult, gaps_all: gpd.GeoDataFrame, types: Sequence[str], minutes: float,
             cell_m: float, band: str) -> gpd.GeoDataFrame:
    """Gap areas of ``types`` at ``minutes``: taken from the run's gap areas when that threshold was
    drawn, else drawn here."""
    if len(gaps_all) and float(minutes) in {float(t) for t in res.settings.thresholds_minutes}:
        sub = gaps_all[gaps_all["service_type"].isin(types)
                       & np.isclose(gaps_all["threshold_minutes"].astype(float), minutes)]
        return gpd.GeoDataFrame(sub.reset_index(drop=True), crs=gaps_all.crs)
    return all_gap_polygons(res.wide, list(types), [minutes], cell_m=cell_m, band=band)


def _fca_tables(area: AreaData, res: acc.AccessResult, router: Any, settings: Settings,
                levels: Mapping[str, str], fca_band: str | None) -> tuple[pd.DataFrame, ...]:
    """2SFCA per home, per service and per area, one demand band per service type."""
    by_band: dict[str, list[str]] = {}
    for t in (t for t in res.service_types if t != ANY_KEY):
        by_band.setdefault(fca_band or acc.demand_band_for(t), []).append(t)
    homes, services, areas = [], [], []
    for band, types in by_band.items():
        ph, ps = acc.two_step_fca(area.homes, area.services, router, settings,
                                  extra_demand=getattr(area, "neighbour_homes", None), service_types=types,
                                  thresholds_minutes=list(settings.thresholds_minutes), demand_band=band)
        homes.append(ph)
        services.append(ps)
        areas.append(acc.fca_by_area(ph, area.homes, levels, demand_band=band))
    if not homes:
        return pd.DataFrame(), pd.DataFrame(), pd.DataFrame()
    return tuple(pd.concat(x, ignore_index=True) for x in (homes, services, areas))


def _cross_border_totals(shares: pd.DataFrame, label: str) -> pd.DataFrame:
    """Children whose nearest service is across the border, whole area, per type and band: the
    ``__total__`` rows of :func:`locmap.access.crossborder.crossborder_shares`."""
    tot = shares[(shares["area_id"] == acc.TOTAL_ID) & (shares["level"] == shares["level"].iloc[0])] \
        if len(shares) else shares
    return pd.DataFrame({"service_type": tot["service_type"].to_numpy(), "band": tot["band"].to_numpy(),
                         "people_nearest_across_border": tot["people_cross_border"].to_numpy(float),
                         "pct_nearest_across_border": 100.0 * tot["share_cross_border"].to_numpy(float),
                         "label": label})


def _cross_border_services(area: AreaData, res: acc.AccessResult) -> pd.DataFrame:
    used = res.table[(res.table["rank"] == 1) & res.table["cross_border"].fillna(False).astype(bool)]
    out = (used.groupby(["service_type", "service_id", "service_lad_cd"]).size()
           .rename("homes_nearest").reset_index())
    svc = area.services.set_index("service_id")
    for c in ("name", "lad_nm"):
        out[c] = out["service_id"].map(svc[c]) if c in svc else None
    return out.sort_values("homes_nearest", ascending=False).reset_index(drop=True)




# ----------------------------------------------------------------------------- 04 localities
def analyse_localities(area: AreaData, access: AccessAnalysis | acc.AccessResult,
                       schemes: Sequence[str] | str = ("towns", "pcns", "auto"),
                       k_values: Iterable[int] | str = range(3, 8), weights: Any = None, n_draws: int = 2000,
                       seed: int = 0, gap_minutes: float | None = None,
                       speeds_kmh: Sequence[float] = (3.5, 4.0, 4.8),
                       gap_scenarios: Sequence[float] | None = None,
                       concentration: float | None = None, method: str = "skater", units: str = "wards",
                       balance_col: str = "pop_0_19", tolerance: float = 0.25,
                       settings: Settings | None = None) -> LocalityAnalysis:
    """Scorecards, ranking under ``weights`` and its Monte-Carlo sensitivity for each scheme.

    ``access`` is the :class:`AccessAnalysis` of the same run (distances are not recomputed).
    ``weights`` is a :class:`~locmap.localities.ranking.Weights`, a ``dict`` or a ``"need=0.3,..."``
    string.  Each draw picks random weights (Dirichlet) *and* a (walking speed x gap threshold)
    scenario; ``gap_scenarios`` default to the settings' thresholds, ``gap_minutes`` to their middle.
    """
    res = access.result if isinstance(access, AccessAnalysis) else access
    settings = settings or res.settings
    gap_minutes = default_gap_minutes(settings) if gap_minutes is None else float(gap_minutes)
    gap_scenarios = tuple(gap_scenarios or settings.thresholds_minutes)
    weights = _weights(weights)
    if isinstance(schemes, str):
        schemes = [s.strip() for s in schemes.split(",") if s.strip()]
    dist, key = nearest_table(res)
    built = [s for spec in schemes for s in build_schemes(area, spec, k_values, units=units, method=method,
                                                          balance_col=balance_col, tolerance=tolerance,
                                                          seed=seed)]
    gen = [s for s in built if s.name.startswith("auto_")]
    # distances re-timed once per walking speed, shared by every scheme
    dist_by_speed = {v: rescale_minutes(dist, v) for v in speeds_kmh}
    ctx = _SchemeContext.of(area, dist, key, settings, dist_by_speed, gap_minutes, gap_scenarios)
    parts: dict[str, dict] = {k: {} for k in ("schemes", "scorecards", "rankings", "sensitivity",
                                              "assignments", "crosstabs")}
    leaders, sc = [], None
    for sch in (s for s in built if len(s.assignment)):
        sc, rank = _score_scheme(sch, ctx, dist, gap_minutes, gap_scenarios, weights, n_draws, concentration,
                                 seed)
        _collect(parts, sch, sc, rank, ctx)
        leaders.append(_leader_row(sch, sc, rank))
    best = lc.best_scheme(gen) if gen else None
    return LocalityAnalysis(
        **parts, generated=generated_table(gen) if gen else pd.DataFrame(), generated_list=gen,
        best_generated=best.name if best is not None else None,
        alignment=alignment_table({**ctx.align_sets, **{n: s.assignment for n, s in parts["schemes"].items()}},
                                  ctx.w_child),
        leaders=pd.DataFrame(leaders),
        column_descriptions=column_descriptions(sc) if sc is not None else pd.DataFrame(),
        meta={"weights": weights.__dict__, "draws": n_draws, "seed": seed,
              "speeds_kmh": [float(v) for v in speeds_kmh],
              "gap_scenarios_min": [float(g) for g in gap_scenarios],
              "thresholds_min": list(settings.thresholds_minutes),
              "distance_method": sorted(set(dist["method"].dropna())) if "method" in dist else []})


#: The earlier name of :func:`analyse_localities`.
locality_analysis = analyse_localities


def _weights(weights: Any) -> Weights:
    if isinstance(weights, Weights):
        return weights
    if isinstance(weights, Mapping):
        return Weights(**weights)
    return Weights.parse(weights)


@dataclass(frozen=True)
class _SchemeContext:
    """What every scheme's scorecard shares: the area's layers, reference schemes, weights, and
    what the scorecards read from the distances whatever the scheme (built once per run)."""

    lsoa: gpd.GeoDataFrame
    homes: gpd.GeoDataFrame
    services: gpd.GeoDataFrame
    key: tuple[str, ...]
    thresholds: tuple[float, ...]
    base_speed: float
    ref: dict
    align_sets: dict
    w_child: pd.Series
    inputs: ScorecardInputs
    speeds: SpeedCoverage
    fields: CoverageBlocks | None

    @classmethod
    def of(cls, area: AreaData, dist: pd.DataFrame, key: Sequence[str], settings: Settings,
           dist_by_speed: Mapping[float, pd.DataFrame], gap_minutes: float,
           gap_scenarios: Sequence[float]) -> "_SchemeContext":
        lsoa, homes, thresholds = area.lsoa, area.homes, list(settings.thresholds_minutes)
        towns, pcns, wards = (lc.column_assignment(lsoa, n) for n in ("towns", "pcns", "wards"))
        return cls(lsoa=lsoa, homes=homes, services=area.services, key=tuple(key),
                   thresholds=tuple(thresholds), base_speed=settings.walk_speed_kmh,
                   ref={"town": towns, "pcn": pcns},
                   align_sets={"wards": wards, "towns": towns, "pcns": pcns},
                   w_child=lsoa.set_index("lsoa21cd")["pop_0_19"],
                   inputs=ScorecardInputs.of(lsoa, homes, area.services, dist, list(key), thresholds, gap_minutes),
                   speeds=SpeedCoverage.of(homes, dist_by_speed, gap_scenarios, list(key), thresholds),
                   fields=distance_field_coverage(homes, dist, list(dist_by_speed), gap_scenarios, list(key),
                                                  thresholds))

    def scorecard(self, sch: Any, dist: pd.DataFrame, gap_minutes: float, speed_kmh: float) -> pd.DataFrame:
        return build_scorecard(sch.assignment, lsoa=self.lsoa, homes=self.homes, services=self.services,
                               distances=dist, key_service_types=list(self.key),
                               thresholds_minutes=list(self.thresholds), align_to=self.ref,
                               scheme_name=sch.name, gap_threshold_min=gap_minutes, walk_speed_kmh=speed_kmh,
                               inputs=self.inputs)


def _score_scheme(sch: Any, ctx: _SchemeContext, dist: pd.DataFrame, gap_minutes: float,
                  gap_scenarios: Sequence[float], weights: Weights, n_draws: int, concentration: float | None,
                  seed: int) -> tuple[pd.DataFrame, dict]:
    """Base scorecard of one scheme and its ranking/sensitivity over speed x gap (x distance-error field)
    scenarios: each scenario's criteria read from the base scorecard and its access columns (from the
    run's coverage blocks, :class:`_SchemeContext`), the scenarios' scorecards not built."""
    lc.check_partition(sch.assignment, ctx.lsoa, homes=ctx.homes)
    sc = ctx.scorecard(sch, dist, gap_minutes, ctx.base_speed)
    scen = speed_scenarios(sc, sch.assignment, ctx.homes, ctx.speeds)
    base_name = f"{ctx.base_speed:g}kmh_{gap_minutes:g}min"
    # the base scenario's own scorecard (the base ranking's): the speed scenario's when there is one
    base_card = scenario_cards(sc, {base_name: scen[base_name]})[base_name] if base_name in scen else sc
    crit = scenario_criteria(sc, scen)
    if base_name not in crit:
        crit[base_name] = criteria_matrix(sc)
    if ctx.fields is not None:
        crit.update(scenario_criteria(sc, distance_field_scenarios(sc, sch.assignment, ctx.homes, ctx.fields)))
    return sc, sensitivity({base_name: base_card}, weights, n_draws=n_draws, concentration=concentration,
                           seed=seed, base_scenario=base_name, criteria=crit)


def _collect(parts: dict, sch: Any, sc: pd.DataFrame, rank: dict, ctx: _SchemeContext) -> None:
    parts["schemes"][sch.name] = sch
    parts["scorecards"][sch.name] = sc
    parts["rankings"][sch.name] = rank["base"]
    parts["sensitivity"][sch.name] = rank["summary"]
    parts["assignments"][sch.name] = sch.assignment.rename("locality").reset_index()
    for nm in ("towns", "pcns"):
        if nm != sch.name:
            parts["crosstabs"][f"{sch.name}_vs_{nm}"] = crosstab_long(sch.assignment, ctx.align_sets[nm],
                                                                     ctx.w_child, sch.name, nm)


def _leader_row(sch: Any, sc: pd.DataFrame, rank: dict) -> dict:
    top, first = rank["summary"].iloc[0], rank["base"].iloc[0]["locality"]
    hard = sc.set_index("locality")["hard_edge_risk_pct"] if "hard_edge_risk_pct" in sc else {}
    return {"scheme": sch.name, "k": sch.k, "first_base_weights": first,
            "most_often_first": top["locality"], "p_first": float(top["p_first"]),
            "rank_min": int(top["rank_min"]), "rank_max": int(top["rank_max"]),
            "hard_edge_risk_pct_of_leader": float(hard.get(top["locality"], np.nan)) if len(hard) else np.nan}


# ----------------------------------------------------------------------------- sites
def _scheme_of(area: AreaData, scheme: Any) -> Any:
    if scheme is None or isinstance(scheme, str):
        return build_schemes(area, scheme or "towns")[0]
    return scheme


def _match_locality(scheme: Any, locality: str) -> str:
    """The locality's name as the scheme spells it (case-insensitive), or UnknownAreaError."""
    names = {str(n).casefold(): n for n in scheme.assignment.unique()}
    if str(locality).casefold() not in names:
        raise UnknownAreaError(f"locality '{locality}' is not in scheme '{scheme.name}' "
                               f"(one of: {', '.join(sorted(map(str, names.values())))})")
    return names[str(locality).casefold()]


def _types(spec: str | Sequence[str] | None) -> list[str]:
    if isinstance(spec, str):
        return [t.strip() for t in spec.split(",") if t.strip()]
    return list(spec or ())


def _xy(gdf: gpd.GeoDataFrame) -> np.ndarray:
    return np.column_stack([gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()])


def hub_sites(area: AreaData, settings: Settings | None = None, scheme: Any = None, locality: str | None = None,
              p: int = 2, minutes: float | None = None, band: str = "pop_0_4",
              candidates: str | Sequence[str] = DEFAULT_CANDIDATES,
              existing: str | Sequence[str] = ("childrens_centre",), include_outside: bool = False,
              router: Any = None, p_at_most_candidates: bool = False, reuse: bool = False) -> SitesResult:
    """Suggest ``p`` hub sites in ``locality`` of ``scheme`` (a Scheme or a spec such as
    ``"towns"``; ``locality=None``: the whole area) - MCLP and p-median within ``minutes``
    (default: the middle threshold).  Pass ``router=access.router`` to reuse a run's router.
    ``p_at_most_candidates``: a locality with fewer candidate sites than ``p`` gets all of them
    (said in the summary's ``note``) instead of an error (the run's default ``p``).
    ``reuse``: the models are not solved again when an earlier ``reuse=True`` call of this process solved
    them from the same inputs (distances, children, candidate sites, ``p``, threshold): notebooks 04 and 07
    ask for the same locality's sites; see :data:`SITES_KEPT`."""
    settings = settings or area.settings
    minutes = default_gap_minutes(settings) if minutes is None else float(minutes)
    max_m = settings.minutes_to_metres(minutes)
    scheme = _scheme_of(area, scheme)
    loc_name = _match_locality(scheme, locality) if locality else None
    homes, poly = _locality_homes(area, scheme, loc_name)
    homes = homes[homes[band] > 0]
    cand = _candidates_inside(candidate_sites(area, candidates), poly, max_m if include_outside else None)
    if cand.empty:
        raise UnknownAreaError(f"no candidate sites of '{candidates}' in {loc_name or 'the area'}")
    keep, note = cap_candidates(cand[["x", "y"]].to_numpy(), _xy(homes), homes[band].to_numpy(float), max_m)
    cand = cand.iloc[keep].reset_index(drop=True)
    if p_at_most_candidates and len(cand) < p:
        note = "; ".join(filter(None, [note, f"only {len(cand)} candidate site(s) in {loc_name or 'the area'}: "
                                              f"{len(cand)} suggested, not {p}"]))
        p = len(cand)
    router = router or acc.default_router_for(area, settings)
    hxy = _xy(homes)
    cost = router.matrix(hxy, cand[["x", "y"]].to_numpy(), max_m=None)
    ex = area.services[area.services["located"].fillna(False).astype(bool)
                       & area.services["service_type"].isin(_types(existing))]
    existing_cost = router.matrix(hxy, _xy(ex)) if len(ex) else None
    res = _suggested(cost, homes[band].to_numpy(float), cand, p, max_m, existing_cost, minutes, reuse)
    res["summary"]["locality"] = loc_name or "whole area"
    if note:
        res["summary"]["note"] = note
    res["summary"]["distance_method"] = getattr(router, "method", "")
    return SitesResult(sites=res["sites"], gain=res["gain"], summary=res["summary"],
                       locality=loc_name or "whole area",
                       stem=f"{(loc_name or 'area').replace(' ', '_')}_p{p}_{minutes:g}min")


#: How many hub-site solutions ``hub_sites(..., reuse=True)`` keeps in a process (the least recently used goes first).
SITES_KEPT = 8
_SITES_KEPT = memo.Kept(SITES_KEPT)


def forget_hub_sites() -> None:
    """Drop the hub-site solutions kept by ``hub_sites(..., reuse=True)``."""
    _SITES_KEPT.clear()


def _suggested(cost: np.ndarray, demand: np.ndarray, cand: pd.DataFrame, p: int, max_m: float,
               existing_cost: np.ndarray | None, minutes: float, reuse: bool) -> dict:
    """:func:`suggest_sites`' tables, or copies of those an earlier ``reuse`` call solved from the same inputs
    (the key: SHA-256 of them all, pickled)."""
    key = (hashlib.sha256(pickle.dumps((cost, demand, cand, p, max_m, existing_cost, minutes),
                                       protocol=pickle.HIGHEST_PROTOCOL)).hexdigest() if reuse else None)
    return _SITES_KEPT.remember(
        key, lambda: suggest_sites(cost, demand, cand["site_id"].tolist(), p, max_m, sites=cand,
                                   existing_cost_m=existing_cost, minutes=minutes),
        lambda tables: {name: table.copy(deep=True) for name, table in tables.items()})


def _locality_homes(area: AreaData, scheme: Any, loc_name: str | None) -> tuple[gpd.GeoDataFrame, Any]:
    if not loc_name:
        return area.homes, area.borough.geometry.iloc[0]
    homes = area.homes[area.homes["lsoa21cd"].map(scheme.assignment) == loc_name]
    poly = scheme.localities.loc[scheme.localities["locality"] == loc_name, "geometry"].iloc[0]
    return homes, poly


def _candidates_inside(cand: pd.DataFrame, poly: Any, within_m: float | None) -> pd.DataFrame:
    """Candidates inside ``poly`` (or within ``within_m`` metres of it when given)."""
    if not len(cand):
        return cand
    pts = gpd.GeoSeries(gpd.points_from_xy(cand["x"], cand["y"]))
    inside = pts.within(poly).to_numpy() | (pts.distance(poly).to_numpy() == 0)
    if within_m is not None:
        inside |= pts.distance(poly).to_numpy() <= within_m
    return cand[inside].reset_index(drop=True)


def leading_sites(area: AreaData, localities_result: LocalityAnalysis, scheme: str = "towns", top_n: int = 2,
                  settings: Settings | None = None, **kwargs: Any) -> dict[str, pd.DataFrame]:
    """:func:`hub_sites` for the ``top_n`` most-often-first localities of ``scheme``.

    Returns ``sites``, ``gain`` and ``summary`` stacked over the leading localities.
    """
    sens = localities_result["sensitivity"][scheme]
    sch = localities_result["schemes"][scheme]
    parts: dict[str, list] = {"sites": [], "gain": [], "summary": []}
    for loc in sens["locality"].head(top_n):
        r = hub_sites(area, settings, sch, loc, **kwargs)
        for k in parts:
            parts[k].append(r[k].assign(locality=r.locality))
    return {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for k, v in parts.items()}


# ----------------------------------------------------------------------------- 05 maps
def map_layers(area: AreaData, access: AccessAnalysis | None = None,
               localities: LocalityAnalysis | None = None, scheme: str = "towns",
               layers: Sequence[str] = DEFAULT_LAYERS, gap_minutes: float | None = None,
               settings: Settings | None = None) -> MapInputs:
    """The analytic layers a map or sheet needs, taken from a run's results.

    What is missing is computed once here (``access`` when an access, gaps or localities
    layer is asked for and none is given); a scorecard comes from ``localities`` when it holds
    ``scheme``, else it is built from ``access``.
    """
    settings = settings or area.settings
    layers = tuple(layers)
    want = {"access", "gaps", "crossborder", "localities"} & set(layers)
    if access is None and want:
        access = analyse_access(area, settings, fca=False, gap_minutes=gap_minutes)
    if access is None:
        return MapInputs()
    gap_minutes = access.gap_minutes if gap_minutes is None else float(gap_minutes)
    res = access.result
    sch = _map_scheme(area, scheme, localities)
    scorecard = (localities.scorecards.get(scheme) if localities is not None else None)
    if scorecard is None:
        scorecard = build_scorecard(sch.assignment, area.lsoa, area.homes, area.services, res.table,
                                    key_service_types=getattr(area.pack, "key_service_types", None),
                                    thresholds_minutes=settings.thresholds_minutes, scheme_name=scheme,
                                    walk_speed_kmh=settings.walk_speed_kmh)
    return MapInputs(access=res.wide, method=res.method, gaps=_map_gaps(area, access, gap_minutes),
                     localities=sch.localities, scorecard=scorecard, crossborder=access.crossborder_shares)


def _map_scheme(area: AreaData, scheme: str, localities: LocalityAnalysis | None) -> Any:
    if localities is not None and scheme in localities.schemes:
        return localities.schemes[scheme]
    return lc.column_scheme(area.lsoa, scheme)


def _map_gaps(area: AreaData, access: AccessAnalysis, minutes: float) -> gpd.GeoDataFrame:
    """Gap areas of the pack's key service types at ``minutes`` (one layer per type on the map)."""
    res = access.result
    key = [t for t in (getattr(area.pack, "key_service_types", None) or res.service_types)
           if t in res.service_types]
    if ANY_KEY in res.service_types and ANY_KEY not in key:
        key = [ANY_KEY, *key]  # the scorecard's gap measure: shown first on the workshop map
    return _gaps_at(res, access.gap_areas_all, key, minutes, access.cell_m, access.gap_band)


def _map_sites(sites: Sequence[SitesResult]) -> pd.DataFrame | None:
    """Hub-site rows of ``sites`` (one frame, with the ``locality`` each belongs to) for the map."""
    parts = [s.sites.assign(locality=s.locality) for s in sites if s.sites is not None and len(s.sites)]
    return pd.concat(parts, ignore_index=True) if parts else None


def write_map(area: AreaData, path: str | Path, inputs: MapInputs | None = None,
              layers: Sequence[str] | None = None, title: str | None = None, offline: bool = False,
              scheme: str = "towns", gap_minutes: float | None = None) -> Path:
    """Build and save the workshop HTML map (``offline``: Leaflet inlined)."""
    layers = tuple(layers or DEFAULT_LAYERS)
    if inputs is None:
        inputs = map_layers(area, scheme=scheme, layers=layers, gap_minutes=gap_minutes)
    m, = workshop_maps(area, inputs, layers, title, variants=(offline,))
    return save_map(m, path, offline=offline)


def workshop_maps(area: AreaData, inputs: MapInputs, layers: Sequence[str] | None = None, title: str | None = None,
                  variants: Sequence[bool] = (False, True)) -> list[Any]:
    """The workshop maps of ``inputs`` (folium maps, one per ``variants`` flag ``offline``; default:
    online and offline), their layers built once for all (:func:`locmap.maps.web.build_maps`).
    Save each with :func:`locmap.maps.offline.save_map` and its flag."""
    title = title or f"{getattr(area.pack, 'lad_nm', area.name)}: children, deprivation and family services"
    return build_maps(area, layers=tuple(layers or DEFAULT_LAYERS), access=inputs.access, gaps=inputs.gaps,
                      localities=inputs.localities, scorecard=inputs.scorecard, title=title,
                      crossborder=inputs.crossborder, variants=tuple(variants), method=inputs.method,
                      sites=inputs.sites, recommended=inputs.recommended)


def write_sheet(area: AreaData, locality: str, out_dir: str | Path, inputs: MapInputs, scheme: str = "towns",
                paper: str = "A4", dpi: int = 200, recommendation: Any = None,
                sites: Sequence[SitesResult] = ()) -> list[Path]:
    """The printable profile sheet (PNG + PDF) of one locality of ``inputs.localities``.

    ``recommendation`` (a :class:`~locmap.localities.ranking.Recommendation`) gives the status
    printed on the sheet (recommended / runner-up / candidate; without it "not ranked");
    ``sites`` the run's hub sites (those of this locality are mapped and listed)."""
    names = {n.casefold(): n for n in inputs.localities["locality"].astype(str)}
    if str(locality).casefold() not in names:
        raise UnknownAreaError(f"locality '{locality}' is not in scheme '{scheme}' "
                               f"(known: {', '.join(sorted(names.values()))})")
    locality = names[str(locality).casefold()]
    row = None
    if inputs.scorecard is not None and "locality" in inputs.scorecard.columns:
        match = inputs.scorecard[inputs.scorecard["locality"].astype(str) == locality]
        row = match.iloc[0] if len(match) else None
    status = "unranked"  # no recommendation given: the sheet says so rather than guess
    if recommendation is not None:
        status = ("recommended" if locality == recommendation.locality
                  else "runner-up" if locality == recommendation.runner_up else "candidate")
    hubs = next((s.sites for s in sites if str(s.locality) == locality), None)
    # homes far from a children's centre; an area without children's centres: from every key service
    far_from = "childrens_centre"
    if inputs.access is not None and f"minutes__{far_from}" not in inputs.access.columns:
        far_from = acc.ANY_KEY
    return profile_sheet(area, locality, inputs.localities, row, out_dir, paper=paper, dpi=dpi,
                         access=inputs.access, method=inputs.method, status=status, hub_sites=hubs,
                         service_type=far_from)


def workshop_export(area: AreaData, out_dir: str | Path, scheme: str = "towns",
                    localities: Sequence[str] | None = None, online: bool = True, offline: bool = True,
                    gap_minutes: float | None = None, layers: Sequence[str] | None = None,
                    paper: str = "A4", dpi: int = 150, inputs: MapInputs | None = None,
                    recommendation: Any = None, sites: Sequence[SitesResult] = ()) -> pd.DataFrame:
    """Everything a workshop needs in ``out_dir``: ``maps/<area>.html`` (online),
    ``maps/<area>_offline.html`` (self-contained) and ``sheets/`` (one PNG + PDF per locality;
    default: every locality of ``scheme``; ``recommendation`` and ``sites`` give each sheet its
    status and hub sites, see :func:`write_sheet`).  Returns a table of the files written."""
    out = Path(out_dir)
    inputs = inputs or map_layers(area, scheme=scheme, gap_minutes=gap_minutes)
    rows = []
    variants = [flag for flag, wanted in ((False, online), (True, offline)) if wanted]
    for flag, m in zip(variants, workshop_maps(area, inputs, layers, variants=variants)):
        p = save_map(m, out / "maps" / f"{area.file_stem}{'_offline' if flag else ''}.html", offline=flag)
        rows.append({"kind": "map (offline)" if flag else "map", "locality": "", "path": p})
    names = list(localities) if localities else list(inputs.localities["locality"].astype(str))
    for loc in names:
        for p in write_sheet(area, loc, out / "sheets", inputs, scheme=scheme, paper=paper, dpi=dpi,
                             recommendation=recommendation, sites=sites):
            rows.append({"kind": "sheet", "locality": loc, "path": Path(p)})
    df = pd.DataFrame(rows)
    df["size_kb"] = [round(Path(p).stat().st_size / 1024, 1) for p in df["path"]]
    df["path"] = df["path"].astype(str)
    df["notes"] = "; ".join(inputs.notes)
    return df


# ----------------------------------------------------------------------------- decision pack
def decision_pack(area: AreaData, settings: Settings | None = None, out_dir: str | Path = "report",
                  scheme: str | None = None, weights: Any = None, n_draws: int = 2000, seed: int = 0,
                  sites_p: int = 2, existing: Sequence[str] = ("childrens_centre",), pdf: bool = True,
                  access: AccessAnalysis | None = None, localities: LocalityAnalysis | None = None,
                  sites: Sequence[SitesResult] | None = None, extra_sections: Sequence[str] = ()) -> Any:
    """The workshop decision pack (``decision_pack.html`` + A4 PDF) for ``scheme``'s localities.

    What is not given is computed once here: access (no 2SFCA), the localities of ``scheme`` and
    the PCN footprints (for the alignment section), the recommendation by the documented rule and
    hub sites for the recommended locality and the runner-up.  ``scheme`` None: towns where the
    area has several, else PCN footprints.  ``extra_sections``: finished HTML fragments for the pack
    (e.g. ``compare_scenarios(...).section_html()``).  Returns the :class:`~locmap.report.ReportResult`
    (files and the recommendation).
    """
    settings = settings or area.settings
    scheme = scheme or default_lead_scheme(area)
    access = access or analyse_access(area, settings, fca=False)
    localities = localities or analyse_localities(area, access, schemes=tuple(dict.fromkeys((scheme, "pcns"))),
                                                  weights=weights, n_draws=n_draws, seed=seed, settings=settings)
    rec = recommendation_for(localities, scheme, weights)
    if sites is None:
        sites = [hub_sites(area, settings, localities.schemes[scheme], name, p=sites_p, router=access.router,
                           existing=existing) for name in (rec.locality, rec.runner_up) if name]
    return build_report(area, access, localities, list(sites), settings, Path(out_dir), scheme=scheme,
                        weights=weights, pdf=pdf, extra_sections=extra_sections)


# ----------------------------------------------------------------------------- the main job
@dataclass(frozen=True)
class RunOptions:
    """Choices of the main job beyond :class:`Settings` (each a ``locmap run`` option).

    Attributes
    ----------
    schemes : tuple of str or None
        Locality schemes scored (``towns``, ``pcns``, ``wards``, ``auto``); None: towns, pcns and
        auto where the area has several towns, else wards, pcns and auto (:meth:`for_area`).
    k_values : str
        Numbers of localities tried by the generated (``auto``) schemes, e.g. ``"3..7"``.
    lead_scheme : str or None
        Scheme whose leading locality gets hub sites and a print sheet; None: ``towns`` where the
        area has several towns, else ``pcns`` (a generated borough pack has one town).
    sites_p : int or None
        Number of hub sites suggested for the leading locality; None: 2, or all the candidate
        sites of a locality that has fewer.
    sites_minutes : float or None
        Coverage threshold of the hub sites (minutes; default the middle threshold).
    existing : tuple of str
        Service types already providing the service (not counted as new coverage).
    gap_minutes : float or None
        Threshold of the headline gap areas (minutes; default the middle threshold).
    maps : bool
        Write the HTML maps and the print sheet.
    report : bool
        Write the decision pack (``report/decision_pack.html``).
    report_pdf : bool or None
        Print the pack to A4 PDF: ``True`` requires Chromium (an error without it), ``False``
        skips it, ``None`` prints it when Chromium is on PATH and says so when it is not.
    """

    schemes: tuple[str, ...] | None = None
    k_values: str = "3..7"
    lead_scheme: str | None = None
    sites_p: int | None = None
    sites_minutes: float | None = None
    existing: tuple[str, ...] = ("childrens_centre",)
    gap_minutes: float | None = None
    maps: bool = True
    report: bool = True
    report_pdf: bool | None = None

    def for_area(self, area: AreaData) -> "RunOptions":
        """These options with the schemes and lead scheme not chosen filled in for ``area``."""
        lead = self.lead_scheme or default_lead_scheme(area)
        schemes = self.schemes or (("towns", "pcns", "auto") if lead == "towns" else ("wards", "pcns", "auto"))
        if lead not in schemes:
            raise SettingsError(f"lead scheme '{lead}' is not among the schemes scored ({', '.join(schemes)})")
        n = {"towns": len(area.towns), "pcns": len(area.pcns), "wards": len(area.wards)}.get(lead)
        if n is not None and n < 2:
            raise SettingsError(f"lead scheme '{lead}' of {area.name} has {n} locality, so there is nothing to "
                                "choose between: lead with pcns, wards or auto (an area pack without a "
                                "ward-to-town table has one town, the whole borough)")
        return dataclasses.replace(self, schemes=tuple(schemes), lead_scheme=lead)


def default_lead_scheme(area: AreaData) -> str:
    """The first of ``towns``, ``pcns``, ``wards`` with several localities in ``area`` (a generated
    borough pack has one town; the City of London has one PCN footprint)."""
    for scheme, frame in (("towns", area.towns), ("pcns", area.pcns), ("wards", area.wards)):
        if len(frame) > 1:
            return scheme
    raise SettingsError(f"{area.name} has one town, one PCN footprint and one ward: no localities to compare")


class _Steps:
    """Runs named steps, printing each and recording its time (the run's ``timings.csv``).

    :meth:`background` starts steps in a second process (:mod:`locmap._background`) while the
    run goes on; :meth:`collect` waits for them (their times take the place they were started
    at in ``timings.csv``); :meth:`cancel` stops every one still running (a failed or
    interrupted run, before its folder is removed or marked)."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say, self.timings = say, {}
        self.pending: list[Background] = []

    def __call__(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.say(f"== {name}")
        t0 = time.perf_counter()
        value = fn(*args, **kwargs)
        self.timings[name] = time.perf_counter() - t0
        _interrupt.raise_if_swallowed()  # a Ctrl-C dropped inside the step (a finalizer) stops the run here
        return value

    def background(self, name: str, fn: Callable[..., Any], *args: Any, hands_over: bool = False,
                   **kwargs: Any) -> Background:
        """Start ``fn(step, *args, **kwargs)`` in a second process, ``step`` being that process's own
        :class:`_Steps` (so the steps it runs are printed and timed there); with ``hands_over``,
        ``fn(step, hand_over, *args, **kwargs)`` (:meth:`handed_over` gets the value part way)."""
        self.timings[f"<{name}>"] = 0.0  # where its steps' times go
        job = (Background(name, _stepped_handing_over, self.say, fn, *args, hands_over=True, **kwargs)
               if hands_over else Background(name, _stepped, self.say, fn, *args, **kwargs))
        self.pending.append(job)
        return job

    def handed_over(self, job: Background) -> Any:
        """The value a ``hands_over`` :meth:`background` step handed over (waiting for it)."""
        try:
            return job.handed_over()
        except BaseException:
            self.pending.remove(job)
            job.cancel()
            raise

    def collect(self, job: Background) -> Any:
        """The value of a :meth:`background` step (waiting for it); its step times recorded."""
        try:
            value, timings = job.result()
        except BaseException:  # e.g. Ctrl-C while waiting: the step is stopped before the run goes on
            job.cancel()
            raise
        finally:
            self.pending.remove(job)
        _interrupt.raise_if_swallowed()
        self.timings = {k2: v2 for k, v in self.timings.items()
                        for k2, v2 in (timings.items() if k == f"<{job.name}>" else [(k, v)])}
        return value

    def cancel(self) -> None:
        while self.pending:
            self.pending.pop().cancel()


def _stepped(say: Callable[[str], None], fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, dict]:
    step = _Steps(say)
    return fn(step, *args, **kwargs), step.timings


def _stepped_handing_over(hand_over: Callable[[Any], None], say: Callable[[str], None], fn: Callable[..., Any],
                          *args: Any, **kwargs: Any) -> tuple[Any, dict]:
    step = _Steps(say)
    return fn(step, hand_over, *args, **kwargs), step.timings


def run_all(area_name: str, settings: Settings, out: str | Path, options: RunOptions = RunOptions(),
            say: Callable[[str], None] = print, force: bool = False, stored_area: bool = False) -> RunResult:
    """The main job into ``out``: check, access (once), localities, hub sites, maps and sheet.

    The run owns ``out`` (:mod:`locmap.runfolder`): ``run.json`` is written first (status
    ``running``) and completed last; a previous run's files that this run did not write are removed
    at the end; a non-empty folder that is not a locmap run folder is refused unless ``force``.  If
    the job fails or is interrupted and ``out`` did not exist before, the folder is removed;
    otherwise ``run.json`` says ``incomplete``.  Files are always written atomically.
    With ``stored_area`` the area is read from the cache folder's copy while its inputs and the
    code are unchanged (:func:`locmap.data.area.read_stored`; ``locmap run`` does), else loaded
    and a copy stored.
    """
    out = Path(out)
    created = not out.exists()
    run = runfolder.start(out, settings, options, force=force)
    if run.note:
        say(run.note)
    try:
        with _fewer_collections():
            res = _run_steps(area_name, settings, out, options, say, run, stored_area)
    except BaseException as exc:
        if created and out.exists():
            shutil.rmtree(out, ignore_errors=True)
        elif out.exists():
            try:
                runfolder.abandon(run, "interrupted" if isinstance(exc, KeyboardInterrupt) else
                                  f"{type(exc).__name__}: {exc}")
            except OSError:  # e.g. the disk that failed the run: its error is the one to report
                pass
        raise
    kept = runfolder.finish(run, res.files)
    if kept:
        say(f"note: {len(kept)} file(s) in {out} were not written by locmap and are kept: "
            + ", ".join(kept[:5]) + (" ..." if len(kept) > 5 else ""))
    return dataclasses.replace(res, files=tuple(sorted((*res.files, out / runfolder.MANIFEST))))


#: the garbage collector's thresholds during a run: the job makes millions of short objects (pandas,
#: shapely, folium), and under Python's default (700, 10, 10) Ealing's serial run made 1,058
#: collections (6 full) costing 0.85 s of CPU; these make 9 (0.09 s), peak memory +15 MB (decisions.md)
RUN_GC_THRESHOLDS = (100_000, 50, 1_000)


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run with :data:`RUN_GC_THRESHOLDS`; the caller's thresholds are restored after."""
    before = gc.get_threshold()
    gc.set_threshold(*RUN_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _run_steps(area_name: str, settings: Settings, out: Path, options: RunOptions,
               say: Callable[[str], None], run: runfolder.RunFolder, stored_area: bool = False) -> RunResult:
    step = _Steps(say)
    try:
        return _run_job(step, area_name, settings, out, options, say, run, stored_area)
    finally:
        step.cancel()  # steps still running in the second process: stopped before the folder is touched


def _run_job(step: _Steps, area_name: str, settings: Settings, out: Path, options: RunOptions,
             say: Callable[[str], None], run: runfolder.RunFolder, stored_area: bool = False) -> RunResult:
    """The steps of :func:`run_all`, with other processes (:meth:`_Steps.background`): the access
    tables (coverage, gaps, 2SFCA ...) derived from the distances and written while the localities
    are scored and the hub sites chosen; the localities' tables written from then on; the pack's
    PDF and the print sheet drawn while the main process waits for the access tables' writes, then
    the workbook built while the maps are drawn."""
    files: list[Path] = []
    out.mkdir(parents=True, exist_ok=True)
    area = step("load", load, area_name, settings, stored=stored_area)
    runfolder.record_inputs(run, _input_files(area, settings))
    options = options.for_area(area)
    if len(area.towns) < 2:
        say(f"note: {area.name} has one town (no ward-to-town table): the {options.lead_scheme} scheme leads")
    files.append(step("check", export.write_csv, area.rejects, out / "rejects.csv"))
    note = user_services_note(area, out / "rejects.csv")
    if note:
        say(note)
    # the distances here; what is derived from them (coverage, gaps, 2SFCA ...) is computed and
    # written by the second process while the localities, which need only the distances, are scored
    distances, router = step("access", _distances, area, settings)
    access_write = step.background("access-write", _derive_and_write_access, area, distances, router, settings,
                                   out, options.gap_minutes, hands_over=True)
    loc = step("localities", analyse_localities, area, distances, schemes=options.schemes,
               k_values=options.k_values, gap_minutes=options.gap_minutes, settings=settings)
    loc = dataclasses.replace(loc, meta={**loc.meta, "run_manifest": f"../{runfolder.MANIFEST}",
                                         "inputs": run.manifest["inputs"]})
    # the localities' tables written by another process from now on (the workbook reads them later)
    loc_write = step.background("localities-write", lambda st: st("localities-write", loc.write, out / "localities"))
    rec = step("recommend", recommendation_for, loc, options.lead_scheme)
    say(f"== {rec.headline()}\n   rule: {rec.rule}")
    sites = tuple(step(f"sites {name}", hub_sites, area, settings, loc.schemes[options.lead_scheme], name,
                       p=options.sites_p or 2, p_at_most_candidates=options.sites_p is None,
                       minutes=options.sites_minutes, existing=options.existing,
                       router=router) for name in (rec.locality, rec.runner_up) if name)
    for s in sites:
        files += s.write(out / "sites")
        if "note" in s.summary.columns and str(s.summary["note"].iat[0] or ""):
            say(f"note: hub sites in {s.locality}: {s.summary['note'].iat[0]}")
    # the access tables as soon as they are computed; the child goes on writing them
    access = AccessAnalysis(result=distances, router=router, **step.handed_over(access_write))
    printing = _run_report(step, area, access, loc, sites, settings, out, options, say, files, rec) \
        if options.report else None
    # the sheet (no step waits for it) started now; the workbook, last of the longest chain (access
    # tables -> their writes -> workbook), as soon as what it reads is written; the maps here meanwhile
    inputs, sheet = _sheet_started(step, area, access, loc, rec, out, options, sites) if options.maps else (None, None)
    files += step.collect(access_write) + step.collect(loc_write)  # written: the workbook reads them
    tables = step.background("workbook", lambda st: st("workbook", workbook.write_run_workbook, area, out))
    if inputs is not None:
        files += _write_maps(step, area, inputs, out)
    for job in (sheet, printing, tables):
        if job is not None:
            files += step.collect(job)
    files.append(export.write_text(out / "timings.csv", "step,seconds\n" + "".join(
        f"{n},{s:.2f}\n" for n, s in step.timings.items())))
    return RunResult(out_dir=out, access=access, localities=loc, recommendation=rec, sites=sites,
                     files=tuple(sorted(files)), timings=dict(step.timings))


def _distances(area: AreaData, settings: Settings) -> tuple[acc.AccessResult, Any]:
    """The run's distances and the router that measured them (:func:`analyse_access`'s first half)."""
    router = acc.default_router_for(area, settings)
    return acc.compute_access(area, settings, router=router), router


def _derive_and_write_access(step: _Steps, hand_over: Callable[[dict[str, Any]], None], area: AreaData,
                             distances: acc.AccessResult, router: Any, settings: Settings, out: Path,
                             gap_minutes: float | None) -> list[Path]:
    """:func:`analyse_access`'s second half (:func:`access_from`), then every access table written.
    The analysis' fields but the distances and router (which stay with the main process) are handed
    over as soon as they are computed, so the main process can put the :class:`AccessAnalysis`
    together while they are written; returns the files."""
    quiet = dataclasses.replace(settings, progress=False)  # no progress bar beside the main process's
    access = step("access-tables", access_from, area, distances, router, quiet, gap_minutes=gap_minutes)
    hand_over({f.name: getattr(access, f.name) for f in dataclasses.fields(access)
               if f.name not in ("result", "router")})
    return step("access-write", access.write, out / "access", "both", area.name, area.attribution,
                area.services.set_index("service_id")["name"])


def _input_files(area: AreaData, settings: Settings) -> list[Path]:
    """Every file the run reads: the pack's files, the user's services and street network."""
    extra = [p for p in (settings.user_services, settings.network_file) if p is not None]
    return [*pack_input_files(area.pack, settings.resolve_data_root()), *extra]


def _run_report(step: _Steps, area: AreaData, access: AccessAnalysis, loc: LocalityAnalysis,
                sites: tuple[SitesResult, ...], settings: Settings, out: Path, options: RunOptions,
                say: Callable[[str], None], files: list[Path], rec: Any = None) -> Background | None:
    """The decision pack's HTML and tables (added to ``files``); its A4 PDF is printed by Chromium
    in the background (the returned job, whose value is the PDF's path in a list).  ``rec``: the
    run's recommendation for the lead scheme (recomputed by the report when None)."""
    pdf = options.report_pdf
    if pdf is None:
        pdf = any(shutil.which(n) for n in CHROMIUM_NAMES)
        if not pdf:
            say("note: no Chromium on PATH, so the decision pack is written as HTML only "
                "(install chromium for the A4 PDF)")
    res = step("report", build_report, area, access, loc, list(sites), settings, out / "report",
               scheme=options.lead_scheme, pdf=pdf, print_now=False, recommendation=rec)
    files += res.files
    if not pdf:
        return None
    return step.background("report-pdf", lambda st: [st("report-pdf", print_pdf, res.html, out / "report" / PDF_NAME)])


def _run_maps(step: _Steps, area: AreaData, access: AccessAnalysis, loc: LocalityAnalysis, rec: Any,
              out: Path, options: RunOptions, sites: Sequence[SitesResult] = ()) -> list[Path]:
    """The maps and the print sheet written (the sheet drawn by another process meanwhile)."""
    inputs, sheet = _sheet_started(step, area, access, loc, rec, out, options, sites)
    files = _write_maps(step, area, inputs, out)
    return files + (step.collect(sheet) if sheet is not None else [])


def _sheet_started(step: _Steps, area: AreaData, access: AccessAnalysis, loc: LocalityAnalysis, rec: Any,
                   out: Path, options: RunOptions, sites: Sequence[SitesResult] = ()
                   ) -> tuple[MapInputs, Background | None]:
    """The maps' layers, and the print sheet started in another process (the job; None without a
    recommended locality)."""
    inputs = step("map-layers", map_layers, area, access, loc, options.lead_scheme,
                  gap_minutes=options.gap_minutes)
    # the workshop map marks the recommended locality and its suggested hub sites (sites[0])
    inputs = dataclasses.replace(inputs, recommended=rec.locality, sites=_map_sites(sites[:1]))
    # the print sheet drawn by another process (its natural breaks run on one OpenMP thread, which is
    # safe in a forked child: locmap._background)
    sheet = step.background("sheet", lambda st: st("sheet", write_sheet, area, rec.locality, out / "sheets", inputs,
                                                   scheme=options.lead_scheme, recommendation=rec, sites=sites)) \
        if rec.locality else None
    return inputs, sheet


def _write_maps(step: _Steps, area: AreaData, inputs: MapInputs, out: Path) -> list[Path]:
    """Both HTML variants from one set of layers ("map"), then each page rendered and written."""
    online, offline = step("map", workshop_maps, area, inputs)
    return [step("map-online", save_map, online, out / "maps" / f"{area.file_stem}.html"),
            step("map-offline", save_map, offline, out / "maps" / f"{area.file_stem}_offline.html", offline=True)]


# ----------------------------------------------------------------------------- helpers kept public
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

    lsoa = area.lsoa
    if lc.column_scheme_name(spec):
        return [lc.column_scheme(lsoa, spec)]
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



def candidate_sites(area, spec: str | Sequence[str]) -> pd.DataFrame:
    """Candidate hub sites: service types (comma-separated or a list) or a CSV
    (``site_id, easting, northing`` [``name, service_type``])."""
    if isinstance(spec, str) and Path(spec).suffix.lower() == ".csv":
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




# ----------------------------------------------------------------------------- writing tables
def write_tables(tables: Mapping[str, Any], out_dir: str | Path, prefix: str = "") -> list[Path]:
    """Write every DataFrame of ``tables`` (a dict or a result) to ``out_dir/<prefix><name>.csv``
    (geometry dropped; atomic writes)."""
    out, written = Path(out_dir), []
    for name in tables.keys():
        df = tables[name]
        if isinstance(df, pd.DataFrame):
            df = pd.DataFrame(df.drop(columns="geometry", errors="ignore"))
            written.append(export.write_csv(df, out / f"{prefix}{name}.csv"))
    return written


def locality_tables(result: LocalityAnalysis) -> dict[str, pd.DataFrame]:
    """``file stem -> DataFrame`` of a locality analysis (:meth:`LocalityAnalysis.tables`)."""
    return result.tables()


def write_locality_outputs(result: LocalityAnalysis, out_dir: str | Path) -> list[Path]:
    """The CSVs of a locality analysis plus ``localities_run.json`` (:meth:`LocalityAnalysis.write`)."""
    return result.write(out_dir)


# ----------------------------------------------------------------------------- scenarios
def compare_scenarios(area: AreaData, scenarios: Sequence[Any], settings: Settings | None = None,
                      access: AccessAnalysis | None = None, rescore: bool = True, scheme: str | None = None,
                      n_draws: int = 2000, seed: int = 0, fca: bool = True,
                      localities: LocalityAnalysis | None = None, sites: Sequence[SitesResult] = (),
                      reuse: bool = False) -> Any:
    """Baseline and scenarios side by side (docs/scenarios.md).

    ``scenarios`` are :class:`~locmap.scenarios.spec.Scenario` objects or paths of scenario TOML
    files.  ``access`` is the run's :class:`AccessAnalysis` (computed here without gap polygons
    when not given); the changed service types are measured once for the union of services with
    its router and every scenario is a mask over those distances.  ``rescore``: the
    recommendation of ``scheme`` (default: the lead scheme) re-scored under each scenario with
    ``n_draws`` and ``seed``.  ``localities``: the run's :class:`LocalityAnalysis` (same draws and
    seed), reused for the baseline recommendation and hub sites instead of scoring again; ``sites``:
    the run's :class:`SitesResult` of ``scheme`` (reused for a hub-site change of the same locality,
    number of sites and threshold).  ``reuse``: hub sites are solved with ``hub_sites(..., reuse=True)``.
    Returns a :class:`~locmap.scenarios.comparison.ScenarioComparison`.
    """
    settings = settings or area.settings
    specs = [s if isinstance(s, Scenario) else read_scenario(s) for s in scenarios]
    access = access or analyse_access(area, settings, fca=False, gaps=False)
    scheme = scheme or default_lead_scheme(area)
    kept: dict[str, LocalityAnalysis] = {sch: localities for sch in (localities.schemes if localities else ())}

    def localities_of(sch: str) -> LocalityAnalysis:
        if sch not in kept:
            kept[sch] = analyse_localities(area, access, schemes=(sch,), n_draws=n_draws, seed=seed, settings=settings)
        return kept[sch]

    def recommended(sch: str) -> tuple[str, Any]:
        rec = recommendation_for(localities_of(sch), sch)
        return rec.locality, rec.runner_up

    def sites_for(sch: str, locality: str, p: int, minutes: Any) -> pd.DataFrame:
        stem = f"{locality.replace(' ', '_')}_p{p}_{default_gap_minutes(settings) if minutes is None else minutes:g}min"
        done = [r.sites for r in sites if sch == scheme and r.stem == stem]
        if done:
            return done[0][done[0]["model"] == "mclp"]
        scheme_obj = sch if lc.column_scheme_name(sch) or sch not in kept else kept[sch].schemes[sch]
        found = hub_sites(area, settings, scheme_obj, locality, p=p, minutes=minutes, router=access.router,
                          reuse=reuse).sites
        return found[found["model"] == "mclp"]

    def analyse(scn_area: AreaData, result: acc.AccessResult) -> LocalityAnalysis:
        if result is access.result:
            return localities_of(scheme)
        return analyse_localities(scn_area, result, schemes=(scheme,), n_draws=n_draws, seed=seed, settings=settings)

    assignment = lc.column_scheme(area.lsoa, scheme).assignment if lc.column_scheme_name(scheme) else None
    return run_comparison(area, specs, settings, access, sites_for=sites_for, recommended=recommended,
                          analyse=analyse if rescore else None,
                          recommend=(lambda loc: recommendation_for(loc, scheme)) if rescore else None,
                          localities=assignment, fca=fca)
