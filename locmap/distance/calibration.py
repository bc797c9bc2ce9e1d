"""The circuity an estimated street distance uses for an area: the shipped London model.

Every London area (a borough pack such as ``ealing``, ``london:<borough>``, ``london``) uses the
one model fitted on all London LSOAs (:mod:`locmap.distance.model`, docs/distance-model.md):

    road_m = max(straight_m, intercept_m + circuity * straight_m)

A run's own services never change it.  :func:`calibrate` returns the model's coefficients with
its out-of-sample error (London and the area's boroughs); an area with a borough outside the
model's data is refused with a :class:`~locmap.errors.DistanceModelError` (give a street
network instead).  Caveat: IoD2019 used c. 2016-17 service locations; the GP list of the fit is
2025 (primary schools: the 2016 London Schools Atlas).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from locmap.distance.model import DistanceModel, beyond_interval, errors, london_model
from locmap.errors import DistanceModelError


@dataclass(frozen=True)
class Calibration:
    """The distance model that applies to an area, and its out-of-sample error.

    ``mae_m``, ``r2``, ``median_abs_pct``, ``mean_signed_pct``: London, spatially blocked CV;
    ``area_error``: the same per borough of the area (``lad_cd -> {name, n, mae_m, ...}``);
    ``per_service``: London CV error per service type; ``ratio_low``/``ratio_high``: the 80% band
    of observed / estimated distance.
    """

    model_id: str
    circuity: float
    intercept_m: float
    n: int
    mae_m: float
    r2: float
    median_abs_pct: float
    mean_signed_pct: float
    ratio_low: float
    ratio_high: float
    per_service: dict
    area_error: dict
    label: str
    source: str = "London distance model: OLS on IoD2019 road distances of all London LSOA 2011s"

    def as_dict(self) -> dict:
        return asdict(self)


def check_area(model: DistanceModel, area) -> tuple[str, ...]:
    """The area's borough codes, all inside the model's data; else a :class:`DistanceModelError`."""
    pack = area.pack
    lads = tuple(getattr(pack, "lad_cds", ()) or (pack.lad_cd,))
    outside = [c for c in lads if c not in model.lad_cds]
    if outside:
        raise DistanceModelError(
            f"area pack '{pack.name}' ({getattr(pack, 'path', '')}): borough code(s) {', '.join(outside)} "
            f"lie outside the data of the distance model '{model.id}' (the 33 London boroughs), so no "
            "estimated street distance can be given there")
    return lads


def calibrate(area) -> Calibration:
    """The London model's coefficients and out-of-sample error for ``area`` (its services unused)."""
    model = london_model()
    lads = check_area(model, area)
    rec = model.record
    oos = rec["out_of_sample"]["london"]
    return Calibration(model_id=model.id, circuity=model.circuity, intercept_m=model.intercept_m,
                       n=int(rec["fitted_on"]["pairs"]), mae_m=float(oos["mae_m"]), r2=float(oos["r2"]),
                       median_abs_pct=float(oos["median_abs_pct"]), mean_signed_pct=float(oos["mean_signed_pct"]),
                       ratio_low=model.ratio_low, ratio_high=model.ratio_high,
                       per_service=dict(rec["out_of_sample"]["by_service"]),
                       area_error=model.borough_error(lads), label=model.label)


def model_summary(model: DistanceModel, lad_cds=()) -> dict:
    """Model id, label, coefficients, interval band and out-of-sample error (London + ``lad_cds``)."""
    rec = model.record
    return {"model_id": model.id, "label": model.label, "formula": rec["formula"],
            "coefficients": {"intercept_m": model.intercept_m, "circuity": model.circuity},
            "interval": rec["interval"], "fitted_on": rec["fitted_on"],
            "out_of_sample": {"scheme": rec["out_of_sample"]["scheme"], "london": rec["out_of_sample"]["london"],
                              "boroughs": model.borough_error(lad_cds)}}


def street_check(model: DistanceModel, wide, service_types) -> dict:
    """The model's estimate against the street distances of a run, per service type (homes with
    both): ``estimate = model(straight line to the straight-line nearest)`` vs ``distance_m``."""
    out = {}
    for t in service_types:
        s_col, d_col = f"straight_nearest_m__{t}", f"distance_m__{t}"
        if s_col not in wide or d_col not in wide:
            continue
        s, d = wide[s_col].to_numpy(float), wide[d_col].to_numpy(float)
        ok = np.isfinite(s) & np.isfinite(d) & (d > 0)
        if ok.any():
            est = np.maximum(s[ok], model.intercept_m + model.circuity * s[ok])
            out[t] = errors(d[ok], est)
    return out


def distance_model_record(router, wide, service_types, lad_cds=()) -> dict:
    """``access/distance_model.json`` of a run: the model that applies, or that the street distance
    stands, and then how the model does against this run's street distances."""
    method = str(getattr(router, "method", "estimated"))
    cal = getattr(router, "calibration", None)
    model = london_model()
    if method == "estimated" and cal is None:
        return {"method": method, "model_id": None,
                "note": "estimated distances from a router built by hand (no distance model record)",
                "coefficients": {"intercept_m": getattr(router, "intercept_m", None),
                                 "circuity": getattr(router, "circuity", None)}}
    if method == "estimated":
        return {"method": method, **model_summary(model, tuple(cal.area_error))}
    return {"method": method, "note": "street distances stand; the London model is shown for comparison",
            "comparison_model": model_summary(model, tuple(lad_cds)),
            "estimate_vs_street": street_check(model, wide, service_types)}


def beyond_interval_fields(method: str, homes, minutes, key: str, threshold_min: float,
                           band: str = "pop_0_4") -> dict:
    """``{key_low, key_high}``: the 10th-90th percentile of "% of ``band`` beyond ``threshold_min``"
    over 20 distance-model error fields (:func:`locmap.distance.model.beyond_interval`); ``None``
    for street distances (they stand).  For the London league table."""
    if method != "estimated":
        return {f"{key}_low": None, f"{key}_high": None}
    pop = homes[band].to_numpy(float) if band in homes else np.zeros(len(homes))
    lo, hi = beyond_interval(london_model(), homes.geometry.x.to_numpy(), homes.geometry.y.to_numpy(),
                             minutes, np.nan_to_num(pop), threshold_min)
    return {f"{key}_low": lo, f"{key}_high": hi}


def beyond_interval_columns(key: str, label: str) -> list[tuple[str, str, str, str, str, str]]:
    """League-table columns of :func:`beyond_interval_fields` (blank in the region total)."""
    what = ("over 20 drawn error fields of the London distance model (street / estimate ratios of "
            "held-out 3 km blocks); blank for street distances")
    return [(f"{label}: low (distance model)", "percent", f"10th percentile of the figure {what}", "none",
             f"{key}_low", ""),
            (f"{label}: high (distance model)", "percent", f"90th percentile of the figure {what}", "none",
             f"{key}_high", "")]


__all__ = ["beyond_interval_fields", "beyond_interval_columns", "Calibration", "calibrate", "check_area", "model_summary", "street_check", "distance_model_record"]
