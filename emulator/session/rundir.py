"""Run directories: where everything a run produces goes (never into the source tree).

A run leaves a complete record or none. Bad input (an EmulatorError, exit status 64) is no run:
the directory made for it is taken away again with whatever was put in it, or, when --out named
a directory that already existed, the files the run added to it. A run that ran (whatever its
outcome) keeps its directory and writes summary.json last. A problem with the directory itself
(--out names a file, lies under one, or cannot be written) is bad input, said in one line.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from emulator.machine.errors import BadInput, EmulatorError


def _problem(e: OSError) -> str:
    return e.strerror or str(e)


def _missing(path: Path) -> list[Path]:
    """`path` and those of its parents that do not exist yet, deepest first."""
    out = []
    for p in [path, *path.parents]:
        if p.exists():
            if not p.is_dir():
                raise NotADirectoryError(f"{p} is a file, not a directory")
            break
        out.append(p)
    return out


def _make(out: str | None, label: str) -> tuple[Path, list[Path]]:
    """(the run directory, the directories made for it, deepest first: none when --out named
    one that existed)."""
    if out:
        path = Path(out)
        where, fix = f"--out {out}", "name a directory the run can write"
        if path.exists() and not path.is_dir():
            raise BadInput(f"{where}: a file, not a directory; name a directory for the run")
    else:
        base = Path.cwd() / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{label}"
        path, n = base, 1
        while path.exists():
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        where, fix = f"cannot make a run directory under {base.parent}", "name one with --out"
    try:
        made = _missing(path)
    except NotADirectoryError as e:
        raise BadInput(f"{where}: {e}; {fix}") from None
    try:
        while True:
            try:
                path.mkdir(parents=True, exist_ok=bool(out))
                break
            except FileExistsError:  # another run took this name in the same second
                if out:
                    raise
                n += 1
                path = base.with_name(f"{base.name}-{n}")
                made = _missing(path)
        probe = path / f".emulator-write-test-{time.monotonic_ns()}"
        probe.touch()
        probe.unlink()
    except OSError as e:
        _remove(made)
        raise BadInput(f"{where}: cannot write there ({_problem(e)}); {fix}") from None
    return path, made


def _remove(made: list[Path]) -> None:
    """Take away the directories made (the deepest with its contents, the parents above it
    only while empty: another run may have put its own directory there meanwhile)."""
    if not made:
        return
    shutil.rmtree(made[0], ignore_errors=True)
    for parent in made[1:]:
        try:
            parent.rmdir()
        except OSError:
            break


@contextmanager
def open_run_dir(out: str | None, label: str) -> Iterator[Path]:
    """The directory the user named (made if needed), else a new one under ./runs/; taken back
    if the body raises bad input (see the module's docstring)."""
    path, made = _make(out, label)
    before = set(path.iterdir()) if not made else set()
    try:
        yield path
    except EmulatorError:
        if made:
            _remove(made)
        else:
            for entry in set(path.iterdir()) - before:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
