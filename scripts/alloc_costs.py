#!/usr/bin/env python3
"""Guest instructions per palloc+pfree pair and per malloc+free pair, per configuration.

Measured at 1 and 8 harts; writes a markdown table (default runs/alloc-costs.md;
docs/alloc-costs.md is its output with --out docs/alloc-costs.md).

Each hart of the `alloc-cost` app makes COST_PAIRS pairs between two zero-length write system
calls; the machine times those calls exactly, and a run with COST_PAIRS = 0 gives the
markers' own cost. With 8 harts, waiting for locks and retrying CAS loops count too: the
figure is what a pair costs a hart under that contention (random schedule, quantum 100).

    python scripts/alloc_costs.py
    python scripts/alloc_costs.py --configs bbuddy-spin region --pairs 50 --out /tmp/costs.md
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from emulator.cli.scripts import checked, config_name, script_main, script_parser, written_by
from emulator.instruments.markers import Markers
from emulator.machine import events as ev
from emulator.session import RunOptions, run
from emulator.session.options import at_least, count
from toolchain import configs

KINDS = {0: "palloc+pfree (1 page)", 1: "malloc+free (32 B)"}


def marked_spans(config: str, harts: int, kind: int, pairs: int) -> list[int] | None:
    """Instructions between each hart's two markers, or None when the run failed."""
    bus = ev.Bus()
    markers = Markers(bus)
    opts = RunOptions(
        app="alloc-cost",
        config=config,
        harts=harts,
        schedule="random",
        quantum=100,
        seed=0,
        quiet=True,
        write_files=False,
        max_instructions=500_000_000,
        defines={"COST_PAIRS": str(pairs), "COST_KIND": str(kind)},
    )
    report = run(opts, bus)
    if report.result.outcome != "exited" or report.result.exit_code != 0:
        return None
    return [markers.instrets(h)[1] - markers.instrets(h)[0] for h in range(harts)]


def cost(config: str, harts: int, kind: int, pairs: int) -> str:
    loaded = marked_spans(config, harts, kind, pairs)
    empty = marked_spans(config, harts, kind, 0)
    if loaded is None or empty is None:
        return "fails"
    per_pair = [(a - b) / pairs for a, b in zip(loaded, empty, strict=True)]
    mean = sum(per_pair) / len(per_pair)
    return f"{mean:.0f}" if harts == 1 else f"{mean:.0f} (max {max(per_pair):.0f})"


def main() -> None:
    p = script_parser(__doc__)
    p.add_argument(
        "--configs", nargs="+", type=config_name, metavar="CONFIG",
        help="configurations to measure (default: every one with an allocator)",
    )  # fmt: skip
    p.add_argument(
        "--pairs", type=checked(count, at_least(1)), default=200, metavar="N",
        help="pairs each hart makes (default %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--out", type=Path, default=Path("runs") / "alloc-costs.md", metavar="FILE",
        help="the table (default %(default)s)",
    )  # fmt: skip
    args = p.parse_args()
    chosen = args.configs or [c for c in configs() if c != "default"]
    rows = []
    cells_of = [(k, h) for k in KINDS for h in (1, 8)]
    with tqdm(total=len(chosen) * len(cells_of), unit="cell", leave=False) as bar:
        for config in chosen:
            cells = []
            for k, h in cells_of:
                cells.append(cost(config, h, k, args.pairs))
                bar.update()
            rows.append(f"| {config} | " + " | ".join(cells) + " |")
            bar.write(rows[-1])
    header = (
        "| configuration | "
        + " | ".join(f"{KINDS[k]}, {h} hart{'s' if h > 1 else ''}" for k in KINDS for h in (1, 8))
        + " |"
    )
    text = "\n".join(
        [
            "# Guest instructions per allocation pair",
            "",
            f"Written by `{written_by()}` (it overwrites this file). Instructions a "
            f"hart retires per pair, averaged over {args.pairs} pairs and over harts; with 8 harts "
            "the maximum over harts follows in brackets, and waiting for locks or retrying CAS "
            'loops is part of the cost (random schedule, quantum 100, seed 0). "fails": the run '
            "did not finish cleanly (unlocked bbuddy is not SMP-safe). Every object allocation on "
            "a page allocator takes at least one page through a 32-byte header, as in Unikraft.",
            "",
            header,
            "|" + "---|" * (1 + 2 * len(KINDS)),
            *rows,
            "",
        ]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"table written to {args.out}")


if __name__ == "__main__":
    script_main(main)
