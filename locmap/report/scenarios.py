"""The scenario section of the decision pack: what each scenario changes and for whom.

:func:`scenario_section` returns one self-contained HTML fragment (``<section>`` with its own
small style): per scenario its title, description and plain sentences, the borough totals
(children 0-4 and 0-19 gaining, losing, net), the towns most affected and the change
accounting.  Every value from data or from a scenario file is escaped (:func:`locmap.maps.scenario.inert_text`: control
characters visible, then HTML, JavaScript and template characters as entities); the fragment is plain text, never passed through a template engine.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from locmap.maps.scenario import inert_text

_STYLE = ("<style>.locmap-scenarios table{border-collapse:collapse;font-size:12px;margin:4px 0 10px}"
          ".locmap-scenarios th,.locmap-scenarios td{border:1px solid #bbb;padding:2px 6px;text-align:right}"
          ".locmap-scenarios th:first-child,.locmap-scenarios td:first-child{text-align:left}</style>")


def _e(v: Any) -> str:
    return inert_text(v)


def _n(v: Any) -> str:
    f = float(v)
    return f"{int(round(f / 10.0) * 10):,}" if abs(f) >= 5 else ("0" if abs(f) < 0.5 else "<5")


def _table(df: pd.DataFrame, columns: Sequence[tuple[str, str]], numeric: Sequence[str] = ()) -> str:
    head = "".join(f"<th>{_e(label)}</th>" for _, label in columns)
    rows = "".join("<tr>" + "".join(f"<td>{_n(r[c]) if c in numeric else _e(r[c])}</td>" for c, _ in columns)
                   + "</tr>" for r in df.to_dict("records"))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def scenario_section(scenarios: Sequence[Any], sentences: Mapping[str, Sequence[str]], summary: pd.DataFrame,
                     by_town: pd.DataFrame, changes: pd.DataFrame, label: str, minutes: float) -> str:
    """The section as an HTML fragment (module docstring)."""
    parts = [f"<section class='locmap-scenarios'>{_STYLE}<h2>Scenarios: what opening and closing services does</h2>",
             f"<p>Distances: {_e(label)}. Children are counted as within reach at {minutes:g} minutes of pram "
             "pushing; numbers are rounded to the nearest 10.</p>"]
    for s in scenarios:
        parts.append(f"<h3>{_e(s.title)}</h3>")
        if s.description:
            parts.append(f"<p>{_e(s.description)}</p>")
        parts += [f"<p>{_e(t)}</p>" for t in sentences.get(s.name, [])]
        tot = summary[(summary["scenario"] == s.name) & (summary["threshold_minutes"] == float(minutes))
                      & summary["band"].isin(["pop_0_4", "pop_0_19"])] if len(summary) else summary
        if len(tot):
            parts.append(_table(tot, [("service_type", "Service"), ("band", "Age band"),
                                      ("baseline_within", "Within (baseline)"), ("scenario_within", "Within (scenario)"),
                                      ("gained", "Gain"), ("lost", "Lose"), ("net", "Net")],
                                ("baseline_within", "scenario_within", "gained", "lost", "net")))
        towns = by_town[(by_town["scenario"] == s.name) & ((by_town["gained"] >= 0.5) | (by_town["lost"] >= 0.5))] \
            if len(by_town) else by_town
        if len(towns):
            parts.append("<p>Children aged 0-4, by town:</p>" + _table(
                towns, [("area_name", "Town"), ("gained", "Gain"), ("lost", "Lose"), ("net", "Net")],
                ("gained", "lost", "net")))
        ch = changes[changes["scenario"] == s.name] if len(changes) else changes
        if len(ch):
            agg = ch.groupby(["change", "action", "selector", "outcome", "reason"], dropna=False).size() \
                .rename("rows").reset_index()
            parts.append("<p>Every change, used or rejected:</p>" + _table(
                agg, [("change", "Change"), ("action", "Action"), ("selector", "What"), ("outcome", "Outcome"),
                      ("reason", "Reason"), ("rows", "Rows")]))
    parts.append("</section>")
    return "\n".join(parts)


def with_sections(page: str, sections: Sequence[str]) -> str:
    """``page`` (the rendered decision pack) with finished HTML ``sections`` placed before its
    "Method and caveats" section (else before ``</body>``); text only, no template pass."""
    if not sections:
        return page
    block = "\n".join(sections) + "\n"
    for anchor in ('<section id="method"', "</body>"):
        i = page.rfind(anchor)
        if i >= 0:
            return page[:i] + block + page[i:]
    return page + block


__all__ = ["scenario_section", "with_sections"]
