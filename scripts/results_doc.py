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

import itertools
import json
import shlex
import shutil
from pathlib import Path

from emulator.cli.scripts import script_main, script_parser, written_by
from emulator.machine.errors import BadInput


def load(run_dir: Path) -> tuple[dict, dict]:
    path = run_dir / "results.json"
    try:
        data = json.loads(path.read_text())
        problem = "" if {"sweep", "results", "costs"} <= set(data) else "not a bench run's"
    except (OSError, ValueError, TypeError) as e:
        problem = getattr(e, "strerror", None) or str(e)
    if problem:
        raise BadInput(
            f"{run_dir}: not a bench run directory ({path.name}: {problem}); give the --out "
            "of `python -m emulator bench`"
        )
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
    at = f"{costs['cpu_hz'] / 1e9:g} GHz"
    if costs.get("model", "atomics") == "atomics":  # sweeps from before the coherence model
        return (
            f"atomics only, `--costs atomics`: atomic {costs['atomic']}, line transfer "
            f"{costs['line_transfer']}, fence {costs['fence']} cycles at {at}; plain loads and "
            "stores cost nothing"
        )
    l1 = (
        f"{costs['l1_sets']} sets x {costs['l1_ways']} ways"
        if costs["l1_sets"]
        else "an infinite L1"
    )
    return (
        f"MESI coherence over every load and store, `emulator/instruments/costs.toml`: miss "
        f"{costs['miss']}, upgrade {costs['upgrade']}, line transfer {costs['line_transfer']}, "
        f"atomic {costs['atomic']}, fence {costs['fence']} cycles at {at}; private L1s of {l1}"
        + (", one transaction per line at a time" if costs["serialize_lines"] else "")
    )


def page(data: dict, table: dict, out_dir: Path, made_by: str = "") -> str:
    costs = data["costs"]
    made_by = made_by or "python scripts/results_doc.py RUN_DIR"
    lines = [
        "# Results: which SMP allocator design scales",
        "",
        f"From one sweep: `{sweep_command(data)}`, then `{made_by}`. Throughput is in millions of "
        "operations (allocations + frees) per virtual second of the timing model "
        f"({model_words(costs)}). These are model seconds, not hardware seconds: they rank "
        "designs by instructions, waiting and cache-line traffic, nothing else (no memory "
        "bandwidth, no DRAM).",
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
    p = script_parser(__doc__)
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a bench run directory")
    p.add_argument(
        "--out", type=Path, metavar="FILE", help="the page (default: RUN_DIR/results.md)"
    )
    p.add_argument(
        "--answers", type=Path, metavar="FILE",
        help="markdown to put where ANSWERS stands (default: none)",
    )  # fmt: skip
    args = p.parse_args()
    args.out = args.out or args.run_dir / "results.md"
    data, table = load(args.run_dir)
    try:
        answers = args.answers.read_text() if args.answers else "(no answers given)"
    except OSError as e:
        raise BadInput(f"--answers {args.answers}: cannot read it ({e.strerror})") from None
    data["_run_dir"] = str(args.run_dir)
    figures = args.out.parent / "results"
    figures.mkdir(parents=True, exist_ok=True)
    text = page(data, table, figures, written_by())
    args.out.write_text(text.replace("ANSWERS", answers.strip()))
    print(f"wrote {args.out} and figures in {figures}")


if __name__ == "__main__":
    script_main(main)
