#!/usr/bin/env python3
"""Measure the native layer's figures (issue 16), each before and after, back to back.

Each is measured on the pure-Python path (EMULATOR_NATIVE=0, "before") and on the native layer
("after"), back to back in this process, over the same runs; every ratio is of two runs
measured here, one right after the other.

  atomics   MIPS with --atomics / without, `locks`, 4 harts, q=1000         (goal >= 0.6)
  lrsc      microseconds per LR or SC on `litmus-lrsc`: the extra time of 100000 against
            2000 lrsc-counter iterations over the extra LR/SCs, an upper bound (goal <= 0.3)
  trace     MIPS with --trace --check / without, `stress` (frontend) and
            `alloc-tests`, 4 harts, random q=100                              (goal >= 0.6)
  explore   MIPS per process, alloc-tests, 4 harts, random q=10, oracle on    (goal >= 8);
            with the same runs without the oracle, and the plain machine's MIPS at q=10 on
            a loop without traps (`mips`): what a turn costs when it does nothing else
  memory    MIPS with the memory log (every load and store counted and recorded) / without,
            `bench-larson`, 4 harts, q=1000                                   (goal >= 0.4)
  machine   the machine / a bare unicorn loop at q=1000, 4 harts (scripts/bench_machine.py)
                                                                              (goal >= 0.9)

    python scripts/bench_native.py                    # every figure
    python scripts/bench_native.py --only explore lrsc
    python scripts/bench_native.py --clock wall       # wall time instead of CPU time

Times are this process's CPU time by default (the machine's loop and the bare loop are timed
with time.process_time in place of time.perf_counter): on a host shared with other work the
wall clock counts the time the process waited for a core, and ratios of wall times measured a
minute apart then say more about the neighbours than about the emulator.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import emulator.machine.machine as machine_module
from emulator.cli.scripts import script_parser
from emulator.explore.explore import explore
from emulator.machine.hooks import Hooks, MemoryLog
from emulator.machine.image import Image
from emulator.machine.machine import Machine
from emulator.schedule.policies import RoundRobin
from emulator.session import RunOptions, run
from toolchain import build

HARTS = 4
PATHS = (("before", "0"), ("after", "1"))  # (label, EMULATOR_NATIVE)


@contextmanager
def path(native: str):
    old = os.environ.get("EMULATOR_NATIVE")
    os.environ["EMULATOR_NATIVE"] = native
    try:
        yield
    finally:
        if old is None:
            del os.environ["EMULATOR_NATIVE"]
        else:
            os.environ["EMULATOR_NATIVE"] = old


def mips(**opts) -> tuple[float, int]:
    """(MIPS, instructions) of one run (the machine's loop only, as summary.json says)."""
    with tempfile.TemporaryDirectory() as tmp:
        r = run(RunOptions(quiet=True, harts=HARTS, out=f"{tmp}/run", **opts)).result
    assert r.outcome == "exited", f"{opts}: {r.outcome} {r.message}"
    return r.total_instructions / r.wall_seconds / 1e6, r.total_instructions


def ratio(plain: dict, instrumented: dict) -> tuple[float, str]:
    off, n_off = mips(**plain)
    on, n_on = mips(**{**plain, **instrumented})
    same = "same instructions" if n_off == n_on else "DIFFERENT instruction counts"
    return on / off, f"{on:.2f} / {off:.2f} MIPS, {n_on} instructions ({same})"


def atomics() -> tuple[float, str]:
    return ratio({"app": "locks", "quantum": 1000}, {"atomics": True})


def _lrsc_run(iters: int) -> tuple[float, int, int]:
    image = Image(build("litmus-lrsc", "default", {"LITMUS_ITERS": str(iters)}))
    machine = Machine(image, HARTS, 64)
    r = machine.run(RoundRobin(1000), 500_000_000)
    assert r.outcome == "exited", r.message
    count = sum(h.loads_reserved + h.sc_successes + h.sc_failures for h in machine.harts)
    return r.wall_seconds, count, r.total_instructions


def lrsc() -> tuple[float, str]:
    """The marginal cost: two runs that differ only in lrsc-counter's iterations, so the
    difference is LR/SC loops (each LR and SC with the few instructions around them)."""
    small, n_small, _ = _lrsc_run(2000)
    big, n_big, insns = _lrsc_run(100_000)
    return (
        (big - small) / (n_big - n_small) * 1e6,
        f"{n_big - n_small} more LR/SC took {big - small:.3f} s more ({insns} instructions)",
    )


def trace_stress() -> tuple[float, str]:
    plain = {"app": "stress", "config": "mimalloc+bbuddy-lockfree", "schedule": "random",
             "quantum": 100, "seed": 1}  # fmt: skip
    return ratio(plain, {"trace": True, "check": True})


def trace_only_stress() -> tuple[float, str]:
    plain = {"app": "stress", "config": "mimalloc+bbuddy-lockfree", "schedule": "random",
             "quantum": 100, "seed": 1}  # fmt: skip
    return ratio(plain, {"trace": True})


def trace_alloc_tests() -> tuple[float, str]:
    plain = {"app": "alloc-tests", "config": "bbuddy-spin", "schedule": "random",
             "quantum": 100, "seed": 1, "defines": {"ALLOC_STRESS_ITERS": "50"}}  # fmt: skip
    return ratio(plain, {"trace": True, "check": True})


EXPLORE = {"app": "alloc-tests", "config": "bbuddy-spin", "harts": HARTS, "schedule": "random",
           "quantum": 10, "defines": {"ALLOC_STRESS_ITERS": "20"}}  # fmt: skip


def _explore(check: bool) -> tuple[float, int]:
    opts = RunOptions(**EXPLORE, check=check)
    results, _ = explore(opts, [0, 1, 2], jobs=1, stop_at_first=False, progress=False)
    insns = sum(r.instructions for r in results)
    return insns / sum(r.wall_seconds for r in results) / 1e6, insns


def explore_oracle() -> tuple[float, str]:
    on, n = _explore(True)
    return on, f"3 seeds, {n} instructions"


def explore_plain() -> tuple[float, str]:
    off, n = _explore(False)
    return off, f"the same 3 seeds without the oracle, {n} instructions"


CLOCK = SimpleNamespace(perf_counter=time.process_time)  # --clock cpu


def _bench_machine():
    spec = importlib.util.spec_from_file_location(
        "bench_machine", Path(__file__).with_name("bench_machine.py")
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    module.time = machine_module.time  # its bare loop on the same clock as the machine
    return module


def machine_q10() -> tuple[float, str]:
    """The plain machine at q=10 on a trap-free loop (`mips`): the cost of a turn alone, beside
    the bare loop of emu_start calls from Python (bench_machine.py) over the same turns."""
    bench = _bench_machine()
    image = Image(build("mips", "default", {"MIPS_ITERS": "3000000"}))
    ours, bare = bench.measure(image, HARTS, 10, 2_000_000)
    return ours, f"{10 / ours:.2f} us per turn; bare emu_start loop from Python: {bare:.2f} MIPS"


def machine() -> tuple[float, str]:
    bench = _bench_machine()
    image = Image(build("mips", "default", {"MIPS_ITERS": "3000000"}))
    ours, bare = bench.measure(image, HARTS, 1000, 20_000_000)
    return ours / bare, f"{ours:.1f} / {bare:.1f} MIPS"


def memory() -> tuple[float, str]:
    image = Image(build("bench-larson", "mimalloc+bbuddy-lockfree", {}))
    results = {}
    for on in (False, True):
        log = MemoryLog() if on else None
        m = Machine(image, HARTS, 64, Hooks(memory_log=log))
        r = m.run(RoundRobin(1000), 500_000_000)
        assert r.outcome == "exited", r.message
        results[on] = r.total_instructions / r.wall_seconds / 1e6
        if log is not None:
            accesses = sum(log.loads) + sum(log.stores)
    return (
        results[True] / results[False],
        f"{results[True]:.2f} / {results[False]:.2f} MIPS, {accesses} accesses logged",
    )


FIGURES: dict[str, list[tuple[str, Callable[[], tuple[float, str]], str]]] = {
    "atomics": [("--atomics / plain, locks q=1000", atomics, ">= 0.6x")],
    "lrsc": [("us per LR/SC, litmus-lrsc", lrsc, "<= 0.3 us")],
    "trace": [
        ("--trace --check / plain, stress", trace_stress, ">= 0.6x"),
        ("--trace --check / plain, alloc-tests", trace_alloc_tests, ">= 0.6x"),
        ("--trace alone / plain, stress", trace_only_stress, ""),
    ],
    "explore": [
        ("explore q=10 oracle on, MIPS/process", explore_oracle, ">= 8 MIPS"),
        ("explore q=10 oracle off, MIPS/process", explore_plain, ""),
        ("plain machine q=10 (mips), MIPS", machine_q10, "(a turn alone)"),
    ],
    "memory": [("memory log / plain, bench-larson", memory, ">= 0.4x")],
    "machine": [("machine / bare unicorn, q=1000", machine, ">= 0.9x")],
}


def main() -> None:
    p = script_parser(__doc__)
    p.add_argument(
        "--only",
        nargs="+",
        choices=list(FIGURES),
        default=list(FIGURES),
        metavar="FIGURE",
        help=f"the figures to measure: {', '.join(FIGURES)} (default: all)",
    )
    p.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="time runs by this process's CPU time (cpu: fair on a shared host) or the wall "
        "clock (default cpu)",
    )
    args = p.parse_args()
    if args.clock == "cpu":
        machine_module.time = CLOCK  # type: ignore[assignment]
    rows = []
    for name in args.only:
        for label, measure, goal in FIGURES[name]:
            values = []
            for side, native in PATHS:
                with path(native):
                    value, note = measure()
                values.append(value)
                print(f"{label} [{side}]: {value:.3g} ({note})", flush=True)
            rows.append((label, *values, goal))
    print()
    print("| figure | before (Python path) | after (native) | goal |")
    print("|---|---|---|---|")
    for label, before, after, goal in rows:
        print(f"| {label} | {before:.3g} | {after:.3g} | {goal} |")


if __name__ == "__main__":
    main()
