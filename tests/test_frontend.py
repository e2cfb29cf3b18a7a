"""The mimalloc-style frontend over the mmap shim: malloc-api conformance on every composed
configuration, stress, prodcons and free-race on 1, 2, 4 and 8 harts under many random schedules,
all with the allocation oracle on (--check), and proof the suite can fail: with an unlocked
provider and no lock in the shim, concurrent segment maps and unmaps corrupt the page allocator;
a shim that forgets to count the pages it gives back fails the end-of-run check."""

from __future__ import annotations

import re

import pytest
from conftest import console_lines, run_app, run_image, script, seed_chunks, tier

from toolchain import configs

PROVIDERS = ["bbuddy-spin", "bbuddy-ticket", "bbuddy-perorder", "bbuddy-lockfree", "region"]
# Every correct provider without a shim lock, and the shim lock where it matters (over the
# unlocked provider); test_malloc_api runs every configuration, +shimlock ones included.
SMP_CONFIGS = [f"mimalloc+{p}" for p in PROVIDERS] + ["mimalloc+bbuddy-unlocked+shimlock"]
ALL_CONFIGS = [c for c in configs() if c.startswith("mimalloc+")]
SEEDS = range(20)
HARTS = [1, 2, 4, 8]
# Small iteration counts keep 20 seeds x 4 hart counts x 7 configurations within the budget.
STRESS_STEPS = {1: 80, 2: 48, 4: 32, 8: 20}
PC_ITEMS = {1: 40, 2: 40, 4: 24, 8: 16}
# free-race's rounds of page-filling and racing frees, and its mappings through the shim (fewer
# than by default: bbuddy-lockfree's single-page pallocs cost thousands of instructions each)
FREE_RACE = {"FR_ROUNDS": 4, "FR_MAP_OPS": 600, "FR_MAP_LIVE": 300}
FREE_RACE_SEEDS = range(6)  # each run is longer than stress's
RAM_MIB = 64  # at 16 MiB, bbuddy-perorder fails pallocs spuriously (few large blocks in transit)


def _cases(seeds: range, fast: int) -> list:
    """The fast tier: every configuration on 4 harts, the first `fast` seeds; the slow tier the
    rest."""
    return [
        tier(config, harts, chunk, fast=harts == 4 and chunk.start == 0,
             id=f"{config}-{harts}-seeds{chunk.start}-{chunk.stop - 1}")
        for config in SMP_CONFIGS
        for harts in HARTS
        for chunk in (seed_chunks(seeds, fast) if harts == 4 else [seeds])
    ]  # fmt: skip


CASES = _cases(SEEDS, 2)


def _verdict(report) -> tuple[int, int] | None:
    for line in console_lines(report):
        m = re.fullmatch(r"(\d+) passed, (\d+) failed", line)
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


def _run(app: str, config: str, harts: int, seed: int, **defines):
    return run_app(
        app,
        harts,
        config=config,
        schedule="random",
        quantum=5,
        seed=seed,
        ram_mib=RAM_MIB,
        max_instructions=20_000_000,
        check=True,
        **defines,
    )


def _passed(report, app: str) -> bool:
    lines = console_lines(report)
    return (
        report.result.outcome == "exited"
        and report.result.exit_code == 0
        and any(line.startswith(f"{app}: PASS") for line in lines)
        and any(line.startswith("frontend: 0 live blocks") for line in lines)
    )


def test_every_mimalloc_config_is_listed():
    expected = {f"mimalloc+{p}" for p in [*PROVIDERS, "bbuddy-unlocked"]}
    assert expected | {f"{c}+shimlock" for c in expected} == set(ALL_CONFIGS)


@pytest.mark.parametrize("config", ALL_CONFIGS)
def test_malloc_api(config):
    report = run_app(
        "malloc-api", 2, config=config, ram_mib=64, max_instructions=100_000_000, check=True
    )
    lines = console_lines(report)
    assert report.result.outcome == "exited", report.result.message
    assert report.result.exit_code == 0, (report.result.message, lines[-12:])
    assert _verdict(report) == (7, 0), lines[-12:]
    assert any(line.startswith("frontend: ") for line in lines)


@pytest.mark.parametrize(("config", "harts", "seeds"), CASES)
def test_stress_under_random_schedules(config, harts, seeds):
    for seed in seeds:
        report = _run("stress", config, harts, seed, STRESS_STEPS=STRESS_STEPS[harts])
        assert _passed(report, "stress"), (seed, report.result.message, console_lines(report)[-6:])


@pytest.mark.parametrize(("config", "harts", "seeds"), CASES)
def test_prodcons_under_random_schedules(config, harts, seeds):
    delayed = 0
    for seed in seeds:
        report = _run("prodcons", config, harts, seed, PC_ITEMS=PC_ITEMS[harts], PC_RING=32)
        assert _passed(report, "prodcons"), (
            seed,
            report.result.message,
            console_lines(report)[-6:],
        )
        m = re.search(r"(\d+) delayed pages", report.console.decode())
        delayed += int(m.group(1)) if m else 0
    if harts in (2, 4):  # (8 harts make too few items per producer to fill a page)
        assert delayed > 0  # consumers freed into producers' full pages: the delayed path ran


FREE_RACE_CASES = _cases(FREE_RACE_SEEDS, 1)


@pytest.mark.parametrize(("config", "harts", "seeds"), FREE_RACE_CASES)
def test_free_race_under_random_schedules(config, harts, seeds):
    """Every hart frees into the others' full pages while they malloc, and maps and unmaps at
    once through the shim with its table nearly full: clean on every correct configuration."""
    for seed in seeds:
        report = _run("free-race", config, harts, seed, **FREE_RACE)
        assert _passed(report, "free-race"), (
            seed,
            report.result.message,
            console_lines(report)[-8:],
        )
        if harts > 1:
            assert re.search(r"[1-9]\d* delayed pages", report.console.decode())


@pytest.mark.configs("mimalloc+bbuddy-spin")
def test_the_end_check_sees_shim_pages_not_given_back(tmp_path):
    """frontend_check.h wants the shim's page counter (mmap_shim_pages) back at 0 with the
    mappings: a shim whose munmap gives the pages back without counting them fails it, while
    the mapping counter alone would have passed."""
    from emulator.explore.mutate import copy_sources
    from toolchain import build, catalog

    root = copy_sources(tmp_path)
    shim = root / "lib" / "mmapshim" / "mmap_shim.c"
    lower = "__atomic_fetch_sub(&mmap_shim_pages, pages, __ATOMIC_RELAXED);"
    assert shim.read_text().count(lower) == 1
    shim.write_text(shim.read_text().replace(lower, "(void)pages; /* broken on purpose */"))
    with catalog.guest_sources(root):
        image = build("stress", "mimalloc+bbuddy-spin", {"STRESS_STEPS": "32"})
    report = run_image(image, 2, max_instructions=20_000_000)
    lines = console_lines(report)
    assert report.result.exit_code == 1, (report.result.message, lines[-6:])
    assert any(re.fullmatch(r"FAIL frontend: the mmap shim still holds \d+ provider pages", x)
               for x in lines), lines[-6:]  # fmt: skip
    assert not any("mappings" in x for x in lines if x.startswith("FAIL")), lines[-6:]


def _racy(seed: int, harts: int):
    """Stress that maps and unmaps segments all the time: collect every other step, and one
    block in eight is big (a huge segment of its own)."""
    return _run(
        "stress",
        "mimalloc+bbuddy-unlocked",
        harts,
        seed,
        STRESS_STEPS=60,
        STRESS_COLLECT=2,
        STRESS_BIG_EVERY=8,
    )


@pytest.mark.configs("mimalloc+bbuddy-unlocked")
@pytest.mark.parametrize("harts", [2])
def test_unlocked_provider_without_shim_lock_breaks(harts):
    """bbuddy-unlocked under an unlocked shim: two harts' segment maps race inside palloc."""
    for seed in SEEDS:
        if not _passed(_racy(seed, harts), "stress"):
            return
    pytest.fail(f"mimalloc+bbuddy-unlocked survived {len(SEEDS)} seeds on {harts} harts")


@pytest.mark.configs("mimalloc+bbuddy-unlocked", "mimalloc+bbuddy-unlocked+shimlock")
def test_unlocked_provider_passes_on_one_hart_and_with_the_shim_lock():
    assert _passed(_racy(0, 1), "stress")
    shimlocked = _run(
        "stress",
        "mimalloc+bbuddy-unlocked+shimlock",
        2,
        3,
        STRESS_STEPS=60,
        STRESS_COLLECT=2,
        STRESS_BIG_EVERY=8,
    )
    assert _passed(shimlocked, "stress")


@pytest.mark.configs("mimalloc+bbuddy-lockfree")
def test_the_issue_example_runs(tmp_path):
    from conftest import cli

    proc = cli(
        "run",
        "--app",
        "stress",
        "--config",
        "mimalloc+bbuddy-lockfree",
        "--harts",
        "4",
        "--seed",
        "1",
        "--out",
        str(tmp_path / "run"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "stress: PASS" in proc.stdout


@pytest.mark.slow  # the README's frontend_costs.py command runs it in the fast tier
@pytest.mark.configs("mimalloc+bbuddy-spin")
def test_frontend_costs_script_writes_its_table(tmp_path):
    out = tmp_path / "costs.md"
    proc = script("frontend_costs.py", "--configs", "mimalloc+bbuddy-spin", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in out.read_text().splitlines() if line.startswith("| mimalloc+"))
    cells = [cell.strip() for cell in row.split("|")[2:-1]]
    assert len(cells) == 9 and all(cell.split()[0].replace(".", "").isdigit() for cell in cells)
    assert int(cells[0]) <= 40  # the fast-path goal, 16 B on the owning hart
