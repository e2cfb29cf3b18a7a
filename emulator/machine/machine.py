"""The machine: shared RAM, devices, N harts, and the scheduler loop that runs them.

Virtual time: each hart has a clock in instructions (its retired count plus the time it slept).
mtime, as read by a hart, is its own clock / INSNS_PER_MTIME_TICK, sampled when its current
quantum began. A sleeping hart wakes when an enabled interrupt is pending: an IPI or an
external interrupt from the PLIC (its clock jumps to that of the hart whose store raised it), or
its timer once every running hart's clock has passed the deadline (or at once, when nobody is
running).

On the native layer the loop runs in C (emulator/native/src/turns.c) for as long as turns need
nothing of Python, the policy deciding there from the state it hands over (NativeSchedule);
a turn that needs Python comes back to `run`, picked or run, and the rest of it is done there.
"""

from __future__ import annotations

import mmap
import time
from dataclasses import dataclass, field
from enum import StrEnum

from unicorn import UC_HOOK_CODE

from emulator.machine import boot, faults
from emulator.machine import events as ev
from emulator.machine.atomics import finish_reservation
from emulator.machine.devices import Clint, Device, Plic, TestFinisher, Uart
from emulator.machine.errors import BadInput
from emulator.machine.fdt import build_fdt, fdt_address
from emulator.machine.hart import NEVER, TRAP_WORD, Hart, HartState
from emulator.machine.hooks import Hooks, Policy
from emulator.machine.image import Image
from emulator.machine.isa import (
    MASK64,
    MIP_MEIP,
    MIP_MSIP,
    MIP_MTIP,
    MIP_SEIP,
    X,
    exception_text,
    length_of,
)
from emulator.machine.nativehart import INT64_MAX, Native, NativeHart
from emulator.machine.sites import scan
from emulator.native import enabled as native_enabled
from emulator.native.layout import LOOP_LIMIT, LOOP_NO_PICK, LOOP_PICKED, LOOP_RAN
from guest.contract import C


class Outcome(StrEnum):
    """How a run ended (summary.json `outcome`)."""

    EXITED = "exited"  # the guest wrote the test finisher
    FAULT = "fault"  # an unhandled trap, an access outside memory, ...
    BUDGET = "budget"  # the instruction budget ran out
    DEADLOCK = "deadlock"  # every hart sleeps and nothing can wake any
    VIOLATION = "violation"  # an instrument (the oracle) found a broken rule
    KILLED = "killed"  # a debugger killed the run (GDB's kill)


NOT_FINISHED = (Outcome.FAULT, Outcome.BUDGET, Outcome.DEADLOCK)  # how a boot can go nowhere
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
    native: bool = False  # the native layer ran it (not in the summary: both paths agree)

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
    once) and `stall` (take a hart off the CPU for a while).

    Booting follows QEMU virt (boot.py): `image` is the kernel (None: a firmware alone), and
    with a `firmware` every hart starts in the reset ROM, which enters it; without one (QEMU's
    `-bios none`), every hart starts at the kernel's entry."""

    def __init__(
        self,
        image: Image | None,
        harts: int = 1,
        ram_mib: int = C.RAM_DEFAULT_MIB,
        hooks: Hooks | None = None,
        firmware: Image | None = None,
    ):
        if not 1 <= harts <= C.MAX_HARTS:
            raise BadInput(f"--harts must be between 1 and {C.MAX_HARTS} (got {harts})")
        if not C.RAM_MIN_MIB <= ram_mib <= C.RAM_MAX_MIB:
            raise BadInput(
                f"--ram must be between {C.RAM_MIN_MIB} and {C.RAM_MAX_MIB} MiB (got {ram_mib})"
            )
        if image is None and firmware is None:
            raise BadInput("nothing to boot: give a kernel, a firmware (--bios FILE) or both")
        self.native: Native | None = None
        self._python_turn: Hart | None = None
        self.kernel = image
        self.firmware = firmware
        self.image: Image = image or firmware  # type: ignore[assignment]  # instruments see it
        self.hooks = hooks = hooks or Hooks()
        self.bus = hooks.bus
        self.ram_size = ram_mib << 20
        self.ram = mmap.mmap(-1, self.ram_size)
        fdt = build_fdt(harts, self.ram_size)
        self.fdt_address = fdt_address(self.ram_size, len(fdt))
        boot.check_layout(firmware, image, self.ram_size, self.fdt_address)
        for program in (firmware, image):
            if program is not None:
                self._load(program)
        offset = self.fdt_address - C.RAM_BASE
        self.ram[offset : offset + len(fdt)] = fdt
        self.mask_rom = boot.reset_rom(self.fdt_address, image.start if image else 0)

        self.console = bytearray()
        self._console_lines: dict[int, list[tuple[int, int]]] = {}  # hart -> (byte, time) so far
        self.stop = None
        self.clint = Clint(harts, self.mtime, self._msip_changed, self._mtimecmp_changed)
        self.plic = Plic(harts, self._external_interrupt)
        self.uart = Uart(self._console_output, self._uart_interrupt)
        self.devices: list[Device] = [TestFinisher(self._finish), self.clint, self.uart, self.plic]
        self._stalled: list[Hart] = []
        self._timer_wake_at = NEVER  # earliest timer deadline among sleeping harts
        self.sites = sites = scan(firmware, image)
        # every address the loader wrote a trap over -> the bytes that were there (a debugger
        # shows those)
        self.under_traps: dict[int, bytes] = {}
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
                    raise BadInput(f"cannot place a trap at {self.where(address)}")
                self._write_trap(address, trap.length)
        if firmware is not None:  # the reset ROM sets every register the firmware reads
            starts = [(C.MROM_BASE, ()) for h in range(harts)]
        else:  # as the reset ROM would leave them, minus its instructions (boot.py)
            entry, args = self.image.entry, (self.fdt_address, boot.FW_DYNAMIC_INFO)
            starts = [(entry, (h, *args)) for h in range(harts)]
        # The native layer (emulator/native), when it runs: traps and per-event work in C. A
        # debugger stops harts inside their turns, which the Python hart offers (hooks.py):
        # with one the run takes the Python path, the same run byte for byte (test_native).
        use_native = native_enabled() and hooks.debugger is None
        self.native = Native(self, harts) if use_native else None
        if self.native is not None:
            native = self.native
            self.harts: list[Hart] = [
                NativeHart(self, h, pc, args, native) for h, (pc, args) in enumerate(starts)
            ]
            native.install(self._replaced)
            self._timer_wake_at = self._timer_wake_at  # C's copy too
        else:
            self.harts = [Hart(self, h, pc, args) for h, (pc, args) in enumerate(starts)]
        # With a firmware and a kernel, whether any hart ever ran the kernel: a run that ends
        # without says so. A code hook on the kernel's addresses finds out, and goes as soon as
        # it has (any code hook slows unicorn down everywhere).
        self.kernel_reached: bool | None = None
        self._kernel_watches: list[int] = []
        if firmware is not None and image is not None:
            self.kernel_reached = False
            self._kernel_watches = [
                h.uc.hook_add(UC_HOOK_CODE, self._on_kernel, None, image.start, self.fdt_address)
                for h in self.harts
            ]

    # ---- loading ---------------------------------------------------------------------------------

    def _load(self, image: Image) -> None:
        for seg in image.segments:
            offset = seg.address - C.RAM_BASE
            self.ram[offset : offset + len(seg.data)] = seg.data

    def _on_kernel(self, *_: object) -> None:
        self.kernel_reached = True

    def _unwatch_kernel(self) -> None:
        for hart, watch in zip(self.harts, self._kernel_watches, strict=True):
            hart.uc.hook_del(watch)
            hart.uc.ctl_flush_tb()  # code translated while the hook was there still calls it
        self._kernel_watches = []

    def _kernel_not_reached(self) -> str:
        firmware, kernel = self.firmware, self.kernel
        assert firmware is not None and kernel is not None
        return (
            f"; the firmware ({firmware.path.name}) never reached the kernel: no hart ran at "
            f"{kernel.start:#x} or above"
        )

    def where(self, pc: int) -> str:
        """`pc` with the symbol and line the image holding it knows (the firmware's, the
        kernel's), or the ROM it is in."""
        if C.MROM_BASE <= pc < C.MROM_BASE + C.MROM_SIZE:
            return f"{pc:#x} (reset ROM)"
        fw = self.firmware
        if fw is not None and fw is not self.kernel and fw.start <= pc < fw.end:
            return f"{fw.where(pc)} in {fw.path.name}"
        return self.image.where(pc)

    def _write_trap(self, address: int, length: int) -> None:
        offset = address - C.RAM_BASE
        self.under_traps[address] = bytes(self.ram[offset : offset + length])
        self.ram[offset : offset + length] = TRAP_WORD.to_bytes(length, "little")

    @property
    def _timer_wake_at(self) -> int:
        """The earliest timer deadline among sleeping harts (NEVER: none); C's too, so that
        its turn loop hands back when a turn reaches it (an MMIO write may move it)."""
        return self._wake_at

    @_timer_wake_at.setter
    def _timer_wake_at(self, value: int) -> None:
        self._wake_at = value
        if self.native is not None:
            self.native.m.timer_wake_at = min(value, INT64_MAX)

    @property
    def _turn(self) -> Hart | None:
        """The hart whose turn it is (device accesses are its): C's while its loop runs."""
        if self.native is not None:
            turn = self.native.m.turn
            return self.harts[turn] if turn >= 0 else None
        return self._python_turn

    @_turn.setter
    def _turn(self, hart: Hart | None) -> None:
        if self.native is not None:
            self.native.m.turn = -1 if hart is None else hart.id
        self._python_turn = hart

    @property
    def stop(self) -> Stop | None:
        """Why the run ended; None while it goes on."""
        return self._stop

    @stop.setter
    def stop(self, value: Stop | None) -> None:
        self._stop = value
        if self.native is not None:
            self.native.m.stopped = value is not None

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
                f"hart {hart.id}: {what} at {self.where(pc)}{suffix}",
                hart=hart.id,
                pc=pc,
            )

    def memory_fault(self, hart: Hart, pc: int, kind: str, address: int) -> None:
        """Stop the run for an access nothing answers (faults.py): the region it went to, and
        for an instruction fetch, the jump that went there."""
        regions = faults.memory_map(self.ram_size, self.devices)
        to = faults.describe_address(address, regions)
        if kind != "fetch":
            self.fault(hart, pc, f"{'store to' if kind == 'store' else 'load from'} {to}")
            return
        read = lambda r: hart.read_reg(X[r]) if r else 0  # noqa: E731
        jumps = faults.jumps_to(address, self._code(), read)
        ra = read(1)
        if len(jumps) > 1:  # the function called last holds it, if that is one of them
            callee = faults.callee_of_return_address(ra, self.instruction_at)
            hit = callee is not None and self.image.symbol_at(callee)
            if hit:
                start, size = hit[0].address, hit[0].size
                narrowed = [j for j in jumps if 0 <= j.pc - start < size]
                jumps = narrowed or jumps
        context = f"; ra = {self.where(ra)}" if self.image.contains(ra, code=True) else ""
        if len(jumps) == 1:
            jump = jumps[0]
            suffix = "" if jump.kind == "call" else context
            self.fault(hart, jump.pc, f"{jump.kind} to {to}", suffix)
            return
        others = [j for j in jumps if j.kind != "return"]
        if len(others) < len(jumps):  # every ret in the image would go there
            what = f"return to {to}: ra holds it (a return address overwritten?)"
            if others:
                some = "a jump" if len(others) == 1 else f"one of {len(others)} jumps"
                what += f", or {some} through a register that holds it too"
        elif jumps:
            some = ", ".join(self.where(j.pc) for j in jumps[:3])
            more = f" and {len(jumps) - 3} more" if len(jumps) > 3 else ""
            what = f"jump to {to} by one of {len(jumps)} jumps that go there: {some}{more}"
        else:
            what = f"instruction fetch from {to}{context}"
        if self.stop is None:
            self.stop = Stop(Outcome.FAULT, f"hart {hart.id}: {what}", hart=hart.id, pc=address)

    def _code(self) -> list[tuple[int, bytes]]:
        """The kernel's and the firmware's instructions, as their files hold them."""
        images = {id(i): i for i in (self.kernel, self.firmware) if i is not None}
        return [stretch for image in images.values() for stretch in image.code()]

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

    def end(self, hart: Hart, message: str) -> None:
        """Stop the run at once, where `hart` stands (a debugger's kill)."""
        if self.stop is None:
            self.stop = Stop(Outcome.KILLED, message, hart=hart.id, pc=hart.pc)

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

    def _external_interrupt(self, hart: int, supervisor: bool, level: bool) -> None:
        """The PLIC raised or lowered a hart's external interrupt line (MEIP or SEIP); a hart
        asleep on it wakes at the time of the hart whose access raised it, as for an IPI."""
        target = self.harts[hart]
        target.set_irq(MIP_SEIP if supervisor else MIP_MEIP, level)
        if level and target.state is HartState.SLEEPING and target.pending_enabled():
            source = self._turn or target
            self._wake(target, source.clock, f"external interrupt (hart {source.id})")

    def _uart_interrupt(self, level: bool) -> None:
        self.plic.set_source(C.UART_IRQ, level)

    def _console_output(self, hart: int, byte: int) -> None:
        """A byte a hart wrote to the UART. It waits in that hart's own line until the hart's
        newline, so lines of different harts never mix: a panic writes whether or not another
        hart holds the console lock, and harts panicking together would share a line."""
        line = self._console_lines.setdefault(hart, [])
        line.append((byte, self.harts[hart].now()))
        if byte == 10:
            self._console_line(hart)

    def _console_line(self, hart: int) -> None:
        line = self._console_lines.pop(hart, [])
        self.console += bytes(b for b, _ in line)
        if self.bus.wants(ev.Console):
            for byte, now in line:
                self.bus.emit(ev.Console(hart, now, byte))

    def _flush_console(self) -> None:
        """The run ended: lines still open (no newline yet) go out as they are, each on a line of
        its own."""
        for hart in sorted(self._console_lines):
            line = self._console_lines[hart]
            if self.console and self.console[-1] != 10:
                line.insert(0, (10, line[0][1]))
            self._console_line(hart)

    # ---- the loop --------------------------------------------------------------------------------

    def run(self, policy: Policy, max_instructions: int) -> RunResult:
        harts = self.harts
        if self.native is not None:
            self.native.refresh()
        after_turn = self.hooks.after_turn
        memory_log = self.hooks.memory_log
        record = self.hooks.turns
        total = sum(h.instret for h in harts)
        quanta = 0
        digest = 0
        # The native turn loop (src/turns.c) runs the turns whose only work is the turn itself:
        # not with a hook after every turn, nor while the kernel is watched for.
        native = self.native
        loop = None
        if native is not None and not after_turn and not self._kernel_watches:
            state = getattr(policy, "native_schedule", lambda: None)()
            if state is not None:
                native.set_schedule(state)
                loop = native.loop(max_instructions)
        in_c = loop is not None  # the policy's state is C's
        started = time.perf_counter()
        while self.stop is None:
            ran = None
            if loop is not None and not self._stalled:
                if not in_c:
                    native.set_schedule(policy.native_schedule())  # type: ignore[attr-defined]
                    in_c = True
                loop.total, loop.quanta, loop.digest = total, quanta, digest
                reason = native.run_turns(loop)
                total, quanta, digest = loop.total, loop.quanta, loop.digest
                if record is not None:
                    native.take_turns(loop, record)
                native.drain()
                if memory_log is not None:
                    for h in harts:
                        h.take_accesses()
                if reason == LOOP_LIMIT:
                    continue
                if reason == LOOP_RAN:
                    hart, quantum = harts[loop.hart], loop.quantum
                    ran = hart.after_run(loop.retired)  # type: ignore[attr-defined]
                elif reason == LOOP_PICKED:
                    pick = harts[loop.hart], loop.quantum
                elif reason == LOOP_NO_PICK:
                    pick = None
                else:  # LOOP_ASK_POLICY
                    policy.native_resume(native.schedule())  # type: ignore[attr-defined]
                    in_c = False
                    pick = policy.next(harts)
            else:
                if in_c:
                    policy.native_resume(native.schedule())  # type: ignore[attr-defined]
                    in_c = False
                pick = policy.next(harts)
            if ran is None:
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
                self._turn = hart
                retired = hart.run(quantum)
            else:
                retired = ran
            if hart.reservation is not None:
                retired += finish_reservation(hart)
            if self.stop is not None and self.stop.outcome is Outcome.EXITED and not hart.parked:
                retired += self._finish_exit(hart)
            total += retired
            quanta += 1
            if self._stalled:
                self._count_stalls(hart, retired)
            if native is not None:
                native.drain()  # traced calls reach the tracer before anyone looks
            if memory_log is not None:
                hart.take_accesses()
            if record is not None:
                record.append((hart.id, hart.instret))
            for hook in after_turn:
                hook(hart, retired, total)
            digest = (digest * 1000003 + (hart.id << 32 | quantum)) & MASK64
            if hart.clock >= self._timer_wake_at:
                self._wake_timers(self._running_floor(hart.clock))
            if self.kernel_reached and self._kernel_watches:
                self._unwatch_kernel()
        if in_c:
            policy.native_resume(native.schedule())  # type: ignore[attr-defined,union-attr]
        if self.native is not None:
            self.native.end_of_run()
        if memory_log is not None:
            memory_log.loads = [h.loads for h in self.harts]
            memory_log.stores = [h.stores for h in self.harts]
        wall = time.perf_counter() - started
        self._flush_console()
        stop = self.stop
        message = stop.message
        if self.kernel_reached is False and stop.outcome in NOT_FINISHED:
            message += self._kernel_not_reached()
        return RunResult(
            stop.outcome,
            stop.exit_code,
            message,
            [h.instret for h in harts],
            [h.clock for h in harts],
            quanta,
            f"{digest:016x}",
            wall,
            stop.hart,
            stop.pc,
            stop.details,
            self.native is not None,
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
