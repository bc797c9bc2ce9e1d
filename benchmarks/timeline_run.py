"""Per-process timeline of ``locmap run --area ealing``: which step runs when, in which process.

Runs ``locmap.cli.main(["run", ...])`` in this process with :class:`locmap.api._Steps` wrapped so
that every step, in the main process and in each forked background process, records its process,
its start and end on the wall clock (``time.time()``, shared by the processes) and the CPU time its
process spent in it (``time.process_time()``).  The main process's waits for a background step
(``handed_over``/``collect``) are recorded too, and the time before the first step (the imports,
the settings, the run folder) is shown as ``(start)``.  Prints one line per step, sorted by start,
with a bar over the run's wall time, then the CPU per process and the load average.

Usage::

    python benchmarks/timeline_run.py                       # ealing into a temporary folder
    python benchmarks/timeline_run.py --out /tmp/x/ealing -- --force
    PYTHONPATH=/work/main python benchmarks/timeline_run.py  # another tree (the locmap first on the path)

Arguments after ``--`` go to ``locmap run`` as they are.
"""
from __future__ import annotations

import time

T_START = time.time()  # before any import but the interpreter's own

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from _run_args import split_run_args  # noqa: E402

if "PYTHONPATH" not in os.environ:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BAR_COLUMNS = 60


def _record(log: Path, pid: int, name: str, t0: float, t1: float, cpu_s: float) -> None:
    with open(log, "a") as fh:  # one short line per append: processes do not interleave them
        fh.write(json.dumps({"pid": pid, "name": name, "t0": t0, "t1": t1, "cpu": cpu_s}) + "\n")


def _instrument(log: Path) -> None:
    """Wrap the run's step runner so that each step (in any process) appends its times to ``log``."""
    from locmap import api

    def timed(name: str, fn):
        def run(*args, **kwargs):
            t0, c0 = time.time(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                _record(log, os.getpid(), name, t0, time.time(), time.process_time() - c0)
        return run

    call, handed_over, collect = api._Steps.__call__, api._Steps.handed_over, api._Steps.collect
    api._Steps.__call__ = lambda self, name, fn, *a, **k: call(self, name, timed(name, fn), *a, **k)
    api._Steps.handed_over = lambda self, job: timed(f"(wait {job.name} hand-over)",
                                                     lambda: handed_over(self, job))()
    api._Steps.collect = lambda self, job: timed(f"(wait {job.name})", lambda: collect(self, job))()


def _print(rows: list[dict], t_end: float, main_pid: int) -> None:
    span = max(t_end - T_START, 1e-9)
    names = {main_pid: "main"}
    for r in sorted(rows, key=lambda r: r["t0"]):
        names.setdefault(r["pid"], f"bg{len(names)}")
    print(f"| process | step | start s | end s | wall s | CPU s | {'timeline':<{BAR_COLUMNS}} |")
    print(f"|---|---|---:|---:|---:|---:|{'-' * BAR_COLUMNS}|")
    for r in sorted(rows, key=lambda r: r["t0"]):
        a, b = (r["t0"] - T_START) / span, (r["t1"] - T_START) / span
        bar = " " * int(a * BAR_COLUMNS) + "#" * max(1, int(b * BAR_COLUMNS) - int(a * BAR_COLUMNS))
        print(f"| {names[r['pid']]} | {r['name']} | {r['t0'] - T_START:.2f} | {r['t1'] - T_START:.2f} | "
              f"{r['t1'] - r['t0']:.2f} | {r['cpu']:.2f} | {bar:<{BAR_COLUMNS}} |")


def main(argv: list[str] | None = None) -> int:
    argv, extra = split_run_args(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--area", default="ealing")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: a temporary one)")
    args = ap.parse_args(argv)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    with tempfile.TemporaryDirectory(prefix="locmap-timeline-") as tmp:
        log = Path(tmp) / "timeline.jsonl"
        out = args.out or Path(tmp) / "out" / args.area
        from locmap.cli import main as locmap_main  # the CLI's own import, as `locmap run` does it

        t_cli = time.time()
        _instrument(log)
        with contextlib.redirect_stdout(io.StringIO()):
            rc = locmap_main(["run", "--area", args.area, "--out", str(out), "--no-progress", *extra])
        t_end = time.time()
        rows = [json.loads(line) for line in log.read_text().splitlines()]
    first = min((r["t0"] for r in rows), default=t_end)
    rows.append({"pid": os.getpid(), "name": "(start: imports, settings, run folder)", "t0": T_START,
                 "t1": first, "cpu": float("nan")})
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"locmap run --area {args.area} (exit {rc}): wall {t_end - T_START:.2f} s "
          f"(CLI imported after {t_cli - T_START:.2f} s); CPU main {me.ru_utime + me.ru_stime:.2f} s, "
          f"children {kids.ru_utime + kids.ru_stime:.2f} s; load {' '.join(load_before)} -> "
          f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}\n")
    _print(rows, t_end, os.getpid())
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
