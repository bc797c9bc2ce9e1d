"""Hostile text end to end: no template, script, mathtext or formula from data ever runs.

Part 1 checks the mechanism (``locmap.maps._inert``) on raw folium elements that bypass
``safe_text``; part 2 runs every payload through every text field of the Python API; part 3
runs the CLI on a hostile services CSV; the browser checks are in ``tests/test_browser.py``.
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import branca.element
import folium
import jinja2
import pytest
from branca.element import Element, Figure

sys.path.insert(0, str(Path(__file__).resolve().parent))
if str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from map_fixtures import make_access, make_area, make_gaps, make_localities  # noqa: E402

from locmap.maps import _inert  # noqa: E402
from locmap.maps.web import build_map, render_html  # noqa: E402

CANARY = "CANARY"
RCE = "{{ cycler.__init__.__globals__.os.system('touch CANARY') }}"


@pytest.fixture(scope="module")
def area():
    return make_area()


@pytest.fixture(scope="module")
def layers(area):
    loc, card = make_localities(area)
    return dict(access=make_access(area), gaps=make_gaps(area), localities=loc, scorecard=card)


# --------------------------------------------------------------------------- part 1: mechanism
@pytest.mark.parametrize("offline", [False, True], ids=["online", "offline"])
def test_inert_render_is_byte_identical_to_jinja_render_for_normal_maps(area, layers, offline):
    m = build_map(area, offline=offline, **layers)
    fig = m.get_root()
    assert isinstance(fig, _inert.InertFigure)
    _inert.number_elements(fig)
    with_jinja_second_pass = Figure.render(fig)          # branca's own render
    again = build_map(area, offline=offline, **layers)
    inert = render_html(again)
    assert len(inert) > 100_000
    assert inert == with_jinja_second_pass


def test_raw_template_text_in_folium_elements_is_shown_not_run(area, tmp_path, monkeypatch):
    """Text that skips safe_text entirely (tooltip, popup, GeoJSON property) stays literal."""
    monkeypatch.chdir(tmp_path)
    m = build_map(area, layers=("boundaries",), offline=True)
    folium.Marker([51.51, -0.3], tooltip="T {{7*7}} " + RCE, popup=folium.Popup("P {% for x in range(3) %}x",
                                                                          parse_html=False)).add_to(m)
    folium.GeoJson({"type": "Feature", "properties": {"name": "G {{7*7}} {# {{"},
                    "geometry": {"type": "Point", "coordinates": [-0.3, 51.51]}}).add_to(m)
    page = render_html(m)
    assert not (tmp_path / CANARY).exists()
    assert "T {{7*7}} " + RCE in page and "T 49" not in page
    assert "P {% for x in range(3) %}x" in page
    assert '"G {{7*7}} {# {{"' in page and "G 49" not in page


def test_rendering_twice_gives_the_same_page(area, layers):
    m = build_map(area, offline=True, **layers)
    assert render_html(m) == render_html(m)


def test_template_and_ids_restored_after_a_failed_render(area):
    m = build_map(area, layers=("boundaries",), offline=True)
    original_id = Element.__dict__["_generate_id"]

    class Boom(folium.map.Layer):
        def render(self, **kwargs):
            raise RuntimeError("boom")

    Boom().add_to(m)
    with pytest.raises(RuntimeError, match="boom"):
        render_html(m)
    assert branca.element.Template is jinja2.Template
    assert Element.__dict__["_generate_id"] is original_id
    assert Element("{{ 6*7 }}").render() == "42"  # branca itself is unchanged outside locmap renders


def test_other_threads_get_real_templates_while_locmap_renders():
    seen = []
    with _inert.inert_rendering():
        assert Element("{{ 6*7 }}").render() == "{{ 6*7 }}"
        t = threading.Thread(target=lambda: seen.append(Element("{{ 6*7 }}").render()))
        t.start()
        t.join()
    assert seen == ["42"]


def test_literal_template_normalises_like_jinja():
    for text in ("a\r\nb\rc\n", "x\n\n", "", "no newline", "\n"):
        assert _inert.LiteralTemplate(text).render() == jinja2.Template(text).render()
