"""Postcode look-up for the finder: normalise, validate, classify and suggest.

Every query ends in exactly one status (nothing is dropped):

==================  ==========================================================================
``ok``              a live geographic postcode in the study area: it can be answered
``malformed``       not written like a UK postcode (empty, stray characters, wrong shape)
``unknown``         written like a postcode but not a live postcode of the area or its
                    neighbours (Code-Point Open holds live postcodes only, so a terminated
                    postcode is reported here too; so is a real postcode elsewhere in a
                    district the data touches)
``non_geographic``  a PO-box / delivery-office postcode: more than ``max_stacked``
                    postcodes at one point, mostly large users or spread over several
                    sectors; its point is the delivery office, not a home
``outside_area``    a live postcode of a neighbouring borough, or a postcode district the
                    data does not cover at all
==================  ==========================================================================

For ``unknown`` and ``non_geographic`` the look-up suggests the nearest answerable postcode
of the **same sector** (``UB5 6``) by unit order (``6AA`` < ``6AB`` < ...), which is how
Royal Mail numbers walks, so neighbouring units are usually neighbouring streets.

Postcodes stacked at one point that are *not* delivery offices (a new block of flats whose
units all sit on one point) are answered, with a note that their location is shared.

Coordinates are EPSG:27700 metres.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from locmap.data.area import AreaData
from locmap.data.services import POSTCODE_RE
from locmap.finder._boroughs import borough_outlines
from locmap.errors import LocmapError

#: The statuses a look-up can end in (see the module docstring).
STATUSES: tuple[str, ...] = ("ok", "malformed", "unknown", "non_geographic", "outside_area")

#: Columns of :func:`lookup_postcodes`.
LOOKUP_COLUMNS: tuple[str, ...] = (
    "query", "postcode", "status", "reason", "suggestion", "note", "easting", "northing",
    "home_lad_cd", "home_lad_nm",
)

_UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # letters Royal Mail uses in the inward code
_STRAY = re.compile(r"[^A-Za-z0-9\s]")


class PostcodeError(LocmapError, ValueError):
    """A postcode (or point) given on the command line cannot be answered."""

    remedy = ("check the postcode (e.g. UB5 6AA); a look-up answers live, geographic postcodes "
              "of the study area only.")


@dataclass(frozen=True)
class PostcodeIndex:
    """Every postcode of an area pack's postcode table, classified for look-ups.

    Attributes
    ----------
    table : DataFrame
        Indexed by normalised postcode: ``easting, northing`` (EPSG:27700 m), ``lad_cd``,
        ``lad_nm``, ``n_at_same_point``, ``geographic`` (bool), ``in_area`` (bool),
        ``note`` (text shown with an answer, e.g. a shared location, or "").
    area_lad_cd, area_lad_nm : str
        The study area's borough.
    districts : frozenset of str
        Outward codes present in the table.
    sectors : dict
        ``"UB5 6"`` -> ``(unit ordinals sorted, postcodes in that order)`` of answerable
        postcodes (geographic and in the area): the pool suggestions come from.
    max_stacked : int
        Postcodes sharing a point above this are checked for being non-geographic.
    """

    table: pd.DataFrame
    area_lad_cd: str
    area_lad_nm: str
    districts: frozenset
    sectors: dict = field(repr=False)
    max_stacked: int = 3


# ----------------------------------------------------------------------------- normalising
def normalise(text: object) -> str:
    """Upper-case, whitespace removed, one space before the inward code (``"ub56aa"`` ->
    ``"UB5 6AA"``).  No validation: see :func:`malformed_reason`."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    s = re.sub(r"\s+", "", str(text)).upper()
    return s[:-3] + " " + s[-3:] if len(s) > 3 else s


def malformed_reason(query: object, normalised: str) -> str | None:
    """Why ``query`` is not written like a UK postcode, or ``None`` when it is."""
    if not normalised:
        return "empty: type a postcode such as UB5 6AA"
    if _STRAY.search(str(query)):
        bad = "".join(sorted(set(_STRAY.findall(str(query)))))
        return f"'{query}' contains characters other than letters, digits and spaces ({bad})"
    if POSTCODE_RE.match(normalised):
        return None
    n = len(normalised.replace(" ", ""))
    if n < 5:
        return f"'{query}' is too short for a full postcode (e.g. UB5 6AA)"
    if n > 7:
        return f"'{query}' is too long for a postcode (e.g. UB5 6AA)"
    return f"'{query}' is not in the UK postcode format (letters, digits, space, digit, two letters: e.g. UB5 6AA)"


def sector_of(postcode: str) -> str:
    """``"UB5 6AA"`` -> ``"UB5 6"``."""
    return postcode[:-2]


def district_of(postcode: str) -> str:
    """``"UB5 6AA"`` -> ``"UB5"``."""
    return postcode.split(" ", 1)[0]


def unit_ordinal(postcode: str) -> int:
    """Order of the last two letters within a sector (``6AA`` -> 0, ``6AB`` -> 1, ...)."""
    a, b = postcode[-2], postcode[-1]
    return (ord(a) - 65) * 26 + (ord(b) - 65)


# ----------------------------------------------------------------------------- index
def _non_geographic(pc: pd.DataFrame, max_stacked: int) -> pd.Series:
    """Delivery-office stacks: > ``max_stacked`` at one point and mostly large users
    (usertype 1 among those known) or spanning several sectors."""
    key = pc["easting"].astype(str) + "," + pc["northing"].astype(str)
    stacked = pc["n_at_same_point"].fillna(1) > max_stacked
    grp = pc.assign(_k=key, _sector=pc["postcode"].str[:-2],
                    _large=(pc["usertype"] == 1).astype(float).where(pc["usertype"].notna()))
    g = grp.groupby("_k").agg(n_sectors=("_sector", "nunique"), large=("_large", "mean"))
    office = (g["n_sectors"] > 1) | (g["large"].fillna(0.0) >= 0.5)
    return stacked & key.map(office).fillna(False).astype(bool)


def lad_names(area: AreaData) -> dict[str, str]:
    """Borough code -> name for the area and every borough of its pack's ``boroughs`` layer."""
    b = borough_outlines(area)
    return dict(zip(b["lad_cd"], b["lad_nm"]))


def area_members(postcodes: pd.DataFrame, area: AreaData) -> pd.Series:
    """True for the postcodes that are the area's: the one membership rule of locmap.

    A postcode belongs to the area when its LSOA 2021 (``lsoa21cd``, assigned at load by
    :func:`locmap.data.homes.assign_lsoa21` and blank outside the area) is one of the area's: the rule
    that makes it a home carrying its LSOA's population in access, gaps and 2SFCA.  The postcode
    directory's local authority is not used (W12 9DG and HA0 1AY lie in Ealing LSOAs though the
    directory gives Hammersmith and Fulham and Brent).  A table without ``lsoa21cd`` falls back to
    the local authority code.
    """
    if "lsoa21cd" in postcodes.columns:
        return postcodes["lsoa21cd"].notna()
    return postcodes["lad_cd"] == area.pack.lad_cd


def build_index(area: AreaData) -> PostcodeIndex:
    """Classify every postcode of ``area.postcodes`` (the pack's postcode table).

    Raises
    ------
    PostcodeError
        When the area was loaded without a postcode table.
    """
    if area.postcodes is None or not len(area.postcodes):
        raise PostcodeError(f"area '{area.name}' has no postcode table ([tables.postcodes] in its pack)")
    max_stacked = int(area.pack.table("postcodes").options.get("max_stacked_for_homes", 3))
    pc = pd.DataFrame(area.postcodes).copy()
    for col, default in (("n_at_same_point", 1.0), ("usertype", np.nan), ("lad_cd", None)):
        if col not in pc.columns:
            pc[col] = default
    pc = pc[np.isfinite(pc["easting"].to_numpy(float)) & np.isfinite(pc["northing"].to_numpy(float))]
    names = lad_names(area)
    office = _non_geographic(pc, max_stacked)
    own = area_members(pc, area)
    directory_lad = pc["lad_cd"].copy()
    pc["lad_cd"] = np.where(own, area.pack.lad_cd, directory_lad)
    n_same = pc["n_at_same_point"].fillna(1).astype(int)
    note = np.where(~office & (n_same > 1),
                    "location shared with " + (n_same - 1).astype(str) + " other postcode(s) "
                    "(new development?): distances from that point", "")
    note = np.where((pc["usertype"] == 1) & ~office,
                    np.where(note == "", "large-user postcode (an organisation's address)",
                             note + "; large-user postcode"), note)
    moved = own & (directory_lad != area.pack.lad_cd)
    moved_note = ("its LSOA is " + area.pack.lad_nm + "'s, so it counts as " + area.pack.lad_nm + "'s (the postcode "
                  "directory gives " + directory_lad.map(names).fillna(directory_lad).astype(str) + ")")
    note = np.where(moved, np.where(note == "", moved_note, note + "; " + moved_note), note)
    table = pd.DataFrame({
        "easting": pc["easting"].astype(float), "northing": pc["northing"].astype(float),
        "lad_cd": pc["lad_cd"], "lad_nm": pc["lad_cd"].map(names),
        "n_at_same_point": n_same, "geographic": ~office,
        "in_area": own, "note": note,
    }, index=pc.index)
    table.index.name = "postcode"
    answerable = table.index[table["geographic"] & table["in_area"]]
    sectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for sec, pcs in pd.Series(answerable, index=answerable).groupby(lambda p: p[:-2]):
        ords = np.array([unit_ordinal(p) for p in pcs.tolist()])  # plain str: not one arrow scalar at a time
        order = np.argsort(ords, kind="stable")
        sectors[sec] = (ords[order], pcs.to_numpy()[order])
    return PostcodeIndex(table=table, area_lad_cd=str(area.pack.lad_cd),
                         area_lad_nm=str(area.pack.lad_nm),
                         districts=frozenset(map(district_of, table.index.tolist())),
                         sectors=sectors, max_stacked=max_stacked)


def suggest(index: PostcodeIndex, postcode: str) -> str | None:
    """The answerable postcode of the same sector nearest in unit order (earlier on a tie)."""
    pool = index.sectors.get(sector_of(postcode))
    if pool is None:
        return None
    ords, pcs = pool
    d = np.abs(ords - unit_ordinal(postcode))
    d = np.where(pcs == postcode, np.iinfo(np.int64).max, d)
    j = int(np.argmin(d))
    return None if pcs[j] == postcode else str(pcs[j])


# ----------------------------------------------------------------------------- look-up
def _explain(index: PostcodeIndex, pc: str, row: pd.Series | None) -> tuple[str, str, str | None]:
    """(status, reason, suggestion) for a well-formed postcode that is not ``ok``."""
    area = index.area_lad_nm
    if row is None:
        if district_of(pc) not in index.districts:
            return ("outside_area", f"{pc} is outside the area: postcode district {district_of(pc)} "
                    f"is not in {area} or its neighbouring boroughs", None)
        sug = suggest(index, pc)
        return ("unknown", f"no such postcode: {pc} is not a live postcode in {area} or its "
                "neighbouring boroughs (Code-Point Open 2025); it may be mistyped, new, "
                "terminated or elsewhere", sug)
    if not row["geographic"]:
        sug = suggest(index, pc)
        return ("non_geographic", f"{pc} is a non-geographic postcode (PO box or delivery "
                f"office: one of {int(row['n_at_same_point'])} postcodes placed at one point); "
                "use the postcode of the home", sug)
    return ("outside_area", f"{pc} is in {row['lad_nm'] or row['lad_cd']}, outside {area}: "
            f"this look-up covers homes in {area}", None)


def lookup_postcodes(index: PostcodeIndex, queries: Iterable[object]) -> pd.DataFrame:
    """Normalise, validate and classify postcodes, keeping their order.

    Parameters
    ----------
    index : PostcodeIndex
        From :func:`build_index`.
    queries : iterable of str
        Postcodes as typed (any case and spacing).

    Returns
    -------
    DataFrame
        One row per query, columns :data:`LOOKUP_COLUMNS`: ``postcode`` normalised (or the
        cleaned text when malformed), ``status`` in :data:`STATUSES`, ``reason`` (empty when
        ok), ``suggestion`` (same-sector postcode or missing), ``note``, ``easting,
        northing`` (EPSG:27700 m, NaN unless ok), ``home_lad_cd, home_lad_nm``.
    """
    q = pd.Series(list(queries), dtype=object)
    norm = q.map(normalise)
    t = index.table.reindex(norm)
    found = t["easting"].notna().to_numpy()
    ok = found & t["geographic"].fillna(False).to_numpy(bool) & t["in_area"].fillna(False).to_numpy(bool)
    out = pd.DataFrame({
        "query": q, "postcode": norm, "status": np.where(ok, "ok", ""), "reason": "",
        "suggestion": None, "note": np.where(ok, t["note"].fillna("").to_numpy(), ""),
        "easting": np.where(ok, t["easting"].to_numpy(float), np.nan),
        "northing": np.where(ok, t["northing"].to_numpy(float), np.nan),
        "home_lad_cd": np.where(ok, t["lad_cd"].to_numpy(object), None),
        "home_lad_nm": np.where(ok, t["lad_nm"].to_numpy(object), None),
    })
    bad_rows = np.flatnonzero(~ok)
    answers = []
    for i in bad_rows:
        why = malformed_reason(q.iat[i], norm.iat[i])
        answers.append(("malformed", why, None) if why is not None else
                       _explain(index, norm.iat[i], t.iloc[i] if found[i] else None))
    if answers:
        status, reason, sug = (np.array(col, dtype=object) for col in zip(*answers))
        out["status"] = out["status"].to_numpy(object)
        out.loc[bad_rows, "status"] = status
        out.loc[bad_rows, "reason"] = reason
        out["suggestion"] = out["suggestion"].astype(object)
        out.loc[bad_rows, "suggestion"] = sug
        out["suggestion"] = pd.Series([v if isinstance(v, str) else None for v in out["suggestion"]],
                                      index=out.index, dtype=object)
    return out[list(LOOKUP_COLUMNS)]
