"""scripts/results_doc.py on small synthetic sweeps: each conclusion is judged per sweep from
the numbers, the crossover is where the lock-free backend catches up for good, the old model's
answers stand next to the new where they differ, and bad input is one line with status 64."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import script

from guest.contract import C

HARTS = (1, 2, 4, 8, 16)
COHERENCE = {
    "model": "coherence", "instruction": 1, "cpu_hz": 10**9, "atomic": 20, "line_transfer": 100,
    "fence": 10, "line_bytes": 64, "miss": 40, "upgrade": 12, "l1_sets": 64, "l1_ways": 8,
    "serialize_lines": 1,
}  # fmt: skip
ATOMICS = {"atomic": 20, "line_transfer": 100, "fence": 10, "cpu_hz": 10**9}  # no model: the old


def write_sweep(
    run_dir: Path, throughput: dict, costs: dict, extra: dict | None = None, failed=()
) -> Path:
    """A bench run directory: throughput[(app, config)] = M ops/s per hart count in HARTS;
    `extra[(app, config)]` adds fields to every row of that series; `failed`: (app, config,
    harts) cells that failed."""
    rows = []
    for (app, config), series in throughput.items():
        for harts, ops_s in zip(HARTS, series, strict=True):
            ok = (app, config, harts) not in failed
            row = {
                "app": app, "config": config, "harts": harts, "seed": 0, "ok": ok,
                "ops": 1000, "ops_per_second": ops_s * 1e6 if ok else 0.0,
            }  # fmt: skip
            row.update((extra or {}).get((app, config), {}))
            rows.append(row)
    run_dir.mkdir(parents=True)
    data = {
        "sweep": {"apps": sorted({a for a, _ in throughput}), "harts": list(HARTS)},
        "costs": costs,
        "reproduce": f"python -m emulator bench --out {run_dir.name}",
        "results": rows,
    }
    (run_dir / "results.json").write_text(json.dumps(data))
    return run_dir


def table_row(page: str, first_cell: str) -> list[str]:
    """The cells of the first table row whose first cell starts with `first_cell`."""
    for line in page.splitlines():
        if line.startswith(f"| {first_cell}"):
            return [c.strip() for c in line.strip("|").split("|")]
    raise AssertionError(f"no row {first_cell!r} in:\n{page}")


def section(page: str, title: str) -> str:
    start = page.index(title)
    end = page.find("\n## ", start + 1)
    return page[start : end if end > 0 else None]


def make_doc(tmp_path: Path, main: Path, *more: str) -> str:
    out = tmp_path / "doc" / "results.md"
    proc = script("results_doc.py", str(main), *more, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out.read_text()


PS = "bench-page-storm"


def test_a_conclusion_that_holds_under_one_cost_set_and_not_another_is_reported_so(tmp_path):
    # under the new model the ticket lock falls after 8 harts; under the old one it never does
    main = write_sweep(
        tmp_path / "main", {(PS, "bbuddy-ticket"): [1, 2, 4, 8, 6], (PS, "bbuddy-spin"): [1] * 5},
        COHERENCE,
    )  # fmt: skip
    old = write_sweep(
        tmp_path / "old", {(PS, "bbuddy-ticket"): [1, 2, 4, 8, 9], (PS, "bbuddy-spin"): [1] * 5},
        ATOMICS,
    )  # fmt: skip
    page = make_doc(tmp_path, main, "--old", str(old))
    table = section(page, "## Which conclusions hold")
    head = table_row(table, "conclusion")
    assert head[1:] == ["coherence (main)", "atomics model"]
    ticket = table_row(table, "bbuddy-ticket's throughput never falls")
    assert ticket[1].startswith("**no**") and "page-storm after 8 (0.75x at 16)" in ticket[1]
    assert ticket[2].startswith("yes")
    spin = table_row(table, "bbuddy-spin's throughput never falls")
    assert spin[1].startswith("yes") and spin[2].startswith("yes")
    # nothing in these sweeps for the frontend's conclusions
    assert table_row(table, "Under the frontend, a synchronized shim")[1:] == ["-", "-"]
    # per benchmark: where the old model's answer differs it stands beside the new one
    row = table_row(section(page, f"## {PS}"), "bbuddy-ticket")
    assert row[-1] == "8 (old -)" and row[-4] == "9.00"  # falls after; 16 harts, old model
    assert table_row(section(page, f"## {PS}"), "bbuddy-spin")[-1] == "-"


def test_crossover_is_where_the_lock_free_backend_catches_up_for_good(tmp_path):
    locked = [10, 12, 14, 14, 14]
    main = write_sweep(
        tmp_path / "main",
        {
            (PS, "bbuddy-spin"): locked,
            (PS, "bbuddy-ticket"): [5, 8, 15, 12, 10],  # the best locked at 4 harts
            (PS, "bbuddy-lockfree"): [2, 4, 14, 20, 28],  # 14 < 15 at 4: from 8
            ("bench-larson", "bbuddy-spin"): locked,
            ("bench-larson", "bbuddy-lockfree"): [2, 13, 10, 15, 7],  # ahead at 8, not at 16
            ("bench-xmalloc", "bbuddy-spin"): locked,
            ("bench-xmalloc", "bbuddy-lockfree"): [10, 12, 14, 14, 14],  # equal: from 1
        },
        COHERENCE,
    )  # fmt: skip
    page = make_doc(tmp_path, main)
    best = section(page, "## The lock-free vs locked crossover").split("**lock-free backend vs")
    assert table_row(best[1], PS)[1] == "from 8 (2.00x at 16)"
    assert table_row(best[1], "bench-larson")[1] == "none up to 16 (0.50x at 16)"
    assert table_row(best[1], "bench-xmalloc")[1] == "from 1 (1.00x at 16)"
    # against the spinlock alone, page-storm catches up at 4 already
    assert table_row(best[2], PS)[1] == "from 4 (2.00x at 16)"
    never = table_row(section(page, "## Which conclusions hold"), "The lock-free buddy is slower")
    assert never[1].startswith("**no**") and "page-storm catches up at 8 harts" in never[1]
    assert "larson catches up at 2 harts" in never[1]


def test_sensitivity_sweeps_are_labelled_by_the_costs_they_scale(tmp_path):
    series = {(PS, "bbuddy-spin"): [1, 2, 3, 4, 5], (PS, "bbuddy-lockfree"): [1, 2, 3, 4, 3.5]}
    main = write_sweep(tmp_path / "main", series, COHERENCE)
    half = write_sweep(tmp_path / "half", series, {**COHERENCE, "line_transfer": 50})
    page = make_doc(tmp_path, main, "--sensitivity", str(half))
    head = table_row(section(page, "## Which conclusions hold"), "conclusion")
    assert head[1:] == ["coherence (main)", "coherence, line_transfer x0.5"]
    # each sweep's command and costs are listed where the page says how it was made
    assert "`python -m emulator bench --out half`" in page and "line_transfer 50" in page
    # and the benchmark's throughput under each, at the most harts
    under = section(page, f"## {PS}").split("Under each cost set")[1]
    assert table_row(under, "bbuddy-lockfree")[1:] == ["3.50 (3.50x; 8)"] * 2


def test_coherence_counts_per_operation_when_the_sweep_has_them(tmp_path):
    counts = {"misses": 2500, "transfers": 500, "line_wait_cycles": 40000}
    extra = {(PS, "bbuddy-spin"): {**counts, "hottest": "palloc / free lists"}}
    main = write_sweep(tmp_path / "main", {(PS, "bbuddy-spin"): [1] * 5}, COHERENCE, extra)
    page = make_doc(tmp_path, main)
    cells = table_row(section(page, "Coherence per operation"), "bbuddy-spin")
    assert cells[1:] == ["2.5 / 0.5"] * 5 + ["40", "palloc / free lists"]  # 1000 ops per run
    old = write_sweep(tmp_path / "old", {(PS, "bbuddy-spin"): [1] * 5}, ATOMICS)
    assert "Coherence per operation" not in make_doc(tmp_path / "o", old)


def test_cache_breakdown_at_the_most_harts_when_the_sweep_has_it(tmp_path):
    def op(calls, misses, transfers):
        per = {"misses_per_call": misses / calls, "transfers_per_call": transfers / calls}
        return {"calls": calls, "misses": misses, "transfers": transfers, **per}

    def traffic(misses, transfers):
        return {"misses": misses, "transfers": transfers, "upgrades": 0, "wait_cycles": 0}

    cache = {
        "window": "markers",
        "operations": {"malloc": op(100, 250, 50), "uk_palloc": op(4, 8, 2)},
        "structures": {"pages": traffic(10, 0), "free lists": traffic(5, 90),
                       "bitmap": traffic(1, 1), "allocator lock": traffic(0, 40)},
    }  # fmt: skip
    main = write_sweep(
        tmp_path / "main", {(PS, "bbuddy-spin"): [1] * 5, (PS, "bbuddy-lockfree"): [1] * 5},
        COHERENCE, {(PS, "bbuddy-spin"): {"cache": cache}},
    )  # fmt: skip
    page = section(make_doc(tmp_path, main), f"## {PS}")
    ops = page[page.index(f"{PS}, cache traffic by allocator operation at 16 harts (between") :]
    assert "| configuration | malloc | uk_palloc |" in ops  # most calls first
    assert table_row(ops, "bbuddy-spin")[1:] == ["2.50 / 0.50", "2.00 / 0.50"]
    assert "| bbuddy-lockfree" not in ops  # no breakdown: no row
    top = page[page.index(f"{PS}, the data structures with the most misses + line transfers") :]
    # by misses + transfers: free lists 95, allocator lock 40, pages 10 (the bitmap's 2 left out)
    assert table_row(top, "bbuddy-spin")[1:] == [
        "free lists (5 + 90)", "allocator lock (0 + 40)", "pages (10 + 0)"
    ]  # fmt: skip
    old = write_sweep(tmp_path / "old", {(PS, "bbuddy-spin"): [1] * 5}, ATOMICS)
    assert "cache traffic by allocator operation" not in make_doc(tmp_path / "o", old)


def test_a_failed_cell_shows_and_judges(tmp_path):
    shim = "mimalloc+bbuddy-unlocked+shimlock"
    main = write_sweep(
        tmp_path / "main", {(PS, shim): [1, 1, 1, 1, 1]}, COHERENCE,
        failed={(PS, shim, h) for h in (2, 4, 8, 16)},
    )  # fmt: skip
    page = make_doc(tmp_path, main)
    assert table_row(section(page, f"## {PS}"), shim)[1:6] == ["1.00", *["fails"] * 4]
    verdict = table_row(section(page, "## Which conclusions hold"), "The shim's lock")[1]
    assert verdict == "yes: page-storm fails at 2, 4, 8, 16 harts"


def test_bad_input_is_one_line_and_status_64(tmp_path):
    good = write_sweep(tmp_path / "good", {(PS, "bbuddy-spin"): [1] * 5}, COHERENCE)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text(json.dumps({"sweep": {}, "costs": {}, "results": [{}]}))
    for args, fragment in (
        ([str(tmp_path / "nothing")], "nothing: not a bench run directory"),
        ([str(broken)], "a result without app, config, harts"),
        ([str(good), "--sensitivity", str(tmp_path / "nothing")], "nothing: not a bench run"),
        ([str(good), "--old", str(broken)], "broken: not a bench run directory"),
        ([str(good), "--answers", str(tmp_path / "none.md")], "--answers"),
    ):
        proc = script("results_doc.py", *args, "--out", str(tmp_path / "page.md"))
        assert proc.returncode == C.EMU_STATUS_BAD_INPUT, proc.stderr
        assert proc.stderr.count("\n") == 1 and fragment in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "page.md").exists()


def test_answers_go_where_the_page_keeps_them(tmp_path):
    main = write_sweep(tmp_path / "main", {(PS, "bbuddy-spin"): [1] * 5}, COHERENCE)
    answers = tmp_path / "answers.md"
    answers.write_text("**Locked or lock-free?** Locked, here.\n")
    page = make_doc(tmp_path, main, "--answers", str(answers))
    assert re.search(r"\n\*\*Locked or lock-free\?\*\* Locked, here\.\n\n## Which", page)
