"""LR/SC with hardware's reservation semantics, which unicorn does not have.

Unicorn's SC compares the value LR read (succeeding after another hart wrote A->B->A); real
harts and Spike track a reservation. Here every lr/sc in the image is replaced by a trap at
load time and executed by the hart in Python (`execute`), against a per-hart reservation:

* LR loads and reserves its address. SC succeeds only if its hart still holds a reservation
  on that address, and ends the reservation either way. A trap also ends it.
* A hart is never descheduled while holding a reservation: when its turn ends inside an LR/SC
  sequence, the machine runs it on, one instruction at a time, for up to LRSC_BOUND
  instructions (the ISA's constrained-loop bound, 16) until the SC; if none comes, the
  reservation is dropped. So no other hart can store between an LR and its SC — an SC never
  succeeds over another hart's store (ABA included) — and a constrained LR/SC loop always
  completes under every schedule, quantum 1 included: no livelock. Like Spike, a reservation
  held across a switch fails its SC, whether or not anyone wrote; the ISA allows that.

Cost: each LR or SC is a trap into Python instead of a translated instruction; measured here
(litmus-lrsc's LR/SC counter, 2 harts, 80 000 lr/sc) about 4 µs each, so 276 669 instructions
took 0.35 s against 0.008 s with unicorn's own (wrong) SC.
AMOs stay with unicorn: one hart runs at a time and a quantum never splits an instruction, so
they are atomic as they are.
"""

from __future__ import annotations

LRSC_BOUND = 16


def decode(word: int) -> tuple[bool, int, int, int, int]:
    """(is_sc, width in bytes, rd, rs1, rs2)."""
    return (
        (word >> 27) == 3,
        8 if (word >> 12) & 7 == 3 else 4,
        (word >> 7) & 31,
        (word >> 15) & 31,
        (word >> 20) & 31,
    )


# AMO funct5 -> name (the A extension, Zaamo).
AMO_OPS = {
    0b00001: "swap",
    0b00000: "add",
    0b00100: "xor",
    0b01100: "and",
    0b01000: "or",
    0b10000: "min",
    0b10100: "max",
    0b11000: "minu",
    0b11100: "maxu",
}


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) else value


def amo_result(op: str, old: int, operand: int, width: int) -> int:
    """The value an AMO writes, as an unsigned `width`-byte integer."""
    bits = 8 * width
    mask = (1 << bits) - 1
    old, operand = old & mask, operand & mask
    if op == "swap":
        new = operand
    elif op == "add":
        new = old + operand
    elif op == "xor":
        new = old ^ operand
    elif op == "and":
        new = old & operand
    elif op == "or":
        new = old | operand
    elif op in ("min", "max"):
        pick = min if op == "min" else max
        new = pick(_signed(old, bits), _signed(operand, bits))
    else:
        new = (min if op == "minu" else max)(old, operand)
    return new & mask


def store_after_fence(word: int) -> tuple[int, int, int] | None:
    """(rs1, offset, rs2) when `word` (the instruction after a fence) is sw/sd/c.sw/c.sd: the
    store half of a C11 release store (`fence rw,w; sw`)."""
    if word & 3 == 3:
        if word & 0x7F == 0x23 and (word >> 12) & 7 in (2, 3):
            offset = ((word >> 25) << 5) | ((word >> 7) & 31)
            offset -= 4096 if offset & 2048 else 0
            return (word >> 15) & 31, offset, (word >> 20) & 31
        return None
    word &= 0xFFFF
    funct3 = word >> 13
    if word & 3 == 0 and funct3 in (6, 7):  # c.sw, c.sd
        offset = ((word >> 10) & 7) << 3
        offset |= (
            ((word >> 6) & 1) << 2 | ((word >> 5) & 1) << 6
            if funct3 == 6
            else ((word >> 5) & 3) << 6
        )
        return 8 + ((word >> 7) & 7), offset, 8 + ((word >> 2) & 7)
    return None
