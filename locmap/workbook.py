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

openpyxl is imported when a workbook is written, not with this module (``locmap run`` builds the
workbook in its second process, so the main process never needs it).
"""
from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_object_dtype, is_string_dtype

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
#: document and zip-entry time of every workbook (as GeoPackages: locmap.export.GPKG_DATE)
FIXED_TIME = dt.datetime(2000, 1, 1)
_W3CDTF = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
CONTENTS_TEXT_WIDTH = 70
_DICT_LINE = re.compile(r"^  (\S+)\s+.*\[([^\]]+)\]\s*$")


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
            df[c] = df[c].map(_unguard)
    return df


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


def _put(ws, row: int, col: int, value, number_format: str | None = None):
    """Write one cell; text always as a text cell (never a formula), with Excel's quote prefix
    when it starts like a formula."""
    cell = ws.cell(row=row, column=col)
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"
        if value.startswith(FORMULA_TRIGGERS):
            cell.quotePrefix = True
    elif number_format and value is not None and not isinstance(value, bool):
        cell.number_format = number_format
    return cell


def _width(frame: pd.DataFrame, column: str) -> float:
    text = frame[column].dropna().astype(str)
    longest = float(text.str.len().max()) if len(text) else 0.0
    return min(MAX_WIDTH, max(8.0, len(str(column)) + 2.0, longest + 2.0))


def _data_sheet(wb, sheet: Sheet, units: dict[str, str]) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill  # noqa: PLC0415 - see the module docstring
    from openpyxl.utils import get_column_letter  # noqa: PLC0415

    ws = wb.create_sheet(sheet.name)
    frame = sheet.frame
    for j, col in enumerate(frame.columns, 1):
        cell = _put(ws, 1, j, str(col))
        cell.font, cell.fill = Font(bold=True), PatternFill("solid", fgColor=HEADER_COLOUR)
        cell.alignment = Alignment(wrap_text=False)
        ws.column_dimensions[get_column_letter(j)].width = _width(frame, col)
    for j, col in enumerate(frame.columns, 1):
        unit = _unit(str(col), units)
        fmt = UNIT_FORMATS.get(unit) if unit else None
        for i, v in enumerate(frame[col].tolist(), 2):
            _put(ws, i, j, _cell_value(v, unit), fmt)
    ws.freeze_panes = "A2"
    _print_setup(ws, "1:1")
    if len(frame.columns):
        ws.auto_filter.ref = f"A1:{get_column_letter(len(frame.columns))}{len(frame) + 1}"


def _contents(wb, sheets: list[Sheet], title: str, run_dir: Path) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill  # noqa: PLC0415 - see the module docstring

    ws = wb.active
    ws.title = "Contents"
    _put(ws, 1, 1, title).font = Font(bold=True, size=14)
    _put(ws, 2, 1, "Run").alignment = Alignment(vertical="top")
    _wrapped(ws, 2, _run_line(run_dir))
    for j, head in enumerate(("Sheet", "What it holds", "Rows", "From (files of the run folder)"), 1):
        cell = _put(ws, 4, j, head)
        cell.font, cell.fill = Font(bold=True), PatternFill("solid", fgColor=HEADER_COLOUR)
    for i, s in enumerate(sheets, 5):
        link = _put(ws, i, 1, s.name)
        link.hyperlink = f"#'{s.name}'!A1"
        link.font = Font(color="0563C1", underline="single")
        _put(ws, i, 2, s.description)
        _put(ws, i, 3, len(s.frame), "#,##0")
        _put(ws, i, 4, _sources_text(s.sources))
    foot = len(sheets) + 6
    notes = (("Figures", "those of the run's CSV files (rounded for reading); [percent] and [share] columns "
                         "are shown as percentages."), ("Attribution", ATTRIBUTION))
    for i, (label, text) in enumerate(notes, foot):
        label_cell = _put(ws, i, 1, label)
        label_cell.font, label_cell.alignment = Font(bold=True), Alignment(vertical="top")
        _wrapped(ws, i, text)
    for letter, width in zip("ABCD", (22, CONTENTS_TEXT_WIDTH, 10, 75)):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A5"
    _print_setup(ws, "4:4")


def _wrapped(ws, row: int, text: str) -> None:
    """Text in column B, wrapped, the row as tall as its lines (LibreOffice does not refit rows)."""
    from openpyxl.styles import Alignment  # noqa: PLC0415 - see the module docstring

    _put(ws, row, 2, text).alignment = Alignment(wrap_text=True, vertical="top")
    ws.row_dimensions[row].height = 15 * max(1, -(-len(text) // int(CONTENTS_TEXT_WIDTH * 1.1)))


def _print_setup(ws, title_rows: str) -> None:
    """Landscape, every column on one page width, the header row repeated on each page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.print_title_rows = title_rows


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
    folder holds no run tables."""
    run_dir = Path(run_dir)
    sheets = run_sheets(run_dir)
    if not sheets:
        raise DataFileError(run_dir, "no run tables found (localities/, access/, report/ ...)",
                            remedy="give the folder a `locmap run --out DIR` wrote.")
    name, title = run_area(run_dir)
    path = Path(path) if path is not None else run_dir / f"{name}{WORKBOOK_SUFFIX}"
    from openpyxl import Workbook  # noqa: PLC0415 - see the module docstring

    wb = Workbook()
    _contents(wb, sheets, f"locmap decision tables – {area_title or title}", run_dir)
    units = units_from_readmes(run_dir)
    for s in sheets:
        _data_sheet(wb, s, units)
    with atomic_path(path) as tmp:
        _save_reproducibly(wb, tmp)
    return path


def _save_reproducibly(wb, path: Path) -> None:
    """Save with fixed document dates and zip entry times, so the same run gives the same bytes."""
    wb.properties.created = wb.properties.modified = FIXED_TIME
    wb.properties.creator = "locmap"
    buf = io.BytesIO()
    wb.save(buf)
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps "modified" with the time of saving
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + _W3CDTF.encode(), data)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6]), data,
                         compress_type=zipfile.ZIP_DEFLATED)


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
