"""Calibrated circuity: estimated street distance where no street network is at hand.

IoD2019 publishes, for every LSOA 2011, the population-weighted mean *road* distance (km)
to the nearest GP surgery and to the nearest primary school.  We compute the same quantity
in straight line — mean over the LSOA's residential postcodes of the straight-line
distance to the nearest GP practice / primary school in the register — and fit

    road_m = intercept_m + circuity * straight_m      (ordinary least squares, both services pooled)

reporting MAE and R² (and the ratio-only fit for comparison).  The fitted model drives
:class:`locmap.distance.routing.EstimatedRouter` (chosen by
:func:`locmap.distance.routing.default_router` when no street network was asked for); every
output then says "estimated street distance (calibrated)".  Caveat: IoD2019 used c. 2016-17 service
locations; the registers here are 2025-26 (documented in docs/decisions.md).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from locmap.errors import EmptyServiceTypeError, NetworkError
from locmap.data.population import deprivation_2019

#: IoD2019 indicator -> service type of the register
CALIBRATION_PAIRS = {"road_km_gp": "gp_practice", "road_km_primary": "primary_school"}


@dataclass(frozen=True)
class Calibration:
    """Fitted circuity model and its error on the calibration data."""

    circuity: float
    intercept_m: float
    n: int
    mae_m: float
    rmse_m: float
    r2: float
    ratio_only_circuity: float
    ratio_only_mae_m: float
    ratio_only_r2: float
    per_service: dict
    source: str = "IoD2019 road distance indicators (LSOA 2011)"

    def as_dict(self) -> dict:
        return asdict(self)


def _r2(y, yhat) -> float:
    ss_res = float(np.sum((y - yhat) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def calibration_table(area) -> pd.DataFrame:
    """Per LSOA 2011 x service: mean straight-line distance from homes vs IoD2019 road distance (metres)."""
    pack, root = area.pack, area.settings.resolve_data_root()
    iod = deprivation_2019(pack, root)
    homes = area.homes[area.homes["postcode"].notna()].copy()
    homes["lsoa11cd"] = homes["postcode"].map(area.postcodes["lsoa11cd"])
    homes = homes[homes["lsoa11cd"].notna()]
    xy = np.column_stack([homes.geometry.x, homes.geometry.y])
    rows = []
    for col, stype in CALIBRATION_PAIRS.items():
        svc = area.located_services(stype)
        if svc.empty:
            raise EmptyServiceTypeError(f"no located '{stype}' services to calibrate against")
        d, _ = cKDTree(np.column_stack([svc.geometry.x, svc.geometry.y])).query(xy, k=1)
        per = pd.Series(d, index=homes.index).groupby(homes["lsoa11cd"]).mean()
        t = iod.set_index("lsoa11cd")[col].reindex(per.index) * 1000.0
        rows.append(pd.DataFrame({"lsoa11cd": per.index, "service_type": stype, "straight_m": per.to_numpy(),
                                  "road_m": t.to_numpy()}))
    out = pd.concat(rows, ignore_index=True).dropna()
    return out


def fit_circuity(table: pd.DataFrame) -> Calibration:
    """Least-squares fits of road vs straight-line distance (metres); see module docstring."""
    x = table["straight_m"].to_numpy(float)
    y = table["road_m"].to_numpy(float)
    if len(x) < 10:
        raise NetworkError(f"only {len(x)} calibration pairs: cannot calibrate circuity")
    b, a = np.polyfit(x, y, 1)
    if b < 1.0:  # keep the estimate >= straight line; fall back to ratio model
        b, a = float(np.sum(x * y) / np.sum(x * x)), 0.0
    yhat = a + b * x
    ratio = float(np.sum(x * y) / np.sum(x * x))
    yr = ratio * x
    per = {}
    for st, g in table.groupby("service_type"):
        gx, gy = g["straight_m"].to_numpy(float), g["road_m"].to_numpy(float)
        gh = a + b * gx
        per[st] = {"n": int(len(g)), "mae_m": float(np.mean(np.abs(gy - gh))), "r2": _r2(gy, gh),
                   "mean_road_m": float(gy.mean()), "mean_straight_m": float(gx.mean())}
    return Calibration(circuity=float(b), intercept_m=float(a), n=int(len(x)),
                       mae_m=float(np.mean(np.abs(y - yhat))), rmse_m=float(np.sqrt(np.mean((y - yhat) ** 2))),
                       r2=_r2(y, yhat), ratio_only_circuity=ratio, ratio_only_mae_m=float(np.mean(np.abs(y - yr))),
                       ratio_only_r2=_r2(y, yr), per_service=per)


_CAL_CACHE: dict = {}


def calibrate(area) -> Calibration:
    """Calibrate the circuity model on an area (cached per area in this process)."""
    key = (area.pack.name, str(area.settings.resolve_data_root()), id(area.services))
    if key not in _CAL_CACHE:
        # the cache keeps a reference to the services frame, so its id cannot be reused
        _CAL_CACHE[key] = (area.services, fit_circuity(calibration_table(area)))
    return _CAL_CACHE[key][1]


__all__ = ["CALIBRATION_PAIRS", "Calibration", "calibration_table", "fit_circuity", "calibrate"]
