"""The backend allocators under SMP: alloc-tests for every configuration, hart count and many
seeded schedules, with the allocation oracle on (--check); and proof the suite can fail:
unlocked bbuddy breaks with two harts."""

from __future__ import annotations

import re

import pytest
from conftest import console_lines, run_app, script, seed_chunks, tier

CONFIGS = ["bbuddy-spin", "bbuddy-ticket", "bbuddy-perorder", "bbuddy-lockfree", "region"]
SEEDS = range(20)
ITERS = 20  # stress iterations per hart: small, so 20 seeds x 4 hart counts stay quick


def _verdict(report) -> tuple[int, int] | None:
    for line in console_lines(report):
        m = re.fullmatch(r"(\d+) passed, (\d+) failed", line)
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


def _stress(config: str, harts: int, seed: int):
    """alloc-tests under a fine-grained random schedule, the oracle on."""
    return run_app(
        "alloc-tests",
        harts,
        config=config,
        schedule="random",
        quantum=5,
        seed=seed,
        ram_mib=128,
        max_instructions=200_000_000,
        check=True,
        ALLOC_STRESS_ITERS=ITERS,
    )


# The fast tier: every configuration on 4 harts, the first seeds; the slow tier the rest.
STRESS_CASES = [
    tier(config, harts, seeds, fast=harts == 4 and seeds.start == 0,
         id=f"{config}-{harts}-seeds{seeds.start}-{seeds.stop - 1}")
    for config in CONFIGS
    for harts in [1, 2, 4, 8]
    for seeds in (seed_chunks(SEEDS, 3) if harts == 4 else [SEEDS])
]  # fmt: skip


@pytest.mark.parametrize(("config", "harts", "seeds"), STRESS_CASES)
def test_alloc_tests_pass_under_random_schedules(config, harts, seeds):
    for seed in seeds:
        report = _stress(config, harts, seed)
        verdict = _verdict(report)
        assert report.result.outcome == "exited" and report.result.exit_code == 0, (
            seed,
            report.result.message,
            console_lines(report)[-8:],
        )
        assert verdict is not None and verdict[1] == 0 and verdict[0] >= 10, verdict


@pytest.mark.configs("bbuddy-unlocked")
def test_unlocked_bbuddy_passes_alone():
    report = run_app(
        "alloc-tests", 1, config="bbuddy-unlocked", ram_mib=128, check=True,
        ALLOC_STRESS_ITERS=ITERS,
    )  # fmt: skip
    assert report.result.outcome == "exited", report.result.message
    assert report.result.exit_code == 0 and _verdict(report) == (14, 0)


@pytest.mark.configs("bbuddy-unlocked")
@pytest.mark.parametrize("harts", [2, 4])
def test_unlocked_bbuddy_breaks_under_smp(harts):
    """Today's Unikraft allocator is not SMP-safe: some schedule corrupts it."""
    for seed in SEEDS:
        report = _stress("bbuddy-unlocked", harts, seed)
        if report.result.outcome != "exited" or report.result.exit_code != 0:
            break
    else:
        pytest.fail(f"bbuddy-unlocked survived {len(SEEDS)} seeds on {harts} harts")


@pytest.mark.configs("bbuddy-perorder")
def test_the_issue_example_runs():
    report = run_app(
        "alloc-tests", 4, config="bbuddy-perorder", schedule="random", seed=3, ram_mib=128,
        check=True,
    )  # fmt: skip
    assert report.result.outcome == "exited", report.result.message
    assert report.result.exit_code == 0 and _verdict(report)[1] == 0


@pytest.mark.slow  # the README's alloc_costs.py command runs it in the fast tier
@pytest.mark.configs("region", "bbuddy-unlocked")
def test_alloc_costs_script_writes_its_table(tmp_path):
    out = tmp_path / "costs.md"
    proc = script(
        "alloc_costs.py",
        "--configs",
        "region",
        "bbuddy-unlocked",
        "--pairs",
        "20",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    rows = {
        line.split("|")[1].strip(): line
        for line in out.read_text().splitlines()
        if line.startswith("| ") and "configuration" not in line
    }
    region = [cell.strip() for cell in rows["region"].split("|")[2:6]]
    assert all(cell.split()[0].isdigit() for cell in region)  # a number in every cell
    assert "fails" in rows["bbuddy-unlocked"]  # 8 harts break it


@pytest.mark.parametrize(
    ("app", "says"),
    [("alloc-cost", "no allocator in this build"), ("stress", "needs a frontend configuration")],
)
def test_app_built_without_what_it_needs_says_so_and_fails(app, says):
    report = run_app(app, 2)  # the default configuration has no allocator
    assert report.result.exit_code == 1
    assert console_lines(report)[-1].startswith(f"{app}: {says}; use --config ")
