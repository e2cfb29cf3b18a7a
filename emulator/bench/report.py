"""The outputs of a benchmark sweep: results.csv, results.json, results.md and plots."""

from __future__ import annotations

import csv
from dataclasses import asdict
from pathlib import Path

from emulator.bench.sweep import CellResult, Sweep
from emulator.session.rundir import write_json

# results.csv: every field but the cache breakdown, a nested record (results.json has it)
FIELDS = [f for f in CellResult.__dataclass_fields__ if f != "cache"]
TOP_STRUCTURES = 3  # the structures named per configuration in the cache tables


def write_outputs(
    run_dir: Path, results: list[CellResult], sweep: Sweep, costs: dict, reproduce: str = ""
) -> list[Path]:
    """Write every output; the plots written. `reproduce` is the command line of the sweep."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for r in results:
            w.writerow({k: v for k, v in asdict(r).items() if k in FIELDS})
    write_json(
        run_dir / "results.json",
        {
            "sweep": asdict(sweep),
            "reproduce": reproduce,
            "costs": costs,
            "results": [asdict(r) for r in results],
        },
    )
    (run_dir / "results.md").write_text(markdown_table(results) + cache_markdown(results))
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
        "SC failures | line transfers | misses/op | transfers/op | hottest (operation / "
        "structure) | peak live KiB | peak pages held | ok |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (app, config, harts), rows in _groups(results).items():
        ok = sum(r.ok for r in rows)
        pages = _mean(rows, "peak_pages_held")
        lines.append(
            f"| {app} | {config} | {harts} | {_mean(rows, 'ops_per_second'):.3g} | "
            f"{_mean(rows, 'insns_per_op'):.0f} | {_mean(rows, 'wait_share'):.1%} | "
            f"{_mean(rows, 'sc_failures'):.0f} | {_mean(rows, 'line_transfers'):.0f} | "
            f"{_mean(rows, 'misses_per_op'):.2f} | {_mean(rows, 'transfers_per_op'):.2f} | "
            f"{rows[0].hottest} | {_mean(rows, 'peak_live_bytes') / 1024:.0f} | "
            f"{'' if pages != pages else f'{pages:.0f}'} | {ok}/{len(rows)} |"
        )
    return "\n".join(lines) + "\n"


def cache_markdown(results: list[CellResult]) -> str:
    """Per benchmark, the cache tables (cache_tables) at its largest hart count."""
    lines: list[str] = []
    for app in sorted({r.app for r in results}):
        top = max(r.harts for r in results if r.app == app)
        rows = [asdict(r) for r in results if r.app == app and r.harts == top]
        configs = sorted({r["config"] for r in rows})
        lines += cache_tables(
            app, {c: first_cache([r for r in rows if r["config"] == c]) for c in configs}, top
        )
    return "\n" + "\n".join(lines) if lines else ""


def first_cache(rows: list[dict]) -> dict | None:
    """The cache breakdown of the first run among `rows` (a cell's seeds) that has one."""
    return next((r["cache"] for r in rows if r["ok"] and r.get("cache")), None)


def cache_tables(app: str, cells: dict[str, dict | None], harts: int) -> list[str]:
    """Markdown: configuration x allocator operation -> misses / transfers per call, and each
    configuration's TOP_STRUCTURES data structures by misses + transfers; `cells` maps each
    configuration to its cell's CellResult.cache at `harts` (None: none); nothing without any."""
    cells = {c: v for c, v in cells.items() if v}
    if not cells:
        return []
    calls: dict[str, int] = {}
    for cache in cells.values():
        for op, row in cache["operations"].items():
            calls[op] = calls.get(op, 0) + row["calls"]
    ops = sorted((op for op in calls if calls[op]), key=lambda op: -calls[op])
    windows = {cache["window"] for cache in cells.values()}
    where = "between the benchmark's markers" if windows == {"markers"} else "over the whole run"
    lines = [
        f"{app}, cache traffic by allocator operation at {harts} harts ({where}; misses / "
        "line transfers per call):",
        "",
        "| configuration | " + " | ".join(ops) + " |",
        "|---|" + "---|" * len(ops),
    ]
    for config, cache in cells.items():
        row = []
        for op in ops:
            o = cache["operations"].get(op)
            row.append(
                f"{o['misses_per_call']:.2f} / {o['transfers_per_call']:.2f}"
                if o and o["calls"]
                else "-"
            )
        lines.append(f"| {config} | " + " | ".join(row) + " |")
    lines += [
        "",
        f"{app}, the data structures with the most misses + line transfers at {harts} harts "
        f"({where}):",
        "",
        "| configuration | " + " | ".join(f"#{i + 1}" for i in range(TOP_STRUCTURES)) + " |",
        "|---|" + "---|" * TOP_STRUCTURES,
    ]
    for config, cache in cells.items():
        ranked = sorted(
            cache["structures"].items(), key=lambda kv: -(kv[1]["misses"] + kv[1]["transfers"])
        )[:TOP_STRUCTURES]
        row = [f"{name} ({r['misses']} + {r['transfers']})" for name, r in ranked]
        row += ["-"] * (TOP_STRUCTURES - len(row))
        lines.append(f"| {config} | " + " | ".join(row) + " |")
    return [*lines, ""]


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
