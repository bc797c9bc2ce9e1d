"""Validated readers for layers (GeoJSON/GPKG/Shapefile) and tables (CSV).

Every reader names the file in its errors, renames the manifest's columns to locmap's
canonical names, and returns data in the measuring CRS (EPSG:27700).  Geometry problems
are repaired with ``shapely.make_valid`` and reported, or rejected with the feature named.
"""
from __future__ import annotations

import csv
import datetime as dt
import io as _io
import itertools
import json
import warnings
from dataclasses import dataclass
from collections import OrderedDict
from pathlib import Path
from typing import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import python_calamine
import shapely
from pyproj import CRS

from locmap.data import memo
from locmap.errors import (CRSError, DataFileError, DuplicateIdError, EmptyLayerError,
                           GeometryError, InputFileError, MissingColumnError)
from locmap.pathcheck import (BINARY_SIGNATURES, LAYER_SUFFIXES, SHEET_SUFFIXES, UTF16_BOMS,  # noqa: F401 - this
                              check_input_file, ensure_text)  # module's names for them since its start

ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")

#: parsed CSVs of this process, keyed by file identity (path, size, mtime) and parse options: a
#: batch worker loading borough after borough parses each London-wide file once
_CSV_CACHE: OrderedDict = OrderedDict()
_CSV_CACHE_FILES = 16


def read_csv_any(path: str | Path, dtype=str, delimiter: str | None = None) -> tuple[pd.DataFrame, str]:
    """:func:`parse_csv_any`, reusing this process's parse of an unchanged file (a copy of it)."""
    path = Path(path)
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns, str(dtype), delimiter)
    except OSError:
        key = None  # the reader reports the missing/unreadable file with its own error
    if key is not None and key in _CSV_CACHE:
        _CSV_CACHE.move_to_end(key)
        df, enc = _CSV_CACHE[key]
        return df.copy(), enc
    df, enc = parse_csv_any(path, dtype=dtype, delimiter=delimiter)
    if key is not None:
        _CSV_CACHE[key] = (df.copy(), enc)
        while len(_CSV_CACHE) > _CSV_CACHE_FILES:
            _CSV_CACHE.popitem(last=False)
    return df, enc


def parse_csv_any(path: str | Path, dtype=str, delimiter: str | None = None) -> tuple[pd.DataFrame, str]:
    """Read a CSV trying UTF-8 (with or without BOM), then Windows-1252, then Latin-1
    (UTF-16 first when the file starts with a UTF-16 byte-order mark).

    Returns the frame (all columns as strings by default, blank cells as NaN) and the
    encoding used; ``frame.attrs`` holds ``encoding`` and ``delimiter``.  Raises
    :class:`DataFileError` naming the file when it cannot be parsed, and "not a text file"
    for binary files (:func:`ensure_text`).

    The delimiter is ``delimiter`` or, by default, sniffed (:func:`sniff_delimiter`): comma,
    semicolon, tab or ``|``, and Excel's ``sep=;`` first line is honoured.

    Hostile-input rules: the first column is never used as an index (Excel's trailing
    delimiter on every row does not shift the columns); extra fields beyond the header are
    dropped when blank and an error naming the row otherwise; column names are stripped
    (and a stray BOM removed) and names that become duplicates get ``.1``, ``.2`` suffixes.
    """
    path = Path(path)
    raw = read_input_bytes(path)
    encodings = ENCODINGS
    if raw.startswith(UTF16_BOMS):
        encodings = ("utf-16",) + ENCODINGS
    else:
        ensure_text(raw, path)
    last_exc: Exception | None = None
    for enc in encodings:
        data = raw
        if enc not in ("utf-8-sig", "utf-16") and raw.startswith(b"\xef\xbb\xbf"):
            data = raw[3:]  # UTF-8 BOM in front of a Windows-1252 / Latin-1 body
        try:
            text = data.decode(enc)
        except UnicodeDecodeError as exc:
            last_exc = exc
            continue
        text, sep = _delimiter_of(text, delimiter)
        df = _parse_csv_text(text, path, dtype, sep)
        df.attrs.update(encoding=enc, delimiter=sep)
        cols: list[str] = []
        for c in df.columns:
            base = str(c).strip().lstrip("\ufeff").strip()
            name, k = base, 1
            while name in cols:
                name, k = f"{base}.{k}", k + 1
            cols.append(name)
        df.columns = cols
        return df, enc
    raise DataFileError(path, f"cannot decode text: {last_exc}")


def read_input_bytes(path: str | Path) -> bytes:
    """The bytes of an input file, or :class:`InputFileError` naming it (see :func:`check_input_file`)."""
    path = check_input_file(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputFileError(path, f"cannot read the file: {exc.strerror or exc}", errno=exc.errno) from None


#: delimiters :func:`sniff_delimiter` chooses from (the first wins a tie)
DELIMITERS = (",", ";", "\t", "|")
_SNIFF_RECORDS = 50


def sniff_delimiter(text: str) -> str:
    """The delimiter of CSV ``text``: of :data:`DELIMITERS`, the one that splits the header
    into the most fields and the most of the next records into that many fields (a
    trailing delimiter allowed); comma when none splits the header."""
    best, best_key = ",", (0, 0, 0)
    for rank, d in enumerate(DELIMITERS):
        try:
            recs = list(itertools.islice(csv.reader(_io.StringIO(text.replace("\x00", "")), delimiter=d),
                                         _SNIFF_RECORDS + 1))
        except csv.Error:
            continue
        if not recs or len(recs[0]) < 2:
            continue
        n = len(recs[0])
        fits = sum(len(r) in (n, n + 1) for r in recs[1:] if r)
        key = (fits, n, -rank)
        if key > best_key:
            best, best_key = d, key
    return best


def _delimiter_of(text: str, delimiter: str | None) -> tuple[str, str]:
    """(text without an Excel ``sep=X`` line, delimiter): the given one, the ``sep=`` one, or sniffed."""
    first, _, rest = text.partition("\n")
    if first.rstrip("\r").lower().startswith("sep=") and len(first.rstrip("\r")) == 5:
        return rest, delimiter or first.rstrip("\r")[4]
    return text, delimiter or sniff_delimiter(text)


def _parse_csv_text(text: str, path: Path, dtype, sep: str = ",") -> pd.DataFrame:
    kwargs = dict(dtype=dtype, keep_default_na=False, na_values=[""], skip_blank_lines=False,
                  index_col=False, sep=sep)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            try:
                return pd.read_csv(_io.StringIO(text), **kwargs)
            except pd.errors.ParserWarning:
                # rows longer than the header: fine when the extra fields are blank
                row = _first_overlong_row(text, sep)
                if row is not None:
                    raise DataFileError(path, "more fields than the header row (values would be "
                                              "lost; add a column name or remove the extra values)",
                                        row=row or None) from None
                warnings.simplefilter("ignore", pd.errors.ParserWarning)
                return pd.read_csv(_io.StringIO(text), **kwargs)
    except pd.errors.EmptyDataError:
        raise EmptyLayerError(path, "file is empty (no header row)") from None
    except pd.errors.ParserError as exc:
        # pandas allows a trailing delimiter only when the first data row has one too
        row = _first_overlong_row(text, sep)
        if row:
            raise DataFileError(path, "more fields than the header row (values would be lost; add a "
                                      "column name or remove the extra values)", row=row) from None
        if row is None and dtype is str:
            return _parse_records(text, sep)
        raise DataFileError(path, f"cannot parse as CSV: {exc}") from exc
    except ValueError as exc:
        raise DataFileError(path, f"cannot parse as CSV: {exc}") from exc


def _parse_records(text: str, sep: str) -> pd.DataFrame:
    """Text cells of a CSV whose rows have blank fields beyond the header on some rows only
    (pandas refuses those): the extra blank fields dropped, short rows padded, blanks NaN."""
    reader = csv.reader(_io.StringIO(text), delimiter=sep)
    header = next(reader)
    width = len(header)
    rows = [[v if v != "" else np.nan for v in (rec + [""] * width)[:width]] for rec in reader]
    return pd.DataFrame(rows, columns=header, dtype=object)


def _first_overlong_row(text: str, sep: str = ",") -> int | None:
    """1-based data row of the first record with non-blank values beyond the header."""
    try:
        reader = csv.reader(_io.StringIO(text.replace("\x00", "")), delimiter=sep)
        header = next(reader, [])
        for i, rec in enumerate(reader, start=1):
            if len(rec) > len(header) and any(v.strip() for v in rec[len(header):]):
                return i
    except csv.Error:
        return 0  # cannot tell which row: report the file
    return None


def rename_columns(df: pd.DataFrame, columns: dict, path, required: Iterable[str] = ()) -> pd.DataFrame:
    """Rename source columns to canonical names per a manifest mapping {canonical: source}.

    A mapping value may be a list of source columns: the first non-blank value wins
    (coalesce).  Raises :class:`MissingColumnError` for a missing required column.
    """
    renamed = {}
    for canon, src in columns.items():
        srcs = src if isinstance(src, list) else [src]
        present = [s for s in srcs if s in df.columns]
        if not present:
            if canon in required:
                raise MissingColumnError(path, srcs[0] if len(srcs) == 1 else " or ".join(srcs),
                                         list(df.columns))
            continue
        col = df[present[0]]
        for s in present[1:]:
            col = col.where(col.notna(), df[s])
        renamed[canon] = col.array  # rows in df's order: the frame is made once, not a column at a time
    out = pd.DataFrame(renamed, index=df.index)
    for r in required:
        if r not in out.columns:
            raise MissingColumnError(path, r, list(df.columns))
    return out


def read_table(spec, data_root: Path, required: Iterable[str] = (), keep_other: bool = False,
               numeric: Iterable[str] = (), memoise: bool = True) -> pd.DataFrame:
    """Read a CSV table described by a manifest :class:`~locmap.data.manifest.LayerSpec`.

    Columns named in ``spec.columns`` are renamed to their canonical names; with
    ``keep_other`` the remaining source columns are kept too.  ``numeric`` columns are
    converted with a clear error naming the first bad row.  With ``memoise`` (default) the
    result is kept for this process while the file is unchanged (:mod:`locmap.data.memo`) and
    a copy returned; a caller that memoises what it derives from the table passes False.
    """
    path, required, numeric = spec.resolve(data_root), tuple(required), tuple(numeric)
    # a batch worker reads the same London-wide table for borough after borough: parsed, renamed and
    # converted once per process (docs/batch.md, "Data shared within a worker")
    key = memo.file_memo_key(path, "table", repr(spec.columns), required, keep_other, numeric) if memoise else None
    return memo.remember(key, lambda: _read_table(path, spec, required, keep_other, numeric), pd.DataFrame.copy)


def _read_table(path: Path, spec, required: tuple, keep_other: bool, numeric: tuple) -> pd.DataFrame:
    df, _ = parse_csv_any(path)  # the converted table is memoised, not (also) the text one
    if df.empty:
        raise EmptyLayerError(path)
    out = rename_columns(df, spec.columns, path, required)
    if keep_other:
        mapped = {s for v in spec.columns.values() for s in (v if isinstance(v, list) else [v])}
        other = [c for c in df.columns if c not in mapped and c not in out.columns]
        if other:  # one concatenation, not a column at a time (a census table has ~100 single-year columns)
            out = pd.concat([out, df[other]], axis=1)
    for c in numeric:
        if c in out.columns:
            out[c] = to_number(out[c], path, c)
    return out


def to_number(s: pd.Series, path, column: str) -> pd.Series:
    """Convert to float; blanks become NaN; anything else unparseable is an error naming the row."""
    cleaned = s.astype("string").str.replace(",", "", regex=False).str.strip()
    num = pd.to_numeric(cleaned, errors="coerce")
    bad = num.isna() & s.notna() & (cleaned != "")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataFileError(path, f"not a number: {s.iloc[i]!r}", row=i + 1, column=column)
    return num.astype(float)


def to_numbers(df: pd.DataFrame, columns: list[str], path) -> dict[str, pd.Series]:
    """:func:`to_number` of each of ``columns`` (column -> floats), in one conversion of all their cells:
    a population table's single-year columns are ~100 per borough, converted once each borough of a
    batch.  A bad cell raises the error :func:`to_number` raises for the first bad column."""
    if not len(columns):
        return {}
    stacked = pd.concat([df[c] for c in columns], ignore_index=True)
    try:
        num = to_number(stacked, path, columns[0]).to_numpy()
    except DataFileError:
        for c in columns:  # the same error, naming the column and its row, as one column at a time
            to_number(df[c], path, c)
        raise  # pragma: no cover - the loop above raised
    n = len(df)
    return {c: pd.Series(num[k * n:(k + 1) * n], index=df.index, name=c) for k, c in enumerate(columns)}


def _check_crs(gdf: gpd.GeoDataFrame, declared: str | None, path: Path) -> gpd.GeoDataFrame:
    file_crs = gdf.crs
    if file_crs is None and declared is None:
        raise CRSError(path, "layer has no CRS and the manifest declares none")
    if file_crs is None:
        gdf = gdf.set_crs(declared)
    elif declared is not None and not CRS.from_user_input(declared).equals(file_crs, ignore_axis_order=True):
        # GeoJSON is always lon/lat (CRS84 == EPSG:4326 for our purpose)
        if not (CRS.from_user_input(declared).is_geographic and file_crs.is_geographic):
            raise CRSError(path, f"file CRS {file_crs.to_string()} differs from manifest CRS {declared}")
    crs = CRS.from_user_input(gdf.crs)
    b = gdf.total_bounds
    if np.all(np.isfinite(b)):
        in_degrees = (b[0] >= -180) and (b[2] <= 180) and (b[1] >= -90) and (b[3] <= 90)
        if crs.is_geographic and not in_degrees:
            raise CRSError(path, f"CRS {crs.to_string()} is in degrees but coordinates reach {b.round(1).tolist()} "
                                 "(looks like metres: declare the projected CRS)")
        if crs.is_projected and in_degrees and (b[2] - b[0]) < 10 and (b[3] - b[1]) < 10:
            raise CRSError(path, f"CRS {crs.to_string()} is in metres but all coordinates fit in "
                                 f"{b.round(4).tolist()} (looks like degrees: declare EPSG:4326)")
    return gdf


def repair_geometries(gdf: gpd.GeoDataFrame, path: Path, id_col: str | None = None,
                      polygonal: bool = True) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Repair invalid geometries with ``make_valid``; reject empty ones.

    Returns the repaired frame and a list of human-readable notes (one per repaired feature).
    Raises :class:`GeometryError` naming the feature when a geometry is missing/empty or
    cannot be repaired into the expected type.
    """
    notes: list[str] = []
    geoms = gdf.geometry.values
    label = (lambda i: f"feature {i + 1}" + (f" ({id_col}={gdf[id_col].iloc[i]})" if id_col else ""))
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise GeometryError(path, f"{label(i)} has an empty or missing geometry "
                                  f"({int(missing.sum())} such features)", row=i + 1)
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        fixed = shapely.make_valid(geoms[invalid])
        if polygonal:
            # keep only the polygonal parts of GeometryCollections
            parts = []
            for g in fixed:
                if g.geom_type in ("Polygon", "MultiPolygon"):
                    parts.append(g)
                else:
                    polys = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
                    parts.append(shapely.union_all(polys) if polys else shapely.Polygon())
            fixed = np.array(parts, dtype=object)
        idx = np.flatnonzero(invalid)
        for j, i in enumerate(idx):
            if fixed[j] is None or fixed[j].is_empty:
                raise GeometryError(path, f"{label(i)} is invalid ({shapely.is_valid_reason(geoms[i])}) "
                                          "and could not be repaired", row=int(i) + 1)
            notes.append(f"{path.name}: repaired {label(i)}: {shapely.is_valid_reason(geoms[i])}")
        new = geoms.copy()
        new[invalid] = fixed
        gdf = gdf.set_geometry(gpd.GeoSeries(new, index=gdf.index, crs=gdf.crs))
    return gdf, notes


def read_layer(spec, data_root: Path, target_crs: str = "EPSG:27700", required: Iterable[str] = (),
               id_col: str | None = None, polygonal: bool = True,
               keep_other: bool = False) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Read, validate and reproject a vector layer.

    Parameters
    ----------
    spec : LayerSpec
        Path (relative to ``data_root``), declared CRS and column mapping.
    target_crs : str
        CRS of the returned frame (metres).
    required : iterable of str
        Canonical columns that must exist.
    id_col : str, optional
        Canonical id column that must be unique and non-blank.

    Returns
    -------
    (GeoDataFrame, list of str)
        The layer (canonical columns + geometry, in ``target_crs``) and repair notes.  Kept for this
        process while the file is unchanged (:mod:`locmap.data.memo`: a batch worker's boroughs read
        the same London-wide layers); each call gets a copy.
    """
    path = check_input_file(spec.resolve(data_root))
    required = tuple(required)
    key = memo.file_memo_key(
        path, "layer", repr(spec.columns), repr(spec.crs), repr(sorted(spec.options.items())), str(target_crs),
        required, id_col, polygonal, keep_other)
    return memo.remember(key, lambda: _read_layer(path, spec, target_crs, required, id_col, polygonal, keep_other),
                         lambda v: (v[0].copy(), list(v[1])))


def _read_layer(path: Path, spec, target_crs: str, required: tuple, id_col: str | None, polygonal: bool,
                keep_other: bool) -> tuple[gpd.GeoDataFrame, list[str]]:
    try:
        gdf = gpd.read_file(path, engine="pyogrio", layer=spec.options.get("layer"))
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as exc:
        raise DataFileError(path, f"cannot read as a vector layer: {exc}") from exc
    if len(gdf) == 0:
        raise EmptyLayerError(path)
    attrs = rename_columns(pd.DataFrame(gdf.drop(columns=gdf.geometry.name)), spec.columns, path, required)
    if keep_other:
        for c in gdf.columns:
            if c != gdf.geometry.name and c not in attrs.columns:
                attrs[c] = gdf[c]
    out = gpd.GeoDataFrame(attrs, geometry=gdf.geometry.values, crs=gdf.crs)
    out = _check_crs(out, spec.crs, path)
    if id_col is not None:
        ids = out[id_col]
        if ids.isna().any():
            i = int(np.flatnonzero(ids.isna().to_numpy())[0])
            raise DataFileError(path, f"blank id in '{id_col}'", row=i + 1, column=id_col)
        dup = ids[ids.duplicated(keep=False)]
        if len(dup):
            rows = (np.flatnonzero(ids.duplicated(keep=False).to_numpy()) + 1).tolist()[:10]
            raise DuplicateIdError(path, f"duplicate ids in '{id_col}': {sorted(set(dup))[:10]} (rows {rows})")
    out, notes = repair_geometries(out, path, id_col, polygonal=polygonal)
    out = out.to_crs(target_crs)
    return out, notes


# ------------------------------------------------------------------ other table formats
#: rows searched for the header row of a spreadsheet (title rows above it are skipped)
HEADER_SEARCH_ROWS = 10


@dataclass(frozen=True)
class TableRead:
    """A table read from a file: text cells (blank = NaN) plus what the reader decided.

    ``frame`` has one row per data row (row 1 = the first row under the header) and all
    cells as text; ``notes`` say which sheet/layer/delimiter was used and anything skipped.
    """

    frame: pd.DataFrame
    notes: tuple[str, ...] = ()


def _cell_text(v) -> str | float:
    """One spreadsheet/attribute value as text: integral floats without '.0', dates ISO, blank -> NaN."""
    if v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and np.isnan(v)):
        return np.nan
    if isinstance(v, bool | np.bool_):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float | np.floating) and float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    if isinstance(v, dt.datetime | dt.date | dt.time | pd.Timestamp):
        return v.isoformat()
    return str(v)


def _choose(names: list[str], choice: str | int | None, path: Path, what: str) -> tuple[str, str | None]:
    """The sheet/layer named ``choice`` (exact name, else a 1-based position); the first when None.

    Returns (name, note).  A choice that matches nothing is an error listing the names.
    """
    if not names:
        raise EmptyLayerError(path, f"the file has no {what}s")
    listed = ", ".join(repr(n) for n in names)
    if choice is None:
        note = (f"{path.name}: read the first {what} {names[0]!r} of {len(names)} ({listed}); "
                f"choose another with the {what} option" if len(names) > 1 else None)
        return names[0], note
    if str(choice) in names:
        return str(choice), None
    if str(choice).strip().isdigit() and 1 <= int(str(choice)) <= len(names):
        return names[int(str(choice)) - 1], None
    raise DataFileError(path, f"no {what} {choice!r} (the file has {listed})",
                        remedy=f"give one of those {what} names, or its position (1 = first).")


def _header_row(rows: list[list], header_hint: Iterable[str]) -> int:
    """Index of the header row: the first of the top rows holding one of ``header_hint``
    (case and spaces ignored), else the first non-empty row."""
    hints = {str(h).strip().lower() for h in header_hint}
    for i, r in enumerate(rows[:HEADER_SEARCH_ROWS]):
        if hints & {str(c).strip().lower() for c in r if isinstance(c, str)}:
            return i
    return next((i for i, r in enumerate(rows) if any(not _is_blank_cell(c) for c in r)), 0)


def _is_blank_cell(c) -> bool:
    return c is None or (isinstance(c, str) and not c.strip()) or (isinstance(c, float) and np.isnan(c))


def _unique_names(names: list) -> list[str]:
    cols: list[str] = []
    for i, c in enumerate(names):
        base = str(c).strip().lstrip("\ufeff").strip() if not _is_blank_cell(c) else f"column{i + 1}"
        name, k = base, 1
        while name in cols:
            name, k = f"{base}.{k}", k + 1
        cols.append(name)
    return cols


def read_sheet(path: str | Path, sheet: str | int | None = None,
               header_hint: Iterable[str] = ("name",)) -> TableRead:
    """Read one sheet of a workbook (.xlsx/.xlsm/.xls/.ods) as text cells.

    Uses python-calamine (a Rust reader: no macros run, formulas are not evaluated; a formula
    cell gives the value Excel last saved for it, blank if none was saved).  ``sheet`` is a
    sheet name or a 1-based position; default the first sheet (a note lists the others).
    The header is the first of the top :data:`HEADER_SEARCH_ROWS` rows holding one of
    ``header_hint`` (title rows above it are skipped, with a note), else the first non-empty
    row.  Empty rows after the last data row are not rows of the table.
    """
    path = check_input_file(path)
    try:
        wb = python_calamine.CalamineWorkbook.from_path(str(path))
        name, note = _choose(list(wb.sheet_names), sheet, path, "sheet")
        rows = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except python_calamine.CalamineError as exc:
        raise DataFileError(path, f"cannot read as a workbook: {exc}",
                            remedy="open it in Excel or LibreOffice and save it again as .xlsx, "
                                   "or save the sheet as CSV.") from exc
    notes = [n for n in (note,) if n]
    if not any(any(not _is_blank_cell(c) for c in r) for r in rows):
        raise EmptyLayerError(path, f"sheet {name!r} is empty")
    h = _header_row(rows, header_hint)
    if h:
        notes.append(f"{path.name}: sheet {name!r}: {h} row(s) above the header row skipped (titles)")
    body = rows[h + 1:]
    while body and all(_is_blank_cell(c) for c in body[-1]):
        body.pop()
    header = _unique_names(rows[h])
    width = len(header)
    for i, r in enumerate(body, start=1):
        if len(r) > width and any(not _is_blank_cell(c) for c in r[width:]):
            raise DataFileError(path, "values to the right of the last named column (add a column name "
                                      "or remove the values)", row=i)
    data = [[_cell_text(c) for c in (list(r) + [None] * width)[:width]] for r in body]
    frame = pd.DataFrame(data, columns=header, dtype=object)
    return TableRead(frame, tuple(notes))


#: columns the layer reader adds: easting/northing (EPSG:27700) of each feature's geometry and
#: the reason a geometry could not be used (blank when fine)
GEOMETRY_COLUMNS = ("_geometry_easting", "_geometry_northing", "_geometry_problem")
#: column the layer reader adds: {column: what it holds} for each property of a feature that is a
#: list or an object (GeoJSON ``"service_type": ["library"]``) rather than one value; the cell is blank
VALUE_PROBLEM_COLUMN = "_value_problems"
_GEOJSON_SUFFIXES = (".geojson", ".json")


def read_point_layer(path: str | Path, layer: str | int | None = None,
                     target_crs: str = "EPSG:27700") -> TableRead:
    """Read a vector layer (GeoJSON, GeoPackage, FlatGeobuf, Shapefile) as a table of text cells
    plus the :data:`GEOMETRY_COLUMNS` of each feature in ``target_crs`` (metres).

    Any CRS declared in the file is reprojected; GeoJSON without one is WGS84 (RFC 7946).
    Points are used as they are; polygons by a point inside them (``point_on_surface``); a
    multipoint of one point as that point.  Other geometries (lines, several points) and
    features without a geometry get a reason in ``_geometry_problem`` (the caller decides:
    a services row then falls back to its postcode).  Raises :class:`CRSError` for a layer
    without a CRS or with coordinates that do not fit it.
    """
    path = check_input_file(path)
    try:
        names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
        name, note = _choose(names, layer, path, "layer")
        # arrays as JSON text: else GDAL turns a column with one list into lists for every feature
        opts = {"ARRAY_AS_STRING": "YES"} if path.suffix.lower() in _GEOJSON_SUFFIXES else {}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Could not parse column", UserWarning)
            gdf = gpd.read_file(path, engine="pyogrio", layer=name, **opts)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise DataFileError(path, f"cannot read as a vector layer: {exc}") from exc
    if len(gdf) == 0:
        raise EmptyLayerError(path, f"layer {name!r} has no features")
    if gdf.crs is None:
        raise CRSError(path, f"layer {name!r} has no coordinate reference system")
    gdf = _check_crs(gdf, None, path).to_crs(target_crs)
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    problems = [{c: d for c in columns if (d := _structured(gdf[c].iat[i])) is not None} for i in range(len(gdf))]
    frame = pd.DataFrame({c: [np.nan if c in problems[i] else _cell_text(v) for i, v in enumerate(gdf[c])]
                          for c in columns}, index=range(len(gdf)), dtype=object)
    frame[VALUE_PROBLEM_COLUMN] = problems
    x, y, problem = _points_of(gdf.geometry.values)
    frame[GEOMETRY_COLUMNS[0]], frame[GEOMETRY_COLUMNS[1]], frame[GEOMETRY_COLUMNS[2]] = x, y, problem
    return TableRead(frame, tuple(n for n in (note,) if n))


def _structured(v) -> str | None:
    """What a property holds when it is a list or an object rather than one value, else None
    (JSON text of an array or object counts: GDAL reads GeoJSON arrays and objects as such)."""
    if isinstance(v, str):
        text = v.strip()
        if (text[:1], text[-1:]) not in (("[", "]"), ("{", "}")):
            return None
        try:
            v = json.loads(text)
        except ValueError:
            return None
    if isinstance(v, (list, tuple, np.ndarray)):
        return f"a list {json.dumps(_plain(v), ensure_ascii=False)[:80]}"
    if isinstance(v, dict):
        return f"an object {json.dumps(_plain(v), ensure_ascii=False)[:80]}"
    return None


def _plain(v):
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return v if isinstance(v, (str, int, float, bool)) or v is None else str(v)


def _points_of(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, problem) per geometry: a usable point, or NaN and the reason."""
    geoms = np.asarray(geoms, dtype=object)
    kind = np.array(["" if g is None else g.geom_type for g in geoms], dtype=object)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    single_multi = (kind == "MultiPoint") & (shapely.get_num_geometries(geoms) == 1)
    polygonal = np.isin(kind, ["Polygon", "MultiPolygon"])
    usable = ~missing & ((kind == "Point") | single_multi | polygonal)
    pts = np.full(len(geoms), None, dtype=object)
    pts[usable & (kind == "Point")] = geoms[usable & (kind == "Point")]
    pts[usable & single_multi] = shapely.get_geometry(geoms[usable & single_multi], 0)
    pts[usable & polygonal] = shapely.point_on_surface(geoms[usable & polygonal])
    x = np.where(usable, shapely.get_x(pts), np.nan)
    y = np.where(usable, shapely.get_y(pts), np.nan)
    several = (kind == "MultiPoint") & ~single_multi
    kind = np.where(several, "MultiPoint of several points", kind)
    problem = np.where(missing | usable, "", "geometry is a " + kind + " (expected a point or polygon)")
    return x, y, problem
