"""The batch engine: every borough of a region as a task on dask.distributed.

:func:`run_batch` loads the region, picks the boroughs, hashes each borough's inputs, skips the
boroughs whose ``done.json`` holds the same hash, submits the rest to a dask cluster (a
:class:`~distributed.LocalCluster` of worker processes, or a running scheduler), collects the
outcomes as they complete, writes ``batch_status.csv`` and the region summary.  A borough that
fails is reported and the others go on; a worker process that dies is retried by dask and, when
the retries are used up, reported as failed (``KilledWorker``).
"""
from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import dask
import numpy as np
import pandas as pd
from distributed import Client, Future, LocalCluster, as_completed
from distributed.scheduler import KilledWorker
from tqdm import tqdm

import locmap
from locmap import _interrupt, export
from locmap.api import RunOptions
from locmap.batch import cache
from locmap.batch.cluster import connect
from locmap.batch.forked import ClosingWorker, fork_available
from locmap.batch.borough import (BoroughOutcome, BoroughTask, cached_outcome, clear_attempts, new_run_id,
                                  read_attempts, run_borough, utc_now, warm_worker)
from locmap.batch.summary import write_region_summary
from locmap._text import terminal_safe_message as shown
from locmap.data.region import Region, load_pack, load_region, slugify
from locmap.errors import SchedulerUnreachableError, SettingsError, UnknownAreaError
from locmap.settings import Settings
from locmap.pathcheck import check_output_path

#: The per-borough status table written into the batch folder.
STATUS_FILE = "batch_status.csv"
STATUS_COLUMNS = ("borough", "lad_cd", "status", "run_id", "finished_utc", "attempts", "last_failure", "seconds",
                  "rss_start_mb", "peak_rss_mb", "worker_peak_rss_mb", "worker", "worker_pid", "worker_borough_n",
                  "error")
#: The batch run's manifest: written first (``running``), rewritten last (``complete``), or
#: ``interrupted`` after Ctrl-C.
MANIFEST_FILE = "batch_run.json"
_KILLED_REMEDY = ("the worker process running it died (killed, or out of memory) on every attempt; see the "
                  "worker logs, give workers more memory or use fewer per machine, then run the batch again "
                  "(finished boroughs are reused)")
_BUG_REMEDY = ("this is an error locmap did not expect (a bug, or data it does not handle): please report it "
               "with this borough's error.txt; the other boroughs are not affected")
ERROR_FILE = "error.txt"
#: dask settings of the batch's own local cluster that only cost CPU there: the workers' statistical
#: profiler (every 10 ms it samples the thread that waits for the borough's forked process: nothing to
#: see on the dashboard's profile page) and the event loops' health check every 20 ms (its warnings are
#: silenced).  An idle two-worker cluster took ~0.09 of a core (launcher and workers), ~0.03 without.
LIGHT_CLUSTER_CONFIG = {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "1s"}
#: Boroughs per worker process before a local cluster is replaced, where boroughs do not fork
#: (:attr:`BatchOptions.worker_boroughs`).
WORKER_BOROUGHS = 8


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the batch: the cluster is closed, ``batch_status.csv`` marks the boroughs
    not finished ``interrupted`` and ``batch_run.json`` says ``interrupted``."""


@dataclass(frozen=True)
class BatchOptions:
    """Choices of a batch beyond :class:`~locmap.settings.Settings`.

    Attributes
    ----------
    boroughs : tuple of str
        Boroughs to run, each a code (``E09000009``), slug (``city-of-london``) or name
        (``City of London``); empty = every borough of the region.
    scheduler : str or None
        Address of a running dask scheduler (``tcp://10.0.0.5:8786``); ``None`` starts a
        :class:`~distributed.LocalCluster` of ``n_workers`` processes on this machine.
    n_workers : int
        Worker processes of the local cluster (one thread each).  Ignored with ``scheduler``.
    retries : int
        Extra attempts for a borough whose task raised or whose worker died (dask ``retries`` and,
        on the local cluster, ``distributed.scheduler.allowed-failures``).
    maps, report : bool
        Per-borough HTML maps and print sheet (on by default); decision pack (off by default).
    force : bool
        Recompute every borough, even those whose ``done.json`` is current.
    connect_timeout_s : float
        How long to try to reach ``scheduler`` before giving up (seconds): the handshake and the
        client each within it (:func:`locmap.batch.cluster.connect`).
    worker_boroughs : int or None
        Local cluster only (ignored with ``scheduler``, whose workers are not ours to replace):
        about how many boroughs a worker process runs before the cluster is replaced by a fresh
        one.  The boroughs run in rounds of ``worker_boroughs x n_workers``, split evenly, which
        bounds a worker's memory where a borough runs in the worker process itself: its heap grows
        ~20 MB per borough however much is released (BENCHMARKS.md).  ``0``: one cluster for the
        whole batch.  ``None`` (default): ``0`` where each borough runs in a child forked from its
        worker (``fork``, on Linux), whose memory goes with the child, else :data:`WORKER_BOROUGHS`.
    fork : bool
        Each borough in a child forked from its warm worker process (Linux;
        :mod:`locmap.batch.forked`): the worker imports the stack and parses the London-wide files
        once, and its memory does not grow from borough to borough.  ``False``, or where fork is
        not available: each borough in the worker process itself.
    task : callable
        Module-level function run per borough (``BoroughTask -> BoroughOutcome``); tests inject
        fault-making wrappers of :func:`~locmap.batch.borough.run_borough`.
    """

    boroughs: tuple[str, ...] = ()
    scheduler: str | None = None
    n_workers: int = 2
    retries: int = 2
    maps: bool = True
    report: bool = False
    force: bool = False
    connect_timeout_s: float = 10.0
    worker_boroughs: int | None = None
    fork: bool = True
    task: Callable[[BoroughTask], BoroughOutcome] = field(default=run_borough, repr=False)

    def __post_init__(self) -> None:
        if int(self.n_workers) < 1:
            raise SettingsError(f"the number of workers must be >= 1, got {self.n_workers!r}")
        if int(self.retries) < 0:
            raise SettingsError(f"retries must be >= 0, got {self.retries!r}")
        if self.worker_boroughs is not None and int(self.worker_boroughs) < 0:
            raise SettingsError(f"boroughs per worker must be >= 0 (0: never replace a worker), "
                                f"got {self.worker_boroughs!r}")
        if not self.connect_timeout_s > 0:
            raise SettingsError(f"the connect timeout must be > 0 seconds, got {self.connect_timeout_s!r}")


@dataclass(frozen=True)
class BatchResult:
    """A finished batch.

    Attributes
    ----------
    region : str
        Region name.
    out_dir : Path
        The batch folder (``boroughs/<slug>/``, ``batch_status.csv``, the region summary).
    outcomes : tuple of BoroughOutcome
        One per borough, in the region's order.
    status : DataFrame
        ``batch_status.csv``: borough, lad_cd, status, seconds, peak_rss_mb (MB),
        worker_peak_rss_mb (MB), worker, error, and per borough the memory its worker started it
        with (``rss_start_mb``), the worker's pid and the how-manieth borough of that worker it was.
    failures : DataFrame
        The failed boroughs: ``lad_cd, lad_nm, reason`` (the error on one line).
    files : tuple of Path
        Files written by the batch itself (status table, region summary).
    wall_seconds : float
        Wall time of the whole batch (s).
    n_workers : int
        Workers of the cluster when the batch was submitted (0 when every borough was cached).
    dashboard_link : str or None
        The dask dashboard (``None`` when no cluster was needed).
    run_id : str
        This run's id (``batch_run.json``, the ``run_id`` of the boroughs it computed).
    """

    region: str
    out_dir: Path
    outcomes: tuple[BoroughOutcome, ...]
    status: pd.DataFrame
    failures: pd.DataFrame
    files: tuple[Path, ...]
    wall_seconds: float
    n_workers: int
    dashboard_link: str | None
    run_id: str = ""

    @property
    def ok(self) -> bool:
        """Every borough done or cached."""
        return all(o.status != "failed" for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        """0 when every borough is done or cached, 1 when any failed (the command's exit status)."""
        return 0 if self.ok else 1


def run_batch(region_name: str, out: str | Path, settings: Settings, options: BatchOptions = BatchOptions(),
              say: Callable[[str], None] = print) -> BatchResult:
    """Run every (chosen) borough of a region as dask tasks into ``out``, then the region summary.

    Parameters
    ----------
    region_name : str
        Region name (``"london"``, ``data/regions/london.toml``).
    out : str or Path
        Batch folder: ``boroughs/<slug>/`` (each borough's :func:`locmap.api.run_all` folders,
        ``log.txt``, ``borough_summary.json``, ``done.json``), ``batch_status.csv`` and the
        region summary (:func:`locmap.batch.summary.write_region_summary`).
    settings : Settings
        Settings of every borough's job; each worker reads the data from ``settings.data_root``
        (or its own ``LOCMAP_DATA_ROOT`` when that is ``None``).
    options : BatchOptions
        Boroughs, cluster, retries, maps, report.
    say : callable
        Where progress lines go.

    Returns
    -------
    BatchResult
        Outcomes, status table, failures, files, wall time, workers, dashboard link.
    """
    t0, run_id, started = time.perf_counter(), new_run_id(), utc_now()
    out = check_output_path(Path(out).absolute(), folder=True)
    # a second Ctrl-C does not cut short the stop the first one began; the cluster started before
    # the plan (starts_early) is closed on the way out of `cluster`, before the interrupt is recorded
    with interrupt_once(), contextlib.ExitStack() as cluster:
        region = load_region(region_name, settings)
        chosen = select_boroughs(region.boroughs, options.boroughs)
        early = cluster.enter_context(_client(options)) if starts_early(out, options) else None
        warming = warm_workers(early, region, None if chosen.empty else str(chosen["area"].iloc[0]), settings,
                               options)
        tasks = [borough_task(region, row, out, settings, options, run_id) for row in chosen.itertuples(index=False)]
        write_manifest(out, run_id, started, tasks, state="running")
        done = {} if options.force else {t.lad_cd: o for t in tasks if (o := cached_outcome(t)) is not None}
        todo = [t for t in tasks if t.lad_cd not in done]
        say(shown(f"{region.title}: {plural(len(tasks), 'borough')}, {len(done)} cached, {len(todo)} to compute"))
        try:
            return _run(region, out, settings, options, tasks, done, run_id, started, t0, say, (early, cluster, warming))
        except KeyboardInterrupt:
            cluster.close()  # the cluster is closed by now, or here (the one started before the plan)
            done.update(finished_while_stopping(tasks, done, run_id))
            _record_interrupt(out, run_id, started, tasks, done)
            raise BatchInterrupted(f"interrupted: {len(done)} of {plural(len(tasks), 'borough')} finished; the rest "
                                   f"are marked 'interrupted' in {out / STATUS_FILE}") from None


def starts_early(out: Path, options: BatchOptions) -> bool:
    """Whether the local cluster starts before the batch is planned, so that its worker processes
    start and warm (:func:`warm_workers`) while this process hashes every borough's inputs: a
    local cluster of one round (:func:`worker_rounds`), with ``force`` or into a folder that holds
    no complete batch (``batch_run.json``).  A rerun of a complete batch may have nothing to
    compute: it plans first and starts a cluster only for the boroughs it must compute."""
    if options.scheduler or effective_worker_boroughs(options):
        return False
    if options.force:
        return True
    try:
        return json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8")).get("state") != "complete"
    except (OSError, ValueError, AttributeError):
        return True


def warm_workers(client: Client | None, region: Region, area: str | None, settings: Settings,
                 options: BatchOptions) -> list[Future]:
    """Each worker's first task, where boroughs fork from warm workers with the default task:
    :func:`~locmap.batch.borough.warm_worker` (the job's imports and the region's files parsed,
    through ``area``, one of its boroughs), on that worker (another if it dies: a warm worker's second
    warm-up reloads from its memo); the boroughs queue behind it.  The futures must be held until
    the boroughs are done (a released future's task is forgotten)."""
    if client is None or area is None or options.task is not run_borough or not (options.fork and fork_available()):
        return []
    return [client.submit(warm_worker, region.name, area, settings.with_(progress=False), key=f"warm-{address}",
                          workers=[address], allow_other_workers=True, pure=False)
            for address in client.scheduler_info()["workers"]]


def _run(region: Region, out: Path, settings: Settings, options: BatchOptions, tasks: Sequence[BoroughTask],
         done: dict[str, BoroughOutcome], run_id: str, started: str, t0: float,
         say: Callable[[str], None], early: tuple[Client | None, contextlib.ExitStack, list[Future]]) -> BatchResult:
    """The boroughs to compute on the cluster (outcomes into ``done`` as they finish), then the
    status table, error files, region summary and the completed manifest.  ``early``: the client of
    the cluster started before the plan (or None), the stack that closes it and its workers' warm-ups."""
    todo = longest_first([t for t in tasks if t.lad_cd not in done])
    link, n_workers = None, 0
    if todo:
        with _progress_bar(settings.progress and len(todo) > 1, len(todo)) as bar:
            for i, part in enumerate(worker_rounds(todo, options)):
                with _round_client(options, *(early[:2] if i == 0 else (None, None))) as client:
                    link, n_workers = client.dashboard_link, len(client.scheduler_info()["workers"])
                    say(f"dask dashboard: {link} ({plural(n_workers, 'worker')})")
                    warming = (early[2] if i == 0 and early[0] is not None
                               else warm_workers(client, region, part[0].area, settings, options))
                    _compute(client, part, options, bar, say, done, warming)
    early[1].close()  # not needed: every borough was cached
    outcomes = tuple(done[t.lad_cd] for t in tasks)
    write_error_files(tasks, outcomes)
    status = status_table(tasks, outcomes)
    files = [export.write_csv(status, out / STATUS_FILE)]
    failures = (status.loc[status["status"] == "failed", ["lad_cd", "borough", "error"]]
                .set_axis(["lad_cd", "lad_nm", "reason"], axis=1).reset_index(drop=True))
    files += _region_summary(region, outcomes, failures, out, settings, options, run_id, say)
    files.append(write_manifest(out, run_id, started, tasks, state="complete", outcomes=outcomes))
    return BatchResult(region=region.name, out_dir=out, outcomes=outcomes, status=status, failures=failures,
                       files=tuple(files), wall_seconds=time.perf_counter() - t0, n_workers=n_workers,
                       dashboard_link=link, run_id=run_id)


def finished_while_stopping(tasks: Sequence[BoroughTask], done: dict[str, BoroughOutcome],
                            run_id: str) -> dict[str, BoroughOutcome]:
    """The boroughs this run finished after Ctrl-C, before the cluster was closed: their
    ``done.json`` holds this run's id and inputs' hash and their results are whole, so they are
    ``done``, not ``interrupted`` (a rerun would take them as cached anyway)."""
    found = {}
    for t in tasks:
        if t.lad_cd not in done and (o := cached_outcome(t)) is not None and o.run_id == run_id:
            found[t.lad_cd] = replace(o, status="done")
    return found


def _record_interrupt(out: Path, run_id: str, started: str, tasks: Sequence[BoroughTask],
                      done: dict[str, BoroughOutcome]) -> None:
    """``batch_status.csv`` with the boroughs not finished marked ``interrupted``, and the manifest
    saying the run did not complete (the region summary is left as it was)."""
    outcomes = tuple(done.get(t.lad_cd) or BoroughOutcome(
        lad_cd=t.lad_cd, status="interrupted", attempts=0, run_id=run_id,
        error="the batch was interrupted (Ctrl-C) before this borough finished; run the batch again") for t in tasks)
    export.write_csv(status_table(tasks, outcomes), out / STATUS_FILE)
    write_manifest(out, run_id, started, tasks, state="interrupted", outcomes=outcomes)


def write_manifest(out: Path, run_id: str, started: str, tasks: Sequence[BoroughTask], state: str,
                   outcomes: Sequence[BoroughOutcome] = ()) -> Path:
    """``batch_run.json``: this run's id, start (and end), state (``running``, ``complete`` or
    ``interrupted``), the boroughs asked for and what became of each.  Written first with
    ``running`` and rewritten last, so a folder whose manifest still says ``running`` or
    ``interrupted`` holds an unfinished batch."""
    record = {"run_id": run_id, "started_utc": started, "state": state, "locmap_version": locmap.__version__,
              "boroughs": [t.lad_cd for t in tasks],
              "status": {o.lad_cd: o.status for o in outcomes},
              "workers": worker_memory(outcomes, run_id)}
    if state != "running":
        record["ended_utc"] = utc_now()
    return export.write_text(out / MANIFEST_FILE, json.dumps(record, indent=2) + "\n")


def worker_memory(outcomes: Sequence[BoroughOutcome], run_id: str) -> list[dict]:
    """Memory of each worker process over the boroughs it computed in this run (``batch_run.json``):
    its first and last borough (memory at their start and their peak, MB) and its own peak, so
    whether a worker's memory grows from borough to borough can be read off one run."""
    by_worker: dict[tuple[str, int], list[BoroughOutcome]] = {}
    for o in outcomes:
        if o.status == "done" and o.run_id == run_id and o.worker_borough_n > 0:
            by_worker.setdefault((o.worker, o.worker_pid), []).append(o)
    rows = []
    for (worker, pid), done in sorted(by_worker.items()):
        done.sort(key=lambda o: o.worker_borough_n)

        def one(o: BoroughOutcome) -> dict:
            return {"lad_cd": o.lad_cd, "n": o.worker_borough_n, "rss_start_mb": round(o.rss_start_mb, 1),
                    "peak_rss_mb": round(o.peak_rss_mb, 1)}

        rows.append({"worker": worker, "pid": pid, "boroughs": len(done), "first": one(done[0]), "last": one(done[-1]),
                     "worker_peak_rss_mb": round(max(o.worker_peak_rss_mb for o in done), 1)})
    return rows


def _region_summary(region: Region, outcomes: Sequence[BoroughOutcome], failures: pd.DataFrame, out: Path,
                    settings: Settings, options: BatchOptions, run_id: str,
                    say: Callable[[str], None]) -> list[Path]:
    """The region summary of every borough with current results in ``out``: this run's and, for a
    subset, the other boroughs' from earlier runs whose ``done.json`` still holds their current
    input hash (each row says which run made it); failed ones listed with their reason."""
    ran = {o.lad_cd for o in outcomes}
    kept, not_run = _kept_boroughs(region, out, settings, options, run_id, exclude=ran)
    figures = [o for o in (*outcomes, *kept) if o.status != "failed"]
    summaries = [dict(o.summary, run_id=o.run_id, finished_utc=o.finished_utc) for o in figures]
    if kept:
        say(shown(f"region summary: {plural(len(ran), 'borough')} of this run and {len(kept)} kept from earlier "
                  f"runs in this folder ({plural(len(not_run), 'borough')} without current results)"))
    if not summaries:
        say("no borough finished: the region summary lists the failures only (reasons in batch_status.csv)")
    return list(write_region_summary(region, summaries, failures, out, settings, not_run=not_run))


def _kept_boroughs(region: Region, out: Path, settings: Settings, options: BatchOptions, run_id: str,
                   exclude: set[str]) -> tuple[list[BoroughOutcome], dict[str, str]]:
    """The boroughs outside this run whose folder holds results of their current inputs, and a
    reason for each of the others (no results in this folder, or results of other inputs)."""
    kept, not_run = [], {}
    for row in region.boroughs.itertuples(index=False):
        if row.lad_cd in exclude:
            continue
        if cache.read_done(out / "boroughs" / row.slug) is None:
            not_run[row.lad_cd] = "not in this run; no results in this folder"
            continue
        outcome = cached_outcome(borough_task(region, row, out, settings, options, run_id))
        if outcome is None:
            not_run[row.lad_cd] = ("not in this run; its results in this folder are of other inputs (settings, "
                                   "data or code changed), left out until it is run again")
        else:
            kept.append(outcome)
    return kept, not_run


def plural(n: int, word: str) -> str:
    """``1 borough``, ``3 boroughs``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


# ----------------------------------------------------------------------------- boroughs and tasks
def select_boroughs(boroughs: pd.DataFrame, wanted: Sequence[str]) -> pd.DataFrame:
    """The rows of ``boroughs`` named in ``wanted`` (code, slug or name, any case), in the region's
    order; every row when ``wanted`` is empty.

    Raises
    ------
    UnknownAreaError
        A name matches no borough; the message lists the valid slugs.
    """
    if not wanted:
        return boroughs
    keys = {}
    for i, row in enumerate(boroughs.itertuples(index=False)):
        for k in (str(row.lad_cd).lower(), row.slug, slugify(row.lad_nm)):
            keys[k] = i
    unknown = [w for w in wanted if str(w).strip().lower() not in keys and slugify(w) not in keys]
    if unknown:
        err = UnknownAreaError(
            f"unknown borough(s): {', '.join(map(repr, unknown))}; valid boroughs (code, name or one of these "
            f"slugs): {', '.join(boroughs['slug'])}")
        err.remedy = "name boroughs by a code, name or slug from the list, e.g. --boroughs camden,E09000009"
        raise err
    rows = sorted({keys.get(str(w).strip().lower(), keys.get(slugify(w))) for w in wanted})
    return boroughs.iloc[rows]


def borough_run_options(area_name: str, settings: Settings, options: BatchOptions) -> RunOptions:
    """The job of one borough: wards, PCNs and generated localities (+ towns where the pack has a
    ward -> town table); the lead is the first of towns, PCNs, wards with several localities
    (:func:`locmap.api.default_lead_scheme`); maps unless turned off; the decision pack only when
    asked (its PDF when Chromium is found)."""
    towns = load_pack(area_name, settings).has_table("ward_town")
    # lead_scheme None: the run takes the first of towns, pcns, wards with several localities
    return RunOptions(schemes=(("towns",) if towns else ()) + ("wards", "pcns", "auto"),
                      lead_scheme=None, maps=options.maps, report=options.report,
                      report_pdf=None if options.report else False)


def borough_task(region: Region, row: tuple, out: Path, settings: Settings, options: BatchOptions,
                 run_id: str = "") -> BoroughTask:
    """The task of one row of ``region.boroughs`` (its input hash computed here)."""
    run_options = borough_run_options(row.area, settings, options)
    return BoroughTask(region=region.name, lad_cd=row.lad_cd, lad_nm=row.lad_nm, area=row.area,
                       out_dir=out / "boroughs" / row.slug, settings=settings.with_(progress=False),
                       options=run_options, input_hash=cache.input_hash(row.area, settings, run_options),
                       key_service_types=tuple(region.key_service_types), run_id=run_id, fork=options.fork)


# ----------------------------------------------------------------------------- the cluster
def local_cluster(n_workers: int) -> LocalCluster:
    """A local cluster of ``n_workers`` worker processes (one thread each) as the batch starts its own:
    quiet worker logs, a dashboard on a free port, :data:`LIGHT_CLUSTER_CONFIG`, and the
    :class:`ClosingWorker` plugin (a closing worker stops its borough at once).  The caller closes it."""
    with dask.config.set(LIGHT_CLUSTER_CONFIG):  # the nannies keep it for every worker they (re)start
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                            silence_logs=logging.CRITICAL, plugins=(ClosingWorker(),))


@contextlib.contextmanager
def _client(options: BatchOptions) -> Iterator[Client]:
    """A client of the scheduler at ``options.scheduler``, or of a new local cluster of worker
    processes (one thread each) whose scheduler allows ``retries`` worker deaths per task."""
    if options.scheduler:
        client = connect(options.scheduler, options.connect_timeout_s)
        with client:
            yield client
        return
    # each worker process takes one borough at a time (no second task queued behind it that a
    # dying worker would take down too)
    # glibc: two malloc arenas per worker process instead of up to 8 per core, so the memory a
    # finished borough freed in one thread's arena is reused by the next (and trimmed: release_memory)
    environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), "MALLOC_ARENA_MAX": "2"}
    config = {"distributed.scheduler.allowed-failures": int(options.retries),
              "distributed.scheduler.worker-saturation": 1.0,
              "distributed.nanny.pre-spawn-environ": environ}
    with dask.config.set(config):
        # worker logs stay quiet: a failing borough is reported once, in the status table and
        # its folder's error.txt, not as a traceback per attempt on the terminal
        with sigint_ignored():  # the worker processes start with SIGINT ignored (and keep it)
            cluster = local_cluster(int(options.n_workers))
        with cluster, Client(cluster) as client:
            yield client


@contextlib.contextmanager
def _round_client(options: BatchOptions, early: Client | None,
                  cluster: contextlib.ExitStack | None) -> Iterator[Client]:
    """``early`` (the cluster started before the plan), closed through ``cluster`` when the round
    ends; else a new client (:func:`_client`)."""
    if early is None or cluster is None:
        with _client(options) as client:
            yield client
        return
    with cluster:
        yield early


def stop_on_first_interrupt(signum: int, frame: object) -> None:  # noqa: ARG001 - signal handler signature
    """SIGINT handler: the first Ctrl-C raises :class:`KeyboardInterrupt` and turns SIGINT off, so
    the stop it begins (closing the cluster, which ends the worker processes; marking the
    unfinished boroughs; the command's one line) runs to its end whatever else is pressed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


@contextlib.contextmanager
def interrupt_once() -> Iterator[None]:
    """:func:`stop_on_first_interrupt` as the SIGINT handler while the batch runs, in place of
    Python's default one (left alone: another handler someone set, SIGINT ignored, or a thread
    other than the main one); the handler before is back afterwards."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    signal.signal(signal.SIGINT, stop_on_first_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """SIGINT ignored in this process while the local cluster starts its worker processes: they
    inherit it and Python then leaves SIGINT ignored in them.

    Ctrl-C in a terminal sends SIGINT to the whole foreground process group.  Workers killed by
    it mid-borough die noisily before the command has stopped the cluster; ignoring it leaves
    the stopping to the command, which catches the interrupt, closes the cluster (the nannies end
    their workers) and marks the unfinished boroughs.  Outside the main thread: no change.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def longest_first(tasks: Sequence[BoroughTask]) -> list[BoroughTask]:
    """The tasks in the order to submit them: boroughs with no earlier time first (region order),
    then the others by the seconds their last run took (``done.json`` of earlier inputs), longest
    first, so a long borough does not start last while the other worker waits (a rerun with
    other settings recomputes every borough).  Outcomes are reported in the region's order."""
    def seconds(task: BoroughTask) -> float:
        known = _last_seconds(task)
        return float("inf") if known is None else known

    return sorted(tasks, key=lambda t: -seconds(t))


def _last_seconds(task: BoroughTask) -> float | None:
    """The seconds the borough's last run took (its ``done.json``), None when not known."""
    record = cache.read_done(task.out_dir) or {}
    try:
        return float(record["seconds"])
    except (KeyError, TypeError, ValueError):
        return None


def by_size(tasks: Sequence[BoroughTask], sizes: dict[str, int]) -> list[BoroughTask]:
    """:func:`longest_first` where no earlier time is known: the boroughs without one (first) by
    ``sizes`` (their homes, which a borough's time follows: :func:`locmap.batch.borough.warm_worker`),
    largest first (a borough without a size first of all), then the others by their earlier time."""
    ordered = longest_first(tasks)
    unknown = [t for t in ordered if _last_seconds(t) is None]
    return (sorted(unknown, key=lambda t: -sizes.get(t.lad_cd, float("inf")))
            + [t for t in ordered if _last_seconds(t) is not None])


def effective_worker_boroughs(options: BatchOptions) -> int:
    """``options.worker_boroughs``, or when ``None``: 0 (one cluster) where the boroughs run in
    forked children (their memory goes with them), else :data:`WORKER_BOROUGHS`."""
    if options.worker_boroughs is not None:
        return int(options.worker_boroughs)
    return 0 if options.fork and fork_available() else WORKER_BOROUGHS


def worker_rounds(tasks: Sequence[BoroughTask], options: BatchOptions) -> list[list[BoroughTask]]:
    """The tasks in rounds, each run on a fresh local cluster: as few rounds as keep every worker
    to about ``options.worker_boroughs`` boroughs, the tasks split evenly between them (33 boroughs,
    2 workers, 8 each: 11 + 11 + 11).  One round with a scheduler or ``worker_boroughs=0``."""
    per_worker = effective_worker_boroughs(options)
    if options.scheduler or not per_worker:
        return [list(tasks)]
    n_rounds = max(1, -(-len(tasks) // (per_worker * int(options.n_workers))))
    return [[tasks[i] for i in part] for part in np.array_split(np.arange(len(tasks)), n_rounds)]


@contextlib.contextmanager
def _progress_bar(enabled: bool, total: int) -> Iterator[tqdm | None]:
    """One bar over every borough to compute, across the rounds of :func:`worker_rounds`."""
    if not enabled:
        yield None
        return
    with tqdm(total=total, desc="boroughs", unit="borough", leave=False) as bar:
        yield bar


def _compute(client: Client, tasks: Sequence[BoroughTask], options: BatchOptions, bar: tqdm | None,
             say: Callable[[str], None], outcomes: dict[str, BoroughOutcome], warming: Sequence[Future] = ()) -> None:
    """Run the tasks, at most one per worker thread at a time, putting each outcome into
    ``outcomes`` as it completes (a progress bar over them; what finished before a Ctrl-C stays).
    ``warming``: the workers' warm-ups (:func:`warm_workers`); a borough is submitted for each worker
    that has warmed (one sent while the other warms may be given to the warm worker, behind its
    borough, while the other then idles: 16 s in a London run), and the first warm-up's sizes order
    the boroughs (:func:`by_size`).

    dask sends every submitted task to a worker at once (a handful of tasks is not queued on the
    scheduler), and a worker that dies counts a failure against every task it held; keeping one
    borough per thread in flight means a dying worker takes down only the borough it was running.
    """
    pending, running, warm = list(tasks), {}, [0]
    done = as_completed(warming)

    def submit_more() -> None:
        slots = max(1, sum(client.nthreads().values()))
        if warming:  # a borough for each worker that has warmed (sent to a warming one, it would wait there)
            slots = min(slots, max(1, warm[0]))
        while pending and len(running) < slots:
            t = pending.pop(0)
            clear_attempts(t.out_dir)  # this batch's attempts only
            future = client.submit(options.task, t, key=f"borough-{t.lad_cd}-{t.input_hash[:8]}", pure=False,
                                   retries=int(options.retries))
            running[future] = t
            done.add(future)

    if not warming:  # else once the first worker is warm, in the order of its sizes
        submit_more()
    for future in completed(done):
        if future not in running:  # a worker warmed: the boroughs not submitted yet, largest first
            warm[0] += 1
            if future.status == "finished" and future.result():
                pending[:] = by_size(pending, future.result())
            submit_more()
            continue
        task = running.pop(future)
        outcomes[task.lad_cd] = outcome = outcome_of(future, task)
        with tqdm.external_write_mode():  # the line above the bar, not through it
            say(describe(task, outcome))
        if bar is not None:
            bar.update(1)
        submit_more()
        if not running:  # every borough done (a warm-up still running, e.g. retried on a new worker, is not waited for)
            break


#: how often the wait for the next finished borough checks for a Ctrl-C that something swallowed
_POLL_S = 0.1


def completed(done: as_completed, poll_s: float = _POLL_S) -> Iterator[Future]:
    """The futures of ``done`` as they finish (futures added meanwhile too), like iterating it,
    but a Ctrl-C dropped while waiting (raised in a callback of dask's, e.g. its garbage-collection
    diagnosis, and printed as "Exception ignored") is raised here within ``poll_s``: iterating
    ``as_completed`` would wait for the next borough to finish first, and the batch went on."""
    while not done.is_empty():
        batch = done.next_batch(block=False)
        if not batch:
            _interrupt.raise_if_swallowed()
            time.sleep(poll_s)
        yield from batch


def outcome_of(future: Future, task: BoroughTask) -> BoroughOutcome:
    """The borough's outcome from its finished future: the task's own (done, or failed with a
    LocmapError), or failed with the exception that ended the task after its retries (a bug, or
    ``KilledWorker`` when its worker died on every attempt); attempts and the last failure read
    from the borough's attempts log."""
    if future.status == "finished":
        return future.result()
    attempts, last_failure = read_attempts(task.out_dir)
    common = {"lad_cd": task.lad_cd, "status": "failed", "attempts": attempts, "run_id": task.run_id,
              "finished_utc": utc_now()}
    if future.status == "cancelled":
        return BoroughOutcome(**common, last_failure=last_failure,
                              error="the task was cancelled (the scheduler or client went away); run again")
    exc = future.exception()
    text = shown(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, KilledWorker):
        return BoroughOutcome(**common, last_failure=last_failure or text.splitlines()[0],
                              error=f"{text}\n  What to do: {_KILLED_REMEDY}")
    # an error locmap did not expect: where it happened, for the report of the bug (a borough's
    # forked process adds its own traceback as a note)
    notes = "".join(f"{note}\n" for note in getattr(exc, "__notes__", ()))
    return BoroughOutcome(**common, last_failure=last_failure or text.splitlines()[0],
                          error=f"{text}\n  What to do: {_BUG_REMEDY}",
                          traceback="".join(traceback.format_tb(future.traceback())) + notes)


def describe(task: BoroughTask, outcome: BoroughOutcome) -> str:
    """One line on a finished borough (failures add the first line of the error; a borough that
    needed more than one attempt says how many and why the last failed one failed)."""
    line = f"{outcome.status:6} {task.lad_nm}"
    if outcome.status == "failed":
        line = f"{line}: {outcome.error.splitlines()[0] if outcome.error else 'no reason given'}"
    else:
        line = f"{line} ({outcome.seconds:.1f} s, peak {outcome.peak_rss_mb:.0f} MB, {outcome.worker})"
    if outcome.attempts > 1:
        line += f" [{outcome.attempts} attempts; last failure: {outcome.last_failure}]"
    return shown(" ".join(line.split("\n")))


def write_error_files(tasks: Sequence[BoroughTask], outcomes: Sequence[BoroughOutcome]) -> None:
    """``error.txt`` in the folder of each failed borough (message, what to do, traceback of an
    unexpected error); an earlier one is removed from a borough that is now done or cached."""
    for task, outcome in zip(tasks, outcomes):
        path = Path(task.out_dir) / ERROR_FILE
        if outcome.status == "failed":
            export.write_text(path, outcome.error + "\n" + (f"\nTraceback (on the worker):\n{outcome.traceback}"
                                                            if outcome.traceback else ""))
        else:
            path.unlink(missing_ok=True)


def status_table(tasks: Sequence[BoroughTask], outcomes: Sequence[BoroughOutcome]) -> pd.DataFrame:
    """``batch_status.csv``: one row per borough (seconds and MB rounded to 0.1; the error on one
    line)."""
    rows = [{"borough": t.lad_nm, "lad_cd": t.lad_cd, "status": o.status, "run_id": o.run_id,
             "finished_utc": o.finished_utc, "attempts": o.attempts, "last_failure": shown(o.last_failure),
             "seconds": round(o.seconds, 1), "rss_start_mb": round(o.rss_start_mb, 1),
             "peak_rss_mb": round(o.peak_rss_mb, 1), "worker_peak_rss_mb": round(o.worker_peak_rss_mb, 1),
             "worker": o.worker, "worker_pid": o.worker_pid, "worker_borough_n": o.worker_borough_n,
             "error": shown(" ".join(line.strip() for line in o.error.splitlines()))}
            for t, o in zip(tasks, outcomes)]
    return pd.DataFrame(rows, columns=list(STATUS_COLUMNS))


__all__ = ["BatchOptions", "BatchResult", "BatchInterrupted", "finished_while_stopping", "completed", "interrupt_once", "stop_on_first_interrupt", "worker_memory", "MANIFEST_FILE", "write_manifest", "SchedulerUnreachableError", "run_batch", "select_boroughs", "plural",
           "borough_run_options", "borough_task", "connect", "outcome_of", "status_table", "write_error_files",
           "STATUS_FILE", "ERROR_FILE", "WORKER_BOROUGHS", "effective_worker_boroughs",
           "longest_first", "by_size", "starts_early", "warm_workers", "LIGHT_CLUSTER_CONFIG", "local_cluster"]
