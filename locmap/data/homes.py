"""Homes: population placed at residential points so distances start where people live.

Method (docs/decisions.md, "Homes"): residential postcodes (Code-Point Open centroids)
inside each LSOA 2021 share that LSOA's population by age band equally (each small-user
postcode holds ~15 addresses).  Postcodes are assigned to LSOA 2021 through their ONS
LSOA 2011 code and the exact 2011->2021 lookup; for split LSOAs and postcodes newer than
the lookup, by point in polygon.  Large-user postcodes (usertype 1) and postcodes stacked
at one point (PO boxes / delivery offices) are not homes.  An LSOA with no residential
postcode gets one home at its polygon's representative point.  LSOA totals are conserved
exactly (checked).
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from locmap.errors import PopulationError
from locmap.data import memo
from locmap.data.io import read_table
from locmap.data.manifest import AreaPack
from locmap.bands import BANDS
from locmap.data.services import normalise_postcode


def load_postcodes(pack: AreaPack, data_root: Path) -> pd.DataFrame:
    """All postcodes of the pack's table, indexed by normalised postcode (EPSG:27700 metres).

    Read and normalised once per process while the file is unchanged (a batch worker's boroughs
    share the London-wide table; :mod:`locmap.data.memo`); ``attrs["memo_key"]`` says which file
    and columns it came from, so what is derived from it can be memoised too.
    """
    spec = pack.table("postcodes")
    key = memo.file_memo_key(spec.resolve(data_root), "postcodes", repr(spec.columns))

    def parse() -> pd.DataFrame:
        t = read_table(spec, data_root, required=("postcode", "easting", "northing"),
                       numeric=("easting", "northing", "n_at_same_point", "usertype", "pqi"), memoise=False)
        t["postcode"] = t["postcode"].map(normalise_postcode)
        t = t[t["postcode"].notna() & ~t["postcode"].str.startswith("INVALID")]
        t = t.drop_duplicates("postcode").set_index("postcode", drop=False)
        if key is not None:
            t.attrs["memo_key"] = key
        return t

    return memo.remember(key, parse, pd.DataFrame.copy)


def assign_lsoa21(postcodes: pd.DataFrame, pack: AreaPack, data_root: Path, lsoa: gpd.GeoDataFrame,
                  unit_of: dict[str, str] | None = None) -> pd.Series:
    """Small-area (LSOA 2021 or merged unit) code of each postcode inside the area (NaN outside).

    ``unit_of`` maps LSOA 2021 codes to merged units (:func:`locmap.data.boundaries.load_lsoa21`).
    """
    lk = read_table(pack.table("lsoa11_lsoa21"), data_root, required=("lsoa11cd", "lsoa21cd"))
    if unit_of:
        lk["lsoa21cd"] = lk["lsoa21cd"].map(lambda c: unit_of.get(c, c))
    lk = lk[lk["lsoa21cd"].isin(lsoa["lsoa21cd"])]
    n_child = lk.groupby("lsoa11cd")["lsoa21cd"].nunique()
    one = lk[lk["lsoa11cd"].map(n_child) == 1].drop_duplicates("lsoa11cd").set_index("lsoa11cd")["lsoa21cd"]
    out = postcodes["lsoa11cd"].map(one) if "lsoa11cd" in postcodes else pd.Series(np.nan, index=postcodes.index)
    # split parents and missing lsoa11: point in polygon
    need = out.isna()
    if "lad_cd" in postcodes:
        need &= postcodes["lad_cd"].isin(pack.lad_cds)
    if need.any():
        pts = shapely.points(postcodes.loc[need, "easting"].to_numpy(), postcodes.loc[need, "northing"].to_numpy())
        tree = shapely.STRtree(lsoa.geometry.values)
        pi, gi = tree.query(pts, predicate="within")
        codes = np.full(need.sum(), None, dtype=object)
        codes[pi] = lsoa["lsoa21cd"].to_numpy()[gi]
        # points on super-generalised edges: nearest polygon within 250 m
        miss = np.flatnonzero(pd.isna(codes))
        if len(miss):
            ni, ngi = tree.query_nearest(pts[miss], max_distance=250.0, return_distance=False, all_matches=False)
            codes[miss[ni]] = lsoa["lsoa21cd"].to_numpy()[ngi]
        out.loc[need] = codes
    return out


def large_user(postcodes: pd.DataFrame) -> pd.Series:
    """Whether each postcode is a large-user postcode (``usertype`` 1: a business or institution
    receiving much mail, no homes); a table without ``usertype`` has none."""
    return postcodes.get("usertype", pd.Series(0, index=postcodes.index)).fillna(0) == 1


def build_homes(postcodes: pd.DataFrame, lsoa_pop: gpd.GeoDataFrame, lad_cd: str, max_stacked: int = 3,
                crs: str = "EPSG:27700") -> tuple[gpd.GeoDataFrame, dict]:
    """Place each LSOA's population at its residential postcodes.

    Parameters
    ----------
    postcodes : DataFrame
        With ``postcode, easting, northing, lad_cd, lsoa21cd, usertype, n_at_same_point``.
    lsoa_pop : GeoDataFrame
        LSOAs with ``lsoa21cd, ward_cd, town, pcn_code`` and :data:`BANDS` (people).

    Returns
    -------
    (GeoDataFrame, dict)
        Homes (``home_id, postcode, lsoa21cd, ward_cd, town, pcn_code`` + bands, Points) and a
        report with counts and the conservation check.
    """
    pc = postcodes[postcodes["lsoa21cd"].isin(lsoa_pop["lsoa21cd"])].copy()
    n_all = len(pc)
    excl_large = large_user(pc)
    excl_stack = pc.get("n_at_same_point", pd.Series(1, index=pc.index)).fillna(1) > max_stacked
    res = pc[~excl_large & ~excl_stack]
    report = {"postcodes_in_area": n_all, "excluded_large_user": int(excl_large.sum()),
              "excluded_stacked": int((excl_stack & ~excl_large).sum()), "residential_postcodes": len(res)}
    homes = res[["postcode", "easting", "northing", "lsoa21cd"]].reset_index(drop=True)
    empty = sorted(set(lsoa_pop["lsoa21cd"]) - set(homes["lsoa21cd"]))
    if empty:
        rp = lsoa_pop.set_index("lsoa21cd").loc[empty].geometry.representative_point()
        extra = pd.DataFrame({"postcode": None, "easting": rp.x.to_numpy(), "northing": rp.y.to_numpy(),
                              "lsoa21cd": empty})
        homes = pd.concat([homes, extra], ignore_index=True)
    report["lsoas_without_postcode"] = empty
    n_per = homes.groupby("lsoa21cd")["lsoa21cd"].transform("size").to_numpy()
    attrs = lsoa_pop.set_index("lsoa21cd")
    keep_cols = [c for c in ("ward_cd", "town", "pcn_code") if c in attrs]
    for c in keep_cols:
        homes[c] = homes["lsoa21cd"].map(attrs[c])
    for b in BANDS:
        homes[b] = homes["lsoa21cd"].map(attrs[b]).to_numpy() / n_per
    homes = homes.sort_values(["lsoa21cd", "postcode"], na_position="last").reset_index(drop=True)
    homes.insert(0, "home_id", [f"H{i:06d}" for i in range(len(homes))])
    for b in BANDS:
        got, want = homes[b].sum(), lsoa_pop[b].sum()
        if abs(got - want) > 1e-6 * max(want, 1):
            raise PopulationError(f"homes do not conserve {b}: {got} vs {want}")
    per = homes.groupby("lsoa21cd")["pop_total"].sum()
    diff = (per - attrs.loc[per.index, "pop_total"]).abs().max()
    report["max_lsoa_abs_diff"] = float(diff)
    report["n_homes"] = len(homes)
    gdf = gpd.GeoDataFrame(homes, geometry=shapely.points(homes["easting"], homes["northing"]), crs=crs)
    return gdf, report


def build_neighbour_homes(postcodes: pd.DataFrame, lsoa11_pop: pd.DataFrame, outline, buffer_m: float,
                          max_stacked: int = 3, crs: str = "EPSG:27700") -> tuple[gpd.GeoDataFrame, dict]:
    """Homes in neighbouring boroughs within ``buffer_m`` of the study area: cross-border *demand*.

    They compete for the same services in capacity-aware access (2SFCA) but are never reported
    as the study area's population.  Each neighbouring LSOA 2011's population (``lsoa11_pop``,
    scaled to Census 2021) is shared equally among **all** its residential postcodes; only the
    postcodes within the buffer are kept, so the kept people are that LSOA's share near the border.

    Returns homes (``home_id`` prefixed ``N``, ``postcode, lsoa11cd, lad_cd`` + bands) and a report.
    """
    pc = postcodes[postcodes["lsoa11cd"].isin(lsoa11_pop["lsoa11cd"])].copy()
    large = large_user(pc)
    stacked = pc.get("n_at_same_point", pd.Series(1, index=pc.index)).fillna(1) > max_stacked
    res = pc[~large & ~stacked]
    n_per = res.groupby("lsoa11cd")["postcode"].transform("size")
    pts = shapely.points(res["easting"].to_numpy(), res["northing"].to_numpy())
    near = shapely.dwithin(pts, outline, buffer_m) & ~shapely.contains_xy(outline, res["easting"].to_numpy(),
                                                                           res["northing"].to_numpy())
    pop = lsoa11_pop.set_index("lsoa11cd")
    out = res.loc[near, ["postcode", "easting", "northing", "lsoa11cd"]].reset_index(drop=True)
    out["lad_cd"] = out["lsoa11cd"].map(pop["lad_cd"])
    n_near = n_per[near].to_numpy()
    for b in BANDS:
        out[b] = out["lsoa11cd"].map(pop[b]).to_numpy() / n_near
    out = out.sort_values(["lad_cd", "lsoa11cd", "postcode"]).reset_index(drop=True)
    out.insert(0, "home_id", [f"N{i:06d}" for i in range(len(out))])
    report = {"neighbour_homes": len(out), "neighbour_people": float(out["pop_total"].sum()),
              "neighbour_children_0_4": float(out["pop_0_4"].sum()), "buffer_m": buffer_m}
    gdf = gpd.GeoDataFrame(out, geometry=shapely.points(out["easting"], out["northing"]), crs=crs)
    return gdf, report
