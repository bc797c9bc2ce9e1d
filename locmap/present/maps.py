"""Interactive maps for notebooks: a folium map, self-contained, in a sandboxed iframe, with one
name label per area (:func:`map_view`).
"""
from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import folium
from branca.element import MacroElement
from jinja2 import Template

from locmap.maps import web
from locmap.maps.offline import make_self_contained


@dataclass(frozen=True)
class MapView:
    """A self-contained map page shown in a sandboxed iframe (scripts run, nothing else)."""

    page: str
    height_px: int = 520
    title: str = "map"

    def _repr_html_(self) -> str:
        return (f"<iframe class='locmap-map' title='{html.escape(self.title, quote=True)}' "
                f"sandbox='allow-scripts allow-popups' style='width:100%;height:{int(self.height_px)}px;"
                f"border:1px solid #bbb' srcdoc=\"{html.escape(self.page, quote=True)}\"></iframe>")

    def __repr__(self) -> str:
        return f"<interactive map: {self.title} ({len(self.page) // 1024:,} kB)>"


def _label_layer(gdf: Any, col: str, name: str, colour: str) -> folium.FeatureGroup:
    """Permanent text labels (escaped), one per name (rows dissolved by name, so an area drawn as
    several polygons is labelled once), centred on a point inside its largest part."""
    fg = folium.FeatureGroup(name=f"Labels: {web.safe_text(name)}", show=True)
    gdf = gdf.to_crs("EPSG:27700") if gdf.crs is not None and gdf.crs.is_geographic else gdf
    merged = gdf[[col, "geometry"]].assign(**{col: gdf[col].astype(str)}).dissolve(by=col, as_index=False)
    parts = merged.explode(index_parts=False)
    parts = parts.assign(_a=parts.geometry.area).sort_values("_a", ascending=False).drop_duplicates(col)
    pts = parts.geometry.representative_point().to_crs(web.CRS_WEB)
    for label, pt in zip(parts[col], pts):
        folium.Marker([round(pt.y, 6), round(pt.x, 6)], icon=folium.DivIcon(
            html=(f"<div style='font:bold 12px Arial;color:{colour};white-space:nowrap;position:absolute;"
                  f"transform:translate(-50%,-50%);text-shadow:0 0 3px #fff,0 0 3px #fff,0 0 3px #fff'>"
                  f"{web.safe_text(label)}</div>"),
            icon_size=(0, 0), icon_anchor=(0, 0))).add_to(fg)
    return fg


class _RefitWhenShown(MacroElement):
    """Fit the map to the area again when its container first gets a size.

    A notebook output that is off screen (JupyterLab's windowed notebooks, ``content-visibility``
    in exported HTML) can start with a zero-size iframe: Leaflet then fits the area at zoom 0
    (the whole world).  This re-fits on the first non-zero size and keeps the map sized.
    ``bounds`` are numbers computed here, never data text.
    """

    _template = Template("""
    {% macro script(this, kwargs) %}
    (function () {
      var map = {{ this._parent.get_name() }};
      var bounds = L.latLngBounds({{ this.bounds }});
      var last = map.getContainer().clientWidth;
      if (typeof ResizeObserver === "undefined") { return; }
      new ResizeObserver(function () {
        var w = map.getContainer().clientWidth;
        map.invalidateSize();
        if (last === 0 && w > 0) { map.fitBounds(bounds); }
        last = w;
      }).observe(map.getContainer());
    })();
    {% endmacro %}
    """)

    def __init__(self, bounds_wgs84: Sequence[float]) -> None:
        super().__init__()
        self._name = "RefitWhenShown"
        minx, miny, maxx, maxy = (float(v) for v in bounds_wgs84)
        self.bounds = f"[[{miny:.6f}, {minx:.6f}], [{maxy:.6f}, {maxx:.6f}]]"


#: Label layers :func:`map_view` can add: name -> (AreaData attribute, column, colour).
LABELS: dict[str, tuple[str, str, str]] = {
    "towns": ("towns", "town", "#4B0082"), "pcns": ("pcns", "pcn_name", "#0072B2"),
    "wards": ("wards", "ward_nm", "#333333"),
}


def map_view(area: Any, layers: Sequence[str], *, labels: Sequence[str] = ("towns",), title: str = "",
             height_px: int = 520, **build: Any) -> MapView:
    """An interactive map for a notebook, from :func:`locmap.maps.web.build_map`.

    Parameters
    ----------
    area : AreaData
        The study area.
    layers : sequence of str
        ``build_map`` layers (``boundaries, need, services, access, gaps, localities``).
    labels : sequence of str
        Permanent name labels: any of :data:`LABELS` (``towns`` is skipped when the area has
        a single town).
    title : str
        Map title (escaped by ``build_map``).
    **build
        Passed to ``build_map`` (``access``, ``gaps``, ``localities``, ``scorecard``, ``method``...).

    Returns
    -------
    MapView
        Leaflet and jQuery inlined (it draws without internet; background tiles need it).
    """
    # the view adds its own permanent name labels (``labels``), so the map's town labels stay off
    m = web.build_map(area, layers=layers, title=title or area.pack.title, offline=True,
                      **{"place_labels": False, **build})
    for key in labels:
        attr, col, colour = LABELS[key]
        gdf = getattr(area, attr)
        if gdf is None or col not in gdf.columns or (key == "towns" and len(gdf) < 2):
            continue
        _label_layer(gdf, col, key, colour).add_to(m)
    outline = area.borough if area.borough is not None and len(area.borough) else area.wards
    _RefitWhenShown(outline.to_crs(web.CRS_WEB).total_bounds).add_to(m)
    # the layer control must be rendered after every layer it lists (it references them by name)
    for name, child in list(m._children.items()):
        if isinstance(child, folium.LayerControl):
            m._children.move_to_end(name)
    return MapView(make_self_contained(web.render_html(m)), height_px, title or area.pack.title)
