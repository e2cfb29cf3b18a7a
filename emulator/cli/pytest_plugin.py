"""A pytest plugin for regression tests of one's own allocator and apps, in one's own
repository (installed with the package: entry point `smp_emulator` in the `pytest11` group).

Fixture `smp`: build and run an app (bundled, or a folder of one's own) on N harts under a
schedule and seed, with the oracle and the tracer on demand, and explore K seeds:

    def test_my_allocator(smp):
        r = smp.run("./myapp", lib="./mylib", config="mylib", harts=4, check=True)
        r.assert_passed()                      # exit 0; otherwise fails with the reproduce line
        assert r.oracle["checked_calls"] > 0
        assert any(c["call"] == "palloc" for c in r.calls)   # with trace=True

    def test_my_allocator_under_pct(smp):
        smp.explore("./myapp", lib="./mylib", config="mylib", harts=3, schedule="pct",
                    seeds=50).assert_no_failure()   # fails with the reproduce line of a seed

Markers set what a test runs, so its body can say only what it checks:

    @pytest.mark.smp(app="./myapp", lib="./mylib", config="mylib", check=True)
    @pytest.mark.smp_harts(1, 2, 4)      # the test runs once per hart count (argument `harts`)
    def test_it(smp, harts):
        smp.run(harts=harts).assert_passed()

Command-line options: --smp-lib PATH (library folders for every test), --smp-seeds K (the
seeds explore tries when a test does not say). Paths are relative to pytest's root directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from emulator.instruments.tracer import ApiFunction, Listener
from emulator.session.options import RunOptions

_DEFAULT_SEEDS = 20


@dataclass
class Outcome:
    """One run: what the guest did, what the oracle said, what the tracer saw."""

    outcome: str  # exited | fault | budget | deadlock | violation
    exit_code: int | None
    console: str
    summary: dict
    oracle: dict | None  # the oracle's verdict (check=True)
    violation: dict | None  # the oracle's violation, if any
    calls: list[dict]  # every allocator call (trace=True), as allocs.jsonl has them
    reproduce: str  # the command line that runs it again

    @property
    def passed(self) -> bool:
        return self.outcome == "exited" and self.exit_code == 0

    def assert_passed(self) -> Outcome:
        if not self.passed:
            last = "\n".join(self.console.rstrip().splitlines()[-10:])
            what = self.summary.get("message") or f"exit code {self.exit_code}"
            pytest.fail(
                f"the run ended {self.outcome}: {what}\n{last}\nreproduce: {self.reproduce}",
                pytrace=False,
            )
        return self


@dataclass
class Exploration:
    """Seeds explored with the oracle on; the first failure, if any, with its reproduce line."""

    seeds: list[int]
    results: list[Any]  # explore.SeedResult
    reproduce: str | None  # of the first failing seed

    @property
    def failures(self) -> list[Any]:
        return [r for r in self.results if r.failed]

    def assert_no_failure(self) -> Exploration:
        if self.failures:
            r = self.failures[0]
            pytest.fail(
                f"seed {r.seed} of {len(self.seeds)} failed: {r.outcome}: {r.message}\n"
                f"reproduce: {self.reproduce}",
                pytrace=False,
            )
        return self

    def assert_fails(self) -> Exploration:
        """For a test that a planted bug is found: some seed must fail."""
        if not self.failures:
            pytest.fail(f"no seed of {len(self.seeds)} failed", pytrace=False)
        return self


class _Calls(Listener):
    """A tracer listener keeping every finished call as a record (allocs.jsonl's fields)."""

    first_entry_now = False  # it only keeps what happened: the native layer may batch calls

    def __init__(self) -> None:
        self.records: list[dict] = []

    def needs_now(self, fn: ApiFunction) -> tuple[bool, bool]:
        return False, False

    def on_return(self, hart, call) -> None:
        self.records.append(
            {
                "seq": call.seq,
                "hart": call.hart,
                "layer": call.fn.layer,
                "call": call.fn.call,
                "args": dict(zip(call.fn.args, call.args, strict=True)),
                "result": call.result,
                "insns": call.insns,
                "nested": call.nested,
            }
        )

    def finish(self, machine, result) -> None:
        pass


@dataclass
class Smp:
    """The `smp` fixture: builds and runs guests for a test. Keyword arguments are RunOptions'
    fields (harts, config, schedule, seed, quantum, check, trace, max_instructions, ...), plus
    `lib` (one folder or a list) and `defines` (a dict; -D)."""

    root: Path
    defaults: dict[str, Any] = field(default_factory=dict)
    libs: list[str] = field(default_factory=list)
    seeds: int = _DEFAULT_SEEDS

    def _path(self, p: str) -> str:
        """A folder relative to pytest's root directory (apps and libraries of one's own)."""
        if "/" not in p and p not in (".", ".."):
            return p  # a bundled app's name
        path = Path(p).expanduser()
        return str(path if path.is_absolute() else self.root / path)

    def options(self, app: str | None = None, **kw: Any) -> RunOptions:
        kw = {**self.defaults, **kw}
        app = app or kw.pop("app", None) or "hello"
        kw.pop("app", None)
        kw.pop("seeds", None)  # explore's
        lib = kw.pop("lib", None)
        libs = [lib] if isinstance(lib, str | Path) else list(lib or [])
        kw["libs"] = [self._path(str(p)) for p in [*self.libs, *libs]]
        kw["defines"] = {k: str(v) for k, v in kw.pop("defines", {}).items()}
        kw.setdefault("quiet", True)
        kw.setdefault("write_files", False)
        opts = RunOptions(app=self._path(app), **kw)
        opts.validate()
        return opts

    def build(self, app: str | None = None, **kw: Any) -> Path:
        from emulator.session.run import resolve_image

        return _bad_input_fails(resolve_image, self.options(app, **kw))

    def run(self, app: str | None = None, **kw: Any) -> Outcome:
        from emulator.session.run import run

        calls = _Calls()
        opts = self.options(app, **kw)
        traced = replace(opts, listeners=[*opts.listeners, calls]) if opts.trace else opts
        report = _bad_input_fails(run, traced)
        oracle = report.oracle or None
        return Outcome(
            outcome=str(report.summary["outcome"]),
            exit_code=report.result.exit_code,
            console=report.console.decode(errors="replace"),
            summary=report.summary,
            oracle=oracle,
            violation=report.summary.get("violation"),
            calls=calls.records,
            reproduce=opts.reproduce(),
        )

    def explore(
        self, app: str | None = None, seeds: int | list[int] | None = None, jobs: int = 1, **kw
    ) -> Exploration:
        """Run `seeds` seeds (a count, or a list) with the oracle on; stop at the first failure."""
        from emulator.explore.explore import explore

        kw.setdefault("schedule", "random")
        opts = replace(self.options(app, **kw), check=True)
        wanted = seeds if seeds is not None else self.defaults.get("seeds", self.seeds)
        numbers = list(range(wanted)) if isinstance(wanted, int) else list(wanted)
        results, work = _bad_input_fails(explore, opts, numbers, jobs, progress=False)
        failed = [r for r in results if r.failed]
        again = (
            replace(opts, seed=failed[0].seed, no_allocator=work.no_allocator).reproduce()
            if failed
            else None
        )
        return Exploration(numbers, results, again)


def _bad_input_fails(fn, *args, **kw):
    """Bad input (a missing app, a build error) fails the test with the emulator's one line."""
    from emulator.machine.errors import EmulatorError

    try:
        return fn(*args, **kw)
    except EmulatorError as e:
        said = str(e)
    pytest.fail(f"smp-emulator: {said}", pytrace=False)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("smp-emulator")
    group.addoption(
        "--smp-lib",
        action="append",
        default=[],
        metavar="PATH",
        help="a library folder of your own for every smp run (as --lib)",
    )
    group.addoption(
        "--smp-seeds",
        type=int,
        default=None,
        metavar="K",
        help=f"seeds smp.explore tries when a test does not say (default {_DEFAULT_SEEDS})",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "smp(**options): defaults for the smp fixture's runs in this test (app, lib, config, "
        "harts, schedule, seed, quantum, defines, check, trace, seeds, ...)",
    )
    config.addinivalue_line(
        "markers", "smp_harts(*counts): run the test once per hart count (argument `harts`)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("smp_harts")
    if marker is None:
        return
    if "harts" not in metafunc.fixturenames:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: smp_harts parametrizes the argument `harts`, "
            "which the test does not take"
        )
    counts = list(marker.args)
    metafunc.parametrize("harts", counts, ids=[f"{n}h" for n in counts])


@pytest.fixture
def smp(request: pytest.FixtureRequest) -> Smp:
    defaults: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("smp"))):
        defaults.update(marker.kwargs)
    seeds = request.config.getoption("--smp-seeds")
    return Smp(
        root=Path(request.config.rootpath),
        defaults=defaults,
        libs=list(request.config.getoption("--smp-lib")),
        seeds=seeds if seeds is not None else _DEFAULT_SEEDS,
    )
