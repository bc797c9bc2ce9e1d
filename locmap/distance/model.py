"""The London distance model: one ruler for every London run, fitted once and shipped as data.

Where no street network is at hand, locmap estimates the street distance from the straight line
with one model fitted on **every London LSOA 2011** (docs/distance-model.md):

    road_m = intercept_m + circuity * straight_m          (OLS, GP and primary-school pairs pooled)

``straight_m`` is the mean, over the LSOA's residential postcodes (Code-Point Open, usertype 0,
at most 3 postcodes at one point), of the straight-line distance to the nearest open GP practice
(``gp_practices_london.csv``, 2025) / primary school (``schools_london_atlas_2016_london.csv``,
2016: the vintage of IoD2019's services); ``road_m`` is IoD2019's road distance indicator.

LSOA x service pairs at London's edge — where the GLA boundary is nearer to the LSOA's homes
than the nearest London service, so the nearest service may lie outside London and is missing
from the data — are left out of the fit and of the error figures (counted in the model file).

The fitted coefficients and their **out-of-sample** error (spatially blocked cross-validation)
are shipped in ``locmap/distance/models/london-v1.json``; ``locmap calibrate --region london``
refits them from the data and writes the same file.  A run's own services never change the model.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from locmap.errors import DistanceModelError

MODEL_DIR = Path(__file__).parent / "models"
MODEL_ID = "london-v1"
MODEL_FILE = MODEL_DIR / f"{MODEL_ID}.json"

#: input files of the London fit, relative to the data root
LONDON_INPUTS = {
    "postcodes": "boundaries/postcodes/postcodes_london.csv",
    "iod2019": "population/iod2019_lsoa11_london.csv",
    "gp_practice": "services/gp_practices_london.csv",
    "primary_school": "services/schools_london_atlas_2016_london.csv",
    "boroughs": "boundaries/boroughs/london_boroughs.geojson",
}
#: IoD2019 road-distance column per service type
IOD_COLUMNS = {"gp_practice": "road_distance_to_a_gp_surgery_indicator_km",
               "primary_school": "road_distance_to_a_primary_school_indicator_km"}
PRIMARY_PHASES = ("Primary", "All-through", "All Through", "Middle deemed primary")
MAX_STACKED = 3
#: side of the square blocks of the spatially blocked cross-validation (metres)
BLOCK_M = 3000.0
N_FOLDS = 10
SEED = 22
#: the per-home interval is the estimate x these quantiles of observed / predicted (blocked CV)
INTERVAL_QUANTILES = (0.1, 0.9)


def _read(root: Path, key: str) -> pd.DataFrame:
    path = root / LONDON_INPUTS[key]
    if not path.exists():
        raise DistanceModelError(f"{path}: input of the London distance model not found")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _num(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s.replace("", np.nan)).to_numpy(float)


def london_services(root: Path) -> dict[str, np.ndarray]:
    """Service points (x, y EPSG:27700) of the fit: open public GP practices, open primary schools."""
    gp = _read(root, "gp_practice")
    gp = gp[(gp["status_code"] == "A") & (gp["is_care_home_or_special_service"].str.lower() != "true")]
    sc = _read(root, "primary_school")
    sc = sc[sc["phase"].isin(PRIMARY_PHASES) & sc["status_2016"].str.lower().str.startswith("open")]
    out = {}
    for st, df in (("gp_practice", gp), ("primary_school", sc)):
        xy = np.column_stack([_num(df["easting"]), _num(df["northing"])])
        out[st] = xy[np.isfinite(xy).all(axis=1)]
    return out


def _homes(root: Path) -> pd.DataFrame:
    pc = _read(root, "postcodes")
    keep = (pc["usertype"] != "1") & (_num(pc["n_at_same_point"]) <= MAX_STACKED) & (pc["lsoa11cd"] != "")
    pc = pc[keep]
    return pd.DataFrame({"lsoa11cd": pc["lsoa11cd"].to_numpy(), "x": _num(pc["easting"]),
                         "y": _num(pc["northing"])}).dropna()


def london_outline(root: Path):
    path = root / LONDON_INPUTS["boroughs"]
    if not path.exists():
        raise DistanceModelError(f"{path}: input of the London distance model not found")
    return gpd.read_file(path).to_crs(27700).geometry.union_all()


def london_table(root: str | Path) -> pd.DataFrame:
    """Per LSOA 2011 x service type: straight-line (homes) vs IoD2019 road distance, in metres.

    Columns ``lsoa11cd, lad_cd, lad_nm, service_type, straight_m, road_m, x, y, boundary_m, edge``:
    ``x, y`` = mean of the LSOA's homes; ``boundary_m`` = mean distance of its homes to the GLA
    boundary; ``edge`` = the boundary is nearer than the nearest London service (the nearest
    service may lie outside London).  Sorted by LSOA then service type.
    """
    root = Path(root)
    homes = _homes(root)
    xy = homes[["x", "y"]].to_numpy()
    outline = london_outline(root)
    homes["boundary_m"] = gpd.GeoSeries(gpd.points_from_xy(homes["x"], homes["y"])).distance(
        outline.boundary).to_numpy()
    iod = _read(root, "iod2019").set_index("lsoa11cd")
    rows = []
    for st, sxy in london_services(root).items():
        d, _ = cKDTree(sxy).query(xy, k=1)
        per = homes.assign(straight_m=d).groupby("lsoa11cd")[["straight_m", "x", "y", "boundary_m"]].mean()
        per["road_m"] = _num(iod[IOD_COLUMNS[st]].reindex(per.index).fillna("")) * 1000.0
        per["service_type"] = st
        rows.append(per.reset_index())
    t = pd.concat(rows, ignore_index=True)
    t["lad_cd"] = t["lsoa11cd"].map(iod["lad19cd"])
    t["lad_nm"] = t["lsoa11cd"].map(iod["lad19nm"])
    t = t.dropna(subset=["road_m", "lad_cd"])
    t["edge"] = t["boundary_m"] < t["straight_m"]
    cols = ["lsoa11cd", "lad_cd", "lad_nm", "service_type", "straight_m", "road_m", "x", "y", "boundary_m", "edge"]
    return t[cols].sort_values(["lsoa11cd", "service_type"]).reset_index(drop=True)


def fit_line(straight_m: np.ndarray, road_m: np.ndarray) -> tuple[float, float]:
    """OLS ``road = a + b * straight``: ``(intercept_m, circuity)``."""
    b, a = np.polyfit(np.asarray(straight_m, float), np.asarray(road_m, float), 1)
    return float(a), float(b)


def errors(obs_m: np.ndarray, pred_m: np.ndarray) -> dict:
    """MAE (m), median absolute % error, mean signed % error (+ = the model says longer), R², n."""
    obs, pred = np.asarray(obs_m, float), np.asarray(pred_m, float)
    pct = (pred - obs) / obs * 100.0
    ss_tot = float(np.sum((obs - obs.mean()) ** 2))
    r2 = 1.0 - float(np.sum((obs - pred) ** 2)) / ss_tot if ss_tot > 0 else float("nan")
    return {"n": int(obs.size), "mae_m": round(float(np.mean(np.abs(pred - obs))), 1),
            "median_abs_pct": round(float(np.median(np.abs(pct))), 1),
            "mean_signed_pct": round(float(np.mean(pct)), 1), "r2": round(r2, 3)}


def block_folds(x_m: np.ndarray, y_m: np.ndarray, block_m: float = BLOCK_M, n_folds: int = N_FOLDS,
                seed: int = SEED) -> np.ndarray:
    """Fold (0..n_folds-1) of each point: square blocks of ``block_m`` metres, blocks dealt to
    folds at random (``seed``), so a held-out LSOA's neighbours in its block are held out too."""
    bx, by = np.floor(np.asarray(x_m) / block_m), np.floor(np.asarray(y_m) / block_m)
    blocks, inv = np.unique(np.column_stack([bx, by]), axis=0, return_inverse=True)
    fold_of_block = np.random.default_rng(seed).permutation(len(blocks)) % n_folds
    return fold_of_block[inv.reshape(-1)]


def _pooled_cv(t: pd.DataFrame) -> pd.DataFrame:
    """Out-of-sample predictions of the pooled line under spatially blocked CV (column ``pred_m``)."""
    t = t.copy()
    t["fold"] = block_folds(t["x"].to_numpy(), t["y"].to_numpy())
    t["pred_m"] = np.nan
    for f in range(N_FOLDS):
        test = t["fold"] == f
        a, b = fit_line(t.loc[~test, "straight_m"], t.loc[~test, "road_m"])
        t.loc[test, "pred_m"] = np.maximum(t.loc[test, "straight_m"], a + b * t.loc[test, "straight_m"])
    return t


#: a 3 km block enters the local-error distribution when it holds at least this many pairs
MIN_BLOCK_PAIRS = 10
#: quantiles of the block ratio distribution shipped in the model (0.05, 0.15, ..., 0.95)
BLOCK_QUANTILES = tuple(round(0.05 + 0.1 * i, 2) for i in range(10))


def block_ratios(cv: pd.DataFrame) -> dict:
    """Local systematic error: per 3 km block, sum(road) / sum(held-out estimate); its deciles."""
    block = (np.floor(cv["x"] / BLOCK_M).astype(int).astype(str) + "_"
             + np.floor(cv["y"] / BLOCK_M).astype(int).astype(str))
    g = cv.groupby(block)
    ratio = (g["road_m"].sum() / g["pred_m"].sum())[g.size() >= MIN_BLOCK_PAIRS]
    return {"block_m": BLOCK_M, "min_pairs": MIN_BLOCK_PAIRS, "n_blocks": int(ratio.size),
            "quantiles": list(BLOCK_QUANTILES),
            "ratios": [round(float(q), 3) for q in np.quantile(ratio, BLOCK_QUANTILES)],
            "meaning": "street / estimated distance summed over a held-out 3 km block: the error "
                       "shared by neighbouring homes, drawn in the recommendation's sensitivity"}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fit_london(root: str | Path) -> dict:
    """The London model record (what ``locmap calibrate --region london`` writes)."""
    root = Path(root)
    t = london_table(root)
    fit_rows = t[~t["edge"]]
    a, b = fit_line(fit_rows["straight_m"], fit_rows["road_m"])
    cv = _pooled_cv(fit_rows)
    ratio = cv["road_m"] / cv["pred_m"]
    lo, hi = (round(float(q), 3) for q in np.quantile(ratio, INTERVAL_QUANTILES))
    per_borough = {}
    for lad, g in cv.groupby("lad_cd"):
        per_borough[lad] = {"name": g["lad_nm"].iloc[0], **errors(g["road_m"], g["pred_m"])}
    by_service = {st: errors(g["road_m"], g["pred_m"]) for st, g in cv.groupby("service_type")}
    edge = t[t["edge"]]
    return {
        "id": MODEL_ID,
        "formula": "road_m = max(straight_m, intercept_m + circuity * straight_m)",
        "intercept_m": round(a, 2), "circuity": round(b, 5),
        "fitted_on": {"lsoa11": int(fit_rows["lsoa11cd"].nunique()), "pairs": int(len(fit_rows)),
                      "service_types": sorted(IOD_COLUMNS), "edge_pairs_left_out": int(len(edge)),
                      "target": "IoD2019 road distance indicators (LSOA 2011, services c. 2016-17)"},
        "in_sample": errors(fit_rows["road_m"], np.maximum(fit_rows["straight_m"], a + b * fit_rows["straight_m"])),
        "out_of_sample": {"scheme": f"spatially blocked {N_FOLDS}-fold CV, {BLOCK_M:.0f} m blocks, seed {SEED}",
                          "london": errors(cv["road_m"], cv["pred_m"]), "by_service": by_service,
                          "per_borough": per_borough,
                          "edge_pairs": errors(edge["road_m"], np.maximum(edge["straight_m"], a + b * edge["straight_m"]))},
        "local_error": block_ratios(cv),
        "interval": {"quantiles": list(INTERVAL_QUANTILES), "ratio_low": lo, "ratio_high": hi,
                     "meaning": "80% of held-out LSOAs' road distances lay within estimate x [ratio_low, ratio_high]"},
        "inputs": {k: {"path": v, "sha256": _sha256(root / v)} for k, v in LONDON_INPUTS.items()},
    }


def model_json(record: dict) -> str:
    """The model file's text (stable: sorted keys, 2-space indent, trailing newline)."""
    return json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class DistanceModel:
    """A shipped distance model: ``max(straight, intercept_m + circuity * straight)``."""

    id: str
    intercept_m: float
    circuity: float
    typical_error_m: float
    ratio_low: float
    ratio_high: float
    record: dict

    @property
    def label(self) -> str:
        """User-facing label of distances from this model."""
        return (f"estimated street distance (London model {self.id.split('-')[-1]}, "
                f"typical error ±{self.typical_error_m:.0f} m)")

    def interval(self, distance_m) -> tuple[np.ndarray, np.ndarray]:
        """Per-distance 80% interval ``(low_m, high_m)`` from the cross-validated errors."""
        d = np.asarray(distance_m, float)
        return d * self.ratio_low, d * self.ratio_high

    def borough_error(self, lad_cds) -> dict:
        """Out-of-sample error of the listed boroughs (``lad_cd -> record``; unknown codes omitted)."""
        per = self.record["out_of_sample"]["per_borough"]
        return {c: per[c] for c in lad_cds if c in per}

    @property
    def block_ratios(self) -> tuple[float, ...]:
        """Deciles of the 3 km block ratio street / estimate (local systematic error)."""
        return tuple(self.record["local_error"]["ratios"])

    @property
    def lad_cds(self) -> frozenset:
        return frozenset(self.record["out_of_sample"]["per_borough"])


def error_fields(model: DistanceModel, x_m, y_m, n_fields: int, seed: int) -> np.ndarray:
    """``(n_fields, n)`` street / estimate multipliers: every 3 km block of points draws one of the
    model's cross-validated block ratios (uniformly among its deciles), so neighbouring points
    share their error as they do out of sample."""
    block_m = float(model.record["local_error"]["block_m"])
    ratios = np.asarray(model.block_ratios, float)
    keys = np.column_stack([np.floor(np.asarray(x_m, float) / block_m), np.floor(np.asarray(y_m, float) / block_m)])
    if len(keys) == 0:
        return np.ones((n_fields, 0))
    _, block = np.unique(keys, axis=0, return_inverse=True)
    block = block.reshape(-1)
    rng = np.random.default_rng(seed)
    return np.stack([ratios[rng.integers(0, ratios.size, block.max() + 1)][block] for _ in range(n_fields)])


def beyond_interval(model: DistanceModel, x_m, y_m, minutes, people, threshold_min: float,
                    n_fields: int = 20, seed: int = 22) -> tuple[float, float]:
    """10th-90th percentile of the % of ``people`` beyond ``threshold_min`` over ``n_fields``
    distance-error fields (minutes x multiplier; unreachable homes stay beyond)."""
    m = np.asarray(minutes, float)
    pop = np.asarray(people, float)
    total = pop.sum()
    if total <= 0:
        return float("nan"), float("nan")
    f = error_fields(model, x_m, y_m, n_fields, seed)
    pct = np.array([100.0 * pop[~(m * k <= threshold_min)].sum() / total for k in f])
    return float(np.percentile(pct, 10)), float(np.percentile(pct, 90))


def model_from_record(record: dict) -> DistanceModel:
    oos = record["out_of_sample"]["london"]
    return DistanceModel(id=record["id"], intercept_m=float(record["intercept_m"]),
                         circuity=float(record["circuity"]), typical_error_m=float(oos["mae_m"]),
                         ratio_low=float(record["interval"]["ratio_low"]),
                         ratio_high=float(record["interval"]["ratio_high"]), record=record)


@lru_cache(maxsize=1)
def london_model() -> DistanceModel:
    """The shipped London model (``locmap/distance/models/london-v1.json``)."""
    try:
        record = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DistanceModelError(f"{MODEL_FILE}: the shipped London distance model cannot be read ({exc})") from exc
    return model_from_record(record)


__all__ = ["MODEL_ID", "MODEL_FILE", "LONDON_INPUTS", "london_table", "fit_line", "errors", "block_folds",
           "fit_london", "model_json", "DistanceModel", "london_model", "model_from_record", "error_fields",
           "beyond_interval"]
