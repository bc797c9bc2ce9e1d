"""Printable static maps (matplotlib): A4/A3 landscape PNG and PDF.

Every figure has a title, legend, scale bar (drawn here, in metres: EPSG:27700 is metric),
north arrow and the attribution text.  Files are written with
:func:`locmap.export.write_figure` (atomic).

- :func:`plot_choropleth` -- one LSOA/ward variable, classified with mapclassify;
- :func:`plot_services` -- services by type over the boundaries;
- :func:`small_multiples` -- one panel per service type (access bands) or per locality;
- :func:`profile_sheet` -- one page per locality: map plus a key-figures table.
"""
from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from locmap.export import ATTRIBUTION, write_figure  # noqa: E402
from locmap.maps.web import ACCESS_BANDS, NO_ACCESS_COLOUR, classify, method_label, service_colour  # noqa: E402
from locmap.bands import BAND_LABELS  # noqa: E402
from locmap.settings import CRS_METRIC  # noqa: E402

#: ISO 216 landscape sizes in inches (width, height).
PAPER_INCHES: dict[str, tuple[float, float]] = {
    "A4": (297 / 25.4, 210 / 25.4),
    "A3": (420 / 25.4, 297 / 25.4),
}


# --------------------------------------------------------------------------- page furniture
def new_figure(paper: str = "A4", dpi: int = 200) -> Figure:
    """Landscape figure of the given paper size (``"A4"`` or ``"A3"``)."""
    if paper not in PAPER_INCHES:
        raise ValueError(f"paper must be one of {sorted(PAPER_INCHES)}, not {paper!r}")
    return plt.figure(figsize=PAPER_INCHES[paper], dpi=dpi)


def _nice_length_m(span_m: float) -> float:
    """A round scale-bar length about a fifth of ``span_m`` (1, 2, 5 x 10^n metres)."""
    target = max(span_m / 5.0, 1.0)
    exp = 10 ** math.floor(math.log10(target))
    for mult in (5, 2, 1):
        if mult * exp <= target:
            return float(mult * exp)
    return float(exp)


def add_scale_bar(ax: plt.Axes, length_m: float | None = None, location: tuple[float, float] = (0.04, 0.04)) -> float:
    """Draw a two-segment scale bar on an EPSG:27700 axis; returns its length in metres."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    length_m = length_m or _nice_length_m(x1 - x0)
    bx = x0 + location[0] * (x1 - x0)
    by = y0 + location[1] * (y1 - y0)
    h = 0.012 * (y1 - y0)
    half = length_m / 2
    ax.add_patch(Rectangle((bx, by), half, h, facecolor="black", edgecolor="black", zorder=20))
    ax.add_patch(Rectangle((bx + half, by), half, h, facecolor="white", edgecolor="black", zorder=20))
    label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
    for xx, txt in ((bx, "0"), (bx + length_m, label)):
        ax.text(xx, by + 1.8 * h, txt, ha="center", va="bottom", fontsize=7, zorder=20,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5})
    return length_m


def add_north_arrow(ax: plt.Axes, location: tuple[float, float] = (0.95, 0.90)) -> None:
    """North arrow (grid north of British National Grid) in axis coordinates."""
    x, y = location
    ax.annotate("N", xy=(x, y), xytext=(x, y - 0.09), xycoords="axes fraction", ha="center", va="center",
                fontsize=10, fontweight="bold", zorder=20,
                arrowprops={"facecolor": "black", "width": 4, "headwidth": 11, "headlength": 10})


def add_attribution(fig: Figure, text: str = ATTRIBUTION, y: float = 0.012) -> None:
    """Attribution along the bottom of the page (wrapped)."""
    fig.text(0.01, y, "\n".join(textwrap.wrap(text, 230)), fontsize=5.5, color="#333333", va="bottom")


def _frame(ax: plt.Axes, gdf: gpd.GeoDataFrame, pad_frac: float = 0.04) -> None:
    minx, miny, maxx, maxy = gdf.total_bounds
    px, py = (maxx - minx) * pad_frac, (maxy - miny) * pad_frac
    ax.set_xlim(minx - px, maxx + px)
    ax.set_ylim(miny - py, maxy + py)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")


def _metric(gdf: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    if gdf is None:
        return None
    return gdf.to_crs(CRS_METRIC) if gdf.crs is not None and str(gdf.crs) != CRS_METRIC else gdf


def _plot_service_points(ax: plt.Axes, located: gpd.GeoDataFrame, types: Sequence[str], markersize: float,
                         legend_markersize: float, include_empty: bool) -> list[Line2D]:
    """Plot located services one colour per type; return legend handles labelled with counts."""
    handles = []
    for t in types:
        sub = located[located["service_type"] == t]
        if len(sub):
            sub.plot(ax=ax, color=service_colour(t, types), markersize=markersize, edgecolor="#222222",
                     linewidth=0.3, zorder=10)
        if len(sub) or include_empty:
            handles.append(Line2D([], [], marker="o", ls="", markersize=legend_markersize,
                                  markerfacecolor=service_colour(t, types), markeredgecolor="#222222",
                                  label=f"{t.replace('_', ' ')} ({len(sub)})"))
    return handles


def _outline(ax: plt.Axes, area: Any, towns: bool = True) -> None:
    if getattr(area, "wards", None) is not None:
        _metric(area.wards).boundary.plot(ax=ax, color="#777777", linewidth=0.3, zorder=5)
    if towns and getattr(area, "towns", None) is not None:
        _metric(area.towns).boundary.plot(ax=ax, color="#4B0082", linewidth=0.9, zorder=6)
    if getattr(area, "borough", None) is not None:
        _metric(area.borough).boundary.plot(ax=ax, color="black", linewidth=1.4, zorder=7)


def _finish(fig: Figure, ax: plt.Axes, title: str, subtitle: str = "") -> None:
    fig.suptitle(title, fontsize=14, fontweight="bold", x=0.01, ha="left", y=0.985)
    if subtitle:
        fig.text(0.01, 0.935, subtitle, fontsize=8.5, color="#333333", ha="left")
    add_scale_bar(ax)
    add_north_arrow(ax)
    add_attribution(fig)


def save(fig: Figure, out_base: str | Path, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Save ``fig`` as ``out_base.<fmt>`` for each format (atomic) and close it."""
    out_base = Path(out_base)
    paths = [write_figure(fig, out_base.with_suffix(f".{fmt}"), dpi=fig.dpi) for fmt in formats]
    plt.close(fig)
    return paths


# --------------------------------------------------------------------------- maps
def plot_choropleth(area: Any, column: str = "pop_0_4", layer: str = "lsoa", scheme: str = "NaturalBreaks",
                    k: int = 5, title: str | None = None, paper: str = "A4", dpi: int = 200,
                    cmap: str = "YlOrRd") -> Figure:
    """Choropleth of ``column`` of ``area.<layer>`` (classes from mapclassify; legend names the scheme)."""
    gdf = _metric(getattr(area, layer))
    if column not in gdf.columns:
        raise KeyError(f"column '{column}' is not in the {layer} layer")
    fig = new_figure(paper, dpi)
    ax = fig.add_axes([0.01, 0.06, 0.74, 0.86])
    if column.endswith("_decile"):
        classes = pd.to_numeric(gdf[column], errors="coerce").fillna(0).astype(int).to_numpy() - 1
        bins = [float(d) for d in range(1, 11)]
        labels = [f"decile {d}" + (" (most deprived)" if d == 1 else "") for d in range(1, 11)]
        colours = plt.get_cmap("RdYlBu")(np.linspace(0.05, 0.95, 10))
        scheme_label = "national deciles (fixed)"
    else:
        classes, bins, scheme_label = classify(gdf[column], scheme=scheme, k=k)
        lo = float(np.nanmin(gdf[column]))
        labels = [f"{(lo if i == 0 else bins[i - 1]):,.0f} – {b:,.0f}" for i, b in enumerate(bins)]
        colours = plt.get_cmap(cmap)(np.linspace(0.15, 0.95, max(len(bins), 1)))
    face = [colours[c] if 0 <= c < len(colours) else (1, 1, 1, 1) for c in classes]
    gdf.plot(ax=ax, color=face, edgecolor="#999999", linewidth=0.2, zorder=2)
    _outline(ax, area)
    _frame(ax, gdf)
    handles = [Patch(facecolor=colours[i], edgecolor="#555555", label=lab) for i, lab in enumerate(labels)]
    handles += [Line2D([], [], color="#4B0082", lw=1, label="town"), Line2D([], [], color="black", lw=1.4, label="borough")]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.765, 0.9), fontsize=8, frameon=False,
               title=f"{BAND_LABELS.get(column, column.replace('_', ' '))} per {layer.upper() if layer == 'lsoa' else layer}\n"
                     f"classes: {scheme_label}", title_fontsize=8.5, alignment="left")
    _finish(fig, ax, title or f"{getattr(area, 'name', '').title()}: {BAND_LABELS.get(column, column)}")
    return fig


def plot_services(area: Any, service_types: Sequence[str] | None = None, title: str | None = None,
                  paper: str = "A4", dpi: int = 200) -> Figure:
    """Services by type (distinct colours) over wards, towns and the borough outline."""
    svc = area.services
    located = _metric(svc[svc["located"].fillna(False).astype(bool) & svc.geometry.notna()])
    types = list(service_types) if service_types else list(dict.fromkeys(svc["service_type"].dropna()))
    fig = new_figure(paper, dpi)
    ax = fig.add_axes([0.01, 0.06, 0.74, 0.86])
    _metric(area.wards).plot(ax=ax, color="#f4f4f4", edgecolor="none", zorder=1)
    _outline(ax, area)
    handles = _plot_service_points(ax, located, types, markersize=14, legend_markersize=6, include_empty=True)
    _frame(ax, _metric(area.borough) if getattr(area, "borough", None) is not None else _metric(area.wards), 0.08)
    n_unloc = int((~svc["located"].fillna(False).astype(bool) & svc["service_type"].isin(types)).sum())
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.765, 0.9), fontsize=8, frameon=False,
               title="Services by type", title_fontsize=9)
    if n_unloc:
        fig.text(0.767, 0.12, f"{n_unloc} service(s) have no location\nand are not shown", fontsize=7.5, color="#8a1c1c")
    _finish(fig, ax, title or f"{getattr(area, 'name', '').title()}: family services")
    return fig


def _access_panel(ax: plt.Axes, area: Any, access: gpd.GeoDataFrame, column: str) -> None:
    pts = _metric(access[access.geometry.notna()])
    minutes = pd.to_numeric(pts[column], errors="coerce").to_numpy(dtype=float)
    colours = np.array([NO_ACCESS_COLOUR] * len(minutes), dtype=object)
    for lo, hi, _lab, col in ACCESS_BANDS:
        colours[(minutes >= lo) & (minutes < hi)] = col
    ax.scatter(pts.geometry.x, pts.geometry.y, c=list(colours), s=1.5, linewidths=0, zorder=3)
    _outline(ax, area, towns=True)


def small_multiples(area: Any, panels: Sequence[str] | None = None, access: gpd.GeoDataFrame | None = None,
                    localities: gpd.GeoDataFrame | None = None, method: str | None = None,
                    title: str | None = None, paper: str = "A3", dpi: int = 200,
                    column: str = "pop_0_4") -> Figure:
    """Grid of small maps, one per panel.

    Panels are service types (homes coloured by pram-distance band; needs ``access``) or, when
    ``localities`` is given, locality names (``column`` per LSOA inside each locality).
    """
    by_locality = localities is not None
    if panels is None:
        if by_locality:
            panels = list(localities["locality"].astype(str))
        else:
            panels = [c.split("__", 1)[1] for c in access.columns if c.startswith("minutes__")]
    n = len(panels)
    if n == 0:
        raise ValueError("small_multiples: no panels to draw")
    ncols = min(4, math.ceil(math.sqrt(n * 1.4)))
    nrows = math.ceil(n / ncols)
    fig = new_figure(paper, dpi)
    gs = fig.add_gridspec(nrows, ncols, left=0.01, right=0.82, bottom=0.07, top=0.90, wspace=0.03, hspace=0.12)
    frame_gdf = _metric(area.borough) if getattr(area, "borough", None) is not None else _metric(area.wards)
    if by_locality:
        lsoa = _metric(area.lsoa)
        classes, bins, scheme_label = classify(lsoa[column], k=5)
        colours = plt.get_cmap("YlOrRd")(np.linspace(0.15, 0.95, max(len(bins), 1)))
        locs = _metric(localities)
    axes = []
    for i, name in enumerate(panels):
        ax = fig.add_subplot(gs[i // ncols, i % ncols])
        axes.append(ax)
        if by_locality:
            poly = locs[locs["locality"].astype(str) == str(name)]
            inside = lsoa.geometry.representative_point().within(poly.union_all()) if len(poly) else np.zeros(len(lsoa), bool)
            face = [colours[c] if (ok and c >= 0) else (0.93, 0.93, 0.93, 1) for c, ok in zip(classes, inside)]
            lsoa.plot(ax=ax, color=face, edgecolor="#bbbbbb", linewidth=0.1, zorder=2)
            poly.boundary.plot(ax=ax, color="black", linewidth=1.2, zorder=8)
            _frame(ax, frame_gdf)
        else:
            col = f"minutes__{name}"
            if access is None or col not in access.columns:
                raise KeyError(f"small_multiples: access has no column '{col}'")
            _access_panel(ax, area, access, col)
            _frame(ax, frame_gdf)
        ax.set_title(str(name).replace("_", " "), fontsize=9)
    add_scale_bar(axes[-1])
    add_north_arrow(axes[0], (0.92, 0.85))
    if by_locality:
        lo = float(np.nanmin(lsoa[column]))
        handles = [Patch(facecolor=colours[i], label=f"{(lo if i == 0 else bins[i - 1]):,.0f} – {b:,.0f}")
                   for i, b in enumerate(bins)]
        ltitle = f"{BAND_LABELS.get(column, column)} per LSOA\nclasses: {scheme_label}"
    else:
        if method is None:
            vals = access["method"].dropna().unique().tolist() if "method" in access.columns else []
            method = "street" if vals == ["street"] else "estimated"
        handles = [Patch(facecolor=c, label=lab) for _lo, _hi, lab, c in ACCESS_BANDS]
        handles.append(Patch(facecolor=NO_ACCESS_COLOUR, label="no reachable service"))
        ltitle = f"Minutes from home to nearest\n({method_label(method)})"
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.835, 0.9), fontsize=8, frameon=False,
               title=ltitle, title_fontsize=8.5, alignment="left")
    fig.suptitle(title or f"{getattr(area, 'name', '').title()}: "
                 + ("localities" if by_locality else "pram-pushing distance by service type"),
                 fontsize=14, fontweight="bold", x=0.01, ha="left", y=0.985)
    add_attribution(fig)
    return fig


#: scorecard columns shown on a profile sheet, with plain labels ({gap} = gap threshold, minutes)
SHEET_FIGURES: tuple[tuple[str, str], ...] = (
    ("pop_total", "Population, all ages"),
    ("pop_0_4", "Children 0-4"),
    ("pop_5_11", "Children 5-11"),
    ("pop_12_19", "Young people 12-19"),
    ("pct_pop_0_19", "Children 0-19, % of population"),
    ("imd_score_popw", "IMD score (population-weighted)"),
    ("pct_children_idaci_most_deprived_20", "% children in most deprived 20% (IDACI)"),
    ("idaci_children_income_deprived", "Children in income-deprived families"),
    ("pct_children_within_15min_childrens_centre", "% children <=15 min of a children's centre"),
    ("pct_children_within_15min_gp_practice", "% children <=15 min of a GP practice"),
    ("pct_children_within_15min_any_key", "% children <=15 min of any key service"),
    ("gap_children", "Children beyond {gap} min of all key services"),
    ("hard_edge_risk_pct", "Hard-edge risk (% of children)"),
    ("n_services_total", "Services in the locality"),
    ("n_childrens_centre", "Children's centres in the locality"),
    ("size_vs_guide", "Size vs the 30-50k guide"),
    ("align_town_share", "Share of children in one town"),
    ("align_pcn_share", "Share of children in one PCN (approx.)"),
)


def _key_figures(row: pd.Series | dict | None, max_rows: int = 22) -> list[tuple[str, str]]:
    """(label, value) pairs of :data:`SHEET_FIGURES` present in a scorecard row."""
    if row is None:
        return [("scorecard", "not available")]
    row = dict(row)
    gap = row.get("gap_threshold_min", 15)
    out = []
    for k, label in SHEET_FIGURES:
        if k not in row:
            continue
        v = row[k]
        if isinstance(v, (float, np.floating, int, np.integer)) and not isinstance(v, bool):
            v = float(v)
            whole = abs(v) >= 100 or k.startswith("n_")
            txt = "" if not np.isfinite(v) else (f"{v:,.0f}" if whole else f"{v:,.1f}")
            if k.endswith("_share") and np.isfinite(v):
                txt = f"{v:.2f}"
        else:
            txt = str(v)
        out.append((label.format(gap=f"{float(gap):g}"), txt[:40]))
    return out[:max_rows]


def profile_sheet(area: Any, locality_name: str, scheme_gdf: gpd.GeoDataFrame, scorecard_row: pd.Series | dict | None,
                  out_dir: str | Path, paper: str = "A4", dpi: int = 200, access: gpd.GeoDataFrame | None = None,
                  method: str | None = None, service_type: str = "childrens_centre",
                  formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """One page per locality: map (need, services, pram distance) plus a key-figures table.

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
        Homes with ``minutes__<type>``: homes beyond 15 minutes of ``service_type`` are marked.

    Returns
    -------
    list of Path
        Files written.
    """
    locs = _metric(scheme_gdf)
    poly = locs[locs["locality"].astype(str) == str(locality_name)]
    if not len(poly):
        from locmap.errors import UnknownAreaError  # noqa: PLC0415

        raise UnknownAreaError(f"locality '{locality_name}' is not in the scheme "
                               f"(known: {', '.join(sorted(locs['locality'].astype(str)))})")
    geom = poly.union_all()
    fig = new_figure(paper, dpi)
    ax = fig.add_axes([0.01, 0.06, 0.55, 0.86])
    lsoa = _metric(area.lsoa)
    classes, bins, scheme_label = classify(lsoa["pop_0_4"], k=5)
    colours = plt.get_cmap("YlOrRd")(np.linspace(0.15, 0.95, max(len(bins), 1)))
    lsoa.plot(ax=ax, color=[colours[c] if c >= 0 else "white" for c in classes], edgecolor="#cccccc",
              linewidth=0.2, alpha=0.75, zorder=2)
    _outline(ax, area, towns=False)
    locs.boundary.plot(ax=ax, color="#555555", linewidth=0.6, zorder=7)
    poly.boundary.plot(ax=ax, color="#0b3d91", linewidth=2.4, zorder=9)
    handles = [Patch(facecolor=colours[i], label=f"{(float(np.nanmin(lsoa['pop_0_4'])) if i == 0 else bins[i - 1]):,.0f} – {b:,.0f}")
               for i, b in enumerate(bins)]
    if access is not None and f"minutes__{service_type}" in access.columns:
        pts = _metric(access)
        far = pts[(pd.to_numeric(pts[f"minutes__{service_type}"], errors="coerce") >= 15)
                  & pts.geometry.within(geom.buffer(2000))]
        if len(far):
            ax.scatter(far.geometry.x, far.geometry.y, s=3, c="#d73027", linewidths=0, zorder=8)
        if method is None:
            vals = access["method"].dropna().unique().tolist() if "method" in access.columns else []
            method = "street" if vals == ["street"] else "estimated"
        handles.append(Line2D([], [], marker="o", ls="", markersize=3, color="#d73027",
                              label=f"homes 15+ min from\n{service_type.replace('_', ' ')}\n"
                                    + textwrap.fill(f"({method_label(method)})", 24)))
    svc = area.services
    located = _metric(svc[svc["located"].fillna(False).astype(bool) & svc.geometry.notna()])
    near = located[located.geometry.within(geom.buffer(1500))]
    types = list(dict.fromkeys(svc["service_type"].dropna()))
    handles += _plot_service_points(ax, near, types, markersize=16, legend_markersize=5, include_empty=False)
    minx, miny, maxx, maxy = geom.buffer(800).bounds
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.565, 0.92), fontsize=7, frameon=False,
               title=f"children 0-4 per LSOA\n({scheme_label})", title_fontsize=7.5, alignment="left")
    tab_ax = fig.add_axes([0.745, 0.08, 0.25, 0.84])
    tab_ax.axis("off")
    rows = _key_figures(scorecard_row)
    table = tab_ax.table(cellText=[[k, v] for k, v in rows], colLabels=["Key figure", "Value"],
                         loc="upper center", cellLoc="left", colWidths=[0.8, 0.2])
    table.auto_set_font_size(False)
    table.set_fontsize(6.5)
    table.scale(1, 1.25)
    _finish(fig, ax, f"Locality profile: {locality_name}",
            f"{getattr(area, 'name', '').title()} - candidate locality outlined in blue; services within 1.5 km shown")
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(locality_name)) or "locality"
    return save(fig, Path(out_dir) / safe, formats)
