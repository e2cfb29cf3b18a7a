"""Where a memory fault came from, in the guest's terms: the region an address lies in (or that
none does), and for an instruction fetch from nowhere, the jump that went there.

Unicorn reports an instruction fetch from an unmapped address with the pc already at that
address: the instruction that jumped is gone from its state, and keeping the last pc on every
block would cost a hook per block. The registers still say where the jump came from, though,
because it was the last instruction executed: a linked jump (a call) left its own return
address in its link register, and an unlinked one (jr, ret, a branch) computes its target from
registers nothing has written since. So the image's code is decoded once, when a run faults,
and each jump is asked where it would go now; the jumps that go to the faulting address are
the candidates. A call is then certain; for unlinked jumps the function called last (from ra)
narrows the choice, and several that remain are named as such, never guessed between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from emulator.machine.devices import Device
from emulator.machine.isa import MASK64, execute_control_flow, is_control_flow, length_of, sext
from guest.contract import C

ReadReg = Callable[[int], int]
RA = 1


@dataclass(frozen=True)
class Region:
    base: int
    size: int
    name: str
    writable: bool = True

    def __contains__(self, address: int) -> bool:
        return 0 <= address - self.base < self.size


DEVICE_NAMES = {
    "uart": "the UART",
    "clint": "the CLINT",
    "plic": "the PLIC",
    "test-finisher": "the test finisher",
}


def memory_map(ram_size: int, devices: Iterable[Device]) -> list[Region]:
    """Every region the machine maps, by the name messages give it."""
    regions = [
        Region(C.MROM_BASE, C.MROM_SIZE, "the mask ROM", writable=False),
        Region(C.HOST_ROM_BASE, C.HOST_ROM_SIZE, "the host ROM", writable=False),
        Region(C.RAM_BASE, ram_size, "RAM"),
    ]
    for dev in devices:
        regions.append(Region(dev.base, dev.size, DEVICE_NAMES.get(dev.name, dev.name)))
    return sorted(regions, key=lambda r: r.base)


def describe_address(address: int, regions: list[Region]) -> str:
    """`unmapped address 0x84000000, past the end of RAM (...)`, `0x80000 in the host ROM
    (read-only)`, `unmapped address 0x3000000, where no device is mapped (between the CLINT and
    the PLIC)`."""
    for r in regions:
        if address in r:
            return f"{address:#x} in {r.name}" + ("" if r.writable else " (read-only)")
    ram = next(r for r in regions if r.name == "RAM")
    if ram.base + ram.size <= address < ram.base + 2 * ram.size:
        mib = ram.size >> 20
        return (
            f"unmapped address {address:#x}, past the end of RAM "
            f"({ram.base:#x}-{ram.base + ram.size - 1:#x}: {mib} MiB; --ram gives more)"
        )
    below = [r for r in regions if r.base + r.size <= address]
    above = [r for r in regions if r.base > address]
    if below and above:
        between = f" (between {below[-1].name} and {above[0].name})"
    elif below:
        between = f" (past {below[-1].name})"
    else:
        between = f" (below {above[0].name})" if above else ""
    return f"unmapped address {address:#x}, where no device is mapped{between}"


@dataclass(frozen=True)
class Jump:
    pc: int
    word: int
    kind: str  # "call", "jump", "return", "branch"


def _rd(word: int) -> int:
    """The register a jump links into (0: none)."""
    if length_of(word) == 4:
        return (word >> 7) & 31 if word & 0x7F in (0x6F, 0x67) else 0
    # c.jalr links into ra; c.j, c.jr, c.beqz and c.bnez link nowhere (c.jal is RV32 only)
    is_cjalr = word & 3 == 2 and (word >> 13) & 7 == 4 and (word >> 12) & 1
    return RA if is_cjalr else 0


def _rs1(word: int) -> int:
    if length_of(word) == 4:
        return (word >> 15) & 31 if word & 0x7F == 0x67 else 0
    if word & 3 == 2:  # c.jr, c.jalr
        return (word >> 7) & 31
    return 0


def _kind(word: int) -> str:
    rd, rs1 = _rd(word), _rs1(word)
    is_branch = (length_of(word) == 4 and word & 0x7F == 0x63) or (
        word & 3 == 1 and (word >> 13) & 7 in (6, 7)
    )
    if is_branch:
        return "branch"
    if rd:
        return "call"
    return "return" if rs1 == RA else "jump"


def _jumps(code: Iterable[tuple[int, bytes]]) -> Iterable[tuple[int, int, int]]:
    """(pc, instruction, the instruction before it) of every jump and branch in the code,
    decoded from each stretch's start (code holds no data here: the ELF's executable
    sections)."""
    for base, data in code:
        i, before = 0, 0
        while i + 2 <= len(data):
            word = int.from_bytes(data[i : i + 2], "little")
            size = length_of(word)
            if size == 4:
                if i + 4 > len(data):
                    break
                word = int.from_bytes(data[i : i + 4], "little")
            if is_control_flow(word) and not _is_auipc(word):
                yield base + i, word, before
            i, before = i + size, word


def _is_auipc(word: int) -> bool:
    return length_of(word) == 4 and word & 0x7F == 0x17


def _far_call_target(pc: int, word: int, before: int) -> int | None:
    """The target of `auipc r, hi; jalr r, lo(r)` (a call or tail call the linker did not
    relax): known from the instructions alone, whatever r holds now."""
    r = _rs1(word)
    if length_of(word) != 4 or word & 0x7F != 0x67 or not _is_auipc(before):
        return None
    if (before >> 7) & 31 != r:
        return None
    return (pc - 4 + sext(before & 0xFFFFF000, 32) + sext(word >> 20, 12)) & MASK64 & ~1


def jumps_to(target: int, code: Iterable[tuple[int, bytes]], read: ReadReg) -> list[Jump]:
    """The jumps in `code` that, with the registers as they are now, went to `target` as the
    last instruction executed: a linked jump only if its link register holds its own return
    address (it was written by that jump and nothing since). When a call is among them, only
    the calls: a link register that points just past a jump there is the stronger witness."""
    found = []
    for pc, word, before in _jumps(code):
        rd, size = _rd(word), length_of(word)
        if rd and read(rd) != pc + size:
            continue
        if rd and rd == _rs1(word):  # the jump overwrote its own base: only auipc+jalr is known
            went = _far_call_target(pc, word, before)
        else:
            went = execute_control_flow(word, pc, read, lambda _r, _v: None)
        if went != target or target == pc + size:  # elsewhere, or a branch not taken
            continue
        found.append(Jump(pc, word, _kind(word)))
    calls = [j for j in found if j.kind == "call"]
    return calls or found


def callee_of_return_address(ra: int, instruction_at: Callable[[int], int]) -> int | None:
    """The function the call just before `ra` called, when the instructions say it (a jal, an
    auipc+jalr pair); None otherwise (a call through a register since reused)."""
    word = instruction_at(ra - 4)
    if length_of(word) != 4 or _rd(word) != RA:
        return None
    if word & 0x7F == 0x6F:  # jal
        return execute_control_flow(word, ra - 4, lambda _r: 0, lambda _r, _v: None)
    return _far_call_target(ra - 4, word, instruction_at(ra - 8))
