"""The test tiers and allocator markers (tests/conftest.py): the fast tier `pytest` runs keeps a
test of every module (the modules follow the layers) and of every allocator configuration; the
slow tier is what `--all` adds; `-m CONFIG` selects by configuration, composed ones apart."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, config_markers, marker_name

from toolchain import catalog

PLUGIN = """
import os

SKIPPED = []


def pytest_collectreport(report):
    if report.skipped and report.nodeid.endswith(".py"):  # a module skipped whole
        SKIPPED.append(report.nodeid)


def pytest_collection_finish(session):
    with open(os.environ["TIERS_OUT"], "w") as f:
        for item in session.items:
            marks = sorted({m.name for m in item.iter_markers()})
            f.write(item.nodeid + " " + ",".join(marks) + "\\n")
        for nodeid in SKIPPED:
            f.write(nodeid + " module-skipped\\n")
"""


SKIPPED_MODULES: set[str] = set()  # modules skipped whole at collection, seen by _collect


def _collect(tmp_path: Path, *args: str) -> dict[str, set[str]]:
    """Test id -> its markers, as `pytest ARGS` would select them (collection only)."""
    (tmp_path / "tiers_plugin.py").write_text(PLUGIN)
    out = tmp_path / f"collected-{len(list(tmp_path.iterdir()))}.txt"
    env = {
        **os.environ,
        "TIERS_OUT": str(out),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0", "-p", "tiers_plugin",
         "-p", "no:cacheprovider", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    found = {}
    for line in out.read_text().splitlines():
        nodeid, _, marks = line.rpartition(" ")  # ids may hold spaces, marker lists do not
        if marks == "module-skipped":
            SKIPPED_MODULES.add(nodeid)
            continue
        found[nodeid] = set(marks.split(",")) - {""}
    return found


@pytest.fixture(scope="module")
def tiers(tmp_path_factory) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    tmp = tmp_path_factory.mktemp("tiers")
    return _collect(tmp, "tests"), _collect(tmp, "tests", "--all")


def test_the_fast_tier_is_everything_not_marked_slow(tiers):
    fast, every = tiers
    slow = {t for t, marks in every.items() if "slow" in marks}
    assert slow, "no test is marked slow: the fast tier is the whole suite"
    assert set(fast) == set(every) - slow


def test_the_fast_tier_keeps_a_test_of_every_module(tiers):
    fast, every = tiers
    modules = {t.split("::")[0] for t in every}
    # (a module skipped whole, test_cluster.py without distributed, has no test to keep)
    files = {str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py")}
    assert modules == files - SKIPPED_MODULES
    assert modules == {t.split("::")[0] for t in fast}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_fast_tier_touches_every_layer(tiers):
    """Every layer of emulator/ (emulator/__init__.py), and the toolchain, has a fast-tier test
    in a module that imports it by name (most reach the machine through the session as well)."""
    fast, _ = tiers
    layers = [f"emulator.{p.name}" for p in (ROOT / "emulator").iterdir() if p.is_dir()
              and any(p.glob("*.py"))] + ["toolchain"]  # fmt: skip
    assert len(layers) >= 8
    imports = {m: _imports(ROOT / m) for m in {t.split("::")[0] for t in fast}}
    untouched = [
        layer for layer in layers
        if not any(n == layer or n.startswith(layer + ".") for i in imports.values() for n in i)
    ]  # fmt: skip
    assert untouched == []


def test_the_fast_tier_runs_every_allocator_configuration(tiers):
    fast, _ = tiers
    allocators = [n for n, c in catalog.configs().items() if c.kind != "base"]
    marked = set().union(*fast.values())
    assert [n for n in allocators if marker_name(n) not in marked] == []


def test_markers_come_from_the_config_parameter_and_name_composed_parts():
    assert config_markers("bbuddy-perorder") == ["bbuddy_perorder"]
    assert config_markers("mimalloc+bbuddy-spin+shimlock") == [
        "mimalloc_bbuddy_spin_shimlock",
        "mimalloc",
        "shimlock",
    ]
    assert config_markers("default") == []  # no allocator


def test_a_config_marker_selects_that_configuration_only(tmp_path, tiers):
    _, every = tiers
    chosen = _collect(tmp_path, "tests", "-m", "bbuddy_perorder")
    assert chosen and all("bbuddy_perorder" in marks for marks in chosen.values())
    assert "tests/test_frontend.py::test_malloc_api[mimalloc+bbuddy-perorder]" not in chosen
    # the slow tier's tests of the configuration too: -m chooses for itself
    assert set(chosen) == {t for t, marks in every.items() if "bbuddy_perorder" in marks}
    assert any("slow" in marks for marks in chosen.values())


def _pytest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("jobs", ["0", "2"])  # in one process, and with xdist's workers
def test_a_config_marker_that_selects_nothing_here_is_not_a_failure(jobs):
    """test_tiers.py runs no allocator: `-m bbuddy_perorder` selects none of its tests. pytest
    says 5, "no tests collected"; that is a valid selection, so it exits 0 and says why."""
    proc = _pytest("tests/test_tiers.py", "-m", "bbuddy_perorder", "-n", jobs)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "-m 'bbuddy_perorder' selects no test here" in proc.stdout


def test_an_empty_selection_by_mistake_still_fails():
    unknown = _pytest("tests/test_tiers.py", "-m", "bbuddy_prorder", "-n", "0")
    assert unknown.returncode == pytest.ExitCode.NO_TESTS_COLLECTED
    assert "no marker named bbuddy_prorder" in unknown.stdout
    typo = _pytest("tests/test_tiers.py", "-k", "no_such_test", "-n", "0")
    assert typo.returncode == pytest.ExitCode.NO_TESTS_COLLECTED
