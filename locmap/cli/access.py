"""``locmap access``: distances, coverage, gap areas and 2SFCA for one area pack.

Example::

    locmap access --area ealing --profile pram --minutes 10 15 20 --speed-kmh 4.0 \\
        --k 3 --out out/access --format both

Writes (every table carries ``method`` and ``label`` columns, so an estimated
distance reads "estimated street distance (calibrated)" wherever it goes):

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
import sys
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from locmap.access import nearest as acc
from locmap import export
from locmap.errors import LocmapError
from locmap.access.gaps import all_gap_polygons, gap_summary
from locmap.bands import BAND_LABELS, BANDS
from locmap.settings import Settings

FORMATS = ("csv", "parquet", "both")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``access`` sub-command on an ``argparse`` sub-parsers object."""
    p = subparsers.add_parser(
        "access",
        help="distance from homes to services, coverage, gap areas and 2SFCA",
        description="Distance from every home to the nearest services of each type; people "
                    "within/beyond pram-pushing thresholds per LSOA/ward/town/PCN; gap areas; "
                    "capacity-aware access (2SFCA).",
    )
    from locmap.cli import add_common  # noqa: PLC0415

    add_common(p)
    p.add_argument("--minutes", type=float, nargs="+", default=None,
                   help="thresholds in minutes (default: settings, 10 15 20)")
    p.add_argument("--k", type=int, default=None, help="nearest services per type (default 3)")
    p.add_argument("--types", nargs="+", default=None,
                   help="service types (default: all; empty types are reported and skipped)")
    p.add_argument("--cell-m", type=float, default=250.0, help="gap hexagon spacing in metres")
    p.add_argument("--gap-band", default="pop_0_4", choices=BANDS,
                   help="age band whose people define a gap area")
    p.add_argument("--fca-band", default=None, choices=BANDS,
                   help="2SFCA demand band for every type (default: per type, e.g. "
                        "primary_school -> pop_5_11, childrens_centre -> pop_0_4)")
    p.add_argument("--out", default="out/access", help="output folder")
    p.add_argument("--format", default="both", choices=FORMATS, help="table format")
    p.set_defaults(func=run_access)
    return p


# indirections so tests can swap data and router without touching the loader
def _load_area(name: str, settings: Settings) -> Any:
    from locmap.data.area import load_area  # noqa: PLC0415

    return load_area(name, settings)


def _router_for(area: Any, settings: Settings) -> Any:
    return acc.default_router_for(area, settings)


def _write_table(df: pd.DataFrame, out: Path, stem: str, fmt: str) -> list[Path]:
    written = []
    if fmt in ("csv", "both"):
        written.append(export.write_csv(df, out / f"{stem}.csv"))
    if fmt in ("parquet", "both"):
        written.append(export.write_parquet(_parquet_safe(df), out / f"{stem}.parquet"))
    return written


def _parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding mixed ids (str/int/None) become strings for Arrow."""
    df = pd.DataFrame(df.drop(columns="geometry") if "geometry" in df.columns else df)
    for c in df.columns:
        if df[c].dtype == object:
            kinds = {type(v) for v in df[c].dropna()}
            if len(kinds) > 1:
                df[c] = df[c].map(lambda v: None if v is None or v is pd.NA else str(v))
    return df


def _gpkg_safe(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Nullable booleans -> Int8 (0/1/NULL) and mixed object columns -> text for GeoPackage."""
    gdf = gdf.copy()
    for c in gdf.columns:
        if c == gdf.geometry.name:
            continue
        if str(gdf[c].dtype) == "boolean":
            gdf[c] = gdf[c].astype("Int8")
        elif gdf[c].dtype == object:
            gdf[c] = gdf[c].map(lambda v: None if v is None or v is pd.NA else str(v))
    return gdf


def _readme(res: acc.AccessResult, area: Any, thresholds: list[float], args: Any) -> str:
    s = res.settings
    lines = [
        f"locmap access - area '{getattr(area, 'name', args.area)}'",
        "",
        f"Distances: {res.label} (method = '{res.method}').",
        f"Pram-pushing speed: {s.walk_speed_kmh:.1f} km/h "
        f"({s.metres_per_minute:.1f} m per minute); profile '{s.profile}'.",
        f"Thresholds: {', '.join(f'{t:g}' for t in thresholds)} minutes "
        f"(= {', '.join(f'{s.minutes_to_metres(t):.0f}' for t in thresholds)} m).",
        f"Service types: {', '.join(res.service_types)}.",
        f"'{acc.ANY_KEY}' = nearest of the key types {', '.join(res.key_service_types)}.",
        f"Gap areas: hexagons of {args.cell_m:g} m holding {BAND_LABELS[args.gap_band]} "
        "beyond the threshold, joined where they share an edge.",
        "Straight-line columns (pct_within_straight) are a comparison only: "
        f"{acc.STRAIGHT_LABEL}.",
        "",
        "Notes:",
        *[f"- {n}" for n in res.notes],
        "",
        "Attribution: " + (getattr(area, "attribution", None) or export.ATTRIBUTION),
        "",
    ]
    return "\n".join(lines)


def run_access(args: argparse.Namespace) -> int:
    """Run the ``access`` sub-command; returns the process exit code (0 ok, 2 error)."""
    try:
        return _run(args)
    except LocmapError as exc:
        print(f"locmap access: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from locmap.cli import settings_from_args  # noqa: PLC0415

    settings = settings_from_args(args).with_(k_nearest=args.k)
    thresholds = [float(t) for t in settings.thresholds_minutes]
    out = Path(args.out)
    log = (lambda msg: None) if args.no_progress else (lambda msg: print(msg, file=sys.stderr))

    log(f"loading area '{args.area}' ...")
    area = _load_area(args.area, settings)
    router = _router_for(area, settings)
    res = acc.compute_access(area, settings, router=router, service_types=args.types)
    log(f"distances: {res.label}; {len(res.wide)} homes, types {res.service_types}")

    levels = {lvl: col for lvl, col in acc.DEFAULT_LEVELS.items() if col in res.wide.columns}
    cov = acc.coverage(res.wide, levels, thresholds, res.service_types, settings=settings)
    gaps = all_gap_polygons(res.wide, res.service_types, thresholds, cell_m=args.cell_m,
                            band=args.gap_band, progress=settings.progress)

    base_types = [t for t in res.service_types if t != acc.ANY_KEY]
    fca_h, fca_s, fca_a = [], [], []
    by_band: dict[str, list[str]] = {}
    for t in base_types:
        by_band.setdefault(args.fca_band or acc.demand_band_for(t), []).append(t)
    for band, types in by_band.items():
        ph, ps = acc.two_step_fca(area.homes, area.services, router, settings,
                                  extra_demand=getattr(area, "neighbour_homes", None),
                                  service_types=types, thresholds_minutes=thresholds,
                                  demand_band=band)
        fca_h.append(ph)
        fca_s.append(ps)
        fca_a.append(acc.fca_by_area(ph, area.homes, levels, demand_band=band))

    fmt = args.format
    _write_table(res.table, out, "nearest", fmt)
    _write_table(cov, out, "coverage", fmt)
    for lvl in levels:
        _write_table(gap_summary(cov, lvl), out, f"gap_summary_{lvl}", fmt)
    if fca_h:
        _write_table(pd.concat(fca_h, ignore_index=True), out, "fca_homes", fmt)
        _write_table(pd.concat(fca_s, ignore_index=True), out, "fca_services", fmt)
        _write_table(pd.concat(fca_a, ignore_index=True), out, "fca_areas", fmt)
    unr = res.unreachable.copy()
    unr["method"], unr["label"] = res.method, res.label
    _write_table(unr, out, "unreachable", fmt)
    exc = pd.concat([res.excluded_services,
                     res.skipped_types.assign(service_id=None, name=None)],
                    ignore_index=True)
    exc["method"], exc["label"] = res.method, res.label
    _write_table(exc, out, "excluded_services", fmt)
    export.write_gpkg({"gaps": _gpkg_safe(gaps)}, out / "gaps.gpkg")
    export.write_gpkg({"homes_access": _gpkg_safe(res.wide)}, out / "homes_access.gpkg")
    export.write_text(out / "README.txt", _readme(res, area, thresholds, args))
    log(f"wrote {out}/ (nearest, coverage, gaps, 2SFCA) - {res.label}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m locmap.cli.access access ...``."""
    parser = argparse.ArgumentParser(prog="locmap")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
