"""Content digests (SHA-256) of files and of locmap's own source: one copy for every cache.

The batch's input hash (:mod:`locmap.batch.cache`) and the look-up index of ``locmap nearest``
(:mod:`locmap.finder.index`) both key their records on what the files hold, not on where they lie,
and on the code that made them (an edit of the code without a version bump invalidates them).
Standard library only, so the light command-line paths may use it.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import locmap

__all__ = ["file_digest", "code_digest"]

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
