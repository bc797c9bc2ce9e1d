"""Locality results as shown in notebook 04: generated schemes, scorecards, leaders, hub sites.
"""
from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from locmap.localities.ranking import rule_order
from locmap.report import svg


def infeasible_reason(status: str) -> str:
    """Plain words for a generated scheme's status (``infeasible: outside bounds a-b: L2 X+ 38406``)."""
    found = re.search(r"(\d+) localities found", str(status))
    prefix = f"only {found.group(1)} could be formed and " if found else ""
    m = re.search(r"outside bounds (\d+)-(\d+): (.*)$", str(status))
    if not m:
        return "its localities could not be made contiguous and balanced"
    lo, hi = int(m.group(1)), int(m.group(2))
    parts = [re.match(r"(.*) (\d+)$", x.strip()) for x in m.group(3).split(",")]
    named = [f"{p.group(1)} would hold {int(p.group(2)):,}" for p in parts if p]
    return (f"{prefix}the localities could not be balanced to {lo:,}-{hi:,} children and young people 0-19 each ("
            + "; ".join(named) + ")")


def generated_status(loc: Any) -> pd.DataFrame:
    """Generated schemes with a plain-language status: feasible ones are ranked, the others not."""
    gen = pd.DataFrame(loc["generated"])
    if not len(gen):
        return gen
    gen = gen.copy()
    gen["status"] = [("ranked" if ok else f"not ranked: {infeasible_reason(st)}")
                     for ok, st in zip(gen["feasible"], gen["status"])]
    return gen


#: The scorecard columns shown in a notebook (each with its description in the data dictionary);
#: a column the area's scorecard lacks (no children's centres) is left out.
SCORECARD_MAIN = ("locality", "pop_total", "pop_0_19", "pct_children_idaci_most_deprived_20", "pct_gap_children",
                  "n_childrens_centre", "gp_practice_per_1000", "hard_edge_risk_pct", "align_pcn_best",
                  "align_pcn_share", "size_vs_guide")


def scorecard_main(scorecard: pd.DataFrame) -> pd.DataFrame:
    """The main columns of a scorecard (:data:`SCORECARD_MAIN`, those it has)."""
    return pd.DataFrame(scorecard)[[c for c in SCORECARD_MAIN if c in scorecard.columns]]


def ranked_schemes(loc: Any) -> list[str]:
    """Schemes whose ranking is shown: every scheme except infeasible generated ones."""
    gen = pd.DataFrame(loc["generated"])
    bad = set(gen.loc[~gen["feasible"].astype(bool), "scheme"]) if len(gen) else set()
    return [name for name in loc["rankings"] if name not in bad]


def leaders(loc: Any) -> pd.DataFrame:
    """The leaders of every *feasible* scheme (an infeasible generated scheme is never a leader)."""
    lead = pd.DataFrame(loc["leaders"])
    gen = pd.DataFrame(loc["generated"])
    if len(gen) and len(lead):
        bad = set(gen.loc[~gen["feasible"].astype(bool), "scheme"])
        lead = lead[~lead["scheme"].isin(bad)]
    return lead.reset_index(drop=True)


def generated_localities(loc: Any) -> pd.DataFrame:
    """What each generated locality is made of: towns and the share of its children in each.

    Generated localities are named ``L<n> <town>``: numbered west to east, after the town
    holding most of their children; ``+`` means they also take in parts of other towns.
    """
    rows = []
    for name, sch in loc["schemes"].items():
        ct = loc["crosstabs"].get(f"{name}_vs_towns")
        if not name.startswith("auto_") or ct is None:
            continue
        for locality, part in ct.groupby("area_a", sort=True):
            part = part.sort_values("share_of_a", ascending=False)
            towns = ", ".join(f"{t} {100 * s:.0f}%" for t, s in zip(part["area_b"], part["share_of_a"]) if s >= 0.005)
            rows.append({"scheme": name, "locality": locality, "pop_0_19": float(part["people"].sum()),
                         "towns": towns})
    return pd.DataFrame(rows, columns=["scheme", "locality", "pop_0_19", "towns"])


def hard_edge(loc: Any) -> pd.DataFrame:
    """Hard-edge risk of every locality of every scheme (lower = more self-contained)."""
    cols = ["scheme", "locality", "hard_edge_risk_pct", "pct_children_nearest_key_other_locality",
            "pct_children_nearest_key_outside_borough", "pct_children_nearest_cc_across_edge"]
    parts = [sc[[c for c in cols if c in sc.columns]] for sc in loc["scorecards"].values()]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)


def _named(df: pd.DataFrame, ids_col: str, names_col: str, sites: pd.DataFrame) -> list[str]:
    if names_col in df.columns:
        return [str(v).replace(";", ", ") for v in df[names_col]]
    name_of = dict(zip(sites["site_id"].astype(str), sites["name"].astype(str))) if "name" in sites else {}
    return [", ".join(name_of.get(i, i) for i in str(v).split(";") if i) for v in df[ids_col]]


def hub_summary(hubs: Sequence[Any]) -> pd.DataFrame:
    """Hub-site suggestions per locality and method, in minutes (not metres), sites by name."""
    rows = []
    for h in hubs:
        s, sites = pd.DataFrame(h["summary"]), pd.DataFrame(h["sites"])
        m_per_min = s["max_m"] / s["minutes"]
        rows.append(pd.DataFrame({
            "locality": h["locality"], "model": s["model"], "p": s["p"],
            "sites_named": _named(s, "selected", "selected_names", sites),
            "children_covered": s["children_covered"], "pct_children_covered": s["pct_children_covered"],
            "mean_minutes": s["mean_distance_m"] / m_per_min, "max_minutes": s["minutes"]}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def hub_gain(hubs: Sequence[Any]) -> pd.DataFrame:
    """What each added hub site brings (maximal coverage, p = 1, 2, ...), sites by name."""
    rows = []
    for h in hubs:
        g, sites = pd.DataFrame(h["gain"]), pd.DataFrame(h["sites"])
        if not len(g):
            continue
        m_per_min = float(pd.DataFrame(h["summary"])["max_m"].iloc[0] / pd.DataFrame(h["summary"])["minutes"].iloc[0])
        rows.append(pd.DataFrame({
            "locality": h["locality"], "p": g["p"], "site": _named(g, "added_sites", "added_names", sites),
            "gain_children": g["gain_children"], "children_covered": g["children_covered"],
            "pct_children_covered": g["pct_children_covered"], "mean_minutes": g["mean_distance_m"] / m_per_min}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def leading_localities(rec: Any, top_n: int = 2) -> list[str]:
    """The recommended locality and the runner-up (first ``top_n``): where hub sites are suggested."""
    return [n for n in (rec.locality, rec.runner_up) if n][:max(int(top_n), 0)]


@dataclass(frozen=True)
class Charts:
    """Titled SVG charts shown in a notebook (the same charts as the decision pack)."""

    title: str
    charts: tuple[tuple[str, str, str], ...]   # (heading, svg markup, caption)

    def _repr_html_(self) -> str:
        parts = [f"<h3>{html.escape(self.title)}</h3>"]
        for head, svg_markup, caption in self.charts:
            parts.append(f"<h4 style='margin:10px 0 4px'>{html.escape(head)}</h4>{svg_markup}"
                         f"<p style='color:#57606a;font-size:12.5px'>{html.escape(caption)}</p>")
        return "<div class='locmap-charts'>" + "".join(parts) + "</div>"

    def __repr__(self) -> str:
        return f"{self.title}: " + ", ".join(h for h, _s, _c in self.charts)


def ranking_charts(loc: Any, scheme: str, rec: Any) -> Charts:
    """The ranking and sensitivity charts of ``scheme`` (as in the decision pack): the five
    criteria per locality, the rank in every sensitivity draw and the share of draws ranked
    first; localities in the order the recommendation rule prefers them, ``rec``'s in blue.
    SVG text is escaped by :mod:`locmap.report.svg`."""
    ranking, sens = loc["rankings"][scheme], loc["sensitivity"][scheme]
    order = rule_order(ranking.set_index("locality")["score"], sens.set_index("locality")["p_first"],
                       rec.score_margin)
    n = f"{rec.n_draws:,}" if rec.n_draws else "the"
    return Charts(f"Ranking and sensitivity ({scheme})", (
        ("The five criteria (0-1, 1 = most suitable)", str(svg.criteria_chart(ranking, order, rec.locality)),
         "Need: child deprivation and number of children 0-19. Gaps: share of children 0-19 beyond the gap "
         "threshold. Readiness: children's centres and GP practices per 1,000 children and coverage. "
         "Alignment: children inside one town and one PCN footprint. Size: closeness to 30,000-50,000 people."),
        ("Rank in the sensitivity draws", str(svg.rank_distribution_chart(sens, order, rec.locality)),
         f"Each bar splits {n} random weightings and scenarios by the rank the locality got."),
        ("Share of draws ranked first", str(svg.first_share_chart(sens, order, rec.locality)),
         "The rule recommends, among localities within the score margin of the best, the one first most often."),
    ))
