"""folium map builder and offline export, on the synthetic fixture (no browser needed)."""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))
if str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from map_fixtures import (XSS_IMG, XSS_SCRIPT, XSS_TEMPLATE, make_access, make_area,  # noqa: E402
                          make_gaps, make_localities)

from locmap import export  # noqa: E402
from locmap.maps import web  # noqa: E402
from locmap.export import ATTRIBUTION  # noqa: E402
from locmap.maps.palette import GAP_COLOUR  # noqa: E402
from locmap.maps.web import (GAP_FILL_OPACITY, NEED_FILL_OPACITY, build_map, clip_to_outline,  # noqa: E402
                             render_html, safe_text)
from locmap.maps.offline import OfflineAssetError, external_assets, make_self_contained, save_map  # noqa: E402


@pytest.fixture(scope="module")
def area():
    return make_area()


@pytest.fixture(scope="module")
def full(area):
    loc, card = make_localities(area)
    return dict(access=make_access(area), gaps=make_gaps(area), localities=loc, scorecard=card)


@pytest.fixture(scope="module")
def page(area, full):
    return render_html(build_map(area, **full))


@pytest.fixture(scope="module")
def offline_page(area, full):
    return make_self_contained(render_html(build_map(area, offline=True, **full)))


def test_layers_present(page):
    for name in ("Borough boundary", "Wards", "Towns", "PCN footprints (approximate)", "LSOAs (2021)",
                 "Neighbouring wards (across the border)", "Need: children 0-4 per LSOA",
                 "Deprivation: IDACI decile (IoD2025)", "Pram distance to GP practice",
                 "Gap areas: GP practice beyond 15 min", "Candidate localities",
                 "Services: GP practice (5)"):
        assert name in page, name
    assert "L.control.layers" in page
    assert "L.control.scale" in page
    assert "Control.FullScreen" in page or "fullscreen" in page.lower()


def test_legend_and_scheme(page):
    assert "locmap-legend" in page
    assert "Classes: Natural breaks (k-means), 5 classes" in page
    assert "estimated street distance (London model v1, typical error ±145 m)" in page
    assert "Not on the map (no location): 2" in page


def test_street_method_label(area, full):
    acc = full["access"].assign(method="street")
    html = render_html(build_map(area, layers=("access",), access=acc))
    assert "street distance" in html and "estimated street distance" not in html


def test_attribution_in_tiles_and_panel(page):
    assert "locmap-attribution" in page
    assert page.count("Open Government Licence v3.0") >= 1
    assert "Tiles \\u00a9 OpenStreetMap contributors" in page  # the tile layer (JSON options)
    assert "OpenStreetMap contributors" in page


def test_names_escaped(page, offline_page):
    for p in (page, offline_page):
        assert XSS_SCRIPT not in p
        assert XSS_IMG not in p
        assert "</script><script>window.__xss" not in p
        assert "${window.__xss" not in p
        assert safe_text(XSS_SCRIPT) in p
        assert "&lt;b&gt;Outreach&lt;/b&gt; Team" in p
    # no script element is opened by data: every <script> in the page is folium's own
    assert all("window.__xss" not in s for s in re.findall(r"<script[^>]*>([^<]{0,200})", page))


def test_safe_text():
    assert safe_text(XSS_TEMPLATE) == "Tick &#96;&#36;&#123;window.__xss=1&#125;&#96; &#92; &amp; Co"
    assert safe_text("{{7*7}} {% x %} {# c") == ("&#123;&#123;7*7&#125;&#125; &#123;&#37; x &#37;&#125; "
                                               "&#123;&#35; c")
    assert safe_text(None) == "" and safe_text(float("nan")) == ""
    assert safe_text(3) == "3"


def test_inputs_not_mutated(area, full):
    before = {k: (v.copy(), list(v.columns)) for k, v in full.items()}
    wards = area.wards.copy()
    build_map(area, **full)
    for k, (copy, cols) in before.items():
        assert list(full[k].columns) == cols
        assert full[k].equals(copy), k
    assert area.wards.equals(wards)
    assert str(area.wards.crs) == "EPSG:27700"


def test_offline_self_contained(offline_page):
    assert external_assets(offline_page) == []
    assert "Offline copy: background map tiles need internet" in offline_page
    assert "data:image/png;base64," in offline_page
    assert "cdn.jsdelivr" not in offline_page and "code.jquery.com" not in offline_page
    assert "bootstrap" not in offline_page.lower()


def test_offline_refuses_plugins(area):
    with pytest.raises(OfflineAssetError, match="leaflet-search|FullScreen"):
        make_self_contained(render_html(build_map(area, layers=("boundaries",))))


def test_unknown_layer(area):
    with pytest.raises(ValueError, match="unknown map layer"):
        build_map(area, layers=("nope",))


def test_save_atomic_keeps_old_file(area, tmp_path, monkeypatch):
    m = build_map(area, layers=("boundaries",), offline=True)
    target = tmp_path / "map.html"
    save_map(m, target, offline=True)
    old = target.read_bytes()

    def broken(self, *a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", broken)
    with pytest.raises(OSError, match="disk full"):
        save_map(m, target, offline=True)
    assert target.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["map.html"]
    assert export.write_text  # writer used by save_map


def test_html_size_small(offline_page):
    assert len(offline_page.encode()) < 1_000_000


@pytest.fixture(scope="module")
def other_process(tmp_path_factory) -> tuple[str, Path]:
    """One fresh interpreter (another hash seed) that classifies with the need maps' classes and
    says whether that imported mapclassify or numba, then builds and saves the offline map: (that
    line, the saved page).  One process serves both tests that need one (a process that imports
    the stack costs ~2.5 s of CPU)."""
    root = Path(__file__).resolve().parent.parent
    page = tmp_path_factory.mktemp("other_process") / "other.html"
    code = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(root / 'tests')!r}, {str(root)!r}]
        import pandas as pd
        from locmap.maps import web
        classes, bins, label = web.classify(pd.Series([1.0, 2.0, 5.0, 9.0, 30.0, 31.0, 70.0]), k=3)
        print(classes.tolist(), bins, label, "mapclassify" in sys.modules, "numba" in sys.modules, flush=True)
        from map_fixtures import make_access, make_area, make_gaps, make_localities
        from locmap.maps.web import build_map
        from locmap.maps.offline import save_map
        area = make_area()
        loc, card = make_localities(area)
        m = build_map(area, offline=True, access=make_access(area), gaps=make_gaps(area), localities=loc,
                      scorecard=card)
        save_map(m, sys.argv[1], offline=True)
    """)
    seed = "2" if sys.flags.hash_randomization == 0 else "0"
    said = subprocess.run([sys.executable, "-c", code, str(page)], check=True, timeout=120, capture_output=True,
                          text=True, env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout.strip()
    return said, page


def test_html_is_byte_identical_across_builds_and_processes(area, full, tmp_path, other_process):
    first = render_html(build_map(area, offline=True, **full))
    assert render_html(build_map(area, offline=True, **full)) == first
    assert re.search(r"map_[0-9a-f]{32}", first).group(0) == "map_" + "0" * 31 + "2"  # numbered, not random
    here = save_map(build_map(area, offline=True, **full), tmp_path / "here.html", offline=True)
    assert other_process[1].read_bytes() == here.read_bytes()


def test_legend_swatches_have_the_fill_opacity_of_the_layer(page):
    legend = page[page.index("locmap-legend"):]
    assert re.search(rf"background:rgba\(\d+,\d+,\d+,{NEED_FILL_OPACITY:g}\)", legend)
    assert f"rgba(47,108,142,{GAP_FILL_OPACITY:g});border:2px dashed {GAP_COLOUR}" in legend
    assert f'"fillOpacity": {NEED_FILL_OPACITY}' in page


def test_need_fills_are_clipped_to_the_borough(area):
    spilled = area.lsoa.assign(geometry=area.lsoa.geometry.buffer(200))
    clipped = clip_to_outline(spilled, area)
    assert clipped.geometry.difference(area.borough.union_all().buffer(1e-6)).area.max() < 1e-6
    assert clipped.geometry.area.sum() < spilled.geometry.area.sum()


def test_a_clipped_polygon_touching_the_outline_along_an_edge_stays_a_polygon():
    # the London LSOA layer: clipping gave Polygon + LineString collections, which Leaflet's
    # tooltips skip (found running the 33-borough batch: Hackney 031B, Southwark 004D)
    square = shapely.box(0, 0, 10, 10)
    outline = shapely.union_all([shapely.box(0, 0, 5, 10), shapely.box(10, 0, 15, 10)])
    assert square.intersection(outline).geom_type == "GeometryCollection"
    lsoa = gpd.GeoDataFrame({"id": ["a"]}, geometry=[square], crs="EPSG:27700")
    area = SimpleNamespace(borough=gpd.GeoDataFrame(geometry=[outline], crs="EPSG:27700"))
    clipped = clip_to_outline(lsoa, area)
    assert clipped.geom_type.tolist() == ["Polygon"] and clipped.area.iloc[0] == 50.0


def test_crossborder_layers_show_the_ward_share_whose_nearest_service_is_across_the_border(ealing):
    """Real Ealing: one layer per key type; Southfield's nearest library is across the border for most children."""
    from locmap import api
    from locmap.maps.web import build_map, render_html

    s = ealing.settings.with_(progress=False)
    acc = api.analyse_access(ealing, s, fca=False)
    shares = acc.crossborder_shares
    lib = shares[(shares["level"] == "ward") & (shares["band"] == "pop_0_4")
                 & (shares["service_type"] == "library")].set_index("area_name")
    assert lib.loc["Southfield", "share_cross_border"] > 0.5
    html = render_html(build_map(ealing, layers=("crossborder",), crossborder=shares, offline=True))
    assert "Across the border: nearest library" in html and "Across the border: nearest GP practice" in html
    assert html.count("Across the border: nearest ") >= 4


def test_classifying_the_same_values_again_gives_the_same_classes_without_sharing_them():
    """A run's online map, offline map and sheet classify the same need column: the second call
    is the first's result (seeded k-means), and what one caller changes the next does not see."""
    values = pd.Series([3.0, 1.0, np.nan, 40.0, 41.0, 7.0, 8.0, 90.0, 95.0, 2.0, 60.0, 61.0])
    web._classes_of.cache_clear()
    first, bins, label = web.classify(values, k=4)
    assert web._classes_of.cache_info().misses == 1
    first_copy = first.copy()
    first[:] = 99
    bins.append(-1.0)
    second, bins2, label2 = web.classify(values.copy(), k=4)
    assert web._classes_of.cache_info().hits == 1
    assert second.tolist() == first_copy.tolist() and second[2] == -1  # the blank stays unclassified
    assert bins2 == sorted(bins2) and -1.0 not in bins2 and label2 == label == "Natural breaks (k-means), 4 classes"


@pytest.mark.parametrize("n, k", [(12, 4), (199, 5), (300, 5), (700, 7)])
def test_natural_breaks_are_mapclassifys_natural_breaks(n, k):
    """Same classes and bounds as ``mapclassify.NaturalBreaks(values, k, initial=20)`` after
    ``numpy.random.seed(0)`` (what maps used before), also above scikit-learn's 256-value chunks."""
    import mapclassify  # noqa: PLC0415  (the reference; locmap no longer imports it for natural breaks)

    values = np.round(np.random.default_rng(n).gamma(2.0, 60.0, n), 3)
    np.random.seed(0)
    ref = mapclassify.NaturalBreaks(values.copy(), k=k, initial=20)
    classes, bins = web.natural_breaks(values, k)
    assert classes.tolist() == ref.yb.tolist() and bins.tolist() == ref.bins.tolist()
    assert len(bins) == k and bins[-1] == values.max()
    assert all(values[classes == c].max() == bins[c] for c in range(k))  # each bound: its class's largest value


def test_natural_breaks_leave_numpys_global_generator_alone():
    np.random.seed(7)
    expected = np.random.random(3)
    np.random.seed(7)
    web.natural_breaks(np.arange(50.0) ** 2, 5)
    assert np.random.random(3).tolist() == expected.tolist()


def test_need_maps_and_sheet_classes_import_no_mapclassify_or_numba(other_process):
    """mapclassify's import compiles a numba function (~1-2 s) that natural breaks never use."""
    said, _ = other_process  # what the fresh interpreter said right after classifying
    assert said == "[0, 0, 0, 0, 1, 1, 2] [9.0, 31.0, 70.0] Natural breaks (k-means), 3 classes False False"


def test_both_html_variants_carry_the_same_layers_built_once(area, full, monkeypatch):
    """``build_maps`` draws the layers once (the map is copied per variant) and gives, byte for
    byte, the pages ``build_map`` gives for each flag."""
    one_at_a_time = [render_html(build_map(area, offline=flag, **full)) for flag in (False, True)]
    calls = []
    real = web._add_layers
    monkeypatch.setattr(web, "_add_layers", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    online, offline = web.build_maps(area, variants=(False, True), **full)
    assert len(calls) == 1
    assert [render_html(online), render_html(offline)] == one_at_a_time
    assert online._locmap_offline is False and offline._locmap_offline is True
    # the layers are the same, each map holds its own copy
    names = [[c.layer_name for c in m._children.values() if isinstance(c, web.folium.FeatureGroup)]
             for m in (online, offline)]
    assert names[0] == names[1] and len(names[0]) >= 5
    assert not set(map(id, online._children.values())) & set(map(id, offline._children.values()))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="fork is POSIX-only")
def test_natural_breaks_finish_in_a_child_forked_after_the_parent_ran_k_means_on_threads():
    """GNU OpenMP's thread pool deadlocks a forked child that runs OpenMP on several threads after
    the parent did (why ``locmap run`` kept the maps in the main process); natural breaks run on
    one OpenMP thread, which never waits for the parent's pool."""
    root = Path(__file__).resolve().parent.parent
    code = textwrap.dedent(f"""
        import os, sys, time
        sys.path[:0] = [{str(root)!r}]
        import numpy as np
        from sklearn.cluster import KMeans
        from threadpoolctl import threadpool_limits
        from locmap.maps.web import natural_breaks
        values = np.random.default_rng(0).gamma(2.0, 50.0, 5000)
        with threadpool_limits(limits=2, user_api="openmp"):  # the parent's pool: two threads
            KMeans(n_clusters=5, n_init=3, random_state=0).fit(values.reshape(-1, 1))
        pid = os.fork()
        if pid == 0:
            classes, bins = natural_breaks(values[:199], 5)
            os._exit(0 if len(bins) == 5 else 3)
        for _ in range(600):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                sys.exit(os.waitstatus_to_exitcode(status))
            time.sleep(0.1)
        os.kill(pid, 9)
        sys.exit("the forked child hung")
    """)
    proc = subprocess.run([sys.executable, "-c", code], timeout=180, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
