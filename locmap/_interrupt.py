"""Ctrl-C is honoured even when Python swallows it.

Python raises ``KeyboardInterrupt`` wherever the main thread is when SIGINT is handled.  If that is
inside a finalizer (a ``__del__``, e.g. tqdm's progress bar being freed) or inside a library's bare
``except:``, the exception is dropped ("Exception ignored in ...") and the command would go on and
finish as if nobody had pressed Ctrl-C (seen: ``locmap run`` interrupted while its load step freed a
progress bar ran to the end and exited 0).  The command line's handler (:func:`install`) therefore
also records the interrupt, and :func:`raise_if_swallowed`, called between a run's steps and when a
command returns, raises it again if it never reached the command.

Library use (a notebook, a test) does not install the handler: there the checks do nothing.
"""
from __future__ import annotations

import signal
import sys
from typing import Any

_state = {"pending": False}


def _on_sigint(_signum: int, _frame: Any) -> None:
    _state["pending"] = True
    raise KeyboardInterrupt


def install() -> None:
    """Ctrl-C raises ``KeyboardInterrupt`` and is remembered until it reaches the command; a
    ``KeyboardInterrupt`` that Python drops is not printed as "Exception ignored ..." (it is raised
    again later, and the command says "interrupted" in one line)."""
    _state["pending"] = False
    signal.signal(signal.SIGINT, _on_sigint)
    if sys.unraisablehook is not _quiet_about_dropped_interrupts:
        _state["hook"] = sys.unraisablehook
        sys.unraisablehook = _quiet_about_dropped_interrupts


def _quiet_about_dropped_interrupts(unraisable: Any) -> None:
    """``sys.unraisablehook``: a dropped Ctrl-C is left to :func:`raise_if_swallowed`; anything else
    is reported by the hook that was there before."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and _state["pending"]:
        return
    _state.get("hook", sys.__unraisablehook__)(unraisable)


def delivered() -> None:
    """The interrupt reached the command (it is ending with 'interrupted'): nothing is pending."""
    _state["pending"] = False


def raise_if_swallowed() -> None:
    """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed and something swallowed it."""
    if _state["pending"]:
        _state["pending"] = False
        raise KeyboardInterrupt
