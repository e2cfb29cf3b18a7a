"""Debian's OpenSBI (the `opensbi` package: generic fw_jump and fw_dynamic) boots on this machine
through the reset ROM and runs an S-mode payload (tests/firmware/payload.S) on 1, 2, 4 and 8
harts, as on QEMU virt: its banner counts the harts, the payload finds itself in S mode (reading
mstatus traps and comes back through stvec), takes the UART's interrupt through its S context of
the PLIC, prints through the SBI console and shuts the machine down through SRST. Skips when the
package is not installed.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from firmware.build import build, raw_binary

from emulator.machine.machine import Outcome
from emulator.reference.qemu import qemu_binary
from emulator.session import RunOptions, run

OPENSBI = Path("/usr/lib/riscv64-linux-gnu/opensbi/generic")
pytestmark = pytest.mark.skipif(
    not (OPENSBI / "fw_jump.elf").exists(),
    reason="Debian's opensbi package is not installed (apt-get install opensbi)",
)
BUDGET = 600_000_000
IN_S_MODE = re.compile(r"^sbi-payload: running in S-mode on hart (\d)$", re.M)
UART_IRQ = re.compile(
    r"^sbi-payload: UART interrupt taken in S-mode through the PLIC on hart \d$", re.M
)


def _boot(firmware: Path, kernel: Path, harts: int) -> tuple[object, str]:
    opts = RunOptions(bios=str(firmware), kernel=str(kernel), harts=harts, quiet=True,
                      write_files=False, max_instructions=BUDGET)  # fmt: skip
    report = run(opts)
    return report, report.console.decode(errors="replace").replace("\r", "")


def _hart_count(console: str) -> int:
    found = re.search(r"^Platform HART Count\s*: (\d+)$", console, re.M)
    assert found, console
    return int(found.group(1))


@pytest.mark.parametrize("harts", [1, 2, 4, 8])
@pytest.mark.parametrize("firmware", ["fw_jump", "fw_dynamic"])
def test_opensbi_boots_an_s_mode_payload(firmware, harts):
    report, console = _boot(OPENSBI / f"{firmware}.elf", build("payload"), harts)
    result = report.result
    assert result.outcome is Outcome.EXITED and result.exit_code == 0, (result.message, console)
    assert "OpenSBI v" in console
    assert _hart_count(console) == harts
    assert "Domain0 Next Mode         : S-mode" in console
    assert "Domain0 Next Address      : 0x0000000080200000" in console
    assert IN_S_MODE.search(console) and UART_IRQ.search(console), console
    assert report.summary["kernel_reached"] is True


def test_opensbi_raw_firmware_and_raw_payload(tmp_path):
    """fw_jump.bin at RAM_BASE, the payload as a raw binary at 0x80200000 after it."""
    payload = raw_binary(build("payload"), tmp_path / "payload.bin")
    report, console = _boot(OPENSBI / "fw_jump.bin", payload, 2)
    assert report.result.exit_code == 0, (report.result.message, console)
    assert _hart_count(console) == 2 and IN_S_MODE.search(console) and UART_IRQ.search(console)


@pytest.mark.qemu
@pytest.mark.skipif(qemu_binary() is None, reason="qemu-system-riscv64 is not installed")
@pytest.mark.parametrize("firmware", ["fw_jump", "fw_dynamic"])
def test_the_payload_does_the_same_on_qemu(firmware):
    """The reference: QEMU 7.2 with the same firmware and payload, 2 harts."""
    proc = subprocess.run(
        [qemu_binary(), "-M", "virt", "-smp", "2", "-m", "128M", "-nographic",
         "-bios", str(OPENSBI / f"{firmware}.elf"), "-kernel", str(build("payload"))],
        capture_output=True, timeout=120, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    console = proc.stdout.decode(errors="replace").replace("\r", "")
    assert proc.returncode == 0, console
    assert _hart_count(console) == 2, console
    assert IN_S_MODE.search(console) and UART_IRQ.search(console), console
