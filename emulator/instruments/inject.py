"""Fault injection: stall a hart when it reaches a symbol; make the Nth call of an allocator
entry point fail.

  --stall SYMBOL:K[:N]   the Nth time any hart enters SYMBOL (default the first), that hart is
                         taken off the CPU until the other harts have run K instructions: a
                         lock holder preempted inside its critical section, say.
  --fail CALL:N          the Nth call of CALL (palloc, mmap, malloc, ... as in allocs.jsonl)
                         returns failure without running: NULL, or -ENOMEM for mmap. Callers
                         must cope and lose nothing; run it with --check to see that they do.

Both ride on function probes (probes.py), so they change nothing else in the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from emulator.instruments.probes import Probes
from emulator.machine.errors import BadInput

if TYPE_CHECKING:
    from emulator.machine.hart import Hart
    from emulator.machine.image import Image
    from emulator.machine.machine import Machine


@dataclass(frozen=True)
class StallSpec:
    symbol: str
    instructions: int
    hit: int = 1


def _positive(text: str, what: str, option: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        value = 0
    if value < 1:
        raise BadInput(f"{option}: {what} must be a positive number (got {text!r})")
    return value


def parse_stall(text: str) -> StallSpec:
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0]:
        raise BadInput(f"--stall wants SYMBOL:K[:N] (got {text!r})")
    hit = _positive(parts[2], "N", "--stall") if len(parts) == 3 else 1
    return StallSpec(parts[0], _positive(parts[1], "K", "--stall"), hit)


def parse_fail(text: str, known: tuple[str, ...]) -> tuple[str, int]:
    name, _, n = text.partition(":")
    if name not in known:
        raise BadInput(f"--fail {text!r}: CALL must be one of {', '.join(known)}")
    return name, _positive(n, "N", "--fail")


class Stalls:
    """Probes that take a hart off the CPU (machine.stall) at the Nth entry of a symbol."""

    def __init__(self, image: Image, specs: list[StallSpec], probes: Probes):
        self.hits: dict[str, int] = {}
        self.done: list[tuple[int, str]] = []  # (hart, symbol) of each stall made
        self._machine: Machine | None = None
        for spec in specs:
            if not probes.add_symbol(image, spec.symbol, self._on_entry(spec)):
                raise BadInput(f"--stall: the image has no function {spec.symbol!r}")

    def attach(self, machine: Machine) -> None:
        self._machine = machine

    def _on_entry(self, spec: StallSpec):
        def on_entry(hart: Hart) -> None:
            count = self.hits[spec.symbol] = self.hits.get(spec.symbol, 0) + 1
            if count == spec.hit:
                self.done.append((hart.id, spec.symbol))
                self._machine.stall(hart, spec.instructions)  # type: ignore[union-attr]

        return on_entry
