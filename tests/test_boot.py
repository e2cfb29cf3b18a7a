"""Booting the bundled apps: hart counts, exact counters under many schedules, determinism."""

from __future__ import annotations

import json
import re

import pytest
from conftest import cli, console_lines, run_app

from emulator.machine import events as ev
from emulator.session import RunOptions, run
from guest.contract import C


def _hart_lines(report) -> set[str]:
    return {line for line in console_lines(report) if re.match(r"hart \d+ of \d+: hello", line)}


@pytest.mark.parametrize("harts", [1, 2, 4, 8, 64])
def test_hello_boots_on_every_hart_count(harts):
    quantum = 1000 if harts < 64 else 5000
    report = run_app(
        "hello",
        harts,
        quantum=quantum,
        max_instructions=400_000_000,
        HELLO_ITERS=100 if harts == 64 else 1000,
    )
    assert report.result.outcome == "exited", report.result.message
    assert report.result.exit_code == 0
    assert _hart_lines(report) == {f"hart {h} of {harts}: hello" for h in range(harts)}
    assert "hello: PASS" in console_lines(report)
    assert len(report.result.instructions) == harts
    assert all(n > 0 for n in report.result.instructions)


def _counters(report) -> dict[str, int]:
    line = next(x for x in console_lines(report) if x.startswith("counters:"))
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


@pytest.mark.parametrize("schedule,seeds", [("rr", [0]), ("random", range(20))])
def test_counters_exact_under_spinlock_ticket_lock_and_amoadd(schedule, seeds):
    harts, iters = 4, 200
    for seed in seeds:
        report = run_app("hello", harts, schedule=schedule, quantum=5, seed=seed, HELLO_ITERS=iters)
        assert report.result.exit_code == 0, (seed, report.console)
        counters = _counters(report)
        assert counters == {
            "spin": harts * iters,
            "ticket": harts * iters,
            "amoadd": harts * iters,
            "expected": harts * iters,
        }, seed


def test_locks_app_under_random_schedules():
    for seed in range(5):
        report = run_app(
            "locks", 4, schedule="random", quantum=3, seed=seed, LOCKS_ROUNDS=4, LOCKS_ITERS=10
        )
        assert report.result.exit_code == 0, (seed, report.console)
        assert {f"hart {h}: locks ok" for h in range(4)} <= set(console_lines(report))


def _schedule_trace(seed: int, schedule: str = "random") -> tuple[dict, bytes, list]:
    """Summary, console and the order in which harts first printed (the interleaving)."""
    bus = ev.Bus()
    order: list[int] = []
    bus.subscribe(
        ev.Console, lambda e: order.append(e.hart) if not order or order[-1] != e.hart else None
    )
    opts = RunOptions(
        app="hello",
        harts=4,
        schedule=schedule,
        quantum=50,
        seed=seed,
        quiet=True,
        write_files=False,
        ram_mib=64,
    )
    report = run(opts, bus)
    summary = {k: v for k, v in report.summary.items() if k not in ("wall_seconds", "mips")}
    return summary, report.console, order


def test_same_seed_same_run():
    first, second = _schedule_trace(7), _schedule_trace(7)
    assert first == second


def test_different_seeds_interleave_differently():
    """Two seeds give different hart orders (the schedule digest is the hash of the sequence of
    (hart, quantum) picks), hence different per-hart instruction counts, while the counters
    stay exact."""
    a, b = _schedule_trace(1), _schedule_trace(2)
    assert a[0]["schedule_digest"] != b[0]["schedule_digest"]
    assert a[0]["instructions"] != b[0]["instructions"]
    assert a[2] != b[2]  # the order in which harts reached the console differs
    assert a[0]["exit_code"] == b[0]["exit_code"] == 0


def test_summary_and_console_in_run_directory(tmp_path):
    out = tmp_path / "run"
    proc = cli("run", "--harts", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    for key in (
        "outcome",
        "exit_code",
        "harts",
        "instructions",
        "schedule",
        "quantum",
        "seed",
        "image",
        "image_sha256",
        "wall_seconds",
        "mips",
    ):
        assert key in summary
    assert summary["outcome"] == "exited" and summary["harts"] == 2
    assert len(summary["instructions"]) == 2
    assert "hart 1 of 2: hello" in proc.stdout  # console streamed to stdout
    assert (out / "console.log").read_text() == proc.stdout


def test_default_run_directory_is_under_cwd(tmp_path):
    proc = cli("run", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "summary.json").is_file()


def test_exit_codes_propagate(tmp_path):
    proc = cli("run", "--app", "traps", "-D", "TRAPS_EXIT_CODE=7", "--out", str(tmp_path))
    assert proc.returncode == 7
    proc = cli("run", "--app", "traps", "-D", "TRAPS_EXIT_CODE=100", "--out", str(tmp_path))
    assert proc.returncode == C.EMU_STATUS_GUEST_CODE_RANGE
    assert json.loads((tmp_path / "summary.json").read_text())["exit_code"] == 100
