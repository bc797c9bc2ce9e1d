"""The study-area bundle: every validated layer of one area pack.

``load_area("ealing")`` is the one call notebooks and the CLI make to get data.
"""
from __future__ import annotations

import dataclasses
from collections import OrderedDict
from pathlib import Path

from locmap.data.bundle import AreaData, LookupArea
from locmap.data.loaders import build_area, build_lookup_area
from locmap.data.region import load_pack
from locmap.settings import Settings

__all__ = ["AreaData", "LookupArea", "load_area", "load_for_lookup", "clear_cache"]


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


def load_area(name: str = "ealing", settings: Settings | None = None, user_services=None,
              use_cache: bool = True) -> AreaData:
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
    area = build_area(name, settings, user_services=user_services)
    if use_cache:
        _CACHE[key] = area
        while len(_CACHE) > _CACHE_AREAS:
            _CACHE.popitem(last=False)
    return area


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
