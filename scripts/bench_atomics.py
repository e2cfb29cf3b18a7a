#!/usr/bin/env python3
"""Cost of the contention monitor: the same spinlock-heavy run with --atomics off and on.

Both runs use the same image, harts, schedule and seed, so they execute the same
instructions; the figure is MIPS(on) / MIPS(off), goal >= 0.5.

    python scripts/bench_atomics.py
    python scripts/bench_atomics.py --app hello --harts 8 --quantum 100
"""

from __future__ import annotations

from dataclasses import replace

from emulator.cli.scripts import script_main, script_parser
from emulator.session import RunOptions, run
from emulator.session.options import add_arguments, from_arguments

DEFAULTS = {"app": "locks", "harts": 4, "quantum": 1000}


def main() -> None:
    p = script_parser(__doc__)
    add_arguments(p, RunOptions, only=DEFAULTS, defaults=DEFAULTS)
    base = from_arguments(RunOptions, p.parse_args(), quiet=True, write_files=False)
    base.validate()
    results = {}
    for atomics in (False, True):
        report = run(replace(base, atomics=atomics))
        results[atomics] = report.result
        print(
            f"atomics {'on ' if atomics else 'off'}: {report.result.total_instructions} "
            f"instructions in {report.result.wall_seconds:.2f} s, "
            f"{report.result.mips:.1f} MIPS (exit {report.result.exit_code})"
        )
    off, on = results[False], results[True]
    same = "same instructions" if off.instructions == on.instructions else "DIFFERENT counts"
    print(f"figure: MIPS with --atomics / without = {on.mips / off.mips:.2f} (goal >= 0.5; {same})")


if __name__ == "__main__":
    script_main(main)
