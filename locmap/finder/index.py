"""The nearest-services index: every postcode of an area answered once, read back in milliseconds.

``locmap nearest --postcode ...`` spends seconds loading the area and routing; the answer for a
postcode only changes when an input does.  So the first look-up answers *every* postcode of the
area (:func:`locmap.finder.nearest.build_nearest_index`) into
``<cache>/finder/<key>.parquet`` plus ``<key>.json``, and later look-ups read that.

* ``key`` (:func:`index_key`): SHA-256 of the area name, the data and project folders, every
  :class:`~locmap.settings.Settings` field that changes an answer (speed, ``k_nearest``, buffer,
  snapping, profile, penalties, CRS, the user's services and network files) and the code
  (``locmap/**/*.py``: a change of the distance model, its label or its coefficients is a
  change of the code).
* ``<key>.json`` lists every input file the answers were computed from (the pack's files, the
  user's services and network) with the SHA-256 of its content, its size and its modification
  time (ns); it is written after the table, so it also marks the index complete.
  :func:`read_index` checks each file's size and modification time (a ``stat``, microseconds) and
  hashes its content only when one of them differs from the record: a file whose content
  changed (a ``--services`` file edited, a new data release) makes the index unused; a file only
  touched (same content, new time) keeps it.  As with ``make``, an edit that keeps both the size
  and the modification time (to the nanosecond) is not seen: rebuild with a fresh ``--cache-dir``
  (or delete ``<cache>/finder``) after such a copy.
* A query is answered from the index only when every postcode in it is in the table (written
  any way: ``ub56pa``, ``UB5 6PA``) and every requested type is; anything else (a malformed or
  unknown postcode, a neighbouring borough's postcode, a point) takes the full path, so the answers are those of
  :func:`locmap.finder.nearest.nearest_for_postcodes` either way.

This module imports only the standard library and locmap's foundation at import time;
:meth:`NearestIndex.answer_records` reads the table with pyarrow alone and
:meth:`NearestIndex.answer` with pandas, so a look-up from the index imports neither the
geospatial stack nor (for the printed answer) pandas.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import locmap
from locmap._digest import code_digest, file_digest, input_record, unchanged
from locmap.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

#: Format of the index files; a change makes every older index unused.
INDEX_VERSION = 2
#: Settings fields that change an answer (folders enter as resolved paths, files by content).
ANSWER_SETTINGS = ("crs", "walk_speed_kmh", "buffer_m", "max_snap_m", "k_nearest", "profile",
                   "pram_penalties", "user_services", "user_services_sheet", "network_file")
#: Column of the table holding :func:`compact` postcodes (sorted, for row-group filtering).
KEY_COLUMN = "_key"
#: Indexes kept in the cache folder (the most recently built; older ones are removed on a build).
KEEP_INDEXES = 8
#: Rows per Parquet row group: a look-up reads the groups holding its postcodes only.
ROW_GROUP_ROWS = 4096
_SPACE = re.compile(r"\s+")


def compact(text: object) -> str:
    """A query's look-up key: whitespace removed, upper case (``"ub5 6pa"`` -> ``"UB56PA"``)."""
    return _SPACE.sub("", str(text)).upper() if isinstance(text, str) else ""


def index_key(area_name: str, settings: Settings) -> str:
    """SHA-256 (hex) naming the index of ``area_name`` under ``settings`` (see the module docstring)."""
    parts = {
        "version": INDEX_VERSION, "area": str(area_name), "locmap": locmap.__version__, "code": code_digest(),
        "data_root": str(settings.resolve_data_root().absolute()),
        "project_root": str(Path(settings.project_root).absolute()),
        "settings": {f: getattr(settings, f) for f in ANSWER_SETTINGS},
    }
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def index_paths(area_name: str, settings: Settings) -> tuple[Path, Path]:
    """``(table, record)``: ``<cache>/finder/<key>.parquet`` and ``<key>.json``."""
    folder = Path(settings.cache_dir) if settings.cache_dir else Path(settings.project_root) / "geo" / "cache"
    stem = folder / "finder" / index_key(area_name, settings)
    return stem.with_suffix(".parquet"), stem.with_suffix(".json")


@dataclass(frozen=True)
class NearestIndex:
    """A current index: its table file and its record (``<key>.json``).

    ``record`` holds ``title``, ``area`` (pack name), ``lad_nm``, ``attribution``, ``label``,
    ``walk_speed_kmh``, ``k``, ``types`` (in the pack's order), ``notes`` (type -> coverage note),
    ``files`` (:func:`input_record`) and ``key``.
    """

    table_path: Path
    record: dict[str, Any] = field(repr=False)

    def answer(self, queries: Sequence[object], service_types: Sequence[str] | None = None) -> pd.DataFrame | None:
        """The rows :func:`~locmap.finder.nearest.nearest_for_postcodes` gives for ``queries``, or
        ``None`` when one query or type is not in the index (the caller then takes the full path)."""
        import numpy as np
        import pandas as pd

        keys, types = self._asked(queries, service_types)
        if not keys:
            return None
        rows = pd.read_parquet(self.table_path, filters=[(KEY_COLUMN, "in", sorted(set(keys)))])
        if not set(keys) <= set(rows[KEY_COLUMN]) or (rows["status"] == "malformed").any():
            return None
        if types is not None:  # those types, in that order (stable); rows without services stay
            rows = rows[rows["service_type"].isna() | rows["service_type"].isin(types)]
            pos = rows["service_type"].map({t: i for i, t in enumerate(types)}).fillna(-1)
            rows = rows.assign(_pos=pos.to_numpy()).sort_values([KEY_COLUMN, "_pos"], kind="stable")
            rows = rows.drop(columns="_pos")
        # rows are sorted by key: each postcode's rows are one block; take the blocks in query order
        block_keys, starts, sizes = np.unique(rows[KEY_COLUMN].to_numpy(object), return_index=True,
                                              return_counts=True)
        at = np.searchsorted(block_keys, np.asarray(keys, dtype=object))
        n = sizes[at]
        take = np.repeat(starts[at] - np.cumsum(n) + n, n) + np.arange(n.sum())
        out = rows.iloc[take].drop(columns=KEY_COLUMN).reset_index(drop=True)
        out["row"] = np.repeat(np.arange(1, len(keys) + 1), n)
        out["query"] = pd.Series(np.repeat(np.asarray(list(queries), dtype=object), n), dtype=object)
        return out

    def _asked(self, queries: Sequence[object], service_types: Sequence[str] | None
               ) -> tuple[list[str], list[str] | None]:
        """``(keys, types)`` of a query: the :func:`compact` keys (none when a type is not in
        the index) and the requested types once each, in their order (``None``: all)."""
        types = list(dict.fromkeys(service_types)) if service_types is not None else None
        if types is not None and not set(types) <= set(self.record["types"]):
            return [], types
        return [compact(q) for q in queries], types

    def answer_records(self, queries: Sequence[object], service_types: Sequence[str] | None = None
                       ) -> list[dict[str, Any]] | None:
        """The rows of :meth:`answer` as plain dicts (a missing value as ``None``), read with
        pyarrow alone (no pandas), or ``None`` as there."""
        keys, types = self._asked(queries, service_types)
        if not keys:
            return None
        blocks: dict[str, list[dict[str, Any]]] = {}
        for row in self._key_rows(set(keys)):  # sorted by key: each postcode's rows in the index's order
            blocks.setdefault(row.pop(KEY_COLUMN), []).append(row)
        if not set(keys) <= set(blocks) or any(r["status"] == "malformed" for b in blocks.values() for r in b):
            return None
        if types is not None:  # those types, in that order (stable); rows without services stay
            pos = {t: i for i, t in enumerate(types)}
            blocks = {key: sorted((r for r in b if r["service_type"] is None or r["service_type"] in pos),
                                  key=lambda r: pos.get(r["service_type"], -1)) for key, b in blocks.items()}
        return [{**r, "row": i, "query": q} for i, (key, q) in enumerate(zip(keys, queries), 1) for r in blocks[key]]

    def _key_rows(self, keys: set[str]) -> list[dict[str, Any]]:
        """The table's rows of ``keys``, read from the row groups whose key range holds one
        (Parquet statistics).  Plain :mod:`pyarrow.parquet`: its filters and ``take`` would
        import pyarrow's dataset and compute layers and, with them, pandas."""
        import bisect

        import pyarrow.parquet as pq

        pf = pq.ParquetFile(self.table_path)
        meta = pf.metadata
        col = [meta.schema.column(i).path for i in range(meta.num_columns)].index(KEY_COLUMN)

        def holds(group: int) -> bool:
            st = meta.row_group(group).column(col).statistics
            return st is None or not st.has_min_max or any(st.min <= k <= st.max for k in keys)

        groups = [g for g in range(meta.num_row_groups) if holds(g)]
        if not groups:
            return []
        table = pf.read_row_groups(groups)
        column = table.column(KEY_COLUMN).to_pylist()  # sorted: each key's rows are one run
        rows = []
        for key in sorted(keys):
            start, stop = bisect.bisect_left(column, key), bisect.bisect_right(column, key)
            rows.extend(table.slice(start, stop - start).to_pylist())
        return rows

    def notes(self, service_types: Sequence[str] | None = None) -> dict[str, str]:
        """Coverage notes (:func:`~locmap.finder.nearest.coverage_notes`) of ``service_types`` in
        their order (default: every type of the index)."""
        notes = self.record["notes"]
        types = list(dict.fromkeys(service_types)) if service_types is not None else self.record["types"]
        return {t: notes[t] for t in types if t in notes}


def prune(folder: Path, keep: int = KEEP_INDEXES) -> list[Path]:
    """Remove all but the ``keep`` most recently built indexes of ``folder`` (each key's record
    first, so a half-removed index is never read); returns the files removed."""
    records = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    removed = []
    for record in records[keep:]:
        for path in (record, record.with_suffix(".parquet")):
            try:
                path.unlink()
                removed.append(path)
            except FileNotFoundError:
                pass
    return removed


def read_index(area_name: str, settings: Settings) -> NearestIndex | None:
    """The current index of ``area_name`` under ``settings``, or ``None`` (none built, built for
    other settings or code, or an input file changed since)."""
    table, record_path = index_paths(area_name, settings)
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("key") != record_path.stem or not table.is_file():
        return None
    files = record.get("files")
    if not isinstance(files, list) or not all(isinstance(e, list) and unchanged(e) for e in files):
        return None
    return NearestIndex(table, record)


__all__ = ["ANSWER_SETTINGS", "INDEX_VERSION", "KEEP_INDEXES", "KEY_COLUMN", "NearestIndex", "code_digest", "compact",
           "file_digest", "index_key", "index_paths", "input_record", "prune", "read_index", "unchanged"]
