"""One settings object for every tunable value.

Nothing in locmap reads globals: functions take a :class:`Settings` (or the
individual values).  ``Settings.from_env()`` applies environment overrides.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from locmap.errors import DataRootNotFoundError, DistanceModelError, SettingsError

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

#: The London distance model (``locmap.distance.model`` reads it whole); the default buffer needs
#: only its line, read here so that settings stay light (no geopandas at import).
DISTANCE_MODEL_FILE = Path(__file__).resolve().parent / "distance" / "models" / "london-v1.json"


@lru_cache(maxsize=1)
def _model_line() -> tuple[float, float]:
    """``(intercept_m, circuity)`` of the London distance model."""
    try:
        record = json.loads(DISTANCE_MODEL_FILE.read_text(encoding="utf-8"))
        return float(record["intercept_m"]), float(record["circuity"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DistanceModelError(f"{DISTANCE_MODEL_FILE}: the shipped London distance model cannot be read "
                                 f"({exc})") from exc


def straight_reach_m(road_m: float, street_network: bool) -> float:
    """The longest straight line a street distance of ``road_m`` metres can span.

    On a street network a route is never shorter than the straight line, so the reach is
    ``road_m``.  Under the London distance model ``road = max(straight, a + b x straight)`` is at
    least ``a + b x straight``, so the reach is ``(road_m - a) / b`` (never more than ``road_m``).
    """
    if street_network:
        return float(road_m)
    a_m, b = _model_line()
    return max(0.0, min(float(road_m), (float(road_m) - a_m) / b))


def required_buffer_m(thresholds_minutes, walk_speed_kmh: float, street_network: bool) -> float:
    """The buffer (metres, rounded up) the analyses need at the largest threshold.

    A home at the area's edge counts services up to one straight-line reach of the largest
    threshold beyond the edge (nearest service, coverage, 2SFCA step 2); a 2SFCA catchment around
    such a service takes in the homes (cross-border demand) up to one more reach beyond it
    (step 1).  So services and neighbouring homes are needed up to **twice** the reach.
    """
    road_m = max(float(m) for m in thresholds_minutes) * walk_speed_kmh * 1000.0 / 60.0
    return float(math.ceil(2.0 * straight_reach_m(road_m, street_network) - 1e-9))


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
    buffer_m : float or None
        Buffer around the study area for network, cross-border services and cross-border homes
        (metres).  ``None`` (the default) derives it: twice the straight-line reach of the largest
        threshold at ``walk_speed_kmh`` under the run's ruler (:func:`required_buffer_m`; 2,187 m
        for 20 minutes at 4 km/h under the London model, 2,667 m on a street network).  A value
        given is honoured as given; :meth:`buffer_note` says when it is shorter than that.
        After construction ``buffer_m`` is always a number and ``buffer_m_derived`` says which.
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
    buffer_m: float | None = None
    max_snap_m: float = 300.0
    k_nearest: int = 3
    profile: str = "pram"
    progress: bool = True
    user_services: Path | None = None
    user_services_sheet: str | None = None
    network_file: Path | None = None
    pram_penalties: bool = False
    #: True when ``buffer_m`` was derived (not given): copies made by :meth:`with_` re-derive it.
    buffer_m_derived: bool = field(default=False, init=False, compare=False)

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
        if self.buffer_m is not None and not float(self.buffer_m) >= 0:
            raise SettingsError(f"buffer_m must be >= 0 metres, got {self.buffer_m!r}")
        # paths the user typed are relative to where they typed them, fixed once here
        object.__setattr__(self, "thresholds_minutes", tuple(float(m) for m in self.thresholds_minutes))
        for name in ("data_root", "cache_dir", "user_services", "network_file"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value).expanduser().absolute())
        object.__setattr__(self, "buffer_m_derived", self.buffer_m is None)
        object.__setattr__(self, "buffer_m", self.required_buffer_m() if self.buffer_m is None else float(self.buffer_m))

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
        """Copy with some fields changed (``None`` values are ignored); a derived ``buffer_m`` is
        derived again (from the copy's speed, thresholds and ruler), a given one kept."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if self.buffer_m_derived and "buffer_m" not in changes:
            changes["buffer_m"] = None
        return replace(self, **changes)

    def for_street_network(self) -> "Settings":
        """These settings for a run measured on a street network named by the area pack (not by
        ``network_file``): a derived buffer becomes the street-network one; a given one is kept."""
        if not self.buffer_m_derived or self.network_file is not None:
            return self
        copy = replace(self, buffer_m=required_buffer_m(self.thresholds_minutes, self.walk_speed_kmh, True))
        object.__setattr__(copy, "buffer_m_derived", True)
        return copy

    # ------------------------------------------------------------------ derived
    @property
    def metres_per_minute(self) -> float:
        """Walking speed in metres per minute."""
        return self.walk_speed_kmh * 1000.0 / 60.0

    def minutes_to_metres(self, minutes: float) -> float:
        return float(minutes) * self.metres_per_minute

    def required_buffer_m(self, street_network: bool | None = None) -> float:
        """The buffer the largest threshold needs (:func:`required_buffer_m`); the ruler is a street
        network when ``network_file`` is set (or ``street_network`` says so), else the London model."""
        street = self.network_file is not None if street_network is None else street_network
        return required_buffer_m(self.thresholds_minutes, self.walk_speed_kmh, street)

    def buffer_note(self, street_network: bool | None = None) -> str | None:
        """One line when a given ``buffer_m`` is shorter than the largest threshold needs, else None."""
        need_m = self.required_buffer_m(street_network)
        if self.buffer_m_derived or self.buffer_m >= need_m:
            return None
        return (f"note: buffer_m {self.buffer_m:,.0f} m (as given) is shorter than the {need_m:,.0f} m that "
                f"{max(self.thresholds_minutes):g}-minute catchments need at {self.walk_speed_kmh:g} km/h "
                f"(twice the straight-line reach; docs/decisions.md): services and homes beyond it are left "
                f"out, so access near the border may be understated; leave buffer_m out for the default")

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
