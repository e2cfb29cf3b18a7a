#!/usr/bin/env python3
"""Cost of the contention monitor: the same spinlock-heavy run with --atomics off and on.

Both runs use the same image, harts, schedule and seed, so they execute the same
instructions; the figure is MIPS(on) / MIPS(off), goal >= 0.5.

    python scripts/bench_atomics.py
    python scripts/bench_atomics.py --app hello --harts 8 --quantum 100
"""

from __future__ import annotations

import argparse

from emulator.session import RunOptions, run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--app", default="locks")
    p.add_argument("--harts", type=int, default=4)
    p.add_argument("--quantum", type=int, default=1000)
    args = p.parse_args()
    results = {}
    for atomics in (False, True):
        opts = RunOptions(
            app=args.app,
            harts=args.harts,
            quantum=args.quantum,
            quiet=True,
            write_files=False,
            atomics=atomics,
        )
        report = run(opts)
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
    main()
