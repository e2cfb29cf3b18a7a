#!/usr/bin/env python3
"""Write a results page (docs/results.md) and its figures from benchmark sweeps' run directories.

    python scripts/results_sweeps.py --out runs/results      # the sweeps (see README)
    python scripts/results_doc.py runs/results/main --old runs/results/old \\
        --sensitivity runs/results/line_transfer-x0.5 runs/results/line_transfer-x2 \\
        --out docs/results.md

RUN_DIR is the main sweep: its numbers fill the per-benchmark tables. --old names a sweep of the
model the page's previous answers came from (its throughput and its verdicts stand next to the
main sweep's wherever they differ); --sensitivity, sweeps under other costs. Without --out the
page goes to RUN_DIR/results.md (figures beside it, in results/).

Everything on the page but the answers is computed from the sweeps: for each conclusion (the
list CONCLUSIONS below), whether it holds under each sweep's costs, on the benchmarks that sweep
ran; the hart count from which the lock-free backend is at least as fast as the locked ones
(the crossover); per benchmark, operations per virtual second for every configuration and hart
count, the speed-up from 1 hart to the most harts, where it saturates (the hart count from which
each doubling adds less than 1.25x) and where it falls (the first after which throughput drops
by more than FALL, 2%);
and, when the sweep has them, coherence events per operation and, at the most harts, the cache
attribution by allocator operation and data structure (emulator/bench/report.py cache_tables).
The answers (--answers FILE) are written by a person from these numbers.
"""

from __future__ import annotations

import itertools
import json
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emulator.bench.report import cache_tables, first_cache
from emulator.cli.scripts import script_main, script_parser, written_by
from emulator.machine.errors import BadInput

# The configurations the conclusions compare (bench's default --configs).
LOCKED = ("bbuddy-spin", "bbuddy-ticket", "bbuddy-perorder")
LOCKFREE = "bbuddy-lockfree"
SPIN, TICKET, PERORDER = LOCKED
FRONTEND = "mimalloc+bbuddy-spin"  # the frontend over a synchronized backend
FRONTEND_LOCKFREE = "mimalloc+bbuddy-lockfree"
SHIM = "mimalloc+bbuddy-unlocked+shimlock"  # the frontend over a synchronized shim
PAGE_BENCH = "bench-page-storm"  # the one benchmark that calls the page allocator directly
LOCAL_BENCHES = ("bench-threadtest", "bench-alloc-test", "bench-glibc-thread")  # no remote frees
FALSE_SHARING = ("bench-cache-scratch", "bench-cache-thrash")
CLOSE = 0.05  # "within 5%"
# A drop smaller than this is no fall: one seed per cell, and the timed scheduler's turn
# boundaries move a cell's time by a few tenths of a percent between neighbouring hart counts.
FALL = 0.02
MODEL_BEFORE_COHERENCE = "atomics"  # the model of a results.json whose costs name none
# Coherence counts a run's timing section may hold (summary.json), summed over harts by bench.
COHERENCE = ("misses", "transfers", "upgrades", "invalidations", "line_wait_cycles")


# ---- reading sweeps ------------------------------------------------------------------------------


@dataclass
class Sweep:
    """One bench run directory, read: results.json's grid, costs, command and rows."""

    run_dir: Path
    data: dict
    table: dict = field(default_factory=dict)  # app -> config -> harts -> [rows]
    label: str = ""

    @property
    def costs(self) -> dict:
        return self.data["costs"]

    @property
    def model(self) -> str:
        return self.costs.get("model", MODEL_BEFORE_COHERENCE)

    @property
    def apps(self) -> list[str]:
        return sorted(self.table)

    def harts(self, app: str) -> list[int]:
        return sorted({h for c in self.table.get(app, {}).values() for h in c})

    def has(self, app: str, *configs: str) -> bool:
        return all(c in self.table.get(app, {}) for c in configs)

    def value(self, app: str, config: str, harts: int, key: str = "ops_per_second"):
        """The mean over seeds; None for a cell that failed or was not run."""
        return mean(self.table.get(app, {}).get(config, {}).get(harts, []), key)

    def series(self, app: str, config: str, key: str = "ops_per_second") -> dict[int, float | None]:
        return {h: self.value(app, config, h, key) for h in self.harts(app)}

    def failed(self, app: str, config: str, harts: int) -> bool:
        rows = self.table.get(app, {}).get(config, {}).get(harts, [])
        return bool(rows) and not any(r["ok"] for r in rows)


def load(run_dir: Path) -> Sweep:
    path = run_dir / "results.json"
    try:
        data = json.loads(path.read_text())
        problem = "" if {"sweep", "results", "costs"} <= set(data) else "not a bench run's"
        rows = data["results"] if not problem else []
        if not problem and not all(
            isinstance(r, dict) and {"app", "config", "harts", "ok", "ops_per_second"} <= set(r)
            for r in rows
        ):
            problem = "a result without app, config, harts, ok or ops_per_second"
    except (OSError, ValueError, TypeError) as e:
        problem = getattr(e, "strerror", None) or str(e)
    if problem:
        raise BadInput(
            f"{run_dir}: not a bench run directory ({path.name}: {problem}); give the --out "
            "of `python -m emulator bench`"
        )
    sweep = Sweep(run_dir, data)
    for r in rows:
        cell = sweep.table.setdefault(r["app"], {}).setdefault(r["config"], {})
        cell.setdefault(r["harts"], []).append(r)
    return sweep


def mean(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if r["ok"] and r.get(key) is not None]
    return sum(vals) / len(vals) if vals else None


def label(sweep: Sweep, main: Sweep) -> str:
    """What sets a sweep apart from the main one: its model, else the costs it scales."""
    if sweep is main:
        return f"{sweep.model} (main)"
    if sweep.model != main.model:
        return f"{sweep.model} model"
    changed = [
        f"{k} x{v / main.costs[k]:g}" if v and main.costs.get(k) else f"{k} {v}"
        for k, v in sweep.costs.items()
        if k != "model" and v != main.costs.get(k)
    ]
    return f"{sweep.model}, {', '.join(changed)}" if changed else f"{sweep.model}, same costs"


# ---- measures over one sweep ---------------------------------------------------------------------


def collapse(series: dict[int, float | None]) -> int | None:
    """The hart count after which throughput falls by more than FALL (None: it does not)."""
    harts = sorted(h for h, v in series.items() if v)
    for a, b in itertools.pairwise(harts):
        if series[b] < series[a] * (1 - FALL):
            return a
    return None


def saturates(series: dict[int, float | None], gain: float = 1.25) -> int | None:
    """The hart count from which every further step (usually 2x the harts) adds less than
    `gain` x throughput; None when the last step still adds more."""
    harts = sorted(h for h, v in series.items() if v)
    found = None
    for a, b in reversed(list(itertools.pairwise(harts))):
        if series[b] >= series[a] * gain:
            break
        found = a
    return found


def best_of(sweep: Sweep, app: str, configs: tuple[str, ...], harts: int) -> float | None:
    vals = [sweep.value(app, c, harts) for c in configs if sweep.has(app, c)]
    vals = [v for v in vals if v]
    return max(vals) if vals else None


@dataclass
class Crossover:
    """Where `contender` is at least as fast as the best of `rivals` at every hart count from
    `harts` on (None: not at the most harts measured); `ratio`: contender / best rival at the
    most harts."""

    harts: int | None
    ratio: float | None
    top: int

    def __str__(self) -> str:
        ratio = f"{self.ratio:.2f}x at {self.top}" if self.ratio is not None else "no data"
        if self.harts is None:
            return f"none up to {self.top} ({ratio})"
        return f"from {self.harts} ({ratio})"


def crossover(sweep: Sweep, app: str, contender: str, rivals: tuple[str, ...]) -> Crossover | None:
    """None when the sweep lacks the contender or every rival on `app`."""
    rivals = tuple(r for r in rivals if sweep.has(app, r))
    if not rivals or not sweep.has(app, contender):
        return None
    harts = sweep.harts(app)
    ratios = {}
    for h in harts:
        mine, best = sweep.value(app, contender, h), best_of(sweep, app, rivals, h)
        ratios[h] = mine / best if mine and best else None
    found = None
    for h in reversed(harts):
        if ratios[h] is None or ratios[h] < 1:
            break
        found = h
    return Crossover(found, ratios[harts[-1]], harts[-1])


# ---- conclusions ---------------------------------------------------------------------------------


@dataclass
class Verdict:
    holds: bool
    detail: str  # the numbers behind it: the worst case, or where it breaks

    def __str__(self) -> str:
        return f"{'yes' if self.holds else '**no**'}: {self.detail}"


def short(app: str) -> str:
    return app.removeprefix("bench-")


def _every(cases: list[tuple[str, bool, str]], worst: str = "") -> Verdict | None:
    """A verdict over (benchmark, holds, detail) cases: it holds where every case does; the
    detail names the cases that break it, else `worst` (or the count of cases)."""
    if not cases:
        return None
    broken = [f"{short(app)} {detail}" for app, ok, detail in cases if not ok]
    if len(broken) > 3:  # the first few say enough
        broken = [*broken[:3], f"{len(broken) - 3} more"]
    if broken:
        return Verdict(False, "; ".join(broken))
    return Verdict(True, worst or f"all {len(cases)} benchmarks")


def lockfree_never_catches_up(s: Sweep) -> Verdict | None:
    cases, best = [], None
    for app in s.apps:
        c = crossover(s, app, LOCKFREE, LOCKED)
        if c is None or c.ratio is None:
            continue
        # catching up at any hart count breaks it, not only from some count to the end
        caught = [
            h
            for h in s.harts(app)
            if (v := s.value(app, LOCKFREE, h)) and (b := best_of(s, app, LOCKED, h)) and v >= b
        ]
        cases.append((app, not caught, f"catches up at {caught[0]} harts" if caught else ""))
        if best is None or c.ratio > best[1]:
            best = (app, c.ratio, c.top)
    if not cases:
        return None
    worst = f"closest: {short(best[0])} {best[1]:.2f}x at {best[2]} harts" if best else ""
    return _every(cases, worst)


def never_falls(config: str) -> Callable[[Sweep], Verdict | None]:
    def check(s: Sweep) -> Verdict | None:
        cases = []
        for app in s.apps:
            if not s.has(app, config):
                continue
            series = s.series(app, config)
            at = collapse(series)
            if at is None:
                cases.append((app, True, ""))
                continue
            after = min(h for h in series if h > at and series[h])
            drop = series[after] / series[at]
            cases.append((app, False, f"after {at} ({drop:.2f}x at {after})"))
        return _every(cases)

    return check


def _within(s: Sweep, a: str, b: str, apps: list[str]) -> Verdict | None:
    cases, worst = [], (0.0, "")
    for app in apps:
        if not s.has(app, a, b):
            continue
        for h in s.harts(app):
            x, y = s.value(app, a, h), s.value(app, b, h)
            if not x or not y:
                cases.append((app, False, f"fails at {h} harts"))
                continue
            dev = x / y - 1
            cases.append((app, abs(dev) <= CLOSE, f"{dev:+.1%} at {h} harts"))
            if abs(dev) >= abs(worst[0]):
                worst = (dev, f"largest difference {dev:+.1%} ({short(app)}, {h} harts)")
    return _every(cases, worst[1])


def object_benches(s: Sweep) -> list[str]:
    return [a for a in s.apps if a != PAGE_BENCH]


def shim_as_good_as_backend_lock(s: Sweep) -> Verdict | None:
    return _within(s, SHIM, FRONTEND, object_benches(s))


def backend_irrelevant_under_frontend(s: Sweep) -> Verdict | None:
    return _within(s, FRONTEND_LOCKFREE, FRONTEND, object_benches(s))


def shim_fails_direct_page_users(s: Sweep) -> Verdict | None:
    if not s.has(PAGE_BENCH, SHIM):
        return None
    multi = [h for h in s.harts(PAGE_BENCH) if h > 1]
    if not multi:
        return None
    ran = [h for h in multi if not s.failed(PAGE_BENCH, SHIM, h)]
    if ran:
        return Verdict(False, f"page-storm passes at {', '.join(map(str, ran))} harts")
    return Verdict(True, f"page-storm fails at {', '.join(map(str, multi))} harts")


def frontend_fastest_on_one_hart(s: Sweep) -> Verdict | None:
    cases, least = [], None
    for app in object_benches(s):
        if 1 not in s.harts(app) or not s.has(app, FRONTEND):
            continue
        mine, best = s.value(app, FRONTEND, 1), best_of(s, app, (*LOCKED, LOCKFREE), 1)
        if not mine or not best:
            continue
        cases.append((app, mine > best, f"{mine / best:.2f}x"))
        if least is None or mine / best < least[1]:
            least = (app, mine / best)
    return _every(cases, f"least: {short(least[0])} {least[1]:.2f}x" if least else "")


def frontend_near_linear(apps: tuple[str, ...], share: float) -> Callable[[Sweep], Verdict | None]:
    def check(s: Sweep) -> Verdict | None:
        cases, least = [], None
        for app in apps:
            harts = s.harts(app)
            if not s.has(app, FRONTEND) or not harts or harts[0] != 1 or harts[-1] == 1:
                continue
            one, top = s.value(app, FRONTEND, 1), s.value(app, FRONTEND, harts[-1])
            if not one or not top:
                cases.append((app, False, "fails"))
                continue
            gain = top / one
            cases.append((app, gain >= share * harts[-1], f"{gain:.1f}x at {harts[-1]}"))
            if least is None or gain / harts[-1] < least[1] / least[2]:
                least = (app, gain, harts[-1])
        worst = f"least: {short(least[0])} {least[1]:.1f}x at {least[2]}" if least else ""
        return _every(cases, worst)

    return check


def perorder_beats_spin(s: Sweep) -> Verdict | None:
    cases = []
    for app in s.apps:
        harts = s.harts(app)
        if not s.has(app, PERORDER, SPIN) or not harts:
            continue
        a, b = s.value(app, PERORDER, harts[-1]), s.value(app, SPIN, harts[-1])
        cases.append((app, bool(a and b and a > b), f"{a / b:.2f}x" if a and b else "fails"))
    return _every(cases)


def target_ratio(
    app: str, a: str, b: str | tuple[str, ...], harts_a: int, harts_b: int, goal: float
) -> Callable[[Sweep], Verdict | None]:
    """a at harts_a over b at harts_b (b a tuple: the best of them) is at least `goal`."""

    def check(s: Sweep) -> Verdict | None:
        rivals = b if isinstance(b, tuple) else (b,)
        if not s.has(app, a) or not any(s.has(app, r) for r in rivals):
            return None
        if harts_a not in s.harts(app) or harts_b not in s.harts(app):
            return None
        x, y = s.value(app, a, harts_a), best_of(s, app, rivals, harts_b)
        if not x or not y:
            return Verdict(False, "a cell failed")
        return Verdict(x / y >= goal, f"{x / y:.2f}x")

    return check


@dataclass(frozen=True)
class Conclusion:
    text: str
    check: Callable[[Sweep], Verdict | None]  # None: the sweep lacks what it needs


CONCLUSIONS = (
    Conclusion(
        "The lock-free buddy is slower than the best locked bbuddy at every hart count "
        "(it never catches up)",
        lockfree_never_catches_up,
    ),
    Conclusion("bbuddy-spin's throughput never falls as harts are added", never_falls(SPIN)),
    Conclusion("bbuddy-ticket's throughput never falls as harts are added", never_falls(TICKET)),
    Conclusion(
        "bbuddy-perorder's throughput never falls as harts are added", never_falls(PERORDER)
    ),
    Conclusion("Per-order locks beat the global spinlock at the most harts", perorder_beats_spin),
    Conclusion(
        f"Under the frontend, a synchronized shim ({SHIM}) is within 5% of a synchronized "
        f"backend ({FRONTEND}) on every object benchmark at every hart count",
        shim_as_good_as_backend_lock,
    ),
    Conclusion(
        "The shim's lock does not protect direct page users: page-storm fails over the "
        "unlocked backend at every hart count above 1",
        shim_fails_direct_page_users,
    ),
    Conclusion(
        f"Which backend is under the frontend does not matter for objects ({FRONTEND_LOCKFREE} "
        f"within 5% of {FRONTEND} everywhere)",
        backend_irrelevant_under_frontend,
    ),
    Conclusion(
        f"The frontend ({FRONTEND}) is faster than every backend at 1 hart on every object "
        "benchmark",
        frontend_fastest_on_one_hart,
    ),
    Conclusion(
        "The frontend scales nearly linearly (at least 0.75x the harts) where blocks stay on "
        "their hart (threadtest, alloc-test, glibc-thread)",
        frontend_near_linear(LOCAL_BENCHES, 0.75),
    ),
    Conclusion(
        "False sharing does not slow the frontend: cache-scratch and cache-thrash scale at "
        "least 0.75x the harts",
        frontend_near_linear(FALSE_SHARING, 0.75),
    ),
    Conclusion(
        f"Target: larson at 8 harts >= 6x 1 hart ({FRONTEND_LOCKFREE})",
        target_ratio("bench-larson", FRONTEND_LOCKFREE, FRONTEND_LOCKFREE, 8, 1, 6.0),
    ),
    Conclusion(
        "Target: the lock-free backend >= 2x the best locked one at 8 harts on page-storm",
        target_ratio(PAGE_BENCH, LOCKFREE, LOCKED, 8, 8, 2.0),
    ),
)


# ---- the page ------------------------------------------------------------------------------------


def fmt(v: float | None) -> str:
    return "fails" if v is None else f"{v / 1e6:.2f}"


def sweep_command(data: dict) -> str:
    """The command line of the sweep: as bench recorded it, else (a run directory from before
    bench recorded it) rebuilt from the grid, which lacks a --quantum other than the default."""
    if data.get("reproduce"):
        return data["reproduce"]
    sweep = data["sweep"]
    args = ["--benchmarks", *sweep["apps"], "--configs", *sweep["configs"]]
    args += ["--harts", *map(str, sweep["harts"]), "--seeds", str(len(sweep["seeds"]))]
    for name, value in sweep.get("defines", {}).items():
        args += ["-D", f"{name}={value}"]
    return f"python -m emulator bench {shlex.join(args)}"


def model_words(costs: dict) -> str:
    """The timing model and its numbers, as the sweep recorded them (timing.py describe)."""
    at = f"{costs.get('cpu_hz', 0) / 1e9:g} GHz"
    if costs.get("model", MODEL_BEFORE_COHERENCE) == "atomics":
        return (
            f"atomics only, `--costs atomics`: atomic {costs.get('atomic')}, line transfer "
            f"{costs.get('line_transfer')}, fence {costs.get('fence')} cycles at {at}; plain "
            "loads and stores cost nothing"
        )
    l1 = (
        f"{costs['l1_sets']} sets x {costs.get('l1_ways')} ways"
        if costs.get("l1_sets")
        else "an infinite L1"
    )
    return (
        f"MESI coherence over every load and store: miss {costs.get('miss')}, upgrade "
        f"{costs.get('upgrade')}, line transfer {costs.get('line_transfer')}, atomic "
        f"{costs.get('atomic')}, fence {costs.get('fence')} cycles at {at}; private L1s of {l1}"
        + (", one transaction per line at a time" if costs.get("serialize_lines") else "")
    )


def costs_text(costs: dict) -> str:
    skip = {"model", "instruction", "cpu_hz", "line_bytes"}
    listed = ", ".join(f"{k} {v}" for k, v in costs.items() if k not in skip)
    return f"{listed}; {costs.get('cpu_hz', 0) / 1e9:g} GHz"


def grid_text(s: Sweep) -> str:
    configs = sorted({c for app in s.table.values() for c in app})
    harts = sorted({h for app in s.apps for h in s.harts(app)})
    return (
        f"{len(s.apps)} benchmarks x {len(configs)} configurations x "
        f"{' '.join(map(str, harts))} harts"
    )


def sources(sweeps: list[Sweep], made_by: str) -> list[str]:
    lines = [
        f"Made by `{made_by}` from these sweeps (one `python -m emulator bench` run each; "
        "throughput is in millions of operations, allocations + frees, per virtual second of "
        "the timing model, `emulator/instruments/costs.toml`):",
        "",
        "| sweep | model | costs (cycles) | grid | command |",
        "|---|---|---|---|---|",
    ]
    for s in sweeps:
        lines.append(
            f"| {s.label} | {s.model} | {costs_text(s.costs)} | {grid_text(s)} | "
            f"`{sweep_command(s.data)}` |"
        )
    return [*lines, ""]


def sensitivity(sweeps: list[Sweep]) -> list[str]:
    lines = [
        "## Which conclusions hold under which costs",
        "",
        "Computed from the sweeps above (`CONCLUSIONS` in scripts/results_doc.py): **no** where "
        "the sweep's numbers contradict the conclusion, `-` where that sweep did not run what "
        "it needs; each sweep judges only the benchmarks it ran.",
        "",
        "| conclusion | " + " | ".join(s.label for s in sweeps) + " |",
        "|---|" + "---|" * len(sweeps),
    ]
    for c in CONCLUSIONS:
        cells = []
        for s in sweeps:
            v = c.check(s)
            cells.append("-" if v is None else str(v))
        lines.append(f"| {c.text} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def crossovers(sweeps: list[Sweep]) -> list[str]:
    apps = sorted({a for s in sweeps for a in s.apps})
    lines = [
        "## The lock-free vs locked crossover",
        "",
        f"The hart count from which {LOCKFREE} is at least as fast as the locked backends at "
        "every hart count measured (and its throughput over theirs at the most harts): against "
        f"the best of {', '.join(LOCKED)}, and against {SPIN} alone (the NBBS papers' baseline "
        "is a spin-locked twin).",
        "",
    ]
    for title, contender, rivals in (
        ("lock-free backend vs the best locked backend", LOCKFREE, LOCKED),
        (f"lock-free backend vs {SPIN}", LOCKFREE, (SPIN,)),
    ):
        lines += [
            f"**{title}**",
            "",
            "| benchmark | " + " | ".join(s.label for s in sweeps) + " |",
            "|---|" + "---|" * len(sweeps),
        ]
        for app in apps:
            cells = [crossover(s, app, contender, rivals) for s in sweeps]
            if all(c is None for c in cells):
                continue
            lines.append(f"| {app} | " + " | ".join(str(c or "-") for c in cells) + " |")
        lines.append("")
    return lines


def _differs(new: str, old: str) -> str:
    return new if new == old else f"{new} (old {old})"


def benchmark_section(
    app: str, main: Sweep, old: Sweep | None, others: list[Sweep] = ()
) -> list[str]:
    configs = main.table[app]
    harts = main.harts(app)
    top = harts[-1]
    old_cols = old is not None and old.has(app) and app in old.table
    lines = [f"## {app}", "", f"![{app}](results/{app}.svg)", ""]
    head = [f"{h} harts" for h in harts]
    if old_cols:
        head.append(f"{top} harts, old model")
    head += [f"{top}/1", "saturates after", "falls after"]
    lines.append("| configuration | " + " | ".join(head) + " |")
    lines.append("|---|" + "---|" * len(head))
    for config in sorted(configs):
        series = main.series(app, config)
        cells = [fmt(series[h]) for h in harts]
        speedup = _speedup(series, top)
        sat, falls = saturates(series), collapse(series)
        sat_t, falls_t = str(sat or "-"), str(falls or "-")
        if old_cols and old is not None and old.has(app, config):
            o = old.series(app, config)
            cells.append(fmt(o.get(top)) if top in o else "-")
            speedup = _differs(speedup, _speedup(o, top))
            sat_t = _differs(sat_t, str(saturates(o) or "-"))
            falls_t = _differs(falls_t, str(collapse(o) or "-"))
        elif old_cols:
            cells.append("-")
        lines.append(f"| {config} | " + " | ".join([*cells, speedup, sat_t, falls_t]) + " |")
    lines.append("")
    lines += coherence_table(app, main)
    # the cache attribution in brief at the most harts, as the bench's results.md shows it
    cells = {c: first_cache(configs[c].get(top, [])) for c in sorted(configs)}
    lines += cache_tables(app, cells, top)
    lines += under_each_cost_set(app, [main, *others, *([old] if old else [])])
    return lines


def under_each_cost_set(app: str, sweeps: list[Sweep]) -> list[str]:
    """Per configuration: throughput at the most harts under each sweep that ran `app`, with
    its speed-up from 1 hart and where it falls; nothing when only the main sweep did."""
    ran = [s for s in sweeps if app in s.table]
    if len(ran) < 2:
        return []
    lines = [
        "Under each cost set: M ops/s at the most harts (speed-up from 1 hart; falls after):",
        "",
        "| configuration | " + " | ".join(s.label for s in ran) + " |",
        "|---|" + "---|" * len(ran),
    ]
    for config in sorted(ran[0].table[app]):
        cells = []
        for s in ran:
            if not s.has(app, config):
                cells.append("-")
                continue
            series, top = s.series(app, config), s.harts(app)[-1]
            falls = collapse(series)
            cells.append(
                f"{fmt(series[top])} ({_speedup(series, top)}; {falls or '-'})"
                if series[top]
                else "fails"
            )
        lines.append(f"| {config} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _speedup(series: dict[int, float | None], top: int) -> str:
    one, last = series.get(1), series.get(top)
    return f"{last / one:.2f}x" if one and last else "-"


def coherence_table(app: str, s: Sweep) -> list[str]:
    """Per configuration and hart count: misses and line transfers per operation (and cycles
    waiting at a busy line, and the costliest operation / structure, at the most harts), from
    each run's timing counts; nothing when the sweep has none."""
    rows = [r for c in s.table[app].values() for rs in c.values() for r in rs]
    if not any(r.get("misses") is not None for r in rows):
        return []
    harts = s.harts(app)
    top = harts[-1]
    hottest = any(r.get("hottest") for r in rows)
    extra = ["line wait/op", *([f"hottest at {top} harts"] if hottest else [])]
    lines = [
        "Coherence per operation between the benchmark's markers (misses / line transfers; "
        f"line-wait cycles per operation at {top} harts"
        + (", and the allocator operation / data structure with the most coherence traffic)"
           if hottest else ")") + ":",
        "",
        "| configuration | " + " | ".join([*(f"{h} harts" for h in harts), *extra]) + " |",
        "|---|" + "---|" * (len(harts) + len(extra)),
    ]  # fmt: skip
    for config in sorted(s.table[app]):
        cells = []
        for h in harts:
            ops = s.value(app, config, h, "ops")
            miss, xfer = s.value(app, config, h, "misses"), s.value(app, config, h, "transfers")
            cells.append(
                f"{miss / ops:.1f} / {xfer / ops:.1f}"
                if ops and miss is not None and xfer is not None
                else "-"
            )
        ops, wait = s.value(app, config, top, "ops"), s.value(app, config, top, "line_wait_cycles")
        cells.append(f"{wait / ops:.0f}" if ops and wait is not None else "-")
        if hottest:
            ran = [r for r in s.table[app][config].get(top, []) if r["ok"] and r.get("hottest")]
            cells.append(ran[0]["hottest"] if ran else "-")
        lines.append(f"| {config} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def page(main: Sweep, old: Sweep | None, others: list[Sweep], out_dir: Path, made_by: str) -> str:
    sweeps = [main, *others, *([old] if old else [])]
    for s in sweeps:
        s.label = label(s, main)
    lines = [
        "# Results: which SMP allocator design scales",
        "",
        *sources(sweeps, made_by),
        f"The main sweep's model ({main.label}): {model_words(main.costs)}"
        + (f"; the old model: {model_words(old.costs)}" if old else "")
        + ". These are model seconds, not hardware seconds: they rank designs by the costs the "
        "model charges, nothing else (no memory bandwidth, no DRAM).",
        "",
        "ANSWERS",
        "",
        *sensitivity(sweeps),
        *crossovers(sweeps),
    ]
    for app in main.apps:
        lines += benchmark_section(app, main, old, others)
        src = main.run_dir / f"{app}.svg"  # the PNGs stay in the run directory
        if src.exists():
            shutil.copy(src, out_dir / f"{app}.svg")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = script_parser(__doc__)
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the main bench run directory")
    p.add_argument(
        "--old", type=Path, metavar="RUN_DIR",
        help="the sweep under the model the previous answers came from (default: none)",
    )  # fmt: skip
    p.add_argument(
        "--sensitivity", type=Path, nargs="+", default=[], metavar="RUN_DIR",
        help="sweeps under other costs, for the table of which conclusions hold (default: none)",
    )  # fmt: skip
    p.add_argument(
        "--out", type=Path, metavar="FILE", help="the page (default: RUN_DIR/results.md)"
    )
    p.add_argument(
        "--answers", type=Path, metavar="FILE",
        help="markdown to put where ANSWERS stands (default: none)",
    )  # fmt: skip
    args = p.parse_args()
    args.out = args.out or args.run_dir / "results.md"
    main_sweep = load(args.run_dir)
    old = load(args.old) if args.old else None
    others = [load(d) for d in args.sensitivity]
    try:
        answers = args.answers.read_text() if args.answers else "(no answers given)"
    except OSError as e:
        raise BadInput(f"--answers {args.answers}: cannot read it ({e.strerror})") from None
    figures = args.out.parent / "results"
    figures.mkdir(parents=True, exist_ok=True)
    text = page(main_sweep, old, others, figures, written_by())
    args.out.write_text(text.replace("ANSWERS", answers.strip(), 1))
    print(f"wrote {args.out} and figures in {figures}")


if __name__ == "__main__":
    script_main(main)
