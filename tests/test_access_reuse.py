"""``analyse_access(reuse=True)``: a later call with the same area content, settings and arguments gets a copy
of the analysis kept in the process (the notebooks' later cells and notebooks in one kernel); a change to
any of them is computed afresh, never answered with the kept one."""
from __future__ import annotations

import copy
import dataclasses

import pandas as pd
import pytest

from locmap import api
from locmap.access.nearest import AccessResult

#: One service type, no gap polygons, no 2SFCA: the reuse does not depend on how much is measured.
TYPES = ["library"]


def _assert_same(a, b, name: str = "analysis") -> None:
    """Every table, number and text of ``a`` equals ``b``'s (the router is compared by the callers)."""
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, obj=name)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), name
        for k in a:
            _assert_same(a[k], b[k], f"{name}[{k!r}]")
    elif isinstance(a, (api.AccessAnalysis, AccessResult)):
        for f in dataclasses.fields(a):
            if f.name != "router":
                _assert_same(getattr(a, f.name), getattr(b, f.name), f"{name}.{f.name}")
    else:
        assert a == b, name


@pytest.fixture
def kept_cleared():
    api.forget_access_analyses()
    yield
    api.forget_access_analyses()


def test_a_repeated_call_gets_an_equal_copy_of_the_kept_analysis(ealing, settings, kept_cleared):
    first = api.analyse_access(ealing, settings, TYPES, fca=False, gaps=False, reuse=True)
    again = api.analyse_access(ealing, settings, TYPES, fca=False, gaps=False, reuse=True)
    fresh = api.analyse_access(ealing, settings, TYPES, fca=False, gaps=False)
    # kept, not measured again: a computation makes its own router
    assert again.router is first.router and fresh.router is not first.router
    _assert_same(again, fresh)
    assert again.result.table is not first.result.table and again.coverage is not first.coverage
    # a change to a copy does not reach the kept analysis
    again.result.wide["minutes__library"] = 0.0
    again.coverage.loc[:, "pop_within"] = -1.0
    third = api.analyse_access(ealing, settings, TYPES, fca=False, gaps=False, reuse=True)
    assert third.router is first.router
    _assert_same(third, fresh)


def test_changed_area_settings_or_arguments_are_measured_not_reused(ealing, settings, kept_cleared):
    area = copy.deepcopy(ealing)  # changed in place below
    kept = api.analyse_access(area, settings, TYPES, fca=False, gaps=False, reuse=True)
    # the library nearest to most homes loses its location (the same table, changed in place)
    nearest = kept.result.table.loc[kept.result.table["rank"] == 1, "service_id"]
    closed = nearest.mode().iloc[0]
    area.services.loc[area.services["service_id"] == closed, "located"] = False
    after = api.analyse_access(area, settings, TYPES, fca=False, gaps=False, reuse=True)
    assert after.router is not kept.router
    assert closed in set(nearest) and closed not in set(after.result.table["service_id"])
    _assert_same(after, api.analyse_access(area, settings, TYPES, fca=False, gaps=False))
    # slower walking: other settings, more minutes to the same libraries
    slow = api.analyse_access(area, dataclasses.replace(settings, walk_speed_kmh=3.0), TYPES, fca=False, gaps=False,
                              reuse=True)
    assert slow.router is not after.router
    assert (slow.result.wide["minutes__library"] > after.result.wide["minutes__library"]).any()
    # another argument: another gap threshold
    other = api.analyse_access(area, settings, TYPES, gap_minutes=10, fca=False, gaps=False, reuse=True)
    assert other.router is not after.router and other.gap_minutes == 10.0
    # and the unchanged call still gets the kept one
    assert api.analyse_access(area, settings, TYPES, fca=False, gaps=False, reuse=True).router is after.router


def test_an_analysis_without_gap_polygons_is_the_kept_one_without_them(ealing, settings, kept_cleared):
    """``gaps=False`` after the same call with gap polygons (notebook 07 after 03): the kept analysis without
    its polygons, equal to one computed without them."""
    kept = api.analyse_access(ealing, settings, TYPES, fca=False, reuse=True)
    bare = api.analyse_access(ealing, settings, TYPES, fca=False, gaps=False, reuse=True)
    assert bare.router is kept.router and len(kept.gap_areas_all) and len(kept.gap_areas)
    _assert_same(bare, api.analyse_access(ealing, settings, TYPES, fca=False, gaps=False))


def test_hub_sites_are_solved_once_for_the_same_locality_and_inputs(ealing, settings, monkeypatch):
    """``hub_sites(reuse=True)`` as notebook 04 asks (its scheme object, p at most the candidates) and then
    07 (``compare_scenarios(reuse=True)``: the scheme by name): the models are solved once, the copy equals
    a fresh solve and changing it does not change the kept one; another p is solved."""
    api.forget_hub_sites()
    solved = []
    real = api.suggest_sites
    monkeypatch.setattr(api, "suggest_sites", lambda *args, **kw: solved.append(args[3]) or real(*args, **kw))
    towns = api.lc.column_scheme(ealing.lsoa, "towns")
    town = ealing.lsoa.groupby("town")["pop_0_4"].sum().idxmin()
    first = api.hub_sites(ealing, settings, towns, town, p=2, p_at_most_candidates=True, reuse=True)
    first.sites.loc[:, "children_served"] = -1.0
    again = api.hub_sites(ealing, settings, "towns", town, p=2, reuse=True)
    fresh = api.hub_sites(ealing, settings, "towns", town, p=2)
    assert solved == [2, 2]  # the first call and the fresh one
    for name in ("sites", "gain", "summary"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(fresh, name), obj=name)
    assert again.stem == fresh.stem and again.locality == fresh.locality == town
    api.hub_sites(ealing, settings, "towns", town, p=3, reuse=True)
    assert solved == [2, 2, 3]
    api.forget_hub_sites()
