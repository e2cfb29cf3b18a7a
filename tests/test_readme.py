"""README examples are commands that run as written: every one of them runs here. The pytest
commands (how to pick tests) are collected, not run: running the tests they select is the rest
of the suite's job, and collecting shows the selection is valid and not empty."""

from __future__ import annotations

import itertools
import os
import re
import shlex
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
# The longest commands: the slow tier (tests/conftest.py); every script keeps a command in the
# fast tier.
SLOW = {
    'python -m pytest -m "bbuddy_lockfree and not slow"',
    "python -m pytest -m mimalloc_bbuddy_spin_shimlock",
    'python -m pytest -m "mimalloc and not shimlock"',
    "python -m emulator run --harts 64 --quantum 5000",
    "python -m emulator explore --app stress --config mimalloc+bbuddy-spin -D "
    "ALLOC_BUG=remote_free_plain --harts 4 --schedule pct --pct-unit sync --quantum 10 --seeds 100",
    "python -m emulator bench --benchmarks bench-larson bench-page-storm --configs bbuddy-spin "
    "bbuddy-lockfree --harts 1 2 -D LARSON_ROUNDS=2 -D PSTORM_OPS=200",
}


def _configs(command: str) -> list[str]:
    """The configurations a command builds (--config NAME, --configs NAME...)."""
    words = shlex.split(command)
    found = []
    for i, word in enumerate(words):
        if word == "--config":
            found.append(words[i + 1])
        elif word == "--configs":
            found += itertools.takewhile(lambda w: not w.startswith("-"), words[i + 1 :])
    return found


def _param(command: str):
    marks = [pytest.mark.configs(*_configs(command))]
    if command in SLOW:
        marks.append(pytest.mark.slow)
    return pytest.param(command, marks=marks, id=command)


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


def test_every_slow_command_is_in_the_readme():
    assert set(COMMANDS) >= SLOW


def test_every_script_keeps_a_command_in_the_fast_tier():
    def script(command: str) -> str:
        words = command.split()
        return words[2] if words[1] == "-m" else words[1]

    assert {script(c) for c in COMMANDS} == {script(c) for c in COMMANDS if c not in SLOW}


OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi"  # Debian's opensbi package, for the examples


@pytest.mark.parametrize("command", [_param(c) for c in COMMANDS])
def test_readme_command_runs(command, tmp_path):
    if OPENSBI in command and not os.path.isdir(OPENSBI):
        pytest.skip("Debian's opensbi package is not installed")
    (tmp_path / "scripts").symlink_to(ROOT / "scripts")
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    cwd = tmp_path
    if command.startswith("python -m pytest"):
        command += " --collect-only -q -n 0 -p no:cacheprovider"
        cwd = ROOT
    proc = subprocess.run(
        # smp-emulator is the installed python -m emulator: run this checkout's either way
        command.replace("smp-emulator ", "python -m emulator ", 1).replace(
            "python ", f"{sys.executable} ", 1
        ),
        shell=True,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    expected = next((s for k, s in EXPECTED_STATUS.items() if k in command), 0)
    assert proc.returncode == expected, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
