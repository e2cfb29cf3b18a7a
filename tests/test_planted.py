"""Measured bug finding, as tests: pct finds each planted bug within its budget, and the
same runs without the bug stay clean over 50 seeds (scripts/find_bugs.py has the full table).
pct runs with its `sync` unit: atomics and plain accesses of synchronization words are steps
(emulator/schedule/syncsites.py)."""

from __future__ import annotations

import re

import pytest
from conftest import script, seed_chunks

from emulator.explore.explore import explore
from emulator.explore.planted import BUGS
from emulator.session import RunOptions

# What the fast tier keeps: pct on the Treiber race, and 5 of the 50 clean seeds of the
# three cheapest; the slow tier has the rest.
PCT_FAST = {"treiber-cas"}
CLEAN_FAST = {"treiber-cas", "treiber-cas-hold1", "remote-free-plain"}


def _case(bug, *more, fast: bool, id: str | None = None):
    marks = [pytest.mark.configs(bug.config), *([] if fast else [pytest.mark.slow])]
    return pytest.param(bug, *more, marks=marks, id=id or bug.name)


def _opts(bug, schedule: str, quantum: int, planted: bool, **kw) -> RunOptions:
    defines = dict(bug.defines)
    if not planted:
        defines.pop("ALLOC_BUG", None)
        if defines.get("TREIBER_POP") == "cas":
            defines["TREIBER_POP"] = "lrsc"
    return RunOptions(
        app=bug.app, config=bug.config, defines=defines, harts=bug.harts,
        schedule=schedule, quantum=quantum, **kw,
    )  # fmt: skip


@pytest.mark.parametrize("bug", [_case(b, fast=b.name in PCT_FAST) for b in BUGS if b.pct_budget])
def test_pct_finds_the_planted_bug_within_its_budget(bug):
    opts = _opts(bug, "pct", 10, True, pct_unit="sync")
    results, _ = explore(opts, list(range(bug.pct_budget)), 2, progress=False)
    assert any(r.failed for r in results), f"pct missed {bug.name} in {bug.pct_budget} seeds"


@pytest.mark.parametrize("bug", [_case(b, fast=True) for b in BUGS if not b.pct_budget])
def test_random_finds_what_pct_is_not_expected_to(bug):
    opts = _opts(bug, "random", bug.random_quantum, True)
    results, _ = explore(opts, list(range(50)), 2, progress=False)
    assert any(r.failed for r in results)


@pytest.mark.parametrize(
    ("bug", "seeds"),
    [_case(b, s, fast=b.name in CLEAN_FAST and s.start == 0,
           id=f"{b.name}-seeds{s.start}-{s.stop - 1}")
     for b in BUGS
     for s in (seed_chunks(range(50), 5) if b.name in CLEAN_FAST else [range(50)])],
)  # fmt: skip
def test_without_the_bug_the_run_stays_clean_over_50_seeds(bug, seeds):
    results, _ = explore(_opts(bug, "pct", 10, False, pct_unit="sync"), list(seeds), 2,
                         stop_at_first=False, progress=False)  # fmt: skip
    bad = [(r.seed, r.message) for r in results if r.failed]
    assert len(results) == len(seeds) and not bad


@pytest.mark.configs("mimalloc+bbuddy-spin")
def test_uncollected_remote_frees_fail_page_conservation_whatever_the_schedule():
    """no-collect needs no particular interleaving: pages keep the blocks other harts freed
    into them, so the benchmark's own page check fails, and explore says so in its message."""
    bug = next(b for b in BUGS if b.name == "no-collect")
    results, _ = explore(_opts(bug, "rr", 5, True), [0], 1, progress=False)
    (r,) = results
    assert r.failed and r.exit_code != 0
    assert "free pages after the run" in r.message, r.message


def test_find_bugs_shows_progress_and_says_how_its_table_was_made(tmp_path):
    out = tmp_path / "bugs.md"
    args = ["--bug", "treiber-cas-hold1", "--seeds", "2", "--jobs", "2", "--out", str(out)]
    proc = script("find_bugs.py", *args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(r"\b\d+/11 \[", proc.stderr), proc.stderr  # rr: 1 seed, 5 others: 2 each
    assert proc.stdout.count("| treiber-cas-hold1 |") == 1
    assert f"Written by `python scripts/find_bugs.py {' '.join(args)}`" in out.read_text()
