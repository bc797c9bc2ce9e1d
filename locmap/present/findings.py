"""Key findings of each notebook: plain sentences with the numbers of that run (:class:`Findings`).
"""
from __future__ import annotations

import html
import re
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import numpy as np
import pandas as pd

from locmap.present.comparators import london_comparators
from locmap.present.localities import hub_summary, infeasible_reason
from locmap.present.views import gap_areas_by_place
from locmap.present.tables import ANY_KEY, CHILDRENS_CENTRE, TOTAL_ID, _BAND_TITLE, _at, _lower, childrens_centre_note, service_labels


@dataclass(frozen=True)
class Findings:
    """The "Key findings" of one notebook run: plain sentences with the numbers of that run.

    ``facts`` holds the named values the sentences quote (e.g. ``top_gap_town``), also
    written into the output's metadata so a reader (or a test) can check them.
    """

    points: tuple[str, ...]
    facts: Mapping[str, Any] = field(default_factory=dict)
    title: str = "Key findings"

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", _said_once(tuple(self.points), CC_TAG))

    def text(self) -> str:
        return f"{self.title}\n" + "\n".join(f"- {p}" for p in self.points)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> tuple[str, dict]:
        items = "".join(f"<li>{html.escape(p)}</li>" for p in self.points)
        body = (f"<div class='locmap-findings' style='border-left:4px solid #1a9850;padding:2px 12px;"
                f"background:#f3faf4'><h3 style='margin:6px 0'>{html.escape(self.title)}</h3><ul>{items}</ul></div>")
        return body, {"locmap": {"kind": "key_findings", "facts": _jsonable(self.facts)}}


def _jsonable(facts: Mapping[str, Any]) -> dict:
    out = {}
    for k, v in facts.items():
        if isinstance(v, (np.integer, np.floating)):
            v = v.item()
        out[k] = v if isinstance(v, (str, int, float, bool, type(None), list)) else str(v)
    return out


#: the short children's-centre caveat added to a sentence quoting a children's-centre figure
CC_TAG = " (children's-centre list incomplete: this overstates the gap)"


def _said_once(points: tuple[str, ...], tag: str) -> tuple[str, ...]:
    """``points`` with ``tag`` kept only where it first appears (each caveat once)."""
    out, seen = [], False
    for p in points:
        if tag in p:
            p = p.replace(tag, "", p.count(tag) - 1) if not seen else p.replace(tag, "")
            seen = True
        out.append(p)
    return tuple(out)


def _cc_short(area: Any) -> str:
    """Short children's-centre caveat for a sentence quoting a children's-centre figure."""
    note = childrens_centre_note(area)
    return CC_TAG if "incomplete" in note else ""


def overview_findings(area: Any, overview: Any) -> Findings:
    """Key findings of the area overview (notebook 01): people, children, where, alignment."""
    lsoa = area.lsoa
    total, kids, under5 = (float(lsoa[c].sum()) for c in ("pop_total", "pop_0_19", "pop_0_4"))
    comp = london_comparators(area).set_index("key")
    london = (f"; London {comp.loc['children_0_19', 'london_value']:.1f}%" if "children_0_19" in comp.index else "")
    towns = overview["population_by_town"].sort_values("pop_0_19", ascending=False)
    wards = overview["population_by_ward"].sort_values("pop_0_19", ascending=False)
    top, top_ward = towns.iloc[0], wards.iloc[0]
    pts = [f"{area.pack.title}: {total:,.0f} residents, {kids:,.0f} children and young people 0-19 "
           f"({100 * kids / total:.1f}% of residents{london}) and {under5:,.0f} children under five."]
    if len(towns) > 1:
        high = towns.sort_values("pct_0_19", ascending=False).iloc[0]
        pts.append(f"Most children live in {top['town']}: {top['pop_0_19']:,.0f} aged 0-19, "
                   f"{100 * top['pop_0_19'] / kids:.0f}% of the area's. The highest share of children is in "
                   f"{high['town']} ({high['pct_0_19']:.1f}% of its residents).")
    else:
        pts.append(f"All {len(area.wards)} wards form one town ({top['town']}): town figures are the whole area.")
    pts.append(f"The ward with most children is {top_ward['ward']}"
               + (f" ({top_ward['town']})" if len(towns) > 1 else "") + f": {top_ward['pop_0_19']:,.0f} aged 0-19.")
    pts += _alignment_sentences(overview)
    return Findings(tuple(pts), {"top_town": str(top["town"]), "top_ward": str(top_ward["ward"]),
                                 "children_0_19": round(kids)})


def _alignment_sentences(overview: Any) -> list[str]:
    align = overview["alignment"]
    row = align[(align["scheme_a"] == "towns") & (align["scheme_b"] == "pcns")]
    ct = overview["towns_vs_pcns"]
    if not len(row) or not len(ct) or ct["area_a"].nunique() < 2:
        return []  # one town (no ward-to-town table): an alignment index says nothing
    best = ct.sort_values("share_of_a", ascending=False).groupby("area_a").head(1)
    fit, split = best.iloc[0], best.sort_values("share_of_a").iloc[0]
    n_split = int((ct["area_a"] == split["area_a"]).sum())
    text = (f"Towns and PCN footprints line up with an alignment index of {row['alignment_index'].iloc[0]:.2f} "
            f"(1 = identical). ")
    if fit["area_a"] != split["area_a"]:
        text += (f"{fit['area_a']} fits best ({100 * fit['share_of_a']:.0f}% of its children in {fit['area_b']}); "
                 f"{split['area_a']} is the most split: its children are spread over {n_split} PCN footprints, "
                 f"at most {100 * split['share_of_a']:.0f}% in one.")
    else:
        text += (f"The children of {fit['area_a']} are spread over {n_split} PCN footprints, "
                 f"at most {100 * fit['share_of_a']:.0f}% in {fit['area_b']}.")
    return [text]


def need_findings(area: Any, need: Any) -> Findings:
    """Key findings of need and assets (notebook 02): deprivation, comparators, services, rejects."""
    lsoa = area.lsoa
    kids = float(lsoa["pop_0_19"].sum())
    deprived = lsoa[pd.to_numeric(lsoa["idaci_decile"], errors="coerce") <= 2]
    by_town = deprived.groupby("town")["pop_0_19"].sum().sort_values(ascending=False)
    comp = london_comparators(area).set_index("key")
    pts = [f"{deprived['pop_0_19'].sum():,.0f} children 0-19 ({100 * deprived['pop_0_19'].sum() / kids:.1f}%) live "
           f"in small areas among the 20% most deprived for children in England (IDACI deciles 1-2)"
           + (f", most of them in {by_town.index[0]} ({by_town.iloc[0]:,.0f})." if len(by_town) > 1 else ".")]
    for key in ("idaci_1_2", "low_income"):
        if key in comp.index:
            c = comp.loc[key]
            pts.append(f"{c['measure']}: {c['area_value']:.1f} {c['unit']} against {c['london_value']:.1f} across "
                       f"London (rank {c['rank']} of {c['n_boroughs']} boroughs, 1 = highest).")
    pts += _service_sentences(area, need, comp)
    rej = need["rejects_by_reason"]
    if len(rej):
        top = rej.sort_values("rows", ascending=False).iloc[0]
        pts.append(f"{int(rej['rows'].sum()):,} register rows were not used, most often '{top['reason']}' "
                   f"({int(top['rows']):,}); every one is listed with its reason below.")
    return Findings(tuple(pts), {"most_deprived_children_town": str(by_town.index[0]) if len(by_town) else ""})


def _service_sentences(area: Any, need: Any, comp: pd.DataFrame) -> list[str]:
    svc = area.services
    located = svc["located"].fillna(False).astype(bool)
    inside = svc["in_study_area"].fillna(False).astype(bool)
    unloc = svc.loc[~located, "name"].astype(str).tolist()
    pts = [f"The register holds {int((located & inside).sum()):,} located services in the area and "
           f"{int((located & ~inside).sum()):,} across the border within {area.settings.buffer_m / 1000:g} km"
           + (f"; {len(unloc)} without a location ({', '.join(unloc[:5])})." if unloc else ".")]
    per = need["services_per_1000_children"]
    labels = service_labels(area)
    if len(per) > 1:
        for st in [t for t in area.pack.key_service_types if t in per.columns]:
            low = per.sort_values(st).iloc[0]
            key = f"{st}_per_1000"
            london = (f", London {comp.loc[key, 'london_value']:.2f}" if key in comp.index else "")
            pts.append(f"Fewest {_lower(labels.get(st, st))} services per 1,000 children 0-19: {low['town']} "
                       f"({low[st]:.2f}{london})" + (_cc_short(area) if st == CHILDRENS_CENTRE else "") + ".")
    return pts


def access_findings(area: Any, acc: Any, gap_minutes: float) -> Findings:
    """Key findings of pram distance (notebook 03): coverage, the largest gaps and where."""
    s = area.settings
    band = acc["gap_band"] if "gap_band" in acc else "pop_0_4"
    who = _BAND_TITLE.get(band, band).lower()
    tot = _at(acc["coverage_total"], service_type=ANY_KEY, threshold_minutes=gap_minutes, band=band)
    if not len(tot):
        return Findings((f"No coverage figures at {gap_minutes:g} minutes: add {gap_minutes:g} to "
                         f"thresholds_minutes.",), {})
    t = tot.iloc[0]
    types = ", ".join(_lower(service_labels(area).get(k, k)) for k in area.pack.key_service_types)
    pts = [f"At {s.walk_speed_kmh:g} km/h ({s.metres_per_minute:.0f} m a minute, {acc['label']}), "
           f"{t['pct_within']:.1f}% of {who} live within {gap_minutes:g} minutes of a key service ({types}); "
           f"{t['pop_beyond']:,.0f} ({100 - t['pct_within']:.1f}%) do not."]
    facts: dict[str, Any] = {}
    for level, col in (("town", "gaps_by_town"), ("PCN footprint", "gaps_by_pcn")):
        g = _at(acc[col], service_type=ANY_KEY, threshold_minutes=gap_minutes)
        g = g[g["area_id"] != TOTAL_ID].sort_values(f"gap_{band}", ascending=False)
        if len(g) > 1:
            top = g.iloc[0]
            name = top.get("pcn_name", top["area_id"]) if level != "town" else top["area_id"]
            facts[f"top_gap_{'town' if level == 'town' else 'pcn'}"] = str(name)
            pts.append(f"Largest gap by {level}: {name}, {top[f'gap_{band}']:,.0f} {who} "
                       f"({top[f'pct_beyond_{band}']:.1f}% of its {who}) beyond {gap_minutes:g} minutes of any key service.")
    pts += _type_sentences(area, acc, gap_minutes, band, who)
    return Findings(tuple(pts), facts)


def _type_sentences(area: Any, acc: Any, gap_minutes: float, band: str, who: str) -> list[str]:
    labels, pts = service_labels(area), []
    cov = _at(acc["coverage_total"], threshold_minutes=gap_minutes, band=band)
    cov = cov[cov["service_type"].isin(area.pack.key_service_types)].sort_values("pct_within")
    if len(cov):
        worst = cov.iloc[0]
        med = acc["summary"].set_index("service_type")["median_minutes"].get(worst["service_type"], np.nan)
        pts.append(f"The hardest key service to reach is the nearest {_lower(labels.get(worst['service_type'], ''))}: "
                   f"{worst['pct_within']:.1f}% of {who} within {gap_minutes:g} minutes, median {med:.0f} minutes"
                   + (_cc_short(area) if worst["service_type"] == CHILDRENS_CENTRE else "") + ".")
    areas = gap_areas_by_place(acc, area, band) if len(acc["gap_areas"]) else pd.DataFrame()
    if len(areas):
        big = areas.sort_values(f"gap_{band}", ascending=False).iloc[0]
        where = (f"in {big['town']} ({big['where']})" if area.towns["town"].nunique() > 1 else f"in {big['where']}")
        pts.append(f"The largest gap area (nearest {_lower(labels.get(big['service_type'], ''))}) is {where}: "
                   f"{big[f'gap_{band}']:,.0f} {who} over {big['area_m2'] / 1e6:.1f} km²"
                   + (f", {big['split']}" if big["split"] else "")
                   + (_cc_short(area) if big["service_type"] == CHILDRENS_CENTRE else "") + ".")
    cb = acc["cross_border"]
    cb = cb[(cb["service_type"] == ANY_KEY) & (cb["band"] == "pop_0_19")]
    if len(cb):
        pts.append(f"{cb['pct_nearest_across_border'].iloc[0]:.1f}% of children 0-19 have their nearest key "
                   f"service across the border: counting those services avoids inventing gaps at the border.")
    sv = _at(acc["straight_vs_street"], service_type=ANY_KEY, threshold_minutes=gap_minutes, band=band)
    if len(sv):
        pts.append(f"A straight-line buffer would overstate coverage at {gap_minutes:g} minutes by "
                   f"{sv['difference_pts'].iloc[0]:.1f} percentage points.")
    return pts


def pathfinder_findings(area: Any, loc: Any, rec: Any, hubs: Sequence[Any] = ()) -> Findings:
    """Key findings of the pathfinder choice (notebooks 04, 05): the recommendation under the
    documented rule (``rec``: :class:`locmap.localities.ranking.Recommendation`), how stable it
    is, what the generated schemes and the hub sites add."""
    single = _single_locality(loc, rec)
    if single:
        return Findings((single,) + tuple(_generated_sentences(loc) + _hub_sentences(hubs, _has_cc(area))),
                        {"recommended": rec.locality, "runner_up": "", "stable": bool(rec.stable)})
    pts = [f"Recommended pathfinder ({scheme_words(rec.scheme)}): {rec.locality}"
           + (f"; runner-up {rec.runner_up}." if rec.runner_up else ".")
           + f" It comes first in {100 * rec.p_first:.1f}% of {rec.n_draws:,} random weightings and scenarios "
           f"(median rank {rec.median_rank:g}, best {rec.rank_min}, worst {rec.rank_max}); score "
           f"{rec.score:.3f} at the chosen weights. The lead is {'stable' if rec.stable else 'NOT stable'}: "
           + ("the choice is robust." if rec.stable else "treat the choice as a judgement for the partners."),
           f"Why (the rule of docs/localities.md): {rec.reason}"]
    if rec.base_leader and rec.base_leader != rec.locality:
        pts.append(f"At the chosen weights alone {rec.base_leader} ranks first, but it leads in fewer weightings: "
                   f"the rule prefers the locality that stays first when the weights are uncertain.")
    if rec.flips:
        pts.append(f"{len(rec.flips)} of the {len(rec.changes_tested)} single changes tried change the choice: "
                   + "; ".join(_plain_flip(f) for f in rec.flips) + ".")
    pts += _generated_sentences(loc) + _hub_sentences(hubs, _has_cc(area))
    return Findings(tuple(pts), {"recommended": rec.locality, "runner_up": rec.runner_up or "",
                                 "stable": bool(rec.stable)})


def _single_locality(loc: Any, rec: Any) -> str:
    """The sentence for a scheme with one locality (nothing to choose between), else ''."""
    ranking = loc["rankings"].get(rec.scheme)
    if ranking is None or len(ranking) > 1:
        return ""
    others = [scheme_words(n) for n in loc["rankings"] if n != rec.scheme and len(loc["rankings"][n]) > 1]
    return (f"The {scheme_words(rec.scheme)} scheme has only one locality ({rec.locality}, the whole area): there is no "
            f"pathfinder to choose between. Choose a scheme with several localities"
            + (f" ({', '.join(others)})" if others else " (e.g. pcns or auto)") + ".")


#: how a scheme is named in a sentence
SCHEME_WORDS: dict[str, str] = {"towns": "towns", "pcns": "PCN footprints", "wards": "wards"}


def scheme_words(name: str) -> str:
    """A scheme in words: ``pcns`` -> "PCN footprints", ``auto_skater_k4`` -> "4 generated localities"."""
    m = re.match(r"auto_\w+_k(\d+)$", str(name))
    return f"{m.group(1)} generated localities" if m else SCHEME_WORDS.get(str(name), str(name))


def _plain_flip(flip: str) -> str:
    """``"gaps weight x2 (25% -> 40%): Greenford"`` -> ``"gaps weight doubled (25% to 40%): Greenford"``."""
    return (flip.replace(" x0.5 ", " halved ").replace(" x2 ", " doubled ").replace(" -> ", " to ")
            .replace(": ", " would make it ", 1) if ": " in flip else flip)


def _has_cc(area: Any) -> bool:
    svc = getattr(area, "services", None)
    return svc is not None and bool((svc["service_type"] == CHILDRENS_CENTRE).any())


def _k_list(ks: Sequence[int]) -> str:
    ks = [str(int(k)) for k in ks]
    return ks[0] if len(ks) == 1 else ", ".join(ks[:-1]) + " and " + ks[-1]


def _generated_sentences(loc: Any) -> list[str]:
    """Generated schemes in plain words: how many localities, which are ranked, why others are not."""
    gen = pd.DataFrame(loc["generated"])
    if not len(gen):
        return []
    ok = gen[gen["feasible"].astype(bool)]
    bad = gen[~gen["feasible"].astype(bool)]
    text = (f"Generated localities (wards grouped by the computer into areas of similar numbers of children): "
            f"the schemes of {_k_list(ok['k'])} localities are balanced and ranked" if len(ok)
            else "Generated localities: no scheme could be balanced, so none is ranked")
    for _, r in bad.iterrows():
        text += f"; {int(r['k'])} localities are not ranked: {infeasible_reason(r['status'])}"
    return [text + "."]


def _hub_sentences(hubs: Sequence[Any], has_cc: bool = True) -> list[str]:
    pts = []
    summ = hub_summary(hubs)
    already = ("who are not already that close to a children's centre" if has_cc else
               "who are not already that close to an existing service")
    for _, r in summ[summ["model"] == "mclp"].iterrows() if len(summ) else []:
        pts.append(f"Hub sites in {r['locality']}: {int(r['p'])} site(s) ({r['sites_named']}) would bring "
                   f"{r['children_covered']:,.0f} children 0-4 ({r['pct_children_covered']:.1f}% of its under-fives) "
                   f"within {r['max_minutes']:g} minutes {already}; "
                   f"mean pram trip to the nearest suggested site {r['mean_minutes']:.0f} minutes.")
    return pts


def workshop_findings(area: Any, files: pd.DataFrame, rec: Any | None = None, loc: Any | None = None) -> Findings:
    """Key findings of the workshop pack (notebook 05): what was written, the recommendation and
    (from ``loc``, the scheme's scorecard) the locality with the largest gap."""
    kinds = files["kind"].value_counts()
    n_sheets = int(files.loc[files["kind"] == "sheet", "locality"].nunique()) if len(files) else 0
    pts = [f"Written: {int(kinds.filter(like='map').sum())} interactive map(s) and print sheets for "
           f"{n_sheets} localit{'y' if n_sheets == 1 else 'ies'} ({len(files)} files, "
           f"{files['size_kb'].sum() / 1024:.1f} MB)."]
    single = _single_locality(loc, rec) if loc is not None and rec is not None else ""
    if single:
        pts.append(single)
    elif rec is not None:
        pts.append(f"Recommended pathfinder ({scheme_words(rec.scheme)}): {rec.locality} (the rule of notebook 04), "
                   f"first in "
                   f"{100 * rec.p_first:.1f}% of {rec.n_draws:,} weightings"
                   + ("; the lead is stable." if rec.stable else "; the lead is not stable: treat it as a judgement.")
                   + (f" Runner-up: {rec.runner_up}." if rec.runner_up else ""))
    card = loc["scorecards"].get(rec.scheme) if loc is not None and rec is not None else None
    if card is not None and len(card) > 1 and "gap_children" in card:
        top = card.sort_values("gap_children", ascending=False).iloc[0]
        pts.append(f"Largest gap ({scheme_words(rec.scheme)}): {top['locality']}, {top['gap_children']:,.0f} children 0-19 "
                   f"({top['pct_gap_children']:.1f}%) beyond {top['gap_threshold_min']:g} minutes of any key service.")
    return Findings(tuple(pts), {"recommended": rec.locality if rec is not None else ""})
