"""Every run leaves a complete record or none: each way `run`, `explore` and `bench` reject bad
input (exit status 64) is one line on stderr and leaves nothing behind, whether the run
directory was a new one under ./runs/, a new --out or an existing --out (whose files stay as
they were). A bad --out itself (a file, under a file, unwritable) is one line and status 64
too, and bench makes its directory before its sweep."""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

import pytest

from emulator.cli.main import main
from guest.contract import C
from toolchain import build
from toolchain.compiler import find_compiler


def _elf_header(elf_class: int, machine: int) -> bytes:
    ident = b"\x7fELF" + bytes([elf_class, 1, 1, 0]) + bytes(8)
    fmt = "<HHIQQQIHHHHHH" if elf_class == 2 else "<HHIIIIIHHHHHH"
    sizes = (64, 56, 0, 64, 0, 0) if elf_class == 2 else (52, 32, 0, 40, 0, 0)
    return ident + struct.pack(fmt, 2, machine, 1, 0x80000000, 0, 0, 0, *sizes)


def _moved_segment(path: Path) -> None:
    from elftools.elf.elffile import ELFFile

    raw = bytearray(build("hello").read_bytes())
    with build("hello").open("rb") as f:
        elf = ELFFile(f)
        phoff, phentsize = elf.header["e_phoff"], elf.header["e_phentsize"]
        index = next(i for i, s in enumerate(elf.iter_segments()) if s["p_type"] == "PT_LOAD")
    struct.pack_into("<QQ", raw, phoff + index * phentsize + 16, 0x40000000, 0x40000000)
    path.write_bytes(raw)


def stripped(app: str, config: str) -> Path:
    """`app` built without a symbol table (zig's objcopy cannot strip RISC-V: link stripped)."""
    cc = find_compiler()
    return build(app, config, cc=replace(cc, command=(*cc.command, "-Wl,--strip-all")))


ALLOC = ["--app", "alloc-seq", "--config", "bbuddy-spin"]
# (id, arguments (an "{inputs}" in one is the folder of prepared images), what the line says)
CASES = [
    ("bad-choice", ["run", "--schedule", "fifo"], "invalid choice"),
    ("not-a-number", ["run", "--harts", "many"], "--harts"),
    ("harts-range", ["run", "--harts", "0"], "--harts must be between"),
    ("check-every-alone", ["run", "--check-every", "5"], "add --check"),
    ("image-and-app", ["run", "{inputs}/none.elf", "--app", "hello"], "not both"),
    ("unknown-app", ["run", "--app", "no-such-app"], "no app named 'no-such-app'"),
    ("unknown-config", ["run", "--config", "no-such"], "no configuration named 'no-such'"),
    ("build-fails", ["run", "--app", "hello", "-D", "HELLO_ITERS=("], "did not compile"),
    ("bad-replay", ["run", "--replay", "/no/such.json"], "not a schedule file"),
    ("missing-image", ["run", "{inputs}/none.elf"], "no such file"),
    ("not-elf", ["run", "{inputs}/script.elf"], "not an ELF file"),
    ("x86-elf", ["run", "{inputs}/x86.elf"], "an ELF for x86-64, not RISC-V"),
    ("riscv32", ["run", "{inputs}/rv32.elf"], "32-bit RISC-V ELF"),
    ("segment-outside-ram", ["run", "{inputs}/moved.elf"], "outside guest RAM"),
    ("bad-stall", ["run", *ALLOC, "--stall", "nosuch:100"], "no function 'nosuch'"),
    ("bad-fail", ["run", "--fail", "palloc:x"], "N must be a positive number"),
    ("bad-lock", ["run", "--atomics", "--lock", "nosuch:other"], "no function 'nosuch'"),
    ("bad-costs", ["run", "--timing", "--costs", "/no/such.toml"], "cannot read it"),
    ("check-without-allocator", ["run", "--app", "hello", "--check"], "no allocator entry"),
    ("trace-stripped", ["run", "{inputs}/stripped.elf", "--trace"], "no symbol table"),
    ("no-allocator-but-one", ["run", *ALLOC, "--check", "--no-allocator"], "drop --no-allocator"),
    ("explore-unknown-app", ["explore", "--app", "no-such-app", "--seeds", "1"], "no app named"),
    ("explore-stripped", ["explore", "{inputs}/stripped.elf", "--seeds", "1", "--jobs", "1"],
     "no symbol table"),
    ("minimize-unknown-app", ["explore", "--app", "no-such-app", "--minimize", "0"],
     "no app named"),
    ("bench-unknown-config", ["bench", "--benchmarks", "bench-larson", "--configs", "no-such"],
     "no configuration named"),
    ("bench-harts", ["bench", "--benchmarks", "bench-larson", "--harts", "0"], "--harts"),
]  # fmt: skip


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    (folder / "script.elf").write_bytes(b"#!/bin/sh\necho not an image\n")
    (folder / "x86.elf").write_bytes(_elf_header(2, 62))
    (folder / "rv32.elf").write_bytes(_elf_header(1, 243))
    _moved_segment(folder / "moved.elf")
    (folder / "stripped.elf").write_bytes(stripped("alloc-seq", "bbuddy-spin").read_bytes())
    return folder


def _main(args: list[str], capsys) -> tuple[int, str]:
    try:
        status = main(args)
    except SystemExit as e:  # argparse's own exit
        status = e.code
    return status, capsys.readouterr().err


@pytest.mark.parametrize("out", ["default", "new", "existing"])
@pytest.mark.parametrize(("args", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_leaves_no_trace(args, says, out, inputs, tmp_path, monkeypatch,
                                                   capsys):  # fmt: skip
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    args = [a.replace("{inputs}", str(inputs)) for a in args]
    existing = cwd / "mine"
    if out == "new":
        args += ["--out", str(cwd / "new" / "deeper" / "run")]
    elif out == "existing":
        existing.mkdir()
        (existing / "keep.txt").write_text("the user's")
        args += ["--out", str(existing)]
    status, err = _main(args, capsys)
    assert status == C.EMU_STATUS_BAD_INPUT, err
    lines = err.strip().splitlines()
    if says == "did not compile":  # one line, then the compiler's own diagnostics
        lines = [lines[0] + " " + lines[-1]]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert says in lines[0], lines[0]
    left = sorted(p.name for p in cwd.iterdir())
    if out == "existing":
        assert left == ["mine"] and [p.name for p in existing.iterdir()] == ["keep.txt"]
        assert (existing / "keep.txt").read_text() == "the user's"
    else:
        assert left == [], left


def test_no_compiler_leaves_no_trace(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RISCV_CC", "/nonexistent/riscv64-gcc")
    monkeypatch.setenv("EMU_BUILD_DIR", str(tmp_path / "build"))
    find_compiler.cache_clear()
    try:
        status, err = _main(["run", "--app", "hello", "--out", str(tmp_path / "run")], capsys)
    finally:
        find_compiler.cache_clear()
    assert status == C.EMU_STATUS_BAD_INPUT and "RISCV_CC" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["run", "explore", "bench"])
@pytest.mark.parametrize("where", ["file", "under-a-file", "unwritable"])
def test_a_bad_out_is_one_line(command, where, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    out = {"file": str(afile), "under-a-file": str(afile / "run"), "unwritable": None}[where]
    if out is None:
        out = "/sys/emulator-test-run"  # no one may make a directory there, root included
    extra = {
        "run": [],
        "explore": ["--app", "treiber", "--seeds", "1"],
        "bench": ["--benchmarks", "bench-larson", "--configs", "bbuddy-spin"],
    }[command]
    status, err = _main([command, *extra, "--out", out], capsys)
    assert status == C.EMU_STATUS_BAD_INPUT, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"emulator: --out {out}: ")
    assert afile.read_text() == "not a directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_bench_makes_its_directory_before_the_sweep(tmp_path, monkeypatch, capsys):
    import emulator.bench.sweep as sweep

    out = tmp_path / "bench"
    seen = []

    def interrupted_sweep(*args, **kw):
        seen.append(out.is_dir())
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep, "run_sweep", interrupted_sweep)
    status, _ = _main(
        ["bench", "--benchmarks", "bench-larson", "--configs", "bbuddy-spin", "--out", str(out)],
        capsys,
    )
    assert status == 130 and seen == [True]
