"""Caveats that apply to this area's figures, from the area pack and the loaded data
(:func:`caveats`, :func:`childrens_centre_note`, :class:`Notes`).
"""
from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from locmap.maps import web
from locmap.present.tables import childrens_centre_note, said_once, service_labels


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
    said_once(area, points)  # shown here: tables below do not repeat them
    if "childrens_centres" in topics and not childrens_centre_note(area):
        types = ", ".join(service_labels(area).get(t, t) for t in area.pack.key_service_types)
        points.append(f"This area's data has no children's-centre list: key services here are {types}.")
    return Notes(f"Caveats for {area.pack.title}", tuple(points), kind="caveats")


# ----------------------------------------------------------------------------- small views
def loading_notes(area: Any) -> Notes:
    """What loading the area noticed (names taken from lookups, unlocated services, ...)."""
    return Notes("Notes from loading the data", tuple(area.notes) or ("No notes: every layer loaded as described.",))
