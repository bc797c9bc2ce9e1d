"""Headless-Chromium checks of exported maps (marker ``browser``).

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install -y chromium
chromium-driver``).  Skips with a reason when either is missing.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
if str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import headless  # noqa: E402
from map_fixtures import (HOSTILE_PAYLOADS, HOSTILE_TITLE, make_access, make_area, make_gaps,  # noqa: E402
                          make_hostile_area, make_hostile_layers, make_localities)

from locmap.data.area import load_area  # noqa: E402
from locmap.errors import DataRootNotFoundError  # noqa: E402
from locmap.maps.offline import save_map  # noqa: E402
from locmap.maps.web import build_map  # noqa: E402

CHROMIUM, CHROMEDRIVER = headless.CHROMIUM, headless.CHROMEDRIVER

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                       reason="headless browser missing: run `apt-get install -y chromium chromium-driver` "
                              "(needs /usr/bin/chromium and /usr/bin/chromedriver)"),
]

#: console messages that only mean "no internet" (tiles, CDN) and are not page errors
_NETWORK_NOISE = ("tile.openstreetmap.org", "Failed to load resource", "net::ERR_", "ERR_NAME_NOT_RESOLVED",
                  "ERR_INTERNET_DISCONNECTED", "ERR_CONNECTION", "favicon")


def make_driver(tmp_path: Path, width: int = 1400, height: int = 900):
    """A headless Chromium WebDriver of its own (profile under ``tmp_path``) with console logging enabled;
    the browser tests here share one per process instead (tests/conftest.py ``chromium``)."""
    return headless.start(tmp_path / "chrome-profile", width, height)


def severe_errors(driver) -> list[str]:
    """SEVERE console messages that are not tile/CDN network failures."""
    out = []
    for entry in driver.get_log("browser"):
        if entry.get("level") != "SEVERE":
            continue
        msg = entry.get("message", "")
        if any(n in msg for n in _NETWORK_NOISE):
            continue
        out.append(msg)
    return out


def open_map(driver, path: Path, timeout_s: float = 20.0) -> float | None:
    """Load ``path`` and wait until Leaflet has drawn vector layers.

    Returns seconds to first render, or ``None`` when the page finished loading without
    Leaflet (an online page with no internet: its scripts come from CDNs).
    """
    driver.get("about:blank")
    driver.get_log("browser")  # drain messages of earlier pages
    t0 = time.perf_counter()
    driver.get(path.resolve().as_uri())
    deadline = t0 + timeout_s
    while time.perf_counter() < deadline:
        state = driver.execute_script(
            "if (document.readyState !== 'complete') return 'loading';"
            "if (typeof L === 'undefined') return 'no-leaflet';"
            "return document.querySelectorAll('.leaflet-overlay-pane path, .leaflet-overlay-pane canvas')"
            ".length > 0 ? 'drawn' : 'waiting';")
        if state == "drawn":
            return time.perf_counter() - t0
        if state == "no-leaflet":
            return None
        time.sleep(0.02)
    raise AssertionError(f"map {path} did not render within {timeout_s} s")


def screenshot_variance(driver, out_png: Path) -> float:
    """Save a screenshot and return the pixel variance of its grey levels."""
    driver.save_screenshot(str(out_png))
    arr = np.asarray(Image.open(out_png).convert("L"), dtype=float)
    return float(arr.var())


def _export(tmp_path: Path, offline: bool) -> Path:
    area = make_area()
    loc, card = make_localities(area)
    m = build_map(area, access=make_access(area), gaps=make_gaps(area), localities=loc, scorecard=card,
                  offline=offline)
    return save_map(m, tmp_path / f"map_{'offline' if offline else 'online'}.html", offline=offline)


@pytest.fixture(scope="module")
def driver(chromium):
    """The process's shared browser (tests/conftest.py ``chromium``) at a 1400x900 viewport, the maps'
    background tiles refused (``headless.TILE_URLS``: the CDNs of the online variant are not)."""
    with headless.view(chromium, 1400, 900, blocked_urls=headless.TILE_URLS) as d:
        yield d


@pytest.mark.parametrize("offline", [True, False], ids=["offline", "online"])
def test_map_loads_without_js_errors(driver, tmp_path, offline):
    page = _export(tmp_path, offline)
    driver.get_log("browser")  # drain
    seconds = open_map(driver, page)
    if seconds is None:
        assert not offline, "offline map loaded without Leaflet"
        pytest.skip("online map loads Leaflet and plugins from CDNs and this machine has no internet; "
                    "the offline variant covers rendering")
    headless.settle(driver)  # the layout's deferred work ran: any error it raised is logged
    errors = severe_errors(driver)
    assert errors == [], errors
    assert seconds < 10.0
    # layer control names
    labels = driver.execute_script(
        "return Array.from(document.querySelectorAll('.leaflet-control-layers label'))"
        ".map(e => e.textContent.trim())")
    text = " | ".join(labels)
    for expected in ("Wards", "Towns", "PCN footprints (approximate)", "Need: children 0-4 per LSOA",
                     "Deprivation: IDACI decile (IoD2025)", "Pram distance to GP practice",
                     "Gap areas", "Candidate localities", "Services: Children's centre"):
        assert expected in text, (expected, labels)
    # legend visible and names the method
    legend = driver.find_element("css selector", ".locmap-legend")
    assert legend.is_displayed()
    legend_text = driver.execute_script("return arguments[0].textContent", legend)  # incl. closed sections
    assert "estimated street distance (London model v1, typical error ±145 m)" in legend_text
    assert "Natural breaks (k-means)" in legend.text
    attribution = driver.find_element("css selector", ".locmap-attribution")
    assert attribution.is_displayed() and "OpenStreetMap" in attribution.text
    if offline:
        banner = driver.find_element("css selector", ".locmap-offline-banner")
        assert banner.is_displayed() and "Offline copy" in banner.text
    var = screenshot_variance(driver, tmp_path / "shot.png")
    assert var > 100.0, f"screenshot looks blank (variance {var:.1f})"


def test_hostile_names_do_not_execute(driver, tmp_path):
    page = _export(tmp_path, offline=True)
    assert open_map(driver, page) is not None
    headless.settle(driver)
    # open every popup/tooltip-bearing layer's popup by firing clicks on all circle markers
    driver.execute_script("""
        var n = 0, seen = [];
        function open(v) {
          if (seen.indexOf(v) >= 0) return; seen.push(v);
          if (v.openPopup && v.getPopup && v.getPopup() && v._map) { v.openPopup(); n++; }
          if (v instanceof L.LayerGroup && !(v instanceof L.GeoJSON) && v.getLayers()[0] instanceof L.Marker) {
            v.eachLayer(open); }
        }
        for (var k in window) {
          try { var v = window[k]; if (v instanceof L.Layer) open(v); } catch (e) {}
        }
        window.__opened = n;""")
    headless.settle(driver)  # every image a popup made has loaded or failed: its onerror ran
    assert driver.execute_script("return window.__opened") > 10
    assert driver.execute_script("return typeof window.__xss") == "undefined"
    # the unlocated-services note and legend render escaped text literally
    body = driver.execute_script("return document.querySelector('.locmap-legend').textContent")
    assert "<b>Outreach</b> Team" in body
    # the locality label shows the template-literal text literally
    labels = driver.execute_script(
        "return Array.from(document.querySelectorAll('.locmap-loclabel, .leaflet-marker-icon'))"
        ".map(e => e.textContent)")
    assert any("${window.__xss=1}" in t for t in labels), labels
    assert severe_errors(driver) == []


#: Opens every popup and tooltip of the page (hidden layers are shown first) and returns the text
#: the reader sees: popups, tooltips, legend, title and layer control.
_READ_ALL_TEXT = """
var out = {popups: [], tooltips: [], errors: []}, map = null, seen = [], k, v;
for (k in window) { try { if (window[k] instanceof L.Map) { map = window[k]; } } catch (e) {} }
for (k in window) { try { v = window[k];
  if (v instanceof L.FeatureGroup && !map.hasLayer(v)) { v.addTo(map); } } catch (e) {} }
function read(v) {
  if (seen.indexOf(v) >= 0) { return; }
  seen.push(v);
  if (v instanceof L.GeoJSON && v.getTooltip()) {
    v.eachLayer(function (l) {
      var at = l.getBounds ? l.getBounds().getCenter() : l.getLatLng();
      l.fire('mouseover', {latlng: at}, true);
      var t = v.getTooltip().getElement();
      if (t) { out.tooltips.push(t.textContent); }
    });
  } else if (v instanceof L.Layer && v._map) {
    if (v.getPopup && v.getPopup()) { v.openPopup(); out.popups.push(v.getPopup().getElement().textContent); }
    if (v.getTooltip && v.getTooltip()) { v.openTooltip(); out.tooltips.push(v.getTooltip().getElement().textContent); }
  }
  // markers inside groups (service layers); not the thousands of home dots of the access layers
  if (v instanceof L.LayerGroup && !(v instanceof L.GeoJSON) && v.getLayers()[0] instanceof L.Marker) {
    v.eachLayer(read); }
}
for (k in window) { try { v = window[k]; if (v instanceof L.Layer) { read(v); } }
  catch (e) { out.errors.push(k + ': ' + e); } }
out.legend = document.querySelector('.locmap-legend').textContent;
out.title = document.querySelector('.locmap-title').textContent;
out.layers = document.querySelector('.leaflet-control-layers').textContent;
out.labels = Array.from(document.querySelectorAll('.locmap-loclabel')).map(function (e) { return e.textContent; });
out.images = document.querySelectorAll('img[src="x"]').length;
return out;
"""


def test_hostile_text_is_shown_literally(driver, tmp_path):
    """Every payload (template, script, HTML, mathtext, formula) reads as typed in the browser."""
    area = make_hostile_area()
    layers = make_hostile_layers(area)
    page = save_map(build_map(area, title=HOSTILE_TITLE, offline=True, **layers), tmp_path / "hostile.html",
                    offline=True)
    assert open_map(driver, page) is not None
    seen = driver.execute_script(_READ_ALL_TEXT)  # an alert() from a payload would raise here
    assert seen["errors"] == [] and seen["images"] == 0
    assert driver.execute_script("return typeof window.__xss") == "undefined"
    popups, tooltips = " | ".join(seen["popups"]), " | ".join(seen["tooltips"])
    assert len(seen["popups"]) >= len(area.located_services()) and len(seen["tooltips"]) > 40
    for p in HOSTILE_PAYLOADS:
        for text, where in ((f"Hub {p}", popups), (f"1 {p}", popups), (f"sub {p}", popups),   # name, address, subtype
                            (f"Hub {p}", tooltips)):
            assert text in where, (text, where[:300])
    for name in (*area.wards["ward_nm"], *area.towns["town"], *area.lsoa["lsoa21nm"], *area.pcns["pcn_name"]):
        assert name in tooltips, name                     # GeoJSON properties through tojson
    for name in layers["localities"]["locality"]:
        assert name in " | ".join(seen["labels"]) and f"Locality: {name}" in tooltips
    unlocated = area.services.loc[~area.services["located"], "name"]
    assert all(n in seen["legend"] for n in unlocated)    # legend note of services with no location
    assert seen["title"].startswith(HOSTILE_TITLE) and area.pack.title in seen["title"]
    assert "Services: {{7*7}} (1)" in seen["layers"]      # a type code from data, as a layer name
    assert " 49" not in popups + tooltips + seen["legend"] + seen["title"]
    assert severe_errors(driver) == []


@pytest.mark.realdata
def test_real_ealing_map(driver, tmp_path):
    try:
        area = load_area("ealing")
    except DataRootNotFoundError as exc:
        pytest.skip(f"real data not available: {exc}")
    m = build_map(area, layers=("boundaries", "need", "services"), offline=True)
    page = save_map(m, tmp_path / "ealing.html", offline=True)
    size_mb = page.stat().st_size / 1e6
    assert size_mb < 5.0, f"{size_mb:.1f} MB"
    seconds = open_map(driver, page)
    assert seconds is not None
    headless.settle(driver)
    assert severe_errors(driver) == []
    assert seconds < 3.0 * 3  # target 3 s; generous bound against slow CI machines
    assert screenshot_variance(driver, tmp_path / "ealing.png") > 100.0
