"""Hub-site suggestion (MCLP / p-median via spopt.locate).

Known answers: spopt's own San Francisco example shipped with the installed package
(``spopt/tests/test_locate/data``: 205 census tracts x 16 candidate stores, network
distances).  spopt's test-suite documents, for service distance 5000 and p = 4:
MCLP leaves 21 tracts uncovered (89.756% of tracts covered), and p-median gives a
population-weighted mean distance of 2982.1268579890657.  Our wrapper reproduces both.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from locmap.errors import LocmapError
from locmap.localities.sites import coverage_gain, solve_mclp, solve_pmedian, suggest_sites


def _sf():
    import spopt
    d = Path(spopt.__file__).parent / "tests" / "test_locate" / "data"
    f = d / "SF_network_distance_candidateStore_16_censusTract_205_new.csv"
    if not f.exists():
        pytest.skip("spopt example data not shipped with this spopt build")
    piv = pd.read_csv(f).pivot_table(values="distance", index="DestinationName", columns="name")
    dem = pd.read_csv(d / "SF_demand_205_centroid_uniform_weight.csv").sort_values("NAME")
    return piv.to_numpy(), dem["POP2000"].to_numpy(float), list(piv.columns)


def test_known_answer_spopt_sf_mclp():
    C, w, ids = _sf()
    r = solve_mclp(C, w, 5000.0, 4, ids)
    assert r["n_clients_uncovered"] == 21
    assert r["pct_clients_covered"] == pytest.approx(89.75609756097561)


def test_known_answer_spopt_sf_pmedian():
    C, w, ids = _sf()
    r = solve_pmedian(C, w, 4, ids)
    assert r["mean_distance_m"] == pytest.approx(2982.1268579890657)


def _toy():
    # 6 demand points on a line at x=0..5 km, 3 candidate sites at x=0, 2.5, 5 km
    x = np.arange(6) * 1000.0
    s = np.array([0.0, 2500.0, 5000.0])
    C = np.abs(x[:, None] - s[None])
    w = np.array([10, 10, 10, 10, 10, 50.0])
    return C, w, ["W", "M", "E"]


def test_mclp_toy_and_gain():
    C, w, ids = _toy()
    r = solve_mclp(C, w, 1000.0, 1, ids)
    assert r["selected"] == ["E"] and r["children_covered"] == 60
    g = coverage_gain(C, w, 1000.0, 3, ids)
    assert g["children_covered"].tolist() == [60, 80, 100]
    assert g["gain_children"].tolist() == [60, 20, 20]
    assert g["pct_children_covered"].iloc[-1] == pytest.approx(100)


def test_existing_services_zero_weight():
    C, w, ids = _toy()
    existing = np.abs(np.arange(6)[:, None] * 1000.0 - np.array([[5000.0]]))
    r = solve_mclp(C, w, 1000.0, 1, ids, existing_cost_m=existing)
    assert r["selected"] != ["E"]  # the east end is already served


def test_pmedian_toy_and_suggest():
    C, w, ids = _toy()
    assert solve_pmedian(C, w, 1, ids)["selected"] == ["E"]
    out = suggest_sites(C, w, ids, 2, 1000.0, sites=pd.DataFrame({"site_id": ids,
                                                                 "name": ["w", "m", "e"]}))
    assert set(out["sites"]["model"]) == {"mclp", "pmedian"}
    assert "name" in out["sites"].columns and len(out["gain"]) == 2


def test_bad_inputs():
    C, w, ids = _toy()
    with pytest.raises(LocmapError):
        solve_mclp(C, w[:3], 1000.0, 1, ids)
    with pytest.raises(LocmapError):
        solve_mclp(C, w, 1000.0, 9, ids)
