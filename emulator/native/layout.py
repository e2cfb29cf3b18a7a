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
        ("mepc", "uint64_t *", "&env->mepc"),
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
        ("shadow", "void *", "C: probed calls in progress (probes.c)"),
        ("ecall_pc", "uint64_t", "where the hart's latest ecall was"),
        # the memory log (hooks.MemoryLog): every load and store to RAM
        ("accesses", "nm_access *", "the records not yet taken by Python"),
        ("naccesses", "int32_t", ""),
        ("access_capacity", "int32_t", ""),
        ("loads", "int64_t", ""),
        ("stores", "int64_t", ""),
        ("has_ecall", "int32_t", ""),
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
        # the coherence model's counts (coherence.c; instruments/timing.py COUNTS)
        ("cache_loads", "int64_t", "plain loads the directory saw"),
        ("cache_stores", "int64_t", "plain stores the directory saw"),
        ("cache_atomics", "int64_t", "AMOs, LRs and SCs"),
        ("cache_fences", "int64_t", ""),
        ("cache_hits", "int64_t", "line touches that hit in the hart's L1"),
        ("cache_misses", "int64_t", ""),
        ("cache_transfers", "int64_t", ""),
        ("cache_upgrades", "int64_t", ""),
        ("cache_invalidations", "int64_t", "copies this hart's accesses invalidated"),
        ("cache_evictions", "int64_t", ""),
        ("cache_line_wait_cycles", "int64_t", ""),
        ("cache_charged_cycles", "int64_t", "everything the timing model added to the clock"),
        ("op", "int32_t", "cache attribution: the innermost allocator operation, 0: other"),
        ("last_range", "int32_t", "the range the hart's last access fell in, -1: none"),
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
        ("turn", "int32_t", "the hart whose turn it is, -1: none (Machine._turn)"),
        ("timer_wake_at", "int64_t", "the earliest timer deadline of a sleeping hart"),
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
        # the coherence model (coherence.c): costs.toml's model = "coherence"
        ("coherence", "int32_t", "charge every load, store and atomic through the directory"),
        ("serialize_lines", "int32_t", "a line serves one transaction at a time"),
        ("cost_miss", "int64_t", ""),
        ("cost_upgrade", "int64_t", ""),
        ("l1_sets", "int32_t", "0: an infinite L1"),
        ("l1_ways", "int32_t", ""),
        ("directory", "void *", "C: the per-line directory and the harts' L1 tags"),
        # cache attribution (instruments/cacheprofile.py, hooks.CacheMap): the directory's
        # counts per (allocator operation, data structure)
        ("attribution", "int32_t", "count per (operation, structure)"),
        ("nops", "int32_t", ""),
        ("nstructs", "int32_t", ""),
        ("nranges", "int32_t", ""),
        ("api_ops", "int32_t *", "per traced API function (ACT_TRACE's argument): its op"),
        ("range_starts", "uint64_t *", "sorted, non-overlapping address ranges"),
        ("range_ends", "uint64_t *", ""),
        ("range_structs", "int32_t *", "each range's structure"),
        ("segmented_struct", "int32_t", "a structure inside which segment headers lie, -1"),
        ("segment_header_struct", "int32_t", "what an address in a segment's header is"),
        ("segment_mask", "uint64_t", "segment size - 1"),
        ("segment_header", "uint64_t", "bytes of a segment's header"),
        ("attr_counts", "int64_t *", "[op][structure][ATTR_*]"),
        ("attr_calls", "int64_t *", "[op]: probed calls (ACT_REGION, ACT_TRACE frames)"),
        ("site_stats", "nm_site_stats *", "C: per watched site"),
        ("nsite_stats", "int32_t", ""),
        ("locks", "void *", "C: address -> lock"),
        ("lock_table", "nm_lock *", "C: the locks, in the order first seen"),
        ("nlocks", "int32_t", ""),
        # function probes (probes.c): the allocator API's table, the probes, the records
        ("apis", "nm_api *", "the traced functions (instruments/tracer.py API)"),
        ("napis", "int32_t", ""),
        ("probes", "nm_probe *", ""),
        ("nprobes", "int32_t", ""),
        ("trampoline", "uint64_t", "the return trampoline's address"),
        ("records", "nm_call_record *", "traced calls not yet seen by Python"),
        ("nrecords", "int32_t", ""),
        ("record_capacity", "int32_t", ""),
        ("calls", "int64_t", "traced calls so far (the next call's seq)"),
        ("sync_first_entry", "int32_t", "hand the next entry to Python at once"),
        ("ecall_caller", "int32_t", "a system call's caller is the latest ecall, not mepc"),
        # callbacks into Python
        ("py_exception", "py_exception_fn", "an exception (trap entry is Python's)"),
        ("py_trap", "py_trap_fn", "an instrument's trap site handled in Python"),
        ("py_step", "py_step_fn", "a preemption point asked of a Python step function"),
        ("py_fault", "py_fault_fn", "stop the run with a fault"),
        ("py_atomic", "py_atomic_fn", "an atomic, for Python observers"),
        ("py_drain", "py_drain_fn", "Python takes the records now"),
        ("py_probe_entry", "py_probe_entry_fn", "a probe action run in Python"),
        ("py_probe_return", "py_probe_return_fn", "its return"),
        ("py_accesses", "py_accesses_fn", "a hart's memory log is full: Python takes it"),
    ),
)

API = Struct(
    "nm_api",
    "One traced function of the allocator API: how its arguments are read, whether a "
    "--fail makes one of its calls fail, and when Python must see its calls at once.",
    (
        ("nargs", "int32_t", ""),
        ("syscall", "int32_t", "arguments through a pointer in a0; caller = mepc"),
        ("out", "int32_t", "posix_memalign: read the pointer it stored at return"),
        ("layer", "int32_t", ""),
        ("fail_at", "int64_t", "--fail: the call (1-based) that fails, 0: none"),
        ("fail_value", "uint64_t", "what the failing call returns"),
        ("calls", "int64_t", "calls so far (for fail_at)"),
        ("now_entry", "int32_t", "hand each entry to Python at once"),
        ("now_return", "int32_t", "hand each return to Python at once"),
    ),
)

PROBE = Struct(
    "nm_probe",
    "A function probe (instruments/probes.py): the displaced instruction, its out-of-line "
    "slot, and the actions its entry runs, newest first, until one returns data.",
    (
        ("address", "uint64_t", ""),
        ("slot", "uint64_t", "0: the displaced instruction is emulated"),
        ("word", "uint32_t", "the displaced instruction"),
        ("length", "int32_t", ""),
        ("has_return", "int32_t", "watch the return of a call whose entry returned data"),
        ("nactions", "int32_t", ""),
        ("action", "int32_t[4]", "ACT_*"),
        (
            "argument",
            "int32_t[4]",
            "ACT_TRACE: the API index; ACT_PYTHON: Python's index; ACT_REGION: the operation",
        ),
    ),
)

CALL_RECORD = Struct(
    "nm_call_record",
    "A traced call's entry, return, or injected failure, as Python gets it (tracer.py).",
    (
        ("type", "int32_t", "RECORD_ENTRY, RECORD_RETURN, RECORD_INJECTED"),
        ("hart", "int32_t", ""),
        ("api", "int32_t", ""),
        ("depth", "int32_t", ""),
        ("nested", "int32_t", ""),
        ("pad", "int32_t", ""),
        ("seq", "int64_t", ""),
        ("now", "int64_t", "instructions the hart retired before the entry (or return)"),
        ("clock", "int64_t", "entry: the hart's clock"),
        ("caller", "uint64_t", ""),
        ("args", "uint64_t[6]", ""),
        ("result", "uint64_t", ""),
        ("out", "uint64_t", ""),
        # the hart's coherence counts when recorded (zero without the coherence model)
        ("misses", "int64_t", ""),
        ("transfers", "int64_t", ""),
        ("upgrades", "int64_t", ""),
        ("line_wait", "int64_t", ""),
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

ACCESS = Struct(
    "nm_access",
    "One load or store to RAM in a hart's memory log (hooks.MemoryLog, hooks.ACCESS).",
    (
        ("now", "int64_t", "instructions the hart retired before the access"),
        ("address", "uint64_t", ""),
        ("size", "int32_t", ""),
        ("write", "int32_t", ""),
    ),
)

SCHEDULE = Struct(
    "nm_schedule",
    "A schedule policy's state while the native turn loop decides for it (schedule/"
    "policies.py: the same decisions, from the same state, as the policy's `next`).",
    (
        ("kind", "int32_t", "SCHEDULE_*"),
        ("next", "int32_t", "rr, and replay once its turns are done: the next hart to try"),
        ("quantum", "int64_t", ""),
        ("mt_index", "int32_t", "random: Python's MT19937 state (random.getstate)"),
        ("pad", "int32_t", ""),
        ("mt", "uint32_t[624]", ""),
        ("turns", "int64_t *", "replay: (hart, until) pairs"),
        ("nturns", "int64_t", ""),
        ("turn_index", "int64_t", ""),
    ),
)

LOOP = Struct(
    "nm_loop",
    "The native turn loop's state (Machine.run's locals) and why it handed back to Python.",
    (
        ("budget", "int64_t", "max_instructions"),
        ("total", "int64_t", "instructions retired by all harts"),
        ("quanta", "int64_t", "turns run"),
        ("digest", "uint64_t", "the schedule digest so far"),
        ("max_turns", "int64_t", "hand back after this many turns"),
        ("turns", "int64_t *", "Hooks.turns: (hart, instret) after each turn, or NULL"),
        ("nturns", "int64_t", "turns recorded since Python last took them"),
        ("reason", "int32_t", "LOOP_*: why the loop handed back"),
        ("hart", "int32_t", "LOOP_PICKED, LOOP_RAN: the hart"),
        ("quantum", "int64_t", "LOOP_PICKED, LOOP_RAN: its quantum"),
        ("retired", "int64_t", "LOOP_RAN: what it retired"),
    ),
)

STRUCTS = (HART, MACHINE, SITE_STATS, LOCK, API, PROBE, CALL_RECORD, ACCESS, SCHEDULE, LOOP)

# Constants C and Python share (the header defines each as a macro).
CONSTANTS = {
    # nm_hart.state: machine/hart.py HartState
    "HART_RUNNING": 0,
    "HART_SLEEPING": 1,
    "HART_STALLED": 2,
    # nm_hart.ended: why a turn ended early
    "END_NONE": 0,
    "END_SWITCH": 1,
    "END_PARK": 2,
    # nm_machine.step_mode: who decides the preemption points
    "STEP_NONE": 0,
    "STEP_PYTHON": 1,
    "STEP_POLICY": 2,
    # site kinds
    "SITE_LRSC": 1,  # lr/sc: always executed in C
    "SITE_AMO": 2,  # an AMO, while atomics are watched
    "SITE_FENCE": 3,  # a fence ordering earlier writes, while atomics are watched
    "SITE_SYNC": 4,  # a plain load or store of a synchronization word (pct's sync unit)
    "SITE_PYTHON": 5,  # an instrument's trap site with a Python handler
    "SITE_PROBE": 6,  # a function probe's entry (probes.c)
    "SITE_SLOT_EXIT": 7,  # the trap after a probe's out-of-line instruction
    "SITE_TRAMPOLINE": 8,  # where probed calls return
    # atomic kinds, as events.Atomic.kind
    "ATOMIC_LR": 0,
    "ATOMIC_SC": 1,
    "ATOMIC_AMO": 2,
    "ATOMIC_FENCE": 3,
    # probe actions (nm_probe.action)
    "ACT_TRACE": 1,
    "ACT_LOCK_ACQUIRE": 2,
    "ACT_LOCK_RELEASE": 3,
    "ACT_PYTHON": 4,
    "ACT_REGION": 5,  # cache attribution: the call is an allocator operation (the argument)
    # cache attribution: the counts kept per (operation, structure)
    "ATTR_ACCESSES": 0,
    "ATTR_MISSES": 1,
    "ATTR_TRANSFERS": 2,
    "ATTR_UPGRADES": 3,
    "ATTR_WAIT": 4,
    "ATTR_FIELDS": 5,
    # nm_schedule.kind
    "SCHEDULE_RR": 1,
    "SCHEDULE_RANDOM": 2,
    "SCHEDULE_REPLAY": 3,
    "SCHEDULE_TIMED": 4,
    # nm_loop.reason: why the native turn loop handed back to Python
    "LOOP_LIMIT": 0,  # max_turns turns ran, nothing pending
    "LOOP_NO_PICK": 1,  # no hart can run (nothing decided)
    "LOOP_ASK_POLICY": 2,  # the policy must decide in Python (nothing decided)
    "LOOP_PICKED": 3,  # a pick is made; Python runs the turn
    "LOOP_RAN": 4,  # a turn ran; Python does what follows it
    "MIP_MTIP": 1 << 7,
    # nm_call_record.type
    "RECORD_ENTRY": 0,
    "RECORD_RETURN": 1,
    "RECORD_INJECTED": 2,
}
globals().update(CONSTANTS)


def header() -> str:
    """The C declarations of every shared structure (build/layout.h)."""
    out = [
        "/* Generated from emulator/native/layout.py: edit that, not this. */",
        "#pragma once",
        "#include <stdint.h>",
        f"#define MAX_HARTS {MAX_HARTS}",
    ]
    out.append("\n".join(f"#define {name} {value}" for name, value in CONSTANTS.items()))
    out += [f"typedef struct {s.name} {s.name};" for s in STRUCTS]
    out.append('#include "callbacks.h"')
    out += [s.declaration() for s in STRUCTS]
    sizes = ", ".join(f"sizeof({s.name})" for s in STRUCTS)
    out.append(f"/* in STRUCTS order, for nm_sizeof */\n#define NM_SIZES {sizes}")
    return "\n\n".join(out) + "\n"
