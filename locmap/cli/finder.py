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


def _missing(value: object) -> bool:
    """A missing value of an answer row: ``None`` (pyarrow, or pandas' missing made ``None``) or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _groups(rows: list[dict[str, Any]], column: str) -> dict[Any, list[dict[str, Any]]]:
    """Rows by the value of ``column``, in order of first appearance (rows where it is missing left out)."""
    out: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        if not _missing(r[column]):
            out.setdefault(r[column], []).append(r)
    return out


def _print_home(rows: list[dict[str, Any]], area_name: str, notes: dict[str, str]) -> None:
    for t, g in _groups(rows, "service_type").items():
        over = [r for r in g if r["scope"] == "overall"]
        home = [r for r in g if r["scope"] == "home_borough"]
        flag = "   ACROSS THE BORDER" if over[0]["nearest_across_border"] else ""
        print(f"\n{_clean(g[0]['type_label'])}{flag}")
        for r in over:
            if r["service_id"] is None or _missing(r["distance_m"]):
                print(f"  {r['rank']}  (no reachable service)")
                continue
            mark = "" if r["certain"] else " *"
            addr = ", ".join(_clean(v) for v in (r["address"], r["service_postcode"]) if _clean(v))
            print(f"  {r['rank']}  {_clean(r['name'])}{' (' + addr + ')' if addr else ''}  "
                  f"[{_clean(r['service_lad_nm'])}]  {r['minutes']:.1f} min, {r['distance_m']:,.0f} m{mark}")
        if home and not _missing(home[0]["distance_m"]):
            h = home[0]
            same = h["service_id"] == over[0]["service_id"]
            print(f"     nearest in {area_name}: " + ("the same" if same else
                  f"{_clean(h['name'])}  {h['minutes']:.1f} min (+{h['extra_minutes_in_borough']:.1f} min)"))
        else:
            print(f"     nearest in {area_name}: none listed")
        if t in notes and not all(r["certain"] for r in over if not _missing(r["certain"])):
            print(f"     * {_clean(notes[t])}; one could be nearer")


def _print(rows: list[dict[str, Any]], title: str, settings: Any, notes: dict[str, str]) -> None:
    labels = [r["label"] for r in rows if not _missing(r["label"])]
    label = f"{_clean(labels[0])}, " if labels else ""
    print(f"{_clean(title)}: {label}pram-pushing speed {settings.walk_speed_kmh:g} km/h")
    for _, g in sorted(_groups(rows, "row").items()):
        head = g[0]
        print("\n" + "=" * 78)
        if head["status"] != "ok":
            sug = f" Try {_clean(head['suggestion'])}." if isinstance(head["suggestion"], str) else ""
            print(f"{_clean(head['query'])}: {head['status']}: {_clean(head['reason'])}.{sug}")
            continue
        where = _clean(head["postcode"]) if isinstance(head["postcode"], str) else f"point {head['query']} (EPSG:27700)"
        print(f"{where} ({_clean(head['home_lad_nm'])})" +
              (f"  note: {head['note']}" if head["note"] else ""))
        _print_home(g, str(head["home_lad_nm"]), notes)


def _records(res: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of an answer table as plain dicts, a missing value as ``None`` (as pyarrow reads
    them from the index), so one printer serves both paths."""
    return res.astype(object).where(res.notna(), None).to_dict("records")


def _status_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Homes per status (one per ``row``), most first, ties in order of first appearance."""
    counts: dict[str, int] = {}
    for g in _groups(rows, "row").values():
        counts[g[0]["status"]] = counts.get(g[0]["status"], 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def _write(res: pd.DataFrame, path: Path, meta: dict[str, Any]) -> Path:
    from locmap import export

    suffix = path.suffix.lower()
    if suffix == ".csv":
        return export.write_csv(res, path)
    if suffix == ".json":
        records = json.loads(res.to_json(orient="records", force_ascii=False))
        return export.write_text(path, json.dumps({**meta, "results": records}, ensure_ascii=False, indent=1))
    raise SettingsError(f"--out {path}: use a file name ending .csv or .json")


def _index(args: argparse.Namespace, settings: Any) -> Any:
    """The area's current nearest-services index (:mod:`locmap.finder.index`), built first when
    there is none, or ``None`` when it cannot be saved (said on stderr; the full path answers)."""
    from locmap.errors import OutputError
    from locmap.finder.index import read_index

    index = read_index(args.area, settings)
    if index is None:
        from locmap.data.area import load_for_lookup
        from locmap.finder.nearest import build_nearest_index

        try:
            index = build_nearest_index(load_for_lookup(args.area, settings), args.area, settings)
        except OutputError as exc:
            print(f"locmap: note: the nearest-services index was not saved ({exc}); answering without it",
                  file=sys.stderr)
    return index


def _full_path(args: argparse.Namespace, settings: Any, queries: list[str] | None) -> tuple[Any, dict, dict]:
    """``(result, notes, about)`` computed from the loaded area (points, and postcodes the
    index cannot answer)."""
    import numpy as np

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
    return res, coverage_notes(area, args.types), about


def run_nearest(args: argparse.Namespace) -> int:
    """Run ``locmap nearest``; exit 2 when a single home cannot be answered.  Postcodes are
    answered from the area's index (:mod:`locmap.finder.index`) when it holds them all: the
    printed answer is then read with pyarrow alone (no pandas, no geospatial stack)."""
    settings = settings_from_args(args)
    if args.k is not None:
        settings = settings.with_(k_nearest=args.k)
    queries = (args.postcode or read_postcode_file(args.postcodes)) if (args.postcode or args.postcodes) else None
    index = _index(args, settings) if queries is not None else None
    rows = index.answer_records(queries, args.types) if index is not None else None
    res = index.answer(queries, args.types) if rows is not None and args.out else None
    if rows is not None and (res is not None or not args.out):
        notes, about = index.notes(args.types), index.record
    else:
        res, notes, about = _full_path(args, settings, queries)
        rows = _records(res)
    n_rows = len({r["row"] for r in rows})
    if n_rows <= MAX_PRINTED:
        _print(rows, about["title"], settings, notes)
    status = _status_counts(rows)
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
    info = page.write_finder_page(area, args.out, k=args.k, service_types=args.types, settings=settings,
                                  index_name=args.area)
    print(f"finder page written to {info.path}: {info.size_bytes / 1e6:.2f} MB, {info.n_postcodes:,} "
          f"postcodes, {info.n_services:,} services, k={info.k}; distances: {info.label}")
    return 0
