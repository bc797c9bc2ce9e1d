"""A borough's job in a child forked from its warm worker process (Linux).

A batch worker runs borough after borough.  Run in the worker process itself, each borough leaves
its heap ~20 MB larger than the one before (BENCHMARKS.md), so workers used to be replaced every
few boroughs (rounds on fresh clusters), and each replacement imported the stack and parsed the
London-wide files again.  Here the worker process stays warm and each borough runs in a child made
by ``os.fork``: the child has the worker's imported modules and parsed London-wide data
(:mod:`locmap.data.memo`) copy-on-write, computes the borough, hands back its summary and step
log through a pipe, and exits, so whatever it allocated goes with it: the worker's memory is the
same before each borough, whatever the number of boroughs.

Rules (:func:`compute_forked`):

* the worker process warms only what is safe to fork (:func:`warm`): it imports what the job
  imported in its first child and parses the London-wide files by loading its first borough's
  data.  It never runs the job itself, so no OpenMP code (scikit-learn's k-means behind the map
  classes and the generated localities) has run in it: GNU OpenMP's threads do not survive a
  fork once started, and the child would wait for them forever;
* the child ignores SIGINT (the command decides), turns SIGTERM into ``KeyboardInterrupt`` (an
  atomic writer then removes its temporary file), and gets SIGTERM when the worker dies
  (``PR_SET_PDEATHSIG``), so no child outlives its worker (Ctrl-C closes the cluster);
* an exception in the child is raised again in the worker with its class, message and attributes
  (a :class:`~locmap.errors.LocmapError` keeps its message and remedy), and the child's
  traceback as a note;
* a child that dies without an answer (killed, out of memory) takes its worker down with the same
  exit status: dask then sees a worker that died during the borough, as before the fork
  (``KilledWorker`` after the retries, the attempt's start without a result).

A worker of the batch's own local cluster that closes (the batch was stopped: Ctrl-C) stops the
borough's process it forked at once (:class:`ClosingWorker`, :func:`stop_borough`) instead of waiting
for dask's timeout while the child computes on, and freezes its heap so that its exit skips
the collector's passes over it.

Where ``os.fork`` is not available (macOS and Windows workers of a running scheduler) the
job runs in the worker process, as before.
"""
from __future__ import annotations

import ctypes
import gc
import importlib
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from distributed import WorkerPlugin

from locmap._background import portable_exception, quiet_about_a_dropped_stop, rebuilt_exception

#: prctl(2) option: the signal a process gets when the thread that forked it ends (Linux)
_PR_SET_PDEATHSIG = 1
#: modules the first child imported that the worker process has imported since (:func:`warm`)
_WARMED: set[str] = set()
#: the borough's process running now (its pid, or None) and whether this worker is closing
#: (:func:`stop_borough`), both under the lock: a child forked after the worker began to close is
#: stopped as it starts
_CHILD: dict[str, Any] = {"pid": None, "closing": False}
_CHILD_LOCK = threading.Lock()


class BoroughStopped(Exception):
    """The borough's process was stopped because its worker is closing (the batch was stopped);
    nobody waits for the borough's answer."""


def fork_available() -> bool:
    """True where a borough can run in a forked child: Linux, which has ``os.fork`` and
    ``prctl``.  macOS's system libraries are not fork-safe once used, and Windows has no fork."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def warm(modules: list[str]) -> int:
    """Import ``modules`` (what a child imported for its borough) into this process, once each,
    so the next children inherit them instead of importing them again.  Importing runs no
    OpenMP code (its thread pool starts on the first parallel loop, in a child).  A module that
    does not import here (one a test made up, say) is skipped: the child imports it itself.
    Returns how many of them this call tried to import (0: nothing new)."""
    tried = 0
    for name in modules:
        if name in _WARMED or name in sys.modules:
            continue
        _WARMED.add(name)
        tried += 1
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - warming is an optimisation; the child imports what it needs
            continue
    return tried


def compute_forked(compute: Callable[..., dict], task: Any, say: Callable[[str], None],
                   on_start: Callable[[int], None] = lambda _pid: None) -> tuple[dict, list[str]]:
    """``compute(task, say)`` in a forked child; (its summary, the modules it imported that this
    process had not).  The child's step log goes to ``say`` when it ends; ``on_start(pid)`` is
    called with the child's process id as soon as it runs (memory sampling).

    Raises
    ------
    BaseException
        The child's exception, rebuilt here with its class, message, attributes and traceback.
    """
    read_fd, write_fd = os.pipe()
    parent_pid = os.getpid()
    gc.freeze()  # the child's collector leaves the inherited objects (and their pages) alone
    try:
        pid = os.fork()
    except OSError:
        gc.unfreeze()
        os.close(read_fd)
        os.close(write_fd)
        raise
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        _child(write_fd, parent_pid, compute, task)
    gc.unfreeze()
    os.close(write_fd)
    _running(pid)
    on_start(pid)
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    stopped = _running(None)  # before the wait: a pid is not reused while its process is unreaped
    _pid, wait_status = os.waitpid(pid, 0)
    try:
        kind, payload, lines, modules = pickle.loads(data)
    except Exception:  # noqa: BLE001 - no answer, or one cut short: the child died, and so does this worker
        if stopped:  # ... unless this worker stopped it, closing
            raise BoroughStopped("the borough's process was stopped: its worker is closing") from None
        _die_like(wait_status)
    for line in lines:
        say(line)
    if kind == "error":
        raise rebuilt_exception(*payload, where="the borough's process, forked from this worker")
    return payload, modules


def _running(pid: int | None) -> bool:
    """Note the borough's process running now (``None``: it has ended); returns whether this worker
    is closing, after stopping a process started meanwhile (:func:`stop_borough`)."""
    with _CHILD_LOCK:
        _CHILD["pid"] = pid
        closing = _CHILD["closing"]
    if closing and pid is not None:
        _stop(pid)
    return closing


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:  # pragma: no cover - ended meanwhile
        pass


def stop_borough() -> None:
    """This worker is closing (the batch was stopped): stop the borough's process it forked, now and
    any it forks from here on, with SIGTERM (the child removes its temporary files and ends; see
    :func:`_on_sigterm`).  The borough's task then raises :class:`BoroughStopped` in the worker, which
    goes on closing: dask waited ~4 s for the busy worker (``Nanny.kill``'s timeout) while the
    child computed on, then killed the worker, which took the child with it (``PR_SET_PDEATHSIG``)."""
    with _CHILD_LOCK:
        _CHILD["closing"] = True
        pid = _CHILD["pid"]
    if pid is not None:
        _stop(pid)


class ClosingWorker(WorkerPlugin):
    """Installed on the worker processes of a batch's own local cluster (``plugins=`` of
    :class:`~distributed.LocalCluster`; a worker started in place of a dead one gets it too).  When the
    worker closes (its teardown runs before the worker waits for its running task): the borough's
    process is stopped (:func:`stop_borough`), and the worker's heap is frozen (``gc.freeze``), so that
    the interpreter's exit does not walk it in the collector's final passes (a warm worker's exit:
    ~1.1 s of CPU without, ~0.2 s with)."""

    name = "locmap-closing-worker"

    def teardown(self, worker: Any) -> None:  # noqa: ARG002 - WorkerPlugin signature
        stop_borough()
        gc.freeze()


def _die_like(wait_status: int) -> None:
    """End this process the way its child ended (the same signal or exit code), without cleanup:
    dask's nanny reports the worker dead and the borough is retried elsewhere."""
    if os.WIFSIGNALED(wait_status):
        os.kill(os.getpid(), os.WTERMSIG(wait_status))
    os._exit(os.waitstatus_to_exitcode(wait_status) if os.WIFEXITED(wait_status) else 1)


#: seconds a child told to stop (SIGTERM) has to end before SIGALRM's default action ends it
_STOP_GRACE_S = 5


def _on_sigterm(_signum: int, _frame: Any) -> None:
    """Stop: ``KeyboardInterrupt``, so an atomic writer removes its temporary file.  Python drops
    an exception raised while it runs a finalizer or a garbage-collection callback, and the child
    then went on (finishing its borough after the batch had marked it interrupted, its "Exception
    ignored" report in the command's output); the alarm ends the child if it has not ended by then."""
    signal.alarm(_STOP_GRACE_S)
    raise KeyboardInterrupt


def _child(write_fd: int, parent_pid: int, compute: Callable[..., dict], task: Any) -> None:
    """The forked child: compute the borough, send the answer, exit (``os._exit``: nothing of
    the worker's, no dask thread, atexit hook or finaliser, runs here)."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, _on_sigterm)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        gc.callbacks.clear()  # the worker's (dask's GC diagnosis): nothing here reads them
        sys.unraisablehook = quiet_about_a_dropped_stop
        lines: list[str] = []
        before = set(sys.modules)
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != parent_pid:  # the worker died before that was set
                raise KeyboardInterrupt
            answer = ("ok", compute(task, lines.append))
        except KeyboardInterrupt:  # SIGTERM: stopped, as a killed worker is (no answer)
            raise
        except BaseException as exc:  # noqa: BLE001 - every other failure goes back to the worker
            answer = ("error", portable_exception(exc))
        modules = sorted(set(sys.modules) - before)
        try:
            data = pickle.dumps((*answer, lines, modules))
        except Exception as exc:  # noqa: BLE001 - e.g. a summary value that does not pickle
            data = pickle.dumps(("error", portable_exception(exc), lines, modules))
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(data)
    except BaseException:  # noqa: BLE001 - stopped, or the worker gone: no answer, the worker ends too
        code = 1
    finally:
        os._exit(code)


__all__ = ["fork_available", "compute_forked", "warm", "stop_borough", "BoroughStopped", "ClosingWorker"]
