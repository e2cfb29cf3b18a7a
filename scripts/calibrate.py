#!/usr/bin/env python3
"""The timing model's calibration: measured per-operation cycles next to the cost file's prediction.

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

EXPLAINED = [
    "The `calib` app (guest/apps/calib) runs loops whose coherence traffic the model's rules "
    "fix, and each hart reads rdcycle (its virtual clock) and rdinstret around its loop. "
    "`emulator/bench/calibration.py` runs each benchmark twice, with K and 2K operations per "
    "hart, at quantum 1 under the timed schedule, and takes the difference divided by K: boot, "
    "barriers and the loops' first and last iterations cancel. *Events* are a hart's cycles "
    "minus its instructions minus its waits for a busy line (summary.json's "
    "`line_wait_cycles`): what the protocol charged. A, F, M, U, T are the costs `atomic`, "
    "`fence`, `miss`, `upgrade`, `line_transfer`; N the harts; i the loop's instructions per "
    "operation. With `serialize_lines = 1` the events may differ by T/K from the prediction "
    "(the harts' waits at the barrier after the loop need not cancel exactly); otherwise they "
    "must match exactly.",
    "",
    "- **pingpong** (harts 0 and 1): hart 0 stores v and spins until it reads v + 1; hart 1 "
    "spins until it reads v and stores v + 1. Both spin on a Shared copy, so each store is an "
    "upgrade (U) and the spinner's next load a transfer (T): **U + T per hart per round trip**, "
    "however long it spins. The round trip with queueing: the spinner's load waits for the "
    "upgrade, then takes T, and 3 instructions later its store upgrades: "
    "**2(U + T) + 7 cycles**. Without queueing the upgrades are off the path: 2T + 8 ± 2 (the "
    "spinner's phase in its 2-instruction loop).",
    "- **counter**: every hart `amoadd`s one word. Each AMO finds the line Modified in another "
    "hart: **A + T** (alone: A). With queueing a transfer holds the line T cycles, so each hart "
    "gets an AMO every **max(N x T, i + A + T)** cycles; without, i + A + T.",
    "- **ticket**: a ticket lock with `next` and `owner` on lines of their own around a section "
    "that increments a word on a third line. FIFO: per acquisition the `amoadd` on `next` "
    "(A + T), the section's load (T) and store (U), the release's fence (F) and store to a "
    "Shared `owner` (U), then the N - 1 spinners reload `owner`: the first T, the others M. "
    "Mean over harts: **A + F + 3T + 2U + (N - 2) M** (alone: A + F).",
    "- **ttas**: the runtime's TTAS lock around a section on two lines. Alone A + F. With "
    "several harts who wins a release is a race, so only a lower bound is checked: A + F per "
    "acquisition, and 3T + 2U more for each handoff to another hart (the app counts them). "
    "Under the bundled costs the holder nearly always takes the lock again (its line is "
    "Modified in its own L1 after the release, while a spinner must first fetch it): the lock "
    "changes hands a fixed number of times however many operations run, so the differenced "
    "handoffs are 0.",
    "- **falsesharing / nosharing**: each hart stores to its own word, all words in one line or "
    "each on its own line. False sharing: each store finds the line Modified elsewhere: **T**, "
    "and with queueing a store every **max(N x T, i + T)** cycles; no sharing: hits, **i** "
    "cycles. The difference is what false sharing costs.",
    "- **readmostly**: every hart sums a 64-word array per pass; hart 0 first writes one word "
    "every 4th pass, a different line each time. The write upgrades hart 0's Shared copy (U) "
    "and invalidates N - 1 copies; the first reader to reload pays T, the other N - 2 M: "
    "**U / 4** per pass for the writer, **(T + (N - 2) M) / (4 (N - 1))** for a reader "
    "(mean).",
    "",
    "Under `--costs atomics` (the earlier model) plain loads and stores cost nothing: ping-pong, "
    "the sharing benchmarks and the array show no charges, the counter A + T, the ticket lock "
    "A + T + F. tests/test_calibration.py checks all of this under the bundled costs, under two "
    "cost files with other numbers (one without queueing), and under the atomics model; and that "
    "predictions from wrong numbers, or a model with one rule broken, fail.",
    "",
]


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
        help="hart counts, 1-8 (default %(default)s)",
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
            *EXPLAINED,
            f"Per operation, from two runs of {args.ops} and {2 * args.ops} operations per hart "
            "at quantum 1, differenced. *cycles/op* and *instructions/op* are the harts' means "
            "(rdcycle and rdinstret around the loop).",
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
