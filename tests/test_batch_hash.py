"""The batch's input hash does not depend on where the data root or the project lie.

Two layouts of the same project files and the same data (every top-level entry of the real data
root linked, so no data is copied): in one the project folder sorts before the data folder, in
the other after it.  The files entered the hash in the order of their absolute paths before, so
moving the data root gave every borough a new hash and the batch recomputed all 33.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from locmap.api import RunOptions
from locmap.batch import cache
from locmap.data.region import load_pack
from locmap.settings import Settings

pytestmark = pytest.mark.realdata

PROJECT_DATA = Path(__file__).resolve().parents[1] / "data"  # data/areas, data/regions (the packs)
OPTIONS = RunOptions(schemes=("wards",), maps=False, report=False)


def layout(settings: Settings, tmp: Path, project: str, data: str) -> Settings:
    """A copy of the project's pack files under ``tmp/project`` and the real data root linked
    entry by entry under ``tmp/data``."""
    shutil.copytree(PROJECT_DATA, tmp / project / "data")
    (tmp / data).mkdir()
    for entry in settings.resolve_data_root().iterdir():
        (tmp / data / entry.name).symlink_to(entry)
    return settings.with_(project_root=tmp / project, data_root=tmp / data)


@pytest.mark.parametrize("area", ["london:city-of-london", "ealing"])
def test_moving_the_data_root_and_the_project_keeps_the_input_hash(settings, tmp_path, area):
    project_first = layout(settings, tmp_path, "a_project", "m_data")  # /a_project... < /m_data...
    data_first = layout(settings, tmp_path, "z_project", "b_data")     # /b_data... < /z_project...
    here = cache.input_hash(area, settings, OPTIONS)
    assert cache.input_hash(area, project_first, OPTIONS) == here
    assert cache.input_hash(area, data_first, OPTIONS) == here


def test_files_enter_the_hash_by_label_and_content_never_by_absolute_path(settings, tmp_path):
    moved = layout(settings, tmp_path, "p", "d")
    entries = cache.file_entries(load_pack("london:city-of-london", moved), moved)
    labels = [label for label, _digest in entries]
    assert labels == sorted(labels) and "project:data/regions/london.toml" in labels
    assert all(label.startswith(("data:", "project:")) for label in labels)
    assert not any(str(tmp_path) in label or "/work/" in label for label in labels)
    assert entries == cache.file_entries(load_pack("london:city-of-london", settings), settings)
