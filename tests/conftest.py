"""Shared fixtures.  Real-data tests use the Ealing pack via ``ealing`` (session-scoped)."""
from __future__ import annotations

import os

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
