"""``locmap run --area ealing`` on two trees in one session, step by step (issue 27, item 3).

Runs the whole job (maps, report and PDF included) with the same Python, data and machine for a
baseline tree (default ``/work/main``, or any folder holding a ``locmap`` package) and for this
tree, interleaved (baseline, this, baseline, this ...) so that a load on the shared machine hits
both alike.  For each run it records the wall time, the CPU time of the run and everything it
started (user + sys: the second process and Chromium included) and the run's own step times
(``timings.csv``; steps done in the second process overlap the others, so they do not add up to
the wall time), and the CPU time of the main process alone: on a quiet machine whose second core
takes the second process, that is about the run's wall time.  The machine's load (``/proc/loadavg``) before and after is printed: figures
taken at a load above the number of cores say more by their ratio than by their size.

Usage::

    python benchmarks/bench_run_steps.py                        # 2 runs per tree
    python benchmarks/bench_run_steps.py --repeats 3 --baseline /tmp/locmap-baseline-1a283d0
    python benchmarks/bench_run_steps.py --serial               # this tree with LOCMAP_SERIAL=1 as well
    python benchmarks/bench_run_steps.py --cold                 # every run with an empty cache folder

``locmap run`` keeps the parsed area in its cache folder (``<cache>/areas``, since stop 33) and reads
it back while the inputs and the code are unchanged: a tree's first run stores it, the later runs read
it (``--cold``: each run gets an empty ``LOCMAP_CACHE_DIR``, so every run parses the area).

The outputs of each tree's last run are kept under ``--out`` (default a temporary folder), in
folders named alike so their files can be compared byte for byte (``cmp``/``diff -r``).
"""
from __future__ import annotations

import argparse
import csv
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__() if Path("/proc/loadavg").exists() else "?"


def run_once(tree: Path, out: Path, serial: bool = False, cold: bool = False) -> dict:
    """One ``locmap run --area ealing --out OUT`` with ``tree`` first on PYTHONPATH (``cold``: with an
    empty cache folder, so the area is parsed, not read from a stored copy)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "LOCMAP_NO_PROGRESS": "1"}
    if cold:
        env["LOCMAP_CACHE_DIR"] = tempfile.mkdtemp(prefix="locmap-bench-cache-")
    if serial:
        env["LOCMAP_SERIAL"] = "1"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([PYTHON, "-c", _MAIN_CPU, str(out)], cwd=tree, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"run failed in {tree}:\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    main_cpu = float(proc.stdout.strip().splitlines()[-1].split()[-1])
    with open(out / "timings.csv", newline="") as fh:
        steps = {r["step"]: float(r["seconds"]) for r in csv.DictReader(fh)}
    return {"wall": wall, "cpu": cpu, "main cpu": main_cpu, "steps": steps}


#: the run in-process, then the CPU time of that process alone (its children not counted): on a
#: quiet machine with a free core for the second process, about the wall time of the run
_MAIN_CPU = """
import resource, sys
from locmap.cli import main
rc = main(["run", "--area", "ealing", "--out", sys.argv[1]])
ru = resource.getrusage(resource.RUSAGE_SELF)
print("main-process-cpu", ru.ru_utime + ru.ru_stime)
sys.exit(rc)
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", default="/work/main", help="tree of the code to compare with")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=None, help="folder for the runs' outputs (default: a temporary one)")
    ap.add_argument("--serial", action="store_true", help="also time this tree with LOCMAP_SERIAL=1")
    ap.add_argument("--cold", action="store_true", help="each run with an empty cache folder (the area parsed)")
    args = ap.parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="locmap-bench-run-"))
    trees = {"baseline": (Path(args.baseline), False), "this tree": (HERE, False)}
    if args.serial:
        trees["this tree, serial"] = (HERE, True)
    print(f"load before: {load()}; cores: {os.cpu_count()}; outputs in {out}")
    results: dict[str, list[dict]] = {k: [] for k in trees}
    for i in range(args.repeats):
        for name, (tree, serial) in trees.items():
            folder = out / name.replace(" ", "_").replace(",", "") / "ealing"
            results[name].append(run_once(tree, folder, serial, args.cold))
            r = results[name][-1]
            print(f"  run {i + 1} {name}: wall {r['wall']:.1f} s, cpu {r['cpu']:.1f} s (main process "
                  f"{r['main cpu']:.1f} s), load {load()}", flush=True)
    print(f"load after: {load()}\n")
    names = list(trees)
    print("| step | " + " | ".join(f"{n} (median s)" for n in names) + " |")
    print("|---|" + "---:|" * len(names))
    for key in ("wall", "cpu", "main cpu"):
        print(f"| **{key} time** | " + " | ".join(f"**{statistics.median(r[key] for r in results[n]):.2f}**"
                                                for n in names) + " |")
    steps = list(dict.fromkeys(s for n in names for r in results[n] for s in r["steps"]))
    for s in steps:
        cells = []
        for n in names:
            vals = [r["steps"][s] for r in results[n] if s in r["steps"]]
            cells.append(f"{statistics.median(vals):.2f}" if vals else "–")
        print(f"| {s} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
