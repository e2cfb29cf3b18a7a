"""A hart's registers as GDB numbers them, and the target description that tells GDB so.

GDB's RISC-V target knows three features by name: org.gnu.gdb.riscv.cpu (x0-x31 by their ABI
names, then pc), org.gnu.gdb.riscv.fpu (f0-f31, fflags, frm, fcsr) and org.gnu.gdb.riscv.csr;
org.gnu.gdb.riscv.virtual holds the privilege mode. Register numbers follow GDB's RISC-V
numbering: x at 0-31, pc 32, f at 33-64, a CSR at 65 + its number (so fflags, frm and fcsr are
66-68), priv at 65 + 4096. The `g` packet carries x0-x31 and pc; GDB asks for the rest one by
one (`p`).

Values come from the hart: x registers and pc through unicorn's registers, CSRs through the
CSR table as an instruction would read them (the machine's own counters, its mie, mhartid), so
GDB sees what the guest sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from unicorn import riscv_const as R

from emulator.machine.cpu import csr_read, csr_write
from emulator.machine.hart import Hart
from emulator.machine.isa import MASK64, PC, PRIV

ABI_NAMES = (
    ["zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "fp", "s1"]
    + [f"a{i}" for i in range(8)]
    + [f"s{i}" for i in range(2, 12)]
    + [f"t{i}" for i in range(3, 7)]
)
FP_NAMES = (
    [f"ft{i}" for i in range(8)]
    + ["fs0", "fs1"]
    + [f"fa{i}" for i in range(8)]
    + [f"fs{i}" for i in range(2, 12)]
    + [f"ft{i}" for i in range(8, 12)]
)
PC_REGNUM = 32
FIRST_FP = 33
FIRST_CSR = 65
PRIV_REGNUM = FIRST_CSR + 4096
G_REGISTERS = 33  # x0-x31 and pc: what a `g` packet carries
# CSRs in the csr feature (name, number): the privileged spec's M and S registers and the
# counters; the fpu's three are in that feature.
CSRS = (
    ("sstatus", 0x100), ("sie", 0x104), ("stvec", 0x105), ("scounteren", 0x106),
    ("senvcfg", 0x10A), ("sscratch", 0x140), ("sepc", 0x141), ("scause", 0x142),
    ("stval", 0x143), ("sip", 0x144), ("satp", 0x180),
    ("mstatus", 0x300), ("misa", 0x301), ("medeleg", 0x302), ("mideleg", 0x303),
    ("mie", 0x304), ("mtvec", 0x305), ("mcounteren", 0x306), ("menvcfg", 0x30A),
    ("mcountinhibit", 0x320), ("mscratch", 0x340), ("mepc", 0x341), ("mcause", 0x342),
    ("mtval", 0x343), ("mip", 0x344), ("pmpcfg0", 0x3A0), ("pmpcfg2", 0x3A2),
    *((f"pmpaddr{i}", 0x3B0 + i) for i in range(16)),
    ("tselect", 0x7A0), ("tdata1", 0x7A1), ("tdata2", 0x7A2),
    ("mcycle", 0xB00), ("minstret", 0xB02), ("cycle", 0xC00), ("time", 0xC01),
    ("instret", 0xC02), ("mvendorid", 0xF11), ("marchid", 0xF12), ("mimpid", 0xF13),
    ("mhartid", 0xF14),
)  # fmt: skip
FP_CSRS = (("fflags", 1, 32), ("frm", 2, 32), ("fcsr", 3, 32))


@dataclass(frozen=True)
class Register:
    name: str
    number: int  # GDB's
    bits: int
    kind: str  # gdb type
    feature: str


@cache
def registers() -> tuple[Register, ...]:
    """Every register GDB is told about, in number order."""
    cpu, fpu, csr = "org.gnu.gdb.riscv.cpu", "org.gnu.gdb.riscv.fpu", "org.gnu.gdb.riscv.csr"
    out = []
    for i, name in enumerate(ABI_NAMES):
        kind = "code_ptr" if name == "ra" else "data_ptr" if name in ("sp", "gp", "tp") else "int"
        out.append(Register(name, i, 64, kind, cpu))
    out.append(Register("pc", PC_REGNUM, 64, "code_ptr", cpu))
    for i, name in enumerate(FP_NAMES):
        out.append(Register(name, FIRST_FP + i, 64, "ieee_double", fpu))
    for name, number, bits in FP_CSRS:
        out.append(Register(name, FIRST_CSR + number, bits, "int", fpu))
    for name, number in CSRS:
        out.append(Register(name, FIRST_CSR + number, 64, "int", csr))
    out.append(Register("priv", PRIV_REGNUM, 8, "int", "org.gnu.gdb.riscv.virtual"))
    return tuple(out)


@cache
def by_number() -> dict[int, Register]:
    return {r.number: r for r in registers()}


@cache
def target_xml() -> bytes:
    """The target description GDB reads with qXfer:features:read:target.xml."""
    lines = [
        '<?xml version="1.0"?>',
        '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
        '<target version="1.0">',
        "<architecture>riscv:rv64</architecture>",
    ]
    feature = None
    for r in registers():
        if r.feature != feature:
            if feature is not None:
                lines.append("</feature>")
            feature = r.feature
            lines.append(f'<feature name="{feature}">')
        lines.append(
            f'<reg name="{r.name}" bitsize="{r.bits}" type="{r.kind}" regnum="{r.number}"/>'
        )
    lines += ["</feature>", "</target>"]
    return ("\n".join(lines) + "\n").encode()


def read(hart: Hart, number: int) -> int | None:
    """Register `number` of `hart`, None if it has no value (or is unknown)."""
    if number < 32:
        return hart.x(number)
    if number == PC_REGNUM:
        return hart.read_reg(PC)
    if FIRST_FP <= number < FIRST_FP + 32:
        return hart.read_reg(R.UC_RISCV_REG_F0 + number - FIRST_FP)
    if number == PRIV_REGNUM:
        return hart.priv
    if number in by_number():
        return csr_read(hart.cpu.env, number - FIRST_CSR)
    return None


def write(hart: Hart, number: int, value: int) -> bool:
    """Write register `number` of `hart`; False if it cannot be written."""
    value &= MASK64
    if number < 32:
        hart.set_x(number, value)
    elif number == PC_REGNUM:
        hart.set_pc(value)
    elif FIRST_FP <= number < FIRST_FP + 32:
        hart.write_reg(R.UC_RISCV_REG_F0 + number - FIRST_FP, value)
    elif number == PRIV_REGNUM:
        if value not in (0, 1, 3):
            return False
        hart.write_reg(PRIV, value)
    elif number in by_number():
        return csr_write(hart.cpu.env, number - FIRST_CSR, value)
    else:
        return False
    return True


def encode(register: Register, value: int | None) -> bytes:
    """Target-endian (little) hex, or x's for a value the target does not have."""
    size = register.bits // 8
    if value is None:
        return b"xx" * size
    return (value & ((1 << register.bits) - 1)).to_bytes(size, "little").hex().encode()


def decode(register: Register, text: bytes) -> int:
    data = bytes.fromhex(text.decode())
    if len(data) != register.bits // 8:
        raise ValueError(f"{register.name} has {register.bits // 8} bytes, got {len(data)}")
    return int.from_bytes(data, "little")
