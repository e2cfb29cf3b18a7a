"""Shared helpers: build guest apps once per session and run them in-process or via the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from emulator.session import RunOptions, RunReport, run
from toolchain import build

ROOT = Path(__file__).resolve().parent.parent


def run_app(
    app: str,
    harts: int = 1,
    *,
    schedule: str = "rr",
    quantum: int = 1000,
    seed: int = 0,
    max_instructions: int = 50_000_000,
    config: str = "default",
    ram_mib: int = 64,
    trace: bool = False,
    check: bool = False,
    check_every: int | None = None,
    out: Path | None = None,
    **defines: object,
) -> RunReport:
    """Run a bundled app in-process, console not streamed; nothing is written to disk unless
    `out` names a run directory."""
    opts = RunOptions(
        app=app,
        config=config,
        defines={k: str(v) for k, v in defines.items()},
        harts=harts,
        schedule=schedule,
        quantum=quantum,
        seed=seed,
        ram_mib=ram_mib,
        max_instructions=max_instructions,
        quiet=True,
        write_files=out is not None,
        out=str(out) if out else None,
        trace=trace,
        check=check,
        check_every=check_every,
    )
    return run(opts)


def run_image(image: Path, harts: int = 1, **kw: object) -> RunReport:
    opts = RunOptions(
        image=str(image), harts=harts, quiet=True, write_files=False, ram_mib=64, **kw
    )  # type: ignore[arg-type]
    return run(opts)


def cli(
    *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """`python -m emulator ARGS` as a user would type it."""
    return subprocess.run(
        [sys.executable, "-m", "emulator", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )


def script(name: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python scripts/NAME ARGS` as a user would type it."""
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def console_lines(report: RunReport) -> list[str]:
    return report.console.decode(errors="replace").splitlines()


@pytest.fixture(scope="session")
def hello_image() -> Path:
    return build("hello")


@pytest.fixture
def drop_sites(monkeypatch):
    """Make the machine leave some site kinds to unicorn (e.g. "lrsc": value-based SC), to show
    what the emulator's handling of them is for."""

    def drop(*kinds: str) -> None:
        import emulator.machine.machine as machine

        real_scan = machine.scan

        def scan(*images):
            sites = real_scan(*images)
            for kind in kinds:
                setattr(sites, kind, {})
            return sites

        monkeypatch.setattr(machine, "scan", scan)

    return drop
