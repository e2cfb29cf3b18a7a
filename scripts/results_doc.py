#!/usr/bin/env python3
"""Write a results page (docs/results.md) and its figures from a sweep's run directory.

    python -m emulator bench --out runs/sweep          # the sweep (see README)
    python scripts/results_doc.py runs/sweep --out docs/results.md   # then this

Without --out the page goes to RUN_DIR/results.md (figures beside it, in results/).

The page has, per benchmark, operations per virtual second for every configuration and hart
count, the speed-up of each configuration from 1 hart to the most harts, where it saturates
(the hart count from which each doubling adds less than 1.25x) and where it falls (the first
after which throughput drops); before them, the answers (--answers FILE, written from these
numbers by a person).
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
from pathlib import Path


def load(run_dir: Path) -> tuple[dict, dict]:
    data = json.loads((run_dir / "results.json").read_text())
    table: dict = {}
    for r in data["results"]:
        cell = table.setdefault(r["app"], {}).setdefault(r["config"], {})
        cell.setdefault(r["harts"], []).append(r)
    return data, table


def mean(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if r["ok"] and r[key] is not None]
    return sum(vals) / len(vals) if vals else None


def collapse(series: dict[int, float | None]) -> int | None:
    """The hart count after which throughput falls (None: it rises to the end)."""
    harts = sorted(h for h, v in series.items() if v)
    for a, b in itertools.pairwise(harts):
        if series[b] < series[a]:
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


def fmt(v: float | None) -> str:
    return "fails" if v is None else f"{v / 1e6:.2f}"


def page(data: dict, table: dict, out_dir: Path) -> str:
    sweep = data["sweep"]
    costs = data["costs"]
    lines = [
        "# Results: which SMP allocator design scales",
        "",
        f"From one sweep: `python -m emulator bench --configs {' '.join(sweep['configs'])} "
        f"--harts {' '.join(map(str, sweep['harts']))}` (seeds: {len(sweep['seeds'])}), "
        "then `python scripts/results_doc.py RUN_DIR`. Throughput is in millions of "
        "operations (allocations + frees) per virtual second of the timing model "
        f"(`emulator/instruments/costs.toml`: atomic {costs['atomic']}, line transfer "
        f"{costs['line_transfer']}, fence {costs['fence']} cycles at "
        f"{costs['cpu_hz'] / 1e9:g} GHz). These are model seconds, not hardware seconds: they "
        "rank designs by instructions, waiting and cache-line traffic, nothing else (no cache "
        "misses on plain data, no memory bandwidth).",
        "",
        "ANSWERS",
        "",
    ]
    for app in sorted(table):
        configs = table[app]
        harts = sorted({h for c in configs.values() for h in c})
        lines += [f"## {app}", "", f"![{app}](results/{app}.svg)", ""]
        lines.append("| configuration | " + " | ".join(f"{h} harts" for h in harts)
                     + f" | {harts[-1]}/1 | saturates after | falls after |")  # fmt: skip
        lines.append("|---|" + "---|" * (len(harts) + 3))
        for config in sorted(configs):
            series = {h: mean(configs[config].get(h, []), "ops_per_second") for h in harts}
            one, top = series.get(1), series.get(harts[-1])
            speedup = f"{top / one:.2f}x" if one and top else "-"
            c, sat = collapse(series), saturates(series)
            lines.append(
                f"| {config} | " + " | ".join(fmt(series[h]) for h in harts)
                + f" | {speedup} | {sat or '-'} | {c or '-'} |"
            )  # fmt: skip
        lines.append("")
        src = Path(data["_run_dir"]) / f"{app}.svg"  # the PNGs stay in the run directory
        if src.exists():
            shutil.copy(src, out_dir / f"{app}.svg")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--out", type=Path, help="default: RUN_DIR/results.md")
    p.add_argument("--answers", type=Path, help="markdown to put where ANSWERS stands")
    args = p.parse_args()
    args.out = args.out or args.run_dir / "results.md"
    data, table = load(args.run_dir)
    data["_run_dir"] = str(args.run_dir)
    figures = args.out.parent / "results"
    figures.mkdir(parents=True, exist_ok=True)
    text = page(data, table, figures)
    answers = args.answers.read_text() if args.answers else "(no answers given)"
    args.out.write_text(text.replace("ANSWERS", answers.strip()))
    print(f"wrote {args.out} and figures in {figures}")


if __name__ == "__main__":
    main()
