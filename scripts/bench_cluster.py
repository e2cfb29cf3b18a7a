#!/usr/bin/env python3
"""Throughput of explore on 1, 2 and 4 local Dask workers against the process pool, and the
cost of a Dask task next to a seed's run.

    python scripts/bench_cluster.py                         # writes runs/cluster.md
    python scripts/bench_cluster.py --seeds 48 --out docs/cluster.md

Runs the same seeds (the README's treiber race by default: quantum 5, oracle on, every seed)
in this process one after another, in the process pool (--jobs), and on a Dask LocalCluster
of each --workers size (one thread per worker process), and checks that every engine gives the
same results. The per-task overhead is (1 worker's time - this process's time) / tasks, and,
separately, the time per task of tasks that do nothing; the seeds per task is the fewest for
which the overhead stays under 5% of a seed's run. Cluster start-up is timed apart: a
long-lived cluster pays it once, the pool on every run.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from emulator.explore.explore import SeedRun, worker_options
from emulator.session import RunOptions
from emulator.session.pool import ProcessRunner
from toolchain.args import define

GOAL = 0.05  # overhead per task over the run time of the seeds in it


def _timed(runner, fn, items) -> tuple[float, list]:
    t = time.perf_counter()
    out = list(runner.map(fn, items))
    return time.perf_counter() - t, out


def _key(results) -> list[dict]:
    """What must not depend on the engine: everything but wall time, in seed order."""
    rows = [asdict(r) for r in sorted(results, key=lambda r: r.seed)]
    for row in rows:
        row.pop("wall_seconds")
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--app", default="treiber")
    p.add_argument("--config", default="default")
    p.add_argument("-D", dest="defines", action="append", type=define, default=[])
    p.add_argument("--harts", type=int, default=3)
    p.add_argument("--schedule", default="random")
    p.add_argument("--quantum", type=int, default=5)
    p.add_argument("--seeds", type=int, default=32)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--out", type=Path, default=Path("runs") / "cluster.md")
    args = p.parse_args()
    try:
        from distributed import LocalCluster

        from emulator.session.cluster import DaskRunner
    except ImportError:
        print("bench_cluster: needs distributed: pip install '.[cluster]'", file=sys.stderr)
        return 64
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    load = os.getloadavg()[0]
    defines = dict(args.defines) or ({"TREIBER_POP": "cas"} if args.app == "treiber" else {})
    opts = RunOptions(
        app=args.app, config=args.config, defines=defines, harts=args.harts,
        schedule=args.schedule, quantum=args.quantum, check=True, quiet=True, write_files=False,
    )  # fmt: skip
    fn = SeedRun(worker_options(opts))
    seeds = list(range(args.seeds))
    rows: list[tuple[str, int, float]] = []  # engine, processes, seconds

    serial, reference = _timed(ProcessRunner(1), fn, seeds)
    seed_s = serial / len(seeds)
    rows.append(("this process, one seed after another", 1, serial))
    t = time.perf_counter()
    list(ProcessRunner(args.jobs).map(abs, range(args.jobs)))
    pool_start = time.perf_counter() - t
    pool, results = _timed(ProcessRunner(args.jobs), fn, seeds)
    rows.append((f"process pool (--jobs {args.jobs})", args.jobs, pool))
    same = _key(results) == _key(reference)

    dask: dict[int, float] = {}
    starts: dict[int, float] = {}
    empty_ms = overhead_ms = 0.0
    for n in args.workers:
        t = time.perf_counter()
        with (
            LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            DaskRunner(cluster.scheduler_address) as runner,  # connected, checked, imported
        ):
            starts[n] = time.perf_counter() - t
            dask[n], results = _timed(runner, fn, seeds)
            same = same and _key(results) == _key(reference)
            if n == 1:
                empty, _ = _timed(runner, abs, range(200))
                empty_ms = empty / 200 * 1e3
                overhead_ms = (dask[1] - serial) / len(seeds) * 1e3
        rows.append((f"Dask LocalCluster, {n} worker{'s' * (n != 1)}", n, dask[n]))

    overhead = max(overhead_ms, empty_ms)  # the larger: noise can hide either
    per_task = max(1, math.ceil(overhead / (GOAL * seed_s * 1e3)))
    ratio = overhead / (per_task * seed_s * 1e3)
    cores = os.cpu_count() or 1
    lines = [
        "# Exploration on Dask: throughput and per-task overhead",
        "",
        f"Written by `python scripts/bench_cluster.py --seeds {args.seeds} --out docs/cluster.md`"
        f" on {cores} cores (load average {load:.1f} when it started): {args.app} ({args.config}"
        f"{''.join(f', -D {k}={v}' for k, v in defines.items())}), {args.harts} harts, "
        f"{args.schedule} quantum {args.quantum}, oracle on, seeds 0..{args.seeds - 1}, "
        "every seed run. Seeds/s counts the run only: cluster start-up is timed apart below.",
        "",
        "| engine | processes | seconds | seeds/s | vs the pool |",
        "|---|---|---|---|---|",
    ]
    for name, procs, secs in rows:
        lines.append(
            f"| {name} | {procs} | {secs:.2f} | {len(seeds) / secs:.2f} | {pool / secs:.2f}x |"
        )
    lines += [
        "",
        f"- Same results on every engine (all fields but wall time): {'yes' if same else 'NO'}.",
        f"- A seed's run: {seed_s * 1e3:.0f} ms (this process, mean).",
        f"- Per-task overhead: {overhead_ms:.1f} ms measured as (1 worker - this process) / "
        f"tasks, {empty_ms:.1f} ms per task that does nothing; the larger, {overhead:.1f} ms, "
        f"is {overhead / (seed_s * 1e3):.1%} of a seed.",
        f"- Seeds per task for an overhead under {GOAL:.0%}: {per_task} "
        f"(overhead / run time of a task: {ratio:.1%}); the runner's BATCH "
        "(emulator/session/cluster.py) is 1.",
        f"- Start-up: the pool spawns its {args.jobs} processes in {pool_start:.2f} s on every "
        "run; a LocalCluster starts in "
        + ", ".join(f"{starts[n]:.2f} s ({n} worker{'s' * (n != 1)})" for n in args.workers)
        + ", plus importing distributed in the client.",
        f"- More workers than cores ({cores}) add no throughput: the runs are CPU-bound.",
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    print(f"figure: per-task overhead {ratio:.1%} of a task's run at {per_task} seed(s) per task")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0 if same else 1


if __name__ == "__main__":  # spawned workers import this module again
    sys.exit(main())
