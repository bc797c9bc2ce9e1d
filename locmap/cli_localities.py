"""``locmap localities`` and ``locmap sites`` commands.

``locmap localities --area ealing --scheme towns`` (or ``pcns``, ``wards``, ``auto``, a CSV
mapping wards/LSOAs to localities, a polygon file; several comma-separated) writes, per
scheme: the scorecard, the ranking under the given weights *and* its Monte-Carlo
sensitivity, and alignment tables (all CSV, atomic writes).

``locmap sites --locality Southall --p 2 --minutes 15`` writes suggested hub sites
(MCLP and p-median) and the coverage gain per added site.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_CANDIDATES = ("childrens_centre", "primary_school", "library", "gp_practice")


def _parse_k(text: str) -> list[int]:
    """``"3..7"`` -> [3,4,5,6,7]; ``"4,6"`` -> [4,6]; ``"5"`` -> [5]."""
    text = str(text).strip()
    if ".." in text:
        a, b = text.split("..", 1)
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in text.split(",") if x.strip()]


def add_parser(subparsers: Any) -> None:
    """Register ``localities`` and ``sites``."""
    from locmap.cli import add_common  # noqa: PLC0415

    p = subparsers.add_parser(
        "localities", help="scorecards, alignment and pathfinder ranking (with sensitivity) "
                           "for candidate locality schemes",
        description="Build candidate locality schemes (towns, PCN footprints, wards, generated "
                    "contiguous groupings, or your own CSV/polygon file), score every locality "
                    "(need, assets, pram-distance access, gaps, hard-edge risk, size, alignment) "
                    "and rank them for a pathfinder with Monte-Carlo sensitivity.  Writes CSVs.")
    add_common(p)
    p.add_argument("--scheme", default="towns",
                   help="towns, pcns, wards, auto, or a CSV (lsoa21cd|ward_cd|ward_nm,locality) or "
                        "polygon file; several comma-separated (default: towns)")
    p.add_argument("--k", default="3..7", help="localities for --scheme auto, e.g. 3..7 or 4,5")
    p.add_argument("--units", default="wards", choices=("wards", "lsoa"),
                   help="building blocks of generated schemes (default: wards)")
    p.add_argument("--method", default="skater", choices=("skater", "ward", "maxp"),
                   help="spopt regionalisation for --scheme auto (default: skater)")
    p.add_argument("--balance-col", default="pop_0_19", help="population balanced by auto schemes")
    p.add_argument("--tolerance", type=float, default=0.25,
                   help="auto schemes: each locality within +/- this share of total/k (default 0.25)")
    p.add_argument("--minutes", nargs="+", type=float, default=None,
                   help="pram-distance thresholds in minutes (default 10 15 20)")
    p.add_argument("--gap-minutes", type=float, default=15.0, help="gap threshold (default 15)")
    p.add_argument("--weights", default=None,
                   help="ranking weights, e.g. need=0.3,gaps=0.25,readiness=0.2,alignment=0.15,size=0.1")
    p.add_argument("--draws", type=int, default=2000, help="Monte-Carlo draws (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--concentration", type=float, default=None,
                   help="Dirichlet concentration around --weights (default: uniform Dirichlet)")
    p.add_argument("--speeds", default="3.5,4.0,4.8",
                   help="walking speeds (km/h) for the scenario sensitivity (default 3.5,4.0,4.8)")
    p.add_argument("--gap-scenarios", default="10,15,20",
                   help="gap thresholds (min) for the scenario sensitivity (default 10,15,20)")
    p.add_argument("--out", default="out/localities", help="output folder")
    p.set_defaults(func=run_localities)

    s = subparsers.add_parser(
        "sites", help="suggest p hub sites in a locality (MCLP and p-median)",
        description="Choose p sites among candidates (schools, libraries, GP practices, "
                    "children's centres, or your CSV) maximising children within T minutes of "
                    "pram distance (MCLP) and the p-median alternative; report the coverage "
                    "gain of each added site.")
    add_common(s)
    s.add_argument("--locality", default=None, help="locality name (default: the whole area)")
    s.add_argument("--scheme", default="towns", help="scheme the locality belongs to (towns, pcns, "
                                                     "wards, or a CSV/polygon file)")
    s.add_argument("--p", type=int, default=2, help="number of sites (default 2)")
    s.add_argument("--minutes", nargs="+", type=float, default=[15.0],
                   help="coverage threshold in minutes (first value used; default 15)")
    s.add_argument("--band", default="pop_0_4", help="children weighting demand (default pop_0_4)")
    s.add_argument("--candidates", default=",".join(DEFAULT_CANDIDATES),
                   help="service types, comma-separated, or a CSV with site_id,name,easting,northing")
    s.add_argument("--existing", default="",
                   help="service type(s) already providing the service (their coverage is not "
                        "counted as new), e.g. childrens_centre")
    s.add_argument("--include-outside", action="store_true",
                   help="also consider candidates outside the locality (within the coverage distance)")
    s.add_argument("--out", default="out/sites", help="output folder")
    s.set_defaults(func=run_sites)


# ----------------------------------------------------------------------------- helpers
def _scheme(area, spec: str, args) -> list:
    from locmap import localities as lc  # noqa: PLC0415

    lsoa = area.lsoa
    if spec == "towns":
        return [lc.scheme_from_column(lsoa, "town", "towns")]
    if spec in ("pcns", "pcn"):
        return [lc.scheme_from_column(lsoa, "pcn_name" if "pcn_name" in lsoa else "pcn_code",
                                      "pcns")]
    if spec == "wards":
        return [lc.scheme_from_column(lsoa, "ward_nm", "wards")]
    if spec == "auto":
        ks = _parse_k(getattr(args, "k", "3..7"))
        if getattr(args, "units", "wards") == "wards":
            units = lc.units_from_lsoa(lsoa, "ward_cd")
            return lc.generate_schemes(units, ks, pop_col=args.balance_col, method=args.method,
                                       tolerance=args.tolerance, id_col="ward_cd", lsoa=lsoa,
                                       seed=args.seed)
        return lc.generate_schemes(lsoa, ks, pop_col=args.balance_col, method=args.method,
                                   tolerance=args.tolerance, seed=args.seed, n_starts=2)
    path = Path(spec)
    if path.suffix.lower() == ".csv":
        return [lc.scheme_from_mapping_csv(path, lsoa, area.wards)]
    return [lc.scheme_from_polygons(path, lsoa)]


def _access_table(area, settings) -> tuple[pd.DataFrame, list[str]]:
    from locmap.access import ANY_KEY, compute_access  # noqa: PLC0415

    res = compute_access(area, settings)
    t = res.table[(res.table["service_type"] != ANY_KEY) & (res.table["rank"] == 1)]
    return t.reset_index(drop=True), list(res.key_service_types)


def _write(df: pd.DataFrame, out: Path, name: str, written: list[Path]) -> None:
    from locmap.export import write_csv  # noqa: PLC0415

    written.append(write_csv(df, out / name))


# ----------------------------------------------------------------------------- localities
def run_localities(args: argparse.Namespace) -> int:
    """Scorecards, alignment, ranking and sensitivity for each requested scheme."""
    from locmap import localities as lc  # noqa: PLC0415
    from locmap.alignment import alignment_table, crosstab_long  # noqa: PLC0415
    from locmap.cli import area_from_args, settings_from_args  # noqa: PLC0415
    from locmap.ranking import Weights, rescale_minutes, sensitivity  # noqa: PLC0415
    from locmap.scorecard import build_scorecard, column_descriptions  # noqa: PLC0415

    settings = settings_from_args(args)
    area = area_from_args(args)
    out = Path(args.out)
    weights = Weights.parse(args.weights)
    dist, key = _access_table(area, settings)
    lsoa = area.lsoa
    towns = lc.scheme_from_column(lsoa, "town", "towns")
    pcns = lc.scheme_from_column(lsoa, "pcn_name" if "pcn_name" in lsoa else "pcn_code", "pcns")
    wards = lc.scheme_from_column(lsoa, "ward_nm", "wards")
    ref = {"town": towns.assignment, "pcn": pcns.assignment}
    schemes = []
    for spec in [s.strip() for s in args.scheme.split(",") if s.strip()]:
        schemes.extend(_scheme(area, spec, args))
    written: list[Path] = []
    gen = [s for s in schemes if s.name.startswith("auto_")]
    if gen:
        _write(pd.DataFrame([{"scheme": s.name, "k": s.meta["k"],
                              "k_achieved": s.meta.get("k_achieved"),
                              "method": s.meta["method"], "feasible": s.meta["feasible"],
                              "status": s.meta["status"],
                              "bounds_min": s.meta["bounds_people"][0],
                              "bounds_max": s.meta["bounds_people"][1],
                              "max_dev_pct": s.meta.get("max_dev_pct"),
                              "contiguous": s.meta.get("contiguous")} for s in gen]),
               out, "generated_schemes.csv", written)
        best = lc.best_scheme(gen)
        print("generated schemes:")
        for s in gen:
            print(f"  {s.name}: {s.meta['status']}")
        if best is not None:
            print(f"  best feasible: {best.name}")
    thresholds = list(settings.thresholds_minutes)
    speeds = [float(x) for x in args.speeds.split(",") if x.strip()]
    gaps = [float(x) for x in args.gap_scenarios.split(",") if x.strip()]
    w_child = lsoa.set_index("lsoa21cd")["pop_0_19"]
    base_speed = settings.walk_speed_kmh
    align_sets = {"wards": wards.assignment, "towns": towns.assignment, "pcns": pcns.assignment}
    for sch in schemes:
        if not len(sch.assignment):
            continue
        lc.check_partition(sch.assignment, lsoa, homes=area.homes)
        common = dict(lsoa=lsoa, homes=area.homes, services=area.services,
                      key_service_types=key, thresholds_minutes=thresholds, align_to=ref,
                      scheme_name=sch.name)
        sc = build_scorecard(sch.assignment, distances=dist, gap_threshold_min=args.gap_minutes,
                             walk_speed_kmh=base_speed, **common)
        _write(sc, out, f"scorecard_{sch.name}.csv", written)
        scen = {}
        for v in speeds:
            d_v = rescale_minutes(dist, v)
            for g in gaps:
                scen[f"{v:g}kmh_{g:g}min"] = build_scorecard(
                    sch.assignment, distances=d_v, gap_threshold_min=g, walk_speed_kmh=v,
                    **common)
        base_name = f"{base_speed:g}kmh_{args.gap_minutes:g}min"
        if base_name not in scen:
            scen[base_name] = sc
        res = sensitivity(scen, weights, n_draws=args.draws, concentration=args.concentration,
                          seed=args.seed, base_scenario=base_name)
        _write(res["base"], out, f"ranking_{sch.name}.csv", written)
        _write(res["summary"], out, f"sensitivity_{sch.name}.csv", written)
        _write(sch.assignment.rename("locality").reset_index(), out,
               f"assignment_{sch.name}.csv", written)
        for nm, other in (("towns", towns.assignment), ("pcns", pcns.assignment)):
            if nm != sch.name:
                _write(crosstab_long(sch.assignment, other, w_child, sch.name, nm), out,
                       f"crosstab_{sch.name}_vs_{nm}.csv", written)
        align_sets[sch.name] = sch.assignment
        top = res["summary"].iloc[0]
        print(f"{sch.name}: base-weights first = "
              f"{res['base'].iloc[0]['locality']}; most often first = {top['locality']} "
              f"(p={top['p_first']:.2f}, rank range {top['rank_min']}-{top['rank_max']})")
    _write(alignment_table(align_sets, w_child), out, "alignment.csv", written)
    if schemes:
        _write(column_descriptions(sc), out, "scorecard_columns.csv", written)
    meta = {"weights": weights.__dict__, "draws": args.draws, "seed": args.seed,
            "speeds_kmh": speeds, "gap_scenarios_min": gaps, "thresholds_min": thresholds,
            "distance_method": sorted(set(dist["method"].dropna())) if "method" in dist else []}
    from locmap.export import write_text  # noqa: PLC0415
    written.append(write_text(out / "localities_run.json", json.dumps(meta, indent=2)))
    print(f"wrote {len(written)} files to {out}")
    return 0


# ----------------------------------------------------------------------------- sites
def _candidates(area, spec: str) -> pd.DataFrame:
    p = Path(spec)
    if p.suffix.lower() == ".csv":
        from locmap.errors import DataFileError, MissingColumnError  # noqa: PLC0415

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
    types = [t.strip() for t in spec.split(",") if t.strip()]
    s = area.services
    s = s[s["located"].fillna(False).astype(bool) & s["service_type"].isin(types)]
    return pd.DataFrame({"site_id": s["service_id"].to_numpy(), "name": s["name"].to_numpy(),
                         "service_type": s["service_type"].to_numpy(),
                         "x": s.geometry.x.to_numpy(), "y": s.geometry.y.to_numpy()})


def run_sites(args: argparse.Namespace) -> int:
    """Suggest ``p`` hub sites for one locality (or the whole area)."""
    import geopandas as gpd  # noqa: PLC0415

    from locmap.access import default_router_for  # noqa: PLC0415
    from locmap.cli import area_from_args, settings_from_args  # noqa: PLC0415
    from locmap.errors import UnknownAreaError  # noqa: PLC0415
    from locmap.sites import suggest_sites  # noqa: PLC0415

    settings = settings_from_args(args)
    area = area_from_args(args)
    minutes = float(args.minutes[0])
    max_m = settings.minutes_to_metres(minutes)
    sch = _scheme(area, args.scheme, args)[0]
    homes = area.homes
    loc_name = args.locality
    if loc_name:
        names = {str(n).casefold(): n for n in sch.assignment.unique()}
        if loc_name.casefold() not in names:
            raise UnknownAreaError(f"locality '{loc_name}' is not in scheme '{sch.name}' "
                                   f"(one of: {', '.join(sorted(names.values()))})")
        loc_name = names[loc_name.casefold()]
        homes = homes[homes["lsoa21cd"].map(sch.assignment) == loc_name]
        poly = sch.localities.loc[sch.localities["locality"] == loc_name, "geometry"].iloc[0]
    else:
        poly = area.borough.geometry.iloc[0]
    homes = homes[homes[args.band] > 0]
    cand = _candidates(area, args.candidates)
    pts = gpd.points_from_xy(cand["x"], cand["y"])
    inside = np.array([poly.contains(p) for p in pts]) if len(cand) else np.array([], bool)
    if args.include_outside:
        inside = inside | np.array([poly.distance(p) <= max_m for p in pts])
    cand = cand[inside].reset_index(drop=True)
    if cand.empty:
        raise UnknownAreaError(f"no candidate sites of '{args.candidates}' in "
                               f"{loc_name or 'the area'}")
    router = default_router_for(area, settings)
    hxy = np.column_stack([homes.geometry.x.to_numpy(), homes.geometry.y.to_numpy()])
    cost = router.matrix(hxy, cand[["x", "y"]].to_numpy(), max_m=None)
    existing = None
    if args.existing:
        types = [t.strip() for t in args.existing.split(",") if t.strip()]
        ex = area.services[area.services["located"].fillna(False).astype(bool)
                           & area.services["service_type"].isin(types)]
        if len(ex):
            existing = router.matrix(hxy, np.column_stack([ex.geometry.x, ex.geometry.y]))
    res = suggest_sites(cost, homes[args.band].to_numpy(float), cand["site_id"].tolist(),
                        args.p, max_m, sites=cand, existing_cost_m=existing, minutes=minutes)
    out = Path(args.out)
    stem = f"{(loc_name or 'area').replace(' ', '_')}_p{args.p}_{minutes:g}min"
    written: list[Path] = []
    res["summary"]["locality"] = loc_name or "whole area"
    res["summary"]["distance_method"] = getattr(router, "method", "")
    _write(res["sites"], out, f"sites_{stem}.csv", written)
    _write(res["gain"], out, f"sites_gain_{stem}.csv", written)
    _write(res["summary"], out, f"sites_summary_{stem}.csv", written)
    for r in res["summary"].itertuples():
        print(f"{r.model}: {r.selected} covers {r.pct_children_covered:.1f}% of {args.band} "
              f"within {minutes:g} min")
    print(f"wrote {len(written)} files to {out}")
    return 0
