"""One run from options to run directory: find or build the image, boot, stream, summarise.

The CLI, scripts and tests all come through `run()`, so what a user types and what a test
checks are the same code path.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from emulator import __version__
from emulator import events as ev
from emulator.alloctrace import FAILURES, Tracer, TraceWriter, open_outputs
from emulator.contention import ContentionMonitor
from emulator.contract import C
from emulator.elf import Image
from emulator.errors import BadInput
from emulator.inject import Stalls, parse_fail, parse_stall
from emulator.machine import Machine, RunResult
from emulator.oracle import Oracle
from emulator.probes import Probes
from emulator.rundir import make_run_dir, write_json
from emulator.scheduler import make_policy
from emulator.timing import CostModel, Timing

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
    locks: list[str] = field(default_factory=list)  # ACQUIRE:RELEASE lock functions (--lock)
    trace: bool = False  # trace allocator calls (allocs.jsonl, allocs.trace.json)
    check: bool = False  # run the allocation oracle (stops the run at a violation)
    check_every: int = 0  # also walk the allocator's structures every N instructions
    pct_depth: int = 0  # pct: d (0: the default)
    pct_steps: int = 0  # pct: k steps (0: counted in a round-robin run)
    pct_unit: str = "atomics"  # pct: what a step is: atomics | sync | instructions
    # pct unit sync: the sync sites (syncsites.py); None: discovered in a round-robin run
    sync_sites: tuple[int, ...] | None = None
    preempt_p: float | None = None  # preempt-atomics: switch probability at each atomic
    replay: str | None = None  # a schedule file to replay (schedule "replay")
    save_schedule: str | None = None  # write this run's turns as a schedule file
    timing: bool = False  # the virtual-time model (timing.py): costs, timed scheduler
    costs: str | None = None  # a costs file instead of emulator/costs.toml
    stall: list[str] = field(default_factory=list)  # SYMBOL:K[:N] (inject.py)
    fail: list[str] = field(default_factory=list)  # CALL:N (inject.py)
    listeners: list = field(default_factory=list)  # more tracer listeners (alloctrace.Listener)
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


def load_schedule(path: str, harts: int) -> list:
    try:
        data = json.loads(Path(path).read_text())
        turns = data["turns"]
        recorded_harts = int(data["harts"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BadInput(f"--replay {path}: not a schedule file ({e})") from None
    if recorded_harts != harts:
        raise BadInput(f"--replay {path}: recorded with --harts {recorded_harts}, not {harts}")
    return turns


def save_schedule(path: Path, harts: int, turns: list[tuple[int, int]], describe: dict) -> None:
    """A schedule file: the turns (hart, retired count at the turn's end), runs of one hart
    merged, and what made them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    merged: list[list[int]] = []
    for h, x in turns:
        if merged and merged[-1][0] == h:
            merged[-1][1] = x
        else:
            merged.append([h, x])
    write_json(path, {"schema": 1, "harts": harts, "made_by": describe, "turns": merged})


def sync_sites(opts: RunOptions, path: Path) -> tuple[int, ...]:
    """The plain load/store sites pct's `sync` unit makes steps of (none for other runs)."""
    if opts.schedule != "pct" or opts.pct_unit != "sync":
        return ()
    if opts.sync_sites is not None:
        return opts.sync_sites
    from emulator.syncsites import discover

    image = Image(path)
    return tuple(discover(image, opts.harts, opts.ram_mib, opts.quantum, opts.max_instructions))


def estimate_steps(opts: RunOptions, path: Path, sites: tuple[int, ...] = ()) -> int:
    """PCT's k when not given: the steps (atomics, sync accesses or instructions) of a
    round-robin run of the same image at the same quantum."""
    counted = opts.pct_unit != "instructions"
    machine = Machine(Image(path), opts.harts, opts.ram_mib, trap_atomics=counted,
                      sync_sites=sites)  # fmt: skip
    seen = [0]

    def count(hart, pc) -> bool:
        seen[0] += 1
        return False

    if counted:
        machine.switch_at_step = count
    result = machine.run(make_policy("rr", opts.quantum, 0), opts.max_instructions)
    return max(seen[0] if counted else result.total_instructions, 1)


def prepare_pct(opts: RunOptions, path: Path) -> RunOptions:
    """pct's sync sites and k, found once (explore's workers all get the same)."""
    if opts.schedule != "pct" or opts.replay:
        return opts
    sites = sync_sites(opts, path)
    steps = opts.pct_steps or estimate_steps(opts, path, sites)
    return replace(opts, sync_sites=sites, pct_steps=steps)


def make_run_policy(opts: RunOptions, path: Path):
    schedule = "replay" if opts.replay else opts.schedule
    if opts.timing and schedule == "rr":
        schedule = "timed"
    return make_policy(
        schedule,
        opts.quantum,
        opts.seed,
        pct_depth=opts.pct_depth,
        pct_steps=opts.pct_steps,
        pct_unit=opts.pct_unit,
        preempt_p=opts.preempt_p,
        replay_turns=load_schedule(opts.replay, opts.harts) if opts.replay else None,
        replay_source=opts.replay or "",
    )


def run(opts: RunOptions, bus: ev.Bus | None = None) -> RunReport:
    path, label = resolve_image(opts)
    if opts.max_instructions < 1:
        raise BadInput(f"--max-instructions must be positive (got {opts.max_instructions})")
    opts = prepare_pct(opts, path)
    policy = make_run_policy(opts, path)
    stall_specs = [parse_stall(text) for text in opts.stall]
    fails = dict(parse_fail(text, tuple(FAILURES)) for text in opts.fail)
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
    probes = Probes()
    if opts.trace or opts.check or fails or opts.listeners:
        tracer = Tracer(image, fail=fails)
        tracer.listeners.extend(opts.listeners)
        probes = tracer.probes
    stalls = Stalls(image, stall_specs, probes) if stall_specs else None
    if opts.locks and not monitor:
        raise BadInput("--lock declares locks for the contention monitor: add --atomics")
    if monitor:
        monitor.declare_locks(probes, opts.locks)
    if opts.trace:
        files = open_outputs(run_dir) if run_dir else (None, None)
        writer = TraceWriter(image, opts.harts, *files)
        tracer.listeners.append(writer)
    machine = Machine(
        image,
        opts.harts,
        opts.ram_mib,
        bus,
        trap_atomics=opts.atomics or opts.timing or hasattr(policy, "switch_at_step"),
        probes=probes,
        sync_sites=sync_sites(opts, path),
    )
    timing = Timing(CostModel.load(opts.costs)) if opts.timing else None
    machine.timing = timing
    if getattr(policy, "unit", "atomics") != "instructions" and hasattr(policy, "switch_at_step"):
        machine.switch_at_step = policy.switch_at_step
    if opts.save_schedule:
        turns: list[tuple[int, int]] = []  # (hart, its retired count at the turn's end)
        machine.turn_hooks.append(lambda hart, _, __: turns.append((hart.id, hart.instret)))
    if opts.check:
        oracle = Oracle(image, machine, check_every=opts.check_every)
        tracer.listeners.insert(0, oracle)
    if tracer:
        for listener in tracer.listeners:
            listener.attach(image, machine)
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
    if timing:
        summary["timing"] = timing.report(result.clocks, result.instructions)
    if stalls or fails:
        summary["injected"] = {
            "stalls": [{"hart": h, "symbol": sym} for h, sym in stalls.done] if stalls else [],
            "failed_calls": tracer.injected if tracer else [],
        }
    for key in ("changes", "starvation_switches", "preemptions"):
        if hasattr(policy, key):
            summary[f"schedule_{key}"] = getattr(policy, key)
    if opts.save_schedule:
        save_schedule(Path(opts.save_schedule), opts.harts, turns, policy.describe())
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
