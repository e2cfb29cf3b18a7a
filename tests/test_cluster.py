"""explore, bench and find_bugs on a real Dask cluster: a `dask scheduler` and `dask worker`
processes on localhost ports picked free. The cluster gives the pool's results (all but wall
time), files reach workers by content hash, a worker killed mid-run loses no result and the run
says so, and a cluster that cannot run us is one line, exit 64, and no run directory."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, cli, script, tier

pytest.importorskip("distributed")

from distributed import Client

from emulator.explore.explore import SeedRun, explore, worker_options
from emulator.session import RunOptions
from guest.contract import Status

TREIBER = ["--app", "treiber", "-D", "TREIBER_POP=cas", "--harts", "3", "--schedule", "random"]
TREIBER += ["--quantum", "5"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    """This checkout's emulator first on the path (as the tests' own processes have it), and
    the tests (the scheduler and workers unpickle _Where below by reference)."""
    entries = (str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", ""))
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in entries if p), **extra}


class Cluster:
    """A scheduler and its workers, each a process of its own, stopped by `close`."""

    def __init__(self, tmp: Path, python: str = sys.executable, env: dict | None = None):
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []
        port = _free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        # a task whose worker dies is re-run elsewhere up to this many times (explicit here)
        env = {**(env or _env()), "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "3"}
        self._spawn(
            "scheduler",
            [python, "-m", "distributed.cli.dask_scheduler"],
            ["--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            env,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(self.log("scheduler")) from None
                time.sleep(0.2)

    def _spawn(self, name: str, command: list[str], args: list[str], env: dict) -> None:
        log = (self.tmp / f"{name}.log").open("w")
        self.procs.append(
            subprocess.Popen(
                [*command, *args], cwd=self.tmp, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        )

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text()[-3000:]

    def worker(
        self, name: str, python: str = sys.executable, env: dict | None = None, threads: int = 1
    ) -> None:
        local = self.tmp / name
        local.mkdir()
        self._spawn(
            name,
            [python, "-m", "distributed.cli.dask_worker", self.address],
            ["--nthreads", str(threads), "--no-dashboard", "--name", name],
            {**(env or _env()), "DASK_TEMPORARY_DIRECTORY": str(local)},
        )

    def wait_for(self, workers: int) -> None:
        with Client(self.address, set_as_default=False) as c:
            c.wait_for_workers(workers, timeout=120)

    def close(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        c.worker("w1")
        c.worker("w2")
        c.wait_for(2)
        yield c
    finally:
        c.close()


def _rows(path: Path) -> list[dict]:
    """results.csv without wall time: what must be the same on every engine."""
    rows = list(csv.DictReader(path.open()))
    for row in rows:
        row.pop("wall_seconds")
    return rows


def _same_json(a: Path, b: Path) -> None:
    def strip(path: Path) -> str:
        data = json.loads(path.read_text())
        for row in data["results"]:
            row.pop("wall_seconds")
        return json.dumps(data, sort_keys=True)

    assert strip(a) == strip(b)


# ---- the same results on the pool and on the cluster ---------------------------------------------


def test_explore_on_the_cluster_gives_the_pools_results(cluster, tmp_path):
    """EMULATOR_CLUSTER picks the cluster; the pool runs the same seeds; rows equal but wall."""
    on = cli(
        "explore", *TREIBER, "--seeds", "0:16", "--all", "--out", str(tmp_path / "cluster"),
        env=_env(EMULATOR_CLUSTER=cluster.address),
    )  # fmt: skip
    pool = cli(
        "explore", *TREIBER, "--seeds", "0:16", "--all", "--jobs", "2",
        "--out", str(tmp_path / "pool"), env=_env(),
    )  # fmt: skip
    assert on.returncode == pool.returncode == 1, on.stderr + pool.stderr  # the race is found
    assert "Traceback" not in on.stderr
    rows = _rows(tmp_path / "cluster" / "results.csv")
    assert len(rows) == 16 and any(r["outcome"] == "exited" and r["exit_code"] == "1" for r in rows)
    assert rows == _rows(tmp_path / "pool" / "results.csv")
    _same_json(tmp_path / "cluster" / "results.json", tmp_path / "pool" / "results.json")


@pytest.mark.parametrize("costs", ["atomics", "FILE"])
def test_explore_with_costs_on_the_cluster_ships_only_a_file(cluster, tmp_path, costs):
    """--costs atomics is a bundled cost file's name (every worker has it): nothing to ship;
    a path is a file, shipped. Either way the cluster gives the pool's rows."""
    if costs == "FILE":
        costs = str(tmp_path / "mine.toml")
        shutil.copy(ROOT / "emulator" / "instruments" / "costs-atomics.toml", costs)
    opts = RunOptions(app="treiber", costs=costs, timing=True)
    assert ("costs" in SeedRun(opts).files()) is (costs != "atomics")
    args = [*TREIBER, "--timing", "--costs", costs, "--seeds", "0:4", "--all"]
    on = cli("explore", *args, "--cluster", cluster.address, "--out", str(tmp_path / "c"),
             env=_env())  # fmt: skip
    pool = cli("explore", *args, "--jobs", "2", "--out", str(tmp_path / "p"), env=_env())
    assert on.returncode == pool.returncode == 1, on.stderr + pool.stderr  # the race is found
    assert "Traceback" not in on.stderr
    assert _rows(tmp_path / "c" / "results.csv") == _rows(tmp_path / "p" / "results.csv")


def test_stop_at_the_first_failure_cancels_the_rest_on_the_cluster(cluster, tmp_path):
    proc = cli(
        "explore", *TREIBER, "--seeds", "0:200", "--cluster", cluster.address,
        "--out", str(tmp_path / "ex"), env=_env(),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    ran = len(_rows(tmp_path / "ex" / "results.csv"))
    assert 1 <= ran < 200, f"{ran} seeds ran after a failure"
    with Client(cluster.address, set_as_default=False) as c:  # nothing left behind
        deadline = time.monotonic() + 30
        while any(c.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(c.processing().values())


@pytest.mark.slow
def test_a_sweep_on_the_cluster_gives_the_pools_results(cluster, tmp_path):
    grid = ["--benchmarks", "bench-xmalloc", "--configs", "bbuddy-ticket", "bbuddy-lockfree"]
    grid += ["--harts", "1", "2", "-D", "XMALLOC_BATCHES=8"]
    on = script("sweep.py", *grid, "--cluster", cluster.address, "--out", str(tmp_path / "c"))
    pool = script("sweep.py", *grid, "--jobs", "2", "--out", str(tmp_path / "p"))
    assert on.returncode == pool.returncode == 0, on.stderr + pool.stderr
    rows = _rows(tmp_path / "c" / "results.csv")
    assert len(rows) == 4 and all(r["ok"] == "True" and int(r["ops"]) > 0 for r in rows)
    assert rows == _rows(tmp_path / "p" / "results.csv")
    assert (tmp_path / "c" / "results.md").read_bytes() == (
        tmp_path / "p" / "results.md"
    ).read_bytes()


@pytest.mark.slow
def test_find_bugs_on_the_cluster_writes_the_pools_table(cluster, tmp_path):
    args = ["--bug", "treiber-cas", "--seeds", "4"]
    on = script("find_bugs.py", *args, "--cluster", cluster.address, "--out", str(tmp_path / "c"))
    pool = script("find_bugs.py", *args, "--jobs", "2", "--out", str(tmp_path / "p"))
    assert on.returncode == pool.returncode == 0, on.stderr + pool.stderr
    table = (tmp_path / "c").read_text()
    assert "| treiber-cas |" in table and "seed " in table  # some schedule found it
    # the same rows (the line above them says which command wrote each)
    rows = [line for line in table.splitlines() if line.startswith("|")]
    assert rows == [line for line in (tmp_path / "p").read_text().splitlines() if line[:1] == "|"]


@pytest.mark.slow
def test_bench_cluster_says_the_command_that_wrote_its_table(tmp_path):
    """It used to say `--out docs/cluster.md` and drop every other option, whatever was given."""
    out = tmp_path / "cluster.md"
    args = ["--seeds", "2", "--workers", "1", "--repeat", "1", "--quantum", "7", "--out", str(out)]
    proc = script("bench_cluster.py", *args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"Written by `python scripts/bench_cluster.py {' '.join(args)}`" in out.read_text()


def test_workers_read_the_image_from_their_own_cache(cluster, tmp_path):
    """The task names the image by hash; the worker runs its own copy, not the client's path."""
    from emulator.session.cluster import DaskRunner

    work = worker_options(RunOptions(app="treiber", harts=2, quiet=True, write_files=False))
    image = tmp_path / "only-here" / "treiber.elf"
    image.parent.mkdir()
    shutil.copy(work.image, image)
    fn = _Where(SeedRun(RunOptions(image=str(image), harts=2, quiet=True, write_files=False)))
    with DaskRunner(cluster.address) as runner:
        seen = list(runner.map(fn, [0, 1, 2, 3]))
    assert {s[1] for s in seen} == {image.read_bytes().hex()[:64]}
    assert all(s[0] != str(image) and "emulator-files" in s[0] for s in seen), seen
    assert all(s[2] == 0 for s in seen)  # and the run on that copy passed


class _Where:
    """SeedRun, also saying where its image was and what it held (pickled by value)."""

    def __init__(self, run: SeedRun):
        self.run = run

    def files(self):
        return self.run.files()

    def with_files(self, paths):
        return _Where(self.run.with_files(paths))

    def __call__(self, seed: int):
        path = self.run.opts.image
        return path, Path(path).read_bytes().hex()[:64], self.run(seed).exit_code


# ---- a worker lost mid-run -----------------------------------------------------------------------


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_no_result(cluster, tmp_path):
    args = ["--app", "alloc-tests", "--config", "bbuddy-spin", "-D", "ALLOC_STRESS_ITERS=10"]
    args += ["--harts", "4", "--schedule", "random", "--quantum", "10", "--seeds", "8", "--all"]
    with Client(cluster.address, set_as_default=False) as c:
        pids = c.run(os.getpid)
        proc = subprocess.Popen(
            [sys.executable, "-m", "emulator", "explore", *args, "--cluster", cluster.address,
             "--out", str(tmp_path / "killed")],
            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        killed = None
        deadline = time.monotonic() + 120
        while killed is None and time.monotonic() < deadline and proc.poll() is None:
            busy = [w for w, keys in c.processing().items() if keys and w in pids]
            if busy:
                time.sleep(0.3)  # into the run
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed = busy[0]
            time.sleep(0.05)
        _, err = proc.communicate(timeout=300)
    assert killed, "no task was seen running"
    assert proc.returncode == 0, err
    assert "cluster: 1 worker lost mid-run" in err and "no result lost" in err, err
    rows = _rows(tmp_path / "killed" / "results.csv")
    assert [int(r["seed"]) for r in rows] == list(range(8))
    opts = RunOptions(
        app="alloc-tests", config="bbuddy-spin", defines={"ALLOC_STRESS_ITERS": "10"}, harts=4,
        schedule="random", quantum=10, quiet=True, write_files=False,
    )  # fmt: skip
    local, _ = explore(opts, list(range(8)), jobs=2, stop_at_first=False, progress=False)
    assert [r["instructions"] for r in rows] == [str(r.instructions) for r in local]
    assert [r["outcome"] for r in rows] == [r.outcome for r in local]
    cluster.wait_for(2)  # the nanny brought it back


# ---- clusters that cannot run us -----------------------------------------------------------------


def _refused(proc: subprocess.CompletedProcess, out: Path, *words: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == Status.BAD_INPUT, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert all(w in lines[0] for w in words), lines[0]
    assert not out.exists()


def test_an_unreachable_scheduler_is_one_line(tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    out = tmp_path / "ex"
    proc = cli("explore", *TREIBER, "--seeds", "4", "--cluster", address, "--out", str(out))
    _refused(proc, out, "no Dask scheduler answered", address, "dask scheduler")
    proc = cli("bench", "--benchmarks", "bench-xmalloc", "--configs", "bbuddy-spin",
               "--harts", "1", "--out", str(out), env=_env(EMULATOR_CLUSTER=address))  # fmt: skip
    _refused(proc, out, "no Dask scheduler answered", address)
    proc = script("find_bugs.py", "--bug", "no-collect", "--seeds", "2", "--cluster", address,
                  "--out", str(out / "bugs.md"))  # fmt: skip
    _refused(proc, out, "no Dask scheduler answered", address)


def test_minimize_does_not_take_a_cluster(tmp_path):
    out = tmp_path / "min"
    proc = cli("explore", *TREIBER, "--minimize", "3", "--cluster", "tcp://127.0.0.1:1",
               "--out", str(out))  # fmt: skip
    _refused(proc, out, "--minimize", "drop --cluster")


def test_a_server_that_is_no_scheduler_is_one_line(tmp_path):
    with socket.socket() as server:  # accepts connections (the backlog) and says nothing
        server.bind(("127.0.0.1", 0))
        server.listen()
        address = f"127.0.0.1:{server.getsockname()[1]}"
        out = tmp_path / "ex"
        proc = cli("explore", *TREIBER, "--seeds", "4", "--cluster", address, "--out", str(out))
    _refused(proc, out, "does not speak as one", address)


def _venv_without_the_emulator(tmp: Path) -> str:
    """A Python that has distributed (this one's site-packages, added as a plain path entry)
    but not the emulator: the editable install's finder is a .pth hook, and a plain path
    entry's .pth files are not run. Started outside the checkout, with no PYTHONPATH."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    ask = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    ours = subprocess.run([sys.executable, "-c", ask], capture_output=True, text=True, check=True)
    theirs = subprocess.run([python, "-c", ask], capture_output=True, text=True, check=True)
    Path(theirs.stdout.strip(), "outer.pth").write_text(ours.stdout.strip() + "\n")
    return python


def _other_emulator(tmp: Path, change: str) -> dict:
    """The environment of a worker running a copy of this emulator, changed: its version, or
    one line of its sources."""
    copy = tmp / "other"
    for pkg in ("emulator", "guest", "toolchain"):
        shutil.copytree(ROOT / pkg, copy / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    init = copy / "emulator" / "__init__.py"
    if change == "version":
        init.write_text(init.read_text().replace('__version__ = "', '__version__ = "0.0.0+other'))
    else:
        hart = copy / "emulator" / "machine" / "hart.py"
        hart.write_text(hart.read_text() + "\n# a change a worker was not told about\n")
    return {**os.environ, "PYTHONPATH": str(copy)}


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        # the fast tier keeps one (sources); each starts a cluster of its own
        tier(
            "no-emulator",
            ("worker", "cannot import the emulator", "No module named 'emulator'"),
            fast=False,
        ),
        tier("scheduler", ("the scheduler cannot import the emulator", "install"), fast=False),
        tier(
            "version", ("worker", "runs emulator 0.0.0+other", "same emulator version"), fast=False
        ),
        tier("sources", ("worker", "emulator sources (hash)", "same emulator sources"), fast=True),
        tier("threads", ("worker", "runs 2 threads", "--nthreads 1"), fast=False),
    ],
)
def test_a_cluster_that_cannot_give_our_results_is_refused(bad, words, tmp_path):
    """Each a real process in the wrong environment: a Python without the emulator (worker or
    scheduler), a copy of the emulator of another version or with other sources, a worker
    running two threads."""
    without = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if bad == "scheduler":
        c = Cluster(tmp_path, _venv_without_the_emulator(tmp_path), without)
    else:
        c = Cluster(tmp_path)
    try:
        if bad == "no-emulator":
            c.worker("bad", python=_venv_without_the_emulator(tmp_path), env=without)
        elif bad == "threads":
            c.worker("bad", threads=2)
        elif bad in ("version", "sources"):
            c.worker("bad", env=_other_emulator(tmp_path, bad))
        else:
            c.worker("good")
        c.wait_for(1)
        out = tmp_path / "ex"
        proc = cli("explore", *TREIBER, "--seeds", "4", "--cluster", c.address, "--out", str(out))
        _refused(proc, out, c.address, *words)
    finally:
        c.close()
