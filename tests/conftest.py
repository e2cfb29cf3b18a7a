"""Shared helpers: build guest apps once per session and run them in-process or via the CLI;
and the test tiers and allocator markers.

Tiers: `pytest` runs the fast tier, every test not marked `slow`; `pytest --all` runs both
tiers, `pytest -m slow` the slow one only. A `-m` expression or a test named by its node id
(`file.py::test`) chooses for itself: the fast-tier filter then stays out of the way.

Allocator markers: a test that runs an allocator configuration carries a marker named after
it, `-` and `+` written `_` (`bbuddy_perorder`, `mimalloc_bbuddy_spin_shimlock`), and one per
part of a composed name (`mimalloc`, `shimlock`). They come from the test's `config` parameter,
or from an explicit `@pytest.mark.configs("NAME", ...)` on tests that name theirs in the body.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.session import RunOptions, RunReport, run
from toolchain import build, catalog

ROOT = Path(__file__).resolve().parent.parent


# ---- tiers and allocator markers ----------------------------------------------------------------


def marker_name(config: str) -> str:
    """The pytest marker of a configuration: `mimalloc+bbuddy-spin` -> `mimalloc_bbuddy_spin`."""
    return config.replace("-", "_").replace("+", "_")


def config_markers(config: str) -> list[str]:
    """Markers of an allocator configuration: its own, and its frontend's and options' when it is
    composed; none for a configuration without an allocator (`default`)."""
    found = catalog.configs().get(config)
    if found is None or found.kind == "base":
        return []
    frontend, *rest = config.split("+")
    return [marker_name(config), *([frontend, *rest[1:]] if rest else [])]


def tier(*values: object, fast: bool, id: str | None = None) -> object:
    """A parametrize case in the fast tier, or with fast=False in the slow one: how a slow
    parametrized test keeps its fast representatives in the tier `pytest` runs."""
    return pytest.param(*values, marks=() if fast else pytest.mark.slow, id=id)


def fast_cover(cases: list[tuple], *keys: int) -> set[int]:
    """Indices of a few of `cases` that between them hold every value of each position in `keys`
    (every app and every configuration, say). Cases that bring a new value in every position
    are taken first, so that the few stay near the fewest that cover all."""
    seen: list[set] = [set() for _ in keys]
    fast: set[int] = set()
    for everywhere in (True, False):
        for i, case in enumerate(cases):
            new = [case[k] not in s for k, s in zip(keys, seen, strict=True)]
            if all(new) if everywhere else any(new):
                fast.add(i)
                for k, s in zip(keys, seen, strict=True):
                    s.add(case[k])
    return fast


def covering(cases: list[tuple], *keys: int) -> list:
    """`cases` as parametrize cases: the fast tier keeps those of fast_cover, the slow the rest."""
    fast = fast_cover(cases, *keys)
    return [tier(*case, fast=i in fast) for i, case in enumerate(cases)]


def seed_chunks(seeds: range, fast: int) -> list[range]:
    """`seeds` split into the first `fast` (for the fast tier) and the rest."""
    return [seeds[:fast], seeds[fast:]]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--all",
        action="store_true",
        help="run the slow tier too (by default pytest runs the fast tier: tests not marked slow)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "configs(*names): allocator configurations a test runs, when no `config` "
        "parameter names them",
    )  # fmt: skip
    for name, c in catalog.configs().items():
        if c.kind != "base":
            config.addinivalue_line("markers", f"{marker_name(name)}: runs {name}")
    for name, c in catalog.parts().items():
        if c.kind in ("frontend", "option"):
            config.addinivalue_line("markers", f"{name}: runs a configuration with {c.kind} {name}")


def _configs_of(item: pytest.Item) -> list[str]:
    names = []
    callspec = getattr(item, "callspec", None)
    if callspec is not None and isinstance(callspec.params.get("config"), str):
        names.append(callspec.params["config"])
    for mark in item.iter_markers("configs"):
        names += mark.args
    return names


# How many tests were collected before the tier and -m chose among them: under xdist each worker
# collects and the controller learns the count from the workers' output.
COLLECTED = pytest.StashKey[int]()


def _note_collected(config: pytest.Config, count: int) -> None:
    config.stash[COLLECTED] = max(config.stash.get(COLLECTED, 0), count)


@pytest.hookimpl(tryfirst=True)  # before pytest's own -m filter reads the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _note_collected(config, len(items))
    if hasattr(config, "workeroutput"):  # an xdist worker
        config.workeroutput["collected_before_selection"] = len(items)
    for item in items:
        for name in _configs_of(item):
            for marker in config_markers(name):
                item.add_marker(marker)
    chosen = (
        config.getoption("--all")
        or config.getoption("markexpr")
        or any("::" in arg for arg in config.args)
    )
    if chosen:
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # xdist's controller: a worker finished
    _note_collected(
        node.config, getattr(node, "workeroutput", {}).get("collected_before_selection", 0)
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """pytest's "no tests collected" (5) when the tier or a -m expression of known markers left
    nothing of what was collected is a legitimate empty selection (`-m region` in a tier with
    no region test), not a failure. It stays 5 when nothing was collected at all (a broken
    suite: CI fails on it), for a -k that matched nothing, and for an unknown marker."""
    config = session.config
    if exitstatus != pytest.ExitCode.NO_TESTS_COLLECTED or not config.stash.get(COLLECTED, 0):
        return
    say = config.pluginmanager.get_plugin("terminalreporter")
    say = say.write_line if say else print
    if config.getoption("keyword"):
        return
    expr = config.getoption("markexpr")
    if expr:
        known = {line.split(":")[0].split("(")[0].strip() for line in config.getini("markers")}
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expr)) - {"and", "or", "not"}
        unknown = sorted(words - known)
        if unknown:
            say(f"pytest: -m {expr!r}: no marker named {', '.join(unknown)} (`pytest --markers`)")
            return
        say(f"pytest: -m {expr!r} selects no test here; nothing to run (exit status 0)")
    else:
        say("pytest: every test selected is in the slow tier (`-m slow` or `--all` runs them)")
    session.exitstatus = pytest.ExitCode.OK


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
