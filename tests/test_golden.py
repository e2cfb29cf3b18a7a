"""Instruction counts and schedule digests of every bundled app, against values recorded before
the code moved: a refactoring that changes what a run does, by one instruction or one turn,
fails here. Also instrumented runs (contention monitor, tracer, oracle, timing model, pct,
preemption, fault injection): their summaries and report files.

Re-record (only when a change of behaviour is meant, and say why in the commit):
    python tests/test_golden.py
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import covering

from emulator.session import RunOptions, run

DATA = Path(__file__).with_name("data") / "golden.json"
MODES = [
    {"harts": 2, "schedule": "rr", "quantum": 1000, "seed": 0},
    {"harts": 3, "schedule": "random", "quantum": 50, "seed": 3},
]
# app -> configurations it is recorded with
APPS = {
    **{a: ["default"] for a in ("calib", "contention", "count-loop", "hello", "litmus-amo",
                                "litmus-lrsc", "locks", "mips", "runaway", "traps", "treiber",
                                "wfi-ipi")},
    "alloc-cost": ["bbuddy-spin", "region"],
    "alloc-faults": ["bbuddy-spin"],
    "alloc-seq": ["bbuddy-spin", "bbuddy-lockfree"],
    "alloc-tests": ["bbuddy-unlocked", "bbuddy-spin", "bbuddy-ticket", "bbuddy-perorder",
                    "bbuddy-lockfree", "region"],
    "frontend-cost": ["mimalloc+bbuddy-spin"],
    "malloc-api": ["mimalloc+bbuddy-spin", "mimalloc+region"],
    "prodcons": ["mimalloc+bbuddy-lockfree"],
    "stress": ["mimalloc+bbuddy-spin", "mimalloc+bbuddy-unlocked+shimlock"],
    "free-race": ["mimalloc+bbuddy-spin"],
    **{f"bench-{b}": ["bbuddy-spin", "mimalloc+bbuddy-lockfree"]
       for b in ("alloc-test", "cache-scratch", "cache-thrash", "glibc-thread", "larson",
                 "mstress", "page-storm", "rptest", "threadtest", "xmalloc")},
}  # fmt: skip
INSTRUMENTED = [
    {"app": "hello", "harts": 4, "atomics": True},
    {"app": "locks", "harts": 3, "atomics": True, "schedule": "random", "quantum": 7, "seed": 2},
    {"app": "alloc-tests", "config": "bbuddy-spin", "harts": 2, "trace": True, "check": True},
    {"app": "alloc-tests", "config": "bbuddy-lockfree", "harts": 3, "trace": True, "check": True,
     "schedule": "random", "quantum": 20, "seed": 4, "check_every": 50000},
    {"app": "stress", "config": "mimalloc+bbuddy-spin", "harts": 2, "trace": True, "check": True},
    {"app": "bench-larson", "config": "bbuddy-spin", "harts": 4, "timing": True, "atomics": True,
     "costs": "atomics"},
    {"app": "bench-xmalloc", "config": "mimalloc+bbuddy-lockfree", "harts": 3, "timing": True,
     "atomics": True, "quantum": 100, "costs": "atomics"},
    {"app": "treiber", "harts": 3, "schedule": "pct", "quantum": 10, "seed": 3,
     "defines": {"TREIBER_POP": "cas", "TREIBER_HOLD": "2"}},
    {"app": "treiber", "harts": 3, "schedule": "pct", "pct_unit": "sync", "quantum": 10, "seed": 5,
     "defines": {"TREIBER_POP": "cas", "TREIBER_HOLD": "2"}},
    {"app": "alloc-tests", "config": "bbuddy-spin", "harts": 3, "schedule": "preempt-atomics",
     "preempt_p": 0.2, "quantum": 50, "seed": 1},
    {"app": "alloc-seq", "config": "bbuddy-spin", "harts": 2, "stall": ["uk_palloc:20000"],
     "trace": True},
    {"app": "alloc-seq", "config": "bbuddy-spin", "harts": 2, "fail": ["palloc:1"], "check": True},
    # the coherence model (the default cost file), appended: the indexes above stay
    {"app": "bench-larson", "config": "bbuddy-spin", "harts": 4, "timing": True, "atomics": True},
    {"app": "bench-xmalloc", "config": "mimalloc+bbuddy-lockfree", "harts": 3, "timing": True,
     "quantum": 100},
]  # fmt: skip
SUMMARY_KEYS = ("outcome", "exit_code", "instructions", "clocks", "quanta", "schedule_digest",
                "timing", "oracle", "injected", "schedule_changes", "schedule_preemptions",
                "schedule_starvation_switches", "pct_steps", "pct_change_points")  # fmt: skip


def _plain(app: str, config: str, mode: dict) -> dict:
    opts = RunOptions(app=app, config=config, quiet=True, write_files=False, ram_mib=64,
                      max_instructions=30_000_000, **mode)  # fmt: skip
    r = run(opts)
    res = r.result
    return {
        "outcome": str(res.outcome),
        "exit_code": res.exit_code,
        "instructions": res.instructions,
        "quanta": res.quanta,
        "digest": res.schedule_digest,
        "console": hashlib.sha256(r.console).hexdigest()[:16],
    }


def _digest(path: Path) -> str | None:
    """A hash of a report file without code addresses and source locations (they move when
    guest code moves, while the run stays the same)."""
    if not path.exists():
        return None
    if path.name == "atomics.json":
        data = json.loads(path.read_text())
        for site in data["sites"]:
            del site["pc"], site["where"]
        data["sites"].sort(key=lambda site: json.dumps(site, sort_keys=True))
        text = json.dumps(data, sort_keys=True)
    elif path.name == "allocs.jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        for row in rows:
            del row["caller"], row["caller_symbol"]
        text = json.dumps(rows, sort_keys=True)
    else:
        text = path.read_text()
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _instrumented(case: dict) -> dict:
    with tempfile.TemporaryDirectory() as d:
        opts = {"ram_mib": 64, "max_instructions": 50_000_000, **case}
        r = run(RunOptions(quiet=True, out=d, **opts))
        out = {k: r.summary[k] for k in SUMMARY_KEYS if k in r.summary}
        out["outcome"] = str(out["outcome"])
        for name in ("atomics.json", "allocs.jsonl", "allocs.json"):
            found = _digest(Path(d) / name)
            if found:
                out[name] = found
        return out


def _plain_key(app: str, config: str, mode: dict) -> str:
    return f"{app}|{config}|{mode['harts']}|{mode['schedule']}|{mode['quantum']}|{mode['seed']}"


def _recorded() -> dict:
    return json.loads(DATA.read_text())


# The fast tier: every configuration recorded at least once; the slow tier the rest (every app;
# runaway and mips, 20 s each on a loaded machine, among them).
@pytest.mark.parametrize(
    ("app", "config"), covering([(a, c) for a, cs in APPS.items() for c in cs], 1)
)
def test_plain_runs_are_unchanged(app, config):
    recorded = _recorded()["runs"]
    for mode in MODES:
        assert _plain(app, config, mode) == recorded[_plain_key(app, config, mode)], mode


@pytest.mark.parametrize("index", range(len(INSTRUMENTED)))
def test_instrumented_runs_are_unchanged(index):
    case = INSTRUMENTED[index]
    assert _instrumented(case) == _recorded()["instrumented"][index], case


def record() -> None:
    runs = {
        _plain_key(a, c, m): _plain(a, c, m) for a, cs in APPS.items() for c in cs for m in MODES
    }
    instrumented = [_instrumented(case) for case in INSTRUMENTED]
    DATA.parent.mkdir(exist_ok=True)
    DATA.write_text(json.dumps({"runs": runs, "instrumented": instrumented}, indent=1) + "\n")
    print(f"recorded {len(runs)} runs and {len(instrumented)} instrumented runs in {DATA}")


if __name__ == "__main__":
    sys.exit(record())
