"""The Ealing figures of the London batch equal a plain ``locmap run --area ealing`` on the same data.

Ealing keeps its own pack in the region (``[own_packs]``), so the batch runs exactly the job a user
runs by hand; this test holds that to the byte: every access table, the rejects and the towns
localities files are the same files.  The batch is the session's real London batch
(tests/conftest.py ``london_batch3``: the City of London, Ealing and Hammersmith and Fulham on two
worker processes), where Ealing runs on a worker that parsed the London-wide files for the other
boroughs, as in a whole London batch.
"""
from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

pytestmark = pytest.mark.realdata

#: Ealing's borough code
EALING = "E09000009"


def _files(folder: Path, pattern: str) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.glob(pattern) if p.is_file())


@pytest.fixture(scope="module")
def both(london_batch3, ealing_job):
    """The batch's Ealing outcome and borough folder, and the plain whole Ealing job's folder (both run
    once per test session, tests/conftest.py; the job's maps and report add no file to the tables
    compared here).  READ ONLY."""
    outcome = next(o for o in london_batch3.outcomes if o.lad_cd == EALING)
    return outcome, london_batch3.out_dir / "boroughs" / "ealing", ealing_job.out_dir


def test_batch_ealing_access_tables_are_the_plain_runs_byte_for_byte(both):
    outcome, batch, plain = both
    assert outcome.status == "done"
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
    outcome, _, _plain = both
    s = outcome.summary
    # Census 2021: LSOA sum 367,111 vs the LTLA file's 367,122 (ONS perturbation)
    assert round(s["pop_total"]) == round(s["population_lsoa_sum"]) == round(s["census_msoa_sum"]) == 367_111
    assert round(s["census_ltla"]) == 367_122


def test_batch_ealing_starts_on_a_worker_warmed_before_it(both):
    """The worker's first task imported the job's modules and parsed the region's data (``warm_worker``)
    before the borough, its first, started: it held ~600 MB then, where a fresh worker holds ~260 MB.
    (Ealing is the largest of the three boroughs, so it is submitted first, to the first worker warmed.)"""
    outcome, _batch_dir, _plain_dir = both
    assert (outcome.status, outcome.worker_borough_n) == ("done", 1)
    assert outcome.rss_start_mb > 450, outcome.rss_start_mb
