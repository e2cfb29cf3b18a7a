#!/usr/bin/env python3
"""Speed of schedule exploration at a fine quantum: MIPS per worker process, oracle on.

    python scripts/bench_explore.py
    python scripts/bench_explore.py --app alloc-tests --config bbuddy-spin --schedule pct

Runs --seeds seeds of the app at --quantum (default 10) in one process (no pool, so the figure
is per process) and prints guest MIPS; the goal is >= 0.5 MIPS per process at quantum <= 10.
"""

from __future__ import annotations

from emulator.cli.scripts import checked, script_main, script_parser
from emulator.explore.explore import explore
from emulator.session import RunOptions
from emulator.session.options import add_arguments, at_least, count, from_arguments
from toolchain.args import define

DEFAULTS = {"app": "alloc-tests", "config": "bbuddy-spin", "harts": 4, "schedule": "random",
            "quantum": 10}  # fmt: skip
DEFINES = {"ALLOC_STRESS_ITERS": "20"}


def main() -> None:
    p = script_parser(__doc__)
    add_arguments(p, RunOptions, only=DEFAULTS, defaults=DEFAULTS)
    p.add_argument(
        "--seeds", type=checked(count, at_least(1)), default=10, metavar="N",
        help="seeds 0..N-1, run one after another in this process (default %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "-D", dest="defines", action="append", type=define, default=[], metavar="NAME=VALUE",
        help="macro for the build (default: "
        + " ".join(f"{k}={v}" for k, v in DEFINES.items()) + ")",
    )  # fmt: skip
    args = p.parse_args()
    opts = from_arguments(RunOptions, args, defines=dict(args.defines) or DEFINES)
    opts.validate()
    results, _ = explore(opts, list(range(args.seeds)), jobs=1, stop_at_first=False)
    insns = sum(r.instructions for r in results)
    wall = sum(r.wall_seconds for r in results)
    failed = sum(r.failed for r in results)
    print(
        f"{opts.app} ({opts.config}), {opts.harts} hart{'s' * (opts.harts != 1)}, "
        f"{opts.schedule} quantum {opts.quantum}, oracle on: {len(results)} seeds, {failed} "
        f"failed, {insns} instructions in {wall:.1f} s"
    )
    print(f"figure: {insns / wall / 1e6:.2f} MIPS per process (goal >= 0.5 at quantum <= 10)")


if __name__ == "__main__":
    script_main(main)
