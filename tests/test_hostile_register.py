"""Hostile service registers and CSV tables (property-based, hypothesis).

Drives :func:`locmap.data.services.build_register` directly on a tiny synthetic area (a 10 km
square in EPSG:27700, six postcodes, two manifest sources and a user CSV; built by
``benchmarks/fuzz_register.py``).  The invariants:

* every generated row is used or rejected with a reason: ``used + rejected == read`` in the
  register's ``accounting`` AND ``read`` equals the number of rows this test wrote, and the
  row numbers of services + rejects cover exactly 1..n (independent recount);
* nothing but documented errors (subclasses of :class:`locmap.errors.LocmapError`) escapes;
* located services always have finite National Grid coordinates within the buffer.
"""
from __future__ import annotations

import csv
import importlib.util
import io
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from locmap.data.manifest import load_manifest
from locmap.errors import DataFileError, LocmapError, ManifestError
from locmap.data.io import read_csv_any, to_number, to_numbers
from locmap.data.services import USER_COLUMNS, build_register, normalise_postcode

ROOT = Path(__file__).resolve().parents[1]


def _load_fuzz():
    spec = importlib.util.spec_from_file_location("fuzz_register", ROOT / "benchmarks" / "fuzz_register.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fuzz_register", mod)
    spec.loader.exec_module(mod)
    return mod


fz = _load_fuzz()
SETTINGS = settings(max_examples=20, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def area():
    with tempfile.TemporaryDirectory() as d:
        a = fz.make_area(Path(d))
        a.pack_ = a.pack()
        yield a


def _empty(path: Path, header) -> None:
    path.write_text(",".join(header) + "\n", encoding="utf-8")


def _build(area, user=False):
    try:
        return fz.build(area, user=user, pack=area.pack_)
    except LocmapError as exc:
        assert "row accounting failed" not in str(exc), f"silent drop: {exc}"
        raise


def _assert_accounted(reg, expected: dict[str, int]) -> None:
    problems = fz.check_accounting(reg, expected)
    assert not problems, problems
    acct = reg.accounting.set_index("source_key")
    assert (acct["used"] + acct["rejected"] == acct["read"]).all()
    assert acct["accounted"].all()
    loc = reg.services[reg.services["located"]]
    assert np.isfinite(loc[["easting", "northing"]].to_numpy()).all()
    assert ((loc["easting"] > 0) & (loc["easting"] < 700_000) & (loc["northing"] > 0)
            & (loc["northing"] < 1_300_000)).all()
    d = loc.geometry.distance(fz.OUTLINE)
    assert (d <= fz.BUFFER_M + 1e-6).all()
    assert reg.services["service_id"].is_unique
    r = reg.rejects
    assert r[["file", "row", "reason"]].notna().all().all() and (r["row"] >= 1).all()


# ---------------------------------------------------------------- strategies
hostile = st.sampled_from(fz.HOSTILE_TEXT)
numbers = st.sampled_from(fz.NUMBERS)
any_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
cell = st.one_of(hostile, numbers, any_text, st.sampled_from(fz.POSTCODE_VALUES))
postcode = st.one_of(st.sampled_from(fz.POSTCODE_VALUES), any_text)
easting = st.one_of(numbers, st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.integers(-10**30, 10**30).map(str), st.floats(500_000, 530_000).map(lambda v: f"{v:.1f}"))
northing = st.one_of(numbers, st.floats(allow_nan=True, allow_infinity=True).map(repr),
                     st.floats(160_000, 190_000).map(lambda v: f"{v:.1f}"))
degrees = st.one_of(st.floats(-1.0, 1.0).map(repr), st.floats(50.0, 53.0).map(repr), numbers)
ids = st.one_of(st.sampled_from(["G001", "G002", "G003", "", " G001 "]), hostile)
names = st.one_of(st.sampled_from(["Elm Surgery", "The Elm Surgery Ltd", "Oak Practice"]), hostile, any_text)

gp_row = st.lists(st.none() | st.tuples(
    ids, names, postcode, easting, northing,
    st.sampled_from(["A", "C", "", "P", "x"]) | hostile, numbers,
    st.sampled_from(["", "Y", "N", "true"]) | hostile, st.sampled_from(["", fz.LAD_CD]) | hostile,
).map(list), max_size=20)
school_row = st.lists(st.none() | st.tuples(
    st.sampled_from(["100001", "100002", ""]) | hostile, names | st.sampled_from(["Elm Primary", "Oak Academy"]),
    postcode, degrees, degrees,
    st.sampled_from(["Primary", "Secondary", "All-through", "", "Nursery"]) | hostile, numbers,
).map(list), max_size=20)
user_row = st.lists(st.none() | st.fixed_dictionaries({
    "service_id": st.sampled_from(["", "gp:G001", "gp:G002", "schools:100001", "gp:row1", "x"]) | hostile,
    "name": names | st.just(""),
    "service_type": st.sampled_from(["childrens_centre", "gp_practice", "library", ""]) | hostile,
    "subtype": cell, "address": cell, "postcode": postcode,
    "easting": easting | st.just(""), "northing": northing | st.just(""),
    "lat": degrees | st.just(""), "lon": degrees | st.just(""),
    "capacity": numbers, "status": st.sampled_from(["", "open", "closed", "C"]) | hostile,
    "action": st.sampled_from(["", "add", "replace", "remove", "REMOVE", " replace ", "delete"]) | hostile,
}).map(lambda d: [d[c] for c in USER_COLUMNS]), max_size=15)
encoding = st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "latin-1"])


# ---------------------------------------------------------------- accounting properties
@SETTINGS
@given(rows=gp_row, seed=st.integers(0, 2**32 - 1))
def test_gp_source_every_row_used_or_rejected(area, rows, seed):
    w = fz.write_hostile_csv(area.gp_csv, fz.GP_HEADER, rows, random.Random(seed))
    _empty(area.schools_csv, fz.SCHOOL_HEADER)
    try:
        reg = _build(area)
    except LocmapError:
        return  # documented error (e.g. unparseable CSV): allowed, never a crash
    _assert_accounted(reg, {"gp": w.n_rows, "schools": 0})
    # rows that become services keep their type; closed rows never become services
    assert set(reg.services["service_type"]) <= {"gp_practice"}


@SETTINGS
@given(rows=school_row, seed=st.integers(0, 2**32 - 1))
def test_school_source_multi_type_rows_accounted(area, rows, seed):
    _empty(area.gp_csv, fz.GP_HEADER)
    w = fz.write_hostile_csv(area.schools_csv, fz.SCHOOL_HEADER, rows, random.Random(seed))
    try:
        reg = _build(area)
    except LocmapError:
        return
    _assert_accounted(reg, {"gp": 0, "schools": w.n_rows})


@SETTINGS
@given(gp=gp_row, user=user_row, seed=st.integers(0, 2**32 - 1))
def test_user_csv_add_replace_remove_accounted(area, gp, user, seed):
    rng = random.Random(seed)
    wg = fz.write_hostile_csv(area.gp_csv, fz.GP_HEADER, gp, rng)
    _empty(area.schools_csv, fz.SCHOOL_HEADER)
    wu = fz.write_hostile_csv(area.user_csv, USER_COLUMNS, user, rng)
    try:
        reg = _build(area, user=True)
    except LocmapError:
        return
    _assert_accounted(reg, {"gp": wg.n_rows, "schools": 0, "user": wu.n_rows})


@settings(max_examples=30, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**63))
def test_random_fuzz_registers_accounted(area, seed):
    """The fuzz generator's full registers (3 files) under hypothesis' seeds."""
    o = fz.run_one(area, random.Random(seed), pack=area.pack_)
    assert o.crash is None, o.crash
    assert not o.silent, o.silent


# ---------------------------------------------------------------- targeted hostile values
def _gp(area, rows, encoding="utf-8", header=fz.GP_HEADER, trailing=""):
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerow(header)
    for r in rows:
        line = io.StringIO()
        csv.writer(line, lineterminator="\r\n").writerow(r)  # quotes fields holding \r or \n
        text.write(line.getvalue()[:-2] + trailing + "\n")
    area.gp_csv.write_bytes(text.getvalue().encode(encoding))
    _empty(area.schools_csv, fz.SCHOOL_HEADER)
    reg = _build(area)
    _assert_accounted(reg, {"gp": len(rows), "schools": 0})
    return reg


def row(code="G001", name="Elm Surgery", pc="", e="", n="", status="A", cap="", special="", lad=""):
    return [code, name, pc, e, n, status, cap, special, lad]


def _reason(reg, r=1):
    x = reg.rejects[(reg.rejects["source_key"] == "gp") & (reg.rejects["row"] == r)]
    assert len(x) == 1, reg.rejects
    return x["reason"].iloc[0], x["detail"].iloc[0]


@SETTINGS
@given(e=st.floats(510_000, 520_000), n=st.floats(170_000, 180_000))
def test_swapped_easting_northing_is_rejected_with_reason(area, e, n):
    """Swapped London coordinates are still valid National Grid numbers (a point in the
    Irish Sea area), so they are caught either as 'swapped' or as outside the study area."""
    reg = _gp(area, [row(e=f"{n:.1f}", n=f"{e:.1f}")])
    reason, detail = _reason(reg)
    assert (reason, "swapped" in detail) in (("bad coordinates", True), ("outside study area + buffer", False))
    reg = _gp(area, [row(e=f"{n * 5:.1f}", n=f"{e:.1f}")])  # easting beyond 700 km: detectably swapped
    assert _reason(reg)[0] == "bad coordinates" and "swapped" in _reason(reg)[1]


@SETTINGS
@given(lat=st.floats(51.45, 51.6), lon=st.floats(-0.45, -0.2), swap=st.booleans())
def test_degrees_in_metre_columns_are_rejected_with_reason(area, lat, lon, swap):
    e, n = (lon, lat) if swap else (lat, lon)
    reg = _gp(area, [row(e=repr(e), n=repr(n))])
    reason, detail = _reason(reg)
    assert reason == "bad coordinates" and "degrees" in detail


@SETTINGS
@given(lat=st.floats(51.45, 51.6), lon=st.floats(-0.45, -0.2))
def test_swapped_lat_lon_is_rejected_and_right_order_is_located(area, lat, lon):
    _empty(area.gp_csv, fz.GP_HEADER)
    area.schools_csv.write_text("urn,name,pc,lat,lon,phase,cap\n"
                                f"1,Elm Primary,,{lon!r},{lat!r},Primary,\n"
                                f"2,Oak Primary,,{lat!r},{lon!r},Primary,\n", encoding="utf-8")
    reg = _build(area)
    _assert_accounted(reg, {"gp": 0, "schools": 2})
    rej = reg.rejects.set_index("row")
    assert "swapped" in rej.loc[1, "detail"]
    s = reg.services
    if len(s):  # inside the square + buffer: located from lat/lon
        assert (s["location_quality"] == "source lat/lon").all() and (s["source_row"] == 2).all()
    else:
        assert rej.loc[2, "reason"] == "outside study area + buffer"


@SETTINGS
@given(value=st.sampled_from(["NaN", "nan", "inf", "-inf", "Infinity", "1e400", "9" * 400, "abc", "0x10",
                               "1e308", "-515000"]) | st.text(max_size=12).filter(lambda t: t.strip() != ""),
       which=st.sampled_from(["e", "n"]))
def test_non_finite_or_garbage_coordinates_never_locate(area, value, which):
    kw = {"e": "515000", "n": "175000"}
    kw[which] = value
    reg = _gp(area, [row(pc="W5 5JY", **kw)])
    if len(reg.services):  # the value parsed as a valid, finite BNG number
        f = float(value.replace(",", ""))
        assert np.isfinite(f) and 0 < f < 1_300_000
    else:
        assert _reason(reg)[0] in ("bad coordinates", "outside study area + buffer")


@SETTINGS
@given(pc=st.sampled_from(["W5 5JY", "W3 6AA", "UB1 1AA"]), data=st.data())
def test_known_postcode_in_any_spacing_or_case_is_located(area, pc, data):
    compact = pc.replace(" ", "")
    spaced = data.draw(st.sampled_from([pc, compact, pc.lower(), f"  {pc}  ", compact.lower(), pc.replace(" ", "   ")]))
    reg = _gp(area, [row(pc=spaced)])
    s = reg.services.iloc[0]
    assert s["postcode"] == pc and s["location_quality"] == "postcode centroid"
    assert (s["easting"], s["northing"]) == fz.POSTCODES[pc][:2]


@SETTINGS
@given(pc=st.text(max_size=12))
def test_any_postcode_text_is_located_or_rejected_with_reason(area, pc):
    reg = _gp(area, [row(pc=pc)])
    norm = normalise_postcode(pc)
    if len(reg.services):
        s = reg.services.iloc[0]
        assert (norm in fz.POSTCODES and s["located"]) or (norm is None and not s["located"])
    else:
        assert _reason(reg)[0] in ("bad postcode", "unknown postcode", "outside study area + buffer")


def test_unknown_and_malformed_postcodes_have_distinct_reasons(area):
    reg = _gp(area, [row(code="G1", pc="ZZ9 9ZZ"), row(code="G2", pc="12345"), row(code="G3", pc="EH1 1AA")])
    assert [_reason(reg, i)[0] for i in (1, 2, 3)] == ["unknown postcode", "bad postcode",
                                                      "outside study area + buffer"]


@SETTINGS
@given(name=st.text(st.characters(codec="cp1252", blacklist_characters="\x00\r\n"), min_size=1, max_size=40)
       .filter(lambda t: t.strip() != ""), enc=encoding)
def test_names_survive_every_encoding_byte_for_byte(area, name, enc):
    reg = _gp(area, [row(name=name, pc="W5 5JY")], encoding=enc)
    assert reg.services["name"].iloc[0] == name.strip()


@SETTINGS
@given(name=st.sampled_from(['<script>alert("x")</script>', 'A "quoted", name', "two\nlines", "cr\r\nlf",
                             "<img src=x onerror=alert(1)>", "=1+1", "tab\there"]))
def test_html_quotes_newlines_kept_verbatim_in_the_register(area, name):
    """The register keeps text as given; escaping is the maps' job (locmap.maps.web.safe_text)."""
    reg = _gp(area, [row(name=name, pc="W5 5JY"), row(code="G2", name="Oak", pc="W3 6AA")])
    assert reg.services.set_index("source_row").loc[1, "name"] == name.strip()


def test_duplicate_ids_blank_rows_and_closed_rows(area):
    area.gp_csv.write_text("code,Practice Name,Postcode,E,N,status,list_size,special,lad\n"
                           "G001,Elm Surgery,W5 5JY,,,A,,,\n"
                           "\n"
                           ",,,,,,,,\n"
                           "G001,Elm Surgery (copy),W3 6AA,,,A,,,\n"
                           "G002,The Elm Surgery Ltd,W7 1AA,,,A,,,\n"
                           "G003,Oak,W5 5JY,,,C,,,\n"
                           "G004,Care home service,W5 5JY,,,A,,Y,\n"
                           "G005,,W5 5JY,,,A,,,\n", encoding="utf-8")
    _empty(area.schools_csv, fz.SCHOOL_HEADER)
    reg = _build(area)
    _assert_accounted(reg, {"gp": 8, "schools": 0})
    reasons = reg.rejects.set_index("row")["reason"].to_dict()
    assert reasons == {2: "blank row", 3: "blank row", 4: "duplicate", 5: "duplicate", 6: "closed",
                       7: "excluded", 8: "missing name"}
    assert list(reg.services["source_row"]) == [1]


def test_trailing_delimiter_on_every_row_does_not_shift_columns(area):
    """Regression: pandas used the first column as the index when every data row had one
    extra (empty) field, shifting every value one column to the left."""
    reg = _gp(area, [row(code="G1", name="Elm Surgery", pc="W5 5JY"), row(code="G2", name="Oak", pc="W3 6AA")],
              trailing=",")
    assert sorted(reg.services["name"]) == ["Elm Surgery", "Oak"]
    assert sorted(reg.services["service_id"]) == ["gp:G1", "gp:G2"]


def test_trailing_delimiter_on_some_rows_only_or_after_a_blank_row(area):
    """pandas refuses these ("Expected 9 fields in line 3, saw 10"); a blank extra field loses nothing."""
    header = ",".join(fz.GP_HEADER)
    area.gp_csv.write_text(f"{header}\nG1,Elm,W5 5JY,,,A,,,\n\nG2,Oak,W3 6AA,,,A,,,,\nG3,Ash,W3 6AA,,,A,,,\n",
                           encoding="utf-8")
    _empty(area.schools_csv, fz.SCHOOL_HEADER)
    reg = _build(area)
    _assert_accounted(reg, {"gp": 4, "schools": 0})
    assert sorted(reg.services["name"]) == ["Ash", "Elm", "Oak"] and _reason(reg, 2)[0] == "blank row"
    area.gp_csv.write_text(f"{header}\nG1,Elm,W5 5JY,,,A,,,\nG2,Oak,W3 6AA,,,A,,,,LOST\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"gp.csv, row 2: more fields than the header"):
        _build(area)


def test_values_beyond_the_header_are_an_error_naming_the_row(area):
    area.gp_csv.write_text("code,Practice Name,Postcode,E,N,status,list_size,special,lad\n"
                           "G1,Elm,W5 5JY,,,A,,,,LOST\nG2,Oak,W5 5JY,,,A,,,,LOST\n", encoding="utf-8")
    _empty(area.schools_csv, fz.SCHOOL_HEADER)
    with pytest.raises(DataFileError, match=r"gp.csv, row 1: more fields than the header"):
        _build(area)


def test_column_names_duplicated_after_stripping_do_not_crash(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("name, name ,\ufeffname\na,b,c\n", encoding="utf-8")
    df, _ = read_csv_any(p)
    assert list(df.columns) == ["name", "name.1", "name.2"] and df.iloc[0].tolist() == ["a", "b", "c"]


def test_utf16_and_bom_with_cp1252_body(tmp_path):
    p = tmp_path / "u.csv"
    p.write_bytes("name,postcode\nZoë,W5 5JY\n".encode("utf-16"))
    df, enc = read_csv_any(p)
    assert enc == "utf-16" and df["name"].iloc[0] == "Zoë"
    p.write_bytes(b"\xef\xbb\xbf" + "name,postcode\nCaf\u00e9 \u20ac,W5 5JY\n".encode("cp1252"))
    df, enc = read_csv_any(p)
    assert enc == "cp1252" and list(df.columns) == ["name", "postcode"] and df["name"].iloc[0] == "Caf\u00e9 \u20ac"


def test_replace_without_service_id_is_rejected_not_a_crash(area):
    """Regression: a user 'replace' row with a blank service_id raised TypeError."""
    _gp(area, [row(pc="W5 5JY")])
    pd.DataFrame([{"service_id": "", "name": "X", "service_type": "gp_practice", "postcode": "W5 5JY",
                   "action": "replace"}], columns=USER_COLUMNS).to_csv(area.user_csv, index=False)
    reg = _build(area, user=True)
    _assert_accounted(reg, {"gp": 1, "schools": 0, "user": 1})
    r = reg.rejects[reg.rejects["source_key"] == "user"]
    assert r["reason"].tolist() == ["unknown service_id"]


def test_user_add_replace_remove_semantics(area):
    _gp(area, [row(code="G1", pc="W5 5JY"), row(code="G2", name="Oak", pc="W3 6AA"),
               row(code="G3", name="Ash", pc="UB1 1AA")])
    pd.DataFrame([
        {"service_id": "hub-1", "name": "Jubilee Hub", "service_type": "childrens_centre", "postcode": "W5 5JY"},
        {"service_id": "gp:G1", "name": "Elm Surgery (moved)", "service_type": "gp_practice",
         "easting": "512500", "northing": "177500", "action": "replace"},
        {"service_id": "gp:G2", "action": "remove"},
        {"service_id": "gp:G9", "action": "remove"},
        {"service_id": "hub-2", "name": "Bad", "service_type": "childrens_centre", "action": "delete"},
    ], columns=USER_COLUMNS).to_csv(area.user_csv, index=False)
    reg = _build(area, user=True)
    _assert_accounted(reg, {"gp": 3, "schools": 0, "user": 5})
    s = reg.services.set_index("service_id")
    assert sorted(s.index) == ["gp:G1", "gp:G3", "hub-1"]
    assert s.loc["gp:G1", "name"] == "Elm Surgery (moved)" and s.loc["gp:G1", "easting"] == 512500
    rej = reg.rejects
    assert set(rej.loc[rej["source_key"] == "gp", "reason"]) == {"replaced by user file", "removed by user file"}
    assert rej.loc[rej["source_key"] == "user", "reason"].tolist() == ["bad action", "unknown service_id"] or \
        sorted(rej.loc[rej["source_key"] == "user", "reason"]) == ["bad action", "unknown service_id"]
    acct = reg.accounting.set_index("source_key")
    assert acct.loc["user", "used"] == 3 and acct.loc["user", "rejected"] == 2


def test_postcode_table_with_duplicates_and_missing_coordinates(area):
    _gp(area, [row(pc="W5 5JY")])  # writes the files
    pcs = fz.postcode_table()
    pcs = pd.concat([pcs, pcs.loc[["W5 5JY"]].assign(easting=1.0)])
    pcs.loc["ZZ1 1ZZ"] = [np.nan, np.nan, fz.LAD_CD]
    area.gp_csv.write_text("code,Practice Name,Postcode\nG1,Elm,W5 5JY\nG2,Oak,ZZ1 1ZZ\n", encoding="utf-8")
    reg = build_register(area.pack_, area.dir, fz.OUTLINE, pcs, fz.BUFFER_M)
    _assert_accounted(reg, {"gp": 2, "schools": 0})
    assert reg.services["easting"].tolist() == [515_000.0]  # first row of the duplicated postcode
    assert _reason(reg, 2) == ("unknown postcode", "Oak: unknown postcode: ZZ1 1ZZ has no coordinates "
                                                   "in the postcode table")


def test_duplicate_source_keys_are_a_manifest_error(area, tmp_path):
    text = area.manifest.read_text().replace('key = "schools"', 'key = "gp"')
    m = tmp_path / "dup.toml"
    m.write_text(text)
    with pytest.raises(ManifestError, match=r"keys must be unique.*\['gp'\]"):
        build_register(load_manifest(m), area.dir, fz.OUTLINE, fz.postcode_table(), fz.BUFFER_M)


def test_missing_name_column_and_empty_file_are_documented_errors(area):
    area.gp_csv.write_text("code,Postcode\nG1,W5 5JY\n", encoding="utf-8")
    _empty(area.schools_csv, fz.SCHOOL_HEADER)
    with pytest.raises(DataFileError, match="required column 'Practice Name' is missing"):
        _build(area)
    area.gp_csv.write_bytes(b"")
    with pytest.raises(DataFileError, match="gp.csv: file is empty"):
        _build(area)


# ---------------------------------------------------------------- area (table) loaders
table_cell = st.text(st.characters(codec="cp1252", blacklist_characters="\x00"), max_size=15)


@SETTINGS
@given(rows=st.lists(st.lists(table_cell, min_size=3, max_size=3), max_size=12), enc=encoding,
       eol=st.sampled_from(["\n", "\r\n"]), quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
def test_read_csv_any_round_trips_every_cell(tmp_path, rows, enc, eol, quoting):
    buf = io.StringIO()
    for r in [["a", "b", "c"], *rows]:
        line = io.StringIO()
        csv.writer(line, lineterminator="\r\n", quoting=quoting).writerow(r)  # quotes \r, \n
        buf.write(line.getvalue()[:-2] + eol)
    p = tmp_path / "t.csv"
    try:
        p.write_bytes(buf.getvalue().encode(enc))
    except UnicodeEncodeError:
        assume(False)
    df, used = read_csv_any(p)
    assert len(df) == len(rows)
    assert list(df.columns) == ["a", "b", "c"]
    got = df.where(df.notna(), "").to_numpy().tolist()
    # the only change: text in quoted fields keeps \r\n or \n as written; blank cells -> NaN
    assert got == [[v for v in r] for r in rows]


@SETTINGS
@given(vals=st.lists(st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
                               st.integers(-10**9, 10**9).map(lambda i: f"{i:,}"), st.just("")), max_size=8),
       bad=st.sampled_from(["abc", "1.2.3", "--5", "five"]), pos=st.integers(0, 8))
def test_to_number_names_the_first_bad_row(vals, bad, pos):
    s = pd.Series(vals, dtype=object)
    ok = to_number(s.where(s != "", None), "t.csv", "x")
    assert ok.isna().sum() == sum(v == "" for v in vals)
    pos = min(pos, len(vals))
    s2 = pd.Series(vals[:pos] + [bad] + vals[pos:], dtype=object)
    with pytest.raises(DataFileError, match=rf"t.csv, row {pos + 1}, column 'x': not a number"):
        to_number(s2, "t.csv", "x")


@SETTINGS
@given(cols=st.lists(st.lists(st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
                                        st.integers(-10**9, 10**9).map(lambda i: f"{i:,}"), st.just("")),
                              min_size=3, max_size=3), min_size=1, max_size=4),
       bad=st.sampled_from(["abc", "1.2.3", "--5", "five"]), where=st.tuples(st.integers(0, 3), st.integers(0, 2)))
def test_columns_converted_together_equal_one_at_a_time_and_name_the_same_bad_cell(cols, bad, where):
    """``to_numbers`` (a population table's single-year columns in one pass) gives each column's
    ``to_number`` and, for a bad cell, the error of the first bad column in the order asked."""
    df = pd.DataFrame({f"age_{i:02d}": pd.Series(c, dtype=object).where(pd.Series(c) != "", None)
                       for i, c in enumerate(cols)}, index=pd.RangeIndex(10, 13))
    names = list(df.columns)
    together = to_numbers(df, names, "t.csv")
    for c in names:
        pd.testing.assert_series_equal(together[c], to_number(df[c], "t.csv", c), check_names=False)
    col, row = names[min(where[0], len(names) - 1)], where[1]
    df.loc[df.index[row], col] = bad
    with pytest.raises(DataFileError) as one:
        for c in names:
            to_number(df[c], "t.csv", c)
    with pytest.raises(DataFileError) as both:
        to_numbers(df, names, "t.csv")
    assert str(both.value) == str(one.value) and f"row {row + 1}, column '{col}'" in str(both.value)
