"""The virtual-time model: a cycle clock per hart = retired instructions + the costs of its
atomics, cache-line transfers and fences (costs.toml beside this file has the numbers and
where they come from), and a scheduler that always runs the hart whose clock is furthest
behind.

With it, waiting shows as time: a hart spinning on a lock burns instructions, and harts that
hammer one line pay transfers, so a contended run's virtual time exceeds its instructions.
mtime follows each hart's clock (machine/machine.py), so guest time follows it too.

Costs are charged when the machine executes an atomic (every AMO, LR, SC and write fence is trapped
in this mode): by `charge` on the Python path, by the native layer from the same numbers
(Hooks.atomic_costs, src/hart.c) on the native one, whose totals `collect` reads. A line's owner is
the hart that last wrote it with an atomic; an atomic by any other hart pays `line_transfer` (an LR
or a failed SC reads, the rest write).
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from emulator.machine.errors import BadInput
from emulator.machine.hooks import AtomicCosts, Hooks

if TYPE_CHECKING:
    from emulator.machine.hart import Hart
    from emulator.machine.machine import Machine

DEFAULT_COSTS = Path(__file__).with_name("costs.toml")


@dataclass(frozen=True)
class CostModel:
    instruction: int = 1
    cpu_hz: int = 1_000_000_000
    atomic: int = 20
    line_transfer: int = 100
    fence: int = 10
    line_bytes: int = 64

    @classmethod
    def load(cls, path: str | Path | None = None) -> CostModel:
        source = Path(path) if path else DEFAULT_COSTS
        try:
            data = tomllib.loads(source.read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise BadInput(f"--costs {source}: cannot read it ({e})") from None
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise BadInput(
                f"--costs {source}: unknown cost {sorted(unknown)[0]!r}; known: {sorted(known)}"
            )
        bad = [k for k, v in data.items() if not isinstance(v, int) or v < 0]
        if bad or data.get("cpu_hz", 1) < 1 or data.get("line_bytes", 64) & 63:
            raise BadInput(f"--costs {source}: costs must be non-negative integers ({bad})")
        if data.get("instruction", 1) != 1:
            raise BadInput(f"--costs {source}: instruction must be 1 (clocks count instructions)")
        return cls(**data)

    def describe(self) -> dict:
        return asdict(self)


class Timing:
    """Charges a machine's harts for their atomics."""

    def __init__(self, costs: CostModel):
        self.costs = costs
        self._shift = costs.line_bytes.bit_length() - 1
        self.owner: dict[int, int] = {}  # line -> hart that last wrote it with an atomic
        self.transfers = 0
        self.charged = 0  # cycles added over all harts
        self._native = None

    def install(self, hooks: Hooks) -> None:
        """Charge every atomic the machine's harts execute (on either path)."""
        c = self.costs
        hooks.charge = self.charge
        hooks.atomic_costs = AtomicCosts(c.atomic, c.line_transfer, c.fence, c.line_bytes)

    def attach(self, machine: Machine) -> None:
        self._native = machine.native

    def collect(self) -> None:
        """After the run: the native layer's totals (nothing to do on the Python path)."""
        if self._native is not None:
            self.transfers, self.charged = self._native.m.transfers, self._native.m.charged

    def charge(self, hart: Hart, kind: str, address: int, writes: bool) -> None:
        c = self.costs
        if kind == "fence":
            cost = c.fence
        else:
            cost = c.atomic
            line = address >> self._shift
            owner = self.owner.get(line)
            if owner is not None and owner != hart.id:
                cost += c.line_transfer
                self.transfers += 1
            if writes:
                self.owner[line] = hart.id
        hart.clock += cost
        self.charged += cost

    def report(self, clocks: list[int], instructions: list[int]) -> dict:
        return {
            "costs": self.costs.describe(),
            "line_transfers": self.transfers,
            "charged_cycles": self.charged,
            "virtual_seconds": max(clocks) / self.costs.cpu_hz if clocks else 0.0,
            "clock_over_instructions": (sum(clocks) / sum(instructions))
            if any(instructions)
            else 0,
        }
