"""Typed events the machine emits, and the bus observers subscribe on.

The machine builds an event only when someone subscribed to its type, so a run without
observers pays one dictionary lookup per would-be event. The names here are the one
definition of event names (used as `event` in every trace file).
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


@dataclass(slots=True)
class Trap(Event):
    """A synchronous exception or an interrupt vectored to the guest's handler."""

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
class Exit(Event):
    name: ClassVar[str] = "exit"
    code: int = 0


EVENT_TYPES: tuple[type[Event], ...] = (Console, Syscall, Trap, Sleep, Wake, Exit)


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
