"""The service register: one table of services from many source files.

Each source file keeps its own columns; the area manifest maps them onto the unified
schema (``[[services.sources]]``).  Every input row is either used (one or more services)
or written to the rejects table with file, row number and reason.  A user CSV
(docs/services.md) adds, replaces or removes services — the children's-centre list in the
shared data is incomplete, so councils are expected to supply their own.

Row numbers are 1-based data rows (the header is not counted), so row 1 is the line after
the header.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from locmap.errors import DataFileError, ManifestError
from locmap.data.io import read_csv_any, rename_columns
from locmap.data.manifest import AreaPack

REGISTER_COLUMNS = ["service_id", "name", "service_type", "subtype", "address", "postcode", "easting",
                    "northing", "lad_cd", "lad_nm", "in_study_area", "located", "location_quality",
                    "capacity", "source", "source_key", "source_row", "vintage", "status", "pcn_code",
                    "pcn_name"]
REJECT_COLUMNS = ["file", "row", "reason", "detail", "source_key"]

#: documented schema of a user services CSV (docs/services.md)
USER_COLUMNS = ["service_id", "name", "service_type", "subtype", "address", "postcode", "easting",
                "northing", "lat", "lon", "capacity", "status", "action"]

POSTCODE_RE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$")
_TO_BNG = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
# Great Britain's National Grid extent (metres)
BNG_X = (0.0, 700_000.0)
BNG_Y = (0.0, 1_300_000.0)


def normalise_postcode(pc) -> str | None:
    """Upper-case, single space before the inward code; None for blank/malformed values."""
    if pc is None or (isinstance(pc, float) and np.isnan(pc)):
        return None
    s = re.sub(r"\s+", "", str(pc)).upper()
    if not s:
        return None
    s = s[:-3] + " " + s[-3:] if len(s) > 3 else s
    return s if POSTCODE_RE.match(s) else "INVALID:" + str(pc)


def normalise_name(name: str) -> str:
    s = str(name).lower().replace("&", " and ").replace("'", "")
    s = re.sub(r"[^a-z0-9 ]+", " ", s)
    s = re.sub(r"\b(the|ltd|limited)\b", " ", s)
    return re.sub(r"\s+", " ", s).strip()


def _norm_key(v) -> str:
    return re.sub(r"[\s\-_]+", " ", str(v).strip().lower())


@dataclass
class ServiceRegister:
    """Result of :func:`build_register`."""

    services: gpd.GeoDataFrame
    rejects: pd.DataFrame
    accounting: pd.DataFrame  # per source: file, read, used, rejected
    notes: list[str] = field(default_factory=list)

    def unlocated(self) -> pd.DataFrame:
        return self.services.loc[~self.services["located"], ["service_id", "name", "service_type", "source"]]


class _Rejects:
    def __init__(self):
        self.rows: list[dict] = []

    def add(self, file, row, reason, detail="", key=""):
        self.rows.append({"file": str(file), "row": int(row), "reason": reason, "detail": str(detail),
                          "source_key": key})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=REJECT_COLUMNS)


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip())


def _num(v):
    if _blank(v):
        return np.nan
    try:
        f = float(str(v).replace(",", "").strip())
    except (TypeError, ValueError):
        return None  # unparseable
    return f if np.isfinite(f) else None


def _locate(rec: dict, postcodes: pd.DataFrame) -> tuple[float, float, str] | str | None:
    """Coordinates for a record: (easting, northing, quality), a reject reason (str) or None (no location)."""
    e, n = _num(rec.get("easting")), _num(rec.get("northing"))
    if e is None or n is None:
        return "bad coordinates: easting/northing not numeric"
    if not (np.isnan(e) or np.isnan(n)):
        if BNG_X[0] < e < BNG_X[1] and BNG_Y[0] < n < BNG_Y[1]:
            return float(e), float(n), _quality(rec, "source coordinates")
        if BNG_X[0] < n < BNG_X[1] and BNG_Y[0] < e < BNG_Y[1]:
            return "bad coordinates: easting/northing look swapped"
        if -9 < e < 2.5 and 49 < n < 61 or 49 < e < 61 and -9 < n < 2.5:
            return "bad coordinates: easting/northing hold degrees (lat/lon in the wrong columns)"
        return f"bad coordinates: ({e}, {n}) outside the British National Grid"
    lat, lon = _num(rec.get("lat")), _num(rec.get("lon"))
    if lat is None or lon is None:
        return "bad coordinates: lat/lon not numeric"
    if not (np.isnan(lat) or np.isnan(lon)):
        if 49 < lat < 61 and -9 < lon < 2.5:
            x, y = _TO_BNG.transform(lon, lat)
            return float(x), float(y), _quality(rec, "source lat/lon")
        if 49 < lon < 61 and -9 < lat < 2.5:
            return "bad coordinates: lat and lon look swapped"
        return f"bad coordinates: lat/lon ({lat}, {lon}) outside Great Britain"
    pc = rec.get("postcode_norm")
    if pc is None:
        return None
    if pc.startswith("INVALID:"):
        return f"bad postcode: {pc[8:]!r} is not a valid UK postcode"
    if pc not in postcodes.index:
        return f"unknown postcode: {pc} not in the postcode table"
    row = postcodes.loc[pc]
    e, n = _num(row["easting"]), _num(row["northing"])
    if e is None or n is None or np.isnan(e) or np.isnan(n):
        return f"unknown postcode: {pc} has no coordinates in the postcode table"
    return float(e), float(n), "postcode centroid"


def _quality(rec: dict, default: str) -> str:
    q = rec.get("location_quality")
    return default if _blank(q) else str(q).strip()


def _status(rec: dict, rules) -> str:
    s = rec.get("status")
    if _blank(s):
        return "open"
    for pat, val in rules or []:
        if re.search(pat, str(s)):
            return val
    return "open" if not rules else "unknown"


def _types(rec: dict, src: dict, name_rules) -> list[str]:
    if src.get("service_type"):
        return [src["service_type"]]
    kind_map = {_norm_key(k): v for k, v in (src.get("kind_map") or {}).items()}
    if rec.get("kind") is not None and _norm_key(rec["kind"]) in kind_map:
        return [kind_map[_norm_key(rec["kind"])]]
    if src.get("type_from"):
        tmap = {_norm_key(k): v for k, v in (src.get("type_map") or {}).items()}
        v = rec.get(src["type_from"])
        if not _blank(v):
            t = tmap.get(_norm_key(v))
            if t is not None:
                return t if isinstance(t, list) else [t]
    if not _blank(rec.get("type")):
        return [str(rec["type"]).strip()]
    for pat, t in name_rules or []:
        if re.search(pat, str(rec.get("name", ""))):
            return [t]
    return []


def read_source(src: dict, path: Path, pack: AreaPack, postcodes: pd.DataFrame, rejects: _Rejects,
                display_path: str) -> tuple[list[dict], int]:
    """Read one source file into service records.  Returns (records, rows read)."""
    df, enc = read_csv_any(path)
    t = rename_columns(df, src["columns"], path, required=("name",))
    key = src["key"]
    excl = src.get("exclude", []) or []
    name_rules = pack.services.get("name_type_rules", [])
    records = []
    n_read = len(df)
    raw_all_blank = df.isna().all(axis=1).to_numpy()
    for i, rec in enumerate(t.to_dict("records")):
        row = i + 1
        if raw_all_blank[i]:
            rejects.add(display_path, row, "blank row", "", key)
            continue
        # exclusions from the manifest
        raw = df.iloc[i]
        reason = None
        for ex in excl:
            v = raw.get(ex["column"]) if ex["column"] in df.columns else None
            if v is None or _blank(v):
                continue
            if "values" in ex and str(v).strip() in [str(x) for x in ex["values"]]:
                reason = ex["reason"]
            elif "pattern" in ex and re.search(ex["pattern"], str(v)):
                reason = ex["reason"]
            if reason:
                break
        if reason:
            rejects.add(display_path, row, "excluded", f"{reason} ({ex['column']}={raw.get(ex['column'])!r})", key)
            continue
        action = "add" if _blank(rec.get("action")) else str(rec["action"]).strip().lower()
        if action not in ("add", "replace", "remove"):
            rejects.add(display_path, row, "bad action", f"action {action!r} is not add, replace or remove", key)
            continue
        if action == "remove":
            if _blank(rec.get("service_id")):
                rejects.add(display_path, row, "unknown service_id", "remove needs a service_id", key)
                continue
            records.append({"source_key": key, "source_row": row, "source_file": display_path, "action": "remove",
                            "user_service_id": str(rec["service_id"]).strip(), "name": rec.get("name") or "",
                            "service_id": str(rec["service_id"]).strip()})
            continue
        if action == "replace" and _blank(rec.get("service_id")):
            rejects.add(display_path, row, "unknown service_id", "replace needs a service_id", key)
            continue
        name = rec.get("name")
        if _blank(name):
            rejects.add(display_path, row, "missing name", "", key)
            continue
        name = str(name).strip()
        rec["name"] = name
        status = _status(rec, src.get("status_rules"))
        if not _blank(rec.get("closed_year")):
            # community-run libraries carry the year the council stopped running them
            if str(rec.get("subtype") or "").strip() not in src.get("closed_year_ignore_if_subtype", []):
                status = "closed"
        if status == "closed":
            rejects.add(display_path, row, "closed", f"{name}: status {rec.get('status') or ''} {rec.get('closed_year') or ''}".strip(), key)
            continue
        types = _types(rec, src, name_rules)
        if not types:
            rejects.add(display_path, row, "missing/unknown service type",
                        f"{name}: {src.get('type_from') or 'type'}={rec.get(src.get('type_from') or 'type')!r}", key)
            continue
        unknown = [ty for ty in types if ty not in pack.service_types]
        if unknown:
            rejects.add(display_path, row, "missing/unknown service type",
                        f"{name}: {unknown[0]!r} not in the area's vocabulary ({', '.join(pack.service_types)})", key)
            continue
        rec["postcode_norm"] = normalise_postcode(rec.get("postcode"))
        loc = _locate(rec, postcodes)
        if isinstance(loc, str):
            rejects.add(display_path, row, loc.split(":")[0], f"{name}: {loc}", key)
            continue
        cap = _num(rec.get("capacity"))
        base = {
            "name": name, "subtype": None if _blank(rec.get("subtype")) else str(rec.get("subtype")).strip(),
            "address": None if _blank(rec.get("address")) else str(rec.get("address")).strip(),
            "postcode": None if (rec["postcode_norm"] or "").startswith("INVALID") else rec["postcode_norm"],
            "easting": loc[0] if loc else np.nan, "northing": loc[1] if loc else np.nan,
            "located": loc is not None,
            "location_quality": loc[2] if loc else "no location (supply a postcode or coordinates)",
            "lad_cd": None if _blank(rec.get("lad_cd")) else str(rec["lad_cd"]).strip(),
            "lad_nm": None if _blank(rec.get("lad_nm")) else str(rec["lad_nm"]).strip(),
            "capacity": cap if cap is not None else np.nan,
            "source": src.get("source", key), "source_key": key, "source_row": row,
            "source_file": display_path,
            "vintage": str(src.get("vintage", "")), "status": status,
            "pcn_code": None if _blank(rec.get("pcn_code")) else rec.get("pcn_code"),
            "pcn_name": None if _blank(rec.get("pcn_name")) else rec.get("pcn_name"),
            "raw_id": None if _blank(rec.get("id")) else str(rec["id"]).strip(),
            "user_service_id": None if _blank(rec.get("service_id")) else str(rec["service_id"]).strip(),
            "action": action,
        }
        if base["lad_cd"] is None and src.get("lad_default"):
            base["lad_cd"] = src["lad_default"]
        if base["lad_cd"] is None and rec["postcode_norm"] in postcodes.index:
            base["lad_cd"] = postcodes.loc[rec["postcode_norm"], "lad_cd"]
        for ty in types:
            r = dict(base, service_type=ty)
            sid = base["user_service_id"] or f"{key}:{base['raw_id'] or 'row' + str(row)}"
            r["service_id"] = sid if len(types) == 1 else f"{sid}#{ty}"
            records.append(r)
    return records, n_read


def build_register(pack: AreaPack, data_root: Path, outline, postcodes: pd.DataFrame, buffer_m: float,
                   user_csv: str | Path | None = None, crs: str = "EPSG:27700") -> ServiceRegister:
    """Build the unified service register of an area pack.

    Parameters
    ----------
    outline : shapely geometry
        Study-area outline in ``crs`` (metres); services farther than ``buffer_m`` are rejected.
    postcodes : DataFrame
        Indexed by normalised postcode, with ``easting, northing, lad_cd`` (EPSG:27700).
    user_csv : path, optional
        Extra/corrected services (schema :data:`USER_COLUMNS`, docs/services.md).
    """
    rejects = _Rejects()
    all_recs: list[dict] = []
    acct = []
    sources = list(pack.services.get("sources", []))
    paths = []
    for src in sources:
        p = Path(src["path"])
        paths.append((src, p if p.is_absolute() else data_root / p, src["path"]))
    if user_csv is not None:
        user_src = {"key": "user", "path": str(user_csv), "source": f"user file {Path(user_csv).name}",
                    "vintage": "user", "columns": {c: c for c in USER_COLUMNS if c not in ("service_type",)}
                    | {"type": "service_type"},
                    "status_rules": [["(?i)^(closed|c)$", "closed"], ["(?i)^(open|a|active)$", "open"]]}
        paths.append((user_src, Path(user_csv), str(user_csv)))
    keys = [src["key"] for src, _, _ in paths]
    dup_keys = sorted({k for k in keys if keys.count(k) > 1})
    if dup_keys:
        raise ManifestError(f"{pack.path}: [[services.sources]] keys must be unique "
                            f"('user' is reserved for the user services CSV): {dup_keys}")
    for src, _, _ in paths:
        for ex in src.get("exclude", []) or []:
            if not isinstance(ex, dict) or "column" not in ex or "reason" not in ex \
                    or not ("values" in ex or "pattern" in ex):
                raise ManifestError(f"{pack.path}: services source '{src['key']}': every exclude rule "
                                    f"needs 'column', 'reason' and 'values' or 'pattern' (got {ex!r})")
    # a postcode listed twice in the postcode table: the first row wins
    postcodes = postcodes[~postcodes.index.duplicated(keep="first")]
    for src, p, disp in paths:
        recs, n = read_source(src, p, pack, postcodes, rejects, disp)
        all_recs.extend(recs)
        acct.append({"source_key": src["key"], "file": disp, "read": n})
    # user actions: remove/replace
    by_id = {}
    final: list[dict] = []
    for r in all_recs:
        if r["source_key"] == "user" and r["action"] in ("remove", "replace"):
            target = r["user_service_id"]
            hit = [x for x in final if x["service_id"] == target or x["service_id"].startswith(target + "#")]
            if not hit:
                rejects.add(r["source_file"], r["source_row"], "unknown service_id",
                            f"{r['action']} of {target!r}: no such service", "user")
                continue
            for x in hit:
                final.remove(x)
                rejects.add(x["source_file"], x["source_row"], "replaced by user file" if r["action"] == "replace"
                            else "removed by user file", f"{x['service_id']} ({x['name']})", x["source_key"])
            if r["action"] == "remove":
                r["_used_as_action"] = True
                by_id.setdefault("__removals__", []).append(r)
                continue
        final.append(r)
    # outside area + buffer, duplicates
    dedupe_m = float(pack.services.get("dedupe_m", 150))
    kept: list[dict] = []
    seen_ids: dict[str, dict] = {}
    seen_raw: dict[tuple, dict] = {}
    seen_name: dict[tuple, list] = {}
    for r in final:
        if r["located"]:
            pt = shapely.Point(r["easting"], r["northing"])
            d = float(shapely.distance(pt, outline))
            if d > buffer_m:
                rejects.add(r["source_file"], r["source_row"], "outside study area + buffer",
                            f"{r['name']}: {d:.0f} m from {pack.lad_nm} (buffer {buffer_m:.0f} m)", r["source_key"])
                continue
            r["in_study_area"] = bool(shapely.contains_xy(outline, r["easting"], r["northing"])) if d == 0 else False
        else:
            r["in_study_area"] = r["lad_cd"] == pack.lad_cd if r["lad_cd"] else True
        if r["service_id"] in seen_ids:
            k = seen_ids[r["service_id"]]
            rejects.add(r["source_file"], r["source_row"], "duplicate",
                        f"{r['name']}: service_id {r['service_id']} already used by {k['source_file']} row {k['source_row']}",
                        r["source_key"])
            continue
        dup = None
        if r["raw_id"] is not None:
            dup = seen_raw.get((r["service_type"], r["raw_id"]))
        if dup is None and r["located"]:
            for other in seen_name.get((r["service_type"], normalise_name(r["name"])), []):
                if other["located"] and np.hypot(other["easting"] - r["easting"], other["northing"] - r["northing"]) <= dedupe_m:
                    dup = other
                    break
        if dup is not None:
            rejects.add(r["source_file"], r["source_row"], "duplicate",
                        f"{r['name']}: same service as {dup['service_id']} ({dup['source_file']} row {dup['source_row']})",
                        r["source_key"])
            continue
        seen_ids[r["service_id"]] = r
        if r["raw_id"] is not None:
            seen_raw[(r["service_type"], r["raw_id"])] = r
        seen_name.setdefault((r["service_type"], normalise_name(r["name"])), []).append(r)
        kept.append(r)
    rej = rejects.frame()
    df = pd.DataFrame(kept)
    if df.empty:
        df = pd.DataFrame(columns=REGISTER_COLUMNS + ["source_file"])
    for c in REGISTER_COLUMNS:
        if c not in df:
            df[c] = None
    df["located"] = df["located"].astype(bool)
    df["in_study_area"] = df["in_study_area"].astype(bool)
    for c in ("easting", "northing", "capacity"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    geom = [shapely.Point(e, n) if loc else None for e, n, loc in zip(df["easting"], df["northing"], df["located"])]
    gdf = gpd.GeoDataFrame(df[REGISTER_COLUMNS + ["source_file"]], geometry=geom, crs=crs)
    gdf = gdf.sort_values(["service_type", "service_id"], kind="stable").reset_index(drop=True)
    # accounting: a row is used if it produced a kept service or a user removal
    used_rows = {(r["source_key"], r["source_row"]) for r in kept}
    used_rows |= {(r["source_key"], r["source_row"]) for r in by_id.get("__removals__", [])}
    rejected_rows = set(zip(rej["source_key"], rej["row"])) if len(rej) else set()
    rows = []
    for a in acct:
        k = a["source_key"]
        used = {r for r in used_rows if r[0] == k}
        rejd = {r for r in rejected_rows if r[0] == k} - used
        rows.append({**a, "used": len(used), "rejected": len(rejd),
                     "accounted": len(used) + len(rejd) == a["read"]})
    accounting = pd.DataFrame(rows)
    notes = []
    bad = accounting[~accounting["accounted"]]
    if len(bad):  # pragma: no cover - a bug guard: every row must be used or rejected
        raise DataFileError(bad["file"].iloc[0], f"row accounting failed: {bad.to_dict('records')}")
    n_unloc = int((~gdf["located"]).sum())
    if n_unloc:
        notes.append(f"{n_unloc} service(s) have no location and are kept as unlocated: "
                     + "; ".join(gdf.loc[~gdf["located"], "name"].head(10)))
    return ServiceRegister(services=gdf, rejects=rej, accounting=accounting, notes=notes)


__all__ = ["build_register", "ServiceRegister", "normalise_postcode", "USER_COLUMNS", "REGISTER_COLUMNS"]
