"""Distances measured once for the union of services; every scenario is a mask over them.

For each service type a scenario changes, :func:`measure` asks the run's router ONCE for
the ``K`` nearest union services of every home (``router.nearest_routes``) and ONCE for the
home-service pairs within the largest threshold (``router.pairs_within``, for 2SFCA, homes of
the neighbouring boroughs included as demand).  ``K = k + the most services of the type any
state leaves closed``, so after masking the closed ones at least ``k`` open services remain in
every home's list: :meth:`TypeDistances.nearest` is then exactly the k nearest open services
(the same ranking the router would give for the open services alone, ties by register order).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from locmap.access._common import points_xy
from locmap.distance.routing import PairsWithin


@dataclass(frozen=True)
class TypeDistances:
    """Homes x union services of one type.

    Attributes
    ----------
    service_type : str
    rows : ndarray (m,) int
        Positions in the union of this type's located services (the columns below index them).
    cost_m, distance_m : ndarray (n, K)
        Routing cost (pram cost with penalties, else the length) and physical length, ascending.
    idx : ndarray (n, K) int
        Column (0..m-1) of each entry; -1 where unreachable.
    pairs : PairsWithin or None
        (homes + demand-only homes) x the m services within ``max_m`` (2SFCA catchments).
    """

    service_type: str
    rows: np.ndarray
    cost_m: np.ndarray
    distance_m: np.ndarray
    idx: np.ndarray
    pairs: PairsWithin | None

    def nearest(self, open_rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(cost_m, distance_m, column)`` of the ``k`` nearest OPEN services per home, each (n, k);
        NaN / -1 where fewer are reachable.  ``open_rows``: bool per column (m,)."""
        ok = (self.idx >= 0) & np.append(open_rows, False)[np.where(self.idx >= 0, self.idx, len(open_rows))]
        ok &= np.isfinite(self.cost_m)
        rank = np.cumsum(ok, axis=1)
        n = self.idx.shape[0]
        cost = np.full((n, k), np.nan)
        dist = np.full((n, k), np.nan)
        col = np.full((n, k), -1, dtype=np.int64)
        for r in range(1, k + 1):
            hit = ok & (rank == r)
            has = hit.any(axis=1)
            j = np.argmax(hit, axis=1)
            rows = np.flatnonzero(has)
            cost[rows, r - 1] = self.cost_m[rows, j[rows]]
            dist[rows, r - 1] = self.distance_m[rows, j[rows]]
            col[rows, r - 1] = self.idx[rows, j[rows]]
        return cost, dist, col


def k_needed(union_type_rows: np.ndarray, states: Mapping[str, np.ndarray], k: int) -> int:
    """``K``: ``k`` plus the most of these union rows any state leaves closed (at most all of them)."""
    closed = max(int((~mask[union_type_rows]).sum()) for mask in states.values())
    return int(min(len(union_type_rows), k + closed))


def measure(union: Any, states: Mapping[str, np.ndarray], types: Sequence[str], home_xy: np.ndarray,
            demand_xy: np.ndarray | None, router: Any, k: int, max_m: float | None) -> dict[str, TypeDistances]:
    """One ``nearest_routes`` (and, with ``max_m``, one ``pairs_within``) router call per type in
    ``types``, for the union's located services of that type (see the module docstring)."""
    located = union["located"].to_numpy(bool)
    out = {}
    for t in types:
        rows = np.flatnonzero(located & (union["service_type"] == t).to_numpy())
        if not len(rows):
            continue
        xy = points_xy(union.iloc[rows], f"services[{t}]")
        kk = k_needed(rows, states, k)
        routes = router.nearest_routes(home_xy, xy, k=kk)
        n = len(home_xy)
        pairs = None
        if max_m is not None:
            origins = home_xy if demand_xy is None or not len(demand_xy) else np.vstack([home_xy, demand_xy])
            pairs = _pairs(router, origins, xy, max_m)
        out[t] = TypeDistances(
            service_type=t, rows=rows,
            cost_m=np.asarray(routes.cost_m, float).reshape(n, -1),
            distance_m=np.asarray(routes.distance_m, float).reshape(n, -1),
            idx=np.asarray(routes.idx, np.int64).reshape(n, -1), pairs=pairs)
    return out


def _pairs(router: Any, origins: np.ndarray, targets: np.ndarray, max_m: float) -> PairsWithin:
    """``router.pairs_within``, or the dense ``matrix`` made sparse for a router without it."""
    if callable(getattr(router, "pairs_within", None)):
        return router.pairs_within(origins, targets, max_m=max_m)
    cost = np.asarray(router.matrix(origins, targets, max_m=max_m), float)
    with np.errstate(invalid="ignore"):
        i, j = np.nonzero(np.isfinite(cost) & (cost <= max_m))
    return PairsWithin(i.astype(np.int64), j.astype(np.int64), cost[i, j], cost.shape, float(max_m))


__all__ = ["TypeDistances", "k_needed", "measure"]
