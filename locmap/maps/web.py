"""Interactive folium maps of needs and assets for workshops.

``build_map(area, ...)`` assembles one Leaflet page from small per-layer functions:

- :func:`add_boundaries` -- borough outline, wards, towns, PCN footprints (approximate), LSOAs,
  neighbouring wards across the border;
- :func:`add_need_choropleth` -- children per LSOA by age band and IDACI decile, classified with
  mapclassify's schemes (natural breaks: :func:`natural_breaks`; the legend names the scheme);
- :func:`add_services` -- services by type (colours and labels from :mod:`locmap.maps.palette`,
  children's centres largest and on top; popups, clusters where dense); services without a
  location are listed in the legend panel instead;
- :func:`add_access_bands` -- homes coloured by pram-pushing minutes to the nearest service;
- :func:`add_gap_areas` -- polygons where families are beyond a threshold;
- :func:`add_localities` -- candidate localities with scorecard popups.

Safety: every map hangs from :class:`locmap.maps._inert.InertFigure`, so rendered text is never
compiled again as a Jinja2 template; and every string that comes from data or the user goes
through :func:`safe_text` before it reaches folium, which writes popups, tooltips, DivIcons and
layer names into the page as raw HTML (inside JavaScript template literals).  GeoJSON properties
shown in tooltips are escaped in a copy of the frame.  Input frames are never mutated.

Geometries are clipped to the study-area outline (fills), reprojected to WGS84 and simplified
for display only (``tolerance_m``).  Legend swatches use the opacity of what they describe.
"""
from __future__ import annotations

import copy
import functools
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import folium
import geopandas as gpd
import shapely
import numpy as np
import pandas as pd
from branca.element import MacroElement
from folium.plugins import Fullscreen, Search
from jinja2 import Template
from matplotlib import colormaps
from matplotlib.colors import to_hex, to_rgb

from locmap.bands import BAND_LABELS
from locmap.distance.routing import method_label as routing_method_label
from locmap.export import ATTRIBUTION
from locmap.maps._inert import attach
from locmap.maps.palette import (GAP_COLOUR, MINUTE_CLASSES, NO_ACCESS_COLOUR, SERVICE_STYLES, THRESHOLD_MINUTES,
                                 by_prominence, class_labels, minute_class_index, minute_colours, need_colours,
                                 service_label, service_style)
from locmap.settings import CRS_METRIC, CRS_WEB

DEFAULT_LAYERS: tuple[str, ...] = ("boundaries", "need", "services", "access", "gaps", "crossborder",
                                   "localities")
KNOWN_LAYERS: frozenset[str] = frozenset(DEFAULT_LAYERS)

#: Colour per known service type (from :data:`locmap.maps.palette.SERVICE_STYLES`).
SERVICE_COLOURS: dict[str, str] = {t: st.colour for t, st in SERVICE_STYLES.items()}

#: Pram-distance bands: (lower minutes, upper minutes, label, colour), from
#: :data:`locmap.maps.palette.MINUTE_CLASSES` (the one colour system).  Lower bound inclusive.
ACCESS_BANDS: tuple[tuple[float, float, str, str], ...] = tuple(
    (c.lower_min, c.upper_min, c.label, c.colour) for c in MINUTE_CLASSES)

OFFLINE_BANNER = ("Offline copy: background map tiles need internet; boundaries, points and "
                  "legends are embedded")

#: Services of one type above this count were clustered (kept for callers; services are no
#: longer clustered: clusters hide the marker shapes).
CLUSTER_MIN_POINTS = 40

#: Fill opacities of the drawn layers; legend swatches use the same values.
NEED_FILL_OPACITY = 0.65
GAP_FILL_OPACITY = 0.3
HOMES_FILL_OPACITY = 0.85
SERVICE_FILL_OPACITY = 0.95
LOCALITY_FILL_OPACITY = 0.0
#: Locality outlines: one dark line with a white halo (legible over every need class); the
#: recommended locality is drawn thicker and named "Recommended" in its label.
LOCALITY_LINE = "#1a1a1a"
LOCALITY_WEIGHT_PX, RECOMMENDED_WEIGHT_PX = 2.5, 5.0
#: Kept for callers: locality colours of earlier versions (ColorBrewer Dark2 without mustard).
LOCALITY_COLOURS: tuple[str, ...] = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#a6761d",
                                     "#666666")
#: Suggested hub sites: a numbered white disc with a thick black ring.
HUB_SITE_COLOUR = "#000000"

#: Width of the right-hand column that holds the layer control (top half) and the legend
#: (bottom half); the map is fitted to the study area in the space left of it and below the
#: title, so neither panel covers the data at 1024x768.
PANEL_WIDTH_PX = 250

#: Page CSS.  The layer control sits in the top half of the right column, the legend in the
#: bottom half; their max heights add up to less than the window, so they never overlap.
_PAGE_CSS = f"""<style>
.leaflet-top.leaflet-right .leaflet-control-layers{{font:12px/1.3 Arial,sans-serif;width:{PANEL_WIDTH_PX}px;
  box-sizing:border-box;max-height:calc(50vh - 24px);overflow-y:auto;margin-top:10px}}
.leaflet-control-layers label{{margin:1px 0}}
.leaflet-control-layers-list{{height:auto !important;overflow:visible !important}}
.locmap-layers-head{{font-weight:bold;cursor:pointer;user-select:none;padding:2px 0}}
.locmap-group>summary{{cursor:pointer;margin:2px 0}}
.locmap-group>label{{margin-left:12px}}
.locmap-layers-closed .leaflet-control-layers-list{{display:none}}
.leaflet-control-attribution{{max-width:40vw;white-space:normal;font-size:9px;line-height:1.2}}
.locmap-legend summary{{cursor:pointer}}
.locmap-svc{{background:none;border:none}}
.locmap-place{{background:none;border:none;font:italic bold 12px Arial,sans-serif;color:#333;
  text-shadow:0 0 3px #fff,0 0 3px #fff,0 0 2px #fff;white-space:nowrap;text-transform:uppercase;
  letter-spacing:1px;pointer-events:none}}
.locmap-loclabel{{background:none;border:none;font:bold 13px Arial,sans-serif;color:#111;
  text-shadow:0 0 3px #fff,0 0 3px #fff,0 0 3px #fff;white-space:nowrap}}
.locmap-loctext{{position:relative;display:inline-block}}
.locmap-hub{{background:none;border:none}}
.locmap-needs-internet{{position:fixed;top:30%;left:50%;transform:translateX(-50%);z-index:2000;
  background:#fff3cd;color:#664d03;border:2px solid #e0c36a;border-radius:6px;padding:14px 18px;
  font:16px/1.4 Arial,sans-serif;max-width:70vw}}
</style>"""

# --------------------------------------------------------------------------- helpers
#: One-pass character map of :func:`safe_text`: HTML (``html.escape`` with quotes), JavaScript
#: template literals (backtick, ``$``, backslash) and template syntax (``{ } % #``: Jinja2's
#: ``{{``, ``{%``, ``{#`` and line statements).  Every output is an HTML entity, so the text
#: still displays literally in the browser.
_INERT_ENTITIES: dict[int, str] = {ord(ch): ent for ch, ent in (
    ("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#x27;"),
    ("`", "&#96;"), ("$", "&#36;"), ("\\", "&#92;"),
    ("{", "&#123;"), ("}", "&#125;"), ("%", "&#37;"), ("#", "&#35;"))}


def safe_text(value: Any) -> str:
    """Make a data-derived value inert for the map page: HTML, JavaScript and template passes.

    The one function every data or user text goes through before it reaches folium (popups,
    tooltips, DivIcons, layer names, legend, title and attribution panels, GeoJSON tooltip
    properties).  ``< > & " '`` become HTML entities as ``html.escape`` makes them; folium
    also places this text inside JavaScript template literals, so backtick, ``$`` and
    backslash are entities too; and ``{ } % #`` are entities so no template engine sees
    ``{{``, ``{%`` or ``{#`` (defence in depth: :class:`locmap.maps._inert.InertFigure`
    already stops folium's second Jinja2 pass).  One pass over the characters, so an entity
    is never escaped twice.  Missing values become an empty string.

    Parameters
    ----------
    value : Any
        Text (or number) from an input file or from the user.

    Returns
    -------
    str
        Text safe to place in HTML, in a JS template literal and in a Jinja2 template,
        shown literally by the browser.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value).translate(_INERT_ENTITIES)


def method_label(method: str | None) -> str:
    """User-facing label of a distance method; ``None`` (unknown) is labelled as estimated."""
    return routing_method_label(method or "estimated")


def service_colour(service_type: str, order: Sequence[str] = ()) -> str:
    """Colour of one service type (stable across maps, runs and processes; ``order`` unused)."""
    return service_style(service_type).colour


def pretty(name: str) -> str:
    """Human label of a service type for HTML (``"gp_practice"`` -> ``"GP practice"``, escaped)."""
    return safe_text(service_label(name))


def to_display(gdf: gpd.GeoDataFrame, tolerance_m: float = 5.0, precision_deg: float = 1e-5,
               columns: Iterable[str] = ()) -> gpd.GeoDataFrame:
    """Copy for display: selected columns, geometry simplified (metres) and in WGS84.

    Simplification happens in EPSG:27700 with ``tolerance_m`` (topology preserved), then the
    copy is reprojected to EPSG:4326 and coordinates are snapped to ``precision_deg``
    (1e-5 degrees is about 1 m) to keep the HTML small.  The input is not modified.
    """
    keep = [c for c in columns if c in gdf.columns]
    out = gpd.GeoDataFrame(gdf[keep].copy(), geometry=gdf.geometry.copy(), crs=gdf.crs)
    out = out[out.geometry.notna() & ~out.geometry.is_empty]
    if out.crs is None:
        out = out.set_crs(CRS_METRIC)
    metric = out.to_crs(CRS_METRIC) if str(out.crs) != CRS_METRIC else out
    if tolerance_m and not metric.geom_type.isin(["Point", "MultiPoint"]).all():
        metric = metric.set_geometry(metric.geometry.simplify(tolerance_m, preserve_topology=True))
    web = metric.to_crs(CRS_WEB)
    web = web.set_geometry(web.geometry.set_precision(precision_deg))
    return web[~web.geometry.is_empty]


def escaped_copy(gdf: gpd.GeoDataFrame, columns: Iterable[str]) -> gpd.GeoDataFrame:
    """Copy of ``gdf`` whose string ``columns`` are escaped with :func:`safe_text`."""
    out = gdf.copy()
    for c in columns:
        if c in out.columns and not pd.api.types.is_numeric_dtype(out[c]):
            out[c] = out[c].map(safe_text)
    return out


def _fmt(value: Any) -> str:
    """Format a number for a popup (escaped text otherwise)."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return ""
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"
    return safe_text(value)


_NOWRAP = " style='white-space:nowrap'"  # short figures such as "47 (0.5 %)" stay on one line

#: Popups pan clear of the title (top left) and the panel column (right) when they open.
POPUP_PADDING = {"autoPanPaddingTopLeft": [20, 130], "autoPanPaddingBottomRight": [PANEL_WIDTH_PX + 30, 50]}


def _popup(html_text: str, max_width: int = 320) -> folium.Popup:
    """A popup of already-escaped HTML that pans clear of the panels."""
    return folium.Popup(html_text, max_width=max_width, parse_html=False, **POPUP_PADDING)


def _table_html(rows: Sequence[tuple[str, Any]], title: str | None = None) -> str:
    """Small two-column HTML table; labels and values are escaped here."""
    head = f"<b>{safe_text(title)}</b><br>" if title else ""
    cells = [(safe_text(k), _fmt(v)) for k, v in rows]
    body = "".join(f"<tr><th style='text-align:left;padding-right:6px'>{k}</th>"
                   f"<td{_NOWRAP if len(v) <= 24 else ''}>{v}</td></tr>" for k, v in cells)
    return (f"<div style='max-height:320px;overflow:auto'>{head}"
            f"<table style='font-size:12px'>{body}</table></div>")


# --------------------------------------------------------------------------- page elements
class LegendPanel(MacroElement):
    """Collapsible legend (bottom half of the right column).

    ``sections`` are (escaped title, escaped html, open at first, layers).  A section with
    layers is shown only while one of them is on the map (the script follows the layer
    control), so the legend describes what is drawn; rows inside a section may carry their own
    ``data-layers`` attribute (:meth:`layer_attr`).
    """

    _template = Template("""
    {% macro html(this, kwargs) %}
    <details open id="{{ this.get_name() }}" class="locmap-legend" style="position:fixed;bottom:40px;right:10px;
         z-index:1000;background:rgba(255,255,255,0.95);padding:5px 9px;border:1px solid #888;box-sizing:border-box;
         border-radius:4px;font:12px/1.35 Arial,sans-serif;max-height:calc(50vh - 50px);width:{{ this.width_px }}px;overflow:auto;">
      <summary style="font-weight:bold;font-size:13px">Legend</summary>
      {% for title, body, is_open, layers in this.sections %}
      <details{% if is_open %} open{% endif %}{% if layers %} data-layers="{% for l in layers %}{{ l.get_name() }} {% endfor %}"{% endif %}><summary style="font-weight:bold">{{ title }}</summary>{{ this.fill_layers(body) }}</details>
      {% endfor %}
    </details>
    {% endmacro %}
    {% macro script(this, kwargs) %}
    (function () {
        var map = {{ this._parent.get_name() }};
        var panel = document.getElementById("{{ this.get_name() }}");
        function sync() {
            panel.querySelectorAll("[data-layers]").forEach(function (el) {
                var on = el.getAttribute("data-layers").trim().split(/\\s+/).some(function (n) {
                    var l = window[n];
                    return l && map.hasLayer(l);
                });
                el.style.display = on ? "" : "none";
            });
        }
        map.on("overlayadd overlayremove", sync);
        sync();
    })();
    {% endmacro %}
    """)

    def __init__(self) -> None:
        super().__init__()
        self._name = "LegendPanel"
        self.sections: list[tuple[str, str, bool, tuple]] = []
        self.width_px = PANEL_WIDTH_PX
        self._row_layers: dict[str, Any] = {}

    def add(self, title_html: str, body_html: str, is_open: bool = True, layers: Sequence[Any] = ()) -> None:
        """Add a section (title and body must already be escaped/safe HTML); with ``layers``
        it is shown only while one of them is on the map."""
        self.sections.append((title_html, body_html, is_open, tuple(layers)))

    def layer_attr(self, layer: Any) -> str:
        """A ``data-layers`` attribute for a legend row shown only while ``layer`` is on the map."""
        key = "{@locmap-layer-" + str(len(self._row_layers)) + "@}"  # braces: data text never has them (safe_text)
        self._row_layers[key] = layer
        return f' data-layers="{key}"'

    def fill_layers(self, body: str) -> str:
        """``body`` with row placeholders replaced by the layers' (render-time) names."""
        for key, layer in self._row_layers.items():
            body = body.replace(key, layer.get_name())
        return body


class FixedPanel(MacroElement):
    """A fixed HTML panel (title, attribution, offline banner).  ``body_html`` must be safe."""

    _template = Template("""
    {% macro html(this, kwargs) %}
    <div id="{{ this.get_name() }}" class="{{ this.css_class }}" style="{{ this.style }}">{{ this.body_html }}</div>
    {% endmacro %}
    """)

    def __init__(self, body_html: str, style: str, css_class: str) -> None:
        super().__init__()
        self._name = "FixedPanel"
        self.body_html = body_html
        self.style = style
        self.css_class = css_class


class HomesData(MacroElement):
    """Home coordinates embedded once as a compact array, shared by every access layer."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    var {{ this.get_name() }} = {{ this.points|tojson }};
    {% endmacro %}
    """)

    def __init__(self, latlon: list[list[float]]) -> None:
        super().__init__()
        self._name = "HomesData"
        self.points = latlon


class AccessBandLayer(folium.map.Layer):
    """Homes of one service type drawn as canvas circle markers coloured by band.

    ``bands`` is a string with one character per home ("0".."3" = band index,
    "9" = no value), so one layer costs one byte per home.
    """

    _template = Template("""
    {% macro script(this, kwargs) %}
    var {{ this.get_name() }} = L.featureGroup();
    (function () {
        var pts = {{ this.homes.get_name() }};
        var bands = {{ this.bands|tojson }};
        var colours = {{ this.colours|tojson }};
        var labels = {{ this.labels|tojson }};
        var renderer = L.canvas({padding: 0.5});
        for (var i = 0; i < pts.length; i++) {
            var b = bands.charCodeAt(i) - 48;
            L.circleMarker(pts[i], {renderer: renderer, radius: {{ this.radius }}, weight: 0,
                fillColor: colours[b], fillOpacity: {{ this.opacity }}})
             .bindTooltip(labels[b])
             .addTo({{ this.get_name() }});
        }
    })();
    {% endmacro %}
    """)

    def __init__(self, homes: HomesData, bands: str, colours: list[str], labels: list[str],
                 name: str, show: bool = False, radius: float = 3.0) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "AccessBandLayer"
        self.homes = homes
        self.bands = bands
        self.colours = colours
        self.labels = labels
        self.radius = radius
        self.opacity = HOMES_FILL_OPACITY


# --------------------------------------------------------------------------- classification
def classify(values: pd.Series, scheme: str = "NaturalBreaks", k: int = 5) -> tuple[np.ndarray, list[float], str]:
    """Classify ``values`` with a mapclassify scheme (``"NaturalBreaks"``: :func:`natural_breaks`).

    Parameters
    ----------
    values : Series
        Numeric values (NaN allowed: class -1).
    scheme : str
        ``"NaturalBreaks"``, ``"Quantiles"``, ``"FisherJenks"`` or ``"EqualInterval"``.
    k : int
        Number of classes (reduced when there are fewer distinct values).

    Returns
    -------
    classes : ndarray of int
        Class index per value (-1 for missing).
    bins : list of float
        Upper bound of each class.
    label : str
        Human-readable scheme name for the legend, e.g. ``"Natural breaks (k-means), 5 classes"``.
    """
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(v)
    classes = np.full(len(v), -1, dtype=int)
    if not ok.any():
        return classes, [], f"{scheme} (no data)"
    k = max(1, min(k, len(np.unique(v[ok]))))
    names = {"NaturalBreaks": "Natural breaks (k-means)", "FisherJenks": "Fisher-Jenks",
             "Quantiles": "Quantiles", "EqualInterval": "Equal interval"}
    if k < 2:
        classes[ok] = 0
        return classes, [float(np.nanmax(v))], f"{names.get(scheme, scheme)}, 1 class"
    yb, bins = _classes_of(np.ascontiguousarray(v[ok]).tobytes(), scheme, k)
    classes[ok] = yb
    return classes, list(bins), f"{names.get(scheme, scheme)}, {len(bins)} classes"


@functools.lru_cache(maxsize=32)
def _classes_of(values: bytes, scheme: str, k: int) -> tuple[np.ndarray, tuple[float, ...]]:
    """Classes and upper bounds of the (finite, float64) ``values``, kept for the next map of
    the same values (a run's online and offline maps and its print sheet classify the same need
    columns; the result is the same either way: the k-means starts are seeded).

    Natural breaks come from :func:`natural_breaks` (no mapclassify import); any other
    ``scheme`` is mapclassify's class of that name."""
    v = np.frombuffer(values, dtype=float).copy()
    if scheme == "NaturalBreaks":
        yb, bins = natural_breaks(v, k)
    else:
        import mapclassify  # noqa: PLC0415  (heavy: ~2 s at import, numba compiles; only other schemes)

        # sampled schemes draw from numpy's global generator: seed it for reproducible maps, and
        # give the caller's generator state back afterwards
        state = np.random.get_state()
        try:
            np.random.seed(0)
            c = getattr(mapclassify, scheme)(v, k=k)
        finally:
            np.random.set_state(state)
        yb, bins = np.array(c.yb), c.bins
    yb.setflags(write=False)  # shared by every caller of these values
    return yb, tuple(float(b) for b in bins)


def natural_breaks(values: np.ndarray, k: int, n_starts: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Natural breaks of ``values`` as mapclassify's ``NaturalBreaks(values, k, initial=n_starts)``
    draws them, without importing mapclassify (whose import compiles a numba function we never
    call, ~1-2 s): scikit-learn's k-means in one dimension, best of ``n_starts`` k-means++ starts.
    ``k`` is at most the number of distinct values (:func:`classify` sees to it).

    The starts come from ``numpy.random.RandomState(seed)`` -- the draws mapclassify makes after
    ``numpy.random.seed(seed)``, without touching numpy's global generator.  k-means runs on one
    OpenMP thread: a few hundred values are faster so, and the result does not depend on the
    machine's cores.

    Returns
    -------
    classes : ndarray of int
        Class of each value (0 = lowest), as mapclassify's ``yb``.
    bins : ndarray of float
        Upper bound of each class (the largest value in it), ascending, as mapclassify's ``bins``.
    """
    from sklearn.cluster import KMeans  # noqa: PLC0415  (~1 s at import; only maps that classify)
    from threadpoolctl import threadpool_limits  # noqa: PLC0415  (scikit-learn's dependency)

    x = np.asarray(values, dtype=float).reshape(-1, 1)
    km = KMeans(n_clusters=k, init="k-means++", n_init=n_starts, random_state=np.random.RandomState(seed))
    with threadpool_limits(limits=1, user_api="openmp"):
        labels = km.fit(x).labels_
    bins = np.sort([x[labels == c].max() for c in range(k)])
    return np.searchsorted(bins, x.ravel(), side="left"), bins


def _ramp(n: int, cmap: str = "YlOrRd") -> list[str]:
    """``n`` colours along a matplotlib colormap (the same ramp as the print maps)."""
    cm = colormaps[cmap]
    if n == 1:
        return [to_hex(cm(0.6))]
    return [to_hex(cm(0.15 + 0.8 * i / (n - 1))) for i in range(n)]


def _rgba(colour: str, opacity: float) -> str:
    r, g, b = (round(255 * x) for x in to_rgb(colour))
    return f"rgba({r},{g},{b},{opacity:g})"


def _swatch(colour: str, label: str, shape: str = "box", opacity: float = 1.0, size_px: int = 12,
            border: str = "1px solid #555") -> str:
    """One legend row; the swatch has the fill opacity of what it describes.

    ``label`` must already be safe HTML.
    """
    radius = "50%" if shape == "circle" else "2px"
    return (f"<div><span style='display:inline-block;width:{size_px}px;height:{size_px}px;margin-right:5px;"
            f"vertical-align:middle;background:{_rgba(colour, opacity)};border:{border};"
            f"border-radius:{radius}'></span>{label}</div>")


def clip_to_outline(gdf: gpd.GeoDataFrame, area: Any) -> gpd.GeoDataFrame:
    """Polygons clipped to the study-area outline, for display only (rows and order kept).

    LSOA and PCN-footprint polygons come from other generalisations than the borough
    outline; clipping stops fills spilling across the drawn boundary.  Returns EPSG:27700.
    """
    gdf = gdf.to_crs(CRS_METRIC) if gdf.crs is not None and str(gdf.crs) != CRS_METRIC else gdf
    borough = getattr(area, "borough", None)
    outline = (borough if borough is not None and len(borough) else area.wards)
    outline = outline.to_crs(CRS_METRIC) if outline.crs is not None else outline
    clipped = polygonal_parts(gdf.geometry.intersection(outline.union_all()))
    keep = ~clipped.is_empty
    return gdf[keep].set_geometry(clipped[keep])


def polygonal_parts(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """The polygons of each GeometryCollection (other geometries as they are).

    Clipping a polygon that also touches the outline along an edge gives a polygon plus a line
    (Hackney 031B, Southwark 004D in the London LSOA layer); Leaflet tooltips skip collections.
    """
    gc = (geoms.geom_type == "GeometryCollection").to_numpy()
    if not gc.any():
        return geoms
    out = geoms.copy()
    out[gc] = [shapely.union_all([p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")])
               for g in geoms[gc]]
    return out


# --------------------------------------------------------------------------- layers
def _legend(m: folium.Map) -> LegendPanel:
    legend = getattr(m, "_locmap_legend", None)
    if legend is None:
        legend = LegendPanel()
        m._locmap_legend = legend  # type: ignore[attr-defined]
    return legend


#: Boundary layers: (attribute of the area, layer name, label column, fields, aliases, style,
#: shown at first, searchable).  Line colours differ from every service colour.
BOUNDARY_LAYERS: tuple[tuple[str, str, str, tuple[str, ...], tuple[str, ...], dict, bool, bool], ...] = (
    ("borough", "Borough boundary", "lad_nm", ("lad_nm", "lad_cd"), ("Borough", "Code"),
     {"color": "#000000", "weight": 3, "fillOpacity": 0}, True, False),
    ("neighbour_wards", "Neighbouring wards (across the border)", "ward_nm", ("ward_nm", "lad_nm"),
     ("Ward", "Borough"),
     {"color": "#777777", "weight": 1, "dashArray": "4 4", "fillColor": "#cccccc", "fillOpacity": 0.15},
     False, False),
    ("towns", "Towns", "town", ("town", "n_wards", "pop_0_4", "pop_0_19"),
     ("Town", "Wards", "Children 0-4", "Children 0-19"),
     {"color": "#4B0082", "weight": 3, "fillOpacity": 0}, False, True),
    ("wards", "Wards", "ward_nm", ("ward_nm", "ward_cd", "town", "pop_0_4"), ("Ward", "Code", "Town", "Children 0-4"),
     {"color": "#333333", "weight": 1.2, "fillOpacity": 0}, False, True),
    ("pcns", "PCN footprints (approximate)", "pcn_name", ("pcn_name", "pcn_code", "n_practices", "footprint_method"),
     ("PCN, approximate footprint", "Code", "Practices", "Footprint method"),
     {"color": "#117733", "weight": 2, "dashArray": "6 3", "fillOpacity": 0}, False, False),
    ("lsoa", "LSOAs (2021)", "lsoa21nm", ("lsoa21nm", "lsoa21cd", "ward_nm"), ("LSOA", "Code", "Ward"),
     {"color": "#999999", "weight": 0.6, "fillOpacity": 0}, False, False),
)


def add_boundaries(m: folium.Map, area: Any, tolerance_m: float = 5.0, searchable: bool = True) -> list[folium.FeatureGroup]:
    """Borough outline, wards, towns, PCN footprints (approximate), LSOAs, neighbour wards.

    Returns the feature groups added (only the borough outline is shown at first: the
    workshop default is small); the legend lists each line, as drawn, while it is on.
    """
    if not hasattr(m, "_locmap_searchable"):
        m._locmap_searchable = []  # type: ignore[attr-defined]
    groups, rows = [], []
    for attr, name, label_col, fields, aliases, style, show, search in BOUNDARY_LAYERS:
        gdf = getattr(area, attr, None)
        if gdf is None or len(gdf) == 0:
            continue
        disp = escaped_copy(to_display(gdf, tolerance_m, columns=fields), fields)
        fg = folium.FeatureGroup(name=name, show=show)
        keep = [(f, a) for f, a in zip(fields, aliases) if f in disp.columns]
        gj = folium.GeoJson(
            disp.__geo_interface__, name=name,
            style_function=lambda _f, st=style: st,
            highlight_function=lambda _f, st=style: {"weight": st.get("weight", 1) + 2},
            tooltip=folium.GeoJsonTooltip(fields=[f for f, _a in keep], aliases=[a for _f, a in keep]),
        )
        gj.add_to(fg)
        fg.add_to(m)
        groups.append(fg)
        note = (" <span style='color:#555'>(approximate, built from practice registrations; not official "
                "boundaries)</span>" if attr == "pcns" else "")
        rows.append(_line_swatch(style, name + note, _legend(m).layer_attr(fg)))
        if search and searchable:
            m._locmap_searchable.append((gj, label_col, name))  # type: ignore[attr-defined]
    if rows:
        _legend(m).add("Boundaries", "".join(rows), layers=groups)
    return groups


#: Place-name layers: (attribute of the area, name column, layer name, shown at first).
PLACE_LAYERS: tuple[tuple[str, str, str, bool], ...] = (
    ("towns", "town", "Place names: towns", True),
    ("wards", "ward_nm", "Place names: wards", False),
)


def add_place_labels(m: folium.Map, area: Any, skip: Iterable[str] = ()) -> list[folium.FeatureGroup]:
    """Town names (shown) and ward names (a click away) as map labels.

    Names in ``skip`` (e.g. localities that already carry a label) are left out; text is
    escaped with :func:`safe_text` and labels do not take clicks.
    """
    skip_cf = {str(n).casefold() for n in skip}
    groups = []
    for attr, col, name, show in PLACE_LAYERS:
        gdf = getattr(area, attr, None)
        if gdf is None or len(gdf) == 0 or col not in gdf.columns:
            continue
        pts = gdf[~gdf[col].astype(str).str.casefold().isin(skip_cf)]
        if not len(pts):
            continue
        web = gpd.GeoSeries(pts.geometry.representative_point(), crs=pts.crs).to_crs(CRS_WEB)
        fg = folium.FeatureGroup(name=name, show=show)
        for label, pt in zip(pts[col], web):
            folium.Marker([round(pt.y, 6), round(pt.x, 6)], interactive=False, keyboard=False,
                          icon=folium.DivIcon(html=safe_text(label), icon_size=(160, 16), icon_anchor=(80, 8),
                                              class_name="locmap-place")).add_to(fg)
        fg.add_to(m)
        groups.append(fg)
    return groups


def _line_swatch(style: dict, label: str, attrs: str = "") -> str:
    """Legend row for a boundary line drawn with ``style`` (Leaflet path options)."""
    dash = "dashed" if style.get("dashArray") else "solid"
    fill = _rgba(style.get("fillColor", "#ffffff"), style.get("fillOpacity", 0))
    return (f"<div{attrs}><span style='display:inline-block;width:18px;height:9px;margin-right:5px;"
            f"vertical-align:middle;background:{fill};border-top:{max(2, round(style.get('weight', 1)))}px "
            f"{dash} {style['color']}'></span>{label}</div>")


def add_need_choropleth(m: folium.Map, area: Any, bands: Sequence[str] = ("pop_0_4", "pop_0_19"),
                        scheme: str = "NaturalBreaks", k: int = 5, tolerance_m: float = 5.0,
                        show_first: bool = True) -> list[folium.FeatureGroup]:
    """Choropleths of children per LSOA (one layer per band) and IDACI decile.

    Classes come from mapclassify (``scheme``, ``k``); the legend states the scheme and breaks.
    Fills are clipped to the study-area outline for display.
    """
    lsoa = area.lsoa
    if lsoa is None or len(lsoa) == 0:
        return []
    shown = clip_to_outline(lsoa, area)
    groups = [_need_layer(m, shown, band, scheme, k, tolerance_m, show_first and i == 0)
              for i, band in enumerate(b for b in bands if b in lsoa.columns)]
    if "idaci_decile" in lsoa.columns:
        groups.append(_idaci_layer(m, shown, bands, tolerance_m))
    return groups


_LSOA_TEXT = ["lsoa21nm", "lsoa21cd", "ward_nm", "town"]


def _need_layer(m: folium.Map, lsoa: gpd.GeoDataFrame, band: str, scheme: str, k: int, tolerance_m: float,
                show: bool) -> folium.FeatureGroup:
    """One need choropleth (``band`` per LSOA) and its legend section."""
    classes, bins, scheme_label = classify(lsoa[band], scheme=scheme, k=k)
    colours = need_colours(len(bins))
    disp = to_display(lsoa.assign(_cls=classes), tolerance_m, columns=[*_LSOA_TEXT, band, "_cls"])
    disp = escaped_copy(disp, _LSOA_TEXT)
    disp[band] = disp[band].round(0)
    label = safe_text(BAND_LABELS.get(band, band))
    name = f"Need: {label} per LSOA"
    fg = folium.FeatureGroup(name=name, show=show)
    folium.GeoJson(
        disp.__geo_interface__,
        style_function=lambda f, c=colours: {
            "fillColor": c[f["properties"]["_cls"]] if f["properties"]["_cls"] >= 0 else "#ffffff",
            "color": "#666666", "weight": 0.4, "fillOpacity": NEED_FILL_OPACITY},
        tooltip=folium.GeoJsonTooltip(fields=["lsoa21nm", "ward_nm", "town", band],
                                      aliases=["LSOA", "Ward", "Town", label[:1].upper() + label[1:]]),
    ).add_to(fg)
    fg.add_to(m)
    lo = float(np.nanmin(pd.to_numeric(lsoa[band], errors="coerce"))) if len(bins) else 0.0
    rows = "".join(_swatch(col, safe_text(text), opacity=NEED_FILL_OPACITY)
                   for col, text in zip(colours, class_labels(lo, bins)))
    _legend(m).add(name, f"<div style='color:#555'>Classes: {safe_text(scheme_label)}</div>"
                   + rows, layers=[fg])
    return fg


def _idaci_layer(m: folium.Map, lsoa: gpd.GeoDataFrame, bands: Sequence[str], tolerance_m: float
                 ) -> folium.FeatureGroup:
    """IDACI decile per LSOA (fixed national deciles) and its legend section."""
    dec = pd.to_numeric(lsoa["idaci_decile"], errors="coerce")
    colours = _ramp(10, "RdYlBu")  # decile 1 (most deprived) red ... 10 blue
    disp = to_display(lsoa, tolerance_m, columns=[*_LSOA_TEXT, "idaci_decile", *bands])
    disp = escaped_copy(disp, _LSOA_TEXT)
    disp["idaci_decile"] = dec.loc[disp.index].fillna(0).astype(int)
    name = "Deprivation: IDACI decile (IoD2025)"
    fg = folium.FeatureGroup(name=name, show=False)
    folium.GeoJson(
        disp.__geo_interface__,
        style_function=lambda f, c=colours: {
            "fillColor": c[f["properties"]["idaci_decile"] - 1] if 1 <= f["properties"]["idaci_decile"] <= 10 else "#ffffff",
            "color": "#666666", "weight": 0.4, "fillOpacity": NEED_FILL_OPACITY},
        tooltip=folium.GeoJsonTooltip(fields=["lsoa21nm", "ward_nm", "idaci_decile"],
                                      aliases=["LSOA", "Ward", "IDACI decile, 1 = most deprived"]),
    ).add_to(fg)
    fg.add_to(m)
    rows = "".join(_swatch(colours[d - 1], f"Decile {d}" + (": most deprived 10%" if d == 1 else
                                                              ": least deprived" if d == 10 else ""),
                           opacity=NEED_FILL_OPACITY) for d in range(1, 11))
    _legend(m).add(name, "<div style='color:#555'>Classes: national deciles (fixed), "
                   "Income Deprivation Affecting Children Index</div>" + rows, layers=[fg])
    return fg


#: Classes of the cross-border share (lower bounds, %) and their colours (light to dark purple).
CROSSBORDER_CLASSES: tuple[tuple[float, str, str], ...] = (
    (0.0, "#f2f0f7", "none"), (0.5, "#cbc9e2", "under 5%"), (5.0, "#9e9ac8", "5-15%"),
    (15.0, "#756bb1", "15-30%"), (30.0, "#54278f", "30% or more"))


def add_crossborder(m: folium.Map, area: Any, shares: pd.DataFrame, band: str = "pop_0_4",
                    service_types: Sequence[str] | None = None, tolerance_m: float = 5.0) -> list[folium.FeatureGroup]:
    """Per ward, the share of children whose nearest service of a type lies in another borough.

    ``shares`` is :func:`locmap.access.crossborder.crossborder_shares` (rows with ``level ==
    "ward"``); one layer per service type (default: any key service and the key types).
    """
    wards = shares[(shares["level"] == "ward") & (shares["band"] == band)]
    if not len(wards) or area.wards is None or not len(area.wards):
        return []
    types = list(service_types or dict.fromkeys(wards["service_type"]))
    keys = getattr(getattr(area, "pack", None), "key_service_types", None)
    if service_types is None and keys:
        types = [t for t in types if t == "any_key_service" or t in keys]
    return [_crossborder_layer(m, area, wards[wards["service_type"] == t], t, band, tolerance_m)
            for t in types]


def _crossborder_class(pct: float) -> int:
    if not pct > 0:
        return 0
    return max(i for i, (lo, _, _) in enumerate(CROSSBORDER_CLASSES) if pct >= lo) if pct >= 0.5 else 1


def _crossborder_layer(m: folium.Map, area: Any, rows: pd.DataFrame, service_type: str, band: str,
                       tolerance_m: float) -> folium.FeatureGroup:
    label = "any key service" if service_type == "any_key_service" else service_label(service_type)
    label = label if label[:2].isupper() else label[:1].lower() + label[1:]  # "GP practice", "library"
    w = area.wards.merge(rows[["area_id", "share_cross_border", "people", "people_cross_border"]],
                         left_on="ward_cd", right_on="area_id", how="left")
    w["pct"] = (100.0 * w["share_cross_border"].fillna(0.0)).round(1)
    w["people_cross_border"] = w["people_cross_border"].fillna(0.0).round(0)
    w["_cls"] = [_crossborder_class(v) for v in w["pct"]]
    disp = escaped_copy(to_display(w, tolerance_m, columns=["ward_nm", "town", "pct", "people_cross_border", "_cls"]),
                        ["ward_nm", "town"])
    name = f"Across the border: nearest {safe_text(label)}"
    fg = folium.FeatureGroup(name=name, show=False)
    folium.GeoJson(
        disp.__geo_interface__,
        style_function=lambda f: {"fillColor": CROSSBORDER_CLASSES[f["properties"]["_cls"]][1],
                                  "color": "#555555", "weight": 0.6, "fillOpacity": NEED_FILL_OPACITY},
        tooltip=folium.GeoJsonTooltip(
            fields=["ward_nm", "town", "pct", "people_cross_border"],
            aliases=["Ward", "Town", f"% of {safe_text(BAND_LABELS.get(band, band))} whose nearest "
                     f"{safe_text(label)} is in another borough", "Children"]),
    ).add_to(fg)
    fg.add_to(m)
    rows_html = "".join(_swatch(col, safe_text(text), opacity=NEED_FILL_OPACITY)
                        for _, col, text in CROSSBORDER_CLASSES)
    _legend(m).add(name, f"<div style='color:#555'>% of {safe_text(BAND_LABELS.get(band, band))} per ward "
                   "whose nearest service is across the borough border</div>" + rows_html, layers=[fg])
    return fg


#: Leaflet pane of the most prominent service markers (children's centres): above the other
#: vector layers (overlayPane, z-index 400), below markers, tooltips and popups.
PROMINENT_PANE = "locmapProminent"

#: Marker shapes (matplotlib codes of :data:`locmap.maps.palette.SERVICE_STYLES`) as SVG in a
#: 20 x 20 box, so web and print maps share one shape per service type.
_SHAPES: dict[str, str] = {
    "s": "M3 3H17V17H3Z",
    "D": "M10 1L19 10L10 19L1 10Z",
    "d": "M10 1L16 10L10 19L4 10Z",
    "^": "M10 1.5L19 18H1Z",
    "v": "M1 2H19L10 18.5Z",
    "<": "M1.5 10L18 1V19Z",
    "P": "M7 1H13V7H19V13H13V19H7V13H1V7H7Z",
    "X": "M3.6 1.4L10 7.8L16.4 1.4L18.6 3.6L12.2 10L18.6 16.4L16.4 18.6L10 12.2L3.6 18.6L1.4 16.4L7.8 10L1.4 3.6Z",
}


def _polygon_path(n: int, outer: float, inner: float | None = None) -> str:
    """SVG path of a regular polygon (or star with ``inner``) centred in the 20 x 20 box, point up."""
    pts = []
    steps = 2 * n if inner else n
    for i in range(steps):
        r = inner if inner and i % 2 else outer
        a = -math.pi / 2 + 2 * math.pi * i / steps
        pts.append(f"{10 + r * math.cos(a):.2f} {10 + r * math.sin(a):.2f}")
    return "M" + "L".join(pts) + "Z"


_SHAPES.update({"*": _polygon_path(5, 9.8, 4.2), "h": _polygon_path(6, 9.3), "p": _polygon_path(5, 9.5)})


def marker_svg(marker: str, colour: str, size_px: float, stroke_px: float = 1.0) -> str:
    """Inline SVG of a service marker: ``marker`` (matplotlib code) filled with ``colour``.

    Circle for ``"o"`` and unknown codes.  No text from data goes into it.
    """
    sw = 20.0 * stroke_px / size_px
    common = f"fill='{colour}' fill-opacity='{SERVICE_FILL_OPACITY:g}' stroke='#1a1a1a' stroke-width='{sw:.2f}'"
    shape = (f"<path d='{_SHAPES[marker]}' {common}/>" if marker in _SHAPES
             else f"<circle cx='10' cy='10' r='8.5' {common}/>")
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{size_px:g}' height='{size_px:g}' "
            f"viewBox='-1 -1 22 22' style='display:block;overflow:visible'>{shape}</svg>")


def service_marker_px(stype: str) -> float:
    """Web marker size (px) of a service type: children's centres largest."""
    return float(max(12, round(1.5 * service_style(stype).size_pt)))


def _service_svg(stype: str) -> str:
    style = service_style(stype)
    return marker_svg(style.marker, style.colour, service_marker_px(stype), 2.0 if style.rank == 0 else 1.0)


class ServiceLayer(folium.map.Layer):
    """Services of one type as shaped SVG markers (one icon shared by all), with popups/tooltips.

    ``points`` rows are ``[lat, lon, tooltip_html, popup_html]``; data text in the HTML is
    escaped by :func:`safe_text` before it gets here (no ``< > { } % # $`` backtick or
    backslash left) and reaches the page as a JSON array.
    """

    _template = Template("""
    {% macro script(this, kwargs) %}
    var {{ this.get_name() }} = L.featureGroup();
    (function () {
        var icon = L.divIcon({html: {{ this.svg|tojson }}, className: "locmap-svc",
            iconSize: [{{ this.size_px }}, {{ this.size_px }}],
            iconAnchor: [{{ this.size_px / 2 }}, {{ this.size_px / 2 }}]});
        var pts = {{ this.points_json }};
        for (var i = 0; i < pts.length; i++) {
            L.marker([pts[i][0], pts[i][1]], {icon: icon, keyboard: false, zIndexOffset: {{ this.z_offset }}})
             .bindTooltip(pts[i][2]).bindPopup(pts[i][3], {{ this.popup_options|tojson }})
             .addTo({{ this.get_name() }});
        }
    })();
    {% endmacro %}
    """)

    def __init__(self, points: list[list[Any]], svg: str, size_px: float, name: str, show: bool,
                 z_offset: int = 0) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "ServiceLayer"
        self.points, self.svg, self.size_px, self.z_offset = points, svg, size_px, z_offset
        self.popup_options = {"maxWidth": 320, **POPUP_PADDING}
        # plain JSON (not tojson's unicode escapes), so the escaped text reads in the page as in
        # every other popup; "</" cannot end the script element
        self.points_json = json.dumps(points, ensure_ascii=False).replace("</", "<\\/")


def add_services(m: folium.Map, area: Any, service_types: Sequence[str] | None = None,
                 cluster: bool = False, cluster_min_points: int = CLUSTER_MIN_POINTS,
                 shown_types: Sequence[str] | None = None) -> list[ServiceLayer]:
    """One layer per service type: markers that differ by shape and colour, escaped popups.

    Types are listed most prominent first (children's centres: largest markers, drawn above
    the others); ``shown_types`` are visible at first (default: the pack's key service types,
    or all), the others are a click away in the layer control.  Services without a location
    are counted and named in the legend panel.  ``cluster=True`` is refused: clusters hide the
    shapes (``cluster_min_points`` is kept for callers).
    """
    if cluster:
        raise ValueError("clustered service markers are no longer drawn (clusters hide the marker shapes); "
                         "call add_services(..., cluster=False)")
    svc = area.services
    if svc is None or len(svc) == 0:
        return []
    types = by_prominence(list(service_types) if service_types else list(svc["service_type"].dropna()))
    if shown_types is None:
        shown_types = getattr(getattr(area, "pack", None), "key_service_types", None) or types
    located_mask = svc["located"].fillna(False).astype(bool) & svc.geometry.notna()
    web = svc[located_mask].to_crs(CRS_WEB) if located_mask.any() else svc[located_mask]
    groups, rows, legend = [], [], _legend(m)
    for stype in types:
        sub = web[web["service_type"] == stype]
        layer = _service_layer(sub, stype, show=stype in shown_types)
        layer.add_to(m)
        groups.append(layer)
        rows.append(f"<div{legend.layer_attr(layer)} style='display:flex;align-items:center;gap:5px'>"
                    f"<span style='display:inline-block;width:26px'>{_service_svg(stype)}</span>"
                    f"{pretty(stype)} ({len(sub)})</div>")
    note = _unlocated_note(svc[~located_mask & svc["service_type"].isin(types)])
    legend.add("Services", "".join(rows) + note)
    return groups


def _service_layer(sub: gpd.GeoDataFrame, stype: str, show: bool) -> ServiceLayer:
    """Markers of one service type (WGS84 points)."""
    label = pretty(stype)
    points = []
    for _, r in sub.iterrows():
        info = [("Type", service_label(stype)), ("Kind", r.get("subtype")),
                ("Address", r.get("address")), ("Postcode", r.get("postcode")),
                ("Borough", r.get("lad_nm")), ("Placed by", r.get("location_quality")),
                ("Source", r.get("source"))]
        info = [(k, v) for k, v in info if _fmt(v) != ""]
        points.append([round(r.geometry.y, 6), round(r.geometry.x, 6),
                       f"{safe_text(r.get('name'))} &middot; {label}", _table_html(info, title=r.get("name"))])
    z = 1000 if service_style(stype).rank == 0 else 0
    return ServiceLayer(points, _service_svg(stype), service_marker_px(stype),
                        name=f"Services: {label} ({len(sub)})", show=show, z_offset=z)


def _unlocated_note(unlocated: pd.DataFrame, max_names: int = 15) -> str:
    """Legend note naming the services that have no location (escaped)."""
    if not len(unlocated):
        return ""
    names = [f"{safe_text(n)} &middot; {pretty(t)}" for n, t in zip(unlocated["name"], unlocated["service_type"])]
    shown = "<br>".join(names[:max_names])
    if len(names) > max_names:
        shown += f"<br>… and {len(names) - max_names} more"
    return (f"<details class='locmap-unlocated' style='margin-top:3px;color:#8a1c1c'><summary>Not on the map "
            f"(no location): {len(unlocated)}</summary>{shown}</details>")


def _band_index(minutes: np.ndarray) -> np.ndarray:
    """Minute class per home (:func:`locmap.maps.palette.minute_class_index`)."""
    return minute_class_index(minutes)


def _threshold_rule() -> str:
    return (f"<div style='border-top:2px solid #000;margin:2px 0 1px;font-size:11px;font-weight:bold'>"
            f"{THRESHOLD_MINUTES:g}-minute threshold: beyond it is a gap</div>")


def _minute_rows(shape: str, opacity: float, border: str) -> str:
    """Legend rows of the minute classes with the threshold rule between the near and far classes."""
    rows = []
    for c in MINUTE_CLASSES:
        if c.lower_min == THRESHOLD_MINUTES:
            rows.append(_threshold_rule())
        rows.append(_swatch(c.colour, c.label, shape, opacity=opacity, border=border))
    return "".join(rows)


def add_access_bands(m: folium.Map, access: gpd.GeoDataFrame, method: str | None = None,
                     service_types: Sequence[str] | None = None, show_first: bool = True,
                     radius: float = 3.0) -> list[AccessBandLayer]:
    """Homes coloured by pram-pushing minutes (0–10/10–15/15–20/20+) to the nearest service.

    Colours are :data:`locmap.maps.palette.MINUTE_CLASSES` (viridis; the 15-minute threshold
    is marked in the legend).  ``any_key_service`` is listed first.

    Parameters
    ----------
    access : GeoDataFrame
        Homes (points) with one ``minutes__<service_type>`` column per service type.
    method : str, optional
        ``"street"`` or ``"estimated"``; default: the ``method`` column of ``access``
        (``"estimated"`` when absent -- the conservative label).
    service_types : sequence of str, optional
        Which types to draw (default: every ``minutes__*`` column).
    """
    layers: list[AccessBandLayer] = []
    if access is None or len(access) == 0:
        return layers
    cols = [c for c in access.columns if c.startswith("minutes__")]
    cols = sorted(cols, key=lambda c: c != "minutes__any_key_service")
    if service_types:
        cols = [f"minutes__{t}" for t in service_types if f"minutes__{t}" in access.columns]
    if not cols:
        return layers
    if method is None:
        methods = access["method"].dropna().unique().tolist() if "method" in access.columns else []
        method = "street" if methods == ["street"] else "estimated"
    mlabel = safe_text(method_label(method))
    pts = access[access.geometry.notna()]
    web = pts.geometry.to_crs(CRS_WEB) if pts.crs is not None else pts.geometry
    latlon = [[round(float(y), 5), round(float(x), 5)] for x, y in zip(web.x, web.y)]
    homes = HomesData(latlon)
    homes.add_to(m)
    labels = [f"{c.label}, {mlabel}" for c in MINUTE_CLASSES] + ["No reachable service"]
    for i, col in enumerate(cols):
        stype = col.split("__", 1)[1]
        idx = _band_index(pd.to_numeric(pts[col], errors="coerce").to_numpy(dtype=float))
        layer = AccessBandLayer(homes, "".join(map(str, idx)), minute_colours(), labels,
                                name=f"Pram distance to {pretty(stype)}",
                                show=show_first and i == 0, radius=radius)
        layer.add_to(m)
        layers.append(layer)
    rows = _minute_rows("circle", HOMES_FILL_OPACITY, "none")
    _legend(m).add("Pram-pushing distance from homes",
                   f"<div class='locmap-method'>Minutes to the nearest service; distances: <b>{mlabel}</b></div>"
                   + rows + _swatch(NO_ACCESS_COLOUR, "No reachable service", "circle", opacity=HOMES_FILL_OPACITY,
                                    border="none"), layers=layers)
    return layers


def add_gap_areas(m: folium.Map, gaps: gpd.GeoDataFrame, tolerance_m: float = 5.0,
                  show: bool = True) -> list[folium.FeatureGroup]:
    """Gap polygons (families beyond ``threshold_minutes`` of a service type).

    One layer per service type x threshold, named "Gap areas: <type> beyond <n> min"; the
    "any key service" gaps (the scorecard's gap measure) come first and are the one shown at
    first.  Drawn in :data:`locmap.maps.palette.GAP_COLOUR`, the beyond-threshold colour.
    """
    groups: list[folium.FeatureGroup] = []
    if gaps is None or len(gaps) == 0:
        return groups
    fields = [c for c in gaps.columns if c != "geometry"]
    disp = to_display(gaps, tolerance_m, columns=fields)
    keys = [c for c in ("service_type", "threshold_minutes") if c in disp.columns]
    parts = list(disp.groupby(keys, sort=False)) if keys else [((), disp)]
    parts.sort(key=lambda kp: (kp[0] if isinstance(kp[0], tuple) else (kp[0],))[0] != "any_key_service")
    for i, (key, part) in enumerate(parts):
        key = key if isinstance(key, tuple) else (key,)
        stype = key[0] if keys and keys[0] == "service_type" else "service"
        thr = key[-1] if "threshold_minutes" in keys else None
        name = f"Gap areas: {pretty(stype)}" + (f" beyond {float(thr):g} min" if thr is not None else "")
        fg = folium.FeatureGroup(name=name, show=show and i == 0)
        _gap_features(part, fg)
        fg.add_to(m)
        groups.append(fg)
    _legend(m).add("Gap areas", _swatch(GAP_COLOUR, "Families beyond the threshold (click an area for numbers)",
                                        opacity=GAP_FILL_OPACITY, border=f"2px dashed {GAP_COLOUR}"),
                   layers=groups)
    return groups


def _gap_rows(r: pd.Series) -> list[tuple[str, Any]]:
    """Plain-language popup rows of one gap area (whole children and homes, km²)."""
    rows: list[tuple[str, Any]] = []
    for col, label in (("gap_pop_0_4", "Children 0-4 living here"), ("gap_pop_0_19", "Children 0-19 living here"),
                       ("n_homes", "Homes (address points)")):
        v = pd.to_numeric(r.get(col), errors="coerce")
        if pd.notna(v):
            rows.append((label, f"{round(float(v)):,}"))
    area_m2 = pd.to_numeric(r.get("area_m2"), errors="coerce")
    if pd.notna(area_m2):
        rows.append(("Area", f"{float(area_m2) / 1e6:,.2f} km²"))
    if _fmt(r.get("label")):
        rows.append(("Distances", r.get("label")))
    return rows


def _gap_features(disp: gpd.GeoDataFrame, fg: folium.FeatureGroup) -> None:
    for _, r in disp.iterrows():
        thr = pd.to_numeric(r.get("threshold_minutes"), errors="coerce")
        stype = str(r.get("service_type", "service"))
        what = "any key service" if stype == "any_key_service" else service_label(stype)
        title = f"Gap: beyond {float(thr):g} min of {what}" if pd.notna(thr) else f"Gap: {what}"
        gj = folium.GeoJson(
            {"type": "Feature", "properties": {}, "geometry": r.geometry.__geo_interface__},
            style_function=lambda _f: {"color": GAP_COLOUR, "weight": 2.5, "fillColor": GAP_COLOUR,
                                       "fillOpacity": GAP_FILL_OPACITY, "dashArray": "6 3"},
        )
        _popup(_table_html(_gap_rows(r), title=title)).add_to(gj)
        folium.Tooltip(safe_text(title)).add_to(gj)
        gj.add_to(fg)


def _num(row: Any, col: str) -> float | None:
    v = pd.to_numeric(row.get(col), errors="coerce") if row is not None else None
    return float(v) if v is not None and pd.notna(v) else None


def locality_rows(row: Any, threshold_min: float | None = None) -> list[tuple[str, str]]:
    """Plain-language popup rows of one scorecard row: at most 8 rows and 10 figures, units in
    the labels, whole children (never "46.9" children), no column names."""
    if row is None:
        return []
    thr = _num(row, "gap_threshold_min") or threshold_min or THRESHOLD_MINUTES
    out: list[tuple[str, str]] = []

    def add(label: str, col: str, pct_col: str | None = None, pct: bool = False) -> None:
        v = _num(row, col)
        if v is None:
            return
        text = f"{v:.1f} %" if pct else f"{round(v):,}"
        p = _num(row, pct_col) if pct_col else None
        out.append((label, text + (f" ({p:.1f} %)" if p is not None else "")))

    add("Children 0-4", "pop_0_4")
    add("Children and young people 0-19", "pop_0_19")
    add("Total population", "pop_total")
    add("Children 0-19 in the most deprived 20 % of areas (IDACI)", "pct_children_idaci_most_deprived_20", pct=True)
    add(f"Children 0-19 beyond {thr:g} min of every key service", "gap_children", "pct_gap_children")
    add(f"Children within {thr:g} min of a children's centre", f"pct_children_within_{thr:g}min_childrens_centre",
        pct=True)
    add("Children's centres / family hubs", "n_childrens_centre")
    add("Children whose nearest key service is across the locality edge or border", "hard_edge_risk_pct", pct=True)
    return out


def add_localities(m: folium.Map, localities: gpd.GeoDataFrame, scorecard: pd.DataFrame | None = None,
                   tolerance_m: float = 5.0, name_col: str = "locality",
                   recommended: str | None = None) -> folium.FeatureGroup | None:
    """Candidate locality outlines with name labels and plain-language scorecard popups.

    Every outline is one dark line on a white halo (legible over any fill); ``recommended``
    (a locality name) is drawn thicker and labelled "Recommended".
    """
    if localities is None or len(localities) == 0:
        return None
    disp = to_display(localities, tolerance_m, columns=[name_col])
    card = None
    if scorecard is not None and len(scorecard) and name_col in scorecard.columns:
        card = scorecard.set_index(name_col)
    rec_cf = str(recommended).casefold() if recommended else None
    fg = folium.FeatureGroup(name="Candidate localities", show=True)
    for _, r in disp.iterrows():
        loc_name = r[name_col]
        is_rec = rec_cf is not None and str(loc_name).casefold() == rec_cf
        row = None
        if card is not None and loc_name in card.index:
            row = card.loc[loc_name]
            row = row.iloc[0] if isinstance(row, pd.DataFrame) else row
        _locality_outline(fg, r.geometry.__geo_interface__, loc_name, is_rec, locality_rows(row))
        pt = r.geometry.representative_point()
        text = (f"&#9733; {safe_text(loc_name)} &middot; Recommended" if is_rec else safe_text(loc_name))
        size = "15px" if is_rec else "13px"
        folium.Marker([pt.y, pt.x], interactive=False, keyboard=False, icon=folium.DivIcon(
            html=f"<div style='font-size:{size};text-align:center'><span class='locmap-loctext'>{text}</span></div>",
            icon_size=(240, 18),
            icon_anchor=(120, 22 if is_rec else 9),
            class_name="locmap-loclabel")).add_to(fg)
    fg.add_to(m)
    rec_note = (f"<div>&#9733; thick outline: recommended locality ({safe_text(recommended)})</div>"
                if recommended else "")
    _legend(m).add("Candidate localities",
                   _swatch("#ffffff", "Candidate locality (click for its figures)", opacity=0,
                           border=f"{LOCALITY_WEIGHT_PX:g}px solid {LOCALITY_LINE}") + rec_note, layers=[fg])
    return fg


def _locality_outline(fg: folium.FeatureGroup, geom: dict, name: Any, is_rec: bool,
                      rows: list[tuple[str, str]]) -> None:
    """White halo and dark outline of one locality; popup on the outline."""
    weight = RECOMMENDED_WEIGHT_PX if is_rec else LOCALITY_WEIGHT_PX
    feature = {"type": "Feature", "properties": {}, "geometry": geom}
    folium.GeoJson(feature, interactive=False, style_function=lambda _f, w=weight: {
        "color": "#ffffff", "weight": w + 4, "opacity": 0.9, "fillOpacity": 0}).add_to(fg)
    gj = folium.GeoJson(feature, style_function=lambda _f, w=weight: {
        "color": LOCALITY_LINE, "weight": w, "fillColor": LOCALITY_LINE, "fillOpacity": LOCALITY_FILL_OPACITY})
    title = f"{name} (recommended pathfinder locality)" if is_rec else f"Locality: {name}"
    _popup(_table_html(rows or [("Figures", "not available")], title=title), max_width=360).add_to(gj)
    folium.Tooltip(f"Locality: {safe_text(name)}" + (" &middot; recommended" if is_rec else "")).add_to(gj)
    gj.add_to(fg)


def add_hub_sites(m: folium.Map, sites: pd.DataFrame, model: str = "mclp",
                  crs: str = CRS_METRIC) -> folium.FeatureGroup | None:
    """Suggested hub sites (``SitesResult.sites`` rows of one ``model``, x/y in ``crs``) as
    numbered markers; popups name the site, its current use and the children it reaches."""
    if sites is None or len(sites) == 0:
        return None
    rows = sites[sites["model"] == model] if "model" in sites.columns else sites
    if not len(rows):
        rows = sites
    pts = gpd.GeoSeries(gpd.points_from_xy(rows["x"], rows["y"]), crs=crs).to_crs(CRS_WEB)
    fg = folium.FeatureGroup(name="Suggested hub sites", show=True)
    for (_, r), pt in zip(rows.iterrows(), pts):
        where = r.get("locality", "")
        order = int(r["order"]) if pd.notna(r.get("order")) else 0
        title = f"Suggested hub site {order}" + (f" for {where}" if _fmt(where) else "")
        info = [("Site", r.get("name")), ("Now", service_label(str(r.get("service_type", "")))),
                ("Children 0-4 within reach (this site)", f"{round(float(r['children_served'])):,}"
                 if pd.notna(r.get("children_served")) else "")]
        folium.Marker([round(pt.y, 6), round(pt.x, 6)], z_index_offset=2000, icon=folium.DivIcon(
            html=(f"<div style='width:22px;height:22px;border-radius:50%;background:#fff;border:3px solid "
                  f"{HUB_SITE_COLOUR};font:bold 13px/22px Arial,sans-serif;text-align:center;color:#000;"
                  f"box-shadow:0 0 0 2px #fff'>{order}</div>"),
            icon_size=(28, 28), icon_anchor=(14, 14), class_name="locmap-hub"),
            popup=_popup(_table_html([(k, v) for k, v in info if _fmt(v) != ""], title=title)),
            tooltip=folium.Tooltip(safe_text(title) + f" &middot; {safe_text(r.get('name'))}")).add_to(fg)
    fg.add_to(m)
    _legend(m).add("Suggested hub sites",
                   "<div><span style='display:inline-block;width:16px;height:16px;border-radius:50%;background:#fff;"
                   f"border:3px solid {HUB_SITE_COLOUR};font:bold 11px/16px Arial;text-align:center;"
                   "vertical-align:middle;margin-right:5px'>1</span>Suggested hub site (1 = first choice; most "
                   "children 0-4 reached)</div>", layers=[fg])
    return fg


# --------------------------------------------------------------------------- assembly
def _attribution_text(area: Any) -> str:
    extra = getattr(area, "attribution", "") or ""
    return ATTRIBUTION if (not extra or extra == ATTRIBUTION or ATTRIBUTION in extra) else f"{ATTRIBUTION} {extra}"


#: Layer-control groups: (title, name prefixes).  Each group folds its layers under one line
#: that says how many are on, so the control fits the top half of the window; layers not
#: listed (background, candidate localities, hub sites) stay at the top level.
LAYER_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Need and deprivation", ("Need: ", "Deprivation: ")),
    ("Services", ("Services: ",)),
    ("Gap areas", ("Gap areas: ",)),
    ("Pram distance from homes", ("Pram distance to ",)),
    ("Across the border", ("Across the border: ",)),
    ("Boundaries", tuple(name for _a, name, *_rest in BOUNDARY_LAYERS)),
    ("Place names", ("Place names: ",)),
)


class WorkshopLayout(MacroElement):
    """Fits the study area into the space the panels leave free; makes the layer control
    collapsible (a "Layers" header folds it) and groups its entries (:data:`LAYER_GROUPS`).

    The fit pads the map by the title panel's measured height (top), the right column
    (:data:`PANEL_WIDTH_PX`) and the attribution panel, so at first open no panel covers
    the study area.  ``map._locmapBounds`` keeps the fitted bounds (tests measure them).
    """

    _template = Template("""
    {% macro script(this, kwargs) %}
    (function () {
        var map = {{ this._parent.get_name() }};
        // the control is declared with "let" wherever it is rendered (notebook views move it
        // to the end): reach it after the whole script has run
        window.setTimeout(function () {
            var control = {{ this.control.get_name() }};
            var groups = {{ this.groups|tojson }};
            var openState = {};
            function groupOf(text) {
                for (var i = 0; i < groups.length; i++) {
                    for (var j = 0; j < groups[i][1].length; j++) {
                        if (text.indexOf(groups[i][1][j]) === 0) { return groups[i][0]; }
                    }
                }
                return null;
            }
            function counts() {
                document.querySelectorAll(".locmap-group").forEach(function (d) {
                    var inputs = d.querySelectorAll("input"), on = 0;
                    inputs.forEach(function (i) { if (i.checked) { on++; } });
                    d.querySelector("summary").textContent = d.getAttribute("data-title") + " (" + on + " of "
                        + inputs.length + " on)";
                });
            }
            function regroup() {
                var list = control._overlaysList, boxes = {};
                if (!list) { return; }
                Array.prototype.slice.call(list.children).forEach(function (label) {
                    var g = groupOf(label.textContent.trim());
                    if (g === null) { return; }
                    if (!boxes[g]) {
                        var d = document.createElement("details");
                        d.className = "locmap-group";
                        d.setAttribute("data-title", g);
                        d.appendChild(document.createElement("summary"));
                        d.open = !!openState[g];
                        d.addEventListener("toggle", function () { openState[g] = d.open; });
                        list.insertBefore(d, label);
                        boxes[g] = d;
                    }
                    boxes[g].appendChild(label);
                });
                counts();
            }
            var update = control._update;
            control._update = function () { var r = update.apply(this, arguments); regroup(); return r; };
            regroup();
            map.on("overlayadd overlayremove", counts);
            var ctrl = control.getContainer();
            var head = document.createElement("div");
            head.className = "locmap-layers-head";
            head.setAttribute("role", "button");
            head.textContent = "Layers \\u25be";
            ctrl.insertBefore(head, ctrl.firstChild);
            L.DomEvent.disableClickPropagation(head);
            head.addEventListener("click", function () {
                var closed = ctrl.classList.toggle("locmap-layers-closed");
                head.textContent = closed ? "Layers \\u25b8" : "Layers \\u25be";
            });
        }, 0);
        var bounds = L.latLngBounds({{ this.bounds|tojson }});
        var top = 10, bottom = 24, attribution = document.querySelector(".locmap-attribution");
        document.querySelectorAll(".locmap-title").forEach(function (e) {
            top = Math.max(top, e.getBoundingClientRect().bottom + 8);
        });
        if (attribution) {
            bottom = Math.max(bottom, window.innerHeight - attribution.getBoundingClientRect().top + 4);
            var scale = document.querySelector(".leaflet-bottom.leaflet-left");
            if (scale) { scale.style.bottom = bottom + "px"; }
            bottom += 36;  // the scale bar
        }
        map._locmapBounds = bounds;
        map.fitBounds(bounds, {paddingTopLeft: [12, top], paddingBottomRight: [{{ this.right_px }}, bottom]});
        // a locality label that covers a hub-site disc moves up in 14 px steps until clear
        function declutter() {
            var hubs = Array.prototype.map.call(document.querySelectorAll(".locmap-hub"),
                                                function (e) { return e.getBoundingClientRect(); });
            document.querySelectorAll(".locmap-loctext").forEach(function (el) {
                el.style.top = "0px";
                for (var step = 1; step <= 8; step++) {
                    var r = el.getBoundingClientRect();
                    var hit = hubs.some(function (h) {
                        return r.left < h.right && h.left < r.right && r.top < h.bottom && h.top < r.bottom;
                    });
                    if (!hit) { break; }
                    el.style.top = (-14 * step) + "px";
                }
            });
        }
        map.on("zoomend overlayadd", declutter);
        window.setTimeout(declutter, 0);
    })();
    {% endmacro %}
    """)

    def __init__(self, bounds: list[list[float]], control: folium.LayerControl) -> None:
        super().__init__()
        self._name = "WorkshopLayout"
        self.bounds = bounds
        self.control = control
        self.groups = [[title, list(prefixes)] for title, prefixes in LAYER_GROUPS]
        self.right_px = PANEL_WIDTH_PX + 24


class NeedsInternetNotice(MacroElement):
    """Online variant: a notice shown until Leaflet has loaded from its CDN (so it stays when
    there is no internet, and without JavaScript), naming the offline copy to open instead."""

    _template = Template("""
    {% macro html(this, kwargs) %}
    <div class="locmap-needs-internet" role="alert">{{ this.body_html }}</div>
    <script>window.addEventListener("load", function () {
        if (window.L && window.L.map) {
            document.querySelectorAll(".locmap-needs-internet").forEach(function (e) { e.remove(); });
        }
    });</script>
    {% endmacro %}
    """)

    def __init__(self, body_html: str) -> None:
        super().__init__()
        self._name = "NeedsInternetNotice"
        self.body_html = body_html


def needs_internet_text(offline_name: str | None) -> str:
    """Plain text of :class:`NeedsInternetNotice` (``offline_name``: the offline copy's file name)."""
    other = f"open {offline_name} (in the same folder) instead" if offline_name else "open the offline copy instead"
    return ("This map needs internet: its map library (Leaflet) could not be loaded. "
            f"Without internet, {other}; it works without a connection.")


def build_map(area: Any, layers: Sequence[str] = DEFAULT_LAYERS, access: gpd.GeoDataFrame | None = None,
              gaps: gpd.GeoDataFrame | None = None, localities: gpd.GeoDataFrame | None = None,
              scorecard: pd.DataFrame | None = None, title: str = "Needs and assets: children and family services",
              crossborder: pd.DataFrame | None = None,
              offline: bool = False, method: str | None = None, access_service_types: Sequence[str] | None = None,
              need_bands: Sequence[str] = ("pop_0_4", "pop_0_19"), scheme: str = "NaturalBreaks",
              tolerance_m: float = 5.0, sites: pd.DataFrame | None = None,
              recommended: str | None = None, place_labels: bool = True) -> folium.Map:
    """Build the workshop map of one study area.

    At first open the map shows a small set: need (children 0-4 per LSOA), the borough
    outline, town names, the candidate localities (``recommended`` marked), the suggested hub
    sites, the key service types and the "any key service" gap areas; every other layer is
    off, a click away in the (collapsible) layer control.  The legend (collapsible) lists
    only what is on.

    Parameters
    ----------
    area : AreaData
        The study area (``locmap.data.area.load_area``); only read, never modified.
    layers : sequence of str
        Any of ``boundaries, need, services, access, gaps, crossborder, localities``; a layer
        whose data is not supplied (e.g. ``access=None``) is skipped.
    access : GeoDataFrame, optional
        Homes with ``minutes__<service_type>`` columns (and optionally ``method``).
    gaps : GeoDataFrame, optional
        Gap polygons: ``service_type, threshold_minutes, gap_pop_0_4, ...``.
    localities : GeoDataFrame, optional
        Candidate localities with a ``locality`` column.
    scorecard : DataFrame, optional
        Keyed by ``locality``; shown (in plain language) in the locality popups.
    crossborder : DataFrame, optional
        :func:`locmap.access.crossborder.crossborder_shares`: the ``crossborder`` layers.
    title : str
        Shown at the top of the page (escaped).
    offline : bool
        Build for a self-contained export: no plugins that need CDN assets (Fullscreen,
        Search) and an offline banner; the online variant instead carries a notice, shown
        while Leaflet cannot load, that names the offline copy.  Save with
        ``locmap.maps.offline.save_map(m, path, offline=True)``.
    method : str, optional
        Distance method for the access legend; default from ``access['method']``.
    access_service_types : sequence of str, optional
        Service types drawn in the access layer (default: all ``minutes__*`` columns).
    need_bands : sequence of str
        Age bands mapped as need choropleths.
    scheme : str
        mapclassify scheme for the need choropleths.
    tolerance_m : float
        Display simplification tolerance in metres.
    sites : DataFrame, optional
        Suggested hub sites (rows of ``SitesResult.sites``, EPSG:27700 ``x``/``y``; an
        optional ``locality`` column names whose they are); MCLP rows are drawn.
    recommended : str, optional
        Name of the recommended locality (drawn thicker, labelled, named in the title).
    place_labels : bool
        Town and ward name layers (with ``boundaries``); False for callers that add their own
        labels (``locmap.present.map_view``).

    Returns
    -------
    folium.Map
    """
    return build_maps(area, layers, access=access, gaps=gaps, localities=localities, scorecard=scorecard,
                      title=title, crossborder=crossborder, variants=(offline,), method=method,
                      access_service_types=access_service_types, need_bands=need_bands, scheme=scheme,
                      tolerance_m=tolerance_m, sites=sites, recommended=recommended, place_labels=place_labels)[0]


def build_maps(area: Any, layers: Sequence[str] = DEFAULT_LAYERS, access: gpd.GeoDataFrame | None = None,
               gaps: gpd.GeoDataFrame | None = None, localities: gpd.GeoDataFrame | None = None,
               scorecard: pd.DataFrame | None = None, title: str = "Needs and assets: children and family services",
               crossborder: pd.DataFrame | None = None, variants: Sequence[bool] = (False, True),
               method: str | None = None, access_service_types: Sequence[str] | None = None,
               need_bands: Sequence[str] = ("pop_0_4", "pop_0_19"), scheme: str = "NaturalBreaks",
               tolerance_m: float = 5.0, sites: pd.DataFrame | None = None,
               recommended: str | None = None, place_labels: bool = True) -> list[folium.Map]:
    """:func:`build_map` for each of ``variants`` (its ``offline`` flag; default: the online map
    and its offline copy), the thematic layers built once for all.

    The layers (and their legend sections) are drawn on one map, which is copied
    (``copy.deepcopy``) for every variant but the last; then each variant gets its own controls,
    panels and, offline, its trimmed assets.  Each map equals the one :func:`build_map` gives for
    its flag: the layers never depend on it, and element ids are given in tree order when a map
    is rendered (:func:`locmap.maps._inert.number_elements`).  Arguments as :func:`build_map`.
    """
    unknown = [lyr for lyr in layers if lyr not in KNOWN_LAYERS]
    if unknown:
        raise ValueError(f"unknown map layer(s) {unknown}; choose from {sorted(KNOWN_LAYERS)}")
    base = _new_map(area)
    _add_layers(base, area, layers, access=access, gaps=gaps, localities=localities, scorecard=scorecard,
                crossborder=crossborder, method=method, access_service_types=access_service_types,
                need_bands=need_bands, scheme=scheme, tolerance_m=tolerance_m, sites=sites,
                recommended=recommended, place_labels=place_labels)
    maps = [copy.deepcopy(base) for _ in variants[1:]] + [base]
    for m, offline in zip(maps, variants):
        if offline:
            # keep only Leaflet + jQuery (inlined by locmap.maps.offline); no Bootstrap/awesome-markers
            m.default_js = [js for js in m.default_js if js[0] in ("leaflet", "jquery")]
            m.default_css = [css for css in m.default_css if css[0] == "leaflet_css"]
        _add_controls(m, offline)
        _add_panels(m, area, title, method, offline, recommended)
        m._locmap_offline = offline  # type: ignore[attr-defined]
    return maps


def _new_map(area: Any) -> folium.Map:
    """Empty map hung from an :class:`~locmap.maps._inert.InertFigure` (fitted by :class:`WorkshopLayout`)."""
    outline = area.borough if area.borough is not None and len(area.borough) else area.wards
    minx, miny, maxx, maxy = outline.to_crs(CRS_WEB).total_bounds
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=12, tiles=None,
                   control_scale=True, prefer_canvas=False, zoomSnap=0.25)
    attach(m)  # renders never compile data text as a template (locmap.maps._inert)
    folium.TileLayer("OpenStreetMap", name="Background: OpenStreetMap",
                     attr="Tiles © OpenStreetMap contributors",  # the data attribution is the panel
                     control=True, show=True).add_to(m)
    m._locmap_bounds = [[float(miny), float(minx)], [float(maxy), float(maxx)]]  # type: ignore[attr-defined]
    m._locmap_searchable = []  # type: ignore[attr-defined]
    return m


def _add_layers(m: folium.Map, area: Any, layers: Sequence[str], *, access: gpd.GeoDataFrame | None,
                gaps: gpd.GeoDataFrame | None, localities: gpd.GeoDataFrame | None,
                scorecard: pd.DataFrame | None, crossborder: pd.DataFrame | None, method: str | None,
                access_service_types: Sequence[str] | None, need_bands: Sequence[str], scheme: str,
                tolerance_m: float, sites: pd.DataFrame | None = None, recommended: str | None = None,
                place_labels: bool = True) -> None:
    """The thematic layers, in drawing order (fills first, points and labels last)."""
    # one fill visible at first (need, else access); gap outlines are drawn over it
    first = "need" if "need" in layers else ("access" if "access" in layers and access is not None else None)
    if "need" in layers:
        add_need_choropleth(m, area, bands=need_bands, scheme=scheme, tolerance_m=tolerance_m)
    if "boundaries" in layers:
        add_boundaries(m, area, tolerance_m=tolerance_m)
    if "access" in layers and access is not None:
        add_access_bands(m, access, method=method, service_types=access_service_types,
                         show_first=first == "access")
    if "gaps" in layers and gaps is not None:
        add_gap_areas(m, gaps, tolerance_m=tolerance_m, show=True)
    if "crossborder" in layers and crossborder is not None:
        add_crossborder(m, area, crossborder, tolerance_m=tolerance_m)
    has_localities = "localities" in layers and localities is not None and len(localities) > 0
    if has_localities:
        add_localities(m, localities, scorecard, tolerance_m=tolerance_m, recommended=recommended)
    if "boundaries" in layers and place_labels:
        add_place_labels(m, area, skip=localities["locality"].astype(str) if has_localities else ())
    if "services" in layers:
        add_services(m, area)
    if sites is not None and len(sites):
        add_hub_sites(m, sites)


def _add_controls(m: folium.Map, offline: bool) -> None:
    """Layer control (collapsible) and layout; online maps also get Fullscreen and a ward/town search (CDN plugins)."""
    control = folium.LayerControl(collapsed=False, position="topright").add_to(m)
    WorkshopLayout(m._locmap_bounds, control).add_to(m)  # type: ignore[attr-defined]
    if offline:
        return
    Fullscreen(position="topleft").add_to(m)
    for gj, label_col, _name in m._locmap_searchable[:1]:  # type: ignore[attr-defined]
        Search(layer=gj, search_label=label_col, placeholder="Search ward/town",
               collapsed=True, position="topleft").add_to(m)


def _add_panels(m: folium.Map, area: Any, title: str, method: str | None, offline: bool,
                recommended: str | None = None) -> None:
    """Legend, title, attribution and offline/needs-internet notices; all text through :func:`safe_text`."""
    _legend(m).add_to(m)
    FixedPanel(_PAGE_CSS, "display:none", "locmap-css").add_to(m)
    area_title = getattr(getattr(area, "pack", None), "title", getattr(area, "name", ""))
    distances = f" &middot; distances: {safe_text(method_label(method))}" if method else ""
    rec = (f"<div style='font-size:13px;margin-top:2px'>&#9733; Recommended pathfinder locality: "
           f"<b>{safe_text(recommended)}</b></div>" if recommended else "")
    banner = (f"<div class='locmap-offline-banner' style='font-size:11px;color:#664d03;background:#fff3cd;"
              f"margin-top:3px;padding:1px 4px;border-radius:3px'>{safe_text(OFFLINE_BANNER)}</div>"
              if offline else "")
    FixedPanel(f"<b>{safe_text(title)}</b><br><span style='font-size:11px'>{safe_text(area_title)}"
               f"{distances}</span>{rec}{banner}",
               "position:fixed;top:10px;left:56px;z-index:1000;background:#fff;"
               "padding:4px 10px;border:1px solid #888;border-radius:4px;font:14px Arial,sans-serif;"
               f"max-width:calc(100vw - {PANEL_WIDTH_PX + 100}px);box-sizing:border-box", "locmap-title").add_to(m)
    FixedPanel(safe_text(_attribution_text(area)),
               "position:fixed;bottom:4px;left:4px;z-index:1000;background:rgba(255,255,255,0.9);"
               "padding:2px 6px;font:10px Arial,sans-serif;color:#222;border-radius:3px;box-sizing:border-box;"
               f"max-width:calc(100vw - {PANEL_WIDTH_PX + 40}px)", "locmap-attribution").add_to(m)
    if not offline:
        NeedsInternetNotice(safe_text(needs_internet_text(_offline_name(area)))).add_to(m)


def _offline_name(area: Any) -> str | None:
    stem = getattr(area, "file_stem", None)
    return f"{stem}_offline.html" if isinstance(stem, str) and stem else None


def render_html(m: folium.Map) -> str:
    """The full HTML page of a map (as ``m.save`` would write it)."""
    return m.get_root().render()
