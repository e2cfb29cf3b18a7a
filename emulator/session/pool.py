"""Running many independent runs: the interface explore and bench use (`Runner.map`), and the
local process pool that implements it. A distributed engine can stand in for the pool."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Runner(Protocol):
    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Results as they finish, in any order; stopping the iteration cancels the rest."""
        ...


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
