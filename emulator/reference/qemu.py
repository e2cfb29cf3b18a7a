"""Running an image on QEMU's virt machine: the reference our fidelity is checked against."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class QemuRun:
    status: int
    lines: list[str]


def qemu_binary() -> str | None:
    return shutil.which("qemu-system-riscv64")


def run_on_qemu(
    image: Path, harts: int, ram_mib: int = 64, timeout: float = 120, bios: str | Path = "none"
) -> QemuRun:
    """Boot `image` as `-kernel` with `-M virt -smp harts`; its exit status is the finisher's.
    `bios` is QEMU's -bios: "none" (the image runs in M-mode from RAM_BASE), "default" (QEMU's
    bundled OpenSBI, which enters an S-mode image at KERNEL_BASE) or a firmware file."""
    qemu = qemu_binary()
    if qemu is None:
        raise FileNotFoundError(
            "qemu-system-riscv64 is not installed (apt-get install qemu-system-misc)"
        )
    proc = subprocess.run(
        [
            qemu,
            "-M",
            "virt",
            *([] if str(bios) == "default" else ["-bios", str(bios)]),
            "-smp",
            str(harts),
            "-m",
            f"{ram_mib}M",
            "-nographic",
            "-kernel",
            str(image),
        ],
        capture_output=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    text = proc.stdout.decode(errors="replace").replace("\r", "")
    return QemuRun(proc.returncode, text.splitlines())
