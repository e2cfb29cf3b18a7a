"""The virtual-time model: a cycle clock per hart = retired instructions + what its memory
accesses, atomics and fences cost, and a scheduler that always runs the hart whose clock is
furthest behind. A cost file (costs.toml beside this file, the default; `--costs NAME|PATH`)
chooses the model and its numbers, with where each comes from.

With it, waiting shows as time: a hart spinning on a lock burns instructions, and harts that
hammer one line pay for moving it, so a contended run's virtual time exceeds its instructions.
mtime follows each hart's clock (machine/machine.py), so guest time follows it too.

Two models (the cost file's `model`):

coherence (costs.toml): every load, store, AMO and LR/SC goes through a MESI directory, one
entry per line (line = address >> log2(line_bytes); an access spanning two lines touches
both), with a private L1 per hart (l1_sets sets of l1_ways ways, LRU within a set; l1_sets = 0:
infinite). Each cost is added to the accessing hart's clock at the access, so `rdcycle` sees
it at once and the timed schedule at the turn's end.

  load by h     h holds the line (M, E, S): a hit, no cost. Another hart holds it M:
                line_transfer, that hart -> S, h -> S. Otherwise: miss (served by the shared
                L2); holders in E -> S; h -> S if another hart holds a copy, else E.
  store by h    h holds M: a hit; E: a hit, -> M; S: upgrade, every other copy -> I, h -> M.
                h holds nothing: another holds M -> line_transfer; otherwise miss, plus
                upgrade if another hart held a copy; every other copy -> I; h -> M.
  AMO, LR, SC   atomic + a store's cost (an LR takes the line exclusive, as cores do to hold
                a reservation); an SC that fails: atomic + a load's cost.
  fence         fence (rw,w and stronger; the machine is sequentially consistent)
  eviction      when h brings a line into a full set, h's least recently used line in that
                set leaves h's cache (-> I) at no cost: its write-back is absorbed by the L2
                (an assumption).
  queueing      serialize_lines = 1: a line serves one coherence transaction at a time. An
                access that is not an L1 hit starts no earlier than the line's previous non-hit
                access ended (its start plus its miss/transfer/upgrade cycles, not the atomic's
                own `atomic` cycles) and waits for it; the wait is charged to the hart's clock
                and counted (line_wait_cycles). That is what makes a contended hand-off cost
                O(harts), as on real machines (Boyd-Wickizer et al., "Non-scalable locks are
                dangerous", 2012). Clocks are compared as they stand when each access runs:
                with the timed schedule harts are at most about a quantum apart.

Not modelled: instruction fetches (a perfect I-cache), the L2's own capacity (every miss is an
L2 hit), DRAM, a store buffer, prefetching, TLBs. Accesses the hart makes through unicorn's
memory hook are seen with their virtual address (the bundled apps run in M mode, untranslated).
The atomics (trapped and executed by the hart, so the memory hook never sees them) come from the
atomic path once each, and so do pct's sync accesses.

Counts per hart (summary.json's timing section, also summed): loads and stores (plain accesses),
atomics, fences, hits, misses, transfers, upgrades (alone for a store to S, or with a miss),
invalidations (other harts' copies this hart's accesses invalidated), evictions,
line_wait_cycles, charged_cycles. Every line touch is one of hit, miss, transfer or a store's
upgrade of its own S copy, so charged_cycles = misses x miss + transfers x line_transfer +
upgrades x upgrade + line_wait_cycles + atomics x atomic + fences x fence.

atomics (costs-atomics.toml, `--costs atomics`): the earlier model, kept as it was: only
atomics and fences cost. A line's owner is the hart that last wrote it with an atomic; an atomic
by any other hart pays line_transfer (an LR or a failed SC reads, the rest write).

Both are charged on either path: on the Python path by `charge` (atomics) and `access` (every
load and store, a unicorn hook) into coherence.py's Directory; on the native layer by C from the
same numbers (Hooks.atomic_costs and Hooks.coherence: src/hart.c, src/coherence.c), whose
counts `collect` reads after the run.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from emulator.instruments.coherence import COUNTS, Directory, nest
from emulator.machine.errors import BadInput
from emulator.machine.hooks import AtomicCosts, CoherenceCosts, Hooks

if TYPE_CHECKING:
    from emulator.machine.hart import Hart
    from emulator.machine.machine import Machine

HERE = Path(__file__).parent
COUNT_NAMES = ("misses", "transfers", "upgrades", "line_wait_cycles")  # tracer.CACHE_COUNTS
DEFAULT_COSTS = HERE / "costs.toml"
# The bundled cost files, by the name `--costs` takes.
BUNDLED = {"coherence": DEFAULT_COSTS, "atomics": HERE / "costs-atomics.toml"}
MODELS = ("coherence", "atomics")


def costs_file(costs: str | Path | None) -> Path | None:
    """The file a --costs value names; None for a bundled file's name (or no value): a path has
    a "/" or ends in .toml, anything else is a name (CostModel.load; what a cluster ships)."""
    text = str(costs) if costs else ""
    if not text or ("/" not in text and not text.endswith(".toml")):
        return None
    return Path(text)


# The keys of the earlier model: all that the atomics model reports (its summaries as before).
ATOMICS_KEYS = ("instruction", "cpu_hz", "atomic", "line_transfer", "fence", "line_bytes")


@dataclass(frozen=True)
class CostModel:
    """A cost file's numbers; a key a file leaves out has the default below (costs.toml's)."""

    model: str = "coherence"
    instruction: int = 1
    cpu_hz: int = 1_500_000_000
    atomic: int = 20
    line_transfer: int = 50
    fence: int = 10
    line_bytes: int = 64
    miss: int = 12
    upgrade: int = 12
    l1_sets: int = 64
    l1_ways: int = 8
    serialize_lines: int = 1
    source: str = ""  # the bundled file's name, or the path as given

    @classmethod
    def load(cls, path: str | Path | None = None) -> CostModel:
        """A bundled file by name (`coherence`, the default; `atomics`) or any file by path."""
        text = str(path) if path else "coherence"
        source = costs_file(text)
        if source is None:
            if text not in BUNDLED:
                raise BadInput(
                    f"--costs {text}: no bundled cost file of that name (bundled: "
                    f"{', '.join(BUNDLED)}; or give a path to a .toml file)"
                )
            source = BUNDLED[text]
        name = text
        try:
            data = tomllib.loads(source.read_text())
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise BadInput(f"--costs {name}: cannot read it ({e})") from None
        known = [f.name for f in fields(cls) if f.name != "source"]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise BadInput(f"--costs {name}: unknown cost {unknown[0]!r}; known: {known}")
        model = data.get("model", cls.model)
        if model not in MODELS:
            raise BadInput(f"--costs {name}: unknown model {model!r}; known: {', '.join(MODELS)}")
        numbers = {k: v for k, v in data.items() if k != "model"}
        bad = sorted(k for k, v in numbers.items() if type(v) is not int or v < 0)
        if bad:
            raise BadInput(f"--costs {name}: costs must be non-negative integers ({bad[0]})")
        costs = cls(**data, source=name)
        problem = costs._problem()
        if problem:
            raise BadInput(f"--costs {name}: {problem}")
        return costs

    def _problem(self) -> str | None:
        def power_of_two(v: int) -> bool:
            return v > 0 and v & (v - 1) == 0

        if self.instruction != 1:
            return "instruction must be 1 (clocks count instructions)"
        if self.cpu_hz < 1:
            return "cpu_hz must be at least 1"
        if not power_of_two(self.line_bytes) or self.line_bytes < 64:
            return f"line_bytes must be a power of two, at least 64 (got {self.line_bytes})"
        if self.l1_sets and not power_of_two(self.l1_sets):
            return f"l1_sets must be a power of two, or 0 for an infinite L1 (got {self.l1_sets})"
        if self.l1_sets and not 1 <= self.l1_ways <= 64:
            return f"l1_ways must be between 1 and 64 (got {self.l1_ways})"
        if self.serialize_lines not in (0, 1):
            return f"serialize_lines must be 0 or 1 (got {self.serialize_lines})"
        return None

    @property
    def coherence(self) -> bool:
        return self.model == "coherence"

    def describe(self) -> dict:
        keys = ATOMICS_KEYS if not self.coherence else [
            f.name for f in fields(self) if f.name not in ("model", "source")
        ]  # fmt: skip
        return {"model": self.model, **{k: getattr(self, k) for k in keys}}


class Timing:
    """Charges a machine's harts for their memory accesses, atomics and fences."""

    def __init__(self, costs: CostModel):
        self.costs = costs
        self._shift = costs.line_bytes.bit_length() - 1
        self.owner: dict[int, int] = {}  # atomics model: line -> hart that last wrote it
        self.transfers = 0
        self.charged = 0  # cycles added over all harts
        self.directory: Directory | None = None  # coherence model, Python path
        self.counts: list[dict[str, int]] = []  # coherence model: per hart, after the run
        self.attribution: list[list[list[int]]] = []  # hooks.CacheMap's [op][structure][ATTR]
        self._native = None
        self._map = None

    def install(self, hooks: Hooks) -> None:
        """Charge every atomic (and, for the coherence model, every access) the machine's
        harts execute, on either path."""
        c = self.costs
        hooks.charge = self.charge
        hooks.atomic_costs = AtomicCosts(c.atomic, c.line_transfer, c.fence, c.line_bytes)
        if c.coherence:
            hooks.access = self.access
            hooks.coherence = CoherenceCosts(
                c.miss, c.upgrade, c.l1_sets, c.l1_ways, bool(c.serialize_lines)
            )

    def attach(self, machine: Machine) -> None:
        self._native = machine.native
        self._harts = len(machine.harts)
        self._map = machine.hooks.cache_map if self.costs.coherence else None
        if self.costs.coherence and self._native is None:
            self.directory = Directory(self.costs, self._harts, machine.ram_size, self._map)

    def collect(self) -> None:
        """After the run: the counts, from C on the native layer."""
        if self._native is not None:
            self.transfers, self.charged = self._native.m.transfers, self._native.m.charged
            if self.costs.coherence:
                self.counts = [
                    {name: getattr(h, f"cache_{name}") for name in COUNTS}
                    for h in self._native.harts
                ]
        elif self.directory is not None:
            self.charged = self.directory.charged
            self.counts = [dict(zip(COUNTS, c, strict=True)) for c in self.directory.counts]
        if self.costs.coherence:
            self.transfers = sum(c["transfers"] for c in self.counts)
        if self._map is not None:
            if self._native is not None:
                self.attribution = nest(
                    list(self._native.attr_counts), len(self._map.ops), len(self._map.structures)
                )
            elif self.directory is not None:
                self.attribution = self.directory.attr_counts

    def hart_cache_counts(self, hart: int) -> tuple[int, ...]:
        """The Python path's (misses, transfers, upgrades, line-wait cycles) of a hart so far
        (tracer.CACHE_COUNTS; the native layer puts C's in each record of a traced call)."""
        if self.directory is None:
            return (0, 0, 0, 0)
        c = self.directory.counts[hart]
        return tuple(c[COUNTS.index(k)] for k in COUNT_NAMES)

    def access(self, hart: Hart, write: bool, address: int, size: int) -> None:
        self.directory.access(hart, write, address, size)  # type: ignore[union-attr]

    def charge(self, hart: Hart, kind: str, address: int, writes: bool) -> None:
        if self.directory is not None:
            self.directory.atomic(hart, kind, address, writes)
            return
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
        out = {
            "model": self.costs.model,
            "costs_file": self.costs.source,
            "costs": self.costs.describe(),
            "line_transfers": self.transfers,
            "charged_cycles": self.charged,
            "virtual_seconds": max(clocks) / self.costs.cpu_hz if clocks else 0.0,
            "clock_over_instructions": (sum(clocks) / sum(instructions))
            if any(instructions)
            else 0,
        }
        if self.costs.coherence:
            out["totals"] = {name: sum(c[name] for c in self.counts) for name in COUNTS}
            out["harts"] = self.counts
        return out
