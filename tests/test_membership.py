"""One rule decides whether a postcode is the area's: its LSOA 2021 is one of the area's (the rule that
gives a home its population).  W12 9DG and HA0 1AY lie in Ealing LSOAs though the postcode directory
gives Hammersmith and Fulham and Brent: before, access and 2SFCA counted them as Ealing homes while
``locmap nearest`` answered ``outside_area``."""
from __future__ import annotations

import pytest

from locmap.cli import main
from locmap.finder.postcodes import area_members, build_index, lookup_postcodes

BORDER = {"W12 9DG": ("E01001245", "Hammersmith and Fulham"), "HA0 1AY": ("E01001308", "Brent")}


@pytest.fixture(scope="module")
def index(ealing):
    return build_index(ealing)


def test_every_home_is_a_member_and_every_member_has_an_area_lsoa(ealing):
    members = area_members(ealing.postcodes, ealing)
    homes = set(ealing.homes["postcode"].dropna())
    assert homes <= set(ealing.postcodes.index[members])
    assert set(ealing.postcodes.loc[members, "lsoa21cd"]) <= set(ealing.lsoa["lsoa21cd"])
    assert int(members.sum()) == 6592


def test_the_border_postcodes_are_ealing_homes_and_answered_as_ealing(ealing, index):
    homes = ealing.homes.set_index("postcode")
    res = lookup_postcodes(index, list(BORDER)).set_index("postcode")
    for pc, (lsoa, directory_lad) in BORDER.items():
        assert homes.loc[pc, "lsoa21cd"] == lsoa
        assert res.loc[pc, "status"] == "ok" and res.loc[pc, "home_lad_nm"] == "Ealing"
        assert index.table.loc[pc, "note"] == (f"its LSOA is Ealing's, so it counts as Ealing's (the postcode "
                                               f"directory gives {directory_lad})")


def test_nearest_command_answers_them(capsys):
    rc = main(["nearest", "--area", "ealing", "--postcode", "W12 9DG", "HA0 1AY", "--types", "gp_practice"])
    out = capsys.readouterr().out
    assert rc == 0 and "outside_area" not in out
    assert "W12 9DG (Ealing)" in out and "HA0 1AY (Ealing)" in out
