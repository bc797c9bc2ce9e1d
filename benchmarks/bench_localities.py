"""The localities and hub-sites steps of ``locmap run --area ealing``, main's code and this tree's, in one run.

For each tree (``--baseline``, default /work/main, and this tree), in its own subprocess with
``PYTHONPATH`` set to the tree: load Ealing and its access analysis once (not timed), then time
``api.analyse_localities`` (the run's ``localities`` step, all schemes) and ``api.hub_sites`` for
the recommended locality and its runner-up (the run's ``sites <name>`` steps), ``--repeats`` times.
The first repeat pays the imports the step makes (libpysal, spopt: once per job); the later ones
do not.  Wall and CPU time (``time.process_time``; CBC's child processes separately, from
``getrusage``) are both recorded: on a shared machine the CPU time is the steadier.  Trees alternate (baseline, this tree, baseline, ...) so that a load on a shared machine
hits both alike; the load average (``os.getloadavg``) is printed with the results.  Each child
also checks its results: the two trees' sensitivity tables, rankings and scorecards must be equal
to the bit, or the script says which differ.

With ``--profile`` each child also prints the top functions by cumulative time (cProfile) of one
more localities step: the shares the machine's load does not change much.

Usage::

    python benchmarks/bench_localities.py                    # 3 repeats
    python benchmarks/bench_localities.py --repeats 5 --profile
    python benchmarks/bench_localities.py --baseline /tmp/locmap-baseline-xxxx
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

CHILD = r'''
import cProfile, hashlib, io, json, os, pickle, pstats, resource, sys, time
from locmap import api
from locmap.settings import Settings

area_name, repeats, profile, out = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
settings = Settings.from_env(progress=False)
area = api.load(area_name, settings)
access = api.analyse_access(area, settings)
def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime

times = {"localities": [], "sites": [], "localities_cpu": [], "sites_cpu": [], "sites_cbc_cpu": []}
for _ in range(repeats):
    t0, c0 = time.perf_counter(), time.process_time()
    loc = api.analyse_localities(area, access, settings=settings)
    times["localities"].append(time.perf_counter() - t0)
    times["localities_cpu"].append(time.process_time() - c0)
    rec = api.recommendation_for(loc, "towns")
    t0, c0, k0 = time.perf_counter(), time.process_time(), children_cpu()
    sites = [api.hub_sites(area, settings, loc.schemes["towns"], name, p=2, p_at_most_candidates=True,
                           router=access.router) for name in (rec.locality, rec.runner_up) if name]
    times["sites"].append(time.perf_counter() - t0)
    times["sites_cpu"].append(time.process_time() - c0)
    times["sites_cbc_cpu"].append(children_cpu() - k0)  # CBC runs as a child process
top = ""
if profile:
    pr = cProfile.Profile()
    pr.enable()
    api.analyse_localities(area, access, settings=settings)
    pr.disable()
    buf = io.StringIO()
    pstats.Stats(pr, stream=buf).sort_stats("cumulative").print_stats(r"locmap", 25)
    top = buf.getvalue()
with open(out, "wb") as f:
    pickle.dump({"times": times, "top": top, "sensitivity": loc.sensitivity, "rankings": loc.rankings,
                 "scorecards": loc.scorecards, "recommendation": rec,
                 "sites": [(s.sites, s.gain, s.summary) for s in sites]}, f)
'''


def run_child(tree: Path, area: str, repeats: int, profile: bool) -> dict:
    """One child process on ``tree``; its timings and results."""
    with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as tmp:
        out = tmp.name
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run([sys.executable, "-c", CHILD, area, str(repeats), "1" if profile else "0", out],
                   env=env, check=True, cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(out, "rb") as f:
        res = pickle.load(f)
    os.unlink(out)
    return res


def same_results(a: dict, b: dict) -> list[str]:
    """Names of the tables that differ between two children's results (empty: all bit-identical)."""
    import pandas as pd  # noqa: PLC0415  (only the comparison needs it)

    bad = []
    for part in ("sensitivity", "rankings", "scorecards"):
        for name in a[part]:
            try:
                pd.testing.assert_frame_equal(a[part][name], b[part][name], check_exact=True)
            except AssertionError:
                bad.append(f"{part}/{name}")
    for i, (x, y) in enumerate(zip(a["sites"], b["sites"])):
        for label, u, v in zip(("sites", "gain", "summary"), x, y):
            try:
                pd.testing.assert_frame_equal(u, v, check_exact=True)
            except AssertionError:
                bad.append(f"hub sites {i}/{label}")
    if a["recommendation"] != b["recommendation"]:
        bad.append("recommendation")
    return bad


def summarise(label: str, runs: list[dict]) -> dict:
    loc = [t for r in runs for t in r["times"]["localities"]]
    sites = [t for r in runs for t in r["times"]["sites"]]
    first_loc = [r["times"]["localities"][0] for r in runs]
    warm_loc = [t for r in runs for t in r["times"]["localities"][1:]] or first_loc
    cpu = {k: [t for r in runs for t in r["times"].get(k, [])] for k in ("localities_cpu", "sites_cpu",
                                                                         "sites_cbc_cpu")}
    first_cpu = [r["times"]["localities_cpu"][0] for r in runs if r["times"].get("localities_cpu")]
    warm_cpu = [t for r in runs for t in r["times"].get("localities_cpu", [])[1:]] or first_cpu
    return {"tree": label, "localities_first_s": statistics.median(first_loc),
            "localities_warm_s": statistics.median(warm_loc), "localities_min_s": min(loc),
            "sites_two_localities_s": statistics.median(sites), "sites_min_s": min(sites),
            # CPU seconds (best of the repeats: the least disturbed by other processes)
            "localities_first_cpu_s": min(first_cpu), "localities_warm_cpu_s": min(warm_cpu),
            "sites_cpu_s": min(cpu["sites_cpu"]), "sites_cbc_cpu_s": min(cpu["sites_cbc_cpu"])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, default=Path("/work/main"), help="tree of the code to compare with")
    ap.add_argument("--area", default="ealing")
    ap.add_argument("--repeats", type=int, default=3, help="timed steps per child (the first pays imports)")
    ap.add_argument("--rounds", type=int, default=1, help="children per tree, alternating")
    ap.add_argument("--profile", action="store_true", help="print each tree's cProfile top of one more step")
    args = ap.parse_args(argv)
    trees = {"baseline": args.baseline.resolve(), "this tree": HERE}
    runs: dict[str, list[dict]] = {k: [] for k in trees}
    load = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for label, tree in trees.items():
            runs[label].append(run_child(tree, args.area, args.repeats, args.profile))
            load.append(os.getloadavg()[0])
    rows = [summarise(label, r) for label, r in runs.items()]
    print(f"area {args.area}, {args.repeats} repeats x {args.rounds} round(s), load average (1 min) "
          f"{min(load):.1f}-{max(load):.1f} on {os.cpu_count()} CPUs")
    print("| tree | localities, first (imports) s | localities, warm s | min s | hub sites (2 localities) s | min s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['tree']} | {r['localities_first_s']:.2f} | {r['localities_warm_s']:.2f} | "
              f"{r['localities_min_s']:.2f} | {r['sites_two_localities_s']:.2f} | {r['sites_min_s']:.2f} |")
    print("\nCPU seconds, best of the repeats (process time; CBC's child processes apart):")
    print("| tree | localities, first (imports) | localities, warm | hub sites (2 localities) | CBC |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['tree']} | {r['localities_first_cpu_s']:.2f} | {r['localities_warm_cpu_s']:.2f} | "
              f"{r['sites_cpu_s']:.2f} | {r['sites_cbc_cpu_s']:.2f} |")
    b, t = rows
    print(f"ratio baseline / this tree: localities warm {b['localities_warm_s'] / t['localities_warm_s']:.1f}x, "
          f"first {b['localities_first_s'] / t['localities_first_s']:.1f}x, "
          f"hub sites {b['sites_two_localities_s'] / t['sites_two_localities_s']:.1f}x")
    bad = same_results(runs["baseline"][-1], runs["this tree"][-1])
    print("results bit-identical" if not bad else "results DIFFER: " + ", ".join(bad))
    if args.profile:
        for label in trees:
            print(f"\n## cProfile, {label}\n{runs[label][-1]['top']}")
    print(json.dumps({"rows": rows, "load": load}))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
