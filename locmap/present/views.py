"""Derived views of need and access results for notebooks 02 and 03 (rejects, services per
1,000 children, coverage by threshold, gaps by area).
"""
from __future__ import annotations

from collections.abc import Mapping
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


def _place_names(homes: pd.DataFrame, band: str, ward_names: Mapping[str, str], max_names: int = 3) -> str:
    """The wards holding most of ``homes``' people of ``band``: "A, B, C and 4 more wards"."""
    by_ward = homes.groupby("ward_cd")[band].sum().sort_values(ascending=False)
    names = [str(ward_names.get(w, w)) for w in by_ward.index]
    if len(names) <= max_names:
        return ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1] if names else ""
    more = len(names) - max_names
    return ", ".join(names[:max_names]) + f" and {more} more ward{'s' if more > 1 else ''}"


def gap_areas_by_place(acc: Any, area: Any, band: str = "pop_0_4", split_share: float = 0.2) -> pd.DataFrame:
    """Gap areas named by the wards and town they fall in; one spanning more than ``split_share``
    of the area (e.g. 45 of 55 km² for a service with few sites) is split by town (by ward where
    the area has one town), so a borough-wide blob reads as the places it covers.

    The people of a part are those of the gap area's homes beyond the threshold that live in
    that town (or ward), so the parts add up to the gap area.  Returns one row per gap area or
    part: ``service_type, where, town, gap_<band>, gap_pop_0_19, n_homes, area_m2, split``.
    """
    gaps, wide = acc["gap_areas"], acc.result.wide
    if not len(gaps):
        return pd.DataFrame(columns=["service_type", "where", "town", f"gap_{band}", "gap_pop_0_19",
                                     "n_homes", "area_m2", "split"])
    outline_m2 = float(area.borough.to_crs(gaps.crs).area.sum())
    ward_names = dict(zip(area.wards["ward_cd"].astype(str), area.wards["ward_nm"].astype(str)))
    several_towns = wide["town"].nunique() > 1
    rows = []
    for g in gaps.itertuples():
        minutes = pd.to_numeric(wide[f"minutes__{g.service_type}"], errors="coerce")
        beyond = ~(minutes <= float(g.threshold_minutes))
        homes = wide[beyond.to_numpy() & wide.geometry.intersects(g.geometry).to_numpy()]
        big = g.area_m2 > split_share * outline_m2
        key = "town" if several_towns else "ward_cd"
        groups = homes.groupby(key) if big and homes[key].nunique() > 1 else [(None, homes)]
        for place, part in groups:
            rows.append(_gap_row(g, part, band, ward_names, place, key, area, big and place is not None))
    return pd.DataFrame(rows)


def _gap_row(g: Any, part: pd.DataFrame, band: str, ward_names: Mapping[str, str], place: Any, key: str,
             area: Any, split: bool) -> dict:
    towns = part.groupby("town")[band].sum().sort_values(ascending=False)
    area_m2 = float(g.area_m2)
    if split:
        layer = area.towns if key == "town" else area.wards
        col = "town" if key == "town" else "ward_cd"
        poly = layer.loc[layer[col].astype(str) == str(place), "geometry"].to_crs(part.crs).union_all()
        area_m2 = float(g.geometry.intersection(poly).area)
    return {"service_type": g.service_type, "where": _place_names(part, band, ward_names),
            "town": ", ".join(str(t) for t in towns.index[:2]) + (" and more" if len(towns) > 2 else ""),
            f"gap_{band}": float(part[band].sum()), "gap_pop_0_19": float(part["pop_0_19"].sum()),
            "n_homes": int(len(part)), "area_m2": area_m2,
            "split": (f"part of a gap area of {g.area_m2 / 1e6:.1f} km², split by "
                      f"{'town' if key == 'town' else 'ward'}") if split else ""}
