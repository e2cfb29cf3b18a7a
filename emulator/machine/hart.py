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

With a debugger attached (hooks.Debugger) a turn is resumable: it runs as pieces of emu_start
whose counts add up to the quantum, and between two pieces the debugger holds the hart stopped
between two instructions (a breakpoint, a watchpoint, a step, ebreak). instret, the clock and
interrupt lines move only at the turn's end, as without a debugger, so the schedule, the counts
and what the guest reads are the same.

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
    UC_HOOK_CODE,
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
from emulator.machine.hooks import Debugger, HartHost, Watch
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
    atomic_fields,
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
NEVER = 1 << 80  # a timer deadline no clock reaches (mtimecmp may be any 64-bit value)
AMO_OPCODE = 0x2F  # the A extension's major opcode
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
        self.timer_at = NEVER  # clock at which this hart's timer fires (from mtimecmp)
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
        # A debugger's view (hooks.Debugger): what earlier pieces of this turn retired, why the
        # last piece stopped for it, the pc at which a stopped piece resumes (a breakpoint or
        # watchpoint there does not fire again on the first instruction), its hooks.
        self._done = 0
        self._debug_stop: tuple[str, int] | None = None
        self._skip_at = -1
        self._breakpoints: dict[int, int] = {}  # address -> unicorn hook
        self._watches: dict[Watch, int] = {}

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
        self._hook_traps(uc)
        uc.hook_add(UC_HOOK_MEM_UNMAPPED | UC_HOOK_MEM_PROT, self._on_unmapped)
        if host.hooks.memory is not None:
            on_access = host.hooks.memory

            def on_memory(uc: Uc, access: int, address: int, size: int, value: int, _) -> None:
                on_access(self, access == UC_MEM_WRITE, address, size)

            end = C.RAM_BASE + host.ram_size - 1
            uc.hook_add(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, on_memory, None, C.RAM_BASE, end)
        self._log = host.hooks.memory_log
        self.loads = self.stores = 0  # accesses to RAM, counted while memory_log is on
        self._accesses: list[tuple[int, int, int, int]] = []  # memory_log records not yet taken
        if self._log is not None:
            self._hook_memory_log(uc, C.RAM_BASE, C.RAM_BASE + host.ram_size - 1)
        if host.hooks.access is not None:
            self._hook_access(uc, C.RAM_BASE, C.RAM_BASE + host.ram_size - 1)
        self.pc = entry
        uc.reg_write(PC, entry)  # what a debugger reads before the first turn
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

    def _hook_traps(self, uc: Uc) -> None:
        """Every exception unicorn reports comes to `_on_intr`."""
        uc.hook_add(UC_HOOK_INTR, self._on_intr)

    def _hook_memory_log(self, uc: Uc, begin: int, end: int) -> None:
        """Every load and store to RAM is counted and recorded (hooks.MemoryLog)."""
        records = self._accesses

        def on_access(uc: Uc, access: int, address: int, size: int, value: int, _) -> None:
            write = access == UC_MEM_WRITE
            if write:
                self.stores += 1
            else:
                self.loads += 1
            records.append((self.now(), address, size, int(write)))

        uc.hook_add(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, on_access, None, begin, end)

    def _hook_access(self, uc: Uc, begin: int, end: int) -> None:
        """Every load and store to RAM is charged by the coherence model (Hooks.access)."""
        charge = self._hooks.access

        def on_access(uc: Uc, access: int, address: int, size: int, value: int, _) -> None:
            charge(self, access == UC_MEM_WRITE, address, size)  # type: ignore[misc]

        uc.hook_add(UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, on_access, None, begin, end)

    def take_accesses(self) -> None:
        """Hand the memory log's records so far to its taker (end of a turn)."""
        if self._accesses:
            records = self._accesses[:]
            self._accesses.clear()
            if self._log.take is not None:  # type: ignore[union-attr]
                self._log.take(self.id, records)  # type: ignore[union-attr]

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
        self._at_wfi = False
        debugger = self._hooks.debugger
        if debugger is None:
            retired = self._piece(quantum)
        else:
            retired = self._resumable_turn(quantum, debugger)
        self.instret += retired
        self.clock += retired
        if self._at_wfi:
            self.host.sleep(self, self.pc - 4)
        return retired

    def _piece(self, count: int) -> int:
        """One emu_start of at most `count` guest instructions: the whole turn, or a piece of
        it when a debugger is attached; returns how many retired."""
        self._ended = ""
        self._running = True
        try:
            self.uc.emu_start(self.pc, NO_STOP, 0, count)
        except UcError as e:
            self._report(e)
            retired = self._counter.value
            self._ended = "fault"
        else:
            self.pc = self.read_reg(PC)
            ran = self._counter.value
            if self._ended:
                retired = ran
            elif ran <= count:  # unicorn stopped early: only a wfi does that
                retired = ran
                self._at_wfi = True
            else:
                retired = count
        finally:
            self._running = False
        error = csrs.take_error()
        if error is not None:
            raise error
        return retired

    def _resumable_turn(self, quantum: int, debugger: Debugger) -> int:
        """The turn as pieces: each runs up to the debugger's limit (a step, an instruction
        to stop at) or to a breakpoint or watchpoint, the debugger holds the hart stopped in
        between, and the next piece resumes the same turn where the last one stopped."""
        done = 0
        try:
            while True:
                limit = debugger.limit(self)
                count = quantum - done
                if 0 < limit < count:
                    count = limit
                self._done = done
                got = self._piece(count)
                done += got
                self._skip_at = -1
                why, self._debug_stop = self._debug_stop, None
                if why is None and limit and got == limit and self._ended != "fault":
                    why = ("limit", self.pc)
                if why is not None:
                    self._done = done
                    go_on = debugger.stopped(self, *why)
                    self._skip_at = self.pc
                    if not go_on:
                        break
                if self._ended == "debug":
                    if done >= quantum:
                        break
                    continue
                if got < count or done >= quantum or self._ended:
                    break
        finally:
            self._done = 0
        return done

    # ---- debugging (hooks.Debugger) ---------------------------------------------------------

    def set_breakpoints(self, addresses: set[int]) -> None:
        """Stop in front of the instruction at each address (a code hook bounded to it: code
        hooks slow unicorn down, so there are only as many as there are breakpoints)."""
        old = set(self._breakpoints)
        for address in old - addresses:
            self.uc.hook_del(self._breakpoints.pop(address))
        for address in addresses - old:
            self._breakpoints[address] = self.uc.hook_add(
                UC_HOOK_CODE, self._on_breakpoint, None, address, address
            )
        for address in old ^ addresses:  # hooks are compiled into translated code
            self.uc.ctl_remove_cache(address, address + 4)

    def set_watchpoints(self, watches: set[Watch]) -> None:
        """Stop in front of an instruction that reads or writes a watched range (memory
        hooks bounded to it; unicorn restarts the instruction, so it has not run)."""
        old = set(self._watches)
        for watch in old - watches:
            self.uc.hook_del(self._watches.pop(watch))
        for watch in watches - old:
            # a write watch hooks reads too: an AMO reads before it writes (_on_watch)
            kind = (
                UC_HOOK_MEM_READ if watch.kind == "read" else UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE
            )
            # an access that starts below the range may reach into it (up to 8 bytes)
            first, last = max(watch.address - 7, 0), watch.address + watch.length - 1
            self._watches[watch] = self.uc.hook_add(kind, self._on_watch, watch, first, last)

    def set_pc(self, pc: int) -> None:
        """Where the hart goes on (a debugger's register write, between pieces)."""
        self.write_reg(PC, pc)
        self.pc = pc & MASK64

    def _on_breakpoint(self, uc: Uc, address: int, size: int, _: object) -> None:
        if address == self._skip_at and self._counter.value == 1:
            return  # resuming in front of it: it stopped this hart already
        self.uncount()
        self.write_reg(PC, address)
        self._stop_for_debugger("break", address)

    def _on_watch(
        self, uc: Uc, access: int, address: int, size: int, value: int, watch: Watch
    ) -> None:
        if address + size <= watch.address or address >= watch.address + watch.length:
            return
        if self._skip_at >= 0 and self._counter.value == 1:
            return
        if watch.kind == "write" and access != UC_MEM_WRITE:
            # Unicorn calls a write hook after the store (restarting a plain store stores the
            # same again), but an AMO's write cannot be redone: stop at its read, before it
            # changes anything. A plain load is no write.
            word = self.host.instruction_at(self._physical(self.read_reg(PC)))
            if word & 0x7F != AMO_OPCODE:
                return
        self.uncount()
        kind = {"access": "awatch", "write": "watch", "read": "rwatch"}[watch.kind]
        self._stop_for_debugger(kind, max(address, watch.address))

    def _watched_atomic(self, word: int, epc: int) -> bool:
        """An atomic the hart executes itself touches a watched range: stop in front of it (as
        unicorn's memory hooks do for the instructions it executes)."""
        funct5, width, _, rs1, _ = atomic_fields(word)
        reads, writes = funct5 != 3, funct5 != 2  # lr reads, sc writes, an AMO does both
        return self._watch_stop(epc, self.x(rs1), width, writes, reads)

    def _watch_stop(self, epc: int, address: int, width: int, writes: bool, reads: bool) -> bool:
        if self._skip_at == epc and self._counter.value == 1:
            return False  # resuming in front of it: it stopped this hart already
        for watch in self._watches:
            if address >= watch.address + watch.length or watch.address >= address + width:
                continue
            if watch.kind == "access":
                kind = "awatch"
            elif watch.kind == "write" and writes:
                kind = "watch"
            elif watch.kind == "read" and reads:
                kind = "rwatch"
            else:
                continue
            self.uncount()
            self.write_reg(PC, epc)
            self._stop_for_debugger(kind, max(address, watch.address))
            return True
        return False

    def _stop_for_debugger(self, why: str, address: int) -> None:
        self._debug_stop = (why, address)
        self._ended = "debug"
        self.uc.emu_stop()

    def request_switch(self) -> None:
        """End the current turn after this instruction (from a hook; pc already set)."""
        self._ended = "switch"
        self.uc.emu_stop()

    def now(self) -> int:
        """Instructions this hart retired before the current one: exact inside a hook too."""
        if self._running:
            return self.instret + self._done + self._counter.value - 1
        return self.instret + self._done

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
        found = self.physical(address, UC_PROT_EXEC)
        return address if found is None else found

    def physical(self, address: int, access: int = UC_PROT_READ) -> int | None:
        """The physical address an access (UC_PROT_READ, _WRITE or _EXEC) of this hart to
        `address` goes to now, None if it would fault."""
        if self.cpu.priv.value == 3 or not self.cpu.satp.value >> 60:
            return address
        out = ctypes.c_uint64()
        if _uc_vmem_translate(self._handle, address, access, ctypes.byref(out)) != 0:
            return None
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
        if intno == C.CAUSE_BREAKPOINT and hooks.debugger is not None and hooks.debugger.attached:
            # ebreak goes to the debugger, not the guest: the hart stops past it
            length = length_of(self._instruction_bits(self._physical(epc)))
            self.write_reg(PC, epc + length)
            self._stop_for_debugger("ebreak", epc)
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
            if self._watches and self._watched_atomic(word, epc):
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
        if self._watches and self._watch_stop(epc, address, width, load is None, load is not None):
            return
        offset = address - C.RAM_BASE
        if not 0 <= offset <= self.host.ram_size - width:
            what = "load from" if load is not None else "store to"
            self.fault(epc, f"{what} {address:#x}, outside RAM, at a sync site")
            return
        if self._hooks.access is not None:
            self._hooks.access(self, load is None, address, width)
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
