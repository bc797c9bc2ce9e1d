"""A run owns its output folder: the ``run.json`` manifest and the replacement of a previous run.

:func:`start` is called before any work: it refuses (:class:`~locmap.errors.OutputFolderError`) a
non-empty folder that is not a locmap run folder unless ``force``, then writes ``run.json`` with
``"status": "running"`` (command, settings, code version, start time).  :func:`record_inputs` adds
the input files (size and SHA-256) once the area is known.  :func:`finish` is the last write of a
run: it removes the files of the previous run that this run did not write, then completes
``run.json`` (``"status": "complete"``, end time, every file written).  :func:`abandon` marks an
interrupted or failed run ``"status": "incomplete"``, so a mix of old and new files is never
mistaken for a finished run.

A run killed outright (SIGKILL, the OOM killer, a power cut) cannot mark anything: its ``run.json``
still says ``running``.  So ``run.json`` records the run's **process** (pid, host name and the
process's start time, so that a pid reused by another process is not taken for the run), and every
reader classifies a folder with :func:`folder_state`: ``complete``, ``incomplete`` (interrupted or
failed), ``running`` (that process is alive, or it ran on another machine, which cannot be checked)
or ``abandoned`` (the process is gone).  :func:`start` refuses a folder whose run is ``running``
(:class:`~locmap.errors.RunFolderBusyError`) unless ``force``, and replaces an ``abandoned`` or
``incomplete`` one with a one-line note; commands that read a run folder call :func:`require_complete`.

What a rerun may delete (never anything else): files listed in the previous ``run.json``, and files
in locmap's own output layout (:data:`OWN_TOP_FILES`, :data:`OWN_FOLDERS`).  Any other file (a
user's notes) is kept and named.  All writes are atomic (:mod:`locmap.export`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import psutil

from locmap import __version__, export
from locmap.errors import IncompleteRunError, OutputFolderError, RunFolderBusyError

MANIFEST = "run.json"
#: Files ``locmap run`` writes at the top of its folder, and the folders it owns whole.
OWN_TOP_FILES = ("run.json", "rejects.csv", "timings.csv")
OWN_FOLDERS = ("access", "localities", "sites", "maps", "sheets", "report")
#: Files ``locmap batch`` keeps beside a borough's run (borough.LOG_FILE, SUMMARY_FILE, cache.DONE_FILE,
#: engine.ERROR_FILE): locmap's own, so they neither make a folder foreign nor are removed by a run.
BATCH_FILES = ("log.txt", "borough_summary.json", "done.json", "error.txt")
#: The states of a run folder (:func:`folder_state`).
COMPLETE, INCOMPLETE, RUNNING, ABANDONED = "complete", "incomplete", "running", "abandoned"
#: Two readings of one process's start time differ by clock ticks; a reused pid by far more.
START_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class FolderState:
    """What a folder's ``run.json`` says, checked against the process it names.

    ``state`` is one of :data:`COMPLETE`, :data:`INCOMPLETE`, :data:`RUNNING`, :data:`ABANDONED`,
    or None (no readable ``run.json``: not a run folder, or one written before ``run.json`` existed);
    ``detail`` is one phrase for messages (which process, or why the run stopped)."""

    state: str | None
    detail: str
    manifest: dict | None = None


@dataclass(frozen=True)
class RunFolder:
    """An output folder claimed by one run: its manifest so far and the files it may replace."""

    path: Path
    manifest: dict
    replaceable: frozenset[str]  # relative paths of the previous run's files
    note: str = ""  # one line about the previous run replaced (abandoned or incomplete), else ""


def code_version() -> str:
    """``git describe`` of the checkout locmap runs from, else the package version."""
    here = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=here, timeout=10,
                             capture_output=True, text=True, check=False)
    except (OSError, subprocess.SubprocessError):
        out = None
    described = out.stdout.strip() if out is not None and out.returncode == 0 else ""
    return f"locmap {__version__} ({described})" if described else f"locmap {__version__}"


def _command() -> str:
    """The command line of this process, ``locmap ...`` when it is the locmap command."""
    prog = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return shlex.join(["locmap" if prog in ("__main__.py", "locmap") else prog, *sys.argv[1:]])


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def _is_own(rel: str) -> bool:
    return rel in OWN_TOP_FILES or rel.split("/", 1)[0] in OWN_FOLDERS and "/" in rel


def _previous(folder: Path) -> dict | None:
    try:
        old = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return old if isinstance(old, dict) else None


def this_process() -> dict:
    """This process as ``run.json`` records it: pid, host name and start time (Unix seconds)."""
    return {"pid": os.getpid(), "hostname": socket.gethostname(),
            "started_unix": round(psutil.Process().create_time(), 3)}


def process_alive(process: dict) -> bool | None:
    """Whether the process ``run.json`` recorded still runs: True, False, or None when it cannot be
    told (another machine, or the process cannot be inspected).  A pid now held by another process
    (a later start time) or a zombie is gone."""
    if process.get("hostname") != socket.gethostname():
        return None
    try:
        proc = psutil.Process(int(process["pid"]))
        alive = (abs(proc.create_time() - float(process["started_unix"])) <= START_TOLERANCE_S
                 and proc.status() != psutil.STATUS_ZOMBIE)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return None
    except (KeyError, TypeError, ValueError):
        return False  # no usable record: nothing can be running under it
    return alive


def _one_line(text: Any, max_chars: int = 160) -> str:
    """The first line of a recorded reason (an error's message ends with its remedy), shortened."""
    first = str(text).strip().splitlines()[0] if str(text).strip() else "?"
    return first if len(first) <= max_chars else first[:max_chars - 3] + "..."


def _who(manifest: dict) -> str:
    proc = manifest.get("process") if isinstance(manifest.get("process"), dict) else {}
    return (f"pid {proc.get('pid', '?')} on {proc.get('hostname', '?')}, started "
            f"{manifest.get('started_utc') or '?'}")


def folder_state(folder: str | os.PathLike) -> FolderState:
    """Classify ``folder`` by its ``run.json`` (see the module docstring)."""
    manifest = _previous(Path(folder))
    if manifest is None:
        return FolderState(None, f"no readable {MANIFEST}")
    status = manifest.get("status")
    if status == COMPLETE:
        return FolderState(COMPLETE, f"finished {manifest.get('finished_utc') or '?'}", manifest)
    if status != RUNNING:
        return FolderState(INCOMPLETE, _one_line(manifest.get("reason") or f"status {status!r}"), manifest)
    if not isinstance(manifest.get("process"), dict):
        return FolderState(ABANDONED, f"started {manifest.get('started_utc') or '?'} by a locmap that recorded "
                                      "no process", manifest)
    alive = process_alive(manifest["process"])
    if alive is False:
        return FolderState(ABANDONED, _who(manifest) + "; that process is gone", manifest)
    where = "" if alive else "; another machine or an uninspectable process, so it may still run"
    return FolderState(RUNNING, _who(manifest) + where, manifest)


def require_complete(folder: str | os.PathLike, use: str) -> FolderState:
    """The state of a run folder a command reads (``use``: what it is read for); refuses
    (:class:`~locmap.errors.IncompleteRunError`) a run that is not complete.  A folder with no
    ``run.json`` (written before it existed) is read as it is."""
    state = folder_state(folder)
    if state.state in (INCOMPLETE, RUNNING, ABANDONED):
        what = {INCOMPLETE: "did not finish", RUNNING: "is still running",
                ABANDONED: "stopped without finishing (killed, or the machine stopped)"}[state.state]
        raise IncompleteRunError(f"{Path(folder)}: {use}: the run in this folder {what} ({state.detail}); "
                                 f"its files may mix two runs or miss some (state: {state.state})")
    return state


def _claim(folder: Path, force: bool) -> tuple[FolderState, str]:
    """The previous run's state and the note for replacing it; refuses a live run unless ``force``."""
    prior = folder_state(folder)
    if prior.state == RUNNING and not force:
        raise RunFolderBusyError(f"{folder}: another locmap run is writing here ({prior.detail}); "
                                 "two runs in one folder would mix their files")
    note = {ABANDONED: f"note: {folder}: the previous run ({prior.detail}) stopped without finishing; "
                       "this run replaces its files",
            INCOMPLETE: f"note: {folder}: the previous run did not finish ({prior.detail}); this run "
                        "replaces its files",
            RUNNING: f"note: {folder}: --force: running into the folder of a run that may still be "
                     f"running ({prior.detail})"}.get(prior.state, "")
    return prior, note


def start(folder: str | os.PathLike, settings: Any, options: Any = None, force: bool = False) -> RunFolder:
    """Claim ``folder`` for a run and write ``run.json`` (status ``running``, this process) before
    any work; a folder whose run is still running is refused (:class:`RunFolderBusyError`) unless
    ``force``."""
    folder = Path(folder)
    prior, note = _claim(folder, force)
    present = [f for f in _files(folder) if f not in BATCH_FILES] if folder.is_dir() else []
    old = prior.manifest
    is_run_folder = old is not None or "timings.csv" in present
    if present and not is_run_folder and not force:
        shown = ", ".join(present[:3]) + (f" and {len(present) - 3} more" if len(present) > 3 else "")
        raise OutputFolderError(f"{folder}: holds {len(present)} file(s) ({shown}) and no {MANIFEST}: "
                                "it is not the folder of a previous locmap run")
    listed = {str(f) for f in (old or {}).get("files", []) if isinstance(f, str)}
    replaceable = frozenset(f for f in present if f in listed or _is_own(f))
    manifest = {"status": RUNNING, "command": _command(),
                "code_version": code_version(), "started_utc": _now(), "finished_utc": None,
                "process": this_process(),
                "settings": _plain(settings), "options": _plain(options), "inputs": [], "files": [],
                "replaced_previous_run": bool(present), "previous_run_state": prior.state}
    export.write_text(folder / MANIFEST, _dump(manifest))
    return RunFolder(folder, manifest, replaceable, note)


def record_inputs(run: RunFolder, paths: Iterable[str | os.PathLike]) -> None:
    """Add the input files (absolute path, size in bytes, SHA-256) to ``run.json``."""
    run.manifest["inputs"] = [_describe(Path(p)) for p in sorted({Path(p).absolute() for p in paths})]
    export.write_text(run.path / MANIFEST, _dump(run.manifest))


def _describe(path: Path) -> dict:
    if not path.is_file():
        return {"path": str(path), "size_bytes": None, "sha256": None}
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return {"path": str(path), "size_bytes": path.stat().st_size, "sha256": h.hexdigest()}


def finish(run: RunFolder, written: Iterable[Path]) -> list[str]:
    """Remove the previous run's files this run did not write, then complete ``run.json`` (last
    write).  Returns the files kept that locmap did not write (for a note)."""
    mine = {Path(p).resolve().relative_to(run.path.resolve()).as_posix() for p in written} | {MANIFEST}
    for rel in sorted(run.replaceable - mine):
        (run.path / rel).unlink(missing_ok=True)
    _remove_empty_folders(run.path)
    kept = [f for f in _files(run.path) if f not in mine and f not in BATCH_FILES]
    run.manifest.update(status="complete", finished_utc=_now(), files=sorted(mine), other_files_kept=kept)
    export.write_text(run.path / MANIFEST, _dump(run.manifest))
    return kept


def abandon(run: RunFolder, reason: str) -> None:
    """Mark the run ``incomplete`` (interrupted or failed): ``files`` lists what is in the folder now,
    old and new mixed, so the next run into it can replace them all."""
    present = [f for f in _files(run.path) if f in run.replaceable or _is_own(f)]
    run.manifest.update(status="incomplete", finished_utc=_now(), reason=reason,
                        files=sorted(set(present) | set(run.replaceable)))
    export.write_text(run.path / MANIFEST, _dump(run.manifest))


def _remove_empty_folders(folder: Path) -> None:
    for name in OWN_FOLDERS:
        sub = folder / name
        if sub.is_dir():
            for d in sorted((p for p in sub.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                if not any(d.iterdir()):
                    d.rmdir()
            if not any(sub.iterdir()):
                sub.rmdir()


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_plain(v) for v in obj]
    return obj if isinstance(obj, (str, int, float, bool)) or obj is None else str(obj)


def _dump(manifest: dict) -> str:
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


__all__ = ["ABANDONED", "BATCH_FILES", "COMPLETE", "INCOMPLETE", "MANIFEST", "OWN_FOLDERS", "OWN_TOP_FILES",
           "RUNNING", "FolderState", "RunFolder", "abandon", "code_version", "finish", "folder_state",
           "process_alive", "record_inputs", "require_complete", "start", "this_process"]
