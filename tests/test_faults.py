"""Faults name where they came from (issue 22, item 4), shown on the `crash` app's deliberate
crashes: a call or jump to an unmapped address names the instruction that jumped (and, for a
jump without a link, its caller); an address past the image's sections is named by no symbol
(one past the end of RAM is no `_end+...`); a store to the ROM or a device hole names the
address and the region; no message shows unicorn's error names; harts panicking together keep
their console lines apart.

The tests marked HART wait for the hart's fault reporting (emulator/machine/hart.py), which is
being rewritten; they are strict, so the rewrite turns them into failures to un-mark."""

from __future__ import annotations

import re

import pytest
from conftest import cli

from emulator.machine.image import Image
from guest.contract import C
from toolchain import build

HART = pytest.mark.xfail(
    strict=True, reason="hart fault messages: issue 22 item 4, in the hart rewrite"
)
RAM_MIB = 64
RAM_END = C.RAM_BASE + (RAM_MIB << 20)


def _fault_line(mode: str, tmp_path, harts: int = 1) -> str:
    proc = cli(
        "run", "--app", "crash", "-D", f"CRASH={mode}", "-D", f"CRASH_RAM_MIB={RAM_MIB}",
        "--ram", str(RAM_MIB), "--harts", str(harts), "--quiet", "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert proc.returncode == C.EMU_STATUS_FAULT, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("emulator: fault: hart 0: ")
    return lines[0].removesuffix(f" [{tmp_path / 'run'}]")  # the run directory's name aside


@HART
def test_a_call_to_an_unmapped_address_names_the_call(tmp_path):
    line = _fault_line("call", tmp_path)
    assert "0x40000000" in line
    assert re.search(r"crash_call\+0x[0-9a-f]+, main\.c:\d+", line), line


@HART
def test_a_jump_to_an_unmapped_address_names_the_jump_and_its_caller(tmp_path):
    line = _fault_line("jump", tmp_path)
    assert "0x40000000" in line
    assert re.search(r"crash_jump\+0x[0-9a-f]+, main\.c:\d+", line), line  # the jr: the last pc
    assert re.search(r"app_main\+0x[0-9a-f]+, main\.c:\d+", line), line  # ra: its caller


@pytest.mark.parametrize("mode", ["ram_end_load", "ram_end_jump"])
def test_one_past_the_end_of_ram_is_named_by_no_symbol(mode, tmp_path):
    line = _fault_line(mode, tmp_path)
    assert f"{RAM_END:#x}" in line
    assert f"{RAM_END:#x} (" not in line and "_end" not in line, line


def test_only_addresses_inside_the_image_get_a_symbol():
    image = Image(build("crash"))
    end = image.symbol("_end").address
    inside = image.symbol("app_main").address + 4
    assert image.where(inside).startswith(f"{inside:#x} (app_main+0x4, main.c:")
    for outside in (end, end + 0x1000, RAM_END, C.HOST_ROM_BASE, 0x40000000):
        assert image.where(outside) == f"{outside:#x}"


@HART
def test_a_store_to_the_rom_names_the_address_and_the_region(tmp_path):
    line = _fault_line("rom_store", tmp_path)
    assert f"{C.HOST_ROM_BASE:#x}" in line and "host ROM" in line, line
    assert re.search(r"crash_store\+0x[0-9a-f]+", line), line


@HART
def test_a_store_to_a_device_hole_names_the_address_and_the_region(tmp_path):
    line = _fault_line("hole_store", tmp_path)
    assert "0x3000000" in line and "no device" in line, line


@pytest.mark.parametrize(
    "mode",
    ["call", "jump", "ram_end_load", "ram_end_jump", pytest.param("rom_store", marks=HART),
     "hole_store"],
)  # fmt: skip
def test_no_message_shows_unicorns_error_names(mode, tmp_path):
    line = _fault_line(mode, tmp_path)
    assert "UC_ERR" not in line and "unicorn" not in line, line


def test_panics_from_several_harts_keep_their_own_lines(tmp_path):
    """Every hart panics at once, interleaved an instruction at a time: panic lines go out
    through the emergency path whether or not another hart holds the console lock."""
    proc = cli(
        "run", "--app", "crash", "-D", "CRASH=panic_all", "--harts", "4", "--quantum", "1",
        "--quiet", "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert proc.returncode == C.GUEST_EXIT_PANIC, proc.stderr
    console = (tmp_path / "run" / "console.log").read_text()
    panics = [line for line in console.splitlines() if "panic" in line]
    whole = "crash on every hart"
    for line in panics:
        assert line.count("panic") == 1, console
        m = re.fullmatch(r"hart (\d): panic: (.*)", line)
        assert m and whole.startswith(m.group(2)), console  # whole, or cut short by the exit
    assert len({line.split(":")[0] for line in panics}) >= 2, console
