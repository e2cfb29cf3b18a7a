"""The CSRs the machine serves itself, through unicorn's CSR table (QEMU's csr_ops, exported by
the library: cpu.py), where unicorn's own are wrong or missing:

  counters   cycle/mcycle (the hart's virtual clock), instret/minstret (exact retired
             instructions), time (the hart's mtime): writable where the spec says, frozen by
             mcountinhibit, and mcounteren/scounteren honoured (a read from S or U mode whose
             bit is clear is an illegal instruction). Unicorn serves the host's TSC for
             these and never checks the enable bits.
  missing    menvcfg, senvcfg, mcountinhibit, mconfigptr, and the trigger CSRs tselect,
             tdata1-3, tinfo (two address-match triggers, as QEMU 7.2 virt reports them)
  mstatus    TW and TSR at bits 21/22, where the spec puts them (unicorn keeps them at 29/30);
             sstatus.UXL reads 2 on RV64 as mstatus.UXL does
  mie...     the interrupt priority order: unicorn takes the lowest-numbered pending and
             enabled interrupt, the spec MEI > MSI > MTI > SEI > SSI > STI, interrupts for M
             before those delegated to S. The machine keeps the guest's mie here and shows
             unicorn only the one interrupt that must be taken next (`HartCsrs.refilter`);
             mie, sie, mip, sip and mideleg reads and writes see the guest's value.
  PMP        pmpcfg1/3/... do not exist on RV64; a PMP write flushes the TLB, since unicorn
             checks PMP only when it fills a TLB entry

The table is one per process, shared by every unicorn instance: a callback finds its hart by
the CPU state's address, and an instance no machine owns (a bare Uc) gets unicorn's own
behaviour. A callback must not raise into unicorn: an error is kept and re-raised by the hart
when its emu_start returns (`take_error`).
"""

from __future__ import annotations

import ctypes
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from emulator.machine.cpu import OP, PRED, READ, WRITE, CpuState, Ops, csr_table
from emulator.machine.isa import MASK64

if TYPE_CHECKING:
    from emulator.machine.hart import Hart

# CSR numbers
CYCLE, TIME, INSTRET = 0xC00, 0xC01, 0xC02
MCYCLE, MINSTRET = 0xB00, 0xB02
MSTATUS, SSTATUS, MIE, SIE, MIP, SIP, MIDELEG = 0x300, 0x100, 0x304, 0x104, 0x344, 0x144, 0x303
MENVCFG, SENVCFG, MCOUNTINHIBIT, MCONFIGPTR = 0x30A, 0x10A, 0x320, 0xF15
TSELECT, TDATA1, TDATA2, TDATA3, TINFO = 0x7A0, 0x7A1, 0x7A2, 0x7A3, 0x7A4
PMPCFG0, PMPADDR0 = 0x3A0, 0x3B0

# mstatus bits unicorn keeps elsewhere: spec bit -> unicorn bit
_MOVED = {21: 29, 22: 30}  # TW, TSR
_UXL2 = 2 << 32
S_INTERRUPTS = 0x222  # SSIP, STIP, SEIP
ENVCFG_MASK = 0xF1  # FIOM, CBIE, CBCFE, CBZE
INHIBIT_MASK = 0x5  # CY, IR (the hpm counters read zero)
TRIGGERS = 2
TDATA1_TYPE2 = 2 << 60  # an address/data match trigger (mcontrol)
# mcontrol's execute, store and load bits (2, 1, 0) read 0: a trigger is there, as on QEMU 7.2,
# but never matches, which the spec allows; software that checks (riscv-tests' breakpoint test,
# debuggers) sees that triggers cannot be armed.
TDATA1_WRITABLE = ((1 << 59) - 1) & ~0x7
TINFO_TYPES = 0x44  # types 2 and 6 supported, as QEMU 7.2 answers
# The spec's priority among simultaneously pending interrupts (MEI MSI MTI SEI SSI STI, then
# the virtual-supervisor ones, which never occur here).
PRIORITY = (11, 3, 7, 9, 1, 5, 10, 2, 6)

# CPU state address -> its hart's CSRs (an entry goes with its hart)
_harts: weakref.WeakValueDictionary[int, HartCsrs] = weakref.WeakValueDictionary()
_errors: list[BaseException] = []
_original: dict[int, Ops] = {}
_keep: list = []  # the ctypes callbacks, alive for the process


def take_error() -> BaseException | None:
    """An exception a CSR callback raised since the last call (the callback returned
    "illegal" to unicorn instead)."""
    return _errors.pop() if _errors else None


def _call(kind, address: int):
    return kind(address) if address else None


class HartCsrs:
    """The state behind the CSRs one hart's machine serves."""

    def __init__(self, hart: Hart, cpu: CpuState):
        self.hart: Hart = weakref.proxy(hart)  # type: ignore[assignment]
        self.cpu = cpu
        self.mie = cpu.mie.value  # the guest's mie (unicorn's is the filtered view)
        self.cycle_offset = 0  # mcycle - the hart's virtual clock
        self.instret_offset = 0  # minstret - retired instructions
        self.inhibit = 0
        self.frozen = {0: 0, 2: 0}  # counter bit -> its value when it was inhibited
        self.menvcfg = 0
        self.senvcfg = 0
        self.tselect = 0
        self.tdata1 = [TDATA1_TYPE2] * TRIGGERS
        self.tdata2 = [0] * TRIGGERS
        cpu.mstatus.value |= _UXL2 | _UXL2 << 2  # UXL = SXL = 2: XLEN 64 in every mode
        _install()
        self.pmp = Pmp(cpu)
        _harts[cpu.env] = self

    def close(self) -> None:
        _harts.pop(self.cpu.env, None)

    # ---- the interrupt priority filter -------------------------------------------------------

    def refilter(self) -> None:
        """Show unicorn (its mie) only the interrupt the spec says goes first: among the pending
        ones the guest enabled, those for M beat those delegated to S, and within each group the
        PRIORITY order. With none pending unicorn sees the guest's mie."""
        cpu = self.cpu
        pending = cpu.mip.value & self.mie
        if not pending:
            cpu.mie.value = self.mie
            return
        delegated = cpu.mideleg.value
        group = pending & ~delegated or pending & delegated
        for irq in PRIORITY:
            if group >> irq & 1:
                cpu.mie.value = 1 << irq
                return
        cpu.mie.value = self.mie  # a pending bit outside PRIORITY: leave it to unicorn

    def pending_enabled(self) -> int:
        """mip bits that are pending and enabled in the guest's mie (what wakes a wfi)."""
        return self.cpu.mip.value & self.mie

    # ---- counters ---------------------------------------------------------------------------

    def _live(self, bit: int) -> int:
        hart = self.hart
        if bit == 0:
            return hart.clock_now() + self.cycle_offset
        return hart.now() + self.instret_offset

    def counter(self, bit: int) -> int:
        """mcycle (bit 0) or minstret (bit 2) as an instruction executing now reads it."""
        return self.frozen[bit] if self.inhibit >> bit & 1 else self._live(bit)

    def set_counter(self, bit: int, value: int) -> None:
        """A CSR write: the next instruction reads `value` (the write replaces the increment)."""
        if self.inhibit >> bit & 1:
            self.frozen[bit] = value
        elif bit == 0:
            self.cycle_offset = value - (self.hart.clock_now() + 1)
        else:
            self.instret_offset = value - (self.hart.now() + 1)

    def set_inhibit(self, value: int) -> None:
        value &= INHIBIT_MASK
        for bit in (0, 2):
            was, now = self.inhibit >> bit & 1, value >> bit & 1
            if now and not was:
                self.frozen[bit] = self._live(bit)
            elif was and not now:
                self.inhibit &= ~(1 << bit)
                self.set_counter(bit, self.frozen[bit])
        self.inhibit = value


# ---- callbacks ----------------------------------------------------------------------------------


def _guarded(fn: Callable) -> Callable:
    def call(*args):
        try:
            return fn(*args)
        except BaseException as e:  # never into unicorn: the hart re-raises it
            _errors.append(e)
            return -1

    return call


def _counter_allowed(h: HartCsrs, csrno: int) -> int:
    priv = h.cpu.priv.value
    bit = 1 << (csrno & 31)
    if priv < 3 and not h.cpu.mcounteren.value & bit:
        return -1
    if priv < 1 and not h.cpu.scounteren.value & bit:
        return -1
    return 0


def _read_counter(h: HartCsrs, csrno: int) -> int:
    low = csrno & 31
    if low == 1:
        return h.hart.host.mtime(h.hart.id)
    if low in (0, 2):
        return h.counter(low)
    return 0  # hpmcounter3..31: no events are counted


def _mstatus_to_guest(value: int) -> int:
    for spec, moved in _MOVED.items():
        value = value & ~(1 << moved) | (value >> moved & 1) << spec
    return value


def _mstatus_from_guest(value: int) -> int:
    for spec, moved in _MOVED.items():
        value = value & ~(1 << spec) & ~(1 << moved) | (value >> spec & 1) << moved
    return value


def _own(csrno: int, predicate=None, read=None, write=None, op=None) -> None:
    """Serve CSR `csrno` with the given Python functions (None: no such accessor)."""
    ops = Ops()
    for name, fn, kind in (("predicate", predicate, PRED), ("read", read, READ),
                           ("write", write, WRITE), ("op", op, OP)):  # fmt: skip
        if fn is not None:
            cb = kind(_guarded(fn))
            _keep.append(cb)
            setattr(ops, name, ctypes.cast(cb, ctypes.c_void_p))
    _set_ops(csrno, ctypes.byref(ops))


def _wrap(csrno: int, predicate=None, read=None, write=None, op=None) -> None:
    """Serve CSR `csrno` by wrapping unicorn's own accessors: each given function gets the
    hart (or None for an instance no machine owns) and unicorn's accessor, and is used in place
    of it; accessors not given stay unicorn's."""
    old = Ops()
    _get_ops(csrno, ctypes.byref(old))
    _original[csrno] = old
    orig = {
        "predicate": _call(PRED, old.predicate),
        "read": _call(READ, old.read),
        "write": _call(WRITE, old.write),
        "op": _call(OP, old.op),
    }
    mine = {"predicate": predicate, "read": read, "write": write, "op": op}
    wrapped = {}
    for name, fn in mine.items():
        if fn is None:
            wrapped[name] = None
            continue
        inner = orig[name]

        def call(env, *args, fn=fn, inner=inner):
            return fn(_harts.get(env), inner, env, *args)

        wrapped[name] = call
    ops = Ops()
    for name, kind in (("predicate", PRED), ("read", READ), ("write", WRITE), ("op", OP)):
        if wrapped[name] is not None:
            cb = kind(_guarded(wrapped[name]))
            _keep.append(cb)
            setattr(ops, name, ctypes.cast(cb, ctypes.c_void_p))
        else:
            setattr(ops, name, getattr(old, name))
    _set_ops(csrno, ctypes.byref(ops))


def _with_guest_mie(h: HartCsrs | None, inner, env, *args) -> int:
    """Run unicorn's accessor of mie, sie, mip, sip or mideleg on the guest's mie, then filter
    again."""
    if h is None:
        return inner(env, *args)
    h.cpu.mie.value = h.mie
    try:
        return inner(env, *args)
    finally:
        h.mie = h.cpu.mie.value
        h.refilter()


_installed = False


def _get_ops(csrno: int, ops) -> None:
    csr_table()[0](csrno, ops)


def _set_ops(csrno: int, ops) -> None:
    csr_table()[1](csrno, ops)


def _install() -> None:
    global _installed
    if _installed:
        return

    def known(fn):
        """An accessor for a CSR of our own: illegal on instances no machine owns."""

        def call(env, *args):
            h = _harts.get(env)
            return -1 if h is None else fn(h, *args)

        return call

    # counters: user (0xC00..) and machine (0xB00, 0xB02) views; time has no accessor in
    # unicorn (it never sets rdtime_fn): on an instance no machine owns it stays illegal
    def counter_predicate(h, inner, env, csrno) -> int:
        if h is None:
            return inner(env, csrno) if inner else -1
        return _counter_allowed(h, csrno)

    def counter_read(h, inner, env, csrno, out) -> int:
        if h is None:
            return inner(env, csrno, out) if inner else -1
        out[0] = _read_counter(h, csrno)
        return 0

    def machine_counter_read(h, inner, env, csrno, out) -> int:
        if h is None:
            return inner(env, csrno, out)
        out[0] = h.counter(csrno & 31)
        return 0

    def machine_counter_write(h, inner, env, csrno, value) -> int:
        if h is None:
            return inner(env, csrno, value) if inner else 0
        h.set_counter(csrno & 31, value)
        return 0

    def anyone(h: HartCsrs, csrno: int) -> int:
        return 0

    for csrno in range(CYCLE, CYCLE + 32):
        _wrap(csrno, predicate=counter_predicate, read=counter_read)
    for csrno in (MCYCLE, MINSTRET):
        _wrap(csrno, read=machine_counter_read, write=machine_counter_write)

    def stored(name: str, mask: int) -> tuple[Callable, Callable]:
        def read(h: HartCsrs, csrno: int, out) -> int:
            out[0] = getattr(h, name)
            return 0

        def write(h: HartCsrs, csrno: int, value: int) -> int:
            setattr(h, name, value & mask)
            return 0

        return known(read), known(write)

    def inhibit_write(h: HartCsrs, csrno: int, value: int) -> int:
        h.set_inhibit(value)
        return 0

    read_inhibit, _ = stored("inhibit", INHIBIT_MASK)
    _own(MCOUNTINHIBIT, known(anyone), read_inhibit, known(inhibit_write))
    _own(MENVCFG, known(anyone), *stored("menvcfg", ENVCFG_MASK))
    _own(SENVCFG, known(anyone), *stored("senvcfg", ENVCFG_MASK))

    def zero(h: HartCsrs, csrno: int, out) -> int:
        out[0] = 0
        return 0

    _own(MCONFIGPTR, known(anyone), known(zero))

    # triggers
    def tselect_write(h: HartCsrs, csrno: int, value: int) -> int:
        if value < TRIGGERS:
            h.tselect = value
        return 0

    def tdata_read(h: HartCsrs, csrno: int, out) -> int:
        out[0] = {TSELECT: h.tselect, TDATA1: h.tdata1[h.tselect], TDATA2: h.tdata2[h.tselect],
                  TDATA3: 0, TINFO: TINFO_TYPES}[csrno]  # fmt: skip
        return 0

    def tdata_write(h: HartCsrs, csrno: int, value: int) -> int:
        if csrno == TDATA1:
            h.tdata1[h.tselect] = TDATA1_TYPE2 | value & TDATA1_WRITABLE
        elif csrno == TDATA2:
            h.tdata2[h.tselect] = value
        return 0

    _own(TSELECT, known(anyone), known(tdata_read), known(tselect_write))
    for csrno in (TDATA1, TDATA2, TDATA3):
        _own(csrno, known(anyone), known(tdata_read), known(tdata_write))
    _own(TINFO, known(anyone), known(tdata_read))

    # mstatus and sstatus
    def mstatus_read(h, inner, env, csrno, out) -> int:
        ret = inner(env, csrno, out)
        if h is not None:
            out[0] = _mstatus_to_guest(out[0])
        return ret

    def mstatus_write(h, inner, env, csrno, value) -> int:
        return inner(env, csrno, value if h is None else _mstatus_from_guest(value))

    def sstatus_read(h, inner, env, csrno, out) -> int:
        ret = inner(env, csrno, out)
        if h is not None:
            out[0] |= _UXL2
        return ret

    _wrap(MSTATUS, read=mstatus_read, write=mstatus_write)
    _wrap(SSTATUS, read=sstatus_read)

    # the interrupt priority filter; sie writes reach only delegated interrupts (the spec:
    # the other bits of sie are read-only zero; unicorn writes every S-level bit)
    def sie_write(h, inner, env, csrno, value) -> int:
        if h is None:
            return inner(env, csrno, value)
        writable = S_INTERRUPTS & h.cpu.mideleg.value
        h.mie = h.mie & ~writable | value & writable
        h.refilter()
        return 0

    for csrno in (MIE, MIDELEG):
        _wrap(csrno, read=_with_guest_mie, write=_with_guest_mie)
    _wrap(SIE, read=_with_guest_mie, write=sie_write)
    for csrno in (MIP, SIP):
        _wrap(csrno, op=_with_guest_mie)

    # PMP (class Pmp)
    def rv32_only(h, inner, env, csrno) -> int:
        return -1 if h is not None and csrno & 1 else inner(env, csrno)

    def pmp_read(h, inner, env, csrno, out) -> int:
        if h is None:
            return inner(env, csrno, out)
        out[0] = h.pmp.read(csrno)
        return 0

    def pmp_write(h, inner, env, csrno, value) -> int:
        if h is None:
            return inner(env, csrno, value)
        h.pmp.write(csrno, value)
        return 0

    for csrno in range(PMPCFG0, PMPCFG0 + 4):
        _wrap(csrno, predicate=rv32_only, read=pmp_read, write=pmp_write)
    for csrno in range(PMPADDR0, PMPADDR0 + 16):
        _wrap(csrno, read=pmp_read, write=pmp_write)
    _installed = True


class Pmp:
    """PMP as the spec (and QEMU 7.2) has it. The guest's pmpcfg and pmpaddr registers live
    here and the machine writes unicorn's rule table from them (cpu.CpuState.set_pmp_rules),
    because unicorn's own CSRs get three things wrong:

    * On RV64, unicorn's pmpcfg2 never reaches entries 8-15.
    * With no entry active, unicorn lets S and U accesses through; the spec fails them. The rule
      table then gets a hidden entry over all memory with no permission (the guest never sees
      it; M-mode is not subject to an unlocked entry).
    * A write to pmpaddr(i) leaves the base of a TOR entry i+1 stale; here every rule is
      computed from the registers after each write.

    Unicorn checks PMP only when it fills a TLB entry: every PMP write flushes the TLB, and while
    an entry grants less than RWX the TLB is flushed at every trap entry too (Hart._exception), so
    each excursion into S or U mode checks each page's first access of each kind. Two kinds of
    access to one page within one excursion are still checked only at the first.
    """

    ENTRIES = 16
    ALL_MEMORY = MASK64  # a NAPOT pmpaddr spanning every address

    def __init__(self, cpu: CpuState):
        self.cpu = cpu
        self.cfg = [0] * self.ENTRIES
        self.addr = [0] * self.ENTRIES
        self.partial = False  # an active entry grants less than RWX
        self.sync()

    def read(self, csrno: int) -> int:
        if csrno >= PMPADDR0:
            return self.addr[csrno - PMPADDR0]
        first = 4 * (csrno - PMPCFG0)  # pmpcfg0: entries 0-7, pmpcfg2: 8-15
        return sum(self.cfg[first + k] << 8 * k for k in range(8))

    def _locked(self, i: int) -> bool:
        return bool(self.cfg[i] & 0x80)

    def write(self, csrno: int, value: int) -> None:
        if csrno >= PMPADDR0:
            i = csrno - PMPADDR0
            tor_above = i + 1 < self.ENTRIES and self.cfg[i + 1] & 0x98 == 0x88
            if not self._locked(i) and not tor_above:
                self.addr[i] = value & ((1 << 54) - 1)
        else:
            first = 4 * (csrno - PMPCFG0)
            for k in range(8):
                if not self._locked(first + k):
                    self.cfg[first + k] = value >> 8 * k & 0xFF
        self.sync()

    def _range(self, i: int) -> tuple[int, int]:
        """[first, last] address of entry i's rule (pmp.c's decoding)."""
        a, mode = self.addr[i], self.cfg[i] >> 3 & 3
        if mode == 1:  # TOR
            return (self.addr[i - 1] << 2 if i else 0), (a << 2) - 1 & MASK64
        if mode == 2:  # NA4
            return a << 2, (a << 2) + 3
        if mode == 3:  # NAPOT
            ones = (~a & -~a).bit_length() - 1  # trailing ones of a
            base = (a & ~((1 << ones) - 1)) << 2
            return base, base + (1 << (ones + 3)) - 1
        return 0, MASK64

    def sync(self) -> None:
        """Write unicorn's rules from the registers; flush the TLB."""
        rules = [(self.addr[i], self.cfg[i], *self._range(i)) for i in range(self.ENTRIES)]
        active = [c for c in self.cfg if c & 0x18]
        self.partial = any(c & 7 != 7 for c in active)
        if not active:  # deny S and U everything: a hidden entry no guest register shows
            rules[0] = (self.ALL_MEMORY, 0x18, 0, MASK64)
            self.partial = True
        self.cpu.set_pmp_rules(rules)
        self.cpu.flush_tlb()
