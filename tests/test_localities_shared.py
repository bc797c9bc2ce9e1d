"""What a run computes once for all its schemes gives the numbers each scheme computed alone gave.

``analyse_localities`` builds the scheme-independent parts of the scorecards once
(:class:`ScorecardInputs`, :class:`SpeedCoverage`, :func:`distance_field_coverage`) and reads each
scenario's criteria from the base scorecard and the scenario's access columns
(:func:`scenario_criteria`) instead of building every scenario's scorecard.  Each is checked here,
to the bit, against the plain computation on the synthetic area, for several schemes in a row.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from locmap.localities.ranking import (_scenario_criteria, distance_field_coverage, distance_field_scenarios,
                                       distance_model_scenarios, rescale_minutes, scenario_criteria, sensitivity)
from locmap.localities.schemes import column_assignment, column_scheme, scheme_from_column
from locmap.localities.scorecard import (ScorecardInputs, SpeedCoverage, build_scorecard, scenario_cards,
                                         scenario_scorecards, speed_scenarios)
from locmap.localities.testing import synthetic_area

KEY = ["childrens_centre", "gp_practice", "library"]
THRESHOLDS = (10.0, 15.0, 20.0)
SPEEDS, GAPS = (3.5, 4.0, 4.8), (10.0, 15.0, 20.0)


@pytest.fixture(scope="module")
def syn():
    area = synthetic_area(seed=4)
    area["schemes"] = [scheme_from_column(area["lsoa"], col, name)
                       for col, name in (("town", "towns"), ("pcn_code", "pcns"), ("ward_nm", "wards"))]
    area["d"] = rescale_minutes(area["distances"], 4.0)
    return area


def _card(syn, scheme, inputs=None):
    return build_scorecard(scheme.assignment, syn["lsoa"], syn["homes"], syn["services"], syn["d"],
                           key_service_types=KEY, thresholds_minutes=THRESHOLDS, gap_threshold_min=15.0,
                           scheme_name=scheme.name, walk_speed_kmh=4.0, inputs=inputs)


def test_scorecards_from_inputs_built_once_equal_scorecards_built_alone(syn):
    inputs = ScorecardInputs.of(syn["lsoa"], syn["homes"], syn["services"], syn["d"], KEY, THRESHOLDS, 15.0)
    assert inputs.key == tuple(KEY) and inputs.method is not None
    assert len(inputs.nearest_key) == len(syn["homes"])  # one row per home, in the homes' order
    for scheme in syn["schemes"]:
        alone, shared = _card(syn, scheme), _card(syn, scheme, inputs)
        pd.testing.assert_frame_equal(shared, alone, check_exact=True)
        assert len(shared) == scheme.assignment.nunique() and shared["gap_children"].sum() > 0


def test_inputs_built_for_another_gap_threshold_are_refused(syn):
    inputs = ScorecardInputs.of(syn["lsoa"], syn["homes"], syn["services"], syn["d"], KEY, THRESHOLDS, 20.0)
    with pytest.raises(ValueError, match="gap"):
        _card(syn, syn["schemes"][0], inputs)


def test_speed_scenarios_from_coverage_built_once_equal_scenario_scorecards_built_alone(syn):
    by_speed = {v: rescale_minutes(syn["distances"], v) for v in SPEEDS}
    coverage = SpeedCoverage.of(syn["homes"], by_speed, GAPS, KEY, THRESHOLDS)
    for scheme in syn["schemes"]:
        base = _card(syn, scheme)
        alone = scenario_scorecards(base, scheme.assignment, syn["homes"], by_speed, GAPS, KEY, THRESHOLDS)
        shared = scenario_scorecards(base, scheme.assignment, syn["homes"], None, GAPS, KEY, THRESHOLDS,
                                     coverage=coverage)
        assert list(shared) == list(alone) == [f"{v:g}kmh_{g:g}min" for v in SPEEDS for g in GAPS]
        for name in alone:
            pd.testing.assert_frame_equal(shared[name], alone[name], check_exact=True)


def test_field_scenarios_from_coverage_built_once_equal_those_built_alone(syn):
    coverage = distance_field_coverage(syn["homes"], syn["d"], SPEEDS, GAPS, KEY, THRESHOLDS, n_fields=2)
    assert coverage is not None  # the synthetic distances are estimated
    for scheme in syn["schemes"]:
        base = _card(syn, scheme)
        alone = distance_model_scenarios(base, scheme.assignment, syn["homes"], syn["d"], SPEEDS, GAPS, KEY,
                                         THRESHOLDS, n_fields=2)
        shared = distance_model_scenarios(base, scheme.assignment, syn["homes"], None, SPEEDS, GAPS, KEY,
                                          THRESHOLDS, coverage=coverage)
        assert list(shared) == list(alone) and len(alone) == 2 * 3 * 3
        for name in alone:
            pd.testing.assert_frame_equal(shared[name], alone[name], check_exact=True)


def test_street_distances_have_no_field_coverage(syn):
    street = syn["d"].assign(method="street")
    assert distance_field_coverage(syn["homes"], street, SPEEDS, GAPS, KEY, THRESHOLDS) is None


def _scenarios(syn, scheme, base):
    by_speed = {v: rescale_minutes(syn["distances"], v) for v in SPEEDS}
    speeds = speed_scenarios(base, scheme.assignment, syn["homes"],
                             SpeedCoverage.of(syn["homes"], by_speed, GAPS, KEY, THRESHOLDS))
    fields = distance_field_scenarios(base, scheme.assignment, syn["homes"],
                                      distance_field_coverage(syn["homes"], syn["d"], SPEEDS, GAPS, KEY,
                                                              THRESHOLDS, n_fields=2))
    return {**speeds, **fields}


def test_scenario_criteria_equal_the_criteria_of_the_scenario_scorecards(syn):
    for scheme in syn["schemes"]:
        base = _card(syn, scheme)
        scen = _scenarios(syn, scheme, base)
        cards = scenario_cards(base, scen)
        locs = sorted(base["locality"].astype(str))
        got = scenario_criteria(base, scen)
        assert list(got) == list(scen)
        for name, card in cards.items():
            want = _scenario_criteria(name, card, locs, name, None)
            np.testing.assert_array_equal(got[name], want)
            assert got[name].flags.f_contiguous  # the layout the draws' matrix products round by
        # the scenarios do differ: a 3.5 km/h, 10-minute gap is not the 4.8 km/h, 20-minute one
        assert not np.array_equal(got["3.5kmh_10min"], got["4.8kmh_20min"])


def test_sensitivity_from_scenario_criteria_equals_sensitivity_from_scenario_scorecards(syn):
    scheme = syn["schemes"][0]
    base = _card(syn, scheme)
    scen = _scenarios(syn, scheme, base)
    cards = scenario_cards(base, scen)
    want = sensitivity(cards, n_draws=500, seed=3, base_scenario="4kmh_15min")
    got = sensitivity({"4kmh_15min": cards["4kmh_15min"]}, n_draws=500, seed=3, base_scenario="4kmh_15min",
                      criteria=scenario_criteria(base, scen))
    for part in ("summary", "ranks", "base"):
        pd.testing.assert_frame_equal(got[part], want[part], check_exact=True)
    assert got["meta"] == want["meta"]
    assert "p_first_distfield2" in got["summary"].columns and got["summary"]["p_first"].sum() == pytest.approx(1)


def test_sensitivity_needs_the_base_scenarios_scorecard_with_criteria(syn):
    scheme = syn["schemes"][0]
    base = _card(syn, scheme)
    crit = scenario_criteria(base, _scenarios(syn, scheme, base))
    with pytest.raises(ValueError, match="base scenario"):
        sensitivity({}, n_draws=10, base_scenario="4kmh_15min", criteria=crit)


@pytest.mark.parametrize("name", ["towns", "pcns", "wards", "Town"])
def test_column_assignment_is_the_column_schemes_assignment(syn, name):
    got, want = column_assignment(syn["lsoa"], name), column_scheme(syn["lsoa"], name).assignment
    pd.testing.assert_series_equal(got, want, check_exact=True)
    assert got.index.name == "lsoa21cd" and got.name == "locality" and got.nunique() >= 3
