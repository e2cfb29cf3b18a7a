"""Faults name where they came from (issue 22, item 4), shown on the `crash` app's deliberate
crashes: a call or jump to an unmapped address names the instruction that jumped (and, for a
jump without a link, its caller); an address past the image's sections is named by no symbol
(one past the end of RAM is no `_end+...`); a store to the ROM or a device hole names the
address and the region; no message shows unicorn's error names; harts panicking together keep
their console lines apart.

emulator/machine/faults.py finds the jump from the registers the jump left behind; its unit
tests below show it choosing among candidates, and refusing to guess."""

from __future__ import annotations

import re

import pytest
from conftest import cli

from emulator.machine import faults
from emulator.machine.image import Image
from guest.contract import C
from toolchain import build

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


def test_a_call_to_an_unmapped_address_names_the_call(tmp_path):
    line = _fault_line("call", tmp_path)
    assert "0x40000000" in line
    assert re.search(r"crash_call\+0x[0-9a-f]+, main\.c:\d+", line), line


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


def test_a_return_to_an_overwritten_return_address_says_so_and_guesses_no_site(tmp_path):
    line = _fault_line("return", tmp_path)
    assert "return to unmapped address 0x40000000" in line and "ra holds it" in line, line
    assert "crash_return" not in line  # every ret in the image would have gone there


# ---- faults.py on hand-made code -----------------------------------------------------------------

JR_A0, RET, C_JALR_A0 = 0x8502, 0x8082, 0x9502  # c.jr a0, c.jr ra, c.jalr a0
NOP = 0x0001  # c.nop
BASE = 0x8000_0000


def _code(*halves: int) -> list[tuple[int, bytes]]:
    return [(BASE, b"".join(h.to_bytes(2, "little") for h in halves))]


def _regs(**values: int):
    names = {"ra": 1, "a0": 10}
    by_number = {names[k]: v for k, v in values.items()}
    return lambda r: by_number.get(r, 0)


def test_an_unlinked_jump_is_found_by_the_register_it_jumped_through():
    jumps = faults.jumps_to(0x4000_0000, _code(NOP, JR_A0, RET), _regs(a0=0x4000_0000, ra=BASE))
    assert [(j.pc, j.kind) for j in jumps] == [(BASE + 2, "jump")]


def test_a_call_wins_over_jumps_when_its_link_register_points_past_it():
    code = _code(JR_A0, C_JALR_A0, NOP)
    jumps = faults.jumps_to(0x4000_0000, code, _regs(a0=0x4000_0000, ra=BASE + 4))
    assert [(j.pc, j.kind) for j in jumps] == [(BASE + 2, "call")]
    # a call whose link register does not point past it is not the last instruction run
    jumps = faults.jumps_to(0x4000_0000, code, _regs(a0=0x4000_0000, ra=BASE + 0x100))
    assert [(j.pc, j.kind) for j in jumps] == [(BASE, "jump")]


def test_several_candidates_are_all_returned_never_one_picked():
    jumps = faults.jumps_to(0x4000_0000, _code(JR_A0, NOP, JR_A0), _regs(a0=0x4000_0000))
    assert [j.pc for j in jumps] == [BASE, BASE + 4]


def test_a_far_call_is_known_from_its_auipc_whatever_ra_holds_now():
    # auipc ra, 0x1 ; jalr ra, 8(ra): goes to BASE + 0x1008
    auipc, jalr = 0x00001097, 0x008080E7
    code = [(BASE, auipc.to_bytes(4, "little") + jalr.to_bytes(4, "little"))]
    jumps = faults.jumps_to(BASE + 0x1008, code, _regs(ra=BASE + 8))
    assert [(j.pc, j.kind) for j in jumps] == [(BASE + 4, "call")]
    words = {BASE: auipc, BASE + 4: jalr}
    assert faults.callee_of_return_address(BASE + 8, lambda a: words.get(a, 0)) == BASE + 0x1008


def test_addresses_are_named_by_region():
    regions = faults.memory_map(64 << 20, [])
    assert faults.describe_address(C.HOST_ROM_BASE, regions).endswith("in the host ROM (read-only)")
    assert "past the end of RAM" in faults.describe_address(RAM_END, regions)
    assert "--ram" in faults.describe_address(RAM_END, regions)
    assert "no device is mapped" in faults.describe_address(0x4000_0000, regions)
    assert faults.describe_address(C.RAM_BASE + 8, regions) == f"{C.RAM_BASE + 8:#x} in RAM"


def test_a_store_to_the_rom_names_the_address_and_the_region(tmp_path):
    line = _fault_line("rom_store", tmp_path)
    assert f"{C.HOST_ROM_BASE:#x}" in line and "host ROM" in line, line
    assert re.search(r"crash_store\+0x[0-9a-f]+", line), line


def test_a_store_to_a_device_hole_names_the_address_and_the_region(tmp_path):
    line = _fault_line("hole_store", tmp_path)
    assert "0x3000000" in line and "no device" in line, line


@pytest.mark.parametrize(
    "mode",
    ["call", "jump", "ram_end_load", "ram_end_jump", "rom_store", "hole_store",
     "return"],
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
