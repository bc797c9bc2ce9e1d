"""Every sub-command end to end on the real Ealing data, as a user types it (in a temporary working
folder), plus the main job: its outputs, its settings honoured, one error convention.

What is about the command-line process itself (the main job's terminal output, exit codes and
one-line errors, reproducibility across processes) runs ``python -m locmap`` in a subprocess; what
checks the files and totals a command writes, or the text of ``--help``, calls ``locmap.cli.main``
in this process (``locmap_here``: same parser, same code, no second interpreter start; the import
graph of ``--help`` in a fresh interpreter is tests/test_imports.py's)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from locmap.cli import main
from locmap.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
LOCMAP = [sys.executable, "-m", "locmap"]


def _data_root() -> Path:
    try:
        return Settings.from_env().resolve_data_root()
    except Exception as exc:  # noqa: BLE001 - a test-only guard: no data, no test
        pytest.skip(f"no shared data: {exc}")


def locmap(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "LOCMAP_DATA_ROOT": str(_data_root()), "LOCMAP_NO_PROGRESS": "1"}
    proc = subprocess.run([*LOCMAP, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"locmap {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def locmap_here(capsys, monkeypatch):
    """``locmap <args>`` through ``locmap.cli.main`` in this process, in the working folder ``cwd``;
    returns a CompletedProcess (exit code, stdout, stderr) like ``locmap``."""
    def run(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
        monkeypatch.chdir(cwd)
        monkeypatch.setenv("LOCMAP_DATA_ROOT", str(_data_root()))
        capsys.readouterr()
        rc = main(list(args))
        out, err = capsys.readouterr()
        if check and rc != 0:
            raise AssertionError(f"locmap {' '.join(args)} -> {rc}\n{out}\n{err}")
        return subprocess.CompletedProcess(["locmap", *args], rc, out, err)
    return run


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, locmap_starter):
    """``locmap run --area ealing --out ealing`` (the whole default job, maps, sheet and report) in a
    process of its own, in a temporary working folder: the command's own terminal output and folder,
    and the second run of the reproducibility check (shared by the tests below).  The process is
    forked by tests/conftest.py's ``locmap_starter``, an interpreter of its own (its own hash seed)
    that imported the library once."""
    _data_root()  # no data, no test
    cwd = tmp_path_factory.mktemp("run")
    started = locmap_starter.start("run", "--area", "ealing", "--out", "ealing", cwd=cwd)
    out, err = started.communicate(timeout=600)
    proc = subprocess.CompletedProcess(["locmap", "run"], started.returncode, out, err)
    assert proc.returncode == 0, f"locmap run -> {proc.returncode}\n{out}\n{err}"
    return cwd / "ealing", proc


def test_run_writes_every_step_into_the_folder_named_relative_to_the_working_directory(cli_run):
    out, proc = cli_run
    for rel in ("rejects.csv", "access/nearest.csv", "access/nearest.parquet", "access/coverage.csv",
                "access/gaps.gpkg", "access/README.txt", "localities/ranking_towns.csv",
                "localities/sensitivity_pcns.csv", "localities/localities_run.json", "maps/ealing.html",
                "maps/ealing_offline.html", "timings.csv"):
        assert (out / rel).is_file(), rel
    lead = proc.stdout.split("towns: recommended pathfinder ")[1].split(" ")[0]
    runner_up = proc.stdout.split("runner-up ")[1].split()[0]
    assert "rule: Among the localities whose base-weight score" in proc.stdout
    assert (out / "sheets" / f"{lead}.pdf").is_file()
    for name in (lead, runner_up):  # the hub sites at the middle threshold (15 of 10 15 20)
        assert (out / "sites" / f"sites_summary_{name}_p2_15min.csv").is_file()
    assert (out / "report" / "decision_pack.html").is_file()
    assert lead in (out / "report" / "decision_pack.html").read_text()


def test_run_honours_thresholds_and_k_nearest(light_cli_run):
    """``locmap run --minutes 8 12 16 --k-nearest 2``: the thresholds and k reach every table that carries
    them.  The session's shared light run (tests/conftest.py ``light_cli_run``: towns only; no maps or
    report, which carry neither; the whole job's files are checked above)."""
    out = light_cli_run
    cov = pd.read_csv(out / "access" / "coverage.csv")
    assert sorted(cov["threshold_minutes"].unique()) == [8.0, 12.0, 16.0]
    nearest = pd.read_csv(out / "access" / "nearest.csv")
    assert nearest["rank"].max() == 2
    meta = json.loads((out / "localities" / "localities_run.json").read_text())
    assert meta["thresholds_min"] == [8.0, 12.0, 16.0] and meta["gap_scenarios_min"] == [8.0, 12.0, 16.0]
    sites = pd.read_csv(next((out / "sites").glob("sites_summary_*.csv")))
    assert set(sites["minutes"]) == {12.0}


def test_run_computes_access_once(cli_run):
    out, _ = cli_run
    steps = pd.read_csv(out / "timings.csv")["step"].tolist()
    assert steps.count("access") == 1
    assert steps[:3] == ["load", "check", "access"] and "map-offline" in steps


def test_check_prints_totals_and_writes_rejects(tmp_path, locmap_here):
    proc = locmap_here("check", "--area", "ealing", "--json", "--rejects", "rej.csv", cwd=tmp_path)
    summary = json.loads(proc.stdout.split("rejects written to")[0])
    assert summary["layers"]["wards"] == 24 and summary["layers"]["lsoa21"] == 199
    assert round(summary["population"]["lsoa21_total"]) == 367111
    rej = pd.read_csv(tmp_path / "rej.csv")
    # one rejects row per rejected input row (an all-through school is one row, not two)
    assert len(rej) == len(rej.drop_duplicates(["file", "row"])) == sum(r["rejected"] for r in summary["rows"])


def test_access_writes_the_requested_format_only(tmp_path, locmap_here):
    locmap_here("access", "--area", "ealing", "--types", "gp_practice", "--format", "csv", "--out", "acc",
                "--minutes", "15", cwd=tmp_path)
    names = {p.name for p in (tmp_path / "acc").iterdir()}
    assert "nearest.csv" in names and not any(n.endswith(".parquet") for n in names)
    t = pd.read_csv(tmp_path / "acc" / "nearest.csv")
    assert set(t["service_type"]) - {"any_key_service"} == {"gp_practice"} and len(t) > 5000


def test_localities_and_sites_accept_any_letter_case(tmp_path, locmap_here):
    proc = locmap_here("localities", "--area", "ealing", "--scheme", "towns", "--draws", "200", "--out",
                       "loc", cwd=tmp_path)
    assert "towns: base-weights first = " in proc.stdout
    assert (tmp_path / "loc" / "ranking_towns.csv").is_file()
    proc = locmap_here("sites", "--area", "ealing", "--locality", "nORTHOLT", "--p", "1", "--out", "sites",
                       cwd=tmp_path)
    assert "mclp:" in proc.stdout and (tmp_path / "sites" / "sites_Northolt_p1_15min.csv").is_file()


def test_map_and_sheet(tmp_path, locmap_here):
    locmap_here("map", "--area", "ealing", "--layers", "boundaries,services", "--out", "m/e.html",
                "--offline", cwd=tmp_path)
    html = (tmp_path / "m" / "e.html").read_text()
    assert "OpenStreetMap" in html and "cdn.jsdelivr" not in html
    locmap_here("sheet", "--area", "ealing", "--locality", "hanwell", "--dpi", "60", "--out", "s", cwd=tmp_path)
    assert {p.name for p in (tmp_path / "s").iterdir()} >= {"Hanwell.png", "Hanwell.pdf"}


def test_network_info_and_notebooks_help(tmp_path, locmap_here, capsys):
    proc = locmap_here("network", "info", cwd=tmp_path)
    assert proc.returncode == 0
    assert "--only" in _help("notebooks", capsys)


def _help(command: str, capsys) -> str:
    """``locmap <command> --help`` through ``locmap.cli.main`` in this process: its stdout (argparse
    prints it and exits 0)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


def test_notebooks_runs_one_notebook(tmp_path, locmap_here, monkeypatch):
    monkeypatch.setenv("LOCMAP_CACHE_DIR", str(tmp_path / "cache"))  # inherited by the kernel
    proc = locmap_here("notebooks", "--area", "ealing", "--only", "01", "--out", "nb", cwd=tmp_path)
    assert (tmp_path / "nb" / "01_area_overview.ipynb").is_file(), proc.stderr
    # stored_area (default on): the kernel stored the parsed area for the next notebook or run
    assert len(list((tmp_path / "cache" / "areas").glob("*.pickle"))) == 1


@pytest.mark.parametrize("command", ["check", "run", "access", "localities", "sites", "map", "sheet",
                                     "network", "notebooks"])
def test_help_is_plain_text(command, capsys):
    text = _help(command, capsys)
    assert f"usage: locmap {command}" in text
    for markup in ("``", ":func:", ":class:", ":mod:"):
        assert markup not in text, (command, markup)


def test_errors_are_one_line_with_exit_code_2_for_bad_input(tmp_path):
    """In a process of its own: nothing else (a library's warning, a traceback) on stderr."""
    proc = locmap("sites", "--area", "ealing", "--locality", "Atlantis", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("locmap: error: locality 'Atlantis'") and "Traceback" not in proc.stderr
    proc = locmap("map", "--layers", "need,nosuch", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "unknown layer(s) nosuch" in proc.stderr
    proc = locmap("run", "--speed-kmh", "0", "--out", "x", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "walk_speed_kmh must be > 0" in proc.stderr


def test_failed_run_leaves_no_output_folder(tmp_path):
    """A run that fails while it loads (after its folder was made): the folder is removed.  The file is
    not a workbook, which only its reader finds out (the checks before any work pass it)."""
    bad = tmp_path / "services.xlsx"
    bad.write_bytes(b"\x00\x01\x02 not a workbook")
    proc = locmap("run", "--area", "ealing", "--services", "services.xlsx", "--out", "never", cwd=tmp_path,
                  check=False)
    assert proc.returncode == 2, proc.stderr
    before, _, error = proc.stderr.partition("locmap: error:")
    assert error and "services.xlsx" in error and "Traceback" not in proc.stderr
    assert "== load" in before  # it failed in the job, not in the checks before it
    assert all(line.startswith("== ") for line in before.splitlines())  # only the steps' progress lines
    assert not (tmp_path / "never").exists()


#: Bad input a command refuses before it imports the library (locmap.pathcheck): (argv, exit code, words)
BAD_INPUT_BEFORE_ANY_IMPORT = [
    (["run", "--services", "nosuch.csv", "--out", "job"], 2, "nosuch.csv: file not found"),
    (["run", "--services", "services.csv", "--out", "job"], 2, "services.csv: not a text file: it looks like a PNG"),
    (["check", "--services", "afolder"], 2, "afolder: is a folder, not a file"),
    (["check", "--rejects", "afolder"], 1, "afolder: is a folder; a file name is expected"),
    (["access", "--no-progress", "--out", "afile"], 1, "afile: is a file; a folder is expected"),
    (["run", "--network", "nosuch.osm.pbf", "--out", "job"], 2, "nosuch.osm.pbf: street-network file not found"),
    (["run", "--speed-kmh", "0", "--out", "job"], 2, "walk_speed_kmh must be > 0"),
    (["map", "--layers", "need,nosuch"], 2, "unknown layer(s) nosuch"),
]
_BEFORE_IMPORT_PROBE = """
import contextlib, io, json, sys
from locmap.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(argv)
    heavy = sorted({m.split(".")[0] for m in sys.modules} & {"numpy", "pandas", "geopandas", "shapely", "pyogrio"})
    results.append([rc, err.getvalue(), heavy])
print(json.dumps(results))
"""


def test_bad_paths_and_options_are_refused_before_the_geospatial_stack_is_imported(tmp_path):
    """A typo costs the user a fraction of a second, not the imports (~1.7 s of CPU): the checks run
    first; the import graph is measured, not the clock."""
    (tmp_path / "services.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    (tmp_path / "afolder").mkdir()
    (tmp_path / "afile").write_text("keep")
    env = {**os.environ, "LOCMAP_DATA_ROOT": str(_data_root()), "LOCMAP_NO_PROGRESS": "1"}
    proc = subprocess.run([sys.executable, "-c", _BEFORE_IMPORT_PROBE,
                           json.dumps([argv for argv, _, _ in BAD_INPUT_BEFORE_ANY_IMPORT])],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for (argv, code, words), (rc, err, heavy) in zip(BAD_INPUT_BEFORE_ANY_IMPORT, json.loads(proc.stdout)):
        assert (rc, heavy) == (code, []), (argv, err)
        assert err.startswith("locmap: error: ") and words in err and len(err.splitlines()) == 2, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "afolder", "services.csv"]  # nothing made


def test_services_workbook_sheet_is_chosen_by_name_or_position(tmp_path, locmap_here):
    with pd.ExcelWriter(tmp_path / "hubs.xlsx") as w:
        pd.DataFrame({"note": ["read me"]}).to_excel(w, sheet_name="Readme", index=False)
        pd.DataFrame({"name": ["New Hub"], "service_type": ["childrens_centre"], "postcode": ["UB5 6PA"],
                      "action": ["add"]}).to_excel(w, sheet_name="Hubs", index=False)
    for sheet in ("Hubs", "2"):
        proc = locmap_here("check", "--area", "ealing", "--services", "hubs.xlsx", "--sheet", sheet,
                           cwd=tmp_path)
        assert "hubs.xlsx: 1 rows read, 1 used, 0 rejected" in proc.stderr


def test_missing_services_file_fails_before_any_work(tmp_path):
    proc = locmap("run", "--services", "nosuch.csv", "--out", "job", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "nosuch.csv: file not found" in proc.stderr
    assert "== load" not in proc.stderr and not (tmp_path / "job").exists()


def test_run_twice_gives_identical_files(ealing_job, cli_run):
    """Reproducible exports: the same inputs give the same bytes in every file (timings excepted).
    The first run is the whole default Ealing job run once per test session (tests/conftest.py, a
    folder also named ``ealing``: the folder's name is written in the workbook); the second is
    ``locmap run`` in another process (``cli_run``)."""
    first = ealing_job.out_dir
    second, _ = cli_run
    names = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    differ = [str(n) for n in names if n.name not in ("timings.csv", "run.json")  # times of the run
              and (first / n).read_bytes() != (second / n).read_bytes()]
    assert differ == []


def test_empty_data_root_says_so(tmp_path, capsys, monkeypatch):
    empty = tmp_path / "data"
    empty.mkdir()
    monkeypatch.setenv("LOCMAP_DATA_ROOT", str(empty))
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["check"]) == 2
    assert f"the data folder {empty} is empty; set LOCMAP_DATA_ROOT" in capsys.readouterr().err
