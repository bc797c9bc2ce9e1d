"""``locmap map`` and ``locmap sheet``: workshop maps and per-locality profile sheets.

Examples::

    locmap map --area ealing --layers need,services,gaps --out maps/ealing.html --offline
    locmap sheet --area ealing --locality Northolt --out sheets/ --scheme towns

Both load the area lazily (``locmap.data.area.load_area``); access, gap and scorecard layers use
``locmap.access.nearest`` / ``locmap.access.gaps`` / ``locmap.localities.schemes`` / ``locmap.localities.scorecard`` when those
modules are importable and say clearly what was left out when they are not.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from locmap.errors import LocmapError, UnknownAreaError

#: Locality scheme name -> LSOA column it is built from.
SCHEME_COLUMNS: dict[str, str] = {"towns": "town", "pcns": "pcn_name", "wards": "ward_nm"}


@dataclass
class MapInputs:
    """Optional analytic layers for a map (any may be ``None``) and notes about them."""

    access: gpd.GeoDataFrame | None = None
    method: str | None = None
    gaps: gpd.GeoDataFrame | None = None
    localities: gpd.GeoDataFrame | None = None
    scorecard: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def prepare_layers(area: Any, want_access: bool = True, want_gaps: bool = True,
                   want_localities: bool = True, scheme: str = "towns",
                   gap_threshold_minutes: float = 15.0) -> MapInputs:
    """Compute access, gap areas, localities and scorecard for ``area`` where possible.

    Parameters
    ----------
    area : AreaData
        Study area.
    want_access, want_gaps, want_localities : bool
        Which analytic layers are needed.
    scheme : str
        Locality scheme: ``towns``, ``pcns`` or ``wards`` (an LSOA column).
    gap_threshold_minutes : float
        Threshold of the gap areas drawn (minutes).

    Returns
    -------
    MapInputs
        Missing modules or failures become ``notes`` (printed by the CLI), never silent.
    """
    out = MapInputs()
    res = None
    if want_access or want_gaps or want_localities:
        try:
            from locmap.access import nearest as acc  # noqa: PLC0415
        except ImportError as exc:
            out.notes.append(f"access layers left out: locmap.access.nearest is not available ({exc})")
        else:
            t0 = time.perf_counter()
            res = acc.compute_access(area, area.settings)
            out.access, out.method = res.wide, res.method
            _say(f"access: {res.label}, {len(res.wide):,} homes, {time.perf_counter() - t0:.1f} s")
    if want_gaps and res is not None:
        try:
            from locmap.access.gaps import all_gap_polygons  # noqa: PLC0415
        except ImportError as exc:
            out.notes.append(f"gap areas left out: locmap.access.gaps is not available ({exc})")
        else:
            key = [t for t in (getattr(area.pack, "key_service_types", None) or res.service_types)
                   if t in res.service_types]
            out.gaps = all_gap_polygons(res.wide, key, [gap_threshold_minutes])
    if want_localities:
        column = SCHEME_COLUMNS.get(scheme)
        if column is None:
            raise UnknownAreaError(f"unknown locality scheme '{scheme}'; choose from {sorted(SCHEME_COLUMNS)}")
        try:
            from locmap.localities.schemes import scheme_from_column  # noqa: PLC0415
        except ImportError as exc:
            out.notes.append(f"localities left out: locmap.localities.schemes is not available ({exc})")
        else:
            sch = scheme_from_column(area.lsoa, column, name=scheme)
            out.localities = sch.localities
            if res is not None:
                try:
                    from locmap.localities.scorecard import build_scorecard  # noqa: PLC0415

                    out.scorecard = build_scorecard(
                        sch.assignment, area.lsoa, area.homes, area.services, res.table,
                        key_service_types=getattr(area.pack, "key_service_types", None),
                        thresholds_minutes=area.settings.thresholds_minutes, scheme_name=scheme,
                        walk_speed_kmh=area.settings.walk_speed_kmh)
                except ImportError as exc:
                    out.notes.append(f"scorecard left out: locmap.localities.scorecard is not available ({exc})")
    return out


def add_parser(subparsers: Any) -> None:
    """Register ``map`` and ``sheet`` on an ``argparse`` sub-parsers object."""
    p = subparsers.add_parser("map", help="interactive HTML map (folium) for workshops",
                              description="Interactive map of needs and assets: boundaries, need "
                                          "choropleths, services, pram distance, gap areas, localities.")
    from locmap.cli import add_common  # noqa: PLC0415

    add_common(p)
    p.add_argument("--layers", default="boundaries,need,services,access,gaps,localities",
                   help="comma-separated: boundaries,need,services,access,gaps,localities")
    p.add_argument("--scheme", default="towns", choices=sorted(SCHEME_COLUMNS), help="locality scheme")
    p.add_argument("--gap-minutes", type=float, default=15.0, help="threshold of the gap areas (minutes)")
    p.add_argument("--title", default=None, help="map title")
    p.add_argument("--out", default="maps/ealing.html", help="output .html file")
    p.add_argument("--offline", action="store_true",
                   help="self-contained HTML (Leaflet inlined; background tiles still need internet)")
    p.set_defaults(func=run_map)

    s = subparsers.add_parser("sheet", help="printable locality profile sheet (PNG + PDF)",
                              description="One-page profile of a locality: map plus key figures.")
    add_common(s)
    s.add_argument("--locality", required=True, help="locality name, e.g. Northolt")
    s.add_argument("--scheme", default="towns", choices=sorted(SCHEME_COLUMNS), help="locality scheme")
    s.add_argument("--paper", default="A4", choices=("A4", "A3"))
    s.add_argument("--dpi", type=int, default=200)
    s.add_argument("--out", default="sheets/", help="output folder")
    s.set_defaults(func=run_sheet)


def _load(args: argparse.Namespace) -> Any:
    from locmap.cli import area_from_args  # noqa: PLC0415

    return area_from_args(args)


def run_map(args: argparse.Namespace) -> int:
    """``locmap map``: build and save the HTML map; returns the exit code."""
    from locmap.maps.web import KNOWN_LAYERS  # noqa: PLC0415
    from locmap.api import write_map  # noqa: PLC0415

    layers = tuple(x.strip() for x in str(args.layers).split(",") if x.strip())
    bad = [x for x in layers if x not in KNOWN_LAYERS]
    if bad:
        _say(f"error: unknown layer(s) {', '.join(bad)}; choose from {', '.join(sorted(KNOWN_LAYERS))}")
        return 2
    try:
        t0 = time.perf_counter()
        area = _load(args)
        inputs = prepare_layers(area, want_access="access" in layers, want_gaps="gaps" in layers,
                                want_localities="localities" in layers, scheme=args.scheme,
                                gap_threshold_minutes=args.gap_minutes)
        for note in inputs.notes:
            _say(f"note: {note}")
        path = write_map(area, args.out, inputs, layers, title=args.title, offline=args.offline)
    except LocmapError as exc:
        _say(f"error: {exc}")
        return 1
    size_mb = Path(path).stat().st_size / 1e6
    _say(f"wrote {path} ({size_mb:.1f} MB, {time.perf_counter() - t0:.1f} s)"
         + (" - offline copy: background tiles still need internet" if args.offline else ""))
    return 0


def run_sheet(args: argparse.Namespace) -> int:
    """``locmap sheet``: write the locality profile sheet (PNG + PDF); returns the exit code."""
    from locmap.api import write_sheet  # noqa: PLC0415

    try:
        area = _load(args)
        inputs = prepare_layers(area, want_access=True, want_gaps=False, want_localities=True,
                                scheme=args.scheme)
        for note in inputs.notes:
            _say(f"note: {note}")
        if inputs.localities is None:
            _say("error: locality scheme unavailable (see notes above)")
            return 1
        paths = write_sheet(area, args.locality, args.out, inputs, scheme=args.scheme,
                            paper=args.paper, dpi=args.dpi)
    except LocmapError as exc:
        _say(f"error: {exc}")
        return 1
    for p in paths:
        _say(f"wrote {p}")
    return 0
