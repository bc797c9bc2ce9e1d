"""A run owns its output folder: ``run.json`` records what made it, a rerun replaces the previous
run's files whole (nothing stale survives), and a folder that is not a locmap run folder is refused."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from locmap import api
from locmap._background import SERIAL_ENV
from locmap.cli import build_parser, fill_default_out, main
from locmap.errors import OutputFolderError
from locmap.runfolder import OWN_FOLDERS

ROOT = Path(__file__).resolve().parents[1]
LIGHT = api.RunOptions(schemes=("towns",), maps=False, report=False)


def _previous_full_run(out: Path) -> None:
    """The files a full run (maps, report, sheets) leaves, as a folder made before run.json existed."""
    for rel in ("timings.csv", "maps/ealing.html", "maps/ealing_offline.html", "sheets/Southall.pdf",
                "report/decision_pack.html", "localities/scorecard_towns.csv"):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text("old run\n")
    (out / "my_notes.txt").write_text("the planner's own notes\n")


def test_a_rerun_with_fewer_outputs_removes_the_stale_files_and_keeps_the_users(tmp_path, settings, monkeypatch):
    out = tmp_path / "out"
    _previous_full_run(out)
    # the steps one after the other in this process (locmap._background): the folder is what is checked;
    # files written by the run's second process are recorded in run.json (test_a_batch_borough_folder_...:
    # a file missing from it would be listed as another's file kept)
    monkeypatch.setenv(SERIAL_ENV, "1")
    res = api.run_all("ealing", settings, out, LIGHT, say=lambda m: None)
    present = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    manifest = json.loads((out / "run.json").read_text())
    assert not (out / "maps").exists() and not (out / "report").exists() and not (out / "sheets").exists()
    assert (out / "my_notes.txt").read_text() == "the planner's own notes\n"
    assert manifest["status"] == "complete" and manifest["finished_utc"]
    assert manifest["other_files_kept"] == ["my_notes.txt"]
    assert sorted(manifest["files"]) == [f for f in present if f != "my_notes.txt"]
    assert {p.relative_to(out).as_posix() for p in res.files} == set(manifest["files"])
    assert (out / "localities" / "scorecard_towns.csv").read_text() != "old run\n"


def test_run_json_records_inputs_with_sizes_and_hashes_and_localities_point_at_it(light_cli_run):
    """The session's shared light ``locmap run`` (tests/conftest.py ``light_cli_run``: towns only, no maps
    or report) into a batch borough's folder."""
    out = light_cli_run
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["options"]["schemes"] == ["towns"] and manifest["settings"]["walk_speed_kmh"] == 4.0
    assert manifest["code_version"].startswith("locmap ")
    by_name = {Path(i["path"]).name: i for i in manifest["inputs"]}
    assert "london_boroughs.geojson" in by_name and len(manifest["inputs"]) >= 10
    one = by_name["london_boroughs.geojson"]
    data = Path(one["path"]).read_bytes()
    assert one["size_bytes"] == len(data) and one["sha256"] == hashlib.sha256(data).hexdigest()
    loc_meta = json.loads((out / "localities" / "localities_run.json").read_text())
    assert loc_meta["run_manifest"] == "../run.json" and loc_meta["inputs"] == manifest["inputs"]


def test_a_folder_of_other_files_is_refused_before_any_work(tmp_path, settings):
    out = tmp_path / "documents"
    (out / "maps").mkdir(parents=True)
    (out / "maps" / "holiday.html").write_text("mine\n")
    with pytest.raises(OutputFolderError, match="holds 1 file.*no run.json"):
        api.run_all("ealing", settings, out, LIGHT, say=lambda m: None)
    assert [p.name for p in out.rglob("*")] == ["maps", "holiday.html"]


def test_the_known_layout_is_what_locmap_run_writes():
    assert set(OWN_FOLDERS) >= {"access", "localities", "sites", "maps", "sheets", "report"}


@pytest.mark.parametrize("command, default", [
    (["run"], "out/{a}"), (["access"], "out/{a}/access"), (["localities"], "out/{a}/localities"),
    (["sites", "--locality", "X"], "out/{a}/sites"), (["map"], "out/{a}/maps/{a}.html"),
    (["report"], "out/{a}/report"), (["notebooks"], "out/{a}/notebooks"),
    (["sheet", "--locality", "X"], "out/{a}/sheets"), (["finder"], "out/{a}/finder.html")])
def test_default_output_folders_carry_the_area_name(command, default):
    """``locmap notebooks --area hounslow`` overwrote Ealing's notebooks in the shared out/notebooks."""
    outs = {}
    for area, slug in (("ealing", "ealing"), ("hounslow", "hounslow"), ("london:camden", "london-camden")):
        args = build_parser().parse_args([*command, "--area", area])
        fill_default_out(args)
        outs[area] = args.out
        assert args.out == default.format(a=slug)
    assert len(set(outs.values())) == 3


def test_an_explicit_out_is_kept():
    args = build_parser().parse_args(["notebooks", "--area", "hounslow", "--out", "mine"])
    fill_default_out(args)
    assert args.out == "mine"


def test_the_command_refuses_a_folder_of_other_files_with_exit_2(tmp_path, capsys):
    (tmp_path / "thesis.docx").write_text("years of work\n")
    rc = main(["run", "--area", "ealing", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and "thesis.docx" in err and "--force" in err
    assert [p.name for p in tmp_path.iterdir()] == ["thesis.docx"]


def test_batch_and_region_outputs_are_ignored_by_git():
    ignored = (ROOT / ".gitignore").read_text().split()
    assert {"out/", "london/", "london-wide/"} <= set(ignored)


def test_a_batch_borough_folder_with_only_the_batch_log_is_not_foreign(light_cli_run):
    """A borough that failed leaves log.txt/error.txt (locmap batch's own): its retry must run (the
    session's shared light run went into such a folder, tests/conftest.py ``light_cli_run``)."""
    out = light_cli_run
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["status"] == "complete" and manifest["other_files_kept"] == []
    assert (out / "log.txt").is_file()
