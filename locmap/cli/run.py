"""``locmap run``: the whole job on an area into one folder (``locmap.api.run_all``)."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from locmap._text import terminal_safe, terminal_safe_message
from locmap.cli._options import add_common, check_paths, say, settings_from_args

if TYPE_CHECKING:
    from locmap import api

#: api.RunOptions()'s defaults, as literals so that the parser imports nothing heavy
#: (tests/test_imports.py checks they are the library's)
RUN_DEFAULTS = argparse.Namespace(k_values="3..7", existing=("childrens_centre",))


def add_parser(subparsers: Any) -> None:
    defaults = RUN_DEFAULTS
    p = subparsers.add_parser(
        "run", help="the whole job on an area: tables, scorecards and maps into --out",
        description="Run the whole job for an area pack: data check and rejects, pram-distance access "
                    "(computed once), coverage, gaps and 2SFCA, locality scorecards with sensitivity, hub "
                    "sites and a print sheet for the leading locality, HTML maps.")
    add_common(p)
    p.add_argument("--out", default=None, help="output folder (default: out/<area>)")
    p.set_defaults(out_default="out/{area}")
    p.add_argument("--schemes", default=None,
                   help="locality schemes to score, comma-separated (default: towns,pcns,auto; "
                        "wards,pcns,auto for an area with one town, e.g. a generated borough)")
    p.add_argument("--n-localities", default=defaults.k_values,
                   help="numbers of localities tried by the auto scheme, e.g. 3..7 or 4,5 (default 3..7)")
    p.add_argument("--lead-scheme", default=None,
                   help="scheme whose leading locality gets hub sites and a sheet (default: towns; "
                        "pcns for an area with one town)")
    p.add_argument("--sites-p", type=int, default=None,
                   help="hub sites suggested for the leading locality (default 2, or all the candidate "
                        "sites of a locality that has fewer; a number given here is required)")
    p.add_argument("--sites-minutes", type=float, default=None,
                   help="hub-site coverage threshold in minutes (default: the middle of --minutes, 15)")
    p.add_argument("--existing", default=",".join(defaults.existing),
                   help="service types already providing the service (default: childrens_centre)")
    p.add_argument("--gap-minutes", type=float, default=None,
                   help="threshold of the headline gap areas in minutes (default: the middle of --minutes)")
    p.add_argument("--force", action="store_true",
                   help="run into a folder that holds files but is not a locmap run folder (locmap's own "
                        "outputs there are replaced, other files kept); without it such a folder is refused")
    p.add_argument("--no-maps", action="store_true", help="skip the HTML maps and the print sheet")
    p.add_argument("--no-report", action="store_true", help="skip the decision pack (report/)")
    pdf = p.add_mutually_exclusive_group()
    pdf.add_argument("--pdf", dest="report_pdf", action="store_const", const=True, default=None,
                     help="require the A4 PDF of the decision pack (needs Chromium; default: when found)")
    pdf.add_argument("--no-pdf", dest="report_pdf", action="store_const", const=False,
                     help="write the decision pack as HTML only")
    p.set_defaults(func=run_run)


def options_from_args(args: argparse.Namespace) -> api.RunOptions:
    from locmap import api  # at call time: the parser imports nothing heavy (docs/decisions.md)

    return api.RunOptions(
        schemes=tuple(s.strip() for s in args.schemes.split(",") if s.strip()) if args.schemes else None,
        k_values=args.n_localities,
        lead_scheme=args.lead_scheme, sites_p=args.sites_p, sites_minutes=args.sites_minutes,
        existing=tuple(s.strip() for s in args.existing.split(",") if s.strip()),
        gap_minutes=args.gap_minutes, maps=not args.no_maps, report=not args.no_report,
        report_pdf=args.report_pdf)


def run_run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    check_paths(args, settings)
    from locmap import api  # after the checks: bad input fails before the library is imported

    res = api.run_all(args.area, settings, args.out, options_from_args(args), say=say, force=args.force,
                     stored_area=True)  # the parsed area kept in the cache folder while its inputs are unchanged
    rec = res.recommendation
    print(terminal_safe_message(rec.headline()))
    print(terminal_safe_message(f"rule: {rec.rule}"))
    print(terminal_safe_message(rec.reason))
    print(f"outputs written to {terminal_safe(args.out)} ({len(res.files)} files, {sum(res.timings.values()):.1f} s):")
    for path in res.files:
        print(f"  {terminal_safe(path)}")
    return 0
