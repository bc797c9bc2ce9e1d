"""The offline finder page in headless Chromium (marker ``browser``): answers, messages,
keyboard use, no network, print view, and hostile service names shown literally.

Needs Debian's ``chromium`` and ``chromium-driver``; skips with a reason when either is missing.
The browser refuses every request over the network (DevTools' blocked URLs: http, https, ws, wss,
ftp), so a page that needed the network would fail.
"""
from __future__ import annotations

import statistics
from pathlib import Path

import headless
import pytest

from locmap.data.area import load_area
from locmap.finder import build_index, lookup_postcodes, nearest_for_postcodes
from locmap.finder.page import write_finder_page
from locmap.maps.offline import external_assets
from locmap.settings import Settings

CHROMIUM, CHROMEDRIVER = headless.CHROMIUM, headless.CHROMEDRIVER
#: how long a page may take to say it is ready (data-ready) on a busy machine
READY_TIMEOUT_S = 60

pytestmark = [
    pytest.mark.browser,
    pytest.mark.realdata,
    pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                       reason="headless browser missing: run `apt-get install -y chromium chromium-driver`"),
]

HOSTILE_GP = "<img src=x onerror=alert(1)>"
HOSTILE_LIBRARY = "{{7*7}} </script><script>alert(2)</script> ${7*7}"


@pytest.fixture(scope="module")
def area():
    return load_area("ealing")


@pytest.fixture(scope="module")
def page(area, tmp_path_factory):
    info = write_finder_page(area, tmp_path_factory.mktemp("finder") / "finder.html", k=3)
    return info


@pytest.fixture(scope="module")
def hostile_page(tmp_path_factory):
    """Ealing with two user services at UB5 6PA's point whose names are HTML / template text."""
    folder = tmp_path_factory.mktemp("hostile")
    csv = folder / "services.csv"
    csv.write_text("service_id,name,service_type,easting,northing,address\n"
                   f"x1,\"{HOSTILE_GP}\",gp_practice,510352,182899,\"<b>bold</b> & co\"\n"
                   f"x2,\"{HOSTILE_LIBRARY}\",library,510352,182899,\n", encoding="utf-8")
    settings = Settings.from_env(user_services=csv, progress=False)
    hostile = load_area("ealing", settings)
    return write_finder_page(hostile, folder / "finder.html", k=1, service_types=["gp_practice", "library"],
                             settings=settings)


@pytest.fixture(scope="module")
def driver(chromium):
    """The process's shared browser (tests/conftest.py ``chromium``) at 1300x1000, every request over
    the network refused."""
    with headless.view(chromium, 1300, 1000, blocked_urls=headless.NETWORK_URLS) as d:
        yield d


def _open(driver, path: Path, fragment: str = "") -> None:
    """Load the page and wait (up to a minute: a busy machine is slow) until it says it is ready."""
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    driver.get("about:blank")  # a new document each time (only a fragment changed would not reload)
    driver.get(path.resolve().as_uri() + fragment)
    WebDriverWait(driver, READY_TIMEOUT_S, poll_frequency=0.05).until(
        lambda d: d.execute_script("return document.documentElement.getAttribute('data-ready')") == "true")


def _search(driver, text: str):
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.common.keys import Keys  # noqa: PLC0415

    box = driver.find_element(By.ID, "pc")
    box.clear()
    box.send_keys(text + Keys.ENTER)
    return driver.find_element(By.ID, "results")


def _first(results, service_type: str) -> str:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    return results.find_element(By.CSS_SELECTOR, f"section[data-type='{service_type}'] li[data-rank='1']").text


def test_page_is_small_self_contained_and_labelled(page):
    text = page.path.read_text(encoding="utf-8")
    assert page.size_bytes < 3_000_000
    assert page.n_postcodes == 6222  # W12 9DG and HA0 1AY count as Ealing's (their LSOAs are)
    assert external_assets(text) == []
    assert "connect-src 'none'" in text and "default-src 'none'" in text
    print(f"finder page: {page.size_bytes / 1e6:.2f} MB, {page.n_postcodes} postcodes, {page.n_services} services")


def test_postcode_and_enter_shows_the_nearest_gp_with_its_minutes(driver, page, area):
    _open(driver, page.path)
    results = _search(driver, "ub5 6pa")
    assert results.get_attribute("data-status") == "ok"
    assert "Nearest services to UB5 6PA" in results.text
    expected = nearest_for_postcodes(area, ["UB5 6PA"], k=1, service_types=["gp_practice"]).iloc[0]
    minutes = round(round(expected["distance_m"]) / area.settings.metres_per_minute)
    gp = _first(results, "gp_practice")
    assert gp.startswith(f"{expected['name']} \u2013 {minutes} min")
    assert gp.startswith("CEDAR BROOK PRACTICE \u2013 7 min") and "Hillingdon (across the border)" in gp
    gp_block = results.find_element("css selector", "section[data-type='gp_practice']").text
    assert "Nearest is across the border, in Hillingdon" in gp_block
    assert "Nearest in Ealing: WEST END SURGERY \u2013 17 min" in gp_block  # London model v1
    lib = _first(results, "library")
    assert lib.startswith("Hayes End Library \u2013 22 min")  # London model v1
    # the map shows the home and the services
    assert driver.execute_script("return document.querySelectorAll('#map path.leaflet-interactive').length") > 9


def test_unknown_outside_and_non_home_postcodes_show_their_message(driver, page):
    _open(driver, page.path)
    cases = {
        "UB5 6AB": ("unknown", "No such postcode", "UB5 6AA"),
        "HA0 1AB": ("outside_area", "Outside the area", "is in Brent"),
        "SW1A 1AA": ("outside_area", "Outside the area", "district SW1A"),
        "UB18 7AT": ("non_geographic", "Not a home postcode", "PO box"),
        "UB5-6AA": ("malformed", "Not a postcode", "characters other than"),
        "": ("malformed", "Not a postcode", "Type a postcode"),
    }
    for typed, (status, title, detail) in cases.items():
        results = _search(driver, typed)
        assert results.get_attribute("data-status") == status, typed
        assert title in results.text and detail in results.text, typed
        assert driver.execute_script("return document.querySelectorAll('#map path.leaflet-interactive').length") == 0


def test_page_classifies_postcodes_like_the_python_look_up(driver, page, area):
    index = build_index(area)
    answerable = index.table.index[index.table["geographic"] & index.table["in_area"]]
    probes = [p[:-1] + c for p in answerable[::400] for c in "QZ"]  # mostly not live: suggestions
    probes += list(answerable[::700]) + ["UB5 4YW", "W7 2QJ", "TW8 0AA", "ub1 1aa"]
    expected = lookup_postcodes(index, probes)
    _open(driver, page.path)
    got = driver.execute_script("return arguments[0].map(q => window.finder.classify(q))", probes)
    for row, c in zip(expected.to_dict("records"), got):
        assert c["status"] == row["status"], row["query"]
        if row["status"] in ("unknown", "non_geographic"):
            assert (c.get("suggestion") or None) == row["suggestion"], row["query"]


def test_keyboard_only_use_and_live_region(driver, page):
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.common.keys import Keys  # noqa: PLC0415

    _open(driver, page.path)
    results = driver.find_element(By.ID, "results")
    assert results.get_attribute("aria-live") == "polite"
    label = driver.find_element(By.CSS_SELECTOR, "label[for='pc']")
    assert label.text == "Postcode of the home"
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert driver.switch_to.active_element.get_attribute("id") == "pc"
    driver.switch_to.active_element.send_keys("UB5 6AB" + Keys.ENTER)
    assert driver.switch_to.active_element.get_attribute("id") == "pc"  # focus stays for the next search
    # Tab to the suggestion, press Enter: its results appear
    for _ in range(6):
        driver.switch_to.active_element.send_keys(Keys.TAB)
        if "suggest" in (driver.switch_to.active_element.get_attribute("class") or ""):
            break
    assert driver.switch_to.active_element.text == "UB5 6AA"
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    assert results.get_attribute("data-status") == "ok" and "Nearest services to UB5 6AA" in results.text


def test_nothing_loads_from_the_network(driver, page):
    _open(driver, page.path)
    _search(driver, "W5 2ND")
    _search(driver, "UB5 6PA")
    resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources == []
    errors = [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    assert errors == []


def test_answers_take_milliseconds(driver, page, area):
    index = build_index(area)
    sample = list(index.table.index[index.table["geographic"] & index.table["in_area"]][::311])
    _open(driver, page.path)
    times = [float(_search(driver, pc).get_attribute("data-answer-ms")) for pc in sample]
    # reported, not asserted (project rule: no timing asserts)
    print(f"finder answer time over {len(times)} postcodes: median {statistics.median(times):.1f} ms, "
          f"max {max(times):.1f} ms")
    assert len(times) == len(sample)


def test_print_view_hides_the_form_and_keeps_results_and_map(driver, page):
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    _open(driver, page.path)
    _search(driver, "UB5 6PA")
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not driver.find_element(By.ID, "search").is_displayed()
        assert driver.find_element(By.ID, "results").is_displayed()
        assert driver.find_element(By.ID, "map").is_displayed()
        # the map stays the positioning box of Leaflet's layers (else markers print over the results)
        assert driver.execute_script("return getComputedStyle(document.getElementById('map')).position") == "relative"
        assert "estimated street distance (London model v1, typical error ±145 m)" in driver.find_element(By.ID, "method").text
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})


def test_hostile_service_names_show_literally(driver, hostile_page):
    from selenium.common.exceptions import NoAlertPresentException  # noqa: PLC0415

    text = hostile_page.path.read_text(encoding="utf-8")
    assert "<img src=x" not in text and "</script><script>alert(2)" not in text
    _open(driver, hostile_page.path)
    results = _search(driver, "UB5 6PA")
    gp = _first(results, "gp_practice")
    assert gp.startswith(HOSTILE_GP + " \u2013 4 min (240 m) \u2013 Ealing")  # 235 m intercept of the London model
    assert "<b>bold</b> & co" in gp
    assert _first(results, "library").startswith(HOSTILE_LIBRARY + " \u2013 ")
    assert driver.execute_script("return document.querySelectorAll('#results img, #results b, script').length") == 3
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 - raises when no alert() ran


@pytest.mark.parametrize("fragment", ["#%", "#%E0%A4%A", "#%ZZ", "#" + "%" * 50])
def test_any_url_fragment_leaves_the_page_ready_without_errors(driver, page, fragment):
    """``finder.html#%`` threw URIError (decodeURIComponent) and the page never became ready."""
    driver.get("about:blank")
    driver.get_log("browser")  # drain
    _open(driver, page.path, fragment)
    errors = [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    assert errors == []
    assert driver.execute_script("return document.getElementById('pc').value") == fragment[1:]


def test_a_postcode_fragment_is_still_answered(driver, page):
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    _open(driver, page.path, "#UB5%206PA")
    results = driver.find_element(By.ID, "results")
    assert results.get_attribute("data-status") == "ok" and "UB5 6PA" in results.text
