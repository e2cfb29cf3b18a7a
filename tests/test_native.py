"""One behaviour, two paths: every bundled app, under several configurations, schedules and
seeds, run on the pure-Python path (EMULATOR_NATIVE=0) and on the native layer; their run
directories must agree byte for byte — summary.json (but wall_seconds and mips), atomics.json,
allocs.jsonl, allocs.json, allocs.trace.json, console.log and saved schedule files.

Also: the layer is built once and cached outside the source tree, and a host where it cannot
be built says so in one line and runs the Python path.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import covering

from emulator.native import build as native_build
from emulator.native import enabled, library
from emulator.native import layout as L
from emulator.session import RunOptions, run

ROOT = Path(__file__).resolve().parent.parent
FILES = (
    "summary.json",
    "atomics.json",
    "allocs.jsonl",
    "allocs.json",
    "allocs.trace.json",
    "console.log",
    "cache.json",
)

pytestmark = pytest.mark.skipif(
    library() is None, reason="the native layer cannot be built on this host"
)

# app -> configurations (the apps of tests/test_golden.py)
APPS = {
    **{a: ["default"] for a in ("calib", "contention", "count-loop", "hello", "litmus-amo",
                                "litmus-lrsc", "locks", "mips", "runaway", "traps", "treiber",
                                "wfi-ipi")},
    "alloc-cost": ["region"],
    "alloc-faults": ["bbuddy-spin"],
    "alloc-seq": ["bbuddy-lockfree"],
    "alloc-tests": ["bbuddy-unlocked", "bbuddy-ticket", "bbuddy-perorder", "bbuddy-lockfree"],
    "frontend-cost": ["mimalloc+bbuddy-spin"],
    "malloc-api": ["mimalloc+region"],
    "prodcons": ["mimalloc+bbuddy-lockfree"],
    "stress": ["mimalloc+bbuddy-spin", "mimalloc+bbuddy-unlocked+shimlock"],
    **{f"bench-{b}": ["mimalloc+bbuddy-lockfree"]
       for b in ("alloc-test", "cache-scratch", "cache-thrash", "glibc-thread", "larson",
                 "mstress", "page-storm", "rptest", "threadtest", "xmalloc")},
}  # fmt: skip
SMALL = {  # keep the slow Python side short
    "mips": {"MIPS_ITERS": "20000"},
    "count-loop": {},
    "alloc-tests": {"ALLOC_STRESS_ITERS": "20"},
}
# Every app under all instruments at once (contention monitor, tracer, oracle) and a random
# schedule at a fine quantum, two seeds: every trap kind and every event meets every other.
ALL_ON = {"atomics": True, "trace": True, "check": True, "schedule": "random", "quantum": 37}

SCHEDULES = [
    {"app": "treiber", "harts": 3, "schedule": "pct", "quantum": 10, "seed": 3,
     "defines": {"TREIBER_POP": "cas", "TREIBER_HOLD": "2"}},
    {"app": "treiber", "harts": 3, "schedule": "pct", "pct_unit": "sync", "quantum": 10,
     "seed": 5, "defines": {"TREIBER_POP": "cas", "TREIBER_HOLD": "2"}},
    {"app": "alloc-tests", "config": "bbuddy-spin", "harts": 3, "schedule": "pct", "seed": 1,
     "quantum": 50, "check": True, "defines": {"ALLOC_STRESS_ITERS": "20"}},
    {"app": "alloc-tests", "config": "bbuddy-spin", "harts": 3, "schedule": "pct",
     "pct_unit": "instructions", "quantum": 100, "seed": 2,
     "defines": {"ALLOC_STRESS_ITERS": "20"}},
    {"app": "alloc-tests", "config": "bbuddy-spin", "harts": 3, "schedule": "preempt-atomics",
     "preempt_p": 0.2, "quantum": 50, "seed": 1, "atomics": True},
    {"app": "stress", "config": "mimalloc+bbuddy-lockfree", "harts": 4,
     "schedule": "preempt-atomics", "quantum": 10, "seed": 7, "trace": True, "check": True},
    {"app": "bench-larson", "config": "bbuddy-spin", "harts": 4, "timing": True, "atomics": True,
     "costs": "atomics"},
    {"app": "bench-xmalloc", "config": "mimalloc+bbuddy-lockfree", "harts": 3, "timing": True,
     "atomics": True, "quantum": 100, "costs": "atomics"},
    {"app": "contention", "harts": 4, "timing": True, "quantum": 1, "atomics": True,
     "costs": "atomics"},
    {"app": "locks", "harts": 4, "quantum": 10, "schedule": "random", "seed": 9, "atomics": True,
     "locks": ["spin_lock:spin_unlock"]},
    {"app": "alloc-seq", "config": "bbuddy-spin", "harts": 2, "stall": ["uk_palloc:20000"],
     "trace": True},
    {"app": "alloc-seq", "config": "bbuddy-spin", "harts": 2, "fail": ["palloc:1"],
     "check": True},
    {"app": "alloc-faults", "config": "bbuddy-spin", "harts": 2, "check": True,
     "check_every": 20000, "defines": {"FAULT": "double_free"}},
    {"app": "alloc-tests", "config": "bbuddy-lockfree", "harts": 3, "trace": True,
     "check": True, "schedule": "random", "quantum": 20, "seed": 4, "check_every": 50000,
     "defines": {"ALLOC_STRESS_ITERS": "20"}},
    # walks that must wait while a hart is inside mi_collect (the oracle reads pc and ra)
    {"app": "stress", "config": "mimalloc+bbuddy-spin", "harts": 4, "check": True,
     "check_every": 15651, "schedule": "random", "quantum": 5, "seed": 14},
    {"app": "wfi-ipi", "harts": 4, "quantum": 3, "schedule": "random", "seed": 2},
    {"app": "runaway", "harts": 2, "max_instructions": 200_000},
]  # fmt: skip


def _run(opts: dict, out: Path, native: bool) -> dict[str, bytes]:
    """The run directory's files (and a saved schedule) of one run on one path."""
    os.environ["EMULATOR_NATIVE"] = "1" if native else "0"
    try:
        if out.exists():
            shutil.rmtree(out)
        schedule = out.parent / "turns.json"
        r = run(RunOptions(quiet=True, out=str(out), save_schedule=str(schedule), **opts))
    finally:
        del os.environ["EMULATOR_NATIVE"]
    files = {name: (out / name).read_bytes() for name in FILES if (out / name).exists()}
    summary = json.loads(files["summary.json"])
    summary.pop("wall_seconds")
    summary.pop("mips")
    files["summary.json"] = json.dumps(summary, indent=1).encode()
    files["turns.json"] = schedule.read_bytes()
    assert r.result.native is native
    return files


def _same_on_both_paths(opts: dict, tmp_path: Path) -> dict:
    """Run on both paths (same run directory name, so even `options.out` agrees); compare."""
    out = tmp_path / "run"
    python = _run(opts, out, native=False)
    native = _run(opts, out, native=True)
    assert python.keys() == native.keys()
    for name in python:
        assert python[name] == native[name], f"{name} differs between the paths for {opts}"
    return json.loads(native["summary.json"])


# The fast tier keeps one case of each configuration; the slow tier every app, both seeds.
CASES = [(a, c, seed) for seed in (1, 2) for a, cs in APPS.items() for c in cs]


@pytest.mark.parametrize(("app", "config", "seed"), covering(CASES, 1))
def test_every_app_under_every_instrument(app, config, seed, tmp_path):
    from emulator.instruments.tracer import find_api
    from emulator.machine.image import Image
    from toolchain import build

    defines = SMALL.get(app, {})
    no_allocator = not find_api(Image(build(app, config, defines)))
    opts = {"app": app, "config": config, "harts": 3, "seed": seed, "ram_mib": 64,
            "max_instructions": 20_000_000, "defines": defines, "no_allocator": no_allocator,
            **ALL_ON}  # fmt: skip
    _same_on_both_paths(opts, tmp_path)


@pytest.mark.parametrize("index", range(len(SCHEDULES)))
def test_schedules_and_instruments(index, tmp_path):
    opts = {"ram_mib": 64, "max_instructions": 50_000_000, **SCHEDULES[index]}
    _same_on_both_paths(opts, tmp_path)


def test_plain_runs_at_several_quanta(tmp_path):
    for quantum in (1, 7, 1000):
        for schedule in ("rr", "random", "timed"):
            opts = {"app": "alloc-tests", "config": "bbuddy-perorder", "harts": 4,
                    "schedule": schedule, "quantum": quantum, "seed": quantum, "ram_mib": 64,
                    "defines": {"ALLOC_STRESS_ITERS": "10"}}  # fmt: skip
            _same_on_both_paths(opts, tmp_path)


def test_replaying_a_schedule_file(tmp_path):
    opts = {"app": "treiber", "harts": 3, "schedule": "random", "quantum": 5, "seed": 11,
            "ram_mib": 64, "defines": {"TREIBER_POP": "cas"}}  # fmt: skip
    saved = tmp_path / "saved.json"
    run(RunOptions(quiet=True, write_files=False, save_schedule=str(saved), **opts))
    replayed = _same_on_both_paths({**opts, "replay": str(saved)}, tmp_path)
    assert replayed["schedule"] == "replay"


# The coherence model (the default cost file): every load and store charged, in C on one path
# and in Python (instruments/coherence.py) on the other; the timed schedule follows the clocks.
COHERENCE = [
    {"app": "contention", "harts": 4, "timing": True, "quantum": 50, "atomics": True},
    {"app": "bench-larson", "config": "bbuddy-spin", "harts": 4, "timing": True, "trace": True,
     "defines": {"LARSON_CHUNKS": "16", "LARSON_ROUNDS": "2", "LARSON_STEPS": "32"}},
    {"app": "bench-cache-thrash", "config": "mimalloc+bbuddy-lockfree", "harts": 2,
     "timing": True, "quantum": 100},
    {"app": "treiber", "harts": 3, "timing": True, "quantum": 7, "defines": {"TREIBER_POP": "cas"}},
    {"app": "locks", "harts": 2, "timing": True, "quantum": 20, "costs": "SMALL_L1"},
]  # fmt: skip
SMALL_L1 = "l1_sets = 4\nl1_ways = 2\nserialize_lines = 0\n"  # evictions all the time


@pytest.mark.parametrize("index", range(len(COHERENCE)))
def test_the_coherence_model_gives_the_same_runs(index, tmp_path):
    opts = {"ram_mib": 64, "max_instructions": 50_000_000, **COHERENCE[index]}
    if opts.get("costs") == "SMALL_L1":
        (tmp_path / "small.toml").write_text(SMALL_L1)
        opts["costs"] = str(tmp_path / "small.toml")
    summary = _same_on_both_paths(opts, tmp_path)
    totals = summary["timing"]["totals"]
    assert totals["misses"] > 0 and totals["hits"] > 0
    if "costs" in opts:
        assert totals["evictions"] > 0


def test_the_checker_catches_a_native_coherence_model_that_charges_otherwise(tmp_path, monkeypatch):
    """A native side whose misses cost one cycle more than the cost file says: caught."""
    from emulator.instruments import timing

    real = timing.Timing.install

    def off(self, hooks):
        real(self, hooks)
        if os.environ.get("EMULATOR_NATIVE") == "1":
            c = hooks.coherence
            hooks.coherence = type(c)(c.miss + 1, c.upgrade, c.l1_sets, c.l1_ways,
                                      c.serialize_lines)  # fmt: skip

    monkeypatch.setattr(timing.Timing, "install", off)
    with pytest.raises(AssertionError, match=r"summary\.json differs"):
        _same_on_both_paths({"app": "contention", "harts": 2, "timing": True}, tmp_path)


def test_the_checker_catches_a_difference(tmp_path, monkeypatch):
    """The comparison can fail: a native run whose monitor miscounts one atomic differs."""
    from emulator.instruments import contention

    real = contention.ContentionMonitor.report

    def off_by_one(self):
        report = real(self)
        if os.environ.get("EMULATOR_NATIVE") == "1":
            report["harts"][0]["amos"] += 1
        return report

    monkeypatch.setattr(contention.ContentionMonitor, "report", off_by_one)
    with pytest.raises(AssertionError, match=r"atomics\.json differs"):
        _same_on_both_paths({"app": "hello", "harts": 2, "atomics": True}, tmp_path)


# The trace writer's files come from C on the native layer (src/calllog.c) and from
# TraceWriter on the Python path: unusual values must come out alike too.
WRITER_CASES = [
    # failed calls (calloc's overflow, memalign's bad alignments), realloc to and from NULL and
    # size 0, posix_memalign's statuses, mmap's -errno results and negative arguments, and
    # --fail injections with each kind of failure value (NULL, ENOMEM, -ENOMEM)
    {"app": "malloc-api", "config": "mimalloc+region", "harts": 2, "trace": True,
     "check": True, "fail": ["posix_memalign:3", "calloc:1", "mmap:9"]},
    # more than 8 harts: the live-bytes counters after a free on another hart come in the
    # order Python's set of the two harts iterates in (hart 11 before hart 3)
    {"app": "prodcons", "config": "mimalloc+bbuddy-lockfree", "harts": 16, "trace": True,
     "defines": {"PC_ITEMS": "40"}},
]  # fmt: skip


@pytest.mark.parametrize("index", range(len(WRITER_CASES)))
def test_the_trace_writer_in_c_writes_what_python_writes(index, tmp_path):
    opts = {"ram_mib": 64, **WRITER_CASES[index]}
    _same_on_both_paths(opts, tmp_path)
    calls = [json.loads(line) for line in (tmp_path / "run" / "allocs.jsonl").open()]
    events = json.loads((tmp_path / "run" / "allocs.trace.json").read_text())["traceEvents"]
    if opts["app"] == "malloc-api":  # the case holds what it says it does
        assert {c["call"] for c in calls if c.get("injected")} == {
            "posix_memalign", "calloc", "mmap"
        }  # fmt: skip
        assert any(isinstance(c["result"], int) and c["result"] < 0 for c in calls)
        assert any(c["call"] == "realloc" and c["args"]["size"] == 0 for c in calls)
    else:
        counters = [e for e in events if e["ph"] == "C"]
        assert any(
            a["ts"] == b["ts"]
            and (a["name"], b["name"]) == ("live bytes hart 11", "live bytes hart 3")
            for a, b in itertools.pairwise(counters)
        )


# Under the coherence model (--timing's default cost file) each slice also carries the call's
# misses, transfers, upgrades and line waits, and a counter of its hart's totals follows it:
# from C on the native layer too.
COHERENT_TRACES = [
    # remote frees: flows and live-bytes counters come between a slice and its coherence counter
    {"app": "prodcons", "config": "mimalloc+bbuddy-lockfree", "harts": 3,
     "defines": {"PC_ITEMS": "40"}},
    # injected failures (the function did not run: nothing of its own to count), the oracle on
    {"app": "malloc-api", "config": "mimalloc+region", "harts": 2, "check": True,
     "fail": ["posix_memalign:3", "calloc:1", "mmap:9"]},
]  # fmt: skip


@pytest.mark.parametrize("index", range(len(COHERENT_TRACES)))
def test_the_trace_writer_in_c_writes_the_coherence_counts(index, tmp_path):
    opts = {"ram_mib": 64, "trace": True, "timing": True, **COHERENT_TRACES[index]}
    _same_on_both_paths(opts, tmp_path)
    calls = [json.loads(line) for line in (tmp_path / "run" / "allocs.jsonl").open()]
    events = json.loads((tmp_path / "run" / "allocs.trace.json").read_text())["traceEvents"]
    slices = [e for e in events if e["ph"] == "X"]
    at = [i for i, e in enumerate(events) if e["ph"] == "C" and e["name"].startswith("coherence")]
    coherence = [events[i] for i in at]
    assert len(coherence) == len(slices) == len(calls) > 0
    assert {e["name"] for e in coherence} == {f"coherence hart {h}" for h in range(opts["harts"])}
    keys = ("misses", "transfers", "upgrades", "line_wait")
    assert any(e["args"]["misses"] > 0 for e in slices)
    # each slice's counter is the next one after it, its own hart's, totals that only grow
    totals = {}
    counters = iter(at)
    for i, e in enumerate(events):
        if e["ph"] != "X":
            continue
        j = next(counters)
        after = events[j]
        assert i < j and after["name"] == f"coherence hart {e['tid']}"
        now = tuple(after["args"][k] for k in keys)
        before = totals.get(e["tid"], (0, 0, 0, 0))
        assert all(b <= n for b, n in zip(before, now, strict=True))
        assert all(0 <= e["args"][k] <= n for k, n in zip(keys, now, strict=True))
        totals[e["tid"]] = now
    injected = {c["seq"] for c in calls if c.get("injected")}
    if opts.get("fail"):
        assert injected
    for e in slices:
        if e["args"]["seq"] in injected:
            assert all(e["args"][k] == 0 for k in keys)
    if opts["app"] == "prodcons":
        assert any(e["ph"] == "s" for e in events)


def test_the_checker_catches_a_writer_in_c_without_the_coherence_counts(tmp_path, monkeypatch):
    """The comparison can fail: a C writer not told that the coherence model runs differs."""
    from emulator.machine import nativehart

    real = nativehart.NativeCallLog.__init__

    def no_cache(self, native, spec):
        real(self, native, spec)
        self.c.cache = 0

    monkeypatch.setattr(nativehart.NativeCallLog, "__init__", no_cache)
    opts = {"app": "alloc-tests", "config": "bbuddy-spin", "harts": 2, "trace": True,
            "timing": True, "defines": {"ALLOC_STRESS_ITERS": "5"}}  # fmt: skip
    with pytest.raises(AssertionError, match=r"allocs\.trace\.json differs"):
        _same_on_both_paths(opts, tmp_path)


def _wrong_format(change):
    from emulator.instruments import tracer

    real = tracer.api_format

    def wrong(fn):
        f = real(fn)
        return change(f) if fn.call == "malloc" and os.environ["EMULATOR_NATIVE"] == "1" else f

    return wrong


@pytest.mark.parametrize(
    ("change", "file"),
    [
        (lambda f: replace(f, pointers=1), "allocs.jsonl"),  # malloc's size in hex
        (lambda f: replace(f, chrome_head=f.chrome_head.replace("objects", "object")),
         "allocs.trace.json"),
        (lambda f: replace(f, block=L.LOG_BLOCK_NONE), "allocs.json"),  # no bytes counted
    ],
)  # fmt: skip
def test_the_checker_catches_a_writer_in_c_that_writes_otherwise(
    change, file, tmp_path, monkeypatch
):
    """The comparison can fail: the C writer told one detail wrong about malloc differs."""
    from emulator.instruments import tracer

    monkeypatch.setattr(tracer, "api_format", _wrong_format(change))
    opts = {"app": "alloc-tests", "config": "bbuddy-spin", "harts": 2, "trace": True,
            "defines": {"ALLOC_STRESS_ITERS": "5"}}  # fmt: skip
    with pytest.raises(AssertionError, match=rf"{re.escape(file)} differs"):
        _same_on_both_paths(opts, tmp_path)


def test_the_library_is_cached_outside_the_source_tree():
    path = native_build.build()
    assert path.exists() and ROOT not in path.parents
    assert native_build.build() == path  # unchanged sources: the same file, not rebuilt
    assert enabled()


def test_no_compiler_means_one_line_and_the_python_path(tmp_path):
    """A cache directory that cannot be written (as on a host zig cannot build for) makes the
    build fail: one line on stderr, and the run goes on on the Python path."""
    env = {
        **os.environ, "EMU_CACHE_DIR": "/dev/null/nowhere", "PYTHONPATH": str(ROOT),
        "EMU_BUILD_DIR": str(tmp_path / "images"),  # the guest image still has a place
    }  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "emulator", "run", "--app", "hello", "--harts", "2", "--quiet",
         "--out", str(tmp_path / "run")],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    unavailable = [line for line in proc.stderr.splitlines() if "native layer" in line]
    assert len(unavailable) == 1 and "pure-Python path" in unavailable[0]
    assert (tmp_path / "run" / "summary.json").exists()


def _memory_log(native: bool, app: str, config: str, defines: dict, quantum: int):
    """Per hart: (loads, stores, a digest of every record in order, how many records)."""
    from emulator.machine.hooks import Hooks, MemoryLog
    from emulator.machine.image import Image
    from emulator.machine.machine import Machine
    from emulator.schedule.policies import RoundRobin
    from toolchain import build

    image = Image(build(app, config, defines))
    digests = [hashlib.sha256() for _ in range(3)]
    counts = [0, 0, 0]

    def take(hart: int, records: list) -> None:
        counts[hart] += len(records)  # taken in chunks that differ by path: digest records
        for record in records:
            digests[hart].update(repr(record).encode())

    log = MemoryLog(take)
    os.environ["EMULATOR_NATIVE"] = "1" if native else "0"
    try:
        machine = Machine(image, 3, 64, Hooks(memory_log=log))
        assert (machine.native is not None) is native
        result = machine.run(RoundRobin(quantum), 20_000_000)
    finally:
        del os.environ["EMULATOR_NATIVE"]
    assert result.outcome == "exited", result.message
    return log.loads, log.stores, [d.hexdigest() for d in digests], counts


@pytest.mark.parametrize(
    ("app", "config", "defines", "quantum"),
    [
        ("bench-larson", "bbuddy-spin", {"LARSON_CHUNKS": "16", "LARSON_ROUNDS": "2"}, 1000),
        ("alloc-tests", "bbuddy-lockfree", {"ALLOC_STRESS_ITERS": "5"}, 7),
    ],
)
def test_the_memory_log_records_every_access_alike(app, config, defines, quantum):
    """Every load and store, counted and recorded in order, is the same on both paths (the
    native one records in C); and the counts agree with the records."""
    python = _memory_log(False, app, config, defines, quantum)
    native = _memory_log(True, app, config, defines, quantum)
    assert python == native
    loads, stores, _, counts = native
    assert [a + b for a, b in zip(loads, stores, strict=True)] == counts
    assert min(loads) > 0 and min(stores) > 0


def test_the_turn_loop_runs_in_c(monkeypatch):
    """At a fine quantum the turns run in C's loop: Python runs only the few turns handed
    back to it (a wfi, a reservation held at a turn's end, ...), not one per turn."""
    from emulator.machine.nativehart import NativeHart

    python_turns = []
    real = NativeHart.run
    monkeypatch.setattr(NativeHart, "run", lambda self, q: python_turns.append(q) or real(self, q))
    monkeypatch.setenv("EMULATOR_NATIVE", "1")
    r = run(RunOptions(app="alloc-tests", config="bbuddy-spin", harts=4, schedule="random",
                       quantum=10, seed=1, check=True, quiet=True, write_files=False,
                       defines={"ALLOC_STRESS_ITERS": "5"}))  # fmt: skip
    assert r.result.native and r.result.outcome == "exited"
    assert r.result.quanta > 10_000 and len(python_turns) < r.result.quanta / 10


def test_the_checker_catches_a_turn_loop_that_decides_otherwise(tmp_path, monkeypatch):
    """A C loop given another random state than the policy's makes other turns: caught."""
    from emulator.schedule.policies import RandomOrder

    real = RandomOrder.native_schedule

    def off(self):
        state = real(self)
        state.rng = (*(w ^ 1 for w in state.rng[:624]), state.rng[624])
        return state

    monkeypatch.setattr(RandomOrder, "native_schedule", off)
    with pytest.raises(AssertionError, match="differs"):
        _same_on_both_paths({"app": "treiber", "harts": 3, "schedule": "random", "quantum": 5,
                             "seed": 11, "ram_mib": 64}, tmp_path)  # fmt: skip


def test_the_checker_catches_a_native_cache_attribution_that_differs(tmp_path, monkeypatch):
    """A native side that puts traced calls under the wrong operation: cache.json differs."""
    from emulator.instruments import cacheprofile

    real = cacheprofile.CacheProfile.install

    def off(self, hooks):
        real(self, hooks)
        if os.environ.get("EMULATOR_NATIVE") == "1":
            self.map.api_ops = [0 for _ in self.map.api_ops]  # every call "other"

    monkeypatch.setattr(cacheprofile.CacheProfile, "install", off)
    opts = {"app": "bench-page-storm", "config": "bbuddy-spin", "harts": 2, "timing": True,
            "trace": True, "ram_mib": 64, "defines": {"PSTORM_OPS": "30"}}  # fmt: skip
    with pytest.raises(AssertionError, match=r"cache\.json differs"):
        _same_on_both_paths(opts, tmp_path)
