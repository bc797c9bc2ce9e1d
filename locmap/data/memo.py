"""Per-process memo of what is derived from unchanged input files (a batch worker's shared data).

A batch worker runs borough after borough of one region; each borough reads the same London-wide
files (postcodes, population tables, service registers, the region's boundaries).  What a reader
derives from such a file (the normalised postcode table, a table with its numeric columns
converted, a service source's records and rejects) is kept here, keyed by the files' identity
(absolute path, size, modification time, inode) and every option that changes the result, so the next
borough on the same worker takes a copy instead of parsing the file again.  An edited file has
another size or mtime and is read again.  The memo is bounded (least recently used entries go
first), so a worker's memory does not grow with the number of boroughs.

Standard library only.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["Kept", "file_key", "file_memo_key", "remember", "clear", "entries", "MAX_ENTRIES"]

T = TypeVar("T")

#: entries kept per process (each derived from one London-wide file: under 1 MB to ~25 MB; London fills about 25)
MAX_ENTRIES = 64


class Kept:
    """A bounded, thread-safe store of values made once per key in this process (the least recently
    used goes first): the file memo below, and the library's opt-in result memos (``api.hub_sites``)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, key: Hashable | None, make: Callable[[], T], copy: Callable[[T], T]) -> T:
        """``copy`` of the value kept under ``key``, made by ``make()`` the first time.

        ``key`` ``None`` makes the value without keeping it.  The store keeps its own copy, so a
        caller may change what it gets back.  An exception of ``make`` propagates and nothing is kept.
        """
        if key is None:
            return make()
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return copy(self._values[key])
        value = make()
        with self._lock:
            self._values[key] = copy(value)
            while len(self._values) > self.max_entries:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def __len__(self) -> int:
        return len(self._values)


_MEMO = Kept(MAX_ENTRIES)


def file_key(path: str | Path) -> tuple[str, int, int, int] | None:
    """(resolved path, size in bytes, mtime in ns, inode) of a file; ``None`` when it cannot be read
    (the reader then reports the file with its own error, and nothing is memoised).  The inode
    tells a file replaced by another (an atomic rewrite) even within the clock's granularity."""
    try:
        p = Path(path).resolve()
        st = p.stat()
    except OSError:
        return None
    return str(p), st.st_size, st.st_mtime_ns, st.st_ino


def file_memo_key(path: str | Path, kind: str, *options: Hashable) -> tuple | None:
    """The memo key of what ``kind`` derives from the file at ``path`` with ``options``:
    ``(kind, file_key(path), *options)``, or ``None`` when the file cannot be identified (then
    nothing is memoised and the reader reports the file with its own error)."""
    ident = file_key(path)
    return None if ident is None else (kind, ident, *options)


def remember(key: Hashable | None, make: Callable[[], T], copy: Callable[[T], T]) -> T:
    """``copy`` of the value memoised under ``key``, made by ``make()`` the first time
    (:meth:`Kept.remember`; ``key`` ``None``, a file that could not be identified, memoises nothing)."""
    return _MEMO.remember(key, make, copy)


def clear() -> None:
    """Forget every memoised value (tests; a worker asked to give memory back)."""
    _MEMO.clear()


def entries() -> int:
    """How many values are memoised in this process."""
    return len(_MEMO)
