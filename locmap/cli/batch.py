"""``locmap batch``: every borough of a region as tasks on dask.distributed, plus the region summary."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from locmap._text import terminal_safe_message as shown
from locmap.cli._options import add_common, check_paths, say, settings_from_args
from locmap.errors import SettingsError

if TYPE_CHECKING:
    from locmap.batch.engine import BatchOptions

#: BatchOptions()'s defaults, as literals so that the parser imports nothing heavy (no dask)
#: (tests/test_imports.py checks they are the library's)
BATCH_DEFAULTS = argparse.Namespace(n_workers=2, retries=2, connect_timeout_s=10.0)
#: engine.WORKER_BOROUGHS, the rounds' default where boroughs do not fork (a literal: the parser
#: imports nothing heavy; test_imports checks it)
WORKER_BOROUGHS = 8

EXAMPLES = """\
examples:
  locmap batch --region london --out london/
      all 33 boroughs on a local cluster of 2 worker processes, then the London summary
  locmap batch --region london --out london/ --boroughs camden,ealing,E09000001
      three boroughs (slug, name or code); the others are left as they are
  locmap batch --region london --out london/ --minutes 10 15 25
      a changed setting: every borough is recomputed (a rerun with nothing changed reuses all)
  locmap batch --region london --out /shared/london/ --scheduler tcp://10.0.0.5:8786
      on a running dask cluster: its workers need locmap installed and the data root at the
      same path (or LOCMAP_DATA_ROOT set), and --out on a folder every worker can write

Each borough's outputs go to OUT/boroughs/<slug>/ (as `locmap run` writes them, plus log.txt,
attempts.jsonl, borough_summary.json and done.json); OUT/batch_status.csv says what became of
each borough (attempts, last failure, run id); OUT/batch_run.json says whether the run completed.
A borough whose done.json holds the hash of its current inputs is not recomputed; a subset run
keeps the other boroughs' current results in the region summary. Exit status: 0 when every
borough is done or reused, 1 when any failed (the summary is written for the rest), 2 for bad
input (an address that is not a dask scheduler answering within --connect-timeout), 130 on
Ctrl-C (the cluster stopped, unfinished boroughs marked 'interrupted').
"""


def add_parser(subparsers: Any) -> None:
    defaults = BATCH_DEFAULTS
    p = subparsers.add_parser(
        "batch", help="every borough of a region as dask tasks, plus the region summary (league table, map)",
        description="Run the job of `locmap run` (check, access, coverage and gaps, localities on wards, "
                    "PCNs and generated schemes, maps) for every borough of a region as tasks on "
                    "dask.distributed, then the region summary: league table, population check and map. "
                    "Boroughs whose inputs are unchanged since their last run are reused; a failing "
                    "borough is reported without stopping the others.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("batch")
    g.add_argument("--region", default="london", help="region name (data/regions/NAME.toml; default: london)")
    g.add_argument("--out", type=Path, required=True, help="batch folder (created if missing)")
    g.add_argument("--boroughs", default="",
                   help="only these boroughs, comma-separated codes, slugs or names (default: all)")
    g.add_argument("--workers", type=int, default=defaults.n_workers,
                   help=f"worker processes of the local cluster, one borough each at a time "
                        f"(default: {defaults.n_workers}; ignored with --scheduler)")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="address of a running dask scheduler, e.g. tcp://10.0.0.5:8786 (default: start a "
                        "local cluster)")
    g.add_argument("--connect-timeout", type=float, default=defaults.connect_timeout_s, metavar="SECONDS",
                   help=f"how long to try to reach --scheduler (default: {defaults.connect_timeout_s:g})")
    g.add_argument("--worker-boroughs", type=int, default=None, metavar="N",
                   help="local cluster: replace the worker processes after about N boroughs each, which "
                        "bounds their memory where boroughs run in the worker itself (default: 0 on Linux, "
                        f"where each borough runs in a child forked from its worker, {WORKER_BOROUGHS} "
                        "elsewhere or with --no-fork; 0: never; not with --scheduler)")
    g.add_argument("--no-fork", action="store_true",
                   help="run each borough in its worker process itself, not in a child forked from it "
                        "(the default on Linux: the worker stays warm and its memory does not grow)")
    g.add_argument("--retries", type=int, default=defaults.retries,
                   help=f"extra attempts for a borough whose task raised or whose worker died "
                        f"(default: {defaults.retries})")
    g.add_argument("--no-maps", action="store_true", help="skip each borough's HTML maps and print sheet")
    g.add_argument("--report", action="store_true",
                   help="also write each borough's decision pack (HTML, + PDF when Chromium is found)")
    g.add_argument("--force", action="store_true", help="recompute every borough, even unchanged ones")
    add_common(p, area=False)  # the boroughs come from --region: --area is hidden and refused
    p.set_defaults(func=run_batch_command)


def options_from_args(args: argparse.Namespace) -> BatchOptions:
    from locmap.batch.engine import BatchOptions  # at call time: the parser imports nothing heavy (docs/decisions.md)

    return BatchOptions(boroughs=tuple(b.strip() for b in args.boroughs.split(",") if b.strip()),
                        scheduler=args.scheduler or None, n_workers=args.workers, retries=args.retries,
                        maps=not args.no_maps, report=args.report, force=args.force,
                        connect_timeout_s=args.connect_timeout, fork=not args.no_fork, **_worker_boroughs(args))


def _worker_boroughs(args: argparse.Namespace) -> dict:
    """``--worker-boroughs`` as given, refused with ``--scheduler`` (not ours to replace)."""
    if args.worker_boroughs is None:
        return {}
    if args.scheduler:
        raise SettingsError("--worker-boroughs replaces the worker processes of a local cluster; a running "
                            "scheduler's workers are its own: leave out --worker-boroughs or --scheduler")
    return {"worker_boroughs": args.worker_boroughs}


def run_batch_command(args: argparse.Namespace) -> int:
    from locmap.batch.engine import STATUS_FILE, BatchInterrupted, plural, run_batch, stop_on_first_interrupt  # at call time: the parser imports nothing heavy (docs/decisions.md)

    if args.area is not None:
        raise SettingsError(f"locmap batch runs the boroughs of --region and takes no --area (got {args.area!r}); "
                            "for one borough use --boroughs, or `locmap run --area london:<slug>`")
    settings = settings_from_args(args)
    options = options_from_args(args)
    check_paths(args, settings)
    # from here the first Ctrl-C stops the batch and any later one is ignored to the end of the
    # command: the stop, its one line and the exit (run_batch keeps a handler it finds); the
    # handler before is back when the batch ends without an interrupt (the command run in-process)
    before = signal.signal(signal.SIGINT, stop_on_first_interrupt) if _main_thread() else None
    try:
        res = run_batch(args.region, args.out, settings, options, say=say)
    except BatchInterrupted as exc:  # Ctrl-C: the cluster is stopped, the status marked; no traceback
        print(f"locmap: {shown(exc)}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # while loading the region and hashing the boroughs' inputs
        print("locmap: interrupted before any borough ran", file=sys.stderr)
        return 130
    finally:
        if before is not None and signal.getsignal(signal.SIGINT) is stop_on_first_interrupt:
            signal.signal(signal.SIGINT, before)  # no interrupt came
    counts = res.status["status"].value_counts()
    where = f"on {plural(res.n_workers, 'worker')}" if res.n_workers else "(nothing to compute: no cluster)"
    print(f"{res.region}: {plural(len(res.outcomes), 'borough')} in {res.wall_seconds:.1f} s {where}: "
          + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("done", "cached", "failed")))
    for row in res.failures.itertuples(index=False):
        print(shown(f"  failed {row.lad_nm}: {str(row.reason).splitlines()[0]}"))
    print(f"status of every borough: {res.out_dir / STATUS_FILE} (run {res.run_id})")
    for path in res.files:
        print(f"  {path}")
    return res.exit_code


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
