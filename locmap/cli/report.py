"""``locmap report``: the workshop decision pack (offline HTML + A4 PDF) for an area.

``locmap report --area ealing --out report/`` loads the area, measures access once, scores the
``--scheme`` localities (and the PCN footprints, for the alignment section), applies the
recommendation rule, suggests hub sites for the recommended locality and the runner-up, and
writes ``decision_pack.html`` and ``decision_pack.pdf`` (docs/report.md).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from locmap._text import terminal_safe, terminal_safe_message
from locmap.cli._options import add_common, load_area, settings_from_args


def add_parser(subparsers: Any) -> None:
    """Register ``report``."""
    p = subparsers.add_parser(
        "report", help="the workshop decision pack: one offline HTML page and its A4 PDF",
        description="Build the decision pack planners use to choose the pathfinder locality: the "
                    "recommendation and the rule behind it, what would change it, charts of the "
                    "criteria and of the rank stability, live weight sliders, a profile and map of "
                    "every locality, hub sites for the leading two, town/PCN alignment, data quality, "
                    "method, caveats and sources.  The HTML opens offline; the PDF is printed from it "
                    "by headless Chromium.")
    add_common(p)
    p.add_argument("--scheme", default=None, choices=("towns", "pcns", "wards"),
                   help="candidate localities (default: towns; pcns for an area with one town, e.g. "
                        "a generated borough such as london:camden)")
    p.add_argument("--weights", default=None,
                   help="agreed weights, e.g. need=0.3,gaps=0.25,readiness=0.2,alignment=0.15,size=0.1 "
                        "(default: those)")
    p.add_argument("--draws", type=int, default=2000, help="sensitivity draws (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the draws (default 0)")
    p.add_argument("--p", type=int, default=2, help="hub sites suggested per leading locality (default 2)")
    p.add_argument("--no-pdf", action="store_true", help="write the HTML only (no Chromium needed)")
    p.add_argument("--out", default=None,
                   help="output folder for decision_pack.html and decision_pack.pdf (default: out/<area>/report)")
    p.set_defaults(out_default="out/{area}/report")
    p.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    """``locmap report``: parse -> Settings -> api.decision_pack -> print the recommendation."""
    settings = settings_from_args(args)
    area = load_area(args, settings)
    from locmap import api  # after the checks of load_area: bad input fails before the library is imported

    res = api.decision_pack(area, settings, Path(args.out), scheme=args.scheme, weights=args.weights,
                            n_draws=args.draws, seed=args.seed, sites_p=args.p, pdf=not args.no_pdf)
    rec = res.recommendation
    print(terminal_safe_message(rec.headline()))
    print(terminal_safe_message(f"rule: {rec.rule}"))
    print(terminal_safe_message(rec.reason))
    for p in res.files:
        print(f"wrote {terminal_safe(p)}")
    return 0
