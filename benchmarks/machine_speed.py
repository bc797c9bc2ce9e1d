"""How fast this machine is right now: a fixed CPU workload timed before and after a suite measurement.

The suite's wall time drifted 284 -> 348 s on the same clone an hour apart (stop 35), while the code was
unchanged, so a suite figure is only comparable with the machine's speed measured beside it.  This script
times three fixed single-threaded workloads, each typical of the suite's work, and prints one line:

* ``python``: a pure-Python loop (the interpreter: imports, pandas glue, pytest itself);
* ``numpy``: sorting 2 million float64 values, 3 times (vectorised tables);
* ``dijkstra``: five multi-source ``scipy.sparse.csgraph.dijkstra`` runs (6 sources each) on a 400 x 400
  grid (the routing).

Each is run ``--rounds`` times interleaved; the line gives each one's best and median CPU seconds and the
``index``: the sum of the medians divided by the same sum on a reference run (``REFERENCE_S``, this script on
this machine at 2026-12-07 23:10 UTC, load ~1.7). index 1.00 = the reference speed; 1.20 = 20 %
slower.  Usage::

    python benchmarks/machine_speed.py [--rounds 7] [--json]

Run it right before and right after ``make test`` and report the suite's time with both indices.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

#: Median CPU seconds of each workload on the reference run (see the module docstring).
REFERENCE_S = {"python": 0.26, "numpy": 0.38, "dijkstra": 0.16}


def _python_loop() -> None:
    total = 0
    for i in range(8_000_000):
        total += i & 7


def _numpy_sort(rng=np.random.default_rng(3)) -> None:
    values = rng.random(2_000_000)
    for _ in range(3):
        np.sort(values)


def _grid(side: int = 400):
    idx = np.arange(side * side).reshape(side, side)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    w = np.random.default_rng(5).uniform(50, 150, a.size)
    n = side * side
    return coo_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(n, n)).tocsr()


def measure(rounds: int) -> dict[str, list[float]]:
    graph = _grid()
    sources = np.linspace(0, graph.shape[0] - 1, 30).astype(int)
    work = {"python": _python_loop, "numpy": _numpy_sort,
            "dijkstra": lambda: [dijkstra(graph, indices=sources[i::5], min_only=True) for i in range(5)]}
    seconds: dict[str, list[float]] = {k: [] for k in work}
    for _ in range(rounds):
        for name, fn in work.items():
            c0 = time.process_time()
            fn()
            seconds[name].append(time.process_time() - c0)
    return seconds


def summary(seconds: dict[str, list[float]]) -> dict:
    medians = {k: statistics.median(v) for k, v in seconds.items()}
    index = sum(medians.values()) / sum(REFERENCE_S[k] for k in medians)
    return {"index": round(index, 3), "median_s": {k: round(v, 4) for k, v in medians.items()},
            "best_s": {k: round(min(v), 4) for k, v in seconds.items()},
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="one JSON object instead of a line of text")
    args = ap.parse_args()
    result = summary(measure(args.rounds))
    if args.json:
        print(json.dumps(result))
        return
    parts = "  ".join(f"{k} {result['median_s'][k]:.3f} (best {result['best_s'][k]:.3f})" for k in REFERENCE_S)
    print(f"{result['at']}  machine index {result['index']:.2f}  (median CPU s: {parts})")


if __name__ == "__main__":
    main()
