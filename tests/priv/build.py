"""Builds the privileged-architecture test programs (tests/priv/*.c) into ELF images.

Each image is the framework (common/) plus one program, compiled by the project's RISC-V
compiler (toolchain.compiler.find_compiler) and named by a hash of everything that goes into it,
so an unchanged program is not rebuilt. Images go to build/priv/ under the checkout (ignored by
git) unless a directory is named.

    python tests/priv/build.py [--out DIR] [PROGRAM ...]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from toolchain.compiler import find_compiler  # noqa: E402

COMMON = HERE / "common"
CONTRACT = ROOT / "guest" / "include"  # contract.h: the memory map, defined once
DEFAULT_OUT = ROOT / "build" / "priv"


@dataclass(frozen=True)
class Program:
    name: str
    source: str  # under tests/priv/
    summary: str
    defines: dict[str, str] = field(default_factory=dict)
    harts: tuple[int, ...] = (1, 2, 4)
    # False: not required to pass on QEMU (documented in README.md), e.g. exact counters.
    on_qemu: bool = True


SMP = {"PRIV_ALL_HARTS": "1"}

PROGRAMS: tuple[Program, ...] = (
    Program("traps", "traps.c", "trap entry/return between M, S, U; illegal instructions"),
    Program("traps-smp", "traps.c", "traps on every hart at once", SMP),
    Program("delegation", "delegation.c", "medeleg/mideleg: traps and interrupts to S"),
    Program("interrupts", "interrupts.c", "MSI/MTI/SSI/STI/SEI: enables, priority, vectors"),
    Program("interrupts-smp", "interrupts.c", "interrupts on every hart at once", SMP),
    Program(
        "interrupt-priority",
        "interrupt_priority.c",
        "the spec's priority order (emulator only: QEMU 7.2 takes the lowest number first)",
        on_qemu=False,
    ),
    Program("ipi", "ipi.c", "each hart interrupts the next through CLINT msip", SMP),
    Program("wfi", "wfi.c", "wfi wake-up rules; woken by another hart's IPI", SMP),
    Program("mhartid", "mhartid.c", "mhartid on every hart; parking by mhartid", SMP, (1, 2, 4, 8)),
    Program("ebreak", "ebreak.c", "ebreak and c.ebreak: cause 3, epc, tval, delegation"),
    Program("counters", "counters.c", "cycle/time/instret, aliases, counteren gating, writes"),
    Program(
        "counters-exact",
        "counters_exact.c",
        "instret counts exactly (emulator only: QEMU's is host time without -icount)",
        on_qemu=False,
    ),
    Program(
        "paging-sv39",
        "paging.c",
        "Sv39: mappings, U/R/W/X, SUM, MXR, A/D, sfence.vma",
        {"SATP_MODE": "8"},
    ),
    Program("paging-sv48", "paging.c", "Sv48: the same with four levels", {"SATP_MODE": "9"}),
    Program("pmp", "pmp.c", "PMP: 16 entries, TOR/NAPOT regions, no-match default, lock"),
    Program("misc-csrs", "misc_csrs.c", "misa, XLEN fields, ID CSRs, trigger CSRs"),
)
# The framework's own tests (selftest.c): not part of the matrix; tests/test_privileged.py runs
# them to show that a failing check and an unexpected trap are reported.
SELFTESTS: tuple[Program, ...] = (
    Program("selftest", "selftest.c", "every check passes"),
    Program("selftest-wrong", "selftest.c", "check 3 fails", {"SELFTEST_WRONG": "1"}),
    Program("selftest-trap", "selftest.c", "an unexpected ecall", {"SELFTEST_WRONG": "2"}),
)
BY_NAME = {p.name: p for p in (*PROGRAMS, *SELFTESTS)}


class BuildError(Exception):
    """The compiler rejected a program; the message carries its diagnostics."""


def _inputs(program: Program) -> list[Path]:
    return [*sorted(COMMON.iterdir()), HERE / program.source, CONTRACT / "contract.h"]


def _command(program: Program, out: Path) -> list[str]:
    cc = find_compiler()
    macros = {"PRIV_PROGRAM": f'"{program.name}"', **program.defines}
    return [
        *cc.command,
        *cc.flags(),
        f"-ffile-prefix-map={ROOT}=.",
        f"-I{COMMON}",
        f"-I{CONTRACT}",
        *(f"-D{k}={v}" for k, v in sorted(macros.items())),
        "-T",
        str(COMMON / "link.ld"),
        str(COMMON / "start.S"),
        str(COMMON / "priv.c"),
        str(HERE / program.source),
        "-o",
        str(out),
    ]


def image_path(program: Program, out_dir: Path) -> Path:
    """Where the image of these exact inputs lives (it may not be built yet)."""
    digest = hashlib.sha256()
    cc = find_compiler()
    digest.update(repr((cc.command, cc.version, _command(program, Path("-")))).encode())
    for path in _inputs(program):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return out_dir / f"{program.name}-{digest.hexdigest()[:16]}.elf"


def build(program: Program, out_dir: Path = DEFAULT_OUT) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    image = image_path(program, out_dir)
    if image.exists():
        return image
    tmp = image.with_suffix(f".{os.getpid()}.tmp")
    proc = subprocess.run(
        _command(program, tmp), capture_output=True, text=True, check=False, timeout=300
    )
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"building {program.name} failed:\n{proc.stderr}{proc.stdout}")
    tmp.replace(image)
    return image


def build_all(names: list[str] | None = None, out_dir: Path = DEFAULT_OUT) -> dict[str, Path]:
    """Builds the named programs (all by default) in parallel; returns name -> image."""
    programs = [BY_NAME[n] for n in names] if names else list(PROGRAMS)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        images = list(pool.map(lambda p: build(p, out_dir), programs))
    return {p.name: image for p, image in zip(programs, images, strict=True)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("programs", nargs="*", choices=[[], *BY_NAME], metavar="PROGRAM")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="image directory")
    args = parser.parse_args(argv)
    try:
        images = build_all(args.programs or None, args.out)
    except BuildError as e:
        print(e, file=sys.stderr)
        return 1
    for name, image in images.items():
        print(f"{name:16} {image}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
