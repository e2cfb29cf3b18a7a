"""Runs the privileged test programs on QEMU 7.2 (the reference) and prints program x harts.

    python tests/priv/run_qemu.py [PROGRAM ...] [--harts 1,2,4] [--markdown] [-v]
    python tests/priv/run_qemu.py --machine emulator      # the same table on our emulator

QEMU runs `-M virt -bios none -smp N -m 128M -nographic -kernel IMAGE`; the test finisher's
code is its exit status (0 = every check passed, else the first failing check's number). Our
emulator runs `python -m emulator run IMAGE --harts N --quiet`. Programs not required on QEMU
(Program.on_qemu false, see README.md) are run and shown, but do not make this script fail.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for `priv`

from priv.build import BY_NAME, PROGRAMS, ROOT, Program, build_all

QEMU_RAM = "128M"
EMULATOR_BUDGET = 50_000_000  # instructions over all harts: a hung program ends as status 66
# What an exit status means besides "check N failed" (priv.h and contract.h).
STATUS_NAMES = {
    60: "no check ran",
    61: "unexpected trap",
    62: "a hart never finished",
    63: "guest panic",
    64: "bad input",
    65: "fault",
    66: "budget",
    67: "deadlock",
    70: "internal error",
    -1: "timeout",
}


@dataclass
class Outcome:
    program: str
    harts: int
    status: int  # exit status; -1 = timed out
    first_failure: str  # the first FAIL line the guest printed, or the emulator's last line
    seconds: float

    @property
    def passed(self) -> bool:
        return self.status == 0

    @property
    def failed_check(self) -> int | None:
        """The number of the first check the guest reported failing, if it printed one."""
        match = re.match(r"FAIL \S+ check (\d+) ", self.first_failure)
        return int(match.group(1)) if match else None

    def cell(self) -> str:
        if self.status == 0:
            return "pass"
        if 1 <= self.status <= 59:
            return f"check {self.status}"
        what = STATUS_NAMES.get(self.status, f"status {self.status}")
        check = self.failed_check
        return f"check {check}, then {what}" if check else what


def qemu_binary() -> str | None:
    return shutil.which("qemu-system-riscv64")


def _first_failure(text: str) -> str:
    lines = [line.strip() for line in text.replace("\r", "").splitlines() if line.strip()]
    for line in lines:
        if line.startswith("FAIL"):
            return line
    return lines[-1] if lines else ""


def run_qemu(image: Path, harts: int, timeout: float = 60) -> tuple[int, str]:
    """(exit status, console) of one QEMU run; status -1 when it timed out."""
    qemu = qemu_binary()
    if qemu is None:
        raise FileNotFoundError("qemu-system-riscv64 is not installed")
    cmd = [qemu, "-M", "virt", "-bios", "none", "-smp", str(harts), "-m", QEMU_RAM]
    cmd += ["-nographic", "-kernel", str(image)]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as e:
        return -1, (e.stdout or b"").decode(errors="replace")
    return proc.returncode, proc.stdout.decode(errors="replace")


def run_emulator(image: Path, harts: int, timeout: float = 120) -> tuple[int, str]:
    """(exit status, console) of one run on our emulator, from this checkout."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory(prefix="priv-run-") as out:
        cmd = [sys.executable, "-m", "emulator", "run", str(image), "--harts", str(harts)]
        cmd += ["--quiet", "--out", out, "--max-instructions", str(EMULATOR_BUDGET)]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=ROOT, env=env
            )
        except subprocess.TimeoutExpired:
            return -1, ""
        console = Path(out, "console.log")
        text = console.read_text(errors="replace") if console.exists() else ""
    return proc.returncode, text + proc.stdout + proc.stderr


def run_one(machine: str, program: Program, image: Path, harts: int) -> Outcome:
    start = time.monotonic()
    run = run_qemu if machine == "qemu" else run_emulator
    status, text = run(image, harts)
    return Outcome(program.name, harts, status, _first_failure(text), time.monotonic() - start)


def run_matrix(
    machine: str, programs: list[Program], harts: list[int] | None, jobs: int
) -> list[Outcome]:
    images = build_all([p.name for p in programs])
    cases = [(p, n) for p in programs for n in (harts or p.harts)]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda c: run_one(machine, c[0], images[c[0].name], c[1]), cases))


def table(outcomes: list[Outcome], markdown: bool) -> str:
    columns = sorted({o.harts for o in outcomes})
    by = {(o.program, o.harts): o for o in outcomes}
    names = list(dict.fromkeys(o.program for o in outcomes))
    header = ["program", *(f"{n} hart{'s' if n > 1 else ''}" for n in columns)]
    rows = [
        [name, *(by[(name, n)].cell() if (name, n) in by else "-" for n in columns)]
        for name in names
    ]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("programs", nargs="*", choices=[[], *BY_NAME], metavar="PROGRAM")
    parser.add_argument("--machine", choices=["qemu", "emulator"], default="qemu")
    parser.add_argument("--harts", help="comma-separated hart counts (default: each program's)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("-v", "--verbose", action="store_true", help="show each failure's line")
    args = parser.parse_args(argv)
    if args.machine == "qemu" and qemu_binary() is None:
        print("qemu-system-riscv64 is not installed", file=sys.stderr)
        return 2
    programs = [BY_NAME[n] for n in args.programs] if args.programs else list(PROGRAMS)
    harts = [int(n) for n in args.harts.split(",")] if args.harts else None
    outcomes = run_matrix(args.machine, programs, harts, args.jobs)
    print(table(outcomes, args.markdown))
    failed = [o for o in outcomes if not o.passed]
    if args.verbose:
        for o in failed:
            print(f"{o.program} x{o.harts}: {o.cell()}: {o.first_failure}")
    required = [o for o in failed if args.machine == "emulator" or BY_NAME[o.program].on_qemu]
    return 1 if required else 0


if __name__ == "__main__":
    sys.exit(main())
