"""The service register: one table of services from many source files.

Each source file keeps its own columns; the area manifest maps them onto the unified
schema (``[[services.sources]]``).  Every input row is either used (one or more services)
or written to the rejects table with file, row number and reason.  A user CSV
(docs/services.md) adds, replaces or removes services — the children's-centre list in the
shared data is incomplete, so councils are expected to supply their own.

Row numbers are 1-based data rows (the header is not counted), so row 1 is the line after
the header (in a spreadsheet: the row under the header row; in GeoJSON/GeoPackage: feature 1).

Formats (:func:`read_service_table`): CSV/TSV (delimiter sniffed: comma, semicolon, tab or
``|``), Excel/OpenDocument workbooks (first sheet, or the one chosen), GeoJSON/GeoPackage/
FlatGeobuf/Shapefile (each feature's geometry, in any CRS, gives its easting/northing in
EPSG:27700).  Every format goes through the same row rules and the same accounting.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from locmap.data.io import (GEOMETRY_COLUMNS, VALUE_PROBLEM_COLUMN, TableRead, read_csv_any,
                            read_point_layer, read_sheet, rename_columns)
from locmap.data import memo, openreferral
from locmap.data.manifest import AreaPack
from locmap.errors import DataFileError, ManifestError
from locmap.pathcheck import LAYER_SUFFIXES, SHEET_SUFFIXES

REGISTER_COLUMNS = ["service_id", "name", "service_type", "subtype", "address", "postcode", "easting",
                    "northing", "lad_cd", "lad_nm", "in_study_area", "located", "location_quality",
                    "capacity", "source", "source_key", "source_row", "vintage", "status", "pcn_code",
                    "pcn_name"]
REJECT_COLUMNS = ["file", "row", "reason", "detail", "source_key"]

#: documented schema of a user services CSV (docs/services.md)
USER_COLUMNS = ["service_id", "name", "service_type", "subtype", "address", "postcode", "easting",
                "northing", "lat", "lon", "capacity", "status", "action"]

POSTCODE_RE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$")
_TO_BNG = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
# Great Britain's National Grid extent (metres)
BNG_X = (0.0, 700_000.0)
BNG_Y = (0.0, 1_300_000.0)


#: a postcode already written the normalised way (the postcode directory's ~180,000 London rows)
_NORMALISED_RE = re.compile(r"[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}")


def normalise_postcode(pc) -> str | None:
    """Upper-case, single space before the inward code; None for blank/malformed values."""
    if type(pc) is str and _NORMALISED_RE.fullmatch(pc):
        return pc  # what the steps below give for it: nothing to remove, upper-case, one space before the inward code
    if pc is None or (isinstance(pc, float) and np.isnan(pc)):
        return None
    s = re.sub(r"\s+", "", str(pc)).upper()
    if not s:
        return None
    s = s[:-3] + " " + s[-3:] if len(s) > 3 else s
    return s if POSTCODE_RE.match(s) else "INVALID:" + str(pc)


def normalise_name(name: str) -> str:
    return _normalised_text(str(name))


@functools.lru_cache(maxsize=1 << 16)
def _normalised_text(text: str) -> str:
    """:func:`normalise_name` of a text, remembered: a London-wide register's ~6,000 names are compared
    again for every borough of a batch (a pure function of the text, so the answer is the same)."""
    s = text.lower().replace("&", " and ").replace("'", "")
    s = re.sub(r"[^a-z0-9 ]+", " ", s)
    s = re.sub(r"\b(the|ltd|limited)\b", " ", s)
    return re.sub(r"\s+", " ", s).strip()


def _norm_key(v) -> str:
    return re.sub(r"[\s\-_]+", " ", str(v).strip().lower())


@dataclass
class ServiceRegister:
    """Result of :func:`build_register`.

    ``services`` (EPSG:27700, columns :data:`REGISTER_COLUMNS` + ``source_file``), ``rejects``
    (:data:`REJECT_COLUMNS`), ``accounting`` (per source: ``source_key, file, read, used,
    rejected, accounted``) and ``notes`` (formats, sheets, delimiters, unlocated services).
    """

    services: gpd.GeoDataFrame
    rejects: pd.DataFrame
    accounting: pd.DataFrame  # per source: file, read, used, rejected
    notes: list[str] = field(default_factory=list)

    def unlocated(self) -> pd.DataFrame:
        return self.services.loc[~self.services["located"], ["service_id", "name", "service_type", "source"]]


class _Rejects:
    """The rejects table being built: one entry per (file, row, reason, detail).

    A row that gives several services (an all-through school: primary and secondary) is listed
    once: rejected for the same reason for each, once; for different reasons (its secondary record
    a duplicate, its primary outside the buffer), under the first reason with the others in its
    detail ("also: ...").
    """

    def __init__(self):
        self.rows: list[dict] = []
        self._seen: set[tuple] = set()
        self._by_row: dict[tuple, dict] = {}

    def add(self, file, row, reason, detail="", key=""):
        entry = (str(file), int(row), reason, str(detail), key)
        if entry in self._seen:
            return
        self._seen.add(entry)
        first = self._by_row.get((entry[0], entry[1], key))
        if first is not None:  # another service of the same input row: one rejects row per input row
            first["detail"] = f"{first['detail']}; also: {reason}" + (f" ({detail})" if str(detail) else "")
            return
        record = dict(zip(REJECT_COLUMNS, entry))
        self._by_row[(entry[0], entry[1], key)] = record
        self.rows.append(record)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=REJECT_COLUMNS)


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip())


_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")
_DECIMAL_COMMA_RE = re.compile(r"^[+-]?\d*,\d+$")


def parse_number(v) -> float | str:
    """A number from a cell: float (NaN for blank) or the reason it is not one (str).

    ``1,200`` is a thousands separator; ``51,5`` or ``515000,5`` is a decimal comma and not
    read as a number ("looks like a decimal comma"), so it is never misread as 515 or 5150005.
    """
    if _blank(v):
        return np.nan
    s = str(v).strip()
    if "," in s:
        if _THOUSANDS_RE.match(s):
            s = s.replace(",", "")
        elif _DECIMAL_COMMA_RE.match(s):
            return f"{s!r} looks like a decimal comma ({s.replace(',', '.')}): use a point as the decimal separator"
        else:
            return f"{s!r} is not a number"
    try:
        f = float(s)
    except (TypeError, ValueError):
        return f"{s!r} is not a number"
    return f if np.isfinite(f) else f"{s!r} is not a finite number"


def _num(v):
    """float, NaN for blank, None when not a number (see :func:`parse_number` for the reason)."""
    f = parse_number(v)
    return None if isinstance(f, str) else f


def _decimal_comma_reading(v) -> float | None:
    """``51,507`` read with a decimal comma (51.507), for values whose thousands reading is out of range."""
    s = "" if _blank(v) else str(v).strip()
    if s.count(",") != 1 or "." in s:
        return None
    f = _num(s.replace(",", "."))
    return f if f is not None and not np.isnan(f) else None


def _in_gb_degrees(lat: float, lon: float) -> bool:
    return 49 < lat < 61 and -9 < lon < 2.5


def _locate_easting_northing(rec: dict) -> tuple[float, float, str] | str | None:
    e, n = parse_number(rec.get("easting")), parse_number(rec.get("northing"))
    for axis, v in (("easting", e), ("northing", n)):
        if isinstance(v, str):
            return f"bad coordinates: {axis} {v}"
    if np.isnan(e) or np.isnan(n):
        return None
    if BNG_X[0] < e < BNG_X[1] and BNG_Y[0] < n < BNG_Y[1]:
        return float(e), float(n), _quality(rec, "source coordinates")
    if BNG_X[0] < n < BNG_X[1] and BNG_Y[0] < e < BNG_Y[1]:
        return "bad coordinates: easting/northing swapped? (northing in the easting column)"
    if _in_gb_degrees(e, n) or _in_gb_degrees(n, e):
        return "bad coordinates: easting/northing hold degrees (lat/lon in the wrong columns)"
    return f"bad coordinates: ({e}, {n}) outside the British National Grid"


def _locate_lat_lon(rec: dict) -> tuple[float, float, str] | str | None:
    lat, lon = parse_number(rec.get("lat")), parse_number(rec.get("lon"))
    for axis, v in (("lat", lat), ("lon", lon)):
        if isinstance(v, str):
            return f"bad coordinates: {axis} {v}"
    if np.isnan(lat) or np.isnan(lon):
        return None
    if _in_gb_degrees(lat, lon):
        x, y = _TO_BNG.transform(lon, lat)
        return float(x), float(y), _quality(rec, "source lat/lon")
    if _in_gb_degrees(lon, lat):
        return "bad coordinates: lat and lon look swapped"
    dlat, dlon = _decimal_comma_reading(rec.get("lat")), _decimal_comma_reading(rec.get("lon"))
    if (dlat is not None or dlon is not None) and _in_gb_degrees(dlat if dlat is not None else lat,
                                                                  dlon if dlon is not None else lon):
        raw = rec.get("lat") if dlat is not None else rec.get("lon")
        return (f"bad coordinates: {str(raw).strip()!r} looks like a decimal comma "
                f"({str(raw).strip().replace(',', '.')}): use a point as the decimal separator")
    return f"bad coordinates: lat/lon ({lat}, {lon}) outside Great Britain"


def _locate_postcode(rec: dict, postcodes: pd.DataFrame) -> tuple[float, float, str] | str | None:
    pc = rec.get("postcode_norm")
    if pc is None:
        return None
    if pc.startswith("INVALID:"):
        return f"bad postcode: {pc[8:]!r} is not a valid UK postcode"
    if pc not in postcodes.index:
        return f"unknown postcode: {pc} not in the postcode table"
    row = postcodes.loc[pc]
    e, n = _num(row["easting"]), _num(row["northing"])
    if e is None or n is None or np.isnan(e) or np.isnan(n):
        return f"unknown postcode: {pc} has no coordinates in the postcode table"
    return float(e), float(n), "postcode centroid"


def _locate_geometry(rec: dict) -> tuple[float, float, str] | str | None:
    problem = rec.get(GEOMETRY_COLUMNS[2])
    if not _blank(problem):
        return f"bad coordinates: {problem}"
    e, n = _num(rec.get(GEOMETRY_COLUMNS[0])), _num(rec.get(GEOMETRY_COLUMNS[1]))
    if e is None or n is None or np.isnan(e) or np.isnan(n):
        return None
    return float(e), float(n), _quality(rec, "source geometry")


def _locate(rec: dict, postcodes: pd.DataFrame) -> tuple[float, float, str] | str | None:
    """Coordinates for a record: (easting, northing, quality), a reject reason (str) or None (no location).

    Tried in order: the feature's geometry (GeoJSON/GeoPackage), easting/northing, lat/lon,
    postcode; the first that is present decides (a bad value is rejected, not skipped).
    """
    for locate in (_locate_geometry, _locate_easting_northing, _locate_lat_lon):
        loc = locate(rec)
        if loc is not None:
            return loc
    return _locate_postcode(rec, postcodes)


def _quality(rec: dict, default: str) -> str:
    q = rec.get("location_quality")
    return default if _blank(q) else str(q).strip()


def _status(rec: dict, rules) -> str:
    s = rec.get("status")
    if _blank(s):
        return "open"
    for pat, val in rules or []:
        if re.search(pat, str(s)):
            return val
    return "open" if not rules else "unknown"


def _types(rec: dict, src: dict, name_rules) -> list[str]:
    if src.get("service_type"):
        return [src["service_type"]]
    kind_map = {_norm_key(k): v for k, v in (src.get("kind_map") or {}).items()}
    if rec.get("kind") is not None and _norm_key(rec["kind"]) in kind_map:
        return [kind_map[_norm_key(rec["kind"])]]
    if src.get("type_from"):
        tmap = {_norm_key(k): v for k, v in (src.get("type_map") or {}).items()}
        v = rec.get(src["type_from"])
        if not _blank(v):
            t = tmap.get(_norm_key(v))
            if t is not None:
                return t if isinstance(t, list) else [t]
    if not _blank(rec.get("type")):
        return [str(rec["type"]).strip()]
    for pat, t in name_rules or []:
        if re.search(pat, str(rec.get("name", ""))):
            return [t]
    return []


# ------------------------------------------------------------------ reading one source
def read_service_table(path: str | Path, sheet: str | int | None = None,
                       name_column: str = "name") -> TableRead:
    """Read a services file of any supported format as text cells (blank = NaN).

    By suffix: ``.xlsx .xlsm .xls .ods`` -> :func:`~locmap.data.io.read_sheet` (``sheet`` = a
    sheet name or 1-based position; default the first); ``.geojson .json .gpkg .fgb .shp`` ->
    :func:`~locmap.data.io.read_point_layer` (``sheet`` = the layer; geometry reprojected to
    EPSG:27700); anything else is CSV text with a sniffed delimiter (``sheet`` must be None).
    The notes say which sheet/layer/delimiter was used.
    """
    path = Path(path)
    if openreferral.is_openreferral(path):  # Open Referral UK export: docs/services.md
        return openreferral.read_openreferral(path, sheet=sheet)
    suffix = path.suffix.lower()
    if suffix in SHEET_SUFFIXES:
        return read_sheet(path, sheet, header_hint=(name_column,))
    if suffix in LAYER_SUFFIXES:
        return read_point_layer(path, sheet)
    if sheet is not None:
        raise DataFileError(path, f"a sheet or layer ({sheet!r}) was chosen, but this is a CSV file",
                            remedy="leave --sheet out for CSV files; it applies to workbooks "
                                   f"({', '.join(SHEET_SUFFIXES)}) and GeoPackages.")
    df, _ = read_csv_any(path)
    sep = df.attrs.get("delimiter", ",")
    notes = () if sep == "," else (f"{path.name}: delimiter {_SEP_NAMES.get(sep, repr(sep))} "
                                   "(sniffed from the header row)",)
    return TableRead(df, notes)


_SEP_NAMES = {";": "semicolon ';'", "\t": "tab", "|": "pipe '|'"}


@dataclass
class _Source:
    """What the row rules need to know about the source being read."""

    src: dict
    key: str
    display_path: str
    pack: AreaPack
    postcodes: pd.DataFrame
    rejects: "_Rejects"
    name_rules: list

    def reject(self, row: int, reason: str, detail: Any = "") -> None:
        self.rejects.add(self.display_path, row, reason, detail, self.key)


def _exclusion(raw: dict, rules: list[dict]) -> str | None:
    """Detail of the first manifest ``exclude`` rule matching the raw row (source column -> value),
    else None."""
    for ex in rules:
        v = raw.get(ex["column"])
        if v is None or _blank(v):
            continue
        if ("values" in ex and str(v).strip() in [str(x) for x in ex["values"]]) \
                or ("pattern" in ex and re.search(ex["pattern"], str(v))):
            return f"{ex['reason']} ({ex['column']}={v!r})"
    return None


def _action_record(ctx: _Source, rec: dict, row: int) -> tuple[str | None, dict | None]:
    """(action, removal record) for a row, or (None, None) after rejecting a bad action."""
    action = "add" if _blank(rec.get("action")) else str(rec["action"]).strip().lower()
    if action not in ("add", "replace", "remove"):
        ctx.reject(row, "bad action", f"action {action!r} is not add, replace or remove")
        return None, None
    if action in ("replace", "remove") and _blank(rec.get("service_id")):
        ctx.reject(row, "unknown service_id", f"{action} needs a service_id")
        return None, None
    if action == "remove":
        sid = str(rec["service_id"]).strip()
        return action, {"source_key": ctx.key, "source_row": row, "source_file": ctx.display_path,
                        "action": "remove", "user_service_id": sid, "name": rec.get("name") or "",
                        "service_id": sid}
    return action, None


def _open_status(ctx: _Source, rec: dict, row: int, name: str) -> bool:
    """True when the row's service is open; a closed one is rejected."""
    status = _status(rec, ctx.src.get("status_rules"))
    if not _blank(rec.get("closed_year")):
        # community-run libraries carry the year the council stopped running them
        if str(rec.get("subtype") or "").strip() not in ctx.src.get("closed_year_ignore_if_subtype", []):
            status = "closed"
    if status == "closed":
        ctx.reject(row, "closed", f"{name}: status {rec.get('status') or ''} {rec.get('closed_year') or ''}".strip())
        return False
    rec["_status"] = status
    return True


def _known_types(ctx: _Source, rec: dict, row: int, name: str) -> list[str]:
    """The row's service types in the area's vocabulary; [] after rejecting the row."""
    types = _types(rec, ctx.src, ctx.name_rules)
    if not types:
        col = ctx.src.get("type_from") or "type"
        shown = _first(ctx.src["columns"].get(col, col))
        ctx.reject(row, "missing/unknown service type",
                   f"{name}: blank service type (column {shown!r} is empty)" if _blank(rec.get(col))
                   else f"{name}: {shown}={rec.get(col)!r} matches no service type")
        return []
    unknown = [ty for ty in types if ty not in ctx.pack.service_types]
    if unknown:
        ctx.reject(row, "missing/unknown service type",
                   f"{name}: {unknown[0]!r} not in the area's vocabulary ({', '.join(ctx.pack.service_types)})")
        return []
    return types


def _text_or_none(v) -> str | None:
    return None if _blank(v) else str(v).strip()


def _service_base(ctx: _Source, rec: dict, row: int, name: str, loc, action: str) -> dict:
    """The register fields shared by every type of one row."""
    pc = rec["postcode_norm"]
    cap = _num(rec.get("capacity"))
    base = {
        "name": name, "subtype": _text_or_none(rec.get("subtype")), "address": _text_or_none(rec.get("address")),
        "postcode": None if (pc or "").startswith("INVALID") else pc,
        "easting": loc[0] if loc else np.nan, "northing": loc[1] if loc else np.nan,
        "located": loc is not None,
        "location_quality": loc[2] if loc else "no location (supply a postcode or coordinates)",
        "lad_cd": _text_or_none(rec.get("lad_cd")), "lad_nm": _text_or_none(rec.get("lad_nm")),
        "capacity": cap if cap is not None else np.nan,
        "source": ctx.src.get("source", ctx.key), "source_key": ctx.key, "source_row": row,
        "source_file": ctx.display_path, "vintage": str(ctx.src.get("vintage", "")), "status": rec["_status"],
        "pcn_code": None if _blank(rec.get("pcn_code")) else rec.get("pcn_code"),
        "pcn_name": None if _blank(rec.get("pcn_name")) else rec.get("pcn_name"),
        "raw_id": _text_or_none(rec.get("id")), "user_service_id": _text_or_none(rec.get("service_id")),
        "action": action, "_capacity_text": None if cap is not None else str(rec.get("capacity")).strip(),
    }
    if base["lad_cd"] is None and ctx.src.get("lad_default"):
        base["lad_cd"] = ctx.src["lad_default"]
    if base["lad_cd"] is None and pc in ctx.postcodes.index:
        base["lad_cd"] = ctx.postcodes.loc[pc, "lad_cd"]
    return base


def _row_records(ctx: _Source, rec: dict, raw: dict, row: int) -> list[dict]:
    """The register records of one data row (one per service type, or a user removal);
    [] after rejecting the row with its reason."""
    excluded = _exclusion(raw, ctx.src.get("exclude", []) or [])
    if excluded:
        ctx.reject(row, "excluded", excluded)
        return []
    action, removal = _action_record(ctx, rec, row)
    if action is None or removal is not None:
        return [removal] if removal else []
    if _blank(rec.get("name")):
        ctx.reject(row, "missing name")
        return []
    name = rec["name"] = str(rec["name"]).strip()
    if not _open_status(ctx, rec, row, name):
        return []
    types = _known_types(ctx, rec, row, name)
    if not types:
        return []
    rec["postcode_norm"] = normalise_postcode(rec.get("postcode"))
    loc = _locate(rec, ctx.postcodes)
    if isinstance(loc, str):
        ctx.reject(row, loc.split(":")[0], f"{name}: {loc}")
        return []
    base = _service_base(ctx, rec, row, name, loc, action)
    sid = base["user_service_id"] or f"{ctx.key}:{base['raw_id'] or 'row' + str(row)}"
    return [dict(base, service_type=ty, service_id=sid if len(types) == 1 else f"{sid}#{ty}") for ty in types]


def read_source(src: dict, path: Path, pack: AreaPack, postcodes: pd.DataFrame, rejects: _Rejects,
                display_path: str, sheet: str | int | None = None) -> tuple[list[dict], int, list[str]]:
    """Read one source file into service records.

    Returns (records, rows read, notes).  Every data row gives one or more records (a
    service per type, or a user removal) or one reject; ``sheet`` chooses the sheet of a
    workbook or the layer of a GeoPackage (default: the source's ``sheet`` key, else the first).
    """
    columns = src["columns"]
    table = read_service_table(path, sheet if sheet is not None else src.get("sheet"),
                               name_column=_first(columns.get("name", "name")))
    df = table.frame
    geometry = [c for c in (*GEOMETRY_COLUMNS, VALUE_PROBLEM_COLUMN) if c in df.columns]
    t = rename_columns(df.drop(columns=geometry), columns, path, required=("name",))
    for c in geometry:
        t[c] = df[c]
    ctx = _Source(src, src["key"], display_path, pack, postcodes, rejects,
                  pack.services.get("name_type_rules", []))
    raw_all_blank = df.drop(columns=geometry).isna().all(axis=1).to_numpy()
    excl_cols = [c for c in {ex["column"] for ex in src.get("exclude", []) or []} if c in df.columns]
    raw_rows = df[excl_cols].to_dict("records") if excl_cols else [{}] * len(df)
    records: list[dict] = []
    row_rejects = df.attrs.get("row_rejects", {})  # rows a format reader rejected (Open Referral UK)
    for i, rec in _rows(t):
        if i + 1 in row_rejects:
            ctx.reject(i + 1, *row_rejects[i + 1])
            continue
        if raw_all_blank[i] and _blank(rec.get(GEOMETRY_COLUMNS[0])):
            ctx.reject(i + 1, "blank row")
            continue
        if _not_single(ctx, rec.get(VALUE_PROBLEM_COLUMN), i + 1):
            continue
        records.extend(_row_records(ctx, rec, raw_rows[i], i + 1))
    return records, len(df), list(table.notes) + _capacity_notes(records, display_path)


class _RecordingRejects(_Rejects):
    """A rejects table that also keeps every ``add`` call, to be replayed into another."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple] = []

    def add(self, file, row, reason, detail="", key=""):
        self.calls.append((file, row, reason, detail, key))
        super().add(file, row, reason, detail, key)


def _read_source_shared(src: dict, path: Path, pack: AreaPack, postcodes: pd.DataFrame, rejects: _Rejects,
                        display_path: str, sheet: str | int | None = None) -> tuple[list[dict], int, list[str]]:
    """:func:`read_source`, its records, rows read, notes and rejects kept for this process while the
    file, the source's rules, the pack's vocabulary and the postcode table are unchanged (a batch
    worker reads each London-wide register once for all its boroughs; the study-area buffer is
    applied afterwards, per borough).  Without a known postcode table: read every time."""
    ident, pc_key = memo.file_key(path), postcodes.attrs.get("memo_key")
    if ident is None or pc_key is None:
        return read_source(src, path, pack, postcodes, rejects, display_path, sheet=sheet)
    key = ("service_source", ident, json.dumps(src, sort_keys=True, default=str), display_path, repr(sheet),
           repr(sorted(pack.service_types.items())), repr(pack.services.get("name_type_rules", [])), pc_key)

    def read() -> tuple:
        rec = _RecordingRejects()
        records, n, notes = read_source(src, path, pack, postcodes, rec, display_path, sheet=sheet)
        return records, n, notes, rec.calls

    records, n, notes, calls = memo.remember(key, read, lambda v: ([dict(r) for r in v[0]], v[1], list(v[2]), v[3]))
    for call in calls:  # the same rejects, in the same order, as reading the file now would give
        rejects.add(*call)
    return records, n, notes


def _rows(t: pd.DataFrame, chunk: int = 20_000):
    """(position, row as a dict) of ``t``, made a chunk at a time (a 1,000,000-row register would
    otherwise hold a million dicts at once)."""
    for start in range(0, len(t), chunk):
        yield from enumerate(t.iloc[start:start + chunk].to_dict("records"), start=start)


def _not_single(ctx: _Source, problems: dict | None, row: int) -> bool:
    """Reject a row when a column locmap reads holds a list or an object (GeoJSON) instead of one
    value; other columns of the file are not read, so their lists do not matter."""
    if not problems:
        return False
    used = {c for v in ctx.src["columns"].values() for c in (v if isinstance(v, list) else [v])}
    used |= {ex["column"] for ex in ctx.src.get("exclude", []) or []} | {ctx.src.get("type_from")}
    bad = [f"{c} holds {d}" for c, d in problems.items() if c in used]
    if bad:
        ctx.reject(row, "not a single value", "; ".join(bad) + ": give one value per row (one row per service "
                   "type)")
    return bool(bad)


def _first(v):
    return v[0] if isinstance(v, list) else v


def _capacity_notes(records: list[dict], display_path: str) -> list[str]:
    bad = [(r["source_row"], r["_capacity_text"]) for r in records if r.get("_capacity_text")]
    if not bad:
        return []
    shown = "; ".join(f"row {row}: {text!r}" for row, text in bad[:5])
    return [f"{display_path}: capacity is not a number in {len(bad)} row(s), left blank (equal weights in "
            f"2SFCA): {shown}"]


# ------------------------------------------------------------------ the register
def _source_list(pack: AreaPack, data_root: Path, user_csv: str | Path | None) -> list[tuple[dict, Path, str]]:
    """(source spec, absolute path, path as shown) for every manifest source and the user file."""
    out = []
    for src in pack.services.get("sources", []):
        p = Path(src["path"])
        out.append((src, p if p.is_absolute() else data_root / p, src["path"]))
    if user_csv is not None:
        user_src = {"key": "user", "path": str(user_csv), "source": f"user file {Path(user_csv).name}",
                    "vintage": "user", "columns": {c: c for c in USER_COLUMNS if c not in ("service_type",)}
                    | {"type": "service_type"},
                    "status_rules": [["(?i)^(closed|c)$", "closed"], ["(?i)^(open|a|active)$", "open"]]}
        out.append((user_src, Path(user_csv), str(user_csv)))
    return out


def _validate_sources(pack: AreaPack, sources: list[tuple[dict, Path, str]]) -> None:
    keys = [src["key"] for src, _, _ in sources]
    dup_keys = sorted({k for k in keys if keys.count(k) > 1})
    if dup_keys:
        raise ManifestError(f"{pack.path}: [[services.sources]] keys must be unique "
                            f"('user' is reserved for the user services CSV): {dup_keys}")
    for src, _, _ in sources:
        for ex in src.get("exclude", []) or []:
            if not isinstance(ex, dict) or "column" not in ex or "reason" not in ex \
                    or not ("values" in ex or "pattern" in ex):
                raise ManifestError(f"{pack.path}: services source '{src['key']}': every exclude rule "
                                    f"needs 'column', 'reason' and 'values' or 'pattern' (got {ex!r})")


def _apply_user_actions(records: list[dict], rejects: _Rejects) -> tuple[list[dict], list[dict]]:
    """Apply the user file's replace/remove rows in reading order: (remaining records, removal rows)."""
    final: list[dict] = []
    removals: list[dict] = []
    for r in records:
        if r["source_key"] == "user" and r["action"] in ("remove", "replace"):
            target = r["user_service_id"]
            hit = [x for x in final if x["service_id"] == target or x["service_id"].startswith(target + "#")]
            if not hit:
                rejects.add(r["source_file"], r["source_row"], "unknown service_id",
                            f"{r['action']} of {target!r}: no such service", "user")
                continue
            for x in hit:
                final.remove(x)
                rejects.add(x["source_file"], x["source_row"], "replaced by user file" if r["action"] == "replace"
                            else "removed by user file", f"{x['service_id']} ({x['name']})", x["source_key"])
            if r["action"] == "remove":
                removals.append(r)
                continue
        final.append(r)
    return final, removals


def _outside_detail(r: dict, outline, buffer_m: float, lad_nm: str, d_m: float,
                    swapped_d_m: float | None = None) -> tuple[str, str]:
    """(reason, detail) for a service beyond the buffer: "bad coordinates" when its easting and
    northing swapped back would put it within the area + buffer, else "outside study area + buffer"
    (``swapped_d_m``: that distance when already computed, metres)."""
    if r["location_quality"] == "source coordinates":
        if swapped_d_m is None:
            swapped_d_m = float(shapely.distance(shapely.Point(r["northing"], r["easting"]), outline))
        if swapped_d_m <= buffer_m:
            return "bad coordinates", (f"{r['name']}: easting/northing swapped? ({r['easting']:.0f}, "
                                       f"{r['northing']:.0f}) is {d_m / 1000:.0f} km from {lad_nm}; swapped, "
                                       f"({r['northing']:.0f}, {r['easting']:.0f}) would be "
                                       + ("inside it" if swapped_d_m == 0 else f"{swapped_d_m:.0f} m from it"))
    return ("outside study area + buffer",
            f"{r['name']}: {d_m:.0f} m from {lad_nm} (buffer {buffer_m:.0f} m)")


def _place(r: dict, outline, buffer_m: float, pack: AreaPack, d_m: float | None = None,
           swapped_d_m: float | None = None) -> tuple[str, str] | None:
    """Set ``in_study_area`` of a record, or (reason, detail) when it lies beyond the buffer
    (``d_m``, ``swapped_d_m``: its distances to the outline when already computed, metres)."""
    if not r["located"]:
        r["in_study_area"] = r["lad_cd"] in pack.lad_cds if r["lad_cd"] else True
        return None
    d = float(shapely.distance(shapely.Point(r["easting"], r["northing"]), outline)) if d_m is None else d_m
    if d > buffer_m:
        return _outside_detail(r, outline, buffer_m, pack.lad_nm, d, swapped_d_m)
    r["in_study_area"] = bool(shapely.contains_xy(outline, r["easting"], r["northing"])) if d == 0 else False
    return None


class _Duplicates:
    """Services seen so far, by service_id, (type, source id) and (type, normalised name)."""

    def __init__(self, dedupe_m: float):
        self.dedupe_m = dedupe_m
        self.ids: dict[str, dict] = {}
        self.raw: dict[tuple, dict] = {}
        self.names: dict[tuple, list] = {}

    def detail(self, r: dict) -> str | None:
        """Why ``r`` duplicates a service seen earlier, else None."""
        if r["service_id"] in self.ids:
            k = self.ids[r["service_id"]]
            return f"{r['name']}: service_id {r['service_id']} already used by {k['source_file']} row {k['source_row']}"
        dup = self.raw.get((r["service_type"], r["raw_id"])) if r["raw_id"] is not None else None
        located = dup is None and r["located"]
        same_name = self.names.get((r["service_type"], normalise_name(r["name"]))) if located else None
        if same_name:  # most names are new: nothing to compare
            dup = next((o for o in same_name
                        if o["located"] and np.hypot(o["easting"] - r["easting"],
                                                     o["northing"] - r["northing"]) <= self.dedupe_m), None)
        if dup is None:
            return None
        return f"{r['name']}: same service as {dup['service_id']} ({dup['source_file']} row {dup['source_row']})"

    def add(self, r: dict) -> None:
        self.ids[r["service_id"]] = r
        if r["raw_id"] is not None:
            self.raw[(r["service_type"], r["raw_id"])] = r
        self.names.setdefault((r["service_type"], normalise_name(r["name"])), []).append(r)


def _nearby_unique(records: list[dict], outline, buffer_m: float, pack: AreaPack, rejects: _Rejects) -> list[dict]:
    """Records that duplicate no earlier one (same service_id, same type and source id, or same type
    and name within the pack's ``dedupe_m``) and lie within ``buffer_m`` metres of the outline (or are
    unlocated); the others are rejected.

    Duplicates are found first, in reading order (sources are listed newest first), and only then is
    the buffer applied: the newest record of a service decides where it is, so a stale record inside
    the buffer never stands in for a current one just outside it.
    """
    seen = _Duplicates(float(pack.services.get("dedupe_m", 150)))
    unique = []
    for r in records:
        dup = seen.detail(r)
        if dup is not None:
            rejects.add(r["source_file"], r["source_row"], "duplicate", dup, r["source_key"])
            continue
        seen.add(r)
        unique.append(r)
    kept = []
    for r, d_m, swapped_d_m in zip(unique, *_distances_m(unique, outline, buffer_m)):
        outside = _place(r, outline, buffer_m, pack, d_m, swapped_d_m)
        if outside is not None:
            rejects.add(r["source_file"], r["source_row"], outside[0], outside[1], r["source_key"])
            continue
        kept.append(r)
    return kept


def _distances_m(records: list[dict], outline, buffer_m: float) -> tuple[list, list]:
    """Per record, its distance to the outline and, where that is beyond ``buffer_m`` and the
    record has source coordinates, the distance its easting and northing swapped would have
    (metres; None where not needed): GEOS's distances as :func:`_place` computes them one by one,
    in two calls for every record (a London-wide register holds ~6,000 of them, each borough of a
    batch places them all)."""
    d_m: list = [None] * len(records)
    swapped_m: list = [None] * len(records)
    located = [i for i, r in enumerate(records) if r["located"]]
    if not located:
        return d_m, swapped_m
    east = np.array([records[i]["easting"] for i in located], dtype=float)
    north = np.array([records[i]["northing"] for i in located], dtype=float)
    d = shapely.distance(shapely.points(east, north), outline)
    far = [k for k, i in enumerate(located)
           if d[k] > buffer_m and records[i]["location_quality"] == "source coordinates"]
    swapped = shapely.distance(shapely.points(north[far], east[far]), outline) if far else []
    for k, i in enumerate(located):
        d_m[i] = float(d[k])
    for k, s_m in zip(far, swapped):
        swapped_m[located[k]] = float(s_m)
    return d_m, swapped_m


def _register_frame(kept: list[dict], crs: str) -> gpd.GeoDataFrame:
    """The services GeoDataFrame (:data:`REGISTER_COLUMNS` + ``source_file``), sorted by type and id."""
    df = pd.DataFrame(kept)
    if df.empty:
        df = pd.DataFrame(columns=REGISTER_COLUMNS + ["source_file"])
    for c in REGISTER_COLUMNS:
        if c not in df:
            df[c] = None
    df["located"] = df["located"].astype(bool)
    df["in_study_area"] = df["in_study_area"].astype(bool)
    for c in ("easting", "northing", "capacity"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    located = df["located"].to_numpy(bool)
    geom = np.full(len(df), None, dtype=object)  # unlocated: no point
    geom[located] = shapely.points(df["easting"].to_numpy(float)[located], df["northing"].to_numpy(float)[located])
    gdf = gpd.GeoDataFrame(df[REGISTER_COLUMNS + ["source_file"]], geometry=geom, crs=crs)
    return gdf.sort_values(["service_type", "service_id"], kind="stable").reset_index(drop=True)


def _accounting(read: list[dict], kept: list[dict], removals: list[dict], rej: pd.DataFrame) -> pd.DataFrame:
    """Per source: rows read, used (gave a kept service or a user removal), rejected; a bug guard
    raises when used + rejected != read."""
    used_rows = {(r["source_key"], r["source_row"]) for r in kept + removals}
    rejected_rows = set(zip(rej["source_key"], rej["row"])) if len(rej) else set()
    rows = []
    for a in read:
        k = a["source_key"]
        used = {r for r in used_rows if r[0] == k}
        rejd = {r for r in rejected_rows if r[0] == k} - used
        rows.append({**a, "used": len(used), "rejected": len(rejd),
                     "accounted": len(used) + len(rejd) == a["read"]})
    accounting = pd.DataFrame(rows, columns=["source_key", "file", "read", "used", "rejected", "accounted"])
    bad = accounting[~accounting["accounted"]]
    if len(bad):  # pragma: no cover - a bug guard: every row must be used or rejected
        raise DataFileError(bad["file"].iloc[0], f"row accounting failed: {bad.to_dict('records')}")
    return accounting


def build_register(pack: AreaPack, data_root: Path, outline, postcodes: pd.DataFrame, buffer_m: float,
                   user_csv: str | Path | None = None, crs: str = "EPSG:27700",
                   user_sheet: str | int | None = None) -> ServiceRegister:
    """Build the unified service register of an area pack.

    Parameters
    ----------
    outline : shapely geometry
        Study-area outline in ``crs`` (metres); services farther than ``buffer_m`` metres are rejected.
    postcodes : DataFrame
        Indexed by normalised postcode, with ``easting, northing, lad_cd`` (EPSG:27700).
    user_csv : path, optional
        The council's own services file (schema :data:`USER_COLUMNS`, docs/services.md): CSV
        (any delimiter), Excel/OpenDocument workbook, GeoJSON or GeoPackage.
    user_sheet : str or int, optional
        Sheet (workbook) or layer (GeoPackage) of ``user_csv``: a name or 1-based position;
        default the first.  Refused for a CSV file.
    """
    rejects = _Rejects()
    # 1. which files, and are the manifest's rules well-formed
    sources = _source_list(pack, data_root, user_csv)
    _validate_sources(pack, sources)
    # a postcode listed twice in the postcode table: the first row wins
    postcodes = postcodes[~postcodes.index.duplicated(keep="first")]
    # 2. every row of every file -> records or rejects
    records: list[dict] = []
    read: list[dict] = []
    notes: list[str] = []
    for src, path, shown in sources:
        recs, n, src_notes = _read_source_shared(src, path, pack, postcodes, rejects, shown,
                                                 sheet=user_sheet if src["key"] == "user" else None)
        records.extend(recs)
        notes.extend(src_notes)
        read.append({"source_key": src["key"], "file": shown, "read": n})
    # 3. the user's replace/remove rows, the study area + buffer, duplicates
    remaining, removals = _apply_user_actions(records, rejects)
    kept = _nearby_unique(remaining, outline, buffer_m, pack, rejects)
    # 4. tables, accounting (used + rejected = read for every file), notes
    rej = rejects.frame()
    gdf = _register_frame(kept, crs)
    accounting = _accounting(read, kept, removals, rej)
    n_unloc = int((~gdf["located"]).sum())
    if n_unloc:
        notes.append(f"{n_unloc} service(s) have no location and are kept as unlocated: "
                     + "; ".join(gdf.loc[~gdf["located"], "name"].head(10)))
    return ServiceRegister(services=gdf, rejects=rej, accounting=accounting, notes=notes)


__all__ = ["build_register", "ServiceRegister", "normalise_postcode", "parse_number", "read_service_table",
           "USER_COLUMNS", "REGISTER_COLUMNS"]
