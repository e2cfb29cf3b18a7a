"""The local process pool (emulator/session/pool.py): kept workers serve many maps; a map
stopped early ends the workers it leaves busy, so the next map does not queue behind them."""

from __future__ import annotations

import os
import time

from emulator.session.pool import ProcessRunner, open_runner


def _pid(_: int) -> int:
    time.sleep(0.05)
    return os.getpid()


def _slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_kept_workers_serve_one_map_after_another():
    runner = ProcessRunner(2, keep=True)
    try:
        first = set(runner.map(_pid, range(6)))
        second = set(runner.map(_pid, range(6)))
        assert first == second and os.getpid() not in first  # the same two workers
    finally:
        runner.close()
    assert runner._pool is None


def test_unkept_workers_end_with_their_map():
    runner = ProcessRunner(2)
    first = set(runner.map(_pid, range(4)))
    assert runner._pool is None
    assert first.isdisjoint(runner.map(_pid, range(4)))  # new processes for the next map


def test_a_map_stopped_early_does_not_hold_up_the_next():
    with open_runner(2) as runner:
        for _ in runner.map(_slow, [0.0, 600.0, 600.0]):
            break  # two ten-minute tasks are left running: their workers must go
        assert runner._pool is None
        assert sorted(runner.map(_slow, [0.0, 0.0])) == [0.0, 0.0]  # (not ten minutes later)
