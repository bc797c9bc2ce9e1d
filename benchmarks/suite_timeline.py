"""Where the test suite's time goes, per xdist worker, per file and per test (wall and CPU).

As a pytest plugin it appends one JSON line per test (worker, start, end, CPU of the worker process and
of the children it waited for: subprocesses, kernels, dask clusters torn down in that test) to
``$SUITE_TIMELINE`` (default ``/tmp/suite_timeline.jsonl``)::

    PYTHONPATH=$PWD/benchmarks:$PWD nice /usr/bin/time -v python -m pytest -p suite_timeline \\
        -n 2 --dist loadscope --no-loadscope-reorder -q --durations=0 > report.txt
    python benchmarks/suite_timeline.py /tmp/suite_timeline.jsonl     # the summary

The summary says when each worker finished (an idle worker at the end shows as an earlier end), the
last tests each ran, the files by CPU and the tests by CPU.  A fixture's cost counts in the first
test that asks for it; a module fixture's teardown (a cluster closed) in the module's last test.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict

import pytest

OUT = os.environ.get("SUITE_TIMELINE", "/tmp/suite_timeline.jsonl")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    t0, c0 = time.time(), os.times()
    yield
    t1, c1 = time.time(), os.times()
    record = {"w": os.environ.get("PYTEST_XDIST_WORKER", "main"), "id": item.nodeid, "t0": t0, "t1": t1,
              "cpu": c1.user - c0.user + c1.system - c0.system,
              "ccpu": c1.children_user - c0.children_user + c1.children_system - c0.children_system}
    with open(OUT, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def summary(path: str, top: int = 30) -> str:
    recs = [json.loads(line) for line in open(path, encoding="utf-8")]
    start = min(r["t0"] for r in recs)
    lines = []
    for w in sorted({r["w"] for r in recs}):
        mine = sorted((r for r in recs if r["w"] == w), key=lambda r: r["t0"])
        lines.append(f"{w}: {len(mine)} tests, ends at {mine[-1]['t1'] - start:.0f} s, "
                     f"busy {sum(r['t1'] - r['t0'] for r in mine):.0f} s; last: {mine[-1]['id']}")
    files: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0])
    for r in recs:
        f = files[r["id"].split("::")[0]]
        f[0] += r["t1"] - r["t0"]
        f[1] += r["cpu"]
        f[2] += r["ccpu"]
        f[3] += 1
    lines.append(f"CPU: {sum(r['cpu'] for r in recs):.0f} s in the workers + {sum(r['ccpu'] for r in recs):.0f} s "
                 "in their children\n  wall    cpu  child tests file")
    for name, (wall, cpu, child, n) in sorted(files.items(), key=lambda kv: -(kv[1][1] + kv[1][2]))[:top]:
        lines.append(f"{wall:6.0f} {cpu:6.1f} {child:6.1f} {n:5d} {name}")
    lines.append("  wall    cpu  child test")
    for r in sorted(recs, key=lambda r: -(r["cpu"] + r["ccpu"]))[:top]:
        lines.append(f"{r['t1'] - r['t0']:6.1f} {r['cpu']:6.1f} {r['ccpu']:6.1f} {r['id']}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary(sys.argv[1] if len(sys.argv) > 1 else OUT))
