"""``locmap.export.write_csv`` on the access step's tables: time, and bytes equal to another tree's.

Loads Ealing, computes the access analysis once, then writes every table ``locmap access``
writes as CSV (the rounded, readable copies) with this tree's ``write_csv``, timing it (best of
``--repeats``).  With ``--compare DIR`` the files are also written by the ``locmap.export`` of the
tree at DIR (imported from there under another name) and compared byte for byte.

Usage::

    python benchmarks/bench_write_csv.py --compare /tmp/locmap-baseline-1a283d0c35
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from locmap import api, export  # noqa: E402
from locmap.access import columns as access_columns  # noqa: E402
from locmap.settings import Settings  # noqa: E402
from locmap.tables import readable  # noqa: E402


def other_export(tree: Path):
    spec = importlib.util.spec_from_file_location("baseline_export", tree / "locmap" / "export.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--compare", type=Path, default=None, help="another tree whose export.py to compare with")
    args = ap.parse_args(argv)
    settings = Settings.from_env(progress=False)
    area = api.load("ealing", settings)
    res = api.analyse_access(area, settings)
    tables = {k: readable(v, access_columns.describe_column, k) for k, v in res.tables().items()}
    writers = {"this tree": export}
    if args.compare:
        writers[f"{args.compare}"] = other_export(args.compare)
    with tempfile.TemporaryDirectory() as tmp:
        for name, mod in writers.items():
            best = float("inf")
            for _ in range(args.repeats):
                t = time.perf_counter()
                for stem, df in tables.items():
                    mod.write_csv(df, Path(tmp) / name.replace("/", "_") / f"{stem}.csv")
                best = min(best, time.perf_counter() - t)
            print(f"{name}: write_csv of {len(tables)} access tables "
                  f"({sum(len(d) for d in tables.values()):,} rows): {best:.2f} s (best of {args.repeats})")
        if args.compare:
            a, b = (Path(tmp) / n.replace("/", "_") for n in writers)
            same = [s for s in tables if (a / f"{s}.csv").read_bytes() == (b / f"{s}.csv").read_bytes()]
            print(f"byte-identical: {len(same)} of {len(tables)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
