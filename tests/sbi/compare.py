"""What a bare run and an SBI run of the same app must share, and what may differ and why.

A run under SBI firmware prints the firmware's banner first; `payload` drops it. The console of
the two flavours is then the same except for the lines RULES names, each with its reason; `same`
says whether two consoles agree once those are masked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# OpenSBI's banner begins with this line and ends with its "Boot HART ..." table.
BANNER_START = "OpenSBI v"
BANNER_LAST = re.compile(r"^Boot HART .*: ")

HEAP = (
    "the heap differs: an S-mode image starts at KERNEL_BASE, 2 MiB above a bare one (the "
    "firmware owns the first 2 MiB), its heap runs to the end of RAM rather than to the FDT, and "
    "its platform layer has its own size; so block addresses, page counts and what the "
    "allocators' tests derive from them differ"
)
SCHEDULE = (
    "with several harts the interleaving differs (QEMU runs harts as host threads; on the "
    "emulator an SBI call costs other instructions than a CLINT access), so counts that depend "
    "on it differ between two runs of one image too, and lines come in another order"
)
CALIB = (
    "calib prints what rdcycle and rdinstret read around its loops: on QEMU cycle is the host's "
    "time, and how long a hart spins (ping-pong, the locks) depends on the interleaving, as does "
    "how often the TTAS lock changes hands"
)
QEMU_LRSC = (
    "QEMU's SC compares values, so litmus-lrsc's aba check fails on QEMU in both flavours "
    "(README, 'Atomics and contention'); its spin count is host timing"
)


@dataclass(frozen=True)
class Rule:
    app: str  # the app whose lines it masks
    pattern: re.Pattern[str]
    mask: Callable[[re.Match[str]], str]
    why: str
    smp_only: bool = False  # only with more than one hart


def _same(text: str) -> Callable[[re.Match[str]], str]:
    return lambda m: text


def _if_equal(text: str) -> Callable[[re.Match[str]], str]:
    """Masks the numbers when they agree with each other (a leak still shows)."""
    return lambda m: text if len(set(m.groups())) == 1 else m.group(0)


RULES: tuple[Rule, ...] = (
    Rule("alloc-seq", re.compile(r"0x8[0-9a-f]{7}"), _same("ADDR"), HEAP),
    Rule(
        "alloc-faults",
        re.compile(r"free pages (\d+) before, (\d+) after"),
        _if_equal("free pages N before, N after"),
        HEAP,
    ),
    Rule(
        "alloc-tests",
        re.compile(r"(\d+) allocs, (\d+) frees, peak \d+ live / \d+ bytes"),
        _if_equal("N allocs, N frees, peak N live / N bytes"),
        HEAP,
    ),
    Rule(
        "alloc-tests",
        re.compile(r"(\d+) pages free, largest run \d+ pages"),
        _same("N pages free, largest run N pages"),
        HEAP,
    ),
    Rule(
        "*",
        re.compile(r"never takes pages back: \d+ free pages, \d+ at start"),
        _same("never takes pages back: N free pages, N at start"),
        HEAP,
    ),
    Rule(
        "*",
        re.compile(r"\(\d+ segment maps, \d+ remote frees, \d+ delayed pages\)"),
        _same("(N segment maps, N remote frees, N delayed pages)"),
        SCHEDULE,
        smp_only=True,
    ),
    Rule(
        "calib",
        re.compile(r"cycles=\d+ instret=\d+ cycles_per_op=[\d.]+ instret_per_op=[\d.]+"),
        _same("cycles=N instret=N cycles_per_op=N instret_per_op=N"),
        CALIB,
    ),
    Rule("calib", re.compile(r"handoffs=\d+"), _same("handoffs=N"), CALIB),
)
QEMU_RULES: tuple[Rule, ...] = (
    Rule("litmus-lrsc", re.compile(r"\d+ spins\)"), _same("N spins)"), QEMU_LRSC, smp_only=True),
)


def payload(text: str) -> str:
    """The console after the firmware's banner (all of it when there is no banner)."""
    lines = text.split("\n")
    if not any(line.startswith(BANNER_START) for line in lines[:3]):
        return text
    last = max(i for i, line in enumerate(lines) if BANNER_LAST.match(line))
    return "\n".join(lines[last + 1 :])


def masked(app: str, harts: int, text: str, rules: tuple[Rule, ...] = RULES) -> list[str]:
    out = []
    for line in text.splitlines():
        for rule in rules:
            if rule.app in (app, "*") and (harts > 1 or not rule.smp_only):
                line = rule.pattern.sub(rule.mask, line)
        out.append(line)
    return out


def same(
    app: str, harts: int, bare: str, sbi: str, rules: tuple[Rule, ...] = RULES
) -> tuple[bool, list[str], list[str]]:
    """Whether the two consoles agree once RULES are applied: line for line on one hart, as
    multisets of lines on several (SCHEDULE). Returns the compared forms too, for messages."""
    a, b = masked(app, harts, bare, rules), masked(app, harts, sbi, rules)
    if harts > 1:
        a, b = sorted(a), sorted(b)
    return a == b, a, b
