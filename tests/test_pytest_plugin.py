"""The pytest plugin (emulator/cli/pytest_plugin.py), as a user's own test suite uses it: each
test here writes a test file into a fresh directory and runs pytest on it (pytester)."""

from __future__ import annotations

import importlib.metadata
import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
FIRSTFIT = ROOT / "examples" / "ukallocfirstfit"
MYAPP = ROOT / "examples" / "myapp"


def _installed() -> bool:
    """Whether the installed package's entry point loads the plugin by itself."""
    return any(
        e.value == "emulator.cli.pytest_plugin"
        for e in importlib.metadata.entry_points(group="pytest11")
    )


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    plugin = [] if _installed() else ["-p", "emulator.cli.pytest_plugin"]
    return pytester.runpytest_subprocess(*plugin, "-p", "no:cacheprovider", *args, timeout=600)


def test_run_markers_and_hart_counts(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.smp(app="hello", defines={"HELLO_ITERS": 20})
        @pytest.mark.smp_harts(1, 3)
        def test_hello(smp, harts):
            r = smp.run(harts=harts).assert_passed()
            assert f"expected={20 * harts}" in r.console
            assert r.summary["harts"] == harts

        def test_a_fault_is_seen(smp):
            r = smp.run("crash", defines={"CRASH": "call"})
            assert not r.passed and r.outcome == "fault", r.outcome
        """
    )
    result = _run(pytester, "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*test_hello[[]1h[]] PASSED*", "*test_hello[[]3h[]] PASSED*"])


def test_a_failed_run_fails_the_test_with_the_reproduce_line(pytester):
    pytester.makepyfile(
        """
        def test_oracle_verdict(smp):
            r = smp.run("alloc-faults", config="bbuddy-spin", check=True,
                        defines={"FAULT": "double_free"})
            assert r.violation["rule"] == "double-free"
            assert r.outcome == "violation"

        def test_asserting_pass_on_it(smp):
            smp.run("alloc-faults", config="bbuddy-spin", check=True,
                    defines={"FAULT": "double_free"}).assert_passed()
        """
    )
    result = _run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*the run ended violation*", "*reproduce: python -m emulator run --app alloc-faults*"]
    )


def test_trace_records_every_call(pytester):
    pytester.makepyfile(
        """
        def test_calls(smp):
            r = smp.run("alloc-seq", config="bbuddy-spin", harts=2, trace=True).assert_passed()
            names = {c["call"] for c in r.calls}
            assert {"malloc", "free", "palloc", "pfree"} <= names, names
            assert {c["hart"] for c in r.calls} == {0, 1}
        """
    )
    _run(pytester).assert_outcomes(passed=1)


def test_explore_fails_with_the_seed_and_its_reproduce_line(pytester):
    """An allocator of one's own, out of tree: correct with its lock, found out without it."""
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.smp(app={str(MYAPP)!r}, lib={str(FIRSTFIT)!r}, config="ukallocfirstfit",
                         harts=3, quantum=5, defines={{"ROUNDS": 2}})
        def test_locked(smp):
            smp.explore(seeds=2).assert_no_failure()

        @pytest.mark.smp(app={str(MYAPP)!r}, lib={str(FIRSTFIT)!r}, config="ukallocfirstfit",
                         harts=3, quantum=5, defines={{"ROUNDS": 2}})
        def test_unlocked(smp):
            smp.explore(seeds=5, defines={{"ROUNDS": 2,
                                          "CONFIG_LIBUKALLOCFIRSTFIT_LOCK": 0}}
                        ).assert_no_failure()
        """
    )
    result = _run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*seed * of 5 failed: violation: overlap*",
            "*reproduce: python -m emulator run --app */myapp --config ukallocfirstfit "
            "--lib */ukallocfirstfit*CONFIG_LIBUKALLOCFIRSTFIT_LOCK=0*--check*",
        ]
    )


def test_bad_input_is_one_line(pytester):
    pytester.makepyfile(
        """
        def test_missing(smp):
            smp.run("./no-such-app")

        def test_hart_marker_needs_the_argument():
            pass
        """
    )
    result = _run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*smp-emulator: --app */no-such-app: * does not exist*"])
    assert "Traceback" not in result.stdout.str()


def test_the_readme_example(pytester):
    """README's example test file, run as written beside copies of the example folders."""
    import re

    readme = (ROOT / "README.md").read_text()
    (example,) = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "smp" in b]
    for folder in (MYAPP, FIRSTFIT):
        shutil.copytree(folder, pytester.path / folder.name)
    pytester.makepyfile(test_mine=example)
    _run(pytester, "-v").assert_outcomes(passed=4)
