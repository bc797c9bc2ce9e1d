"""Area packs: a declarative TOML manifest per study area (``data/areas/<name>.toml``).

A manifest says which file holds which layer, which columns hold ids and names, the CRS,
the borough code, the neighbouring boroughs, the service-type vocabulary and how each
service source's columns map onto the unified register.  Loading a second borough needs
only a new manifest.  The format is documented in ``docs/area-packs.md``.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from locmap.errors import ManifestError
from locmap.settings import Settings

REQUIRED_TOP = ("name", "lad_cd", "lad_nm", "service_types", "key_service_types", "layers", "tables")
REQUIRED_LAYERS = ("wards", "lsoa21", "boroughs")
REQUIRED_TABLES = ("lsoa21_ward", "lsoa11_lsoa21", "postcodes", "census_msoa", "mye_lsoa11")


@dataclass(frozen=True)
class LayerSpec:
    """One file of the pack: path (relative to the data root), CRS, column mapping."""

    key: str
    path: str
    columns: dict[str, Any]
    crs: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def resolve(self, data_root: Path) -> Path:
        p = Path(self.path)
        return p if p.is_absolute() else data_root / p


@dataclass(frozen=True)
class AreaPack:
    """A parsed, validated area manifest."""

    name: str
    title: str
    #: the area's code and name: one borough's, or a region's (``E12000007`` London) when the
    #: area holds several boroughs (``lad_cds``)
    lad_cd: str
    lad_nm: str
    crs: str
    neighbour_lad_cds: tuple[str, ...]
    service_types: dict[str, str]
    key_service_types: tuple[str, ...]
    layers: dict[str, LayerSpec]
    tables: dict[str, LayerSpec]
    pcn: dict[str, Any]
    services: dict[str, Any]
    #: street-network file named by the pack (key ``network``), resolved against the folder of
    #: the pack file; ``None`` when the pack names none (estimated distances)
    network: Path | None
    path: Path
    raw: dict[str, Any]
    #: the boroughs (LAD codes) the area is made of: ``(lad_cd,)`` for one borough; a region's
    #: single area (``london``) lists all of them (key ``lad_cds``)
    lad_cds: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.lad_cds:
            object.__setattr__(self, "lad_cds", (self.lad_cd,))

    def layer(self, key: str) -> LayerSpec:
        try:
            return self.layers[key]
        except KeyError:
            raise ManifestError(f"{self.path}: no [layers.{key}] section") from None

    def table(self, key: str) -> LayerSpec:
        try:
            return self.tables[key]
        except KeyError:
            raise ManifestError(f"{self.path}: no [tables.{key}] section") from None

    def has_table(self, key: str) -> bool:
        return key in self.tables

    def has_layer(self, key: str) -> bool:
        return key in self.layers


def _spec(section: str, key: str, d: dict, path: Path) -> LayerSpec:
    if not isinstance(d, dict) or "path" not in d:
        raise ManifestError(f"{path}: [{section}.{key}] needs a 'path'")
    cols = d.get("columns", {})
    if not isinstance(cols, dict):
        raise ManifestError(f"{path}: [{section}.{key}].columns must be a table")
    options = {k: v for k, v in d.items() if k not in ("path", "columns", "crs")}
    return LayerSpec(key=key, path=d["path"], columns=dict(cols), crs=d.get("crs"), options=options)


def _network_path(value: Any, pack_file: Path) -> Path | None:
    """The pack's ``network`` as a path: relative paths start from the pack file's folder."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ManifestError(f"{pack_file}: 'network' must be a file path (text), got {value!r}")
    p = Path(value).expanduser()
    return p if p.is_absolute() else Path(os.path.normpath((pack_file.parent / p).absolute()))


def manifest_path(name_or_path: str | Path, settings: Settings | None = None) -> Path:
    """Path of an area manifest given an area name (``ealing``) or a path to a TOML file."""
    settings = settings or Settings.from_env()
    p = Path(name_or_path)
    if p.suffix == ".toml":
        return p
    return settings.project_root / "data" / "areas" / f"{name_or_path}.toml"


def available_areas(settings: Settings | None = None) -> list[str]:
    settings = settings or Settings.from_env()
    return sorted(p.stem for p in (settings.project_root / "data" / "areas").glob("*.toml"))


def load_manifest(name_or_path: str | Path, settings: Settings | None = None) -> AreaPack:
    """Read and validate an area manifest.

    Parameters
    ----------
    name_or_path : str or Path
        Area name (looked up in ``data/areas/``) or path to a ``.toml`` file.

    Raises
    ------
    ManifestError
        Missing file, TOML syntax error, or missing required keys (named in the message).
    """
    path = manifest_path(name_or_path, settings)
    if not path.is_file():
        known = ", ".join(available_areas(settings)) or "none"
        raise ManifestError(f"no area pack '{name_or_path}' ({path} does not exist); known areas: {known}")
    return parse_manifest(read_toml(path), path)


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML file ``path`` as a dict (a :class:`ManifestError` naming the file when invalid)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path}: invalid TOML: {exc}") from exc


def parse_manifest(raw: dict[str, Any], path: Path) -> AreaPack:
    """Validate a manifest dict (read from ``path``, or generated for it) into an :class:`AreaPack`.

    ``path`` names the pack in errors; a relative ``network`` starts from its folder.
    """
    missing = [k for k in REQUIRED_TOP if k not in raw]
    if missing:
        raise ManifestError(f"{path}: missing required key(s): {', '.join(missing)}")
    layers = {k: _spec("layers", k, v, path) for k, v in raw["layers"].items()}
    tables = {k: _spec("tables", k, v, path) for k, v in raw["tables"].items()}
    for k in REQUIRED_LAYERS:
        if k not in layers:
            raise ManifestError(f"{path}: missing required section [layers.{k}]")
    for k in REQUIRED_TABLES:
        if k not in tables:
            raise ManifestError(f"{path}: missing required section [tables.{k}]")
    st = raw["service_types"]
    if not isinstance(st, dict) or not st:
        raise ManifestError(f"{path}: [service_types] must map type codes to labels")
    bad_key = [t for t in raw["key_service_types"] if t not in st]
    if bad_key:
        raise ManifestError(f"{path}: key_service_types not in [service_types]: {bad_key}")
    services = raw.get("services", {})
    for i, src in enumerate(services.get("sources", [])):
        for req in ("key", "path", "columns"):
            if req not in src:
                raise ManifestError(f"{path}: [[services.sources]] #{i + 1} needs '{req}'")
        if "name" not in src["columns"]:
            raise ManifestError(f"{path}: services source '{src['key']}' must map a 'name' column")
        if "service_type" not in src and "type_from" not in src and "type" not in src["columns"]:
            raise ManifestError(f"{path}: services source '{src['key']}' needs service_type, type_from or a 'type' column")
        if src.get("service_type") and src["service_type"] not in st:
            raise ManifestError(f"{path}: services source '{src['key']}': unknown service_type '{src['service_type']}'")
    return AreaPack(
        name=raw["name"], title=raw.get("title", raw["name"]), lad_cd=raw["lad_cd"], lad_nm=raw["lad_nm"],
        crs=raw.get("crs", "EPSG:27700"), neighbour_lad_cds=tuple(raw.get("neighbour_lad_cds", [])),
        service_types=dict(st), key_service_types=tuple(raw["key_service_types"]),
        layers=layers, tables=tables, pcn=raw.get("pcn", {}), services=services,
        network=_network_path(raw.get("network"), path), path=path, raw=raw,
        lad_cds=tuple(raw.get("lad_cds") or (raw["lad_cd"],)),
    )
