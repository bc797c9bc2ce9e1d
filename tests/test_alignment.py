"""Alignment indices and cross-tabs."""
from __future__ import annotations

import pandas as pd
import pytest

from locmap.localities.alignment import (alignment_index, alignment_table, crosstab, crosstab_long,
                              locality_alignment)
from locmap.localities.schemes import scheme_from_column
from locmap.localities.testing import synthetic_area


def test_identical_schemes_align_perfectly():
    a = pd.Series(list("AABBC"), index=list("12345"))
    r = alignment_index(a, a.map({"A": "x", "B": "y", "C": "z"}))
    assert r["purity_a_in_b"] == 1 and r["ari"] == pytest.approx(1) and r["vi_bits"] == pytest.approx(0)


def test_nested_schemes_known_values():
    # fine = 4 areas of 1 person each; coarse = 2 groups of 2: fine nests in coarse
    fine = pd.Series(list("abcd"), index=list("1234"))
    coarse = pd.Series(list("XXYY"), index=list("1234"))
    r = alignment_index(fine, coarse)
    assert r["purity_a_in_b"] == 1.0  # each fine area wholly in one coarse area
    assert r["purity_b_in_a"] == 0.5  # each coarse area's largest fine part holds half
    assert r["vi_bits"] == pytest.approx(1.0)  # H(fine|coarse) = 1 bit, H(coarse|fine) = 0


def test_weighted_crosstab_and_long():
    a = pd.Series(list("AAB"), index=list("123"))
    b = pd.Series(list("XYY"), index=list("123"))
    w = pd.Series([10.0, 30.0, 60.0], index=list("123"))
    t = crosstab(a, b, w)
    assert t.loc["A", "Y"] == 30 and t.to_numpy().sum() == 100
    la = locality_alignment(a, b, w, "pcn")
    assert la.set_index("locality").loc["A", "pcn_share"] == pytest.approx(0.75)
    long = crosstab_long(a, b, w, "s1", "s2")
    assert long["people"].sum() == 100
    assert long.groupby("area_a")["share_of_a"].sum().tolist() == pytest.approx([1, 1])


def test_table_all_pairs_synthetic():
    lsoa = synthetic_area()["lsoa"]
    sch = {c: scheme_from_column(lsoa, c).assignment for c in ("ward_cd", "town", "pcn_code")}
    t = alignment_table(sch, lsoa.set_index("lsoa21cd")["pop_0_19"])
    assert len(t) == 3
    row = t[(t.scheme_a == "ward_cd") & (t.scheme_b == "town")].iloc[0]
    assert row["purity_a_in_b"] == pytest.approx(1.0)  # synthetic wards nest in towns
    assert t[["ari", "vi_bits"]].notna().all().all()


def test_different_lsoas_rejected():
    with pytest.raises(ValueError):
        alignment_index(pd.Series(["A"], index=["1"]), pd.Series(["B"], index=["2"]))
