"""A local cluster's workers are replaced after about ``worker_boroughs`` boroughs each (rounds on
fresh clusters), which bounds their memory; a running scheduler's workers are never ours to replace."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from batch_faults import Replay
from locmap.api import RunOptions
from locmap.batch import cache
from locmap.batch.borough import BoroughTask
from locmap.batch.engine import (MANIFEST_FILE, STATUS_FILE, BatchOptions, by_size, longest_first, run_batch,
                                 starts_early, worker_rounds)
from locmap.cli import main
from locmap.settings import Settings


def _tasks(n: int) -> list[str]:
    return [f"borough-{i}" for i in range(n)]  # worker_rounds only splits the sequence


def test_thirty_three_boroughs_on_two_workers_of_eight_run_in_three_even_rounds():
    rounds = worker_rounds(_tasks(33), BatchOptions(n_workers=2, worker_boroughs=8))
    assert [len(r) for r in rounds] == [11, 11, 11]
    assert sum(rounds, []) == _tasks(33)  # every borough once, in the region's order


def test_rounds_differ_by_at_most_one_borough_and_none_is_empty():
    rounds = worker_rounds(_tasks(17), BatchOptions(n_workers=2, worker_boroughs=4))
    assert [len(r) for r in rounds] == [6, 6, 5]
    assert worker_rounds(_tasks(1), BatchOptions(n_workers=2, worker_boroughs=8)) == [["borough-0"]]


def test_zero_or_a_scheduler_runs_every_borough_on_one_cluster():
    assert worker_rounds(_tasks(33), BatchOptions(worker_boroughs=0)) == [_tasks(33)]
    assert worker_rounds(_tasks(33), BatchOptions(scheduler="tcp://127.0.0.1:8786")) == [_tasks(33)]


def test_a_negative_number_of_boroughs_per_worker_is_refused():
    with pytest.raises(Exception, match="boroughs per worker must be >= 0"):
        BatchOptions(worker_boroughs=-1)


def test_worker_boroughs_with_a_scheduler_is_refused_by_the_command(tmp_path, capsys):
    code = main(["batch", "--out", str(tmp_path / "b"), "--scheduler", "tcp://127.0.0.1:1",
                 "--worker-boroughs", "4", "--no-progress"])
    assert code == 2
    assert "--worker-boroughs replaces the worker processes of a local cluster" in capsys.readouterr().err


def test_each_round_runs_on_fresh_worker_processes(settings, tmp_path, london_batch3):
    """Two boroughs, one worker, one borough per worker: each borough is its worker's first.  The
    boroughs' figures are replayed from the session's real batch (tests/conftest.py ``london_batch3``)
    through the real ``run_borough`` (tests/batch_faults.py): the rounds and their worker processes are
    the batch's own, only the computation inside each borough is not repeated."""
    out = tmp_path / "london"
    task = Replay(source=london_batch3.out_dir, markers=tmp_path / "attempts")
    res = run_batch("london", out, settings,
                    BatchOptions(boroughs=("city-of-london", "hammersmith-and-fulham"), n_workers=1,
                                 worker_boroughs=1, maps=False, task=task), say=lambda _m: None)
    assert res.ok
    status = pd.read_csv(out / STATUS_FILE)
    assert list(status["status"]) == ["done", "done"]
    assert status["worker_pid"].nunique() == 2
    assert list(status["worker_borough_n"]) == [1, 1]


def _task(folder_root, slug: str, seconds: float | None) -> BoroughTask:
    """A borough task with new inputs; ``seconds``: its last run's time (a done.json of old inputs)."""
    folder = folder_root / slug
    if seconds is not None:
        cache.write_done(folder, {"input_hash": "old", "seconds": seconds})
    return BoroughTask(region="london", lad_cd=slug, lad_nm=slug, area=f"london:{slug}", out_dir=folder,
                       settings=Settings(), options=RunOptions(), input_hash="new")


def test_boroughs_with_a_known_time_are_submitted_longest_first_after_the_unknown_ones(tmp_path):
    """A rerun with other inputs: each borough's last time (its done.json) orders the submission,
    so the longest does not start last while the other worker waits."""
    tasks = [_task(tmp_path, *a) for a in [("a", 11.0), ("b", None), ("c", 17.5), ("d", 12.0), ("e", None)]]
    assert [t.lad_cd for t in longest_first(tasks)] == ["b", "e", "c", "d", "a"]


def test_boroughs_without_a_known_time_are_submitted_largest_first_by_their_homes(tmp_path):
    """A first batch into a new folder: no borough has a time, so the sizes the first warm worker counts
    (residential postcodes) order them, one without a size first; boroughs with a time follow, longest first."""
    tasks = [_task(tmp_path, *a) for a in [("a", 11.0), ("b", None), ("c", 17.5), ("d", None), ("e", None), ("f", None)]]
    sizes = {"a": 99_999, "b": 1_355, "d": 12_299, "e": 6_434}
    assert [t.lad_cd for t in by_size(tasks, sizes)] == ["f", "d", "e", "b", "c", "a"]


def test_the_cluster_starts_before_the_plan_only_where_there_is_surely_work_for_it(tmp_path):
    """A new folder, an unfinished batch or --force: the workers start (and warm) while the inputs are
    hashed; a rerun of a complete batch plans first (it may need no cluster); a running scheduler or
    boroughs run in rounds of fresh clusters (--no-fork) are left as they were."""
    out = tmp_path / "london"
    assert starts_early(out, BatchOptions())
    out.mkdir()
    (out / MANIFEST_FILE).write_text(json.dumps({"state": "interrupted"}))
    assert starts_early(out, BatchOptions())
    (out / MANIFEST_FILE).write_text(json.dumps({"state": "complete"}))
    assert not starts_early(out, BatchOptions())
    assert starts_early(out, BatchOptions(force=True))
    assert not starts_early(tmp_path / "new", BatchOptions(scheduler="tcp://127.0.0.1:8786"))
    assert not starts_early(tmp_path / "new", BatchOptions(fork=False))
    assert not starts_early(tmp_path / "new", BatchOptions(worker_boroughs=4))
