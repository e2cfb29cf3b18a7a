"""Scheduling policies: which hart runs next, and for how many instructions.

A policy sees the harts and returns (hart, quantum), or None when no hart can run. Everything
that makes a schedule reproducible is in `describe()`, which the run's summary records.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Protocol

from emulator.errors import BadInput
from emulator.hart import HartState

if TYPE_CHECKING:
    from emulator.hart import Hart

RUNNING = HartState.RUNNING


class Policy(Protocol):
    name: str
    quantum: int
    seed: int

    def next(self, harts: list[Hart]) -> tuple[Hart, int] | None: ...

    def describe(self) -> dict: ...


class RoundRobin:
    """Harts in id order, each for exactly `quantum` instructions (Spike interleaves so)."""

    name = "rr"

    def __init__(self, quantum: int, seed: int = 0):
        self.quantum = quantum
        self.seed = seed
        self._next = 0

    def next(self, harts: list[Hart]) -> tuple[Hart, int] | None:
        n = len(harts)
        i = self._next
        for k in range(n):
            hart = harts[(i + k) % n]
            if hart.state is RUNNING:
                self._next = (i + k + 1) % n
                return hart, self.quantum
        return None

    def describe(self) -> dict:
        return {"schedule": self.name, "quantum": self.quantum, "seed": self.seed}


class RandomOrder:
    """A seeded random runnable hart for a seeded random quantum in [1, 2 * quantum]."""

    name = "random"

    def __init__(self, quantum: int, seed: int = 0):
        self.quantum = quantum
        self.seed = seed
        self._rng = random.Random(seed)

    def next(self, harts: list[Hart]) -> tuple[Hart, int] | None:
        runnable = [h for h in harts if h.state is RUNNING]
        if not runnable:
            return None
        rng = self._rng
        return runnable[rng.randrange(len(runnable))], rng.randint(1, 2 * self.quantum)

    def describe(self) -> dict:
        return {"schedule": self.name, "quantum": self.quantum, "seed": self.seed}


POLICIES: dict[str, type] = {p.name: p for p in (RoundRobin, RandomOrder)}


def make_policy(name: str, quantum: int, seed: int) -> Policy:
    if name not in POLICIES:
        raise BadInput(f"--schedule {name!r} is not a policy; choose one of {', '.join(POLICIES)}")
    if quantum < 1:
        raise BadInput(f"--quantum must be at least 1 (got {quantum})")
    return POLICIES[name](quantum, seed)
