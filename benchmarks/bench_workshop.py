"""The workshop rows of issue 27, timed on today's code and on a baseline commit in one run.

Makes a git worktree of ``--baseline`` (default ``1a283d0``, main before issue 27) in /tmp and
times, for both trees, with the same Python, data and machine, interleaved (baseline, this tree,
baseline, ...) so that a load on the machine hits both alike:

==========================  ====================================================================
``--help``                  ``locmap --help``
``run --help``              ``locmap run --help``
``nearest, first call``     ``locmap nearest --postcode "UB5 6PA"`` with no nearest-services
                            index (this tree builds it; the baseline has none)
``nearest, second call``    the same again (this tree reads the index)
``run --area ealing``       the whole job (maps, report, PDF when Chromium is found)
``k=3 / floor``             ``bench_kbest.py``: StreetRouter k=3 over the bare scipy k=1 search
==========================  ====================================================================

Each tree gets its own cache folder (``LOCMAP_CACHE_DIR``), warmed once (area and numba caches),
so "first call" means: the nearest index is missing, not every cache cold.  Wall time and the
CPU time of the child (user + sys) are reported, median of ``--repeats``; on a shared, loaded
machine CPU time is the steadier figure.  The London batch row (33 boroughs) is not run here (a
few minutes per tree): ``locmap batch --region london --out DIR --force`` with each tree.

Usage::

    python benchmarks/bench_workshop.py                       # all rows, 3 repeats (run: 1)
    python benchmarks/bench_workshop.py --rows help,nearest --repeats 5
    python benchmarks/bench_workshop.py --baseline HEAD~3 --keep-worktree
"""
from __future__ import annotations

import argparse
import json
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
PYTHON = sys.executable
ROWS = ("help", "nearest", "run", "kbest")
POSTCODE = "UB5 6PA"


def git(*args: str, cwd: Path = HERE) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def baseline_tree(commit: str) -> Path:
    """A detached worktree of ``commit`` under /tmp (reused when it is already there)."""
    sha = git("rev-parse", "--verify", f"{commit}^{{commit}}")
    tree = Path(tempfile.gettempdir()) / f"locmap-baseline-{sha[:10]}"
    if not (tree / "locmap").is_dir():
        git("worktree", "add", "--detach", str(tree), sha)
    return tree


def timed(cmd: list[str], tree: Path, env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """``(wall s, child CPU s, stdout)`` of one command run with ``tree`` on PYTHONPATH."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env={**env, "PYTHONPATH": str(tree)}, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 2):
        raise RuntimeError(f"{' '.join(cmd)} (tree {tree}) exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


class Bench:
    """Both trees, their cache folders and the collected times."""

    def __init__(self, trees: dict[str, Path], data_root: Path, work: Path):
        self.trees, self.work = trees, work
        self.caches = {name: work / f"cache-{name}" for name in trees}
        self.env = {**os.environ, "LOCMAP_DATA_ROOT": str(data_root), "LOCMAP_NO_PROGRESS": "1",
                    "MPLBACKEND": "Agg"}
        self.results: dict[str, dict[str, list[tuple[float, float]]]] = {}

    def run(self, row: str, name: str, args: list[str], before=None) -> str:
        if before:
            before(name)
        env = {**self.env, "LOCMAP_CACHE_DIR": str(self.caches[name])}
        wall, cpu, out = timed([PYTHON, "-m", "locmap", *args], self.trees[name], env, self.work)
        self.results.setdefault(row, {}).setdefault(name, []).append((wall, cpu))
        return out

    def rows(self, row: str, args: list[str], repeats: int, before=None) -> None:
        for _ in range(repeats):
            for name in self.trees:
                self.run(row, name, args, before)

    def drop_index(self, name: str) -> None:
        shutil.rmtree(self.caches[name] / "finder", ignore_errors=True)


def kbest(trees: dict[str, Path], repeats: int) -> dict[str, dict]:
    """``bench_kbest.py --json`` with each tree (the script is this tree's; the code timed is not)."""
    out = {}
    for name, tree in trees.items():
        proc = subprocess.run([PYTHON, str(HERE / "benchmarks" / "bench_kbest.py"), "--json",
                               "--repeats", str(repeats)], env={**os.environ, "PYTHONPATH": str(tree)},
                              capture_output=True, text=True, check=True)
        out[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def same_outputs(a: Path, b: Path, ignore: tuple[str, ...] = ("timings.csv",)) -> str:
    """Which files of two ``locmap run`` folders differ (byte for byte), ``timings.csv`` aside."""
    files = sorted({p.relative_to(a) for p in a.rglob("*") if p.is_file()}
                   | {p.relative_to(b) for p in b.rglob("*") if p.is_file()})
    files = [f for f in files if f.name not in ignore]
    differ = [str(f) for f in files if not ((a / f).is_file() and (b / f).is_file()
                                            and (a / f).read_bytes() == (b / f).read_bytes())]
    return (f"outputs of the whole job: {len(files) - len(differ)} of {len(files)} files byte-identical "
            f"(timings.csv left out)" + ("; differ: " + ", ".join(differ) if differ else ""))


def table(bench: Bench, kb: dict[str, dict] | None) -> list[str]:
    base, new = list(bench.trees)
    lines = [f"| row | {base} wall s | {new} wall s | wall ratio | {base} CPU s | {new} CPU s | CPU ratio |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row, by_tree in bench.results.items():
        w = {n: statistics.median(t[0] for t in v) for n, v in by_tree.items()}
        c = {n: statistics.median(t[1] for t in v) for n, v in by_tree.items()}
        lines.append(f"| {row} | {w[base]:.2f} | {w[new]:.2f} | {w[new] / w[base]:.2f} | {c[base]:.2f} | "
                     f"{c[new]:.2f} | {c[new] / c[base]:.2f} |")
    if kb:
        for label, key in (("StreetRouter k=3 / scipy k=1 floor", "k3_over_floor"),
                           ("StreetRouter k=1 / floor", "k1_over_floor")):
            lines.append(f"| {label} (synthetic Ealing-size graph) | {kb[base][key]:.1f}x | {kb[new][key]:.1f}x | "
                         f"| | | |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", default="1a283d0", help="commit to compare with (default 1a283d0)")
    ap.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, from {', '.join(ROWS)}")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--run-repeats", type=int, default=1, help="repeats of the whole job (default 1)")
    ap.add_argument("--keep-worktree", action="store_true", help="leave the baseline worktree in /tmp")
    args = ap.parse_args(argv)
    rows = {r.strip() for r in args.rows.split(",") if r.strip()}
    sys.path.insert(0, str(HERE))
    from locmap.settings import Settings

    base = baseline_tree(args.baseline)
    trees = {f"baseline {args.baseline}": base, f"this tree ({git('rev-parse', '--short', 'HEAD')})": HERE}
    try:
        with tempfile.TemporaryDirectory(prefix="locmap-bench-") as work:
            bench = Bench(trees, Settings.from_env().resolve_data_root(), Path(work))
            for name in trees:  # warm the area and numba caches once per tree
                bench.run("warm-up", name, ["nearest", "--postcode", POSTCODE])
            bench.results.pop("warm-up")
            if "help" in rows:
                bench.rows("`locmap --help`", ["--help"], args.repeats)
                bench.rows("`locmap run --help`", ["run", "--help"], args.repeats)
            if "nearest" in rows:
                for _ in range(args.repeats):
                    for name in trees:
                        bench.run("`locmap nearest --postcode` first call (no index)", name,
                                  ["nearest", "--postcode", POSTCODE], bench.drop_index)
                        bench.run("`locmap nearest --postcode` second call", name, ["nearest", "--postcode", POSTCODE])
            outs = {name: Path(work) / f"out-{i}" for i, name in enumerate(trees)}
            if "run" in rows:
                for _ in range(args.run_repeats):
                    for name in trees:
                        shutil.rmtree(outs[name], ignore_errors=True)
                        bench.run("`locmap run --area ealing` (whole job)", name,
                                  ["run", "--area", "ealing", "--out", str(outs[name])])
            kb = kbest(trees, args.repeats) if "kbest" in rows else None
            print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average "
                  f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}; median of {args.repeats} "
                  f"(whole job: {args.run_repeats})\n")
            print("\n".join(table(bench, kb)))
            if "run" in rows:
                print("\n" + same_outputs(*outs.values()))
            print("\nLondon batch (33 boroughs, 2 workers): not run here; time "
                  "`locmap batch --region london --out DIR --force` with each tree on PYTHONPATH.")
    finally:
        if not args.keep_worktree:
            git("worktree", "remove", "--force", str(base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
