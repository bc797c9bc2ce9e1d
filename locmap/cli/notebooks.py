"""``locmap notebooks``: execute the notebook suite with papermill.

Example::

    locmap notebooks --area ealing --out out/notebooks --only 01,03 -p n_draws 500

Executed copies go to ``--out`` (signed as trusted for the current user unless ``--no-trust``);
each notebook writes its tables, maps and sheets to ``--out/<notebook stem>/``.  Exit code 1
when any notebook fails.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from locmap._text import terminal_safe_message
from locmap.errors import LocmapError


def add_parser(subparsers: Any) -> None:
    """Register ``notebooks``."""
    p = subparsers.add_parser(
        "notebooks", help="execute the notebook suite (papermill) and save executed copies",
        description="Run notebooks/01.. for an area pack in a fresh kernel each, inject the "
                    "parameters, and save the executed notebooks (and their tables, maps and "
                    "print sheets) in --out.  Exit code 1 if any notebook fails.")
    p.add_argument("--area", default="ealing", help="area pack name (default: ealing)")
    p.add_argument("--out", default=None, help="output folder (default: out/<area>/notebooks)")
    p.set_defaults(out_default="out/{area}/notebooks")
    p.add_argument("--only", default=None, help="run only these notebooks, e.g. 01,03")
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   default=None, help="notebook parameter (YAML value), repeatable: -p n_draws 500")
    p.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the current Python)")
    p.add_argument("--timeout", type=int, default=900, help="per-cell timeout in seconds")
    p.add_argument("--no-trust", action="store_true",
                   help="do not sign the executed copies as trusted (JupyterLab then hides their "
                        "interactive maps until File > Trust Notebook)")
    p.set_defaults(func=run_notebooks_cmd)


def run_notebooks_cmd(args: argparse.Namespace) -> int:
    """Run the suite; print each executed copy (exit 1 and the reason when one fails)."""
    from locmap.notebooks import parse_parameters, run_notebooks  # at call time: the parser imports nothing heavy (docs/decisions.md)

    try:
        paths = run_notebooks(args.area, args.out, parse_parameters(args.parameter), only=args.only,
                              kernel_name=args.kernel, timeout=args.timeout, trust=not args.no_trust)
    except LocmapError as exc:
        print(f"locmap notebooks: {terminal_safe_message(exc)}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"executed {path}")
    return 0
