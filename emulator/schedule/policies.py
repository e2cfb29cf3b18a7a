"""Scheduling policies: which hart runs next, and for how many instructions.

A policy sees the harts and returns (hart, quantum), or None when no hart can run. Everything
that makes a schedule reproducible is in `describe()`, which the run's summary records: the
same policy, parameters and seed give the same turns, instruction for instruction.

  rr               harts in id order, `quantum` instructions each
  random           a seeded random runnable hart for a seeded random quantum in [1, 2Q]
  pct              PCT (Burckhardt et al., ASPLOS 2010): random distinct hart priorities, the
                   highest-priority runnable hart runs; d-1 change points among the first k
                   steps each drop the running hart below every other. A step is an atomic
                   (AMO, LR or SC, over all harts: the hart is switched out in front of it);
                   with pct_unit = sync, also a plain load or store of a word atomics use
                   (syncsites.py); with pct_unit = instructions, an instruction. Spinning
                   waits would starve a low-priority lock holder forever, so a hart that ran
                   `patience` turns in a row while others could run is dropped too (a
                   "starvation switch", counted separately).
  preempt-atomics  round robin with quantum Q, plus a switch in front of each atomic (AMO,
                   LR, SC) with probability p
  replay           the turns of a schedule file (`--replay FILE`), then round robin
  timed            the runnable hart with the smallest virtual clock (timing.py)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from emulator.machine.errors import BadInput
from emulator.machine.hart import HartState
from emulator.machine.hooks import NativeSchedule

if TYPE_CHECKING:
    from emulator.machine.hart import Hart

RUNNING = HartState.RUNNING


class Schedule:
    """What every policy here has beyond the machine's Policy: its preemption points (`step`,
    None when it has none) and counters for the run's summary."""

    name = "schedule"

    def __init__(self, quantum: int, seed: int = 0):
        self.quantum = quantum
        self.seed = seed

    def step(self, hart: Hart, pc: int) -> bool:
        """Switch `hart` out in front of the atomic (or sync access) at `pc`?"""
        return False

    @property
    def preemption(self) -> Callable[[Hart, int], bool] | None:
        """Hooks.step for the machine: this policy's preemption points, or None."""
        return None

    def counters(self) -> dict[str, int]:
        """schedule_* counters for the summary (changes, preemptions, ...)."""
        return {}

    def describe(self) -> dict:
        return {"schedule": self.name, "quantum": self.quantum, "seed": self.seed}


class RoundRobin(Schedule):
    """Harts in id order, each for exactly `quantum` instructions (Spike interleaves so)."""

    name = "rr"

    def __init__(self, quantum: int, seed: int = 0):
        super().__init__(quantum, seed)
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

    def native_schedule(self) -> NativeSchedule | None:
        return NativeSchedule("rr", self.quantum, next=self._next)

    def native_resume(self, state: NativeSchedule) -> None:
        self._next = state.next


class RandomOrder(Schedule):
    """A seeded random runnable hart for a seeded random quantum in [1, 2 * quantum]."""

    name = "random"

    def __init__(self, quantum: int, seed: int = 0):
        super().__init__(quantum, seed)
        self._rng = random.Random(seed)

    def next(self, harts: list[Hart]) -> tuple[Hart, int] | None:
        runnable = [h for h in harts if h.state is RUNNING]
        if not runnable:
            return None
        rng = self._rng
        return runnable[rng.randrange(len(runnable))], rng.randint(1, 2 * self.quantum)

    def native_schedule(self) -> NativeSchedule | None:
        if 2 * self.quantum >= 1 << 32:  # C draws as getrandbits(k) does for k <= 32 only
            return None
        return NativeSchedule("random", self.quantum, rng=self._rng.getstate()[1])

    def native_resume(self, state: NativeSchedule) -> None:
        version, _, gauss = self._rng.getstate()
        self._rng.setstate((version, state.rng, gauss))


class PCT(Schedule):
    """Probabilistic concurrency testing (see the module docstring)."""

    name = "pct"
    DEFAULT_DEPTH = 3
    PATIENCE = 64

    UNITS = ("atomics", "sync", "instructions")

    def __init__(
        self,
        quantum: int,
        seed: int = 0,
        depth: int = DEFAULT_DEPTH,
        steps: int = 0,
        unit: str = "atomics",
    ):
        if depth < 1:
            raise BadInput(f"--pct-depth must be at least 1 (got {depth})")
        if unit not in self.UNITS:
            raise BadInput(f"--pct-unit must be one of {', '.join(self.UNITS)} (got {unit!r})")
        super().__init__(quantum, seed)
        self.unit = unit
        self.events = 0  # steps seen (units atomics and sync)
        self.depth = depth
        self.steps = max(steps, depth)
        self._rng = random.Random(seed)
        self.change_points = sorted(self._rng.sample(range(1, self.steps + 1), depth - 1))
        self._priority: list[int] = []
        self._next_change = 0
        self._last: Hart | None = None
        self._streak = 0
        self._lowest = 0
        self.changes = self.starvation_switches = 0

    def _demote(self, hart: Hart) -> None:
        self._lowest -= 1
        self._priority[hart.id] = self._lowest

    def next(self, harts: list[Hart]) -> tuple[Hart, int] | None:
        if not self._priority:
            order = list(range(len(harts)))
            self._rng.shuffle(order)
            self._priority = [0] * len(harts)
            for rank, h in enumerate(order):
                self._priority[h] = self.depth + rank
        points = self.change_points
        total = sum(h.instret for h in harts) if self.unit == "instructions" else 0
        while (
            self.unit == "instructions"
            and self._next_change < len(points)
            and total >= points[self._next_change]
        ):
            self._next_change += 1
            if self._last is not None:
                self._demote(self._last)
                self.changes += 1
        runnable = [h for h in harts if h.state is RUNNING]
        if not runnable:
            return None
        pick = max(runnable, key=lambda h: self._priority[h.id])
        if pick is self._last and len(runnable) > 1:
            self._streak += 1
            if self._streak >= self.PATIENCE:
                self._demote(pick)
                self.starvation_switches += 1
                pick = max(runnable, key=lambda h: self._priority[h.id])
                self._streak = 0
        else:
            self._streak = 0
        self._last = pick
        quantum = self.quantum
        if self.unit == "instructions" and self._next_change < len(points):
            quantum = max(1, min(quantum, points[self._next_change] - total))
        return pick, quantum

    @property
    def preemption(self) -> Callable[[Hart, int], bool] | None:
        return None if self.unit == "instructions" else self.step

    def counters(self) -> dict[str, int]:
        return {"changes": self.changes, "starvation_switches": self.starvation_switches}

    def step(self, hart: Hart, pc: int) -> bool:
        """(units atomics and sync) Each atomic (or sync access) is a step; at a change point
        the hart is demoted and switched out in front of it."""
        self.events += 1
        points = self.change_points
        if self._next_change < len(points) and self.events >= points[self._next_change]:
            self._next_change += 1
            self._demote(hart)
            self.changes += 1
            return True
        return False

    def describe(self) -> dict:
        return {
            "schedule": self.name,
            "quantum": self.quantum,
            "seed": self.seed,
            "pct_depth": self.depth,
            "pct_steps": self.steps,
            "pct_unit": self.unit,
            "pct_change_points": self.change_points,
        }


class PreemptAtomics(RoundRobin):
    """Round robin, and a seeded coin at every atomic: with probability p the hart is switched
    out in front of it (the machine asks `step`)."""

    name = "preempt-atomics"
    DEFAULT_P = 0.1

    def __init__(self, quantum: int, seed: int = 0, p: float = DEFAULT_P):
        if not 0 <= p <= 1:
            raise BadInput(f"--preempt-p must be between 0 and 1 (got {p})")
        super().__init__(quantum, seed)
        self.p = p
        self._rng = random.Random(seed)
        self.preemptions = 0

    @property
    def preemption(self) -> Callable[[Hart, int], bool] | None:
        return self.step

    def counters(self) -> dict[str, int]:
        return {"preemptions": self.preemptions}

    def step(self, hart: Hart, pc: int) -> bool:
        if self._rng.random() < self.p:
            self.preemptions += 1
            return True
        return False

    def describe(self) -> dict:
        return super().describe() | {"preempt_p": self.p}


class Replay(Schedule):
    """The turns of a recorded schedule: hart h runs until its retired count reaches X, for
    each (h, X) in order (a turn already past is skipped); then round robin."""

    name = "replay"

    def __init__(self, quantum: int, seed: int = 0, turns: list | None = None, source: str = ""):
        super().__init__(quantum, seed)
        self.turns = [(int(h), int(x)) for h, x in (turns or [])]
        self.source = source
        self._index = 0
        self._then = RoundRobin(quantum)

    def next(self, harts: list[Hart]) -> tuple[Hart, int] | None:
        while self._index < len(self.turns):
            h, until = self.turns[self._index]
            self._index += 1
            if h >= len(harts):
                raise BadInput(
                    f"{self.source}: the schedule names hart {h}; run it with more harts"
                )
            hart = harts[h]
            if hart.state is RUNNING and hart.instret < until:
                return hart, until - hart.instret
        return self._then.next(harts)

    def native_schedule(self) -> NativeSchedule | None:
        return NativeSchedule(
            "replay", self.quantum, self._then._next, turns=self.turns, index=self._index
        )

    def native_resume(self, state: NativeSchedule) -> None:
        self._index, self._then._next = state.index, state.next

    def describe(self) -> dict:
        return {"schedule": self.name, "quantum": self.quantum, "seed": self.seed,
                "replay": self.source, "turns": len(self.turns)}  # fmt: skip


class Timed(Schedule):
    """For the virtual-time model (timing.py): the runnable hart with the smallest clock
    (lowest id on a tie) runs `quantum` instructions."""

    name = "timed"

    def next(self, harts: list[Hart]) -> tuple[Hart, int] | None:
        best = None
        for h in harts:
            if h.state is RUNNING and (best is None or h.clock < best.clock):
                best = h
        return None if best is None else (best, self.quantum)

    def native_schedule(self) -> NativeSchedule | None:
        return NativeSchedule("timed", self.quantum)

    def native_resume(self, state: NativeSchedule) -> None:
        pass


POLICIES: dict[str, type[Schedule]] = {
    p.name: p for p in (RoundRobin, RandomOrder, PCT, PreemptAtomics, Timed)
}


def make_policy(name: str, quantum: int, seed: int, **params) -> Schedule:
    """A policy by name; params: pct_depth, pct_steps, pct_unit, preempt_p, replay_turns,
    replay_source (those that do not apply to the policy are ignored)."""
    if quantum < 1:
        raise BadInput(f"--quantum must be at least 1 (got {quantum})")
    if name == "pct":
        return PCT(
            quantum,
            seed,
            params.get("pct_depth") or PCT.DEFAULT_DEPTH,
            params.get("pct_steps") or 0,
            params.get("pct_unit") or "atomics",
        )
    if name == "preempt-atomics":
        p = params.get("preempt_p")
        return PreemptAtomics(quantum, seed, PreemptAtomics.DEFAULT_P if p is None else p)
    if name == "replay":
        return Replay(quantum, seed, params.get("replay_turns"), params.get("replay_source", ""))
    if name not in POLICIES:
        raise BadInput(f"--schedule {name!r} is not a policy; choose one of {', '.join(POLICIES)}")
    return POLICIES[name](quantum, seed)
