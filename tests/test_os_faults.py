"""The machine says no: read-only folders, files in the way, a full disk, folders given as
files, binary and unreadable input.  Each gives one clear ``locmap: error:`` message naming
the path and what to do, no traceback, the documented exit code (1 = failure while writing,
2 = bad input), and leaves no partial file behind.

Permission tests run the real CLI as the unprivileged user ``nobody`` (root bypasses file
permissions); the disk-full CLI test writes to a 64 KiB tmpfs mounted for the test.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from unprivileged import NOBODY
import shapely

import locmap.errors as errors_module
from locmap import export
from locmap.cli import main
from locmap.data.io import check_input_file, read_csv_any
from locmap.errors import DataFileError, InputFileError, LocmapError, OutputError
from locmap.pathcheck import check_services_file

ROOT = Path(__file__).resolve().parents[1]
LOCMAP = ROOT / ".venv" / "bin" / "locmap"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(40)


# ------------------------------------------------------------------ helpers

def _unprivileged_prefix() -> list[str]:
    """Command prefix that runs as a user without root's permission bypass, or skip."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root and setpriv (util-linux) is missing: cannot drop root to test permissions")
    r = subprocess.run([*NOBODY, str(ROOT / ".venv" / "bin" / "python"), "-c", "import locmap.cli"],
                       capture_output=True, text=True, env=_env(Path(tempfile.gettempdir())))
    if r.returncode != 0:
        pytest.skip(f"user nobody cannot run this checkout's locmap ({r.stderr.strip()[-200:]}); "
                    "permission tests need a world-readable clone")
    return NOBODY


def _env(cwd: Path) -> dict[str, str]:
    """Environment for a subprocess, with HOME, matplotlib's config folder and numba's cache
    in a folder the unprivileged user can write (the checkout's own __pycache__ is root's)."""
    home = cwd / ".home-nobody"
    home.mkdir(exist_ok=True)
    home.chmod(0o777)
    return dict(os.environ, LOCMAP_NO_PROGRESS="1", HOME=str(home), MPLCONFIGDIR=str(home),
                NUMBA_CACHE_DIR=str(home / "numba"))


def _cli(args: list[str], cwd: Path, prefix: list[str] = ()) -> subprocess.CompletedProcess:
    env = _env(cwd)
    exe = [str(LOCMAP)] if LOCMAP.exists() else [sys.executable, "-m", "locmap"]
    return subprocess.run([*prefix, *exe, *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300)


def _cli_here(args: list[str], cwd: Path, monkeypatch, capsys) -> subprocess.CompletedProcess:
    """``locmap <args>`` through ``locmap.cli.main`` in this process (where the test is about the
    message and the files, not the process or its user); exit code, stdout and stderr."""
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("LOCMAP_NO_PROGRESS", "1")
    capsys.readouterr()
    rc = main(args)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["locmap", *args], rc, out, err)


def _assert_one_clear_error(r: subprocess.CompletedProcess, path: Path, code: int, *words: str) -> None:
    """Exit ``code``; stderr ends with ``locmap: error: <path>...`` and one "What to do" line
    (progress lines before it are fine), and has no traceback."""
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    error = r.stderr[r.stderr.rfind("locmap: error:"):].rstrip("\n").splitlines()
    assert error and error[0].startswith("locmap: error:"), r.stderr
    assert str(path) in error[0], r.stderr
    assert len(error) == 2 and error[1].startswith("  What to do:"), r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ------------------------------------------------------------------ writers (library level)
def test_disk_full_while_writing_keeps_the_previous_file_and_leaves_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "rejects.csv"
    target.write_text("old\n")

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    with pytest.raises(OutputError) as ei:
        export.write_csv(pd.DataFrame({"a": [1]}), target)
    e = ei.value
    assert isinstance(e, OSError) and e.errno == errno.ENOSPC and e.filename == str(target)
    assert e.exit_code == 1 and str(e).startswith(f"{target}: disk full")
    assert target.read_text() == "old\n" and sorted(os.listdir(tmp_path)) == ["rejects.csv"]


def test_failed_write_removes_the_folders_it_created(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
    with pytest.raises(OutputError, match="cannot write: I/O error"):
        export.write_text(tmp_path / "new" / "deeper" / "f.txt", "x")
    assert os.listdir(tmp_path) == []


def test_folder_at_the_output_path_is_refused_before_writing(tmp_path):
    (tmp_path / "rejects.csv").mkdir()
    with pytest.raises(OutputError, match="is a folder; a file name is expected") as ei:
        export.write_csv(pd.DataFrame({"a": [1]}), tmp_path / "rejects.csv")
    assert ei.value.errno == errno.EISDIR and os.listdir(tmp_path / "rejects.csv") == []


def test_file_in_place_of_the_output_folder_is_named(tmp_path):
    (tmp_path / "out").write_text("keep")
    with pytest.raises(OutputError) as ei:
        export.write_csv(pd.DataFrame({"a": [1]}), tmp_path / "out" / "sub" / "t.csv")
    assert f"{tmp_path / 'out'} is a file" in str(ei.value)
    assert (tmp_path / "out").read_text() == "keep"


def test_check_output_path_refuses_before_any_work(tmp_path):
    (tmp_path / "afile").write_text("keep")
    (tmp_path / "adir").mkdir()
    cases = [((tmp_path / "adir", False), "is a folder; a file name is expected"),
             ((tmp_path / "afile", True), "is a file; a folder is expected"),
             ((tmp_path / "afile" / "sub" / "t.csv", False), f"{tmp_path / 'afile'} is a file")]
    for (path, folder), words in cases:
        with pytest.raises(OutputError, match=re.escape(words)):
            export.check_output_path(path, folder=folder)
    assert export.check_output_path(tmp_path / "new" / "t.csv") == tmp_path / "new" / "t.csv"
    assert sorted(os.listdir(tmp_path)) == ["adir", "afile"]  # nothing created


def test_check_output_path_refuses_a_read_only_folder_for_an_unprivileged_user(shared_dir):
    prefix = _unprivileged_prefix()
    ro = shared_dir / "readonly"
    ro.mkdir(mode=0o555)
    code = f"from locmap.export import check_output_path; check_output_path({str(ro / 'out')!r}, folder=True)"
    r = subprocess.run([*prefix, str(ROOT / ".venv" / "bin" / "python"), "-c", code], capture_output=True,
                       text=True, cwd=ROOT, env=_env(shared_dir))
    assert r.returncode == 1 and f"OutputError: {ro / 'out'}: permission denied" in r.stderr, r.stderr


@pytest.fixture
def tiny_disk():
    """A 64 KiB tmpfs (root only); skipped with the reason when it cannot be mounted."""
    d = Path(tempfile.mkdtemp(prefix="locmap-tmpfs-"))
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0777", "tmpfs", str(d)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        d.rmdir()
        pytest.skip(f"cannot mount a 64 KiB tmpfs to fill ({r.stderr.strip()}); the ENOSPC path is "
                    "still tested by patching the writer")
    yield d
    subprocess.run(["umount", str(d)], check=False)
    d.rmdir()


def test_geopackage_on_a_full_disk_is_a_disk_full_error(tiny_disk):
    gdf = gpd.GeoDataFrame({"name": ["x" * 200] * 2000},
                           geometry=[shapely.Point(i, i) for i in range(2000)], crs="EPSG:27700")
    with pytest.raises(OutputError, match="disk full"):
        export.write_gpkg({"services": gdf}, tiny_disk / "maps" / "layers.gpkg")
    assert os.listdir(tiny_disk) == []


# ------------------------------------------------------------------ readers (library level)
def test_folder_given_as_input_file(tmp_path):
    with pytest.raises(InputFileError, match="is a folder, not a file") as ei:
        read_csv_any(tmp_path)
    assert ei.value.exit_code == 2 and isinstance(ei.value, OSError)


def test_missing_input_file_is_an_input_file_error_and_an_os_error(tmp_path):
    with pytest.raises(InputFileError, match="file not found") as ei:
        check_input_file(tmp_path / "nope.csv")
    assert ei.value.errno == errno.ENOENT


@pytest.mark.parametrize("content, kind", [
    (b"PK\x03\x04\x14\x00\x06\x00" + bytes(30), "Excel .xlsx"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(30), "Excel .xls"),
    (b"SQLite format 3\x00" + bytes(30), "GeoPackage"),
    (PNG, "PNG image"),
    (b"name,service_type\nElm\x00\x00,gp\n", "NUL bytes"),
])
def test_binary_file_given_as_csv_is_not_a_text_file(tmp_path, content, kind):
    p = tmp_path / "services.csv"
    p.write_bytes(content)
    with pytest.raises(DataFileError, match="not a text file") as ei:
        read_csv_any(p)
    assert kind in str(ei.value) and ei.value.exit_code == 2


def test_utf16_text_is_still_read_despite_its_nul_bytes(tmp_path):
    p = tmp_path / "u16.csv"
    p.write_bytes("name,n\nZoë,1\n".encode("utf-16"))
    df, enc = read_csv_any(p)
    assert enc == "utf-16" and df["name"].tolist() == ["Zoë"]


# ------------------------------------------------------------------ the CLI
@pytest.mark.realdata
def test_cli_read_only_output_folder_as_unprivileged_user(shared_dir):
    prefix = _unprivileged_prefix()
    ro = shared_dir / "readonly"
    ro.mkdir(mode=0o555)
    r = _cli(["check", "--area", "ealing", "--rejects", str(ro / "rejects.csv")], shared_dir, prefix)
    _assert_one_clear_error(r, ro / "rejects.csv", 1, "permission denied", str(ro))
    assert os.listdir(ro) == []


@pytest.mark.realdata
def test_cli_access_into_a_read_only_folder_creates_nothing(shared_dir):
    prefix = _unprivileged_prefix()
    ro = shared_dir / "readonly"
    ro.mkdir(mode=0o555)
    r = _cli(["access", "--area", "ealing", "--types", "library", "--out", str(ro / "access")], shared_dir, prefix)
    _assert_one_clear_error(r, ro / "access", 1, "permission denied", f"cannot write in the folder {ro}")
    assert os.listdir(ro) == []


@pytest.mark.realdata
def test_cli_unreadable_services_file_as_unprivileged_user(shared_dir):
    prefix = _unprivileged_prefix()
    f = shared_dir / "services.csv"
    f.write_text("name,service_type\nElm,gp_practice\n")
    f.chmod(0o000)
    r = _cli(["check", "--area", "ealing", "--services", str(f)], shared_dir, prefix)
    _assert_one_clear_error(r, f, 2, "permission denied")


@pytest.mark.realdata
def test_cli_binary_file_and_folder_given_as_services(tmp_path, monkeypatch, capsys):
    png = tmp_path / "services.csv"
    png.write_bytes(PNG)
    r = _cli(["check", "--area", "ealing", "--services", str(png)], tmp_path)
    _assert_one_clear_error(r, png, 2, "not a text file", "PNG image")
    folder = tmp_path / "exports"
    folder.mkdir()
    r = _cli(["check", "--area", "ealing", "--services", str(folder)], tmp_path)
    _assert_one_clear_error(r, folder, 2, "is a folder, not a file")
    # a folder holding services.csv is read as an Open Referral UK CSV package: its bad file is named
    # (by the package's reader, inside the load: in this process, the area's other layers already read)
    r = _cli_here(["check", "--area", "ealing", "--services", str(tmp_path)], tmp_path, monkeypatch, capsys)
    _assert_one_clear_error(r, png, 2, "not a text file", "PNG image")


def test_a_services_file_read_as_csv_is_probed_for_text_before_any_work_as_its_reader_reads_it(tmp_path):
    """The command line's early check refuses what the CSV reader would refuse, with its message, and
    passes what it reads: UTF-16 text (NUL bytes after a byte-order mark), a workbook by its suffix,
    a file whose only NUL byte lies beyond the reader's 64 KiB probe."""
    for content in (b"\x89PNG\r\n\x1a\n" + bytes(40), b"name,service_type\nElm\x00\x00,gp\n"):
        (tmp_path / "s.csv").write_bytes(content)
        with pytest.raises(DataFileError) as early:
            check_services_file(tmp_path / "s.csv")
        with pytest.raises(DataFileError) as late:
            read_csv_any(tmp_path / "s.csv")
        assert str(early.value) == str(late.value) and "not a text file" in str(early.value)
    passed = {"u16.csv": "name,n\nZoë,1\n".encode("utf-16"), "long.txt": b"name,n\n" + b"a,1\n" * 20_000 + b"\x00",
              "book.xlsx": b"PK\x03\x04" + bytes(30)}
    for name, content in passed.items():
        (tmp_path / name).write_bytes(content)
        assert check_services_file(tmp_path / name) == tmp_path / name
    (tmp_path / "s.csv").write_bytes(PNG)  # a sheet chosen for a CSV: its reader's own message, later
    assert check_services_file(tmp_path / "s.csv", sheet="2") == tmp_path / "s.csv"


@pytest.mark.realdata
def test_cli_output_paths_that_are_a_folder_or_under_a_file(tmp_path):
    (tmp_path / "afile").write_text("keep")
    (tmp_path / "adir").mkdir()
    for target, words in [(tmp_path / "adir", ["is a folder; a file name is expected"]),
                          (tmp_path / "afile" / "rejects.csv", [f"{tmp_path / 'afile'} is a file"])]:
        r = _cli(["check", "--area", "ealing", "--rejects", str(target)], tmp_path)
        _assert_one_clear_error(r, target, 1, *words)
    assert (tmp_path / "afile").read_text() == "keep" and os.listdir(tmp_path / "adir") == []


@pytest.mark.realdata
def test_cli_disk_full_leaves_no_partial_file(tiny_disk, tmp_path, monkeypatch, capsys):
    target = tiny_disk / "out" / "rejects.csv"  # Ealing's rejects.csv is ~130 KB: it cannot fit
    r = _cli_here(["check", "--area", "ealing", "--rejects", str(target)], tmp_path, monkeypatch, capsys)
    _assert_one_clear_error(r, target, 1, "disk full", "nothing was written")
    assert os.listdir(tiny_disk) == []


def test_every_locmap_error_has_an_exit_code_of_1_or_2():
    classes = [c for c in vars(errors_module).values() if isinstance(c, type) and issubclass(c, LocmapError)]
    assert len(classes) > 15
    assert {c.exit_code for c in classes} == {1, 2}
    assert OutputError.exit_code == 1 and InputFileError.exit_code == 2
