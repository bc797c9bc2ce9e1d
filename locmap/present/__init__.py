"""What the notebooks show: presentation tables, Key findings, caveats and maps, from results.

Everything here turns library results into something an analyst reads; nothing is computed
that a result does not already hold, except the comparators read from the shared London-wide
files (:func:`london_comparators`) and the gap areas split by place (:func:`gap_areas_by_place`).
One module per concern; every name is re-exported here (``from locmap.present import table``):

- :mod:`~locmap.present.tables` -- :func:`table`, the one helper for every table shown:
  plain-language column labels with units, integer people, percentages with one decimal,
  sorted, no index, no internal rows, an explicit "none" message; a long table shows its first
  rows and writes the full table to ``<out_dir>/tables/<name>.csv`` with a link;
- :mod:`~locmap.present.caveats` -- :func:`caveats` that apply to this area, each said once;
- :mod:`~locmap.present.findings` -- :class:`Findings`, the "Key findings" of a notebook in
  plain sentences (no internal ids), built by ``*_findings`` functions;
- :mod:`~locmap.present.comparators` -- the area against every London borough;
- :mod:`~locmap.present.views` -- derived views of need and access results (gap areas by place);
- :mod:`~locmap.present.localities` -- locality results (schemes, hub sites) and the ranking charts;
- :mod:`~locmap.present.maps` -- :func:`map_view`, a self-contained folium map in an iframe;
- :mod:`~locmap.present.previews` -- :func:`workshop_preview` of the workshop files.

Text from data is escaped everywhere it reaches HTML (tables, findings, captions); a map's
text goes through :mod:`locmap.maps.web`, which escapes it.
"""
from __future__ import annotations

from locmap.present.tables import (  # noqa: F401
    TOTAL_ID, MAX_ROWS, ANY_KEY, CHILDRENS_CENTRE, KINDS, Column, COLUMNS, VALUE_LABELS,
    service_labels, Table, link_to, table, childrens_centre_note, files_written, said_once
)
from locmap.present.caveats import (  # noqa: F401
    Notes, CAVEAT_TOPICS, caveats, loading_notes
)
from locmap.present.comparators import (  # noqa: F401
    LONDON_FILES, london_comparators, comparator_table
)
from locmap.present.findings import (  # noqa: F401
    Findings, overview_findings, need_findings, access_findings, pathfinder_findings,
    workshop_findings, scheme_words
)
from locmap.present.localities import (  # noqa: F401
    generated_status, SCORECARD_MAIN, scorecard_main, ranked_schemes, leaders, generated_localities,
    hard_edge, hub_summary, hub_gain, leading_localities, infeasible_reason, Charts, ranking_charts
)
from locmap.present.views import (  # noqa: F401
    register_vintages, rejects_by_file, services_per_1000, coverage_matrix, gap_table, access_layers,
    gap_areas_by_place
)
from locmap.present.maps import (  # noqa: F401
    MapView, LABELS, map_view
)
from locmap.present.previews import (  # noqa: F401
    Preview, workshop_preview
)

__all__ = [
    "TOTAL_ID", "MAX_ROWS", "ANY_KEY", "CHILDRENS_CENTRE", "KINDS", "Column", "COLUMNS",
    "VALUE_LABELS", "service_labels", "Table", "link_to", "table", "childrens_centre_note",
    "files_written", "said_once", "Notes", "CAVEAT_TOPICS", "caveats", "loading_notes", "LONDON_FILES",
    "london_comparators", "comparator_table", "Findings", "overview_findings", "need_findings",
    "access_findings", "pathfinder_findings", "workshop_findings", "scheme_words", "generated_status",
    "SCORECARD_MAIN", "scorecard_main", "ranked_schemes", "leaders", "generated_localities",
    "hard_edge", "hub_summary", "hub_gain", "leading_localities", "infeasible_reason", "Charts", "ranking_charts", "register_vintages",
    "rejects_by_file", "services_per_1000", "coverage_matrix", "gap_table", "access_layers", "gap_areas_by_place",
    "MapView", "LABELS", "map_view", "Preview", "workshop_preview"
]
