"""locmap.finder: the nearest family services to a postcode, across the borough border.

``nearest_for_postcodes(area, ["UB5 6AA"], k=3)`` answers for each service type with the
nearest ``k`` services of any borough and the nearest in the home's own borough
(:mod:`locmap.finder.nearest`); :mod:`locmap.finder.postcodes` normalises and classifies the
postcodes; :mod:`locmap.finder.page` writes the self-contained offline finder page;
:mod:`locmap.finder.index` reads the per-area index of every postcode's answers.

The names below are imported from their modules when first used (PEP 562), so that
``import locmap.finder.index`` (a look-up from the index) does not import the geospatial stack.
"""
from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the module of this package that defines it.
_EXPORTS: dict[str, str] = {
    "borough_outlines": "_boroughs",
    **dict.fromkeys(("NEAREST_COLUMNS", "answer_table", "build_nearest_index", "coverage_notes",
                     "nearest_for_points", "nearest_for_postcodes", "services_by_type"), "nearest"),
    **dict.fromkeys(("FinderPage", "build_finder_page", "finder_data", "write_finder_page"), "page"),
    **dict.fromkeys(("STATUSES", "PostcodeError", "PostcodeIndex", "build_index", "lookup_postcodes"),
                    "postcodes"),
    **dict.fromkeys(("NearestIndex", "read_index"), "index"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'locmap.finder' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"locmap.finder.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
