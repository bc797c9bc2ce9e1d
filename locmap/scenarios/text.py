"""Plain sentences about a scenario comparison: what each scenario changes and for whom.

Used by the decision-pack section (:mod:`locmap.report.scenarios`), notebook 07 and the
command line.  Sentences are plain text; whoever shows them escapes them (HTML) or sanitises
them (terminal).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from locmap.access._common import ANY_KEY

TYPE_WORDS = {ANY_KEY: "any key service", "childrens_centre": "a children's centre or family hub",
              "gp_practice": "a GP practice", "library": "a library", "primary_school": "a primary school",
              "pharmacy": "a pharmacy", "secondary_school": "a secondary school", "nursery_school": "a nursery school"}


def people(x: float) -> str:
    """People rounded to the nearest 10 (estimates never look more precise than they are)."""
    v = int(round(float(x) / 10.0) * 10)
    return f"{v:,}" if v else ("fewer than 5" if float(x) < 5 else "about 10")


def _names(df: pd.DataFrame, limit: int = 4) -> str:
    names = [str(n) for n in df["name"].tolist()]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def what_changes(resolution: Any, state: str) -> str:
    """"Opens 3 services (...); closes 1 (...)." for one scenario."""
    opened, closed = resolution.opened(state), resolution.closed(state)
    located = opened[opened["located"]]
    parts = []
    if len(opened):
        parts.append(f"opens {len(opened)} service(s) ({_names(opened)})"
                     + ("" if len(located) == len(opened) else f", {len(opened) - len(located)} without a location"))
    if len(closed):
        parts.append(f"closes {len(closed)} ({_names(closed)})")
    rej = resolution.changes[(resolution.changes["scenario"] == state)
                             & (resolution.changes["outcome"] == "rejected")]
    if len(rej):
        parts.append(f"{len(rej)} change row(s) could not be used (see changes.csv): "
                     + "; ".join(f"{r} x{n}" for r, n in rej["reason"].value_counts().items()))
    return ("It " + "; ".join(parts) + ".") if parts else "It changes nothing."


def who_gains(summary: pd.DataFrame, differences: pd.DataFrame, state: str, service_type: str,
              minutes: float) -> str:
    """Children 0-4 and 0-19 who come within / fall beyond ``minutes`` of the type, and where."""
    s = summary[(summary["scenario"] == state) & (summary["service_type"] == service_type)
                & (summary["threshold_minutes"] == float(minutes))].set_index("band")
    if not {"pop_0_4", "pop_0_19"} <= set(s.index):
        return ""
    g4, g19, l4, l19 = (s.loc[b, c] for c in ("gained", "lost") for b in ("pop_0_4", "pop_0_19"))
    what = TYPE_WORDS.get(service_type, service_type.replace("_", " "))
    if g19 < 0.5 and l19 < 0.5:
        return f"Within {minutes:g} minutes of {what}: no child changes side."
    text = f"Within {minutes:g} minutes of {what}: "
    bits = []
    if g19 >= 0.5:
        bits.append(f"{people(g4)} children aged 0-4 ({people(g19)} aged 0-19) come within reach"
                    + _where(differences, state, service_type, minutes, "gained"))
    if l19 >= 0.5:
        bits.append(f"{people(l4)} aged 0-4 ({people(l19)} aged 0-19) fall beyond it"
                    + _where(differences, state, service_type, minutes, "lost"))
    return text + "; ".join(bits) + "."


def _where(differences: pd.DataFrame, state: str, service_type: str, minutes: float, col: str) -> str:
    d = differences[(differences["scenario"] == state) & (differences["service_type"] == service_type)
                    & (differences["threshold_minutes"] == float(minutes)) & (differences["level"] == "town")
                    & (differences["band"] == "pop_0_4") & (differences[col] >= 0.5)]
    if not len(d):
        return ""
    d = d.sort_values(col, ascending=False).head(3)
    return ", mostly in " + ", ".join(f"{a} ({people(v)})" for a, v in zip(d["area_name"], d[col]))


def sentences(cmp: Any, types: Sequence[str] | None = None) -> dict[str, list[str]]:
    """scenario -> plain sentences (what it changes, who gains and loses at the headline threshold,
    whether the recommendation changes)."""
    out = {}
    c = cmp.comparison
    types = list(types or c.service_types)
    for state in cmp.resolution.states:
        if state == "baseline":
            continue
        lines = [what_changes(cmp.resolution, state)]
        mine = set(cmp.resolution.changed_types(state))
        mine |= {ANY_KEY} if mine & set(getattr(cmp, "key_types", ())) else set()
        lines += [t for t in (who_gains(c.summary, c.differences, state, ty, c.headline_minutes) for ty in types
                              if ty in mine and ty in set(c.summary["service_type"])) if t]
        rec = cmp.recommendations
        if len(rec) and state in set(rec["state"]):
            r = rec.set_index("state").loc[state]
            b = rec.set_index("state").loc["baseline"]
            lines.append(f"Re-scored, the recommended pathfinder ({r['scheme']}) is {r['recommended']}"
                         + (f", not {b['recommended']} as in the baseline." if r["changes_choice"]
                            else ", as in the baseline."))
        out[state] = lines
    return out


__all__ = ["people", "what_changes", "who_gains", "sentences", "TYPE_WORDS"]
