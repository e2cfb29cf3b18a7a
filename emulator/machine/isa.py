"""RISC-V ISA facts the machine needs, in one place: masks and sign extension, unicorn's register
numbering, CSR numbers and bits, trap causes, and decoders for the instructions the machine (or
an instrument) executes itself: loads and stores, LR/SC and AMOs, fences, CSR writes, and the
register-only and pc-relative instructions a function probe displaces.

Everything here is a pure function of instruction words and register values; nothing reaches a
hart or a machine.
"""

from __future__ import annotations

from collections.abc import Callable

from unicorn import riscv_const as R

from guest.contract import C

MASK64 = (1 << 64) - 1

ReadReg = Callable[[int], int]  # x register number -> value (x0 reads 0)
WriteReg = Callable[[int, int], None]


def sext(value: int, bits: int) -> int:
    """`value`'s low `bits` bits as a signed integer."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def as_register(value: int, width: int) -> int:
    """A `width`-byte value loaded into a 64-bit register: .w results are sign-extended."""
    return sext(value, 8 * width) & MASK64


def length_of(word: int) -> int:
    """Bytes of the instruction whose first halfword is in `word` (2: compressed, else 4)."""
    return 4 if word & 3 == 3 else 2


# ---- registers (unicorn's numbering) -------------------------------------------------------------

X = [getattr(R, f"UC_RISCV_REG_X{i}") for i in range(32)]  # x0..x31
A = X[10:18]  # a0..a7
PC, RA, SP, T6 = R.UC_RISCV_REG_PC, X[1], X[2], X[31]
PRIV = R.UC_RISCV_REG_PRIV
ABI_NAMES = ["zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3",
             "a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11",
             "t3", "t4", "t5", "t6"]  # fmt: skip

# ---- CSRs and their bits -------------------------------------------------------------------------

MSTATUS_SIE, MSTATUS_MIE = 1 << 1, 1 << 3
MSTATUS_SPIE, MSTATUS_MPIE = 1 << 5, 1 << 7
MSTATUS_SPP, MSTATUS_MPP = 1 << 8, 3 << 11
MIP_SSIP, MIP_MSIP = 1 << 1, 1 << C.IRQ_M_SOFT
MIP_STIP, MIP_MTIP = 1 << 5, 1 << C.IRQ_M_TIMER
MIP_SEIP, MIP_MEIP = 1 << 9, 1 << 11

# ---- trap causes ---------------------------------------------------------------------------------

CAUSE_NAMES = {
    C.CAUSE_MISALIGNED_FETCH: "misaligned instruction fetch",
    C.CAUSE_FETCH_ACCESS: "instruction access fault",
    C.CAUSE_ILLEGAL_INSTRUCTION: "illegal instruction",
    C.CAUSE_BREAKPOINT: "breakpoint",
    4: "misaligned load",
    C.CAUSE_LOAD_ACCESS: "load access fault",
    6: "misaligned store",
    C.CAUSE_STORE_ACCESS: "store access fault",
    C.CAUSE_USER_ECALL: "ecall from U-mode",
    9: "ecall from S-mode",
    C.CAUSE_MACHINE_ECALL: "ecall from M-mode",
}


def exception_text(cause: int, tval: int) -> str:
    """`illegal instruction 0xc0001073`, `load access fault`, ...: an exception in words."""
    what = CAUSE_NAMES.get(cause, f"exception {cause}")
    return f"{what} {tval:#x}" if cause == C.CAUSE_ILLEGAL_INSTRUCTION else what


# ---- instruction classes -------------------------------------------------------------------------

WFI = 0x10500073
EBREAK, C_EBREAK = 0x00100073, 0x9002


def is_lrsc(word: int) -> bool:
    return word & 0x7F == 0x2F and (word >> 27) in (2, 3) and (word >> 12) & 7 in (2, 3)


def is_amo(word: int) -> bool:
    return word & 0x7F == 0x2F and (word >> 27) not in (2, 3) and (word >> 12) & 7 in (2, 3)


def is_atomic(word: int) -> bool:
    """An LR, SC or AMO (the A extension)."""
    return word & 0x7F == 0x2F


def is_fence(word: int) -> bool:
    return word & 0x707F == 0x000F  # FENCE (not FENCE.I, funct3 1)


def is_write_fence(word: int) -> bool:
    """A fence that orders earlier writes (predecessor set has w): a release store's fence."""
    return is_fence(word) and bool(word & (1 << 24))


# ---- the A extension: LR/SC and AMOs -------------------------------------------------------------

# AMO funct5 -> name (Zaamo).
AMO_OPS = {
    0b00001: "swap",
    0b00000: "add",
    0b00100: "xor",
    0b01100: "and",
    0b01000: "or",
    0b10000: "min",
    0b10100: "max",
    0b11000: "minu",
    0b11100: "maxu",
}


def atomic_fields(word: int) -> tuple[int, int, int, int, int]:
    """(funct5, width in bytes, rd, rs1, rs2) of an LR, SC or AMO."""
    return (
        word >> 27,
        8 if (word >> 12) & 7 == 3 else 4,
        (word >> 7) & 31,
        (word >> 15) & 31,
        (word >> 20) & 31,
    )


def is_sc(word: int) -> bool:
    return word >> 27 == 3


def amo_result(op: str, old: int, operand: int, width: int) -> int:
    """The value an AMO writes, as an unsigned `width`-byte integer."""
    bits = 8 * width
    mask = (1 << bits) - 1
    old, operand = old & mask, operand & mask
    if op == "swap":
        new = operand
    elif op == "add":
        new = old + operand
    elif op == "xor":
        new = old ^ operand
    elif op == "and":
        new = old & operand
    elif op == "or":
        new = old | operand
    elif op in ("min", "max"):
        pick = min if op == "min" else max
        new = pick(sext(old, bits), sext(operand, bits))
    else:
        new = (min if op == "minu" else max)(old, operand)
    return new & mask


def atomic_name(word: int) -> str:
    """`amoadd.w`, `lr.d`, `sc.w`, `fence`: the mnemonic of a trapped atomic site."""
    if is_fence(word):
        return "fence"
    width = "d" if (word >> 12) & 7 == 3 else "w"
    funct5 = word >> 27
    if funct5 in (2, 3):
        return f"{'sc' if funct5 == 3 else 'lr'}.{width}"
    return f"amo{AMO_OPS[funct5]}.{width}"


# ---- loads and stores ----------------------------------------------------------------------------


def _cl_cs(word: int, read: ReadReg) -> tuple[int, int, int]:
    """c.lw/c.ld/c.sw/c.sd (formats CL and CS share their fields): (address, width, the
    register rd' or rs2')."""
    if word & 0x2000:  # .d
        width, off = 8, ((word >> 10) & 7) << 3 | ((word >> 5) & 3) << 6
    else:
        width, off = 4, ((word >> 10) & 7) << 3 | ((word >> 6) & 1) << 2 | ((word >> 5) & 1) << 6
    return (read(8 + ((word >> 7) & 7)) + off) & MASK64, width, 8 + ((word >> 2) & 7)


def store_operands(word: int, read: ReadReg) -> tuple[int, int, int] | None:
    """(address, width, value) of a store (sb/sh/sw/sd, c.sw/c.sd, c.swsp/c.sdsp), else None."""
    if length_of(word) == 4:
        if word & 0x7F != 0x23 or (word >> 12) & 7 > 3:
            return None
        imm = sext(((word >> 25) << 5) | ((word >> 7) & 31), 12)
        rs1, rs2 = (word >> 15) & 31, (word >> 20) & 31
        return (read(rs1) + imm) & MASK64, 1 << ((word >> 12) & 7), read(rs2)
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
        return (read(2) + off) & MASK64, 4 if funct3 == 6 else 8, read(rs2)
    return None


def load_operands(word: int, read: ReadReg) -> tuple[int, int, bool, int] | None:
    """(address, width, sign-extended, rd) of a load (lb/lh/lw/ld/lbu/lhu/lwu, c.lw/c.ld,
    c.lwsp/c.ldsp), else None."""
    if length_of(word) == 4:
        funct3 = (word >> 12) & 7
        if word & 0x7F != 0x03 or funct3 == 7:
            return None
        address = (read((word >> 15) & 31) + sext(word >> 20, 12)) & MASK64
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
        return (read(2) + off) & MASK64, 4 if funct3 == 2 else 8, True, rd
    return None


def _zero(_: int) -> int:
    return 0


def is_plain_access(word: int) -> bool:
    """Whether `word` is an integer load or store these functions decode."""
    return (load_operands(word, _zero) or store_operands(word, _zero)) is not None


def store_after_fence(word: int, read: ReadReg) -> tuple[int, int] | None:
    """(address, value) when `word` (the instruction after a fence) is sw/sd/c.sw/c.sd: the
    store half of a C11 release store (`fence rw,w; sw`)."""
    found = store_operands(word, read)
    if found is None or found[1] < 4 or (length_of(word) == 2 and word & 3 != 0):
        return None  # only word and doubleword stores, and not the sp-relative c.swsp/c.sdsp
    return found[0], found[2]


# ---- executing a probe's displaced instruction ---------------------------------------------------


def is_control_flow(word: int) -> bool:
    """Whether the instruction depends on or writes its own pc (so it cannot run elsewhere):
    auipc, jal, jalr, branches, c.j, c.beqz, c.bnez, c.jr, c.jalr."""
    if length_of(word) == 4:
        return word & 0x7F in (0x17, 0x6F, 0x67, 0x63)
    quadrant, funct3 = word & 3, (word >> 13) & 7
    if quadrant == 1:
        return funct3 in (5, 6, 7)
    if quadrant == 2 and funct3 == 4:
        rs1, rs2 = (word >> 7) & 31, (word >> 2) & 31
        return rs2 == 0 and rs1 != 0
    return False


def is_simple_alu(word: int) -> bool:
    """addi, c.addi, c.addi16sp, c.li, c.mv, c.add: register-only."""
    if length_of(word) == 4:
        return word & 0x707F == 0x0013  # addi
    quadrant, funct3 = word & 3, (word >> 13) & 7
    rd, rs2 = (word >> 7) & 31, (word >> 2) & 31
    if quadrant == 1:
        return funct3 in (0, 2) or (funct3 == 3 and rd == 2)
    return quadrant == 2 and funct3 == 4 and rs2 != 0 and rd != 0


def execute_alu(word: int, pc: int, read: ReadReg, write: WriteReg) -> int:
    """Execute one of is_simple_alu's instructions; returns the next pc."""
    if length_of(word) == 4:
        rd, rs1 = (word >> 7) & 31, (word >> 15) & 31
        if rd:
            write(rd, read(rs1) + sext(word >> 20, 12))
        return pc + 4
    quadrant, funct3 = word & 3, (word >> 13) & 7
    rd, rs2 = (word >> 7) & 31, (word >> 2) & 31
    imm6 = sext(((word >> 12) & 1) << 5 | rs2, 6)
    if quadrant == 1 and funct3 == 0:  # c.addi (c.nop when rd = 0)
        if rd:
            write(rd, read(rd) + imm6)
    elif quadrant == 1 and funct3 == 2:  # c.li
        if rd:
            write(rd, imm6)
    elif quadrant == 1:  # c.addi16sp
        imm = (
            ((word >> 12) & 1) << 9
            | ((word >> 6) & 1) << 4
            | ((word >> 5) & 1) << 6
            | ((word >> 3) & 3) << 7
            | ((word >> 2) & 1) << 5
        )
        write(2, read(2) + sext(imm, 10))
    elif (word >> 12) & 1:  # c.add
        write(rd, read(rd) + read(rs2))
    else:  # c.mv
        write(rd, read(rs2))
    return pc + 2


def execute_control_flow(word: int, pc: int, read: ReadReg, write: WriteReg) -> int:
    """Execute a pc-relative or jump instruction at `pc`; returns the next pc."""
    if length_of(word) == 4:
        opcode, rd = word & 0x7F, (word >> 7) & 31
        rs1, rs2 = (word >> 15) & 31, (word >> 20) & 31
        if opcode == 0x17:  # auipc
            if rd:
                write(rd, pc + sext(word & 0xFFFFF000, 32))
            return pc + 4
        if opcode == 0x6F:  # jal
            imm = (
                ((word >> 31) & 1) << 20
                | ((word >> 12) & 0xFF) << 12
                | ((word >> 20) & 1) << 11
                | ((word >> 21) & 0x3FF) << 1
            )
            if rd:
                write(rd, pc + 4)
            return (pc + sext(imm, 21)) & MASK64
        if opcode == 0x67:  # jalr
            target = (read(rs1) + sext(word >> 20, 12)) & MASK64 & ~1
            if rd:
                write(rd, pc + 4)
            return target
        imm = (
            ((word >> 31) & 1) << 12
            | ((word >> 7) & 1) << 11
            | ((word >> 25) & 0x3F) << 5
            | ((word >> 8) & 0xF) << 1
        )
        a, b = read(rs1), read(rs2)
        funct3 = (word >> 12) & 7
        taken = {
            0: a == b,
            1: a != b,
            4: sext(a, 64) < sext(b, 64),
            5: sext(a, 64) >= sext(b, 64),
            6: a < b,
            7: a >= b,
        }.get(funct3)
        if taken is None:
            raise ValueError(f"undecodable branch {word:#x} at {pc:#x}")
        return (pc + sext(imm, 13)) & MASK64 if taken else pc + 4
    quadrant, funct3 = word & 3, (word >> 13) & 7
    if quadrant == 1 and funct3 == 5:  # c.j
        b = word >> 2
        imm = (
            ((b >> 10) & 1) << 11
            | ((b >> 9) & 1) << 4
            | ((b >> 7) & 3) << 8
            | ((b >> 6) & 1) << 10
            | ((b >> 5) & 1) << 6
            | ((b >> 4) & 1) << 7
            | ((b >> 1) & 7) << 1
            | (b & 1) << 5
        )
        return (pc + sext(imm, 12)) & MASK64
    if quadrant == 1:  # c.beqz / c.bnez
        rs1 = 8 + ((word >> 7) & 7)
        imm = (
            ((word >> 12) & 1) << 8
            | ((word >> 10) & 3) << 3
            | ((word >> 5) & 3) << 6
            | ((word >> 3) & 3) << 1
            | ((word >> 2) & 1) << 5
        )
        zero = read(rs1) == 0
        taken = zero if funct3 == 6 else not zero
        return (pc + sext(imm, 9)) & MASK64 if taken else pc + 2
    rs1 = (word >> 7) & 31  # c.jr / c.jalr
    target = read(rs1) & ~1
    if (word >> 12) & 1:
        write(1, pc + 2)
    return target
