"""One Excel workbook of a run's decision tables: ``<area>_decision_tables.xlsx`` (docs/outputs.md).

Built from the CSV files of a run folder (``locmap run`` writes it at the end; ``locmap export
--xlsx --run DIR`` rebuilds it for an existing folder), so every figure is the CSV's figure.
Sheets (those whose CSVs are present): Contents, Ranking, Sensitivity, Recommendation, What-if,
Scorecards, Coverage by town / ward / PCN, Gaps, Hub sites, Hub site choices, Cross-border,
Data quality, Rejects, Sources, Column notes.  Each data sheet has a frozen, filterable header
row, column widths fitted to the text and number formats from the run's data dictionaries
(``README.txt`` units): people whole numbers, ``[percent]`` (0-100 in the CSV) and ``[share
0-1]``/``[probability 0-1]`` shown as percentages, scores three decimals.  Text from the data is
always a text cell (a name like ``=HYPERLINK(...)`` is shown, never run as a formula).

The workbook is written by XlsxWriter (docs/decisions.md: three times faster than openpyxl, the
same cells), imported when a workbook is written, not with this module (``locmap run`` builds the
workbook in its second process, so the main process never needs it).
"""
from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_object_dtype, is_string_dtype

from locmap.errors import DataFileError
from locmap.export import ATTRIBUTION, FORMULA_GUARD, FORMULA_TRIGGERS, atomic_path, write_csv

WORKBOOK_SUFFIX = "_decision_tables.xlsx"
#: files the run hook writes beside the run's tables for the workbook's last sheets
DATA_QUALITY_CSV = "data_quality.csv"
SOURCES_CSV = "sources.csv"
#: number format per data-dictionary unit (README.txt "[unit]"); "percent" values are divided by 100
UNIT_FORMATS = {
    "people": "#,##0", "children": "#,##0", "homes": "#,##0", "services": "#,##0", "places": "#,##0",
    "LSOAs": "#,##0", "localities": "#,##0", "areas": "#,##0", "draws": "#,##0", "metres": "#,##0",
    "percent": "0.0%", "share 0-1": "0.0%", "probability 0-1": "0.0%",
    "score 0-1": "0.000", "index 0-1": "0.000", "index -1..1": "0.000", "IMD score": "0.0",
    "rank": "0", "national rank": "#,##0", "decile 1-10": "0", "minutes": "0.0", "km/h": "0.0",
    "per 1,000 children": "0.000", "per 1,000": "0.000",
}
#: units of columns no README describes, by name (sites tables, the run hook's files)
NAME_UNITS = ((r"^pct_", "percent"), (r"^(share_|p_first$|p_rank_)", "share 0-1"),
              (r"(^pop_|^gap_pop_|^unreachable_pop_|people|children|^homes|^n_|^read$|^used$|^rejected$)", "people"),
              (r"^rank", "rank"), (r"^(score|crit_)", "score 0-1"), (r"minutes", "minutes"),
              (r"(_m|^max_m|^x|^y)$", "metres"))
HEADER_COLOUR = "DDE7F0"
MAX_WIDTH = 60
#: document time of every workbook (as GeoPackages: locmap.export.GPKG_DATE); XlsxWriter fixes
#: the zip entries' times itself
FIXED_TIME = dt.datetime(2000, 1, 1)
#: XlsxWriter: built in memory; text is only ever written as text (never a number, formula or
#: link by its look); NaN and inf never reach it (blank cells, see _put)
_WORKBOOK_OPTIONS = {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
                     "strings_to_urls": False}
_DIGIT_PX = 7  # pixels per character of a column width (Calibri 11, Excel's default)
_PAPER_A4 = 9
CONTENTS_TEXT_WIDTH = 70
_DICT_LINE = re.compile(r"^  (\S+)\s+.*\[([^\]]+)\]\s*$")
#: a CSV text cell guarded by locmap.export: the guard, then what starts a formula
_GUARDED = re.compile(re.escape(FORMULA_GUARD) + "[" + re.escape("".join(FORMULA_TRIGGERS)) + "]")


@dataclass(frozen=True)
class Sheet:
    """One sheet: its name, what it holds, the table and the run files it comes from."""

    name: str
    description: str
    frame: pd.DataFrame
    sources: tuple[str, ...]


# ------------------------------------------------------------------ reading the run folder
def read_run_csv(path: Path) -> pd.DataFrame:
    """A run CSV as written (numbers as numbers, blank = empty); the CSV's formula guard
    (a leading ``'`` before = + - @) is removed again, the cell becomes a text cell instead."""
    df = pd.read_csv(path, keep_default_na=False, na_values=[""], low_memory=False)
    for c in df.columns:
        if is_object_dtype(df[c].dtype) or is_string_dtype(df[c].dtype):
            df[c] = _unguarded(df[c])
    return df


def _unguarded(col: pd.Series) -> pd.Series:
    """:func:`_unguard` of every value; a column of text only is done as a whole."""
    if pd.api.types.infer_dtype(col, skipna=True) not in ("string", "empty"):
        return col.map(_unguard)
    hit = col.str.match(_GUARDED, na=False).to_numpy(bool)
    if not hit.any():
        return col
    col = col.copy()
    col[hit] = col[hit].str.slice(1)
    return col


def _unguard(v):
    if isinstance(v, str) and v.startswith(FORMULA_GUARD) and v[1:2] and v[1] in FORMULA_TRIGGERS:
        return v[1:]
    return v


def units_from_readmes(run_dir: Path) -> dict[str, str]:
    """``column -> unit`` from every ``README.txt`` data dictionary of the run folder."""
    units: dict[str, str] = {}
    for readme in sorted(run_dir.rglob("README.txt")):
        for line in readme.read_text(encoding="utf-8", errors="replace").splitlines():
            m = _DICT_LINE.match(line)
            if m:
                units.setdefault(m.group(1), m.group(2))
    return units


def _scheme_order(stem: str) -> tuple:
    scheme = stem.split("_", 1)[1]
    return ({"towns": 0, "pcns": 1, "wards": 2}.get(scheme, 3), scheme)


def _stacked(run_dir: Path, pattern: str, label: str = "scheme",
             exclude: str = r"^(scorecard_columns|sites_(gain|summary)_)") -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Every CSV matching ``pattern`` (but not the ``exclude`` regex) stacked, with ``label`` (from
    the file name after the first ``_``) as the first column when the table has none."""
    files = sorted((p for p in run_dir.glob(pattern) if not re.search(exclude, p.stem)),
                   key=lambda p: _scheme_order(p.stem))
    parts = []
    for f in files:
        df = read_run_csv(f)
        if label not in df.columns:
            df.insert(0, label, f.stem.split("_", 1)[1] if label == "scheme" else _site_label(f.stem))
        parts.append(df)
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return frame, tuple(str(f.relative_to(run_dir)) for f in files)


def _site_label(stem: str) -> str:
    """``sites_summary_Northolt_p2_15min`` -> ``Northolt p2 15min``."""
    return re.sub(r"^sites_(summary_|gain_)?", "", stem).replace("_", " ")


def _one(run_dir: Path, rel: str) -> tuple[pd.DataFrame, tuple[str, ...]]:
    p = run_dir / rel
    return (read_run_csv(p), (rel,)) if p.is_file() else (pd.DataFrame(), ())


def _level(frame: pd.DataFrame, level: str) -> pd.DataFrame:
    return frame[frame["level"] == level].reset_index(drop=True) if len(frame) else frame


def run_sheets(run_dir: str | Path) -> list[Sheet]:
    """The data sheets of a run folder, in workbook order; sheets without their CSVs are left out."""
    run_dir = Path(run_dir)
    cov, cov_src = _one(run_dir, "access/coverage.csv")
    gaps = [_one(run_dir, f"access/gap_summary_{lvl}.csv") for lvl in ("town", "ward", "pcn")]
    gap_frame = pd.concat([g for g, _ in gaps if len(g)], ignore_index=True) if any(len(g) for g, _ in gaps) \
        else pd.DataFrame()
    specs = [
        ("Ranking", "localities ranked at the base weights, every scheme", _stacked(run_dir, "localities/ranking_*.csv")),
        ("Sensitivity", "rank and score over the weight draws, every scheme",
         _stacked(run_dir, "localities/sensitivity_*.csv")),
        ("Recommendation", "the recommended pathfinder locality and why", _stacked(run_dir, "report/recommendation_*.csv")),
        ("What-if", "single weight or threshold changes and whether they change the choice",
         _stacked(run_dir, "report/what_if_*.csv")),
        ("Scorecards", "one row per locality of every scheme", _stacked(run_dir, "localities/scorecard_*.csv")),
        ("Coverage by town", "people within each threshold, by service type and age band", (_level(cov, "town"), cov_src)),
        ("Coverage by ward", "people within each threshold, by service type and age band", (_level(cov, "ward"), cov_src)),
        ("Coverage by PCN", "people within each threshold, by service type and age band", (_level(cov, "pcn"), cov_src)),
        ("Gaps", "people beyond each threshold by town, ward and PCN",
         (gap_frame, tuple(s for _, src in gaps for s in src))),
        ("Hub sites", "the hub sites chosen in the leading localities", _stacked(run_dir, "sites/sites_*.csv", "run")),
        ("Hub site choices", "coverage of each site choice (p sites, models)",
         _stacked(run_dir, "sites/sites_summary_*.csv", "run", exclude="^$")),
        ("Hub site gains", "children reached as sites are added one by one",
         _stacked(run_dir, "sites/sites_gain_*.csv", "run", exclude="^$")),
        ("Cross-border", "share of people whose nearest service is over the borough boundary",
         _one(run_dir, "access/crossborder_shares.csv")),
        ("Data quality", "rows read, used and rejected per input file", _one(run_dir, DATA_QUALITY_CSV)),
        ("Rejects", "every rejected input row with its reason", _one(run_dir, "rejects.csv")),
        ("Sources", "the input files, their vintage and the attribution", _one(run_dir, SOURCES_CSV)),
        ("Column notes", "what each scorecard column means", _one(run_dir, "localities/scorecard_columns.csv")),
    ]
    return [Sheet(name, desc, frame, src) for name, desc, (frame, src) in specs if len(src) and len(frame.columns)]


# ------------------------------------------------------------------ writing
def _unit(column: str, units: dict[str, str]) -> str | None:
    if column in units:
        return units[column]
    return next((u for pat, u in NAME_UNITS if re.search(pat, column)), None)


def _cell_value(v, unit: str | None):
    """The cell's value: None for blanks, numbers as numbers ([percent] / 100), text as text."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v) / 100 if unit == "percent" else int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) / 100 if unit == "percent" else float(v)
    return str(v)


def _column_values(col: pd.Series, unit: str | None) -> list:
    """:func:`_cell_value` of every value of ``col``, numeric columns converted as a whole."""
    if is_bool_dtype(col.dtype) and not col.isna().any():
        return col.astype(bool).tolist()
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iuf":
        values = col.to_numpy(dtype=float if unit == "percent" or col.dtype.kind == "f" else col.dtype)
        values = (values / 100 if unit == "percent" else values).tolist()
        return [None if v != v else v for v in values]  # NaN: a blank cell
    return [_cell_value(v, unit) for v in col.tolist()]


class _Formats:
    """The workbook's cell formats, each made once (XlsxWriter keeps a format per distinct style)."""

    def __init__(self, wb) -> None:
        self._wb, self._made = wb, {}

    def __call__(self, **style):
        key = tuple(sorted(style.items()))
        if key not in self._made:
            self._made[key] = self._wb.add_format(dict(style))
        return self._made[key]

    def text(self, value: str, **style):
        """The format of a text cell: ``style`` plus Excel's quote prefix when the text starts
        like a formula (the cell is text either way: XlsxWriter's write_string never writes one)."""
        if value.startswith(FORMULA_TRIGGERS):
            style["quote_prefix"] = True
        return self(**style) if style else None


def _put(ws, formats: _Formats, row: int, col: int, value, number_format=None, **style) -> None:
    """Write one cell (0-based): text always as a text cell, numbers as numbers (with
    ``number_format``; an infinite one as a blank cell), booleans as booleans, None as nothing."""
    if value is None:
        return
    if isinstance(value, str):
        ws.write_string(row, col, value, formats.text(value, **style))
    elif isinstance(value, bool):
        ws.write_boolean(row, col, value, formats(**style) if style else None)
    elif math.isinf(value):  # a blank cell, as openpyxl wrote it (an empty value), never Excel's =1/0
        ws.write_blank(row, col, None, number_format)
    else:
        ws.write_number(row, col, value, number_format)


def _width(frame: pd.DataFrame, column: str) -> float:
    text = frame[column].dropna().astype(str)
    longest = float(text.str.len().max()) if len(text) else 0.0
    return min(MAX_WIDTH, max(8.0, len(str(column)) + 2.0, longest + 2.0))


def _set_width(ws, col: int, width: float) -> None:
    """Column ``col`` stored as ``width`` characters, as openpyxl stored it before (XlsxWriter's
    ``set_column`` adds Excel's 5-pixel cell padding; in pixels, 7 per Calibri-11 digit, it does not)."""
    ws.set_column_pixels(col, col, round(width * _DIGIT_PX))


def _data_sheet(wb, formats: _Formats, sheet: Sheet, units: dict[str, str]) -> None:
    ws = wb.add_worksheet(sheet.name)
    frame = sheet.frame
    header = dict(bold=True, bg_color=f"#{HEADER_COLOUR}", pattern=1)
    for j, col in enumerate(frame.columns):
        ws.write_string(0, j, str(col), formats.text(str(col), **header))
        _set_width(ws, j, _width(frame, col))
    for j, col in enumerate(frame.columns):
        unit = _unit(str(col), units)
        fmt = formats(num_format=UNIT_FORMATS[unit]) if unit in UNIT_FORMATS else None
        for i, v in enumerate(_column_values(frame[col], unit), 1):
            _put(ws, formats, i, j, v, fmt)
    ws.freeze_panes(1, 0)
    _print_setup(ws, 0)
    if len(frame.columns):
        ws.autofilter(0, 0, len(frame), len(frame.columns) - 1)


def _contents(wb, formats: _Formats, sheets: list[Sheet], title: str, run_dir: Path) -> None:
    ws = wb.add_worksheet("Contents")
    _put(ws, formats, 0, 0, title, bold=True, font_size=14)
    _put(ws, formats, 1, 0, "Run", valign="top")
    _wrapped(ws, formats, 1, _run_line(run_dir))
    for j, head in enumerate(("Sheet", "What it holds", "Rows", "From (files of the run folder)")):
        _put(ws, formats, 3, j, head, bold=True, bg_color=f"#{HEADER_COLOUR}", pattern=1)
    link = formats(font_color="#0563C1", underline=1)
    for i, s in enumerate(sheets, 4):
        ws.write_url(i, 0, f"internal:'{s.name}'!A1", link, string=s.name)
        _put(ws, formats, i, 1, s.description)
        _put(ws, formats, i, 2, len(s.frame), formats(num_format="#,##0"))
        _put(ws, formats, i, 3, _sources_text(s.sources))
    foot = len(sheets) + 5
    notes = (("Figures", "those of the run's CSV files (rounded for reading); [percent] and [share] columns "
                         "are shown as percentages."), ("Attribution", ATTRIBUTION))
    for i, (label, text) in enumerate(notes, foot):
        _put(ws, formats, i, 0, label, bold=True, valign="top")
        _wrapped(ws, formats, i, text)
    for j, width in enumerate((22, CONTENTS_TEXT_WIDTH, 10, 75)):
        _set_width(ws, j, width)
    ws.freeze_panes(4, 0)
    _print_setup(ws, 3)


def _wrapped(ws, formats: _Formats, row: int, text: str) -> None:
    """Text in column B, wrapped, the row as tall as its lines (LibreOffice does not refit rows)."""
    _put(ws, formats, row, 1, text, text_wrap=True, valign="top")
    ws.set_row(row, 15 * max(1, -(-len(text) // int(CONTENTS_TEXT_WIDTH * 1.1))))


def _print_setup(ws, title_row: int) -> None:
    """Landscape A4, every column on one page width, the header row (0-based) repeated on each page."""
    ws.set_landscape()
    ws.set_paper(_PAPER_A4)
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(title_row)


def _sources_text(sources: tuple[str, ...]) -> str:
    """``a.csv, b.csv`` for up to two files, else their common start + ``*.csv (n files)``."""
    if len(sources) <= 2:
        return ", ".join(sources)
    common = sources[0]
    for s in sources[1:]:
        while not s.startswith(common):
            common = common[:-1]
    return f"{common}*.csv ({len(sources)} files)"


def _run_line(run_dir: Path) -> str:
    meta = run_dir / "localities" / "localities_run.json"
    if not meta.is_file():
        return f"Run folder: {run_dir.name}"
    m = json.loads(meta.read_text(encoding="utf-8"))
    weights = ", ".join(f"{k} {v:g}" for k, v in (m.get("weights") or {}).items())
    return (f"Run folder: {run_dir.name}; distances: {', '.join(m.get('distance_method') or [])}; "
            f"weights: {weights}; {m.get('draws', '?')} sensitivity draws")


def write_workbook(run_dir: str | Path, path: str | Path | None = None, area_title: str | None = None) -> Path:
    """Write the run folder's decision tables as one workbook (atomically); default path
    ``<run_dir>/<area>_decision_tables.xlsx``.  :class:`~locmap.errors.DataFileError` when the
    folder holds no run tables.  The same folder gives the same bytes (fixed document date,
    XlsxWriter's fixed zip entry times)."""
    run_dir = Path(run_dir)
    sheets = run_sheets(run_dir)
    if not sheets:
        raise DataFileError(run_dir, "no run tables found (localities/, access/, report/ ...)",
                            remedy="give the folder a `locmap run --out DIR` wrote.")
    name, title = run_area(run_dir)
    path = Path(path) if path is not None else run_dir / f"{name}{WORKBOOK_SUFFIX}"
    import xlsxwriter  # noqa: PLC0415 - see the module docstring
    import xlsxwriter.exceptions  # noqa: PLC0415

    units = units_from_readmes(run_dir)
    with atomic_path(path) as tmp:
        wb = xlsxwriter.Workbook(str(tmp), _WORKBOOK_OPTIONS)
        wb.set_properties({"author": "locmap", "created": FIXED_TIME})
        formats = _Formats(wb)
        _contents(wb, formats, sheets, f"locmap decision tables – {area_title or title}", run_dir)
        for s in sheets:
            _data_sheet(wb, formats, s, units)
        try:
            wb.close()
        except xlsxwriter.exceptions.FileCreateError as exc:  # its OSError: atomic_path names the file and the cause
            raise exc.args[0] from None
    return path


def run_area(run_dir: Path) -> tuple[str, str]:
    """(file stem, title) of the run's area: from ``sources.csv``, else the map's file name,
    else the folder name."""
    src = run_dir / SOURCES_CSV
    if src.is_file():
        df = read_run_csv(src)
        area = df[df["kind"] == "area"]
        if len(area):
            return str(area["key"].iloc[0]), str(area["title"].iloc[0])
    maps = sorted(p for p in (run_dir / "maps").glob("*.html") if not p.stem.endswith("_offline"))
    stem = maps[0].stem if maps else run_dir.name
    return stem, stem


# ------------------------------------------------------------------ the run hook
def sources_table(area) -> pd.DataFrame:
    """The area (kind ``area``), its layers and tables, its service files (with source and
    vintage) and the attribution, as rows ``kind, key, title, path, vintage``."""
    pack = area.pack
    rows = [{"kind": "area", "key": area.file_stem, "title": pack.title, "path": pack.path.name, "vintage": ""}]
    for kind, specs in (("layer", pack.layers), ("table", pack.tables)):
        rows += [{"kind": kind, "key": k, "title": "", "path": s.path, "vintage": ""} for k, s in specs.items()]
    rows += [{"kind": "services", "key": s.get("key", ""), "title": s.get("source", ""), "path": s.get("path", ""),
              "vintage": str(s.get("vintage", ""))} for s in pack.services.get("sources", [])]
    rows.append({"kind": "attribution", "key": "", "title": area.attribution, "path": "", "vintage": ""})
    return pd.DataFrame(rows, columns=["kind", "key", "title", "path", "vintage"])


def write_run_workbook(area, out: str | Path) -> list[Path]:
    """``locmap run``'s last step: ``data_quality.csv`` (rows read/used/rejected per input file),
    ``sources.csv`` and ``<area>_decision_tables.xlsx`` in the run folder ``out``."""
    out = Path(out)
    files = [write_csv(area.checks["services_accounting"], out / DATA_QUALITY_CSV),
             write_csv(sources_table(area), out / SOURCES_CSV)]
    files.append(write_workbook(out, out / f"{area.file_stem}{WORKBOOK_SUFFIX}", area.pack.title))
    return files


__all__ = ["write_workbook", "write_run_workbook", "run_sheets", "Sheet", "read_run_csv", "units_from_readmes",
           "sources_table", "run_area", "WORKBOOK_SUFFIX", "UNIT_FORMATS"]
