"""Input hashes of a borough's job, and the ``done.json`` record that lets a rerun skip it.

A borough's result depends on its area pack, the content of every data file the pack reads, the
settings that change figures, the job's :class:`~locmap.api.RunOptions` and the code.  Their
SHA-256 is the borough's *input hash*; a finished borough writes it into ``<out_dir>/done.json``
last, so a folder whose ``done.json`` holds the current hash is complete and current, and the batch
reads its summary back instead of recomputing it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import locmap
from locmap import _digest, export
from locmap._digest import code_digest
from locmap.api import RunOptions
from locmap.data.manifest import AreaPack
from locmap.data.region import load_pack, pack_input_files
from locmap.settings import Settings

#: The record a finished borough writes last.
DONE_FILE = "done.json"
#: Settings fields that change a borough's figures (paths of data and cache folders do not:
#: the data enter the hash by content).
RESULT_SETTINGS = ("crs", "walk_speed_kmh", "thresholds_minutes", "buffer_m", "max_snap_m", "k_nearest",
                   "profile", "user_services_sheet", "pram_penalties")
#: (absolute path, size in bytes, mtime in ns) -> sha256 hex of the content, for this process
_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's content (read in 1 MiB chunks), memoised per (path, size, mtime).

    A file missing or unreadable here is left to the borough's job to report with its own
    error (file, reason): its digest is the text of the OS error, so the hash still differs
    from any run that read the file.
    """
    path = Path(path).absolute()
    try:
        st = path.stat()
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _FILE_DIGESTS:
        digest = _digest.file_digest(path)
        if digest.startswith("unreadable:"):
            return digest
        _FILE_DIGESTS[key] = digest
    return _FILE_DIGESTS[key]


def _input_files(pack: AreaPack, settings: Settings) -> list[Path]:
    """The pack's files (:func:`locmap.data.region.pack_input_files`) plus the user's services and
    network files, each once."""
    extra = [p for p in (settings.user_services, settings.network_file) if p is not None]
    own = pack_input_files(pack, settings.resolve_data_root())
    return sorted({Path(p).absolute() for p in [*own, *extra]})


def file_label(path: Path, settings: Settings) -> str:
    """Where a file lies, without saying where the data root or the project lie:
    ``data:boundaries/x.gpkg``, ``project:data/regions/london.toml``, or the bare name of a file
    outside both (``--services``, ``--network``)."""
    for prefix, root in (("data", settings.resolve_data_root()), ("project", settings.project_root)):
        try:
            return f"{prefix}:{path.relative_to(Path(root).absolute()).as_posix()}"
        except ValueError:
            continue
    return path.name


def file_entries(pack: AreaPack, settings: Settings) -> list[list[str]]:
    """``[label, sha256]`` of every input file, ordered by label then digest: the same data and
    project in other folders give the same list (the files entered the hash in the order of
    their absolute paths before, so moving the data root recomputed every borough)."""
    return sorted([file_label(p, settings), file_digest(p)] for p in _input_files(pack, settings))


def input_hash(area_name: str, settings: Settings, options: RunOptions) -> str:
    """SHA-256 (hex) of everything a borough's job reads or is told.

    Parameters
    ----------
    area_name : str
        Area name as ``api.run_all`` takes it (``"ealing"``, ``"london:camden"``).
    settings : Settings
        Only :data:`RESULT_SETTINGS` enter the hash, plus the content of ``user_services`` and
        ``network_file``; where the data root or cache folder lies does not.
    options : RunOptions
        The job's options (schemes, maps, report ...).

    Returns
    -------
    str
        64 hex digits.  Same inputs, same hash, in any process or machine.
    """
    pack = load_pack(area_name, settings)
    parts: dict[str, Any] = {
        "area": area_name,
        "pack": pack.raw,
        "files": file_entries(pack, settings),
        "settings": {f: getattr(settings, f) for f in RESULT_SETTINGS},
        "options": dataclasses.asdict(options),
        "locmap": locmap.__version__,
        "code": code_digest(),
    }
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def read_done(out_dir: str | Path) -> dict | None:
    """The ``done.json`` record of a borough folder, or ``None`` when absent or unreadable."""
    path = Path(out_dir) / DONE_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def is_current(out_dir: str | Path, digest: str) -> bool:
    """True when ``out_dir/done.json`` records ``digest`` (the borough need not be recomputed)."""
    record = read_done(out_dir)
    return bool(record) and record.get("input_hash") == digest


def write_done(out_dir: str | Path, record: dict) -> Path:
    """Write ``done.json`` atomically (the last file of a finished borough)."""
    return export.write_text(Path(out_dir) / DONE_FILE, json.dumps(record, indent=2, sort_keys=True) + "\n")


def clear_done(out_dir: str | Path) -> None:
    """Remove ``done.json`` before a borough is recomputed, so a folder caught half-rewritten
    is never taken for a finished one."""
    (Path(out_dir) / DONE_FILE).unlink(missing_ok=True)


__all__ = ["DONE_FILE", "RESULT_SETTINGS", "file_digest", "file_label", "file_entries", "code_digest", "input_hash", "read_done",
           "is_current", "write_done", "clear_done"]
