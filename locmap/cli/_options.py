"""Options shared by the commands and their mapping onto :class:`~locmap.settings.Settings`.

Every option that changes a setting maps to exactly one Settings field
(``--speed-kmh`` -> ``walk_speed_kmh``, ``--network`` -> ``network_file`` ...).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from locmap._text import terminal_safe_message
from locmap.settings import DATA_ROOT_ENV, PROFILES, Settings

if TYPE_CHECKING:
    from locmap.data.area import AreaData

#: CLI option (argparse dest) -> Settings field.
SETTINGS_FIELDS: dict[str, str] = {
    "data_root": "data_root", "services": "user_services", "sheet": "user_services_sheet",
    "network": "network_file", "pram_penalties": "pram_penalties",
    "profile": "profile", "speed_kmh": "walk_speed_kmh", "minutes": "thresholds_minutes",
    "k_nearest": "k_nearest", "max_snap_m": "max_snap_m", "buffer_m": "buffer_m",
    "cache_dir": "cache_dir", "crs": "crs",
}


def add_common(p: argparse.ArgumentParser, minutes: bool = True, area: bool = True) -> None:
    """The options every area command takes (each one a :class:`Settings` field); ``area=False``
    for a command whose areas come from elsewhere (``batch --region``): ``--area`` is then hidden
    and defaults to None, so the command can refuse it with a message."""
    g = p.add_argument_group("area and settings")
    g.add_argument("--area", default="ealing" if area else None,
                   help=argparse.SUPPRESS if not area else "area pack name (data/areas/NAME.toml), a path to a pack file, a region as one "
                        "area (london: all 33 boroughs) or one of its boroughs (london:camden, "
                        "london:E09000007) (default: ealing)")
    g.add_argument("--data-root", type=Path, default=None,
                   help=f"folder with the shared datasets (default: ${DATA_ROOT_ENV}, else ../shared/data)")
    g.add_argument("--services", type=Path, default=None,
                   help="your own services file (CSV, XLSX, GeoJSON or GeoPackage) to add, replace or "
                        "remove services (docs/services.md); relative to the current folder")
    g.add_argument("--sheet", default=None,
                   help="sheet of a --services workbook (name, or position counting from 1; default: the first), "
                        "or layer of a GeoPackage")
    g.add_argument("--network", type=Path, default=None,
                   help="street network file (.osm.pbf, .osm, .graphml); relative to the current folder. "
                        "A missing or unusable file is an error. Default: the area pack's network if it "
                        "names one, else estimated street distances")
    g.add_argument("--profile", choices=PROFILES, default=None, help="street profile (default: pram)")
    g.add_argument("--pram-penalties", action="store_const", const=True, default=None,
                   help="on a street network, slow the pram on unsurfaced, steep or raised-kerb ways "
                        "(outputs add pram_cost_m; minutes follow it). Default: off")
    g.add_argument("--speed-kmh", type=float, default=None,
                   help="pram-pushing speed in km/h (default: 4.0)")
    if minutes:
        g.add_argument("--minutes", type=float, nargs="+", default=None,
                       help="pram-distance thresholds in minutes (default: 10 15 20)")
    g.add_argument("--k-nearest", type=int, default=None,
                   help="nearest services reported per home and type (default: 3)")
    g.add_argument("--max-snap-m", type=float, default=None,
                   help="furthest a home or service may lie from the street network, metres (default: 300)")
    g.add_argument("--buffer-m", type=float, default=None,
                   help="buffer around the area for cross-border services, homes and the network, metres "
                        "(default: twice the straight-line reach of the largest --minutes, 2187 at 20 "
                        "minutes and 4 km/h; docs/decisions.md)")
    g.add_argument("--cache-dir", type=Path, default=None,
                   help="cache folder for built networks (default: $LOCMAP_CACHE_DIR, else geo/cache)")
    g.add_argument("--crs", default=None, help="projected CRS used for measuring (default: EPSG:27700)")
    g.add_argument("--no-progress", action="store_true", help="hide progress bars")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """:class:`Settings` from parsed options (an option not given keeps the default)."""
    values: dict[str, Any] = {field: getattr(args, dest, None) for dest, field in SETTINGS_FIELDS.items()}
    if values["thresholds_minutes"]:
        values["thresholds_minutes"] = tuple(float(m) for m in values["thresholds_minutes"])
    if getattr(args, "no_progress", False):
        values["progress"] = False
    settings = Settings.from_env(**values)
    if settings.buffer_note():  # a --buffer-m shorter than the thresholds need: honoured, and said
        say(settings.buffer_note())
    return settings


def say(msg: str) -> None:
    """A progress line on stderr (stdout stays for results); control characters from data shown escaped."""
    print(terminal_safe_message(msg), file=sys.stderr, flush=True)


def load_area(args: argparse.Namespace, settings: Settings | None = None) -> AreaData:
    """The area named by ``--area`` with these settings; says how many rows of ``--services`` were
    rejected and where to see why.  The ``--services`` file and the ``--out``/``--rejects`` paths
    are checked first, so a typo fails in a second, not after the work."""
    settings = settings or settings_from_args(args)
    check_paths(args, settings)
    from locmap import api  # after the checks: a bad path fails before the geospatial stack is imported

    area = api.load(args.area, settings)
    note = api.user_services_note(area, getattr(args, "rejects", None))
    if note:
        say(note)
    return area


def check_paths(args: argparse.Namespace, settings: Settings) -> None:
    """Refuse an unreadable ``--services`` file (or one read as CSV that is not text) or an
    unwritable ``--out``/``--rejects`` before any work, and before the geospatial stack is imported
    (:mod:`locmap.pathcheck` is standard library only)."""
    from locmap.pathcheck import check_network_file, check_output_path, check_services_file

    if settings.user_services is not None:  # a file, or an Open Referral UK folder
        check_services_file(settings.user_services, settings.user_services_sheet)
    if settings.network_file is not None:
        check_network_file(settings.network_file, "--network / Settings.network_file")
    out = getattr(args, "out", None)
    if out:
        check_output_path(out, folder=not str(out).lower().endswith((".html", ".csv", ".json")))
    if getattr(args, "rejects", None):
        check_output_path(args.rejects)
