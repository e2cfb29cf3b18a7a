"""Schedule exploration: the policies are deterministic per seed, switches in front of atomics
keep counts exact, explore finds a planted race and hands back a schedule that replays it,
minimization keeps the failure with fewer switches, and fault injection stalls and fails."""

from __future__ import annotations

import csv
import json
import re
import shlex

import pytest
from conftest import cli, console_lines, run_app, script

from emulator.explore.explore import explore
from emulator.explore.minimize import minimize, switches
from emulator.session import RunOptions, run
from toolchain import build


def _opts(app: str, harts: int, schedule: str, quantum: int, **kw) -> RunOptions:
    defines = kw.pop("defines", {})
    return RunOptions(
        app=app, harts=harts, schedule=schedule, quantum=quantum, defines=defines,
        quiet=True, write_files=False, **kw,
    )  # fmt: skip


@pytest.mark.parametrize("schedule", ["pct", "preempt-atomics"])
def test_policies_are_deterministic_per_seed(schedule):
    a = run(_opts("treiber", 3, schedule, 10, seed=4))
    b = run(_opts("treiber", 3, schedule, 10, seed=4))
    c = run(_opts("treiber", 3, schedule, 10, seed=5))
    assert a.result.exit_code == 0
    assert a.result.instructions == b.result.instructions
    assert a.result.schedule_digest == b.result.schedule_digest
    assert a.summary["schedule_changes" if schedule == "pct" else "schedule_preemptions"] > 0
    assert (a.result.schedule_digest, a.result.instructions) != (
        c.result.schedule_digest,
        c.result.instructions,
    )


def test_switch_in_front_of_an_atomic_loses_no_instruction():
    """One hart: preempt-atomics switches out and back in at every atomic it chooses; the
    hart must run exactly the instructions it runs under round robin."""
    rr = run(_opts("litmus-amo", 1, "rr", 1000))
    pre = run(_opts("litmus-amo", 1, "preempt-atomics", 1000, preempt_p=0.5))
    assert pre.summary["schedule_preemptions"] > 100
    assert pre.result.instructions == rr.result.instructions
    assert pre.console == rr.console and rr.result.exit_code == 0


def test_amo_totals_stay_exact_under_preemption_at_atomics():
    report = run(_opts("litmus-amo", 8, "preempt-atomics", 50, seed=2, preempt_p=0.3))
    assert report.result.exit_code == 0, console_lines(report)[-4:]


def test_explore_finds_the_cas_treiber_race_and_the_seed_replays(tmp_path):
    opts = _opts("treiber", 3, "random", 5, defines={"TREIBER_POP": "cas"})
    results, _ = explore(opts, list(range(30)), jobs=2, progress=False)
    failed = [r for r in results if r.failed]
    assert failed, "no seed of 30 found the ABA race"
    seed = failed[0].seed
    again = run(_opts("treiber", 3, "random", 5, defines={"TREIBER_POP": "cas"}, seed=seed))
    assert again.result.exit_code != 0 or again.result.outcome != "exited"
    assert again.result.total_instructions == failed[0].instructions  # exactly the same run


def test_lrsc_treiber_stays_clean_over_many_seeds():
    opts = _opts("treiber", 3, "random", 5)
    results, _ = explore(opts, list(range(50)), jobs=2, stop_at_first=False, progress=False)
    assert len(results) == 50 and not [r for r in results if r.failed]


def test_explore_cli_writes_results_and_a_reproduce_line(tmp_path):
    proc = cli(
        "explore", "--app", "treiber", "-D", "TREIBER_POP=cas", "--harts", "3",
        "--schedule", "random", "--quantum", "5", "--seeds", "0:40", "--all", "--jobs", "2",
        "--out", str(tmp_path / "ex"),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    rows = list(csv.DictReader((tmp_path / "ex" / "results.csv").open()))
    assert [int(r["seed"]) for r in rows] == list(range(40))
    failing = {int(r["seed"]) for r in rows if r["outcome"] != "exited" or r["exit_code"] != "0"}
    assert failing
    assert "reproduce: python -m emulator run --app treiber" in proc.stdout
    printed = [int(m) for m in re.findall(r"^seed (\d+): ", proc.stdout, re.M)]
    assert sorted(printed) == sorted(failing)  # each failing seed, once
    # treiber has no allocator: explore says its oracle had nothing to check, and the reproduce
    # line says --no-allocator, so that it runs as printed (with --check, not as bad input).
    assert "the oracle had no call to check" in proc.stdout
    line = next(x for x in proc.stdout.splitlines() if x.startswith("reproduce: "))
    assert "--no-allocator" in line
    again = cli(*shlex.split(line.removeprefix("reproduce: python -m emulator ")), cwd=tmp_path)
    assert again.returncode not in (0, 64), again.stderr


def test_explore_cli_counts_one_hart_as_one(tmp_path):
    proc = cli("explore", "--app", "hello", "--seeds", "2", "--jobs", "1", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "quantum 1000, 1 hart)" in proc.stdout and "1 harts" not in proc.stdout


def test_explore_takes_the_kernel_as_run_does(tmp_path):
    """`--kernel FILE` (with --bios, the way to explore an SBI payload) is the IMAGE: the
    workers were handed both and refused it."""
    kernel = build("hello")
    proc = cli("explore", "--kernel", str(kernel), "--harts", "2", "--seeds", "1", "--jobs", "1",
               "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "explored 1 of 1 seed" in proc.stdout + proc.stderr


def test_minimize_shows_its_progress(tmp_path):
    args = ["--app", "treiber", "-D", "TREIBER_POP=cas", "--harts", "3", "--schedule", "random",
            "--quantum", "5"]  # fmt: skip
    opts = _opts("treiber", 3, "random", 5, defines={"TREIBER_POP": "cas"})
    results, _ = explore(opts, list(range(30)), jobs=1, progress=False)
    seed = next(r.seed for r in results if r.failed)
    proc = cli("explore", *args, "--minimize", str(seed), "--minimize-runs", "6",
               "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"\b\d/6 \[", proc.stderr), proc.stderr  # a bar over the runs it may spend
    assert "replay: python -m emulator run" in proc.stdout


def test_minimized_schedule_replays_the_failure(tmp_path):
    opts = _opts("treiber", 3, "random", 5, defines={"TREIBER_POP": "cas"})
    results, _ = explore(opts, list(range(30)), jobs=1, progress=False)
    seed = next(r.seed for r in results if r.failed)
    found = minimize(opts, seed, tmp_path, budget=24, log=lambda *_: None)
    assert found is not None
    path, before, after = found
    assert after < before
    turns = json.loads(path.read_text())["turns"]
    assert switches(turns) == after
    replayed = run(
        _opts("treiber", 3, "random", 5, defines={"TREIBER_POP": "cas"}, replay=str(path))
    )
    assert replayed.result.exit_code != 0
    twice = run(_opts("treiber", 3, "random", 5, defines={"TREIBER_POP": "cas"}, replay=str(path)))
    assert twice.result.instructions == replayed.result.instructions


def test_saved_schedule_replays_a_random_run_exactly(tmp_path):
    path = tmp_path / "s.json"
    first = run(_opts("treiber", 3, "random", 7, seed=9, save_schedule=str(path)))
    replay = run(_opts("treiber", 3, "rr", 7, replay=str(path)))
    assert replay.result.instructions == first.result.instructions
    assert replay.console == first.console


@pytest.mark.configs("bbuddy-spin")
def test_stall_takes_a_hart_off_the_cpu(tmp_path):
    plain = run_app("alloc-seq", 2, config="bbuddy-spin")
    stalled = run(
        _opts("alloc-seq", 2, "rr", 1000, config="bbuddy-spin", stall=["uk_palloc:50000"])
    )
    assert stalled.result.exit_code == 0
    assert stalled.summary["injected"]["stalls"] == [{"hart": 0, "symbol": "uk_palloc"}]
    # hart 1 ran on while hart 0 waited: it spent more instructions spinning at the barrier
    assert stalled.result.instructions[1] > plain.result.instructions[1] + 40000


@pytest.mark.configs("bbuddy-spin")
def test_failed_palloc_is_reported_and_caught_cleanly():
    report = run(
        _opts("alloc-seq", 1, "rr", 1000, config="bbuddy-spin", fail=["palloc:1"], check=True)
    )
    assert report.summary["injected"]["failed_calls"]
    assert report.result.outcome == "exited" and report.result.exit_code == 2
    assert "alloc-seq: hart 0 call 6 failed" in console_lines(report)


@pytest.mark.configs("bbuddy-spin")
def test_bad_injection_options_are_one_line_errors(tmp_path):
    for args in (["--stall", "no_such_fn:10"], ["--fail", "free:1"], ["--stall", "x"]):
        proc = cli("run", "--app", "alloc-seq", "--config", "bbuddy-spin", *args)
        assert proc.returncode == 64 and proc.stderr.count("\n") == 1, proc.stderr
        assert "Traceback" not in proc.stderr


def test_explore_speed_script_prints_the_figure():
    proc = script("bench_explore.py", "--seeds", "4")
    assert proc.returncode == 0, proc.stderr
    assert "MIPS per process" in proc.stdout


@pytest.mark.configs("mimalloc+bbuddy-spin")
@pytest.mark.parametrize("fail", ["mmap:2", "palloc:3"])
def test_frontend_survives_a_failed_mmap_or_palloc_and_loses_nothing(fail):
    report = run(
        _opts(
            "stress", 4, "random", 100, seed=2, config="mimalloc+bbuddy-spin",
            defines={"STRESS_TOLERATE_NULL": "1"}, fail=[fail], check=True,
        )
    )  # fmt: skip
    assert report.result.outcome == "exited" and report.result.exit_code == 0
    assert len(report.summary["injected"]["failed_calls"]) == 1
    assert "stress: 1 allocations returned NULL (tolerated)" in console_lines(report)
    assert report.oracle["conservation"].startswith("ok")
