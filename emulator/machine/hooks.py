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
  after_turn     fn(hart, retired, total) after every turn (recording, periodic checks)
  memory         fn(hart, write, address, size) on every load and store to RAM (a Python hook
                 on every access: several times slower; for one-off discovery runs)

`Policy` is what the machine's loop asks of a schedule.
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


@dataclass
class TrapSite:
    """An address whose instruction an instrument replaced with a trap of `length` bytes."""

    length: int
    handler: Callable[[Hart, int], None]  # (hart, address): runs when the hart reaches it


@dataclass
class Hooks:
    bus: Bus = field(default_factory=Bus)
    traps: dict[int, TrapSite] = field(default_factory=dict)
    rom: list[tuple[int, bytes]] = field(default_factory=list)
    watch_atomics: bool = False
    sync_sites: frozenset[int] = frozenset()
    step: Callable[[Hart, int], bool] | None = None
    charge: Callable[[Hart, str, int, bool], None] | None = None
    after_turn: list[Callable[[Hart, int, int], None]] = field(default_factory=list)
    memory: Callable[[Hart, bool, int, int], None] | None = None


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
