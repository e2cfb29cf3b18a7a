"""Machine fidelity: exact instruction counts, traps, syscalls, wfi/IPI and virtual time."""

from __future__ import annotations

import pytest
from conftest import console_lines, run_app

from emulator.machine import events as ev
from emulator.session import RunOptions, run
from guest.contract import C


def _loop_instructions(iters: int, quantum: int) -> int:
    report = run_app("count-loop", 1, quantum=quantum, COUNT_LOOP_ITERS=iters)
    assert report.result.exit_code == 0
    return report.result.instructions[0]


@pytest.mark.parametrize("quantum", [1, 7, 1000, 100_000])
def test_instruction_count_is_exact(quantum):
    """The loop body is two instructions: 2000 more iterations retire exactly 4000 more."""
    assert _loop_instructions(3000, quantum) - _loop_instructions(1000, quantum) == 4000


def test_instruction_count_does_not_depend_on_the_quantum():
    counts = {q: _loop_instructions(500, q) for q in (1, 3, 64, 1000, 1_000_000)}
    assert len(set(counts.values())) == 1, counts


def _events(app: str, harts: int, kinds, **kw) -> tuple[object, list]:
    bus = ev.Bus()
    seen: list = []
    for kind in kinds:
        bus.subscribe(kind, seen.append)
    defines = {k: str(v) for k, v in kw.pop("defines", {}).items()}
    opts = RunOptions(
        app=app, harts=harts, quiet=True, write_files=False, ram_mib=64, defines=defines, **kw
    )
    return run(opts, bus), seen


def test_traps_app_syscalls_illegal_instructions_and_soft_interrupt():
    report, seen = _events("traps", 1, [ev.Syscall, ev.Trap])
    assert report.result.exit_code == 0, report.console
    assert "traps: PASS" in console_lines(report)
    numbers = {e.number for e in seen if isinstance(e, ev.Syscall)}
    assert {C.SYS_write, 999, C.SYS_exit_group} <= numbers
    traps = [e for e in seen if isinstance(e, ev.Trap)]
    illegal = [t for t in traps if t.cause == C.CAUSE_ILLEGAL_INSTRUCTION]
    assert [t.tval for t in illegal] == [0x0000, 0xC0001073]  # 2-byte, then 4-byte
    assert illegal[1].pc - illegal[0].pc >= 2
    # Interrupts are taken inside unicorn and are no events; the app checks its own
    # (FAIL_SOFT_NOT_RUN, FAIL_SOFT_MCAUSE).
    assert not any(t.cause & C.CAUSE_INTERRUPT for t in traps)


def test_write_syscall_args_seen_by_host():
    report, seen = _events("hello", 1, [ev.Syscall])
    writes = [e for e in seen if e.number == C.SYS_write]
    assert writes and all(e.args[0] == 1 for e in writes)
    assert sum(e.args[2] for e in writes) == len(report.console)


@pytest.mark.parametrize("harts,schedule", [(2, "rr"), (4, "rr"), (4, "random"), (8, "rr")])
def test_wfi_and_ipi_wake_up(harts, schedule):
    report, seen = _events(
        "wfi-ipi", harts, [ev.Sleep, ev.Wake], schedule=schedule, quantum=200, seed=3
    )
    assert report.result.exit_code == 0, report.console
    lines = set(console_lines(report))
    assert {f"hart {h}: woken by IPI" for h in range(1, harts)} <= lines
    assert {f"hart {h}: timer ok" for h in range(harts)} <= lines
    woken = {e.hart for e in seen if isinstance(e, ev.Wake) and e.reason.startswith("ipi")}
    assert set(range(1, harts)) <= woken
    assert any(isinstance(e, ev.Wake) and e.reason == "timer" for e in seen)
    assert any(isinstance(e, ev.Sleep) for e in seen)


def test_mtime_follows_virtual_time():
    """A hart sleeping on its timer is charged the time it slept: clock > retired count, by at
    least the wait the app asked for."""
    ticks = 5000
    report = run_app("wfi-ipi", 2, WFI_TIMER_TICKS=ticks)
    assert report.result.exit_code == 0, report.console
    for clock, retired in zip(report.result.clocks, report.result.instructions, strict=True):
        assert clock - retired >= ticks * C.INSNS_PER_MTIME_TICK // 2


def test_deadlock_is_reported():
    """Every hart asleep with no interrupt enabled: the machine says so instead of spinning."""
    report = run_app("wfi-ipi", 2, WFI_DEADLOCK=1)
    assert report.result.outcome == "deadlock"
    assert "no interrupt can wake" in report.result.message


@pytest.mark.parametrize("quantum", [1, 7, 1000])
def test_interrupt_is_taken_right_after_the_csr_write_that_enables_it(quantum):
    """wfi-ipi's timer-interrupt check opens interrupts for one instruction (csrs; csrc). The
    pending interrupt is taken in that window, whatever the quantum; a machine that took
    interrupts only at turn boundaries would miss it at quantum 1000, and the guest would wait
    forever."""
    ok = run_app("wfi-ipi", 2, quantum=quantum, max_instructions=5_000_000)
    assert ok.result.exit_code == 0 and "hart 0: timer interrupt ok" in console_lines(ok)


def test_event_times_are_exact_inside_a_quantum():
    """Events raised mid-quantum carry the hart's exact instruction position: on one hart the
    times of every syscall and exception are the same whatever the quantum, up to the traps
    app's self-IPI. (That one differs: an interrupt that becomes pending while its own hart
    runs is taken at the next turn boundary or interrupt-enabling CSR write, so its time
    depends on the quantum; see README.)"""

    def times(quantum: int) -> list[tuple[str, int]]:
        _, seen = _events("traps", 1, [ev.Syscall, ev.Trap], quantum=quantum)
        out = []
        for e in seen:
            if isinstance(e, ev.Trap) and e.cause & C.CAUSE_INTERRUPT:
                break  # from here on, times depend on where the interrupt was taken
            out.append((e.name, e.instret))
        return out

    reference = times(1)
    assert len(reference) > 5
    assert times(7) == reference and times(1000) == reference and times(100_000) == reference


def test_stop_interrupt_is_found_when_another_instance_lies_right_after():
    """cpu.py finds uc_struct.stop_interrupt by scanning past the struct's start; the heap may
    put another instance (a hart's) right after it, with the same pointer in the same field.
    The main job failed on this now and then (UnicornChanged) until the first hit was taken."""
    import ctypes

    from unicorn import UC_ARCH_RISCV, UC_MODE_RISCV64, Uc
    from unicorn.riscv_const import UC_RISCV_REG_PC

    from emulator.machine import cpu

    uc = Uc(UC_ARCH_RISCV, UC_MODE_RISCV64)
    uc.reg_write(UC_RISCV_REG_PC, C.RAM_BASE)  # unicorn sets the field up on first use
    half = cpu._SCAN_UC // 2
    own = ctypes.string_at(cpu._handle(uc), half)
    field = cpu.layout().stop_interrupt
    assert field < half
    twins = ctypes.create_string_buffer(own + own)  # this struct, and a neighbour just like it
    assert cpu._stop_interrupt_offset(ctypes.addressof(twins)) == field
