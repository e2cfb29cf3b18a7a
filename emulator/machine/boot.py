"""The QEMU virt boot convention (QEMU 7.2: hw/riscv/boot.c and virt.c): where the firmware and
the kernel go, the reset ROM every hart starts in, and the fw_dynamic info block OpenSBI reads.

* `--bios FILE`: an ELF is loaded at its own addresses, a raw binary at RAM_BASE. Every hart
  starts at the reset vector in the mask ROM (MROM_BASE), in M mode with all registers zero;
  the vector sets a0 = mhartid, a1 = the FDT, a2 = the fw_dynamic info block and jumps to
  RAM_BASE (QEMU jumps there whatever the firmware ELF's entry says, so an ELF whose entry is
  elsewhere is refused here rather than entered at the wrong place).
* `--kernel FILE`: an ELF at its own addresses, a raw binary at the first KERNEL_ALIGN boundary
  at or after the firmware's end: 0x80200000 after OpenSBI, RAM_BASE with `--bios none`.
  fw_dynamic's next_addr is the kernel's lowest load address (QEMU's choice, not its ELF entry),
  next_mode S; fw_jump ignores it and jumps to the address it was built with (0x80200000).
* `--bios none`: the same reset ROM is there, but the harts start in the kernel directly, at its
  ELF entry, with a0, a1 and a2 as the vector would leave them. QEMU runs the vector's six
  instructions and jumps to RAM_BASE instead; for the bundled images, whose entry is RAM_BASE,
  the only difference is those six instructions, which no count here includes.
"""

from __future__ import annotations

import struct
from pathlib import Path

from emulator.machine.errors import BadInput
from emulator.machine.image import Image
from guest.contract import C

FW_DYNAMIC_MAGIC = 0x4942534F  # "OSBI"
FW_DYNAMIC_VERSION = 2  # version 2 added boot_hart
FW_DYNAMIC_NEXT_MODE_S = 1

# QEMU's RV64 reset vector, word for word; the two doublewords after it are its data.
RESET_CODE = (
    0x00000297,  # auipc t0, 0           t0 = the vector's own address
    0x02828613,  # addi  a2, t0, 40      a2 = the fw_dynamic info block after the data
    0xF1402573,  # csrr  a0, mhartid
    0x0202B583,  # ld    a1, 32(t0)      a1 = the FDT address
    0x0182B283,  # ld    t0, 24(t0)      t0 = the start address
    0x00028067,  # jr    t0
)
FW_DYNAMIC_INFO = C.MROM_BASE + 4 * len(RESET_CODE) + 16


def fw_dynamic_info(next_addr: int, boot_hart: int = 0) -> bytes:
    """struct fw_dynamic_info as QEMU 7.2 fills it on RV64: magic, version, next_addr,
    next_mode, options, boot_hart (OpenSBI's include/sbi/fw_dynamic.h)."""
    return struct.pack(
        "<6Q",
        FW_DYNAMIC_MAGIC,
        FW_DYNAMIC_VERSION,
        next_addr,
        FW_DYNAMIC_NEXT_MODE_S,
        0,
        boot_hart,
    )


def reset_rom(fdt_address: int, next_addr: int) -> bytes:
    """The mask ROM's contents: the reset vector, its start and FDT addresses, the info block."""
    code = struct.pack(f"<{len(RESET_CODE)}I", *RESET_CODE)
    rom = code + struct.pack("<QQ", C.RAM_BASE, fdt_address) + fw_dynamic_info(next_addr)
    assert len(rom) == FW_DYNAMIC_INFO + 48 - C.MROM_BASE <= C.MROM_SIZE
    return rom


def kernel_address(firmware: Image | None) -> int:
    """Where a raw kernel binary goes: the first KERNEL_ALIGN boundary at or after the firmware."""
    end = firmware.end if firmware is not None else C.RAM_BASE
    return (end + C.KERNEL_ALIGN - 1) & ~(C.KERNEL_ALIGN - 1)


WANTS = {
    "--bios": "wants a firmware file, an ELF or a raw binary, or none; Debian's OpenSBI is "
    "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf, from `apt-get install opensbi`",
    "--kernel": "wants a kernel file, an ELF or a raw binary",
}


def open_images(bios: str, kernel: str | Path | None) -> tuple[Image | None, Image | None]:
    """(firmware, kernel) for `--bios none|FILE` and `--kernel FILE` (either may be None)."""
    for flag, path in (("--bios", None if bios == "none" else bios), ("--kernel", kernel)):
        if path is not None and not Path(path).is_file():
            raise BadInput(f"{path}: no such file ({flag} {WANTS[flag]})")
    firmware = None
    if bios != "none":
        firmware = Image(bios, raw_address=C.RAM_BASE)
        if firmware.entry != C.RAM_BASE:
            raise BadInput(
                f"{firmware.path}: entry point {firmware.entry:#x} is not RAM_BASE "
                f"{C.RAM_BASE:#x}, where QEMU virt's reset ROM enters the firmware; link the "
                f"firmware's entry at {C.RAM_BASE:#x}"
            )
    image = Image(kernel, raw_address=kernel_address(firmware)) if kernel else None
    return firmware, image


def check_layout(firmware: Image | None, kernel: Image | None, ram_size: int, top: int) -> None:
    """Bad input unless every image lies in RAM below `top` (the FDT) and the kernel stays
    clear of the firmware (bss included): one line naming the file and the addresses."""
    for role, image in (("firmware", firmware), ("kernel", kernel)):
        if image is None:
            continue
        if image.raw_address is not None and not C.RAM_BASE <= image.end <= top:
            raise BadInput(
                f"{image.path}: a raw binary of {len(image.raw)} bytes loaded at "
                f"{image.raw_address:#x} ends at {image.end:#x}, past the room RAM leaves it "
                f"below the device tree at {top:#x} (--ram {ram_size >> 20}); raise --ram"
            )
        for seg in image.segments:
            start, end = seg.address, seg.address + seg.memsize
            if start < C.RAM_BASE or end > top:
                more = " or raise --ram" if start >= C.RAM_BASE else ""
                raise BadInput(
                    f"{image.path}: {role} segment {start:#x}-{end:#x} lies outside guest RAM "
                    f"{C.RAM_BASE:#x}-{top:#x} (--ram {ram_size >> 20}); link the image "
                    f"at RAM_BASE {C.RAM_BASE:#x}{more}"
                )
        if not C.RAM_BASE <= image.entry < top:
            raise BadInput(f"{image.path}: entry point {image.entry:#x} is outside guest RAM")
    if firmware is None or kernel is None:
        return
    for seg in kernel.segments:
        for fw in firmware.segments:
            start = max(seg.address, fw.address)
            end = min(seg.address + seg.memsize, fw.address + fw.memsize)
            if start < end:
                raise BadInput(
                    f"{kernel.path}: the kernel's {kernel.kind} at {seg.address:#x}-"
                    f"{seg.address + seg.memsize:#x} overlaps the firmware {firmware.path.name} "
                    f"at {fw.address:#x}-{fw.address + fw.memsize:#x}; load the kernel at or "
                    f"above {kernel_address(firmware):#x}"
                )
