"""The scenario difference map: homes that gain or lose a service within pram distance.

One interactive folium page, one layer per scenario and service type: homes that come within
the headline threshold (purple) and homes that fall beyond it (orange) - the two ends of the
colour-vision-safe PuOr diverging scheme, never red/green - plus the services the scenario
opens (white dot, purple ring) and closes (dark grey dot).  Every text from data goes through
:func:`locmap.maps.web.safe_text` and the page hangs from an inert figure
(:mod:`locmap.maps._inert`); :func:`scenario_map` writes it self-contained (offline) by default.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from locmap.export import ATTRIBUTION
from locmap.maps._inert import attach
from locmap.maps.offline import save_map
from locmap.maps.web import FixedPanel, LegendPanel, safe_text
from locmap.settings import CRS_WEB

#: PuOr (ColorBrewer) ends: gains purple, losses orange (distinct under deuteranopia/protanopia).
GAIN_COLOUR = "#5e3c99"
LOSS_COLOUR = "#e66101"
CLOSED_COLOUR = "#404040"


def inert_text(value: object) -> str:
    """Text for a page: control and bidi characters shown as ``\\uXXXX`` (a page opened in a
    terminal cannot move the cursor), then :func:`locmap.maps.web.safe_text` (HTML, JavaScript
    and template characters as entities)."""
    text = "" if value is None else str(value)
    return safe_text("".join(ch if unicodedata.category(ch) not in ("Cc", "Cf", "Co", "Cs") or ch in "\n\t"
                             else f"\\u{ord(ch):04x}" for ch in text))


def _lonlat(x: np.ndarray, y: np.ndarray, crs: object) -> np.ndarray:
    pts = gpd.GeoSeries(gpd.points_from_xy(x, y), crs=crs).to_crs(CRS_WEB)
    return np.column_stack([pts.y.to_numpy(float), pts.x.to_numpy(float)])


def _swatch(colour: str, label: str, ring: bool = False) -> str:
    fill = "#ffffff" if ring else colour
    return (f"<div><span style='display:inline-block;width:11px;height:11px;border-radius:50%;margin-right:5px;"
            f"vertical-align:middle;background:{fill};border:2px solid {colour}'></span>{inert_text(label)}</div>")


def _home_layer(fg: folium.FeatureGroup, homes: pd.DataFrame, crs: object) -> None:
    if not len(homes):
        return
    ll = _lonlat(homes["x"].to_numpy(float), homes["y"].to_numpy(float), crs)
    kids = homes["pop_0_4"].to_numpy(float) if "pop_0_4" in homes.columns else np.ones(len(homes))
    for (lat, lon), kid, row in zip(ll, kids, homes.to_dict("records")):
        gain = row["change"] == "gains"
        tip = (f"{inert_text(row.get('postcode') or row.get('home_id'))}: {'gains' if gain else 'loses'} "
               f"({inert_text(_minutes(row['baseline_minutes']))} -> {inert_text(_minutes(row['scenario_minutes']))} "
               f"min); children 0-4: {kid:.1f}")
        folium.CircleMarker([lat, lon], radius=float(3 + 2 * np.sqrt(max(kid, 0.0))), weight=1,
                            color=GAIN_COLOUR if gain else LOSS_COLOUR, fill=True, fill_opacity=0.75,
                            fill_color=GAIN_COLOUR if gain else LOSS_COLOUR, tooltip=tip).add_to(fg)


def _minutes(v: object) -> str:
    f = float(v) if v is not None else np.nan
    return "none" if not np.isfinite(f) else f"{f:.0f}"


def _service_layer(fg: folium.FeatureGroup, services: gpd.GeoDataFrame, opened: bool) -> None:
    services = services[services["located"]]
    if not len(services):
        return
    ll = _lonlat(services["easting"].to_numpy(float), services["northing"].to_numpy(float), services.crs)
    for (lat, lon), row in zip(ll, services.to_dict("records")):
        tip = f"{'Opens' if opened else 'Closes'}: {inert_text(row['name'])} ({inert_text(row['service_type'])})"
        folium.CircleMarker([lat, lon], radius=7, weight=3, color=GAIN_COLOUR if opened else CLOSED_COLOUR,
                            fill=True, fill_color="#ffffff" if opened else CLOSED_COLOUR, fill_opacity=0.95,
                            tooltip=tip).add_to(fg)


def build_scenario_map(union: gpd.GeoDataFrame, states: Mapping[str, np.ndarray], homes_changed: pd.DataFrame,
                       minutes: float, attribution: str = ATTRIBUTION,
                       titles: Mapping[str, str] | None = None, outline: gpd.GeoDataFrame | None = None) -> folium.Map:
    """The difference map (module docstring) as a ``folium.Map`` without tiles or plugins."""
    titles = dict(titles or {})
    base = states["baseline"]
    pts = union[union["located"]]
    ll = _lonlat(pts["easting"].to_numpy(float), pts["northing"].to_numpy(float), union.crs) if len(pts) \
        else np.array([[51.51, -0.3]])
    m = folium.Map(location=ll.mean(axis=0).tolist(), zoom_start=12, tiles=None, control_scale=True)
    attach(m)  # rendering never compiles data text as a template (locmap.maps._inert)
    m.default_js = [js for js in m.default_js if js[0] in ("leaflet", "jquery")]
    m.default_css = [css for css in m.default_css if css[0] == "leaflet_css"]
    m.fit_bounds([ll.min(axis=0).tolist(), ll.max(axis=0).tolist()])
    if outline is not None and len(outline):
        folium.GeoJson(outline[["geometry"]].to_crs(CRS_WEB).__geo_interface__, name=inert_text("Borough"),
                       style_function=lambda _f: {"color": "#333333", "weight": 1.5, "fill": False}).add_to(m)
    hc = homes_changed[homes_changed["threshold_minutes"] == float(minutes)] if len(homes_changed) else homes_changed
    first = True
    for state, mask in states.items():
        if state == "baseline":
            continue
        types = sorted(set(hc.loc[hc["scenario"] == state, "service_type"])) if len(hc) else []
        for t in types or ["(no home changes side)"]:
            fg = folium.FeatureGroup(name=inert_text(f"{titles.get(state, state)}: {t}, {minutes:g} min"),
                                     show=first)
            first = False
            _home_layer(fg, hc[(hc["scenario"] == state) & (hc["service_type"] == t)] if types else hc.iloc[:0],
                        union.crs)
            _service_layer(fg, union[mask & ~base], opened=True)
            _service_layer(fg, union[~mask & base], opened=False)
            fg.add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    legend = LegendPanel()
    legend.add(inert_text(f"Homes, {minutes:g} min (size: children 0-4)"),
               _swatch(GAIN_COLOUR, "comes within reach") + _swatch(LOSS_COLOUR, "falls beyond reach")
               + _swatch(GAIN_COLOUR, "service opens", ring=True) + _swatch(CLOSED_COLOUR, "service closes"))
    legend.add_to(m)
    FixedPanel(inert_text(attribution), "position:fixed;bottom:4px;left:4px;z-index:1000;background:rgba(255,255,255,"
               "0.9);padding:2px 6px;font:10px Arial,sans-serif;max-width:60vw;color:#222", "locmap-attribution").add_to(m)
    return m


def scenario_map(union: gpd.GeoDataFrame, states: Mapping[str, np.ndarray], homes_changed: pd.DataFrame,
                 minutes: float, path: str | Path, attribution: str = ATTRIBUTION,
                 titles: Mapping[str, str] | None = None, outline: gpd.GeoDataFrame | None = None,
                 offline: bool = True) -> Path:
    """Write the difference map to ``path`` (self-contained unless ``offline=False``)."""
    m = build_scenario_map(union, states, homes_changed, minutes, attribution, titles, outline)
    return save_map(m, path, offline=offline)


__all__ = ["inert_text", "GAIN_COLOUR", "LOSS_COLOUR", "build_scenario_map", "scenario_map"]
