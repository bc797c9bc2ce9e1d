"""Build the :class:`~locmap.data.area.AreaData` bundle of an area pack (the data layer's one entry point)."""
from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
from tqdm.auto import tqdm

from locmap.data.bundle import AreaData, LookupArea
from locmap.data.boundaries import load_boundaries
from locmap.errors import PopulationError
from locmap.export import ATTRIBUTION
from locmap.data.homes import assign_lsoa21, build_homes, build_neighbour_homes, load_postcodes
from locmap.data.region import load_pack
from locmap.data.pcn import build_footprints, load_membership
from locmap.data.population import (aggregate_deprivation, aggregate_population, children_low_income, deprivation,
                                lsoa11_population_scaled, lsoa21_population)
from locmap.bands import BANDS
from locmap.data.services import build_register
from locmap.settings import Settings


def build_area(name: str, settings: Settings, user_services: str | Path | None = None) -> AreaData:
    """Load, validate and join every layer of the area pack ``name``.

    Steps: manifest -> boundaries (wards, towns, LSOA 2021, borough, neighbours) -> postcodes ->
    LSOA population (Census 2021 conserved) + IoD2025 -> service register (+ user file) ->
    homes -> PCN membership and approximate footprints -> aggregates per ward/town/PCN.
    """
    t0 = time.perf_counter()
    pack = load_pack(name, settings)
    if pack.network:  # measured on the pack's street network: a derived buffer follows that ruler
        settings = settings.for_street_network()
    root = settings.resolve_data_root()
    steps = tqdm(total=6, desc=f"loading {pack.name}", disable=not settings.progress, leave=False)
    b = load_boundaries(pack, root)
    notes = list(b.notes)
    steps.update()
    pcodes, unit_of, merged = _postcodes(pack, root, b)
    steps.update()
    lsoa, pop_check = _lsoa_population(pack, root, b, pcodes, unit_of, merged)
    steps.update()
    reg = _register(pack, root, b, pcodes, settings, user_services)
    notes += reg.notes
    steps.update()
    max_stacked = int(pack.table("postcodes").options.get("max_stacked_for_homes", 3))
    homes, homes_report = build_homes(pcodes, lsoa, pack.lad_cd, max_stacked=max_stacked, crs=pack.crs)
    steps.update()
    members, pcn_diffs, n = load_membership(pack, root)
    notes += n
    lsoa, pcns = _pcn_footprints(pack, lsoa, homes, members, reg.services, notes)
    steps.update()
    steps.close()
    wards, towns = _aggregates(pack, root, b, lsoa, pcns)
    notes += _uncertain_towns(b.wards)
    area = AreaData(pack=pack, settings=settings, wards=wards, lsoa=lsoa, towns=towns, pcns=pcns,
                    pcn_members=members, borough=b.borough, neighbour_wards=b.neighbour_wards,
                    services=reg.services, rejects=reg.rejects, homes=homes, attribution=ATTRIBUTION,
                    notes=notes)
    area.checks = {"tiling": b.tiling, "population": pop_check, "homes": homes_report,
                   "services_accounting": reg.accounting, "pcn_membership_differences": pcn_diffs,
                   "load_seconds": time.perf_counter() - t0}
    area.postcodes = pcodes
    if pack.neighbour_lad_cds:
        npop = lsoa11_population_scaled(pack, root, pack.neighbour_lad_cds)
        area.neighbour_homes, area.checks["neighbour_homes"] = build_neighbour_homes(
            pcodes, npop, b.borough.geometry.iloc[0], settings.buffer_m, max_stacked=max_stacked, crs=pack.crs)
    return area


def build_lookup_area(pack, settings: Settings, user_services: str | Path | None = None) -> LookupArea:
    """The layers of ``pack`` a postcode look-up reads, validated and joined as :func:`build_area`
    does them (the same steps, so the same services and postcodes): boundaries -> postcodes with
    their LSOA 2021 -> service register.  Population, homes, PCNs and aggregates are not loaded."""
    root = settings.resolve_data_root()
    b = load_boundaries(pack, root)
    pcodes, _, _ = _postcodes(pack, root, b)
    reg = _register(pack, root, b, pcodes, settings, user_services)
    return LookupArea(pack=pack, settings=settings, borough=b.borough, neighbour_wards=b.neighbour_wards,
                      services=reg.services, rejects=reg.rejects, postcodes=pcodes, attribution=ATTRIBUTION,
                      notes=(*b.notes, *reg.notes))


def _postcodes(pack, root: Path, b) -> tuple:
    """Postcodes with their LSOA 2021 (or the merged unit holding it), the LSOA -> unit map and
    the merged LSOAs (split LSOAs without polygons merge into their parent's polygon)."""
    pcodes = load_postcodes(pack, root)
    unit_of = b.lsoa_members.set_index("child_cd")["lsoa21cd"]
    merged = unit_of[unit_of.index != unit_of.to_numpy()]
    pcodes["lsoa21cd"] = assign_lsoa21(pcodes, pack, root, b.lsoa, unit_of=merged.to_dict())
    return pcodes, unit_of, merged


def _lsoa_population(pack, root: Path, b, pcodes, unit_of, merged) -> tuple:
    """Population and deprivation per LSOA 2021, combined into units (identity unless merged)."""
    children = b.lsoa_members.rename(columns={"lsoa21cd": "unit", "child_cd": "lsoa21cd"})
    pop21, pop_check = lsoa21_population(pack, root, children, postcodes=pcodes)
    dep = aggregate_deprivation(deprivation(pack, root, children["lsoa21cd"]),
                                pop21.set_index("lsoa21cd")["pop_total"], merged)
    pop = pop21.assign(lsoa21cd=pop21["lsoa21cd"].map(unit_of)).groupby("lsoa21cd", as_index=False).sum()
    pop_check["n_units"] = int(len(pop))
    lsoa = b.lsoa.merge(pop, on="lsoa21cd", how="left")
    lsoa = lsoa.merge(dep.drop(columns=[c for c in dep.columns if c in ("lsoa21nm", "lad_cd")], errors="ignore"),
                      on="lsoa21cd", how="left")
    return lsoa, pop_check


def _register(pack, root: Path, b, pcodes, settings: Settings, user_services: str | Path | None):
    """The service register (pack sources + the user's file, its sheet from the settings)."""
    sheet = settings.user_services_sheet
    return build_register(pack, root, b.borough.geometry.iloc[0], pcodes, settings.buffer_m,
                          user_csv=user_services, crs=pack.crs,
                          user_sheet=int(sheet) if sheet is not None and str(sheet).isdigit() else sheet)


def _pcn_footprints(pack, lsoa, homes, members, services, notes: list[str]) -> tuple:
    """PCN of every LSOA and home (approximate footprints) and the PCN layer with population;
    without a membership table the PCN columns are empty."""
    if not len(members):
        lsoa["pcn_code"] = None
        lsoa["pcn_name"] = None
        return lsoa, gpd.GeoDataFrame(columns=["pcn_code", "pcn_name"], geometry=[], crs=pack.crs)
    assign, pcns, n = build_footprints(lsoa, homes, members, services)
    notes += n
    lsoa = lsoa.merge(assign[["lsoa21cd", "pcn_code", "pcn_name"]], on="lsoa21cd", how="left")
    homes["pcn_code"] = homes["lsoa21cd"].map(assign.set_index("lsoa21cd")["pcn_code"])
    return lsoa, pcns.merge(aggregate_population(lsoa, "pcn_code"), on="pcn_code", how="left")


def _aggregates(pack, root: Path, b, lsoa, pcns) -> tuple:
    """Ward and town layers with population (and children in low-income families per ward);
    every level must conserve every band of the LSOA total."""
    wards = b.wards.merge(aggregate_population(lsoa, "ward_cd"), on="ward_cd", how="left")
    cil = children_low_income(pack, root, wards["ward_cd"])
    if len(cil):
        wards = wards.merge(cil, on="ward_cd", how="left")
    towns = b.towns.merge(aggregate_population(lsoa, "town"), on="town", how="left")
    for level, frame in (("wards", wards), ("towns", towns), ("pcns", pcns)):
        for band in BANDS:
            if abs(frame[band].sum() - lsoa[band].sum()) > 1e-6 * lsoa[band].sum():
                raise PopulationError(f"{level} do not conserve {band}")
    return wards, towns


def _uncertain_towns(wards) -> list[str]:
    uncertain = [w for w in wards.loc[~wards["town_confidence"].str.lower().isin(["high", "none"]), "ward_nm"]]
    return ["town assignment uncertain for wards: " + ", ".join(sorted(uncertain))] if uncertain else []
