"""Calibration of the virtual-time model (instruments/timing.py): the `calib` app's
microbenchmarks, measured, next to what a cost file's numbers and the model's own rules predict.

A measurement runs one benchmark twice, with K and 2K operations per hart, under `--timing` at
quantum 1 (the timed schedule then interleaves harts instruction by instruction in virtual-time
order, so a store is seen by the other harts at about the virtual time it is made). Per-op
figures are differences of the two runs divided by K: whatever happens once (boot, the
barriers, the loop's first and last iterations) cancels, and what is left is one operation of
the steady state.

For each benchmark, `predict` returns checks: a quantity the app or the run measured, the value
the rules give for it, and the tolerance the derivation allows (zero unless a comment says
why). Costs are written A (atomic), F (fence), M (miss), U (upgrade), T (line_transfer), N
harts, S (serialize_lines). "Charges" are a hart's cycles minus its instructions: what the
model added; "events" are charges minus the waits for a busy line (summary.json's
line_wait_cycles), which the rules fix exactly where the order of waiters does not matter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from emulator.instruments.timing import CostModel
from emulator.session import RunOptions, run

BENCHMARKS = ("pingpong", "counter", "ttas", "ticket", "falsesharing", "nosharing", "readmostly")
APP = "calib"
RM_EVERY = 4  # the app's CALIB_RM_EVERY: hart 0 writes one word of the array every 4 passes

_LINE = re.compile(
    r"^calib (?P<name>\S+) hart=(?P<hart>\d+) harts=\d+ ops=(?P<ops>\d+) "
    r"cycles=(?P<cycles>\d+) instret=(?P<instret>\d+) ",
    re.M,
)
_HANDOFFS = re.compile(r"^calib ttas-handoffs hart=(?P<hart>\d+) handoffs=(?P<n>\d+)", re.M)


class CalibrationError(Exception):
    """A calibration run that did not end with the app's verdict."""


@dataclass
class PerOp:
    """One hart's steady-state figures per operation."""

    cycles: float
    instret: float
    waits: float  # cycles spent waiting for a busy line (serialize_lines)
    handoffs: float = 0.0  # ttas: acquisitions after another hart's, per operation

    @property
    def charges(self) -> float:
        return self.cycles - self.instret

    @property
    def events(self) -> float:
        return self.charges - self.waits


@dataclass
class Measurement:
    benchmark: str
    harts: int
    ops: int
    costs: CostModel
    per_hart: dict[int, PerOp]
    counts: dict[str, float] = field(default_factory=dict)  # timing counts per op, all harts


@dataclass
class Check:
    benchmark: str
    harts: int
    quantity: str  # what is compared, in words
    measured: float
    predicted: float
    tolerance: float
    rule: str  # the prediction's formula
    bound: str = "equal"  # equal | at-least

    @property
    def ok(self) -> bool:
        slack = self.tolerance + 1e-9  # per-op figures are ratios: float rounding, no more
        if self.bound == "at-least":
            return self.measured >= self.predicted - slack
        return abs(self.measured - self.predicted) <= slack


def _one_run(benchmark: str, harts: int, ops: int, costs: str | None, quantum: int) -> tuple:
    opts = RunOptions(
        app=APP,
        harts=harts,
        timing=True,
        costs=costs,
        quantum=quantum,
        quiet=True,
        write_files=False,
        defines={"CALIB_ONLY": benchmark, "CALIB_OPS": str(ops)},
    )
    report = run(opts)
    console = report.console.decode(errors="replace")
    if report.result.exit_code != 0 or "calib: done" not in console:
        raise CalibrationError(
            f"calib {benchmark} on {harts} harts ({ops} ops) did not pass: "
            f"{report.result.outcome}, exit code {report.result.exit_code}: {console[-500:]}"
        )
    rows = {int(m["hart"]): m for m in _LINE.finditer(console) if m["name"] == benchmark}
    if not rows:
        raise CalibrationError(f"calib {benchmark} on {harts} harts measured nothing: {console}")
    handoffs = {int(m["hart"]): int(m["n"]) for m in _HANDOFFS.finditer(console)}
    return rows, handoffs, report.summary.get("timing", {})


def _waits(timing: dict, harts: int) -> list[int]:
    per_hart = timing.get("harts")
    if not per_hart:  # the atomics model never waits for a line
        return [0] * harts
    return [h.get("line_wait_cycles", 0) for h in per_hart]


def measure(
    benchmark: str, harts: int, ops: int = 128, costs: str | None = None, quantum: int = 1
) -> Measurement:
    """The benchmark's per-operation figures on `harts` harts with the cost file `costs` (a
    bundled name or a path; None: the default): runs of `ops` and 2 x `ops` operations,
    differenced."""
    if benchmark not in BENCHMARKS:
        raise ValueError(f"no calibration benchmark {benchmark!r}; known: {BENCHMARKS}")
    small = _one_run(benchmark, harts, ops, costs, quantum)
    large = _one_run(benchmark, harts, 2 * ops, costs, quantum)
    (rows1, hand1, t1), (rows2, hand2, t2) = small, large
    w1, w2 = _waits(t1, harts), _waits(t2, harts)
    per_hart = {}
    for h in sorted(rows2):
        a, b = rows1[h], rows2[h]
        per_hart[h] = PerOp(
            cycles=(int(b["cycles"]) - int(a["cycles"])) / ops,
            instret=(int(b["instret"]) - int(a["instret"])) / ops,
            waits=(w2[h] - w1[h]) / ops,
            handoffs=(hand2.get(h, 0) - hand1.get(h, 0)) / ops,
        )
    counts = {}
    totals1, totals2 = t1.get("totals", {}), t2.get("totals", {})
    for key in ("misses", "transfers", "upgrades", "invalidations", "evictions"):
        if key in totals1 and key in totals2:
            counts[key] = (totals2[key] - totals1[key]) / ops
    return Measurement(benchmark, harts, ops, CostModel.load(costs), per_hart, counts)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def predict(m: Measurement, costs: CostModel | None = None) -> list[Check]:
    """What the rules of `costs` (default: the cost file the measurement ran with) say about
    `m`, one Check per quantity. Passing other costs than the run's shows a wrong model
    failing."""
    c = costs or m.costs
    n, name = m.harts, m.benchmark
    checks: list[Check] = []

    def check(quantity, measured, predicted, tolerance, rule, bound="equal") -> None:
        checks.append(Check(name, n, quantity, measured, predicted, tolerance, rule, bound))

    p = m.per_hart
    if c.model == "atomics":
        _predict_atomics(m, c, check)
        return checks
    A, F, M, U, T, S = c.atomic, c.fence, c.miss, c.upgrade, c.line_transfer, c.serialize_lines
    # Events are charges minus waits, and the waits come from the whole run's
    # line_wait_cycles. The app staggers the harts' arrivals at the barrier after the loop, so
    # none queues there; what may still differ between the two runs is the order in which the
    # harts, spinning at different phases, reload the barrier's flag at its release: less than
    # one transfer's wait per hart, T / K per operation. Without queueing there are no waits,
    # and no slack.
    ev_tol = T / m.ops if S else 0

    if name == "pingpong":
        # Hart 0 stores v to the flag and spins (ld; bne) until it reads v + 1; hart 1 spins
        # until it reads v, then stores v + 1. Both spin with the line Shared, so each store
        # finds the other's copy Shared: U (the copy -> I); the spinner's next load finds the
        # line Modified elsewhere: T. Per round trip each hart pays one U and one T, however
        # long it spins (its other loads hit).
        for h in (0, 1):
            check(f"hart {h} events per round trip", p[h].events, U + T, ev_tol, "U + T")
        # The round trip on hart 0's clock. With S = 1 the spinner's load (issued 0-1 cycles
        # after the store, by the timed order) waits for the store's upgrade to end, so:
        # store at t; hart 1's load ends at t + U + T + 1; bne, addi, then its store starts at
        # t + U + T + 3; hart 0's load waits for that upgrade and ends at t + 2U + 2T + 4; bne,
        # addi, bne: hart 0's next store at t + 2(U + T) + 7. Tolerance 1: which of two
        # harts at the same clock runs first (the lower id) moves a load by one cycle.
        # With S = 0 nothing waits for the upgrade: each side's load is issued up to one spin
        # loop (2 cycles) after the store and pays T, so 2T + 8 +- 2 (if U <= T, else the
        # writer's own upgrade is on the path).
        if S:
            check("cycles per round trip", p[0].cycles, 2 * (U + T) + 7, 1, "2(U + T) + 7")
        elif U <= T:
            check("cycles per round trip", p[0].cycles, 2 * T + 8, 2, "2T + 8")
    elif name == "counter":
        # Every hart amoadds one word: with N >= 2 the harts take turns in virtual time, so each
        # AMO finds the line Modified in another hart: A + T. Alone: A (a hit).
        ev = A + T if n > 1 else A
        for h in p:
            check(f"hart {h} events per AMO", p[h].events, ev, ev_tol, "A + T" if n > 1 else "A")
        # With S = 1 a transfer holds the line for T cycles (the atomic's own A does not hold
        # it), so N harts get one AMO done per T cycles each: a hart's AMO every N x T cycles,
        # unless its own loop (i instructions + A + T) is longer. Tolerance 1 per op: the
        # rounding of the moment a hart's AMO queues.
        i = _mean([q.instret for q in p.values()])
        wall = max(n * T, i + A + T) if (S and n > 1) else i + ev
        rule = "max(N x T, i + A + T)" if (S and n > 1) else "i + events"
        check("cycles per AMO (mean over harts)", _mean([q.cycles for q in p.values()]), wall,
              1 if (S and n > 1) else 0, rule)  # fmt: skip
    elif name in ("falsesharing", "nosharing"):
        # Each hart stores to its own word (sd; addi; bnez). False sharing: all words in one
        # line, which every store finds Modified in another hart (N >= 2): T, the other copy
        # -> I. No sharing: a line per hart, Modified in its own L1 from the start: hits.
        ev = T if (name == "falsesharing" and n > 1) else 0
        for h in p:
            check(f"hart {h} events per store", p[h].events, ev, ev_tol, "T" if ev else "0")
        # As for the counter: with S = 1 a store every N x T cycles per hart.
        i = _mean([q.instret for q in p.values()])
        serial = S and ev
        wall = max(n * T, i + T) if serial else i + ev
        check("cycles per store (mean over harts)", _mean([q.cycles for q in p.values()]), wall,
              1 if serial else 0, "max(N x T, i + T)" if serial else "i + events")  # fmt: skip
    elif name == "readmostly":
        # Every hart reads all 64 words per pass; hart 0 first writes one word every 4th pass
        # (a different line each time). After the warm-up every hart holds every line Shared.
        # The write finds hart 0's copy Shared: U, the N - 1 other copies -> I. Each reader
        # then reads that line again: the first finds it Modified in hart 0 (T; hart 0 -> S),
        # the other N - 2 find it held only Shared (M). So per pass: hart 0 U / 4; the
        # readers together (T + (N - 2) M) / 4, the same for each on average. Alone, hart 0
        # holds the lines Exclusive: its stores hit.
        if n == 1:
            check("hart 0 events per pass", p[0].events, 0, ev_tol, "0")
        else:
            check("hart 0 (writer) events per pass", p[0].events, U / RM_EVERY, ev_tol, "U / 4")
            readers = _mean([p[h].events for h in p if h])
            check("reader events per pass (mean)", readers,
                  (T + (n - 2) * M) / ((n - 1) * RM_EVERY), ev_tol,
                  "(T + (N-2) M) / (4 (N-1))")  # fmt: skip
    elif name == "ticket":
        # The app's ticket lock keeps `next` and `owner` on lines of their own; the section
        # increments a word on a third. Per acquisition, FIFO, N >= 2 (every other hart waits):
        #   next:  amoadd finds it Modified in the previous ticket taker:   A + T
        #   data:  load finds it Modified in the previous holder: T; store: U (the copy -> I)
        #   owner: release (fence rw,w: F) stores to the holder's Shared copy: U; of the
        #          N - 1 spinners the first to reload pays T, the other N - 2 M
        # Alone: A + F, everything hits. Mean over harts (who reloads first varies).
        if n == 1:
            ev, rule = A + F, "A + F"
        else:
            ev, rule = A + F + 3 * T + 2 * U + (n - 2) * M, "A + F + 3T + 2U + (N-2) M"
        check("events per acquisition (mean)", _mean([q.events for q in p.values()]), ev,
              ev_tol, rule)  # fmt: skip
    elif name == "ttas":
        # The runtime's TTAS lock (amoswap to take it, loads while held, fence rw,w + store to
        # release) around a section that bumps a count and notes the holder (two lines). Alone:
        # A + F per acquisition, everything hits. With N >= 2 which hart wins a release is
        # a race, so only a lower bound holds: every acquisition pays A + F, and a handoff (the
        # app counts them) moves three lines at least: the lock to the new holder (T: the
        # releaser's store left it Modified) and each section line (load T, store U).
        if n == 1:
            check("events per acquisition", p[0].events, A + F, ev_tol, "A + F")
        else:
            for h in p:
                low = A + F + p[h].handoffs * (3 * T + 2 * U)
                check(f"hart {h} events per acquisition", p[h].events, low, ev_tol,
                      "A + F + handoffs (3T + 2U)", bound="at-least")  # fmt: skip
    return checks


def _predict_atomics(m: Measurement, c: CostModel, check) -> None:
    # The atomics model charges atomics and fences only: an AMO pays A, plus T when another hart
    # last wrote its line with an atomic; a fence rw,w pays F. Plain loads and stores cost
    # nothing, so the benchmarks made of them show no charges at all.
    p, n, name = m.per_hart, m.harts, m.benchmark
    A, F, T = c.atomic, c.fence, c.line_transfer
    if name in ("pingpong", "falsesharing", "nosharing", "readmostly"):
        for h in p:
            check(f"hart {h} charges per op", p[h].charges, 0, 0, "0 (plain accesses)")
    elif name == "counter":
        ev = A + T if n > 1 else A
        for h in p:
            check(f"hart {h} charges per AMO", p[h].charges, ev, 0, "A + T" if n > 1 else "A")
    elif name == "ticket":
        ev = A + T + F if n > 1 else A + F
        check("charges per acquisition (mean)", _mean([q.charges for q in p.values()]), ev, 0,
              "A + T + F" if n > 1 else "A + F")  # fmt: skip
    elif name == "ttas":
        if n == 1:
            check("charges per acquisition", p[0].charges, A + F, 0, "A + F")
        else:
            for h in p:
                low = A + F + p[h].handoffs * T
                check(f"hart {h} charges per acquisition", p[h].charges, low, 0,
                      "A + F + handoffs T", bound="at-least")  # fmt: skip
