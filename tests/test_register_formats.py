"""The registers councils actually hold: Excel workbooks, GeoJSON, GeoPackage, semicolon- and
tab-separated CSV, decimal commas, swapped eastings/northings.  Every format gives the same
register as the equivalent comma CSV and the same row accounting (used + rejected = read)."""
from __future__ import annotations

import importlib.util
import re
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from locmap.data.services import build_register, parse_number, read_service_table
from locmap.errors import CRSError, DataFileError, EmptyLayerError

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("fuzz_register", ROOT / "benchmarks" / "fuzz_register.py")
fz = importlib.util.module_from_spec(spec)
sys.modules.setdefault("fuzz_register", fz)
spec.loader.exec_module(fz)

HEADER = ["service_id", "name", "service_type", "postcode", "easting", "northing", "lat", "lon", "capacity"]
ROWS = [
    ["h1", "Jubilee Hub", "childrens_centre", "W5 5JY", "", "", "", "", "30"],
    ["h2", "Acton Hub", "childrens_centre", "", "512500", "177250.5", "", "", ""],
    ["h3", "Northolt Hub", "childrens_centre", "", "", "", "51.47", "-0.33", "12"],
    ["h4", "", "childrens_centre", "W3 6AA", "", "", "", "", ""],            # missing name
    ["", "", "", "", "", "", "", "", ""],                                     # blank row
    ["h5", "Far Hub", "childrens_centre", "EH1 1AA", "", "", "", "", ""],    # outside + buffer
]
TO_BNG = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    d = tmp_path_factory.mktemp("formats")
    a = fz.make_area(d)
    a.gp_csv.write_text(",".join(fz.GP_HEADER) + "\n")  # empty manifest sources: the user file only
    a.schools_csv.write_text(",".join(fz.SCHOOL_HEADER) + "\n")
    a.pack_ = a.pack()
    return a


def _build(area, user, sheet=None):
    reg = build_register(area.pack_, area.dir, fz.OUTLINE, fz.postcode_table(), fz.BUFFER_M,
                         user_csv=user, user_sheet=sheet)
    n = int(reg.accounting.set_index("source_key").loc["user", "read"])
    assert not fz.check_accounting(reg, {"gp": 0, "schools": 0, "user": n})
    return reg


def _user(reg) -> tuple[pd.DataFrame, dict]:
    svc = reg.services.set_index("service_id")[["name", "easting", "northing", "capacity", "location_quality"]]
    rej = reg.rejects[reg.rejects["source_key"] == "user"].set_index("row")["reason"].to_dict()
    return svc.sort_index(), rej


def _write_csv(path: Path, rows, sep=",", first_line: str | None = None) -> Path:
    lines = ([first_line] if first_line else []) + [sep.join(r) for r in [HEADER, *rows]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(area, tmp_path_factory):
    reg = _build(area, _write_csv(tmp_path_factory.mktemp("ref") / "user.csv", ROWS))
    svc, rej = _user(reg)
    assert list(svc.index) == ["h1", "h2", "h3"] and rej == {4: "missing name", 5: "blank row",
                                                           6: "outside study area + buffer"}
    return svc, rej


def _as_excel_value(v: str):
    """What a council's workbook holds: numbers as numbers, blanks empty."""
    if v == "":
        return None
    try:
        return float(v) if "." in v else int(v)
    except ValueError:
        return v


def _workbook(path: Path, sheets: dict[str, list[list]], title_rows: int = 0) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for i in range(title_rows):
            ws.append([f"Family hubs register, title line {i + 1}"])
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


# ------------------------------------------------------------------ Excel
def test_xlsx_with_numbers_and_title_rows_gives_the_same_register_as_csv(area, reference, tmp_path):
    rows = [HEADER] + [[_as_excel_value(v) for v in r] for r in ROWS]
    reg = _build(area, _workbook(tmp_path / "hubs.xlsx", {"Hubs": rows}, title_rows=2))
    svc, rej = _user(reg)
    pd.testing.assert_frame_equal(svc, reference[0])
    assert rej == reference[1]
    assert any("2 row(s) above the header row skipped" in n for n in reg.notes)


def test_xlsx_first_sheet_by_default_and_a_chosen_sheet_by_name_or_position(area, tmp_path):
    other = [HEADER, ["o1", "Other Hub", "childrens_centre", "W3 6AA", None, None, None, None, None]]
    book = _workbook(tmp_path / "two.xlsx", {"Hubs": [HEADER] + [[_as_excel_value(v) for v in r] for r in ROWS],
                                             "Extra sites": other})
    first = _build(area, book)
    assert "h1" in set(first.services["service_id"])
    assert any("read the first sheet 'Hubs' of 2 ('Hubs', 'Extra sites')" in n for n in first.notes)
    for choice in ("Extra sites", 2, "2"):
        reg = _build(area, book, sheet=choice)
        assert list(reg.services["service_id"]) == ["o1"]
    with pytest.raises(DataFileError, match=r"no sheet 'Summary' \(the file has 'Hubs', 'Extra sites'\)"):
        _build(area, book, sheet="Summary")


def test_xlsx_formula_cells_are_never_evaluated(area, tmp_path):
    rows = [HEADER, ["f1", '=HYPERLINK("http://x","y")', "childrens_centre", "W5 5JY"],
            ["f2", "=1+1", "childrens_centre", "W3 6AA"]]
    reg = _build(area, _workbook(tmp_path / "f.xlsx", {"S": rows}))
    # openpyxl saves formulas without a cached result: calamine reads them as blank cells
    assert reg.rejects.set_index("row")["reason"].to_dict() == {1: "missing name", 2: "missing name"}


def test_broken_and_entity_bomb_workbooks_are_clear_errors(area, tmp_path):
    book = _workbook(tmp_path / "ok.xlsx", {"S": [HEADER, ["b1", "Hub", "childrens_centre", "W5 5JY"]]})
    bomb = tmp_path / "bomb.xlsx"
    entities = ('<!DOCTYPE worksheet [<!ENTITY a "AAAAAAAAAA"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
                '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>')
    with zipfile.ZipFile(book) as src, zipfile.ZipFile(bomb, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb"^<\?xml[^>]*\?>", b"", data)
                data = b'<?xml version="1.0"?>' + entities.encode() + data.replace(b"<t>Hub</t>", b"<t>&c;</t>")
            dst.writestr(item, data)
    with pytest.raises(DataFileError, match="cannot read as a workbook: .*entity"):
        _build(area, bomb)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(DataFileError, match="cannot read as a workbook"):
        _build(area, broken)


def test_sheet_choice_for_a_csv_is_refused(area, tmp_path):
    with pytest.raises(DataFileError, match="a sheet or layer .* was chosen, but this is a CSV file"):
        _build(area, _write_csv(tmp_path / "u.csv", ROWS), sheet="Hubs")


# ------------------------------------------------------------------ GeoJSON / GeoPackage
def _features(crs: str) -> gpd.GeoDataFrame:
    e, n = 512_500.0, 177_250.0
    lon, lat = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True).transform(e, n)
    gdf = gpd.GeoDataFrame(
        {"service_id": ["g1", "g2", "g3", "g4", "g5"],
         "name": ["Point Hub", "Site Hub", "Road Hub", "Postcode Hub", "Cluster Hub"],
         "service_type": "childrens_centre", "postcode": [None, None, None, "W5 5JY", None],
         "capacity": [20, None, None, 5, None]},
        geometry=[shapely.Point(e, n), shapely.box(e + 500, n + 500, e + 700, n + 600),
                  shapely.LineString([(e, n), (e + 10, n + 10)]), None,
                  shapely.MultiPoint([(e, n), (e + 900, n + 900)])],
        crs="EPSG:27700")
    assert abs(lat - 51.49) < 0.05
    return gdf.to_crs(crs)


@pytest.mark.parametrize("suffix, crs", [(".geojson", "EPSG:4326"), (".gpkg", "EPSG:3857"), (".gpkg", "EPSG:27700")])
def test_geometry_in_any_crs_locates_services_in_british_national_grid(area, tmp_path, suffix, crs):
    path = tmp_path / f"hubs{suffix}"
    _features(crs).to_file(path, engine="pyogrio")
    reg = _build(area, path)
    svc, rej = _user(reg)
    assert list(svc.index) == ["g1", "g2", "g4"]
    np.testing.assert_allclose(svc.loc["g1", ["easting", "northing"]].astype(float), [512_500, 177_250], atol=0.01)
    assert shapely.box(513_000, 177_750, 513_200, 177_850).contains(shapely.Point(svc.loc["g2", ["easting", "northing"]]))
    assert svc.loc["g1", "location_quality"] == "source geometry" and svc.loc["g1", "capacity"] == 20
    assert svc.loc["g4", "location_quality"] == "postcode centroid"  # no geometry: its postcode
    assert rej == {3: "bad coordinates", 5: "bad coordinates"}
    details = reg.rejects.set_index("row")["detail"]
    assert "geometry is a LineString (expected a point or polygon)" in details[3]
    assert "MultiPoint of several points" in details[5]


def test_geopackage_layer_choice_and_missing_crs(area, tmp_path):
    path = tmp_path / "two.gpkg"
    _features("EPSG:27700").to_file(path, layer="hubs", engine="pyogrio")
    _features("EPSG:27700").iloc[:1].to_file(path, layer="pilot", engine="pyogrio")
    assert len(_build(area, path, sheet="pilot").services) == 1
    assert len(_build(area, path).services) == 3
    nocrs = tmp_path / "nocrs.gpkg"
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        _features("EPSG:27700").set_crs(None, allow_override=True).to_file(nocrs, engine="pyogrio")
    with pytest.raises(CRSError, match="has no coordinate reference system"):
        _build(area, nocrs)


def test_empty_layer_is_an_empty_layer_error_not_a_missing_column(area, tmp_path):
    path = tmp_path / "none.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}')
    with pytest.raises(EmptyLayerError, match="layer 'none' has no features"):
        _build(area, path)


# ------------------------------------------------------------------ delimiters, decimal commas, swaps
@pytest.mark.parametrize("sep, name", [(";", "semicolon ';'"), ("\t", "tab"), ("|", "pipe '|'")])
def test_other_delimiters_are_sniffed_and_said(area, reference, tmp_path, sep, name):
    reg = _build(area, _write_csv(tmp_path / "u.csv", ROWS, sep=sep))
    svc, rej = _user(reg)
    pd.testing.assert_frame_equal(svc, reference[0])
    assert rej == reference[1]
    assert any(f"delimiter {name} (sniffed from the header row)" in n for n in reg.notes)


def test_excel_sep_line_is_honoured(area, reference, tmp_path):
    reg = _build(area, _write_csv(tmp_path / "u.csv", ROWS, sep=";", first_line="sep=;"))
    pd.testing.assert_frame_equal(_user(reg)[0], reference[0])


def test_decimal_commas_in_coordinates_are_rejected_with_the_reason(area, tmp_path):
    rows = [["d1", "Lat Hub", "childrens_centre", "", "", "", "51,47", "-0,33", ""],
            ["d2", "Grid Hub", "childrens_centre", "", "512500,5", "177250", "", "", ""],
            ["d3", "Lat Only", "childrens_centre", "", "", "", "51,470", "-0.33", ""],
            ["d4", "Thousands", "childrens_centre", "", "512,500", "177,250", "", "", "1,200"]]
    reg = _build(area, _write_csv(tmp_path / "u.csv", rows, sep=";"))
    details = reg.rejects.set_index("row")["detail"].to_dict()
    assert set(details) == {1, 2, 3}
    assert "'51,47' looks like a decimal comma (51.47)" in details[1]
    assert "easting '512500,5' looks like a decimal comma (512500.5)" in details[2]
    assert "'51,470' looks like a decimal comma (51.470)" in details[3]
    d4 = reg.services.set_index("service_id").loc["d4"]
    assert (d4["easting"], d4["northing"], d4["capacity"]) == (512_500, 177_250, 1_200)


def test_parse_number_tells_thousands_from_decimal_commas():
    assert parse_number("1,200") == 1200 and parse_number("515,000.5") == 515000.5
    assert "decimal comma (51.5)" in parse_number("51,5")
    assert "is not a number" in parse_number("1,2,3") and np.isnan(parse_number(" "))


def test_swapped_easting_northing_is_rejected_as_swapped(area, tmp_path):
    rows = [["s1", "Swapped Hub", "childrens_centre", "", "177250", "512500", "", "", ""],
            ["s2", "Right Hub", "childrens_centre", "", "512500", "177250", "", "", ""]]
    reg = _build(area, _write_csv(tmp_path / "u.csv", rows))
    r = reg.rejects.set_index("row").loc[1]
    assert r["reason"] == "bad coordinates"
    assert "easting/northing swapped? (177250, 512500)" in r["detail"] and "(512500, 177250) would be inside it" in r["detail"]
    assert list(reg.services["service_id"]) == ["s2"]


def test_non_numeric_capacity_is_left_blank_with_a_note(area, tmp_path):
    rows = [["c1", "Cap Hub", "childrens_centre", "W5 5JY", "", "", "", "", "about 30"]]
    reg = _build(area, _write_csv(tmp_path / "u.csv", rows))
    assert np.isnan(reg.services["capacity"].iloc[0])
    assert any("capacity is not a number in 1 row(s)" in n and "row 1: 'about 30'" in n for n in reg.notes)


def test_read_service_table_reports_what_it_read(tmp_path):
    t = read_service_table(_write_csv(tmp_path / "u.tsv", ROWS, sep="\t"))
    assert t.frame.shape == (len(ROWS), len(HEADER)) and t.notes == ("u.tsv: delimiter tab (sniffed from the header row)",)
