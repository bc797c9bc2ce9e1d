"""CPU of the notebook suite as tests/test_notebooks.py runs it: one kernel, the test's FAST parameters,
each executed copy written at its end (``save_each_cell=False``; ``--save-each-cell``: after every cell).

    PYTHONPATH=$PWD python benchmarks/bench_notebook_suite.py --area ealing --out /tmp/nb [--cache /tmp/c]

Prints the CPU time (user + sys) of this process and of the kernel (its child), the wall time and
each notebook's seconds (``notebook_timings.csv``).  ``--cache`` sets ``LOCMAP_CACHE_DIR`` (the
kernel inherits it), so a run can start from an empty or a warm cache folder.
"""
from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

FAST = {"n_draws": "200", "k_values": "3..5", "speeds_kmh": "[4.0]", "gap_scenarios": "[10, 15]",
        "dpi": "80", "top_n": "1"}
EXTRA = {"ealing": {"localities": "[Southall, Northolt]"},
         "hounslow": {"schemes": "towns,pcns", "sites_scheme": "pcns"}}


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--area", default="ealing")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--save-each-cell", action="store_true")
    args = ap.parse_args()
    if args.cache:
        os.environ["LOCMAP_CACHE_DIR"] = str(args.cache)
    from locmap.notebooks import parse_parameters, run_notebooks  # after LOCMAP_CACHE_DIR is set

    pairs = [[k, v] for k, v in {**FAST, **EXTRA.get(args.area, {})}.items()]
    t0, c0 = time.perf_counter(), _cpu(resource.RUSAGE_SELF)
    run_notebooks(args.area, args.out, parse_parameters(pairs), one_kernel=True, log=lambda _m: None,
                  save_each_cell=args.save_each_cell)
    wall = time.perf_counter() - t0
    own, kernel = _cpu(resource.RUSAGE_SELF) - c0, _cpu(resource.RUSAGE_CHILDREN)
    print(f"{args.area}: wall {wall:.1f} s, CPU runner {own:.1f} s + kernel {kernel:.1f} s = {own + kernel:.1f} s")
    print((args.out / "notebook_timings.csv").read_text().strip().replace("\n", "; "))


if __name__ == "__main__":
    main()
