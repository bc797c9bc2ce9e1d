"""Printable static maps (matplotlib): A4/A3 landscape PNG and PDF, and inline notebook figures.

Every figure has a title, legend (classes, service types and the boundary lines drawn), scale
bar and north arrow (placed beside the map, never on data) and the attribution text.

- :func:`plot_choropleth` -- one LSOA/ward/town/PCN variable, classified with mapclassify;
- :func:`plot_services` -- services by type over the boundaries;
- :func:`small_multiples` -- one panel per service type (access bands) or per locality;
- :func:`profile_figure` / :func:`profile_sheet` -- one page per locality: map plus key figures.

Figures are built with the object-oriented API (:class:`SheetFigure`, a
``matplotlib.figure.Figure``) and never through pyplot, so importing this module selects no
backend: the CLI writes files headless, and a notebook cell that returns a figure shows it
inline (``SheetFigure._repr_png_``).  :func:`save` writes PNG/PDF atomically with fixed
metadata (no creation date), so the same inputs give byte-identical files.  Every text on a
figure is drawn literally (matplotlib's mathtext and usetex off), so a name like ``$\\alpha$``
prints as typed.
"""
from __future__ import annotations

import datetime as _dt
import io
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from locmap.bands import BAND_LABELS
from locmap.errors import UnknownAreaError
from locmap.export import ATTRIBUTION, write_figure
from locmap.maps.labels import LabelPlacement, area_labels, place_labels, renderer_of
from locmap.maps.palette import by_prominence, class_labels, service_label, service_style
from locmap.maps.web import ACCESS_BANDS, NO_ACCESS_COLOUR, classify, clip_to_outline, method_label
from locmap.settings import CRS_METRIC

#: ISO 216 landscape sizes in inches (width, height).
PAPER_INCHES: dict[str, tuple[float, float]] = {
    "A4": (297 / 25.4, 210 / 25.4),
    "A3": (420 / 25.4, 297 / 25.4),
}
#: Blank margin kept on every side of a page (mm): office printers clip about 4-6 mm.
MARGIN_MM = 12.0
#: File metadata: fixed, no dates, so the same figure gives the same bytes.
FILE_METADATA: dict[str, dict[str, Any]] = {
    "png": {"Software": "locmap (matplotlib)"},
    "pdf": {"Creator": "locmap", "Producer": "locmap (matplotlib)", "CreationDate": None},
}
#: Boundary line styles shared by maps and legends: (colour, width in points, label).
LINES: dict[str, tuple[str, float, str]] = {
    "borough": ("#000000", 1.4, "Borough boundary"),
    "town": ("#4B0082", 0.9, "Town boundary"),
    "ward": ("#777777", 0.3, "Ward boundary"),
    "locality": ("#0B3D91", 2.4, "This locality"),
    "other_locality": ("#555555", 0.6, "Other localities"),
}
#: singular names of the layers a choropleth can map ("per ward", never "per wards")
LAYER_NOUNS: dict[str, str] = {"lsoa": "LSOA", "wards": "ward", "towns": "town", "pcns": "PCN footprint"}
_NO_DATA = (1.0, 1.0, 1.0, 1.0)


class SheetFigure(Figure):
    """A ``matplotlib.figure.Figure`` that shows itself as a PNG in notebooks (no pyplot needed)."""

    #: resolution of the inline notebook image (the file resolution is the figure's ``dpi``)
    notebook_dpi = 100

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=min(self.dpi, self.notebook_dpi),
                     metadata=FILE_METADATA["png"])
        return buf.getvalue()


# --------------------------------------------------------------------------- page furniture
def new_figure(paper: str = "A4", dpi: int = 200) -> SheetFigure:
    """Landscape figure of the given paper size (``"A4"`` or ``"A3"``)."""
    if paper not in PAPER_INCHES:
        raise ValueError(f"paper must be one of {sorted(PAPER_INCHES)}, not {paper!r}")
    return SheetFigure(figsize=PAPER_INCHES[paper], dpi=dpi)


def _nice_length_m(span_m: float) -> float:
    """A round scale-bar length about a fifth of ``span_m`` (1, 2, 5 x 10^n metres)."""
    target = max(span_m / 5.0, 1.0)
    exp = 10 ** math.floor(math.log10(target))
    for mult in (5, 2, 1):
        if mult * exp <= target:
            return float(mult * exp)
    return float(exp)


def add_map_furniture(fig: Figure, ax: Axes, x: float, y: float) -> float:
    """Scale bar and north arrow for map ``ax``, drawn beside it at figure position (x, y).

    The scale bar is a small axes whose width is its length at the map's scale (EPSG:27700
    metres), so it stays true whatever the page; the arrow points to grid north.  Neither
    sits on the map.

    Returns
    -------
    float
        Scale-bar length in metres.
    """
    ax.apply_aspect()  # the box as drawn (equal aspect)
    x0, x1 = ax.get_xlim()
    pos = ax.get_position()
    length_m = _nice_length_m(x1 - x0)
    width = length_m / (x1 - x0) * pos.width
    bar = fig.add_axes((x, y, width, 0.012))
    bar.set_xlim(0, length_m)
    bar.set_ylim(0, 1)
    bar.axis("off")
    bar.add_patch(Rectangle((0, 0), length_m / 2, 1, facecolor="black", edgecolor="black", clip_on=False))
    bar.add_patch(Rectangle((length_m / 2, 0), length_m / 2, 1, facecolor="white", edgecolor="black",
                            clip_on=False))
    label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
    for xx, txt in ((0, "0"), (length_m, label)):
        bar.text(xx, 1.6, txt, ha="center", va="bottom", fontsize=7)
    arrow = fig.add_axes((x + width + 0.02, y - 0.005, 0.025, 0.06))
    arrow.axis("off")
    arrow.annotate("N", xy=(0.5, 1.0), xytext=(0.5, 0.12), xycoords="axes fraction", ha="center",
                   va="center", fontsize=9, fontweight="bold",
                   arrowprops={"facecolor": "black", "width": 3, "headwidth": 9, "headlength": 8})
    return length_m


def margins(fig: Figure) -> tuple[float, float]:
    """The page margin :data:`MARGIN_MM` as figure fractions (x, y)."""
    w_in, h_in = fig.get_size_inches()
    return MARGIN_MM / 25.4 / w_in, MARGIN_MM / 25.4 / h_in


def add_attribution(fig: Figure, text: str = ATTRIBUTION, note: str = "") -> None:
    """Attribution (and an optional note above it) along the bottom margin of the page (wrapped)."""
    mx, my = margins(fig)
    width = 200 if fig.get_size_inches()[0] < 14 else 290
    lines = textwrap.wrap(note, width) + textwrap.wrap(text, width)
    fig.text(mx, my, "\n".join(lines), fontsize=5.5, color="#333333", va="bottom")


def literal_text(fig: Figure) -> Figure:
    """Draw every text of ``fig`` literally: mathtext and usetex off (``$\\alpha$`` prints as typed)."""
    for t in fig.findobj(Text):
        t.set_parse_math(False)
        t.set_usetex(False)
    return fig


def _map_axes(ax: Axes, bounds: Sequence[float], pad_frac: float = 0.04) -> None:
    """Frame a map axis on ``bounds`` (EPSG:27700) with equal aspect, filling the axes box.

    The shorter side of the bounds is widened to the box's shape, so the map uses the page
    (no blank band above or below a wide locality).
    """
    minx, miny, maxx, maxy = bounds
    px, py = (maxx - minx) * pad_frac, (maxy - miny) * pad_frac
    minx, maxx, miny, maxy = minx - px, maxx + px, miny - py, maxy + py
    pos = ax.get_position(original=True)
    fig_w, fig_h = ax.figure.get_size_inches()
    box_ratio = (pos.width * fig_w) / (pos.height * fig_h)
    dx, dy = maxx - minx, max(maxy - miny, 1e-9)
    if dx / dy < box_ratio:
        grow = (dy * box_ratio - dx) / 2
        minx, maxx = minx - grow, maxx + grow
    else:
        grow = (dx / box_ratio - dy) / 2
        miny, maxy = miny - grow, maxy + grow
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")


def _metric(gdf: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    if gdf is None:
        return None
    return gdf.to_crs(CRS_METRIC) if gdf.crs is not None and str(gdf.crs) != CRS_METRIC else gdf


def _outline_frame(area: Any) -> gpd.GeoDataFrame:
    borough = getattr(area, "borough", None)
    return _metric(borough if borough is not None and len(borough) else area.wards)


def _line(key: str) -> Line2D:
    colour, width, label = LINES[key]
    return Line2D([], [], color=colour, lw=max(width, 0.8), label=label)


def _outline(ax: Axes, area: Any, towns: bool = True) -> list[Line2D]:
    """Ward, town and borough boundaries; returns their legend handles (thickest first)."""
    handles = []
    for key, layer, show in (("borough", "borough", True), ("town", "towns", towns), ("ward", "wards", True)):
        gdf = getattr(area, layer, None)
        if show and gdf is not None and len(gdf):
            colour, width, _label = LINES[key]
            zorder = {"ward": 5, "town": 6, "borough": 7}[key]
            _metric(gdf).boundary.plot(ax=ax, color=colour, linewidth=width, zorder=zorder)
            handles.append(_line(key))
    return handles


def _plot_service_points(ax: Axes, located: gpd.GeoDataFrame, types: Sequence[str], scale: float,
                         include_empty: bool, count_note: str = "") -> list[Line2D]:
    """Located services, one colour and marker per type, the most prominent drawn on top.

    Returns legend handles (most prominent first) labelled ``"Children's centre (5)"``.
    """
    handles = []
    ordered = by_prominence(types)
    for depth, t in enumerate(ordered):
        style = service_style(t)
        sub = located[located["service_type"] == t]
        if len(sub):
            ax.scatter(sub.geometry.x, sub.geometry.y, s=(style.size_pt * scale) ** 2, c=style.colour,
                       marker=style.marker, edgecolors="#222222", linewidths=0.4,
                       zorder=20 + len(ordered) - depth)
        if len(sub) or include_empty:
            handles.append(Line2D([], [], marker=style.marker, ls="", markersize=style.size_pt * 0.75,
                                  markerfacecolor=style.colour, markeredgecolor="#222222",
                                  label=f"{service_label(t)} ({len(sub)}{count_note})"))
    return handles


def _header(fig: Figure, title: str, subtitle: str = "") -> None:
    mx, my = margins(fig)
    fig.suptitle(title, fontsize=14, fontweight="bold", x=mx, ha="left", y=1 - my, va="top")
    if subtitle:
        fig.text(mx, 1 - my - 0.045, subtitle, fontsize=8.5, color="#333333", ha="left", va="top")


def _finish(fig: Figure, ax: Axes, title: str, subtitle: str = "",
            furniture_xy: tuple[float, float] | None = None, note: str = "") -> Figure:
    _header(fig, title, subtitle)
    add_map_furniture(fig, ax, *(furniture_xy or (0.765, margins(fig)[1] + 0.05)))
    add_attribution(fig, note=note)
    return literal_text(fig)


def fit_legend(fig: Figure, legend: Any, min_fontsize: float = 5.0) -> Any:
    """Shrink ``legend``'s text until it ends inside the right page margin (never off the page)."""
    right = 1 - margins(fig)[0]
    inv = fig.transFigure.inverted()
    renderer = renderer_of(fig)
    size = legend.texts[0].get_fontsize() if legend.texts else 8.0
    while legend.get_window_extent(renderer).transformed(inv).x1 > right and size > min_fontsize:
        size -= 0.5
        for t in legend.texts:
            t.set_fontsize(size)
        legend.get_title().set_fontsize(size + 0.5)
    return legend


def _map_box(fig: Figure, right: float = 0.75) -> tuple[float, float, float, float]:
    """Axes box (left, bottom, width, height) of a one-map page: inside the margins, under the
    title, above the attribution, left of ``right``."""
    mx, my = margins(fig)
    bottom, top = my + 0.045, 1 - my - 0.075
    return (mx, bottom, right - mx, top - bottom)


def save(fig: Figure, out_base: str | Path, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Save ``fig`` as ``out_base.<fmt>`` for each format (atomic, fixed metadata).

    The figure stays usable (e.g. to show it in a notebook after saving).
    """
    out_base = Path(out_base)
    return [write_figure(fig, out_base.with_suffix(f".{fmt}"), dpi=fig.dpi,
                         metadata=FILE_METADATA.get(fmt, {})) for fmt in formats]


# --------------------------------------------------------------------------- classes
def _classes(values: pd.Series, column: str, scheme: str, k: int, cmap: str
             ) -> tuple[np.ndarray, list[str], np.ndarray, str]:
    """Class index per value, legend labels, colours (RGBA rows) and the scheme's name."""
    if column.endswith("_decile"):
        classes = pd.to_numeric(values, errors="coerce").fillna(0).astype(int).to_numpy() - 1
        labels = [f"Decile {d}" + (" (most deprived)" if d == 1 else "") for d in range(1, 11)]
        colours = matplotlib.colormaps["RdYlBu"](np.linspace(0.05, 0.95, 10))
        return classes, labels, colours, "national deciles (fixed)"
    classes, bins, scheme_label = _classify_no_singletons(values, scheme, k)
    lo = float(np.nanmin(pd.to_numeric(values, errors="coerce"))) if len(bins) else 0.0
    colours = matplotlib.colormaps[cmap](np.linspace(0.15, 0.95, max(len(bins), 1)))
    return classes, class_labels(lo, bins), colours, scheme_label


def _classify_no_singletons(values: pd.Series, scheme: str, k: int) -> tuple[np.ndarray, list[float], str]:
    """:func:`classify`, then a class holding a single area is merged into its neighbour (a
    one-value class such as "1,220" made by one outlier, e.g. a best-fit sliver ward), while
    at least two classes remain.  The legend label says how many classes are left."""
    classes, bins, label = classify(values, scheme=scheme, k=k)
    bins = list(bins)
    v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(v)
    while len(bins) > 2:
        counts = np.bincount(classes[classes >= 0], minlength=len(bins))
        lonely = np.flatnonzero(counts == 1)
        if not len(lonely):
            break
        j = int(lonely[0])
        del bins[j if j < len(bins) - 1 else j - 1]   # merge with the next class (the last: the previous)
        classes = np.where(ok, np.searchsorted(np.array(bins), np.where(ok, v, 0.0), side="left"), -1)
        classes = np.minimum(classes, len(bins) - 1)
    n_old = label.rsplit(", ", 1)
    if len(n_old) == 2 and n_old[1].endswith("classes"):
        label = f"{n_old[0]}, {len(bins)} classes"
    return classes, bins, label


def _faces(classes: np.ndarray, colours: np.ndarray) -> list:
    return [colours[c] if 0 <= c < len(colours) else _NO_DATA for c in classes]


def _class_handles(labels: Sequence[str], colours: np.ndarray) -> list[Patch]:
    return [Patch(facecolor=colours[i], edgecolor="#555555", label=lab) for i, lab in enumerate(labels)]


#: plain names of the mapped columns that are not age bands
COLUMN_LABELS: dict[str, str] = {
    "idaci_decile": "IDACI decile (IoD2025, 1 = most deprived)",
    "imd_decile": "IMD decile (1 = most deprived)",
    "imd_score": "IMD score",
}


def _column_label(column: str) -> str:
    """Plain name of a mapped column: an age band, an index, else the column name in words."""
    return BAND_LABELS.get(column) or COLUMN_LABELS.get(column) or column.replace("_", " ")


def _band_label(column: str) -> str:
    text = _column_label(column)
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------- maps
#: label layers of the print maps: layer -> (AreaData attribute, name column)
PLACE_LAYERS: dict[str, tuple[str, str]] = {"towns": ("towns", "town"), "pcns": ("pcns", "pcn_name"),
                                            "wards": ("wards", "ward_nm")}


def add_place_labels(ax: Axes, area: Any, layer: str = "towns", fontsize: float = 7.0,
                     within: Any = None, avoid: Sequence[Bbox] = ()) -> LabelPlacement:
    """Names of ``area.<layer>`` (one per area, never overlapping; see :mod:`locmap.maps.labels`).

    ``within`` (a polygon, EPSG:27700): label only the parts inside it (e.g. the sheet's view).
    An area with a single town gets no town label (it would just repeat the borough's name).
    """
    attr, col = PLACE_LAYERS[layer]
    gdf = _metric(getattr(area, attr, None))
    if gdf is None or col not in gdf.columns or (layer == "towns" and gdf[col].nunique() < 2):
        return LabelPlacement((), (), ())
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    outline = _outline_frame(area).union_all()
    clip = outline if within is None else outline.intersection(within)
    return place_labels(ax, area_labels(gdf, col, (x0, y0, x1, y1), clip), fontsize=fontsize, avoid=avoid)


def _per_words(column: str) -> str:
    """The denominator of a rate in words (``pop_total`` -> "residents")."""
    return "residents" if column == "pop_total" else _column_label(column)


def _rate_column(gdf: gpd.GeoDataFrame, column: str, per_1000_of: str | None) -> tuple[pd.Series, str]:
    """The mapped values: ``column``, or ``column`` per 1,000 ``per_1000_of`` (areas of different size)."""
    if per_1000_of is None:
        return gdf[column], _band_label(column)
    if per_1000_of not in gdf.columns:
        raise KeyError(f"column '{per_1000_of}' is not in the layer (needed for a rate per 1,000)")
    den = pd.to_numeric(gdf[per_1000_of], errors="coerce")
    rate = pd.to_numeric(gdf[column], errors="coerce") / den.where(den > 0) * 1000.0
    return rate, f"{_band_label(column)} per 1,000 {_per_words(per_1000_of)}"


def plot_choropleth(area: Any, column: str = "pop_0_4", layer: str = "lsoa", scheme: str = "NaturalBreaks",
                    k: int = 5, title: str | None = None, paper: str = "A4", dpi: int = 200,
                    cmap: str = "YlOrRd", per_1000_of: str | None = None,
                    labels: str | None = "towns") -> SheetFigure:
    """Choropleth of ``column`` of ``area.<layer>`` (classes from mapclassify; legend names the scheme).

    ``per_1000_of``: map ``column`` per 1,000 of this column (e.g. ``"pop_total"``), a rate, so
    areas of different size compare fairly.  ``labels``: a :data:`PLACE_LAYERS` name to label
    (default towns; for a town/PCN/ward map its own areas), or None.  Fills are clipped to
    the study-area outline for display; no class holds a single area.
    """
    gdf = _metric(getattr(area, layer))
    if column not in gdf.columns:
        raise KeyError(f"column '{column}' is not in the {layer} layer")
    values, what = _rate_column(gdf, column, per_1000_of)
    fig = new_figure(paper, dpi)
    ax = fig.add_axes(_map_box(fig))
    classes, labels_txt, colours, scheme_label = _classes(values, column, scheme, k, cmap)
    shown = clip_to_outline(gdf.assign(_cls=classes), area)
    shown.plot(ax=ax, color=_faces(shown["_cls"].to_numpy(), colours), edgecolor="#999999",
               linewidth=0.2, zorder=2)
    lines = _outline(ax, area)
    _map_axes(ax, _outline_frame(area).total_bounds)
    noun = LAYER_NOUNS.get(layer, layer)
    fit_legend(fig, fig.legend(handles=_class_handles(labels_txt, colours) + lines, loc="upper left",
                               bbox_to_anchor=(0.765, 1 - margins(fig)[1] - 0.075), fontsize=8, frameon=False,
                               alignment="left", title_fontsize=8.5,
                               title=textwrap.fill(f"{what}, {'by' if per_1000_of else 'per'} {noun}", 34) + "\n"
                               + textwrap.fill(f"classes: {scheme_label}", 34)))
    label_layer = layer if layer in PLACE_LAYERS else labels
    placed = add_place_labels(ax, area, label_layer) if label_layer else LabelPlacement((), (), ())
    default = f"{str(getattr(area, 'name', '')).title()}: {_column_label(column)}" + (
        f" per 1,000 {_per_words(per_1000_of)}" if per_1000_of else "")
    return _finish(fig, ax, title or default, note=placed.note)


def _located(area: Any) -> gpd.GeoDataFrame:
    svc = area.services
    return _metric(svc[svc["located"].fillna(False).astype(bool) & svc.geometry.notna()])


def plot_services(area: Any, service_types: Sequence[str] | None = None, title: str | None = None,
                  paper: str = "A4", dpi: int = 200) -> SheetFigure:
    """Services by type (distinct colours and markers) over wards, towns and the borough outline."""
    svc = area.services
    types = list(service_types) if service_types else list(dict.fromkeys(svc["service_type"].dropna()))
    fig = new_figure(paper, dpi)
    ax = fig.add_axes(_map_box(fig))
    _outline_frame(area).plot(ax=ax, color="#f4f4f4", edgecolor="none", zorder=1)
    lines = _outline(ax, area)
    located = _located(area)
    handles = _plot_service_points(ax, located, types, scale=1.0, include_empty=True)
    _map_axes(ax, _services_frame(area, located[located["service_type"].isin(types)]), 0.04)
    fit_legend(fig, fig.legend(handles=handles + lines, loc="upper left",
                               bbox_to_anchor=(0.765, 1 - margins(fig)[1] - 0.075), fontsize=8, frameon=False,
                               title="Services by type", title_fontsize=9, alignment="left"))
    n_unloc = int((~svc["located"].fillna(False).astype(bool) & svc["service_type"].isin(types)).sum())
    if n_unloc:
        fig.text(0.767, 0.2, f"{n_unloc} service(s) have no location\nand are not shown", fontsize=7.5,
                 color="#8a1c1c")
    towns = getattr(area, "towns", None)
    several = towns is not None and "town" in towns.columns and towns["town"].nunique() > 1
    placed = add_place_labels(ax, area, "towns" if several else "wards")
    return _finish(fig, ax, title or f"{str(getattr(area, 'name', '')).title()}: family services",
                   note=placed.note)


def _services_frame(area: Any, located: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    """Bounds of the outline and every service drawn (services across the border are not cut off)."""
    bounds = np.array(_outline_frame(area).total_bounds, dtype=float)
    if len(located):
        sb = located.total_bounds
        bounds = np.array([min(bounds[0], sb[0]), min(bounds[1], sb[1]), max(bounds[2], sb[2]),
                           max(bounds[3], sb[3])])
    return tuple(bounds)


def _access_panel(ax: Axes, area: Any, access: gpd.GeoDataFrame, column: str) -> None:
    pts = _metric(access[access.geometry.notna()])
    minutes = pd.to_numeric(pts[column], errors="coerce").to_numpy(dtype=float)
    colours = np.array([NO_ACCESS_COLOUR] * len(minutes), dtype=object)
    for lo, hi, _lab, col in ACCESS_BANDS:
        colours[(minutes >= lo) & (minutes < hi)] = col
    ax.scatter(pts.geometry.x, pts.geometry.y, c=list(colours), s=1.5, linewidths=0, zorder=3)
    _outline(ax, area, towns=True)


def _locality_panel(ax: Axes, lsoa: gpd.GeoDataFrame, faces: list, locs: gpd.GeoDataFrame, name: str) -> None:
    poly = locs[locs["locality"].astype(str) == str(name)]
    inside = (lsoa.geometry.representative_point().within(poly.union_all()).to_numpy() if len(poly)
              else np.zeros(len(lsoa), bool))
    face = [f if ok else (0.93, 0.93, 0.93, 1) for f, ok in zip(faces, inside)]
    lsoa.plot(ax=ax, color=face, edgecolor="#bbbbbb", linewidth=0.1, zorder=2)
    colour, width, _label = LINES["locality"]
    poly.boundary.plot(ax=ax, color=colour, linewidth=width / 2, zorder=8)


def grid_layout(n: int, panel_aspect: float, box_w: float, box_h: float,
                legend_w: float = 0.17) -> tuple[int, int, bool]:
    """Rows, columns and legend placement for ``n`` panels with no empty panel.

    The legend either fills the cells left over in the last row (``True``) or takes a column
    on the right (``False``, only when the panels fill the grid exactly).  Chooses the layout
    with the largest panels; ``panel_aspect`` is width / height of one map, ``box_w`` and
    ``box_h`` the space available in inches.
    """
    best = (0.0, 1, n, False)
    for ncols in range(1, n + 1):
        nrows = math.ceil(n / ncols)
        legend_in_grid = n % ncols != 0
        width = box_w if legend_in_grid else box_w * (1 - legend_w)
        cell_w, cell_h = width / ncols, box_h / nrows
        panel_w = min(cell_w, cell_h * panel_aspect)
        area = panel_w * panel_w / panel_aspect
        if area > best[0] + 1e-9:
            best = (area, nrows, ncols, legend_in_grid)
    return best[1], best[2], best[3]


def _panels_of(access: gpd.GeoDataFrame | None, localities: gpd.GeoDataFrame | None,
               panels: Sequence[str] | None) -> list[str]:
    if panels is not None:
        return list(panels)
    if localities is not None:
        return list(localities["locality"].astype(str))
    if access is None:
        raise ValueError("small_multiples: give access (service-type panels) or localities")
    return [c.split("__", 1)[1] for c in access.columns if c.startswith("minutes__")]


def _access_handles(access: gpd.GeoDataFrame, method: str | None) -> tuple[list, str]:
    if method is None:
        vals = access["method"].dropna().unique().tolist() if "method" in access.columns else []
        method = "street" if vals == ["street"] else "estimated"
    handles = [Patch(facecolor=c, label=lab) for _lo, _hi, lab, c in ACCESS_BANDS]
    handles.append(Patch(facecolor=NO_ACCESS_COLOUR, label="No reachable service"))
    return handles, "Minutes from home to the\nnearest service\n" + textwrap.fill(
        f"distances: {method_label(method)}", 26)


def small_multiples(area: Any, panels: Sequence[str] | None = None, access: gpd.GeoDataFrame | None = None,
                    localities: gpd.GeoDataFrame | None = None, method: str | None = None,
                    title: str | None = None, paper: str = "A3", dpi: int = 200,
                    column: str = "pop_0_4") -> SheetFigure:
    """Grid of small maps, one per panel, with no empty panel (the legend fills the rest).

    Panels are service types (homes coloured by pram-distance band; needs ``access``) or, when
    ``localities`` is given, locality names (``column`` per LSOA inside each locality).
    """
    by_locality = localities is not None
    names = _panels_of(access, localities, panels)
    if not names:
        raise ValueError("small_multiples: no panels to draw")
    if not by_locality:
        missing = [n for n in names if access is None or f"minutes__{n}" not in access.columns]
        if missing:
            raise KeyError(f"small_multiples: access has no column 'minutes__{missing[0]}'")
    fig = new_figure(paper, dpi)
    frame = _outline_frame(area)
    minx, miny, maxx, maxy = frame.total_bounds
    mx, my = margins(fig)
    box = (mx, my + 0.05, 1 - 2 * mx, 1 - 2 * my - 0.13)  # left, bottom, width, height (figure fraction)
    fw, fh = fig.get_size_inches()
    nrows, ncols, legend_in_grid = grid_layout(len(names), (maxx - minx) / (maxy - miny),
                                               box[2] * fw, box[3] * fh)
    right = box[0] + box[2] * (1 if legend_in_grid else 0.83)
    gs = fig.add_gridspec(nrows, ncols, left=box[0], right=right, bottom=box[1], top=box[1] + box[3],
                          wspace=0.03, hspace=0.1)
    axes = [fig.add_subplot(gs[i // ncols, i % ncols]) for i in range(len(names))]
    handles, ltitle = _draw_panels(axes, names, area, access, localities, column, method)
    if legend_in_grid:
        slot = gs[nrows - 1, len(names) % ncols:].get_position(fig)
        anchor = (slot.x0 + 0.01, slot.y1)
        furniture = (slot.x0 + 0.01, slot.y0 + 0.02)
    else:
        anchor, furniture = (right + 0.01, box[1] + box[3]), (right + 0.01, box[1] + 0.02)
    fit_legend(fig, fig.legend(handles=handles, loc="upper left", bbox_to_anchor=anchor, fontsize=8,
                               frameon=False, title=ltitle, title_fontsize=8.5, alignment="left"))
    default = "localities" if by_locality else "pram-pushing distance by service type"
    return _finish(fig, axes[-1], title or f"{str(getattr(area, 'name', '')).title()}: {default}",
                   furniture_xy=furniture)


def _draw_panels(axes: Sequence[Axes], names: Sequence[str], area: Any, access: gpd.GeoDataFrame | None,
                 localities: gpd.GeoDataFrame | None, column: str, method: str | None) -> tuple[list, str]:
    """Draw every panel; returns the legend handles and title."""
    frame = _outline_frame(area)
    if localities is not None:
        lsoa = clip_to_outline(area.lsoa, area)
        classes, labels, colours, scheme_label = _classes(lsoa[column], column, "NaturalBreaks", 5, "YlOrRd")
        faces = _faces(classes, colours)
        locs = _metric(localities)
    for ax, name in zip(axes, names):
        if localities is not None:
            _locality_panel(ax, lsoa, faces, locs, name)
            ax.set_title(str(name), fontsize=9)
        else:
            _access_panel(ax, area, access, f"minutes__{name}")
            ax.set_title(service_label(name), fontsize=9)
        _map_axes(ax, frame.total_bounds)
        if localities is None:
            add_place_labels(ax, area, "towns", fontsize=5.5)
    if localities is not None:
        handles = _class_handles(labels, colours) + [_line("locality"),
                                                     Patch(facecolor=(0.93, 0.93, 0.93, 1), label="Outside the locality")]
        handles[-2].set_label("Locality outline")
        return handles, f"{_band_label(column)} per LSOA\nclasses: {scheme_label}"
    handles, ltitle = _access_handles(access, method)
    return handles + [_line("borough"), _line("town"), _line("ward")], ltitle


# --------------------------------------------------------------------------- profile sheets
#: scorecard columns shown on a profile sheet: (column, plain label, unit kind); {gap} = gap
#: threshold in minutes.  Every value is printed with its unit (see :func:`_figure_text`).
SHEET_FIGURES: tuple[tuple[str, str, str], ...] = (
    ("pop_total", "Population, all ages", "people"),
    ("pop_0_4", "Children 0-4", "children"),
    ("pop_5_11", "Children 5-11", "children"),
    ("pop_12_19", "Young people 12-19", "young people"),
    ("pct_pop_0_19", "Children 0-19, share of all people", "pct"),
    ("imd_score_popw", "IMD score (higher = more deprived)", "score"),
    ("pct_children_idaci_most_deprived_20", "Children 0-19 in the most deprived 20% (IDACI)", "pct"),
    ("idaci_children_income_deprived", "Children in income-deprived families (IDACI)", "children"),
    ("pct_children_within_{gap}min_childrens_centre", "Children 0-19 within {gap} min of a children's centre",
     "pct"),
    ("pct_children_within_{gap}min_gp_practice", "Children 0-19 within {gap} min of a GP practice", "pct"),
    ("pct_children_within_{gap}min_any_key", "Children 0-19 within {gap} min of any key service", "pct"),
    ("gap_children", "Children 0-19 beyond {gap} min of every key service", "children"),
    ("hard_edge_risk_pct", "Children 0-19 nearest a key service across an edge", "pct"),
    ("n_services_total", "Services inside the locality", "services"),
    ("n_childrens_centre", "Children's centres inside the locality", "centres"),
    ("size_vs_guide", "Size against the 30,000-50,000 people guide", "text"),
    ("align_town_share", "Children 0-19 in the main town", "share"),
    ("align_pcn_share", "Children 0-19 in the main PCN footprint (approximate)", "share"),
)
#: how each recommendation status is printed: (badge text, sentence, badge colour)
SHEET_STATUS: dict[str, tuple[str, str, str]] = {
    "recommended": ("RECOMMENDED", "the recommended pathfinder locality", "#0072B2"),
    "runner-up": ("RUNNER-UP", "the runner-up to the recommended locality", "#56B4E9"),
    "candidate": ("CANDIDATE", "a candidate locality, not recommended", "#777777"),
    "unranked": ("NOT RANKED", "a candidate locality (not ranked here: locmap run ranks the candidates)",
                 "#777777"),
}
#: homes beyond the threshold: black dots with a white ring, visible on light and dark fills
FAR_HOME_STYLE: dict[str, Any] = {"marker": "o", "facecolor": "#000000", "edgecolor": "#FFFFFF",
                                  "size_pt": 3.2, "ring_pt": 0.6}


def _figure_text(kind: str, value: Any) -> str:
    """A figure with its unit: people and children as whole numbers, shares as percentages."""
    if kind == "text" or isinstance(value, (bool, np.bool_)):
        return str(value)
    if not isinstance(value, (float, np.floating, int, np.integer)):
        return str(value)
    v = float(value)
    if not np.isfinite(v):
        return "not available"
    if kind == "pct":
        return f"{v:.1f}%"
    if kind == "share":
        return f"{v * 100:.0f}%"
    if kind == "score":
        return f"{v:.1f} (score)"
    unit = kind if round(v) != 1 else {"people": "person", "children": "child", "young people": "young person",
                                       "services": "service", "centres": "centre"}.get(kind, kind)
    return f"{round(v):,.0f} {unit}"


def _key_figures(row: pd.Series | dict | None, max_rows: int = 22, skip: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(label, value with unit) pairs of :data:`SHEET_FIGURES` present in a scorecard row
    (``skip``: columns that say nothing for this area, e.g. the town share where it has one town)."""
    if row is None:
        return [("Scorecard", "not available")]
    row = dict(row)
    gap = f"{float(row.get('gap_threshold_min', 15)):g}"
    out = []
    for key, label, kind in SHEET_FIGURES:
        key = key.format(gap=gap)
        if key in row and key not in skip:
            out.append((label.format(gap=gap), _figure_text(kind, row[key])[:40]))
    return out[:max_rows]


def _method_of(access: gpd.GeoDataFrame, method: str | None) -> str:
    if method is not None:
        return method
    vals = access["method"].dropna().unique().tolist() if "method" in access.columns else []
    return "street" if vals == ["street"] else "estimated"


def _far_homes(ax: Axes, access: gpd.GeoDataFrame, geom: Any, service_type: str, far_minutes: float,
               method: str | None) -> list[Line2D]:
    """Homes at least ``far_minutes`` from ``service_type`` near the locality (ringed black dots)."""
    col = f"minutes__{service_type}"
    if access is None or col not in access.columns:
        return []
    pts = _metric(access)
    far = pts[(pd.to_numeric(pts[col], errors="coerce") >= far_minutes) & pts.geometry.within(geom.buffer(2000))]
    st = FAR_HOME_STYLE
    if len(far):
        ax.scatter(far.geometry.x, far.geometry.y, s=st["size_pt"] ** 2, c=st["facecolor"], marker=st["marker"],
                   edgecolors=st["edgecolor"], linewidths=st["ring_pt"], zorder=12)
    what = ("every key service" if service_type == "any_key_service"
            else f"a\n{service_label(service_type).lower()}")
    label = (f"Homes {far_minutes:g}+ min from {what}\n"
             + textwrap.fill(f"distances: {method_label(_method_of(access, method))}", 28))
    return [Line2D([], [], marker=st["marker"], ls="", markersize=st["size_pt"] + 1, markerfacecolor=st["facecolor"],
                   markeredgecolor="#555555", markeredgewidth=st["ring_pt"], label=label)]


def _sheet_map(ax: Axes, area: Any, locs: gpd.GeoDataFrame, poly: gpd.GeoDataFrame
               ) -> tuple[list, str]:
    """LSOA need fill (clipped), boundaries and the locality outline; legend handles + title."""
    lsoa = clip_to_outline(area.lsoa, area)
    classes, labels, colours, scheme_label = _classes(lsoa["pop_0_4"], "pop_0_4", "NaturalBreaks", 5, "YlOrRd")
    lsoa.plot(ax=ax, color=_faces(classes, colours), edgecolor="#cccccc", linewidth=0.2, zorder=2)
    lines = _outline(ax, area, towns=False)
    for key, gdf, z in (("other_locality", locs, 7), ("locality", poly, 9)):
        colour, width, _label = LINES[key]
        gdf.boundary.plot(ax=ax, color=colour, linewidth=width, zorder=z)
    handles = _class_handles(labels, colours) + [_line("locality"), _line("other_locality")] + lines
    return handles, f"Children 0-4 living in each LSOA\nclasses: {scheme_label}"


def hub_site_list(sites: pd.DataFrame | None) -> pd.DataFrame:
    """Distinct suggested hub sites (``name``, ``x``, ``y``, ``models``), numbered 1.. in order."""
    cols = ["number", "name", "x", "y", "models"]
    if sites is None or not len(sites) or not {"name", "x", "y"} <= set(sites.columns):
        return pd.DataFrame(columns=cols)
    key = "site_id" if "site_id" in sites.columns else "name"
    models = {"mclp": "most children covered", "pmedian": "shortest total distance"}
    rows = []
    for _k, g in sites.groupby(key, sort=False):
        names = [models.get(str(m), str(m)) for m in dict.fromkeys(g.get("model", pd.Series(dtype=str)))]
        rows.append({"name": str(g["name"].iloc[0]), "x": float(g["x"].iloc[0]), "y": float(g["y"].iloc[0]),
                     "models": ", ".join(names)})
    out = pd.DataFrame(rows)
    out.insert(0, "number", range(1, len(out) + 1))
    return out[cols]


def _draw_hub_sites(ax: Axes, hubs: pd.DataFrame) -> list[Line2D]:
    """Hub sites as numbered white hexagons with a thick black edge (on top of everything)."""
    if not len(hubs):
        return []
    ax.scatter(hubs["x"], hubs["y"], s=13 ** 2, marker="H", c="white", edgecolors="black", linewidths=1.4,
               zorder=35)
    for r in hubs.itertuples():
        ax.text(r.x, r.y, str(r.number), ha="center", va="center", fontsize=7, fontweight="bold", zorder=36)
    return [Line2D([], [], marker="H", ls="", markersize=9, markerfacecolor="white", markeredgecolor="black",
                   markeredgewidth=1.2, label="Suggested hub site (numbered)")]


def _hub_boxes(ax: Axes, hubs: pd.DataFrame, size_pt: float = 13.0) -> list[Bbox]:
    """Display boxes of the hub-site markers (labels keep clear of them)."""
    half = size_pt / 2 * ax.figure.dpi / 72.0
    ax.apply_aspect()
    return [Bbox.from_extents(x - half, y - half, x + half, y + half)
            for x, y in ax.transData.transform(hubs[["x", "y"]].to_numpy(dtype=float))] if len(hubs) else []


def _hub_text(hubs: pd.DataFrame) -> str:
    if not len(hubs):
        return textwrap.fill("Suggested hub sites: none given for this locality (locmap run suggests "
                             "sites for the recommended locality and the runner-up).", 75)
    lines = [f"{r.number}  {r.name} ({r.models})" for r in hubs.itertuples()]
    return "Suggested hub sites:\n" + "\n".join(textwrap.shorten(t, 75) for t in lines)


def profile_figure(area: Any, locality_name: str, scheme_gdf: gpd.GeoDataFrame,
                   scorecard_row: pd.Series | dict | None, paper: str = "A4", dpi: int = 200,
                   access: gpd.GeoDataFrame | None = None, method: str | None = None,
                   service_type: str = "childrens_centre", far_minutes: float = 15.0,
                   status: str = "unranked", hub_sites: pd.DataFrame | None = None,
                   made_on: _dt.date | str | None = None) -> SheetFigure:
    """The profile sheet of one locality as a figure (shown inline in a notebook).

    Map (children 0-4 per LSOA, services within 1.5 km, homes ``far_minutes``+ from
    ``service_type``, suggested hub sites, ward names), legend, the recommendation ``status``
    and the date, key figures with units, scale bar and north arrow beside the map, all inside
    :data:`MARGIN_MM` margins.  See :func:`profile_sheet` for the parameters.
    """
    if status not in SHEET_STATUS:
        raise ValueError(f"status must be one of {', '.join(SHEET_STATUS)}, not {status!r}")
    locs = _metric(scheme_gdf)
    poly = locs[locs["locality"].astype(str) == str(locality_name)]
    if not len(poly):
        raise UnknownAreaError(f"locality '{locality_name}' is not in the scheme "
                               f"(known: {', '.join(sorted(locs['locality'].astype(str)))})")
    geom = poly.union_all()
    fig = new_figure(paper, dpi)
    mx, my = margins(fig)
    ax = fig.add_axes((mx, my + 0.05, 0.585 - mx, 1 - 2 * my - 0.16))
    handles, ltitle = _sheet_map(ax, area, locs, poly)
    handles += _far_homes(ax, access, geom, service_type, far_minutes, method)
    types = list(dict.fromkeys(area.services["service_type"].dropna()))
    near = _located(area)
    near = near[near.geometry.within(geom.buffer(1500))]
    handles += _plot_service_points(ax, near, types, scale=1.0, include_empty=False)
    hubs = hub_site_list(hub_sites)
    handles += _draw_hub_sites(ax, hubs)
    _map_axes(ax, geom.buffer(800).bounds, pad_frac=0.0)
    placed = add_place_labels(ax, area, "wards", fontsize=6.0, within=geom.buffer(800).envelope,
                              avoid=_hub_boxes(ax, hubs))
    towns = getattr(area, "towns", None)
    one_town = towns is None or "town" not in towns.columns or towns["town"].nunique() < 2
    _sheet_side(fig, handles, ltitle, _key_figures(scorecard_row, skip=("align_town_share",) if one_town else ()),
                _hub_text(hubs))
    badge, sentence, colour = SHEET_STATUS[status]
    day = made_on or _dt.date.today()
    fig.text(1 - mx - 0.008, 1 - my - 0.008, badge, ha="right", va="top", fontsize=11, fontweight="bold", color="white",
             bbox={"boxstyle": "round,pad=0.35", "facecolor": colour, "edgecolor": colour})
    fig.text(1 - mx, 1 - my - 0.05, f"Made on {day}", ha="right", va="top", fontsize=8, color="#333333")
    return _finish(fig, ax, f"Locality profile: {locality_name}",
                   f"{str(getattr(area, 'name', '')).title()}: {locality_name} is {sentence}. Locality "
                   "outlined in blue; services within 1.5 km shown.",
                   furniture_xy=(0.62, my + 0.05), note=placed.note)


def _sheet_side(fig: Figure, handles: list, ltitle: str, figures: Sequence[tuple[str, str]], hub_text: str) -> None:
    """Legend, hub-site list and key-figures table in the right column, above the scale bar."""
    mx, my = margins(fig)
    legend = fit_legend(fig, fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.61, 1 - my - 0.085),
                                        fontsize=6.5, frameon=False, title=ltitle, title_fontsize=7,
                                        alignment="left", ncols=2, columnspacing=1.0, handletextpad=0.4))
    inv = fig.transFigure.inverted()
    legend_bottom = legend.get_window_extent().transformed(inv).y0
    hub = fig.text(0.62, legend_bottom - 0.012, hub_text, fontsize=6.5, va="top", ha="left", linespacing=1.3)
    hub_bottom = hub.get_window_extent(renderer_of(fig)).transformed(inv).y0
    _key_figures_table(fig, figures, top=hub_bottom - 0.015, bottom=my + 0.14, left=0.62, right=1 - mx - 0.006)


def _key_figures_table(fig: Figure, rows: Sequence[tuple[str, str]], top: float = 0.64,
                       bottom: float = 0.19, row_height: float = 0.026, left: float = 0.62,
                       right: float = 0.96) -> None:
    """Key figures right of the map, between ``top`` and ``bottom`` (figure fraction), above the
    scale bar and north arrow (never overlapping them); squeezed when there are many rows."""
    height = max(min(top - bottom, (len(rows) + 1) * row_height), 0.05)
    tab_ax = fig.add_axes((left, top - height, right - left, height))
    tab_ax.axis("off")
    table = tab_ax.table(cellText=[[k, v] for k, v in rows], colLabels=["Key figure", "Value"],
                         cellLoc="left", colWidths=[0.72, 0.28], bbox=(0.0, 0.0, 1.0, 1.0))
    table.auto_set_font_size(False)
    table.set_fontsize(6.8)
    for cell in table.get_celld().values():
        cell.PAD = 0.03  # matplotlib's default pads 10 % of each cell's width: long labels were cut off


def profile_sheet(area: Any, locality_name: str, scheme_gdf: gpd.GeoDataFrame, scorecard_row: pd.Series | dict | None,
                  out_dir: str | Path, paper: str = "A4", dpi: int = 200, access: gpd.GeoDataFrame | None = None,
                  method: str | None = None, service_type: str = "childrens_centre",
                  formats: Sequence[str] = ("png", "pdf"), status: str = "unranked",
                  hub_sites: pd.DataFrame | None = None, made_on: _dt.date | str | None = None) -> list[Path]:
    """Write the profile sheet of one locality (PNG + PDF) and return the files.

    Parameters
    ----------
    area : AreaData
        Study area.
    locality_name : str
        Name in ``scheme_gdf['locality']``.
    scheme_gdf : GeoDataFrame
        Locality polygons (``locality`` column).
    scorecard_row : Series or dict, optional
        The locality's scorecard row (key figures).
    out_dir : path-like
        Folder; files are ``<locality>.png`` / ``.pdf`` (name made file-safe).
    access : GeoDataFrame, optional
        Homes with ``minutes__<type>``: homes 15+ minutes from ``service_type`` are marked.
    status : str
        ``"recommended"``, ``"runner-up"``, ``"candidate"`` (ranked, not chosen) or ``"unranked"``
        (no recommendation was computed; the default), printed as a badge.
    hub_sites : DataFrame, optional
        The run's suggested sites for this locality (``SitesResult.sites``: name, x, y, model).
    made_on : date or str, optional
        Date printed on the sheet (default: today).

    Returns
    -------
    list of Path
        Files written.
    """
    fig = profile_figure(area, locality_name, scheme_gdf, scorecard_row, paper=paper, dpi=dpi,
                         access=access, method=method, service_type=service_type, status=status,
                         hub_sites=hub_sites, made_on=made_on)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(locality_name)) or "locality"
    return save(fig, Path(out_dir) / safe, formats)
