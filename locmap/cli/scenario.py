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
import unicodedata
from pathlib import Path
from typing import Any

from locmap import api
from locmap.cli._options import add_common, load_area, say, settings_from_args
from locmap.scenarios.spec import read_scenario


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


def plain(text: Any) -> str:
    """Text safe for a terminal: control, format (bidi) and other non-printing characters shown
    as ``\\uXXXX`` so a name in a scenario or register file cannot move the cursor or recolour."""
    return "".join(ch if ch.isprintable() and unicodedata.category(ch) not in ("Cf", "Co", "Cs")
                   else f"\\u{ord(ch):04x}" for ch in str(text))


def run_scenario(args: argparse.Namespace) -> int:
    """``locmap scenario``: parse -> Settings -> api.compare_scenarios -> write -> print sentences."""
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
