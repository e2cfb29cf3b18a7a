"""Finds a RISC-V C compiler and knows the flags each kind wants.

The default is zig's clang from the `ziglang` PyPI package; RISCV_CC (or --cc) names another
clang or a riscv64 gcc, as a command line, e.g. `RISCV_CC="clang"` or
`RISCV_CC=riscv64-unknown-elf-gcc`.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache

ZIGLANG_VERSION = "0.17.1"  # the version tested; pinned in pyproject.toml

# rv64gc, code anywhere in the 2 GiB around 0 (RAM is at 0x8000_0000: medlow cannot reach it).
_COMMON = [
    "-mcmodel=medany",
    "-ffreestanding",
    "-fno-builtin",
    "-nostdlib",
    "-fno-asynchronous-unwind-tables",
    "-fno-pic",
    "-g",
    "-O2",
    "-Wall",
    "-Wextra",
    "-Werror",
]
_TARGET = {
    "zig": ["-target", "riscv64-freestanding-none", "-mcpu=generic_rv64+m+a+f+d+c"],
    "clang": ["--target=riscv64-unknown-elf", "-march=rv64gc", "-mabi=lp64d"],
    "gcc": ["-march=rv64gc_zicsr_zifencei", "-mabi=lp64d", "-static"],
}


class CompilerMissing(Exception):
    """No usable RISC-V compiler."""


@dataclass(frozen=True)
class Compiler:
    command: tuple[str, ...]
    kind: str  # zig | clang | gcc
    version: str

    def flags(self) -> list[str]:
        return [*_TARGET[self.kind], *_COMMON]


def _identify(command: tuple[str, ...], source: str = "RISCV_CC") -> Compiler:
    """What `command` is; `source` is where the user named it (--cc or RISCV_CC), for errors."""
    try:
        out = subprocess.run(
            [*command, "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CompilerMissing(
            f"the RISC-V compiler {shlex.join(command)!r} does not run ({e}); "
            f"install one with `pip install ziglang=={ZIGLANG_VERSION}` or fix {source}"
        ) from None
    text = (out.stdout + out.stderr).strip()
    first = text.splitlines()[0] if text else ""
    if "ziglang" in command or (command and os.path.basename(command[0]).startswith("zig")):
        kind = "zig"
    elif "clang" in text:
        kind = "clang"
    elif "gcc" in text.lower() or "GCC" in text:
        kind = "gcc"
    else:
        raise CompilerMissing(
            f"cannot tell what compiler {shlex.join(command)!r} is (it said {first!r}); "
            f"set {source} to a clang or a riscv64 gcc"
        )
    if out.returncode != 0:
        raise CompilerMissing(f"{shlex.join(command)} --version failed: {first}")
    return Compiler(command, kind, first)


@cache
def find_compiler(override: str | None = None) -> Compiler:
    """The compiler to use: the override (the toolchain's --cc), else $RISCV_CC, else ziglang."""
    spec = override or os.environ.get("RISCV_CC")
    if spec:
        source = "--cc" if override else "RISCV_CC"
        command = tuple(shlex.split(spec))
        if not command or not shutil.which(command[0]):
            fix = {
                "--cc": "leave it out to use $RISCV_CC or ziglang",
                "RISCV_CC": "unset it to use ziglang",
            }
            raise CompilerMissing(
                f"{source} names {command[0] if command else spec!r}, which is not on PATH; "
                f"{fix[source]} (`pip install ziglang=={ZIGLANG_VERSION}`)"
            )
        return _identify(command, source)
    if importlib.util.find_spec("ziglang") is None:
        raise CompilerMissing(
            "no RISC-V C compiler found: run "
            f"`pip install ziglang=={ZIGLANG_VERSION}` (or set RISCV_CC to a riscv64 clang or gcc)"
        )
    return _identify((sys.executable, "-m", "ziglang", "cc"))
