"""Devices and the device tree, checked on their own."""

from __future__ import annotations

import struct

from emulator.machine.devices import ALL_ONES, Clint, TestFinisher, Uart
from emulator.machine.fdt import build_fdt, fdt_address
from guest.contract import C


def test_finisher_codes():
    seen = []
    fin = TestFinisher(lambda hart, code: seen.append((hart, code)))
    fin.write(2, 0, 4, C.FINISHER_PASS)
    fin.write(1, 0, 4, (9 << 16) | C.FINISHER_FAIL)
    fin.write(0, 0, 4, C.FINISHER_RESET)
    fin.write(0, 0, 4, 0x1234)  # ignored, as on QEMU
    assert seen == [(2, 0), (1, 9), (0, None)]


def test_uart_reports_an_empty_transmitter_and_takes_bytes():
    out = []
    uart = Uart(lambda hart, b: out.append((hart, b)))
    assert uart.read(0, C.UART_LSR, 1) & C.UART_LSR_THRE
    uart.write(3, C.UART_THR, 1, 0x141)
    assert out == [(3, 0x41)]


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


def _parse_fdt(blob: bytes) -> dict[str, dict[str, bytes]]:
    """A minimal DTB reader: path -> properties (independent of the writer's code)."""
    magic, total, off_struct, off_strings = struct.unpack(">4I", blob[:16])
    assert magic == 0xD00DFEED and total == len(blob)
    nodes: dict[str, dict[str, bytes]] = {}
    path: list[str] = []
    i = off_struct
    while True:
        (token,) = struct.unpack(">I", blob[i : i + 4])
        i += 4
        if token == 1:
            end = blob.index(b"\0", i)
            path.append(blob[i:end].decode())
            nodes["/".join(path) or "/"] = {}
            i = (end + 4) & ~3
        elif token == 2:
            path.pop()
        elif token == 3:
            length, nameoff = struct.unpack(">II", blob[i : i + 8])
            name = blob[off_strings + nameoff : blob.index(b"\0", off_strings + nameoff)].decode()
            nodes["/".join(path) or "/"][name] = blob[i + 8 : i + 8 + length]
            i = (i + 8 + length + 3) & ~3
        elif token == 9:
            return nodes
        else:
            assert token == 4  # NOP


def test_fdt_describes_the_machine():
    blob = build_fdt(6, 64 << 20)
    nodes = _parse_fdt(blob)
    cpus = [p for p in nodes if p.startswith("/cpus/cpu@") and p.count("/") == 2]
    assert len(cpus) == 6
    mem = nodes[f"/memory@{C.RAM_BASE:x}"]["reg"]
    assert struct.unpack(">4I", mem) == (0, C.RAM_BASE, 0, 64 << 20)
    assert struct.unpack(">I", nodes["/cpus"]["timebase-frequency"])[0] == C.MTIME_HZ
    addr = fdt_address(64 << 20, len(blob))
    assert addr % C.FDT_ALIGN == 0 and addr + len(blob) <= C.RAM_BASE + (64 << 20)
