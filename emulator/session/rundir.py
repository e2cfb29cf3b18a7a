"""Run directories: where everything a run produces goes (never into the source tree)."""

from __future__ import annotations

import json
import time
from pathlib import Path


def make_run_dir(out: str | None, label: str) -> Path:
    """The directory the user named, else a new one under ./runs/."""
    if out:
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        return path
    base = Path.cwd() / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{label}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
