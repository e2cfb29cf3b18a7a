#!/usr/bin/env python3
"""Run the benchmark sweeps docs/results.md is made from, each into a folder of --out.

    python scripts/results_sweeps.py --jobs 2 --out runs/results

  main/               the grid (bench's defaults, or --benchmarks/--configs/--harts/-D) under
                      the default costs
  old/                the same grid under --old-costs (default: atomics, the model before the
                      coherence model)
  COST-xF/, COST-V/   for each --vary COST=xF (or COST=V), the sensitivity grid under the
                      default costs with COST multiplied by F (or set to V); the cost file it
                      used is COST-xF.toml beside the folder

Each is one `python -m emulator bench` run (its results.json records the costs and the command).
A folder that already holds a results.json of the same command is kept, so an interrupted set
resumes where it stopped. At the end the script prints the results_doc.py command that writes
the page from the folders, or runs it with --doc FILE.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

from emulator.cli.main import DEFAULT_BENCH_CONFIGS
from emulator.cli.scripts import checked, script_main, script_parser
from emulator.instruments.timing import CostModel
from emulator.machine.errors import BadInput
from emulator.session.options import at_least, count
from toolchain.args import define

# The sensitivity grid: the benchmarks whose conclusions the costs could turn (the page storm:
# lock-free against locked; larson: remote frees; cache-thrash: false sharing) and the
# configurations those conclusions compare.
SENSITIVITY_BENCHMARKS = ["bench-page-storm", "bench-larson", "bench-cache-thrash"]
DEFAULT_VARY = [("line_transfer", "x", 0.5), ("line_transfer", "x", 2.0)]
SENSITIVITY_CONFIGS = [
    "bbuddy-spin",
    "bbuddy-ticket",
    "bbuddy-perorder",
    "bbuddy-lockfree",
    "mimalloc+bbuddy-lockfree",
    "mimalloc+bbuddy-spin",
]


def variant(text: str) -> tuple[str, str, float]:
    """--vary COST=xF (scale) or COST=V (set): (cost, "x" or "", number)."""
    cost, _, spec = text.partition("=")
    scale = spec.startswith("x")
    try:
        number = float(spec[1:] if scale else spec)
    except ValueError:
        number = -1.0
    if not cost or number < 0 or (scale and number == 0):
        raise argparse.ArgumentTypeError(f"wants COST=xF (F > 0) or COST=V (V >= 0), got {text!r}")
    return cost, "x" if scale else "", number


def varied_costs(base: dict, cost: str, how: str, number: float) -> str:
    """A cost file: `base` (a CostModel's describe()) with `cost` scaled or set."""
    if cost not in base or cost == "model":
        known = ", ".join(k for k in base if k != "model")
        raise BadInput(f"--vary {cost}: no such cost; the costs: {known}")
    lines = [f"# the default costs with {cost} {how}{number:g} (scripts/results_sweeps.py)"]
    for key, value in base.items():
        if key == cost:
            value = round(value * number) if how else round(number)
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def bench_args(grid: dict, costs: str | None, out: Path, jobs: int) -> list[str]:
    args = ["--configs", *grid["configs"], "--harts", *map(str, grid["harts"])]
    if grid["benchmarks"]:
        args = ["--benchmarks", *grid["benchmarks"], *args]
    for name, value in grid["defines"].items():
        args += ["-D", f"{name}={value}"]
    if costs:
        args += ["--costs", costs]
    return [*args, "--jobs", str(jobs), "--out", str(out)]


def done(out: Path, grid: dict, costs: str | None) -> bool:
    """Whether `out` holds a finished sweep of this grid under these costs."""
    try:
        data = json.loads((out / "results.json").read_text())
        s = data["sweep"]
        return bool(data["results"]) and (
            s["configs"] == grid["configs"]
            and s["harts"] == grid["harts"]
            and s["defines"] == grid["defines"]
            and s.get("costs") == costs
            and (not grid["benchmarks"] or s["apps"] == grid["benchmarks"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def main() -> None:
    p = script_parser(__doc__)
    p.add_argument("--out", type=Path, default=Path("runs/results"), metavar="DIR",
                   help="the folder of the sweeps (default runs/results)")  # fmt: skip
    p.add_argument("--jobs", type=checked(count, at_least(1)), default=2, metavar="J",
                   help="worker processes of each sweep (default 2)")  # fmt: skip
    p.add_argument("--benchmarks", nargs="+", default=[], metavar="APP",
                   help="the main grid's benchmarks (default: every bench-* app)")  # fmt: skip
    p.add_argument("--configs", nargs="+", default=DEFAULT_BENCH_CONFIGS, metavar="CONFIG",
                   help="the main grid's configurations (default: bench's)")  # fmt: skip
    p.add_argument("--harts", nargs="+", type=checked(count, at_least(1)),
                   default=[1, 2, 4, 8, 16], metavar="N",
                   help="hart counts of every grid (default 1 2 4 8 16)")  # fmt: skip
    p.add_argument("-D", dest="defines", action="append", type=define, default=[],
                   metavar="NAME=VALUE", help="macro for every build of every sweep")  # fmt: skip
    p.add_argument("--old-costs", default="atomics", metavar="NAME|FILE",
                   help="the costs of the old/ sweep (default atomics); none: no such "
                   "sweep")  # fmt: skip
    p.add_argument("--vary", nargs="*", type=variant, default=DEFAULT_VARY,
                   metavar="COST=xF|COST=V", help="one sensitivity sweep each: the default "
                   "costs with COST scaled by F or set to V (default line_transfer=x0.5 "
                   "line_transfer=x2; none given: no such sweep)")  # fmt: skip
    p.add_argument("--sensitivity-benchmarks", nargs="+", default=SENSITIVITY_BENCHMARKS,
                   metavar="APP", help="the sensitivity grid's benchmarks (default "
                   f"{' '.join(SENSITIVITY_BENCHMARKS)}; all: the main grid's)")  # fmt: skip
    p.add_argument("--sensitivity-configs", nargs="+", default=SENSITIVITY_CONFIGS,
                   metavar="CONFIG", help="the sensitivity grid's configurations (default "
                   f"{' '.join(SENSITIVITY_CONFIGS)}; all: the main grid's)")  # fmt: skip
    p.add_argument("--doc", type=Path, metavar="FILE",
                   help="then write the page there with results_doc.py (default: print the "
                   "command)")  # fmt: skip
    p.add_argument("--answers", type=Path, metavar="FILE",
                   help="with --doc: results_doc.py's --answers")  # fmt: skip
    args = p.parse_args()
    base = CostModel.load().describe()  # the default costs, which the variants change
    if args.old_costs != "none":
        CostModel.load(args.old_costs)  # a bad one is said before any sweep runs
    variants = {
        f"{cost}-{how}{number:g}": varied_costs(base, cost, how, number)
        for cost, how, number in args.vary
    }
    grid = {
        "benchmarks": args.benchmarks,
        "configs": args.configs,
        "harts": args.harts,
        "defines": dict(args.defines),
    }
    small = dict(grid)
    if args.sensitivity_benchmarks != ["all"]:
        small["benchmarks"] = [
            b for b in args.sensitivity_benchmarks if not args.benchmarks or b in args.benchmarks
        ]
    if args.sensitivity_configs != ["all"]:
        small["configs"] = [c for c in args.sensitivity_configs if c in args.configs]
    args.out.mkdir(parents=True, exist_ok=True)
    sweeps: list[tuple[str, dict, str | None]] = [("main", grid, None)]
    if args.old_costs != "none":
        sweeps.append(("old", grid, args.old_costs))
    if small["configs"] and (small["benchmarks"] or not args.benchmarks):
        for name, text in variants.items():
            costs = args.out / f"{name}.toml"
            costs.write_text(text)
            sweeps.append((name, small, str(costs)))
    for name, g, costs in sweeps:
        out = args.out / name
        bench = bench_args(g, costs, out, args.jobs)
        if done(out, g, costs):
            print(f"{name}: kept ({out / 'results.json'} has this sweep)", flush=True)
            continue
        print(f"{name}: python -m emulator bench {shlex.join(bench)}", flush=True)
        proc = subprocess.run([sys.executable, "-m", "emulator", "bench", *bench], check=False)
        if proc.returncode == 64:
            raise BadInput(f"{name}: bench refused its options (above)")
        # 1: a cell failed, which the page reports (the shim fails the page storm); carry on
    doc = [
        "scripts/results_doc.py", str(args.out / "main"),
        *(["--old", str(args.out / "old")] if args.old_costs != "none" else []),
    ]  # fmt: skip
    scaled = [str(args.out / name) for name, _, _ in sweeps if name in variants]
    if scaled:
        doc += ["--sensitivity", *scaled]
    if args.answers:
        doc += ["--answers", str(args.answers)]
    if args.doc:
        here = Path(__file__).with_name("results_doc.py")  # whatever the working directory
        command = [sys.executable, str(here), *doc[1:], "--out", str(args.doc)]
        proc = subprocess.run(command, check=False)
        sys.exit(proc.returncode)
    print(f"the page: python {shlex.join(doc)} --out docs/results.md")


if __name__ == "__main__":
    script_main(main)
