"""The flattened device tree (DTB) every hart gets in a1: this machine described the way
`qemu-system-riscv64 -M virt,dumpdtb=FILE -smp N -m M` describes QEMU virt, for the devices this
machine has and no others (no PCI, virtio, flash, RTC, fw_cfg, PMU):

  /cpus          timebase-frequency; per hart riscv,isa, mmu-type and an interrupt controller
                 (riscv,cpu-intc) with a phandle; cpu-map (one cluster, a core per hart)
  /memory        RAM
  /soc           the CLINT (software and timer interrupts of every hart), the PLIC (every hart's
                 M and S external interrupt, riscv,ndev sources), the ns16550a UART (its clock,
                 PLIC source UART_IRQ), the sifive,test finisher
  /poweroff, /reboot   syscon-poweroff and syscon-reboot over the finisher
  /chosen        stdout-path: the UART

Phandles are numbered here, not as QEMU numbers them: a reader follows them, never counts on
their values (tests/test_fdt.py compares the two trees that way). Layout per the devicetree
specification v0.4 chapter 5.
"""

from __future__ import annotations

import struct

from guest.contract import C

# What unicorn's CPU implements (misa: RV64 IMAFDC with S and U; Zicsr and Zifencei are part of
# it): QEMU 7.2's default CPU also has H, Zihintpause, Zba, Zbb, Zbc, Zbs and Sstc.
ISA = "rv64imafdc_zicsr_zifencei"
MMU_TYPE = "riscv,sv48"  # the widest paging mode given (Sv39 too), as QEMU virt says
UART_CLOCK_HZ = 3686400  # QEMU virt's 16550 input clock
MODEL = "riscv-virtio,qemu (unicorn SMP emulator)"

_MAGIC = 0xD00DFEED
_VERSION, _LAST_COMPATIBLE = 17, 16
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

    def prop(self, name: str, value: bytes | str | int | list[int] | list[str] = b"") -> None:
        if isinstance(value, str):
            value = value.encode() + b"\0"
        elif isinstance(value, int):
            value = struct.pack(">I", value)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = b"".join(v.encode() + b"\0" for v in value)  # type: ignore[union-attr]
        elif isinstance(value, list):
            value = struct.pack(f">{len(value)}I", *value)
        if name not in self._offsets:
            self._offsets[name] = len(self.strings)
            self.strings += name.encode() + b"\0"
        self.structure += struct.pack(">III", _PROP, len(value), self._offsets[name]) + value
        self._pad()

    def blob(self) -> bytes:
        self.structure += struct.pack(">I", _END)
        header_size = 40
        reserve = b"\0" * 16  # an empty memory-reservation map
        off_rsv = header_size
        off_struct = off_rsv + len(reserve)
        off_strings = off_struct + len(self.structure)
        total = off_strings + len(self.strings)
        header = struct.pack(
            ">10I",
            _MAGIC,
            total,
            off_struct,
            off_strings,
            off_rsv,
            _VERSION,
            _LAST_COMPATIBLE,
            0,  # boot_cpuid_phys
            len(self.strings),
            len(self.structure),
        )
        return header + reserve + bytes(self.structure) + bytes(self.strings)


def _reg(base: int, size: int) -> list[int]:
    return [base >> 32, base & 0xFFFFFFFF, size >> 32, size & 0xFFFFFFFF]


def build_fdt(harts: int, ram_size: int) -> bytes:
    cpu_phandle = [1 + 2 * h for h in range(harts)]
    intc_phandle = [2 + 2 * h for h in range(harts)]
    plic_phandle, test_phandle = 2 * harts + 1, 2 * harts + 2
    uart = f"/soc/serial@{C.UART_BASE:x}"

    w = _Writer()
    w.begin("")
    w.prop("#address-cells", 2)
    w.prop("#size-cells", 2)
    w.prop("compatible", "riscv-virtio")
    w.prop("model", MODEL)

    w.begin("chosen")
    w.prop("stdout-path", uart)
    w.end()
    for name, value in (("poweroff", C.FINISHER_PASS), ("reboot", C.FINISHER_RESET)):
        w.begin(name)
        w.prop("value", value)
        w.prop("offset", 0)
        w.prop("regmap", test_phandle)
        w.prop("compatible", f"syscon-{name}")
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
        w.prop("phandle", cpu_phandle[h])
        w.prop("device_type", "cpu")
        w.prop("reg", h)
        w.prop("status", "okay")
        w.prop("compatible", "riscv")
        w.prop("riscv,isa", ISA)
        w.prop("mmu-type", MMU_TYPE)
        w.begin("interrupt-controller")
        w.prop("#interrupt-cells", 1)
        w.prop("interrupt-controller")
        w.prop("compatible", "riscv,cpu-intc")
        w.prop("phandle", intc_phandle[h])
        w.end()
        w.end()
    w.begin("cpu-map")
    w.begin("cluster0")
    for h in range(harts):
        w.begin(f"core{h}")
        w.prop("cpu", cpu_phandle[h])
        w.end()
    w.end()
    w.end()
    w.end()

    w.begin("soc")
    w.prop("#address-cells", 2)
    w.prop("#size-cells", 2)
    w.prop("compatible", "simple-bus")
    w.prop("ranges")
    w.begin(f"test@{C.FINISHER_BASE:x}")
    w.prop("phandle", test_phandle)
    w.prop("reg", _reg(C.FINISHER_BASE, C.FINISHER_SIZE))
    w.prop("compatible", ["sifive,test1", "sifive,test0", "syscon"])
    w.end()
    w.begin(f"serial@{C.UART_BASE:x}")
    w.prop("interrupts", C.UART_IRQ)
    w.prop("interrupt-parent", plic_phandle)
    w.prop("clock-frequency", UART_CLOCK_HZ)
    w.prop("reg", _reg(C.UART_BASE, C.UART_SIZE))
    w.prop("compatible", "ns16550a")
    w.end()
    w.begin(f"plic@{C.PLIC_BASE:x}")
    w.prop("phandle", plic_phandle)
    w.prop("riscv,ndev", C.PLIC_SOURCES)
    w.prop("reg", _reg(C.PLIC_BASE, C.PLIC_SIZE))
    # context 2h: hart h's machine external interrupt, 2h + 1: its supervisor one
    w.prop(
        "interrupts-extended", [x for p in intc_phandle for x in (p, C.IRQ_M_EXT, p, C.IRQ_S_EXT)]
    )
    w.prop("interrupt-controller")
    w.prop("compatible", ["sifive,plic-1.0.0", "riscv,plic0"])
    w.prop("#address-cells", 0)
    w.prop("#interrupt-cells", 1)
    w.end()
    w.begin(f"clint@{C.CLINT_BASE:x}")
    w.prop(
        "interrupts-extended",
        [x for p in intc_phandle for x in (p, C.IRQ_M_SOFT, p, C.IRQ_M_TIMER)],
    )
    w.prop("reg", _reg(C.CLINT_BASE, C.CLINT_SIZE))
    w.prop("compatible", ["sifive,clint0", "riscv,clint0"])
    w.end()
    w.end()
    w.end()

    blob = w.blob()
    assert len(blob) <= C.FDT_MAX_SIZE
    return blob


def fdt_address(ram_size: int, size: int) -> int:
    """Where QEMU virt puts the FDT: 2 MiB-aligned, below the end of RAM (and below 3 GiB)."""
    top = min(C.RAM_BASE + ram_size, 0xC0000000)
    return (top - size) & ~(C.FDT_ALIGN - 1)
