"""Hostile geometry through ``locmap.data.io.read_layer`` (extends tests/test_loader_errors.py).

Hypothesis generates random (often self-intersecting) rings, multi-part features and
empty parts; every layer is either repaired (valid polygons, one note per repaired feature
naming file and feature) or rejected with a :class:`GeometryError` / :class:`CRSError`
naming the file and feature.
"""
from __future__ import annotations

import warnings

import geopandas as gpd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from locmap.errors import CRSError, GeometryError, LocmapError
from locmap.data.io import read_layer
from locmap.data.manifest import LayerSpec

warnings.filterwarnings("ignore", message=".crs. was not provided")
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

X0, Y0 = 515_000.0, 180_000.0
pt = st.tuples(st.floats(0, 500, allow_nan=False), st.floats(0, 500, allow_nan=False))
ring = st.lists(pt, min_size=3, max_size=8)


def spec(path, crs="EPSG:27700"):
    return LayerSpec(key="t", path=str(path), columns={"ward_cd": "code"}, crs=crs)


def _poly(coords):
    return shapely.Polygon([(X0 + x, Y0 + y) for x, y in coords])


def _write(tmp_path, geoms, crs=27700, name="g.gpkg"):
    g = gpd.GeoDataFrame({"code": [f"F{i}" for i in range(len(geoms))]}, geometry=geoms, crs=crs)
    p = tmp_path / name
    p.unlink(missing_ok=True)
    g.to_file(p, driver="GPKG")
    return p


@SETTINGS
@given(rings=st.lists(ring, min_size=1, max_size=4))
def test_random_rings_are_repaired_and_reported_or_rejected_naming_the_feature(tmp_path, rings):
    geoms = [_poly(r) for r in rings]
    p = _write(tmp_path, geoms)
    try:
        out, notes = read_layer(spec(p), tmp_path, id_col="ward_cd")
    except GeometryError as exc:
        msg = str(exc)
        assert "g.gpkg" in msg and "feature " in msg and "(ward_cd=F" in msg
        i = int(msg.split("feature ")[1].split(" ")[0]) - 1
        assert geoms[i].is_empty or not geoms[i].is_valid or geoms[i].area == 0
        return
    assert out.geometry.is_valid.all()
    assert out.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    invalid = [i for i, g in enumerate(geoms) if not g.is_valid]
    assert len(notes) == len(invalid)
    for i, note in zip(invalid, notes):
        assert note.startswith("g.gpkg: repaired feature") and f"(ward_cd=F{i})" in note
    # make_valid never loses area of the valid parts: repaired area >= 0 and valid features unchanged
    for i, g in enumerate(geoms):
        if g.is_valid:
            assert out.geometry.iloc[i].equals(g)


@SETTINGS
@given(rings=st.lists(ring, min_size=2, max_size=4))
def test_multipart_features_are_kept_valid(tmp_path, rings):
    mp = shapely.MultiPolygon([_poly(r) for r in rings]) if all(len(r) >= 3 for r in rings) else None
    square = shapely.box(X0, Y0, X0 + 50, Y0 + 50)
    p = _write(tmp_path, [mp, square])
    try:
        out, notes = read_layer(spec(p), tmp_path, id_col="ward_cd")
    except GeometryError as exc:
        assert "g.gpkg" in str(exc) and "feature 1 (ward_cd=F0)" in str(exc)
        return
    assert out.geometry.is_valid.all() and out.geometry.iloc[1].equals(square)


def test_collapsed_polygon_is_rejected_naming_file_and_feature(tmp_path):
    flat = shapely.Polygon([(X0, Y0), (X0 + 100, Y0), (X0 + 200, Y0)])  # zero area: repairs to a line
    p = _write(tmp_path, [shapely.box(X0, Y0, X0 + 10, Y0 + 10), flat])
    with pytest.raises(GeometryError, match=r"g.gpkg, row 2: feature 2 \(ward_cd=F1\) is invalid .*could not be repaired"):
        read_layer(spec(p), tmp_path, id_col="ward_cd")


def test_empty_polygon_is_rejected_naming_the_feature(tmp_path):
    p = _write(tmp_path, [shapely.box(X0, Y0, X0 + 10, Y0 + 10), shapely.Polygon()])
    with pytest.raises(GeometryError, match=r"feature 2 \(ward_cd=F1\) has an empty or missing geometry"):
        read_layer(spec(p), tmp_path, id_col="ward_cd")


def test_multipolygon_with_an_empty_part_is_kept(tmp_path):
    mp = shapely.MultiPolygon([shapely.box(X0, Y0, X0 + 10, Y0 + 10), shapely.box(X0 + 20, Y0, X0 + 30, Y0 + 10)])
    p = _write(tmp_path, [mp])
    out, notes = read_layer(spec(p), tmp_path, id_col="ward_cd")
    assert out.geometry.iloc[0].area == pytest.approx(200.0) and notes == []


@SETTINGS
@given(lon=st.floats(-0.5, 0.2), lat=st.floats(51.3, 51.7), size=st.floats(0.001, 0.05))
def test_degrees_presented_as_metres_are_rejected(tmp_path, lon, lat, size):
    p = _write(tmp_path, [shapely.box(lon, lat, lon + size, lat + size)], crs=27700)
    with pytest.raises(CRSError, match=r"g.gpkg: CRS .* is in metres but all coordinates fit"):
        read_layer(spec(p, "EPSG:27700"), tmp_path)


@SETTINGS
@given(x=st.floats(200_000, 600_000), y=st.floats(100_000, 600_000))
def test_metres_presented_as_degrees_are_rejected(tmp_path, x, y):
    p = _write(tmp_path, [shapely.box(x, y, x + 100, y + 100)], crs=4326)
    with pytest.raises(CRSError, match="looks like metres"):
        read_layer(spec(p, "EPSG:4326"), tmp_path)


def test_layer_without_crs_uses_the_declared_crs(tmp_path):
    p = _write(tmp_path, [shapely.box(X0, Y0, X0 + 10, Y0 + 10)], crs=None)
    out, _ = read_layer(spec(p, "EPSG:27700"), tmp_path)
    assert out.crs.to_epsg() == 27700 and out.geometry.iloc[0].bounds[0] == X0


def test_geojson_in_wgs84_declared_as_crs84_is_accepted(tmp_path):
    g = gpd.GeoDataFrame({"code": ["A"]}, geometry=[shapely.box(-0.31, 51.51, -0.30, 51.52)], crs=4326)
    p = tmp_path / "w.geojson"
    g.to_file(p, driver="GeoJSON")
    out, _ = read_layer(spec(p, "OGC:CRS84"), tmp_path)
    assert out.crs.to_epsg() == 27700


@pytest.mark.parametrize("content", [b"", b"not a gpkg at all", b"{\"type\": \"FeatureCollection\""])
def test_corrupt_layer_file_is_a_data_file_error(tmp_path, content):
    p = tmp_path / "bad.geojson"
    p.write_bytes(content)
    with pytest.raises(LocmapError, match="bad.geojson"):
        read_layer(spec(p), tmp_path)
