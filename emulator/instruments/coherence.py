"""The coherence model on the pure-Python path (EMULATOR_NATIVE=0): the same MESI directory and
private L1s as emulator/native/src/coherence.c, rule for rule and tie for tie, so that both
paths give the same clocks, counts and schedules (tests/test_native.py). The protocol and the
costs are described in timing.py; this module is only the bookkeeping.

It is slow (a Python call on every load and store: a few MIPS); the native layer is the path
for real runs.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING

from guest.contract import C

if TYPE_CHECKING:
    from emulator.instruments.timing import CostModel
    from emulator.machine.hart import Hart
    from emulator.machine.hooks import CacheMap

# What is counted per hart (summary.json's timing section; nm_hart's cache_* fields).
COUNTS = ("loads", "stores", "atomics", "fences", "hits", "misses", "transfers", "upgrades",
          "invalidations", "evictions", "line_wait_cycles", "charged_cycles")  # fmt: skip
_I = {name: i for i, name in enumerate(COUNTS)}
HITS, MISSES, TRANSFERS, UPGRADES = _I["hits"], _I["misses"], _I["transfers"], _I["upgrades"]
INVALIDATIONS, EVICTIONS, WAIT = _I["invalidations"], _I["evictions"], _I["line_wait_cycles"]
CHARGED = _I["charged_cycles"]

# Cache attribution's counts per (operation, structure), as layout.ATTR_*.
ATTR = ("accesses", "misses", "transfers", "upgrades", "wait_cycles")


def nest(flat: list[int], ops: int, structures: int) -> list[list[list[int]]]:
    """The native layer's flat attribution counts ([op][structure][ATTR] in one array) nested."""
    k = len(ATTR)
    return [
        [flat[(op * structures + s) * k : (op * structures + s + 1) * k] for s in range(structures)]
        for op in range(ops)
    ]


# A directory entry: [sharers bitmask, owner (1 + hart holding it E or M; 0: none), modified,
# busy_until (serialize_lines: when its last non-hit transaction ends)].
SHARERS, OWNER, MODIFIED, BUSY = range(4)


class Directory:
    """One machine's directory and L1s, charging the harts' clocks (timing.py)."""

    def __init__(
        self, costs: CostModel, harts: int, ram_size: int, cache_map: CacheMap | None = None
    ):
        self.costs = costs
        self.shift = costs.line_bytes.bit_length() - 1
        self.nlines = (ram_size >> self.shift) + 1
        self.lines: dict[int, list[int]] = {}
        self.sets, self.ways = costs.l1_sets, costs.l1_ways
        # per hart, per set: the ways' lines (None: empty) and when each was last used
        self.tags = [[[None] * self.ways for _ in range(self.sets)] for _ in range(harts)]
        self.stamps = [[[0] * self.ways for _ in range(self.sets)] for _ in range(harts)]
        self.ticks = [0] * harts
        self.counts = [[0] * len(COUNTS) for _ in range(harts)]
        self.charged = 0
        self.map = cache_map
        if cache_map is not None:  # [op][structure][ATTR]
            self.attr_counts = [
                [[0] * len(ATTR) for _ in cache_map.structures] for _ in cache_map.ops
            ]

    def _structure(self, address: int) -> int:
        """As src/coherence.c structure_of."""
        m = self.map
        ranges = m.ranges  # type: ignore[union-attr]
        i = bisect_right(ranges, (address, 1 << 64)) - 1
        found = ranges[i][2] if i >= 0 and ranges[i][0] <= address < ranges[i][1] else 0
        if found == m.segmented and (address & (m.segment_size - 1)) < m.segment_header:  # type: ignore[union-attr]
            found = m.segment_header_struct  # type: ignore[union-attr]
        return found

    def _attribute(self, hart: int, address: int, *counts: int) -> None:
        op = self.map.op_of(hart)  # type: ignore[union-attr, misc]
        cell = self.attr_counts[op][self._structure(address)]
        cell[0] += 1
        for k, v in enumerate(counts, 1):
            cell[k] += v

    # ---- the L1s ------------------------------------------------------------------------------

    def _use(self, hart: int, line: int) -> None:
        tags = self.tags[hart][line & (self.sets - 1)]
        for w in range(self.ways):
            if tags[w] == line:
                self.ticks[hart] += 1
                self.stamps[hart][line & (self.sets - 1)][w] = self.ticks[hart]
                return

    def _drop(self, hart: int, line: int) -> None:
        tags = self.tags[hart][line & (self.sets - 1)]
        for w in range(self.ways):
            if tags[w] == line:
                tags[w] = None
                return

    def _fill(self, hart: int, line: int) -> None:
        tags = self.tags[hart][line & (self.sets - 1)]
        stamps = self.stamps[hart][line & (self.sets - 1)]
        victim = -1
        for w in range(self.ways):
            if tags[w] is None:
                victim = w
                break
            if victim < 0 or stamps[w] < stamps[victim]:
                victim = w
        old = tags[victim]
        if old is not None:
            e = self._entry(old)
            e[SHARERS] &= ~(1 << hart)
            if e[OWNER] == hart + 1:
                e[OWNER] = e[MODIFIED] = 0
            self.counts[hart][EVICTIONS] += 1
        tags[victim] = line
        self.ticks[hart] += 1
        stamps[victim] = self.ticks[hart]

    # ---- the protocol -------------------------------------------------------------------------

    def _entry(self, line: int) -> list[int]:
        e = self.lines.get(line)
        if e is None:
            e = self.lines[line] = [0, 0, 0, 0]
        return e

    def _charge(self, hart: Hart, cost: int) -> None:
        hart.clock += cost
        self.counts[hart.id][CHARGED] += cost
        self.charged += cost

    def _invalidate_others(self, h: int, e: list[int], line: int) -> None:
        others = e[SHARERS] & ~(1 << h)
        k = 0
        while others:
            if others & 1:
                if self.sets:
                    self._drop(k, line)
                self.counts[h][INVALIDATIONS] += 1
            others >>= 1
            k += 1

    def _touch(self, hart: Hart, line: int, address: int, write: bool) -> None:
        c, h = self.costs, hart.id
        counts = self.counts[h]
        e = self._entry(line)
        bit = 1 << h
        miss = transfer = upgrade = 0
        if e[SHARERS] & bit:
            if not write or e[OWNER] == h + 1:  # a hit; a store to E makes it M
                if write:
                    e[MODIFIED] = 1
                counts[HITS] += 1
                if self.sets:
                    self._use(h, line)
                if self.map is not None:
                    self._attribute(h, address, 0, 0, 0, 0)
                return
            cost = c.upgrade  # a store to S
            upgrade = 1
            self._invalidate_others(h, e, line)
        else:
            if e[MODIFIED]:  # another hart holds it M
                cost = c.line_transfer
                transfer = 1
                if write:
                    self._invalidate_others(h, e, line)
                else:
                    e[OWNER] = e[MODIFIED] = 0
            else:
                cost = c.miss
                miss = 1
                if write and e[SHARERS]:
                    cost += c.upgrade
                    upgrade = 1
                    self._invalidate_others(h, e, line)
                elif not write:
                    e[OWNER] = 0
            if self.sets:
                self._fill(h, line)
        counts[MISSES] += miss
        counts[TRANSFERS] += transfer
        counts[UPGRADES] += upgrade
        if write:
            e[SHARERS], e[OWNER], e[MODIFIED] = bit, h + 1, 1
        else:
            e[SHARERS] |= bit
            if e[SHARERS] == bit:
                e[OWNER], e[MODIFIED] = h + 1, 0
        wait = 0
        if c.serialize_lines:
            now = hart.clock_now()
            wait = max(0, e[BUSY] - now)
            e[BUSY] = now + wait + cost
            counts[WAIT] += wait
            cost += wait
        if self.map is not None:
            self._attribute(h, address, miss, transfer, upgrade, wait)
        self._charge(hart, cost)

    def _touch_range(self, hart: Hart, address: int, size: int, write: bool) -> None:
        offset = address - C.RAM_BASE
        first, last = offset >> self.shift, (offset + max(size, 1) - 1) >> self.shift
        for line in range(first, min(last, self.nlines - 1) + 1):
            at = address if line == first else C.RAM_BASE + (line << self.shift)
            self._touch(hart, line, at, write)

    def access(self, hart: Hart, write: bool, address: int, size: int) -> None:
        """A plain load or store (Hooks.access)."""
        self.counts[hart.id][_I["stores" if write else "loads"]] += 1
        self._touch_range(hart, address, size, write)

    def atomic(self, hart: Hart, kind: str, address: int, writes: bool) -> None:
        """An AMO, LR or SC (an LR takes the line exclusive; a failed SC only reads), or a
        fence (Hooks.charge). An atomic is aligned, so it touches one line."""
        counts = self.counts[hart.id]
        if kind == "fence":
            counts[_I["fences"]] += 1
            self._charge(hart, self.costs.fence)
            return
        counts[_I["atomics"]] += 1
        self._touch_range(hart, address, 1, kind != "sc" or writes)
        self._charge(hart, self.costs.atomic)
