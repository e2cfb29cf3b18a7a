#!/usr/bin/env python3
"""Explore on 1, 2 and 4 local Dask workers against the process pool, and a Dask task's cost.

    python scripts/bench_cluster.py                         # writes runs/cluster.md
    python scripts/bench_cluster.py --seeds 32 --out docs/cluster.md

Runs the same seeds (the README's treiber race by default: quantum 5, oracle on, every seed)
in this process one after another, in the process pool (--jobs), and on a Dask LocalCluster
of each --workers size (one thread per worker process), and checks that every engine gives the
same results. The per-task overhead is the time per task of tasks that carry the same options
and result but do no run, on one worker; the seeds per task is the fewest for which it stays
under 5% of the tasks' run time (the ratio is printed). Cluster start-up is timed apart: a
long-lived cluster pays it once, the pool on every run.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict
from pathlib import Path

from emulator.cli.scripts import add_jobs, checked, script_main, script_parser, written_by
from emulator.explore.explore import SeedRun, worker_options
from emulator.machine.errors import BadInput
from emulator.session import RunOptions
from emulator.session.options import add_arguments, at_least, count, from_arguments
from emulator.session.pool import ProcessRunner
from toolchain.args import define

DEFAULTS = {"app": "treiber", "config": "default", "harts": 3, "schedule": "random", "quantum": 5}

GOAL = 0.05  # overhead per task over the run time of the seeds in it
IDLE_TASKS = 200


def _timed(runner, fn, items) -> tuple[float, list]:
    t = time.perf_counter()
    out = list(runner.map(fn, items))
    return time.perf_counter() - t, out


class _Idle:
    """A task that does no run: the same options travel, a canned result comes back. Its time
    per task on one worker is what Dask adds to each task (defined here: pickled by value)."""

    def __init__(self, fn: SeedRun, result):
        self.fn, self.result = fn, result

    def files(self):
        return self.fn.files()

    def with_files(self, paths):
        return _Idle(self.fn.with_files(paths), self.result)

    def __call__(self, seed: int):
        return self.result


def _best(times: int, runner, fn, items) -> tuple[float, list]:
    """The shortest of `times` runs (the machine is shared: the others are slower by load)."""
    runs = [_timed(runner, fn, items) for _ in range(times)]
    return min(runs, key=lambda r: r[0])


def _key(results) -> list[dict]:
    """What must not depend on the engine: everything but wall time, in seed order."""
    rows = [asdict(r) for r in sorted(results, key=lambda r: r.seed)]
    for row in rows:
        row.pop("wall_seconds")
    return rows


def main() -> int:
    p = script_parser(__doc__)
    add_arguments(p, RunOptions, only=DEFAULTS, defaults=DEFAULTS)
    p.add_argument(
        "-D", dest="defines", action="append", type=define, default=[], metavar="NAME=VALUE",
        help="macro for the build (default: TREIBER_POP=cas for treiber, else none)",
    )  # fmt: skip
    p.add_argument(
        "--seeds", type=checked(count, at_least(1)), default=32, metavar="N",
        help="seeds 0..N-1, the same on every engine (default %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--workers", type=checked(count, at_least(1)), nargs="+", default=[1, 2, 4], metavar="W",
        help="Dask LocalCluster sizes to time, in worker processes (default 1 2 4)",
    )  # fmt: skip
    add_jobs(p, "the process pool's workers")
    p.add_argument(
        "--repeat", type=checked(count, at_least(1)), default=3, metavar="N",
        help="times each engine runs the seeds; the best counts (default %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--out", type=Path, default=Path("runs") / "cluster.md", metavar="FILE",
        help="the table (default %(default)s)",
    )  # fmt: skip
    args = p.parse_args()
    try:
        from distributed import LocalCluster

        from emulator.session.cluster import BATCH, DaskRunner
    except ImportError:
        raise BadInput("needs distributed: pip install '.[cluster]'") from None
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    load = os.getloadavg()[0]
    defines = dict(args.defines) or ({"TREIBER_POP": "cas"} if args.app == "treiber" else {})
    opts = from_arguments(
        RunOptions, args, defines=defines, check=True, quiet=True, write_files=False
    )
    opts.validate()
    fn = SeedRun(worker_options(opts))
    seeds = list(range(args.seeds))
    best = args.repeat
    rows: list[tuple[str, int, float, float]] = []  # engine, processes, start-up s, seeds s

    serial, reference = _best(best, ProcessRunner(1), fn, seeds)
    rows.append(("this process, one seed after another", 1, 0.0, serial))
    # the pool starts its processes on every run: timed on a run of no seeds, then taken off
    pool_start, _ = _best(best, ProcessRunner(args.jobs), abs, range(args.jobs))
    pool, results = _best(best, ProcessRunner(args.jobs), fn, seeds)
    rows.append(
        (f"process pool (--jobs {args.jobs})", args.jobs, pool_start, max(pool - pool_start, 0))
    )
    same = _key(results) == _key(reference)

    idle_ms = seed_ms = ratio = 0.0
    per_task = 1
    for n in args.workers:
        t = time.perf_counter()
        with (
            LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            DaskRunner(cluster.scheduler_address) as runner,  # connected, checked, imported
        ):
            start = time.perf_counter() - t
            took, results = _best(best, runner, fn, seeds)  # seeds per task as the runner picks
            same = same and _key(results) == _key(reference)
            rows.append((f"Dask LocalCluster, {n} worker{'s' * (n != 1)}", n, start, took))
            if n == 1:
                # one seed per task, then as many tasks that do no run, back to back on one
                # worker, so that the machine's load weighs on both alike
                runner.batch = 1
                single, results = _best(best, runner, fn, seeds)
                same = same and _key(results) == _key(reference)
                idle, _ = _best(best, runner, _Idle(fn, reference[0]), range(IDLE_TASKS))
                idle_ms = idle / IDLE_TASKS * 1e3
                seed_ms = single / len(seeds) * 1e3 - idle_ms
                per_task = max(1, math.ceil(idle_ms / (GOAL * seed_ms)))
                ratio = idle_ms / (per_task * seed_ms)
                rows.append(("Dask LocalCluster, 1 worker, 1 seed per task", 1, 0.0, single))
                if per_task > 1:
                    runner.batch = per_task
                    batched, results = _best(best, runner, fn, seeds)
                    same = same and _key(results) == _key(reference)
                    name = f"Dask LocalCluster, 1 worker, {per_task} seeds per task"
                    rows.append((name, 1, 0.0, batched))

    cores = os.cpu_count() or 1
    pool_rate = len(seeds) / rows[1][3]
    lines = [
        "# Exploration on Dask: throughput and per-task overhead",
        "",
        f"Written by `{written_by()}` on {cores} cores (load average {load:.1f} when it "
        f"started): {args.app} ({args.config}"
        f"{''.join(f', -D {k}={v}' for k, v in defines.items())}), {args.harts} harts, "
        f"{args.schedule} quantum {args.quantum}, oracle on, seeds 0..{args.seeds - 1}, "
        f"every seed run; each time the best of {best}. Dask rows without a number of seeds per "
        "task are the runner's own choice (below). Start-up is apart from the seeds: the "
        "pool's processes start on every run (timed on a run of no seeds and taken off its "
        "total), a cluster's once (LocalCluster and connecting to it; importing distributed "
        "in the client not counted).",
        "",
        "| engine | processes | start-up (s) | seeds (s) | seeds/s | vs the pool |",
        "|---|---|---|---|---|---|",
    ]
    for name, procs, start, secs in rows:
        rate = len(seeds) / secs if secs else float("nan")
        lines.append(
            f"| {name} | {procs} | {start:.2f} | {secs:.2f} | {rate:.2f} | "
            f"{rate / pool_rate:.2f}x |"
        )
    lines += [
        "",
        f"- Same results on every engine (all fields but wall time): {'yes' if same else 'NO'}.",
        f"- A seed's run: {serial / len(seeds) * 1e3:.0f} ms in this process, {seed_ms:.0f} ms "
        "on a Dask worker (mean, its task's overhead taken off).",
        f"- Per-task overhead: {idle_ms:.1f} ms (the time per task of {IDLE_TASKS} tasks that "
        "carry the same options and result but do no run, on one worker, right after its "
        f"seeds), {idle_ms / seed_ms:.1%} of a seed's run.",
        f"- Task granularity: {per_task} seed{'s' * (per_task != 1)} per task keeps the "
        f"overhead under {GOAL:.0%}: **{ratio:.1%}** of a task's run time. The runner puts up "
        f"to `BATCH` = {BATCH} seeds in a task (emulator/session/cluster.py; fewer when there "
        "are too few seeds to keep every worker busy)"
        + ("." if per_task <= BATCH else f": **raise it to {per_task}**."),
        f"- More worker processes than cores ({cores}) add no throughput: the runs are "
        "CPU-bound. With the machine shared (the load average above), the rows differ by "
        "what share of the cores each got as much as by the engine.",
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    print(f"figure: per-task overhead {ratio:.1%} of a task's run at {per_task} seed(s) per task")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0 if same else 1


if __name__ == "__main__":  # spawned workers import this module again
    script_main(main)
