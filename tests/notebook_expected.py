"""What the library computes for each notebook of the suite (tests/test_notebooks.py): run IN the notebooks'
kernel after a suite, so the library's opt-in memos (``analyse_access(..., reuse=True)``,
``compare_scenarios(..., reuse=True)``) give back what the notebooks computed from the same inputs instead
of computing it again in the test process.  A memo answers only a call with the same inputs: a notebook
that had used other parameters (another gap threshold, other draws) leaves nothing to reuse, and the
answer here is computed afresh, as before.  The area is the cache folder's stored copy (what the
notebooks read).  Returns plain JSON-able data (``{"01": [text, ...], ...}``).
"""
from __future__ import annotations

from locmap import api
from locmap.localities.ranking import Weights, recommend
from locmap.scenarios.spec import default_scenarios
from locmap.scenarios.text import people


def expected_names(area_name: str, n_draws: int, speeds_kmh: list[float], gap_scenarios: list[float],
                   gap_minutes: float) -> dict[str, list[str]]:
    """Each notebook's texts its Key findings must hold, for the test's parameters."""
    s = api.make_settings()
    area = api.load(area_name, s, stored=True)
    towns = api.area_overview(area)["population_by_town"]
    out = {"01": [str(towns.sort_values("pop_0_19").iloc[-1]["town"])]}
    lsoa = area.lsoa
    deprived = lsoa[lsoa["idaci_decile"] <= 2].groupby("town")["pop_0_19"].sum()
    out["02"] = [f"{deprived.sum():,.0f} children 0-19"] + ([str(deprived.idxmax())] if len(deprived) > 1 else [])
    # the gap summaries (gaps_by_pcn) come from the coverage table: no gap polygons needed here
    acc = api.analyse_access(area, s, gap_minutes=gap_minutes, fca=False, gaps=False, reuse=True)
    pcn = acc.gaps_by_pcn
    pcn = pcn[(pcn["service_type"] == "any_key_service") & (pcn["threshold_minutes"] == gap_minutes)
              & (pcn["area_id"] != "__total__")]
    out["03"] = [str(pcn.sort_values("gap_pop_0_4").iloc[-1]["pcn_name"])]
    lead = api.default_lead_scheme(area)  # what 04 (with the fixture's sites_scheme) and 05 choose
    scheme_04 = "towns" if len(towns) > 1 else "pcns"
    for nb, scheme, kwargs in (("04", scheme_04, {"speeds_kmh": speeds_kmh, "gap_scenarios": gap_scenarios}),
                               ("05", lead, {})):
        loc = api.analyse_localities(area, acc, schemes=scheme, n_draws=n_draws, seed=0,
                                     gap_minutes=gap_minutes, settings=s, **kwargs)
        rec = recommend(loc.rankings[scheme], loc.sensitivity[scheme], scheme, weights=Weights(),
                        scorecard=loc.scorecards[scheme])
        words = {"towns": "towns", "pcns": "PCN footprints", "wards": "wards"}[scheme]
        out[nb] = ([f"Recommended pathfinder ({words}): {rec.locality}"] if len(loc.rankings[scheme]) > 1 else
                   [f"The {words} scheme has only one locality ({rec.locality}, the whole area)"])
    # 06: the ward with the largest cross-border share of the top type is named (finder.findings)
    out["06"] = ["across the border"]
    # 07: the children who come within 15 minutes in the first default scenario (scenarios.text.people)
    first = default_scenarios(area.name, lead)[:1]
    cmp = api.compare_scenarios(area, first, s, access=acc, rescore=False, fca=False, n_draws=n_draws, reuse=True)
    summ = cmp.summary[(cmp.summary["threshold_minutes"] == gap_minutes) & (cmp.summary["band"] == "pop_0_4")
                       & (cmp.summary["service_type"] == "childrens_centre")]
    out["07"] = [f"{people(summ['gained'].iloc[0])} children aged 0-4"]
    return out
