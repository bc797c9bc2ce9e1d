"""One borough of a batch: the task a dask worker runs (:func:`run_borough`) and what it returns.

A :class:`BoroughTask` is plain, picklable data (names, an absolute output folder, the
:class:`~locmap.settings.Settings`, the :class:`~locmap.api.RunOptions` and the input hash); the
worker reads the data itself from the data root the settings name (or its own
``LOCMAP_DATA_ROOT``), so the same task runs in a local process or on a machine of a cluster.
A borough that fails with a :class:`~locmap.errors.LocmapError` is caught here and returned as
``status="failed"`` with its message and remedy, so the other boroughs go on.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import distributed
import psutil
from tqdm import tqdm

import locmap
from locmap import api, export
from locmap.api import RunOptions
from locmap.batch import cache, forked
from locmap.batch.summary import borough_summary
from locmap.data import area as area_cache
from locmap.data.homes import large_user, load_postcodes
from locmap._text import terminal_safe_message as shown
from locmap.errors import LocmapError
from locmap.settings import Settings

try:  # peak memory of the worker process (Unix); psutil's current RSS elsewhere
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (it has ``malloc_trim``); None elsewhere (macOS, musl, Windows)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # pragma: no cover - no C library to load
        return None


_LIBC = _glibc()

#: The borough's figures for the London summary, read back when the borough is cached.
SUMMARY_FILE = "borough_summary.json"
#: The step log of the borough's job (what ``locmap run`` would print).
LOG_FILE = "log.txt"
#: One JSON line per attempt of this batch at the borough (start, then its result when the
#: attempt ended in the task): a worker that died leaves a start without a result.
ATTEMPTS_FILE = "attempts.jsonl"
#: The last failure of an attempt whose worker process died (no result recorded).
DIED = "KilledWorker: the worker process died during the attempt (killed, or out of memory)"
STATUSES = ("done", "cached", "failed", "interrupted")
_SAMPLE_S = 0.05


@dataclass(frozen=True)
class BoroughTask:
    """Everything a worker needs to run one borough (picklable; no data, no open files).

    Attributes
    ----------
    region : str
        Region name (``"london"``).
    lad_cd, lad_nm : str
        Borough code (``E09000009``) and name.
    area : str
        Area name for :func:`locmap.api.run_all` (``"ealing"``, ``"london:camden"``).
    out_dir : Path
        Absolute folder of the borough's outputs (``<out>/boroughs/<slug>``).
    settings : Settings
        The run's settings (``progress`` off on workers).
    options : RunOptions
        The borough's job options (schemes, lead scheme, maps, report).
    input_hash : str
        :func:`locmap.batch.cache.input_hash` of this task, written into ``done.json``.
    key_service_types : tuple of str
        Service types compared region-wide (the league table's columns).
    run_id : str
        The batch run submitting the task (:func:`new_run_id`), written into ``done.json``.
    fork : bool
        Run the borough's job in a child forked from the worker (Linux; :mod:`locmap.batch.forked`),
        so the worker stays warm and its memory does not grow; ``False``: in the worker itself.
    """

    region: str
    lad_cd: str
    lad_nm: str
    area: str
    out_dir: Path
    settings: Settings
    options: RunOptions
    input_hash: str
    key_service_types: tuple[str, ...] = ()
    run_id: str = ""
    fork: bool = True


@dataclass(frozen=True)
class BoroughOutcome:
    """What became of one borough.

    Attributes
    ----------
    lad_cd : str
        Borough code.
    status : str
        ``"done"`` (computed now), ``"cached"`` (current ``done.json``, summary read back),
        ``"failed"``, or ``"interrupted"`` (Ctrl-C stopped the batch before it finished).
    seconds : float
        Wall time of the borough's job on its worker (s); for a cached borough, of the run that
        computed it.
    peak_rss_mb : float
        Highest resident memory of the worker process while this borough ran (MB, sampled
        every 50 ms); for a borough run in a forked child, the worker's memory at the start plus
        the most the child added to its own (the memory the borough would have taken in the worker).
    worker_peak_rss_mb : float
        Highest resident memory of the worker process since it started (MB, ``ru_maxrss``), or
        of its highest ``peak_rss_mb`` when that is higher (forked boroughs).
    worker : str
        Address of the dask worker (``tcp://127.0.0.1:40123``), or ``local pid N`` outside one.
    summary : dict
        :func:`locmap.batch.summary.borough_summary` (empty when failed).
    error : str
        Why the borough failed (message and what to do); empty otherwise.
    traceback : str
        Where an error locmap did not expect was raised (empty for a LocmapError).
    attempts : int
        Attempts at the borough in the batch that computed it (1 = no retry; 0 = nothing recorded).
    last_failure : str
        Why the latest failed attempt failed (``KilledWorker: ...`` when its worker died, the
        exception otherwise); empty when no attempt failed.
    run_id : str
        The batch run that computed the borough (:func:`new_run_id`); for a cached borough,
        the earlier run whose results are reused.
    finished_utc : str
        When that run finished the borough (ISO 8601, UTC).
    rss_start_mb : float
        Resident memory of the worker process when the borough started (MB): what earlier
        boroughs left behind on that worker.
    worker_pid : int
        Process id of the worker process (0 when not known).
    worker_borough_n : int
        The how-manieth borough this worker process ran (1 = its first; 0 when not known).
    """

    lad_cd: str
    status: str
    seconds: float = 0.0
    peak_rss_mb: float = float("nan")
    worker_peak_rss_mb: float = float("nan")
    worker: str = ""
    summary: dict = field(default_factory=dict)
    error: str = ""
    traceback: str = ""
    attempts: int = 1
    last_failure: str = ""
    run_id: str = ""
    finished_utc: str = ""
    rss_start_mb: float = float("nan")
    worker_pid: int = 0
    worker_borough_n: int = 0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")


#: A borough's computation: (task, say) -> its summary dict (files written into task.out_dir).
Compute = Callable[[BoroughTask, Callable[[str], None]], dict]


#: boroughs run by this process so far (a worker's count; see BoroughOutcome.worker_borough_n)
_RUN_HERE = [0]


class _PeakRss:
    """Samples in a background thread the resident memory of this process while it runs a
    borough (MB), or, once :meth:`follow` names the child it forked for the borough, this
    process's memory at the start plus what the child added to its own since the fork (the
    child's resident set counts the worker's file-backed pages only as it touches them, so its
    own figure would understate the borough against the worker's)."""

    def __init__(self) -> None:
        self._proc = psutil.Process()
        self.start_mb = self.peak_mb = self._rss_mb()
        self._base_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss_mb(self) -> float:
        return self._proc.memory_info().rss / 2**20

    def follow(self, pid: int) -> None:
        """Sample process ``pid`` (the borough's forked child) from now on."""
        try:
            self._proc = psutil.Process(pid)
            self._base_mb = self._rss_mb() - self.start_mb
        except psutil.NoSuchProcess:  # ended already
            pass

    def _sample(self) -> None:
        try:
            self.peak_mb = max(self.peak_mb, self._rss_mb() - self._base_mb)
        except psutil.NoSuchProcess:  # the child has ended
            pass

    def _run(self) -> None:
        while not self._stop.wait(_SAMPLE_S):
            self._sample()

    def __enter__(self) -> "_PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


#: the highest ``peak_rss_mb`` of a borough this process ran (a forked borough's counts the worker's too)
_BOROUGH_PEAK_MB = [0.0]


def worker_peak_rss_mb() -> float:
    """Highest resident memory of this process since it started, or of it and a borough's
    process it forked together (``peak_rss_mb``), whichever is higher (MB)."""
    if resource is None:  # pragma: no cover - Windows
        return max(psutil.Process().memory_info().rss / 2**20, _BOROUGH_PEAK_MB[0])
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, _BOROUGH_PEAK_MB[0])  # KiB on Linux


def worker_address() -> str:
    """This dask worker's address, or ``local pid N`` when called outside a worker."""
    try:
        return distributed.get_worker().address
    except ValueError:  # "No worker found": called in the launching process (tests, debugging)
        return f"local pid {os.getpid()}"


def utc_now() -> str:
    """The time now, ISO 8601 in UTC to the second (``2026-12-07T05:34:05Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def new_run_id() -> str:
    """An id for one batch run: its start time (UTC) and the launching process
    (``20261207T053405Z-12345``)."""
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}"


def _append_attempt(out: Path, record: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ATTEMPTS_FILE, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")


def clear_attempts(out_dir: str | Path) -> None:
    """Forget the attempts of an earlier batch (the launcher, before it submits the borough)."""
    (Path(out_dir) / ATTEMPTS_FILE).unlink(missing_ok=True)


def read_attempts(out_dir: str | Path) -> tuple[int, str]:
    """(attempts started, why the latest failed one failed) from the borough's attempts log.

    An attempt with a start and no result is one whose worker process died (:data:`DIED`).
    """
    try:
        lines = (Path(out_dir) / ATTEMPTS_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return 0, ""
    started: dict[int, str | None] = {}
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line cut short by the dying worker
        if "result" in rec:
            started[int(rec["attempt"])] = str(rec["result"])
        else:
            started.setdefault(int(rec["attempt"]), None)
    failures = [DIED if r is None else r for _n, r in sorted(started.items()) if r != "done"]
    return len(started), (failures[-1] if failures else "")


def _thread_lock_for_progress_bars() -> None:
    """tqdm's lock in this process a thread lock, not its default multiprocessing RLock (a POSIX
    semaphore): a worker ended mid-borough (Ctrl-C stops the cluster) would leave the semaphore
    behind, and multiprocessing's resource tracker prints a warning about it on the terminal.
    Any tqdm, even a disabled one, creates the lock; the workers show no bars."""
    if getattr(tqdm, "_lock", None) is None:
        tqdm.set_lock(threading.RLock())


def run_borough(task: BoroughTask, compute: Compute | None = None) -> BoroughOutcome:
    """Run one borough's job into ``task.out_dir`` and return its outcome (the dask task).

    Steps: note the attempt in ``attempts.jsonl`` -> forget any earlier ``done.json`` ->
    ``compute`` (default :func:`compute_borough`: the job and its summary; step log captured into
    ``log.txt``, not printed on the worker) -> ``borough_summary.json`` -> ``done.json`` last
    (input hash, run id, attempts, seconds, peak memory, locmap version), every file written
    atomically.  A :class:`~locmap.errors.LocmapError` becomes ``status="failed"`` with its message
    and remedy (``log.txt`` keeps the steps up to it); any other exception is noted in the
    attempts log and propagates, so dask retries the task and then reports it.
    """
    t0, log, out = time.perf_counter(), [], Path(task.out_dir)
    heap_changed = True  # unless the borough ran in a child forked from a warm worker
    _thread_lock_for_progress_bars()
    attempt = read_attempts(out)[0] + 1
    _append_attempt(out, {"attempt": attempt, "started_utc": utc_now(), "worker": worker_address(),
                          "pid": os.getpid()})
    cache.clear_done(out)
    summary, error = {}, ""
    _RUN_HERE[0] += 1
    try:
        with _PeakRss() as rss:
            try:
                summary, heap_changed = _compute_here(task, compute, lambda line: log.append(shown(line)), rss)
                export.write_text(out / SUMMARY_FILE, json.dumps(summary, indent=2, sort_keys=True) + "\n")
            except LocmapError as exc:
                summary, error = {}, shown(exc)
                log.append(f"FAILED: {error}")
    except Exception as exc:  # an error locmap did not expect: noted, then left to dask's retries
        _append_attempt(out, {"attempt": attempt, "result": shown(f"{type(exc).__name__}: {exc}".splitlines()[0])})
        raise
    finally:  # the steps up to an unexpected error too
        export.write_text(out / LOG_FILE, "\n".join(log) + "\n")
    _BOROUGH_PEAK_MB[0] = max(_BOROUGH_PEAK_MB[0], rss.peak_mb)
    first_line = error.splitlines()[0] if error else "done"
    _append_attempt(out, {"attempt": attempt, "result": first_line})
    n, last_failure = read_attempts(out)
    outcome = BoroughOutcome(lad_cd=task.lad_cd, status="failed" if error else "done",
                             seconds=time.perf_counter() - t0, peak_rss_mb=rss.peak_mb,
                             worker_peak_rss_mb=worker_peak_rss_mb(), worker=worker_address(), summary=summary,
                             error=error, attempts=n, last_failure=last_failure, run_id=task.run_id,
                             finished_utc=utc_now(), rss_start_mb=rss.start_mb, worker_pid=os.getpid(),
                             worker_borough_n=_RUN_HERE[0])
    if not error:
        cache.write_done(out, done_record(task, outcome))
    release_memory(collect=heap_changed)
    return outcome


def _compute_here(task: BoroughTask, compute: Compute | None, say: Callable[[str], None],
                  rss: _PeakRss) -> tuple[dict, bool]:
    """``compute`` (default :func:`compute_borough`) in a child forked from this process where
    fork is available (:mod:`locmap.batch.forked`; the worker warmed first), else here; (its summary,
    whether this process's heap changed: False for a forked borough once the worker is warm)."""
    if not (task.fork and forked.fork_available()):
        return (compute or compute_borough)(task, say), True
    loaded = compute is None and _warm_data(task)
    summary, modules = forked.compute_forked(compute or compute_borough, task, say, on_start=rss.follow)
    return summary, bool(forked.warm(modules)) or loaded


#: regions (``london``; a standalone pack's name) whose files this process has parsed (:func:`_warm_data`)
_WARM_DATA: set[str] = set()


def _warm_data(task: BoroughTask) -> bool:
    """Once per process and region: load the borough's data here, before the first fork, which
    parses the London-wide files into :mod:`locmap.data.memo` for every later child (this
    borough's child finds its data loaded).  Loading runs no OpenMP code.  True when it loaded."""
    if _data_key(task.area) in _WARM_DATA:
        return False
    api.load(task.area, task.settings)
    _WARM_DATA.add(_data_key(task.area))
    return True


def _data_key(area: str) -> str:
    """What an area's files are parsed under in :data:`_WARM_DATA`: its region (``london`` of
    ``london:camden``), or the area itself (a pack of its own: ``ealing``)."""
    return area.split(":")[0]


#: modules a borough's job imports only where it uses them (locmap imports them inside the functions
#: that need them, so that other commands start fast); a worker imports them before its first fork
#: (:func:`warm_worker`), so that no child imports them itself.  Importing runs no OpenMP code.  One
#: the job no longer imports costs only its import; one it imports that is not listed here is
#: imported by the first child and then by the worker (:func:`locmap.batch.forked.warm`).
JOB_IMPORTS = ("sklearn.cluster", "sklearn.metrics", "threadpoolctl", "spopt.locate", "spopt.region",
               "spopt.region.skater", "libpysal.weights", "xlsxwriter", "xlsxwriter.exceptions",
               "pandas.core.reshape.reshape", "pandas.io.formats.csvs", "xstatic.pkg.jquery", "xstatic.pkg.leaflet")


def warm_worker(region: str, area: str, settings: Settings) -> dict[str, int]:
    """The first task of each worker of a batch whose boroughs fork (submitted as the cluster
    starts, while the launcher plans): import :data:`JOB_IMPORTS` and parse the files of ``region``
    by loading ``area`` (one of its boroughs) here, then give back the loaded area.  Every borough this
    worker runs afterwards forks from a process that has both, so its child neither imports nor
    parses them.

    Returns the residential postcodes per borough code of the region's postcode table (the homes a
    borough's job measures, which its time follows: :func:`locmap.batch.engine.by_size`); empty when
    the table has no borough column.  Never raises: a failure is left to the boroughs, each of which
    reports it as its own (and the sizes are then empty).
    """
    _thread_lock_for_progress_bars()
    forked.warm(list(JOB_IMPORTS))
    try:
        data = api.load(area, settings)
        _WARM_DATA.add(_data_key(area))
        return _postcodes_per_borough(data.pack, settings)
    except Exception:  # noqa: BLE001 - the boroughs load it again and report the error themselves
        return {}
    finally:
        release_memory()


def _postcodes_per_borough(pack: Any, settings: Settings) -> dict[str, int]:
    """Residential postcodes (``usertype`` not 1) per ``lad_cd`` of the pack's postcode table."""
    postcodes = load_postcodes(pack, settings.resolve_data_root())
    if "lad_cd" not in postcodes:
        return {}
    homes = postcodes[~large_user(postcodes)]
    return {str(k): int(v) for k, v in homes.groupby("lad_cd").size().items()}


def release_memory(collect: bool = True) -> None:
    """Give back what a finished borough leaves on its worker: the loaded area (the next borough is
    another one; the London-wide files stay parsed in :mod:`locmap.data.memo`), Python's garbage,
    and the C heap's free pages (glibc ``malloc_trim``), so each borough starts from about the
    same memory as the one before.  ``collect=False`` (a borough forked from a warm worker, whose
    heap it did not change): the loaded area only, without a full collection of the worker's heap
    (0.1-0.2 s a borough, with nothing to find)."""
    area_cache.clear_cache()
    if not collect:
        return
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def compute_borough(task: BoroughTask, say: Callable[[str], None]) -> dict:
    """The borough's job (:func:`locmap.api.run_all` into ``task.out_dir``) and its figures
    (:func:`locmap.batch.summary.borough_summary`)."""
    # force: the borough folder is the batch's (attempts.jsonl, log.txt, done.json sit beside the run)
    run = api.run_all(task.area, task.settings, task.out_dir, task.options, say=say, force=True)
    area = api.load(task.area, task.settings)  # the bundle run_all loaded (in-process cache)
    return borough_summary(area, run, task.key_service_types)


def done_record(task: BoroughTask, outcome: BoroughOutcome) -> dict:
    """The ``done.json`` record of a finished borough."""
    return {"input_hash": task.input_hash, "region": task.region, "lad_cd": task.lad_cd,
            "lad_nm": task.lad_nm, "area": task.area, "seconds": round(outcome.seconds, 3),
            "peak_rss_mb": round(outcome.peak_rss_mb, 1),
            "worker_peak_rss_mb": round(outcome.worker_peak_rss_mb, 1), "worker": outcome.worker,
            "attempts": outcome.attempts, "last_failure": outcome.last_failure, "run_id": outcome.run_id,
            "locmap_version": locmap.__version__, "finished_utc": outcome.finished_utc,
            "rss_start_mb": round(outcome.rss_start_mb, 1), "worker_pid": outcome.worker_pid,
            "worker_borough_n": outcome.worker_borough_n}


def cached_outcome(task: BoroughTask) -> BoroughOutcome | None:
    """The outcome of a borough whose ``done.json`` holds ``task.input_hash`` (summary read back),
    or ``None`` when it must be computed (no record, another hash, or an unreadable summary)."""
    record = cache.read_done(task.out_dir)
    if not record or record.get("input_hash") != task.input_hash:
        return None
    try:
        summary = json.loads((Path(task.out_dir) / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return BoroughOutcome(lad_cd=task.lad_cd, status="cached", seconds=float(record.get("seconds", 0.0)),
                          peak_rss_mb=float(record.get("peak_rss_mb", float("nan"))),
                          worker_peak_rss_mb=float(record.get("worker_peak_rss_mb", float("nan"))),
                          worker=str(record.get("worker", "")), summary=summary,
                          attempts=int(record.get("attempts", 1)), last_failure=str(record.get("last_failure", "")),
                          run_id=str(record.get("run_id", "")), finished_utc=str(record.get("finished_utc", "")),
                          rss_start_mb=float(record.get("rss_start_mb", float("nan"))),
                          worker_pid=int(record.get("worker_pid", 0)),
                          worker_borough_n=int(record.get("worker_borough_n", 0)))


__all__ = ["BoroughTask", "BoroughOutcome", "run_borough", "read_attempts", "clear_attempts", "new_run_id",
           "utc_now", "ATTEMPTS_FILE", "DIED", "compute_borough", "cached_outcome", "done_record",
           "SUMMARY_FILE", "LOG_FILE", "worker_peak_rss_mb", "worker_address", "release_memory", "warm_worker",
           "JOB_IMPORTS"]
