"""Shared fixtures.  Real-data tests use the Ealing pack via ``ealing`` (session-scoped)."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("LOCMAP_NO_PROGRESS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def settings():
    from locmap.settings import Settings

    return Settings.from_env(progress=False)


@pytest.fixture(scope="session")
def ealing(settings):
    """The real Ealing AreaData (skips only if no data folder exists)."""
    from locmap.data.area import load_area
    from locmap.errors import DataRootNotFoundError

    try:
        settings.resolve_data_root()
    except DataRootNotFoundError as exc:  # pragma: no cover - CI always has ../shared
        pytest.skip(str(exc))
    return load_area("ealing", settings)


@pytest.fixture
def shared_dir():
    """A temporary folder every user can enter (pytest's tmp_path is private to root), for the
    permission tests that run locmap as user nobody."""
    d = Path(tempfile.mkdtemp(prefix="locmap-shared-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)
