"""Spreadsheet formula injection: every CSV locmap writes is inert when opened in Excel,
LibreOffice or Google Sheets (OWASP CSV-injection rule), while numbers stay numbers and
Parquet keeps the raw text."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from locmap.export import FORMULA_GUARD, neutralise_formulas, write_csv, write_parquet

ROOT = Path(__file__).resolve().parents[1]
LOCMAP = [str(ROOT / ".venv" / "bin" / "locmap")] if (ROOT / ".venv" / "bin" / "locmap").exists() \
    else [sys.executable, "-m", "locmap"]

PAYLOADS = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1",
            "=cmd|' /C calc'!A0", "-5 Broadway"]
HARMLESS = ["Elm Surgery", "'=already quoted", "5 Broadway", " =1", "a=b", "", "-5", "+44", "-1.5e3"]


def _cells(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_each_formula_payload_gets_a_leading_quote_and_keeps_its_text(tmp_path):
    df = pd.DataFrame({"name": PAYLOADS, "row": range(1, len(PAYLOADS) + 1)})
    rows = _cells(write_csv(df, tmp_path / "t.csv"))
    assert rows[0] == ["name", "row"]
    assert [r[0] for r in rows[1:]] == [FORMULA_GUARD + p for p in PAYLOADS]
    assert [r[1] for r in rows[1:]] == [str(i) for i in range(1, len(PAYLOADS) + 1)]


def test_harmless_text_and_number_only_text_are_written_unchanged(tmp_path):
    df = pd.DataFrame({"name": HARMLESS})
    rows = _cells(write_csv(df, tmp_path / "t.csv"))
    assert [r[0] for r in rows[1:]] == HARMLESS


def test_numeric_columns_stay_numeric_including_negative_values(tmp_path):
    df = pd.DataFrame({"delta_m": [-5, 3], "share": [-2.5, 0.125], "name": ["-5", "=1"]})
    back = pd.read_csv(write_csv(df, tmp_path / "t.csv"))
    assert back["delta_m"].tolist() == [-5, 3] and back["delta_m"].dtype.kind == "i"
    assert back["share"].tolist() == [-2.5, 0.125]
    assert back["name"].tolist() == ["-5", "'=1"]


def test_column_names_and_index_labels_from_data_are_neutralised(tmp_path):
    df = pd.DataFrame({"=locality": [1], "pop": [2]}, index=pd.Index(["@ward"], name="ward"))
    rows = _cells(write_csv(df, tmp_path / "t.csv", index=True))
    assert rows == [["ward", "'=locality", "pop"], ["'@ward", "1", "2"]]


def test_mixed_object_column_neutralises_only_the_text(tmp_path):
    df = pd.DataFrame({"v": pd.Series(["=1", -3, None, 2.5], dtype=object)})
    rows = _cells(write_csv(df, tmp_path / "t.csv"))
    assert [r[0] for r in rows[1:]] == ["'=1", "-3", "", "2.5"]


def test_a_carriage_return_inside_a_cell_does_not_split_the_row(tmp_path):
    df = pd.DataFrame({"name": ["Carriage\rreturn", "\r=1", "plain"], "n": [1, 2, 3]})
    rows = _cells(write_csv(df, tmp_path / "t.csv"))
    assert rows == [["name", "n"], ["Carriage\rreturn", "1"], ["'\r=1", "2"], ["plain", "3"]]


def test_table_without_formula_text_is_written_byte_for_byte_as_before(tmp_path):
    df = pd.DataFrame({"name": ["Elm", "Oak"], "d_m": [-1.25, 3.0], "n": [1, -2]})
    p = write_csv(df, tmp_path / "t.csv")
    assert p.read_bytes() == df.to_csv(index=False, lineterminator="\n").encode()


def test_neutralise_formulas_leaves_the_input_frame_alone():
    df = pd.DataFrame({"name": ["=1"]})
    out = neutralise_formulas(df)
    assert df["name"].iloc[0] == "=1" and out["name"].iloc[0] == "'=1"


def test_parquet_keeps_the_raw_text(tmp_path):
    df = pd.DataFrame({"name": PAYLOADS})
    back = pd.read_parquet(write_parquet(df, tmp_path / "t.parquet"))
    assert back["name"].tolist() == PAYLOADS


@pytest.mark.realdata
def test_locmap_check_rejects_csv_neutralises_hostile_user_service_names(tmp_path):
    """Hostile names in a council's services CSV reach rejects.csv (detail column) inert."""
    names = PAYLOADS[:6]
    user = tmp_path / "hostile.csv"
    pd.DataFrame({"service_id": [f"h{i}" for i in range(len(names))], "name": names,
                  "service_type": "childrens_centre", "postcode": "ZZ9 9ZZ"}).to_csv(user, index=False,
                                                                               lineterminator="\r\n")
    out = tmp_path / "rejects.csv"
    env = dict(os.environ, LOCMAP_NO_PROGRESS="1")
    r = subprocess.run([*LOCMAP, "check", "--area", "ealing", "--services", str(user), "--rejects", str(out)],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = _cells(out)
    header, body = rows[0], rows[1:]
    user_rows = [dict(zip(header, r)) for r in body if r[header.index("source_key")] == "user"]
    assert len(user_rows) == len(names)
    for row, name in zip(user_rows, names):
        assert row["reason"] == "unknown postcode"
        # names are trimmed when read ("\t=1" -> "=1"), then neutralised when written
        assert row["detail"].startswith(FORMULA_GUARD + name.strip() + ": ")
    # and no cell anywhere in the file starts with a formula trigger
    assert not [c for r in body for c in r if c[:1] in ("=", "+", "@", "\t", "\r")
                or (c[:1] == "-" and not c.lstrip("-").replace(".", "", 1).isdigit())]


def test_object_column_of_only_booleans_or_numbers_is_written_as_it_is(tmp_path):
    # a generated borough's tables hold object columns of bools (found by running london:city-of-london)
    df = pd.DataFrame({"flag": pd.Series([True, False, None], dtype=object),
                       "n": pd.Series([1, -2, None], dtype=object), "t": ["=1+1", "ok", None]})
    out = neutralise_formulas(df)
    assert out["flag"].tolist()[:2] == [True, False] and out["n"].tolist()[:2] == [1, -2]
    assert out["t"].tolist()[:2] == [FORMULA_GUARD + "=1+1", "ok"]
    write_csv(df, tmp_path / "x.csv")
    assert (tmp_path / "x.csv").read_text().splitlines()[1].startswith("True,1,")
