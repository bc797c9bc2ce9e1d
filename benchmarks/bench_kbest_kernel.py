"""The k-nearest-sources kernel alone: two or more versions of ``_kbest.py`` A/B in one process.

``bench_kbest.py`` times ``StreetRouter.nearest`` end to end, one subprocess per tree, and its
ratio moves by +-1x from run to run on a shared machine.  To tell whether a change of the kernel
(locmap/distance/_kbest.py) helps, this script loads each version given, runs all of them on
the same inputs (the synthetic Ealing-size graph of ``bench_kbest.py``: 316 x 316, service types
of 15, 60, 120 and 360 sites, 6,590 origins), checks that every version returns exactly the
labels of the first (costs, lengths, sources: ties included), then times them alternately,
round by round, and prints each version's best CPU time over the rounds and its ratio to the first.

Each version is copied into a temporary folder and imported from there under its own module
name: numba's on-disk cache (``cache=True``) is keyed by the source file, so loading a tree's
``_kbest.py`` under another module name would write cache entries into that tree that its own
imports then fail to load (``No module named '<dynamic>'``).

Usage::

    python benchmarks/bench_kbest_kernel.py [--k 3] [--rounds 15] FILE [FILE ...]
    # e.g. main's kernel against this tree's:
    python benchmarks/bench_kbest_kernel.py /work/main/locmap/distance/_kbest.py locmap/distance/_kbest.py
"""
from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if __package__ is None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from locmap.distance.network import network_from_edges, synthetic_street_tables  # noqa: E402


def inputs(side: int = 316) -> tuple:
    """``(csr arrays, [(source nodes, source costs) per type], wanted nodes)`` as
    ``StreetRouter._search`` passes them for ``bench_kbest.py``'s graph and points."""
    e, n = synthetic_street_tables(side, side, spacing_m=35.0, p_delete=0.15, p_diagonal=0.3,
                                   jitter_m=8.0, seed=2025)
    net = network_from_edges(e, n, "walk", source=f"synthetic {side}x{side}")
    rng = np.random.default_rng(7)
    minx, miny, maxx, maxy = net.bbox
    origins = np.column_stack([rng.uniform(minx, maxx, 6590), rng.uniform(miny, maxy, 6590)])
    services = [net.xy[rng.choice(net.n_nodes, s, replace=False)] for s in (15, 60, 120, 360)]
    sources = []
    for xy in services:
        tn, td = net.snap(xy, 300.0)
        sources.append((tn.astype(np.int64), td.astype(float)))
    wanted = np.unique(net.snap(origins, 300.0)[0]).astype(np.int64)
    return net.reversed_arrays(), sources, wanted


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+", type=Path, help="versions of _kbest.py; the first is the reference")
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args(argv)
    (indptr, indices, cost, length), sources, wanted = inputs()
    with tempfile.TemporaryDirectory(prefix="kbest-kernels-") as tmp:
        sys.path.insert(0, tmp)
        mods = {}
        for i, f in enumerate(args.files):
            name = f"kbest_v{i}"
            shutil.copy(f, Path(tmp) / f"{name}.py")
            mods[f"{i}:{f}"] = importlib.import_module(name)

        def run(m):
            return [m.k_nearest_sources(indptr, indices, cost, length, tn, td, td, args.k, np.inf, wanted, False)
                    for tn, td in sources]

        ref = run(next(iter(mods.values())))
        for label, m in mods.items():  # compiles each version, and checks it gives the same labels
            if not all(np.array_equal(a, b) for x, y in zip(ref, run(m)) for a, b in zip(x, y)):
                raise SystemExit(f"{label}: labels differ from the first version's")
        best = dict.fromkeys(mods, np.inf)
        for _ in range(args.rounds):
            for label, m in mods.items():
                t = time.process_time()
                run(m)
                best[label] = min(best[label], time.process_time() - t)
    first = next(iter(best.values()))
    for label, b in best.items():
        print(f"k={args.k} {label}: best CPU {b:.4f} s over {args.rounds} rounds ({b / first:.3f} of the first)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
