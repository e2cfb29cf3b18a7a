"""Decoding RV64 integer loads and stores (base and compressed), for the host to execute them.

Probes execute the store after a probed call's return (probes.py); pct's `sync` unit executes
the plain loads and stores of synchronization words (syncsites.py). Floating-point loads and
stores are not decoded (None).
"""

from __future__ import annotations

_M64 = (1 << 64) - 1


def _sext(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def length_of(word: int) -> int:
    return 4 if word & 3 == 3 else 2


def _cl_cs(word: int, read) -> tuple[int, int, int]:
    """c.lw/c.ld/c.sw/c.sd (formats CL and CS share their fields): (address, width, the
    register rd' or rs2')."""
    if word & 0x2000:  # .d
        width, off = 8, ((word >> 10) & 7) << 3 | ((word >> 5) & 3) << 6
    else:
        width, off = 4, ((word >> 10) & 7) << 3 | ((word >> 6) & 1) << 2 | ((word >> 5) & 1) << 6
    return (read(8 + ((word >> 7) & 7)) + off) & _M64, width, 8 + ((word >> 2) & 7)


def store_operands(word: int, length: int, read) -> tuple[int, int, int] | None:
    """(address, width, value) of a store (sb/sh/sw/sd, c.sw/c.sd, c.swsp/c.sdsp), else None."""
    if length == 4:
        if word & 0x7F != 0x23 or (word >> 12) & 7 > 3:
            return None
        imm = _sext(((word >> 25) << 5) | ((word >> 7) & 31), 12)
        rs1, rs2 = (word >> 15) & 31, (word >> 20) & 31
        return (read(rs1) + imm) & _M64, 1 << ((word >> 12) & 7), read(rs2)
    quadrant, funct3 = word & 3, (word >> 13) & 7
    if quadrant == 0 and funct3 in (6, 7):  # c.sw, c.sd
        address, width, rs2 = _cl_cs(word, read)
        return address, width, read(rs2)
    if quadrant == 2 and funct3 in (6, 7):  # c.swsp, c.sdsp
        rs2 = (word >> 2) & 31
        if funct3 == 6:
            off = ((word >> 9) & 15) << 2 | ((word >> 7) & 3) << 6
        else:
            off = ((word >> 10) & 7) << 3 | ((word >> 7) & 7) << 6
        return (read(2) + off) & _M64, 4 if funct3 == 6 else 8, read(rs2)
    return None


def load_operands(word: int, length: int, read) -> tuple[int, int, bool, int] | None:
    """(address, width, sign-extended, rd) of a load (lb/lh/lw/ld/lbu/lhu/lwu, c.lw/c.ld,
    c.lwsp/c.ldsp), else None."""
    if length == 4:
        funct3 = (word >> 12) & 7
        if word & 0x7F != 0x03 or funct3 == 7:
            return None
        address = (read((word >> 15) & 31) + _sext(word >> 20, 12)) & _M64
        return address, 1 << (funct3 & 3), funct3 < 4, (word >> 7) & 31
    quadrant, funct3 = word & 3, (word >> 13) & 7
    if quadrant == 0 and funct3 in (2, 3):  # c.lw, c.ld
        address, width, rd = _cl_cs(word, read)
        return address, width, True, rd
    if quadrant == 2 and funct3 in (2, 3) and (word >> 7) & 31:  # c.lwsp, c.ldsp
        rd = (word >> 7) & 31
        if funct3 == 2:
            off = ((word >> 4) & 7) << 2 | ((word >> 12) & 1) << 5 | ((word >> 2) & 3) << 6
        else:
            off = ((word >> 5) & 3) << 3 | ((word >> 12) & 1) << 5 | ((word >> 2) & 7) << 6
        return (read(2) + off) & _M64, 4 if funct3 == 2 else 8, True, rd
    return None


def is_plain_access(word: int) -> bool:
    """Whether `word` is an integer load or store these functions decode."""
    length = length_of(word)
    zero = lambda _: 0  # noqa: E731
    return (load_operands(word, length, zero) or store_operands(word, length, zero)) is not None
