"""Scenarios against a register: one union of services and, per scenario, which of them are open.

:func:`resolve` applies every scenario's changes, in order, to the area's register.  The
result (:class:`Resolution`) holds ONE table of services - the register plus every service any
scenario opens (new sites, reopened closed rows, hub sites, re-typed services) - and, per
scenario and for the baseline, a boolean ``active`` mask over it.  Distances are then measured
once for the union (:mod:`locmap.scenarios.distances`) and a closure is only a mask.

Row accounting as for registers: every change - and every row of a services file it opens -
appears in :attr:`Resolution.changes` as ``used`` or ``rejected`` with a reason.  A change that
names something which does not exist (an id, a name, a source, a locality) is an error
(:class:`~locmap.errors.ScenarioError`) naming it, never a silent no-op.
"""
from __future__ import annotations

import dataclasses
import difflib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from locmap.data.services import REGISTER_COLUMNS, build_register, normalise_name
from locmap.errors import ScenarioError
from locmap.scenarios.spec import RECOMMENDED, SERVICE_FIELDS, Change, Scenario

#: Columns of :attr:`Resolution.changes`.
CHANGE_COLUMNS = ["scenario", "change", "action", "selector", "file", "row", "outcome", "reason", "detail",
                  "service_id", "name", "service_type"]

#: ``sites_for(scheme, locality, p, minutes) -> DataFrame`` (``site_id, name, x, y``): the
#: suggested hub sites (``locmap.api.hub_sites``, MCLP model).
SitesFor = Callable[[str, str, int, Any], pd.DataFrame]
#: ``recommended(scheme) -> (recommended locality, runner-up or None)`` of the baseline.
Recommended = Callable[[str], tuple[str, Any]]


@dataclass(frozen=True)
class Resolution:
    """The union of services and the open/closed state of each of them per scenario.

    Attributes
    ----------
    union : GeoDataFrame
        The register's services (first, in register order) then every service a scenario opens;
        register columns plus ``origin`` (``register`` or the scenario that added the row).
    states : dict of str -> ndarray of bool
        ``"baseline"`` first, then each scenario's name: which union rows are open.
    scenarios : tuple of Scenario
    changes : DataFrame
        :data:`CHANGE_COLUMNS`: every change (and file row) used or rejected, with a reason.
    """

    union: gpd.GeoDataFrame
    states: dict[str, np.ndarray]
    scenarios: tuple[Scenario, ...]
    changes: pd.DataFrame

    def services(self, state: str = "baseline") -> gpd.GeoDataFrame:
        """The services open in ``state`` (register columns), in union order."""
        return self.union[self.states[state]].reset_index(drop=True)

    def changed_types(self, state: str) -> list[str]:
        """Service types with a located service whose open/closed state differs from the baseline."""
        diff = self.states[state] != self.states["baseline"]
        located = self.union["located"].to_numpy(bool)
        return sorted(set(self.union.loc[diff & located, "service_type"]))

    def opened(self, state: str) -> gpd.GeoDataFrame:
        return self.union[self.states[state] & ~self.states["baseline"]]

    def closed(self, state: str) -> gpd.GeoDataFrame:
        return self.union[~self.states[state] & self.states["baseline"]]


class _Builder:
    """The union being built: rows (dicts), ids, and the accounting rows."""

    def __init__(self, area: Any) -> None:
        base = area.services.copy()
        base["origin"] = "register"
        self.base = base
        self.base_records = base.drop(columns="geometry").to_dict("records")
        self.rows: list[dict] = []
        self.index = {sid: i for i, sid in enumerate(base["service_id"].astype(str))}
        self.accounting: list[dict] = []

    @property
    def n(self) -> int:
        return len(self.base) + len(self.rows)

    def add(self, row: dict) -> int:
        """Position of the union row with ``row``'s service_id, added when new."""
        sid = str(row["service_id"])
        if sid not in self.index:
            self.index[sid] = self.n
            self.rows.append(row)
        return self.index[sid]

    def frame(self) -> gpd.GeoDataFrame:
        cols = REGISTER_COLUMNS + ["source_file", "origin"]
        extra = pd.DataFrame(self.rows, columns=cols)
        for c in ("easting", "northing", "capacity"):
            extra[c] = pd.to_numeric(extra[c], errors="coerce").astype(float)
        geom = [shapely.Point(e, n) if loc else None
                for e, n, loc in zip(extra["easting"], extra["northing"], extra["located"])]
        extra = gpd.GeoDataFrame(extra, geometry=geom, crs=self.base.crs)
        both = pd.concat([self.base[cols + ["geometry"]], extra[cols + ["geometry"]]], ignore_index=True)
        out = gpd.GeoDataFrame(both, geometry="geometry", crs=self.base.crs)
        out["located"] = out["located"].astype(bool)
        out["in_study_area"] = out["in_study_area"].astype(bool)
        return out

    def account(self, scn: Scenario, c: Change, outcome: str, reason: str = "", detail: str = "",
                row: int | None = None, file: str = "", service: dict | None = None) -> None:
        s = service or {}
        self.accounting.append({
            "scenario": scn.name, "change": c.number, "action": c.action, "selector": c.selector, "file": file,
            "row": row, "outcome": outcome, "reason": reason, "detail": detail,
            "service_id": s.get("service_id"), "name": s.get("name"), "service_type": s.get("service_type")})


@dataclass
class _Context:
    area: Any
    settings: Any
    builder: _Builder
    sites_for: SitesFor | None
    recommended: Recommended | None

    def row(self, i: int) -> dict:
        b = self.builder
        return b.base_records[i] if i < len(b.base) else b.rows[i - len(b.base)]


def resolve(area: Any, scenarios: Sequence[Scenario], settings: Any = None, sites_for: SitesFor | None = None,
            recommended: Recommended | None = None) -> Resolution:
    """Apply each scenario's changes, in order, to ``area``'s register (see the module docstring).

    ``sites_for`` and ``recommended`` answer ``hub_sites`` changes (``locmap.api`` passes
    :func:`~locmap.api.hub_sites` and the baseline recommendation); without them such a change
    is an error.
    """
    names = [s.name for s in scenarios]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ScenarioError(f"scenario names must be unique: {dup} given more than once")
    ctx = _Context(area, settings or area.settings, _Builder(area), sites_for, recommended)
    actives: dict[str, list[int]] = {}
    for scn in scenarios:
        if scn.area and scn.area != area.name:
            raise ScenarioError(f"{scn.source}: scenario '{scn.name}' is for area '{scn.area}', not '{area.name}'")
        active = set(range(len(ctx.builder.base)))
        visible = set(active)
        for c in scn.changes:
            _apply(ctx, scn, c, active, visible)
        actives[scn.name] = sorted(active)
    union = ctx.builder.frame()
    union = _fill_lad(union, area)
    states = {"baseline": np.arange(len(union)) < len(ctx.builder.base)}
    for name, idx in actives.items():
        mask = np.zeros(len(union), dtype=bool)
        mask[idx] = True
        states[name] = mask
    changes = pd.DataFrame(ctx.builder.accounting, columns=CHANGE_COLUMNS)
    order = {n: i for i, n in enumerate(names)}
    changes = changes.assign(_o=changes["scenario"].map(order)).sort_values(
        ["_o", "change", "row"], kind="stable").drop(columns="_o").reset_index(drop=True)
    return Resolution(union=union, states=states, scenarios=tuple(scenarios), changes=changes)


def _apply(ctx: _Context, scn: Scenario, c: Change, active: set, visible: set) -> None:
    if c.action == "open":
        if c.file is not None or c.service:
            return _open_rows(ctx, scn, c, active, visible)
        if c.listed_closed:
            return _open_listed(ctx, scn, c, active, visible)
        if c.hub_sites:
            return _open_hubs(ctx, scn, c, active, visible)
        return _set_state(ctx, scn, c, _select(ctx, scn, c, visible), active, True)
    if c.action == "close":
        if c.listed_closed:
            return _close_listed(ctx, scn, c, active)
        return _set_state(ctx, scn, c, _select(ctx, scn, c, visible), active, False)
    return _retype(ctx, scn, c, _select(ctx, scn, c, visible), active, visible)


# ----------------------------------------------------------------------------- selecting register rows
def _select(ctx: _Context, scn: Scenario, c: Change, visible: set) -> list[tuple[str, list[int]]]:
    """(what was asked, union rows) for each id and name of ``c``; unknown ones are errors."""
    b = ctx.builder
    ids = {str(ctx.row(i)["service_id"]): i for i in visible}
    out = []
    for sid in c.ids:
        hit = [i for s, i in ids.items() if s == sid or (s.startswith(sid + "#") and i < len(b.base))]
        if not hit:
            close = difflib.get_close_matches(sid, list(ids), n=3)
            raise ScenarioError(f"{scn.source}: change {c.number} ({c.action}): no service with id {sid!r} in the "
                                f"register of {ctx.area.name} or opened earlier in scenario '{scn.name}'"
                                + (f" (did you mean {', '.join(map(repr, close))}?)" if close else ""))
        out.append((sid, sorted(hit)))
    by_name: dict[str, list[int]] = {}
    for i in visible:
        by_name.setdefault(normalise_name(ctx.row(i)["name"]), []).append(i)
    for name in c.names:
        hit = sorted(by_name.get(normalise_name(name), []))
        if not hit:
            close = difflib.get_close_matches(normalise_name(name), list(by_name), n=3)
            raise ScenarioError(f"{scn.source}: change {c.number} ({c.action}): no service named {name!r} in the "
                                f"register of {ctx.area.name} or opened earlier in scenario '{scn.name}'"
                                + (f" (close: {', '.join(map(repr, close))})" if close else ""))
        roots = {str(ctx.row(i)["service_id"]).split("#")[0] for i in hit}
        if len(roots) > 1:
            raise ScenarioError(f"{scn.source}: change {c.number} ({c.action}): the name {name!r} matches "
                                f"{len(roots)} services ({', '.join(sorted(roots))}); list the ids instead")
        out.append((name, hit))
    return out


def _set_state(ctx: _Context, scn: Scenario, c: Change, selected: list, active: set, open_: bool) -> None:
    for k, (asked, rows) in enumerate(selected, start=1):
        for i in rows:
            r = ctx.row(i)
            if (i in active) == open_:
                ctx.builder.account(scn, c, "rejected", "already open" if open_ else "already closed",
                                    f"{asked}: {r['name']} is already {'open' if open_ else 'closed'} at this point "
                                    "of the scenario", row=k, service=r)
                continue
            (active.add if open_ else active.discard)(i)
            why = "" if r["located"] else "no location: it changes no distance"
            ctx.builder.account(scn, c, "used", why, asked, row=k, service=r)


def _retype(ctx: _Context, scn: Scenario, c: Change, selected: list, active: set, visible: set) -> None:
    to = str(c.to).strip()
    if to not in ctx.area.pack.service_types:
        raise ScenarioError(f"{scn.source}: change {c.number} (retype): 'to' = {to!r} is not a service type of "
                            f"{ctx.area.name} ({', '.join(ctx.area.pack.service_types)})")
    for k, (asked, rows) in enumerate(selected, start=1):
        for i in rows:
            r = ctx.row(i)
            if r["service_type"] == to or i not in active:
                reason = f"already a {to}" if r["service_type"] == to else "closed at this point of the scenario"
                ctx.builder.account(scn, c, "rejected", reason, asked, row=k, service=r)
                continue
            new = {**{k2: r.get(k2) for k2 in REGISTER_COLUMNS + ["source_file"]},
                   "service_id": f"{r['service_id']}:as_{to}", "service_type": to, "origin": scn.name,
                   "source": f"scenario {scn.name}: {r['service_type']} re-typed as {to}"}
            j = ctx.builder.add(new)
            active.add(j)
            visible.add(j)
            if not c.keep:
                active.discard(i)
            ctx.builder.account(scn, c, "used", "" if r["located"] else "no location: it changes no distance",
                                f"{asked}: {r['service_type']} -> {to}" + ("" if c.keep else " (old type closed)"),
                                row=k, service=new)


# ----------------------------------------------------------------------------- opening new rows
def _register_of(ctx: _Context, sources: list[dict], user_file: Path | None = None,
                 sheet: Any = None) -> Any:
    """A register of ``sources`` (and/or a user-format file) with the area's rules: same row
    checks, locations, study area + buffer and duplicates as the area's own register."""
    pack = dataclasses.replace(ctx.area.pack, services={**ctx.area.pack.services, "sources": sources})
    return build_register(pack, ctx.settings.resolve_data_root(), ctx.area.borough.geometry.iloc[0],
                          ctx.area.postcodes, ctx.settings.buffer_m, user_csv=user_file, crs=pack.crs,
                          user_sheet=sheet)


def _open_rows(ctx: _Context, scn: Scenario, c: Change, active: set, visible: set) -> None:
    """A services file, or one service given inline, read by the register's row rules."""
    if c.file is not None:
        if not c.file.is_file():
            raise ScenarioError(f"{scn.source}: change {c.number} (open): services file {c.file} not found")
        reg, shown = _register_of(ctx, [], c.file, c.sheet), c.file.name
    else:
        with tempfile.TemporaryDirectory(prefix="locmap-scenario-") as tmp:
            path = Path(tmp) / "service.csv"
            pd.DataFrame([{k: c.service.get(k) for k in SERVICE_FIELDS}]).to_csv(path, index=False)
            reg, shown = _register_of(ctx, [], path), ""
    _take_register(ctx, scn, c, reg, shown, active, visible, prefix=f"{scn.name}:{c.number}:", rows=None)


def _take_register(ctx: _Context, scn: Scenario, c: Change, reg: Any, shown: str, active: set, visible: set,
                   prefix: str, rows: set | None) -> None:
    """Open the located services of ``reg`` (only those from ``rows`` when given); account for
    every row: used, no location, or the register's reject reason."""
    for rec in reg.services.to_dict("records"):
        if rows is not None and rec["source_row"] not in rows:
            continue
        new = {**{k: rec.get(k) for k in REGISTER_COLUMNS + ["source_file"]},
               "service_id": prefix + str(rec["service_id"]), "origin": scn.name, "status": "open"}
        if not rec["located"]:
            ctx.builder.account(scn, c, "rejected", "no location", f"{rec['name']}: {rec['location_quality']}",
                                row=rec["source_row"], file=shown, service=new)
            continue
        j = ctx.builder.add(new)
        visible.add(j)
        if j in active:
            ctx.builder.account(scn, c, "rejected", "already open", "", row=rec["source_row"], file=shown, service=new)
            continue
        active.add(j)
        ctx.builder.account(scn, c, "used", "", "", row=rec["source_row"], file=shown, service=new)
    for rej in reg.rejects.to_dict("records"):
        if rows is None or rej["row"] in rows:
            ctx.builder.account(scn, c, "rejected", rej["reason"], rej["detail"], row=int(rej["row"]), file=shown)


def _source(ctx: _Context, scn: Scenario, c: Change) -> dict:
    sources = {s["key"]: s for s in ctx.area.pack.services.get("sources", [])}
    if c.listed_closed not in sources:
        raise ScenarioError(f"{scn.source}: change {c.number} ({c.action}): listed_closed = {c.listed_closed!r} is "
                            f"not a services source of {ctx.area.name} (sources: {', '.join(sources)})")
    return sources[c.listed_closed]


def _listed_closed_rows(ctx: _Context, scn: Scenario, c: Change) -> tuple[Any, set, str]:
    """The source re-read with every row open, and the rows the register rejected as closed."""
    src = _source(ctx, scn, c)
    rej = ctx.area.rejects
    rows = set(rej.loc[(rej["source_key"] == src["key"]) & (rej["reason"] == "closed"), "row"].astype(int))
    if not rows:
        raise ScenarioError(f"{scn.source}: change {c.number} ({c.action}): source '{src['key']}' lists no closed "
                            f"service in {ctx.area.name}'s register, so there is nothing to {c.action}")
    reopened = {**src, "status_rules": [[".*", "open"]],
                "columns": {k: v for k, v in src["columns"].items() if k != "closed_year"}}
    return _register_of(ctx, [reopened]), rows, src["path"]


def _open_listed(ctx: _Context, scn: Scenario, c: Change, active: set, visible: set) -> None:
    reg, rows, shown = _listed_closed_rows(ctx, scn, c)
    _take_register(ctx, scn, c, reg, shown, active, visible, prefix="", rows=rows)


def _close_listed(ctx: _Context, scn: Scenario, c: Change, active: set) -> None:
    """Close the open services with the name and type of a row the source lists as closed."""
    reg, rows, shown = _listed_closed_rows(ctx, scn, c)
    open_rows = {(ctx.row(i)["service_type"], normalise_name(ctx.row(i)["name"])): i for i in sorted(active)}
    for rec in reg.services.to_dict("records"):
        if rec["source_row"] not in rows:
            continue
        i = open_rows.get((rec["service_type"], normalise_name(rec["name"])))
        if i is None:
            ctx.builder.account(scn, c, "rejected", "not in the register",
                                f"{rec['name']}: the baseline already leaves it out (listed as closed)",
                                row=rec["source_row"], file=shown, service=rec)
            continue
        active.discard(i)
        ctx.builder.account(scn, c, "used", "", "", row=rec["source_row"], file=shown, service=ctx.row(i))
    for rej in reg.rejects.to_dict("records"):
        if rej["row"] in rows:
            ctx.builder.account(scn, c, "rejected", rej["reason"], rej["detail"], row=int(rej["row"]), file=shown)


def _open_hubs(ctx: _Context, scn: Scenario, c: Change, active: set, visible: set) -> None:
    h = c.hub_sites
    scheme, locality, p = str(h.get("scheme", "towns")), str(h["locality"]).strip(), int(h.get("p", 2))
    as_type = str(h.get("as_type", "childrens_centre"))
    if as_type not in ctx.area.pack.service_types:
        raise ScenarioError(f"{scn.source}: change {c.number} (open): hub_sites as_type {as_type!r} is not a "
                            f"service type of {ctx.area.name} ({', '.join(ctx.area.pack.service_types)})")
    if ctx.sites_for is None:
        raise ScenarioError(f"{scn.source}: change {c.number} (open): hub_sites need the hub-site solver; "
                            "resolve scenarios through locmap.api.compare_scenarios")
    if locality.lower().replace("-", "_") in RECOMMENDED:
        if ctx.recommended is None:
            raise ScenarioError(f"{scn.source}: change {c.number}: '{locality}' needs the baseline recommendation")
        rec = ctx.recommended(scheme)
        picked = rec[0] if locality.lower() == "recommended" else rec[1]
        if not picked:
            raise ScenarioError(f"{scn.source}: change {c.number}: the {scheme} scheme has no {locality}")
        locality = str(picked)
    sites = ctx.sites_for(scheme, locality, p, h.get("minutes"))
    for k, s in enumerate(sites.to_dict("records"), start=1):
        new = {c2: None for c2 in REGISTER_COLUMNS + ["source_file"]}
        new.update(service_id=f"hub:{scheme}:{locality}:{s['site_id']}:as_{as_type}", name=f"Family hub at {s['name']}",
                   service_type=as_type, easting=float(s["x"]), northing=float(s["y"]), located=True,
                   in_study_area=True, location_quality=f"suggested hub site ({s.get('service_type', 'site')})",
                   lad_cd=ctx.area.pack.lad_cd, lad_nm=ctx.area.pack.lad_nm, status="open", capacity=np.nan,
                   source=f"scenario {scn.name}: hub site {k} of {scheme} '{locality}'", source_key="scenario",
                   vintage="scenario", origin=scn.name)
        j = ctx.builder.add(new)
        visible.add(j)
        outcome = "rejected" if j in active else "used"
        active.add(j)
        ctx.builder.account(scn, c, outcome, "already open" if outcome == "rejected" else "",
                            f"{scheme} '{locality}' site {k}: {s['name']}", row=k, service=new)


def _fill_lad(union: gpd.GeoDataFrame, area: Any) -> gpd.GeoDataFrame:
    """Borough of located services that have none: the study area's, else the neighbour ward's."""
    need = union["lad_cd"].isna() & union["located"]
    if not need.any():
        return union
    union = union.copy()
    pts = union.loc[need, "geometry"]
    inside = pts.within(area.borough.geometry.iloc[0]).to_numpy()
    lad = np.where(inside, area.pack.lad_cd, None).astype(object)
    nw = area.neighbour_wards
    if len(nw) and (~inside).any():
        hit = gpd.sjoin(gpd.GeoDataFrame(geometry=pts[~inside], crs=union.crs), nw[["lad_cd", "geometry"]],
                        how="left", predicate="within")
        got = hit[~hit.index.duplicated()]["lad_cd"].reindex(pts[~inside].index)
        lad[~inside] = got.where(got.notna(), None).to_numpy(object)
    union.loc[need, "lad_cd"] = lad
    return union


__all__ = ["CHANGE_COLUMNS", "Resolution", "resolve"]
