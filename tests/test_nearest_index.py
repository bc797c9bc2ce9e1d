"""The nearest-services index: built on the first look-up, read by the next ones (no area load, no
routing), rebuilt when an input changes, and giving exactly the answers of the full path."""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import locmap
import locmap._digest
import locmap.finder.nearest
from locmap.finder.postcodes import area_members
import locmap.data.area
from locmap.cli import main
from locmap.finder import index as fi
from locmap.finder.nearest import build_nearest_index, coverage_notes, nearest_for_postcodes

pytestmark = pytest.mark.realdata

#: Northolt, on the Hillingdon edge (nearest library across the border)
EDGE = "UB5 6PA"
#: answerable, typed loosely; Ealing Broadway; the Hounslow edge; a delivery office (non-geographic,
#: with a suggestion); a repeat
QUERIES = ["ub56pa", " W5 2ND ", "UB2 4FG", "UB5 4YW", EDGE]


@pytest.fixture(scope="module")
def built(ealing, settings, tmp_path_factory):
    s = settings.with_(cache_dir=tmp_path_factory.mktemp("cache"))
    return build_nearest_index(ealing, "ealing", s), s


@pytest.fixture
def cache_with_index(built, tmp_path) -> Path:
    """A cache folder holding a copy of ``built``'s index, the one ``locmap nearest --area ealing`` reads:
    for the tests about a look-up once the index exists (building it is tested above and below)."""
    _, s = built
    cache = tmp_path / "cache"
    shutil.copytree(s.cache_dir, cache)
    assert fi.read_index("ealing", s.with_(cache_dir=cache)) is not None
    return cache


def _no_build(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the index was built again: the copy in the cache folder was not read")

    monkeypatch.setattr(locmap.finder.nearest, "build_nearest_index", refuse)


def _no_area_load(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the area was loaded or routed: the index was not used")

    monkeypatch.setattr(locmap.data.area, "load_area", refuse)
    monkeypatch.setattr(locmap.data.area, "load_for_lookup", refuse)
    monkeypatch.setattr(locmap.finder.nearest, "default_router", refuse)


def test_index_holds_every_postcode_of_the_area(built, ealing):
    idx, s = built
    table = pd.read_parquet(idx.table_path)
    in_area = area_members(ealing.postcodes, ealing)  # the one membership rule (LSOA 2021), W12 9DG and HA0 1AY in
    assert table[fi.KEY_COLUMN].nunique() == in_area.sum() == idx.record["n_postcodes"] == 6592
    assert set(table.drop_duplicates(fi.KEY_COLUMN)["status"]) == {"ok", "non_geographic"}
    assert fi.read_index("ealing", s) == idx


def _values(df: pd.DataFrame) -> pd.DataFrame:
    return df.astype(object).where(df.notna(), None)


def _same(index_answer: pd.DataFrame, full: pd.DataFrame) -> None:
    """Same rows, columns and values, a missing value as missing (a text column is ``str`` or
    ``object``, with NaN or None: pandas infers that from the values, so it differs between a
    whole table and a few rows; the printed and written answers are compared byte for byte below)."""
    pd.testing.assert_frame_equal(_values(index_answer), _values(full))


def test_answers_from_the_index_equal_the_full_path(built, ealing):
    idx, s = built
    full = nearest_for_postcodes(ealing, QUERIES, k=s.k_nearest, settings=s)
    answer = idx.answer(QUERIES)
    _same(answer, full)
    assert list(answer.drop_duplicates("row")["status"]) == ["ok", "ok", "ok", "non_geographic", "ok"]
    assert answer.loc[answer["row"] == 4, "suggestion"].tolist() == ["UB5 4XE"]
    assert idx.notes() == coverage_notes(ealing)


def test_answers_for_chosen_types_keep_their_order_as_the_full_path_does(built, ealing):
    idx, s = built
    types = ["library", "gp_practice"]
    full = nearest_for_postcodes(ealing, QUERIES, k=s.k_nearest, service_types=types, settings=s)
    _same(idx.answer(QUERIES, types), full)
    assert list(idx.notes(types)) == list(coverage_notes(ealing, types))


def test_non_geographic_postcodes_are_answered_from_the_index(built, ealing):
    idx, s = built
    table = pd.read_parquet(idx.table_path)
    statuses = table.drop_duplicates(fi.KEY_COLUMN).set_index("postcode")["status"]
    picks = list(statuses[statuses == "non_geographic"].index[:3])
    full = nearest_for_postcodes(ealing, picks, settings=s)
    _same(idx.answer(picks), full)
    assert set(full["status"]) == {"non_geographic"}


@pytest.mark.parametrize("queries", [["ZZ9 9ZZ"], ["UB5 6ZX"], [EDGE, "UB5-6AA"], ["HA0 1AB"], []])
def test_a_postcode_the_index_does_not_hold_goes_to_the_full_path(built, queries):
    idx, _ = built
    assert idx.answer(queries) is None


def test_a_type_the_index_does_not_hold_goes_to_the_full_path(built):
    idx, _ = built
    assert idx.answer([EDGE], ["swimming_pool"]) is None


@pytest.fixture(scope="module")
def first_cli_call(tmp_path_factory) -> tuple[Path, str]:
    """``locmap nearest --postcode EDGE`` into an empty cache folder, the whole area's load refused (a
    look-up without a street network reads the look-up load only): (the cache folder, what it said).
    Shared by the test of the first call and the test of the second (one index build, not two)."""
    cache = tmp_path_factory.mktemp("first_cli_call")

    def refuse(*a, **k):
        raise AssertionError("the whole area was loaded for a look-up without a street network")

    said = io.StringIO()
    with pytest.MonkeyPatch.context() as m, contextlib.redirect_stdout(said):
        m.setattr(locmap.data.area, "load_area", refuse)
        rc = main(["nearest", "--postcode", EDGE, "--cache-dir", str(cache), "--no-progress"])
    assert rc == 0, said.getvalue()
    return cache, said.getvalue()


def test_second_cli_call_reads_the_index_without_loading_the_area(first_cli_call, tmp_path, capsys, monkeypatch):
    built_by_cli, first = first_cli_call
    cache = tmp_path / "cache"
    shutil.copytree(built_by_cli, cache)  # the cache folder the first call left
    assert len(list((cache / "finder").glob("*.parquet"))) == 1
    _no_area_load(monkeypatch)
    assert main(["nearest", "--postcode", EDGE, "--cache-dir", str(cache), "--no-progress"]) == 0
    assert capsys.readouterr().out == first
    assert "Hayes End Library" in first and "ACROSS THE BORDER" in first


@pytest.mark.parametrize("suffix", ["csv", "json"])
def test_cli_output_from_the_index_is_byte_identical_to_the_full_path(tmp_path, capsys, monkeypatch, suffix,
                                                                     cache_with_index):
    queries = tmp_path / "homes.csv"
    queries.write_text("postcode\n" + "\n".join(QUERIES) + "\n", encoding="utf-8")
    argv = ["nearest", "--postcodes", str(queries), "--cache-dir", str(cache_with_index), "--no-progress"]
    with monkeypatch.context() as m:
        _no_build(m)  # answered from the index
        assert main([*argv, "--out", str(tmp_path / f"index.{suffix}")]) == 0
    from_index = capsys.readouterr().out
    monkeypatch.setattr(fi.NearestIndex, "answer", lambda self, q, t=None: None)  # force the full path
    monkeypatch.setattr(fi.NearestIndex, "answer_records", lambda self, q, t=None: None)
    assert main([*argv, "--out", str(tmp_path / f"full.{suffix}")]) == 0
    full = capsys.readouterr().out
    assert from_index.replace("index.", "full.") == full
    assert (tmp_path / f"index.{suffix}").read_bytes() == (tmp_path / f"full.{suffix}").read_bytes()


def test_an_unknown_postcode_is_still_answered_with_its_suggestion(cache_with_index, capsys):
    argv = ["nearest", "--cache-dir", str(cache_with_index), "--no-progress", "--postcode"]
    assert main([*argv, EDGE]) == 0  # the index exists and answers
    capsys.readouterr()
    assert main([*argv, "UB5 6AB"]) == 2  # not in the table: the full path answers, as before
    out = capsys.readouterr().out
    assert "UB5 6AB: unknown: no such postcode" in out and "Try UB5 6AA." in out


SERVICES = "service_id,name,service_type,postcode,action\n{rows}"


def test_an_edited_services_file_rebuilds_the_index(tmp_path, capsys, settings):
    mine = tmp_path / "mine.csv"
    mine.write_text(SERVICES.format(rows="lib-far,Far Library,library,W5 2ND,add\n"), encoding="utf-8")
    argv = ["nearest", "--postcode", EDGE, "--types", "library", "--services", str(mine),
            "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    assert main(argv) == 0
    assert "Hayes End Library" in capsys.readouterr().out.split("\n  1  ")[1]
    s = settings.with_(cache_dir=tmp_path / "cache", user_services=mine)
    assert fi.read_index("ealing", s) is not None
    mine.write_text(SERVICES.format(rows=f"lib-near,Next Door Library,library,{EDGE},add\n"), encoding="utf-8")
    assert fi.read_index("ealing", s) is None  # the file's content changed: the index is stale
    assert main(argv) == 0
    assert capsys.readouterr().out.split("\n  1  ")[1].startswith("Next Door Library")
    assert fi.read_index("ealing", s) is not None
    assert len(list((tmp_path / "cache" / "finder").glob("*.parquet"))) == 1  # same key, rewritten


def test_the_index_is_keyed_on_the_code_and_the_settings(built, monkeypatch):
    idx, s = built
    assert fi.index_key("ealing", s.with_(walk_speed_kmh=4.8)) != idx.record["key"]
    assert fi.index_key("ealing", s.with_(k_nearest=1)) != idx.record["key"]
    assert fi.index_key("london:ealing", s) != idx.record["key"]
    monkeypatch.setattr(locmap._digest, "_CODE_DIGEST", ["another distance model"])
    assert fi.read_index("ealing", s) is None


def test_only_the_most_recent_indexes_are_kept(tmp_path):
    for i in range(fi.KEEP_INDEXES + 3):
        (tmp_path / f"{i:02d}.parquet").write_bytes(b"x")
        rec = tmp_path / f"{i:02d}.json"
        rec.write_text("{}")
        os.utime(rec, ns=(i * 10**9, i * 10**9))
    removed = fi.prune(tmp_path)
    assert sorted(p.name for p in removed) == ["00.json", "00.parquet", "01.json", "01.parquet", "02.json",
                                               "02.parquet"]
    assert len(list(tmp_path.glob("*.parquet"))) == fi.KEEP_INDEXES


def test_a_look_up_from_the_index_imports_no_geospatial_stack(built):
    """The second call's import graph: pyarrow reads the index (not even pandas); nothing loads the area."""
    _, s = built
    probe = ("import json, sys\nfrom locmap.cli import main\n"
             f"rc = main(['nearest', '--postcode', {EDGE!r}, '--cache-dir', {str(s.cache_dir)!r}, '--no-progress'])\n"
             "print(json.dumps([rc, sorted(sys.modules)]))")
    root = Path(locmap.__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)}, timeout=300)
    rc, modules = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rc == 0, proc.stderr
    heavy = {"geopandas", "shapely", "pyproj", "pyogrio", "scipy", "numba", "folium", "matplotlib", "networkx",
             "pandas", "jsonschema"}
    assert sorted({m.split(".")[0] for m in modules} & heavy) == []
    assert "locmap.data.area" not in modules and "locmap.finder.nearest" not in modules


def test_an_unwritable_cache_folder_is_said_and_the_postcode_still_answered(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    argv = ["nearest", "--postcode", EDGE, "--cache-dir", str(blocker / "cache"), "--no-progress"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "the nearest-services index was not saved" in err and str(blocker) in err
    assert "Hayes End Library" in out


def test_records_read_with_pyarrow_equal_the_pandas_answer(built):
    idx, _ = built
    for types in (None, ["library", "gp_practice"], ["pharmacy", "pharmacy"]):
        records = idx.answer_records(QUERIES, types)
        frame = _values(idx.answer(QUERIES, types))
        assert len(records) == len(frame) > 0
        assert [list(r) for r in records[:1]] == [list(frame.columns)]
        assert pd.DataFrame(records, columns=frame.columns).astype(object).where(
            lambda d: d.notna(), None).values.tolist() == frame.values.tolist()
    assert idx.answer_records(["ZZ9 9ZZ"]) is None and idx.answer_records([EDGE], ["swimming_pool"]) is None


def _count_digests(monkeypatch) -> list[str]:
    hashed: list[str] = []
    real = locmap._digest.file_digest  # the index's inputs are recorded and checked by locmap._digest
    monkeypatch.setattr(locmap._digest, "file_digest", lambda path: hashed.append(str(path)) or real(path))
    return hashed


def test_unchanged_inputs_are_checked_by_size_and_time_without_reading_them(tmp_path, settings, monkeypatch):
    mine = tmp_path / "mine.csv"
    mine.write_text(SERVICES.format(rows="lib-far,Far Library,library,W5 2ND,add\n"), encoding="utf-8")
    s = settings.with_(cache_dir=tmp_path / "cache", user_services=mine)
    assert main(["nearest", "--postcode", EDGE, "--services", str(mine), "--cache-dir", str(s.cache_dir),
                 "--no-progress"]) == 0
    hashed = _count_digests(monkeypatch)
    record = fi.read_index("ealing", s).record
    assert hashed == []  # none of the 26 input files read: their size and time are those recorded
    assert len(record["files"]) == 26  # the pack's 25 and the user's services
    recorded_ns = next(e[3] for e in record["files"] if e[0] == str(mine))
    os.utime(mine, ns=(10**18, 10**18))  # touched, same content: hashed, still current
    assert fi.read_index("ealing", s) is not None
    assert hashed == [str(mine)]
    mine.write_text(SERVICES.format(rows="lib-far,Far Library,library,W5 2NE,add\n"), encoding="utf-8")
    os.utime(mine, ns=(10**18, 10**18))  # content changed, same size: hashed, stale
    assert fi.read_index("ealing", s) is None
    os.utime(mine, ns=(recorded_ns, recorded_ns))  # same size and time as recorded: not seen (documented)
    assert fi.read_index("ealing", s) is not None


def test_the_look_up_load_has_the_services_postcodes_and_outlines_of_the_whole_load(ealing, settings):
    light = locmap.data.area.load_for_lookup("ealing", settings)
    assert isinstance(light, locmap.data.area.LookupArea)
    pd.testing.assert_frame_equal(light.services, ealing.services)
    pd.testing.assert_frame_equal(light.rejects, ealing.rejects)
    pd.testing.assert_frame_equal(light.postcodes, ealing.postcodes)
    pd.testing.assert_frame_equal(light.borough, ealing.borough)
    pd.testing.assert_frame_equal(light.neighbour_wards, ealing.neighbour_wards)
    assert len(light.located_services("library")) == len(ealing.located_services("library")) == 32
    assert not hasattr(light, "homes") and not hasattr(light, "lsoa")  # not loaded: a use fails loudly


def test_an_index_built_from_the_look_up_load_equals_one_built_from_the_whole_area(built, settings, tmp_path):
    import pyarrow.parquet as pq

    idx, s = built
    light = locmap.data.area.load_for_lookup("ealing", settings)
    other = build_nearest_index(light, "ealing", s.with_(cache_dir=tmp_path))
    assert pq.read_table(other.table_path).equals(pq.read_table(idx.table_path))
    assert pq.read_schema(other.table_path).equals(pq.read_schema(idx.table_path), check_metadata=True)
    assert other.record == idx.record


def test_the_first_cli_call_builds_the_index_without_loading_the_whole_area(first_cli_call):
    cache, said = first_cli_call  # the call ran with load_area refused
    assert "Hayes End Library" in said
    assert len(list((cache / "finder").glob("*.parquet"))) == 1


def test_with_a_street_network_the_look_up_load_is_the_whole_area(settings, tmp_path, monkeypatch):
    monkeypatch.setattr(locmap.data.area, "load_area", lambda name, s, user_services=None: ("whole", name))
    s = settings.with_(network_file=tmp_path / "streets.osm.pbf")
    assert locmap.data.area.load_for_lookup("ealing", s) == ("whole", "ealing")  # homes: the router's coverage check
    assert isinstance(locmap.data.area.load_for_lookup("ealing", settings), locmap.data.area.LookupArea)


def test_text_columns_stay_text_where_a_type_has_no_service_in_the_home_borough(ealing):
    import numpy as np

    from locmap.finder.nearest import nearest_for_points

    # a Northolt point taken as a Hillingdon home: the data list no children's centre or nursery
    # school in Hillingdon, so those two home-borough rows have no service
    near = nearest_for_points(ealing, np.array([[513158.0, 184163.0]]), home_lad_cd=["E09000017"], k=1)
    home = near[near["scope"] == "home_borough"].set_index("service_type")
    assert home.index[home["service_id"].isna()].tolist() == ["childrens_centre", "nursery_school"]
    assert home.at["library", "service_lad_nm"] == "Hillingdon"
    text = ["service_type", "type_label", "scope", "service_id", "name", "address", "service_postcode",
            "service_lad_cd", "service_lad_nm", "service_status", "method", "label"]
    assert all(near[c].dtype == "str" for c in text)  # was object (NaN and None) in that case
