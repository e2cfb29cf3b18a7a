#!/usr/bin/env python3
"""Which schedule policy kills atomics mutants fastest: seeds to kill per mutant and policy.

Reads the kill tables (`mutants.json`) of `python -m emulator mutate` runs, takes every mutant
an exploration killed (not a plain run: a lock never released dies in any schedule), and
explores it again under each policy on its own, on the app that killed it, up to --seeds
seeds; writes a markdown table (default runs/mutation-policies.md) with one row per mutant and
the median seeds to kill per policy (a mutant a policy did not kill counts as more than
--seeds). The original is explored first under every policy, as mutate does.

    python scripts/mutation_policies.py RUN_DIR [RUN_DIR ...] --seeds 20 --jobs 2
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from emulator.cli.scripts import add_jobs, checked, script_main, script_parser, written_by
from emulator.explore import mutate
from emulator.session.options import at_least, count
from emulator.session.pool import open_runner

POLICIES = (
    ("random", 5, ""),
    ("random", 50, ""),
    ("pct", 10, "atomics"),
    ("pct", 10, "sync"),
    ("preempt-atomics", 20, ""),
)


def main() -> int:
    p = script_parser(__doc__)
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="mutate run directories")
    p.add_argument(
        "--seeds", type=checked(count, at_least(1)), default=20, metavar="N",
        help="seeds each policy explores at most (default %(default)s)",
    )  # fmt: skip
    add_jobs(p)
    p.add_argument(
        "--out", type=Path, default=Path("runs") / "mutation-policies.md", metavar="FILE",
        help="the table (default %(default)s)",
    )  # fmt: skip
    args = p.parse_args()
    names = [mutate.policy_name(x) for x in POLICIES]
    rows, found = [], {n: [] for n in names}
    with open_runner(args.jobs, None) as runner, tempfile.TemporaryDirectory() as tmp:
        for run_dir in args.runs:
            table = json.loads((run_dir / "mutants.json").read_text())
            plan = table["plan"]
            killed = [m for m in table["mutants"] if m["status"] == "killed" and m["seeds_to_kill"]]
            by_app: dict[str, list[dict]] = {}
            for m in killed:
                by_app.setdefault(m["killed_by"].split(" ")[1], []).append(m)
            libs = tuple(plan.get("libs", ()))
            # looked up by name: the runtime's too, for a table of mutate --runtime
            sites = {s.name: s for s in mutate.find_sites(plan["config"], libs, runtime=True)}
            for app, mutants in by_app.items():
                work = Path(tempfile.mkdtemp(dir=tmp))
                base = mutate.Plan(
                    plan["config"], [app], plan["harts"], args.seeds, POLICIES, plain=False,
                    libs=libs,
                )  # fmt: skip
                tester = mutate.Tester(base, work, args.jobs, runner)
                root = mutate.copy_sources(work, libs)
                tester.baseline(root)
                for m in mutants:
                    cells = []
                    for policy, name in zip(POLICIES, names, strict=True):
                        tester.plan = replace(base, policies=(policy,))
                        v = tester.test(sites[m["site"]], root)
                        seeds = v.seeds_to_kill if v.status == "killed" else None
                        found[name].append(seeds if seeds is not None else float("inf"))
                        cells.append(str(seeds) if seeds is not None else f"> {args.seeds}")
                    row = (
                        f"| {plan['config']} | `{m['site']}` | {app} | " + " | ".join(cells) + " |"
                    )
                    print(row, file=sys.stderr)
                    rows.append(row)
    medians = []
    for name in names:
        med = statistics.median(found[name]) if found[name] else float("inf")
        medians.append(f"> {args.seeds}" if med == float("inf") else f"{med:g}")
    lines = [
        "# Seeds to kill each atomics mutant, per schedule policy",
        "",
        f"Written by `{written_by()}`: every mutant an exploration killed in the kill tables, "
        "explored again under each policy alone on the app that killed it, seeds "
        f"0..{args.seeds - 1}.",
        "",
        "| configuration | mutant | app | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
        *rows,
        "| **median** | | | " + " | ".join(f"**{m}**" for m in medians) + " |",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    script_main(main)
