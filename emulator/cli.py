"""python -m emulator run | apps

Every problem the user can fix is one line on stderr and a documented exit status; a
traceback means a bug in the emulator itself.
"""

from __future__ import annotations

import argparse
import sys

from emulator.alloctrace import format_table
from emulator.contention import format_report
from emulator.contract import C
from emulator.errors import EmulatorError
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
        help="rr (fixed quantum, hart order) or random "
        "(seeded hart order and quanta in [1, 2Q]); default rr",
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
        type=_count,
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
        trace=args.trace,
        check=args.check or args.check_every > 0,
        check_every=args.check_every,
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


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="python -m emulator",
        description="Multi-hart RISC-V machine for SMP allocator experiments.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_run_options(sub.add_parser("run", help="boot an image or a bundled app"))
    sub.add_parser("apps", help="list bundled apps and build configurations")
    args = parser.parse_args(argv)
    if args.command == "apps":
        return cmd_apps()
    return run_and_report(options_from(args))
