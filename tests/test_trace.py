"""The allocation tracer: a guest with a known call sequence gives exactly those calls, the
trace files are deterministic, and the Perfetto trace has a slice per call and a flow per
remote free."""

from __future__ import annotations

import json
import os
import re

import pytest
from conftest import cli, console_lines, run_app, script

SEQ_LINE = re.compile(r"seq hart=(\d+) n=(\d+) call=(\w+) args=(\S+) result=(\S+)(?: ptr=(\S+))?")


def _jsonl(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "allocs.jsonl").read_text().splitlines()]


def _as_int(text: str) -> int:
    return int(text, 0)


@pytest.mark.parametrize("config", ["bbuddy-spin", "bbuddy-lockfree", "region"])
def test_trace_has_exactly_the_calls_the_guest_made(tmp_path, config):
    report = run_app("alloc-seq", 2, config=config, trace=True, out=tmp_path)
    assert report.result.exit_code == 0, console_lines(report)[-3:]
    expected = [SEQ_LINE.fullmatch(line) for line in console_lines(report)]
    expected = [m for m in expected if m]
    assert len(expected) == 24
    rows = [r for r in _jsonl(tmp_path) if r["depth"] == 0]
    for hart in (0, 1):
        mine = [r for r in rows if r["hart"] == hart]
        want = [m for m in expected if int(m.group(1)) == hart]
        assert [r["call"] for r in mine] == [m.group(3) for m in want]
        for r, m in zip(mine, want, strict=True):
            args = [_as_int(a) for a in m.group(4).split(",")]
            assert [_as_int(str(v)) for v in r["args"].values()] == args, r
            if m.group(5) != "-" and r["call"] != "posix_memalign":
                assert _as_int(r["result"]) == _as_int(m.group(5)), r
            if m.group(6):
                assert r["result"] == 0 and _as_int(r["ptr"]) == _as_int(m.group(6))
            assert r["insns"] == r["exit"] - r["entry"] > 0
            assert r["caller_symbol"].startswith(("app_main", "seq_")), r
    table = report.allocs["harts"]
    assert [h["calls"] for h in table] == [12, 12]
    assert [h["remote_frees"] for h in table] == [0, 1]


def _stress_trace(out, seed: int):
    return run_app(
        "alloc-tests", 4, config="bbuddy-spin", schedule="random", quantum=7, seed=seed,
        ram_mib=128, max_instructions=200_000_000, ALLOC_STRESS_ITERS=5, trace=True, out=out,
    )  # fmt: skip


def test_same_seed_gives_the_same_trace_bytes(tmp_path):
    a = _stress_trace(tmp_path / "a", 11)
    b = _stress_trace(tmp_path / "b", 11)
    c = _stress_trace(tmp_path / "c", 12)
    assert a.result.exit_code == b.result.exit_code == c.result.exit_code == 0
    first = (tmp_path / "a" / "allocs.jsonl").read_bytes()
    assert len(first.splitlines()) > 100
    assert first == (tmp_path / "b" / "allocs.jsonl").read_bytes()
    assert (tmp_path / "a" / "allocs.trace.json").read_bytes() == (
        tmp_path / "b" / "allocs.trace.json"
    ).read_bytes()
    assert first != (tmp_path / "c" / "allocs.jsonl").read_bytes()  # the seed matters


def test_chrome_trace_has_a_slice_per_call_and_a_flow_per_remote_free(tmp_path):
    report = _stress_trace(tmp_path, 5)
    rows = _jsonl(tmp_path)
    events = json.loads((tmp_path / "allocs.trace.json").read_text())["traceEvents"]
    slices = [e for e in events if e["ph"] == "X"]
    for hart in range(4):
        assert sum(1 for e in slices if e["tid"] == hart) == sum(
            1 for r in rows if r["hart"] == hart
        )
    remote = sum(h["remote_frees"] for h in report.allocs["harts"])
    assert remote > 0
    assert sum(1 for e in events if e["ph"] == "s") == remote
    assert sum(1 for e in events if e["ph"] == "f") == remote
    names = {e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    assert names == {f"hart {h}" for h in range(4)}
    counters = {e["name"] for e in events if e["ph"] == "C"}
    assert counters == {f"live bytes hart {h}" for h in range(4)}


def _trace_processor(path):
    try:
        from perfetto.trace_processor import TraceProcessor, TraceProcessorConfig
    except ImportError:
        pytest.skip("the perfetto package is not installed")
    config = TraceProcessorConfig(bin_path=os.environ.get("PERFETTO_TP_BIN"))
    try:
        return TraceProcessor(trace=str(path), config=config)
    except Exception as e:  # the shell binary is downloaded on first use
        pytest.skip(f"perfetto's trace processor is not available here ({type(e).__name__})")


def test_perfetto_trace_processor_reads_the_trace(tmp_path):
    report = _stress_trace(tmp_path, 5)
    tp = _trace_processor(tmp_path / "allocs.trace.json")
    try:
        count = next(iter(tp.query("select count(*) as n from slice"))).n
        flows = next(iter(tp.query("select count(*) as n from flow"))).n
        threads = {r.name for r in tp.query("select name from thread where name like 'hart %'")}
    finally:
        tp.close()
    assert count == sum(h["calls"] for h in report.allocs["harts"])
    assert flows == sum(h["remote_frees"] for h in report.allocs["harts"])
    assert threads == {f"hart {h}" for h in range(4)}


def test_missing_symbols_are_named_once_not_a_crash(tmp_path):
    """(An image with no allocator at all is bad input without --no-allocator: test_rundir.)"""
    proc = cli("run", "--app", "hello", "--trace", "--no-allocator", "--out", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("not traced")]
    assert len(lines) == 1 and "uk_malloc" in lines[0] and "SYS_mmap" in lines[0]
    assert (tmp_path / "r" / "allocs.jsonl").read_text() == ""


@pytest.mark.configs("bbuddy-spin")
def test_trace_script_says_where_the_files_are(tmp_path):
    proc = script(
        "trace_allocs.py", "--app", "alloc-seq", "--config", "bbuddy-spin", "--harts", "2",
        "--out", str(tmp_path / "t"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert str(tmp_path / "t" / "allocs.jsonl") in proc.stdout
    assert str(tmp_path / "t" / "allocs.trace.json") in proc.stdout
    assert "remote frees" in proc.stdout
