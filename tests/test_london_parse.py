"""The London-wide files are parsed with column-wide operations that give exactly what the
one-value-at-a-time rules give: postcodes normalised as each postcode alone, the delimiter sniffed
from the records a whole-text sniff reads, neighbours' homes found as measuring every postcode
finds them, and the postcode table parsed once for the homes and the PCN comparison."""
from __future__ import annotations

import csv
import io as _io
import itertools

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from locmap.data import homes, io, memo, pcn
from locmap.data.region import load_pack
from locmap.data.services import normalise_postcode, normalise_postcodes

#: texts a postcode cell may hold: real shapes in any case and spacing, every kind of space
#: Python's ``\s`` knows (ASCII and not), letters whose upper case is longer (ß), and anything else
_POSTCODE_LIKE = st.one_of(
    st.text(alphabet=st.sampled_from(list("AaBbWwZz0159 \t\n\x0b\x0c\r\x1c\x1f\x85\xa0\u2028ßİı-,.")), max_size=10),
    st.sampled_from(["W5 1AA", "w51aa", "  ec1a  1bb ", "SW1A1AA", "UB5 6PA\n", "12345", "AB", "ZZ9 9ZZ"]),
    st.text(max_size=12),
)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(values=st.lists(st.one_of(st.none(), _POSTCODE_LIKE), max_size=30))
def test_a_postcode_column_is_normalised_as_each_postcode_alone(values):
    column = pd.Series(values, dtype="str")
    one_by_one = column.map(normalise_postcode)
    pd.testing.assert_series_equal(normalise_postcodes(column), one_by_one, check_exact=True)


def test_the_londonwide_postcode_column_is_normalised_as_each_postcode_alone():
    rng = np.random.default_rng(7)
    valid = [f"{a}{d} {d2}{b}{c}" for a, d, d2, b, c in zip(
        rng.choice(["W", "UB", "EC1A", "SW1", "N"], 5000), rng.integers(1, 10, 5000), rng.integers(0, 10, 5000),
        rng.choice(list("ABDX"), 5000), rng.choice(list("ABZ"), 5000))]
    spaced = [v.lower().replace(" ", "  ") if i % 3 else v.replace(" ", "") for i, v in enumerate(valid)]
    column = pd.Series(spaced + [None, "", "  ", "not a postcode"], dtype="str", index=np.arange(5004)[::-1])
    got = normalise_postcodes(column)
    pd.testing.assert_series_equal(got, column.map(normalise_postcode), check_exact=True)
    assert got.iloc[0] == valid[0] and got.iloc[-1] == "INVALID:not a postcode"


def _whole_text_records(text: str, delimiter: str, n: int) -> list[list[str]]:
    return list(itertools.islice(csv.reader(_io.StringIO(text.replace("\x00", "")), delimiter=delimiter), n))


@pytest.mark.parametrize("case", ["plain", "quoted_newlines_across_the_prefix", "records_longer_than_the_prefix",
                                  "crlf_cut_by_the_prefix", "nul_characters", "bad_quote_after_the_records"])
def test_the_delimiter_of_a_long_table_is_sniffed_from_the_records_a_whole_text_sniff_reads(case):
    body = "\n".join(f"{i};x{i};{i * 2}" for i in range(20_000))
    lines = "line\n" * 700
    text = {
        "plain": "a;b;c\n" + body,
        "quoted_newlines_across_the_prefix": "a;b;c\n" + "\n".join(f'{i};"{lines}";{i}' for i in range(60)),
        "records_longer_than_the_prefix": "a,b,c\n" + "\n".join(f"{i},{'y' * 70_000},{i}" for i in range(3)),
        "crlf_cut_by_the_prefix": "a;b;c\r\n" + ("z" * (io._SNIFF_PREFIX_CHARS - 12)) + ";1;2\r\n" + body,
        "nul_characters": "a;b\x00;c\n" + body.replace("1;", "1\x00;"),
        "bad_quote_after_the_records": "a;b;c\n" + body + '\n"unclosed;1;2',
    }[case]
    assert len(text) > io._SNIFF_PREFIX_CHARS
    if case == "crlf_cut_by_the_prefix":
        assert text[io._SNIFF_PREFIX_CHARS - 1:io._SNIFF_PREFIX_CHARS + 1] == "\r\n"
    for d in io.DELIMITERS:
        assert io._first_records(text, d, io._SNIFF_RECORDS + 1) == _whole_text_records(text, d, io._SNIFF_RECORDS + 1)
    assert io.sniff_delimiter(text) == ("," if case == "records_longer_than_the_prefix" else ";")


def test_neighbour_homes_are_the_postcodes_within_the_buffer_outside_the_outline():
    rng = np.random.default_rng(3)
    outline = shapely.Polygon([(0, 0), (1000, 0), (1000, 400), (500, 1000), (0, 800)])
    x = rng.uniform(-3000, 4000, 20_000)
    y = rng.uniform(-3000, 4000, 20_000)
    # points exactly on the widened box's edges and exactly buffer_m from the outline
    x[:4], y[:4] = [-500.0, 1500.0, 0.0, 200.0], [0.0, 0.0, -500.0, 1500.0]
    x[4], y[4] = np.nan, 10.0
    with np.errstate(invalid="ignore"):  # the NaN point
        measured = shapely.dwithin(shapely.points(x, y), outline, 500.0) & ~shapely.contains_xy(outline, x, y)
        got = homes._near_outside(x, y, outline, 500.0)
    assert (got == measured).all() and got[:3].all() and 1000 < got.sum() < 10_000


@pytest.mark.realdata
def test_the_postcode_table_is_parsed_once_for_the_homes_and_the_pcn_comparison(settings, monkeypatch):
    root = settings.resolve_data_root()
    pack = load_pack("london:camden", settings)
    spec = pack.table("postcodes")
    memo.clear()
    parses = []
    real = io.parse_csv_any
    monkeypatch.setattr(io, "parse_csv_any", lambda path, *a, **k: parses.append(path) or real(path, *a, **k))
    try:
        postcodes = homes.load_postcodes(pack, root)
        lad_of = pcn._lad_of_postcode(pack, root)
        assert parses == [spec.resolve(root)]
        # the borough of each postcode as written in the file, first row of each
        as_read = homes.read_postcode_table(pack, root)
        assert lad_of.index.is_unique and len(lad_of) == as_read["postcode"].nunique() > 180_000
        assert lad_of.index.tolist() == as_read["postcode"].drop_duplicates().tolist()
        assert lad_of.loc["NW1 2DB"] == "E09000007" and len(postcodes) > 180_000
    finally:
        memo.clear()
