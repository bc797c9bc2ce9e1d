"""``locmap network ...``: build, inspect and download street networks.

Registered by the main CLI through :func:`add_parser`::

    locmap network build --osm greater-london.osm.pbf --profile pram [--pram-penalties] [--rebuild]
    locmap network info
    locmap network fetch --area ealing --buffer-m 2000 --out geo/ealing_walk.graphml
    locmap network fetch --bbox -0.42,51.48,-0.22,51.57 --out geo/box.graphml

Every format gives the same network from the same OSM data: .osm.pbf, .osm, .osm.bz2, .osm.gz,
.graphml (osmnx), .gpkg/.geojson; see docs/network.md and geo/README.md.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from locmap.errors import LocmapError, SettingsError
from locmap.settings import CRS_WEB, PROFILES, Settings

if TYPE_CHECKING:
    import shapely

FORMATS_HELP = ".osm.pbf, .osm, .osm.bz2, .osm.gz, .graphml (osmnx), .gpkg or .geojson"

DESCRIPTION = f"""\
Build, inspect and download street networks.

  locmap network build --osm greater-london.osm.pbf --profile pram [--pram-penalties]
  locmap network info
  locmap network fetch --area ealing --buffer-m 2000 --out geo/ealing_walk.graphml
  locmap network fetch --bbox -0.42,51.48,-0.22,51.57 --out geo/box.graphml

Every format gives the same network from the same OSM data ({FORMATS_HELP}).
Use a network in any command with --network FILE. See docs/network.md and geo/README.md.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``network`` command (with sub-commands) on an argparse subparsers object."""
    p = subparsers.add_parser("network", help="build / inspect / download the street network",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="network_command", metavar="{build,info,fetch}")
    sub.required = True

    b = sub.add_parser("build", help="build (or load from cache) the walk/pram graph from a file")
    b.add_argument("--osm", required=True, type=Path,
                   help=f"street network file ({FORMATS_HELP}); relative to the current folder")
    b.add_argument("--profile", choices=PROFILES, default=None,
                   help="street profile (default: settings, 'pram')")
    b.add_argument("--pram-penalties", action="store_true",
                   help="apply the suggested pram penalties (unpaved x1.5, steep x1.3, raised "
                        "kerb x1.2); default: none (docs/network.md)")
    b.add_argument("--rebuild", action="store_true", help="ignore the cache and rebuild")
    b.add_argument("--crs", default=None, help="metric CRS (default EPSG:27700)")
    b.set_defaults(func=run_build)

    i = sub.add_parser("info", help="list cached networks with their build reports")
    i.set_defaults(func=run_info)

    f = sub.add_parser("fetch", help="download the OSM ways around an area (needs internet)")
    where = f.add_mutually_exclusive_group()
    where.add_argument("--area", default=None, help="area pack name (default: ealing)")
    where.add_argument("--bbox", default=None, metavar="W,S,E,N",
                       help="lon/lat box (EPSG:4326) instead of an area pack")
    f.add_argument("--buffer-m", type=float, default=2000.0, help="buffer around the area, metres")
    f.add_argument("--out", required=True, type=Path, help="GraphML file to write")
    f.add_argument("--overpass-url", default=None,
                   help="Overpass API endpoint (default: osmnx's, https://overpass-api.de/api)")
    f.add_argument("--timeout-s", type=float, default=180.0, help="HTTP timeout, seconds")
    f.set_defaults(func=run_fetch)
    return p


def run_build(args: argparse.Namespace) -> int:
    """Build or load the network for ``--osm`` and print its report.  Returns an exit code."""
    from locmap.distance.network import PramPenalties, describe, load_or_build  # at call time: the parser imports nothing heavy (docs/decisions.md)

    settings = Settings.from_env()
    t0 = time.perf_counter()
    net = load_or_build(args.osm, args.profile, settings, rebuild=args.rebuild,
                        crs=args.crs, penalties=PramPenalties() if args.pram_penalties else None)
    print(describe(net))
    print(f"  ({time.perf_counter() - t0:.2f} s)")
    print(f"use it with: locmap run --network {args.osm}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Print every cached network.  Returns an exit code (0 also when the cache is empty)."""
    from locmap.distance.network import StreetNetwork, cached_networks, describe  # at call time: the parser imports nothing heavy (docs/decisions.md)

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
    """Download the OSM ways around ``--area`` or ``--bbox`` (+ buffer) to ``--out``."""
    from locmap import api  # at call time: the parser imports nothing heavy (docs/decisions.md)
    from locmap.distance.network import fetch_osm

    settings = Settings.from_env()
    if args.bbox:
        outline = _bbox(args.bbox)
    else:
        borough = api.load(args.area or "ealing", settings).borough
        outline = borough.to_crs(CRS_WEB).geometry.union_all()
    out = fetch_osm(outline, args.buffer_m, args.out, settings=settings,
                    overpass_url=args.overpass_url, timeout_s=args.timeout_s)
    print(f"wrote {out}; use it with: locmap run --network {out}")
    return 0


def _bbox(text: str) -> shapely.Polygon:
    import shapely

    try:
        w, s, e, n = (float(v) for v in text.split(","))
    except ValueError:
        raise SettingsError(f"--bbox must be four numbers W,S,E,N in degrees, got {text!r}") from None
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise SettingsError(f"--bbox {text!r} is not a lon/lat box W,S,E,N with W < E and S < N")
    return shapely.box(w, s, e, n)


__all__ = ["add_parser", "run_build", "run_info", "run_fetch"]
