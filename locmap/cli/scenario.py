"""``locmap scenario``: baseline and scenarios side by side (docs/scenarios.md).

Example::

    locmap scenario --area ealing --scenario data/scenarios/ealing_2025_closures.toml \\
        --scenario data/scenarios/ealing_hubs_recommended.toml --out out/scenarios

Runs the access step once (distances, coverage, cross-border; no gap polygons), measures the
service types the scenarios change once for the union of services, and writes to ``--out``:
``summary.csv``, ``differences.csv`` (by ward, town, PCN, locality), ``coverage.csv``,
``homes_changed.csv``, ``crossborder.csv``, ``fca.csv``, ``changes.csv`` (every change used or
rejected), ``services.csv``, ``recommendations.csv``, ``scenario_map.html`` (offline),
``scenarios_section.html`` and ``README.txt``.  Prints what each scenario changes and for whom.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from locmap._text import terminal_safe as plain
from locmap.cli._options import add_common, load_area, say, settings_from_args


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``scenario`` sub-command."""
    p = subparsers.add_parser(
        "scenario", help="compare scenarios (services opened, closed, re-typed) with the baseline",
        description="What opening, closing or re-typing services does to pram-distance access: children "
                    "within/beyond each threshold per ward, town, PCN and locality, who gains and who loses, "
                    "cross-border shares, 2SFCA, and the recommendation re-scored.")
    add_common(p)
    p.add_argument("--scenario", type=Path, action="append", required=True, metavar="FILE",
                   help="a scenario TOML file (repeat for several)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--no-rescore", action="store_true", help="do not re-score the recommendation per scenario")
    p.add_argument("--scheme", default=None, help="locality scheme re-scored (default: the lead scheme)")
    p.add_argument("--no-map", action="store_true", help="do not write the difference map")
    p.set_defaults(func=run_scenario)
    return p


def run_scenario(args: argparse.Namespace) -> int:
    """``locmap scenario``: parse -> Settings -> api.compare_scenarios -> write -> print sentences."""
    from locmap import api  # at call time: the parser imports nothing heavy (docs/decisions.md)
    from locmap.scenarios.spec import read_scenario

    settings = settings_from_args(args)
    specs = [read_scenario(p) for p in args.scenario]  # a bad file fails before any work
    log = (lambda msg: None) if args.no_progress else say
    log(f"loading area '{args.area}' ...")
    area = load_area(args, settings)
    cmp = api.compare_scenarios(area, specs, settings, rescore=not args.no_rescore, scheme=args.scheme)
    files = cmp.write(args.out, maps=not args.no_map)
    for s in cmp.resolution.scenarios:
        print(plain(f"{s.name}: {s.title}"))
        for line in cmp.sentences().get(s.name, []):
            print("  " + plain(line))
    log(f"router calls for the union of services: {cmp.router_calls}")
    log(f"wrote {len(files)} files to {args.out}/")
    return 0
