"""Time ``api.analyse_access`` on one area (default London as one area) step by step.

Usage::

    python benchmarks/bench_london_access.py [--area london] [--top 25] [--save DIR]
    python benchmarks/bench_london_access.py --compare DIR_BEFORE DIR_AFTER

Runs the access analysis (estimated distances unless the area pack names a network) under
cProfile and prints the cumulative seconds of the steps of ``analyse_access`` (2SFCA, gap
areas, cross-border shares, ...), the whole call and the peak RSS.  ``--save DIR`` writes the
2SFCA, gap-area and cross-border tables as Parquet so two versions of the code can be
compared with ``--compare`` (floats to 1e-9 relative, gap polygons by area to 1e-6).
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from locmap import api
from locmap.data.area import load_area
from locmap.settings import Settings

#: (label, file name, function name) of the steps reported, in the order analyse_access runs them
STEPS = (
    ("distances (compute_access)", "nearest.py", "compute_access"),
    ("coverage", "coverage.py", "coverage"),
    ("gap areas (all_gap_polygons)", "gaps.py", "all_gap_polygons"),
    ("cross-border shares", "crossborder.py", "crossborder_shares"),
    ("2SFCA tables (api._fca_tables)", "api.py", "_fca_tables"),
    ("  two_step_fca", "fca.py", "two_step_fca"),
    ("  fca_by_area", "fca.py", "fca_by_area"),
)

#: tables saved by --save: AccessAnalysis attribute -> sort keys
TABLES = {
    "fca_homes": ["service_type", "threshold_minutes", "home_id"],
    "fca_services": ["service_type", "threshold_minutes", "service_id"],
    "fca_areas": ["level", "area_id", "service_type", "threshold_minutes"],
    "crossborder_shares": ["level", "area_id", "service_type", "band"],
}


def _step_seconds(prof: cProfile.Profile) -> dict[str, float]:
    stats = pstats.Stats(prof).stats  # (file, line, name) -> (cc, nc, tt, ct, callers)
    out = {}
    for label, fname, func in STEPS:
        out[label] = sum(v[3] for k, v in stats.items() if k[0].endswith(fname) and k[2] == func)
    return out


def _save(res, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, keys in TABLES.items():
        df = getattr(res, name)
        df.sort_values(keys, kind="mergesort").reset_index(drop=True).to_parquet(folder / f"{name}.parquet")
    gaps = res.gap_areas_all
    gaps.drop(columns="geometry").assign(wkb=gaps.geometry.to_wkb()).to_parquet(folder / "gaps.parquet")


def _compare(before: Path, after: Path) -> int:
    bad = 0
    for name in [*TABLES, "gaps"]:
        a = pd.read_parquet(before / f"{name}.parquet")
        b = pd.read_parquet(after / f"{name}.parquet")
        if a.shape != b.shape or list(a.columns) != list(b.columns):
            print(f"{name}: shape/columns differ {a.shape} vs {b.shape}")
            bad += 1
            continue
        worst = 0.0
        for c in a.columns:
            if c == "wkb":
                ga, gb = shapely.from_wkb(a[c].to_numpy()), shapely.from_wkb(b[c].to_numpy())
                rel = np.abs(shapely.area(ga) - shapely.area(gb)) / shapely.area(ga)
                sym = shapely.area(shapely.symmetric_difference(ga, gb)) / shapely.area(ga)
                print(f"  gaps: area max rel diff {rel.max():.2e}, sym-diff max rel {sym.max():.2e}")
                bad += int(rel.max() > 1e-6 or sym.max() > 1e-6)
            elif pd.api.types.is_float_dtype(a[c]):
                x, y = a[c].to_numpy(float), b[c].to_numpy(float)
                same_nan = np.array_equal(np.isnan(x), np.isnan(y))
                with np.errstate(invalid="ignore", divide="ignore"):
                    rel = np.nanmax(np.abs(x - y) / np.maximum(np.abs(x), 1e-300), initial=0.0)
                if not same_nan:
                    print(f"  {name}.{c}: NaN positions differ")
                    bad += 1
                worst = max(worst, float(rel))
            elif not a[c].astype(str).equals(b[c].astype(str)):
                print(f"  {name}.{c}: values differ")
                bad += 1
        print(f"{name}: {len(a)} rows, worst float rel diff {worst:.2e}")
        bad += worst > 1e-9
    print("IDENTICAL (to tolerance)" if not bad else f"{bad} differences")
    return int(bad > 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--area", default="london")
    ap.add_argument("--top", type=int, default=0, help="also print the top N functions by cumulative time")
    ap.add_argument("--save", type=Path, default=None)
    ap.add_argument("--compare", type=Path, nargs=2, default=None)
    args = ap.parse_args()
    if args.compare:
        return _compare(*args.compare)
    s = Settings.from_env(progress=False)
    t0 = time.perf_counter()
    area = load_area(args.area, s, use_cache=False)
    t_load = time.perf_counter() - t0
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    res = prof.runcall(api.analyse_access, area, s)
    t_all = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.area}: {len(area.homes):,} homes, {int(area.located_services()['service_id'].nunique()):,} "
          f"located services; load_area {t_load:.1f} s")
    for label, sec in _step_seconds(prof).items():
        print(f"{label:34s} {sec:8.1f} s (cProfile)")
    print(f"{'analyse_access':34s} {t_all:8.1f} s wall (profiled); peak RSS {rss_mb:,.0f} MB")
    if args.top:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(args.top)
    if args.save:
        _save(res, args.save)
        print(f"saved tables to {args.save}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
