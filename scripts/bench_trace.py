#!/usr/bin/env python3
"""Cost of the allocation tracer and oracle: the same SMP stress run with both off and on.

Both runs use the same image, harts, schedule and seed; probes do not change the schedule, so
they execute the same guest instructions (checked and printed). The figure is
MIPS(--trace --check) / MIPS(plain), goal >= 0.33. Trace files go to a temporary directory.

    python scripts/bench_trace.py
    python scripts/bench_trace.py --app alloc-tests --config bbuddy-spin -D ALLOC_STRESS_ITERS=200
"""

from __future__ import annotations

import tempfile
from dataclasses import replace

from emulator.cli.scripts import script_main, script_parser
from emulator.session import RunOptions, run
from emulator.session.options import add_arguments, from_arguments

DEFAULTS = {"app": "stress", "config": "mimalloc+bbuddy-lockfree", "defines": {}, "harts": 4,
            "quantum": 100, "seed": 1}  # fmt: skip


def main() -> None:
    p = script_parser(__doc__)
    add_arguments(p, RunOptions, only=DEFAULTS, defaults=DEFAULTS)
    args = p.parse_args()
    base = from_arguments(RunOptions, args, schedule="random", quiet=True, write_files=False)
    base.validate()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for on in (False, True):
            opts = replace(
                base, write_files=on, out=f"{tmp}/run" if on else None, trace=on, check=on
            )
            report = run(opts)
            r = results[on] = report.result
            calls = sum(h["calls"] for h in report.allocs["harts"]) if report.allocs else 0
            print(
                f"tracer+oracle {'on ' if on else 'off'}: {r.total_instructions} instructions "
                f"in {r.wall_seconds:.2f} s, {r.mips:.2f} MIPS, outcome {r.outcome} "
                f"(exit {r.exit_code})" + (f", {calls} allocator calls" if on else "")
            )
    off, on = results[False], results[True]
    same = "same instructions" if off.instructions == on.instructions else "DIFFERENT counts"
    print(
        f"figure: MIPS with --trace --check / without = {on.mips / off.mips:.2f} "
        f"(goal >= 0.33; {same})"
    )


if __name__ == "__main__":
    script_main(main)
