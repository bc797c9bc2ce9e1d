"""Pedestrian / pram street networks as compact CSR graphs.

A :class:`StreetNetwork` is a bundle of numpy arrays: node ids, node coordinates in a projected
CRS (EPSG:27700 by default, metres) and two directed ``scipy.sparse.csr_matrix`` with the same
sparsity: the routing **cost** (metres; pram penalties included when asked for) and the
physical **length** (metres) of every edge.

Every input (``.osm.pbf``, ``.osm``/``.osm.bz2`` XML, osmnx ``.graphml``, GeoPackage/GeoJSON,
an Overpass download) is read by :mod:`locmap.distance._osm` into the same edge table and built
here by one function, :func:`network_from_edges`, so the same OSM data gives the same network
whatever the format (tests/test_network_formats.py checks node/edge counts, costs and
distances on real OSM data).  The build:

1. projects the nodes to the metric CRS (pyproj) and measures every edge there: the length of
   its geometry when it has one (simplified osmnx graphs), otherwise the straight line between
   its two nodes (an OSM way segment).  This is the documented length choice: the same metric
   as snapping and straight-line distances (British National Grid scale error in London is
   below 0.04 %); OSM/osmnx haversine lengths differ from it by less than 0.1 % on Helsinki;
2. drops what nobody may walk along and, for ``pram``, what a pram cannot use (the rules of
   :data:`PROFILE_RULES`, each with a reason counted in ``report["dropped_edges"]``);
3. applies pram penalties only when asked (:class:`PramPenalties`; default none);
4. stores every way segment in both directions except ``oneway:foot`` ways, merges duplicate
   edges (minimum cost), keeps the largest weakly connected component and reports the rest.

Built networks are cached as ``.npz`` files (:func:`load_or_build`) that load in milliseconds.
Which network a run uses (``--network``, ``Settings.network_file``, the area pack) is decided by
:func:`requested_network`: a network that was asked for is used or refused with a
:class:`~locmap.errors.NetworkError`, never replaced by estimated distances.

Shortest paths live in :mod:`locmap.distance.routing`.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from locmap.distance._osm import _normalise_values as normalise_tag_values
from locmap.distance._osm import (
    NON_WALKABLE_HIGHWAYS,
    PRAM_NO_TAGS,
    PROFILE_TAG_KEYS,
    SIDEWALK_KEYS,
    EdgeTables,
    fetch_overpass,
    read_tables,
    tables_from_osmnx,
)
from locmap.errors import NetworkError
from locmap.export import atomic_path
from locmap.pathcheck import check_network_file, network_error
from locmap.settings import CRS_METRIC, CRS_WEB, Settings

log = logging.getLogger(__name__)

#: Bump when the build logic changes: invalidates every cached network.
ENGINE_VERSION = "network-2"

PROFILES = ("walk", "pram")

#: ``foot`` values that close a way to pedestrians (the most specific access tag decides).
FOOT_CLOSED = frozenset({"no", "private", "use_sidepath"})
#: ``access`` values that close a way when no ``foot`` tag says otherwise.
ACCESS_CLOSED = frozenset({"no", "private"})
#: ``foot`` values that open a ``highway=cycleway`` to pedestrians (shared-use paths).
FOOT_ALLOWED = frozenset({"yes", "designated", "permissive", "official"})
#: ``oneway:foot`` values: walkable only in the way's direction / only against it.
ONEWAY_FOOT_FORWARD = frozenset({"yes", "true", "1"})
ONEWAY_FOOT_BACKWARD = frozenset({"-1", "reverse"})

#: Every rule, in the order applied: (reason, profiles, what it drops).  docs/network.md shows it.
PROFILE_RULES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("not_walkable_highway", PROFILES, f"highway in {sorted(NON_WALKABLE_HIGHWAYS)}"),
    ("area_yes", PROFILES, "area=yes (the outline of a square is not a route)"),
    ("cycleway_without_foot", PROFILES,
     f"highway=cycleway unless foot in {sorted(FOOT_ALLOWED)} (shared-use path)"),
    ("foot_no", PROFILES, f"foot in {sorted(FOOT_CLOSED)}"),
    ("access_private", PROFILES, f"access in {sorted(ACCESS_CLOSED)} and no foot tag"),
    ("service_private", PROFILES, "service=private"),
    ("sidewalk_separate", PROFILES,
     f"any of {list(SIDEWALK_KEYS)} = separate (the footway is its own way)"),
    ("steps", ("pram",), "highway=steps"),
    *((f"{k}_no", ("pram",), f"{k}=no") for k in PRAM_NO_TAGS),
)


@dataclass(frozen=True)
class PramPenalties:
    """Multiplicative cost factors of the ``pram`` profile (all >= 1; 1 = off).

    ``PramPenalties()`` holds the suggested factors; ``PramPenalties.none()`` (the default of
    every builder) switches them off.  The cost of an edge is ``length_m * product(applicable
    factors)``, a "pram cost" in equivalent flat, paved metres: minutes are pram cost / speed
    (a factor of 1.5 on gravel means pushing takes 1.5 times as long there).  Outputs then carry
    the physical route length (``distance_m``) and the cost (``pram_cost_m``) separately.

    Attributes
    ----------
    unpaved_factor : float
        Applied to ways whose ``surface`` is in ``unpaved_surfaces`` (suggested 1.5).
    unpaved_surfaces : tuple of str
        OSM ``surface`` values treated as unpaved.
    steep_incline_factor : float
        Applied to ways with ``|incline|`` above ``steep_incline_pct`` percent, or tagged
        ``incline=steep`` (suggested 1.3).  Applied in both directions.
    steep_incline_pct : float
        Threshold in percent (default 8, about the UK guidance maximum for ramps).
    raised_kerb_factor : float
        Applied to ways tagged ``kerb=raised`` (typically crossing footways) (suggested 1.2).
    """

    unpaved_factor: float = 1.5
    unpaved_surfaces: tuple[str, ...] = (
        "unpaved", "gravel", "fine_gravel", "dirt", "earth", "grass", "ground", "sand", "mud",
        "pebblestone", "rock", "woodchips", "grass_paver", "compacted", "unhewn_cobblestone",
    )
    steep_incline_factor: float = 1.3
    steep_incline_pct: float = 8.0
    raised_kerb_factor: float = 1.2

    def __post_init__(self) -> None:
        for name in ("unpaved_factor", "steep_incline_factor", "raised_kerb_factor"):
            if not getattr(self, name) >= 1.0:
                raise ValueError(f"PramPenalties.{name} must be >= 1 (got {getattr(self, name)}): "
                                 "pram costs may never be below walking costs")

    @classmethod
    def none(cls) -> "PramPenalties":
        """No penalties (pram = walk minus steps and unsuitable ways); the default."""
        return cls(unpaved_factor=1.0, steep_incline_factor=1.0, raised_kerb_factor=1.0)

    @property
    def active(self) -> bool:
        """True when any factor is above 1."""
        return max(self.unpaved_factor, self.steep_incline_factor, self.raised_kerb_factor) > 1.0

    def key(self) -> str:
        """Stable text used in cache keys."""
        return json.dumps(asdict(self), sort_keys=True)


# ============================================================================ network
@dataclass
class StreetNetwork:
    """A directed street graph in a projected CRS.

    Attributes
    ----------
    node_ids : ndarray of int64, shape (N,)
        OSM node ids (or synthetic ids), ascending.
    x, y : ndarray of float64, shape (N,)
        Node coordinates in ``crs`` (metres; EPSG:27700 by default).
    csr : scipy.sparse.csr_matrix, shape (N, N)
        Routing cost in metres, ``csr[i, j]`` = cost of going from node i to node j: the
        length times the pram penalties (equal to :attr:`length_csr` without penalties).
        Zero-length edges are explicit zeros (scipy.csgraph treats them as edges).
    length_csr : scipy.sparse.csr_matrix, shape (N, N)
        Physical length (metres) of the same edges (same sparsity and order as ``csr``).
    profile : str
        ``"walk"`` or ``"pram"``.
    source : str
        Where the network came from.
    crs : str
        CRS of ``x``/``y`` (metres).
    report : dict
        Build report: what was read, dropped edges by reason, penalised edges, components.
    """

    node_ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    csr: sp.csr_matrix
    length_csr: sp.csr_matrix
    profile: str = "walk"
    source: str = ""
    crs: str = CRS_METRIC
    report: dict = field(default_factory=dict)
    _tree: cKDTree | None = field(default=None, init=False, repr=False, compare=False)
    _labels: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _rev: tuple | None = field(default=None, init=False, repr=False, compare=False)

    # ------------------------------------------------------------------ basics
    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.node_ids.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of directed edges (a two-way footway counts twice)."""
        return int(self.csr.nnz)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` of the nodes, in ``crs`` metres."""
        if self.n_nodes == 0:
            return (np.nan, np.nan, np.nan, np.nan)
        return (float(self.x.min()), float(self.y.min()), float(self.x.max()), float(self.y.max()))

    @property
    def xy(self) -> np.ndarray:
        """Node coordinates as an ``(N, 2)`` array (metres)."""
        return np.column_stack([self.x, self.y])

    @property
    def penalised(self) -> bool:
        """True when some edge costs more than its length (pram penalties applied)."""
        return bool(np.any(self.csr.data != self.length_csr.data))

    def reversed_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(indptr, indices, cost_m, length_m)`` of the reversed graph (edge j->i for every
        i->j; int32 structure when it fits), cached; cost and length share one order."""
        if self._rev is None:
            c = self.csr
            order = sp.csr_matrix((np.arange(1, c.nnz + 1, dtype=np.float64), c.indices, c.indptr),
                                  shape=c.shape).T.tocsr()
            perm = order.data.astype(np.int64) - 1
            idx = np.int32 if c.nnz < 2**31 - 1 else np.int64  # smaller arrays search faster
            self._rev = (order.indptr.astype(idx), order.indices.astype(idx),
                         c.data[perm], self.length_csr.data[perm])
        return self._rev

    @property
    def csr_reversed(self) -> sp.csr_matrix:
        """Transpose of :attr:`csr` (cost of j->i for every i->j), explicit zeros kept."""
        indptr, indices, cost, _ = self.reversed_arrays()
        return sp.csr_matrix((cost, indices, indptr), shape=self.csr.shape)

    @property
    def component_labels(self) -> np.ndarray:
        """Weakly connected component label of every node (cached)."""
        if self._labels is None:
            _, self._labels = connected_components(self.csr, directed=True, connection="weak")
        return self._labels

    def __repr__(self) -> str:
        return (f"StreetNetwork(profile={self.profile!r}, nodes={self.n_nodes:,}, "
                f"edges={self.n_edges:,}, crs={self.crs!r}, source={self.source!r})")

    # ------------------------------------------------------------------ snapping
    def snap(self, xy: np.ndarray, max_snap_m: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
        """Snap points to their nearest network **node** (scipy cKDTree, vectorised).

        Parameters
        ----------
        xy : array, shape (n, 2)
            Points in the network CRS (metres).
        max_snap_m : float
            Points farther than this from every node get index -1.

        Returns
        -------
        node_index : ndarray of int64, shape (n,)
            Row of the nearest node, or -1 beyond ``max_snap_m`` or for non-finite points.
        snap_distance_m : ndarray of float, shape (n,)
            Straight-line distance to the nearest node (metres; NaN for non-finite points),
            reported even when beyond ``max_snap_m``.

        Notes
        -----
        Snapping is to nodes, not to the nearest point on an edge.  OSM files, downloads and
        unsimplified GraphML keep every OSM vertex as a node, so the nearest node is usually
        within a few metres of the nearest edge.
        """
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        n = xy.shape[0]
        idx = np.full(n, -1, dtype=np.int64)
        dist = np.full(n, np.nan)
        ok = np.isfinite(xy).all(axis=1)
        if n == 0 or self.n_nodes == 0 or not ok.any():
            return idx, dist
        if self._tree is None:
            self._tree = cKDTree(self.xy)
        d, i = self._tree.query(xy[ok], k=1)
        dist[ok] = d
        i = np.asarray(i, dtype=np.int64)
        i[d > max_snap_m] = -1
        idx[ok] = i
        return idx, dist

    # ------------------------------------------------------------------ edges
    def edge_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(u_index, v_index, cost_m, length_m)`` of every directed edge."""
        c = self.csr
        u = np.repeat(np.arange(c.shape[0], dtype=np.int64), np.diff(c.indptr))
        return u, c.indices.astype(np.int64), c.data.copy(), self.length_csr.data.copy()

    def to_networkx(self):
        """A ``networkx.DiGraph``: node = row index (attrs ``osmid``, ``x``, ``y``), edge attrs
        ``cost_m`` (profile cost, metres) and ``length_m`` (metres)."""
        import networkx as nx  # noqa: PLC0415  (0.5 s import; only cross-checks and benchmarks)

        G = nx.DiGraph(crs=self.crs, profile=self.profile)
        G.add_nodes_from((i, {"osmid": int(o), "x": float(a), "y": float(b)})
                         for i, (o, a, b) in enumerate(zip(self.node_ids, self.x, self.y)))
        u, v, c, ln = self.edge_arrays()
        G.add_edges_from((int(a), int(b), {"cost_m": float(w), "length_m": float(l_)})
                         for a, b, w, l_ in zip(u, v, c, ln))
        return G

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the network as an uncompressed ``.npz`` (atomic)."""
        path = Path(path)
        meta = {"profile": self.profile, "source": self.source, "crs": self.crs,
                "report": self.report, "engine": ENGINE_VERSION}
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, node_ids=self.node_ids, x=self.x, y=self.y,
                         indptr=self.csr.indptr, indices=self.csr.indices, cost=self.csr.data,
                         length=self.length_csr.data,
                         meta=np.frombuffer(json.dumps(meta, default=str).encode(), dtype=np.uint8))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "StreetNetwork":
        """Read a network written by :meth:`save`."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(arrays["meta"].tobytes().decode())
        except (OSError, ValueError, KeyError) as exc:
            raise NetworkError(f"{path}: not a readable locmap network cache ({exc})") from exc
        n = arrays["node_ids"].shape[0]
        shape = (n, n)
        csr = sp.csr_matrix((arrays["cost"], arrays["indices"], arrays["indptr"]), shape=shape)
        lcsr = sp.csr_matrix((arrays["length"], arrays["indices"], arrays["indptr"]), shape=shape)
        return cls(node_ids=arrays["node_ids"], x=arrays["x"], y=arrays["y"], csr=csr,
                   length_csr=lcsr, profile=meta["profile"], source=meta["source"],
                   crs=meta["crs"], report=meta["report"])


# ============================================================================ tags
def _tag(edges: pd.DataFrame, key: str) -> pd.Categorical:
    """Normalised values of OSM tag ``key`` per edge: lower-case text, "" when absent, several
    values joined by ";".  Looks in a column ``key``, then in a pyrosm-style ``tags`` column
    (JSON text or dicts)."""
    if key in edges.columns:
        col = edges[key]
        if isinstance(col.dtype, pd.CategoricalDtype):
            return _renormalise(col.array)
        return pd.Categorical(normalise_tag_values(col.tolist()))
    if "tags" in edges.columns:
        vals = [(t if isinstance(t, dict) else _safe_json(t)).get(key) for t in edges["tags"]]
        return pd.Categorical(normalise_tag_values(vals))
    return pd.Categorical.from_codes(np.zeros(len(edges), np.int64), [""])


def _renormalise(cat: pd.Categorical) -> pd.Categorical:
    """A categorical with normalised categories (and "" for missing values)."""
    cats = np.asarray(normalise_tag_values(list(cat.categories)) + [""], dtype=object)
    uniq, inv = np.unique(cats.astype(str), return_inverse=True)
    codes = np.asarray(cat.codes, dtype=np.int64)
    codes = np.where(codes < 0, len(cats) - 1, codes)
    return pd.Categorical.from_codes(inv[codes], uniq)


def _safe_json(text: Any) -> dict:
    if not isinstance(text, str):
        return {}
    try:
        d = json.loads(text)
    except ValueError:
        return {}
    return d if isinstance(d, dict) else {}


def _any_part(cat: pd.Categorical, values: frozenset | set | tuple) -> np.ndarray:
    """Per edge: does any ";"-separated part of the tag value lie in ``values``?"""
    values = set(values)
    hit = np.array([any(p.strip() in values for p in str(c).split(";")) for c in cat.categories],
                   dtype=bool)
    return hit[np.asarray(cat.codes, dtype=np.int64)] if hit.size else np.zeros(len(cat), bool)


def _incline_pct(values: pd.Series) -> np.ndarray:
    """Absolute incline in percent from OSM ``incline`` values ('10%', '-5%', '4°', 'steep')."""
    s = values.fillna("").astype(str).str.strip().str.lower()
    out = np.full(len(s), np.nan)
    steep = s.isin(["steep"]).to_numpy()
    out[steep] = np.inf
    num = pd.to_numeric(s.str.extract(r"^([+-]?\d+(?:\.\d+)?)")[0], errors="coerce").to_numpy()
    deg = s.str.contains("°|deg", regex=True).to_numpy()
    pct = np.where(deg, np.tan(np.radians(num)) * 100.0, num)
    has = np.isfinite(pct)
    out[has] = np.abs(pct[has])
    return out


# ============================================================================ build steps
@functools.lru_cache(maxsize=16)
def _transformer(src: str, dst: str) -> pyproj.Transformer | None:
    """lon/lat-order transformer between two CRSs (None when they are the same)."""
    a, b = pyproj.CRS.from_user_input(src), pyproj.CRS.from_user_input(dst)
    return None if a == b else pyproj.Transformer.from_crs(a, b, always_xy=True)


def _project(x: np.ndarray, y: np.ndarray, src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    t = _transformer(str(src), str(dst))
    if t is None:
        return np.asarray(x, float), np.asarray(y, float)
    px, py = t.transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(px, float), np.asarray(py, float)


def _node_table(nodes: pd.DataFrame, crs: str, nodes_crs: str | None, source: str) -> pd.DataFrame:
    """DataFrame indexed by int64 node id (ascending, unique) with ``x``, ``y`` in ``crs`` metres."""
    ids = nodes["id"] if "id" in nodes.columns else pd.Series(nodes.index, index=nodes.index)
    geom = getattr(nodes, "geometry", None) if "geometry" in nodes.columns else None
    if geom is not None and geom.notna().any():
        if nodes.crs is None:
            raise NetworkError(f"{source}: node layer has no CRS")
        x, y = _project(geom.x.to_numpy(), geom.y.to_numpy(), str(nodes.crs), crs)
    elif {"x", "y"} <= set(nodes.columns):
        x, y = _project(nodes["x"].to_numpy(float), nodes["y"].to_numpy(float),
                        nodes_crs or crs, crs)
    else:
        raise NetworkError(f"{source}: node table needs point geometry or x/y columns")
    tab = pd.DataFrame({"x": x, "y": y}, index=pd.Index(ids.to_numpy(dtype=np.int64), name="id"))
    tab = tab[~tab.index.duplicated()]
    return tab.sort_index(kind="stable")


def _rows_of(ids: np.ndarray, node_tab: pd.DataFrame) -> np.ndarray:
    """Row of each node id in the (sorted) node table; -1 where the node is not there."""
    known = node_tab.index.to_numpy()
    if known.size == 0:
        return np.full(ids.size, -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(known, ids), known.size - 1)
    return np.where(known[pos] == ids, pos, -1).astype(np.int64)


def _edge_lengths(edges: pd.DataFrame, ui: np.ndarray, vi: np.ndarray, node_tab: pd.DataFrame,
                  crs: str) -> np.ndarray:
    """Edge length in metres, measured in ``crs``: along the edge geometry when there is one,
    else the ``length_m`` column, else the straight line between the two nodes."""
    out = np.full(len(edges), np.nan)
    geom = edges.geometry if "geometry" in edges.columns and hasattr(edges, "crs") else None
    if geom is not None and edges.crs is not None:
        has = (geom.notna() & ~geom.is_empty).to_numpy()
        if has.any():
            coords, which = shapely.get_coordinates(geom[has].to_numpy(), return_index=True)
            px, py = _project(coords[:, 0], coords[:, 1], str(edges.crs), crs)
            same = which[1:] == which[:-1]
            seg = np.where(same, np.hypot(np.diff(px), np.diff(py)), 0.0)
            out[has] = np.bincount(which[:-1], weights=seg, minlength=int(has.sum()))
    if "length_m" in edges.columns:
        miss = ~np.isfinite(out)
        out[miss] = pd.to_numeric(edges["length_m"], errors="coerce").to_numpy(float)[miss]
    miss = ~np.isfinite(out) & (ui >= 0) & (vi >= 0)
    if miss.any():
        x, y = node_tab["x"].to_numpy(), node_tab["y"].to_numpy()
        out[miss] = np.hypot(x[vi[miss]] - x[ui[miss]], y[vi[miss]] - y[ui[miss]])
    return out


class _Dropper:
    """Marks edges as dropped, first reason wins, counts per reason."""

    def __init__(self, n: int) -> None:
        self.keep = np.ones(n, dtype=bool)
        self.counts: dict[str, int] = {}

    def __call__(self, mask: np.ndarray, reason: str) -> None:
        m = np.asarray(mask, dtype=bool) & self.keep
        if m.any():
            self.counts[reason] = self.counts.get(reason, 0) + int(m.sum())
            self.keep[m] = False


def _profile_drops(edges: pd.DataFrame, profile: str, drop: _Dropper) -> None:
    """Apply :data:`PROFILE_RULES` for ``profile`` (tags read with :func:`_tag`)."""
    hw, foot = _tag(edges, "highway"), _tag(edges, "foot")
    foot_set = np.asarray(foot.categories, dtype=object)[np.asarray(foot.codes)] != ""
    drop(_any_part(hw, NON_WALKABLE_HIGHWAYS), "not_walkable_highway")
    drop(_any_part(_tag(edges, "area"), {"yes"}), "area_yes")
    drop(_any_part(hw, {"cycleway"}) & ~_any_part(foot, FOOT_ALLOWED), "cycleway_without_foot")
    drop(_any_part(foot, FOOT_CLOSED), "foot_no")
    drop(~foot_set & _any_part(_tag(edges, "access"), ACCESS_CLOSED), "access_private")
    drop(_any_part(_tag(edges, "service"), {"private"}), "service_private")
    sidewalk = np.zeros(len(edges), bool)
    for key in SIDEWALK_KEYS:
        sidewalk |= _any_part(_tag(edges, key), {"separate"})
    drop(sidewalk, "sidewalk_separate")
    if profile == "pram":
        drop(_any_part(hw, {"steps"}), "steps")
        for key in PRAM_NO_TAGS:
            drop(_any_part(_tag(edges, key), {"no"}), f"{key}_no")


def _penalty_factor(edges: pd.DataFrame, penalties: PramPenalties,
                    keep: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """Cost factor per edge (>= 1) and how many kept edges each active penalty touches."""
    surface = _tag(edges, "surface")
    unpaved = _any_part(surface, set(penalties.unpaved_surfaces))
    incline = _tag(edges, "incline")
    pct = _incline_pct(pd.Series(list(incline.categories), dtype=object))
    steep = (pct > penalties.steep_incline_pct)[np.asarray(incline.codes)] if pct.size else \
        np.zeros(len(edges), bool)
    raised = _any_part(_tag(edges, "kerb"), {"raised"})
    rules = (("unpaved", unpaved, penalties.unpaved_factor),
             ("steep_incline", steep, penalties.steep_incline_factor),
             ("raised_kerb", raised, penalties.raised_kerb_factor))
    factor = np.ones(len(edges))
    counts = {}
    for name, mask, f in rules:
        applies = mask & (f > 1.0)
        factor = np.where(applies, factor * f, factor)
        counts[name] = int((applies & keep).sum())
    return factor, counts


def _directed(edges: pd.DataFrame, ui: np.ndarray, vi: np.ndarray, keep: np.ndarray,
              cost: np.ndarray, length: np.ndarray, two_way: bool) -> tuple[np.ndarray, ...]:
    """Directed edge arrays ``(U, V, C, L)``: both directions except ``oneway:foot`` ways."""
    ow = _tag(edges, "oneway:foot")
    fwd_only = _any_part(ow, ONEWAY_FOOT_FORWARD)
    back_only = _any_part(ow, ONEWAY_FOOT_BACKWARD)
    if not two_way and "oneway" in edges.columns:
        car = edges["oneway"].map(lambda v: v is True or str(v).lower() in ("yes", "true", "1"))
        fwd_only |= car.to_numpy(dtype=bool)
    u, v, c, ln = ui[keep], vi[keep], cost[keep], length[keep]
    fw, bw = ~back_only[keep], ~fwd_only[keep]
    return (np.concatenate([u[fw], v[bw]]), np.concatenate([v[fw], u[bw]]),
            np.concatenate([c[fw], c[bw]]), np.concatenate([ln[fw], ln[bw]]))


def _dedupe(U, V, C, L) -> tuple[tuple[np.ndarray, ...], int]:
    """Sort by (u, v, cost) and keep the cheapest of duplicate edges."""
    order = np.lexsort((L, C, V, U))
    U, V, C, L = U[order], V[order], C[order], L[order]
    first = np.ones(U.shape[0], dtype=bool)
    first[1:] = (U[1:] != U[:-1]) | (V[1:] != V[:-1])
    return (U[first], V[first], C[first], L[first]), int((~first).sum())


def _component_nodes(U: np.ndarray, V: np.ndarray, n_all: int, largest: bool,
                     report: dict) -> np.ndarray:
    """Boolean mask of the nodes kept: used by an edge and, if ``largest``, in the largest
    weakly connected component (the others are counted in ``report``)."""
    used = np.zeros(n_all, dtype=bool)
    used[U] = True
    used[V] = True
    report["isolated_nodes_dropped"] = int((~used).sum())
    adj = sp.csr_matrix((np.ones(U.shape[0]), (U, V)), shape=(n_all, n_all))
    ncomp, labels = connected_components(adj, directed=True, connection="weak")
    sizes = np.bincount(labels[used], minlength=ncomp) if used.any() else np.zeros(0, dtype=int)
    report["components"] = int((sizes > 0).sum())
    report["dropped_components"] = report["dropped_component_nodes"] = 0
    if not (largest and used.any()):
        return used
    big = int(np.argmax(sizes))
    other = np.sort(sizes[(sizes > 0) & (np.arange(ncomp) != big)])[::-1]
    report["dropped_components"] = int(other.shape[0])
    report["dropped_component_nodes"] = int(other.sum())
    report["dropped_component_sizes_top20"] = [int(s) for s in other[:20]]
    return used & (labels == big)


def _csr_from_arrays(u: np.ndarray, v: np.ndarray, data: list[np.ndarray], n: int) -> list[sp.csr_matrix]:
    """Build CSR matrices sharing one sparsity pattern from sorted, unique (u, v) arrays."""
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
    idx_dtype = np.int32 if n < 2**31 - 1 and u.shape[0] < 2**31 - 1 else np.int64
    indptr = indptr.astype(idx_dtype)
    indices = v.astype(idx_dtype)
    return [sp.csr_matrix((d.astype(np.float64), indices, indptr), shape=(n, n)) for d in data]


# ============================================================================ builders
def network_from_edges(
    edges: pd.DataFrame,
    nodes: pd.DataFrame,
    profile: str = "walk",
    *,
    crs: str = CRS_METRIC,
    penalties: PramPenalties | None = None,
    largest_component: bool = True,
    source: str = "edges",
    two_way: bool = True,
    nodes_crs: str | None = None,
    read_report: dict | None = None,
) -> StreetNetwork:
    """Build a :class:`StreetNetwork` from edge and node tables (the one build path).

    Parameters
    ----------
    edges : GeoDataFrame or DataFrame
        One row per way segment with ``u``, ``v`` (node ids, ``u -> v`` in the way's
        direction) and optionally ``geometry`` (LineString, any CRS with ``edges.crs`` set),
        ``length_m`` (metres, used when there is no geometry), OSM tags as columns
        (:data:`~locmap.distance._osm.PROFILE_TAG_KEYS`) and/or a pyrosm-style ``tags``
        column (JSON text or dict), and ``oneway`` (bool, only honoured when ``two_way=False``).
    nodes : GeoDataFrame or DataFrame
        Node ids in ``id`` (or the index) and ``geometry`` points, or ``x``/``y`` columns in
        ``nodes_crs``.  Segments touching a node that is not listed are dropped
        (``node_missing``: a clipped extract).
    profile : {"walk", "pram"}
        The rules applied (:data:`PROFILE_RULES`).
    crs : str
        Metric CRS to measure in (default EPSG:27700; e.g. EPSG:3067 for Helsinki).
    penalties : PramPenalties, optional
        Pram penalties; default none (see :class:`PramPenalties`).  Ignored for ``walk``.
    largest_component : bool
        Keep only the largest weakly connected component (default) and report the rest.
    source : str
        Description stored in the network.
    two_way : bool
        Pedestrians walk both ways along one-way streets: every edge is added in both
        directions, except ways tagged ``oneway:foot``.  ``False`` also honours ``oneway``.
    nodes_crs : str, optional
        CRS of ``nodes.x``/``nodes.y`` (default ``crs``).
    read_report : dict, optional
        The reader's report, stored as ``report["read"]``.

    Returns
    -------
    StreetNetwork
        Coordinates in ``crs`` metres, costs and lengths in metres.
    """
    t0 = time.perf_counter()
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; use one of {PROFILES}")
    penalties = penalties or PramPenalties.none()
    for col in ("u", "v"):
        if col not in edges.columns:
            raise NetworkError(f"{source}: edge table has no '{col}' column")
    edges = edges.reset_index(drop=True)
    report: dict[str, Any] = {"source": source, "profile": profile, "crs": crs,
                              "read": dict(read_report or {}), "edges_read": int(len(edges))}
    # 1. nodes in the metric CRS, edge lengths measured there
    node_tab = _node_table(nodes, crs, nodes_crs, source)
    report["nodes_read"] = int(len(node_tab))
    ui = _rows_of(edges["u"].to_numpy(dtype=np.int64), node_tab)
    vi = _rows_of(edges["v"].to_numpy(dtype=np.int64), node_tab)
    length_m = _edge_lengths(edges, ui, vi, node_tab, crs)
    # 2. what nobody may walk, and what a pram cannot use
    drop = _Dropper(len(edges))
    drop((ui < 0) | (vi < 0), "node_missing")
    drop(ui == vi, "self_loop")
    drop(~np.isfinite(length_m), "no_geometry")
    drop(np.isfinite(length_m) & (length_m < 0), "negative_length")  # Dijkstra needs >= 0
    _profile_drops(edges, profile, drop)
    report["dropped_edges"] = drop.counts
    # 3. penalties (pram only, when asked)
    factor, report["penalised_edges"] = _penalty_factor(
        edges, penalties if profile == "pram" else PramPenalties.none(), drop.keep)
    if profile == "pram":
        report["penalties"] = asdict(penalties)
    # 4. directions, duplicates, components
    arrays = _directed(edges, ui, vi, drop.keep, length_m * factor, length_m, two_way)
    (U, V, C, L), report["duplicate_edges_merged"] = _dedupe(*arrays)
    keep_node = _component_nodes(U, V, len(node_tab), largest_component, report)
    return _assemble(node_tab, keep_node, U, V, C, L, profile, source, crs, report, t0)


def _assemble(node_tab, keep_node, U, V, C, L, profile, source, crs, report, t0) -> StreetNetwork:
    """Renumber the kept nodes and build the CSR matrices."""
    new_index = np.full(len(node_tab), -1, dtype=np.int64)
    new_index[keep_node] = np.arange(int(keep_node.sum()))
    ekeep = keep_node[U] & keep_node[V]
    report["dropped_component_directed_edges"] = int((~ekeep).sum())
    U, V, C, L = new_index[U[ekeep]], new_index[V[ekeep]], C[ekeep], L[ekeep]
    n = int(keep_node.sum())
    if n == 0:
        raise NetworkError(f"{source}: no usable walkable edges for profile '{profile}' "
                           f"(dropped: {report['dropped_edges'] or 'nothing'}); check that the "
                           "file is a street network of the study area")
    csr, lcsr = _csr_from_arrays(U, V, [C, L], n)
    report["nodes"] = n
    report["edges"] = int(csr.nnz)
    report["build_seconds"] = round(time.perf_counter() - t0, 3)
    return StreetNetwork(
        node_ids=node_tab.index.to_numpy(dtype=np.int64)[keep_node],
        x=node_tab["x"].to_numpy(dtype=float)[keep_node],
        y=node_tab["y"].to_numpy(dtype=float)[keep_node],
        csr=csr, length_csr=lcsr, profile=profile, source=source, crs=crs, report=report,
    )


# ============================================================================ files
def network_from_tables(
    tables: EdgeTables,
    profile: str = "walk",
    *,
    crs: str = CRS_METRIC,
    penalties: PramPenalties | None = None,
    largest_component: bool = True,
    bbox_or_polygon: Any = None,
) -> StreetNetwork:
    """Build from a reader's :class:`~locmap.distance._osm.EdgeTables` (see
    :func:`network_from_edges`).  ``bbox_or_polygon`` (EPSG:4326 ``[minx, miny, maxx, maxy]``
    or a shapely geometry) keeps only the nodes inside it, as a clipped extract would."""
    nodes, read = tables.nodes, dict(tables.report)
    if bbox_or_polygon is not None:
        nodes, read["nodes_outside_clip"] = _clip(nodes, tables.nodes_crs, bbox_or_polygon)
    return network_from_edges(tables.edges, nodes, profile, crs=crs, penalties=penalties,
                              largest_component=largest_component, source=tables.source,
                              nodes_crs=tables.nodes_crs, read_report=read)


def _clip(nodes: pd.DataFrame, nodes_crs: str, area: Any) -> tuple[pd.DataFrame, int]:
    geom = area if hasattr(area, "geom_type") else shapely.box(*map(float, area))
    lon, lat = _project(nodes["x"].to_numpy(float), nodes["y"].to_numpy(float), nodes_crs, CRS_WEB)
    inside = shapely.intersects_xy(geom, lon, lat)
    return nodes[inside], int((~inside).sum())


def network_from_file(
    path: str | Path,
    profile: str = "walk",
    *,
    crs: str = CRS_METRIC,
    penalties: PramPenalties | None = None,
    largest_component: bool = True,
    bbox_or_polygon: Any = None,
) -> StreetNetwork:
    """Build from any supported file: ``.osm.pbf``, ``.osm``, ``.osm.bz2``, ``.osm.gz``,
    ``.graphml`` (osmnx), ``.gpkg``/``.geojson`` (see :mod:`locmap.distance._osm`).

    Raises
    ------
    NetworkError
        Missing, empty or unreadable file, unknown format, or no walkable way in it.
    """
    path = Path(path)
    check_network_file(path)
    return network_from_tables(read_tables(path), profile, crs=crs, penalties=penalties,
                               largest_component=largest_component, bbox_or_polygon=bbox_or_polygon)


def network_from_pbf(path: str | Path, profile: str = "walk", bbox_or_polygon: Any = None,
                     **kwargs: Any) -> StreetNetwork:
    """:func:`network_from_file` for an OSM extract (kept for its positional ``bbox_or_polygon``)."""
    return network_from_file(path, profile, bbox_or_polygon=bbox_or_polygon, **kwargs)


def network_from_osmnx(
    G: Any,
    profile: str = "walk",
    *,
    crs: str = CRS_METRIC,
    penalties: PramPenalties | None = None,
    largest_component: bool = True,
    source: str = "osmnx graph",
) -> StreetNetwork:
    """Build from an osmnx ``MultiDiGraph`` (``ox.graph_from_*``, ``ox.load_graphml``)."""
    return network_from_tables(tables_from_osmnx(G, source), profile, crs=crs,
                               penalties=penalties, largest_component=largest_component)


@dataclass(frozen=True)
class NetworkRequest:
    """A street-network file a run was asked to use, and who asked for it."""

    path: Path
    asked_by: str


def requested_network(settings: Settings, pack: Any = None) -> NetworkRequest | None:
    """The network a run must use: ``settings.network_file`` (``--network``; an absolute path,
    fixed against the working directory when the Settings was made), else the area pack's
    ``network`` (resolved against the pack file), else ``None`` (estimated distances)."""
    if settings.network_file is not None:
        return NetworkRequest(Path(settings.network_file), "--network / Settings.network_file")
    pack_network = getattr(pack, "network", None)
    if pack_network:
        return NetworkRequest(Path(pack_network),
                              f"area pack {getattr(pack, 'path', '?')}, key 'network'")
    return None


#: Share of homes allowed farther than max_snap_m from the network before it is refused as
#: not covering the study area (a complete OSM network leaves none; a partial one many).
MAX_SHARE_OFF_NETWORK = 0.02


def check_covers(net: StreetNetwork, homes_xy: np.ndarray, max_snap_m: float,
                 request: NetworkRequest | None = None) -> dict:
    """Refuse a network that does not cover the study area's homes.

    Parameters
    ----------
    net : StreetNetwork
    homes_xy : array (n, 2)
        Homes in the network CRS (metres).
    max_snap_m : float
        A home farther than this from every node is off the network.

    Returns
    -------
    dict
        ``homes``, ``homes_off_network``, ``share_off_network``.

    Raises
    ------
    NetworkError
        More than :data:`MAX_SHARE_OFF_NETWORK` of the homes are off the network.
    """
    _, d = net.snap(homes_xy)
    finite = np.isfinite(d)
    off = int((finite & (d > max_snap_m)).sum())
    share = off / max(int(finite.sum()), 1)
    out = {"homes": int(finite.sum()), "homes_off_network": off, "share_off_network": share}
    if share <= MAX_SHARE_OFF_NETWORK:
        return out
    where = request.path if request else net.source
    by = f" (asked for by {request.asked_by})" if request else ""
    xy = np.asarray(homes_xy, float)[finite]
    raise network_error(
        f"{where}: the street network does not cover the study area{by}: {off:,} of "
        f"{int(finite.sum()):,} homes ({share:.0%}) are more than {max_snap_m:.0f} m from it. "
        f"Network extent {_lonlat_box(net.bbox, net.crs)}, homes extent "
        f"{_lonlat_box((xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max()), net.crs)} "
        "(lon/lat)",
        "use a network of the study area plus a buffer: `locmap network fetch --area NAME "
        "--out geo/NAME_walk.graphml`, or cut one from a Geofabrik extract (geo/README.md)")


def _lonlat_box(bbox: tuple, crs: str) -> str:
    lon, lat = _project(np.array([bbox[0], bbox[2]]), np.array([bbox[1], bbox[3]]), crs, CRS_WEB)
    return f"{lon[0]:.4f}, {lat[0]:.4f}, {lon[1]:.4f}, {lat[1]:.4f}"


# ============================================================================ cache
def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def cache_key(source_path: str | Path, profile: str, penalties: PramPenalties | None = None,
              crs: str = CRS_METRIC, area: Any = None) -> str:
    """sha256 of (file bytes hash, profile, penalties, crs, clip area, engine version): the same
    derivation for every input format."""
    parts = [file_sha256(source_path), profile,
             (penalties or PramPenalties.none()).key() if profile == "pram" else "-",
             str(crs), ENGINE_VERSION, _area_key(area)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _area_key(area: Any) -> str:
    if area is None:
        return "-"
    if hasattr(area, "wkt"):
        return area.wkt
    return json.dumps(list(map(float, area)))


def load_or_build(
    source_path: str | Path,
    profile: str | None = None,
    settings: Settings | None = None,
    rebuild: bool = False,
    *,
    penalties: PramPenalties | None = None,
    bbox_or_polygon: Any = None,
    crs: str | None = None,
) -> StreetNetwork:
    """Load a cached network, or build it from ``source_path`` and cache it.

    Cache files live in ``settings.resolve_cache_dir()/network/`` and are named
    ``<file stem>-<profile>-<key[:16]>.npz`` where the key is :func:`cache_key`, so a
    changed input file, profile, penalty, CRS, clip area or engine version builds afresh.
    """
    settings = settings or Settings.from_env()
    profile = profile or settings.profile
    crs = crs or settings.crs
    source_path = check_network_file(source_path)
    key = cache_key(source_path, profile, penalties, crs, bbox_or_polygon)
    stem = source_path.name.split(".")[0]
    cache = settings.resolve_cache_dir() / "network" / f"{stem}-{profile}-{key[:16]}.npz"
    if cache.is_file() and not rebuild:
        try:
            net = StreetNetwork.load(cache)
            net.report = {**net.report, "cache": str(cache), "cache_hit": True}
            return net
        except NetworkError as exc:
            log.warning("ignoring unreadable cache %s: %s", cache, exc)
    net = network_from_file(source_path, profile, crs=crs, penalties=penalties,
                            bbox_or_polygon=bbox_or_polygon)
    net.report["cache_key"] = key
    net.save(cache)
    net.report = {**net.report, "cache": str(cache), "cache_hit": False}
    return net


def cached_networks(settings: Settings | None = None) -> list[Path]:
    """Cached network files, newest first."""
    settings = settings or Settings.from_env()
    d = settings.resolve_cache_dir() / "network"
    return sorted(d.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True) if d.is_dir() else []


# ============================================================================ fetch
def fetch_osm(polygon_wgs84: Any, buffer_m: float = 2000.0, out_path: str | Path = "network.graphml",
              *, settings: Settings | None = None, overpass_url: str | None = None,
              timeout_s: float = 180.0) -> Path:
    """Download the OSM ways around a polygon (osmnx / Overpass; needs internet) as GraphML.

    Parameters
    ----------
    polygon_wgs84 : shapely Polygon/MultiPolygon
        Study area in WGS84 lon/lat (EPSG:4326).
    buffer_m : float
        Buffer added around the polygon (metres, applied in EPSG:27700).
    out_path : path
        GraphML file to write (atomically).  Read it back with :func:`load_or_build` or
        ``locmap run --network FILE``: it gives the same network as an extract of the same
        OSM data (every profile tag is kept).
    settings : Settings, optional
        Its cache folder holds osmnx's response cache (``<cache>/overpass``).
    overpass_url : str, optional
        Another Overpass endpoint (a mirror, or a local stand-in in tests).

    Raises
    ------
    NetworkError
        When Overpass cannot be reached (offline) or returns no data.
    """
    settings = settings or Settings.from_env()
    area = shapely.transform(polygon_wgs84, lambda c: np.column_stack(_project(
        c[:, 0], c[:, 1], CRS_WEB, CRS_METRIC)))
    buffered = area.buffer(buffer_m)
    poly = shapely.transform(buffered, lambda c: np.column_stack(_project(
        c[:, 0], c[:, 1], CRS_METRIC, CRS_WEB)))
    return fetch_overpass(poly, out_path, cache_dir=settings.resolve_cache_dir() / "overpass",
                          overpass_url=overpass_url, timeout_s=timeout_s)


def describe(net: StreetNetwork) -> str:
    """Human-readable build report."""
    r = net.report
    lines = [repr(net)]
    read = r.get("read") or {}
    if read:
        lines.append("  read: " + ", ".join(f"{k}={v}" for k, v in read.items() if v not in ([], None)))
    for k in ("nodes_read", "edges_read", "nodes", "edges", "duplicate_edges_merged",
              "components", "dropped_components", "dropped_component_nodes", "cache", "cache_hit"):
        if k in r:
            lines.append(f"  {k}: {r[k]}")
    if r.get("dropped_edges"):
        lines.append("  dropped edges: " + ", ".join(f"{k}={v}" for k, v in r["dropped_edges"].items()))
    pen = {k: v for k, v in (r.get("penalised_edges") or {}).items() if v}
    lines.append("  penalised edges: " + (", ".join(f"{k}={v}" for k, v in pen.items())
                                          if pen else "none (no pram penalties)"))
    bb = net.bbox
    lines.append(f"  bbox ({net.crs}, m): {bb[0]:.0f}, {bb[1]:.0f}, {bb[2]:.0f}, {bb[3]:.0f}")
    return "\n".join(lines)


# ============================================================================ synthetic
def synthetic_street_tables(
    nx_: int = 50,
    ny_: int = 50,
    spacing_m: float = 80.0,
    *,
    p_delete: float = 0.15,
    p_diagonal: float = 0.3,
    jitter_m: float = 15.0,
    origin: tuple[float, float] = (510_000.0, 175_000.0),
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A street-like synthetic graph (for tests and benchmarks), EPSG:27700 metres.

    A jittered ``nx_ x ny_`` grid of nodes (``spacing_m`` apart, +/- ``jitter_m``); horizontal
    and vertical segments, of which a fraction ``p_delete`` is removed (cul-de-sacs, blocks);
    plus diagonal shortcuts in a fraction ``p_diagonal`` of the cells (footpaths).  Each
    segment's length is its straight length x U(1.0, 1.15) (curvature), so lengths are always
    >= the straight line between its nodes.

    Returns
    -------
    edges : DataFrame
        ``u, v, length_m, highway``.
    nodes : DataFrame
        ``id, x, y`` (metres, EPSG:27700 around ``origin``).
    """
    rng = np.random.default_rng(seed)
    ids = np.arange(nx_ * ny_, dtype=np.int64).reshape(ny_, nx_)
    gx, gy = np.meshgrid(np.arange(nx_), np.arange(ny_))
    x = origin[0] + gx.ravel() * spacing_m + rng.uniform(-jitter_m, jitter_m, ids.size)
    y = origin[1] + gy.ravel() * spacing_m + rng.uniform(-jitter_m, jitter_m, ids.size)
    u = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    v = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    keep = rng.random(u.size) >= p_delete
    u, v = u[keep], v[keep]
    cells = ids[:-1, :-1].ravel()
    diag = rng.random(cells.size) < p_diagonal
    flip = rng.random(cells.size) < 0.5
    du = np.where(flip, cells + 1, cells)[diag]
    dv = np.where(flip, cells + nx_, cells + nx_ + 1)[diag]
    u = np.concatenate([u, du])
    v = np.concatenate([v, dv])
    straight = np.hypot(x[u] - x[v], y[u] - y[v])
    length = straight * rng.uniform(1.0, 1.15, u.size)
    hw = np.where(np.arange(u.size) < keep.sum(), "residential", "footway")
    edges = pd.DataFrame({"u": u, "v": v, "length_m": length, "highway": hw})
    nodes = pd.DataFrame({"id": ids.ravel(), "x": x, "y": y})
    return edges, nodes




__all__ = [
    "ENGINE_VERSION", "PROFILES", "PROFILE_RULES", "PramPenalties", "StreetNetwork",
    "NetworkRequest", "network_from_edges", "network_from_tables", "network_from_file",
    "network_from_pbf", "network_from_osmnx", "load_or_build", "cache_key", "file_sha256",
    "fetch_osm", "describe", "cached_networks", "check_network_file", "check_covers",
    "requested_network", "synthetic_street_tables", "MAX_SHARE_OFF_NETWORK",
]
