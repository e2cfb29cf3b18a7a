"""LR/SC with reservation semantics, the A extension's AMOs, and ABA: litmus apps.

The emulator replaces unicorn's value-based SC (emulator/machine/atomics.py); each test that shows a
guarantee also shows it missing when the emulator falls back to unicorn's own LR/SC."""

from __future__ import annotations

import pytest
from conftest import console_lines, run_app

CHECKS = ["aba", "sc-after-sc", "sc-other-address", "sc-without-lr-after-trap", "lrsc-counter"]


@pytest.mark.parametrize("harts", [2, 4])
@pytest.mark.parametrize(
    ("schedule", "quantum", "seeds"), [("rr", 1, [0]), ("rr", 1000, [0]), ("random", 3, range(5))]
)
def test_lrsc_litmus(harts, schedule, quantum, seeds):
    for seed in seeds:
        report = run_app(
            "litmus-lrsc", harts, schedule=schedule, quantum=quantum, seed=seed, LITMUS_ITERS=200
        )
        lines = console_lines(report)
        assert report.result.exit_code == 0, (seed, lines)
        assert {f"litmus-lrsc: {c} ok" for c in CHECKS} <= set(lines)


def test_value_based_sc_fails_the_aba_litmus(drop_sites):
    drop_sites("lrsc")  # unicorn's own LR/SC
    report = run_app("litmus-lrsc", 2, quantum=1000, LITMUS_ITERS=50)
    assert report.result.exit_code != 0
    assert any(line.startswith("litmus-lrsc: aba FAIL") for line in console_lines(report))


def test_constrained_lrsc_loops_progress_at_quantum_1():
    """Four harts increment one counter with an LR/SC loop, switching every instruction."""
    report = run_app("litmus-lrsc", 4, quantum=1, LITMUS_ITERS=100, max_instructions=20_000_000)
    assert report.result.outcome == "exited" and report.result.exit_code == 0


@pytest.mark.parametrize("harts", [1, 2, 4, 8])
def test_every_amo_gives_exact_totals(harts):
    for schedule, quantum, seed in [("rr", 1000, 0), ("rr", 1, 0), ("random", 4, harts)]:
        report = run_app(
            "litmus-amo",
            harts,
            schedule=schedule,
            quantum=quantum,
            seed=seed,
            LITMUS_ITERS=40,
            max_instructions=50_000_000,
        )
        lines = console_lines(report)
        assert report.result.exit_code == 0, (schedule, quantum, lines)
        assert "litmus-amo: PASS" in lines
        ops = ("swap", "add", "and", "or", "xor", "min", "max", "minu", "maxu")
        assert {f"litmus-amo: {op}.{w} ok" for op in ops for w in "wd"} <= set(lines)


def _treiber(pop: str, seed: int, quantum: int):
    return run_app(
        "treiber",
        4,
        schedule="random",
        quantum=quantum,
        seed=seed,
        TREIBER_POP=pop,
        TREIBER_ITERS=60,
        TREIBER_WINDOW=4,
        max_instructions=30_000_000,
    )


@pytest.mark.slow  # a search over seeds; test_planted's pct finds the same race in the fast tier
def test_treiber_cas_pop_shows_aba_under_a_searched_schedule():
    """Search seeds for a schedule that preempts a compare-exchange pop inside its window."""
    for seed in range(60):
        report = _treiber("cas", seed, quantum=3)
        if report.result.exit_code != 0:
            assert any("CORRUPTED" in line for line in console_lines(report))
            break
    else:
        pytest.fail("no seed in 0..59 exposed the compare-exchange ABA")
    # The LR/SC pop survives that very schedule and its neighbours.
    for s in range(seed, seed + 5):
        report = _treiber("lrsc", s, quantum=3)
        assert report.result.exit_code == 0, (s, console_lines(report))
        assert "treiber: PASS (lrsc)" in console_lines(report)


def test_value_based_sc_lets_the_lrsc_treiber_pop_corrupt(drop_sites):
    """With unicorn's own SC the LR/SC pop is no safer than compare-exchange: the machine's
    reservations are what keep it correct above."""
    drop_sites("lrsc")
    for seed in range(10):
        report = run_app(
            "treiber",
            4,
            schedule="random",
            quantum=3,
            seed=seed,
            TREIBER_POP="lrsc",
            TREIBER_ITERS=300,
            max_instructions=30_000_000,
        )
        if report.result.exit_code != 0:
            assert any("CORRUPTED" in line for line in console_lines(report))
            return
    pytest.fail("value-based SC never corrupted the LR/SC pop in seeds 0..9")
