#!/usr/bin/env python3
"""How many seeds each schedule needs to find each planted bug (emulator/explore/planted.py).

For every bug and schedule, explores --seeds seeds (oracle on, all of them, --jobs workers)
and reports the first failing seed and the share of seeds that fail; writes a markdown table
(default runs/bug-finding.md; docs/bug-finding.md is written with --out). rr has no randomness:
its seeds all give the same schedule, so its column says whether that one schedule fails.

    python scripts/find_bugs.py                       # >= 200 seeds each: about an hour on 2 cores
    python scripts/find_bugs.py --seeds 20 --out /tmp/bugs.md
    python scripts/find_bugs.py --bug no-collect --out /tmp/no-collect.md   # one row
    python scripts/find_bugs.py --cluster tcp://HOST:8786   # on a Dask cluster (README)
"""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from emulator.cli.scripts import add_jobs, checked, script_main, script_parser, written_by
from emulator.explore.explore import explore
from emulator.explore.planted import BUGS
from emulator.session import RunOptions
from emulator.session.options import at_least, count
from emulator.session.pool import CLUSTER_ENV, Runner, open_runner

# (schedule, quantum, pct unit)
SCHEDULES = (
    ("rr", 5, ""),
    ("random", 5, ""),
    ("random", 2, ""),
    ("pct", 10, "atomics"),
    ("pct", 10, "sync"),
    ("preempt-atomics", 20, ""),
)


NOTES = """\
Reading the table:

- pct atomics: a step is an atomic (AMO, LR, SC) and a change point preempts a hart in front of
  one. A race window with no atomic in it (remote-free-plain: a plain load and a plain store of
  `thread_free`) can then only be hit by a starvation switch (every 64 turns).
- pct sync: a step is also a plain load or store of a synchronization word, a word some atomic
  touches (found in one round-robin run, emulator/schedule/syncsites.py); a load that reads
  what the same hart read there last time is not a step, so a spinning wait counts once. A
  change point can
  then fall between remote-free-plain's load and store; on palloc-nolock it does as well as
  pct atomics. This is the pct tests/test_planted.py runs.
- treiber-cas is one bug under two workloads. With TREIBER_HOLD=2 (pop a, pop b, push a, work on
  b, push b) one hart does the ABA sequence on its own, so a pop preempted in front of its
  compare-exchange only has to stay off the CPU while another hart runs that sequence: depth 2,
  what pct does (a demoted hart waits while others run long stretches), and what fine random
  interleavings do not (at quantum 2-5 no hart runs a hundred instructions while another sits
  in a ten-instruction window). With one node held (treiber-cas-hold1) the ABA needs the pops
  and pushes of two other harts interleaved inside the window: fine interleavings find it,
  preempt-atomics best (its switch lands exactly on the pop's compare-exchange), while pct with
  d = 3 would need its change points on three particular steps, about 1/(n k^2) for k in the
  thousands. pytest asserts pct on the first and random on the second.
- A fine random interleaving (quantum 2-5) and preempt-atomics (a switch in front of an atomic
  with probability 0.1) find palloc-nolock and remote-free-plain too.
- no-collect needs no particular schedule: a page keeps every block another hart freed into it
  and never goes back to its segment, so bench-larson's page conservation fails at exit whenever
  a block was freed remotely, which on 4 harts is every run.
"""


class Counted:
    """A runner that moves a progress bar as each seed's result comes back."""

    def __init__(self, runner: Runner, jobs: int, bar: tqdm):
        self.runner, self.jobs, self.bar = runner, jobs, bar

    def map(self, fn, items):
        for result in self.runner.map(fn, items):
            self.bar.update()
            yield result


def measure(bug, schedule: str, quantum: int, unit: str, seeds: int, runner: Counted) -> str:
    opts = RunOptions(
        app=bug.app,
        config=bug.config,
        defines=dict(bug.defines),
        harts=bug.harts,
        schedule=schedule,
        quantum=quantum,
        pct_unit=unit or "atomics",
    )
    n = 1 if schedule == "rr" else seeds
    results, _ = explore(opts, list(range(n)), runner.jobs, stop_at_first=False, runner=runner,
                         progress=False)  # fmt: skip
    failed = [r.seed for r in results if r.failed]
    if schedule == "rr":
        return "fails" if failed else "passes"
    if not failed:
        return f"not found in {n}"
    return f"seed {failed[0]}; {len(failed)}/{n} fail"


def main() -> int:
    p = script_parser(__doc__)
    p.add_argument(
        "--seeds", type=checked(count, at_least(1)), default=200, metavar="N",
        help="seeds each random schedule explores (default %(default)s)",
    )  # fmt: skip
    add_jobs(p)
    p.add_argument(
        "--cluster", metavar="ADDRESS",
        help=f"run on the Dask scheduler at ADDRESS (default ${CLUSTER_ENV}; else --jobs)",
    )  # fmt: skip
    p.add_argument(
        "--out", type=Path, default=Path("runs") / "bug-finding.md", metavar="FILE",
        help="the table (default %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--bug", action="append", choices=[b.name for b in BUGS],
        help="only this bug (repeatable; default: every planted bug)",
    )  # fmt: skip
    args = p.parse_args()
    head = [f"{s}{' ' + u if u else ''} (quantum {q})" for s, q, u in SCHEDULES]
    lines = [
        "# Seeds needed to find each planted bug",
        "",
        f"Written by `{written_by()}`: each schedule explores "
        f"seeds 0..{args.seeds - 1} with the oracle on; a cell gives the first failing seed and "
        "how many seeds fail. rr is one schedule whatever the seed.",
        "",
        "| bug | what | harts | " + " | ".join(head) + " |",
        "|---|---|---|" + "---|" * len(head),
    ]
    bugs = [b for b in BUGS if not args.bug or b.name in args.bug]
    runs = len(bugs) * sum(1 if s == "rr" else args.seeds for s, _, _ in SCHEDULES)
    # A bad cluster is one line (script_main) before anything is written.
    with (
        open_runner(args.jobs, args.cluster) as runner,
        tqdm(total=runs, unit="seed", file=sys.stderr, leave=False) as bar,
    ):
        counted = Counted(runner, args.jobs, bar)
        for bug in bugs:
            cells = []
            for s, q, u in SCHEDULES:
                bar.set_description(f"{bug.name}, {s}{' ' + u if u else ''}")
                cells.append(measure(bug, s, q, u, args.seeds, counted))
            row = f"| {bug.name} | {bug.what} | {bug.harts} | " + " | ".join(cells) + " |"
            bar.write(row)
            lines.append(row)
    lines += ["", NOTES]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    script_main(main)
