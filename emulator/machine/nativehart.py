"""The machine on the native layer (emulator/native): harts whose traps unicorn reports to C.

`NativeHart` is a Hart whose state lives in its C structure (layout.py nm_hart), so that C and
Python read and write the same fields: Python code that reads `hart.instret` or sets
`hart.state` works unchanged on either path. Its INTR hook is C's (src/hart.c): lr/sc, watched
AMOs and fences and pct's sync accesses are executed there; only exceptions and Python trap
sites come back to Python, through the callbacks `Native` installs.

`Native` is a machine's C side (nm_machine): its tables (sites, the contention monitor's
counts, the timing model's line owners), the callbacks into Python, and how an exception raised
in a callback gets back to the caller (`raise_pending`): C cannot take a Python exception, so
the callback keeps it, sets nm_error and stops the hart, and Python raises it when C returns.
"""

from __future__ import annotations

import ctypes
import struct
from typing import TYPE_CHECKING

from unicorn import UC_HOOK_INTR, UC_HOOK_MEM_READ, UC_HOOK_MEM_WRITE, Uc, UcError
from unicorn.unicorn_py3.unicorn import uclib

from emulator.machine import csrs
from emulator.machine import events as ev
from emulator.machine.hart import NEVER, Hart, HartState, ram_pointer
from emulator.machine.hooks import ACCESS, SKIP, HartHost, NativeSchedule
from emulator.machine.isa import AMO_OPS, is_amo, is_lrsc, length_of
from emulator.native import layout, library
from emulator.native.layout import (
    SITE_AMO,
    SITE_FENCE,
    SITE_LRSC,
    SITE_PROBE,
    SITE_PYTHON,
    SITE_SLOT_EXIT,
    SITE_SYNC,
    SITE_TRAMPOLINE,
    STEP_NONE,
    STEP_PYTHON,
)
from guest.contract import C

if TYPE_CHECKING:
    from emulator.machine.machine import Machine

ATOMIC_KINDS = ("lr", "sc", "amo", "fence")  # ATOMIC_*
_ENDED = ("", "switch", "park")  # END_*
INT64_MAX = (1 << 63) - 1
_SCHEDULES = ("rr", "random", "replay", "timed")  # SCHEDULE_RR ...
TURNS = 1 << 16  # turns the native loop runs before Python looks (Ctrl-C, the wall clock)
RECORDS = 4096  # traced calls buffered in C before Python must take them
_RECORD = struct.Struct("<6i3q9Q4q")  # layout.CALL_RECORD
_ACCESS = struct.Struct(ACCESS)  # layout.ACCESS
ACCESSES = 1 << 16  # memory log records buffered per hart before Python must take them

_EXCEPTION = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.c_uint32)
_TRAP = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.c_int32, ctypes.c_uint64)
_STEP = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int32, ctypes.c_uint64)
_FAULT = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.c_uint64, ctypes.c_char_p)
_DRAIN = ctypes.CFUNCTYPE(None, ctypes.c_int32)
_ACCESSES = ctypes.CFUNCTYPE(None, ctypes.c_int32)
_PROBE_ENTRY = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int32, ctypes.c_int32)
_PROBE_RETURN = ctypes.CFUNCTYPE(
    None, ctypes.c_int32, ctypes.c_int32, ctypes.c_int64, ctypes.c_uint64
)
_ATOMIC = ctypes.CFUNCTYPE(
    None, ctypes.c_int32, ctypes.c_int64, ctypes.c_uint64, ctypes.c_int32, ctypes.c_int32,
    ctypes.c_int32, ctypes.c_int64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_int32,
)  # fmt: skip


def _address(fn) -> int:
    return ctypes.cast(fn, ctypes.c_void_p).value  # type: ignore[return-value]


class Native:
    """One machine's C side (module docstring)."""

    def __init__(self, machine: Machine, harts: int):
        lib = library()
        assert lib is not None, "Native needs the native library (native.enabled())"
        self.lib = lib
        self.machine = machine
        self.m = m = layout.MACHINE.ctype()
        self.harts = (layout.HART.ctype * harts)()
        self.pointer = ctypes.addressof(m)
        self.errors: list[BaseException] = []
        self._error_flag = ctypes.c_int32.in_dll(lib, "nm_error")
        m.emu_start = _address(uclib.uc_emu_start)
        m.emu_stop = _address(uclib.uc_emu_stop)
        m.vmem_translate = _address(uclib.uc_vmem_translate)
        m.ram = ram_pointer(machine.ram)
        m.ram_base = C.RAM_BASE
        m.ram_size = machine.ram_size
        m.nharts = harts
        m.turn = -1
        m.harts = ctypes.addressof(self.harts)
        if lib.nm_machine_init(self.pointer) != 0:
            raise MemoryError("the native layer could not allocate its tables")
        self._handlers: list = []
        self._keep = {
            "py_exception": _EXCEPTION(self._guard(self._exception)),
            "py_trap": _TRAP(self._guard(self._trap)),
            "py_step": _STEP(self._guard(self._step)),
            "py_fault": _FAULT(self._guard(self._fault)),
            "py_atomic": _ATOMIC(self._guard(self._atomic)),
            "py_drain": _DRAIN(self._guard(self._drain)),
            "py_probe_entry": _PROBE_ENTRY(self._guard(self._probe_entry)),
            "py_probe_return": _PROBE_RETURN(self._guard(self._probe_return)),
            "py_accesses": _ACCESSES(self._guard(self._take_accesses)),
        }
        for name, fn in self._keep.items():
            setattr(m, name, _address(fn))
        self._arrays: list = []  # C tables Python allocated: alive as long as the machine
        self._probe_specs: list = []
        self._python_entries: list = []  # ACT_PYTHON's argument -> the entry callback
        self._handles: dict[int, object] = {}  # an ACT_PYTHON call in progress -> its data
        self._next_handle = 1
        self._records = None
        self.monitor_slots: list[int] = []  # the site of each of the monitor's slots

    def close(self) -> None:
        if self.m.sites:
            self.lib.nm_machine_free(self.pointer)

    # ---- set up ------------------------------------------------------------------------------

    def install(self, replaced: dict[int, int]) -> None:
        """The machine's sites and what its hooks ask for (after the harts exist)."""
        machine, lib, m = self.machine, self.lib, self.m
        hooks = machine.hooks
        for address, word in replaced.items():
            if address in hooks.sync_sites:
                kind = SITE_SYNC
            elif is_lrsc(word):
                kind = SITE_LRSC
            elif is_amo(word):
                kind = SITE_AMO
            else:
                kind = SITE_FENCE
            slot = -1
            if hooks.count_atomics and kind != SITE_SYNC:
                slot = len(self.monitor_slots)
                self.monitor_slots.append(address)
            self._add_site(address, word, kind, slot, length_of(word))
        native = self._install_probes(hooks.probes) if hooks.probes is not None else set()
        for address, trap in hooks.traps.items():
            if address in native:
                continue
            index = len(self._handlers)
            self._handlers.append(trap.handler)
            self._add_site(address, 0, SITE_PYTHON, index, trap.length)
        if hooks.count_atomics:
            if lib.nm_monitor_init(self.pointer, len(self.monitor_slots)) != 0:
                raise MemoryError("the native layer could not allocate its tables")
            stats = self.site_stats()
            for slot, address in enumerate(self.monitor_slots):
                stats[slot].pc = address
        costs = hooks.atomic_costs
        if hooks.charge is not None and costs is None:
            raise RuntimeError("on the native layer, Hooks.charge needs Hooks.atomic_costs")
        if costs is not None:
            m.cost_atomic, m.cost_transfer, m.cost_fence = (
                costs.atomic,
                costs.line_transfer,
                costs.fence,
            )
            m.line_shift = costs.line_bytes.bit_length() - 1
            if lib.nm_timing_init(self.pointer) != 0:
                raise MemoryError("the native layer could not allocate its tables")
        if hooks.coherence is not None:
            if costs is None:
                raise RuntimeError("on the native layer, Hooks.coherence needs Hooks.atomic_costs")
            c = hooks.coherence
            m.cost_miss, m.cost_upgrade = c.miss, c.upgrade
            m.l1_sets, m.l1_ways, m.serialize_lines = c.l1_sets, c.l1_ways, int(c.serialize_lines)
            if lib.nm_coherence_init(self.pointer) != 0:
                raise MemoryError("the native layer could not allocate its tables")
            if hooks.cache_map is not None:
                self._install_cache_map(hooks.cache_map)
        m.step_mode = STEP_PYTHON if hooks.step is not None else STEP_NONE
        self.refresh()

    def _install_cache_map(self, cmap) -> None:
        """Cache attribution's tables (hooks.CacheMap): C counts, Python reads after the run."""
        m = self.m
        nops, nstructs = len(cmap.ops), len(cmap.structures)
        self.attr_counts = (ctypes.c_int64 * (nops * nstructs * layout.ATTR_FIELDS))()
        self.attr_calls = (ctypes.c_int64 * nops)()
        api_ops = (ctypes.c_int32 * max(1, len(cmap.api_ops)))(*cmap.api_ops)
        self._arrays.append(api_ops)
        m.nops, m.nstructs = nops, nstructs
        m.api_ops = ctypes.addressof(api_ops) if cmap.api_ops else None
        m.attr_counts = ctypes.addressof(self.attr_counts)
        m.attr_calls = ctypes.addressof(self.attr_calls)
        m.segmented_struct, m.segment_header_struct = cmap.segmented, cmap.segment_header_struct
        m.segment_mask = max(cmap.segment_size - 1, 0)
        m.segment_header = cmap.segment_header

        def publish() -> None:
            n = len(cmap.ranges)
            starts = (ctypes.c_uint64 * max(1, n))(*(r[0] for r in cmap.ranges))
            ends = (ctypes.c_uint64 * max(1, n))(*(r[1] for r in cmap.ranges))
            structs = (ctypes.c_int32 * max(1, n))(*(r[2] for r in cmap.ranges))
            self._ranges = (starts, ends, structs)  # alive as long as C reads them
            m.range_starts, m.range_ends = ctypes.addressof(starts), ctypes.addressof(ends)
            m.range_structs, m.nranges = ctypes.addressof(structs), n
            for hart in self.harts:  # their last range may be another one now
                hart.last_range = -1

        publish()
        cmap.on_change(publish)
        m.attribution = 1

    def _install_probes(self, spec) -> set[int]:
        """Function probes in C (probes.c); returns the trap addresses they cover."""
        m = self.m
        covered = {spec.trampoline}
        apis = (layout.API.ctype * max(1, len(spec.apis)))()
        for c, a in zip(apis, spec.apis, strict=False):
            c.nargs, c.syscall, c.out, c.layer = a.nargs, a.syscall, a.out, a.layer
            c.fail_at, c.fail_value = a.fail_at, a.fail_value
            c.now_entry, c.now_return = a.now_entry, a.now_return
        probes = (layout.PROBE.ctype * max(1, len(spec.probes)))()
        for index, (c, p) in enumerate(zip(probes, spec.probes, strict=False)):
            c.address, c.slot, c.word, c.length = p.address, p.slot, p.word, p.length
            c.has_return, c.nactions = p.has_return, len(p.actions)
            for k, (action, argument) in enumerate(p.actions):
                if action == layout.ACT_PYTHON:
                    self._python_entries.append(p.python_entries[argument])
                    argument = len(self._python_entries) - 1
                c.action[k], c.argument[k] = action, argument
            self._add_site(p.address, p.word, SITE_PROBE, index, p.length)
            covered.add(p.address)
            if p.slot:
                self._add_site(p.slot + p.length, 0, SITE_SLOT_EXIT, index, 4)
                covered.add(p.slot + p.length)
        self._add_site(spec.trampoline, 0, SITE_TRAMPOLINE, -1, 4)
        records = (layout.CALL_RECORD.ctype * RECORDS)()
        self._arrays += [apis, probes, records]
        self._probe_specs = spec.probes
        self._records = spec.drain
        m.apis, m.napis = ctypes.addressof(apis), len(spec.apis)
        m.probes, m.nprobes = ctypes.addressof(probes), len(spec.probes)
        m.trampoline = spec.trampoline
        m.records, m.record_capacity = ctypes.addressof(records), RECORDS
        m.sync_first_entry = spec.first_entry_now
        m.ecall_caller = spec.ecall_caller
        return covered

    # ---- the turn loop (src/turns.c) ---------------------------------------------------------

    def set_schedule(self, state: NativeSchedule) -> None:
        """The policy decides in C from now on, from `state`."""
        c = self._schedule = layout.SCHEDULE.ctype()
        c.kind = _SCHEDULES.index(state.kind) + layout.SCHEDULE_RR
        c.quantum, c.next = state.quantum, state.next
        if state.rng:
            c.mt[:] = state.rng[:624]
            c.mt_index = state.rng[624]
        self._turns = (ctypes.c_int64 * max(1, 2 * len(state.turns)))(
            *(v for turn in state.turns for v in turn)
        )
        c.turns, c.nturns, c.turn_index = (
            ctypes.addressof(self._turns),
            len(state.turns),
            state.index,
        )
        self._kind = state.kind

    def schedule(self) -> NativeSchedule:
        """The policy's state as C left it."""
        c = self._schedule
        rng = (*c.mt, c.mt_index) if self._kind == "random" else ()
        return NativeSchedule(self._kind, c.quantum, c.next, rng, index=c.turn_index)

    def loop(self, budget: int):
        """The turn loop's state for a run of at most `budget` instructions (layout.LOOP)."""
        loop = layout.LOOP.ctype()
        loop.budget, loop.max_turns = budget, TURNS
        if self.machine.hooks.turns is not None:
            self._turn_buffer = (ctypes.c_int64 * (2 * TURNS))()
            loop.turns = ctypes.addressof(self._turn_buffer)
        return loop

    def take_turns(self, loop, into: list[tuple[int, int]]) -> None:
        """The turns C's loop recorded since the last call, appended to `into`."""
        count = loop.nturns
        if count:
            flat = self._turn_buffer[: 2 * count]
            into.extend(zip(flat[0::2], flat[1::2], strict=True))
            loop.nturns = 0

    def run_turns(self, loop) -> int:
        """Turns in C until one needs Python (layout.LOOP: `loop.reason` says why)."""
        reason = self.lib.nm_run_turns(
            self.pointer, ctypes.byref(self._schedule), ctypes.byref(loop)
        )
        self.raise_pending()
        error = csrs.take_error()  # a CSR callback's, from any turn of the loop
        if error is not None:
            raise error
        return reason

    def _add_site(self, address: int, word: int, kind: int, index: int, length: int) -> None:
        if self.lib.nm_add_site(self.pointer, address, word, kind, index, length) < 0:
            raise MemoryError("the native layer could not allocate its tables")

    def drain(self) -> None:
        """Hand the traced calls recorded in C to the tracer (end of a turn, end of a run)."""
        if self.m.nrecords:
            self._drain(-1)
            self.raise_pending()

    def refresh(self) -> None:
        """What may have changed since construction: who listens to Atomic events."""
        self.m.atomic_events = int(self.machine.hooks.bus.wants(ev.Atomic))

    # ---- results -------------------------------------------------------------------------------

    def site_stats(self):
        """The contention monitor's counts per watched site (slot order: monitor_slots)."""
        count = self.m.nsite_stats
        return (layout.SITE_STATS.ctype * count).from_address(self.m.site_stats) if count else []

    def locks(self):
        """The locks the monitor found or was told about."""
        count = self.m.nlocks
        return (layout.LOCK.ctype * count).from_address(self.m.lock_table) if count else []

    # ---- callbacks -----------------------------------------------------------------------------

    def _guard(self, fn):
        def call(hart, *args):
            try:
                return fn(hart, *args)
            except BaseException as e:  # never into C: raised when C returns (raise_pending)
                self.errors.append(e)
                self._error_flag.value = 1
                self.machine.harts[hart].uc.emu_stop()
                return 0

        return call

    def raise_pending(self) -> None:
        """Raise the first exception a callback kept, if any."""
        if self.errors:
            error = self.errors[0]
            self.errors.clear()
            self._error_flag.value = 0
            raise error

    def _exception(self, hart: int, intno: int) -> None:
        h = self.machine.harts[hart]
        h._on_intr(h.uc, intno, None)

    def _trap(self, hart: int, index: int, epc: int) -> None:
        self._handlers[index](self.machine.harts[hart], epc)

    def _step(self, hart: int, epc: int) -> int:
        return 1 if self.machine.hooks.step(self.machine.harts[hart], epc) else 0  # type: ignore[misc]

    def _fault(self, hart: int, pc: int, what: bytes) -> None:
        self.machine.harts[hart].fault(pc, what.decode())

    def _drain(self, hart: int) -> None:
        m = self.m
        count = m.nrecords
        data = ctypes.string_at(m.records, count * _RECORD.size)
        m.nrecords = 0
        if self._records is not None:
            self._records(list(_RECORD.iter_unpack(data)))

    def _take_accesses(self, hart: int) -> None:
        self.machine.harts[hart].take_accesses()

    def _probe_entry(self, hart: int, index: int) -> int:
        data = self._python_entries[index](self.machine.harts[hart])
        if data is None:
            return 0
        if data is SKIP:
            return -1
        handle = self._next_handle
        self._next_handle += 1
        self._handles[handle] = data
        return handle

    def _probe_return(self, hart: int, probe: int, handle: int, return_address: int) -> None:
        data = self._handles.pop(handle)
        back = self._probe_specs[probe].python_return
        back(self.machine.harts[hart], return_address, data)

    def _atomic(
        self, hart, instret, pc, kind, funct5, width, address, old, value, ok
    ) -> None:  # fmt: skip
        name = ATOMIC_KINDS[kind]
        if name == "amo":
            op = AMO_OPS[funct5]
        elif name == "fence":
            op = "fence"
        else:
            op = f"{name}.{'d' if width == 8 else 'w'}"
        self.machine.bus.emit(
            ev.Atomic(hart, instret, pc, name, op, width, address, old, value, bool(ok))
        )


def _field(name: str) -> property:
    return property(
        lambda self: getattr(self._n, name), lambda self, value: setattr(self._n, name, value)
    )


class NativeHart(Hart):
    """A Hart whose state is its nm_hart and whose traps go to C first (module docstring)."""

    instret = _field("instret")
    clock = _field("clock")
    loads_reserved = _field("loads_reserved")
    sc_successes = _field("sc_successes")
    sc_failures = _field("sc_failures")
    reservations_dropped = _field("reservations_dropped")
    resume_at = _field("resume_at")
    stall_left = _field("stall_left")
    pc = _field("next_pc")
    _levels = _field("levels")

    @property
    def state(self) -> HartState:
        return HartState(self._n.state)

    @state.setter
    def state(self, value: HartState) -> None:
        self._n.state = int(value)

    @property
    def timer_at(self) -> int:
        value = self._n.timer_at
        return NEVER if value == INT64_MAX else value

    @timer_at.setter
    def timer_at(self, value: int) -> None:
        # a deadline past int64 (NEVER, a far mtimecmp) is never reached by a clock
        self._n.timer_at = min(value, INT64_MAX)

    @property
    def reservation(self) -> int | None:
        value = self._n.reservation
        return None if value < 0 else value

    @reservation.setter
    def reservation(self, value: int | None) -> None:
        self._n.reservation = -1 if value is None else value

    @property
    def _ended(self) -> str:
        return _ENDED[self._n.ended]

    @_ended.setter
    def _ended(self, value: str) -> None:
        self._n.ended = _ENDED.index(value)

    @property
    def _at_wfi(self) -> bool:
        return bool(self._n.at_wfi)

    @_at_wfi.setter
    def _at_wfi(self, value: bool) -> None:
        self._n.at_wfi = int(value)

    @property
    def _running(self) -> bool:
        return bool(self._n.running)

    @_running.setter
    def _running(self, value: bool) -> None:
        self._n.running = int(value)

    def __init__(
        self, host: HartHost, hart_id: int, entry: int, boot_args: tuple[int, ...], native: Native
    ):
        self._native = native
        self._n = n = native.harts[hart_id]
        self._pointer = ctypes.addressof(n)
        n.m = native.pointer
        n.id = hart_id
        super().__init__(host, hart_id, entry, boot_args)
        n.uc = self._handle.value
        n.gpr = self.cpu.address_of("gpr")
        n.pc = self.cpu.address_of("pc")
        n.priv = self.cpu.address_of("priv")
        n.satp = self.cpu.address_of("satp")
        n.mepc = self.cpu.address_of("mepc")
        n.counter = ctypes.addressof(self._counter)

    def _hook_traps(self, uc: Uc) -> None:
        self._add_hook(uc, UC_HOOK_INTR, "nm_on_intr", 1, 0)

    def _add_hook(self, uc: Uc, kind: int, function: str, begin: int, end: int) -> None:
        """Register the library's `function` with unicorn's C API (no Python per event)."""
        hook = ctypes.c_size_t()
        status = uclib.uc_hook_add(
            uc._uch,
            ctypes.byref(hook),
            kind,
            _address(getattr(self._native.lib, function)),
            ctypes.c_void_p(self._pointer),
            ctypes.c_uint64(begin),
            ctypes.c_uint64(end),
        )
        if status != 0:
            raise UcError(status)

    def _hook_memory_log(self, uc: Uc, begin: int, end: int) -> None:
        n = self._n
        self._access_buffer = buffer = (layout.ACCESS.ctype * ACCESSES)()
        n.accesses, n.access_capacity = ctypes.addressof(buffer), ACCESSES
        self._add_hook(uc, UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, "nm_on_memory", begin, end)

    def _hook_access(self, uc: Uc, begin: int, end: int) -> None:
        self._add_hook(uc, UC_HOOK_MEM_READ | UC_HOOK_MEM_WRITE, "nm_on_access", begin, end)

    @property
    def loads(self) -> int:
        return self._n.loads

    @loads.setter
    def loads(self, value: int) -> None:
        self._n.loads = value

    @property
    def stores(self) -> int:
        return self._n.stores

    @stores.setter
    def stores(self, value: int) -> None:
        self._n.stores = value

    def take_accesses(self) -> None:
        n = self._n
        count = n.naccesses
        if not count:
            return
        n.naccesses = 0
        if self._log.take is not None:  # type: ignore[union-attr]
            data = ctypes.string_at(n.accesses, count * _ACCESS.size)
            self._log.take(self.id, list(_ACCESS.iter_unpack(data)))  # type: ignore[union-attr]

    def run(self, quantum: int) -> int:
        return self.after_run(self._native.lib.nm_hart_run(self._pointer, quantum))

    def after_run(self, retired: int) -> int:
        """What follows a turn C ran (here or in the turn loop): errors, faults, sleep."""
        self._native.raise_pending()
        if self.uc._hook_exception is not None:  # a Python hook of the binding's (MMIO) raised
            raise self.uc._hook_exception
        if self._n.error:
            self._report(UcError(self._n.error))
        error = csrs.take_error()
        if error is not None:
            raise error
        if self._n.at_wfi:
            self.host.sleep(self, self.pc - 4)
        return retired
