"""The S-mode runtime under Debian's OpenSBI on this emulator, as tests/test_sbi.py runs it on
QEMU: every bundled app and allocator configuration, bare (`--bios none`) and as a payload of
`fw_jump` (`--bios FILE --app NAME` builds the SBI flavour), with the same exit code and the same
console after OpenSBI's banner (tests/sbi/compare.py's RULES say which lines may differ and
why), the allocation oracle on both ways wherever the image has an allocator.

Skipped when Debian's opensbi package is absent (.ci/run installs it)."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from sbi.cases import CASES, RACY
from sbi.compare import RULES, payload, same

from emulator.instruments.tracer import find_api
from emulator.machine.image import Image
from emulator.session import RunOptions, run
from toolchain import build

FW_JUMP = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf"
pytestmark = pytest.mark.skipif(
    not os.path.exists(FW_JUMP), reason="Debian's opensbi package is not installed"
)
# One of each kind in the default tier: an app without an allocator, a backend, the frontend.
FAST = {
    ("hello", "default"),
    ("alloc-tests", "bbuddy-spin"),
    ("stress", "mimalloc+bbuddy-lockfree"),
}


def _params():
    for app, configs in CASES.items():
        for config in configs:
            for harts in (1, 4):
                marks = [] if (app, config) in FAST else [pytest.mark.slow]
                if harts > 1 and config in RACY:
                    marks = [pytest.mark.skip(reason=f"{config} is not SMP-safe by design")]
                yield pytest.param(app, config, harts, marks=marks, id=f"{app}-{config}-{harts}")


@pytest.mark.parametrize("app, config, harts", list(_params()))
def test_same_console_and_exit_code_bare_and_under_debians_opensbi(app, config, harts):
    check = bool(find_api(Image(build(app, config))))
    bare = RunOptions(app=app, config=config, harts=harts, check=check, quiet=True)
    bare.write_files = False
    under = replace(bare, bios=FW_JUMP)
    a, b = run(bare), run(under)
    text = b.console.decode(errors="replace").replace("\r\n", "\n")  # OpenSBI's putc adds \r
    assert text.lstrip("\n").startswith("OpenSBI v"), text[:200]
    assert f"Platform HART Count       : {harts}" in text
    ok, x, y = same(app, harts, a.console.decode(errors="replace"), payload(text), RULES)
    assert (b.result.outcome, b.result.exit_code, ok) == (
        a.result.outcome,
        a.result.exit_code,
        True,
    ), (b.result.message, x, y)
    assert b.summary["kernel_reached"] is True
    assert ".opensbi." in b.summary["image"]  # --bios made --app build the SBI flavour


def test_the_oracle_bounds_an_sbi_payloads_heap_by_the_end_of_ram():
    """Under SBI firmware the payload's heap runs to the end of RAM (it reads the firmware's FDT
    once at boot); the oracle's range rule took the emulator's FDT as its top and cried wolf at
    the first block above it."""
    opts = RunOptions(
        app="alloc-tests", config="bbuddy-spin", harts=4, check=True, bios=FW_JUMP, quiet=True
    )
    opts.write_files = False
    report = run(opts)
    assert (report.result.outcome, report.result.exit_code) == ("exited", 0), report.result.message
    assert report.oracle and report.oracle["checked_calls"] > 0  # it judged calls, and passed
