"""What a borough leaves in its worker process is released before the next borough.

Over a London batch a worker grew from 752 to 1,171 MB (17 boroughs, BENCHMARKS.md): the last two
loaded areas, the circuity calibration of every borough (with its services frame) and figures
stayed in the process.  ``run_borough`` now releases them when the borough ends, done or not.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from locmap.api import RunOptions
from locmap.batch.borough import BoroughTask, run_borough
from locmap.data import area as area_module
from locmap.distance import calibration
from locmap.errors import DataFileError


def task(tmp_path) -> BoroughTask:
    return BoroughTask(region="london", lad_cd="E09000001", lad_nm="City of London", area="london:city-of-london",
                       out_dir=tmp_path / "city", settings=None, options=RunOptions(), input_hash="0" * 64)


def leave_things_behind() -> None:
    """What a borough's job keeps in the process (an area, a calibration, a figure)."""
    area_module._CACHE["a borough"] = object()
    calibration._CAL_CACHE["a borough"] = (object(), object())
    plt.figure()


def nothing_left() -> bool:
    return len(area_module._CACHE) == 0 and len(calibration._CAL_CACHE) == 0 and plt.get_fignums() == []


def test_a_finished_borough_leaves_no_area_calibration_or_figure_in_the_worker(tmp_path):
    def compute(t, say):
        leave_things_behind()
        return {"lad_cd": t.lad_cd}

    assert run_borough(task(tmp_path), compute=compute).status == "done"
    assert nothing_left()


def test_a_failed_or_crashed_borough_releases_them_too(tmp_path):
    def fails(t, say):
        leave_things_behind()
        raise DataFileError(tmp_path / "services.csv", "no 'easting' value", row=7)

    def crashes(t, say):
        leave_things_behind()
        raise KeyError("pcn_code")

    assert run_borough(task(tmp_path), compute=fails).status == "failed"
    assert nothing_left()
    with pytest.raises(KeyError):
        run_borough(task(tmp_path), compute=crashes)
    assert nothing_left()
