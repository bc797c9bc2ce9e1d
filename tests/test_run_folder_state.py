"""A run killed outright (SIGKILL, a power cut) cannot mark its folder: ``run.json`` still says
``running``.  It records the run's process (pid, host, process start time), so every reader tells a
live run from a dead one: complete / incomplete / running / abandoned (``locmap.runfolder.folder_state``)."""
from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import psutil
import pytest

from locmap import api
from locmap._background import SERIAL_ENV
from locmap.cli import main
from locmap.errors import IncompleteRunError, RunFolderBusyError
from locmap.runfolder import (ABANDONED, COMPLETE, INCOMPLETE, RUNNING, folder_state, require_complete, start,
                              this_process)

LIGHT = api.RunOptions(schemes=("towns",), maps=False, report=False)
LIGHT_ARGS = ("--schemes", "towns", "--no-maps", "--no-report")


def _manifest(out: Path) -> dict:
    return json.loads((out / "run.json").read_text())


def _write_manifest(out: Path, **fields) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "timings.csv").write_text("step,seconds\n")
    (out / "run.json").write_text(json.dumps({"started_utc": "2026-12-07T08:00:00Z", "files": [], **fields}))


def _start_run(starter, out: Path, cwd: Path):
    """``locmap run`` into ``out`` as a process of its own (tests/conftest.py ``locmap_starter``: forked
    after the library's imports), Popen-like."""
    return starter.start("run", "--area", "ealing", "--out", str(out), *LIGHT_ARGS, cwd=cwd)


def _wait_until_working(proc, out: Path, timeout_s: float = 300) -> None:
    """Until the run has written its first output (rejects.csv: after loading, before access)."""
    deadline = time.monotonic() + timeout_s
    while not (out / "rejects.csv").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.2)


def test_a_sigkilled_run_is_abandoned_and_the_next_run_says_so_in_one_line_and_replaces_it(tmp_path, settings,
                                                                                             capsys, locmap_starter):
    out = tmp_path / "out"
    proc = _start_run(locmap_starter, out, tmp_path)
    try:
        _wait_until_working(proc, out)
        live = folder_state(out)
        assert live.state == RUNNING and f"pid {proc.pid} on {socket.gethostname()}" in live.detail
        recorded = _manifest(out)["process"]
        assert recorded["pid"] == proc.pid
        assert abs(recorded["started_unix"] - psutil.Process(proc.pid).create_time()) < 0.05

        # a second run into the folder of a live run is refused before any work, naming the process
        rc = main(["run", "--area", "ealing", "--out", str(out), *LIGHT_ARGS])
        err = capsys.readouterr().err
        assert rc == 2 and "another locmap run is writing here" in err and f"pid {proc.pid}" in err
        assert "--force" in err and _manifest(out)["process"]["pid"] == proc.pid
        assert proc.poll() is None, "the run finished before it could be killed: nothing was tested"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert _manifest(out)["status"] == "running"  # nothing could mark it

    dead = folder_state(out)
    assert dead.state == ABANDONED and f"pid {proc.pid}" in dead.detail and "that process is gone" in dead.detail
    rc = main(["export", "--xlsx", "--run", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "stopped without finishing" in err and not list(out.glob("*.xlsx"))

    said: list[str] = []
    with pytest.MonkeyPatch.context() as mp:  # the next run's steps one after the other in this process
        mp.setenv(SERIAL_ENV, "1")            # (locmap._background): its note and the folder are checked
        api.run_all("ealing", settings, out, LIGHT, say=said.append)
    notes = [m for m in said if "stopped without finishing" in m]
    assert len(notes) == 1 and "\n" not in notes[0] and f"pid {proc.pid}" in notes[0]
    assert notes[0].endswith("this run replaces its files")
    manifest = _manifest(out)
    assert manifest["status"] == "complete" and manifest["previous_run_state"] == ABANDONED
    assert manifest["process"]["pid"] == os.getpid() and folder_state(out).state == COMPLETE


def test_a_pid_now_held_by_another_process_is_not_the_run(tmp_path):
    """pid reuse: this test's own pid, but the run's process started an hour before this one did."""
    me = this_process()
    _write_manifest(tmp_path, status="running", process={**me, "started_unix": me["started_unix"] - 3600})
    state = folder_state(tmp_path)
    assert state.state == ABANDONED and f"pid {os.getpid()}" in state.detail


def test_a_live_process_with_its_own_start_time_is_running(tmp_path):
    _write_manifest(tmp_path, status="running", process=this_process())
    assert folder_state(tmp_path).state == RUNNING
    with pytest.raises(RunFolderBusyError, match=f"pid {os.getpid()} on "):
        start(tmp_path, settings=None)


def test_a_run_on_another_machine_cannot_be_checked_so_it_counts_as_running_unless_forced(tmp_path):
    _write_manifest(tmp_path, status="running",
                    process={"pid": 1, "hostname": "planning-pc-7", "started_unix": 1.0e9})
    state = folder_state(tmp_path)
    assert state.state == RUNNING and "planning-pc-7" in state.detail and "another machine" in state.detail
    with pytest.raises(RunFolderBusyError) as err:
        start(tmp_path, settings=None)
    assert "wait for that run to finish" in str(err.value) and "--force" in str(err.value)
    run = start(tmp_path, settings=None, force=True)
    assert run.note.startswith(f"note: {tmp_path}: --force:") and "planning-pc-7" in run.note
    assert _manifest(tmp_path)["previous_run_state"] == RUNNING


def test_a_running_manifest_without_a_process_is_abandoned(tmp_path):
    """run.json written before the process was recorded: nothing can be running under it."""
    _write_manifest(tmp_path, status="running")
    assert folder_state(tmp_path).state == ABANDONED
    run = start(tmp_path, settings=None)
    assert "stopped without finishing" in run.note and "recorded no process" in run.note


def test_an_interrupted_run_is_incomplete_refused_by_readers_and_noted_by_the_next_run(tmp_path):
    _write_manifest(tmp_path, status="incomplete", reason="interrupted", process=this_process())
    assert folder_state(tmp_path).state == INCOMPLETE
    with pytest.raises(IncompleteRunError, match="did not finish .interrupted"):
        require_complete(tmp_path, "the workbook reads its tables")
    assert start(tmp_path, settings=None).note == (f"note: {tmp_path}: the previous run did not finish "
                                                   "(interrupted); this run replaces its files")


def test_the_note_on_a_failed_run_is_one_line(tmp_path):
    """A failed run records its error, whose message ends with a remedy on another line."""
    _write_manifest(tmp_path, status="incomplete", reason="DataFileError: services.csv: row 3: no type\n"
                                                          "  What to do: fix the row")
    note = start(tmp_path, settings=None).note
    assert note == (f"note: {tmp_path}: the previous run did not finish (DataFileError: services.csv: row 3: "
                    "no type); this run replaces its files")


def test_a_complete_run_and_a_folder_from_before_run_json_are_read(tmp_path):
    _write_manifest(tmp_path / "done", status="complete", finished_utc="2026-12-07T08:01:00Z")
    assert require_complete(tmp_path / "done", "x").state == COMPLETE
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "timings.csv").write_text("step,seconds\n")
    assert require_complete(tmp_path / "old", "x").state is None
    assert start(tmp_path / "done", settings=None).note == ""
