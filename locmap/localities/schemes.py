"""Candidate locality schemes: partitions of the borough built from LSOAs or wards.

A *scheme* is a set of localities such that every LSOA 2021 (and therefore every home,
which carries ``lsoa21cd``) belongs to exactly one locality.  The canonical
representation is :class:`Scheme`, an LSOA -> locality assignment plus the dissolved
locality polygons and a report of how it was built.

Sources of schemes
------------------
* an LSOA column (``town``, ``pcn_code``, ``ward_nm``): :func:`scheme_from_column`;
* a user CSV mapping wards or LSOAs to localities: :func:`scheme_from_mapping_csv`;
* a user polygon file: :func:`scheme_from_polygons` (largest overlap, representative
  point as fall-back; the report lists the overlap share of every LSOA);
* generated schemes: :func:`generate_schemes`, contiguous groupings of k = 3..7 built with
  spopt regionalisation (SKATER with a population floor, spatially constrained Ward,
  or max-p) on queen/rook contiguity from libpysal.

Checks: :func:`check_partition` (each LSOA once, totals conserved) and
:func:`check_contiguity` (each locality one connected piece).
"""
from __future__ import annotations

import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.optimize import OptimizeWarning
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import cdist

from locmap.bands import bands_in
from locmap.errors import (
    CRSError,
    DataFileError,
    DuplicateIdError,
    EmptyLayerError,
    LocmapError,
    MissingColumnError,
    PartitionError,
    UnknownAreaError,
)

LSOA_ID = "lsoa21cd"
#: Default population bounds policy for generated schemes: each locality within
#: +/- this fraction of (total / k) of the balancing population column.
DEFAULT_BALANCE_TOLERANCE = 0.25
METHODS = ("skater", "ward", "maxp")
#: The one map of schemes built from an LSOA column: scheme name -> candidate columns
#: (the first one the LSOA layer has is used; PCN names when loaded, else codes).
SCHEME_COLUMNS: dict[str, tuple[str, ...]] = {"towns": ("town",), "pcns": ("pcn_name", "pcn_code"),
                                              "wards": ("ward_nm",)}
#: Other spellings accepted for those schemes.
SCHEME_ALIASES: dict[str, str] = {"town": "towns", "pcn": "pcns", "ward": "wards"}


@dataclass
class Scheme:
    """One candidate locality scheme.

    Attributes
    ----------
    name : str
        Scheme name (e.g. ``"towns"``, ``"auto_k5"``).
    assignment : pandas.Series
        Index ``lsoa21cd`` (unique), values locality names (str).  Every LSOA once.
    localities : geopandas.GeoDataFrame
        One row per locality: ``locality, n_lsoa`` + population bands + ``geometry``.
    report : pandas.DataFrame
        How the scheme was built, one row per LSOA (columns depend on the source).
    meta : dict
        Method, parameters, feasibility, k, etc.
    """

    name: str
    assignment: pd.Series
    localities: gpd.GeoDataFrame
    report: pd.DataFrame = field(default_factory=pd.DataFrame)
    meta: dict = field(default_factory=dict)

    @property
    def k(self) -> int:
        """Number of localities."""
        return int(self.assignment.nunique())

    def locality_of_homes(self, homes: pd.DataFrame, lsoa_col: str = LSOA_ID) -> pd.Series:
        """Locality of each home (via its LSOA); NaN if the LSOA is not in the scheme."""
        return homes[lsoa_col].map(self.assignment)


# ---------------------------------------------------------------------- helpers
def _require(df: pd.DataFrame, cols: Iterable[str], where: str) -> None:
    for c in cols:
        if c not in df.columns:
            raise MissingColumnError(where, c, list(df.columns))


def dissolve_scheme(lsoa: gpd.GeoDataFrame, assignment: pd.Series) -> gpd.GeoDataFrame:
    """Dissolve LSOA polygons (and sum population bands) into locality polygons.

    Parameters
    ----------
    lsoa : GeoDataFrame
        LSOAs with ``lsoa21cd``, population bands and ``geometry``.
    assignment : Series
        ``lsoa21cd`` -> locality.

    Returns
    -------
    GeoDataFrame
        ``locality, n_lsoa`` + bands + ``geometry``, sorted by locality.
    """
    g = lsoa[[LSOA_ID, *bands_in(lsoa), "geometry"]].copy()
    g["locality"] = g[LSOA_ID].map(assignment)
    g = g[g["locality"].notna()]
    agg = {b: "sum" for b in bands_in(lsoa)}
    agg[LSOA_ID] = "count"
    out = g.dissolve(by="locality", aggfunc=agg).reset_index()
    out = out.rename(columns={LSOA_ID: "n_lsoa"})
    cols = ["locality", "n_lsoa", *bands_in(lsoa), "geometry"]
    out = gpd.GeoDataFrame(out[cols], geometry="geometry", crs=lsoa.crs)
    return out.sort_values("locality").reset_index(drop=True)


def _scheme_assignment(assignment: pd.Series) -> pd.Series:
    """A scheme's ``assignment`` as :class:`Scheme` holds it (before sorting): names as str, index and
    values named."""
    assignment = assignment.astype(str)
    assignment.index.name = LSOA_ID
    assignment.name = "locality"
    return assignment


def _make_scheme(name: str, lsoa: gpd.GeoDataFrame, assignment: pd.Series,
                 report: pd.DataFrame | None = None, meta: dict | None = None) -> Scheme:
    assignment = _scheme_assignment(assignment)
    return Scheme(name=name, assignment=assignment.sort_index(),
                  localities=dissolve_scheme(lsoa, assignment),
                  report=report if report is not None else pd.DataFrame(),
                  meta=dict(meta or {}))


# ---------------------------------------------------------------------- sources
def scheme_from_column(lsoa: gpd.GeoDataFrame, column: str, name: str | None = None) -> Scheme:
    """A scheme from an LSOA attribute (``town``, ``pcn_code``, ``pcn_name``, ``ward_nm``...).

    Raises
    ------
    MissingColumnError
        ``column`` is not in ``lsoa``.
    PartitionError
        Some LSOAs have no value in ``column``.
    """
    assignment = _column_values(lsoa, column, name)
    report = pd.DataFrame({LSOA_ID: assignment.index, "locality": assignment.to_numpy(),
                           "method": f"column:{column}"})
    return _make_scheme(name or column, lsoa, assignment, report,
                        {"source": f"lsoa column '{column}'"})


def _column_values(lsoa: pd.DataFrame, column: str, name: str | None) -> pd.Series:
    """``lsoa21cd`` -> the LSOA's ``column`` value (str); PartitionError when an LSOA has none."""
    _require(lsoa, [LSOA_ID, column], "lsoa layer")
    missing = lsoa[lsoa[column].isna()]
    if len(missing):
        raise PartitionError(
            f"scheme '{name or column}': {len(missing)} LSOA(s) have no '{column}' "
            f"(e.g. {', '.join(missing[LSOA_ID].astype(str).head(5))})")
    return pd.Series(lsoa[column].astype(str).to_numpy(), index=lsoa[LSOA_ID].to_numpy())


def column_assignment(lsoa: pd.DataFrame, name: str) -> pd.Series:
    """The ``assignment`` of :func:`column_scheme` (``towns``, ``pcns``, ``wards``) without dissolving
    the localities' polygons: for what needs only which LSOA is in which locality."""
    return _scheme_assignment(_column_values(lsoa, scheme_column(lsoa, name), column_scheme_name(name))
                              ).sort_index()


def column_scheme_name(name: str) -> str | None:
    """The :data:`SCHEME_COLUMNS` key ``name`` stands for (case-insensitive, aliases), or None."""
    key = str(name).strip().casefold()
    key = SCHEME_ALIASES.get(key, key)
    return key if key in SCHEME_COLUMNS else None


def scheme_column(lsoa: pd.DataFrame, name: str) -> str:
    """The LSOA column of the column scheme ``name`` (``towns`` -> ``town``, ...).

    Raises
    ------
    UnknownAreaError
        ``name`` is not a column scheme (the message lists them).
    MissingColumnError
        The LSOA layer has none of the scheme's columns.
    """
    key = column_scheme_name(name)
    if key is None:
        raise UnknownAreaError(f"'{name}' is not a scheme built from an LSOA column "
                               f"(one of: {', '.join(SCHEME_COLUMNS)})")
    for col in SCHEME_COLUMNS[key]:
        if col in lsoa.columns:
            return col
    raise MissingColumnError("lsoa layer", " or ".join(SCHEME_COLUMNS[key]), list(lsoa.columns))


def column_scheme(lsoa: gpd.GeoDataFrame, name: str) -> Scheme:
    """The scheme ``towns``, ``pcns`` or ``wards`` (aliases and any case accepted), named by
    its :data:`SCHEME_COLUMNS` key."""
    return scheme_from_column(lsoa, scheme_column(lsoa, name), column_scheme_name(name))


def scheme_from_mapping_csv(path: str | Path, lsoa: gpd.GeoDataFrame,
                            wards: gpd.GeoDataFrame | None = None,
                            name: str | None = None) -> Scheme:
    """A scheme from a CSV mapping LSOAs or wards to localities.

    The CSV needs a ``locality`` column and one key column: ``lsoa21cd`` (LSOA codes),
    ``ward_cd`` (ward codes) or ``ward_nm`` (ward names, matched case-insensitively).
    Ward mappings are expanded to LSOAs with ``lsoa.ward_cd`` (the LSOA -> ward best fit).

    Raises
    ------
    MissingColumnError, DuplicateIdError, DataFileError
        Bad file: missing column, a key listed twice, a key not in the area (row named).
    PartitionError
        Some LSOAs (or wards) are not mapped.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileError(path, "file not found")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    if df.empty:
        raise EmptyLayerError(path)
    df.columns = [c.strip() for c in df.columns]
    if "locality" not in df.columns:
        raise MissingColumnError(path, "locality", list(df.columns))
    key = next((k for k in (LSOA_ID, "ward_cd", "ward_nm") if k in df.columns), None)
    if key is None:
        raise MissingColumnError(path, "lsoa21cd or ward_cd or ward_nm", list(df.columns))
    df[key] = df[key].str.strip()
    df["locality"] = df["locality"].str.strip()
    for i, row in df.iterrows():
        if not row[key] or not row["locality"]:
            raise DataFileError(path, f"empty '{key}' or 'locality'", row=int(i) + 1)
    norm = (lambda s: s.str.casefold()) if key == "ward_nm" else (lambda s: s)
    dup = norm(df[key]).duplicated(keep="first")
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise DuplicateIdError(path, f"'{df[key].iloc[i]}' is mapped more than once", row=i + 1,
                               column=key)
    if key == LSOA_ID:
        known = set(lsoa[LSOA_ID].astype(str))
        lookup = dict(zip(df[key], df["locality"]))
        lsoa_key = lsoa[LSOA_ID].astype(str)
    else:
        src = wards if wards is not None else lsoa
        _require(src, [key], "wards layer")
        known_vals = src[key].astype(str)
        known = set(norm(known_vals))
        lookup = dict(zip(norm(df[key]), df["locality"]))
        _require(lsoa, [key], "lsoa layer")
        lsoa_key = norm(lsoa[key].astype(str))
    for i, v in enumerate(norm(df[key])):
        if v not in known:
            raise DataFileError(path, f"'{df[key].iloc[i]}' is not a {key} of the study area",
                                row=i + 1, column=key)
    loc = lsoa_key.map(lookup)
    if loc.isna().any():
        miss = sorted(set(lsoa_key[loc.isna()]))
        raise PartitionError(
            f"{path}: {len(miss)} {key} value(s) of the study area are not mapped to a locality: "
            f"{', '.join(miss[:10])}{' ...' if len(miss) > 10 else ''}")
    assignment = pd.Series(loc.to_numpy(), index=lsoa[LSOA_ID].to_numpy())
    report = pd.DataFrame({LSOA_ID: lsoa[LSOA_ID].to_numpy(), "locality": loc.to_numpy(),
                           "method": f"csv:{key}"})
    return _make_scheme(name or path.stem, lsoa, assignment, report,
                        {"source": str(path), "key": key})


def scheme_from_polygons(path: str | Path | gpd.GeoDataFrame, lsoa: gpd.GeoDataFrame,
                         locality_col: str | None = None, name: str | None = None,
                         min_share_warn: float = 0.5) -> Scheme:
    """A scheme from a polygon layer: each LSOA goes to the locality it overlaps most.

    LSOAs overlapping no polygon go to the polygon containing their representative
    point, else the nearest polygon.  The report gives, per LSOA, ``overlap_share``
    (share of the LSOA's area inside its assigned locality) and ``method``
    (``largest_overlap`` / ``representative_point`` / ``nearest``); shares below
    ``min_share_warn`` are flagged ``low_overlap=True``.

    Parameters
    ----------
    path : path or GeoDataFrame
        Any file geopandas reads (GeoPackage, GeoJSON, shapefile) or a GeoDataFrame.
    lsoa : GeoDataFrame
        LSOAs (EPSG:27700).
    locality_col : str, optional
        Name column; default the first of ``locality, name, NAME`` or the first text column.
    """
    if isinstance(path, gpd.GeoDataFrame):
        poly, where = path.copy(), "polygon layer"
    else:
        where = str(path)
        if not Path(path).exists():
            raise DataFileError(path, "file not found")
        poly = gpd.read_file(path)
    if poly.empty:
        raise EmptyLayerError(where)
    if poly.crs is None:
        raise CRSError(where, "polygon layer has no CRS")
    poly = poly.to_crs(lsoa.crs)
    if locality_col is None:
        cands = [c for c in ("locality", "name", "NAME") if c in poly.columns]
        if not cands:
            cands = [c for c in poly.columns if c != "geometry" and poly[c].dtype == object]
        if not cands:
            raise MissingColumnError(where, "locality", list(poly.columns))
        locality_col = cands[0]
    _require(poly, [locality_col], where)
    poly = poly[[locality_col, "geometry"]].rename(columns={locality_col: "locality"})
    poly["locality"] = poly["locality"].astype(str)
    poly["geometry"] = poly.geometry.make_valid()
    poly = poly.dissolve(by="locality").reset_index()
    lz = lsoa[[LSOA_ID, "geometry"]].copy()
    lz["lsoa_area"] = lz.geometry.area
    ov = gpd.overlay(lz, poly, how="intersection", keep_geom_type=True)
    ov["share"] = ov.geometry.area / ov["lsoa_area"]
    ov = ov.sort_values([LSOA_ID, "share", "locality"], ascending=[True, False, True])
    best = ov.drop_duplicates(LSOA_ID).set_index(LSOA_ID)
    rows = []
    for code, geom in zip(lz[LSOA_ID], lz.geometry):
        if code in best.index and best.at[code, "share"] > 0:
            rows.append((code, best.at[code, "locality"], float(best.at[code, "share"]),
                         "largest_overlap"))
            continue
        pt = geom.representative_point()
        hit = poly[poly.contains(pt)]
        if len(hit):
            rows.append((code, hit["locality"].iloc[0], 0.0, "representative_point"))
        else:
            d = poly.distance(pt)
            rows.append((code, poly["locality"].iloc[int(np.argmin(d.to_numpy()))], 0.0,
                         "nearest"))
    rep = pd.DataFrame(rows, columns=[LSOA_ID, "locality", "overlap_share", "method"])
    rep["low_overlap"] = rep["overlap_share"] < min_share_warn
    assignment = pd.Series(rep["locality"].to_numpy(), index=rep[LSOA_ID].to_numpy())
    unused = sorted(set(poly["locality"]) - set(assignment))
    meta = {"source": where, "n_low_overlap": int(rep["low_overlap"].sum()),
            "unused_polygons": unused}
    return _make_scheme(name or (Path(where).stem if where != "polygon layer" else "polygons"),
                        lsoa, assignment, rep, meta)


# ---------------------------------------------------------------------- checks
def check_partition(assignment: pd.Series, lsoa: pd.DataFrame,
                    pop_cols: Sequence[str] | None = None, strict: bool = True,
                    homes: pd.DataFrame | None = None) -> dict:
    """Check that a scheme partitions the study area.

    Every LSOA of ``lsoa`` appears exactly once in ``assignment`` (no duplicates, no
    unknown codes, no missing values) and the population totals summed over localities
    equal the study-area totals (and, with ``homes``, every home falls in one locality
    and home totals are conserved).

    Returns
    -------
    dict
        ``ok, n_lsoa, n_localities, duplicates, unknown, missing, totals`` where
        ``totals`` maps each column to ``(area_total, sum_over_localities)``.

    Raises
    ------
    PartitionError
        When ``strict`` and any check fails.
    """
    codes = pd.Index(lsoa[LSOA_ID].astype(str))
    idx = pd.Index(assignment.index.astype(str))
    dups = sorted(set(idx[idx.duplicated()]))
    unknown = sorted(set(idx) - set(codes))
    missing = sorted(set(codes) - set(idx[assignment.notna().to_numpy()]))
    pop_cols = list(pop_cols) if pop_cols is not None else bands_in(lsoa)
    a = assignment[~idx.duplicated()]
    loc = lsoa[LSOA_ID].astype(str).map(a)
    totals = {}
    for c in pop_cols:
        area_total = float(lsoa[c].sum())
        by_loc = float(lsoa[c].groupby(loc).sum().sum())
        totals[c] = (area_total, by_loc)
    if homes is not None:
        hl = homes[LSOA_ID].astype(str).map(a)
        totals["homes_unassigned"] = (0.0, float(hl.isna().sum()))
        for c in [b for b in pop_cols if b in homes.columns]:
            totals[f"homes:{c}"] = (float(homes[c].sum()), float(homes[c].groupby(hl).sum().sum()))
    tot_ok = all(np.isclose(t, s, rtol=1e-9, atol=1e-6) for t, s in totals.values())
    ok = not dups and not unknown and not missing and tot_ok
    res = {"ok": ok, "n_lsoa": int(len(codes)), "n_localities": int(a.nunique()),
           "duplicates": dups, "unknown": unknown, "missing": missing, "totals": totals}
    if strict and not ok:
        raise PartitionError(
            f"scheme does not partition the area: {len(dups)} duplicated, {len(unknown)} "
            f"unknown, {len(missing)} unassigned LSOA(s); totals "
            + "; ".join(f"{k}: {t:.1f} vs {s:.1f}" for k, (t, s) in totals.items()
                        if not np.isclose(t, s, rtol=1e-9, atol=1e-6)))
    return res


def contiguity_weights(gdf: gpd.GeoDataFrame, contiguity: str = "queen"):
    """libpysal contiguity weights (``queen``, ``rook`` or ``fuzzy``) in row order of ``gdf``.

    ``fuzzy`` uses :func:`libpysal.weights.fuzzy_contiguity` (1 m buffer) for layers with
    slivers between polygons.
    """
    # libpysal takes ~0.9 s to import; only scheme generation and contiguity checks need it
    from libpysal import weights  # noqa: PLC0415

    g = gdf.reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if contiguity == "queen":
            return weights.Queen.from_dataframe(g, use_index=False, silence_warnings=True)
        if contiguity == "rook":
            return weights.Rook.from_dataframe(g, use_index=False, silence_warnings=True)
        if contiguity == "fuzzy":
            return weights.fuzzy_contiguity(g, buffering=True, buffer=1.0,
                                            silence_warnings=True)
    raise ValueError(f"unknown contiguity '{contiguity}' (queen, rook, fuzzy)")


def _components(w, labels: np.ndarray) -> dict:
    """Number of connected pieces of each label given weights ``w`` (row order)."""
    A = w.sparse.tocsr()
    out = {}
    for lab in pd.unique(labels):
        ix = np.flatnonzero(labels == lab)
        n, _ = connected_components(A[ix][:, ix], directed=False)
        out[lab] = int(n)
    return out


def check_contiguity(lsoa: gpd.GeoDataFrame, assignment: pd.Series,
                     contiguity: str = "queen") -> pd.DataFrame:
    """Number of connected pieces of each locality on the LSOA contiguity graph.

    Returns
    -------
    DataFrame
        ``locality, n_lsoa, n_pieces, contiguous`` (one row per locality).
    """
    g = lsoa.reset_index(drop=True)
    labels = g[LSOA_ID].astype(str).map(assignment).to_numpy()
    w = contiguity_weights(g, contiguity)
    comp = _components(w, labels)
    counts = pd.Series(labels).value_counts()
    df = pd.DataFrame({"locality": list(comp), "n_pieces": list(comp.values())})
    df["n_lsoa"] = df["locality"].map(counts).astype(int)
    df["contiguous"] = df["n_pieces"] == 1
    return df[["locality", "n_lsoa", "n_pieces", "contiguous"]].sort_values(
        "locality").reset_index(drop=True)


# ---------------------------------------------------------------------- generation
def units_from_lsoa(lsoa: gpd.GeoDataFrame, by: str = "ward_cd",
                    label_cols: Sequence[str] = ("town", "pcn_code")) -> gpd.GeoDataFrame:
    """Aggregate LSOAs into building units (e.g. wards) for :func:`generate_schemes`.

    Population bands are summed; each column of ``label_cols`` takes the value holding
    most of the unit's ``pop_total`` (the *dominant* town/PCN), with its share in
    ``<col>_share``.  Geometry is the union of the unit's LSOAs, so the LSOA -> unit
    expansion of a generated scheme is exact.
    """
    _require(lsoa, [LSOA_ID, by], "lsoa layer")
    bands = bands_in(lsoa)
    g = lsoa.dissolve(by=by, aggfunc={b: "sum" for b in bands}).reset_index()
    wcol = "pop_total" if "pop_total" in lsoa.columns else bands[0]
    for c in label_cols:
        if c not in lsoa.columns:
            continue
        t = lsoa.groupby([by, c])[wcol].sum().reset_index()
        t["share"] = t[wcol] / t.groupby(by)[wcol].transform("sum")
        t = t.sort_values([by, "share", c], ascending=[True, False, True]).drop_duplicates(by)
        g[c] = g[by].map(t.set_index(by)[c])
        g[f"{c}_share"] = g[by].map(t.set_index(by)["share"])
    return gpd.GeoDataFrame(g, geometry="geometry", crs=lsoa.crs)


def population_bounds(total: float, k: int, bounds=None,
                      tolerance: float = DEFAULT_BALANCE_TOLERANCE) -> tuple[float, float]:
    """Bounds (people) on each locality's balancing population for ``k`` localities.

    ``bounds`` may be ``None`` (total/k +/- ``tolerance``), a ``(min, max)`` tuple in people,
    or a callable ``k -> (min, max)``.
    """
    if bounds is None:
        t = total / k
        return (t * (1 - tolerance), t * (1 + tolerance))
    if callable(bounds):
        lo, hi = bounds(k)
    else:
        lo, hi = bounds
    return (float(lo), float(hi))


def _features(units: gpd.GeoDataFrame, boundary_cols: Sequence[str],
              boundary_weight: float, coord_weight: float) -> np.ndarray:
    """Attribute matrix for regionalisation: scaled centroid x/y + one-hot boundary labels.

    Units in different towns/PCNs are ``boundary_weight`` apart per differing label, so the
    algorithms prefer cuts along town and PCN boundaries.
    """
    c = units.geometry.centroid
    xy = np.column_stack([c.x.to_numpy(), c.y.to_numpy()])
    span = float(np.max(xy.max(0) - xy.min(0))) or 1.0
    parts = [coord_weight * (xy - xy.mean(0)) / span]
    for col in boundary_cols:
        if col in units.columns:
            d = pd.get_dummies(units[col].astype(str)).to_numpy(float)
            parts.append(boundary_weight * d / np.sqrt(2.0))
    return np.column_stack(parts)


def _cityblock(X: np.ndarray, Y: np.ndarray | None = None) -> np.ndarray:
    """Manhattan distances between the rows of ``X`` and ``Y`` (default ``X``): what SKATER's default
    (scikit-learn's ``manhattan_distances``) computes with scipy's ``cdist``, without its per-call
    input validation (SKATER scores every cut of every tree with it)."""
    X = np.asarray(X, dtype=float)
    return cdist(X, X if Y is None else np.asarray(Y, dtype=float), "cityblock")


def _forest_labels(n_nodes: int, rows: np.ndarray | list[int], cols: np.ndarray | list[int]) -> np.ndarray:
    """Component of each node of the forest with edges ``rows[i]``-``cols[i]``, numbered in the
    order of each component's lowest node (scipy's ``connected_components`` numbering)."""
    rows = rows.tolist() if isinstance(rows, np.ndarray) else rows
    cols = cols.tolist() if isinstance(cols, np.ndarray) else cols
    root = list(range(n_nodes))

    def find(x: int) -> int:
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x

    for a, b in zip(rows, cols):
        ra, rb = find(a), find(b)
        if ra != rb:
            root[max(ra, rb)] = min(ra, rb)
    number: dict[int, int] = {}
    return np.array([number.setdefault(find(i), len(number)) for i in range(n_nodes)], dtype=np.int32)


def _best_cut(forest, msf, data: np.ndarray, quorum: float) -> tuple[int, int, float]:
    """What spopt's ``SpanningForest.find_cut`` returns without a target label: the spanning-forest
    edge (in the matrix's order) whose removal scores lowest, the first on ties, and its score.

    Each candidate forest's components come from its edge list (:func:`_forest_labels`), not from
    a deep copy of the sparse matrix with the edge set to zero: the labels depend only on which
    nodes are connected, so every score is the one spopt computes.
    """
    rows, cols = msf.nonzero()
    r, c = rows.tolist(), cols.tolist()
    best = (np.nan, np.nan, np.inf)
    for e in range(len(rows)):
        labels = _forest_labels(msf.shape[0], r[:e] + r[e + 1:], c[:e] + c[e + 1:])
        score = forest.score(data, labels=labels, quorum=quorum)
        if score < best[2]:
            best = (rows[e], cols[e], score)
    return best


def _skater_population(units: gpd.GeoDataFrame, w, X: np.ndarray, k: int, pop: np.ndarray,
                       floor_people: float, balance_weight: float) -> np.ndarray:
    """SKATER (spopt ``SpanningForest``) with a *population* floor and a balance term.

    spopt's SKATER floor counts units; here the score is overridden so that a cut is
    only admissible when every piece holds at least ``floor_people`` and the score adds
    ``balance_weight`` x the coefficient of variation of piece populations to the
    attribute dissimilarity ``balance_weight`` x the summed distance of each piece's
    population from the nearest whole multiple of total/k (a piece of 2.0 targets can
    still be split evenly later).  Tree building and greedy cutting are spopt's (each cut's
    candidates scored by :func:`_best_cut`, the same search without copying the sparse tree).
    """
    # spopt takes ~1.4 s to import; only scheme generation needs it
    from spopt.region.skater import SpanningForest, deletion  # noqa: PLC0415

    class _PopForest(SpanningForest):
        def score(self, data, labels=None, quorum=-np.inf):  # noqa: ARG002
            if labels is None:
                labels = self.current_labels_
            sums = np.bincount(labels, weights=pop)
            if (sums < floor_people).any():
                return np.inf
            base = SpanningForest.score(self, data, labels=labels, quorum=-np.inf)
            # each piece should hold a whole number of target shares (so later cuts
            # can split it evenly): penalise the distance to the nearest multiple
            r = sums / target
            off = np.abs(r - np.maximum(np.round(r), 1.0)).sum()
            return base + balance_weight * off * scale

        def find_cut(self, MSF, data=None, quorum=-np.inf, labels=None, target_label=None, make=False):
            if labels is not None or target_label is not None or make or data is None:
                return SpanningForest.find_cut(self, MSF, data, quorum, labels, target_label, make)
            return deletion(*_best_cut(self, MSF, data, quorum))

    # scale the balance term to the attribute score of the unsplit map
    scale = 1.0
    target = float(pop.sum()) / k
    model = _PopForest(dissimilarity=_cityblock)
    scale = max(SpanningForest.score(model, X, labels=np.zeros(len(X), dtype=int)), 1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(k, w, data=X, quorum=-np.inf)
    return np.asarray(model.current_labels_)


def _skater_multistart(w, X: np.ndarray, k: int, pop: np.ndarray, lo: float, hi: float,
                       balance_weight: float, n_starts: int, seed: int) -> np.ndarray:
    """Run :func:`_skater_population` from ``n_starts`` perturbed attribute matrices and
    keep the best labels: within ``[lo, hi]`` and k pieces first, then smallest max
    deviation from equal population."""
    rng = np.random.default_rng(seed)
    spread = X.std(0, keepdims=True) + 1e-12
    best, best_key = None, None
    for s in range(max(1, n_starts)):
        Xs = X if s == 0 else X + rng.normal(0.0, 0.05, X.shape) * spread
        lab = _skater_population(None, w, Xs, k, pop, lo, balance_weight)
        sums = np.bincount(lab, weights=pop)
        ok = len(sums) == k and bool(((sums >= lo - 1e-9) & (sums <= hi + 1e-9)).all())
        dev = float(np.max(np.abs(sums / (pop.sum() / len(sums)) - 1)))
        key = (not ok, abs(len(sums) - k), dev)
        if best_key is None or key < best_key:
            best, best_key = lab, key
        if ok and dev < 0.10:
            break
    return best


def _ward_spatial(units, w, attrs: list[str], k: int) -> np.ndarray:
    from spopt.region import WardSpatial  # noqa: PLC0415  (heavy import, generation only)

    m = WardSpatial(units, w, attrs, n_clusters=k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.solve()
    return np.asarray(m.labels_)


def _maxp(units, w, attrs: list[str], pop_col: str, threshold: float, seed: int) -> np.ndarray:
    from spopt.region import MaxPHeuristic  # noqa: PLC0415  (heavy import, generation only)

    np.random.seed(seed)  # spopt's max-p draws from numpy's global generator
    random.seed(seed)
    m = MaxPHeuristic(units, w, attrs, pop_col, threshold, top_n=2,
                      max_iterations_construction=10, max_iterations_sa=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.solve()
    return np.asarray(m.labels_)


def _name_localities(units: gpd.GeoDataFrame, labels: np.ndarray, pop: np.ndarray,
                     name_col: str | None, prefix: str) -> np.ndarray:
    """Readable, deterministic locality names: ``L1..Lk`` ordered west->east, with the
    dominant ``name_col`` value (e.g. town) appended."""
    c = units.geometry.centroid
    df = pd.DataFrame({"lab": labels, "x": c.x.to_numpy(), "pop": pop})
    df["wx"] = df["x"] * df["pop"]
    g = df.groupby("lab").agg(wx=("wx", "sum"), pop=("pop", "sum"))
    order = (g["wx"] / g["pop"].replace(0, np.nan)).fillna(0).sort_values().index
    names = {}
    for i, lab in enumerate(order, start=1):
        nm = f"{prefix}{i}"
        if name_col and name_col in units.columns:
            sub = pd.DataFrame({"v": units[name_col].to_numpy()[labels == lab],
                                "p": pop[labels == lab]})
            top = sub.groupby("v")["p"].sum().sort_values(ascending=False)
            if len(top):
                nm += f" {top.index[0]}" + ("+" if len(top) > 1 else "")
        names[lab] = nm
    return np.array([names[v] for v in labels], dtype=object)


@dataclass(frozen=True)
class _Units:
    """Building units prepared for regionalisation (row order = ``units``)."""

    units: gpd.GeoDataFrame
    id_col: str
    pop_col: str
    pop: np.ndarray
    total: float
    w: object  # libpysal weights
    X: np.ndarray
    attributed: gpd.GeoDataFrame  # units + the attribute columns ``attrs``
    attrs: list[str]
    contiguity: str
    boundary_cols: tuple[str, ...]


def _prepare_units(units_gdf: gpd.GeoDataFrame, id_col: str, pop_col: str, contiguity: str,
                   boundary_cols: Sequence[str], boundary_weight: float,
                   coord_weight: float) -> _Units:
    """Sort and check the units, build their contiguity and attribute matrix."""
    units = units_gdf.sort_values(id_col).reset_index(drop=True)
    if units[id_col].duplicated().any():
        raise DuplicateIdError("units layer", "unit ids are not unique", column=id_col)
    w = contiguity_weights(units, contiguity)
    if w.islands:
        raise PartitionError(f"units {list(units[id_col].iloc[w.islands])} have no "
                             f"{contiguity} neighbour; use contiguity='fuzzy'")
    X = _features(units, boundary_cols, boundary_weight, coord_weight)
    attrs = [f"_f{i}" for i in range(X.shape[1])]
    U = units.copy()
    U[attrs] = X
    pop = units[pop_col].to_numpy(float)
    return _Units(units, id_col, pop_col, pop, float(pop.sum()), w, X, U, attrs, contiguity,
                  tuple(boundary_cols))


def _solve_k(u: _Units, k: int, lo: float, hi: float, method: str, balance_weight: float,
             n_starts: int, seed: int) -> tuple[np.ndarray | None, str]:
    """Labels of one k (or None) and the status (``ok`` / ``infeasible: <why>``)."""
    if k < 1 or k > len(u.units):
        return None, f"infeasible: k={k} outside 1..{len(u.units)} units"
    if lo * k > u.total + 1e-9 or hi * k < u.total - 1e-9:
        return None, f"infeasible: bounds {lo:.0f}-{hi:.0f} x {k} cannot hold total {u.total:.0f}"
    try:
        if method == "skater":
            return _skater_multistart(u.w, u.X, k, u.pop, lo, hi, balance_weight, n_starts, seed), "ok"
        if method == "ward":
            return _ward_spatial(u.attributed, u.w, u.attrs, k), "ok"
        return _maxp(u.attributed, u.w, u.attrs, u.pop_col, lo, seed), "ok"
    # spopt's ways of saying "no admissible partition": SKATER raises scipy's OptimizeWarning
    # when no cut meets the population floor, and ValueError for islands / no feasible
    # component; anything else is a bug and propagates.
    except (OptimizeWarning, ValueError) as exc:
        return None, f"infeasible: {method} failed ({exc})"


def _infeasible_scheme(u: _Units, k: int, method: str, lo: float, hi: float, status: str) -> Scheme:
    return Scheme(name=f"auto_{method}_k{k}", assignment=pd.Series(dtype=str),
                  localities=gpd.GeoDataFrame(geometry=[], crs=u.units.crs),
                  meta={"k": k, "method": method, "pop_col": u.pop_col, "bounds_people": (lo, hi),
                        "feasible": False, "status": status})


def _feasibility(u: _Units, names: np.ndarray, k: int, lo: float, hi: float,
                 method: str) -> dict:
    """Bounds, contiguity and k achieved of a labelling: the scheme's ``meta`` entries."""
    sums = pd.Series(u.pop).groupby(names).sum()
    within = {str(n): bool(lo - 1e-9 <= v <= hi + 1e-9) for n, v in sums.items()}
    contiguous = all(v == 1 for v in _components(u.w, names).values())
    k_ach = int(len(sums))
    feasible = all(within.values()) and contiguous and (method == "maxp" or k_ach == k)
    why = []
    if k_ach != k:
        why.append(f"{k_ach} localities found")
    if not all(within.values()):
        out = [f"{n} {sums[n]:.0f}" for n, ok in within.items() if not ok]
        why.append(f"outside bounds {lo:.0f}-{hi:.0f}: {', '.join(out)}")
    if not contiguous:
        why.append("not contiguous")
    return {"k": k, "k_achieved": k_ach, "method": method, "pop_col": u.pop_col,
            "bounds_people": (lo, hi), "within_bounds": within, "contiguous": contiguous,
            "feasible": feasible, "status": "ok" if feasible else "infeasible: " + "; ".join(why),
            "units": u.id_col, "contiguity": u.contiguity, "boundary_cols": list(u.boundary_cols),
            "pop_by_locality": {str(n): float(v) for n, v in sums.items()},
            "max_dev_pct": float(100 * np.max(np.abs(sums / (u.total / k_ach) - 1)))}


def _scheme_from_labels(u: _Units, labels: np.ndarray, k: int, lo: float, hi: float, method: str,
                        lsoa: gpd.GeoDataFrame | None, name_col: str | None) -> Scheme:
    """Name the localities, expand units to LSOAs and record feasibility."""
    names = _name_localities(u.units, labels, u.pop, name_col, "L")
    unit_assign = pd.Series(names, index=u.units[u.id_col].to_numpy())
    if u.id_col == LSOA_ID:
        assignment, base = unit_assign, u.units
    else:
        assignment = pd.Series(lsoa[u.id_col].map(unit_assign).to_numpy(),
                               index=lsoa[LSOA_ID].to_numpy())
        base = lsoa
    report = pd.DataFrame({u.id_col: u.units[u.id_col].to_numpy(), "locality": names,
                           u.pop_col: u.pop})
    return _make_scheme(f"auto_{method}_k{k}", base, assignment, report,
                        _feasibility(u, names, k, lo, hi, method))


def generate_schemes(units_gdf: gpd.GeoDataFrame, k_values: Iterable[int] = range(3, 8),
                     pop_col: str = "pop_0_19", method: str = "skater", bounds=None,
                     tolerance: float = DEFAULT_BALANCE_TOLERANCE,
                     id_col: str = LSOA_ID, lsoa: gpd.GeoDataFrame | None = None,
                     contiguity: str = "queen",
                     boundary_cols: Sequence[str] = ("town", "pcn_code"),
                     boundary_weight: float = 1.0, coord_weight: float = 1.0,
                     balance_weight: float = 5.0, seed: int = 0, n_starts: int = 8,
                     name_col: str | None = "town") -> list[Scheme]:
    """Contiguous groupings of LSOAs or wards into k localities, one scheme per k.

    Parameters
    ----------
    units_gdf : GeoDataFrame
        Building units (LSOAs, or wards from :func:`units_from_lsoa`) with ``id_col``,
        ``pop_col`` and (optionally) ``boundary_cols``.
    k_values : iterable of int
        Numbers of localities (default 3..7).
    pop_col : str
        Population column to balance (people; default children 0-19).
    method : {"skater", "ward", "maxp"}
        ``skater``: spopt SKATER spanning-tree pruning with a population floor and a
        balance term (default).  ``ward``: spopt ``WardSpatial`` (agglomerative Ward with
        contiguity) on location + boundary attributes.  ``maxp``: spopt
        ``MaxPHeuristic`` with floor = lower bound; k is an outcome (meta ``k_achieved``).
    bounds : None, (min, max) or callable k -> (min, max)
        Population bounds per locality in people of ``pop_col``; default
        total/k +/- ``tolerance``.
    id_col : str
        Unit id column.  If not ``lsoa21cd``, ``lsoa`` is required and must carry
        ``id_col`` so the scheme is expanded to LSOAs.
    contiguity : {"queen", "rook", "fuzzy"}
        libpysal contiguity used by the algorithms and the checks.
    boundary_cols : sequence of str
        Labels whose boundaries the cuts should follow (town, PCN).
    boundary_weight, coord_weight, balance_weight : float
        Weights of boundary labels and location in the attribute space; weight of the
        population balance (coefficient of variation) in the SKATER score.
    seed : int
        Seed for the SKATER restarts and max-p (results are reproducible).
    n_starts : int
        SKATER restarts: start 0 uses the attributes as given, later starts add small
        seeded noise (5% of the attribute spread) to obtain different spanning trees; the
        feasible result with the smallest population deviation is kept.
    name_col : str or None
        Append the dominant value of this column to the locality names.

    Returns
    -------
    list of Scheme
        One per k (``name`` ``auto_<method>_k<k>``); ``meta`` holds ``k, method,
        pop_col, bounds_people, feasible, within_bounds (per locality), contiguous,
        status`` (``ok``/``infeasible: ...``).  An infeasible k is returned with
        ``feasible=False`` and the reason, never silently dropped.
    """
    # 1. validate the request
    if method not in METHODS:
        raise ValueError(f"unknown method '{method}' (one of {', '.join(METHODS)})")
    _require(units_gdf, [id_col, pop_col], "units layer")
    if id_col != LSOA_ID:
        if lsoa is None:
            raise LocmapError(f"generate_schemes: units keyed by '{id_col}' need `lsoa` "
                              "to expand the scheme to LSOAs")
        _require(lsoa, [LSOA_ID, id_col], "lsoa layer")
    # 2. contiguity and attributes of the building units
    u = _prepare_units(units_gdf, id_col, pop_col, contiguity, boundary_cols, boundary_weight,
                       coord_weight)
    # 3. one regionalisation per k; an infeasible k is kept with its reason
    schemes = []
    for k in map(int, k_values):
        lo, hi = population_bounds(u.total, k, bounds, tolerance) if k >= 1 else (np.nan, np.nan)
        labels, status = _solve_k(u, k, lo, hi, method, balance_weight, n_starts, seed)
        schemes.append(_infeasible_scheme(u, k, method, lo, hi, status) if labels is None
                       else _scheme_from_labels(u, labels, k, lo, hi, method, lsoa, name_col))
    return schemes


def best_scheme(schemes: Sequence[Scheme], score: Callable[[Scheme], float] | None = None
                ) -> Scheme | None:
    """The best *feasible* generated scheme: lowest ``score`` (default: the largest
    deviation from equal population, ``meta['max_dev_pct']``); None if none is feasible."""
    ok = [s for s in schemes if s.meta.get("feasible")]
    if not ok:
        return None
    score = score or (lambda s: s.meta.get("max_dev_pct", np.inf))
    return min(ok, key=lambda s: (score(s), s.k))
