"""CI-sized fuzz run of the service register (benchmarks/fuzz_register.py, 100 inputs, ~8 s):
no crashes (non-locmap exceptions) and no silent drops."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _fuzz_module():
    spec = importlib.util.spec_from_file_location("fuzz_register", ROOT / "benchmarks" / "fuzz_register.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fuzz_register", mod)
    spec.loader.exec_module(mod)
    return mod


def test_fuzz_100_registers_no_crash_no_silent_drop(tmp_path):
    fz = _fuzz_module()
    s = fz.fuzz(n=100, seed=2024, workdir=tmp_path)
    assert s["inputs"] == 100
    assert s["crashes"] == 0, s["failures"][:3]
    assert s["silent_drops"] == 0, s["failures"][:3]
    # most inputs get through (only unparseable CSVs stop with a documented error)
    assert s["locmap_errors"] < 10
    assert s["read"] > 0 and s["used"] + s["rejected"] == s["read"]


def test_benchmarks_section_is_replaced_not_duplicated(tmp_path):
    fz = _fuzz_module()
    p = tmp_path / "BENCHMARKS.md"
    p.write_text("# Benchmarks\n\n## Other\n\nkeep me\n")
    fz.update_benchmarks(fz.SECTION + "\n\nfirst\n", p)
    fz.update_benchmarks(fz.SECTION + "\n\nsecond\n", p)
    text = p.read_text()
    assert text.count(fz.SECTION) == 1 and "second" in text and "first" not in text
    assert "## Other\n\nkeep me" in text
