"""Two decision-tables workbooks compared by content, cell by cell (issue 27: the workbook's writer
changed from openpyxl to XlsxWriter, so the bytes changed but the content must not).

Both files are read with openpyxl.  Compared: the sheet names in order; for every cell the value
(exactly; an int and a float of the same number are equal, as in Excel), its type, number format,
quote prefix (the formula guard of text), the font's bold / size / underline / colour, the fill
colour, vertical alignment, wrapping and the hyperlink's destination; per sheet the column widths,
row heights, frozen panes, filter range, repeated title rows, orientation, paper size and
fit-to-page.  Details of representation that Excel and LibreOffice show alike are normalised: an
ARGB colour's alpha byte, a font size or colour left at the default (11, the theme's text colour),
a row height set to the default 15 points,
``fitToWidth`` left at its default 1, one ``<col min max>`` range for neighbouring equal widths,
and a link written as a location (``'Sheet'!A1``) or as a ``#'Sheet'!A1`` target.

Usage::

    python benchmarks/compare_workbooks.py OLD.xlsx NEW.xlsx    # exit 0 when the content is the same
"""
from __future__ import annotations

import sys

import openpyxl
from openpyxl.utils import get_column_letter

DEFAULT_ROW_HEIGHT = 15.0  # points, of a Calibri 11 row: a height set to it is no height set


def _rgb(colour) -> str | None:
    value = getattr(colour, "rgb", None) if colour is not None else None
    return value[-6:] if isinstance(value, str) else None


def _link(cell) -> str | None:
    if not cell.hyperlink:
        return None
    return cell.hyperlink.location or (cell.hyperlink.target or "").lstrip("#")


def cell_record(cell) -> tuple:
    """What a reader sees of one cell."""
    value = cell.value
    kind = "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__
    fill = _rgb(cell.fill.fgColor) if cell.fill is not None and cell.fill.fill_type else None
    return (kind, value, cell.data_type, cell.number_format, bool(cell.quotePrefix), bool(cell.font.b),
            cell.font.sz or 11.0, cell.font.u, _rgb(cell.font.color), fill, cell.alignment.vertical,
            bool(cell.alignment.wrap_text), _link(cell))


def sheet_record(ws) -> dict:
    """What a reader sees of one sheet besides its cells."""
    setup = ws.page_setup
    return {
        "widths": {get_column_letter(i): round(d.width, 6) for d in ws.column_dimensions.values()
                   if d.customWidth for i in range(d.min, d.max + 1)},
        "heights": {r: d.height for r, d in ws.row_dimensions.items() if d.height and d.height != DEFAULT_ROW_HEIGHT},
        "freeze": ws.freeze_panes, "filter": ws.auto_filter.ref, "title rows": ws.print_title_rows,
        "page": (setup.orientation, setup.paperSize, setup.fitToWidth or 1, setup.fitToHeight,
                 bool(ws.sheet_properties.pageSetUpPr and ws.sheet_properties.pageSetUpPr.fitToPage)),
    }


def differences(old_path: str, new_path: str) -> tuple[int, list[str]]:
    """(cells compared, differences found as lines)."""
    old, new = openpyxl.load_workbook(old_path), openpyxl.load_workbook(new_path)
    if old.sheetnames != new.sheetnames:
        return 0, [f"sheets: {old.sheetnames} != {new.sheetnames}"]
    found, n = [], 0
    for name in old.sheetnames:
        a, b = old[name], new[name]
        if (a.max_row, a.max_column) != (b.max_row, b.max_column):
            found.append(f"{name}: size {a.dimensions} != {b.dimensions}")
        for row_a, row_b in zip(a.iter_rows(), b.iter_rows()):
            for ca, cb in zip(row_a, row_b):
                n += 1
                if cell_record(ca) != cell_record(cb):
                    found.append(f"{name}!{ca.coordinate}: {cell_record(ca)} != {cell_record(cb)}")
        ra, rb = sheet_record(a), sheet_record(b)
        found += [f"{name}: {k} {ra[k]} != {rb[k]}" for k in ra if ra[k] != rb[k]]
    return n, found


def main(argv: list[str] | None = None) -> int:
    old, new = (argv if argv is not None else sys.argv[1:])[:2]
    n, found = differences(old, new)
    print(f"{n:,} cells compared; {len(found)} differences")
    for line in found[:50]:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
