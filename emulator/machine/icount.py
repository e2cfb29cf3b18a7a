"""Exact instruction positions inside a quantum, from unicorn's own counter.

emu_start(count=N) makes unicorn count instructions in `uc_struct.emu_counter` (a private
field the API does not expose). An event seen in a hook mid-quantum needs that count to be
timed exactly, so this module finds the field's offset once per process, by running a known
instruction sequence and looking for the known count, and then reads it through ctypes.
unicorn is pinned (pyproject.toml); if the probe ever fails, the error says so.
"""

from __future__ import annotations

import ctypes
import struct
from functools import cache

from unicorn import UC_ARCH_RISCV, UC_HOOK_INTR, UC_MODE_RISCV64, Uc
from unicorn import riscv_const as R

_SCAN_BYTES = 0x4000
_NOP, _ILLEGAL = 0x00000013, 0x00000000


def _probe(trap_after: int, count: int) -> bytes:
    """uc_struct bytes seen at the last trap of a loop of `trap_after` nops and one illegal."""
    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
    uc.mem_map(0x1000, 0x1000)
    uc.mem_write(0x1000, struct.pack("<I", _NOP) * trap_after + struct.pack("<I", _ILLEGAL))
    seen: list[bytes] = []

    def on_trap(uc: Uc, intno: int, _: object) -> None:
        seen.append(ctypes.string_at(uc._uch, _SCAN_BYTES))
        uc.reg_write(R.UC_RISCV_REG_PC, 0x1000)

    uc.hook_add(UC_HOOK_INTR, on_trap)
    uc.emu_start(0x1000, 0, 0, count)
    return seen[-1]


@cache
def counter_offset() -> int:
    """Offset of emu_counter in uc_struct (0x558 in unicorn 2.1.4 on x86-64)."""
    runs = [(10, 500), (37, 600)]
    snapshots = [_probe(k, n) for k, n in runs]
    # At the last trap, the counter includes the trapping instruction.
    expected = [n - n % (k + 1) for k, n in runs]
    for offset in range(0, _SCAN_BYTES - 8, 8):
        values = [struct.unpack_from("<Q", s, offset)[0] for s in snapshots]
        if values == expected:
            return offset
    raise RuntimeError(
        "cannot find unicorn's instruction counter: exact event times need "
        "unicorn 2.1.4 (pip install unicorn==2.1.4)"
    )


def counter(uc: Uc) -> ctypes.c_uint64:
    """A live view of `uc`'s instruction counter for the current emu_start."""
    return ctypes.c_uint64.from_address(
        ctypes.cast(uc._uch, ctypes.c_void_p).value + counter_offset()
    )
