"""The parsed area kept in the cache folder (``load_area(..., stored=True)``, used by ``locmap run``):
read back equal to a fresh load while every input file, locmap's own files and the libraries are
unchanged, loaded again (and stored again) when one of them changes or the copy is unreadable."""
from __future__ import annotations

import dataclasses
import pickle

import pandas as pd
import pytest

from locmap.data import area as area_module
from locmap.data import loaders
from locmap.data.area import KEEP_STORED, load_area, read_stored, stored_path

pytestmark = pytest.mark.realdata

SERVICES = "service_id,name,service_type,postcode,action\n{rows}"
FRAMES = ("wards", "lsoa", "towns", "pcns", "pcn_members", "borough", "neighbour_wards", "services", "rejects",
          "homes", "postcodes", "neighbour_homes")


def _counting_builds(monkeypatch) -> list:
    calls, real = [], loaders.build_area

    def build(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(area_module, "build_area", build)
    return calls


@pytest.fixture
def cached(settings, tmp_path):
    return settings.with_(cache_dir=tmp_path / "cache")


def test_a_stored_area_is_read_back_equal_to_a_fresh_load(cached, monkeypatch):
    builds = _counting_builds(monkeypatch)
    fresh = load_area("ealing", cached, use_cache=False, stored=True)
    again = load_area("ealing", cached, use_cache=False, stored=True)
    assert len(builds) == 1 and stored_path("ealing", cached).is_file()
    for name in FRAMES:
        a, b = getattr(fresh, name), getattr(again, name)
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        assert a.crs == b.crs if hasattr(a, "crs") else True
    assert again.notes == fresh.notes and again.attribution == fresh.attribution
    assert (again.pack.name, again.pack.path, again.pack.lad_cd) == \
        (fresh.pack.name, fresh.pack.path, fresh.pack.lad_cd)
    assert again.settings is cached
    assert again.checks.keys() == fresh.checks.keys()
    assert again.checks["homes"] == fresh.checks["homes"]
    assert len(again.homes) == 5969 and len(again.services) > 300


def test_an_edited_services_file_makes_the_area_load_again(cached, tmp_path, monkeypatch):
    mine = tmp_path / "mine.csv"
    mine.write_text(SERVICES.format(rows="lib-x,Library X,library,W5 2ND,add\n"), encoding="utf-8")
    builds = _counting_builds(monkeypatch)
    first = load_area("ealing", cached, user_services=mine, use_cache=False, stored=True)
    assert "Library X" in set(first.services["name"])
    assert read_stored("ealing", cached, mine) is not None
    mine.write_text(SERVICES.format(rows="lib-y,Library Y,library,W5 2ND,add\n"), encoding="utf-8")
    assert read_stored("ealing", cached, mine) is None  # the file's content changed
    second = load_area("ealing", cached, user_services=mine, use_cache=False, stored=True)
    assert len(builds) == 2
    assert "Library Y" in set(second.services["name"]) and "Library X" not in set(second.services["name"])
    assert read_stored("ealing", cached, mine) is not None  # stored again, under the same name
    assert len(list(stored_path("ealing", cached, mine).parent.glob("*.pickle"))) == 1


def test_a_touched_but_unchanged_file_keeps_the_stored_area(cached, tmp_path):
    mine = tmp_path / "mine.csv"
    mine.write_text(SERVICES.format(rows="lib-x,Library X,library,W5 2ND,add\n"), encoding="utf-8")
    load_area("ealing", cached, user_services=mine, use_cache=False, stored=True)
    mine.write_text(mine.read_text(encoding="utf-8"), encoding="utf-8")  # new time, same content
    assert read_stored("ealing", cached, mine) is not None


def test_a_changed_locmap_file_or_library_makes_the_stored_area_unused(cached, monkeypatch):
    load_area("ealing", cached, use_cache=False, stored=True)
    assert read_stored("ealing", cached) is not None
    with monkeypatch.context() as mp:
        mp.setattr(area_module, "_versions", lambda: {"pandas": "0.0"})
        assert read_stored("ealing", cached) is None
    with monkeypatch.context() as mp:
        real = area_module._code_files
        mp.setattr(area_module, "_code_files", lambda: real() | {"/locmap/a_new_module.py"})
        assert read_stored("ealing", cached) is None
    path = stored_path("ealing", cached)
    with open(path, "rb") as fh:
        record = pickle.load(fh)
    edited = [list(e) for e in record["files"]]
    mine = next(e for e in edited if e[0].endswith("data/area.py"))
    mine[1], mine[3] = "another digest", 0  # as if locmap/data/area.py had been edited since
    path.write_bytes(pickle.dumps({**record, "files": edited}) + path.read_bytes()[len(pickle.dumps(record)):])
    assert read_stored("ealing", cached) is None


def test_an_unreadable_stored_copy_is_loaded_again(cached, monkeypatch):
    load_area("ealing", cached, use_cache=False, stored=True)
    path = stored_path("ealing", cached)
    path.write_bytes(path.read_bytes()[:1000])  # cut short (a full disk, a killed writer)
    assert read_stored("ealing", cached) is None
    builds = _counting_builds(monkeypatch)
    area = load_area("ealing", cached, use_cache=False, stored=True)
    assert len(builds) == 1 and len(area.homes) == 5969
    assert read_stored("ealing", cached) is not None


def test_settings_that_change_the_data_name_another_copy_and_others_do_not(cached):
    base = stored_path("ealing", cached)
    assert stored_path("ealing", dataclasses.replace(cached, buffer_m=500.0)) != base
    assert stored_path("london:ealing", cached) != base
    assert stored_path("ealing", cached.with_(progress=not cached.progress)) == base


def test_only_the_most_recent_stored_areas_are_kept(tmp_path):
    import os

    for i in range(KEEP_STORED + 3):
        p = tmp_path / f"{i:02d}.pickle"
        p.write_bytes(b"x")
        os.utime(p, ns=(i * 10**9, i * 10**9))
    area_module._prune(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.pickle")) == [f"{i:02d}.pickle" for i in range(3, KEEP_STORED + 3)]
