"""One colour system for minutes, need and gaps, measured under simulated colour-vision deficiency.

Simulation: ``colorspacious`` (Machado, Oliveira & Fernandes 2009) at severity 100, i.e.
deuteranopia, protanopia and tritanopia; distances in CAM02-UCS (about 1 unit is a
just-noticeable difference for large patches).
"""
from __future__ import annotations

import numpy as np
import pytest

from locmap.maps import palette, web

VISIONS = (None, "deuteranopia", "protanopia", "tritanopia")
#: the pram-distance ramp before issue 24 (green -> red), which this system replaces
OLD_MINUTES = ["#1a9850", "#a6d96a", "#fdae61", "#d73027"]


@pytest.mark.parametrize("vision", VISIONS, ids=lambda v: v or "normal")
def test_adjacent_minute_classes_stay_apart_in_every_vision(vision):
    colours = palette.minute_colours()  # 0-10, 10-15, 15-20, 20+, no reachable service
    d = palette.adjacent_distances(colours, vision)
    assert len(d) == 4
    assert d.min() >= palette.MIN_ADJACENT_CAM02UCS == 20.0, (vision, d.round(1))


@pytest.mark.parametrize("vision", VISIONS, ids=lambda v: v or "normal")
def test_the_15_minute_line_is_a_clear_step_in_every_vision(vision):
    """10-15 and 15-20 minutes: the threshold the analysis rests on never merges."""
    near, far = (c for c in palette.MINUTE_CLASSES if c.lower_min in (10.0, palette.THRESHOLD_MINUTES))
    assert not near.beyond_threshold and far.beyond_threshold
    step = palette.adjacent_distances([near.colour, far.colour], vision)[0]
    assert step >= 25.0, (vision, round(step, 1))


def test_the_old_green_to_red_ramp_fails_the_same_measure():
    """The check can fail: under deuteranopia the old 10-15 and 15-20 colours are 2.4 apart."""
    d = palette.adjacent_distances(OLD_MINUTES, "deuteranopia")
    assert d[1] < 5.0
    dist, vision, pair = palette.min_adjacent_distance(OLD_MINUTES)
    assert dist < palette.MIN_ADJACENT_CAM02UCS and vision == "deuteranopia" and pair == ("#a6d96a", "#fdae61")


def test_minimum_over_visions_names_the_worst_case():
    dist, vision, pair = palette.min_adjacent_distance(palette.minute_colours())
    assert 20.0 <= dist < 30.0
    assert vision in {"normal", *palette.CVD_KINDS} and pair[0] in palette.minute_colours()


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_need_classes_stay_apart_in_every_vision(n):
    colours = palette.need_colours(n)
    assert len(set(colours)) == n
    dist, vision, pair = palette.min_adjacent_distance(colours)
    assert dist >= palette.MIN_ADJACENT_CAM02UCS_NEED == 12.0, (n, vision, pair, round(dist, 1))


def test_more_than_five_need_classes_come_closer_than_the_bar():
    """Why maps classify need into 5 classes: 7 classes of one ramp are under 8 units apart (tritanopia)."""
    assert palette.min_adjacent_distance(palette.need_colours(7))[0] < 8.0
    assert web.add_need_choropleth.__defaults__[2] == 5  # k


def test_need_ramp_runs_light_to_dark():
    lightness = [palette.rgb_to_lab(palette.hex_to_rgb(c))[0] for c in palette.need_colours(5)]
    assert all(a > b for a, b in zip(lightness, lightness[1:])), lightness


@pytest.mark.parametrize("vision", VISIONS, ids=lambda v: v or "normal")
def test_gap_colour_stands_out_on_every_need_class(vision):
    """Gap outlines are drawn over the need choropleth (both on at first open)."""
    d = [palette.adjacent_distances([palette.GAP_COLOUR, c], vision)[0] for c in palette.need_colours(5)]
    assert min(d) >= 30.0, (vision, np.round(d, 1))


def test_gap_colour_means_beyond_the_threshold():
    first_far = next(c for c in palette.MINUTE_CLASSES if c.beyond_threshold)
    assert palette.GAP_COLOUR == first_far.colour


def test_simulation_reproduces_the_red_green_confusion():
    """Anchor for the library: pure red and green merge for a deuteranope, not for normal vision."""
    normal = palette.adjacent_distances(["#ff0000", "#00aa00"])[0]
    deutan = palette.adjacent_distances(["#ff0000", "#00aa00"], "deuteranopia")[0]
    tritan = palette.adjacent_distances(["#0000ff", "#00a000"], "tritanopia")[0]
    assert normal > 40.0 and deutan < 15.0 and tritan > 15.0


def test_minute_class_index_and_web_bands_follow_the_palette():
    idx = palette.minute_class_index(np.array([0.0, 9.99, 10.0, 14.9, 15.0, 19.9, 20.0, 95.0, np.nan, np.inf]))
    assert idx.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]  # NaN, inf: no reachable service
    assert [b[3] for b in web.ACCESS_BANDS] == [c.colour for c in palette.MINUTE_CLASSES]
    assert [b[2] for b in web.ACCESS_BANDS] == ["0–10 min", "10–15 min", "15–20 min", "20+ min"]
