"""What the notebooks show: presentation tables, Key findings, caveats and maps, from results.

Everything here turns library results into something an analyst reads; nothing is computed
that a result does not already hold, except the comparators read from the shared London-wide
files (:func:`london_comparators`).

- :func:`table` -- the one helper for every table shown: plain-language column labels with
  units, integer people with thousands separators, percentages with one decimal, sorted, no
  index, no internal rows (``__total__`` becomes "All of <area>", last), areas in km², an
  explicit "none" message for empty results; a long table shows its first rows and writes
  the full table to ``<out_dir>/tables/<name>.csv`` with a link.
- :class:`Findings` -- the "Key findings" of a notebook: plain sentences with numbers,
  built by ``*_findings`` functions from the results of that run.
- :func:`caveats` -- the caveats that apply to this area, built from the area pack and the
  loaded data (e.g. the children's-centre caveat only when the area has children's centres).
- :func:`map_view` -- a folium map from :func:`locmap.maps.web.build_map`, self-contained
  (Leaflet inlined), shown in a sandboxed iframe with town/PCN labels.

Text from data is escaped everywhere it reaches HTML (tables, findings, captions); a map's
text goes through :mod:`locmap.maps.web`, which escapes it.
"""
from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import folium
import numpy as np
import pandas as pd
from branca.element import MacroElement
from jinja2 import Template
from PIL import Image

from locmap.bands import BAND_LABELS
from locmap.export import write_csv
from locmap.maps import web
from locmap.maps.offline import make_self_contained

#: Id of the whole-area row in coverage and gap tables (``locmap.access.nearest.TOTAL_ID``).
TOTAL_ID = "__total__"
#: Rows shown before a table is summarised (the full table is written to CSV and linked).
MAX_ROWS = 15
#: Service type "nearest of the key types" (``locmap.access.nearest.ANY_KEY``).
ANY_KEY = "any_key_service"
CHILDRENS_CENTRE = "childrens_centre"

# ----------------------------------------------------------------------------- columns
#: Display kinds: how a value is formatted.
KINDS = ("text", "people", "count", "pct", "share", "pts", "minutes", "metres", "km2", "m2",
         "score", "per1000", "rank", "yesno", "kb")

_BAND_TITLE = {"pop_total": "Residents", "pop_0_4": "Children 0-4", "pop_5_11": "Children 5-11",
               "pop_12_19": "Young people 12-19", "pop_0_19": "Children and young people 0-19"}


@dataclass(frozen=True)
class Column:
    """How one column is shown: a plain-language label with its unit, and a display kind."""

    label: str
    kind: str = "text"


def _band_columns() -> dict[str, Column]:
    cols: dict[str, Column] = {}
    for band, title in _BAND_TITLE.items():
        cols[band] = Column(f"{title} (people)", "people")
        cols[f"gap_{band}"] = Column(f"{title} beyond the threshold (people)", "people")
        cols[f"pct_beyond_{band}"] = Column(f"{title} beyond the threshold (%)", "pct")
        cols[f"unreachable_{band}"] = Column(f"{title} with no reachable service (people)", "people")
    return cols


#: Known columns of the library's tables.  Columns not listed here are labelled from their name.
COLUMNS: dict[str, Column] = {
    **_band_columns(),
    "town": Column("Town"), "ward": Column("Ward"), "pcn": Column("PCN footprint (approximate)"),
    "pcn_name": Column("PCN footprint (approximate)"), "locality": Column("Locality"),
    "scheme": Column("Scheme"), "area_id": Column("Area"), "area_a": Column("Area"),
    "area_b": Column("Overlapping area"), "service_type": Column("Service"), "band": Column("Age group"),
    "name": Column("Name"), "lad_nm": Column("Borough"), "reason": Column("Reason"),
    "file": Column("File"), "source": Column("Source"), "vintage": Column("Date of the data"),
    "layer": Column("Layer"), "count": Column("Number", "count"), "note": Column("What it is"),
    "threshold_minutes": Column("Threshold (minutes)", "minutes"),
    "pct_0_19": Column("Aged 0-19 (% of residents)", "pct"),
    "people": Column("Children 0-19 (people)", "people"),
    "share_of_a": Column("Share of the area's children (%)", "share"),
    "share_of_b": Column("Share of the overlapping area's children (%)", "share"),
    # alignment of two divisions
    "scheme_a": Column("Division"), "scheme_b": Column("Compared with"),
    "n_a": Column("Areas", "count"), "n_b": Column("Areas compared with", "count"),
    "alignment_index": Column("Alignment index (0-1, 1 = identical)", "score"),
    "ari": Column("Adjusted Rand index (1 = identical)", "score"),
    "nmi": Column("Normalised mutual information (1 = identical)", "score"),
    # need and the register
    "n_lsoa": Column("Small areas (LSOA)", "count"),
    "pct_of_children_0_19": Column("Share of the area's children 0-19 (%)", "pct"),
    "in_area": Column("In the area", "count"), "neighbours": Column("Across the border (within the buffer)", "count"),
    "unlocated": Column("Without a location", "count"), "rows": Column("Rows", "count"),
    "source_key": Column("Source"), "read": Column("Rows read", "count"), "used": Column("Rows used", "count"),
    "rejected": Column("Rows rejected", "count"), "accounted": Column("Read = used + rejected", "yesno"),
    "services": Column("Services", "count"), "postcode": Column("Postcode"), "address": Column("Address"),
    "location_quality": Column("Location"),
    # distances and coverage
    "n_homes": Column("Homes (residential postcodes)", "count"),
    "n_unreachable": Column("Homes with no reachable service", "count"),
    "median_minutes": Column("Median pram time (minutes)", "minutes"),
    "p90_minutes": Column("9 in 10 homes within (minutes)", "minutes"),
    "pct_within": Column("Within the threshold (%)", "pct"),
    "pct_within_straight": Column("Within by straight line (%)", "pct"),
    "difference_pts": Column("Straight line overstates by (percentage points)", "pts"),
    "people_nearest_across_border": Column("People whose nearest is across the border", "people"),
    "pct_nearest_across_border": Column("Whose nearest is across the border (%)", "pct"),
    "homes_nearest": Column("Homes for which it is the nearest", "count"),
    "n_cells": Column("Hexagons", "count"), "area_m2": Column("Area (km²)", "m2"),
    "n_lsoa11": Column("Small areas compared (LSOA 2011)", "count"),
    "circuity": Column("Circuity (road ÷ straight line)", "score"),
    "intercept_m": Column("Intercept (metres)", "metres"), "mae_m": Column("Mean absolute error (metres)", "metres"),
    "rmse_m": Column("Root mean square error (metres)", "metres"),
    "r2": Column("R² (share of variation explained)", "score"),
    "mean_road_m": Column("Mean road distance (metres)", "metres"),
    "mean_straight_m": Column("Mean straight line (metres)", "metres"),
    # localities
    "k": Column("Localities", "count"), "k_achieved": Column("Localities made", "count"),
    "feasible": Column("Feasible", "yesno"), "status": Column("Status"),
    "bounds_min": Column("Smallest allowed (children 0-19)", "people"),
    "bounds_max": Column("Largest allowed (children 0-19)", "people"),
    "max_dev_pct": Column("Largest deviation from an equal share (%)", "pct"),
    "contiguous": Column("Contiguous", "yesno"),
    "first_base_weights": Column("First at the chosen weights"),
    "most_often_first": Column("First most often"),
    "p_first": Column("First in (% of draws)", "share"),
    "rank_base": Column("Rank at the chosen weights", "rank"), "rank": Column("Rank", "rank"),
    "rank_min": Column("Best rank", "rank"), "rank_max": Column("Worst rank", "rank"),
    "rank_median": Column("Median rank", "rank"),
    "score": Column("Score (0-1)", "score"), "score_mean": Column("Mean score over draws (0-1)", "score"),
    "n_draws": Column("Draws", "count"),
    "crit_need": Column("Need (0-1)", "score"), "crit_gaps": Column("Gaps (0-1)", "score"),
    "crit_readiness": Column("Readiness (0-1)", "score"), "crit_alignment": Column("Alignment (0-1)", "score"),
    "crit_size": Column("Size (0-1)", "score"),
    "hard_edge_risk_pct_of_leader": Column("Hard-edge risk of the most-often-first (%)", "pct"),
    "hard_edge_risk_pct": Column("Hard-edge risk (% of children)", "pct"),
    "pct_children_nearest_key_other_locality": Column("Nearest key service in another locality (%)", "pct"),
    "pct_children_nearest_key_outside_borough": Column("Nearest key service across the area border (%)", "pct"),
    "pct_children_nearest_cc_across_edge": Column("Nearest children's centre across an edge (%)", "pct"),
    "pct_children_idaci_most_deprived_20": Column("Children in the 20% most deprived areas, IDACI (%)", "pct"),
    "imd_score_popw": Column("IMD score (population-weighted; higher = more deprived)", "score"),
    "gap_children": Column("Children 0-19 beyond the gap threshold (people)", "people"),
    "pct_gap_children": Column("Children 0-19 beyond the gap threshold (%)", "pct"),
    "n_childrens_centre": Column("Children's centres", "count"),
    "n_gp_practice": Column("GP practices", "count"),
    "childrens_centre_per_1000": Column("Children's centres per 1,000 children", "per1000"),
    "gp_practice_per_1000": Column("GP practices per 1,000 children", "per1000"),
    "align_town_best": Column("Main town"), "align_town_share": Column("Children in the main town (%)", "share"),
    "align_pcn_best": Column("Main PCN footprint"),
    "align_pcn_share": Column("Children in the main PCN footprint (%)", "share"),
    "size_vs_guide": Column("Size against the 30-50k guide"),
    "towns": Column("Towns it covers (share of its children)"),
    # hub sites
    "model": Column("Method"), "p": Column("Sites", "count"), "order": Column("Order", "rank"),
    "sites_named": Column("Suggested sites"), "site": Column("Site"),
    "children_covered": Column("Children 0-4 within the threshold (people)", "people"),
    "pct_children_covered": Column("Children 0-4 within the threshold (%)", "pct"),
    "children_served": Column("Children 0-4 served (people)", "people"),
    "gain_children": Column("Added by this site (children 0-4)", "people"),
    "gain_pct_points": Column("Added (percentage points)", "pts"),
    "mean_minutes": Column("Mean pram time to the nearest site (minutes)", "minutes"),
    "max_minutes": Column("Threshold (minutes)", "minutes"),
    # comparators
    "measure": Column("Measure"), "area_value": Column("This area"), "london_value": Column("London"),
    "unit": Column("Unit"),
    # checks
    "label": Column("Check"), "whole_km2": Column("Area of the whole (km²)", "km2"),
    "parts_km2": Column("Sum of the parts (km²)", "km2"), "symdiff_km2": Column("Mismatch (km²)", "km2"),
    "idaci_decile (1 = most deprived)": Column("IDACI decile (1 = most deprived)", "rank"),
    "imd_decile (1 = most deprived)": Column("IMD decile (1 = most deprived)", "rank"),
    "size_bytes": Column("Size (kB)", "count"),
    # workshop files
    "kind": Column("What"), "path": Column("File"), "size_kb": Column("Size (kB)", "kb"),
}

#: Value labels for coded columns (``service_type`` values come from the area pack).
VALUE_LABELS: dict[str, dict[str, str]] = {
    "band": dict(_BAND_TITLE),
    "model": {"mclp": "Most children within reach (maximal coverage)",
              "pmedian": "Shortest average trip (p-median)"},
}


def _fmt(value: Any, kind: str) -> str:
    """One value as text (NaN -> an en dash)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return "–"
    if kind == "text":
        return str(value)
    if kind == "yesno":
        return "yes" if bool(value) else "NO"
    v = float(value)
    if kind in ("people", "count", "metres", "rank"):
        return f"{v:,.0f}" if kind != "rank" or float(v).is_integer() else f"{v:,.1f}"
    if kind == "pct":
        return f"{v:.1f}%"
    if kind == "share":
        return f"{100.0 * v:.1f}%"
    if kind == "pts":
        return f"{v:+.1f}"
    if kind == "minutes":
        return f"{v:.1f}" if not v.is_integer() else f"{v:.0f}"
    if kind == "m2":
        return f"{v / 1e6:,.2f}"
    if kind == "km2":
        return f"{v:,.2f}"
    if kind in ("score", "per1000"):
        return f"{v:.2f}"
    if kind == "kb":
        return f"{v:,.1f}"
    raise ValueError(f"unknown display kind {kind!r} (one of {', '.join(KINDS)})")


def _column(name: str, series: pd.Series, service_labels: Mapping[str, str]) -> Column:
    if name in COLUMNS:
        return COLUMNS[name]
    if name in service_labels:
        return Column(service_labels[name], "count" if pd.api.types.is_integer_dtype(series) else "per1000")
    if name.startswith("within_") and name.endswith("_min"):
        return Column(f"Within {name[7:-4]} minutes (%)", "pct")
    band, _, stype = name.partition("__")
    if stype and band in COLUMNS:
        return Column(f"{COLUMNS[band].label.replace(' (people)', '')}: nearest "
                      f"{_lower(service_labels.get(stype, stype).split(' (')[0])} (people)", "people")
    kind = ("count" if pd.api.types.is_integer_dtype(series) else
            "score" if pd.api.types.is_float_dtype(series) else "text")
    return Column(str(name).replace("_", " ").capitalize(), kind)


def _lower(label: str) -> str:
    """A label inside a sentence: first letter lower-cased unless it starts an acronym ("GP")."""
    first = label.split(" ", 1)[0]
    return label if first.isupper() else label[:1].lower() + label[1:]


def service_labels(area: Any) -> dict[str, str]:
    """Service-type code -> plain label from the area pack (+ "Any key service")."""
    labels = dict(getattr(getattr(area, "pack", None), "service_types", {}) or {})
    labels.setdefault(CHILDRENS_CENTRE, "Children's centre / family hub")
    labels[ANY_KEY] = "Any key service (the nearest of the key types)"
    return labels


# ----------------------------------------------------------------------------- tables
@dataclass(frozen=True)
class Table:
    """A table ready to show: formatted text cells, plain labels, no index.

    ``frame`` holds the shown rows as text; ``n_rows`` counts every row; ``csv_path`` is the
    full table (labelled, numbers unformatted) when it was written; ``notes`` are shown under it.
    """

    title: str
    frame: pd.DataFrame
    n_rows: int
    csv_path: Path | None = None
    link: str | None = None
    notes: tuple[str, ...] = ()
    empty_message: str = ""
    numeric: tuple[str, ...] = ()

    def text(self) -> str:
        """Plain-text rendering (also the ``text/plain`` output)."""
        head = f"{self.title}\n" if self.title else ""
        if self.n_rows == 0:
            return head + self.empty_message
        body = self.frame.to_string(index=False)
        more = (f"\n... {self.n_rows - len(self.frame)} more rows: {self.link}"
                if len(self.frame) < self.n_rows else "")
        return head + body + more + "".join(f"\n{n}" for n in self.notes)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        parts = []
        if self.title:
            parts.append(f"<p style='font-weight:bold;margin:4px 0'>{html.escape(self.title)}</p>")
        if self.n_rows == 0:
            parts.append(f"<p class='locmap-none' style='font-style:italic'>{html.escape(self.empty_message)}</p>")
        else:
            parts.append(_html_table(self.frame, set(self.numeric)))
            if len(self.frame) < self.n_rows:
                link = (f"<a href='{html.escape(self.link or '', quote=True)}' target='_blank'>"
                        f"{html.escape(self.link or '')}</a>")
                parts.append(f"<p style='font-size:90%'>Showing {len(self.frame)} of {self.n_rows:,} rows. "
                             f"Full table: {link}</p>")
        parts += [f"<p style='font-size:90%;color:#444'><i>{html.escape(n)}</i></p>" for n in self.notes]
        return "<div class='locmap-table'>" + "".join(parts) + "</div>"


def _html_table(frame: pd.DataFrame, numeric: set[str]) -> str:
    head = "".join(f"<th style='text-align:{'right' if c in numeric else 'left'}'>{html.escape(str(c))}</th>"
                   for c in frame.columns)
    rows = []
    for rec in frame.itertuples(index=False):
        cells = "".join(f"<td style='text-align:{'right' if c in numeric else 'left'}'>{html.escape(str(v))}</td>"
                        for c, v in zip(frame.columns, rec))
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def link_to(path: Path) -> str:
    """``path`` relative to the working directory (the notebook's folder), with ``/``."""
    try:
        rel = os.path.relpath(Path(path).resolve(), Path.cwd().resolve())
    except ValueError:  # another drive (Windows)
        rel = str(Path(path).resolve())
    return rel.replace(os.sep, "/")


def _prepare(df: pd.DataFrame, columns: Sequence[str] | None, area_title: str,
             value_labels: Mapping[str, Mapping[str, str]]) -> pd.DataFrame:
    """Select columns, relabel coded values, move whole-area rows (``__total__``) last."""
    df = pd.DataFrame(df).drop(columns="geometry", errors="ignore").reset_index(drop=True)
    if columns is not None:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise KeyError(f"table has no column(s) {missing}; it has {list(df.columns)}")
        df = df[list(columns)]
    is_total = np.zeros(len(df), dtype=bool)
    for c in df.columns:
        if df[c].dtype == object or pd.api.types.is_string_dtype(df[c]):
            hit = df[c].astype(str).eq(TOTAL_ID).to_numpy()
            is_total |= hit
            df.loc[hit, c] = f"All of {area_title}"
        if c in value_labels:
            df[c] = df[c].map(lambda v, m=value_labels[c]: m.get(v, v) if isinstance(v, str) else v)
    df["_total"] = is_total
    return df


def table(df: pd.DataFrame | None, name: str, *, area: Any = None, out_dir: str | Path | None = None,
          columns: Sequence[str] | None = None, sort_by: str | Sequence[str] | None = None,
          ascending: bool | Sequence[bool] = False, max_rows: int = MAX_ROWS, title: str = "",
          empty: str = "None.", notes: Sequence[str] = (), labels: Mapping[str, str] | None = None) -> Table:
    """The one presentation helper: a library table as an analyst reads it.

    Parameters
    ----------
    df : DataFrame or None
        A library table (plain or Geo; geometry is dropped).  ``None`` or no rows -> ``empty``.
    name : str
        File stem of the full table (``<out_dir>/tables/<name>.csv``).
    area : AreaData, optional
        Gives service-type labels and the name of the whole-area row; children's-centre
        figures get the area's children's-centre caveat (:func:`childrens_centre_note`).
    out_dir : path, optional
        Where the full table is written when it has more than ``max_rows`` rows.
    columns : sequence of str, optional
        Columns to show, in order (default: all, as the library returned them).
    sort_by : str or list, optional
        Column(s) to sort by (whole-area rows stay last).
    labels : mapping, optional
        Column label overrides (column -> label).

    Returns
    -------
    Table
        Shows as HTML in a notebook (no index; numbers right-aligned) and as text elsewhere.
    """
    if df is None or len(df) == 0:
        return Table(title=title, frame=pd.DataFrame(), n_rows=0, empty_message=empty, notes=tuple(notes))
    slabels = service_labels(area)
    vlabels = {**VALUE_LABELS, "service_type": slabels}
    prepared = _prepare(df, columns, _area_title(area), vlabels)
    if sort_by is not None:
        keys = [sort_by] if isinstance(sort_by, str) else list(sort_by)
        asc = [ascending] * len(keys) if isinstance(ascending, bool) else list(ascending)
        prepared = prepared.sort_values(["_total", *keys], ascending=[True, *asc], kind="stable")
    else:
        prepared = prepared.sort_values("_total", kind="stable")
    has_total = bool(prepared["_total"].any())
    prepared = prepared.drop(columns="_total").reset_index(drop=True)
    cols = {c: _column(c, prepared[c], slabels) for c in prepared.columns}
    cols = {c: Column((labels or {}).get(c, col.label), col.kind) for c, col in cols.items()}
    shown = prepared if len(prepared) <= max_rows else prepared.head(max_rows - (1 if has_total else 0))
    if has_total and len(prepared) > max_rows:
        shown = pd.concat([shown, prepared.tail(1)])
    text = pd.DataFrame({cols[c].label: [_fmt(v, cols[c].kind) for v in shown[c]] for c in shown.columns})
    numeric = tuple(cols[c].label for c in shown.columns if cols[c].kind != "text")
    csv_path = link = None
    if len(prepared) > max_rows and out_dir is not None:
        full = prepared.copy()
        for c, col in cols.items():
            if col.kind == "m2":
                full[c] = full[c].astype(float) / 1e6
        csv_path = write_csv(full.rename(columns={c: col.label for c, col in cols.items()}),
                             Path(out_dir) / "tables" / f"{name}.csv")
        link = link_to(csv_path)
    if area is not None and _shows_childrens_centres(prepared, df):
        notes = (*notes, childrens_centre_note(area))
    return Table(title=title, frame=text, n_rows=len(prepared), csv_path=csv_path, link=link,
                 notes=tuple(n for n in notes if n), empty_message=empty, numeric=numeric)


def _shows_childrens_centres(prepared: pd.DataFrame, raw: pd.DataFrame) -> bool:
    if any("childrens_centre" in str(c) or "_cc_" in str(c) for c in raw.columns):
        return True
    return "service_type" in raw.columns and raw["service_type"].astype(str).eq(CHILDRENS_CENTRE).any()


def _area_title(area: Any) -> str:
    pack = getattr(area, "pack", None)
    return getattr(pack, "lad_nm", None) or getattr(pack, "title", None) or "the area"


# ----------------------------------------------------------------------------- notes, caveats
@dataclass(frozen=True)
class Notes:
    """Titled bullet points (caveats, data notes) shown as HTML in a notebook."""

    title: str
    points: tuple[str, ...]
    kind: str = "notes"

    def text(self) -> str:
        return f"{self.title}\n" + "\n".join(f"- {p}" for p in self.points)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{html.escape(p)}</li>" for p in self.points)
        return (f"<div class='locmap-{html.escape(self.kind)}'><p style='font-weight:bold;margin:4px 0'>"
                f"{html.escape(self.title)}</p><ul>{items}</ul></div>")


def _cc_sources(area: Any) -> list[dict]:
    srcs = getattr(getattr(area, "pack", None), "services", {}) or {}
    return [s for s in srcs.get("sources", []) if s.get("service_type") == CHILDRENS_CENTRE]


def childrens_centre_note(area: Any) -> str:
    """The children's-centre caveat of this area, from its register (empty if it has none).

    Counts the children's centres / family hubs in the loaded register (located, without a
    location, by name), the rows of the children's-centre files rejected as closed, and quotes
    the source's own description.
    """
    svc = area.services
    cc = svc[svc["service_type"] == CHILDRENS_CENTRE]
    if not len(cc):
        return ""
    located = cc["located"].fillna(False).astype(bool)
    inside = cc["in_study_area"].fillna(False).astype(bool)
    files = {s["path"] for s in _cc_sources(area)}
    rej = pd.DataFrame(area.rejects)
    closed = int(((rej["file"].isin(files)) & (rej["reason"] == "closed")).sum()) if len(rej) else 0
    sources = sorted(set(cc["source"].dropna().astype(str)))
    unloc = ", ".join(cc.loc[~located, "name"].astype(str))
    text = (f"Children's centres: the register holds {len(cc)} children's centre / family hub site(s) "
            f"({int((located & inside).sum())} located in the area"
            + (f", {int((~located).sum())} without a location: {unloc}" if (~located).any() else "") + ")"
            + (f"; {closed} listed site(s) were left out as closed" if closed else "")
            + f". Source: {'; '.join(sources)}.")
    if any("INCOMPLETE" in s.upper() for s in sources) or closed or (~located).any():
        text += (" The list is incomplete, so distances to children's centres overstate the gaps: "
                 "supply the council's own list with --services (docs/services.md).")
    return text


def _vintage_note(area: Any) -> str:
    pack = area.pack
    parts = ["population: Census 2021 (LSOA estimates built from MSOA single-year ages)"]
    for key in ("iod2025", "iod2019", "cilif_ward"):
        if pack.has_table(key) and pack.tables[key].options.get("vintage"):
            parts.append(str(pack.tables[key].options["vintage"]))
    src = area.services.groupby(["source", "vintage"], dropna=False).size()
    regs = ", ".join(f"{s} ({v if isinstance(v, str) else 'no date'})" for (s, v), _n in src.items())
    return "Data vintages: " + "; ".join(parts) + f". Service registers: {regs}."


def _pcn_note(area: Any) -> str:
    method = str(area.pcns["footprint_method"].iloc[0]) if "footprint_method" in area.pcns and len(area.pcns) else ""
    return (f"PCN footprints are approximate: Primary Care Networks have no official boundary; "
            f"{len(area.pcns)} footprints built as '{method}'. Real patient lists overlap.")


def _distance_note(area: Any, access: Any = None) -> str:
    method = access["method"] if access is not None else (
        "street" if (area.settings.network_file or getattr(area.pack, "network", None)) else "estimated")
    label = web.method_label(method)
    if method == "street":
        return f"Distances are along the street network ({label}), pram profile."
    note = (f"Distances are {label}: the straight line times a circuity factor fitted to the IoD2019 "
            f"road distances to GP practices and primary schools; no street network is configured.")
    cal = access["calibration"] if access is not None and "calibration" in access else None
    if cal is not None and len(cal) and "mae_m" in cal:
        row = cal.iloc[0]
        note += (f" Fit: road = {row['intercept_m']:.0f} m + {row['circuity']:.2f} x straight line, "
                 f"mean absolute error {row['mae_m']:.0f} m, R² {row['r2']:.2f}.")
    return note


def _geography_notes(area: Any) -> list[str]:
    pack, notes = area.pack, []
    if not pack.has_table("ward_town"):
        notes.append(f"Towns: this area pack has no ward-to-town table, so all {len(area.wards)} wards form "
                     f"one 'town' ({', '.join(area.towns['town'].astype(str))}). A council table of its "
                     f"localities would make town figures meaningful.")
    else:
        uncertain = [n for n in area.notes if n.startswith("town assignment uncertain")]
        notes += [f"Towns are groups of wards; {u[0].lower()}{u[1:]}." for u in uncertain]
    if pack.has_layer("lsoa21") and pack.layers["lsoa21"].options.get("missing_polygons"):
        merged = [n for n in area.notes if "without polygon" in n]
        notes.append("Small areas: LSOA 2021 polygons are missing for part of the area; "
                     + (merged[0] if merged else "split LSOAs share their 2011 parent's polygon") + ".")
    return notes


def _border_note(area: Any) -> str:
    svc = area.services
    out = svc[~svc["in_study_area"].fillna(False).astype(bool)]
    names = sorted(set(out["lad_nm"].dropna().astype(str)))
    if not names:
        return "No services across the border are in the data: gaps near the border may not be real."
    return (f"Services across the border come only from {', '.join(names)} (within "
            f"{area.settings.buffer_m / 1000:g} km); near a border with any other borough the gaps may "
            f"not be real.")


#: Caveat topics :func:`caveats` knows.
CAVEAT_TOPICS = ("vintages", "pcn", "childrens_centres", "distances", "geography", "border")


def caveats(area: Any, topics: Sequence[str] = CAVEAT_TOPICS, access: Any = None) -> Notes:
    """The caveats that apply to this area's figures, from the area pack and the loaded data.

    Parameters
    ----------
    area : AreaData
        The loaded area (its pack, register, rejects and loading notes).
    topics : sequence of str
        Any of :data:`CAVEAT_TOPICS`; a topic that does not apply to the area (e.g.
        children's centres where the area has none) adds nothing.
    access : AccessAnalysis or dict, optional
        Gives the distance method and calibration actually used.
    """
    unknown = [t for t in topics if t not in CAVEAT_TOPICS]
    if unknown:
        raise ValueError(f"unknown caveat topic(s) {unknown} (one of {', '.join(CAVEAT_TOPICS)})")
    makers = {"vintages": lambda: [_vintage_note(area)], "pcn": lambda: [_pcn_note(area)],
              "childrens_centres": lambda: [childrens_centre_note(area)],
              "distances": lambda: [_distance_note(area, access)], "geography": lambda: _geography_notes(area),
              "border": lambda: [_border_note(area)]}
    points = [p for t in topics for p in makers[t]() if p]
    if "childrens_centres" in topics and not childrens_centre_note(area):
        types = ", ".join(service_labels(area).get(t, t) for t in area.pack.key_service_types)
        points.append(f"This area's data has no children's-centre list: key services here are {types}.")
    return Notes(f"Caveats for {area.pack.title}", tuple(points), kind="caveats")


# ----------------------------------------------------------------------------- comparators
#: The shared London-wide files the comparators come from (relative to the data root).
LONDON_FILES: dict[str, str] = {
    "census": "population/census2021_ts007_age_ltla_london.csv",
    "low_income": "population/children_low_income_ahc_la_london.csv",
    "iod": "population/iod2025_lsoa21_london.csv",
    "gp_practice": "services/gp_practices_london.csv",
    "pharmacy": "services/pharmacies_london.csv",
    "library": "services/libraries_london.csv",
}
_CENSUS_0_19 = ("Aged 4 years and under", "Aged 5 to 9 years", "Aged 10 to 15 years", "Aged 16 to 19 years")


@lru_cache(maxsize=4)
def _london_by_borough(data_root: str) -> pd.DataFrame:
    """Per-borough numerators and denominators from the London-wide files (one row per LAD)."""
    root = Path(data_root)
    census = pd.read_csv(root / LONDON_FILES["census"]).set_index("geography code")
    b = pd.DataFrame({"residents": census["Total"].astype(float),
                      "children_0_4": census[_CENSUS_0_19[0]].astype(float),
                      "children_0_19": census[list(_CENSUS_0_19)].astype(float).sum(axis=1)})
    low = pd.read_csv(root / LONDON_FILES["low_income"]).set_index("lad_code")
    b["low_income_n"] = low["n_children_ahc_fye2025"].astype(float)
    b["low_income_base"] = low["n_children_ahc_fye2025"] / (low["pct_children_ahc_fye2025"] / 100.0)
    iod = pd.read_csv(root / LONDON_FILES["iod"], usecols=["lad24cd", "idaci_decile"])
    b["lsoa_n"] = iod.groupby("lad24cd").size()
    b["lsoa_idaci_1_2"] = iod[iod["idaci_decile"] <= 2].groupby("lad24cd").size()
    gp = pd.read_csv(root / LONDON_FILES["gp_practice"], usecols=["lad_code", "status_code",
                                                                 "is_care_home_or_special_service"])
    gp = gp[(gp["status_code"] == "A") & ~gp["is_care_home_or_special_service"].astype(str).eq("True")]
    ph = pd.read_csv(root / LONDON_FILES["pharmacy"], usecols=["lad_code", "status_code", "org_subtype_code"])
    ph = ph[(ph["status_code"] == "A") & (ph["org_subtype_code"].astype(str) != "2")]
    lib = pd.read_csv(root / LONDON_FILES["library"], usecols=["lad_code", "Year closed", "Type of library"])
    lib = lib[lib["Year closed"].isna() | lib["Type of library"].isin(["CRL", "ICL"])]
    for key, df in (("gp_practice", gp), ("pharmacy", ph), ("library", lib)):
        b[f"n_{key}"] = df.groupby("lad_code").size()
    return b.fillna({"lsoa_idaci_1_2": 0, "n_gp_practice": 0, "n_pharmacy": 0, "n_library": 0})


#: measure -> (label, numerator, denominator, scale, unit)
_MEASURES: dict[str, tuple[str, str, str, float, str]] = {
    "children_0_19": ("Children and young people 0-19", "children_0_19", "residents", 100.0, "% of residents"),
    "children_0_4": ("Children 0-4", "children_0_4", "residents", 100.0, "% of residents"),
    "low_income": ("Children in low-income families (after housing costs, FYE2025, DWP)", "low_income_n",
                   "low_income_base", 100.0, "% of children 0-15"),
    "idaci_1_2": ("Small areas in the 20% most deprived for children (IDACI 2025)", "lsoa_idaci_1_2",
                  "lsoa_n", 100.0, "% of LSOAs"),
    "gp_practice_per_1000": ("GP practices", "n_gp_practice", "children_0_19", 1000.0, "per 1,000 children 0-19"),
    "pharmacy_per_1000": ("Community pharmacies", "n_pharmacy", "children_0_19", 1000.0, "per 1,000 children 0-19"),
    "library_per_1000": ("Public libraries", "n_library", "children_0_19", 1000.0, "per 1,000 children 0-19"),
}


def london_comparators(area: Any) -> pd.DataFrame:
    """The area against London as a whole, like for like from the shared London-wide files.

    Returns
    -------
    DataFrame
        ``key, measure, unit, area_value, london_value, rank, n_boroughs`` (``rank``: 1 = the
        highest of the London boroughs).  Empty when the area is not a London borough or the
        files are missing (the notebooks then say that no comparator exists).
    """
    try:
        b = _london_by_borough(str(area.settings.resolve_data_root()))
    except FileNotFoundError:
        return pd.DataFrame(columns=["key", "measure", "unit", "area_value", "london_value", "rank", "n_boroughs"])
    lad = area.pack.lad_cd
    rows = []
    for key, (label, num, den, scale, unit) in _MEASURES.items():
        per = scale * b[num] / b[den]
        if lad not in per.index or not np.isfinite(per.get(lad, np.nan)):
            continue
        rows.append({"key": key, "measure": label, "unit": unit, "area_value": float(per[lad]),
                     "london_value": float(scale * b[num].sum() / b[den].sum()),
                     "rank": int(per.rank(ascending=False, method="min")[lad]), "n_boroughs": int(per.notna().sum())})
    return pd.DataFrame(rows, columns=["key", "measure", "unit", "area_value", "london_value", "rank", "n_boroughs"])


def comparator_table(area: Any, out_dir: str | Path | None = None, keys: Sequence[str] | None = None) -> Table:
    """:func:`london_comparators` (only ``keys``, when given) as a presentation table."""
    comp = london_comparators(area)
    comp = (comp if keys is None else comp[comp["key"].isin(list(keys))]).copy()
    comp["london_rank"] = pd.Series(dtype=object)
    if len(comp):
        digits = comp["unit"].str.startswith("per").map({True: 2, False: 1})
        comp["area_value"] = [f"{v:.{d}f}" for v, d in zip(comp["area_value"], digits)]
        comp["london_value"] = [f"{v:.{d}f}" for v, d in zip(comp["london_value"], digits)]
        comp["london_rank"] = [f"{r} of {n}" for r, n in zip(comp["rank"], comp["n_boroughs"])]
    return table(comp, "comparators_london", area=area, out_dir=out_dir,
                 columns=["measure", "unit", "area_value", "london_value", "london_rank"],
                 labels={"area_value": _area_title(area), "london_rank": "Rank among London boroughs (1 = highest)"},
                 empty="No London comparator: this area is not in the shared London-wide files.",
                 notes=("Counted in the same way for every borough from the shared London-wide files "
                        "(active GP practices and community pharmacies; libraries without a closure year), "
                        "so the area's own figures elsewhere can differ slightly.",))


# ----------------------------------------------------------------------------- key findings
@dataclass(frozen=True)
class Findings:
    """The "Key findings" of one notebook run: plain sentences with the numbers of that run.

    ``facts`` holds the named values the sentences quote (e.g. ``top_gap_town``), also
    written into the output's metadata so a reader (or a test) can check them.
    """

    points: tuple[str, ...]
    facts: Mapping[str, Any] = field(default_factory=dict)
    title: str = "Key findings"

    def text(self) -> str:
        return f"{self.title}\n" + "\n".join(f"- {p}" for p in self.points)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> tuple[str, dict]:
        items = "".join(f"<li>{html.escape(p)}</li>" for p in self.points)
        body = (f"<div class='locmap-findings' style='border-left:4px solid #1a9850;padding:2px 12px;"
                f"background:#f3faf4'><h3 style='margin:6px 0'>{html.escape(self.title)}</h3><ul>{items}</ul></div>")
        return body, {"locmap": {"kind": "key_findings", "facts": _jsonable(self.facts)}}


def _jsonable(facts: Mapping[str, Any]) -> dict:
    out = {}
    for k, v in facts.items():
        if isinstance(v, (np.integer, np.floating)):
            v = v.item()
        out[k] = v if isinstance(v, (str, int, float, bool, type(None), list)) else str(v)
    return out


def _cc_short(area: Any) -> str:
    """Short children's-centre caveat for a sentence quoting a children's-centre figure."""
    note = childrens_centre_note(area)
    return " (children's-centre list incomplete: this overstates the gap)" if "incomplete" in note else ""


def overview_findings(area: Any, overview: Any) -> Findings:
    """Key findings of the area overview (notebook 01): people, children, where, alignment."""
    lsoa = area.lsoa
    total, kids, under5 = (float(lsoa[c].sum()) for c in ("pop_total", "pop_0_19", "pop_0_4"))
    comp = london_comparators(area).set_index("key")
    london = (f"; London {comp.loc['children_0_19', 'london_value']:.1f}%" if "children_0_19" in comp.index else "")
    towns = overview["population_by_town"].sort_values("pop_0_19", ascending=False)
    wards = overview["population_by_ward"].sort_values("pop_0_19", ascending=False)
    top, top_ward = towns.iloc[0], wards.iloc[0]
    pts = [f"{area.pack.title}: {total:,.0f} residents, {kids:,.0f} children and young people 0-19 "
           f"({100 * kids / total:.1f}% of residents{london}) and {under5:,.0f} children under five."]
    if len(towns) > 1:
        high = towns.sort_values("pct_0_19", ascending=False).iloc[0]
        pts.append(f"Most children live in {top['town']}: {top['pop_0_19']:,.0f} aged 0-19, "
                   f"{100 * top['pop_0_19'] / kids:.0f}% of the area's. The highest share of children is in "
                   f"{high['town']} ({high['pct_0_19']:.1f}% of its residents).")
    else:
        pts.append(f"All {len(area.wards)} wards form one town ({top['town']}): town figures are the whole area.")
    pts.append(f"The ward with most children is {top_ward['ward']}"
               + (f" ({top_ward['town']})" if len(towns) > 1 else "") + f": {top_ward['pop_0_19']:,.0f} aged 0-19.")
    pts += _alignment_sentences(overview)
    return Findings(tuple(pts), {"top_town": str(top["town"]), "top_ward": str(top_ward["ward"]),
                                 "children_0_19": round(kids)})


def _alignment_sentences(overview: Any) -> list[str]:
    align = overview["alignment"]
    row = align[(align["scheme_a"] == "towns") & (align["scheme_b"] == "pcns")]
    ct = overview["towns_vs_pcns"]
    if not len(row) or not len(ct):
        return []
    best = ct.sort_values("share_of_a", ascending=False).groupby("area_a").head(1)
    fit, split = best.iloc[0], best.sort_values("share_of_a").iloc[0]
    n_split = int((ct["area_a"] == split["area_a"]).sum())
    text = (f"Towns and PCN footprints line up with an alignment index of {row['alignment_index'].iloc[0]:.2f} "
            f"(1 = identical). ")
    if fit["area_a"] != split["area_a"]:
        text += (f"{fit['area_a']} fits best ({100 * fit['share_of_a']:.0f}% of its children in {fit['area_b']}); "
                 f"{split['area_a']} is the most split: its children are spread over {n_split} PCN footprints, "
                 f"at most {100 * split['share_of_a']:.0f}% in one.")
    else:
        text += (f"The children of {fit['area_a']} are spread over {n_split} PCN footprints, "
                 f"at most {100 * fit['share_of_a']:.0f}% in {fit['area_b']}.")
    return [text]


def need_findings(area: Any, need: Any) -> Findings:
    """Key findings of need and assets (notebook 02): deprivation, comparators, services, rejects."""
    lsoa = area.lsoa
    kids = float(lsoa["pop_0_19"].sum())
    deprived = lsoa[pd.to_numeric(lsoa["idaci_decile"], errors="coerce") <= 2]
    by_town = deprived.groupby("town")["pop_0_19"].sum().sort_values(ascending=False)
    comp = london_comparators(area).set_index("key")
    pts = [f"{deprived['pop_0_19'].sum():,.0f} children 0-19 ({100 * deprived['pop_0_19'].sum() / kids:.1f}%) live "
           f"in small areas among the 20% most deprived for children in England (IDACI deciles 1-2)"
           + (f", most of them in {by_town.index[0]} ({by_town.iloc[0]:,.0f})." if len(by_town) > 1 else ".")]
    for key in ("idaci_1_2", "low_income"):
        if key in comp.index:
            c = comp.loc[key]
            pts.append(f"{c['measure']}: {c['area_value']:.1f} {c['unit']} against {c['london_value']:.1f} across "
                       f"London (rank {c['rank']} of {c['n_boroughs']} boroughs, 1 = highest).")
    pts += _service_sentences(area, need, comp)
    rej = need["rejects_by_reason"]
    if len(rej):
        top = rej.sort_values("rows", ascending=False).iloc[0]
        pts.append(f"{int(rej['rows'].sum()):,} register rows were not used, most often '{top['reason']}' "
                   f"({int(top['rows']):,}); every one is listed with its reason below.")
    return Findings(tuple(pts), {"most_deprived_children_town": str(by_town.index[0]) if len(by_town) else ""})


def _service_sentences(area: Any, need: Any, comp: pd.DataFrame) -> list[str]:
    svc = area.services
    located = svc["located"].fillna(False).astype(bool)
    inside = svc["in_study_area"].fillna(False).astype(bool)
    unloc = svc.loc[~located, "name"].astype(str).tolist()
    pts = [f"The register holds {int((located & inside).sum()):,} located services in the area and "
           f"{int((located & ~inside).sum()):,} across the border within {area.settings.buffer_m / 1000:g} km"
           + (f"; {len(unloc)} without a location ({', '.join(unloc[:5])})." if unloc else ".")]
    per = need["services_per_1000_children"]
    labels = service_labels(area)
    if len(per) > 1:
        for st in [t for t in area.pack.key_service_types if t in per.columns]:
            low = per.sort_values(st).iloc[0]
            key = f"{st}_per_1000"
            london = (f", London {comp.loc[key, 'london_value']:.2f}" if key in comp.index else "")
            pts.append(f"Fewest {_lower(labels.get(st, st))} services per 1,000 children 0-19: {low['town']} "
                       f"({low[st]:.2f}{london})" + (_cc_short(area) if st == CHILDRENS_CENTRE else "") + ".")
    return pts


def _at(df: pd.DataFrame, **eq: Any) -> pd.DataFrame:
    mask = np.ones(len(df), dtype=bool)
    for k, v in eq.items():
        mask &= (df[k].astype(float) == float(v)).to_numpy() if isinstance(v, (int, float)) else (df[k] == v).to_numpy()
    return df[mask]


def access_findings(area: Any, acc: Any, gap_minutes: float) -> Findings:
    """Key findings of pram distance (notebook 03): coverage, the largest gaps and where."""
    s = area.settings
    band = acc["gap_band"] if "gap_band" in acc else "pop_0_4"
    who = _BAND_TITLE.get(band, band).lower()
    tot = _at(acc["coverage_total"], service_type=ANY_KEY, threshold_minutes=gap_minutes, band=band)
    if not len(tot):
        return Findings((f"No coverage figures at {gap_minutes:g} minutes: add {gap_minutes:g} to "
                         f"thresholds_minutes.",), {})
    t = tot.iloc[0]
    types = ", ".join(_lower(service_labels(area).get(k, k)) for k in area.pack.key_service_types)
    pts = [f"At {s.walk_speed_kmh:g} km/h ({s.metres_per_minute:.0f} m a minute, {acc['label']}), "
           f"{t['pct_within']:.1f}% of {who} live within {gap_minutes:g} minutes of a key service ({types}); "
           f"{t['pop_beyond']:,.0f} ({100 - t['pct_within']:.1f}%) do not."]
    facts: dict[str, Any] = {}
    for level, col in (("town", "gaps_by_town"), ("PCN footprint", "gaps_by_pcn")):
        g = _at(acc[col], service_type=ANY_KEY, threshold_minutes=gap_minutes)
        g = g[g["area_id"] != TOTAL_ID].sort_values(f"gap_{band}", ascending=False)
        if len(g) > 1:
            top = g.iloc[0]
            name = top.get("pcn_name", top["area_id"]) if level != "town" else top["area_id"]
            facts[f"top_gap_{'town' if level == 'town' else 'pcn'}"] = str(name)
            pts.append(f"Largest gap by {level}: {name}, {top[f'gap_{band}']:,.0f} {who} "
                       f"({top[f'pct_beyond_{band}']:.1f}% of its {who}) beyond {gap_minutes:g} minutes of any key service.")
    pts += _type_sentences(area, acc, gap_minutes, band, who)
    return Findings(tuple(pts), facts)


def _type_sentences(area: Any, acc: Any, gap_minutes: float, band: str, who: str) -> list[str]:
    labels, pts = service_labels(area), []
    cov = _at(acc["coverage_total"], threshold_minutes=gap_minutes, band=band)
    cov = cov[cov["service_type"].isin(area.pack.key_service_types)].sort_values("pct_within")
    if len(cov):
        worst = cov.iloc[0]
        med = acc["summary"].set_index("service_type")["median_minutes"].get(worst["service_type"], np.nan)
        pts.append(f"The hardest key service to reach is the nearest {_lower(labels.get(worst['service_type'], ''))}: "
                   f"{worst['pct_within']:.1f}% of {who} within {gap_minutes:g} minutes, median {med:.0f} minutes"
                   + (_cc_short(area) if worst["service_type"] == CHILDRENS_CENTRE else "") + ".")
    areas = acc["gap_areas"]
    if len(areas):
        big = areas.sort_values(f"gap_{band}", ascending=False).iloc[0]
        pts.append(f"The largest contiguous gap area (nearest {_lower(labels.get(big['service_type'], ''))}) holds "
                   f"{big[f'gap_{band}']:,.0f} {who} over {big['area_m2'] / 1e6:.1f} km²"
                   + (_cc_short(area) if big["service_type"] == CHILDRENS_CENTRE else "") + ".")
    cb = acc["cross_border"]
    cb = cb[(cb["service_type"] == ANY_KEY) & (cb["band"] == "pop_0_19")]
    if len(cb):
        pts.append(f"{cb['pct_nearest_across_border'].iloc[0]:.1f}% of children 0-19 have their nearest key "
                   f"service across the border: counting those services avoids inventing gaps at the border.")
    sv = _at(acc["straight_vs_street"], service_type=ANY_KEY, threshold_minutes=gap_minutes, band=band)
    if len(sv):
        pts.append(f"A straight-line buffer would overstate coverage at {gap_minutes:g} minutes by "
                   f"{sv['difference_pts'].iloc[0]:.1f} percentage points.")
    return pts


# ----------------------------------------------------------------------------- localities
def generated_status(loc: Any) -> pd.DataFrame:
    """Generated schemes with a plain-language status: feasible ones are ranked, the others not."""
    gen = pd.DataFrame(loc["generated"])
    if not len(gen):
        return gen
    gen = gen.copy()
    gen["status"] = [("ranked" if ok else f"not ranked: {st}") for ok, st in zip(gen["feasible"], gen["status"])]
    return gen


#: The scorecard columns shown in a notebook (each with its description in the data dictionary);
#: a column the area's scorecard lacks (no children's centres) is left out.
SCORECARD_MAIN = ("locality", "pop_total", "pop_0_19", "pct_children_idaci_most_deprived_20", "pct_gap_children",
                  "n_childrens_centre", "gp_practice_per_1000", "hard_edge_risk_pct", "align_pcn_best",
                  "align_pcn_share", "size_vs_guide")


def scorecard_main(scorecard: pd.DataFrame) -> pd.DataFrame:
    """The main columns of a scorecard (:data:`SCORECARD_MAIN`, those it has)."""
    return pd.DataFrame(scorecard)[[c for c in SCORECARD_MAIN if c in scorecard.columns]]


def ranked_schemes(loc: Any) -> list[str]:
    """Schemes whose ranking is shown: every scheme except infeasible generated ones."""
    gen = pd.DataFrame(loc["generated"])
    bad = set(gen.loc[~gen["feasible"].astype(bool), "scheme"]) if len(gen) else set()
    return [name for name in loc["rankings"] if name not in bad]


def leaders(loc: Any) -> pd.DataFrame:
    """The leaders of every *feasible* scheme (an infeasible generated scheme is never a leader)."""
    lead = pd.DataFrame(loc["leaders"])
    gen = pd.DataFrame(loc["generated"])
    if len(gen) and len(lead):
        bad = set(gen.loc[~gen["feasible"].astype(bool), "scheme"])
        lead = lead[~lead["scheme"].isin(bad)]
    return lead.reset_index(drop=True)


def generated_localities(loc: Any) -> pd.DataFrame:
    """What each generated locality is made of: towns and the share of its children in each.

    Generated localities are named ``L<n> <town>``: numbered west to east, after the town
    holding most of their children; ``+`` means they also take in parts of other towns.
    """
    rows = []
    for name, sch in loc["schemes"].items():
        ct = loc["crosstabs"].get(f"{name}_vs_towns")
        if not name.startswith("auto_") or ct is None:
            continue
        for locality, part in ct.groupby("area_a", sort=True):
            part = part.sort_values("share_of_a", ascending=False)
            towns = ", ".join(f"{t} {100 * s:.0f}%" for t, s in zip(part["area_b"], part["share_of_a"]) if s >= 0.005)
            rows.append({"scheme": name, "locality": locality, "pop_0_19": float(part["people"].sum()),
                         "towns": towns})
    return pd.DataFrame(rows, columns=["scheme", "locality", "pop_0_19", "towns"])


def hard_edge(loc: Any) -> pd.DataFrame:
    """Hard-edge risk of every locality of every scheme (lower = more self-contained)."""
    cols = ["scheme", "locality", "hard_edge_risk_pct", "pct_children_nearest_key_other_locality",
            "pct_children_nearest_key_outside_borough", "pct_children_nearest_cc_across_edge"]
    parts = [sc[[c for c in cols if c in sc.columns]] for sc in loc["scorecards"].values()]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)


def _named(df: pd.DataFrame, ids_col: str, names_col: str, sites: pd.DataFrame) -> list[str]:
    if names_col in df.columns:
        return [str(v).replace(";", ", ") for v in df[names_col]]
    name_of = dict(zip(sites["site_id"].astype(str), sites["name"].astype(str))) if "name" in sites else {}
    return [", ".join(name_of.get(i, i) for i in str(v).split(";") if i) for v in df[ids_col]]


def hub_summary(hubs: Sequence[Any]) -> pd.DataFrame:
    """Hub-site suggestions per locality and method, in minutes (not metres), sites by name."""
    rows = []
    for h in hubs:
        s, sites = pd.DataFrame(h["summary"]), pd.DataFrame(h["sites"])
        m_per_min = s["max_m"] / s["minutes"]
        rows.append(pd.DataFrame({
            "locality": h["locality"], "model": s["model"], "p": s["p"],
            "sites_named": _named(s, "selected", "selected_names", sites),
            "children_covered": s["children_covered"], "pct_children_covered": s["pct_children_covered"],
            "mean_minutes": s["mean_distance_m"] / m_per_min, "max_minutes": s["minutes"]}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def hub_gain(hubs: Sequence[Any]) -> pd.DataFrame:
    """What each added hub site brings (maximal coverage, p = 1, 2, ...), sites by name."""
    rows = []
    for h in hubs:
        g, sites = pd.DataFrame(h["gain"]), pd.DataFrame(h["sites"])
        if not len(g):
            continue
        m_per_min = float(pd.DataFrame(h["summary"])["max_m"].iloc[0] / pd.DataFrame(h["summary"])["minutes"].iloc[0])
        rows.append(pd.DataFrame({
            "locality": h["locality"], "p": g["p"], "site": _named(g, "added_sites", "added_names", sites),
            "gain_children": g["gain_children"], "children_covered": g["children_covered"],
            "pct_children_covered": g["pct_children_covered"], "mean_minutes": g["mean_distance_m"] / m_per_min}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def pathfinder_findings(area: Any, loc: Any, rec: Any, hubs: Sequence[Any] = ()) -> Findings:
    """Key findings of the pathfinder choice (notebooks 04, 05): the recommendation under the
    documented rule (``rec``: :class:`locmap.localities.ranking.Recommendation`), how stable it
    is, what the generated schemes and the hub sites add."""
    single = _single_locality(loc, rec)
    if single:
        return Findings((single,) + tuple(_generated_sentences(loc) + _hub_sentences(hubs)),
                        {"recommended": rec.locality, "runner_up": "", "stable": bool(rec.stable)})
    pts = [f"Recommended pathfinder ({rec.scheme}): {rec.locality}"
           + (f"; runner-up {rec.runner_up}." if rec.runner_up else ".")
           + f" It comes first in {100 * rec.p_first:.1f}% of {rec.n_draws:,} random weightings and scenarios "
           f"(median rank {rec.median_rank:g}, best {rec.rank_min}, worst {rec.rank_max}); score "
           f"{rec.score:.3f} at the chosen weights. The lead is {'stable' if rec.stable else 'NOT stable'}: "
           + ("the choice is robust." if rec.stable else "treat the choice as a judgement for the partners."),
           f"Why (the rule of docs/localities.md): {rec.reason}"]
    if rec.base_leader and rec.base_leader != rec.locality:
        pts.append(f"At the chosen weights alone {rec.base_leader} ranks first, but it leads in fewer weightings: "
                   f"the rule prefers the locality that stays first when the weights are uncertain.")
    if rec.flips:
        pts.append(f"What changes the choice ({len(rec.flips)} of {len(rec.changes_tested)} single changes tried): "
                   + "; ".join(rec.flips[:4]) + ("; ..." if len(rec.flips) > 4 else "") + ".")
    pts += _generated_sentences(loc) + _hub_sentences(hubs)
    return Findings(tuple(pts), {"recommended": rec.locality, "runner_up": rec.runner_up or "",
                                 "stable": bool(rec.stable)})


def _single_locality(loc: Any, rec: Any) -> str:
    """The sentence for a scheme with one locality (nothing to choose between), else ''."""
    ranking = loc["rankings"].get(rec.scheme)
    if ranking is None or len(ranking) > 1:
        return ""
    others = [n for n in loc["rankings"] if n != rec.scheme and len(loc["rankings"][n]) > 1]
    return (f"The {rec.scheme} scheme has only one locality ({rec.locality}, the whole area): there is no "
            f"pathfinder to choose between. Choose a scheme with several localities"
            + (f" ({', '.join(others)})" if others else " (e.g. pcns or auto)") + ".")


def _generated_sentences(loc: Any) -> list[str]:
    gen = pd.DataFrame(loc["generated"])
    if not len(gen):
        return []
    ok = gen[gen["feasible"].astype(bool)]
    bad = gen[~gen["feasible"].astype(bool)]
    text = (f"Generated schemes: k = {', '.join(str(k) for k in ok['k'])} feasible and ranked"
            if len(ok) else "No generated scheme is feasible")
    if len(bad):
        text += "; " + "; ".join(f"{r['scheme']} is infeasible ({r['status']}) and not ranked" for _, r in bad.iterrows())
    return [text + "."]


def _hub_sentences(hubs: Sequence[Any]) -> list[str]:
    pts = []
    summ = hub_summary(hubs)
    for _, r in summ[summ["model"] == "mclp"].iterrows() if len(summ) else []:
        pts.append(f"Hub sites in {r['locality']}: {int(r['p'])} site(s) ({r['sites_named']}) would bring "
                   f"{r['children_covered']:,.0f} children 0-4 ({r['pct_children_covered']:.1f}% of its under-fives) "
                   f"within {r['max_minutes']:g} minutes who are not already that close to a children's centre; "
                   f"mean pram trip to the nearest suggested site {r['mean_minutes']:.0f} minutes.")
    return pts


def workshop_findings(area: Any, files: pd.DataFrame, rec: Any | None = None, loc: Any | None = None) -> Findings:
    """Key findings of the workshop pack (notebook 05): what was written, the recommendation and
    (from ``loc``, the scheme's scorecard) the locality with the largest gap."""
    kinds = files["kind"].value_counts()
    n_sheets = int(files.loc[files["kind"] == "sheet", "locality"].nunique()) if len(files) else 0
    pts = [f"Written: {int(kinds.filter(like='map').sum())} interactive map(s) and print sheets for "
           f"{n_sheets} localit{'y' if n_sheets == 1 else 'ies'} ({len(files)} files, "
           f"{files['size_kb'].sum() / 1024:.1f} MB)."]
    single = _single_locality(loc, rec) if loc is not None and rec is not None else ""
    if single:
        pts.append(single)
    elif rec is not None:
        pts.append(f"Recommended pathfinder ({rec.scheme}): {rec.locality} (the rule of notebook 04), first in "
                   f"{100 * rec.p_first:.1f}% of {rec.n_draws:,} weightings"
                   + ("; the lead is stable." if rec.stable else "; the lead is not stable: treat it as a judgement.")
                   + (f" Runner-up: {rec.runner_up}." if rec.runner_up else ""))
    card = loc["scorecards"].get(rec.scheme) if loc is not None and rec is not None else None
    if card is not None and len(card) > 1 and "gap_children" in card:
        top = card.sort_values("gap_children", ascending=False).iloc[0]
        pts.append(f"Largest gap ({rec.scheme}): {top['locality']}, {top['gap_children']:,.0f} children 0-19 "
                   f"({top['pct_gap_children']:.1f}%) beyond {top['gap_threshold_min']:g} minutes of any key service.")
    return Findings(tuple(pts), {"recommended": rec.locality if rec is not None else ""})


# ----------------------------------------------------------------------------- maps
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
    """Permanent text labels (escaped) at a point inside each polygon."""
    fg = folium.FeatureGroup(name=f"Labels: {web.safe_text(name)}", show=True)
    pts = gdf.geometry.representative_point().to_crs(web.CRS_WEB)
    for label, pt in zip(gdf[col].astype(str), pts):
        folium.Marker([round(pt.y, 6), round(pt.x, 6)], icon=folium.DivIcon(
            html=(f"<div style='font:bold 12px Arial;color:{colour};white-space:nowrap;"
                  f"text-shadow:0 0 3px #fff,0 0 3px #fff,0 0 3px #fff'>{web.safe_text(label)}</div>"),
            icon_size=(160, 16), icon_anchor=(40, 8))).add_to(fg)
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
    m = web.build_map(area, layers=layers, title=title or area.pack.title, offline=True, **build)
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


# ----------------------------------------------------------------------------- workshop preview
@dataclass(frozen=True)
class Preview:
    """The workshop pack at a glance: the map embedded (by link) and a thumbnail per sheet."""

    html_text: str
    summary: str

    def _repr_html_(self) -> str:
        return self.html_text

    def __repr__(self) -> str:
        return self.summary


def _thumbnail(png: Path, width_px: int) -> str:
    with Image.open(png) as im:
        im = im.convert("RGB")
        im.thumbnail((width_px, width_px * 2))
        buf = io.BytesIO()
        im.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def workshop_preview(files: pd.DataFrame, width_px: int = 320, map_height_px: int = 480) -> Preview:
    """Preview of :func:`locmap.api.workshop_export`'s files: the (offline) map in an iframe
    linked from the notebook's folder, links to every file, and a thumbnail of each sheet."""
    parts, files = [], pd.DataFrame(files)
    maps = files[files["kind"].astype(str).str.startswith("map")]
    if len(maps):
        pick = maps[maps["kind"].str.contains("offline")]
        src = link_to(Path((pick if len(pick) else maps)["path"].iloc[0]))
        links = " · ".join(f"<a href='{html.escape(link_to(Path(p)), quote=True)}' target='_blank'>"
                           f"{html.escape(k)}: {html.escape(Path(p).name)}</a>" for k, p in zip(maps["kind"], maps["path"]))
        parts.append(f"<p><b>Interactive map</b> ({links})</p><iframe class='locmap-map' src='{html.escape(src, quote=True)}' "
                     f"sandbox='allow-scripts allow-popups' style='width:100%;height:{int(map_height_px)}px;"
                     f"border:1px solid #bbb'></iframe>")
    cells = []
    for loc, part in files[files["kind"] == "sheet"].groupby("locality", sort=False):
        png = [Path(p) for p in part["path"] if str(p).endswith(".png")]
        links = " · ".join(f"<a href='{html.escape(link_to(Path(p)), quote=True)}' target='_blank'>"
                           f"{html.escape(Path(p).suffix[1:].upper())}</a>" for p in part["path"])
        img = f"<img src='{_thumbnail(png[0], width_px)}' style='width:{width_px}px;border:1px solid #ccc'>" if png else ""
        cells.append(f"<div style='display:inline-block;margin:6px;vertical-align:top'>{img}"
                     f"<div><b>{html.escape(str(loc))}</b> {links}</div></div>")
    if cells:
        parts.append(f"<p><b>Print sheets</b> ({len(cells)})</p><div>{''.join(cells)}</div>")
    summary = f"{len(maps)} map file(s), {len(cells)} sheet(s): " + ", ".join(map(str, files["path"]))
    return Preview("<div class='locmap-preview'>" + "".join(parts) + "</div>", summary)


# ----------------------------------------------------------------------------- small views
def loading_notes(area: Any) -> Notes:
    """What loading the area noticed (names taken from lookups, unlocated services, ...)."""
    return Notes("Notes from loading the data", tuple(area.notes) or ("No notes: every layer loaded as described.",))


def files_written(paths: Iterable[Path | str], out_dir: str | Path | None = None) -> Table:
    """The files a notebook wrote (name relative to the notebook's folder, size)."""
    rows = [{"path": link_to(Path(p)), "size_kb": Path(p).stat().st_size / 1024} for p in paths]
    return table(pd.DataFrame(rows, columns=["path", "size_kb"]), "files_written", out_dir=out_dir,
                 max_rows=50, empty="No files were written.")


def register_vintages(area: Any) -> pd.DataFrame:
    """Services in the register by source and date of the data."""
    g = area.services.groupby(["source", "vintage"], dropna=False).size().rename("services").reset_index()
    return g.sort_values("services", ascending=False).reset_index(drop=True)


def rejects_by_file(need: Any) -> pd.DataFrame:
    """Rejected register rows by input file and reason."""
    rej = pd.DataFrame(need["rejects"])
    if not len(rej):
        return pd.DataFrame(columns=["file", "reason", "rows"])
    return rej.groupby(["file", "reason"]).size().rename("rows").reset_index().sort_values(
        ["file", "rows"], ascending=[True, False]).reset_index(drop=True)


def services_per_1000(area: Any, need: Any) -> pd.DataFrame:
    """Services per 1,000 children 0-19 by town, with the whole area and London as comparators.

    The whole-area row counts the register's located services inside the area; the London
    row comes from :func:`london_comparators` (GP practices, pharmacies, libraries only).
    """
    per = pd.DataFrame(need["services_per_1000_children"]).copy()
    svc = area.services
    inside = svc[svc["located"].fillna(False).astype(bool) & svc["in_study_area"].fillna(False).astype(bool)]
    kids = float(area.lsoa["pop_0_19"].sum())
    types = [c for c in per.columns if c != "town"]
    whole = {"town": TOTAL_ID, **{t: 1000.0 * int((inside["service_type"] == t).sum()) / kids for t in types}}
    comp = london_comparators(area).set_index("key")
    london = {"town": "London (shared London-wide files)",
              **{t: comp.loc[f"{t}_per_1000", "london_value"] if f"{t}_per_1000" in comp.index else np.nan
                 for t in types}}
    return pd.concat([per, pd.DataFrame([london, whole])], ignore_index=True)


def coverage_matrix(acc: Any, band: str = "pop_0_4") -> pd.DataFrame:
    """% of ``band`` within each threshold, one row per service type (any key service first)."""
    cov = acc["coverage_total"]
    cov = cov[cov["band"] == band]
    wide = cov.pivot_table(index="service_type", columns="threshold_minutes", values="pct_within")
    wide.columns = [f"within_{t:g}_min" for t in wide.columns]
    order = sorted(wide.index, key=lambda t: (t != ANY_KEY, wide.loc[t].iloc[-1]))
    return wide.loc[order].reset_index()


def gap_table(gaps: pd.DataFrame, gap_minutes: float, area: Any, band: str = "pop_0_4",
              id_col: str = "area_id") -> pd.DataFrame:
    """Children of ``band`` beyond ``gap_minutes`` of any key service and of each key type, per
    area (columns are service-type codes; the whole-area row last)."""
    g = _at(gaps, threshold_minutes=gap_minutes)
    types = [ANY_KEY] + [t for t in area.pack.key_service_types if t in set(g["service_type"])]
    g = g[g["service_type"].isin(types)]
    wide = g.pivot_table(index=id_col, columns="service_type", values=f"gap_{band}", aggfunc="sum")
    pct = g[g["service_type"] == ANY_KEY].set_index(id_col)[f"pct_beyond_{band}"]
    wide = wide[[t for t in types if t in wide.columns]].sort_values(ANY_KEY, ascending=False)
    wide.columns = [f"gap_{band}__{t}" for t in wide.columns]
    wide.insert(1, f"pct_beyond_{band}", pct.reindex(wide.index))
    wide = wide.reset_index()
    if "pcn_name" in g.columns:  # PCN codes -> names (the whole-area row keeps its id)
        names = g.dropna(subset=["pcn_name"]).drop_duplicates(id_col).set_index(id_col)["pcn_name"]
        wide[id_col] = wide[id_col].map(lambda v: names.get(v, v))
        wide = wide.rename(columns={id_col: "pcn_name"})
    return wide


def access_layers(area: Any) -> list[str]:
    """Service types drawn as pram-distance layers: any key service first, then each key type."""
    return [ANY_KEY, *area.pack.key_service_types]


def leading_localities(rec: Any, top_n: int = 2) -> list[str]:
    """The recommended locality and the runner-up (first ``top_n``): where hub sites are suggested."""
    return [n for n in (rec.locality, rec.runner_up) if n][:max(int(top_n), 0)]
