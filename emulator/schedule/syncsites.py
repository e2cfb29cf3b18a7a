"""Synchronization sites: the plain loads and stores of words that atomics also access.

A race window need not contain an atomic: a plain load of a list head and a plain store back
(a push done without its CAS) is open between two plain accesses. pct's `sync` unit makes
those accesses steps as well, so a change point can fall inside such a window. Which accesses
are they? The ones to a *synchronization word*: an 8-byte granule some AMO, LR, SC or release
store touches. One round-robin run finds them (`discover`): atomics are trapped and report
their addresses, and a unicorn memory hook on RAM sees every plain access with its pc. A site
qualifies when at least half of its accesses hit synchronization words (judged at the end of
the run), so memset, memcpy and the stack never do; function entries are left out, so a site
never collides with a probe (probes.py) and traced and untraced runs have the same steps.

Cost: the discovery run calls Python on every RAM access (several times slower than a plain
run; cached beside the image per harts, quantum and RAM size). In the pct run each qualifying
site is trapped and executed by the hart (machine/hart.py `_sync_access`), a few microseconds each,
spinning waits on a lock word included.
"""

from __future__ import annotations

from collections import Counter

from emulator.machine import events as ev
from emulator.machine.hooks import Hooks
from emulator.machine.image import Image
from emulator.machine.isa import PC, is_plain_access
from emulator.machine.machine import Machine
from emulator.schedule.policies import RoundRobin

SHARE = 0.5  # a site qualifies when at least this share of its accesses hit sync words
MAX_GRANULES = 256


def discover(
    image: Image | None,
    harts: int,
    ram_mib: int,
    quantum: int,
    budget: int,
    firmware: Image | None = None,
) -> list[int]:
    """Addresses of the plain load/store sites that access synchronization words, from one
    round-robin run of `image` (the kernel, booted through `firmware` if one is given; cached
    beside the kernel, else the firmware)."""
    what = f"sync-sites.{harts}h.q{quantum}.{ram_mib}m"
    if firmware is not None and image is not None:
        what += f".fw-{firmware.sha256[:12]}"
    owner = image or firmware
    assert owner is not None
    return owner.cached(what, lambda: _discover(image, harts, ram_mib, quantum, budget, firmware))


def _discover(
    image: Image | None,
    harts: int,
    ram_mib: int,
    quantum: int,
    budget: int,
    firmware: Image | None,
) -> list[int]:
    words: set[int] = set()

    def on_atomic(e: ev.Atomic) -> None:
        if e.address >= 0:
            words.add(e.address >> 3)

    # per site: accesses per granule (a site touching more than MAX_GRANULES granules is a
    # generic copy or clear loop, not a synchronization site); judged at the end, when every
    # word an atomic touches is known, so accesses made before the first atomic count too
    seen: dict[int, Counter[int] | None] = {}

    def on_access(hart, write: bool, address: int, size: int) -> None:
        pc = hart.read_reg(PC)
        granules = seen.get(pc, 0)
        if granules is None:
            return
        if granules == 0:
            granules = seen[pc] = Counter()
        granules[address >> 3] += 1
        if len(granules) > MAX_GRANULES:
            seen[pc] = None

    hooks = Hooks(watch_atomics=True, memory=on_access)
    hooks.bus.subscribe(ev.Atomic, on_atomic)
    machine = Machine(image, harts, ram_mib, hooks, firmware)
    machine.run(RoundRobin(quantum), budget)
    sites = []
    for pc, granules in seen.items():
        if granules is None:
            continue
        hits = sum(n for g, n in granules.items() if g in words)
        entry = machine.image.symbol_at(pc)
        if not hits or hits < SHARE * granules.total() or (entry is not None and entry[1] == 0):
            continue
        if is_plain_access(machine.instruction_at(pc)):
            sites.append(pc)
    return sorted(sites)
