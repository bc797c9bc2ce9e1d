"""The decision pack's content: plain values (text, numbers, SVG markup) for the page template.

Each ``*_section`` function takes :class:`~locmap.report.inputs.ReportInputs` (and the
recommendation) and returns a dict the template shows; text from data stays plain ``str``
(the template escapes it) and charts are :class:`markupsafe.Markup` built by
:mod:`locmap.report.svg` (which escapes their text).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from locmap.access.nearest import ANY_KEY, wide_column
from locmap.distance.routing import method_label
from locmap.export import ATTRIBUTION
from locmap.localities.ranking import CRITERIA, Recommendation, rule_order, what_if
from locmap.localities.schemes import dissolve_scheme
from locmap.maps.palette import service_label
from locmap.maps.static import hub_site_list
from locmap.report import svg
from locmap.report.inputs import ReportInputs


def _fmt_int(v: Any) -> str:
    return "not available" if v is None or not np.isfinite(float(v)) else f"{float(v):,.0f}"


def _fmt_pct(v: Any) -> str:
    return "not available" if v is None or not np.isfinite(float(v)) else f"{float(v):.1f}%"


#: How a scheme is named in sentences.
SCHEME_LABELS: dict[str, str] = {"towns": "towns", "pcns": "PCN footprints", "wards": "wards"}


def scheme_label(name: str) -> str:
    return SCHEME_LABELS.get(name, name)


def rule_ordered(inp: ReportInputs, rec: Recommendation) -> list[str]:
    """Localities in the order the recommendation rule prefers them."""
    ranking = inp.table(f"ranking_{inp.scheme}").set_index("locality")
    sens = inp.table(f"sensitivity_{inp.scheme}").set_index("locality")
    return rule_order(ranking["score"], sens["p_first"], rec.score_margin)


# ----------------------------------------------------------------------------- recommendation
def what_if_table(inp: ReportInputs, rec: Recommendation) -> pd.DataFrame:
    """The rule re-applied under single changes (:func:`~locmap.localities.ranking.what_if`) for the
    pack's scheme: shown in the recommendation section and written as ``what_if_<scheme>.csv``."""
    return what_if(inp.table(f"ranking_{inp.scheme}"), inp.table(f"sensitivity_{inp.scheme}"), inp.weights,
                   inp.table(f"scorecard_{inp.scheme}"), score_margin=rec.score_margin)


def recommendation_section(inp: ReportInputs, rec: Recommendation, wi: pd.DataFrame | None = None) -> dict:
    """The recommendation in plain words, the rule, the runner-up and what would change it (``wi``:
    :func:`what_if_table`, computed here when not given)."""
    wi = what_if_table(inp, rec) if wi is None else wi
    return {"rec": rec, "what_if": wi.to_dict("records"),
            "n_flips": int(wi["flips"].sum()), "n_changes": len(wi)}


#: what each criterion measures, with its age band (one band per criterion, named everywhere)
CRITERION_MEANS: dict[str, str] = {
    "need": "child deprivation (IDACI, children 0-19) and the number of children 0-19",
    "gaps": "the share of children 0-19 beyond {gap} min of every key service",
    "readiness": "children's centres and GP practices per 1,000 children 0-19 and coverage within {gap} min",
    "alignment": "children 0-19 inside one town and one PCN footprint, minus hard-edge risk",
    "size": "closeness of the whole population to 30,000-50,000 people",
}


def why_section(inp: ReportInputs, rec: Recommendation) -> dict:
    """Why the recommended locality leads although it may score low on a criterion (e.g. few gaps):
    each criterion's score, weight and weighted points, and plain sentences."""
    crit = inp.table(f"ranking_{inp.scheme}").set_index("locality")
    w = inp.weights.as_array() / inp.weights.as_array().sum()
    rows = []
    for c, wi in zip(CRITERIA, w):
        v = float(crit.at[rec.locality, f"crit_{c}"])
        best = crit[f"crit_{c}"].astype(float)
        means = CRITERION_MEANS[c].format(gap=f"{inp.gap_minutes:g}")
        rows.append({"criterion": svg.CRITERION_LABELS[c], "means": means,
                     "score": f"{v:.2f}", "weight": f"{wi:.0%}", "points": f"{v * wi:.3f}",
                     "rank": int((best > v + 1e-12).sum()) + 1, "value": v, "w": float(wi)})
    strong = sorted(rows, key=lambda r: -r["value"] * r["w"])[:2]
    weak = [r for r in rows if r["value"] <= 0.25]
    sentences = [f"{rec.locality} scores {rec.score:.3f} at the agreed weights: the sum of each criterion's "
                 "score (0-1 across the candidates) times its weight. Most of it comes from "
                 + " and ".join(f"{r['criterion'].lower()} ({r['score']} x {r['weight']})" for r in strong) + "."]
    for r in weak:
        sentences.append(f"It scores only {r['score']} on {r['criterion'].lower()} ({r['means']}), which "
                         f"carries {r['weight']} of the weight: a locality with few gaps can still lead when it "
                         "is strong on need, readiness (assets to build on) and alignment."
                         if r["criterion"] == "Gaps" else
                         f"It scores only {r['score']} on {r['criterion'].lower()} ({r['means']}), "
                         f"which carries {r['weight']} of the weight.")
    return {"rows": rows, "sentences": sentences}


def ranking_rows(inp: ReportInputs) -> list[dict]:
    """Base-weight ranking with the stability figures, in base rank order."""
    r = inp.table(f"ranking_{inp.scheme}")
    s = inp.table(f"sensitivity_{inp.scheme}").set_index("locality")
    return [{"rank": int(x.rank), "locality": str(x.locality), "score": f"{x.score:.3f}",
             "p_first": f"{s.at[x.locality, 'p_first']:.1%}",
             "median": f"{s.at[x.locality, 'rank_median']:g}",
             "range90": f"{s.at[x.locality, 'rank_p05']:g}-{s.at[x.locality, 'rank_p95']:g}"}
            for x in r.itertuples()]


def charts_section(inp: ReportInputs, rec: Recommendation) -> dict:
    order = rule_ordered(inp, rec)
    ranking, sens = inp.table(f"ranking_{inp.scheme}"), inp.table(f"sensitivity_{inp.scheme}")
    return {"criteria": svg.criteria_chart(ranking, order, rec.locality),
            "ranks": svg.rank_distribution_chart(sens, order, rec.locality),
            "first": svg.first_share_chart(sens, order, rec.locality)}


def live_weights_data(inp: ReportInputs, rec: Recommendation) -> dict:
    """What the page's script needs to re-rank exactly as Python does (JSON-able)."""
    ranking = inp.table(f"ranking_{inp.scheme}")
    sens = inp.table(f"sensitivity_{inp.scheme}").set_index("locality")
    locs = sorted(ranking["locality"].astype(str))
    crit = ranking.set_index("locality")
    return {"criteria": list(CRITERIA),
            "labels": {c: svg.CRITERION_LABELS[c] for c in CRITERIA},
            "base_weights": [float(getattr(inp.weights, c)) for c in CRITERIA],
            "localities": [{"name": loc, "name_order": i,
                            "crit": [float(crit.at[loc, f"crit_{c}"]) for c in CRITERIA],
                            "p_first": float(sens.at[loc, "p_first"])} for i, loc in enumerate(locs)],
            "score_margin": rec.score_margin}


# ----------------------------------------------------------------------------- localities
def _profile_figures(row: pd.Series, gap: float) -> list[tuple[str, str]]:
    g = f"{gap:g}"
    get = row.get
    return [
        ("Children 0-19", f"{_fmt_int(get('pop_0_19'))} ({_fmt_pct(get('pct_pop_0_19'))} of "
                          f"{_fmt_int(get('pop_total'))} people)"),
        ("Children 0-4", _fmt_int(get("pop_0_4"))),
        ("Children 0-19 in the most deprived 20% (IDACI)", _fmt_pct(get("pct_children_idaci_most_deprived_20"))),
        (f"Gap: children 0-19 beyond {g} min of every key service",
         f"{_fmt_int(get('gap_children'))} children 0-19 ({_fmt_pct(get('pct_gap_children'))})"),
        (f"Children 0-19 within {g} min of a children's centre",
         _fmt_pct(get(f"pct_children_within_{g}min_childrens_centre"))),
        (f"Children 0-19 within {g} min of a GP practice", _fmt_pct(get(f"pct_children_within_{g}min_gp_practice"))),
        ("Children's centres / GP practices inside",
         f"{_fmt_int(get('n_childrens_centre'))} / {_fmt_int(get('n_gp_practice'))}"),
        ("Hard-edge risk: children 0-19 whose nearest key service is across the edge",
         f"{_fmt_pct(get('hard_edge_risk_pct'))} (other locality "
         f"{_fmt_pct(get('pct_children_nearest_key_other_locality'))}, other borough "
         f"{_fmt_pct(get('pct_children_nearest_key_outside_borough'))})"),
        ("Nearest children's centre across the edge", _fmt_pct(get("pct_children_nearest_cc_across_edge"))),
        ("Size (guide 30-50k people)", str(get("size_vs_guide", "not available"))),
        ("Town / PCN holding most children 0-19",
         f"{get('align_town_best', '-')} ({float(get('align_town_share', np.nan)):.0%}) / "
         f"{get('align_pcn_best', '-')} ({float(get('align_pcn_share', np.nan)):.0%})"),
    ]


def _gap_homes(inp: ReportInputs, assignment: pd.Series, locality: str) -> pd.DataFrame:
    """x, y of the locality's homes beyond the gap threshold of every key service."""
    wide, gap = inp.access.wide, inp.gap_minutes
    col = wide_column("minutes", ANY_KEY)
    if col in wide.columns:
        mins = wide[col]
    else:
        key = [wide_column("minutes", t) for t in inp.access.key_service_types
               if wide_column("minutes", t) in wide.columns]
        mins = wide[key].min(axis=1)
    beyond = ~(mins <= gap)  # unreachable counts as beyond
    mine = wide["lsoa21cd"].map(assignment).astype(str) == locality
    sel = wide[beyond & mine & (wide["pop_0_19"] > 0)]
    return pd.DataFrame({"x": sel.geometry.x.to_numpy(), "y": sel.geometry.y.to_numpy()})


def _sites_rows(site_tables: dict, minutes_hint: float) -> list[dict]:
    summary = site_tables["summary"]
    rows = []
    for r in summary.to_dict("records"):
        names = r.get("selected_names") or r.get("selected", "")
        rows.append({"model": "most children covered (MCLP)" if r["model"] == "mclp"
                     else "shortest total distance (p-median)", "p": int(r["p"]),
                     "existing": int(r.get("n_existing_services", 0) or 0),
                     "sites": [n for n in str(names).split(";") if n],
                     "covered": _fmt_int(r.get("children_covered")),
                     "pct": _fmt_pct(r.get("pct_children_covered")),
                     "minutes": f"{float(r.get('minutes', minutes_hint)):g}"})
    return rows


def locality_sections(inp: ReportInputs, rec: Recommendation) -> list[dict]:
    """One profile per locality (rule order): key figures, map, hub sites when suggested."""
    lsoa = inp.area.lsoa
    assign = inp.table(f"assignment_{inp.scheme}").set_index("lsoa21cd")["locality"].astype(str)
    polys = dissolve_scheme(lsoa, assign)
    sc = inp.table(f"scorecard_{inp.scheme}").set_index("locality")
    svc = inp.area.services[inp.area.services["located"].fillna(False).astype(bool)]
    borough = inp.area.borough.geometry.union_all()
    hubs = numbered_hubs(inp, rec)
    out = []
    for loc in rule_ordered(inp, rec):
        role = ("recommended" if loc == rec.locality else "runner-up" if loc == rec.runner_up else "candidate")
        out.append({"name": loc, "role": role, "figures": _profile_figures(sc.loc[loc], inp.gap_minutes),
                    "map": svg.locality_map(loc, polys, lsoa, borough, _gap_homes(inp, assign, loc), svc,
                                            inp.gap_minutes, hubs=hubs.get(loc)),
                    "hubs": hubs[loc].to_dict("records") if loc in hubs else [],
                    "sites": _sites_rows(inp.sites[loc], inp.gap_minutes) if loc in inp.sites else None})
    return out


def numbered_hubs(inp: ReportInputs, rec: Recommendation) -> dict[str, pd.DataFrame]:
    """Suggested hub sites per locality, numbered across the pack (recommended first), so a
    number means the same site on the overview and on the locality's map."""
    out, start = {}, 0
    order = [x for x in (rec.locality, rec.runner_up) if x] + [x for x in inp.sites if x not in
                                                               (rec.locality, rec.runner_up)]
    for loc in order:
        if loc in inp.sites:
            df = hub_site_list(inp.sites[loc].get("sites"))
            df["number"] = df["number"] + start
            start += len(df)
            out[loc] = df
    return out


def overview_section(inp: ReportInputs, rec: Recommendation) -> dict:
    """The borough with every candidate, the recommended one and the hub sites (numbered)."""
    assign = inp.table(f"assignment_{inp.scheme}").set_index("lsoa21cd")["locality"].astype(str)
    polys = dissolve_scheme(inp.area.lsoa, assign)
    hubs = numbered_hubs(inp, rec)
    every = pd.concat(list(hubs.values()), ignore_index=True) if hubs else hub_site_list(None)
    legend = [(int(r.number), str(r.name), loc) for loc, df in hubs.items() for r in df.itertuples()]
    return {"map": svg.overview_map(polys, inp.area.borough.geometry.union_all(), rec.locality, rec.runner_up,
                                    every), "hubs": legend, "n": len(polys)}


# ----------------------------------------------------------------------------- alignment
def alignment_section(inp: ReportInputs) -> dict | None:
    """Towns (or the scheme) against PCN footprints: % of each row's children in each column."""
    stem = next((s for s in (f"crosstab_{inp.scheme}_vs_pcns", f"crosstab_{inp.scheme}_vs_towns")
                 if s in inp.tables), None)
    if stem is None:
        return None
    ct = inp.tables[stem]
    m = ct.pivot_table(index="area_a", columns="area_b", values="share_of_a", fill_value=0.0)
    rows = [{"name": str(a), "cells": [(float(m.at[a, b]), f"{m.at[a, b]:.0%}" if m.at[a, b] >= 0.005 else "")
                                         for b in m.columns]} for a in m.index]
    al = inp.tables.get("alignment", pd.DataFrame())
    pair = al[(al["scheme_a"] == inp.scheme) & (al["scheme_b"] == ct["scheme_b"].iloc[0])] if len(al) else al
    idx = pair.iloc[0].to_dict() if len(pair) else {}
    b = str(ct["scheme_b"].iloc[0])
    return {"a_label": scheme_label(inp.scheme), "b_label": scheme_label(b), "columns": [str(c) for c in m.columns],
            "rows": rows, "index": idx}


# ----------------------------------------------------------------------------- data, method
def data_quality_section(inp: ReportInputs) -> dict:
    """Rows read/used/rejected per service source with the top reasons; unlocated services."""
    acct = inp.area.checks.get("services_accounting")
    rej = inp.area.rejects
    rows = []
    for r in (acct.to_dict("records") if acct is not None else []):
        reasons = rej[rej["file"] == r["file"]].groupby("reason").size().sort_values(ascending=False)
        rows.append({"source": r.get("source_key", ""), "file": r["file"], "read": int(r["read"]),
                     "used": int(r["used"]), "rejected": int(r["rejected"]),
                     "reasons": [f"{k} ({v})" for k, v in reasons.head(3).items()]})
    svc = inp.area.services
    unloc = svc.loc[~svc["located"].fillna(False).astype(bool), ["service_type", "name"]]
    homes = inp.area.checks.get("homes", {})
    return {"sources": rows, "unlocated": [(service_label(t), n) for t, n in unloc.itertuples(index=False)],
            "homes": homes, "notes": list(inp.area.notes), "n_rejects": int(len(rej))}


def caveats(inp: ReportInputs) -> list[str]:
    """The caveats that matter for this run, with the figures."""
    res, svc = inp.access, inp.area.services
    out = []
    if res.method == "estimated":
        cal = inp.calibration
        fit = ""
        if cal is not None and len(cal) and "mae_m" in cal:
            a = cal.iloc[0]
            fit = (f": straight line x {a['circuity']:.2f} + {a['intercept_m']:.0f} m, fitted to IoD2019 road "
                   f"distances (mean error {a['mae_m']:.0f} m, R² {a['r2']:.2f})")
        out.append(f"Distances are estimated, not measured along streets{fit}. A river, railway or "
                   "arterial road without a crossing can make a real walk much longer. Load a street "
                   "network (locmap network) to measure along streets.")
    cc = svc[svc["service_type"] == "childrens_centre"]
    if len(cc):
        closed = int((cc.get("status") == "closed").sum()) if "status" in cc else 0
        out.append(f"The children's-centre list is incomplete: {len(cc)} centres in the register "
                   f"({int(cc['located'].fillna(False).astype(bool).sum())} with a location"
                   f"{f', {closed} closed in 2025' if closed else ''}); children's-centre coverage is a lower "
                   "bound. Supply the council's own list with --services.")
    if len(inp.area.pcns):
        out.append("PCN footprints are approximate: each LSOA is given to its nearest member practice "
                   "(patients register anywhere), so town-vs-PCN alignment is indicative.")
    out.append("Population is Census 2021 spread to residential postcodes; deprivation is IoD2025 by LSOA.")
    return out


def caveats_short(inp: ReportInputs) -> list[str]:
    """One short sentence per caveat, for the first page."""
    out = []
    if inp.access.method == "estimated":
        out.append("Distances are estimated (straight line x a fitted circuity), not walked along streets.")
    if (inp.area.services["service_type"] == "childrens_centre").any():
        out.append("The children's-centre list is incomplete.")
    if len(inp.area.pcns):
        out.append("PCN footprints are approximate.")
    return out


#: plain names of the area pack's layer and table keys (sources table of the pack)
SOURCE_NAMES: dict[str, str] = {
    "wards": "Ward boundaries", "neighbour_wards": "Ward boundaries of the neighbouring boroughs",
    "lsoa21": "Small areas (LSOA 2021) boundaries", "lsoa11": "Small areas (LSOA 2011) boundaries",
    "boroughs": "Borough boundaries", "ward_town": "Wards to towns",
    "lsoa21_ward": "Small areas (LSOA 2021) to wards", "lsoa11_lsoa21": "Small areas 2011 to 2021",
    "postcodes": "Postcodes (homes)", "census_msoa": "Census 2021 population by age (MSOA)",
    "census_lad": "Census 2021 population by age (borough)", "census_lsoa": "Census 2021 population by age (LSOA)",
    "mye_lsoa11": "Mid-year population estimates by single year of age (LSOA 2011)",
    "iod2025": "Indices of Deprivation 2025", "iod2019": "Indices of Deprivation 2019",
    "cilif_ward": "Children in low-income families (by ward)",
}


def source_name(key: str) -> str:
    """Plain name of a pack key (unknown keys: words, first letter capitalised)."""
    text = SOURCE_NAMES.get(key, key.replace("_", " "))
    return text[:1].upper() + text[1:]


def _vintage_of(spec_options: dict, path: str) -> str:
    """The declared vintage, else the year(s) read from the file name, else "not declared"."""
    if spec_options.get("vintage"):
        return str(spec_options["vintage"])
    years = [y for y in re.findall(r"(?<![0-9])(20[0-9]{2}|19[0-9]{2})(?![0-9])", Path(path).name)]
    return f"{years[-1]} (year in the file name)" if years else "not declared"


def vintages(inp: ReportInputs) -> list[dict]:
    """Every declared input: plain name, file, vintage (declared, else the year in the file name)."""
    pack, rows = inp.area.pack, []
    for key, spec in {**pack.layers, **pack.tables}.items():
        rows.append({"what": source_name(key), "file": str(spec.path),
                     "vintage": _vintage_of(dict(spec.options), str(spec.path))})
    for src in pack.services.get("sources", []):
        rows.append({"what": src.get("source", src["key"]), "file": src["path"],
                     "vintage": str(src.get("vintage", "not declared"))})
    if pack.pcn:
        rows.append({"what": "PCN membership", "file": pack.pcn.get("membership", ""),
                     "vintage": str(pack.pcn.get("membership_vintage", "not declared"))})
    return rows


def method_section(inp: ReportInputs) -> dict:
    s, meta = inp.settings, inp.meta
    return {"label": method_label(inp.access.method), "speed": f"{s.walk_speed_kmh:g}",
            "metres_per_min": f"{s.metres_per_minute:.0f}",
            "thresholds": ", ".join(f"{t:g}" for t in s.thresholds_minutes), "gap": f"{inp.gap_minutes:g}",
            "draws": f"{int(meta.get('draws', 0)):,}" if meta.get("draws") else "see the sensitivity table",
            "speeds": ", ".join(f"{v:g}" for v in meta.get("speeds_kmh", [])),
            "gap_scenarios": ", ".join(f"{g:g}" for g in meta.get("gap_scenarios_min", [])),
            "seed": meta.get("seed", ""),
            "weights": [(svg.CRITERION_LABELS[c], f"{w:.0%}") for c, w in
                        zip(CRITERIA, inp.weights.as_array())],
            "key_types": ", ".join(service_label(t) for t in inp.access.key_service_types),
            "caveats": caveats(inp), "caveats_short": caveats_short(inp), "vintages": vintages(inp), "attribution": inp.area.attribution or ATTRIBUTION}


def headline_facts(inp: ReportInputs) -> list[tuple[str, str]]:
    """Short facts under the title: area, population, localities, distance method."""
    lsoa = inp.area.lsoa
    n = len(inp.table(f"ranking_{inp.scheme}"))
    return [("Area", str(inp.area.pack.title)), ("People", f"{lsoa['pop_total'].sum():,.0f} (Census 2021)"),
            ("Children 0-19", f"{lsoa['pop_0_19'].sum():,.0f}"),
            ("Candidate localities", f"{n} ({inp.scheme})"),
            ("Distances", method_label(inp.access.method)),
            ("Pram distance", f"{inp.gap_minutes:g} min at {inp.settings.walk_speed_kmh:g} km/h")]


def build_view(inp: ReportInputs, rec: Recommendation, sections: Sequence[str] | None = None,
               wi: pd.DataFrame | None = None) -> dict:
    """The whole page's content (``wi``: :func:`what_if_table`, computed when not given)."""
    return {"title": f"Choosing the pathfinder locality: {inp.area.pack.title}",
            "area": str(inp.area.pack.title), "facts": headline_facts(inp),
            "recommendation": recommendation_section(inp, rec, wi), "ranking": ranking_rows(inp),
            "charts": charts_section(inp, rec), "live": live_weights_data(inp, rec),
            "why": why_section(inp, rec), "overview": overview_section(inp, rec),
            "localities": locality_sections(inp, rec), "map_legend": svg.map_legend(inp.gap_minutes),
            "alignment": alignment_section(inp), "data": data_quality_section(inp),
            "method": method_section(inp), "scheme": inp.scheme, "scheme_label": scheme_label(inp.scheme)}
