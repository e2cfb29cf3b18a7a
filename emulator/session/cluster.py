"""The engine past one machine: explore's seeds and bench's cells on a Dask distributed cluster,
behind the same `Runner.map` as the local process pool (pool.py).

The scheduler and the workers need the emulator installed (the same version and sources as the
client, checked on connect: the scheduler unpickles the tasks, the workers run them), not a
checkout: a task reads its image (and any other file its options name) from the worker's own
cache, where a worker plugin wrote it, once per worker, by content hash. A run is a pure
function of its options and seed, so the cluster gives the same results as the pool. A task
whose worker dies is re-run by the scheduler on another one; the runner counts those and says
so in one line.

distributed is an optional dependency (the `cluster` extra): this module is imported only when
--cluster (or EMULATOR_CLUSTER) asks for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from emulator import __version__
from emulator.machine.errors import EmulatorError
from emulator.session.pool import files_of

try:
    from distributed import Client, WorkerPlugin, as_completed, get_worker
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.scheduler import KilledWorker
except ImportError:  # the client says so in one line (connect); workers always have it
    Client = None  # type: ignore[assignment,misc]
    WorkerPlugin = object  # type: ignore[assignment,misc]
else:

    class _Client(Client):
        """A Client that, when it fails to connect, is closed at once: distributed's own would
        try to close it again when collected, waiting twice the timeout and printing a
        traceback on the way out."""

        def start(self, **kwargs):
            try:
                super().start(**kwargs)
            except BaseException:
                self.status = "closed"  # never connected: nothing to say goodbye to
                self._loop_runner.stop()
                raise


T = TypeVar("T")
R = TypeVar("R")

CONNECT_SECONDS = 10.0  # for the scheduler to answer, and for a first worker to join it
# Seeds (cells) per task, at most. A task costs the cluster a few milliseconds (more on a loaded
# machine) and a seed of the README's explore example about 100-250 ms: four per task keep the
# overhead under 5% (scripts/bench_cluster.py measures both; docs/cluster.md). Fewer when there
# are few items: every worker thread should get about TASKS_PER_THREAD tasks, so that a small
# sweep still spreads over the cluster and the last tasks do not leave workers idle.
BATCH = 4
TASKS_PER_THREAD = 4
INSTALL = "pip install 'smp-alloc-emulator[cluster]'"


class ClusterError(EmulatorError):
    """The cluster cannot run this: unreachable, no workers, workers that differ from us."""


# ---- what a worker must match -------------------------------------------------------------------


def fingerprint() -> str:
    """A hash of what decides a run's results besides its options: the emulator's sources (the
    native layer's C among them: the coherence model is C on workers that build it) and its
    bundled costs, and the guest contract (header and reader)."""
    import emulator
    import guest.contract

    package = Path(emulator.__file__).resolve().parent
    contract = Path(guest.contract.__file__).resolve()
    files = sorted(
        (f"emulator/{p.relative_to(package).as_posix()}", p)
        for p in package.rglob("*")
        if p.suffix in (".py", ".toml", ".c", ".h") and "__pycache__" not in p.parts
    )
    files += [("guest/contract.py", contract), ("guest/contract.h", guest.contract.HEADER)]
    h = hashlib.sha256()
    for name, path in files:
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def identity() -> dict[str, str]:
    """What a worker (or the scheduler) runs, asked on connect (`DaskRunner._check`)."""
    import unicorn

    return {"emulator": __version__, "sources": fingerprint(), "unicorn": unicorn.__version__}


# Evaluated on each worker by the builtin eval, so that asking needs nothing of the worker but
# Python: a worker that cannot import the emulator answers with the ImportError.
_ASK = "__import__('emulator.session.cluster', fromlist=['identity']).identity()"


# ---- files by content hash ----------------------------------------------------------------------


def _cache(worker) -> Path:
    return Path(worker.local_directory) / "emulator-files"


class _Files(WorkerPlugin):
    """Writes files into a worker's cache, named by hash: on every worker when registered,
    then on each worker that joins later (a restarted one included)."""

    def __init__(self, blobs: dict[str, tuple[str, bytes]]):
        self.blobs = blobs  # sha256 -> (file name, contents)

    def setup(self, worker) -> None:
        for sha, (name, data) in self.blobs.items():
            if hashlib.sha256(data).hexdigest() != sha:
                raise ClusterError(f"{name}: arrived damaged (its hash is not {sha})")
            path = _cache(worker) / sha / name
            if path.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)


@dataclass(frozen=True)
class _Batch:
    """One task: some items through the function, its files named by (hash, name)."""

    fn: Any
    files: dict[str, tuple[str, str]]  # role -> (sha256, file name)

    def __call__(self, items: list) -> list:
        fn = self.fn
        if self.files:
            root = _cache(get_worker())
            paths = {role: root / sha / name for role, (sha, name) in self.files.items()}
            missing = [str(p) for p in paths.values() if not p.exists()]
            if missing:  # the plugin did not run here: a bug, not the user's input
                raise RuntimeError(f"files not in this worker's cache: {', '.join(missing)}")
            fn = fn.with_files(paths)
        return [fn(item) for item in items]


# ---- the runner ----------------------------------------------------------------------------------


class DaskRunner:
    """Runs `Runner.map` on the Dask scheduler at `address`. Use it as a context manager."""

    def __init__(self, address: str, batch: int | None = None, timeout: float = CONNECT_SECONDS):
        if Client is None:
            raise ClusterError(f"--cluster needs the distributed package: {INSTALL}")
        # distributed logs its own view of every problem; ours is one line (ClusterError)
        logging.getLogger("distributed").setLevel(logging.CRITICAL)
        self.address = address
        self.batch = batch  # items per task; None: chosen per map (`per_task`)
        self.shipped: set[str] = set()
        self.lost_workers: set[str] = set()
        self.rerun = 0
        try:
            _probe(address, timeout)
            self.client = _Client(address, timeout=timeout, set_as_default=False)
        except Exception as e:  # refused, timed out, a bad address, something else there
            reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            raise ClusterError(
                f"--cluster {address}: no Dask scheduler answered ({reason}); start one with "
                "`dask scheduler` and give its address (tcp://HOST:8786)"
            ) from None
        try:
            self._check(timeout)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> DaskRunner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is None:
            return
        # the scheduler may be gone by now; the workers keep their cached files anyway
        with contextlib.suppress(Exception):
            for sha in self.shipped:
                client.unregister_worker_plugin(_plugin_name(sha))
        with contextlib.suppress(Exception):
            client.close()
        self.client = None

    def _check(self, timeout: float) -> None:
        where = f"--cluster {self.address}"
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise ClusterError(
                f"{where}: the scheduler has no workers (none joined in {timeout:g} s); "
                "start some with `dask worker ADDRESS --nthreads 1`"
            ) from None
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        threaded = sorted(a for a, w in workers.items() if w.get("nthreads", 1) > 1)
        if threaded:
            raise ClusterError(
                f"{where}: worker {threaded[0]} runs {workers[threaded[0]]['nthreads']} threads; "
                "a run needs a process of its own: start workers with `--nthreads 1` (and "
                "`--nworkers N` for N processes)"
            )
        # The scheduler unpickles the tasks (their classes are ours), the workers run them.
        try:
            answers = {"the scheduler": self.client.run_on_scheduler(eval, _ASK)}
        except Exception as e:
            answers = {"the scheduler": e}
        workers = self.client.run(eval, _ASK, on_error="return")
        answers.update((f"worker {a}", got) for a, got in sorted(workers.items()))
        mine = identity()
        for who, got in answers.items():
            if isinstance(got, ImportError):
                raise ClusterError(
                    f"{where}: {who} cannot import the emulator ({got}); install emulator "
                    f"{__version__} there ({INSTALL}; no checkout is needed)"
                )
            if not isinstance(got, dict):
                raise ClusterError(
                    f"{where}: {who} could not say which emulator it runs ({got!r}); install "
                    f"emulator {__version__} there"
                )
            for what, fix in (
                ("emulator", "install the same emulator version everywhere"),
                ("sources", "install the same emulator sources everywhere"),
                ("unicorn", "install the same unicorn everywhere"),
            ):
                if got.get(what) != mine[what]:
                    name = "emulator sources (hash)" if what == "sources" else what
                    raise ClusterError(
                        f"{where}: {who} runs {name} {got.get(what)}, this client "
                        f"{mine[what]}: results would differ; {fix}"
                    )

    def _ship(self, files: dict[str, Path]) -> dict[str, tuple[str, str]]:
        """Each file once per worker (a plugin per content hash); roles -> (hash, name)."""
        named: dict[str, tuple[str, str]] = {}
        for role, path in files.items():
            data = Path(path).read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            if sha not in self.shipped:
                self.client.register_plugin(
                    _Files({sha: (Path(path).name, data)}), name=_plugin_name(sha)
                )
                self.shipped.add(sha)
            named[role] = (sha, Path(path).name)
        return named

    def per_task(self, items: int) -> int:
        """Items per task: up to BATCH, fewer when the cluster's threads would go short."""
        threads = sum(self.client.nthreads().values()) or 1
        return max(1, min(BATCH, items // (threads * TASKS_PER_THREAD)))

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Results as they finish; stopping the iteration cancels the tasks not yet done."""
        items = list(items)
        task = _Batch(fn, self._ship(files_of(fn)))
        tag = f"{type(fn).__name__.lower()}-{uuid.uuid4().hex[:8]}"
        size = self.batch or self.per_task(len(items))
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        futures = [
            self.client.submit(task, chunk, key=f"{tag}-{i}", pure=False)
            for i, chunk in enumerate(chunks)
        ]
        finished = False
        try:
            for future in as_completed(futures, loop=self.client.loop):
                try:
                    results = future.result()
                except KilledWorker as e:
                    raise ClusterError(
                        f"--cluster {self.address}: task {future.key} killed every worker that "
                        f"ran it ({e.allowed_failures + 1}); its items crash the worker process"
                    ) from None
                future.release()
                yield from results
            finished = True
        finally:
            pending = [f for f in futures if not f.done()]
            if pending:
                self.client.cancel(pending)
            self._count_losses({f.key for f in futures}, finished)

    def _count_losses(self, keys: set, finished: bool) -> None:
        """Workers that left while running (or holding the results of) our tasks: the
        scheduler re-ran those tasks elsewhere. One line when there were any."""
        try:
            events = self.client.get_events("all")
        except Exception:
            return
        lost: set[str] = set()
        rerun: set = set()
        for _, msg in events:
            if not isinstance(msg, dict) or msg.get("action") != "remove-worker":
                continue
            held = set(msg.get("processing-tasks", ())) | set(msg.get("lost-computed-tasks", ()))
            hit = keys & held
            if hit:
                lost.add(msg.get("worker", "?"))
                rerun |= hit
        if not lost:
            return
        self.lost_workers |= lost
        self.rerun += len(rerun)
        from tqdm import tqdm

        outcome = "no result lost" if finished else "the run stopped early"
        workers = f"{len(lost)} worker{'s' * (len(lost) != 1)}"
        tasks = f"{len(rerun)} task{'s' * (len(rerun) != 1)}"
        tqdm.write(
            f"cluster: {workers} lost mid-run; {tasks} they held re-scheduled on other workers, "
            f"{outcome}",
            file=sys.stderr,
        )


HELLO_SECONDS = 3.0  # a scheduler greets a new connection at once


def _probe(address: str, timeout: float) -> None:
    """A refused connection is an answer: say so now, not after distributed's retries; and a
    server that does not greet us as a scheduler does is not one (distributed's client would
    wait on it for ever)."""
    scheme, location = parse_address(address)
    if scheme != "tcp":
        return
    host, port = parse_host_port(location, 8786)
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.settimeout(HELLO_SECONDS)
        try:
            hello = conn.recv(1)
        except TimeoutError:
            hello = b""
        if not hello:
            raise OSError(f"something listens at {host}:{port} but does not speak as one")


def _plugin_name(sha: str) -> str:
    return f"emulator-file-{sha[:16]}"
