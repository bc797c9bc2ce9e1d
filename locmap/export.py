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
import os
import re
import tempfile
from pathlib import Path
from typing import Iterator

import pandas as pd
from pandas.api.types import is_object_dtype, is_string_dtype

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
_FORMULA_RE = re.compile(r"(?![+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$)[=+\-@\t\r]")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp",
                               dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.unlink()  # let writers create it (some refuse existing files, e.g. GPKG)
    try:
        yield tmp_path
        if tmp_path.exists():
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


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
    if not (is_object_dtype(values.dtype) or is_string_dtype(values.dtype)
            or isinstance(values.dtype, pd.CategoricalDtype)):
        return values
    s = pd.Series(values, copy=False).astype(object)
    hit = s.str.match(_FORMULA_RE).fillna(False).astype(bool)
    if not hit.any():
        return values
    out = s.mask(hit, FORMULA_GUARD + s.where(hit, ""))
    return pd.Index(out, name=values.name) if isinstance(values, pd.Index) else out


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
    """
    if "geometry" in df.columns:
        df = pd.DataFrame(df.drop(columns="geometry"))
    df = neutralise_formulas(df)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=index, lineterminator=_line_end(df))
    return Path(path)


def _line_end(df: pd.DataFrame) -> str:
    """``"\\n"``, or ``"\\r\\n"`` when a text cell holds a carriage return: Python's CSV writer
    quotes a field only for the characters of the line terminator, so a lone CR in a cell
    would otherwise be written bare and split the row for every reader."""
    for i in range(df.shape[1]):
        col = df.iloc[:, i]
        if (is_object_dtype(col.dtype) or is_string_dtype(col.dtype)) and col.str.contains("\r", regex=False).fillna(False).any():
            return "\r\n"
    return "\n"


def write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table as Parquet atomically (geometry dropped; use GeoPackage for that)."""
    if "geometry" in df.columns:
        df = pd.DataFrame(df.drop(columns="geometry"))
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(path)


def write_gpkg(layers: dict, path: str | os.PathLike) -> Path:
    """Write one or more GeoDataFrames as layers of one GeoPackage, atomically."""
    with atomic_path(path) as tmp:
        for name, gdf in layers.items():
            gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
    return Path(path)


def write_figure(fig, path: str | os.PathLike, **savefig_kwargs) -> Path:
    """Save a matplotlib figure atomically (format from the suffix)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", **savefig_kwargs)
    return path
