#!/usr/bin/env python3
"""Emulator speed: the machine against a bare unicorn loop over the same image, same run.

For 1, 4 and 8 harts and quanta 1 to 10000 it boots the `mips` app on the machine until every
hart is in its loop, snapshots RAM and registers, then runs the same number of instructions
twice from that state: on the full machine (scheduler, devices, trap entry, wfi handling) and
as a bare loop of emu_start calls over unicorn instances sharing one RAM, in the same
round-robin order. It prints MIPS for both and their ratio; the figure of merit is the
ratio at quantum 1000 (goal >= 0.8). When qemu-system-riscv64 is installed it also times QEMU
running the whole app.

    python scripts/bench_machine.py                 # full table
    python scripts/bench_machine.py --harts 4 --quanta 1000 --instructions 20e6
"""

from __future__ import annotations

import ctypes
import mmap
import time

from unicorn import UC_ARCH_RISCV, UC_MODE_RISCV64, UC_PROT_ALL, Uc
from unicorn import riscv_const as R
from unicorn.unicorn_py3.unicorn import uclib

from emulator.cli.scripts import checked, script_main, script_parser
from emulator.machine.hart import TCG_BUFFER_BYTES, HartState, ram_pointer
from emulator.machine.image import Image
from emulator.machine.machine import Machine
from emulator.reference.qemu import qemu_binary, run_on_qemu
from emulator.schedule.policies import RoundRobin
from emulator.session.options import at_least, between, count
from guest.contract import C
from toolchain import build

RAM_MIB = 64


WARMUP_PER_HART = 300_000  # past boot: every hart is in the app's loop by then


def measure(image: Image, harts: int, quantum: int, instructions: int) -> tuple[float, float]:
    """(machine MIPS, bare-loop MIPS) over the same `instructions`, from the same state."""
    m = Machine(image, harts, RAM_MIB)
    warm = m.run(RoundRobin(quantum), WARMUP_PER_HART * harts)
    assert warm.outcome == "budget" and all(h.state is HartState.RUNNING for h in m.harts)
    # Snapshot what the bare loop starts from: RAM (wfi sites are never reached from here on)
    # and every hart's registers.
    ram = mmap.mmap(-1, m.ram_size)
    ram[:] = m.ram[:]
    regs = [([h.uc.reg_read(r) for r in _GPRS], h.pc) for h in m.harts]

    m.stop = None
    timed = m.run(RoundRobin(quantum), warm.total_instructions + instructions)
    assert timed.outcome == "budget", f"the app ended inside the window: {timed.outcome}"
    ours = instructions / timed.wall_seconds / 1e6

    ucs, pcs = [], []
    for gprs, pc in regs:
        uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
        uc.ctl_set_tcg_buffer_size(TCG_BUFFER_BYTES)
        uc.mem_map_ptr(C.RAM_BASE, m.ram_size, UC_PROT_ALL, ram_pointer(ram))
        uc.reg_write(R.UC_RISCV_REG_MSTATUS, m.harts[0].uc.reg_read(R.UC_RISCV_REG_MSTATUS))
        for reg, value in zip(_GPRS, gprs, strict=True):
            uc.reg_write(reg, value)
        ucs.append(uc)
        pcs.append(pc)
    # The least a Python driver of unicorn can do: emu_start, then read pc straight through
    # ctypes (as the machine does; the binding's reg_read costs twice as much).
    value = ctypes.c_uint64()
    ref = ctypes.byref(value)
    read, pc_reg = uclib.uc_reg_read, R.UC_RISCV_REG_PC
    handles = [uc._uch for uc in ucs]
    done = 0
    start = time.perf_counter()
    while done < instructions:
        for h in range(harts):
            q = min(quantum, instructions - done)
            if q <= 0:
                break
            ucs[h].emu_start(pcs[h], 0, 0, q)
            read(handles[h], pc_reg, ref)
            pcs[h] = value.value
            done += q
    bare = instructions / (time.perf_counter() - start) / 1e6
    return ours, bare


_GPRS = [getattr(R, f"UC_RISCV_REG_X{i}") for i in range(1, 32)]


def qemu_seconds(path, harts: int) -> float | None:
    if qemu_binary() is None:
        return None
    start = time.perf_counter()
    run_on_qemu(path, harts, RAM_MIB, timeout=600)
    return time.perf_counter() - start


def main() -> None:
    p = script_parser(__doc__)
    p.add_argument(
        "--harts", type=checked(count, between(1, C.MAX_HARTS)), nargs="+", default=[1, 4, 8],
        metavar="N", help="hart counts (default 1 4 8)",
    )  # fmt: skip
    p.add_argument(
        "--quanta", type=checked(count, at_least(1)), nargs="+",
        default=[1, 10, 100, 1000, 10000], metavar="Q", help="quanta (default 1 10 100 1000 10000)",
    )  # fmt: skip
    p.add_argument(
        "--instructions", type=checked(count, at_least(1)), default=4_000_000, metavar="N",
        help="instructions per measurement at quantum >= 100, fewer below (default %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--iters", type=checked(count, at_least(1)), default=3_000_000, metavar="N",
        help="MIPS_ITERS for the app (default %(default)s)",
    )  # fmt: skip
    args = p.parse_args()
    path = build("mips", defines={"MIPS_ITERS": str(args.iters)})
    image = Image(path)
    print(f"image {path.name}; the same instructions on both sides of each row")
    print(
        f"{'harts':>5} {'quantum':>8} {'instr':>10} {'machine MIPS':>13} {'bare MIPS':>10} "
        f"{'ratio':>6}"
    )
    ratios = {}
    for harts in args.harts:
        for quantum in args.quanta:
            n = int(args.instructions * min(1.0, quantum / 100))
            ours, bare = measure(image, harts, quantum, n)
            ratios[harts, quantum] = ours / bare
            print(
                f"{harts:>5} {quantum:>8} {n:>10} {ours:>13.1f} {bare:>10.1f} {ours / bare:>6.2f}",
                flush=True,
            )
    at_1000 = [r for (h, q), r in ratios.items() if q == 1000]
    if at_1000:
        print(
            f"figure: machine / bare loop at quantum 1000 = {min(at_1000):.2f} (worst over "
            f"hart counts; goal >= 0.8)"
        )
    for harts in args.harts:
        full = Machine(image, harts, RAM_MIB).run(RoundRobin(1000), 10**12)
        q = qemu_seconds(path, harts)
        line = (
            f"whole app, {harts} harts: machine {full.wall_seconds:.2f} s "
            f"({full.total_instructions} instructions, exit {full.exit_code})"
        )
        if q is not None:
            line += f"; QEMU TCG {q:.2f} s (machine / QEMU time = {full.wall_seconds / q:.1f}x)"
        print(line, flush=True)


if __name__ == "__main__":
    script_main(main)
