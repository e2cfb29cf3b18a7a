"""The narrow interfaces of the machine layer.

`HartHost` is what a hart may ask of its machine and tell it (Spike's simif_t plays this part
there): the shared RAM, the sites the loader replaced, mtime, and its reports — it went to
sleep, it faulted — and whether the run has stopped. Interrupt lines go the other way: devices
raise them on a hart (`Hart.set_irq`).

`Hooks` is how everything above the machine (instruments, schedule policies) reaches a hart.
It is filled in before the machine is built and handed to it; the machine never learns who
registered what, and nothing is attached to a machine after construction:

  bus            typed events (events.py): syscalls, traps, atomics, console bytes, ...
  traps          illegal-instruction sites an instrument owns (function probes): address ->
                 TrapSite; the loader writes a trap of the site's length there (RAM) and the
                 hart calls the handler when it reaches it
  rom            code an instrument places in the host ROM: (address, bytes)
  watch_atomics  execute every AMO and write fence in the hart too (not only LR/SC), so that
                 `charge` and Atomic events see them (contention monitor, timing, steps)
  sync_sites     plain loads and stores executed by the hart as schedule steps (pct sync)
  step           fn(hart, pc) -> bool, asked in front of every atomic (and sync site): switch
                 the hart out before it runs? (a schedule's preemption points)
  charge         fn(hart, kind, address, writes): the virtual-time model's cost of an atomic
                 (kind "lr", "sc", "amo", "fence"; writes: an AMO, or an SC that succeeded)
  access         fn(hart, write, address, size): the coherence model's cost of a plain load or
                 store to RAM (a unicorn hook on every access on the Python path, and each
                 sync site's access); on the native layer `coherence` says what C charges
  after_turn     fn(hart, retired, total) after every turn (periodic checks); a Python call
                 per turn, so the native turn loop does not run while there is one
  turns          a list the machine appends (hart, its retired count) to after every turn
                 (a schedule being recorded), in either turn loop
  memory         fn(hart, write, address, size) on every load and store to RAM (a Python hook
                 on every access: several times slower; for one-off discovery runs)
  memory_log     every load and store to RAM counted and recorded per hart (MemoryLog), the
                 records handed over at the end of each turn: in C on the native layer (what
                 a model of every access, such as coherence, is built on), in Python otherwise
  debugger       a debugger attached to the run (emulator/debug/: the GDB stub), below; the
                 machine then runs the Python hart, not the native layer's

`Debugger` is what the machine asks a debugger, and what a hart offers it. The debugger must
leave the run as it would be without it (schedule, counts, digests), so it stops a hart only
between two instructions inside the hart's turn and lets the same turn go on afterwards. A hart
(the Python one in hart.py, and any other that replaces it) provides:

  a resumable turn   with a debugger, Hart.run(quantum) runs the turn as pieces of emu_start
                     whose counts add up to the quantum; between pieces the hart is stopped
                     and the debugger called (`stopped`). instret, the clock and interrupt
                     lines (MTIP) move at the turn's end only, as without a debugger;
                     Hart.now() counts the pieces so far
  breakpoints        Hart.set_breakpoints(addresses): a code hook bounded to each address
                     (UC_HOOK_CODE, begin = end), only while breakpoints are set; it stops the
                     hart in front of the instruction (not counted)
  watchpoints        Hart.set_watchpoints({Watch}): UC_HOOK_MEM_READ/WRITE bounded to each
                     range (RAM only); the hart stops in front of the accessing instruction,
                     which unicorn restarts, as GDB's RISC-V target expects (its watchpoints are
                     "non-steppable": GDB steps over the instruction itself). Measured: a load
                     stops before it writes its register; a plain store has stored already (it
                     stores the same again when restarted); an AMO is stopped at its read,
                     before it changes anything; the LR/SC, AMOs and sync accesses the hart
                     executes itself check the watches before they run
  ebreak             while `attached`, an ebreak stops the hart past it instead of trapping
                     into the guest
  Hart.set_pc        a new pc for the next piece

When the native layer runs (emulator/native), per-event work is done in C, and an instrument
describes its work here instead of registering a Python callable for it:

  count_atomics  the contention monitor's counting (per hart, site and lock) in C, in place of
                 its subscription to Atomic events; it reads the counts after the run
  atomic_costs   the timing model's charges (AtomicCosts) in C, in place of `charge`
  coherence      the coherence model's costs (CoherenceCosts) in C, in place of `access` and
                 of `charge` (src/coherence.c: every load, store and atomic)
  cache_map      cache attribution (CacheMap): the coherence model's counts per (allocator
                 operation, data structure), on either path; ACT_REGION probes name operations
  probes         function probes (NativeProbes) run in C, in place of the trap sites they
                 also registered in `traps`: their actions, the traced API, and who takes the
                 records of traced calls

`Policy` is what the machine's loop asks of a schedule; on the native layer a policy that can
hand its state over (NativeSchedule) decides in C's turn loop, with the same decisions.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from emulator.machine.events import Bus

if TYPE_CHECKING:
    from emulator.machine.devices import Device
    from emulator.machine.hart import Hart


SKIP = object()  # a probe's entry callback's answer: it has set pc itself (the call was skipped)


@dataclass
class TrapSite:
    """An address whose instruction an instrument replaced with a trap of `length` bytes."""

    length: int
    handler: Callable[[Hart, int], None]  # (hart, address): runs when the hart reaches it


@dataclass(frozen=True)
class AtomicCosts:
    """What the timing model charges per atomic, per line transfer and per write fence, in
    cycles, and its coherence granule (instruments/timing.py CostModel)."""

    atomic: int
    line_transfer: int
    fence: int
    line_bytes: int


@dataclass(frozen=True)
class CoherenceCosts:
    """The coherence model's costs beyond AtomicCosts, in cycles, and its private L1s
    (instruments/timing.py has the protocol; l1_sets = 0: an infinite L1)."""

    miss: int
    upgrade: int
    l1_sets: int
    l1_ways: int
    serialize_lines: bool


@dataclass
class CacheMap:
    """Cache attribution (instruments/cacheprofile.py): the coherence model counts each line
    touch under the hart's innermost allocator operation (0: none) and the structure its
    address lies in (0: none). Operations come from probed calls: a traced API function's op
    (`api_ops`, in NativeProbes.apis order) or an ACT_REGION probe's argument. Structures come
    from `ranges`, sorted and non-overlapping (start, end, structure), which the instrument
    may replace during the run (`set_ranges`: both paths switch at the same instruction);
    inside structure `segmented`, an address whose offset in its `segment_size`-aligned
    segment is below `segment_header` is structure `segment_header_struct`."""

    ops: list[str]
    structures: list[str]
    api_ops: list[int]
    segmented: int = -1
    segment_header_struct: int = 0
    segment_size: int = 0
    segment_header: int = 0
    ranges: list[tuple[int, int, int]] = field(default_factory=list)
    # the Python path's operation of a hart (the native layer keeps it in C)
    op_of: Callable[[int], int] | None = None
    _changed: list[Callable[[], None]] = field(default_factory=list)

    def set_ranges(self, ranges: list[tuple[int, int, int]]) -> None:
        self.ranges = ranges
        for changed in self._changed:
            changed()

    def on_change(self, fn: Callable[[], None]) -> None:
        """Whoever keeps a copy of the ranges (the native layer) is told of each change."""
        self._changed.append(fn)


@dataclass
class ApiSpec:
    """A traced function, for the native layer's tracer (instruments/tracer.py API)."""

    nargs: int
    syscall: bool  # its arguments come through a pointer in a0 (a system call's handler)
    out: bool  # posix_memalign: read the pointer it stored when it returns
    layer: int
    fail_at: int = 0  # --fail: which call (1-based) returns fail_value unrun; 0: none
    fail_value: int = 0
    now_entry: bool = True  # a listener must see each entry as it happens, not at turn end
    now_return: bool = True  # the same for each return


@dataclass
class ProbeSpec:
    """A function probe for the native layer (instruments/probes.py Probe): where, the
    displaced instruction, and its entry's actions, newest first, as (ACT_*, argument) —
    ACT_TRACE's argument indexes NativeProbes.apis; ACT_PYTHON's `python_entries`."""

    address: int
    word: int
    length: int
    slot: int  # 0: the displaced instruction is emulated
    has_return: bool
    actions: list[tuple[int, int]]
    python_entries: list[Callable[[Hart], object]] = field(default_factory=list)
    # an ACT_PYTHON action's data comes back at the return: fn(hart, return address, data)
    python_return: Callable[[Hart, int, object], None] | None = None


@dataclass
class NativeProbes:
    trampoline: int
    probes: list[ProbeSpec]
    apis: list[ApiSpec]
    # who takes the records of traced calls: fn(records), each a tuple in CALL_RECORD order
    drain: Callable[[list[tuple]], None] | None = None
    first_entry_now: bool = True  # the run's first traced entry reaches Python at once
    ecall_caller: bool = False  # a system call's caller: its hart's latest ecall (else mepc)


ACCESS = "<qQii"  # a MemoryLog record: (now, address, size, write), as layout.ACCESS


@dataclass
class MemoryLog:
    """Every load and store to RAM, per hart: counted (`loads`, `stores`) and recorded as
    (now, address, size, write) tuples — `now` the instructions the hart retired before the
    access — that `take(hart, records)` gets, in order, at the end of each turn (and when a
    hart's buffer fills). Without `take` the records are dropped after counting."""

    take: Callable[[int, list[tuple[int, int, int, int]]], None] | None = None
    loads: list[int] = field(default_factory=list)  # per hart, filled in after the run
    stores: list[int] = field(default_factory=list)


@dataclass
class NativeSchedule:
    """A policy's state, for the native turn loop to decide as the policy would (layout.
    SCHEDULE): given by the policy's `native_schedule()`, taken back by `native_resume`."""

    kind: str  # "rr", "random", "replay", "timed"
    quantum: int
    next: int = 0  # rr (and replay's round robin): the next hart to try
    rng: tuple[int, ...] = ()  # random: random.Random.getstate()[1] (624 words, position)
    turns: list[tuple[int, int]] = field(default_factory=list)  # replay: (hart, until)
    index: int = 0  # replay: the next turn


@dataclass(frozen=True)
class Watch:
    """A watched range: stop in front of an instruction that reads, writes or accesses it."""

    kind: str  # "write" | "read" | "access"
    address: int
    length: int


class Debugger(Protocol):
    """What the machine asks a debugger (module docstring)."""

    @property
    def attached(self) -> bool:
        """Whether a debugger client is attached now (ebreak goes to it then)."""
        ...

    def limit(self, hart: Hart) -> int:
        """Instructions `hart` may retire from here before the debugger wants it stopped (a
        step, an instruction to stop at); 0: no limit. Asked before every piece of a turn."""
        ...

    def stopped(self, hart: Hart, why: str, address: int) -> bool:
        """`hart` is stopped between two instructions inside its turn, because of `why`:
        "limit" (the limit was reached), "break" (a breakpoint at `address`), "watch", "rwatch",
        "awatch" (an access to `address`), "ebreak" (at `address`). Returns when the run may go
        on (True: the turn resumes; False: the turn ends, the run has been stopped)."""
        ...


@dataclass
class Hooks:
    bus: Bus = field(default_factory=Bus)
    traps: dict[int, TrapSite] = field(default_factory=dict)
    rom: list[tuple[int, bytes]] = field(default_factory=list)
    watch_atomics: bool = False
    sync_sites: frozenset[int] = frozenset()
    step: Callable[[Hart, int], bool] | None = None
    charge: Callable[[Hart, str, int, bool], None] | None = None
    access: Callable[[Hart, bool, int, int], None] | None = None
    after_turn: list[Callable[[Hart, int, int], None]] = field(default_factory=list)
    memory: Callable[[Hart, bool, int, int], None] | None = None
    turns: list[tuple[int, int]] | None = None
    count_atomics: bool = False
    atomic_costs: AtomicCosts | None = None
    coherence: CoherenceCosts | None = None
    cache_map: CacheMap | None = None
    probes: NativeProbes | None = None
    memory_log: MemoryLog | None = None
    debugger: Debugger | None = None


class HartHost(Protocol):
    """What a hart may ask of its machine and tell it."""

    ram: mmap.mmap
    ram_size: int
    hooks: Hooks
    devices: list[Device]
    mask_rom: bytes  # the reset ROM's contents (boot.py), mapped read-only at MROM_BASE

    @property
    def stopped(self) -> bool:
        """Whether the run has ended (a fault, an exit, a violation): the hart does no more."""
        ...

    def original(self, address: int) -> int | None:
        """The instruction the loader replaced with a trap at `address`, if it did."""
        ...

    def instruction_at(self, address: int) -> int:
        """The instruction word (16 or 32 bits) in RAM at `address`, 0 outside RAM."""
        ...

    def mtime(self, hart: int) -> int:
        """mtime as `hart` reads it."""
        ...

    def sleep(self, hart: Hart, pc: int) -> None:
        """`hart` executed the wfi at `pc` (its turn ended there): sleep unless an enabled
        interrupt is pending."""
        ...

    def fault(self, hart: Hart, pc: int, what: str, suffix: str = "") -> None:
        """Stop the run with a fault of `hart` at `pc` (the first fault wins)."""
        ...

    def memory_fault(self, hart: Hart, pc: int, kind: str, address: int) -> None:
        """Stop the run: `hart`'s `kind` ("fetch", "load", "store") at `address` found nothing
        mapped there, or a ROM (pc: the instruction's, or for a fetch the address)."""
        ...


class Policy(Protocol):
    """A schedule (schedule/policies.py): which hart runs next, for how many instructions."""

    name: str
    quantum: int
    seed: int

    def next(self, harts: list[Hart]) -> tuple[Hart, int] | None:
        """(hart, quantum), or None when no hart can run."""
        ...

    def describe(self) -> dict:
        """Everything that makes the schedule reproducible (recorded in the summary)."""
        ...

    # Optional, for the native turn loop (a policy without them decides in Python):
    #   native_schedule() -> NativeSchedule | None   its state, to decide in C from now on
    #   native_resume(state: NativeSchedule)          C is done: go on from this state
