"""Time the whole Ealing job step by step and report peak memory (RSS).

Usage: python benchmarks/bench_pipeline.py [--out /tmp/locmap-bench] [--no-maps]

Also reports the circuity calibration (MAE, R²) used by the estimated distances.
"""
from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="/tmp/locmap-bench")
    ap.add_argument("--no-maps", action="store_true")
    args = ap.parse_args()
    from locmap import api
    from locmap.data.area import load_area
    from locmap.distance.calibration import calibrate
    from locmap.settings import Settings

    s = Settings.from_env(progress=False)
    t0 = time.perf_counter()
    area = load_area("ealing", s, use_cache=False)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    cal = calibrate(area)
    t_cal = time.perf_counter() - t0
    t0 = time.perf_counter()
    api.run_all("ealing", s, Path(args.out), api.RunOptions(maps=not args.no_maps))
    t_all = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"load_area: {t_load:.2f} s; calibration: {t_cal:.2f} s")
    print(f"distance model {cal.model_id}: road = {cal.intercept_m:.0f} m + {cal.circuity:.3f} x straight; "
          f"n={cal.n}; out-of-sample MAE {cal.mae_m:.0f} m; R² {cal.r2:.3f}")
    for st, d in cal.per_service.items():
        print(f"  {st}: n={d['n']} out-of-sample MAE {d['mae_m']:.0f} m R² {d['r2']:.3f} "
              f"median |error| {d['median_abs_pct']:.1f} %")
    print(Path(args.out, "timings.csv").read_text())
    print(f"whole job: {t_all:.1f} s; peak RSS {rss_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
