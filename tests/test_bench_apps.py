"""The SMP allocation benchmarks (guest/apps/bench-*, docs/benchmarks.md): each one, run small
on 1 and 4 harts under a random schedule, passes its own verification on bbuddy-spin,
bbuddy-lockfree, mimalloc+bbuddy-spin and (where it makes sense) region, and prints exactly the
result line the host sweep parses; and a planted corruption makes a benchmark fail the way the
contract says."""

from __future__ import annotations

import re

import pytest
from conftest import console_lines, run_app, tier

from toolchain import apps, configs

# Small iteration counts: every run stays well under a million instructions.
SMALL = {
    "bench-larson": {"LARSON_CHUNKS": 16, "LARSON_ROUNDS": 3, "LARSON_STEPS": 16},
    "bench-xmalloc": {"XMALLOC_BATCH": 8, "XMALLOC_BATCHES": 4, "XMALLOC_CAP": 2},
    "bench-threadtest": {"THREADTEST_OBJECTS": 64, "THREADTEST_ITERS": 2},
    "bench-mstress": {"MSTRESS_ALLOCS": 24, "MSTRESS_ROUNDS": 2, "MSTRESS_TRANSFER": 16},
    "bench-rptest": {"RPTEST_LOOPS": 4, "RPTEST_LIVE": 16, "RPTEST_OPS": 8},
    "bench-alloc-test": {"ATEST_SLOTS": 64, "ATEST_OPS": 100},
    "bench-cache-scratch": {"CSCRATCH_ITERS": 30, "CSCRATCH_REPS": 40},
    "bench-cache-thrash": {"CTHRASH_ITERS": 30, "CTHRASH_REPS": 40},
    "bench-glibc-thread": {"GTHREAD_SLOTS": 16, "GTHREAD_ITERS": 80},
    "bench-page-storm": {"PSTORM_SLOTS": 8, "PSTORM_OPS": 60},
}
# region never frees: page-storm's runs of pages would exhaust it at real sizes, so it is left
# out there; the object benchmarks run on it (every free is a no-op, the checks still hold).
NOT_ON_REGION = {"bench-page-storm"}
CONFIGS = ["bbuddy-spin", "bbuddy-lockfree", "region"]
# The mimalloc-style frontend over a page allocator, once the configuration exists.
FRONTEND = "mimalloc+bbuddy-spin"
if FRONTEND in configs():
    CONFIGS.append(FRONTEND)
LINE = re.compile(r"bench (\S+): harts=(\d+) ops=(\d+) ok")


def _run(app: str, config: str, harts: int, **defines: object):
    return run_app(
        app,
        harts,
        config=config,
        schedule="random",
        quantum=20,
        seed=1,
        ram_mib=128,
        max_instructions=20_000_000,
        **{**SMALL[app], **defines},
    )


def test_every_benchmark_is_an_app() -> None:
    assert {a for a in apps() if a.startswith("bench-")} == set(SMALL)


# The fast tier runs every benchmark once, on 4 harts over bbuddy-spin; the slow tier the rest.
CASES = [
    tier(app, config, harts, fast=(config, harts) == ("bbuddy-spin", 4))
    for app in SMALL
    for config in CONFIGS
    for harts in (1, 4)
    if not (config == "region" and app in NOT_ON_REGION)
]


@pytest.mark.parametrize(("app", "config", "harts"), CASES)
def test_benchmark_passes_its_checks(app: str, config: str, harts: int) -> None:
    report = _run(app, config, harts)
    lines = console_lines(report)
    found = [m for m in map(LINE.fullmatch, lines) if m]
    assert report.result.outcome == "exited", (report.result.message, lines)
    assert report.result.exit_code == 0, lines
    assert len(found) == 1, lines
    name, n, ops = found[0].groups()
    assert (f"bench-{name}", int(n)) == (app, harts)
    assert int(ops) > 0
    assert not any("FAILED" in line for line in lines)


@pytest.mark.configs("bbuddy-spin")
def test_op_count_is_exact() -> None:
    """larson's op count is a formula of its parameters (main.c): 2 chunks + 2 rounds x steps."""
    report = _run("bench-larson", "bbuddy-spin", 4)
    p = SMALL["bench-larson"]
    per_hart = 2 * p["LARSON_CHUNKS"] + 2 * p["LARSON_ROUNDS"] * p["LARSON_STEPS"]
    assert f"bench larson: harts=4 ops={4 * per_hart} ok" in console_lines(report)


@pytest.mark.configs("bbuddy-spin")
def test_a_corrupted_block_fails_the_benchmark() -> None:
    report = _run("bench-mstress", "bbuddy-spin", 2, BENCH_CORRUPT=1)
    lines = console_lines(report)
    assert report.result.outcome == "exited"
    assert report.result.exit_code == 3  # BENCH_EXIT_CORRUPT
    failed = [line for line in lines if line.startswith("bench mstress: FAILED ")]
    assert len(failed) == 1, lines
    assert "block" in failed[0]
    assert not any(LINE.fullmatch(line) for line in lines)


@pytest.mark.configs("bbuddy-spin")
def test_lost_pages_fail_the_page_check() -> None:
    """With bbuddy's planted `lost_pages` bug every call succeeds, but pages freed in runs of 2 or
    more are lost: the end-of-run page count catches it."""
    report = _run("bench-page-storm", "bbuddy-spin", 2, ALLOC_BUG="lost_pages")
    lines = console_lines(report)
    assert report.result.exit_code == 4, lines  # BENCH_EXIT_PAGES
    failed = [line for line in lines if line.startswith("bench page-storm: FAILED ")]
    assert len(failed) == 1 and "free pages after the run" in failed[0], lines
