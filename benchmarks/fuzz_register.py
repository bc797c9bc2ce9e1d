"""Fuzz the service register: many hostile service registers through ``build_register``,
the CSV writer and the web map.

Every generated file is written to a tiny synthetic area (a 10 km square in EPSG:27700,
six postcodes, two manifest sources and a user file) and built with
:func:`locmap.data.services.build_register`.  The user file comes in the formats councils
hold: comma, semicolon and tab CSV, semicolon CSV with decimal commas, Excel .xlsx and
GeoJSON.  Names, addresses and types carry HTML, Jinja2 template payloads (``{{7*7}}``, a
``cycler...os.system('touch CANARY')`` call, ``{% for %}``, ``{#``, an unclosed ``{{``) and
spreadsheet formula payloads (``=HYPERLINK(...)``, ``+1+1``, ``-2+3``, ``@SUM(A1)``, tab/CR).
For each input the run checks

* no exception other than a :class:`locmap.errors.LocmapError` subclass (a *crash*);
* every generated row is used or rejected with a reason: the register's own
  ``accounting`` and an independent count (rows written by this script) must agree
  (a row that is neither used nor rejected is a *silent drop*; a "row accounting failed"
  error from the library's own guard is counted as a silent drop too);
* the rejects and services tables written by :func:`locmap.export.write_csv` have no text
  cell a spreadsheet would run as a formula, and as many rows as the tables;
* every ``--map-every``-th register is drawn with :func:`locmap.maps.web.build_map` and saved
  with :func:`locmap.maps.offline.save_map` (alternately online/offline), with a hostile
  title and area name: nothing is *evaluated* (no canary file, no ``Hub 49 end``,
  ``LOOPLOOP`` or ``zz1337zz`` in the page) and every located service's name is in the page
  (escaped by :func:`locmap.maps.web.safe_text`).

Usage::

    python benchmarks/fuzz_register.py --n 1000 --seed 0 [--map-every 5] [--no-write]

Prints a Markdown table and (unless ``--no-write``) replaces the section
"## Fuzz run (service register)" of BENCHMARKS.md.  The generator functions are also used
by ``tests/test_fuzz.py`` and ``tests/test_hostile_register.py``.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import platform
import random
import re
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import geopandas as gpd  # noqa: E402
import openpyxl  # noqa: E402
import pandas as pd  # noqa: E402
import shapely  # noqa: E402
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # noqa: E402
from pyproj import Transformer  # noqa: E402

from locmap.data.manifest import load_manifest  # noqa: E402
from locmap.data.services import USER_COLUMNS, build_register  # noqa: E402
from locmap.errors import LocmapError  # noqa: E402
from locmap.export import FORMULA_TRIGGERS, write_csv, write_text  # noqa: E402
from locmap.maps.offline import save_map  # noqa: E402
from locmap.maps.web import build_map, safe_text  # noqa: E402

SECTION = "## Fuzz run (service register)"

# ------------------------------------------------------------------ synthetic area
LAD_CD = "E99999999"
OUTLINE = shapely.box(510_000, 170_000, 520_000, 180_000)  # EPSG:27700, 10 km square
BUFFER_M = 1_500.0
#: normalised postcode -> (easting, northing, lad_cd)
POSTCODES = {
    "W5 5JY": (515_000.0, 175_000.0, LAD_CD),
    "W7 1AA": (515_050.0, 175_040.0, LAD_CD),     # 64 m from W5 5JY: dedupe distance
    "W3 6AA": (512_000.0, 178_000.0, LAD_CD),
    "UB1 1AA": (519_500.0, 171_000.0, LAD_CD),
    "NW10 1AA": (521_000.0, 179_000.0, "E99999998"),  # outside, within the buffer
    "EH1 1AA": (325_000.0, 673_000.0, "S99999999"),   # far outside the buffer
}
GP_HEADER = ["code", "Practice Name", "Postcode", "E", "N", "status", "list_size", "special", "lad"]
SCHOOL_HEADER = ["urn", "name", "pc", "lat", "lon", "phase", "cap"]

MANIFEST = """
name = "testshire"
title = "Synthetic test area"
lad_cd = "{lad}"
lad_nm = "Testshire"
key_service_types = ["gp_practice"]

[service_types]
gp_practice = "GP practice"
pharmacy = "Community pharmacy"
primary_school = "Primary school"
secondary_school = "Secondary school"
childrens_centre = "Children's centre"

[layers.wards]
path = "w.geojson"
[layers.lsoa21]
path = "l.geojson"
[layers.boroughs]
path = "b.geojson"
[tables.lsoa21_ward]
path = "a.csv"
[tables.lsoa11_lsoa21]
path = "b.csv"
[tables.postcodes]
path = "c.csv"
[tables.census_msoa]
path = "d.csv"
[tables.mye_lsoa11]
path = "e.csv"

[services]
dedupe_m = 150
name_type_rules = [["(?i)primary", "primary_school"], ["(?i)school|academy", "secondary_school"]]

[[services.sources]]
key = "gp"
path = {gp}
source = "synthetic GP list"
vintage = "2025"
service_type = "gp_practice"
columns = {{ id = "code", name = "Practice Name", postcode = "Postcode", easting = "E", northing = "N", status = "status", capacity = "list_size", lad_cd = "lad" }}
status_rules = [["^A$", "open"], ["^[CDP]$", "closed"]]
exclude = [{{ column = "special", values = ["Y", "true"], reason = "not open to the public" }}]

[[services.sources]]
key = "schools"
path = {schools}
source = "synthetic school list"
vintage = "2026"
columns = {{ id = "urn", name = "name", postcode = "pc", lat = "lat", lon = "lon", subtype = "phase", capacity = "cap" }}
lad_default = "{lad}"
type_from = "subtype"
type_map = {{ "Primary" = "primary_school", "Secondary" = "secondary_school", "All-through" = ["primary_school", "secondary_school"] }}
"""


def postcode_table() -> pd.DataFrame:
    """Postcode table as build_register expects: index = normalised postcode."""
    df = pd.DataFrame([(pc, e, n, lad) for pc, (e, n, lad) in POSTCODES.items()],
                      columns=["postcode", "easting", "northing", "lad_cd"])
    return df.set_index("postcode")


@dataclass
class Area:
    """A synthetic area pack on disk."""

    dir: Path
    manifest: Path
    gp_csv: Path
    schools_csv: Path
    user_csv: Path
    user_file: Path | None = None  # the user file of the last input when not user_csv (xlsx, GeoJSON)

    def pack(self):
        return load_manifest(self.manifest)


def make_area(d: Path) -> Area:
    """Write the synthetic manifest into folder ``d`` (CSV files are written by the caller)."""
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    gp, schools = d / "gp.csv", d / "schools.csv"
    m = d / "testshire.toml"
    m.write_text(MANIFEST.format(lad=LAD_CD, gp=json.dumps(str(gp)), schools=json.dumps(str(schools))),
                 encoding="utf-8")
    return Area(d, m, gp, schools, d / "user.csv")


def build(area: Area, user: bool = False, pack=None):
    """build_register on the synthetic area (optionally with the user file)."""
    return build_register(pack or area.pack(), area.dir, OUTLINE, postcode_table(), BUFFER_M,
                          user_csv=(area.user_file or area.user_csv) if user else None)


# ------------------------------------------------------------------ hostile values
HOSTILE_TEXT = [
    "", " ", "   \t ", "<script>alert('x')</script>", "<b>Bold</b> & Co", '"Quoted" Surgery',
    "Line one\nLine two", "Carriage\r\nreturn", "Comma, inside", "Semi;colon", "Tab\tinside",
    "Ünïcödé Çafé Surgery", "Zoë's Clinic", "€uro £ond", "日本語の名前", "emoji 👶🏽 hub",
    "NaN", "nan", "None", "null", "NULL", "N/A", "#N/A", "inf", "-inf", "1e400", "0",
    "x" * 5000, "=cmd|' /C calc'!A0", "\\N", "'single'", "back\\slash", "\u00a0nbsp\u00a0",
    "\u200bzero width", "tr\u0000nul", "ﬁ ligature",
]
#: file whose existence means a template payload ran a shell command
CANARY = Path(tempfile.gettempdir()) / "locmap_fuzz_CANARY"
#: Jinja2 / HTML / mathtext payloads; :data:`EVALUATED_SIGNS` is what they give when evaluated
TEMPLATE_PAYLOADS = [
    "Hub {{7*7}} end", "{{ cycler.__init__.__globals__.os.system('touch " + str(CANARY) + "') }}",
    "{% for x in range(3) %}LOOP{% endfor %}", "Hub {# open comment", "Hub {{ unclosed", "Hub {%",
    "{{'zz'~(191*7)~'zz'}}", "{{ config }}{{ self }}", "{% raw %}", "</script><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>", "$\\alpha$ and $x^2$", "${7*7} #{7*7} %{7*7}", "{{", "}}", "{%%}",
]
EVALUATED_SIGNS = ("Hub 49 end", "LOOPLOOP", "zz1337zz")
#: spreadsheet formula payloads (OWASP CSV injection)
FORMULA_PAYLOADS = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1",
                    "=cmd|' /C calc'!A0", "-5 Broadway"]
HOSTILE_TEXT += TEMPLATE_PAYLOADS + FORMULA_PAYLOADS
#: formats of the user file, with their weights
USER_FORMATS = {"csv": 4, "semicolon": 2, "tab": 1, "decimal_comma": 1, "xlsx": 2, "geojson": 2}
NUMBERS = ["515000", "175000", "515,000", " 515000 ", "5.15e5", "-1", "0", "1e308", "1e400", "9" * 400,
           "NaN", "nan", "inf", "-inf", "Infinity", "abc", "", "  ", "0x10", "1_000", "١٢٣", "515000.5.5"]
POSTCODE_VALUES = list(POSTCODES) + [
    "w55jy", "W55JY", " w5  5jy ", "W5-5JY", "W5 5JY\n", "ZZ9 9ZZ", "SW1A 1AA", "12345", "W5", "",
    "INVALID:W5 5JY", "nan", "GIR 0AA", "W5 5J", "<b>W5 5JY</b>", "W5 5JY W5 5JY",
]


def _coord_pair(rng: random.Random) -> tuple[str, str]:
    """(easting, northing) text: valid, swapped, degrees, garbage or blank."""
    e = rng.uniform(509_000, 521_000)
    n = rng.uniform(169_000, 181_000)
    lat, lon = rng.uniform(51.45, 51.6), rng.uniform(-0.45, -0.2)
    return rng.choice([
        (f"{e:.0f}", f"{n:.1f}"), (f"{n:.0f}", f"{e:.0f}"), (f"{lat}", f"{lon}"), (f"{lon}", f"{lat}"),
        ("", ""), ("", f"{n:.0f}"), (f"{e:.0f}", ""), (rng.choice(NUMBERS), rng.choice(NUMBERS)),
        (f"{e:,.0f}", f"{n:,.0f}"), ("325000", "673000"), ("-515000", "175000"),
    ])


def _latlon_pair(rng: random.Random) -> tuple[str, str]:
    lat, lon = rng.uniform(51.45, 51.6), rng.uniform(-0.45, -0.2)
    return rng.choice([
        (f"{lat}", f"{lon}"), (f"{lon}", f"{lat}"), ("", ""), (f"{lat}", ""), ("515000", "175000"),
        (rng.choice(NUMBERS), rng.choice(NUMBERS)), ("55.95", "-3.19"), ("91", "181"), ("nan", "nan"),
    ])


def _text(rng: random.Random, good: list[str]) -> str:
    return rng.choice(good) if rng.random() < 0.6 else rng.choice(HOSTILE_TEXT)


def gp_row(rng: random.Random) -> list[str]:
    e, n = _coord_pair(rng)
    if rng.random() < 0.4:
        e, n = "", ""
    return [
        rng.choice([f"G{rng.randint(0, 30):03d}", "", "G001", rng.choice(HOSTILE_TEXT)]),
        _text(rng, ["Elm Surgery", "The Elm Surgery Ltd", "Oak Medical Centre", "Park Practice",
                    "Acton Health", "Elm Surgery"]),
        rng.choice(POSTCODE_VALUES),
        e, n,
        rng.choice(["A", "A", "A", "C", "D", "P", "", "X", "a", "Closed", rng.choice(HOSTILE_TEXT)]),
        rng.choice(NUMBERS + ["1200", "8000"]),
        rng.choice(["", "", "N", "Y", "true", rng.choice(HOSTILE_TEXT)]),
        rng.choice(["", LAD_CD, "E99999998", rng.choice(HOSTILE_TEXT)]),
    ]


def school_row(rng: random.Random) -> list[str]:
    lat, lon = _latlon_pair(rng)
    if rng.random() < 0.4:
        lat, lon = "", ""
    return [
        rng.choice([str(100000 + rng.randint(0, 30)), "", rng.choice(HOSTILE_TEXT)]),
        _text(rng, ["Elm Primary School", "Oak High School", "Park Academy", "St Mary's RC Primary",
                    "Acton Nursery", "Hill Free School"]),
        rng.choice(POSTCODE_VALUES),
        lat, lon,
        rng.choice(["Primary", "Secondary", "All-through", "all through", "PRIMARY", "", "Nursery",
                    "Special", rng.choice(HOSTILE_TEXT)]),
        rng.choice(NUMBERS),
    ]


def user_row(rng: random.Random, known_ids: list[str]) -> list[str]:
    e, n = _coord_pair(rng)
    lat, lon = _latlon_pair(rng)
    if rng.random() < 0.5:
        e, n = "", ""
    if rng.random() < 0.5:
        lat, lon = "", ""
    action = rng.choice(["add", "add", "", "replace", "remove", "REMOVE", " Replace ", "delete",
                         rng.choice(HOSTILE_TEXT)])
    sid = rng.choice(known_ids + ["", "user-1", "user-2", "no-such-id", rng.choice(HOSTILE_TEXT)])
    row = {
        "service_id": sid,
        "name": "" if action.strip().lower() == "remove" and rng.random() < 0.5
        else _text(rng, ["Jubilee Hub", "Elm Surgery", "New Family Hub"]),
        "service_type": rng.choice(["childrens_centre", "gp_practice", "pharmacy", "", "library",
                                    "Childrens Centre", rng.choice(HOSTILE_TEXT)]),
        "subtype": _text(rng, ["family hub", "linked site", ""]),
        "address": _text(rng, ["1 High St", ""]),
        "postcode": rng.choice(POSTCODE_VALUES),
        "easting": e, "northing": n, "lat": lat, "lon": lon,
        "capacity": rng.choice(NUMBERS),
        "status": rng.choice(["", "open", "closed", "C", "Open", "active", rng.choice(HOSTILE_TEXT)]),
        "action": action,
    }
    return [row[c] for c in USER_COLUMNS]


# ------------------------------------------------------------------ CSV writer
@dataclass
class Written:
    path: Path
    n_rows: int  # data rows written (blank lines included): what "read" must equal
    encoding: str
    notes: list[str] = field(default_factory=list)


def write_hostile_csv(path: Path, header: list[str], rows: list[list[str] | None], rng: random.Random,
                      encoding: str | None = None, delimiter: str = ",") -> Written:
    """Write ``rows`` (None = blank line) with a random encoding, BOM, line ending and quoting,
    an optional extra column, optional trailing delimiters.  Returns the number of data rows."""
    encoding = encoding or rng.choice(["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-8"])
    eol = rng.choice(["\n", "\r\n"])
    quoting = rng.choice([csv.QUOTE_MINIMAL, csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC])
    header = list(header)
    rows = [None if r is None else list(r) for r in rows]
    notes = [encoding, repr(eol), f"quoting={quoting}", f"delimiter={delimiter!r}"]
    if rng.random() < 0.3:  # extra column with junk
        header.append(rng.choice(["extra", "Notes", "", "name2", "Unnamed: 3"]))
        for r in rows:
            if r is not None:
                r.append(rng.choice(HOSTILE_TEXT))
        notes.append("extra column")
    if rng.random() < 0.2:  # columns in another order
        order = list(range(len(header)))
        rng.shuffle(order)
        header = [header[i] for i in order]
        rows = [None if r is None else [r[i] for i in order] for r in rows]
        notes.append("shuffled columns")
    buf = io.StringIO()
    w = csv.writer(buf, quoting=quoting, lineterminator=eol, delimiter=delimiter)
    w.writerow(header)
    trailing = rng.random() < 0.15  # Excel-style trailing delimiter on every data row
    if trailing:
        notes.append("trailing delimiter")
    for r in rows:
        if r is None:
            buf.write(eol)
            continue
        # QUOTE_NONE-free: csv handles quotes/newlines in fields; NUL is not allowed by csv
        r = [v.replace("\x00", "") for v in r]
        line = io.StringIO()
        # "\r\n" as the writer's terminator makes csv quote fields holding a bare \r or \n
        csv.writer(line, quoting=quoting, lineterminator="\r\n", delimiter=delimiter).writerow(r)
        text = line.getvalue()[:-2] + (delimiter if trailing else "") + eol
        buf.write(text)
    data = buf.getvalue().encode(encoding, errors="replace")
    Path(path).write_bytes(data)
    return Written(Path(path), sum(1 for _ in rows), encoding, notes)


_TO_WGS84 = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
_COORDS = ("easting", "northing", "lat", "lon")


def _excel_value(v: str):
    """A cell as a council's workbook holds it: numbers as numbers, text without the control
    characters Excel cannot store, blanks empty."""
    if v.strip() == "":
        return None
    try:
        f = float(v)
        if f == f and abs(f) < 1e15 and v.strip().lstrip("+-").replace(".", "", 1).isdigit():
            return int(f) if f.is_integer() and "." not in v else f
    except ValueError:
        pass
    return ILLEGAL_CHARACTERS_RE.sub("", v)


def write_xlsx(path: Path, header: list[str], rows: list[list[str] | None], rng: random.Random) -> Written:
    """An .xlsx workbook (first sheet; sometimes a second one after it).  Text starting with
    '=' is stored as text, as Excel stores a cell typed with a leading apostrophe.  Rows after
    the last non-blank one are not rows of a sheet, so they are not counted."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = rng.choice(["Services", "Sheet1", "Hubs 2025", "{{7+7}} {% hubs"])
    ws.append(header)
    last = 0
    for i, r in enumerate(rows, start=1):
        values = [None] * len(header) if r is None else [_excel_value(v) for v in r]
        ws.append(values)
        for cell, v in zip(ws[ws.max_row], values):
            if isinstance(v, str) and v.startswith("="):
                cell.data_type = "s"
        if any(v is not None and (not isinstance(v, str) or v.strip()) for v in values):
            last = i
    if rng.random() < 0.3:
        wb.create_sheet("Notes").append(["not read: the first sheet is"])
    wb.save(path)
    return Written(Path(path), last, "xlsx", ["xlsx"])


def _point_json(rec: dict, rng: random.Random) -> dict | None:
    """GeoJSON geometry (WGS84) for a user row: from its easting/northing, else lat/lon, else none;
    sometimes a line or a polygon instead."""
    def num(v):
        try:
            f = float(v)
        except ValueError:
            return None
        return f if abs(f) < 1e7 else None

    e, n, lat, lon = (num(rec[c]) for c in _COORDS)
    if e is not None and n is not None and 0 <= e <= 700_000 and 0 <= n <= 1_300_000:
        x, y = _TO_WGS84.transform(e, n)
    elif lat is not None and lon is not None and abs(lat) <= 90 and abs(lon) <= 180:
        x, y = lon, lat  # swapped or far-away degrees stay as they are: the register rejects them
    else:
        return None
    kind = rng.random()
    if kind < 0.05:
        return {"type": "LineString", "coordinates": [[x, y], [x + 0.001, y + 0.001]]}
    if kind < 0.1:
        return {"type": "Polygon", "coordinates": [[[x, y], [x + 0.001, y], [x + 0.001, y + 0.001], [x, y]]]}
    return {"type": "Point", "coordinates": [x, y]}


def write_geojson(path: Path, header: list[str], rows: list[list[str] | None], rng: random.Random) -> Written:
    """A GeoJSON FeatureCollection: one feature per row (blank values null; a blank row = null
    properties, no geometry), location in the geometry instead of the coordinate columns."""
    feats = []
    for r in rows:
        rec = dict(zip(header, r)) if r is not None else {c: "" for c in header}
        props = {c: v.replace("\x00", "") if v.strip() else None for c, v in rec.items() if c not in _COORDS}
        feats.append({"type": "Feature", "properties": props, "geometry": _point_json(rec, rng)})
    Path(path).write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    return Written(Path(path), len(rows), "geojson", ["geojson"])


def write_user_file(area: Area, rows: list[list[str] | None], rng: random.Random, fmt: str) -> Written:
    """The user file in format ``fmt`` (:data:`USER_FORMATS`); sets ``area.user_file``."""
    area.user_file = None
    if fmt == "xlsx":
        area.user_file = area.dir / "user.xlsx"
        return write_xlsx(area.user_file, USER_COLUMNS, rows, rng)
    if fmt == "geojson":
        area.user_file = area.dir / "user.geojson"
        return write_geojson(area.user_file, USER_COLUMNS, rows, rng)
    if fmt == "decimal_comma":
        idx = [USER_COLUMNS.index(c) for c in _COORDS]
        rows = [None if r is None else [v.replace(".", ",") if i in idx else v for i, v in enumerate(r)]
                for r in rows]
    delimiter = {"semicolon": ";", "decimal_comma": ";", "tab": "\t"}.get(fmt, ",")
    w = write_hostile_csv(area.user_csv, USER_COLUMNS, rows, rng, delimiter=delimiter)
    w.notes.append(fmt)
    return w


def random_register_files(area: Area, rng: random.Random, max_rows: int = 25,
                          formats: dict[str, int] | None = None) -> dict[str, Written]:
    """Write hostile gp.csv, schools.csv and a user file into ``area``; returns {source_key: Written}.

    The user file is CSV unless ``formats`` (e.g. :data:`USER_FORMATS`) gives weights of others.
    """
    out = {}

    def rows_of(fn, *a):
        n = rng.randint(0, max_rows)
        rows: list[list[str] | None] = []
        for _ in range(n):
            if rng.random() < 0.08:
                rows.append(None)
            elif rng.random() < 0.1 and rows and rows[-1] is not None:
                rows.append(list(rows[-1]))  # exact duplicate row
            else:
                rows.append(fn(rng, *a))
        return rows

    out["gp"] = write_hostile_csv(area.gp_csv, GP_HEADER, rows_of(gp_row), rng)
    out["schools"] = write_hostile_csv(area.schools_csv, SCHOOL_HEADER, rows_of(school_row), rng)
    known = [f"gp:G{i:03d}" for i in range(5)] + ["schools:100001", "schools:100002#primary_school",
                                                  "gp:row1", "schools:row2"]
    fmt = rng.choices(list(formats), weights=list(formats.values()))[0] if formats else "csv"
    out["user"] = write_user_file(area, rows_of(user_row, known), rng, fmt)
    return out


# ------------------------------------------------------------------ checking
def check_accounting(reg, expected_rows: dict[str, int]) -> list[str]:
    """Problems (empty list = fine) with the register's row accounting.

    Checks the library's own ``accounting`` table and recounts independently from the
    services and rejects tables: for every source, the set of 1-based rows that produced a
    kept service (or a user removal) or a reject must be exactly ``1..expected_rows``.
    """
    problems = []
    acct = reg.accounting.set_index("source_key")
    for key, n in expected_rows.items():
        if key not in acct.index:
            problems.append(f"{key}: missing from accounting")
            continue
        a = acct.loc[key]
        if int(a["read"]) != n:
            problems.append(f"{key}: read {int(a['read'])} != {n} rows written")
        if int(a["used"]) + int(a["rejected"]) != int(a["read"]):
            problems.append(f"{key}: used {a['used']} + rejected {a['rejected']} != read {a['read']}")
        svc_rows = set(reg.services.loc[reg.services["source_key"] == key, "source_row"].astype(int))
        rej = reg.rejects[reg.rejects["source_key"] == key]
        rej_rows = set(rej["row"].astype(int))
        if key == "user":  # removal rows are "used" but produce no service
            used_count = int(a["used"])
            if used_count < len(svc_rows):
                problems.append(f"user: used {used_count} < {len(svc_rows)} services")
        seen = svc_rows | rej_rows
        missing = set(range(1, n + 1)) - seen
        if key != "user" and missing:
            problems.append(f"{key}: rows neither used nor rejected: {sorted(missing)[:10]}")
        if key == "user" and len(missing) > int(a["used"]) - len(svc_rows):
            problems.append(f"user: rows neither used, removed nor rejected: {sorted(missing)[:10]}")
        if seen - set(range(1, n + 1)):
            problems.append(f"{key}: row numbers out of range: {sorted(seen - set(range(1, n + 1)))[:10]}")
        if rej["reason"].isna().any() or (rej["reason"].astype(str).str.strip() == "").any():
            problems.append(f"{key}: reject without a reason")
    if reg.services["service_id"].duplicated().any():
        problems.append("duplicate service_id in the register")
    return problems


_NUMBER_ONLY = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def check_csv_outputs(reg, folder: Path) -> tuple[list[str], int]:
    """(problems, text cells checked) for the rejects and services tables written as CSV by
    :func:`locmap.export.write_csv`: a cell a spreadsheet would run as a formula, or a row
    count that differs from the table's (a cell split a row)."""
    problems, cells = [], 0
    for name, df in (("rejects", reg.rejects), ("services", reg.services)):
        path = write_csv(df, folder / f"{name}.csv")
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        if len(rows) - 1 != len(df):
            problems.append(f"{name}.csv: {len(rows) - 1} rows for {len(df)} in the table")
        for r in rows[1:]:
            cells += len(r)
            bad = [c for c in r if c.startswith(FORMULA_TRIGGERS) and not _NUMBER_ONLY.fullmatch(c)]
            if bad:
                problems.append(f"{name}.csv: formula cell {bad[0]!r}")
    return problems, cells


def map_area(reg, rng: random.Random) -> SimpleNamespace:
    """What :func:`locmap.maps.web.build_map` reads of an area, for the synthetic square, with a
    hostile borough name and pack title."""
    borough = gpd.GeoDataFrame({"lad_nm": [rng.choice(TEMPLATE_PAYLOADS)], "lad_cd": [LAD_CD]},
                               geometry=[OUTLINE], crs="EPSG:27700")
    pack = SimpleNamespace(title=rng.choice(TEMPLATE_PAYLOADS), key_service_types=("gp_practice",))
    return SimpleNamespace(borough=borough, wards=borough, services=reg.services, pack=pack,
                           attribution="", name="testshire")


def check_map(reg, folder: Path, rng: random.Random, offline: bool) -> tuple[list[str], list[str]]:
    """Draw and save the register's web map; returns (evaluated payloads, located names missing
    from the page).  Evaluated = a canary file, or an :data:`EVALUATED_SIGNS` string in the page."""
    m = build_map(map_area(reg, rng), layers=("services",), title=rng.choice(TEMPLATE_PAYLOADS), offline=offline)
    page = save_map(m, folder / "map.html", offline=offline).read_text(encoding="utf-8")
    evaluated = [s for s in EVALUATED_SIGNS if s in page]
    if CANARY.exists():
        evaluated.append(f"canary {CANARY} created")
        CANARY.unlink()
    # HTML shows any run of white space (CR, LF, tab, space) as one space: compare that way
    shown = _WHITE.sub(" ", page)
    located = reg.services.loc[reg.services["located"], "name"]
    missing = [n for n in located if _WHITE.sub(" ", safe_text(n)) not in shown]
    return evaluated, missing


_WHITE = re.compile(r"\s+")


@dataclass
class Outcome:
    rows: int = 0
    read: int = 0
    used: int = 0
    rejected: int = 0
    user_format: str = "csv"
    crash: str | None = None          # non-locmap exception
    silent: list[str] = field(default_factory=list)
    locmap_error: str | None = None   # documented error (allowed)
    csv_problems: list[str] = field(default_factory=list)
    csv_cells: int = 0
    map_drawn: bool = False
    evaluated: list[str] = field(default_factory=list)
    map_missing: list[str] = field(default_factory=list)


def _guarded(out: Outcome, step, *args):
    """Run one step; a non-locmap exception is the input's crash (None returned)."""
    try:
        return step(*args)
    except LocmapError as exc:
        if "row accounting failed" in str(exc):
            out.silent.append(str(exc))
        else:
            out.locmap_error = type(exc).__name__
    except Exception as exc:  # noqa: BLE001 - this is what the fuzz run counts
        out.crash = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    return None


def run_one(area: Area, rng: random.Random, pack=None, draw_map: bool = False,
            formats: dict[str, int] | None = None) -> Outcome:
    """One hostile input: write the files, build the register, check its accounting and its CSV
    outputs, and (``draw_map``) draw and check its web map."""
    files = random_register_files(area, rng, formats=formats)
    out = Outcome(rows=sum(w.n_rows for w in files.values()), user_format=files["user"].notes[-1])
    reg = _guarded(out, build, area, True, pack)
    if reg is None:
        return out
    out.silent = check_accounting(reg, {k: w.n_rows for k, w in files.items()})
    out.read = int(reg.accounting["read"].sum())
    out.used = int(reg.accounting["used"].sum())
    out.rejected = int(reg.accounting["rejected"].sum())
    checked = _guarded(out, check_csv_outputs, reg, area.dir)
    if checked is not None:
        out.csv_problems, out.csv_cells = checked
    if draw_map:
        drawn = _guarded(out, check_map, reg, area.dir, rng, rng.random() < 0.5)
        if drawn is not None:
            out.map_drawn = True
            out.evaluated, out.map_missing = drawn
    return out


def _tally(s: dict, o: Outcome, i: int) -> None:
    """Add one input's outcome to the summary ``s``."""
    s["inputs"] += 1
    s["files"] += 3
    for k in ("rows", "read", "used", "rejected", "csv_cells"):
        s[k] += getattr(o, k)
    s["formats"][o.user_format] = s["formats"].get(o.user_format, 0) + 1
    s["maps"] += o.map_drawn
    if o.locmap_error:
        s["locmap_errors"] += 1
        s["error_types"][o.locmap_error] = s["error_types"].get(o.locmap_error, 0) + 1
    bad = {"crashes": bool(o.crash), "silent_drops": bool(o.silent), "formula_cells": bool(o.csv_problems),
           "evaluated": bool(o.evaluated), "map_missing": bool(o.map_missing)}
    for k, v in bad.items():
        s[k] += v
    if any(bad.values()):
        s["failures"].append({"input": i, "format": o.user_format, "crash": o.crash, "silent": o.silent,
                              "csv": o.csv_problems[:3], "evaluated": o.evaluated, "map_missing": o.map_missing[:3]})


def fuzz(n: int = 1000, seed: int = 0, workdir: Path | None = None, keep_failures: Path | None = None,
         map_every: int = 5, formats: dict[str, int] | None = None) -> dict:
    """Run ``n`` hostile inputs; returns summary figures (and failure samples).

    The user file's format is drawn from ``formats`` (default :data:`USER_FORMATS`); every
    ``map_every``-th register is drawn as a web map (0 = none).
    """
    t0 = time.perf_counter()
    rng = random.Random(seed)
    tmp = tempfile.TemporaryDirectory() if workdir is None else None
    d = Path(workdir or tmp.name)
    area = make_area(d)
    pack = area.pack()
    CANARY.unlink(missing_ok=True)
    s = {"inputs": 0, "files": 0, "rows": 0, "read": 0, "used": 0, "rejected": 0, "crashes": 0,
         "silent_drops": 0, "locmap_errors": 0, "error_types": {}, "failures": [], "formats": {},
         "csv_cells": 0, "formula_cells": 0, "maps": 0, "evaluated": 0, "map_missing": 0}
    try:
        for i in range(n):
            draw = bool(map_every) and i % map_every == 0
            o = run_one(area, random.Random(rng.getrandbits(64)), pack=pack, draw_map=draw,
                        formats=USER_FORMATS if formats is None else formats)
            _tally(s, o, i)
            if s["failures"] and s["failures"][-1]["input"] == i and keep_failures is not None:
                f = Path(keep_failures) / f"input{i}"
                f.mkdir(parents=True, exist_ok=True)
                for p in (area.gp_csv, area.schools_csv, area.user_file or area.user_csv):
                    (f / p.name).write_bytes(p.read_bytes())
    finally:
        if tmp is not None:
            tmp.cleanup()
    s["canary_exists_at_end"] = CANARY.exists()
    s["seconds"] = round(time.perf_counter() - t0, 1)
    return s


def markdown(s: dict, n: int, seed: int, map_every: int) -> str:
    err = ", ".join(f"{k} {v}" for k, v in sorted(s["error_types"].items())) or "none"
    fmts = ", ".join(f"{k} {v}" for k, v in sorted(s["formats"].items()))
    lines = [
        SECTION,
        "",
        f"`python benchmarks/fuzz_register.py --n {n} --seed {seed} --map-every {map_every}` "
        f"({platform.python_version()}, {s['seconds']} s). Each input is three hostile files: two "
        "manifest CSVs and a user file with add/replace/remove actions, as comma/semicolon/tab CSV, "
        "semicolon CSV with decimal commas, Excel .xlsx or GeoJSON. Contents: bad/missing/unknown "
        "postcodes, swapped lat/lon and easting/northing, degrees in metre columns, cp1252/latin-1/"
        "UTF-8 with and without BOM, CRLF, duplicate ids and rows, blank rows, extra and shuffled "
        "columns, trailing delimiters, huge numbers, NaN/inf strings, quotes/newlines/HTML, Jinja2 "
        "template payloads (`{{7*7}}`, a `cycler...os.system('touch CANARY')` call, `{% for %}`, `{#`, "
        "unclosed `{{`) and spreadsheet formulas (`=HYPERLINK(...)`, `+1+1`, `-2+3`, `@SUM(A1)`, "
        "tab/CR) in every text field. The rejects and services tables go through `write_csv`; every "
        f"{map_every}th register is drawn with `build_map` + `save_map` (hostile title and area name "
        "too, online and offline pages).",
        "",
        "| figure | value | target |",
        "|---|---:|---:|",
        f"| inputs tried (registers built) | {s['inputs']:,} | >= 1,000 |",
        f"| user file formats | {fmts} | |",
        f"| files generated | {s['files']:,} | |",
        f"| data rows generated | {s['rows']:,} | |",
        f"| rows read (accounting) | {s['read']:,} | = rows generated (minus inputs stopped by a LocmapError) |",
        f"| rows used | {s['used']:,} | |",
        f"| rows rejected with a reason | {s['rejected']:,} | |",
        f"| inputs stopped by a documented LocmapError | {s['locmap_errors']:,} ({err}) | allowed |",
        f"| crashes (non-locmap exception) | {s['crashes']} | 0 |",
        f"| silent drops (inputs with a row neither used nor rejected) | {s['silent_drops']} | 0 |",
        f"| CSV cells written and checked | {s['csv_cells']:,} | |",
        f"| inputs with a CSV cell a spreadsheet would run as a formula | {s['formula_cells']} | 0 |",
        f"| web maps drawn and saved | {s['maps']:,} | |",
        f"| maps with evaluated template text (canary file, `Hub 49 end`, `LOOPLOOP`, `zz1337zz`) | "
        f"{s['evaluated']} | 0 |",
        f"| maps missing a located service's name | {s['map_missing']} | 0 |",
        "",
    ]
    return "\n".join(lines)


def update_benchmarks(text_md: str, path: Path) -> None:
    """Replace (or append) our section of BENCHMARKS.md, leaving the other sections alone."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pat = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    body = text_md.rstrip("\n") + "\n\n"
    new = pat.sub(lambda _m: body, old, count=1) if pat.search(old) else old.rstrip("\n") + "\n\n" + body
    write_text(path, new.rstrip("\n") + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="number of hostile registers (default 1000)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    ap.add_argument("--map-every", type=int, default=5, help="draw every Nth register as a web map (0 = none)")
    ap.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    ap.add_argument("--keep-failures", type=Path, default=None, help="copy failing inputs here")
    ap.add_argument("--benchmarks", type=Path, default=ROOT / "BENCHMARKS.md")
    a = ap.parse_args(argv)
    s = fuzz(a.n, a.seed, keep_failures=a.keep_failures, map_every=a.map_every)
    md = markdown(s, a.n, a.seed, a.map_every)
    print(md)
    for f in s["failures"][:5]:
        print(f"input {f['input']} ({f['format']}): {f}", file=sys.stderr)
    if not a.no_write:
        update_benchmarks(md, a.benchmarks)
    failed = sum(s[k] for k in ("crashes", "silent_drops", "formula_cells", "evaluated", "map_missing"))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
