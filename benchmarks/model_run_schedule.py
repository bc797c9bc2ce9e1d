"""A processor-sharing model of ``locmap run --area ealing`` on 2 cores: an estimate of the quiet wall time.

The shared machine's load made wall times of the whole job meaningless during stop 33 (load 9-18),
while each step's CPU time (``benchmarks/timeline_run.py``, per process) stayed measurable.  This
model replays the job's processes from those CPU seconds: each process is a list of steps (CPU
seconds), forks of other processes, marks (the access tables handed over) and waits; the runnable
processes share the cores equally, none faster than one core.  It ignores I/O, Chromium's start-up
latency and cache effects, so it reads low (main c00ded7 models at 9.8 s against 10.0-10.6 s measured
quietly at stop 32); it is for comparing orders of the same steps, not for absolute figures.

Usage::

    python benchmarks/model_run_schedule.py        # the schedules below, with each step's start and end
"""
from __future__ import annotations

import copy

CORES = 2


def cpu(seconds: float, label: str) -> tuple:
    return ("cpu", seconds, label)


def simulate(procs: dict[str, list[tuple]], root: str = "main") -> tuple[float, list[tuple]]:
    """Wall time and ``(process, step, start, end)`` of each step."""
    state, marks, t, log = {root: {"pc": 0, "left": None}}, set(), 0.0, []
    while True:
        _advance(procs, state, marks, t)
        running = [n for n, st in state.items() if st["left"] is not None]
        if not running:
            return t, log
        speed = min(1.0, CORES / len(running))
        dt = min(state[n]["left"] for n in running) / speed
        t += dt
        for n in running:
            st = state[n]
            st["left"] -= dt * speed
            if st["left"] <= 1e-9:
                log.append((n, st["label"], st["t0"], t))
                st["left"], st["pc"] = None, st["pc"] + 1


def _advance(procs: dict, state: dict, marks: set, t: float) -> None:
    """Take every instantaneous action (fork, mark, a wait that is over) until each process runs or waits."""
    moved = True
    while moved:
        moved = False
        for name, st in list(state.items()):
            acts = procs[name]
            while st["pc"] < len(acts) and st["left"] is None:
                kind, *arg = acts[st["pc"]]
                if kind == "cpu":
                    st.update(left=arg[0], label=arg[1], t0=t)
                    break
                if kind == "wait" and (arg[0], arg[1]) not in marks:
                    break
                if kind == "fork":
                    state[arg[0]] = {"pc": 0, "left": None}
                elif kind == "mark":
                    marks.add((name, arg[0]))
                st["pc"] += 1
                moved = True
            if st["pc"] >= len(acts) and (name, "end") not in marks:
                marks.add((name, "end"))
                moved = True


# CPU seconds per step: medians of benchmarks/timeline_run.py on both trees (stop 33, BENCHMARKS.md)
ACCESS = [cpu(1.9, "access-tables"), ("mark", "handover"), cpu(2.4, "access-write")]
BEFORE = {  # main c00ded7
    "main": [cpu(1.55, "imports"), cpu(1.2, "load"), cpu(0.25, "access"), ("fork", "access"),
             cpu(2.7, "localities"), cpu(0.06, "recommend"), cpu(0.66, "sites"), ("wait", "access", "handover"),
             cpu(0.53, "report"), ("fork", "pdf"), ("wait", "access", "end"), ("fork", "workbook"),
             ("fork", "sheet"), cpu(0.92, "maps"), ("wait", "sheet", "end"), ("wait", "workbook", "end"),
             ("wait", "pdf", "end")],
    "access": ACCESS, "pdf": [cpu(1.2, "chromium")], "sheet": [cpu(1.25, "sheet")],
    "workbook": [cpu(0.6, "localities-write"), cpu(1.05, "workbook")],
}
AFTER = {  # this branch: the stored area, the localities' tables written early, the workbook started first
    "main": [cpu(1.55, "imports"), cpu(0.02, "load"), cpu(0.25, "access"), ("fork", "access"),
             cpu(2.7, "localities"), ("fork", "locw"), cpu(0.06, "recommend"), cpu(0.66, "sites"),
             ("wait", "access", "handover"), cpu(0.53, "report"), ("fork", "pdf"), ("fork", "sheet"),
             ("wait", "access", "end"), ("wait", "locw", "end"), ("fork", "workbook"), cpu(0.92, "maps"),
             ("wait", "sheet", "end"), ("wait", "pdf", "end"), ("wait", "workbook", "end")],
    "access": ACCESS, "locw": [cpu(0.6, "localities-write")], "pdf": [cpu(1.2, "chromium")],
    "sheet": [cpu(1.25, "sheet")], "workbook": [cpu(1.05, "workbook")],
}


def _auto_in_background(after: dict, before_imports: bool) -> dict:
    """``AFTER`` with the auto schemes built by another process (tried, dropped): the child imports
    libpysal and spopt, and the main process imports spopt again for the hub sites."""
    v = copy.deepcopy(after)
    m = v["main"]
    at = m.index(cpu(2.7, "localities"))
    m[at:at + 1] = [cpu(0.6, "localities: towns, pcns"), ("wait", "schemes", "end"), cpu(1.1, "localities: auto")]
    m[m.index(cpu(0.66, "sites"))] = cpu(1.1, "sites (+ spopt import)")
    if before_imports:
        m.insert(0, ("fork", "schemes"))
        v["schemes"] = [cpu(2.8, "schemes (own imports, read, build)")]
    else:
        m.insert(m.index(cpu(0.25, "access")), ("fork", "schemes"))
        v["schemes"] = [cpu(1.45, "schemes")]
    return v


def main() -> int:
    stored_only = copy.deepcopy(BEFORE)
    stored_only["main"][1] = cpu(0.02, "load")
    for title, procs in (("main c00ded7", BEFORE), ("main c00ded7 with the stored area only", stored_only),
                         ("this branch", AFTER),
                         ("auto schemes in a background process after the load (dropped)",
                          _auto_in_background(AFTER, False)),
                         ("auto schemes forked before the imports (dropped)", _auto_in_background(AFTER, True))):
        wall, log = simulate(procs)
        print(f"## {title}: {wall:.2f} s\n")
        print("| process | step | start s | end s |\n|---|---|---:|---:|")
        for name, label, a, b in sorted(log, key=lambda r: r[2]):
            print(f"| {name} | {label} | {a:.2f} | {b:.2f} |")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
