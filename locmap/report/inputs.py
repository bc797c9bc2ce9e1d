"""What the decision pack is built from: plain inputs, normalised once.

:class:`ReportInputs` holds the area, the access result, the localities tables (as
``file stem -> DataFrame``, the names ``locmap localities`` writes), the hub sites of the
leading localities and the settings.  :func:`report_inputs` accepts the library's result
objects (:class:`~locmap.results.AccessAnalysis`, :class:`~locmap.results.LocalityAnalysis`,
:class:`~locmap.results.SitesResult`) or plain tables, so ``locmap run`` passes what it has
already computed and nothing is recomputed.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from locmap.access.nearest import AccessResult
from locmap.data.area import AreaData
from locmap.errors import LocmapError, SettingsError, UnknownAreaError
from locmap.localities.ranking import Recommendation, Weights, recommend
from locmap.settings import Settings


class ReportError(LocmapError):
    """The decision pack cannot be built from the inputs given (a table is missing)."""

    remedy = ("build it from one run: locmap.api.analyse_access -> analyse_localities (with the "
              "scheme and 'pcns') -> hub_sites, or run `locmap report --area NAME`.")


@dataclass(frozen=True)
class ReportInputs:
    """Everything the pack shows, as plain objects (see module docstring)."""

    area: AreaData
    access: AccessResult
    tables: Mapping[str, pd.DataFrame]
    sites: Mapping[str, Mapping[str, pd.DataFrame]]
    settings: Settings
    scheme: str
    weights: Weights
    meta: Mapping[str, Any] = field(default_factory=dict)
    calibration: pd.DataFrame | None = None

    def table(self, stem: str) -> pd.DataFrame:
        """The localities table ``stem`` (e.g. ``ranking_towns``); ReportError if absent."""
        if stem not in self.tables:
            raise ReportError(f"the localities tables have no '{stem}' (have: "
                              f"{', '.join(sorted(self.tables))})")
        return self.tables[stem]

    @property
    def gap_minutes(self) -> float:
        """The gap threshold of the scheme's scorecard (minutes)."""
        return float(self.table(f"scorecard_{self.scheme}")["gap_threshold_min"].iloc[0])


def _weights_of(localities: Any, weights: Weights | Mapping | None) -> Weights:
    if isinstance(weights, Weights):
        return weights
    if isinstance(weights, Mapping):
        return Weights(**weights)
    meta = getattr(localities, "meta", None) or {}
    return Weights(**meta["weights"]) if "weights" in meta else Weights()


def _site_tables(sites: Any) -> dict[str, dict[str, pd.DataFrame]]:
    """``locality -> {sites, gain, summary}`` from SitesResult objects or mappings."""
    if sites is None:
        return {}
    items = sites.values() if isinstance(sites, Mapping) else sites
    out = {}
    for s in items:
        out[str(s["locality"])] = {k: s[k] for k in ("sites", "gain", "summary")}
    return out


def report_inputs(area: AreaData, access: Any, localities: Any, sites: Any, settings: Settings,
                  scheme: str = "towns", weights: Weights | Mapping | None = None) -> ReportInputs:
    """Normalise the pack's inputs.

    Parameters
    ----------
    access : AccessAnalysis or AccessResult
        Distances of the run (its ``calibration`` table is used when present).
    localities : LocalityAnalysis or mapping of file stem -> DataFrame
        Must hold ``scorecard_<scheme>``, ``ranking_<scheme>``, ``sensitivity_<scheme>`` and
        ``assignment_<scheme>``.
    sites : iterable or mapping of SitesResult (or ``{"locality", "sites", "gain", "summary"}``)
        Hub sites of the leading localities (may be empty).
    weights : Weights, optional
        Base weights of the ranking (default: ``localities.meta['weights']``, else the defaults).
    """
    result = access.result if hasattr(access, "result") else access
    tables = localities.tables() if hasattr(localities, "tables") else dict(localities)
    inputs = ReportInputs(area=area, access=result, tables=tables, sites=_site_tables(sites),
                          settings=settings, scheme=scheme, weights=_weights_of(localities, weights),
                          meta=dict(getattr(localities, "meta", None) or {}),
                          calibration=getattr(access, "calibration", None))
    for stem in ("scorecard", "ranking", "sensitivity", "assignment"):
        inputs.table(f"{stem}_{scheme}")
    return inputs


def recommendation_for(localities: Any, scheme: str = "towns",
                       weights: Weights | Mapping | None = None) -> Recommendation:
    """:func:`~locmap.localities.ranking.recommend` for one scheme of a locality analysis
    (a :class:`~locmap.results.LocalityAnalysis` or its tables), with its scorecard so the
    threshold changes are tried too."""
    tables = localities.tables() if hasattr(localities, "tables") else dict(localities)
    if f"ranking_{scheme}" not in tables:
        schemes = sorted(k[len("ranking_"):] for k in tables if k.startswith("ranking_"))
        raise UnknownAreaError(f"scheme '{scheme}' was not scored (scored: {', '.join(schemes)})")
    n = len(tables[f"ranking_{scheme}"])
    if n < 2:
        raise SettingsError(f"the '{scheme}' scheme has {n} locality, so there is nothing to choose between: "
                            "lead with a scheme of several localities (pcns, wards or auto); an area pack "
                            "without a ward-to-town table has one town, the whole borough")
    return recommend(tables[f"ranking_{scheme}"], tables[f"sensitivity_{scheme}"], scheme,
                     weights=_weights_of(localities, weights), scorecard=tables[f"scorecard_{scheme}"])
