"""Tests for locmap.access.nearest: nearest services, coverage, 2SFCA, compute_access, CLI."""
from __future__ import annotations

import argparse
import math
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from locmap.access import nearest as acc
from locmap.access.coverage import COVERAGE_COLUMNS
from locmap.access.fca import _fca_with_access_lib
from locmap.bands import BANDS
from locmap.distance import network, routing
from locmap.errors import EmptyServiceTypeError
from locmap.settings import Settings

AREA_LAD = "E09000009"
OTHER_LAD = "E09000017"
CRS = "EPSG:27700"


# ----------------------------------------------------------------------------- fixtures
class FakeRouter:
    """Straight line x circuity; origins with x > ``blocked_x`` reach nothing."""

    method = "estimated"

    def __init__(self, circuity: float = 1.3, blocked_x: float = np.inf):
        self.circuity = circuity
        self.blocked_x = blocked_x
        self.calls: list[tuple[str, int, int]] = []

    def _full(self, o: np.ndarray, t: np.ndarray) -> np.ndarray:
        d = self.circuity * np.hypot(o[:, None, 0] - t[None, :, 0], o[:, None, 1] - t[None, :, 1])
        d[o[:, 0] > self.blocked_x, :] = np.inf
        return d

    def nearest(self, origins_xy, targets_xy, k=1, max_m=None):
        self.calls.append(("nearest", len(origins_xy), len(targets_xy)))
        d = self._full(np.asarray(origins_xy), np.asarray(targets_xy))
        if max_m is not None:
            d[d > max_m] = np.inf
        idx = np.argsort(d, axis=1, kind="stable")[:, :k]
        dist = np.take_along_axis(d, idx, axis=1)
        bad = ~np.isfinite(dist)
        return np.where(bad, np.nan, dist), np.where(bad, -1, idx)

    def nearest_routes(self, origins_xy, targets_xy, k=1, max_m=None):
        d, i = self.nearest(origins_xy, targets_xy, k, max_m)
        return routing.NearestRoutes(d, d.copy(), i)

    def matrix(self, origins_xy, targets_xy, max_m=None):
        self.calls.append(("matrix", len(origins_xy), len(targets_xy)))
        d = self._full(np.asarray(origins_xy), np.asarray(targets_xy))
        if max_m is not None:
            d[d > max_m] = np.inf
        return d


def make_homes(n: int = 300, seed: int = 1) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 5000, n)
    y = rng.uniform(0, 4000, n)
    p04 = rng.uniform(0, 6, n).round(3)
    p511 = rng.uniform(0, 9, n).round(3)
    p1219 = rng.uniform(0, 9, n).round(3)
    other = rng.uniform(5, 60, n).round(3)
    pcn = np.where(x < 2500, "U1", "U2").astype(object)
    pcn[::37] = None  # some homes outside any PCN footprint
    return gpd.GeoDataFrame({
        "home_id": [f"H{i:04d}" for i in range(n)],
        "postcode": [f"UB{i % 9} 1AA" for i in range(n)],
        "lsoa21cd": [f"E0100{int(xi // 1000)}{int(yi // 2000)}" for xi, yi in zip(x, y)],
        "ward_cd": np.where(y < 2000, "W1", "W2"),
        "town": np.where(x < 3000, "Acton", "Southall"),
        "pcn_code": pcn,
        "pop_total": p04 + p511 + p1219 + other,
        "pop_0_4": p04, "pop_5_11": p511, "pop_12_19": p1219,
        "pop_0_19": p04 + p511 + p1219,
    }, geometry=gpd.points_from_xy(x, y), crs=CRS)


def make_services() -> gpd.GeoDataFrame:
    rows = [
        # id, type, x, y, lad, located, capacity
        ("GP1", "gp_practice", 500, 500, AREA_LAD, True, np.nan),
        ("GP2", "gp_practice", 2500, 2000, AREA_LAD, True, np.nan),
        ("GP3", "gp_practice", 4500, 3500, AREA_LAD, True, np.nan),
        ("GPX", "gp_practice", -150, 3800, OTHER_LAD, True, np.nan),   # across the border
        ("PS1", "primary_school", 1000, 3000, AREA_LAD, True, 420.0),
        ("PS2", "primary_school", 3000, 1000, AREA_LAD, True, 210.0),
        ("PS3", "primary_school", 4000, 3000, AREA_LAD, True, np.nan),  # capacity unknown
        ("PSX", "primary_school", 5200, 200, OTHER_LAD, True, 630.0),
        ("LB1", "library", 2000, 2000, AREA_LAD, True, np.nan),
        ("LB2", "library", 4200, 600, AREA_LAD, True, np.nan),
        ("LB9", "library", np.nan, np.nan, AREA_LAD, False, np.nan),    # not located
        ("CC9", "childrens_centre", np.nan, np.nan, AREA_LAD, False, np.nan),  # type empty
    ]
    df = pd.DataFrame(rows, columns=["service_id", "service_type", "easting", "northing",
                                     "lad_cd", "located", "capacity"])
    df["name"] = df["service_id"] + " name"
    geom = [Point(x, y) if loc else None
            for x, y, loc in zip(df["easting"], df["northing"], df["located"])]
    return gpd.GeoDataFrame(df, geometry=geom, crs=CRS)


KEYS = ["childrens_centre", "gp_practice", "primary_school", "library"]
LEVELS = {"lsoa": "lsoa21cd", "ward": "ward_cd", "town": "town", "pcn": "pcn_code"}


@pytest.fixture(scope="module")
def homes():
    return make_homes()


@pytest.fixture(scope="module")
def services():
    return make_services()


@pytest.fixture(scope="module")
def syn_settings():
    return Settings(walk_speed_kmh=4.0, progress=False, k_nearest=3)


@pytest.fixture(scope="module")
def router():
    return FakeRouter(circuity=1.3, blocked_x=4900.0)


@pytest.fixture(scope="module")
def result(homes, services, router, syn_settings):
    return acc.nearest_services(homes, services, router, syn_settings, area_lad_cd=AREA_LAD,
                                key_service_types=KEYS)


# ----------------------------------------------------------------------------- nearest
def test_table_contract_columns(result):
    assert list(result.table.columns[:len(acc.TABLE_COLUMNS)]) == list(acc.TABLE_COLUMNS)
    assert (result.table["method"] == "estimated").all()
    assert (result.table["label"] == "estimated street distance (London model v1, typical error ±145 m)").all()
    assert result.label == "estimated street distance (London model v1, typical error ±145 m)"


def test_nearest_equals_brute_force(result, homes, services, router):
    hxy = np.column_stack([homes.geometry.x, homes.geometry.y])
    for t in ("gp_practice", "primary_school", "library"):
        s = services[(services.service_type == t) & services.located]
        sxy = np.column_stack([s.geometry.x, s.geometry.y])
        full = 1.3 * np.hypot(hxy[:, None, 0] - sxy[None, :, 0], hxy[:, None, 1] - sxy[None, :, 1])
        blocked = hxy[:, 0] > 4900
        k = min(3, len(s))
        order = np.argsort(full, axis=1)[:, :k]
        tab = result.table[result.table.service_type == t].sort_values(["home_id", "rank"])
        assert len(tab) == len(homes) * k
        d = tab["distance_m"].to_numpy().reshape(len(homes), k)
        ids = tab["service_id"].to_numpy().reshape(len(homes), k)
        st = tab["straight_m"].to_numpy().reshape(len(homes), k)
        exp_d = np.take_along_axis(full, order, axis=1)
        np.testing.assert_allclose(d[~blocked], exp_d[~blocked])
        assert (ids[~blocked] == s["service_id"].to_numpy()[order][~blocked]).all()
        np.testing.assert_allclose(st[~blocked], exp_d[~blocked] / 1.3)
        assert np.isnan(d[blocked]).all()
        # ranks are sorted
        assert (np.diff(d[~blocked], axis=1) >= 0).all()


def test_one_router_call_per_type(homes, services, syn_settings):
    r = FakeRouter()
    acc.nearest_services(homes, services, r, syn_settings, area_lad_cd=AREA_LAD,
                         key_service_types=KEYS)
    assert [c[0] for c in r.calls] == ["nearest"] * 3
    assert all(c[1] == len(homes) for c in r.calls)


def test_minutes_from_speed(result, syn_settings):
    t = result.table.dropna(subset=["distance_m"])
    np.testing.assert_allclose(t["minutes"], t["distance_m"] / (4.0 * 1000 / 60))
    s2 = syn_settings.with_(walk_speed_kmh=3.0)
    r2 = acc.nearest_services(make_homes(20), make_services(), FakeRouter(), s2,
                              service_types=["gp_practice"])
    np.testing.assert_allclose(r2.table["minutes"], r2.table["distance_m"] / 50.0)


def test_cross_border_flags(result):
    t = result.table.dropna(subset=["service_id"])
    expect = t["service_id"].isin(["GPX", "PSX"])
    assert (t["cross_border"].astype(bool) == expect).all()
    assert t.loc[t.service_id == "GPX", "service_lad_cd"].eq(OTHER_LAD).all()
    # at least one home's nearest GP is across the border (west edge)
    assert result.wide["cross_border__gp_practice"].fillna(False).any()
    # unreachable rows have cross_border missing, not False
    assert result.table.loc[result.table.service_id.isna(), "cross_border"].isna().all()


def test_unreachable_reported(result, homes):
    blocked = set(homes.loc[homes.geometry.x > 4900, "home_id"])
    assert blocked, "fixture should have blocked homes"
    for t in ("gp_practice", "primary_school", "library", acc.ANY_KEY):
        rep = set(result.unreachable.loc[result.unreachable.service_type == t, "home_id"])
        assert rep == blocked
        assert result.wide.loc[result.wide.home_id.isin(blocked),
                               f"distance_m__{t}"].isna().all()
        assert result.wide[f"unreachable__{t}"].sum() == len(blocked)


def test_unlocated_excluded_and_empty_type_skipped(result):
    ex = result.excluded_services
    assert set(ex["service_id"]) == {"LB9", "CC9"}
    assert (ex["reason"].str.contains("not located")).all()
    assert list(result.skipped_types["service_type"]) == ["childrens_centre"]
    assert "childrens_centre" not in result.service_types
    assert "distance_m__childrens_centre" not in result.wide.columns
    assert any("childrens_centre" in n for n in result.notes)


def test_empty_type_raises_when_asked_explicitly(homes, services, router, syn_settings):
    with pytest.raises(EmptyServiceTypeError):
        acc.nearest_services(homes, services, router, syn_settings,
                             service_types=["gp_practice", "childrens_centre"])
    with pytest.raises(EmptyServiceTypeError):
        acc.nearest_services(homes, services, router, syn_settings, service_types=["nope"])


def test_k_capped_by_services(result):
    lib = result.table[result.table.service_type == "library"]
    assert sorted(lib["rank"].unique()) == [1, 2]


def test_any_key_is_min_over_key_types(result):
    w = result.wide
    d = np.column_stack([w[f"distance_m__{t}"] for t in ("gp_practice", "primary_school",
                                                            "library")])
    ok = ~np.isnan(d).all(axis=1)
    np.testing.assert_allclose(w["distance_m__any_key_service"][ok], np.nanmin(d[ok], axis=1))
    assert w["nearest_type__any_key_service"][ok].isin(
        ["gp_practice", "primary_school", "library"]).all()
    t = result.table[result.table.service_type == acc.ANY_KEY]
    assert len(t) == len(w) and (t["rank"] == 1).all()
    assert any("any_key_service" in n and "childrens_centre" in n for n in result.notes)


def test_straight_nearest_le_straight_to_network_nearest(result):
    w = result.wide
    for t in ("gp_practice", "primary_school", "library"):
        ok = w[f"straight_m__{t}"].notna()
        assert (w.loc[ok, f"straight_nearest_m__{t}"]
                <= w.loc[ok, f"straight_m__{t}"] + 1e-9).all()


def test_geographic_crs_rejected(homes, services, router, syn_settings):
    from locmap.errors import CRSError
    with pytest.raises(CRSError):
        acc.nearest_services(homes.to_crs(4326), services, router, syn_settings,
                             service_types=["gp_practice"])


# ----------------------------------------------------------------------------- coverage
@pytest.fixture(scope="module")
def cov(result, syn_settings):
    return acc.coverage(result.wide, LEVELS, (10, 15, 20), None, BANDS, settings=syn_settings)


def test_coverage_columns(cov):
    for c in ("level", "area_id", "service_type", "threshold_minutes", "band", "pop_within",
              "pop_beyond", "pop_total", "pct_within", "pop_unreachable",
              "pct_within_straight", "method", "label"):
        assert c in cov.columns
    assert set(cov["level"]) == set(LEVELS)
    assert (cov["label"] == "estimated street distance (London model v1, typical error ±145 m)").all()


def test_within_plus_beyond_equals_total_exactly(cov, homes):
    assert (cov["pop_within"] + cov["pop_beyond"] == cov["pop_total"]).all()
    # and pop_total equals the people living in the area
    for lvl, col in LEVELS.items():
        sub = cov[(cov.level == lvl) & (cov.area_id != "__total__")]
        key = homes[col].astype(object).where(homes[col].notna(), "__unassigned__").astype(str)
        for band in BANDS:
            truth = homes.groupby(key)[band].sum()
            s = sub[sub.band == band]
            got = s.set_index(["service_type", "threshold_minutes", "area_id"])["pop_total"]
            for (_, _, a), v in got.items():
                assert v == pytest.approx(truth[a], rel=1e-12, abs=1e-9)
        tot = cov[(cov.level == lvl) & (cov.area_id == "__total__")]
        for band in BANDS:
            assert np.allclose(tot.loc[tot.band == band, "pop_total"], homes[band].sum())


def test_coverage_matches_threshold_rule(cov, result):
    w = result.wide
    for thr in (10, 15, 20):
        m = w["minutes__gp_practice"]
        exp = w.loc[m <= thr, "pop_0_4"].sum()
        got = cov[(cov.level == "ward") & (cov.area_id == "__total__")
                  & (cov.service_type == "gp_practice") & (cov.threshold_minutes == thr)
                  & (cov.band == "pop_0_4")]
        assert got["pop_within"].iat[0] == pytest.approx(exp)
    # thresholds nest
    t = cov[(cov.area_id == "__total__") & (cov.level == "town") & (cov.band == "pop_total")]
    for st, g in t.groupby("service_type"):
        assert g.sort_values("threshold_minutes")["pop_within"].is_monotonic_increasing


def test_unreachable_counted_as_beyond(cov, result):
    w = result.wide
    unr = w.loc[w["unreachable__gp_practice"], "pop_0_4"].sum()
    assert unr > 0
    row = cov[(cov.level == "pcn") & (cov.area_id == "__total__")
              & (cov.service_type == "gp_practice") & (cov.band == "pop_0_4")]
    assert np.allclose(row["pop_unreachable"], unr)
    assert (row["pop_beyond"] >= row["pop_unreachable"] - 1e-9).all()


def test_unassigned_areas_conserve(cov):
    assert "__unassigned__" in set(cov.loc[cov.level == "pcn", "area_id"])


def test_straight_line_comparison_is_optimistic(cov):
    # straight line <= circuity x straight line, so straight coverage is never lower
    assert (cov["pct_within_straight"].fillna(0) >= cov["pct_within"].fillna(0) - 1e-9).all()
    assert (cov["straight_label"] == acc.STRAIGHT_LABEL).all()


# ----------------------------------------------------------------------------- 2SFCA
def _hand_example():
    """Three places, 2 clinics; catchment 30 minutes.

    cost (minutes):      C1   C2
        A (pop 100)      10   40
        B (pop  50)      20   25
        C (pop  10)      50    5
    supply: C1 = 15, C2 = 20
    Step 1: R1 = 15 / (100 + 50) = 0.1 ; R2 = 20 / (50 + 10) = 1/3
    Step 2: A = 0.1 ; B = 0.1 + 1/3 = 0.43333 ; C = 1/3
    """
    demand = np.array([100.0, 50.0, 10.0])
    supply = np.array([15.0, 20.0])
    cost = np.array([[10.0, 40.0], [20.0, 25.0], [50.0, 5.0]])
    expected = np.array([0.1, 0.1 + 1 / 3, 1 / 3])
    return demand, supply, cost, expected


def test_2sfca_numpy_hand_computed():
    demand, supply, cost, expected = _hand_example()
    a, ratio = acc.two_step_fca_numpy(demand, supply, cost, 30.0)
    np.testing.assert_allclose(a, expected)
    np.testing.assert_allclose(ratio, [0.1, 1 / 3])
    # conservation: demand-weighted access sums to total supply when all served
    assert (demand * a).sum() == pytest.approx(supply.sum())


def test_2sfca_access_library_hand_computed():
    demand, supply, cost, expected = _hand_example()
    ii, jj = np.nonzero(cost <= 30)
    long = pd.DataFrame({"origin": np.array(["A", "B", "C"])[ii],
                         "dest": np.array(["C1", "C2"])[jj], "cost": cost[ii, jj]})
    got = _fca_with_access_lib(np.array(["A", "B", "C"]), demand, np.array(["C1", "C2"]),
                                   supply, long, 30.0)
    np.testing.assert_allclose(got, expected)


def test_2sfca_access_library_hospital_example():
    """The `access` package's own 3-tract hospital example (its tests' scenario 0,
    unweighted, max_cost 61): hand-computed R = 15/110, 20/60, 100/160."""
    demand = np.array([100.0, 50.0, 10.0])
    supply = np.array([15.0, 20.0, 100.0])
    c = np.array([[1, 80, 40], [80, 1, 40], [40, 40, 1]], dtype=float)  # origin x dest
    r = np.array([15 / 110, 20 / 60, 100 / 160])
    expected = np.array([r[0] + r[2], r[1] + r[2], r.sum()])
    a, _ = acc.two_step_fca_numpy(demand, supply, c, 61.0)
    np.testing.assert_allclose(a, expected)
    ii, jj = np.nonzero(c <= 61)
    ids = np.array([1, 2, 3])
    long = pd.DataFrame({"origin": ids[ii], "dest": ids[jj], "cost": c[ii, jj]})
    got = _fca_with_access_lib(ids, demand, ids, supply, long, 61.0)
    np.testing.assert_allclose(got, expected)
    np.testing.assert_allclose(got, [0.761364, 0.958333, 1.094697], atol=1e-6)


def test_2sfca_engines_agree_and_conserve(homes, services, syn_settings):
    r = FakeRouter(circuity=1.3, blocked_x=4900.0)
    ph_a, ps_a = acc.two_step_fca(homes, services, r, syn_settings, thresholds_minutes=(15, 30),
                                  engine="access")
    ph_n, _ = acc.two_step_fca(homes, services, r, syn_settings, thresholds_minutes=(15, 30),
                               engine="numpy")
    assert sum(c[0] == "matrix" for c in r.calls) == 2 * 3  # one per type per run
    np.testing.assert_allclose(ph_a["fca_ratio"], ph_n["fca_ratio"], rtol=1e-10, atol=1e-15)
    assert (ph_a["label"] == "estimated street distance (London model v1, typical error ±145 m)").all()
    # conservation: sum_i d_i A_i == sum of supply of facilities with demand in catchment
    for (t, thr), g in ph_a.groupby(["service_type", "threshold_minutes"]):
        d = homes.set_index("home_id").loc[g["home_id"], "pop_0_4"].to_numpy()
        s = ps_a[(ps_a.service_type == t) & (ps_a.threshold_minutes == thr)]
        served = s.loc[s["demand_in_catchment"] > 0, "capacity"].sum()
        assert (d * g["fca_ratio"].to_numpy()).sum() == pytest.approx(served)
    # missing capacity filled with the median of the known ones
    ps = ps_a[(ps_a.service_type == "primary_school") & (ps_a.threshold_minutes == 15)]
    assert ps.loc[ps.service_id == "PS3", "capacity"].iat[0] == 420.0
    assert ps["capacity_note"].str.contains("median").all()
    gp = ps_a[ps_a.service_type == "gp_practice"]
    assert (gp["capacity"] == 1.0).all()


def test_fca_by_area(homes, services, syn_settings):
    ph, _ = acc.two_step_fca(homes, services, FakeRouter(), syn_settings,
                             service_types=["primary_school"], thresholds_minutes=(1000,))
    agg = acc.fca_by_area(ph, homes, LEVELS)
    tot = agg[(agg.level == "ward") & (agg.area_id == "__total__")]
    # huge catchment: everyone shares all supply -> ratio = supply / demand everywhere
    assert tot["fca_ratio"].iat[0] == pytest.approx((420 + 210 + 420 + 630) / homes.pop_0_4.sum())
    assert set(agg["level"]) == set(LEVELS)


# ----------------------------------------------------------------------------- bundle + CLI
def _fake_area(homes, services, syn_settings):
    pack = SimpleNamespace(name="synthetic", lad_cd=AREA_LAD, key_service_types=tuple(KEYS),
                           service_types={k: k for k in KEYS})
    pcns = pd.DataFrame({"pcn_code": pd.Series(dtype=str), "pcn_name": pd.Series(dtype=str)})
    def located_services(service_type=None):
        s = services[services["located"]]
        return s if service_type is None else s[s["service_type"] == service_type]

    return SimpleNamespace(pack=pack, settings=syn_settings, homes=homes, services=services, pcns=pcns, checks={},
                           name="synthetic", attribution="test attribution",
                           located_services=located_services)


def test_compute_access_bundle(homes, services, syn_settings):
    area = _fake_area(homes, services, syn_settings)
    res = acc.compute_access(area, syn_settings, router=FakeRouter())
    assert res.area_lad_cd == AREA_LAD
    assert acc.ANY_KEY in res.service_types
    assert res.table["cross_border"].fillna(False).any()


def test_cli_writes_outputs(tmp_path, homes, services, syn_settings, monkeypatch):
    from locmap import api
    from locmap.cli import access as cli_access

    area = _fake_area(homes, services, syn_settings)
    monkeypatch.setattr(api, "load", lambda name, s: area)
    monkeypatch.setattr(acc, "default_router_for", lambda area, s: FakeRouter())
    parser = argparse.ArgumentParser(prog="locmap")
    sub = parser.add_subparsers(dest="command")
    cli_access.add_parser(sub)
    args = parser.parse_args(["access", "--area", "synthetic", "--minutes", "10", "15",
                              "--out", str(tmp_path), "--format", "both", "--no-progress"])
    assert args.func(args) == 0
    names = {p.name for p in tmp_path.iterdir()}
    for stem in ("nearest", "coverage", "gap_summary_ward", "fca_homes", "fca_areas",
                 "unreachable", "excluded_services"):
        assert f"{stem}.csv" in names and f"{stem}.parquet" in names, stem
    assert {"gaps.gpkg", "homes_access.gpkg", "README.txt"} <= names
    assert not any(n.startswith(".") for n in names)  # no temp files left
    cov = pd.read_csv(tmp_path / "coverage.csv")
    assert (cov["label"] == "estimated street distance (London model v1, typical error ±145 m)").all()
    assert sorted(cov["threshold_minutes"].unique()) == [10.0, 15.0]
    for stem in ("nearest", "fca_homes", "fca_areas", "gap_summary_ward", "unreachable"):
        t = pd.read_csv(tmp_path / f"{stem}.csv")
        assert "label" in t.columns and "method" in t.columns, stem
    gaps = gpd.read_file(tmp_path / "gaps.gpkg", layer="gaps")
    assert (gaps["label"] == "estimated street distance (London model v1, typical error ±145 m)").all()
    text = (tmp_path / "README.txt").read_text()
    assert "estimated street distance (London model v1, typical error ±145 m)" in text and "4.0 km/h" in text


def test_cli_reports_locmap_errors(tmp_path, monkeypatch, capsys):
    from locmap import api
    from locmap.cli import main
    from locmap.errors import DataRootNotFoundError

    def boom(name, s):
        raise DataRootNotFoundError("no data folder found")

    monkeypatch.setattr(api, "load", boom)
    assert main(["access", "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("locmap: error: no data folder") and "What to do" in err


# ----------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def ealing_access(ealing):
    """compute_access on the real Ealing bundle (conftest ``ealing`` skips without data)."""
    s = ealing.settings.with_(progress=False)
    return ealing, acc.compute_access(ealing, s)


@pytest.mark.realdata
def test_real_ealing_access(ealing_access):
    area, res = ealing_access
    assert area.homes["pop_total"].sum() == pytest.approx(367111, abs=0.5)
    assert res.label in ("street distance", "estimated street distance (London model v1, typical error ±145 m)")
    assert acc.ANY_KEY in res.service_types
    assert set(area.pack.key_service_types) <= set(res.service_types)
    cov = acc.coverage(res.wide, None, (10, 15, 20), settings=res.settings)
    assert set(cov["level"]) == {"lsoa", "ward", "town", "pcn"}
    tot = cov[(cov.area_id == "__total__") & (cov.band == "pop_total")]
    assert np.allclose(tot["pop_total"], 367111, atol=0.5)
    assert (cov["pop_within"] + cov["pop_beyond"] == cov["pop_total"]).all()
    # every LSOA / ward / town appears; their totals add to the borough
    n_areas = cov[cov.area_id != "__total__"].groupby("level")["area_id"].nunique()
    assert n_areas["lsoa"] >= 199 and n_areas["ward"] >= 24 and n_areas["town"] >= 7
    # families use services across the border: some nearest GPs are in a neighbouring borough
    assert res.wide["cross_border__gp_practice"].fillna(False).any()
    assert math.isfinite(res.wide["minutes__any_key_service"].median())
    # unreachable homes are listed, never dropped
    assert res.wide[[c for c in res.wide if c.startswith("unreachable__")]].sum().sum() \
        == len(res.unreachable)


@pytest.mark.realdata
def test_real_ealing_gaps_and_fca(ealing_access):
    from locmap.access.gaps import gap_polygons

    area, res = ealing_access
    cov = acc.coverage(res.wide, {"ward": "ward_cd"}, (15,), ["childrens_centre", ACC_ANY],
                       settings=res.settings)
    for t in ("childrens_centre", ACC_ANY):
        g = gap_polygons(res.wide, t, 15, cell_m=250, band="pop_0_4")
        beyond = cov[(cov.area_id == "__total__") & (cov.service_type == t)
                     & (cov.band == "pop_0_4")]["pop_beyond"].iat[0]
        assert g["gap_pop_0_4"].sum() == pytest.approx(beyond, rel=1e-9)
    router = routing.default_router(area, res.settings)
    ph_a, _ = acc.two_step_fca(area.homes, area.services, router, res.settings,
                               service_types=["primary_school"], demand_band="pop_5_11")
    ph_n, _ = acc.two_step_fca(area.homes, area.services, router, res.settings,
                               service_types=["primary_school"], demand_band="pop_5_11",
                               engine="numpy")
    np.testing.assert_allclose(ph_a["fca_ratio"], ph_n["fca_ratio"], rtol=1e-9, atol=1e-15)


ACC_ANY = acc.ANY_KEY


# ----------------------------------------------------------------------------- real routers
def test_with_real_estimated_router(homes, services, syn_settings):
    r = routing.EstimatedRouter(circuity=1.25, intercept_m=30.0)
    res = acc.nearest_services(homes, services, r, syn_settings, area_lad_cd=AREA_LAD,
                               key_service_types=KEYS)
    assert res.method == "estimated" and res.label == routing.method_label("estimated")
    hxy = np.column_stack([homes.geometry.x, homes.geometry.y])
    for t in ("gp_practice", "primary_school", "library"):
        s = services[(services.service_type == t) & services.located]
        sxy = np.column_stack([s.geometry.x, s.geometry.y])
        full = r.estimate(np.hypot(hxy[:, None, 0] - sxy[None, :, 0],
                                   hxy[:, None, 1] - sxy[None, :, 1]))
        k = min(3, len(s))
        tab = res.table[res.table.service_type == t].sort_values(["home_id", "rank"])
        np.testing.assert_allclose(tab["distance_m"].to_numpy().reshape(-1, k),
                                   np.sort(full, axis=1)[:, :k])
        np.testing.assert_allclose(res.wide[f"minutes__{t}"], full.min(axis=1) / (4000 / 60))
    assert res.unreachable.empty
    ph_a, _ = acc.two_step_fca(homes, services, r, syn_settings, thresholds_minutes=(15,))
    ph_n, _ = acc.two_step_fca(homes, services, r, syn_settings, thresholds_minutes=(15,),
                               engine="numpy")
    np.testing.assert_allclose(ph_a["fca_ratio"], ph_n["fca_ratio"], rtol=1e-10, atol=1e-15)


def test_router_reasons_used_in_unreachable(homes, services, syn_settings):

    class ReportingRouter(FakeRouter):
        def nearest(self, origins_xy, targets_xy, k=1, max_m=None):
            d, i = super().nearest(origins_xy, targets_xy, k, max_m)
            rep = routing.UnreachableReport("estimated")
            rep.add("origin", np.flatnonzero(np.isnan(d[:, 0])), "other_component")
            self.unreachable_report = rep
            return d, i

    res = acc.nearest_services(homes, services, ReportingRouter(blocked_x=4900), syn_settings,
                               service_types=["gp_practice"])
    assert len(res.unreachable)
    assert res.unreachable["reason"].str.contains("disconnected").all()


def test_with_street_router_matches_matrix_brute_force(syn_settings):
    e, nodes = network.synthetic_street_tables(20, 15, seed=3)
    net = network.network_from_edges(e, nodes, "walk")
    x0, y0 = 510_000.0, 175_000.0
    rng = np.random.default_rng(7)
    hx = x0 + rng.uniform(0, 1500, 120)
    hy = y0 + rng.uniform(0, 1100, 120)
    hx[:3] = x0 + 9000.0  # far outside the network: must be reported, not dropped
    homes = make_homes(120)
    homes = homes.set_geometry(gpd.points_from_xy(hx, hy, crs=CRS))
    sv = make_services()
    sv = sv[sv.located].copy()
    sxy = np.column_stack([x0 + rng.uniform(0, 1500, len(sv)), y0 + rng.uniform(0, 1100, len(sv))])
    sv = sv.set_geometry(gpd.points_from_xy(sxy[:, 0], sxy[:, 1], crs=CRS))
    r = routing.StreetRouter(net, max_snap_m=300.0)
    res = acc.nearest_services(homes, sv, r, syn_settings, area_lad_cd=AREA_LAD,
                               key_service_types=KEYS)
    assert res.method == "street" and res.label == "street distance"
    assert (res.table["label"] == "street distance").all()
    hxy = np.column_stack([hx, hy])
    for t in ("gp_practice", "primary_school", "library"):
        s = sv[sv.service_type == t]
        txy = np.column_stack([s.geometry.x, s.geometry.y])
        full = r.matrix(hxy, txy)
        k = min(3, len(s))
        tab = res.table[res.table.service_type == t].sort_values(["home_id", "rank"])
        got = tab["distance_m"].to_numpy().reshape(-1, k)
        ok = np.isfinite(full).all(axis=1)
        np.testing.assert_allclose(got[ok], np.sort(full[ok], axis=1)[:, :k], rtol=1e-9)
        assert np.isnan(got[~ok]).all()
        far = set(homes["home_id"].iloc[:3])
        rep = res.unreachable[res.unreachable.service_type == t]
        assert far <= set(rep["home_id"])
        assert rep.loc[rep.home_id.isin(far), "reason"].str.contains(
            "max_snap|extent").all()


def _street_case(penalties):
    """Homes and services on a synthetic grid where 40 % of the ways are gravel."""
    e, nodes = network.synthetic_street_tables(20, 15, seed=3)
    e["surface"] = np.where(np.random.default_rng(2).random(len(e)) < 0.4, "gravel", "asphalt")
    net = network.network_from_edges(e, nodes, "pram", penalties=penalties)
    rng = np.random.default_rng(7)
    x0, y0 = 510_000.0, 175_000.0
    homes = make_homes(150).set_geometry(gpd.points_from_xy(
        x0 + rng.uniform(0, 1500, 150), y0 + rng.uniform(0, 1100, 150), crs=CRS))
    sv = make_services()
    sv = sv[sv.located].copy()
    sv = sv.set_geometry(gpd.points_from_xy(x0 + rng.uniform(0, 1500, len(sv)),
                                            y0 + rng.uniform(0, 1100, len(sv)), crs=CRS))
    return homes, sv, routing.StreetRouter(net)


def test_pram_penalties_give_pram_cost_and_minutes_follow_the_cost(syn_settings):
    homes, sv, router = _street_case(network.PramPenalties())
    res = acc.nearest_services(homes, sv, router, syn_settings, key_service_types=KEYS)
    t = res.table
    assert list(t.columns[:7]) == ["home_id", "service_type", "rank", "service_id", "distance_m",
                                   "pram_cost_m", "minutes"]
    ok = t["distance_m"].notna()
    assert (t.loc[ok, "pram_cost_m"] >= t.loc[ok, "distance_m"] - 1e-9).all()
    assert (t.loc[ok, "pram_cost_m"] > t.loc[ok, "distance_m"] + 1.0).mean() > 0.5
    mpm = syn_settings.metres_per_minute
    np.testing.assert_allclose(t["minutes"], t["pram_cost_m"] / mpm)
    assert res.minutes_from == "pram_cost_m"
    assert res.label == ("street distance; minutes from pram cost: unpaved x1.5, steep incline x1.3, "
                         "raised kerb x1.2")
    for s in ("gp_practice", acc.ANY_KEY):
        np.testing.assert_allclose(res.wide[f"minutes__{s}"], res.wide[f"pram_cost_m__{s}"] / mpm)
    # the cheapest key service by pram cost, with the physical length of that same route
    costs = np.column_stack([res.wide[f"pram_cost_m__{k}"] for k in KEYS if k in res.service_types])
    np.testing.assert_allclose(res.wide[f"pram_cost_m__{acc.ANY_KEY}"], np.nanmin(costs, axis=1))
    any_rows = t[t.service_type == acc.ANY_KEY].set_index("home_id")
    for home, row in any_rows.sample(20, random_state=0).iterrows():
        typ = res.wide.set_index("home_id").at[home, f"nearest_type__{acc.ANY_KEY}"]
        same = t[(t.home_id == home) & (t.service_type == typ) & (t["rank"] == 1)].iloc[0]
        assert (row.distance_m, row.pram_cost_m) == (same.distance_m, same.pram_cost_m)
    cov = acc.coverage(res.wide, {"ward": "ward_cd"}, (10,), ["gp_practice"], settings=syn_settings)
    tot = cov[(cov.area_id == "__total__") & (cov.band == "pop_total")].iloc[0]
    within = (res.wide["pram_cost_m__gp_practice"] <= 10 * mpm).to_numpy()
    assert tot.pop_within == pytest.approx(res.wide.loc[within, "pop_total"].sum())


def test_without_penalties_there_is_no_pram_cost_column(syn_settings):
    homes, sv, router = _street_case(None)
    res = acc.nearest_services(homes, sv, router, syn_settings, key_service_types=KEYS)
    assert list(res.table.columns) == [*acc.TABLE_COLUMNS, "label"]
    assert not [c for c in res.wide.columns if c.startswith("pram_cost_m")]
    np.testing.assert_allclose(res.table["minutes"],
                               res.table["distance_m"] / syn_settings.metres_per_minute)
    assert res.minutes_from == "distance_m" and res.label == "street distance"


def test_coverage_rows_are_band_by_band_areas_sorted_then_the_level_total():
    """Three homes in two wards, one type, one threshold, two bands: every figure by hand."""
    wide = pd.DataFrame({"ward": ["W2", "W1", "W2"], "pop_total": [10.0, 4.0, 6.0], "pop_0_4": [1.0, 2.0, 0.5],
                         "minutes__gp": [5.0, 30.0, np.inf], "straight_nearest_m__gp": [100.0, 500.0, 900.0]})
    cov = acc.coverage(wide, {"ward": "ward"}, [10.0], ["gp"], bands=("pop_total", "pop_0_4"),
                   method="estimated", label="est")
    assert cov["band"].tolist() == ["pop_total"] * 3 + ["pop_0_4"] * 3
    assert cov["area_id"].tolist() == ["W1", "W2", "__total__"] * 2
    assert cov["pop_within"].tolist() == [0.0, 10.0, 10.0, 0.0, 1.0, 1.0]
    assert cov["pop_beyond"].tolist() == [4.0, 6.0, 10.0, 2.0, 0.5, 2.5]
    assert cov["pop_unreachable"].tolist() == [0.0, 6.0, 6.0, 0.0, 0.5, 0.5]
    assert cov["pct_within"].tolist() == [0.0, 62.5, 50.0, 0.0, pytest.approx(100 / 1.5), pytest.approx(100 / 3.5)]
    assert set(cov["level"]) == {"ward"} and set(cov["threshold_minutes"]) == {10.0}
    assert list(cov.columns) == COVERAGE_COLUMNS and cov["area_id"].dtype == cov["service_type"].dtype
