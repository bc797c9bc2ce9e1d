"""CPU time of the steps ``locmap run`` does in its second process: the access tables, their
writes, the workbook (issue 27, item 3).

Loads Ealing and computes the distances once (not timed), then times, best of ``--repeats``
(process CPU time, user + sys, so a loaded machine inflates the figures less than wall time):

* ``access-tables``: :func:`locmap.api.access_from` (coverage, gaps, 2SFCA, cross-border);
* ``access-write``: :meth:`AccessAnalysis.write` of those tables (CSV + Parquet, GeoPackages);
* ``localities-write``: :meth:`LocalityAnalysis.write` (the localities' readable CSVs and README;
  the analysis itself is computed once, not timed);
* ``workbook``: :func:`locmap.workbook.write_workbook` of a finished run folder (``--run``,
  default ``/tmp/base/ealing``, copied to a folder named ``ealing`` first, never written in).

Which code is timed is the ``locmap`` first on ``PYTHONPATH``; run it once per tree, interleaved::

    for t in /work/main $PWD /work/main $PWD; do PYTHONPATH=$t python benchmarks/bench_writes.py; done

With ``--keep DIR`` the outputs of the last repeat are kept in ``DIR/access`` and
``DIR/ealing_decision_tables.xlsx`` (compare two trees' with ``diff -r``).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

if "PYTHONPATH" not in os.environ:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import locmap  # noqa: E402
from locmap import api, workbook  # noqa: E402


def best_cpu_s(fn, repeats: int) -> tuple[float, object]:
    """Smallest process CPU time (s) of ``repeats`` calls of ``fn`` and its last value."""
    best, value = float("inf"), None
    for _ in range(repeats):
        t0 = time.process_time()
        value = fn()
        best = min(best, time.process_time() - t0)
    return best, value


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--area", default="ealing")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--run", type=Path, default=Path("/tmp/base/ealing"), help="a finished run folder")
    ap.add_argument("--keep", type=Path, default=None, help="keep the last outputs here")
    args = ap.parse_args(argv)
    settings = api.make_settings()
    area = api.load(args.area, settings)
    distances, router = api._distances(area, settings)
    quiet = dataclasses.replace(settings, progress=False)
    out = args.keep or Path(tempfile.mkdtemp(prefix="bench_writes_"))
    rows = {}
    rows["access-tables"], access = best_cpu_s(
        lambda: api.access_from(area, distances, router, quiet), args.repeats)
    names = area.services.set_index("service_id")["name"]
    rows["access-write"], _ = best_cpu_s(
        lambda: access.write(out / "access", "both", area.name, area.attribution, names), args.repeats)
    loc = api.analyse_localities(area, distances, settings=quiet)
    rows["localities-write"], _ = best_cpu_s(lambda: loc.write(out / "localities"), args.repeats)
    run = Path(tempfile.mkdtemp(prefix="bench_writes_run_")) / "ealing"
    shutil.copytree(args.run, run)
    xlsx = out / "ealing_decision_tables.xlsx"
    rows["workbook"], _ = best_cpu_s(lambda: workbook.write_workbook(run, xlsx, area.pack.title), args.repeats)
    shutil.rmtree(run.parent)
    print(f"locmap from {Path(locmap.__file__).parent.parent}; best of {args.repeats}, CPU s")
    for name, cpu_s in rows.items():
        print(f"{name:16s} {cpu_s:6.2f}")
    if args.keep is None:
        shutil.rmtree(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
