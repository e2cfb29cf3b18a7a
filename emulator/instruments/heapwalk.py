"""Heap walkers: read an allocator's own structures out of guest memory and check them.

Struct layouts come from the image's DWARF (pyelftools), so a field moved in C moves here
too; only what the type information cannot say (a tag value, how lists are linked) is
written down below, next to the C file it mirrors. A walker's `check()` returns the broken
invariants it found (empty when the heap is sound); `free_pages()` the allocator's free page
count, for the oracle's page conservation. Walks are only meaningful when no hart is inside an
allocator call: the oracle walks at such points only.
"""

from __future__ import annotations

import itertools
import struct
import types
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from guest.contract import C

if TYPE_CHECKING:
    from emulator.machine.image import Image
    from emulator.machine.machine import Machine

PAGE_SHIFT = 12


@dataclass(frozen=True)
class Field:
    offset: int
    size: int  # bytes of one element
    count: int = 1  # array length (1: not an array)


_QUALIFIERS = {
    "DW_TAG_typedef",
    "DW_TAG_const_type",
    "DW_TAG_volatile_type",
    "DW_TAG_atomic_type",
    "DW_TAG_restrict_type",
}


def _type_size(die) -> tuple[int, int]:
    """(element size, count) of a member's type."""
    while die.tag in _QUALIFIERS:
        die = die.get_DIE_from_attribute("DW_AT_type")
    if die.tag == "DW_TAG_array_type":
        elem, _ = _type_size(die.get_DIE_from_attribute("DW_AT_type"))
        count = 1
        for sub in die.iter_children():
            if sub.tag != "DW_TAG_subrange_type":
                continue
            if "DW_AT_count" in sub.attributes:
                count *= sub.attributes["DW_AT_count"].value
            elif "DW_AT_upper_bound" in sub.attributes:
                count *= sub.attributes["DW_AT_upper_bound"].value + 1
        return elem, count
    if die.tag == "DW_TAG_pointer_type":
        return 8, 1
    return die.attributes["DW_AT_byte_size"].value, 1


@cache
def _layouts(image: Image) -> dict[str, dict[str, Field]]:
    """Every complete struct type in the image by name: field name -> Field (cached beside
    the image, see Image.cached)."""

    def compute() -> dict:
        found = _read_layouts(image)
        return {
            n: {f: [x.offset, x.size, x.count] for f, x in fs.items()} for n, fs in found.items()
        }

    saved = image.cached("layouts", compute)
    return {name: {f: Field(*v) for f, v in fields.items()} for name, fields in saved.items()}


def _read_layouts(image: Image) -> dict[str, dict[str, Field]]:
    found: dict[str, dict[str, Field]] = {}
    dwarf = image.dwarf
    if dwarf is None:
        return found
    for cu in dwarf.iter_CUs():
        for die in cu.iter_DIEs():
            if die.tag != "DW_TAG_structure_type":
                continue
            attrs = die.attributes
            if "DW_AT_name" not in attrs or "DW_AT_byte_size" not in attrs:
                continue
            name = attrs["DW_AT_name"].value.decode()
            if name in found:
                continue
            fields = {}
            for child in die.iter_children():
                if child.tag != "DW_TAG_member" or "DW_AT_name" not in child.attributes:
                    continue
                size, count = _type_size(child.get_DIE_from_attribute("DW_AT_type"))
                offset = child.attributes["DW_AT_data_member_location"].value
                fields[child.attributes["DW_AT_name"].value.decode()] = Field(offset, size, count)
            fields["__size__"] = Field(0, attrs["DW_AT_byte_size"].value)
            found[name] = fields
    return found


def layout(image: Image, name: str) -> dict[str, Field] | None:
    return _layouts(image).get(name)


class Memory:
    """Reads guest RAM (u64 and C strings) by guest address."""

    def __init__(self, machine: Machine):
        self.ram = machine.ram
        self.size = machine.ram_size

    def valid(self, address: int, size: int = 8) -> bool:
        return 0 <= address - C.RAM_BASE <= self.size - size

    def u64(self, address: int) -> int:
        return struct.unpack_from("<Q", self.ram, address - C.RAM_BASE)[0]

    def write_u64(self, address: int, value: int) -> None:
        struct.pack_into("<Q", self.ram, address - C.RAM_BASE, value & ((1 << 64) - 1))


class Walker(Protocol):
    name: str

    def check(self) -> list[str]: ...

    def free_pages(self) -> int | None: ...

    def own_mappings(self) -> set[int]:
        """Start addresses of the mmap regions the allocator holds for itself (a frontend's
        segments): live at exit, they are its state, not the app's leaks."""
        ...


# ---- bbuddy (guest/lib/ukallocbbuddy/bbuddy.c) ---------------------------------------------------

BB_LISTED_TAG = 0xB0DD1E5EED000000  # bbuddy.c: BB_LISTED(order) = tag | order


class BbuddyWalker:
    """guest/lib/ukallocbbuddy/bbuddy.c: per-order doubly linked free lists (node in the
    block's first page: next, pprev, state), regions with one bit per page (set = allocated or
    not listed) and nr_free_pages."""

    def __init__(self, image: Image, mem: Memory, pointer: int, name: str):
        self.name = name
        self.mem = mem
        self.pointer = pointer  # address of the variable holding the struct bbuddy pointer
        self.bb = layout(image, "bbuddy")
        self.node = layout(image, "bb_node")
        self.region = layout(image, "bb_region")

    def _base(self) -> int:
        return self.mem.u64(self.pointer)

    def free_pages(self) -> int | None:
        base = self._base()
        if not base:
            return None
        return self.mem.u64(base + self.bb["nr_free_pages"].offset)

    def own_mappings(self) -> set[int]:
        return set()  # a page allocator maps nothing

    def _regions(self, base: int, errors: list[str]) -> list[tuple[int, int, int]]:
        """(first_page, nr_pages, bitmap) of each region."""
        out: list[tuple[int, int, int]] = []
        r = self.mem.u64(base + self.bb["regions"].offset)
        f = self.region
        while r:
            if len(out) > 1024 or not self.mem.valid(r, f["__size__"].size):
                errors.append(f"region list broken at {r:#x}")
                break
            out.append(
                (
                    self.mem.u64(r + f["first_page"].offset),
                    self.mem.u64(r + f["nr_pages"].offset),
                    self.mem.u64(r + f["bitmap"].offset),
                )
            )
            r = self.mem.u64(r + f["next"].offset)
        return out

    def _bit(self, region: tuple[int, int, int], page: int) -> int:
        first, _, bitmap = region
        index = (page - first) >> PAGE_SHIFT
        return self.mem.u64(bitmap + 8 * (index // 64)) >> (index % 64) & 1

    def check(self) -> list[str]:
        errors: list[str] = []
        base = self._base()
        if not base:
            return errors  # not set up yet
        mem, bb, node = self.mem, self.bb, self.node
        regions = self._regions(base, errors)
        total_pages = sum(n for _, n, _ in regions)
        heads = bb["free_head"]
        listed = 0
        blocks: list[tuple[int, int, int]] = []  # (start, end, order)
        for order in range(heads.count):
            link = base + heads.offset + 8 * order  # the pointer that points at the next node
            n = mem.u64(link)
            seen: set[int] = set()
            while n:
                where = f"order-{order} free list, block {n:#x}"
                if n in seen:
                    errors.append(f"{where}: the list has a cycle")
                    break
                if len(seen) > total_pages or not mem.valid(n, node["__size__"].size):
                    errors.append(f"{where}: not a block in RAM")
                    break
                seen.add(n)
                size = 1 << (order + PAGE_SHIFT)
                if mem.u64(n + node["pprev"].offset) != link:
                    errors.append(f"{where}: its pprev does not point at the link to it")
                state = mem.u64(n + node["state"].offset)
                if state != BB_LISTED_TAG | order:
                    errors.append(f"{where}: its state is {state:#x}, not listed at this order")
                if n % size:
                    errors.append(f"{where}: not aligned to its order ({size} bytes)")
                region = next(
                    (r for r in regions if r[0] <= n and n + size <= r[0] + (r[1] << PAGE_SHIFT)),
                    None,
                )
                if region is None:
                    errors.append(f"{where}: outside every region")
                else:
                    pages = range(n, n + size, 1 << PAGE_SHIFT)
                    marked = [p for p in pages if self._bit(region, p)]
                    if marked:
                        errors.append(
                            f"{where}: {len(marked)} of its pages are marked allocated in the "
                            f"bitmap (first {marked[0]:#x})"
                        )
                listed += 1 << order
                blocks.append((n, n + size, order))
                link = n + node["next"].offset
                n = mem.u64(link)
        blocks.sort()
        for (s1, e1, o1), (s2, _, o2) in itertools.pairwise(blocks):
            if s2 < e1:
                errors.append(f"free blocks overlap: {s1:#x} (order {o1}), {s2:#x} (order {o2})")
        counted = mem.u64(base + bb["nr_free_pages"].offset)
        if counted != listed:
            errors.append(f"nr_free_pages is {counted} but the free lists hold {listed} pages")
        return errors


# ---- bbuddy-lockfree (guest/lib/ukallocnbbs/nbbs.c) ----------------------------------------------

NB_OCC, NB_OCC_L, NB_OCC_R = 0x01, 0x02, 0x04  # nbbs.c: node state bits
NB_BITS = 0x1F


class NbbsWalker:
    """guest/lib/ukallocnbbs/nbbs.c: per region a complete binary tree of one-byte node
    states. At rest, a node marked NB_OCC (allocated) has all-zero descendants, a node's
    NB_OCC_L/R bit is set iff something below that side is allocated, no coalescing bit is
    left, and nr_free_pages is the span minus the pages of the topmost allocated nodes."""

    def __init__(self, image: Image, mem: Memory, pointer: int):
        self.name = "nbbs"
        self.mem = mem
        self.pointer = pointer
        self.nb = layout(image, "nbbs")
        self.tree = layout(image, "nb_tree")
        self.ram = mem.ram

    def _base(self) -> int:
        return self.mem.u64(self.pointer)

    def free_pages(self) -> int | None:
        base = self._base()
        return self.mem.u64(base + self.nb["nr_free_pages"].offset) if base else None

    def own_mappings(self) -> set[int]:
        return set()  # a page allocator maps nothing

    def _node(self, nodes: int, n: int) -> int:
        return self.ram[nodes - C.RAM_BASE + n]

    def _walk(self, nodes: int, depth: int, errors: list[str], where: str) -> int:
        """Pages allocated in the tree; invariant breaks appended to errors."""
        allocated = 0
        stack = [(1, 0)]
        while stack and len(errors) < 20:
            n, d = stack.pop()
            state = self._node(nodes, n)
            if state & ~NB_BITS:
                errors.append(f"{where}: node {n} has unknown state bits {state:#x}")
            if state & 0x18:
                errors.append(f"{where}: node {n} is left coalescing ({state:#x})")
            if state & NB_OCC:
                allocated += 1 << (depth - d)
                if d < depth and (self._node(nodes, 2 * n) or self._node(nodes, 2 * n + 1)):
                    errors.append(f"{where}: node {n} is allocated but a child is marked")
                continue
            if d == depth:
                continue
            for side, child in ((NB_OCC_L, 2 * n), (NB_OCC_R, 2 * n + 1)):
                marked = self._node(nodes, child) & (NB_OCC | NB_OCC_L | NB_OCC_R)
                if bool(state & side) != bool(marked):
                    errors.append(
                        f"{where}: node {n}'s {'left' if side == NB_OCC_L else 'right'} mark "
                        f"({bool(state & side)}) disagrees with node {child} ({marked:#x})"
                    )
                if marked:
                    stack.append((child, d + 1))
        return allocated

    def check(self) -> list[str]:
        errors: list[str] = []
        base = self._base()
        if not base:
            return errors
        trees = self.nb["trees"]
        free = 0
        for i in range(trees.count):
            t = self.mem.u64(base + trees.offset + 8 * i)
            if not t:
                continue
            depth = self.mem.u64(t + self.tree["depth"].offset) & 0xFFFFFFFF
            nodes = t + self.tree["node"].offset
            allocated = self._walk(nodes, depth, errors, f"tree {i}")
            free += (1 << depth) - allocated
        counted = self.free_pages()
        if not errors and counted != free:
            errors.append(f"nr_free_pages is {counted} but the trees hold {free} free pages")
        return errors


# ---- the mimalloc-style frontend (guest/lib/mimalloc/mimalloc.h) ---------------------------------

MI_SEGMENT_SIZE = 1 << 18  # mimalloc.h: MI_SEGMENT_SHIFT
MI_PAGE_SIZE = 1 << 14  # MI_PAGE_SHIFT
MI_SEGMENT_HEADER = 2048  # page 0's blocks start here
MI_SEGMENT_SMALL, MI_SEGMENT_HUGE = 1, 2
MI_PAGE_IN_FULL, MI_PAGE_HUGE = 1, 2


class FrontendWalker:
    """guest/lib/mimalloc/mimalloc.h (README "Host-visible structures"): per-hart heaps, their
    segments and pages; each page's three free lists. Page counts come from the provider's
    walker when there is one."""

    # Not allocator calls, yet they change the lists: the app calls mi_collect itself, and a
    # walk while it holds a page's thread_free in hand sees blocks on no list (oracle.py).
    MAINTENANCE = ("mi_collect",)

    def __init__(self, image: Image, mem: Memory, provider: Walker | None):
        self.name = "mimalloc" + (f"+{provider.name}" if provider else "")
        self.mem = mem
        self.provider = provider
        self.heaps = image.symbol("mi_heaps").address  # type: ignore[union-attr]
        self.count = image.symbol("mi_heap_count").address  # type: ignore[union-attr]
        self.heap = layout(image, "mi_heap")
        self.seg = layout(image, "mi_segment")
        self.page = layout(image, "mi_page")

    def free_pages(self) -> int | None:
        return self.provider.free_pages() if self.provider else None

    def own_mappings(self) -> set[int]:
        """Every segment on a heap's list (bounded as check() bounds it)."""
        out: set[int] = set()
        for h in range(min(self.mem.u64(self.count), 64)):
            heap = self.heaps + self.heap["__size__"].size * h
            seg = self.mem.u64(heap + self.heap["segments"].offset)
            while seg and seg not in out and len(out) < 4096 * 64 and self.mem.valid(seg):
                out.add(seg)
                seg = self.mem.u64(seg + self.seg["next"].offset)
        return out

    def _u(self, address: int, f: Field) -> int:
        value = self.mem.u64(address + f.offset)
        return value & ((1 << (8 * f.size)) - 1) if f.size < 8 else value

    def _list(self, head: int, limit: int, errors: list[str], where: str) -> list[int]:
        out: list[int] = []
        seen: set[int] = set()
        n = head
        while n:
            if n in seen:
                errors.append(f"{where}: the list has a cycle at {n:#x}")
                break
            if len(out) > limit or not self.mem.valid(n):
                errors.append(f"{where}: {n:#x} is not a block of the page")
                break
            seen.add(n)
            out.append(n)
            n = self.mem.u64(n)
        return out

    def _check_page(self, seg: int, index: int, errors: list[str]) -> None:
        P = self.page
        page = seg + P["__size__"].size * index
        where = f"page {index} of segment {seg:#x}"
        size = self._u(page, P["block_size"])
        capacity, reserved = self._u(page, P["capacity"]), self._u(page, P["reserved"])
        used = self._u(page, P["used"])
        if not size or capacity > reserved:
            errors.append(f"{where}: block size {size}, capacity {capacity} > reserved {reserved}")
            return
        start = seg + (index * MI_PAGE_SIZE if index else MI_SEGMENT_HEADER)
        end = start + capacity * size
        lists = {}
        for name in ("free", "local_free", "thread_free"):
            blocks = self._list(self._u(page, P[name]), capacity, errors, f"{where}, {name}")
            for b in blocks:
                if not start <= b < end or (b - start) % size:
                    errors.append(f"{where}, {name}: {b:#x} is not one of its carved blocks")
                    break
            lists[name] = blocks
        every = [b for blocks in lists.values() for b in blocks]
        if len(set(every)) != len(every):
            errors.append(f"{where}: a block is on two of its free lists")
        counts = {k: len(v) for k, v in lists.items()}
        if used + sum(counts.values()) != capacity:
            errors.append(
                f"{where}: used {used} + free {counts['free']} + local_free "
                f"{counts['local_free']} + thread_free {counts['thread_free']} "
                f"!= capacity {capacity}"
            )

    def check(self) -> list[str]:
        errors = self.provider.check() if self.provider else []
        mem, H, S, P = self.mem, self.heap, self.seg, self.page
        heaps = mem.u64(self.count)
        pages_per_segment = S["pages"].count
        for h in range(min(heaps, 64)):
            heap = self.heaps + H["__size__"].size * h
            seg = mem.u64(heap + H["segments"].offset)
            seen: set[int] = set()
            while seg:
                if seg in seen or len(seen) > 4096:
                    errors.append(f"heap {h}: its segment list has a cycle at {seg:#x}")
                    break
                seen.add(seg)
                if seg % MI_SEGMENT_SIZE or not mem.valid(seg, S["__size__"].size):
                    errors.append(f"heap {h}: segment {seg:#x} is not aligned to its size")
                    break
                if mem.u64(seg + S["heap"].offset) != heap:
                    errors.append(f"heap {h}: segment {seg:#x} names another heap as owner")
                kind = self._u(seg, S["kind"])
                in_use = 0
                for i in range(pages_per_segment):
                    if self._u(seg + P["__size__"].size * i, P["in_use"]):
                        in_use += 1
                        if kind == MI_SEGMENT_SMALL:
                            self._check_page(seg, i, errors)
                if self._u(seg, S["used_pages"]) != in_use:
                    errors.append(
                        f"heap {h}: segment {seg:#x} says {self._u(seg, S['used_pages'])} pages "
                        f"in use, {in_use} are"
                    )
                seg = mem.u64(seg + S["next"].offset)
            if self._u(heap, H["segment_count"]) != len(seen):
                errors.append(
                    f"heap {h}: segment_count is {self._u(heap, H['segment_count'])}, "
                    f"its list has {len(seen)}"
                )
        return errors


@dataclass(frozen=True)
class PluginContext:
    """What a heap-walker plugin is given: the image (symbols, DWARF), guest memory, and where
    the page allocator's struct uk_alloc pointer lives."""

    image: Image
    memory: Memory
    pointer: int  # address of the variable holding the allocator's struct uk_alloc *

    def allocator(self) -> int:
        """The address of the page allocator's struct uk_alloc (0 before alloc_init)."""
        return self.memory.u64(self.pointer)

    def layout(self, struct_name: str) -> dict[str, Field] | None:
        """A struct's members (offset, size, count) from DWARF; `__size__` is its size."""
        return layout(self.image, struct_name)


def load_plugin(plugin: tuple[str, str]):
    """The `walker` function of a heap-walker plugin, given as (file name, source) (a library's
    heapwalk.py): called as walker(ctx) with a PluginContext; returns a Walker (name, check(),
    free_pages(), own_mappings()), or None when the image's allocator is not the plugin's.
    Raises PluginError naming the file when it cannot be loaded."""
    path, source = plugin
    # Compiled from its source rather than imported: the source travels with the run options
    # (to workers, to a cluster), and an import would leave a __pycache__ in the user's folder.
    module = types.ModuleType(f"heapwalk_plugin_{Path(path).parent.name}")
    module.__file__ = path
    try:
        exec(compile(source, path, "exec"), module.__dict__)
    except Exception as e:
        raise PluginError(f"heap walker plugin {path} failed to load: {e!r}") from None
    walker = getattr(module, "walker", None)
    if not callable(walker):
        raise PluginError(f"heap walker plugin {path} has no function walker(ctx)")
    return walker


class PluginError(Exception):
    """A heap-walker plugin that cannot be used (bad input, named by file)."""


def walker_for(image: Image, machine: Machine, plugins: tuple[str, ...] = ()) -> Walker | None:
    """The walker for the allocator linked into the image, or None when there is none. Plugins
    (heapwalk.py of a library found from a path) are asked first, about the page allocator."""
    # With a frontend, the page allocator is its provider (guest/lib/mimalloc/mimalloc.c).
    pointer = image.symbol("mi_provider") or image.symbol("default_alloc")
    if pointer is None:
        return None
    mem = Memory(machine)
    provider = None
    for plugin in plugins:
        provider = load_plugin(plugin)(PluginContext(image, mem, pointer.address))
        if provider is not None:
            break
    if provider is not None:
        pass
    elif layout(image, "bbuddy") and layout(image, "bb_node") and layout(image, "bb_region"):
        provider = BbuddyWalker(image, mem, pointer.address, "bbuddy")
    elif layout(image, "nbbs") and layout(image, "nb_tree"):
        provider = NbbsWalker(image, mem, pointer.address)
    if image.symbol("mi_heaps") and image.symbol("mi_heap_count") and layout(image, "mi_page"):
        return FrontendWalker(image, mem, provider)
    return provider
