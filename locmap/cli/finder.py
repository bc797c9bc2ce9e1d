"""``locmap nearest`` and ``locmap finder``: the nearest family services to a home, across the border.

Examples::

    locmap nearest --postcode "UB5 6AA"
    locmap nearest --postcode ub56pa --k 1 --types gp_practice library
    locmap nearest --lonlat -0.3762 51.5443
    locmap nearest --easting 513158 --northing 184163
    locmap nearest --postcodes homes.csv --out nearest.csv      # or .json
    locmap finder --area ealing --out finder.html

``nearest`` prints, per service type, the ``k`` nearest services of any borough and the
nearest in the home borough, flagging where the nearest is across the border.  A postcode
that cannot be answered (malformed, unknown, non-geographic, outside the area) gives its
reason and, where there is one, the nearest valid postcode of the same sector: exit code 2
for a single home; in a ``--postcodes`` list it is a row of the output.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from locmap._text import terminal_safe
from locmap.cli._options import add_common, settings_from_args
from locmap.errors import DataFileError, MissingColumnError, SettingsError

if TYPE_CHECKING:
    import pandas as pd

# Heavy modules (pandas, shapely, pyproj, the finder) are imported by the functions that use
# them, at call time, so that building the parser stays light (docs/decisions.md).
#: locmap.finder.page.DEFAULT_K, as a literal (tests/test_imports.py checks it is the library's)
FINDER_DEFAULT_K = 3
#: at most this many homes are printed in full; more go to --out
MAX_PRINTED = 20


def add_parser(subparsers: Any) -> None:
    """Register ``nearest`` and ``finder``."""
    p = subparsers.add_parser(
        "nearest", help="nearest services of each type to a postcode or point, across the border",
        description="For each service type: the k nearest services of any borough (name, address, "
                    "borough, pram minutes, distance, method) and the nearest in the home borough, "
                    "flagging where the nearest is across the border.")
    add_common(p)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--postcode", nargs="+", metavar="POSTCODE", help="one or more postcodes (any case/spacing)")
    where.add_argument("--postcodes", type=Path, metavar="FILE",
                       help="CSV with a 'postcode' column, or a text file with one postcode per line")
    where.add_argument("--lonlat", nargs=2, type=float, metavar=("LON", "LAT"), help="a point in WGS84 degrees")
    where.add_argument("--easting", type=float, help="a point in British National Grid metres (with --northing)")
    p.add_argument("--northing", type=float, help="British National Grid northing in metres (with --easting)")
    p.add_argument("--k", type=int, default=None, help="nearest services per type, any borough (default 3)")
    p.add_argument("--types", nargs="+", default=None, help="service types (default: every type with services)")
    p.add_argument("--out", type=Path, default=None, help="write the full table: .csv or .json")
    p.set_defaults(func=run_nearest)

    p = subparsers.add_parser(
        "finder", help="write the self-contained offline family-services finder page (one HTML file)",
        description="One HTML file that works offline (no server, no CDN, no network): search a "
                    "postcode, see the nearest services of each type in any borough and in the home "
                    "borough, as a list and on a small map; printable.")
    add_common(p)
    p.add_argument("--k", type=int, default=FINDER_DEFAULT_K, help=f"services per type shown (default {FINDER_DEFAULT_K})")
    p.add_argument("--types", nargs="+", default=None, help="service types (default: every type with services)")
    p.add_argument("--out", type=Path, default=None, help="output .html file (default out/<area>/finder.html)")
    p.set_defaults(out_default="out/{area}/finder.html")
    p.set_defaults(func=run_finder)


# ----------------------------------------------------------------------------- nearest
def read_postcode_file(path: Path) -> list[str]:
    """Postcodes of a CSV (column ``postcode``, any case) or a text file (one per line)."""
    import pandas as pd

    from locmap.data.io import read_csv_any

    if not path.is_file():
        raise DataFileError(path, "file not found")
    if path.suffix.lower() == ".csv":
        df, _ = read_csv_any(path)
        cols = {str(c).strip().lower(): c for c in df.columns}
        if "postcode" not in cols:
            raise MissingColumnError(path, "postcode", list(df.columns))
        return ["" if pd.isna(v) else str(v) for v in df[cols["postcode"]]]
    try:
        return path.read_bytes().decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise DataFileError(path, f"not UTF-8 text (byte {exc.start}): save it as UTF-8 text with one "
                                  "postcode per line, or as a CSV with a 'postcode' column") from None


def _point(args: argparse.Namespace) -> tuple[float, float]:
    from pyproj import Transformer

    if args.lonlat:
        lon, lat = args.lonlat
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise SettingsError(f"--lonlat {lon} {lat}: not longitude/latitude degrees")
        if 49 <= lon <= 61 and -9 <= lat <= 3:
            raise SettingsError(f"--lonlat {lon} {lat}: looks like LAT LON; give longitude first "
                                f"(--lonlat {lat} {lon})")
        return Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True).transform(lon, lat)
    if args.northing is None:
        raise SettingsError("--easting needs --northing (British National Grid metres)")
    return float(args.easting), float(args.northing)


def _inside(area: Any, x: float, y: float) -> None:
    """Refuse a point outside the area's borough, naming the borough it is in."""
    import shapely

    from locmap.finder import borough_outlines
    from locmap.finder.postcodes import PostcodeError

    pt = shapely.Point(x, y)
    if area.borough.geometry.union_all().covers(pt):
        return
    b = borough_outlines(area)
    hit = b[b.geometry.covers(pt)]
    where = f"in {hit['lad_nm'].iat[0]}" if len(hit) else "not in a borough of the data"
    raise PostcodeError(f"point ({x:.0f}, {y:.0f}) EPSG:27700 is outside {area.pack.lad_nm} ({where}): "
                        f"this look-up covers homes in {area.pack.lad_nm}")


def _clean(text: object) -> str:
    """Text from data, safe for a terminal (control characters shown escaped, :func:`terminal_safe`)."""
    return "" if text is None or (isinstance(text, float) and math.isnan(text)) else terminal_safe(text)


def _print_home(rows: pd.DataFrame, area_name: str, notes: dict[str, str]) -> None:
    import pandas as pd

    for t, g in rows.groupby("service_type", sort=False):
        over = g[g["scope"] == "overall"]
        home = g[g["scope"] == "home_borough"]
        flag = "   ACROSS THE BORDER" if bool(over["nearest_across_border"].iat[0]) else ""
        print(f"\n{_clean(g['type_label'].iat[0])}{flag}")
        for r in over.itertuples():
            if r.service_id is None or pd.isna(r.distance_m):
                print(f"  {r.rank}  (no reachable service)")
                continue
            mark = "" if r.certain else " *"
            addr = ", ".join(_clean(v) for v in (r.address, r.service_postcode) if _clean(v))
            print(f"  {r.rank}  {_clean(r.name)}{' (' + addr + ')' if addr else ''}  "
                  f"[{_clean(r.service_lad_nm)}]  {r.minutes:.1f} min, {r.distance_m:,.0f} m{mark}")
        if len(home) and pd.notna(home["distance_m"].iat[0]):
            h = home.iloc[0]
            same = h["service_id"] == over["service_id"].iat[0]
            print(f"     nearest in {area_name}: " + ("the same" if same else
                  f"{_clean(h['name'])}  {h['minutes']:.1f} min (+{h['extra_minutes_in_borough']:.1f} min)"))
        else:
            print(f"     nearest in {area_name}: none listed")
        if t in notes and not over["certain"].all():
            print(f"     * {_clean(notes[t])}; one could be nearer")


def _print(res: pd.DataFrame, title: str, settings: Any, notes: dict[str, str]) -> None:
    label = f"{_clean(res['label'].dropna().iat[0])}, " if res["label"].notna().any() else ""
    print(f"{_clean(title)}: {label}pram-pushing speed {settings.walk_speed_kmh:g} km/h")
    for _, g in res.groupby("row", sort=True):
        head = g.iloc[0]
        print("\n" + "=" * 78)
        if head["status"] != "ok":
            sug = f" Try {_clean(head['suggestion'])}." if isinstance(head["suggestion"], str) else ""
            print(f"{_clean(head['query'])}: {head['status']}: {_clean(head['reason'])}.{sug}")
            continue
        where = _clean(head["postcode"]) if isinstance(head["postcode"], str) else f"point {head['query']} (EPSG:27700)"
        print(f"{where} ({_clean(head['home_lad_nm'])})" +
              (f"  note: {head['note']}" if head["note"] else ""))
        _print_home(g, str(head["home_lad_nm"]), notes)


def _write(res: pd.DataFrame, path: Path, meta: dict[str, Any]) -> Path:
    from locmap import export

    suffix = path.suffix.lower()
    if suffix == ".csv":
        return export.write_csv(res, path)
    if suffix == ".json":
        records = json.loads(res.to_json(orient="records", force_ascii=False))
        return export.write_text(path, json.dumps({**meta, "results": records}, ensure_ascii=False, indent=1))
    raise SettingsError(f"--out {path}: use a file name ending .csv or .json")


def _from_index(args: argparse.Namespace, settings: Any, queries: list[str]) -> tuple[Any, dict, dict] | None:
    """``(result, notes, about)`` of postcode ``queries`` from the area's nearest-services index
    (built first when there is none current), or ``None`` when the index cannot answer them (an
    unknown or malformed postcode, a type not in it): the full path then answers."""
    from locmap.errors import OutputError
    from locmap.finder.index import read_index

    index = read_index(args.area, settings)
    if index is None:
        from locmap.data.area import load_area
        from locmap.finder.nearest import build_nearest_index

        try:
            index = build_nearest_index(load_area(args.area, settings), args.area, settings)
        except OutputError as exc:
            print(f"locmap: note: the nearest-services index was not saved ({exc}); answering without it",
                  file=sys.stderr)
            return None
    res = index.answer(queries, args.types)
    return None if res is None else (res, index.notes(args.types), index.record)


def run_nearest(args: argparse.Namespace) -> int:
    """Run ``locmap nearest``; exit 2 when a single home cannot be answered.  Postcodes are
    answered from the area's index (:mod:`locmap.finder.index`) when it holds them all."""
    import numpy as np

    settings = settings_from_args(args)
    if args.k is not None:
        settings = settings.with_(k_nearest=args.k)
    queries = (args.postcode or read_postcode_file(args.postcodes)) if (args.postcode or args.postcodes) else None
    found = _from_index(args, settings, queries) if queries is not None else None
    if found is not None:
        res, notes, about = found
    else:
        from locmap import export
        from locmap.data.area import load_area
        from locmap.finder.nearest import coverage_notes, nearest_for_points, nearest_for_postcodes
        from locmap.finder.postcodes import lad_names

        area = load_area(args.area, settings)
        about = {"area": area.pack.name, "title": area.pack.title,
                 "attribution": area.attribution or export.ATTRIBUTION}
        if queries is not None:
            res = nearest_for_postcodes(area, queries, k=settings.k_nearest, service_types=args.types,
                                        settings=settings)
        else:
            x, y = _point(args)
            _inside(area, x, y)
            near = nearest_for_points(area, np.array([[x, y]]), k=settings.k_nearest,
                                      service_types=args.types, settings=settings)
            res = near.drop(columns="point").assign(
                row=1, query=f"{x:.0f},{y:.0f}", postcode=None, status="ok", reason="", suggestion=None,
                note="", easting=x, northing=y, home_lad_cd=area.pack.lad_cd,
                home_lad_nm=lad_names(area)[area.pack.lad_cd])
        notes = coverage_notes(area, args.types)
    n_rows = res["row"].nunique()
    if n_rows <= MAX_PRINTED:
        _print(res, about["title"], settings, notes)
    status = res.drop_duplicates("row")["status"].value_counts()
    print(f"\n{n_rows} home(s): " + ", ".join(f"{k} {v}" for k, v in status.items()))
    if args.out:
        meta = {"area": about["area"], "label": res["label"].dropna().iat[0] if res["label"].notna().any() else None,
                "walk_speed_kmh": settings.walk_speed_kmh, "k": settings.k_nearest,
                "notes": list(notes.values()), "attribution": about["attribution"]}
        print(f"written to {_write(res, args.out, meta)}")
    elif n_rows > MAX_PRINTED:
        print(f"more than {MAX_PRINTED} homes: give --out FILE.csv or FILE.json for the table")
    single = bool(args.postcode) and len(args.postcode) == 1
    return 2 if single and status.get("ok", 0) == 0 else 0


# ----------------------------------------------------------------------------- finder
def run_finder(args: argparse.Namespace) -> int:
    """Run ``locmap finder``: write the offline page and print what it holds."""
    from locmap.data.area import load_area
    from locmap.finder import page

    if args.k < 1:
        raise SettingsError(f"--k {args.k}: give at least 1 service per type")
    settings = settings_from_args(args)
    area = load_area(args.area, settings)
    info = page.write_finder_page(area, args.out, k=args.k, service_types=args.types, settings=settings)
    print(f"finder page written to {info.path}: {info.size_bytes / 1e6:.2f} MB, {info.n_postcodes:,} "
          f"postcodes, {info.n_services:,} services, k={info.k}; distances: {info.label}")
    return 0
