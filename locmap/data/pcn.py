"""Primary Care Networks: membership and APPROXIMATE footprints.

PCNs have no official boundaries (they are groups of GP practices whose patients live
anywhere).  A footprint here is a documented approximation (docs/decisions.md, "PCN
footprint"): each LSOA 2021 is assigned to the PCN of the member practice nearest to the
LSOA's population-weighted centre (mean of its home points), straight line by default;
``assign_lsoas`` also accepts a router for a street-distance version.  Every output labels
it "approximate".
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from locmap.data import memo
from locmap.errors import DataFileError, ManifestError
from locmap.data.io import read_csv_any, read_table, rename_columns
from locmap.data.manifest import AreaPack

FOOTPRINT_METHOD = "approximate: LSOA assigned to the PCN of its nearest member practice (straight line)"


def load_membership(pack: AreaPack, data_root: Path) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """PCN membership (newest vintage) for the area's practices and a comparison with the previous one.

    Returns
    -------
    (members, differences, notes)
        ``members``: ``practice_code, practice_name, pcn_code, pcn_name, vintage``;
        ``differences``: one row per practice whose membership differs between vintages.
    """
    cfg = pack.pcn
    if not cfg:
        return pd.DataFrame(columns=["practice_code", "practice_name", "pcn_code", "pcn_name", "vintage"]), pd.DataFrame(), []
    path = data_root / cfg["membership"]
    df, _ = read_csv_any(path)
    m = rename_columns(df, cfg["membership_columns"], path, required=("practice_code", "pcn_code", "pcn_name"))
    if "lad_cd" in m:
        m = m[m["lad_cd"].isin(pack.lad_cds)]
    m = m.drop_duplicates("practice_code")
    m["vintage"] = cfg.get("membership_vintage", "")
    notes = []
    exp = cfg.get("expected_count")
    n = m["pcn_code"].nunique()
    if exp and n != exp:
        notes.append(f"{cfg['membership']}: expected {exp} PCNs, found {n}")
    diffs = pd.DataFrame()
    if cfg.get("previous"):
        ppath = data_root / cfg["previous"]
        pdf, _ = read_csv_any(ppath)
        prev = rename_columns(pdf, cfg["previous_columns"], ppath, required=("practice_code", "pcn_name"))
        prev, n = _previous_in_area(pack, data_root, prev, m, cfg["previous"])
        notes += n
        prev = prev.dropna(subset=["practice_code"]).drop_duplicates("practice_code")
        j = m[["practice_code", "pcn_name"]].merge(prev[["practice_code", "pcn_name"]], on="practice_code",
                                                  how="outer", suffixes=("_new", "_old"), indicator=True)
        # map old PCN names to the new PCN holding most of their practices, to tell renames from moves
        both = j[j["_merge"] == "both"]
        main_new = both.groupby("pcn_name_old")["pcn_name_new"].agg(lambda s: s.value_counts().index[0])
        j["old_pcn_maps_to"] = j["pcn_name_old"].map(main_new)
        j["change"] = np.select(
            [j["_merge"] == "left_only", j["_merge"] == "right_only", j["pcn_name_new"] != j["old_pcn_maps_to"]],
            ["new practice (not in previous list)", "not in newest list (closed/merged?)", "moved PCN"], default="")
        diffs = j[j["change"] != ""].drop(columns="_merge").reset_index(drop=True)
        diffs["vintage_new"] = cfg.get("membership_vintage", "")
        diffs["vintage_old"] = cfg.get("previous_vintage", "")
        notes.append(f"PCN membership {cfg.get('membership_vintage')} vs {cfg.get('previous_vintage')}: "
                     f"{(diffs['change'] == 'moved PCN').sum()} moved, "
                     f"{(diffs['change'].str.startswith('new')).sum()} new, "
                     f"{(diffs['change'].str.startswith('not in')).sum()} gone")
    return m.reset_index(drop=True), diffs, notes


def _previous_in_area(pack: AreaPack, data_root: Path, prev: pd.DataFrame, newest: pd.DataFrame,
                      path: str) -> tuple[pd.DataFrame, list[str]]:
    """The previous membership list cut to the area: by its borough column, else by the borough
    of each practice's postcode (the pack's postcode table), keeping practices of the newest list."""
    if "lad_cd" in prev:
        return prev[prev["lad_cd"].isin(pack.lad_cds)], []
    if "postcode" not in prev:
        raise ManifestError(f"{pack.path}: [pcn].previous_columns needs lad_cd or postcode to cut "
                            f"{path} to the area")
    lad = prev["postcode"].map(_lad_of_postcode(pack, data_root))
    keep = lad.isin(pack.lad_cds) | prev["practice_code"].isin(newest["practice_code"])
    unknown = int((lad.isna() & keep.eq(False)).sum())
    notes = [f"{path}: borough taken from each practice's postcode; {unknown} practices with a postcode "
             "not in the postcode table (terminated?) left out of the comparison"] if unknown else []
    return prev[keep], notes


def _lad_of_postcode(pack: AreaPack, data_root: Path) -> pd.Series:
    """Borough code by postcode (first row of each) of the pack's postcode table: a London-wide table
    of ~300,000 rows, indexed once per process while the file is unchanged (each borough of a batch
    cuts the previous membership list with it; :mod:`locmap.data.memo`)."""
    spec = pack.table("postcodes")
    key = memo.file_memo_key(spec.resolve(data_root), "lad_of_postcode", repr(spec.columns))

    def make() -> pd.Series:
        pc = read_table(spec, data_root, required=("postcode", "lad_cd"))
        return pc.drop_duplicates("postcode").set_index("postcode")["lad_cd"]

    return memo.remember(key, make, pd.Series.copy)


def assign_lsoas(lsoa_xy: np.ndarray, practices: gpd.GeoDataFrame, router=None) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest practice to each LSOA centre and the distance (metres).

    ``router`` (optional) is a locmap router with ``nearest``; default is straight line.
    """
    pxy = np.column_stack([practices.geometry.x, practices.geometry.y])
    if router is not None:
        d, idx = router.nearest(lsoa_xy, pxy, k=1)
        return idx[:, 0], d[:, 0]
    d, idx = cKDTree(pxy).query(lsoa_xy, k=1)
    return idx, d


def build_footprints(lsoa: gpd.GeoDataFrame, homes: gpd.GeoDataFrame, members: pd.DataFrame,
                     services: gpd.GeoDataFrame, router=None) -> tuple[pd.DataFrame, gpd.GeoDataFrame, list[str]]:
    """Assign LSOAs to PCNs and dissolve them into approximate footprints.

    Returns ``(assignment[lsoa21cd, pcn_code, pcn_name, nearest_practice, distance_m], footprints, notes)``.
    """
    notes = []
    gp = services[(services["service_type"] == "gp_practice") & services["located"]].copy()
    gp["practice_code"] = gp["service_id"].str.split(":").str[-1]
    prac = gp.merge(members[["practice_code", "pcn_code", "pcn_name"]], on="practice_code", how="inner",
                    suffixes=("_reg", ""))
    unlocated = sorted(set(members["practice_code"]) - set(prac["practice_code"]))
    if unlocated:
        notes.append(f"{len(unlocated)} PCN member practice(s) not in the located register (not used for footprints): {unlocated}")
    if prac.empty:
        raise DataFileError("PCN membership", "no member practice could be matched to a located GP practice")
    w = homes.assign(x=homes.geometry.x * homes["pop_total"], y=homes.geometry.y * homes["pop_total"])
    g = w.groupby("lsoa21cd")[["x", "y", "pop_total"]].sum()
    cx = (g["x"] / g["pop_total"].where(g["pop_total"] > 0)).reindex(lsoa["lsoa21cd"])
    cy = (g["y"] / g["pop_total"].where(g["pop_total"] > 0)).reindex(lsoa["lsoa21cd"])
    rp = lsoa.geometry.representative_point()
    xy = np.column_stack([cx.fillna(pd.Series(rp.x.to_numpy(), index=cx.index)).to_numpy(),
                          cy.fillna(pd.Series(rp.y.to_numpy(), index=cy.index)).to_numpy()])
    idx, dist = assign_lsoas(xy, prac, router)
    assign = pd.DataFrame({"lsoa21cd": lsoa["lsoa21cd"].to_numpy(),
                           "pcn_code": prac["pcn_code"].to_numpy()[idx], "pcn_name": prac["pcn_name"].to_numpy()[idx],
                           "nearest_practice": prac["practice_code"].to_numpy()[idx], "distance_m": dist})
    geo = lsoa[["lsoa21cd", "geometry"]].merge(assign, on="lsoa21cd")
    rows = []
    for (code, name), grp in geo.groupby(["pcn_code", "pcn_name"], sort=True):
        rows.append({"pcn_code": code, "pcn_name": name,
                     "n_practices": int((prac["pcn_code"] == code).sum()), "n_lsoas": len(grp),
                     "footprint_method": FOOTPRINT_METHOD, "geometry": shapely.union_all(grp.geometry.values)})
    fp = gpd.GeoDataFrame(rows, geometry="geometry", crs=lsoa.crs)
    missing = sorted(set(members["pcn_code"]) - set(fp["pcn_code"]))
    if missing:
        notes.append(f"PCN(s) {missing} are nearest to no LSOA and have no footprint")
    return assign, fp, notes
