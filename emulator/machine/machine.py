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
from dataclasses import dataclass, field
from enum import StrEnum

from emulator.machine import events as ev
from emulator.machine.atomics import finish_reservation
from emulator.machine.devices import Clint, Device, TestFinisher, Uart
from emulator.machine.errors import BadInput
from emulator.machine.fdt import build_fdt, fdt_address
from emulator.machine.hart import TRAP_WORD, Hart, HartState
from emulator.machine.hooks import Hooks, Policy
from emulator.machine.image import Image
from emulator.machine.isa import MASK64, MIP_MSIP, MIP_MTIP, exception_text, length_of
from emulator.machine.sites import scan
from guest.contract import C


class Outcome(StrEnum):
    """How a run ended (summary.json `outcome`)."""

    EXITED = "exited"  # the guest wrote the test finisher
    FAULT = "fault"  # an unhandled trap, an access outside memory, ...
    BUDGET = "budget"  # the instruction budget ran out
    DEADLOCK = "deadlock"  # every hart sleeps and nothing can wake any
    VIOLATION = "violation"  # an instrument (the oracle) found a broken rule


NEVER = 1 << 80
EXIT_DRAIN = 16  # instructions a hart may run after writing the finisher, to its wfi


@dataclass
class Stop:
    outcome: Outcome
    message: str = ""
    exit_code: int | None = None
    hart: int | None = None
    pc: int | None = None
    details: dict = field(default_factory=dict)


@dataclass
class RunResult:
    outcome: Outcome
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
    """The machine: RAM, devices, harts and the loop that runs them (module docstring).

    Everything above it comes in through `hooks` (hooks.py), given here and never changed later;
    it calls back through two documented requests only: `request_violation` (stop the run at
    once) and `stall` (take a hart off the CPU for a while)."""

    def __init__(
        self,
        image: Image,
        harts: int = 1,
        ram_mib: int = C.RAM_DEFAULT_MIB,
        hooks: Hooks | None = None,
    ):
        if not 1 <= harts <= C.MAX_HARTS:
            raise BadInput(f"--harts must be between 1 and {C.MAX_HARTS} (got {harts})")
        if not C.RAM_MIN_MIB <= ram_mib <= C.RAM_MAX_MIB:
            raise BadInput(
                f"--ram must be between {C.RAM_MIN_MIB} and {C.RAM_MAX_MIB} MiB (got {ram_mib})"
            )
        self.image = image
        self.hooks = hooks = hooks or Hooks()
        self.bus = hooks.bus
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
        self._stalled: list[Hart] = []
        self._timer_wake_at = NEVER  # earliest timer deadline among sleeping harts
        self.sites = sites = scan(image)
        # Sites the harts must act on become traps (hart.py): address -> original word.
        self._replaced = dict(sites.lrsc)
        if hooks.watch_atomics:  # every AMO and write fence reports itself
            self._replaced |= sites.amo | sites.fence
        # Plain loads and stores of synchronization words, executed by the hart as schedule
        # steps (pct's `sync` unit); never an instrument's trap site.
        self._replaced |= {
            a: self.instruction_at(a) for a in hooks.sync_sites if a not in hooks.traps
        }
        for site, word in self._replaced.items():
            self._write_trap(site, length_of(word))
        for address, trap in hooks.traps.items():
            if not C.HOST_ROM_BASE <= address < C.HOST_ROM_BASE + C.HOST_ROM_SIZE:
                offset = address - C.RAM_BASE
                if address in self._replaced or not 0 <= offset < self.ram_size - 4:
                    raise BadInput(f"cannot place a trap at {self.image.where(address)}")
                self._write_trap(address, trap.length)
        boot = (self.fdt_address,)
        self.harts = [Hart(self, h, image.entry, (h, *boot)) for h in range(harts)]

    # ---- loading ---------------------------------------------------------------------------------

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

    def _write_trap(self, address: int, length: int) -> None:
        offset = address - C.RAM_BASE
        self.ram[offset : offset + length] = TRAP_WORD.to_bytes(length, "little")

    # ---- what a hart may ask (hooks.HartHost) ----------------------------------------------------

    @property
    def stopped(self) -> bool:
        return self.stop is not None

    def original(self, address: int) -> int | None:
        return self._replaced.get(address)

    def instruction_at(self, address: int) -> int:
        offset = address - C.RAM_BASE
        if not 0 <= offset <= self.ram_size - 4:
            return 0
        word = int.from_bytes(self.ram[offset : offset + 4], "little")
        return word if word & 3 == 3 else word & 0xFFFF

    def mtime(self, hart: int) -> int:
        return self.harts[hart].clock // C.INSNS_PER_MTIME_TICK

    def sleep(self, hart: Hart, pc: int) -> None:
        if hart.pending_enabled():
            return  # an enabled interrupt is already pending: wfi falls through
        hart.state = HartState.SLEEPING
        if hart.csrs.mie & MIP_MTIP and hart.timer_at < self._timer_wake_at:
            self._timer_wake_at = hart.timer_at
        if self.bus.wants(ev.Sleep):
            self.bus.emit(ev.Sleep(hart.id, hart.instret - 1, pc))

    def fault(self, hart: Hart, pc: int, what: str, suffix: str = "") -> None:
        if self.stop is None:
            self.stop = Stop(
                Outcome.FAULT,
                f"hart {hart.id}: {what} at {self.image.where(pc)}{suffix}",
                hart=hart.id,
                pc=pc,
            )

    # ---- time and interrupts ---------------------------------------------------------------------

    def _wake(self, hart: Hart, clock: int, reason: str) -> None:
        hart.state = HartState.RUNNING
        if clock > hart.clock:
            hart.clock = clock
        if self.bus.wants(ev.Wake):
            self.bus.emit(ev.Wake(hart.id, hart.instret, reason))

    def _msip_changed(self, target: int, source: int) -> None:
        hart = self.harts[target]
        hart.set_irq(MIP_MSIP, bool(self.clint.msip[target]))
        if hart.state is HartState.SLEEPING and hart.pending_enabled():
            self._wake(hart, self.harts[source].clock, f"ipi from hart {source}")

    def _mtimecmp_changed(self, index: int) -> None:
        hart = self.harts[index]
        cmp = self.clint.mtimecmp[index]
        hart.timer_at = min(cmp * C.INSNS_PER_MTIME_TICK, NEVER)
        if hart.state is not HartState.SLEEPING:
            hart.set_irq(MIP_MTIP, hart.clock >= hart.timer_at)
        self._update_timer_wake()

    def _update_timer_wake(self) -> None:
        self._timer_wake_at = min(
            (
                h.timer_at
                for h in self.harts
                if h.state is HartState.SLEEPING and h.csrs.mie & MIP_MTIP
            ),
            default=NEVER,
        )

    def _wake_timers(self, now: int) -> None:
        """Wake sleeping harts whose timer deadline is at or before `now`."""
        for h in self.harts:
            if h.state is HartState.SLEEPING and h.csrs.mie & MIP_MTIP and h.timer_at <= now:
                self._wake(h, h.timer_at, "timer")
                h.set_irq(MIP_MTIP, True)
        self._update_timer_wake()

    # ---- requests from above (instruments) -------------------------------------------------------

    def stall(self, hart: Hart, instructions: int) -> None:
        """Take the hart off the CPU (from inside its turn) until the others have run
        `instructions` instructions, or nobody else can run."""
        hart.state = HartState.STALLED
        hart.stall_left = instructions
        self._stalled.append(hart)
        hart.request_switch()

    def _count_stalls(self, ran: Hart, retired: int) -> None:
        for h in list(self._stalled):
            if h is not ran:
                h.stall_left -= retired
            if h.stall_left <= 0:
                self._unstall(h)

    def _unstall(self, hart: Hart) -> None:
        hart.state = HartState.RUNNING
        hart.stall_left = 0
        self._stalled.remove(hart)

    def request_violation(self, hart: Hart, pc: int, message: str, details: dict) -> None:
        """Stop the run at once: an instrument (the oracle) found a broken rule at `pc`."""
        if self.stop is None:
            self.stop = Stop(Outcome.VIOLATION, message, hart=hart.id, pc=pc)
            self.stop.details = details
        hart.park(pc)

    def _finish(self, hart_id: int, code: int | None) -> None:
        if self.stop is not None:
            return
        hart = self.harts[hart_id]
        if code is None:
            self.fault(
                hart,
                hart.pc,
                "the guest asked for a reset, which this machine does "
                "not model; exit through the test finisher instead",
            )
            return
        if code == C.GUEST_EXIT_PANIC and hart.last_exception:
            cause, epc, tval = hart.last_exception
            self.fault(
                hart,
                epc,
                exception_text(cause, tval),
                ", which the guest did not handle (it panicked)",
            )
            self.stop.exit_code = code  # type: ignore[union-attr]
            return
        self.stop = Stop(Outcome.EXITED, exit_code=code, hart=hart_id)
        if self.bus.wants(ev.Exit):
            self.bus.emit(ev.Exit(hart_id, hart.now(), code))

    def _console_output(self, hart: int, byte: int) -> None:
        self.console.append(byte)
        if self.bus.wants(ev.Console):
            self.bus.emit(ev.Console(hart, self.harts[hart].now(), byte))

    # ---- the loop --------------------------------------------------------------------------------

    def run(self, policy: Policy, max_instructions: int) -> RunResult:
        harts = self.harts
        after_turn = self.hooks.after_turn
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
                        Outcome.DEADLOCK,
                        "every hart sleeps in wfi and no interrupt can wake any of them",
                    )
                continue
            hart, quantum = pick
            remaining = max_instructions - total
            if remaining <= 0:
                self.stop = Stop(
                    Outcome.BUDGET,
                    f"the instruction budget ({max_instructions}) ran "
                    "out; raise --max-instructions if the guest is "
                    "not stuck",
                    hart=hart.id,
                    pc=hart.pc,
                )
                break
            if quantum > remaining:
                quantum = remaining
            hart.set_irq(MIP_MTIP, hart.clock >= hart.timer_at)  # its time is its clock
            retired = hart.run(quantum)
            if hart.reservation is not None:
                retired += finish_reservation(hart)
            if self.stop is not None and self.stop.outcome is Outcome.EXITED and not hart.parked:
                retired += self._finish_exit(hart)
            total += retired
            quanta += 1
            if self._stalled:
                self._count_stalls(hart, retired)
            for hook in after_turn:
                hook(hart, retired, total)
            digest = (digest * 1000003 + (hart.id << 32 | quantum)) & MASK64
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
