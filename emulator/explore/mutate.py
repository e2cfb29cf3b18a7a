"""Mutation testing for atomics: does the project's checking find a broken synchronization?

Every atomic operation site in an allocator configuration's sources (the libraries it links, the
runtime if asked) is mutated, one site and one operator at a time, into what a developer might
have written instead: a compare-and-swap as a load, a compare and a store; an exchange as a
load and a store; a fetch-and-op as a load, the op and a store; a lock or unlock call as
nothing; an AMO in assembly as a load, the op and a store. Each mutant is built from a copy of
the guest sources (never the checkout's) and run against the tests: each app once with the
oracle on, then an exploration of seeds under each schedule policy, lowest seeds first. The
first failure kills it, if the original passes that same run (its plain runs are checked before
any mutant, an explored seed when it first kills one); a mutant that passes everything survived.

What cannot change behaviour on this machine is listed, not counted: every execution here is
sequentially consistent, so removing a fence or weakening a memory order changes nothing a
schedule could show (`NOT_COUNTED`). A mutant whose image is byte for byte the original's (a
site in code the configuration does not compile) is "not built", also not counted. A site the
source marks equivalent (a comment `mutate: equivalent: REASON` on its line or the line above:
`EQUIVALENT`) is listed as "equivalent" with the reason, neither built nor run nor counted.

Deterministic: the same configuration, tests and seeds give the same table (time aside):
seeds run in batches of `jobs` and the lowest failing seed of the first failing batch is the one
reported.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from emulator.explore.explore import explore, failure_message, implied_no_allocator
from emulator.machine.errors import BadInput
from emulator.machine.image import Image
from emulator.session import RunOptions, run
from emulator.session.pool import Runner

# ---- operators -----------------------------------------------------------------------------------

RMW_OPS = {"add": "+", "sub": "-", "or": "|", "and": "&", "xor": "^"}

# Put in front of a mutated C file (then `#line 1` so lines and DWARF stay the file's own): the
# plain-access versions of the builtins, as GNU statement expressions with the builtins' types.
C_PRELUDE = r"""
#define MUTANT_CAS(p, e, d, weak, so, fo) __extension__({                                  \
    __typeof__(p) mut_p_ = (p);                                                            \
    __typeof__(e) mut_e_ = (e);                                                            \
    __typeof__(*mut_p_) mut_old_ = __atomic_load_n(mut_p_, __ATOMIC_RELAXED);              \
    int mut_ok_ = mut_old_ == *mut_e_;                                                     \
    if (mut_ok_)                                                                           \
        __atomic_store_n(mut_p_, (d), __ATOMIC_RELAXED);                                   \
    else                                                                                   \
        *mut_e_ = mut_old_;                                                                \
    mut_ok_;                                                                               \
})
#define MUTANT_XCHG(p, v, mo) __extension__({                                              \
    __typeof__(p) mut_p_ = (p);                                                            \
    __typeof__(*mut_p_) mut_old_ = __atomic_load_n(mut_p_, __ATOMIC_RELAXED);              \
    __atomic_store_n(mut_p_, (v), __ATOMIC_RELAXED);                                       \
    mut_old_;                                                                              \
})
#define MUTANT_RMW(p, v, OP, NEW) __extension__({                                          \
    __typeof__(p) mut_p_ = (p);                                                            \
    __typeof__(*mut_p_) mut_old_ = __atomic_load_n(mut_p_, __ATOMIC_RELAXED);              \
    __typeof__(*mut_p_) mut_new_ = mut_old_ OP (v);                                        \
    __atomic_store_n(mut_p_, mut_new_, __ATOMIC_RELAXED);                                  \
    NEW ? mut_new_ : mut_old_;                                                             \
})
#define MUTANT_NOTHING(...) ((void)(__VA_ARGS__))
"""


@dataclass(frozen=True)
class Operator:
    name: str
    what: str  # the mistake it makes, for the table
    pattern: re.Pattern[str]  # the site, in a C file (or assembly: `assembly`)
    replace: Callable[[re.Match[str]], str] | None  # None: listed, never built (NOT_COUNTED)
    assembly: bool = False


def _rmw(m: re.Match[str]) -> str:
    fetch_first, op = m.group(1) == "fetch_", m.group(2) or m.group(3)
    return f"MUTANT_RMW_{op}_{'old' if fetch_first else 'new'}("


_RMW_MACROS = "".join(
    f"#define MUTANT_RMW_{op}_{when}(p, v, mo) MUTANT_RMW(p, v, {sym}, {int(when == 'new')})\n"
    for op, sym in RMW_OPS.items()
    for when in ("old", "new")
)
C_PRELUDE += _RMW_MACROS

_OPS = "|".join(RMW_OPS)
OPERATORS: tuple[Operator, ...] = (
    Operator(
        "cas-plain", "compare-and-swap as load, compare, store",
        re.compile(r"\b__atomic_compare_exchange_n\s*\("), lambda m: "MUTANT_CAS(",
    ),
    Operator(
        "xchg-plain", "exchange as load then store",
        re.compile(r"\b__atomic_exchange_n\s*\("), lambda m: "MUTANT_XCHG(",
    ),
    Operator(
        "rmw-plain", "fetch-and-op as load, op, store",
        re.compile(rf"\b__atomic_(?:(fetch_)({_OPS})|({_OPS})_fetch)\s*\("), _rmw,
    ),
    Operator(
        "lock-nothing", "a lock taken: not taken",
        re.compile(r"\b(?:uk_spin_lock|spin_lock|ticket_lock|uk_mutex_lock)\s*\("),
        lambda m: "MUTANT_NOTHING(",
    ),
    Operator(
        "unlock-nothing", "a lock released: never released",
        re.compile(r"\b(?:uk_spin_unlock|spin_unlock|ticket_unlock|uk_mutex_unlock)\s*\("),
        lambda m: "MUTANT_NOTHING(",
    ),
    Operator(
        "amo-plain", "an AMO (assembly) as load, op, store",
        re.compile(r"\bamo(add|or|and|xor)\.([wd])\s+zero\s*,\s*(\w+)\s*,\s*\((\w+)\)"),
        lambda m: (
            f"l{m.group(2)} t6, 0({m.group(4)}); "
            f"{m.group(1)}{'w' if m.group(1) == 'add' and m.group(2) == 'w' else ''} "
            f"t6, t6, {m.group(3)}; s{m.group(2)} t6, 0({m.group(4)})"
        ),
        assembly=True,
    ),
    Operator(
        "fence-nothing", "a fence removed",
        re.compile(r"\b__atomic_thread_fence\s*\("), None,
    ),
)  # fmt: skip
NOT_COUNTED = (
    "every execution on this machine is sequentially consistent: a removed fence or a weaker "
    "memory order changes nothing a schedule can show"
)


# ---- sites ---------------------------------------------------------------------------------------


EXTERNAL = "ext"  # a --lib folder's sources: Site.file is ext/<folder name>/<path in it>


@dataclass(frozen=True)
class Site:
    file: str  # relative to the guest root, or ext/<folder>/... for a --lib folder
    line: int
    offset: int  # of the match in the file
    operator: str
    text: str  # what the site says
    equivalent: str = ""  # the source's reason the mutant cannot be told apart (EQUIVALENT)

    @property
    def name(self) -> str:
        return f"{self.file}:{self.line} {self.operator}"


# A mutant shown equivalent (no correct use can tell it from the original) is marked so in the
# source, in a comment on the site's line or alone on the line above, so that it neither burns
# the seed budget nor counts against the score:
#     /* mutate: equivalent: REASON */            every operator's mutant of the sites there
#     /* mutate: equivalent cas-plain: REASON */  that operator's only
EQUIVALENT = re.compile(r"\bmutate:\s*equivalent(?:\s+([\w-]+))?\s*:\s*(.*?)\s*(?:\*/|$)")


def _code_only(text: str) -> str:
    """`text` with comments blanked (same length, newlines kept): sites are code."""

    def blank(m: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", m.group(0))

    return re.sub(r"/\*.*?\*/|//[^\n]*", blank, text, flags=re.S)


# What stands before a lock operator's name when the name is declared or defined, not called
_DECLARED = re.compile(r"\b(?:void|bool|int)\s+$")


def find_sites(
    config: str, libs: list[str] | tuple[str, ...] = (), runtime: bool = False
) -> list[Site]:
    """Every site of every operator in the libraries `config` links (`libs`: the --lib folders
    the configuration may come from, a user's allocator); the runtime's (guest/lib/rt: locks,
    barriers, IPIs, under every app) only with `runtime`."""
    from toolchain import catalog

    sites = []
    for lib in catalog.image_libraries(catalog.config(config, libs)):
        if lib.kind == "runtime" and not runtime:
            continue
        top = (
            Path(EXTERNAL, lib.directory.name)
            if lib.external
            else lib.directory.relative_to(catalog.guest_root())
        )
        files = sorted(p for p in lib.directory.rglob("*") if p.suffix in (".c", ".h", ".S"))
        for path in files:
            raw = path.read_text(errors="replace")
            text = _code_only(raw)
            rel = str(top / path.relative_to(lib.directory))
            marks = _equivalence_marks(raw, text, rel, hash_comments=path.suffix == ".S")
            for op in OPERATORS:
                if op.assembly != (path.suffix == ".S"):
                    continue
                if op.assembly and re.search(r"\bt6\b|\bx31\b", text):
                    continue  # the mutant needs t6 as scratch
                for m in op.pattern.finditer(text):
                    if _DECLARED.search(text, text.rfind("\n", 0, m.start()) + 1, m.start()):
                        continue  # `void spin_lock(...)`: the function itself, not a call
                    line = text.count("\n", 0, m.start()) + 1
                    reason = next(
                        (why for only, why in marks.get(line, []) if only in ("", op.name)), ""
                    )
                    sites.append(Site(rel, line, m.start(), op.name, m.group(0).strip(), reason))
    return sorted(sites, key=lambda s: (s.file, s.offset))


def _equivalence_marks(
    raw: str, code: str, where: str, hash_comments: bool = False
) -> dict[int, list[tuple[str, str]]]:
    """line -> [(operator or "" for all, reason)] of the EQUIVALENT comments in a file (`raw`;
    `code`: the same with comments blanked, so a mark must be in a comment, or after a `#` in
    assembly: `hash_comments`). A mark covers its own line, and the next when no code shares
    its line."""
    marks: dict[int, list[tuple[str, str]]] = {}
    code_lines = code.split("\n")
    for number, text in enumerate(raw.split("\n"), 1):
        m = EQUIVALENT.search(text)
        if not m:
            continue
        line = code_lines[number - 1]
        if hash_comments and "#" in line[: m.start()]:
            line = line[: line.index("#")]
        if line[m.start() : m.start() + 1].strip():
            continue  # not in a comment
        only, reason = m.group(1) or "", m.group(2)
        if only and only not in {o.name for o in OPERATORS}:
            raise BadInput(
                f"{where}:{number}: `mutate: equivalent {only}:` names no operator "
                f"({', '.join(o.name for o in OPERATORS)})"
            )
        if not reason:
            raise BadInput(f"{where}:{number}: `mutate: equivalent:` wants a reason after it")
        for covered in (number, number + 1) if not line.strip() else (number,):
            marks.setdefault(covered, []).append((only, reason))
    return marks


def source(site: Site, root: Path) -> Path:
    """The file of `site` in the copy whose guest tree is `root` (copy_sources)."""
    return root.parent / site.file if site.file.startswith(EXTERNAL + "/") else root / site.file


def apply(site: Site, root: Path) -> None:
    """Write the mutant of `site` into the guest tree at `root` (a copy)."""
    op = next(o for o in OPERATORS if o.name == site.operator)
    assert op.replace is not None
    path = source(site, root)
    text = path.read_text()
    m = op.pattern.match(_code_only(text), site.offset)
    assert m is not None, site
    mutated = text[: m.start()] + op.replace(m) + text[m.end() :]
    if not op.assembly:
        # `#line 1` without a name: __FILE__ (in assertion messages) stays what the compiler
        # was given, else a site in code compiled out would change the image's strings
        mutated = f"{C_PRELUDE}\n#line 1\n{mutated}"
    path.write_text(mutated)


BUDGET_FACTOR, BUDGET_FLOOR = 10, 1_000_000

# ---- the tests a mutant must fail ----------------------------------------------------------------


# (schedule, quantum, pct unit): pct steps at plain accesses to synchronization words too,
# where a CAS made a load and a store leaves no atomic to preempt in front of. In the order
# tried: random at quantum 5 kills the most within a few seeds, preempt-atomics much of what it
# misses, pct what needs a hart held off long (docs/mutation.md, "Which policy kills fastest").
DEFAULT_POLICIES: tuple[tuple[str, int, str], ...] = (
    ("random", 5, ""),
    ("preempt-atomics", 20, ""),
    ("pct", 10, "sync"),
)
POLICY_SCHEDULES = ("rr", "random", "pct", "preempt-atomics")


def parse_policy(text: str) -> tuple[str, int, str]:
    """`SCHEDULE:QUANTUM[:UNIT]` (random:5, pct:10:sync) as (schedule, quantum, pct unit)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or parts[0] not in POLICY_SCHEDULES or not parts[1].isdigit():
        raise BadInput(
            f"--policy {text!r}: give SCHEDULE:QUANTUM[:PCT_UNIT], SCHEDULE one of "
            f"{', '.join(POLICY_SCHEDULES)} (random:5, pct:10:sync)"
        )
    unit = parts[2] if len(parts) == 3 else ""
    if unit and (parts[0] != "pct" or unit not in ("atomics", "sync", "instructions")):
        raise BadInput(f"--policy {text!r}: a unit (atomics, sync, instructions) is pct's")
    if int(parts[1]) < 1:
        raise BadInput(f"--policy {text!r}: the quantum is at least 1")
    return parts[0], int(parts[1]), unit


def policy_name(policy: tuple[str, int, str]) -> str:
    schedule, quantum, unit = policy
    return f"{schedule}:{quantum}" + (f":{unit}" if unit else "")


@dataclass(frozen=True)
class Plan:
    config: str
    apps: list[str]
    harts: int = 4
    seeds: int = 50  # per app and policy
    policies: tuple[tuple[str, int, str], ...] = DEFAULT_POLICIES
    ram_mib: int = 64
    libs: tuple[str, ...] = ()  # --lib folders (the user's); built from their copies
    # Heap walks per run besides the one at the end (--check-every: the original's instructions
    # over this); damage that heals before the end (a frontend's page that lost a block empties
    # and goes back whole) is seen only by a walk in between
    walks: int = 0
    plain: bool = True  # each app once under the default schedule before the explorations
    # apps run once only, never explored (malloc-api: 55 million instructions, minutes a seed
    # under pct's sync unit); they are among `apps`
    once: tuple[str, ...] = ()

    def steps(self) -> Iterator[tuple[str, RunOptions, list[int]]]:
        """(what it is, run options without the image, seeds: [] for one plain run)."""
        if self.plain:
            for app in self.apps:
                yield f"run {app}", self.options(app), []
        for schedule, quantum, unit in self.policies:
            for app in (a for a in self.apps if a not in self.once):
                opts = replace(self.options(app), schedule=schedule, quantum=quantum)
                if unit:
                    opts = replace(opts, pct_unit=unit)
                yield (
                    f"explore {app} {policy_name((schedule, quantum, unit))}",
                    opts,
                    list(range(self.seeds)),
                )

    def options(self, app: str) -> RunOptions:
        opts = RunOptions(
            app=app, config=self.config, harts=self.harts, check=True, quiet=True,
            ram_mib=self.ram_mib, libs=list(self.libs),
        )  # fmt: skip
        opts.write_files = False
        return opts


@dataclass
class Verdict:
    site: str
    operator: str
    text: str
    status: str  # killed, survived, not built, not counted
    killed_by: str | None = None
    seeds_to_kill: int | None = None  # seeds run by the killing exploration (0: a plain run)
    message: str = ""
    seconds: float = 0.0


@dataclass
class Tester:
    plan: Plan
    work: Path  # where the copy of the sources and the mutants' images go
    jobs: int
    runner: Runner
    images: dict[str, bytes] = field(default_factory=dict)  # app -> the original's code
    budgets: dict[str, int] = field(default_factory=dict)  # app -> instruction budget
    walk_every: dict[str, int] = field(default_factory=dict)  # app -> --check-every
    originals: dict[str, Path] = field(default_factory=dict)  # app -> the original's image
    passed: set[tuple[str, int]] = field(default_factory=set)  # (step, seed) the original passes

    def _build(self, root: Path, app: str) -> Path:
        from toolchain import BuildError, build, catalog

        libs = [root.parent / EXTERNAL / Path(lib).resolve().name for lib in self.plan.libs]
        with catalog.guest_sources(root):
            try:
                return build(app, self.plan.config, libs=libs)
            except BuildError as e:
                lines = str(e).splitlines()
                raise BuildFailed(next((x for x in lines if "error:" in x), lines[-1])) from None

    def baseline(self, root: Path) -> None:
        """The original must pass what kills a mutant, or the kill means nothing: each app's
        plain run here, and each explored seed that kills a mutant when it does (`_confirm`:
        once per step and seed; exploring every seed of every policy up front would cost more
        than most tables, pct's seeds of alloc-tests above all). Its instruction counts set the
        budget of every run (BUDGET_FACTOR times the original's): a mutant that hangs (a lock
        never released) is killed by the budget, not waited for."""
        images = {app: self._build(root, app) for app in self.plan.apps}
        self.images = {app: _code(path) for app, path in images.items()}
        self.originals, self.passed = images, set()
        # One run per app measures it: its instructions set the budget and the walks' spacing
        # of every step after, the original's own included.
        self.budgets, self.walk_every = {}, {}
        for app in self.plan.apps:
            total = run(_on_image(self.plan.options(app), images[app])).result.total_instructions
            self.budgets[app] = BUDGET_FACTOR * total + BUDGET_FLOOR
            if self.plan.walks:
                self.walk_every[app] = max(1, total // self.plan.walks)
        found = self._first_failure(images, explored=False)
        if found:
            self._fails_its_own_tests(*found)

    def _fails_its_own_tests(self, step: str, seeds: int, message: str) -> None:
        raise BadInput(
            f"the unmutated configuration {self.plan.config!r} fails its own tests ({step}"
            f"{f', seed {seeds - 1}' if seeds else ''}: {message}): mutants would prove nothing"
        )

    def _confirm(self, step: str, app: str, opts: RunOptions, seed: int) -> None:
        """The original passes `seed` of the exploration `step` of `app` (`opts`: the
        mutant's), or no mutant's kill means anything (bad input)."""
        if (step, seed) in self.passed:
            return
        original = replace(opts, image=str(self.originals[app]))
        [result], _ = explore(original, [seed], 1, False, self.runner, progress=False)
        if result.failed:
            self._fails_its_own_tests(step, seed + 1, result.message)
        self.passed.add((step, seed))

    def test(self, site: Site, root: Path) -> Verdict:
        started = time.perf_counter()
        verdict = Verdict(site.name, site.operator, site.text, "survived")
        if site.equivalent:
            verdict.status, verdict.message = "equivalent", site.equivalent
            return verdict
        op = next(o for o in OPERATORS if o.name == site.operator)
        if op.replace is None:
            verdict.status = "not counted"
            return verdict
        original = source(site, root).read_text()
        try:
            apply(site, root)
            images = {app: self._build(root, app) for app in self.plan.apps}
        except BuildFailed as e:
            verdict.status, verdict.message = "not built", f"the mutant does not compile: {e}"
            return verdict
        finally:
            source(site, root).write_text(original)
        if all(_code(images[app]) == self.images[app] for app in self.plan.apps):
            verdict.status = "not built"
            verdict.message = "the image is the original's (code this configuration leaves out)"
            return verdict
        found = self._first_failure(images)
        if found:
            verdict.status = "killed"
            verdict.killed_by, verdict.seeds_to_kill, verdict.message = found
        verdict.seconds = round(time.perf_counter() - started, 3)
        return verdict

    def _first_failure(
        self, images: dict[str, Path], explored: bool = True
    ) -> tuple[str, int, str] | None:
        """(step, seeds it took: 0 for a plain run, the message) of the first failure of the
        images' runs, or None; `explored`: the explorations too, each kill confirmed on the
        original."""
        for step, opts, seeds in self.plan.steps():
            if seeds and not explored:
                continue
            app = opts.app or ""
            opts = _on_image(opts, images[app], max_instructions=self.budgets[app],
                             check_every=self.walk_every.get(app))  # fmt: skip
            if not seeds:
                report = run(opts)
                if not (report.result.outcome == "exited" and report.result.exit_code == 0):
                    return step, 0, failure_message(report)
                continue
            for start in range(0, len(seeds), self.jobs):
                batch = seeds[start : start + self.jobs]
                results, _ = explore(opts, batch, self.jobs, False, self.runner, progress=False)
                failed = [r for r in results if r.failed]
                if failed:
                    first = min(failed, key=lambda r: r.seed)
                    self._confirm(step, app, opts, first.seed)
                    return step, first.seed + 1, first.message
        return None


class BuildFailed(Exception):
    pass


def _on_image(opts: RunOptions, image: Path, **more) -> RunOptions:
    """An app's options (the plan's) as a run of its built `image`: the app's heap walkers kept,
    and no allocator when the image has none (the runtime's apps)."""
    return replace(opts, image=str(image), app=None, config="default", libs=[],
                   heap_walkers=opts.walker_plugins(),
                   no_allocator=implied_no_allocator(opts, Image(image)), **more)  # fmt: skip


def _code(image: Path) -> bytes:
    """The bytes an image loads (debug information aside: line numbers move with a mutant)."""
    return b"".join(seg.data for seg in Image(image).segments)


def copy_sources(work: Path, libs: list[str] | tuple[str, ...] = ()) -> Path:
    """Copy the guest tree to work/guest (returned) and each --lib folder to work/ext/NAME."""
    from toolchain import catalog

    root = work / "guest"
    shutil.copytree(catalog.guest_root(), root)
    for lib in catalog.library_paths(libs):
        shutil.copytree(lib, work / EXTERNAL / lib.name)
    return root


def table(verdicts: list[Verdict]) -> str:
    rows = [
        "| site | operator | status | killed by | seeds to kill | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        seeds = "" if v.seeds_to_kill is None else str(v.seeds_to_kill)
        status = f"equivalent: {v.message}" if v.status == "equivalent" else v.status
        rows.append(
            f"| `{v.site.split(' ')[0]}` `{v.text}` | {v.operator} | {status} | "
            f"{v.killed_by or ''} | {seeds} | {v.seconds:.0f} |"
        )
    return "\n".join(rows) + "\n"


def score(verdicts: list[Verdict]) -> tuple[int, int]:
    """(killed, counted): mutants that could change behaviour here (not equivalent, not
    built, not counted), and those killed."""
    counted = [v for v in verdicts if v.status in ("killed", "survived")]
    return sum(v.status == "killed" for v in counted), len(counted)


def summary(plan: Plan, verdicts: list[Verdict]) -> str:
    """One line: killed of counted, equivalents set aside, what was run."""
    killed, counted = score(verdicts)
    equivalent = sum(v.status == "equivalent" for v in verdicts)
    aside = f"; {equivalent} equivalent, not run" if equivalent else ""
    return (
        f"{killed} of {counted} killed{aside} (apps: {', '.join(plan.apps)}; {plan.harts} harts; "
        f"{plan.seeds} seeds per app and policy: {', '.join(map(policy_name, plan.policies))})"
    )


def write(run_dir: Path, plan: Plan, verdicts: list[Verdict]) -> None:
    killed, counted = score(verdicts)
    (run_dir / "mutants.json").write_text(
        json.dumps(
            {
                "plan": asdict(plan),
                "killed": killed,
                "counted": counted,
                "not_counted_because": NOT_COUNTED,
                "mutants": [asdict(v) for v in verdicts],
            },
            indent=1,
        )
        + "\n"
    )
    (run_dir / "mutants.md").write_text(
        f"# Mutants of {plan.config}\n\n{summary(plan, verdicts)}.\n\n" + table(verdicts)
    )
