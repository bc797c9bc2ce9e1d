"""Derived views of need and access results for notebooks 02 and 03 (rejects, services per
1,000 children, coverage by threshold, gaps by area).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from locmap.present.comparators import london_comparators
from locmap.present.tables import ANY_KEY, TOTAL_ID, _at


def register_vintages(area: Any) -> pd.DataFrame:
    """Services in the register by source and date of the data."""
    g = area.services.groupby(["source", "vintage"], dropna=False).size().rename("services").reset_index()
    return g.sort_values("services", ascending=False).reset_index(drop=True)


def rejects_by_file(need: Any) -> pd.DataFrame:
    """Rejected register rows by input file and reason."""
    rej = pd.DataFrame(need["rejects"])
    if not len(rej):
        return pd.DataFrame(columns=["file", "reason", "rows"])
    return rej.groupby(["file", "reason"]).size().rename("rows").reset_index().sort_values(
        ["file", "rows"], ascending=[True, False]).reset_index(drop=True)


def services_per_1000(area: Any, need: Any) -> pd.DataFrame:
    """Services per 1,000 children 0-19 by town, with the whole area and London as comparators.

    The whole-area row counts the register's located services inside the area; the London
    row comes from :func:`london_comparators` (GP practices, pharmacies, libraries only).
    """
    per = pd.DataFrame(need["services_per_1000_children"]).copy()
    svc = area.services
    inside = svc[svc["located"].fillna(False).astype(bool) & svc["in_study_area"].fillna(False).astype(bool)]
    kids = float(area.lsoa["pop_0_19"].sum())
    types = [c for c in per.columns if c != "town"]
    whole = {"town": TOTAL_ID, **{t: 1000.0 * int((inside["service_type"] == t).sum()) / kids for t in types}}
    comp = london_comparators(area).set_index("key")
    london = {"town": "London (shared London-wide files)",
              **{t: comp.loc[f"{t}_per_1000", "london_value"] if f"{t}_per_1000" in comp.index else np.nan
                 for t in types}}
    return pd.concat([per, pd.DataFrame([london, whole])], ignore_index=True)


def coverage_matrix(acc: Any, band: str = "pop_0_4") -> pd.DataFrame:
    """% of ``band`` within each threshold, one row per service type (any key service first)."""
    cov = acc["coverage_total"]
    cov = cov[cov["band"] == band]
    wide = cov.pivot_table(index="service_type", columns="threshold_minutes", values="pct_within")
    wide.columns = [f"within_{t:g}_min" for t in wide.columns]
    order = sorted(wide.index, key=lambda t: (t != ANY_KEY, wide.loc[t].iloc[-1]))
    return wide.loc[order].reset_index()


def gap_table(gaps: pd.DataFrame, gap_minutes: float, area: Any, band: str = "pop_0_4",
              id_col: str = "area_id") -> pd.DataFrame:
    """Children of ``band`` beyond ``gap_minutes`` of any key service and of each key type, per
    area (columns are service-type codes; the whole-area row last)."""
    g = _at(gaps, threshold_minutes=gap_minutes)
    types = [ANY_KEY] + [t for t in area.pack.key_service_types if t in set(g["service_type"])]
    g = g[g["service_type"].isin(types)]
    wide = g.pivot_table(index=id_col, columns="service_type", values=f"gap_{band}", aggfunc="sum")
    pct = g[g["service_type"] == ANY_KEY].set_index(id_col)[f"pct_beyond_{band}"]
    wide = wide[[t for t in types if t in wide.columns]].sort_values(ANY_KEY, ascending=False)
    wide.columns = [f"gap_{band}__{t}" for t in wide.columns]
    wide.insert(1, f"pct_beyond_{band}", pct.reindex(wide.index))
    wide = wide.reset_index()
    if "pcn_name" in g.columns:  # PCN codes -> names (the whole-area row keeps its id)
        names = g.dropna(subset=["pcn_name"]).drop_duplicates(id_col).set_index(id_col)["pcn_name"]
        wide[id_col] = wide[id_col].map(lambda v: names.get(v, v))
        wide = wide.rename(columns={id_col: "pcn_name"})
    return wide


def access_layers(area: Any) -> list[str]:
    """Service types drawn as pram-distance layers: any key service first, then each key type."""
    return [ANY_KEY, *area.pack.key_service_types]
