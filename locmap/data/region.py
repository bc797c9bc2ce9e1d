"""Regions: one file (``data/regions/<name>.toml``) that yields an area pack per borough.

A region file holds the part of an area pack shared by every borough (``[pack]``: London-wide
files, columns, service sources), the files that hold ward polygons (``[wards]``) and the
boroughs that keep a hand-written pack (``[own_packs]``).  The boroughs themselves, their names
and their neighbours come from the data (the pack's ``boroughs`` layer), never from a list.

Area names (accepted wherever an area name is: ``load_area``, ``--area``):

- ``london`` — the whole region as one area (every borough's homes and services in one run);
- ``london:camden`` — one borough (slug of its name; its LAD code also works:
  ``london:E09000007``); a borough in ``[own_packs]`` (Ealing) resolves to its own pack.
"""
from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from locmap.data import memo
from locmap.data.io import read_layer
from locmap.data.manifest import (AreaPack, LayerSpec, available_areas, load_manifest, manifest_path,
                                  parse_manifest, read_toml)
from locmap.errors import ManifestError
from locmap.settings import Settings

__all__ = ["Region", "load_region", "available_regions", "load_pack", "borough_manifest", "region_manifest",
           "area_input_files", "pack_input_files", "slugify"]

#: separates a region from a borough in an area name (``london:camden``)
SEP = ":"


@dataclass(frozen=True)
class Region:
    """A region's boroughs, found from its boundaries layer.

    Attributes
    ----------
    name, title : str
        Region id (``london``) and display name (``Greater London``).
    region_cd, region_nm : str
        ONS region code and name (``E12000007``, ``London``).
    boroughs : DataFrame
        ``lad_cd, lad_nm, slug, area, own_pack, neighbour_lad_cds, ward_source``, sorted by
        ``lad_cd``; ``area`` is the area name to load (``london:camden``, or ``ealing`` for a
        borough with its own pack); ``ward_source`` is the ward polygon file or ``"best-fit"``.
    outlines : GeoDataFrame
        ``lad_cd, lad_nm, geometry`` (EPSG:27700): the boroughs layer.
    key_service_types : tuple of str
        The key types every borough's pack shares (compared region-wide).
    raw : dict
        The region file.
    path : Path
        The region file.
    """

    name: str
    title: str
    region_cd: str
    region_nm: str
    boroughs: pd.DataFrame
    outlines: gpd.GeoDataFrame
    key_service_types: tuple[str, ...]
    raw: dict
    path: Path

    def borough(self, key: str) -> pd.Series:
        """The borough row for a slug, LAD code or name (case-insensitive); an error lists them."""
        k = str(key).strip().lower()
        b = self.boroughs
        hit = b[(b["slug"] == k) | (b["lad_cd"].str.lower() == k) | (b["lad_nm"].str.lower() == k)]
        if hit.empty:
            raise ManifestError(f"no borough '{key}' in region '{self.name}'; boroughs: "
                                + ", ".join(b["slug"]))
        return hit.iloc[0]


def slugify(name: str) -> str:
    """``"Barking and Dagenham"`` -> ``"barking-and-dagenham"``."""
    return re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-")


def regions_dir(settings: Settings) -> Path:
    return settings.project_root / "data" / "regions"


def available_regions(settings: Settings | None = None) -> list[str]:
    settings = settings or Settings.from_env()
    return sorted(p.stem for p in regions_dir(settings).glob("*.toml"))


def load_region(name: str, settings: Settings | None = None) -> Region:
    """Read ``data/regions/<name>.toml`` and find its boroughs and their neighbours from the data.

    Raises
    ------
    ManifestError
        No such region, invalid TOML, or a missing section (named in the message).
    """
    settings = settings or Settings.from_env()
    path = regions_dir(settings) / f"{name}.toml"
    if not path.is_file():
        raise ManifestError(f"no region '{name}' ({path} does not exist); known regions: "
                            + (", ".join(available_regions(settings)) or "none"))
    raw = read_toml(path)
    root = settings.resolve_data_root()
    # a batch asks for the region once per borough (plan, input hash, the worker's pack): the
    # boundaries and ward files are read once per process while they and the region file are unchanged
    return memo.remember(_region_key(path, raw, root), lambda: _build_region(raw, path, root), _copy_region)


def _region_key(path: Path, raw: dict, root: Path) -> tuple | None:
    """The files a region is found from (region file, boroughs layer, ward files), by identity."""
    try:
        layers = [raw["pack"]["layers"]["boroughs"]["path"], *(d["path"] for d in raw["wards"].get("files", []))]
    except (KeyError, TypeError, AttributeError):
        return None  # _build_region names what is missing
    keys = [memo.file_key(path), *(memo.file_key(root / p) for p in layers)]
    return None if None in keys else ("region", str(root), *keys)


def _copy_region(region: Region) -> Region:
    return dataclasses.replace(region, boroughs=region.boroughs.copy(), outlines=region.outlines.copy(),
                               raw=copy.deepcopy(region.raw))


def _build_region(raw: dict, path: Path, root: Path) -> Region:
    """The region of the parsed region file ``raw`` (its boroughs and neighbours from the data)."""
    for key in ("name", "region_cd", "pack", "wards"):
        if key not in raw:
            raise ManifestError(f"{path}: missing required key '{key}'")
    pack = raw["pack"]
    if "boroughs" not in pack.get("layers", {}):
        raise ManifestError(f"{path}: [pack.layers.boroughs] is needed to find the region's boroughs")
    outlines = _outlines(pack, path, root)
    boroughs = _boroughs(raw, outlines, root, path)
    return Region(name=raw["name"], title=raw.get("title", raw["name"]), region_cd=raw["region_cd"],
                  region_nm=raw.get("region_nm", raw.get("title", raw["name"])), boroughs=boroughs,
                  outlines=outlines, key_service_types=tuple(pack.get("key_service_types", ())), raw=raw, path=path)


def _outlines(pack: dict, path: Path, root: Path) -> gpd.GeoDataFrame:
    spec = _layer_spec("boroughs", pack["layers"]["boroughs"], path)
    b, _ = read_layer(spec, root, pack.get("crs", "EPSG:27700"), required=("lad_cd", "lad_nm"), id_col="lad_cd")
    return b[["lad_cd", "lad_nm", "geometry"]].sort_values("lad_cd").reset_index(drop=True)


def _layer_spec(key: str, d: dict, path: Path) -> LayerSpec:
    if not isinstance(d, dict) or "path" not in d:
        raise ManifestError(f"{path}: [{key}] needs a 'path'")
    return LayerSpec(key=key, path=d["path"], columns=dict(d.get("columns", {})), crs=d.get("crs"),
                     options={k: v for k, v in d.items() if k not in ("path", "columns", "crs")})


def _boroughs(raw: dict, outlines: gpd.GeoDataFrame, root: Path, path: Path) -> pd.DataFrame:
    """One row per borough: slug, area name, own pack, neighbours (from the outlines), ward source."""
    within_m = float(raw.get("neighbour_within_m", 50.0))
    geoms = outlines.geometry.values
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="dwithin", distance=within_m)
    codes = outlines["lad_cd"].to_numpy()
    neighbours = {c: tuple(sorted(codes[right[(left == i) & (right != i)]])) for i, c in enumerate(codes)}
    own = {str(k): str(v) for k, v in raw.get("own_packs", {}).items()}
    ward_files = _ward_files(raw, root, path)
    b = outlines[["lad_cd", "lad_nm"]].copy()
    b["slug"] = b["lad_nm"].map(slugify)
    b["own_pack"] = b["lad_cd"].isin(own)
    b["area"] = [own.get(c, f"{raw['name']}{SEP}{s}") for c, s in zip(b["lad_cd"], b["slug"])]
    b["neighbour_lad_cds"] = b["lad_cd"].map(neighbours)
    b["ward_source"] = [own.get(c) and "own pack" or ward_files.get(c, "best-fit") for c in b["lad_cd"]]
    if b["slug"].duplicated().any():
        raise ManifestError(f"{path}: two boroughs share a slug: {sorted(b.loc[b['slug'].duplicated(), 'slug'])}")
    return b.reset_index(drop=True)


def _ward_files(raw: dict, root: Path, path: Path) -> dict[str, str]:
    """LAD code -> the first ward file (``[wards].files``) that holds the borough's wards."""
    found: dict[str, str] = {}
    for i, d in enumerate(raw["wards"].get("files", [])):
        spec = _layer_spec(f"wards.files #{i + 1}", d, path)
        w, _ = read_layer(spec, root, "EPSG:27700", required=("ward_cd", "lad_cd"), id_col="ward_cd")
        for lad in sorted(set(w["lad_cd"].astype(str))):
            found.setdefault(lad, spec.path)
    return found


# ----------------------------------------------------------------------------- generated packs
def borough_manifest(region: Region, key: str) -> dict[str, Any]:
    """The generated area-pack dict of one borough (same format as ``data/areas/*.toml``)."""
    row = region.borough(key)
    raw = copy.deepcopy(region.raw["pack"])
    raw.update(name=f"{region.name}{SEP}{row['slug']}", title=f"{row['lad_nm']} ({region.title})",
               lad_cd=row["lad_cd"], lad_nm=row["lad_nm"], neighbour_lad_cds=list(row["neighbour_lad_cds"]))
    raw["layers"]["wards"] = _wards_layer(region, row["ward_source"])
    return raw


def _wards_layer(region: Region, source: str) -> dict[str, Any]:
    """The ``[layers.wards]`` of a borough: its ward file, or best-fit footprints (``dissolve``)."""
    if source != "best-fit":
        d = next(f for f in region.raw["wards"]["files"] if f["path"] == source)
        return copy.deepcopy(d)
    d = copy.deepcopy(region.raw["wards"]["dissolve"])
    d["dissolve"] = True
    return d


def region_manifest(region: Region) -> dict[str, Any]:
    """The whole region as one area: every borough, wards = best-fit footprints, towns = boroughs."""
    raw = copy.deepcopy(region.raw["pack"])
    raw.update(name=region.name, title=region.title, lad_cd=region.region_cd, lad_nm=region.region_nm,
               lad_cds=list(region.boroughs["lad_cd"]), neighbour_lad_cds=[])
    d = copy.deepcopy(region.raw["wards"]["dissolve"])
    d["dissolve"] = True
    raw["layers"]["wards"] = d
    return raw


def load_pack(name: str | Path, settings: Settings | None = None) -> AreaPack:
    """The area pack of any area name: a pack file (``ealing``, ``x.toml``), a region (``london``)
    or a region's borough (``london:camden``).  An unknown name is a :class:`ManifestError` that
    lists the known areas and regions."""
    settings = settings or Settings.from_env()
    text = str(name)
    if SEP in text and not text.endswith(".toml"):
        region_name, borough = text.split(SEP, 1)
        region = load_region(region_name, settings)
        row = region.borough(borough)
        if row["own_pack"]:
            return load_manifest(row["area"], settings)
        return parse_manifest(borough_manifest(region, borough), region.path)
    if manifest_path(text, settings).is_file() or text.endswith(".toml"):
        return load_manifest(text, settings)
    if text in available_regions(settings):
        region = load_region(text, settings)
        return parse_manifest(region_manifest(region), region.path)
    raise ManifestError(f"no area '{text}'; known areas: {', '.join(available_areas(settings)) or 'none'}; "
                        f"regions (the whole region, or <region>{SEP}<borough>): "
                        f"{', '.join(available_regions(settings)) or 'none'}")


def area_input_files(name: str | Path, settings: Settings | None = None) -> list[Path]:
    """Every file the area's pack reads (:func:`pack_input_files` of :func:`load_pack`)."""
    settings = settings or Settings.from_env()
    return pack_input_files(load_pack(name, settings), settings.resolve_data_root())


def pack_input_files(pack: AreaPack, root: Path) -> list[Path]:
    """Every file ``pack`` reads (absolute, sorted): layers, tables, PCN lists, service sources,
    the pack or region file itself and its street network if it names one (``root``: data root)."""
    paths = {spec.resolve(root) for spec in (*pack.layers.values(), *pack.tables.values())}
    paths |= {root / pack.pcn[k] for k in ("membership", "previous") if pack.pcn.get(k)}
    paths |= {root / s["path"] for s in pack.services.get("sources", [])}
    paths.add(pack.path)
    if pack.network is not None:
        paths.add(pack.network)
    return sorted(Path(p).absolute() for p in paths)

