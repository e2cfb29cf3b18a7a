"""`explore --minimize SEED`: shrink a failing schedule to the turns that matter.

The failing seed is re-run recording its turns; then turns are removed (chunks of them,
halving, within a budget of runs) while the run still ends in the same violation, and what is
left is written as a schedule file for `run --replay`.
"""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from emulator.explore.explore import worker_options
from emulator.machine.machine import Outcome
from emulator.schedule.files import save_schedule
from emulator.session.options import RunOptions
from emulator.session.run import run


def switches(turns: list[list[int]]) -> int:
    return sum(1 for a, b in itertools.pairwise(turns) if a[0] != b[0])


def _fails_like(opts: RunOptions, turns: list[list[int]], rule: str | None, scratch: Path) -> bool:
    path = scratch / "candidate.schedule.json"
    save_schedule(path, opts.harts, [tuple(t) for t in turns], {"minimizing": True})
    report = run(replace(opts, replay=str(path)))
    r = report.result
    if rule:
        return r.outcome is Outcome.VIOLATION and r.extra.get("rule") == rule
    return r.outcome is not Outcome.EXITED or r.exit_code != 0


def minimize(
    opts: RunOptions, seed: int, run_dir: Path, budget: int = 64, log=print, progress: bool = True
) -> tuple[Path, int, int] | None:
    """(schedule file, switches before, after), or None when the seed does not fail. With
    `progress`, a bar on stderr counts the runs spent of the budget."""
    work = worker_options(opts)
    recorded = run_dir / f"seed-{seed}.schedule.json"
    report = run(replace(work, seed=seed, save_schedule=str(recorded)))
    r = report.result
    if r.outcome is Outcome.EXITED and r.exit_code == 0:
        return None
    rule = r.extra.get("rule") if r.outcome is Outcome.VIOLATION else None
    turns = json.loads(recorded.read_text())["turns"]
    before = switches(turns)
    log(f"seed {seed} fails ({rule or r.outcome}) after {before} switches; minimizing")
    chunk, runs = max(1, len(turns) // 2), 0
    bar = tqdm(total=budget, unit="run", file=sys.stderr, leave=False, disable=not progress)
    with bar:
        while chunk >= 1 and runs < budget:
            i, changed = 0, False
            while i < len(turns) and runs < budget:
                candidate = turns[:i] + turns[i + chunk :]
                runs += 1
                bar.update()
                if candidate and _fails_like(work, candidate, rule, run_dir):
                    turns, changed = candidate, True
                    bar.set_postfix_str(f"{switches(turns)} switches")
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
