"""Locality schemes: partitions, contiguity, generated schemes (synthetic + real Ealing)."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from locmap.errors import DataFileError, DuplicateIdError, PartitionError
from locmap.localities.schemes import (check_contiguity, check_partition, generate_schemes,
                                      scheme_from_column, scheme_from_mapping_csv,
                                      scheme_from_polygons, units_from_lsoa)
from locmap.localities.testing import synthetic_area


@pytest.fixture(scope="module")
def syn():
    return synthetic_area(seed=1)


def test_scheme_from_column_partitions(syn):
    lsoa = syn["lsoa"]
    for col in ("town", "pcn_code", "ward_cd"):
        s = scheme_from_column(lsoa, col)
        rep = check_partition(s.assignment, lsoa, homes=syn["homes"])
        assert rep["ok"] and rep["n_lsoa"] == 30
        assert s.localities["pop_total"].sum() == pytest.approx(lsoa["pop_total"].sum())


def test_check_partition_detects_problems(syn):
    lsoa = syn["lsoa"]
    a = scheme_from_column(lsoa, "town").assignment
    with pytest.raises(PartitionError):
        check_partition(a.iloc[1:], lsoa)
    dup = pd.concat([a, a.iloc[:1]])
    rep = check_partition(dup, lsoa, strict=False)
    assert not rep["ok"] and rep["duplicates"] == [a.index[0]]


def test_mapping_csv_wards(tmp_path, syn):
    lsoa = syn["lsoa"]
    wards = sorted(lsoa["ward_cd"].unique())
    f = tmp_path / "m.csv"
    pd.DataFrame({"ward_cd": wards, "locality": ["A" if i < 4 else "B"
                                                 for i in range(len(wards))]}).to_csv(f, index=False)
    s = scheme_from_mapping_csv(f, lsoa, syn["wards"])
    assert check_partition(s.assignment, lsoa)["ok"] and s.k == 2
    # unmapped ward -> PartitionError; duplicate -> DuplicateIdError naming the row
    pd.DataFrame({"ward_cd": wards[:-1], "locality": "A"}).to_csv(f, index=False)
    with pytest.raises(PartitionError):
        scheme_from_mapping_csv(f, lsoa, syn["wards"])
    pd.DataFrame({"ward_cd": wards + wards[:1], "locality": "A"}).to_csv(f, index=False)
    with pytest.raises(DuplicateIdError, match="row"):
        scheme_from_mapping_csv(f, lsoa, syn["wards"])
    pd.DataFrame({"ward_cd": wards + ["NOPE"], "locality": "A"}).to_csv(f, index=False)
    with pytest.raises(DataFileError, match="NOPE"):
        scheme_from_mapping_csv(f, lsoa, syn["wards"])


def test_polygons_largest_overlap(syn):
    lsoa = syn["lsoa"]
    # two halves split at x=3100 m: the column of LSOAs 3000-4000 is 10% west, 90% east
    poly = gpd.GeoDataFrame({"locality": ["W", "E"]},
                            geometry=[box(-10, -10, 3100, 5010), box(3100, -10, 6010, 5010)],
                            crs="EPSG:27700")
    s = scheme_from_polygons(poly, lsoa)
    assert check_partition(s.assignment, lsoa)["ok"]
    x = lsoa.set_index("lsoa21cd").geometry.centroid.x
    assert (s.assignment[x[x < 3000].index] == "W").all()
    assert (s.assignment[x[x > 3000].index] == "E").all()
    assert s.report["overlap_share"].min() == pytest.approx(0.9, abs=0.01)


@pytest.mark.parametrize("method", ["skater", "ward"])
def test_generated_schemes_contiguous_and_bounded(syn, method):
    lsoa = syn["lsoa"]
    schemes = generate_schemes(lsoa, k_values=[3, 4], method=method, n_starts=3)
    assert [s.meta["k"] for s in schemes] == [3, 4]
    for s in schemes:
        assert check_partition(s.assignment, lsoa)["ok"]
        assert check_contiguity(lsoa, s.assignment)["contiguous"].all()
        lo, hi = s.meta["bounds_people"]
        pops = s.localities.set_index("locality")["pop_0_19"]
        within = ((pops >= lo) & (pops <= hi)).all()
        # either within bounds, or reported infeasible with the reason
        assert within == s.meta["feasible"] or s.meta["status"].startswith("infeasible")
        if s.meta["feasible"]:
            assert within and s.k == s.meta["k"]


def test_generated_infeasible_is_reported(syn):
    schemes = generate_schemes(syn["lsoa"], k_values=[3], bounds=(1.0, 10.0))
    assert not schemes[0].meta["feasible"]
    assert schemes[0].meta["status"].startswith("infeasible")


def test_generated_from_wards_expands_to_lsoa(syn):
    lsoa = syn["lsoa"]
    units = units_from_lsoa(lsoa, "ward_cd")
    s = generate_schemes(units, [3], id_col="ward_cd", lsoa=lsoa, seed=0)[0]
    assert check_partition(s.assignment, lsoa)["ok"]
    # every ward wholly in one locality
    assert lsoa.assign(loc=lsoa["lsoa21cd"].map(s.assignment)).groupby("ward_cd")["loc"].nunique().max() == 1


def test_deterministic(syn):
    a = generate_schemes(syn["lsoa"], [4], seed=3, n_starts=3)[0].assignment
    b = generate_schemes(syn["lsoa"], [4], seed=3, n_starts=3)[0].assignment
    pd.testing.assert_series_equal(a, b)


# ------------------------------------------------------------------ real Ealing data
@pytest.fixture(scope="module")
def ealing():
    from locmap.errors import DataRootNotFoundError
    try:
        from locmap.data.area import load_area
        return load_area("ealing")
    except (DataRootNotFoundError, ImportError, NotImplementedError) as exc:
        pytest.skip(f"Ealing data not available: {exc}")


@pytest.mark.realdata
def test_ealing_schemes_partition(ealing):
    lsoa, homes = ealing.lsoa, ealing.homes
    assert len(lsoa) == 199
    assert lsoa["pop_total"].sum() == pytest.approx(367111, abs=1)
    for col, k in (("town", 7), ("pcn_code", 8), ("ward_cd", 24)):
        s = scheme_from_column(lsoa, col)
        assert s.k == k
        rep = check_partition(s.assignment, lsoa, homes=homes)
        assert rep["ok"]
        assert rep["totals"]["pop_total"][1] == pytest.approx(367111, abs=1)


@pytest.mark.realdata
def test_ealing_generated_schemes(ealing):
    lsoa = ealing.lsoa
    units = units_from_lsoa(lsoa, "ward_cd")
    schemes = generate_schemes(units, [4, 5], id_col="ward_cd", lsoa=lsoa, n_starts=4)
    for s in schemes:
        assert check_partition(s.assignment, lsoa, homes=ealing.homes)["ok"]
        lo, hi = s.meta["bounds_people"]
        pops = s.localities.set_index("locality")["pop_0_19"]
        if s.meta["feasible"]:
            assert ((pops >= lo - 1e-6) & (pops <= hi + 1e-6)).all()
            assert s.meta["contiguous"]
        else:
            assert s.meta["status"].startswith("infeasible")
    assert any(s.meta["feasible"] for s in schemes)
