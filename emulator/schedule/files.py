"""Schedule files: the turns of a run (which hart ran until its retired count reached what), for
`run --replay FILE` and the minimizer. Schema 1:

  {"schema": 1, "harts": N, "made_by": {...the policy's description...},
   "turns": [[hart, retired count at the turn's end], ...]}   (runs of one hart merged)
"""

from __future__ import annotations

import json
from pathlib import Path

from emulator.machine.errors import BadInput
from emulator.machine.hooks import Hooks

SCHEMA = 1


def load_schedule(path: str, harts: int) -> list[list[int]]:
    """The turns of a schedule file recorded with `harts` harts."""
    try:
        data = json.loads(Path(path).read_text())
        turns = data["turns"]
        recorded_harts = int(data["harts"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BadInput(f"--replay {path}: not a schedule file ({e})") from None
    if recorded_harts != harts:
        raise BadInput(f"--replay {path}: recorded with --harts {recorded_harts}, not {harts}")
    return turns


def save_schedule(path: Path, harts: int, turns: list[tuple[int, int]], made_by: dict) -> None:
    """Write `turns` (hart, retired count at the turn's end) as a schedule file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    merged: list[list[int]] = []
    for h, x in turns:
        if merged and merged[-1][0] == h:
            merged[-1][1] = x
        else:
            merged.append([h, x])
    data = {"schema": SCHEMA, "harts": harts, "made_by": made_by, "turns": merged}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


class Recorder:
    """Records each turn as (hart, its retired count at the turn's end): `install` hands the
    list to the machine (Hooks.turns), which appends to it after every turn, in its Python
    loop and in the native turn loop alike."""

    def __init__(self) -> None:
        self.turns: list[tuple[int, int]] = []

    def install(self, hooks: Hooks) -> None:
        hooks.turns = self.turns
