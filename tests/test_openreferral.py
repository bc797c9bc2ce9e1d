"""Open Referral UK exports (JSON API responses or the CSV package) as a --services register.

Fixtures: the profile's own examples (../shared/specs/openreferral-uk/examples) and an export
generated here from Ealing's libraries (real sites), offered as family-hub sessions, with
records that must be rejected for each reason."""
from __future__ import annotations

import csv
import json
import shutil
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from locmap.access.nearest import compute_access
from locmap.cli import main
from locmap.data import openreferral
from locmap.data.area import load_area
from locmap.data.io import read_csv_any
from locmap.data.services import read_service_table
from locmap.errors import DataFileError
from locmap.settings import Settings

DATA_ROOT = Settings.from_env(progress=False).resolve_data_root()  # ../shared/data
SPECS = DATA_ROOT.parent / "specs" / "openreferral-uk" / "examples"
NS = uuid.UUID("6f1c6d2e-4b4a-4f8e-9a57-0c1e2d3f4a5b")


def _id(*parts) -> str:
    return str(uuid.uuid5(NS, "/".join(map(str, parts))))


# ------------------------------------------------------------------ the profile's examples
@pytest.mark.parametrize("name", ["service_full.json", "service_at_location_full.json", "csv"])
def test_profile_example_location_latitude_100_is_rejected_as_bad_coordinates(name, tmp_path):
    types = tmp_path / "types.toml"
    types.write_text('[taxonomy]\n"name" = "childrens_centre"\n[names]\n"(?i)counselling" = "childrens_centre"\n')
    table = openreferral.read_openreferral(SPECS / name, types_toml=types)
    row = table.frame.iloc[0]
    assert len(table.frame) == 1 and table.frame.attrs["row_rejects"] == {}
    assert (row["name"], float(row["lat"]), float(row["lon"]), row["postcode"]) == (
        "Community Counselling", 100.0, 101.0, "ABC 1234")


def test_profile_examples_with_default_mapping_are_rejected_for_their_taxonomy(tmp_path):
    reasons = {name: openreferral.read_openreferral(SPECS / name).frame.attrs["row_rejects"]
               for name in ("service_full.json", "service_at_location_full.json", "service_list.json",
                            "service_at_location_list.json", "csv")}
    assert reasons["service_full.json"][1][0] == "no service type for taxonomy 'name'"
    assert reasons["service_at_location_full.json"][1][0] == "no service type for taxonomy 'name'"
    assert reasons["service_at_location_list.json"][1][0] == "no service type for taxonomy (none)"
    # the CSV example's attribute links another id (f28dd44b...), so the service has no terms
    assert reasons["csv"][1][0] == "no service type for taxonomy (none)"
    # a /services list page carries no locations
    assert reasons["service_list.json"][1][0] == "no location"


def test_profile_examples_are_valid_against_the_profile_schemas():
    for name in ("service_full.json", "service_at_location_full.json", "service_list.json",
                 "service_at_location_list.json"):
        table = openreferral.read_openreferral(SPECS / name)
        assert "0 record(s) failing the profile's JSON Schema" in table.notes[0], name


def test_profile_example_in_an_area_register_is_rejected_with_its_coordinates(ealing_user_area):
    area = ealing_user_area(SPECS / "service_full.json", types='[names]\n"(?i)counselling" = "childrens_centre"\n')
    rej = area.rejects[area.rejects["source_key"] == "user"]
    assert rej[["row", "reason"]].values.tolist() == [[1, "bad coordinates"]]
    assert "lat/lon (100.0, 101.0) outside Great Britain" in rej["detail"].iloc[0]
    acct = area.checks["services_accounting"].set_index("source_key").loc["user"]
    assert (acct["read"], acct["used"], acct["rejected"]) == (1, 0, 1)


def test_schema_violation_is_reported_per_record_and_does_not_stop_the_others(tmp_path):
    good = json.loads((SPECS / "service_full.json").read_text())
    bad = json.loads(json.dumps(good))
    bad["id"] = "not-a-uuid"
    bad["service_at_locations"][0]["location"]["latitude"] = "fifty-one"
    page = tmp_path / "page1.json"
    page.write_text(json.dumps({"total_items": 2, "contents": [bad, good]}))
    table = openreferral.read_openreferral(page)
    reason, detail = table.frame.attrs["row_rejects"][1]
    assert reason == "schema violation"
    assert "id: 'not-a-uuid' is not a 'uuid'" in detail
    assert "service_at_locations/0/location/latitude: 'fifty-one' is not of type 'number'" in detail
    assert detail.startswith("page1.json record 1: ")
    assert table.frame.attrs["row_rejects"][2][0] == "no service type for taxonomy 'name'"


def test_a_json_file_that_is_not_an_api_response_is_an_error_naming_it(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "page1.json").write_text('{"contents": []}')
    (folder / "page2.json").write_text('{"contents": [')
    with pytest.raises(DataFileError, match=r"page2\.json.*not valid JSON"):
        openreferral.read_openreferral(folder)


def test_geojson_is_not_mistaken_for_an_export(tmp_path):
    p = tmp_path / "s.json"
    p.write_text('{"type": "FeatureCollection", "features": []}')
    assert not openreferral.is_openreferral(p)
    assert openreferral.is_openreferral(SPECS / "service_list.json")
    assert openreferral.is_openreferral(SPECS / "csv")


def test_a_sheet_chosen_for_an_export_is_refused():
    with pytest.raises(DataFileError, match="sheet or layer"):
        read_service_table(SPECS / "service_full.json", sheet="2")


def test_mapping_keys_ignore_case_spaces_and_apostrophes():
    m = openreferral.load_type_mapping()
    svc = {"name": "x", "attributes": [{"taxonomy_term": {"term": "Play"}},
                                       {"taxonomy_term": {"term": "CHILDRENS-Centre"}}]}
    assert openreferral.service_type(svc, m) == "childrens_centre"
    assert openreferral.service_type({"name": "Acton Library"}, m) == "library"
    assert openreferral.service_type({"name": "Stay and play"}, m) is None


def test_a_bad_mapping_file_is_an_error_naming_it(tmp_path):
    p = tmp_path / "m.toml"
    p.write_text('[names]\n"(unclosed" = "library"\n')
    with pytest.raises(DataFileError, match=r"m\.toml.*not a regular expression"):
        openreferral.load_type_mapping(p)


# ------------------------------------------------------------------ an Ealing export
def _ealing_libraries() -> pd.DataFrame:
    df, _ = read_csv_any(DATA_ROOT / "services" / "libraries_ealing_neighbours.csv")
    return df[df["lad_name"] == "Ealing"].reset_index(drop=True)


def _spec() -> list[dict]:
    """The export's services: one family-hub session per Ealing library (even: lat/lon; odd:
    postcode only), one at two libraries, and one per reject reason."""
    libs = _ealing_libraries()
    loc = [{"lib": r, "lat": r["lat"] if i % 2 == 0 else None, "lon": r["lon"] if i % 2 == 0 else None}
           for i, r in libs.iterrows()]
    out = [{"key": f"hub{i}", "name": f"Family hub session at {l['lib']['name']}", "term": "Family Hub",
            "locations": [l], "expect": "used"} for i, l in enumerate(loc)]
    out += [
        {"key": "two", "name": "Baby massage", "term": "Start for Life", "locations": [loc[2], loc[3]],
         "expect": "used"},
        {"key": "play", "name": "Stay and Play", "term": "Play group", "locations": [loc[4]],
         "expect": "no service type for taxonomy 'Play group'"},
        {"key": "closed", "name": "Closed hub", "term": "Family Hub", "status": "inactive", "locations": [loc[5]],
         "expect": "closed"},
        {"key": "online", "name": "Online parenting course", "term": "Family Hub", "virtual": True,
         "locations": [loc[6]], "expect": "no physical location"},
        {"key": "bad", "name": "Broken record", "term": "Family Hub", "bad_lat": True, "locations": [loc[0]],
         "expect": "schema violation"},
        {"key": "nowhere", "name": "Hub with no sites", "term": "Family Hub", "locations": [],
         "expect": "no location"},
        {"key": "moon", "name": "Profile example", "term": "Family Hub",
         "locations": [{"lib": {"name": "MyCity", "Address 1": "1-30 Main Street", "postcode": "ABC 1234"},
                        "lat": 100, "lon": 101}], "expect": "bad coordinates"},
    ]
    return out


def _location(s: dict, j: int, l: dict) -> dict:
    lib = l["lib"]
    loc = {"id": _id(s["key"], "loc", j), "location_type": "virtual" if s.get("virtual") else "physical",
           "name": str(lib["name"]),
           "addresses": [{"id": _id(s["key"], "addr", j), "location_id": _id(s["key"], "loc", j),
                          "address_1": str(lib["Address 1"]), "city": "London", "state_province": "London",
                          "postal_code": str(lib["postcode"]), "country": "GB", "address_type": "physical"}]}
    if l["lat"] is not None:
        loc["latitude"], loc["longitude"] = float(l["lat"]), float(l["lon"])
    if s.get("bad_lat"):
        loc["latitude"] = "fifty-one"
    return loc


def _service_record(s: dict) -> dict:
    sid = _id(s["key"])
    term = {"id": _id("term", s["term"]), "name": s["term"], "term": s["term"], "taxonomy": "locmap-test",
            "description": f"{s['term']} (test taxonomy)"}
    return {"id": sid, "name": s["name"], "status": s.get("status", "active"),
            "attributes": [{"id": _id(s["key"], "attr"), "link_id": sid, "link_type": "service",
                            "taxonomy_term_id": term["id"], "taxonomy_term": term}],
            "service_at_locations": [{"id": _id(s["key"], "sal", j), "service_id": sid,
                                      "location_id": _id(s["key"], "loc", j), "location": _location(s, j, l)}
                                     for j, l in enumerate(s["locations"])]}


def write_json_pages(folder: Path, page_size: int = 5) -> list[dict]:
    """The export as paginated /services responses (page1.json ...) of full service records."""
    folder.mkdir(parents=True, exist_ok=True)
    records = [_service_record(s) for s in _spec()]
    pages = [records[i:i + page_size] for i in range(0, len(records), page_size)]
    for n, page in enumerate(pages, 1):
        (folder / f"page{n}.json").write_text(json.dumps(
            {"total_items": len(records), "total_pages": len(pages), "page_number": n, "size": page_size,
             "first_page": n == 1, "last_page": n == len(pages), "empty": False, "contents": page}, indent=1))
    return records


def _write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def write_csv_package(folder: Path) -> None:
    """The same export as the tabular CSV package."""
    folder.mkdir(parents=True, exist_ok=True)
    records = [_service_record(s) for s in _spec()]
    sals = [sal for r in records for sal in r["service_at_locations"]]
    locs = [sal["location"] for sal in sals]
    attrs = [a for r in records for a in r["attributes"]]
    terms = list({a["taxonomy_term"]["id"]: a["taxonomy_term"] for a in attrs}.values())
    _write_csv(folder / "services.csv", records, ["id", "name", "status"])
    _write_csv(folder / "service_at_location.csv", sals, ["id", "service_id", "location_id"])
    _write_csv(folder / "locations.csv", locs, ["id", "location_type", "name", "latitude", "longitude"])
    _write_csv(folder / "addresses.csv", [a for loc in locs for a in loc["addresses"]],
               ["id", "location_id", "address_1", "city", "state_province", "postal_code", "country", "address_type"])
    _write_csv(folder / "attributes.csv", attrs, ["id", "link_id", "taxonomy_term_id", "link_type"])
    _write_csv(folder / "taxonomy_terms.csv", terms, ["id", "name", "term", "taxonomy", "description"])


def write_equivalent_csv(path: Path) -> None:
    """The export's usable services as a locmap services CSV (docs/services.md), built from the
    same spec, not from the reader."""
    rows = []
    for s in _spec():
        if s["expect"] != "used":
            continue
        for j, l in enumerate(s["locations"]):
            rows.append({"service_id": _id(s["key"], "sal", j), "name": s["name"], "service_type": "childrens_centre",
                         "address": f"{l['lib']['Address 1']}, London", "postcode": l["lib"]["postcode"],
                         "lat": "" if l["lat"] is None else float(l["lat"]),
                         "lon": "" if l["lon"] is None else float(l["lon"])})
    _write_csv(path, rows, ["service_id", "name", "service_type", "address", "postcode", "lat", "lon"])


def _expected_reasons() -> list[str]:
    out = []
    for s in _spec():
        out += [s["expect"]] * max(1, len(s["locations"]))
    return out


@pytest.fixture(scope="module")
def ealing_user_area(settings, tmp_path_factory):
    def load(path, types: str | None = None):
        if types is not None:
            folder = path if Path(path).is_dir() else Path(path).parent
            if not folder.is_relative_to(tmp_path_factory.getbasetemp()):
                target = tmp_path_factory.mktemp("copy") / Path(path).name
                target.write_bytes(Path(path).read_bytes())
                path, folder = target, target.parent
            (folder / openreferral.USER_TYPES_NAME).write_text(types)
        return load_area("ealing", settings, user_services=path, use_cache=False)
    return load


@pytest.fixture(scope="module")
def ealing_exports(tmp_path_factory, ealing_user_area):
    base = tmp_path_factory.mktemp("oruk")
    write_json_pages(base / "json")
    write_csv_package(base / "csvpkg")
    write_equivalent_csv(base / "equivalent.csv")
    return {k: ealing_user_area(base / p) for k, p in
            (("json", "json"), ("csv", "csvpkg"), ("plain", "equivalent.csv"))}


@pytest.mark.parametrize("form", ["json", "csv"])
def test_every_service_at_location_of_the_ealing_export_is_used_or_rejected_with_its_reason(ealing_exports, form):
    area = ealing_exports[form]
    expected = _expected_reasons()
    acct = area.checks["services_accounting"].set_index("source_key").loc["user"]
    n_used = expected.count("used")
    assert (acct["read"], acct["used"], acct["rejected"]) == (len(expected), n_used, len(expected) - n_used)
    assert (len(expected), n_used) == (22, 16)  # 14 libraries + 2 sites of one service; 6 rejects
    rej = area.rejects[area.rejects["source_key"] == "user"].sort_values("row")
    assert rej["reason"].tolist() == [r for r in expected if r != "used"]
    assert rej["row"].tolist() == [i + 1 for i, r in enumerate(expected) if r != "used"]


def test_ealing_export_places_lat_lon_rows_at_their_coordinates_and_the_others_at_postcodes(ealing_exports):
    s = ealing_exports["json"].services
    user = s[s["source_key"] == "user"]
    assert len(user) == 16 and user["located"].all()
    assert user["location_quality"].value_counts().to_dict() == {"source lat/lon": 8, "postcode centroid": 8}
    assert set(user["service_type"]) == {"childrens_centre"}


def _user_services(area) -> pd.DataFrame:
    s = pd.DataFrame(area.services.drop(columns="geometry"))
    s = s[s["source_key"] == "user"].drop(columns=["source", "source_file", "source_row"])
    return s.sort_values("service_id").reset_index(drop=True)


def test_export_json_csv_package_and_equivalent_csv_give_the_same_register(ealing_exports):
    plain = _user_services(ealing_exports["plain"])
    assert len(plain) == 16
    for form in ("json", "csv"):
        pd.testing.assert_frame_equal(_user_services(ealing_exports[form]), plain)


def test_export_and_equivalent_csv_give_identical_access_tables(ealing_exports, ealing):
    res = {k: compute_access(ealing_exports[k], ealing_exports[k].settings, service_types=["childrens_centre"])
           for k in ("json", "csv", "plain")}
    base = compute_access(ealing, ealing.settings, service_types=["childrens_centre"]).wide
    cols = [c for c in res["plain"].wide.columns if c.endswith("__childrens_centre")]
    assert "minutes__childrens_centre" in cols
    for k in ("json", "csv"):
        pd.testing.assert_frame_equal(res[k].table, res["plain"].table)
        pd.testing.assert_frame_equal(pd.DataFrame(res[k].wide[cols]), pd.DataFrame(res["plain"].wide[cols]))
    # the export's family-hub sessions do change access (the comparison is not vacuous)
    new, old = res["plain"].wide["minutes__childrens_centre"].to_numpy(), base["minutes__childrens_centre"].to_numpy()
    assert (new < old - 0.5).sum() > 1000
    assert np.all(new <= old + 1e-9)


@pytest.mark.parametrize("record", [
    {"id": 1, "name": ["x"], "status": None, "attributes": 5, "service_at_locations": "here"},
    {"id": "s", "name": "n", "status": "active", "service_at_locations": [7, {"location": "nowhere"}]},
    {"id": "x", "service": "not a service", "location": [1, 2]},
    {"id": "y", "service": {"name": "n", "status": "active", "attributes": [{"taxonomy_term": 3}]},
     "location": {"latitude": float("nan"), "longitude": "w", "addresses": {"postal_code": 5}}},
])
def test_malformed_records_are_rejected_with_a_reason_never_raised(record, tmp_path):
    p = tmp_path / "page1.json"
    p.write_text(json.dumps({"contents": [record, json.loads((SPECS / "service_full.json").read_text())]}))
    table = openreferral.read_openreferral(p)
    rejects = table.frame.attrs["row_rejects"]
    n_first = len(table.frame) - 1
    assert [rejects[r][0] for r in range(1, n_first + 1)] == ["schema violation"] * n_first
    assert rejects[n_first + 1][0] == "no service type for taxonomy 'name'"


def test_cli_check_reads_an_export_folder_and_accounts_for_its_rows(tmp_path, capsys):
    folder = tmp_path / "export"
    shutil.copytree(SPECS / "csv", folder)
    (folder / openreferral.USER_TYPES_NAME).write_text('[names]\n"(?i)counselling" = "childrens_centre"\n')
    rejects = tmp_path / "rejects.csv"
    assert main(["check", "--area", "ealing", "--services", str(folder), "--rejects", str(rejects)]) == 0
    printed = capsys.readouterr()
    assert f"your services file {folder}: 1 rows read, 0 used, 1 rejected" in printed.err
    assert "Open Referral UK export (CSV package): 1 record(s), 1 service-at-location row(s)" in printed.out
    rej = pd.read_csv(rejects)
    assert rej.loc[rej["source_key"] == "user", ["row", "reason"]].values.tolist() == [[1, "bad coordinates"]]


def test_cli_refuses_a_folder_that_is_not_an_export(tmp_path, capsys):
    assert main(["check", "--area", "ealing", "--services", str(tmp_path)]) == 2
    assert "is a folder, not a file" in capsys.readouterr().err
