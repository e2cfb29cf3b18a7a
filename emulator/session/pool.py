"""Running many independent runs: the interface explore and bench use (`Runner.map`), the local
process pool that implements it, and the choice between it and a Dask cluster (cluster.py).

A function handed to `Runner.map` is a picklable callable of one item. One that reads files
from this machine (an image, a costs file, a schedule) also says which (`files()`: role ->
path) and how to read them from elsewhere (`with_files({role: path})`): a cluster ships the
files by content hash and rebinds the function to the worker's copies; the pool, on this
machine, calls it as it is.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")

CLUSTER_ENV = "EMULATOR_CLUSTER"  # the scheduler's address when --cluster is not given


class Runner(Protocol):
    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Results as they finish, in any order; stopping the iteration cancels the rest."""
        ...


def files_of(fn: Callable) -> dict[str, Path]:
    """The local files `fn` reads (role -> path): none unless it says so."""
    files = getattr(fn, "files", None)
    return dict(files()) if files else {}


class ProcessRunner:
    """A local pool of worker processes (spawned: no unicorn state crosses a fork)."""

    def __init__(self, jobs: int):
        self.jobs = max(1, jobs)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        items = list(items)
        if self.jobs == 1 or len(items) == 1:
            yield from map(fn, items)
            return
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(min(self.jobs, len(items))) as pool:
            yield from pool.imap_unordered(fn, items)
            # leaving the with-block terminates workers still running


def cluster_address(given: str | None) -> str | None:
    """--cluster ADDRESS, else $EMULATOR_CLUSTER, else None (the local pool)."""
    return given or os.environ.get(CLUSTER_ENV) or None


@contextlib.contextmanager
def open_runner(jobs: int, cluster: str | None = None) -> Iterator[Runner]:
    """The Dask cluster at `cluster` (or $EMULATOR_CLUSTER), checked before anything runs, else
    a pool of `jobs` local processes."""
    address = cluster_address(cluster)
    if not address:
        yield ProcessRunner(jobs)
        return
    from emulator.session.cluster import DaskRunner

    with DaskRunner(address) as runner:
        yield runner
