"""Idle time of the shared notebook kernel: N tiny notebooks (two trivial cells each) run in one
``notebook_kernel()``, as tests/test_notebooks.py runs the suite; prints the wall time of the runs, the
kernel's CPU and so the time spent waiting.  Compare two trees::

    for t in /work/main $PWD; do PYTHONPATH=$t python benchmarks/bench_notebook_kernel_idle.py; done

Before stop 35 each notebook's reset and papermill run made a new client and waited for it (jupyter_client's
``wait_for_ready`` ends with 0.2 s of IOPub silence): ~0.5 s idle per notebook.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import nbformat

from locmap.notebooks import notebook_kernel, run_notebooks


def _tiny(folder: Path, n: int) -> None:
    for i in range(1, n + 1):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        params = nbformat.v4.new_code_cell('area = "x"\nout_dir = "o"')
        params.metadata["tags"] = ["parameters"]
        nb.cells = [params, nbformat.v4.new_code_cell("print(1)"), nbformat.v4.new_code_cell("2 + 2")]
        nbformat.write(nb, folder / f"{i:02d}_tiny.ipynb")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=8, help="notebooks (default 8)")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    _tiny(folder, args.n)
    import papermill  # noqa: F401,PLC0415 - imported before the clock starts

    t0 = time.perf_counter()
    with notebook_kernel(cwd=folder) as k:
        t1 = time.perf_counter()
        run_notebooks("x", folder / "out", folder=folder, kernel=k, trust=False, save_each_cell=False,
                      log=lambda _m: None)
        t2 = time.perf_counter()
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    kernel = r.ru_utime + r.ru_stime
    print(f"kernel start {t1 - t0:.2f} s, {args.n} notebooks {t2 - t1:.2f} s wall, shut down "
          f"{time.perf_counter() - t2:.2f} s; kernel CPU (whole life) {kernel:.2f} s")


if __name__ == "__main__":
    main()
