"""One London distance model, shipped as data, used by every London area; refused elsewhere."""
from __future__ import annotations

import json
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree

from locmap import api
from locmap.cli import main
from locmap.data.area import load_area
from locmap.data.manifest import load_manifest, read_toml
from locmap.distance.calibration import beyond_interval_fields, calibrate, distance_model_record
from locmap.distance.model import MODEL_FILE, beyond_interval, error_fields, london_model
from locmap.distance.network import network_from_edges, synthetic_street_tables
from locmap.distance.routing import EstimatedRouter, StreetRouter, default_router, method_label
from locmap.errors import DistanceModelError
from locmap.localities.ranking import distance_fields, distance_survival

SHIPPED = json.loads(MODEL_FILE.read_text(encoding="utf-8"))


# ------------------------------------------------------------------ the shipped file
@pytest.mark.realdata
def test_shipped_model_equals_a_refit_by_locmap_calibrate(tmp_path, settings, capsys):
    out = tmp_path / "london.json"
    assert main(["calibrate", "--region", "london", "--data-root", str(settings.resolve_data_root()),
                 "--out", str(out)]) == 0
    assert out.read_bytes() == MODEL_FILE.read_bytes()
    assert "identical to the shipped london-v1.json" in capsys.readouterr().out


def test_shipped_model_is_fitted_on_every_london_lsoa_and_states_its_out_of_sample_error():
    assert SHIPPED["id"] == "london-v1"
    assert (SHIPPED["intercept_m"], SHIPPED["circuity"]) == (235.09, 1.00435)
    fit = SHIPPED["fitted_on"]
    # 4,835 LSOAs x 2 services, less 210 pairs at London's edge whose nearest service may lie outside
    assert (fit["pairs"], fit["edge_pairs_left_out"], fit["lsoa11"]) == (9460, 210, 4767)
    oos = SHIPPED["out_of_sample"]
    assert oos["london"]["mae_m"] == 144.7 and len(oos["per_borough"]) == 33
    assert oos["per_borough"]["E09000001"]["name"] == "City of London"
    assert (SHIPPED["interval"]["ratio_low"], SHIPPED["interval"]["ratio_high"]) == (0.655, 1.347)


def test_label_names_the_model_and_its_typical_error():
    assert method_label("estimated") == "estimated street distance (London model v1, typical error ±145 m)"
    low, high = london_model().interval(np.array([1000.0]))
    assert (round(float(low[0])), round(float(high[0]))) == (655, 1347)


# ------------------------------------------------------------------ the same ruler everywhere
@pytest.fixture(scope="module")
def three_areas(settings):
    return {name: load_area(name, settings) for name in ("ealing", "london:city-of-london", "london:brent")}


@pytest.mark.realdata
def test_ealing_city_and_brent_report_the_same_model_id_and_coefficients(three_areas):
    recs = {}
    for name, area in three_areas.items():
        router = default_router(area)
        assert isinstance(router, EstimatedRouter)
        assert (router.circuity, router.intercept_m) == (1.00435, 235.09)
        recs[name] = distance_model_record(router, area.homes, ["gp_practice"])
    assert {r["model_id"] for r in recs.values()} == {"london-v1"}
    assert all(r["coefficients"] == {"intercept_m": 235.09, "circuity": 1.00435} for r in recs.values())
    # each area gets its own borough's out-of-sample error
    assert list(recs["london:city-of-london"]["out_of_sample"]["boroughs"]) == ["E09000001"]
    assert recs["london:city-of-london"]["out_of_sample"]["boroughs"]["E09000001"]["n"] == 12
    assert list(recs["london:brent"]["out_of_sample"]["boroughs"]) == ["E09000005"]
    assert recs["ealing"]["out_of_sample"]["boroughs"]["E09000009"]["mae_m"] == 144.2


@pytest.mark.realdata
def test_a_run_writes_access_distance_model_json(three_areas, tmp_path):
    area = three_areas["london:city-of-london"]
    acc = api.analyse_access(area, service_types=["gp_practice"], fca=False, gaps=False)
    acc.write(tmp_path / "access", "csv", area.name)
    rec = json.loads((tmp_path / "access" / "distance_model.json").read_text(encoding="utf-8"))
    assert rec["model_id"] == "london-v1" and rec["method"] == "estimated"
    assert rec["out_of_sample"]["boroughs"]["E09000001"]["name"] == "City of London"
    assert (acc.result.table["label"] == "estimated street distance (London model v1, typical error ±145 m)").all()


@pytest.mark.realdata
def test_a_users_services_file_leaves_distances_to_other_types_unchanged(tmp_path, settings, three_areas):
    mine = tmp_path / "mine.csv"
    mine.write_text("service_id,name,service_type,postcode,action\n"
                    "gp-a,New GP A,gp_practice,W13 9JE,add\ngp-b,New GP B,gp_practice,W5 5JY,add\n"
                    "gp-c,New GP C,gp_practice,UB5 6PA,add\n", encoding="utf-8")
    base = three_areas["ealing"]
    user = load_area("ealing", settings, user_services=mine, use_cache=False)
    assert (user.services["service_id"].isin(["gp-a", "gp-b", "gp-c"])).sum() == 3
    # before: the area's own fit moved with its GP list, so every type's distances moved
    assert calibrate(user) == calibrate(base)
    d0 = api.analyse_access(base, service_types=["primary_school", "gp_practice"], fca=False, gaps=False)
    d1 = api.analyse_access(user, service_types=["primary_school", "gp_practice"], fca=False, gaps=False)
    w0, w1 = d0.result.wide.set_index("home_id"), d1.result.wide.set_index("home_id")
    assert np.array_equal(w0["distance_m__primary_school"].to_numpy(), w1["distance_m__primary_school"].to_numpy())
    assert (w1["distance_m__gp_practice"] < w0["distance_m__gp_practice"]).sum() > 100


# ------------------------------------------------------------------ outside London
def test_a_non_london_area_pack_is_refused_with_a_clear_error(tmp_path, settings):
    raw = read_toml(load_manifest("hounslow", settings).path)
    text = load_manifest("hounslow", settings).path.read_text(encoding="utf-8")
    pack_file = tmp_path / "cardiff.toml"
    pack_file.write_text(text.replace('name = "hounslow"', 'name = "cardiff"')
                         .replace(f'lad_cd = "{raw["lad_cd"]}"', 'lad_cd = "W06000015"'), encoding="utf-8")
    pack = load_manifest(pack_file, settings)
    assert pack.lad_cds == ("W06000015",)
    with pytest.raises(DistanceModelError, match=r"W06000015 lie outside the data of the distance model "
                                                 r"'london-v1'") as err:
        default_router(SimpleNamespace(pack=pack, settings=settings, homes=None))
    assert "--network FILE" in str(err.value) and err.value.exit_code == 2


# ------------------------------------------------------------------ with a street network
def test_with_a_street_network_the_record_reports_the_estimates_error_against_it():
    edges, nodes = synthetic_street_tables(40, 30, seed=5)
    net = network_from_edges(edges, nodes, "walk")
    rng = np.random.default_rng(3)
    minx, miny, maxx, maxy = net.bbox
    homes = np.column_stack([rng.uniform(minx, maxx, 300), rng.uniform(miny, maxy, 300)])
    svc = np.column_stack([rng.uniform(minx, maxx, 12), rng.uniform(miny, maxy, 12)])
    router = StreetRouter(net)
    street, _ = router.nearest(homes, svc, k=1)
    straight, _ = cKDTree(svc).query(homes, k=1)
    wide = pd.DataFrame({"distance_m__gp_practice": street[:, 0], "straight_nearest_m__gp_practice": straight})
    rec = distance_model_record(router, wide, ["gp_practice"], ["E09000009"])
    assert rec["method"] == "street" and "street distances stand" in rec["note"]
    ok = np.isfinite(street[:, 0])
    est = np.maximum(straight[ok], 235.09 + 1.00435 * straight[ok])
    got = rec["estimate_vs_street"]["gp_practice"]
    assert got["n"] == int(ok.sum()) > 250
    assert got["mae_m"] == round(float(np.mean(np.abs(est - street[ok, 0]))), 1)
    assert rec["comparison_model"]["out_of_sample"]["boroughs"]["E09000009"]["name"] == "Ealing"


# ------------------------------------------------------------------ uncertainty in the decision
def test_distance_fields_share_one_drawn_ratio_per_3km_block():
    x = np.array([500.0, 2900.0, 3100.0, 8000.0, 8100.0])
    homes = gpd.GeoDataFrame({"home_id": list("abcde")}, geometry=gpd.points_from_xy(x, np.full(5, 1000.0)))
    fields = distance_fields(homes, n_fields=6, seed=1)
    ratios = set(london_model().block_ratios)
    for f in fields:
        assert set(f.round(3)) <= ratios
        assert f["a"] == f["b"] and f["d"] == f["e"]  # same 3 km block, same error
    assert len({(f["a"], f["c"]) for f in fields}) > 1  # blocks draw independently


def test_recommendation_says_whether_the_rule_picks_the_same_locality_in_every_distance_field():
    # field 1: Northolt near the top and first most often; field 2: Southall pulls ahead by > 0.05
    table = pd.DataFrame({"score_distfield1": [0.60, 0.58, 0.40], "p_first_distfield1": [0.5, 0.3, 0.2],
                          "score_distfield2": [0.60, 0.66, 0.40], "p_first_distfield2": [0.5, 0.3, 0.2]},
                         index=["Northolt", "Southall", "Acton"])
    survives, note = distance_survival(table[["score_distfield1", "p_first_distfield1"]], "Northolt")
    assert survives is True
    assert note == ("Distance model: the choice survives its uncertainty - the rule picks Northolt again in all 1 "
                    "drawn error fields of the london-v1 estimate.")
    survives, note = distance_survival(table, "Northolt")
    assert survives is False
    assert "picks Northolt in only 1 of 2 drawn error fields of the london-v1 estimate (else Southall)" in note
    assert distance_survival(table[[]], "Northolt") == (None, "")


def test_league_interval_is_the_10th_to_90th_percentile_over_twenty_error_fields():
    model = london_model()
    # 50 homes at 14 min in one 3 km block, 50 at 10 min in the next: only a drawn ratio above
    # 15/14 (1.107 or 1.177 of the ten deciles) pushes the first block beyond 15 minutes
    x = np.r_[np.full(50, 500.0), np.full(50, 3500.0)]
    y = np.full(100, 500.0)
    minutes = np.r_[np.full(50, 14.0), np.full(50, 10.0)]
    fields = error_fields(model, x, y, 20, 22)
    assert (fields[:, 0] * 14.0 > 15.0).sum() == 2  # 2 of the 20 fields
    low, high = beyond_interval(model, x, y, minutes, np.ones(100), 15.0)
    # 18 fields give 0 % beyond, 2 give 50 %: 10th percentile 0 %, 90th interpolates to 5 %
    assert (low, round(high, 9)) == (0.0, 5.0)
    assert beyond_interval_fields("street", None, minutes, "k", 15.0) == {"k_low": None, "k_high": None}
