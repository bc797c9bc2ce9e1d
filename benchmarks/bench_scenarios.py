"""Time a 3-scenario comparison on Ealing against one run's access step.

Usage: python benchmarks/bench_scenarios.py [--repeat 3]

The run's access step is ``api.analyse_access(area, settings)`` (what ``locmap run`` does).  The
comparison reuses it (``access=``) and runs the three shipped scenarios
(data/scenarios/ealing_*.toml) without re-scoring.  The hub-site scenario needs the baseline
recommendation and the hub-site solver (steps a run also makes: localities and sites); that part
is timed separately ("resolve") from the distance part ("measure + compare").  Median of
``--repeat`` runs; the machine is shared, so each pair (access, comparison) is timed back to back.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "data" / "scenarios" / f for f in
         ("ealing_2025_closures.toml", "ealing_hubs_recommended.toml", "ealing_library_hub.toml")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--run-steps", action="store_true",
                    help="pass the run's locality analysis and hub sites (as locmap run has them, computed "
                         "before the timer starts), so the hub-site scenario does not compute them again")
    args = ap.parse_args()
    from locmap import api
    from locmap.scenarios import compare as cmp_mod
    from locmap.scenarios import resolve as res_mod

    s = api.make_settings()
    area = api.load("ealing", s)
    rows = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        access = api.analyse_access(area, s)
        t_access = time.perf_counter() - t0
        loc = api.analyse_localities(area, access, schemes=("towns",)) if args.run_steps else None
        sites = () if loc is None else [
            api.hub_sites(area, s, loc.schemes["towns"], name, p=2, router=access.router)
            for name in (lambda r: (r.locality, r.runner_up))(api.recommendation_for(loc, "towns"))]
        timed: dict[str, float] = {}
        real_resolve, real_compare = res_mod.resolve, cmp_mod.compare

        def timed_call(name, fn):
            def run(*a, **kw):
                t = time.perf_counter()
                try:
                    return fn(*a, **kw)
                finally:
                    timed[name] = timed.get(name, 0.0) + time.perf_counter() - t
            return run

        import locmap.scenarios.comparison as comparison
        comparison.resolve, comparison.compare = timed_call("resolve", real_resolve), timed_call("compare", real_compare)
        try:
            t0 = time.perf_counter()
            c = api.compare_scenarios(area, FILES, s, access=access, rescore=False, localities=loc, sites=sites)
            t_cmp = time.perf_counter() - t0
        finally:
            comparison.resolve, comparison.compare = real_resolve, real_compare
        rows.append((t_access, t_cmp, timed["resolve"], timed["compare"], c.router_calls))
        print(f"access {t_access:.2f} s | comparison {t_cmp:.2f} s (resolve {timed['resolve']:.2f} s incl. hub "
              f"sites; measure + compare {timed['compare']:.2f} s) | router calls {c.router_calls}", flush=True)
    med = [statistics.median(r[i] for r in rows) for i in range(4)]
    print(f"median: access {med[0]:.2f} s; comparison {med[1]:.2f} s = {100 * med[1] / med[0]:.0f} % of access; "
          f"measure + compare {med[3]:.2f} s = {100 * med[3] / med[0]:.0f} %; resolve {med[2]:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
