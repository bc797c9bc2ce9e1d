"""Data shared within a batch worker: the London-wide files are parsed once per process and each
borough takes a copy of what was derived from them (locmap.data.memo), with results identical to
a fresh read, and an edited file read again."""
from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest

from locmap.data import homes, io, memo, region, services
from locmap.data.area import load_area
from locmap.data.region import load_pack, load_region

pytestmark = pytest.mark.realdata


@pytest.fixture(autouse=True)
def empty_memo():
    memo.clear()
    yield
    memo.clear()


def counting(monkeypatch, module, name):
    """Replace ``module.name`` by a wrapper counting its calls; returns the list of calls."""
    calls, real = [], getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def test_the_region_is_read_once_per_process_and_each_caller_gets_its_own_copy(settings, monkeypatch):
    reads = counting(monkeypatch, region, "read_layer")
    first = load_region("london", settings)
    n_files = len(reads)  # boroughs layer + ward files
    first.boroughs.loc[0, "lad_nm"] = "changed by a caller"
    first.raw["pack"]["crs"] = "changed by a caller"
    again = load_region("london", settings)
    load_pack("london:camden", settings)
    assert n_files == 2 and len(reads) == 2
    assert len(again.boroughs) == 33 and again.boroughs.loc[0, "lad_nm"] == "City of London"
    assert again.raw["pack"]["crs"] == "EPSG:27700"


def test_an_edited_region_file_is_read_again(settings, tmp_path, monkeypatch):
    project = tmp_path / "project"
    shutil.copytree(settings.project_root / "data" / "regions", project / "data" / "regions")
    local = settings.with_(project_root=project, data_root=settings.resolve_data_root())
    assert load_region("london", local).title == "Greater London"
    path = project / "data" / "regions" / "london.toml"
    path.write_text(path.read_text().replace('title = "Greater London"', 'title = "London, edited"'))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert load_region("london", local).title == "London, edited"


def test_postcodes_are_normalised_once_and_a_changed_copy_does_not_leak(settings, monkeypatch):
    root = settings.resolve_data_root()
    pack = load_pack("london:camden", settings)
    calls = counting(monkeypatch, homes, "read_table")
    first = homes.load_postcodes(pack, root)
    first.loc[first.index[0], "easting"] = -1.0
    second = homes.load_postcodes(load_pack("london:islington", settings), root)
    assert len(calls) == 1
    assert len(second) == len(first) > 180_000
    assert second["easting"].iloc[0] != -1.0
    assert second.attrs["memo_key"][0] == "postcodes"


def test_a_table_is_converted_once_per_process(settings, monkeypatch):
    root = settings.resolve_data_root()
    spec = load_pack("london:camden", settings).table("census_msoa")
    parses = counting(monkeypatch, io, "parse_csv_any")
    a = io.read_table(spec, root, required=("msoa21cd",), numeric=("total",))
    b = io.read_table(spec, root, required=("msoa21cd",), numeric=("total",))
    c = io.read_table(spec, root, required=("msoa21cd",))  # other options: parsed again
    assert len(parses) == 2
    pd.testing.assert_frame_equal(a, b)
    assert a["total"].dtype == float and not pd.api.types.is_numeric_dtype(c["total"])
    assert a is not b


def test_a_service_source_is_read_once_and_gives_the_same_register_and_rejects(settings, monkeypatch):
    """Two boroughs on one worker: the second reads no service file, and its register, rejects and
    row accounting are those of a fresh process.  (The first, Camden, loads into an empty memo: a
    fresh read itself; a second fresh read of it compared the same code path with itself.)"""
    root = settings.resolve_data_root()
    memo.clear()
    fresh = {"london:city-of-london": load_area("london:city-of-london", settings, use_cache=False)}
    memo.clear()
    reads = counting(monkeypatch, services, "read_source")
    shared = {name: load_area(name, settings, use_cache=False) for name in ("london:camden", "london:city-of-london")}
    n_sources = len(load_pack("london:camden", settings).services["sources"])
    assert len(reads) == n_sources  # the first borough's reads; none for the second
    for name, area in list(shared.items())[1:]:
        pd.testing.assert_frame_equal(area.services, fresh[name].services)
        pd.testing.assert_frame_equal(area.rejects, fresh[name].rejects)
        pd.testing.assert_frame_equal(area.checks["services_accounting"], fresh[name].checks["services_accounting"])
        pd.testing.assert_frame_equal(area.homes, fresh[name].homes)
        pd.testing.assert_frame_equal(area.lsoa, fresh[name].lsoa)
        pd.testing.assert_frame_equal(area.wards, fresh[name].wards)
    assert len(shared["london:city-of-london"].rejects) > 1000  # most of London lies beyond the City's buffer
    assert root.is_dir()


def test_the_memo_is_bounded():
    for i in range(memo.MAX_ENTRIES + 5):
        memo.remember(("k", i), lambda i=i: [i], list)
    assert memo.entries() == memo.MAX_ENTRIES
    assert memo.remember(("k", memo.MAX_ENTRIES + 4), lambda: ["made again"], list) == [memo.MAX_ENTRIES + 4]
    assert memo.remember(("k", 0), lambda: ["made again"], list) == ["made again"]  # the oldest went first


def test_a_layer_is_read_and_reprojected_once_per_process(settings, monkeypatch):
    root = settings.resolve_data_root()
    spec = load_pack("london:camden", settings).layer("lsoa21")
    reads = counting(monkeypatch, io, "_read_layer")
    a, _ = io.read_layer(spec, root, "EPSG:27700", required=("lsoa21cd",), id_col="lsoa21cd")
    a.loc[0, "lsoa21cd"] = "changed by a caller"
    b, _ = io.read_layer(spec, root, "EPSG:27700", required=("lsoa21cd",), id_col="lsoa21cd")
    c, _ = io.read_layer(spec, root, "EPSG:4326", required=("lsoa21cd",), id_col="lsoa21cd")  # another CRS
    assert len(reads) == 2
    assert len(b) == 4994 and b.loc[0, "lsoa21cd"] != "changed by a caller"
    assert str(b.crs) == "EPSG:27700" and str(c.crs) == "EPSG:4326"
