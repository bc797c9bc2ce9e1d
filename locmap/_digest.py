"""Content digests (SHA-256) of files and of locmap's own source: one copy for every cache.

The batch's input hash (:mod:`locmap.batch.cache`), the look-up index of ``locmap nearest``
(:mod:`locmap.finder.index`) and the stored areas (:mod:`locmap.data.area`, through
:func:`input_record` and :func:`unchanged`) key their records on what the files hold, not on where
they lie, and on the code that made them (an edit of the code without a version bump invalidates them).
Standard library only, so the light command-line paths may use it.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import locmap

__all__ = ["file_digest", "code_digest", "input_record", "unchanged"]

#: bytes read at a time
CHUNK_B = 1 << 20
_CODE_DIGEST: list[str] = []


def file_digest(path: str | Path) -> str:
    """SHA-256 (hex) of a file's content; ``"unreadable: <OS error>"`` when it cannot be read, so
    the digest differs from any readable file's and the caller's full path reports the error."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(CHUNK_B), b""):
                h.update(chunk)
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    return h.hexdigest()


def code_digest() -> str:
    """SHA-256 over locmap's source files (``locmap/**/*.py``: relative path and content), once per process."""
    if not _CODE_DIGEST:
        pkg = Path(locmap.__file__).parent
        h = hashlib.sha256()
        for path in sorted(pkg.rglob("*.py")):
            h.update(path.relative_to(pkg).as_posix().encode())
            h.update(file_digest(path).encode())
        _CODE_DIGEST.append(h.hexdigest())
    return _CODE_DIGEST[0]


def _stat(path: str) -> tuple[int, int] | None:
    """``(size in bytes, modification time in ns)`` of a file, or ``None`` when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def input_record(files: Iterable[str | Path]) -> list[list[Any]]:
    """``[[absolute path, content digest, size_b, mtime_ns], ...]`` of each file once, sorted (size
    and time ``None`` for a file that cannot be read; its digest says why)."""
    out: list[list[Any]] = []
    for p in sorted({str(Path(f).absolute()) for f in files}):
        before = _stat(p)  # taken before the content is read: an edit meanwhile shows as a change
        out.append([p, file_digest(p), *(before or (None, None))])
    return out


def unchanged(entry: Sequence[Any]) -> bool:
    """Whether the file of an :func:`input_record` entry still holds what it held: same size and
    modification time, or else the same content digest (hashed only then)."""
    if len(entry) != 4:
        return False
    path, digest, size_b, mtime_ns = entry
    now = _stat(str(path))
    if now is not None and now == (size_b, mtime_ns):
        return True
    return file_digest(path) == digest
