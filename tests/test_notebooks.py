"""The notebook suite: executes on the real data (Ealing and Hounslow), reads as an analyst needs.

Each executed notebook must show its maps (``image/png`` or an HTML map), no stderr or warning,
and open its results with a Key findings cell naming what the library computes for that run.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.sign import NotebookNotary

from locmap.notebooks import NOTEBOOK_DIR, notebook_kernel, notebook_paths, parse_parameters, run_notebooks

pytestmark = pytest.mark.notebooks

EXPECTED = ["01_area_overview", "02_need_and_assets", "03_pram_distance_gaps", "04_choose_pathfinder",
            "05_workshop_export", "06_family_services_finder", "07_scenarios"]

#: Modest parameters so the five notebooks run quickly on 2 cores.
FAST = {"n_draws": 200, "k_values": "3..5", "speeds_kmh": [4.0], "gap_scenarios": [10, 15],
        "dpi": 80, "top_n": 1}
GAP_MINUTES = 15.0

#: Files every notebook must write into its output folder (non-empty).
OUTPUTS = {
    "01_area_overview": ["01_alignment.csv", "01_population_by_town.csv", "01_population_by_pcn.csv",
                         "01_towns_vs_pcns.csv", "children_0_19_by_ward.png", "tables/population_by_ward.csv"],
    "02_need_and_assets": ["02_children_by_idaci_decile.csv", "02_services_by_type.csv",
                           "02_rejects_by_reason.csv", "02_rejects.csv", "02_unlocated.csv", "services_map.png"],
    "03_pram_distance_gaps": ["03_calibration.csv", "03_coverage_total.csv", "03_gaps_by_town.csv",
                              "03_gaps_by_pcn.csv", "03_cross_border.csv", "03_straight_vs_street.csv",
                              "pram_distance_key_services.png"],
    "04_choose_pathfinder": ["scorecard_towns.csv", "ranking_towns.csv", "sensitivity_towns.csv",
                             "scorecard_pcns.csv", "alignment.csv", "leaders.csv", "recommendation.csv",
                             "hub_summary.csv", "localities_run.json"],
    "05_workshop_export": ["maps/{area}.html", "maps/{area}_offline.html", "05_workshop_files.csv"],
    "06_family_services_finder": ["06_lookup.csv", "06_all_postcodes.csv", "06_crossborder_shares.csv",
                                  "finder.html"],
    "07_scenarios": ["summary.csv", "differences.csv", "homes_changed.csv", "changes.csv", "scenario_map.html",
                     "scenarios_section.html"],
}
#: Code that draws a map: its cell must show a PNG or an HTML map.
MAP_CALLS = ("sm.plot_", "sm.small_multiples", "present.map_view", "present.workshop_preview")
#: Text that belongs to Ealing only: none of it may appear in what the notebooks write about Hounslow.
EALING_ONLY = ("Southall", "Northolt", "Acton", "Greenford", "Hanwell", "Perivale", "London Borough of Ealing",
               "Jubilee", "INCOMPLETE", "a handful of sites", "Early Start")


def _code_cells(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def _params(path: Path) -> dict[str, str]:
    nb = nbformat.read(path, as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    return dict(re.findall(r"^(\w+) = (.*?)\s*(?:#.*)?$", cell.source, flags=re.M))


def _text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    return str(output.get("data", {}).get("text/plain", ""))


def _findings(nb) -> tuple[int, dict]:
    """(index among code cells with output, output) of the Key findings display."""
    shown = [c for c in nb.cells if c.cell_type == "code" and c.outputs]
    for i, cell in enumerate(shown):
        for out in cell.outputs:
            if out.get("metadata", {}).get("text/html", {}).get("locmap", {}).get("kind") == "key_findings":
                return i, out
    raise AssertionError("no Key findings output")


# ----------------------------------------------------------------------------- committed notebooks
def test_suite_present():
    assert [p.stem for p in notebook_paths()] == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_committed_without_outputs_and_only_used_parameters(name):
    path = NOTEBOOK_DIR / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: a code cell has outputs"
            assert cell.execution_count is None, f"{name}: a code cell has an execution count"
    params = _params(path)
    assert {"area", "data_root", "out_dir"} <= set(params), f"{name}: common parameters missing"
    assert params["out_dir"].startswith('"out/'), f"{name}: default out_dir must stay under notebooks/out"
    body = "\n".join(c.source for c in nb.cells if c.cell_type == "code"
                     and "parameters" not in c.metadata.get("tags", []))
    unused = [p for p in params if not re.search(rf"\b{p}\b", body)]
    assert not unused, f"{name}: parameters declared but not used: {unused}"
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert not any(w in markdown for w in EALING_ONLY + ("Ealing",)), f"{name}: area-specific text in markdown"


def test_thin_no_functions_no_copies():
    seen: dict[str, str] = {}
    for path in notebook_paths():
        for src in _code_cells(path):
            lines = [ln.strip() for ln in src.splitlines()]
            assert not any(ln.startswith(("def ", "async def ", "class ")) for ln in lines), \
                f"{path.name} defines a function/class: move it to a locmap module"
            assert "lambda" not in src, f"{path.name} defines a lambda"
            key = "\n".join(ln for ln in lines if ln and not ln.startswith("#"))
            if not key:
                continue
            assert key not in seen or seen[key] == path.name, \
                f"code cell copied between {seen.get(key)} and {path.name}:\n{src}"
            seen[key] = path.name


def test_unknown_parameter_rejected(tmp_path):
    from locmap.notebooks import NotebookRunError, run_notebooks

    with pytest.raises(NotebookRunError, match="unknown notebook parameter"):
        run_notebooks("ealing", tmp_path, {"no_such_parameter": 1}, only="01")
    with pytest.raises(NotebookRunError, match="no notebook matches"):
        notebook_paths("09")


def test_failure_gives_nonzero_exit(tmp_path):
    """A notebook error makes the runner fail (exit code 1), with the executed copy kept."""
    from locmap.cli import main

    rc = main(["notebooks", "--area", "no_such_area", "--out", str(tmp_path), "--only", "01"])
    assert rc == 1
    assert (tmp_path / "01_area_overview.ipynb").exists()


IRIS = [("https://example.org/café?q=1", "iri"), ("http://exa mple.org/", "iri"), ("x/y?q=1", "iri-reference"),
        ("a b", "iri-reference")]


def test_importing_papermill_builds_no_iri_grammars():
    """``defer_iri_grammars`` (as ``run_notebooks`` and tests/conftest.py call it): papermill, nbformat and
    jsonschema import without building rfc3987_syntax's grammars; jsonschema's first IRI check builds them."""
    code = ("import sys\nfrom locmap.lazy_imports import defer_iri_grammars\ndefer_iri_grammars()\n"
            "import jsonschema, nbformat, papermill\nprint('rfc3987_syntax.syntax_helpers' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(NOTEBOOK_DIR.parent),
                                                                     os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout == "False\n", out.stderr


def test_jsonschema_still_checks_iris_with_rfc3987_syntax():
    """What the deferral must not weaken: jsonschema's format checker (the Open Referral reader's) checks
    IRIs with rfc3987_syntax's grammars, as without the stand-in; nbformat still rejects a malformed notebook."""
    import jsonschema

    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    assert {"iri", "iri-reference"} <= set(checker.checkers)
    assert [checker.conforms(value, fmt) for value, fmt in IRIS] == [True, False, True, False]
    assert type(sys.modules["rfc3987_syntax"].is_valid_syntax("iri", "https://example.org/")) is bool
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    del nb.cells[0]["source"]
    with pytest.raises(nbformat.ValidationError):
        nbformat.validate(nb)


# ----------------------------------------------------------------------------- executed suite
@pytest.fixture(scope="session")
def area_cache(tmp_path_factory) -> Path:
    """This test session's cache folder for the notebooks' stored areas (``stored_area``, default on):
    no copy stored by another session or by the user is read."""
    return tmp_path_factory.mktemp("area_cache")


@pytest.fixture(scope="module")
def kernel(area_cache, tmp_path_factory):
    """One kernel for the module's suites (Ealing, Hounslow, the generated borough; ``notebook_kernel``):
    the kernel's start and the imports once, not three times; each run resets it before each notebook
    as ``one_kernel`` does.  It reads and keeps stored areas in this session's ``area_cache``
    (``LOCMAP_CACHE_DIR`` when it starts)."""
    with contextlib.ExitStack() as stack:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("LOCMAP_CACHE_DIR", str(area_cache))
            km = stack.enter_context(notebook_kernel(cwd=tmp_path_factory.mktemp("kernel")))
        yield km


def _run(area: str, out: Path, extra: dict, cache: Path, kernel) -> tuple[Path, dict[str, list[str]]]:
    """The whole suite in the module's kernel, reset before each notebook (the imports once, not seven
    times); the parameters are read as ``locmap notebooks -p`` reads them.  The kernel parses the area in
    notebook 01 and keeps it in ``cache`` (``stored_area``, as a user's first run does); the others read
    that copy.  Returns the folder and what the library computes for each notebook (``_expected_names``,
    in the same kernel).  A fresh kernel per notebook (the default) is run by test_cli_e2e and
    test_injection."""
    pairs = [[k, str(v)] for k, v in {**FAST, **extra}.items()]
    t0 = time.perf_counter()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LOCMAP_CACHE_DIR", str(cache))  # as the kernel started with it
        run_notebooks(area, out, parse_parameters(pairs), only=",".join(n[:2] for n in EXPECTED), kernel=kernel,
                      save_each_cell=False)
    expected = _expected_names(kernel, area)
    # no timing assert (project rule): the time is reported
    print(f"{area}: notebook suite took {time.perf_counter() - t0:.0f} s")
    return out, expected


@pytest.fixture(scope="module")
def ealing_suite(tmp_path_factory, area_cache, kernel):
    return _run("ealing", tmp_path_factory.mktemp("nb_ealing"), {"localities": "[Southall, Northolt]"}, area_cache,
                kernel)


@pytest.fixture(scope="module")
def ealing_run(ealing_suite) -> Path:
    return ealing_suite[0]


@pytest.fixture(scope="module")
def hounslow_suite(tmp_path_factory, area_cache, kernel):
    # Hounslow has one "town" (no ward-to-town table): 04 and 05 recommend among PCN footprints.  05 prints
    # one of its five PCN sheets (the sheets' text is not what this test reads; two named sheets are
    # printed by the Ealing run, the default, a sheet for every locality, by the generated borough's test)
    return _run("hounslow", tmp_path_factory.mktemp("nb_hounslow"),
                {"schemes": "towns,pcns", "sites_scheme": "pcns", "localities": "[CHISWICK PCN]"},
                area_cache, kernel)


def _expected_names(kernel, area: str) -> dict[str, list[str]]:
    """What the library computes for each notebook with the test's parameters (tests/notebook_expected.py),
    computed in the suite's kernel after the suite: the library's opt-in memos give back the analyses the
    notebooks made from the same inputs (the access analysis, the hub sites) instead of computing them
    again in this process; a notebook that used other inputs leaves nothing to reuse."""
    code = (f"import json as _json, sys as _sys\n_sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
            "import notebook_expected as _expected\n_sys.path.pop(0)\n"
            f"print(_json.dumps(_expected.expected_names({area!r}, {FAST['n_draws']!r}, {FAST['speeds_kmh']!r}, "
            f"{FAST['gap_scenarios']!r}, {GAP_MINUTES!r})))\n")
    printed, errors = [], []

    def collect(msg: dict) -> None:
        if msg["msg_type"] == "stream":
            (printed if msg["content"]["name"] == "stdout" else errors).append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            errors.append("\n".join(msg["content"]["traceback"]))

    kc = kernel.client()
    reply = kc.execute_interactive(code, store_history=False, timeout=600, output_hook=collect)
    assert reply["content"]["status"] == "ok" and not errors, "".join(errors)
    return json.loads("".join(printed))


def _check_executed(run: Path, area_name: str) -> dict[str, str]:
    """Assertions shared by both areas; returns each notebook's Key findings text."""
    findings = {}
    for name in EXPECTED:
        nb = nbformat.read(run / f"{name}.ipynb", as_version=4)
        assert NotebookNotary().check_signature(nb), f"{name}: executed copy not signed as trusted"
        for cell in (c for c in nb.cells if c.cell_type == "code"):
            for out in cell.outputs:
                assert out.get("output_type") != "error", f"{name}: {out.get('ename')}: {out.get('evalue')}"
                assert not (out.get("output_type") == "stream" and out.get("name") == "stderr"), \
                    f"{name}: stderr output: {out.get('text', '')[:300]}"
                assert "Warning" not in _text(out) and "warn(" not in _text(out), f"{name}: {_text(out)[:300]}"
            if any(call in cell.source for call in MAP_CALLS):
                kinds = [k for o in cell.outputs for k in o.get("data", {})]
                html = "".join(str(o.get("data", {}).get("text/html", "")) for o in cell.outputs)
                assert "image/png" in kinds or "<iframe" in html, f"{name}: map cell shows no map: {cell.source[:80]}"
        first, out = _findings(nb)
        assert first == 0, f"{name}: the Key findings must open the results"
        findings[name] = _text(out)
        for rel in OUTPUTS[name]:
            f = run / name / rel.format(area=area_name)
            assert f.exists() and f.stat().st_size > 0, f"{name}: {rel} missing or empty"
    return findings


def _findings_name_what_the_library_computes(suite: tuple[Path, dict], area_name: str) -> dict[str, str]:
    """Each executed notebook's Key findings name what the library computes (returns them)."""
    run, expected = suite
    findings = _check_executed(run, area_name)
    for name in EXPECTED:
        for text in expected[name[:2]]:
            assert text in findings[name], f"{name}: Key findings do not name {text!r}:\n{findings[name]}"
    return findings


def test_ealing_suite_shows_maps_findings_and_no_warnings(ealing_suite, ealing_run):
    _findings_name_what_the_library_computes(ealing_suite, "ealing")
    # the children's-centre caveat is said once, in the caveats cell, not again under each table
    nb = nbformat.read(ealing_run / "02_need_and_assets.ipynb", as_version=4)
    cav = next(c for c in nb.cells if c.cell_type == "code" and "present.caveats" in c.source)
    assert "Jubilee Children's Centre" in _text(cav.outputs[0])
    outputs = "".join(_text(o) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert outputs.count("The list is incomplete, so distances to children's centres overstate") == 1
    # no internal ids or truncation in any notebook's Key findings
    for name in EXPECTED:
        text = _text(_findings(nbformat.read(ealing_run / f"{name}.ipynb", as_version=4))[1])
        assert not re.search(r"auto_\w+|infeasible:|outside bounds|…|\.\.\.", text), (name, text)
    # 05 previews every sheet as a thumbnail and embeds the offline map
    nb = nbformat.read(ealing_run / "05_workshop_export.ipynb", as_version=4)
    prev = next(c for c in nb.cells if c.cell_type == "code" and "workshop_preview" in c.source)
    page = prev.outputs[0]["data"]["text/html"]
    assert page.count("data:image/png;base64") == 2 and "05_workshop_export/maps/ealing_offline.html" in page


def test_hounslow_suite_is_area_aware(hounslow_suite):
    hounslow_run = hounslow_suite[0]
    findings = _findings_name_what_the_library_computes(hounslow_suite, "hounslow")
    for name in EXPECTED:
        nb = nbformat.read(hounslow_run / f"{name}.ipynb", as_version=4)
        written = [findings[name]] + [
            _text(o) for c in nb.cells if c.cell_type == "code" and "present.caveats" in c.source for o in c.outputs]
        for text in written:
            leaked = [w for w in EALING_ONLY if w in text]
            assert not leaked, f"{name}: Ealing-specific text in a Hounslow run: {leaked}"
        caveats = "".join(written[1:])
        assert "London Borough of Hounslow" in caveats
    nb = nbformat.read(hounslow_run / "02_need_and_assets.ipynb", as_version=4)
    cav = next(c for c in nb.cells if c.cell_type == "code" and "present.caveats" in c.source)
    assert "no children's-centre list" in _text(cav.outputs[0])


def test_tables_are_presented_not_raw(ealing_run):
    """No index column, no internal ids or code names, people as whole numbers, long tables linked."""
    for name in EXPECTED:
        nb = nbformat.read(ealing_run / f"{name}.ipynb", as_version=4)
        tables = (c for c in nb.cells if c.cell_type == "code" and "present.table" in c.source
                  and "column_descriptions" not in c.source)  # the data dictionary names the columns
        for cell in tables:
            for out in cell.outputs:
                html = str(out.get("data", {}).get("text/html", ""))
                assert "__total__" not in html and "pop_0_4" not in html and "vi_bits" not in html, name
                raw = re.search(r">-?\d{4,}\.\d+</td>|>-?[\d.]+e-?\d+</td>", html)  # 80162.0, 5.4e-16
                assert not raw, f"{name}: a raw number {raw.group(0) if raw else ''}: {cell.source[:60]}"
    nb = nbformat.read(ealing_run / "01_area_overview.ipynb", as_version=4)
    wards = next(c for c in nb.cells if c.cell_type == "code" and "population_by_ward" in c.source)
    html = wards.outputs[0]["data"]["text/html"]
    assert "Showing 15 of 24 rows" in html and "01_area_overview/tables/population_by_ward.csv" in html
    full = pd.read_csv(ealing_run / "01_area_overview" / "tables" / "population_by_ward.csv")
    assert len(full) == 24 and round(full["Children and young people 0-19 (people)"].sum()) == 89183


def test_a_generated_borough_chooses_among_several_localities_by_default(tmp_path, kernel):
    # london:city-of-london: one town (the borough) and one PCN footprint, so notebooks 04 and 05
    # lead with its wards; before, 04 "recommended" the City itself and failed on p=2 hub sites
    # in Cripplegate (one candidate site).  In the module's kernel (``_run``'s way: one start, one import
    # of the stack; 04 parses the area and keeps it in the session's cache folder, 05 reads that copy);
    # the default fresh kernel per notebook is run by test_cli_e2e and test_injection
    pairs = [[k, str(v)] for k, v in FAST.items()]
    run_notebooks("london:city-of-london", tmp_path, parse_parameters(pairs), only="04,05", kernel=kernel)
    for name in ("04_choose_pathfinder", "05_workshop_export"):
        nb = nbformat.read(tmp_path / f"{name}.ipynb", as_version=4)
        text = "".join(_text(o) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
        assert "Recommended pathfinder (wards): " in text, name
        assert "City of London; runner-up" not in text


def _tiny_notebook(path: Path, *sources: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('area = "ealing"\nout_dir = "out/x"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(src) for src in sources)]
    nbformat.write(nb, path)


def test_one_kernel_empties_the_namespace_before_each_notebook(tmp_path):
    """``one_kernel``: the second notebook does not see the first one's names (the same NameError as in a
    fresh kernel), modules stay imported, a library's warning shown in the first is shown again in the
    second (as a fresh kernel shows it), and each executed copy counts its cells from 1."""
    from locmap.notebooks import NotebookRunError

    folder = tmp_path / "nbs"
    folder.mkdir()
    warn = "import numpy as np\nnp.mean([])"  # numpy warns "Mean of empty slice" (once per place in numpy)
    _tiny_notebook(folder / "01_first.ipynb", "import json\nleft_over = area + out_dir", "print(len(left_over))", warn)
    _tiny_notebook(folder / "02_second.ipynb", warn, "import sys\nprint('json' in sys.modules, out_dir[-9:])")
    _tiny_notebook(folder / "03_third.ipynb", "print(left_over)")
    out = tmp_path / "run"
    with pytest.raises(NotebookRunError, match="(?s)03_third.ipynb failed.*NameError.*left_over"):
        run_notebooks("ealing", out, folder=folder, one_kernel=True, trust=False)
    first, second = (nbformat.read(out / f"{n}.ipynb", as_version=4) for n in ("01_first", "02_second"))
    assert [c.execution_count for c in first.cells if c.cell_type == "code"] == [1, 2, 3, 4, 5]  # 2: injected
    assert [c.execution_count for c in second.cells if c.cell_type == "code"] == [1, 2, 3, 4]
    assert _text(second.cells[-1].outputs[0]) == "True 02_second\n"
    for nb in (first, second):
        shown = [o for c in nb.cells if c.cell_type == "code" and c.source == warn for o in c.outputs]
        assert any(o.get("name") == "stderr" and "Mean of empty slice" in o.get("text", "") for o in shown), shown


def test_copies_written_once_at_the_end_still_show_the_failing_cell(tmp_path, kernel):
    """``save_each_cell=False``: each executed copy is written when its notebook ends, the failing one
    with its traceback, as with a save after every cell (in the module's kernel: no kernel started for
    two tiny notebooks; ``one_kernel``'s own kernel is run by the test above)."""
    from locmap.notebooks import NotebookRunError

    folder = tmp_path / "nbs"
    folder.mkdir()
    _tiny_notebook(folder / "01_first.ipynb", "print(area)")
    _tiny_notebook(folder / "02_second.ipynb", "print('before')", "1 / 0", "print('never')")
    out = tmp_path / "run"
    with pytest.raises(NotebookRunError, match=r"(?s)02_second.ipynb failed \(executed copy: .*ZeroDivisionError"):
        run_notebooks("ealing", out, folder=folder, kernel=kernel, trust=False, save_each_cell=False)
    first, second = (nbformat.read(out / f"{n}.ipynb", as_version=4) for n in ("01_first", "02_second"))
    assert _text(first.cells[-1].outputs[0]) == "ealing\n"
    code = [c for c in second.cells if c.cell_type == "code"]
    assert _text(code[-3].outputs[0]) == "before\n"
    assert code[-2].outputs[0]["ename"] == "ZeroDivisionError" and code[-1].outputs == []


def test_a_shared_kernel_that_died_between_runs_stops_the_next_run(tmp_path):
    """The shared kernel's one client waits for the kernel once; before each later notebook it checks that
    the kernel is still alive: a kernel that died in between stops the next run with an error naming the
    notebook (no hang, no run on a dead kernel)."""
    import signal

    from locmap.notebooks import NotebookRunError

    folder = tmp_path / "nbs"
    folder.mkdir()
    _tiny_notebook(folder / "01_first.ipynb", "print(area)")
    with notebook_kernel(cwd=tmp_path) as k:
        (done,) = run_notebooks("ealing", tmp_path / "a", folder=folder, kernel=k, trust=False)
        assert _text(nbformat.read(done, as_version=4).cells[-1].outputs[0]) == "ealing\n"
        k.provisioner.process.send_signal(signal.SIGKILL)
        k.provisioner.process.wait(timeout=30)
        with pytest.raises(NotebookRunError, match="could not be reset before 01_first.ipynb: Kernel died"):
            run_notebooks("ealing", tmp_path / "b", folder=folder, kernel=k, trust=False)
