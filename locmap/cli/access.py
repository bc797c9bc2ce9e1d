"""``locmap access``: distances, coverage, gap areas and 2SFCA for one area pack.

Example::

    locmap access --area ealing --profile pram --minutes 10 15 20 --speed-kmh 4.0 \\
        --k-nearest 3 --out out/access --format both

Writes (every table carries ``method`` and ``label`` columns, so an estimated
distance reads "estimated street distance (London model v1, typical error ±145 m)" wherever it goes):

========================  =====================================================
``nearest.*``             home x service type x rank distances (data contract)
``coverage.*``            people within/beyond each threshold per area and band
``gap_summary_<level>.*`` people beyond each threshold per area (one per level)
``fca_homes.*``           2SFCA score per home, type and threshold
``fca_areas.*``           demand-weighted 2SFCA per area
``fca_services.*``        facility supply/demand ratios (2SFCA step 1)
``unreachable.*``         homes that reach no service of a type
``excluded_services.*``   services left out (no location) and skipped types
``gaps.gpkg``             layer ``gaps``: contiguous gap areas (hexagons dissolved)
``homes_access.gpkg``     layer ``homes_access``: homes with per-type distances
``README.txt``            method, speed, thresholds, attribution
========================  =====================================================

All files are written atomically through :mod:`locmap.export`.
"""
from __future__ import annotations

import argparse
from typing import Any

from locmap.bands import BANDS
from locmap.cli._options import add_common, load_area, say, settings_from_args

FORMATS = ("csv", "parquet", "both")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``access`` sub-command on an ``argparse`` sub-parsers object."""
    p = subparsers.add_parser(
        "access", help="distance from homes to services, coverage, gap areas and 2SFCA",
        description="Distance from every home to the nearest services of each type; people "
                    "within/beyond pram-pushing thresholds per LSOA/ward/town/PCN; gap areas; "
                    "capacity-aware access (2SFCA).")
    add_common(p)
    p.add_argument("--types", nargs="+", default=None,
                   help="service types (default: all; empty types are reported and skipped)")
    p.add_argument("--cell-m", type=float, default=250.0, help="gap hexagon spacing in metres (default 250)")
    p.add_argument("--gap-band", default="pop_0_4", choices=BANDS,
                   help="age band whose people define a gap area (default pop_0_4)")
    p.add_argument("--fca-band", default=None, choices=BANDS,
                   help="2SFCA demand band for every type (default: per type, e.g. "
                        "primary_school -> pop_5_11, childrens_centre -> pop_0_4)")
    p.add_argument("--out", default=None, help="output folder (default: out/<area>/access)")
    p.set_defaults(out_default="out/{area}/access")
    p.add_argument("--format", default="both", choices=FORMATS, help="table format (default: both)")
    p.set_defaults(func=run_access)
    return p


def run_access(args: argparse.Namespace) -> int:
    """``locmap access``: parse -> Settings -> api.analyse_access -> write."""
    settings = settings_from_args(args)
    log = (lambda msg: None) if args.no_progress else say
    log(f"loading area '{args.area}' ...")
    area = load_area(args, settings)
    from locmap import api  # after the checks of load_area: bad input fails before the library is imported

    res = api.analyse_access(area, settings, service_types=args.types, cell_m=args.cell_m,
                             gap_band=args.gap_band, fca_band=args.fca_band)
    log(f"distances: {res.label}; {len(res.result.wide)} homes, types {res.result.service_types}")
    res.write(args.out, args.format, area.name, area.attribution, area.services.set_index("service_id")["name"])
    log(f"wrote {args.out}/ (nearest, coverage, gaps, 2SFCA) - {res.label}")
    return 0
