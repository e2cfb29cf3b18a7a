"""Fidelity against something we did not write: QEMU boots the same images.

Skipped when qemu-system-riscv64 is absent (.ci/run installs it)."""

from __future__ import annotations

import pytest
from conftest import console_lines, run_image

from emulator.reference.qemu import qemu_binary, run_on_qemu
from toolchain import build

QEMU = qemu_binary()
pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(QEMU is None, reason="qemu-system-riscv64 is not installed"),
]


def qemu(image, harts: int) -> tuple[int, list[str]]:
    result = run_on_qemu(image, harts)
    return result.status, result.lines


@pytest.mark.parametrize("app", ["hello", "locks"])
@pytest.mark.parametrize("harts", [1, 4])
def test_same_exit_code_and_lines_as_qemu(app, harts):
    image = build(app)
    code, lines = qemu(image, harts)
    ours = run_image(image, harts)
    assert ours.result.outcome == "exited"
    assert (ours.result.exit_code, set(console_lines(ours))) == (code, set(lines))
    assert code == 0


def test_failure_code_matches_qemu():
    image = build("traps", defines={"TRAPS_EXIT_CODE": "7"})
    code, _ = qemu(image, 1)
    assert code == 7 == run_image(image, 1).result.exit_code
