"""Region maps: one choropleth of the boroughs, as an offline HTML page and a printable PNG.

Both maps take plain frames, so any caller can draw them:

- ``outlines``: ``lad_cd, lad_nm, geometry`` (any projected or geographic CRS, set);
- ``figures``: one row per borough that ran, ``lad_cd`` plus the mapped percentages and the
  text of the tooltips;
- ``failed``: ``lad_cd, reason`` of the boroughs that did not run (drawn grey and hatched,
  the reason in the tooltip).

:func:`build_region_map` makes a self-contained Leaflet page (no tiles, no CDN: save it with
``locmap.maps.offline.save_map(m, path, offline=True)``, which inlines Leaflet), with one
radio-button layer per mapped column, a legend, tooltips, a title and the attribution.
:func:`region_figure` draws the same classes with matplotlib (legend, scale bar, north arrow,
attribution).  Every text from data is inert: HTML/JS/template syntax escaped by
:func:`locmap.maps.web.safe_text` (and the page hangs from an ``InertFigure``), matplotlib
mathtext off (:func:`locmap.maps.static.literal_text`).

Classes are fixed (:data:`PCT_CLASSES`), so every layer, every run and both maps share one
legend and colours mean the same everywhere.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import folium
import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import shapely
from matplotlib.colors import to_hex
from matplotlib.patches import Patch
from matplotlib.patheffects import withStroke

from locmap.export import ATTRIBUTION
from locmap.maps._inert import attach
from locmap.maps.static import SheetFigure, add_attribution, add_map_furniture, literal_text, new_figure
from locmap.maps.web import FixedPanel, LegendPanel, safe_text, to_display
from locmap.settings import CRS_METRIC, CRS_WEB

__all__ = ["PCT_CLASSES", "NOT_RUN_COLOUR", "RegionLayer", "pct_classes", "class_colours", "class_texts",
           "build_region_map", "region_figure"]

#: Lower bounds (percent) of the classes of every "% beyond" map; the last is open-ended.
PCT_CLASSES: tuple[float, ...] = (0.0, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0)
#: Fill of boroughs that did not run (and of boroughs without a value).
NOT_RUN_COLOUR = "#bdbdbd"
#: Fill opacity of the choropleth (legend swatches use the same).
FILL_OPACITY = 0.8

_PAGE_CSS = """<style>
.leaflet-control-layers-expanded{font:12px/1.3 Arial,sans-serif;max-width:300px}
.leaflet-control-attribution{display:none}
.leaflet-container{background:#f4f4f2}
.leaflet-bottom.leaflet-left{bottom:44px}
</style>"""


@dataclass(frozen=True)
class RegionLayer:
    """One choropleth layer: ``column`` of ``figures`` (percent), its name in the layer control
    and the label of its value in the tooltip (plain text; escaped when drawn)."""

    column: str
    name: str
    value_label: str


# --------------------------------------------------------------------------- classes
def pct_classes(values: Any) -> np.ndarray:
    """Class index of each percentage (:data:`PCT_CLASSES`; -1 for missing values)."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(float)
    idx = np.searchsorted(np.asarray(PCT_CLASSES), v, side="right") - 1
    return np.where(np.isfinite(v), np.clip(idx, 0, len(PCT_CLASSES) - 1), -1)


def class_colours() -> list[str]:
    """One colour per class, light to dark (matplotlib YlOrRd)."""
    n = len(PCT_CLASSES)
    return [to_hex(matplotlib.colormaps["YlOrRd"](0.08 + 0.87 * i / (n - 1))) for i in range(n)]


def class_texts() -> list[str]:
    """Legend text of each class: ``"under 1%"``, ``"1-2.5%"``, ..., ``"40% or more"``."""
    b = [f"{x:g}" for x in PCT_CLASSES]
    return [f"under {b[1]}%"] + [f"{b[i]}-{b[i + 1]}%" for i in range(1, len(b) - 1)] + [f"{b[-1]}% or more"]


def _value_text(value: Any) -> str:
    v = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return "no figure" if pd.isna(v) else f"{float(v):.1f}%"


def _cell(value: Any) -> str:
    """A tooltip value as text: numbers with thousands separators, text as given."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return "" if not np.isfinite(value) else f"{value:,.1f}"
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


# --------------------------------------------------------------------------- inputs
def _joined(outlines: gpd.GeoDataFrame, figures: pd.DataFrame, failed: pd.DataFrame | None,
            tolerance_m: float) -> gpd.GeoDataFrame:
    """Outlines (EPSG:27700, simplified for display) with the figures and the failure reasons."""
    for col in ("lad_cd", "lad_nm"):
        if col not in outlines.columns:
            raise KeyError(f"outlines need a '{col}' column (have {list(outlines.columns)})")
    if "lad_cd" not in figures.columns:
        raise KeyError(f"figures need a 'lad_cd' column (have {list(figures.columns)})")
    out = outlines[["lad_cd", "lad_nm", "geometry"]].to_crs(CRS_METRIC)
    out = out.merge(figures.drop(columns=[c for c in ("lad_nm", "geometry") if c in figures.columns]),
                    on="lad_cd", how="left", validate="one_to_one")
    reasons = (failed.drop_duplicates("lad_cd").set_index("lad_cd")["reason"] if failed is not None and len(failed)
               else pd.Series(dtype=object))
    out["_failed"] = out["lad_cd"].isin(reasons.index)
    out["_reason"] = out["lad_cd"].map(reasons)
    if tolerance_m:
        out = out.set_geometry(out.geometry.simplify(tolerance_m, preserve_topology=True))
    return gpd.GeoDataFrame(out, geometry="geometry", crs=CRS_METRIC)


# --------------------------------------------------------------------------- HTML
def build_region_map(outlines: gpd.GeoDataFrame, figures: pd.DataFrame, layers: Sequence[RegionLayer],
                     tooltip_rows: Sequence[tuple[str, str]] = (), failed: pd.DataFrame | None = None,
                     title: str = "", subtitle: str = "", legend_title: str = "",
                     attribution: str = ATTRIBUTION, tolerance_m: float = 20.0) -> folium.Map:
    """The region's boroughs as an offline Leaflet page: one choropleth layer per ``layers``.

    Parameters
    ----------
    outlines : GeoDataFrame
        ``lad_cd, lad_nm, geometry`` of every borough.
    figures : DataFrame
        ``lad_cd`` and, per borough that ran, the ``layers`` columns (percent) and the
        ``tooltip_rows`` columns.
    layers : sequence of RegionLayer
        Choropleths, the first shown; the layer control switches between them (radio buttons).
    tooltip_rows : sequence of (label, column)
        Key figures shown in every tooltip under the layer's own value.
    failed : DataFrame, optional
        ``lad_cd, reason`` of boroughs that did not run: grey, dashed outline, reason in the tooltip.
    title, subtitle, legend_title, attribution : str
        Page text (escaped here).
    tolerance_m : float
        Display simplification of the outlines (metres).

    Returns
    -------
    folium.Map
        No tile layer and no plugin: saved with ``save_map(m, path, offline=True)`` the page
        loads nothing from the network.
    """
    if not layers:
        raise ValueError("build_region_map needs at least one layer")
    shown = _joined(outlines, figures, failed, tolerance_m)
    minx, miny, maxx, maxy = shown.to_crs(CRS_WEB).total_bounds
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=10, tiles=None,
                   control_scale=True, zoom_snap=0.25)
    attach(m)  # rendering never compiles data text as a template (locmap.maps._inert)
    m.default_js = [js for js in m.default_js if js[0] in ("leaflet", "jquery")]
    m.default_css = [css for css in m.default_css if css[0] == "leaflet_css"]
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    for i, layer in enumerate(layers):
        _choropleth(m, shown, layer, tooltip_rows, show=i == 0)
    if shown["_failed"].any():
        _failed_layer(m, shown)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    _panels(m, title, subtitle, legend_title, attribution, bool(shown["_failed"].any()))
    return m


def _tooltip_html(row: pd.Series, layer: RegionLayer, rows: Sequence[tuple[str, str]]) -> str:
    """The tooltip of one borough on one layer; every piece escaped."""
    if row["_failed"]:
        return (f"<b>{safe_text(row['lad_nm'])}</b><br>Not run: {safe_text(row['_reason'])}")
    cells = "".join(f"<tr><th style='text-align:left;padding-right:6px'>{safe_text(label)}</th>"
                    f"<td>{safe_text(_cell(row.get(col)))}</td></tr>" for label, col in rows)
    return (f"<b>{safe_text(row['lad_nm'])}</b><br>{safe_text(layer.value_label)}: "
            f"<b>{safe_text(_value_text(row.get(layer.column)))}</b>"
            f"<table style='font-size:12px'>{cells}</table>")


def _choropleth(m: folium.Map, shown: gpd.GeoDataFrame, layer: RegionLayer,
                rows: Sequence[tuple[str, str]], show: bool) -> None:
    colours = class_colours()
    values = shown[layer.column] if layer.column in shown.columns else pd.Series(np.nan, index=shown.index)
    cls = np.where(shown["_failed"], -1, pct_classes(values))
    tips = [_tooltip_html(r, layer, rows) for _, r in shown.iterrows()]
    disp = to_display(shown.assign(_cls=cls.astype(int), tip=tips, _failed=shown["_failed"].astype(int)), 0.0,
                      columns=["_cls", "tip", "_failed"])
    fg = folium.FeatureGroup(name=safe_text(layer.name), overlay=False, show=show)
    folium.GeoJson(
        disp.__geo_interface__,
        style_function=lambda f, c=colours: {
            "fillColor": c[f["properties"]["_cls"]] if f["properties"]["_cls"] >= 0 else NOT_RUN_COLOUR,
            "color": "#333333", "weight": 0.8, "fillOpacity": FILL_OPACITY,
            "dashArray": "4 3" if f["properties"]["_failed"] else None},
        highlight_function=lambda _f: {"weight": 2.5},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
    ).add_to(fg)
    fg.add_to(m)


def _hatch_lines(geom: Any, step_m: float = 600.0) -> np.ndarray:
    """45-degree lines ``step_m`` apart clipped to ``geom`` (EPSG:27700 metres)."""
    minx, miny, maxx, maxy = geom.bounds
    h = maxy - miny
    starts = np.arange(minx - h, maxx, step_m)
    parts = shapely.intersection(shapely.linestrings([[(k, miny), (k + h, maxy)] for k in starts]), geom)
    return parts[~shapely.is_empty(parts)]


def _failed_layer(m: folium.Map, shown: gpd.GeoDataFrame) -> None:
    """Hatching over the boroughs that did not run (an overlay above every choropleth)."""
    lines = np.concatenate([_hatch_lines(g) for g in shown.loc[shown["_failed"], "geometry"]])
    if not len(lines):
        return
    hatch = to_display(gpd.GeoDataFrame(geometry=lines, crs=CRS_METRIC), 0.0)
    fg = folium.FeatureGroup(name="Boroughs not run (hatched)", overlay=True, show=True)
    folium.GeoJson(hatch.__geo_interface__, style_function=lambda _f: {"color": "#555555", "weight": 1},
                   interactive=False).add_to(fg)
    fg.add_to(m)


def _swatch(colour: str, label_html: str, hatched: bool = False) -> str:
    pattern = ("background-image:repeating-linear-gradient(45deg,#555 0 1px,transparent 1px 5px);"
               if hatched else "")
    return (f"<div><span style='display:inline-block;width:14px;height:12px;margin-right:5px;vertical-align:middle;"
            f"background-color:{colour};opacity:{FILL_OPACITY};{pattern}border:1px solid #333'></span>"
            f"{label_html}</div>")


def _panels(m: folium.Map, title: str, subtitle: str, legend_title: str, attribution: str,
            any_failed: bool) -> None:
    legend = LegendPanel()
    rows = "".join(_swatch(c, safe_text(t)) for c, t in zip(class_colours(), class_texts()))
    if any_failed:
        rows += _swatch(NOT_RUN_COLOUR, "Not run (reason in the tooltip)", hatched=True)
    legend.add(safe_text(legend_title or "Percent"), rows)
    legend.add_to(m)
    FixedPanel(_PAGE_CSS, "display:none", "locmap-css").add_to(m)
    FixedPanel(f"<b>{safe_text(title)}</b><br><span style='font-size:11px'>{safe_text(subtitle)}</span>",
               "position:fixed;top:10px;left:60px;z-index:1000;background:rgba(255,255,255,0.93);"
               "padding:4px 10px;border:1px solid #888;border-radius:4px;font:14px Arial,sans-serif;"
               "max-width:45vw", "locmap-title").add_to(m)
    FixedPanel(safe_text(attribution),
               "position:fixed;bottom:4px;left:4px;z-index:1000;background:rgba(255,255,255,0.9);"
               "padding:2px 6px;font:10px Arial,sans-serif;max-width:60vw;color:#222;border-radius:3px",
               "locmap-attribution").add_to(m)


# --------------------------------------------------------------------------- PNG
def region_figure(outlines: gpd.GeoDataFrame, figures: pd.DataFrame, column: str,
                  failed: pd.DataFrame | None = None, title: str = "", subtitle: str = "",
                  legend_title: str = "", attribution: str = ATTRIBUTION, label_column: str | None = "lad_nm",
                  paper: str = "A4", dpi: int = 200) -> SheetFigure:
    """The choropleth of ``column`` (percent) as a printable figure: same classes as the HTML map,
    boroughs that did not run grey and hatched, each borough labelled with its name and value.

    Every text is drawn literally (a name like ``$x^2$`` prints as typed).
    """
    shown = _joined(outlines, figures, failed, 0.0)
    colours = class_colours()
    cls = np.where(shown["_failed"], -1, pct_classes(shown[column] if column in shown else np.nan))
    fig = new_figure(paper, dpi)
    ax = fig.add_axes((0.01, 0.07, 0.72, 0.84))
    faces = [colours[c] if c >= 0 else NOT_RUN_COLOUR for c in cls]
    shown.plot(ax=ax, color=faces, edgecolor="#333333", linewidth=0.5, alpha=FILL_OPACITY, zorder=2)
    if shown["_failed"].any():
        shown[shown["_failed"]].plot(ax=ax, facecolor="none", edgecolor="#555555", hatch="///", linewidth=0.5,
                                     zorder=3)
    if label_column:
        _labels(ax, shown, column, label_column)
    _frame(ax, shown.total_bounds)
    handles = [Patch(facecolor=c, edgecolor="#333333", alpha=FILL_OPACITY, label=t)
               for c, t in zip(colours, class_texts())]
    if shown["_failed"].any():
        handles.append(Patch(facecolor=NOT_RUN_COLOUR, edgecolor="#555555", hatch="///", label="Not run"))
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.75, 0.9), fontsize=8, frameon=False,
               title=legend_title, title_fontsize=8.5, alignment="left")
    fig.suptitle(title, fontsize=14, fontweight="bold", x=0.01, ha="left", y=0.985)
    if subtitle:
        fig.text(0.01, 0.937, subtitle, fontsize=8.5, color="#333333", ha="left")
    add_map_furniture(fig, ax, 0.76, 0.1)
    add_attribution(fig, attribution)
    return literal_text(fig)


def _labels(ax: Any, shown: gpd.GeoDataFrame, column: str, label_column: str) -> None:
    for _, r in shown.iterrows():
        pt = r.geometry.representative_point()
        value = "not run" if r["_failed"] else _value_text(r.get(column))
        ax.text(pt.x, pt.y, f"{_cell(r.get(label_column))}\n{value}", fontsize=4.5, ha="center", va="center",
                zorder=5, color="#111111", path_effects=[withStroke(linewidth=1.5, foreground="white")])


def _frame(ax: Any, bounds: Sequence[float], pad_frac: float = 0.03) -> None:
    minx, miny, maxx, maxy = bounds
    px, py = (maxx - minx) * pad_frac, (maxy - miny) * pad_frac
    ax.set_xlim(minx - px, maxx + px)
    ax.set_ylim(miny - py, maxy + py)
    ax.set_aspect("equal", adjustable="box")
    ax.set_axis_off()
