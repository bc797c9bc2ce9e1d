"""``locmap map`` and ``locmap sheet``: workshop maps and per-locality profile sheets.

Examples::

    locmap map --area ealing --layers need,services,gaps --out maps/ealing.html --offline
    locmap sheet --area ealing --locality Northolt --out sheets/ --scheme towns

Both compute the analytic layers they need once (``locmap.api.map_layers``).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from locmap.cli._options import add_common, load_area, say, settings_from_args
from locmap.errors import SettingsError

# The library's names, as literals so that the parser imports nothing heavy (tests/test_imports.py
# checks they are locmap.maps.web.DEFAULT_LAYERS/KNOWN_LAYERS and localities.schemes.SCHEME_COLUMNS)
DEFAULT_LAYERS = ("boundaries", "need", "services", "access", "gaps", "crossborder", "localities")
KNOWN_LAYERS = frozenset(DEFAULT_LAYERS)
SCHEMES = ("pcns", "towns", "wards")


def add_parser(subparsers: Any) -> None:
    """Register ``map`` and ``sheet`` on an ``argparse`` sub-parsers object."""
    p = subparsers.add_parser("map", help="interactive HTML map (folium) for workshops",
                              description="Interactive map of needs and assets: boundaries, need "
                                          "choropleths, services, pram distance, gap areas, localities.")
    add_common(p)
    p.add_argument("--layers", default=",".join(DEFAULT_LAYERS),
                   help=f"comma-separated, from: {', '.join(sorted(KNOWN_LAYERS))} "
                        f"(default: {','.join(DEFAULT_LAYERS)})")
    p.add_argument("--scheme", default="towns", choices=SCHEMES, help="locality scheme (default: towns)")
    p.add_argument("--gap-minutes", type=float, default=None,
                   help="threshold of the gap areas in minutes (default: the middle of --minutes, 15)")
    p.add_argument("--title", default=None, help="map title (default: '<Area>: children, deprivation and "
                                                 "family services')")
    p.add_argument("--out", default=None, help="output .html file (default: out/<area>/maps/<area>.html)")
    p.set_defaults(out_default="out/{area}/maps/{area}.html")
    p.add_argument("--offline", action="store_true",
                   help="self-contained HTML (Leaflet inlined; background tiles still need internet)")
    p.set_defaults(func=run_map)

    s = subparsers.add_parser("sheet", help="printable locality profile sheet (PNG + PDF)",
                              description="One-page profile of a locality: map plus key figures.")
    add_common(s)
    s.add_argument("--locality", required=True, help="locality name, e.g. Northolt (any letter case)")
    s.add_argument("--scheme", default="towns", choices=SCHEMES, help="locality scheme (default: towns)")
    s.add_argument("--paper", default="A4", choices=("A4", "A3"), help="paper size (default: A4)")
    s.add_argument("--dpi", type=int, default=200, help="resolution of the PNG in dots per inch (default 200)")
    s.add_argument("--out", default=None, help="output folder for <locality>.png/.pdf (default: out/<area>/sheets/)")
    s.set_defaults(out_default="out/{area}/sheets")
    s.set_defaults(func=run_sheet)


def parse_layers(text: str) -> tuple[str, ...]:
    """``"need,services"`` -> ('need', 'services'); an unknown layer is a SettingsError listing the valid ones."""
    layers = tuple(x.strip() for x in str(text).split(",") if x.strip())
    bad = [x for x in layers if x not in KNOWN_LAYERS]
    if bad:
        raise SettingsError(f"--layers: unknown layer(s) {', '.join(bad)}; choose from "
                            f"{', '.join(sorted(KNOWN_LAYERS))}")
    return layers


def run_map(args: argparse.Namespace) -> int:
    """``locmap map``: build and save the HTML map."""
    layers = parse_layers(args.layers)
    t0 = time.perf_counter()
    settings = settings_from_args(args)
    area = load_area(args, settings)
    from locmap import api  # after the checks of load_area: bad input fails before the library is imported

    inputs = api.map_layers(area, scheme=args.scheme, layers=layers, gap_minutes=args.gap_minutes)
    path = api.write_map(area, args.out, inputs, layers, title=args.title, offline=args.offline)
    size_mb = Path(path).stat().st_size / 1e6
    say(f"wrote {path} ({size_mb:.1f} MB, {time.perf_counter() - t0:.1f} s)"
        + (" - offline copy: background tiles still need internet" if args.offline else ""))
    return 0


def run_sheet(args: argparse.Namespace) -> int:
    """``locmap sheet``: write the locality profile sheet (PNG + PDF)."""
    settings = settings_from_args(args)
    area = load_area(args, settings)
    from locmap import api  # after the checks of load_area: bad input fails before the library is imported

    inputs = api.map_layers(area, scheme=args.scheme, layers=("access", "localities"))
    for p in api.write_sheet(area, args.locality, args.out, inputs, scheme=args.scheme,
                             paper=args.paper, dpi=args.dpi):
        say(f"wrote {p}")
    return 0
