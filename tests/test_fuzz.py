"""CI-sized fuzz run of the service register (benchmarks/fuzz_register.py, 100 inputs in every
user-file format, every 5th drawn as a web map): no crashes (non-locmap exceptions), no silent drops, no
spreadsheet formula in a written CSV, no template text evaluated in a map."""
from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import folium

ROOT = Path(__file__).resolve().parents[1]


def _fuzz_module():
    spec = importlib.util.spec_from_file_location("fuzz_register", ROOT / "benchmarks" / "fuzz_register.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fuzz_register", mod)
    spec.loader.exec_module(mod)
    return mod


fz = _fuzz_module()


def test_fuzz_100_registers_no_crash_no_silent_drop_no_formula_nothing_evaluated(tmp_path):
    s = fz.fuzz(n=100, seed=2024, workdir=tmp_path, map_every=5)
    assert s["inputs"] == 100
    assert s["crashes"] == 0, s["failures"][:3]
    assert s["silent_drops"] == 0, s["failures"][:3]
    assert s["formula_cells"] == 0 and s["csv_cells"] > 1_000, s["failures"][:3]
    assert s["maps"] >= 15 and s["evaluated"] == 0 and s["map_missing"] == 0, s["failures"][:3]
    assert not s["canary_exists_at_end"]
    # every user-file format was tried; most inputs get through (only unparseable files stop
    # with a documented error)
    assert set(s["formats"]) == set(fz.USER_FORMATS)
    assert s["locmap_errors"] < 10
    assert s["read"] > 0 and s["used"] + s["rejected"] == s["read"]


def test_evaluation_signs_are_what_a_template_pass_would_print(tmp_path):
    """The fuzz run's detector can fail: plain folium (no locmap safeguards) evaluates the payloads."""
    m = folium.Map(location=[51.5, -0.3], tiles=None)
    for payload in ("Hub {{7*7}} end", "{% for x in range(3) %}LOOP{% endfor %}", "{{'zz'~(191*7)~'zz'}}"):
        folium.Marker([51.5, -0.3], tooltip=payload).add_to(m)
    page = m.get_root().render()
    assert [s for s in fz.EVALUATED_SIGNS if s in page] == list(fz.EVALUATED_SIGNS)


def test_every_user_format_writer_gives_the_row_count_the_register_reads(tmp_path):
    area = fz.make_area(tmp_path)
    pack = area.pack()
    for i, fmt in enumerate(fz.USER_FORMATS):
        rng = random.Random(i)
        files = fz.random_register_files(area, rng, formats={fmt: 1})
        assert files["user"].notes[-1] == fmt
        reg = fz.build(area, user=True, pack=pack)
        assert not fz.check_accounting(reg, {k: w.n_rows for k, w in files.items()}), fmt
        assert int(reg.accounting.set_index("source_key").loc["user", "read"]) == files["user"].n_rows


def test_benchmarks_section_is_replaced_not_duplicated(tmp_path):
    p = tmp_path / "BENCHMARKS.md"
    p.write_text("# Benchmarks\n\n## Other\n\nkeep me\n")
    fz.update_benchmarks(fz.SECTION + "\n\nfirst\n", p)
    fz.update_benchmarks(fz.SECTION + "\n\nsecond\n", p)
    text = p.read_text()
    assert text.count(fz.SECTION) == 1 and "second" in text and "first" not in text
    assert "## Other\n\nkeep me" in text
