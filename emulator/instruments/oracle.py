"""The allocation oracle: a shadow map of live blocks per layer, checked on every call.

Rules (the `rule` field of a violation; README "Allocation oracle" documents each):

  range          a block handed out lies outside the heap [_end, FDT)
  alignment      a block is not aligned as asked (malloc family: 16 bytes, or the largest power
                 of two <= its size when smaller; memalign: its alignment; pages and mmap: 4 KiB)
  overlap        a block overlaps a live block of the same layer
  containment    an object lies outside every live mmap region (checked once the run has mapped
                 any: the frontend takes all its memory through mmap)
  invalid-free   free/pfree/munmap/realloc of an address the layer never handed out
  double-free    the same, of a block already freed
  page-count     pfree's page count differs from the palloc's
  leak           blocks the app allocated (not the allocator for itself) still allocated when
                 the guest exits with 0
  lost-pages     the page allocator has fewer free pages at exit than after its set-up, though
                 every block was freed
  heap           the heap walker (heapwalk.py) found a broken invariant in the allocator's own
                 structures

Frees are taken at entry (the caller gives the block up there), allocations at return. Calls
made inside a call of the same layer on the same hart (realloc calling malloc) are the
allocator's own business and not checked. A violation stops the run at once.
"""

from __future__ import annotations

import bisect
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emulator.instruments.heapwalk import Walker, walker_for
from emulator.instruments.probes import Probes
from emulator.instruments.tracer import ApiFunction, Call, Listener, block_bytes
from emulator.machine.hooks import Hooks
from emulator.machine.machine import Outcome

if TYPE_CHECKING:
    from emulator.machine.hart import Hart
    from emulator.machine.image import Image
    from emulator.machine.machine import Machine, RunResult

PAGE = 4096
MALLOC_ALIGN = 16  # RISC-V psABI: alignof(max_align_t)
_FREES = {"free": "objects", "pfree": "pages", "munmap": "mmap"}
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
    """Live blocks of one layer, sorted by address."""

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

    def containing(self, start: int, end: int) -> Block | None:
        i = bisect.bisect_right(self.starts, start) - 1
        if i >= 0:
            b = self.blocks[self.starts[i]]
            if b.start <= start and end <= b.start + b.size:
                return b
        return None


def required_alignment(call: Call) -> int:
    kind = call.fn.call
    if kind in ("palloc", "mmap"):
        return PAGE
    size = block_bytes(call)
    natural = MALLOC_ALIGN if size >= MALLOC_ALIGN else 1 << max(size, 1).bit_length() - 1
    if kind in ("memalign", "posix_memalign"):
        return max(call.arg("align"), natural)
    return natural


class Violation(Exception):
    pass


class Oracle(Listener):
    def __init__(self, image: Image, probes: Probes, hooks: Hooks, check_every: int = 0):
        self.image = image
        self.probes = probes
        self.live = {layer: Shadow() for layer in ("objects", "pages", "mmap")}
        self.freed: dict[tuple[str, int], tuple[Block, Call]] = {}
        self.mapped_any = False
        self.calls = 0
        self.walker: Walker | None = None
        self.initial_free_pages: int | None = None
        self.final_free_pages: int | None = None
        self.walks = 0
        self._before_addmem: int | None = None
        self.conservation = "not checked"
        self.check_every = check_every
        self._next_walk = check_every
        if check_every:
            hooks.after_turn.append(self._periodic_walk)

    def needs_now(self, fn: ApiFunction) -> tuple[bool, bool]:
        """Frees are checked at entry, allocations at return, addmem on both sides (it reads
        the heap): those must come as they happen, so that a violation stops the run at its
        exact instruction; other calls may wait for the end of the turn."""
        return (fn.call in _FREES or fn.call in ("realloc", "addmem"),
                fn.call in _ALLOCS or fn.call == "addmem")  # fmt: skip

    def attach(self, image: Image, machine: Machine) -> None:
        self.machine = machine
        end = image.symbol("_end")
        self.heap = (
            end.address if end else max(s.address + s.memsize for s in image.segments),
            machine.fdt_address,
        )
        self.walker = walker_for(image, machine)

    # ---- describing ----------------------------------------------------------------------

    def _describe_call(self, call: Call) -> str:
        args = ", ".join(
            f"{v:#x}" if name in ("ptr", "addr", "memptr") else str(v)
            for name, v in zip(call.fn.args, call.args, strict=True)
        )
        return (
            f"hart {call.hart} {call.fn.call}({args}) at {self.image.where(call.caller)} "
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

    # ---- calls ---------------------------------------------------------------------------

    def on_entry(self, hart: Hart, call: Call) -> None:
        if self.initial_free_pages is None and self.walker is not None:
            self.initial_free_pages = self.walker.free_pages()
        if call.depth:
            return
        self.calls += 1
        kind = call.fn.call
        if kind == "addmem" and self.walker is not None:
            self._before_addmem = self.walker.free_pages()
        try:
            if kind in _FREES and call.args[0]:
                self._free(hart, call, _FREES[kind])
            elif kind == "realloc" and call.args[0]:
                self._known(hart, call, "objects", call.args[0])
        except Violation:
            pass

    def on_return(self, hart: Hart, call: Call) -> None:
        if call.fn.call == "addmem" and not call.depth and self.walker is not None:
            # Pages given to the allocator are not a gain to conserve: move the baseline.
            added = (self.walker.free_pages() or 0) - (self._before_addmem or 0)
            self.initial_free_pages = (self.initial_free_pages or 0) + added
            return
        if call.depth or call.fn.call not in _ALLOCS:
            return
        with contextlib.suppress(Violation):
            self._allocated(hart, call)

    def _known(self, hart: Hart, call: Call, layer: str, ptr: int) -> Block:
        block = self.live[layer].blocks.get(ptr)
        if block is not None:
            return block
        old = self.freed.get((layer, ptr))
        if old is not None:
            made, freed_by = old
            self._violate(
                hart,
                "double-free",
                call,
                f"{ptr:#x} was freed already by {self._describe_call(freed_by)}",
                block=self._block_json(made, freed_by),
            )
        inside = self.live[layer].overlapping(ptr, ptr + 1)
        text = f"{ptr:#x} is not a block this {layer} layer handed out"
        extra = {}
        if inside is not None:
            text += (
                f"; it lies {ptr - inside.start} bytes into the block at {inside.start:#x} "
                f"from {self._describe_call(inside.call)}"
            )
            extra["block"] = self._block_json(inside)
        self._violate(hart, "invalid-free", call, text, **extra)
        raise AssertionError  # not reached

    def _free(self, hart: Hart, call: Call, layer: str) -> None:
        ptr = call.args[0]
        if layer == "mmap":
            self._unmap(hart, call, ptr, call.arg("length"))
            return
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

    def _unmap(self, hart: Hart, call: Call, addr: int, length: int) -> None:
        length = -(-length // PAGE) * PAGE
        shadow = self.live["mmap"]
        block = shadow.containing(addr, addr + length)
        if block is None:
            if (old := self.freed.get(("mmap", addr))) is not None:
                self._violate(
                    hart,
                    "double-free",
                    call,
                    f"{addr:#x} was unmapped already by {self._describe_call(old[1])}",
                    block=self._block_json(old[0], old[1]),
                )
            self._violate(
                hart,
                "invalid-free",
                call,
                f"[{addr:#x}, {addr + length:#x}) is not inside one mapped region",
            )
        shadow.remove(block.start)
        self.freed[("mmap", addr)] = (block, call)
        if block.start < addr:  # what stays mapped on either side
            shadow.add(Block("mmap", block.start, addr - block.start, block.call))
        if addr + length < block.start + block.size:
            rest = block.start + block.size - addr - length
            shadow.add(Block("mmap", addr + length, rest, block.call))

    def _allocated(self, hart: Hart, call: Call) -> None:
        kind = call.fn.call
        layer = call.fn.layer
        if kind == "realloc" and call.args[0] and (call.result or call.arg("size") == 0):
            old = self.live["objects"].blocks.get(call.args[0])
            if old is not None:
                self.live["objects"].remove(old.start)
                self.freed[("objects", old.start)] = (old, call)
        start = call.block
        if not start:
            return
        size = block_bytes(call)
        if layer == "mmap":
            size = -(-size // PAGE) * PAGE
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
        align = required_alignment(call)
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
        mapped = self.live["mmap"]
        if layer == "objects" and self.mapped_any and mapped.containing(start, block.end) is None:
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
        return not self.probes.any_in_progress()

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
        # other allocator call count. Page conservation covers the rest.
        leaks = [
            b for shadow in self.live.values() for b in shadow.blocks.values() if not b.call.nested
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
