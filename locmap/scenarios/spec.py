"""Scenarios as data: the baseline register plus an ordered list of changes.

A scenario is declared in a small TOML file (docs/scenarios.md) or built in Python with
:func:`opening`, :func:`closing` and :func:`retyping`::

    name = "hubs_northolt"
    title = "Two family hubs in Northolt"
    description = "The two suggested hub sites of Northolt open as family hubs."

    [[change]]
    action = "open"
    hub_sites = { scheme = "towns", locality = "Northolt", p = 2 }

    [[change]]
    action = "close"
    names = ["Northolt Library"]

Changes are applied in the order they are listed (so a service closed by change 1 can be
reopened by change 2).  What each change selects is checked against the area's register in
:mod:`locmap.scenarios.resolve`; this module only checks the shape of the file: known keys,
one selector per change, the right types.  Every problem is a
:class:`~locmap.errors.ScenarioError` naming the file and the change number.
"""
from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from locmap.errors import ScenarioError

ACTIONS = ("open", "close", "retype")

#: Columns of an inline new service (the services-file schema, docs/services.md).
SERVICE_FIELDS = ("service_id", "name", "service_type", "subtype", "address", "postcode", "easting",
                  "northing", "lat", "lon", "capacity")

#: Keys each action accepts (besides ``action`` and ``note``).
ACTION_KEYS: dict[str, frozenset[str]] = {
    "open": frozenset({"file", "sheet", "ids", "names", "listed_closed", "hub_sites", *SERVICE_FIELDS}),
    "close": frozenset({"ids", "names", "listed_closed"}),
    "retype": frozenset({"ids", "names", "to", "keep"}),
}

#: Keys of ``hub_sites = {...}``.
HUB_KEYS = frozenset({"scheme", "locality", "p", "as_type", "minutes"})

#: Localities that stand for the baseline recommendation of the scheme.
RECOMMENDED = ("recommended", "runner_up")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Change:
    """One change of a scenario.

    Attributes
    ----------
    action : str
        ``open``, ``close`` or ``retype``.
    number : int
        1-based position in the scenario's list of changes (named in every message).
    file : Path or None
        ``open``: a services file (any register format) whose rows open as new services.
    sheet : str or None
        Sheet or layer of ``file``.
    service : dict
        ``open``: one new service given inline (:data:`SERVICE_FIELDS`).
    ids, names : tuple of str
        Services of the register (or opened earlier in the scenario): ``close`` closes them,
        ``retype`` gives them a new type, ``open`` reopens them after an earlier close.
    listed_closed : str or None
        A register source key (e.g. ``childrens_centres``): every row that source lists as
        closed.  ``open`` reopens them; ``close`` closes register services of the same name and type.
    hub_sites : dict
        ``open``: the suggested hub sites of a locality (``scheme``, ``locality`` -
        a name, ``recommended`` or ``runner_up`` -, ``p``, ``as_type``, ``minutes``).
    to : str or None
        ``retype``: the new service type.
    keep : bool
        ``retype``: the service keeps its old type too (a library that also becomes a family
        hub); ``False`` moves it.
    note : str
        Free text, shown in the change table.
    """

    action: str
    number: int = 1
    file: Path | None = None
    sheet: str | None = None
    service: Mapping[str, Any] = field(default_factory=dict)
    ids: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    listed_closed: str | None = None
    hub_sites: Mapping[str, Any] = field(default_factory=dict)
    to: str | None = None
    keep: bool = True
    note: str = ""

    @property
    def selector(self) -> str:
        """What the change selects, in words (for tables and messages)."""
        if self.file is not None:
            return f"file {self.file.name}"
        if self.service:
            return f"new service {self.service.get('name', '')}"
        if self.listed_closed:
            return f"every row of source '{self.listed_closed}' listed as closed"
        if self.hub_sites:
            h = self.hub_sites
            return f"{h.get('p', 2)} suggested hub site(s) of {h.get('scheme', 'towns')} '{h.get('locality')}'"
        what = [f"ids {list(self.ids)}"] if self.ids else []
        what += [f"names {list(self.names)}"] if self.names else []
        return " and ".join(what)


@dataclass(frozen=True)
class Scenario:
    """The baseline register plus ``changes`` (applied in order).

    ``name`` is a short key (letters, digits, ``_.-``) used in file names and tables;
    ``source`` is the file it was read from (``"<api>"`` when built in Python).
    """

    name: str
    title: str = ""
    description: str = ""
    changes: tuple[Change, ...] = ()
    area: str | None = None
    source: str = "<api>"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ScenarioError(f"{self.source}: scenario name {self.name!r} must be 1-64 letters, digits, "
                                "'_', '.' or '-' (it names files and table rows); put free text in 'title'")
        if self.name == "baseline":
            raise ScenarioError(f"{self.source}: 'baseline' is reserved for the register without changes")
        object.__setattr__(self, "title", str(self.title or self.name))
        numbered = tuple(c if c.number == i + 1 else _renumber(c, i + 1) for i, c in enumerate(self.changes))
        object.__setattr__(self, "changes", numbered)
        for c in self.changes:
            check_change(c, self.source)


def _renumber(c: Change, number: int) -> Change:
    return Change(**{**{f: getattr(c, f) for f in c.__dataclass_fields__}, "number": number})


def _strings(value: Any, what: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ScenarioError(f"{where}: '{what}' must be a list of non-empty strings (got {value!r})")
    return tuple(v.strip() for v in value)


def check_change(c: Change, source: str = "<api>") -> None:
    """Refuse a change whose shape is wrong: unknown action, no or several selectors, bad keys."""
    where = f"{source}: change {c.number} ({c.action})"
    if c.action not in ACTIONS:
        raise ScenarioError(f"{source}: change {c.number}: action {c.action!r} is not one of {', '.join(ACTIONS)}")
    chosen = [k for k, v in (("file", c.file), ("service", c.service), ("ids/names", c.ids or c.names),
                             ("listed_closed", c.listed_closed), ("hub_sites", c.hub_sites)) if v]
    if len(chosen) != 1:
        raise ScenarioError(f"{where}: give exactly one of {_selectors(c.action)} "
                            f"(got {', '.join(chosen) or 'none'})")
    allowed = {"open": {"file", "service", "ids/names", "listed_closed", "hub_sites"},
               "close": {"ids/names", "listed_closed"}, "retype": {"ids/names"}}[c.action]
    if chosen[0] not in allowed:
        raise ScenarioError(f"{where}: '{chosen[0]}' cannot be used to {c.action}; use {_selectors(c.action)}")
    if c.action == "retype" and not (isinstance(c.to, str) and c.to.strip()):
        raise ScenarioError(f"{where}: 'to' (the new service type, e.g. childrens_centre) is required")
    if c.service and not str(c.service.get("name") or "").strip():
        raise ScenarioError(f"{where}: a new service needs a 'name'")
    if c.hub_sites:
        _check_hub(c.hub_sites, where)


def _selectors(action: str) -> str:
    return {"open": "file, name (a new service), ids, names, listed_closed or hub_sites",
            "close": "ids, names or listed_closed", "retype": "ids or names (with 'to')"}[action]


def _check_hub(h: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(h) - HUB_KEYS)
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) in hub_sites: {unknown} (known: {sorted(HUB_KEYS)})")
    if not isinstance(h.get("locality"), str) or not h["locality"].strip():
        raise ScenarioError(f"{where}: hub_sites needs 'locality' (a locality name, 'recommended' or 'runner_up')")
    p = h.get("p", 2)
    if not isinstance(p, int) or isinstance(p, bool) or p < 1:
        raise ScenarioError(f"{where}: hub_sites 'p' must be a whole number >= 1 (got {p!r})")


# ----------------------------------------------------------------------------- building in Python
def opening(*, file: str | Path | None = None, sheet: str | None = None, ids: Sequence[str] = (),
            names: Sequence[str] = (), listed_closed: str | None = None,
            hub_sites: Mapping[str, Any] | None = None, note: str = "", **service: Any) -> Change:
    """An ``open`` change: a services ``file``, one new service (``name=``, ``service_type=``,
    ``postcode=`` or ``easting=``/``northing=`` or ``lat=``/``lon=``), register ``ids``/``names``
    closed earlier, ``listed_closed`` (a source key) or ``hub_sites`` (a dict)."""
    unknown = sorted(set(service) - set(SERVICE_FIELDS))
    if unknown:
        raise ScenarioError(f"<api>: opening(): unknown field(s) {unknown}; a new service takes {SERVICE_FIELDS}")
    return Change("open", file=Path(file) if file is not None else None, sheet=sheet,
                  service=dict(service), ids=tuple(ids), names=tuple(names), listed_closed=listed_closed,
                  hub_sites=dict(hub_sites or {}), note=note)


def closing(*, ids: Sequence[str] = (), names: Sequence[str] = (), listed_closed: str | None = None,
            note: str = "") -> Change:
    """A ``close`` change: register ``ids`` or ``names``, or every service a source lists as closed."""
    return Change("close", ids=tuple(ids), names=tuple(names), listed_closed=listed_closed, note=note)


def retyping(*, to: str, ids: Sequence[str] = (), names: Sequence[str] = (), keep: bool = True,
             note: str = "") -> Change:
    """A ``retype`` change: the services named become ``to`` as well (``keep``) or instead."""
    return Change("retype", ids=tuple(ids), names=tuple(names), to=to, keep=bool(keep), note=note)


# ----------------------------------------------------------------------------- reading TOML
def read_scenario(path: str | Path) -> Scenario:
    """A :class:`Scenario` from a TOML file (relative ``file`` paths start at the file's folder)."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"{path}: scenario file not found",)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: not a valid TOML file: {exc}") from None
    return scenario_from_dict(raw, str(path), base=path.parent)


def scenario_from_dict(raw: Mapping[str, Any], source: str = "<api>", base: Path | None = None) -> Scenario:
    """A :class:`Scenario` from the parsed TOML (``name``, ``title``, ``description``, ``area``,
    ``[[change]]``)."""
    unknown = sorted(set(raw) - {"name", "title", "description", "area", "change"})
    if unknown:
        raise ScenarioError(f"{source}: unknown top-level key(s) {unknown}; "
                            "use name, title, description, area and [[change]]")
    for key in ("name", "title", "description", "area"):
        if key in raw and not isinstance(raw[key], str):
            raise ScenarioError(f"{source}: '{key}' must be text (got {raw[key]!r})")
    if "name" not in raw:
        raise ScenarioError(f"{source}: 'name' is required (a short key such as 'closures_2025')")
    changes = raw.get("change", [])
    if not isinstance(changes, list) or not all(isinstance(c, Mapping) for c in changes):
        raise ScenarioError(f"{source}: changes are [[change]] tables")
    return Scenario(name=raw["name"], title=raw.get("title", ""), description=raw.get("description", ""),
                    area=raw.get("area"), source=source,
                    changes=tuple(_change(c, i + 1, source, base) for i, c in enumerate(changes)))


def _change(c: Mapping[str, Any], number: int, source: str, base: Path | None) -> Change:
    where = f"{source}: change {number}"
    action = c.get("action")
    if action not in ACTIONS:
        raise ScenarioError(f"{where}: 'action' must be one of {', '.join(ACTIONS)} (got {action!r})")
    unknown = sorted(set(c) - ACTION_KEYS[action] - {"action", "note"})
    if unknown:
        raise ScenarioError(f"{where} ({action}): unknown key(s) {unknown} "
                            f"(known: {sorted(ACTION_KEYS[action] | {'note'})})")
    service = {k: c[k] for k in SERVICE_FIELDS if k in c}
    file = c.get("file")
    if file is not None and not isinstance(file, str):
        raise ScenarioError(f"{where}: 'file' must be a path (text)")
    fpath = None if file is None else (Path(file) if Path(file).is_absolute() or base is None else base / file)
    hub = c.get("hub_sites") or {}
    if not isinstance(hub, Mapping):
        raise ScenarioError(f"{where}: 'hub_sites' must be a table, e.g. {{ scheme = \"towns\", locality = \"Northolt\" }}")
    keep = c.get("keep", True)
    if not isinstance(keep, bool):
        raise ScenarioError(f"{where}: 'keep' must be true or false")
    listed = c.get("listed_closed")
    if listed is not None and not isinstance(listed, str):
        raise ScenarioError(f"{where}: 'listed_closed' must be a source key (text)")
    return Change(action=action, number=number, file=fpath, sheet=c.get("sheet"), service=service,
                  ids=_strings(c["ids"], "ids", where) if "ids" in c else (),
                  names=_strings(c["names"], "names", where) if "names" in c else (),
                  listed_closed=listed, hub_sites=dict(hub), to=c.get("to"), keep=keep,
                  note=str(c.get("note", "")))


#: Folder of the shipped example scenarios (``<area>_*.toml``).
SCENARIO_DIR = Path(__file__).resolve().parents[2] / "data" / "scenarios"


def default_scenarios(area_name: str, lead_scheme: str = "towns", folder: Path = SCENARIO_DIR) -> list[Any]:
    """The area's shipped scenario files (``data/scenarios/<area>_*.toml``, sorted), or, for an area
    without any, family hubs at the suggested sites of the recommended locality and the runner-up
    of ``lead_scheme``."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", area_name)
    files = sorted(Path(folder).glob(f"{stem}_*.toml"))
    if files:
        return files
    hubs = [opening(hub_sites={"scheme": lead_scheme, "locality": which, "p": 2}) for which in RECOMMENDED]
    return [Scenario("hubs_recommended", title=f"Family hubs at the suggested sites of the recommended "
                     f"{lead_scheme} locality and the runner-up", changes=tuple(hubs))]


__all__ = ["SCENARIO_DIR", "default_scenarios", "ACTIONS", "SERVICE_FIELDS", "RECOMMENDED", "Change", "Scenario", "opening", "closing", "retyping",
           "read_scenario", "scenario_from_dict", "check_change"]
