"""Builds the boot-convention test programs (tests/firmware/*.S) into ELF images, and raw
binaries from them, as QEMU's -bios and -kernel take both.

  record.S    an M-mode firmware recording the reset ROM's a0/a1/a2 per hart, then entering
              the kernel at fw_dynamic's next_addr (or spinning, built with SPIN)
  kernel.S    an M-mode kernel: hart 0 prints "kernel" and exits with code 7
  payload.S   an S-mode payload for OpenSBI: says whether it runs in S mode, shuts down (SRST)
  uartirq.S   the UART's THR-empty interrupt through the PLIC wakes a hart asleep in wfi

Images are named by a hash of what goes into them and built once, under build/firmware/ in the
checkout (ignored by git) unless a directory is named.

    python tests/firmware/build.py [NAME ...]     # name and path of each
    python tests/firmware/build.py --path NAME    # the path alone
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from toolchain.compiler import find_compiler  # noqa: E402

CONTRACT = ROOT / "guest" / "include"
DEFAULT_OUT = ROOT / "build" / "firmware"
KERNEL_ADDRESS = 0x80200000  # fw_jump's jump address; QEMU's raw kernel address after OpenSBI


@dataclass(frozen=True)
class Program:
    source: str
    address: int
    defines: dict[str, str] = field(default_factory=dict)


PROGRAMS = {
    "record": Program("record.S", 0x80000000),
    "record-spin": Program("record.S", 0x80000000, {"SPIN": "1"}),
    "kernel": Program("kernel.S", KERNEL_ADDRESS),
    "kernel-low": Program("kernel.S", 0x80000000),  # a kernel for --bios none
    "payload": Program("payload.S", KERNEL_ADDRESS),
    "uartirq": Program("uartirq.S", 0x80000000),
}


def _command(program: Program, script: Path, out: Path) -> list[str]:
    cc = find_compiler()
    return [
        *cc.command,
        *cc.flags(),
        f"-I{CONTRACT}",
        *(f"-D{k}={v}" for k, v in sorted(program.defines.items())),
        "-T",
        str(script),
        str(HERE / program.source),
        "-o",
        str(out),
    ]


def build(name: str, out_dir: Path = DEFAULT_OUT) -> Path:
    """The ELF image of program `name`, built if it is not yet."""
    program = PROGRAMS[name]
    script = (HERE / "link.ld").read_text().replace("LOAD_ADDRESS", f"{program.address:#x}")
    digest = hashlib.sha256(repr(_command(program, Path("-"), Path("-"))).encode())
    for data in (HERE / program.source, CONTRACT / "contract.h"):
        digest.update(data.read_bytes())
    digest.update(script.encode())
    key = digest.hexdigest()[:16]
    image = out_dir / f"{name}-{key}.elf"
    if image.exists():
        return image
    out_dir.mkdir(parents=True, exist_ok=True)
    script_path = out_dir / f"{name}-{key}.ld"
    script_path.write_text(script)
    tmp = image.with_suffix(f".{os.getpid()}.tmp")
    proc = subprocess.run(
        _command(program, script_path, tmp),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"building {name} failed:\n{proc.stderr}{proc.stdout}")
    tmp.replace(image)
    return image


def raw_binary(elf: Path, out: Path) -> Path:
    """`objcopy -O binary`: the loadable bytes from the lowest address, gaps zero-filled, bss
    left out."""
    from elftools.elf.elffile import ELFFile

    with elf.open("rb") as f:
        segments = [
            (s["p_paddr"], s.data())
            for s in ELFFile(f).iter_segments()
            if s["p_type"] == "PT_LOAD" and s["p_filesz"]
        ]
    segments.sort()
    base = segments[0][0]
    data = bytearray()
    for address, chunk in segments:
        data += bytes(address - base - len(data)) + chunk
    out.write_bytes(bytes(data))
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["--path"]:  # just the image's path, for $(...) on a command line
        print(build(sys.argv[2]))
    else:
        for name in sys.argv[1:] or PROGRAMS:
            print(f"{name:12} {build(name)}")
