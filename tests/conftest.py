"""Shared fixtures.  Real-data tests use the Ealing pack via ``ealing`` (session-scoped)."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest

os.environ.setdefault("LOCMAP_NO_PROGRESS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def settings():
    from locmap.settings import Settings

    return Settings.from_env(progress=False)


@pytest.fixture(scope="session")
def ealing(settings):
    """The real Ealing AreaData (skips only if no data folder exists)."""
    from locmap.data.area import load_area
    from locmap.errors import DataRootNotFoundError

    try:
        settings.resolve_data_root()
    except DataRootNotFoundError as exc:  # pragma: no cover - CI always has ../shared
        pytest.skip(str(exc))
    return load_area("ealing", settings)


@pytest.fixture
def shared_dir():
    """A temporary folder every user can enter (pytest's tmp_path is private to root), for the
    permission tests that run locmap as user nobody."""
    d = Path(tempfile.mkdtemp(prefix="locmap-shared-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


# ----------------------------------------------------------------------------- scheduling (make test)
#: Files whose tests are split, under ``--dist loadgroup``, into one work unit per set of tests sharing
#: a module- or class-scoped fixture (each other test a unit of its own), so the two workers share
#: them; every other file is one unit, as with ``--dist loadfile``.  These files hold the longest
#: tests (tests/durations.json); none of their tests depends on another's side effects.
SPLIT_FILES = {"test_notebooks.py", "test_cli_e2e.py", "test_injection.py", "test_batch.py", "test_os_faults.py",
               "test_run_folder.py"}
#: Seconds per test from a ``--durations`` report (benchmarks/test_durations.py): only the order in
#: which the work units are handed out (longest first) depends on it.
DURATIONS = Path(__file__).with_name("durations.json")


def _shared_fixtures(item: pytest.Item) -> set[str]:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return set()
    return {name for name, defs in info.name2fixturedefs.items() if defs and defs[-1].scope in ("module", "class")}


def _work_units(items: list[pytest.Item], root: Path) -> dict[str, str]:
    """nodeid -> work unit: the file, or in SPLIT_FILES the first test of its fixture-sharing set."""
    units: dict[str, str] = {}
    by_fixture: dict[tuple[str, str], str] = {}
    for item in items:
        rel = Path(item.path).relative_to(root).as_posix()
        if item.path.name not in SPLIT_FILES:
            units[item.nodeid] = rel
            continue
        shared = sorted(_shared_fixtures(item))
        joined = {by_fixture[(rel, f)] for f in shared if (rel, f) in by_fixture}
        unit = min(joined) if joined else f"{rel}::{item.name.split('[')[0]}"
        for other, u in units.items():  # one unit for every test sharing any fixture with this one
            if u in joined:
                units[other] = unit
        for key, u in by_fixture.items():
            if u in joined:
                by_fixture[key] = unit
        for f in shared:
            by_fixture[(rel, f)] = unit
        units[item.nodeid] = unit
    return units


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]):
    """Under ``--dist loadgroup`` (``make test``): mark each test with its work unit (before
    pytest-xdist reads the marks), then hand the units out longest first (after every other hook,
    with ``--no-loadscope-reorder`` the order of the collection is the order of the queue)."""
    grouped = config.getoption("dist", "no") == "loadgroup"
    units = _work_units(items, config.rootpath) if grouped else {}
    for item in items:
        if grouped and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(units[item.nodeid]))
    result = yield
    if grouped and DURATIONS.exists():
        seconds = json.loads(DURATIONS.read_text(encoding="utf-8"))
        unit_of = {item: str(item.get_closest_marker("xdist_group").args[0]) for item in items}
        weight: dict[str, float] = defaultdict(float)
        for item in items:
            weight[unit_of[item]] += seconds.get(item.nodeid.split("@")[0], 0.0)
        items.sort(key=lambda item: -weight[unit_of[item]])  # stable: the collection order within a unit
    return result
