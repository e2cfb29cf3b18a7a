"""One run from options to run directory: find or build the image, set up the instruments the
options ask for, boot, stream the console, summarise.

The CLI, scripts and tests all come through `run()`, so what a user types and what a test
checks are the same code path.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from emulator import __version__
from emulator.debug.stub import GdbStub, parse_stop_at
from emulator.instruments.cacheprofile import CacheProfile
from emulator.instruments.contention import ContentionMonitor
from emulator.instruments.heapwalk import PluginError, load_plugin
from emulator.instruments.inject import Stalls, parse_fail, parse_stall
from emulator.instruments.oracle import Oracle
from emulator.instruments.probes import Probes
from emulator.instruments.timing import CostModel, Timing
from emulator.instruments.tracer import (
    FAILURES,
    LOOKED_FOR,
    Tracer,
    TraceWriter,
    find_api,
    open_outputs,
)
from emulator.machine import boot
from emulator.machine import events as ev
from emulator.machine.errors import BadInput
from emulator.machine.hooks import Hooks
from emulator.machine.image import Image
from emulator.machine.machine import Machine, Outcome, RunResult
from emulator.schedule.files import Recorder, load_schedule, save_schedule
from emulator.schedule.policies import RoundRobin, Schedule, make_policy
from emulator.session.options import DEFAULT_APP, RunOptions, record
from emulator.session.rundir import open_run_dir, write_json
from guest.contract import C, Status


@dataclass
class RunReport:
    result: RunResult
    summary: dict
    console: bytes
    run_dir: Path | None
    atomics: dict | None = None  # the contention monitor's report, when it ran
    allocs: dict | None = None  # the tracer's per-hart table, when it ran
    oracle: dict | None = None  # the oracle's verdict, when it ran
    cache: dict | None = None  # cache attribution (cache.json), with the coherence model


def resolve_image(opts: RunOptions) -> Path | None:
    """The kernel to boot: IMAGE or --kernel, or --app built with --config and -D (the default
    app when none of them and no firmware is named) for what runs below it (bare without
    --bios, an SBI payload with one); None for a firmware alone."""
    if opts.image or opts.kernel:
        return Path(opts.image or opts.kernel)  # type: ignore[arg-type]
    if not opts.app and not opts.default_app:
        return None
    from toolchain import BuildError, CompilerMissing, build, catalog
    from toolchain.catalog import CatalogError, firmware_below

    checks: tuple[tuple[str, Callable[[], object]], ...] = (
        ("--app", lambda: catalog.app(opts.app or DEFAULT_APP)),
        ("--config", lambda: catalog.config(opts.config, opts.libs)),  # yours, with --lib
    )
    for flag, lookup in checks:
        try:
            lookup()
        except CatalogError as e:
            said = str(e)  # named once: some messages begin with the option already
            raise BadInput(said if said.startswith(flag) else f"{flag}: {said}") from None
    try:
        firmware = firmware_below(opts.bios)
        return build(
            opts.app or DEFAULT_APP, opts.config, opts.defines, firmware=firmware, libs=opts.libs
        )
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


def open_images(opts: RunOptions, path: Path | None) -> tuple[Image | None, Image | None]:
    """(firmware, kernel) as --bios says and `path` (resolve_image) names: a kernel given with
    --kernel may be a raw binary; IMAGE and a built app are ELF files."""
    if opts.kernel:
        return boot.open_images(opts.bios, path)
    firmware, _ = boot.open_images(opts.bios, None)
    return firmware, Image(path) if path is not None else None


# ---- pct's preparation: sync sites and k ---------------------------------------------------------


def sync_sites(opts: RunOptions, path: Path | None) -> tuple[int, ...]:
    """The plain load/store sites pct's `sync` unit makes steps of (none for other runs)."""
    if opts.schedule != "pct" or opts.pct_unit != "sync":
        return ()
    if opts.sync_sites is not None:
        return opts.sync_sites
    from emulator.schedule.syncsites import discover

    firmware, kernel = open_images(opts, path)
    return tuple(
        discover(kernel, opts.harts, opts.ram_mib, opts.quantum, opts.max_instructions, firmware)
    )


def estimate_steps(opts: RunOptions, path: Path | None, sites: tuple[int, ...] = ()) -> int:
    """PCT's k when not given: the steps (atomics, sync accesses or instructions) of a
    round-robin run of the same image at the same quantum."""
    counted = opts.pct_unit != "instructions"
    seen = [0]

    def count(hart, pc) -> bool:
        seen[0] += 1
        return False

    hooks = Hooks(
        watch_atomics=counted, sync_sites=frozenset(sites), step=count if counted else None
    )
    firmware, kernel = open_images(opts, path)
    machine = Machine(kernel, opts.harts, opts.ram_mib, hooks, firmware)
    result = machine.run(RoundRobin(opts.quantum), opts.max_instructions)
    return max(seen[0] if counted else result.total_instructions, 1)


def prepare_pct(opts: RunOptions, path: Path | None) -> RunOptions:
    """pct's sync sites and k, found once (explore's workers all get the same)."""
    if opts.schedule != "pct" or opts.replay:
        return opts
    sites = sync_sites(opts, path)
    steps = opts.pct_steps or estimate_steps(opts, path, sites)
    return replace(opts, sync_sites=sites, pct_steps=steps)


def make_run_policy(opts: RunOptions) -> Schedule:
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


# ---- the instruments of one run ------------------------------------------------------------------


def check_allocator_found(opts: RunOptions, image: Image) -> None:
    """--check and --trace see an allocator only through its entry points: finding none is bad
    input (they would pass what they never saw), unless the user says the image has none."""
    asked = " and ".join(
        flag for flag, on in (("--check", opts.check), ("--trace", opts.trace)) if on
    )
    if not asked:
        return
    found = find_api(image)
    if opts.no_allocator:
        if found:
            names = ", ".join(fn.symbol for fn in found)
            raise BadInput(
                f"--no-allocator, but {image.path} has allocator entry points ({names}); "
                "drop --no-allocator"
            )
        return
    if not image.symbols:
        raise BadInput(
            f"{asked}: {image.path} has no symbol table (stripped?), and the allocator is found "
            f"by its symbols ({LOOKED_FOR}); rebuild the image with symbols, or add "
            "--no-allocator if it has no allocator"
        )
    if not found:
        raise BadInput(
            f"{asked}: no allocator entry point in {image.path} (looked for {LOOKED_FOR}); if "
            "it has no allocator, add --no-allocator"
        )


def unseen_calls(opts: RunOptions, inst: Instruments) -> list[str]:
    """Warnings for a run whose oracle checked, or tracer saw, no allocator call."""
    if inst.tracer is None or not (opts.check or opts.trace):
        return []
    seen = inst.oracle.calls if inst.oracle else inst.tracer.calls
    if seen:
        return []
    who = "the oracle checked" if inst.oracle else "the tracer saw"
    why = (
        "the image has no allocator (--no-allocator)"
        if opts.no_allocator
        else "the image's allocator entry points were never called"
    )
    return [f"{who} no allocator call: {why}"]


class Instruments:
    """Everything the options switch on, registered in one Hooks before the machine exists."""

    def __init__(
        self,
        opts: RunOptions,
        image: Image,
        policy: Schedule,
        bus: ev.Bus,
        run_dir: Path | None,
        sites: tuple[int, ...],
    ):
        self.hooks = hooks = Hooks(bus=bus, sync_sites=frozenset(sites), step=policy.preemption)
        self.stream = _ConsoleStream() if not opts.quiet else None
        if self.stream:
            bus.subscribe(ev.Console, self.stream)
        self.monitor = ContentionMonitor(image, opts.harts) if opts.atomics else None
        stall_specs = [parse_stall(text) for text in opts.stall]
        fails = dict(parse_fail(text, tuple(FAILURES)) for text in opts.fail)
        self.tracer: Tracer | None = None
        self.writer: TraceWriter | None = None
        self.oracle: Oracle | None = None
        self.probes = probes = Probes()
        check_allocator_found(opts, image)
        if opts.trace or opts.check or fails or opts.listeners:
            self.tracer = Tracer(image, fail=fails, probes=probes, bus=bus)
            self.tracer.listeners.extend(opts.listeners)
        self.stalls = Stalls(image, stall_specs, probes) if stall_specs else None
        if self.monitor:
            self.monitor.declare_locks(probes, opts.locks)
        self.timing = Timing(CostModel.load(opts.costs)) if opts.timing else None
        if self.timing:
            self.timing.install(hooks)
        # The coherence model's counts by allocator operation and data structure (cache.json)
        self.cache: CacheProfile | None = None
        if self.timing and self.timing.costs.coherence and find_api(image):
            self.cache = CacheProfile(image, probes, self.tracer)
            self.cache.install(hooks)
            if self.tracer:  # traced calls carry the hart's coherence counts (Perfetto)
                self.tracer.cache_counts = self.timing.hart_cache_counts
        if opts.check and self.tracer:
            plugins = opts.walker_plugins()
            for plugin in plugins:  # a plugin that cannot load is bad input, said before the run
                try:
                    load_plugin(plugin)
                except PluginError as e:
                    raise BadInput(str(e)) from None
            self.oracle = Oracle(
                image, probes, hooks, check_every=opts.check_every or 0, walker_plugins=plugins
            )
            self.tracer.listeners.insert(0, self.oracle)
        if opts.trace and self.tracer:  # files last: every check above may still say no
            files = open_outputs(run_dir) if run_dir else (None, None)
            coherent = bool(self.timing and self.timing.costs.coherence)
            self.writer = TraceWriter(image, opts.harts, *files, cache=coherent)
            self.tracer.listeners.append(self.writer)
        self.recorder = Recorder() if opts.save_schedule else None
        if self.recorder:
            self.recorder.install(hooks)
        # The contention monitor and the timing model see every atomic; so do preemption points.
        hooks.watch_atomics = opts.atomics or opts.timing or policy.preemption is not None
        if self.monitor:
            self.monitor.install(hooks)
        probes.install(hooks)
        self.debugger: GdbStub | None = None
        if opts.gdb is not None:  # last: the port is taken only when nothing else said no
            at = parse_stop_at(opts.gdb_at) if opts.gdb_at else None
            self.debugger = GdbStub(
                opts.gdb, image, opts.gdb_wait, at, opts.gdb_disconnect == "end"
            )
            hooks.debugger = self.debugger
            hooks.after_turn.append(self.debugger.after_turn)

    def attach(self, machine: Machine) -> None:
        """The machine exists: instruments that read it or ask it for things get it now."""
        self.probes.attach(machine)
        if self.tracer:
            self.tracer.attach(machine)
            for listener in self.tracer.listeners:
                listener.attach(machine.image, machine)
        if self.stalls:
            self.stalls.attach(machine)
        if self.monitor:
            self.monitor.attach(machine)
        if self.timing:
            self.timing.attach(machine)
        if self.cache:
            self.cache.attach(machine.image, machine)
        if self.debugger:
            self.debugger.attach(machine)

    def finish(self, machine: Machine, result: RunResult) -> None:
        if self.monitor:
            self.monitor.collect()
        if self.timing:
            self.timing.collect()
        if self.cache and self.timing:
            self.cache.collect(self.timing.attribution)
        if self.tracer:
            self.tracer.finish(machine, result)
        if self.debugger:
            self.debugger.finish(result, exit_status(result))

    def close(self) -> None:
        if self.debugger:
            self.debugger.close()
        if self.stream:
            self.stream.flush()
        if self.writer:
            self.writer.close()


# ---- a run ---------------------------------------------------------------------------------------


def run(opts: RunOptions, bus: ev.Bus | None = None) -> RunReport:
    """One run. Its directory is made first (a bad --out is said before any build) and taken
    back if the run turns out to be bad input (rundir.py)."""
    opts.validate()
    if opts.gdb_at == "violation" and not opts.check:
        opts = replace(opts, check=True)  # a violation is what the oracle finds
    if not opts.write_files:
        return _run(opts, bus, None)
    with open_run_dir(opts.out, f"{opts.label}-{opts.harts}h") as out:
        return _run(opts, bus, out)


def _run(opts: RunOptions, bus: ev.Bus | None, run_dir: Path | None) -> RunReport:
    path = resolve_image(opts)
    opts = prepare_pct(opts, path)
    policy = make_run_policy(opts)
    firmware, kernel = open_images(opts, path)
    image = kernel or firmware  # what the instruments watch
    assert image is not None
    inst = Instruments(opts, image, policy, bus or ev.Bus(), run_dir, sync_sites(opts, path))
    try:
        machine = Machine(kernel, opts.harts, opts.ram_mib, inst.hooks, firmware)
        inst.attach(machine)
        result = machine.run(policy, opts.max_instructions)
        inst.finish(machine, result)
    finally:
        inst.close()
    summary = _summary(opts, machine, policy, result, inst)
    if opts.save_schedule and inst.recorder:
        save_schedule(Path(opts.save_schedule), opts.harts, inst.recorder.turns, policy.describe())
    atomics = inst.monitor.report() if inst.monitor else None
    allocs = None
    if inst.writer and inst.tracer:
        allocs = inst.writer.table() | {"missing": inst.tracer.missing}
    verdict = inst.oracle.report() if inst.oracle else None
    cache = inst.cache.report() if inst.cache else None
    if run_dir:
        write_json(run_dir / "summary.json", summary)
        (run_dir / "console.log").write_bytes(bytes(machine.console))
        if atomics:
            write_json(run_dir / "atomics.json", atomics)
        if allocs:
            write_json(run_dir / "allocs.json", allocs)
        if cache:
            write_json(run_dir / "cache.json", cache)
    return RunReport(
        result, summary, bytes(machine.console), run_dir, atomics, allocs, verdict, cache
    )


def _summary(
    opts: RunOptions,
    machine: Machine,
    policy: Schedule,
    result: RunResult,
    inst: Instruments,
) -> dict:
    kernel, firmware = machine.kernel, machine.firmware
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
        "image": str(kernel.path) if kernel else None,
        "image_sha256": kernel.sha256 if kernel else None,
        "app": opts.app or (DEFAULT_APP if opts.default_app else None),
        "config": opts.config if opts.app or opts.default_app else None,
        "defines": opts.defines,
        "emulator_version": __version__,
        "wall_seconds": round(result.wall_seconds, 6),
        "mips": round(result.mips, 3),
        "atomics": opts.atomics,
        "trace": opts.trace,
        "check": opts.check,
        "options": record(opts),
        "reproduce": opts.reproduce(),
        "warnings": unseen_calls(opts, inst),
    }
    if firmware is not None:
        summary["firmware"] = str(firmware.path)
        summary["firmware_sha256"] = firmware.sha256
        summary["kernel_reached"] = machine.kernel_reached
    if inst.timing:
        summary["timing"] = inst.timing.report(result.clocks, result.instructions)
    if inst.stalls or opts.fail:
        summary["injected"] = {
            "stalls": [{"hart": h, "symbol": s} for h, s in inst.stalls.done]
            if inst.stalls
            else [],
            "failed_calls": inst.tracer.injected if inst.tracer else [],
        }
    for key, value in policy.counters().items():
        summary[f"schedule_{key}"] = value
    if inst.oracle:
        summary["oracle"] = inst.oracle.report()
    if result.outcome is Outcome.VIOLATION:
        summary["violation"] = result.extra
    return summary


def exit_status(result: RunResult) -> int:
    """The emulator's exit status for a finished run (see README, "Exit statuses")."""
    if result.outcome is Outcome.EXITED:
        code = result.exit_code or 0
        return code if code <= C.GUEST_EXIT_MAX else Status.GUEST_CODE_RANGE
    return {
        Outcome.FAULT: Status.FAULT,
        Outcome.BUDGET: Status.BUDGET,
        Outcome.DEADLOCK: Status.DEADLOCK,
        Outcome.VIOLATION: Status.VIOLATION,
        Outcome.KILLED: Status.KILLED,
    }[result.outcome]
