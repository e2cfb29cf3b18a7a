"""A flattened device tree (DTB) like QEMU virt's, so the guest learns the machine one way.

Only what a guest of ours reads is described: cpus (one node per hart, timebase), memory,
the UART, the CLINT and the test finisher. Layout per the devicetree specification v0.4 §5.
"""

from __future__ import annotations

import struct

from guest.contract import C

_MAGIC = 0xD00DFEED
_BEGIN_NODE, _END_NODE, _PROP, _END = 1, 2, 3, 9


class _Writer:
    def __init__(self) -> None:
        self.structure = bytearray()
        self.strings = bytearray()
        self._offsets: dict[str, int] = {}

    def _pad(self) -> None:
        self.structure += b"\0" * (-len(self.structure) % 4)

    def begin(self, name: str) -> None:
        self.structure += struct.pack(">I", _BEGIN_NODE) + name.encode() + b"\0"
        self._pad()

    def end(self) -> None:
        self.structure += struct.pack(">I", _END_NODE)

    def prop(self, name: str, value: bytes | str | int | list[int] = b"") -> None:
        if isinstance(value, str):
            value = value.encode() + b"\0"
        elif isinstance(value, int):
            value = struct.pack(">I", value)
        elif isinstance(value, list):
            value = struct.pack(f">{len(value)}I", *value)
        if name not in self._offsets:
            self._offsets[name] = len(self.strings)
            self.strings += name.encode() + b"\0"
        self.structure += struct.pack(">III", _PROP, len(value), self._offsets[name]) + value
        self._pad()


def _reg(base: int, size: int) -> list[int]:
    return [base >> 32, base & 0xFFFFFFFF, size >> 32, size & 0xFFFFFFFF]


def build_fdt(harts: int, ram_size: int) -> bytes:
    w = _Writer()
    w.begin("")
    w.prop("#address-cells", 2)
    w.prop("#size-cells", 2)
    w.prop("compatible", "riscv-virtio")
    w.prop("model", "riscv-virtio,qemu (unicorn SMP emulator)")
    w.begin("chosen")
    w.prop("stdout-path", f"/soc/serial@{C.UART_BASE:x}")
    w.end()
    w.begin(f"memory@{C.RAM_BASE:x}")
    w.prop("device_type", "memory")
    w.prop("reg", _reg(C.RAM_BASE, ram_size))
    w.end()
    w.begin("cpus")
    w.prop("#address-cells", 1)
    w.prop("#size-cells", 0)
    w.prop("timebase-frequency", C.MTIME_HZ)
    for h in range(harts):
        w.begin(f"cpu@{h}")
        w.prop("device_type", "cpu")
        w.prop("reg", h)
        w.prop("status", "okay")
        w.prop("compatible", "riscv")
        w.prop("riscv,isa", "rv64imafdc")
        w.begin("interrupt-controller")
        w.prop("#interrupt-cells", 1)
        w.prop("interrupt-controller")
        w.prop("compatible", "riscv,cpu-intc")
        w.prop("phandle", h + 1)
        w.end()
        w.end()
    w.end()
    w.begin("soc")
    w.prop("#address-cells", 2)
    w.prop("#size-cells", 2)
    w.prop("compatible", "simple-bus")
    w.prop("ranges")
    w.begin(f"test@{C.FINISHER_BASE:x}")
    w.prop("compatible", b"sifive,test1\0sifive,test0\0syscon\0")
    w.prop("reg", _reg(C.FINISHER_BASE, C.FINISHER_SIZE))
    w.end()
    w.begin(f"serial@{C.UART_BASE:x}")
    w.prop("compatible", "ns16550a")
    w.prop("reg", _reg(C.UART_BASE, C.UART_SIZE))
    w.prop("clock-frequency", 0x384000)
    w.end()
    w.begin(f"clint@{C.CLINT_BASE:x}")
    w.prop("compatible", b"sifive,clint0\0riscv,clint0\0")
    w.prop("reg", _reg(C.CLINT_BASE, C.CLINT_SIZE))
    w.prop("interrupts-extended", [x for h in range(harts) for x in (h + 1, 3, h + 1, 7)])
    w.end()
    w.end()
    w.end()
    w.structure += struct.pack(">I", _END)

    header_size = 40
    reserve = b"\0" * 16  # empty memory-reservation map
    off_rsv = header_size
    off_struct = off_rsv + len(reserve)
    off_strings = off_struct + len(w.structure)
    total = off_strings + len(w.strings)
    header = struct.pack(
        ">10I",
        _MAGIC,
        total,
        off_struct,
        off_strings,
        off_rsv,
        17,
        16,
        0,
        len(w.strings),
        len(w.structure),
    )
    blob = header + reserve + bytes(w.structure) + bytes(w.strings)
    assert len(blob) <= C.FDT_MAX_SIZE
    return blob


def fdt_address(ram_size: int, size: int) -> int:
    """Where QEMU virt puts the FDT: 2 MiB-aligned, below the end of RAM (and below 3 GiB)."""
    top = min(C.RAM_BASE + ram_size, 0xC0000000)
    return (top - size) & ~(C.FDT_ALIGN - 1)
