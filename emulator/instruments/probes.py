"""Function probes: run host code when a guest function is entered and when it returns.

No code hook is involved (one would halve unicorn's speed everywhere, see machine/hart.py).
Instead, through the machine's hook registry (machine/hooks.py):

* The first instruction of each probed function becomes a trap site (Hooks.traps), so entering
  the function lands in the probe's handler.
* The entry callback runs, and if it wants the return, the hart's `ra` is swapped for the
  address of a return trampoline in the host ROM (a trap site too); the real return address
  goes on a per-hart shadow stack. Calls nest and tail calls work: a tail call inherits the
  trampoline as its return address and the trampoline simply fires twice.
* The displaced first instruction is then executed: pc-relative ones (auipc, jal, jalr,
  branches and their compressed forms) and the register-only ones compilers open functions
  with (addi, c.addi, c.addi16sp, c.li, c.mv, c.add) are emulated here; any other runs "out of
  line" from a per-probe slot in the host ROM (the instruction, then a trap that sends the hart
  on to entry + length), as kprobes do.

Every trap the hart passes for a probe (an entry whose displaced instruction runs out of line,
a slot's exit, the trampoline) counts in unicorn's instruction count though the guest never
executed it. Each is taken off the count at once (Hart.uncount), so unicorn runs one guest
instruction more in the same emu_start: a probed run follows the same schedule as an unprobed
one, instruction for instruction.

On the native layer the same mechanism runs in C (emulator/native/src/probes.c): `install`
also describes each probe for it (Hooks.probes), with each entry callback's native twin where
the instrument gave one (the tracer's, a declared lock's) and a callback into Python where not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emulator.machine.errors import BadInput
from emulator.machine.hart import ROM_FOR_INSTRUMENTS, TRAP_WORD
from emulator.machine.hooks import (
    SKIP,
    ApiSpec,
    CallLog,
    Hooks,
    NativeProbes,
    ProbeSpec,
    TrapSite,
)
from emulator.machine.isa import (
    PC,
    RA,
    execute_alu,
    execute_control_flow,
    is_control_flow,
    is_simple_alu,
    length_of,
)
from emulator.native.layout import ACT_PYTHON
from guest.contract import C

if TYPE_CHECKING:
    from emulator.machine.hart import Hart
    from emulator.machine.image import Image
    from emulator.machine.machine import Machine

Entry = Callable[["Hart"], object]
NativeAction = tuple[int, int]  # (ACT_*, argument): an entry callback's twin in C

# Host ROM layout (the part of it the machine leaves to instruments).
TRAMPOLINE = ROM_FOR_INSTRUMENTS
SLOTS = TRAMPOLINE + 0x10
SLOT_SIZE = 8  # the displaced instruction (2 or 4 bytes), then a trap word
MAX_PROBES = (C.HOST_ROM_BASE + C.HOST_ROM_SIZE - SLOTS) // SLOT_SIZE


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
    # The entry callbacks of the probe's users, newest first, each with its native twin (or
    # None): each returns data, or None to leave it to the next; the first data (or SKIP)
    # decides. on_return(hart, frame) gets the frame of a call whose entry returned data.
    entries: list[tuple[Entry, NativeAction | None]]
    on_return: Callable[[Hart, Frame], None] | None = None
    word: int = 0  # the displaced instruction
    length: int = 4
    slot: int = 0  # its out-of-line slot in the host ROM (0: emulated here)

    def on_entry(self, hart: Hart) -> object:
        for entry, _ in self.entries:
            data = entry(hart)
            if data is not None:
                return data
        return None


class Probes:
    """The probes of one run: registers them as trap sites and ROM code in the machine's hooks
    (`install`), and keeps each hart's shadow stack of probed calls in progress."""

    def __init__(self) -> None:
        self.by_entry: dict[int, Probe] = {}
        self._slots = 0
        self._shadows: dict[int, list[Frame]] = {}
        # the tracer's functions for ACT_TRACE (their index is the action's argument), and
        # the tracer's function that takes the native layer's records of traced calls
        self.apis: list[ApiSpec] = []
        self.records: Callable[[list[tuple]], None] | None = None
        self.first_entry_now = True
        self.log: CallLog | None = None  # the trace writer's per-call work, for C to do
        self.ecall_caller = False  # a system call's caller is its hart's latest ecall, not mepc
        self.before_install: list[Callable[[], None]] = []  # users' last words (the tracer's)
        self._native = None

    def shadow(self, hart: int) -> list[Frame]:
        """Probed calls in progress on `hart`, innermost last."""
        found = self._shadows.get(hart)
        if found is None:
            found = self._shadows[hart] = []
        return found

    def any_in_progress(self) -> bool:
        if self._native is not None:
            return bool(self._native.lib.nm_frames_in_progress(self._native.pointer))
        return any(self._shadows.values())

    def attach(self, machine: Machine) -> None:
        """The machine exists: on the native layer, its shadow stacks are C's."""
        self._native = machine.native

    def add(self, probe: Probe, word: int) -> None:
        old = self.by_entry.get(probe.address)
        if old is not None:  # two users of one function: the newest entry callback runs first
            if old.on_return is not None and probe.on_return is not None:
                raise BadInput(f"two return probes on {probe.name} at {probe.address:#x}")
            old.entries[:0] = probe.entries
            old.on_return = old.on_return or probe.on_return
            return
        probe.word = word
        probe.length = length_of(word)
        if not (is_control_flow(word) or is_simple_alu(word)):
            if self._slots >= MAX_PROBES:
                raise BadInput(f"more than {MAX_PROBES} probed functions")
            probe.slot = SLOTS + self._slots * SLOT_SIZE
            self._slots += 1
        self.by_entry[probe.address] = probe

    def add_symbol(
        self,
        image: Image,
        name: str,
        on_entry: Entry,
        on_return: Callable[[Hart, Frame], None] | None = None,
        native: NativeAction | None = None,
    ) -> bool:
        """Probe the function `name` of `image`; False when the image has no such code.
        `native`: what the native layer does in place of on_entry (and on_return)."""
        sym = image.symbol(name)
        return sym is not None and self.add_address(
            image, sym.address, name, on_entry, on_return, native
        )

    def add_address(
        self,
        image: Image,
        address: int,
        name: str,
        on_entry: Entry,
        on_return: Callable[[Hart, Frame], None] | None = None,
        native: NativeAction | None = None,
    ) -> bool:
        """Probe the code at `address` of `image`; False when the image loads nothing there."""
        word = image.read(address, 4)
        if word is None:
            return False
        value = int.from_bytes(word, "little")
        probe = Probe(address, name, [(on_entry, native)], on_return)
        self.add(probe, value & 0xFFFF if value & 3 != 3 else value)
        return True

    def install(self, hooks: Hooks) -> None:
        """Register every probe's trap sites and ROM code (before the machine is built)."""
        if not self.by_entry:
            return
        for prepare in self.before_install:
            prepare()
        trap = TRAP_WORD.to_bytes(4, "little")
        hooks.rom.append((TRAMPOLINE, trap))
        hooks.traps[TRAMPOLINE] = TrapSite(4, self._on_trampoline)
        for probe in self.by_entry.values():
            if probe.address in hooks.traps:
                raise BadInput(f"cannot probe {probe.name} at {probe.address:#x} twice")
            hooks.traps[probe.address] = TrapSite(probe.length, self._entry(probe))
            if probe.slot:
                code = probe.word.to_bytes(probe.length, "little") + trap
                hooks.rom.append((probe.slot, code))
                hooks.traps[probe.slot + probe.length] = TrapSite(4, self._slot_exit(probe))
        hooks.probes = NativeProbes(
            TRAMPOLINE,
            [self._native_spec(p) for p in self.by_entry.values()],
            self.apis,
            self.records,
            self.first_entry_now,
            self.ecall_caller,
            self.log,
        )

    @staticmethod
    def _native_spec(probe: Probe) -> ProbeSpec:
        """The probe as the native layer runs it: each entry callback's twin, or Python."""
        actions, python = [], []
        for entry, native in probe.entries:
            if native is None:
                native = (ACT_PYTHON, len(python))
                python.append(entry)
            actions.append(native)
        back = probe.on_return

        def python_return(hart: Hart, return_address: int, data: object) -> None:
            back(hart, Frame(probe, return_address, data))  # type: ignore[misc]

        return ProbeSpec(
            probe.address, probe.word, probe.length, probe.slot, back is not None, actions,
            python, python_return if back is not None else None,
        )  # fmt: skip

    def _entry(self, probe: Probe) -> Callable[[Hart, int], None]:
        def on_entry(hart: Hart, _: int) -> None:
            data = probe.on_entry(hart)
            if data is SKIP:
                return
            if data is not None and probe.on_return is not None:
                self.shadow(hart.id).append(Frame(probe, hart.read_reg(RA), data))
                hart.write_reg(RA, TRAMPOLINE)
            if not hart.host.stopped:
                step_displaced(hart, probe)

        return on_entry

    def _on_trampoline(self, hart: Hart, _: int) -> None:
        frame = self.shadow(hart.id).pop()
        hart.write_reg(PC, frame.return_address)
        frame.probe.on_return(hart, frame)  # type: ignore[misc]
        hart.uncount()

    @staticmethod
    def _slot_exit(probe: Probe) -> Callable[[Hart, int], None]:
        def on_exit(hart: Hart, _: int) -> None:
            hart.uncount()
            hart.write_reg(PC, probe.address + probe.length)

        return on_exit


# ---- executing the displaced instruction ---------------------------------------------------------


def step_displaced(hart: Hart, probe: Probe) -> None:
    """Continue the hart after a probe's entry: run the displaced instruction."""
    if probe.slot:
        hart.uncount()  # the entry's trap; the slot's exit trap is taken off at the exit
        hart.write_reg(PC, probe.slot)
        return
    run = execute_control_flow if is_control_flow(probe.word) else execute_alu
    hart.write_reg(PC, run(probe.word, probe.address, hart.x, hart.set_x))
