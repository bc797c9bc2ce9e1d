"""The two killed-worker scenarios of tests/test_batch.py, on a local cluster of N worker processes,
replayed from a real three-borough batch folder (tests/batch_faults.py ``Replay``), to compare their
CPU with one worker process and with two (run each under benchmarks/cpu_of.sh: every process counted)::

    PYTHONPATH=$PWD:$PWD/tests benchmarks/cpu_of.sh once2 python benchmarks/bench_killed_worker_tests.py \\
        once 2 /path/to/london_batch3/london

``once``: City of London's worker dies on its first attempt (retries 2); ``always``: Hammersmith and
Fulham's dies on every attempt (retries 0).  The folder: a copy of the session's ``london_batch3``
(tests/conftest.py), e.g. from ``<pytest basetemp>/london_batch3/london``.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from batch_faults import Replay

from locmap.batch.engine import BatchOptions, run_batch
from locmap.settings import Settings

THREE = ("kensington-and-chelsea", "city-of-london", "hammersmith-and-fulham")
CITY, HF = "E09000001", "E09000013"


def main(which: str, n_workers: int, source: Path) -> None:
    settings = Settings.from_env(progress=False)
    tmp = Path(tempfile.mkdtemp(prefix="killed-worker-"))
    t0 = time.perf_counter()
    if which == "once":
        task = Replay(source=source, markers=tmp / "attempts", kill_once=(CITY,))
        options = BatchOptions(boroughs=THREE, maps=False, task=task, n_workers=n_workers)
        lad = CITY
    else:
        task = Replay(source=source, markers=tmp / "attempts", kill_always=(HF,))
        options = BatchOptions(boroughs=("hammersmith-and-fulham", "kensington-and-chelsea"), maps=False,
                               retries=0, task=task, n_workers=n_workers)
        lad = HF
    res = run_batch("london", tmp / "london", settings, options, say=lambda _m: None)
    print([o.status for o in res.outcomes], "attempts", task.attempts(lad))
    print(f"{which} on {n_workers} worker(s): {time.perf_counter() - t0:.2f} s wall")


if __name__ == "__main__":  # the cluster's worker processes are spawned: they import this file
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
