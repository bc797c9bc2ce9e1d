"""Ctrl-C: one line ``locmap: interrupted``, exit 130, no traceback, and the partial output removed
(a new folder) or marked incomplete (``run.json`` status) — a process of its own sent SIGINT, as a
terminal does.  The runs interrupted mid-work are forked by one starter process that imported the
library once (tests/conftest.py ``locmap_starter``, tests/forked_locmap.py: each is still a process
of its own running ``locmap``'s entry point and exiting as it does); a Ctrl-C while the library is
still being imported, and the commands interrupted after a fixed time, go to ``python -m locmap``."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _start(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOCMAP_NO_PROGRESS": "1"}
    return subprocess.Popen([sys.executable, "-m", "locmap", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _interrupt_when(proc: subprocess.Popen, ready, timeout_s: float = 300) -> tuple[str, str]:
    """SIGINT once ``ready()`` holds (the command is doing work), then wait for the exit."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the command never reached the point to interrupt"
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    return proc.communicate(timeout=120)


def _interrupt_and_watch(proc: subprocess.Popen, ready, timeout_s: float) -> tuple[str, str, list]:
    """:func:`_interrupt_when`, and every process the command had started (its second process)
    from the moment it was ready until it exited."""
    seen: dict[int, psutil.Process] = {}
    result: list[tuple[str, str]] = []

    def interrupt() -> None:
        result.append(_interrupt_when(proc, ready, timeout_s))

    stopper = threading.Thread(target=interrupt)
    stopper.start()
    watching = False
    while stopper.is_alive():
        watching = watching or ready()
        if watching:
            try:
                seen.update((p.pid, p) for p in psutil.Process(proc.pid).children(recursive=True))
            except psutil.NoSuchProcess:  # the command has ended
                pass
        time.sleep(0.05)  # a scan of the process table costs ~2 ms of CPU; the first comes as soon as ready
    stopper.join()
    assert result, "the interrupt was not sent (see the error above)"
    return (*result[0], list(seen.values()))


def _ended(processes: list, limit_s: float) -> None:
    """Wait until every one of ``processes`` has ended (a zombie waiting for its reaper has), at
    most ``limit_s`` seconds."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            if not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in processes):
                return
        except psutil.NoSuchProcess:
            continue
        time.sleep(0.02)


def _assert_one_line(proc: subprocess.Popen, err: str) -> None:
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.strip().splitlines()[-1] == "locmap: interrupted"
    assert err.count("locmap: interrupted") == 1


def test_interrupting_a_run_into_a_previous_run_marks_it_incomplete(tmp_path, locmap_starter):
    out = tmp_path / "out"
    (out / "maps").mkdir(parents=True)
    (out / "maps" / "ealing.html").write_text("previous run\n")
    (out / "timings.csv").write_text("step,seconds\n")
    proc = locmap_starter.start("run", "--area", "ealing", "--out", str(out), "--schemes", "towns", "--no-report",
                  cwd=tmp_path)
    _out, err = _interrupt_when(proc, lambda: (out / "rejects.csv").exists())
    _assert_one_line(proc, err)
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["status"] == "incomplete" and manifest["reason"] == "interrupted"
    assert "maps/ealing.html" in manifest["files"] and "rejects.csv" in manifest["files"]


def test_interrupting_a_run_into_a_new_folder_removes_it(tmp_path, locmap_starter):
    out = tmp_path / "new"
    proc = locmap_starter.start("run", "--area", "ealing", "--out", str(out), "--schemes", "towns", cwd=tmp_path)
    _out, err = _interrupt_when(proc, lambda: (out / "rejects.csv").exists())
    _assert_one_line(proc, err)
    assert not out.exists()


def _big_register(path: Path, rows: int = 300_000) -> Path:
    """A valid register large enough that reading and checking it takes tens of seconds on any
    machine, so an interrupt after a few seconds lands mid-work however fast the code gets."""
    types = ("gp_practice", "library", "pharmacy", "primary_school")
    with path.open("w", encoding="utf-8") as f:
        f.write("service_id,name,service_type,easting,northing\n")
        for k in range(rows):
            f.write(f"big{k},Synthetic service {k},{types[k % 4]},{510_000 + k % 20_000},{175_000 + k % 10_000}\n")
    return path


@pytest.fixture(scope="module")
def big_register(tmp_path_factory) -> Path:
    """:func:`_big_register`, written once for the tests that read it (none of them changes it)."""
    return _big_register(tmp_path_factory.mktemp("big") / "big.csv")


@pytest.mark.parametrize("command, after_s", [(["check", "--area", "ealing", "--services", "big.csv"], 3.0),
                                             (["access", "--area", "ealing", "--services", "big.csv",
                                               "--out", "acc"], 3.0),
                                             (["check", "--area", "ealing"], 0.3)])  # still importing
def test_interrupting_any_command_is_one_line_exit_130(tmp_path, command, after_s, big_register):
    if "big.csv" in command:
        os.link(big_register, tmp_path / "big.csv")  # the same file under the name the command reads
    proc = _start(*command, cwd=tmp_path)
    time.sleep(after_s)
    if proc.poll() is not None:
        pytest.fail(f"finished before the interrupt: {proc.communicate()}")
    _out, err = _interrupt_when(proc, lambda: True)
    _assert_one_line(proc, err)


def test_interrupting_a_run_while_its_second_process_writes_stops_both_and_removes_the_folder(tmp_path, locmap_starter):
    """Ctrl-C while the access tables are written in the second process (locmap._background):
    the run waits for that process to stop before it removes the new folder, so nothing is
    written into it afterwards."""
    out = tmp_path / "new"
    proc = locmap_starter.start("run", "--area", "ealing", "--out", str(out), "--schemes", "towns", cwd=tmp_path)
    _out, err, second = _interrupt_and_watch(proc, lambda: (out / "access").exists(), timeout_s=600)
    _assert_one_line(proc, err)
    assert second, "no second process was seen: the interrupt did not come while it wrote"
    assert not out.exists()
    # a writer left running would create the folder again: 2 s for it to show, or until every
    # process the run had started has ended (then nothing can)
    _ended(second, limit_s=2.0)
    assert not out.exists()


def test_interrupting_a_run_while_its_second_process_writes_leaves_no_half_written_file(tmp_path, locmap_starter):
    out = tmp_path / "out"
    (out / "maps").mkdir(parents=True)
    (out / "timings.csv").write_text("step,seconds\n")
    proc = locmap_starter.start("run", "--area", "ealing", "--out", str(out), "--schemes", "towns", "--no-report",
                  cwd=tmp_path)
    _out, err = _interrupt_when(proc, lambda: (out / "access").exists(), timeout_s=600)
    _assert_one_line(proc, err)
    assert json.loads((out / "run.json").read_text())["status"] == "incomplete"
    assert [p.name for p in out.rglob(".*")] == []  # no temporary file of an atomic write left
