#!/usr/bin/env python3
"""Guest instructions of the allocator frontend's operations, per configuration.

Writes a markdown table (default runs/frontend-costs.md; docs/frontend-costs.md is written with
--out docs/frontend-costs.md).

The `frontend-cost` app puts every measured operation between two zero-length write system
calls (markers) and precedes it by an empty pair of markers; the machine times the calls
exactly, and the difference of the two spans is the operation's exact instruction count
(call and argument set-up included, markers excluded). Measured, with the rr schedule:

- a malloc+free pair of 16, 32 and 64 B on the owning hart, through the frontend's own entry
  points (mi_malloc / mi_free) and through uk_malloc / uk_free (1 hart, after a warm-up pair);
- a remote free: hart 1 frees blocks hart 0 allocated (one uk_free each), then hart 0's
  mi_collect takes them all back (its cost divided by the number of blocks);
- a segment refill: the first malloc(32) on an empty heap (mmap through the shim, provider
  palloc, segment and page set-up); mi_collect unmaps it between rounds.

    python scripts/frontend_costs.py
    python scripts/frontend_costs.py --configs mimalloc+bbuddy-spin --out /tmp/f.md
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from emulator.cli.scripts import config_name, script_main, script_parser, written_by
from emulator.instruments.markers import Markers
from emulator.machine import events as ev
from emulator.session import RunOptions, run
from toolchain import configs

SIZES = (16, 32, 64)
REPS = 20
GOAL = 40


def sections(config: str, kind: int, size: int, harts: int) -> dict[int, list[int]] | None:
    """Per hart, the instruction count of each measured section (empty section subtracted)."""
    bus = ev.Bus()
    markers = Markers(bus)
    opts = RunOptions(
        app="frontend-cost",
        config=config,
        harts=harts,
        quiet=True,
        write_files=False,
        max_instructions=200_000_000,
        defines={"COST_KIND": str(kind), "COST_SIZE": str(size), "COST_REPS": str(REPS)},
    )
    report = run(opts, bus)
    if report.result.outcome != "exited" or report.result.exit_code != 0:
        return None
    out = {}
    for hart in markers.marks:
        m = markers.instrets(hart)
        if len(m) % 4:
            return None
        out[hart] = [(m[i + 3] - m[i + 2]) - (m[i + 1] - m[i]) for i in range(0, len(m), 4)]
    return out


def one_value(values: list[int]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo}" if lo == hi else f"{sum(values) / len(values):.0f} ({lo}-{hi})"


def row(config: str) -> list[str]:
    cells = []
    for kind in (0, 1):
        for size in SIZES:
            s = sections(config, kind, size, 1)
            cells.append("fails" if s is None else one_value(s[0]))
    remote = sections(config, 2, 32, 2)
    if remote is None:
        cells += ["fails", "fails"]
    else:
        cells.append(one_value(remote[1]))
        cells.append(f"{remote[0][0] / REPS:.1f}")
    refill = sections(config, 3, 32, 1)
    cells.append("fails" if refill is None else one_value(refill[0]))
    return cells


def main() -> None:
    p = script_parser(__doc__)
    p.add_argument(
        "--configs", nargs="+", type=config_name, metavar="CONFIG",
        help="configurations to measure (default: every mimalloc+PROVIDER one)",
    )  # fmt: skip
    p.add_argument(
        "--out", type=Path, default=Path("runs") / "frontend-costs.md", metavar="FILE",
        help="the table (default %(default)s)",
    )  # fmt: skip
    args = p.parse_args()
    chosen = args.configs or [c for c, cfg in configs().items() if cfg.kind == "composed"]
    header = (
        ["configuration"]
        + [f"mi_malloc+mi_free {s} B" for s in SIZES]
        + [f"uk_malloc+uk_free {s} B" for s in SIZES]
        + ["remote uk_free (32 B)", "owner's collect, per block", "segment refill (malloc 32 B)"]
    )
    rows, fast = [], []
    with tqdm(chosen, unit="config", leave=False) as bar:
        for config in bar:
            cells = row(config)
            rows.append(f"| {config} | " + " | ".join(cells) + " |")
            bar.write(rows[-1])
        for c in cells[:3]:
            if c != "fails":  # "40", or "47 (40-171)": mean (min-max)
                mean = float(c.split()[0])
                low = int(c.split("(")[1].split("-")[0]) if "(" in c else int(mean)
                fast.append((low, mean))
    if not fast:
        verdict = "No run succeeded, so there is no figure for the goal."
    else:
        worst, worst_mean = max(f[0] for f in fast), max(f[1] for f in fast)
        met = "met" if worst <= GOAL else f"missed by {worst - GOAL}"
        verdict = (
            f"**Goal {met}** for the fast path: the frontend's own malloc+free pair (16, 32 and "
            f"64 B, owning hart) costs {worst} instructions when it stays on the fast path "
            f"(goal <= {GOAL}), call set-up included. Averaged over the {REPS} pairs, which "
            "include mimalloc's periodic slow-path visits, the worst size costs "
            f"{worst_mean:.0f}."
        )
    text = "\n".join(
        [
            "# Guest instructions of the allocator frontend",
            "",
            f"Written by `{written_by()}` (it overwrites the table; the notes below it are kept "
            "in the script). Exact instruction counts of one operation on a "
            "hart, from the host's count at zero-length write markers around it, minus an empty "
            "pair of markers (so calls and argument set-up are included, markers are not); "
            f"{REPS} repetitions, one value when all agree, else the mean (min-max).",
            "",
            "- **malloc+free pairs**: one hart, after a warm-up pair; `mi_*` is the frontend's "
            "own fast path, `uk_*` goes through the out-of-line entry points of alloc.c (with "
            f"ALLOC_STATS=0) and the allocator table. Goal: <= {GOAL} for the fast path.",
            "- **remote free**: hart 1 frees a block hart 0 allocated: a compare-and-swap push "
            "onto the page's thread_free list and the decrement of `used` (AMO), through uk_free. "
            "**Owner's collect**: hart 0 then runs mi_collect once, taking all the blocks back "
            "with one swap and a walk of the list; its whole cost (fixed part included: every "
            f"size-class queue is visited) divided by the {REPS} blocks.",
            "- **segment refill**: the first malloc(32) on an empty heap: the slow path, an mmap "
            "system call (trap entry and exit, the shim's table, the provider's palloc through "
            "uk_palloc), segment header and page set-up, the first 1 KiB of blocks carved.",
            "",
            verdict,
            "",
            "How the pair's instructions go: `mi_malloc` 16 (heap from `tp`, size check, index, "
            "page from `pages_direct`, pop `free`, `amoadd` on `used`, return) and `mi_free` 19 "
            "(segment by masking `p - 1`, owner check against `tp`'s heap, page by shift, flags "
            "check, push on `local_free`, `amoadd`), plus the caller's argument and call "
            "instructions; both are in assembly (`mimalloc_fast.S`) because the compiler keeps "
            "a frame pointer in C functions that may call the slow path (8 more instructions "
            "each: 58 per pair when they were C). A range such as `47 (40-171)` for 64 B: "
            "malloc pops `free` while free pushes onto `local_free`, so every 16th pair (1 KiB "
            "of 64 B blocks carved at a time) finds `free` empty and takes the slow path that "
            "swaps the lists, mimalloc's regular visit to the slow path; for 16 and 32 B that "
            f"happens every 64th and 32nd pair, outside the {REPS} measured.",
            "",
            "Through `uk_malloc`/`uk_free` a pair costs about 35 more: each entry point in "
            "alloc.c is an out-of-line C function (frame pointer, an acquire load of the "
            "default allocator, NULL checks) calling the frontend through the `uk_alloc` "
            "table (`mi_uk_malloc`/`mi_uk_free`, one move and a jump each). The global atomic "
            "statistics are off (ALLOC_STATS=0); with them a pair would cost several hundred.",
            "",
            "The remote free is a CAS-loop push onto `thread_free`, a sequentially consistent "
            "load of the page's flags and an `amoadd` on `used`, reached through the fast "
            "path's failed owner check and `mi_free_generic` (C, with its frame and checks). "
            "The refill differs by provider: the page allocator's own palloc path, plus a "
            "spinlock with `+shimlock`. Per configuration the frontend's figures are the same, "
            "as the provider is only reached on refills.",
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
            *rows,
            "",
        ]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"table written to {args.out}")


if __name__ == "__main__":
    script_main(main)
