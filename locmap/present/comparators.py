"""London comparators: the area against every London borough, counted in the same way from
the shared London-wide files (:func:`london_comparators`, :func:`comparator_table`).
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from locmap.present.tables import Table, _area_title, table


#: The shared London-wide files the comparators come from (relative to the data root).
LONDON_FILES: dict[str, str] = {
    "census": "population/census2021_ts007_age_ltla_london.csv",
    "low_income": "population/children_low_income_ahc_la_london.csv",
    "iod": "population/iod2025_lsoa21_london.csv",
    "gp_practice": "services/gp_practices_london.csv",
    "pharmacy": "services/pharmacies_london.csv",
    "library": "services/libraries_london.csv",
}
_CENSUS_0_19 = ("Aged 4 years and under", "Aged 5 to 9 years", "Aged 10 to 15 years", "Aged 16 to 19 years")


@lru_cache(maxsize=4)
def _london_by_borough(data_root: str) -> pd.DataFrame:
    """Per-borough numerators and denominators from the London-wide files (one row per LAD)."""
    root = Path(data_root)
    census = pd.read_csv(root / LONDON_FILES["census"]).set_index("geography code")
    b = pd.DataFrame({"residents": census["Total"].astype(float),
                      "children_0_4": census[_CENSUS_0_19[0]].astype(float),
                      "children_0_19": census[list(_CENSUS_0_19)].astype(float).sum(axis=1)})
    low = pd.read_csv(root / LONDON_FILES["low_income"]).set_index("lad_code")
    b["low_income_n"] = low["n_children_ahc_fye2025"].astype(float)
    b["low_income_base"] = low["n_children_ahc_fye2025"] / (low["pct_children_ahc_fye2025"] / 100.0)
    iod = pd.read_csv(root / LONDON_FILES["iod"], usecols=["lad24cd", "idaci_decile"])
    b["lsoa_n"] = iod.groupby("lad24cd").size()
    b["lsoa_idaci_1_2"] = iod[iod["idaci_decile"] <= 2].groupby("lad24cd").size()
    gp = pd.read_csv(root / LONDON_FILES["gp_practice"], usecols=["lad_code", "status_code",
                                                                 "is_care_home_or_special_service"])
    gp = gp[(gp["status_code"] == "A") & ~gp["is_care_home_or_special_service"].astype(str).eq("True")]
    ph = pd.read_csv(root / LONDON_FILES["pharmacy"], usecols=["lad_code", "status_code", "org_subtype_code"])
    ph = ph[(ph["status_code"] == "A") & (ph["org_subtype_code"].astype(str) != "2")]
    lib = pd.read_csv(root / LONDON_FILES["library"], usecols=["lad_code", "Year closed", "Type of library"])
    lib = lib[lib["Year closed"].isna() | lib["Type of library"].isin(["CRL", "ICL"])]
    for key, df in (("gp_practice", gp), ("pharmacy", ph), ("library", lib)):
        b[f"n_{key}"] = df.groupby("lad_code").size()
    return b.fillna({"lsoa_idaci_1_2": 0, "n_gp_practice": 0, "n_pharmacy": 0, "n_library": 0})


#: measure -> (label, numerator, denominator, scale, unit)
_MEASURES: dict[str, tuple[str, str, str, float, str]] = {
    "children_0_19": ("Children and young people 0-19", "children_0_19", "residents", 100.0, "% of residents"),
    "children_0_4": ("Children 0-4", "children_0_4", "residents", 100.0, "% of residents"),
    "low_income": ("Children in low-income families (after housing costs, FYE2025, DWP)", "low_income_n",
                   "low_income_base", 100.0, "% of children 0-15"),
    "idaci_1_2": ("Small areas in the 20% most deprived for children (IDACI 2025)", "lsoa_idaci_1_2",
                  "lsoa_n", 100.0, "% of LSOAs"),
    "gp_practice_per_1000": ("GP practices", "n_gp_practice", "children_0_19", 1000.0, "per 1,000 children 0-19"),
    "pharmacy_per_1000": ("Community pharmacies", "n_pharmacy", "children_0_19", 1000.0, "per 1,000 children 0-19"),
    "library_per_1000": ("Public libraries", "n_library", "children_0_19", 1000.0, "per 1,000 children 0-19"),
}


def london_comparators(area: Any) -> pd.DataFrame:
    """The area against London as a whole, like for like from the shared London-wide files.

    Returns
    -------
    DataFrame
        ``key, measure, unit, area_value, london_value, rank, n_boroughs`` (``rank``: 1 = the
        highest of the London boroughs).  Empty when the area is not a London borough or the
        files are missing (the notebooks then say that no comparator exists).
    """
    try:
        b = _london_by_borough(str(area.settings.resolve_data_root()))
    except FileNotFoundError:
        return pd.DataFrame(columns=["key", "measure", "unit", "area_value", "london_value", "rank", "n_boroughs"])
    lad = area.pack.lad_cd
    rows = []
    for key, (label, num, den, scale, unit) in _MEASURES.items():
        per = scale * b[num] / b[den]
        if lad not in per.index or not np.isfinite(per.get(lad, np.nan)):
            continue
        rows.append({"key": key, "measure": label, "unit": unit, "area_value": float(per[lad]),
                     "london_value": float(scale * b[num].sum() / b[den].sum()),
                     "rank": int(per.rank(ascending=False, method="min")[lad]), "n_boroughs": int(per.notna().sum())})
    return pd.DataFrame(rows, columns=["key", "measure", "unit", "area_value", "london_value", "rank", "n_boroughs"])


def comparator_table(area: Any, out_dir: str | Path | None = None, keys: Sequence[str] | None = None) -> Table:
    """:func:`london_comparators` (only ``keys``, when given) as a presentation table."""
    comp = london_comparators(area)
    comp = (comp if keys is None else comp[comp["key"].isin(list(keys))]).copy()
    comp["london_rank"] = pd.Series(dtype=object)
    if len(comp):
        digits = comp["unit"].str.startswith("per").map({True: 2, False: 1})
        comp["area_value"] = [f"{v:.{d}f}" for v, d in zip(comp["area_value"], digits)]
        comp["london_value"] = [f"{v:.{d}f}" for v, d in zip(comp["london_value"], digits)]
        comp["london_rank"] = [f"{r} of {n}" for r, n in zip(comp["rank"], comp["n_boroughs"])]
    return table(comp, "comparators_london", area=area, out_dir=out_dir,
                 columns=["measure", "unit", "area_value", "london_value", "london_rank"],
                 labels={"area_value": _area_title(area), "london_rank": "Rank among London boroughs (1 = highest)"},
                 empty="No London comparator: this area is not in the shared London-wide files.",
                 notes=("Counted in the same way for every borough from the shared London-wide files "
                        "(active GP practices and community pharmacies; libraries without a closure year), "
                        "so the area's own figures elsewhere can differ slightly.",))
