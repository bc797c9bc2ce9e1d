"""The workshop decision pack: one offline HTML page (and its A4 PDF) to choose the pathfinder.

::

    from locmap import api, report
    s = api.make_settings()
    area = api.load("ealing", s)
    acc = api.analyse_access(area, s)
    loc = api.analyse_localities(area, acc, schemes=("towns", "pcns"))
    rec = report.recommendation_for(loc, "towns")
    sites = [api.hub_sites(area, s, loc.schemes["towns"], name, router=acc.router)
             for name in (rec.locality, rec.runner_up) if name]
    res = report.build_report(area, acc, loc, sites, s, "out/report")

:func:`build_report` takes what a run has already computed (nothing is recomputed); the
``locmap report`` command (:mod:`locmap.cli.report`) runs those steps first.  See docs/report.md.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from locmap.data.area import AreaData
from locmap.export import write_text
from locmap.localities.columns import describe_column
from locmap.localities.ranking import Recommendation, Weights
from locmap.report.content import build_view, what_if_table
from locmap.report.inputs import ReportError, ReportInputs, recommendation_for, report_inputs
from locmap.report.page import render_page
from locmap.report.pdf import PdfError, print_pdf
from locmap.report.scenarios import with_sections
from locmap.settings import Settings
from locmap.tables import write_readable_tables

__all__ = ["ReportResult", "build_report", "recommendation_for", "report_inputs",
           "ReportInputs", "ReportError", "PdfError", "HTML_NAME", "PDF_NAME"]

HTML_NAME, PDF_NAME = "decision_pack.html", "decision_pack.pdf"


@dataclass(frozen=True)
class ReportResult:
    """Files of the decision pack and the recommendation it shows."""

    html: Path
    pdf: Path | None
    recommendation: Recommendation
    tables: tuple[Path, ...] = ()

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.html, self.pdf, *self.tables) if p is not None)


def build_report(area: AreaData, access: Any, localities: Any, sites: Any, settings: Settings,
                 out_dir: str | Path, scheme: str = "towns", weights: Weights | Mapping | None = None,
                 pdf: bool = True, today: _dt.date | None = None, extra_sections: Sequence[str] = (),
                 print_now: bool = True, recommendation: Recommendation | None = None) -> ReportResult:
    """Write ``decision_pack.html`` (self-contained, offline) and ``decision_pack.pdf`` (A4).

    Parameters
    ----------
    area : AreaData
        The loaded area (layers, register, rejects, checks, pack).
    access : AccessAnalysis or AccessResult
        Distances of the run.
    localities : LocalityAnalysis or mapping of file stem -> DataFrame
        Scorecard, ranking, sensitivity and assignment of ``scheme`` (plus ``crosstab_<scheme>_vs_pcns``
        and ``alignment`` for the alignment section).
    sites : iterable/mapping of SitesResult, or None
        Hub sites of the leading localities (shown in their profiles).
    pdf : bool
        Also print the PDF (needs Chromium; :class:`~locmap.report.pdf.PdfError` otherwise).
    extra_sections : sequence of str
        Finished, escaped HTML fragments placed before "Method and caveats" (e.g. the scenario
        section, :meth:`locmap.scenarios.comparison.ScenarioComparison.section_html`).
    print_now : bool
        False: the pack is written as one that has its PDF (the README names it) but the PDF is
        left to the caller, who prints ``html`` to ``PDF_NAME`` beside it (``locmap run`` does
        that in a second process while it builds the workbook); ``pdf`` of the result is None.
    recommendation : Recommendation, optional
        :func:`recommendation_for` of ``localities``, ``scheme`` and ``weights`` when the caller has
        it already (``locmap run``); computed here when not given.
    """
    inp = report_inputs(area, access, localities, sites, settings, scheme, weights)
    rec = recommendation if recommendation is not None else recommendation_for(inp.tables, scheme, inp.weights)
    wi = what_if_table(inp, rec)  # once: the page's recommendation section and what_if_<scheme>.csv
    html = with_sections(render_page(build_view(inp, rec, wi=wi), (today or _dt.date.today()).isoformat()),
                         extra_sections)
    out = Path(out_dir)
    html_path = write_text(out / HTML_NAME, html)
    pdf_path = print_pdf(html_path, out / PDF_NAME) if pdf and print_now else None
    return ReportResult(html=html_path, pdf=pdf_path, recommendation=rec,
                        tables=tuple(_write_tables(inp, rec, wi, out, pdf)))


def _write_tables(inp: ReportInputs, rec: Recommendation, wi: pd.DataFrame, out: Path, pdf: bool) -> list[Path]:
    """``recommendation_<scheme>.csv``, ``what_if_<scheme>.csv`` (``wi``) and the folder's README.txt."""
    notes = (f"{HTML_NAME}: the decision pack (opens offline in any browser)."
             + (f"\n{PDF_NAME}: the same content on A4." if pdf else "")
             + f"\n\n{rec.headline()}\nRule: {rec.rule}\n{rec.reason}")
    return write_readable_tables({f"recommendation_{inp.scheme}": rec.to_frame(), f"what_if_{inp.scheme}": wi},
                                 out, describe_column, f"locmap decision pack - {inp.area.pack.title}", notes)
