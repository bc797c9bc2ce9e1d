"""``locmap nearest`` first and second call, and ``locmap finder`` twice, on two code trees in one run.

For each round and each tree (``--other``, default /work/main, then this tree; interleaved so a
load on the shared machine hits both alike), with its own empty cache folder
(``LOCMAP_CACHE_DIR``, removed before the round):

* ``nearest first``: ``locmap nearest --postcode "UB5 6PA"`` with no nearest-services index
  (this tree builds it; end to end, imports included);
* ``nearest second``: the same again (this tree reads the index), ``--seconds`` times;
* ``finder first`` / ``finder second`` (with ``--finder``): ``locmap finder --out <tmp>`` twice
  after the nearest calls (this tree reads the index the nearest calls built).

Reported per tree and row: best and median wall seconds and child CPU seconds (user + sys, from
``resource.getrusage(RUSAGE_CHILDREN)``) over the rounds, with ``uptime`` before and after; on a
loaded machine the CPU time and the best wall time are the steadier figures.

Usage::

    python benchmarks/bench_nearest.py [--rounds 5] [--seconds 3] [--finder] [--other /work/main]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
POSTCODE = "UB5 6PA"


def timed(cmd: list[str], tree: Path, cache: Path) -> tuple[float, float]:
    """Wall and child CPU seconds of one command run with ``tree`` on ``PYTHONPATH``."""
    env = {**os.environ, "PYTHONPATH": str(tree), "LOCMAP_CACHE_DIR": str(cache), "LOCMAP_NO_PROGRESS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} in {tree}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def one_round(tree: Path, work: Path, seconds: int, finder: bool) -> dict[str, list[tuple[float, float]]]:
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    nearest = [sys.executable, "-m", "locmap", "nearest", "--postcode", POSTCODE]
    out: dict[str, list[tuple[float, float]]] = {"nearest first": [timed(nearest, tree, cache)]}
    out["nearest second"] = [timed(nearest, tree, cache) for _ in range(seconds)]
    if finder:
        page = [sys.executable, "-m", "locmap", "finder", "--out", str(work / "finder.html")]
        out["finder first"] = [timed(page, tree, cache)]
        out["finder second"] = [timed(page, tree, cache)]
    return out


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--other", type=Path, default=Path("/work/main"), help="the tree to compare with")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=3, help="second calls per round")
    ap.add_argument("--finder", action="store_true", help="also time locmap finder twice")
    args = ap.parse_args(argv)
    trees = {"other": args.other.resolve(), "this": HERE}
    runs: dict[str, dict[str, list[tuple[float, float]]]] = {name: {} for name in trees}
    print("before:", uptime())
    with tempfile.TemporaryDirectory(prefix="bench-nearest-") as tmp:
        for _ in range(args.rounds):
            for name, tree in trees.items():
                for row, values in one_round(tree, Path(tmp) / name, args.seconds, args.finder).items():
                    runs[name].setdefault(row, []).extend(values)
    print("after: ", uptime())
    for row in runs["this"]:
        for name, tree in trees.items():
            walls, cpus = zip(*runs[name][row])
            print(f"{row:15} {name:5} {str(tree):22} wall best {min(walls):6.2f} s, median "
                  f"{statistics.median(walls):6.2f} s; cpu best {min(cpus):6.2f} s, median "
                  f"{statistics.median(cpus):6.2f} s  (n={len(walls)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
