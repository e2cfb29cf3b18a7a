#!/usr/bin/env python3
"""Speed of schedule exploration at a fine quantum: MIPS per worker process, oracle on.

    python scripts/bench_explore.py
    python scripts/bench_explore.py --app alloc-tests --config bbuddy-spin --schedule pct

Runs --seeds seeds of the app at --quantum (default 10) in one process (no pool, so the figure
is per process) and prints guest MIPS; the goal is >= 0.5 MIPS per process at quantum <= 10.
"""

from __future__ import annotations

import argparse

from emulator.explore.explore import explore
from emulator.session import RunOptions
from toolchain.args import define


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--app", default="alloc-tests")
    p.add_argument("--config", default="bbuddy-spin")
    p.add_argument("--harts", type=int, default=4)
    p.add_argument("--schedule", default="random")
    p.add_argument("--quantum", type=int, default=10)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("-D", dest="defines", action="append", type=define, default=[])
    args = p.parse_args()
    defines = dict(args.defines) or {"ALLOC_STRESS_ITERS": "20"}
    opts = RunOptions(
        app=args.app,
        config=args.config,
        defines=defines,
        harts=args.harts,
        schedule=args.schedule,
        quantum=args.quantum,
    )
    results, _ = explore(opts, list(range(args.seeds)), jobs=1, stop_at_first=False)
    insns = sum(r.instructions for r in results)
    wall = sum(r.wall_seconds for r in results)
    failed = sum(r.failed for r in results)
    print(
        f"{args.app} ({args.config}), {args.harts} harts, {args.schedule} quantum {args.quantum}, "
        f"oracle on: {len(results)} seeds, {failed} failed, {insns} instructions in {wall:.1f} s"
    )
    print(f"figure: {insns / wall / 1e6:.2f} MIPS per process (goal >= 0.5 at quantum <= 10)")


if __name__ == "__main__":
    main()
