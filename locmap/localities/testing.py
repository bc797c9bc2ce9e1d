"""A small synthetic study area for tests and documentation examples of the localities layer.

Not used by any analysis: it lives here (not in ``schemes``) so the package's modules hold
only what runs on real data.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Point, box

from locmap.bands import BANDS
from locmap.localities.schemes import LSOA_ID, units_from_lsoa

#: local authority code of the synthetic area and of its "neighbour"
SYN_LAD, OUTSIDE_LAD = "E09999999", "E09888888"
#: services of each type placed at random inside the area
SYN_SERVICE_TYPES: dict[str, int] = {"childrens_centre": 4, "gp_practice": 6, "library": 3}


def _lsoa(rng: np.random.Generator, nx: int, ny: int, cell_m: float) -> gpd.GeoDataFrame:
    rows = []
    for j in range(ny):
        for i in range(nx):
            code = f"E0100{j:02d}{i:02d}"
            ward = f"W{j // 2}{i // 2}"
            town = "West" if i < nx // 3 else ("Centre" if i < 2 * nx // 3 else "East")
            pcn = f"P{int(j >= ny / 2)}{int(i >= nx / 2)}"
            p019 = float(rng.integers(200, 600))
            p04 = float(np.round(p019 * 0.25))
            p511 = float(np.round(p019 * 0.37))
            rows.append({LSOA_ID: code, "lsoa21nm": f"Syn {j}-{i}", "ward_cd": ward,
                         "ward_nm": f"Ward {ward}", "town": town, "pcn_code": pcn,
                         "pcn_name": f"PCN {pcn}", "lad_cd": SYN_LAD,
                         "pop_total": float(np.round(p019 * 4.2)), "pop_0_4": p04,
                         "pop_5_11": p511, "pop_12_19": p019 - p04 - p511, "pop_0_19": p019,
                         "imd_score": float(rng.uniform(5, 45)),
                         "imd_decile": int(rng.integers(1, 11)),
                         "idaci_decile": int(rng.integers(1, 11)),
                         "idaci_rank": int(rng.integers(1, 33000)),
                         "idaci_numerator": float(rng.integers(10, 150)),
                         "geometry": box(i * cell_m, j * cell_m, (i + 1) * cell_m,
                                         (j + 1) * cell_m)})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:27700")


def _homes(rng: np.random.Generator, lsoa: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Two homes per LSOA, each holding half of its population."""
    homes = []
    for r in lsoa.itertuples():
        x0, y0, x1, y1 = r.geometry.bounds
        for h in range(2):
            pt = Point(rng.uniform(x0 + 50, x1 - 50), rng.uniform(y0 + 50, y1 - 50))
            rec = {"home_id": f"{r.lsoa21cd}_{h}", "postcode": f"SY{h} {r.Index}",
                   LSOA_ID: r.lsoa21cd, "ward_cd": r.ward_cd, "town": r.town,
                   "pcn_code": r.pcn_code, "geometry": pt}
            for b in BANDS:
                rec[b] = getattr(r, b) / 2.0
            homes.append(rec)
    return gpd.GeoDataFrame(homes, geometry="geometry", crs="EPSG:27700")


def _services(rng: np.random.Generator, width_m: float, height_m: float) -> gpd.GeoDataFrame:
    """Random services inside the area plus two just outside it (cross-border)."""
    svc = []
    n = 0
    for t, cnt in SYN_SERVICE_TYPES.items():
        for _ in range(cnt):
            n += 1
            svc.append({"service_id": f"S{n:02d}", "name": f"{t} {n}", "service_type": t,
                        "x": rng.uniform(0, width_m), "y": rng.uniform(0, height_m),
                        "lad_cd": SYN_LAD})
    svc.append({"service_id": "X01", "name": "Outside CC", "service_type": "childrens_centre",
                "x": -300.0, "y": height_m / 2, "lad_cd": OUTSIDE_LAD})
    svc.append({"service_id": "X02", "name": "Outside GP", "service_type": "gp_practice",
                "x": width_m + 300.0, "y": height_m / 3, "lad_cd": OUTSIDE_LAD})
    services = gpd.GeoDataFrame(svc, geometry=gpd.points_from_xy([s["x"] for s in svc],
                                                                  [s["y"] for s in svc]),
                                crs="EPSG:27700")
    services["in_study_area"] = services["lad_cd"] == SYN_LAD
    services["located"] = True
    return services


def _distances(homes: gpd.GeoDataFrame, services: gpd.GeoDataFrame) -> pd.DataFrame:
    """Distance contract: the 3 nearest of each type, straight line x 1.3 at 4 km/h."""
    hx, hy = homes.geometry.x.to_numpy(), homes.geometry.y.to_numpy()
    recs = []
    for t in SYN_SERVICE_TYPES:
        s = services[services["service_type"] == t].reset_index(drop=True)
        d = np.hypot(hx[:, None] - s["x"].to_numpy()[None], hy[:, None] - s["y"].to_numpy()[None])
        order = np.argsort(d, axis=1, kind="stable")[:, :3]
        for hi_, hid in enumerate(homes["home_id"]):
            for rnk, sj in enumerate(order[hi_], start=1):
                st = float(d[hi_, sj])
                recs.append((hid, t, rnk, s["service_id"][sj], st * 1.3, st * 1.3 / (4000 / 60),
                             st, s["lad_cd"][sj], s["lad_cd"][sj] != SYN_LAD, "estimated"))
    return pd.DataFrame(recs, columns=["home_id", "service_type", "rank", "service_id",
                                       "distance_m", "minutes", "straight_m",
                                       "service_lad_cd", "cross_border", "method"])


def synthetic_area(nx: int = 6, ny: int = 5, cell_m: float = 1000.0, seed: int = 0) -> dict:
    """A small synthetic study area for tests and documentation examples.

    ``nx x ny`` square LSOAs (``cell_m`` metres, EPSG:27700) grouped into wards (2 x 2
    LSOAs), three towns (west/centre/east) and four PCNs (quadrants), two homes per LSOA
    carrying its population, and a few services of three types, two of them outside the
    area (``cross_border``).  Returns a dict with ``lsoa, wards, homes, services,
    distances`` (distance contract of docs/architecture.md, straight line x 1.3 at
    4 km/h, method ``estimated``).  The same seed gives the same area.
    """
    rng = np.random.default_rng(seed)
    lsoa = _lsoa(rng, nx, ny, cell_m)
    wards = units_from_lsoa(lsoa, "ward_cd")
    wards["ward_nm"] = "Ward " + wards["ward_cd"]
    homes = _homes(rng, lsoa)
    services = _services(rng, nx * cell_m, ny * cell_m)
    return {"lsoa": lsoa, "wards": wards, "homes": homes, "services": services,
            "distances": _distances(homes, services)}
