"""Every column of every localities output, described: ``describe_column(name) -> (unit, description)``.

One lookup for the data dictionaries (``README.txt``) and the CSV rounding of
:mod:`locmap.tables`: fixed names come from the tables of each module (scorecard,
ranking, sensitivity, alignment, sites, recommendation); names that carry a value
(``n_<type>``, ``<type>_per_1000``, ``pct_children_within_<T>min_<type>``,
``align_<scheme>_best``, ``p_rank_<r>``) are described from their pattern.
"""
from __future__ import annotations

import re

from locmap.localities.alignment import ALIGNMENT_COLUMNS
from locmap.localities.ranking import (RANKING_COLUMNS, RECOMMENDATION_COLUMNS,
                                       sensitivity_column_description)
from locmap.localities.scorecard import COLUMN_DESCRIPTIONS
from locmap.localities.sites import SITES_COLUMNS

#: Columns of the other localities tables (assignments, cross-tabs, generated schemes, ...).
OTHER_COLUMNS: dict[str, tuple[str, str]] = {
    "lsoa21cd": ("code", "LSOA 2021 code"),
    "lsoa21nm": ("name", "LSOA 2021 name"),
    "area_a": ("name", "area of scheme A"),
    "area_b": ("name", "area of scheme B"),
    "people": ("children", "children 0-19 living in both areas (LSOA-based)"),
    "share_of_a": ("share 0-1", "people as a share of area A's children"),
    "share_of_b": ("share 0-1", "people as a share of area B's children"),
    "name": ("name", "name"),
    "unit": ("unit", "unit of the column"),
    "description": ("text", "what the column holds"),
    "service_type": ("name", "service type"),
    "x": ("metres", "easting, EPSG:27700"),
    "y": ("metres", "northing, EPSG:27700"),
    "n_clients_uncovered": ("demand points", "demand points (homes) beyond max_m of every chosen "
                            "site (MCLP)"),
    "pct_clients_covered": ("percent", "demand points (homes) within max_m of a chosen site, "
                            "unweighted (as spopt reports)"),
    "objective": ("model units", "objective value of the solved model (children covered for "
                  "MCLP, children x metres for p-median)"),
    "criterion": ("name", "ranking criterion"),
    "column": ("name", "scorecard column"),
    "direction": ("label", "higher or lower is better"),
    "present": ("yes/no", "whether the scorecard has the column"),
}

#: Columns of ``what_if_<scheme>`` (:func:`locmap.localities.ranking.what_if`).
WHAT_IF_COLUMNS: dict[str, tuple[str, str]] = {
    "change": ("text", "a single change of the base weights or the gap threshold"),
    "kind": ("label", "weight or threshold"),
    "leader_base": ("name", "locality with the highest score after the change"),
    "recommended": ("name", "locality the recommendation rule picks after the change"),
    "flips": ("yes/no", "whether the change changes the recommended locality"),
}

#: Columns of ``generated_schemes`` (one row per generated scheme); checked first for that table.
GENERATED_COLUMNS: dict[str, tuple[str, str]] = {
    "scheme": ("name", "generated scheme"),
    "k": ("localities", "number of localities asked for"),
    "k_achieved": ("localities", "number of localities found"),
    "method": ("name", "regionalisation method (skater, ward, maxp)"),
    "feasible": ("yes/no", "within the population bounds, contiguous and with k localities"),
    "status": ("label", "ok, or why the scheme is infeasible"),
    "bounds_min": ("children", "lower population bound per locality (balancing column)"),
    "bounds_max": ("children", "upper population bound per locality (balancing column)"),
    "max_dev_pct": ("percent", "largest deviation of a locality from equal population"),
    "contiguous": ("yes/no", "every locality is one connected piece"),
}

_PATTERNS: tuple[tuple[re.Pattern, callable], ...] = (
    (re.compile(r"^n_(?!lsoa$)(?P<t>.+)$"),
     lambda m: ("services", f"located {m['t'].replace('_', ' ')} services inside the locality")),
    (re.compile(r"^(?P<t>.+)_per_1000$"),
     lambda m: ("per 1,000 children", f"{m['t'].replace('_', ' ')} services per 1,000 children "
                "0-19 living in the locality")),
    (re.compile(r"^pct_children_within_(?P<T>[\d.]+)min_(?P<t>.+)$"),
     lambda m: ("percent", f"% of children 0-19 within {m['T']} min pram distance of "
                + ("any key service" if m["t"] == "any_key" else m["t"].replace("_", " ")))),
    (re.compile(r"^align_(?P<s>.+)_best$"),
     lambda m: ("name", f"{m['s']} holding most of the locality's children")),
    (re.compile(r"^align_(?P<s>.+)_share$"),
     lambda m: ("share 0-1", f"share of the locality's children in that {m['s']}")),
)


def describe_column(name: str, table: str = "") -> tuple[str, str]:
    """(unit, description) of a localities output column (``table``: the file stem, e.g.
    ``generated_schemes``, ``recommendation_towns``, ``what_if_towns``, for names whose meaning
    depends on the table).

    Raises
    ------
    KeyError
        The column is not described anywhere (a defect: add it to the module's table).
    """
    first = tuple(cols for prefix, cols in (("generated", GENERATED_COLUMNS),
                                            ("recommendation", RECOMMENDATION_COLUMNS),
                                            ("what_if", WHAT_IF_COLUMNS)) if table.startswith(prefix))
    for columns in (*first, COLUMN_DESCRIPTIONS, RANKING_COLUMNS, ALIGNMENT_COLUMNS, SITES_COLUMNS,
                    RECOMMENDATION_COLUMNS, WHAT_IF_COLUMNS, OTHER_COLUMNS):
        if name in columns:
            return columns[name]
    try:
        return sensitivity_column_description(name)
    except KeyError:
        pass
    for pattern, describe in _PATTERNS:
        m = pattern.match(name)
        if m:
            return describe(m)
    raise KeyError(name)
