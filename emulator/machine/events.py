"""Typed events the machine emits, and the bus observers subscribe on.

The machine builds an event only when someone subscribed to its type, so a run without
observers pays one dictionary lookup per would-be event. The names here are the one
definition of event names.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(slots=True)
class Event:
    name: ClassVar[str] = "event"
    hart: int
    instret: int  # instructions the hart had retired before the one that raised it (exact)


@dataclass(slots=True)
class Console(Event):
    name: ClassVar[str] = "console"
    byte: int = 0


@dataclass(slots=True)
class Syscall(Event):
    """An ecall, seen before the guest's handler runs."""

    name: ClassVar[str] = "syscall"
    pc: int = 0
    number: int = 0
    args: tuple[int, ...] = ()
    clock: int = 0  # the hart's virtual clock at the ecall


@dataclass(slots=True)
class Trap(Event):
    """A synchronous exception (not an ecall) vectored to the guest's handler. Interrupts are
    taken inside unicorn and are no events."""

    name: ClassVar[str] = "trap"
    pc: int = 0
    cause: int = 0
    tval: int = 0


@dataclass(slots=True)
class Sleep(Event):
    name: ClassVar[str] = "sleep"
    pc: int = 0


@dataclass(slots=True)
class Wake(Event):
    name: ClassVar[str] = "wake"
    reason: str = ""


@dataclass(slots=True)
class Atomic(Event):
    """lr, sc, an AMO or a fence (AMOs and fences only while the contention monitor runs).

    For a fence followed by a store (a release store), address and value are the store's."""

    name: ClassVar[str] = "atomic"
    pc: int = 0
    kind: str = ""  # lr | sc | amo | fence
    op: str = ""  # AMO name (swap, add, ...); lr/sc/fence: the mnemonic
    width: int = 0
    address: int = -1
    old: int = 0  # value in memory before (lr: the value read)
    value: int = 0  # value written (sc: only if ok), or the AMO's operand
    ok: bool = True  # sc: whether it succeeded


@dataclass(slots=True)
class Exit(Event):
    name: ClassVar[str] = "exit"
    code: int = 0


@dataclass
class Bus:
    _subscribers: dict[type, list[Callable[[Any], None]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def subscribe(self, kind: type[Event], fn: Callable[[Any], None]) -> None:
        self._subscribers[kind].append(fn)

    def wants(self, kind: type[Event]) -> bool:
        return bool(self._subscribers.get(kind))

    def emit(self, event: Event) -> None:
        for fn in self._subscribers.get(type(event), ()):
            fn(event)
