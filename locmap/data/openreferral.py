"""Open Referral UK service directories as a services register source (docs/services.md).

Open Referral UK (the HSDS 3.0 UK profile) is how councils publish family-information and
family-hub directories.  :func:`read_openreferral` reads an export in either form:

* **JSON API responses**: one ``.json`` file or a folder of them (pages read in natural name
  order: ``page2`` before ``page10``): a paginated list (``{"contents": [...]}``) of services or
  of ``service_at_location`` records, a full service record (``/services/{id}``), a full
  ``service_at_location`` record, or a JSON array of records;
* **the tabular CSV package**: a folder with ``services.csv``, ``service_at_location.csv``,
  ``locations.csv``, ``addresses.csv`` (or ``address.csv``), ``attributes.csv`` (or
  ``attribute.csv``) and ``taxonomy_terms.csv``, assembled into full service records.

Every record is validated against the profile's JSON Schemas (shipped in ``oruk_schema/``)
with :mod:`jsonschema`; violations are reported per record, never raised.  Each
service-at-location becomes one register row (row N = the N-th service-at-location in reading
order; a service with none is one row, rejected).  The row gets the service name, a locmap
service type from a TOML mapping of taxonomy terms / service names (:func:`load_type_mapping`),
the location's latitude/longitude and the postcode of its (physical) address; the register's
row rules then place it (lat/lon first, else the postcode) exactly as for a CSV.

The result is a :class:`~locmap.data.io.TableRead` in the user-services schema; rows this reader
already rejects carry their (reason, detail) in ``frame.attrs["row_rejects"]`` (row -> tuple).
"""
from __future__ import annotations

import functools
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from locmap.data.io import TableRead, read_csv_any
from locmap.errors import DataFileError, InputFileError
from locmap.pathcheck import CSV_TABLES, check_input, is_openreferral  # noqa: F401 - this module's names
from locmap.pathcheck import export_files, looks_oruk

SCHEMA_DIR = Path(__file__).with_name("oruk_schema")
#: the shipped mapping of taxonomy terms / service names to locmap service types
DEFAULT_TYPES_TOML = Path(__file__).with_name("openreferral_types.toml")
#: a mapping file of this name inside the export folder (or beside a JSON file) replaces the default
USER_TYPES_NAME = "locmap_service_types.toml"
#: columns of the table handed to the register (the user-services schema, docs/services.md)
ROW_COLUMNS = ["service_id", "name", "service_type", "address", "postcode", "lat", "lon", "status"]
#: a service with one of these statuses is open; any other status is rejected as "closed"
OPEN_STATUSES = ("active",)
#: location types a family can walk to (blank counts as physical)
PHYSICAL_LOCATION_TYPES = ("physical", "")
_MAX_VIOLATIONS_SHOWN = 3


# ------------------------------------------------------------------ the type mapping
@dataclass(frozen=True)
class TypeMapping:
    """Taxonomy term (normalised) -> service type, and (name regex, service type) rules."""

    taxonomy: dict
    names: tuple
    path: Path


def _term_key(v) -> str:
    return re.sub(r"[\s\-_'’]+", "", str(v).strip().lower())


def load_type_mapping(path: str | Path = DEFAULT_TYPES_TOML) -> TypeMapping:
    """Read a mapping TOML (``[taxonomy]`` term = type, ``[names]`` regex = type; see the shipped
    ``openreferral_types.toml``); :class:`~locmap.errors.DataFileError` naming a bad entry."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DataFileError(path, f"cannot read the service-type mapping: {exc}",
                            remedy="fix the TOML (see locmap/data/openreferral_types.toml).") from None
    unknown = set(doc) - {"taxonomy", "names"}
    if unknown:
        raise DataFileError(path, f"unknown section(s) {sorted(unknown)}: only [taxonomy] and [names]",
                            remedy="see locmap/data/openreferral_types.toml for the format.")
    names = []
    for pattern, ty in doc.get("names", {}).items():
        try:
            names.append((re.compile(pattern), str(ty)))
        except re.error as exc:
            raise DataFileError(path, f"[names] {pattern!r} is not a regular expression: {exc}") from None
    taxonomy = {_term_key(k): str(v) for k, v in doc.get("taxonomy", {}).items()}
    return TypeMapping(taxonomy=taxonomy, names=tuple(names), path=path)


def _mapping_for(path: Path, types_toml: str | Path | None) -> TypeMapping:
    if types_toml is not None:
        return load_type_mapping(types_toml)
    beside = (path if path.is_dir() else path.parent) / USER_TYPES_NAME
    return load_type_mapping(beside if beside.is_file() else DEFAULT_TYPES_TOML)


def _list(v) -> list:
    """``v`` if it is a list, else [] (a wrong type is reported by the schema, not raised here)."""
    return v if isinstance(v, list) else []


def _taxonomy_terms(service: dict) -> list[str]:
    """The service's taxonomy terms (``term``, else ``name``, else ``id`` of each attribute)."""
    out = []
    for attr in _list(service.get("attributes")):
        term = attr.get("taxonomy_term") if isinstance(attr, dict) else None
        if isinstance(term, dict):
            out.append(term.get("term") or term.get("name") or term.get("id") or "")
    return [str(t) for t in out if t]


def service_type(service: dict, mapping: TypeMapping) -> str | None:
    """The locmap type of a service record: its first mapped taxonomy term, else the first
    ``[names]`` rule matching its name, else None."""
    for term in _taxonomy_terms(service):
        ty = mapping.taxonomy.get(_term_key(term))
        if ty is not None:
            return ty
    return next((ty for rx, ty in mapping.names if rx.search(str(service.get("name") or ""))), None)


# ------------------------------------------------------------------ records
@dataclass(frozen=True)
class Record:
    """One top-level record of an export, as read: ``kind`` "service" or "service_at_location",
    the schema it is validated against, where it was read (file and record/row) and problems
    found while assembling it (CSV links to missing rows)."""

    kind: str
    data: dict
    schema: str
    where: str
    problems: tuple = ()


def _classify(item, where: str, in_list: bool) -> Record:
    if not isinstance(item, dict):
        return Record("service", {}, "service.json", where, (f"not a JSON object: {str(item)[:60]!r}",))
    if {"service", "location", "service_id", "location_id"} & item.keys():
        return Record("service_at_location", item,
                      "service_at_location_list.json" if in_list else "service_at_location.json", where)
    full = not in_list or "service_at_locations" in item
    return Record("service", item, "service.json" if full else "service_list.json", where)


def _json_records(file: Path) -> list[Record]:
    try:
        obj = json.loads(file.read_bytes())
    except ValueError as exc:
        raise DataFileError(file, f"not valid JSON: {exc}",
                            remedy="export the page again; every page of an export must be complete JSON.") from None
    except OSError as exc:
        raise InputFileError(file, f"cannot read the file: {exc.strerror or exc}", errno=exc.errno) from None
    if isinstance(obj, dict) and isinstance(obj.get("contents"), list):
        return [_classify(it, f"{file.name} record {i}", True) for i, it in enumerate(obj["contents"], 1)]
    if isinstance(obj, list):
        return [_classify(it, f"{file.name} record {i}", True) for i, it in enumerate(obj, 1)]
    if looks_oruk(obj):
        return [_classify(obj, f"{file.name}", False)]
    raise DataFileError(file, "not an Open Referral UK API response (no 'contents' list, service or "
                              "service_at_location record)",
                        remedy="give the /services or /service_at_locations responses (docs/services.md).")


# ------------------------------------------------------------------ the CSV package
@functools.cache
def _schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))


def _props(*path: str) -> dict:
    """Properties of a nested object of the full service schema (``path`` through arrays' items)."""
    node = _schema("service.json")
    for key in path:
        node = node["properties"][key]
        node = node.get("items", node)
    return node["properties"]


def _cast(row: dict, props: dict) -> dict:
    """A CSV row as a JSON object: blanks dropped, numbers/integers/booleans typed where they
    parse (a cell that does not parse stays text, so the schema reports it)."""
    out = {}
    for k, v in row.items():
        if v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip()):
            continue
        kind = props.get(k, {}).get("type")
        out[k] = _typed(str(v).strip(), kind)
    return out


def _typed(s: str, kind):
    try:
        if kind == "number":
            return float(s)
        if kind == "integer":
            return int(s)
    except ValueError:
        return s
    if kind == "boolean" and s.lower() in ("true", "false"):
        return s.lower() == "true"
    return s


def _csv_table(folder: Path, *names: str) -> list[dict]:
    for name in names:
        if (folder / name).is_file():
            df, _ = read_csv_any(folder / name)
            # blank lines are not records (the profile's own examples end lines with CR CR LF)
            return df.dropna(how="all").to_dict("records")
    return []


def _group(rows: list[dict], key: str) -> dict:
    out: dict = {}
    for r in rows:
        out.setdefault(r.get(key), []).append(r)
    return out


def _csv_locations(folder: Path) -> dict:
    addresses = _group([_cast(r, _props("service_at_locations", "location", "addresses"))
                        for r in _csv_table(folder, "addresses.csv", "address.csv")], "location_id")
    out = {}
    for r in _csv_table(folder, "locations.csv"):
        loc = _cast(r, _props("service_at_locations", "location"))
        loc["addresses"] = addresses.get(loc.get("id"), [])
        out[loc.get("id")] = loc
    return out


def _csv_attributes(folder: Path) -> dict:
    terms = {t.get("id"): t for t in (_cast(r, _props("attributes", "taxonomy_term"))
                                      for r in _csv_table(folder, "taxonomy_terms.csv"))}
    attrs = []
    for r in _csv_table(folder, "attributes.csv", "attribute.csv"):
        a = _cast(r, _props("attributes"))
        tid = a.get("taxonomy_term_id")
        if tid is not None and tid in terms:
            a["taxonomy_term"] = terms[tid]
        attrs.append(a)
    return _group(attrs, "link_id")


def _csv_records(folder: Path) -> list[Record]:
    """Full service records assembled from the tables; a service_at_location row naming a
    service or location that is not in the package becomes a record with that problem."""
    locations = _csv_locations(folder)
    attributes = _csv_attributes(folder)
    services = [_cast(r, _props()) for r in _csv_table(folder, "services.csv")]
    ids = {s.get("id") for s in services}
    sals = _group([dict(_cast(r, _props("service_at_locations")), _row=i)
                   for i, r in enumerate(_csv_table(folder, "service_at_location.csv"), 1)], "service_id")
    records = []
    for i, s in enumerate(services, 1):
        s["attributes"] = attributes.get(s.get("id"), [])
        s["service_at_locations"] = [_sal_with_location(sal, locations) for sal in sals.get(s.get("id"), [])]
        records.append(Record("service", s, "service.json", f"services.csv row {i}"))
    for sid, orphans in sals.items():
        if sid not in ids:
            for sal in orphans:
                records.append(Record("service_at_location", _sal_with_location(sal, locations),
                                      "service_at_location.json", f"service_at_location.csv row {sal['_row']}",
                                      (f"service_id {sid!r} is not in services.csv",)))
    return records


def _sal_with_location(sal: dict, locations: dict) -> dict:
    out = {k: v for k, v in sal.items() if k != "_row"}
    if out.get("location_id") in locations:
        out["location"] = locations[out["location_id"]]
    return out


# ------------------------------------------------------------------ validation
@functools.cache
def _validator(name: str) -> Any:
    """The profile's validator for ``name`` (jsonschema is imported here, on first use: with its
    format checkers it takes seconds to import, and most runs read no Open Referral file)."""
    import jsonschema

    return jsonschema.Draft202012Validator(_schema(name), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def violations(record: Record) -> list[str]:
    """The record's JSON Schema violations as ``path: message`` (the profile's schema for its kind)."""
    found = []
    for err in sorted(_validator(record.schema).iter_errors(record.data), key=lambda e: [str(p) for p in e.absolute_path]):
        where = "/".join(str(p) for p in err.absolute_path) or "(record)"
        found.append(f"{where}: {err.message[:160]}")
    return found


# ------------------------------------------------------------------ records -> register rows
def _pairs(rec: Record) -> list[tuple[dict, dict | None, dict]]:
    """(service, location or None, service_at_location) for each service-at-location of a
    record; a service listing none gives one pair with an empty service_at_location."""
    if rec.kind == "service_at_location":
        service = rec.data.get("service")
        return [(service if isinstance(service, dict) else {}, _location(rec.data), rec.data)]
    sals = [s for s in _list(rec.data.get("service_at_locations")) if isinstance(s, dict)]
    return [(rec.data, _location(s), s) for s in sals] or [(rec.data, None, {})]


def _location(sal: dict) -> dict | None:
    loc = sal.get("location")
    return loc if isinstance(loc, dict) else None


def _address(location: dict) -> dict:
    addrs = [a for a in _list(location.get("addresses")) if isinstance(a, dict)]
    physical = [a for a in addrs if str(a.get("address_type") or "").lower() == "physical"]
    return (physical or addrs or [{}])[0]


def _row(service: dict, location: dict | None, sal: dict, mapping: TypeMapping) -> dict:
    addr = _address(location or {})
    street = ", ".join(str(addr[k]) for k in ("address_1", "city") if addr.get(k))
    return {"service_id": str(sal.get("id") or service.get("id") or "") or None,
            "name": service.get("name"), "service_type": service_type(service, mapping),
            "address": street or None, "postcode": addr.get("postal_code"),
            "lat": None if location is None else location.get("latitude"),
            "lon": None if location is None else location.get("longitude"),
            "status": service.get("status")}


def _reject(rec: Record, problems: list[str], service: dict, location: dict | None, sal: dict,
            row: dict, mapping: TypeMapping) -> tuple[str, str] | None:
    """(reason, detail) when this reader rejects the row, else None (the register's rules follow)."""
    name = row["name"] or service.get("id") or "(no name)"
    if problems:
        more = f" (+{len(problems) - _MAX_VIOLATIONS_SHOWN} more)" if len(problems) > _MAX_VIOLATIONS_SHOWN else ""
        return "schema violation", f"{rec.where}: {'; '.join(problems[:_MAX_VIOLATIONS_SHOWN])}{more}"
    if not service:
        return "no service", f"{rec.where}: service {sal.get('service_id')!r} is not included in the record"
    status = str(service.get("status") or "").strip().lower()
    if status not in OPEN_STATUSES:
        return "closed", f"{name}: Open Referral status {service.get('status')!r} ({rec.where})"
    if not sal:
        return "no location", (f"{name}: the record lists no service_at_locations ({rec.where}); export full "
                               "service records (/services/{id}) or /service_at_locations")
    if location is None:
        return "no location", f"{name}: location {sal.get('location_id')!r} is not included ({rec.where})"
    if str(location.get("location_type") or "").strip().lower() not in PHYSICAL_LOCATION_TYPES:
        return "no physical location", f"{name}: location_type {location.get('location_type')!r} ({rec.where})"
    if row["service_type"] is None:
        terms = _taxonomy_terms(service)
        return (f"no service type for taxonomy {', '.join(repr(t) for t in terms) or '(none)'}",
                f"{name}: neither its taxonomy terms nor its name are in {mapping.path.name} ({rec.where})")
    return None


def read_openreferral(path: str | Path, types_toml: str | Path | None = None,
                      sheet: str | int | None = None) -> TableRead:
    """Read an Open Referral UK export (JSON responses or CSV package; file or folder) as the
    register's rows: one per service-at-location, in reading order.

    ``types_toml`` is the service-type mapping (default: ``locmap_service_types.toml`` in the
    export folder or beside the file, else the shipped ``openreferral_types.toml``).  Rows this
    reader rejects (schema violation, closed, no location, no service type ...) are listed in
    ``frame.attrs["row_rejects"]`` as {row: (reason, detail)}; their cells are still filled so
    the register counts them.
    """
    path = Path(path)
    if sheet is not None:
        raise DataFileError(path, f"a sheet or layer ({sheet!r}) was chosen, but this is an Open Referral UK export",
                            remedy="leave --sheet out: an export is read whole (every page or table).")
    mapping = _mapping_for(path, types_toml)
    csv_package = path.is_dir() and any((path / n).is_file() for n in CSV_TABLES)
    records = _csv_records(path) if csv_package else [r for f in export_files(path) for r in _json_records(f)]
    rows, rejects, n_invalid = [], {}, 0
    for rec in records:
        problems = list(rec.problems) + violations(rec)
        n_invalid += bool(problems)
        for service, location, sal in _pairs(rec):
            row = _row(service, location, sal, mapping)
            reject = _reject(rec, problems, service, location, sal, row, mapping)
            rows.append(row)
            if reject is not None:
                rejects[len(rows)] = reject
    frame = pd.DataFrame(rows, columns=ROW_COLUMNS).astype(object)
    frame = frame.where(frame.notna(), None).map(lambda v: None if v is None else str(v))
    frame.attrs["row_rejects"] = rejects
    form = "CSV package" if csv_package else f"JSON, {len(export_files(path))} file(s)"
    return TableRead(frame, (f"{path.name}: Open Referral UK export ({form}): {len(records)} record(s), "
                             f"{len(rows)} service-at-location row(s), {n_invalid} record(s) failing the "
                             f"profile's JSON Schema; service types from {mapping.path}",))


__all__ = ["is_openreferral", "read_openreferral", "load_type_mapping", "service_type", "violations",
           "check_input", "TypeMapping", "Record", "DEFAULT_TYPES_TOML", "USER_TYPES_NAME"]
