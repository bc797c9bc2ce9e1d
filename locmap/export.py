"""Atomic writers for every file locmap produces.

Each writer writes to a temporary file in the destination folder, flushes and
fsyncs it, then ``os.replace``-s it over the target, so an interrupted run
leaves either the old file or the new one, never a half-written file.
Tables are written deterministically (stable row order, fixed float format)
so the same inputs give byte-identical outputs.

CSV is what people open in a spreadsheet, so :func:`write_csv` makes text cells inert for
spreadsheet formulas (OWASP "CSV injection" rule, see :func:`neutralise_formulas`); Parquet
and GeoPackage keep the raw text.
"""
from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyogrio
from pandas.api.types import infer_dtype, is_object_dtype, is_string_dtype

from locmap.errors import LocmapError, OutputError
from locmap.pathcheck import REMEDY_PERMISSION, check_output_file
from locmap.pathcheck import check_output_path  # noqa: F401 - this module's name for it since its start

#: Attribution carried into every map and export (from ../shared/data/*/SOURCES.md).
ATTRIBUTION_OGL = (
    "Contains National Statistics data © Crown copyright and database right 2025; "
    "contains OS data © Crown copyright and database right 2025; contains Royal Mail data "
    "© Royal Mail copyright and database right 2025; NHS England, DfE, MHCLG, DWP, GLA data. "
    "Open Government Licence v3.0."
)
ATTRIBUTION_OSM = "© OpenStreetMap contributors (ODbL)"
ATTRIBUTION = f"{ATTRIBUTION_OGL} {ATTRIBUTION_OSM}"

#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
#: Prefix that makes such a cell text (Excel, LibreOffice and Google Sheets show it literally).
FORMULA_GUARD = "'"
# a text cell that is only a number ("-5", "+44", "-1.5e3") cannot hold a formula: left as is
#: below this many free bytes a failed GDAL write is reported as "disk full"
_DISK_NEARLY_FULL_B = 1 << 20
_FORMULA_RE = re.compile(r"(?![+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$)[=+\-@\t\r]")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``.

    Missing parent folders are created.  On any exception the temporary file is removed,
    ``path`` is untouched and the folders this call created are removed again if empty.  A
    system error (read-only folder, disk full, a file where a folder is needed, a folder at
    ``path``) is raised as :class:`~locmap.errors.OutputError` naming ``path`` and what to do.
    """
    path = Path(path)
    check_output_file(path)
    created = _missing_folders(path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp",
                                   dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        tmp_path.unlink()  # let writers create it (some refuse existing files, e.g. GPKG)
    except OSError as exc:
        _remove_empty(created)
        raise _output_error(exc, path) from exc
    try:
        yield tmp_path
        if tmp_path.exists():
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        _remove_empty(created)
        if isinstance(exc, OSError) and not isinstance(exc, LocmapError):
            raise _output_error(exc, path) from exc
        raise


def _missing_folders(folder: Path) -> list[Path]:
    """Folders from ``folder`` upwards that do not exist yet (deepest first)."""
    missing = []
    for d in (folder, *folder.parents):
        if d.exists():
            break
        missing.append(d)
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for d in folders:  # deepest first; stop at the first that is not empty
        try:
            d.rmdir()
        except OSError:
            return


def _output_error(exc: OSError, path: Path) -> OutputError:
    """The :class:`OutputError` for a system error raised while writing ``path``."""
    folder = path.parent
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        reason = (f"disk full: no space left on the device holding {folder} (nothing was written; "
                  "a previous file of that name is unchanged)")
        remedy = "free some space or choose an output folder on another disk, then run again."
    elif exc.errno in (errno.EACCES, errno.EPERM):
        reason = f"permission denied: you cannot write in the folder {_first_existing(folder)}"
        remedy = REMEDY_PERMISSION
    elif exc.errno == errno.EROFS:
        reason = f"the folder {_first_existing(folder)} is on a read-only file system"
        remedy = "choose an output folder on a writable disk."
    elif exc.errno in (errno.EISDIR, errno.ENOTEMPTY) or path.is_dir():
        reason = "is a folder; a file name is expected here"
        remedy = "give a file name inside it, or rename the folder."
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST):
        reason = f"cannot create the folder {folder}: part of that path is a file"
        remedy = "choose another output folder, or move the file that is in the way."
    else:
        reason = f"cannot write: {exc.strerror or exc}"
        remedy = OutputError.remedy
    return OutputError(path, reason, remedy=remedy, errno=exc.errno)


def _first_existing(folder: Path) -> Path:
    for d in (folder, *folder.parents):
        if d.exists():
            return d
    return folder


#: GeoPackages record a "last change" time per table; GDAL takes it from OGR_CURRENT_DATE when set,
#: so the same tables write the same bytes (reproducible exports; a user's own setting is kept).
GPKG_DATE = "2000-01-01T00:00:00.000Z"
if pyogrio.get_gdal_config_option("OGR_CURRENT_DATE") is None:
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": GPKG_DATE})


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def neutralise_text(values: pd.Series | pd.Index) -> pd.Series | pd.Index:
    """Prefix ``'`` to every text value that a spreadsheet would run as a formula.

    A text value is neutralised when it starts with ``=``, ``+``, ``-``, ``@``, tab or
    carriage return (:data:`FORMULA_TRIGGERS`, the OWASP rule) unless the whole value is a
    plain number such as ``-5`` or ``+44`` (a number cannot be a formula; it stays as it
    is).  So ``=HYPERLINK("http://x","y")`` becomes ``'=HYPERLINK("http://x","y")`` and
    ``-5 Broadway`` becomes ``'-5 Broadway``.  Non-text values (numbers, dates, missing)
    are returned unchanged, so numeric columns stay numeric.
    """
    return _neutralised(values)[0]


def _neutralised(values: pd.Series | pd.Index) -> tuple[pd.Series | pd.Index, bool]:
    """:func:`neutralise_text` and whether a text value holds a carriage return, from one pass
    over the distinct values (text columns repeat: types, labels, methods, codes)."""
    if not (is_object_dtype(values.dtype) or is_string_dtype(values.dtype)
            or isinstance(values.dtype, pd.CategoricalDtype)):
        return values, False
    s = pd.Series(values, copy=False)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    u = np.asarray(uniques, dtype=object)
    is_text = np.fromiter((isinstance(v, str) for v in u), bool, len(u))  # an object column may hold only bools
    hit_u = np.zeros(len(u), bool)
    if is_text.any():
        hit_u[is_text] = pd.Series(u[is_text], dtype=object).str.match(_FORMULA_RE).to_numpy(bool)
    has_cr = any("\r" in v for v in u[is_text])
    hit = pd.Series(np.append(hit_u, False)[codes], index=s.index)  # code -1 (missing) -> False
    if not hit.any():
        return values, has_cr
    s = s.astype(object)
    out = s.mask(hit, FORMULA_GUARD + s.where(hit, ""))
    return (pd.Index(out, name=values.name) if isinstance(values, pd.Index) else out), has_cr


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells, column names and index values cannot run as
    spreadsheet formulas (:func:`neutralise_text`); numeric columns are untouched."""
    out = df.copy()
    for i in range(out.shape[1]):
        out.isetitem(i, neutralise_text(out.iloc[:, i]))
    out.columns = _neutralise_labels(out.columns)
    out.index = _neutralise_labels(out.index)
    return out


def _neutralise_labels(labels: pd.Index) -> pd.Index:
    if isinstance(labels, pd.MultiIndex):
        return labels.set_levels([neutralise_text(level) for level in labels.levels])
    return neutralise_text(labels)


def write_csv(df: pd.DataFrame, path: str | os.PathLike, index: bool = False) -> Path:
    """Write a table as CSV atomically, deterministically and formula-safe.

    Rows are written in the given order and floats keep full precision (pandas' default
    repr), so the same inputs give byte-identical files.  Text cells (and column names)
    that a spreadsheet would run as formulas get a leading ``'`` (:func:`neutralise_formulas`);
    numbers are written as numbers.  The geometry column is dropped (use :func:`write_gpkg`).
    The bytes are pandas' ``to_csv``'s; a table of plain columns (text, numbers, booleans) is
    formatted column by column with Arrow (:func:`csv_bytes`), anything else by pandas.
    """
    if "geometry" in df.columns:
        df = pd.DataFrame(df.drop(columns="geometry"))
    blocks = None if index else csv_bytes(df)
    if blocks is not None:
        with atomic_path(path) as tmp:
            _write_blocks(tmp, blocks)
        return Path(path)
    df, line_end = _csv_ready(df)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=index, lineterminator=line_end)
    return Path(path)


def _write_blocks(path: Path, blocks: list[bytes | memoryview]) -> None:
    with open(path, "wb") as fh:
        for block in blocks:
            fh.write(block)


#: rows joined into one block of text by :func:`csv_bytes` (far below Arrow's 2 GB per text array)
_CSV_BLOCK_ROWS = 100_000
#: text starting with a formula trigger: the candidates :data:`_FORMULA_RE` then decides on
_TRIGGER_START = "^[=+\\-@\t\r]"


def csv_bytes(df: pd.DataFrame) -> list[bytes | memoryview] | None:
    """The bytes :func:`write_csv` writes for ``df`` without its index, in blocks, formatted once
    per column with Arrow instead of row by row by Python's ``csv`` module (30 MB of the access
    step's CSVs took 1.5 s that way); None for a table this does not format (a column that is not
    text, integer, float or boolean; one column or none; no rows; names that are not text).

    Each cell is what pandas' ``to_csv`` writes: floats as NumPy's ``astype(str)``, integers and
    booleans as ``str``, missing values empty, text guarded (:func:`neutralise_text`) and quoted
    as the ``csv`` module quotes it (a delimiter, a quote or a line terminator's character).
    """
    if df.shape[1] < 2 or len(df) == 0 or not all(isinstance(c, str) for c in df.columns):
        return None
    cells = [_csv_cells(df.iloc[:, i]) for i in range(df.shape[1])]
    if any(c is None for c in cells):
        return None
    # text columns repeat (types, codes, labels): guarded, checked and quoted once per distinct value
    encoded = [pc.dictionary_encode(arr) if is_text else None for arr, is_text in cells]
    distinct = [_guarded(e.dictionary) if e is not None else None for e in encoded]
    crlf = any(d is not None and pc.any(pc.match_substring(d, "\r")).as_py() for d in distinct)
    line_end = "\r\n" if crlf else "\n"
    columns = [_quoted(d, line_end).take(e.indices) if e is not None else arr
               for (arr, _), e, d in zip(cells, encoded, distinct)]
    columns[-1] = pc.binary_join_element_wise(columns[-1], "", line_end)
    header = io.StringIO()
    csv.writer(header, lineterminator=line_end).writerow(list(neutralise_text(df.columns)))
    blocks: list[bytes | memoryview] = [header.getvalue().encode("utf-8")]
    for start in range(0, len(df), _CSV_BLOCK_ROWS):
        part = [c.slice(start, _CSV_BLOCK_ROWS) for c in columns]
        blocks.append(_text_buffer(pc.binary_join_element_wise(*part, ",")))
    return blocks


def _csv_cells(col: pd.Series) -> tuple[pa.Array, bool] | None:
    """``(cells as Arrow text without missing values, whether the column is text)``, text not
    yet guarded nor quoted; None for a column :func:`csv_bytes` leaves to pandas."""
    dtype, values = col.dtype, col.array
    if isinstance(dtype, pd.StringDtype):
        text = pa.array(values)  # Arrow's own array (pyarrow storage) or made from the values
        text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
        return text.cast(pa.string()).fill_null(""), True
    if is_object_dtype(dtype) and infer_dtype(col, skipna=True) in ("string", "empty"):
        text = pa.array(col.to_numpy(), type=pa.string(), mask=np.asarray(pd.isna(values), bool))
        return text.fill_null(""), True
    if isinstance(values, (pd.arrays.IntegerArray, pd.arrays.BooleanArray)):
        arr = pa.array(values)  # missing values: nulls, written empty
    elif isinstance(dtype, np.dtype) and dtype.kind in "iub":
        arr = pa.array(col.to_numpy())
    elif isinstance(dtype, np.dtype) and dtype.kind == "f":
        return _float_cells(col.to_numpy()), False
    else:
        return None
    if pa.types.is_boolean(arr.type):
        return pc.if_else(arr, "True", "False").fill_null(""), False
    return arr.cast(pa.string()).fill_null(""), False


def _float_cells(a: np.ndarray) -> pa.Array:
    """Floats as pandas writes them (NumPy's ``astype(str)``; missing values empty), each
    distinct value formatted once: distinct by bit pattern, so -0.0 stays apart from 0.0
    (formatting is most of the CSV's cost, and thresholds, rounded minutes and shares repeat)."""
    a = np.ascontiguousarray(a)
    codes, bits = pd.factorize(a.view(np.dtype(f"i{a.dtype.itemsize}")))
    values = np.asarray(bits).view(a.dtype)
    text = values.astype(str)
    text[np.isnan(values)] = ""
    return pa.array(text, type=pa.string()).take(pa.array(codes))


def _guarded(text: pa.Array) -> pa.Array:
    """``text`` with :func:`neutralise_text`'s guard: the regular expression runs on the values
    starting with a trigger only."""
    start = pc.match_substring_regex(text, _TRIGGER_START)
    if not pc.any(start).as_py():
        return text
    where = np.flatnonzero(start.to_numpy(zero_copy_only=False))
    values = text.take(pa.array(where)).to_pylist()
    hit = np.fromiter((_FORMULA_RE.match(v) is not None for v in values), bool, len(values))
    if not hit.any():
        return text
    mask = np.zeros(len(text), bool)
    mask[where[hit]] = True
    return pc.replace_with_mask(text, pa.array(mask),
                                pa.array([FORMULA_GUARD + v for v, h in zip(values, hit) if h], pa.string()))


def _quoted(text: pa.Array, line_end: str) -> pa.Array:
    """Text cells quoted as the ``csv`` module quotes them (QUOTE_MINIMAL: a cell holding the
    delimiter, the quote or a character of the line terminator; quotes doubled)."""
    special = "[,\"\r\n]" if line_end == "\r\n" else "[,\"\n]"
    need = pc.match_substring_regex(text, special)
    if not pc.any(need).as_py():
        return text
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
    return pc.if_else(need, quoted, text)


def _text_buffer(lines: pa.Array) -> memoryview:
    """The UTF-8 bytes of an Arrow text array's values, end to end (no copy)."""
    offsets = np.frombuffer(lines.buffers()[1], np.int32)[lines.offset:lines.offset + len(lines) + 1]
    return memoryview(lines.buffers()[2])[int(offsets[0]):int(offsets[-1])]


def _csv_ready(df: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """``(neutralise_formulas(df), line terminator)`` from one pass over each column's distinct
    values (the CSV write of the access step spent a third of its time on two passes)."""
    out = df.copy()
    cr = False
    for i in range(out.shape[1]):
        col, has_cr = _neutralised(out.iloc[:, i])
        out.isetitem(i, col)
        # CRLF when a text cell holds a CR (Python's csv writer quotes a field only for the
        # terminator's characters, so a lone CR would split the row); a categorical is not checked
        cr = cr or (has_cr and (is_object_dtype(col.dtype) or is_string_dtype(col.dtype)))
    out.columns = _neutralise_labels(out.columns)
    out.index = _neutralise_labels(out.index)
    return out, "\r\n" if cr else "\n"


def write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table as Parquet atomically (geometry dropped; use GeoPackage for that)."""
    if "geometry" in df.columns:
        df = pd.DataFrame(df.drop(columns="geometry"))
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(path)


def write_gpkg(layers: dict, path: str | os.PathLike, version: str | None = "1.2",
               finish: Callable[[Path], None] | None = None) -> Path:
    """Write one or more GeoDataFrames as layers of one GeoPackage, atomically.

    ``version`` is the GeoPackage version (GDAL's ``VERSION``; default 1.2, which GDAL 3.6 reads
    without a warning; None = GDAL's default); ``finish(tmp_path)`` runs on the written file
    before it replaces ``path`` (e.g. :func:`locmap.geopackage.add_layer_styles`).
    """
    options = {"VERSION": version} if version else {}
    with atomic_path(path) as tmp:
        try:
            for name, gdf in layers.items():
                # dates fixed: see GPKG_DATE
                gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio", dataset_options=options)
            if finish is not None:
                finish(tmp)
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
            # GDAL reports a full disk as a failed SQL statement, not as an OSError
            raise _gdal_write_error(exc, Path(path), tmp.parent) from exc
    return Path(path)


def _gdal_write_error(exc: Exception, path: Path, folder: Path) -> OutputError:
    free_b = shutil.disk_usage(folder).free
    if free_b < _DISK_NEARLY_FULL_B or "disk is full" in str(exc):
        return _output_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), path)
    return OutputError(path, f"the GeoPackage writer (GDAL) failed: {exc}",
                       remedy="check the folder is writable and the disk has space; if it is, "
                              "report this with the command you ran.")


def write_figure(fig, path: str | os.PathLike, **savefig_kwargs) -> Path:
    """Save a matplotlib figure atomically (format from the suffix)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", **savefig_kwargs)
    return path
