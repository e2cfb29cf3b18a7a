"""python -m emulator explore: one run under many seeded schedules, in parallel, oracle on.

Each seed is an independent run (same image, harts, schedule policy, quantum; its own seed) in
a worker process; the image is built once, and PCT's k is estimated once, before the workers
start. The runner is one small interface (session/pool.py `Runner.map`): the local process
pool, or a Dask cluster (session/cluster.py) to which the image travels by content hash.
Results go to the run directory as results.csv / results.json.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from emulator.instruments.timing import costs_file
from emulator.instruments.tracer import find_api
from emulator.machine.image import Image
from emulator.machine.machine import Outcome
from emulator.session.options import RunOptions
from emulator.session.pool import ProcessRunner, Runner
from emulator.session.run import (
    RunReport,
    check_allocator_found,
    prepare_pct,
    resolve_image,
    run,
)
from emulator.session.rundir import write_json


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
        return not (self.outcome == Outcome.EXITED and self.exit_code == 0)


@dataclass(frozen=True)
class SeedRun:
    """A picklable function of the seed: one run with the oracle on."""

    opts: RunOptions

    def files(self) -> dict[str, Path]:
        """The files the options name (role = RunOptions field): what a cluster ships (not a
        bundled cost file's name: every worker has those)."""
        named = {"image": self.opts.image, "replay": self.opts.replay}
        files = {role: Path(path) for role, path in named.items() if path}
        if (costs := costs_file(self.opts.costs)) is not None:
            files["costs"] = costs
        return files

    def with_files(self, paths: dict[str, Path]) -> SeedRun:
        """The same run reading those files at other paths (a worker's copies)."""
        return SeedRun(replace(self.opts, **{role: str(p) for role, p in paths.items()}))

    def __call__(self, seed: int) -> SeedResult:
        report = run(replace(self.opts, seed=seed))
        r = report.result
        rule = r.extra.get("rule") if r.outcome is Outcome.VIOLATION else None
        return SeedResult(
            seed, r.outcome, r.exit_code, rule, failure_message(report), r.total_instructions,
            r.wall_seconds,
        )  # fmt: skip


def failure_message(report: RunReport) -> str:
    """What a run's end says: the machine's message, else the guest's exit code and its own
    last word (a test's FAIL line, a benchmark's FAILED reason) when it failed."""
    r = report.result
    message = r.message or f"the guest exited with code {r.exit_code}"
    if not r.message and r.exit_code:
        last = report.console.decode(errors="replace").strip().splitlines()[-1:]
        message += f" ({last[0].strip()})" if last else ""
    return message


def implied_no_allocator(opts: RunOptions, image: Image | None = None) -> bool:
    """Explore turns the oracle on by itself, so an image with symbols but no allocator entry
    point (treiber) is taken as having no allocator, as if the user had said --no-allocator. A
    stripped image is not: the oracle cannot tell, and the run says so (bad input)."""
    if opts.no_allocator:
        return True
    image = image or Image(resolve_image(opts))
    return bool(image.symbols and not find_api(image))


def worker_options(opts: RunOptions) -> RunOptions:
    """The options each worker runs: the built image, the oracle on, nothing streamed or written,
    PCT's k fixed once for all seeds. Bad input is said here, once, not by every worker."""
    path = resolve_image(opts)
    image = Image(path)
    opts = replace(opts, check=True, no_allocator=implied_no_allocator(opts, image))
    check_allocator_found(opts, image)
    return replace(
        prepare_pct(opts, path),
        image=str(path),
        kernel=None,  # now the IMAGE (--bios FW --kernel FILE explores too)
        app=None,
        config="default",
        defines={},
        libs=[],
        heap_walkers=opts.walker_plugins(),
        trace=False,
        quiet=True,
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
