#!/usr/bin/env python3
"""Cost of the allocation tracer and oracle: the same SMP stress run with both off and on.

Both runs use the same image, harts, schedule and seed; probes do not change the schedule, so
they execute the same guest instructions (checked and printed). The figure is
MIPS(--trace --check) / MIPS(plain), goal >= 0.33. Trace files go to a temporary directory.

    python scripts/bench_trace.py
    python scripts/bench_trace.py --app alloc-tests --config bbuddy-spin -D ALLOC_STRESS_ITERS=200
"""

from __future__ import annotations

import argparse
import tempfile

from emulator.session import RunOptions, run
from toolchain.args import define


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--app", default="stress")
    p.add_argument("--config", default="mimalloc+bbuddy-lockfree")
    p.add_argument("--harts", type=int, default=4)
    p.add_argument("--quantum", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("-D", dest="defines", action="append", type=define, default=[])
    args = p.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for on in (False, True):
            opts = RunOptions(
                app=args.app,
                config=args.config,
                defines=dict(args.defines),
                harts=args.harts,
                schedule="random",
                quantum=args.quantum,
                seed=args.seed,
                quiet=True,
                write_files=on,
                out=f"{tmp}/run" if on else None,
                trace=on,
                check=on,
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
    main()
