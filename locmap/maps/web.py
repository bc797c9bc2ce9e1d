"""Interactive folium maps of needs and assets for workshops.

``build_map(area, ...)`` assembles one Leaflet page from small per-layer functions:

- :func:`add_boundaries` -- borough outline, wards, towns, PCN footprints (approximate), LSOAs,
  neighbouring wards across the border;
- :func:`add_need_choropleth` -- children per LSOA by age band and IDACI decile, classified with
  mapclassify (the legend names the scheme);
- :func:`add_services` -- services by type (distinct colours, popups, clusters where dense);
  services without a location are listed in the legend panel instead;
- :func:`add_access_bands` -- homes coloured by pram-pushing minutes to the nearest service;
- :func:`add_gap_areas` -- polygons where families are beyond a threshold;
- :func:`add_localities` -- candidate localities with scorecard popups.

Safety: every string that comes from data goes through :func:`safe_text` before it reaches
folium, which writes popups, tooltips, DivIcons and layer names into the page as raw HTML
(inside JavaScript template literals).  GeoJSON properties shown in tooltips are escaped in a
copy of the frame.  Input frames are never mutated.

Geometries are reprojected to WGS84 and simplified for display only (``display_tolerance_m``).
"""
from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import MacroElement
from jinja2 import Template

from locmap.distance.routing import method_label as routing_method_label
from locmap.export import ATTRIBUTION
from locmap.maps._inert import attach
from locmap.bands import BAND_LABELS
from locmap.settings import CRS_METRIC, CRS_WEB

DEFAULT_LAYERS: tuple[str, ...] = ("boundaries", "need", "services", "access", "gaps", "localities")
KNOWN_LAYERS: frozenset[str] = frozenset(DEFAULT_LAYERS)

#: Distinct colours per service type (colour-blind-friendly where possible: Okabe-Ito + extras).
SERVICE_COLOURS: dict[str, str] = {
    "childrens_centre": "#D55E00",
    "gp_practice": "#0072B2",
    "pharmacy": "#009E73",
    "library": "#CC79A7",
    "primary_school": "#E69F00",
    "secondary_school": "#56B4E9",
    "nursery_school": "#F0E442",
    "other_school": "#7F7F7F",
}
_FALLBACK_COLOURS = ("#8C564B", "#17BECF", "#BCBD22", "#1F77B4", "#9467BD")

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
    """Colour of one service type (stable across maps)."""
    if service_type in SERVICE_COLOURS:
        return SERVICE_COLOURS[service_type]
    idx = list(order).index(service_type) if service_type in order else abs(hash(service_type))
    return _FALLBACK_COLOURS[idx % len(_FALLBACK_COLOURS)]


def pretty(name: str) -> str:
    """``"gp_practice"`` -> ``"Gp practice"``-style label (escaped)."""
    special = {"gp_practice": "GP practice", "childrens_centre": "Children's centre"}
    return safe_text(special.get(name, str(name).replace("_", " ").capitalize()))


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
                fillColor: colours[b], fillOpacity: 0.85})
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
    import mapclassify  # noqa: PLC0415

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
    klass = getattr(mapclassify, scheme)
    kwargs = {"k": k}
    if scheme == "NaturalBreaks":
        kwargs["initial"] = 20
        np.random.seed(0)  # NaturalBreaks uses random starts: keep maps reproducible
    c = klass(v[ok], **kwargs)
    classes[ok] = c.yb
    bins = [float(b) for b in c.bins]
    return classes, bins, f"{names.get(scheme, scheme)}, {len(bins)} classes"


def _ramp(n: int, cmap: str = "YlOrRd") -> list[str]:
    from matplotlib import colormaps  # noqa: PLC0415
    from matplotlib.colors import to_hex  # noqa: PLC0415

    cm = colormaps[cmap]
    if n == 1:
        return [to_hex(cm(0.6))]
    return [to_hex(cm(0.15 + 0.8 * i / (n - 1))) for i in range(n)]


def _swatch(colour: str, label: str, shape: str = "box") -> str:
    """One legend row; ``label`` must already be safe HTML."""
    radius = "50%" if shape == "circle" else "2px"
    return (f"<div><span style='display:inline-block;width:12px;height:12px;margin-right:5px;"
            f"vertical-align:middle;background:{colour};border:1px solid #555;border-radius:{radius}'>"
            f"</span>{label}</div>")


# --------------------------------------------------------------------------- layers
def _legend(m: folium.Map) -> LegendPanel:
    legend = getattr(m, "_locmap_legend", None)
    if legend is None:
        legend = LegendPanel()
        m._locmap_legend = legend  # type: ignore[attr-defined]
    return legend


def add_boundaries(m: folium.Map, area: Any, tolerance_m: float = 5.0, searchable: bool = True) -> list[folium.FeatureGroup]:
    """Borough outline, wards, towns, PCN footprints (approximate), LSOAs, neighbour wards.

    Returns the feature groups added (wards and towns are shown by default).
    """
    groups = []
    legend = _legend(m)
    rows = []

    def geo(name: str, gdf: gpd.GeoDataFrame | None, label_col: str, fields: list[str], aliases: list[str],
            style: dict, show: bool, search: bool = False) -> None:
        if gdf is None or len(gdf) == 0:
            return
        disp = escaped_copy(to_display(gdf, tolerance_m, columns=fields), fields)
        fg = folium.FeatureGroup(name=name, show=show)
        gj = folium.GeoJson(
            disp.__geo_interface__, name=name,
            style_function=lambda _f, s=style: s,
            highlight_function=lambda _f: {"weight": style.get("weight", 1) + 2},
            tooltip=folium.GeoJsonTooltip(fields=[f for f in fields if f in disp.columns],
                                          aliases=[a for f, a in zip(fields, aliases) if f in disp.columns]),
        )
        gj.add_to(fg)
        fg.add_to(m)
        groups.append(fg)
        dash = "dashed" if style.get("dashArray") else "solid"
        rows.append(f"<div><span style='display:inline-block;width:18px;margin-right:5px;vertical-align:middle;"
                    f"border-top:{max(2, int(style.get('weight', 1)))}px {dash} {style['color']}'></span>{name}</div>")
        if search and searchable:
            m._locmap_searchable.append((gj, label_col, name))  # type: ignore[attr-defined]

    if not hasattr(m, "_locmap_searchable"):
        m._locmap_searchable = []  # type: ignore[attr-defined]
    geo("Borough boundary", area.borough, "lad_nm", ["lad_nm", "lad_cd"], ["Borough", "Code"],
        {"color": "#000000", "weight": 3, "fillOpacity": 0}, True)
    geo("Neighbouring wards (across the border)", area.neighbour_wards, "ward_nm",
        ["ward_nm", "lad_nm"], ["Ward", "Borough"],
        {"color": "#777777", "weight": 1, "dashArray": "4 4", "fillColor": "#cccccc", "fillOpacity": 0.15}, False)
    geo("Towns", area.towns, "town", ["town", "n_wards", "pop_0_4", "pop_0_19"],
        ["Town", "Wards", "Children 0-4", "Children 0-19"],
        {"color": "#4B0082", "weight": 3, "fillOpacity": 0}, True, search=True)
    geo("Wards", area.wards, "ward_nm", ["ward_nm", "ward_cd", "town", "pop_0_4"],
        ["Ward", "Code", "Town", "Children 0-4"],
        {"color": "#333333", "weight": 1.2, "fillOpacity": 0}, True, search=True)
    geo("PCN footprints (approximate)", area.pcns, "pcn_name", ["pcn_name", "pcn_code", "n_practices", "footprint_method"],
        ["PCN (approximate footprint)", "Code", "Practices", "Footprint method"],
        {"color": "#0072B2", "weight": 2, "dashArray": "6 3", "fillOpacity": 0}, False)
    geo("LSOAs (2021)", area.lsoa, "lsoa21nm", ["lsoa21nm", "lsoa21cd", "ward_nm"], ["LSOA", "Code", "Ward"],
        {"color": "#999999", "weight": 0.6, "fillOpacity": 0}, False)
    if rows:
        legend.add("Boundaries", "".join(rows) + "<div style='color:#555'>PCN footprints are approximate "
                   "(built from practice registrations), not official boundaries.</div>")
    return groups


def add_need_choropleth(m: folium.Map, area: Any, bands: Sequence[str] = ("pop_0_4", "pop_0_19"),
                        scheme: str = "NaturalBreaks", k: int = 5, tolerance_m: float = 5.0,
                        show_first: bool = True) -> list[folium.FeatureGroup]:
    """Choropleths of children per LSOA (one layer per band) and IDACI decile.

    Classes come from mapclassify (``scheme``, ``k``); the legend states the scheme and breaks.
    """
    groups = []
    legend = _legend(m)
    lsoa = area.lsoa
    if lsoa is None or len(lsoa) == 0:
        return groups
    base_cols = ["lsoa21nm", "lsoa21cd", "ward_nm", "town", "idaci_decile", *bands]
    for i, band in enumerate(bands):
        if band not in lsoa.columns:
            continue
        classes, bins, scheme_label = classify(lsoa[band], scheme=scheme, k=k)
        colours = _ramp(len(bins))
        disp = to_display(lsoa.assign(_cls=classes), tolerance_m, columns=[*base_cols, "_cls"])
        disp = escaped_copy(disp, ["lsoa21nm", "lsoa21cd", "ward_nm", "town"])
        disp[band] = disp[band].round(0)
        label = safe_text(BAND_LABELS.get(band, band))
        name = f"Need: {label} per LSOA"
        fg = folium.FeatureGroup(name=name, show=show_first and i == 0)
        folium.GeoJson(
            disp.__geo_interface__,
            style_function=lambda f, c=colours: {
                "fillColor": c[f["properties"]["_cls"]] if f["properties"]["_cls"] >= 0 else "#ffffff",
                "color": "#666666", "weight": 0.4, "fillOpacity": 0.65},
            tooltip=folium.GeoJsonTooltip(fields=["lsoa21nm", "ward_nm", "town", band],
                                          aliases=["LSOA", "Ward", "Town", label.capitalize()]),
        ).add_to(fg)
        fg.add_to(m)
        groups.append(fg)
        lo = float(np.nanmin(lsoa[band])) if len(bins) else 0.0
        rows = []
        for j, (ub, col) in enumerate(zip(bins, colours)):
            low = lo if j == 0 else bins[j - 1]
            rows.append(_swatch(col, f"{low:,.0f} – {ub:,.0f}"))
        legend.add(name, f"<div style='color:#555'>Classes: {safe_text(scheme_label)} (mapclassify)</div>"
                   + "".join(rows), is_open=show_first and i == 0)
    if "idaci_decile" in lsoa.columns:
        dec = pd.to_numeric(lsoa["idaci_decile"], errors="coerce")
        colours = _ramp(10, "RdYlBu")  # decile 1 (most deprived) red ... 10 blue
        disp = to_display(lsoa, tolerance_m, columns=base_cols)
        disp = escaped_copy(disp, ["lsoa21nm", "lsoa21cd", "ward_nm", "town"])
        disp["idaci_decile"] = dec.loc[disp.index].fillna(0).astype(int)
        name = "Deprivation: IDACI decile (IoD2025)"
        fg = folium.FeatureGroup(name=name, show=False)
        folium.GeoJson(
            disp.__geo_interface__,
            style_function=lambda f, c=colours: {
                "fillColor": c[f["properties"]["idaci_decile"] - 1] if 1 <= f["properties"]["idaci_decile"] <= 10 else "#ffffff",
                "color": "#666666", "weight": 0.4, "fillOpacity": 0.65},
            tooltip=folium.GeoJsonTooltip(fields=["lsoa21nm", "ward_nm", "idaci_decile"],
                                          aliases=["LSOA", "Ward", "IDACI decile (1 = most deprived)"]),
        ).add_to(fg)
        fg.add_to(m)
        groups.append(fg)
        rows = "".join(_swatch(colours[d - 1], f"decile {d}" + (" (most deprived 10%)" if d == 1 else
                                                                   " (least deprived)" if d == 10 else ""))
                       for d in range(1, 11))
        legend.add(name, "<div style='color:#555'>Classes: national deciles (fixed), "
                   "Income Deprivation Affecting Children Index</div>" + rows, is_open=False)
    return groups


def add_services(m: folium.Map, area: Any, service_types: Sequence[str] | None = None,
                 cluster: bool = True, cluster_min_points: int = CLUSTER_MIN_POINTS) -> list[folium.FeatureGroup]:
    """One layer per service type: circle markers with escaped popups and tooltips.

    Types with at least ``cluster_min_points`` services are clustered when ``cluster`` is true
    (online maps).  Services without a location are counted and named in the legend panel.
    """
    from folium.plugins import MarkerCluster  # noqa: PLC0415

    groups = []
    legend = _legend(m)
    svc = area.services
    if svc is None or len(svc) == 0:
        return groups
    types = list(service_types) if service_types else list(dict.fromkeys(svc["service_type"].dropna()))
    located_mask = svc["located"].fillna(False).astype(bool) & svc.geometry.notna()
    located = svc[located_mask]
    if len(located):
        web = located.to_crs(CRS_WEB)
    rows = []
    for stype in types:
        sub = web[web["service_type"] == stype] if len(located) else located
        colour = service_colour(stype, types)
        label = pretty(stype)
        fg = folium.FeatureGroup(name=f"Services: {label} ({len(sub)})", show=True)
        target = MarkerCluster(name=None, control=False).add_to(fg) if (
            cluster and len(sub) >= cluster_min_points) else fg
        for _, r in sub.iterrows():
            info = [("Type", stype.replace("_", " ")), ("Subtype", r.get("subtype")),
                    ("Address", r.get("address")), ("Postcode", r.get("postcode")),
                    ("Borough", r.get("lad_nm")), ("Location", r.get("location_quality")),
                    ("Source", r.get("source")), ("Vintage", r.get("vintage")), ("Status", r.get("status"))]
            info = [(k, v) for k, v in info if _fmt(v) != ""]
            popup = folium.Popup(_table_html(info, title=r.get("name")), max_width=320, parse_html=False)
            folium.CircleMarker(
                location=[round(r.geometry.y, 6), round(r.geometry.x, 6)], radius=6, color="#222222",
                weight=1, fill=True, fill_color=colour, fill_opacity=0.95, popup=popup,
                tooltip=folium.Tooltip(f"{safe_text(r.get('name'))} ({label})"),
            ).add_to(target)
        fg.add_to(m)
        groups.append(fg)
        rows.append(_swatch(colour, f"{label} ({len(sub)})", shape="circle"))
    unlocated = svc[~located_mask & svc["service_type"].isin(types)]
    note = ""
    if len(unlocated):
        names = [f"{safe_text(n)} ({pretty(t)})" for n, t in zip(unlocated["name"], unlocated["service_type"])]
        shown = "<br>".join(names[:15]) + (f"<br>… and {len(names) - 15} more" if len(names) > 15 else "")
        note = (f"<div class='locmap-unlocated' style='margin-top:3px;color:#8a1c1c'><b>Not on the map "
                f"(no location): {len(unlocated)}</b><br>{shown}</div>")
    legend.add("Services", "".join(rows) + note)
    return groups


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
    labels = [f"{b[2]} ({mlabel})" for b in ACCESS_BANDS] + ["no reachable service"] * 6
    for i, col in enumerate(cols):
        stype = col.split("__", 1)[1]
        idx = _band_index(pd.to_numeric(pts[col], errors="coerce").to_numpy(dtype=float))
        layer = AccessBandLayer(homes, "".join(map(str, idx)), colours, labels,
                                name=f"Pram distance to {pretty(stype)}",
                                show=show_first and i == 0, radius=radius)
        layer.add_to(m)
        layers.append(layer)
    rows = "".join(_swatch(b[3], b[2], "circle") for b in ACCESS_BANDS)
    legend = _legend(m)
    legend.add("Pram-pushing distance from homes",
               f"<div class='locmap-method'>Minutes to the nearest service, <b>{mlabel}</b></div>" + rows
               + _swatch(NO_ACCESS_COLOUR, "no reachable service", "circle"), is_open=show_first)
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
    _legend(m).add("Gap areas", _swatch("#b2182b", "families beyond the threshold (see popup)"), is_open=show)
    return groups


def _gap_features(disp: gpd.GeoDataFrame, fields: list[str], fg: folium.FeatureGroup) -> None:
    for _, r in disp.iterrows():
        thr = pd.to_numeric(r.get("threshold_minutes"), errors="coerce")
        title = (f"Gap: {str(r.get('service_type', '')).replace('_', ' ')}"
                 + (f" beyond {float(thr):g} min" if pd.notna(thr) else ""))
        rows = [(c.replace("_", " "), r[c]) for c in fields]
        gj = folium.GeoJson(
            {"type": "Feature", "properties": {}, "geometry": r.geometry.__geo_interface__},
            style_function=lambda _f: {"color": "#b2182b", "weight": 2, "fillColor": "#b2182b",
                                       "fillOpacity": 0.25, "dashArray": "5 3"},
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
    palette = _ramp(max(len(disp), 2), "tab10") if len(disp) <= 10 else _ramp(len(disp), "tab20")
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
            style_function=lambda _f, c=colour: {"color": c, "weight": 4, "fillColor": c, "fillOpacity": 0.08},
        )
        folium.Popup(_table_html(rows or [("scorecard", "not available")], title=loc_name),
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
    _legend(m).add("Candidate localities", "<div>Outlined; click a locality for its scorecard.</div>")
    return fg


# --------------------------------------------------------------------------- assembly
def _attribution_text(area: Any) -> str:
    extra = getattr(area, "attribution", "") or ""
    return ATTRIBUTION if (not extra or extra == ATTRIBUTION or ATTRIBUTION in extra) else f"{ATTRIBUTION} {extra}"


def build_map(area: Any, layers: Sequence[str] = DEFAULT_LAYERS, access: gpd.GeoDataFrame | None = None,
              gaps: gpd.GeoDataFrame | None = None, localities: gpd.GeoDataFrame | None = None,
              scorecard: pd.DataFrame | None = None, title: str = "Needs and assets: children and family services",
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
    attribution = _attribution_text(area)
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
                     attr=f"{html.escape(ATTRIBUTION)} | Tiles © OpenStreetMap contributors",
                     control=True, show=True).add_to(m)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    legend = _legend(m)
    m._locmap_searchable = []  # type: ignore[attr-defined]
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
    if "localities" in layers and localities is not None:
        add_localities(m, localities, scorecard, tolerance_m=tolerance_m)
    if "services" in layers:
        add_services(m, area, cluster=not offline)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    if not offline:
        from folium.plugins import Fullscreen, Search  # noqa: PLC0415

        Fullscreen(position="topleft").add_to(m)
        for gj, label_col, _name in m._locmap_searchable[:1]:  # type: ignore[attr-defined]
            Search(layer=gj, search_label=label_col, placeholder="Search ward/town",
                   collapsed=True, position="topleft").add_to(m)
    legend.add_to(m)
    FixedPanel(_PAGE_CSS, "display:none", "locmap-css").add_to(m)
    FixedPanel(f"<b>{safe_text(title)}</b><br><span style='font-size:11px'>{safe_text(getattr(getattr(area, 'pack', None), 'title', getattr(area, 'name', '')))}"
               + (f" &middot; distances: {safe_text(method_label(method))}" if method else "") + "</span>",
               "position:fixed;top:10px;left:60px;z-index:1000;background:rgba(255,255,255,0.93);"
               "padding:4px 10px;border:1px solid #888;border-radius:4px;font:14px Arial,sans-serif;"
               "max-width:45vw", "locmap-title").add_to(m)
    FixedPanel(safe_text(attribution),
               "position:fixed;bottom:4px;left:4px;z-index:1000;background:rgba(255,255,255,0.9);"
               "padding:2px 6px;font:10px Arial,sans-serif;max-width:45vw;color:#222;border-radius:3px",
               "locmap-attribution").add_to(m)
    if offline:
        FixedPanel(safe_text(OFFLINE_BANNER),
                   "position:fixed;top:52px;left:60px;z-index:1000;background:#fff3cd;color:#664d03;"
                   "padding:3px 8px;border:1px solid #e0c36a;border-radius:4px;font:12px Arial,sans-serif",
                   "locmap-offline-banner").add_to(m)
    m._locmap_offline = offline  # type: ignore[attr-defined]
    return m


def render_html(m: folium.Map) -> str:
    """The full HTML page of a map (as ``m.save`` would write it)."""
    return m.get_root().render()
