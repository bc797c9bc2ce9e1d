"""The Ealing figures of the London batch equal a plain ``locmap run --area ealing`` on the same data.

Ealing keeps its own pack in the region (``[own_packs]``), so the batch runs exactly the job a user
runs by hand; this test holds that to the byte: every access table, the rejects and the towns
localities files are the same files.
"""
from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from locmap.batch.engine import BatchOptions, run_batch
from locmap.settings import Settings

pytestmark = pytest.mark.realdata


def _files(folder: Path, pattern: str) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.glob(pattern) if p.is_file())


@pytest.fixture(scope="module")
def both(tmp_path_factory, ealing_job):
    """The batch's Ealing borough and the plain whole Ealing job (run once per test process,
    tests/conftest.py; its maps and report add no file to the tables compared here)."""
    tmp = tmp_path_factory.mktemp("ealing_batch")
    settings = Settings.from_env(progress=False)
    res = run_batch("london", tmp / "london", settings,
                    BatchOptions(boroughs=("ealing",), n_workers=1, maps=False), say=lambda _m: None)
    return res, tmp / "london" / "boroughs" / "ealing", ealing_job.out_dir


def test_batch_ealing_access_tables_are_the_plain_runs_byte_for_byte(both):
    res, batch, plain = both
    assert res.status["status"].tolist() == ["done"]
    names = _files(plain / "access", "*")
    assert len(names) > 20 and names == _files(batch / "access", "*")
    differ = [n for n in names if not filecmp.cmp(plain / "access" / n, batch / "access" / n, shallow=False)]
    assert differ == []


def test_batch_ealing_rejects_and_towns_localities_are_the_plain_runs(both):
    _, batch, plain = both
    assert filecmp.cmp(plain / "rejects.csv", batch / "rejects.csv", shallow=False)
    towns = [n for n in _files(plain / "localities", "*towns*")]
    assert towns and all(filecmp.cmp(plain / "localities" / n, batch / "localities" / n, shallow=False)
                         for n in towns)


def test_batch_ealing_summary_holds_the_plain_runs_population(both):
    res, _, plain = both
    s = res.outcomes[0].summary
    # Census 2021: LSOA sum 367,111 vs the LTLA file's 367,122 (ONS perturbation)
    assert round(s["pop_total"]) == round(s["population_lsoa_sum"]) == round(s["census_msoa_sum"]) == 367_111
    assert round(s["census_ltla"]) == 367_122


def test_batch_ealing_starts_on_a_worker_warmed_before_it(both):
    """The worker's first task imported the job's modules and parsed the data (``warm_worker``) before
    the borough, its first, started: it held ~600 MB then, where a fresh worker holds ~260 MB."""
    res, _batch_dir, _plain_dir = both
    outcome = res.outcomes[0]
    assert (outcome.status, outcome.worker_borough_n) == ("done", 1)
    assert outcome.rss_start_mb > 450, outcome.rss_start_mb
