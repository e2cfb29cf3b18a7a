"""The options of a run, defined once: each field of `RunOptions` carries its command-line flag,
help, parser and check. From that one table come the argparse options (`add_arguments`), the
options from parsed arguments (`from_arguments`), their validation (`validate`), the command
line that reproduces a run (`command_line`) and the record a run directory keeps (`record`).
`ExploreOptions` and `BenchOptions` are built the same way.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from emulator.debug.stub import parse_stop_at
from emulator.machine.errors import BadInput
from guest.contract import C
from toolchain.args import define

DEFAULT_APP = "hello"
DEFAULT_BUDGET = 2_000_000_000
SCHEDULES = ("rr", "random", "pct", "preempt-atomics", "timed")
PCT_UNITS = ("atomics", "sync", "instructions")


# ---- value parsers and checks --------------------------------------------------------------------


def count(text: str) -> int:
    """An integer: decimal, 0x hex, or with an exponent (2e9)."""
    try:
        return (
            int(float(text))
            if "e" in text.lower() and not text.lower().startswith("0x")
            else int(text, 0)
        )
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def probability(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def at_least(low: int) -> Callable[[Any], str | None]:
    return lambda v: None if v is None or v >= low else f"must be at least {low}"


def between(low: float, high: float) -> Callable[[Any], str | None]:
    return lambda v: None if v is None or low <= v <= high else f"must be between {low} and {high}"


def one_of(choices: Iterable[str]) -> Callable[[Any], str | None]:
    choices = tuple(choices)
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}"


def stop_at(text: str) -> str:
    """--gdb-at: checked here, kept as given."""
    problem = stop_at_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"--gdb-at {problem}")
    return text


def stop_at_problem(text: str | None) -> str | None:
    try:
        if text is not None:
            parse_stop_at(text)
    except ValueError as e:
        return str(e)
    return None


# ---- the table -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """How one field appears to the user."""

    flag: str | None  # "--harts"; "IMAGE" (no dash): positional; None: not on the command line
    help: str = ""
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None
    check: Callable[[Any], str | None] | None = None
    choices: tuple[str, ...] | None = None
    kind: str = "value"  # value | flag (store_true) | list (repeatable) | defines (-D) | many
    replay: bool = True  # part of the command line that reproduces a run
    recorded: bool = True  # kept in summary.json's `options` (not what leaves the run unchanged)


def option(default: Any = None, flag: str | None = None, help: str = "", **kw: Any) -> Any:
    meta = {"option": Option(flag, help, **kw)}
    if isinstance(default, list | dict):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


def _option(f) -> Option | None:
    return f.metadata.get("option")


def option_of(cls: type, name: str) -> Any:
    """Another command's field with `cls`'s option `name` as it is (flag, help, parser, check,
    default): one definition, so the two cannot drift apart (bench's --costs is run's)."""
    f = next(f for f in fields(cls) if f.name == name)
    default = f.default_factory() if f.default is MISSING else f.default  # type: ignore[misc]
    return option(default, **vars(_option(f)))


def _with_default(help: str, default: Any) -> str:
    """The help with its default, unless the help already says it or there is none (0 is one)."""
    if "(default" in help or default is None or default is False or default in ([], {}):
        return help
    shown = " ".join(map(str, default)) if isinstance(default, list) else default
    return f"{help} (default {shown})"


def add_arguments(
    parser: argparse.ArgumentParser,
    cls: type,
    skip: Iterable[str] = (),
    only: Iterable[str] | None = None,
    defaults: dict[str, Any] | None = None,
) -> None:
    """One argparse option per field of `cls` that has a flag (except those in `skip`; only
    those in `only` when given). `defaults` replaces the table's defaults (a script measuring
    something else than `run` does), in the help too."""
    skip, defaults = set(skip), defaults or {}
    for f in fields(cls):
        o = _option(f)
        if (
            o is None
            or o.flag is None
            or f.name in skip
            or (only is not None and f.name not in only)
        ):
            continue
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        help = o.help
        if f.name in defaults:
            default, help = defaults[f.name], re.sub(r" \(default[^)]*\)", "", help)
        kw: dict[str, Any] = {"help": _with_default(help, default), "metavar": o.metavar}
        if not o.flag.startswith("-"):
            parser.add_argument(f.name, nargs="?", metavar=o.flag, help=o.help)
            continue
        if o.kind == "flag":
            parser.add_argument(o.flag, dest=f.name, action="store_true", help=o.help)
            continue
        if o.kind in ("list", "defines"):
            kw.update(action="append", default=[])
        elif o.kind == "many":
            kw.update(nargs="+", default=default)
        else:
            kw.update(default=default)
        if o.parse is not None:
            kw["type"] = o.parse
        if o.choices is not None:
            kw["choices"] = o.choices
        parser.add_argument(o.flag, dest=f.name, **kw)


def from_arguments(cls: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """An instance of `cls` from parsed arguments (fields without a flag keep their default)."""
    values: dict[str, Any] = {}
    for f in fields(cls):
        o = _option(f)
        if o is None or o.flag is None or not hasattr(args, f.name):
            continue
        value = getattr(args, f.name)
        if o.kind == "defines":
            value = dict(value)
        values[f.name] = value
    values.update(overrides)
    return cls(**values)


def validate(opts: Any) -> None:
    """Raise BadInput naming the flag of the first field whose check fails."""
    for f in fields(opts):
        o = _option(f)
        if o is None or o.check is None:
            continue
        value = getattr(opts, f.name)
        # a repeated or many-valued option is checked value by value, and names the bad one
        values = value if o.kind in ("list", "many") and isinstance(value, list) else [value]
        for v in values:
            problem = o.check(v)
            if problem:
                raise BadInput(f"{o.flag or f.name} {problem} (got {v!r})")


def command_line(opts: Any, skip: Iterable[str] = ()) -> list[str]:
    """The options (beside their defaults) that reproduce `opts` on the command line."""
    skip = set(skip)
    out: list[str] = []
    for f in fields(opts):
        o = _option(f)
        if o is None or o.flag is None or not o.replay or f.name in skip:
            continue
        value = getattr(opts, f.name)
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        if value == default:
            continue
        if not o.flag.startswith("-"):
            out.insert(0, str(value))
        elif o.kind == "flag":
            out.append(o.flag)
        elif o.kind == "defines":
            for name, v in value.items():
                out += [o.flag, f"{name}={v}"]
        elif o.kind == "list":
            for v in value:
                out += [o.flag, str(v)]
        elif o.kind == "many":
            out += [o.flag, *map(str, value)]
        else:
            out += [o.flag, str(value)]
    return out


def record(opts: Any) -> dict[str, Any]:
    """Every field that has an option, as the run directory keeps it."""
    return {
        f.name: getattr(opts, f.name)
        for f in fields(opts)
        if (o := _option(f)) is not None and o.recorded
    }


def join(args: list[str]) -> str:
    return shlex.join(args)


# ---- the options of `run` ------------------------------------------------------------------------


@dataclass
class RunOptions:
    image: str | None = option(
        None,
        "IMAGE",
        "an rv64 ELF image to boot (the same as --kernel IMAGE)",
    )
    bios: str = option(
        "none", "--bios",
        "firmware the harts enter from the reset ROM, as QEMU's -bios: an ELF, or a raw binary "
        "loaded at 0x80000000; none: the harts start in the kernel directly",
        metavar="none|FILE",
    )  # fmt: skip
    kernel: str | None = option(
        None, "--kernel",
        "the kernel, as QEMU's -kernel: an ELF at its own addresses, or a raw binary at the "
        "first 2 MiB boundary after the firmware (0x80200000 after OpenSBI)",
        metavar="FILE",
    )  # fmt: skip
    app: str | None = option(
        None, "--app",
        f"build and boot a bundled app (default {DEFAULT_APP}), or the app in a folder of your "
        "own (a path, with a slash: ./myapp); with --bios FILE, built as an S-mode SBI payload "
        "(python -m toolchain build --firmware opensbi)",
        metavar="NAME|PATH",
    )  # fmt: skip
    config: str = option("default", "--config", "build configuration for --app", metavar="NAME")
    libs: list[str] = option(
        [], "--lib",
        "a library folder of your own (lib.toml, or a Unikraft library's Makefile.uk): an "
        "allocator there is a configuration of its name (--config NAME, mimalloc+NAME)",
        metavar="PATH", kind="list",
    )  # fmt: skip
    defines: dict[str, str] = option(
        {}, "-D", "extra macro when building --app", metavar="NAME=VALUE", parse=define,
        kind="defines",
    )  # fmt: skip
    harts: int = option(
        1, "--harts", f"number of harts, 1-{C.MAX_HARTS}", metavar="N", parse=count,
        check=between(1, C.MAX_HARTS),
    )  # fmt: skip
    schedule: str = option(
        "rr", "--schedule",
        "rr (harts in order, a quantum each), random (seeded hart order and quanta in [1, 2Q]), "
        "pct (random priorities, d-1 change points), preempt-atomics (a switch before each "
        "atomic with probability p) or timed (the hart furthest behind in virtual time; "
        "what --timing picks)",
        choices=SCHEDULES,
    )  # fmt: skip
    pct_depth: int | None = option(
        None, "--pct-depth", "pct: d (default 3)", metavar="D", parse=count, check=at_least(1)
    )
    pct_steps: int | None = option(
        None, "--pct-steps", "pct: k steps (default: counted in a round-robin run)", metavar="K",
        parse=count, check=at_least(1),
    )  # fmt: skip
    pct_unit: str = option(
        "atomics", "--pct-unit",
        "pct: a step is an atomic (switches happen in front of one), also a plain load or store "
        "of a word atomics use (sync), or any instruction (instructions)",
        choices=PCT_UNITS,
    )  # fmt: skip
    preempt_p: float | None = option(
        None, "--preempt-p", "preempt-atomics: switch probability at each atomic (default 0.1)",
        metavar="P", parse=probability, check=between(0, 1),
    )  # fmt: skip
    replay: str | None = option(None, "--replay", "replay a schedule file (turns)", metavar="FILE")
    save_schedule: str | None = option(
        None, "--save-schedule", "write this run's turns to FILE", metavar="FILE", replay=False
    )
    timing: bool = option(
        False, "--timing",
        "virtual-time model: cache misses, line transfers, atomics and fences cost cycles "
        "(--costs); the hart furthest behind runs next (replaces rr)",
        kind="flag",
    )  # fmt: skip
    costs: str | None = option(
        None, "--costs",
        "costs for --timing: a bundled cost file by name (coherence, the default: every load "
        "and store through a MESI directory; atomics: only atomics and fences cost) or a path",
        metavar="NAME|FILE",
    )  # fmt: skip
    stall: list[str] = option(
        [], "--stall",
        "the Nth entry into SYMBOL stalls that hart for K instructions of the others",
        metavar="SYMBOL:K[:N]", kind="list",
    )  # fmt: skip
    fail: list[str] = option(
        [], "--fail", "make the Nth CALL (palloc, mmap, malloc, ...) fail without running",
        metavar="CALL:N", kind="list",
    )  # fmt: skip
    quantum: int = option(
        1000, "--quantum", "instructions a hart runs before the next is picked", metavar="Q",
        parse=count, check=at_least(1),
    )  # fmt: skip
    seed: int = option(
        0, "--seed", "seed of the random schedule", metavar="S", parse=count, check=at_least(0)
    )
    ram_mib: int = option(
        C.RAM_DEFAULT_MIB, "--ram", "guest RAM in MiB", metavar="MiB", parse=count,
        check=between(C.RAM_MIN_MIB, C.RAM_MAX_MIB),
    )  # fmt: skip
    max_instructions: int = option(
        DEFAULT_BUDGET, "--max-instructions", "stop after N instructions over all harts",
        metavar="N", parse=count, check=at_least(1),
    )  # fmt: skip
    out: str | None = option(
        None, "--out", "run directory (default: a new one under ./runs/)", metavar="DIR",
        replay=False,
    )  # fmt: skip
    quiet: bool = option(
        False, "--quiet", "do not copy the guest console to stdout", kind="flag", replay=False
    )
    atomics: bool = option(
        False, "--atomics", "count atomics and lock waits per hart, site and lock (atomics.json)",
        kind="flag",
    )  # fmt: skip
    locks: list[str] = option(
        [], "--lock",
        "with --atomics: lock functions taking the lock as first argument, for locks the "
        "monitor cannot recognise (ticket_lock:ticket_unlock is always declared)",
        metavar="ACQUIRE:RELEASE", kind="list",
    )  # fmt: skip
    trace: bool = option(
        False, "--trace",
        "trace every allocator call per hart (allocs.jsonl, allocs.trace.json for Perfetto)",
        kind="flag",
    )  # fmt: skip
    check: bool = option(
        False, "--check",
        "check every allocator call against a shadow heap; stop at the first violation",
        kind="flag",
    )  # fmt: skip
    check_every: int | None = option(
        None, "--check-every",
        "with --check: also walk the allocator's structures every N instructions",
        metavar="N", parse=count, check=at_least(1),
    )  # fmt: skip
    no_allocator: bool = option(
        False, "--no-allocator",
        "with --check or --trace: the image has no allocator, so finding none of its entry "
        "points is expected (otherwise that is an error)",
        kind="flag",
    )  # fmt: skip
    # A debugger changes nothing in the run: not in the reproduce line, not in the record.
    gdb: int | None = option(
        None, "--gdb",
        "serve GDB's remote protocol on localhost:PORT (0: any free port, printed); each hart "
        "is a thread; the run is the same with or without GDB",
        metavar="PORT", parse=count, check=between(0, 65535), replay=False, recorded=False,
    )  # fmt: skip
    gdb_wait: bool = option(
        False, "--gdb-wait", "with --gdb: wait for GDB before the first instruction (QEMU's -S)",
        kind="flag", replay=False, recorded=False,
    )  # fmt: skip
    gdb_at: str | None = option(
        None, "--gdb-at",
        "with --gdb: run at full speed to that point (violation turns --check on), then wait "
        "for GDB with every hart stopped",
        metavar="violation|fault|instruction:N|symbol:NAME[:K]", parse=stop_at,
        check=stop_at_problem, replay=False, recorded=False,
    )  # fmt: skip
    gdb_disconnect: str = option(
        "go-on", "--gdb-disconnect",
        "with --gdb: when GDB goes away without detaching, the run goes on (go-on) or ends "
        "(end: outcome killed)",
        choices=("go-on", "end"), replay=False, recorded=False,
    )  # fmt: skip
    # Not on the command line: set by front ends and tests.
    write_files: bool = True  # make a run directory (False: nothing is written)
    listeners: list = field(default_factory=list)  # more tracer listeners (tracer.Listener)
    # pct unit sync: the sync sites; None: discovered in a round-robin run (schedule/syncsites.py)
    sync_sites: tuple[int, ...] | None = None
    # heap-walker plugins, (file name, source), besides those of --lib folders; explore hands its
    # workers the --lib ones this way, since they run the built image (on a cluster too)
    heap_walkers: tuple[tuple[str, str], ...] = ()

    def validate(self) -> None:
        validate(self)
        if self.image and self.kernel:
            raise BadInput("IMAGE is the same as --kernel IMAGE: give one of them")
        if (self.image or self.kernel) and self.app:
            what = "an IMAGE" if self.image else "--kernel FILE"
            raise BadInput(f"give {what} or --app NAME, not both")
        if (self.image or self.kernel) and (self.defines or self.config != "default" or self.libs):
            what = "IMAGE" if self.image else "--kernel FILE"
            raise BadInput(
                f"--config, --lib and -D build an app; they do not apply to a given {what}"
            )
        if self.check_every and not self.check:
            raise BadInput("--check-every walks the heap for the oracle: add --check")
        if self.locks and not self.atomics:
            raise BadInput("--lock declares locks for the contention monitor: add --atomics")
        if self.gdb is None:
            for flag, given in (
                ("--gdb-wait", self.gdb_wait),
                ("--gdb-at", self.gdb_at),
                ("--gdb-disconnect", self.gdb_disconnect != "go-on"),
            ):
                if given:
                    raise BadInput(f"{flag} is for the GDB stub: add --gdb PORT")
        if self.gdb_wait and self.gdb_at:
            raise BadInput(
                "--gdb-wait stops before the first instruction, --gdb-at later: give one"
            )

    def walker_plugins(self) -> tuple[tuple[str, str], ...]:
        """The heap-walker plugins of this run as (file name, source): heapwalk.py in each
        --lib folder that has one."""
        from pathlib import Path

        found = []
        for lib in self.libs:
            path = Path(lib) / "heapwalk.py"
            if path.is_file():
                try:
                    found.append((str(path), path.read_text()))
                except (OSError, UnicodeDecodeError) as e:
                    raise BadInput(f"heap walker plugin {path}: cannot read it ({e})") from None
        return self.heap_walkers + tuple(found)

    @property
    def default_app(self) -> bool:
        """Whether the default app boots: nothing else was named (with a firmware, nothing
        else means the firmware alone)."""
        return not (self.image or self.kernel or self.app) and self.bios == "none"

    @property
    def label(self) -> str:
        """What the run is of: the app, or the kernel's (else the firmware's) name."""
        from pathlib import Path

        path = self.image or self.kernel or (None if self.app or self.default_app else self.bios)
        if path:
            return Path(path).stem
        # An app folder (--app ./mine) by its name; "." is the folder the user is in.
        return Path(self.app).resolve().name if self.app else DEFAULT_APP

    def reproduce(self, command: str = "python -m emulator run") -> str:
        """The command line that runs this again."""
        args = command_line(self)
        if self.default_app:
            args = ["--app", DEFAULT_APP, *args]
        return f"{command} {join(args)}"
