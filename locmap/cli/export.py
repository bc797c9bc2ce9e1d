"""``locmap export``: other formats of an existing run folder.

``locmap export --xlsx --run out/`` writes ``out/<area>_decision_tables.xlsx`` (the workbook
``locmap run`` writes at its end; docs/outputs.md) from the run folder's CSV files, for a folder
written before the workbook existed or after editing its tables.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from locmap.errors import SettingsError


def add_parser(subparsers: Any) -> None:
    """Register ``export``."""
    p = subparsers.add_parser(
        "export", help="other formats of an existing run folder (the Excel workbook)",
        description="Write the decision tables of a run folder (written by `locmap run --out DIR`) as "
                    "one Excel workbook: Contents, ranking, sensitivity, scorecards, coverage by "
                    "town/ward/PCN, gaps, hub sites, cross-border shares, data quality and sources "
                    "(docs/outputs.md).")
    p.add_argument("--xlsx", action="store_true", help="write <area>_decision_tables.xlsx")
    p.add_argument("--run", type=Path, required=True, help="the run folder (locmap run --out DIR)")
    p.add_argument("--out", type=Path, default=None,
                   help="the workbook's path (default: <run folder>/<area>_decision_tables.xlsx)")
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    """``locmap export``: check the options, write the workbook, print its path."""
    if not args.xlsx:
        raise SettingsError("locmap export: choose a format: --xlsx (the only one so far)")
    if not args.run.is_dir():
        raise SettingsError(f"--run {args.run}: not a folder; give the folder `locmap run --out DIR` wrote")
    from locmap import runfolder, workbook  # at call time: the parser imports nothing heavy (docs/decisions.md)

    runfolder.require_complete(args.run, "the workbook reads its tables")
    path = workbook.write_workbook(args.run, args.out)
    print(f"wrote {path}")
    return 0
