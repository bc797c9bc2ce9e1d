"""A street network that was asked for is used or refused with a clear error, never replaced by
estimated distances; relative paths start from the working folder (from the pack file for a pack).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from unprivileged import NOBODY

from locmap.cli import main
from locmap.data.manifest import load_manifest
from locmap.distance.network import requested_network
from locmap.distance.routing import EstimatedRouter, StreetRouter, default_router
from locmap.errors import NetworkError
from locmap.settings import Settings
from osm_fixtures import ealing_grid_osm, helsinki_pbf

ROOT = Path(__file__).resolve().parents[1]


def _pack_with_network(folder: Path, value: str) -> Path:
    """A copy of the Ealing pack in ``folder`` that names a network."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "data" / "areas" / "ealing.toml").read_text()
    pack = folder / "mine.toml"
    pack.write_text(f'network = "{value}"\n' + text)
    return pack


def test_pack_network_is_relative_to_the_pack_file_and_settings_win(tmp_path):
    pack = load_manifest(_pack_with_network(tmp_path / "packs", "../geo/ealing_walk.graphml"))
    assert pack.network == tmp_path / "geo" / "ealing_walk.graphml"
    req = requested_network(Settings(), pack)
    assert req.path == tmp_path / "geo" / "ealing_walk.graphml"
    assert req.asked_by == f"area pack {tmp_path / 'packs' / 'mine.toml'}, key 'network'"
    mine = Settings(network_file=Path("nets/x.osm.pbf"))  # relative to the working folder
    req = requested_network(mine, pack)
    assert req.path == Path.cwd() / "nets" / "x.osm.pbf"
    assert req.asked_by == "--network / Settings.network_file"
    assert requested_network(Settings(), load_manifest("ealing")) is None


# ---------------------------------------------------------------------------- library
@pytest.fixture
def with_network(ealing, tmp_path):
    def make(path: Path):
        s = ealing.settings.with_(network_file=path, cache_dir=tmp_path / "cache")
        return dataclasses.replace(ealing, settings=s)
    return make


@pytest.mark.realdata
def test_no_network_asked_for_gives_the_calibrated_estimate(ealing):
    router = default_router(ealing)
    assert isinstance(router, EstimatedRouter) and router.calibration.n > 300


@pytest.mark.realdata
@pytest.mark.parametrize("case, words", [
    ("missing", "street-network file not found"),
    ("folder", "is a folder, not a street-network file"),
    ("empty", "street-network file is empty (0 bytes)"),
    ("not osm", "not readable as OSM data"),
    ("unknown format", "unknown street-network format"),
])
def test_a_requested_network_that_cannot_be_used_is_an_error_naming_it(with_network, tmp_path,
                                                                        case, words):
    path = {"missing": tmp_path / "nope.graphml", "folder": tmp_path,
            "empty": tmp_path / "empty.osm.pbf", "not osm": tmp_path / "junk.osm.pbf",
            "unknown format": tmp_path / "net.shp"}[case]
    if case == "empty":
        path.write_bytes(b"")
    elif case in ("not osm", "unknown format"):
        path.write_bytes(b"this is not a street network\n")
    with pytest.raises(NetworkError) as err:
        default_router(with_network(path))
    msg = str(err.value)
    assert msg.startswith(f"{path}: ") and words in msg
    assert "asked for by --network / Settings.network_file" in msg
    assert "What to do:" in msg


@pytest.mark.realdata
def test_a_network_of_another_place_is_refused(with_network):
    with pytest.raises(NetworkError) as err:
        default_router(with_network(helsinki_pbf()))
    msg = str(err.value)
    assert "does not cover the study area (asked for by --network" in msg
    assert "5,969 of 5,969 homes (100%) are more than 300 m from it" in msg
    assert "Network extent 24.9" in msg and "homes extent -0.41" in msg
    assert "locmap network fetch --area NAME" in msg


@pytest.mark.realdata
def test_a_network_covering_part_of_the_area_is_refused(with_network, tmp_path):
    west = ealing_grid_osm(tmp_path / "west.osm", lon1=-0.33)  # Ealing runs east to -0.24
    with pytest.raises(NetworkError, match=r"does not cover the study area \(asked for by "
                                           r"--network / Settings.network_file\): 3,102 of 5,969 "
                                           r"homes \(52%\)"):
        default_router(with_network(west))


@pytest.mark.realdata
def test_a_pack_network_is_used_or_refused_too(ealing, tmp_path):
    pack = dataclasses.replace(ealing.pack, network=tmp_path / "gone.osm.pbf",
                               path=tmp_path / "mine.toml")
    area = dataclasses.replace(ealing, pack=pack)
    with pytest.raises(NetworkError, match=r"gone.osm.pbf: street-network file not found \(asked "
                                           r"for by area pack .*mine.toml, key 'network'\)"):
        default_router(area)
    grid = ealing_grid_osm(tmp_path / "grid.osm")
    pack = dataclasses.replace(pack, network=grid)
    s = ealing.settings.with_(cache_dir=tmp_path / "cache")
    router = default_router(dataclasses.replace(ealing, pack=pack, settings=s))
    assert isinstance(router, StreetRouter)
    assert router.network.report["coverage"]["homes_off_network"] == 0


# ---------------------------------------------------------------------------- command line
def _locmap(*args: str, cwd: Path, prefix: list[str] = ()) -> subprocess.CompletedProcess:
    home = cwd / ".home"
    home.mkdir(exist_ok=True)
    home.chmod(0o777)
    env = {**os.environ, "LOCMAP_NO_PROGRESS": "1", "HOME": str(home), "MPLCONFIGDIR": str(home),
           "LOCMAP_DATA_ROOT": str(Settings.from_env().resolve_data_root()),
           "LOCMAP_CACHE_DIR": str(cwd / "cache")}
    return subprocess.run([*prefix, sys.executable, "-m", "locmap", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.realdata
def test_run_with_a_missing_network_exits_2_naming_the_path_and_writes_nothing(tmp_path):
    r = _locmap("run", "--area", "ealing", "--network", "missing.graphml", "--out", "job",
                cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    error = r.stderr[r.stderr.rfind("locmap: error:"):].splitlines()
    assert error[0] == (f"locmap: error: {tmp_path / 'missing.graphml'}: street-network file not "
                        "found (asked for by --network / Settings.network_file)")
    assert error[1].startswith("  What to do: check the path: relative paths start from the folder")
    assert not (tmp_path / "job").exists()


@pytest.mark.realdata
def test_a_relative_network_path_is_read_from_the_working_folder(tmp_path, monkeypatch, capsys):
    """``locmap access`` through ``locmap.cli.main`` in this process, in the working folder ``tmp_path``
    (the environment ``_locmap`` gives a subprocess): no second interpreter start for a question about
    paths."""
    (tmp_path / "nets").mkdir()
    ealing_grid_osm(tmp_path / "nets" / "grid.osm")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOCMAP_NO_PROGRESS", "1")
    monkeypatch.setenv("LOCMAP_DATA_ROOT", str(Settings.from_env().resolve_data_root()))
    monkeypatch.setenv("LOCMAP_CACHE_DIR", str(tmp_path / "cache"))
    rc = main(["access", "--area", "ealing", "--network", "nets/grid.osm", "--types", "gp_practice",
               "--minutes", "15", "--out", "acc"])
    assert rc == 0, capsys.readouterr().err
    nearest = pd.read_csv(tmp_path / "acc" / "nearest.csv")
    assert set(nearest["label"]) == {"street distance"} and set(nearest["method"]) == {"street"}
    assert list((tmp_path / "cache" / "network").glob("grid-pram-*.npz"))



def test_an_unreadable_network_file_is_named_with_what_to_do(shared_dir):
    prefix: list[str] = []
    if os.geteuid() == 0:  # root reads everything: drop to user nobody
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot test a permission error")
        prefix = NOBODY
    f = shared_dir / "locked.osm.pbf"
    shutil.copy(helsinki_pbf(), f)
    f.chmod(0o000)
    r = _locmap("network", "build", "--osm", str(f), cwd=shared_dir, prefix=prefix)
    if r.returncode != 0 and "No module named" in r.stderr:
        pytest.skip("user nobody cannot import this checkout; needs a world-readable clone")
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"locmap: error: {f}: street-network file cannot be read "
                               "(permission denied)")
    assert "What to do: make the file readable for your user" in r.stderr
