"""Instruction sites the machine must act on, found by disassembling the image (capstone).

Linear sweep over each executable segment: compiler output keeps no data in .text, and a
word that does not decode is stepped over by two bytes. Byte-pattern search would also match
words that straddle two compressed instructions; decoding does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import capstone

from emulator.elf import Image

WFI = 0x10500073
CSR_MSTATUS, CSR_MIE = 0x300, 0x304
_CSRRW, _CSRRS, _CSRRWI, _CSRRSI = 1, 2, 5, 6


@dataclass
class Sites:
    wfi: list[int] = field(default_factory=list)
    # CSR writes that can enable an interrupt (set mstatus.MIE or a mie bit): address -> word.
    irq_enables: dict[int, int] = field(default_factory=dict)
    # lr.w/lr.d/sc.w/sc.d: address -> word (the machine executes these itself, see atomics.py).
    lrsc: dict[int, int] = field(default_factory=dict)
    # AMOs, and fences ordering earlier writes (pred has w: a release store's `fence rw,w`;
    # acquire fences are left alone): address -> word. Trapped only while monitoring.
    amo: dict[int, int] = field(default_factory=dict)
    fence: dict[int, int] = field(default_factory=dict)


def is_lrsc(word: int) -> bool:
    return word & 0x7F == 0x2F and (word >> 27) in (2, 3) and (word >> 12) & 7 in (2, 3)


def is_amo(word: int) -> bool:
    return word & 0x7F == 0x2F and (word >> 27) not in (2, 3) and (word >> 12) & 7 in (2, 3)


def is_fence(word: int) -> bool:
    return word & 0x707F == 0x000F  # FENCE (not FENCE.I, funct3 1)


def can_enable_interrupts(word: int) -> bool:
    """csrrw/csrrs(i) on mstatus or mie whose source is not x0 / zero."""
    if word & 0x7F != 0x73:
        return False
    funct3, source, csr = (word >> 12) & 7, (word >> 15) & 31, word >> 20
    return (
        csr in (CSR_MSTATUS, CSR_MIE)
        and funct3 in (_CSRRW, _CSRRS, _CSRRWI, _CSRRSI)
        and source != 0
    )


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
                if word == WFI:
                    sites.wfi.append(address)
                elif can_enable_interrupts(word):
                    sites.irq_enables[address] = word
                elif is_lrsc(word):
                    sites.lrsc[address] = word
                elif is_amo(word):
                    sites.amo[address] = word
                elif is_fence(word) and word & (1 << 24):
                    sites.fence[address] = word
            if offset < len(data):
                offset += 2  # not an instruction: step over it
    return sites
