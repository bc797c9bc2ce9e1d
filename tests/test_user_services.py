"""A council's own services CSV adds, replaces and removes services; nothing is lost."""
from __future__ import annotations

import pytest

from locmap.data.area import load_area

pytestmark = pytest.mark.realdata

CSV = """service_id,name,service_type,subtype,postcode,action
hub-jubilee,Jubilee Children's Centre (new site),childrens_centre,family hub,W13 9JE,add
childrens_centres:row7,,,,,remove
bad-1,<script>alert(1)</script>,childrens_centre,,ZZ1 1ZZ,add
bad-2,Somewhere,youth_club,,W5 5JY,add
ghost,,,,,remove
"""


@pytest.fixture(scope="module")
def with_user(tmp_path_factory, settings):
    p = tmp_path_factory.mktemp("u") / "mine.csv"
    p.write_text(CSV, encoding="utf-8")
    return load_area("ealing", settings, user_services=p, use_cache=False), p


def test_user_row_adds_a_located_family_hub(with_user):
    area, _ = with_user
    hub = area.services[area.services["service_id"] == "hub-jubilee"]
    assert len(hub) == 1 and hub["located"].iloc[0] and hub["location_quality"].iloc[0] == "postcode centroid"


def test_user_remove_takes_out_the_unlocated_jubilee_row_with_a_reject_reason(with_user):
    area, _ = with_user
    assert "childrens_centres:row7" not in set(area.services["service_id"])
    r = area.rejects
    assert ((r["row"] == 7) & (r["reason"] == "removed by user file")).sum() == 1


def test_user_rows_with_problems_are_rejected_with_reasons(with_user):
    area, path = with_user
    r = area.rejects[area.rejects["source_key"] == "user"].set_index("row")["reason"].to_dict()
    assert r == {3: "unknown postcode", 4: "missing/unknown service type", 5: "unknown service_id"}
    acct = area.checks["services_accounting"].set_index("source_key").loc["user"]
    assert (acct["read"], acct["used"], acct["rejected"]) == (5, 2, 3)
