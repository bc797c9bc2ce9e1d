"""One settings object for every tunable value.

Nothing in locmap reads globals: functions take a :class:`Settings` (or the
individual values).  ``Settings.from_env()`` applies environment overrides.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from locmap.errors import DataRootNotFoundError, SettingsError

#: Environment variable naming the folder that holds the shared datasets.
DATA_ROOT_ENV = "LOCMAP_DATA_ROOT"
#: Folders a data root holds (at least one must be there).
DATA_SUBFOLDERS = ("boundaries", "services", "population")
#: Environment variable naming the cache folder (default: <project>/geo/cache).
CACHE_ENV = "LOCMAP_CACHE_DIR"

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: British National Grid, used for every measurement.
CRS_METRIC = "EPSG:27700"
#: WGS84 lon/lat, used only for web maps.
CRS_WEB = "EPSG:4326"

#: Street-network profiles (``locmap.distance.network`` builds one graph per profile).
PROFILES = ("pram", "walk")


@dataclass(frozen=True)
class Settings:
    """All tunable values of a locmap run.

    Attributes
    ----------
    data_root : Path or None
        Folder holding ``boundaries/``, ``services/``, ``population/``, ``network/``.
        ``None`` means: resolve from ``$LOCMAP_DATA_ROOT`` or ``<project>/../shared/data``.
    project_root : Path
        Repository root (holds ``data/areas/*.toml``).
    cache_dir : Path or None
        Where built networks and other expensive results are cached (default ``geo/cache``).
    crs : str
        Projected CRS used for all measuring (metres).
    walk_speed_kmh : float
        Pram-pushing speed.  Default 4.0 km/h (see docs/decisions.md: slower than the
        ~4.8 km/h adult average because of kerbs, crossings and toddlers).
    thresholds_minutes : tuple of float
        Pram-distance thresholds reported everywhere (minutes).
    buffer_m : float
        Buffer around the study area for network and cross-border services (metres).
    max_snap_m : float
        Maximum distance from a home/service to the network before it is reported (metres).
    k_nearest : int
        How many nearest services of each type to report per home.
    profile : str
        Street-network profile: ``"pram"`` (default) or ``"walk"``.
    progress : bool
        Show tqdm progress bars on long steps.
    user_services : Path or None
        The user's own services CSV/XLSX/GeoJSON (add/replace/remove services, docs/services.md).
        Relative paths are resolved against the working directory when the Settings is made.
    user_services_sheet : str or None
        The sheet of a workbook ``user_services`` (name, or 1-based position as text; default the
        first), or the layer of a GeoPackage.
    network_file : Path or None
        A street-network file the user chose (``.osm.pbf``, ``.osm``, ``.graphml``...).  When set it
        is used or refused with an error, never replaced by estimated distances.  Relative paths are
        resolved against the working directory when the Settings is made.
    pram_penalties : bool
        Apply the suggested pram penalties (unsurfaced, steep, raised kerbs...) on a street
        network: outputs then carry ``pram_cost_m`` beside the physical ``distance_m`` and minutes
        follow the cost.  Off by default (tagging is patchy; docs/network.md).
    """

    data_root: Path | None = None
    project_root: Path = PROJECT_ROOT
    cache_dir: Path | None = None
    crs: str = CRS_METRIC
    walk_speed_kmh: float = 4.0
    thresholds_minutes: tuple[float, ...] = (10.0, 15.0, 20.0)
    buffer_m: float = 2000.0
    max_snap_m: float = 300.0
    k_nearest: int = 3
    profile: str = "pram"
    progress: bool = True
    user_services: Path | None = None
    user_services_sheet: str | None = None
    network_file: Path | None = None
    pram_penalties: bool = False

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise SettingsError(f"profile must be one of {', '.join(PROFILES)}, got {self.profile!r}")
        if not self.walk_speed_kmh > 0:
            raise SettingsError(f"walk_speed_kmh must be > 0 km/h, got {self.walk_speed_kmh!r}")
        if not self.thresholds_minutes or any(not float(m) > 0 for m in self.thresholds_minutes):
            raise SettingsError(f"thresholds_minutes must be one or more values > 0, got {self.thresholds_minutes!r}")
        if int(self.k_nearest) < 1:
            raise SettingsError(f"k_nearest must be >= 1, got {self.k_nearest!r}")
        if not self.max_snap_m > 0:
            raise SettingsError(f"max_snap_m must be > 0 metres, got {self.max_snap_m!r}")
        if self.buffer_m < 0:
            raise SettingsError(f"buffer_m must be >= 0 metres, got {self.buffer_m!r}")
        # paths the user typed are relative to where they typed them, fixed once here
        object.__setattr__(self, "thresholds_minutes", tuple(float(m) for m in self.thresholds_minutes))
        for name in ("data_root", "cache_dir", "user_services", "network_file"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value).expanduser().absolute())

    # ------------------------------------------------------------------ factories
    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        """Settings with environment overrides (``LOCMAP_DATA_ROOT``, ``LOCMAP_CACHE_DIR``)."""
        env = {}
        if os.environ.get(DATA_ROOT_ENV):
            env["data_root"] = Path(os.environ[DATA_ROOT_ENV])
        if os.environ.get(CACHE_ENV):
            env["cache_dir"] = Path(os.environ[CACHE_ENV])
        if os.environ.get("LOCMAP_NO_PROGRESS"):
            env["progress"] = False
        env.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**env)

    def with_(self, **changes) -> "Settings":
        """Copy with some fields changed (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    # ------------------------------------------------------------------ derived
    @property
    def metres_per_minute(self) -> float:
        """Walking speed in metres per minute."""
        return self.walk_speed_kmh * 1000.0 / 60.0

    def minutes_to_metres(self, minutes: float) -> float:
        return float(minutes) * self.metres_per_minute

    def resolve_data_root(self) -> Path:
        """The data folder, or :class:`DataRootNotFoundError` naming ``LOCMAP_DATA_ROOT``."""
        candidates = []
        if self.data_root is not None:
            candidates.append(Path(self.data_root))
        elif os.environ.get(DATA_ROOT_ENV):
            candidates.append(Path(os.environ[DATA_ROOT_ENV]))
        else:
            candidates.append(self.project_root.parent / "shared" / "data")
        for c in candidates:
            if c.is_dir():
                if not any((c / sub).is_dir() for sub in DATA_SUBFOLDERS):
                    what = "is empty" if not any(c.iterdir()) else "holds none of " + ", ".join(
                        f"{s}/" for s in DATA_SUBFOLDERS)
                    raise DataRootNotFoundError(
                        f"the data folder {c} {what}; set {DATA_ROOT_ENV} to the folder holding "
                        f"{', '.join(f'{s}/' for s in DATA_SUBFOLDERS)}")
                return c.resolve()
        raise DataRootNotFoundError(
            f"no data folder found (looked in {', '.join(str(c) for c in candidates)}); "
            f"set {DATA_ROOT_ENV} to the folder holding boundaries/, services/ and population/"
        )

    def resolve_cache_dir(self) -> Path:
        d = Path(self.cache_dir) if self.cache_dir else self.project_root / "geo" / "cache"
        d.mkdir(parents=True, exist_ok=True)
        return d
