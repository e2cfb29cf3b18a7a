"""One hart: a unicorn instance over the shared RAM, made to behave as the RISC-V privileged
architecture says (M, S and U modes), with exact retired-instruction counts.

What unicorn does right is left to it: instruction execution, paging (Sv39/Sv48, A/D bits,
sfence.vma, SUM/MXR/MPRV), mret/sret, and interrupt delivery with mideleg, stvec and vectored
mtvec (unicorn takes a pending, enabled interrupt whenever it checks: at the start of a turn,
after every CSR instruction, mret or sret, at the end of a translated block). What it does
wrong the hart corrects:

* Exceptions: unicorn reports every one to UC_HOOK_INTR with pc already 4 past the instruction
  (whatever its length) and without trap entry. The hart enters the trap itself (`_exception`):
  medeleg decides M or S; xepc, xcause, xtval (the faulting address from the CPU state, the
  instruction bits of an illegal instruction), xstatus xPP/xPIE/xIE, the mode, pc = xtvec. An
  ecall's cause follows the mode it came from (unicorn says 8 for all). ebreak is an ordinary
  breakpoint exception (cpu.py), not the end of the run.
* Interrupt lines from devices (CLINT msip and timer, later the PLIC) are raised and lowered in
  the CPU state by `set_irq`; csrs.py keeps the spec's priority order among pending ones.
* mhartid is this hart's id; the counters, time and the CSRs unicorn lacks are served by
  csrs.py.
* wfi: unicorn ends emu_start early after a wfi. The count of what ran is exact (unicorn's live
  counter, icount.py), the turn ends there, and the machine puts the hart to sleep until an
  interrupt is pending and enabled in mie (or lets it go on, if one already is).
* lr/sc are replaced by traps and executed by atomics.py against a reservation, because
  unicorn's own SC is value-based and succeeds after ABA.

A hart knows its machine only as a HartHost (hooks.py): the RAM, the replaced sites, mtime, and
where to report sleep and faults. Instruments reach it through the machine's Hooks and through
the public methods here (registers, `now`, `uncount`, `park`).
"""

from __future__ import annotations

import ctypes
from enum import IntEnum

from unicorn import (
    UC_ARCH_RISCV,
    UC_ERR_FETCH_PROT,
    UC_ERR_FETCH_UNMAPPED,
    UC_HOOK_INTR,
    UC_HOOK_MEM_PROT,
    UC_HOOK_MEM_READ,
    UC_HOOK_MEM_UNMAPPED,
    UC_HOOK_MEM_WRITE,
    UC_MEM_FETCH_PROT,
    UC_MEM_FETCH_UNMAPPED,
    UC_MEM_READ_PROT,
    UC_MEM_READ_UNMAPPED,
    UC_MEM_WRITE,
    UC_MEM_WRITE_PROT,
    UC_MEM_WRITE_UNMAPPED,
    UC_MODE_RISCV64,
    UC_PROT_ALL,
    UC_PROT_EXEC,
    UC_PROT_READ,
    Uc,
    UcError,
)
from unicorn.unicorn_py3.unicorn import uclib

from emulator.machine import atomics, csrs
from emulator.machine import events as ev
from emulator.machine.cpu import CpuState
from emulator.machine.hooks import HartHost
from emulator.machine.icount import counter
from emulator.machine.isa import (
    MASK64,
    MSTATUS_MIE,
    MSTATUS_MPIE,
    MSTATUS_MPP,
    MSTATUS_SIE,
    MSTATUS_SPIE,
    MSTATUS_SPP,
    PC,
    PRIV,
    A,
    X,
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
_uc_vmem_translate = uclib.uc_vmem_translate
_uc_vmem_translate.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int, ctypes.c_void_p]
_uc_vmem_translate.restype = ctypes.c_int

ROM_FOR_INSTRUMENTS = C.HOST_ROM_BASE  # the host ROM: code instruments place (probes.py)
TRAP_WORD = 0x00000000  # what a replaced site becomes: defined illegal in 16 and 32 bits
TCG_BUFFER_BYTES = 32 << 20  # per instance; unicorn's default reserves 1 GiB each
NO_STOP = MASK64  # emu_start's stop address: odd, so no pc reaches it (0 would stop code at 0)

# unicorn's access types of a failed access -> what the guest did
ACCESS_KINDS = {
    UC_MEM_FETCH_UNMAPPED: "fetch",
    UC_MEM_FETCH_PROT: "fetch",
    UC_MEM_READ_UNMAPPED: "load",
    UC_MEM_READ_PROT: "load",
    UC_MEM_WRITE_UNMAPPED: "store",
    UC_MEM_WRITE_PROT: "store",
}

# exceptions whose xtval is the faulting address (misaligned, access and page faults)
_ADDRESS_CAUSES = frozenset({0, 1, 4, 5, 6, 7, 12, 13, 15})


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
        self.last_exception: tuple[int, int, int] | None = None  # (cause, epc, tval)
        self.fault_access: tuple[int, int] | None = None  # (unicorn access type, address)
        self.reservation: int | None = None  # address reserved by the last LR (atomics.py)
        self.loads_reserved = self.sc_successes = self.sc_failures = 0
        self.reservations_dropped = 0  # held at the end of a turn past LRSC_BOUND
        self.resume_at = -1  # a step the hart was switched away in front of (no 2nd switch)
        self.stall_left = 0  # STALLED: instructions the other harts must run first
        self._sync_seen: dict[int, bytes] = {}  # sync load site -> what it read last (_sync_step)
        self._hooks = host.hooks
        self._levels = 0  # interrupt lines the devices hold raised (mip bits)
        self._ended = ""  # why the current turn ended early: "", "switch", "park"
        self._at_wfi = False  # the last turn ended at a wfi

        uc = self.uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
        uc.ctl_set_tcg_buffer_size(TCG_BUFFER_BYTES)
        uc.mem_map_ptr(C.RAM_BASE, host.ram_size, UC_PROT_ALL, ram_pointer(host.ram))
        uc.mem_map(C.MROM_BASE, C.MROM_SIZE, UC_PROT_READ | UC_PROT_EXEC)
        uc.mem_write(C.MROM_BASE, host.mask_rom)
        uc.mem_map(C.HOST_ROM_BASE, C.HOST_ROM_SIZE, UC_PROT_READ | UC_PROT_EXEC)
        for address, code in host.hooks.rom:
            uc.mem_write(address, code)
        for dev in host.devices:
            size = (dev.size + 0xFFF) & ~0xFFF
            uc.mmio_map(dev.base, size, self._mmio_read, dev, self._mmio_write, dev)
        uc.hook_add(UC_HOOK_INTR, self._on_intr)
        uc.hook_add(UC_HOOK_MEM_UNMAPPED | UC_HOOK_MEM_PROT, self._on_unmapped)
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
        self.cpu = cpu = CpuState(uc)
        cpu.mhartid.value = hart_id
        cpu.report_ebreak_as_exception()
        self.csrs = csrs.HartCsrs(self, cpu)
        for reg, value in zip(A, boot_args, strict=False):
            self.write_reg(reg, value)

    def close(self) -> None:
        """The hart's machine is done with it: its CSRs leave the process-wide table."""
        self.csrs.close()

    # ---- registers --------------------------------------------------------------------------

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

    @property
    def priv(self) -> int:
        """The privilege mode the hart runs in: 0 U, 1 S, 3 M."""
        return self.cpu.priv.value

    # ---- running ----------------------------------------------------------------------------

    def uncount(self) -> None:
        """The instruction unicorn just counted (a trap) is no guest instruction: take it off,
        so that the current emu_start runs one guest instruction more. Unicorn counts each
        instruction before it runs and stops at the first one past its limit."""
        self._counter.value -= 1

    def run(self, quantum: int) -> int:
        """Run `quantum` guest instructions (fewer if it reaches a wfi or stops); returns how
        many retired (also added to instret and clock).

        Traps that are no guest instruction (probes; a step switched away from before it ran)
        are taken off unicorn's count as they happen (uncount), so unicorn's limit is the
        quantum in guest instructions."""
        self._ended = ""
        self._at_wfi = False
        self._running = True
        try:
            self.uc.emu_start(self.pc, NO_STOP, 0, quantum)
        except UcError as e:
            self._report(e)
            retired = self._counter.value
        else:
            self.pc = self.read_reg(PC)
            ran = self._counter.value
            if self._ended:
                retired = ran
            elif ran <= quantum:  # unicorn stopped early: only a wfi does that
                retired = ran
                self._at_wfi = True
            else:
                retired = quantum
        finally:
            self._running = False
        error = csrs.take_error()
        if error is not None:
            raise error
        self.instret += retired
        self.clock += retired
        if self._at_wfi:
            self.host.sleep(self, self.pc - 4)
        return retired

    def request_switch(self) -> None:
        """End the current turn after this instruction (from a hook; pc already set)."""
        self._ended = "switch"
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
        """Whether the last turn ended at a wfi or by a park request (a fault, a violation)."""
        return self._at_wfi or self._ended == "park"

    def can_run_on(self) -> bool:
        """Whether the hart may run more of its turn (it is running, not parked, the run goes
        on)."""
        return self.state is HartState.RUNNING and not self.parked and not self.host.stopped

    def park(self, pc: int) -> None:
        """End the hart's turn now, at `pc` (from inside its turn: a fault, a violation)."""
        self.write_reg(PC, pc)
        self._ended = "park"
        self.uc.emu_stop()

    def fault(self, pc: int, what: str) -> None:
        """Stop the run with a fault at `pc` and park the hart."""
        self.host.fault(self, pc, what)
        self.park(pc)

    # ---- interrupts -------------------------------------------------------------------------

    def set_irq(self, mask: int, level: bool) -> None:
        """Raise or lower the interrupt lines in `mask` (mip bits: MSIP, MTIP, MEIP, SEIP) that
        a device drives for this hart; unicorn takes a pending, enabled one itself."""
        levels = self._levels | mask if level else self._levels & ~mask
        if levels != self._levels:
            self._levels = levels
            self.cpu.update_mip(mask, mask if level else 0)
            self.csrs.refilter()

    def pending_enabled(self) -> int:
        """Interrupts pending and enabled in mie: what ends a wfi."""
        return self.csrs.pending_enabled()

    # ---- traps ------------------------------------------------------------------------------

    def _exception(self, cause: int, epc: int, tval: int) -> None:
        """Enter the trap for a synchronous exception as the privileged spec says: to S-mode
        when it comes from S or U and medeleg delegates it, else to M-mode."""
        self.reservation = None  # a trap ends any LR reservation
        if self.csrs.pmp.partial:
            self.cpu.flush_tlb()  # so that PMP is checked again after the trap (csrs.Pmp)
        if cause not in (8, 9, 11):  # a system call is no exception the guest failed to handle
            self.last_exception = (cause, epc, tval)
        cpu = self.cpu
        priv = cpu.priv.value
        status = cpu.mstatus.value
        if priv <= 1 and cpu.medeleg.value >> cause & 1:
            tvec, mode = cpu.stvec.value, 1
            status &= ~(MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SIE)
            status |= (MSTATUS_SPIE if cpu.mstatus.value & MSTATUS_SIE else 0) | priv << 8
            cpu.sepc.value, cpu.scause.value, cpu.stval.value = epc, cause, tval
        else:
            tvec, mode = cpu.mtvec.value, 3
            status &= ~(MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_MIE)
            status |= (MSTATUS_MPIE if cpu.mstatus.value & MSTATUS_MIE else 0) | priv << 11
            cpu.mepc.value, cpu.mcause.value, cpu.mtval.value = epc, cause, tval
        if tvec & ~3 == 0:
            name = "stvec" if mode == 1 else "mtvec"
            self.fault(
                epc,
                f"{exception_text(cause, tval)} and no trap handler ({name} = 0): set {name}, "
                "or fix the code that got here",
            )
            return
        cpu.mstatus.value = status
        if mode != priv:
            self.write_reg(PRIV, mode)
        if self._hooks.bus.wants(ev.Trap) and cause not in (8, 9, 11):
            self._hooks.bus.emit(ev.Trap(self.id, self.now(), epc, cause, tval))
        self.write_reg(PC, tvec & ~3)  # exceptions never vector

    def _physical(self, address: int) -> int:
        """The physical address the hart's instruction fetch at `address` goes to."""
        if self.cpu.priv.value == 3 or not self.cpu.satp.value >> 60:
            return address
        out = ctypes.c_uint64()
        if _uc_vmem_translate(self._handle, address, UC_PROT_EXEC, ctypes.byref(out)) != 0:
            return address
        return out.value

    def _instruction_bits(self, physical: int) -> int:
        """The instruction at a physical address, as mtval reports an illegal one."""
        word = self.host.instruction_at(physical)
        if word == 0 and not C.RAM_BASE <= physical < C.RAM_BASE + self.host.ram_size:
            try:
                word = int.from_bytes(self.uc.mem_read(physical, 4), "little")
            except UcError:
                return 0
            word = word if word & 3 == 3 else word & 0xFFFF
        return word

    def _on_intr(self, uc: Uc, intno: int, _: object) -> None:
        # Unicorn reports every exception with pc already 4 past the instruction, whatever its
        # length (unicorn #1990), so the instruction itself is always at pc - 4.
        epc = self.read_reg(PC) - 4
        hooks = self._hooks
        if intno == C.CAUSE_USER_ECALL:
            cause = C.CAUSE_USER_ECALL + self.cpu.priv.value
            if hooks.bus.wants(ev.Syscall):
                args = tuple(self.read_reg(A[i]) for i in range(6))
                number = self.read_reg(A[7])
                hooks.bus.emit(ev.Syscall(self.id, self.now(), epc, number, args, self.clock_now()))
            self._exception(cause, epc, 0)
            return
        if intno == C.CAUSE_ILLEGAL_INSTRUCTION:
            physical = self._physical(epc)
            site = hooks.traps.get(physical)
            if site is not None:
                site.handler(self, epc)
                return
            original = self.host.original(physical)
            if original is not None:
                self._execute_replaced(original, epc)
                return
            self._exception(intno, epc, self._instruction_bits(physical))
            return
        tval = self.cpu.badaddr.value if intno in _ADDRESS_CAUSES else 0
        self._exception(intno, epc, tval)

    def _execute_replaced(self, word: int, epc: int) -> None:
        """A site the loader replaced with a trap (sites.py): a sync access, an atomic or a
        write fence. pc is past it."""
        if epc in self._hooks.sync_sites:
            self._sync_access(word, epc)
        elif is_atomic(word):
            if self._hooks.step is not None and self._switch_before(epc):
                return
            atomics.execute(self, word, epc)
        elif is_fence(word):
            atomics.execute(self, word, epc)

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

    def _report(self, error: UcError) -> None:
        """Stop the run for an emu_start error: the access that failed, if a memory hook saw
        it (the machine names where it went and where it came from), else unicorn's reason."""
        pc = self.read_reg(PC)
        if self.fault_access:
            access, address = self.fault_access
            if error.errno in (UC_ERR_FETCH_UNMAPPED, UC_ERR_FETCH_PROT):
                access = UC_MEM_FETCH_UNMAPPED
            kind = ACCESS_KINDS.get(access, "load")
            self.host.memory_fault(self, pc, kind, address)
        else:
            self.host.fault(self, pc, f"the emulator could not go on ({error.errno}: {error})")


def ram_pointer(buffer) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(buffer))
