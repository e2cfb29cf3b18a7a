"""python -m emulator bench: SMP allocation benchmarks over a grid, with the virtual-time model.

Each cell (benchmark app, configuration, harts, seed) is one run with --timing (timed scheduler,
costs from costs.toml), the contention monitor and the allocation tracer's memory figures. A
benchmark app (guest/include/alloc/bench.h, docs/benchmarks.md) brackets each hart's work with
zero-length write system calls and prints `bench NAME: harts=N ops=TOTAL ok`; from those:

  virtual_seconds   (latest end marker - earliest start marker) in cycles / cpu_hz
  ops_per_second    ops / virtual_seconds
  insns_per_op      guest instructions between the markers, all harts, / ops
  wait_share        instructions spent waiting for locks / instructions (contention monitor)
  sc_failures       failed SCs (CAS retries show as these)
  peak_live_bytes   peak of the bytes the app held (allocation tracer, object + page layers)
  peak_pages_held   peak of the pages taken from the page allocator (heap walker; bbuddy
                    providers only, else empty)

Cells run in worker processes (explore.ProcessRunner); results go to the run directory as
results.csv, results.json, results.md and plots (PNG and SVG, matplotlib).
"""

from __future__ import annotations

import csv
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from emulator import events as ev
from emulator.alloctrace import Listener, block_bytes
from emulator.rundir import write_json
from emulator.session import RunOptions, run

BENCH_LINE = re.compile(r"bench (\S+): harts=(\d+) ops=(\d+) ok")
DEFAULT_HARTS = (1, 2, 4, 8, 16)
QUANTUM = 100


@dataclass(frozen=True)
class Cell:
    app: str
    config: str
    harts: int
    seed: int = 0
    defines: tuple[tuple[str, str], ...] = ()


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
    wall_seconds: float = 0.0


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
        from emulator.heapwalk import walker_for

        self.walker = walker_for(image, machine)

    def on_entry(self, hart, call) -> None:
        if self.initial_free is None and self.walker is not None:
            self.initial_free = self.min_free = self.walker.free_pages()

    def on_return(self, hart, call) -> None:
        if call.depth or call.nested:
            return
        kind, layer = call.fn.call, call.fn.layer
        if kind in ("free", "pfree", "munmap") or (kind == "realloc" and call.result):
            self.live -= self.sizes.pop((layer, call.args[0]), 0)
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


def run_cell(cell: Cell, quantum: int = QUANTUM, memory: bool = True) -> CellResult:
    bus = ev.Bus()
    markers = ev.Markers(bus)
    mem = _Memory() if memory else None
    opts = RunOptions(
        app=cell.app,
        config=cell.config,
        defines=dict(cell.defines),
        harts=cell.harts,
        schedule="timed",
        quantum=quantum,
        seed=cell.seed,
        ram_mib=128,
        stream=False,
        write_files=False,
        atomics=True,
        timing=True,
        listeners=[mem] if mem else [],
    )
    report = run(opts, bus)
    r = report.result
    out = CellResult(cell.app, cell.config, cell.harts, cell.seed, False, r.message)
    out.wall_seconds = r.wall_seconds
    found = [
        BENCH_LINE.search(line) for line in report.console.decode(errors="replace").splitlines()
    ]
    found = [m for m in found if m]
    if r.outcome != "exited" or r.exit_code != 0 or not found:
        tail = report.console.decode(errors="replace").strip().splitlines()[-1:] or [""]
        out.message = r.message or f"exit {r.exit_code}: {tail[0]}"
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
    if mem:
        out.peak_live_bytes = mem.peak_live
        out.peak_pages_held = mem.peak_pages()
    return out


@dataclass(frozen=True)
class CellRun:
    """Picklable: one cell in a worker process."""

    quantum: int = QUANTUM
    memory: bool = True

    def __call__(self, cell: Cell) -> CellResult:
        try:
            return run_cell(cell, self.quantum, self.memory)
        except Exception as e:  # one bad cell must not sink the sweep; it is reported
            return CellResult(cell.app, cell.config, cell.harts, cell.seed, False, str(e))


@dataclass
class Sweep:
    apps: list[str]
    configs: list[str]
    harts: list[int] = field(default_factory=lambda: list(DEFAULT_HARTS))
    seeds: list[int] = field(default_factory=lambda: [0])
    defines: dict[str, str] = field(default_factory=dict)

    def cells(self) -> list[Cell]:
        d = tuple(sorted(self.defines.items()))
        return [
            Cell(a, c, h, s, d)
            for a in self.apps
            for c in self.configs
            for h in self.harts
            for s in self.seeds
        ]


def run_sweep(sweep: Sweep, jobs: int, quantum: int = QUANTUM, progress: bool = True):
    from emulator.explore import ProcessRunner

    cells = sweep.cells()
    # Build every image first, in this process: workers then only read the cache.
    from toolchain import build

    for app in sweep.apps:
        for config in sweep.configs:
            build(app, config, sweep.defines)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(cells), unit="run", file=sys.stderr, leave=False)
    results = []
    try:
        for r in ProcessRunner(jobs).map(CellRun(quantum), cells):
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


FIELDS = [f for f in CellResult.__dataclass_fields__]


def write_outputs(
    run_dir: Path, results: list[CellResult], sweep: Sweep, costs: dict
) -> list[Path]:
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for r in results:
            w.writerow(asdict(r))
    write_json(
        run_dir / "results.json",
        {"sweep": asdict(sweep), "costs": costs, "results": [asdict(r) for r in results]},
    )
    (run_dir / "results.md").write_text(markdown_table(results))
    return plot(run_dir, results)


def _mean(rows: list[CellResult], attr: str) -> float:
    vals = [getattr(r, attr) for r in rows if r.ok and getattr(r, attr) is not None]
    return sum(vals) / len(vals) if vals else float("nan")


def _groups(results: list[CellResult]) -> dict[tuple[str, str, int], list[CellResult]]:
    groups: dict[tuple[str, str, int], list[CellResult]] = {}
    for r in results:
        groups.setdefault((r.app, r.config, r.harts), []).append(r)
    return groups


def markdown_table(results: list[CellResult]) -> str:
    lines = [
        "| benchmark | configuration | harts | ops/s (virtual) | insns/op | wait share | "
        "SC failures | line transfers | peak live KiB | peak pages held | ok |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (app, config, harts), rows in _groups(results).items():
        ok = sum(r.ok for r in rows)
        pages = _mean(rows, "peak_pages_held")
        lines.append(
            f"| {app} | {config} | {harts} | {_mean(rows, 'ops_per_second'):.3g} | "
            f"{_mean(rows, 'insns_per_op'):.0f} | {_mean(rows, 'wait_share'):.1%} | "
            f"{_mean(rows, 'sc_failures'):.0f} | {_mean(rows, 'line_transfers'):.0f} | "
            f"{_mean(rows, 'peak_live_bytes') / 1024:.0f} | "
            f"{'' if pages != pages else f'{pages:.0f}'} | {ok}/{len(rows)} |"
        )
    return "\n".join(lines) + "\n"


PLOTS = (
    ("ops_per_second", "operations per virtual second", "throughput"),
    ("insns_per_op", "guest instructions per operation", "insns-per-op"),
    ("wait_share", "share of instructions waiting for locks", "contention"),
)


def plot(run_dir: Path, results: list[CellResult]) -> list[Path]:
    """One figure per benchmark and metric, a line per configuration against harts; and the
    memory overhead (peak pages held vs peak live bytes). PNG and SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    groups = _groups(results)
    for app in sorted({r.app for r in results}):
        configs = sorted({r.config for r in results if r.app == app})
        metrics = [*PLOTS, ("memory", "peak pages held x 4 KiB / peak live bytes", "memory")]
        fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4))
        for ax, (attr, label, _) in zip(axes, metrics, strict=True):
            for config in configs:
                harts = sorted({h for (a, c, h) in groups if a == app and c == config})
                if attr == "memory":
                    ys = []
                    for h in harts:
                        rows = groups[(app, config, h)]
                        pages, live = _mean(rows, "peak_pages_held"), _mean(rows, "peak_live_bytes")
                        ys.append(pages * 4096 / live if live and pages == pages else float("nan"))
                else:
                    ys = [_mean(groups[(app, config, h)], attr) for h in harts]
                ax.plot(harts, ys, marker="o", label=config)
            ax.set_xlabel("harts")
            ax.set_ylabel(label)
            ax.set_xscale("log", base=2)
            ticks = sorted({r.harts for r in results if r.app == app})
            ax.set_xticks(ticks, [str(t) for t in ticks])
            ax.set_title(f"{app}: {label}", fontsize=9)
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        for ext in ("png", "svg"):
            path = run_dir / f"{app}.{ext}"
            fig.savefig(path)
            written.append(path)
        plt.close(fig)
    return written
