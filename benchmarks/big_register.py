"""A synthetic services register of many rows (default 1,000,000) for the scale benchmark of #23.

Rows are spread uniformly over a box around Greater London (EPSG:27700), with the area's service
types in turn, a capacity on every third row, and one row in 10,000 deliberately bad (blank type,
an unknown type, or no location), so the reading, validation, duplicate check and buffer filter
all see the whole file.  About 6% of the rows fall within Ealing + 2 km.

    python benchmarks/big_register.py --rows 1000000 --out /tmp/big_register.csv
    /usr/bin/time -v nice locmap check --area ealing --services /tmp/big_register.csv
    /usr/bin/time -v nice locmap run --area ealing --services /tmp/big_register.csv --out /tmp/big_run

Results: BENCHMARKS.md, "1,000,000-row register".
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

#: Greater London and a margin, EPSG:27700 metres (west, south, east, north)
LONDON_BOX = (503_000.0, 155_000.0, 562_000.0, 201_000.0)
TYPES = ("childrens_centre", "gp_practice", "pharmacy", "library", "primary_school", "secondary_school",
         "nursery_school", "special_school", "other_school")


def make_register(rows: int, seed: int = 0, box: tuple[float, float, float, float] = LONDON_BOX) -> pd.DataFrame:
    """The register as a DataFrame (columns of the user services schema)."""
    rng = np.random.default_rng(seed)
    i = np.arange(rows)
    types = np.array(TYPES, dtype=object)[i % len(TYPES)]
    df = pd.DataFrame({
        "service_id": [f"big{k}" for k in i],
        "name": [f"Synthetic {t.replace('_', ' ')} {k}" for t, k in zip(types, i)],
        "service_type": types,
        "easting": np.round(rng.uniform(box[0], box[2], rows), 1),
        "northing": np.round(rng.uniform(box[1], box[3], rows), 1),
        "capacity": np.where(i % 3 == 0, rng.integers(10, 400, rows), -1).astype(object),
    })
    df.loc[df["capacity"] == -1, "capacity"] = ""
    bad = i % 10_000 == 7
    df.loc[bad & (i % 3 == 0), "service_type"] = ""
    df.loc[bad & (i % 3 == 1), "service_type"] = "swimming_pool"
    df.loc[bad & (i % 3 == 2), ["easting", "northing"]] = np.nan
    return df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("/tmp/big_register.csv"))
    args = ap.parse_args()
    df = make_register(args.rows, args.seed)
    df.to_csv(args.out, index=False)
    print(f"wrote {args.out}: {len(df):,} rows, {args.out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
