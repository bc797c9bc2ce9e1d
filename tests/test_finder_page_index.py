"""The finder page reads the nearest-services index `locmap nearest` reads: built once, reused by the
next page (no routing), rebuilt when an input changes, and giving the same page as computing."""
from __future__ import annotations

import pytest

import locmap.finder.nearest
import locmap.finder.page
from locmap.cli import main
from locmap.finder import index as fi
from locmap.finder.page import finder_data

pytestmark = pytest.mark.realdata

SERVICES = "service_id,name,service_type,postcode,action\n{rows}"


@pytest.fixture
def computed(monkeypatch) -> list[int]:
    """Number of points each :func:`nearest_for_points` call answered (the page's and the index build's)."""
    calls: list[int] = []
    real = locmap.finder.nearest.nearest_for_points

    def counting(area, xy, *a, **k):
        calls.append(len(xy))
        return real(area, xy, *a, **k)

    monkeypatch.setattr(locmap.finder.nearest, "nearest_for_points", counting)
    monkeypatch.setattr(locmap.finder.page, "nearest_for_points", counting)
    return calls


@pytest.mark.parametrize("k, types", [(3, None), (2, ["library", "gp_practice"])])
def test_page_data_from_the_index_equal_the_computed_page_data(ealing, settings, tmp_path, computed, k, types):
    s = settings.with_(cache_dir=tmp_path)
    computed_data = finder_data(ealing, k, types, s)
    assert computed == [6222]  # the answerable postcodes, routed by the page
    from_index = finder_data(ealing, k, types, s, index_name="ealing")
    assert computed == [6222, 6222]  # the index build routed them (no index yet)
    assert from_index == computed_data
    assert fi.read_index("ealing", s.with_(k_nearest=k)) is not None
    assert finder_data(ealing, k, types, s, index_name="ealing") == computed_data
    assert computed == [6222, 6222]  # read from the index: nothing routed


def test_a_second_finder_page_reads_the_index_and_an_edited_input_rebuilds_it(tmp_path, computed, capsys):
    mine = tmp_path / "mine.csv"
    mine.write_text(SERVICES.format(rows="lib-far,Far Library,library,W5 2ND,add\n"), encoding="utf-8")
    argv = ["finder", "--services", str(mine), "--cache-dir", str(tmp_path / "cache"), "--no-progress",
            "--k", "2"]
    assert main([*argv, "--out", str(tmp_path / "first.html")]) == 0
    assert computed == [6222]  # the index build
    assert main([*argv, "--out", str(tmp_path / "second.html")]) == 0
    assert computed == [6222]  # the second page read it
    assert (tmp_path / "first.html").read_bytes() == (tmp_path / "second.html").read_bytes()
    assert main(["nearest", "--postcode", "UB5 6PA", *argv[1:]]) == 0  # nearest reads the same index
    assert computed == [6222]
    assert "Far Library" in (tmp_path / "first.html").read_text(encoding="utf-8")
    mine.write_text(SERVICES.format(rows="lib-new,Next Door Library,library,UB5 6PA,add\n"), encoding="utf-8")
    assert main([*argv, "--out", str(tmp_path / "third.html")]) == 0
    assert computed == [6222, 6222]  # the input changed: rebuilt
    third = (tmp_path / "third.html").read_text(encoding="utf-8")
    assert "Next Door Library" in third and "Far Library" not in third
    capsys.readouterr()


def test_a_page_for_an_area_changed_in_memory_is_computed_not_read(ealing, settings, tmp_path, computed):
    s = settings.with_(cache_dir=tmp_path)
    finder_data(ealing, 1, ["library"], s, index_name="ealing")
    assert computed == [6222]
    finder_data(ealing, 1, ["library"], s)  # no index_name: the page routes its own answers
    assert computed == [6222, 6222]
