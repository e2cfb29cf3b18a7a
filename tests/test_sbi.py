"""The runtime as an S-mode payload under SBI firmware (--firmware opensbi; guest/lib/rt/README.md).

Every bundled app and every allocator configuration runs both ways on QEMU virt: bare in M-mode
(`-bios none`) and as a payload of QEMU's default firmware (its bundled OpenSBI), with the same
exit code and the same console after the firmware's banner, at 1 and 4 harts; the lines that may
differ, and why, are tests/sbi/compare.py's RULES. A stand-in firmware (tests/sbi/stub.S) that
lacks most of SBI shows what a missing extension does, and how a run ends when S-mode may not
touch the test finisher.

Skipped when qemu-system-riscv64 is absent (.ci/run installs it).
"""

from __future__ import annotations

import os
import re

import pytest
from conftest import fast_cover
from sbi.build import build_stub
from sbi.cases import CASES, NEVER_ENDS, RACY, SLOW
from sbi.compare import QEMU_RULES, RULES, masked, payload, same

from emulator.reference.qemu import qemu_binary, run_on_qemu
from guest.contract import C
from toolchain import build

QEMU = qemu_binary()
NEEDS_QEMU = [
    pytest.mark.qemu,
    pytest.mark.skipif(QEMU is None, reason="qemu-system-riscv64 is not installed"),
]
pytestmark = NEEDS_QEMU
FW_JUMP = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf"  # Debian's opensbi package


def _params():
    runs = [
        (app, config, harts)
        for app, configs in CASES.items()
        for config in configs
        for harts in (1, 4)
        if not (harts > 1 and config in RACY)
    ]
    # the fast tier: every app (but the SLOW ones), configuration and hart count once
    quick = [r for r in runs if r[0] not in SLOW]
    fast = {quick[i] for i in fast_cover(quick, 0, 1, 2)}
    for app, configs in CASES.items():
        for config in configs:
            for harts in (1, 4):
                marks = [] if (app, config, harts) in fast else [pytest.mark.slow]
                if harts > 1 and config in RACY:
                    marks = [pytest.mark.skip(reason=f"{config} is not SMP-safe by design")]
                yield pytest.param(app, config, harts, marks=marks, id=f"{app}-{config}-{harts}")


def test_every_app_and_configuration_is_covered():
    from toolchain import apps, configs

    assert set(CASES) | NEVER_ENDS == set(apps())
    assert {c for cs in CASES.values() for c in cs} == set(configs())


@pytest.mark.parametrize("app, config, harts", list(_params()))
def test_same_console_and_exit_code_bare_and_under_opensbi(app, config, harts):
    bare = run_on_qemu(build(app, config), harts)
    sbi = run_on_qemu(build(app, config, firmware="opensbi"), harts, bios="default")
    sbi_text = "\n".join(sbi.lines)
    assert sbi_text.lstrip("\n").startswith("OpenSBI v"), "QEMU's firmware printed no banner"
    bare_text = "\n".join(bare.lines)
    ok, a, b = same(app, harts, bare_text, payload(sbi_text), RULES + QEMU_RULES)
    assert (sbi.status, ok) == (bare.status, True), (a, b)


@pytest.mark.parametrize("harts", [1, 4])
def test_debians_opensbi_fw_jump_boots_it_on_any_boot_hart(harts):
    """Debian's fw_jump picks its boot hart by lottery (often not hart 0) and moves the FDT to
    0x82200000, inside the heap: the runtime starts the other harts through HSM and reads the
    FDT before the heap is used."""
    if not os.path.exists(FW_JUMP):
        pytest.skip("Debian's opensbi package is not installed")
    bare = run_on_qemu(build("wfi-ipi"), harts)
    sbi = run_on_qemu(build("wfi-ipi", firmware="opensbi"), harts, bios=FW_JUMP)
    text = "\n".join(sbi.lines)
    assert f"Platform HART Count       : {harts}" in text
    assert (sbi.status, payload(text).splitlines()) == (0, bare.lines)


# ---- firmware that lacks SBI extensions: tests/sbi/stub.S ---------------------------------------


def _unsupported(line: str) -> tuple[str, int, int, str] | None:
    m = re.fullmatch(
        r"hart 0: SBI extension (\w+) \((0x[0-9a-f]+)\) function (\d+) is not implemented by "
        r"the firmware \(called by (\w+)\)",
        line,
    )
    return (m.group(1), int(m.group(2), 16), int(m.group(3)), m.group(4)) if m else None


@pytest.mark.parametrize(
    "app, harts, extension, eid, caller",
    [
        ("wfi-ipi", 1, "TIME", 0x54494D45, "mtimecmp_write"),  # sleeping needs set_timer
        ("hello", 2, "HSM", 0x48534D, "runtime_boot"),  # a second hart needs hart_start
        ("traps", 1, "IPI", 0x735049, "ipi_send"),  # its software interrupt needs send_ipi
    ],
)
def test_an_extension_the_firmware_lacks_is_one_line_and_the_documented_code(
    app, harts, extension, eid, caller
):
    run = run_on_qemu(build(app, firmware="opensbi"), harts, bios=build_stub())
    assert run.status == C.GUEST_EXIT_NO_SBI == 62
    reports = [r for r in map(_unsupported, run.lines) if r]
    assert reports == [(extension, eid, 0, caller)], run.lines


@pytest.mark.parametrize("firmware", ["default", FW_JUMP, "stub"])
def test_the_exit_code_survives_when_s_mode_may_write_the_finisher(firmware):
    """OpenSBI's root domain leaves the finisher to S-mode, so the runtime writes it as in M-mode
    and the code comes through (SRST shutdown could say only pass or fail)."""
    if firmware == FW_JUMP and not os.path.exists(FW_JUMP):
        pytest.skip("Debian's opensbi package is not installed")
    stub = firmware == "stub"  # one hart: it has no HSM
    bios = build_stub(SRST=1) if stub else firmware
    image = build("traps", defines={"TRAPS_EXIT_CODE": "7"}, firmware="opensbi")
    assert run_on_qemu(image, 1 if stub else 2, bios=bios).status == 7


def test_where_the_finisher_faults_the_run_ends_through_srst():
    """The stub's PMP keeps the finisher from S-mode: the store faults and the runtime asks for
    SRST shutdown, which carries only pass or fail (the stub reports failure as code 1)."""
    stub = build_stub(SRST=1, DENY_FINISHER=1)
    fails = build("traps", defines={"TRAPS_EXIT_CODE": "7"}, firmware="opensbi")
    passes = build("traps", defines={"TRAPS_EXIT_CODE": "0"}, firmware="opensbi")
    assert run_on_qemu(fails, 1, bios=stub).status == 1
    assert run_on_qemu(passes, 1, bios=stub).status == 0


# ---- the comparison itself --------------------------------------------------------------------


def test_the_comparison_catches_a_changed_line_and_explains_every_mask():
    bare = "alloc-faults: free pages 31993 before, 31993 after\nhart 0: ok\n"
    assert same("alloc-faults", 1, bare, bare.replace("31993", "31992"))[0]
    assert not same("alloc-faults", 1, bare, bare.replace("hart 0: ok", "hart 0: FAIL"))[0]
    leak = "alloc-faults: free pages 31992 before, 31990 after\nhart 0: ok\n"
    assert not same("alloc-faults", 1, bare, leak)[0]  # a leak is not masked
    assert not same("hello", 1, "a\nb\n", "b\na\n")[0]  # one hart: order counts
    assert same("hello", 4, "a\nb\n", "b\na\n")[0]
    assert masked("stress", 1, "(8 segment maps, 1 remote frees, 0 delayed pages)") != masked(
        "stress", 4, "(8 segment maps, 1 remote frees, 0 delayed pages)"
    )
    assert all(len(rule.why) > 40 for rule in RULES + QEMU_RULES)
    banner = "\nOpenSBI v1.1\nPlatform HART Count       : 1\nBoot HART MEDELEG         : 0x1\nhi"
    assert payload(banner) == "hi"
