"""The privileged-architecture test programs (tests/priv/) on our emulator and on QEMU 7.2.

Each program checks itself and exits through the test finisher: 0 when every check passed,
else the first failing check's number (tests/priv/README.md). Every program runs at each of its
hart counts on our emulator (`python -m emulator run IMAGE --harts N --quiet`) and, when
qemu-system-riscv64 is installed, on QEMU (marked `qemu`). Images are built once per session
(and cached across sessions by content).

MISSING names what our emulator lacks today for each case that fails: those are strict xfails,
so a case whose behaviour gets built fails as XPASS until its entry here is removed.
"""

from __future__ import annotations

import pytest
from priv.build import HERE, PROGRAMS, SELFTESTS, build_all
from priv.run_qemu import qemu_binary, run_emulator, run_qemu

PRIV_EXIT_UNEXPECTED = 61  # tests/priv/common/priv.h

# program, or (program, harts) -> the behaviour our emulator does not have yet.
MISSING: dict[str | tuple[str, int], str] = {}

# Programs QEMU 7.2 does not pass, by design (tests/priv/README.md).
QEMU_DEVIATES = {
    "counters-exact": "QEMU serves instret from the host clock without -icount",
    "interrupt-priority": "QEMU 7.2 takes the lowest-numbered pending interrupt first",
}


NEEDS_QEMU = (
    pytest.mark.qemu,
    pytest.mark.skipif(qemu_binary() is None, reason="qemu-system-riscv64 is not installed"),
)


def _case(name: str, harts: int, why: str | None, marks=()) -> pytest.param:
    if why:
        marks = (*marks, pytest.mark.xfail(strict=True, reason=why))
    return pytest.param(name, harts, marks=marks, id=f"{name}-{harts}")


EMULATOR_CASES = [
    _case(p.name, n, MISSING.get((p.name, n)) or MISSING.get(p.name))
    for p in PROGRAMS
    for n in p.harts
]
QEMU_CASES = [
    _case(p.name, n, QEMU_DEVIATES.get(p.name), NEEDS_QEMU) for p in PROGRAMS for n in p.harts
]


@pytest.fixture(scope="session")
def images():
    return build_all([p.name for p in (*PROGRAMS, *SELFTESTS)])


def test_every_program_is_registered():
    """Every program source is built and run, and only emulator-only programs fail on QEMU."""
    assert {path.name for path in HERE.glob("*.c")} == {p.source for p in (*PROGRAMS, *SELFTESTS)}
    assert set(QEMU_DEVIATES) == {p.name for p in PROGRAMS if not p.on_qemu}
    assert set(MISSING) - {p.name for p in PROGRAMS} <= {
        (p.name, n) for p in PROGRAMS for n in p.harts
    }


@pytest.mark.parametrize(("program", "harts"), EMULATOR_CASES)
def test_on_emulator(program, harts, images):
    status, console = run_emulator(images[program], harts)
    assert status == 0, f"{program} on {harts} harts: exit status {status}\n{console}"


@pytest.mark.parametrize(("program", "harts"), QEMU_CASES)
def test_on_qemu(program, harts, images):
    status, console = run_qemu(images[program], harts)
    assert status == 0, f"{program} on {harts} harts: exit status {status}\n{console}"


def _machines():
    yield pytest.param(run_emulator, id="emulator")
    yield pytest.param(run_qemu, id="qemu", marks=NEEDS_QEMU)


@pytest.mark.parametrize("run", _machines())
def test_framework_reports_failures(run, images):
    """A wrong expectation exits with its check's number and a FAIL line naming it; an
    unexpected trap exits with PRIV_EXIT_UNEXPECTED; a clean run passes."""
    assert run(images["selftest"], 1)[0] == 0
    status, console = run(images["selftest-wrong"], 1)
    assert status == 3
    fails = [line for line in console.splitlines() if line.startswith("FAIL")]
    assert fails[0].startswith("FAIL selftest-wrong check 3 (hart 0, line ")
    assert "a check with a wrong expectation" in fails[0] and "got 0xb, want 0x8" in fails[0]
    assert fails[1].startswith("FAIL selftest-wrong check 5 ")
    status, console = run(images["selftest-trap"], 1)
    assert status == PRIV_EXIT_UNEXPECTED
    assert "unexpected trap (hart 0, M handler, cause 0xb" in console
