"""Every bad input and every guest failure is one clear line on stderr and a documented status."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import pytest
from conftest import ROOT, cli

from guest.contract import C
from toolchain import build


def _one_line(proc) -> str:
    err = proc.stderr.strip()
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _elf_header(elf_class: int, machine: int) -> bytes:
    ident = b"\x7fELF" + bytes([elf_class, 1, 1, 0]) + bytes(8)
    if elf_class == 2:
        rest = struct.pack(
            "<HHIQQQIHHHHHH", 2, machine, 1, 0x80000000, 0, 0, 0, 64, 56, 0, 64, 0, 0
        )
    else:
        rest = struct.pack(
            "<HHIIIIIHHHHHH", 2, machine, 1, 0x80000000, 0, 0, 0, 52, 32, 0, 40, 0, 0
        )
    return ident + rest


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        (b"#!/bin/sh\necho not an image\n", "not an ELF file"),
        (_elf_header(2, 62), "an ELF for x86-64, not RISC-V"),
        (_elf_header(1, 243), "32-bit RISC-V ELF"),
    ],
    ids=["missing", "not-elf", "x86-64", "riscv32"],
)
def test_bad_images(tmp_path, content, expected):
    image = tmp_path / "image.elf"
    if content is not None:
        image.write_bytes(content)
    proc = cli("run", str(image), "--out", str(tmp_path / "run"))
    assert proc.returncode == C.EMU_STATUS_BAD_INPUT
    line = _one_line(proc)
    assert expected in line and str(image) in line


def test_segment_outside_ram(tmp_path):
    from elftools.elf.elffile import ELFFile

    raw = bytearray(build("hello").read_bytes())
    with build("hello").open("rb") as f:
        elf = ELFFile(f)
        phoff, phentsize = elf.header["e_phoff"], elf.header["e_phentsize"]
        index = next(i for i, s in enumerate(elf.iter_segments()) if s["p_type"] == "PT_LOAD")
    entry = phoff + index * phentsize
    struct.pack_into("<QQ", raw, entry + 16, 0x40000000, 0x40000000)  # p_vaddr, p_paddr
    image = tmp_path / "moved.elf"
    image.write_bytes(raw)
    proc = cli("run", str(image))
    assert proc.returncode == C.EMU_STATUS_BAD_INPUT
    line = _one_line(proc)
    assert "0x40000000" in line and "outside guest RAM" in line


@pytest.mark.parametrize("harts", ["0", "65", "many"])
def test_bad_hart_count(harts, tmp_path):
    proc = cli("run", "--harts", harts, "--out", str(tmp_path))
    assert proc.returncode == C.EMU_STATUS_BAD_INPUT
    assert "--harts" in _one_line(proc)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--schedule", "fifo"], "--schedule: invalid choice: 'fifo'"),
        (["--quantum", "0"], "--quantum must be at least 1"),
        (["--ram", "4"], "--ram must be between"),
        (["--app", "no-such-app"], "no app named 'no-such-app'"),
        (["--config", "no-such-config"], "no configuration named 'no-such-config'"),
        (["--schedule", "pct", "--pct-depth", "0"], "--pct-depth must be at least 1"),
        (["--check-every", "-5"], "--check-every must be at least 1"),
        (["--check-every", "5"], "--check-every walks the heap for the oracle: add --check"),
        (["-D", "NAME"], "argument -D: wants NAME=VALUE, got 'NAME'"),
        (["--seed", "-1"], "--seed must be at least 0"),
        (["--schedule", "preempt-atomics", "--preempt-p", "2"], "--preempt-p must be between"),
        (["--replay", "/no/such.json"], "--replay /no/such.json: not a schedule file"),
        (["--timing", "--costs", "/no/such.toml"], "--costs /no/such.toml: cannot read it"),
        (["--fail", "palloc:x"], "--fail: N must be a positive number"),
    ],
)
def test_bad_options(args, fragment, tmp_path):
    proc = cli("run", *args, "--out", str(tmp_path))
    assert proc.returncode == C.EMU_STATUS_BAD_INPUT
    assert fragment in _one_line(proc)


@pytest.mark.parametrize(
    ("define", "fragments"),
    [
        ("TRAPS_NO_MTVEC=1", ["illegal instruction 0xc0001073", "no trap handler", "main.c:"]),
        ("TRAPS_UNHANDLED=1", ["illegal instruction 0xc0001073", "did not handle", "main.c:"]),
        ("TRAPS_BAD_ACCESS=1", ["load from unmapped address 0x40000000", "(app_main+", "mmio.h:"]),
        ("TRAPS_EBREAK=1", ["breakpoint", "did not handle", "main.c:"]),
    ],
)
def test_guest_faults(define, fragments, tmp_path):
    proc = cli("run", "--app", "traps", "-D", define, "--out", str(tmp_path))
    assert proc.returncode == C.EMU_STATUS_FAULT, proc.stderr
    line = _one_line(proc)
    assert line.startswith("emulator: fault: hart 0:")
    for fragment in fragments:
        assert fragment in line


def test_runaway_guest_hits_the_budget(tmp_path):
    proc = cli("run", "--app", "runaway", "--max-instructions", "200000", "--out", str(tmp_path))
    assert proc.returncode == C.EMU_STATUS_BUDGET
    line = _one_line(proc)
    assert "budget (200000)" in line and "--max-instructions" in line


def test_missing_compiler(tmp_path):
    env = {**os.environ, "RISCV_CC": "/nonexistent/riscv64-gcc", "EMU_BUILD_DIR": str(tmp_path)}
    proc = cli("run", "--app", "hello", "--out", str(tmp_path / "run"), env=env)
    assert proc.returncode == C.EMU_STATUS_BAD_INPUT
    line = _one_line(proc)
    assert "RISCV_CC" in line and "pip install ziglang" in line


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["bench", "--seeds", "0"], "--seeds must be at least 1 (got 0)"),
        (["bench", "--jobs", "0"], "--jobs must be at least 1 (got 0)"),
        (["bench", "--harts", "99"], "--harts must be between 1 and 64 (got 99)"),
        (["bench", "--benchmarks", "hello"], "--benchmarks: hello is not a benchmark"),
        (["bench", "--benchmarks", "bench-nope"], "--benchmarks: no app named 'bench-nope'"),
        (["bench", "--configs", "nope"], "--configs: no configuration named 'nope'"),
        (["explore", "--app", "treiber", "--jobs", "0"], "--jobs must be at least 1 (got 0)"),
        (["explore", "--app", "treiber", "--minimize", "-1"], "--minimize must be at least 0"),
        (["explore", "--app", "treiber", "--seeds", "5:2"], "argument --seeds: '5:2' names no"),
        (["run", "--app", "nope"], "--app: no app named 'nope'"),
        (["run", "--config", "nope"], "--config: no configuration named 'nope'"),
        (["run", "-D", "NAME"], "argument -D: wants NAME=VALUE, got 'NAME'"),
    ],
)
def test_each_message_names_the_option_given(args, fragment, tmp_path):
    proc = cli(*args, "--out", str(tmp_path / "out"))
    assert proc.returncode == C.EMU_STATUS_BAD_INPUT, proc.stderr
    assert fragment in _one_line(proc)
    assert not (tmp_path / "out").exists()  # nothing ran


def test_cc_names_the_option_not_the_environment(tmp_path):
    env = {**os.environ, "EMU_BUILD_DIR": str(tmp_path)}
    env.pop("RISCV_CC", None)
    proc = subprocess.run(
        [sys.executable, "-m", "toolchain", "build", "hello", "--cc", "/bad"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == C.EMU_STATUS_BAD_INPUT
    line = _one_line(proc)
    assert "--cc names '/bad'" in line and "RISCV_CC names" not in line, line


# A bad option to a script: one line naming the option, the bad-input status, no traceback.
SCRIPT_ERRORS = [
    ("find_bugs.py", ["--seeds", "0"], "--seeds: must be at least 1"),
    ("find_bugs.py", ["--jobs", "0"], "--jobs: must be at least 1"),
    ("alloc_costs.py", ["--configs", "nope", "--out", "x.md"], "--configs: no configuration named"),
    ("alloc_costs.py", ["--pairs", "0"], "--pairs: must be at least 1"),
    ("frontend_costs.py", ["--configs", "nope"], "--configs: no configuration named 'nope'"),
    ("results_doc.py", ["no-such-run"], "no-such-run: not a bench run directory"),
    ("results_doc.py", ["no-such-run", "--sensitivity"], "--sensitivity: expected at least one"),
    ("results_sweeps.py", ["--jobs", "0"], "--jobs: must be at least 1"),
    ("results_sweeps.py", ["--vary", "line_transfer=x0"], "--vary: wants COST=xF (F > 0)"),
    ("results_sweeps.py", ["--vary", "nope=x2"], "--vary nope: no such cost"),
    ("results_sweeps.py", ["--old-costs", "nope"], "--costs nope: no bundled cost file"),
    ("bench_explore.py", ["--seeds", "0"], "--seeds: must be at least 1"),
    ("bench_explore.py", ["--app", "nope"], "--app: no app named 'nope'"),
    ("bench_machine.py", ["--harts", "0"], "--harts: must be between 1 and 64"),
    ("bench_trace.py", ["--app", "nope"], "--app: no app named 'nope'"),
    ("bench_atomics.py", ["--harts", "0"], "--harts must be between 1 and 64"),
    ("bench_timing.py", ["--harts", "0"], "--harts: must be between 1 and 64"),
    ("bench_timing.py", ["--config", "nope"], "--config: no configuration named 'nope'"),
    ("bench_cluster.py", ["--seeds", "0"], "--seeds: must be at least 1"),
    ("bench_cluster.py", ["--workers", "2", "0"], "--workers: must be at least 1"),
    ("bench_cluster.py", ["--app", "nope"], "--app: no app named 'nope'"),
]


@pytest.mark.parametrize(("name", "args", "fragment"), SCRIPT_ERRORS)
def test_scripts_name_the_bad_option_in_one_line(name, args, fragment, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / name), *args],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == C.EMU_STATUS_BAD_INPUT, proc.stderr[-2000:]
    assert fragment in _one_line(proc)
    assert not list(tmp_path.iterdir())  # nothing written
