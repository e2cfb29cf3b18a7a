"""The machine: shared RAM, devices, N harts, and the scheduler loop that runs them.

Virtual time: each hart has a clock in instructions (its retired count plus the time it slept).
mtime, as read by a hart, is its own clock / INSNS_PER_MTIME_TICK, sampled when its current
quantum began. A sleeping hart wakes when an enabled interrupt is pending: an IPI (its clock
jumps to the sender's), or its timer once every running hart's clock has passed the deadline
(or at once, when nobody is running).
"""

from __future__ import annotations

import mmap
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from unicorn import UcError

from emulator import events as ev
from emulator.atomics import LRSC_BOUND
from emulator.contract import C
from emulator.devices import Clint, Device, TestFinisher, Uart
from emulator.elf import Image
from emulator.errors import BadInput
from emulator.fdt import build_fdt, fdt_address
from emulator.hart import MIP_MSIP, MIP_MTIP, PATCH_TRAP, Hart, HartState, ram_pointer
from emulator.probes import Probes
from emulator.rvmem import length_of
from emulator.scheduler import Policy
from emulator.sites import WFI, scan

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


def _exception_text(cause: int, tval: int) -> str:
    """`illegal instruction 0xc0001073`, `load access fault`, ...: an exception in words."""
    what = CAUSE_NAMES.get(cause, f"exception {cause}")
    return f"{what} {tval:#x}" if cause == C.CAUSE_ILLEGAL_INSTRUCTION else what


NEVER = 1 << 80
EXIT_DRAIN = 16  # instructions a hart may run after writing the finisher, to its wfi
_MASK64 = (1 << 64) - 1


@dataclass
class Stop:
    outcome: str  # exited | fault | budget | deadlock | violation
    message: str = ""
    exit_code: int | None = None
    hart: int | None = None
    pc: int | None = None
    details: dict = field(default_factory=dict)


@dataclass
class RunResult:
    outcome: str
    exit_code: int | None
    message: str
    instructions: list[int]
    clocks: list[int]
    quanta: int
    schedule_digest: str
    wall_seconds: float
    stopped_hart: int | None = None
    stopped_pc: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def total_instructions(self) -> int:
        return sum(self.instructions)

    @property
    def mips(self) -> float:
        return self.total_instructions / self.wall_seconds / 1e6 if self.wall_seconds else 0.0


class Machine:
    def __init__(
        self,
        image: Image,
        harts: int = 1,
        ram_mib: int = C.RAM_DEFAULT_MIB,
        bus: ev.Bus | None = None,
        trap_atomics: bool = False,
        probes: Probes | None = None,
        sync_sites: Iterable[int] = (),
    ):
        if not 1 <= harts <= C.MAX_HARTS:
            raise BadInput(f"--harts must be between 1 and {C.MAX_HARTS} (got {harts})")
        if not C.RAM_MIN_MIB <= ram_mib <= C.RAM_MAX_MIB:
            raise BadInput(
                f"--ram must be between {C.RAM_MIN_MIB} and {C.RAM_MAX_MIB} MiB (got {ram_mib})"
            )
        self.image = image
        self.bus = bus or ev.Bus()
        self.ram_size = ram_mib << 20
        self.ram = mmap.mmap(-1, self.ram_size)
        fdt = build_fdt(harts, self.ram_size)
        self.fdt_address = fdt_address(self.ram_size, len(fdt))
        self._load(image)
        offset = self.fdt_address - C.RAM_BASE
        self.ram[offset : offset + len(fdt)] = fdt

        self.console = bytearray()
        self.stop: Stop | None = None
        self.clint = Clint(harts, self.mtime, self._msip_changed, self._mtimecmp_changed)
        self.devices: list[Device] = [
            TestFinisher(self._finish),
            self.clint,
            Uart(self._console_output),
        ]
        self.current: Hart | None = None
        # fn(hart, retired, total) after every turn: the oracle's walks, schedule recording,
        # stalls (each registers itself only when it is used).
        self.turn_hooks: list = []
        # fn(hart, pc) -> whether to preempt the hart in front of the atomic (or sync site) at
        # pc: a schedule's steps (needs trap_atomics for AMOs; pct and preempt-atomics set it).
        self.switch_at_step = None
        self._stalled: list[Hart] = []
        self.timing = None  # the virtual-time model (timing.py), when it runs
        self._timer_wake_at = NEVER  # earliest timer deadline among sleeping harts
        sites = scan(image)
        # Sites the harts must act on become traps (see hart.py): address -> original word.
        self.patched = {a: WFI for a in sites.wfi} | sites.irq_enables | sites.lrsc
        if trap_atomics:  # for the contention monitor: every AMO and fence reports itself
            self.patched |= sites.amo | sites.fence
        self.probes = probes or Probes()
        # Plain loads and stores of synchronization words, executed by the hart as steps of
        # pct's `sync` unit (syncsites.py); never a probed entry.
        self.sync_sites = {
            a: self.instruction_at(a) for a in sync_sites if a not in self.probes.by_entry
        }
        self.patched |= self.sync_sites
        self.sites = sites
        for site, word in self.patched.items():
            offset = site - C.RAM_BASE
            length = length_of(word)
            self.ram[offset : offset + length] = PATCH_TRAP.to_bytes(length, "little")
        for probe in self.probes.by_entry.values():
            offset = probe.address - C.RAM_BASE
            if probe.address in self.patched or not 0 <= offset < self.ram_size - 4:
                raise BadInput(f"cannot probe {probe.name} at {probe.address:#x}")
            self.ram[offset : offset + probe.length] = bytes(probe.length)
        address = ram_pointer(self.ram)
        self.harts = [Hart(self, h, address, self.ram_size) for h in range(harts)]

    # ---- loading ---------------------------------------------------------------------------

    def _load(self, image: Image) -> None:
        top = self.fdt_address
        for seg in image.segments:
            start, end = seg.address, seg.address + seg.memsize
            if start < C.RAM_BASE or end > top:
                raise BadInput(
                    f"{image.path}: segment {start:#x}-{end:#x} lies outside guest RAM "
                    f"{C.RAM_BASE:#x}-{top:#x} (--ram {self.ram_size >> 20}); link the image "
                    f"at RAM_BASE {C.RAM_BASE:#x}"
                    + (" or raise --ram" if start >= C.RAM_BASE else "")
                )
            offset = start - C.RAM_BASE
            self.ram[offset : offset + len(seg.data)] = seg.data
        if not C.RAM_BASE <= image.entry < top:
            raise BadInput(f"{image.path}: entry point {image.entry:#x} is outside guest RAM")

    def instruction_at(self, address: int) -> int:
        offset = address - C.RAM_BASE
        if not 0 <= offset <= self.ram_size - 4:
            return 0
        word = int.from_bytes(self.ram[offset : offset + 4], "little")
        return word if word & 3 == 3 else word & 0xFFFF

    # ---- time and interrupts -----------------------------------------------------------------

    def mtime(self, hart: int) -> int:
        return self.harts[hart].clock // C.INSNS_PER_MTIME_TICK

    def _pending(self, hart: Hart) -> int:
        bits = MIP_MSIP if self.clint.msip[hart.id] else 0
        if hart.clock >= hart.timer_at:
            bits |= MIP_MTIP
        return bits

    def _wake(self, hart: Hart, clock: int, reason: str) -> None:
        hart.state = HartState.RUNNING
        if clock > hart.clock:
            hart.clock = clock
        if self.bus.wants(ev.Wake):
            self.bus.emit(ev.Wake(hart.id, hart.instret, reason))

    def _msip_changed(self, target: int, source: int) -> None:
        hart = self.harts[target]
        if (
            self.clint.msip[target]
            and hart.state is HartState.SLEEPING
            and hart.sleep_mie & MIP_MSIP
        ):
            self._wake(hart, self.harts[source].clock, f"ipi from hart {source}")

    def _mtimecmp_changed(self, index: int) -> None:
        hart = self.harts[index]
        cmp = self.clint.mtimecmp[index]
        hart.timer_at = min(cmp * C.INSNS_PER_MTIME_TICK, NEVER)
        self._update_timer_wake()

    def _update_timer_wake(self) -> None:
        self._timer_wake_at = min(
            (
                h.timer_at
                for h in self.harts
                if h.state is HartState.SLEEPING and h.sleep_mie & MIP_MTIP
            ),
            default=NEVER,
        )

    def _wake_timers(self, now: int) -> None:
        """Wake sleeping harts whose timer deadline is at or before `now`."""
        for h in self.harts:
            if h.state is HartState.SLEEPING and h.sleep_mie & MIP_MTIP and h.timer_at <= now:
                self._wake(h, h.timer_at, "timer")
        self._update_timer_wake()

    def deliver_interrupts(self, hart: Hart, pc: int) -> int | None:
        """Take the highest-priority pending interrupt the hart allows, interrupted at `pc`;
        returns the handler address, or None when none is taken."""
        pending = self._pending(hart)
        handler = None
        # Software before timer: the privileged spec's priority order (MSI > MTI).
        if pending & MIP_MSIP:
            handler = hart.take_interrupt(C.IRQ_M_SOFT, pc)
        if handler is None and pending & MIP_MTIP:
            handler = hart.take_interrupt(C.IRQ_M_TIMER, pc)
        return handler

    # ---- what harts report (called from inside their quantum) ---------------------------------

    def hart_wfi(self, hart: Hart, pc: int) -> None:
        if self._pending(hart) & hart.sleep_mie:
            return  # an enabled interrupt is already pending: wfi falls through
        hart.state = HartState.SLEEPING
        if hart.sleep_mie & MIP_MTIP and hart.timer_at < self._timer_wake_at:
            self._timer_wake_at = hart.timer_at
        if self.bus.wants(ev.Sleep):
            self.bus.emit(ev.Sleep(hart.id, hart.now(), pc))

    def hart_ecall(self, hart: Hart, pc: int) -> None:
        if self.bus.wants(ev.Syscall):
            from unicorn import riscv_const as R

            uc = hart.uc
            args = tuple(uc.reg_read(getattr(R, f"UC_RISCV_REG_A{i}")) for i in range(6))
            number = uc.reg_read(R.UC_RISCV_REG_A7)
            self.bus.emit(ev.Syscall(hart.id, hart.now(), pc, number, args, hart.clock_now()))

    def hart_trap(self, hart: Hart, cause: int, pc: int, tval: int) -> None:
        if self.bus.wants(ev.Trap):
            self.bus.emit(ev.Trap(hart.id, hart.now(), pc, cause, tval))

    def hart_unhandled_trap(self, hart: Hart, cause: int, pc: int, tval: int) -> None:
        self.hart_fault(
            hart,
            pc,
            f"{_exception_text(cause, tval)} and no trap handler (mtvec = 0): set mtvec, "
            "or fix the code that got here",
        )

    def hart_error(self, hart: Hart, error: UcError) -> None:
        what, pc = hart.describe_error(error)
        self.hart_fault(hart, pc, what)

    def hart_fault(self, hart: Hart, pc: int, what: str, suffix: str = "") -> None:
        """Stop the run with a fault at `pc` (the first fault wins)."""
        if self.stop is None:
            self.stop = Stop(
                "fault",
                f"hart {hart.id}: {what} at {self.image.where(pc)}{suffix}",
                hart=hart.id,
                pc=pc,
            )

    def stall(self, hart: Hart, instructions: int) -> None:
        """Take the hart off the CPU (from inside its turn) until the others have run
        `instructions` instructions, or nobody else can run."""
        hart.state = HartState.STALLED
        hart.stall_left = instructions
        self._stalled.append(hart)
        if self._count_stalls not in self.turn_hooks:
            self.turn_hooks.append(self._count_stalls)
        hart.request_switch()

    def _count_stalls(self, ran: Hart, retired: int, total: int) -> None:
        for h in list(self._stalled):
            if h is not ran:
                h.stall_left -= retired
            if h.stall_left <= 0:
                self._unstall(h)

    def _unstall(self, hart: Hart) -> None:
        hart.state = HartState.RUNNING
        hart.stall_left = 0
        self._stalled.remove(hart)

    def hart_violation(self, hart: Hart, pc: int, message: str, details: dict) -> None:
        """Stop the run at once: an observer (the oracle) found a broken rule at `pc`."""
        if self.stop is None:
            self.stop = Stop("violation", message, hart=hart.id, pc=pc)
            self.stop.details = details
        hart._park(pc)

    def _finish(self, hart_id: int, code: int | None) -> None:
        if self.stop is not None:
            return
        hart = self.harts[hart_id]
        if code is None:
            self.hart_fault(
                hart,
                hart.pc,
                "the guest asked for a reset, which this machine does "
                "not model; exit through the test finisher instead",
            )
            return
        if code == C.GUEST_EXIT_PANIC and hart.last_exception:
            cause, epc, tval = hart.last_exception
            self.hart_fault(
                hart,
                epc,
                _exception_text(cause, tval),
                ", which the guest did not handle (it panicked)",
            )
            self.stop.exit_code = code
            return
        self.stop = Stop("exited", exit_code=code, hart=hart_id)
        if self.bus.wants(ev.Exit):
            self.bus.emit(ev.Exit(hart_id, hart.now(), code))

    def _console_output(self, hart: int, byte: int) -> None:
        self.console.append(byte)
        if self.bus.wants(ev.Console):
            self.bus.emit(ev.Console(hart, self.harts[hart].now(), byte))

    # ---- the loop ----------------------------------------------------------------------------

    def run(self, policy: Policy, max_instructions: int) -> RunResult:
        harts = self.harts
        msip = self.clint.msip
        total = sum(h.instret for h in harts)
        quanta = 0
        digest = 0
        started = time.perf_counter()
        while self.stop is None:
            pick = policy.next(harts)
            if pick is None and self._stalled:  # only stalled harts could run: end the stalls
                for h in list(self._stalled):
                    self._unstall(h)
                continue
            if pick is None:
                if not self._skip_idle_time():
                    self.stop = Stop(
                        "deadlock", "every hart sleeps in wfi and no interrupt can wake any of them"
                    )
                continue
            hart, quantum = pick
            remaining = max_instructions - total
            if remaining <= 0:
                self.stop = Stop(
                    "budget",
                    f"the instruction budget ({max_instructions}) ran "
                    "out; raise --max-instructions if the guest is "
                    "not stuck",
                    hart=hart.id,
                    pc=hart.pc,
                )
                break
            if quantum > remaining:
                quantum = remaining
            if msip[hart.id] or hart.clock >= hart.timer_at:
                handler = self.deliver_interrupts(hart, hart.pc)
                if handler is not None:
                    hart.pc = handler
            self.current = hart
            retired = hart.run(quantum)
            if hart.reservation is not None:
                retired += self._finish_lrsc(hart)
            if self.stop is not None and self.stop.outcome == "exited" and not hart.parked:
                retired += self._finish_exit(hart)
            total += retired
            quanta += 1
            for hook in self.turn_hooks:
                hook(hart, retired, total)
            digest = (digest * 1000003 + (hart.id << 32 | quantum)) & _MASK64
            if hart.clock >= self._timer_wake_at:
                self._wake_timers(self._running_floor(hart.clock))
        wall = time.perf_counter() - started
        stop = self.stop
        return RunResult(
            stop.outcome,
            stop.exit_code,
            stop.message,
            [h.instret for h in harts],
            [h.clock for h in harts],
            quanta,
            f"{digest:016x}",
            wall,
            stop.hart,
            stop.pc,
            stop.details,
        )

    def _finish_lrsc(self, hart: Hart) -> int:
        """The turn ended between an LR and its SC: run the hart on to the SC, at most
        LRSC_BOUND instructions, so no other hart can come between (atomics.py)."""
        retired = 0
        while (
            hart.reservation is not None
            and retired < LRSC_BOUND
            and self.stop is None
            and hart.state is HartState.RUNNING
            and not hart.parked
        ):
            retired += hart.run(1)
        if hart.reservation is not None:
            hart.reservation = None
            hart.reservations_dropped += 1
        return retired

    def _finish_exit(self, hart: Hart) -> int:
        """Run the stopping hart on to the wfi that follows its finisher store, so its count
        does not depend on where the quantum happened to end (the runtime parks right after
        the store; EXIT_DRAIN bounds a guest that does not)."""
        retired = 0
        while not hart.parked and retired < EXIT_DRAIN:
            retired += hart.run(1)
        return retired

    def _running_floor(self, default: int) -> int:
        """The earliest clock among running harts: time no hart can be behind any more."""
        return min((h.clock for h in self.harts if h.state is HartState.RUNNING), default=default)

    def _skip_idle_time(self) -> bool:
        """Nobody can run: jump to the earliest timer deadline of a sleeping hart, if any."""
        self._update_timer_wake()
        if self._timer_wake_at >= NEVER:
            return False
        self._wake_timers(self._timer_wake_at)
        return True
