"""The headless Chromium of the browser tests (marker ``browser``): Debian's ``chromium`` and
``chromium-driver`` (``apt-get install -y chromium chromium-driver``); tests skip with a reason when
either is missing.

One browser serves every browser test of a test process (tests/conftest.py ``chromium``): starting one
costs about a second of wall and CPU.  Each test file sets its own viewport and network rule for the
time of the file (:func:`view`), and each test loads its own page (a new document: nothing of an
earlier page's scripts or DOM carries over).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

#: every request over the network (the finder page must work without any)
NETWORK_URLS = ("http://*", "https://*", "ws://*", "wss://*", "ftp://*")
#: the maps' background tiles (OpenStreetMap's tile server): no test reads them, and without internet
#: each tile's failed DNS look-up may take seconds while the page's load event waits for its image
TILE_URLS = ("*tile.openstreetmap.org*",)

#: an asynchronous script that returns once every image of the page has loaded or failed (so an
#: injected ``<img src=x onerror=...>`` has run its handler), then one frame and the page's
#: zero-delay timers queued until then have run (the map layout and the label declutter)
_SETTLE = """
var done = arguments[arguments.length - 1];
(function check() {
  if (Array.from(document.images).every(function (i) { return i.complete; })) {
    requestAnimationFrame(function () { setTimeout(done, 0); });
  } else { setTimeout(check, 10); }
})();
"""


def start(profile: Path, width: int = 1400, height: int = 900):
    """A headless Chromium WebDriver (its profile in ``profile``) with console logging enabled."""
    # selenium is a test-only dependency, imported here so collection works without it
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)


def set_viewport(driver, width: int, height: int) -> None:
    """An exact ``width`` x ``height`` CSS-pixel viewport (DevTools metrics override)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


@contextmanager
def view(driver, width: int, height: int, blocked_urls: tuple[str, ...] = ()) -> Iterator:
    """``driver`` on a blank page at a ``width`` x ``height`` viewport, its console drained, with
    requests matching ``blocked_urls`` refused; the viewport, media and network rules are reset after."""
    driver.get("about:blank")
    set_viewport(driver, width, height)
    if blocked_urls:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": list(blocked_urls)})
    driver.get_log("browser")  # drain messages of earlier files' pages
    try:
        yield driver
    finally:
        if blocked_urls:
            driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
            driver.execute_cdp_cmd("Network.disable", {})
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        driver.get("about:blank")


def settle(driver) -> None:
    """Wait until the page's images have loaded or failed and its queued zero-delay work has run."""
    driver.execute_async_script(_SETTLE)
