"""Builds the stand-in SBI firmware (stub.S) with the project's RISC-V compiler.

Images are named by a hash of their inputs and macros and go to build/sbi-stub/ under the
checkout (ignored by git), so an unchanged stub is not rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from toolchain.compiler import find_compiler  # noqa: E402

CONTRACT = ROOT / "guest" / "include"
OUT = ROOT / "build" / "sbi-stub"


def build_stub(**defines: int) -> Path:
    """The stub with STUB_<NAME>=value macros, e.g. build_stub(SRST=1, DENY_FINISHER=1)."""
    cc = find_compiler()
    macros = [f"-DSTUB_{k}={v}" for k, v in sorted(defines.items())]
    sources = [HERE / "stub.S", HERE / "link.ld", CONTRACT / "contract.h"]
    digest = hashlib.sha256(repr((cc.command, cc.version, macros)).encode())
    for path in sources:
        digest.update(path.read_bytes())
    OUT.mkdir(parents=True, exist_ok=True)
    image = OUT / f"stub-{digest.hexdigest()[:16]}.elf"
    if image.exists():
        return image
    tmp = image.with_suffix(f".{os.getpid()}.tmp")
    cmd = [*cc.command, *cc.flags(), f"-I{CONTRACT}", *macros, "-T", str(HERE / "link.ld")]
    cmd += [str(HERE / "stub.S"), "-o", str(tmp)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"building the SBI stub failed:\n{proc.stderr}")
    tmp.replace(image)
    return image
