"""Shared by the benchmark scripts that wrap ``locmap run`` (profile_run, timeline_run, bench_fn_cpu)."""
from __future__ import annotations


def split_run_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """The script's own options (before ``--``) and the extra options of the run (after it)."""
    argv = list(argv)
    if "--" not in argv:
        return argv, []
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1:]
