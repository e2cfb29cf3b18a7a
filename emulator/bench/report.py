"""The outputs of a benchmark sweep: results.csv, results.json, results.md and plots."""

from __future__ import annotations

import csv
from dataclasses import asdict
from pathlib import Path

from emulator.bench.sweep import CellResult, Sweep
from emulator.session.rundir import write_json

FIELDS = [f for f in CellResult.__dataclass_fields__]


def write_outputs(
    run_dir: Path, results: list[CellResult], sweep: Sweep, costs: dict, reproduce: str = ""
) -> list[Path]:
    """Write every output; the plots written. `reproduce` is the command line of the sweep."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for r in results:
            w.writerow(asdict(r))
    write_json(
        run_dir / "results.json",
        {
            "sweep": asdict(sweep),
            "reproduce": reproduce,
            "costs": costs,
            "results": [asdict(r) for r in results],
        },
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
