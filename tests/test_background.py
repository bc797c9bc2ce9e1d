"""Steps in a second process (locmap._background): the value or the error comes back as if the
step had run in the calling process; a cancelled step leaves no file, whole or half-written."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from locmap import _background
from locmap._background import Background
from locmap.errors import OutputError
from locmap.export import atomic_path, write_text


def _pid_and_sum(a: int, b: int = 0) -> tuple[int, int]:
    return os.getpid(), a + b


def _fail(path: Path) -> None:
    raise OutputError(path, "disk full: no space left", remedy="free some space", errno=28)


def _write_slowly(path: Path, seconds: float) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text("half")
        time.sleep(seconds)
        tmp.write_text("whole")


def test_a_background_step_runs_in_another_process_and_returns_its_value():
    job = Background("sum", _pid_and_sum, 2, b=40)
    pid, total = job.result()
    assert total == 42
    assert pid != os.getpid()


def test_an_error_in_the_background_is_raised_with_its_class_message_and_remedy(tmp_path):
    job = Background("fail", _fail, tmp_path / "x.csv")
    with pytest.raises(OutputError) as info:
        job.result()
    here = OutputError(tmp_path / "x.csv", "disk full: no space left", remedy="free some space", errno=28)
    assert str(info.value) == str(here)  # the message as the user would see it in one process
    assert info.value.remedy == "free some space"
    assert info.value.errno == 28


def test_a_result_is_collected_once():
    job = Background("sum", _pid_and_sum, 1)
    job.result()
    with pytest.raises(RuntimeError, match="collected already"):
        job.result()


def test_cancelling_stops_the_step_and_removes_its_half_written_file(tmp_path):
    target = tmp_path / "table.csv"
    job = Background("write", _write_slowly, target, 60.0)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".table.csv.*")):  # the child is inside the atomic write
        assert time.monotonic() < deadline
        time.sleep(0.05)
    t0 = time.monotonic()
    job.cancel()
    assert time.monotonic() - t0 < _background.CANCEL_WAIT_S  # stopped, not waited out
    assert list(tmp_path.iterdir()) == []


def test_without_fork_the_step_runs_in_the_calling_process_when_collected(tmp_path, monkeypatch):
    monkeypatch.setenv(_background.SERIAL_ENV, "1")
    target = tmp_path / "late.txt"
    job = Background("write", write_text, target, "text")
    assert not target.exists()  # nothing runs before the result is asked for
    assert job.result() == target and target.read_text() == "text"
    pid, _ = Background("sum", _pid_and_sum, 1).result()
    assert pid == os.getpid()


def _hand_over_then_wait(hand_over, go_on: Path) -> tuple[int, str]:
    hand_over({"tables": [1, 2, 3], "pid": os.getpid()})
    deadline = time.monotonic() + 60
    while not go_on.exists():  # still working after the hand-over, until the test says so
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return os.getpid(), "written"


def _fail_before_handing_over(hand_over, path: Path) -> None:
    _fail(path)


def test_a_value_handed_over_part_way_arrives_while_the_step_goes_on(tmp_path):
    go_on = tmp_path / "go_on"
    job = Background("tables", _hand_over_then_wait, go_on, hands_over=True)
    early = job.handed_over()
    assert early["tables"] == [1, 2, 3] and early["pid"] != os.getpid()
    assert job._proc.is_alive()  # the step has not ended: the value came before it
    assert job.handed_over() is early  # asked again: the same value, nothing more read
    go_on.touch()
    assert job.result() == (early["pid"], "written")


def _hand_over_a_lot_then_write(hand_over, path: Path) -> None:
    hand_over(b"x" * 4_000_000)  # far more than a pipe holds: sent while nobody reads
    _write_slowly(path, 60.0)


def test_cancelling_after_a_large_hand_over_nobody_read_stops_the_step_at_once(tmp_path):
    target = tmp_path / "table.csv"
    job = Background("tables", _hand_over_a_lot_then_write, target, hands_over=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".table.csv.*")):  # handed over (unread), now inside the write
        assert time.monotonic() < deadline
        time.sleep(0.05)
    t0 = time.monotonic()
    job.cancel()
    assert time.monotonic() - t0 < _background.CANCEL_WAIT_S  # stopped, not waited out then killed
    assert job._proc.exitcode is not None and job._proc.exitcode != -9
    assert list(tmp_path.iterdir()) == []


def test_an_error_before_the_hand_over_is_raised_by_handed_over_with_its_class(tmp_path):
    job = Background("tables", _fail_before_handing_over, tmp_path / "x.csv", hands_over=True)
    with pytest.raises(OutputError, match="disk full") as info:
        job.handed_over()
    assert info.value.remedy == "free some space"


def test_without_fork_handed_over_runs_the_whole_step_and_result_returns_its_value(tmp_path, monkeypatch):
    monkeypatch.setenv(_background.SERIAL_ENV, "1")
    go_on = tmp_path / "go_on"
    go_on.touch()
    job = Background("tables", _hand_over_then_wait, go_on, hands_over=True)
    early = job.handed_over()
    assert early["pid"] == os.getpid()
    assert job.result() == (os.getpid(), "written")


def test_a_step_started_outside_the_main_thread_runs_in_the_calling_process():
    """A batch's dask worker runs boroughs in threads: no fork there (its cores are taken)."""
    found = []
    worker = threading.Thread(target=lambda: found.append(Background("sum", _pid_and_sum, 1).result()))
    worker.start()
    worker.join()
    assert found == [(os.getpid(), 1)]


_KILLED_PARENT = """
import sys, time
from pathlib import Path
from locmap._background import Background
from locmap.export import atomic_path

def write(path):
    with atomic_path(path) as tmp:
        tmp.write_text("half")
        time.sleep(120)
        tmp.write_text("whole")

job = Background("write", write, Path(sys.argv[1]))
time.sleep(120)
"""


def test_a_run_killed_outright_takes_its_background_step_with_it(tmp_path):
    """SIGKILL gives the run no chance to stop its second process: the child is sent SIGTERM by
    the kernel (PR_SET_PDEATHSIG) and removes its half-written file instead of writing on."""
    target = tmp_path / "table.csv"
    root = Path(__file__).resolve().parents[1]
    parent = subprocess.Popen([sys.executable, "-c", _KILLED_PARENT, str(target)], cwd=root,
                              env={**os.environ, "PYTHONPATH": str(root)})
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".table.csv.*")):
        assert parent.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 30
    while list(tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(tmp_path.iterdir()) == []


def _hand_over_a_lot_and_finish(hand_over, path: Path) -> str:
    hand_over(b"x" * 4_000_000)  # far more than a pipe holds: the step then waits to send its answer
    path.touch()
    return "done"


def test_cancelling_a_finished_step_waiting_to_send_its_answer_prints_no_traceback(tmp_path, capfd):
    """Seen: Ctrl-C during `locmap run` printed "Process locmap access-write: Traceback ...
    KeyboardInterrupt" above "locmap: interrupted": the step had finished and was waiting for the
    parent to read its hand-over when it was stopped."""
    finished = tmp_path / "finished"
    job = Background("tables", _hand_over_a_lot_and_finish, finished, hands_over=True)
    deadline = time.monotonic() + 60
    while not finished.exists():  # the step's work is over: it waits on the hand-over's thread
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.2)
    job.cancel()
    assert job._proc.exitcode is not None and job._proc.exitcode != -9
    assert "Traceback" not in capfd.readouterr().err


class _StopsWhenFreed:
    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # the parent's stop, handled inside this finalizer: dropped


def _drop_a_stop_then_work(path: Path) -> None:
    _StopsWhenFreed()
    path.touch()
    time.sleep(60)


def test_a_stop_dropped_in_a_finalizer_is_not_printed_under_the_commands_line(tmp_path, capfd, monkeypatch):
    """Seen: Ctrl-C during `locmap run` printed "Exception ignored in: <function TransformNode...>
    ... KeyboardInterrupt" (the sheet's process, stopped inside a matplotlib weakref callback)."""
    monkeypatch.setattr(sys, "unraisablehook", sys.__unraisablehook__)  # Python's, not pytest's collector
    dropped = tmp_path / "dropped"
    job = Background("sheet", _drop_a_stop_then_work, dropped)
    deadline = time.monotonic() + 60
    while not dropped.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    job.cancel()
    assert job._proc.exitcode is not None
    assert "Exception ignored" not in capfd.readouterr().err
