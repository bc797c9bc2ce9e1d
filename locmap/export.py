"""Atomic writers for every file locmap produces.

Each writer writes to a temporary file in the destination folder, flushes and
fsyncs it, then ``os.replace``-s it over the target, so an interrupted run
leaves either the old file or the new one, never a half-written file.
Tables are written deterministically (stable row order, fixed float format)
so the same inputs give byte-identical outputs.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

import pandas as pd

#: Attribution carried into every map and export (from ../shared/data/*/SOURCES.md).
ATTRIBUTION_OGL = (
    "Contains National Statistics data © Crown copyright and database right 2025; "
    "contains OS data © Crown copyright and database right 2025; contains Royal Mail data "
    "© Royal Mail copyright and database right 2025; NHS England, DfE, MHCLG, DWP, GLA data. "
    "Open Government Licence v3.0."
)
ATTRIBUTION_OSM = "© OpenStreetMap contributors (ODbL)"
ATTRIBUTION = f"{ATTRIBUTION_OGL} {ATTRIBUTION_OSM}"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp",
                               dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.unlink()  # let writers create it (some refuse existing files, e.g. GPKG)
    try:
        yield tmp_path
        if tmp_path.exists():
            with open(tmp_path, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_csv(df: pd.DataFrame, path: str | os.PathLike, index: bool = False) -> Path:
    """Write a table as CSV atomically and deterministically (``%.6g`` is NOT used:
    floats keep full precision via pandas' default repr, rows in the given order)."""
    if "geometry" in df.columns:
        df = pd.DataFrame(df.drop(columns="geometry"))
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=index, lineterminator="\n")
    return Path(path)


def write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table as Parquet atomically (geometry dropped; use GeoPackage for that)."""
    if "geometry" in df.columns:
        df = pd.DataFrame(df.drop(columns="geometry"))
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(path)


def write_gpkg(layers: dict, path: str | os.PathLike) -> Path:
    """Write one or more GeoDataFrames as layers of one GeoPackage, atomically."""
    with atomic_path(path) as tmp:
        for name, gdf in layers.items():
            gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
    return Path(path)


def write_figure(fig, path: str | os.PathLike, **savefig_kwargs) -> Path:
    """Save a matplotlib figure atomically (format from the suffix)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", **savefig_kwargs)
    return path
