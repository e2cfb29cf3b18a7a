"""python -m emulator run | apps

Every problem the user can fix is one line on stderr and a documented exit status; a
traceback means a bug in the emulator itself.
"""

from __future__ import annotations

import argparse
import os
import sys

from emulator.alloctrace import format_table
from emulator.contention import format_report
from emulator.contract import C
from emulator.errors import EmulatorError
from emulator.scheduler import PCT
from emulator.session import DEFAULT_APP, DEFAULT_BUDGET, RunOptions, exit_status, run
from toolchain.catalog import parse_define


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and the bad-input status."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(C.EMU_STATUS_BAD_INPUT, f"emulator: {message} (see `{self.prog} --help`)\n")


def _count(text: str) -> int:
    try:
        return int(float(text)) if "e" in text.lower() else int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _positive(text: str) -> int:
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The options of `run`, shared with scripts/boot.py and other front ends."""
    p.add_argument("image", nargs="?", metavar="IMAGE", help="RISC-V ELF image to boot")
    p.add_argument("--app", help=f"build and boot a bundled app (default: {DEFAULT_APP})")
    p.add_argument("--config", default="default", help="build configuration for --app")
    p.add_argument(
        "-D",
        dest="defines",
        action="append",
        type=parse_define,
        default=[],
        metavar="NAME=VALUE",
        help="extra macro when building --app",
    )
    p.add_argument("--harts", type=_count, default=1, help="number of harts, 1-64 (default 1)")
    p.add_argument(
        "--schedule",
        default="rr",
        help="rr (fixed quantum, hart order), random (seeded hart order and quanta in [1, 2Q]), "
        "pct (random priorities, d-1 change points) or preempt-atomics (a switch before each "
        "atomic with probability p); default rr",
    )
    p.add_argument("--pct-depth", type=_positive, default=0, metavar="D", help="pct: d (default 3)")
    p.add_argument(
        "--pct-steps",
        type=_positive,
        default=0,
        metavar="K",
        help="pct: k steps (default: counted in a round-robin run)",
    )
    p.add_argument(
        "--pct-unit",
        default="atomics",
        choices=PCT.UNITS,
        help="pct: a step is an atomic (default; switches happen in front of one), also a plain "
        "load or store of a word atomics use (sync), or an instruction",
    )
    p.add_argument(
        "--preempt-p",
        type=float,
        default=None,
        metavar="P",
        help="preempt-atomics: switch probability at each atomic (default 0.1)",
    )
    p.add_argument("--replay", metavar="FILE", help="replay a schedule file (turns)")
    p.add_argument("--save-schedule", metavar="FILE", help="write this run's turns to FILE")
    p.add_argument(
        "--timing",
        action="store_true",
        help="virtual-time model: atomics, line transfers and fences cost cycles; the hart "
        "furthest behind runs next (replaces rr)",
    )
    p.add_argument("--costs", metavar="FILE", help="costs for --timing (default costs.toml)")
    p.add_argument(
        "--stall",
        action="append",
        default=[],
        metavar="SYMBOL:K[:N]",
        help="the Nth entry into SYMBOL stalls that hart for K instructions of the others",
    )
    p.add_argument(
        "--fail",
        action="append",
        default=[],
        metavar="CALL:N",
        help="make the Nth CALL (palloc, mmap, malloc, ...) fail without running",
    )
    p.add_argument(
        "--quantum",
        type=_count,
        default=1000,
        help="instructions a hart runs before the next is picked (default 1000)",
    )
    p.add_argument("--seed", type=_count, default=0, help="seed of the random schedule")
    p.add_argument(
        "--ram",
        type=_count,
        default=C.RAM_DEFAULT_MIB,
        metavar="MiB",
        help=f"guest RAM in MiB (default {C.RAM_DEFAULT_MIB})",
    )
    p.add_argument(
        "--max-instructions",
        type=_count,
        default=DEFAULT_BUDGET,
        metavar="N",
        help=f"stop after N instructions over all harts (default {DEFAULT_BUDGET:.0e})",
    )
    p.add_argument("--out", metavar="DIR", help="run directory (default: new one under ./runs/)")
    p.add_argument("--quiet", action="store_true", help="do not copy guest console to stdout")
    p.add_argument(
        "--atomics",
        action="store_true",
        help="count atomics and lock waits per hart, site and lock (atomics.json)",
    )
    p.add_argument(
        "--lock",
        action="append",
        default=[],
        metavar="ACQUIRE:RELEASE",
        help="with --atomics: lock functions taking the lock as first argument, for locks the "
        "monitor cannot recognise (ticket_lock:ticket_unlock is always declared)",
    )
    p.add_argument(
        "--trace",
        action="store_true",
        help="trace every allocator call per hart (allocs.jsonl, allocs.trace.json for Perfetto)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="check every allocator call against a shadow heap; stop at the first violation",
    )
    p.add_argument(
        "--check-every",
        type=_positive,
        default=0,
        metavar="N",
        help="with --check: also walk the allocator's structures every N instructions",
    )


def options_from(args: argparse.Namespace) -> RunOptions:
    return RunOptions(
        image=args.image,
        app=args.app,
        config=args.config,
        defines=dict(args.defines),
        harts=args.harts,
        schedule=args.schedule,
        quantum=args.quantum,
        seed=args.seed,
        ram_mib=args.ram,
        max_instructions=args.max_instructions,
        out=args.out,
        stream=not args.quiet,
        atomics=args.atomics,
        locks=args.lock,
        trace=args.trace,
        check=args.check or args.check_every > 0,
        check_every=args.check_every,
        pct_depth=args.pct_depth,
        pct_steps=args.pct_steps,
        pct_unit=args.pct_unit,
        preempt_p=args.preempt_p,
        replay=args.replay,
        save_schedule=args.save_schedule,
        stall=args.stall,
        fail=args.fail,
        timing=args.timing,
        costs=args.costs,
    )


def run_and_report(opts: RunOptions) -> int:
    """Run, print the closing line, return the exit status; bad input becomes one line."""
    try:
        report = run(opts)
    except EmulatorError as e:
        print(f"emulator: {e}", file=sys.stderr)
        return e.status
    result = report.result
    status = exit_status(result)
    if report.atomics:
        print(format_report(report.atomics))
    if report.allocs:
        print(format_table(report.allocs, report.allocs["missing"]))
    if report.run_dir and opts.trace:
        print(
            f"allocation trace: {report.run_dir / 'allocs.jsonl'}\n"
            f"Perfetto trace:   {report.run_dir / 'allocs.trace.json'} "
            "(open it at https://ui.perfetto.dev)"
        )
    if report.oracle:
        o = report.oracle
        print(
            f"oracle: {o['checked_calls']} calls checked, heap walker {o['walker'] or 'none'} "
            f"({o['walks']} walks), page conservation {o['conservation']}"
        )
    where = f" [{report.run_dir}]" if report.run_dir else ""
    if result.outcome == "exited":
        note = ""
        if status == C.EMU_STATUS_GUEST_CODE_RANGE:
            note = f" (above {C.GUEST_EXIT_MAX}: exit status {status})"
        print(
            f"emulator: guest exited with code {result.exit_code}{note} after "
            f"{result.total_instructions} instructions on {len(result.instructions)} harts, "
            f"{result.mips:.1f} MIPS{where}",
            file=sys.stderr,
        )
    else:
        print(f"emulator: {result.outcome}: {result.message}{where}", file=sys.stderr)
    return status


def script_main(doc: str, **instruments: bool) -> int:
    """main() of a script that is `run` with some instruments on (scripts/contention.py,
    scripts/trace_allocs.py): same options, console off unless --show-console."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    add_run_options(parser)
    parser.add_argument("--show-console", action="store_true", help="copy the guest console")
    args = parser.parse_args()
    opts = options_from(args)
    for name, on in instruments.items():
        setattr(opts, name, on)
    opts.stream = args.show_console
    return run_and_report(opts)


def cmd_apps() -> int:
    from toolchain import catalog

    print("apps (python -m emulator run --app NAME):")
    for a in catalog.apps().values():
        mark = " (default)" if a.name == DEFAULT_APP else ""
        print(f"  {a.name:16} {a.description}{mark}")
    print("configurations (--config NAME):")
    for c in catalog.configs().values():
        print(f"  {c.name:16} {c.description}")
    return 0


def _seeds(text: str) -> list[int]:
    """`N` (seeds 0..N-1) or `A:B` (A..B-1)."""
    try:
        if ":" in text:
            a, b = (int(x, 0) for x in text.split(":"))
            seeds = list(range(a, b))
        else:
            seeds = list(range(int(text, 0)))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seeds wants N or A:B, got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError(f"--seeds {text!r} names no seed")
    return seeds


def cmd_explore(args: argparse.Namespace) -> int:
    from emulator.explore import explore, minimize, write_results
    from emulator.rundir import make_run_dir

    opts = options_from(args)
    opts.check = True
    opts.stream = False
    try:
        label = f"explore-{opts.app or 'image'}-{opts.schedule}-{opts.harts}h"
        if args.minimize is not None:
            run_dir = make_run_dir(opts.out, label + f"-min{args.minimize}")
            found = minimize(opts, args.minimize, run_dir, budget=args.minimize_runs)
            if found is None:
                print(f"emulator: seed {args.minimize} does not fail; nothing to minimize")
                return 1
            out, _, _ = found
            print(f"replay: python -m emulator run {_replay_args(args)} --replay {out} --check")
            return 0
        run_dir = make_run_dir(opts.out, label)
        results, work = explore(opts, args.seeds, args.jobs, stop_at_first=not args.all)
    except EmulatorError as e:
        print(f"emulator: {e}", file=sys.stderr)
        return e.status
    write_results(run_dir, results, work)
    failed = [r for r in results if r.failed]
    for r in failed:
        print(f"seed {r.seed}: {r.outcome}: {r.message}")
    mips = sum(r.instructions for r in results) / max(sum(r.wall_seconds for r in results), 1e-9)
    print(
        f"explored {len(results)} of {len(args.seeds)} seeds ({opts.schedule}, quantum "
        f"{opts.quantum}, {opts.harts} harts): {len(failed)} failed, {mips / 1e6:.2f} MIPS per "
        f"process; results in {run_dir / 'results.csv'}"
    )
    if failed:
        s = failed[0].seed
        print(f"reproduce: python -m emulator run {_replay_args(args)} --seed {s} --check")
    return 1 if failed else 0


DEFAULT_BENCH_CONFIGS = (
    "bbuddy-spin",
    "bbuddy-ticket",
    "bbuddy-perorder",
    "bbuddy-lockfree",
    "mimalloc+bbuddy-lockfree",
    "mimalloc+bbuddy-unlocked+shimlock",
    "mimalloc+bbuddy-spin",
)


def add_bench_options(p: argparse.ArgumentParser) -> None:
    """The options of `bench`, shared with scripts/sweep.py."""
    p.add_argument("--benchmarks", nargs="+", metavar="APP",
                   help="benchmark apps (default: every bench-* app)")  # fmt: skip
    p.add_argument("--configs", nargs="+", default=list(DEFAULT_BENCH_CONFIGS), metavar="CONFIG",
                   help="configurations (default: backends, frontend over them)")  # fmt: skip
    p.add_argument("--harts", nargs="+", type=_count, default=[1, 2, 4, 8, 16], metavar="N")
    p.add_argument("--seeds", type=_count, default=1, metavar="N", help="seeds per cell")
    p.add_argument("--quantum", type=_count, default=100, help="timed scheduler quantum")
    p.add_argument("--jobs", type=_count, default=os.cpu_count() or 1, metavar="J")
    p.add_argument("-D", dest="defines", action="append", type=parse_define, default=[],
                   metavar="NAME=VALUE", help="macro for every benchmark build")  # fmt: skip
    p.add_argument("--out", metavar="DIR", help="run directory (default: under ./runs/)")


def cmd_bench(args: argparse.Namespace) -> int:
    from emulator.bench import Sweep, markdown_table, run_sweep, write_outputs
    from emulator.rundir import make_run_dir
    from emulator.timing import CostModel
    from toolchain import catalog

    try:
        apps = args.benchmarks or [a for a in catalog.apps() if a.startswith("bench-")]
        for name in apps:
            catalog.app(name)
        for name in args.configs:
            catalog.config(name)
        if any(not 1 <= h <= C.MAX_HARTS for h in args.harts):
            raise EmulatorError(f"--harts must be between 1 and {C.MAX_HARTS}")
    except (catalog.CatalogError, EmulatorError) as e:
        print(f"emulator: {e}", file=sys.stderr)
        return C.EMU_STATUS_BAD_INPUT
    sweep = Sweep(apps, args.configs, args.harts, list(range(args.seeds)), dict(args.defines))
    try:
        results = run_sweep(sweep, args.jobs, args.quantum)
    except EmulatorError as e:
        print(f"emulator: {e}", file=sys.stderr)
        return e.status
    run_dir = make_run_dir(args.out, "bench")
    plots = write_outputs(run_dir, results, sweep, CostModel.load().describe())
    print(markdown_table(results), end="")
    bad = [r for r in results if not r.ok]
    print(
        f"{len(results)} runs, {len(bad)} failed; results.csv, results.json, results.md and "
        f"{len(plots)} plots in {run_dir}"
    )
    return 1 if bad else 0


def _replay_args(args: argparse.Namespace) -> str:
    parts = [args.image] if args.image else ["--app", args.app or DEFAULT_APP]
    if args.config != "default":
        parts += ["--config", args.config]
    for name, value in args.defines:
        parts += ["-D", f"{name}={value}"]
    parts += ["--harts", str(args.harts), "--schedule", args.schedule]
    if args.ram != C.RAM_DEFAULT_MIB:
        parts += ["--ram", str(args.ram)]
    if args.max_instructions != DEFAULT_BUDGET:
        parts += ["--max-instructions", str(args.max_instructions)]
    parts += ["--quantum", str(args.quantum)]
    if args.pct_depth:
        parts += ["--pct-depth", str(args.pct_depth)]
    if args.pct_steps:
        parts += ["--pct-steps", str(args.pct_steps)]
    if args.pct_unit != "atomics":
        parts += ["--pct-unit", args.pct_unit]
    if args.preempt_p is not None:
        parts += ["--preempt-p", str(args.preempt_p)]
    for text in args.stall:
        parts += ["--stall", text]
    for text in args.fail:
        parts += ["--fail", text]
    return " ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="python -m emulator",
        description="Multi-hart RISC-V machine for SMP allocator experiments.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_run_options(sub.add_parser("run", help="boot an image or a bundled app"))
    sub.add_parser("apps", help="list bundled apps and build configurations")
    ex = sub.add_parser("explore", help="run many seeded schedules with the oracle on")
    add_run_options(ex)
    ex.add_argument("--seeds", type=_seeds, default=list(range(100)), metavar="N|A:B",
                    help="seeds 0..N-1 or A..B-1 (default 100)")  # fmt: skip
    ex.add_argument("--jobs", type=_count, default=os.cpu_count() or 1, metavar="J",
                    help="worker processes (default: the core count)")  # fmt: skip
    ex.add_argument("--all", action="store_true", help="run every seed, not stop at a failure")
    ex.add_argument("--minimize", type=_count, metavar="SEED",
                    help="shrink the failing schedule of SEED to a schedule file")  # fmt: skip
    ex.add_argument("--minimize-runs", type=_count, default=64, metavar="N",
                    help="runs the minimizer may spend (default 64)")  # fmt: skip
    add_bench_options(sub.add_parser("bench", help="sweep the SMP allocation benchmarks"))
    args = parser.parse_args(argv)
    if args.command == "apps":
        return cmd_apps()
    if args.command == "explore":
        return cmd_explore(args)
    if args.command == "bench":
        return cmd_bench(args)
    return run_and_report(options_from(args))
