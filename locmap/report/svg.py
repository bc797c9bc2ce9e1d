"""Inline SVG for the decision pack: charts and locality maps, every text and attribute escaped.

Nothing here loads anything: each function returns a :class:`markupsafe.Markup` string of one
``<svg>`` element built with :func:`el`, which escapes every attribute value and every text
child that is not already markup, so names from data (``<img onerror=...>``, ``{{7*7}}``) are
shown as text.  Coordinates of maps are EPSG:27700 metres mapped to SVG pixels (y flipped).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
from markupsafe import Markup, escape
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from locmap.localities.ranking import CRITERIA, RANK_SHARE_PREFIX
from locmap.maps.palette import service_label, service_style

FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif"
#: Colour of the recommended locality / other bars (Okabe-Ito blue, grey).
BLUE, GREY, DARK = "#0072B2", "#9a9a9a", "#222222"
#: Sequential blues for rank 1 (darkest) .. rank n (lightest).
RANK_RGB_DARK, RANK_RGB_LIGHT = np.array([8, 48, 107]), np.array([222, 235, 247])
#: IDACI decile classes (1 = most deprived) -> fill (ColorBrewer OrRd, light = less deprived).
IDACI_FILLS: tuple[tuple[int, int, str, str], ...] = (
    (1, 2, "#d7301f", "IDACI decile 1-2 (most deprived 20%)"),
    (3, 4, "#fc8d59", "decile 3-4"), (5, 6, "#fdcc8a", "decile 5-6"),
    (7, 10, "#fef0d9", "decile 7-10"))
CRITERION_LABELS: dict[str, str] = {"need": "Need", "gaps": "Gaps", "readiness": "Readiness",
                                    "alignment": "Alignment", "size": "Size"}


def el(tag: str, attrs: Mapping[str, object] | None = None, *children: object) -> Markup:
    """``<tag attr="...">children</tag>`` with attribute values and plain-text children escaped."""
    parts = "".join(f' {k.rstrip("_").replace("_", "-")}="{escape(str(v))}"'
                    for k, v in (attrs or {}).items() if v is not None)
    inner = "".join(str(c) if isinstance(c, Markup) else str(escape(str(c))) for c in children)
    return Markup(f"<{tag}{parts}>{inner}</{tag}>")


def _svg(width: float, height: float, title: str, *children: object) -> Markup:
    return el("svg", {"xmlns": "http://www.w3.org/2000/svg", "viewBox": f"0 0 {width:.0f} {height:.0f}",
                      "width": f"{width:.0f}", "height": f"{height:.0f}", "role": "img",
                      "style": FONT, "class": "chart"},
              el("title", {}, title), *children)


def _text(x: float, y: float, s: object, size: float = 11, anchor: str = "start",
          weight: str | None = None, fill: str = DARK) -> Markup:
    return el("text", {"x": f"{x:.1f}", "y": f"{y:.1f}", "font-size": f"{size:g}", "text-anchor": anchor,
                       "font-weight": weight, "fill": fill}, s)


def _rank_colour(r: int, n: int) -> str:
    t = 0.0 if n <= 1 else (r - 1) / (n - 1)
    rgb = RANK_RGB_DARK + t * (RANK_RGB_LIGHT - RANK_RGB_DARK)
    return "#%02x%02x%02x" % tuple(int(round(v)) for v in rgb)


# ----------------------------------------------------------------------------- charts
def criteria_chart(ranking: pd.DataFrame, order: Sequence[str], highlight: str | None = None) -> Markup:
    """Small multiples: one column per criterion, one bar (0-1) per locality, rows in ``order``."""
    crit = ranking.set_index("locality")
    label_w, col_w, row_h, top = 150, 118, 22, 34
    width, height = label_w + col_w * len(CRITERIA) + 10, top + row_h * len(order) + 8
    parts = []
    for j, c in enumerate(CRITERIA):
        x0 = label_w + j * col_w
        parts.append(_text(x0, 16, CRITERION_LABELS[c], 12, weight="bold"))
        parts.append(_text(x0, 29, "0 ... 1 (1 = most suitable)", 8.5, fill="#666"))
        for i, loc in enumerate(order):
            v = float(crit.at[loc, f"crit_{c}"])
            y = top + i * row_h
            parts.append(el("rect", {"x": x0, "y": y + 3, "width": col_w - 40, "height": row_h - 8,
                                     "fill": "#eeeeee"}))
            parts.append(el("rect", {"x": x0, "y": y + 3, "width": f"{(col_w - 40) * v:.1f}",
                                     "height": row_h - 8, "fill": BLUE if loc == highlight else GREY,
                                     "class": "bar"}))
            parts.append(_text(x0 + col_w - 36, y + row_h - 7, f"{v:.2f}", 9.5))
    for i, loc in enumerate(order):
        parts.append(_text(label_w - 8, top + i * row_h + row_h - 7, loc, 11.5, "end",
                           "bold" if loc == highlight else None))
    return _svg(width, height, "Criteria per locality (normalised 0-1)", *parts)


def rank_distribution_chart(sensitivity: pd.DataFrame, order: Sequence[str],
                            highlight: str | None = None) -> Markup:
    """100% stacked bar per locality: share of sensitivity draws at each rank (rank 1 darkest)."""
    sens = sensitivity.set_index("locality")
    n = len([c for c in sens.columns if c.startswith(RANK_SHARE_PREFIX)])
    label_w, bar_w, row_h, top = 150, 470, 24, 8
    width, height = label_w + bar_w + 20, top + row_h * len(order) + 44
    parts = []
    for i, loc in enumerate(order):
        y, x = top + i * row_h, float(label_w)
        parts.append(_text(label_w - 8, y + row_h - 8, loc, 11.5, "end", "bold" if loc == highlight else None))
        for r in range(1, n + 1):
            share = float(sens.at[loc, f"{RANK_SHARE_PREFIX}{r}"])
            w = bar_w * share
            if w <= 0:
                continue
            parts.append(el("rect", {"x": f"{x:.2f}", "y": y + 3, "width": f"{w:.2f}", "height": row_h - 7,
                                     "fill": _rank_colour(r, n), "class": "bar"},
                            el("title", {}, f"{loc}: rank {r} in {share:.1%} of draws")))
            if w >= 22:
                parts.append(_text(x + w / 2, y + row_h - 8, f"{r}", 9.5, "middle",
                                   fill="#fff" if r <= (n + 1) // 2 else DARK))
            x += w
    ly = top + row_h * len(order) + 16
    parts.append(_text(label_w, ly, "rank in the draw:", 10, fill="#444"))
    for r in range(1, n + 1):
        lx = label_w + 95 + (r - 1) * 36
        parts.append(el("rect", {"x": lx, "y": ly - 10, "width": 14, "height": 12, "fill": _rank_colour(r, n)}))
        parts.append(_text(lx + 17, ly, f"{r}", 10))
    parts.append(_text(label_w, ly + 18, "bar length = share of draws (0-100%)", 9.5, fill="#666"))
    return _svg(width, height, "Rank of each locality across the sensitivity draws", *parts)


def first_share_chart(sensitivity: pd.DataFrame, order: Sequence[str], highlight: str | None = None) -> Markup:
    """Horizontal bars: share of draws in which each locality ranks first."""
    sens = sensitivity.set_index("locality")
    label_w, bar_w, row_h = 150, 400, 22
    vmax = max(float(sens["p_first"].max()), 1e-9)
    parts = []
    for i, loc in enumerate(order):
        p = float(sens.at[loc, "p_first"])
        y = 6 + i * row_h
        parts.append(_text(label_w - 8, y + row_h - 7, loc, 11.5, "end", "bold" if loc == highlight else None))
        parts.append(el("rect", {"x": label_w, "y": y + 3, "width": f"{bar_w * p / vmax:.1f}", "height": row_h - 7,
                                 "fill": BLUE if loc == highlight else GREY, "class": "bar"}))
        parts.append(_text(label_w + bar_w * p / vmax + 6, y + row_h - 7, f"{p:.1%}", 10.5))
    return _svg(label_w + bar_w + 70, 12 + row_h * len(order), "Share of draws ranked first", *parts)


# ----------------------------------------------------------------------------- maps
def _rings(geom: BaseGeometry) -> list[np.ndarray]:
    polys = geom.geoms if isinstance(geom, MultiPolygon) else [geom] if isinstance(geom, Polygon) else \
        [g for g in getattr(geom, "geoms", []) if isinstance(g, (Polygon, MultiPolygon))]
    out = []
    for p in polys:
        if isinstance(p, MultiPolygon):
            out += _rings(p)
            continue
        out.append(np.asarray(p.exterior.coords))
        out += [np.asarray(r.coords) for r in p.interiors]
    return out


def _closed(geom: BaseGeometry, gap_m: float = 5.0) -> BaseGeometry:
    """``geom`` with slivers between its small areas closed (a dissolved locality of LSOAs that
    do not tile exactly would otherwise show their seams as inner outlines)."""
    return geom.buffer(gap_m).buffer(-gap_m)


class _Frame:
    """EPSG:27700 metres -> SVG pixels for a bounding box (y flipped)."""

    def __init__(self, bounds: Sequence[float], width_px: float):
        self.minx, self.miny, maxx, self.maxy = bounds
        self.scale = width_px / max(maxx - self.minx, 1.0)
        self.width = width_px
        self.height = (self.maxy - self.miny) * self.scale

    def xy(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (x - self.minx) * self.scale, (self.maxy - y) * self.scale

    def path(self, geom: BaseGeometry, tolerance_m: float = 8.0) -> str:
        d = []
        if geom.is_empty:
            return ""
        for ring in _rings(geom.simplify(tolerance_m, preserve_topology=True)):
            if len(ring) < 4:  # an empty or degenerate ring left by clipping: nothing to draw
                continue
            px, py = self.xy(ring[:, 0], ring[:, 1])
            d.append("M" + "L".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py)) + "Z")
        return "".join(d)


def locality_map(locality: str, localities: gpd.GeoDataFrame, lsoa: gpd.GeoDataFrame,
                 borough: BaseGeometry, gap_homes: pd.DataFrame, services: gpd.GeoDataFrame,
                 gap_minutes: float, width_px: float = 330.0, hubs: pd.DataFrame | None = None) -> Markup:
    """A print-ready map of one locality: LSOAs by IDACI decile, homes beyond the gap threshold,
    children's centres and GP practices, the locality outlined (others and the borough thin),
    its name, a scale bar and its suggested hub sites (``hubs``: number, name, x, y).

    ``gap_homes``: ``x, y`` (EPSG:27700) of homes in the locality beyond ``gap_minutes`` of every
    key service.  ``services``: located services with ``service_type`` and point geometry.
    """
    geom = _closed(localities.loc[localities["locality"].astype(str) == locality, "geometry"].union_all())
    minx, miny, maxx, maxy = geom.buffer(500).bounds
    f = _Frame((minx, miny, maxx, maxy), width_px)

    view = box(minx, miny, maxx, maxy)
    parts = [el("rect", {"x": 0, "y": 0, "width": f"{f.width:.0f}", "height": f"{f.height:.0f}", "fill": "#f4f6f8"})]
    near = lsoa[lsoa.intersects(view)]
    dec = pd.to_numeric(near.get("idaci_decile"), errors="coerce")
    for lo, hi, colour, _ in IDACI_FILLS:
        sel = near[(dec >= lo) & (dec <= hi)]
        if len(sel):
            parts.append(el("path", {"d": "".join(f.path(g.intersection(view)) for g in sel.geometry),
                                     "fill": colour, "stroke": "#ffffff", "stroke-width": "0.4"}))
    inside = near.geometry.intersects(geom) if len(near) else []
    outside = near[~np.asarray(inside, dtype=bool)] if len(near) else near
    if len(outside):
        parts.append(el("path", {"d": "".join(f.path(g.intersection(view)) for g in outside.geometry),
                                 "fill": "#f4f6f8", "fill-opacity": "0.72", "stroke": "none"}))
    parts.append(el("path", {"d": f.path(borough.intersection(view.buffer(50))), "fill": "none",
                             "stroke": "#555", "stroke-width": "1", "stroke-dasharray": "4 3"}))
    others = localities[localities["locality"].astype(str) != locality]
    parts.append(el("path", {"d": "".join(f.path(_closed(g).intersection(view.buffer(50)))
                                          for g in others.geometry),
                             "fill": "none", "stroke": "#777", "stroke-width": "0.8"}))
    parts.append(el("path", {"d": f.path(geom), "fill": "none", "stroke": "#08306b", "stroke-width": "2.6"}))
    parts += _map_points(f, gap_homes, services, view)
    parts += hub_marks(f, hubs if hubs is not None else pd.DataFrame(columns=["number", "name", "x", "y"]), view)
    parts += _name_tag(locality, 6, 6) + scale_bar(f, 10, f.height - 10)
    return _svg(f.width, f.height, f"Map of {locality}: need, gaps beyond {gap_minutes:g} min and services",
                *parts)


def _map_points(f: _Frame, gap_homes: pd.DataFrame, services: gpd.GeoDataFrame, view: Polygon) -> list[Markup]:
    parts = []
    if len(gap_homes):
        px, py = f.xy(gap_homes["x"].to_numpy(float), gap_homes["y"].to_numpy(float))
        parts.append(el("g", {"fill": "#000000", "stroke": "#ffffff", "stroke-width": "0.5", "class": "gap-homes"},
                        Markup("".join(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="1.8"/>' for a, b in zip(px, py)))))
    for t, r in (("gp_practice", 3.2), ("childrens_centre", 5.5)):
        s = services[(services["service_type"] == t) & services.geometry.within(view)]
        if not len(s):
            continue
        px, py = f.xy(s.geometry.x.to_numpy(), s.geometry.y.to_numpy())
        marks = "".join(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="{r}"/>' for a, b in zip(px, py))
        parts.append(el("g", {"fill": service_style(t).colour, "stroke": "#ffffff", "stroke-width": "1",
                              "class": f"svc-{t}"}, el("title", {}, service_label(t)), Markup(marks)))
    return parts


def map_legend(gap_minutes: float, width_px: float = 700.0) -> Markup:
    """One legend for every locality map, laid out in rows."""
    items = [("rect", c, label) for _, _, c, label in IDACI_FILLS]
    items += [("dot", "#000000", f"home beyond {gap_minutes:g} min of every key service"),
              ("svc", service_style("childrens_centre").colour, service_label("childrens_centre")),
              ("svc", service_style("gp_practice").colour, service_label("gp_practice")),
              ("line", "#08306b", "the locality"), ("line", "#777", "other localities"),
              ("dash", "#555", "borough boundary")]
    parts, x, y = [], 2.0, 14.0
    for kind, colour, label in items:
        w = 26 + 6.2 * len(label)
        if x + w > width_px:
            x, y = 2.0, y + 18
        parts.append(_legend_key(kind, colour, x, y))
        parts.append(_text(x + 22, y, label, 10.5))
        x += w + 10
    return _svg(width_px, y + 8, "Map legend", *parts)


def _legend_key(kind: str, colour: str, x: float, y: float) -> Markup:
    if kind == "rect":
        return el("rect", {"x": x, "y": y - 9, "width": 16, "height": 11, "fill": colour, "stroke": "#bbb"})
    if kind in ("dot", "svc"):
        return el("circle", {"cx": x + 8, "cy": y - 3.5, "r": 2 if kind == "dot" else 5, "fill": colour,
                             "stroke": "#fff" if kind == "svc" else None})
    return el("line", {"x1": x, "y1": y - 3.5, "x2": x + 16, "y2": y - 3.5, "stroke": colour,
                       "stroke-width": 2.6 if colour == "#08306b" else 1,
                       "stroke-dasharray": "4 3" if kind == "dash" else None})


# ----------------------------------------------------------------------------- overview, scale, names
def _nice_length_m(span_m: float) -> float:
    """A round scale-bar length about a fifth of ``span_m`` (1, 2, 5 x 10^n metres)."""
    target = max(span_m / 5.0, 1.0)
    exp = 10 ** np.floor(np.log10(target))
    return float(next(m * exp for m in (5, 2, 1) if m * exp <= target))


def scale_bar(f: _Frame, x: float, y: float) -> list[Markup]:
    """A two-part scale bar (black/white, true at the map's scale) with its length, left end at (x, y) px."""
    length_m = _nice_length_m(f.width / f.scale)
    w = length_m * f.scale
    label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
    return [el("rect", {"x": f"{x - 3:.1f}", "y": f"{y - 13:.1f}", "width": f"{w + 50:.1f}", "height": 20,
                        "fill": "#ffffff", "fill-opacity": "0.85"}),
            el("rect", {"x": f"{x:.1f}", "y": f"{y - 4:.1f}", "width": f"{w / 2:.1f}", "height": 4, "fill": DARK,
                        "stroke": DARK, "stroke-width": "0.6", "class": "scale-bar"}),
            el("rect", {"x": f"{x + w / 2:.1f}", "y": f"{y - 4:.1f}", "width": f"{w / 2:.1f}", "height": 4,
                        "fill": "#ffffff", "stroke": DARK, "stroke-width": "0.6"}),
            _text(x + w + 4, y, label, 9.5)]


def _name_tag(text: str, x: float, y: float, size: float = 12.0) -> list[Markup]:
    """A name on a white tag (readable on any fill), top-left corner at (x, y) px."""
    w = 0.6 * size * len(text) + 10
    return [el("rect", {"x": f"{x:.1f}", "y": f"{y:.1f}", "width": f"{w:.1f}", "height": f"{size + 8:.1f}",
                        "rx": 3, "fill": "#ffffff", "fill-opacity": "0.9", "stroke": "#08306b", "stroke-width": "1"}),
            _text(x + 5, y + size + 2, text, size, weight="bold", fill="#08306b")]


def hub_marks(f: _Frame, hubs: pd.DataFrame, view: Polygon | None = None) -> list[Markup]:
    """Suggested hub sites: numbered white circles with a thick black ring (``number, x, y``)."""
    parts = []
    for r in hubs.itertuples():
        if view is not None and not view.contains(box(r.x, r.y, r.x, r.y).centroid):
            continue
        (px,), (py,) = f.xy(np.array([r.x]), np.array([r.y]))
        parts.append(el("g", {"class": "hub-site"}, el("title", {}, f"Suggested hub site {r.number}: {r.name}"),
                        el("circle", {"cx": f"{px:.1f}", "cy": f"{py:.1f}", "r": 8, "fill": "#ffffff",
                                      "stroke": "#000000", "stroke-width": "2"}),
                        _text(px, py + 4, str(r.number), 10.5, anchor="middle", weight="bold")))
    return parts


def _label_boxes_free(box_: tuple[float, float, float, float], taken: list, w: float, h: float) -> bool:
    x0, y0, x1, y1 = box_
    if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
        return False
    return not any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in taken)


def place_names(f: _Frame, names: Sequence[tuple[str, float, float]], size: float = 11.5,
                taken: list | None = None) -> tuple[list[Markup], list[str]]:
    """Locality names (EPSG:27700 anchors) placed without overlap: on the anchor or moved above,
    below or aside (the text box is estimated from the font size); a name with no free place is
    returned as dropped."""
    taken = taken if taken is not None else []
    parts, dropped = [], []
    for name, x, y in names:
        (px,), (py,) = f.xy(np.array([x]), np.array([y]))
        w, h = 0.62 * size * len(name) + 6, size + 5
        for dx, dy in ((0, 0), (0, -h), (0, h), (w / 2, 0), (-w / 2, 0), (0, -2 * h), (0, 2 * h)):
            cx, cy = px + dx, py + dy
            bb = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            if _label_boxes_free(bb, taken, f.width, f.height):
                taken.append(bb)
                parts.append(el("text", {"x": f"{cx:.1f}", "y": f"{cy + size / 3:.1f}", "font-size": f"{size:g}",
                                         "text-anchor": "middle", "font-weight": "bold", "fill": DARK,
                                         "stroke": "#ffffff", "stroke-width": "3", "paint-order": "stroke",
                                         "class": "place-name"}, name))
                break
        else:
            dropped.append(name)
    return parts, dropped


def overview_map(localities: gpd.GeoDataFrame, borough: BaseGeometry, recommended: str | None,
                 runner_up: str | None, hubs: pd.DataFrame, width_px: float = 640.0) -> Markup:
    """The borough with every candidate locality named, the recommended one filled blue, the
    runner-up light blue, suggested hub sites numbered, a scale bar and a north arrow."""
    minx, miny, maxx, maxy = borough.buffer(300).bounds
    f = _Frame((minx, miny, maxx, maxy), width_px)
    parts = [el("rect", {"x": 0, "y": 0, "width": f"{f.width:.0f}", "height": f"{f.height:.0f}", "fill": "#ffffff"})]
    fills = {recommended: BLUE, runner_up: "#9ecae1"}
    names = []
    for loc, geom in zip(localities["locality"].astype(str), localities.geometry):
        g = _closed(geom)
        parts.append(el("path", {"d": f.path(g), "fill": fills.get(loc, "#eeeeee"),
                                 "fill-opacity": "0.55" if loc in fills else "1", "stroke": "#444",
                                 "stroke-width": "2.4" if loc == recommended else "1",
                                 "class": "locality" + (" recommended" if loc == recommended else "")},
                        el("title", {}, loc)))
        pt = g.representative_point()
        names.append((loc, pt.x, pt.y, g.area))
    parts.append(el("path", {"d": f.path(borough), "fill": "none", "stroke": "#000", "stroke-width": "1.6"}))
    parts += hub_marks(f, hubs)
    taken = [((px - 10), (py - 10), (px + 10), (py + 10)) for px, py in
             zip(*f.xy(hubs["x"].to_numpy(float), hubs["y"].to_numpy(float)))] if len(hubs) else []
    named, _dropped = place_names(f, [(n, x, y) for n, x, y, _a in sorted(names, key=lambda t: -t[3])],
                                  taken=taken)
    parts += named
    parts += scale_bar(f, 12, f.height - 12)
    parts += [el("path", {"d": f"M{f.width - 22:.0f},34 L{f.width - 14:.0f},14 L{f.width - 6:.0f},34 Z",
                          "fill": DARK}), _text(f.width - 14, 48, "N", 11, anchor="middle", weight="bold")]
    return _svg(f.width, f.height, "Overview: every candidate locality, the recommended one and hub sites", *parts)
