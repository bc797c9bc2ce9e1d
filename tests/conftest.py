"""Shared fixtures.  Real-data tests use the Ealing pack via ``ealing`` (session-scoped)."""
from __future__ import annotations

import fcntl
import gc
import json
import os
import pickle
import shutil
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from locmap.lazy_imports import defer_iri_grammars

if TYPE_CHECKING:  # only an annotation here: the xdist controller and the pytester runs of test_schedule
    import pandas as pd  # (which copy this file) then start without importing pandas

# pytest keeps each test module's assertion-rewritten bytecode in tests/__pycache__ only if this process may write
# bytecode.  CI's environment (and this machine's) sets PYTHONDONTWRITEBYTECODE=1, so every xdist worker rewrote and
# compiled all the test modules on every run (~4.8 s CPU per worker).  The test runner's own cache is written, as
# `make compile` writes locmap's; the variable itself stays set for every process the tests start.
sys.dont_write_bytecode = False
os.environ.setdefault("LOCMAP_NO_PROGRESS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# nbformat's jsonschema builds rfc3987_syntax's IRI grammars on first use, not at import (~1.3 s of CPU in
# each worker: every worker collects the test modules that import nbformat; locmap.lazy_imports)
defer_iri_grammars()


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


@dataclass(frozen=True)
class EalingJob:
    """What the tests read of the shared whole Ealing job (tests/conftest.py ``ealing_job``)."""

    out_dir: Path
    files: tuple[Path, ...]
    #: RunResult.recommendation.locality and RunResult.sites[0].sites (the leading locality's hub sites)
    recommended: str
    sites: pd.DataFrame


def _run_ealing_job(settings, out: Path) -> EalingJob:
    from locmap import api

    res = api.run_all("ealing", settings, out, api.RunOptions(), say=lambda _m: None)
    return EalingJob(res.out_dir, tuple(res.files), res.recommendation.locality, res.sites[0].sites)


def _once_per_session(tmp_path_factory: pytest.TempPathFactory, name: str, make) -> object:
    """``make(folder)`` run ONCE per test session and its (picklable) result shared: under pytest-xdist
    the first worker to ask runs it in ``<session temp>/<name>/`` (the others wait on a lock) and every
    worker reads the pickled result."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # .../popen-gwN -> the folder every worker of this session shares
    record = root / name / "result.pickle"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not record.exists():
                result = make(root / name)
                tmp = record.with_suffix(".tmp")
                tmp.write_bytes(pickle.dumps(result))
                tmp.replace(record)
            return pickle.loads(record.read_bytes())
        finally:  # explicitly: a process the run forked may still hold a copy of the descriptor
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def ealing_job(settings, ealing, tmp_path_factory) -> EalingJob:
    """The whole default Ealing job (``locmap run --area ealing``: access, localities, hub sites, maps,
    sheet, workbook, report) run ONCE per test session into a folder named ``ealing`` and shared by the
    tests that read its outputs (test_workshop_map, test_workbook, test_batch_ealing, test_cli_e2e).
    Under pytest-xdist the first worker to ask runs it (the others wait on a lock) and the others read
    its record.  READ ONLY: a test that writes into a run folder makes its own."""
    def make(folder: Path) -> dict:
        return vars(_run_ealing_job(settings, folder / "ealing"))  # a dict: read back by any worker

    return EalingJob(**_once_per_session(tmp_path_factory, "ealing_job", make))


#: Options of the shared light ``locmap run`` (``light_cli_run``): one scheme, no maps, sheet or report,
#: and non-default thresholds and k (tests/test_cli_e2e.py checks they reach every table)
LIGHT_CLI_RUN = ("--schemes", "towns", "--no-maps", "--no-report", "--minutes", "8", "12", "16", "--k-nearest", "2")


@pytest.fixture(scope="session")
def light_cli_run(tmp_path_factory) -> Path:
    """``locmap run --area ealing`` with :data:`LIGHT_CLI_RUN`, through ``locmap.cli.main`` in this
    process, into a batch borough's folder that held only the batch's own log.txt/error.txt (a borough
    that failed), run ONCE per test session and shared (as ``ealing_job``): test_run_folder reads its
    run.json and checks the folder was not refused as foreign, test_cli_e2e checks that the thresholds
    and k reached every table.  The run folder; READ ONLY."""
    import contextlib
    import io

    from locmap.cli import main

    def make(folder: Path) -> str:
        out = folder / "boroughs" / "ealing"
        out.mkdir(parents=True)
        (out / "log.txt").write_text("FAILED: ...\n")
        (out / "error.txt").write_text("Traceback ...\n")
        said = io.StringIO()
        with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
            rc = main(["run", "--area", "ealing", "--out", str(out), *LIGHT_CLI_RUN])
        assert rc == 0, said.getvalue()[-2000:]
        return str(out)

    return Path(_once_per_session(tmp_path_factory, "light_cli_run", make))


@pytest.fixture(scope="session")
def locmap_starter():
    """``locmap_starter.start(*args, cwd=...)``: ``locmap <args>`` as a process of its own, forked by one
    starter process that imported the library once per test process (tests/forked_locmap.py), for the
    tests about a command's process (its Ctrl-C, SIGKILL, exit code, output, another hash seed) that
    do not need the imports in it; returns a Popen-like object."""
    from forked_locmap import Starter  # noqa: PLC0415 - tests/ helper, started only when a test asks

    starter = Starter({**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "LOCMAP_NO_PROGRESS": "1"})
    yield starter
    starter.close()


#: The real three-borough London batch (``london_batch3``), in the region's order of its results.
#: Ealing (its own pack in the region) is one of them: test_batch_ealing compares its files with the plain
#: Ealing job's (a batch of its own for that cost a worker process, its warm-up and one more borough).
LONDON3 = ("hammersmith-and-fulham", "city-of-london", "ealing")


@pytest.fixture(scope="session")
def london_batch3_on(settings, tmp_path_factory):
    """``london_batch3_on(scheduler)``: the real three-borough London batch (City of London, Ealing,
    Hammersmith and Fulham; maps off) on a running cluster of 2 worker processes (one
    thread each) reached through its address as ``--scheduler`` reaches one, run ONCE per test session
    and shared (as ``ealing_job``); its BatchResult, READ ONLY (a test that changes the folder copies
    it).  ``scheduler``: the address of a running LocalCluster of the caller's (test_batch's, whose
    fault tests then run on the workers the batch warmed), or None: a LocalCluster started for it and
    closed after it.  The first caller of the session computes it; the others read its record."""
    from locmap.batch.engine import BatchOptions, local_cluster, run_batch

    def on(scheduler: str | None):
        def make(folder: Path):
            if scheduler is not None:
                return run_batch("london", folder / "london", settings,
                                 BatchOptions(boroughs=LONDON3, maps=False, scheduler=scheduler), say=lambda _m: None)
            with local_cluster(2) as cluster:
                return on(cluster.scheduler_address)(folder)

        return make

    return lambda scheduler=None: _once_per_session(tmp_path_factory, "london_batch3", on(scheduler))


@pytest.fixture(scope="session")
def london_batch3(london_batch3_on):
    """The real three-borough London batch (``london_batch3_on``) on a cluster of its own: test_batch
    checks it, test_batch_ealing compares its Ealing with the plain Ealing job, and the tests about the
    batch's machinery rather than its figures (test_batch, test_batch_worker_rounds) replay its
    boroughs' figures through the real ``run_borough`` (tests/batch_faults.py).  Its BatchResult; READ ONLY."""
    return london_batch3_on()


@pytest.fixture
def shared_dir():
    """A temporary folder every user can enter (pytest's tmp_path is private to root), for the
    permission tests that run locmap as user nobody."""
    d = Path(tempfile.mkdtemp(prefix="locmap-shared-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


# ----------------------------------------------------------------------------- scheduling (make test)
#: Files whose tests are split, under ``-n 2 --dist loadscope`` (``make test``), into one work unit per
#: set of tests sharing a module- or class-scoped fixture (each other test a unit of its own), so the two
#: workers share them; every other file is one unit, as with ``--dist loadfile``.  These files hold the
#: longest tests (tests/durations.json); none of their tests depends on another's side effects.
SPLIT_FILES = {"test_notebooks.py", "test_cli_e2e.py", "test_injection.py", "test_batch.py", "test_os_faults.py",
               "test_run_folder.py"}
#: Seconds per test from a ``--durations`` report (benchmarks/test_durations.py): only the order in
#: which the work units are handed out (longest first) depends on it.
DURATIONS = Path(__file__).with_name("durations.json")
#: workerinput key: the file where a worker writes {nodeid: work unit} in the order of the queue.
UNITS_KEY = "locmap_work_units"


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
    """In an xdist worker of ``--dist loadscope``: after every other hook, order the tests longest work
    unit first and write {nodeid: unit} for the controller's scheduler (``pytest_xdist_make_scheduler``).
    pytest-xdist's own ``loadgroup`` cannot be used: with pytest 9.2 its group marks are silently ignored
    (pytest-dev/pytest-xdist#1386)."""
    result = yield
    target = getattr(config, "workerinput", {}).get(UNITS_KEY)
    if target:
        units = _work_units(items, config.rootpath)
        seconds = json.loads(DURATIONS.read_text(encoding="utf-8")) if DURATIONS.exists() else {}
        weight: dict[str, float] = defaultdict(float)
        for item in items:
            weight[units[item.nodeid]] += seconds.get(item.nodeid, 0.0)
        items.sort(key=lambda item: -weight[units[item.nodeid]])  # stable: collection order within a unit
        tmp = Path(f"{target}.{os.getpid()}")
        tmp.write_text(json.dumps({item.nodeid: units[item.nodeid] for item in items}), encoding="utf-8")
        tmp.replace(target)  # atomic: the controller reads it once every worker has collected
    return result


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """Tell each worker where to write its work units (``--dist loadscope`` only)."""
    config = node.config
    if config.getoption("dist", "no") == "loadscope":
        folder = getattr(config, "_locmap_units_dir", None) or os.environ.get("LOCMAP_TEST_UNITS_DIR")
        if folder is None:
            folder = tempfile.mkdtemp(prefix="locmap-units-")
            config._locmap_units_made = folder  # removed by pytest_unconfigure
        config._locmap_units_dir = folder
        node.workerinput[UNITS_KEY] = str(Path(folder) / f"{node.gateway.id}.json")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the work-unit folder the controller made for this run (not one named by the caller).
    Then let the interpreter's exit skip the collector's passes over the session's heap
    (``gc.freeze``, as ``locmap.__main__`` does): a pytest process that ran one file of real-data
    tests took 1.5 s from here to its exit, 0.2 s with it; pytest-xdist's controller waits for its
    workers to exit before it reports the session's time."""
    made = getattr(config, "_locmap_units_made", None)
    if made:
        shutil.rmtree(made, ignore_errors=True)
    gc.freeze()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadscope``: scopes are the work units the workers wrote (see _work_units)."""
    if config.getoption("dist", "no") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling  # noqa: PLC0415 - only with pytest-xdist running

    class WorkUnitScheduling(LoadScopeScheduling):
        units: dict[str, str] = {}

        def schedule(self) -> None:
            if not self.units and self.collection is None:
                folder = Path(config._locmap_units_dir)
                written = sorted(folder.glob("*.json"))
                self.units = json.loads(written[0].read_text(encoding="utf-8")) if written else {}
            super().schedule()

        def _split_scope(self, nodeid: str) -> str:
            return self.units.get(nodeid) or super()._split_scope(nodeid)

    return WorkUnitScheduling(config, log)


# ----------------------------------------------------------------------------- one browser per test process
@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    """One headless Chromium WebDriver (tests/headless.py) for every browser test of this test process
    (test_browser, test_workshop_map, test_finder_browser): starting one costs about a second of wall and
    CPU.  Each file takes it through its own module fixture (``headless.view``: its viewport and network
    rule) and each test loads its own page."""
    from headless import start  # noqa: PLC0415 - tests/ helper; selenium is a test-only dependency

    driver = start(tmp_path_factory.mktemp("chromium") / "profile")
    yield driver
    driver.quit()
