"""dask preload of the local cluster's worker processes: they ignore SIGINT.

Ctrl-C in a terminal sends SIGINT to the whole foreground process group: the command and every
worker process it started.  A worker killed by it mid-borough dies noisily (tracebacks, leaked
semaphore warnings from multiprocessing's resource tracker) before the command has stopped the
cluster.  Ignoring SIGINT in the workers leaves the stopping to the command: it catches the
interrupt, closes the cluster (the nannies end their workers) and marks the unfinished boroughs.  The workers' progress
bars (none are shown: ``progress`` is off on workers) lock with a thread lock, not a semaphore.
"""
from __future__ import annotations

import signal
import threading
from typing import Any

from tqdm import tqdm


def dask_setup(worker: Any) -> None:
    """Called by dask in each worker process at start (``distributed.worker.preload``)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    # tqdm's default write lock is a multiprocessing RLock (a POSIX semaphore): a worker ended
    # mid-borough leaves it behind and multiprocessing's resource tracker warns about it on exit
    tqdm.set_lock(threading.RLock())


__all__ = ["dask_setup"]
