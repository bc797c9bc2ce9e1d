"""What notebook 06 shows: example homes, tables ready for :func:`locmap.present.table`, and
the Key findings of a finder run (plain sentences with that run's numbers).

Everything here reads results already computed (:func:`locmap.finder.nearest_for_postcodes`,
:func:`locmap.access.crossborder.crossborder_shares`); nothing new is measured.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from locmap.access.nearest import TOTAL_ID
from locmap.finder.nearest import answer_table, coverage_notes
from locmap.finder.page import FinderPage
from locmap.present import Findings


def example_postcodes(area: Any, answers: pd.DataFrame, n_across: int = 2) -> list[str]:
    """Postcodes worth looking at from :func:`locmap.finder.answer_table` of every postcode:
    the ``n_across`` homes whose nearest key service across the border saves the most minutes
    (one per type, key types first), and the home nearest the borough's centre whose nearest
    service of every type is in the borough."""
    keys = [t for t in area.pack.key_service_types if t in set(answers["service_type"])]
    across = answers[answers["across_border"].fillna(False) & answers["certain"].fillna(False)
                     & answers["service_type"].isin(keys)]
    picks: list[str] = []
    for _, g in across.sort_values("extra_minutes_in_borough", ascending=False).groupby("service_type", sort=False):
        if len(picks) < n_across and g["postcode"].iat[0] not in picks:
            picks.append(str(g["postcode"].iat[0]))
    across_any = answers.assign(_a=answers["across_border"].fillna(False)).groupby("postcode")["_a"].any()
    local = across_any.index[~across_any.to_numpy(bool)]
    if len(local):
        centre = area.borough.geometry.union_all().representative_point()
        pts = area.postcodes.loc[local, ["easting", "northing"]].to_numpy(float)
        picks.append(str(local[int(np.argmin(np.hypot(pts[:, 0] - centre.x, pts[:, 1] - centre.y)))]))
    return picks


def lookup_view(lookup: pd.DataFrame) -> pd.DataFrame:
    """One row per answered home and type, whole minutes, for :func:`locmap.present.table`."""
    a = answer_table(lookup)
    return pd.DataFrame({
        "postcode": a["postcode"], "service_type": a["service_type"], "name": a["nearest"],
        "lad_nm": a["nearest_borough"], "minutes": a["nearest_minutes"].round().astype("Int64"),
        "across_border": a["across_border"].map({True: "yes", False: "no"}),
        "nearest_in_area": a["nearest_in_home_borough"],
        "extra_minutes": a["extra_minutes_in_borough"].round().astype("Int64"),
    })


def types_view(answers: pd.DataFrame) -> pd.DataFrame:
    """Per type: postcodes answered, % whose nearest is across the border, and the median extra
    minutes to the nearest in the area for those (``median_minutes``)."""
    g = answers.groupby("service_type", sort=False)
    across = answers[answers["across_border"].fillna(False)]
    return pd.DataFrame({
        "postcodes": g.size(),
        "pct_nearest_across_border": 100.0 * g["across_border"].mean(),
        "median_minutes": across.groupby("service_type")["extra_minutes_in_borough"].median(),
    }).reset_index()


def shares_view(shares: pd.DataFrame, level: str, band: str, types: Sequence[str] | None = None) -> pd.DataFrame:
    """:func:`locmap.access.crossborder.crossborder_shares` rows of one level and band, with the
    column names :func:`locmap.present.table` labels (``area_id`` keeps ``__total__`` last)."""
    s = shares[(shares["level"] == level) & (shares["band"] == band)]
    if types is not None:
        s = s[s["service_type"].isin(list(types))]
    name_col = {"town": "town", "ward": "ward", "pcn": "pcn_name"}.get(level, "area_id")
    return pd.DataFrame({
        name_col: np.where(s["area_id"] == TOTAL_ID, TOTAL_ID, s["area_name"]),
        "service_type": s["service_type"], band: s["people"],
        "people_nearest_across_border": s["people_cross_border"],
        "pct_nearest_across_border": 100.0 * s["share_cross_border"],
    }).reset_index(drop=True)


def finder_findings(area: Any, answers: pd.DataFrame, shares: pd.DataFrame,
                    page: FinderPage | None = None, band: str = "pop_0_4") -> Findings:
    """Key findings of notebook 06: how often the nearest service is across the border, where,
    and what the borough's own nearest costs; the finder page written."""
    labels = dict(area.pack.service_types)
    keys = [t for t in area.pack.key_service_types if t in set(answers["service_type"])]
    pct = 100.0 * answers[answers["service_type"].isin(keys)].groupby("service_type")["across_border"].mean()
    top = str(pct.idxmax()) if len(pct) else None
    points = [f"{len(answers['postcode'].unique()):,} postcodes answered. The nearest service is across the "
              "border for " + "; ".join(f"{labels.get(t, t)} {pct[t]:.1f}%" for t in
                                          pct.sort_values(ascending=False).index) + " of them."]
    facts: dict[str, Any] = {"pct_postcodes_across": {t: round(float(v), 1) for t, v in pct.items()}}
    if top is not None:
        town = shares[(shares["level"] == "town") & (shares["band"] == band) & (shares["service_type"] == top)]
        total = town[town["area_id"] == TOTAL_ID].iloc[0]
        best = town[town["area_id"] != TOTAL_ID].sort_values("share_cross_border", ascending=False).iloc[0]
        extra = answers[(answers["service_type"] == top) & answers["across_border"].fillna(False)]
        points.append(f"Children 0-4 whose nearest service of type \"{labels.get(top, top)}\" is across the border: "
                      f"{total['people_cross_border']:,.0f} ({100 * total['share_cross_border']:.1f}%), most "
                      f"in {best['area_name']} ({100 * best['share_cross_border']:.1f}% of its children 0-4); "
                      f"the nearest in {area.pack.lad_nm} is a median "
                      f"{extra['extra_minutes_in_borough'].median():.0f} minutes farther for them.")
        facts.update(top_type=top, top_town=str(best["area_name"]),
                     top_town_pct=round(100 * float(best["share_cross_border"]), 1))
    for t, note in coverage_notes(area, keys).items():
        points.append(f"{note}: its cross-border share is 0 by construction.")
    if page is not None:
        points.append(f"The offline finder page {page.path.name} ({page.size_bytes / 1e6:.1f} MB) answers "
                      f"{page.n_postcodes:,} postcodes with no internet; distances: {page.label}.")
    return Findings(points=tuple(points), facts=facts)
