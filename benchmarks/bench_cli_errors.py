"""CPU (user + sys) of ``locmap`` refusing bad input, one process per call: this tree against another
(e.g. main's checkout or a worktree of the previous commit), interleaved, best of N.

    PYTHONPATH=$PWD python benchmarks/bench_cli_errors.py /work/main [--rounds 3]

Each case is a typo a user makes (a missing or binary services file, a folder given as a file, an
output path in the way, a bad option value); the figure is the whole process's CPU, imports included.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
CASES = ("run --services nosuch.csv --out x", "run --services png.csv --out x", "check --services adir",
         "check --rejects adir", "access --no-progress --out afile", "run --network nosuch.pbf --out x",
         "run --speed-kmh 0 --out x", "map --layers need,nosuch", "--help")


def cpu_s(tree: Path, args: str, cwd: Path) -> tuple[float, int]:
    """CPU seconds of ``python -m locmap ARGS`` importing locmap from ``tree``, and its exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, "-m", "locmap", *args.split()], cwd=cwd, capture_output=True,
                          env={**os.environ, "PYTHONPATH": str(tree), "LOCMAP_NO_PROGRESS": "1"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("baseline", type=Path, help="the other tree (its folder holding locmap/)")
    ap.add_argument("--rounds", type=int, default=3)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        (cwd / "png.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
        (cwd / "adir").mkdir()
        (cwd / "afile").write_text("keep")
        print(f"{'case':42s} {'baseline':>9s} {'this':>9s}  (CPU s, best of {opts.rounds}; exit codes)")
        for case in CASES:
            runs: dict[str, list[tuple[float, int]]] = {"baseline": [], "this": []}
            for _ in range(opts.rounds):
                for who, tree in (("baseline", opts.baseline), ("this", HERE)):
                    runs[who].append(cpu_s(tree, case, cwd))
            best = {who: min(t for t, _ in r) for who, r in runs.items()}
            codes = {who: sorted({c for _, c in r}) for who, r in runs.items()}
            print(f"{case:42s} {best['baseline']:9.2f} {best['this']:9.2f}  {codes['baseline']} {codes['this']}")


if __name__ == "__main__":
    main()
