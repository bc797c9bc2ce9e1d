"""locmap.finder: the nearest family services to a postcode, across the borough border.

``nearest_for_postcodes(area, ["UB5 6AA"], k=3)`` answers for each service type with the
nearest ``k`` services of any borough and the nearest in the home's own borough
(:mod:`locmap.finder.nearest`); :mod:`locmap.finder.postcodes` normalises and classifies the
postcodes; :mod:`locmap.finder.page` writes the self-contained offline finder page.
"""
from locmap.finder._boroughs import borough_outlines
from locmap.finder.nearest import (
    NEAREST_COLUMNS,
    answer_table,
    coverage_notes,
    nearest_for_points,
    nearest_for_postcodes,
    services_by_type,
)
from locmap.finder.page import FinderPage, build_finder_page, finder_data, write_finder_page
from locmap.finder.postcodes import STATUSES, PostcodeError, PostcodeIndex, build_index, lookup_postcodes

__all__ = ["NEAREST_COLUMNS", "STATUSES", "FinderPage", "PostcodeError", "PostcodeIndex", "answer_table",
           "borough_outlines", "build_finder_page", "build_index", "coverage_notes", "finder_data", "lookup_postcodes",
           "nearest_for_points", "nearest_for_postcodes", "services_by_type", "write_finder_page"]
