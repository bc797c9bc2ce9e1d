"""The ``locmap`` command line: thin commands over :mod:`locmap.api`.

Each sub-command module (``check``, ``run``, ``network``, ``access``, ``localities``, ``maps``,
``notebooks`` ...) parses its options into :class:`~locmap.settings.Settings` (``_options.py``),
makes one library call and prints.  :func:`main` is the only place errors become exit codes:
0 = done, 2 = bad input or usage (a :class:`~locmap.errors.LocmapError` the user can fix, or an
argparse usage error), 1 = a failure while running (disk full, permission denied ...).  Every
error is one line on stderr starting ``locmap: error:``, with what to do.
"""
from __future__ import annotations

import argparse
import importlib
import re
import sys

from locmap import __version__, _interrupt
from locmap._text import terminal_safe_message
from locmap.errors import LocmapError
from locmap.settings import DATA_ROOT_ENV

#: Exit code after Ctrl-C (128 + SIGINT, as a shell reports it).
INTERRUPTED = 130

#: Sub-command modules, in --help order; each has ``add_parser(subparsers)``.
SUBCOMMAND_MODULES = ("check", "run", "network", "access", "localities", "maps", "notebooks", "finder",
                      "report", "batch", "calibrate", "export", "scenario")

DESCRIPTION = """\
locmap maps the needs and assets of a place so that council and NHS planners can choose
where to start an integrated early-support (family hub) pathfinder: who lives beyond
pram-pushing distance of key services, and which candidate locality is the best prototype.

Data are read in place from the folder named by ${env} (default ../shared/data).
Distances are along streets when a street network is configured for the area, otherwise
"estimated street distance (London model v1, typical error ±145 m)" (straight line x a circuity fitted to IoD2019).
""".replace("${env}", DATA_ROOT_ENV)

EPILOG = """\
examples:
  locmap check --area ealing                 summary of every layer, totals and rejects
  locmap run --area ealing                   the whole job into out/ealing/: tables, maps, scorecards
  locmap access --area ealing --profile pram --minutes 10 15 20
  locmap localities --area ealing --scheme towns
  locmap sites --locality Southall --p 2 --sites-minutes 15
  locmap map --area ealing --layers need,services,gaps --out maps/ealing.html
  locmap notebooks --area hounslow           the notebooks into out/hounslow/notebooks/
  locmap batch --region london --out london/   every London borough as dask tasks + London summary
  locmap export --xlsx --run out/            the run's decision tables as one Excel workbook
  locmap scenario --area ealing --scenario data/scenarios/ealing_2025_closures.toml --out out/scn
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``locmap`` parser with every sub-command (modules in :data:`SUBCOMMAND_MODULES`)."""
    parser = argparse.ArgumentParser(prog="locmap", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"locmap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"locmap.cli.{name}").add_parser(sub)
    return parser


def fill_default_out(args: argparse.Namespace) -> None:
    """``--out`` left unset: the command's default under ``out/<area>/`` (``out_default``), so two
    areas never share an output folder (``locmap notebooks --area hounslow`` beside Ealing's).
    The area is written as :func:`locmap.data.region.slugify` does (``london:camden`` ->
    ``london-camden``), here without importing the data layer, so ``locmap`` starts fast."""
    if getattr(args, "out", "") is None and getattr(args, "out_default", None):
        area = re.sub(r"[^a-z0-9]+", "-", str(getattr(args, "area", None) or "area").lower()).strip("-")
        args.out = args.out_default.format(area=area)


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(argv)
        _interrupt.raise_if_swallowed()  # Ctrl-C that a finalizer or a library swallowed: still exit 130
        return code
    except KeyboardInterrupt:  # Ctrl-C: one line, exit 130 (128 + SIGINT); the command cleaned up its output
        _interrupt.delivered()
        start = "\n" if sys.stderr.isatty() else ""  # off the line of a progress bar
        print(f"{start}locmap: interrupted", file=sys.stderr, flush=True)
        return INTERRUPTED


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    fill_default_out(args)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except LocmapError as exc:
        print(f"locmap: error: {terminal_safe_message(exc)}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # the machine, not the data: disk full, permission denied, ...
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"locmap: error: {terminal_safe_message(where)}{terminal_safe_message(exc.strerror or exc)}\n  What to do: check the path exists, "
              "is writable/readable by you and the disk has space, then run the command again.",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
