"""Steps of a run done by a second process (the machine's other core), collected later.

``locmap run`` writes some outputs while it computes others: the access tables are written while
the localities are scored, the maps and the print sheet drawn while the decision pack and the
workbook are built.  :class:`Background` forks the running process (so the child has every
result in memory without copying or pickling it), calls one function there and hands back its
return value, or raises its exception, when :meth:`Background.result` is called.

Rules that keep a run's outputs and its Ctrl-C behaviour as they are without a second process:

* the child writes files only through :mod:`locmap.export`'s atomic writers, as the main process;
* the child ignores SIGINT (a terminal's Ctrl-C goes to the whole process group): the main
  process decides, and :meth:`Background.cancel` stops the child with SIGTERM, which the child
  turns into ``KeyboardInterrupt`` so its half-written temporary file is removed, then waits for
  it -- so nothing is written into a folder after the run has removed or marked it; a run that
  is killed outright takes the child with it (``PR_SET_PDEATHSIG``);
* an exception in the child is raised again in the main process with its type, message and
  attributes (a :class:`~locmap.errors.LocmapError` keeps its one-line message and remedy);
* the child runs no multi-threaded OpenMP code (numba's parallel loops; scikit-learn's k-means
  unless limited to one thread, as :func:`locmap.maps.web.natural_breaks` does): GNU OpenMP's
  thread pool does not survive ``fork`` once the parent has used it, and the child then waits
  for threads that do not exist (``tests/test_maps.py`` checks the one-thread case).  Writing
  tables (pandas, pyarrow, GDAL, XlsxWriter), drawing with matplotlib and running programs
  (Chromium) are safe.

Where ``fork`` is not available (Windows, macOS's default), in a thread other than the main one
or a daemon process (a batch's dask workers), or with ``LOCMAP_SERIAL=1``, the function simply
runs in the calling process at :meth:`Background.result` time, one step after the other as before.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import traceback
from typing import Any, Callable

#: seconds :meth:`Background.cancel` waits for a stopped child before killing it
CANCEL_WAIT_S = 20.0
#: environment variable that makes every background step run in the calling process
SERIAL_ENV = "LOCMAP_SERIAL"
_OSERROR_FIELDS = ("errno", "strerror", "filename", "filename2")
#: prctl(2) option: the signal a process gets when its parent dies (Linux)
_PR_SET_PDEATHSIG = 1


def forking() -> bool:
    """True when steps run in a forked child: on Linux, from the main thread of a process that is
    not itself a daemon worker (a batch's dask worker runs its boroughs one step after the other:
    its cores are taken by the other workers), unless ``LOCMAP_SERIAL=1``."""
    return (sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
            and threading.current_thread() is threading.main_thread()
            and not multiprocessing.current_process().daemon
            and os.environ.get(SERIAL_ENV, "") not in ("1", "true", "yes"))


class Background:
    """``fn(*args, **kwargs)`` started now in a forked child; :meth:`result` waits for it.

    With ``hands_over=True`` the function is called as ``fn(hand_over, *args, **kwargs)`` and may
    call ``hand_over(value)`` once, part way: :meth:`handed_over` returns that value as soon as it
    is sent (e.g. tables computed, while the child goes on writing them); :meth:`result` still
    waits for the end.  Without a fork, :meth:`handed_over` runs the whole function."""

    def __init__(self, name: str, fn: Callable[..., Any], *args: Any, hands_over: bool = False,
                 **kwargs: Any) -> None:
        self.name = name
        self._call = (fn, args, kwargs)
        self._proc = self._conn = None
        self._done = False
        self._hands_over = hands_over
        self._early: list[Any] = []  # the handed-over value, once received
        self._final: list[tuple[str, Any]] = []  # ("ok", value) received or computed before result()
        if forking():
            ctx = multiprocessing.get_context("fork")
            self._conn, child_end = ctx.Pipe(duplex=False)
            self._proc = ctx.Process(target=_child, args=(child_end, os.getpid(), fn, args, kwargs, hands_over),
                                     name=f"locmap {name}",
                                     daemon=True)
            self._proc.start()
            child_end.close()

    def handed_over(self) -> Any:
        """The value the function handed over (waiting for it); its exception is raised here."""
        if not self._hands_over:
            raise RuntimeError(f"background step {self.name} hands nothing over")
        if not self._early and self._proc is None:
            self._final.append(("ok", self._run_here()))
        while not self._early:
            kind, payload = self._receive()
            if kind != "early":
                self._final.append((kind, payload))
                if kind == "error":
                    self._finish()
                    raise rebuilt_exception(*payload)
                if not self._early:
                    raise RuntimeError(f"background step {self.name} ended without handing a value over")
        return self._early[0]

    def result(self) -> Any:
        """The function's return value (waiting for the child); its exception is raised here."""
        if self._done:
            raise RuntimeError(f"the result of background step {self.name} was collected already")
        self._done = True
        if self._proc is None:
            return self._final.pop()[1] if self._final else self._run_here()
        try:
            kind, payload = self._final.pop() if self._final else self._receive()
            while kind == "early":
                kind, payload = self._receive()
        finally:
            self._finish()
        if kind == "ok":
            return payload
        raise rebuilt_exception(*payload)

    def _run_here(self) -> Any:
        fn, args, kwargs = self._call
        return fn(self._early.append, *args, **kwargs) if self._hands_over else fn(*args, **kwargs)

    def _receive(self) -> tuple[str, Any]:
        """The child's next message (``early`` / ``ok`` / ``error``), its early value kept."""
        try:
            kind, payload = self._conn.recv()
        except EOFError:
            self._finish()
            raise RuntimeError(f"the background step {self.name} ended without a result "
                               f"(exit code {self._proc.exitcode})") from None
        if kind == "early":
            self._early.append(payload)
        return kind, payload

    def _finish(self) -> None:
        self._conn.close()
        self._proc.join()

    def cancel(self) -> None:
        """Stop the child (if it still runs) and wait until it has cleaned up; no result is kept."""
        self._done = True
        if self._proc is None:
            return
        if self._proc.is_alive():
            self._proc.terminate()  # SIGTERM: KeyboardInterrupt in the child, temporary files removed
            self._proc.join(CANCEL_WAIT_S)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join()
        else:
            self._proc.join()
        self._conn.close()


def _on_sigterm(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def quiet_about_a_dropped_stop(unraisable: Any) -> None:
    """A stopped child's ``sys.unraisablehook``: a stop (``KeyboardInterrupt`` from SIGTERM) that
    Python dropped because it was raised in a finalizer or a weakref callback (matplotlib's) is not
    printed as "Exception ignored" under the command's one line (the parent kills a child that goes
    on); anything else is reported as usual."""
    if not isinstance(unraisable.exc_value, KeyboardInterrupt):
        sys.__unraisablehook__(unraisable)


def _child(conn: Any, parent_pid: int, fn: Callable[..., Any], args: tuple, kwargs: dict,
           hands_over: bool = False) -> None:
    """Run in the forked child: ignore Ctrl-C (the parent decides), SIGTERM interrupts, and a
    parent that dies without stopping the child (killed) sends it SIGTERM too."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    sys.unraisablehook = quiet_about_a_dropped_stop
    sending: list[threading.Thread] = []
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before that was set
            raise KeyboardInterrupt
        if hands_over:
            args = (lambda value: sending.append(_send_behind(conn, ("early", value))), *args)
        message = ("ok", fn(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
        message = ("error", portable_exception(exc))
        if isinstance(exc, KeyboardInterrupt) and any(sender.is_alive() for sender in sending):
            return  # stopped by the parent, which reads no more: a hand-over still in the pipe is dropped
    try:
        for sender in sending:  # the handed-over value first: the parent reads in order
            sender.join()
        conn.send(message)
    except KeyboardInterrupt:  # stopped while the answer waited for the parent, which reads no more
        return  # (not raised: multiprocessing would print its traceback under the command's one line)
    except Exception as exc:  # noqa: BLE001 - e.g. an unpicklable value
        conn.send(("error", portable_exception(exc)))
    finally:
        conn.close()


def _send_behind(conn: Any, message: tuple) -> threading.Thread:
    """``message`` pickled now and sent by a thread: a large value fills the pipe and ``send``
    blocks until the parent reads it, which may be long after; the step goes on meanwhile."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sender = threading.Thread(target=conn.send_bytes, args=(data,), name="locmap hand-over", daemon=True)
    sender.start()
    return sender


def portable_exception(exc: BaseException) -> tuple:
    """``(type, args, attributes, traceback text)`` of ``exc``, picklable (else a RuntimeError's)."""
    text = "".join(traceback.format_exception(exc))
    attributes = dict(getattr(exc, "__dict__", {}))
    if isinstance(exc, OSError):  # kept by OSError itself, not in __dict__
        attributes.update({k: getattr(exc, k) for k in _OSERROR_FIELDS})
    state = (type(exc), exc.args, attributes, text)
    try:
        pickle.loads(pickle.dumps(state))
    except Exception:  # noqa: BLE001 - a class or attribute that does not pickle
        return RuntimeError, (f"{type(exc).__name__}: {exc}",), {}, text
    return state


def rebuilt_exception(cls: type, args: tuple, attributes: dict, text: str,
             where: str = "locmap's background process") -> BaseException:
    """The child's exception as an instance of its class (without calling its ``__init__``), with
    the child's traceback as a note saying ``where`` it was raised."""
    exc = cls.__new__(cls, *args)
    exc.args = args
    for key, value in attributes.items():
        setattr(exc, key, value)
    exc.add_note(f"(raised in {where})\n{text.rstrip()}")
    return exc
