"""Imports on demand: ``import locmap``, the command line's parser and every ``--help`` import no
geospatial or numerical stack; each command imports what it uses when it runs.  The import graph
is measured (the modules a fresh interpreter holds afterwards), not the clock."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

import locmap
from locmap.cli import SUBCOMMAND_MODULES, build_parser

ROOT = Path(locmap.__file__).resolve().parent.parent
#: Top-level packages a parser, ``--help`` or ``import locmap`` must not import.
HEAVY = ("numpy", "pandas", "pyarrow", "geopandas", "shapely", "pyproj", "pyogrio", "scipy", "numba",
         "networkx", "folium", "branca", "matplotlib", "mapclassify", "spopt", "libpysal", "dask",
         "distributed", "osmnx", "jinja2", "papermill", "openpyxl")

_PROBE = """
import contextlib, io, json, sys
snapshots = {}
import locmap
snapshots["import locmap"] = sorted(sys.modules)
from locmap.cli import build_parser
for argv in json.loads(sys.argv[1]):
    parser = build_parser()
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            parser.parse_args(argv)
        except SystemExit:
            pass
    snapshots[" ".join(argv)] = sorted(sys.modules)
print(json.dumps(snapshots))
"""


@pytest.fixture(scope="module")
def modules_after() -> dict[str, set[str]]:
    """``{"import locmap": modules, "<argv>": modules, ...}``: the modules ONE fresh interpreter holds
    after ``import locmap``, then after building the parser and parsing each ``--help`` argv of
    :func:`_help_argvs` in turn (``--help`` prints and exits).  Each set holds every module imported
    so far, those of the argvs before it included: a package any step imports is in its set and in
    every later one, so a set without heavy packages means the steps up to it imported none, as
    each would in an interpreter of its own (one interpreter start instead of one per command)."""
    argvs = _help_argvs()
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(argvs)], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    snapshots = {key: set(mods) for key, mods in json.loads(proc.stdout.strip().splitlines()[-1]).items()}
    assert len(snapshots) == 1 + len(argvs)  # every argv parsed
    return snapshots


def _heavy(modules: set[str]) -> list[str]:
    return sorted({m.split(".")[0] for m in modules} & set(HEAVY))


def _commands() -> list[list[str]]:
    """``[cmd]`` for every registered command and ``[cmd, sub]`` for nested ones (``network build``)."""
    out = []

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        for action in subs:
            for name, sub in action.choices.items():
                out.append([*prefix, name])
                walk(sub, [*prefix, name])

    walk(build_parser(), [])
    return out


def _help_argvs() -> list[list[str]]:
    """The ``--help`` argvs the probe parses, in order: the top level's first, then every command's."""
    return [["--help"], *([*command, "--help"] for command in _commands())]


def test_import_locmap_is_light(modules_after):
    assert _heavy(modules_after["import locmap"]) == []


def test_top_level_help_imports_no_heavy_package(modules_after):
    assert _heavy(modules_after["--help"]) == []


@pytest.mark.parametrize("command", _commands(), ids=" ".join)
def test_command_help_imports_no_heavy_package(command, modules_after):
    """Every command, including ones added later: its parser is built from light modules only."""
    assert _heavy(modules_after[" ".join([*command, "--help"])]) == []


def test_every_command_module_is_imported_by_the_parser_and_nothing_of_the_library(modules_after):
    mods = modules_after["--help"]  # after ``import locmap``, the parser and the top level's --help only
    library = {m for m in mods if m.startswith("locmap.") and not m.startswith("locmap.cli")}
    assert library <= {"locmap.settings", "locmap.errors", "locmap.bands", "locmap._text", "locmap._interrupt"}, sorted(library)
    assert {f"locmap.cli.{name}" for name in SUBCOMMAND_MODULES} <= mods


def test_a_command_imports_its_library_when_it_runs():
    """The other side of the rule: the work is still done by the library, imported at call time."""
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, json\nfrom locmap.cli import main\n"
         "rc = main(['nearest', '--area', 'no-such-area', '--postcode', 'UB5 6PA'])\n"
         "print(json.dumps([rc, 'locmap.data.area' in sys.modules]))"],
        capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=300)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [2, True], proc.stderr


# ----------------------------------------------------------------------------- parse-time literals
def _parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def test_run_defaults_are_the_librarys():
    from locmap.api import RunOptions

    args, lib = _parse(["run"]), RunOptions()
    assert (args.n_localities, args.existing) == (lib.k_values, ",".join(lib.existing))


def test_batch_defaults_are_the_librarys():
    from locmap.batch.engine import BatchOptions

    args, lib = _parse(["batch", "--out", "x"]), BatchOptions()
    assert (args.workers, args.retries, args.connect_timeout) == (lib.n_workers, lib.retries, lib.connect_timeout_s)
    from locmap.batch.engine import WORKER_BOROUGHS as LIB_WORKER_BOROUGHS
    from locmap.cli.batch import WORKER_BOROUGHS

    assert args.worker_boroughs is None and lib.worker_boroughs is None  # None: the library's default
    assert WORKER_BOROUGHS == LIB_WORKER_BOROUGHS and args.no_fork is not lib.fork


def test_sites_candidates_are_the_librarys():
    from locmap.api import DEFAULT_CANDIDATES

    assert _parse(["sites"]).candidates == ",".join(DEFAULT_CANDIDATES)


def test_map_layers_and_schemes_are_the_librarys():
    from locmap.cli import maps as cli_maps
    from locmap.localities.schemes import SCHEME_COLUMNS
    from locmap.maps.web import DEFAULT_LAYERS, KNOWN_LAYERS

    assert (cli_maps.DEFAULT_LAYERS, cli_maps.KNOWN_LAYERS) == (DEFAULT_LAYERS, KNOWN_LAYERS)
    assert cli_maps.SCHEMES == tuple(sorted(SCHEME_COLUMNS))
    assert _parse(["map"]).layers == ",".join(DEFAULT_LAYERS)


def test_finder_k_is_the_librarys():
    from locmap.finder.page import DEFAULT_K

    assert _parse(["finder"]).k == DEFAULT_K


def test_calibrate_names_the_shipped_model_file():
    from locmap.cli import calibrate as cli_calibrate
    from locmap.distance.model import MODEL_FILE

    assert cli_calibrate.SHIPPED_MODEL_NAME == MODEL_FILE.name


def test_the_library_imports_jsonschema_and_openpyxl_only_where_they_are_used():
    """``locmap run``'s main process needs none of them: jsonschema validates Open Referral exports
    (its format checkers build parsers at import), XlsxWriter writes the workbook (in the run's
    second process), openpyxl reads councils' workbooks."""
    proc = subprocess.run([sys.executable, "-c", "import json, sys\nimport locmap.api\n"
                           "print(json.dumps(sorted(sys.modules)))"],
                          capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    loaded = {m.split(".")[0] for m in json.loads(proc.stdout.strip().splitlines()[-1])}
    assert "geopandas" in loaded  # the library itself was imported
    assert {"jsonschema", "openpyxl", "xlsxwriter"} & loaded == set()
