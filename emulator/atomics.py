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

Cost: each LR or SC is a trap into Python (about 3 µs) instead of a translated instruction.
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
