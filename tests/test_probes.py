"""Function probes: the displaced instruction behaves as the CPU would, and probing does not
change what a run does, instruction for instruction."""

from __future__ import annotations

import subprocess

import pytest
from conftest import run_app
from elftools.elf.elffile import ELFFile
from unicorn import UC_ARCH_RISCV, UC_MODE_RISCV64, UC_PROT_ALL, Uc
from unicorn import riscv_const as R

from emulator.machine.isa import (
    execute_alu,
    execute_control_flow,
    is_control_flow,
    is_simple_alu,
)
from toolchain.compiler import CompilerMissing, find_compiler

# Control-flow instructions a function can start with, each at a known offset, with targets.
ASM = """
    .option rvc
    .text
    .globl _start
_start:
    auipc a5, 0x12345
    auipc a0, 0xfffff
    jal ra, far
    jal x0, _start
    jalr t0, 12(a1)
    jalr x0, -4(a1)
    beq a0, a1, far
    bne a0, a1, _start
    blt a2, a3, far
    bge a2, a3, _start
    bltu a2, a3, far
    bgeu a2, a3, far
    c.j far
    c.j _start
    c.beqz a0, far
    c.bnez a0, _start
    c.beqz a4, _start
    c.jr a1
    c.jalr a2
    c.addi sp, -16
    addi sp, sp, -32
    c.mv a5, a0
    c.li a4, -7
    c.add a3, a2
    c.addi a1, 9
    addi t1, a2, -2048
    c.sdsp ra, 8(sp)
    ld a6, 16(sp)
far:
    nop
"""
BASE = 0x8000_0000
SP = 0x8000_8000
REGS = {"a0": 5, "a1": 0x8000_1002, "a2": 0x8000_0100, "a3": (1 << 64) - 1, "a4": 0}


def _assemble(tmp_path, asm: str = ASM) -> tuple[list[tuple[int, int, int]], bytes]:
    """(offset, word, length) of each instruction in `asm`, and the section's bytes."""
    cc = find_compiler()
    src, obj = tmp_path / "cf.S", tmp_path / "cf.o"
    src.write_text(asm)
    subprocess.run([*cc.command, *cc.flags(), "-c", str(src), "-o", str(obj)], check=True)
    with obj.open("rb") as f:
        text = ELFFile(f).get_section_by_name(".text").data()
    out, off = [], 0
    while off < len(text):
        word = int.from_bytes(text[off : off + 4], "little")
        length = 4 if word & 3 == 3 else 2
        out.append((off, word & ((1 << 8 * length) - 1), length))
        off += length
    return out, text


def test_emulated_displaced_instructions_match_the_cpu(tmp_path):
    try:
        insns, text = _assemble(tmp_path)
    except CompilerMissing as e:  # pragma: no cover - no assembler means no test
        pytest.skip(str(e))
    names = {n: getattr(R, f"UC_RISCV_REG_{n.upper()}") for n in ("a0", "a1", "a2", "a3", "a4")}
    count = 0
    for offset, word, _ in insns:
        if not (is_control_flow(word) or is_simple_alu(word)):
            continue
        count += 1
        uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
        uc.mem_map(BASE, 0x10000, UC_PROT_ALL)
        uc.mem_write(BASE, text)
        for n, v in REGS.items():
            uc.reg_write(names[n], v)
        uc.reg_write(R.UC_RISCV_REG_SP, SP)
        pc = BASE + offset
        uc.emu_start(pc, 0, 0, 1)
        regs = {i: (REGS.get(f"a{i - 10}") if 10 <= i <= 14 else 0) for i in range(32)}
        regs[2] = SP
        written: dict[int, int] = {}

        def read(i, regs=regs):
            return regs[i] or 0

        def write(i, v, written=written):
            written[i] = v & ((1 << 64) - 1)

        run_it = execute_control_flow if is_control_flow(word) else execute_alu
        next_pc = run_it(word, pc, read, write)
        assert next_pc == uc.reg_read(R.UC_RISCV_REG_PC), (hex(word), hex(next_pc))
        for i, v in written.items():
            assert v == uc.reg_read(getattr(R, f"UC_RISCV_REG_X{i}")), (hex(word), i)
    # every control-flow and register-only line of ASM (the assembler turns a branch to a label
    # it cannot place yet into an inverted branch over a jump: more instructions than lines)
    assert count >= 19 + 7
    # memory accesses are left to run out of line (c.sdsp, ld); c.nop is c.addi x0: emulated
    assert sum(1 for _, w, _ in insns if not (is_control_flow(w) or is_simple_alu(w))) == 2


@pytest.mark.parametrize("config", ["bbuddy-spin", "bbuddy-lockfree"])
def test_tracing_does_not_change_the_run(config):
    plain = run_app(
        "alloc-tests", 4, config=config, schedule="random", quantum=5, seed=3,
        ram_mib=128, max_instructions=200_000_000, ALLOC_STRESS_ITERS=5,
    )  # fmt: skip
    traced = run_app(
        "alloc-tests", 4, config=config, schedule="random", quantum=5, seed=3,
        ram_mib=128, max_instructions=200_000_000, ALLOC_STRESS_ITERS=5,
        trace=True, check=True,
    )  # fmt: skip
    assert plain.result.outcome == traced.result.outcome == "exited"
    assert traced.allocs["harts"][0]["calls"] > 50
    assert traced.result.instructions == plain.result.instructions
    assert traced.result.schedule_digest == plain.result.schedule_digest
    assert traced.console == plain.console


@pytest.mark.configs("mimalloc+bbuddy-spin")
def test_probe_traps_are_uncounted_at_every_turn_boundary():
    """At quantum 1 every probe trap (entry, out-of-line slot, trampoline) falls at a turn's
    edge: taking it off unicorn's count must still leave exactly one guest instruction per
    turn, so the traced run takes the plain run's turns one for one."""
    args = dict(config="mimalloc+bbuddy-spin", schedule="random", quantum=1, seed=2)
    plain = run_app("stress", 2, **args)
    traced = run_app("stress", 2, **args, trace=True, check=True)
    assert plain.result.outcome == traced.result.outcome == "exited"
    assert sum(h["calls"] for h in traced.allocs["harts"]) > 100
    assert traced.result.quanta == plain.result.quanta
    assert traced.result.instructions == plain.result.instructions
    assert traced.result.schedule_digest == plain.result.schedule_digest
