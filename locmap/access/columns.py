"""What every column of the access outputs holds: ``describe_column(name, table) -> (unit, description)``.

Used for the CSV rounding (:mod:`locmap.tables`) and the ``README.txt`` data dictionary of the
``access/`` folder.  An undescribed column is a KeyError (a defect: add it here).
"""
from __future__ import annotations

import re

from locmap.bands import BAND_LABELS

COLUMNS: dict[str, tuple[str, str]] = {
    "home_id": ("id", "residential point (postcode centroid) where people live"),
    "postcode": ("code", "postcode of the home"),
    "service_type": ("name", "service type (any_key_service = the nearest of the pack's key types)"),
    "rank": ("rank", "1 = nearest service of the type, 2 = second nearest, ..."),
    "service_id": ("id", "service (source file key and row or code)"),
    "service_name": ("name", "name of the service"),
    "distance_m": ("metres", "route length from the home to the service (street or estimated)"),
    "pram_cost_m": ("metres", "penalised pram cost (equivalent flat paved metres) when pram penalties apply"),
    "minutes": ("minutes", "pram-pushing time at the run's speed"),
    "straight_m": ("metres", "straight line from the home to the same service (comparison only)"),
    "service_lad_cd": ("code", "local authority (borough) of the service"),
    "cross_border": ("yes/no", "the service lies in another borough"),
    "method": ("label", "distance method: street or estimated"),
    "label": ("label", "the distance method in words, shown on every output"),
    "level": ("name", "area level: lsoa, ward, town or pcn"),
    "area_id": ("id", "area of the level (LSOA code, ward code, town name or PCN code); __total__ = the whole area"),
    "pcn_name": ("name", "PCN name"),
    "threshold_minutes": ("minutes", "pram-distance threshold"),
    "band": ("name", "age band (people counted)"),
    "pop_within": ("people", "people of the age band within the threshold"),
    "pop_beyond": ("people", "people of the age band beyond the threshold"),
    "pop_total": ("people", "people of the age band"),
    "pop_unreachable": ("people", "people of the age band with no reachable service of the type"),
    "pct_within": ("percent", "% of the age band within the threshold"),
    "pct_within_straight": ("percent", "% within the threshold if measured in a straight line (comparison only)"),
    "straight_label": ("label", "what the straight-line comparison is"),
    "reason": ("label", "why (unreachable homes, excluded services)"),
    "x": ("metres", "easting, EPSG:27700"),
    "y": ("metres", "northing, EPSG:27700"),
    "name": ("name", "service name"),
    "demand_band": ("name", "age band whose children make the demand of the 2SFCA"),
    "demand": ("people", "children of the demand band in the area"),
    "fca_ratio": ("index", "2SFCA accessibility: capacity per child within reach (demand-weighted)"),
    "fca_per_1000": ("per 1,000", "2SFCA accessibility per 1,000 children"),
    "n_in_catchment": ("services", "services within the threshold of the home"),
    "capacity": ("places", "capacity of the service (places, list size; 1 where unknown)"),
    "demand_in_catchment": ("people", "children of the demand band within the service's catchment (incl. across the border)"),
    "supply_ratio": ("index", "capacity per child in the service's catchment (2SFCA step 1)"),
    "capacity_note": ("label", "where the capacity comes from"),
    "area_name": ("name", "name of the area (ward, town, PCN)"),
    "people": ("people", "people of the age band living in the area"),
    "people_cross_border": ("people", "people of the age band whose nearest service of the type is in another borough"),
    "share_cross_border": ("share 0-1", "share of the age band whose nearest service of the type is in another borough"),
    "people_unknown": ("people", "people whose nearest service's borough is not known"),
    "homes": ("homes", "residential points in the area"),
    "homes_cross_border": ("homes", "residential points whose nearest service of the type is in another borough"),
    "mean_extra_minutes_cross_border": ("minutes", "mean extra minutes to the nearest service of the type in the home borough, for those whose nearest is across the border"),
}

_PATTERNS: tuple[tuple[re.Pattern, str, str], ...] = (
    (re.compile(r"^gap_(?P<b>pop_\w+)$"), "people", "{b} beyond the threshold"),
    (re.compile(r"^pct_beyond_(?P<b>pop_\w+)$"), "percent", "% of {b} beyond the threshold"),
    (re.compile(r"^unreachable_(?P<b>pop_\w+)$"), "people", "{b} with no reachable service of the type"),
)


def describe_column(name: str, table: str = "") -> tuple[str, str]:
    """(unit, description) of an access output column; KeyError when it is not described."""
    if name in COLUMNS:
        return COLUMNS[name]
    for pattern, unit, text in _PATTERNS:
        m = pattern.match(name)
        if m:
            return unit, text.format(b=BAND_LABELS.get(m["b"], m["b"]))
    raise KeyError(name)
