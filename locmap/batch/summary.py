"""The London summary: one JSON-able figure sheet per borough, the league table, the population
check and the London map.

:func:`borough_summary` turns one borough's run (:class:`~locmap.results.RunResult`) into plain
figures; :func:`league_table` ranks the boroughs and adds a region total computed from the
summed people (never a mean of percentages); :func:`write_region_summary` writes the league CSV,
the population check, the offline HTML map, the PNG map, ``README.txt`` (every column) and
``summary.md`` (what the figures mean, what each borough lacks, which boroughs failed).

Fields of :func:`borough_summary` (``<t>`` is a region key type, ``any`` = the nearest of the
region key types, or one of the pack's extra types; ``<band>`` is ``pop_0_4`` or ``pop_0_19``;
``<m>`` a threshold such as ``15``):

=========================================  ==========  ===================================================
field                                      unit        meaning
=========================================  ==========  ===================================================
``schema``                                 version     layout of this dict (:data:`SCHEMA`)
``lad_cd``, ``lad_nm``                     code, name  the borough
``area``, ``title``                        name        area name the run loaded (``london:camden``), title
``method``, ``distance_label``             label       ``estimated``/``street`` and the method in words
``walk_speed_kmh``                         km/h        pram-pushing speed of the run
``thresholds_minutes``, ``middle_minutes`` minutes     thresholds; the headline one (15 of 10/15/20)
``key_types``                              types       region key types, compared region-wide
``extra_types``                            types       the pack's own key types not in the region list
                                                       (Ealing's children's centres): NOT comparable
``data_gaps``                              text        what the borough's data lacks (one line each)
``notes``                                  text        every load and access note of the run
``homes``                                  homes       residential points (postcode centroids)
``pop_total`` ... ``pop_0_19``             people      people at the homes by age band
``population_lsoa_sum``                    people      LSOA 2021 population of the borough
``census_msoa_sum``                        people      Census 2021 MSOA sum of the borough
``census_ltla``                            people      Census 2021 LTLA total (``None`` if not in the file)
``lsoa_minus_msoa``                        people      conservation check: 0 up to rounding
``ltla_minus_msoa``                        people      Census perturbation between the two tables
``services_in__<t>``                       services    located services of the type in the borough
``services_outside__<t>``                  services    located services of the type in other boroughs
                                                       that the run could reach
``services_used_across__<t>``              services    of those, the nearest of at least one home
``homes_unreachable__<t>``                 homes       homes with no reachable service of the type
``people_unreachable__<t>__<band>``        people      their people (counted as beyond every threshold)
``people_beyond__<t>__<band>__<m>min``     people      people whose nearest service is more than
                                                       ``<m>`` minutes away, or unreachable
``pct_beyond__<t>__<band>__<m>min``        percent     the same as % of the band
``people_cross_border__<t>__<band>``       people      people whose nearest service is in another borough
``pct_cross_border__<t>__<band>``          percent     the same as % of the band
``pct_beyond__any__pop_0_4__<m>min_low``,  percent     10th / 90th percentile of the headline figure over
``..._high``                                           20 distance-model error fields (None: street)
``people_cross_border_unknown__<t>__<band>``  people   nearest service's borough unknown, or unreachable
``fca_per_1000__<t>``                      per 1,000   2SFCA at the middle threshold: mean over the
                                                       borough's demand of the home score (capacity
                                                       within reach per 1,000 people of the demand band)
``fca_demand_band__<t>``, ``fca_demand__<t>``  band, people  who the demand is and how many
``fca_unit__<t>``                          text        what one unit of the score is for this type
``fca_capacity_note__<t>``                 text        where the capacities came from (run's own note)
=========================================  ==========  ===================================================

Percentages are ``None`` where the band holds nobody; the 2SFCA fields are ``None`` where the
run computed no 2SFCA (and ``data_gaps`` says so).  ``any`` has no 2SFCA fields.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from locmap import export
from locmap.access.nearest import TOTAL_ID, wide_column
from locmap.api import default_gap_minutes
from locmap.bands import BAND_LABELS, BANDS
from locmap.data.area import AreaData
from locmap.data.io import read_table
from locmap.data.population import census_lad_total
from locmap.data.region import load_pack
from locmap.distance.calibration import beyond_interval_columns, beyond_interval_fields
from locmap.errors import LocmapError
from locmap.maps.offline import save_map
from locmap.maps.palette import service_label
from locmap.maps.region import RegionLayer, build_region_map, region_figure
from locmap.maps.static import save as save_figure
from locmap.results import RunResult
from locmap.settings import Settings
from locmap.tables import data_dictionary_text, readable

__all__ = ["SCHEMA", "ANY", "SUMMARY_BANDS", "POPULATION_COLUMNS", "RegionSummaryError", "field_name", "type_label",
           "fca_unit", "borough_summary", "league_columns", "headline_column", "league_table", "population_check",
           "region_census_totals", "write_region_summary", "summary_markdown", "md_text", "edge_boroughs",
           "edge_note"]

#: Layout version of :func:`borough_summary` (bump when a field changes meaning).
SCHEMA = 1
#: Pseudo type: the nearest service of any of the region key types.
ANY = "any"
#: Age bands of the beyond and cross-border figures.
SUMMARY_BANDS: tuple[str, ...] = ("pop_0_4", "pop_0_19")


class RegionSummaryError(LocmapError):
    """Borough summaries that cannot be put in one table (different thresholds or key types)."""

    remedy = ("summarise every borough of one batch with the same settings (thresholds) and the "
              "same region key types; rerun the boroughs whose cached summaries differ.")


def field_name(kind: str, service_type: str, band: str | None = None, minutes: float | None = None) -> str:
    """A summary key, e.g. ``field_name("pct_beyond", "any", "pop_0_4", 15)`` ->
    ``"pct_beyond__any__pop_0_4__15min"``."""
    parts = [kind, service_type] + ([band] if band else []) + ([f"{float(minutes):g}min"] if minutes is not None else [])
    return "__".join(parts)


def type_label(service_type: str) -> str:
    """Plain label of a summary type for running text: ``any`` -> ``"any key service"``,
    ``primary_school`` -> ``"primary school"``, ``gp_practice`` -> ``"GP practice"``."""
    return "any key service" if service_type == ANY else _lower(service_label(service_type))


def _noun(service_type: str) -> str:
    """``"key service"`` for ``any`` (as in "no reachable key service"), else :func:`type_label`."""
    return "key service" if service_type == ANY else type_label(service_type)


def _num(value: Any) -> float | None:
    """A JSON-safe float (``None`` for missing or infinite values)."""
    v = float(value) if value is not None else math.nan
    return v if math.isfinite(v) else None


def _pct(part: float, whole: float) -> float | None:
    return 100.0 * part / whole if whole > 0 else None


# ----------------------------------------------------------------------------- one borough
def borough_summary(area: AreaData, run: RunResult, region_key_types: Sequence[str]) -> dict:
    """The figures of one borough, computed from the run's own per-home results.

    Parameters
    ----------
    area : AreaData
        The borough as loaded for the run (pack, services, population checks).
    run : RunResult
        The borough's run (:func:`locmap.api.run_all`); only ``run.access`` is read.
    region_key_types : sequence of str
        The types compared region-wide (``Region.key_service_types``); ``any`` is the nearest
        of these, whatever the pack's own ``any_key_service`` includes.

    Returns
    -------
    dict
        JSON-serialisable; every field is in the module docstring's table.
    """
    access = run.access
    res = access.result
    wide = res.wide
    key_types = list(dict.fromkeys(region_key_types))
    measured = [t for t in key_types if wide_column("minutes", t) in wide.columns]
    extra = [t for t in res.key_service_types if t not in key_types and wide_column("minutes", t) in wide.columns]
    thresholds = sorted(float(t) for t in res.settings.thresholds_minutes)
    out = _identity(area, res, key_types, extra, thresholds)
    out.update(_population(area, wide))
    for t in measured + extra:
        minutes, cross, ids = _type_arrays(wide, t)
        out.update(_access_fields(t, wide, minutes, cross, thresholds))
        out.update(_service_fields(area, t, ids, cross))
        out.update(_fca_fields(access, t, default_gap_minutes(res.settings)))
    for t in sorted(set(key_types) - set(measured)):
        out.update(_missing_type_fields(t, thresholds))
    if measured:
        minutes, cross, ids = _nearest_of(wide, measured)
        out.update(_access_fields(ANY, wide, minutes, cross, thresholds))
        middle = default_gap_minutes(res.settings)  # the league figure with its distance-model interval
        out.update(beyond_interval_fields(res.method, wide, minutes, field_name("pct_beyond", ANY, "pop_0_4", middle),
                                          middle))
        out.update(_any_service_fields(out, measured, wide))
    else:
        out.update(_missing_type_fields(ANY, thresholds))
    out["data_gaps"] = _data_gaps(area, res, key_types, measured, out)
    return out


def _identity(area: AreaData, res: Any, key_types: list[str], extra: list[str],
              thresholds: list[float]) -> dict:
    pack = area.pack
    return {
        "schema": SCHEMA, "lad_cd": str(pack.lad_cd), "lad_nm": str(pack.lad_nm), "area": str(pack.name),
        "title": str(getattr(pack, "title", pack.name)), "method": str(res.method),
        "distance_label": str(res.label), "walk_speed_kmh": float(res.settings.walk_speed_kmh),
        "thresholds_minutes": thresholds, "middle_minutes": float(default_gap_minutes(res.settings)),
        "key_types": key_types, "extra_types": extra,
        "notes": list(dict.fromkeys([*map(str, area.notes), *map(str, res.notes)])),
    }


def _population(area: AreaData, wide: pd.DataFrame) -> dict:
    """People at the homes by band, and the borough's population checks (people)."""
    check = area.checks.get("population", {})
    msoa = _num(check.get("census_msoa_total"))
    ltla = _num(check.get("census_lad_total"))
    lsoa = _num(area.lsoa["pop_total"].sum())
    out = {"homes": int(len(wide))}
    out.update({b: float(pd.to_numeric(wide[b], errors="coerce").fillna(0.0).sum()) for b in BANDS if b in wide})
    out.update(population_lsoa_sum=lsoa, census_msoa_sum=msoa, census_ltla=ltla,
               lsoa_minus_msoa=None if lsoa is None or msoa is None else lsoa - msoa,
               ltla_minus_msoa=None if ltla is None or msoa is None else ltla - msoa)
    return out


def _type_arrays(wide: pd.DataFrame, t: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minutes to the nearest service of ``t`` (NaN = unreachable), whether it is across the
    border (1.0 / 0.0 / NaN = unknown) and its id (None when unreachable)."""
    minutes = pd.to_numeric(wide[wide_column("minutes", t)], errors="coerce").to_numpy(float)
    cb_col = wide_column("cross_border", t)
    cross = (wide[cb_col].astype("boolean").astype("Float64").to_numpy(dtype=float, na_value=np.nan)
             if cb_col in wide.columns else np.full(len(wide), np.nan))
    id_col = wide_column("nearest_id", t)
    ids = wide[id_col].to_numpy(dtype=object) if id_col in wide.columns else np.full(len(wide), None, dtype=object)
    minutes = np.where(np.isfinite(minutes), minutes, np.nan)
    return minutes, np.where(np.isnan(minutes), np.nan, cross), ids


def _nearest_of(wide: pd.DataFrame, types: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_type_arrays` of the nearest service of any of ``types`` (first type on ties)."""
    per = [_type_arrays(wide, t) for t in types]
    m = np.column_stack([p[0] for p in per])
    reach = np.isfinite(m).any(axis=1)
    j = np.argmin(np.where(np.isfinite(m), m, np.inf), axis=1)
    rows = np.arange(len(m))
    minutes = np.where(reach, m[rows, j], np.nan)
    cross = np.where(reach, np.column_stack([p[1] for p in per])[rows, j], np.nan)
    ids = np.column_stack([p[2] for p in per])[rows, j]
    ids[~reach] = None
    return minutes, cross, ids


def _access_fields(t: str, wide: pd.DataFrame, minutes: np.ndarray, cross: np.ndarray,
                   thresholds: list[float]) -> dict:
    """People beyond each threshold, unreachable and across the border, per band."""
    unreachable = np.isnan(minutes)
    out: dict[str, Any] = {field_name("homes_unreachable", t): int(unreachable.sum())}
    for band in SUMMARY_BANDS:
        pop = pd.to_numeric(wide[band], errors="coerce").fillna(0.0).to_numpy(float)
        total = float(pop.sum())
        out[field_name("people_unreachable", t, band)] = float(pop[unreachable].sum())
        for thr in thresholds:
            beyond = float(pop[~(minutes <= thr)].sum())  # NaN (unreachable) compares False: beyond
            out[field_name("people_beyond", t, band, thr)] = beyond
            out[field_name("pct_beyond", t, band, thr)] = _pct(beyond, total)
        across = float(pop[cross == 1.0].sum())
        out[field_name("people_cross_border", t, band)] = across
        out[field_name("pct_cross_border", t, band)] = _pct(across, total)
        out[field_name("people_cross_border_unknown", t, band)] = float(pop[np.isnan(cross)].sum())
    return out


def _service_fields(area: AreaData, t: str, ids: np.ndarray, cross: np.ndarray) -> dict:
    """Services of the type in the borough, outside it, and used across the border."""
    svc = area.services
    located = svc["located"].fillna(False).astype(bool) & svc.geometry.notna() & (svc["service_type"] == t)
    inside = svc["in_study_area"].fillna(False).astype(bool)
    used = {str(i) for i in ids[cross == 1.0] if i is not None}
    return {field_name("services_in", t): int((located & inside).sum()),
            field_name("services_outside", t): int((located & ~inside).sum()),
            field_name("services_used_across", t): len(used)}


def _any_service_fields(out: dict, types: list[str], wide: pd.DataFrame) -> dict:
    """Services of the key types together (in, outside, used across the border by ``any``)."""
    _m, cross, ids = _nearest_of(wide, types)
    return {field_name("services_in", ANY): sum(out[field_name("services_in", t)] for t in types),
            field_name("services_outside", ANY): sum(out[field_name("services_outside", t)] for t in types),
            field_name("services_used_across", ANY): len({str(i) for i in ids[cross == 1.0] if i is not None})}


def _fca_fields(access: Any, t: str, minutes: float) -> dict:
    """2SFCA of one type at ``minutes``: the borough's demand-weighted mean home score."""
    keys = {k: field_name(k, t) for k in ("fca_per_1000", "fca_demand_band", "fca_demand", "fca_unit",
                                          "fca_capacity_note")}
    out = dict.fromkeys(keys.values())
    areas, svc = access.fca_areas, access.fca_services
    if not len(areas):
        return out
    row = areas[(areas["level"] == areas["level"].iloc[0]) & (areas["area_id"] == TOTAL_ID)
                & (areas["service_type"] == t) & np.isclose(areas["threshold_minutes"].astype(float), minutes)]
    if not len(row):
        return out
    r = row.iloc[0]
    note = svc.loc[svc["service_type"] == t, "capacity_note"]
    out.update({keys["fca_per_1000"]: _num(r["fca_per_1000"]), keys["fca_demand_band"]: str(r["demand_band"]),
                keys["fca_demand"]: _num(r["demand"]),
                keys["fca_unit"]: fca_unit(t, str(r["demand_band"]), minutes, str(note.iloc[0]) if len(note) else ""),
                keys["fca_capacity_note"]: str(note.iloc[0]) if len(note) else None})
    return out


def fca_unit(t: str, band: str, minutes: float, capacity_note: str) -> str:
    """What one unit of ``fca_per_1000`` means for a type, given the run's capacity note:
    services (each counting 1) or places, within ``minutes``, per 1,000 people of ``band``."""
    who = "people (all ages)" if band == "pop_total" else BAND_LABELS.get(band, band)
    label = _lower(service_label(t))
    if capacity_note.startswith("no capacit"):
        return (f"{_plural(label)} within {minutes:g} min per 1,000 {who} (each {label} counts 1: no capacity "
                "data), shared among everyone within reach")
    return f"places within {minutes:g} min per 1,000 {who}, shared among everyone within reach"


def _plural(label: str) -> str:
    """``"Library"`` -> ``"Libraries"``, ``"GP practice"`` -> ``"GP practices"``."""
    return label[:-1] + "ies" if label.endswith("y") else label + "s"


def _lower(label: str) -> str:
    """``"Children's centre"`` -> ``"children's centre"``; ``"GP practice"`` stays."""
    return label if label[:2].isupper() else label[:1].lower() + label[1:]


def _missing_type_fields(t: str, thresholds: list[float]) -> dict:
    """All figures of a type the run did not measure, as ``None`` (never as zero)."""
    out: dict[str, Any] = {field_name("homes_unreachable", t): None}
    for band in SUMMARY_BANDS:
        for kind in ("people_unreachable", "people_cross_border", "pct_cross_border", "people_cross_border_unknown"):
            out[field_name(kind, t, band)] = None
        for thr in thresholds:
            out[field_name("people_beyond", t, band, thr)] = None
            out[field_name("pct_beyond", t, band, thr)] = None
    for kind in ("services_in", "services_outside", "services_used_across"):
        out[field_name(kind, t)] = None
    if t != ANY:
        out.update(dict.fromkeys(field_name(k, t) for k in ("fca_per_1000", "fca_demand_band", "fca_demand",
                                                            "fca_unit", "fca_capacity_note")))
    return out


def _data_gaps(area: AreaData, res: Any, key_types: list[str], measured: list[str], out: dict) -> list[str]:
    """What the borough's data lacks, one plain sentence each (facts from the pack and the run)."""
    pack, gaps = area.pack, []
    for t in key_types:
        if t not in measured:
            gaps.append(f"{service_label(t)}: no located services in the data, so not measured "
                        f"('any key service' is built without it)")
        elif not out[field_name("services_in", t)]:
            gaps.append(f"{service_label(t)}: none inside the borough in the data (all nearest are across the border)")
    svc = area.services
    has = set(svc.loc[svc["located"].fillna(False).astype(bool), "service_type"])
    lacking = [t for t in getattr(pack, "service_types", {}) if t not in has]
    if lacking:
        gaps.append("no " + ", ".join(_lower(service_label(t)) for t in lacking)
                    + " in the borough's data (none listed within reach): not measured")
    wards = pack.layers.get("wards") if hasattr(pack, "layers") else None
    if wards is not None and wards.options.get("dissolve"):
        gaps.append("ward footprints are best-fit dissolves of LSOA 2021 polygons (no ward polygons)")
    if hasattr(pack, "has_table") and not pack.has_table("ward_town"):
        gaps.append("no ward-to-town grouping (the borough is one 'town')")
    lsoa = pack.layers.get("lsoa21") if hasattr(pack, "layers") else None
    if lsoa is not None and lsoa.options.get("missing_polygons"):
        gaps.append("some LSOA 2021 have no polygon of their own (drawn with their 2011 parent's)")
    if len(res.excluded_services):
        gaps.append(f"{len(res.excluded_services)} service(s) without a location left out")
    if measured and all(out[field_name("fca_per_1000", t)] is None for t in measured):
        gaps.append("2SFCA not computed in this run")
    return gaps


# ----------------------------------------------------------------------------- league table
#: Short band names of the league table's column names.
_BAND_SHORT: dict[str, str] = {"pop_0_4": "children 0-4", "pop_0_19": "children 0-19"}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _consistent(summaries: Sequence[Mapping]) -> tuple[list[str], list[float], float]:
    """The key types, thresholds and headline threshold shared by every summary."""
    if not summaries:
        raise RegionSummaryError("no borough summaries to tabulate (every borough failed, or none was run)")
    first = summaries[0]
    for s in summaries[1:]:
        for key in ("schema", "key_types", "thresholds_minutes", "middle_minutes"):
            if s.get(key) != first.get(key):
                raise RegionSummaryError(
                    f"borough summaries differ in '{key}': {first.get('lad_nm')} has {first.get(key)!r}, "
                    f"{s.get('lad_nm')} has {s.get(key)!r}")
    return list(first["key_types"]), [float(t) for t in first["thresholds_minutes"]], float(first["middle_minutes"])


def headline_column(middle_minutes: float, band: str = "pop_0_4", service_type: str = ANY) -> str:
    """League-table name of a "% beyond" column, e.g. ``"% children 0-4 beyond 15 min: any key service"``."""
    return f"% {_BAND_SHORT[band]} beyond {middle_minutes:g} min: {type_label(service_type)}"


def _beyond_columns(types: list[str], thresholds: list[float]) -> list[tuple[str, str, str, str, str, str]]:
    """The "% beyond" block, then the "people beyond" block (band x type x threshold)."""
    cols = []
    for band in SUMMARY_BANDS:
        for t in types:
            for thr in thresholds:
                cols.append((headline_column(thr, band, t), "percent",
                             f"% of {BAND_LABELS[band]} whose nearest {_noun(t)} is more than {thr:g} minutes' "
                             "pram-pushing away (or unreachable)", "ratio", field_name("people_beyond", t, band, thr), band))
    for band in SUMMARY_BANDS:
        for t in types:
            for thr in thresholds:
                cols.append((f"{_cap(_BAND_SHORT[band])} beyond {thr:g} min: {type_label(t)}", "people",
                             f"{BAND_LABELS[band]} whose nearest {_noun(t)} is more than {thr:g} minutes away "
                             "(or unreachable)", "sum", field_name("people_beyond", t, band, thr), ""))
    return cols


def league_columns(summaries: Sequence[Mapping]) -> list[tuple[str, str, str, str, str, str]]:
    """Every league-table column: ``(name, unit, description, kind, field, denominator field)``.

    ``kind`` says how the region total is made: ``text`` (none), ``sum`` (summed people or
    counts), ``ratio`` (100 x summed field / summed denominator), ``weighted`` (mean of the
    field weighted by the denominator field), ``none`` (not additive: blank in the total).
    """
    key_types, thresholds, middle = _consistent(summaries)
    types = [ANY, *key_types]
    cols = [("Borough", "name", "borough (local authority district)", "text", "lad_nm", ""),
            ("Code", "code", "ONS code of the borough", "text", "lad_cd", ""),
            ("Homes", "homes", "residential points (postcode centroids) where people live", "sum", "homes", ""),
            ("Population", "people", "people living in the borough (LSOA 2021 population at the homes)", "sum",
             "pop_total", ""),
            ("Children 0-4", "people", "children aged 0-4", "sum", "pop_0_4", ""),
            ("Children 0-19", "people", "children and young people aged 0-19", "sum", "pop_0_19", "")]
    cols += _beyond_columns(types, thresholds)
    cols += beyond_interval_columns(field_name("pct_beyond", ANY, "pop_0_4", middle),
                                    headline_column(middle, "pop_0_4", ANY))
    for t in types:
        cols.append((f"Homes with no reachable {_noun(t)}", "homes",
                     f"homes from which no {_noun(t)} could be reached (counted as beyond every threshold)",
                     "sum", field_name("homes_unreachable", t), ""))
    for band in SUMMARY_BANDS:
        for t in types:
            cols.append((f"% {_BAND_SHORT[band]} nearest {_noun(t)} in another borough", "percent",
                         f"% of {BAND_LABELS[band]} whose nearest {_noun(t)} is across the borough border",
                         "ratio", field_name("people_cross_border", t, band), band))
            cols.append((f"{_cap(_BAND_SHORT[band])} nearest {_noun(t)} in another borough", "people",
                         f"{BAND_LABELS[band]} whose nearest {_noun(t)} is across the borough border",
                         "sum", field_name("people_cross_border", t, band), ""))
    for t in key_types:
        unit = next((s.get(field_name("fca_unit", t)) for s in summaries if s.get(field_name("fca_unit", t))), "")
        cols.append((f"2SFCA {type_label(t)} per 1,000 ({middle:g} min)", "per 1,000",
                     f"two-step floating catchment score, mean over the borough's demand: {unit or 'not computed'}",
                     "weighted", field_name("fca_per_1000", t), field_name("fca_demand", t)))
    for t in types:
        what = "key services" if t == ANY else _plural(type_label(t))
        cols.append((f"{_cap(what)} in the borough", "services",
                     f"located {what} inside the borough", "sum", field_name("services_in", t), ""))
        cols.append((f"{_cap(what)} across the border used", "services",
                     f"{what} in other boroughs that are the nearest of at least one home "
                     "(not additive across boroughs: blank in the total)", "none",
                     field_name("services_used_across", t), ""))
    cols += [("Population (LSOA sum)", "people", "LSOA 2021 population of the borough", "sum", "population_lsoa_sum", ""),
             ("Census 2021 MSOA sum", "people", "Census 2021 usual residents, sum of the borough's MSOAs", "sum",
              "census_msoa_sum", ""),
             ("Census 2021 LTLA total", "people", "Census 2021 usual residents, local authority table", "sum",
              "census_ltla", ""),
             ("LSOA minus MSOA", "people", "population conservation check (0 up to rounding)", "sum",
              "lsoa_minus_msoa", ""),
             ("LTLA minus MSOA", "people", "difference between the two Census tables (statistical disclosure "
              "perturbation)", "sum", "ltla_minus_msoa", ""),
             ("Distance method", "label", "how distances were measured (street network or calibrated estimate)",
              "text", "distance_label", ""),
             ("Data gaps", "text", "what the borough's data lacks (see summary.md)", "text", "data_gaps", ""),
             ("Run", "code", "the batch run that computed the borough's figures (batch_run.json, batch_status.csv "
              "and the borough's done.json carry the same id); a subset run keeps the other boroughs' figures "
              "of earlier runs", "text", "run_id", ""),
             ("Finished (UTC)", "label", "when that run finished the borough (ISO 8601, UTC)", "text",
              "finished_utc", "")]
    return cols


def _cell_value(summary: Mapping, kind: str, key: str, den: str) -> Any:
    value = summary.get(key)
    if kind == "ratio":
        total = summary.get(den)
        return None if value is None or not total else 100.0 * float(value) / float(total)
    if isinstance(value, list):
        return "; ".join(map(str, value))
    return value


def _total_value(summaries: Sequence[Mapping], kind: str, key: str, den: str) -> Any:
    """The region total of one column from the summed people (``None`` if any borough lacks it)."""
    values = [s.get(key) for s in summaries]
    if kind == "text" and key == "distance_label":
        return "; ".join(dict.fromkeys(map(str, values)))
    if kind in ("text", "none") or any(v is None for v in values):
        return None
    if kind == "sum":
        return float(np.sum(np.asarray(values, float)))
    weights = np.asarray([s.get(den) for s in summaries], dtype=float)
    if kind == "ratio":
        return _pct(float(np.sum(np.asarray(values, float))), float(weights.sum()))
    return float(np.sum(np.asarray(values, float) * weights) / weights.sum()) if weights.sum() > 0 else None


def league_table(summaries: list[dict], by: str | None = None, ascending: bool = False,
                 total_name: str = "London total", total_code: str = "") -> pd.DataFrame:
    """One row per borough, ranked, plus a total row from the summed people.

    Parameters
    ----------
    summaries : list of dict
        :func:`borough_summary` of each borough that ran (same key types and thresholds).
    by : str, optional
        Column ranked on; default the % of children 0-4 beyond the middle threshold (15 min)
        of any key service.  Boroughs without a figure rank last.
    ascending : bool
        Rank 1 = the smallest value (default: the largest, i.e. the worst served).
    total_name, total_code : str
        Borough name and code of the total row.

    Returns
    -------
    DataFrame
        ``Rank`` then :func:`league_columns` (people, percent, per 1,000; full precision).
        The total row (``Rank`` missing) is last; its percentages are 100 x summed people
        beyond / summed people, never a mean of percentages.
    """
    cols = league_columns(summaries)
    by = by or headline_column(_consistent(summaries)[2])
    names = [c[0] for c in cols]
    if by not in names:
        raise RegionSummaryError(f"cannot rank on '{by}': no such league-table column")
    rows = pd.DataFrame([[_cell_value(s, kind, key, den) for _n, _u, _d, kind, key, den in cols] for s in summaries],
                        columns=names)
    rows[by] = pd.to_numeric(rows[by], errors="coerce")
    rows = rows.sort_values([by, "Borough"], ascending=[ascending, True], na_position="last", kind="mergesort")
    rows.insert(0, "Rank", pd.array(np.arange(1, len(rows) + 1), dtype="Int64"))
    total = [_total_value(summaries, kind, key, den) for _n, _u, _d, kind, key, den in cols]
    total[names.index("Borough")], total[names.index("Code")] = total_name, total_code
    total_row = pd.DataFrame([[pd.NA, *total]], columns=["Rank", *names]).astype({"Rank": "Int64"})
    out = pd.concat([rows, total_row], ignore_index=True)
    for n, unit, *_ in cols:
        if unit in ("homes", "services"):
            out[n] = pd.to_numeric(out[n], errors="coerce").round().astype("Int64")
        elif unit not in ("name", "code", "label", "text"):
            out[n] = pd.to_numeric(out[n], errors="coerce").astype(float)
    return out


# ----------------------------------------------------------------------------- population check
#: Columns of the population check: name -> (unit, description).
POPULATION_COLUMNS: dict[str, tuple[str, str]] = {
    "Code": ("code", "ONS code of the borough (or of the region on the total rows)"),
    "Borough": ("name", "borough, or the region total the row describes"),
    "Status": ("label", "run = figures from the borough's run; failed = the run failed (see Reason); "
                        "not run = not in this run and no current results in the folder (see Reason); "
                        "not reported = the batch returned neither figures nor a failure"),
    "Reason": ("text", "why the borough has no figures"),
    "Population (LSOA sum)": ("people", "LSOA 2021 population of the borough (the population every figure uses)"),
    "Population at homes": ("people", "the same people placed at the homes (postcode centroids)"),
    "Census 2021 MSOA sum": ("people", "Census 2021 usual residents, summed over the borough's MSOAs"),
    "Census 2021 LTLA total": ("people", "Census 2021 usual residents, local authority table"),
    "LSOA minus MSOA": ("people", "population conservation: 0 up to rounding for every borough run and for "
                                  "the boroughs-run total (their LSOA sum against their own MSOA sum); on the "
                                  "region's Census-tables row only when every borough ran (blank otherwise: "
                                  "a part is not compared with the whole)"),
    "LTLA minus MSOA": ("people", "difference between the two Census 2021 tables (disclosure perturbation)"),
}


def _failures_frame(failures: pd.DataFrame | None, region: Any) -> pd.DataFrame:
    """``lad_cd, lad_nm, reason`` of the failed boroughs (names filled from the region)."""
    if failures is None or not len(failures):
        return pd.DataFrame({"lad_cd": pd.Series(dtype=object), "lad_nm": pd.Series(dtype=object),
                             "reason": pd.Series(dtype=object)})
    missing = [c for c in ("lad_cd", "reason") if c not in failures.columns]
    if missing:
        raise RegionSummaryError(f"the failures table needs columns lad_cd and reason; missing {missing} "
                                 f"(has {list(failures.columns)})")
    names = region.boroughs.set_index("lad_cd")["lad_nm"]
    reason = failures["reason"].astype(object)
    out = pd.DataFrame({"lad_cd": failures["lad_cd"].astype(str),
                        "reason": reason.where(reason.notna(), "no reason given").astype(str)})
    given = failures["lad_nm"] if "lad_nm" in failures.columns else pd.Series(None, index=failures.index)
    out["lad_nm"] = given.where(given.notna(), out["lad_cd"].map(names)).astype(object)
    return out[["lad_cd", "lad_nm", "reason"]].reset_index(drop=True)


def _checked(region: Any, summaries: Sequence[Mapping], failed: pd.DataFrame) -> dict[str, Mapping]:
    """Summaries by LAD code; a summary outside the region, a borough twice, or a borough both
    run and failed is an error."""
    codes = set(region.boroughs["lad_cd"])
    by_lad: dict[str, Mapping] = {}
    for s in summaries:
        lad = str(s["lad_cd"])
        if lad not in codes:
            raise RegionSummaryError(f"summary of {s.get('lad_nm')} ({lad}) is not a borough of {region.title}")
        if lad in by_lad:
            raise RegionSummaryError(f"two summaries for {s.get('lad_nm')} ({lad})")
        by_lad[lad] = s
    strangers = sorted(set(failed["lad_cd"]) - codes)
    if strangers:
        raise RegionSummaryError(f"failures name codes that are not boroughs of {region.title}: {', '.join(strangers)}")
    both = sorted(set(failed["lad_cd"]) & set(by_lad))
    if both:
        raise RegionSummaryError(f"boroughs both run and failed: {', '.join(both)}")
    return by_lad


def region_census_totals(region: Any, settings: Settings) -> tuple[float | None, float | None]:
    """Census 2021 totals of the whole region: (MSOA sum, LTLA table total), people."""
    pack = load_pack(region.name, settings)
    root = settings.resolve_data_root()
    msoa = read_table(pack.table("census_msoa"), root, required=("lad_cd", "total"), numeric=("total",))
    msoa_sum = float(msoa.loc[msoa["lad_cd"].isin(set(region.boroughs["lad_cd"])), "total"].sum())
    return msoa_sum, census_lad_total(pack, root)


def population_check(region: Any, summaries: Sequence[Mapping], failures: pd.DataFrame | None,
                     settings: Settings, not_run: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Per borough and for the region: LSOA sum, Census MSOA sum, Census LTLA total, differences.

    Every borough of the region has a row (run, failed with its reason, or not reported); two
    total rows follow: the boroughs run, and the region's Census tables (the LTLA table says
    8,799,756 for London), compared with the summed LSOA population only when every borough ran
    (a subset is compared with its own Census MSOA sum on the first total row).  ``not_run`` maps
    the codes of boroughs deliberately left out (a subset run) to why: status ``not run``.
    """
    failed = _failures_frame(failures, region)
    by_lad = _checked(region, summaries, failed)
    reasons = failed.set_index("lad_cd")["reason"]
    rows = []
    for b in region.boroughs.sort_values("lad_cd").itertuples():
        s = by_lad.get(b.lad_cd, {})
        left_out = (not_run or {}).get(b.lad_cd)
        status = ("run" if s else "failed" if b.lad_cd in reasons.index else "not run" if left_out
                  else "not reported")
        rows.append({"Code": b.lad_cd, "Borough": b.lad_nm, "Status": status,
                     "Reason": reasons.get(b.lad_cd, "" if s else left_out or "no figures and no failure reported"),
                     "Population (LSOA sum)": s.get("population_lsoa_sum"), "Population at homes": s.get("pop_total"),
                     "Census 2021 MSOA sum": s.get("census_msoa_sum"), "Census 2021 LTLA total": s.get("census_ltla"),
                     "LSOA minus MSOA": s.get("lsoa_minus_msoa"), "LTLA minus MSOA": s.get("ltla_minus_msoa")})
    df = pd.DataFrame(rows, columns=list(POPULATION_COLUMNS))
    run = df[df["Status"] == "run"]
    n, n_all = len(run), len(df)
    sums = {c: (float(run[c].astype(float).sum()) if n and run[c].notna().all() else None)
            for c in list(POPULATION_COLUMNS)[4:]}
    msoa_all, ltla_all = region_census_totals(region, settings)
    lsoa_run = sums["Population (LSOA sum)"]
    totals = pd.DataFrame([
        {"Code": region.region_cd, "Borough": f"{region.title}: boroughs run ({n} of {n_all})",
         "Status": "total", "Reason": "", **sums},
        {"Code": region.region_cd, "Borough": f"{region.title}: Census 2021 tables (all {n_all} boroughs)",
         "Status": "total", "Reason": "" if n == n_all else f"{n_all - n} borough(s) not run: their people are missing",
         "Population (LSOA sum)": lsoa_run, "Population at homes": sums["Population at homes"],
         "Census 2021 MSOA sum": msoa_all, "Census 2021 LTLA total": ltla_all,
         "LSOA minus MSOA": None if lsoa_run is None or n < n_all else lsoa_run - msoa_all,
         "LTLA minus MSOA": None if ltla_all is None else ltla_all - msoa_all}])
    out = pd.concat([df, totals], ignore_index=True)
    for c in list(POPULATION_COLUMNS)[4:]:
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    return out


# ----------------------------------------------------------------------------- writing
def write_region_summary(region: Any, summaries: list[dict], failures: pd.DataFrame | None, out_dir: str | Path,
                         settings: Settings, not_run: Mapping[str, str] | None = None) -> list[Path]:
    """The region summary in ``out_dir`` (atomic writes); returns the paths written.

    Files (``<r>`` is ``region.name``, e.g. ``london``): ``<r>_league.csv`` (ranked boroughs and
    the region total; rounded for reading, formula-safe), ``<r>_population_check.csv`` (every
    borough, failed ones with their reason, and the region against its Census tables),
    ``<r>_map.html`` (offline: nothing loaded from the network), ``<r>_map.png``, ``README.txt``
    (every column) and ``summary.md`` (what the figures mean and what each borough lacks).

    Parameters
    ----------
    region : Region
        ``name, title, region_cd, boroughs (lad_cd, lad_nm), outlines, key_service_types``.
    summaries : list of dict
        :func:`borough_summary` of each borough that ran.
    failures : DataFrame or None
        ``lad_cd, reason`` (``lad_nm`` optional) of each borough that failed.
    out_dir : path
        Output folder (created).
    settings : Settings
        For the data root (the region's Census tables).
    not_run : mapping of str to str, optional
        Boroughs deliberately left out (a subset run: not chosen and no current results in the
        folder), code -> why; listed once in summary.md, status ``not run`` in the population check.
    """
    out = Path(out_dir)
    failed = _failures_frame(failures, region)
    by_lad = _checked(region, summaries, failed)
    ordered = [by_lad[c] for c in sorted(by_lad)]
    pop = population_check(region, ordered, failed, settings, not_run=not_run)
    written, dictionary = [], {}
    league = None
    if ordered:
        n, n_all = len(ordered), len(region.boroughs)
        league = league_table(ordered, total_name=f"{region.title} total ({n} of {n_all} boroughs)",
                              total_code=region.region_cd)
        specs = {c[0]: (c[1], c[2]) for c in league_columns(ordered)} | {"Rank": ("rank", "1 = the largest value "
                 "of the ranking column (the worst served); blank on the total row")}
        written.append(_write_table(league, specs, out / f"{region.name}_league.csv", dictionary))
    written.append(_write_table(pop, POPULATION_COLUMNS, out / f"{region.name}_population_check.csv", dictionary))
    missing = pop.loc[pop["Status"].isin(["not reported", "not run"]), ["Code", "Borough", "Reason"]]
    shown_failed = pd.concat([failed, missing.set_axis(["lad_cd", "lad_nm", "reason"], axis=1)], ignore_index=True)
    written += _write_maps(region, ordered, shown_failed, league, out)
    notes = (f"The {region.title} summary of a locmap batch. summary.md says what the figures mean, which "
             "boroughs failed and what data each borough lacks.")
    written.append(export.write_text(out / "README.txt", data_dictionary_text(
        pd.concat(dictionary.values(), ignore_index=True), f"locmap {region.title} summary", notes)))
    written.append(export.write_text(out / "summary.md", summary_markdown(region, ordered, failed, league, pop)))
    return written


def _write_table(df: pd.DataFrame, specs: Mapping[str, tuple[str, str]], path: Path, dictionary: dict) -> Path:
    """``df`` rounded for reading (units from ``specs``), formula-safe; its columns added to ``dictionary``."""
    def describe(name: str, _table: str = "") -> tuple[str, str]:
        return specs[name]

    dictionary[path.stem] = pd.DataFrame([{"file": path.stem, "column": c, "unit": specs[c][0],
                                           "description": specs[c][1]} for c in df.columns])
    return export.write_csv(readable(df, describe, path.stem), path)


def _map_figures(summaries: Sequence[Mapping]) -> tuple[pd.DataFrame, list[RegionLayer], list[tuple[str, str]]]:
    """Per borough: the mapped percentages (children 0-4 beyond the middle threshold) and tooltip text."""
    if not summaries:
        return pd.DataFrame({"lad_cd": pd.Series(dtype=object)}), [
            RegionLayer("none", "Any key service", "children 0-4 beyond the threshold")], []
    key_types, _thr, m = _consistent(summaries)
    types = [ANY, *key_types]
    layers = [RegionLayer(field_name("pct_beyond", t, "pop_0_4", m), _cap(type_label(t)),
                          f"% of children 0-4 beyond {m:g} min of {'any key service' if t == ANY else 'a ' + type_label(t)}")
              for t in types]
    rows = []
    for s in summaries:
        r = {"lad_cd": s["lad_cd"], "Children 0-4": _people(s.get("pop_0_4"))}
        r.update({layer.column: s.get(layer.column) for layer in layers})
        any_beyond = s.get(field_name("people_beyond", ANY, "pop_0_4", m))
        r[f"Children 0-4 beyond {m:g} min of any key service"] = _people(any_beyond)
        for t in key_types:
            r[f"% beyond {m:g} min: {type_label(t)}"] = _pct_text(s.get(field_name("pct_beyond", t, "pop_0_4", m)))
        r["% whose nearest key service is in another borough"] = _pct_text(
            s.get(field_name("pct_cross_border", ANY, "pop_0_4")))
        for t in key_types:
            v = s.get(field_name("fca_per_1000", t))
            r[f"2SFCA {type_label(t)} per 1,000"] = "not computed" if v is None else f"{v:,.3g}"
        r["Distances"] = s.get("distance_label")
        r["Data gaps"] = "; ".join(s.get("data_gaps", [])) or "none"
        rows.append(r)
    figures = pd.DataFrame(rows)
    tooltip = [(c, c) for c in figures.columns if c not in {"lad_cd", *(lyr.column for lyr in layers)}]
    return figures, layers, tooltip


def _people(v: Any) -> str:
    return "no figure" if v is None else f"{float(v):,.0f}"


def _pct_text(v: Any) -> str:
    return "no figure" if v is None else f"{float(v):.1f}%"


def _write_maps(region: Any, summaries: Sequence[Mapping], failed: pd.DataFrame, league: pd.DataFrame | None,
                out: Path) -> list[Path]:
    """``<r>_map.html`` (offline) and ``<r>_map.png`` of the headline figure."""
    figures, layers, tooltip = _map_figures(summaries)
    m = float(summaries[0]["middle_minutes"]) if summaries else 15.0
    title = f"{region.title}: children 0-4 beyond {m:g} minutes' pram-pushing of a key service"
    subtitle = f"{_headline_text(region, summaries, league)}. {edge_note(region)}"
    legend = f"% of children 0-4 beyond {m:g} min"
    html = build_region_map(region.outlines, figures, layers, tooltip, failed, title=title, subtitle=subtitle,
                            legend_title=legend)
    written = [save_map(html, out / f"{region.name}_map.html", offline=True)]
    fig = region_figure(region.outlines, figures, layers[0].column, failed, title=title, subtitle=subtitle,
                        legend_title=f"{legend}\nof any key service")
    written += save_figure(fig, out / f"{region.name}_map", formats=("png",))
    return written


def _headline_text(region: Any, summaries: Sequence[Mapping], league: pd.DataFrame | None) -> str:
    """One line: the region's headline figure, how many boroughs it covers and the distance method."""
    n_all = len(region.boroughs)
    if league is None or not summaries:
        return f"No borough of {n_all} ran: no figures"
    m = float(summaries[0]["middle_minutes"])
    total = league.iloc[-1]
    pct = total[headline_column(m)]
    people = total[f"Children 0-4 beyond {m:g} min: any key service"]
    keys = ", ".join(type_label(t) for t in summaries[0]["key_types"])
    return (f"{len(summaries)} of {n_all} boroughs: {_pct_text(None if pd.isna(pct) else pct)} of children 0-4 "
            f"({_people(None if pd.isna(people) else people)} of {_people(total['Children 0-4'])}) beyond "
            f"{m:g} min of any key service ({keys}); distances: {total['Distance method']}")


# ----------------------------------------------------------------------------- summary.md
#: Characters escaped in data text written to Markdown (backslash-escaped) ...
_MD_SPECIAL = set("\\`*_{}[]|$~^")
#: ... and those written as HTML entities (no tag or entity from data reaches a renderer).
_MD_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def md_text(value: Any) -> str:
    """Text from data made inert for Markdown: no emphasis, link, code, HTML, math or table syntax."""
    text = " ".join(str(value).split())
    return "".join(_MD_ENTITIES.get(ch, "\\" + ch if ch in _MD_SPECIAL else ch) for ch in text)


def edge_note(region: Any) -> str:
    """The map's caveat for the region's outer boroughs (services beyond the region are not in the data)."""
    n_edge = len(edge_boroughs(region.outlines))
    return (f"Services outside {region.title} are not in the data: in the {n_edge} outer boroughs, families near "
            "the edge may have a nearer service than shown")


def edge_boroughs(outlines: Any, min_shared_m: float = 200.0) -> set[str]:
    """LAD codes of the boroughs on the outer edge of the region (more than ``min_shared_m``
    metres of their boundary on the region's outline; EPSG:27700)."""
    metric = outlines.to_crs("EPSG:27700")
    outer = metric.geometry.union_all().boundary.buffer(5.0)
    shared = metric.geometry.boundary.intersection(outer).length
    return set(metric.loc[shared.to_numpy() > min_shared_m, "lad_cd"].astype(str))


def summary_markdown(region: Any, summaries: Sequence[Mapping], failed: pd.DataFrame,
                     league: pd.DataFrame | None, pop: pd.DataFrame) -> str:
    """``summary.md``: the headline, what the figures mean, failed boroughs, data gaps per borough."""
    lines = [f"# {md_text(region.title)}: pram-distance gaps, borough by borough", "",
             md_text(_headline_text(region, summaries, league)), ""]
    if league is not None:
        lines += _ranking_lines(league, float(summaries[0]["middle_minutes"])) + [""]
    lines += _population_lines(pop) + [""] + _meaning_lines(region, summaries) + [""]
    lines += ["## Boroughs not run", ""] + _not_run_lines(failed, pop)
    lines += ["", "## What each borough's data lacks", ""]
    edge = edge_boroughs(region.outlines)
    for s in summaries:
        gaps = list(s.get("data_gaps", []))
        if s["lad_cd"] in edge:
            gaps.append(f"on the edge of {region.title}: services outside it are not in the data, so families "
                        "near the outer edge may have a nearer service than shown")
        lines.append(f"- **{md_text(s['lad_nm'])}**: " + ("; ".join(md_text(g) for g in gaps) or "nothing noted"))
    lines += ["", "## Files", "",
              f"- `{region.name}_league.csv`: one row per borough, ranked, and the {md_text(region.title)} total",
              f"- `{region.name}_population_check.csv`: population conserved, borough by borough and in total",
              f"- `{region.name}_map.html` (works offline) and `{region.name}_map.png`: the headline figure per borough",
              "- `README.txt`: every column of the CSV files", ""]
    return "\n".join(lines)


def _not_run_lines(failed: pd.DataFrame, pop: pd.DataFrame) -> list[str]:
    """Failed boroughs one by one; boroughs left out of a subset run grouped by reason (names
    only); "None" only when every borough of the region has figures."""
    lines = [f"- {md_text(r.lad_nm)} ({md_text(r.lad_cd)}): failed: {md_text(r.reason)}" for r in failed.itertuples()]
    left_out = pop[pop["Status"] == "not run"]
    for reason, group in left_out.groupby("Reason", sort=False):
        lines.append(f"- {len(group)} borough(s) ({md_text(reason)}): " + ", ".join(md_text(b) for b in group["Borough"]))
    not_reported = pop[pop["Status"] == "not reported"]
    lines += [f"- {md_text(r.Borough)} ({md_text(r.Code)}): no figures and no failure reported"
              for r in not_reported.itertuples()]
    return lines or ["None: every borough ran."]


def _ranking_lines(league: pd.DataFrame, m: float) -> list[str]:
    col = headline_column(m)
    ranked = league[league["Rank"].notna() & league[col].notna()]
    if not len(ranked):
        return []
    top = ", ".join(f"{md_text(r['Borough'])} ({r[col]:.1f}%)" for _, r in ranked.head(3).iterrows())
    low = ", ".join(f"{md_text(r['Borough'])} ({r[col]:.1f}%)" for _, r in ranked.tail(3)[::-1].iterrows())
    return [f"- Most children 0-4 beyond {m:g} min of any key service: {top}.",
            f"- Fewest: {low}."]


def _population_lines(pop: pd.DataFrame) -> list[str]:
    run, census = pop.iloc[-2], pop.iloc[-1]

    def num(v: Any) -> str:
        return "unknown" if pd.isna(v) else f"{v:,.0f}"

    return ["## Population conserved", "",
            f"- {md_text(run['Borough'])}: LSOA sum {num(run['Population (LSOA sum)'])}, Census 2021 MSOA sum "
            f"{num(run['Census 2021 MSOA sum'])} (difference {num(run['LSOA minus MSOA'])}); Census LTLA table "
            f"{num(run['Census 2021 LTLA total'])} (LTLA minus MSOA {num(run['LTLA minus MSOA'])}).",
            f"- {md_text(census['Borough'])}: MSOA sum {num(census['Census 2021 MSOA sum'])}, LTLA table "
            f"{num(census['Census 2021 LTLA total'])} (LTLA minus MSOA {num(census['LTLA minus MSOA'])}); "
            + (f"boroughs run minus MSOA sum: {num(census['LSOA minus MSOA'])}." if pd.notna(census['LSOA minus MSOA'])
               else "not compared with the boroughs run (not every borough ran: the line above compares them "
                    "with their own MSOA sum)."),
            "- The two Census tables differ by a few people per borough (statistical disclosure perturbation); "
            "every figure here uses the MSOA-based LSOA population."]


def _meaning_lines(region: Any, summaries: Sequence[Mapping]) -> list[str]:
    if not summaries:
        return []
    s = summaries[0]
    keys = ", ".join(type_label(t) for t in s["key_types"])
    extra = sorted({t for x in summaries for t in x.get("extra_types", [])})
    lines = ["## What the figures mean", "",
             f"- Minutes are pram-pushing time at {s['walk_speed_kmh']:g} km/h from each home (postcode centroid, "
             f"carrying its LSOA's people) to the nearest service of a type, in any borough; distances: "
             f"{md_text(s['distance_label'])}.",
             f"- 'Beyond {s['middle_minutes']:g} min' counts the people whose nearest service is more than that; homes "
             "that reach no service of the type count as beyond (the league table says how many).",
             f"- 'Any key service' is the nearest of: {keys}. The same types in every borough, so boroughs compare.",
             "- Totals are computed from the summed people, never as a mean of borough percentages.",
             "- Cross-border shares: children whose nearest service of the type lies in another borough.",
             "- 2SFCA (two-step floating catchment): each service's capacity shared among everyone within "
             f"{s['middle_minutes']:g} min of it, summed per home and averaged over the borough's demand. Units:"]
    lines += [f"  - {type_label(t)}: {md_text(s.get(field_name('fca_unit', t)) or 'not computed')}" for t in s["key_types"]]
    if extra:
        lines.append("- Types only some packs list (" + ", ".join(type_label(t) for t in extra) + ") are in "
                     "those boroughs' own figures only: not comparable across the region.")
    return lines
