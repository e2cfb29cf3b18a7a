#!/usr/bin/env python3
"""Run the benchmark sweeps docs/results.md is made from, each into a folder of --out.

    python scripts/results_sweeps.py --jobs 2 --out runs/results

  main/               the grid (bench's defaults, or --benchmarks/--configs/--harts/-D) under
                      the default costs
  old/                the same grid under --old-costs (default: atomics, the model before the
                      coherence model)
  transfer-xF/        for each --scales F, the sensitivity grid under the default costs with
                      the costs named by --scale (default line_transfer) multiplied by F; the
                      cost file it used is transfer-xF.toml beside the folder

Each is one `python -m emulator bench` run (its results.json records the costs and the command).
A folder that already holds a results.json of the same command is kept, so an interrupted set
resumes where it stopped. At the end the script prints the results_doc.py command that writes
the page from the folders, or runs it with --doc FILE.
"""

from __future__ import annotations

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
SENSITIVITY_CONFIGS = [
    "bbuddy-spin",
    "bbuddy-ticket",
    "bbuddy-perorder",
    "bbuddy-lockfree",
    "mimalloc+bbuddy-lockfree",
    "mimalloc+bbuddy-spin",
]


def scaled_costs(base: dict, keys: list[str], factor: float) -> str:
    """A cost file: `base` (a CostModel's describe()) with `keys` multiplied by `factor`."""
    missing = [k for k in keys if k not in base]
    if missing:
        raise BadInput(f"--scale {missing[0]}: no such cost; the costs: {', '.join(base)}")
    lines = [f"# {', '.join(keys)} x{factor:g} of the default costs (scripts/results_sweeps.py)"]
    for key, value in base.items():
        if key in keys:
            value = round(value * factor)
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
    p.add_argument("--scales", nargs="*", type=float, default=[0.5, 2.0], metavar="F",
                   help="factors of the sensitivity sweeps (default 0.5 2; none given: no "
                   "such sweep)")  # fmt: skip
    p.add_argument("--scale", nargs="+", default=["line_transfer"], metavar="COST",
                   help="the costs a factor multiplies (default line_transfer)")  # fmt: skip
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
    if any(f <= 0 for f in args.scales):
        raise BadInput(f"--scales must be positive (got {min(args.scales):g})")
    base = CostModel.load().describe()  # the default costs, which the factors scale
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
        for factor in args.scales:
            name = f"transfer-x{factor:g}"
            costs = args.out / f"{name}.toml"
            costs.write_text(scaled_costs(base, args.scale, factor))
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
    scaled = [str(args.out / name) for name, _, _ in sweeps if name.startswith("transfer-")]
    if scaled:
        doc += ["--sensitivity", *scaled]
    if args.answers:
        doc += ["--answers", str(args.answers)]
    if args.doc:
        proc = subprocess.run([sys.executable, *doc, "--out", str(args.doc)], check=False)
        sys.exit(proc.returncode)
    print(f"the page: python {shlex.join(doc)} --out docs/results.md")


if __name__ == "__main__":
    script_main(main)
