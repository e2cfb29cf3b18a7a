"""The heap walker reads bbuddy's structures through DWARF and finds each broken invariant
when the structure is corrupted on purpose; a sound heap gives no finding."""

from __future__ import annotations

import pytest

from emulator.instruments.heapwalk import (
    BB_LISTED_TAG,
    BbuddyWalker,
    FrontendWalker,
    Memory,
    NbbsWalker,
    layout,
    walker_for,
)
from emulator.machine.image import Image
from emulator.machine.machine import Machine
from emulator.schedule.policies import RoundRobin
from toolchain import build


@pytest.fixture
def heap():
    """A bbuddy heap after alloc-cost ran on 2 harts: (walker, memory, layouts)."""
    image = Image(build("alloc-cost", "bbuddy-spin", {"COST_PAIRS": "5"}))
    machine = Machine(image, 2, 64)
    result = machine.run(RoundRobin(1000), 50_000_000)
    assert result.outcome == "exited" and result.exit_code == 0
    walker = walker_for(image, machine)
    assert isinstance(walker, BbuddyWalker)
    return walker, Memory(machine), image


def _listed(walker: BbuddyWalker, mem: Memory, min_order: int = 0) -> tuple[int, int, int]:
    """(order, address of its head pointer, first node) of the first non-empty list."""
    base = mem.u64(walker.pointer)
    heads = walker.bb["free_head"]
    for order in range(min_order, heads.count):
        link = base + heads.offset + 8 * order
        if mem.u64(link):
            return order, link, mem.u64(link)
    raise AssertionError("no free block at all")


def test_sound_heap_has_no_finding(heap):
    walker, _, _ = heap
    assert walker.check() == []
    assert walker.free_pages() > 1000


def test_layouts_come_from_dwarf(heap):
    _, _, image = heap
    node = layout(image, "bb_node")
    assert [node[f].offset for f in ("next", "pprev", "state")] == [0, 8, 16]
    assert layout(image, "bbuddy")["free_head"].count == 32


def test_cycle_is_found(heap):
    walker, mem, _ = heap
    _, _, node = _listed(walker, mem)
    mem.write_u64(node + walker.node["next"].offset, node)
    assert any("cycle" in e for e in walker.check())


def test_broken_back_link_is_found(heap):
    walker, mem, _ = heap
    _, _, node = _listed(walker, mem)
    mem.write_u64(node + walker.node["pprev"].offset, 0x1234)
    assert any("pprev" in e for e in walker.check())


def test_wrong_state_is_found(heap):
    walker, mem, _ = heap
    order, _, node = _listed(walker, mem)
    mem.write_u64(node + walker.node["state"].offset, BB_LISTED_TAG | (order + 1))
    assert any("not listed at this order" in e for e in walker.check())


def test_misaligned_block_is_found(heap):
    walker, mem, _ = heap
    _, link, node = _listed(walker, mem, min_order=1)
    fake = node + 4096  # same order, one page off its alignment
    for name in ("next", "pprev", "state"):
        mem.write_u64(fake + walker.node[name].offset, mem.u64(node + walker.node[name].offset))
    mem.write_u64(link, fake)
    assert any("not aligned to its order" in e for e in walker.check())


def test_allocated_bit_on_a_free_block_is_found(heap):
    walker, mem, _ = heap
    _, _, node = _listed(walker, mem)
    base = mem.u64(walker.pointer)
    (first, _, bitmap), *_ = walker._regions(base, [])
    index = (node - first) >> 12
    word = bitmap + 8 * (index // 64)
    mem.write_u64(word, mem.u64(word) | 1 << (index % 64))
    assert any("marked allocated in the bitmap" in e for e in walker.check())


def test_count_mismatch_is_found(heap):
    walker, mem, _ = heap
    base = mem.u64(walker.pointer)
    field = base + walker.bb["nr_free_pages"].offset
    mem.write_u64(field, mem.u64(field) + 3)
    assert any("nr_free_pages" in e for e in walker.check())


# ---- the frontend ---------------------------------------------------------------------------


@pytest.fixture
def frontend():
    """mimalloc over bbuddy after alloc-seq on 2 harts (no collect: segments stay mapped)."""
    image = Image(build("alloc-seq", "mimalloc+bbuddy-spin"))
    machine = Machine(image, 2, 64)
    result = machine.run(RoundRobin(1000), 50_000_000)
    assert result.outcome == "exited" and result.exit_code == 0
    walker = walker_for(image, machine)
    assert isinstance(walker, FrontendWalker) and walker.provider is not None
    return walker, Memory(machine)


def _pages(walker: FrontendWalker, mem: Memory):
    """(segment, page address, page index) of every page in use."""
    H, S, P = walker.heap, walker.seg, walker.page
    for h in range(mem.u64(walker.count)):
        seg = mem.u64(walker.heaps + H["__size__"].size * h + H["segments"].offset)
        while seg:
            for i in range(S["pages"].count):
                page = seg + P["__size__"].size * i
                if walker._u(page, P["in_use"]) and mem.u64(seg + S["kind"].offset) & 0xFF == 1:
                    yield seg, page, i
            seg = mem.u64(seg + S["next"].offset)


def _page_with_free_block(walker, mem):
    P = walker.page
    for _, page, _ in _pages(walker, mem):
        if mem.u64(page + P["free"].offset):
            return page
    raise AssertionError("no page with a free block")


def test_frontend_heap_is_sound_and_counts_provider_pages(frontend):
    walker, mem = frontend
    assert walker.check() == []
    assert walker.free_pages() > 1000
    assert list(_pages(walker, mem))


def test_frontend_used_count_mismatch_is_found(frontend):
    walker, mem = frontend
    _, page, _ = next(_pages(walker, mem))
    field = page + walker.page["used"].offset
    mem.write_u64(field, mem.u64(field) + 1)
    assert any("!= capacity" in e for e in walker.check())


def test_frontend_free_list_cycle_is_found(frontend):
    walker, mem = frontend
    page = _page_with_free_block(walker, mem)
    block = mem.u64(page + walker.page["free"].offset)
    mem.write_u64(block, block)
    assert any("cycle" in e for e in walker.check())


def test_frontend_block_outside_its_page_is_found(frontend):
    walker, mem = frontend
    page = _page_with_free_block(walker, mem)
    block = mem.u64(page + walker.page["free"].offset)
    mem.write_u64(page + walker.page["local_free"].offset, block + 8)
    mem.write_u64(block + 8, 0)
    assert any("not one of its carved blocks" in e for e in walker.check())


def test_frontend_segment_count_mismatch_is_found(frontend):
    walker, mem = frontend
    field = walker.heaps + walker.heap["segment_count"].offset
    mem.write_u64(field, mem.u64(field) + 5)
    assert any("segment_count" in e for e in walker.check())


# ---- bbuddy-lockfree -----------------------------------------------------------------------


@pytest.fixture
def nbbs():
    image = Image(build("alloc-cost", "bbuddy-lockfree", {"COST_PAIRS": "5"}))
    machine = Machine(image, 2, 64)
    assert machine.run(RoundRobin(1000), 50_000_000).exit_code == 0
    walker = walker_for(image, machine)
    assert isinstance(walker, NbbsWalker)
    return walker, Memory(machine)


def _root(walker: NbbsWalker, mem: Memory) -> int:
    tree = mem.u64(mem.u64(walker.pointer) + walker.nb["trees"].offset)
    return tree + walker.tree["node"].offset + 1  # node 1


def test_nbbs_sound_tree_counts_its_free_pages(nbbs):
    walker, _ = nbbs
    assert walker.check() == []
    assert walker.free_pages() > 1000


def test_nbbs_leftover_coalescing_mark_is_found(nbbs):
    walker, mem = nbbs
    root = _root(walker, mem)
    mem.ram[root - 0x8000_0000] |= 0x08
    assert any("coalescing" in e for e in walker.check())


def test_nbbs_free_count_mismatch_is_found(nbbs):
    walker, mem = nbbs
    field = mem.u64(walker.pointer) + walker.nb["nr_free_pages"].offset
    mem.write_u64(field, mem.u64(field) - 2)
    assert any("nr_free_pages" in e for e in walker.check())


def test_nbbs_mark_without_allocation_below_is_found(nbbs):
    walker, mem = nbbs
    root = _root(walker, mem)
    mem.ram[root - 0x8000_0000] ^= 0x06  # flip both side marks of the root
    assert any("disagrees" in e for e in walker.check())
