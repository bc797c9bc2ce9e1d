"""Distances from many origins (homes) to many targets (services).

Two interchangeable routers share one interface (:class:`Router`):

:class:`StreetRouter` (``method = "street"``)
    Shortest paths on a :class:`locmap.distance.network.StreetNetwork` with
    ``scipy.sparse.csgraph.dijkstra``.  A distance is
    ``snap(origin) + network path(origin node -> target node) + snap(target)``, all in
    metres (EPSG:27700, or the network's CRS), where ``snap`` is the straight line from the
    point to its nearest network node.
:class:`EstimatedRouter` (``method = "estimated"``)
    Straight line x a calibrated circuity factor (+ optional intercept), used when no street
    network is available.  Every label shown to users says "estimated".

Both return NaN / -1 for pairs that cannot be measured and never drop them silently:
``router.unreachable_report`` describes, for the last call, which origins/targets could
not be used and why.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from locmap.errors import (
    DisconnectedGraphError,
    EmptyServiceTypeError,
    OutsideNetworkError,
)

METHOD_LABELS = {
    "street": "street distance",
    "estimated": "estimated street distance (calibrated)",
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

    ``"street"`` -> "street distance"; ``"estimated"`` -> "estimated street distance (calibrated)".
    """
    try:
        return METHOD_LABELS[method]
    except KeyError:
        raise ValueError(f"unknown distance method {method!r}; use one of {sorted(METHOD_LABELS)}") from None


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
@runtime_checkable
class Router(Protocol):
    """Common interface of :class:`StreetRouter` and :class:`EstimatedRouter`.

    All coordinates are ``(n, 2)`` arrays in EPSG:27700 metres (or the network CRS);
    all distances are metres.
    """

    method: str
    unreachable_report: UnreachableReport | None

    def nearest(self, origins_xy: np.ndarray, targets_xy: np.ndarray, k: int = 1,
                max_m: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(dist_m (n, k) float, idx (n, k) int)``; NaN / -1 where unreachable."""
        ...

    def matrix(self, origins_xy: np.ndarray, targets_xy: np.ndarray,
               max_m: float | None = None) -> np.ndarray:
        """``(n, m)`` metres; inf where unreachable or beyond ``max_m``."""
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


def _progress(it: Iterable, enabled: bool, total: int, desc: str) -> Iterable:
    if not enabled or total <= 1:
        return it
    from tqdm.auto import tqdm  # noqa: PLC0415

    return tqdm(it, total=total, desc=desc, unit="chunk")


def _k_smallest(total: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise k smallest (ties by column index) of an (n, m) array with inf for missing."""
    n, m = total.shape
    kk = min(k, m)
    dist = np.full((n, k), np.nan)
    idx = np.full((n, k), -1, dtype=np.int64)
    if n == 0 or kk == 0:
        return dist, idx
    if kk < m:
        part = np.argpartition(total, kk - 1, axis=1)[:, :kk]
        # include ties at the k-th value deterministically: re-rank candidates
        kth = np.take_along_axis(total, part, axis=1).max(axis=1, keepdims=True)
        cand_mask = total <= kth
        if cand_mask.sum() == n * kk:
            cand = part
        else:  # ties: fall back to a full stable sort of the rows
            cand = np.argsort(total, axis=1, kind="stable")[:, :kk]
    else:
        cand = np.tile(np.arange(m), (n, 1))
    vals = np.take_along_axis(total, cand, axis=1)
    order = _lexsort_rows(vals, cand)
    cand = np.take_along_axis(cand, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    ok = np.isfinite(vals)
    dist[:, :kk] = np.where(ok, vals, np.nan)
    idx[:, :kk] = np.where(ok, cand, -1)
    return dist, idx


def _lexsort_rows(vals: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Per-row order by (value, candidate index)."""
    # stable argsort by candidate index, then stable by value
    o1 = np.argsort(cand, axis=1, kind="stable")
    v1 = np.take_along_axis(vals, o1, axis=1)
    o2 = np.argsort(v1, axis=1, kind="stable")
    return np.take_along_axis(o1, o2, axis=1)


# ============================================================================ street
class StreetRouter:
    """Shortest street distances on a :class:`~locmap.distance.network.StreetNetwork`.

    Parameters
    ----------
    network : StreetNetwork
        Graph in a metric CRS; costs in metres (profile costs, so pram penalties count).
    max_snap_m : float
        Points farther than this from every node cannot be used (metres, default 300).
    on_outside : {"report", "raise"}
        ``"report"`` (default): unusable points get NaN / -1 and appear in
        :attr:`unreachable_report`; ``"raise"``: :class:`OutsideNetworkError`.
    progress : bool
        tqdm bars on chunked loops.
    chunk_size : int
        Sources per Dijkstra batch in :meth:`matrix` and ``nearest(k > 1)`` (bounds memory at
        ``chunk_size x n_nodes x 8`` bytes).

    Notes
    -----
    Distance = ``snap_o + path(node_o -> node_t) + snap_t`` (metres).  Snapping is to the
    nearest node (cKDTree), see :meth:`StreetNetwork.snap`.

    ``nearest(k=1)`` runs ONE multi-source Dijkstra (``min_only=True``) from all targets on the
    **reversed** graph, so the distance found for a node is the directed cost node -> target.
    Each target enters through its own virtual node joined to its snapped node by an edge of
    length ``snap_t``, so the target snap distance is part of the minimisation and
    ``return_sources`` names the winning target directly.

    ``nearest(k>1)`` and :meth:`matrix` compute the exact node-to-node table between the unique
    origin and target nodes with one Dijkstra per node of the smaller side (in batches of
    ``chunk_size``, with ``limit=max_m``), then take the k smallest per origin
    (``argpartition``).  Pass ``max_m`` to make this much faster on big graphs.
    """

    method = "street"

    def __init__(self, network, max_snap_m: float = 300.0, on_outside: str = "report",
                 progress: bool = False, chunk_size: int = 64) -> None:
        if on_outside not in ("report", "raise"):
            raise ValueError("on_outside must be 'report' or 'raise'")
        self.network = network
        self.max_snap_m = float(max_snap_m)
        self.on_outside = on_outside
        self.progress = progress
        self.chunk_size = int(chunk_size)
        self.unreachable_report: UnreachableReport | None = None
        #: node rows / snap distances (metres) of the last call (-1 / NaN when unusable)
        self.last_origin_nodes = np.zeros(0, dtype=np.int64)
        self.last_origin_snap_m = np.zeros(0)
        self.last_target_nodes = np.zeros(0, dtype=np.int64)
        self.last_target_snap_m = np.zeros(0)

    # ------------------------------------------------------------------ snapping
    def _snap(self, xy: np.ndarray, side: str, report: UnreachableReport) -> tuple[np.ndarray, np.ndarray]:
        net = self.network
        idx, d = net.snap(xy, self.max_snap_m)
        finite = np.isfinite(xy).all(axis=1)
        minx, miny, maxx, maxy = net.bbox
        pad = self.max_snap_m
        inside = (finite & (xy[:, 0] >= minx - pad) & (xy[:, 0] <= maxx + pad)
                  & (xy[:, 1] >= miny - pad) & (xy[:, 1] <= maxy + pad))
        bad_nf = np.flatnonzero(~finite)
        bad_ext = np.flatnonzero(finite & ~inside)
        bad_snap = np.flatnonzero(inside & (idx < 0))
        n = xy.shape[0]
        if n and bad_ext.size == n:
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
        for ch in _progress(chunks, self.progress, len(chunks), "street distances"):
            d = dijkstra(graph, directed=True, indices=ch, limit=limit)[:, dst]
            if transpose:
                out[:, pos:pos + ch.size] = d.T
            else:
                out[pos:pos + ch.size, :] = d
            pos += ch.size
        return out[inv_o][:, inv_t]

    # ------------------------------------------------------------------ public
    def nearest(self, origins_xy: np.ndarray, targets_xy: np.ndarray, k: int = 1,
                max_m: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest targets of every origin by street distance.

        Parameters
        ----------
        origins_xy : array (n, 2)
            Origins (homes) in the network CRS, metres.
        targets_xy : array (m, 2)
            Targets (services) in the network CRS, metres.
        k : int
            Number of nearest targets.
        max_m : float, optional
            Ignore targets farther than this (metres, total distance incl. snaps).

        Returns
        -------
        dist_m : ndarray (n, k) float
            Distances in metres, ascending; NaN where unreachable / fewer than k targets.
        idx : ndarray (n, k) int64
            Target positions in ``targets_xy``; -1 where ``dist_m`` is NaN.

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
        dist = np.full((n, k), np.nan)
        idx = np.full((n, k), -1, dtype=np.int64)
        self.unreachable_report = report
        ok_o = np.flatnonzero(on >= 0)
        ok_t = np.flatnonzero(tn >= 0)
        if ok_o.size == 0:
            return dist, idx
        if k == 1:
            d1, i1 = self._nearest1(on[ok_o], od[ok_o], tn[ok_t], td[ok_t], max_m)
            i1 = np.where(i1 >= 0, ok_t[np.maximum(i1, 0)], -1)
            dist[ok_o, 0], idx[ok_o, 0] = d1, i1
        else:
            dk, ik = self._nearest_k(on[ok_o], od[ok_o], tn[ok_t], td[ok_t], k, max_m)
            dist[ok_o] = dk
            idx[ok_o] = np.where(ik >= 0, ok_t[np.maximum(ik, 0)], -1)
            few = ok_o[np.isfinite(dk[:, 0]) & ~np.isfinite(dk[:, -1])]
            report.add("origin", few, "fewer_than_k", od[few])
        unreached = ok_o[~np.isfinite(dist[ok_o, 0])]
        self._explain_unreached(unreached, on, tn, max_m, report, od)
        if unreached.size == ok_o.size and (report.indices("origin", "other_component").size
                                            == ok_o.size):
            raise DisconnectedGraphError(
                f"no origin can reach any target: the {ok_o.size} usable origins and "
                f"{ok_t.size} usable targets lie on different pieces of the street network; "
                f"build the network with largest_component=True or check the extract")
        return dist, idx

    def _nearest1(self, on: np.ndarray, od: np.ndarray, tn: np.ndarray, td: np.ndarray,
                  max_m: float | None) -> tuple[np.ndarray, np.ndarray]:
        """One multi-source Dijkstra on the reversed graph with one virtual node per target."""
        R = self.network.csr_reversed
        N = R.shape[0]
        m = tn.size
        indptr = np.concatenate([R.indptr.astype(np.int64),
                                 R.indptr[-1] + np.arange(1, m + 1, dtype=np.int64)])
        indices = np.concatenate([R.indices.astype(np.int64), tn])
        data = np.concatenate([R.data, td])
        aug = sp.csr_matrix((data, indices, indptr), shape=(N + m, N + m))
        limit = np.inf if max_m is None else float(max_m)
        d, _, src = dijkstra(aug, directed=True, indices=N + np.arange(m), min_only=True,
                             return_predecessors=True, limit=limit)
        total = d[on] + od
        which = src[on] - N
        bad = ~np.isfinite(total) | (which < 0)
        if max_m is not None:
            bad |= total > max_m
        return np.where(bad, np.nan, total), np.where(bad, -1, which)

    def _nearest_k(self, on: np.ndarray, od: np.ndarray, tn: np.ndarray, td: np.ndarray,
                   k: int, max_m: float | None) -> tuple[np.ndarray, np.ndarray]:
        """Exact k nearest with radius-limited searches (see class notes).

        Pass 1 runs one Dijkstra per unique target node on the reversed graph with
        ``limit = R`` (R from the straight-line k-th nearest distance x 1.5, 95th percentile).
        Node costs <= R are exact, so an origin's k-th best total ``T_k`` is final when
        ``T_k <= od + R + min(td)`` (any target not found costs more than that).  Origins not
        yet final are redone with R doubled, or, once they are fewer than the targets, with an
        unlimited forward Dijkstra from their own nodes.
        """
        n, m = on.size, tn.size
        dist = np.full((n, k), np.nan)
        idx = np.full((n, k), -1, dtype=np.int64)
        cap = np.inf if max_m is None else float(max_m)
        net = self.network
        # initial radius from straight-line distances between nodes
        kk = min(k, m)
        tree = cKDTree(np.column_stack([net.x[tn], net.y[tn]]))
        s, _ = tree.query(np.column_stack([net.x[on], net.y[on]]), k=kk)
        s = np.asarray(s, dtype=float).reshape(n, kk)[:, -1]
        radius = min(cap, float(np.percentile(s, 95)) * 1.5 + 100.0)
        todo = np.arange(n)
        min_td = float(td.min())
        bb = net.bbox
        diag = float(np.hypot(bb[2] - bb[0], bb[3] - bb[1])) + 1.0
        while todo.size:
            uo = np.unique(on[todo])
            exact = (radius >= cap or uo.size <= np.unique(tn).size
                     or radius > 8.0 * diag)  # beyond any plausible detour: go exact
            limit = cap if exact else radius
            nd = self.node_distance_matrix(on[todo], tn, None if np.isinf(limit) else limit)
            total = od[todo, None] + nd + td[None, :]
            if max_m is not None:
                total[total > max_m] = np.inf
            dk, ik = _k_smallest(total, k)
            if exact:
                done = np.ones(todo.size, dtype=bool)
            else:
                kth = dk[:, kk - 1]
                done = np.isfinite(kth) & (kth <= od[todo] + radius + min_td)
            dist[todo[done]] = dk[done]
            idx[todo[done]] = ik[done]
            todo = todo[~done]
            radius = min(cap, radius * 2.0)
        return dist, idx

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
        if unreached.size == ok_o.size and (report.indices("origin", "other_component").size
                                            == ok_o.size):
            raise DisconnectedGraphError(
                f"no origin can reach any target: the {ok_o.size} usable origins and "
                f"{ok_t.size} usable targets lie on different pieces of the street network")
        return out


# ============================================================================ estimated
class EstimatedRouter:
    """Straight-line distance x circuity (+ intercept): an *estimate* of street distance.

    ``distance_m = max(straight_m, straight_m * circuity + intercept_m)`` — monotone in the
    straight-line distance, so the nearest targets are exactly the straight-line nearest
    (cKDTree).  Coordinates in EPSG:27700 metres.

    Parameters
    ----------
    circuity : float
        Street / straight distance ratio (>= 1), calibrated by ``locmap.distance.calibration``.
    intercept_m : float
        Constant added (metres), e.g. from a linear fit.
    chunk_rows : int
        Origins per block in :meth:`matrix`.
    """

    method = "estimated"

    def __init__(self, circuity: float, intercept_m: float = 0.0, chunk_rows: int = 4096,
                 progress: bool = False) -> None:
        if not np.isfinite(circuity) or circuity < 1.0:
            raise ValueError(f"circuity must be a finite number >= 1 (got {circuity})")
        self.circuity = float(circuity)
        self.intercept_m = float(intercept_m)
        self.chunk_rows = int(chunk_rows)
        self.progress = progress
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

    def matrix(self, origins_xy: np.ndarray, targets_xy: np.ndarray,
               max_m: float | None = None) -> np.ndarray:
        """Estimated distance (metres) for every origin-target pair, computed in row blocks.

        inf beyond ``max_m``; NaN rows/columns for non-finite points.
        """
        o, t, fo, ft, report = self._prepare(origins_xy, targets_xy)
        out = np.empty((o.shape[0], t.shape[0]))
        starts = range(0, o.shape[0], self.chunk_rows)
        for s in _progress(starts, self.progress, len(starts), "estimated distances"):
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


__all__ = ["method_label", "METHOD_LABELS", "REASONS", "Router", "StreetRouter",
           "EstimatedRouter", "UnreachableReport"]
