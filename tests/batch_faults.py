"""Fault-making stand-ins for :func:`locmap.batch.borough.run_borough`, for ``tests/test_batch.py``.

Module-level and picklable by reference, so the dask worker processes import them (pytest puts
``tests/`` on ``sys.path`` and spawned workers inherit it).  :class:`Replay` runs the real
``run_borough`` (done.json, log, peak memory, LocmapError caught) around a fast computation that
reads the borough's figures from a batch computed for real instead of recomputing them, and can
make a chosen borough fail with a LocmapError or kill its worker process.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from locmap.batch.borough import SUMMARY_FILE, BoroughOutcome, BoroughTask, run_borough
from locmap.errors import DataFileError


#: A service name that clears the screen, sets the terminal title and reverses the text after it.
HOSTILE_NAME = "Hub\x1b[2J\x1b]0;pwned\x07\u202eevil\x9b"


@dataclass(frozen=True)
class Replay:
    """``run_borough`` with the figures of ``source/boroughs/<slug>/borough_summary.json``.

    Attributes
    ----------
    source : Path
        A batch folder computed for real.
    markers : Path
        Folder where each attempt of each borough leaves a file (``<lad_cd>.<n>``).
    fail : tuple of str
        Boroughs (codes) whose computation raises a :class:`~locmap.errors.DataFileError`.
    crash : tuple of str
        Boroughs whose computation raises an error locmap does not expect (``KeyError``).
    kill_once, kill_always : tuple of str
        Boroughs whose worker process dies (``os._exit``) on the first attempt / on every attempt.
    hostile : tuple of str
        Boroughs whose computation fails with a data error quoting a service name that carries
        terminal escape sequences (:data:`HOSTILE_NAME`).
    """

    source: Path
    markers: Path
    fail: tuple[str, ...] = ()
    crash: tuple[str, ...] = ()
    kill_once: tuple[str, ...] = ()
    kill_always: tuple[str, ...] = ()
    hostile: tuple[str, ...] = ()

    def __call__(self, task: BoroughTask) -> BoroughOutcome:
        return run_borough(task, compute=self.compute)

    def attempts(self, lad_cd: str) -> int:
        """How many times ``lad_cd`` was started."""
        return len(list(Path(self.markers).glob(f"{lad_cd}.*")))

    def compute(self, task: BoroughTask, say) -> dict:
        attempt = self.attempts(task.lad_cd) + 1
        Path(self.markers).mkdir(parents=True, exist_ok=True)
        (Path(self.markers) / f"{task.lad_cd}.{attempt}").write_text(str(os.getpid()))
        say(f"== replay attempt {attempt}")
        if task.lad_cd in self.kill_always or (task.lad_cd in self.kill_once and attempt == 1):
            os._exit(13)  # the worker process dies mid-task, as when killed or out of memory
        if task.lad_cd in self.fail:
            raise DataFileError(Path(self.source) / "services.csv", "no 'easting' value", row=7)
        if task.lad_cd in self.hostile:
            say(f"loaded service {HOSTILE_NAME}")
            raise DataFileError(Path(self.source) / "services.csv", f"unknown service type for {HOSTILE_NAME}", row=3)
        if task.lad_cd in self.crash:
            raise KeyError("pcn_code")
        Path(task.out_dir).mkdir(parents=True, exist_ok=True)
        return json.loads((Path(self.source) / "boroughs" / Path(task.out_dir).name / SUMMARY_FILE).read_text())
