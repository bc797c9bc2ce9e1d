"""Checks of the paths a command is given, before any work: an input file exists, is a file, can be
read and (where it is read as CSV) is text; an output path can be written.

Standard library only, so the command line runs these checks before it imports the geospatial stack
and a typo fails in a fraction of a second (``locmap run --services nosuch.csv``).  The readers
(:mod:`locmap.data.io`, :mod:`locmap.data.openreferral`, :mod:`locmap.distance.network`) and the
writers (:mod:`locmap.export`) use the same functions, so the messages are the same either way.
"""
from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

from locmap.errors import DataFileError, InputFileError, NetworkError, OutputError

# ------------------------------------------------------------------ input files
#: leading bytes of common files that are not CSV text, and what to call them
BINARY_SIGNATURES = (
    (b"PK\x03\x04", "a zip file (an Excel .xlsx or OpenDocument .ods workbook, or another zip archive)"),
    (b"\xd0\xcf\x11\xe0", "an old-style Office file (Excel .xls)"),
    (b"SQLite format 3\x00", "an SQLite database (e.g. a GeoPackage .gpkg)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x1f\x8b", "a gzip-compressed file"),
)
_TEXT_PROBE_B = 65_536
#: byte-order marks of UTF-16 text (the one text that holds NUL bytes)
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
#: file suffixes read as spreadsheets (first sheet unless one is chosen)
SHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
#: file suffixes read as vector layers (geometry instead of coordinate columns)
LAYER_SUFFIXES = (".geojson", ".json", ".gpkg", ".fgb", ".shp")


def check_input_file(path: str | Path) -> Path:
    """``path`` if it is an existing file this process can read, else :class:`InputFileError`.

    The file is opened (and closed) to find out, so a permission problem is reported here,
    naming the file, rather than deep inside a reader.
    """
    path = Path(path)
    if path.is_dir():
        raise InputFileError(path, "is a folder, not a file",
                             remedy="give the path of a file inside it (e.g. .../services.csv).",
                             errno=errno.EISDIR)
    try:
        with open(path, "rb"):
            pass
    except FileNotFoundError:
        raise InputFileError(path, "file not found", errno=errno.ENOENT) from None
    except PermissionError:
        raise InputFileError(path, "cannot read the file: permission denied",
                             remedy="make the file readable by you (e.g. `chmod a+r FILE`, or copy it to "
                                    "your own folder); on Windows, close it in Excel first.",
                             errno=errno.EACCES) from None
    except OSError as exc:
        raise InputFileError(path, f"cannot read the file: {exc.strerror or exc}", errno=exc.errno) from None
    return path


def ensure_text(raw: bytes, path: str | Path) -> None:
    """Raise :class:`DataFileError` "not a text file" when ``raw`` is a binary file.

    A file is binary when it starts with a known signature (:data:`BINARY_SIGNATURES`:
    xlsx/zip, xls, GeoPackage/SQLite, PDF, images, gzip) or has a NUL byte in its first
    64 KiB (text never does, except UTF-16, which is recognised by its byte-order mark).
    """
    kind = next((name for sig, name in BINARY_SIGNATURES if raw.startswith(sig)), None)
    if kind is None and b"\x00" not in raw[:_TEXT_PROBE_B]:
        return
    what = f"it looks like {kind}" if kind else "it holds NUL bytes"
    raise DataFileError(path, f"not a text file: {what}, not CSV text",
                        remedy="save it as CSV (Excel: File > Save As > 'CSV UTF-8'), or give a "
                               "workbook, GeoJSON or GeoPackage file its usual extension "
                               "(.xlsx, .geojson, .gpkg) where locmap reads that format.")


# ------------------------------------------------------------------ Open Referral UK exports
CSV_TABLES = ("services.csv", "service_at_location.csv")


def is_openreferral(path: str | Path) -> bool:
    """True when ``path`` is an Open Referral UK export: a folder with ``services.csv`` /
    ``service_at_location.csv`` or ``.json`` files, or a ``.json`` file holding API responses
    (not GeoJSON)."""
    path = Path(path)
    if path.is_dir():
        return any((path / name).is_file() for name in CSV_TABLES) or any(path.glob("*.json"))
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        return looks_oruk(json.loads(path.read_bytes()))
    except (OSError, ValueError):
        return False  # unreadable or not JSON: the GeoJSON reader reports it


def looks_oruk(obj) -> bool:
    """True when a parsed JSON document looks like Open Referral UK API responses (not GeoJSON)."""
    if isinstance(obj, list):
        return bool(obj) and all(isinstance(o, dict) and looks_oruk(o) for o in obj[:5])
    if not isinstance(obj, dict) or obj.get("type") in ("FeatureCollection", "Feature"):
        return False
    return bool({"contents", "total_items", "service_at_locations", "service", "location"} & obj.keys()) \
        or {"id", "name", "status"} <= obj.keys()


def _natural_key(p: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name.lower())]


def export_files(path: Path) -> list[Path]:
    """The files of an Open Referral UK export, in reading order (``page2`` before ``page10``)."""
    if not path.is_dir():
        return [path]
    if any((path / name).is_file() for name in CSV_TABLES):
        return sorted(path.glob("*.csv"), key=_natural_key)
    return sorted(path.glob("*.json"), key=_natural_key)


def check_input(path: str | Path) -> Path:
    """``path`` if it is a readable file or an Open Referral UK export folder, else
    :class:`~locmap.errors.InputFileError` (the command line's check of ``--services``)."""
    path = Path(path)
    if path.is_dir() and is_openreferral(path):
        for f in export_files(path):
            check_input_file(f)
        return path
    return check_input_file(path)


def check_services_file(path: str | Path, sheet: str | int | None = None) -> Path:
    """:func:`check_input`, and a file the services reader will read as CSV text (any suffix but a
    workbook's or a layer's, no sheet chosen) must be text: its first 64 KiB are probed as
    :func:`ensure_text` probes the whole file when it is read (same message, before any work)."""
    path = check_input(path)
    if sheet is None and path.is_file() and path.suffix.lower() not in (*SHEET_SUFFIXES, *LAYER_SUFFIXES):
        try:
            with open(path, "rb") as f:
                head = f.read(_TEXT_PROBE_B)
        except OSError as exc:
            raise InputFileError(path, f"cannot read the file: {exc.strerror or exc}", errno=exc.errno) from None
        if not head.startswith(UTF16_BOMS):
            ensure_text(head, path)
    return path


# ------------------------------------------------------------------ street-network files
def network_error(message: str, remedy: str) -> NetworkError:
    """A :class:`NetworkError` with its own remedy."""
    exc = NetworkError(message)
    exc.remedy = remedy
    return exc


def check_network_file(path: str | Path, asked_by: str | None = None) -> Path:
    """Refuse a street-network path that is missing, a folder, unreadable or empty.

    Returns the path.  The message names the path, who asked for it and what to do.
    """
    path = Path(path)
    by = f" (asked for by {asked_by})" if asked_by else ""
    fix = ("check the path: relative paths start from the folder you ran locmap in (for an "
           "area pack: from the pack file); or leave the network out to use estimated distances")
    if not path.exists():
        raise network_error(f"{path}: street-network file not found{by}", fix)
    if path.is_dir():
        raise network_error(f"{path}: is a folder, not a street-network file{by}", fix)
    if not os.access(path, os.R_OK):
        raise network_error(f"{path}: street-network file cannot be read (permission denied){by}",
                            "make the file readable for your user, or name another file")
    if path.stat().st_size == 0:
        raise network_error(f"{path}: street-network file is empty (0 bytes){by}",
                            "download or export it again (geo/README.md)")
    return path


# ------------------------------------------------------------------ output paths
REMEDY_PERMISSION = ("choose an output folder you can write to (e.g. in your home folder), or ask "
                     "for write access to that folder.")


def check_output_file(path: Path) -> None:
    """Refuse, before writing anything, a folder at ``path`` or a file where a parent folder must be."""
    if path.is_dir():
        raise OutputError(path, "is a folder; a file name is expected here",
                          remedy=f"give a file name, e.g. {path / ('output' + (path.suffix or '.csv'))}, "
                                 "or rename the folder.", errno=errno.EISDIR)
    existing_folder(path.parent, path)


def existing_folder(folder: Path, shown: Path) -> Path:
    """The first existing folder at or above ``folder``; an :class:`OutputError` about ``shown``
    when a file stands where a folder must be."""
    for d in (folder, *folder.parents):
        if d.exists():
            if not d.is_dir():
                raise OutputError(shown, f"cannot create the folder {folder}: {d} is a file",
                                  remedy=f"choose another output folder, or move or rename the file {d}.",
                                  errno=errno.ENOTDIR)
            return d
    return folder


def check_output_path(path: str | os.PathLike, folder: bool = False) -> Path:
    """Check, before any work, that an output file (or with ``folder``, an output folder) can
    be written; return it as a Path or raise :class:`~locmap.errors.OutputError` naming it.

    Refused: a folder where a file is expected (or a file where a folder is expected), a file
    in the way of a folder to create, and a first existing folder this user cannot write in.
    Nothing is created.  Commands call this on ``--out``/``--rejects`` so a long run does not
    fail at its last step; the writers check again (the disk may fill meanwhile).
    """
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise OutputError(path, "is a file; a folder is expected here",
                          remedy="give a folder name, or move or rename the file.", errno=errno.ENOTDIR)
    if not folder:
        check_output_file(path)
    existing = existing_folder(path if folder else path.parent, path)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(path, f"permission denied: you cannot write in the folder {existing}",
                          remedy=REMEDY_PERMISSION, errno=errno.EACCES)
    return path
