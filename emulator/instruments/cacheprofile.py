"""Cache attribution: the coherence model's misses, transfers, upgrades and line waits by
allocator operation and by data structure, so that a user sees which function moves which
structure's lines (cache.json, a table after the run, the sweep's columns).

Operation: the hart's innermost allocator call in progress — a traced API call (the tracer's
own probes, when it runs; else probes of ours on the same functions), or one of the frontend's
internal operations named below by symbol (remote free, collect); "other" outside any. The
native layer keeps the current operation per hart in C (src/probes.c: ACT_REGION frames and the
tracer's ACT_TRACE frames on the shadow stack); the Python path reads the same shadow stack.

Structure: the address's data structure, from two sources, the more specific winning:
  - the image's global variables (ELF symbols of data in RAM: heaps arrays, locks, the
    allocator's state when it is static), each by its name;
  - the allocator's own structures, found in guest memory with the heap walkers' DWARF layouts
    once `alloc_init` has returned: bbuddy's free-list heads, its lock and the rest of its
    struct, each region's header and bitmap, and the pages it manages; nbbs's trees and pages;
    inside the managed pages, the mimalloc frontend's segment headers (segment and page
    metadata: the first MI_SEGMENT_HEADER bytes of every MI_SEGMENT_SIZE-aligned segment).
Anything else is "other" (stacks, the image's code and read-only data, unmanaged RAM).
Regions a later addmem adds are not found (the table is made once, after init): their accesses
count as "other".
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

from emulator.instruments.coherence import ATTR
from emulator.instruments.heapwalk import MI_SEGMENT_HEADER, MI_SEGMENT_SIZE, Memory, layout
from emulator.instruments.tracer import API, Call, Listener, find_api
from emulator.machine.hooks import CacheMap, Hooks
from emulator.machine.isa import RA
from emulator.native.layout import ACT_REGION
from guest.contract import C

if TYPE_CHECKING:
    from emulator.instruments.probes import Frame, Probes
    from emulator.instruments.tracer import ApiFunction, Tracer
    from emulator.machine.hart import Hart
    from emulator.machine.image import Image
    from emulator.machine.machine import Machine

# The tracer's call names, as the operations are named (the page layer by its uk_ functions).
API_OPS = {"palloc": "uk_palloc", "pfree": "uk_pfree", "addmem": "uk_addmem"}
# The frontend's internal operations (guest/lib/mimalloc/mimalloc.c), by symbol.
FRONTEND_OPS = {"mi_free_remote": "remote free", "mi_collect": "collect"}
# The allocator structures found in memory, and what inside the managed pages is what.
STRUCTURES = ("other", "free lists", "allocator struct", "allocator lock", "region headers",
              "bitmap", "tree", "pages", "segment headers")  # fmt: skip
PAGE_SHIFT = 12


@dataclass(frozen=True, slots=True)
class _Operation:
    """A call of ours in progress on the Python path's shadow stack (as ACT_REGION in C)."""

    op: int
    caller: int  # as C's frame: its return address - 4 (a tail call inside it reads it)


@dataclass(frozen=True, slots=True)
class _Init:
    """alloc_init in progress (an ACT_PYTHON frame in C: no operation of its own)."""

    caller: int  # as C's frame: its return address - 4 (a tail call inside it reads it)


def flatten(ranges: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int]]:
    """(start, end, structure, priority) ranges, maybe overlapping, as sorted non-overlapping
    (start, end, structure): where ranges overlap, the highest priority wins (the first given
    among equals)."""
    points = sorted({r[0] for r in ranges} | {r[1] for r in ranges})
    out: list[tuple[int, int, int]] = []
    for a, b in pairwise(points):
        best = None
        for start, end, structure, priority in ranges:
            if start <= a and b <= end and (best is None or priority > best[1]):
                best = (structure, priority)
        if best is None:
            continue
        if out and out[-1][1] == a and out[-1][2] == best[0]:
            out[-1] = (out[-1][0], b, best[0])
        else:
            out.append((a, b, best[0]))
    return out


class CacheProfile(Listener):
    """Cache attribution for one run (module docstring). A listener of the tracer's calls on
    the Python path (it counts them there; C counts them on the native layer)."""

    first_entry_now = False  # counting calls needs nothing at once
    native_calls = False  # C counts the calls there (attr_calls)

    def needs_now(self, fn: ApiFunction) -> tuple[bool, bool]:
        return False, False

    def __init__(self, image: Image, probes: Probes, tracer: Tracer | None):
        self.image = image
        self.probes = probes
        self.ops = ["other"]
        self._fn_ops: dict[ApiFunction, int] = {}
        for fn in API:
            name = API_OPS.get(fn.call, fn.call)
            self._fn_ops[fn] = self._op(name)
        if tracer is not None:  # the tracer's frames say which call is in progress
            api_ops = [self._fn_ops[fn] for fn in tracer._traced]
            tracer.listeners.append(self)
        else:  # probes of ours on the same functions
            api_ops = []
            for fn, address in find_api(image).items():
                self._region(fn.symbol, self._fn_ops[fn], address)
        for symbol, name in FRONTEND_OPS.items():
            sym = image.symbol(symbol)
            if sym is not None:
                self._region(symbol, self._op(name), sym.address)
        probes.add_symbol(
            image, "alloc_init", lambda hart: _Init(hart.read_reg(RA) - 4), self._after_init
        )
        self.structures = list(STRUCTURES)
        self._globals = []
        for sym in image.symbols:
            if sym.size and self._in_ram(sym.address) and not image.contains(sym.address, True):
                self._globals.append((sym.address, sym.address + sym.size, self._struct(sym.name)))
        frontend = image.symbol("mi_heaps") is not None
        self.map = CacheMap(
            self.ops, self.structures, api_ops,
            segmented=STRUCTURES.index("pages") if frontend else -1,
            segment_header_struct=STRUCTURES.index("segment headers"),
            segment_size=MI_SEGMENT_SIZE, segment_header=MI_SEGMENT_HEADER,
        )  # fmt: skip
        self.calls = [0] * len(self.ops)  # the Python path's count (C's on the native layer)
        self._machine: Machine | None = None
        self.counts: list[list[list[int]]] = []  # [op][structure][ATTR], after the run

    def _op(self, name: str) -> int:
        if name not in self.ops:
            self.ops.append(name)
        return self.ops.index(name)

    def _struct(self, name: str) -> int:
        if name not in self.structures:
            self.structures.append(name)
        return self.structures.index(name)

    def _in_ram(self, address: int) -> bool:
        return C.RAM_BASE <= address < C.RAM_BASE + (1 << 40)

    def _region(self, name: str, op: int, address: int) -> None:
        def on_entry(hart: Hart) -> object:
            self.calls[op] += 1
            return _Operation(op, hart.read_reg(RA) - 4)

        self.probes.add_address(
            self.image, address, name, on_entry, lambda hart, frame: None, (ACT_REGION, op)
        )

    # ---- the run --------------------------------------------------------------------------

    def install(self, hooks: Hooks) -> None:
        hooks.cache_map = self.map

    def attach(self, image: Image, machine: Machine) -> None:  # as a Listener, and directly
        if self._machine is not None:
            return
        self._machine = machine
        if machine.native is None:
            self.map.op_of = self._op_of
        self.map.set_ranges(flatten([(s, e, k, 1) for s, e, k in self._globals]))

    def on_entry(self, hart: Hart, call: Call) -> None:
        if self._machine is not None and self._machine.native is None and not call.injected:
            self.calls[self._fn_ops[call.fn]] += 1

    def _op_of(self, hart: int) -> int:
        for frame in reversed(self.probes.shadow(hart)):
            data = frame.data
            if isinstance(data, _Operation):
                return data.op
            if isinstance(data, Call):
                return self._fn_ops[data.fn]
        return 0

    def _after_init(self, hart: Hart, frame: Frame) -> None:
        """alloc_init has returned: the allocator's structures exist; find them."""
        assert self._machine is not None
        found = [(s, e, k, 1) for s, e, k in self._globals] + self._allocator(Memory(self._machine))
        self.map.set_ranges(flatten(found))

    def _allocator(self, mem: Memory) -> list[tuple[int, int, int, int]]:
        """The allocator's structures in memory (priority 2; its pages 0: what is inside them
        is said more precisely where it can be)."""
        image, S = self.image, STRUCTURES.index
        pointer = image.symbol("mi_provider") or image.symbol("default_alloc")
        if pointer is None or not mem.valid(pointer.address):
            return []
        base = mem.u64(pointer.address)
        out: list[tuple[int, int, int, int]] = []
        bb, region = layout(image, "bbuddy"), layout(image, "bb_region")
        nb, tree = layout(image, "nbbs"), layout(image, "nb_tree")
        if bb and region and base and mem.valid(base):
            size = bb["__size__"].size
            out.append((base, base + size, S("allocator struct"), 2))
            heads = bb["free_head"]
            out.append((base + heads.offset, base + heads.offset + 8 * heads.count,
                        S("free lists"), 3))  # fmt: skip
            lock = bb.get("lock")
            if lock:
                start = base + lock.offset
                out.append((start, start + lock.size * lock.count, S("allocator lock"), 3))
            r = mem.u64(base + bb["regions"].offset)
            for _ in range(1024):
                if not r or not mem.valid(r, region["__size__"].size):
                    break
                first = mem.u64(r + region["first_page"].offset)
                pages = mem.u64(r + region["nr_pages"].offset)
                bitmap = mem.u64(r + region["bitmap"].offset)
                out.append((r, r + region["__size__"].size, S("region headers"), 2))
                out.append((bitmap, bitmap + 8 * ((pages + 63) // 64), S("bitmap"), 2))
                out.append((first, first + (pages << PAGE_SHIFT), S("pages"), 0))
                r = mem.u64(r + region["next"].offset)
        elif nb and tree and base and mem.valid(base):
            out.append((base, base + nb["__size__"].size, S("allocator struct"), 2))
            trees = nb["trees"]
            for i in range(trees.count):
                t = mem.u64(base + trees.offset + 8 * i)
                if not t or not mem.valid(t):
                    continue
                depth = mem.u64(t + tree["depth"].offset) & 0xFFFFFFFF
                nodes = t + tree["node"].offset + (2 << depth)
                out.append((t, nodes, S("tree"), 2))
                lo, hi = mem.u64(t + tree["lo"].offset), mem.u64(t + tree["hi"].offset)
                out.append((lo, hi, S("pages"), 0))
        return out

    # ---- results --------------------------------------------------------------------------

    def collect(self, counts: list[list[list[int]]]) -> None:
        """After the run: the counts per [op][structure][ATTR] (Timing.collect's)."""
        self.counts = counts
        native = self._machine.native if self._machine is not None else None
        if native is not None:
            self.calls = list(native.attr_calls)

    def report(self) -> dict:
        """cache.json: per operation, per structure and per (operation, structure)."""
        return attribution_report(self.ops, self.structures, self.counts, self.calls)


def attribution_report(
    ops: list[str], structures: list[str], counts: list[list[list[int]]], calls: list[int]
) -> dict:
    """cache.json's shape from counts per [op][structure][ATTR] and calls per op: of a whole run
    (CacheProfile.report) or of a window of it (the bench's markers)."""

    def entry(cells: list[list[int]]) -> dict:
        return {name: sum(c[i] for c in cells) for i, name in enumerate(ATTR)}

    by_op = {}
    for op, name in enumerate(ops):
        row = entry(counts[op])
        if not row["accesses"] and not calls[op]:
            continue
        row["calls"] = calls[op]
        if calls[op]:
            row["per_call"] = {k: round(row[k] / calls[op], 3) for k in ATTR if k != "accesses"} | {
                "accesses": round(row["accesses"] / calls[op], 3)
            }
        by_op[name] = row
    by_structure = {}
    for s, name in enumerate(structures):
        row = entry([counts[op][s] for op in range(len(ops))])
        if row["accesses"]:
            by_structure[name] = row
    cells = [
        {"operation": ops[op], "structure": structures[s],
         **dict(zip(ATTR, counts[op][s], strict=True))}
        for op in range(len(ops)) for s in range(len(structures))
        if counts[op][s][0]
    ]  # fmt: skip
    return {"operations": by_op, "structures": by_structure, "cells": cells}


def format_table(report: dict, rows: int = 12) -> str:
    """The (operation, structure) pairs that cost the most coherence traffic, for the end of a
    run: misses, transfers, upgrades and line-wait cycles, and per call of the operation."""
    ops = report["operations"]
    cells = sorted(
        report["cells"],
        key=lambda c: (-(c["misses"] + c["transfers"] + c["upgrades"]), -c["wait_cycles"]),
    )
    cells = [c for c in cells if c["misses"] + c["transfers"] + c["upgrades"]][:rows]
    head = f"{'operation':<15} {'structure':<22} {'misses':>8} {'transfers':>9} {'upgrades':>8} "
    head += f"{'wait cyc':>9} {'calls':>7} {'miss+xfer/call':>14}"
    lines = ["cache traffic by allocator operation and data structure (cache.json):", head]
    for c in cells:
        calls = ops.get(c["operation"], {}).get("calls", 0)
        per = f"{(c['misses'] + c['transfers']) / calls:.2f}" if calls else "-"
        lines.append(
            f"{c['operation'][:15]:<15} {c['structure'][:22]:<22} {c['misses']:>8} "
            f"{c['transfers']:>9} {c['upgrades']:>8} {c['wait_cycles']:>9} {calls:>7} {per:>14}"
        )
    return "\n".join(lines)
