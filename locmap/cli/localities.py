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
from pathlib import Path
from typing import Any

import pandas as pd

from locmap.api import DEFAULT_CANDIDATES  # noqa: E402,F401  (re-exported)


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
    from locmap.api import build_schemes  # noqa: PLC0415

    return build_schemes(area, spec, getattr(args, "k", "3..7"), units=getattr(args, "units", "wards"),
                         method=getattr(args, "method", "skater"),
                         balance_col=getattr(args, "balance_col", "pop_0_19"),
                         tolerance=getattr(args, "tolerance", 0.25), seed=getattr(args, "seed", 0))


def _write(df: pd.DataFrame, out: Path, name: str, written: list[Path]) -> None:
    from locmap.export import write_csv  # noqa: PLC0415

    written.append(write_csv(df, out / name))


# ----------------------------------------------------------------------------- localities
def run_localities(args: argparse.Namespace) -> int:
    """Scorecards, alignment, ranking and sensitivity for each requested scheme."""
    from locmap.access.nearest import compute_access  # noqa: PLC0415
    from locmap.cli import area_from_args, settings_from_args  # noqa: PLC0415
    from locmap.api import locality_analysis, write_locality_outputs  # noqa: PLC0415

    settings = settings_from_args(args)
    area = area_from_args(args)
    out = Path(args.out)
    res = locality_analysis(
        area, compute_access(area, settings), schemes=args.scheme, k_values=args.k,
        weights=args.weights, n_draws=args.draws, seed=args.seed, gap_minutes=args.gap_minutes,
        speeds_kmh=[float(x) for x in args.speeds.split(",") if x.strip()],
        gap_scenarios=[float(x) for x in args.gap_scenarios.split(",") if x.strip()],
        concentration=args.concentration, method=args.method, units=args.units,
        balance_col=args.balance_col, tolerance=args.tolerance, settings=settings)
    if res["generated_list"]:
        print("generated schemes:")
        for s in res["generated_list"]:
            print(f"  {s.name}: {s.meta['status']}")
        if res["best_generated"] is not None:
            print(f"  best feasible: {res['best_generated']}")
    for r in res["leaders"].itertuples():
        print(f"{r.scheme}: base-weights first = {r.first_base_weights}; most often first = "
              f"{r.most_often_first} (p={r.p_first:.2f}, rank range {r.rank_min}-{r.rank_max})")
    written = write_locality_outputs(res, out)
    print(f"wrote {len(written)} files to {out}")
    return 0


# ----------------------------------------------------------------------------- sites
def run_sites(args: argparse.Namespace) -> int:
    """Suggest ``p`` hub sites for one locality (or the whole area)."""
    from locmap.cli import area_from_args, settings_from_args  # noqa: PLC0415
    from locmap.api import hub_sites  # noqa: PLC0415

    settings = settings_from_args(args)
    area = area_from_args(args)
    minutes = float(args.minutes[0])
    sch = _scheme(area, args.scheme, args)[0]
    res = hub_sites(area, settings, sch, args.locality, p=args.p, minutes=minutes, band=args.band,
                    candidates=args.candidates, existing=args.existing,
                    include_outside=args.include_outside)
    out = Path(args.out)
    stem = res["stem"]
    written: list[Path] = []
    _write(res["sites"], out, f"sites_{stem}.csv", written)
    _write(res["gain"], out, f"sites_gain_{stem}.csv", written)
    _write(res["summary"], out, f"sites_summary_{stem}.csv", written)
    for r in res["summary"].itertuples():
        print(f"{r.model}: {r.selected} covers {r.pct_children_covered:.1f}% of {args.band} "
              f"within {minutes:g} min")
    print(f"wrote {len(written)} files to {out}")
    return 0
