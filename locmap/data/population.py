"""Need: population by age band for LSOA 2021, deprivation, and aggregation.

Method (docs/decisions.md, "LSOA 2021 population"): Census 2021 single-year counts exist
only by MSOA 2021.  Each MSOA's Census count for each age band (0-4, 5-11, 12-19, 20+) is
spread over its LSOA 2021s in proportion to the ONS mid-2020 LSOA estimates for the same
band, moved from LSOA 2011 to LSOA 2021 through the exact ONS lookup (splits shared by the
number of residential postcodes in each child LSOA).  This conserves every Census MSOA band
total exactly; 0-19 and all-ages are sums of bands, so they are conserved too.
"""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from locmap.errors import PopulationError
from locmap.data.io import read_table, to_number, to_numbers
from locmap.data.manifest import AreaPack
from locmap.bands import BAND_AGES, BANDS, CHILD_BANDS

#: bands that partition all ages (0-19 and total are sums of these)
PARTITION_BANDS = ("pop_0_4", "pop_5_11", "pop_12_19", "pop_20plus")


def _band_counts(df: pd.DataFrame, prefix: str, total_col: str, path) -> pd.DataFrame:
    """Sum single-year columns ``<prefix>NN`` into the partition bands."""
    ages = {}
    for c in df.columns:
        if c.startswith(prefix):
            suffix = c[len(prefix):]
            if suffix.isdigit() and len(suffix) == 2:
                ages[int(suffix)] = c
    if not ages:
        raise PopulationError(f"{path}: no single-year columns '{prefix}NN' found")
    out = pd.DataFrame(index=df.index)
    bands = {band: [ages[a] for a in range(BAND_AGES[band][0], BAND_AGES[band][1] + 1)]
             for band in ("pop_0_4", "pop_5_11", "pop_12_19")}
    # every column converted in one pass, checked in the order of the bands, then the total
    num = to_numbers(df, [*(c for cols in bands.values() for c in cols), total_col], path)
    for band, cols in bands.items():
        out[band] = sum(num[c] for c in cols)
    total = num[total_col]
    out["pop_20plus"] = total - out[["pop_0_4", "pop_5_11", "pop_12_19"]].sum(axis=1)
    if (out["pop_20plus"] < 0).any():
        raise PopulationError(f"{path}: single years 0-19 exceed the total in some rows")
    return out


def census_lad_total(pack: AreaPack, data_root: Path) -> float | None:
    """Census 2021 usual residents for the borough (LTLA table), or None if not configured."""
    if not pack.has_table("census_lad"):
        return None
    t = read_table(pack.table("census_lad"), data_root, required=("lad_cd", "total"))
    rows = t[t["lad_cd"].isin(pack.lad_cds)]
    if rows["lad_cd"].nunique() < len(set(pack.lad_cds)):
        return None
    return float(to_number(rows["total"], pack.table("census_lad").path, "total").sum())


def lsoa21_population(pack: AreaPack, data_root: Path, lsoa: gpd.GeoDataFrame,
                      postcodes: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """LSOA 2021 population by age band, conserving Census 2021 MSOA band totals exactly.

    Steps: Census 2021 bands per MSOA -> mid-2020 bands per LSOA 2011 -> shares of each LSOA 2011
    in its LSOA 2021 children (residential postcodes where split) -> the mid-2020 prior per
    LSOA 2021 -> each MSOA's Census count distributed in proportion to the prior.

    Parameters
    ----------
    lsoa : GeoDataFrame
        The area's LSOA 2021 polygons with ``lsoa21cd, msoa21nm`` (EPSG:27700).
    postcodes : DataFrame, optional
        Residential postcodes with ``lsoa11cd, lsoa21cd`` used to share split LSOA 2011s.

    Returns
    -------
    (DataFrame, dict)
        ``lsoa21cd`` + :data:`BANDS` (people, float) and a check dict with the totals.
    """
    cb, cpath = _census_msoa_bands(pack, data_root)
    lk = read_table(pack.table("lsoa11_lsoa21"), data_root, required=("lsoa11cd", "lsoa21cd"))
    lk = lk[lk["lsoa21cd"].isin(lsoa["lsoa21cd"])]
    mb, mpath = _mye_lsoa11_bands(pack, data_root, lk["lsoa11cd"])
    prior = _prior_lsoa21(_lsoa11_shares(lk, postcodes), mb, mpath)
    l = lsoa[["lsoa21cd", "msoa21nm"]].set_index("lsoa21cd").join(prior)
    _check_prior_covers(l, cb, cpath)
    out = _distribute_msoa_counts(l, cb.set_index("msoa21nm"))
    check = {
        "census_msoa_total": float(cb[list(PARTITION_BANDS)].sum().sum()),
        "lsoa21_total": float(out["pop_total"].sum()),
        "census_lad_total": census_lad_total(pack, data_root),
        "mye2020_total": float(mb[list(PARTITION_BANDS)].sum().sum()),
        "n_msoa": int(len(cb)), "n_lsoa21": int(len(out)),
        "bands_census": {b: float(cb[b].sum()) for b in PARTITION_BANDS},
    }
    if abs(check["lsoa21_total"] - check["census_msoa_total"]) > 1e-6 * check["census_msoa_total"]:
        raise PopulationError(f"LSOA total {check['lsoa21_total']} != Census MSOA total {check['census_msoa_total']}")
    return out[["lsoa21cd", *BANDS, "pop_20plus"]], check


def _census_msoa_bands(pack: AreaPack, data_root: Path) -> tuple[pd.DataFrame, Path]:
    """Census 2021 partition bands per MSOA of the area (``msoa21nm`` + bands)."""
    cspec = pack.table("census_msoa")
    cpath = cspec.resolve(data_root)
    cm = read_table(cspec, data_root, required=("msoa21nm", "lad_cd", "total"), keep_other=True)
    cm = cm[cm["lad_cd"].isin(pack.lad_cds)].reset_index(drop=True)
    if cm.empty:
        raise PopulationError(f"{cpath}: no MSOA rows for {pack.lad_cd}")
    cb = _band_counts(cm, cspec.options.get("single_year_prefix", "age_"), "total", cpath)
    cb["msoa21nm"] = cm["msoa21nm"].to_numpy()
    return cb, cpath


def _mye_lsoa11_bands(pack: AreaPack, data_root: Path, lsoa11_codes: pd.Series) -> tuple[pd.DataFrame, Path]:
    """Mid-2020 partition bands per LSOA 2011 (``lsoa11cd`` + bands) for the given codes."""
    mspec = pack.table("mye_lsoa11")
    mpath = mspec.resolve(data_root)
    my = read_table(mspec, data_root, required=("lsoa11cd", "total"), keep_other=True)
    my = my[my["lsoa11cd"].isin(lsoa11_codes)].reset_index(drop=True)
    mb = _band_counts(my, mspec.options.get("single_year_prefix", "age_"), "total", mpath)
    mb["lsoa11cd"] = my["lsoa11cd"].to_numpy()
    return mb, mpath


def _lsoa11_shares(lk: pd.DataFrame, postcodes: pd.DataFrame | None) -> pd.DataFrame:
    """Share of each LSOA 2011 going to each LSOA 2021: 1 unless split, then by residential postcodes
    (equal shares where a split LSOA 2011 has no postcode in any child)."""
    lk = lk[["lsoa11cd", "lsoa21cd"]].drop_duplicates()
    n_children = lk.groupby("lsoa11cd")["lsoa21cd"].transform("size")
    lk["share"] = 1.0 / n_children
    split = n_children > 1
    if split.any() and postcodes is not None and len(postcodes):
        pc = postcodes.dropna(subset=["lsoa11cd", "lsoa21cd"])
        counts = pc.groupby(["lsoa11cd", "lsoa21cd"]).size().rename("n").reset_index()
        lk = lk.merge(counts, on=["lsoa11cd", "lsoa21cd"], how="left")
        lk["n"] = lk["n"].fillna(0)
        tot = lk.groupby("lsoa11cd")["n"].transform("sum")
        use = split & (tot > 0)
        lk.loc[use, "share"] = lk.loc[use, "n"] / tot[use]
        lk = lk.drop(columns="n")
    return lk


def _prior_lsoa21(shares: pd.DataFrame, mb: pd.DataFrame, mpath: Path) -> pd.DataFrame:
    """Mid-2020 bands moved to LSOA 2021 through the shares (the prior of the Census split)."""
    w = shares.merge(mb, on="lsoa11cd", how="left")
    missing11 = w["pop_0_4"].isna()
    if missing11.any():
        raise PopulationError(f"{mpath}: no mid-2020 estimate for LSOA11 {sorted(w.loc[missing11, 'lsoa11cd'])[:5]}")
    for b in PARTITION_BANDS:
        w[b] = w[b] * w["share"]
    return w.groupby("lsoa21cd")[list(PARTITION_BANDS)].sum()


def _check_prior_covers(l: pd.DataFrame, cb: pd.DataFrame, cpath: Path) -> None:
    """Every LSOA has a prior, every LSOA's MSOA is in the Census table and every MSOA has an LSOA."""
    if l[list(PARTITION_BANDS)].isna().any().any():
        bad = l.index[l["pop_0_4"].isna()].tolist()
        raise PopulationError(f"no mid-2020 prior for LSOA21 {bad[:5]} (check the LSOA11->21 lookup)")
    unknown_msoa = sorted(set(l["msoa21nm"]) - set(cb["msoa21nm"]))
    if unknown_msoa:
        raise PopulationError(f"{cpath}: LSOA names point to MSOA(s) {unknown_msoa[:5]} missing from the Census table")
    empty_msoa = sorted(set(cb["msoa21nm"]) - set(l["msoa21nm"]))
    if empty_msoa:
        raise PopulationError(f"{cpath}: MSOA(s) {empty_msoa[:5]} have no LSOA in the area: totals would be lost")


def _distribute_msoa_counts(l: pd.DataFrame, cbi: pd.DataFrame) -> pd.DataFrame:
    """Each MSOA's Census band count shared among its LSOAs in proportion to the prior
    (equally where the prior is 0); 0-19 and all ages are sums of the partition bands."""
    out = pd.DataFrame(index=l.index)
    for b in PARTITION_BANDS:
        grp = l.groupby("msoa21nm")[b].transform("sum")
        share = np.where(grp > 0, l[b] / grp.where(grp > 0, 1.0),
                         1.0 / l.groupby("msoa21nm")[b].transform("size"))
        out[b] = share * cbi.loc[l["msoa21nm"], b].to_numpy()
    out["pop_0_19"] = out[["pop_0_4", "pop_5_11", "pop_12_19"]].sum(axis=1)
    out["pop_total"] = out["pop_0_19"] + out["pop_20plus"]
    return out.reset_index()


def deprivation(pack: AreaPack, data_root: Path, lsoa_codes) -> pd.DataFrame:
    """IoD2025 (LSOA 2021) indicators for the area's LSOAs."""
    spec = pack.table("iod2025")
    t = read_table(spec, data_root, required=("lsoa21cd",),
                   numeric=("imd_score", "imd_rank", "imd_decile", "idaci_rank", "idaci_decile", "idaci_numerator"))
    t = t[t["lsoa21cd"].isin(set(lsoa_codes))]
    missing = sorted(set(lsoa_codes) - set(t["lsoa21cd"]))
    if missing:
        raise PopulationError(f"{spec.resolve(data_root)}: no IoD row for LSOA(s) {missing[:5]}")
    return t.reset_index(drop=True)


def deprivation_2019(pack: AreaPack, data_root: Path) -> pd.DataFrame:
    """IoD2019 (LSOA 2011) ranks and road-distance indicators (for comparison and calibration)."""
    spec = pack.table("iod2019")
    return read_table(spec, data_root, required=("lsoa11cd",),
                      numeric=("imd_rank", "imd_decile", "idaci_rank", "idaci_decile", "road_km_gp", "road_km_primary"))


def children_low_income(pack: AreaPack, data_root: Path, ward_codes) -> pd.DataFrame:
    """DWP children (0-15) in relative low income by ward (after housing costs)."""
    if not pack.has_table("cilif_ward"):
        return pd.DataFrame(columns=["ward_cd"])
    spec = pack.table("cilif_ward")
    t = read_table(spec, data_root, required=("ward_cd",),
                   numeric=("n_children_low_income", "pct_children_low_income"))
    return t[t["ward_cd"].isin(set(ward_codes))].reset_index(drop=True)


def aggregate_deprivation(dep: pd.DataFrame, weights: pd.Series, unit_of: pd.Series) -> pd.DataFrame:
    """IoD indicators of LSOA 2021s combined into small-area units (identity for one-member units).

    Scores, ranks and deciles: population-weighted means (deciles and ranks rounded);
    ``idaci_numerator``: sum.  ``weights`` and ``unit_of`` are indexed by LSOA 2021 code.
    """
    d = dep.copy()
    units = dict(unit_of)
    d["unit"] = [units.get(c, c) for c in d["lsoa21cd"]]
    if d["unit"].is_unique:
        return dep.assign(lsoa21cd=d["unit"].to_numpy())
    w = d["lsoa21cd"].map(weights).fillna(0.0).astype(float)
    num = [c for c in d.columns if c not in ("lsoa21cd", "unit") and pd.api.types.is_numeric_dtype(d[c])]
    rows = {}
    for unit, g in d.groupby("unit", sort=False):
        wg = w.loc[g.index]
        wg = wg if wg.sum() > 0 else pd.Series(1.0, index=g.index)
        r = {}
        for c in num:
            if c == "idaci_numerator":
                r[c] = g[c].sum(min_count=1)
            else:
                v = float(np.average(g[c], weights=wg)) if g[c].notna().all() else np.nan
                r[c] = round(v) if c.endswith(("_rank", "_decile")) and np.isfinite(v) else v
        rows[unit] = r
    out = pd.DataFrame.from_dict(rows, orient="index").rename_axis("lsoa21cd").reset_index()
    return out


def aggregate_population(lsoa: pd.DataFrame, by: str, bands=BANDS) -> pd.DataFrame:
    """Sum age bands of LSOAs to a higher level (``by`` column); totals are conserved."""
    agg = lsoa.groupby(by, sort=True)[list(bands)].sum().reset_index()
    for b in bands:
        if abs(agg[b].sum() - lsoa[b].sum()) > 1e-6 * max(1.0, lsoa[b].sum()):
            raise PopulationError(f"aggregation to {by} lost population in {b}")
    return agg


__all__ = ["lsoa21_population", "deprivation", "deprivation_2019", "children_low_income",
           "aggregate_population", "census_lad_total", "PARTITION_BANDS", "BANDS", "CHILD_BANDS"]


def lsoa11_population_scaled(pack: AreaPack, data_root: Path, lad_cds) -> pd.DataFrame:
    """Mid-2020 LSOA 2011 population by band for other boroughs, scaled to Census 2021.

    Used for cross-border *demand* (neighbouring boroughs' homes near the border).  For each
    borough and partition band the mid-2020 LSOA counts are multiplied by
    ``Census 2021 borough band total / mid-2020 borough band total`` (borough totals from the
    Census MSOA table), so each borough's band totals equal the Census.

    Returns ``lsoa11cd, lad_cd`` + :data:`BANDS` (people, float).
    """
    lad_cds = set(lad_cds)
    mspec, cspec = pack.table("mye_lsoa11"), pack.table("census_msoa")
    my = read_table(mspec, data_root, required=("lsoa11cd", "lad_cd", "total"), keep_other=True)
    my = my[my["lad_cd"].isin(lad_cds)].reset_index(drop=True)
    mb = _band_counts(my, mspec.options.get("single_year_prefix", "age_"), "total", mspec.resolve(data_root))
    mb["lsoa11cd"], mb["lad_cd"] = my["lsoa11cd"].to_numpy(), my["lad_cd"].to_numpy()
    cm = read_table(cspec, data_root, required=("lad_cd", "total"), keep_other=True)
    cm = cm[cm["lad_cd"].isin(lad_cds)].reset_index(drop=True)
    cb = _band_counts(cm, cspec.options.get("single_year_prefix", "age_"), "total", cspec.resolve(data_root))
    cb["lad_cd"] = cm["lad_cd"].to_numpy()
    factor = cb.groupby("lad_cd")[list(PARTITION_BANDS)].sum() / mb.groupby("lad_cd")[list(PARTITION_BANDS)].sum()
    missing = sorted(lad_cds - set(factor.dropna().index))
    if missing:
        raise PopulationError(f"no Census/mid-2020 population for borough(s) {missing}")
    for b in PARTITION_BANDS:
        mb[b] = mb[b] * mb["lad_cd"].map(factor[b])
    mb["pop_0_19"] = mb[["pop_0_4", "pop_5_11", "pop_12_19"]].sum(axis=1)
    mb["pop_total"] = mb["pop_0_19"] + mb["pop_20plus"]
    return mb[["lsoa11cd", "lad_cd", *BANDS]]
