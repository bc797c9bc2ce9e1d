"""Register rows that are not one clean value per cell: GeoJSON list/object properties, blank types,
numbers where a type is expected — each such row rejected with its reason, the file's other rows used;
and duplicates found before the buffer, so a service's newest record decides where it is."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import shapely
from pyproj import Transformer

from locmap.data.services import build_register

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("fuzz_register", ROOT / "benchmarks" / "fuzz_register.py")
fz = importlib.util.module_from_spec(spec)
sys.modules.setdefault("fuzz_register", fz)
spec.loader.exec_module(fz)
TO_WGS84 = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)


@pytest.fixture(scope="module")
def area(tmp_path_factory):
    a = fz.make_area(tmp_path_factory.mktemp("validation"))
    a.gp_csv.write_text(",".join(fz.GP_HEADER) + "\n")  # the user file only
    a.schools_csv.write_text(",".join(fz.SCHOOL_HEADER) + "\n")
    a.pack_ = a.pack()
    return a


def _build(area, user: Path):
    return build_register(area.pack_, area.dir, fz.OUTLINE, fz.postcode_table(), fz.BUFFER_M, user_csv=user)


def _feature(i: int, **props) -> dict:
    lon, lat = TO_WGS84.transform(512_000 + 500 * i, 175_000)
    return {"type": "Feature", "properties": {"service_id": f"s{i}", **props},
            "geometry": {"type": "Point", "coordinates": [lon, lat]}}


def _geojson(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def _user_rejects(reg) -> dict[int, tuple[str, str]]:
    r = reg.rejects[reg.rejects["source_key"] == "user"]
    return {int(row): (reason, detail) for row, reason, detail in zip(r["row"], r["reason"], r["detail"])}


def test_a_list_valued_type_rejects_its_row_only(area, tmp_path):
    """GDAL reads a column with one list as lists for every feature; before, every row was rejected
    as "['childrens_centre']" not in the vocabulary."""
    path = _geojson(tmp_path / "hubs.geojson", [
        _feature(1, name="Acton Hub", service_type="childrens_centre"),
        _feature(2, name="Array Library", service_type=["library"]),
        _feature(3, name="Ealing Hub", service_type="childrens_centre", tags=["ignored", "column"])])
    reg = _build(area, path)
    assert sorted(reg.services["service_id"]) == ["s1", "s3"]
    assert _user_rejects(reg) == {2: ("not a single value", 'service_type holds a list ["library"]: give one '
                                      "value per row (one row per service type)")}
    assert reg.accounting.set_index("source_key").loc["user", ["read", "used", "rejected"]].tolist() == [3, 2, 1]


def test_object_values_blank_and_mixed_types_each_have_a_reason(area, tmp_path):
    path = _geojson(tmp_path / "mixed.geojson", [
        _feature(1, name="Good Hub", service_type="childrens_centre"),
        _feature(2, name="Blank Type", service_type=""),
        _feature(3, name="Object Type", service_type={"kind": "library"}),
        _feature(4, name={"en": "Object Name"}, service_type="childrens_centre"),
        _feature(5, name="Number Type", service_type=5),
        _feature(6, name="Null Type", service_type=None)])
    reg = _build(area, path)
    rej = _user_rejects(reg)
    assert list(reg.services["service_id"]) == ["s1"]
    assert rej[2] == ("missing/unknown service type", "Blank Type: blank service type (column 'service_type' is empty)")
    assert rej[3] == ("not a single value", 'service_type holds an object {"kind": "library"}: give one value '
                      "per row (one row per service type)")
    assert rej[4][0] == "not a single value" and rej[4][1].startswith('name holds an object {"en": "Object Name"}')
    assert rej[5][0] == "missing/unknown service type" and rej[5][1].startswith("Number Type: '5' not in")
    assert rej[6] == ("missing/unknown service type", "Null Type: blank service type (column 'service_type' is empty)")
    assert not any("nan" in d for _, d in rej.values())


def test_a_blank_type_in_a_csv_says_blank_not_nan(area, tmp_path):
    path = tmp_path / "user.csv"
    path.write_text("service_id,name,service_type,easting,northing\n"
                    "a,Acton Hub,childrens_centre,512000,175000\nb,No Type Hub,,513000,175000\n", encoding="utf-8")
    rej = _user_rejects(_build(area, path))
    assert rej == {2: ("missing/unknown service type", "No Type Hub: blank service type (column 'service_type' is empty)")}


def test_the_newest_record_of_a_school_decides_where_it_is(ealing):
    """Wellington Primary (URN 102505) and Ark Franklin (URN 139830): the 2025 records lie 2,087 m and
    2,045 m from Ealing, the stale 2016 records inside 2 km.  Before issue 23 the 2 km buffer rejected the
    2025 records and kept the 2016 ones; now the 2016 records are duplicates of the 2025 ones, which lie
    within the derived 2,187 m buffer and are used (under the 2 km buffer they were rejected as outside)."""
    svc, rej = ealing.services, ealing.rejects
    outline = ealing.borough.geometry.iloc[0]
    assert ealing.settings.buffer_m == 2187.0
    for urn, row_2025, name, away_m in (("102505", 29, "Wellington Primary School", 2087),
                                        ("139830", 90, "Ark Franklin Primary Academy", 2045)):
        old = rej[(rej["source_key"] == "schools_atlas_2016") & rej["detail"].str.contains(f"secondary_2025:{urn}")]
        assert old["reason"].tolist() == ["duplicate"] and old["detail"].iat[0].startswith(f"{name}: same service as")
        assert rej[(rej["source_key"] == "secondary_2025") & (rej["row"] == row_2025)].empty
        kept = svc[svc["service_id"] == f"secondary_2025:{urn}"]
        assert kept["name"].tolist() == [name]
        assert round(shapely.distance(kept.geometry.iat[0], outline)) == away_m
