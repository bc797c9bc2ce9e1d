"""``make test``'s scheduling (tests/conftest.py): under ``--dist loadgroup`` the files in SPLIT_FILES are
cut into work units of the tests sharing a module-scoped fixture, every other file is one unit, and the
units are handed out longest first (tests/durations.json)."""
from __future__ import annotations

import json
from pathlib import Path

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py")

SPLIT = '''
import pytest
from pathlib import Path

def _ran(request):
    with open(Path(__file__).with_name("ran.txt"), "a") as f:
        f.write(request.node.nodeid + "\\n")

@pytest.fixture(scope="module")
def shared():
    return 1

@pytest.fixture
def via_shared(shared):
    return shared

def test_a(shared, request):
    _ran(request)

def test_b(via_shared, request):
    _ran(request)

def test_c(request):
    _ran(request)

@pytest.mark.parametrize("x", [1, 2])
def test_d(x, request):
    _ran(request)
'''

WHOLE = '''
from pathlib import Path

def _ran(request):
    with open(Path(__file__).with_name("ran.txt"), "a") as f:
        f.write(request.node.nodeid + "\\n")

def test_e(request):
    _ran(request)

def test_f(request):
    _ran(request)
'''


def _project(pytester, durations: dict[str, float]) -> None:
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    pytester.makepyfile(test_cli_e2e=SPLIT, test_whole=WHOLE)  # test_cli_e2e.py is one of SPLIT_FILES
    (pytester.path / "durations.json").write_text(json.dumps(durations))


def test_split_files_share_module_fixtures_within_a_unit_and_the_longest_units_go_first(pytester, monkeypatch):
    _project(pytester, {"test_cli_e2e.py::test_c": 100.0, "test_whole.py::test_f": 50.0})
    monkeypatch.setenv("LOCMAP_TEST_UNITS_DIR", str(pytester.path))
    result = pytester.runpytest_subprocess("-n", "1", "--dist", "loadscope", "--no-loadscope-reorder", "-q",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=7)
    # the queue (one worker: the order the tests ran), longest unit first, then the collection order
    assert (pytester.path / "ran.txt").read_text().split() == [
        "test_cli_e2e.py::test_c", "test_whole.py::test_e", "test_whole.py::test_f", "test_cli_e2e.py::test_a",
        "test_cli_e2e.py::test_b", "test_cli_e2e.py::test_d[1]", "test_cli_e2e.py::test_d[2]"]
    # test_b shares the module fixture through a function fixture; a file not in SPLIT_FILES is one unit
    assert json.loads((pytester.path / "gw0.json").read_text()) == {
        "test_cli_e2e.py::test_c": "test_cli_e2e.py::test_c",
        "test_whole.py::test_e": "test_whole.py", "test_whole.py::test_f": "test_whole.py",
        "test_cli_e2e.py::test_a": "test_cli_e2e.py::test_a", "test_cli_e2e.py::test_b": "test_cli_e2e.py::test_a",
        "test_cli_e2e.py::test_d[1]": "test_cli_e2e.py::test_d", "test_cli_e2e.py::test_d[2]": "test_cli_e2e.py::test_d"}


def test_two_workers_run_the_tests_sharing_a_module_fixture_in_one_worker(pytester, monkeypatch):
    _project(pytester, {})
    monkeypatch.setenv("LOCMAP_TEST_UNITS_DIR", str(pytester.path))
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadscope", "--no-loadscope-reorder", "-v",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=7)
    worker = {line.split()[-1]: line.split()[0] for line in result.outlines if " PASSED " in line}
    assert worker["test_cli_e2e.py::test_a"] == worker["test_cli_e2e.py::test_b"]
    assert worker["test_whole.py::test_e"] == worker["test_whole.py::test_f"]
    assert set(worker.values()) == {"[gw0]", "[gw1]"}  # the split file's other units went to both


def test_without_xdist_nothing_is_reordered(pytester):
    _project(pytester, {"test_whole.py::test_f": 50.0})
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=7)
    assert (pytester.path / "ran.txt").read_text().split() == [
        "test_cli_e2e.py::test_a", "test_cli_e2e.py::test_b", "test_cli_e2e.py::test_c",
        "test_cli_e2e.py::test_d[1]", "test_cli_e2e.py::test_d[2]", "test_whole.py::test_e", "test_whole.py::test_f"]
