"""Tables people can read: CSV presentation and ``README.txt`` data dictionaries.

CSV is what planners open in a spreadsheet, so a CSV copy of a table is rounded to what the
figures can bear (:func:`round_for_csv`), names sit beside ids (:func:`add_names`), a
column named after its storage (``band``) is renamed after what it holds (``age_band``,
:data:`RENAMES`), and every output folder gets a ``README.txt`` describing every column
(:func:`data_dictionary`, :func:`write_readme`).  Parquet copies keep full precision and
the original names, and totals are always computed before rounding (this module only
formats finished tables).

Rounding follows the column's unit (from the caller's descriptions) or, failing that, its
name:

=====================================  ==================  ===========================
unit (description)                     name pattern        CSV
=====================================  ==================  ===========================
people, children                       ``pop_*``,          whole numbers (``people_decimals``)
                                       ``*_children``
percent, percentage points             ``pct_*``, ``*_pct``  1 decimal
metres                                 ``*_m``             whole metres
minutes                                ``minutes``,        1 decimal
                                       ``*_min``, ``*_minutes``
share/score/probability 0-1, index     ``share*``,         3 decimals
                                       ``*_share``, ``p_*``
per 1,000 children                     ``*_per_1000``      3 decimals
rank, decile, km/h, IMD score          ``rank_*``          1 decimal
=====================================  ==================  ===========================

Text, ids, integers and booleans are never changed.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from locmap.export import write_csv, write_parquet, write_text

#: A column describer: name (and file stem) -> (unit, description); raises KeyError if unknown.
Describer = Callable[[str, str], tuple[str, str]]

#: Column renames applied to CSV copies (old -> new): a name says what the column holds.
RENAMES: dict[str, str] = {"band": "age_band"}

#: decimals for a unit (lower-case prefix match on the unit text); None = leave as is.
UNIT_DECIMALS: tuple[tuple[str, int | None], ...] = (
    ("people", 0), ("children", 0), ("homes", 0),
    ("percent", 1), ("percentage points", 1),
    ("metres", 0), ("minutes", 1),
    ("share", 3), ("score", 3), ("probability", 3), ("index", 3), ("bits", 3),
    ("per 1,000", 3),
    ("rank", 1), ("national rank", 0), ("decile", 1), ("km/h", 1), ("imd score", 1),
    ("model units", 1),
)

#: (regex on the column name, decimals) used when a column has no described unit.
NAME_DECIMALS: tuple[tuple[re.Pattern, int], ...] = (
    (re.compile(r"^(pct_|pct$)|_pct$|_pct_"), 1),
    (re.compile(r"(^|_)m$|_m_"), 0),
    (re.compile(r"^minutes$|_min$|_minutes$|^minutes_"), 1),
    (re.compile(r"^pop_|^people|_children$|^children_"), 0),
    (re.compile(r"_per_1000$"), 3),
    (re.compile(r"share|^p_|^score|^crit_|^purity|^ari$|^nmi$"), 3),
    (re.compile(r"^rank_"), 1),
)


def _unit_decimals(unit: str, people_decimals: int) -> int | None:
    u = unit.strip().lower()
    if u.startswith("national rank"):
        return 0
    for prefix, dec in UNIT_DECIMALS:
        if u.startswith(prefix):
            return people_decimals if dec == 0 and prefix in ("people", "children") else dec
    return None


def column_decimals(name: str, unit: str | None = None, people_decimals: int = 0) -> int | None:
    """Decimals of a column in CSV: from its unit when known, else from its name; None = as is."""
    if unit:
        dec = _unit_decimals(unit, people_decimals)
        if dec is not None or unit.strip().lower() not in ("", "-"):
            return dec
    for pattern, dec in NAME_DECIMALS:
        if pattern.search(name):
            return people_decimals if pattern.pattern.startswith("^pop_") else dec
    return None


def _round(col: pd.Series, decimals: int) -> pd.Series:
    """Rounded; whole numbers become nullable integers (written without ``.0``), unless a
    value is infinite (then the column stays float, rounded)."""
    rounded = col.round(decimals)
    if decimals == 0 and not np.isinf(col.to_numpy(dtype=float)).any():
        return rounded.astype("Int64")
    return rounded


def round_for_csv(df: pd.DataFrame, describe: Describer | None = None, table: str = "",
                  people_decimals: int = 0) -> pd.DataFrame:
    """A copy of ``df`` rounded for people to read (float columns only; see module table).

    Parameters
    ----------
    describe : callable, optional
        ``describe(column, table) -> (unit, description)``: the unit decides the rounding;
        unknown columns (KeyError) fall back to name patterns.
    table : str
        File stem passed to ``describe``.
    people_decimals : int
        Decimals for people counts: 0 for area tables (default), 1 where single homes hold
        fractions of people.
    """
    columns, rounded = list(df.items()), {}
    for i, (c, col) in enumerate(columns):
        if not pd.api.types.is_float_dtype(col.dtype):
            continue
        unit = None
        if describe is not None:
            try:
                unit = describe(str(c), table)[0]
            except KeyError:
                unit = None
        dec = column_decimals(str(c), unit, people_decimals)
        if dec is not None:
            rounded[i] = _round(col, dec)
    if type(df) is not pd.DataFrame:  # e.g. a GeoDataFrame: its own class kept
        out = df.copy()
        for i, col in rounded.items():
            out.isetitem(i, col)
        return out
    # the table made once from its columns (setting them one by one copied and split its blocks
    # each time: half the CPU of writing the localities' tables)
    out = pd.DataFrame({i: rounded.get(i, col) for i, (_, col) in enumerate(columns)}, index=df.index)
    out.columns = df.columns
    return out


def add_names(df: pd.DataFrame, id_col: str, names: Mapping | pd.Series,
              name_col: str) -> pd.DataFrame:
    """A copy of ``df`` with ``name_col`` (looked up from ``names``: id -> name) inserted right
    after ``id_col``; ids without a name get an empty cell (never dropped)."""
    if name_col in df.columns:
        return df.copy()
    out = df.copy()
    lookup = names if isinstance(names, pd.Series) else pd.Series(dict(names))
    out.insert(out.columns.get_loc(id_col) + 1, name_col, out[id_col].map(lookup))
    return out


def readable(df: pd.DataFrame, describe: Describer | None = None, table: str = "",
             people_decimals: int = 0) -> pd.DataFrame:
    """The CSV presentation of a finished table: rounded, renamed (:data:`RENAMES`)."""
    return round_for_csv(df, describe, table, people_decimals).rename(columns=RENAMES)


def csv_columns(df: pd.DataFrame) -> pd.DataFrame:
    """An empty table with the columns of ``df``'s CSV copy (:func:`readable` renames, never
    drops or adds): what :func:`data_dictionary` reads, without rounding a copy."""
    return pd.DataFrame(columns=df.columns).rename(columns=RENAMES)


def data_dictionary(tables: Mapping[str, pd.DataFrame], describe: Describer,
                    strict: bool = True) -> pd.DataFrame:
    """``file, column, unit, description`` for every column of every table (CSV names).

    Raises
    ------
    KeyError
        With ``strict``, the first column ``describe`` does not know (a defect to fix in the
        module's column table); otherwise it is listed as "(not described)".
    """
    inverse = {v: k for k, v in RENAMES.items()}
    rows = []
    for stem, df in tables.items():
        for c in df.columns:
            if c == "geometry":
                continue
            name = RENAMES.get(str(c), str(c))
            try:
                unit, desc = describe(inverse.get(name, name), stem)
            except KeyError:
                if strict:
                    raise KeyError(f"column '{c}' of '{stem}' has no description") from None
                unit, desc = "", "(not described)"
            rows.append({"file": stem, "column": name, "unit": unit, "description": desc})
    return pd.DataFrame(rows, columns=["file", "column", "unit", "description"])


def data_dictionary_text(dictionary: pd.DataFrame, title: str, notes: str = "") -> str:
    """Plain-text ``README.txt``: title, notes, then each file with its columns."""
    lines = [title, "=" * len(title), ""]
    if notes:
        lines += [notes.strip(), ""]
    lines += ["CSV files are rounded for reading (people whole numbers, percentages and minutes "
              "one decimal, metres whole); totals were computed before rounding, so parts may "
              "not add up exactly. Parquet files, where written, keep full precision.", ""]
    for stem, grp in dictionary.groupby("file", sort=False):
        lines.append(f"{stem}.csv")
        width = max(len(c) for c in grp["column"])
        for r in grp.itertuples():
            unit = f" [{r.unit}]" if r.unit else ""
            lines.append(f"  {r.column:<{width}}  {r.description}{unit}")
        lines.append("")
    return "\n".join(lines)


def write_readme(out_dir: str | Path, tables: Mapping[str, pd.DataFrame], describe: Describer,
                 title: str, notes: str = "", strict: bool = True) -> Path:
    """Write ``out_dir/README.txt`` describing every column of ``tables`` (atomic)."""
    text = data_dictionary_text(data_dictionary(tables, describe, strict), title, notes)
    return write_text(Path(out_dir) / "README.txt", text)


def write_readable_tables(tables: Mapping[str, pd.DataFrame], out_dir: str | Path,
                          describe: Describer, title: str, notes: str = "",
                          parquet: bool = False, people_decimals: int = 0) -> list[Path]:
    """Each table as ``<stem>.csv`` (rounded, renamed; geometry dropped), optionally
    ``<stem>.parquet`` (full precision, original names), and a ``README.txt`` (atomic)."""
    out, written = Path(out_dir), []
    plain = {k: pd.DataFrame(v.drop(columns="geometry", errors="ignore")) for k, v in tables.items()}
    for stem, df in plain.items():
        written.append(write_csv(readable(df, describe, stem, people_decimals), out / f"{stem}.csv"))
        if parquet:
            written.append(write_parquet(df, out / f"{stem}.parquet"))
    # the README needs the CSV copies' column names only: those of an empty table's copy
    written.append(write_readme(out, {k: csv_columns(v) for k, v in plain.items()}, describe, title, notes))
    return written
