"""Function probes: the displaced instruction behaves as the CPU would, and probing does not
change what a run does, instruction for instruction."""

from __future__ import annotations

import subprocess

import pytest
from conftest import run_app
from elftools.elf.elffile import ELFFile
from unicorn import UC_ARCH_RISCV, UC_MODE_RISCV64, UC_PROT_ALL, Uc
from unicorn import riscv_const as R

from emulator.probes import (
    _is_control_flow,
    emulate_alu,
    emulate_control_flow,
    emulate_more,
    emulated,
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
    for offset, word, length in insns:
        if not emulated(word, length):
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

        run_it = emulate_control_flow if _is_control_flow(word, length) else emulate_alu
        next_pc = run_it(word, length, pc, read, write)
        assert next_pc == uc.reg_read(R.UC_RISCV_REG_PC), (hex(word), hex(next_pc))
        for i, v in written.items():
            assert v == uc.reg_read(getattr(R, f"UC_RISCV_REG_X{i}")), (hex(word), i)
    # every control-flow and register-only line of ASM (the assembler turns a branch to a label
    # it cannot place yet into an inverted branch over a jump: more instructions than lines)
    assert count >= 19 + 7
    # memory accesses are left to run out of line (c.sdsp, ld); c.nop is c.addi x0: emulated
    assert sum(1 for _, w, n in insns if not emulated(w, n)) == 2


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


ASM_MORE = """
    .option rvc
    .text
    .globl _start
_start:
    add a5, a0, a3
    sub a5, a0, a3
    sll a5, a3, a0
    slt a5, a3, a0
    sltu a5, a3, a0
    xor a5, a3, a2
    srl a5, a3, a0
    sra a5, a3, a0
    or a5, a2, a0
    and a5, a2, a3
    addw a5, a0, a3
    subw a5, a0, a3
    sllw a5, a3, a0
    srlw a5, a3, a0
    sraw a5, a3, a0
    slli a5, a3, 63
    srli a5, a3, 7
    srai a5, a3, 7
    slti a5, a3, -1
    sltiu a5, a0, 9
    xori a5, a2, -1
    ori a5, a2, 0x7f
    andi a5, a3, -16
    addiw a5, a3, 1
    slliw a5, a3, 31
    srliw a5, a3, 3
    sraiw a5, a3, 3
    sd a3, 8(a1)
    sw a3, -4(a1)
    sh a3, 2(a1)
    sb a3, 1(a1)
    c.sd a3, 16(a1)
    c.sw a2, 20(a1)
    c.sdsp a3, 24(sp)
    c.swsp a3, 12(sp)
    mul a5, a0, a3
"""


def test_emulated_alu_and_stores_after_a_return_match_the_cpu(tmp_path):
    """The instruction after a probed call is emulated at the trampoline when it can be: every
    RV64I register ALU form and every store, compared with unicorn on the same state."""
    try:
        insns, text = _assemble(tmp_path, ASM_MORE)
    except CompilerMissing as e:  # pragma: no cover
        pytest.skip(str(e))
    regs0 = {10: 5, 11: 0x8000_1008, 12: 0x8000_0100, 13: 0xF234_5678_9ABC_DEF1, 14: 0, 2: SP}
    handled = 0
    for offset, word, length in insns:
        uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
        uc.mem_map(BASE, 0x10000, UC_PROT_ALL)
        uc.mem_write(BASE, text)
        for i, v in regs0.items():
            uc.reg_write(getattr(R, f"UC_RISCV_REG_X{i}"), v)
        pc = BASE + offset
        uc.emu_start(pc, 0, 0, 1)
        regs = dict(regs0)
        mem = bytearray(uc.mem_read(BASE, 0x10000))
        mem[:] = text + bytes(0x10000 - len(text))

        def store(address, width, value, mem=mem):
            mem[address - BASE : address - BASE + width] = value.to_bytes(width, "little")
            return True

        def write(i, v, regs=regs):
            regs[i] = v

        nxt = emulate_more(word, length, pc, lambda i, regs=regs: regs.get(i, 0), write, store)
        if (word & 0xFE00707F) == 0x02000033:  # mul: left to unicorn
            assert nxt is None
            continue
        handled += 1
        assert nxt == uc.reg_read(R.UC_RISCV_REG_PC), hex(word)
        for i in range(1, 32):
            assert regs.get(i, 0) == uc.reg_read(getattr(R, f"UC_RISCV_REG_X{i}")), (hex(word), i)
        assert bytes(mem) == bytes(uc.mem_read(BASE, 0x10000)), hex(word)
    assert handled == 35
