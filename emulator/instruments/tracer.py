"""Allocation tracing: every call into the allocator API, per hart, with exact times.

The API is declared once, in API below: the symbol of each entry point, the layer it belongs to
(objects, pages, mmap regions), what kind of call it is and its arguments in register order.
mmap and munmap are found through the guest's system-call table (.syscalls, see
guest/lib/rt/include/rt/syscall.h): their handlers get a pointer to a0..a5 of the ecall, and the
call site is that ecall's pc, from the Syscall event the hart emits before the handler runs (the
same for the bare runtime, whose ecall traps to M-mode, and for the S-mode one under SBI
firmware, whose ecall from U-mode is delegated to S-mode and never touches mepc).

Each finished call becomes a `Call`; listeners (the tracer's writers, the oracle) get every call at
entry and at return. On the native layer the probes record calls in C (src/probes.c) and the tracer
turns the records into the same Calls (`drain`), at the end of each turn, or at once for what a
listener must see as it happens (`Listener.needs_now`: the oracle's checks); the trace writer's
per-call work is C's there too (`Listener.call_log`, src/calllog.c). Times are in retired
instructions of the calling hart (`entry`, `exit`); `clock` is the hart's virtual clock at entry,
which the Perfetto trace uses so that harts line up.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from unicorn import riscv_const as R

from emulator.instruments.probes import SKIP, TRAMPOLINE, Frame, Probes
from emulator.machine.events import Bus, Syscall
from emulator.machine.hooks import ApiFormat, ApiSpec, CallLog
from emulator.machine.isa import MASK64 as _MASK
from emulator.machine.isa import PC, RA, sext
from emulator.machine.isa import A as _A
from emulator.native import layout as L
from emulator.native.layout import ACT_TRACE, RECORD_INJECTED, RECORD_RETURN
from guest.contract import C

if TYPE_CHECKING:
    from emulator.machine.hart import Hart
    from emulator.machine.image import Image
    from emulator.machine.machine import Machine, RunResult

_MEPC = R.UC_RISCV_REG_MEPC


@dataclass(frozen=True)
class ApiFunction:
    symbol: str  # ELF symbol (for system calls: the SYS_ name in contract.h)
    layer: str  # objects | pages | mmap
    call: str  # the name in traces: malloc, free, palloc, mmap, ...
    args: tuple[str, ...]  # argument names, a0 first
    syscall: bool = False  # found through .syscalls; args come through a pointer in a0


# The one table of what is traced. Order is irrelevant; names are used in allocs.jsonl.
API: tuple[ApiFunction, ...] = (
    ApiFunction("uk_malloc", "objects", "malloc", ("size",)),
    ApiFunction("uk_calloc", "objects", "calloc", ("nmemb", "size")),
    ApiFunction("uk_realloc", "objects", "realloc", ("ptr", "size")),
    ApiFunction("uk_memalign", "objects", "memalign", ("align", "size")),
    ApiFunction("uk_posix_memalign", "objects", "posix_memalign", ("memptr", "align", "size")),
    ApiFunction("uk_free", "objects", "free", ("ptr",)),
    ApiFunction("uk_palloc", "pages", "palloc", ("pages",)),
    ApiFunction("uk_pfree", "pages", "pfree", ("ptr", "pages")),
    ApiFunction("uk_addmem", "pages", "addmem", ("base", "len")),
    ApiFunction(
        "SYS_mmap", "mmap", "mmap", ("addr", "length", "prot", "flags", "fd", "offset"), True
    ),
    ApiFunction("SYS_munmap", "mmap", "munmap", ("addr", "length"), True),
)
LOOKED_FOR = (
    ", ".join(fn.symbol for fn in API if not fn.syscall)
    + " and the handlers of "
    + "/".join(fn.call for fn in API if fn.syscall)
    + " in a .syscalls table"
)  # what find_api looks for, as error messages name it


def find_api(image: Image) -> dict[ApiFunction, int]:
    """The API functions the image has, each at its address (a system call: its handler's)."""
    handlers: dict[int, int] = {}
    table = image.section(".syscalls")
    if table is not None:
        _, data = table
        handlers = dict(struct.iter_unpack("<QQ", data[: len(data) // 16 * 16]))
    found = {}
    for fn in API:
        if fn.syscall:
            address = handlers.get(getattr(C, fn.symbol))
        else:
            sym = image.symbol(fn.symbol)
            address = sym.address if sym else None
        if address is not None:
            found[fn] = address
    return found


# Calls --fail can make fail, and the failure each returns (ENOMEM: 12).
FAILURES = {"malloc": 0, "calloc": 0, "realloc": 0, "memalign": 0, "posix_memalign": 12,
            "palloc": 0, "mmap": -12}  # fmt: skip
# The coherence counts a traced call carries (Call.cache_in/out; layout.CALL_RECORD's).
CACHE_COUNTS = ("misses", "transfers", "upgrades", "line_wait")
POINTER_ARGS = frozenset({"ptr", "memptr", "addr", "base"})
LAYERS = ("objects", "pages", "mmap")


@dataclass(slots=True)
class Call:
    """One call into the allocator API."""

    seq: int  # order of entry over the whole run
    hart: int
    fn: ApiFunction
    args: tuple[int, ...]
    entry: int  # instructions the hart had retired at entry
    clock: int  # the hart's virtual clock at entry
    caller: int  # pc of the call (for a system call: the ecall)
    depth: int  # traced calls of the same layer in progress below it on this hart
    nested: bool = False  # made inside another traced call (the allocator's own business)
    result: int | None = None  # a0 at return (None while in progress)
    exit: int = 0
    out: int = 0  # posix_memalign: the pointer it stored (0 when it failed)
    injected: bool = False  # made to fail by --fail (inject.py): the function did not run
    # with the coherence model: the hart's (misses, transfers, upgrades, line-wait cycles) so
    # far at entry and at return (their difference is the call's, nested calls included)
    cache_in: tuple[int, ...] = ()
    cache_out: tuple[int, ...] = ()

    @property
    def insns(self) -> int:
        return self.exit - self.entry

    def arg(self, name: str) -> int:
        return self.args[self.fn.args.index(name)]

    @property
    def block(self) -> int:
        """The address a call handed out (0 when it failed or hands out nothing)."""
        kind = self.fn.call
        if kind == "posix_memalign":
            return self.out if self.result == 0 else 0
        if kind in ("free", "pfree", "munmap", "addmem") or self.result is None:
            return 0
        if kind == "mmap" and self.result > _MASK - 4096:
            return 0  # -errno
        return self.result

    @property
    def released(self) -> int:
        """The address a finished call gave back (0 when it gave nothing back): free and pfree
        their pointer; munmap its address when it returned 0; realloc its old pointer when it
        took effect (returned a block, or was asked for size 0)."""
        kind = self.fn.call
        if kind in ("free", "pfree"):
            return self.args[0]
        if self.result is None:
            return 0
        if kind == "munmap":
            return self.args[0] if self.result == 0 else 0
        if kind == "realloc" and (self.result or self.arg("size") == 0):
            return self.args[0]
        return 0

    # One definition of a call's row (allocs.jsonl, violations), written by hand rather than
    # with json.dumps because it runs once per allocator call. Every string in it is a name, a
    # symbol or a hex number, so none needs escaping (test_trace parses every line).

    def json_args(self) -> str:
        return ",".join(
            f'"{n}":"{v:#x}"' if n in POINTER_ARGS else f'"{n}":{signed(v)}'
            for n, v in zip(self.fn.args, self.args, strict=True)
        )

    def json_result(self) -> str:
        result = _result_json(self.fn, self.result)
        return (
            "null" if result is None else f'"{result}"' if isinstance(result, str) else str(result)
        )

    def json_line(self, symbol: str) -> str:
        """The row as one JSON object; `symbol` is the caller's symbol as JSON (or null)."""
        fn = self.fn
        extra = f',"ptr":"{self.out:#x}"' if fn.call == "posix_memalign" else ""
        if self.injected:
            extra += ',"injected":true'
        return (
            f'{{"seq":{self.seq},"hart":{self.hart},"layer":"{fn.layer}",'
            f'"call":"{fn.call}","args":{{{self.json_args()}}},"result":{self.json_result()},'
            f'"entry":{self.entry},"exit":{self.exit},"insns":{self.insns},'
            f'"caller":"{self.caller:#x}","caller_symbol":{symbol},'
            f'"depth":{self.depth}{extra}}}'
        )

    def to_json(self, image: Image) -> dict:
        return json.loads(self.json_line(symbol_json(image, self.caller)))


def signed(v: int) -> int:
    """A register value as the signed number it holds (a status, -errno)."""
    return sext(v, 64)


def _result_json(fn: ApiFunction, value: int | None) -> object:
    if value is None or fn.call in ("free", "pfree"):
        return None
    if fn.call in ("posix_memalign", "munmap", "addmem"):
        return signed(value)
    if fn.call == "mmap" and value > _MASK - 4096:
        return signed(value)
    return f"{value:#x}"


def symbol_json(image: Image, pc: int) -> str:
    found = _symbol(image, pc)
    return f'"{found}"' if found else "null"


def _symbol(image: Image, pc: int) -> str | None:
    hit = image.symbol_at(pc)
    if hit is None:
        return None
    sym, off = hit
    return f"{sym.name}+{off:#x}" if off else sym.name


_RELEASES = {"free": L.LOG_RELEASED_ALWAYS, "pfree": L.LOG_RELEASED_ALWAYS,
             "munmap": L.LOG_RELEASED_IF_ZERO, "realloc": L.LOG_RELEASED_REALLOC}  # fmt: skip
_BLOCKS = {"free": L.LOG_BLOCK_NONE, "pfree": L.LOG_BLOCK_NONE, "munmap": L.LOG_BLOCK_NONE,
           "addmem": L.LOG_BLOCK_NONE, "posix_memalign": L.LOG_BLOCK_OUT,
           "mmap": L.LOG_BLOCK_MMAP}  # fmt: skip


def api_format(fn: ApiFunction) -> ApiFormat:
    """How the native layer's trace writer writes `fn`'s calls: Call.json_line, json_result,
    block, released and block_bytes above, as codes (tests/test_native.py compares the files
    both write)."""
    kind = fn.call
    if kind in ("free", "pfree"):
        result = L.LOG_RESULT_NULL
    elif kind in ("posix_memalign", "munmap", "addmem"):
        result = L.LOG_RESULT_SIGNED
    else:
        result = L.LOG_RESULT_MMAP if kind == "mmap" else L.LOG_RESULT_POINTER
    size, size_arg = L.LOG_SIZE_NONE, 0
    if kind == "calloc":
        size = L.LOG_SIZE_PRODUCT
    elif kind in ("malloc", "realloc", "memalign", "posix_memalign"):
        size, size_arg = L.LOG_SIZE_ARG, fn.args.index("size")
    elif kind == "palloc":
        size, size_arg = L.LOG_SIZE_PAGES, fn.args.index("pages")
    elif kind == "mmap":
        size, size_arg = L.LOG_SIZE_ARG, fn.args.index("length")
    return ApiFormat(
        f',"layer":"{fn.layer}","call":"{kind}","args":{{',
        f',"name":"{kind}","cat":"{fn.layer}","args":{{',
        tuple(f'"{name}":' for name in fn.args),
        sum(1 << i for i, name in enumerate(fn.args) if name in POINTER_ARGS),
        result,
        _RELEASES.get(kind, L.LOG_RELEASED_NONE),
        _BLOCKS.get(kind, L.LOG_BLOCK_RESULT),
        size,
        size_arg,
    )


class Listener:
    """What the tracer calls; the oracle and the writers implement these."""

    # On the native layer a listener gets calls at the end of the hart's turn unless it says
    # it must see them as they happen (it reads guest memory then, or may stop the run there).
    first_entry_now = True  # the run's first traced entry, whatever it is
    # False: on the native layer it wants no calls at all (C does its per-call work, or it has
    # none), so the native records are not made into Calls for it; it is still attached.
    native_calls = True

    def needs_now(self, fn: ApiFunction) -> tuple[bool, bool]:
        """(at entry, at return): must calls of `fn` reach this listener as they happen?"""
        return True, True

    def call_log(self) -> CallLog | None:
        """The listener's per-call work as the native layer can do it in C (the trace writer's),
        or None. A listener whose CallLog the native layer took gets no calls."""
        return None

    def attach(self, image: Image, machine: Machine) -> None:
        """The machine exists (before it runs)."""

    def on_entry(self, hart: Hart, call: Call) -> None:
        pass

    def on_return(self, hart: Hart, call: Call) -> None:
        pass

    def finish(self, machine: Machine, result: RunResult) -> None:
        """The run ended (the listener may turn `result` into a violation)."""


@dataclass
class Tracer:
    """Finds the API in an image, probes it and hands calls to listeners."""

    image: Image
    listeners: list[Listener] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # API symbols this image lacks
    calls: int = 0
    fail: dict[str, int] = field(default_factory=dict)  # call name -> N (--fail CALL:N)
    injected: list[int] = field(default_factory=list)  # seq of each call made to fail
    _counts: dict[str, int] = field(default_factory=dict)
    probes: Probes = field(default_factory=Probes)
    bus: Bus | None = None  # where the Syscall events come from (without one: mepc)
    _ecall_pc: dict[int, int] = field(default_factory=dict)  # per hart, its latest ecall
    _open: dict[int, Call] = field(default_factory=dict)  # native: calls not yet returned
    _harts: list = field(default_factory=list)
    _traced: list[ApiFunction] = field(default_factory=list)  # ACT_TRACE's argument -> fn
    _drained: list[Listener] = field(default_factory=list)  # who gets the native records
    # the Python path's coherence counts of a hart (Timing.hart_cache_counts), when it runs
    cache_counts: Callable[[int], tuple[int, ...]] | None = None

    def __post_init__(self) -> None:
        found = find_api(self.image)
        for fn in API:
            address = found.get(fn)
            entry, ret = self._entry_for(fn), self._on_return
            native = (ACT_TRACE, len(self.probes.apis))
            if address is None or not self.probes.add_address(
                self.image, address, fn.symbol, entry, ret, native
            ):
                self.missing.append(fn.symbol)
                continue
            fail_at = self.fail.get(fn.call, 0)
            self.probes.apis.append(
                ApiSpec(len(fn.args), fn.syscall, fn.call == "posix_memalign",
                        LAYERS.index(fn.layer), fail_at,
                        FAILURES.get(fn.call, 0) & _MASK if fail_at else 0)
            )  # fmt: skip
            self._traced.append(fn)
        self.probes.records = self.drain
        if self.bus is not None and any(fn.syscall for fn in found):
            self.bus.subscribe(Syscall, self._on_ecall)
            self.probes.ecall_caller = True
        self.probes.before_install.append(self._when_to_drain)

    def _when_to_drain(self) -> None:
        """Which calls the native layer hands over at once: those a listener needs now."""
        for fn, spec in zip(self._traced, self.probes.apis, strict=True):
            needs = [listener.needs_now(fn) for listener in self.listeners]
            spec.now_entry = any(entry for entry, _ in needs)
            spec.now_return = any(back for _, back in needs)
        self.probes.first_entry_now = any(lst.first_entry_now for lst in self.listeners)
        logs = [log for listener in self.listeners if (log := listener.call_log())]
        if logs:  # one writer in C (the trace writer; a second would be its twin)
            self.probes.log = logs[0]
            for fn, spec in zip(self._traced, self.probes.apis, strict=True):
                spec.format = api_format(fn)

    def attach(self, machine: Machine) -> None:
        self._harts = machine.harts
        # On the native layer a listener whose writing C took, or that wants no calls there,
        # gets nothing from drain (with nobody left, drain only counts).
        log = self.probes.log
        taken = log is not None and log.native is not None
        self._drained = [
            lst
            for lst in self.listeners
            if lst.native_calls and not (taken and lst.call_log() is log)
        ]

    def drain(self, records: list[tuple]) -> None:
        """The native layer's records of traced calls, in the order they happened: the same
        Calls, to the same listeners, as the Python path makes them."""
        harts, listeners = self._harts, self._drained
        if not listeners:  # the writer is C's and nobody else listens: only count
            for record in records:
                if record[0] == RECORD_INJECTED:
                    self.injected.append(record[6])
            self.calls = max(self.calls, max(record[6] for record in records) + 1)
            return
        # A record is layout.CALL_RECORD's fields in order: type, hart, api, depth, nested, pad,
        # seq, now, clock, caller, args[6] (10-15), result (16), out (17), the hart's coherence
        # counts (18-21: misses, transfers, upgrades, line_wait); indexed, not unpacked, since
        # this runs for every traced call.
        traced, in_progress = self._traced, self._open
        for r in records:
            kind, seq = r[0], r[6]
            hart = harts[r[1]]
            if kind == RECORD_RETURN:
                call = in_progress.pop(seq)
                call.result, call.exit, call.cache_out = r[16], r[7], r[18:22]
                if r[16] == 0 and call.fn.call == "posix_memalign":
                    call.out = r[17]
                for listener in listeners:
                    listener.on_return(hart, call)
                continue
            fn = traced[r[2]]
            call = Call(seq, r[1], fn, r[10 : 10 + len(fn.args)], r[7], r[8], r[9], r[3], r[4] != 0)
            call.cache_in = r[18:22]
            self.calls = seq + 1
            if kind == RECORD_INJECTED:
                call.result, call.exit, call.injected = r[16], r[7], True
                call.cache_out = call.cache_in
                self.injected.append(seq)
                for listener in listeners:
                    listener.on_entry(hart, call)
                for listener in listeners:
                    listener.on_return(hart, call)
                continue
            in_progress[seq] = call
            for listener in listeners:
                listener.on_entry(hart, call)

    def _cache(self, hart: int) -> tuple[int, ...]:
        """As C's records carry them: the hart's coherence counts now (zero without)."""
        return self.cache_counts(hart) if self.cache_counts is not None else (0, 0, 0, 0)

    def _on_ecall(self, e: Syscall) -> None:
        self._ecall_pc[e.hart] = e.pc

    def _entry_for(self, fn: ApiFunction) -> Callable[[Hart], object]:
        nargs = len(fn.args)
        layer = fn.layer
        listeners = self.listeners

        def on_entry(hart: Hart) -> object:
            rd = hart.read_reg
            shadow = self.probes.shadow(hart.id)
            if fn.syscall:
                base = rd(_A[0]) - C.RAM_BASE
                args = struct.unpack_from(f"<{nargs}Q", hart.host.ram, base)
                caller = self._ecall_pc.get(hart.id)
                if caller is None:
                    caller = rd(_MEPC)
            else:
                args = tuple(rd(_A[i]) for i in range(nargs))
                ra = rd(RA)
                # The call's own address (jal or jalr: 4 bytes); a tail call (its return
                # address is the trampoline) is charged to the outer call's site.
                tail = ra == TRAMPOLINE and shadow
                caller = shadow[-1].data.caller if tail else ra - 4  # type: ignore[attr-defined]
            depth = 0
            for frame in shadow:  # traced calls only, as probes.c counts ACT_TRACE frames
                if isinstance(frame.data, Call) and frame.data.fn.layer == layer:
                    depth += 1
            now = hart.now()
            call = Call(self.calls, hart.id, fn, args, now, hart.clock_now(), caller, depth)
            call.nested = bool(shadow)
            call.cache_in = self._cache(hart.id)
            self.calls += 1
            if fn.call in self.fail:
                count = self._counts[fn.call] = self._counts.get(fn.call, 0) + 1
                if count == self.fail[fn.call]:
                    return self._inject(hart, call)
            for listener in listeners:
                listener.on_entry(hart, call)
            return call

        return on_entry

    def _inject(self, hart: Hart, call: Call) -> object:
        """Return at once with the call's failure value, the function unrun."""
        value = FAILURES[call.fn.call]
        hart.write_reg(_A[0], value)
        hart.write_reg(PC, hart.read_reg(RA))
        call.result, call.exit, call.injected = value & _MASK, call.entry, True
        call.cache_out = call.cache_in
        self.injected.append(call.seq)
        for listener in self.listeners:
            listener.on_entry(hart, call)
        for listener in self.listeners:
            listener.on_return(hart, call)
        return SKIP

    def _on_return(self, hart: Hart, frame: Frame) -> None:
        call: Call = frame.data  # type: ignore[assignment]
        call.result = hart.read_reg(_A[0])
        call.exit = hart.now()
        call.cache_out = self._cache(hart.id)
        if call.fn.call == "posix_memalign" and call.result == 0:
            offset = call.args[0] - C.RAM_BASE
            call.out = int.from_bytes(hart.host.ram[offset : offset + 8], "little")
        for listener in self.listeners:
            listener.on_return(hart, call)

    def finish(self, machine: Machine, result: RunResult) -> None:
        for listener in self.listeners:
            listener.finish(machine, result)


# ---- writers -----------------------------------------------------------------------------


def percentile(sorted_values: list[int], q: float) -> int:
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


@dataclass
class HartStats:
    calls: int = 0
    failed: int = 0  # allocations that returned nothing
    bytes: int = 0  # bytes handed out (objects: asked size; pages/mmap: whole pages)
    remote_frees: int = 0  # frees of blocks another hart allocated
    latencies: list[int] = field(default_factory=list)


def block_bytes(call: Call) -> int:
    kind = call.fn.call
    if kind == "calloc":
        return call.arg("nmemb") * call.arg("size")
    if kind in ("malloc", "realloc", "memalign", "posix_memalign"):
        return call.arg("size")
    if kind == "palloc":
        return call.arg("pages") << 12
    if kind == "mmap":
        return call.arg("length")
    return 0


class TraceWriter(Listener):
    """allocs.jsonl, the Perfetto/Chrome trace and per-hart statistics.

    Streams both files as calls finish, so memory does not grow with the run. Ownership of live
    blocks (who allocated what) is kept to draw flows and count remote frees and live bytes.

    On the native layer C does all of this per call (`call_log`, native/src/calllog.c: the
    same bytes, the same statistics), and the writer keeps the files and the caller symbols."""

    first_entry_now = False

    def needs_now(self, fn: ApiFunction) -> tuple[bool, bool]:
        return False, False  # it only writes what happened

    def __init__(
        self,
        image: Image,
        harts: int,
        jsonl: IO[str] | None,
        chrome: IO[str] | None,
        cache: bool = False,
    ):
        self.image = image
        self.cache = cache  # the coherence model runs: its counts go into the trace too
        self.jsonl = jsonl
        self.chrome = chrome
        self.stats = [HartStats() for _ in range(harts)]
        self.live = [0] * harts  # live bytes by allocating hart
        self.owner: dict[tuple[str, int], tuple[int, int, int]] = {}  # -> hart, bytes, seq
        self._first = True
        self._alloc_ts: dict[int, float] = {}  # seq of a live allocation -> its trace time
        self._symbols: dict[int, str] = {}  # caller pc -> its symbol as JSON
        if chrome is not None:
            chrome.write('{"displayTimeUnit": "ns", "traceEvents": [\n')
            self._write('{"ph":"M","pid":1,"name":"process_name","args":{"name":"guest"}}')
            for h in range(harts):
                name = f'"args":{{"name":"hart {h}"}}'
                self._write(f'{{"ph":"M","pid":1,"tid":{h},"name":"thread_name",{name}}}')
        self.log = CallLog(
            jsonl is not None, chrome is not None, self._write_out, self._symbol, cache
        )

    def call_log(self) -> CallLog:
        return self.log

    def _write_out(self, which: int, text: str) -> None:
        """Text of C's writer (every event after the header, so each begins with a comma)."""
        out = self.jsonl if which == L.LOG_JSONL else self.chrome
        assert out is not None
        out.write(text)

    def _symbol(self, pc: int) -> str:
        symbol = self._symbols.get(pc)
        if symbol is None:
            symbol = self._symbols[pc] = symbol_json(self.image, pc)
        return symbol

    def on_return(self, hart: Hart, call: Call) -> None:
        st = self.stats[call.hart]
        st.calls += 1
        st.latencies.append(call.insns)
        kind, layer = call.fn.call, call.fn.layer
        freed: tuple[int, int, int] | None = None
        if call.depth == 0:
            ptr = call.released
            if ptr:
                freed = self.owner.pop((layer, ptr), None)
                if freed:
                    self.live[freed[0]] -= freed[1]
                    if freed[0] != call.hart:
                        st.remote_frees += 1
            block = call.block
            if kind not in ("free", "pfree", "munmap", "addmem"):
                if block:
                    size = block_bytes(call)
                    st.bytes += size
                    self.owner[(layer, block)] = (call.hart, size, call.seq)
                    self.live[call.hart] += size
                else:
                    st.failed += 1
        if self.jsonl is None and self.chrome is None:
            return
        fn = call.fn
        symbol = self._symbol(call.caller)
        if self.jsonl is not None:
            self.jsonl.write(call.json_line(symbol) + "\n")
        if self.chrome is not None:
            caller = symbol if symbol != "null" else f'"{call.caller:#x}"'
            args, result = call.json_args(), call.json_result()
            sep = "," if args else ""
            cache = ""
            if self.cache and call.cache_out:
                delta = (b - a for a, b in zip(call.cache_in, call.cache_out, strict=True))
                cache = "".join(f',"{k}":{v}' for k, v in zip(CACHE_COUNTS, delta, strict=True))
            self._write(
                f'{{"ph":"X","pid":1,"tid":{call.hart},"ts":{call.clock / 1000},'
                f'"dur":{call.insns / 1000},"name":"{fn.call}","cat":"{fn.layer}",'
                f'"args":{{{args}{sep}"result":{result},"seq":{call.seq},"caller":{caller}'
                f"{cache}}}}}"
            )
            self._chrome_call(call, freed)
            if cache:  # the hart's coherence counts so far, a counter track per count
                end = (call.clock + call.insns) / 1000
                counts = ",".join(
                    f'"{k}":{v}' for k, v in zip(CACHE_COUNTS, call.cache_out, strict=True)
                )
                self._write(
                    f'{{"ph":"C","pid":1,"ts":{end},"name":"coherence hart {call.hart}",'
                    f'"args":{{{counts}}}}}'
                )

    def _write(self, text: str) -> None:
        assert self.chrome is not None
        self.chrome.write(text if self._first else ",\n" + text)
        self._first = False

    def _chrome_call(self, call: Call, freed: tuple[int, int, int] | None) -> None:
        """Flows and counters that go with a call's slice (one instruction = 1 ns)."""
        ts = call.clock / 1000
        name = call.fn.call
        if freed and freed[0] != call.hart:
            # A flow from the allocating call (its seq) to this free on another hart.
            start = self._alloc_ts.pop(freed[2], ts)
            self._write(
                f'{{"ph":"s","pid":1,"tid":{freed[0]},"id":{freed[2]},"name":"remote free",'
                f'"cat":"flow","ts":{start}}}'
            )
            self._write(
                f'{{"ph":"f","bp":"e","pid":1,"tid":{call.hart},"id":{freed[2]},'
                f'"name":"remote free","cat":"flow","ts":{ts}}}'
            )
        elif freed:
            self._alloc_ts.pop(freed[2], None)
        if call.depth == 0 and call.block and name not in ("free", "pfree", "munmap"):
            self._alloc_ts[call.seq] = ts
        if freed or (call.depth == 0 and call.block):
            owner = freed[0] if freed else call.hart
            end = (call.clock + call.insns) / 1000
            for h in {owner, call.hart}:
                self._write(
                    f'{{"ph":"C","pid":1,"ts":{end},"name":"live bytes hart {h}",'
                    f'"args":{{"bytes":{self.live[h]}}}}}'
                )

    def close(self) -> None:
        native = self.log.native
        if native is not None:  # C's text, then its statistics, as the Python path keeps them
            native.flush()
            for h, st in enumerate(self.stats):
                st.calls, st.failed, st.bytes, st.remote_frees, self.live[h], st.latencies = (
                    native.stats(h)
                )
            native.close()
            self.log.native = None
        if self.chrome is not None:
            self.chrome.write("\n]}\n")
            self.chrome.close()
        if self.jsonl is not None:
            self.jsonl.close()

    def table(self) -> dict:
        rows = []
        for h, st in enumerate(self.stats):
            lat = sorted(st.latencies)
            rows.append(
                {
                    "hart": h,
                    "calls": st.calls,
                    "failed": st.failed,
                    "bytes": st.bytes,
                    "remote_frees": st.remote_frees,
                    "p50": percentile(lat, 0.50),
                    "p90": percentile(lat, 0.90),
                    "p99": percentile(lat, 0.99),
                    "max": lat[-1] if lat else 0,
                    "live_bytes": self.live[h],
                }
            )
        return {"harts": rows}


def format_table(table: dict, missing: list[str]) -> str:
    head = (
        f"{'hart':>4} {'calls':>8} {'failed':>6} {'bytes':>12} {'remote frees':>12} "
        f"{'p50':>6} {'p90':>6} {'p99':>6} {'max':>7}  (latency in instructions)"
    )
    lines = ["allocation calls per hart:", head]
    for r in table["harts"]:
        lines.append(
            f"{r['hart']:>4} {r['calls']:>8} {r['failed']:>6} {r['bytes']:>12} "
            f"{r['remote_frees']:>12} {r['p50']:>6} {r['p90']:>6} {r['p99']:>6} {r['max']:>7}"
        )
    if missing:
        lines.append(f"not traced (no such symbol in the image): {', '.join(missing)}")
    return "\n".join(lines)


def open_outputs(run_dir: Path) -> tuple[IO[str], IO[str]]:
    return (
        (run_dir / "allocs.jsonl").open("w"),
        (run_dir / "allocs.trace.json").open("w"),
    )
