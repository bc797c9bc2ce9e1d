"""`locmap batch --region london` for two versions of the code, the same run, one after the other.

    python benchmarks/bench_london_batch.py                     # main (/work/main) vs this checkout, 33 boroughs
    python benchmarks/bench_london_batch.py --boroughs city-of-london,camden --workers 2
    python benchmarks/bench_london_batch.py --only mine          # this checkout only
    python benchmarks/bench_london_batch.py --mine-args=--no-fork   # extra options for one version

Also reported per version: the CPU time (user + sys) of the command and every process it started
(launcher, scheduler, nannies, workers and the boroughs' forked processes, all waited for), the
steadier figure on a shared machine.

Each version runs `python -m locmap batch --region london --out <temp>/<label> --workers N --no-progress`
from its own checkout (PYTHONPATH and working folder = that checkout) into a fresh temporary folder.
Reported per version: wall time of the command, the boroughs' own times, and per worker process its
first and last borough's peak resident memory (and the memory it started its last borough with, where
the version records it) and its own peak, read from the run's batch_status.csv, plus the load average
(`uptime`) before and after.  Then the two versions' results are compared: london_league.csv without
the Run / Finished (UTC) columns and every borough_summary.json must be identical.  Results also go
to --json (default: <temp>/bench_london_batch.json).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parents[1]
#: columns of london_league.csv that say which run made a row (differ between any two runs)
RUN_COLUMNS = ("Run", "Finished (UTC)")
#: files of a borough folder that record the run (times, memory, paths of the checkout), not results
RUN_FILES = {"timings.csv", "log.txt", "done.json", "attempts.jsonl", "run.json", "localities_run.json"}


def load_average() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def children_cpu_s() -> float:
    """CPU time (user + sys, s) of the finished processes this one waited for, and theirs."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_version(label: str, checkout: Path, out: Path, workers: int, boroughs: str, maps: bool,
                extra: tuple[str, ...] = ()) -> dict:
    """Run the batch of one checkout into ``out``; its figures."""
    cmd = [sys.executable, "-m", "locmap", "batch", "--region", "london", "--out", str(out), "--workers",
           str(workers), "--no-progress"] + (["--boroughs", boroughs] if boroughs else []) + ([] if maps else ["--no-maps"])
    cmd += list(extra)
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    before = load_average()
    cpu0, t0, epoch0 = children_cpu_s(), time.perf_counter(), time.time()
    proc = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, children_cpu_s() - cpu0
    after = load_average()
    if proc.returncode != 0:
        raise SystemExit(f"{label}: the batch failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    status = pd.read_csv(out / "batch_status.csv", keep_default_na=False)
    return {"label": label, "checkout": str(checkout), "options": list(extra), "out": str(out), "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
            "uptime_before": before, "uptime_after": after, "boroughs": len(status),
            "sum_borough_s": round(float(status["seconds"].sum()), 1),
            "per_borough_s": {r.borough: float(r.seconds) for r in status.itertuples()},
            "workers": per_worker(status), "phases_s": phases(out, status, epoch0, wall)}


def phases(out: Path, status: pd.DataFrame, epoch0: float, wall: float) -> dict:
    """Where the wall time went (s from the command's start; file times, so to ~10 ms): the first
    borough's start (its attempts.jsonl's last write, when it ended, minus its seconds), the end of each
    worker's last borough (its done.json), the idle tail (the gap between the workers' last ends) and
    the end (the last borough's end to the command's end: status table, region summary, cluster close)."""
    ends: dict[str, float] = {}
    starts = []
    for row in status.itertuples():
        folder = next((d for d in (out / "boroughs").iterdir() if (d / "done.json").exists()
                       and json.loads((d / "done.json").read_text()).get("lad_cd") == row.lad_cd), None)
        if folder is None:
            continue
        end = (folder / "done.json").stat().st_mtime - epoch0
        starts.append((folder / "attempts.jsonl").stat().st_mtime - epoch0 - float(row.seconds))
        ends[row.worker] = max(ends.get(row.worker, 0.0), end)
    if not ends:
        return {}
    last = sorted(ends.values())
    return {"first_borough_start": round(min(starts), 1), "last_borough_end": round(last[-1], 1),
            "idle_tail": round(last[-1] - last[0], 1), "after_last_borough": round(wall - last[-1], 1)}


def per_worker(status: pd.DataFrame) -> list[dict]:
    """Each worker's boroughs in the order it ran them (worker_borough_n where recorded, else the
    time each finished) with their peak memory (MB)."""
    rows = []
    for worker, st in status.groupby("worker"):
        order = "worker_borough_n" if "worker_borough_n" in st else "finished_utc"
        st = st.sort_values(order)
        first, last = st.iloc[0], st.iloc[-1]
        row = {"worker": worker, "boroughs": len(st),
               "first": f"{first.borough} {first.peak_rss_mb:.0f} MB", "last": f"{last.borough} {last.peak_rss_mb:.0f} MB",
               "first_peak_mb": float(first.peak_rss_mb), "last_peak_mb": float(last.peak_rss_mb),
               "worker_peak_mb": float(st["worker_peak_rss_mb"].max()),
               "peaks_mb": [float(v) for v in st["peak_rss_mb"]]}
        if "rss_start_mb" in st:
            row["first_start_mb"], row["last_start_mb"] = float(first.rss_start_mb), float(last.rss_start_mb)
        rows.append(row)
    return rows


def same_results(a: Path, b: Path) -> list[str]:
    """Differences between two batch folders' results (empty = identical)."""
    diffs = []
    la, lb = (pd.read_csv(p / "london_league.csv", dtype=str, keep_default_na=False) for p in (a, b))
    la, lb = (df.drop(columns=[c for c in RUN_COLUMNS if c in df]) for df in (la, lb))
    if not la.equals(lb):
        diffs.append("london_league.csv differs (beyond Run / Finished (UTC))")
    for sa in sorted((a / "boroughs").glob("*/borough_summary.json")):
        sb = b / "boroughs" / sa.parent.name / sa.name
        if not sb.exists() or json.loads(sa.read_text()) != json.loads(sb.read_text()):
            diffs.append(f"{sa.parent.name}/borough_summary.json differs")
    # every other file of the borough folders, byte for byte, but for what records the run itself
    fa = {p.relative_to(a) for p in (a / "boroughs").rglob("*") if p.is_file() and p.name not in RUN_FILES}
    fb = {p.relative_to(b) for p in (b / "boroughs").rglob("*") if p.is_file() and p.name not in RUN_FILES}
    diffs += [f"{p} only in {label}" for label, only in ((a.name, fa - fb), (b.name, fb - fa)) for p in sorted(only)]
    diffs += [f"{p} differs" for p in sorted(fa & fb) if (a / p).read_bytes() != (b / p).read_bytes()]
    return diffs


def show(r: dict) -> None:
    print(f"\n== {r['label']} ({r['checkout']} {' '.join(r['options'])}): {r['boroughs']} boroughs in "
          f"{r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU (boroughs' own times sum to {r['sum_borough_s']:.1f} s)")
    print(f"   load before: {r['uptime_before']}\n   load after:  {r['uptime_after']}")
    for w in r["workers"]:
        start = (f"; memory at the start of its first / last borough {w['first_start_mb']:.0f} / "
                 f"{w['last_start_mb']:.0f} MB") if "first_start_mb" in w else ""
        print(f"   {w['worker']}: {w['boroughs']} boroughs, first {w['first']}, last {w['last']}, "
              f"worker peak {w['worker_peak_mb']:.0f} MB{start}")
    print("   phases (s from the start): " + ", ".join(f"{k} {v}" for k, v in r.get("phases_s", {}).items()))
    print("   per borough (s): " + ", ".join(f"{k} {v:.1f}" for k, v in r["per_borough_s"].items()))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--main", type=Path, default=Path("/work/main"), help="checkout of the code before (default /work/main)")
    p.add_argument("--mine", type=Path, default=HERE, help="checkout of the code after (default: this one)")
    p.add_argument("--boroughs", default="", help="a subset (slugs, comma-separated); default all 33")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--no-maps", action="store_true")
    p.add_argument("--only", choices=("main", "mine"), help="run one version only")
    p.add_argument("--main-args", default="", help="extra options of main's command (e.g. --worker-boroughs=0)")
    p.add_argument("--mine-args", default="", help="extra options of this checkout's command (e.g. --no-fork)")
    p.add_argument("--tmp", type=Path, default=None, help="folder for the batch outputs (default: a new temp folder)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    tmp = args.tmp or Path(tempfile.mkdtemp(prefix="bench_london_batch_"))
    versions = [(label, path, tuple(shlex.split(extra))) for label, path, extra in
                (("main", args.main, args.main_args), ("mine", args.mine, args.mine_args)) if args.only in (None, label)]
    results = []
    for label, checkout, extra in versions:
        out = tmp / label
        if out.exists():
            raise SystemExit(f"{out} exists: give another --tmp")
        print(f"running {label} ({checkout}) into {out} ...", flush=True)
        results.append(run_version(label, checkout.resolve(), out, args.workers, args.boroughs, not args.no_maps, extra))
        show(results[-1])
    report = {"results": results}
    if len(results) == 2:
        diffs = same_results(tmp / "main", tmp / "mine")
        report["identical_results"] = not diffs
        report["differences"] = diffs
        a, b = results
        print(f"\nwall: {a['wall_s']:.1f} s -> {b['wall_s']:.1f} s; CPU {a['cpu_s']:.1f} s -> {b['cpu_s']:.1f} s; "
              f"results identical: {not diffs}"
              + "".join(f"\n  {d}" for d in diffs))
    path = args.json or tmp / "bench_london_batch.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"figures: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
