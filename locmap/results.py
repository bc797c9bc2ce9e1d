"""Named, frozen results of the library steps (``locmap.api``), each able to write itself.

One step's result is the next step's input: :class:`AccessAnalysis` (distances computed once)
feeds :class:`LocalityAnalysis`, hub sites and the maps; nothing is recomputed and no step goes
through the command line.  Each result also answers ``result["name"]`` for its fields, so code
written against the earlier dict-returning functions keeps working.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from locmap import export
from locmap.access import columns as access_columns
from locmap.access import nearest as acc
from locmap.bands import BAND_LABELS
from locmap.distance.calibration import distance_model_record
from locmap.geopackage import write_styled_gpkg
from locmap.localities.columns import describe_column as locality_column
from locmap.settings import Settings
from locmap.tables import add_names, csv_columns, data_dictionary_text, data_dictionary, readable, write_readable_tables


class _Fields:
    """``result["name"]`` and ``result.keys()`` for a dataclass result."""

    def __getitem__(self, name: str) -> Any:
        if name not in self.keys():
            raise KeyError(name)
        return getattr(self, name)

    def keys(self) -> list[str]:
        return [f.name for f in fields(self)] + list(getattr(self, "_extra_keys", ()))

    def __contains__(self, name: object) -> bool:
        return name in self.keys()

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in self.keys()]


def write_table(df: pd.DataFrame, out: Path, stem: str, fmt: str = "csv", describe=None) -> list[Path]:
    """Write ``df`` as ``<stem>.csv`` (rounded for reading when ``describe`` is given, see
    :mod:`locmap.tables`) and/or ``<stem>.parquet`` (full precision; ``fmt``: csv, parquet, both)."""
    written = []
    if fmt in ("csv", "both"):
        csv = readable(df.drop(columns="geometry", errors="ignore"), describe, stem) if describe else df
        written.append(export.write_csv(csv, out / f"{stem}.csv"))
    if fmt in ("parquet", "both"):
        written.append(export.write_parquet(_parquet_safe(df), out / f"{stem}.parquet"))
    return written


def _parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding mixed ids (str/int/None) become strings for Arrow."""
    df = pd.DataFrame(df.drop(columns="geometry") if "geometry" in df.columns else df)
    for c in df.columns:
        if df[c].dtype == object:
            kinds = {type(v) for v in df[c].dropna()}
            if len(kinds) > 1:
                df[c] = df[c].map(lambda v: None if v is None or v is pd.NA else str(v))
    return df


def _gpkg_safe(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Nullable booleans -> Int8 (0/1/NULL) and mixed object columns -> text for GeoPackage."""
    gdf = gdf.copy()
    for c in gdf.columns:
        if c == gdf.geometry.name:
            continue
        if str(gdf[c].dtype) == "boolean":
            gdf[c] = gdf[c].astype("Int8")
        elif gdf[c].dtype == object:
            gdf[c] = gdf[c].map(lambda v: None if v is None or v is pd.NA else str(v))
    return gdf


# ----------------------------------------------------------------------------------- access
@dataclass(frozen=True)
class AccessAnalysis(_Fields):
    """Everything measured from homes to services, computed once per run.

    Attributes
    ----------
    result : AccessResult
        Distances (tidy ``table`` and per-home ``wide``), method and label.
    router : Router
        The router used (street or estimated), reused for hub sites.
    coverage : DataFrame
        People within/beyond each threshold per area level, service type and age band.
    coverage_total : DataFrame
        The borough rows of ``coverage``.
    gap_summaries : dict of str -> DataFrame
        People beyond each threshold per area, one table per level (lsoa, ward, town, pcn).
    gap_areas_all : GeoDataFrame
        Contiguous gap areas for every type x threshold (EPSG:27700).
    gap_areas : GeoDataFrame
        The gap areas of "any key service" and the key types at ``gap_minutes``.
    fca_homes, fca_services, fca_areas : DataFrame
        Two-step floating catchment scores (empty when not computed).
    cross_border, cross_border_services, straight_vs_street, calibration : DataFrame
        Report tables (see :func:`locmap.api.analyse_access`).
    crossborder_shares : DataFrame
        Children (0-4, 0-19) whose nearest service of each type lies in another borough, by ward,
        town and PCN footprint (:func:`locmap.access.crossborder.crossborder_shares`).
    gap_minutes, cell_m, gap_band
        Parameters of the gap areas (minutes, metres, age-band column).
    """

    result: acc.AccessResult
    router: Any
    coverage: pd.DataFrame
    coverage_total: pd.DataFrame
    gap_summaries: dict
    gaps_by_pcn: pd.DataFrame
    gap_areas_all: gpd.GeoDataFrame
    gap_areas: gpd.GeoDataFrame
    fca_homes: pd.DataFrame
    fca_services: pd.DataFrame
    fca_areas: pd.DataFrame
    cross_border: pd.DataFrame
    crossborder_shares: pd.DataFrame
    cross_border_services: pd.DataFrame
    straight_vs_street: pd.DataFrame
    calibration: pd.DataFrame
    gap_minutes: float = 15.0
    cell_m: float = 250.0
    gap_band: str = "pop_0_4"
    _extra_keys = ("method", "label", "summary", "gaps_by_town", "unreachable",
                   "excluded_services")

    @property
    def method(self) -> str:
        return self.result.method

    @property
    def label(self) -> str:
        return self.result.label

    @property
    def settings(self) -> Settings:
        return self.result.settings

    @property
    def summary(self) -> pd.DataFrame:
        return self.result.summary()

    @property
    def gaps_by_town(self) -> pd.DataFrame:
        return self.gap_summaries.get("town", pd.DataFrame())

    @property
    def unreachable(self) -> pd.DataFrame:
        return self.result.unreachable.copy()

    @property
    def excluded_services(self) -> pd.DataFrame:
        return self.result.excluded_services

    def tables(self) -> dict[str, pd.DataFrame]:
        """``file stem -> table`` of everything ``locmap access`` writes as CSV/Parquet."""
        res = self.result
        t = {"nearest": res.table, "coverage": self.coverage}
        if len(self.crossborder_shares):
            t["crossborder_shares"] = self.crossborder_shares
        for lvl, df in self.gap_summaries.items():
            t[f"gap_summary_{lvl}"] = df
        if len(self.fca_homes):
            t.update(fca_homes=self.fca_homes, fca_services=self.fca_services, fca_areas=self.fca_areas)
        unr = res.unreachable.copy()
        unr["method"], unr["label"] = res.method, res.label
        t["unreachable"] = unr
        exc = pd.concat([res.excluded_services, res.skipped_types.assign(service_id=None, name=None)],
                        ignore_index=True)
        exc["method"], exc["label"] = res.method, res.label
        t["excluded_services"] = exc
        return t

    def write(self, out_dir: str | Path, fmt: str = "csv", area_name: str = "",
              attribution: str | None = None, service_names: Mapping | pd.Series | None = None) -> list[Path]:
        """Write the tables (CSV rounded for reading, Parquet at full precision), ``gaps.gpkg``,
        ``homes_access.gpkg`` and ``README.txt`` (method, then every column); atomic writes.
        ``service_names`` (service id -> name) puts names beside the ids of ``nearest``."""
        out = Path(out_dir)
        tables = self.tables()
        if service_names is not None:
            tables["nearest"] = add_names(tables["nearest"], "service_id", service_names, "service_name")
        written = []
        for stem, df in tables.items():
            written += write_table(df, out, stem, fmt, access_columns.describe_column)
        written.append(write_styled_gpkg({"gaps": _gpkg_safe(self.gap_areas_all)}, out / "gaps.gpkg"))
        written.append(export.write_text(out / "distance_model.json", json.dumps(distance_model_record(
            self.router, self.result.wide, self.result.service_types,
            [self.result.area_lad_cd] if self.result.area_lad_cd else []), indent=2, default=str)))
        written.append(write_styled_gpkg({"homes_access": _gpkg_safe(self.result.wide)},
                                         out / "homes_access.gpkg"))
        # the dictionary needs the CSV copies' column names only: those of an empty table's copy
        dictionary = data_dictionary({k: csv_columns(v.drop(columns="geometry", errors="ignore"))
                                      for k, v in tables.items()}, access_columns.describe_column, strict=False)
        text = self.readme(area_name, attribution) + "\n" + data_dictionary_text(dictionary, "Columns")
        written.append(export.write_text(out / "README.txt", text))
        return written

    def readme(self, area_name: str, attribution: str | None = None) -> str:
        """The access folder's README.txt: method, speed, thresholds, gap areas, attribution."""
        res, s = self.result, self.result.settings
        thresholds = [float(t) for t in s.thresholds_minutes]
        lines = [
            f"locmap access - area '{area_name}'",
            "",
            f"Distances: {res.label} (method = '{res.method}').",
            f"Pram-pushing speed: {s.walk_speed_kmh:.1f} km/h "
            f"({s.metres_per_minute:.1f} m per minute); profile '{s.profile}'.",
            ("Minutes = pram_cost_m / speed: pram penalties apply (pram_cost_m = the route in "
             "equivalent flat, paved metres; distance_m = its physical length)."
             if res.minutes_from == "pram_cost_m" else "Minutes = distance_m / speed (no pram penalties)."),
            f"Thresholds: {', '.join(f'{t:g}' for t in thresholds)} minutes "
            f"(= {', '.join(f'{s.minutes_to_metres(t):.0f}' for t in thresholds)} m).",
            f"Service types: {', '.join(res.service_types)}.",
            f"'{acc.ANY_KEY}' = nearest of the key types {', '.join(res.key_service_types)}.",
            f"Gap areas: hexagons of {self.cell_m:g} m holding {BAND_LABELS[self.gap_band]} "
            "beyond the threshold, joined where they share an edge.",
            "Straight-line columns (pct_within_straight) are a comparison only: "
            f"{acc.STRAIGHT_LABEL}.",
            "",
            "Notes:",
            *[f"- {n}" for n in res.notes],
            "",
            "Attribution: " + (attribution or export.ATTRIBUTION),
            "",
        ]
        return "\n".join(lines)


# ------------------------------------------------------------------------------- localities
@dataclass(frozen=True)
class LocalityAnalysis(_Fields):
    """Scorecards, ranking and sensitivity of candidate locality schemes (one run).

    ``schemes``, ``scorecards``, ``rankings``, ``sensitivity``, ``assignments`` are
    ``scheme name -> object``; ``crosstabs`` is ``"<a>_vs_<b>" -> DataFrame``; ``leaders`` has
    one row per scheme; ``meta`` records weights, draws, seed, speeds and thresholds.
    """

    schemes: dict
    scorecards: dict
    rankings: dict
    sensitivity: dict
    assignments: dict
    crosstabs: dict
    generated: pd.DataFrame
    generated_list: list
    best_generated: str | None
    alignment: pd.DataFrame
    leaders: pd.DataFrame
    column_descriptions: pd.DataFrame
    meta: dict = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """``file stem -> DataFrame`` (the file names ``locmap localities`` writes)."""
        t: dict[str, pd.DataFrame] = {}
        if len(self.generated):
            t["generated_schemes"] = self.generated
        for name in self.scorecards:
            t[f"scorecard_{name}"] = self.scorecards[name]
            t[f"ranking_{name}"] = self.rankings[name]
            t[f"sensitivity_{name}"] = self.sensitivity[name]
            t[f"assignment_{name}"] = self.assignments[name]
            for k, v in self.crosstabs.items():
                if k.startswith(f"{name}_vs_"):
                    t[f"crosstab_{k}"] = v
        t["alignment"] = self.alignment
        if len(self.column_descriptions):
            t["scorecard_columns"] = self.column_descriptions
        return t

    def write(self, out_dir: str | Path) -> list[Path]:
        """The tables as CSV (rounded for reading), a ``README.txt`` describing every column and
        ``localities_run.json`` (weights, draws, seed, speeds, thresholds); atomic writes."""
        out = Path(out_dir)
        written = write_readable_tables(self.tables(), out, locality_column, "locmap localities")
        written.append(export.write_text(out / "localities_run.json", json.dumps(self.meta, indent=2)))
        return written


# ------------------------------------------------------------------------------------ sites
@dataclass(frozen=True)
class SitesResult(_Fields):
    """Hub-site suggestion for one locality: chosen ``sites``, ``gain`` per added site, ``summary``."""

    sites: pd.DataFrame
    gain: pd.DataFrame
    summary: pd.DataFrame
    locality: str
    stem: str

    def write(self, out_dir: str | Path) -> list[Path]:
        out = Path(out_dir)
        return [export.write_csv(getattr(self, k), out / f"{prefix}_{self.stem}.csv")
                for k, prefix in (("sites", "sites"), ("gain", "sites_gain"), ("summary", "sites_summary"))]


# ------------------------------------------------------------------------------------- maps
@dataclass(frozen=True)
class MapInputs(_Fields):
    """Analytic layers for maps and sheets (any may be ``None``) and notes about them."""

    access: gpd.GeoDataFrame | None = None
    method: str | None = None
    gaps: gpd.GeoDataFrame | None = None
    localities: gpd.GeoDataFrame | None = None
    scorecard: pd.DataFrame | None = None
    crossborder: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()
    #: suggested hub sites drawn on the map (``SitesResult.sites`` rows with a ``locality`` column)
    sites: pd.DataFrame | None = None
    #: the recommended locality (marked on the map and named in its title box)
    recommended: str | None = None


# -------------------------------------------------------------------------------------- run
@dataclass(frozen=True)
class RunResult(_Fields):
    """The main job: every step's result, the recommendation (locality, rule, evidence), the hub
    sites of the recommended locality and the runner-up, and the files written."""

    out_dir: Path
    access: AccessAnalysis
    localities: LocalityAnalysis
    recommendation: Any
    sites: tuple
    files: tuple[Path, ...]
    timings: Mapping[str, float]
