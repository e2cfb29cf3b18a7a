"""The contention monitor's numbers, checked against a guest with known counts."""

from __future__ import annotations

import json

import pytest
from conftest import cli, script

from emulator.machine.image import Image
from emulator.machine.sites import scan
from emulator.session import RunOptions, run
from guest.contract import C
from toolchain import build


def _monitor(harts: int, quantum: int, **defines: object) -> dict:
    opts = RunOptions(
        app="contention",
        harts=harts,
        quantum=quantum,
        quiet=True,
        write_files=False,
        atomics=True,
        ram_mib=64,
        defines={k: str(v) for k, v in defines.items()},
    )
    report = run(opts)
    assert report.result.exit_code == 0, report.console
    assert report.atomics is not None
    return report.atomics


def _lock(report: dict) -> dict:
    return next(lk for lk in report["locks"] if lk["name"] == "contention_lock")


def test_known_amo_and_lock_counts():
    k, m, harts = 30, 7, 4
    report = _monitor(harts, 1, CONT_AMOS=k, CONT_LOCKS=m)
    app_amo = [s for s in report["sites"] if s["op"] == "amoadd.d" and "(app_main+" in s["where"]]
    # The compiler may unroll the loop into several sites: count over all of them.
    assert app_amo and all("main.c:" in s["where"] for s in app_amo)
    assert sum(s["count"] for s in app_amo) == harts * k
    per_hart = {str(h): sum(s["by_hart"].get(str(h), 0) for s in app_amo) for h in range(harts)}
    assert per_hart == {str(h): k for h in range(harts)}
    lock = _lock(report)
    assert lock["acquisitions"] == harts * m
    assert lock["holders"] == {str(h): m for h in range(harts)}
    assert all(h["amos"] >= k + m for h in report["harts"])


def test_hold_time_follows_the_critical_section_exactly():
    m = 5
    short, long = (_lock(_monitor(1, 1000, CONT_LOCKS=m, CONT_HOLD=n)) for n in (10, 40))
    assert long["hold_instructions_max"] - short["hold_instructions_max"] == 30
    assert long["hold_instructions_total"] - short["hold_instructions_total"] == 30 * m
    # Every hold of one build is the same length: total = m * max.
    assert short["hold_instructions_total"] == m * short["hold_instructions_max"]


def test_contended_lock_waits_only_when_harts_interleave():
    contended = _lock(_monitor(4, 1, CONT_LOCKS=10))
    assert contended["failed_attempts"] > 0 and contended["wait_instructions"] > 0
    alone = _lock(_monitor(4, 2_000_000, CONT_LOCKS=10))  # each hart's turn outlasts its work
    assert alone["failed_attempts"] == 0 and alone["wait_instructions"] == 0
    assert alone["acquisitions"] == contended["acquisitions"] == 40


@pytest.mark.parametrize("kind", ["spin", "ticket"])
def test_lock_counts_and_holds_for_both_kinds(kind):
    """A spinlock is found from its acquire pattern, a ticket lock (amoadd, then spinning on a
    plain load) from the declared ticket_lock:ticket_unlock pair: same counts, holds that follow
    the critical section exactly, waits only when harts interleave."""
    m, harts = 6, 4
    short, long = (_lock(_monitor(1, 1000, CONT_LOCKS=m, CONT_HOLD=n, CONT_LOCK=kind))
                   for n in (10, 40))  # fmt: skip
    assert short["found"] == ("pattern" if kind == "spin" else "declared")
    assert long["hold_instructions_total"] - short["hold_instructions_total"] == 30 * m
    assert short["hold_instructions_total"] == m * short["hold_instructions_max"]
    contended = _lock(_monitor(harts, 1, CONT_LOCKS=m, CONT_LOCK=kind))
    alone = _lock(_monitor(harts, 2_000_000, CONT_LOCKS=m, CONT_LOCK=kind))
    assert contended["acquisitions"] == alone["acquisitions"] == harts * m
    assert contended["holders"] == {str(h): m for h in range(harts)}
    assert contended["failed_attempts"] > 0 and contended["wait_instructions"] > 0
    assert alone["failed_attempts"] == 0 and alone["wait_instructions"] == 0


def test_declaring_a_recognised_lock_counts_it_once():
    opts = RunOptions(app="contention", harts=2, quantum=1, quiet=True, write_files=False,
                      atomics=True, ram_mib=64, locks=["spin_lock:spin_unlock"])  # fmt: skip
    locks = [lk for lk in run(opts).atomics["locks"] if lk["name"] == "contention_lock"]
    assert len(locks) == 1 and locks[0]["found"] == "declared"
    assert locks[0]["acquisitions"] == 2 * 20


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lock", "nosuch:spin_unlock"], "the image has no function 'nosuch'"),
        (["--lock", "spin_lock"], "--lock wants ACQUIRE:RELEASE"),
        (["--lock", "spin_lock:spin_unlock", "--no-atomics"], "add --atomics"),
    ],
)
def test_bad_lock_declarations_are_one_line_errors(args, message):
    atomics = [] if "--no-atomics" in args else ["--atomics"]
    args = [a for a in args if a != "--no-atomics"]
    proc = cli("run", "--app", "contention", "--quiet", *atomics, *args)
    assert proc.returncode == C.EMU_STATUS_BAD_INPUT and message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_every_atomic_site_of_the_image_is_listed():
    report = _monitor(1, 1000)
    sites = scan(Image(build("contention")))
    listed = {int(s["pc"], 16) for s in report["sites"]}
    assert listed == set(sites.amo) | set(sites.fence) | set(sites.lrsc)
    assert all(s["where"] for s in report["sites"])


def test_contention_script_writes_atomics_json(tmp_path):
    proc = script(
        "contention.py", "--app", "contention", "--harts", "2", "--quantum", "1",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "atomics per hart:" in proc.stdout and "contention_lock" in proc.stdout
    data = json.loads((tmp_path / "atomics.json").read_text())
    assert data["schema"] == 2 and len(data["harts"]) == 2
    assert json.loads((tmp_path / "summary.json").read_text())["atomics"] is True
