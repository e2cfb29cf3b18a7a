"""One run from options to run directory: find or build the image, boot, stream, summarise.

The CLI, scripts and tests all come through `run()`, so what a user types and what a test
checks are the same code path.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from emulator import __version__
from emulator import events as ev
from emulator.alloctrace import Tracer, TraceWriter, open_outputs
from emulator.contention import ContentionMonitor
from emulator.contract import C
from emulator.elf import Image
from emulator.errors import BadInput
from emulator.machine import Machine, RunResult
from emulator.oracle import Oracle
from emulator.rundir import make_run_dir, write_json
from emulator.scheduler import make_policy

DEFAULT_APP = "hello"
DEFAULT_BUDGET = 2_000_000_000


@dataclass
class RunOptions:
    image: str | None = None
    app: str | None = None
    config: str = "default"
    defines: dict[str, str] = field(default_factory=dict)
    harts: int = 1
    schedule: str = "rr"
    quantum: int = 1000
    seed: int = 0
    ram_mib: int = C.RAM_DEFAULT_MIB
    max_instructions: int = DEFAULT_BUDGET
    out: str | None = None
    stream: bool = True  # copy console output to stdout as it arrives
    atomics: bool = False  # run the contention monitor (atomics.json)
    trace: bool = False  # trace allocator calls (allocs.jsonl, allocs.trace.json)
    check: bool = False  # run the allocation oracle (stops the run at a violation)
    check_every: int = 0  # also walk the allocator's structures every N instructions
    write_files: bool = True


@dataclass
class RunReport:
    result: RunResult
    summary: dict
    console: bytes
    run_dir: Path | None
    atomics: dict | None = None  # the contention monitor's report, when it ran
    allocs: dict | None = None  # the tracer's per-hart table, when it ran
    oracle: dict | None = None  # the oracle's verdict, when it ran


def resolve_image(opts: RunOptions) -> tuple[Path, str]:
    """(image path, label for the run) from IMAGE or --app (default app when neither)."""
    if opts.image and opts.app:
        raise BadInput("give an IMAGE or --app NAME, not both")
    if opts.image:
        if opts.defines or opts.config != "default":
            raise BadInput("--config and -D build an app; they do not apply to a given IMAGE")
        return Path(opts.image), Path(opts.image).stem
    from toolchain import BuildError, CompilerMissing, build
    from toolchain.catalog import CatalogError

    app = opts.app or DEFAULT_APP
    try:
        return build(app, opts.config, opts.defines), app
    except (CatalogError, CompilerMissing) as e:
        raise BadInput(str(e)) from None
    except BuildError as e:
        raise BadInput(f"{e}\n(the guest sources did not compile)") from None


class _ConsoleStream:
    """Copies UART bytes to stdout, a line at a time, as the guest writes them."""

    def __init__(self) -> None:
        self._line = bytearray()

    def __call__(self, event: ev.Console) -> None:
        self._line.append(event.byte)
        if event.byte == 10:
            self.flush()

    def flush(self) -> None:
        if self._line:
            sys.stdout.buffer.write(self._line)
            sys.stdout.buffer.flush()
            self._line.clear()


def run(opts: RunOptions, bus: ev.Bus | None = None) -> RunReport:
    path, label = resolve_image(opts)
    policy = make_policy(opts.schedule, opts.quantum, opts.seed)
    if opts.max_instructions < 1:
        raise BadInput(f"--max-instructions must be positive (got {opts.max_instructions})")
    image = Image(path)
    bus = bus or ev.Bus()
    stream = _ConsoleStream() if opts.stream else None
    if stream:
        bus.subscribe(ev.Console, stream)
    monitor = ContentionMonitor(image, opts.harts) if opts.atomics else None
    if monitor:
        monitor.attach(bus)
    run_dir = make_run_dir(opts.out, f"{label}-{opts.harts}h") if opts.write_files else None
    tracer = writer = oracle = None
    if opts.trace or opts.check:
        tracer = Tracer(image)
    if opts.trace:
        files = open_outputs(run_dir) if run_dir else (None, None)
        writer = TraceWriter(image, opts.harts, *files)
        tracer.listeners.append(writer)
    machine = Machine(
        image,
        opts.harts,
        opts.ram_mib,
        bus,
        trap_atomics=opts.atomics,
        probes=tracer.probes if tracer else None,
    )
    if opts.check:
        oracle = Oracle(image, machine, check_every=opts.check_every)
        tracer.listeners.insert(0, oracle)
    if monitor:
        monitor.add_sites(machine.sites)
    try:
        result = machine.run(policy, opts.max_instructions)
        if tracer:
            tracer.finish(machine, result)
    finally:
        if stream:
            stream.flush()
        if writer:
            writer.close()
    summary = {
        "outcome": result.outcome,
        "exit_code": result.exit_code,
        "message": result.message,
        "harts": opts.harts,
        "instructions": result.instructions,
        "total_instructions": result.total_instructions,
        "clocks": result.clocks,
        "quanta": result.quanta,
        "schedule_digest": result.schedule_digest,
        **policy.describe(),
        "ram_mib": opts.ram_mib,
        "max_instructions": opts.max_instructions,
        "image": str(path),
        "image_sha256": image.sha256,
        "app": opts.app or (None if opts.image else DEFAULT_APP),
        "config": None if opts.image else opts.config,
        "defines": opts.defines,
        "emulator_version": __version__,
        "wall_seconds": round(result.wall_seconds, 6),
        "mips": round(result.mips, 3),
    }
    atomics = monitor.report() if monitor else None
    summary["atomics"] = opts.atomics
    summary["trace"] = opts.trace
    summary["check"] = opts.check
    allocs = writer.table() | {"missing": tracer.missing} if writer and tracer else None
    verdict = oracle.report() if oracle else None
    if verdict:
        summary["oracle"] = verdict
    if result.outcome == "violation":
        summary["violation"] = result.extra
    if run_dir:
        write_json(run_dir / "summary.json", summary)
        (run_dir / "console.log").write_bytes(bytes(machine.console))
        if atomics:
            write_json(run_dir / "atomics.json", atomics)
        if allocs:
            write_json(run_dir / "allocs.json", allocs)
    return RunReport(result, summary, bytes(machine.console), run_dir, atomics, allocs, verdict)


def exit_status(result: RunResult) -> int:
    """The emulator's exit status for a finished run (see README, "Exit statuses")."""
    if result.outcome == "exited":
        code = result.exit_code or 0
        return code if code <= C.GUEST_EXIT_MAX else C.EMU_STATUS_GUEST_CODE_RANGE
    return {
        "fault": C.EMU_STATUS_FAULT,
        "budget": C.EMU_STATUS_BUDGET,
        "deadlock": C.EMU_STATUS_DEADLOCK,
        "violation": C.EMU_STATUS_VIOLATION,
    }[result.outcome]
