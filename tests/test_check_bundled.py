"""`--check` never cries wolf on the project's own code: every bundled app that uses an
allocator, on every configuration it is meant to be correct with, runs clean under the oracle
(small sizes, 2 harts, interleaved every 50 instructions). malloc-api is the one app left out
here: tests/test_frontend.py::test_malloc_api runs it on every frontend configuration with the
oracle on (it is the heaviest, ~30M instructions a run).

Meant to be correct: a backend app on every configuration (the frontend passes object calls on
and page calls straight to its provider); alloc-tests on backends only (it checks backend
statistics); the frontend apps on frontend configurations only (they refuse others). The unlocked
provider is correct on one hart only; with the shim lock, the frontend apps, whose page calls all
go through the locked shim, are correct on more. page-race is a backend's too (it holds every
page but a small pool, which a frontend's segments would not leave it)."""

from __future__ import annotations

import pytest
from conftest import console_lines, covering, run_app
from test_bench_apps import SMALL as BENCH_SMALL
from test_frontend import FREE_RACE

from toolchain import apps, configs

ANY_CONFIG = {
    "alloc-cost": {"COST_PAIRS": 20},
    "alloc-faults": {"FAULT": "none"},
    "alloc-seq": {},
    **BENCH_SMALL,
}
BACKEND_ONLY = {
    "alloc-tests": {"ALLOC_STRESS_ITERS": 10},
    "page-race": {"RACE_ROUNDS": 2},
    "stats-race": {"STATS_SPAN": 32},
}
FRONTEND_ONLY = {
    "free-race": FREE_RACE,
    "frontend-cost": {"COST_REPS": 4},
    "prodcons": {"PC_ITEMS": 24, "PC_RING": 32},
    "stress": {"STRESS_STEPS": 32},
}
ELSEWHERE = {"malloc-api"}  # see the docstring
NO_ALLOCATOR = {"calib", "contention", "count-loop", "crash", "hello", "litmus-amo", "litmus-lrsc",
                "locks", "mips", "runaway", "traps", "treiber", "wfi-ipi"}  # fmt: skip
FRONTEND_CONFIGS = [c for c in configs() if c.startswith("mimalloc+")]
BACKEND_CONFIGS = [c for c, conf in configs().items() if conf.kind == "backend"]


def _harts(app: str, config: str) -> int:
    if "bbuddy-unlocked" not in config:
        return 2
    return 2 if config.endswith("+shimlock") and app in FRONTEND_ONLY else 1


CASES = [
    (app, config)
    for table, cs in ((ANY_CONFIG, BACKEND_CONFIGS + FRONTEND_CONFIGS),
                      (BACKEND_ONLY, BACKEND_CONFIGS), (FRONTEND_ONLY, FRONTEND_CONFIGS))
    for app in table
    for config in cs
]  # fmt: skip


def test_every_app_is_accounted_for():
    listed = set(ANY_CONFIG) | set(BACKEND_ONLY) | set(FRONTEND_ONLY) | ELSEWHERE | NO_ALLOCATOR
    assert listed == set(apps())
    assert len(BACKEND_CONFIGS) == 6 and len(FRONTEND_CONFIGS) == 12


# The fast tier: every app and every configuration at least once (19 cases); the slow the rest.
@pytest.mark.parametrize(("app", "config"), covering(CASES, 0, 1))
def test_check_is_clean(app, config):
    defines = {**ANY_CONFIG, **BACKEND_ONLY, **FRONTEND_ONLY}[app]
    report = run_app(
        app, _harts(app, config), config=config, quantum=50, max_instructions=100_000_000,
        check=True, **defines,
    )  # fmt: skip
    result = report.result
    assert (result.outcome, result.exit_code) == ("exited", 0), (
        result.message,
        console_lines(report)[-6:],
    )
    assert report.oracle["checked_calls"] > 0
    assert not report.summary["warnings"]
