"""Turn a pytest ``--durations=N`` report into ``tests/durations.json`` (seconds per test, setup,
call and teardown summed), which ``tests/conftest.py`` reads to start the longest work units first
under ``--dist loadgroup`` (``make test``).

    python -m pytest -n 2 --dist loadgroup --no-loadscope-reorder -q --durations=150 > report.txt
    python benchmarks/test_durations.py report.txt            # writes tests/durations.json

Only the order of the work units depends on these figures; no test reads them.
"""
from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

LINE = re.compile(r"^\s*(\d+(?:\.\d+)?)s (setup|call|teardown)\s+(\S+)\s*$")


def parse(text: str) -> dict[str, float]:
    seconds: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            seconds[m.group(3).split("@")[0]] += float(m.group(1))
    return {k: round(v, 1) for k, v in sorted(seconds.items(), key=lambda kv: -kv[1])}


def main(argv: list[str]) -> int:
    report = Path(argv[0])
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "tests" / "durations.json"
    figures = parse(report.read_text(encoding="utf-8", errors="replace"))
    out.write_text(json.dumps(figures, indent=0) + "\n", encoding="utf-8")
    print(f"{len(figures)} tests, {sum(figures.values()):.0f} s -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
