"""python -m emulator explore: one run under many seeded schedules, in parallel, oracle on.

Each seed is an independent run (same image, harts, schedule policy, quantum; its own seed) in
a worker process; the image is built once, and PCT's k is estimated once, before the workers
start. The runner is one small interface (`Runner.map`), so a distributed engine can stand in
for the local process pool. Results go to the run directory as results.csv / results.json.

`--minimize SEED` re-runs one failing seed recording its turns, then removes turns (chunks of
them, halving, within a budget of runs) while the run still ends in the same violation, and
writes what is left as a schedule file for `run --replay`.
"""

from __future__ import annotations

import csv
import itertools
import json
import multiprocessing
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Protocol

from emulator.rundir import write_json
from emulator.session import RunOptions, prepare_pct, resolve_image, run, save_schedule


@dataclass
class SeedResult:
    seed: int
    outcome: str
    exit_code: int | None
    rule: str | None
    message: str
    instructions: int
    wall_seconds: float

    @property
    def failed(self) -> bool:
        return not (self.outcome == "exited" and self.exit_code == 0)


class Runner(Protocol):
    def map(self, fn: Callable[[int], SeedResult], seeds: Iterable[int]) -> Iterator[SeedResult]:
        """Results as they finish, in any order; stopping the iteration cancels the rest."""
        ...


class ProcessRunner:
    """A local pool of worker processes (spawned: no unicorn state crosses a fork)."""

    def __init__(self, jobs: int):
        self.jobs = max(1, jobs)

    def map(self, fn, seeds):
        seeds = list(seeds)
        if self.jobs == 1 or len(seeds) == 1:
            yield from map(fn, seeds)
            return
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(min(self.jobs, len(seeds))) as pool:
            yield from pool.imap_unordered(fn, seeds)
            # leaving the with-block terminates workers still running


@dataclass(frozen=True)
class SeedRun:
    """A picklable function of the seed: one run with the oracle on."""

    opts: RunOptions

    def __call__(self, seed: int) -> SeedResult:
        report = run(replace(self.opts, seed=seed))
        r = report.result
        rule = r.extra.get("rule") if r.outcome == "violation" else None
        message = r.message or f"the guest exited with code {r.exit_code}"
        if not r.message and r.exit_code:
            # the guest's own last word (a test's FAIL line, a benchmark's FAILED reason)
            last = report.console.decode(errors="replace").strip().splitlines()[-1:]
            message += f" ({last[0].strip()})" if last else ""
        return SeedResult(
            seed, r.outcome, r.exit_code, rule, message, r.total_instructions, r.wall_seconds
        )


def worker_options(opts: RunOptions) -> RunOptions:
    """The options each worker runs: the built image, the oracle on, nothing streamed or written,
    PCT's k fixed once for all seeds."""
    path, _ = resolve_image(opts)
    return replace(
        prepare_pct(opts, path),
        image=str(path),
        app=None,
        config="default",
        defines={},
        check=True,
        trace=False,
        stream=False,
        write_files=False,
        out=None,
        save_schedule=None,
    )


def explore(
    opts: RunOptions,
    seeds: list[int],
    jobs: int,
    stop_at_first: bool = True,
    runner: Runner | None = None,
    progress: bool = True,
) -> tuple[list[SeedResult], RunOptions]:
    work = worker_options(opts)
    runner = runner or ProcessRunner(jobs)
    results: list[SeedResult] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(seeds), unit="seed", file=sys.stderr, leave=False)
    try:
        for result in runner.map(SeedRun(work), seeds):
            results.append(result)
            if bar:
                bar.update()
                if result.failed:
                    bar.write(f"seed {result.seed}: {result.outcome}: {result.message}")
            if result.failed and stop_at_first:
                break
    finally:
        if bar:
            bar.close()
    results.sort(key=lambda r: r.seed)
    return results, work


def write_results(run_dir: Path, results: list[SeedResult], work: RunOptions) -> None:
    fields = ["seed", "outcome", "exit_code", "rule", "instructions", "wall_seconds", "message"]
    with (run_dir / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in results:
            w.writerow({k: getattr(r, k) for k in fields})
    write_json(
        run_dir / "results.json",
        {
            "image": work.image,
            "harts": work.harts,
            "schedule": work.schedule,
            "quantum": work.quantum,
            "pct_depth": work.pct_depth,
            "pct_steps": work.pct_steps,
            "preempt_p": work.preempt_p,
            "results": [asdict(r) for r in results],
        },
    )


# ---- minimization -------------------------------------------------------------------------------


def switches(turns: list[list[int]]) -> int:
    return sum(1 for a, b in itertools.pairwise(turns) if a[0] != b[0])


def _fails_like(opts: RunOptions, turns: list[list[int]], rule: str | None, scratch: Path) -> bool:
    path = scratch / "candidate.schedule.json"
    save_schedule(path, opts.harts, [tuple(t) for t in turns], {"minimizing": True})
    report = run(replace(opts, replay=str(path)))
    r = report.result
    if rule:
        return r.outcome == "violation" and r.extra.get("rule") == rule
    return r.outcome != "exited" or r.exit_code != 0


def minimize(
    opts: RunOptions, seed: int, run_dir: Path, budget: int = 64, log=print
) -> tuple[Path, int, int] | None:
    """(schedule file, switches before, after), or None when the seed does not fail."""
    work = worker_options(opts)
    recorded = run_dir / f"seed-{seed}.schedule.json"
    report = run(replace(work, seed=seed, save_schedule=str(recorded)))
    r = report.result
    if r.outcome == "exited" and r.exit_code == 0:
        return None
    rule = r.extra.get("rule") if r.outcome == "violation" else None
    turns = json.loads(recorded.read_text())["turns"]
    before = switches(turns)
    log(f"seed {seed} fails ({rule or r.outcome}) after {before} switches; minimizing")
    chunk, runs = max(1, len(turns) // 2), 0
    while chunk >= 1 and runs < budget:
        i, changed = 0, False
        while i < len(turns) and runs < budget:
            candidate = turns[:i] + turns[i + chunk :]
            runs += 1
            if candidate and _fails_like(work, candidate, rule, run_dir):
                turns, changed = candidate, True
            else:
                i += chunk
        if not changed:
            chunk //= 2
    out = run_dir / f"seed-{seed}.min.schedule.json"
    save_schedule(
        out, work.harts, [tuple(t) for t in turns], {"minimized_from_seed": seed, "rule": rule}
    )
    (run_dir / "candidate.schedule.json").unlink(missing_ok=True)
    after = switches(turns)
    log(f"minimized in {runs} runs: {before} -> {after} switches, {len(turns)} turns: {out}")
    return out, before, after
