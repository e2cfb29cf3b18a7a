"""Memory-mapped devices of the QEMU virt machine that the guests use.

A device is a small class with read/write at an offset; the machine maps each one into every
hart's unicorn instance and tells it which hart made the access. Devices hold no reference to
the machine: what they cause (output, exit, an IPI, a new timer deadline) goes out through the
callbacks they were built with.
"""

from __future__ import annotations

from collections.abc import Callable

from guest.contract import C

ALL_ONES = (1 << 64) - 1


class Device:
    name = "device"
    base = 0
    size = 0

    def read(self, hart: int, offset: int, size: int) -> int:
        return 0

    def write(self, hart: int, offset: int, size: int, value: int) -> None:
        pass


class Uart(Device):
    """16550 transmit side: THR takes a byte, LSR always reports an empty transmitter."""

    name = "uart"
    base = C.UART_BASE
    size = C.UART_SIZE

    def __init__(self, output: Callable[[int, int], None]):
        self._output = output

    def read(self, hart: int, offset: int, size: int) -> int:
        return C.UART_LSR_THRE | C.UART_LSR_TEMT if offset == C.UART_LSR else 0

    def write(self, hart: int, offset: int, size: int, value: int) -> None:
        if offset == C.UART_THR:
            self._output(hart, value & 0xFF)


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
