"""The study-area bundle: every validated layer of one area pack.

``load_area("ealing")`` is the one call notebooks and the CLI make to get data.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import pickle
import time
from collections import OrderedDict
from pathlib import Path

import locmap
from locmap._digest import input_record, unchanged
from locmap.data.bundle import AreaData, LookupArea
from locmap.data.loaders import build_area, build_lookup_area
from locmap.data.region import load_pack, pack_input_files
from locmap.export import write_bytes
from locmap.settings import Settings

__all__ = ["AreaData", "LookupArea", "load_area", "load_for_lookup", "clear_cache", "read_stored", "write_stored",
           "stored_path"]


#: areas loaded in this process, newest last; bounded so a batch worker running borough after
#: borough keeps only the last few (each holds a few tens of MB)
_CACHE: OrderedDict = OrderedDict()
_CACHE_AREAS = 2


def _file_stamp(path: str | Path | None) -> tuple[int, int] | None:
    """(size, mtime ns) of a file, so an edited user file is loaded again; None if absent."""
    if path is None:
        return None
    try:
        st = Path(path).stat()
    except OSError:
        return None  # the reader reports the missing/unreadable file with its own error
    return st.st_size, st.st_mtime_ns


#: format of a stored area (:func:`load_area` with ``stored=True``); a change makes older ones unused
STORED_VERSION = 1
#: stored areas kept in ``<cache>/areas`` (the most recently written; older ones removed on a write)
KEEP_STORED = 4
#: Settings fields that do not change the loaded data (every other field keys a stored area)
_NOT_DATA = ("progress", "cache_dir")
#: libraries whose objects a stored area pickles: it is read back by the same versions only
_LIBRARIES = ("numpy", "pandas", "pyarrow", "shapely", "geopandas", "pyproj")


def load_area(name: str = "ealing", settings: Settings | None = None, user_services=None,
              use_cache: bool = True, stored: bool = False) -> AreaData:
    """Load and validate every layer of the area pack ``data/areas/<name>.toml``.

    Parameters
    ----------
    name : str
        Area pack name (``data/areas/<name>.toml``) or a path to a manifest.
    settings : Settings, optional
        Defaults to ``Settings.from_env()``.
    user_services : path, optional
        A CSV of services to add/replace/remove (docs/services.md); default
        ``settings.user_services`` (set by the CLI's ``--services``).
    use_cache : bool
        Reuse an already-loaded bundle in this process for the same inputs.
    stored : bool
        Read the bundle from the copy stored in the cache folder (``<cache>/areas``) when it was
        stored with the same settings, from input files with the same content and by the same code
        and libraries; otherwise load it and store a copy (``locmap run``: see
        :func:`read_stored`).

    Returns
    -------
    AreaData
        All layers in EPSG:27700 with population (people) by age band.
    """
    settings = settings or Settings.from_env()
    user_services = user_services or settings.user_services
    # only what changes the loaded data (not speeds, thresholds or profile) keys the cache
    key = (str(name), str(settings.resolve_data_root()), str(settings.project_root), settings.crs,
           settings.buffer_m, str(user_services), _file_stamp(user_services), settings.user_services_sheet)
    if use_cache and key in _CACHE:
        # same data, possibly different speeds/thresholds: share the layers, carry these settings
        _CACHE.move_to_end(key)
        cached = _CACHE[key]
        return dataclasses.replace(cached, settings=settings.for_street_network() if cached.pack.network else settings)
    area = read_stored(name, settings, user_services) if stored else None
    if area is None:
        area = build_area(name, settings, user_services=user_services)
        if stored:
            write_stored(area, name, settings, user_services)
    if use_cache:
        _CACHE[key] = area
        while len(_CACHE) > _CACHE_AREAS:
            _CACHE.popitem(last=False)
    return area


def stored_path(name: str, settings: Settings, user_services=None) -> Path:
    """``<cache>/areas/<key>.pickle``: the stored copy of area ``name`` under ``settings``, the key
    a SHA-256 of the name (a manifest's absolute path), the data and project folders and every
    Settings field that can change the data (the user's services by absolute path)."""
    where = Path(name).absolute() if str(name).endswith(".toml") or Path(name).is_file() else name
    parts = {"area": str(where), "data_root": str(settings.resolve_data_root().absolute()),
             "project_root": str(Path(settings.project_root).absolute()),
             "user_services": str(Path(user_services).absolute()) if user_services else None,
             "settings": {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)
                          if f.name not in _NOT_DATA}}
    key = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return settings.resolve_cache_dir() / "areas" / f"{key}.pickle"


def _code_files() -> set[str]:
    """locmap's own files (source and package data such as ``openreferral_types.toml``)."""
    pkg = Path(locmap.__file__).parent
    return {str(p.absolute()) for p in pkg.rglob("*") if p.is_file() and p.suffix != ".pyc"}


def _versions() -> dict[str, str]:
    return {"format": str(STORED_VERSION), "locmap": locmap.__version__,
            **{lib: importlib.metadata.version(lib) for lib in _LIBRARIES}}


def read_stored(name: str, settings: Settings, user_services=None) -> AreaData | None:
    """The stored copy of the area (:func:`stored_path`), or None when there is none or it is not
    current: each recorded file (the pack's files, the user's services, locmap's own files) must
    hold what it held when the copy was stored (same size and modification time, else the same
    SHA-256), no locmap file may have been added, and the libraries must be the same versions.
    The copy is a pickle: the cache folder is trusted as the project folder is."""
    t0 = time.perf_counter()
    try:
        with open(stored_path(name, settings, user_services), "rb") as fh:
            record = pickle.load(fh)
            if (record.get("versions") != _versions() or not _code_files() <= {e[0] for e in record["files"]}
                    or not all(unchanged(e) for e in record["files"])):
                return None
            area = pickle.load(fh)
    except Exception:  # noqa: BLE001 - no copy, or one that cannot be read: the area is loaded again
        return None
    area.checks["load_seconds"] = time.perf_counter() - t0
    return dataclasses.replace(area, settings=settings.for_street_network() if area.pack.network else settings)


def write_stored(area: AreaData, name: str, settings: Settings, user_services=None) -> Path | None:
    """Store ``area`` (just loaded, unchanged) for :func:`read_stored`; the oldest copies beyond
    :data:`KEEP_STORED` are removed.  A cache folder that cannot be written is skipped (None)."""
    files = [*pack_input_files(area.pack, settings.resolve_data_root()), *_code_files()]
    if user_services:
        files.append(Path(user_services))
    record = {"versions": _versions(), "files": input_record(files)}
    data = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL) + pickle.dumps(area, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        path = write_bytes(stored_path(name, settings, user_services), data)
    except OSError:  # a read-only or full cache folder: the run goes on without a stored copy
        return None
    _prune(path.parent)
    return path


def _prune(folder: Path) -> None:
    """Remove the stored areas beyond the :data:`KEEP_STORED` most recently written."""
    def written_ns(p: Path) -> int:
        try:
            return p.stat().st_mtime_ns
        except OSError:  # removed meanwhile by another run
            return 0
    for old in sorted(folder.glob("*.pickle"), key=written_ns, reverse=True)[KEEP_STORED:]:
        try:
            old.unlink(missing_ok=True)
        except OSError:  # e.g. a read-only folder: a copy too many is harmless
            pass


def clear_cache() -> None:
    """Forget the areas loaded in this process (a batch worker, after each borough: the next
    borough is another area, and a borough's bundle holds tens of MB)."""
    _CACHE.clear()


def load_for_lookup(name: str = "ealing", settings: Settings | None = None,
                    user_services=None) -> AreaData | LookupArea:
    """What a postcode look-up (the nearest-services index) reads of the area pack ``name``: a
    :class:`LookupArea` (boundaries, services, postcodes: about half the work of
    :func:`load_area`), or the whole area from :func:`load_area` when a street network is asked
    for (``settings.network_file`` or the pack's ``network``: the router checks that the network
    covers the area's homes).

    Parameters and errors as :func:`load_area`; the services and postcodes are those it loads.
    """
    settings = settings or Settings.from_env()
    user_services = user_services or settings.user_services
    pack = load_pack(name, settings)
    if settings.network_file is not None or pack.network:
        return load_area(name, settings, user_services)
    return build_lookup_area(pack, settings, user_services=user_services)
