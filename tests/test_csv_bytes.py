"""The column-wise CSV writer (``locmap.export.csv_bytes``) writes exactly the bytes pandas'
``to_csv`` writes for the same guarded table: float repr (exponent form, negative zero,
infinities), missing values, nullable integers and booleans, huge integers, text needing quotes
or the formula guard, and the CRLF switch for a carriage return in text."""
from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from locmap import export


def pandas_bytes(df: pd.DataFrame, tmp_path) -> bytes:
    """What ``write_csv`` wrote before the column-wise writer: the guarded copy through pandas."""
    safe, line_end = export._csv_ready(df)
    path = tmp_path / "pandas.csv"
    safe.to_csv(path, index=False, lineterminator=line_end)
    return path.read_bytes()


def fast_bytes(df: pd.DataFrame) -> bytes:
    blocks = export.csv_bytes(df)
    assert blocks is not None, "the column-wise writer refused a table it should format"
    return b"".join(bytes(b) for b in blocks)


def test_floats_are_written_as_pandas_writes_them_exponents_nan_negative_zero_and_infinities(tmp_path):
    floats = [1.5, -0.0, 0.0, 1e-07, 1e16, 1.2345678901234568e17, 5e-324, 1.7976931348623157e308, np.inf,
              -np.inf, np.nan, 0.1 + 0.2, 100.0, -2.5e-5, 123456789.125]
    small = [f for f in floats if not abs(f) > 1e30] + [1.0] * 3  # float32: no overflow
    df = pd.DataFrame({"x": floats, "y": np.array(small[::-1], dtype="float32")})
    got = fast_bytes(df)
    assert got == pandas_bytes(df, tmp_path)
    assert [line.split(",")[0] for line in got.decode().splitlines()] == [
        "x", "1.5", "-0.0", "0.0", "1e-07", "1e+16", "1.2345678901234568e+17", "5e-324",
        "1.7976931348623157e+308", "inf", "-inf", "", "0.30000000000000004", "100.0", "-2.5e-05", "123456789.125"]
    assert got.decode().splitlines()[4] == "1e-07,1.2345679e+08"  # float32 in its own shortest form


def test_repeated_floats_are_formatted_per_value_keeping_negative_zero_apart(tmp_path):
    other_nan = np.frombuffer(np.array([0x7FF8000000000001], dtype=np.uint64).tobytes(), dtype=np.float64)[0]
    x = np.array([0.0, -0.0, 15.0, np.nan, -0.0, 0.0, other_nan, 15.0, 0.1, 0.1] * 3)
    df = pd.DataFrame({"x": x, "n": np.arange(len(x))})
    got = fast_bytes(df)
    assert got == pandas_bytes(df, tmp_path)
    assert [line.split(",")[0] for line in got.decode().splitlines()[1:11]] == [
        "0.0", "-0.0", "15.0", "", "-0.0", "0.0", "", "15.0", "0.1", "0.1"]


def test_integers_nullable_integers_and_booleans_match_pandas(tmp_path):
    df = pd.DataFrame({
        "big": np.array([np.iinfo(np.int64).max, np.iinfo(np.int64).min, 0], dtype=np.int64),
        "ubig": np.array([np.iinfo(np.uint64).max, 1, 0], dtype=np.uint64),
        "small": np.array([-1, 2, 3], dtype=np.int8),
        "pop": pd.array([1, None, -7], dtype="Int64"),
        "flag": np.array([True, False, True]),
        "cross": pd.array([True, None, False], dtype="boolean"),
    })
    got = fast_bytes(df)
    assert got == pandas_bytes(df, tmp_path)
    assert got.decode().splitlines()[1:] == [
        "9223372036854775807,18446744073709551615,-1,1,True,True",
        "-9223372036854775808,1,2,,False,",
        "0,0,3,-7,True,False"]


@pytest.mark.parametrize("dtype", ["str", object, "string", "string[python]"])
def test_text_is_guarded_quoted_and_missing_values_are_empty(tmp_path, dtype):
    text = ['=HYPERLINK("http://x","y")', "+1+1", "-5 Broadway", "@SUM(A1)", "\t=1", "-5", "+44", "-1.5e3",
            "-5\n", "-\u0665", "a,b", 'say "hi"', "two\nlines", "", None, "plain", "'=already", " =1"]
    df = pd.DataFrame({"name": pd.Series(text, dtype=dtype), "n": range(len(text))})
    got = fast_bytes(df)
    assert got == pandas_bytes(df, tmp_path)
    rows = list(csv.reader(got.decode().splitlines(keepends=True)))
    assert [r[0] for r in rows[1:5]] == ["'" + t for t in text[:4]]
    assert [r[0] for r in rows[6:9]] == ["-5", "+44", "-1.5e3"]
    assert [r[0] for r in rows[9:11]] == ["-5\n", "-\u0665"]  # whole numbers (as Python's re reads them)
    assert b'"a,b",10\n"say ""hi""",11\n"two\nlines",12\n,13\n,14\n' in got


def test_a_carriage_return_in_text_switches_every_line_to_crlf_as_pandas_does(tmp_path):
    df = pd.DataFrame({"name": ["a\rb", "c", "\r=1"], "v": [1.0, np.nan, 2.5]})
    got = fast_bytes(df)
    assert got == pandas_bytes(df, tmp_path)
    assert got.startswith(b"name,v\r\n") and b'"a\rb",1.0\r\n' in got and b"\"'\r=1\",2.5\r\n" in got


def test_column_names_are_guarded_and_quoted_like_the_cells(tmp_path):
    df = pd.DataFrame({"=locality": [1, 2], "a,b": ["x", "y"], "-5": [0.5, 1.5]})
    got = fast_bytes(df)
    assert got == pandas_bytes(df, tmp_path)
    assert got.decode().splitlines()[0] == "'=locality,\"a,b\",-5"


def test_object_columns_of_only_missing_values_are_empty_cells(tmp_path):
    df = pd.DataFrame({"a": pd.Series([None, np.nan, pd.NA], dtype=object),
                       "b": pd.Series([None, None, None], dtype=object), "c": [1, 2, 3]})
    got = fast_bytes(df)
    assert got == pandas_bytes(df, tmp_path)
    assert got.decode().splitlines()[1:] == [",,1", ",,2", ",,3"]


def test_random_tables_match_pandas_byte_for_byte(tmp_path, monkeypatch):
    monkeypatch.setattr(export, "_CSV_BLOCK_ROWS", 7)  # several blocks
    rng = np.random.default_rng(5)
    alphabet = list("ab,\"\n=+-@\t 1.e") + ["\u00e9", "\u0665", "'"]
    for _ in range(20):
        n = int(rng.integers(1, 40))
        words = ["".join(rng.choice(alphabet, int(rng.integers(0, 6)))) for _ in range(n)]
        words = [None if rng.random() < 0.1 else w for w in words]
        x = rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)
        x[rng.random(n) < 0.1] = np.nan
        df = pd.DataFrame({"w": pd.Series(words, dtype="str"), "x": x,
                           "i": pd.array(rng.integers(-10**12, 10**12, n), dtype="Int64"),
                           "o": pd.Series(words[::-1], dtype=object)})
        assert fast_bytes(df) == pandas_bytes(df, tmp_path)


@pytest.mark.parametrize("df", [
    pd.DataFrame({"only": ["", "x"]}),  # one column: the csv module quotes a lone empty field
    pd.DataFrame({"a": pd.Series([], dtype="str"), "b": pd.Series([], dtype=float)}),
    pd.DataFrame({"c": pd.Categorical(["=x", "y"]), "n": [1, 2]}),
    pd.DataFrame({"d": pd.to_datetime(["2024-01-02", None]), "n": [1, 2]}),
    pd.DataFrame({"m": pd.Series(["=1", -3], dtype=object), "n": [1, 2]}),
    pd.DataFrame({"f": pd.array([1.5, None], dtype="Float64"), "n": [1, 2]}),
    pd.DataFrame({1: [1, 2], "n": [1, 2]}),
], ids=["one-column", "no-rows", "categorical", "datetime", "mixed-object", "Float64", "int-name"])
def test_tables_it_does_not_format_are_left_to_pandas_and_written_the_same(tmp_path, df):
    assert export.csv_bytes(df) is None
    assert export.write_csv(df, tmp_path / "t.csv").read_bytes() == pandas_bytes(df, tmp_path)


def test_write_csv_writes_the_column_wise_bytes(tmp_path):
    df = pd.DataFrame({"name": ["=x", "a,b"], "v": [0.1, np.nan], "geometry": [None, None]})
    assert export.write_csv(df, tmp_path / "t.csv").read_bytes() == b"name,v\n'=x,0.1\n\"a,b\",\n"
