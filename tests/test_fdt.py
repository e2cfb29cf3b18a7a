"""The device tree (emulator/machine/fdt.py) against QEMU's own: `qemu-system-riscv64 -M
virt,dumpdtb=FILE -smp N -m M`, both read by tests/dtb.py.

Every node we write must be in QEMU's tree with the same properties and values, phandles
followed to the nodes they name (their numbers differ); QEMU's nodes we leave out are the devices
this machine does not have, listed below; the few values that differ on purpose are listed too.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from dtb import Tree, parse

from emulator.machine.fdt import ISA, build_fdt, fdt_address
from emulator.reference.qemu import qemu_binary
from guest.contract import C

# QEMU virt's devices this machine does not have (node path prefixes).
NOT_MODELLED = (
    "/pmu",
    "/fw-cfg@",
    "/flash@",
    "/platform-bus@",
    "/soc/rtc@",
    "/soc/pci@",
    "/soc/virtio_mmio@",
)
# (node, property) QEMU has and we do not write: a random seed for the kernel's RNG.
QEMU_ONLY = {("/chosen", "rng-seed")}
# (node, property) whose values differ on purpose: compared by their own rules below.
OWN_RULES = {("/", "model"), *((f"/cpus/cpu@{h}", "riscv,isa") for h in range(C.MAX_HARTS))}
# Properties that hold phandles: cells per entry (the phandle, then its arguments).
REFERENCES = {"interrupt-parent": 1, "regmap": 1, "cpu": 1, "interrupts-extended": 2}


def _value(tree: Tree, path: str, prop: str):
    """A property's value with each phandle replaced by the path of the node it names."""
    node = tree.find(path)
    if prop == "phandle":
        return "a phandle"
    if prop in REFERENCES:
        step = REFERENCES[prop]
        cells = node.cells(prop)
        return [
            (tree.resolve(cells[i]), *cells[i + 1 : i + step]) for i in range(0, len(cells), step)
        ]
    return node.props[prop]


def _isa(text: str) -> tuple[set[str], set[str]]:
    """(single-letter extensions, multi-letter extensions) of a riscv,isa string."""
    base, *multi = text.split("_")
    assert base.startswith("rv64"), text
    return set(base[4:]), set(multi)


def qemu_tree(harts: int, ram_mib: int, tmp_path: Path) -> Tree:
    out = tmp_path / f"qemu-{harts}h-{ram_mib}m.dtb"
    subprocess.run(
        [qemu_binary(), "-M", f"virt,dumpdtb={out}", "-smp", str(harts), "-m", f"{ram_mib}M",
         "-nographic", "-bios", "none"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return parse(out.read_bytes())


def compare(ours: Tree, qemu: Tree) -> list[str]:
    """Every difference between the two trees that is not on the lists above."""
    problems = []
    ours_nodes, qemu_nodes = ours.nodes(), qemu.nodes()
    for path in sorted(qemu_nodes.keys() - ours_nodes.keys()):
        if not path.startswith(NOT_MODELLED):
            problems.append(f"QEMU has {path}, we do not")
    for path in sorted(ours_nodes.keys() - qemu_nodes.keys()):
        problems.append(f"we have {path}, QEMU does not")
    for path in sorted(ours_nodes.keys() & qemu_nodes.keys()):
        mine, theirs = ours_nodes[path].props, qemu_nodes[path].props
        for prop in sorted(theirs.keys() - mine.keys()):
            if (path, prop) not in QEMU_ONLY:
                problems.append(f"{path}: QEMU has {prop}, we do not")
        for prop in sorted(mine.keys() - theirs.keys()):
            problems.append(f"{path}: we have {prop}, QEMU does not")
        for prop in sorted(mine.keys() & theirs.keys()):
            if (path, prop) in OWN_RULES:
                continue
            a, b = _value(ours, path, prop), _value(qemu, path, prop)
            if a != b:
                problems.append(f"{path}: {prop} is {a!r} here, {b!r} on QEMU")
    return problems


NEEDS_QEMU = pytest.mark.skipif(
    qemu_binary() is None, reason="qemu-system-riscv64 is not installed"
)


@NEEDS_QEMU
@pytest.mark.qemu
@pytest.mark.parametrize(("harts", "ram_mib"), [(1, 128), (2, 64), (4, 256), (8, 128)])
def test_device_tree_is_qemus(harts, ram_mib, tmp_path):
    ours = parse(build_fdt(harts, ram_mib << 20))
    qemu = qemu_tree(harts, ram_mib, tmp_path)
    assert compare(ours, qemu) == []
    assert ours.find("/").strings("model")[0].startswith(qemu.find("/").strings("model")[0])
    for h in range(harts):
        path = f"/cpus/cpu@{h}"
        letters, extensions = _isa(ours.find(path).strings("riscv,isa")[0])
        qemu_letters, qemu_extensions = _isa(qemu.find(path).strings("riscv,isa")[0])
        assert letters <= qemu_letters and extensions <= qemu_extensions


@NEEDS_QEMU
@pytest.mark.qemu
def test_the_comparison_catches_a_wrong_tree(tmp_path):
    """The checker itself: a tree with a wrong UART interrupt, a missing CLINT and a PLIC wired
    to the wrong harts must be reported."""
    blob = bytearray(build_fdt(2, 128 << 20))
    ours = parse(bytes(blob))
    serial = ours.find(f"/soc/serial@{C.UART_BASE:x}")
    serial.props["interrupts"] = (C.UART_IRQ + 1).to_bytes(4, "big")
    del ours.find("/soc").children[f"clint@{C.CLINT_BASE:x}"]
    plic = ours.find(f"/soc/plic@{C.PLIC_BASE:x}")
    cells = plic.cells("interrupts-extended")
    cells[0], cells[4] = cells[4], cells[0]  # hart 0's M context now goes to hart 1
    plic.props["interrupts-extended"] = b"".join(c.to_bytes(4, "big") for c in cells)
    problems = compare(ours, qemu_tree(2, 128, tmp_path))
    assert any("serial" in p and "interrupts" in p for p in problems)
    assert any("QEMU has /soc/clint@2000000" in p for p in problems)
    assert any("plic" in p and "interrupts-extended" in p for p in problems)


def test_isa_string_is_what_the_harts_implement():
    """riscv,isa's letters are misa's (less S and U, which riscv,isa does not name)."""
    from firmware.build import build
    from unicorn import riscv_const as R

    from emulator.machine.image import Image
    from emulator.machine.machine import Machine

    misa = Machine(Image(build("kernel-low")), 1, 64).harts[0].read_reg(R.UC_RISCV_REG_MISA)
    letters = {chr(ord("a") + i) for i in range(26) if misa >> i & 1} - {"s", "u"}
    assert misa >> 62 == 2  # RV64
    assert _isa(ISA)[0] == letters
    assert {"zicsr", "zifencei"} == _isa(ISA)[1]


@pytest.mark.parametrize("harts", [1, 3, C.MAX_HARTS])
def test_device_tree_describes_this_machine(harts):
    tree = parse(build_fdt(harts, 64 << 20))
    cpus = [p for p in tree.find("/cpus").children if p.startswith("cpu@")]
    assert len(cpus) == harts
    assert tree.find("/cpus").cell("timebase-frequency") == C.MTIME_HZ
    assert tree.find(f"/memory@{C.RAM_BASE:x}").cells("reg") == [0, C.RAM_BASE, 0, 64 << 20]
    intc = [f"/cpus/cpu@{h}/interrupt-controller" for h in range(harts)]
    plic = tree.find(f"/soc/plic@{C.PLIC_BASE:x}")
    assert _value(tree, plic.path, "interrupts-extended") == [
        x for p in intc for x in ((p, C.IRQ_M_EXT), (p, C.IRQ_S_EXT))
    ]
    assert plic.cell("riscv,ndev") == C.PLIC_SOURCES
    serial = f"/soc/serial@{C.UART_BASE:x}"
    assert _value(tree, serial, "interrupt-parent") == [(plic.path,)]
    assert tree.find(serial).cell("interrupts") == C.UART_IRQ
    assert tree.find("/chosen").strings("stdout-path") == [serial]
    cores = tree.find("/cpus/cpu-map/cluster0").children
    assert [_value(tree, c.path, "cpu") for c in cores.values()] == [
        [(f"/cpus/cpu@{h}",)] for h in range(harts)
    ]
    assert len(build_fdt(harts, 64 << 20)) <= C.FDT_MAX_SIZE


def test_device_tree_sits_where_qemu_puts_it():
    for ram_mib in (16, 128, 2048):
        size = len(build_fdt(4, ram_mib << 20))
        address = fdt_address(ram_mib << 20, size)
        assert address % C.FDT_ALIGN == 0 and address + size <= C.RAM_BASE + (ram_mib << 20)
        assert address + C.FDT_ALIGN >= min(C.RAM_BASE + (ram_mib << 20), 0xC0000000)
