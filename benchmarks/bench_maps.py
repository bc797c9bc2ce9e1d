"""CPU time of the maps and workshop sheet part of ``locmap run --area ealing``, two trees side by side.

``locmap run`` draws the maps last, in the main process: ``map-layers``, ``map`` (the online
HTML), ``map-offline`` and ``sheet`` (``locmap.api._run_maps``).  Timing the whole job to see a
change of one second there is hopeless on a shared machine, so this script

1. runs the job once (``--prepare``, with the tree on ``PYTHONPATH``) and pickles what
   ``_run_maps`` is given (area, analyses, recommendation, hub sites, options);
2. for each tree (``--tree NAME=PATH``, default: main at /work/main and this tree), interleaved,
   starts a fresh Python that imports what the main process has imported by then
   (``locmap.api``, scikit-learn's k-means, spopt), loads the pickle and times ``_run_maps``
   with ``time.process_time`` (this process' CPU: user + sys, all threads) and the wall clock;
3. prints the best of ``--repeats`` per tree and step (Markdown), and checks that the trees'
   files are byte-identical (``--no-compare`` to skip).

Usage::

    python benchmarks/bench_maps.py --prepare /tmp/maps-inputs.pkl          # once (~20 s CPU)
    python benchmarks/bench_maps.py --inputs /tmp/maps-inputs.pkl --repeats 3
    python benchmarks/bench_maps.py --inputs /tmp/maps-inputs.pkl --tree main=/work/main --tree new=.
"""
from __future__ import annotations

import argparse
import filecmp
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

# the child: what the run's main process has imported before the maps, then _run_maps timed
CHILD = r"""
import json, pickle, sys, time
from pathlib import Path
import locmap.api as api
import sklearn.cluster, spopt.locate  # imported by the localities and hub sites before the maps
with open(sys.argv[1], "rb") as f:
    args = pickle.load(f)
steps = {}
def step(name, fn, *a, **kw):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn(*a, **kw)
    steps[name] = (time.process_time() - c0, time.perf_counter() - w0)
    return out
c0, w0 = time.process_time(), time.perf_counter()
files = api._run_maps(step, *args["args"], out=Path(sys.argv[2]), **args["kwargs"])
steps["total"] = (time.process_time() - c0, time.perf_counter() - w0)
print(json.dumps({"steps": steps, "files": [str(p) for p in files]}))
"""


def prepare(path: Path, area: str) -> None:
    """Run the job here (this process) and pickle what ``_run_maps`` is given."""
    sys.path.insert(0, str(HERE))
    os.environ["LOCMAP_SERIAL"] = "1"
    import locmap.api as api
    from locmap.cli import main as locmap_main

    def capture(step, area_, access, loc, rec, out, options, sites=()):  # noqa: ANN001
        access = access.__class__(**{**access.__dict__, "router": None})  # the router is not needed
        with open(path, "wb") as f:
            pickle.dump({"args": (area_, access, loc, rec), "kwargs": {"options": options, "sites": sites}}, f)
        return []

    api._run_maps = capture
    with tempfile.TemporaryDirectory() as tmp:
        rc = locmap_main(["run", "--area", area, "--out", f"{tmp}/{area}", "--no-progress", "--no-report"])
    if rc or not path.is_file():
        raise SystemExit(f"prepare failed (exit {rc})")
    print(f"inputs of _run_maps written to {path}")


def one(tree: Path, inputs: Path, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(inputs), str(out)], env=env, cwd=tree,
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"tree {tree}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prepare", type=Path, help="run the job once and write the pickle here")
    ap.add_argument("--area", default="ealing")
    ap.add_argument("--inputs", type=Path, help="the pickle written by --prepare")
    ap.add_argument("--tree", action="append", default=[], help="NAME=PATH (repeatable)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-compare", action="store_true")
    args = ap.parse_args(argv)
    if args.prepare:
        prepare(args.prepare, args.area)
        return 0
    trees = dict(t.split("=", 1) for t in args.tree) or {"main": "/work/main", "this": str(HERE)}
    trees = {k: Path(v).resolve() for k, v in trees.items()}
    best: dict[str, dict[str, tuple[float, float]]] = {k: {} for k in trees}
    with tempfile.TemporaryDirectory(prefix="bench-maps-") as tmp:
        for _ in range(args.repeats):
            for name, tree in trees.items():
                res = one(tree, args.inputs, Path(tmp) / name / args.area)
                for s, (cpu, wall) in res["steps"].items():
                    old = best[name].get(s)
                    best[name][s] = (min(cpu, old[0]), min(wall, old[1])) if old else (cpu, wall)
        names = list(trees)
        steps = list(dict.fromkeys(s for n in names for s in best[n] if s != "total")) + ["total"]
        print("| step | " + " | ".join(f"{n} CPU s | {n} wall s" for n in names) + " |")
        print("|---|" + "---:|---:|" * len(names))
        for s in steps:
            print(f"| {s} | " + " | ".join(_cell(best[n].get(s)) for n in names) + " |")
        print(f"\nbest of {args.repeats}, interleaved; CPU = time.process_time of the child (all threads)")
        if not args.no_compare and len(names) > 1:
            a, b = (Path(tmp) / n / args.area for n in names[:2])
            cmp = filecmp.dircmp(a, b)
            diff = _differing(cmp)
            print("files identical" if not diff else f"files that differ: {diff}")
    return 0


def _cell(times: tuple[float, float] | None) -> str:
    return "- | -" if times is None else f"{times[0]:.2f} | {times[1]:.2f}"


def _differing(cmp: filecmp.dircmp, prefix: str = "") -> list[str]:
    out = [prefix + f for f in (*cmp.left_only, *cmp.right_only)]
    out += [prefix + f for f in cmp.common_files if not filecmp.cmp(Path(cmp.left) / f, Path(cmp.right) / f,
                                                                      shallow=False)]
    for d, sub in cmp.subdirs.items():
        out += _differing(sub, f"{prefix}{d}/")
    return out


if __name__ == "__main__":
    sys.exit(main())
