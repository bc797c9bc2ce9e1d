"""Schemes handed to ``analyse_localities`` already built (``built=``: ``locmap run`` builds the
auto schemes in another process meanwhile) give the analysis that building them in place gives,
and are asked for only when their spec is scored, after the specs before it."""
from __future__ import annotations

import pandas as pd
import pytest

from locmap import api

pytestmark = pytest.mark.realdata

SCHEMES, K = ("towns", "auto", "pcns"), "3..4"


@pytest.fixture(scope="module")
def distances(ealing, settings):
    return api._distances(ealing, settings)[0]


def _analyse(ealing, distances, settings, built=None):
    return api.analyse_localities(ealing, distances, schemes=SCHEMES, k_values=K, n_draws=200, settings=settings,
                                  built=built)


def test_schemes_built_elsewhere_give_the_analysis_built_in_place(ealing, distances, settings, monkeypatch):
    plain = _analyse(ealing, distances, settings)
    auto = api.build_schemes(ealing, "auto", K)
    scored: list[str] = []
    real = api._score_scheme
    monkeypatch.setattr(api, "_score_scheme", lambda sch, *a, **k: scored.append(sch.name) or real(sch, *a, **k))
    asked: list[list[str]] = []
    given = _analyse(ealing, distances, settings, built={"auto": lambda: asked.append(list(scored)) or auto})
    assert asked == [["towns"]]  # once, when auto's turn came: towns scored first, pcns after
    assert scored == ["towns", "auto_skater_k3", "auto_skater_k4", "pcns"]
    assert list(given.scorecards) == list(plain.scorecards) == scored
    for name in scored:
        pd.testing.assert_frame_equal(given.scorecards[name], plain.scorecards[name], check_exact=True)
        pd.testing.assert_frame_equal(given.sensitivity[name], plain.sensitivity[name], check_exact=True)
    for table in ("generated", "alignment", "leaders"):
        pd.testing.assert_frame_equal(getattr(given, table), getattr(plain, table), check_exact=True)
    assert given.best_generated == plain.best_generated is not None
