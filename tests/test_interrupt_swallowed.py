"""Ctrl-C that Python drops (raised inside a finalizer) still stops the command (locmap._interrupt).

Seen before this: `locmap run` interrupted while its load step freed a tqdm progress bar ran to the
end and exited 0 (the KeyboardInterrupt was raised in tqdm's ``__del__`` and printed as "Exception
ignored").  Here the drop is made deterministic: an object whose ``__del__`` receives SIGINT."""
from __future__ import annotations

import signal
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from locmap import _interrupt, api, cli
from locmap.batch import engine as batch_engine

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


class _PressesCtrlCWhenFreed:
    def __del__(self) -> None:
        signal.raise_signal(signal.SIGINT)  # handled right here, inside the finalizer: dropped


def _free_one_while_pressing_ctrl_c() -> str:
    _PressesCtrlCWhenFreed()  # freed at once
    return "finished"


@pytest.fixture
def command_line_handler():
    before = signal.getsignal(signal.SIGINT)
    _interrupt.install()
    yield
    _interrupt.delivered()
    signal.signal(signal.SIGINT, before)


def test_a_ctrl_c_dropped_in_a_finalizer_is_dropped_by_python_itself(command_line_handler):
    assert _free_one_while_pressing_ctrl_c() == "finished"  # what went wrong: the step went on
    with pytest.raises(KeyboardInterrupt):
        _interrupt.raise_if_swallowed()
    _interrupt.raise_if_swallowed()  # raised once: nothing pending any more


def test_a_run_step_in_which_ctrl_c_was_dropped_stops_the_run_after_it(command_line_handler):
    step = api._Steps(say=lambda _line: None)
    with pytest.raises(KeyboardInterrupt):
        step("load", _free_one_while_pressing_ctrl_c)
    assert "load" in step.timings  # the step itself finished; the run stops before the next one


def test_a_command_in_which_ctrl_c_was_dropped_ends_interrupted(command_line_handler, monkeypatch, capsys):
    monkeypatch.setattr(cli, "_main", lambda argv: (_free_one_while_pressing_ctrl_c(), 0)[1])
    assert cli.main([]) == cli.INTERRUPTED
    assert capsys.readouterr().err.strip().splitlines()[-1] == "locmap: interrupted"


@pytest.fixture
def pythons_own_handler():
    """SIGINT handled by Python's default handler, as in a notebook or a script (a process started
    in the background of a non-interactive shell inherits SIGINT ignored: pytest launched that way)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_without_the_command_lines_handler_nothing_is_remembered(pythons_own_handler):
    """Library use (a notebook): Python's own handler, and the checks do nothing."""
    assert _free_one_while_pressing_ctrl_c() == "finished"  # dropped by Python, as with any library
    _interrupt.raise_if_swallowed()  # nothing was remembered: no KeyboardInterrupt now


_DROPS_CTRL_C_WHILE_IMPORTING = r'''
import importlib.abc, runpy, signal, sys

class _PressesCtrlCWhenFreed:
    def __del__(self):
        signal.raise_signal(signal.SIGINT)  # handled inside the finalizer: Python drops what it raises

class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "locmap.cli":  # imported by locmap.__main__ after its start-up handler is set
            sys.meta_path.remove(self)
            _PressesCtrlCWhenFreed()
        return None

sys.meta_path.insert(0, _Finder())
sys.argv = ["locmap", "--help"]
if "{way}" == "console script":  # what pip's locmap script runs
    from locmap.__main__ import run
    sys.exit(run())
runpy.run_module("locmap", run_name="__main__", alter_sys=True)
'''


@pytest.mark.parametrize("way", ["python -m locmap", "console script"])
def test_a_ctrl_c_dropped_while_the_command_line_is_still_importing_exits_130(way):
    """The start-up handler used to raise SystemExit(130): raised inside a finalizer it was dropped,
    and the command ran to the end with exit 0 (seen once under load: Ctrl-C 0.3 s into `check`)."""
    script = _DROPS_CTRL_C_WHILE_IMPORTING.replace("{way}", way)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 130, (done.returncode, done.stderr[-500:])
    assert done.stderr.strip() == "locmap: interrupted"
    assert "usage" not in done.stdout


def test_the_installed_locmap_command_is_the_one_that_guards_ctrl_c():
    """pip's ``locmap`` script called locmap.cli:main directly: no start-up handler, no guard."""
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "locmap"]
    assert script.value == "locmap.__main__:run"


_DROPS_CTRL_C_IN_A_FINALIZER = r'''
import signal
from locmap import _interrupt

class _PressesCtrlCWhenFreed:
    def __del__(self):
        signal.raise_signal(signal.SIGINT)

_interrupt.install()
_PressesCtrlCWhenFreed()
try:
    _interrupt.raise_if_swallowed()
except KeyboardInterrupt:
    print("raised again")
'''


def test_a_ctrl_c_dropped_in_a_finalizer_is_not_printed_as_exception_ignored():
    """The one line 'locmap: interrupted' is all the user sees: Python's "Exception ignored in ...
    KeyboardInterrupt" report is left out (the interrupt is raised again between steps)."""
    done = subprocess.run([sys.executable, "-c", _DROPS_CTRL_C_IN_A_FINALIZER], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "raised again\n", "")


class _NothingFinishes:
    """An ``as_completed`` whose one borough never finishes; the Ctrl-C is dropped while waiting."""

    def __init__(self) -> None:
        self.waits = 0

    def is_empty(self) -> bool:
        return False

    def next_batch(self, block: bool = True) -> list:
        assert not block, "a blocking wait would not see the dropped Ctrl-C until a borough finished"
        self.waits += 1
        if self.waits == 3:
            _PressesCtrlCWhenFreed()  # dask's gc callback, say: the KeyboardInterrupt is dropped
        return []


def test_the_batch_stops_waiting_for_boroughs_at_a_ctrl_c_a_callback_swallowed(command_line_handler):
    done = _NothingFinishes()
    with pytest.raises(KeyboardInterrupt):
        for _future in batch_engine.completed(done, poll_s=0.001):
            pass
    assert done.waits == 3
