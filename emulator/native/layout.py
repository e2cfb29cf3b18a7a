"""The structures C and Python share, defined once: each is a list of (name, C type, comment),
from which come the ctypes Structure Python reads and writes and the C declaration the sources
include (`header()`, written to build/layout.h at build time). The C compiler and ctypes lay
out fixed-width fields the same way, so the two views agree by construction; build.py checks
each structure's size against the library's own sizeof once it is loaded.

C types used: int8_t .. uint64_t, double, pointers (`T *`), the callback types of native.h
(names ending in `_fn`) and arrays (`int64_t[64]`).
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass
from functools import cached_property

MAX_HARTS = 64  # guest.contract C.MAX_HARTS; checked in build.py

_SCALARS = {
    "int8_t": ctypes.c_int8,
    "uint8_t": ctypes.c_uint8,
    "int32_t": ctypes.c_int32,
    "uint32_t": ctypes.c_uint32,
    "int64_t": ctypes.c_int64,
    "uint64_t": ctypes.c_uint64,
    "double": ctypes.c_double,
}
_ARRAY = re.compile(r"^(\w+)\[(\w+)\]$")


def _ctype(text: str):
    if text.endswith("*") or text.endswith("_fn"):
        return ctypes.c_void_p
    array = _ARRAY.match(text)
    if array:
        count = MAX_HARTS if array.group(2) == "MAX_HARTS" else int(array.group(2))
        return _ctype(array.group(1)) * count
    return _SCALARS[text]


@dataclass(frozen=True)
class Struct:
    name: str  # the C typedef name
    doc: str
    fields: tuple[tuple[str, str, str], ...]  # (name, C type, comment)

    @cached_property
    def ctype(self) -> type[ctypes.Structure]:
        cls = type(self.name, (ctypes.Structure,), {})
        cls._fields_ = [(name, _ctype(kind)) for name, kind, _ in self.fields]  # type: ignore[attr-defined]
        return cls

    def declaration(self) -> str:
        lines = [f"/* {self.doc} */", f"struct {self.name} {{"]
        for name, kind, comment in self.fields:
            array = _ARRAY.match(kind)
            decl = f"{array.group(1)} {name}[{array.group(2)}]" if array else f"{kind} {name}"
            decl = decl.replace("* ", " *")
            lines.append(f"    {decl};" + (f" /* {comment} */" if comment else ""))
        lines.append("};")
        return "\n".join(lines)


HART = Struct(
    "nm_hart",
    "One hart: how C reaches its unicorn instance, and the state the machine keeps for it "
    "(Python's Hart reads and writes these fields in place).",
    (
        ("m", "nm_machine *", "its machine"),
        ("uc", "void *", "uc_engine *"),
        ("gpr", "uint64_t *", "&env->gpr[0] (cpu.py)"),
        ("pc", "uint64_t *", "&env->pc (cpu.py)"),
        ("priv", "uint64_t *", "&env->priv"),
        ("satp", "uint64_t *", "&env->satp"),
        ("counter", "uint64_t *", "&uc->emu_counter (icount.py)"),
        ("id", "int32_t", ""),
        ("state", "int32_t", "HartState: running, sleeping, stalled"),
        ("ended", "int32_t", "why the turn ended early: 0, END_SWITCH, END_PARK"),
        ("at_wfi", "int32_t", "the last turn ended at a wfi"),
        ("running", "int32_t", "inside emu_start"),
        ("error", "int32_t", "unicorn's error of the last turn (0: none)"),
        ("next_pc", "uint64_t", "where the next turn starts"),
        ("instret", "int64_t", "retired instructions, exact"),
        ("clock", "int64_t", "virtual time: instret + time asleep + charged costs"),
        ("timer_at", "int64_t", "clock at which the timer fires"),
        ("levels", "uint64_t", "interrupt lines devices hold raised (mip bits)"),
        ("reservation", "int64_t", "address reserved by the last LR, -1: none"),
        ("loads_reserved", "int64_t", ""),
        ("sc_successes", "int64_t", ""),
        ("sc_failures", "int64_t", ""),
        ("reservations_dropped", "int64_t", ""),
        ("resume_at", "int64_t", "a step the hart was switched away in front of, -1: none"),
        ("stall_left", "int64_t", ""),
        ("sync_seen", "void *", "C: sync load site -> value it read last"),
        # the contention monitor's counters (instruments/contention.py)
        ("amos", "int64_t", ""),
        ("lrs", "int64_t", ""),
        ("sc_success", "int64_t", ""),
        ("sc_failure", "int64_t", ""),
        ("cas_retries", "int64_t", ""),
        ("release_fences", "int64_t", ""),
        ("last_lr_pc", "uint64_t", ""),
        ("last_lr_address", "uint64_t", ""),
        ("last_lr_value", "uint64_t", ""),
        ("has_last_lr", "int32_t", ""),
        ("succeeded_since_lr", "int32_t", ""),
    ),
)

MACHINE = Struct(
    "nm_machine",
    "The machine: RAM, the replaced and instrument sites, what is watched, and the callbacks "
    "into Python for what only Python decides.",
    (
        # unicorn's and QEMU's functions (Python passes their addresses: cpu.py, hart.py)
        ("emu_start", "emu_start_fn", ""),
        ("emu_stop", "emu_stop_fn", ""),
        ("vmem_translate", "vmem_translate_fn", ""),
        ("ram", "uint8_t *", ""),
        ("ram_base", "uint64_t", ""),
        ("ram_size", "uint64_t", ""),
        ("nharts", "int32_t", ""),
        ("harts", "nm_hart *", "nharts of them"),
        ("sites", "void *", "C: address -> site"),
        ("stopped", "int32_t", "the run has stopped (Machine.stop is set)"),
        ("step_mode", "int32_t", "STEP_NONE, STEP_PYTHON (py_step), STEP_POLICY"),
        ("atomic_events", "int32_t", "call py_atomic for every atomic (a Python observer)"),
        ("monitor", "int32_t", "count atomics per hart, site and lock here"),
        ("timing", "int32_t", "charge atomics and fences to the hart's clock"),
        ("cost_atomic", "int64_t", ""),
        ("cost_transfer", "int64_t", ""),
        ("cost_fence", "int64_t", ""),
        ("line_shift", "int32_t", ""),
        ("transfers", "int64_t", ""),
        ("charged", "int64_t", ""),
        ("owners", "int8_t *", "C: per line of RAM, the hart that last wrote it with an atomic"),
        ("site_stats", "nm_site_stats *", "C: per watched site"),
        ("nsite_stats", "int32_t", ""),
        ("locks", "void *", "C: address -> lock"),
        ("lock_table", "nm_lock *", "C: the locks, in the order first seen"),
        ("nlocks", "int32_t", ""),
        # callbacks into Python
        ("py_exception", "py_exception_fn", "an exception (trap entry is Python's)"),
        ("py_trap", "py_trap_fn", "an instrument's trap site handled in Python"),
        ("py_step", "py_step_fn", "a preemption point asked of a Python step function"),
        ("py_fault", "py_fault_fn", "stop the run with a fault"),
        ("py_atomic", "py_atomic_fn", "an atomic, for Python observers"),
    ),
)

SITE_STATS = Struct(
    "nm_site_stats",
    "The contention monitor's counts for one atomic site.",
    (
        ("pc", "uint64_t", ""),
        ("count", "int64_t", ""),
        ("sc_failures", "int64_t", ""),
        ("retries", "int64_t", ""),
        ("by_hart", "int64_t[MAX_HARTS]", ""),
    ),
)

LOCK = Struct(
    "nm_lock",
    "A lock the contention monitor found (or was told about): its counts and who holds it.",
    (
        ("address", "uint64_t", ""),
        ("acquisitions", "int64_t", ""),
        ("failed_attempts", "int64_t", ""),
        ("wait_instructions", "int64_t", ""),
        ("hold_total", "int64_t", ""),
        ("hold_max", "int64_t", ""),
        ("releases", "int64_t", ""),
        ("holder", "int32_t", "-1: free"),
        ("declared", "int32_t", ""),
        ("acquired_at", "int64_t", ""),
        ("durations", "int64_t", "declared: acquisitions timed"),
        ("duration_sum", "int64_t", ""),
        ("duration_min", "int64_t", ""),
        ("at_min", "int64_t", "acquisitions that took duration_min"),
        ("holders", "int64_t[MAX_HARTS]", ""),
        ("waiting_since", "int64_t[MAX_HARTS]", "-1: not waiting"),
    ),
)

STRUCTS = (HART, MACHINE, SITE_STATS, LOCK)


def header() -> str:
    """The C declarations of every shared structure (build/layout.h)."""
    out = [
        "/* Generated from emulator/native/layout.py: edit that, not this. */",
        "#pragma once",
        "#include <stdint.h>",
        f"#define MAX_HARTS {MAX_HARTS}",
    ]
    out += [f"typedef struct {s.name} {s.name};" for s in STRUCTS]
    out.append('#include "callbacks.h"')
    out += [s.declaration() for s in STRUCTS]
    return "\n\n".join(out) + "\n"
