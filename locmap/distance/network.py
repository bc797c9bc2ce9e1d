"""Pedestrian / pram street networks as compact CSR graphs.

A :class:`StreetNetwork` is an immutable-ish bundle of numpy arrays: node ids,
node coordinates in a projected CRS (EPSG:27700 by default, metres) and a
directed ``scipy.sparse.csr_matrix`` of edge costs in metres.  It is built from
OpenStreetMap data (``.osm.pbf`` via pyrosm, GraphML / OSM XML via osmnx, or any
edge/node GeoDataFrames) through one common path, :func:`network_from_edges`,
which applies a *profile*:

``"walk"``
    every walkable highway, steps included.  Cost = length (metres).
``"pram"``
    ``walk`` minus steps and ways tagged unsuitable for prams / wheelchairs
    (``wheelchair=no``, ``stroller=no``, ``ramp:stroller=no`` ...), with optional
    multiplicative penalties (:class:`PramPenalties`, all factors >= 1).  Pram cost
    is therefore >= walk cost for every pair of points.

Only the largest weakly connected component is kept (by default); what was dropped
and why is recorded in ``StreetNetwork.report``.  Built networks are cached as
``.npz`` files (:func:`load_or_build`), which load in milliseconds.

Shortest paths live in :mod:`locmap.distance.routing`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from locmap.errors import NetworkError
from locmap.settings import CRS_METRIC, CRS_WEB, Settings

log = logging.getLogger(__name__)

#: Bump when the build logic changes: invalidates every cached network.
ENGINE_VERSION = "network-1"

PROFILES = ("walk", "pram")

#: ``highway`` values nobody walks along (dropped in both profiles, reason "not_walkable").
NON_WALKABLE_HIGHWAYS = frozenset({
    "motorway", "motorway_link", "bus_guideway", "busway", "construction", "proposed",
    "planned", "abandoned", "disused", "raceway", "razed", "escape", "no", "platform",
})
#: ``access`` / ``foot`` values meaning "pedestrians may not use this way".
NO_ACCESS = frozenset({"no", "private"})
#: ``foot`` values that override a restrictive ``access`` tag.
FOOT_ALLOWED = frozenset({"yes", "designated", "permissive", "official"})
#: Tags that, when "no", make a way unsuitable for a pram (reason = the tag name).
PRAM_NO_TAGS = ("wheelchair", "stroller", "ramp:stroller", "pram", "ramp:pram")
#: Tag keys read from the edges (direct columns or the pyrosm ``tags`` JSON column).
TAG_KEYS = ("highway", "access", "foot", "surface", "incline", "kerb", "smoothness",
            "oneway:foot", *PRAM_NO_TAGS)


@dataclass(frozen=True)
class PramPenalties:
    """Multiplicative cost factors of the ``pram`` profile (all >= 1; 1 = off).

    The cost of an edge is ``length_m * product(applicable factors)``; a path cost is
    still expressed in metres ("equivalent flat, paved metres").

    Attributes
    ----------
    unpaved_factor : float
        Applied to ways whose ``surface`` is in ``unpaved_surfaces`` (default 1.5).
    unpaved_surfaces : tuple of str
        OSM ``surface`` values treated as unpaved.
    steep_incline_factor : float
        Applied to ways with ``|incline|`` above ``steep_incline_pct`` percent, or
        tagged ``incline=steep`` (default 1.3).  Applied in both directions.
    steep_incline_pct : float
        Threshold in percent (default 8, the UK guidance maximum for ramps is ~8%).
    raised_kerb_factor : float
        Applied to ways tagged ``kerb=raised`` (typically crossing footways) (default 1.2).
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
        """No penalties (pram = walk minus steps and unsuitable ways)."""
        return cls(unpaved_factor=1.0, steep_incline_factor=1.0, raised_kerb_factor=1.0)

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
        OSM node ids (or synthetic ids).
    x, y : ndarray of float64, shape (N,)
        Node coordinates in ``crs`` (metres; EPSG:27700 by default).
    csr : scipy.sparse.csr_matrix, shape (N, N)
        Edge costs in metres, ``csr[i, j]`` = cost of walking from node i to node j.
        Footways are two-way (both directions stored); duplicate edges keep the minimum;
        zero-length edges are stored as explicit zeros (scipy.csgraph treats explicit
        zeros of a sparse matrix as edges).
    length_csr : scipy.sparse.csr_matrix, shape (N, N)
        Pure geometric length (metres) of the same edges (same sparsity as ``csr``).
    profile : str
        ``"walk"`` or ``"pram"``.
    source : str
        Where the network came from.
    crs : str
        CRS of ``x``/``y`` (metres).
    report : dict
        Build report: nodes/edges read, dropped edges by reason, dropped components.
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
    _csr_t: sp.csr_matrix | None = field(default=None, init=False, repr=False, compare=False)

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
    def csr_reversed(self) -> sp.csr_matrix:
        """Transpose of :attr:`csr` (edge j->i for every i->j), cached."""
        if self._csr_t is None:
            self._csr_t = _transpose_keep_zeros(self.csr)
        return self._csr_t

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
        Snapping is to nodes, not to the nearest point on an edge.  OSM extracts read with
        pyrosm (and ``fetch_osm``, which does not simplify) keep every OSM vertex as a
        node, so the nearest node is usually within a few metres of the nearest edge.
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
        import networkx as nx  # noqa: PLC0415

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
        from locmap.export import atomic_path  # noqa: PLC0415

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
        except (OSError, ValueError, KeyError) as exc:
            raise NetworkError(f"{path}: not a readable locmap network cache ({exc})") from exc
        meta = json.loads(arrays["meta"].tobytes().decode())
        n = arrays["node_ids"].shape[0]
        shape = (n, n)
        csr = sp.csr_matrix((arrays["cost"], arrays["indices"], arrays["indptr"]), shape=shape)
        lcsr = sp.csr_matrix((arrays["length"], arrays["indices"], arrays["indptr"]), shape=shape)
        return cls(node_ids=arrays["node_ids"], x=arrays["x"], y=arrays["y"], csr=csr,
                   length_csr=lcsr, profile=meta["profile"], source=meta["source"],
                   crs=meta["crs"], report=meta["report"])


def _transpose_keep_zeros(m: sp.csr_matrix) -> sp.csr_matrix:
    """CSR transpose that keeps explicit zeros (no duplicate summing: input is deduplicated)."""
    t = sp.csr_matrix((m.data, m.indices, m.indptr), shape=m.shape).T.tocsr()
    # .T of CSR is a CSC view; tocsr() keeps explicit zeros as long as there are no duplicates
    return t


def _csr_from_arrays(u: np.ndarray, v: np.ndarray, data: list[np.ndarray], n: int) -> list[sp.csr_matrix]:
    """Build CSR matrices sharing one sparsity pattern from sorted, unique (u, v) arrays."""
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
    idx_dtype = np.int32 if n < 2**31 - 1 and u.shape[0] < 2**31 - 1 else np.int64
    indptr = indptr.astype(idx_dtype)
    indices = v.astype(idx_dtype)
    return [sp.csr_matrix((d.astype(np.float64), indices, indptr), shape=(n, n)) for d in data]


# ============================================================================ tags
def _tag_series(edges: pd.DataFrame, key: str) -> pd.Series:
    """Lower-cased string values of OSM tag ``key`` per edge ('' when absent).

    Looks in a direct column first, then in a ``tags`` column holding dicts or JSON text
    (pyrosm).  osmnx may store lists for merged ways: the first value is used.
    """
    out = pd.Series("", index=edges.index, dtype=object)
    if key in edges.columns:
        col = edges[key]
        vals = col.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v))
                       else str(v[0] if isinstance(v, (list, tuple)) and v else v))
        out = vals.astype(str).str.strip().str.lower()
    if "tags" in edges.columns:
        tags = edges["tags"]
        needle = f'"{key}"'
        mask = (out == "") & tags.notna()
        if mask.any():
            sub = tags[mask]
            as_text = sub.map(lambda t: t if isinstance(t, str) else "")
            has = as_text.str.contains(needle, regex=False) | sub.map(lambda t: isinstance(t, dict))
            for i, t in sub[has].items():
                d = t if isinstance(t, dict) else _safe_json(t)
                val = d.get(key) if isinstance(d, dict) else None
                if val is not None:
                    out.at[i] = str(val).strip().lower()
    return out


def _safe_json(text: str) -> dict:
    try:
        d = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return d if isinstance(d, dict) else {}


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
) -> StreetNetwork:
    """Build a :class:`StreetNetwork` from edge and node tables (the common path).

    Parameters
    ----------
    edges : GeoDataFrame or DataFrame
        One row per way segment with columns ``u``, ``v`` (node ids) and optionally
        ``geometry`` (LineString, any CRS with ``edges.crs`` set), ``length_m`` (metres,
        used when there is no geometry), OSM tags as columns (``highway``, ``surface``,
        ``foot`` ...) and/or a pyrosm-style ``tags`` column (JSON text or dict), and
        ``oneway`` (bool, only honoured when ``two_way=False``).
    nodes : GeoDataFrame or DataFrame
        Node ids in column ``id`` (or the index) and ``geometry`` points (or ``x``/``y``
        columns in ``crs``).
    profile : {"walk", "pram"}
        Profile (see module docstring).
    crs : str
        Metric CRS to measure in (default EPSG:27700; pass e.g. EPSG:3067 for Helsinki).
    penalties : PramPenalties, optional
        Pram penalties (default ``PramPenalties()``); ignored for ``walk``.
    largest_component : bool
        Keep only the largest weakly connected component (default) and report the rest.
    source : str
        Description stored in the network.
    two_way : bool
        Pedestrians walk both ways along one-way streets: every edge is added in both
        directions, except ways tagged ``oneway:foot=yes/-1``.  With ``two_way=False``,
        a boolean ``oneway`` column is honoured too (used for synthetic tests).

    Returns
    -------
    StreetNetwork
        Coordinates in ``crs`` metres, costs and lengths in metres.
    """
    t0 = time.perf_counter()
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; use one of {PROFILES}")
    penalties = penalties or PramPenalties()
    for col in ("u", "v"):
        if col not in edges.columns:
            raise NetworkError(f"{source}: edge table has no '{col}' column")
    edges = edges.reset_index(drop=True)
    report: dict[str, Any] = {"source": source, "profile": profile, "crs": crs,
                              "edges_read": int(len(edges))}

    # ---- nodes -> metric coordinates
    node_tab = _node_table(nodes, crs, source)
    report["nodes_read"] = int(len(node_tab))

    # ---- edge lengths (metres, in the metric CRS)
    length_m = _edge_lengths(edges, node_tab, crs)

    # ---- profile filters
    keep = np.ones(len(edges), dtype=bool)
    dropped: dict[str, int] = {}

    def drop(mask: np.ndarray, reason: str) -> None:
        m = mask & keep
        if m.any():
            dropped[reason] = dropped.get(reason, 0) + int(m.sum())
            keep[m] = False

    u_id = edges["u"].to_numpy()
    v_id = edges["v"].to_numpy()
    known = np.isin(u_id, node_tab.index.to_numpy()) & np.isin(v_id, node_tab.index.to_numpy())
    drop(~known, "node_missing")
    drop(u_id == v_id, "self_loop")
    drop(~np.isfinite(length_m), "no_geometry")
    drop(np.isfinite(length_m) & (length_m < 0), "negative_length")  # Dijkstra needs lengths >= 0

    tags = {k: _tag_series(edges, k) for k in TAG_KEYS}
    hw = tags["highway"]
    drop(hw.isin(NON_WALKABLE_HIGHWAYS).to_numpy(), "not_walkable_highway")
    drop((tags["foot"].isin(NO_ACCESS)).to_numpy(), "foot_no")
    drop((tags["access"].isin(NO_ACCESS) & ~tags["foot"].isin(FOOT_ALLOWED)).to_numpy(),
         "access_private")
    factor = np.ones(len(edges))
    if profile == "pram":
        drop((hw == "steps").to_numpy(), "steps")
        for key in PRAM_NO_TAGS:
            drop((tags[key] == "no").to_numpy(), f"{key}_no")
        unpaved = tags["surface"].isin(penalties.unpaved_surfaces).to_numpy()
        steep = _incline_pct(tags["incline"]) > penalties.steep_incline_pct
        raised = (tags["kerb"] == "raised").to_numpy()
        factor = (np.where(unpaved, penalties.unpaved_factor, 1.0)
                  * np.where(steep, penalties.steep_incline_factor, 1.0)
                  * np.where(raised, penalties.raised_kerb_factor, 1.0))
        report["penalised_edges"] = {"unpaved": int((unpaved & keep).sum()),
                                     "steep_incline": int((steep & keep).sum()),
                                     "raised_kerb": int((raised & keep).sum())}
        report["penalties"] = asdict(penalties)
    report["dropped_edges"] = dropped

    # ---- directions
    ow_foot = tags["oneway:foot"]
    fwd_only = np.array(ow_foot.isin(["yes", "true", "1"]), dtype=bool)
    back_only = np.array(ow_foot == "-1", dtype=bool)
    if not two_way and "oneway" in edges.columns:
        ow = edges["oneway"].map(lambda v: v is True or str(v).lower() in ("yes", "true", "1"))
        fwd_only |= ow.to_numpy(dtype=bool)
    id_to_row = pd.Series(np.arange(len(node_tab), dtype=np.int64), index=node_tab.index)
    uk, vk = u_id[keep], v_id[keep]
    ui = id_to_row.reindex(uk).to_numpy(dtype=np.int64)
    vi = id_to_row.reindex(vk).to_numpy(dtype=np.int64)
    lk = length_m[keep]
    ck = lk * factor[keep]
    f_only, b_only = fwd_only[keep], back_only[keep]
    fw = ~b_only
    bw = ~f_only
    U = np.concatenate([ui[fw], vi[bw]])
    V = np.concatenate([vi[fw], ui[bw]])
    C = np.concatenate([ck[fw], ck[bw]])
    L = np.concatenate([lk[fw], lk[bw]])

    # ---- duplicates keep the minimum cost
    order = np.lexsort((C, V, U))
    U, V, C, L = U[order], V[order], C[order], L[order]
    first = np.ones(U.shape[0], dtype=bool)
    first[1:] = (U[1:] != U[:-1]) | (V[1:] != V[:-1])
    report["duplicate_edges_merged"] = int((~first).sum())
    U, V, C, L = U[first], V[first], C[first], L[first]

    # ---- keep nodes used by edges, then the largest component
    used = np.zeros(len(node_tab), dtype=bool)
    used[U] = True
    used[V] = True
    report["isolated_nodes_dropped"] = int((~used).sum())
    n_all = len(node_tab)
    adj = sp.csr_matrix((np.ones(U.shape[0]), (U, V)), shape=(n_all, n_all))
    ncomp, labels = connected_components(adj, directed=True, connection="weak")
    sizes = np.bincount(labels[used], minlength=ncomp) if used.any() else np.zeros(0, dtype=int)
    report["components"] = int((sizes > 0).sum())
    if largest_component and used.any():
        big = int(np.argmax(sizes))
        keep_node = used & (labels == big)
        other = np.sort(sizes[(sizes > 0) & (np.arange(ncomp) != big)])[::-1]
        report["dropped_components"] = int(other.shape[0])
        report["dropped_component_nodes"] = int(other.sum())
        report["dropped_component_sizes_top20"] = [int(s) for s in other[:20]]
    else:
        keep_node = used
        report["dropped_components"] = 0
        report["dropped_component_nodes"] = 0
    new_index = np.full(n_all, -1, dtype=np.int64)
    new_index[keep_node] = np.arange(int(keep_node.sum()))
    ekeep = keep_node[U] & keep_node[V]
    report["dropped_component_directed_edges"] = int((~ekeep).sum())
    U, V, C, L = new_index[U[ekeep]], new_index[V[ekeep]], C[ekeep], L[ekeep]
    n = int(keep_node.sum())
    if n == 0:
        raise NetworkError(f"{source}: no usable walkable edges for profile '{profile}' "
                           f"(dropped: {dropped or 'nothing'}); check the extract covers the area")
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


def _node_table(nodes: pd.DataFrame, crs: str, source: str) -> pd.DataFrame:
    """DataFrame indexed by int64 node id with ``x``, ``y`` in ``crs``."""
    import geopandas as gpd  # noqa: PLC0415

    ids = nodes["id"] if "id" in nodes.columns else pd.Series(nodes.index, index=nodes.index)
    if isinstance(nodes, gpd.GeoDataFrame) and "geometry" in nodes.columns and nodes.geometry.notna().any():
        g = nodes.geometry
        if nodes.crs is None:
            raise NetworkError(f"{source}: node layer has no CRS")
        g = g.to_crs(crs)
        x, y = g.x.to_numpy(), g.y.to_numpy()
    elif {"x", "y"} <= set(nodes.columns):
        x, y = nodes["x"].to_numpy(dtype=float), nodes["y"].to_numpy(dtype=float)
    else:
        raise NetworkError(f"{source}: node table needs point geometry or x/y columns")
    tab = pd.DataFrame({"x": x, "y": y}, index=pd.Index(ids.to_numpy(dtype=np.int64), name="id"))
    tab = tab[~tab.index.duplicated()]
    return tab


def _edge_lengths(edges: pd.DataFrame, node_tab: pd.DataFrame, crs: str) -> np.ndarray:
    """Edge length in metres: geometry length in ``crs``; else ``length_m``; else straight line."""
    import geopandas as gpd  # noqa: PLC0415

    n = len(edges)
    out = np.full(n, np.nan)
    if isinstance(edges, gpd.GeoDataFrame) and "geometry" in edges.columns and edges.crs is not None:
        g = edges.geometry
        has = g.notna().to_numpy() & ~g.is_empty.to_numpy()
        if has.any():
            out[has] = g[has].to_crs(crs).length.to_numpy()
    if "length_m" in edges.columns:
        miss = ~np.isfinite(out)
        out[miss] = pd.to_numeric(edges["length_m"], errors="coerce").to_numpy()[miss]
    miss = ~np.isfinite(out)
    if miss.any():
        xs = node_tab["x"].reindex(edges["u"].to_numpy()[miss]).to_numpy()
        ys = node_tab["y"].reindex(edges["u"].to_numpy()[miss]).to_numpy()
        xe = node_tab["x"].reindex(edges["v"].to_numpy()[miss]).to_numpy()
        ye = node_tab["y"].reindex(edges["v"].to_numpy()[miss]).to_numpy()
        out[miss] = np.hypot(xe - xs, ye - ys)
    return out


def network_from_pbf(
    path: str | Path,
    profile: str = "walk",
    bbox_or_polygon: Any = None,
    *,
    crs: str = CRS_METRIC,
    penalties: PramPenalties | None = None,
    largest_component: bool = True,
) -> StreetNetwork:
    """Build from an OSM ``.osm.pbf`` extract with pyrosm (``network_type="walking"``).

    Parameters
    ----------
    path : path
        ``.osm.pbf`` file (e.g. Geofabrik ``greater-london-latest.osm.pbf``).
    bbox_or_polygon : shapely geometry or [minx, miny, maxx, maxy], optional
        Area to read, in WGS84 lon/lat (pyrosm's ``bounding_box``).
    crs : str
        Metric CRS (default EPSG:27700).

    Notes
    -----
    pyrosm's ``walking`` filter already removes motorways, cycleways, ``foot=no`` ...;
    those ways are not counted in ``report["dropped_edges"]``.
    """
    path = Path(path)
    if not path.is_file():
        raise NetworkError(f"{path}: OSM file not found")
    import warnings  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pyrosm  # noqa: PLC0415

        try:
            osm = pyrosm.OSM(str(path), bounding_box=bbox_or_polygon)
            got = osm.get_network(network_type="walking", nodes=True)
        except Exception as exc:  # pyrosm raises plain exceptions on bad files
            raise NetworkError(f"{path}: could not read OSM data with pyrosm ({exc})") from exc
    if got is None or got[1] is None or len(got[1]) == 0:
        raise NetworkError(f"{path}: no walkable ways in the extract"
                           + (" inside the given area" if bbox_or_polygon is not None else ""))
    nodes, edges = got
    return network_from_edges(edges, nodes, profile, crs=crs, penalties=penalties,
                              largest_component=largest_component, source=str(path))


def network_from_osmnx(
    G: Any,
    profile: str = "walk",
    *,
    crs: str = CRS_METRIC,
    penalties: PramPenalties | None = None,
    largest_component: bool = True,
    source: str = "osmnx graph",
) -> StreetNetwork:
    """Build from an osmnx ``MultiDiGraph`` (``ox.graph_from_xml``, ``ox.load_graphml`` ...).

    Edge geometry (when present) or straight node-to-node lines give the lengths,
    measured in ``crs``.  osmnx stores each two-way way in both directions; duplicates
    are merged (minimum kept).
    """
    import geopandas as gpd  # noqa: PLC0415
    import osmnx as ox  # noqa: PLC0415

    if G.number_of_edges() == 0:
        raise NetworkError(f"{source}: graph has no edges")
    nodes, edges = ox.graph_to_gdfs(G, nodes=True, edges=True, fill_edge_geometry=True)
    edges = edges.reset_index()
    nodes = nodes.reset_index().rename(columns={"osmid": "id"})
    nodes = gpd.GeoDataFrame(nodes, geometry="geometry", crs=nodes.crs)
    return network_from_edges(edges, nodes, profile, crs=crs, penalties=penalties,
                              largest_component=largest_component, source=source)


def network_from_file(path: str | Path, profile: str = "walk", **kwargs) -> StreetNetwork:
    """Build from ``.pbf`` (pyrosm), ``.graphml`` (osmnx) or ``.osm``/``.xml`` (osmnx)."""
    path = Path(path)
    if not path.is_file():
        raise NetworkError(f"{path}: street-network file not found")
    name = path.name.lower()
    if name.endswith(".pbf"):
        return network_from_pbf(path, profile, **kwargs)
    import osmnx as ox  # noqa: PLC0415

    kwargs.pop("bbox_or_polygon", None)
    try:
        if name.endswith(".graphml"):
            G = ox.load_graphml(path)
        elif name.endswith((".osm", ".xml", ".osm.xml")):
            G = ox.graph_from_xml(path, simplify=False, retain_all=True)
        else:
            raise NetworkError(f"{path}: unknown network format (use .osm.pbf, .graphml or .osm)")
    except NetworkError:
        raise
    except Exception as exc:
        raise NetworkError(f"{path}: could not read street network ({exc})") from exc
    return network_from_osmnx(G, profile, source=str(path), **kwargs)


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
    """sha256 of (file bytes hash, profile, penalties, crs, area, engine version)."""
    parts = [file_sha256(source_path), profile,
             (penalties or PramPenalties()).key() if profile == "pram" else "-",
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
    changed input file, profile, penalty, CRS or engine version builds afresh.
    """
    settings = settings or Settings.from_env()
    profile = profile or settings.profile
    crs = crs or settings.crs
    source_path = Path(source_path)
    if not source_path.is_file():
        raise NetworkError(f"{source_path}: street-network file not found")
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
    kwargs: dict[str, Any] = {"crs": crs, "penalties": penalties}
    if bbox_or_polygon is not None:
        kwargs["bbox_or_polygon"] = bbox_or_polygon
    net = network_from_file(source_path, profile, **kwargs)
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
              *, timeout_s: float = 60.0) -> Path:
    """Download the walkable OSM network around a polygon (osmnx / Overpass; needs internet).

    Parameters
    ----------
    polygon_wgs84 : shapely Polygon/MultiPolygon
        Study area in WGS84 lon/lat (EPSG:4326).
    buffer_m : float
        Buffer added around the polygon (metres, applied in EPSG:27700).
    out_path : path
        GraphML file to write (atomically).  Read it back with :func:`load_or_build`.

    Raises
    ------
    NetworkError
        When Overpass cannot be reached (offline) or returns no data.
    """
    import geopandas as gpd  # noqa: PLC0415
    import osmnx as ox  # noqa: PLC0415

    from locmap.export import atomic_path  # noqa: PLC0415

    poly = gpd.GeoSeries([polygon_wgs84], crs=CRS_WEB).to_crs(CRS_METRIC).buffer(buffer_m)
    poly = poly.to_crs(CRS_WEB).iloc[0]
    extra = ["surface", "incline", "wheelchair", "stroller", "ramp:stroller", "foot",
             "kerb", "smoothness", "oneway:foot", "access"]
    old_tags, old_timeout = list(ox.settings.useful_tags_way), ox.settings.requests_timeout
    ox.settings.useful_tags_way = sorted(set(old_tags) | set(extra))
    ox.settings.requests_timeout = timeout_s
    try:
        try:
            G = ox.graph_from_polygon(poly, network_type="walk", simplify=False, retain_all=False)
        except Exception as exc:
            if _is_connection_error(exc):
                raise NetworkError(
                    "could not download OpenStreetMap data: no connection to the Overpass API "
                    f"({type(exc).__name__}). This machine may be offline; download a Geofabrik "
                    "extract elsewhere and pass it with --osm FILE (docs/network.md)") from exc
            raise NetworkError(f"OpenStreetMap download failed: {exc}") from exc
    finally:
        ox.settings.useful_tags_way = old_tags
        ox.settings.requests_timeout = old_timeout
    out_path = Path(out_path)
    with atomic_path(out_path, suffix=".graphml") as tmp:
        ox.save_graphml(G, tmp)
    return out_path


def _is_connection_error(exc: BaseException) -> bool:
    import socket  # noqa: PLC0415

    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        name = type(e).__name__
        if isinstance(e, (ConnectionError, socket.gaierror, TimeoutError)) or name in (
                "ConnectionError", "ConnectTimeout", "ReadTimeout", "NewConnectionError",
                "MaxRetryError", "NameResolutionError", "ProxyError", "SSLError"):
            return True
        e = e.__cause__ or e.__context__
    return False


def describe(net: StreetNetwork) -> str:
    """Human-readable build report."""
    r = net.report
    lines = [repr(net)]
    for k in ("nodes_read", "edges_read", "nodes", "edges", "duplicate_edges_merged",
              "components", "dropped_components", "dropped_component_nodes", "cache", "cache_hit"):
        if k in r:
            lines.append(f"  {k}: {r[k]}")
    if r.get("dropped_edges"):
        lines.append("  dropped edges: " + ", ".join(f"{k}={v}" for k, v in r["dropped_edges"].items()))
    if r.get("penalised_edges"):
        lines.append("  penalised edges: " + ", ".join(f"{k}={v}" for k, v in r["penalised_edges"].items()))
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
    "ENGINE_VERSION", "PROFILES", "PramPenalties", "StreetNetwork", "network_from_edges",
    "network_from_pbf", "network_from_osmnx", "network_from_file", "load_or_build",
    "cache_key", "file_sha256", "fetch_osm", "describe", "cached_networks",
    "synthetic_street_tables",
]
