"""2SFCA per area (``fca_by_area``): the demand-weighted mean per level, area, type and threshold
is the group-by on the columns themselves, bit for bit (its integer keys change only the cost),
with homes not found and homes without an area id in ``__unassigned__``."""
from __future__ import annotations

import numpy as np
import pandas as pd

from locmap.access import fca
from locmap.access._common import TOTAL_ID, UNASSIGNED_ID

LEVELS = {"ward": "ward_cd", "town": "town"}


def _reference(ph: pd.DataFrame, homes: pd.DataFrame, band: str) -> pd.DataFrame:
    """The table by pandas group-bys on the text and float columns (the earlier implementation)."""
    pos = fca.home_positions(ph["home_id"], homes["home_id"])
    people = np.append(homes[band].to_numpy(float), np.nan)[pos]
    base = pd.DataFrame({"service_type": ph["service_type"].array, "threshold_minutes": ph["threshold_minutes"].array,
                         "demand": people, "_w": np.nan_to_num(people) * ph["fca_ratio"].to_numpy(float)})
    grp = ["service_type", "threshold_minutes"]
    tot = base.groupby(grp, sort=True)[["demand", "_w"]].sum().reset_index().assign(area_id=TOTAL_ID)
    parts = []
    for lvl, col in LEVELS.items():
        key = pd.concat([homes[col].astype(object), pd.Series([None], dtype=object)], ignore_index=True)
        area = key.where(key.notna(), UNASSIGNED_ID).astype(str).to_numpy()[pos]
        g = base.assign(area_id=area).groupby(grp + ["area_id"], sort=True)[["demand", "_w"]].sum().reset_index()
        parts.append(pd.concat([g, tot], ignore_index=True).assign(level=lvl))
    res = pd.concat(parts, ignore_index=True)
    res["fca_ratio"] = np.where(res["demand"] > 0, res["_w"] / res["demand"], np.nan)
    return res


def test_area_means_are_the_column_group_by_bit_for_bit_with_unassigned_homes():
    rng = np.random.default_rng(3)
    n = 400
    homes = pd.DataFrame({"home_id": pd.Series([f"H{i}" for i in range(n)], dtype="str"),
                          "ward_cd": rng.choice(["W2", "W1", "W3", None], n),
                          "town": rng.choice(["Acton", "Ealing"], n),
                          "pop_0_4": 10.0 ** rng.uniform(-2, 2, n)})
    blocks = []
    for t in ("library", "gp_practice"):
        for thr in (20.0, 10.0, 15.0):
            ids = [f"H{i}" for i in range(n)] + ["ghost"]  # a home not in ``homes``
            blocks.append(pd.DataFrame({"home_id": pd.Series(ids, dtype="str"), "service_type": t,
                                        "threshold_minutes": thr, "demand_band": "pop_0_4",
                                        "fca_ratio": rng.uniform(0, 0.5, len(ids))}))
    ph = pd.concat(blocks, ignore_index=True).assign(method="estimated", label="estimated street distance")
    got = fca.fca_by_area(ph, homes, LEVELS)
    want = _reference(ph, homes, "pop_0_4")
    for col in ("level", "area_id", "service_type", "threshold_minutes"):
        assert got[col].tolist() == want[col].tolist()
    for col in ("demand", "fca_ratio"):
        assert got[col].to_numpy(float).tobytes() == want[col].to_numpy(float).tobytes()
    assert got["fca_per_1000"].to_numpy(float).tobytes() == (want["fca_ratio"] * 1000.0).to_numpy(float).tobytes()
    ward = got[(got["level"] == "ward") & (got["service_type"] == "library") & (got["threshold_minutes"] == 10.0)]
    assert ward["area_id"].tolist() == ["W1", "W2", "W3", UNASSIGNED_ID, TOTAL_ID]
    assert set(got["demand_band"]) == {"pop_0_4"} and set(got["method"]) == {"estimated"}
