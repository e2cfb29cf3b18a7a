"""The coherence model (instruments/timing.py has the protocol): each rule on the model itself,
with every expected number computed from the cost file the test uses; on guest programs, the
charges add up to what the counts and the costs say, the trapped atomics reach the model once
each (never through the memory hook), and bad cost files are one line and status 64. That the
native model (src/coherence.c) does exactly what this Python one does is tests/test_native.py's
comparison of both paths."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace

import pytest
from conftest import cli

from emulator.instruments.coherence import Directory
from emulator.instruments.timing import CostModel, Timing
from emulator.machine.errors import BadInput
from emulator.session import RunOptions, run
from guest.contract import C

COSTS = CostModel.load()  # the bundled default: every expectation below is computed from it
LINE = COSTS.line_bytes


class FakeHart:
    """What the model reads of a hart: its id and its clock (no instructions run here)."""

    def __init__(self, hart_id: int):
        self.id = hart_id
        self.clock = 0

    def clock_now(self) -> int:
        return self.clock


def _model(harts: int = 2, **costs) -> tuple[Directory, list[FakeHart]]:
    model = Directory(replace(COSTS, **costs), harts, 1 << 20)
    return model, [FakeHart(h) for h in range(harts)]


def _at(line: int) -> int:
    return C.RAM_BASE + line * LINE


def _cost(model: Directory, hart: FakeHart, what: str, line: int, **kw) -> int:
    """The cycles one access charged to `hart`."""
    before = hart.clock
    if what in ("load", "store"):
        model.access(hart, what == "store", _at(line) + kw.get("offset", 0), kw.get("size", 8))
    else:
        model.atomic(hart, what, _at(line), kw.get("ok", True))
    return hart.clock - before


def _count(model: Directory, hart: FakeHart, name: str) -> int:
    from emulator.instruments.coherence import COUNTS

    return model.counts[hart.id][COUNTS.index(name)]


# No queueing in the rule tests: each access's cost is the rule's alone.
def test_a_load_misses_once_then_hits_in_e_and_a_store_to_e_is_silent():
    m, (a, _) = _model(serialize_lines=0)
    assert _cost(m, a, "load", 0) == COSTS.miss
    assert _cost(m, a, "load", 0) == 0  # held E: a hit
    assert _cost(m, a, "store", 0) == 0  # E -> M without a word to anyone
    assert _count(m, a, "hits") == 2 and _count(m, a, "misses") == 1


def test_a_second_reader_shares_and_a_store_to_s_upgrades_and_invalidates():
    m, (a, b) = _model(serialize_lines=0)
    _cost(m, a, "load", 0)
    assert _cost(m, b, "load", 0) == COSTS.miss  # E elsewhere is no transfer: S both
    assert _cost(m, a, "store", 0) == COSTS.upgrade  # a held S
    assert _count(m, a, "invalidations") == 1
    assert _cost(m, b, "load", 0) == COSTS.line_transfer  # b's copy is gone; a holds M


def test_a_modified_line_moves_by_transfer_for_loads_and_stores():
    m, (a, b) = _model(serialize_lines=0)
    assert _cost(m, a, "store", 0) == COSTS.miss  # nobody held it
    assert _cost(m, b, "load", 0) == COSTS.line_transfer  # M -> S at a, S at b
    assert _cost(m, a, "load", 0) == 0  # a kept its copy, as S
    assert _cost(m, b, "store", 0) == COSTS.upgrade
    assert _cost(m, a, "store", 0) == COSTS.line_transfer  # b held it M: invalidated
    assert _count(m, a, "transfers") == 1 and _count(m, b, "transfers") == 1
    assert _count(m, a, "invalidations") == 1


def test_a_store_miss_to_a_shared_line_pays_miss_and_upgrade():
    m, (a, b, c) = _model(3, serialize_lines=0)
    _cost(m, a, "load", 0)
    _cost(m, b, "load", 0)
    assert _cost(m, c, "store", 0) == COSTS.miss + COSTS.upgrade
    assert _count(m, c, "invalidations") == 2
    assert _cost(m, a, "load", 0) == COSTS.line_transfer


def test_an_access_spanning_two_lines_touches_both():
    m, (a, _) = _model(serialize_lines=0)
    assert _cost(m, a, "load", 0, offset=LINE - 4, size=8) == 2 * COSTS.miss
    assert _count(m, a, "loads") == 1 and _count(m, a, "misses") == 2


def test_a_conflicting_set_evicts_the_least_recently_used_line():
    sets, ways = 2, 2
    m, (a, _) = _model(serialize_lines=0, l1_sets=sets, l1_ways=ways)
    same_set = [k * sets for k in range(ways + 1)]  # lines that all map to set 0
    for line in same_set[:ways]:
        _cost(m, a, "load", line)
    _cost(m, a, "load", same_set[0])  # now the first is the most recently used
    assert _cost(m, a, "load", same_set[ways]) == COSTS.miss  # evicts same_set[1]
    assert _count(m, a, "evictions") == 1
    assert _cost(m, a, "load", same_set[0]) == 0  # kept
    assert _cost(m, a, "load", same_set[1]) == COSTS.miss  # evicted: misses again
    assert _cost(m, a, "load", 1) == COSTS.miss and _count(m, a, "evictions") == 2
    # an evicted Modified line is written back to L2 for free: another hart misses, no transfer
    m, (a, b) = _model(serialize_lines=0, l1_sets=1, l1_ways=1)
    _cost(m, a, "store", 0)
    _cost(m, a, "load", 1)  # evicts line 0
    assert _cost(m, b, "load", 0) == COSTS.miss


def test_an_infinite_l1_never_evicts():
    m, (a, _) = _model(serialize_lines=0, l1_sets=0)
    for line in range(10 * COSTS.l1_sets * COSTS.l1_ways):
        _cost(m, a, "load", line)
    assert _cost(m, a, "load", 0) == 0 and _count(m, a, "evictions") == 0


def test_a_line_serves_one_transaction_at_a_time_only_when_serialized():
    for serialize in (1, 0):
        m, (a, b) = _model(serialize_lines=serialize)
        _cost(m, a, "store", 0)  # at clock 0: the line is busy until `miss`
        b.clock = 0
        expected = COSTS.line_transfer + (COSTS.miss if serialize else 0)
        assert _cost(m, b, "store", 0) == expected, serialize
        assert _count(m, b, "line_wait_cycles") == (COSTS.miss if serialize else 0)
        # a hit never waits, and a hart past the line's busy time does not either
        assert _cost(m, b, "load", 0) == 0
        a.clock = 10_000
        assert _cost(m, a, "load", 0) == COSTS.line_transfer


def test_atomics_cost_a_store_and_a_failed_sc_a_load():
    m, (a, b) = _model(serialize_lines=0)
    _cost(m, a, "load", 0)
    _cost(m, b, "load", 0)
    assert _cost(m, a, "lr", 0, ok=False) == COSTS.atomic + COSTS.upgrade  # LR: exclusive
    assert _cost(m, b, "sc", 0, ok=False) == COSTS.atomic + COSTS.line_transfer  # as a load
    assert _cost(m, b, "amo", 0) == COSTS.atomic + COSTS.upgrade  # S after the failed SC
    assert _cost(m, a, "sc", 0, ok=True) == COSTS.atomic + COSTS.line_transfer
    assert _cost(m, a, "fence", 0) == COSTS.fence
    assert _count(m, a, "atomics") == 2 and _count(m, a, "fences") == 1


def test_the_atomics_model_charges_as_it_did():
    costs = CostModel.load("atomics")
    assert costs.describe() == {"model": "atomics", "instruction": 1, "cpu_hz": 10**9,
                                "atomic": 20, "line_transfer": 100, "fence": 10,
                                "line_bytes": 64}  # fmt: skip
    timing, (a, b) = Timing(costs), (FakeHart(0), FakeHart(1))
    timing.charge(a, "amo", _at(0), True)
    timing.charge(b, "amo", _at(0), True)
    timing.charge(b, "fence", 0, False)
    assert (a.clock, b.clock) == (costs.atomic, costs.atomic + costs.line_transfer + costs.fence)
    assert timing.transfers == 1


def _timed(app: str, harts: int, **kw) -> dict:
    report = run(RunOptions(app=app, harts=harts, timing=True, quiet=True, write_files=False,
                            ram_mib=64, **kw))  # fmt: skip
    assert report.result.exit_code == 0, report.result.message
    return report.summary


def _charged(counts: dict, costs: dict) -> int:
    return (counts["misses"] * costs["miss"] + counts["transfers"] * costs["line_transfer"]
            + counts["upgrades"] * costs["upgrade"] + counts["line_wait_cycles"]
            + counts["atomics"] * costs["atomic"] + counts["fences"] * costs["fence"])  # fmt: skip


@pytest.mark.parametrize("harts", [1, 4])
def test_a_guest_run_is_charged_what_its_counts_and_costs_say(harts):
    s = _timed("contention", harts, quantum=50)
    t = s["timing"]
    assert t["model"] == "coherence" and t["costs_file"] == "coherence"
    for h, counts in enumerate(t["harts"]):
        assert counts["charged_cycles"] == _charged(counts, t["costs"]), h
        # a hart's clock is its instructions plus what it was charged (plus time asleep, in
        # the barrier's wfi: with one hart there is none)
        alone = s["instructions"][h] + counts["charged_cycles"]
        assert s["clocks"][h] == alone if harts == 1 else s["clocks"][h] >= alone
        assert counts["loads"] > 0 and counts["hits"] > counts["misses"] > 0
    assert t["charged_cycles"] == t["totals"]["charged_cycles"]
    if harts == 1:  # alone, nobody takes a line away
        assert t["totals"]["transfers"] == t["totals"]["invalidations"] == 0
    else:
        assert t["totals"]["transfers"] > 0 and t["totals"]["line_wait_cycles"] > 0


def test_contention_costs_more_per_operation_under_coherence_than_alone():
    one = _timed("contention", 1, quantum=50)["timing"]["totals"]
    four = _timed("contention", 4, quantum=50)["timing"]["totals"]
    per_access = [t["charged_cycles"] / (t["loads"] + t["stores"] + t["atomics"])
                  for t in (one, four)]  # fmt: skip
    assert per_access[1] > per_access[0]


@pytest.mark.parametrize("native", [True, False])
def test_trapped_atomics_reach_the_model_once_and_never_through_the_memory_hook(native):
    """hello's amoadd counter is touched by amoadd alone (1000 per hart) but for two plain
    accesses, the runtime zeroing .bss at boot and hart 0's load at the end: the memory hook
    (which the memory log shares with the model) sees just those two, while the model counts
    every atomic the machine executed, once."""
    from emulator.machine import events as ev
    from emulator.machine.hooks import Hooks, MemoryLog
    from emulator.machine.image import Image
    from emulator.machine.machine import Machine
    from emulator.schedule.policies import Timed
    from toolchain import build

    if native and not __import__("emulator.native").native.enabled():
        pytest.skip("the native layer cannot be built here")
    image = Image(build("hello", "default", {}))
    counter = image.symbol("amoadd_count").address
    at_counter = []

    def take(hart: int, records: list) -> None:
        at_counter.extend(r for r in records if r[1] <= counter < r[1] + r[2])

    hooks = Hooks(memory_log=MemoryLog(take), watch_atomics=True)
    atomics = []
    hooks.bus.subscribe(ev.Atomic, lambda e: e.kind != "fence" and atomics.append(e.address))
    timing = Timing(COSTS)
    timing.install(hooks)
    os.environ["EMULATOR_NATIVE"] = "1" if native else "0"
    try:
        machine = Machine(image, 2, 64, hooks)
        timing.attach(machine)
        result = machine.run(Timed(1000), 50_000_000)
    finally:
        del os.environ["EMULATOR_NATIVE"]
    timing.collect()
    assert result.outcome == "exited" and (machine.native is not None) is native
    assert [write for _, _, _, write in at_counter] == [1, 0]  # zeroed at boot; read at the end
    assert atomics.count(counter) == 2 * 1000
    totals = timing.report(result.clocks, result.instructions)["totals"]
    assert totals["atomics"] == len(atomics)
    assert totals["loads"] + totals["stores"] == sum(hooks.memory_log.loads) + sum(
        hooks.memory_log.stores
    )


RDCYCLE_APP = r"""
#include <rt/runtime.h>

/* a line nothing else touches: far past the image, the stacks and the device tree */
static unsigned long *const line = (unsigned long *)(0x80000000UL + (32UL << 20));

static unsigned long cycles_around_a_load(void) {
    unsigned long before, after, value;
    __asm__ volatile("csrr %0, cycle\n"
                     "ld %2, 0(%3)\n"
                     "csrr %1, cycle\n"
                     : "=&r"(before), "=&r"(after), "=&r"(value)
                     : "r"(line)
                     : "memory");
    return after - before;
}

int app_main(unsigned hart, unsigned nharts) {
    (void)nharts;
    if (hart == 0) {
        unsigned long miss = cycles_around_a_load();
        unsigned long hit = cycles_around_a_load();
        printf("miss=%lu hit=%lu\n", miss, hit);
    }
    return 0;
}
"""


@pytest.mark.parametrize("native", ["1", "0"])
def test_rdcycle_sees_a_miss_at_once(tmp_path, monkeypatch, native):
    """A guest's rdcycle around a load of an untouched line reads the miss: the charge lands on
    the hart's clock at the access (2 instructions apart: the load and the second csrr)."""
    app = tmp_path / "rdcycle"
    app.mkdir()
    (app / "app.toml").write_text('description = "rdcycle around a load"\n')
    (app / "main.c").write_text(RDCYCLE_APP)
    monkeypatch.setenv("EMULATOR_NATIVE", native)
    report = run(RunOptions(app=str(app), timing=True, quiet=True, write_files=False))
    assert report.result.exit_code == 0, report.result.message
    assert f"miss={2 + COSTS.miss} hit=2" in report.console.decode()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("miss = 3\nmisses = 4\n", "unknown cost 'misses'"),
        ('model = "moesi"\n', "unknown model 'moesi'; known: coherence, atomics"),
        ("upgrade = -1\n", "costs must be non-negative integers (upgrade)"),
        ("l1_sets = 48\n", "l1_sets must be a power of two, or 0 for an infinite L1 (got 48)"),
        ("serialize_lines = 2\n", "serialize_lines must be 0 or 1"),
        ("line_bytes = 96\n", "line_bytes must be a power of two"),
        ("model = 3\n", "unknown model 3"),
    ],
)
def test_bad_cost_files_are_one_line_and_status_64(tmp_path, text, says):
    bad = tmp_path / "costs.toml"
    bad.write_text(text)
    with pytest.raises(BadInput, match=f"--costs {bad}: " + re.escape(says)):
        CostModel.load(bad)
    proc = cli("run", "--timing", "--costs", str(bad), "--quiet", "--out", str(tmp_path / "r"))
    assert proc.returncode == 64 and proc.stderr.count("\n") == 1, proc.stderr
    assert says in proc.stderr and not (tmp_path / "r").exists()


def test_costs_names_a_bundled_file_or_says_which_there_are(tmp_path):
    assert CostModel.load("atomics").source == "atomics"
    proc = cli("run", "--timing", "--costs", "mesi", "--quiet", "--out", str(tmp_path / "r"))
    assert proc.returncode == 64 and proc.stderr.count("\n") == 1
    assert "no bundled cost file of that name (bundled: coherence, atomics" in proc.stderr


# ---- cache attribution (instruments/cacheprofile.py) ---------------------------------------------


def test_flatten_lets_the_more_specific_range_win():
    from emulator.instruments.cacheprofile import flatten

    ranges = [(0, 100, 1, 0), (10, 20, 2, 2), (15, 30, 3, 1), (200, 210, 4, 1)]
    assert flatten(ranges) == [(0, 10, 1), (10, 20, 2), (20, 30, 3), (30, 100, 1), (200, 210, 4)]


def _cached(app: str, config: str, harts: int, tmp_path, **kw) -> tuple[dict, dict]:
    out = tmp_path / "run"
    report = run(RunOptions(app=app, config=config, harts=harts, timing=True, quiet=True,
                            out=str(out), ram_mib=64, **kw))  # fmt: skip
    assert report.result.exit_code == 0, report.result.message
    return report.summary, json.loads((out / "cache.json").read_text())


@pytest.mark.parametrize("trace", [False, True])
def test_bbuddy_free_lists_miss_under_uk_palloc(tmp_path, trace):
    """bench-page-storm takes pages from bbuddy on 2 harts: uk_palloc's accesses to the per-order
    free-list heads miss or move between the harts; every line touch is counted once, under
    some operation and some structure, with or without the tracer's probes."""
    summary, cache = _cached("bench-page-storm", "bbuddy-spin", 2, tmp_path, trace=trace,
                             defines={"PSTORM_OPS": "60"})  # fmt: skip
    cells = {(c["operation"], c["structure"]): c for c in cache["cells"]}
    heads = cells[("uk_palloc", "free lists")]
    assert heads["misses"] + heads["transfers"] > 0
    assert {"bitmap", "allocator lock", "pages"} <= set(cache["structures"])
    palloc = cache["operations"]["uk_palloc"]
    assert palloc["calls"] >= 2 * 60 // 2 and palloc["per_call"]["accesses"] > 1
    totals = summary["timing"]["totals"]
    for field in ("misses", "transfers", "upgrades"):
        assert sum(c[field] for c in cache["cells"]) == totals[field], field
    assert sum(c["wait_cycles"] for c in cache["cells"]) == totals["line_wait_cycles"]
    touches = sum(c["accesses"] for c in cache["cells"])
    assert touches >= totals["loads"] + totals["stores"] + totals["atomics"]


def test_the_frontend_s_remote_frees_and_collection_are_operations(tmp_path):
    """bench-xmalloc frees on other harts than it allocates: mimalloc's remote free and its
    collection show as operations of their own, touching page metadata in segment headers."""
    _, cache = _cached("bench-xmalloc", "mimalloc+bbuddy-spin", 3, tmp_path,
                       defines={"XMALLOC_ROUNDS": "1"})  # fmt: skip
    ops = cache["operations"]
    assert ops["remote free"]["calls"] > 0 and ops["remote free"]["accesses"] > 0
    assert ops["collect"]["calls"] > 0
    assert "segment headers" in cache["structures"]
    assert any(c["operation"] == "remote free" and c["structure"] == "segment headers"
               for c in cache["cells"])  # fmt: skip


def test_the_run_prints_the_cache_table(tmp_path):
    out = str(tmp_path / "r")
    proc = cli("run", "--app", "bench-page-storm", "--config", "bbuddy-spin", "--harts", "2",
               "--timing", "--quiet", "-D", "PSTORM_OPS=40", "--out", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "cache traffic by allocator operation and data structure" in proc.stdout
    assert re.search(r"^uk_palloc +(free lists|allocator struct|pages) +\d+", proc.stdout, re.M)
    assert (tmp_path / "r" / "cache.json").exists()


@pytest.mark.parametrize("opted_out", [True, False])
def test_a_traced_native_run_makes_no_calls_for_the_cache_attribution(tmp_path, monkeypatch,
                                                                       opted_out):  # fmt: skip
    """C counts the attribution's calls and the trace writer is C's: the native records are only
    counted, no Call made of them (the check: a cache listener that wants calls gets them)."""
    from emulator.instruments import tracer
    from emulator.instruments.cacheprofile import CacheProfile

    made = []

    def counting_call(*args):
        made.append(args[0])
        return real(*args)

    real = tracer.Call
    monkeypatch.setattr(tracer, "Call", counting_call)
    monkeypatch.setattr(CacheProfile, "native_calls", not opted_out)
    monkeypatch.setenv("EMULATOR_NATIVE", "1")
    _, cache = _cached("bench-page-storm", "bbuddy-spin", 2, tmp_path, trace=True,
                       defines={"PSTORM_OPS": "40"})  # fmt: skip
    assert cache["operations"]["uk_palloc"]["calls"] > 0
    assert (not made) if opted_out else made


@pytest.mark.parametrize("native", ["1", "0"])
def test_the_perfetto_trace_gets_coherence_counters(tmp_path, monkeypatch, native):
    """With --trace, each traced call's slice carries its misses, transfers, upgrades and line
    waits, and a counter track per hart follows the hart's totals at every call's end."""
    monkeypatch.setenv("EMULATOR_NATIVE", native)
    summary, _ = _cached("bench-page-storm", "bbuddy-spin", 2, tmp_path, trace=True,
                         defines={"PSTORM_OPS": "30"})  # fmt: skip
    events = json.loads((tmp_path / "run" / "allocs.trace.json").read_text())["traceEvents"]
    for h, totals in enumerate(summary["timing"]["harts"]):
        counters = [e["args"] for e in events
                    if e["ph"] == "C" and e["name"] == f"coherence hart {h}"]  # fmt: skip
        assert len(counters) > 10
        misses = [c["misses"] for c in counters]
        assert misses == sorted(misses) and 0 < misses[-1] <= totals["misses"]
        assert counters[-1]["line_wait"] <= totals["line_wait_cycles"]
    slices = [e for e in events if e["ph"] == "X"]
    assert slices and all("misses" in e["args"] and "transfers" in e["args"] for e in slices)
    assert sum(e["args"]["misses"] for e in slices if e["name"] == "palloc") > 0


def test_bench_takes_a_cost_file_and_records_it(tmp_path):
    out = tmp_path / "sweep"
    proc = cli("bench", "--benchmarks", "bench-larson", "--configs", "bbuddy-spin", "--harts", "2",
               "--costs", "atomics", "--jobs", "1", "--out", str(out), "-D", "LARSON_ROUNDS=2",
               "-D", "LARSON_CHUNKS=16")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((out / "results.json").read_text())
    assert data["costs"] == CostModel.load("atomics").describe()
    assert "--costs atomics" in data["reproduce"]
    row = data["results"][0]
    assert row["misses_per_op"] == 0 and row["line_transfers"] > 0  # the atomics model's
    bad = cli(
        "bench", "--benchmarks", "bench-larson", "--costs", "mesi", "--out", str(tmp_path / "b")
    )
    assert bad.returncode == 64 and bad.stderr.count("\n") == 1
    assert "no bundled cost file of that name" in bad.stderr and not (tmp_path / "b").exists()
