"""Process CPU time of each step of ``locmap run`` in one process (``LOCMAP_SERIAL=1``).

``timings.csv`` holds wall time, which on a shared machine says more about the other users than
about the code; this runs the whole job in this process, times every step with
``time.process_time`` (user + sys of this process; Chromium's PDF printing, a child, is not
counted) and prints one line: the total and each step.  Which code is timed is the ``locmap``
first on ``PYTHONPATH``; run it once per tree, interleaved::

    for t in /work/main $PWD /work/main $PWD; do
        PYTHONPATH=$t python benchmarks/bench_step_cpu.py --out /tmp/stepcpu/ealing; done
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if "PYTHONPATH" not in os.environ:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["LOCMAP_SERIAL"] = "1"

from locmap import api  # noqa: E402
from locmap.cli import main as cli_main  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--area", default="ealing")
    ap.add_argument("--out", type=Path, required=True, help="run folder (written with --force)")
    args = ap.parse_args(argv)
    cpu_s: dict[str, float] = {}
    step = api._Steps.__call__

    def timed(self, name, fn, *a, **k):
        t0 = time.process_time()
        try:
            return step(self, name, fn, *a, **k)
        finally:
            cpu_s[name] = cpu_s.get(name, 0.0) + time.process_time() - t0

    api._Steps.__call__ = timed
    t0 = time.process_time()
    with open(os.devnull, "w") as quiet:
        stdout, sys.stdout = sys.stdout, quiet
        try:
            code = cli_main(["run", "--area", args.area, "--out", str(args.out), "--force"])
        finally:
            sys.stdout = stdout
    total = time.process_time() - t0
    print(f"locmap from {Path(api.__file__).parent.parent}: CPU {total:.2f} s; "
          + " ".join(f"{k}={v:.2f}" for k, v in cpu_s.items()))
    return code or 0


if __name__ == "__main__":
    raise SystemExit(main())
