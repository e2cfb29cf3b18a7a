"""The virtual-time model: costs are charged as documented, contention shows as time, the
timed scheduler runs the hart furthest behind, and a tiny sweep writes every output."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import pytest
from conftest import cli, script

from emulator.bench.sweep import Cell, run_cell
from emulator.instruments.timing import CostModel
from emulator.machine.errors import BadInput
from emulator.session import RunOptions, run

SMALL_LARSON = (("LARSON_CHUNKS", "16"), ("LARSON_ROUNDS", "2"), ("LARSON_STEPS", "32"))


def _timed(app: str, harts: int, **kw) -> dict:
    report = run(RunOptions(app=app, harts=harts, timing=True, quiet=True, write_files=False, **kw))
    assert report.result.exit_code == 0
    return report.summary


def test_default_costs_load_and_bad_files_are_one_line_errors(tmp_path):
    costs = CostModel.load()
    assert costs.model == "coherence" and costs.line_transfer > costs.miss > 0
    assert CostModel.load("atomics").model == "atomics"
    bad = tmp_path / "c.toml"
    bad.write_text("atomic = -3\n")
    with pytest.raises(BadInput, match="non-negative"):
        CostModel.load(bad)
    bad.write_text("atomc = 3\n")
    with pytest.raises(BadInput, match="unknown cost 'atomc'"):
        CostModel.load(bad)


def test_one_hart_pays_exactly_its_atomics():
    s = _timed("contention", 1)
    t = s["timing"]
    assert s["schedule"] == "timed"
    assert t["line_transfers"] == 0  # nobody else ever owns a line
    assert s["clocks"][0] == s["instructions"][0] + t["charged_cycles"]
    assert t["charged_cycles"] > 0


def test_contention_shows_as_time_and_line_transfers():
    s = _timed("contention", 4, quantum=50)
    t = s["timing"]
    assert t["line_transfers"] > 50
    assert sum(s["clocks"]) > sum(s["instructions"])


def test_costs_file_changes_the_clocks(tmp_path):
    cheap = tmp_path / "cheap.toml"
    cheap.write_text("atomic = 0\nline_transfer = 0\nfence = 0\nmiss = 0\nupgrade = 0\n")
    s = _timed("contention", 1, costs=str(cheap))
    assert s["timing"]["charged_cycles"] == 0
    assert s["clocks"] == s["instructions"]


def test_timed_scheduler_keeps_clocks_together():
    s = _timed("count-loop", 4, quantum=100)
    clocks = s["clocks"]
    assert max(clocks) - min(clocks) < 5000  # the hart furthest behind always runs next


@pytest.mark.configs("bbuddy-spin")
def test_contended_benchmark_takes_more_virtual_time_than_instructions():
    r = run_cell(Cell("bench-larson", "bbuddy-spin", 4, 0, SMALL_LARSON), memory=True)
    assert r.ok, r.message
    assert r.ops > 0 and r.instructions > 0
    assert r.cycles * 4 > r.instructions  # 4 harts: wall cycles x harts exceed instructions
    assert r.line_transfers > 0 and r.wait_share > 0
    assert r.peak_live_bytes > 0 and r.peak_pages_held and r.peak_pages_held > 0


@pytest.mark.configs("bbuddy-spin", "bbuddy-lockfree")
def test_tiny_sweep_writes_csv_table_and_plots(tmp_path):
    out = tmp_path / "sweep"
    proc = cli(
        "bench", "--benchmarks", "bench-larson", "--configs", "bbuddy-spin", "bbuddy-lockfree",
        "--harts", "1", "2", "--jobs", "2", "--out", str(out),
        *[f"-D{k}={v}" for k, v in SMALL_LARSON],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 4 and all(r["ok"] == "True" for r in rows)
    assert all(float(r["ops_per_second"]) > 0 for r in rows)
    table = (out / "results.md").read_text()
    assert table.count("| bench-larson |") == 4
    assert (out / "bench-larson.png").stat().st_size > 1000
    assert (out / "bench-larson.svg").read_text().startswith("<?xml")
    data = json.loads((out / "results.json").read_text())
    assert data["costs"]["line_transfer"] == CostModel.load().line_transfer
    # one benchmark: one figure, written as PNG and as SVG
    assert re.search(r"^4 runs, 0 failed; .* and 1 figure \(PNG and SVG\) in ", proc.stdout, re.M)


def test_sweep_cells_keep_cache_traffic_by_operation_and_structure(tmp_path):
    out = tmp_path / "sweep"
    proc = cli(
        "bench", "--benchmarks", "bench-larson", "--configs", "bbuddy-spin",
        "mimalloc+bbuddy-lockfree", "--harts", "2", "--jobs", "2", "--out", str(out),
        *[f"-D{k}={v}" for k, v in SMALL_LARSON],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    cells = {r["config"]: r for r in json.loads((out / "results.json").read_text())["results"]}
    spin, front = cells["bbuddy-spin"]["cache"], cells["mimalloc+bbuddy-lockfree"]["cache"]
    for cell in cells.values():
        cache = cell["cache"]
        assert cache["window"] == "markers"  # the native layer's live counts at the markers
        for k in ("misses", "transfers", "upgrades", "wait_cycles"):
            by_op = sum(o[k] for o in cache["operations"].values())
            # both views split the same counts (structures without traffic are left out)
            assert by_op == sum(s[k] for s in cache["structures"].values()), k
        for op in cache["operations"].values():
            if op["calls"]:
                assert op["misses_per_call"] == round(op["misses"] / op["calls"], 3)
        # from the first marker made to the last: it holds every hart's own window
        assert sum(o["misses"] for o in cache["operations"].values()) >= cell["misses"] > 0
        assert sum(o["transfers"] for o in cache["operations"].values()) >= cell["transfers"]
        assert cache["operations"]["malloc"]["calls"] == cache["operations"]["free"]["calls"] > 0
    # bbuddy under one lock: the lock's and free lists' lines move between the harts
    assert spin["structures"]["allocator lock"]["transfers"] > 0
    assert spin["structures"]["free lists"]["transfers"] > 0
    assert spin["operations"]["malloc"]["transfers"] > 0
    assert "uk_palloc" not in spin["operations"]  # malloc goes straight to bbuddy
    # the frontend takes pages from bbuddy with uk_palloc; its own headers have traffic
    assert front["operations"]["uk_palloc"]["calls"] > 0
    assert front["structures"]["segment headers"]["misses"] > 0
    assert "allocator lock" not in front["structures"]  # lock-free backend
    table = (out / "results.md").read_text()
    assert "bench-larson, cache traffic by allocator operation at 2 harts (between" in table
    row = next(line for line in table.splitlines() if line.startswith("| bbuddy-spin | "))
    m = spin["operations"]["malloc"]
    assert f"{m['misses_per_call']:.2f} / {m['transfers_per_call']:.2f}" in row
    assert "cache" not in next(csv.reader((out / "results.csv").open()))  # results.json only


def test_python_path_cache_breakdown_is_the_whole_run(monkeypatch):
    monkeypatch.setenv("EMULATOR_NATIVE", "0")
    r = run_cell(Cell("bench-larson", "bbuddy-spin", 2, 0, SMALL_LARSON), memory=False)
    assert r.ok and r.misses is None and r.cache["window"] == "run"  # no live counts to window
    # the whole run's attribution holds every miss the model counted (misses_per_op's)
    misses = sum(o["misses"] for o in r.cache["operations"].values())
    assert misses == round(r.misses_per_op * r.ops)


@pytest.mark.configs("region")
def test_a_cell_that_is_no_benchmark_says_why():
    r = run_cell(Cell("hello", "region", 1), memory=False)
    assert not r.ok
    assert "without a result line" in r.message and "hello: PASS" in r.message, r.message


@pytest.mark.configs("bbuddy-spin")
def test_results_page_gives_the_command_that_reproduces_the_sweep(tmp_path):
    first, page = tmp_path / "first", tmp_path / "page.md"
    proc = cli(
        "bench", "--benchmarks", "bench-larson", "--configs", "bbuddy-spin", "--harts", "2",
        "--quantum", "50", "--jobs", "1", "--out", str(first),
        *[f"-D{k}={v}" for k, v in SMALL_LARSON],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = script("results_doc.py", str(first), "--out", str(page))
    assert doc.returncode == 0, doc.stderr
    made_by = re.search(r"Made by `([^`]*)` from these sweeps", page.read_text()).group(1)
    sweep = re.search(r"^\| [^|]* \(main\) \|.*\| `([^`]*)` \|$", page.read_text(), re.M).group(1)
    assert made_by == f"python scripts/results_doc.py {first} --out {page}"
    again = tmp_path / "again"
    rerun = subprocess.run(
        sweep.replace("python ", f"{sys.executable} ", 1) + f" --out {again}",
        shell=True, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr[-2000:]

    def rows(run_dir):
        data = json.loads((run_dir / "results.json").read_text())
        return [{k: v for k, v in r.items() if k != "wall_seconds"} for r in data["results"]]

    assert rows(again) == rows(first)


@pytest.mark.configs("bbuddy-spin")
def test_bench_takes_runs_costs_and_records_them(tmp_path):
    free = tmp_path / "free.toml"
    free.write_text("atomic = 0\nline_transfer = 0\nfence = 0\n")
    grid = ["--benchmarks", "bench-larson", "--configs", "bbuddy-spin", "--harts", "2"]
    grid += ["--jobs", "1", *[f"-D{k}={v}" for k, v in SMALL_LARSON]]
    runs = {}
    for name, costs in (("default", []), ("free", ["--costs", str(free)])):
        proc = cli("bench", *grid, *costs, "--out", str(tmp_path / name))
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs[name] = json.loads((tmp_path / name / "results.json").read_text())
    free_run, default = runs["free"], runs["default"]
    assert free_run["costs"] == CostModel.load(free).describe() != default["costs"]
    assert f"--costs {free}" in free_run["reproduce"] and "--costs" not in default["reproduce"]
    assert free_run["sweep"]["costs"] == str(free)
    # no atomic costs anything: less virtual time (the schedule differs, so instructions too)
    (f,), (d,) = free_run["results"], default["results"]
    assert f["cycles"] < d["cycles"] and f["ok"] and d["ok"]
    bad = cli("bench", *grid, "--costs", str(tmp_path / "none.toml"), "--out", str(tmp_path / "x"))
    assert bad.returncode == 64 and bad.stderr.count("\n") == 1 and "--costs" in bad.stderr
    assert not (tmp_path / "x").exists()


def test_bench_rejects_unknown_names_in_one_line():
    proc = cli("bench", "--benchmarks", "bench-nope", "--configs", "bbuddy-spin")
    assert proc.returncode == 64 and proc.stderr.count("\n") == 1
    assert "no app named 'bench-nope'" in proc.stderr
