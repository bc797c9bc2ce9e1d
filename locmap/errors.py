"""Exception classes.  Every error raised on purpose by locmap derives from
:class:`LocmapError`, so callers (and the CLI) can catch one type.

Messages always name the file (and row/feature where there is one) and say what
the user can do.  ``docs/errors.md`` lists every class with its remedy.
"""
from __future__ import annotations


class LocmapError(Exception):
    """Base class for all locmap errors.

    ``exit_code`` is what the command line returns for this error: 2 = bad input or usage
    (a file, a setting, an option the user can fix), 1 = a failure while running (the
    machine: disk full, permission denied, a solver that gave up).
    """

    remedy: str = ""
    exit_code: int = 2

    def __str__(self) -> str:
        # Exception.__str__, not super(): a builtin mixed in after LocmapError (OSError in
        # OutputError) would otherwise format "[Errno 28] ...: 'file'" around the message
        msg = Exception.__str__(self)
        if self.remedy and self.remedy not in msg:
            msg = f"{msg}\n  What to do: {self.remedy}"
        return msg


class SettingsError(LocmapError, ValueError):
    """A setting has an impossible value (unknown profile, speed <= 0, empty thresholds...)."""

    remedy = "fix the option or Settings field named in the message (docs/architecture.md lists them)."


class DataRootNotFoundError(LocmapError):
    """No data folder: neither LOCMAP_DATA_ROOT nor ../shared/data exists."""

    remedy = ("set the environment variable LOCMAP_DATA_ROOT to the folder holding "
              "boundaries/, services/, population/ (see README 'Data').")


class ManifestError(LocmapError):
    """An area pack manifest (data/areas/*.toml) is missing, malformed or inconsistent."""

    remedy = "fix the manifest; docs/area-packs.md documents every key."


class DataFileError(LocmapError):
    """A data file is missing, unreadable, or structurally wrong."""

    remedy = ("open the file named in the message at the row given (row 1 = first line after "
              "the header) and fix it; docs/errors.md lists every message.")

    def __init__(self, path, reason: str, row: int | None = None, column: str | None = None,
                 remedy: str | None = None):
        if remedy is not None:
            self.remedy = remedy
        self.path = str(path)
        self.row = row
        self.column = column
        self.reason = reason
        where = self.path
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {reason}")


class InputFileError(DataFileError, OSError):
    """An input file cannot be opened: not found, a folder, permission denied, not readable.

    Also an ``OSError`` (``errno`` and ``filename`` set when the system gave them), so code that
    catches ``OSError`` around file reading keeps working.  Exit code 2: the user names another
    file or fixes its permissions.
    """

    remedy = ("check the path (relative paths start from the folder you ran locmap in) and that "
              "you can read the file.")

    def __init__(self, path, reason: str, remedy: str | None = None, errno: int | None = None):
        super().__init__(path, reason, remedy=remedy)
        self.errno = errno
        self.strerror = reason
        self.filename = str(path)


class OutputError(LocmapError, OSError):
    """An output file cannot be written: read-only folder, a file where a folder is needed (or
    a folder where a file is needed), disk full, permission denied.

    Raised by every writer of :mod:`locmap.export`, naming the output path; nothing is left
    behind (no partial file; a previous file of that name is unchanged; folders created for
    the write are removed again when empty).  Also an ``OSError`` with ``errno`` and
    ``filename``.  Exit code 1: a failure while running, not bad input.
    """

    exit_code = 1
    remedy = "choose an output path you can write to, on a disk with free space, and run again."

    def __init__(self, path, reason: str, remedy: str | None = None, errno: int | None = None):
        if remedy is not None:
            self.remedy = remedy
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")
        self.errno = errno
        self.strerror = reason
        self.filename = str(path)


class MissingColumnError(DataFileError):
    """A required column is absent from a table or layer."""

    remedy = "rename the column in the file, or map it in the area manifest ([layers.*] / [[services.sources]] columns)."

    def __init__(self, path, column: str, available: list[str] | None = None):
        extra = f" (columns present: {', '.join(map(str, available))})" if available else ""
        super().__init__(path, f"required column '{column}' is missing{extra}", column=column)


class EmptyLayerError(DataFileError):
    """A layer or table has no usable rows."""

    remedy = "check the file and any filter in the manifest (e.g. borough code)."

    def __init__(self, path, reason: str = "layer is empty (no features/rows)"):
        super().__init__(path, reason)


class DuplicateIdError(DataFileError):
    """An id column that must be unique has duplicates."""

    remedy = "make the ids unique in the file (each area must appear once)."


class CRSError(DataFileError):
    """A layer has no CRS, a CRS that cannot be used, or coordinates that do not fit it."""

    remedy = ("declare the CRS in the file or set `crs` for the layer in the manifest; "
              "coordinates in degrees must be EPSG:4326, metres in Great Britain EPSG:27700.")


class GeometryError(DataFileError):
    """A geometry is invalid beyond repair, or empty where one is required."""

    remedy = "repair the feature in a GIS (e.g. QGIS 'Fix geometries') or remove it."


class PartitionError(LocmapError):
    """Areas that should tile a region overlap or leave gaps beyond tolerance."""

    remedy = "check the boundary vintages match (e.g. 2022 wards with 2022 lookups)."


class PopulationError(LocmapError):
    """A population total is not conserved or a join lost areas."""

    remedy = "check that the population files and lookups cover the same area and vintage."


class NetworkError(LocmapError):
    """A street network cannot be built or used."""

    remedy = ("supply an OSM extract covering the study area plus buffer "
              "(`locmap network fetch` or --osm FILE); see README 'Street network'.")


class DisconnectedGraphError(NetworkError):
    """Origins and destinations lie on components that do not connect."""


class OutsideNetworkError(NetworkError):
    """Points lie outside the network's extent or beyond the maximum snap distance."""


class EmptyServiceTypeError(LocmapError):
    """A requested service type has no located services."""

    remedy = "add services of this type with a user services CSV (docs/services.md) or drop the type."


class UnknownAreaError(LocmapError):
    """A locality, area pack or scheme name is not known."""

    remedy = "run `locmap check --area NAME` to list valid names."


class SchedulerUnreachableError(LocmapError, ConnectionError):
    """``--scheduler ADDRESS`` names no dask scheduler that answers."""

    remedy = ("check the address (tcp://HOST:PORT, as printed by `dask scheduler`), that the scheduler "
              "runs and that this machine can reach its port; leave out --scheduler to run on this machine.")


class OutputFolderError(LocmapError):
    """``locmap run --out DIR`` names a folder that holds files but is not a locmap run folder (no
    ``run.json``, no ``timings.csv``): locmap will not mix its outputs with files it did not write."""

    remedy = ("choose a new or empty folder for --out, or give --force to run into it anyway "
              "(locmap's own outputs there are replaced; other files are kept and named).")


class RunFolderBusyError(OutputFolderError):
    """``locmap run --out DIR``: DIR's ``run.json`` says a run is writing there and its process is
    alive (same pid, same start time, this machine), or it ran on another machine that cannot be checked."""

    remedy = ("wait for that run to finish, or stop it (kill PID, as named), or choose another --out; "
              "--force runs into the folder anyway (the two runs' files would mix).")


class IncompleteRunError(OutputFolderError):
    """A command that reads a run folder found its run not complete: interrupted, failed, still
    running, or abandoned (its process killed or its machine stopped before the end)."""

    remedy = ("run `locmap run --out DIR` into the folder again (it replaces the unfinished run's files) "
              "and retry; `run.json` in the folder says what happened.")


class DistanceModelError(LocmapError):
    """The estimated street distance cannot be used: the area lies outside the data of the
    distance model, or the model file cannot be read."""

    remedy = ("give a street network for the area (--network FILE or the pack's 'network' key; "
              "see docs/distance-model.md): the London distance model covers Greater London only.")


class ScenarioError(LocmapError):
    """A scenario file or object is malformed, or names a service, source or locality that does not exist."""

    remedy = ("fix the scenario file at the change named in the message (docs/scenarios.md documents every "
              "key); ids and names must be spelt as in the area's register (`locmap check --area NAME`).")


class SolverError(LocmapError):
    """The hub-site optimiser (CBC, through spopt) found no solution within its time limit."""

    exit_code = 1
    remedy = ("run again on a less busy machine, compare fewer candidate types (--candidates), or "
              "choose a smaller locality; the time limit is locmap.localities.sites.SOLVER_TIME_LIMIT_S.")
