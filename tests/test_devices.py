"""The devices, checked on their own and wired in the machine (the device tree: test_fdt.py)."""

from __future__ import annotations

from emulator.machine.devices import ALL_ONES, Clint, Plic, TestFinisher, Uart
from guest.contract import C


def test_finisher_codes():
    seen = []
    fin = TestFinisher(lambda hart, code: seen.append((hart, code)))
    fin.write(2, 0, 4, C.FINISHER_PASS)
    fin.write(1, 0, 4, (9 << 16) | C.FINISHER_FAIL)
    fin.write(0, 0, 4, C.FINISHER_RESET)
    fin.write(0, 0, 4, 0x1234)  # ignored, as on QEMU
    assert seen == [(2, 0), (1, 9), (0, None)]


# 16550 register offsets (DLAB = 0) and the values a driver sees
RBR, IER, IIR, FCR, LCR, MCR, LSR, MSR, SCR = 0, 1, 2, 2, 3, 4, 5, 6, 7


class _Line:
    """An interrupt line that remembers its changes."""

    def __init__(self) -> None:
        self.changes: list[bool] = []

    def __call__(self, level: bool) -> None:
        self.changes.append(level)

    @property
    def high(self) -> bool:
        return bool(self.changes and self.changes[-1])


def _uart() -> tuple[Uart, list, _Line]:
    out: list = []
    line = _Line()
    return Uart(lambda hart, b: out.append((hart, b)), line), out, line


def test_uart_reset_values_are_qemus():
    uart, _, line = _uart()
    regs = [uart.read(0, r, 1) for r in (IER, IIR, LCR, MCR, LSR, MSR, SCR)]
    assert regs == [0, 0x01, 0, 0x08, 0x60, 0xB0, 0]
    assert line.changes == []


def test_uart_polled_output_takes_bytes_and_never_blocks():
    uart, out, line = _uart()
    for b in b"ok":
        assert uart.read(1, C.UART_LSR, 1) & C.UART_LSR_THRE
        uart.write(3, C.UART_THR, 1, b | 0x100)  # only the low byte is data
    assert out == [(3, ord("o")), (3, ord("k"))]
    assert uart.read(0, LSR, 1) == C.UART_LSR_THRE | C.UART_LSR_TEMT
    assert line.changes == []  # no interrupt unless IER asks for one


def test_uart_divisor_latch_and_opensbi_init_sequence():
    uart, out, _ = _uart()
    # OpenSBI's uart8250_init: IER off, DLAB, divisor, 8N1, FIFO on, MCR 0, drain, SCR 0
    uart.write(0, IER, 1, 0)
    uart.write(0, LCR, 1, 0x80)
    uart.write(0, RBR, 1, 0x02)  # DLL: lands in the divisor, not on the console
    uart.write(0, IER, 1, 0x01)  # DLM
    assert (uart.read(0, RBR, 1), uart.read(0, IER, 1)) == (0x02, 0x01)
    assert uart.divisor == 0x0102 and out == []
    uart.write(0, LCR, 1, 0x03)
    assert uart.read(0, IER, 1) == 0  # DLAB off: IER again, untouched by the divisor writes
    uart.write(0, FCR, 1, 0x01)
    assert uart.read(0, IIR, 1) == 0xC1  # FIFOs enabled, nothing pending
    uart.write(0, MCR, 1, 0)
    uart.read(0, LSR, 1)
    uart.read(0, RBR, 1)
    uart.write(0, SCR, 1, 0x5A)
    assert uart.read(0, SCR, 1) == 0x5A and uart.read(0, LCR, 1) == 0x03
    uart.write(0, C.UART_THR, 1, ord("x"))
    assert out == [(0, ord("x"))]
    uart.write(0, FCR, 1, 0)
    assert uart.read(0, IIR, 1) == 0x01


def test_uart_linux_probes_ier_and_loopback():
    uart, out, _ = _uart()
    uart.write(0, IER, 1, 0)
    assert uart.read(0, IER, 1) & 0x0F == 0
    uart.write(0, IER, 1, 0x0F)
    assert uart.read(0, IER, 1) & 0x0F == 0x0F
    uart.write(0, IER, 1, 0)
    uart.write(0, MCR, 1, 0x10 | 0x0A)  # loopback with OUT2 and RTS
    assert uart.read(0, MSR, 1) & 0xF0 == 0x90  # DCD and CTS: what autoconfig wants
    uart.write(0, C.UART_THR, 1, 0x42)  # loops back instead of going out
    assert out == [] and uart.read(0, LSR, 1) & 0x01
    assert uart.read(0, RBR, 1) == 0x42 and not uart.read(0, LSR, 1) & 0x01
    uart.write(0, MCR, 1, 0x08)
    assert uart.read(0, MSR, 1) == 0xB0


def test_uart_thr_empty_interrupt():
    uart, out, line = _uart()
    uart.write(0, IER, 1, 0x02)  # ETBEI with THR empty: pending at once
    assert line.high and uart.read(0, IIR, 1) == 0x02  # reading IIR acknowledges it...
    assert not line.high and uart.read(0, IIR, 1) == 0x01
    uart.write(0, C.UART_THR, 1, ord("a"))  # ...and every byte sent makes it pending again
    assert line.high and out == [(0, ord("a"))]
    uart.write(0, IER, 1, 0)
    assert not line.high and uart.read(0, IIR, 1) == 0x01
    uart.write(0, IER, 1, 0x02)
    uart.write(0, IER, 1, 0x02)  # unchanged: no second edge
    assert line.changes == [True, False, True, False, True]


def test_uart_receive_interrupt_in_loopback_comes_before_thr_empty():
    uart, _, line = _uart()
    uart.write(0, MCR, 1, 0x18)
    uart.write(0, IER, 1, 0x03)  # RX data and THR empty
    uart.write(0, C.UART_THR, 1, 7)
    assert uart.read(0, IIR, 1) == 0x04  # received data outranks THR empty
    assert uart.read(0, RBR, 1) == 7 and line.high
    assert uart.read(0, IIR, 1) == 0x02 and not line.high
    uart.write(0, C.UART_THR, 1, 8)
    uart.write(0, C.UART_THR, 1, 9)  # RBR was full: overrun
    uart.write(0, IER, 1, 0x07)
    assert uart.read(0, IIR, 1) == 0x06  # line status first
    assert uart.read(0, LSR, 1) & 0x02 and not uart.read(0, LSR, 1) & 0x02  # read clears OE


class _Lines:
    """The PLIC's outputs: (hart, supervisor) -> level, and every change in order."""

    def __init__(self) -> None:
        self.level: dict[tuple[int, bool], bool] = {}
        self.changes: list[tuple[int, bool, bool]] = []

    def __call__(self, hart: int, supervisor: bool, level: bool) -> None:
        self.level[(hart, supervisor)] = level
        self.changes.append((hart, supervisor, level))


def _context(c: int) -> int:
    return Plic.CONTEXT + c * Plic.CONTEXT_STRIDE


def _enable(c: int, word: int = 0) -> int:
    return Plic.ENABLE + c * Plic.ENABLE_STRIDE + 4 * word


def test_plic_registers_read_back():
    plic = Plic(2, _Lines())
    plic.write(0, 4 * 10, 4, 0xFFFF)
    assert plic.read(0, 4 * 10, 4) == 7  # three priority bits
    plic.write(0, 0, 4, 5)
    assert plic.read(0, 0, 4) == 0  # source 0 does not exist
    plic.write(0, _enable(3), 4, 0xFFFFFFFF)
    assert plic.read(0, _enable(3), 4) == 0xFFFFFFFE
    plic.write(0, _enable(3, 3), 4, 0xFFFFFFFF)  # sources 96..127: only 96 exists
    assert plic.read(0, _enable(3, 3), 4) == 1
    plic.write(0, _context(2), 4, 9)
    assert plic.read(0, _context(2), 4) == 1
    plic.write(0, _enable(1), 8, 0x0000_0003_0000_0400)  # a 64-bit access: two registers
    assert plic.read(0, _enable(1, 1), 4) == 3 and plic.read(0, _enable(1), 8) == 0x3_0000_0400
    assert plic.read(0, _enable(4), 4) == 0  # no context 4 with 2 harts


def test_plic_claim_complete_and_level_sources():
    lines = _Lines()
    plic = Plic(2, lines)
    s_hart1 = 3  # context 3: hart 1, S mode
    plic.write(0, _enable(s_hart1), 4, 1 << 10)
    plic.set_source(10, True)
    assert lines.changes == []  # priority 0: never interrupts
    assert plic.read(0, Plic.PENDING, 4) == 1 << 10
    plic.write(0, 4 * 10, 4, 1)
    assert lines.changes == [(1, True, True)]
    assert plic.read(1, _context(s_hart1) + 4, 4) == 10  # claim
    assert lines.level[(1, True)] is False and plic.read(0, Plic.PENDING, 4) == 0
    assert plic.read(1, _context(s_hart1) + 4, 4) == 0  # nothing left to claim
    plic.write(0, Plic.PENDING, 4, 0xFFFFFFFF)  # pending bits are read-only
    assert plic.read(0, Plic.PENDING, 4) == 0
    plic.write(1, _context(s_hart1) + 4, 4, 10)  # complete, line still high: pending again
    assert lines.level[(1, True)] is True
    plic.set_source(10, False)  # the device lowered it before anyone claimed
    assert lines.level[(1, True)] is False and plic.read(0, Plic.PENDING, 4) == 0
    plic.write(1, _context(s_hart1) + 4, 4, 10)  # completing an unclaimed source: ignored
    assert lines.level[(1, True)] is False


def test_plic_priority_threshold_and_contexts():
    lines = _Lines()
    plic = Plic(2, lines)
    m_hart0, m_hart1 = 0, 2
    for source, priority in ((3, 2), (5, 5), (7, 5)):
        plic.write(0, 4 * source, 4, priority)
        plic.set_source(source, True)
    plic.write(0, _context(m_hart1), 4, 2)  # threshold 2 masks source 3 (priority 2)
    plic.write(0, _enable(m_hart0), 4, (1 << 3) | (1 << 5) | (1 << 7))
    plic.write(0, _enable(m_hart1), 4, 1 << 3)
    assert lines.level == {(0, False): True}
    claims = [plic.read(0, _context(m_hart0) + 4, 4) for _ in range(4)]
    assert claims == [5, 7, 3, 0]  # highest priority first, the lower id among equals
    assert lines.level[(0, False)] is False
    plic.write(0, _context(m_hart1), 4, 1)
    assert lines.level.get((1, False)) is not True  # source 3 is still claimed by hart 0
    plic.write(0, _context(m_hart0) + 4, 4, 3)  # complete: 3 is pending again for both
    assert lines.level[(0, False)] is True and lines.level[(1, False)] is True
    assert plic.read(1, _context(m_hart1) + 4, 4) == 3
    assert lines.level == {(0, False): False, (1, False): False}


def test_clint_registers():
    ipis, timers = [], []
    clint = Clint(4, lambda hart: 1000 + hart, lambda t, s: ipis.append((t, s)), timers.append)
    clint.write(0, C.CLINT_MSIP + 8, 4, 1)
    assert clint.msip == [0, 0, 1, 0] and ipis == [(2, 0)]
    assert clint.read(1, C.CLINT_MSIP + 8, 4) == 1
    assert clint.mtimecmp[3] == ALL_ONES
    base = C.CLINT_MTIMECMP + 8 * 3
    clint.write(3, base, 4, 0x1111)  # low half, then high half, as rv32 code would
    clint.write(3, base + 4, 4, 0x2)
    assert clint.mtimecmp[3] == 0x2_0000_1111 and timers == [3, 3]
    clint.write(3, base, 8, 42)
    assert clint.read(0, base, 8) == 42
    assert clint.read(2, C.CLINT_MTIME, 8) == 1002  # the reading hart's own time
    assert clint.read(2, C.CLINT_MTIME + 4, 4) == 0


def test_uart_interrupt_reaches_the_hart_through_the_plic():
    """Wired in the machine: UART -> PLIC source UART_IRQ -> the enabled context's hart line."""
    from firmware.build import build

    from emulator.machine.image import Image
    from emulator.machine.isa import MIP_MEIP, MIP_SEIP
    from emulator.machine.machine import Machine

    machine = Machine(Image(build("kernel-low")), 2, 64)
    calls: list[tuple[int, int, bool]] = []
    for hart in machine.harts:
        hart.set_irq = lambda mask, level, h=hart.id: calls.append((h, mask, level))  # type: ignore[method-assign]
    plic, uart = machine.plic, machine.uart
    plic.write(0, 4 * C.UART_IRQ, 4, 1)
    plic.write(0, _enable(3), 4, 1 << C.UART_IRQ)  # hart 1, S mode
    plic.write(0, _enable(0), 4, 1 << C.UART_IRQ)  # hart 0, M mode
    uart.write(0, IER, 1, 0x02)
    assert calls == [(0, MIP_MEIP, True), (1, MIP_SEIP, True)]
    assert plic.read(1, _context(3) + 4, 4) == C.UART_IRQ  # hart 1 claims it: both lines drop
    assert calls[2:] == [(0, MIP_MEIP, False), (1, MIP_SEIP, False)]
    uart.read(1, IIR, 1)  # acknowledged at the UART, then completed: nothing pending any more
    plic.write(1, _context(3) + 4, 4, C.UART_IRQ)
    assert len(calls) == 4


def test_uart_interrupt_wakes_a_hart_asleep_in_wfi():
    """A guest (tests/firmware/uartirq.S): hart 1 sleeps in wfi with PLIC source UART_IRQ enabled
    for its M context; hart 0 enables the UART's THR-empty interrupt; hart 1 wakes, takes the
    machine external interrupt, claims the UART and completes it; hart 0 prints and exits 0."""
    from firmware.build import build

    from emulator.machine import events as ev
    from emulator.session import RunOptions, run

    bus = ev.Bus()
    wakes: list[ev.Wake] = []
    bus.subscribe(ev.Wake, wakes.append)
    opts = RunOptions(image=str(build("uartirq")), harts=2, quiet=True, write_files=False,
                      ram_mib=64, max_instructions=1_000_000)  # fmt: skip
    report = run(opts, bus)
    assert report.result.exit_code == 0, report.result.message
    assert report.console == b"uart irq ok\n"
    assert [(w.hart, w.reason) for w in wakes] == [(1, "external interrupt (hart 0)")]
