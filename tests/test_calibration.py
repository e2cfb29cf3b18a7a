"""The timing model does what its rules say: each calibration microbenchmark (the `calib` app),
measured under `--timing`, against what the cost file's numbers predict by the protocol's rules
(emulator/bench/calibration.py derives each prediction). Under the bundled costs, under two cost
files written here with other numbers, one without line queueing (so no prediction can pass by
accident), and under the atomics model; and predictions from wrong numbers, or a model with one
rule broken, do not match."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import tier

from emulator.bench.calibration import (
    BENCHMARKS,
    CalibrationError,
    Check,
    measure,
    predict,
)
from emulator.instruments.timing import CostModel

# Numbers unlike the bundled ones, a line twice as long, an infinite L1, no queueing: every
# prediction then has no slack but the ping-pong spinner's phase.
OTHER = """model = "coherence"
atomic = 7
fence = 3
miss = 9
upgrade = 15
line_transfer = 80
serialize_lines = 0
line_bytes = 128
l1_sets = 0
"""
# Queueing on, other numbers again, a smaller L1 (8 KiB, 4 ways: no set holds more than two of a
# benchmark's lines, so no line is evicted in a loop; with 2 ways of 16 sets the TTAS lock, its
# count and the handoff counter do share a set and thrash, as the rules say they must), and an
# atomic dearer than a transfer, so that a contended AMO is bounded by its own hart's loop
# (i + A + T) rather than by the line (N x T) at 2 harts.
QUEUED = """model = "coherence"
atomic = 40
fence = 5
miss = 5
upgrade = 20
line_transfer = 30
serialize_lines = 1
l1_sets = 32
l1_ways = 4
"""


@pytest.fixture
def other_costs(tmp_path) -> str:
    path = tmp_path / "other.toml"
    path.write_text(OTHER)
    return str(path)


@pytest.fixture
def queued_costs(tmp_path) -> str:
    path = tmp_path / "queued.toml"
    path.write_text(QUEUED)
    return str(path)


def _failed(checks: list[Check]) -> list[str]:
    return [
        f"{c.benchmark} x{c.harts} {c.quantity}: measured {c.measured:.2f}, predicted "
        f"{c.predicted:.2f} +- {c.tolerance:g} ({c.rule})"
        for c in checks
        if not c.ok
    ]


def _cases() -> list:
    cases = []
    for bench in BENCHMARKS:
        for harts in (1, 2, 4, 8):
            if bench == "pingpong" and harts == 1:
                continue
            # Fast: every benchmark at 2 harts, the locks and the shared array at 4 (where the
            # N - 2 misses of the ticket lock and the array show), the rest in the slow tier.
            fast = harts == 2 or (harts == 4 and bench in ("ticket", "readmostly"))
            cases.append(tier(bench, harts, fast=fast, id=f"{bench}-{harts}"))
    return cases


@pytest.mark.parametrize("bench, harts", _cases())
def test_bundled_costs_predict_every_benchmark(bench, harts):
    m = measure(bench, harts)
    checks = predict(m)
    assert checks and not _failed(checks), _failed(checks)


@pytest.mark.parametrize("bench, harts", _cases())
def test_other_costs_predict_every_benchmark(bench, harts, other_costs):
    m = measure(bench, harts, costs=other_costs)
    assert m.costs.line_transfer == 80 and m.costs.serialize_lines == 0
    checks = predict(m)
    assert checks and not _failed(checks), _failed(checks)


@pytest.mark.parametrize("bench, harts", _cases())
def test_queued_costs_predict_every_benchmark(bench, harts, queued_costs):
    m = measure(bench, harts, costs=queued_costs)
    assert m.costs.atomic == 40 and m.costs.serialize_lines == 1 and m.costs.l1_sets == 32
    checks = predict(m)
    assert checks and not _failed(checks), _failed(checks)
    if bench == "counter" and harts == 2:  # the hart's own loop bounds it, not the line
        [wall] = [k for k in checks if k.quantity.startswith("cycles")]
        assert wall.predicted == 3 + 40 + 30 > 2 * 30


def test_ping_pong_round_trip_is_two_transfers_and_two_upgrades_and_nothing_else():
    m = measure("pingpong", 2)
    c = m.costs
    [rt] = [k for k in predict(m) if k.quantity == "cycles per round trip"]
    assert rt.ok and rt.predicted == 2 * (c.upgrade + c.line_transfer) + 7
    # A model whose transfer cost twice what the run charged does not match, nor does one
    # that does not queue on a busy line: the checks can fail.
    doubled = predict(m, replace(c, line_transfer=2 * c.line_transfer))
    assert len(_failed(doubled)) == len(doubled), doubled
    unqueued = predict(m, replace(c, serialize_lines=0))
    assert _failed(unqueued)
    # The counts say the same: per round trip two transfers and two upgrades in all.
    assert m.counts["transfers"] == pytest.approx(2, abs=0.05)
    assert m.counts["upgrades"] == pytest.approx(2, abs=0.05)


def test_predictions_made_from_other_numbers_do_not_match(other_costs):
    """The same run judged by the bundled numbers: every quantity that depends on a cost fails."""
    m = measure("ticket", 2, costs=other_costs)
    assert not _failed(predict(m))
    wrong = predict(m, CostModel.load())
    assert len(_failed(wrong)) == len(wrong)


@pytest.mark.parametrize("costs", ["bundled", "other"])
def test_false_sharing_costs_the_transfers_the_rules_predict(costs, other_costs):
    path = None if costs == "bundled" else other_costs
    false, private = measure("falsesharing", 2, costs=path), measure("nosharing", 2, costs=path)
    c = false.costs
    extra = false.per_hart[0].cycles - private.per_hart[0].cycles
    insns = private.per_hart[0].instret  # the same loop: sd, addi, bnez
    assert false.per_hart[0].instret == insns == 3
    # Without queueing each store pays T on top of the same loop; with it, two harts get one
    # store each per 2T (each transfer holds the line T cycles).
    expected = 2 * c.line_transfer - insns if c.serialize_lines else c.line_transfer
    assert extra == pytest.approx(expected, abs=1)
    assert private.per_hart[0].charges == 0


@pytest.mark.parametrize("bench", ["pingpong", "falsesharing", "readmostly", "counter"])
def test_the_atomics_model_charges_no_plain_access(bench):
    m = measure(bench, 2, costs="atomics")
    assert m.costs.model == "atomics"
    checks = predict(m)
    assert checks and not _failed(checks), _failed(checks)
    plain = bench != "counter"
    assert all((q.charges == 0) == plain for q in m.per_hart.values())
    # Under the coherence model the same loops are charged: the difference is the model.
    if plain:
        assert all(q.charges > 0 for q in measure(bench, 2).per_hart.values())


def test_a_benchmark_that_cannot_run_says_so():
    with pytest.raises(CalibrationError, match="measured nothing"):
        measure("pingpong", 1)
    with pytest.raises(ValueError, match="no calibration benchmark"):
        measure("nope", 2)


def test_a_model_that_breaks_a_rule_fails_the_calibration(monkeypatch):
    """The Python path's directory with one rule broken (a load of a line Modified in another
    hart charged as a miss, not a transfer): ping-pong's predictions fail. The unbroken Python
    path passes, so it is the rule that is caught."""
    from emulator.instruments import coherence

    monkeypatch.setenv("EMULATOR_NATIVE", "0")
    assert not _failed(predict(measure("pingpong", 2, ops=32)))
    touch = coherence.Directory._touch

    def broken(self, hart, line, *rest):  # rest: (address,) write
        write = rest[-1]
        e = self.lines.get(line)
        mine = e is not None and e[coherence.SHARERS] & (1 << hart.id)
        if write or e is None or not e[coherence.MODIFIED] or mine:
            return touch(self, hart, line, *rest)
        costs, self.costs = self.costs, replace(self.costs, line_transfer=self.costs.miss)
        try:
            return touch(self, hart, line, *rest)
        finally:
            self.costs = costs

    monkeypatch.setattr(coherence.Directory, "_touch", broken)
    failed = _failed(predict(measure("pingpong", 2, ops=32)))
    assert len(failed) == 3, failed  # both harts' events and the round trip
