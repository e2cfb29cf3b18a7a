"""The A extension as the machine executes it: LR/SC with hardware's reservation semantics
(which unicorn does not have) and, while someone watches atomics, AMOs and write fences.

Unicorn's SC compares the value LR read (succeeding after another hart wrote A->B->A); real
harts and Spike track a reservation. Here every lr/sc in the image is replaced by a trap at
load time (sites.py) and executed by `execute` against a per-hart reservation:

* LR loads and reserves its address. SC succeeds only if its hart still holds a reservation
  on that address, and ends the reservation either way. A trap also ends it.
* A hart is never descheduled while holding a reservation: when its turn ends inside an LR/SC
  sequence, `finish_reservation` runs it on, one instruction at a time, for up to LRSC_BOUND
  instructions (the ISA's constrained-loop bound, 16) until the SC; if none comes, the
  reservation is dropped. So no other hart can store between an LR and its SC — an SC never
  succeeds over another hart's store (ABA included) — and a constrained LR/SC loop always
  completes under every schedule, quantum 1 included: no livelock. Like Spike, a reservation
  held across a switch fails its SC, whether or not anyone wrote; the ISA allows that.

AMOs stay with unicorn unless an instrument watches atomics (Hooks.watch_atomics): one hart runs
at a time and a quantum never splits an instruction, so they are atomic as they are. Watched,
each AMO and each fence ordering earlier writes is executed here and reported.

Cost: each LR or SC is a trap into Python instead of a translated instruction; measured
(litmus-lrsc's LR/SC counter, 2 harts, 80 000 lr/sc) about 4 µs each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emulator.machine import events as ev
from emulator.machine.isa import (
    AMO_OPS,
    amo_result,
    as_register,
    atomic_fields,
    is_fence,
    store_after_fence,
)
from guest.contract import C

if TYPE_CHECKING:
    from emulator.machine.hart import Hart

LRSC_BOUND = 16


def execute(hart: Hart, word: int, epc: int) -> None:
    """An lr/sc, AMO or fence the loader replaced with a trap; pc is already past it."""
    if is_fence(word):
        _fence(hart, word, epc)
        return
    funct5, width, rd, rs1, rs2 = atomic_fields(word)
    address = hart.x(rs1)
    kind = "sc" if funct5 == 3 else "lr" if funct5 == 2 else "amo"
    what = kind if kind != "amo" else f"amo{AMO_OPS[funct5]}"
    offset = _offset(hart, epc, what, address, width)
    if offset is None:
        return
    ram = hart.host.ram
    old = int.from_bytes(ram[offset : offset + width], "little")
    ok = True
    hooks = hart.host.hooks
    if kind == "sc":
        ok = hart.reservation == address
        hart.reservation = None
        value = hart.x(rs2) & ((1 << 8 * width) - 1)
        if ok:
            ram[offset : offset + width] = value.to_bytes(width, "little")
            hart.sc_successes += 1
        else:
            hart.sc_failures += 1
        hart.set_x(rd, 0 if ok else 1)
        charge = "sc", ok
    elif kind == "lr":
        value = 0
        hart.set_x(rd, as_register(old, width))
        hart.reservation = address
        hart.loads_reserved += 1
        charge = "lr", False
    else:
        op = AMO_OPS[funct5]
        value = hart.x(rs2) & ((1 << 8 * width) - 1)
        ram[offset : offset + width] = amo_result(op, old, value, width).to_bytes(width, "little")
        hart.set_x(rd, as_register(old, width))
        charge = "amo", True
    if hooks.charge is not None:
        hooks.charge(hart, charge[0], address, charge[1])
    if hooks.bus.wants(ev.Atomic):
        op = AMO_OPS[funct5] if kind == "amo" else f"{kind}.{'d' if width == 8 else 'w'}"
        hooks.bus.emit(
            ev.Atomic(hart.id, hart.now(), epc, kind, op, width, address, old, value, ok)
        )


def _fence(hart: Hart, word: int, epc: int) -> None:
    """A fence (a no-op here: the machine is sequentially consistent), reported with the
    store that follows it, if any: `fence rw,w; sw` is how C11 writes a release store."""
    hooks = hart.host.hooks
    if hooks.charge is not None:
        hooks.charge(hart, "fence", 0, False)
    if not hooks.bus.wants(ev.Atomic):
        return
    store = store_after_fence(hart.host.instruction_at(epc + 4), hart.x)
    address, value = store if store is not None else (-1, 0)
    hooks.bus.emit(ev.Atomic(hart.id, hart.now(), epc, "fence", "fence", 0, address, 0, value))


def _offset(hart: Hart, epc: int, what: str, address: int, width: int) -> int | None:
    """RAM offset of an atomic access, or None after reporting a fault."""
    offset = address - C.RAM_BASE
    if address % width == 0 and 0 <= offset <= hart.host.ram_size - width:
        return offset
    where = "misaligned" if address % width else "outside RAM"
    hart.fault(epc, f"{what} at {where} address {address:#x}")
    return None


def finish_reservation(hart: Hart) -> int:
    """The turn ended between an LR and its SC: run the hart on to the SC, at most LRSC_BOUND
    instructions, so no other hart can come between. Returns the instructions it ran."""
    retired = 0
    while hart.reservation is not None and retired < LRSC_BOUND and hart.can_run_on():
        retired += hart.run(1)
    if hart.reservation is not None:
        hart.reservation = None
        hart.reservations_dropped += 1
    return retired
