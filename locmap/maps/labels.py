"""Place-name labels for print maps that never collide (matplotlib).

:func:`place_labels` draws labels one at a time, most important first.  Each label tries a
list of positions around its anchor (on it, above, below, right, left, then further out with a
thin leader line back to the anchor); a position is taken only when the label's *rendered*
bounding box (measured with the figure's renderer, plus a small gap) stays inside the map and
intersects no label already placed and no box to avoid.  A label with no free position is
left off and named in :attr:`LabelPlacement.dropped`, so the map can say so.

One label per named area: :func:`area_labels` dissolves the rows of a layer by name first, so a
PCN split into several polygons is labelled once.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import Bbox

#: ``gid`` of every placed label text (tests find the labels by it)
LABEL_GID = "locmap-place-label"
#: candidate offsets of a label from its anchor, in multiples of the font size (points);
#: the first ones sit on or next to the anchor, the last ones need a leader line
OFFSETS_EM: tuple[tuple[float, float], ...] = (
    (0, 0), (0, 1.3), (0, -1.3), (1.0, 0.8), (-1.0, 0.8), (1.0, -0.8), (-1.0, -0.8),
    (0, 2.6), (0, -2.6), (2.5, 1.6), (-2.5, 1.6), (2.5, -1.6), (-2.5, -1.6), (0, 3.9), (0, -3.9),
)
#: offsets at least this far (in em) get a leader line to the anchor
LEADER_FROM_EM = 2.0
#: gap kept between labels, in pixels at the figure's dpi
GAP_PX = 2.0


@dataclass(frozen=True)
class Label:
    """One label: text, anchor (data coordinates) and importance (higher is placed first)."""

    text: str
    x: float
    y: float
    priority: float = 0.0


@dataclass(frozen=True)
class LabelPlacement:
    """What :func:`place_labels` did: labels drawn (with their boxes, display pixels) and left off."""

    placed: tuple[str, ...]
    dropped: tuple[str, ...]
    boxes: tuple[Bbox, ...]

    @property
    def note(self) -> str:
        """Plain sentence naming the labels left off ("" when none)."""
        if not self.dropped:
            return ""
        return "Names left off where they would overlap: " + ", ".join(self.dropped) + "."


class MeasuringCanvas(FigureCanvasAgg):
    """The Agg canvas :func:`renderer_of` attaches to measure text while a figure is being built.

    ``draw_idle`` asks a window to redraw when its event loop is next idle; this canvas has no window,
    so it does nothing.  (Agg's own ``draw_idle`` draws the whole figure at once, and geopandas calls
    it after every layer it plots: a small-multiples page drew itself a dozen times before it was
    saved.)  Saving or showing the figure draws it as before."""

    def draw_idle(self, *args, **kwargs) -> None:
        return None


def renderer_of(obj: Axes | Figure) -> RendererBase:
    """A renderer for a figure or an axes' figure (attaches a :class:`MeasuringCanvas` when the
    figure has none; no pyplot, no backend selected)."""
    fig = obj if isinstance(obj, Figure) else obj.figure
    if not hasattr(fig.canvas, "get_renderer"):
        MeasuringCanvas(fig)
    return fig.canvas.get_renderer()


def text_box(t: Text, renderer: RendererBase, gap_px: float = 0.0) -> Bbox:
    """Rendered bounding box of text ``t`` in display pixels, grown by ``gap_px`` on every side."""
    bb = Text.get_window_extent(t, renderer)
    return Bbox.from_extents(bb.x0 - gap_px, bb.y0 - gap_px, bb.x1 + gap_px, bb.y1 + gap_px)


def _fits(bb: Bbox, frame: Bbox, taken: Sequence[Bbox]) -> bool:
    inside = bb.x0 >= frame.x0 and bb.x1 <= frame.x1 and bb.y0 >= frame.y0 and bb.y1 <= frame.y1
    return inside and not any(bb.overlaps(o) for o in taken)


def place_labels(ax: Axes, labels: Sequence[Label], fontsize: float = 7.0, colour: str = "#1f1f1f",
                 avoid: Sequence[Bbox] = (), weight: str = "bold") -> LabelPlacement:
    """Draw ``labels`` on map ``ax`` without any two overlapping (see module docstring).

    Call after the map's extent is final (``ax`` limits and aspect set).
    """
    renderer = renderer_of(ax)
    ax.apply_aspect()
    frame = ax.get_window_extent(renderer)
    to_px = ax.transData
    from_px = ax.transData.inverted()
    em_px = fontsize * ax.figure.dpi / 72.0
    taken, placed, dropped = list(avoid), [], []
    halo = [patheffects.withStroke(linewidth=2.2, foreground="white")]
    for lab in sorted(labels, key=lambda item: -item.priority):
        ax_px = to_px.transform((lab.x, lab.y))
        t = ax.text(lab.x, lab.y, lab.text, fontsize=fontsize, color=colour, fontweight=weight, ha="center",
                    va="center", zorder=40, gid=LABEL_GID, path_effects=halo, clip_on=False)
        t.set_parse_math(False)
        for dx, dy in OFFSETS_EM:
            pos = from_px.transform((ax_px[0] + dx * em_px, ax_px[1] + dy * em_px))
            t.set_position(pos)
            bb = text_box(t, renderer, GAP_PX)
            if _fits(bb, frame, taken):
                taken.append(bb)
                placed.append((lab.text, bb))
                if np.hypot(dx, dy) >= LEADER_FROM_EM:
                    _leader(ax, lab, pos, bb, from_px)
                break
        else:
            t.remove()
            dropped.append(lab.text)
    return LabelPlacement(placed=tuple(p for p, _ in placed), dropped=tuple(dropped),
                          boxes=tuple(b for _, b in placed))


def _leader(ax: Axes, lab: Label, pos: Sequence[float], bb: Bbox, from_px) -> None:
    """Thin line from the anchor to the nearest edge of the label's box."""
    ax_px = ax.transData.transform((lab.x, lab.y))
    edge_y = bb.y0 if ax_px[1] < bb.y0 else bb.y1 if ax_px[1] > bb.y1 else ax_px[1]
    edge_x = min(max(ax_px[0], bb.x0), bb.x1)
    ex, ey = from_px.transform((edge_x, edge_y))
    ax.add_line(Line2D([lab.x, ex], [lab.y, ey], color="#333333", lw=0.5, zorder=39))
    ax.plot([lab.x], [lab.y], marker="o", ms=1.5, color="#333333", zorder=39)


def area_labels(gdf: gpd.GeoDataFrame | None, name_col: str, bounds: Sequence[float] | None = None,
                clip: object = None) -> list[Label]:
    """One :class:`Label` per distinct name of ``gdf`` (rows dissolved by name), at a point inside
    the area's largest part; larger areas first.  ``clip`` (a polygon): label the part inside it;
    ``bounds``: keep only anchors inside (minx, miny, maxx, maxy)."""
    if gdf is None or not len(gdf) or name_col not in gdf.columns:
        return []
    merged = gdf[[name_col, "geometry"]].dissolve(by=name_col, as_index=False)
    out = []
    for name, geom in zip(merged[name_col].astype(str), merged.geometry):
        if clip is not None:
            geom = geom.intersection(clip)
        if geom is None or geom.is_empty:
            continue
        parts = getattr(geom, "geoms", [geom])
        part = max(parts, key=lambda g: g.area)
        pt = part.representative_point()
        if bounds is not None and not (bounds[0] <= pt.x <= bounds[2] and bounds[1] <= pt.y <= bounds[3]):
            continue
        out.append(Label(name, float(pt.x), float(pt.y), float(geom.area)))
    return out
