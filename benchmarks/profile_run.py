"""Profile the whole job, ``locmap run --area ealing``, with cProfile: where the time goes.

Runs ``locmap.cli.main(["run", "--area", AREA, "--out", OUT, ...])`` in this process under
cProfile (imports included: the CLI is imported inside the profile), saves the raw profile
(``--save FILE.prof``, for snakeviz / ``python -m pstats``) and prints the top ``--top``
functions by cumulative time as a Markdown table, plus the run's own step timings
(``timings.csv``).  Which code is profiled is the ``locmap`` first on ``PYTHONPATH`` (so
``bench_workshop.py``'s baseline tree can be profiled the same way).

Usage::

    python benchmarks/profile_run.py                         # ealing, top 40, out in a temp folder
    python benchmarks/profile_run.py --top 25 --save /tmp/run.prof -- --no-report
    PYTHONPATH=/tmp/locmap-baseline python benchmarks/profile_run.py   # another tree

Arguments after ``--`` go to ``locmap run`` as they are.
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from _run_args import split_run_args

if "PYTHONPATH" not in os.environ:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _where(func: tuple[str, int, str]) -> str:
    """``module/file.py:line(function)`` shortened to what follows site-packages or the tree."""
    path, line, name = func
    for cut in ("site-packages/", "/locmap/", "lib/python3"):
        if cut in path:
            path = ("locmap/" if cut == "/locmap/" else "") + path.split(cut, 1)[1]
            break
    return f"{path}:{line}({name})" if line else name


def top_table(stats: pstats.Stats, n: int, sort: str = "cumulative") -> list[str]:
    """Markdown rows of the ``n`` costliest functions by ``sort`` (cumulative or tottime)."""
    stats.sort_stats(sort)
    rows = ["| cumulative s | own s | calls | function |", "|---:|---:|---:|---|"]
    for func in stats.fcn_list[:n]:  # type: ignore[attr-defined]
        cc, nc, tt, ct, _ = stats.stats[func]  # type: ignore[attr-defined]
        calls = f"{nc}" if cc == nc else f"{nc}/{cc}"
        rows.append(f"| {ct:.2f} | {tt:.2f} | {calls} | `{_where(func)}` |")
    return rows


def main(argv: list[str] | None = None) -> int:
    argv, extra = split_run_args(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--area", default="ealing")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: a temporary one)")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--sort", default="cumulative", choices=("cumulative", "tottime"))
    ap.add_argument("--save", type=Path, default=None, help="write the raw profile here (.prof)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="locmap-profile-") as tmp:
        out = args.out or Path(tmp) / "out"
        run_argv = ["run", "--area", args.area, "--out", str(out), "--no-progress", *extra]
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        from locmap.cli import main as locmap_main  # imported under the profile: imports count

        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            rc = locmap_main(run_argv)
        prof.disable()
        if rc:
            print(f"locmap run exited {rc}:\n{err.getvalue()[-2000:]}", file=sys.stderr)
        wall = time.perf_counter() - t0
        if args.save:
            prof.dump_stats(args.save)
        stats = pstats.Stats(prof, stream=io.StringIO())
        total = stats.total_tt  # type: ignore[attr-defined]
        import locmap

        print(f"## profile of `locmap {' '.join(run_argv[:3])} {' '.join(extra)}`".rstrip())
        print(f"\nlocmap from {Path(locmap.__file__).parent.parent}; exit {rc}; wall {wall:.1f} s, "
              f"profiled {total:.1f} s (cProfile adds overhead to call-heavy code)\n")
        timings = out / "timings.csv"
        if timings.is_file():
            print("step timings (timings.csv): " + "; ".join(
                ",".join(line.split(",")[:2]) for line in timings.read_text().splitlines()[1:]) + "\n")
        print("\n".join(top_table(stats, args.top, args.sort)))
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
