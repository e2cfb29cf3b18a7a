"""Every bundled app with the configurations it runs with, both flavours (bare and as an SBI
payload): tests/test_sbi.py runs them on QEMU, tests/test_sbi_here.py on this emulator."""

from __future__ import annotations

BACKENDS = ["bbuddy-unlocked", "bbuddy-spin", "bbuddy-ticket", "bbuddy-perorder", "region",
            "bbuddy-lockfree"]  # fmt: skip
FRONTENDS = [f"mimalloc+{b}{o}" for b in BACKENDS for o in ("", "+shimlock")]
BENCHES = ["alloc-test", "cache-scratch", "cache-thrash", "glibc-thread", "larson", "mstress",
           "page-storm", "rptest", "threadtest", "xmalloc"]  # fmt: skip
# app -> the configurations it runs with: every app, and every allocator configuration (the
# backends under alloc-tests, the frontend over each under stress).
CASES: dict[str, list[str]] = {
    **{a: ["default"] for a in ("calib", "contention", "count-loop", "crash", "hello",
                                "litmus-amo", "litmus-lrsc", "locks", "mips", "traps", "treiber",
                                "wfi-ipi")},
    "alloc-cost": ["bbuddy-spin"],
    "alloc-faults": ["bbuddy-spin"],
    "alloc-seq": ["bbuddy-spin"],
    "alloc-tests": BACKENDS,
    "free-race": ["mimalloc+bbuddy-spin"],
    "frontend-cost": ["mimalloc+bbuddy-spin"],
    "malloc-api": ["mimalloc+bbuddy-spin"],
    "page-race": ["bbuddy-lockfree"],
    "stats-race": ["bbuddy-lockfree"],
    "prodcons": ["mimalloc+bbuddy-lockfree"],
    "stress": FRONTENDS,
    **{f"bench-{b}": ["bbuddy-spin"] for b in BENCHES},
}  # fmt: skip
# Not run here: it spins for ever by design (the emulator's budget test, tests/test_errors.py).
NEVER_ENDS = {"runaway"}
# Not SMP-safe by design ("correct on one hart only"): with several harts, whether and where it
# breaks depends on the interleaving, in either flavour and from one run to the next.
RACY = {"bbuddy-unlocked", "mimalloc+bbuddy-unlocked"}
# Longer than a few seconds on QEMU (both flavours, 1 and 4 harts).
SLOW = {"alloc-tests", "stress", "prodcons", "litmus-lrsc", "locks", "contention", "page-race",
        "free-race"}  # fmt: skip
