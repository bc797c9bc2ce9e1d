"""Exact k-nearest-sources search on a street graph: one label-setting Dijkstra (numba).

Every node gets up to ``k`` labels ``(cost, length, source)``: its ``k`` cheapest distinct
sources.  All sources start in one priority queue at their own cost (the snap distance of a
service); a popped entry ``(cost, source, node)`` becomes a label of ``node`` unless the node
already holds ``k`` labels or a label of that source, and only then are its edges relaxed.
Entries are popped in ``(cost, source)`` order, so each node's labels come out sorted by cost,
ties broken by the lower source index.

Why it is exact: the first time a ``(source, node)`` pair is popped its cost is the shortest
path cost from that source (plain Dijkstra, interleaved over sources).  A path from source s
through a node x that already holds k labels cheaper than s's cannot give s a place among the
k best of any node behind x (the k sources of x reach it more cheaply through x), so not
expanding it loses nothing.  The work is about k x one multi-source Dijkstra, instead of one
Dijkstra per source.

The search is fastest on a graph whose nearby nodes have nearby numbers (the labels and edges
it touches at one time then share cache lines): :func:`z_order` and :func:`renumbered` give
``StreetRouter`` such a copy (:class:`SearchGraph`); the labels do not depend on the numbering.
The queue is a 4-ary heap searched without branches (:func:`_push`), and each step prefetches
what the next one will read (:func:`_prefetch_next`, :func:`_prefetch_neighbours`): the search
waits on memory more than it computes.

numba compiles the kernel on first use and caches the machine code on disk (``cache=True``).
numba itself is imported on the first search (:func:`_compile`), not with this module: a run
with the estimated router (no street network) never pays its import.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def _disk_cache(numba) -> bool:
    """Where numba keeps the compiled kernels: next to this file when it is writable, else
    ``$NUMBA_CACHE_DIR``, else the user's cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``,
    ``locmap/numba``).  When none is writable (a read-only install run by a user without a home)
    the kernels compile in memory on first use (a few seconds) instead of failing at import
    ("cannot cache function ... no locator available")."""
    if os.access(Path(__file__).parent, os.W_OK) or numba.config.CACHE_DIR:
        return True
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "locmap" / "numba"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    if not os.access(folder, os.W_OK):
        return False
    numba.config.CACHE_DIR = str(folder)  # read by numba when each kernel below is decorated
    return True


#: Whether the compiled kernels are cached on disk (see :func:`_disk_cache`; set by :func:`_compile`).
DISK_CACHE: bool | None = None
#: The functions below compiled by numba (:func:`_compile`): helpers inlined into the kernels.
_INLINED = ("_offer", "_push", "_pop", "_replace_root", "_less", "_prefetch_next", "_prefetch_neighbours")
_KERNELS = ("_k_nearest", "_nearest_source", "_grow")
_COMPILING = threading.Lock()


def _compile() -> None:
    """Import numba and replace the pure-Python functions of this module by their compiled
    versions (once); numba resolves the helpers as module globals when it compiles a kernel."""
    global DISK_CACHE
    with _COMPILING:
        if DISK_CACHE is not None:
            return
        import numba

        cache = _disk_cache(numba)
        g = globals()
        g["_prefetch"] = _prefetch_intrinsic()
        for name in _INLINED:
            g[name] = numba.njit(cache=cache, nogil=True, inline="always")(g[name])
        for name in _KERNELS:
            g[name] = numba.njit(cache=cache, nogil=True)(g[name])
        DISK_CACHE = cache


def _prefetch(a, i) -> None:
    """Ask the CPU to bring ``a[i]`` into its caches: a hint, no effect on any value (nothing in
    Python; an ``llvm.prefetch`` once compiled, :func:`_prefetch_intrinsic`)."""


def _prefetch_intrinsic():
    """``_prefetch`` as a numba intrinsic: LLVM's ``prefetch`` of ``a[i]``'s address (a read,
    kept in every cache level).  A prefetch never faults and changes no value."""
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    def prefetch(typingctx, arr, idx):
        def codegen(context, builder, signature, args):
            aryty = signature.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]])
            i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0")
            builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3),
                              ir.Constant(i32, 1)])
            return context.get_dummy_value()
        return types.void(arr, idx), codegen
    return intrinsic(prefetch)


@dataclass(frozen=True)
class SearchGraph:
    """A graph's CSR arrays with its nodes renumbered along a space-filling curve (for the search).

    ``rank[node]`` is a node's number here (``rank[order[i]] == i``).  Streets close on the map
    get numbers close together, so the labels and edges a search touches at one time share
    cache lines: the same searches run ~8 % faster on the benchmark's grid (already in row
    order) and ~1.5x faster than on a graph in a random order, the usual order of an OSM
    extract's node ids (BENCHMARKS.md, stop 34).  The labels found are the same: they do not
    depend on the numbering (ties are broken by source index, never by node).
    """

    indptr: np.ndarray
    indices: np.ndarray
    cost: np.ndarray
    length: np.ndarray
    rank: np.ndarray


def z_order(x: np.ndarray, y: np.ndarray, bits: int = 16) -> np.ndarray:
    """Node order along a Z-order (Morton) curve of the coordinates (stable; a permutation).

    Each axis is scaled to ``bits``-bit integers over the nodes' extent and the two are
    interleaved bit by bit; nodes in one cell keep their order.  Non-finite coordinates count
    as the extent's minimum.
    """
    code = np.zeros(len(x), np.uint64)
    for shift, a in ((0, x), (1, y)):
        a = np.asarray(a, float)
        ok = np.isfinite(a)
        lo = a[ok].min() if ok.any() else 0.0
        span = a[ok].max() - lo if ok.any() else 0.0
        q = np.where(ok, a - lo, 0.0) / span if span > 0 else np.zeros(a.size)
        v = np.minimum(q * (2**bits), 2**bits - 1).astype(np.uint64)
        for b in range(bits):  # bit b of the axis goes to bit 2b (+1 for y)
            code |= ((v >> np.uint64(b)) & np.uint64(1)) << np.uint64(2 * b + shift)
    return np.argsort(code, kind="stable")


def renumbered(indptr, indices, cost, length, order) -> SearchGraph:
    """The CSR graph with node ``order[i]`` renumbered ``i`` (each row's edges in their order)."""
    order = np.asarray(order, np.int64)
    rank = np.empty(order.size, np.int64)
    rank[order] = np.arange(order.size)
    deg = np.diff(indptr)[order]
    new_indptr = np.zeros(order.size + 1, np.int64)
    np.cumsum(deg, out=new_indptr[1:])
    take = np.repeat(np.asarray(indptr[:-1], np.int64)[order] - new_indptr[:-1], deg)
    take += np.arange(take.size)
    return SearchGraph(new_indptr.astype(indptr.dtype), rank[indices[take]].astype(indices.dtype),
                       cost[take], length[take], rank)


#: Most labels per node (``nlab`` is a uint8).
MAX_K = 255


def k_nearest_sources(indptr, indices, cost, length, src_node, src_cost, src_length, k, limit,
                      wanted, track_length):
    """Labels of every node: its ``k`` cheapest distinct sources.

    Parameters
    ----------
    indptr, indices : int32 or int64 arrays
        CSR structure of the graph searched (the *reversed* street graph when the sources are
        services and the costs wanted are node -> service).
    cost, length : float64 arrays
        Edge cost (metres of pram cost) and physical length (metres), aligned with ``indices``.
    src_node : int64 array (m,)
        Node of each source (m < 2**31).
    src_cost, src_length : float64 arrays (m,)
        Cost and length at which each source starts (its snap distance).
    k : int
        Labels per node (1 .. :data:`MAX_K`).
    limit : float
        Costs above this are not explored (``inf`` for none).
    wanted : int64 array
        Distinct nodes whose labels are needed: the search stops once they all hold k labels
        (the labels of other nodes may then be incomplete).
    track_length : bool
        Also carry the physical length of each label (needed only when cost != length).

    Returns
    -------
    lab_cost : float64 (n, k)
        Cost of each label, ascending (``inf`` where a node has fewer).
    lab_length : float64 (n, k)
        Physical length of each label (a copy of ``lab_cost`` when not ``track_length``).
    lab_src : int32 (n, k)
        Source index of each label (-1 where none).

    Notes
    -----
    Each node keeps its k best (cost, source) pairs seen so far (``_offer``); only those are
    queued.  The labels already settled stay the first entries of that list (entries are
    popped in (cost, source) order and a later offer never beats a popped one), so a popped
    entry is settled when it is the node's next entry, and at the end the lists are the labels.
    """
    _compile()
    return _k_nearest(indptr, indices, cost, length, src_node, src_cost, src_length, k, limit, wanted,
                      track_length)


def compile_kernels(index_dtype: str = "int32") -> bool:
    """Compile the search for graphs whose CSR arrays are ``index_dtype`` (scipy's ``int32`` for
    any street graph of a borough or of London) and cache it on disk, by searching a two-node
    graph with k = 1 and k = 3.  ``make compile`` calls it once after the code changes, so the
    first searches of a fresh checkout (the test suite's processes, a demo) load the kernels
    instead of each compiling them (~7 s CPU).  Returns whether the kernels are cached on disk."""
    indptr, indices = np.array([0, 1, 2], dtype=index_dtype), np.array([1, 0], dtype=index_dtype)
    edge, start = np.ones(2), np.zeros(1)
    for k in (1, 3):
        k_nearest_sources(indptr, indices, edge, edge, np.zeros(1, np.int64), start, start, k, np.inf,
                          np.arange(2, dtype=np.int64), False)
    return bool(DISK_CACHE)


def _k_nearest(indptr, indices, cost, length, src_node, src_cost, src_length, k, limit, wanted,
               track_length):
    """:func:`k_nearest_sources` (compiled by :func:`_compile`)."""
    if k == 1:
        return _nearest_source(indptr, indices, cost, length, src_node, src_cost, src_length,
                               limit, wanted, track_length)
    n = indptr.size - 1
    tc = np.full(n * k, np.inf)
    tl = np.full(n * k if track_length else 1, np.inf)
    ts = np.full(n * k, -1, np.int32)
    nlab = np.zeros(n, np.uint8)
    want = np.zeros(n, np.bool_)
    want[wanted] = True
    missing = wanted.size
    hc = np.full(2 * src_node.size + n // 4 + 1024, np.inf)
    hk = np.full(hc.size, _KEYMAX, np.int64)  # (source << 32) | node: ties break by source, then node
    size = 0
    for j in range(src_node.size):
        v = src_node[j]
        if src_cost[j] <= limit and _offer(tc, tl, ts, v * k, src_cost[j], src_length[j],
                                           np.int32(j), k, track_length):
            size = _push(hc, hk, size, src_cost[j], (np.int64(j) << 32) | v)
    while size > 0:
        c, key = hc[0], hk[0]  # the root stays until the first entry pushed below replaces it
        s, v = np.int32(key >> 32), key & 0xFFFFFFFF
        _prefetch_next(hc, hk, size, indptr, indices, cost, nlab, tc, ts, k)
        m = nlab[v]
        if m >= k or ts[v * k + m] != s or tc[v * k + m] != c:
            size = _pop(hc, hk, size)
            continue  # stale: improved since, or pushed out by k better sources
        nlab[v] = m + np.uint8(1)
        if m + 1 == k and want[v]:
            missing -= 1
            if missing == 0:
                break
        ln = tl[v * k + m] if track_length else c
        _prefetch_neighbours(indptr, indices, v, nlab, tc, ts, k)
        root = True
        for e in range(indptr[v], indptr[v + 1]):
            w = indices[e]
            nc = c + cost[e]
            if nc > limit or nlab[w] >= k:
                continue
            nl = ln + length[e] if track_length else 0.0
            if not _offer(tc, tl, ts, w * k, nc, nl, s, k, track_length):
                continue
            if root:
                _replace_root(hc, hk, size, nc, (np.int64(s) << 32) | w)
                root = False
                continue
            if size + 5 >= hc.size:
                hc, hk = _grow(hc, hk, size)
            size = _push(hc, hk, size, nc, (np.int64(s) << 32) | w)
        if root:
            size = _pop(hc, hk, size)
    lab_cost = tc.reshape(n, k)
    return lab_cost, (tl.reshape(n, k) if track_length else lab_cost.copy()), ts.reshape(n, k)


def _offer(tc, tl, ts, base, c, ln, s, k, track) -> bool:
    """Put (c, s) among a node's k best (cost, source) pairs (distinct sources, sorted; the
    node's entries are ``base .. base + k - 1``; ``tl`` follows when ``track``).

    False when it is not among them: it can then never become a label of the node (k distinct
    sources already reach it more cheaply), so it is not queued.
    """
    last = base + k - 1
    if tc[last] < c or (tc[last] == c and ts[last] <= s):
        return False  # no better than the k-th (if s is listed, its entry is no worse either)
    p = k - 1  # the worst leaves the list, unless s is listed with a higher cost
    for t in range(k):
        if ts[base + t] == s:
            if not c < tc[base + t]:
                return False
            p = t
            break
    while p > 0:
        q = base + p - 1
        if c < tc[q] or (c == tc[q] and s < ts[q]):
            tc[q + 1] = tc[q]
            ts[q + 1] = ts[q]
            if track:
                tl[q + 1] = tl[q]
            p -= 1
        else:
            break
    tc[base + p] = c
    ts[base + p] = s
    if track:
        tl[base + p] = ln
    return True


def _nearest_source(indptr, indices, cost, length, src_node, src_cost, src_length, limit, wanted,
                    track_length):
    """k = 1: plain multi-source Dijkstra with the same (cost, source) order and outputs."""
    n = indptr.size - 1
    tc = np.full(n, np.inf)
    tl = np.full(n if track_length else 1, np.inf)
    ts = np.full(n, -1, np.int32)
    done = np.zeros(n, np.bool_)
    want = np.zeros(n, np.bool_)
    want[wanted] = True
    missing = wanted.size
    hc = np.full(2 * src_node.size + n // 4 + 1024, np.inf)
    hk = np.full(hc.size, _KEYMAX, np.int64)
    size = 0
    for j in range(src_node.size):
        v = src_node[j]
        c = src_cost[j]
        if c <= limit and (c < tc[v] or (c == tc[v] and j < ts[v])):
            tc[v], ts[v] = c, j
            if track_length:
                tl[v] = src_length[j]
            size = _push(hc, hk, size, c, (np.int64(j) << 32) | v)
    while size > 0:
        c, key = hc[0], hk[0]  # the root stays until the first entry pushed below replaces it
        s, v = np.int32(key >> 32), key & 0xFFFFFFFF
        _prefetch_next(hc, hk, size, indptr, indices, cost, done, tc, ts, 1)
        if done[v] or ts[v] != s or tc[v] != c:
            size = _pop(hc, hk, size)
            continue
        done[v] = True
        if want[v]:
            missing -= 1
            if missing == 0:
                break
        ln = tl[v] if track_length else c
        _prefetch_neighbours(indptr, indices, v, done, tc, ts, 1)
        root = True
        for e in range(indptr[v], indptr[v + 1]):
            w = indices[e]
            nc = c + cost[e]
            if nc > limit or done[w] or nc > tc[w] or (nc == tc[w] and s >= ts[w]):
                continue
            tc[w], ts[w] = nc, s
            if track_length:
                tl[w] = ln + length[e]
            if root:
                _replace_root(hc, hk, size, nc, (np.int64(s) << 32) | w)
                root = False
                continue
            if size + 5 >= hc.size:
                hc, hk = _grow(hc, hk, size)
            size = _push(hc, hk, size, nc, (np.int64(s) << 32) | w)
        if root:
            size = _pop(hc, hk, size)
    lab_cost = tc.reshape(n, 1)
    return lab_cost, (tl.reshape(n, 1) if track_length else lab_cost.copy()), ts.reshape(n, 1)


def _prefetch_next(hc, hk, size, indptr, indices, cost, flag, tc, ts, k) -> None:
    """Prefetch what the next search step will read: the node of the root's smallest child (the
    next entry popped unless an entry queued meanwhile comes first), its labels, flag and
    edges.  Their cache misses then overlap this step's work instead of stalling the next
    (the search is bound by memory latency: 0.75-0.78 of the kernel time, BENCHMARKS.md)."""
    if size > 1:
        a = 1 + np.int64(_less(hc, hk, 2, 1))
        b = 3 + np.int64(_less(hc, hk, 4, 3))
        w = hk[a + (b - a) * np.int64(_less(hc, hk, b, a))] & 0xFFFFFFFF
        _prefetch(flag, w)
        _prefetch(ts, w * k)
        _prefetch(tc, w * k)
        _prefetch(indptr, w)
        e = indptr[w]
        _prefetch(indices, e)
        _prefetch(cost, e)


def _prefetch_neighbours(indptr, indices, v, flag, tc, ts, k) -> None:
    """Prefetch the flags and labels of every neighbour of ``v`` before the offers read them, so
    their misses overlap (each offer's branches would otherwise wait on its own)."""
    for e in range(indptr[v], indptr[v + 1]):
        w = indices[e]
        _prefetch(flag, w)
        _prefetch(ts, w * k)
        _prefetch(tc, w * k)


def _grow(hc, hk, size):
    """The heap's arrays twice as long, the new slots empty (+inf, :data:`_KEYMAX`)."""
    a, b = np.full(hc.size * 2, np.inf), np.full(hc.size * 2, _KEYMAX, np.int64)
    a[:size], b[:size] = hc[:size], hk[:size]
    return a, b


#: Key of the empty heap slots past the last entry (their cost is +inf): after every real entry.
_KEYMAX = np.int64(0x7FFFFFFFFFFFFFFF)


def _less(hc, hk, x, y):
    """Whether heap entry x comes before entry y in (cost, key) order, without branches (``&``
    and ``|``, not ``and`` / ``or``): which child is smaller is a coin toss a CPU mispredicts
    half the time, so the sift-down selects it arithmetically."""
    return (hc[x] < hc[y]) | ((hc[x] == hc[y]) & (hk[x] < hk[y]))


def _push(hc, hk, size, c, key) -> int:
    """4-ary min-heap on (cost, key): insert and sift up.

    The heap is ``hc`` (costs) and ``hk`` (keys), entries ``0 .. size - 1``; the children of
    entry i are ``4i + 1 .. 4i + 4`` and every slot past the last entry holds (+inf,
    :data:`_KEYMAX`), so a sift-down reads four children without checking how many exist
    (the arrays keep at least 5 spare slots: :func:`_grow`).  Half the levels of a binary
    heap, and each level's smallest child found without branches (:func:`_less`): 0.90 of the
    binary heap's kernel time at k = 3 (BENCHMARKS.md, stop 35).  The order of the entries
    popped is the same whatever the heap's shape ((cost, key) pairs are distinct)."""
    i = size
    while i > 0:
        p = (i - 1) >> 2
        pc = hc[p]
        if pc < c or (pc == c and hk[p] <= key):
            break
        hc[i], hk[i] = pc, hk[p]
        i = p
    hc[i], hk[i] = c, key
    return size + 1


def _pop(hc, hk, size) -> int:
    """Remove the root: move the last entry down to its place (its slot emptied)."""
    size -= 1
    c, key = hc[size], hk[size]
    hc[size], hk[size] = np.inf, _KEYMAX
    if size > 0:
        _replace_root(hc, hk, size, c, key)
    return size


def _replace_root(hc, hk, size, c, key) -> None:
    """Put (c, key) in place of the root and sift it down (a pop and a push in one pass: the
    entry pushed right after a pop costs no less than the popped one, so it usually stays
    near the top, where the last entry a plain pop moves up would sink to the bottom).
    The slots past the end hold +inf, so the four children are compared blindly."""
    i = 0
    while True:
        a = 4 * i + 1
        if a >= size:
            break
        m1 = a + np.int64(_less(hc, hk, a + 1, a))
        m2 = a + 2 + np.int64(_less(hc, hk, a + 3, a + 2))
        m = m1 + (m2 - m1) * np.int64(_less(hc, hk, m2, m1))
        ca = hc[m]
        if c < ca or (c == ca and key <= hk[m]):
            break
        hc[i], hk[i] = ca, hk[m]
        i = m
    hc[i], hk[i] = c, key


__all__ = ["MAX_K", "SearchGraph", "k_nearest_sources", "renumbered", "z_order"]
