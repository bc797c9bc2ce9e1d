"""Static (matplotlib) maps on the synthetic fixture: pages, cartography, palette, reproducibility."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.text import Text
from PIL import Image
from shapely.geometry import box

sys.path.insert(0, str(Path(__file__).resolve().parent))
if str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from map_fixtures import make_access, make_area, make_localities  # noqa: E402

from locmap.errors import UnknownAreaError  # noqa: E402
from locmap.maps import palette  # noqa: E402
from locmap.maps import static as sm  # noqa: E402
from locmap.maps.web import build_map, pretty, render_html  # noqa: E402

DPI = 60  # small for speed; the A4 size check scales with dpi
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def area():
    return make_area()


@pytest.fixture(scope="module")
def sheet_fig(area):
    loc, card = make_localities(area)
    return sm.profile_figure(area, "Northolt", loc, card.iloc[0], dpi=DPI, access=make_access(area))


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"), dtype=float)


def _all_text(fig) -> str:
    return " ".join(" ".join(t.get_text().split()) for t in fig.findobj(Text))


def _legend_labels(fig) -> list[str]:
    return [t.get_text() for leg in fig.legends for t in leg.texts]


# --------------------------------------------------------------------------- pages
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
    assert "distances: estimated street distance (London model v1, typical error ±145 m)" in _all_text(fig)
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
    loc, _ = make_localities(area)
    with pytest.raises(UnknownAreaError, match="Nowhere"):
        sm.profile_sheet(area, "Nowhere", loc, None, tmp_path)


def test_scale_bar_nice_lengths():
    assert sm._nice_length_m(10_000) == 2000
    assert sm._nice_length_m(2_600) == 500
    assert sm._nice_length_m(900) == 100


# --------------------------------------------------------------------------- cartography
def test_service_palette_distinct_in_normal_and_colour_blind_vision():
    colours = [s.colour for s in palette.SERVICE_STYLES.values()]
    assert len(set(colours)) == len(colours) == 9
    normal, pair = palette.min_pairwise_delta_e(colours)
    assert normal >= palette.MIN_DELTA_E00 == 20.0, pair
    for vision in ("deuteranopia", "protanopia"):
        d, pair = palette.min_pairwise_delta_e(colours, vision)
        assert d >= palette.MIN_DELTA_E00_CVD == 10.0, (vision, pair, d)
    # the colours issue 16 found identical are now far apart, also for deuteranopes
    gp, special = (palette.hex_to_rgb(palette.SERVICE_STYLES[t].colour) for t in ("gp_practice", "special_school"))
    lab = palette.rgb_to_lab(palette.simulate_cvd(np.array([gp, special]), "deuteranopia"))
    assert palette.delta_e2000(lab[0], lab[1]) > 25
    # and the old pair really was a clash (the check can fail)
    assert palette.min_pairwise_delta_e(["#0072B2", "#1F77B4"])[0] < 5


def test_ciede2000_matches_sharma_2005_reference_pairs():
    pairs = [((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425),
             ((50, 0, 0), (50, -1, 2), 2.3669),
             ((50, 2.5, 0), (73, 25, -18), 27.1492),
             ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
             ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082)]
    got = palette.delta_e2000(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
    np.testing.assert_allclose(got, [p[2] for p in pairs], atol=1e-4)
    # Machado 2009 deuteranopia keeps greys grey and maps pure red and green close together
    assert np.allclose(palette.simulate_cvd(np.array([0.5, 0.5, 0.5])), 0.5, atol=0.01)
    red, green = palette.simulate_cvd(np.array([[1.0, 0, 0], [0, 0.6, 0]]))
    assert palette.delta_e2000(palette.rgb_to_lab(red), palette.rgb_to_lab(green)) < 15


def test_childrens_centres_are_the_most_prominent_markers(area):
    styles = palette.SERVICE_STYLES
    cc = styles["childrens_centre"]
    assert cc.size_pt == max(s.size_pt for s in styles.values())
    assert palette.by_prominence(["library", "gp_practice", "childrens_centre"])[0] == "childrens_centre"
    fig = sm.plot_services(area, dpi=DPI)
    assert _legend_labels(fig)[0].startswith("Children's centre")
    points = [c for c in fig.axes[0].collections if isinstance(c, PathCollection)]
    top = max(points, key=lambda c: c.get_zorder())
    assert np.allclose(top.get_facecolor()[0][:3], palette.hex_to_rgb(cc.colour))


def test_one_label_vocabulary_in_web_and_print(area):
    assert palette.service_label("childrens_centre") == "Children's centre"
    assert palette.service_label("gp_practice") == "GP practice"
    assert palette.service_label("youth_club") == "Youth club"
    assert palette.service_label("youth_club", {"youth_club": "Youth club / centre"}) == "Youth club / centre"
    types = list(dict.fromkeys(area.services["service_type"]))
    expected = {palette.service_label(t) for t in types}
    labels = {re.sub(r" \(\d+\)$", "", lab) for lab in _legend_labels(sm.plot_services(area, dpi=DPI))}
    assert expected <= labels
    acc = make_access(area)
    titles = [ax.get_title() for ax in sm.small_multiples(area, panels=types, access=acc, dpi=DPI).axes
              if ax.get_title()]
    assert titles == [palette.service_label(t) for t in types]
    page = render_html(build_map(area, layers=("services",), offline=True))
    for t in types:  # layer names reach the page as JSON (folium escapes & as \u0026)
        assert f"Services: {pretty(t)} (".replace("&", "\\u0026") in page, t
    assert "childrens centre" not in _all_text(sm.plot_services(area, dpi=DPI)).lower()


def test_class_labels_never_repeat_a_bound():
    assert palette.class_labels(1220, [1220, 2447.2, 3498]) == ["1,220", "1,220 – 2,447", "2,447 – 3,498"]
    assert palette.class_labels(0.1, [0.12, 0.14]) == ["0.10 – 0.12", "0.12 – 0.14"]
    labels = palette.class_labels(5, [5.2, 5.4, 9])
    assert all(a != b for lab in labels if " – " in lab for a, b in [lab.split(" – ")])


def test_legends_show_the_boundary_lines_drawn(area, sheet_fig):
    choro = _legend_labels(sm.plot_choropleth(area, "pop_0_4", dpi=DPI))
    assert {"Borough boundary", "Town boundary", "Ward boundary"} <= set(choro)
    assert {"This locality", "Other localities", "Borough boundary", "Ward boundary"} <= set(_legend_labels(sheet_fig))


def test_legend_swatches_match_the_fills(sheet_fig):
    ax = sheet_fig.axes[0]
    fills = ax.collections[0].get_facecolor()                # LSOA fills
    patches = [h for leg in sheet_fig.legends for h in leg.get_patches()]
    assert len(patches) >= 3
    swatches = {tuple(np.round(p.get_facecolor(), 3)) for p in patches}
    drawn = {tuple(np.round(f, 3)) for f in fills}
    assert swatches <= drawn | {(1.0, 1.0, 1.0, 1.0)}        # same colour *and* alpha as drawn


def test_map_fills_its_box_and_furniture_sits_beside_it(sheet_fig):
    ax = sheet_fig.axes[0]
    ax.apply_aspect()
    orig, drawn = ax.get_position(original=True), ax.get_position()
    assert drawn.height / orig.height > 0.99 and drawn.width / orig.width > 0.99  # no blank band
    others = [a for a in sheet_fig.axes[1:] if a.get_xlim() != (0.0, 1.0) or a.texts]
    furniture = [a for a in sheet_fig.axes if any(t.get_text() == "N" for t in a.texts)
                 or any(t.get_text().endswith(" m") or t.get_text().endswith(" km") for t in a.texts)]
    assert len(furniture) == 2 and others
    for a in furniture:
        assert not a.get_position().overlaps(drawn)
    (table_ax,) = [a for a in sheet_fig.axes if a.tables]
    legend = sheet_fig.legends[0].get_window_extent().transformed(sheet_fig.transFigure.inverted())
    for other in (drawn, legend, *(a.get_position() for a in furniture)):
        assert not table_ax.get_position().overlaps(other)


@pytest.mark.parametrize("n", range(1, 10))
def test_small_multiples_have_no_empty_panels(n):
    nrows, ncols, legend_in_grid = sm.grid_layout(n, 1.6, 16.0, 9.0)
    empty = nrows * ncols - n
    assert 0 <= empty < ncols                      # never a whole empty row
    assert legend_in_grid == (empty > 0)           # leftover cells hold the legend


def test_small_multiples_legend_takes_the_leftover_cells(area):
    loc, _ = make_localities(area)
    loc3 = loc.iloc[[0, 1, 0]].assign(locality=["A", "B", "C"])
    fig = sm.small_multiples(area, localities=loc3, dpi=DPI, paper="A4")
    maps = [a for a in fig.axes if a.get_title()]
    assert len(maps) == 3
    fig.canvas.draw()
    legend = fig.legends[0].get_window_extent()
    assert not any(legend.overlaps(a.get_window_extent()) for a in maps)


def test_titles_have_plain_words(area, sheet_fig):
    figs = [sm.plot_choropleth(area, "pop_0_19", layer="wards", dpi=DPI),
            sm.plot_choropleth(area, "pop_0_4", layer="pcns", dpi=DPI), sheet_fig,
            sm.small_multiples(area, panels=["gp_practice"], access=make_access(area), dpi=DPI)]
    for fig in figs:
        text = _all_text(fig)
        assert "per wards" not in text and "per pcns" not in text
        assert re.search(r"\([^()]*\(", text) is None, text   # no nested brackets
    assert "per ward" in _all_text(figs[0]) and "per PCN footprint" in _all_text(figs[1])


def test_fills_are_clipped_to_the_borough_outline(area):
    wide = area.lsoa.copy()
    wide.loc[wide.index[0], "geometry"] = wide.geometry.iloc[0].buffer(300)   # spills over the border
    clipped = sm.clip_to_outline(wide, area)
    outline = area.borough.union_all()
    assert wide.geometry.iloc[0].difference(outline).area > 1e4
    assert clipped.geometry.difference(outline.buffer(1e-6)).area.max() < 1e-6
    assert len(clipped) == len(wide)
    assert area.lsoa.geometry.iloc[0].equals(make_area().lsoa.geometry.iloc[0])  # input untouched
    assert box(0, 0, 1, 1).area == 1


# --------------------------------------------------------------------------- files and notebooks
def test_png_and_pdf_are_byte_identical_across_runs_and_have_no_dates(area, tmp_path):
    loc, card = make_localities(area)
    acc = make_access(area)
    first = sm.profile_sheet(area, "Northolt", loc, card.iloc[0], tmp_path / "a", dpi=DPI, access=acc)
    second = sm.profile_sheet(area, "Northolt", loc, card.iloc[0], tmp_path / "b", dpi=DPI, access=acc)
    for p, q in zip(first, second):
        assert p.read_bytes() == q.read_bytes(), p.name
    pdf = first[1].read_bytes()
    assert b"/CreationDate" not in pdf and b"/Creator (locmap)" in pdf
    assert Image.open(first[0]).info.get("Software") == "locmap (matplotlib)"


@pytest.fixture(scope="module")
def other_process(tmp_path_factory) -> tuple[list[str], Path]:
    """One fresh interpreter (another hash seed, no ``MPLBACKEND``) that imports the static maps,
    says which matplotlib backend is selected then, and writes the profile sheet: (that line, the
    folder of the sheet's files).  One process serves both tests below (a process that imports
    the stack costs ~2.5 s of CPU)."""
    folder = tmp_path_factory.mktemp("other_process")
    code = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(ROOT / 'tests')!r}, {str(ROOT)!r}]
        import matplotlib; import locmap.maps.static as sm
        print(matplotlib.rcParams._get_backend_or_none(), flush=True)  # before anything else selects one
        from map_fixtures import make_access, make_area, make_localities
        area = make_area()
        loc, card = make_localities(area)
        sm.profile_sheet(area, "Northolt", loc, card.iloc[0], sys.argv[1], dpi={DPI}, access=make_access(area))
    """)
    seed = "2" if sys.flags.hash_randomization == 0 else "0"
    out = subprocess.run([sys.executable, "-c", code, str(folder / "other")], check=True, capture_output=True,
                         text=True, env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin", "MPLBACKEND": ""},
                         cwd=ROOT, timeout=120).stdout.split()
    return out, folder / "other"


def test_sheet_bytes_identical_in_another_process(area, tmp_path, other_process):
    """A fresh interpreter (another hash seed) writes the same PNG and PDF bytes."""
    _, other = other_process
    loc, card = make_localities(area)
    here = sm.profile_sheet(area, "Northolt", loc, card.iloc[0], tmp_path / "here", dpi=DPI,
                            access=make_access(area))
    assert len(here) >= 2
    for path in here:
        assert (other / path.name).read_bytes() == path.read_bytes(), path.name


def test_importing_static_maps_selects_no_backend(other_process):
    """No ``matplotlib.use("Agg")`` at import: a notebook keeps its inline backend."""
    said, _ = other_process
    assert said == ["None"]


def test_figure_shows_inline_as_png(area):
    fig = sm.plot_services(area, dpi=DPI)
    png = fig._repr_png_()
    assert png.startswith(b"\x89PNG")
    assert Image.open(__import__("io").BytesIO(png)).size[0] == int(297 / 25.4 * DPI)


def test_notebook_cell_returning_a_figure_has_an_image_output(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(ROOT / 'tests')!r}, {str(ROOT)!r}]
        from map_fixtures import make_area
        from locmap.maps import static as sm
        fig = sm.plot_services(make_area(), dpi=40)
        sm.save(fig, {str(tmp_path / 'services')!r}, formats=("png",))
        fig"""))]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs if o.output_type == "stream" and o.name == "stderr"] == []
    data = [o for o in outputs if o.output_type == "execute_result"][0]["data"]
    assert "image/png" in data, json.dumps(list(data))
    assert (tmp_path / "services.png").exists()


# --------------------------------------------------------------------------- print sheet and labels (issue 24)
def _label_boxes(fig):
    from locmap.maps.labels import LABEL_GID, renderer_of, text_box
    renderer = renderer_of(fig)
    return [(t.get_text(), text_box(t, renderer)) for t in fig.findobj(Text) if t.get_gid() == LABEL_GID]


def _assert_no_overlap(boxes):
    for i, (a, bb_a) in enumerate(boxes):
        for b, bb_b in boxes[i + 1:]:
            assert not bb_a.overlaps(bb_b), (a, b)


def test_place_labels_never_overlap_and_name_what_they_leave_off(area):
    from locmap.maps.labels import Label, place_labels
    fig = sm.new_figure("A4", DPI)
    ax = fig.add_axes((0.1, 0.1, 0.3, 0.3))
    sm._map_axes(ax, area.borough.total_bounds)
    cx, cy = area.borough.union_all().centroid.coords[0]
    crowd = [Label(f"Great West Road PCN {i}", cx, cy, priority=-i) for i in range(12)]
    res = place_labels(ax, crowd, fontsize=8)
    boxes = _label_boxes(fig)
    assert [t for t, _ in boxes] == list(res.placed)
    assert 2 <= len(res.placed) < 12            # some moved off the shared anchor, the rest dropped
    assert res.placed[0] == "Great West Road PCN 0"  # the most important keeps the best spot
    _assert_no_overlap(boxes)
    frame = ax.get_window_extent()
    assert all(frame.x0 <= bb.x0 and bb.x1 <= frame.x1 for _, bb in boxes)
    assert res.note.startswith("Names left off where they would overlap: ") and res.dropped[-1] in res.note
    leaders = [ln for ln in ax.lines if len(ln.get_xdata()) == 2]
    assert leaders, "labels moved far from their anchor get a leader line"


def test_static_map_labels_do_not_intersect_and_each_area_is_labelled_once(area):
    import geopandas as gpd
    # a PCN in two polygons (as in Hounslow) is labelled once
    split = gpd.GeoDataFrame(pd.concat([area.pcns, area.pcns.iloc[[0]]], ignore_index=True), crs=area.pcns.crs)
    twin = type("Twin", (), {})()
    for attr in ("lsoa", "wards", "towns", "borough", "services", "name"):
        setattr(twin, attr, getattr(area, attr))
    twin.pcns = split
    for fig in (sm.plot_choropleth(twin, "pop_0_4", layer="pcns", dpi=DPI),
                sm.plot_choropleth(area, "pop_0_19", layer="wards", dpi=DPI),
                sm.plot_services(area, dpi=DPI)):
        boxes = _label_boxes(fig)
        assert boxes
        names = [t for t, _ in boxes]
        assert len(names) == len(set(names)), names
        _assert_no_overlap(boxes)


def test_choropleth_of_areas_of_different_size_maps_a_rate(area):
    fig = sm.plot_choropleth(area, "pop_0_19", layer="wards", per_1000_of="pop_total", dpi=DPI)
    assert "Children and young people 0-19 per 1,000 residents, by ward" in _all_text(fig)
    wards = area.wards.to_crs(27700) if str(area.wards.crs) != "EPSG:27700" else area.wards
    rate = wards["pop_0_19"] / wards["pop_total"] * 1000
    labels = _legend_labels(fig)
    top = max(float(lab.split(" – ")[-1].replace(",", "")) for lab in labels if lab[:1].isdigit())
    assert top == pytest.approx(rate.max(), abs=1.0)


def test_no_class_holds_a_single_area():
    values = pd.Series([1220.0, 2400, 2410, 2450, 2500, 2600, 2650, 2700, 3100, 3150, 3200, 3300])
    classes, bins, _label = sm._classify_no_singletons(values, "NaturalBreaks", 5)
    counts = np.bincount(classes)
    assert counts.min() >= 2 and len(bins) >= 2
    assert "1,220" not in palette.class_labels(values.min(), bins)


def test_services_map_frames_services_across_the_border(area):
    svc = area.services
    far = svc[svc["located"].fillna(False).astype(bool)].iloc[[0]].copy()
    minx, miny, maxx, maxy = area.borough.total_bounds
    far["geometry"] = gpd_point(maxx + 1500, (miny + maxy) / 2)
    twin = type("Twin", (), {})()
    for attr in ("lsoa", "wards", "towns", "borough", "pcns", "name"):
        setattr(twin, attr, getattr(area, attr))
    twin.services = pd.concat([svc, far], ignore_index=True).pipe(lambda d: d.set_crs(svc.crs, allow_override=True))
    fig = sm.plot_services(twin, dpi=DPI)
    assert fig.axes[0].get_xlim()[1] > maxx + 1500


def gpd_point(x, y):
    from shapely.geometry import Point
    return [Point(x, y)]


def _ink_free_margin_mm(png: Path, dpi: int) -> float:
    px = _pixels(png)
    ink = px < 245
    rows, cols = np.where(ink.any(axis=1))[0], np.where(ink.any(axis=0))[0]
    h, w = px.shape
    edges_px = min(rows.min(), h - 1 - rows.max(), cols.min(), w - 1 - cols.max())
    return edges_px / dpi * 25.4


@pytest.mark.parametrize("paper", ["A4", "A3"])
def test_print_pages_keep_a_10_mm_margin(area, tmp_path, paper):
    loc, card = make_localities(area)
    figs = {"sheet": sm.profile_figure(area, "Northolt", loc, card.iloc[0], dpi=DPI, paper=paper,
                                       access=make_access(area), status="recommended"),
            "choropleth": sm.plot_choropleth(area, "pop_0_4", dpi=DPI, paper=paper),
            "services": sm.plot_services(area, dpi=DPI, paper=paper),
            "multiples": sm.small_multiples(area, panels=["gp_practice", "library"], access=make_access(area),
                                            dpi=DPI, paper=paper)}
    for name, fig in figs.items():
        (png,) = sm.save(fig, tmp_path / name, formats=("png",))
        assert _ink_free_margin_mm(png, DPI) >= 10.0, name


def test_sheet_states_status_date_hub_sites_and_units(area):
    loc, card = make_localities(area)
    row = dict(card.iloc[0]) | {"pop_total": 33595.0, "gap_children": 46.9, "pct_gap_children": 0.5,
                                "align_town_share": 1.0, "gap_threshold_min": 15.0, "n_childrens_centre": 1,
                                "pct_children_within_15min_any_key": 99.5}
    x, y = area.lsoa.geometry.iloc[0].centroid.coords[0]
    hubs = pd.DataFrame({"model": ["mclp", "pmedian"], "site_id": ["s1", "s1"], "name": ["Viking School"] * 2,
                         "x": [x, x], "y": [y, y]})
    fig = sm.profile_figure(area, "Northolt", loc, row, dpi=DPI, access=make_access(area), status="runner-up",
                            hub_sites=hubs, made_on="2026-12-07")
    text = _all_text(fig)
    assert "RUNNER-UP" in text and "Made on 2026-12-07" in text
    assert "1 Viking School (most children covered, shortest total distance)" in text
    figures = dict(sm._key_figures(row))
    assert figures["Children 0-19 beyond 15 min of every key service"] == "47 children"   # whole children
    assert figures["Population, all ages"] == "33,595 people"
    assert figures["Children 0-19 in the main town"] == "100%"                             # no 1.00 by percentages
    assert figures["Children's centres inside the locality"] == "1 centre"
    assert figures["Children 0-19 within 15 min of any key service"] == "99.5%"
    for value in figures.values():
        assert re.search(r"[a-z%]", value), value                                         # every figure has a unit
    with pytest.raises(ValueError, match="status"):
        sm.profile_figure(area, "Northolt", loc, row, dpi=DPI, status="best")


def test_far_homes_are_ringed_so_they_show_on_any_fill(sheet_fig):
    far = [c for c in sheet_fig.axes[0].collections if isinstance(c, PathCollection)
           and len(c.get_facecolor()) and np.allclose(c.get_facecolor()[0][:3], 0)]
    assert far, "homes beyond the threshold are black dots"
    assert np.allclose(far[0].get_edgecolor()[0][:3], 1) and far[0].get_linewidths()[0] > 0  # white ring


def test_every_key_figure_label_and_value_fits_inside_its_cell_on_the_a4_sheet():
    """The longest labels of SHEET_FIGURES ("... in the main PCN footprint (approximate)") were cut
    off at the cell's edge: matplotlib pads 10 % of a cell's width by default."""
    import matplotlib.pyplot as plt  # noqa: PLC0415

    rows = [(label.format(gap="15"), "9,008 young people") for _, label, _ in sm.SHEET_FIGURES][:22]
    fig = plt.figure(figsize=(11.69, 8.27), dpi=100)
    try:
        sm._key_figures_table(fig, rows, top=0.55, bottom=0.2, left=0.62, right=1 - 0.04 - 0.006)
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        table = fig.axes[-1].tables[0]
        cells = table.get_celld()
        assert len(cells) == 2 * (len(rows) + 1)
        for cell in cells.values():
            box_px, text_px = cell.get_window_extent(renderer), cell.get_text().get_window_extent(renderer)
            assert box_px.x0 <= text_px.x0 and text_px.x1 <= box_px.x1, cell.get_text().get_text()
    finally:
        plt.close(fig)


def test_a_page_is_drawn_when_saved_not_while_it_is_built(area, tmp_path, monkeypatch):
    """Building a page (geopandas asks the canvas to redraw after each layer, once label placement
    has attached a canvas) draws nothing; saving it as a PNG draws it once."""
    draws = []
    real_draw = sm.SheetFigure.draw
    monkeypatch.setattr(sm.SheetFigure, "draw", lambda fig, renderer: draws.append(1) or real_draw(fig, renderer))
    fig = sm.small_multiples(area, panels=["gp_practice", "library", "childrens_centre"], access=make_access(area),
                             dpi=DPI)
    assert draws == []
    (png,) = sm.save(fig, tmp_path / "sm", formats=("png",))
    assert draws == [1] and _pixels(png).var() > 100
