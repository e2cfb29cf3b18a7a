"""One hart: a unicorn instance over the shared RAM, with software trap entry and wfi sleep.

Unicorn has no trap vectoring (every exception lands in UC_HOOK_INTR with pc already past the
instruction), reads mhartid as 0 and stops at wfi without telling how far it got. This class
turns those into architectural behaviour while keeping the retired-instruction count exact:

* Traps are vectored inside the INTR hook (mepc, mcause, mtval, mstatus MPP/MPIE/MIE, pc =
  mtvec), without emu_stop, so the quantum goes on and its count stays whole.
* Every wfi in the image is replaced in RAM by an illegal instruction (TRAP_WORD), so reaching
  one lands in the INTR hook, which sends the hart into an idle loop in the host ROM
  (`addi t6, t6, 1; j .-4`) for the rest of its quantum; t6 then says how many idle
  instructions ran, which are taken off the quantum. The hart sleeps at pc = wfi + 4.
  (A code hook on the wfi sites would do the same, but any user code hook halves unicorn's
  speed everywhere once emu_start counts instructions: measured, scripts/bench_machine.py.)
* lr/sc are replaced the same way and executed by atomics.py against a reservation, because
  unicorn's own SC is value-based and succeeds after ABA.
* CSR writes that can enable an interrupt (mstatus, mie) are replaced the same way and executed
  here, so a pending interrupt is taken right after the write that enables it, not at the end
  of the quantum: guests that open a one-instruction interrupt window rely on that.

A hart knows its machine only as a HartHost (hooks.py): the RAM, the replaced sites, pending
interrupts, mtime, and where to report sleep and faults. Instruments reach it through the
machine's Hooks and through the public methods here (registers, `now`, `uncount`, `park`).
"""

from __future__ import annotations

import ctypes
import struct
from enum import IntEnum

from unicorn import (
    UC_ARCH_RISCV,
    UC_ERR_FETCH_UNMAPPED,
    UC_ERR_INSN_INVALID,
    UC_HOOK_INTR,
    UC_HOOK_MEM_READ,
    UC_HOOK_MEM_UNMAPPED,
    UC_HOOK_MEM_WRITE,
    UC_MEM_FETCH_UNMAPPED,
    UC_MEM_WRITE,
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

from emulator.machine import atomics
from emulator.machine import events as ev
from emulator.machine.hooks import HartHost
from emulator.machine.icount import counter
from emulator.machine.isa import (
    C_EBREAK,
    EBREAK,
    MASK64,
    MSTATUS_MIE,
    MSTATUS_MPIE,
    MSTATUS_MPP,
    PC,
    PRIV,
    T6,
    WFI,
    A,
    X,
    csr_write,
    exception_text,
    is_atomic,
    is_fence,
    length_of,
    load_operands,
    sext,
    store_operands,
)
from guest.contract import C

_uc_reg_read, _uc_reg_write = uclib.uc_reg_read, uclib.uc_reg_write

IDLE_LOOP = C.HOST_ROM_BASE
IDLE_LOOP_CODE = struct.pack("<II", 0x001F8F93, 0xFFDFF06F)  # addi t6, t6, 1; j .-4
ROM_FOR_INSTRUMENTS = C.HOST_ROM_BASE + 0x10  # the host ROM after the idle loop
TRAP_WORD = 0x00000000  # what a replaced site becomes: defined illegal in 16 and 32 bits
TCG_BUFFER_BYTES = 32 << 20  # per instance; unicorn's default reserves 1 GiB each

# rd of `csrrs rd, time, x0` (rdtime), which unicorn cannot execute: the hart serves it.
_RDTIME_MASK, _RDTIME_MATCH = 0xFFFFF07F, 0xC0102073
_CSR_REGS = {0x300: R.UC_RISCV_REG_MSTATUS, 0x304: R.UC_RISCV_REG_MIE}


class HartState(IntEnum):
    RUNNING = 0
    SLEEPING = 1
    STALLED = 2  # taken off the CPU by fault injection for a while (Machine.stall)


class Hart:
    def __init__(self, host: HartHost, hart_id: int, entry: int, boot_args: tuple[int, ...]):
        self.host = host
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
        self._switch = False  # the current turn was ended early (request_switch)
        self.resume_at = -1  # a step the hart was switched away in front of (no 2nd switch)
        self.stall_left = 0  # STALLED: instructions the other harts must run first
        self._sync_seen: dict[int, bytes] = {}  # sync load site -> what it read last (_sync_step)
        self._hooks = host.hooks

        uc = self.uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
        uc.ctl_set_tcg_buffer_size(TCG_BUFFER_BYTES)
        uc.mem_map_ptr(C.RAM_BASE, host.ram_size, UC_PROT_ALL, ram_pointer(host.ram))
        uc.mem_map(C.MROM_BASE, C.MROM_SIZE, UC_PROT_READ | UC_PROT_EXEC)
        uc.mem_write(C.MROM_BASE, host.mask_rom)
        uc.mem_map(C.HOST_ROM_BASE, C.HOST_ROM_SIZE, UC_PROT_READ | UC_PROT_EXEC)
        uc.mem_write(IDLE_LOOP, IDLE_LOOP_CODE)
        for address, code in host.hooks.rom:
            uc.mem_write(address, code)
        for dev in host.devices:
            size = (dev.size + 0xFFF) & ~0xFFF
            uc.mmio_map(dev.base, size, self._mmio_read, dev, self._mmio_write, dev)
        uc.hook_add(UC_HOOK_INTR, self._on_intr)
        uc.hook_add(UC_HOOK_MEM_UNMAPPED, self._on_unmapped)
        if host.hooks.memory is not None:
            on_access = host.hooks.memory

            def on_memory(uc: Uc, access: int, address: int, size: int, value: int, _) -> None:
                on_access(self, access == UC_MEM_WRITE, address, size)

            end = C.RAM_BASE + host.ram_size - 1
            uc.hook_add(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, on_memory, None, C.RAM_BASE, end)
        self.pc = entry
        self._counter = counter(uc)
        # Register access straight through ctypes: half the cost of the binding's wrappers,
        # and these run on every trap the machine emulates.
        self._handle = uc._uch
        self._value = ctypes.c_uint64()
        self._value_ref = ctypes.byref(self._value)
        self._running = False
        for reg, value in zip(A, boot_args, strict=False):
            self.write_reg(reg, value)
        self._wfi_pc = -1
        self._saved_t6 = 0
        self.irq_lines = 0  # PLACEHOLDER until the hart core lands: set_irq only records

    def set_irq(self, mask: int, level: bool) -> None:
        """Raise or lower the interrupt lines in `mask` (mip bits) a device drives for this hart.

        PLACEHOLDER: records the lines and delivers nothing; the hart core's version replaces it.
        """
        self.irq_lines = self.irq_lines | mask if level else self.irq_lines & ~mask

    # ---- registers -------------------------------------------------------------------------------

    def read_reg(self, reg: int) -> int:
        """A register by unicorn's number (isa.X, isa.PC, CSRs)."""
        _uc_reg_read(self._handle, reg, self._value_ref)
        return self._value.value

    def write_reg(self, reg: int, value: int) -> None:
        self._value.value = value & MASK64
        _uc_reg_write(self._handle, reg, self._value_ref)

    def x(self, i: int) -> int:
        """x register `i` (x0 reads 0)."""
        return self.read_reg(X[i]) if i else 0

    def set_x(self, i: int, value: int) -> None:
        """Write x register `i` (writes to x0 are dropped)."""
        if i:
            self.write_reg(X[i], value)

    # ---- running ---------------------------------------------------------------------------------

    def uncount(self) -> None:
        """The instruction unicorn just counted (a trap) is no guest instruction: take it off,
        so that the current emu_start runs one guest instruction more. Unicorn counts each
        instruction before it runs and stops at the first one past its limit."""
        self._counter.value -= 1

    def run(self, quantum: int) -> int:
        """Run `quantum` guest instructions (fewer if it sleeps or stops); returns how many
        retired (also added to instret and clock). Sets state on wfi.

        Traps that are no guest instruction (probes; a step switched away from before it ran)
        are taken off unicorn's count as they happen (uncount), so unicorn's limit is the
        quantum in guest instructions."""
        self._wfi_pc = -1
        self._switch = False
        uc = self.uc
        self._running = True
        try:
            uc.emu_start(self.pc, 0, 0, quantum)
        except UcError as e:
            what, pc = self.describe_error(e)
            self.host.fault(self, pc, what)
            retired = self._counter.value
        else:
            pc = self.read_reg(PC)
            if self._wfi_pc < 0:
                self.pc = pc
                retired = self._counter.value if self._switch else quantum
            else:
                idle = 2 * self.read_reg(T6) - (pc == IDLE_LOOP + 4)
                self.write_reg(T6, self._saved_t6)
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

    def can_run_on(self) -> bool:
        """Whether the hart may run more of its turn (it is running, not parked, the run goes
        on)."""
        return self.state is HartState.RUNNING and not self.parked and not self.host.stopped

    def park(self, pc: int) -> None:
        """Send the hart to the idle loop for the rest of the quantum (count stays exact); it
        resumes at pc + 4."""
        self._wfi_pc = pc
        self._saved_t6 = self.read_reg(T6)
        self.write_reg(T6, 0)
        self.write_reg(PC, IDLE_LOOP)

    def fault(self, pc: int, what: str) -> None:
        """Stop the run with a fault at `pc` and park the hart."""
        self.host.fault(self, pc, what)
        self.park(pc)

    def _enter_wfi(self, address: int) -> None:
        self.park(address)
        self.sleep_mie = self.read_reg(R.UC_RISCV_REG_MIE)
        self.host.sleep(self, address)

    # ---- traps -----------------------------------------------------------------------------------

    def enter_trap(self, cause: int, epc: int, tval: int) -> int | None:
        """Vector to the guest's mtvec as the hardware would; returns the handler pc, or None
        when the guest has no handler (mtvec = 0)."""
        self.reservation = None  # a trap ends any LR reservation
        mtvec = self.read_reg(R.UC_RISCV_REG_MTVEC)
        if mtvec == 0:
            return None
        mstatus = self.read_reg(R.UC_RISCV_REG_MSTATUS)
        priv = self.read_reg(PRIV) & 3
        previous_mie = MSTATUS_MPIE if mstatus & MSTATUS_MIE else 0
        mstatus &= ~(MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP)
        mstatus |= previous_mie | (priv << 11)
        self.write_reg(R.UC_RISCV_REG_MSTATUS, mstatus)
        self.write_reg(R.UC_RISCV_REG_MEPC, epc)
        self.write_reg(R.UC_RISCV_REG_MCAUSE, cause)
        self.write_reg(R.UC_RISCV_REG_MTVAL, tval)
        if priv != 3:
            self.write_reg(PRIV, 3)
        handler = mtvec & ~3
        if mtvec & 1 and cause & C.CAUSE_INTERRUPT:
            handler += 4 * (cause & 0xFF)
        return handler

    def _on_intr(self, uc: Uc, intno: int, _: object) -> None:
        # Unicorn reports every exception with pc already 4 past the instruction, whatever its
        # length (unicorn #1990), so the instruction itself is always at pc - 4.
        epc = self.read_reg(PC) - 4
        hooks = self._hooks
        if intno == C.CAUSE_USER_ECALL:
            cause = C.CAUSE_USER_ECALL + (self.read_reg(PRIV) & 3)
            if hooks.bus.wants(ev.Syscall):
                args = tuple(self.read_reg(A[i]) for i in range(6))
                number = self.read_reg(A[7])
                hooks.bus.emit(ev.Syscall(self.id, self.now(), epc, number, args, self.clock_now()))
            tval = 0
        elif intno == C.CAUSE_ILLEGAL_INSTRUCTION:
            site = hooks.traps.get(epc)
            if site is not None:
                site.handler(self, epc)
                return
            original = self.host.original(epc)
            if original is not None:
                self._execute_replaced(original, epc)
                return
            cause, tval = intno, self.host.instruction_at(epc)
            if tval & _RDTIME_MASK == _RDTIME_MATCH:
                self.set_x((tval >> 7) & 31, self.host.mtime(self.id))
                return  # pc is already past it
        else:
            cause, tval = intno, 0
        if intno != C.CAUSE_USER_ECALL:
            self.last_exception = (cause, epc, tval)
        handler = self.enter_trap(cause, epc, tval)
        if handler is None:
            self.fault(
                epc,
                f"{exception_text(cause, tval)} and no trap handler (mtvec = 0): set mtvec, "
                "or fix the code that got here",
            )
            return
        if cause not in (C.CAUSE_USER_ECALL, C.CAUSE_MACHINE_ECALL):
            self._emit_trap(cause, epc, tval)
        self.write_reg(PC, handler)

    def _emit_trap(self, cause: int, epc: int, tval: int) -> None:
        if self._hooks.bus.wants(ev.Trap):
            self._hooks.bus.emit(ev.Trap(self.id, self.now(), epc, cause, tval))

    def _execute_replaced(self, word: int, epc: int) -> None:
        """A site the loader replaced with a trap (sites.py): wfi, a sync access, an atomic, a
        write fence or an interrupt-enabling CSR write. pc is past it."""
        if word == WFI:
            self._enter_wfi(epc)
        elif epc in self._hooks.sync_sites:
            self._sync_access(word, epc)
        elif is_atomic(word):
            if self._hooks.step is not None and self._switch_before(epc):
                return
            atomics.execute(self, word, epc)
        elif is_fence(word):
            atomics.execute(self, word, epc)
        else:
            self._emulate_csr_write(word, epc + 4)

    def _switch_before(self, epc: int) -> bool:
        """Preempt in front of the step (atomic or sync site) at epc if the schedule says so: it
        has not run (its trap is not counted) and runs first when the hart resumes."""
        if self.resume_at == epc:
            self.resume_at = -1
            return False
        if self.reservation is not None or not self._hooks.step(self, epc):  # type: ignore[misc]
            return False
        self.resume_at = epc
        self.uncount()
        self.write_reg(PC, epc)
        self.request_switch()
        return True

    def _emulate_csr_write(self, word: int, next_pc: int) -> None:
        """Execute a csrrw/csrrs(i) to mstatus or mie that the loader replaced with a trap, then
        take any interrupt it enabled before the next instruction, as hardware does."""
        csr, rd, operand, replaces = csr_write(word, self.x)
        reg = _CSR_REGS[csr]
        old = self.read_reg(reg)
        self.write_reg(reg, operand if replaces else old | operand)
        self.set_x(rd, old)
        handler = self.take_pending_interrupt(next_pc)
        if handler is not None:
            self.write_reg(PC, handler)

    def _sync_access(self, word: int, epc: int) -> None:
        """A plain load or store of a synchronization word (pct's sync unit, syncsites.py):
        a step of the schedule when _sync_step says so, then executed here."""
        load = load_operands(word, self.x)
        if self._hooks.step is not None and self._sync_step(load, epc) and self._switch_before(epc):
            return
        if load is not None:
            address, width, signed, rd = load
        else:
            address, width, value = store_operands(word, self.x)  # type: ignore[misc]
        offset = address - C.RAM_BASE
        if not 0 <= offset <= self.host.ram_size - width:
            what = "load from" if load is not None else "store to"
            self.fault(epc, f"{what} {address:#x}, outside RAM, at a sync site")
            return
        ram = self.host.ram
        if load is not None:
            value = int.from_bytes(ram[offset : offset + width], "little")
            self.set_x(rd, sext(value, 8 * width) if signed else value)
        else:
            value &= (1 << 8 * width) - 1
            ram[offset : offset + width] = value.to_bytes(width, "little")
        self.write_reg(PC, epc + length_of(word))

    def _sync_step(self, load: tuple | None, epc: int) -> bool:
        """Whether the sync access at epc (`load`: its load operands, None for a store) is a
        step: a store always is; a load only when it would read a value other than this hart
        read there last time, so a spinning wait is one step, not one per turn of its loop."""
        if self.resume_at == epc:
            return True  # switched out in front of it: _switch_before lets it run
        if load is None:
            return True
        address, width = load[0] - C.RAM_BASE, load[1]
        value = bytes(self.host.ram[address : address + width])
        if self._sync_seen.get(epc) == value:
            return False
        self._sync_seen[epc] = value
        return True

    # ---- interrupts ------------------------------------------------------------------------------

    def take_pending_interrupt(self, pc: int) -> int | None:
        """Take the highest-priority pending interrupt the hart allows, interrupted at `pc`
        (software before timer: the privileged spec's order, MSI > MTI); returns the handler
        address, or None when none is taken."""
        pending = self.host.pending_interrupts(self)
        for irq in (C.IRQ_M_SOFT, C.IRQ_M_TIMER):
            if pending & (1 << irq):
                handler = self._take_interrupt(irq, pc)
                if handler is not None:
                    return handler
        return None

    def _take_interrupt(self, irq: int, pc: int) -> int | None:
        """Trap to the handler for interrupt `irq` (interrupted at `pc`) if mstatus.MIE and mie
        allow it; returns the handler's address, or None."""
        if not self.read_reg(R.UC_RISCV_REG_MSTATUS) & MSTATUS_MIE:
            return None
        if not self.read_reg(R.UC_RISCV_REG_MIE) & (1 << irq):
            return None
        handler = self.enter_trap(C.CAUSE_INTERRUPT | irq, pc, 0)
        if handler is not None:
            self._emit_trap(C.CAUSE_INTERRUPT | irq, pc, 0)
        return handler

    # ---- memory ----------------------------------------------------------------------------------

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
        pc = self.read_reg(PC)
        if self.fault_access:
            access, address = self.fault_access
            if access == UC_MEM_FETCH_UNMAPPED or error.errno == UC_ERR_FETCH_UNMAPPED:
                return f"instruction fetch from unmapped address {address:#x}", pc
            kind = "store to" if access == UC_MEM_WRITE_UNMAPPED else "load from"
            return f"{kind} unmapped address {address:#x}", pc
        if error.errno == UC_ERR_INSN_INVALID:
            insn = self.host.instruction_at(pc)
            what = "ebreak" if insn in (EBREAK, C_EBREAK) else f"invalid instruction {insn:#x}"
            return f"{what} (a breakpoint: the machine has no debugger)", pc
        return f"unicorn stopped: {error}", pc


def ram_pointer(buffer) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(buffer))
