"""Tables as an analyst reads them: plain column labels with units, formatted values, no index,
long tables summarised and written in full to CSV (:func:`table`, :class:`Table`).
"""
from __future__ import annotations

import html
import os
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from locmap.export import write_csv


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
        notes = (*notes, *said_once(area, [childrens_centre_note(area)]))
    return Table(title=title, frame=text, n_rows=len(prepared), csv_path=csv_path, link=link,
                 notes=tuple(n for n in notes if n), empty_message=empty, numeric=numeric)


#: caveats already shown per area in this Python session: id(area) -> (area, texts)
_SAID: dict[int, tuple[Any, set[str]]] = {}


def said_once(area: Any, texts: Sequence[str]) -> list[str]:
    """The ``texts`` not yet shown for ``area`` in this session (and mark them shown), so a
    notebook states each caveat once, where it first applies (the caveats cell or the first
    table with children's-centre figures), not under every table."""
    held = _SAID.get(id(area))
    if held is None or held[0] is not area:
        held = _SAID[id(area)] = (area, set())
    new = [t for t in texts if t and t not in held[1]]
    held[1].update(new)
    return new


def _shows_childrens_centres(prepared: pd.DataFrame, raw: pd.DataFrame) -> bool:
    if any("childrens_centre" in str(c) or "_cc_" in str(c) for c in raw.columns):
        return True
    return "service_type" in raw.columns and raw["service_type"].astype(str).eq(CHILDRENS_CENTRE).any()


def _area_title(area: Any) -> str:
    pack = getattr(area, "pack", None)
    return getattr(pack, "lad_nm", None) or getattr(pack, "title", None) or "the area"


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


def _at(df: pd.DataFrame, **eq: Any) -> pd.DataFrame:
    mask = np.ones(len(df), dtype=bool)
    for k, v in eq.items():
        mask &= (df[k].astype(float) == float(v)).to_numpy() if isinstance(v, (int, float)) else (df[k] == v).to_numpy()
    return df[mask]


def files_written(paths: Iterable[Path | str], out_dir: str | Path | None = None) -> Table:
    """The files a notebook wrote (name relative to the notebook's folder, size)."""
    rows = [{"path": link_to(Path(p)), "size_kb": Path(p).stat().st_size / 1024} for p in paths]
    return table(pd.DataFrame(rows, columns=["path", "size_kb"]), "files_written", out_dir=out_dir,
                 max_rows=50, empty="No files were written.")
