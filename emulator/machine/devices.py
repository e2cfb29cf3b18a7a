"""Memory-mapped devices of the QEMU virt machine: the 16550 UART, the PLIC, the CLINT and the
sifive,test finisher.

A device is a small class with read/write at an offset; the machine maps each one into every
hart's unicorn instance and tells it which hart made the access. Devices hold no reference to
the machine: what they cause (output, exit, an IPI, a new timer deadline, an interrupt line's
level) goes out through the callbacks they were built with.
"""

from __future__ import annotations

from collections.abc import Callable

from guest.contract import C

ALL_ONES = (1 << 64) - 1


def _ignore(*_: object) -> None:
    pass


# 16550 registers (offsets with LCR.DLAB = 0; with DLAB = 1, 0 and 1 are the divisor latch) and
# bits. THR and LSR, which the bundled guests use, come from the contract.
UART_RBR, UART_IER, UART_IIR, UART_FCR, UART_LCR, UART_MCR, UART_MSR, UART_SCR = (
    0,
    1,
    2,
    2,
    3,
    4,
    6,
    7,
)
IER_RDI, IER_THRI, IER_RLSI = 0x01, 0x02, 0x04
IIR_NO_INT, IIR_THRI, IIR_RDI, IIR_RLSI, IIR_ID, IIR_FIFO = 0x01, 0x02, 0x04, 0x06, 0x0E, 0xC0
FCR_ENABLE, FCR_CLEAR_RX, FCR_CLEAR_TX = 0x01, 0x02, 0x04
LCR_DLAB = 0x80
MCR_DTR, MCR_RTS, MCR_OUT2, MCR_LOOP = 0x01, 0x02, 0x08, 0x10
LSR_DR, LSR_OE, LSR_BI = 0x01, 0x02, 0x10
LSR_ERRORS = 0x1E  # overrun, parity, framing, break
MSR_CTS, MSR_DSR, MSR_DCD = 0x10, 0x20, 0x80


class Device:
    name = "device"
    base = 0
    size = 0

    def read(self, hart: int, offset: int, size: int) -> int:
        return 0

    def write(self, hart: int, offset: int, size: int, value: int) -> None:
        pass


class Uart(Device):
    """A 16550A as QEMU virt has it (hw/char/serial.c), complete enough for OpenSBI's and Linux's
    8250 drivers: every register (RBR/THR, IER, IIR/FCR, LCR with DLAB and the divisor latch,
    MCR, LSR, MSR, SCR), loopback, and the interrupt through `irq` (PLIC source UART_IRQ).

    Transmission takes no time: a byte written to THR goes to `output` at once, so THRE and TEMT
    are set again by the time the guest looks, and with IER.ETBEI the THR-empty interrupt is
    pending again right after each write (QEMU does the same when its console keeps up). Nothing
    is ever received from outside: RX is ready only in loopback, where THR feeds RBR. The modem
    lines read as QEMU's with no flow control (CTS, DSR, DCD set); the divisor and line settings
    are kept for reading back and change nothing.
    """

    name = "uart"
    base = C.UART_BASE
    size = C.UART_SIZE

    def __init__(self, output: Callable[[int, int], None], irq: Callable[[bool], None] = _ignore):
        self._output = output  # (hart, byte)
        self._irq = irq  # the interrupt line's new level
        self.rbr = 0  # the one byte received (loopback only)
        self.ier = 0
        self.iir = IIR_NO_INT
        self.fcr = 0
        self.lcr = 0
        self.mcr = MCR_OUT2
        self.lsr = C.UART_LSR_THRE | C.UART_LSR_TEMT
        self.msr = MSR_CTS | MSR_DSR | MSR_DCD
        self.scr = 0
        self.divisor = 12  # 9600 baud from 1.8432 MHz, the reset value QEMU picks
        self.thr_pending = False  # the THR-empty interrupt is pending (cleared by reading IIR)
        self.level = False

    def read(self, hart: int, offset: int, size: int) -> int:
        dlab = self.lcr & LCR_DLAB
        if offset == C.UART_LSR:  # first: the polled console loop reads it for every byte
            value = self.lsr
            if value & (LSR_OE | LSR_BI):
                self.lsr &= ~(LSR_OE | LSR_BI)
                self._update()
            return value
        if offset == UART_RBR:
            if dlab:
                return self.divisor & 0xFF
            self.lsr &= ~(LSR_DR | LSR_BI)
            self._update()
            return self.rbr
        if offset == UART_IER:
            return self.divisor >> 8 if dlab else self.ier
        if offset == UART_IIR:
            value = self.iir
            if value & IIR_ID == IIR_THRI:  # reading IIR acknowledges the THR-empty interrupt
                self.thr_pending = False
                self._update()
            return value
        if offset == UART_LCR:
            return self.lcr
        if offset == UART_MCR:
            return self.mcr
        if offset == UART_MSR:
            if self.mcr & MCR_LOOP:  # the modem outputs come back on the inputs
                m = self.mcr
                return (m & 0x0C) << 4 | (m & MCR_RTS) << 3 | (m & MCR_DTR) << 5
            return self.msr
        if offset == UART_SCR:
            return self.scr
        return 0

    def write(self, hart: int, offset: int, size: int, value: int) -> None:
        value &= 0xFF
        dlab = self.lcr & LCR_DLAB
        if offset == C.UART_THR:
            if dlab:
                self.divisor = (self.divisor & 0xFF00) | value
                return
            if self.mcr & MCR_LOOP:
                if self.lsr & LSR_DR:
                    self.lsr |= LSR_OE
                self.rbr = value
                self.lsr |= LSR_DR
            else:
                self._output(hart, value)
            # sent at once: THR is empty again, and so its interrupt is pending again
            self.lsr |= C.UART_LSR_THRE | C.UART_LSR_TEMT
            self.thr_pending = True
            self._update()
        elif offset == UART_IER:
            if dlab:
                self.divisor = (self.divisor & 0xFF) | value << 8
                return
            changed = (self.ier ^ value) & 0x0F
            self.ier = value & 0x0F
            if changed & IER_THRI:
                # enabling it with THR empty makes the interrupt pending, even if an IIR read
                # had acknowledged it before (QEMU and Bochs do this; Windows relies on it)
                self.thr_pending = bool(self.ier & IER_THRI and self.lsr & C.UART_LSR_THRE)
            if changed:
                self._update()
        elif offset == UART_FCR:
            self._write_fcr(value)
        elif offset == UART_LCR:
            self.lcr = value
        elif offset == UART_MCR:
            self.mcr = value & 0x1F
        elif offset == UART_SCR:
            self.scr = value
        # LSR and MSR are read-only

    def _write_fcr(self, value: int) -> None:
        if value == self.fcr:
            return
        if (value ^ self.fcr) & FCR_ENABLE:  # switching the FIFOs on or off flushes both
            value |= FCR_CLEAR_RX | FCR_CLEAR_TX
        if value & FCR_CLEAR_RX:
            self.lsr &= ~(LSR_DR | LSR_BI)
        if value & FCR_CLEAR_TX:
            self.lsr |= C.UART_LSR_THRE
            self.thr_pending = True
        self.fcr = value & 0xC9  # the clear bits do not stick
        self.iir = (self.iir & 0x0F) | (IIR_FIFO if value & FCR_ENABLE else 0)
        self._update()

    def _update(self) -> None:
        """IIR and the interrupt line from what is pending, in the 16550's priority order."""
        ier, lsr = self.ier, self.lsr
        if ier & IER_RLSI and lsr & LSR_ERRORS:
            cause = IIR_RLSI
        elif ier & IER_RDI and lsr & LSR_DR:
            cause = IIR_RDI
        elif ier & IER_THRI and self.thr_pending:
            cause = IIR_THRI
        else:
            cause = IIR_NO_INT  # no modem-status deltas: the lines never change
        self.iir = (self.iir & 0xF0) | cause
        level = cause != IIR_NO_INT
        if level != self.level:
            self.level = level
            self._irq(level)


class TestFinisher(Device):
    """sifive,test0: PASS exits 0, (code << 16) | FAIL exits with code, RESET is refused."""

    __test__ = False  # not a pytest class, despite the name
    name = "test-finisher"
    base = C.FINISHER_BASE
    size = C.FINISHER_SIZE

    def __init__(self, finish: Callable[[int, int | None], None]):
        self._finish = finish  # (hart, exit code or None for a reset request)

    def write(self, hart: int, offset: int, size: int, value: int) -> None:
        if offset != 0:
            return
        kind = value & 0xFFFF
        if kind == C.FINISHER_PASS:
            self._finish(hart, 0)
        elif kind == C.FINISHER_FAIL:
            self._finish(hart, (value >> 16) & 0xFFFF)
        elif kind == C.FINISHER_RESET:
            self._finish(hart, None)


class Clint(Device):
    """msip (IPIs), mtimecmp and mtime; mtime is the reading hart's virtual time.

    mtimecmp starts at all ones (the privileged spec leaves it unset; QEMU uses 0), so a timer
    is never pending before the guest sets one.
    """

    name = "clint"
    base = C.CLINT_BASE
    size = C.CLINT_SIZE

    def __init__(
        self,
        harts: int,
        mtime: Callable[[int], int],
        msip_changed: Callable[[int, int], None],
        mtimecmp_changed: Callable[[int], None],
    ):
        self.harts = harts
        self.msip = [0] * harts
        self.mtimecmp = [ALL_ONES] * harts
        self._mtime = mtime
        self._msip_changed = msip_changed  # (target, source)
        self._mtimecmp_changed = mtimecmp_changed

    def _register64(self, offset: int) -> tuple[str, int, int] | None:
        """(register, hart, byte shift) for an offset inside a 64-bit register."""
        if C.CLINT_MTIMECMP <= offset < C.CLINT_MTIMECMP + 8 * self.harts:
            rel = offset - C.CLINT_MTIMECMP
            return "mtimecmp", rel // 8, 8 * (rel % 8)
        if C.CLINT_MTIME <= offset < C.CLINT_MTIME + 8:
            return "mtime", 0, 8 * (offset - C.CLINT_MTIME)
        return None

    def read(self, hart: int, offset: int, size: int) -> int:
        mask = (1 << (8 * size)) - 1
        if offset < 4 * self.harts:
            return self.msip[offset // 4] if offset % 4 == 0 else 0
        reg = self._register64(offset)
        if reg is None:
            return 0
        name, index, shift = reg
        value = self.mtimecmp[index] if name == "mtimecmp" else self._mtime(hart)
        return (value >> shift) & mask

    def write(self, hart: int, offset: int, size: int, value: int) -> None:
        if offset < 4 * self.harts:
            if offset % 4 == 0:
                target = offset // 4
                self.msip[target] = value & 1
                self._msip_changed(target, hart)
            return
        reg = self._register64(offset)
        if reg is None or reg[0] != "mtimecmp":
            return  # mtime is read-only here: it is the machine's virtual clock
        _, index, shift = reg
        mask = ((1 << (8 * size)) - 1) << shift
        old = self.mtimecmp[index]
        self.mtimecmp[index] = (old & ~mask & ALL_ONES) | ((value << shift) & mask)
        self._mtimecmp_changed(index)


class Plic(Device):
    """The platform-level interrupt controller as QEMU virt has it (sifive,plic-1.0.0): sources
    1..PLIC_SOURCES with priorities 0-7, a pending bit each, and per context an enable bit per
    source, a threshold and a claim/complete register. Context 2h is hart h's M mode, 2h + 1 its
    S mode; `external(hart, supervisor, level)` drives that hart's MEIP or SEIP line.

    Sources are level-triggered, as QEMU's are: a source's pending bit follows its line while it
    is not claimed; claiming clears it; completing a source whose line is still high makes it
    pending again. A context's line is high while some pending, enabled, unclaimed source has a
    priority above its threshold; claim returns the highest such (the lowest id among equals).
    """

    name = "plic"
    base = C.PLIC_BASE
    size = C.PLIC_SIZE
    PRIORITY, PENDING, ENABLE, CONTEXT = 0x0, 0x1000, 0x2000, 0x200000
    ENABLE_STRIDE, CONTEXT_STRIDE = 0x80, 0x1000
    PRIORITY_MASK = 7  # QEMU virt's 3 priority bits
    WORDS = (C.PLIC_SOURCES + 1 + 31) // 32  # 32-bit words of pending and enable bits
    VALID = ((1 << (C.PLIC_SOURCES + 1)) - 1) & ~1  # source 0 does not exist

    def __init__(self, harts: int, external: Callable[[int, bool, bool], None]):
        self.contexts = 2 * harts
        self.priority = [0] * (C.PLIC_SOURCES + 1)
        self.levels = 0  # bit s: source s's line is high
        self.pending = 0
        self.claimed = 0
        self.enable = [0] * self.contexts
        self.threshold = [0] * self.contexts
        self._out = [False] * self.contexts
        self._external = external

    def set_source(self, source: int, level: bool) -> None:
        """A device raised or lowered its interrupt line."""
        bit = 1 << source
        if level:
            self.levels |= bit
            self.pending |= bit
        else:
            self.levels &= ~bit
            self.pending &= ~bit
        self._update()

    def best(self, context: int) -> int:
        """The source a claim by `context` would return (0: none)."""
        candidates = self.pending & ~self.claimed & self.enable[context]
        best, best_priority = 0, self.threshold[context]
        while candidates:
            low = candidates & -candidates
            source = low.bit_length() - 1
            if self.priority[source] > best_priority:
                best, best_priority = source, self.priority[source]
            candidates ^= low
        return best

    def _update(self) -> None:
        for context in range(self.contexts):
            level = self.best(context) != 0
            if level != self._out[context]:
                self._out[context] = level
                self._external(context // 2, bool(context & 1), level)

    def read(self, hart: int, offset: int, size: int) -> int:
        if size == 8:  # two registers, as QEMU splits wider accesses
            return self._read32(offset) | self._read32(offset + 4) << 32
        return self._read32(offset & ~3)

    def write(self, hart: int, offset: int, size: int, value: int) -> None:
        if size == 8:
            self._write32(offset, value & 0xFFFFFFFF)
            self._write32(offset + 4, value >> 32)
        else:
            self._write32(offset & ~3, value & 0xFFFFFFFF)

    def _register(self, offset: int) -> tuple[str, int]:
        """(what, index) of the 32-bit register at `offset`."""
        if offset < self.PENDING:
            source = offset // 4
            return ("priority", source) if source <= C.PLIC_SOURCES else ("", 0)
        if offset < self.ENABLE:
            word = (offset - self.PENDING) // 4
            return ("pending", word) if word < self.WORDS else ("", 0)
        if offset < self.CONTEXT:
            context, rel = divmod(offset - self.ENABLE, self.ENABLE_STRIDE)
            if context < self.contexts and rel // 4 < self.WORDS:
                return "enable", context * self.WORDS + rel // 4
            return "", 0
        context, rel = divmod(offset - self.CONTEXT, self.CONTEXT_STRIDE)
        if context < self.contexts and rel in (0, 4):
            return ("threshold" if rel == 0 else "claim"), context
        return "", 0

    def _read32(self, offset: int) -> int:
        what, index = self._register(offset)
        if what == "priority":
            return self.priority[index]
        if what == "pending":
            return (self.pending >> 32 * index) & 0xFFFFFFFF
        if what == "enable":
            context, word = divmod(index, self.WORDS)
            return (self.enable[context] >> 32 * word) & 0xFFFFFFFF
        if what == "threshold":
            return self.threshold[index]
        if what == "claim":
            source = self.best(index)
            if source:
                self.pending &= ~(1 << source)
                self.claimed |= 1 << source
                self._update()
            return source
        return 0

    def _write32(self, offset: int, value: int) -> None:
        what, index = self._register(offset)
        if what == "priority" and index:
            self.priority[index] = value & self.PRIORITY_MASK
        elif what == "enable":
            context, word = divmod(index, self.WORDS)
            mask = 0xFFFFFFFF << 32 * word
            bits = (self.enable[context] & ~mask) | (value << 32 * word)
            self.enable[context] = bits & self.VALID
        elif what == "threshold":
            self.threshold[index] = value & self.PRIORITY_MASK
        elif what == "claim":  # complete
            bit = 1 << value if 0 < value <= C.PLIC_SOURCES else 0
            if not self.claimed & bit:
                return
            self.claimed &= ~bit
            if self.levels & bit:
                self.pending |= bit
        else:
            return  # pending bits are read-only; the rest is reserved
        self._update()
