"""Boundary layers: wards, LSOAs, towns (dissolved wards), borough outline, neighbours.

All returned in EPSG:27700.  Towns are an approximation built from the ward -> town table;
rows with confidence other than "high" are reported as uncertain in every output.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from locmap.errors import DataFileError, ManifestError, PartitionError
from locmap.data.io import read_layer, read_table
from locmap.data.manifest import AreaPack


@dataclass
class Boundaries:
    wards: gpd.GeoDataFrame
    lsoa: gpd.GeoDataFrame
    towns: gpd.GeoDataFrame
    borough: gpd.GeoDataFrame
    neighbour_wards: gpd.GeoDataFrame
    notes: list[str]
    tiling: dict
    #: LSOA 2021 -> small-area unit (``lsoa21cd`` of ``lsoa``; differs only for merged split LSOAs)
    lsoa_members: pd.DataFrame | None = None


def load_wards(pack: AreaPack, data_root: Path) -> tuple[gpd.GeoDataFrame, list[str]]:
    """The study area's wards: ``ward_cd, ward_nm, lad_cd, geometry`` (EPSG:27700)."""
    spec = pack.layer("wards")
    dissolve = bool(spec.options.get("dissolve", False))
    wards, notes = read_layer(spec, data_root, pack.crs, required=("ward_cd", "ward_nm"),
                              id_col=None if dissolve else "ward_cd")
    if "lad_cd" in wards:
        other = wards[~wards["lad_cd"].isin(pack.lad_cds)]
        if len(other) and not dissolve:
            notes.append(f"{spec.path}: {len(other)} wards of other boroughs ignored")
        wards = wards[wards["lad_cd"].isin(pack.lad_cds)]
    elif len(pack.lad_cds) > 1:
        raise ManifestError(f"{pack.path}: [layers.wards] needs a lad_cd column for an area of several boroughs")
    else:
        wards["lad_cd"] = pack.lad_cd
    if dissolve:
        wards, note = _dissolve_wards(wards, spec.path)
        notes.append(note)
    exp = spec.options.get("expected_count")
    if exp is not None and len(wards) != exp:
        notes.append(f"{spec.path}: expected {exp} wards, found {len(wards)}")
    return wards.sort_values("ward_cd").reset_index(drop=True), notes


def _dissolve_wards(parts: gpd.GeoDataFrame, path: str) -> tuple[gpd.GeoDataFrame, str]:
    """Ward footprints from small areas that carry their best-fit ward: one polygon per ward."""
    blank = parts["ward_cd"].isna() | (parts["ward_cd"].astype(str).str.strip() == "")
    if blank.any():
        i = int(np.flatnonzero(blank.to_numpy())[0])
        raise DataFileError(path, "blank best-fit ward code", row=i + 1, column="ward_cd")
    keep = [c for c in ("ward_nm", "lad_cd", "lad_nm") if c in parts]
    names = parts.groupby("ward_cd")[keep].first()
    geoms = parts.groupby("ward_cd").geometry.agg(lambda g: shapely.union_all(g.values))
    wards = gpd.GeoDataFrame(names.join(geoms.rename("geometry")).reset_index(), geometry="geometry", crs=parts.crs)
    note = (f"ward footprints are best-fit: {len(parts)} LSOA 2021 polygons of {path} dissolved into "
            f"{len(wards)} wards on their best-fit 2022 ward (no ward polygons for this area)")
    return wards, note


def load_ward_towns(pack: AreaPack, data_root: Path, wards: gpd.GeoDataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Ward -> town table with manifest overrides applied.

    Returns ``ward_cd, town, town_confidence, town_note, overridden``.
    """
    spec = pack.table("ward_town")
    t = read_table(spec, data_root, required=("ward_cd", "town"))
    path = spec.resolve(data_root)
    if "confidence" not in t:
        t["confidence"] = "unknown"
    t = t.rename(columns={"confidence": "town_confidence", "note": "town_note"})
    if "town_note" not in t:
        t["town_note"] = ""
    dup = t["ward_cd"][t["ward_cd"].duplicated()]
    if len(dup):
        raise DataFileError(path, f"ward(s) listed twice: {sorted(set(dup))}")
    overrides = spec.options.get("overrides", {}) or {}
    t["overridden"] = False
    notes = []
    for ward, town in overrides.items():
        if ward not in set(t["ward_cd"]):
            raise ManifestError(f"{pack.path}: town override for unknown ward {ward}")
        t.loc[t["ward_cd"] == ward, ["town", "town_confidence", "overridden"]] = [town, "override", True]
        notes.append(f"town of {ward} overridden to {town} by the area manifest")
    missing = sorted(set(wards["ward_cd"]) - set(t["ward_cd"]))
    if missing:
        raise DataFileError(path, f"no town for ward(s) {missing}")
    extra = sorted(set(t["ward_cd"]) - set(wards["ward_cd"]))
    if extra:
        notes.append(f"{spec.path}: {len(extra)} rows for wards not in the ward layer ignored: {extra}")
    expected = spec.options.get("expected_towns")
    if expected and sorted(t["town"].unique()) != sorted(expected):
        notes.append(f"towns found {sorted(t['town'].unique())} differ from expected {sorted(expected)}")
    t = t[t["ward_cd"].isin(wards["ward_cd"])]
    return t[["ward_cd", "town", "town_confidence", "town_note", "overridden"]], notes


def dissolve_towns(wards: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Dissolve wards (with ``town`` and ``town_confidence``) into towns.

    Returns ``town, n_wards, uncertain_wards, geometry``; ``uncertain_wards`` names wards whose
    town assignment is not high-confidence.
    """
    rows = []
    for town, g in wards.groupby("town", sort=True):
        # "none": the pack has no town grouping at all, so no single assignment is in doubt
        unc = g.loc[~g["town_confidence"].fillna("").str.lower().isin(["high", "none"]), "ward_nm"].tolist()
        rows.append({"town": town, "n_wards": len(g), "uncertain_wards": "; ".join(sorted(unc)),
                     "geometry": shapely.union_all(g.geometry.values)})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=wards.crs)


def check_tiling(parts: gpd.GeoDataFrame, whole, label: str, tol_share: float = 0.005,
                 sliver_m2: float = 100.0) -> dict:
    """Check that ``parts`` tile ``whole``: area within ``tol_share`` and overlaps only slivers.

    Returns a dict of measured figures; raises :class:`PartitionError` if the check fails.
    """
    whole_area = float(shapely.area(whole))
    parts_area = float(parts.geometry.area.sum())
    union_area = float(shapely.area(shapely.union_all(parts.geometry.values)))
    overlap = parts_area - union_area
    sym = float(shapely.area(shapely.symmetric_difference(shapely.union_all(parts.geometry.values), whole)))
    res = {"label": label, "whole_km2": whole_area / 1e6, "parts_km2": parts_area / 1e6,
           "area_diff_share": abs(parts_area - whole_area) / whole_area,
           "overlap_m2": overlap, "symdiff_km2": sym / 1e6}
    n = len(parts)
    if res["area_diff_share"] > tol_share:
        raise PartitionError(f"{label}: parts cover {parts_area/1e6:.3f} km² vs {whole_area/1e6:.3f} km² "
                             f"({res['area_diff_share']:.2%} > {tol_share:.1%})")
    if overlap > sliver_m2 * max(n, 1):
        raise PartitionError(f"{label}: parts overlap by {overlap:.0f} m² (more than slivers)")
    return res


def load_boundaries(pack: AreaPack, data_root: Path) -> Boundaries:
    """Load wards, towns, borough outline, neighbour wards and LSOA 2021 polygons."""
    notes: list[str] = []
    wards, n = load_wards(pack, data_root)
    notes += n
    if pack.has_table("ward_town"):
        towns_tab, n = load_ward_towns(pack, data_root, wards)
        notes += n
    elif len(pack.lad_cds) > 1:  # an area of several boroughs: each borough is a "town"
        names = wards["lad_nm"] if "lad_nm" in wards else wards["lad_cd"]
        towns_tab = pd.DataFrame({"ward_cd": wards["ward_cd"], "town": names.to_numpy(), "town_confidence": "high",
                                  "town_note": "borough", "overridden": False})
        notes.append(f"{pack.path.name}: the area's 'towns' are its {names.nunique()} boroughs")
    else:  # no town grouping for this area: one "town" = the whole borough, said in the notes
        towns_tab = pd.DataFrame({"ward_cd": wards["ward_cd"], "town": pack.lad_nm, "town_confidence": "none",
                                  "town_note": "no ward-to-town table in the area pack", "overridden": False})
        notes.append(f"{pack.path.name}: no [tables.ward_town]; all wards form one town '{pack.lad_nm}'")
    wards = wards.drop(columns=[c for c in ("lad_nm",) if c in wards]).merge(towns_tab, on="ward_cd", how="left")
    towns = dissolve_towns(wards)
    # borough outline = union of wards (same vintage and generalisation as the wards)
    outline = shapely.union_all(wards.geometry.values)
    borough = gpd.GeoDataFrame({"lad_cd": [pack.lad_cd], "lad_nm": [pack.lad_nm]},
                               geometry=[outline], crs=wards.crs)
    tiling = {"towns": check_tiling(towns, outline, "towns tile the borough")}
    # GLA outline comparison (reported only)
    if pack.has_layer("boroughs") and len(pack.lad_cds) == 1:
        b, _ = read_layer(pack.layer("boroughs"), data_root, pack.crs, required=("lad_cd",))
        gla = b[b["lad_cd"] == pack.lad_cd]
        if len(gla):
            sd = float(shapely.area(shapely.symmetric_difference(gla.geometry.iloc[0], outline))) / 1e6
            tiling["gla_outline_symdiff_km2"] = sd
    # neighbours
    if pack.has_layer("neighbour_wards"):
        nw, n = read_layer(pack.layer("neighbour_wards"), data_root, pack.crs,
                           required=("ward_cd", "ward_nm", "lad_cd"), id_col="ward_cd")
        notes += n
        if "touches_area" not in nw:
            nw["touches_area"] = nw.geometry.distance(outline) < 1.0
        nw["touches_area"] = nw["touches_area"].astype(str).str.lower().isin(["true", "1", "yes"])
        if "lad_nm" not in nw:
            nw["lad_nm"] = ""
        neighbour_wards = nw[["ward_cd", "ward_nm", "lad_cd", "lad_nm", "touches_area", "geometry"]]
    else:
        neighbour_wards = gpd.GeoDataFrame(columns=["ward_cd", "ward_nm", "lad_cd", "lad_nm", "touches_area"],
                                           geometry=[], crs=pack.crs)
    lsoa, members, n = load_lsoa21(pack, data_root, wards)
    notes += n
    return Boundaries(wards=wards, lsoa=lsoa, towns=towns, borough=borough,
                      neighbour_wards=neighbour_wards, notes=notes, tiling=tiling, lsoa_members=members)


def _merge_split_children(pack: AreaPack, data_root: Path, lsoa: gpd.GeoDataFrame, lk: pd.DataFrame,
                          missing: list[str], path) -> tuple[gpd.GeoDataFrame, pd.DataFrame, dict, list[str]]:
    """Stand-in polygons for LSOA 2021s that split a 2011 LSOA and have no polygon of their own.

    All area children of such a 2011 parent become one small-area unit with the parent's
    polygon (layer ``lsoa11``), id ``child1+child2``.  Returns the new unit rows, the lookup
    rows (with the unit's best-fit ward: the first child's), ``child -> unit`` and notes.
    """
    if not pack.has_layer("lsoa11"):
        raise DataFileError(path, f"{len(missing)} LSOA(s) have no polygon and the pack has no [layers.lsoa11] "
                                  f"to fall back on: {missing[:10]}")
    l11, _ = read_layer(pack.layer("lsoa11"), data_root, pack.crs, required=("lsoa11cd",), id_col="lsoa11cd")
    look = read_table(pack.table("lsoa11_lsoa21"), data_root, required=("lsoa11cd", "lsoa21cd"))
    look = look[look["lsoa21cd"].isin(lk["lsoa21cd"])]
    parent = look[look["lsoa21cd"].isin(missing)]
    if parent.groupby("lsoa21cd")["lsoa11cd"].nunique().max() > 1:
        raise DataFileError(path, "an LSOA without polygon has several 2011 parents (merged and split): cannot fall back")
    unit_of: dict[str, str] = {}
    rows, lk_rows = [], []
    for p in sorted(parent["lsoa11cd"].unique()):
        kids = sorted(look.loc[look["lsoa11cd"] == p, "lsoa21cd"].unique())
        if look[look["lsoa21cd"].isin(kids)].groupby("lsoa21cd")["lsoa11cd"].nunique().max() > 1:
            raise DataFileError(path, f"children {kids} of {p} also take part in merges: cannot fall back")
        geom = l11.loc[l11["lsoa11cd"] == p, "geometry"]
        if geom.empty:
            raise DataFileError(path, f"no 2011 polygon for {p}, parent of {kids}")
        unit = "+".join(kids)
        unit_of.update({k: unit for k in kids})
        rows.append({"lsoa21cd": unit, "geometry": geom.iloc[0]})
        lk_rows.append({"lsoa21cd": unit, "ward_cd": lk.set_index("lsoa21cd").loc[kids[0], "ward_cd"]})
    units = gpd.GeoDataFrame(rows, geometry="geometry", crs=lsoa.crs)
    notes = [f"{len(missing)} LSOA 2021 without polygon: {len(unit_of)} split children merged into "
             f"{len(rows)} unit(s) with their 2011 parent's polygon (ward = first child's best fit)"]
    return units, pd.DataFrame(lk_rows), unit_of, notes


def load_lsoa21(pack: AreaPack, data_root: Path,
                wards: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, pd.DataFrame, list[str]]:
    """LSOA 2021 polygons with their best-fit 2022 ward and town (crosswalk LSOA->ward->town).

    Membership is the best-fit lookup: an LSOA belongs to the study area when its best-fit
    ward is one of the area's wards.  A polygon missing from the layer is an error, unless the
    layer sets ``missing_polygons = "merge_into_lsoa11_parent"`` (see
    :func:`_merge_split_children`): then split children without polygons become one unit.

    Returns
    -------
    (units, members, notes)
        ``units``: one row per small area (``lsoa21cd`` is the LSOA code, or ``a+b`` for a
        merged unit); ``members``: ``child_cd, lsoa21cd, msoa21nm`` for every LSOA 2021.
    """
    spec = pack.layer("lsoa21")
    lsoa, notes = read_layer(spec, data_root, pack.crs, required=("lsoa21cd",), id_col="lsoa21cd")
    lk_spec = pack.table("lsoa21_ward")
    lk = read_table(lk_spec, data_root, required=("lsoa21cd", "ward_cd"))
    lk = lk[lk["ward_cd"].isin(wards["ward_cd"])]
    children = lk["lsoa21cd"].tolist()
    path = spec.resolve(data_root)
    missing_poly = sorted(set(lk["lsoa21cd"]) - set(lsoa["lsoa21cd"]))
    unit_of: dict[str, str] = {}
    if missing_poly:
        if spec.options.get("missing_polygons") != "merge_into_lsoa11_parent":
            raise DataFileError(path, f"{len(missing_poly)} LSOA(s) of the area have no polygon: {missing_poly[:10]}")
        units, lk_units, unit_of, n = _merge_split_children(pack, data_root, lsoa, lk, missing_poly, path)
        notes += n
        lsoa = pd.concat([lsoa[~lsoa["lsoa21cd"].isin(unit_of)], units], ignore_index=True)
        lk = pd.concat([lk[~lk["lsoa21cd"].isin(unit_of)], lk_units], ignore_index=True)
    outside = sorted(set(lsoa["lsoa21cd"]) - set(lk["lsoa21cd"]))
    if outside:
        notes.append(f"{spec.path}: {len(outside)} LSOA polygons whose best-fit ward is outside the area ignored")
    lsoa = lsoa[lsoa["lsoa21cd"].isin(lk["lsoa21cd"])]
    lsoa = lsoa.merge(lk[["lsoa21cd", "ward_cd"]], on="lsoa21cd", how="left")
    lsoa = lsoa.merge(wards[["ward_cd", "ward_nm", "town"]], on="ward_cd", how="left")
    if "lsoa21nm" not in lsoa:
        lsoa["lsoa21nm"] = lsoa["lsoa21cd"]
    # official 2021 names come from the LSOA11->21 lookup when it has them (the polygon
    # layer may carry 2011 names); the MSOA name is the LSOA name without its letter
    nm = pd.Series(dtype=object)
    if pack.has_table("lsoa11_lsoa21") and "lsoa21nm" in pack.table("lsoa11_lsoa21").columns:
        nm = read_table(pack.table("lsoa11_lsoa21"), data_root, required=("lsoa21cd", "lsoa21nm"))
        nm = nm.drop_duplicates("lsoa21cd").set_index("lsoa21cd")["lsoa21nm"]
        for unit, kids in pd.Series(unit_of).groupby(pd.Series(unit_of)).groups.items():
            nm[unit] = " + ".join(str(nm.get(k, k)) for k in sorted(kids))
        new = lsoa["lsoa21cd"].map(nm)
        changed = int((new.notna() & (new != lsoa["lsoa21nm"])).sum())
        if changed:
            notes.append(f"{changed} LSOA 2021 names taken from the 2011->2021 lookup (polygon layer had 2011 names)")
        lsoa["lsoa21nm"] = new.fillna(lsoa["lsoa21nm"])
    lsoa["msoa21nm"] = lsoa["lsoa21nm"].str.replace(r"[A-Z]$", "", regex=True).str.strip()
    lsoa["lad_cd"] = lsoa["ward_cd"].map(wards.set_index("ward_cd")["lad_cd"])
    exp = spec.options.get("expected_count")
    if exp is not None and len(lsoa) != exp:
        notes.append(f"{spec.path}: expected {exp} LSOAs, found {len(lsoa)}")
    cols = ["lsoa21cd", "lsoa21nm", "msoa21nm", "ward_cd", "ward_nm", "town", "lad_cd", "geometry"]
    members = pd.DataFrame({"child_cd": children, "lsoa21cd": [unit_of.get(c, c) for c in children]})
    child_nm = members["child_cd"].map(nm) if len(nm) else members["lsoa21cd"].map(lsoa.set_index("lsoa21cd")["lsoa21nm"])
    members["msoa21nm"] = child_nm.fillna("").str.replace(r"[A-Z]$", "", regex=True).str.strip()
    return lsoa[cols].sort_values("lsoa21cd").reset_index(drop=True), members, notes


def best_fit_share(small: gpd.GeoDataFrame, large: gpd.GeoDataFrame, small_id: str, large_id: str) -> pd.DataFrame:
    """Share of each small area's polygon inside its best-fit large area (a crosswalk quality check)."""
    inter = gpd.overlay(small[[small_id, "geometry"]], large[[large_id, "geometry"]], how="intersection",
                        keep_geom_type=True)
    inter["a"] = inter.geometry.area
    tot = small.set_index(small_id).geometry.area
    best = inter.sort_values("a", ascending=False).drop_duplicates(small_id)
    best["share"] = best["a"].to_numpy() / tot.loc[best[small_id]].to_numpy()
    return best[[small_id, large_id, "share"]].reset_index(drop=True)


__all__ = ["Boundaries", "load_boundaries", "load_wards", "load_ward_towns", "dissolve_towns",
           "check_tiling", "load_lsoa21", "best_fit_share"]
