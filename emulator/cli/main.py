"""python -m emulator run | apps | explore | bench

Every problem the user can fix is one line on stderr and a documented exit status; anything
else is a bug in the emulator: one line naming it and where its traceback went, and the
internal-error status.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from emulator import __version__
from emulator.explore.mutate import DEFAULT_POLICIES as DEFAULT_MUTATE_POLICIES
from emulator.explore.mutate import policy_name as mutate_policy_name
from emulator.machine.errors import BadInput, EmulatorError
from emulator.machine.machine import Outcome
from emulator.session.options import (
    DEFAULT_APP,
    RunOptions,
    add_arguments,
    at_least,
    between,
    command_line,
    count,
    from_arguments,
    join,
    option,
    option_of,
    validate,
)
from guest.contract import C, Status
from toolchain.args import define

DEFAULT_BENCH_CONFIGS = [
    "bbuddy-spin",
    "bbuddy-ticket",
    "bbuddy-perorder",
    "bbuddy-lockfree",
    "mimalloc+bbuddy-lockfree",
    "mimalloc+bbuddy-unlocked+shimlock",
    "mimalloc+bbuddy-spin",
]


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and the bad-input status. `who` starts the line
    (emulator, or the script's name)."""

    def __init__(self, *args: Any, who: str = "emulator", **kw: Any):
        super().__init__(*args, **kw)
        self.who = who

    def error(self, message: str):  # type: ignore[override]
        self.exit(Status.BAD_INPUT, f"{self.who}: {message} (see `{self.prog} --help`)\n")


CLUSTER_HELP = (
    "run on the Dask scheduler at ADDRESS (tcp://HOST:PORT; default $EMULATOR_CLUSTER, else "
    "--jobs local processes)"
)


def _seeds(text: str) -> list[int]:
    """`N` (seeds 0..N-1) or `A:B` (A..B-1)."""
    try:
        if ":" in text:
            a, b = (int(x, 0) for x in text.split(":"))
            seeds = list(range(a, b))
        else:
            seeds = list(range(int(text, 0)))
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants N or A:B, got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError(f"{text!r} names no seed")
    return seeds


@dataclass
class ExploreOptions:
    seeds: list[int] = option(
        list(range(100)), "--seeds", "seeds 0..N-1 or A..B-1 (default 100)", metavar="N|A:B",
        parse=_seeds,
    )  # fmt: skip
    jobs: int = option(
        os.cpu_count() or 1, "--jobs", "worker processes (default: the core count)", metavar="J",
        parse=count, check=at_least(1), replay=False,
    )  # fmt: skip
    cluster: str | None = option(None, "--cluster", CLUSTER_HELP, metavar="ADDRESS", replay=False)
    all: bool = option(False, "--all", "run every seed, not stop at a failure", kind="flag")
    minimize: int | None = option(
        None, "--minimize", "shrink the failing schedule of SEED to a schedule file",
        metavar="SEED", parse=count, check=at_least(0),
    )  # fmt: skip
    minimize_runs: int = option(
        64, "--minimize-runs", "runs the minimizer may spend", metavar="N", parse=count,
        check=at_least(1),
    )  # fmt: skip


@dataclass
class BenchOptions:
    benchmarks: list[str] | None = option(
        None, "--benchmarks", "benchmark apps (default: every bench-* app)", metavar="APP",
        kind="many",
    )  # fmt: skip
    configs: list[str] = option(
        DEFAULT_BENCH_CONFIGS, "--configs", "configurations", metavar="CONFIG", kind="many"
    )
    libs: list[str] = option(
        [], "--lib", "a library folder of your own, its allocator a configuration of its name",
        metavar="PATH", kind="list",
    )  # fmt: skip
    harts: list[int] = option(
        [1, 2, 4, 8, 16], "--harts", "hart counts", metavar="N", parse=count, kind="many",
        check=between(1, C.MAX_HARTS),
    )  # fmt: skip
    seeds: int = option(1, "--seeds", "seeds per cell", metavar="N", parse=count, check=at_least(1))
    quantum: int = option(
        100, "--quantum", "timed scheduler quantum", metavar="Q", parse=count, check=at_least(1)
    )
    jobs: int = option(
        os.cpu_count() or 1, "--jobs", "worker processes (default: the core count)", metavar="J",
        parse=count, check=at_least(1), replay=False,
    )  # fmt: skip
    cluster: str | None = option(None, "--cluster", CLUSTER_HELP, metavar="ADDRESS", replay=False)
    defines: dict[str, str] = option(
        {}, "-D", "macro for every benchmark build", metavar="NAME=VALUE", parse=define,
        kind="defines",
    )  # fmt: skip
    costs: str | None = option_of(RunOptions, "costs")
    out: str | None = option(
        None, "--out", "run directory (default: a new one under ./runs/)", metavar="DIR",
        replay=False,
    )  # fmt: skip


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def shown(path: Path) -> str:
    """A path as the user reads it best: relative to the working directory when under it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# The apps mutate explores by default: for a backend, page-race and stats-race put the harts on
# the same nodes and statistics; free-race first for a frontend, the app that reaches the windows
# of its remote frees, delayed-free announcements and the mmap shim's table
MUTATE_APPS = {
    "backend": ["alloc-tests", "page-race", "stats-race"],
    "frontend": ["free-race", "stress", "prodcons"],
}
# mutate --runtime's apps: between them they run every runtime site an app can reach (locks: the
# spinlock and the ticket lock under contention, trylocks included; wfi-ipi: the IPI storm; both:
# the barrier and the console from every hart). hello, treiber and the litmus apps run no site
# these two do not, and hello costs more under pct's sync unit than both together.
RUNTIME_APPS = ("locks", "wfi-ipi")


@dataclass
class MutateOptions:
    config: str | None = option(
        None, "--config", "the allocator configuration whose atomics to mutate (default: "
        "bbuddy-spin; with --runtime, default: 'default', the runtime alone)", metavar="NAME",
    )  # fmt: skip
    runtime: bool = option(
        False, "--runtime", "mutate the runtime's atomics too (guest/lib/rt: the locks, the "
        "barrier, the console lock, the IPI flag), which every app runs on", kind="flag",
    )  # fmt: skip
    apps: list[str] | None = option(
        None, "--app", "an app each mutant must pass, repeatable (default: "
        f"{', '.join(MUTATE_APPS['backend'])} for a backend, "
        f"{', '.join(MUTATE_APPS['frontend'])} for a frontend; with --runtime, "
        f"{' and '.join(RUNTIME_APPS)} before those)", metavar="APP", kind="many",
    )  # fmt: skip
    once: list[str] | None = option(
        None, "--once", "an app each mutant must pass in one run, not explored, repeatable "
        "(default: malloc-api for a frontend)", metavar="APP", kind="list",
    )  # fmt: skip
    harts: int = option(4, "--harts", "harts of every run", metavar="N", parse=count,
                        check=at_least(2))  # fmt: skip
    seeds: int = option(
        50, "--seeds", "seeds explored per app and schedule policy", metavar="N", parse=count,
        check=at_least(0),
    )  # fmt: skip
    policies: list[str] = option(
        [], "--policy", "a schedule policy to explore, SCHEDULE:QUANTUM[:PCT_UNIT], repeatable, "
        "tried in the order given (default: "
        f"{', '.join(map(mutate_policy_name, DEFAULT_MUTATE_POLICIES))})", metavar="POLICY",
        kind="list",
    )  # fmt: skip
    walks: int = option(
        0, "--walks", "heap walks in every run besides the one at the end", metavar="N",
        parse=count, check=at_least(0),
    )  # fmt: skip
    sites: str | None = option(
        None, "--sites", "mutate only sites whose `file:line operator` matches this regex",
        metavar="REGEX",
    )  # fmt: skip
    libs: list[str] = option(
        [], "--lib", "a library folder of your own (lib.toml, or a Unikraft library's "
        "Makefile.uk), repeatable: --config may name its allocator; its sites are mutated too",
        metavar="PATH", kind="list",
    )  # fmt: skip
    jobs: int = option(
        os.cpu_count() or 1, "--jobs", "worker processes", metavar="J", parse=count,
        check=at_least(1),
    )  # fmt: skip
    cluster: str | None = option(None, "--cluster", CLUSTER_HELP, metavar="ADDRESS")
    out: str | None = option(None, "--out", "run directory (default: under ./runs/)", metavar="DIR")


# ---- run -----------------------------------------------------------------------------------------


def run_and_report(opts: RunOptions) -> int:
    """Run, print the closing line, return the exit status."""
    from emulator.instruments.contention import format_report
    from emulator.instruments.tracer import format_table
    from emulator.session.run import exit_status, run

    report = run(opts)
    result = report.result
    status = exit_status(result)
    if report.atomics:
        print(format_report(report.atomics))
    if report.allocs:
        print(format_table(report.allocs, report.allocs["missing"]))
    if report.cache:
        from emulator.instruments import cacheprofile

        print(cacheprofile.format_table(report.cache))
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
    for warning in report.summary["warnings"]:
        print(f"emulator: warning: {warning}", file=sys.stderr)
    where = f" [{shown(report.run_dir)}]" if report.run_dir else ""
    if result.outcome is Outcome.EXITED:
        note = ""
        if status == Status.GUEST_CODE_RANGE:
            note = f" (above {C.GUEST_EXIT_MAX}: exit status {status})"
        print(
            f"emulator: guest exited with code {result.exit_code}{note} after "
            f"{result.total_instructions} instructions on "
            f"{plural(len(result.instructions), 'hart')}, {result.mips:.1f} MIPS{where}",
            file=sys.stderr,
        )
    else:
        print(f"emulator: {result.outcome}: {result.message}{where}", file=sys.stderr)
    return status


def cmd_apps(libs: list[str]) -> int:
    from toolchain import catalog

    try:
        configs = catalog.configs(libs)
    except catalog.CatalogError as e:
        raise BadInput(str(e)) from None
    print("apps (python -m emulator run --app NAME, or --app ./FOLDER for one of your own):")
    for a in catalog.apps().values():
        mark = " (default)" if a.name == DEFAULT_APP else ""
        print(f"  {a.name:16} {a.description}{mark}")
    print("configurations (--config NAME):")
    for c in configs.values():
        print(f"  {c.name:16} {c.description}")
    return 0


# ---- explore -------------------------------------------------------------------------------------


def cmd_explore(opts: RunOptions, ex: ExploreOptions) -> int:
    from emulator.explore.explore import explore, implied_no_allocator, write_results
    from emulator.explore.minimize import minimize
    from emulator.session.pool import open_runner
    from emulator.session.rundir import open_run_dir

    validate(ex)
    opts = replace(opts, check=True, quiet=True)
    opts.validate()
    label = f"explore-{opts.label}-{opts.schedule}-{opts.harts}h"
    if ex.minimize is not None:
        if ex.cluster:  # (EMULATOR_CLUSTER set for every command is not a request for this one)
            raise BadInput("--minimize runs one run after another, here; drop --cluster")
        with open_run_dir(opts.out, label + f"-min{ex.minimize}") as run_dir:
            found = minimize(opts, ex.minimize, run_dir, budget=ex.minimize_runs)
        if found is None:
            print(f"emulator: seed {ex.minimize} does not fail; nothing to minimize")
            return 1
        out, _, _ = found
        again = replace(opts, seed=0, replay=str(out), no_allocator=implied_no_allocator(opts))
        print(f"replay: {again.reproduce()}")
        return 0
    # A bad cluster stops us before the run directory is made; a bad --out before any run.
    # explore() prints each failing seed as it comes (above its progress bar); not again here.
    with open_runner(ex.jobs, ex.cluster) as runner, open_run_dir(opts.out, label) as run_dir:
        results, work = explore(opts, ex.seeds, ex.jobs, not ex.all, runner)
        write_results(run_dir, results, work)
    failed = [r for r in results if r.failed]
    mips = sum(r.instructions for r in results) / max(sum(r.wall_seconds for r in results), 1e-9)
    print(
        f"explored {len(results)} of {plural(len(ex.seeds), 'seed')} ({opts.schedule}, quantum "
        f"{opts.quantum}, {plural(opts.harts, 'hart')}): {len(failed)} failed, "
        f"{mips / 1e6:.2f} MIPS per process; results in {shown(run_dir / 'results.csv')}"
    )
    if work.no_allocator and not opts.no_allocator:
        print("the image has no allocator entry point: the oracle had no call to check")
    if failed:
        again = replace(opts, seed=failed[0].seed, out=None, no_allocator=work.no_allocator)
        print(f"reproduce: {again.reproduce()}")
        at = debug_point(failed[0].outcome, failed[0].exit_code)
        if at:
            print(f"debug:     {again.reproduce()} --gdb 1234 --gdb-at {at}")
    return 1 if failed else 0


def debug_point(outcome: str, exit_code: int | None) -> str | None:
    """Where --gdb-at stops a failed run for GDB: at the violation, the fault, or the guest's
    panic (the runtime's `panic`, e.g. a failed allocator assertion)."""
    if outcome in (Outcome.VIOLATION, Outcome.FAULT):
        return str(outcome)
    if outcome == Outcome.EXITED and exit_code == C.GUEST_EXIT_PANIC:
        return "symbol:panic"
    return None


# ---- mutate --------------------------------------------------------------------------------------


def cmd_mutate(m: MutateOptions) -> int:
    import re

    from tqdm import tqdm

    from emulator.explore import mutate
    from emulator.session.pool import open_runner
    from emulator.session.rundir import open_run_dir
    from toolchain import catalog

    validate(m)
    name = m.config or ("default" if m.runtime else "bbuddy-spin")
    try:
        kinds = {lib.kind for lib in catalog.image_libraries(catalog.config(name, m.libs))}
        frontend = "frontend" in kinds
        allocator = MUTATE_APPS["frontend" if frontend else "backend"]
        if m.runtime and not kinds & {"backend", "frontend"}:
            allocator = []  # the runtime alone
        apps = list(m.apps or [*(RUNTIME_APPS if m.runtime else ()), *allocator])
        once = tuple(m.once or (["malloc-api"] if frontend and not m.apps else []))
        apps += [app for app in once if app not in apps]
        for app in apps:
            catalog.app(app)
        pattern = re.compile(m.sites) if m.sites else None
    except catalog.CatalogError as e:
        raise BadInput(str(e)) from None
    except re.error as e:
        raise BadInput(f"--sites {m.sites!r} is no regular expression: {e}") from None
    found = mutate.find_sites(name, m.libs, runtime=m.runtime)
    sites = [s for s in found if not pattern or pattern.search(s.name)]
    if not sites:
        raise BadInput(f"no atomic operation site in {name!r} matches --sites {m.sites!r}")
    libs = tuple(str(p) for p in catalog.library_paths(m.libs))
    policies = tuple(mutate.parse_policy(p) for p in m.policies) or mutate.DEFAULT_POLICIES
    plan = mutate.Plan(name, apps, m.harts, m.seeds, policies, libs=libs, walks=m.walks, once=once)
    with open_runner(m.jobs, m.cluster) as runner, open_run_dir(m.out, f"mutate-{name}") as out:
        tester = mutate.Tester(plan, out / "mutants", m.jobs, runner)
        root = mutate.copy_sources(tester.work, libs)
        tester.baseline(root)
        verdicts = []
        for site in tqdm(sites, unit="mutant", file=sys.stderr, leave=False):
            verdict = tester.test(site, root)
            verdicts.append(verdict)
            mutate.write(out, plan, verdicts)  # so far: a run cut short keeps its table
            tqdm.write(
                f"{verdict.site}: {verdict.status}"
                + (f" by {verdict.killed_by}" if verdict.killed_by else ""),
                sys.stderr,
            )
        mutate.write(out, plan, verdicts)
        shutil.rmtree(root)  # the copy of the sources; the mutants' images stay with the run
        shutil.rmtree(root.parent / mutate.EXTERNAL, ignore_errors=True)
    print(mutate.table(verdicts), end="")
    killed, counted = mutate.score(verdicts)
    print(f"{mutate.summary(plan, verdicts)}; table in {out / 'mutants.md'}")
    return 0 if killed == counted else 1


# ---- bench ---------------------------------------------------------------------------------------


def cmd_bench(b: BenchOptions) -> int:
    from emulator.bench.report import markdown_table, write_outputs
    from emulator.bench.sweep import Sweep, benchmarks, run_sweep
    from emulator.instruments.timing import CostModel
    from emulator.session.pool import open_runner
    from emulator.session.rundir import open_run_dir
    from toolchain import catalog

    validate(b)
    known = benchmarks()
    apps = b.benchmarks or known
    for name in apps:
        try:
            catalog.app(name)
        except catalog.CatalogError as e:
            raise BadInput(f"--benchmarks: {e}") from None
        if name not in known and "/" not in name:  # a folder of one's own may be one
            raise BadInput(
                f"--benchmarks: {name} is not a benchmark (it prints no result line for the "
                f"sweep); benchmarks: {', '.join(known)}"
            )
    for name in b.configs:
        try:
            catalog.config(name, b.libs)
        except catalog.CatalogError as e:
            raise BadInput(f"--configs: {e}") from None
    costs = CostModel.load(b.costs).describe()  # a bad --costs is said before anything runs
    sweep = Sweep(
        apps, b.configs, b.harts, list(range(b.seeds)), dict(b.defines), list(b.libs), b.costs
    )
    # Made before the sweep: a bad --out is said at once, not after hours of runs.
    with open_runner(b.jobs, b.cluster) as runner, open_run_dir(b.out, "bench") as run_dir:
        results = run_sweep(sweep, b.jobs, b.quantum, runner=runner)
    reproduce = f"python -m emulator bench {join(command_line(b))}".strip()
    plots = write_outputs(run_dir, results, sweep, costs, reproduce=reproduce)
    print(markdown_table(results), end="")
    bad = [r for r in results if not r.ok]
    figures = len({p.stem for p in plots})
    print(
        f"{plural(len(results), 'run')}, {len(bad)} failed; results.csv, results.json, "
        f"results.md and {plural(figures, 'figure')} (PNG and SVG) in {shown(run_dir)}"
    )
    return 1 if bad else 0


# ---- main ----------------------------------------------------------------------------------------


def _prog() -> str:
    """How the user called us: `smp-emulator` (the installed command) or python -m emulator."""
    called = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return called if called and not called.endswith(".py") else "python -m emulator"


def _parser() -> Parser:
    parser = Parser(
        prog=_prog(),
        description="Multi-hart RISC-V machine for SMP allocator experiments.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    def command(name: str, help: str, description: str) -> Parser:
        return sub.add_parser(name, help=help, description=description)

    run = command(
        "run", "boot an image or a bundled app",
        "Boot an image or a bundled app, stream its console and exit with the guest's code.",
    )  # fmt: skip
    add_arguments(run, RunOptions)
    apps = command("apps", "list bundled apps and build configurations",
                   "List the bundled apps and the build configurations.")  # fmt: skip
    apps.add_argument(
        "--lib", dest="libs", action="append", default=[], metavar="PATH",
        help="also list the allocator configurations of a library folder of your own",
    )  # fmt: skip
    ex = command(
        "explore", "run many seeded schedules with the oracle on",
        "Run one app under many seeded schedules in parallel, with the allocation oracle on, "
        "and report the seeds that fail.",
    )  # fmt: skip
    debugging = ("gdb", "gdb_wait", "gdb_at", "gdb_disconnect")  # one run, not many
    add_arguments(ex, RunOptions, skip=("seed", "save_schedule", *debugging))
    add_arguments(ex, ExploreOptions)
    bench = command(
        "bench", "sweep the SMP allocation benchmarks",
        "Run every benchmark x configuration x hart count x seed under the virtual-time model "
        "and write the results, a table and figures to a run directory.",
    )  # fmt: skip
    add_arguments(bench, BenchOptions)
    mutate = command(
        "mutate", "break each atomic of an allocator; see which tests notice",
        "Build one mutant per atomic site and operator of an allocator configuration, run the "
        "apps against each with the oracle and an exploration, and write the kill table.",
    )  # fmt: skip
    add_arguments(mutate, MutateOptions)
    return parser


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "apps":
        return cmd_apps(args.libs)
    if args.command == "explore":
        return cmd_explore(from_arguments(RunOptions, args), from_arguments(ExploreOptions, args))
    if args.command == "bench":
        return cmd_bench(from_arguments(BenchOptions, args))
    if args.command == "mutate":
        return cmd_mutate(from_arguments(MutateOptions, args))
    return run_and_report(from_arguments(RunOptions, args))


def main(argv: list[str] | None = None) -> int:
    return guarded(lambda: _main(argv))


def guarded(fn: Callable[[], int], prog: str = "emulator") -> int:
    """fn()'s status; a problem the user can fix is one line and its status, anything else a
    bug: one line naming it and the file its traceback went to, and the internal-error status."""
    try:
        return fn()
    except EmulatorError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug in the emulator: say so in one line, keep the traceback
        fd, path = tempfile.mkstemp(prefix="emulator-internal-error-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            traceback.print_exc(file=f)
        print(
            f"{prog}: internal error: {type(e).__name__}: {e} (a bug in the emulator, not in "
            f"your input; the traceback is in {path}; please report it)",
            file=sys.stderr,
        )
        return Status.INTERNAL
