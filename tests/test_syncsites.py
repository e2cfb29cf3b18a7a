"""pct's sync unit: the load/store decoder, the discovery of synchronization sites, and the
hart executing those sites itself without changing what the guest computes."""

from __future__ import annotations

import random
import re
from dataclasses import replace

import capstone
import pytest

from emulator.machine.hooks import Hooks
from emulator.machine.image import Image
from emulator.machine.isa import length_of, load_operands, store_operands
from emulator.machine.machine import Machine
from emulator.schedule.policies import make_policy
from emulator.session import RunOptions, run
from emulator.session.run import resolve_image, sync_sites

ABI = (["zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1"]
       + [f"a{i}" for i in range(8)] + [f"s{i}" for i in range(2, 12)]
       + [f"t{i}" for i in range(3, 7)])  # fmt: skip
WIDTH = {"b": 1, "h": 2, "w": 4, "d": 8}
OPERANDS = re.compile(r"(\w+), (-?(?:0x)?[0-9a-f]+)\((\w+)\)$")


def _capstone_view(md, word: int, length: int):
    """(is store, width, signed, data register, base register, offset) by capstone, or None."""
    for insn in md.disasm(word.to_bytes(length, "little"), 0x1000):
        name = insn.mnemonic.removeprefix("c.").removesuffix("sp")
        m = OPERANDS.match(insn.op_str)
        if name[0] not in "ls" or name[1:] not in ("b", "h", "w", "d", "bu", "hu", "wu") or not m:
            return None
        data, offset, base = m.groups()
        return (name[0] == "s", WIDTH[name[1]], not name.endswith("u"),
                ABI.index(data), ABI.index(base), int(offset, 0))  # fmt: skip
    return None


def _ours(word: int, length: int):
    def read(i: int) -> int:
        return i << 40

    def split(address: int) -> tuple[int, int]:
        address -= (1 << 64) if address >> 63 else 0
        base = (address + (1 << 39)) >> 40
        return base, address - (base << 40)

    load = load_operands(word, read)
    if load is not None:
        address, width, signed, rd = load
        return (False, width, signed, rd, *split(address))
    store = store_operands(word, read)
    if store is not None:
        address, width, value = store
        return (True, width, True, value >> 40, *split(address))
    return None


def _words():
    for word in range(1 << 16):
        if word & 3 != 3:
            yield word, 2
    rng = random.Random(1)
    for _ in range(20000):
        word = rng.getrandbits(32) & ~0x7F | rng.choice((0x03, 0x23))
        yield word, 4


def test_load_store_decoding_agrees_with_capstone():
    """Every 16-bit word and 20 000 random 32-bit load/store words: where capstone sees an
    integer load or store we decode the same registers, offset and width, and nowhere else."""
    md = capstone.Cs(capstone.CS_ARCH_RISCV, capstone.CS_MODE_RISCV64 | capstone.CS_MODE_RISCVC)
    checked = 0
    for word, length in _words():
        theirs, ours = _capstone_view(md, word, length), _ours(word, length)
        if theirs is not None and theirs[0]:
            theirs = (*theirs[:2], True, *theirs[3:])  # stores: no sign
        assert ours == theirs, f"{word:#x}: ours {ours}, capstone {theirs}"
        checked += theirs is not None
    assert checked > 20000
    assert length_of(0x4502) == 2 and length_of(0x0405B603) == 4


def _stress(planted: bool, **kw) -> RunOptions:
    defines = {"ALLOC_BUG": "remote_free_plain"} if planted else {}
    return RunOptions(app="stress", config="mimalloc+bbuddy-spin", defines=defines, harts=4,
                      schedule="pct", pct_unit="sync", quantum=10, quiet=True,
                      write_files=False, **kw)  # fmt: skip


@pytest.fixture(scope="module")
def planted_sites():
    opts = _stress(True)
    path = resolve_image(opts)
    return Image(path), sync_sites(opts, path)


def test_discovery_finds_the_plain_push_and_leaves_copies_and_entries_out(planted_sites):
    image, sites = planted_sites
    where = {image.symbol_at(a)[0].name for a in sites}
    remote = image.symbol("mi_free_remote")
    push = [a for a in sites if remote.address <= a < remote.address + remote.size]
    assert len(push) >= 2  # the plain load and the plain store of thread_free
    assert not where & {"memset", "memcpy"}
    assert all(image.symbol_at(a)[1] != 0 for a in sites)
    assert "spin_lock" in where  # a test-and-test-and-set lock's plain spin load


def test_the_hart_executes_sync_sites_exactly_as_unicorn_would(planted_sites):
    """Same image, round robin, with and without the sync sites trapped: same console, same
    counts, same turns."""
    image, sites = planted_sites
    results = []
    for trapped in ((), sites):
        machine = Machine(image, 4, 128, Hooks(sync_sites=frozenset(trapped)))
        results.append((machine.run(make_policy("rr", 10, 0), 10**9), bytes(machine.console)))
    (plain, console), (trapped, console2) = results
    assert plain.outcome == trapped.outcome == "exited"
    assert console == console2 and b"stress" in console
    assert plain.instructions == trapped.instructions
    assert plain.schedule_digest == trapped.schedule_digest


@pytest.mark.slow
@pytest.mark.configs("bbuddy-spin")
def test_a_spinning_load_is_one_step(monkeypatch):
    """alloc-tests' idle harts spin at barriers: counted per loop turn that would be most of
    k; counted only when the value read changes it is a small share. The executions are
    counted in the Python hart; the native layer (same rules in C) must count the same steps."""
    opts = replace(_stress(False), app="alloc-tests", config="bbuddy-spin",
                   defines={"ALLOC_STRESS_ITERS": "5"})  # fmt: skip
    path = resolve_image(opts)
    sites = sync_sites(opts, path)
    counted = []
    for native in ("0", "1"):
        monkeypatch.setenv("EMULATOR_NATIVE", native)
        steps, executed = [0], [0]
        step = lambda hart, pc, steps=steps: steps.__setitem__(0, steps[0] + 1) or False  # noqa: E731
        hooks = Hooks(watch_atomics=True, sync_sites=frozenset(sites), step=step)
        machine = Machine(Image(path), 4, 128, hooks)
        if machine.native is None:
            original = machine.harts[0]._sync_access.__func__

            def counting(self, word, epc, original=original, executed=executed):
                executed[0] += 1
                original(self, word, epc)

            for hart in machine.harts:
                hart._sync_access = counting.__get__(hart)
        assert machine.run(make_policy("rr", 10, 0), 10**9).outcome == "exited"
        if machine.native is None:
            assert executed[0] > 10 * steps[0] > 0
        counted.append(steps[0])
    assert counted[0] == counted[1]


def test_pct_units_reach_the_policy_and_the_summary():
    for unit in ("atomics", "sync", "instructions"):
        report = run(replace(_stress(False), seed=3, pct_unit=unit))
        assert report.result.outcome == "exited"
        assert report.summary["pct_unit"] == unit
        assert report.summary["schedule_changes"] == 2  # d = 3: both change points taken


def test_pct_sync_schedules_are_the_same_traced_and_checked():
    """Sync sites are never function entries, so probes do not change the steps: the checked
    run takes the same turns as the plain one."""
    plain = run(replace(_stress(False), seed=5))
    checked = run(replace(_stress(False), seed=5, check=True, trace=True))
    assert plain.result.schedule_digest == checked.result.schedule_digest
    assert plain.result.instructions == checked.result.instructions
