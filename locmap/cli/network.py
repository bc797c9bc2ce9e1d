"""``locmap network ...``: build, inspect and fetch street networks.

Registered by the main CLI through :func:`add_parser`::

    locmap network build --osm greater-london.osm.pbf --profile pram [--rebuild]
    locmap network info
    locmap network fetch --area ealing --buffer-m 2000 --out geo/ealing-walk.graphml
"""
from __future__ import annotations

import argparse
import sys
import time

from locmap.errors import LocmapError
from locmap.settings import Settings


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``network`` command (with sub-commands) on an argparse subparsers object."""
    p = subparsers.add_parser("network", help="build / inspect / download the street network",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="network_command", metavar="{build,info,fetch}")
    sub.required = True

    b = sub.add_parser("build", help="build (or load from cache) the walk/pram graph from an OSM file")
    b.add_argument("--osm", required=True, help=".osm.pbf (pyrosm), .graphml or .osm XML (osmnx)")
    b.add_argument("--profile", choices=("pram", "walk"), default=None,
                   help="street profile (default: settings, 'pram')")
    b.add_argument("--rebuild", action="store_true", help="ignore the cache and rebuild")
    b.add_argument("--crs", default=None, help="metric CRS (default EPSG:27700)")
    b.set_defaults(func=run_build)

    i = sub.add_parser("info", help="list cached networks with their build reports")
    i.set_defaults(func=run_info)

    f = sub.add_parser("fetch", help="download the walkable OSM network around an area (needs internet)")
    f.add_argument("--area", default="ealing", help="area pack name (default: ealing)")
    f.add_argument("--buffer-m", type=float, default=2000.0, help="buffer around the area, metres")
    f.add_argument("--out", required=True, help="GraphML file to write")
    f.set_defaults(func=run_fetch)
    return p


def _fail(exc: Exception) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 1


def run_build(args: argparse.Namespace) -> int:
    """Build or load the network for ``--osm`` and print its report.  Returns an exit code."""
    from locmap.distance.network import describe, load_or_build  # noqa: PLC0415

    settings = Settings.from_env()
    t0 = time.perf_counter()
    try:
        net = load_or_build(args.osm, args.profile, settings, rebuild=args.rebuild,
                            crs=getattr(args, "crs", None))
    except LocmapError as exc:
        return _fail(exc)
    print(describe(net))
    print(f"  ({time.perf_counter() - t0:.2f} s)")
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Print every cached network.  Returns an exit code (0 also when the cache is empty)."""
    from locmap.distance.network import StreetNetwork, cached_networks, describe  # noqa: PLC0415

    settings = Settings.from_env()
    paths = cached_networks(settings)
    if not paths:
        print(f"no cached networks in {settings.resolve_cache_dir() / 'network'}; "
              "run `locmap network build --osm FILE`")
        return 0
    for p in paths:
        try:
            net = StreetNetwork.load(p)
        except LocmapError as exc:
            print(f"{p}: unreadable ({exc})")
            continue
        print(p)
        print(describe(net))
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    """Download the walk network around ``--area`` (+ buffer) to ``--out``.  Returns an exit code."""
    from locmap.distance.network import fetch_osm  # noqa: PLC0415
    from locmap.settings import CRS_WEB  # noqa: PLC0415

    try:
        from locmap.data.area import load_area  # noqa: PLC0415  (written by the data layer)

        borough = load_area(args.area, Settings.from_env()).borough
        outline = borough.to_crs(CRS_WEB).geometry.union_all()
        out = fetch_osm(outline, args.buffer_m, args.out)
    except LocmapError as exc:
        return _fail(exc)
    print(f"wrote {out}; build it with: locmap network build --osm {out}")
    return 0


__all__ = ["add_parser", "run_build", "run_info", "run_fetch"]
