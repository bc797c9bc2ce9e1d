"""Loader error paths on small synthetic fixtures: each error names the file, row/feature and reason."""
from __future__ import annotations

import warnings

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from locmap.errors import (CRSError, DataFileError, DataRootNotFoundError, DuplicateIdError, EmptyLayerError,
                           GeometryError, ManifestError, MissingColumnError)
from locmap.data.io import read_csv_any, read_layer
from locmap.data.manifest import LayerSpec, load_manifest
from locmap.settings import Settings

warnings.filterwarnings("ignore", message=".crs. was not provided")


def _square(x, y, s=100.0):
    return shapely.box(x, y, x + s, y + s)


def _write(tmp_path: Path, name: str, gdf: gpd.GeoDataFrame) -> Path:
    p = tmp_path / name
    gdf.to_file(p, driver="GeoJSON" if name.endswith("json") else "GPKG")
    return p


def spec(path, crs=None, **cols):
    return LayerSpec(key="t", path=str(path), columns=cols or {"ward_cd": "code", "ward_nm": "name"}, crs=crs)


def test_layer_is_reprojected_to_british_national_grid(tmp_path):
    g = gpd.GeoDataFrame({"code": ["A"], "name": ["a"]}, geometry=[shapely.box(-0.31, 51.51, -0.30, 51.52)], crs=4326)
    p = _write(tmp_path, "w.geojson", g)
    out, notes = read_layer(spec(p, "EPSG:4326"), tmp_path, required=("ward_cd",), id_col="ward_cd")
    assert out.crs.to_epsg() == 27700
    assert 517_000 < out.geometry.iloc[0].centroid.x < 518_500  # lon -0.305 in BNG
    assert notes == []


def test_missing_column_error_names_column_and_file(tmp_path):
    g = gpd.GeoDataFrame({"code": ["A"]}, geometry=[_square(515000, 180000)], crs=27700)
    p = _write(tmp_path, "w.gpkg", g)
    with pytest.raises(MissingColumnError) as e:
        read_layer(spec(p, "EPSG:27700"), tmp_path, required=("ward_cd", "ward_nm"))
    assert "'name'" in str(e.value) and "w.gpkg" in str(e.value)


def test_empty_layer_is_an_error(tmp_path):
    g = gpd.GeoDataFrame({"code": [], "name": []}, geometry=[], crs=27700)
    p = _write(tmp_path, "w.gpkg", g)
    with pytest.raises(EmptyLayerError, match="w.gpkg"):
        read_layer(spec(p, "EPSG:27700"), tmp_path)


def test_duplicate_ids_are_an_error_naming_ids_and_rows(tmp_path):
    g = gpd.GeoDataFrame({"code": ["A", "B", "A"], "name": list("abc")},
                         geometry=[_square(515000 + i * 100, 180000) for i in range(3)], crs=27700)
    p = _write(tmp_path, "w.gpkg", g)
    with pytest.raises(DuplicateIdError) as e:
        read_layer(spec(p, "EPSG:27700"), tmp_path, id_col="ward_cd")
    assert "'A'" in str(e.value) and "rows [1, 3]" in str(e.value)


def test_self_intersecting_polygon_is_repaired_and_reported(tmp_path):
    bowtie = shapely.Polygon([(515000, 180000), (515100, 180100), (515100, 180000), (515000, 180100)])
    assert not bowtie.is_valid
    g = gpd.GeoDataFrame({"code": ["A", "B"], "name": ["a", "b"]}, geometry=[bowtie, _square(516000, 180000)], crs=27700)
    p = _write(tmp_path, "w.gpkg", g)
    out, notes = read_layer(spec(p, "EPSG:27700"), tmp_path, id_col="ward_cd")
    assert out.geometry.is_valid.all()
    assert out.geometry.iloc[0].area == pytest.approx(5000.0)  # two triangles of 2,500 m²
    assert len(notes) == 1 and "feature 1 (ward_cd=A)" in notes[0] and "Self-intersection" in notes[0]


def test_empty_geometry_is_rejected_naming_the_feature(tmp_path):
    g = gpd.GeoDataFrame({"code": ["A", "B"], "name": ["a", "b"]}, geometry=[_square(515000, 180000), None], crs=27700)
    p = _write(tmp_path, "w.gpkg", g)
    with pytest.raises(GeometryError, match=r"feature 2 \(ward_cd=B\)"):
        read_layer(spec(p, "EPSG:27700"), tmp_path, id_col="ward_cd")


def test_metres_labelled_as_degrees_is_a_crs_error(tmp_path):
    g = gpd.GeoDataFrame({"code": ["A"], "name": ["a"]}, geometry=[_square(515000, 180000)], crs=None)
    p = _write(tmp_path, "w.gpkg", g)
    with pytest.raises(CRSError, match="looks like metres"):
        read_layer(spec(p, "EPSG:4326"), tmp_path)


def test_degrees_labelled_as_metres_is_a_crs_error(tmp_path):
    g = gpd.GeoDataFrame({"code": ["A"], "name": ["a"]}, geometry=[shapely.box(-0.31, 51.51, -0.30, 51.52)], crs=27700)
    p = _write(tmp_path, "w.gpkg", g)
    with pytest.raises(CRSError, match="looks like degrees"):
        read_layer(spec(p, "EPSG:27700"), tmp_path)


def test_layer_without_crs_and_none_declared_is_an_error(tmp_path):
    g = gpd.GeoDataFrame({"code": ["A"], "name": ["a"]}, geometry=[_square(515000, 180000)], crs=None)
    p = _write(tmp_path, "w.gpkg", g)
    with pytest.raises(CRSError, match="no CRS"):
        read_layer(spec(p, None), tmp_path)


def test_mixed_crs_file_vs_manifest_is_an_error(tmp_path):
    g = gpd.GeoDataFrame({"code": ["A"], "name": ["a"]}, geometry=[_square(515000, 180000)], crs=27700)
    p = _write(tmp_path, "w.gpkg", g)
    with pytest.raises(CRSError, match="differs from manifest CRS EPSG:3857"):
        read_layer(spec(p, "EPSG:3857"), tmp_path)


def test_missing_file_is_a_data_file_error(tmp_path):
    with pytest.raises(DataFileError, match="file not found"):
        read_layer(spec(tmp_path / "nope.gpkg", "EPSG:27700"), tmp_path)


def test_csv_reader_handles_bom_and_windows_1252(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes("\ufeffname,postcode\nCaf\u00e9,W5 5JY\n".encode("utf-8"))
    df, enc = read_csv_any(p)
    assert list(df.columns) == ["name", "postcode"] and df["name"].iloc[0] == "Caf\u00e9"
    p.write_bytes("name,postcode\nCaf\u00e9,W5 5JY\n".encode("cp1252"))
    df, enc = read_csv_any(p)
    assert enc == "cp1252" and df["name"].iloc[0] == "Caf\u00e9"


def test_missing_data_root_error_names_the_environment_variable(tmp_path):
    s = Settings(data_root=tmp_path / "nowhere")
    with pytest.raises(DataRootNotFoundError, match="LOCMAP_DATA_ROOT"):
        s.resolve_data_root()


def test_unknown_area_pack_lists_known_areas():
    with pytest.raises(ManifestError, match="known areas: .*ealing"):
        load_manifest("atlantis")


def test_manifest_missing_section_is_named(tmp_path):
    p = tmp_path / "x.toml"
    p.write_text('name="x"\nlad_cd="E1"\nlad_nm="X"\nkey_service_types=[]\n[service_types]\ngp="GP"\n[layers.wards]\npath="w"\n[tables]\n')
    with pytest.raises(ManifestError, match=r"\[layers.lsoa21\]"):
        load_manifest(p)
