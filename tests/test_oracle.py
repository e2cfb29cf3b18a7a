"""The allocation oracle: every rule is shown catching a purpose-built faulty guest (or, for
range and containment, a forged call), precisely: rule, hart, call site, both blocks; and
clean runs of every backend configuration pass under random schedules."""

from __future__ import annotations

import json
import re

import pytest
from conftest import cli, run_app, seed_chunks, tier

from emulator.instruments.oracle import PAGE, Oracle, Violation
from emulator.instruments.probes import Probes
from emulator.instruments.tracer import API, Call
from emulator.machine.hooks import Hooks


def _faulty(harts: int = 2, config: str = "bbuddy-spin", **defines):
    return run_app("alloc-faults", harts, config=config, check=True, **defines)


def _where(report) -> str:
    return report.result.message


@pytest.mark.configs("bbuddy-spin")
def test_clean_faults_app_passes_with_pages_conserved():
    report = _faulty(FAULT="none")
    assert report.result.outcome == "exited" and report.result.exit_code == 0
    assert report.oracle["conservation"] == "ok"
    assert report.oracle["checked_calls"] >= 20


@pytest.mark.configs("bbuddy-spin")
def test_double_free_is_caught_at_the_second_free():
    report = _faulty(FAULT="double_free")
    assert report.result.outcome == "violation"
    v = report.result.extra
    assert v["rule"] == "double-free" and v["hart"] == 0
    assert re.match(
        r"double-free: hart 0 free\(0x[0-9a-f]+\) at 0x[0-9a-f]+ \(app_main", _where(report)
    )
    assert "main.c:" in v["where"]
    made, freed = v["block"]["made_by"], v["block"]["freed_by"]
    assert made["call"] == "malloc" and made["args"] == {"size": 100}
    assert freed["call"] == "free" and freed["seq"] < v["call"]["seq"]
    assert freed["args"]["ptr"] == v["call"]["args"]["ptr"] == v["block"]["start"]


@pytest.mark.configs("bbuddy-spin")
def test_invalid_free_names_the_block_it_points_into():
    report = _faulty(FAULT="invalid_free", FAULT_HART=1)
    v = report.result.extra
    assert report.result.outcome == "violation" and v["rule"] == "invalid-free"
    assert v["hart"] == 1
    assert "16 bytes into the block" in _where(report)
    assert int(v["call"]["args"]["ptr"], 16) == int(v["block"]["start"], 16) + 16


@pytest.mark.configs("bbuddy-spin")
def test_leaks_are_listed_with_hart_and_site():
    report = _faulty(FAULT="leak")
    v = report.result.extra
    assert report.result.outcome == "violation" and v["rule"] == "leak"
    leaked = {(b["made_by"]["hart"], b["layer"], b["size"]) for b in v["blocks"]}
    assert leaked == {
        (0, "objects", 48),
        (0, "pages", 8192),
        (1, "objects", 48),
        (1, "pages", 8192),
    }
    assert all(b["made_by"]["caller_symbol"].startswith("app_main") for b in v["blocks"])


@pytest.mark.configs("bbuddy-spin")
def test_page_count_mismatch_is_caught():
    report = _faulty(FAULT="pfree_count")
    v = report.result.extra
    assert v["rule"] == "page-count" and "has 4 pages, pfree gives back 2" in _where(report)


@pytest.mark.configs("bbuddy-spin")
def test_overlapping_block_from_a_broken_allocator_is_caught():
    report = _faulty(ALLOC_BUG="overlap")
    v = report.result.extra
    assert v["rule"] == "overlap" and v["call"]["call"] == "palloc"
    assert v["block"]["start"] == v["other"]["start"]  # the same page handed out twice
    assert v["other"]["made_by"]["seq"] < v["call"]["seq"]
    assert "heap_walk" in v  # the walker ran at the violation too


@pytest.mark.configs("bbuddy-spin")
def test_misaligned_block_is_caught():
    report = _faulty(ALLOC_BUG="misalign")
    v = report.result.extra
    assert v["rule"] == "alignment" and "not aligned to 64 bytes" in _where(report)
    assert v["call"]["call"] == "memalign"


@pytest.mark.configs("bbuddy-spin")
def test_lost_pages_are_caught_at_exit():
    report = _faulty(ALLOC_BUG="lost_pages")
    v = report.result.extra
    assert v["rule"] == "lost-pages"
    assert v["initial_free_pages"] - v["final_free_pages"] == 2


@pytest.mark.configs("bbuddy-spin")
def test_violation_exit_status_and_summary(tmp_path):
    proc = cli(
        "run", "--app", "alloc-faults", "--config", "bbuddy-spin", "--harts", "2", "--check",
        "-D", "FAULT=double_free", "--out", str(tmp_path / "r"), "--quiet",
    )  # fmt: skip
    assert proc.returncode == 68, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("emulator: violation: double")
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["outcome"] == "violation" and summary["violation"]["rule"] == "double-free"


# ---- no silent pass: an oracle that sees no allocator says so ------------------------------------


def _one_line(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.mark.parametrize("flag", ["--check", "--trace"])
def test_a_stripped_image_is_bad_input(flag, tmp_path):
    from test_rundir import stripped

    image = stripped("alloc-seq", "bbuddy-spin")
    proc = cli("run", str(image), flag, "--quiet", "--out", str(tmp_path / "r"))
    assert proc.returncode == 64, proc.stderr
    line = _one_line(proc)
    assert f"{flag}: {image} has no symbol table" in line and "uk_malloc" in line, line
    assert not (tmp_path / "r").exists()
    # The same image runs without the oracle: it is the missing symbols the oracle needs.
    assert cli("run", str(image), "--quiet", "--out", str(tmp_path / "r")).returncode == 0


def test_an_image_without_allocator_is_bad_input_unless_the_user_says_so(tmp_path):
    proc = cli("run", "--app", "hello", "--check", "--quiet", "--out", str(tmp_path / "r"))
    assert proc.returncode == 64, proc.stderr
    line = _one_line(proc)
    for looked_for in ("uk_malloc", "uk_palloc", "mmap/munmap", ".syscalls", "--no-allocator"):
        assert looked_for in line, line
    said = cli(
        "run", "--app", "hello", "--check", "--no-allocator", "--quiet",
        "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert said.returncode == 0, said.stderr
    assert "emulator: warning: the oracle checked no allocator call: the image has no " in (
        said.stderr
    )
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["oracle"]["checked_calls"] == 0
    assert summary["warnings"] == [
        "the oracle checked no allocator call: the image has no allocator (--no-allocator)"
    ]


def test_no_allocator_on_an_image_with_one_is_bad_input(tmp_path):
    proc = cli(
        "run", "--app", "alloc-seq", "--config", "bbuddy-spin", "--trace", "--no-allocator",
        "--quiet", "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert proc.returncode == 64
    assert "has allocator entry points (uk_malloc" in _one_line(proc)


def test_a_run_that_checked_no_call_says_so(tmp_path):
    """The entry points are there, but the budget runs out before the first call."""
    base = ["run", "--app", "alloc-seq", "--config", "bbuddy-spin", "--check", "--quiet"]
    proc = cli(*base, "--max-instructions", "2000", "--out", str(tmp_path / "r"))
    assert proc.returncode == 66, proc.stderr
    warning = (
        "the oracle checked no allocator call: the image's allocator entry points were never called"
    )
    assert f"emulator: warning: {warning}" in proc.stderr.splitlines()
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["warnings"] == [warning] and summary["oracle"]["checked_calls"] == 0
    clean = cli(*base, "--out", str(tmp_path / "r2"))
    assert clean.returncode == 0 and "warning" not in clean.stderr, clean.stderr
    summary = json.loads((tmp_path / "r2" / "summary.json").read_text())
    assert summary["warnings"] == [] and summary["oracle"]["checked_calls"] > 0


# ---- rules no bundled allocator breaks: forged calls ------------------------------------------


class _Machine:
    fdt_address = 0x8400_0000
    firmware = None  # bare: the heap ends at the FDT
    stopped = False

    def __init__(self):
        self.violations = []
        self.messages = []

    def request_violation(self, hart, pc, message, details):
        self.violations.append(details)
        self.messages.append(message)


class _Image:
    def symbol(self, name):
        return type("S", (), {"address": 0x8010_0000})() if name == "_end" else None

    def symbol_at(self, pc):
        return None

    def where(self, pc):
        return f"{pc:#x}"

    segments: list = []


def _call(name: str, *args: int, result: int, seq: int = 0) -> Call:
    fn = next(f for f in API if f.call == name)
    call = Call(seq, 0, fn, args, 0, 0, 0x8000_1000, 0)
    call.result = result
    return call


def _oracle():
    machine = _Machine()
    oracle = Oracle(_Image(), Probes(), Hooks())  # type: ignore[arg-type]
    oracle.attach(_Image(), machine)  # type: ignore[arg-type]
    return oracle, machine


def test_range_rule():
    oracle, machine = _oracle()
    with pytest.raises(Violation):
        oracle._allocated(None, _call("malloc", 32, result=0x8000_2000))  # below _end
    assert machine.violations[0]["rule"] == "range"


def test_containment_rule_once_memory_comes_from_mmap():
    oracle, machine = _oracle()
    oracle._allocated(None, _call("mmap", 0, 65536, 3, 0x22, -1, 0, result=0x8020_0000))
    oracle._allocated(None, _call("malloc", 32, result=0x8020_0010, seq=1))  # inside: fine
    assert not machine.violations
    with pytest.raises(Violation):
        oracle._allocated(None, _call("malloc", 32, result=0x8030_0000, seq=2))
    assert machine.violations[0]["rule"] == "containment"


# ---- each call kind, failing and succeeding: the oracle judges what happened -------------------

MAP = 0x8020_0000  # inside the forged heap [0x8010_0000, 0x8400_0000)
RW, ANON = 3, 0x22
EINVAL, ENOMEM = -22 & (1 << 64) - 1, -12 & (1 << 64) - 1


def _forge(name: str, *args: int, seq: int, hart: int = 0) -> Call:
    fn = next(f for f in API if f.call == name)
    return Call(seq, hart, fn, args, 0, 0, 0x8000_1000, 0)


class _Calls:
    """Forged calls through the oracle's entry and return, numbered in order of entry."""

    def __init__(self):
        self.oracle, self.machine = _oracle()
        self.seq = 0

    def enter(self, name: str, *args: int, hart: int = 0) -> Call:
        call = _forge(name, *args, seq=self.seq, hart=hart)
        self.seq += 1
        self.oracle.on_entry(None, call)
        return call

    def leave(self, call: Call, result: int, out: int = 0) -> Call:
        call.result, call.out = result, out
        self.oracle.on_return(None, call)
        return call

    def call(self, name: str, *args: int, result: int, out: int = 0, hart: int = 0) -> Call:
        return self.leave(self.enter(name, *args, hart=hart), result, out)

    def live(self, layer: str) -> dict[int, int]:
        return {b.start: b.size for b in self.oracle.live[layer].blocks.values()}

    @property
    def rules(self) -> list[str]:
        return [v["rule"] for v in self.machine.violations]


ALLOCATIONS = [  # (call, args, layer, the block's size, failure result)
    ("malloc", (100,), "objects", 100, 0),
    ("calloc", (10, 10), "objects", 100, 0),
    ("memalign", (64, 100), "objects", 100, 0),
    ("posix_memalign", (0x8010_0800, 64, 100), "objects", 100, ENOMEM),
    ("palloc", (2,), "pages", 8192, 0),
    ("mmap", (0, 8192, RW, ANON, -1 & (1 << 64) - 1, 0), "mmap", 8192, ENOMEM),
]


@pytest.mark.parametrize(("name", "args", "layer", "size", "failure"), ALLOCATIONS,
                         ids=[a[0] for a in ALLOCATIONS])  # fmt: skip
def test_an_allocation_that_failed_changes_nothing_one_that_succeeded_is_live(
    name, args, layer, size, failure
):
    c = _Calls()
    pointer_result = name != "posix_memalign"
    # A failure that still wrote an address where the block would go: ignored all the same.
    c.call(name, *args, result=failure, out=0 if pointer_result else MAP)
    assert c.live(layer) == {} and not c.rules
    c.call(name, *args, result=MAP if pointer_result else 0, out=0 if pointer_result else MAP)
    assert c.live(layer) == {MAP: size} and not c.rules
    c.call(name, *args, result=MAP if pointer_result else 0, out=0 if pointer_result else MAP)
    assert c.rules == ["overlap"]  # the same block handed out twice


@pytest.mark.parametrize(("name", "layer"), [("free", "objects"), ("pfree", "pages")])
def test_free_and_pfree_are_judged_at_entry_for_what_they_would_do(name, layer):
    """They return nothing that could say they failed: a free of a pointer never handed out
    is a violation whatever the allocator makes of it, and changes nothing in the shadow."""
    c = _Calls()
    alloc = ("malloc", 100) if name == "free" else ("palloc", 1)
    c.call(*alloc, result=MAP)
    pages = (1,) if name == "pfree" else ()
    c.enter(name, MAP + 0x1000, *pages)  # never handed out
    assert c.rules == ["invalid-free"] and c.live(layer) == {MAP: 100 if name == "free" else PAGE}
    c = _Calls()
    c.call(*alloc, result=MAP)
    first = c.enter(name, MAP, *pages)
    assert c.live(layer) == {} and not c.rules  # given up at entry: another hart may get it
    c.call(*alloc, result=MAP, hart=1)  # ... before the free returns
    assert not c.rules
    c.leave(first, 0)
    c.call(name, MAP, *pages, result=0, hart=1)
    c.enter(name, MAP, *pages)
    assert c.rules == ["double-free"]
    assert c.machine.violations[0]["block"]["freed_by"]["hart"] == 1


def test_munmap_that_failed_changes_nothing():
    """malloc-api's partial unmap: the shim rejects it with -EINVAL; then the whole unmap."""
    c = _Calls()
    c.call("mmap", 0, 3 * PAGE, RW, ANON, 0, 0, result=MAP)
    c.call("munmap", MAP, 2 * PAGE, result=EINVAL)
    assert c.live("mmap") == {MAP: 3 * PAGE} and not c.rules
    c.call("munmap", MAP, 3 * PAGE, result=0)
    assert c.live("mmap") == {} and not c.rules
    c.call("munmap", MAP, 3 * PAGE, result=EINVAL)  # "not mapped any more": rejected, fine
    c.call("munmap", 0x1001, PAGE, result=EINVAL)
    c.call("munmap", 0, 0, result=EINVAL)
    assert not c.rules


def test_munmap_that_succeeded_releases_its_range_and_splits_a_mapping():
    c = _Calls()
    c.call("mmap", 0, 3 * PAGE, RW, ANON, 0, 0, result=MAP)
    c.call("munmap", MAP + PAGE, PAGE, result=0)
    assert c.live("mmap") == {MAP: PAGE, MAP + 2 * PAGE: PAGE} and not c.rules
    c.call("munmap", MAP + PAGE, PAGE, result=0)  # a second time, and it "succeeded"
    assert c.rules == ["double-free"]


def test_munmap_that_succeeded_on_memory_never_mapped_is_an_invalid_free():
    c = _Calls()
    c.call("mmap", 0, PAGE, RW, ANON, 0, 0, result=MAP)
    c.call("munmap", MAP, 2 * PAGE, result=0)  # one page more than the mapping
    assert c.rules == ["invalid-free"]
    assert f"[{MAP + PAGE:#x}, {MAP + 2 * PAGE:#x}) was not mapped" in c.machine.messages[0]


def test_memory_a_munmap_releases_may_be_mapped_again_before_it_returns():
    c = _Calls()
    c.call("mmap", 0, 2 * PAGE, RW, ANON, 0, 0, result=MAP)
    unmap = c.enter("munmap", MAP, 2 * PAGE)
    c.call("mmap", 0, 2 * PAGE, RW, ANON, 0, 0, result=MAP, hart=1)  # the shim freed it first
    c.leave(unmap, 0)
    assert c.live("mmap") == {MAP: 2 * PAGE} and not c.rules


def test_a_munmap_that_failed_must_not_have_had_its_memory_handed_out():
    c = _Calls()
    c.call("mmap", 0, 2 * PAGE, RW, ANON, 0, 0, result=MAP)
    unmap = c.enter("munmap", MAP, 2 * PAGE)
    c.call("mmap", 0, PAGE, RW, ANON, 0, 0, result=MAP + PAGE, hart=1)
    c.leave(unmap, EINVAL)
    assert c.rules == ["overlap"]


def test_munmap_that_succeeded_under_a_live_object_breaks_containment():
    c = _Calls()
    c.call("mmap", 0, 2 * PAGE, RW, ANON, 0, 0, result=MAP)
    c.call("malloc", 64, result=MAP + PAGE + 64)
    c.call("munmap", MAP + PAGE, PAGE, result=EINVAL)  # failed: nothing happened
    assert not c.rules
    c.call("munmap", MAP + PAGE, PAGE, result=0)
    assert c.rules == ["containment"]


def test_realloc_that_failed_keeps_the_old_block():
    c = _Calls()
    c.call("malloc", 100, result=MAP)
    c.call("realloc", MAP, 1 << 40, result=0)
    assert c.live("objects") == {MAP: 100} and not c.rules
    c.call("free", MAP, result=0)
    assert not c.rules  # the block was still ours to free


def test_realloc_that_succeeded_gives_the_old_block_back():
    c = _Calls()
    c.call("malloc", 100, result=MAP)
    c.call("realloc", MAP, 200, result=MAP + 0x100)
    assert c.live("objects") == {MAP + 0x100: 200} and not c.rules
    c.call("realloc", MAP + 0x100, 300, result=MAP + 0x100)  # in place
    assert c.live("objects") == {MAP + 0x100: 300} and not c.rules
    c.call("realloc", MAP + 0x100, 0, result=0)  # size 0: freed
    assert c.live("objects") == {} and not c.rules
    c.call("free", MAP + 0x100, result=0)
    assert c.rules == ["double-free"]


def test_realloc_of_a_pointer_never_handed_out_is_judged_by_its_result():
    c = _Calls()
    c.call("realloc", MAP, 100, result=0)  # rejected: nothing happened
    assert not c.rules
    c.call("realloc", MAP, 100, result=MAP + 0x100)  # it took effect
    assert c.rules == ["invalid-free"]


def test_realloc_of_a_freed_pointer_that_took_effect_is_a_double_free():
    c = _Calls()
    c.call("malloc", 100, result=MAP)
    c.call("free", MAP, result=0)
    c.call("realloc", MAP, 200, result=MAP + 0x100)
    assert c.rules == ["double-free"]


def test_the_block_a_realloc_moves_away_from_may_be_handed_out_before_it_returns():
    c = _Calls()
    c.call("malloc", 100, result=MAP)
    moving = c.enter("realloc", MAP, 5000)
    c.call("malloc", 100, result=MAP, hart=1)
    c.leave(moving, MAP + 0x1000)
    assert c.live("objects") == {MAP: 100, MAP + 0x1000: 5000} and not c.rules
    c.enter("realloc", MAP, 10)
    c.call("free", MAP, result=0, hart=1)  # while the realloc of the same block runs
    assert c.rules == ["double-free"]
    assert f"is being given back by hart 0 realloc({MAP:#x}, 10)" in c.machine.messages[0]
    assert "has not returned yet" in c.machine.messages[0]


# ---- clean runs --------------------------------------------------------------------------------


# The fast tier runs seed 0 of each configuration, the slow tier the others.
@pytest.mark.parametrize(
    ("config", "seeds"),
    [tier(c, s, fast=s.start == 0, id=f"{c}-seeds{s.start}-{s.stop - 1}")
     for c in ["bbuddy-spin", "bbuddy-ticket", "bbuddy-perorder", "bbuddy-lockfree", "region"]
     for s in seed_chunks(range(3), 1)],
)  # fmt: skip
def test_clean_backends_pass_the_oracle_under_random_schedules(config, seeds):
    for seed in seeds:
        report = run_app(
            "alloc-tests", 4, config=config, schedule="random", quantum=5, seed=seed,
            ram_mib=128, max_instructions=200_000_000, ALLOC_STRESS_ITERS=10,
            check=True, check_every=200_000,
        )  # fmt: skip
        assert report.result.outcome == "exited", (seed, report.result.message)
        assert report.result.exit_code == 0
        if config != "region":  # bbuddy and nbbs have walkers; region keeps no free pages
            assert report.oracle["conservation"] == "ok"
            assert report.oracle["walks"] >= 2


@pytest.mark.configs("bbuddy-unlocked")
def test_unlocked_bbuddy_is_caught_by_the_oracle():
    outcomes = set()
    for seed in range(10):
        report = run_app(
            "alloc-tests", 4, config="bbuddy-unlocked", schedule="random", quantum=5,
            seed=seed, ram_mib=128, max_instructions=200_000_000, ALLOC_STRESS_ITERS=10,
            check=True,
        )  # fmt: skip
        outcomes.add(report.result.outcome)
        if report.result.outcome == "violation":
            break
    assert "violation" in outcomes


@pytest.mark.parametrize(
    ("config", "seeds"),
    [tier(c, s, fast=s.start == 0, id=f"{c}-seeds{s.start}-{s.stop - 1}")
     for c in ["mimalloc+bbuddy-spin", "mimalloc+bbuddy-lockfree", "mimalloc+region",
               "mimalloc+bbuddy-unlocked+shimlock"]
     for s in seed_chunks(range(3), 1)],
)  # fmt: skip
def test_clean_frontend_configurations_pass_the_oracle(config, seeds):
    for seed in seeds:
        report = run_app(
            "stress", 4, config=config, schedule="random", quantum=5, seed=seed,
            check=True, check_every=100_000,
        )  # fmt: skip
        assert report.result.outcome == "exited" and report.result.exit_code == 0, (
            seed,
            report.result.message,
        )
        assert report.oracle["walker"].startswith("mimalloc")
        assert report.oracle["walks"] >= 2


@pytest.mark.configs("mimalloc+bbuddy-spin")
def test_oracle_sees_the_frontends_mmap_layer(tmp_path):
    report = run_app("stress", 2, config="mimalloc+bbuddy-spin", trace=True, out=tmp_path)
    assert report.result.exit_code == 0
    rows = [json.loads(line) for line in (tmp_path / "allocs.jsonl").read_text().splitlines()]
    maps = [r for r in rows if r["call"] == "mmap"]
    assert maps and all(r["layer"] == "mmap" and r["depth"] == 0 for r in maps)
    assert all(r["caller_symbol"] for r in maps)
    assert {r["call"] for r in rows} >= {"malloc", "free", "mmap", "munmap", "palloc", "pfree"}


def test_periodic_walk_reports_a_broken_heap_as_a_violation():
    oracle, machine = _oracle()

    class Broken:
        name = "broken"

        def check(self):
            return ["order-0 free list, block 0x80100000: the list has a cycle"]

    oracle.walker, oracle.check_every, oracle._next_walk = Broken(), 1000, 1000
    hart = type("H", (), {"pc": 0x8000_0000, "shadow": []})()
    machine.harts = [hart]
    oracle._periodic_walk(hart, 10, 500)  # not yet due
    assert not machine.violations
    oracle._periodic_walk(hart, 10, 1500)
    assert machine.violations[0]["rule"] == "heap" and oracle.walks == 1


@pytest.mark.configs("mimalloc+bbuddy-spin", "bbuddy-spin")
def test_walks_wait_while_a_hart_is_inside_mi_collect(monkeypatch):
    """stress calls mi_collect itself, outside any allocator call: a walk while it holds a
    page's thread_free in hand saw blocks on no list. Walks now wait for it to return; with
    the wait taken away, a walk cries wolf again. Which seed puts a walk inside mi_collect
    moves whenever the code before it changes by an instruction, so the test looks for one
    (a bounded search) and then runs that seed with the wait."""
    from dataclasses import replace

    from emulator.instruments.heapwalk import FrontendWalker
    from emulator.session import RunOptions, run

    opts = RunOptions(
        app="stress", config="mimalloc+bbuddy-spin", harts=4, check=True, check_every=15651,
        schedule="random", quantum=5, seed=0, ram_mib=64, quiet=True, write_files=False,
    )  # fmt: skip
    with monkeypatch.context() as patch:
        patch.setattr(FrontendWalker, "MAINTENANCE", ())
        for seed in range(10, 40):
            broken = run(replace(opts, seed=seed)).result
            if broken.outcome.value == "violation":
                break
        else:
            pytest.fail("no seed in 10..39 put a walk inside mi_collect without the wait")
    assert "heap: page" in broken.message, broken.message
    clean = run(replace(opts, seed=seed)).result
    assert (clean.outcome.value, clean.exit_code) == ("exited", 0), clean.message
