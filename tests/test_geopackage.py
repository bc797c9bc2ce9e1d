"""GeoPackages QGIS opens styled and older GDALs read quietly: version 1.2, a ``layer_styles`` table
with one QML and SLD per layer in the maps' colours; checked with Debian's ``ogrinfo`` (GDAL 3.6)."""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
import xml.etree.ElementTree as ET

import geopandas as gpd
import numpy as np
import pytest
import shapely

from locmap import api, export, geopackage
from locmap.maps import web

OGRINFO = shutil.which("ogrinfo")
needs_ogrinfo = pytest.mark.skipif(OGRINFO is None, reason="ogrinfo (Debian gdal-bin) not installed: make system-packages")


def _homes() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"home_id": ["a", "b", "c", "d", "e"],
                             "minutes__gp_practice": [3.0, 12.5, 17.0, 25.0, np.nan],
                             "minutes__any_key_service": [1.0, 2.0, 3.0, 4.0, 5.0]},
                            geometry=[shapely.Point(515000 + i * 10, 180000) for i in range(5)], crs="EPSG:27700")


def _gaps() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"service_type": ["childrens_centre"], "threshold_minutes": [15.0]},
                            geometry=[shapely.box(515000, 180000, 515500, 180500)], crs="EPSG:27700")


def _sql(path, query):
    with sqlite3.connect(path) as con:
        return con.execute(query).fetchall()


def test_geopackages_are_version_1_2_unless_asked_otherwise(tmp_path):
    a = geopackage.write_styled_gpkg({"homes_access": _homes()}, tmp_path / "a.gpkg")
    b = export.write_gpkg({"gaps": _gaps()}, tmp_path / "b.gpkg")
    c = geopackage.write_styled_gpkg({"gaps": _gaps()}, tmp_path / "c.gpkg", version="1.4")
    assert [_sql(p, "PRAGMA user_version")[0][0] for p in (a, b, c)] == [10200, 10200, 10400]
    assert _sql(a, "PRAGMA application_id")[0][0] == 0x47504B47  # "GPKG"


def test_layer_styles_table_follows_the_qgis_convention(tmp_path):
    p = geopackage.write_styled_gpkg({"homes_access": _homes()}, tmp_path / "h.gpkg")
    cols = [r[1] for r in _sql(p, "PRAGMA table_info(layer_styles)")]
    assert cols == ["id"] + geopackage.STYLE_COLUMNS
    rows = _sql(p, "SELECT f_table_name, f_geometry_column, styleName, useAsDefault, update_time "
                   "FROM layer_styles ORDER BY id")
    assert rows == [("homes_access", "geom", "minutes to GP practice", 0, "2000-01-01T00:00:00.000"),
                    ("homes_access", "geom", "minutes to Any key service", 1, "2000-01-01T00:00:00.000")]
    assert _sql(p, "SELECT data_type FROM gpkg_contents WHERE table_name = 'layer_styles'") == [("attributes",)]


def test_access_style_uses_the_maps_bands_and_colours(tmp_path):
    qml = ET.fromstring(geopackage.access_qml("minutes__gp_practice").split("\n", 1)[1])
    rules = qml.findall("./renderer-v2/rules/rule")
    assert [r.get("label") for r in rules] == [b[2] for b in web.ACCESS_BANDS] + ["No reachable service"]
    assert rules[1].get("filter") == '"minutes__gp_practice" >= 10 AND "minutes__gp_practice" < 15'
    assert rules[3].get("filter") == '"minutes__gp_practice" >= 20' and rules[4].get("filter") == "ELSE"
    colours = [s.find(".//Option[@name='color']").get("value") for s in qml.findall("./renderer-v2/symbols/symbol")]
    alpha = str(round(255 * web.HOMES_FILL_OPACITY))
    expected = [b[3] for b in web.ACCESS_BANDS] + [web.NO_ACCESS_COLOUR]
    assert colours == [",".join([str(int(h[i:i + 2], 16)) for i in (1, 3, 5)] + [alpha]) for h in expected]
    sld = ET.fromstring(geopackage.access_sld("homes_access", "minutes__gp_practice").encode())
    ns = {"sld": geopackage.SLD_NS, "ogc": geopackage.OGC_NS}
    fills = [c.text for c in sld.iterfind(".//sld:Fill/sld:CssParameter[@name='fill']", ns)]
    assert fills == expected
    assert sld.find(".//sld:Rule[5]/sld:ElseFilter", ns) is not None


def test_gap_style_uses_the_maps_gap_colour_and_opacity():
    qml = ET.fromstring(geopackage.gaps_qml().split("\n", 1)[1])
    opts = {o.get("name"): o.get("value") for o in qml.iter("Option") if o.get("name")}
    r, g, b = (int(web.GAP_COLOUR[i:i + 2], 16) for i in (1, 3, 5))
    assert opts["color"] == f"{r},{g},{b},{round(255 * web.GAP_FILL_OPACITY)}"
    assert opts["outline_style"] == "dash"


def test_a_column_name_with_quotes_stays_quoted_in_the_qgis_filter():
    qml = geopackage.access_qml('minutes__a"b<c')
    rule = ET.fromstring(qml.split("\n", 1)[1]).find("./renderer-v2/rules/rule")
    assert rule.get("filter") == '"minutes__a""b<c" >= 0 AND "minutes__a""b<c" < 10'


def test_same_layers_give_the_same_bytes(tmp_path):
    a = geopackage.write_styled_gpkg({"homes_access": _homes()}, tmp_path / "a.gpkg")
    b = geopackage.write_styled_gpkg({"homes_access": _homes()}, tmp_path / "b.gpkg")
    assert a.read_bytes() == b.read_bytes()


@needs_ogrinfo
def test_ogrinfo_reads_styled_geopackages_without_a_warning_and_lists_the_styles(tmp_path):
    p = geopackage.write_styled_gpkg({"homes_access": _homes()}, tmp_path / "h.gpkg")
    proc = subprocess.run([OGRINFO, str(p)], capture_output=True, text=True, check=True)
    assert "Warning" not in proc.stdout + proc.stderr and proc.stderr == ""
    assert "1: homes_access (Point)" in proc.stdout and "2: layer_styles (None)" in proc.stdout


@needs_ogrinfo
def test_gdal_default_1_4_is_what_made_old_gdal_warn(tmp_path):
    p = geopackage.write_styled_gpkg({"gaps": _gaps()}, tmp_path / "old.gpkg", version=None)
    proc = subprocess.run([OGRINFO, str(p)], capture_output=True, text=True, check=True)
    version = subprocess.run([OGRINFO, "--version"], capture_output=True, text=True).stdout
    if version.startswith("GDAL 3.6"):
        assert "may only be partially supported" in proc.stderr


@needs_ogrinfo
@pytest.mark.realdata
def test_every_geopackage_of_the_ealing_access_step_opens_in_ogrinfo_without_warnings(ealing, tmp_path):
    access = api.analyse_access(ealing, fca=False)
    access.write(tmp_path / "access", "csv", ealing.name)
    gpkgs = sorted((tmp_path / "access").glob("*.gpkg"))
    assert [p.name for p in gpkgs] == ["gaps.gpkg", "homes_access.gpkg"]
    for p in gpkgs:
        proc = subprocess.run([OGRINFO, "-so", "-al", str(p)], capture_output=True, text=True, check=True)
        assert proc.stderr == "", (p.name, proc.stderr)
        assert "Layer name: layer_styles" in proc.stdout
        assert _sql(p, "PRAGMA user_version")[0][0] == 10200
    n_styles = _sql(tmp_path / "access" / "homes_access.gpkg", "SELECT count(*), sum(useAsDefault) FROM layer_styles")
    n_minutes = sum(c.startswith("minutes__") for c in access.result.wide.columns)
    assert n_styles == [(n_minutes, 1)] and n_minutes == 10
