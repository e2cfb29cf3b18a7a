"""python -m emulator bench: SMP allocation benchmarks over a grid, with the virtual-time model.

Each cell (benchmark app, configuration, harts, seed) is one run with --timing (timed scheduler,
costs from costs.toml, or --costs), the contention monitor and the allocation tracer's memory
figures. A benchmark app (guest/lib/allocbench/include/alloc/bench.h, docs/benchmarks.md)
brackets each hart's work with zero-length write system calls and prints
`bench NAME: harts=N ops=TOTAL ok`; from those:

  virtual_seconds   (latest end marker - earliest start marker) in cycles / cpu_hz
  ops_per_second    ops / virtual_seconds
  insns_per_op      guest instructions between the markers, all harts, / ops
  wait_share        instructions spent waiting for locks / instructions (contention monitor)
  sc_failures       failed SCs (CAS retries show as these)
  peak_live_bytes   peak of the bytes the app held (allocation tracer, object + page layers)
  peak_pages_held   peak of the pages taken from the page allocator (heap walker; bbuddy
                    providers only, else empty)
  misses_per_op, transfers_per_op, line_wait_per_op
                    the coherence model's L1 misses, cache-line transfers and line-wait cycles
                    / ops: between each hart's markers (below) where the run has them, else
                    over the whole run (start-up included: the Python path)
  hottest           the (allocator operation, data structure) with the most misses, transfers
                    and upgrades (the cache attribution: instruments/cacheprofile.py)
  cache             that attribution in brief (results.json only): per operation (uk_palloc,
                    malloc, free, remote free, collect, ...) its calls, misses, transfers,
                    upgrades and line-wait cycles and each per call; per data structure (free
                    lists, bitmap, allocator lock, segment headers, a global's name, ...) the
                    same counts. window "markers": from the first marker made to the last (the
                    native layer's live counts); "run": the whole run (cache.json; the Python
                    path)
  misses, transfers, upgrades, invalidations, line_wait_cycles, loads, stores
                    the coherence model's counts between each hart's markers, all harts (the
                    coherence model on the native layer only, else empty: the Python path
                    keeps its counts inside the model until the run ends)

Cells run in worker processes (session/pool.py) or on a Dask cluster (session/cluster.py: the
images travel by content hash); report.py writes the results to the run
directory as results.csv, results.json, results.md and plots (PNG and SVG, matplotlib).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from emulator.instruments.cacheprofile import attribution_report
from emulator.instruments.coherence import COUNTS, nest
from emulator.instruments.heapwalk import walker_for
from emulator.instruments.markers import Markers
from emulator.instruments.timing import costs_file
from emulator.instruments.tracer import Listener, block_bytes
from emulator.machine import events as ev
from emulator.machine.machine import Outcome
from emulator.session.options import RunOptions
from emulator.session.pool import ProcessRunner, Runner
from emulator.session.run import run
from guest.contract import C

BENCH_LINE = re.compile(r"bench (\S+): harts=(\d+) ops=(\d+) ok")
DEFAULT_HARTS = (1, 2, 4, 8, 16)
QUANTUM = 100
COSTS_ROLE = "costs"  # CellRun.files: a cost file of the user's, shipped like the images


def benchmarks() -> list[str]:
    """The benchmark apps: the bundled apps named bench-*, which print BENCH_LINE."""
    from toolchain import catalog

    return [a for a in catalog.apps() if a.startswith("bench-")]


@dataclass(frozen=True)
class Cell:
    app: str
    config: str
    harts: int
    seed: int = 0
    defines: tuple[tuple[str, str], ...] = ()

    @property
    def build(self) -> str:
        """What its image is built from (the role under which CellRun names the image)."""
        return f"{self.app}|{self.config}|{dict(self.defines)}"


@dataclass
class CellResult:
    app: str
    config: str
    harts: int
    seed: int
    ok: bool
    message: str = ""
    ops: int = 0
    instructions: int = 0
    cycles: int = 0
    virtual_seconds: float = 0.0
    ops_per_second: float = 0.0
    insns_per_op: float = 0.0
    wait_instructions: int = 0
    wait_share: float = 0.0
    sc_failures: int = 0
    line_transfers: int = 0
    peak_live_bytes: int = 0
    peak_pages_held: int | None = None
    misses_per_op: float = 0.0
    transfers_per_op: float = 0.0
    line_wait_per_op: float = 0.0
    hottest: str = ""
    # the cache attribution per operation and structure (breakdown(); results.json only)
    cache: dict | None = None
    wall_seconds: float = 0.0
    # the coherence model's counts between the markers (WINDOW_COUNTS), all harts
    loads: int | None = None
    stores: int | None = None
    misses: int | None = None
    transfers: int | None = None
    upgrades: int | None = None
    invalidations: int | None = None
    line_wait_cycles: int | None = None


WINDOW_COUNTS = ("loads", "stores", "misses", "transfers", "upgrades", "invalidations",
                 "line_wait_cycles")  # fmt: skip


class _CacheWindow(Listener):
    """Each hart's coherence counts at each of its markers, read from the native layer's live
    per-hart counters as the marker's system call traps (so exactly there); and the cache
    attribution's live counts (all harts together) at the first marker made and the last."""

    first_entry_now = False
    native_calls = False  # it wants the machine (attach), no calls

    def __init__(self, bus: ev.Bus) -> None:
        self.marks: dict[int, list[dict[str, int]]] = {}
        self._harts = None
        self._attr = None  # (CacheMap, the native layer's arrays) when attribution runs in C
        self.attr_first: tuple[list[int], list[int]] | None = None  # (counts, calls)
        self.attr_last: tuple[list[int], list[int]] | None = None
        bus.subscribe(ev.Syscall, self)

    def needs_now(self, fn) -> tuple[bool, bool]:
        return False, False  # it wants no allocator call, only the machine (attach)

    def attach(self, image, machine) -> None:
        if machine.native is not None and machine.hooks.coherence is not None:
            self._harts = machine.native.harts
            if machine.hooks.cache_map is not None:
                self._attr = (machine.hooks.cache_map, machine.native)

    def __call__(self, e: ev.Syscall) -> None:
        if self._harts is not None and e.number == C.SYS_write and e.args[2] == 0:
            h = self._harts[e.hart]
            self.marks.setdefault(e.hart, []).append({n: getattr(h, f"cache_{n}") for n in COUNTS})
            if self._attr is not None:
                native = self._attr[1]
                self.attr_last = (list(native.attr_counts), list(native.attr_calls))
                if self.attr_first is None:
                    self.attr_first = self.attr_last

    def attribution(self) -> dict | None:
        """cache.json's shape for the counts from the first marker made to the last (from the
        earliest begin to the latest end: the window of virtual_seconds), None without them."""
        if self._attr is None or self.attr_first is None or self.attr_last is None:
            return None
        cmap = self._attr[0]
        (c0, k0), (c1, k1) = self.attr_first, self.attr_last
        counts = nest([b - a for a, b in zip(c0, c1, strict=True)], len(cmap.ops),
                      len(cmap.structures))  # fmt: skip
        calls = [b - a for a, b in zip(k0, k1, strict=True)]
        return attribution_report(cmap.ops, cmap.structures, counts, calls)

    def between_markers(self, harts: int) -> dict[str, int] | None:
        """Counts from each hart's first marker to its last, summed over harts."""
        spans = [self.marks.get(h, []) for h in range(harts)]
        if any(len(s) < 2 for s in spans):
            return None
        return {n: sum(s[-1][n] - s[0][n] for s in spans) for n in WINDOW_COUNTS}


class _Memory(Listener):
    """Peak live bytes (what the app holds) and peak pages held by the page allocator."""

    def __init__(self) -> None:
        self.live = 0
        self.peak_live = 0
        self.sizes: dict[tuple[str, int], int] = {}
        self.walker = None
        self.initial_free: int | None = None
        self.min_free: int | None = None

    def attach(self, image, machine) -> None:
        self.walker = walker_for(image, machine)

    def on_entry(self, hart, call) -> None:
        if self.initial_free is None and self.walker is not None:
            self.initial_free = self.min_free = self.walker.free_pages()

    def on_return(self, hart, call) -> None:
        if call.depth or call.nested:
            return
        kind, layer = call.fn.call, call.fn.layer
        if call.released:
            self.live -= self.sizes.pop((layer, call.released), 0)
        if kind not in ("free", "pfree", "munmap", "addmem") and call.block:
            size = block_bytes(call)
            self.sizes[(layer, call.block)] = size
            self.live += size
            self.peak_live = max(self.peak_live, self.live)
        if self.walker is not None:
            free = self.walker.free_pages()
            if free is not None:
                if self.initial_free is None:
                    self.initial_free = free
                self.min_free = free if self.min_free is None else min(self.min_free, free)

    def peak_pages(self) -> int | None:
        if self.initial_free is None or self.min_free is None:
            return None
        return self.initial_free - self.min_free


def run_cell(
    cell: Cell,
    quantum: int = QUANTUM,
    memory: bool = True,
    image: Path | None = None,
    costs: str | None = None,
) -> CellResult:
    """One cell; `image`: the cell's built image (else it is built here); `costs`: the timing
    model's cost file (--costs: a bundled name or a path; default the bundled coherence)."""
    bus = ev.Bus()
    markers = Markers(bus)
    window = _CacheWindow(bus)
    mem = _Memory() if memory else None
    source = (
        {"image": str(image)}
        if image
        else {"app": cell.app, "config": cell.config, "defines": dict(cell.defines)}
    )
    opts = RunOptions(
        **source,
        harts=cell.harts,
        schedule="timed",
        quantum=quantum,
        seed=cell.seed,
        ram_mib=128,
        quiet=True,
        write_files=False,
        atomics=True,
        timing=True,
        costs=costs,
        listeners=[window, *([mem] if mem else [])],
    )
    report = run(opts, bus)
    r = report.result
    out = CellResult(cell.app, cell.config, cell.harts, cell.seed, False, r.message)
    out.wall_seconds = r.wall_seconds
    found = [
        BENCH_LINE.search(line) for line in report.console.decode(errors="replace").splitlines()
    ]
    found = [m for m in found if m]
    if r.outcome is not Outcome.EXITED or r.exit_code != 0 or not found:
        tail = report.console.decode(errors="replace").strip().splitlines()[-1:] or [""]
        out.message = r.message or f"exit {r.exit_code}: {tail[0]}"
        if not r.message and r.exit_code == 0:
            out.message = (
                f"{cell.app} exited 0 without a result line `bench NAME: harts=N ops=N ok` "
                f"(is it a benchmark? its last line: {tail[0]!r})"
            )
        return out
    spans = [markers.marks.get(h, []) for h in range(cell.harts)]
    if any(len(s) < 2 for s in spans):
        out.message = "the benchmark made no begin/end markers (bench.h)"
        return out
    out.ok = True
    out.message = ""
    out.ops = int(found[-1].group(3))
    out.instructions = sum(s[-1][0] - s[0][0] for s in spans)
    out.cycles = max(s[-1][1] for s in spans) - min(s[0][1] for s in spans)
    hz = report.summary["timing"]["costs"]["cpu_hz"]
    out.virtual_seconds = out.cycles / hz
    out.ops_per_second = out.ops / out.virtual_seconds if out.cycles else 0.0
    out.insns_per_op = out.instructions / out.ops if out.ops else 0.0
    atomics = report.atomics or {}
    out.wait_instructions = sum(lk["wait_instructions"] for lk in atomics.get("locks", []))
    out.wait_share = out.wait_instructions / out.instructions if out.instructions else 0.0
    out.sc_failures = sum(h["sc_failure"] for h in atomics.get("harts", []))
    out.line_transfers = report.summary["timing"]["line_transfers"]
    window_counts = window.between_markers(cell.harts)
    for name, value in (window_counts or {}).items():
        setattr(out, name, value)
    totals = window_counts or report.summary["timing"].get("totals")
    if totals and out.ops:
        out.misses_per_op = totals["misses"] / out.ops
        out.transfers_per_op = totals["transfers"] / out.ops
        out.line_wait_per_op = totals["line_wait_cycles"] / out.ops
    windowed = window.attribution()
    attribution = windowed or report.cache
    if attribution and attribution["cells"]:
        top = max(attribution["cells"], key=lambda c: c["misses"] + c["transfers"] + c["upgrades"])
        out.hottest = f"{top['operation']} / {top['structure']}"
    if attribution:
        out.cache = breakdown(attribution, "markers" if windowed else "run")
    if mem:
        out.peak_live_bytes = mem.peak_live
        out.peak_pages_held = mem.peak_pages()
    return out


BREAKDOWN = ("misses", "transfers", "upgrades", "wait_cycles")  # CellResult.cache's counts


def breakdown(attribution: dict, window: str) -> dict:
    """CellResult.cache from cache.json's shape (attribution_report): per operation its calls,
    BREAKDOWN and those per call; per structure with any traffic, BREAKDOWN, most first."""
    ops = {}
    for name, row in attribution["operations"].items():
        calls = row["calls"]
        ops[name] = {"calls": calls, **{k: row[k] for k in BREAKDOWN}} | {
            f"{k}_per_call": round(row[k] / calls, 3) if calls else None for k in BREAKDOWN
        }
    rows = [(n, {k: r[k] for k in BREAKDOWN}) for n, r in attribution["structures"].items()]
    rows = [r for r in rows if r[1]["misses"] + r[1]["transfers"] + r[1]["upgrades"]]
    rows.sort(key=lambda r: -(r[1]["misses"] + r[1]["transfers"] + r[1]["upgrades"]))
    return {"window": window, "operations": ops, "structures": dict(rows)}


@dataclass(frozen=True)
class CellRun:
    """Picklable: one cell in a worker process, its image one of `images` (Cell.build -> path;
    built in the worker when absent), its costs the file `costs` (None: the bundled default)."""

    quantum: int = QUANTUM
    memory: bool = True
    images: dict[str, str] = field(default_factory=dict)
    costs: str | None = None  # a bundled cost file's name, or a path (a file: shipped)

    def files(self) -> dict[str, Path]:
        files = {build: Path(path) for build, path in self.images.items()}
        if (path := costs_file(self.costs)) is not None:
            files[COSTS_ROLE] = path
        return files

    def with_files(self, paths: dict[str, Path]) -> CellRun:
        images = {build: str(p) for build, p in paths.items() if build != COSTS_ROLE}
        costs = str(paths[COSTS_ROLE]) if COSTS_ROLE in paths else self.costs
        return replace(self, images=images, costs=costs)

    def __call__(self, cell: Cell) -> CellResult:
        image = self.images.get(cell.build)
        try:
            return run_cell(
                cell, self.quantum, self.memory, Path(image) if image else None, self.costs
            )
        except Exception as e:  # one bad cell must not sink the sweep; it is reported
            return CellResult(cell.app, cell.config, cell.harts, cell.seed, False, str(e))


@dataclass
class Sweep:
    apps: list[str]
    configs: list[str]
    harts: list[int] = field(default_factory=lambda: list(DEFAULT_HARTS))
    seeds: list[int] = field(default_factory=lambda: [0])
    defines: dict[str, str] = field(default_factory=dict)
    libs: list[str] = field(default_factory=list)  # library folders of the user's (--lib)
    costs: str | None = None  # --costs: the timing model's cost file (None: the default)

    def cells(self) -> list[Cell]:
        d = tuple(sorted(self.defines.items()))
        return [
            Cell(a, c, h, s, d)
            for a in self.apps
            for c in self.configs
            for h in self.harts
            for s in self.seeds
        ]


def run_sweep(
    sweep: Sweep,
    jobs: int,
    quantum: int = QUANTUM,
    progress: bool = True,
    runner: Runner | None = None,
):
    cells = sweep.cells()
    # Build every image first, in this process: workers are handed the images, not sources.
    from tqdm import tqdm

    from toolchain import build

    images = {}
    builds = {cell.build: cell for cell in cells}
    for key, cell in tqdm(
        builds.items(), desc="images", unit="image", file=sys.stderr, leave=False,
        disable=not progress,
    ):  # fmt: skip
        images[key] = str(build(cell.app, cell.config, dict(cell.defines), libs=sweep.libs))
    bar = None
    if progress:
        bar = tqdm(total=len(cells), unit="run", file=sys.stderr, leave=False)
    results = []
    try:
        work = CellRun(quantum, images=images, costs=sweep.costs)
        for r in (runner or ProcessRunner(jobs)).map(work, cells):
            results.append(r)
            if bar:
                bar.update()
                if not r.ok:
                    bar.write(f"{r.app} {r.config} {r.harts}h seed {r.seed}: {r.message}")
    finally:
        if bar:
            bar.close()
    results.sort(key=lambda r: (r.app, r.config, r.harts, r.seed))
    return results
