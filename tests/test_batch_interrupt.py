"""Ctrl-C on ``locmap batch``: one line, exit 130, no traceback, the cluster stopped (no worker
process left behind), the unfinished boroughs marked ``interrupted``.

The command runs in its own process group and gets SIGINT the way a terminal sends Ctrl-C: to
the whole group (the command, the nannies and the worker processes), while a borough is running.
The borough is Ealing (its own pack in the region: the worker warms in ~1.4 s of CPU where a borough
of the London-wide files takes ~3.6 s; its job runs several seconds, so the Ctrl-C lands in it).  One
batch stopped by one Ctrl-C in the borough's forked process serves the tests of a single Ctrl-C
(``stopped_once``); the held-down key has its own.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from locmap.api import RunOptions
from locmap.batch import cache
from locmap.batch.borough import (ATTEMPTS_FILE, SUMMARY_FILE, BoroughOutcome, BoroughTask, done_record,
                                  read_attempts)
from locmap.batch.engine import MANIFEST_FILE, STATUS_FILE, finished_while_stopping

pytestmark = pytest.mark.realdata

#: Hang detectors, not timing figures.
START_S, STOP_S = 600.0, 120.0
#: The borough each batch runs (slug) and its code.
BOROUGH, CODE = "ealing", "E09000009"


def wait_for(path: Path, proc: subprocess.Popen, limit_s: float) -> None:
    t0 = time.monotonic()
    while not path.exists():
        assert proc.poll() is None, f"the batch ended before {path.name} appeared: {proc.communicate()}"
        assert time.monotonic() - t0 < limit_s, f"{path} did not appear in {limit_s:g} s"
        time.sleep(0.2)


def forked_from_a_worker(family: list) -> bool:
    """Whether one of the processes is a child forked from another of them (the same command line as
    its parent: the borough's process forked from its worker; a worker's differs from the command's)."""
    pids = {p.pid for p in family}
    for p in family:
        try:
            parent = p.parent()
            if parent is not None and parent.pid in pids and p.cmdline() == parent.cmdline():
                return True
        except psutil.Error:  # ended meanwhile
            continue
    return False


def wait_for_forked_borough(proc: subprocess.Popen, limit_s: float) -> list:
    """The command's processes once the borough's child forked from its worker is among them (a warm
    worker forks it at once: it may already run when the borough's attempts file appears)."""
    t0 = time.monotonic()
    while not forked_from_a_worker(family := psutil.Process(proc.pid).children(recursive=True)):
        assert proc.poll() is None, f"the batch ended before the borough forked: {proc.communicate()}"
        assert time.monotonic() - t0 < limit_s, f"no borough process appeared in {limit_s:g} s"
        time.sleep(0.05)
    return family


def interrupted_batch(out: Path, presses: int = 1, in_child: bool = False) -> tuple[subprocess.Popen, str, str, list]:
    """Start a one-borough batch, press Ctrl-C (SIGINT to the process group) once the borough is
    running (``in_child``: once its worker has forked the borough's process), then up to
    ``presses - 1`` more times, 0.02 s apart (a key held down), while the batch stops; (process,
    stdout, stderr, the command's child processes).  Ealing, not the City of London: on a warmed
    worker the City's job ends within a second of starting, before the Ctrl-C could stop it."""
    cmd = [sys.executable, "-m", "locmap", "batch", "--region", "london", "--out", str(out),
           "--boroughs", BOROUGH, "--no-maps", "--no-progress", "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        wait_for(out / "boroughs" / BOROUGH / ATTEMPTS_FILE, proc, START_S)  # the borough is running
        family = psutil.Process(proc.pid).children(recursive=True)
        assert family, "no worker processes found"
        if in_child:
            family = wait_for_forked_borough(proc, START_S)
        os.killpg(proc.pid, signal.SIGINT)
        for _ in range(presses - 1):
            time.sleep(0.02)
            if proc.poll() is not None:
                break
            os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=STOP_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc, stdout, stderr, family


def still_running(family: list, limit_s: float) -> list:
    """The processes of ``family`` still running after up to ``limit_s`` seconds (returns as soon as
    none is).  A process that has ended counts as ended at once, also while it waits as a zombie for
    its reaper: the command's worker processes are reparented to PID 1 when the command exits, and
    waiting until PID 1 reaps them (psutil.wait_procs) waited ~2 s on that reaper's own schedule."""
    deadline = time.monotonic() + limit_s
    while True:
        alive = []
        for p in family:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                continue
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.02)


def assert_stopped_in_one_line(proc: subprocess.Popen, stdout: str, stderr: str, family: list) -> list[str]:
    """Exit 130, the interrupt as the third and last line of stderr, no traceback, and none of the
    command's processes left running after 30 s; stderr's lines."""
    assert proc.returncode == 130, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 3 and lines[2].startswith("locmap: interrupted: 0 of 1 borough finished"), stderr
    assert "Traceback" not in stderr + stdout
    alive = still_running(family, limit_s=30)
    assert alive == [], f"processes left behind: {alive}"
    return lines


@pytest.fixture(scope="module")
def stopped_once(tmp_path_factory):
    """One batch stopped by one Ctrl-C while its borough runs in the process forked from its worker:
    (batch folder, process, stdout, stderr, the command's child processes).  READ ONLY."""
    out = tmp_path_factory.mktemp("interrupted") / "london"
    return (out, *interrupted_batch(out, in_child=True))


def test_ctrl_c_stops_the_cluster_marks_the_borough_and_exits_130_in_one_line(stopped_once):
    out, proc, stdout, stderr, family = stopped_once
    lines = assert_stopped_in_one_line(proc, stdout, stderr, family)
    # the progress lines before it, then one line for the interrupt and nothing after it
    assert lines[:2] == ["Greater London: 1 borough, 0 cached, 1 to compute", lines[1]] and "dashboard" in lines[1]
    status = pd.read_csv(out / STATUS_FILE, keep_default_na=False)
    assert status[["lad_cd", "status"]].values.tolist() == [[CODE, "interrupted"]]
    assert "interrupted (Ctrl-C)" in status["error"].iloc[0]
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["state"] == "interrupted" and manifest["status"] == {CODE: "interrupted"}
    assert not (out / "boroughs" / BOROUGH / "done.json").exists()


def test_more_ctrl_c_while_the_batch_stops_still_end_in_one_line_with_no_worker_left(tmp_path):
    """Ctrl-C held down (pressed every 0.02 s until the command ends) while the cluster closes: the
    stop the first press began still runs to its end."""
    out = tmp_path / "london"
    proc, stdout, stderr, family = interrupted_batch(out, presses=3000)
    assert_stopped_in_one_line(proc, stdout, stderr, family)
    status = pd.read_csv(out / STATUS_FILE, keep_default_na=False)
    assert status[["lad_cd", "status"]].values.tolist() == [[CODE, "interrupted"]]
    assert json.loads((out / MANIFEST_FILE).read_text())["state"] == "interrupted"


def test_ctrl_c_while_the_borough_runs_in_its_forked_process_leaves_no_process_behind(stopped_once):
    """The borough's process forked from the worker goes with the worker when the cluster closes."""
    out, proc, stdout, stderr, family = stopped_once  # the Ctrl-C came once the borough's process ran
    assert_stopped_in_one_line(proc, stdout, stderr, family)
    assert pd.read_csv(out / STATUS_FILE, keep_default_na=False)["status"].tolist() == ["interrupted"]
    assert not (out / "boroughs" / BOROUGH / "done.json").exists()
    leftovers = [p for p in (out / "boroughs" / BOROUGH).rglob(".*") if p.is_file()]
    assert leftovers == [], "temporary files left behind"
    # stopped by its closing worker at once (the attempt's result), not when dask killed the busy
    # worker ~4 s later (an attempt without a result: the worker died)
    assert read_attempts(out / "boroughs" / BOROUGH) == (
        1, "BoroughStopped: the borough's process was stopped: its worker is closing")
    # stopped, not orphaned: a borough's process left running (no PR_SET_PDEATHSIG) held the
    # command's output pipes open until it had finished its whole job, and the run then said complete
    run = out / "boroughs" / BOROUGH / "run.json"
    assert not run.exists() or json.loads(run.read_text())["status"] != "complete"


def _finished(tmp_path: Path, settings, name: str, lad_cd: str, run_id: str) -> BoroughTask:
    """A borough task whose folder holds a finished borough (``done.json`` of ``run_id``, summary)."""
    task = BoroughTask(region="london", lad_cd=lad_cd, lad_nm=name, area=f"london:{name.lower()}",
                       out_dir=tmp_path / name, settings=settings, options=RunOptions(), input_hash="h" * 64)
    task.out_dir.mkdir()
    (task.out_dir / SUMMARY_FILE).write_text(json.dumps({"lad_cd": lad_cd}), encoding="utf-8")
    outcome = BoroughOutcome(lad_cd=lad_cd, status="done", seconds=7.5, run_id=run_id, finished_utc="now")
    cache.write_done(task.out_dir, done_record(task, outcome))
    return task


def test_a_borough_that_finished_while_the_batch_stopped_counts_as_done_not_interrupted(tmp_path, settings):
    """After Ctrl-C the cluster takes a moment to close; a borough that wrote its whole results in that
    moment was marked 'interrupted' beside its done.json (a rerun took it as cached)."""
    this_run = _finished(tmp_path, settings, "Croydon", "E09000008", run_id="run-now")
    earlier_run = _finished(tmp_path, settings, "Camden", "E09000007", run_id="run-before")
    unfinished = BoroughTask(region="london", lad_cd="E09000001", lad_nm="City", area="london:city-of-london",
                             out_dir=tmp_path / "City", settings=settings, options=RunOptions(), input_hash="h" * 64)
    found = finished_while_stopping([this_run, earlier_run, unfinished], {}, "run-now")
    assert list(found) == ["E09000008"]
    assert (found["E09000008"].status, found["E09000008"].seconds, found["E09000008"].summary) == (
        "done", 7.5, {"lad_cd": "E09000008"})
    assert finished_while_stopping([this_run], {"E09000008": found["E09000008"]}, "run-now") == {}
