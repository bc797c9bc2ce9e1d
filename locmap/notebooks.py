"""Execute the notebook suite (``notebooks/*.ipynb``) with papermill.

``run_notebooks("ealing", "out/notebooks")`` runs the notebooks in order, each in a fresh
kernel of the current Python, injecting ``area``, ``out_dir`` (``<out>/<notebook stem>``) and any
extra ``parameters``; the executed copies are saved as ``<out>/<notebook>.ipynb``.  Any cell
error stops the run with :class:`NotebookRunError` naming the notebook (its executed copy,
with the traceback, is still saved).

Each kernel runs with ``<out>`` as its working directory (where the executed copy is saved),
so the links the notebooks print to their files work from the executed copy; it talks to the
runner over local IPC sockets (no unencrypted TCP ports, so no kernel warning); it does not
inherit ``MPLBACKEND`` (figures show inline).  Executed copies are signed as trusted for
the current user (``jupyter trust``), so JupyterLab shows their interactive maps without a
"trust this notebook" step; ``trust=False`` leaves them untrusted.

``one_kernel=True`` runs the notebooks one after another in a single kernel instead, its namespace
emptied before each (IPython's ``reset``: no name of one notebook is seen by the next, and the
execution counts start at 1 again); only imported modules and their caches are kept, which saves
each notebook the imports and the area's loading (the test suite runs the whole suite this way).
The reset also forgets which warnings were shown (each notebook shows a library's warning again, as a
fresh kernel would) and moves the kernel to ``<out>``.  ``with notebook_kernel() as k:`` starts such a
kernel for several runs (``run_notebooks(..., kernel=k)``: other areas, other folders), so the
imports are paid once for all of them (the test suite runs its Ealing, Hounslow and generated-borough
suites in one).

``save_each_cell=False`` writes each executed copy once, when its notebook ends, instead of after every
cell (papermill's default, which re-serialises the whole notebook, figures and maps included, about
twice per cell): a cell error still leaves the copy with its traceback, but a timeout or a dead kernel
leaves none.  The test suite runs this way; ``locmap notebooks`` saves each cell.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from locmap.errors import LocmapError
from locmap.export import write_text
from locmap.lazy_imports import defer_iri_grammars
from locmap.settings import PROJECT_ROOT

#: Folder holding the committed notebooks.
NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
#: Kernel name used (and installed into the running Python's prefix if missing).
KERNEL_NAME = "locmap"


class NotebookRunError(LocmapError):
    """A notebook of the suite failed (a failure while running: exit code 1)."""

    exit_code = 1


def notebook_paths(only: Iterable[str] | str | None = None, folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The suite's notebooks in order; ``only`` selects by prefix (``"01,03"`` or ``["01", "03"]``)."""
    paths = sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))
    if only is None:
        return paths
    keys = [k.strip() for k in (only.split(",") if isinstance(only, str) else only) if str(k).strip()]
    chosen = [p for p in paths if any(p.name.startswith(str(k)) or p.stem == str(k) for k in keys)]
    unknown = [k for k in keys if not any(p.name.startswith(str(k)) or p.stem == str(k) for p in paths)]
    if unknown:
        raise NotebookRunError(f"no notebook matches {', '.join(map(str, unknown))} "
                               f"(known: {', '.join(p.stem for p in paths)})")
    return chosen


def ensure_kernel(name: str = KERNEL_NAME) -> str:
    """Return a kernel name that runs the *current* Python (installing one into ``sys.prefix``
    with ipykernel when needed, so a fresh CI venv works)."""
    from jupyter_client.kernelspec import KernelSpecManager  # noqa: PLC0415

    ksm = KernelSpecManager()
    specs = ksm.find_kernel_specs()
    exe = Path(sys.executable).resolve()

    def runs_here(kname: str) -> bool:
        try:
            argv = ksm.get_kernel_spec(kname).argv
        except (KeyError, ValueError, OSError):  # a missing or broken spec simply doesn't count
            return False
        first = argv[0] if argv else ""
        if first in ("python", "python3", "{python}"):
            return True  # resolved by jupyter_client to sys.executable
        try:
            return Path(first).resolve() == exe
        except OSError:
            return False

    for kname in (name, "python3"):
        if kname in specs and runs_here(kname):
            return kname
    from ipykernel.kernelspec import install  # noqa: PLC0415

    install(kernel_name=name, display_name=f"Python ({name})", prefix=sys.prefix)
    return name


def _yaml_value(text: str) -> Any:
    """A ``-p name value`` value: YAML (numbers, lists, null, true) or the plain string."""
    import yaml  # noqa: PLC0415 - papermill depends on PyYAML

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def run_notebooks(area: str, out_dir: str | os.PathLike, parameters: Mapping[str, Any] | None = None,
                  only: Iterable[str] | str | None = None, kernel_name: str | None = None,
                  timeout: int = 900, log=None, trust: bool = True, one_kernel: bool = False,
                  folder: Path = NOTEBOOK_DIR, save_each_cell: bool = True, kernel: Any = None) -> list[Path]:
    """Execute the suite for ``area`` into ``out_dir``; return the executed notebooks' paths.

    Parameters
    ----------
    area : str
        Area pack name (``data/areas/<area>.toml``).
    out_dir : path
        Executed notebooks go here; each notebook writes its tables/maps to ``out_dir/<stem>/``.
    parameters : mapping, optional
        Extra notebook parameters (e.g. ``{"n_draws": 200}``); each notebook receives those
        its parameters cell declares; a name no notebook declares is an error.
    only : "01,03" or list, optional
        Run only these notebooks (by number prefix or stem).
    kernel_name : str, optional
        Default: :func:`ensure_kernel`.
    timeout : int
        Per-cell timeout in seconds.
    trust : bool
        Sign the executed copies as trusted for the current user (see the module docstring).
    one_kernel : bool
        Run every notebook in one kernel, its namespace reset before each (see the module docstring);
        default: a fresh kernel each.
    folder : path
        Folder of the notebooks (default: the suite's, ``notebooks/``).
    save_each_cell : bool
        Write each executed copy after every cell (default), or only when its notebook ends (see the
        module docstring).
    kernel : optional
        A running kernel from :func:`notebook_kernel`: every notebook runs in it, reset before each as
        with ``one_kernel`` (``kernel_name`` and ``one_kernel`` are then not used); it stays running.

    Raises
    ------
    NotebookRunError
        On the first failing notebook (its executed copy with the error is saved).
    """
    defer_iri_grammars()
    import papermill as pm  # noqa: PLC0415 - heavy, only needed to run notebooks

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    kernel_name = kernel_name or (kernel.kernel_name if kernel is not None else ensure_kernel())
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    paths = notebook_paths(only, folder)
    declared = {nb: set(pm.inspect_notebook(str(nb))) for nb in paths}
    unknown = sorted(set(parameters or {}) - set().union(*declared.values())) if paths else []
    if unknown:
        raise NotebookRunError(f"unknown notebook parameter(s) {', '.join(unknown)} "
                               f"(known: {', '.join(sorted(set().union(*declared.values())))})")
    written, timings = [], []
    own = kernel is None and one_kernel and bool(paths)
    with (notebook_kernel(kernel_name, out) if own else contextlib.nullcontext(kernel)) as shared:
        for nb in paths:
            # each notebook gets only the parameters it declares
            extra = {k: v for k, v in dict(parameters or {}).items() if k in declared[nb]}
            params = {"area": area, "out_dir": str(out / nb.stem), **extra}
            target = out / nb.name
            t0 = time.perf_counter()
            log(f"running {nb.name} ...")
            if shared is not None:
                shared.reset(nb, out)
            _execute(nb, target, params, kernel_name, timeout, km=shared, save_each_cell=save_each_cell)
            if trust:
                sign_notebook(target)
            dt = time.perf_counter() - t0
            timings.append((nb.stem, dt))
            log(f"  {nb.name}: {dt:.1f} s -> {target}")
            written.append(target)
    lines = ["notebook,seconds"] + [f"{n},{s:.1f}" for n, s in timings]
    write_text(out / "notebook_timings.csv", "\n".join(lines) + "\n")
    return written


@contextlib.contextmanager
def _kernel_environment() -> Iterator[None]:
    """The kernel's environment: no ``MPLBACKEND`` (a test runner's Agg would hide inline figures)."""
    saved = os.environ.pop("MPLBACKEND", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["MPLBACKEND"] = saved


#: Run in a shared kernel before each notebook: an empty namespace, execution counts from 1, no figure,
#: no record of the warnings shown (a fresh kernel shows a module's warning again), the run's folder
#: (``{cwd!r}``) as the working directory.  What is left after the reset's collection (modules, their
#: caches) is moved out of the collector's sight (``gc.freeze``): the next notebook's collections, the
#: next reset's included, look only at what was made since, not again at the whole imported stack.
_RESET = ("get_ipython().reset(new_session=True)\n"
          "import gc as _gc, os as _os, sys as _sys, warnings as _warnings\n"
          "_gc.freeze()\n"
          "_sys.modules['matplotlib.pyplot'].close('all') if 'matplotlib.pyplot' in _sys.modules else None\n"
          "_warnings.onceregistry.clear()\n"
          "[vars(_m).get('__warningregistry__', {{}}).clear() for _m in list(_sys.modules.values())"
          " if hasattr(_m, '__dict__')]\n"
          "_os.chdir({cwd!r})\n"
          "del _gc, _os, _sys, _warnings\n")


@contextlib.contextmanager
def notebook_kernel(kernel_name: str | None = None, cwd: str | os.PathLike | None = None) -> Iterator[Any]:
    """One kernel (over IPC sockets, started in ``cwd``, default the current folder) for the notebooks
    of one or several :func:`run_notebooks` calls (``kernel=``); shut down when the block ends.
    ``kernel_name`` default: :func:`ensure_kernel`."""
    from jupyter_client.blocking.client import BlockingKernelClient  # noqa: PLC0415
    from jupyter_client.manager import KernelManager  # noqa: PLC0415

    class ReadyClient(BlockingKernelClient):
        """The kernel's one client: connected and waited for once.  papermill starts its channels and waits
        for the kernel before each notebook; ``wait_for_ready`` ends by waiting for 0.2 s of silence on
        IOPub (and 0.2 s more when the client's first status message was lost), so each notebook's reset
        and run spent about 0.6 s idle.  Later calls only check that the kernel is still alive."""

        ready = False

        def start_channels(self, *args: Any, **kwargs: Any) -> None:
            if not self.channels_running:
                super().start_channels(*args, **kwargs)

        def wait_for_ready(self, timeout: float | None = None) -> None:
            if not self.ready:
                super().wait_for_ready(timeout=timeout)
                self.ready = True
            elif not self.is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")

    class SharedKernel(KernelManager):
        """Hands the reset and papermill one client (:class:`ReadyClient`), closed when the kernel ends
        (papermill leaves the client of a kernel it did not start open)."""

        shared_client: Any = None

        def client(self, **kwargs: Any):
            if self.shared_client is None:
                self.shared_client = ReadyClient(**{**self.get_connection_info(session=True),
                                                    "connection_file": self.connection_file, "parent": self,
                                                    **kwargs})
            return self.shared_client

        def reset(self, nb: Path, cwd: Path) -> None:
            kc = self.client()
            kc.start_channels()
            try:
                kc.wait_for_ready(timeout=120)
                reply = kc.execute_interactive(_RESET.format(cwd=str(cwd)), store_history=False, timeout=120,
                                               output_hook=lambda _msg: None)
            except (RuntimeError, TimeoutError) as exc:
                raise NotebookRunError(f"the shared kernel could not be reset before {nb.name}: {exc}") from exc
            if reply["content"]["status"] != "ok":
                raise NotebookRunError(f"the shared kernel could not be reset before {nb.name}: "
                                       f"{reply['content'].get('ename')}: {reply['content'].get('evalue')}")

    with tempfile.TemporaryDirectory(prefix="locmap-kernel-") as sockets:
        km = SharedKernel(kernel_name=kernel_name or ensure_kernel(), transport="ipc",
                          ip=str(Path(sockets) / "kernel"))
        with _kernel_environment():  # the kernel's environment is its start's
            km.start_kernel(cwd=str(Path(cwd or ".").resolve()))
        try:
            yield km
        finally:
            if km.shared_client is not None:
                km.shared_client.stop_channels()
            if km.has_kernel:
                km.shutdown_kernel(now=False)


def _execute(nb: Path, target: Path, params: Mapping[str, Any], kernel: str, timeout: int, km=None,
             save_each_cell: bool = True) -> None:
    """Run one notebook in the folder of ``target``: in the running kernel ``km``, or in a fresh kernel
    over IPC sockets (shut down after it); the copy is written after each cell or at the end."""
    import papermill as pm  # noqa: PLC0415 - heavy, only needed to run notebooks
    from jupyter_client.manager import KernelManager  # noqa: PLC0415
    from papermill.exceptions import PapermillExecutionError  # noqa: PLC0415

    own = km is None
    with tempfile.TemporaryDirectory(prefix="locmap-kernel-") as sockets, _kernel_environment():
        if own:
            km = KernelManager(kernel_name=kernel, transport="ipc", ip=str(Path(sockets) / "kernel"))
        try:
            pm.execute_notebook(str(nb), str(target), parameters=dict(params), kernel_name=kernel, km=km,
                                cwd=str(target.parent), progress_bar=False, execution_timeout=timeout,
                                report_mode=False, request_save_on_cell_execute=save_each_cell)
        except (PapermillExecutionError, RuntimeError, OSError, TimeoutError) as exc:
            # cell errors, a dead kernel or a timeout (nbclient's errors derive from these)
            copy = f"executed copy: {target}" if target.exists() else "no executed copy: save_each_cell=False"
            raise NotebookRunError(f"notebook {nb.name} failed ({copy}): "
                                   f"{type(exc).__name__}: {str(exc).strip()[:2000]}") from exc
        finally:
            if own and km.has_kernel:
                km.shutdown_kernel(now=False)


def sign_notebook(path: Path) -> None:
    """Mark an executed notebook as trusted for the current user (as ``jupyter trust`` does)."""
    import nbformat  # noqa: PLC0415 - installed with papermill
    from nbformat.sign import NotebookNotary  # noqa: PLC0415

    nb = nbformat.read(path, as_version=4)
    NotebookNotary().sign(nb)


def parse_parameters(pairs: Iterable[Iterable[str]] | None) -> dict[str, Any]:
    """``[["n_draws", "200"], ["k_values", "3..5"]]`` -> ``{"n_draws": 200, "k_values": "3..5"}``."""
    return {name: _yaml_value(value) for name, value in (pairs or [])}
