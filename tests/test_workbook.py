"""One Excel workbook per run (<area>_decision_tables.xlsx): sheets, formats, inert text, the
CSVs' figures; read back with openpyxl and python-calamine and opened by LibreOffice headless."""
from __future__ import annotations

import errno
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook

from locmap import export, workbook
from locmap.cli import main
from locmap.errors import DataFileError, OutputError

EVIL = '=HYPERLINK("http://evil.example/x","click")'
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A small run folder written with locmap's own CSV writer (formula guard included)."""
    d = tmp_path_factory.mktemp("run") / "job"
    towns = ["Acton", EVIL, "+44 Southall", "@SUM(A1)"]
    export.write_csv(pd.DataFrame({"locality": towns, "crit_need": [0.935, 0.446, 0.7041, 0.0],
                                   "score": [0.578, 0.567, 0.539, 0.1], "rank": [1, 2, 3, 4]}),
                     d / "localities" / "ranking_towns.csv")
    export.write_csv(pd.DataFrame({"locality": ["NGP PCN"], "crit_need": [0.5], "score": [0.6], "rank": [1]}),
                     d / "localities" / "ranking_pcns.csv")
    export.write_csv(pd.DataFrame({"locality": towns, "p_first": [0.394, 0.262, 0.3, 0.044],
                                   "rank_base": [3, 2, 1, 4]}), d / "localities" / "sensitivity_towns.csv")
    export.write_csv(pd.DataFrame({"scheme": ["towns"] * 4, "locality": towns, "pop_0_4": [3966, 5148, 10, 0],
                                   "pct_pop_0_19": [23.0, 21.4, 7.5, 0.0]}), d / "localities" / "scorecard_towns.csv")
    export.write_csv(pd.DataFrame({"name": ["pop_0_4"], "unit": ["people"], "description": ["children 0-4"]}),
                     d / "localities" / "scorecard_columns.csv")
    levels = ["town", "town", "ward", "pcn", "lsoa"]
    export.write_csv(pd.DataFrame({"level": levels, "area_id": ["Acton", EVIL, "W1", "P1", "E01"],
                                   "service_type": "childrens_centre", "threshold_minutes": 10.0,
                                   "age_band": "pop_0_4", "pop_within": [1234, 99, 5, 6, 7],
                                   "pct_within": [43.5, 100.0, 0.0, 12.3, 1.0]}), d / "access" / "coverage.csv")
    export.write_text(d / "access" / "README.txt", "Columns\n=======\n\ncoverage.csv\n"
                                                   "  pop_within   people within [people]\n"
                                                   "  pct_within   % of people within [percent]\n")
    export.write_csv(pd.DataFrame({"source_key": ["user"], "file": ["mine.csv"], "read": [5], "used": [2],
                                   "rejected": [3], "accounted": [True]}), d / workbook.DATA_QUALITY_CSV)
    export.write_csv(pd.DataFrame({"kind": ["area", "attribution"], "key": ["ealing", ""],
                                   "title": ["London Borough of Ealing", export.ATTRIBUTION], "path": ["", ""],
                                   "vintage": ["", ""]}), d / workbook.SOURCES_CSV)
    return d


@pytest.fixture(scope="module")
def xlsx(run_dir):
    return workbook.write_workbook(run_dir)


def test_workbook_is_named_after_the_area_and_lists_its_sheets_in_order(xlsx):
    assert xlsx.name == "ealing_decision_tables.xlsx"
    wb = openpyxl.load_workbook(xlsx)
    assert wb.sheetnames == ["Contents", "Ranking", "Sensitivity", "Scorecards", "Coverage by town",
                             "Coverage by ward", "Coverage by PCN", "Data quality", "Sources", "Column notes"]
    contents = [[c.value for c in row] for row in wb["Contents"].iter_rows(min_row=5, max_row=14, max_col=3)]
    assert contents[0] == ["Ranking", "localities ranked at the base weights, every scheme", 5]
    assert wb["Contents"]["A5"].hyperlink.location == "'Ranking'!A1" or \
        wb["Contents"]["A5"].hyperlink.target == "#'Ranking'!A1"
    assert wb["Contents"]["A1"].value == "locmap decision tables – London Borough of Ealing"


def test_text_that_looks_like_a_formula_is_a_text_cell_with_the_original_text(xlsx):
    wb = openpyxl.load_workbook(xlsx)
    ws = wb["Ranking"]
    names = {ws.cell(r, 2).value: ws.cell(r, 2) for r in range(2, 6)}
    assert set(names) == {"Acton", EVIL, "+44 Southall", "@SUM(A1)"}  # the CSV guard ' removed again
    for text in (EVIL, "+44 Southall", "@SUM(A1)"):
        assert names[text].data_type == "s" and names[text].quotePrefix
    with zipfile.ZipFile(xlsx) as z:
        sheets = [z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
    assert not any(b"<f>" in s or b"<f " in s for s in sheets)  # no formula anywhere


def test_calamine_reads_the_same_text_and_numbers(xlsx):
    wb = CalamineWorkbook.from_path(str(xlsx))
    rows = wb.get_sheet_by_name("Ranking").to_python()
    assert rows[0] == ["scheme", "locality", "crit_need", "score", "rank"]
    assert rows[2] == ["towns", EVIL, 0.446, 0.567, 2.0]
    assert rows[5] == ["pcns", "NGP PCN", 0.5, 0.6, 1.0]
    cov = wb.get_sheet_by_name("Coverage by town").to_python()
    assert [r[1] for r in cov[1:]] == ["Acton", EVIL]


def test_people_are_whole_numbers_and_percent_columns_are_percentages(xlsx):
    wb = openpyxl.load_workbook(xlsx)
    cov = wb["Coverage by town"]
    header = [c.value for c in cov[1]]
    pop, pct = cov.cell(2, header.index("pop_within") + 1), cov.cell(2, header.index("pct_within") + 1)
    assert (pop.value, pop.number_format) == (1234, "#,##0")
    assert (pct.value, pct.number_format) == (pytest.approx(0.435), "0.0%")
    sens = wb["Sensitivity"]
    assert (sens["C2"].value, sens["C2"].number_format) == (0.394, "0.0%")  # p_first, a share 0-1
    card = wb["Scorecards"]
    assert (card["D2"].value, card["D2"].number_format) == (pytest.approx(0.23), "0.0%")  # pct_pop_0_19
    assert (wb["Ranking"]["E2"].value, wb["Ranking"]["E2"].number_format) == (1, "0")


def test_every_data_sheet_has_a_frozen_filterable_header_and_fitted_widths(xlsx):
    wb = openpyxl.load_workbook(xlsx)
    for name in wb.sheetnames[1:]:
        ws = wb[name]
        assert ws.freeze_panes == "A2", name
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), name
        assert ws["A1"].font.b, name
    widths = wb["Ranking"].column_dimensions
    assert widths["B"].width == len(EVIL) + 2 and widths["C"].width == len("crit_need") + 2


def test_coverage_sheets_hold_their_level_only_with_the_csv_figures(xlsx, run_dir):
    csv = pd.read_csv(run_dir / "access" / "coverage.csv")
    wb = CalamineWorkbook.from_path(str(xlsx))
    for level, sheet in (("town", "Coverage by town"), ("ward", "Coverage by ward"), ("pcn", "Coverage by PCN")):
        rows = wb.get_sheet_by_name(sheet).to_python()
        got = pd.DataFrame(rows[1:], columns=rows[0])
        want = csv[csv["level"] == level]
        assert got["level"].tolist() == [level] * len(want)
        np.testing.assert_allclose(got["pct_within"].astype(float) * 100, want["pct_within"])
        np.testing.assert_array_equal(got["pop_within"].astype(float), want["pop_within"])


def test_same_run_folder_gives_the_same_bytes(run_dir, tmp_path):
    a = workbook.write_workbook(run_dir, tmp_path / "a.xlsx")
    b = workbook.write_workbook(run_dir, tmp_path / "b.xlsx")
    assert a.read_bytes() == b.read_bytes()


def test_export_command_writes_the_workbook_of_a_run_folder(run_dir, tmp_path, capsys):
    out = tmp_path / "wb.xlsx"
    assert main(["export", "--xlsx", "--run", str(run_dir), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert openpyxl.load_workbook(out).sheetnames[0] == "Contents"


def test_export_command_refuses_a_missing_format_or_folder(run_dir, tmp_path, capsys):
    assert main(["export", "--run", str(run_dir)]) == 2
    assert "choose a format: --xlsx" in capsys.readouterr().err
    assert main(["export", "--xlsx", "--run", str(tmp_path / "nope")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_a_column_name_that_looks_like_a_formula_is_a_bold_text_header(tmp_path):
    d = tmp_path / "job"
    export.write_csv(pd.DataFrame({"locality": ["Acton"], "=SUM(A1)": [3], "-x": ["-y"], "rank": [1]}),
                     d / "localities" / "ranking_towns.csv")
    ws = openpyxl.load_workbook(workbook.write_workbook(d, tmp_path / "w.xlsx"))["Ranking"]
    header = {c.value: c for c in ws[1]}
    # column names keep the CSV's guard (as before): text that cannot run, in bold on the header fill
    assert set(header) == {"scheme", "locality", "'=SUM(A1)", "'-x", "rank"}
    for cell in header.values():
        assert cell.data_type == "s" and cell.font.b and cell.fill.fgColor.rgb[-6:] == workbook.HEADER_COLOUR
    assert (ws["C2"].value, ws["C2"].data_type) == (3, "n")
    assert (ws["D2"].value, ws["D2"].data_type, ws["D2"].quotePrefix) == ("-y", "s", True)


def test_whole_column_conversion_gives_the_cells_of_the_value_by_value_rule():
    columns = [(pd.Series([1, 250, -3]), "percent"), (pd.Series([1, 250, -3]), "people"),
               (pd.Series([45.3, np.nan, 0.1 + 0.2]), "percent"), (pd.Series([45.3, np.nan, 1e-300]), None),
               (pd.Series([True, False, True]), None), (pd.Series(["a", None, "=b"], dtype=object), None),
               (pd.Series([1, "x", None], dtype=object), "percent")]
    for col, unit in columns:
        got = workbook._column_values(col, unit)
        want = [workbook._cell_value(v, unit) for v in col.tolist()]
        assert got == want and [type(v) for v in got] == [type(v) for v in want], (col.tolist(), unit)
    assert workbook._column_values(pd.Series([45.3]), "percent") == [45.3 / 100]


def test_infinite_numbers_are_blank_cells_with_the_columns_format_and_never_formulas(tmp_path):
    d = tmp_path / "job"
    export.write_csv(pd.DataFrame({"locality": ["A", "B", "C"], "score": [0.5, np.inf, -np.inf], "rank": [1, 2, 3]}),
                     d / "localities" / "ranking_towns.csv")
    xlsx = workbook.write_workbook(d, tmp_path / "w.xlsx")
    ws = openpyxl.load_workbook(xlsx)["Ranking"]
    assert [(c.value, c.number_format) for c in ws["C"][1:]] == [(0.5, "0.000"), (None, "0.000"), (None, "0.000")]
    with zipfile.ZipFile(xlsx) as z:
        assert not any(b"<f>" in z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/"))


def test_a_full_disk_while_saving_is_an_output_error_naming_the_workbook_and_leaves_no_file(run_dir, tmp_path,
                                                                                           monkeypatch):
    def full(_self):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(xlsxwriter.Workbook, "_store_workbook", full)
    target = tmp_path / "out" / "w.xlsx"
    with pytest.raises(OutputError, match="disk full") as err:
        workbook.write_workbook(run_dir, target)
    assert str(target) in str(err.value)
    assert not (tmp_path / "out").exists()  # no temporary file left, the folder it made removed again


def test_control_characters_in_text_are_kept_not_a_failed_workbook(tmp_path):
    """openpyxl refused them (IllegalCharacterError: the run failed at its last step); the
    workbook escapes them as the format says (``_x0001_``) and a reader gets the text back."""
    d = tmp_path / "job"
    names = ["a\x01b", "x_x0041_y", "\r\n=1", "<b>&amp;</b>"]
    export.write_csv(pd.DataFrame({"locality": names, "rank": [1, 2, 3, 4]}), d / "localities" / "ranking_towns.csv")
    xlsx = workbook.write_workbook(d, tmp_path / "w.xlsx")
    rows = CalamineWorkbook.from_path(str(xlsx)).get_sheet_by_name("Ranking").to_python()
    assert [r[1] for r in rows[1:]] == names
    assert openpyxl.load_workbook(xlsx)["Ranking"]["B4"].quotePrefix  # starts with CR: inert as before


def test_the_csv_guard_is_removed_from_text_columns_alone(tmp_path):
    path = export.write_csv(pd.DataFrame({"name": ["=A1", "'quoted", "-5 Broadway", "-5", None],
                                          "n": [1, 2, 3, 4, 5]}), tmp_path / "t.csv")
    back = workbook.read_run_csv(path)
    assert back["name"].tolist()[:4] == ["=A1", "'quoted", "-5 Broadway", "-5"] and pd.isna(back["name"][4])
    assert back["n"].tolist() == [1, 2, 3, 4, 5]


def test_a_folder_without_run_tables_is_an_error_naming_it(tmp_path):
    with pytest.raises(DataFileError, match="no run tables found"):
        workbook.write_workbook(tmp_path)


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (libreoffice-calc-nogui) not installed: make system-packages")
def test_libreoffice_headless_opens_the_workbook_and_shows_text_and_percentages(xlsx, tmp_path):
    proc = subprocess.run([SOFFICE, f"-env:UserInstallation=file://{tmp_path}/profile", "--headless",
                           "--convert-to", "pdf", "--outdir", str(tmp_path), str(xlsx)],
                          capture_output=True, text=True, timeout=300)
    pdf = tmp_path / (xlsx.stem + ".pdf")
    assert proc.returncode == 0 and pdf.is_file(), proc.stderr
    assert "error" not in (proc.stdout + proc.stderr).lower()
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert EVIL in text and "+44 Southall" in text  # shown as text, not run
    assert "43.5%" in text and "1,234" in text and "39.4%" in text


@pytest.mark.slow
@pytest.mark.realdata
def test_locmap_run_writes_the_workbook_with_the_figures_of_its_csvs(ealing_job):
    # the whole Ealing job, run once per test process (tests/conftest.py); read only
    res, job = ealing_job, ealing_job.out_dir
    xlsx = job / "ealing_decision_tables.xlsx"
    assert xlsx in res.files
    wb = CalamineWorkbook.from_path(str(xlsx))
    assert wb.sheet_names[:3] == ["Contents", "Ranking", "Sensitivity"]
    for sheet, csv, pct in (("Ranking", "localities/ranking_towns.csv", ()),
                            ("Cross-border", "access/crossborder_shares.csv", ()),
                            ("Data quality", workbook.DATA_QUALITY_CSV, ())):
        rows = wb.get_sheet_by_name(sheet).to_python()
        got = pd.DataFrame(rows[1:], columns=rows[0])
        want = pd.read_csv(job / csv)
        got = got[got["scheme"] == "towns"].drop(columns="scheme") if sheet == "Ranking" else got
        for c in want.columns:
            if pd.api.types.is_numeric_dtype(want[c]) and not pd.api.types.is_bool_dtype(want[c]):
                np.testing.assert_allclose(pd.to_numeric(got[c].replace("", np.nan)).astype(float),
                                           want[c].astype(float), err_msg=f"{sheet}.{c}")
    town = pd.DataFrame(wb.get_sheet_by_name("Coverage by town").to_python()[1:],
                        columns=wb.get_sheet_by_name("Coverage by town").to_python()[0])
    cov = pd.read_csv(job / "access" / "coverage.csv")
    cov = cov[cov["level"] == "town"]
    np.testing.assert_allclose(town["pct_within"].astype(float) * 100, cov["pct_within"])
    acct = pd.read_csv(job / workbook.DATA_QUALITY_CSV)
    assert (acct["read"] == acct["used"] + acct["rejected"]).all() and acct["read"].sum() > 1000
