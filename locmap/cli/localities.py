"""``locmap localities`` and ``locmap sites`` commands.

``locmap localities --area ealing --scheme towns`` (or ``pcns``, ``wards``, ``auto``, a CSV
mapping wards/LSOAs to localities, a polygon file; several comma-separated) writes, per
scheme: the scorecard, the ranking under the given weights *and* its Monte-Carlo
sensitivity, and alignment tables (all CSV, atomic writes).

``locmap sites --locality Southall --p 2 --sites-minutes 15`` writes suggested hub sites
(MCLP and p-median) and the coverage gain per added site.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from locmap._text import terminal_safe, terminal_safe_message
from locmap.cli._options import add_common, load_area, settings_from_args

if TYPE_CHECKING:
    from locmap import api

#: api.DEFAULT_CANDIDATES, as a literal so that the parser imports nothing heavy
#: (tests/test_imports.py checks it is the library's)
DEFAULT_CANDIDATES = ("childrens_centre", "primary_school", "library", "gp_practice")


def add_parser(subparsers: Any) -> None:
    """Register ``localities`` and ``sites``."""
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
    p.add_argument("--n-localities", default="3..7",
                   help="numbers of localities tried by --scheme auto, e.g. 3..7 or 4,5 (default 3..7)")
    p.add_argument("--units", default="wards", choices=("wards", "lsoa"),
                   help="building blocks of generated schemes (default: wards)")
    p.add_argument("--method", default="skater", choices=("skater", "ward", "maxp"),
                   help="spopt regionalisation for --scheme auto (default: skater)")
    p.add_argument("--balance-col", default="pop_0_19", help="population balanced by auto schemes")
    p.add_argument("--tolerance", type=float, default=0.25,
                   help="auto schemes: each locality within +/- this share of total/k (default 0.25)")
    p.add_argument("--gap-minutes", type=float, default=None,
                   help="gap threshold in minutes (default: the middle of --minutes, 15)")
    p.add_argument("--weights", default=None,
                   help="ranking weights, e.g. need=0.3,gaps=0.25,readiness=0.2,alignment=0.15,size=0.1")
    p.add_argument("--draws", type=int, default=2000, help="Monte-Carlo draws (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--concentration", type=float, default=None,
                   help="Dirichlet concentration around --weights (default: uniform Dirichlet)")
    p.add_argument("--speeds", default="3.5,4.0,4.8",
                   help="walking speeds (km/h) for the scenario sensitivity (default 3.5,4.0,4.8)")
    p.add_argument("--gap-scenarios", default=None,
                   help="gap thresholds (min) for the scenario sensitivity (default: --minutes, 10,15,20)")
    p.add_argument("--out", default=None, help="output folder (default: out/<area>/localities)")
    p.set_defaults(out_default="out/{area}/localities")
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
    s.add_argument("--sites-minutes", type=float, default=None,
                   help="coverage threshold in minutes (default: the middle of --minutes, 15)")
    s.add_argument("--band", default="pop_0_4", help="children weighting demand (default pop_0_4)")
    s.add_argument("--candidates", default=",".join(DEFAULT_CANDIDATES),
                   help="service types, comma-separated, or a CSV with site_id,name,easting,northing")
    s.add_argument("--existing", default="",
                   help="service type(s) already providing the service (their coverage is not "
                        "counted as new), e.g. childrens_centre")
    s.add_argument("--include-outside", action="store_true",
                   help="also consider candidates outside the locality (within the coverage distance)")
    s.add_argument("--out", default=None, help="output folder (default: out/<area>/sites)")
    s.set_defaults(out_default="out/{area}/sites")
    s.set_defaults(func=run_sites)


# ----------------------------------------------------------------------------- localities
def _floats(text: str | None) -> list[float] | None:
    return [float(x) for x in text.split(",") if x.strip()] if text else None


def run_localities(args: argparse.Namespace) -> int:
    """Scorecards, alignment, ranking and sensitivity for each requested scheme."""
    settings = settings_from_args(args)
    area = load_area(args, settings)
    from locmap import api  # after the checks of load_area: bad input fails before the library is imported
    from locmap.localities import schemes as lc
    from locmap.localities.ranking import ranking_text

    access = api.analyse_access(area, settings, fca=False, gap_minutes=args.gap_minutes)
    res = api.analyse_localities(
        area, access, schemes=args.scheme, k_values=args.n_localities, weights=args.weights,
        n_draws=args.draws, seed=args.seed, gap_minutes=args.gap_minutes, speeds_kmh=_floats(args.speeds),
        gap_scenarios=_floats(args.gap_scenarios), concentration=args.concentration, method=args.method,
        units=args.units, balance_col=args.balance_col, tolerance=args.tolerance, settings=settings)
    for line in _report(res):
        print(terminal_safe(line))
    for scheme in res.rankings:
        if lc.column_scheme_name(scheme):
            rec = api.recommendation_for(res, scheme)
            print(terminal_safe_message(f"\n{scheme}:\n" + ranking_text(res.rankings[scheme], res.sensitivity[scheme], rec)))
            print(terminal_safe_message(rec.headline()))
    written = res.write(Path(args.out))
    print(f"wrote {len(written)} files to {args.out}")
    return 0


def _report(res: api.LocalityAnalysis) -> list[str]:
    lines = []
    if res.generated_list:
        lines.append("generated schemes:")
        lines += [f"  {s.name}: {s.meta['status']}" for s in res.generated_list]
        if res.best_generated is not None:
            lines.append(f"  best feasible: {res.best_generated}")
    lines += [f"{r.scheme}: base-weights first = {r.first_base_weights}; most often first = "
              f"{r.most_often_first} (p={r.p_first:.2f}, rank range {r.rank_min}-{r.rank_max})"
              for r in res.leaders.itertuples()]
    return lines


# ----------------------------------------------------------------------------- sites
def run_sites(args: argparse.Namespace) -> int:
    """Suggest ``p`` hub sites for one locality (or the whole area)."""
    settings = settings_from_args(args)
    area = load_area(args, settings)
    from locmap import api  # after the checks of load_area: bad input fails before the library is imported

    scheme = api.build_schemes(area, args.scheme)[0]
    res = api.hub_sites(area, settings, scheme, args.locality, p=args.p, minutes=args.sites_minutes,
                        band=args.band, candidates=args.candidates, existing=args.existing,
                        include_outside=args.include_outside)
    written = res.write(Path(args.out))
    names = dict(zip(res.sites["site_id"].astype(str), res.sites["name"].astype(str))) \
        if {"site_id", "name"} <= set(res.sites.columns) else {}
    for r in res.summary.itertuples():
        chosen = "; ".join(f"{terminal_safe(names.get(s, s))} ({terminal_safe(s)})" for s in str(r.selected).split(";"))
        print(f"{r.model}: {chosen} covers {r.pct_children_covered:.1f}% of {args.band} "
              f"within {r.minutes:g} min ({r.distance_method})")
    print(f"wrote {len(written)} files to {args.out}")
    return 0
