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

``--orders given z random`` also runs every version on the graph renumbered along a Z-order
curve (what ``StreetRouter`` searches since stop 34: :func:`locmap.distance._kbest.z_order`) and
in a random order (like an OSM extract's node ids); labels are compared node for node, and the
scipy k=1 floor (``dijkstra(min_only=True)``) is timed on each order in the same rounds.

Usage::

    python benchmarks/bench_kbest_kernel.py [--k 3] [--rounds 15] [--orders given z] FILE [FILE ...]
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
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

if __package__ is None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from locmap.distance._kbest import renumbered, z_order  # noqa: E402
from locmap.distance.network import network_from_edges, synthetic_street_tables  # noqa: E402


def inputs(side: int = 316, order: str = "given") -> tuple:
    """``(csr arrays, [(source nodes, source costs) per type], wanted nodes, rank)`` as
    ``StreetRouter._search`` passes them for ``bench_kbest.py``'s graph and points, the nodes
    numbered in the ``order`` asked for (``rank[node]`` = its number)."""
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
    if order == "given":
        return net.reversed_arrays(), sources, wanted, np.arange(net.n_nodes)
    perm = (z_order(net.x, net.y) if order == "z"
            else np.random.default_rng(1).permutation(net.n_nodes))
    g = renumbered(*net.reversed_arrays(), perm)
    return ((g.indptr, g.indices, g.cost, g.length), [(g.rank[tn], td) for tn, td in sources],
            np.unique(g.rank[wanted]), g.rank)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+", type=Path, help="versions of _kbest.py; the first is the reference")
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--orders", nargs="+", default=["given"], choices=("given", "z", "random"),
                    help="node numberings to run every version on (default: the graph's own)")
    args = ap.parse_args(argv)
    graphs = {o: inputs(order=o) for o in args.orders}
    wanted0 = np.argsort(graphs[args.orders[0]][3])[graphs[args.orders[0]][2]]  # in the graph's own numbers
    with tempfile.TemporaryDirectory(prefix="kbest-kernels-") as tmp:
        sys.path.insert(0, tmp)
        mods = {}
        for i, f in enumerate(args.files):
            name = f"kbest_v{i}"
            shutil.copy(f, Path(tmp) / f"{name}.py")
            mods[f"{i}:{f}"] = importlib.import_module(name)

        def run(m, order):
            (indptr, indices, cost, length), sources, wanted, _ = graphs[order]
            return [m.k_nearest_sources(indptr, indices, cost, length, tn, td, td, args.k, np.inf, wanted, False)
                    for tn, td in sources]

        def floor(order):
            (indptr, indices, cost, length), sources, _, _ = graphs[order]
            R = sp.csr_matrix((cost, indices, indptr), shape=(indptr.size - 1,) * 2)
            return [dijkstra(R, indices=np.unique(tn), min_only=True) for tn, _ in sources]

        def labels(m, order):  # the wanted nodes' labels, in the first order's node numbers
            rows = graphs[order][3][wanted0]
            return [[a[rows] for a in out] for out in run(m, order)]

        ref = labels(next(iter(mods.values())), args.orders[0])
        fns = {}
        for label, m in mods.items():  # compiles each version, and checks it gives the same labels
            for order in args.orders:
                if not all(np.array_equal(a, b) for x, y in zip(ref, labels(m, order)) for a, b in zip(x, y)):
                    raise SystemExit(f"{label} ({order} order): labels differ from the first version's")
                fns[f"{label} [{order}]"] = (lambda m=m, order=order: run(m, order))
        for order in args.orders:
            fns[f"scipy floor k=1 [{order}]"] = (lambda order=order: floor(order))
        secs: dict[str, list[float]] = {key: [] for key in fns}
        for _ in range(args.rounds):
            for key, fn in fns.items():
                t = time.process_time()
                fn()
                secs[key].append(time.process_time() - t)
    first = np.array(next(iter(secs.values())))
    floor0 = np.array(secs[f"scipy floor k=1 [{args.orders[0]}]"])
    for key, ts in secs.items():
        ts = np.array(ts)
        print(f"k={args.k} {key}: best CPU {ts.min():.4f} s over {args.rounds} rounds ({ts.min() / first.min():.3f} "
              f"of the first; median per round {np.median(ts / first):.3f}; / floor [{args.orders[0]}] "
              f"{ts.min() / floor0.min():.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
