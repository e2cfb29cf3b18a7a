"""One hart: a unicorn instance over the shared RAM, with software trap entry and wfi sleep.

Unicorn has no trap vectoring (every exception lands in UC_HOOK_INTR with pc already past the
instruction), reads mhartid as 0 and stops at wfi without telling how far it got. This class
turns those into architectural behaviour while keeping the retired-instruction count exact:

* Traps are vectored inside the INTR hook (mepc, mcause, mtval, mstatus MPP/MPIE/MIE, pc =
  mtvec), without emu_stop, so the quantum goes on and its count stays whole.
* Every wfi in the image is replaced in RAM by an illegal instruction (PATCH_TRAP), so reaching
  one lands in the INTR hook, which sends the hart into an idle loop in the host ROM
  (`addi t6, t6, 1; j .-4`) for the rest of its quantum; t6 then says how many idle
  instructions ran, which are taken off the quantum. The hart sleeps at pc = wfi + 4.
  (A code hook on the wfi sites would do the same, but any user code hook halves unicorn's
  speed everywhere once emu_start counts instructions: measured, scripts/bench_machine.py.)
* lr/sc are replaced the same way and executed here against a reservation (atomics.py),
  because unicorn's own SC is value-based and succeeds after ABA.
* CSR writes that can enable an interrupt (mstatus, mie) are replaced the same way and executed
  here, so a pending interrupt is taken right after the write that enables it, not at the end
  of the quantum: guests that open a one-instruction interrupt window rely on that.
"""

from __future__ import annotations

import ctypes
import struct
from enum import IntEnum
from typing import TYPE_CHECKING

from unicorn import (
    UC_ARCH_RISCV,
    UC_ERR_FETCH_UNMAPPED,
    UC_ERR_INSN_INVALID,
    UC_HOOK_INTR,
    UC_HOOK_MEM_UNMAPPED,
    UC_MEM_FETCH_UNMAPPED,
    UC_MEM_WRITE_UNMAPPED,
    UC_MODE_RISCV64,
    UC_PROT_ALL,
    UC_PROT_EXEC,
    UC_PROT_READ,
    Uc,
    UcError,
)
from unicorn import riscv_const as R
from unicorn.unicorn_py3.unicorn import uclib

from emulator import events as ev
from emulator.atomics import AMO_OPS, amo_result, store_after_fence
from emulator.atomics import decode as decode_lrsc
from emulator.contract import C
from emulator.icount import counter
from emulator.probes import Frame, on_probe_entry, on_rom_trap
from emulator.rvmem import length_of, load_operands, store_operands
from emulator.sites import WFI

if TYPE_CHECKING:
    from emulator.machine import Machine

_uc_reg_read, _uc_reg_write = uclib.uc_reg_read, uclib.uc_reg_write

IDLE_LOOP = C.HOST_ROM_BASE
IDLE_LOOP_CODE = struct.pack("<II", 0x001F8F93, 0xFFDFF06F)  # addi t6, t6, 1; j .-4
PATCH_TRAP = 0x00000000  # what a patched site becomes in RAM: defined illegal in 16 and 32 bits
TCG_BUFFER_BYTES = 32 << 20  # per instance; unicorn's default reserves 1 GiB each

MSTATUS_MIE = 1 << 3
MSTATUS_MPIE = 1 << 7
MSTATUS_MPP = 3 << 11
MIP_MSIP = 1 << C.IRQ_M_SOFT
MIP_MTIP = 1 << C.IRQ_M_TIMER

# rd of `csrrs rd, time, x0` (rdtime), which unicorn cannot execute: the hart serves it.
_RDTIME_MASK, _RDTIME_MATCH = 0xFFFFF07F, 0xC0102073
_X = [getattr(R, f"UC_RISCV_REG_X{i}") for i in range(32)]


class HartState(IntEnum):
    RUNNING = 0
    SLEEPING = 1
    STALLED = 2  # taken off the CPU by fault injection (inject.py) for a while


class Hart:
    def __init__(self, machine: Machine, hart_id: int, ram_address: int, ram_size: int):
        self.machine = machine
        self.id = hart_id
        self.state = HartState.RUNNING
        self.instret = 0  # retired instructions, exact
        self.clock = 0  # virtual time in instructions: instret + time spent asleep
        self.timer_at = 1 << 80  # clock at which this hart's timer fires (from mtimecmp)
        self.sleep_mie = 0  # mie when it went to sleep: which interrupts can wake it
        self.last_exception: tuple[int, int, int] | None = None  # (cause, epc, tval)
        self.fault_access: tuple[int, int] | None = None  # (unicorn access type, address)
        self.reservation: int | None = None  # address reserved by the last LR (atomics.py)
        self.loads_reserved = self.sc_successes = self.sc_failures = 0
        self.reservations_dropped = 0  # held at the end of a turn past LRSC_BOUND
        self.shadow: list[Frame] = []  # probed calls in progress (probes.py)
        self._switch = False  # the current turn was ended early (request_switch)
        self.resume_at = -1  # an atomic the hart was switched away in front of (no 2nd switch)
        self.stall_left = 0  # STALLED: instructions the other harts must run first
        self._sync_seen: dict[int, bytes] = {}  # sync load site -> what it read last (_sync_step)

        uc = self.uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
        uc.ctl_set_tcg_buffer_size(TCG_BUFFER_BYTES)
        uc.mem_map_ptr(C.RAM_BASE, ram_size, UC_PROT_ALL, ram_address)
        uc.mem_map(C.HOST_ROM_BASE, C.HOST_ROM_SIZE, UC_PROT_READ | UC_PROT_EXEC)
        uc.mem_write(IDLE_LOOP, IDLE_LOOP_CODE)
        for address, code in machine.probes.rom_image():
            uc.mem_write(address, code)
        for dev in machine.devices:
            size = (dev.size + 0xFFF) & ~0xFFF
            uc.mmio_map(dev.base, size, self._mmio_read, dev, self._mmio_write, dev)
        uc.hook_add(UC_HOOK_INTR, self._on_intr)
        uc.hook_add(UC_HOOK_MEM_UNMAPPED, self._on_unmapped)
        self.pc = machine.image.entry
        self._counter = counter(uc)
        # Register access straight through ctypes: half the cost of the binding's wrappers,
        # and these run on every trap the machine emulates.
        self._handle = uc._uch
        self._value = ctypes.c_uint64()
        self._value_ref = ctypes.byref(self._value)
        self._running = False
        self._wr(R.UC_RISCV_REG_A0, hart_id)
        self._wr(R.UC_RISCV_REG_A1, machine.fdt_address)
        self._wfi_pc = -1
        self._saved_t6 = 0

    def _rd(self, reg: int) -> int:
        _uc_reg_read(self._handle, reg, self._value_ref)
        return self._value.value

    def _wr(self, reg: int, value: int) -> None:
        self._value.value = value & 0xFFFF_FFFF_FFFF_FFFF
        _uc_reg_write(self._handle, reg, self._value_ref)

    read_reg, write_reg = _rd, _wr  # for observers (probes, tracer): unicorn_const numbering

    # ---- running ----------------------------------------------------------------------------

    def uncount(self) -> None:
        """The instruction unicorn just counted (a trap) is no guest instruction: take it off,
        so that the current emu_start runs one guest instruction more. Unicorn counts each
        instruction before it runs and stops at the first one past its limit."""
        self._counter.value -= 1

    def run(self, quantum: int) -> int:
        """Run `quantum` guest instructions (fewer if it sleeps or stops); returns how many
        retired (also added to instret and clock). Sets state on wfi.

        Traps that are no guest instruction (probes.py; a step switched away from before it
        ran) are taken off unicorn's count as they happen (uncount), so unicorn's limit is the
        quantum in guest instructions."""
        self._wfi_pc = -1
        self._switch = False
        uc = self.uc
        self._running = True
        try:
            uc.emu_start(self.pc, 0, 0, quantum)
        except UcError as e:
            self.machine.hart_error(self, e)
            retired = self._counter.value
        else:
            pc = self._rd(R.UC_RISCV_REG_PC)
            if self._wfi_pc < 0:
                self.pc = pc
                retired = self._counter.value if self._switch else quantum
            else:
                idle = 2 * self._rd(R.UC_RISCV_REG_T6) - (pc == IDLE_LOOP + 4)
                self._wr(R.UC_RISCV_REG_T6, self._saved_t6)
                self.pc = self._wfi_pc + 4
                retired = quantum - idle
        self._running = False
        self.instret += retired
        self.clock += retired
        return retired

    def request_switch(self) -> None:
        """End the current turn after this instruction (from a hook; pc already set)."""
        self._switch = True
        self.uc.emu_stop()

    def now(self) -> int:
        """Instructions this hart retired before the current one: exact inside a hook too."""
        if self._running:
            return self.instret + self._counter.value - 1
        return self.instret

    def clock_now(self) -> int:
        """The hart's virtual clock (instructions + time asleep) before the current instruction."""
        return self.clock + self.now() - self.instret

    @property
    def parked(self) -> bool:
        """Whether the last quantum ended in the idle loop (wfi, or a fault)."""
        return self._wfi_pc >= 0

    def _park(self, pc: int) -> None:
        """Send the hart to the idle loop for the rest of the quantum (count stays exact)."""
        self._wfi_pc = pc
        self._saved_t6 = self._rd(R.UC_RISCV_REG_T6)
        self._wr(R.UC_RISCV_REG_T6, 0)
        self._wr(R.UC_RISCV_REG_PC, IDLE_LOOP)

    def _enter_wfi(self, address: int) -> None:
        self._park(address)
        self.sleep_mie = self._rd(R.UC_RISCV_REG_MIE)
        self.machine.hart_wfi(self, address)

    # ---- traps ------------------------------------------------------------------------------

    def enter_trap(self, cause: int, epc: int, tval: int) -> int | None:
        """Vector to the guest's mtvec as the hardware would; returns the handler pc, or None
        when the guest has no handler (mtvec = 0)."""
        self.reservation = None  # a trap ends any LR reservation
        mtvec = self._rd(R.UC_RISCV_REG_MTVEC)
        if mtvec == 0:
            return None
        mstatus = self._rd(R.UC_RISCV_REG_MSTATUS)
        priv = self._rd(R.UC_RISCV_REG_PRIV) & 3
        previous_mie = MSTATUS_MPIE if mstatus & MSTATUS_MIE else 0
        mstatus &= ~(MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP)
        mstatus |= previous_mie | (priv << 11)
        self._wr(R.UC_RISCV_REG_MSTATUS, mstatus)
        self._wr(R.UC_RISCV_REG_MEPC, epc)
        self._wr(R.UC_RISCV_REG_MCAUSE, cause)
        self._wr(R.UC_RISCV_REG_MTVAL, tval)
        if priv != 3:
            self._wr(R.UC_RISCV_REG_PRIV, 3)
        handler = mtvec & ~3
        if mtvec & 1 and cause & C.CAUSE_INTERRUPT:
            handler += 4 * (cause & 0xFF)
        return handler

    def _on_intr(self, uc: Uc, intno: int, _: object) -> None:
        # Unicorn reports every exception with pc already 4 past the instruction, whatever its
        # length (unicorn #1990), so the instruction itself is always at pc - 4.
        epc = self._rd(R.UC_RISCV_REG_PC) - 4
        m = self.machine
        if intno == C.CAUSE_USER_ECALL:
            cause = C.CAUSE_USER_ECALL + (self._rd(R.UC_RISCV_REG_PRIV) & 3)
            m.hart_ecall(self, epc)
            tval = 0
        elif intno == C.CAUSE_ILLEGAL_INSTRUCTION:
            probe = m.probes.by_entry.get(epc)
            if probe is not None:
                on_probe_entry(self, probe)
                return
            if IDLE_LOOP <= epc < IDLE_LOOP + C.HOST_ROM_SIZE and on_rom_trap(self, epc):
                return
            original = m.patched.get(epc)
            if original is not None:
                if original == WFI:
                    self._enter_wfi(epc)
                elif epc in m.sync_sites:
                    self._sync_access(original, epc)
                elif original & 0x7F == 0x2F:
                    if m.switch_at_step is not None and self._switch_before(epc):
                        return
                    if (original >> 27) in (2, 3):
                        self._execute_lrsc(original, epc)
                    else:
                        self._execute_amo(original, epc)
                elif original & 0x7F == 0x0F:
                    self._execute_fence(original, epc)
                else:
                    self._emulate_csr_write(original, epc + 4)
                return
            cause, tval = intno, m.instruction_at(epc)
            if tval & _RDTIME_MASK == _RDTIME_MATCH:
                rd = (tval >> 7) & 31
                if rd:
                    self._wr(_X[rd], m.mtime(self.id))
                return  # pc is already past it
        else:
            cause, tval = intno, 0
        if intno != C.CAUSE_USER_ECALL:
            self.last_exception = (cause, epc, tval)
        handler = self.enter_trap(cause, epc, tval)
        if handler is None:
            m.hart_unhandled_trap(self, cause, epc, tval)
            self._park(epc)
            return
        if cause not in (C.CAUSE_USER_ECALL, C.CAUSE_MACHINE_ECALL):
            m.hart_trap(self, cause, epc, tval)
        self._wr(R.UC_RISCV_REG_PC, handler)

    def _switch_before(self, epc: int) -> bool:
        """Preempt in front of the step (atomic or sync site) at epc if the schedule says so: it
        has not run (its trap is not counted) and runs first when the hart resumes."""
        if self.resume_at == epc:
            self.resume_at = -1
            return False
        if self.reservation is not None or not self.machine.switch_at_step(self, epc):
            return False
        self.resume_at = epc
        self.uncount()
        self._wr(R.UC_RISCV_REG_PC, epc)
        self.request_switch()
        return True

    def _emulate_csr_write(self, word: int, next_pc: int) -> None:
        """Execute a csrrw/csrrs(i) to mstatus or mie that the loader replaced with a trap, then
        take any interrupt it enabled before the next instruction, as hardware does."""
        funct3, rd, source = (word >> 12) & 7, (word >> 7) & 31, (word >> 15) & 31
        reg = R.UC_RISCV_REG_MSTATUS if word >> 20 == 0x300 else R.UC_RISCV_REG_MIE
        old = self._rd(reg)
        value = source if funct3 >= 5 else self._rd(_X[source])
        self._wr(reg, value if funct3 in (1, 5) else old | value)
        if rd:
            self._wr(_X[rd], old)
        handler = self.machine.deliver_interrupts(self, next_pc)
        if handler is not None:
            self._wr(R.UC_RISCV_REG_PC, handler)

    def _memory(self, epc: int, what: str, address: int, width: int) -> int | None:
        """RAM offset of an atomic access, or None after reporting a fault."""
        offset = address - C.RAM_BASE
        if address % width == 0 and 0 <= offset <= self.machine.ram_size - width:
            return offset
        where = "misaligned" if address % width else "outside RAM"
        self.machine.hart_fault(self, epc, f"{what} at {where} address {address:#x}")
        self._park(epc)
        return None

    def _execute_lrsc(self, word: int, epc: int) -> None:
        """lr.w/lr.d/sc.w/sc.d against this hart's reservation (atomics.py); pc is past it."""
        _uc, m = self.uc, self.machine
        is_sc, width, rd, rs1, rs2 = decode_lrsc(word)
        address = self._rd(_X[rs1]) if rs1 else 0
        offset = self._memory(epc, "sc" if is_sc else "lr", address, width)
        if offset is None:
            return
        ram = m.ram
        old = int.from_bytes(ram[offset : offset + width], "little")
        if is_sc:
            ok = self.reservation == address
            self.reservation = None
            value = self._rd(_X[rs2]) & ((1 << 8 * width) - 1) if rs2 else 0
            if ok:
                ram[offset : offset + width] = value.to_bytes(width, "little")
                self.sc_successes += 1
            else:
                self.sc_failures += 1
            if rd:
                self._wr(_X[rd], 0 if ok else 1)
            if m.timing is not None:
                m.timing.charge(self, "sc", address, ok)
        else:
            ok, value = True, 0
            if rd:
                self._wr(_X[rd], _sign_extend(old, width))
            self.reservation = address
            self.loads_reserved += 1
            if m.timing is not None:
                m.timing.charge(self, "lr", address, False)
        if m.bus.wants(ev.Atomic):
            m.bus.emit(
                ev.Atomic(
                    self.id,
                    self.now(),
                    epc,
                    "sc" if is_sc else "lr",
                    f"{'sc' if is_sc else 'lr'}.{'d' if width == 8 else 'w'}",
                    width,
                    address,
                    old,
                    value,
                    ok,
                )
            )

    def _sync_access(self, word: int, epc: int) -> None:
        """A plain load or store of a synchronization word (pct's sync unit, syncsites.py):
        a step of the schedule when _sync_step says so, then executed here."""
        length = length_of(word)
        read = self._read_x
        load = load_operands(word, length, read)
        if (
            self.machine.switch_at_step is not None
            and self._sync_step(load, epc)
            and self._switch_before(epc)
        ):
            return
        if load is not None:
            address, width, signed, rd = load
        else:
            address, width, value = store_operands(word, length, read)
        offset = address - C.RAM_BASE
        if not 0 <= offset <= self.machine.ram_size - width:
            what = "load from" if load is not None else "store to"
            self.machine.hart_fault(self, epc, f"{what} {address:#x}, outside RAM, at a sync site")
            self._park(epc)
            return
        ram = self.machine.ram
        if load is not None:
            if rd:
                value = int.from_bytes(ram[offset : offset + width], "little")
                if signed and value >> (8 * width - 1):
                    value -= 1 << (8 * width)
                self._wr(_X[rd], value)
        else:
            value &= (1 << 8 * width) - 1
            ram[offset : offset + width] = value.to_bytes(width, "little")
        self._wr(R.UC_RISCV_REG_PC, epc + length)

    def _sync_step(self, load: tuple | None, epc: int) -> bool:
        """Whether the sync access at epc (`load`: its load operands, None for a store) is a
        step: a store always is; a load only when it would read a value other than this hart
        read there last time, so a spinning wait is one step, not one per turn of its loop."""
        if self.resume_at == epc:
            return True  # switched out in front of it: _switch_before lets it run
        if load is None:
            return True
        address, width = load[0] - C.RAM_BASE, load[1]
        value = bytes(self.machine.ram[address : address + width])
        if self._sync_seen.get(epc) == value:
            return False
        self._sync_seen[epc] = value
        return True

    def _read_x(self, reg: int) -> int:
        return self._rd(_X[reg]) if reg else 0

    def _execute_amo(self, word: int, epc: int) -> None:
        """An AMO, executed here only while the contention monitor runs."""
        _uc, m = self.uc, self.machine
        _, width, rd, rs1, rs2 = decode_lrsc(word)
        op = AMO_OPS[word >> 27]
        address = self._rd(_X[rs1]) if rs1 else 0
        offset = self._memory(epc, f"amo{op}", address, width)
        if offset is None:
            return
        old = int.from_bytes(m.ram[offset : offset + width], "little")
        operand = self._rd(_X[rs2]) if rs2 else 0
        m.ram[offset : offset + width] = amo_result(op, old, operand, width).to_bytes(
            width, "little"
        )
        if rd:
            self._wr(_X[rd], _sign_extend(old, width))
        if m.timing is not None:
            m.timing.charge(self, "amo", address, True)
        if not m.bus.wants(ev.Atomic):
            return
        m.bus.emit(
            ev.Atomic(
                self.id,
                self.now(),
                epc,
                "amo",
                op,
                width,
                address,
                old,
                operand & ((1 << 8 * width) - 1),
            )
        )

    def _execute_fence(self, word: int, epc: int) -> None:
        """A fence (a no-op here: the machine is sequentially consistent), reported with the
        store that follows it, if any: `fence rw,w; sw` is how C11 writes a release store."""
        m = self.machine
        if m.timing is not None:
            m.timing.charge(self, "fence", 0, False)
        if not m.bus.wants(ev.Atomic):
            return
        address, value = -1, 0
        store = store_after_fence(m.instruction_at(epc + 4))
        if store is not None:
            rs1, imm, rs2 = store
            address = ((self._rd(_X[rs1]) if rs1 else 0) + imm) & ((1 << 64) - 1)
            value = self._rd(_X[rs2]) if rs2 else 0
        m.bus.emit(ev.Atomic(self.id, self.now(), epc, "fence", "fence", 0, address, 0, value))

    def take_interrupt(self, irq: int, pc: int) -> int | None:
        """Trap to the handler for interrupt `irq` (interrupted at `pc`) if mstatus.MIE and mie
        allow it; returns the handler's address, or None."""
        if not self._rd(R.UC_RISCV_REG_MSTATUS) & MSTATUS_MIE:
            return None
        if not self._rd(R.UC_RISCV_REG_MIE) & (1 << irq):
            return None
        handler = self.enter_trap(C.CAUSE_INTERRUPT | irq, pc, 0)
        if handler is not None:
            self.machine.hart_trap(self, C.CAUSE_INTERRUPT | irq, pc, 0)
        return handler

    # ---- memory -----------------------------------------------------------------------------

    def _mmio_read(self, uc: Uc, offset: int, size: int, dev) -> int:
        return dev.read(self.id, offset, size)

    def _mmio_write(self, uc: Uc, offset: int, size: int, value: int, dev) -> None:
        dev.write(self.id, offset, size, value)

    def _on_unmapped(
        self, uc: Uc, access: int, address: int, size: int, value: int, _: object
    ) -> bool:
        self.fault_access = (access, address)
        return False

    def describe_error(self, error: UcError) -> tuple[str, int]:
        """(what went wrong, pc) for an emu_start error."""
        pc = self._rd(R.UC_RISCV_REG_PC)
        if self.fault_access:
            access, address = self.fault_access
            if access == UC_MEM_FETCH_UNMAPPED or error.errno == UC_ERR_FETCH_UNMAPPED:
                return f"instruction fetch from unmapped address {address:#x}", pc
            kind = "store to" if access == UC_MEM_WRITE_UNMAPPED else "load from"
            return f"{kind} unmapped address {address:#x}", pc
        if error.errno == UC_ERR_INSN_INVALID:
            insn = self.machine.instruction_at(pc)
            what = "ebreak" if insn in (0x00100073, 0x9002) else f"invalid instruction {insn:#x}"
            return f"{what} (a breakpoint: the machine has no debugger)", pc
        return f"unicorn stopped: {error}", pc


def _sign_extend(value: int, width: int) -> int:
    """A loaded word as the 64-bit register value (.w results are sign-extended)."""
    if width == 4 and value & 0x8000_0000:
        return value | 0xFFFF_FFFF_0000_0000
    return value


def ram_pointer(buffer) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(buffer))
