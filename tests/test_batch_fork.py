"""Each borough of a batch runs in a child forked from its warm worker process (Linux): what the
borough allocates goes with the child, its answer, step log and errors come back to the worker,
and the worker parses the London-wide data and imports the stack once."""
from __future__ import annotations

import gc
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import psutil
import pytest

from locmap import api
from locmap.api import RunOptions
from locmap.batch import borough, forked
from locmap.batch.borough import LOG_FILE, BoroughTask, read_attempts, run_borough
from locmap.batch.forked import BoroughStopped, ClosingWorker, fork_available
from locmap.data import area as area_module
from locmap.data import memo
from locmap.data.area import load_area
from locmap.errors import DataFileError

pytestmark = pytest.mark.skipif(not fork_available(), reason="boroughs fork on Linux only")

#: what a borough's computation keeps in a module global (a leak, in the worker process itself)
KEPT: list = []
MB = 2**20


@pytest.fixture(scope="module")
def warmed(settings):
    """``warm_worker`` run once for this module's tests in this process, from an empty memo and area
    cache, as a batch worker's first task (the London-wide files parsed here once, not once per test):
    (its sizes, the memo's entries, the areas left loaded and the regions it noted as loaded right after it).  The module's tests find
    the London-wide files parsed, as a warm worker does; all of it is given back after them."""
    kept = set(borough._WARM_DATA)
    borough._WARM_DATA.clear()
    memo.clear()
    area_module.clear_cache()
    sizes = borough.warm_worker("london", "london:city-of-london", settings.with_(progress=False))
    yield sizes, memo.entries(), len(area_module._CACHE), set(borough._WARM_DATA)
    borough._WARM_DATA.clear()
    borough._WARM_DATA.update(kept)
    memo.clear()
    area_module.clear_cache()


@pytest.fixture
def task(settings, tmp_path) -> BoroughTask:
    return BoroughTask(region="london", lad_cd="E09000001", lad_nm="City of London", area="london:city-of-london",
                       out_dir=tmp_path / "city", settings=settings, options=RunOptions(), input_hash="x" * 64)


def greedy(task: BoroughTask, say) -> dict:
    """Keeps 300 MB (touched, so resident) in a module global for a while (memory is sampled
    every 50 ms) and says where it ran."""
    say("== computed in process")
    KEPT.append(b"\x01" * (300 * MB))
    time.sleep(0.5)
    return {"lad_cd": task.lad_cd, "pid": os.getpid()}


def test_a_borough_runs_in_a_child_and_what_it_allocates_goes_with_it(task):
    rss_before = psutil.Process().memory_info().rss
    outcome = run_borough(task, greedy)
    assert outcome.status == "done" and outcome.summary["lad_cd"] == "E09000001"
    assert outcome.summary["pid"] != os.getpid() and outcome.worker_pid == os.getpid()
    assert KEPT == []  # kept in the child only
    assert psutil.Process().memory_info().rss - rss_before < 100 * MB
    assert outcome.peak_rss_mb >= outcome.rss_start_mb + 250  # what the borough's process added is measured
    assert outcome.worker_peak_rss_mb >= outcome.peak_rss_mb - 1
    assert "== computed in process" in (task.out_dir / LOG_FILE).read_text()


def test_without_fork_the_same_borough_stays_in_the_worker_process(task):
    try:
        outcome = run_borough(replace(task, fork=False), greedy)
        assert outcome.summary["pid"] == os.getpid() and len(KEPT) == 1
    finally:
        KEPT.clear()


def test_each_borough_leaves_no_loaded_area_behind_and_records_its_worker_memory(settings, tmp_path, warmed):
    """Run in the worker process itself (``fork=False``; the tests above and below for the default),
    run_borough empties the area cache after the borough (the next is another area; the London-wide
    files stay in the memo) and records the memory the process started the borough with and the
    how-manieth borough of this process it was.  (Moved from test_batch_shared_data: here the
    London-wide files are parsed once for the module, ``warmed``, as in a warm worker.)"""
    def compute(task, say):
        load_area("london:city-of-london", settings)  # what run_all does: the area stays in the cache
        assert len(area_module._CACHE) == 1
        return {"lad_cd": task.lad_cd}

    area_module.clear_cache()  # an area another test of this process loaded is not this borough's
    task = BoroughTask(region="london", lad_cd="E09000001", lad_nm="City of London", area="london:city-of-london",
                       out_dir=tmp_path / "city", settings=settings, options=RunOptions(), input_hash="x" * 64,
                       fork=False)
    first = run_borough(task, compute)
    second = run_borough(replace(task, out_dir=tmp_path / "city2"), compute)
    assert (first.status, second.status) == ("done", "done")
    assert len(area_module._CACHE) == 0
    assert memo.entries() > 5  # the London-wide tables, layers, postcodes and service sources stay
    assert second.worker_borough_n == first.worker_borough_n + 1 and first.worker_pid == second.worker_pid == os.getpid()
    assert 100 < first.rss_start_mb <= first.peak_rss_mb and 100 < second.rss_start_mb <= second.peak_rss_mb


def test_a_data_error_in_the_child_fails_the_borough_with_its_message_and_remedy(task, tmp_path):
    def bad_row(task, say):
        say("== loading")
        raise DataFileError(tmp_path / "services.csv", "no 'easting' value", row=7)

    forked = run_borough(task, bad_row)
    in_worker = run_borough(replace(task, out_dir=tmp_path / "again", fork=False), bad_row)
    assert forked.status == "failed" and forked.error == in_worker.error
    assert "services.csv" in forked.error and "row 7" in forked.error and "no 'easting' value" in forked.error
    assert f"What to do: {DataFileError.remedy}" in forked.error
    log = (task.out_dir / LOG_FILE).read_text()
    assert "== loading" in log and "FAILED: " in log


def crashing(task, say):
    raise KeyError("pcn_code")


def test_an_unexpected_error_in_the_child_is_raised_in_the_worker_with_its_class_and_traceback(task):
    with pytest.raises(KeyError) as info:
        run_borough(task, crashing)
    assert info.value.args == ("pcn_code",)
    notes = "\n".join(info.value.__notes__)
    assert "forked from this worker" in notes and "in crashing" in notes and "test_batch_fork.py" in notes
    assert read_attempts(task.out_dir) == (1, "KeyError: 'pcn_code'")


def test_the_worker_loads_its_first_borough_before_forking_and_imports_what_the_child_imported(
        task, settings, tmp_path, monkeypatch, warmed):
    """The worker process loads its first borough's data once, before the fork (which parses the
    London-wide files into its memo; parsed here once for the module, ``warmed``): that child finds
    it loaded, and the memo stays after the borough; and it imports afterwards what its first child
    imported, so later children inherit both."""
    (tmp_path / "fork_probe_module.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(borough, "_WARM_DATA", set())  # a worker that has not loaded a borough of London yet
    area_module.clear_cache()
    loads = []
    real_load = api.load
    monkeypatch.setattr(api, "load", lambda *a, **k: loads.append((os.getpid(), a[0])) or real_load(*a, **k))

    def job(task, say):
        import fork_probe_module  # noqa: F401, PLC0415 - a module only the child imports
        return {"lad_cd": task.lad_cd, "memo": memo.entries(), "areas_loaded": len(area_module._CACHE)}

    monkeypatch.setattr(borough, "compute_borough", job)
    assert "fork_probe_module" not in sys.modules
    first = run_borough(task)
    second = run_borough(replace(task, lad_cd="E09000007", area="london:camden", out_dir=tmp_path / "camden"))
    assert (first.status, second.status) == ("done", "done"), first.error + second.error
    assert loads == [(os.getpid(), "london:city-of-london")]  # once, in the worker, before the first fork
    assert memo.entries() > 5 and first.summary["memo"] == second.summary["memo"] == memo.entries()
    assert (first.summary["areas_loaded"], second.summary["areas_loaded"]) == (1, 0)  # the first child's is loaded
    assert len(area_module._CACHE) == 0  # the loaded area does not stay in the worker
    assert "fork_probe_module" in sys.modules


def test_a_borough_process_that_dies_takes_its_worker_down_with_the_same_status(task, tmp_path):
    """As when the borough ran in the worker: dask then sees a worker that died during the borough
    (retried, KilledWorker after the retries: tests/test_batch.py)."""
    script = tmp_path / "worker.py"
    script.write_text("import os, pickle, sys\n"
                      "from locmap.batch.borough import run_borough\n"
                      "def dying(task, say):\n"
                      "    os._exit(13)\n"
                      "run_borough(pickle.loads(bytes.fromhex(sys.argv[1])), dying)\n"
                      "print('the worker went on')\n")
    proc = subprocess.run([sys.executable, str(script), pickle.dumps(task).hex()], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, timeout=300)
    assert proc.returncode == 13, proc.stderr
    assert "the worker went on" not in proc.stdout
    assert read_attempts(task.out_dir) == (1, "KilledWorker: the worker process died during the attempt "
                                              "(killed, or out of memory)")


def test_a_warmed_worker_forks_its_boroughs_without_loading_or_collecting_its_heap(task, settings, tmp_path,
                                                                                    monkeypatch, warmed):
    """``warm_worker``, each worker's first task in a batch (``warmed``: run from an empty memo): the
    job's own imports and the region's files parsed in the worker, the loaded area given back, and the
    residential postcodes of every borough (the order of the boroughs not submitted yet).  A borough
    after it forks at once: the worker loads nothing more, and does not collect its whole heap after a
    borough that ran in the child."""
    sizes, memo_entries, areas_loaded, warm_data = warmed
    assert len(sizes) == 33 and sum(sizes.values()) == 168_631
    assert (sizes["E09000001"], sizes["E09000007"], sizes["E09000033"]) == (1_355, 6_434, 12_299)
    assert all(name in sys.modules for name in borough.JOB_IMPORTS)
    assert memo_entries > 5 and areas_loaded == 0
    monkeypatch.setattr(borough, "_WARM_DATA", set(warm_data))  # as warm_worker left it
    area_module.clear_cache()
    loads, collections = [], []
    real_load = api.load
    monkeypatch.setattr(api, "load", lambda *a, **k: loads.append(a[0]) or real_load(*a, **k))
    monkeypatch.setattr(gc, "collect", lambda *a: collections.append(a) or 0)

    def job(task, say):
        return {"lad_cd": task.lad_cd, "memo": memo.entries(), "pid": os.getpid()}

    monkeypatch.setattr(borough, "compute_borough", job)
    outcome = run_borough(replace(task, lad_cd="E09000007", area="london:camden", out_dir=tmp_path / "camden"))
    assert outcome.status == "done", outcome.error
    assert outcome.summary["pid"] != os.getpid() and outcome.summary["memo"] == memo.entries()
    assert loads == [] and collections == []


class _StopsWhenFreed:
    """Freed while the child runs: SIGTERM (the worker going away) is handled inside this finalizer,
    so Python drops the KeyboardInterrupt the child's handler raises."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)


def _swallows_its_stop_then_works_on(task, say):  # noqa: ARG001 - compute(task, say) signature
    _StopsWhenFreed()
    time.sleep(60)  # the borough's job going on as if nobody had stopped it
    return {}


@pytest.mark.skipif(not fork_available(), reason="os.fork (Linux)")
def test_a_borough_process_whose_stop_was_swallowed_still_ends_within_the_grace_time(monkeypatch):
    """Seen: a Ctrl-C'd batch whose borough's stop was dropped in dask's GC callback finished the
    borough after the batch had marked it interrupted, and printed "Exception ignored".  The grace
    is 1 s here (5 s in a batch): the forked child reads the module's value."""
    monkeypatch.setattr(forked, "_STOP_GRACE_S", 1)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the borough's process, as compute_forked starts it
        os.close(read_fd)
        forked._child(write_fd, os.getppid(), _swallows_its_stop_then_works_on, None)
    os.close(write_fd)
    t0 = time.monotonic()
    while (ended := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() - t0 < 30:
        time.sleep(0.05)
    if ended[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    os.close(read_fd)
    assert ended[0] == pid, "the borough's process was still running 30 s after it was stopped"
    assert os.WIFSIGNALED(ended[1]) and os.WTERMSIG(ended[1]) == signal.SIGALRM
    assert time.monotonic() - t0 < forked._STOP_GRACE_S + 5


def _works_for_a_minute(task, say):  # noqa: ARG001 - compute(task, say) signature
    time.sleep(60)
    return {"finished": True}


def _forked_in_a_thread(task) -> tuple[threading.Thread, dict]:
    """``compute_forked(_works_for_a_minute)`` in a thread, as a worker's executor runs a borough;
    (the thread, what it ended with: the child's pid as it started, then its answer or exception)."""
    ended: dict = {}

    def run() -> None:
        try:
            ended["answer"] = forked.compute_forked(_works_for_a_minute, task, lambda _line: None,
                                                    on_start=lambda pid: ended.setdefault("pid", pid))
        except BaseException as exc:  # noqa: BLE001 - what the worker's task would raise
            ended["raised"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, ended


def test_a_closing_worker_stops_its_borough_process_at_once_and_freezes_its_heap(task, monkeypatch):
    """Ctrl-C closes the batch's cluster; a worker running a borough (in its forked process) then
    stopped it only when dask killed the worker, ~4 s later, while the borough computed on.  The
    worker's teardown (``ClosingWorker``, installed on the batch's local cluster) stops it at once,
    the borough's task raises ``BoroughStopped`` in the worker, and the worker's heap is frozen for
    its exit."""
    monkeypatch.setitem(forked._CHILD, "closing", False)
    thread, ended = _forked_in_a_thread(task)
    t0 = time.monotonic()
    while "pid" not in ended and time.monotonic() - t0 < 60:
        time.sleep(0.01)
    child = ended["pid"]
    try:
        ClosingWorker().teardown(worker=None)
        thread.join(timeout=30)  # a hang detector: the child sleeps 60 s unless stopped
        assert not thread.is_alive(), "the borough's process was not stopped"
        assert isinstance(ended.get("raised"), BoroughStopped), ended
        assert gc.get_freeze_count() > 0
        with pytest.raises(ChildProcessError):
            os.waitpid(child, os.WNOHANG)  # ended, and reaped by the worker
    finally:
        gc.unfreeze()
        if thread.is_alive():
            os.kill(child, signal.SIGKILL)


def test_a_borough_forked_while_its_worker_closes_is_stopped_as_it_starts(task, monkeypatch):
    monkeypatch.setitem(forked._CHILD, "closing", False)
    forked.stop_borough()  # the worker began to close before its executor forked the borough
    thread, ended = _forked_in_a_thread(task)
    thread.join(timeout=30)
    if thread.is_alive():
        os.kill(ended["pid"], signal.SIGKILL)
    assert not thread.is_alive(), "the borough's process was not stopped"
    assert isinstance(ended.get("raised"), BoroughStopped), ended
