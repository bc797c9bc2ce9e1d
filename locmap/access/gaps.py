"""Gap areas: where the people beyond pram-pushing distance live, as polygons.

Homes beyond a threshold are binned into a fixed hexagonal grid (anchored at
the CRS origin, so the same cell ids come out of every run); hexagons that
hold people of the chosen band beyond the threshold are joined into
contiguous gap areas (edge-sharing hexagons; connected components on the hex
lattice, so no floating-point touching tests are involved).

Population is conserved: the ``gap_pop_<band>`` column of the returned
polygons sums exactly (up to float rounding) to the people of that band
beyond the threshold - the same figure as ``coverage(...)`` reports for the
borough total.
"""
from __future__ import annotations

from typing import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from locmap import _progress
from locmap.access._common import method_of, points_xy, require, wide_column
from locmap.bands import BANDS

SQRT3 = np.sqrt(3.0)
#: axial-coordinate offsets of the six edge neighbours of a hexagon
_NEIGHBOURS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, -1), (-1, 1))

GAP_COLUMNS = ("gap_id", "service_type", "threshold_minutes", "band", "gap_pop_0_4",
               "gap_pop_5_11", "gap_pop_12_19", "gap_pop_0_19", "gap_pop_total", "n_homes",
               "n_cells", "area_m2", "method", "label", "geometry")


def hex_axial(xy: np.ndarray, cell_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Axial (q, r) coordinates of the pointy-top hexagon holding each point.

    ``cell_m`` is the distance between the centres of neighbouring hexagons
    (= width across flats); circumradius ``cell_m / sqrt(3)``.
    """
    size = cell_m / SQRT3
    x, y = xy[:, 0], xy[:, 1]
    qf = (SQRT3 / 3.0 * x - y / 3.0) / size
    rf = (2.0 / 3.0 * y) / size
    # cube rounding
    sf = -qf - rf
    q, r, s = np.round(qf), np.round(rf), np.round(sf)
    dq, dr, ds = np.abs(q - qf), np.abs(r - rf), np.abs(s - sf)
    fix_q = (dq > dr) & (dq > ds)
    fix_r = ~fix_q & (dr > ds)
    q = np.where(fix_q, -r - s, q)
    r = np.where(fix_r, -q - s, r)
    return q.astype(np.int64), r.astype(np.int64)


def hex_polygons(q: np.ndarray, r: np.ndarray, cell_m: float) -> np.ndarray:
    """Shapely hexagons for axial coordinates (vertices rounded to the millimetre).

    Every vertex is the top or bottom corner of exactly one hexagon of the lattice and is
    computed from that hexagon's integer (q, r) alone, so neighbouring hexagons share
    bit-identical vertices: the cells form an exact coverage, which
    ``shapely.coverage_union_all`` joins without any snapping.
    """
    q = np.asarray(q, dtype=np.int64)
    r = np.asarray(r, dtype=np.int64)
    size = cell_m / SQRT3

    def corner(dq: int, dr: int, up: bool) -> tuple[np.ndarray, np.ndarray]:
        qq, rr = q + dq, r + dr
        cx = size * (SQRT3 * qq + SQRT3 / 2.0 * rr)
        cy = size * (1.5 * rr)
        return cx, (cy + size if up else cy - size)

    # corners at -30, 30, 90, 150, 210, 270 degrees (counter-clockwise), each named by the
    # hexagon whose top (90) or bottom (270) corner it is
    corners = [corner(1, -1, True), corner(0, 1, False), corner(0, 0, True),
               corner(-1, 1, False), corner(0, -1, True), corner(0, 0, False)]
    vx = np.round(np.column_stack([c[0] for c in corners]), 3)
    vy = np.round(np.column_stack([c[1] for c in corners]), 3)
    coords = np.stack([vx, vy], axis=-1)
    coords = np.concatenate([coords, coords[:, :1, :]], axis=1)
    return shapely.polygons(coords)


def _union_by_group(polys: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """One polygon per group of edge-sharing hexagons (``group`` in ``0..n_groups-1``).

    The hexagons tile exactly (:func:`hex_polygons`), so each group is joined with
    ``shapely.coverage_union_all`` (drops the shared edges; no overlay, no snapping);
    a group of one hexagon is that hexagon.
    """
    order = np.argsort(group, kind="stable")
    counts = np.bincount(group, minlength=n_groups)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    sorted_polys = polys[order]
    out = np.empty(n_groups, dtype=object)
    single = counts == 1
    out[single] = sorted_polys[bounds[:-1][single]]
    for g in np.flatnonzero(~single):
        out[g] = shapely.coverage_union_all(sorted_polys[bounds[g]:bounds[g + 1]])
    return out


def gap_polygons(
    wide_homes: gpd.GeoDataFrame,
    service_type: str,
    threshold_minutes: float,
    cell_m: float = 250.0,
    band: str = "pop_0_4",
    bands: Sequence[str] = BANDS,
    dissolve: bool = True,
) -> gpd.GeoDataFrame:
    """Contiguous areas where people of ``band`` live beyond ``threshold_minutes``.

    Parameters
    ----------
    wide_homes : GeoDataFrame
        ``AccessResult.wide`` (points, EPSG:27700) with ``minutes__<type>`` and bands.
    service_type : str
        Service type (or ``"any_key_service"``).
    threshold_minutes : float
        Homes with ``minutes > threshold`` or unreachable are beyond.
    cell_m : float
        Hexagon spacing (centre to centre) in metres.
    band : str
        A hexagon is part of a gap when it holds people of this band beyond the
        threshold (> 0).
    bands : list of str
        Population columns summed into ``gap_<band>`` columns.
    dissolve : bool
        ``True``: one row per contiguous gap area; ``False``: one row per hexagon.

    Returns
    -------
    GeoDataFrame
        ``gap_id, service_type, threshold_minutes, band, gap_pop_0_4, gap_pop_5_11,
        gap_pop_12_19, gap_pop_0_19, gap_pop_total, n_homes, n_cells, area_m2,
        method, label, geometry``, sorted by ``gap_<band>`` descending.  Only
        beyond-threshold homes in gap hexagons are counted.
    """
    return _gaps_for(_GapHomes(wide_homes, band, bands), service_type, threshold_minutes, cell_m,
                     dissolve)


class _GapHomes:
    """The homes' arrays every gap layer reads, taken from the table once (coordinates only when
    a gap needs them) so that all type x threshold layers share them."""

    def __init__(self, wide: gpd.GeoDataFrame, band: str, bands: Sequence[str]) -> None:
        self.wide, self.band, self.bands = wide, band, list(bands)
        self.method, self.label = method_of(wide, None, None)
        self._xy: np.ndarray | None = None
        self._pop: np.ndarray | None = None

    @property
    def xy(self) -> np.ndarray:
        if self._xy is None:
            self._xy = points_xy(self.wide, "homes")
        return self._xy

    @property
    def pop(self) -> np.ndarray:
        if self._pop is None:
            pop = self.wide[self.bands].to_numpy(dtype=float)
            self._pop = np.where(np.isfinite(pop), pop, 0.0)
        return self._pop


def _gaps_for(homes: _GapHomes, service_type: str, threshold_minutes: float, cell_m: float,
              dissolve: bool) -> gpd.GeoDataFrame:
    """:func:`gap_polygons` on the shared arrays of ``homes``."""
    return _gap_frame([_gap_rows(homes, service_type, threshold_minutes, cell_m, dissolve)], homes.wide.crs)


def _gap_rows(homes: _GapHomes, service_type: str, threshold_minutes: float, cell_m: float,
              dissolve: bool) -> dict[str, np.ndarray] | None:
    """The gap areas of one type and threshold as :data:`GAP_COLUMNS` arrays (None: no gap)."""
    if cell_m <= 0:
        raise ValueError("cell_m must be positive")
    wide_homes, band, bands = homes.wide, homes.band, homes.bands
    col = wide_column("minutes", service_type)
    require(wide_homes, (col, band, *bands), "homes (access results)")
    minutes = wide_homes[col].to_numpy(dtype=float)
    beyond = ~(np.isfinite(minutes) & (minutes <= float(threshold_minutes)))
    if not beyond.any():
        return None
    q, r = hex_axial(homes.xy[beyond], cell_m)
    cells = pd.DataFrame(homes.pop[beyond], columns=bands)
    cells["q"], cells["r"] = q, r
    cells["n_homes"] = 1
    agg = cells.groupby(["q", "r"], sort=True).sum().reset_index()
    agg = agg[agg[band] > 0].reset_index(drop=True)
    if len(agg) == 0:
        return None
    return _dissolved(agg, homes, service_type, threshold_minutes, cell_m, dissolve)


def _dissolved(agg: pd.DataFrame, homes: _GapHomes, service_type: str, threshold_minutes: float,
               cell_m: float, dissolve: bool) -> dict[str, np.ndarray]:
    """Gap hexagons (``agg``: q, r, band sums, n_homes) joined into contiguous areas, as the
    :data:`GAP_COLUMNS` arrays sorted by people of the band, largest first (stable)."""
    band, bands = homes.band, homes.bands
    qs, rs = agg["q"].to_numpy(), agg["r"].to_numpy()
    agg["_comp"] = _hex_components(qs, rs) if dissolve else np.arange(len(agg))
    agg["n_cells"] = 1
    sums = agg.groupby("_comp", sort=True)[[*bands, "n_homes", "n_cells"]].sum()
    geoms = _union_by_group(hex_polygons(qs, rs, cell_m), agg["_comp"].to_numpy(), len(sums))
    n = len(sums)
    cols: dict[str, np.ndarray] = {
        "service_type": np.full(n, service_type, dtype=object),
        "threshold_minutes": np.full(n, float(threshold_minutes)),
        "band": np.full(n, band, dtype=object)}
    for b in BANDS:
        cols[f"gap_{b}"] = sums[b].to_numpy(float) if b in sums.columns else np.full(n, np.nan)
    cols["n_homes"] = sums["n_homes"].to_numpy().astype(int)
    cols["n_cells"] = sums["n_cells"].to_numpy().astype(int)
    cols["area_m2"] = shapely.area(geoms)
    cols["method"] = np.full(n, homes.method, dtype=object)
    cols["label"] = np.full(n, homes.label, dtype=object)
    cols["geometry"] = geoms
    # largest first; ties keep their order (pandas' stable descending sort)
    order = pd.Series(cols[f"gap_{band}"]).sort_values(ascending=False, kind="mergesort").index.to_numpy()
    out = {"gap_id": np.array([f"{service_type}-{threshold_minutes:g}-{i + 1}" for i in range(n)], dtype=object)}
    out.update({c: v[order] for c, v in cols.items()})
    return out


def _gap_frame(parts: Sequence[dict[str, np.ndarray] | None], crs) -> gpd.GeoDataFrame:
    """The :data:`GAP_COLUMNS` layer of the stacked ``parts`` (empty when every part is None)."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return gpd.GeoDataFrame({c: [] for c in GAP_COLUMNS if c != "geometry"}, geometry=[], crs=crs)
    data = {c: np.concatenate([p[c] for p in parts]) for c in GAP_COLUMNS}
    geometry = data.pop("geometry")
    frame = pd.DataFrame({c: pd.array(v, dtype="str") if v.dtype == object else v for c, v in data.items()})
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs=crs), crs=crs)


def _hex_components(qs: np.ndarray, rs: np.ndarray) -> np.ndarray:
    """Component label of each hexagon: hexagons sharing an edge are joined (lattice neighbours,
    no floating-point touching tests).  ``(q, r)`` pairs must be unique."""
    n = len(qs)
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    qs = np.asarray(qs, dtype=np.int64)
    rs = np.asarray(rs, dtype=np.int64)
    width = int(rs.max() - rs.min()) + 3  # r - rmin + 1 in 1..width-2: r +/- 1 never wraps
    key = (qs - qs.min()) * width + (rs - rs.min() + 1)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    src, dst = [], []
    for dq, dr in _NEIGHBOURS:
        want = key + dq * width + dr
        pos = np.minimum(np.searchsorted(sorted_key, want), n - 1)
        hit = sorted_key[pos] == want
        src.append(np.flatnonzero(hit))
        dst.append(order[pos[hit]])
    src_a, dst_a = np.concatenate(src), np.concatenate(dst)
    graph = coo_matrix((np.ones(src_a.size), (src_a, dst_a)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def all_gap_polygons(
    wide_homes: gpd.GeoDataFrame,
    service_types: Sequence[str],
    thresholds_minutes: Sequence[float],
    cell_m: float = 250.0,
    band: str = "pop_0_4",
    progress: bool = False,
) -> gpd.GeoDataFrame:
    """:func:`gap_polygons` for every type x threshold, stacked in one layer (``progress``:
    a tqdm bar)."""
    combos = [(t, thr) for t in service_types for thr in thresholds_minutes]
    homes = _GapHomes(wide_homes, band, BANDS)
    parts = [_gap_rows(homes, t, thr, cell_m, True)
             for t, thr in _progress.progress(combos, progress, "gap areas")]
    if all(p is None for p in parts):
        return gap_polygons(wide_homes.iloc[:0], service_types[0] if service_types else "",
                            0.0, cell_m, band) if len(service_types) else \
            gpd.GeoDataFrame(geometry=[], crs=wide_homes.crs)
    return _gap_frame(parts, wide_homes.crs)


def gap_summary(coverage_df: pd.DataFrame, level: str) -> pd.DataFrame:
    """People beyond each threshold per area of one level ("gap children per area").

    Parameters
    ----------
    coverage_df : DataFrame
        Output of :func:`locmap.access.coverage.coverage`.
    level : str
        e.g. ``"ward"``.

    Returns
    -------
    DataFrame
        ``level, area_id, service_type, threshold_minutes, gap_<band>...,
        pct_beyond_<band>..., unreachable_<band>..., method, label``, one row per
        area (``__total__`` last) x type x threshold, sorted by children 0-4
        beyond, largest first within each type and threshold.
    """
    sub = coverage_df[coverage_df["level"] == level]
    if len(sub) == 0:
        raise ValueError(f"level '{level}' not in the coverage table "
                         f"(levels: {sorted(coverage_df['level'].unique())})")
    keys = ["level", "area_id", "service_type", "threshold_minutes"]
    wide = sub.pivot_table(index=keys, columns="band", values=["pop_beyond", "pop_total", "pop_unreachable"],
                           aggfunc="sum")  # one pass for the three measures (a row per key and band: sums of one)
    gap, tot, unr = (wide[m] for m in ("pop_beyond", "pop_total", "pop_unreachable"))
    bands = [b for b in BANDS if b in gap.columns] + [b for b in gap.columns if b not in BANDS]
    out = pd.DataFrame(index=gap.index)
    for b in bands:
        out[f"gap_{b}"] = gap[b]
    for b in bands:
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"pct_beyond_{b}"] = np.where(tot[b] > 0, 100.0 * gap[b] / tot[b], np.nan)
    for b in bands:
        out[f"unreachable_{b}"] = unr[b]
    out = out.reset_index()
    out["method"] = sub["method"].iat[0]
    out["label"] = sub["label"].iat[0]
    out["_is_total"] = out["area_id"] == "__total__"
    sort_col = "gap_pop_0_4" if "gap_pop_0_4" in out.columns else f"gap_{bands[0]}"
    out = out.sort_values(["service_type", "threshold_minutes", "_is_total", sort_col],
                          ascending=[True, True, True, False], kind="mergesort")
    return out.drop(columns="_is_total").reset_index(drop=True)
