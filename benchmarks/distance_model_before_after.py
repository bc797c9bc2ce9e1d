"""Before / after the London distance model: the league figure of every London borough.

    PYTHONPATH=. python benchmarks/distance_model_before_after.py --old-calibration /work/main/locmap/distance/calibration.py --out DIR

For each borough: load the area once, then measure the three region key types (GP practice,
primary school, library) with (a) the area's own circuity fit of the old code (its
``calibrate(area)``, loaded from the file given) and (b) the shipped London model.  The league
figure is the % of children 0-4 whose nearest key service is beyond 15 minutes (4 km/h); GP alone
too.  Writes ``before_after.csv`` (one row per borough, written after every borough so a long
run can be resumed with --skip-done) and prints ranks and the Spearman correlation.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from locmap.access.nearest import compute_access
from locmap.data.area import load_area
from locmap.data.region import load_region
from locmap.distance.calibration import beyond_interval_fields
from locmap.distance.routing import EstimatedRouter, default_router
from locmap.settings import Settings

TYPES = ["gp_practice", "primary_school", "library"]


def _old_calibrate(path: str):
    spec = importlib.util.spec_from_file_location("old_calibration", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["old_calibration"] = mod
    spec.loader.exec_module(mod)
    return mod.calibrate


def _beyond(wide: pd.DataFrame, types: list[str], minutes_max: float = 15.0) -> tuple[float, np.ndarray]:
    m = np.column_stack([wide[f"minutes__{t}"].to_numpy(float) for t in types])
    nearest = np.where(np.isfinite(m).any(axis=1), np.nanmin(np.where(np.isfinite(m), m, np.inf), axis=1), np.nan)
    pop = wide["pop_0_4"].to_numpy(float)
    return 100.0 * pop[~(nearest <= minutes_max)].sum() / pop.sum(), nearest


def one_borough(area_name: str, settings: Settings, old_calibrate) -> dict:
    area = load_area(area_name, settings)
    types = [t for t in TYPES if (area.services["service_type"] == t).any()]
    old = old_calibrate(area)
    row = {"area": area_name, "lad_nm": area.pack.lad_nm, "old_circuity": old.circuity,
           "old_intercept_m": old.intercept_m, "old_n": old.n}
    for tag, router in (("old", EstimatedRouter(old.circuity, old.intercept_m)), ("new", default_router(area))):
        res = compute_access(area, settings, router=router, service_types=types)
        row[f"{tag}_pct_any"], nearest = _beyond(res.wide, types)
        row[f"{tag}_pct_gp"], _ = _beyond(res.wide, ["gp_practice"])
        if tag == "new":
            iv = beyond_interval_fields("estimated", res.wide, nearest, "any", 15.0)
            row["new_any_low"], row["new_any_high"] = iv["any_low"], iv["any_high"]
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old-calibration", required=True)
    ap.add_argument("--out", default="/tmp/distance-before-after")
    ap.add_argument("--only", nargs="*", default=None, help="area names (default: every London borough)")
    args = ap.parse_args()
    settings = Settings.from_env(progress=False)
    old = _old_calibrate(args.old_calibration)
    areas = args.only or list(load_region("london", settings).boroughs["area"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    csv = out / "before_after.csv"
    done = pd.read_csv(csv) if csv.exists() else pd.DataFrame(columns=["area"])
    rows = done.to_dict("records")
    for name in areas:
        if name in set(done["area"]):
            continue
        rows.append(one_borough(name, settings, old))
        pd.DataFrame(rows).to_csv(csv, index=False)
        print(rows[-1], flush=True)
    t = pd.DataFrame(rows)
    t["old_rank"] = t["old_pct_any"].rank(ascending=False, method="min").astype(int)
    t["new_rank"] = t["new_pct_any"].rank(ascending=False, method="min").astype(int)
    t.to_csv(csv, index=False)
    if len(t) > 2:
        print(f"Spearman (old vs new league figure): {spearmanr(t['old_pct_any'], t['new_pct_any']).statistic:.3f}")
    with pd.option_context("display.width", 220, "display.max_columns", 30):
        print(t.round(2).to_string(index=False))


if __name__ == "__main__":
    main()
