"""The layers of emulator/ (emulator/__init__.py): a module imports only from its own folder and
the layers before it, never from a sibling of the same rank, never up. And no import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EMULATOR = ROOT / "emulator"
# folder -> rank; folders of equal rank are siblings and must not import each other
RANK = {
    "machine": 0,
    "schedule": 1,
    "instruments": 1,
    "session": 2,
    "explore": 3,
    "bench": 3,
    "cli": 4,
    "reference": 0,
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _folder(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "emulator" else None


def _modules() -> list[Path]:
    return sorted(p for p in EMULATOR.rglob("*.py") if p.parent != EMULATOR)


def test_every_folder_has_a_rank():
    folders = {p.parent.name for p in _modules()}
    assert folders <= set(RANK), folders - set(RANK)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(EMULATOR)))
def test_no_import_runs_up_or_sideways(path):
    here = path.parent.name
    bad = []
    for module in _imports(path):
        there = _folder(module)
        if there is None or there == here:
            continue
        if RANK[there] >= RANK[here]:
            bad.append(module)
    assert not bad, f"{here}/{path.name} imports {bad} (rank {RANK[here]} may not)"


def test_toolchain_and_guest_do_not_import_the_emulator():
    for path in [*(ROOT / "toolchain").glob("*.py"), *(ROOT / "guest").glob("*.py")]:
        assert not {m for m in _imports(path) if m.split(".")[0] == "emulator"}, path


def test_the_checker_catches_an_upward_import(tmp_path):
    """A machine module importing the session would be reported."""
    fake = tmp_path / "emulator" / "machine" / "bad.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("from emulator.session.run import run\n")
    with pytest.raises(AssertionError, match="imports"):
        test_no_import_runs_up_or_sideways(fake)
