"""Screenshots of a workshop map as a projector shows it, and colour-vision simulations of them.

    python benchmarks/map_screenshots.py OUT/maps/ealing_offline.html /tmp/shots

Writes, for 1024x768 and 1400x900 viewports (headless Chromium, exact viewport):
``default_<w>x<h>.png`` (the map as it opens), ``minutes_<w>x<h>.png`` (need off, pram distance
to any key service on, legend open), ``popup_<w>x<h>.png`` (the recommended locality's popup),
and ``minutes_1024x768_<deficiency>.png`` simulated with colorspacious (severity 100).
Prints the panel rectangles.  Needs Debian's chromium + chromium-driver and selenium.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import colorspacious
import numpy as np
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

READY = ("return document.readyState === 'complete' && typeof L !== 'undefined' && "
         "!!document.querySelector('.locmap-group')")
RECTS = """var o = {}; ['.locmap-legend', '.leaflet-control-layers', '.locmap-title', '.locmap-attribution']
  .forEach(function (s) { var r = document.querySelector(s).getBoundingClientRect();
  o[s] = [r.left, r.top, r.right, r.bottom].map(Math.round); }); return o;"""
MINUTES = """
document.querySelectorAll('.leaflet-control-layers-overlays label').forEach(function (l) {
  var t = l.textContent.trim(), i = l.querySelector('input');
  if ((t.indexOf('Need: children 0-4') === 0 && i.checked) || (t.indexOf('Pram distance to Any') === 0 && !i.checked)) {
    i.click(); } });"""
POPUP = """
var m = null; for (var k in window) { try { if (window[k] instanceof L.Map) m = window[k]; } catch (e) {} }
for (var k in window) { try { var v = window[k];
  if (v instanceof L.GeoJSON && v.getPopup && v.getPopup()
      && String(v.getPopup().getContent().outerHTML || v.getPopup().getContent()).indexOf('recommended') >= 0) {
    v.openPopup(v.getBounds().getCenter()); } } catch (e) {} }"""


def driver_for(width: int, height: int, profile: Path) -> webdriver.Chrome:
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        opts.add_argument(arg)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    return d


def simulate(png: Path, deficiency: str) -> Path:
    """``png`` as seen with a dichromacy (colorspacious, Machado 2009, severity 100)."""
    rgb = np.asarray(Image.open(png).convert("RGB"), dtype=float) / 255.0
    space = {"name": "sRGB1+CVD", "cvd_type": deficiency, "severity": 100}
    out = np.clip(colorspacious.cspace_convert(rgb, space, "sRGB1"), 0, 1)
    target = png.with_name(f"{png.stem}_{deficiency.replace('anomaly', 'anopia')}.png")
    Image.fromarray((out * 255).round().astype(np.uint8)).save(target)
    return target


def main(page: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for width, height in ((1024, 768), (1400, 900)):
        d = driver_for(width, height, out / f"profile-{width}")
        try:
            d.get(page.resolve().as_uri())
            WebDriverWait(d, 60).until(lambda drv: drv.execute_script(READY))
            print(width, height, json.dumps(d.execute_script(RECTS)))
            d.save_screenshot(str(out / f"default_{width}x{height}.png"))
            d.execute_script(POPUP)
            WebDriverWait(d, 10).until(lambda drv: drv.execute_script(
                "return !!document.querySelector('.leaflet-popup')"))
            d.save_screenshot(str(out / f"popup_{width}x{height}.png"))
            d.execute_script("document.querySelectorAll('.leaflet-popup-close-button').forEach(b => b.click());")
            d.execute_script(MINUTES)
            WebDriverWait(d, 10).until(lambda drv: drv.execute_script(
                "return Array.from(document.querySelectorAll('.locmap-legend details[data-layers]'))"
                ".some(e => e.style.display !== 'none' && e.textContent.indexOf('Pram-pushing') >= 0)"))
            d.save_screenshot(str(out / f"minutes_{width}x{height}.png"))
        finally:
            d.quit()
    for deficiency in ("deuteranomaly", "protanomaly", "tritanomaly"):
        print(simulate(out / "minutes_1024x768.png", deficiency))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
