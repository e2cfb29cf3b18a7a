"""The guest's timing markers: zero-length write system calls that bracket a section of guest
code for the host to time exactly (alloc-cost, frontend-cost, bench.h)."""

from __future__ import annotations

from emulator.machine.events import Bus, Syscall
from guest.contract import C


class Markers:
    """Per hart, (instret, clock) at each zero-length write(1, "", 0) system call: how guest
    code brackets a section for the host to time exactly (alloc-cost, frontend-cost, bench.h)."""

    def __init__(self, bus: Bus) -> None:
        self.marks: dict[int, list[tuple[int, int]]] = {}
        bus.subscribe(Syscall, self)

    def __call__(self, e: Syscall) -> None:
        if e.number == C.SYS_write and e.args[2] == 0:
            self.marks.setdefault(e.hart, []).append((e.instret, e.clock))

    def instrets(self, hart: int) -> list[int]:
        return [m[0] for m in self.marks.get(hart, [])]
