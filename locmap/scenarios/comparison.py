"""One scenario comparison end to end: resolve, measure the union once, compare, re-score, write.

:func:`run_comparison` is what :func:`locmap.api.compare_scenarios` runs; the api passes in the
steps that live above this package (hub sites, the locality analysis, the recommendation), so
the scenarios layer never imports :mod:`locmap.api`.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from locmap import export
from locmap.maps.scenario import scenario_map
from locmap.present import Findings
from locmap.report.scenarios import scenario_section
from locmap.scenarios.compare import Comparison, compare, rescore, scenario_access_result
from locmap.scenarios.resolve import Recommended, Resolution, SitesFor, resolve
from locmap.scenarios.spec import Scenario
from locmap.scenarios.text import sentences


@dataclass(frozen=True)
class ScenarioComparison:
    """Baseline and scenarios side by side (:func:`locmap.api.compare_scenarios`).

    Attributes
    ----------
    resolution : Resolution
        The union of services, each state's open services and the change accounting.
    comparison : Comparison
        Coverage, differences, homes that change side, cross-border, 2SFCA.
    recommendations : DataFrame
        The recommendation re-scored per state (empty when not asked for).
    router_calls : dict
        Router calls made for the union (``nearest_routes``, ``pairs_within``): one per changed type.
    area_name, attribution : str
    """

    resolution: Resolution
    comparison: Comparison
    recommendations: pd.DataFrame
    router_calls: dict
    area_name: str
    attribution: str
    outline: Any = None
    key_types: tuple[str, ...] = ()

    @property
    def summary(self) -> pd.DataFrame:
        return self.comparison.summary

    @property
    def changes(self) -> pd.DataFrame:
        return self.resolution.changes

    def sentences(self) -> dict[str, list[str]]:
        """scenario -> plain sentences (what it changes, for whom)."""
        return sentences(self)

    def findings(self) -> Findings:
        """The notebook's Key findings: per scenario, what it changes and who gains or loses."""
        points, facts = [], {}
        for s in self.resolution.scenarios:
            lines = self.sentences().get(s.name, [])
            points.append(f"{s.title}. " + " ".join(lines))
            d = self.summary[(self.summary["scenario"] == s.name)
                             & (self.summary["threshold_minutes"] == self.comparison.headline_minutes)]
            for r in d[d["band"].isin(["pop_0_4", "pop_0_19"])].itertuples():
                facts[f"{s.name}__{r.service_type}__{r.band}__gained"] = round(float(r.gained), 1)
                facts[f"{s.name}__{r.service_type}__{r.band}__lost"] = round(float(r.lost), 1)
        return Findings(tuple(points), facts)

    def by_area(self, level: str = "town", band: str = "pop_0_4", service_type: str = "childrens_centre",
                minutes: float | None = None) -> pd.DataFrame:
        """Gained / lost / net people per area of ``level`` (one row per scenario and area)."""
        d = self.comparison.differences
        minutes = self.comparison.headline_minutes if minutes is None else float(minutes)
        d = d[(d["level"] == level) & (d["band"] == band) & (d["service_type"] == service_type)
              & (d["threshold_minutes"] == minutes)]
        return d[["scenario", "area_id", "area_name", "baseline_within", "scenario_within", "gained", "lost",
                  "net"]].reset_index(drop=True)

    def services_table(self) -> pd.DataFrame:
        """The union of services with one open/closed column per state."""
        u = pd.DataFrame(self.resolution.union.drop(columns="geometry"))
        for state, mask in self.resolution.states.items():
            u[f"open__{state}"] = mask
        return u

    def tables(self) -> dict[str, pd.DataFrame]:
        c = self.comparison
        return {"summary": c.summary, "coverage": c.coverage, "differences": c.differences,
                "homes_changed": c.homes_changed, "crossborder": c.crossborder, "fca": c.fca,
                "changes": self.resolution.changes, "services": self.services_table(),
                "recommendations": self.recommendations}

    def write(self, out_dir: str | Path, maps: bool = True) -> list[Path]:
        """Every table as CSV, ``README.txt``, the difference map (offline HTML) and the pack
        section (``scenarios_section.html``); atomic writes."""
        out = Path(out_dir)
        files = [export.write_csv(df, out / f"{stem}.csv") for stem, df in self.tables().items()]
        if maps:
            files.append(scenario_map(self.resolution.union, self.resolution.states, self.comparison.homes_changed,
                                      self.comparison.headline_minutes, out / "scenario_map.html",
                                      self.attribution, titles={s.name: s.title for s in self.resolution.scenarios},
                                      outline=self.outline))
        files.append(export.write_text(out / "scenarios_section.html", self.section_html()))
        files.append(export.write_text(out / "README.txt", self.readme()))
        return files

    def section_html(self) -> str:
        """The decision-pack section (a self-contained HTML fragment, every text escaped)."""
        return scenario_section(self.resolution.scenarios, self.sentences(), self.comparison.summary,
                                self.by_area(), self.resolution.changes, self.comparison.label,
                                self.comparison.headline_minutes)

    def readme(self) -> str:
        lines = [f"Scenario comparison for {self.area_name}", "",
                 f"Distances: {self.comparison.label}; measured once for the union of services "
                 f"(router calls: {self.router_calls}); a closure is a mask over them.",
                 "Types no scenario changes are the baseline's and are not repeated.", ""]
        for s in self.resolution.scenarios:
            lines += [f"{s.name}: {s.title}", *[f"  {t}" for t in self.sentences().get(s.name, [])], ""]
        lines += ["Files: summary.csv (borough totals per scenario, type, threshold, band: baseline_within,",
                  "scenario_within, gained, lost, net), differences.csv (the same by ward, town, pcn, locality),",
                  "coverage.csv (every state), homes_changed.csv (homes that change side of a threshold),",
                  "crossborder.csv, fca.csv (2SFCA per 1000), changes.csv (every change used or rejected),",
                  "services.csv (the union with open__<state> columns), recommendations.csv.", "",
                  self.attribution]
        return "\n".join(lines) + "\n"


class CallCounter:
    """A router wrapper that counts ``nearest_routes``/``nearest``/``matrix``/``pairs_within`` calls."""

    def __init__(self, router: Any) -> None:
        self._router = router
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._router, name)
        if name in ("nearest_routes", "nearest", "matrix", "pairs_within") and callable(attr):
            def counted(*a: Any, **kw: Any) -> Any:
                self.calls[name] = self.calls.get(name, 0) + 1
                return attr(*a, **kw)
            return counted
        return attr


def run_comparison(area: Any, scenarios: Sequence[Scenario], settings: Any, baseline: Any,
                   sites_for: SitesFor | None = None, recommended: Recommended | None = None,
                   analyse: Callable[[Any, Any], Any] | None = None, recommend: Callable[[Any], Any] | None = None,
                   localities: pd.Series | None = None, fca: bool = True) -> ScenarioComparison:
    """Resolve ``scenarios``, measure the union once with ``baseline.router``, compare, and (with
    ``analyse`` and ``recommend``) re-score the recommendation under each state."""
    res = resolve(area, scenarios, settings, sites_for=sites_for, recommended=recommended)
    router = CallCounter(baseline.router)
    cmp = compare(area, res, baseline, router, settings, localities=localities, fca=fca)
    recs = pd.DataFrame()
    if analyse is not None and recommend is not None:
        mpm = settings.metres_per_minute
        results = {s: (baseline.result if s == "baseline" else
                       scenario_access_result(baseline.result, cmp, res, s, mpm)) for s in res.states}
        area_for = lambda s: area if s == "baseline" else dataclasses.replace(area, services=res.services(s))  # noqa: E731
        recs = rescore(area_for, results, analyse, recommend)
    return ScenarioComparison(resolution=res, comparison=cmp, recommendations=recs, router_calls=dict(router.calls),
                              area_name=area.name, attribution=area.attribution,
                              outline=area.borough,
                              key_types=tuple(getattr(area.pack, "key_service_types", ()) or ()))


__all__ = ["ScenarioComparison", "CallCounter", "run_comparison"]
