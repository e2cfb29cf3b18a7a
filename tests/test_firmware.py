"""The QEMU virt boot convention: --bios and --kernel (ELF or raw), the reset ROM and its
fw_dynamic block, where raw images go, and the bad input around them.

The programs (tests/firmware/): `record` is an M-mode firmware that stores the a0/a1/a2 each
hart got from the reset ROM and enters the kernel at fw_dynamic's next_addr (`record-spin`
spins instead); `kernel` prints "kernel" and exits with code 7 from hart 0.
"""

from __future__ import annotations

import struct
from pathlib import Path

import capstone
import pytest
from conftest import cli
from firmware.build import KERNEL_ADDRESS, build, raw_binary

from emulator.machine import boot
from emulator.machine.image import Image
from emulator.machine.isa import A
from emulator.machine.machine import Machine, Outcome
from emulator.machine.sites import Sites, _sweep, scan
from emulator.schedule.policies import RoundRobin
from emulator.session import RunOptions, run
from guest.contract import C

OPENSBI = Path("/usr/lib/riscv64-linux-gnu/opensbi/generic")


def _run(**kw) -> object:
    opts = RunOptions(quiet=True, write_files=False, ram_mib=64, **kw)
    return run(opts)


def _one_line(proc) -> str:
    err = proc.stderr.strip()
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_reset_rom_is_qemus():
    kernel = Image(build("kernel"))
    rom = Machine(kernel, 1, 64, firmware=Image(build("record"))).mask_rom
    md = capstone.Cs(capstone.CS_ARCH_RISCV, capstone.CS_MODE_RISCV64)
    code = [f"{i.mnemonic} {i.op_str}" for i in md.disasm(rom[:24], C.MROM_BASE)]
    assert code == [
        "auipc t0, 0",
        "addi a2, t0, 0x28",
        "csrr a0, mhartid",
        "ld a1, 0x20(t0)",
        "ld t0, 0x18(t0)",
        "jr t0",
    ]
    start, fdt = struct.unpack_from("<QQ", rom, 24)
    assert start == C.RAM_BASE and fdt % C.FDT_ALIGN == 0 and fdt > C.RAM_BASE
    assert boot.FW_DYNAMIC_INFO == C.MROM_BASE + 40  # what the addi above points at
    magic, version, next_addr, next_mode, options, boot_hart = struct.unpack_from("<6Q", rom, 40)
    assert (magic, version, next_mode, options, boot_hart) == (0x4942534F, 2, 1, 0, 0)
    assert next_addr == kernel.start == KERNEL_ADDRESS
    alone = Machine(None, 1, 64, firmware=Image(build("record"))).mask_rom
    assert struct.unpack_from("<Q", alone, 56)[0] == 0  # no kernel: next_addr 0, as QEMU


def _boot_regs(machine: Machine, firmware: Image) -> list[tuple[int, int, int, int]]:
    base = firmware.symbol("boot_regs")
    assert base is not None
    offset = base.address - C.RAM_BASE
    data = machine.ram[offset : offset + 32 * len(machine.harts)]
    return [struct.unpack_from("<4Q", data, 32 * h) for h in range(len(machine.harts))]


@pytest.mark.parametrize("harts", [1, 4])
def test_reset_rom_enters_the_firmware_with_hart_id_fdt_and_info(harts):
    firmware = Image(build("record-spin"))
    machine = Machine(Image(build("kernel")), harts, 64, firmware=firmware)
    assert all(h.pc == C.MROM_BASE for h in machine.harts)
    result = machine.run(RoundRobin(100), 2000 * harts)
    assert result.outcome is Outcome.BUDGET
    expected = [(h, machine.fdt_address, boot.FW_DYNAMIC_INFO, 1) for h in range(harts)]
    assert _boot_regs(machine, firmware) == expected


def test_bios_none_starts_in_the_kernel_with_the_roms_registers():
    machine = Machine(Image(build("kernel-low")), 3, 64)
    for h in machine.harts:
        args = [h.read_reg(A[i]) for i in range(3)]
        assert args == [h.id, machine.fdt_address, boot.FW_DYNAMIC_INFO]
        assert h.pc == C.RAM_BASE


@pytest.mark.parametrize("firmware_kind", ["elf", "raw"])
@pytest.mark.parametrize("kernel_kind", ["elf", "raw"])
def test_firmware_enters_the_kernel(firmware_kind, kernel_kind, tmp_path):
    firmware, kernel = build("record"), build("kernel")
    if firmware_kind == "raw":
        firmware = raw_binary(firmware, tmp_path / "fw.bin")
    if kernel_kind == "raw":  # goes to the first 2 MiB boundary after the firmware
        kernel = raw_binary(kernel, tmp_path / "kernel.bin")
    report = _run(bios=str(firmware), kernel=str(kernel), harts=2)
    assert report.result.outcome is Outcome.EXITED and report.result.exit_code == 7
    assert report.console == b"kernel\n"
    assert report.summary["kernel_reached"] is True
    assert report.summary["firmware"] == str(firmware)


def test_raw_kernel_with_bios_none_goes_to_ram_base(tmp_path):
    kernel = raw_binary(build("kernel-low"), tmp_path / "kernel.bin")
    report = _run(kernel=str(kernel))
    assert report.result.exit_code == 7 and report.console == b"kernel\n"
    assert "firmware" not in report.summary
    assert boot.open_images("none", kernel)[1].raw_address == C.RAM_BASE  # type: ignore[union-attr]
    firmware = raw_binary(build("record"), tmp_path / "fw.bin")
    _, after = boot.open_images(str(firmware), kernel)
    assert after is not None and after.raw_address == KERNEL_ADDRESS == after.entry


def test_a_firmware_that_never_reaches_the_kernel_says_so():
    spin, kernel = build("record-spin"), build("kernel")
    report = _run(bios=str(spin), kernel=str(kernel), max_instructions=5000)
    assert report.result.outcome is Outcome.BUDGET
    assert "never reached the kernel" in report.result.message
    assert f"{KERNEL_ADDRESS:#x}" in report.result.message
    assert report.summary["kernel_reached"] is False
    # the same budget end after the kernel ran: no such claim
    report = _run(bios=str(build("record")), kernel=str(kernel), max_instructions=30)
    assert report.result.outcome is Outcome.BUDGET
    assert "never reached" not in report.result.message
    assert report.summary["kernel_reached"] is True
    # a firmware alone (no kernel to reach) is not judged
    report = _run(bios=str(spin), max_instructions=1000)
    assert "never reached" not in report.result.message and "kernel_reached" in report.summary


def test_firmware_code_is_scanned_by_section_not_segment():
    fw = OPENSBI / "fw_jump.elf"
    if not fw.exists():
        pytest.skip("Debian's opensbi package is not installed")
    image = Image(fw)
    (text,) = image.code()  # .text alone: OpenSBI's one RWX segment also holds its data
    (segment,) = image.segments
    assert text[0] == segment.address == C.RAM_BASE and len(text[1]) < len(segment.data)
    end = C.RAM_BASE + len(text[1])

    def found(sites: Sites) -> list[int]:
        return [*sites.lrsc, *sites.amo, *sites.fence]

    sites = scan(image)
    assert sites.lrsc and sites.amo and all(C.RAM_BASE <= a < end for a in found(sites))
    # what sweeping the whole segment would do: decode data as code, and patch a trap into it
    md = capstone.Cs(capstone.CS_ARCH_RISCV, capstone.CS_MODE_RISCV64 | capstone.CS_MODE_RISCVC)
    everything = Sites()
    _sweep(md, segment.address, segment.data, everything)
    assert [a for a in found(everything) if a >= end]
    assert Image(OPENSBI / "fw_jump.bin", raw_address=C.RAM_BASE).code() == []


# ---- bad input: one line, status 64, the file and the addresses named ---------------------------


def _moved(elf: Path, tmp_path: Path, address: int) -> Path:
    """`elf` with its first loadable segment moved to `address`."""
    from elftools.elf.elffile import ELFFile

    raw = bytearray(elf.read_bytes())
    with elf.open("rb") as f:
        e = ELFFile(f)
        phoff, phentsize = e.header["e_phoff"], e.header["e_phentsize"]
        index = next(i for i, s in enumerate(e.iter_segments()) if s["p_type"] == "PT_LOAD")
    struct.pack_into("<QQ", raw, phoff + index * phentsize + 16, address, address)
    out = tmp_path / f"moved-{elf.name}"
    out.write_bytes(raw)
    return out


def test_bad_boot_inputs(tmp_path):
    record, kernel, low = build("record"), build("kernel"), build("kernel-low")
    outside_kernel = _moved(kernel, tmp_path, 0x40000000)
    outside_firmware = _moved(record, tmp_path, 0x90000000)
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(15 << 20))  # with --ram 16, past the device tree
    cases = [
        (["--bios", str(record), "--kernel", str(low)], low,
         ["overlaps the firmware", "0x80000000"]),
        (["--bios", str(kernel)], kernel, ["entry point 0x80200000 is not RAM_BASE"]),
        (["--kernel", str(outside_kernel)], outside_kernel,
         ["kernel segment 0x40000000", "outside guest RAM"]),
        (["--bios", str(outside_firmware)], outside_firmware,
         ["firmware segment 0x90000000", "outside guest RAM"]),
        (["--kernel", str(big), "--ram", "16"], big,
         ["15728640 bytes", "0x80000000", "raise --ram"]),
        ([str(kernel), "--kernel", str(kernel)], None, ["IMAGE is the same as --kernel IMAGE"]),
        (["--kernel", str(kernel), "--app", "hello"], None, ["--kernel FILE or --app NAME"]),
        (["--bios", str(tmp_path / "nofw.elf")], tmp_path / "nofw.elf",
         ["no such file", "--bios wants a firmware", "apt-get install opensbi"]),
        (["--kernel", str(tmp_path / "nok.bin")], tmp_path / "nok.bin",
         ["no such file", "--kernel wants"]),
    ]  # fmt: skip
    for args, named, fragments in cases:
        proc = cli("run", *args, "--out", str(tmp_path / "run"))
        assert proc.returncode == C.EMU_STATUS_BAD_INPUT, (args, proc.stderr)
        line = _one_line(proc)
        assert all(f in line for f in fragments), line
        if named is not None:
            assert str(named) in line, line
    raw = raw_binary(kernel, tmp_path / "k.bin")  # a raw binary is a kernel, never an IMAGE
    proc = cli("run", str(raw), "--out", str(tmp_path / "run"))
    assert proc.returncode == C.EMU_STATUS_BAD_INPUT and "not an ELF file" in _one_line(proc)


def qemu_memory_map() -> list[tuple[int, int, str]]:
    """(first, last, name) of every region in QEMU virt's system memory, from its monitor's
    `info mtree -f`."""
    import re
    import subprocess

    from emulator.reference.qemu import qemu_binary

    proc = subprocess.run(
        [qemu_binary(), "-M", "virt", "-bios", "none", "-S", "-display", "none", "-serial",
         "none", "-monitor", "stdio"],
        input="info mtree -f\nquit\n", capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    views = proc.stdout.split("FlatView #")
    (system,) = [v for v in views if 'AS "memory", root: system' in v]
    row = re.compile(r"^\s+([0-9a-f]{16})-([0-9a-f]{16}) \(prio \d+, [^)]+\): (\S+)", re.M)
    return [(int(a, 16), int(b, 16), name) for a, b, name in row.findall(system)]


@pytest.mark.qemu
def test_host_rom_is_where_qemu_virt_has_nothing_and_unicorn_maps_it():
    from emulator.reference.qemu import qemu_binary

    if qemu_binary() is None:
        pytest.skip("qemu-system-riscv64 is not installed")
    regions = qemu_memory_map()
    assert (C.MROM_BASE, C.MROM_BASE + C.MROM_SIZE - 1, "riscv_virt_board.mrom") in regions
    first, last = C.HOST_ROM_BASE, C.HOST_ROM_BASE + C.HOST_ROM_SIZE - 1
    assert not [r for r in regions if r[0] <= last and first <= r[1]]
    for device in (C.FINISHER_BASE, C.CLINT_BASE, C.PLIC_BASE, C.UART_BASE, C.RAM_BASE):
        assert [r for r in regions if r[0] <= device <= r[1]]  # the checker sees every region
    machine = Machine(Image(build("kernel-low")), 1, 64)
    uc = machine.harts[0].uc
    mapped = {(begin, end) for begin, end, _ in uc.mem_regions()}
    assert (first, last) in mapped and (C.MROM_BASE, C.MROM_BASE + C.MROM_SIZE - 1) in mapped
    assert bytes(uc.mem_read(C.MROM_BASE, len(machine.mask_rom))) == machine.mask_rom
