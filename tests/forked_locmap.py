"""``locmap`` commands as processes of their own without paying the library's import in each.

:class:`Starter` is one Python process that imports the command line's entry point
(``locmap.__main__``: its handler for a Ctrl-C while starting, then the command line) and the library
(``locmap.api``: ~2.5 s of CPU), then forks one child per command.  Each child is a process of its
own, as ``python -m locmap`` is: its own pid, working folder, ``sys.argv``, stdout and stderr (files),
and it runs ``locmap.__main__.run()`` and ends through the interpreter's normal exit, so its exit
code, its Ctrl-C handling (SIGINT from the test, as a terminal sends it), the processes it starts
and what it prints are those of the command.  What it does not do again is import the library: a
Ctrl-C *during* the imports needs ``python -m locmap`` itself (tests/test_interrupts.py keeps one).

:meth:`Starter.start` returns a :class:`Forked`, which answers ``pid``, ``poll``, ``send_signal``,
``kill``, ``wait``, ``communicate`` and ``returncode`` as :class:`subprocess.Popen` does; one command
runs at a time (a test that leaves one running has it killed when the next starts).  A child stays in
the starter's process group (``os.fork`` without ``setsid``): signal it by pid, as the tests do; a test
that signals a whole group (``os.killpg``) needs ``python -m locmap`` started in a session of its own.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The starter: imports once, then per request line ``{"argv", "cwd", "stdout", "stderr"}`` forks a
#: child that runs the command (and leaves this loop to end as a script does), and answers the child's
#: pid, then its exit status (``os.waitstatus_to_exitcode``: -N for a signal N) once it has ended.
_STARTER = """
import json, os, sys
import locmap.__main__ as entry
import locmap.api
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        break
    print(json.dumps({"pid": pid}), flush=True)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}), flush=True)
else:
    sys.exit(0)
os.chdir(request["cwd"])
for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                        (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
    opened = os.open(path, flags, 0o644)
    os.dup2(opened, fd)
    os.close(opened)
sys.argv = [entry.__file__, *request["argv"]]
sys.exit(entry.run())
"""


class Starter:
    """The starter process (see the module docstring); :meth:`close` ends it."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self._proc = subprocess.Popen([sys.executable, "-c", _STARTER], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                                      env=env, cwd=ROOT)
        self._folder = Path(tempfile.mkdtemp(prefix="locmap-starter-"))
        self._started = 0
        self._running: Forked | None = None
        first = self._read(timeout_s=300)
        assert first == {"ready": True}, (first, self._proc.stderr.read() if self._proc.poll() is not None else "")

    def _read(self, timeout_s: float | None) -> dict:
        if timeout_s is not None:
            ready, _, _ = select.select([self._proc.stdout], [], [], timeout_s)
            if not ready:
                raise subprocess.TimeoutExpired("locmap starter", timeout_s)
        line = self._proc.stdout.readline()
        assert line, f"the starter ended: {self._proc.stderr.read()}"
        return json.loads(line)

    def start(self, *args: str, cwd: Path) -> Forked:
        """``locmap <args>`` in ``cwd``, in a forked child; its stdout and stderr go to files of the
        starter's own folder (not into the folder the command works in)."""
        if self._running is not None and self._running.returncode is None:  # one child at a time: a test
            self._running.kill()                                             # that left one running ends it
            self._running.wait(timeout=60)
        self._started += 1
        out, err = self._folder / f"{self._started}.stdout", self._folder / f"{self._started}.stderr"
        self._proc.stdin.write(json.dumps({"argv": list(args), "cwd": str(cwd), "stdout": str(out),
                                           "stderr": str(err)}) + "\n")
        self._proc.stdin.flush()
        self._running = Forked(self, self._read(timeout_s=60)["pid"], out, err)
        return self._running

    def close(self) -> None:
        if self._running is not None and self._running.returncode is None:
            self._running.kill()
            self._running.wait(timeout=60)
        self._proc.stdin.close()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc.stdout.close()
        self._proc.stderr.close()
        shutil.rmtree(self._folder, ignore_errors=True)


class Forked:
    """One command forked by a :class:`Starter`, answering as :class:`subprocess.Popen` does."""

    def __init__(self, starter: Starter, pid: int, stdout: Path, stderr: Path) -> None:
        self._starter, self.pid, self._stdout, self._stderr = starter, pid, stdout, stderr
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = self._starter._read(timeout_s=0)["returncode"]
            except subprocess.TimeoutExpired:  # still running
                pass
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self._starter._read(timeout_s=timeout)["returncode"]
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self.wait(timeout)
        return (self._stdout.read_text(encoding="utf-8", errors="replace"),
                self._stderr.read_text(encoding="utf-8", errors="replace"))
