"""Interactive folium maps of needs and assets for workshops.

``build_map(area, ...)`` assembles one Leaflet page from small per-layer functions:

- :func:`add_boundaries` -- borough outline, wards, towns, PCN footprints (approximate), LSOAs,
  neighbouring wards across the border;
- :func:`add_need_choropleth` -- children per LSOA by age band and IDACI decile, classified with
  mapclassify (the legend names the scheme);
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

import math
from collections.abc import Iterable, Sequence
from typing import Any

import folium
import geopandas as gpd
import shapely
import numpy as np
import pandas as pd
from branca.element import MacroElement
from folium.plugins import Fullscreen, MarkerCluster, Search
from jinja2 import Template
from matplotlib import colormaps
from matplotlib.colors import to_hex, to_rgb

from locmap.bands import BAND_LABELS
from locmap.distance.routing import method_label as routing_method_label
from locmap.export import ATTRIBUTION
from locmap.maps._inert import attach
from locmap.maps.palette import SERVICE_STYLES, by_prominence, class_labels, service_label, service_style
from locmap.settings import CRS_METRIC, CRS_WEB

DEFAULT_LAYERS: tuple[str, ...] = ("boundaries", "need", "services", "access", "gaps", "crossborder",
                                   "localities")
KNOWN_LAYERS: frozenset[str] = frozenset(DEFAULT_LAYERS)

#: Colour per known service type (from :data:`locmap.maps.palette.SERVICE_STYLES`).
SERVICE_COLOURS: dict[str, str] = {t: st.colour for t, st in SERVICE_STYLES.items()}

#: Pram-distance bands: (lower minutes, upper minutes, label, colour).  Lower bound inclusive.
ACCESS_BANDS: tuple[tuple[float, float, str, str], ...] = (
    (0.0, 10.0, "0–10 min", "#1a9850"),
    (10.0, 15.0, "10–15 min", "#a6d96a"),
    (15.0, 20.0, "15–20 min", "#fdae61"),
    (20.0, math.inf, "20+ min", "#d73027"),
)
NO_ACCESS_COLOUR = "#636363"

OFFLINE_BANNER = ("Offline copy: background map tiles need internet; boundaries, points and "
                  "legends are embedded")

#: Services of one type above this count are clustered (online maps only).
CLUSTER_MIN_POINTS = 40

#: Fill opacities of the drawn layers; legend swatches use the same values.
NEED_FILL_OPACITY = 0.65
GAP_FILL_OPACITY = 0.25
HOMES_FILL_OPACITY = 0.85
SERVICE_FILL_OPACITY = 0.95
GAP_COLOUR = "#b2182b"
LOCALITY_FILL_OPACITY = 0.08
#: Locality outline/label colours: ColorBrewer Dark2 without its mustard (low contrast as text).
LOCALITY_COLOURS: tuple[str, ...] = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#a6761d",
                                     "#666666")


#: Page CSS: compact, scrollable layer control; attribution control wraps instead of overflowing.
_PAGE_CSS = """<style>
.leaflet-control-layers-expanded{font:12px/1.3 Arial,sans-serif;max-height:40vh;overflow-y:auto;max-width:300px}
.leaflet-bottom.leaflet-left{bottom:60px}
.leaflet-control-layers label{margin:1px 0}
.leaflet-control-attribution{max-width:42vw;white-space:normal;font-size:9px;line-height:1.2}
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


def _table_html(rows: Sequence[tuple[str, Any]], title: str | None = None) -> str:
    """Small two-column HTML table; labels and values are escaped here."""
    head = f"<b>{safe_text(title)}</b><br>" if title else ""
    body = "".join(f"<tr><th style='text-align:left;padding-right:6px'>{safe_text(k)}</th>"
                   f"<td>{_fmt(v)}</td></tr>" for k, v in rows)
    return (f"<div style='max-height:320px;overflow:auto'>{head}"
            f"<table style='font-size:12px'>{body}</table></div>")


# --------------------------------------------------------------------------- page elements
class LegendPanel(MacroElement):
    """Fixed legend panel (bottom right).  ``sections`` are (escaped title, escaped html)."""

    _template = Template("""
    {% macro html(this, kwargs) %}
    <div id="{{ this.get_name() }}" class="locmap-legend" style="position:fixed;bottom:64px;right:10px;
         z-index:1000;background:rgba(255,255,255,0.93);padding:6px 9px;border:1px solid #888;
         border-radius:4px;font:12px/1.35 Arial,sans-serif;max-height:calc(58vh - 80px);max-width:300px;overflow:auto;">
      <div style="font-weight:bold;font-size:13px;margin-bottom:3px">Legend</div>
      {% for title, body, is_open in this.sections %}
      <details{% if is_open %} open{% endif %}><summary style="font-weight:bold;cursor:pointer">{{ title }}</summary>{{ body }}</details>
      {% endfor %}
    </div>
    {% endmacro %}
    """)

    def __init__(self) -> None:
        super().__init__()
        self._name = "LegendPanel"
        self.sections: list[tuple[str, str, bool]] = []

    def add(self, title_html: str, body_html: str, is_open: bool = True) -> None:
        """Add a section (both arguments must already be escaped/safe HTML)."""
        self.sections.append((title_html, body_html, is_open))


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
    """Classify ``values`` with mapclassify.

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
        Human-readable scheme name for the legend, e.g. ``"Natural Breaks (Jenks), 5 classes"``.
    """
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(v)
    classes = np.full(len(v), -1, dtype=int)
    if not ok.any():
        return classes, [], f"{scheme} (no data)"
    k = max(1, min(k, len(np.unique(v[ok]))))
    names = {"NaturalBreaks": "Natural Breaks (Jenks)", "FisherJenks": "Fisher-Jenks",
             "Quantiles": "Quantiles", "EqualInterval": "Equal interval"}
    if k < 2:
        classes[ok] = 0
        return classes, [float(np.nanmax(v))], f"{names.get(scheme, scheme)}, 1 class"
    import mapclassify  # noqa: PLC0415  (heavy: ~2 s at import, numba compiles; only maps that classify need it)

    klass = getattr(mapclassify, scheme)
    kwargs = {"k": k, "initial": 20} if scheme == "NaturalBreaks" else {"k": k}
    # NaturalBreaks runs k-means from random starts on numpy's global generator: seed it for
    # reproducible maps, and give the caller's generator state back afterwards
    state = np.random.get_state()
    try:
        np.random.seed(0)
        c = klass(v[ok], **kwargs)
    finally:
        np.random.set_state(state)
    classes[ok] = c.yb
    bins = [float(b) for b in c.bins]
    return classes, bins, f"{names.get(scheme, scheme)}, {len(bins)} classes"


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
     {"color": "#4B0082", "weight": 3, "fillOpacity": 0}, True, True),
    ("wards", "Wards", "ward_nm", ("ward_nm", "ward_cd", "town", "pop_0_4"), ("Ward", "Code", "Town", "Children 0-4"),
     {"color": "#333333", "weight": 1.2, "fillOpacity": 0}, True, True),
    ("pcns", "PCN footprints (approximate)", "pcn_name", ("pcn_name", "pcn_code", "n_practices", "footprint_method"),
     ("PCN, approximate footprint", "Code", "Practices", "Footprint method"),
     {"color": "#117733", "weight": 2, "dashArray": "6 3", "fillOpacity": 0}, False, False),
    ("lsoa", "LSOAs (2021)", "lsoa21nm", ("lsoa21nm", "lsoa21cd", "ward_nm"), ("LSOA", "Code", "Ward"),
     {"color": "#999999", "weight": 0.6, "fillOpacity": 0}, False, False),
)


def add_boundaries(m: folium.Map, area: Any, tolerance_m: float = 5.0, searchable: bool = True) -> list[folium.FeatureGroup]:
    """Borough outline, wards, towns, PCN footprints (approximate), LSOAs, neighbour wards.

    Returns the feature groups added (borough, towns and wards are shown by default); the
    legend shows each line as drawn.
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
        rows.append(_line_swatch(style, name))
        if search and searchable:
            m._locmap_searchable.append((gj, label_col, name))  # type: ignore[attr-defined]
    if rows:
        _legend(m).add("Boundaries", "".join(rows) + "<div style='color:#555'>PCN footprints are approximate, "
                       "built from practice registrations; they are not official boundaries.</div>")
    return groups


def _line_swatch(style: dict, label: str) -> str:
    """Legend row for a boundary line drawn with ``style`` (Leaflet path options)."""
    dash = "dashed" if style.get("dashArray") else "solid"
    fill = _rgba(style.get("fillColor", "#ffffff"), style.get("fillOpacity", 0))
    return (f"<div><span style='display:inline-block;width:18px;height:9px;margin-right:5px;"
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
    colours = _ramp(len(bins))
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
    _legend(m).add(name, f"<div style='color:#555'>Classes (mapclassify): {safe_text(scheme_label)}</div>"
                   + rows, is_open=show)
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
                   "Income Deprivation Affecting Children Index</div>" + rows, is_open=False)
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
                   "whose nearest service is across the borough border</div>" + rows_html, is_open=False)
    return fg


#: Leaflet pane of the most prominent service markers (children's centres): above the other
#: vector layers (overlayPane, z-index 400), below markers, tooltips and popups.
PROMINENT_PANE = "locmapProminent"


def add_services(m: folium.Map, area: Any, service_types: Sequence[str] | None = None,
                 cluster: bool = True, cluster_min_points: int = CLUSTER_MIN_POINTS,
                 shown_types: Sequence[str] | None = None) -> list[folium.FeatureGroup]:
    """One layer per service type: circle markers with escaped popups and tooltips.

    Types are listed most prominent first (children's centres: largest markers, drawn above
    everything else); ``shown_types`` are visible at first (default: the pack's key service
    types, or all), the others are a click away in the layer control.  Types with at least
    ``cluster_min_points`` services are clustered when ``cluster`` is true (online maps).
    Services without a location are counted and named in the legend panel.
    """
    svc = area.services
    if svc is None or len(svc) == 0:
        return []
    types = by_prominence(list(service_types) if service_types else list(svc["service_type"].dropna()))
    if shown_types is None:
        shown_types = getattr(getattr(area, "pack", None), "key_service_types", None) or types
    located_mask = svc["located"].fillna(False).astype(bool) & svc.geometry.notna()
    web = svc[located_mask].to_crs(CRS_WEB) if located_mask.any() else svc[located_mask]
    folium.map.CustomPane(PROMINENT_PANE, z_index=450, pointer_events=True).add_to(m)
    groups, rows = [], []
    for stype in types:
        sub = web[web["service_type"] == stype]
        groups.append(_service_layer(m, sub, stype, show=stype in shown_types,
                                     cluster=cluster and len(sub) >= cluster_min_points))
        style = service_style(stype)
        rows.append(_swatch(style.colour, f"{pretty(stype)} ({len(sub)})", shape="circle",
                            opacity=SERVICE_FILL_OPACITY, size_px=round(2 * _service_radius(stype)),
                            border=f"{_service_weight(stype):g}px solid #222"))
    note = _unlocated_note(svc[~located_mask & svc["service_type"].isin(types)])
    _legend(m).add("Services", "".join(rows) + note)
    return groups


def _service_radius(stype: str) -> float:
    return max(5.0, round(0.6 * service_style(stype).size_pt, 1))


def _service_weight(stype: str) -> float:
    return 2.5 if service_style(stype).rank == 0 else 1.0


def _service_layer(m: folium.Map, sub: gpd.GeoDataFrame, stype: str, show: bool, cluster: bool
                   ) -> folium.FeatureGroup:
    """Markers of one service type (WGS84 points) in a feature group added to ``m``."""
    style = service_style(stype)
    label = pretty(stype)
    fg = folium.FeatureGroup(name=f"Services: {label} ({len(sub)})", show=show)
    target = MarkerCluster(name=None, control=False).add_to(fg) if cluster else fg
    extra = {"pane": PROMINENT_PANE} if style.rank == 0 else {}
    for _, r in sub.iterrows():
        info = [("Type", service_label(stype)), ("Subtype", r.get("subtype")),
                ("Address", r.get("address")), ("Postcode", r.get("postcode")),
                ("Borough", r.get("lad_nm")), ("Location", r.get("location_quality")),
                ("Source", r.get("source")), ("Vintage", r.get("vintage")), ("Status", r.get("status"))]
        info = [(k, v) for k, v in info if _fmt(v) != ""]
        popup = folium.Popup(_table_html(info, title=r.get("name")), max_width=320, parse_html=False)
        folium.CircleMarker(
            location=[round(r.geometry.y, 6), round(r.geometry.x, 6)], radius=_service_radius(stype),
            color="#222222", weight=_service_weight(stype), fill=True, fill_color=style.colour,
            fill_opacity=SERVICE_FILL_OPACITY, popup=popup,
            tooltip=folium.Tooltip(f"{safe_text(r.get('name'))} &middot; {label}"), **extra,
        ).add_to(target)
    fg.add_to(m)
    return fg


def _unlocated_note(unlocated: pd.DataFrame, max_names: int = 15) -> str:
    """Legend note naming the services that have no location (escaped)."""
    if not len(unlocated):
        return ""
    names = [f"{safe_text(n)} &middot; {pretty(t)}" for n, t in zip(unlocated["name"], unlocated["service_type"])]
    shown = "<br>".join(names[:max_names])
    if len(names) > max_names:
        shown += f"<br>… and {len(names) - max_names} more"
    return (f"<div class='locmap-unlocated' style='margin-top:3px;color:#8a1c1c'><b>Not on the map "
            f"(no location): {len(unlocated)}</b><br>{shown}</div>")


def _band_index(minutes: np.ndarray) -> np.ndarray:
    idx = np.full(len(minutes), 9, dtype=int)
    for i, (lo, hi, _lab, _c) in enumerate(ACCESS_BANDS):
        idx[(minutes >= lo) & (minutes < hi)] = i
    return idx


def add_access_bands(m: folium.Map, access: gpd.GeoDataFrame, method: str | None = None,
                     service_types: Sequence[str] | None = None, show_first: bool = True,
                     radius: float = 3.0) -> list[AccessBandLayer]:
    """Homes coloured by pram-pushing minutes (0–10/10–15/15–20/20+) to the nearest service.

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
    colours = [b[3] for b in ACCESS_BANDS] + [NO_ACCESS_COLOUR] * 6
    labels = [f"{b[2]}, {mlabel}" for b in ACCESS_BANDS] + ["No reachable service"] * 6
    for i, col in enumerate(cols):
        stype = col.split("__", 1)[1]
        idx = _band_index(pd.to_numeric(pts[col], errors="coerce").to_numpy(dtype=float))
        layer = AccessBandLayer(homes, "".join(map(str, idx)), colours, labels,
                                name=f"Pram distance to {pretty(stype)}",
                                show=show_first and i == 0, radius=radius)
        layer.add_to(m)
        layers.append(layer)
    rows = "".join(_swatch(b[3], b[2], "circle", opacity=HOMES_FILL_OPACITY, border="none") for b in ACCESS_BANDS)
    legend = _legend(m)
    legend.add("Pram-pushing distance from homes",
               f"<div class='locmap-method'>Minutes to the nearest service; distances: <b>{mlabel}</b></div>"
               + rows + _swatch(NO_ACCESS_COLOUR, "No reachable service", "circle", opacity=HOMES_FILL_OPACITY,
                                border="none"), is_open=show_first)
    return layers


def add_gap_areas(m: folium.Map, gaps: gpd.GeoDataFrame, tolerance_m: float = 5.0,
                  show: bool = True) -> list[folium.FeatureGroup]:
    """Gap polygons (families beyond ``threshold_minutes`` of a service type), dashed red.

    One layer per service type x threshold, named "Gap areas: <type> beyond <n> min".
    """
    groups: list[folium.FeatureGroup] = []
    if gaps is None or len(gaps) == 0:
        return groups
    fields = [c for c in gaps.columns if c != "geometry"]
    disp = to_display(gaps, tolerance_m, columns=fields)
    keys = [c for c in ("service_type", "threshold_minutes") if c in disp.columns]
    parts = list(disp.groupby(keys, sort=False)) if keys else [((), disp)]
    for i, (key, part) in enumerate(parts):
        key = key if isinstance(key, tuple) else (key,)
        stype = key[0] if keys and keys[0] == "service_type" else "service"
        thr = key[-1] if "threshold_minutes" in keys else None
        name = f"Gap areas: {pretty(stype)}" + (f" beyond {float(thr):g} min" if thr is not None else "")
        fg = folium.FeatureGroup(name=name, show=show and i == 0)
        _gap_features(part, fields, fg)
        fg.add_to(m)
        groups.append(fg)
    _legend(m).add("Gap areas", _swatch(GAP_COLOUR, "Families beyond the threshold (click for numbers)",
                                        opacity=GAP_FILL_OPACITY, border=f"2px dashed {GAP_COLOUR}"),
                   is_open=show)
    return groups


def _gap_features(disp: gpd.GeoDataFrame, fields: list[str], fg: folium.FeatureGroup) -> None:
    for _, r in disp.iterrows():
        thr = pd.to_numeric(r.get("threshold_minutes"), errors="coerce")
        title = (f"Gap: {service_label(str(r.get('service_type', 'service')))}"
                 + (f" beyond {float(thr):g} min" if pd.notna(thr) else ""))
        rows = [(c.replace("_", " "), r[c]) for c in fields]
        gj = folium.GeoJson(
            {"type": "Feature", "properties": {}, "geometry": r.geometry.__geo_interface__},
            style_function=lambda _f: {"color": GAP_COLOUR, "weight": 2, "fillColor": GAP_COLOUR,
                                       "fillOpacity": GAP_FILL_OPACITY, "dashArray": "5 3"},
        )
        folium.Popup(_table_html(rows, title=title), max_width=320, parse_html=False).add_to(gj)
        folium.Tooltip(safe_text(title)).add_to(gj)
        gj.add_to(fg)


def add_localities(m: folium.Map, localities: gpd.GeoDataFrame, scorecard: pd.DataFrame | None = None,
                   tolerance_m: float = 5.0, name_col: str = "locality") -> folium.FeatureGroup | None:
    """Candidate locality polygons, labelled, with the scorecard row as popup."""
    if localities is None or len(localities) == 0:
        return None
    disp = to_display(localities, tolerance_m, columns=[name_col])
    card = None
    if scorecard is not None and len(scorecard) and name_col in scorecard.columns:
        card = scorecard.set_index(name_col)
    palette = LOCALITY_COLOURS
    fg = folium.FeatureGroup(name="Candidate localities (scorecard)", show=True)
    for i, (_, r) in enumerate(disp.iterrows()):
        loc_name = r[name_col]
        rows: list[tuple[str, Any]] = []
        if card is not None and loc_name in card.index:
            row = card.loc[loc_name]
            if isinstance(row, pd.DataFrame):
                row = row.iloc[0]
            rows = [(str(k).replace("_", " "), v) for k, v in row.items()]
        colour = palette[i % len(palette)]
        gj = folium.GeoJson(
            {"type": "Feature", "properties": {}, "geometry": r.geometry.__geo_interface__},
            style_function=lambda _f, c=colour: {"color": c, "weight": 4, "fillColor": c,
                                                 "fillOpacity": LOCALITY_FILL_OPACITY},
        )
        folium.Popup(_table_html(rows or [("Scorecard", "not available")], title=loc_name),
                     max_width=360, parse_html=False).add_to(gj)
        folium.Tooltip(f"Locality: {safe_text(loc_name)}").add_to(gj)
        gj.add_to(fg)
        pt = r.geometry.representative_point()
        folium.Marker(
            [pt.y, pt.x],
            icon=folium.DivIcon(html=f"<div style='font:bold 13px Arial;color:{colour};"
                                     f"text-shadow:0 0 3px #fff,0 0 3px #fff;white-space:nowrap'>"
                                     f"{safe_text(loc_name)}</div>", icon_size=(150, 18), icon_anchor=(0, 9)),
        ).add_to(fg)
    fg.add_to(m)
    swatches = "".join(_swatch(palette[i % len(palette)], safe_text(name), opacity=LOCALITY_FILL_OPACITY,
                               border=f"3px solid {palette[i % len(palette)]}")
                       for i, name in enumerate(disp[name_col]))
    _legend(m).add("Candidate localities", "<div>Click a locality for its scorecard.</div>" + swatches)
    return fg


# --------------------------------------------------------------------------- assembly
def _attribution_text(area: Any) -> str:
    extra = getattr(area, "attribution", "") or ""
    return ATTRIBUTION if (not extra or extra == ATTRIBUTION or ATTRIBUTION in extra) else f"{ATTRIBUTION} {extra}"


def build_map(area: Any, layers: Sequence[str] = DEFAULT_LAYERS, access: gpd.GeoDataFrame | None = None,
              gaps: gpd.GeoDataFrame | None = None, localities: gpd.GeoDataFrame | None = None,
              scorecard: pd.DataFrame | None = None, title: str = "Needs and assets: children and family services",
              crossborder: pd.DataFrame | None = None,
              offline: bool = False, method: str | None = None, access_service_types: Sequence[str] | None = None,
              need_bands: Sequence[str] = ("pop_0_4", "pop_0_19"), scheme: str = "NaturalBreaks",
              tolerance_m: float = 5.0) -> folium.Map:
    """Build the workshop map of one study area.

    Parameters
    ----------
    area : AreaData
        The study area (``locmap.data.area.load_area``); only read, never modified.
    layers : sequence of str
        Any of ``boundaries, need, services, access, gaps, localities``; a layer whose data
        is not supplied (e.g. ``access=None``) is skipped.
    access : GeoDataFrame, optional
        Homes with ``minutes__<service_type>`` columns (and optionally ``method``).
    gaps : GeoDataFrame, optional
        Gap polygons: ``service_type, threshold_minutes, gap_pop_0_4, ...``.
    localities : GeoDataFrame, optional
        Candidate localities with a ``locality`` column.
    scorecard : DataFrame, optional
        Keyed by ``locality``; shown in the locality popups.
    crossborder : DataFrame, optional
        :func:`locmap.access.crossborder.crossborder_shares`: the ``crossborder`` layers.
    title : str
        Shown at the top of the page (escaped).
    offline : bool
        Build for a self-contained export: no plugins that need CDN assets (MarkerCluster,
        Fullscreen, Search) and an offline banner.  Save with
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

    Returns
    -------
    folium.Map
    """
    unknown = [lyr for lyr in layers if lyr not in KNOWN_LAYERS]
    if unknown:
        raise ValueError(f"unknown map layer(s) {unknown}; choose from {sorted(KNOWN_LAYERS)}")
    m = _new_map(area, offline)
    _add_layers(m, area, layers, access=access, gaps=gaps, localities=localities, scorecard=scorecard,
                crossborder=crossborder,
                offline=offline, method=method, access_service_types=access_service_types,
                need_bands=need_bands, scheme=scheme, tolerance_m=tolerance_m)
    _add_controls(m, offline)
    _add_panels(m, area, title, method, offline)
    m._locmap_offline = offline  # type: ignore[attr-defined]
    return m


def _new_map(area: Any, offline: bool) -> folium.Map:
    """Empty map fitted to the study area, hung from an :class:`~locmap.maps._inert.InertFigure`."""
    outline = area.borough if area.borough is not None and len(area.borough) else area.wards
    minx, miny, maxx, maxy = outline.to_crs(CRS_WEB).total_bounds
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=12, tiles=None,
                   control_scale=True, prefer_canvas=False)
    attach(m)  # renders never compile data text as a template (locmap.maps._inert)
    if offline:
        # keep only Leaflet + jQuery (inlined by locmap.maps.offline); no Bootstrap/awesome-markers
        m.default_js = [js for js in m.default_js if js[0] in ("leaflet", "jquery")]
        m.default_css = [css for css in m.default_css if css[0] == "leaflet_css"]
    folium.TileLayer("OpenStreetMap", name="Background: OpenStreetMap",
                     attr=f"{safe_text(ATTRIBUTION)} | Tiles © OpenStreetMap contributors",
                     control=True, show=True).add_to(m)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    m._locmap_searchable = []  # type: ignore[attr-defined]
    return m


def _add_layers(m: folium.Map, area: Any, layers: Sequence[str], *, access: gpd.GeoDataFrame | None,
                gaps: gpd.GeoDataFrame | None, localities: gpd.GeoDataFrame | None,
                scorecard: pd.DataFrame | None, crossborder: pd.DataFrame | None, offline: bool, method: str | None,
                access_service_types: Sequence[str] | None, need_bands: Sequence[str], scheme: str,
                tolerance_m: float) -> None:
    """The thematic layers, in drawing order (fills first, points last)."""
    # one thematic layer visible at first (need > access > gaps); the others are a click away
    present = [lyr for lyr, ok in (("need", True), ("access", access is not None), ("gaps", gaps is not None))
               if lyr in layers and ok]
    first = present[0] if present else None
    if "need" in layers:
        add_need_choropleth(m, area, bands=need_bands, scheme=scheme, tolerance_m=tolerance_m)
    if "boundaries" in layers:
        add_boundaries(m, area, tolerance_m=tolerance_m)
    if "access" in layers and access is not None:
        add_access_bands(m, access, method=method, service_types=access_service_types,
                         show_first=first == "access")
    if "gaps" in layers and gaps is not None:
        add_gap_areas(m, gaps, tolerance_m=tolerance_m, show=first == "gaps")
    if "crossborder" in layers and crossborder is not None:
        add_crossborder(m, area, crossborder, tolerance_m=tolerance_m)
    if "localities" in layers and localities is not None:
        add_localities(m, localities, scorecard, tolerance_m=tolerance_m)
    if "services" in layers:
        add_services(m, area, cluster=not offline)


def _add_controls(m: folium.Map, offline: bool) -> None:
    """Layer control; online maps also get Fullscreen and a ward/town search (CDN plugins)."""
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    if offline:
        return
    Fullscreen(position="topleft").add_to(m)
    for gj, label_col, _name in m._locmap_searchable[:1]:  # type: ignore[attr-defined]
        Search(layer=gj, search_label=label_col, placeholder="Search ward/town",
               collapsed=True, position="topleft").add_to(m)


def _add_panels(m: folium.Map, area: Any, title: str, method: str | None, offline: bool) -> None:
    """Legend, title, attribution and (offline) banner panels; all text through :func:`safe_text`."""
    _legend(m).add_to(m)
    FixedPanel(_PAGE_CSS, "display:none", "locmap-css").add_to(m)
    area_title = getattr(getattr(area, "pack", None), "title", getattr(area, "name", ""))
    distances = f" &middot; distances: {safe_text(method_label(method))}" if method else ""
    FixedPanel(f"<b>{safe_text(title)}</b><br><span style='font-size:11px'>{safe_text(area_title)}"
               f"{distances}</span>",
               "position:fixed;top:10px;left:60px;z-index:1000;background:rgba(255,255,255,0.93);"
               "padding:4px 10px;border:1px solid #888;border-radius:4px;font:14px Arial,sans-serif;"
               "max-width:45vw", "locmap-title").add_to(m)
    FixedPanel(safe_text(_attribution_text(area)),
               "position:fixed;bottom:4px;left:4px;z-index:1000;background:rgba(255,255,255,0.9);"
               "padding:2px 6px;font:10px Arial,sans-serif;max-width:45vw;color:#222;border-radius:3px",
               "locmap-attribution").add_to(m)
    if offline:
        FixedPanel(safe_text(OFFLINE_BANNER),
                   "position:fixed;top:52px;left:60px;z-index:1000;background:#fff3cd;color:#664d03;"
                   "padding:3px 8px;border:1px solid #e0c36a;border-radius:4px;font:12px Arial,sans-serif",
                   "locmap-offline-banner").add_to(m)


def render_html(m: folium.Map) -> str:
    """The full HTML page of a map (as ``m.save`` would write it)."""
    return m.get_root().render()
