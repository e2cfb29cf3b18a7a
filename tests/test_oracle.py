"""The allocation oracle: every rule is shown catching a purpose-built faulty guest (or, for
range and containment, a forged call), precisely: rule, hart, call site, both blocks; and
clean runs of every backend configuration pass under random schedules."""

from __future__ import annotations

import json
import re

import pytest
from conftest import cli, run_app, seed_chunks, tier

from emulator.instruments.oracle import Oracle, Violation
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


# ---- rules no bundled allocator breaks: forged calls ------------------------------------------


class _Machine:
    fdt_address = 0x8400_0000
    stopped = False

    def __init__(self):
        self.violations = []

    def request_violation(self, hart, pc, message, details):
        self.violations.append(details)


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


def test_partial_munmap_keeps_the_rest_mapped():
    oracle, machine = _oracle()
    oracle._allocated(None, _call("mmap", 0, 3 * 4096, 3, 0x22, -1, 0, result=0x8020_0000))
    oracle._free(None, _call("munmap", 0x8020_1000, 4096, result=0, seq=1), "mmap")
    assert sorted(oracle.live["mmap"].blocks) == [0x8020_0000, 0x8020_2000]
    with pytest.raises(Violation):
        oracle._free(None, _call("munmap", 0x8020_1000, 4096, result=0, seq=2), "mmap")
    assert machine.violations[0]["rule"] == "double-free"


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
