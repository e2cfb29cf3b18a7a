"""Function probes: run host code when a guest function is entered and when it returns.

No code hook is involved (one would halve unicorn's speed everywhere, see hart.py). Instead:

* The first instruction of each probed function is replaced in RAM by an illegal instruction
  of the same length, so entering the function lands in the hart's INTR hook.
* The entry callback runs, and if it wants the return, the hart's `ra` is swapped for the
  address of a return trampoline in the host ROM (an illegal instruction too); the real
  return address goes on a per-hart shadow stack. Calls nest and tail calls work: a tail call
  inherits the trampoline as its return address and the trampoline simply fires twice.
* The displaced first instruction is then executed: pc-relative ones (auipc, jal, jalr,
  branches and their compressed forms) and the register-only ones compilers open functions
  with (addi, c.addi, c.addi16sp, c.li, c.mv, c.add) are emulated here; any other runs "out of
  line" from a per-probe slot in the host ROM (the instruction, then an illegal one that sends
  the hart on to entry + length), as kprobes do.

Every illegal instruction the hart passes for a probe (an entry whose displaced instruction
runs out of line, a slot's exit, the trampoline) counts in unicorn's instruction count though
the guest never executed it. Each is taken off the count at once (Hart.uncount), so unicorn
runs one guest instruction more in the same emu_start: a probed run follows the same schedule
as an unprobed one, instruction for instruction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from unicorn import riscv_const as R

from emulator.contract import C
from emulator.errors import BadInput

if TYPE_CHECKING:
    from emulator.hart import Hart

_X = [getattr(R, f"UC_RISCV_REG_X{i}") for i in range(32)]
_RA, _PC = R.UC_RISCV_REG_RA, R.UC_RISCV_REG_PC
_MASK = (1 << 64) - 1

# Host ROM layout (after the idle loop at HOST_ROM_BASE, see hart.py).
TRAMPOLINE = C.HOST_ROM_BASE + 0x10
SLOTS = C.HOST_ROM_BASE + 0x20
SLOT_SIZE = 8  # the displaced instruction (2 or 4 bytes), then an illegal word
MAX_PROBES = (C.HOST_ROM_SIZE - (SLOTS - C.HOST_ROM_BASE)) // SLOT_SIZE


@dataclass(slots=True)
class Frame:
    """A probed call in progress on one hart."""

    probe: Probe
    return_address: int
    data: object  # whatever the entry callback returned


@dataclass
class Probe:
    address: int
    name: str
    # on_entry(hart) -> data, or None to not watch the return; on_return(hart, frame).
    on_entry: Callable[[Hart], object]
    on_return: Callable[[Hart, Frame], None] | None = None
    word: int = 0  # the displaced instruction
    length: int = 4
    slot: int = 0  # its out-of-line slot in the host ROM (0: emulated here)


@dataclass
class Probes:
    """The probes of one machine, by entry address and by ROM address."""

    by_entry: dict[int, Probe] = field(default_factory=dict)
    slot_exits: dict[int, Probe] = field(default_factory=dict)  # ROM address -> probe

    def add(self, probe: Probe, word: int) -> None:
        old = self.by_entry.get(probe.address)
        if old is not None:  # two users of one function: both entry callbacks run
            if old.on_return is not None and probe.on_return is not None:
                raise BadInput(f"two return probes on {probe.name} at {probe.address:#x}")
            first, second = old.on_entry, probe.on_entry

            def both(hart: Hart, first=first, second=second) -> object:
                data = second(hart)
                return first(hart) if data is None else data

            old.on_entry = both
            old.on_return = old.on_return or probe.on_return
            return
        probe.word = word
        probe.length = 4 if word & 3 == 3 else 2
        if not emulated(word, probe.length):
            index = sum(1 for p in self.by_entry.values() if p.slot)
            if index >= MAX_PROBES:
                raise BadInput(f"more than {MAX_PROBES} probed functions")
            probe.slot = SLOTS + index * SLOT_SIZE
            self.slot_exits[probe.slot + probe.length] = probe
        self.by_entry[probe.address] = probe

    def rom_image(self) -> list[tuple[int, bytes]]:
        """(address, bytes) to write into every hart's host ROM."""
        out = [(TRAMPOLINE, b"\0\0\0\0")]
        for p in self.by_entry.values():
            if p.slot:
                out.append((p.slot, p.word.to_bytes(p.length, "little") + b"\0\0\0\0"))
        return out


# ---- executing the displaced instruction --------------------------------------------------


def _is_control_flow(word: int, length: int) -> bool:
    """Whether the instruction depends on or writes its own pc (so it cannot run elsewhere)."""
    if length == 4:
        return word & 0x7F in (0x17, 0x6F, 0x67, 0x63)  # auipc jal jalr branch
    quadrant, funct3 = word & 3, (word >> 13) & 7
    if quadrant == 1:
        return funct3 in (5, 6, 7)  # c.j c.beqz c.bnez
    if quadrant == 2 and funct3 == 4:
        rs1, rs2 = (word >> 7) & 31, (word >> 2) & 31
        return rs2 == 0 and rs1 != 0  # c.jr c.jalr
    return False


def _simple_alu(word: int, length: int) -> bool:
    """addi, c.addi, c.addi16sp, c.li, c.mv, c.add: register-only, emulated here."""
    if length == 4:
        return word & 0x707F == 0x0013  # addi
    quadrant, funct3 = word & 3, (word >> 13) & 7
    rd, rs2 = (word >> 7) & 31, (word >> 2) & 31
    if quadrant == 1:
        return funct3 in (0, 2) or (funct3 == 3 and rd == 2)
    return quadrant == 2 and funct3 == 4 and rs2 != 0 and rd != 0


def emulated(word: int, length: int) -> bool:
    """Whether a displaced instruction is executed here rather than out of line."""
    return _is_control_flow(word, length) or _simple_alu(word, length)


def emulate_alu(word: int, length: int, pc: int, read, write) -> int:
    """Execute one of _simple_alu's instructions; returns the next pc."""
    if length == 4:
        rd, rs1 = (word >> 7) & 31, (word >> 15) & 31
        if rd:
            write(rd, read(rs1) + _sext(word >> 20, 12))
        return pc + 4
    quadrant, funct3 = word & 3, (word >> 13) & 7
    rd, rs2 = (word >> 7) & 31, (word >> 2) & 31
    imm6 = _sext(((word >> 12) & 1) << 5 | rs2, 6)
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
        write(2, read(2) + _sext(imm, 10))
    elif (word >> 12) & 1:  # c.add
        write(rd, read(rd) + read(rs2))
    else:  # c.mv
        write(rd, read(rs2))
    return pc + 2


def _sext(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def emulate_control_flow(word: int, length: int, pc: int, read, write) -> int:
    """Execute a pc-relative or jump instruction at `pc` with register accessors
    read(i) / write(i, v); returns the next pc."""
    if length == 4:
        opcode, rd = word & 0x7F, (word >> 7) & 31
        rs1, rs2 = (word >> 15) & 31, (word >> 20) & 31
        if opcode == 0x17:  # auipc
            if rd:
                write(rd, pc + _sext(word & 0xFFFFF000, 32))
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
            return (pc + _sext(imm, 21)) & _MASK
        if opcode == 0x67:  # jalr
            target = (read(rs1) + _sext(word >> 20, 12)) & _MASK & ~1
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
            4: _sext(a, 64) < _sext(b, 64),
            5: _sext(a, 64) >= _sext(b, 64),
            6: a < b,
            7: a >= b,
        }.get(funct3)
        if taken is None:
            raise BadInput(f"undecodable branch {word:#x} at {pc:#x}")
        return (pc + _sext(imm, 13)) & _MASK if taken else pc + 4
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
        return (pc + _sext(imm, 12)) & _MASK
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
        return (pc + _sext(imm, 9)) & _MASK if taken else pc + 2
    rs1 = (word >> 7) & 31  # c.jr / c.jalr
    target = read(rs1) & ~1
    if (word >> 12) & 1:
        write(1, pc + 2)
    return target


def step_displaced(hart: Hart, probe: Probe) -> None:
    """Continue the hart after a probe's entry: run the displaced instruction."""
    if probe.slot:
        hart.uncount()  # the entry's trap; the slot's exit trap is taken off in on_rom_trap
        hart.write_reg(_PC, probe.slot)
        return

    def read(i: int) -> int:
        return hart.read_reg(_X[i]) if i else 0

    def write(i: int, v: int) -> None:
        hart.write_reg(_X[i], v)

    run = emulate_control_flow if _is_control_flow(probe.word, probe.length) else emulate_alu
    hart.write_reg(_PC, run(probe.word, probe.length, probe.address, read, write))


SKIP = object()  # an entry callback's answer: it has set pc itself (the call was skipped)


def on_probe_entry(hart: Hart, probe: Probe) -> None:
    data = probe.on_entry(hart)
    if data is SKIP:
        return
    if data is not None and probe.on_return is not None:
        hart.shadow.append(Frame(probe, hart.read_reg(_RA), data))
        hart.write_reg(_RA, TRAMPOLINE)
    if hart.machine.stop is None:
        step_displaced(hart, probe)


def on_rom_trap(hart: Hart, epc: int) -> bool:
    """A trap in the host ROM: the return trampoline or the end of a slot. False if neither."""
    if epc == TRAMPOLINE:
        frame = hart.shadow.pop()
        ra = frame.return_address
        hart.write_reg(_PC, ra)
        frame.probe.on_return(hart, frame)  # type: ignore[misc]
        hart.uncount()
        return True
    probe = hart.machine.probes.slot_exits.get(epc)
    if probe is None:
        return False
    hart.uncount()
    hart.write_reg(_PC, probe.address + probe.length)
    return True
