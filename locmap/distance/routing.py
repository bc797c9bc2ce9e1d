"""Distances from many origins (homes) to many targets (services), and the router a run uses.

Two interchangeable routers share one interface (:class:`Router`):

:class:`StreetRouter` (``method = "street"``)
    Shortest paths on a :class:`locmap.distance.network.StreetNetwork`.  A route is
    ``snap(origin) + network path(origin node -> target node) + snap(target)``, in metres
    (EPSG:27700, or the network's CRS), where ``snap`` is the straight line from the point to
    its nearest network node.  Routes are chosen by **cost** (the pram cost when penalties are
    on, else the length); each route has a cost and a physical **length** (:class:`NearestRoutes`).
:class:`EstimatedRouter` (``method = "estimated"``)
    Straight line x the circuity (+ intercept) of the shipped London distance model
    (:mod:`locmap.distance.model`, docs/distance-model.md), used when no street network was
    asked for.  Every label shown to users says "estimated" and names the model and its error.

:func:`default_router` picks one for an area: the network asked for (``--network``,
``Settings.network_file`` or the area pack) is used or refused with a ``NetworkError``; the
estimate runs only when no network was asked for.

Both return NaN / -1 for pairs that cannot be measured and never drop them silently:
``router.unreachable_report`` describes, for the last call, which origins/targets could
not be used and why.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from locmap._progress import progress
from locmap.distance._kbest import MAX_K, SearchGraph, k_nearest_sources, renumbered, z_order
from locmap.distance.calibration import Calibration, calibrate
from locmap.distance.model import london_model
from locmap.distance.network import (
    NetworkRequest,
    PramPenalties,
    StreetNetwork,
    check_covers,
    check_network_file,
    load_or_build,
    requested_network,
)
from locmap.errors import (
    DisconnectedGraphError,
    EmptyServiceTypeError,
    NetworkError,
    OutsideNetworkError,
)

METHOD_LABELS = {
    "street": "street distance",
    # "estimated street distance (London model v1, typical error ±N m)": N = its out-of-sample MAE
    "estimated": london_model().label,
}

#: Reasons used in :class:`UnreachableReport` rows.
REASONS = {
    "not_finite": "coordinates missing or not finite",
    "outside_network_extent": "outside the network's bounding box + max_snap_m",
    "beyond_max_snap": "farther than max_snap_m from the nearest network node",
    "other_component": "on a network piece with no target (disconnected)",
    "no_directed_path": "no path in the allowed direction (one-way ways)",
    "beyond_max_m": "no target within max_m",
    "fewer_than_k": "fewer than k targets reachable",
}


def method_label(method: str) -> str:
    """User-facing label of a distance method.

    ``"street"`` -> "street distance"; ``"estimated"`` -> "estimated street distance (London model
    v1, typical error ±N m)" (N: the model's out-of-sample mean absolute error).
    """
    try:
        return METHOD_LABELS[method]
    except KeyError:
        raise ValueError(f"unknown distance method {method!r}; use one of {sorted(METHOD_LABELS)}") from None


def cost_note(penalties: dict | None) -> str:
    """Plain words for the pram penalties of a network build report (``report["penalties"]``)."""
    if not penalties:
        return ""
    parts = [(name, penalties.get(key, 1.0)) for name, key in (
        ("unpaved", "unpaved_factor"), ("steep incline", "steep_incline_factor"),
        ("raised kerb", "raised_kerb_factor"))]
    active = [f"{name} x{f:g}" for name, f in parts if f > 1.0]
    return "pram cost: " + ", ".join(active) if active else ""


# ============================================================================ report
@dataclass
class UnreachableReport:
    """What could not be measured in the last router call.

    Attributes
    ----------
    method : str
        ``"street"`` or ``"estimated"``.
    rows : DataFrame
        One row per problem: ``side`` ("origin"/"target"), ``index`` (0-based position in
        the input array), ``reason`` (key of :data:`REASONS`), ``snap_distance_m``.
    n_origins, n_targets : int
        Sizes of the inputs.
    n_unreachable_pairs : int
        (matrix calls) origin-target pairs with no finite distance among usable points.
    """

    method: str
    rows: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {"side": pd.Series(dtype=str), "index": pd.Series(dtype=np.int64),
         "reason": pd.Series(dtype=str), "snap_distance_m": pd.Series(dtype=float)}))
    n_origins: int = 0
    n_targets: int = 0
    n_unreachable_pairs: int = 0

    def __bool__(self) -> bool:
        return bool(len(self.rows)) or self.n_unreachable_pairs > 0

    def add(self, side: str, index: np.ndarray, reason: str, snap_m: np.ndarray | None = None) -> None:
        index = np.asarray(index, dtype=np.int64)
        if index.size == 0:
            return
        snap = np.full(index.size, np.nan) if snap_m is None else np.asarray(snap_m, dtype=float)
        new = pd.DataFrame({"side": side, "index": index, "reason": reason, "snap_distance_m": snap})
        self.rows = new if self.rows.empty else pd.concat([self.rows, new], ignore_index=True)

    def indices(self, side: str = "origin", reason: str | None = None) -> np.ndarray:
        """Input positions of one side (optionally one reason)."""
        r = self.rows[self.rows["side"] == side]
        if reason is not None:
            r = r[r["reason"] == reason]
        return r["index"].to_numpy(dtype=np.int64)

    def summary(self) -> str:
        """One line per (side, reason) with counts."""
        if not self:
            return f"all {self.n_origins} origins and {self.n_targets} targets usable"
        lines = []
        for (side, reason), g in self.rows.groupby(["side", "reason"], sort=True):
            first = ", ".join(map(str, g["index"].head(10)))
            more = " ..." if len(g) > 10 else ""
            lines.append(f"{len(g)} {side}s {REASONS.get(reason, reason)} (indices {first}{more})")
        if self.n_unreachable_pairs:
            lines.append(f"{self.n_unreachable_pairs} origin-target pairs unreachable")
        return "; ".join(lines)


# ============================================================================ protocol
@dataclass(frozen=True)
class NearestRoutes:
    """The k nearest targets of every origin, by routing cost.

    Attributes
    ----------
    cost_m : ndarray (n, k) float
        Routing cost in metres, ascending per row: the pram cost ("equivalent flat, paved
        metres") when pram penalties apply, otherwise equal to ``distance_m``.  NaN where
        unreachable or fewer than k targets.
    distance_m : ndarray (n, k) float
        Physical length of the same routes (metres); NaN where ``cost_m`` is.
    idx : ndarray (n, k) int64
        Target positions in ``targets_xy``; -1 where ``cost_m`` is NaN.
    penalised : bool
        True when costs include pram penalties (then ``cost_m >= distance_m``).
    cost_note : str
        What the cost adds to the distance, e.g. "pram cost: unpaved x1.5, steep incline x1.3,
        raised kerb x1.2" ("" without penalties).
    """

    cost_m: np.ndarray
    distance_m: np.ndarray
    idx: np.ndarray
    penalised: bool = False
    cost_note: str = ""


@dataclass(frozen=True)
class PairsWithin:
    """The origin-target pairs whose cost is at most a bound: a sparse cost matrix.

    Returned by ``pairs_within`` of :class:`StreetRouter` and :class:`EstimatedRouter`.  The
    costs are the very numbers :meth:`~StreetRouter.matrix` holds for those pairs (same
    arithmetic); every other pair of the dense matrix is ``inf`` (beyond the bound or no
    path) or NaN (a point that cannot be used, see the router's ``unreachable_report``).

    Attributes
    ----------
    origin : ndarray (p,) int64
        Origin positions in ``origins_xy``, ascending; ties ordered by ``target``.
    target : ndarray (p,) int64
        Target positions in ``targets_xy``.
    cost_m : ndarray (p,) float
        Cost in metres (the pram cost when the network carries pram penalties), ``<= max_m``.
    shape : (int, int)
        ``(n_origins, n_targets)``.
    max_m : float
        The bound (metres).
    """

    origin: np.ndarray
    target: np.ndarray
    cost_m: np.ndarray
    shape: tuple[int, int]
    max_m: float

    def __len__(self) -> int:
        return int(self.origin.size)

    def to_csr(self) -> sp.csr_array:
        """The pairs as a ``scipy.sparse.csr_array`` of metres; a pair costing exactly 0 m is
        an explicit stored zero (``nnz`` counts it; ``eliminate_zeros()`` would drop it)."""
        return sp.csr_array((self.cost_m, (self.origin, self.target)), shape=self.shape)

    def to_dense(self) -> np.ndarray:
        """``(n, m)`` metres with ``inf`` for every pair not listed (memory ``n x m x 8`` bytes)."""
        out = np.full(self.shape, np.inf)
        out[self.origin, self.target] = self.cost_m
        return out


def _pairs(origin: np.ndarray, target: np.ndarray, cost_m: np.ndarray, shape: tuple[int, int],
           max_m: float) -> PairsWithin:
    """:class:`PairsWithin` sorted by origin then target."""
    order = np.lexsort((target, origin))
    return PairsWithin(origin[order].astype(np.int64), target[order].astype(np.int64),
                       cost_m[order].astype(float), (int(shape[0]), int(shape[1])), float(max_m))


def _check_some_reached(unreached: np.ndarray, ok_o: np.ndarray, ok_t: np.ndarray, report: Any) -> None:
    """A :class:`DisconnectedGraphError` when every usable origin is cut off from every usable
    target by lying on another piece of the network."""
    if unreached.size == ok_o.size and report.indices("origin", "other_component").size == ok_o.size:
        raise DisconnectedGraphError(
            f"no origin can reach any target: the {ok_o.size} usable origins and "
            f"{ok_t.size} usable targets lie on different pieces of the street network")


def _check_max_m(max_m: float) -> float:
    m = float(max_m)
    if not np.isfinite(m) or m < 0:
        raise ValueError(f"max_m must be a finite number of metres >= 0 (got {max_m!r})")
    return m


def _expand_groups(u: np.ndarray, inv: np.ndarray, n_unique: int) -> tuple[np.ndarray, np.ndarray]:
    """Every point of each listed group: for entries ``u`` (positions among the unique values
    of ``inv``), ``(entry index, point position)`` for all points ``p`` with ``inv[p] == u``."""
    order = np.argsort(inv, kind="stable")
    counts = np.bincount(inv, minlength=n_unique)
    starts = np.cumsum(counts) - counts
    rep = counts[u]
    entry = np.repeat(np.arange(u.size), rep)
    within = np.arange(entry.size) - np.repeat(np.cumsum(rep) - rep, rep)
    return entry, order[starts[u][entry] + within]


@runtime_checkable
class Router(Protocol):
    """Common interface of :class:`StreetRouter` and :class:`EstimatedRouter`.

    All coordinates are ``(n, 2)`` arrays in EPSG:27700 metres (or the network CRS);
    all distances and costs are metres.

    Both locmap routers also offer ``pairs_within(origins_xy, targets_xy, max_m) ->``
    :class:`PairsWithin` (only the pairs within ``max_m``: the sparse form of ``matrix``); it
    is optional for other routers (callers fall back to ``matrix``).
    """

    method: str
    unreachable_report: UnreachableReport | None

    def nearest_routes(self, origins_xy: np.ndarray, targets_xy: np.ndarray, k: int = 1,
                       max_m: float | None = None) -> NearestRoutes:
        """The k cheapest targets per origin with cost and physical length."""
        ...

    def nearest(self, origins_xy: np.ndarray, targets_xy: np.ndarray, k: int = 1,
                max_m: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(cost_m (n, k) float, idx (n, k) int)``; NaN / -1 where unreachable."""
        ...

    def matrix(self, origins_xy: np.ndarray, targets_xy: np.ndarray,
               max_m: float | None = None) -> np.ndarray:
        """``(n, m)`` cost in metres; inf where unreachable or beyond ``max_m``."""
        ...


def _as_xy(a: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=float)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name} must be an (n, 2) array of x, y metres; got shape {arr.shape}")
    return arr


def _check_targets(targets: np.ndarray) -> None:
    if targets.shape[0] == 0:
        raise EmptyServiceTypeError("no targets given: the service type has no located services")


# ============================================================================ street
class StreetRouter:
    """Shortest street routes on a :class:`~locmap.distance.network.StreetNetwork`.

    Parameters
    ----------
    network : StreetNetwork
        Graph in a metric CRS; costs and lengths in metres.
    max_snap_m : float
        Points farther than this from every node cannot be used (metres, default 300).
    on_outside : {"report", "raise"}
        ``"report"`` (default): unusable points get NaN / -1 and appear in
        :attr:`unreachable_report`; ``"raise"``: :class:`OutsideNetworkError`.
    progress : bool
        tqdm bars on chunked loops.
    chunk_size : int
        Sources per Dijkstra batch in :meth:`matrix` (bounds memory at
        ``chunk_size x n_nodes x 8`` bytes).

    Notes
    -----
    Route = ``snap_o + path(node_o -> node_t) + snap_t`` (metres).  Snapping is to the
    nearest node (cKDTree), see :meth:`StreetNetwork.snap`.

    :meth:`nearest_routes` (and :meth:`nearest`) run ONE exact k-nearest-sources search
    (:func:`locmap.distance._kbest.k_nearest_sources`, a label-setting Dijkstra with k labels
    per node) from all targets on the **reversed** graph, so the cost found for a node is the
    directed cost node -> target.  Each target starts at its own snap distance, so the target
    snap is part of the minimisation; ties are broken by the lower target index.  It stops as
    soon as every origin node holds its k labels.  The search runs on a copy of the reversed
    graph with the nodes renumbered along a Z-order curve (:meth:`search_graph`, made once per
    router): the same labels, fewer cache misses.

    :meth:`matrix` computes the exact node-to-node table with one scipy Dijkstra per node of
    the smaller side (in batches of ``chunk_size``, with ``limit=max_m``).
    """

    method = "street"

    def __init__(self, network: StreetNetwork, max_snap_m: float = 300.0,
                 on_outside: str = "report", progress: bool = False, chunk_size: int = 64) -> None:
        if on_outside not in ("report", "raise"):
            raise ValueError("on_outside must be 'report' or 'raise'")
        self.network = network
        self.max_snap_m = float(max_snap_m)
        self.on_outside = on_outside
        self.progress = progress
        self.chunk_size = int(chunk_size)
        self.unreachable_report: UnreachableReport | None = None
        self._located: dict[str, tuple] = {}
        self._search_graph: SearchGraph | None = None
        #: node rows / snap distances (metres) of the last call (-1 / NaN when unusable)
        self.last_origin_nodes = np.zeros(0, dtype=np.int64)
        self.last_origin_snap_m = np.zeros(0)
        self.last_target_nodes = np.zeros(0, dtype=np.int64)
        self.last_target_snap_m = np.zeros(0)

    # ------------------------------------------------------------------ snapping
    def _locate(self, xy: np.ndarray) -> tuple[np.ndarray, ...]:
        """Nearest node and distance of each point, and which points are unusable (cached for
        the last few point sets: nearest_services asks with the same homes for every type)."""
        key = hashlib.blake2b(np.ascontiguousarray(xy).tobytes(), digest_size=16).hexdigest()
        key = f"{key}-{xy.shape[0]}-{self.max_snap_m!r}"
        if key not in self._located:
            net = self.network
            idx, d = net.snap(xy, self.max_snap_m)
            finite = np.isfinite(xy).all(axis=1)
            minx, miny, maxx, maxy = net.bbox
            pad = self.max_snap_m
            inside = (finite & (xy[:, 0] >= minx - pad) & (xy[:, 0] <= maxx + pad)
                      & (xy[:, 1] >= miny - pad) & (xy[:, 1] <= maxy + pad))
            bad = (np.flatnonzero(~finite), np.flatnonzero(finite & ~inside),
                   np.flatnonzero(inside & (idx < 0)))
            if len(self._located) >= 4:
                self._located.pop(next(iter(self._located)))
            self._located[key] = (idx, d, *bad)
        idx, d, bad_nf, bad_ext, bad_snap = self._located[key]
        return idx.copy(), d.copy(), bad_nf, bad_ext, bad_snap

    def _snap(self, xy: np.ndarray, side: str, report: UnreachableReport) -> tuple[np.ndarray, np.ndarray]:
        net = self.network
        idx, d, bad_nf, bad_ext, bad_snap = self._locate(xy)
        n = xy.shape[0]
        pad = self.max_snap_m
        if n and bad_ext.size == n:
            minx, miny, maxx, maxy = net.bbox
            raise OutsideNetworkError(
                f"none of the {n} {side}s lies within the street network's extent "
                f"(bbox {minx:.0f}, {miny:.0f}, {maxx:.0f}, {maxy:.0f} in {net.crs}, + {pad:.0f} m); "
                f"are the points in the same CRS ({net.crs}, metres)? first point: {xy[0].tolist()}")
        bad = np.concatenate([bad_nf, bad_ext, bad_snap])
        if bad.size and self.on_outside == "raise":
            first = ", ".join(map(str, np.sort(bad)[:20]))
            raise OutsideNetworkError(
                f"{bad.size} of {n} {side}s cannot be placed on the street network "
                f"({bad_nf.size} not finite, {bad_ext.size} outside its extent, {bad_snap.size} "
                f"farther than {self.max_snap_m:.0f} m from it); indices: {first}"
                + (" ..." if bad.size > 20 else ""))
        report.add(side, bad_nf, "not_finite")
        report.add(side, bad_ext, "outside_network_extent", d[bad_ext])
        report.add(side, bad_snap, "beyond_max_snap", d[bad_snap])
        idx[bad] = -1
        return idx, d

    def _prepare(self, origins_xy, targets_xy):
        o = _as_xy(origins_xy, "origins_xy")
        t = _as_xy(targets_xy, "targets_xy")
        _check_targets(t)
        report = UnreachableReport(self.method, n_origins=o.shape[0], n_targets=t.shape[0])
        on, od = self._snap(o, "origin", report) if o.shape[0] else (np.zeros(0, np.int64), np.zeros(0))
        tn, td = self._snap(t, "target", report)
        if not (tn >= 0).any():
            self.unreachable_report = report
            raise OutsideNetworkError(
                f"none of the {t.shape[0]} targets lies within {self.max_snap_m:.0f} m of the street "
                f"network: {report.summary()}")
        self.last_origin_nodes, self.last_origin_snap_m = on, od
        self.last_target_nodes, self.last_target_snap_m = tn, td
        return o, t, on, od, tn, td, report

    def _explain_unreached(self, origin_rows: np.ndarray, on: np.ndarray, tn: np.ndarray,
                           max_m: float | None, report: UnreachableReport, od: np.ndarray) -> None:
        """Add reasons for usable origins that reached no target."""
        if origin_rows.size == 0:
            return
        labels = self.network.component_labels
        tcomp = np.unique(labels[tn[tn >= 0]])
        other = ~np.isin(labels[on[origin_rows]], tcomp)
        report.add("origin", origin_rows[other], "other_component", od[origin_rows[other]])
        rest = origin_rows[~other]
        report.add("origin", rest, "beyond_max_m" if max_m is not None else "no_directed_path",
                   od[rest])

    # ------------------------------------------------------------------ node-level
    def node_distance_matrix(self, origin_nodes: np.ndarray, target_nodes: np.ndarray,
                             max_m: float | None = None) -> np.ndarray:
        """Exact network cost (metres) from each origin node to each target node.

        Parameters
        ----------
        origin_nodes, target_nodes : int arrays
            Node rows (>= 0).
        max_m : float, optional
            Search radius (metres); costs beyond it are inf.

        Returns
        -------
        ndarray, shape (len(origin_nodes), len(target_nodes))
            inf where there is no directed path (or beyond ``max_m``).
        """
        on = np.asarray(origin_nodes, dtype=np.int64)
        tn = np.asarray(target_nodes, dtype=np.int64)
        uo, inv_o = np.unique(on, return_inverse=True)
        ut, inv_t = np.unique(tn, return_inverse=True)
        limit = np.inf if max_m is None else float(max_m)
        out = np.full((uo.size, ut.size), np.inf)
        if uo.size == 0 or ut.size == 0:
            return out[inv_o][:, inv_t]
        if ut.size <= uo.size:  # search from targets on the reversed graph
            graph, src, dst, transpose = self.network.csr_reversed, ut, uo, True
        else:  # search from origins on the forward graph
            graph, src, dst, transpose = self.network.csr, uo, ut, False
        chunks = [src[i:i + self.chunk_size] for i in range(0, src.size, self.chunk_size)]
        pos = 0
        for ch in progress(chunks, self.progress, "street distances", unit="chunk"):
            d = dijkstra(graph, directed=True, indices=ch, limit=limit)[:, dst]
            if transpose:
                out[:, pos:pos + ch.size] = d.T
            else:
                out[pos:pos + ch.size, :] = d
            pos += ch.size
        return out[inv_o][:, inv_t]

    def node_pairs_within(self, origin_nodes: np.ndarray, target_nodes: np.ndarray,
                          max_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The finite entries of :meth:`node_distance_matrix` (``max_m`` as its limit), sparse.

        The same Dijkstra searches in the same direction (from the smaller side, in batches of
        ``chunk_size``), so the costs are the same numbers; only the entries that are finite are
        kept, so memory grows with the pairs found, not with ``n_origins x n_targets``.

        Returns
        -------
        (origin_pos, target_pos, cost_m)
            Positions in ``origin_nodes`` / ``target_nodes`` (every point on a node gets its
            own entry) and the network cost (metres, ``<= max_m``), in no particular order.
        """
        on = np.asarray(origin_nodes, dtype=np.int64)
        tn = np.asarray(target_nodes, dtype=np.int64)
        uo, inv_o = np.unique(on, return_inverse=True)
        ut, inv_t = np.unique(tn, return_inverse=True)
        if uo.size == 0 or ut.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        if ut.size <= uo.size:  # as node_distance_matrix: from targets on the reversed graph
            graph, src, dst, transpose = self.network.csr_reversed, ut, uo, True
        else:
            graph, src, dst, transpose = self.network.csr, uo, ut, False
        parts_a, parts_b, parts_c = [], [], []
        for pos in progress(range(0, src.size, self.chunk_size), self.progress, "street distances",
                            unit="chunk"):
            ch = src[pos:pos + self.chunk_size]
            d = dijkstra(graph, directed=True, indices=ch, limit=float(max_m))[:, dst]
            r, c = np.nonzero(np.isfinite(d))
            parts_c.append(d[r, c])
            parts_a.append(c if transpose else pos + r)
            parts_b.append(pos + r if transpose else c)
        ua, ub, cost = (np.concatenate(x) for x in (parts_a, parts_b, parts_c))
        e, a = _expand_groups(ua, inv_o.reshape(-1), uo.size)
        ub, cost = ub[e], cost[e]
        e, b = _expand_groups(ub, inv_t.reshape(-1), ut.size)
        return a[e], b, cost[e]

    # ------------------------------------------------------------------ public
    def nearest_routes(self, origins_xy: np.ndarray, targets_xy: np.ndarray, k: int = 1,
                       max_m: float | None = None) -> NearestRoutes:
        """The k cheapest targets of every origin, with cost and physical length.

        Parameters
        ----------
        origins_xy : array (n, 2)
            Origins (homes) in the network CRS, metres.
        targets_xy : array (m, 2)
            Targets (services) in the network CRS, metres.
        k : int
            Number of nearest targets.
        max_m : float, optional
            Ignore targets costing more than this (metres, total incl. snaps).

        Returns
        -------
        NearestRoutes

        Raises
        ------
        EmptyServiceTypeError
            ``targets_xy`` is empty.
        OutsideNetworkError
            All origins or all targets are off the network, or any is with ``on_outside="raise"``.
        DisconnectedGraphError
            No usable origin can reach any target because they lie on different network pieces.
        """
        if k < 1:
            raise ValueError("k must be >= 1")
        o, t, on, od, tn, td, report = self._prepare(origins_xy, targets_xy)
        n = o.shape[0]
        cost, dist = np.full((n, k), np.nan), np.full((n, k), np.nan)
        idx = np.full((n, k), -1, dtype=np.int64)
        self.unreachable_report = report
        ok_o, ok_t = np.flatnonzero(on >= 0), np.flatnonzero(tn >= 0)
        if ok_o.size:
            c, d, i = self._search(on[ok_o], od[ok_o], tn[ok_t], td[ok_t], k, max_m)
            cost[ok_o], dist[ok_o] = c, d
            idx[ok_o] = np.where(i >= 0, ok_t[np.maximum(i, 0)], -1)
            self._report_unreached(ok_o, ok_t, on, od, tn, cost, k, max_m, report)
        penalised = self.network.penalised
        return NearestRoutes(cost, dist, idx, penalised=penalised,
                             cost_note=cost_note(self.network.report.get("penalties"))
                             if penalised else "")

    def nearest(self, origins_xy: np.ndarray, targets_xy: np.ndarray, k: int = 1,
                max_m: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(cost_m, idx)`` of :meth:`nearest_routes` (cost = distance without penalties)."""
        r = self.nearest_routes(origins_xy, targets_xy, k, max_m)
        return r.cost_m, r.idx

    def search_graph(self) -> SearchGraph:
        """The reversed graph the k-nearest searches run on, its nodes renumbered along a Z-order
        curve of their coordinates (:class:`~locmap.distance._kbest.SearchGraph`: the same
        labels, fewer cache misses); made on the first search and kept."""
        if self._search_graph is None:
            net = self.network
            self._search_graph = renumbered(*net.reversed_arrays(), z_order(net.x, net.y))
        return self._search_graph

    def _search(self, on: np.ndarray, od: np.ndarray, tn: np.ndarray, td: np.ndarray, k: int,
                max_m: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Labels of the origin nodes from one k-nearest-sources search; totals add ``od``."""
        if k > MAX_K:
            raise ValueError(f"k must be at most {MAX_K} (got {k})")
        g = self.search_graph()
        limit = np.inf if max_m is None else float(max_m)
        lab_c, lab_l, lab_s = k_nearest_sources(
            g.indptr, g.indices, g.cost, g.length, g.rank[tn], td.astype(float),
            td.astype(float), int(k), limit, np.unique(g.rank[on]), self.network.penalised)
        rows = g.rank[on]
        c = od[:, None] + lab_c[rows]
        d = od[:, None] + lab_l[rows]
        s = lab_s[rows].astype(np.int64)
        bad = (s < 0) | ~np.isfinite(c)
        if max_m is not None:
            bad |= c > max_m
        return np.where(bad, np.nan, c), np.where(bad, np.nan, d), np.where(bad, -1, s)

    def _report_unreached(self, ok_o, ok_t, on, od, tn, cost, k, max_m, report) -> None:
        """Reasons for usable origins with fewer than k / no targets; raise when none reach any."""
        if k > 1:
            few = ok_o[np.isfinite(cost[ok_o, 0]) & ~np.isfinite(cost[ok_o, -1])]
            report.add("origin", few, "fewer_than_k", od[few])
        unreached = ok_o[~np.isfinite(cost[ok_o, 0])]
        self._explain_unreached(unreached, on, tn, max_m, report, od)
        if unreached.size == ok_o.size and (report.indices("origin", "other_component").size
                                            == ok_o.size):
            raise DisconnectedGraphError(
                f"no origin can reach any target: the {ok_o.size} usable origins and "
                f"{ok_t.size} usable targets lie on different pieces of the street network; "
                f"build the network with largest_component=True or check the extract")

    def matrix(self, origins_xy: np.ndarray, targets_xy: np.ndarray,
               max_m: float | None = None) -> np.ndarray:
        """Street distance (metres) from every origin to every target.

        Returns
        -------
        ndarray (n, m)
            ``inf`` where there is no path or the distance exceeds ``max_m``;
            NaN rows/columns for origins/targets that cannot be placed on the network
            (listed in :attr:`unreachable_report`).
        """
        o, t, on, od, tn, td, report = self._prepare(origins_xy, targets_xy)
        self.unreachable_report = report
        out = np.full((o.shape[0], t.shape[0]), np.nan)
        ok_o = np.flatnonzero(on >= 0)
        ok_t = np.flatnonzero(tn >= 0)
        if ok_o.size == 0:
            return out
        nd = self.node_distance_matrix(on[ok_o], tn[ok_t], max_m)
        total = od[ok_o, None] + nd + td[None, ok_t]
        if max_m is not None:
            total[total > max_m] = np.inf
        out[np.ix_(ok_o, ok_t)] = total
        report.n_unreachable_pairs = int((~np.isfinite(total)).sum())
        unreached = ok_o[~np.isfinite(total).any(axis=1)]
        self._explain_unreached(unreached, on, tn, max_m, report, od)
        _check_some_reached(unreached, ok_o, ok_t, report)
        return out


    def pairs_within(self, origins_xy: np.ndarray, targets_xy: np.ndarray,
                     max_m: float) -> PairsWithin:
        """The origin-target pairs within ``max_m`` street metres: :meth:`matrix` made sparse.

        Same routes and the same numbers as :meth:`matrix` for every pair it lists (``snap_o +
        path + snap_t``, summed in that order); the pairs not listed are those :meth:`matrix`
        gives ``inf`` or NaN.  Memory grows with the pairs found instead of ``n x m``.

        Parameters
        ----------
        origins_xy, targets_xy : array (n, 2), (m, 2)
            Points in the network CRS (metres).
        max_m : float
            Largest cost kept (metres, incl. snaps); required.

        Returns
        -------
        PairsWithin
            :attr:`unreachable_report` lists the points that cannot be used and the origins
            with no target within ``max_m``, as for :meth:`matrix`.

        Raises
        ------
        EmptyServiceTypeError, OutsideNetworkError, DisconnectedGraphError
            As :meth:`matrix`.
        """
        max_m = _check_max_m(max_m)
        o, t, on, od, tn, td, report = self._prepare(origins_xy, targets_xy)
        self.unreachable_report = report
        shape = (o.shape[0], t.shape[0])
        ok_o, ok_t = np.flatnonzero(on >= 0), np.flatnonzero(tn >= 0)
        if ok_o.size == 0:
            return _pairs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), shape, max_m)
        a, b, nd = self.node_pairs_within(on[ok_o], tn[ok_t], max_m)
        i, j = ok_o[a], ok_t[b]
        total = od[i] + nd + td[j]
        keep = total <= max_m
        i, j, total = i[keep], j[keep], total[keep]
        report.n_unreachable_pairs = int(ok_o.size * ok_t.size - i.size)
        has_pair = np.zeros(o.shape[0], dtype=bool)
        has_pair[i] = True
        unreached = ok_o[~has_pair[ok_o]]
        self._explain_unreached(unreached, on, tn, max_m, report, od)
        _check_some_reached(unreached, ok_o, ok_t, report)
        return _pairs(i, j, total, shape, max_m)


# ============================================================================ estimated
class EstimatedRouter:
    """Straight-line distance x circuity (+ intercept): an *estimate* of street distance.

    ``distance_m = max(straight_m, straight_m * circuity + intercept_m)`` — monotone in the
    straight-line distance, so the nearest targets are exactly the straight-line nearest
    (cKDTree).  Coordinates in EPSG:27700 metres.

    Parameters
    ----------
    circuity : float
        Street / straight distance ratio (>= 1); :func:`default_router` uses the London model's.
    intercept_m : float
        Constant added (metres), e.g. from a linear fit.
    chunk_rows : int
        Origins per block in :meth:`matrix`.
    """

    method = "estimated"

    def __init__(self, circuity: float, intercept_m: float = 0.0, chunk_rows: int = 4096,
                 progress: bool = False, calibration: Calibration | None = None) -> None:
        if not np.isfinite(circuity) or circuity < 1.0:
            raise ValueError(f"circuity must be a finite number >= 1 (got {circuity})")
        self.circuity = float(circuity)
        self.intercept_m = float(intercept_m)
        self.chunk_rows = int(chunk_rows)
        self.progress = progress
        #: the distance model this router applies (None when built by hand)
        self.calibration = calibration
        self.unreachable_report: UnreachableReport | None = None

    def estimate(self, straight_m: np.ndarray) -> np.ndarray:
        """Estimated street distance (metres) for straight-line distances (metres)."""
        s = np.asarray(straight_m, dtype=float)
        return np.maximum(s, s * self.circuity + self.intercept_m)

    def _straight_bound(self, max_m: float) -> float:
        return min(max_m, (max_m - self.intercept_m) / self.circuity)

    def _prepare(self, origins_xy, targets_xy):
        o = _as_xy(origins_xy, "origins_xy")
        t = _as_xy(targets_xy, "targets_xy")
        _check_targets(t)
        report = UnreachableReport(self.method, n_origins=o.shape[0], n_targets=t.shape[0])
        fo = np.isfinite(o).all(axis=1)
        ft = np.isfinite(t).all(axis=1)
        report.add("origin", np.flatnonzero(~fo), "not_finite")
        report.add("target", np.flatnonzero(~ft), "not_finite")
        if not ft.any():
            self.unreachable_report = report
            raise OutsideNetworkError("no target has finite coordinates")
        self.unreachable_report = report
        return o, t, fo, ft, report

    def nearest(self, origins_xy: np.ndarray, targets_xy: np.ndarray, k: int = 1,
                max_m: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """k nearest targets by estimated distance (exact: cKDTree on straight lines).

        Returns ``(dist_m (n, k), idx (n, k))``; NaN / -1 beyond ``max_m`` or when there
        are fewer than k targets.
        """
        if k < 1:
            raise ValueError("k must be >= 1")
        o, t, fo, ft, report = self._prepare(origins_xy, targets_xy)
        n = o.shape[0]
        dist = np.full((n, k), np.nan)
        idx = np.full((n, k), -1, dtype=np.int64)
        ok_o, ok_t = np.flatnonzero(fo), np.flatnonzero(ft)
        if ok_o.size == 0:
            return dist, idx
        kk = min(k, ok_t.size)
        tree = cKDTree(t[ok_t])
        ub = np.inf if max_m is None else self._straight_bound(float(max_m)) * (1 + 1e-12) + 1e-9
        d, i = tree.query(o[ok_o], k=kk, distance_upper_bound=ub)
        d = np.asarray(d, dtype=float).reshape(ok_o.size, kk)
        i = np.asarray(i, dtype=np.int64).reshape(ok_o.size, kk)
        est = self.estimate(d)
        bad = ~np.isfinite(d)
        if max_m is not None:
            bad |= est > max_m
        dist[ok_o, :kk] = np.where(bad, np.nan, est)
        idx[ok_o, :kk] = np.where(bad, -1, ok_t[np.minimum(i, ok_t.size - 1)])
        none = ok_o[bad[:, 0]]
        report.add("origin", none, "beyond_max_m")
        few = ok_o[~bad[:, 0] & np.isnan(dist[ok_o, -1])]
        report.add("origin", few, "fewer_than_k")
        return dist, idx

    def nearest_routes(self, origins_xy: np.ndarray, targets_xy: np.ndarray, k: int = 1,
                       max_m: float | None = None) -> NearestRoutes:
        """:meth:`nearest` as :class:`NearestRoutes` (cost = distance: no penalties here)."""
        dist, idx = self.nearest(origins_xy, targets_xy, k, max_m)
        return NearestRoutes(dist, dist.copy(), idx, penalised=False)

    def matrix(self, origins_xy: np.ndarray, targets_xy: np.ndarray,
               max_m: float | None = None) -> np.ndarray:
        """Estimated distance (metres) for every origin-target pair, computed in row blocks.

        inf beyond ``max_m``; NaN rows/columns for non-finite points.
        """
        o, t, fo, ft, report = self._prepare(origins_xy, targets_xy)
        out = np.empty((o.shape[0], t.shape[0]))
        starts = range(0, o.shape[0], self.chunk_rows)
        for s in progress(starts, self.progress, "estimated distances", unit="block"):
            blk = o[s:s + self.chunk_rows]
            straight = np.hypot(blk[:, None, 0] - t[None, :, 0], blk[:, None, 1] - t[None, :, 1])
            out[s:s + self.chunk_rows] = self.estimate(straight)
        if max_m is not None:
            with np.errstate(invalid="ignore"):
                out[out > max_m] = np.inf
            report.n_unreachable_pairs = int(np.isinf(out).sum())
        out[~fo, :] = np.nan
        out[:, ~ft] = np.nan
        return out


    def pairs_within(self, origins_xy: np.ndarray, targets_xy: np.ndarray,
                     max_m: float) -> PairsWithin:
        """The origin-target pairs within ``max_m`` estimated metres: :meth:`matrix` made sparse.

        The estimate is monotone in the straight line, so ``estimate(s) <= max_m`` needs
        ``s <= min(max_m, (max_m - intercept_m) / circuity)``.  Candidates come from one
        cKDTree pair search with that radius (widened by 1e-12 relative + 1e-9 m, so rounding
        never loses a pair); their straight lines are then recomputed exactly as
        :meth:`matrix` does (``np.hypot`` of the coordinate differences) and kept when the
        estimate is ``<= max_m``: the same pairs and numbers as the finite entries of
        :meth:`matrix`.

        Parameters
        ----------
        origins_xy, targets_xy : array (n, 2), (m, 2)
            EPSG:27700 metres; points with non-finite coordinates get no pairs (they are
            listed in :attr:`unreachable_report`).
        max_m : float
            Largest estimated distance kept (metres); required.

        Returns
        -------
        PairsWithin
        """
        max_m = _check_max_m(max_m)
        o, t, fo, ft, report = self._prepare(origins_xy, targets_xy)
        shape = (o.shape[0], t.shape[0])
        ok_o, ok_t = np.flatnonzero(fo), np.flatnonzero(ft)
        bound = self._straight_bound(max_m)
        if ok_o.size == 0 or bound < 0:
            report.n_unreachable_pairs = int(ok_o.size * ok_t.size)
            return _pairs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), shape, max_m)
        radius = bound * (1 + 1e-12) + 1e-9
        cand = cKDTree(o[ok_o]).sparse_distance_matrix(cKDTree(t[ok_t]), radius,
                                                        output_type="ndarray")
        i, j = ok_o[cand["i"]], ok_t[cand["j"]]
        est = self.estimate(np.hypot(o[i, 0] - t[j, 0], o[i, 1] - t[j, 1]))
        keep = est <= max_m
        report.n_unreachable_pairs = int(ok_o.size * ok_t.size - keep.sum())
        return _pairs(i[keep], j[keep], est[keep], shape, max_m)


# ============================================================================ choice
def default_router(area: Any, settings: Any = None, *, rebuild: bool = False,
                   penalties: PramPenalties | None = None) -> "StreetRouter | EstimatedRouter":
    """The router every locmap call uses for an area.

    * A network was asked for (``settings.network_file`` from ``--network``, else the area
      pack's ``network``): it is checked (exists, readable, not empty), built or loaded from
      the cache (``settings.profile``, ``penalties``), and must cover the area's homes
      (:func:`~locmap.distance.network.check_covers`); any failure is a ``NetworkError`` that
      names the file and who asked for it.  Returns a :class:`StreetRouter`.
    * No network asked for: an :class:`EstimatedRouter` with the shipped London distance model
      (``router.calibration``: :func:`locmap.distance.calibration.calibrate`); an area outside
      the model's data (not in London) is refused with a ``DistanceModelError``.

    Parameters
    ----------
    area : AreaData
        Needs ``pack``, ``settings`` and ``homes`` (EPSG:27700 points).
    settings : Settings, optional
        Default ``area.settings``.
    rebuild : bool
        Ignore the network cache.
    penalties : PramPenalties, optional
        Pram penalties; default ``PramPenalties()`` when ``settings.pram_penalties`` is set, else
        none (see :class:`~locmap.distance.network.PramPenalties`).
    """
    settings = settings or area.settings
    if penalties is None and getattr(settings, "pram_penalties", False):
        penalties = PramPenalties()
    request = requested_network(settings, getattr(area, "pack", None))
    if request is None:
        cal = calibrate(area)
        return EstimatedRouter(cal.circuity, cal.intercept_m, progress=settings.progress,
                               calibration=cal)
    check_network_file(request.path, request.asked_by)
    try:
        net = load_or_build(request.path, settings.profile, settings, rebuild=rebuild,
                            penalties=penalties)
        homes = area.homes
        xy = np.column_stack([homes.geometry.x.to_numpy(), homes.geometry.y.to_numpy()])
        net.report["coverage"] = check_covers(net, xy, settings.max_snap_m, request)
    except NetworkError as exc:
        raise _naming(exc, request) from exc
    return StreetRouter(net, max_snap_m=settings.max_snap_m, progress=settings.progress)


def _naming(exc: NetworkError, request: NetworkRequest) -> NetworkError:
    """The same error, saying who asked for the network when the message does not."""
    msg = Exception.__str__(exc)
    if request.asked_by not in msg:
        msg = f"{msg} (network asked for by {request.asked_by})"
    new = type(exc)(msg)
    new.remedy = exc.remedy
    return new


__all__ = ["method_label", "cost_note", "METHOD_LABELS", "REASONS", "Router", "NearestRoutes", "PairsWithin",
           "StreetRouter", "EstimatedRouter", "UnreachableReport", "default_router"]
