"""Instruction sites the machine must act on, found by disassembling the image (capstone).

Linear sweep over each executable segment: compiler output keeps no data in .text, and a
word that does not decode is stepped over by two bytes. Byte-pattern search would also match
words that straddle two compressed instructions; decoding does not.
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


def scan(image: Image) -> Sites:
    md = capstone.Cs(capstone.CS_ARCH_RISCV, capstone.CS_MODE_RISCV64 | capstone.CS_MODE_RISCVC)
    sites = Sites()
    for seg in image.segments:
        if not seg.executable:
            continue
        data, offset = seg.data, 0
        while offset < len(data):
            for address, size, _, _ in md.disasm_lite(data[offset:], seg.address + offset):
                offset = address - seg.address + size
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
    return sites
