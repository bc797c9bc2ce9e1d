"""``python -m locmap`` and the ``locmap`` console script: the command line (:func:`locmap.cli.main`).

The start-up handler is set before the command line is imported, by either way in."""
import gc
import os
import signal
import sys


def _interrupted_while_starting(signum, frame):  # noqa: ARG001 - signal handler signature
    """Ctrl-C before the command line's own handler is set: nothing has been written yet, so the
    process ends at once.  ``os._exit``, not ``sys.exit``: a SystemExit raised while Python runs a
    finalizer (an import freeing an object) is dropped, and the command went on to exit 0."""
    print("locmap: interrupted", file=sys.stderr, flush=True)
    os._exit(130)


signal.signal(signal.SIGINT, _interrupted_while_starting)  # Ctrl-C while Python is still importing
from locmap import _interrupt  # noqa: E402 - after the handler, on purpose
from locmap.cli import INTERRUPTED, main  # noqa: E402


def run() -> int:
    """The ``locmap`` command (``python -m locmap`` and the installed console script): main() with
    Ctrl-C turned into one line and exit 130, even one a finalizer swallowed."""
    _interrupt.install()
    try:
        code = main()
    except KeyboardInterrupt:  # a Ctrl-C that came while the first was being reported: the same one line
        code = INTERRUPTED
    if code == INTERRUPTED:  # a second Ctrl-C while the interpreter shuts down prints no traceback
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    else:  # an interrupted command exits as before (two of 36 interrupted checks ended -SIGINT with it)
        exit_without_collecting()
    return code


def exit_without_collecting() -> None:
    """Let the interpreter's exit skip the garbage collector's passes over what the command leaves
    (``gc.freeze``): every object is still freed, every ``atexit`` handler, thread join and flush
    still runs, but the collections Python makes while it shuts down no longer walk the whole heap
    of a job (pandas, shapely, the area's tables): ~0.6 s of CPU and ~2 s of wall on a busy machine
    after a whole job or a batch, between its last line and the prompt.  Nothing of locmap's needs
    a collection at exit: its files are closed by ``with`` blocks (written atomically), its child
    processes joined or ended before the command returns."""
    gc.freeze()


if __name__ == "__main__":
    sys.exit(run())
