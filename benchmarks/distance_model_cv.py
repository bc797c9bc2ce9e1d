"""Out-of-sample comparison of distance-model families (docs/distance-model.md).

    PYTHONPATH=. python benchmarks/distance_model_cv.py [--data ../shared/data] [--gwr] [--out DIR]

Prints the overall table (family x CV scheme) and writes ``overall.csv`` / ``per_borough.csv``.
GWR (mgwr, adaptive bisquare, 150 nearest pairs) runs under spatially blocked CV only and only with
``--gwr``: about 50 s per fold on the 2-core machine, so ~8 minutes for the 10 blocked folds.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from locmap.distance.model import london_table
from locmap.distance.model_selection import FAMILIES, SCHEMES, cross_validate, markdown_tables, summarise


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--gwr", action="store_true")
    ap.add_argument("--out", default="/tmp/distance-model-cv")
    args = ap.parse_args()
    t = london_table(args.data)
    t = t[~t["edge"]].reset_index(drop=True)
    fams = [f for f in FAMILIES if f != "gwr"]
    cv = cross_validate(t, fams, SCHEMES)
    if args.gwr:
        g = cross_validate(t, ["gwr"], ["blocked"])
        cv["pred__gwr__blocked"] = g["pred__gwr__blocked"]
    overall, per = summarise(cv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    overall.to_csv(out / "overall.csv", index=False)
    per.to_csv(out / "per_borough.csv", index=False)
    cv.to_parquet(out / "predictions.parquet")
    (out / "tables.md").write_text(markdown_tables(overall, per) + "\n", encoding="utf-8")
    print(markdown_tables(overall, per))


if __name__ == "__main__":
    main()
