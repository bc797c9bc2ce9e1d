"""Tables the notebooks show about an area: overview, need and assets, calibration.

Plain DataFrames from a loaded :class:`~locmap.data.area.AreaData`; no file writing.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from locmap.bands import bands_in
from locmap.distance.calibration import calibrate
from locmap.localities.alignment import alignment_table, crosstab_long
from locmap.localities.schemes import scheme_from_column
from locmap.localities.scorecard import service_locality


def _by(df: pd.DataFrame, col: str, label: str) -> pd.DataFrame:
    bands = bands_in(df)
    g = df.groupby(col, dropna=False)[bands].sum().reset_index().rename(columns={col: label})
    g["pct_0_19"] = 100.0 * g["pop_0_19"] / g["pop_total"]
    return g.sort_values("pop_0_19", ascending=False).reset_index(drop=True)


# ----------------------------------------------------------------------------- 01 overview
def area_overview(area) -> dict[str, pd.DataFrame]:
    """The study area: layer counts, population by ward/town/PCN footprint, how they align.

    Returns ``layers``, ``population_by_town``, ``population_by_pcn``, ``population_by_ward``,
    ``alignment`` (every pair of wards/towns/PCNs, child-weighted), ``towns_vs_pcns``
    (child-weighted cross-tab), ``pcn_membership``, ``tiling`` (towns vs borough check).
    """

    lsoa = area.lsoa
    layers = pd.DataFrame([
        {"layer": "wards", "count": len(area.wards), "note": "ward boundaries (LSOA 2021 best fit)"},
        {"layer": "towns", "count": len(area.towns), "note": "groups of wards"},
        {"layer": "PCN footprints", "count": len(area.pcns),
         "note": "APPROXIMATE: each LSOA given to its nearest member practice"},
        {"layer": "LSOA 2021", "count": len(lsoa), "note": "building blocks of every table"},
        {"layer": "homes (residential postcodes)", "count": len(area.homes), "note": "where people live"},
        {"layer": "services", "count": len(area.services), "note": "in area + neighbours within buffer"},
    ])
    pcn_col = "pcn_name" if "pcn_name" in lsoa else "pcn_code"
    w = lsoa.set_index("lsoa21cd")["pop_0_19"]
    sets = {"wards": lsoa.set_index("lsoa21cd")["ward_nm"], "towns": lsoa.set_index("lsoa21cd")["town"],
            "pcns": lsoa.set_index("lsoa21cd")[pcn_col]}
    tiling = pd.DataFrame([area.checks.get("tiling", {}).get("towns", {})])
    by_ward = _by(lsoa, "ward_nm", "ward").merge(
        lsoa.drop_duplicates("ward_nm")[["ward_nm", "town"]].rename(columns={"ward_nm": "ward"}),
        on="ward", how="left")
    return {
        "layers": layers,
        "population_by_town": _by(lsoa, "town", "town"),
        "population_by_pcn": _by(lsoa, pcn_col, "pcn"),
        "population_by_ward": by_ward,
        "alignment": alignment_table(sets, w),
        "towns_vs_pcns": crosstab_long(sets["towns"], sets["pcns"], w, "towns", "pcns"),
        "pcn_membership": pd.DataFrame(area.pcn_members),
        "tiling": tiling,
    }


# ----------------------------------------------------------------------------- 02 need/assets
def need_and_assets(area, service_types: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    """Need (children by age band, IDACI/IMD deciles) and the service register, rejects included.

    Returns ``children_by_town``, ``children_by_idaci_decile``, ``children_by_imd_decile``,
    ``services_by_type`` (in area / neighbours / unlocated), ``services_by_town`` (located,
    in-area services per town and type), ``services_per_1000_children`` (per town),
    ``rejects_by_reason``, ``rejects`` (every rejected row), ``unlocated`` (kept but no
    location), ``accounting`` (read = used + rejected per input file).
    """
    lsoa, svc = area.lsoa, area.services
    if service_types:
        svc = svc[svc["service_type"].isin(list(service_types))]
    bands = bands_in(lsoa)
    dec = {}
    for kind in ("idaci", "imd"):
        col = f"{kind}_decile"
        g = lsoa.groupby(col)[bands].sum().reindex(range(1, 11), fill_value=0.0)
        g["n_lsoa"] = lsoa.groupby(col).size().reindex(range(1, 11), fill_value=0)
        g["pct_of_children_0_19"] = 100.0 * g["pop_0_19"] / g["pop_0_19"].sum()
        dec[kind] = g.rename_axis(f"{kind}_decile (1 = most deprived)").reset_index()
    where = np.where(~svc["located"].astype(bool), "unlocated",
                     np.where(svc["in_study_area"].astype(bool), "in_area", "neighbours"))
    by_type = (svc.assign(where=where).groupby(["service_type", "where"]).size()
               .unstack(fill_value=0).reset_index())
    towns = scheme_from_column(lsoa, "town", "towns")
    loc = service_locality(svc[svc["located"].astype(bool)], lsoa, towns.assignment)
    inside = svc[svc["service_id"].isin(loc.dropna().index)].copy()
    inside["town"] = inside["service_id"].map(loc)
    by_town = inside.groupby(["town", "service_type"]).size().unstack(fill_value=0)
    kids = lsoa.groupby("town")["pop_0_19"].sum()
    per_1000 = (by_town.div(kids.reindex(by_town.index), axis=0) * 1000.0).round(2)
    rej = pd.DataFrame(area.rejects)
    unloc = svc.loc[~svc["located"].astype(bool),
                    [c for c in ("service_id", "service_type", "name", "address", "postcode",
                                 "location_quality", "source") if c in svc.columns]]
    acct = area.checks.get("services_accounting")
    return {
        "children_by_town": _by(lsoa, "town", "town"),
        "children_by_idaci_decile": dec["idaci"],
        "children_by_imd_decile": dec["imd"],
        "services_by_type": by_type,
        "services_by_town": by_town.reset_index(),
        "services_per_1000_children": per_1000.reset_index(),
        "rejects_by_reason": (rej.groupby("reason").size().rename("rows").reset_index()
                              .sort_values("rows", ascending=False).reset_index(drop=True)
                              if len(rej) else pd.DataFrame(columns=["reason", "rows"])),
        "rejects": rej,
        "unlocated": pd.DataFrame(unloc).reset_index(drop=True),
        "accounting": pd.DataFrame(acct) if acct is not None else pd.DataFrame(),
    }


# ----------------------------------------------------------------------------- 03 access
def calibration_summary(area, method: str, calibration=None) -> pd.DataFrame:
    """How good the estimated street distance is: the London distance model and its error.

    One row ``all`` (the model's coefficients and its out-of-sample London error, spatially blocked
    CV), one per calibration service type, one per borough of the area (its out-of-sample error);
    a single note row when distances are along streets.  ``calibration`` defaults to
    :func:`locmap.distance.calibration.calibrate` (the shipped model; the area's services unused).
    """
    if method != "estimated":
        return pd.DataFrame([{"service_type": "all", "note": "street distances: no calibration used"}])
    c = calibration if calibration is not None else calibrate(area)
    base = {"model_id": c.model_id, "circuity": c.circuity, "intercept_m": c.intercept_m}
    rows = [{"service_type": "all", "scope": "London (out of sample)", **base, "n_pairs": c.n, "mae_m": c.mae_m,
             "r2": c.r2, "median_abs_pct": c.median_abs_pct, "mean_signed_pct": c.mean_signed_pct,
             "ratio_low": c.ratio_low, "ratio_high": c.ratio_high, "source": c.source}]
    for st, d in c.per_service.items():
        rows.append({"service_type": st, "scope": "London (out of sample)", **base, "n_pairs": d["n"],
                     "mae_m": d["mae_m"], "r2": d["r2"], "median_abs_pct": d["median_abs_pct"],
                     "mean_signed_pct": d["mean_signed_pct"], "source": c.source})
    for lad, d in c.area_error.items():
        rows.append({"service_type": "all", "scope": f"{d['name']} (out of sample)", **base, "n_pairs": d["n"],
                     "mae_m": d["mae_m"], "r2": d["r2"], "median_abs_pct": d["median_abs_pct"],
                     "mean_signed_pct": d["mean_signed_pct"], "source": c.source})
    return pd.DataFrame(rows)


