"""CPU of named functions inside ``locmap run`` (one process, ``LOCMAP_SERIAL=1``), without a profiler.

cProfile's per-call overhead inflates call-heavy code (the workbook's 135,000 cells, pandas'
small calls) several times over, so its shares mislead; this wraps each function given as
``module:qualname`` with a ``time.process_time`` accumulator (inclusive; a recursive or nested call
of the same function is counted once) and prints, after the run, each function's calls and CPU.
The wrapper replaces the function in its module and in every ``locmap`` module that imported it by
name; a method is given as ``module:Class.method``.  Which code is timed is the ``locmap`` first on
``PYTHONPATH``::

    python benchmarks/bench_fn_cpu.py --out /tmp/x/ealing locmap.api:analyse_localities \\
        locmap.workbook:write_run_workbook locmap.maps.static:profile_sheet -- --no-maps
"""
from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
import time
from pathlib import Path

from _run_args import split_run_args

if "PYTHONPATH" not in os.environ:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["LOCMAP_SERIAL"] = "1"


def timed(fn, key: str, spent: dict[str, list]):
    """``fn`` wrapped: its calls and inclusive CPU added to ``spent[key]`` (outermost call only)."""
    depth = [0]

    @functools.wraps(fn)
    def run(*args, **kwargs):
        if depth[0]:
            return fn(*args, **kwargs)
        depth[0] += 1
        t0 = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            depth[0] -= 1
            spent[key][0] += 1
            spent[key][1] += time.process_time() - t0
    return run


def instrument(specs: list[str], spent: dict[str, list]) -> None:
    for spec in specs:
        module, qualname = spec.split(":")
        owner = importlib.import_module(module)
        *path, name = qualname.split(".")
        for part in path:
            owner = getattr(owner, part)
        raw = owner.__dict__[name] if path else getattr(owner, name)
        spent[spec] = [0, 0.0]
        if isinstance(raw, (classmethod, staticmethod)):
            setattr(owner, name, type(raw)(timed(raw.__func__, spec, spent)))
            continue
        wrapped = timed(raw, spec, spent)
        setattr(owner, name, wrapped)
        if not path:  # modules that did `from module import name`
            for mod in list(sys.modules.values()):
                if getattr(mod, "__name__", "").startswith("locmap") and getattr(mod, name, None) is raw:
                    setattr(mod, name, wrapped)


def main(argv: list[str] | None = None) -> int:
    argv, extra = split_run_args(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--area", default="ealing")
    ap.add_argument("--out", type=Path, required=True, help="run folder (written with --force)")
    ap.add_argument("functions", nargs="+", help="module:qualname, e.g. locmap.api:analyse_localities")
    args = ap.parse_args(argv)
    import locmap.api  # noqa: F401,PLC0415 - the modules named are importable once the API is
    from locmap.cli import main as cli_main  # noqa: PLC0415

    spent: dict[str, list] = {}
    instrument(args.functions, spent)
    t0 = time.process_time()
    with open(os.devnull, "w") as quiet:
        stdout, sys.stdout = sys.stdout, quiet
        try:
            code = cli_main(["run", "--area", args.area, "--out", str(args.out), "--force", "--no-progress", *extra])
        finally:
            sys.stdout = stdout
    print(f"locmap from {Path(locmap.api.__file__).parent.parent}: run CPU {time.process_time() - t0:.2f} s")
    for spec, (calls, cpu_s) in spent.items():
        print(f"{cpu_s:7.3f} s {calls:6d} x  {spec}")
    return code or 0


if __name__ == "__main__":
    raise SystemExit(main())
