#!/usr/bin/env python3
"""The timing model's calibration: each microbenchmark's measured per-operation cycles next to what the cost file predicts.

Runs the `calib` app's benchmarks (ping-pong, amoadd counter, TTAS and ticket locks, false and no
sharing, a read-mostly array) under `--timing` with a cost file, each twice (K and 2K operations,
differenced: emulator/bench/calibration.py), and prints and writes a markdown table of every
quantity the model's rules predict: measured, predicted, the formula and whether they agree.
Exit status 1 when a prediction fails. docs/calibration.md is written with
--out docs/calibration.md.

    python scripts/calibrate.py
    python scripts/calibrate.py --costs atomics --harts 2 --out /tmp/c.md
"""

from __future__ import annotations

from pathlib import Path

from emulator.bench.calibration import BENCHMARKS, Check, measure, predict
from emulator.cli.scripts import checked, script_main, script_parser, written_by
from emulator.instruments.timing import CostModel
from emulator.session.options import at_least, between


def _row(c: Check, cycles: float, instret: float) -> str:
    verdict = "yes" if c.ok else "**no**"
    sign = ">=" if c.bound == "at-least" else "="
    tol = f" ± {c.tolerance:.2g}" if c.tolerance else ""
    return (
        f"| {c.benchmark} | {c.harts} | {c.quantity} | {c.measured:.2f} | "
        f"{sign} {c.predicted:.2f}{tol} | {c.rule} | {cycles:.2f} | {instret:.2f} | {verdict} |"
    )


def main() -> int:
    p = script_parser(__doc__)
    p.add_argument(
        "--costs", default=None, metavar="NAME|FILE",
        help="cost file: a bundled name (coherence, atomics) or a path (default: the bundled "
        "coherence costs)",
    )  # fmt: skip
    p.add_argument(
        "--harts", nargs="+", type=checked(int, between(1, 8)), default=[2, 4], metavar="N",
        help="hart counts (1-8; default %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--ops", type=checked(int, at_least(10)), default=128, metavar="K",
        help="operations per hart of the shorter run (default %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--benchmarks", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS),
        metavar="NAME", help=f"which (default: all: {' '.join(BENCHMARKS)})",
    )  # fmt: skip
    p.add_argument(
        "--out", type=Path, default=Path("runs") / "calibration.md", metavar="FILE",
        help="the table (default %(default)s)",
    )  # fmt: skip
    args = p.parse_args()
    costs = CostModel.load(args.costs)  # a bad file is one line before anything runs
    header = (
        "| benchmark | harts | quantity | measured | predicted | rule | cycles/op | "
        "instructions/op | agrees |"
    )
    rows, failed = [header, "|---|---|---|---|---|---|---|---|---|"], 0
    print(header)
    for bench in args.benchmarks:
        for harts in args.harts:
            if bench == "pingpong" and harts < 2:
                continue
            m = measure(bench, harts, args.ops, args.costs)
            cycles = sum(q.cycles for q in m.per_hart.values()) / len(m.per_hart)
            instret = sum(q.instret for q in m.per_hart.values()) / len(m.per_hart)
            for c in predict(m):
                rows.append(_row(c, cycles, instret))
                print(rows[-1], flush=True)
                failed += not c.ok
    numbers = ", ".join(f"{k} = {v}" for k, v in costs.describe().items())
    text = "\n".join(
        [
            "# Calibration of the timing model",
            "",
            f"Written by `{written_by()}`. Cost file: `{costs.source}` ({numbers}).",
            "",
            f"Per operation, from two runs of {args.ops} and {2 * args.ops} operations per hart "
            "at quantum 1, differenced. *cycles/op* and *instructions/op* are the harts' means "
            "(rdcycle, rdinstret around the loop); *events* are cycles minus instructions minus "
            "the waits for a busy line; A, F, M, U, T are the costs atomic, fence, miss, "
            "upgrade, line_transfer, N the harts, i the loop's instructions per operation. "
            "How each prediction follows from the rules: emulator/bench/calibration.py and "
            "docs/calibration.md.",
            "",
            *rows,
            "",
            f"{failed} of {len(rows) - 2} predictions failed." if failed else
            f"All {len(rows) - 2} predictions hold.",
            "",
        ]
    )  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"{'all predictions hold' if not failed else f'{failed} failed'}; table in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    script_main(main)
