"""The allocation oracle: a shadow map of live blocks per layer, checked on every call.

Rules (the `rule` field of a violation; README "Allocation traces and the oracle" documents
each):

  range          a block handed out lies outside the heap: [_end, FDT), or [_end, end of RAM)
                 for a payload under SBI firmware (--bios)
  alignment      a block is not aligned as asked (malloc family: 16 bytes, or the largest power
                 of two <= its size when smaller; memalign: its alignment; pages and mmap: 4 KiB)
  overlap        a block overlaps a live block of the same layer
  containment    an object lies outside every live mmap region (checked once the run has mapped
                 any: the frontend takes all its memory through mmap), or a munmap that took
                 effect unmapped memory a live object lies in
  invalid-free   a free, or a munmap or realloc that took effect, of an address the layer never
                 handed out
  double-free    the same, of a block already given back (or being given back by a call still
                 in progress)
  page-count     pfree's page count differs from the palloc's
  leak           blocks the app allocated (not the allocator for itself) still allocated when
                 the guest exits with 0
  lost-pages     the page allocator has fewer free pages at exit than after its set-up, though
                 every block was freed
  heap           the heap walker (heapwalk.py) found a broken invariant in the allocator's own
                 structures

The oracle judges what happened, not what was asked. A call whose result says whether it took
effect is judged at its return, from that result: an allocation that returned nothing (NULL,
-errno, a nonzero posix_memalign status) changes nothing; a munmap that failed changes
nothing, one that succeeded releases exactly its range (a partial unmap splits the mapping);
a realloc that returned NULL for a nonzero size changes nothing, otherwise its old block is
given back. What such a call would release is held aside from its entry to its return, so that
another hart may be handed that memory in between (the allocator may have released it before
the call returns); if the call then fails, the memory is live again and must not have been
handed out meanwhile. free and pfree return nothing that could say they failed: the caller
gives the block up at entry, so they are judged there, for what they would do: freeing a
pointer never handed out (or already freed) is a violation whatever the allocator makes of it.
Calls made inside a call of the same layer on the same hart (realloc calling malloc) are the
allocator's own business and not checked. A violation stops the run at once.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from emulator.instruments.heapwalk import FrontendWalker, Walker, walker_for
from emulator.instruments.probes import Probes
from emulator.instruments.tracer import ApiFunction, Call, Listener, block_bytes, signed
from emulator.machine.hooks import Hooks
from emulator.machine.isa import PC, RA
from emulator.machine.machine import Outcome
from guest.contract import C

if TYPE_CHECKING:
    from emulator.machine.hart import Hart
    from emulator.machine.image import Image
    from emulator.machine.machine import Machine, RunResult

PAGE = 4096
MALLOC_ALIGN = 16  # RISC-V psABI: alignof(max_align_t)
_ALLOCS = frozenset({"malloc", "calloc", "realloc", "memalign", "posix_memalign", "palloc", "mmap"})


@dataclass(slots=True)
class Block:
    layer: str
    start: int
    size: int  # bytes
    call: Call  # the call that handed it out

    @property
    def end(self) -> int:
        return self.start + max(self.size, 1)


class Shadow:
    """Live blocks of one layer, sorted by address (they never overlap)."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.blocks: dict[int, Block] = {}

    def __len__(self) -> int:
        return len(self.starts)

    def add(self, block: Block) -> None:
        bisect.insort(self.starts, block.start)
        self.blocks[block.start] = block

    def remove(self, start: int) -> Block:
        del self.starts[bisect.bisect_left(self.starts, start)]
        return self.blocks.pop(start)

    def overlapping(self, start: int, end: int) -> Block | None:
        i = bisect.bisect_right(self.starts, start) - 1
        if i >= 0 and self.blocks[self.starts[i]].end > start:
            return self.blocks[self.starts[i]]
        if i + 1 < len(self.starts) and self.starts[i + 1] < end:
            return self.blocks[self.starts[i + 1]]
        return None

    def all_overlapping(self, start: int, end: int) -> list[Block]:
        i = max(bisect.bisect_right(self.starts, start) - 1, 0)
        out = []
        while i < len(self.starts) and self.starts[i] < end:
            block = self.blocks[self.starts[i]]
            if block.end > start:
                out.append(block)
            i += 1
        return out

    def containing(self, start: int, end: int) -> Block | None:
        i = bisect.bisect_right(self.starts, start) - 1
        if i >= 0:
            b = self.blocks[self.starts[i]]
            if b.start <= start and end <= b.start + b.size:
                return b
        return None


@dataclass(slots=True)
class InFlight:
    """What a call with a result (munmap, realloc) would release, held aside from its entry to
    its return: the live blocks it took (whole), the pieces of them left live (a partial
    munmap), the pieces it releases if it succeeds, and the parts of its range that were not
    live at entry (with what was wrong with them)."""

    call: Call
    layer: str
    taken: list[Block] = field(default_factory=list)
    kept: list[Block] = field(default_factory=list)
    released: list[Block] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    problem: tuple[str, str, dict] | None = None  # (rule, text, blocks) for a gap


def required_alignment(call: Call, size: int | None = None) -> int:
    """`size`: block_bytes(call), when the caller has it already."""
    kind = call.fn.call
    if kind in ("palloc", "mmap"):
        return PAGE
    if size is None:
        size = block_bytes(call)
    natural = MALLOC_ALIGN if size >= MALLOC_ALIGN else 1 << max(size, 1).bit_length() - 1
    if kind in ("memalign", "posix_memalign"):
        return max(call.arg("align"), natural)
    return natural


def _pages(length: int) -> int:
    """`length` rounded up to whole pages, as mmap and munmap take it."""
    return -(-length // PAGE) * PAGE


class Violation(Exception):
    pass


class Oracle(Listener):
    def __init__(
        self,
        image: Image,
        probes: Probes,
        hooks: Hooks,
        check_every: int = 0,
        walker_plugins: tuple[tuple[str, str], ...] = (),  # (file name, source)
    ):
        self.image = image
        self.walker_plugins = walker_plugins
        self.probes = probes
        self.live = {layer: Shadow() for layer in ("objects", "pages", "mmap")}
        self.freed: dict[tuple[str, int], tuple[Block, Call]] = {}
        self.in_flight: dict[int, InFlight] = {}  # seq of a call in progress -> what it holds
        self.mapped_any = False
        self.calls = 0
        self.walker: Walker | None = None
        self.initial_free_pages: int | None = None
        self.final_free_pages: int | None = None
        self.walks = 0
        # addmem calls in flight, and the free pages before the first of them: harts may add
        # memory at once, and the change over the whole overlap is what they added
        self._addmems = 0
        self._before_addmem: int | None = None
        self.conservation = "not checked"
        self.check_every = check_every
        self._next_walk = check_every
        if check_every:
            hooks.after_turn.append(self._periodic_walk)

    def needs_now(self, fn: ApiFunction) -> tuple[bool, bool]:
        """Frees, munmap and realloc are judged at entry, allocations, munmap and realloc at
        return, addmem on both sides (it reads the heap): those must come as they happen, so
        that a violation stops the run at its exact instruction; other calls may wait for the
        end of the turn."""
        entry = fn.call in ("free", "pfree", "munmap", "realloc", "addmem")
        return entry, fn.call in _ALLOCS or fn.call in ("munmap", "addmem")

    def attach(self, image: Image, machine: Machine) -> None:
        self.machine = machine
        end = image.symbol("_end")
        # Bare, the FDT the emulator placed tops the heap (it must survive); under SBI firmware
        # the payload reads the firmware's FDT once at boot and may then use RAM to its end.
        top = machine.fdt_address if machine.firmware is None else C.RAM_BASE + machine.ram_size
        self.heap = (
            end.address if end else max(s.address + s.memsize for s in image.segments),
            top,
        )
        self.walker = walker_for(image, machine, self.walker_plugins)
        self._maintenance: list[tuple[int, int]] = []  # [start, end) of heap-changing non-calls
        if isinstance(self.walker, FrontendWalker):
            for name in FrontendWalker.MAINTENANCE:
                sym = image.symbol(name)
                if sym is not None and sym.size:
                    self._maintenance.append((sym.address, sym.address + sym.size))

    # ---- describing --------------------------------------------------------------------------

    def _describe_call(self, call: Call) -> str:
        args = ", ".join(
            f"{v:#x}" if name in ("ptr", "addr", "memptr") else str(v)
            for name, v in zip(call.fn.args, call.args, strict=True)
        )
        result = ""
        if call.fn.call in ("munmap", "realloc") and call.result is not None:
            value = signed(call.result) if call.fn.call == "munmap" else call.result
            result = f" = {value:#x}" if call.fn.call == "realloc" else f" = {value}"
        return (
            f"hart {call.hart} {call.fn.call}({args}){result} at {self.image.where(call.caller)} "
            f"(call #{call.seq}, instruction {call.entry})"
        )

    def _block_json(self, block: Block, freed_by: Call | None = None) -> dict:
        out = {
            "layer": block.layer,
            "start": f"{block.start:#x}",
            "size": block.size,
            "made_by": block.call.to_json(self.image),
        }
        if freed_by is not None:
            out["freed_by"] = freed_by.to_json(self.image)
        return out

    def _violate(self, hart: Hart, rule: str, call: Call, text: str, **blocks: dict) -> None:
        message = f"{rule}: {self._describe_call(call)}: {text}"
        details = {
            "rule": rule,
            "hart": call.hart,
            "pc": f"{call.caller:#x}",
            "where": self.image.where(call.caller),
            "call": call.to_json(self.image),
            **blocks,
        }
        if self.walker is not None:
            details["heap_walk"] = self.walker.check()
        self.machine.request_violation(hart, call.caller, message, details)
        raise Violation(message)

    # ---- calls -------------------------------------------------------------------------------

    def on_entry(self, hart: Hart, call: Call) -> None:
        if self.initial_free_pages is None and self.walker is not None:
            self.initial_free_pages = self.walker.free_pages()
        if call.depth:
            return
        self.calls += 1
        kind = call.fn.call
        if kind == "addmem" and self.walker is not None:
            if not self._addmems:
                self._before_addmem = self.walker.free_pages()
            self._addmems += 1
        # try, not contextlib.suppress: this runs for every call, and a try costs nothing
        try:
            if kind in ("free", "pfree") and call.args[0]:
                self._free(hart, call, call.fn.layer)
            elif kind == "munmap":
                self._hold_unmap(call)
            elif kind == "realloc" and call.args[0]:
                self._hold_realloc(call)
        except Violation:
            pass

    def on_return(self, hart: Hart, call: Call) -> None:
        kind = call.fn.call
        if kind == "addmem" and not call.depth and self.walker is not None:
            # Pages given to the allocator are not a gain to conserve: move the baseline.
            self._addmems -= 1
            if self._addmems:
                return
            added = (self.walker.free_pages() or 0) - (self._before_addmem or 0)
            self.initial_free_pages = (self.initial_free_pages or 0) + added
            return
        if call.depth:
            return
        try:
            held = self.in_flight.pop(call.seq, None) if self.in_flight else None
            if kind == "munmap" and held is not None:
                self._unmapped(hart, call, held)
            elif kind == "realloc" and held is not None:
                self._reallocated(hart, call, held)
            elif kind in _ALLOCS:
                self._allocated(hart, call)
        except Violation:
            pass

    # ---- what a pointer that is not live is --------------------------------------------------

    def _diagnose(self, layer: str, ptr: int) -> tuple[str, str, dict]:
        """(rule, text, blocks) for giving back `ptr`, which is no live block of `layer`."""
        old = self.freed.get((layer, ptr))
        if old is not None:
            made, freed_by = old
            verb = "unmapped" if layer == "mmap" else "freed"
            return (
                "double-free",
                f"{ptr:#x} was {verb} already by {self._describe_call(freed_by)}",
                {"block": self._block_json(made, freed_by)},
            )
        for held in self.in_flight.values():
            for block in held.released or held.taken:
                if block.layer == layer and block.start <= ptr < block.end:
                    return (
                        "double-free",
                        f"{ptr:#x} is being given back by {self._describe_call(held.call)}, "
                        "which has not returned yet",
                        {"block": self._block_json(block, held.call)},
                    )
        inside = self.live[layer].overlapping(ptr, ptr + 1)
        text = f"{ptr:#x} is not a block this {layer} layer handed out"
        if inside is None:
            return "invalid-free", text, {}
        text += (
            f"; it lies {ptr - inside.start} bytes into the block at {inside.start:#x} "
            f"from {self._describe_call(inside.call)}"
        )
        return "invalid-free", text, {"block": self._block_json(inside)}

    def _known(self, hart: Hart, call: Call, layer: str, ptr: int) -> Block:
        block = self.live[layer].blocks.get(ptr)
        if block is not None:
            return block
        rule, text, blocks = self._diagnose(layer, ptr)
        self._violate(hart, rule, call, text, **blocks)
        raise AssertionError  # not reached

    # ---- free and pfree: judged at entry -----------------------------------------------------

    def _free(self, hart: Hart, call: Call, layer: str) -> None:
        ptr = call.args[0]
        block = self._known(hart, call, layer, ptr)
        if layer == "pages" and block.size != call.arg("pages") * PAGE:
            self._violate(
                hart,
                "page-count",
                call,
                f"the block at {ptr:#x} has {block.size // PAGE} pages, pfree gives back "
                f"{call.arg('pages')}",
                block=self._block_json(block),
            )
        self.live[layer].remove(ptr)
        self.freed[(layer, ptr)] = (block, call)

    # ---- munmap: held at entry, judged at return ---------------------------------------------

    def _hold_unmap(self, call: Call) -> None:
        addr = call.args[0]
        end = addr + _pages(call.arg("length"))
        shadow = self.live["mmap"]
        held = InFlight(call, "mmap")
        covered = addr
        for block in shadow.all_overlapping(addr, end):
            shadow.remove(block.start)
            held.taken.append(block)
            lo, hi = max(block.start, addr), min(block.start + block.size, end)
            if covered < lo:
                held.gaps.append((covered, lo))
            covered = hi
            held.released.append(Block("mmap", lo, hi - lo, block.call))
            if block.start < lo:  # what stays mapped on either side
                held.kept.append(Block("mmap", block.start, lo - block.start, block.call))
            if hi < block.start + block.size:
                held.kept.append(Block("mmap", hi, block.start + block.size - hi, block.call))
        if covered < end:
            held.gaps.append((covered, end))
        for piece in held.kept:
            shadow.add(piece)
        if held.gaps:
            held.problem = self._diagnose("mmap", held.gaps[0][0])
        self.in_flight[call.seq] = held

    def _unmapped(self, hart: Hart, call: Call, held: InFlight) -> None:
        if call.result is None or signed(call.result) != 0:
            self._restore(hart, call, held)  # it failed: nothing was unmapped
            return
        if held.gaps and held.problem is not None:
            rule, text, blocks = held.problem
            lo, hi = held.gaps[0]
            if rule == "invalid-free":
                text = f"it succeeded, but [{lo:#x}, {hi:#x}) was not mapped"
            self._violate(hart, rule, call, text, **blocks)
        objects = self.live["objects"]
        for piece in held.released:
            self.freed[("mmap", piece.start)] = (piece, call)
            inside = objects.overlapping(piece.start, piece.start + piece.size)
            if inside is not None:
                self._violate(
                    hart,
                    "containment",
                    call,
                    f"it unmapped [{piece.start:#x}, {piece.start + piece.size:#x}), where the "
                    f"live object [{inside.start:#x}, {inside.end:#x}) from "
                    f"{self._describe_call(inside.call)} lies",
                    block=self._block_json(inside),
                )

    # ---- realloc: held at entry, judged at return --------------------------------------------

    def _hold_realloc(self, call: Call) -> None:
        ptr = call.args[0]
        held = InFlight(call, "objects")
        block = self.live["objects"].blocks.get(ptr)
        if block is None:
            held.problem = self._diagnose("objects", ptr)
        else:
            self.live["objects"].remove(ptr)
            held.taken.append(block)
            held.released.append(block)
        self.in_flight[call.seq] = held

    def _reallocated(self, hart: Hart, call: Call, held: InFlight) -> None:
        # NULL for a nonzero size: it failed and the old block stays; realloc(p, 0) frees p
        # (what this frontend does; C leaves it to the implementation).
        if not call.result and call.arg("size"):
            self._restore(hart, call, held)
            return
        if not held.taken:
            assert held.problem is not None
            rule, text, blocks = held.problem
            self._violate(hart, rule, call, text, **blocks)
        old = held.taken[0]
        new = call.result or 0
        if new and new != old.start and new < old.end and old.start < new + block_bytes(call):
            self._violate(
                hart,
                "overlap",
                call,
                f"it moved the block at {old.start:#x} to {new:#x}, into itself",
                block=self._block_json(old),
            )
        if new != old.start and old.start not in self.live["objects"].blocks:
            self.freed[("objects", old.start)] = (old, call)
        self._allocated(hart, call)

    def _restore(self, hart: Hart, call: Call, held: InFlight) -> None:
        """A call that failed: what it held aside is live again, as it was."""
        shadow = self.live[held.layer]
        for piece in held.kept:
            shadow.remove(piece.start)
        for block in held.taken:
            other = shadow.overlapping(block.start, block.end)
            if other is not None:
                self._violate(
                    hart,
                    "overlap",
                    call,
                    f"it failed, so [{block.start:#x}, {block.end:#x}) stayed allocated, yet "
                    f"[{other.start:#x}, {other.end:#x}) inside it was handed out meanwhile by "
                    f"{self._describe_call(other.call)}",
                    block=self._block_json(block),
                    other=self._block_json(other),
                )
            shadow.add(block)

    # ---- allocations: judged at return -------------------------------------------------------

    def _mapped(self, start: int, end: int) -> bool:
        """Whether [start, end) lies in one live mapping, or in one a munmap still in progress
        took (it may yet fail)."""
        if self.live["mmap"].containing(start, end) is not None:
            return True
        return any(
            b.start <= start and end <= b.start + b.size
            for held in self.in_flight.values()
            if held.layer == "mmap"
            for b in held.taken
        )

    def _allocated(self, hart: Hart, call: Call) -> None:
        layer = call.fn.layer
        start = call.block
        if not start:
            return
        asked = size = block_bytes(call)
        if layer == "mmap":
            size = _pages(size)
            self.mapped_any = True
        block = Block(layer, start, size, call)
        lo, hi = self.heap
        if start < lo or block.end > hi:
            self._violate(
                hart,
                "range",
                call,
                f"it returned [{start:#x}, {block.end:#x}), outside the heap [{lo:#x}, {hi:#x})",
            )
        align = required_alignment(call, asked)
        if start % align:
            self._violate(
                hart,
                "alignment",
                call,
                f"it returned {start:#x}, not aligned to {align} bytes",
            )
        other = self.live[layer].overlapping(start, block.end)
        if other is not None:
            self._violate(
                hart,
                "overlap",
                call,
                f"it returned [{start:#x}, {block.end:#x}), which overlaps the live block "
                f"[{other.start:#x}, {other.end:#x}) from {self._describe_call(other.call)}",
                block=self._block_json(block),
                other=self._block_json(other),
            )
        if layer == "objects" and self.mapped_any and not self._mapped(start, block.end):
            self._violate(
                hart,
                "containment",
                call,
                f"[{start:#x}, {block.end:#x}) lies in no live mmap region",
                block=self._block_json(block),
            )
        self.live[layer].add(block)
        self.freed.pop((layer, start), None)

    # ---- walks and the end of the run --------------------------------------------------------

    def _quiescent(self) -> bool:
        """No allocator call in progress, and no hart inside a maintenance function (its pc
        there, or its return address: one of the functions it calls, not inlined)."""
        if self.probes.any_in_progress():
            return False
        for hart in self.machine.harts if self._maintenance else ():
            for address in (hart.read_reg(PC), hart.read_reg(RA)):
                if any(start <= address < end for start, end in self._maintenance):
                    return False
        return True

    def _periodic_walk(self, hart: Hart, retired: int, total: int) -> None:
        if self.walker is None or total < self._next_walk:
            return
        if not self._quiescent() or self.machine.stopped:
            return
        self._next_walk = total + self.check_every
        self.walks += 1
        errors = self.walker.check()  # type: ignore[union-attr]
        if errors:
            message = f"heap: {errors[0]} (walk at instruction {total})"
            self.machine.request_violation(
                hart, hart.pc, message, {"rule": "heap", "heap_walk": errors}
            )

    def finish(self, machine: Machine, result: RunResult) -> None:
        if result.outcome is not Outcome.EXITED or result.exit_code != 0:
            return
        # Blocks the allocator took for itself (segments an mmap-backed frontend keeps, pages
        # behind them) are its own state, not the app's leaks: only calls made outside any
        # other allocator call count, and no mapping the allocator's own structures hold (a
        # segment mapped inside a frontend call the oracle does not see, such as mi_malloc).
        # Page conservation covers the rest.
        own = self.walker.own_mappings() if self.walker is not None else set()
        leaks = [
            b
            for shadow in self.live.values()
            for b in shadow.blocks.values()
            if not b.call.nested and not (b.layer == "mmap" and b.start in own)
        ]
        if leaks:
            leaks.sort(key=lambda b: b.call.seq)
            shown = "; ".join(
                f"{b.layer} {b.start:#x} ({b.size} B) from {self._describe_call(b.call)}"
                for b in leaks[:5]
            )
            more = f" and {len(leaks) - 5} more" if len(leaks) > 5 else ""
            _turn_into_violation(
                result,
                f"leak: {len(leaks)} blocks still allocated at exit: {shown}{more}",
                {"rule": "leak", "blocks": [self._block_json(b) for b in leaks[:100]]},
                leaks[0].call,
            )
            return
        if self.walker is None:
            self.conservation = "not checked (no heap walker for this allocator)"
            return
        self.walks += 1
        errors = self.walker.check()
        if errors:
            _turn_into_violation(
                result, f"heap: {errors[0]} (walk at exit)", {"rule": "heap", "heap_walk": errors}
            )
            return
        self.final_free_pages = self.walker.free_pages()
        held = self._held_pages()
        if self.final_free_pages is None:
            self.conservation = "not checked (the page allocator has no walker)"
        elif self.initial_free_pages is None:
            self.conservation = "not checked (no allocator call)"
        elif self.final_free_pages + held != self.initial_free_pages:
            lost = self.initial_free_pages - self.final_free_pages - held
            self.conservation = "violated"
            _turn_into_violation(
                result,
                f"lost-pages: every block was freed, but the page allocator has {lost} free "
                f"pages fewer than after its set-up ({self.final_free_pages} of "
                f"{self.initial_free_pages}"
                + (f", {held} held by the allocator's own live blocks)" if held else ")"),
                {
                    "rule": "lost-pages",
                    "initial_free_pages": self.initial_free_pages,
                    "final_free_pages": self.final_free_pages,
                    "held_pages": held,
                },
            )
        else:
            self.conservation = "ok" + (f" ({held} pages held by the allocator)" if held else "")

    def _held_pages(self) -> int:
        """Pages the allocator holds for itself at exit (live blocks it allocated inside its
        own calls: a frontend's segments), from the page layer, else the mmap layer."""
        for layer in ("pages", "mmap"):
            held = [b.size for b in self.live[layer].blocks.values() if b.call.nested]
            if held:
                return sum(held) // PAGE
        return 0

    def report(self) -> dict:
        return {
            "checked_calls": self.calls,
            "walker": self.walker.name if self.walker else None,
            "walks": self.walks,
            "conservation": self.conservation,
            "initial_free_pages": self.initial_free_pages,
            "final_free_pages": self.final_free_pages,
        }


def _turn_into_violation(
    result: RunResult, message: str, details: dict, call: Call | None = None
) -> None:
    result.outcome = Outcome.VIOLATION
    result.message = message
    result.extra = details
    if call is not None:
        result.stopped_hart, result.stopped_pc = call.hart, call.caller
