"""Instruction sites the machine must act on, found by disassembling the images (capstone).

Linear sweep over each image's code (Image.code: its executable sections): compiler output
keeps no data in .text, and a word that does not decode is stepped over by two bytes.
Byte-pattern search would also match words that straddle two compressed instructions; decoding
does not. A raw binary has no sections to say where its code ends, so it is not scanned: its
sites run as unicorn runs them (its LR/SC, for one, with unicorn's value-based SC).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import capstone

from emulator.machine.image import Image
from emulator.machine.isa import is_amo, is_lrsc, is_write_fence


@dataclass
class Sites:
    # lr.w/lr.d/sc.w/sc.d: address -> word (the machine executes these itself, see atomics.py).
    lrsc: dict[int, int] = field(default_factory=dict)
    # AMOs, and fences ordering earlier writes (pred has w: a release store's `fence rw,w`;
    # acquire fences are left alone): address -> word. Trapped only while monitoring.
    amo: dict[int, int] = field(default_factory=dict)
    fence: dict[int, int] = field(default_factory=dict)


def scan(*images: Image | None) -> Sites:
    md = capstone.Cs(capstone.CS_ARCH_RISCV, capstone.CS_MODE_RISCV64 | capstone.CS_MODE_RISCVC)
    sites = Sites()
    for image in images:
        for base, data in image.code() if image is not None else ():
            _sweep(md, base, data, sites)
    return sites


def _sweep(md: capstone.Cs, base: int, data: bytes, sites: Sites) -> None:
    offset = 0
    while offset < len(data):
        for address, size, _, _ in md.disasm_lite(data[offset:], base + offset):
            offset = address - base + size
            if size != 4:
                continue
            word = int.from_bytes(data[offset - 4 : offset], "little")
            if is_lrsc(word):
                sites.lrsc[address] = word
            elif is_amo(word):
                sites.amo[address] = word
            elif is_write_fence(word):
                sites.fence[address] = word
        if offset < len(data):
            offset += 2  # not an instruction: step over it
