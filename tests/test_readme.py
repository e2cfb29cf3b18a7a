"""README examples are commands that run as written: every one of them runs here."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

from guest.contract import C

README = (ROOT / "README.md").read_text()


def _commands() -> list[str]:
    found = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith(("python ", "smp-emulator ")) and "pip install" not in line:
                found.append(line)
    for row in re.findall(r"^\|[^\n]*\| `(python -m emulator[^`]*)` \|$", README, re.M):
        found.append(row)
    return found


COMMANDS = _commands()
EXPECTED_STATUS = {
    "--app runaway": C.EMU_STATUS_BUDGET,
    "explore --app treiber -D TREIBER_POP=cas": 1,  # it finds the race: a seed failed
    "ALLOC_BUG=remote_free_plain": 1,  # pct finds the planted race
    "--fail palloc:1": 2,  # alloc-seq reports the failed call and exits 2
    "CONFIG_LIBUKALLOCFIRSTFIT_LOCK=0": 1,  # the allocator without its lock: a seed failed
}


def test_readme_has_examples():
    assert len(COMMANDS) >= 12
    assert "python -m emulator run --harts 4" in COMMANDS


OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi"  # Debian's opensbi package, for the examples


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_runs(command, tmp_path):
    if OPENSBI in command and not os.path.isdir(OPENSBI):
        pytest.skip("Debian's opensbi package is not installed")
    (tmp_path / "scripts").symlink_to(ROOT / "scripts")
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    proc = subprocess.run(
        # smp-emulator is the installed python -m emulator: run this checkout's either way
        command.replace("smp-emulator ", "python -m emulator ", 1).replace(
            "python ", f"{sys.executable} ", 1
        ),
        shell=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    expected = next((s for k, s in EXPECTED_STATUS.items() if k in command), 0)
    assert proc.returncode == expected, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
