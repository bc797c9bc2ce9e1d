"""Static (matplotlib) maps on the synthetic fixture."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
if str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from map_fixtures import make_access, make_area, make_localities  # noqa: E402

from locmap.maps import static as sm  # noqa: E402

DPI = 60  # small for speed; the A4 size check scales with dpi


@pytest.fixture(scope="module")
def area():
    return make_area()


def _pixels(path: Path) -> np.ndarray:
    from PIL import Image  # noqa: PLC0415

    return np.asarray(Image.open(path).convert("L"), dtype=float)


def test_choropleth_a4_png_pdf(area, tmp_path):
    paths = sm.save(sm.plot_choropleth(area, "pop_0_4", paper="A4", dpi=DPI), tmp_path / "need")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.stat().st_size > 1000 for p in paths)
    px = _pixels(paths[0])
    assert px.shape == (int(210 / 25.4 * DPI), int(297 / 25.4 * DPI))  # rows x cols, landscape
    assert px.var() > 100, "blank image"
    assert paths[1].read_bytes().startswith(b"%PDF")


def test_a3_size(area, tmp_path):
    (png,) = sm.save(sm.plot_services(area, paper="A3", dpi=DPI), tmp_path / "svc", formats=("png",))
    assert _pixels(png).shape == (int(297 / 25.4 * DPI), int(420 / 25.4 * DPI))


def test_decile_map(area, tmp_path):
    (png,) = sm.save(sm.plot_choropleth(area, "idaci_decile", dpi=DPI), tmp_path / "idaci", formats=("png",))
    assert _pixels(png).var() > 100


def test_small_multiples_service_types(area, tmp_path):
    acc = make_access(area)
    fig = sm.small_multiples(area, panels=["gp_practice", "library", "childrens_centre"], access=acc, dpi=DPI)
    texts = " ".join(t.get_text() for t in fig.legends[0].texts) + fig.legends[0].get_title().get_text()
    assert "estimated street distance (calibrated)" in texts
    (png,) = sm.save(fig, tmp_path / "sm", formats=("png",))
    assert _pixels(png).var() > 100


def test_small_multiples_localities(area, tmp_path):
    loc, _ = make_localities(area)
    (png,) = sm.save(sm.small_multiples(area, localities=loc, dpi=DPI), tmp_path / "loc", formats=("png",))
    assert _pixels(png).var() > 100


def test_profile_sheet(area, tmp_path):
    loc, card = make_localities(area)
    row = card[card.locality == "Northolt"].iloc[0]
    paths = sm.profile_sheet(area, "Northolt", loc, row, tmp_path / "sheets", dpi=DPI, access=make_access(area))
    assert sorted(p.name for p in paths) == ["Northolt.pdf", "Northolt.png"]
    assert _pixels(paths[0]).var() > 100


def test_profile_sheet_unknown_locality(area, tmp_path):
    from locmap.errors import UnknownAreaError  # noqa: PLC0415

    loc, _ = make_localities(area)
    with pytest.raises(UnknownAreaError, match="Nowhere"):
        sm.profile_sheet(area, "Nowhere", loc, None, tmp_path)


def test_scale_bar_nice_lengths():
    assert sm._nice_length_m(10_000) == 2000
    assert sm._nice_length_m(2_600) == 500
    assert sm._nice_length_m(900) == 100
