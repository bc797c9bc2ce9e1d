"""The workshop map as a projector shows it (issue 24): default layers, panel layout, hub sites,
shaped service markers, plain-language popups and the online variant's no-internet notice.

Browser tests use Debian's ``chromium`` + ``chromium-driver`` (skip with a reason when missing)
and an exact 1024x768 / 1400x900 viewport (DevTools metrics override); every wait is a
``WebDriverWait`` on a page condition.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
if str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import headless  # noqa: E402
from map_fixtures import (XSS_SCRIPT, XSS_TEMPLATE, make_access, make_area, make_gaps,  # noqa: E402
                          make_localities)
from test_browser import CHROMEDRIVER, CHROMIUM, severe_errors  # noqa: E402

from locmap.localities.scorecard import COLUMN_DESCRIPTIONS  # noqa: E402
from locmap.maps import offline as offline_mod  # noqa: E402
from locmap.maps.offline import save_map  # noqa: E402
from locmap.maps.palette import SERVICE_STYLES  # noqa: E402
from locmap.maps.web import (_SHAPES, build_map, locality_rows, marker_svg, needs_internet_text,  # noqa: E402
                             render_html, safe_text)

needs_browser = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="headless browser missing: run `apt-get install -y chromium chromium-driver`")

#: a number as a reader sees one: 1,234 / 12.3 / 470
FIGURE = re.compile(r"\d[\d,]*(?:\.\d+)?")
#: how raw scorecard/gap column names read once underscores become spaces
RAW_NAMES = re.compile(r"\b(pop \d|gap children|gap pop|imd score|pct |n homes|area m2|idaci rank|per 1000|"
                       r"size vs guide|hard edge)", re.I)


def _sites(area, locality: str = "Northolt") -> pd.DataFrame:
    svc = area.located_services("primary_school").iloc[:2]
    return pd.DataFrame({"model": ["mclp", "mclp"], "p": [2, 2], "order": [1, 2],
                         "site_id": svc["service_id"].to_list(), "name": [XSS_SCRIPT, "Second <i>site</i>"],
                         "children_served": [667.32, 590.52], "service_type": ["primary_school"] * 2,
                         "x": svc.geometry.x.to_list(), "y": svc.geometry.y.to_list(), "locality": [locality] * 2})


@pytest.fixture(scope="module")
def area():
    return make_area()  # pack name "synthetic": the offline copy is synthetic_offline.html


@pytest.fixture(scope="module")
def full(area):
    loc, card = make_localities(area)
    gaps = make_gaps(area)
    any_key = gaps.iloc[[1]].assign(service_type="any_key_service")
    gaps = pd.concat([gaps, any_key], ignore_index=True).set_crs(gaps.crs, allow_override=True)
    return dict(access=make_access(area), gaps=gaps, localities=loc, scorecard=card, sites=_sites(area),
                recommended="Northolt")


# ----------------------------------------------------------------------------- without a browser
def test_locality_popup_is_plain_language_with_at_most_ten_figures():
    """Every scorecard column present: 8 rows, <= 10 figures, units in labels, whole children."""
    row = pd.Series({c: 46.9 for c in COLUMN_DESCRIPTIONS} | {"gap_threshold_min": 15.0,
                                                             "pct_children_within_15min_childrens_centre": 81.25})
    rows = locality_rows(row)
    assert 1 <= len(rows) <= 8
    figures = sum(len(FIGURE.findall(v)) for _k, v in rows)
    assert figures <= 10, rows
    labels = [k for k, _v in rows]
    assert not any("_" in k or k in COLUMN_DESCRIPTIONS or RAW_NAMES.search(k) for k in labels), labels
    text = dict(rows)
    assert text["Children 0-19 beyond 15 min of every key service"] == "47 (46.9 %)"  # never 46.9 children
    assert text["Children within 15 min of a children's centre"] == "81.2 %"
    assert locality_rows(None) == [] and locality_rows(pd.Series({"note": "x"})) == []


def test_every_service_type_has_its_own_shape():
    markers = [s.marker for s in SERVICE_STYLES.values()]
    assert len(set(markers)) == len(markers), markers
    svgs = {marker_svg(s.marker, "#000000", 14) for s in SERVICE_STYLES.values()}
    assert len(svgs) == len(SERVICE_STYLES)
    assert all(m in _SHAPES or m == "o" for m in markers)  # no type falls back to a circle unasked


def test_hub_sites_are_drawn_numbered_with_escaped_plain_popups(area, full):
    page = render_html(build_map(area, offline=True, **full))
    assert "Suggested hub sites" in page
    assert page.count("class_name") == 0 and page.count('"className": "locmap-hub"') == 2
    assert "Suggested hub site 1 for Northolt" in page and "Suggested hub site 2 for Northolt" in page
    assert "Children 0-4 within reach (this site)" in page and ">667<" in page
    assert XSS_SCRIPT not in page and "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page
    assert "Recommended pathfinder locality: <b>Northolt</b>" in page
    labels = _div_icons(page, "locmap-loclabel")
    assert any("&#9733; Northolt &middot; Recommended" in t for t in labels), labels


def _div_icons(page: str, class_name: str) -> list[str]:
    """HTML of the page's DivIcons of one class (decoded from the JSON options folium writes)."""
    found = re.findall(r'"html": ("(?:[^"\\]|\\.)*"),[^}]*?"className": "' + class_name + '"', page, flags=re.S)
    return [json.loads(f) for f in found]


def test_hostile_site_and_recommended_names_stay_text(area, full):
    """Template, script and template-literal text in a hub site's name and in the recommended
    locality's name (title box, label, popup) is written escaped, never evaluated."""
    sites = full["sites"].assign(name=["{{7*7}} </script><script>window.__xss=1</script>", "${window.__xss=1}"],
                                 locality=XSS_TEMPLATE)
    page = render_html(build_map(area, offline=True, **(full | {"sites": sites, "recommended": XSS_TEMPLATE})))
    assert "</script><script>window.__xss" not in page and "${window.__xss" not in page
    assert "&#123;&#123;7*7&#125;&#125;" in page and "49 &lt;/script" not in page
    assert f"Recommended pathfinder locality: <b>{safe_text(XSS_TEMPLATE)}</b>" in page
    assert any(safe_text(XSS_TEMPLATE) + " &middot; Recommended" in t for t in _div_icons(page, "locmap-loclabel"))


def test_place_names_are_labels_unless_a_locality_already_carries_the_name(area, full):
    page = render_html(build_map(area, offline=True, **full))
    places = _div_icons(page, "locmap-place")
    # the fixture's first town is also the locality "Northolt", which carries its own label
    assert places == [safe_text("Southall & <b>Hanwell</b>"), *map(safe_text, area.wards["ward_nm"])], places
    assert "Place names: towns" in page and "Place names: wards" in page
    assert _div_icons(render_html(build_map(area, offline=True, place_labels=False, **full)), "locmap-place") == []


def test_online_variant_carries_a_notice_naming_the_offline_copy(area, full):
    online = render_html(build_map(area, **full))
    offline = render_html(build_map(area, offline=True, **full))
    text = needs_internet_text("synthetic_offline.html")
    assert "open synthetic_offline.html (in the same folder) instead" in text
    assert 'class="locmap-needs-internet"' in online and safe_text(text) in online
    assert 'class="locmap-needs-internet"' not in offline


# ----------------------------------------------------------------------------- browser helpers
def _open(driver, page: Path, timeout_s: float = 30.0) -> None:
    """Load ``page`` and wait until Leaflet drew, the layout fitted the map and the legend synced."""
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415  (test-only dependency)

    driver.get(page.resolve().as_uri())
    WebDriverWait(driver, timeout_s, poll_frequency=0.05).until(lambda d: d.execute_script(
        "if (document.readyState !== 'complete' || typeof L === 'undefined') return false;"
        "var m = null; for (var k in window) { try { if (window[k] instanceof L.Map) m = window[k]; } catch (e) {} }"
        "return !!(m && m._locmapBounds && document.querySelector('.locmap-group')"
        " && document.querySelectorAll('.leaflet-overlay-pane path').length > 0);"))


_RECTS = """
var out = {}, m = null, k;
for (k in window) { try { if (window[k] instanceof L.Map) m = window[k]; } catch (e) {} }
['.locmap-legend', '.leaflet-control-layers', '.locmap-title', '.locmap-attribution'].forEach(function (s) {
  var r = document.querySelector(s).getBoundingClientRect(); out[s] = [r.left, r.top, r.right, r.bottom]; });
var b = m._locmapBounds, a = m.latLngToContainerPoint(b.getNorthWest()), z = m.latLngToContainerPoint(b.getSouthEast());
var c = m.getContainer().getBoundingClientRect();
out.area = [a.x + c.left, a.y + c.top, z.x + c.left, z.y + c.top];
out.viewport = [window.innerWidth, window.innerHeight];
return out;
"""


#: true when no locality label's text box intersects a hub-site disc (after the layout has run)
_LABELS_CLEAR_OF_HUBS = """
var hubs = Array.from(document.querySelectorAll('.locmap-hub')).map(e => e.getBoundingClientRect());
return Array.from(document.querySelectorAll('.locmap-loctext')).every(function (el) {
  var r = el.getBoundingClientRect();
  return !hubs.some(h => r.left < h.right && h.left < r.right && r.top < h.bottom && h.top < r.bottom); });
"""


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _assert_layout(rects: dict, area_free: bool = True) -> None:
    panels = [".locmap-legend", ".leaflet-control-layers", ".locmap-title"]
    for i, p in enumerate(panels):
        for q in panels[i + 1:]:
            assert not _overlap(rects[p], rects[q]), (p, q, rects)
        assert rects[p][0] >= 0 and rects[p][1] >= 0
        assert rects[p][2] <= rects["viewport"][0] and rects[p][3] <= rects["viewport"][1], (p, rects)
    if area_free:
        for p in [*panels, ".locmap-attribution"]:
            assert not _overlap(rects[p], rects["area"]), (p, rects)


_DEFAULT_ON = """
return Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))
  .filter(function (l) { return l.querySelector('input').checked; })
  .map(function (l) { return l.textContent.trim(); });
"""

_ALL_ON = """
document.querySelectorAll('.leaflet-control-layers-overlays input').forEach(function (i) {
  if (!i.checked) { i.click(); } });
document.querySelectorAll('.locmap-group').forEach(function (d) { d.open = true; });
document.querySelectorAll('.locmap-legend details').forEach(function (d) { d.open = true; });
"""

#: every popup's HTML, with hidden layers turned on and nested groups walked
_POPUPS = """
var m = null, out = [], seen = [], k;
for (k in window) { try { if (window[k] instanceof L.Map) m = window[k]; } catch (e) {} }
function visit(l) {
  if (seen.indexOf(l) >= 0) return; seen.push(l);
  if (l.getPopup && l.getPopup()) {
    var c = l.getPopup().getContent(); out.push(typeof c === 'string' ? c : c.outerHTML);
  }
  if (l.eachLayer && !(l.getLayers && l.getLayers()[0] instanceof L.CircleMarker)) l.eachLayer(visit);
}
for (k in window) { try { var v = window[k]; if (v instanceof L.Layer) visit(v); } catch (e) {} }
return out;
"""


def _figures_in_cells(popup_html: str) -> int:
    cells = re.findall(r"<td[^>]*>(.*?)</td>", popup_html, flags=re.S)
    return sum(len(FIGURE.findall(re.sub(r"<[^>]+>", "", c))) for c in cells)


def _header_cells(popup_html: str) -> list[str]:
    return re.findall(r"<th[^>]*>(.*?)</th>", popup_html, flags=re.S)


@pytest.fixture(scope="module")
def synthetic_pages(area, full, tmp_path_factory):
    out = tmp_path_factory.mktemp("workshop")
    return {"offline": save_map(build_map(area, offline=True, **full), out / "synthetic_offline.html", offline=True),
            "online": save_map(build_map(area, **full), out / "synthetic.html")}


@pytest.fixture(scope="module")
def driver_1024(chromium):
    """The process's shared browser (tests/conftest.py ``chromium``) at an exact 1024x768 viewport, the
    maps' background tiles refused (``headless.TILE_URLS``)."""
    with headless.view(chromium, 1024, 768, blocked_urls=headless.TILE_URLS) as d:
        yield d


# ----------------------------------------------------------------------------- browser: synthetic area
@pytest.mark.browser
@needs_browser
def test_panels_never_overlap_each_other_or_the_area_at_1024x768(driver_1024, synthetic_pages):
    _open(driver_1024, synthetic_pages["offline"])
    rects = driver_1024.execute_script(_RECTS)
    assert rects["viewport"] == [1024, 768]
    _assert_layout(rects)
    # worst case: every layer on, every layer group and legend section unfolded
    driver_1024.execute_script(_ALL_ON)
    rects = driver_1024.execute_script(_RECTS)
    _assert_layout(rects, area_free=False)
    assert rects[".leaflet-control-layers"][3] <= 768 / 2 and rects[".locmap-legend"][1] >= 768 / 2
    assert severe_errors(driver_1024) == []


@pytest.mark.browser
@needs_browser
def test_the_map_opens_with_the_small_default_layer_set(driver_1024, synthetic_pages):
    _open(driver_1024, synthetic_pages["offline"])
    on = driver_1024.execute_script(_DEFAULT_ON)
    assert sorted(on) == sorted([
        "Need: children 0-4 per LSOA", "Borough boundary", "Gap areas: Any key service beyond 15 min",
        "Candidate localities", "Place names: towns", "Services: Children's centre (3)", "Services: GP practice (5)",
        "Suggested hub sites"]), on
    groups = driver_1024.execute_script(
        "return Array.from(document.querySelectorAll('.locmap-group')).map(d => [d.open, "
        "d.querySelector('summary').textContent])")
    assert all(not is_open for is_open, _t in groups)
    titles = {t for _o, t in groups}
    assert {"Services (2 of 5 on)", "Gap areas (1 of 3 on)", "Pram distance from homes (0 of 5 on)"} <= titles
    # the legend lists what is on, and follows the layer control
    legend = driver_1024.execute_script(
        "return Array.from(document.querySelectorAll('.locmap-legend [data-layers]'))"
        ".filter(e => e.style.display !== 'none').map(e => e.textContent.trim().split('\\n')[0])")
    assert not any(t.startswith("Pram-pushing") for t in legend)
    driver_1024.execute_script(
        "Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
        ".find(l => l.textContent.includes('Pram distance to GP practice')).querySelector('input').click()")
    shown = driver_1024.execute_script(
        "return Array.from(document.querySelectorAll('.locmap-legend details[data-layers]'))"
        ".filter(e => e.style.display !== 'none').map(e => e.querySelector('summary').textContent)")
    assert "Pram-pushing distance from homes" in shown
    text = driver_1024.execute_script("return document.querySelector('.locmap-legend').textContent")
    assert "15-minute threshold" in text


@pytest.mark.browser
@needs_browser
def test_popups_show_at_most_ten_figures_and_no_field_names(driver_1024, synthetic_pages):
    _open(driver_1024, synthetic_pages["offline"])
    popups = driver_1024.execute_script(_POPUPS)
    assert len(popups) >= 20
    kinds = {"locality": 0, "gap": 0, "hub": 0}
    for html in popups:
        assert _figures_in_cells(html) <= 10, html
        heads = _header_cells(html)
        assert not any("_" in h or RAW_NAMES.search(h) for h in heads), heads
        kinds["locality"] += "Locality:" in html or "recommended pathfinder" in html
        kinds["gap"] += "Gap: beyond" in html
        kinds["hub"] += "Suggested hub site" in html
    assert kinds == {"locality": 2, "gap": 3, "hub": 2}, kinds
    assert driver_1024.execute_script("return typeof window.__xss") == "undefined"


@pytest.mark.browser
@needs_browser
def test_service_markers_differ_by_shape_on_the_page(driver_1024, synthetic_pages):
    _open(driver_1024, synthetic_pages["offline"])
    shapes = driver_1024.execute_script(
        "return Array.from(document.querySelectorAll('.locmap-svc svg')).map(s => s.innerHTML)")
    assert len(set(shapes)) == 2  # children's centres (star) and GP practices (plus) are on at open
    assert any("circle" not in s for s in shapes)


@pytest.mark.browser
@needs_browser
def test_online_map_without_its_libraries_says_to_open_the_offline_copy(driver_1024, synthetic_pages, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    driver_1024.execute_cdp_cmd("Network.enable", {})
    driver_1024.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*cdn*", "*jsdelivr*", "*jquery*", "*unpkg*",
                                                                    "*cloudflare*", "*tile.openstreetmap*"]})
    try:
        driver_1024.get(synthetic_pages["online"].resolve().as_uri())
        WebDriverWait(driver_1024, 60, poll_frequency=0.05).until(
            lambda d: d.execute_script("return document.readyState") == "complete")
        assert driver_1024.execute_script("return typeof L") == "undefined"
        notice = driver_1024.find_element("css selector", ".locmap-needs-internet")
        assert notice.is_displayed()
        assert "This map needs internet" in notice.text and "open synthetic_offline.html" in notice.text
        # the same page with Leaflet available (inlined here): the notice goes away
        page = synthetic_pages["online"].read_text(encoding="utf-8")
        leaflet = offline_mod._inline_script(offline_mod._assets()["leaflet_js"])
        page = re.sub(r'<script src="[^"]*leaflet(\.min)?\.js"></script>', lambda _m: leaflet, page, count=1)
        page = re.sub(r'<script src="https?://[^"]*"></script>', "", page)
        (tmp_path / "with_leaflet.html").write_text(page, encoding="utf-8")
        driver_1024.get((tmp_path / "with_leaflet.html").as_uri())
        WebDriverWait(driver_1024, 30, poll_frequency=0.05).until(lambda d: d.execute_script(
            "return document.readyState === 'complete' && typeof L !== 'undefined'"))
        WebDriverWait(driver_1024, 10, poll_frequency=0.05).until(lambda d: d.execute_script(
            "return document.querySelectorAll('.locmap-needs-internet').length === 0"))
    finally:
        driver_1024.execute_cdp_cmd("Network.setBlockedURLs", {"urls": list(headless.TILE_URLS)})  # the module's


# ----------------------------------------------------------------------------- browser: real Ealing run
@pytest.fixture(scope="module")
def ealing_run(ealing_job):
    """The whole Ealing job, run once per test process (tests/conftest.py); read only."""
    return ealing_job


@pytest.mark.browser
@pytest.mark.realdata
@needs_browser
@pytest.mark.parametrize("size", [(1024, 768), (1400, 900)], ids=["1024x768", "1400x900"])
def test_real_ealing_workshop_map(ealing_run, driver_1024, size):
    rec = ealing_run.recommended
    sites = ealing_run.sites
    page = ealing_run.out_dir / "maps" / "ealing_offline.html"
    driver = driver_1024
    driver.get("about:blank")
    headless.set_viewport(driver, *size)  # the page opens at this size
    driver.get_log("browser")  # drain
    try:
        _open(driver, page)
        rects = driver.execute_script(_RECTS)
        assert rects["viewport"] == list(size)
        _assert_layout(rects)
        title = driver.find_element("css selector", ".locmap-title").text
        assert f"Recommended pathfinder locality: {rec}" in title
        hubs = driver.execute_script("return Array.from(document.querySelectorAll('.locmap-hub')).map(e => e.textContent)")
        assert sorted(hubs) == sorted(str(o) for o in sites.loc[sites["model"] == "mclp", "order"])
        assert driver.execute_script(_LABELS_CLEAR_OF_HUBS), "a locality label covers a hub-site disc"
        on = driver.execute_script(_DEFAULT_ON)
        assert "Gap areas: Any key service beyond 15 min" in on and "Suggested hub sites" in on
        assert sum(t.startswith("Services: ") for t in on) == 4  # Ealing's key service types
        assert len(on) == 9, on
        for html in driver.execute_script(_POPUPS):
            assert _figures_in_cells(html) <= 10, html
            assert not any("_" in h or RAW_NAMES.search(h) for h in _header_cells(html)), html
        assert severe_errors(driver) == []
    finally:
        headless.set_viewport(driver, 1024, 768)
