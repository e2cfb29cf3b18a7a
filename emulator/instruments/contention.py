"""The contention monitor (`run --atomics`): who did which atomic where, and who waited.

It is an observer of `Atomic` events; the machine raises them for every lr/sc, and, while the
monitor runs, for every AMO and every fence that orders earlier writes (each such site becomes
a trap at load time, so nothing is hooked anywhere else). Event times are exact instruction
positions, so waits and hold times are counted in instructions.

Locks are found from how they are used: a word that an amoswap of a nonzero value (or an
lr/sc pair) turns from 0 to nonzero is acquired; a failed swap (it read nonzero) is a failed
attempt; a release store of 0 (`fence rw,w; sw zero`, or an amoswap of 0) by the holder
releases it. Only words seen released are reported as locks. A hart waits from its first
failed attempt to its acquisition, which counts test-and-test-and-set spinning on plain loads
in between without watching loads.

Locks whose acquire has no such pattern (a ticket lock: an amoadd, then spinning on a plain
load) are declared by symbol instead: a pair of functions ACQUIRE:RELEASE taking the lock as
their first argument (`run --lock ACQUIRE:RELEASE`; the runtime's ticket_lock:ticket_unlock is
always declared when the image has it). Function probes (probes.py) time them: acquired when
ACQUIRE returns, released when RELEASE is entered. An acquisition that took more instructions
than the fewest any acquisition of that lock took had to wait (counted as a failed attempt);
the instructions above that fewest are its wait.

On the native layer (emulator/native) the same rules run in C (src/monitor.c): the machine
counts when Hooks.count_atomics is set, the declared locks' probes call into C, and `collect`
reads the counts back after the run; the report is made here either way.

atomics.json (schema 2):
  harts: [{hart, amos, lr, sc_success, sc_failure, cas_retries, release_fences}]
  sites: [{pc, where, kind (lr|sc|amo|fence), op, count, sc_failures, retries, by_hart}]
         every site in the image, hottest first; by_hart maps hart id -> count
  locks: [{address, name, found (pattern|declared), acquisitions, failed_attempts,
           wait_instructions, hold_instructions_total, hold_instructions_max, holders}]
         (holders: hart -> count; for declared locks failed_attempts counts acquisitions
         that waited)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from emulator.instruments.probes import Frame, Probes
from emulator.machine import events as ev
from emulator.machine.errors import BadInput
from emulator.machine.hooks import Hooks
from emulator.machine.image import Image
from emulator.machine.isa import A, atomic_name
from emulator.machine.sites import Sites
from emulator.native.layout import ACT_LOCK_ACQUIRE, ACT_LOCK_RELEASE

if TYPE_CHECKING:
    from emulator.machine.hart import Hart
    from emulator.machine.machine import Machine

_A0 = A[0]

SCHEMA = 2
# Lock functions declared whenever the image has them: (acquire, release).
RUNTIME_LOCKS = (("ticket_lock", "ticket_unlock"),)


@dataclass
class _Site:
    pc: int
    kind: str
    op: str
    count: int = 0
    sc_failures: int = 0
    retries: int = 0
    by_hart: Counter = field(default_factory=Counter)


@dataclass
class _Hart:
    amos: int = 0
    lr: int = 0
    sc_success: int = 0
    sc_failure: int = 0
    cas_retries: int = 0
    release_fences: int = 0
    last_lr: tuple[int, int, int] | None = None  # (pc, address, value read)
    succeeded_since_lr: bool = True


@dataclass
class _Lock:
    address: int
    acquisitions: int = 0
    failed_attempts: int = 0
    wait_instructions: int = 0
    hold_total: int = 0
    hold_max: int = 0
    releases: int = 0
    holders: Counter = field(default_factory=Counter)
    holder: int | None = None
    acquired_at: int = 0
    waiting_since: dict[int, int] = field(default_factory=dict)
    declared: bool = False
    # declared: how many acquisitions were timed, their total, the fewest instructions one took
    # and how many took that fewest
    durations: int = 0
    duration_sum: int = 0
    duration_min: int = 0
    at_min: int = 0


class ContentionMonitor:
    def __init__(self, image: Image, harts: int):
        self.image = image
        self.harts = [_Hart() for _ in range(harts)]
        self.sites: dict[int, _Site] = {}
        self.locks: dict[int, _Lock] = {}
        self._native = None  # the machine's native side, when it counts (attach)

    def install(self, hooks: Hooks) -> None:
        """Before the machine exists: every atomic must reach the machine's hart (watched),
        and a native machine is to count them itself."""
        hooks.watch_atomics = True
        hooks.count_atomics = True

    def attach(self, machine: Machine) -> None:
        """The machine exists: count its Atomic events, or let its native layer count."""
        self._native = machine.native
        if self._native is None:
            machine.bus.subscribe(ev.Atomic, self)
        self.add_sites(machine.sites)

    def declare_locks(self, probes: Probes, pairs: list[str]) -> None:
        """Probe each ACQUIRE:RELEASE pair (and the runtime's, when the image has them)."""
        wanted = [tuple(text.split(":")) for text in pairs]
        for pair, text in zip(wanted, pairs, strict=True):
            if len(pair) != 2 or not all(pair):
                raise BadInput(f"--lock wants ACQUIRE:RELEASE (got {text!r})")
            for name in pair:
                if self.image.symbol(name) is None:
                    raise BadInput(f"--lock {text}: the image has no function {name!r}")
        for pair in RUNTIME_LOCKS:
            if pair not in wanted and all(self.image.symbol(n) for n in pair):
                wanted.append(pair)
        for acquire, release in wanted:
            probes.add_symbol(
                self.image, acquire, self._on_acquire, self._on_acquired, (ACT_LOCK_ACQUIRE, 0)
            )
            probes.add_symbol(self.image, release, self._on_release, None, (ACT_LOCK_RELEASE, 0))

    def _on_acquire(self, hart: Hart) -> tuple[int, int]:
        address = hart.read_reg(_A0)
        if self._native is not None:
            self._native.lib.nm_declare_lock(self._native.pointer, address)
        else:
            self._lock(address).declared = True
        return address, hart.now()

    def _on_acquired(self, hart: Hart, frame: Frame) -> None:
        address, entered = frame.data  # type: ignore[misc]
        now = hart.now()
        if self._native is not None:
            native = self._native
            native.lib.nm_declared_acquired(native.pointer, address, hart.id, entered, now)
            return
        lock = self.locks[address]
        duration = now - entered
        if not lock.durations or duration < lock.duration_min:
            lock.duration_min, lock.at_min = duration, 0
        lock.at_min += duration == lock.duration_min
        lock.durations += 1
        lock.duration_sum += duration
        self._acquire(lock, hart.id, now)

    def _on_release(self, hart: Hart) -> None:
        address = hart.read_reg(_A0)
        if self._native is not None:
            native = self._native
            native.lib.nm_declared_release(native.pointer, address, hart.id, hart.now())
            return
        lock = self.locks.get(address)
        if lock is not None and lock.declared and lock.holder == hart.id:
            self._release(lock, hart.now())

    def add_sites(self, sites: Sites) -> None:
        """Every site in the image, so the report lists those that never ran too."""
        for kind, table in (("amo", sites.amo), ("fence", sites.fence)):
            for pc, word in table.items():
                self.sites.setdefault(pc, _Site(pc, kind, atomic_name(word)))
        for pc, word in sites.lrsc.items():
            kind = "sc" if word >> 27 == 3 else "lr"
            self.sites.setdefault(pc, _Site(pc, kind, atomic_name(word)))

    def collect(self) -> None:
        """After the run: the counts the native layer kept (nothing to do on the Python path)."""
        native = self._native
        if native is None:
            return
        for h, n in zip(self.harts, native.harts, strict=True):
            h.amos, h.lr, h.sc_success, h.sc_failure = n.amos, n.lrs, n.sc_success, n.sc_failure
            h.cas_retries, h.release_fences = n.cas_retries, n.release_fences
        for stats in native.site_stats():
            site = self.sites[stats.pc]
            site.count, site.sc_failures, site.retries = (
                stats.count,
                stats.sc_failures,
                stats.retries,
            )
            site.by_hart = Counter({h: c for h, c in enumerate(stats.by_hart) if c})
        for c in native.locks():
            lock = self._lock(c.address)
            for name in ("acquisitions", "failed_attempts", "wait_instructions", "releases",
                         "durations", "duration_sum", "duration_min", "at_min"):  # fmt: skip
                setattr(lock, name, getattr(c, name))
            lock.hold_total, lock.hold_max = c.hold_total, c.hold_max
            lock.declared = bool(c.declared)
            lock.holders = Counter({h: n for h, n in enumerate(c.holders) if n})

    # ---- events --------------------------------------------------------------------------

    def __call__(self, e: ev.Atomic) -> None:
        site = self.sites.get(e.pc)
        if site is None:
            site = self.sites[e.pc] = _Site(e.pc, e.kind, e.op)
        site.count += 1
        site.by_hart[e.hart] += 1
        h = self.harts[e.hart]
        if e.kind == "amo":
            h.amos += 1
            if e.op == "swap":
                self._swap(e)
        elif e.kind == "lr":
            h.lr += 1
            if h.last_lr and h.last_lr[0] == e.pc and not h.succeeded_since_lr:
                h.cas_retries += 1
                site.retries += 1
            h.last_lr = (e.pc, e.address, e.old)
            h.succeeded_since_lr = False
        elif e.kind == "sc":
            if e.ok:
                h.sc_success += 1
                h.succeeded_since_lr = True
                lr = h.last_lr
                if lr and lr[1] == e.address and lr[2] == 0 and e.value:
                    lock = self._lock(e.address)
                    if not lock.declared:
                        self._acquire(lock, e.hart, e.instret)
            else:
                h.sc_failure += 1
                site.sc_failures += 1
        elif e.kind == "fence" and e.address >= 0:
            h.release_fences += 1
            lock = self.locks.get(e.address)
            if lock is not None and not lock.declared and e.value == 0 and lock.holder == e.hart:
                self._release(lock, e.instret + 1)  # the store right after the fence

    def _lock(self, address: int) -> _Lock:
        lock = self.locks.get(address)
        if lock is None:
            lock = self.locks[address] = _Lock(address)
        return lock

    def _swap(self, e: ev.Atomic) -> None:
        if e.value == 0:
            lock = self.locks.get(e.address)
            if lock is not None and not lock.declared and lock.holder == e.hart:
                self._release(lock, e.instret)
            return
        lock = self._lock(e.address)
        if lock.declared:
            return
        if e.old == 0:
            self._acquire(lock, e.hart, e.instret)
        else:
            lock.failed_attempts += 1
            lock.waiting_since.setdefault(e.hart, e.instret)

    def _acquire(self, lock: _Lock, hart: int, when: int) -> None:
        lock.acquisitions += 1
        lock.holders[hart] += 1
        lock.holder, lock.acquired_at = hart, when
        since = lock.waiting_since.pop(hart, None)
        if since is not None:
            lock.wait_instructions += when - since

    def _release(self, lock: _Lock, when: int) -> None:
        hold = when - lock.acquired_at
        lock.releases += 1
        lock.hold_total += hold
        lock.hold_max = max(lock.hold_max, hold)
        lock.holder = None

    # ---- report --------------------------------------------------------------------------

    def _name(self, address: int) -> str:
        hit = self.image.symbol_at(address)
        if not hit:
            return f"{address:#x}"
        sym, off = hit
        return f"{sym.name}+{off:#x}" if off else sym.name

    def report(self) -> dict:
        sites = sorted(self.sites.values(), key=lambda s: (-s.count, s.pc))
        for lk in self.locks.values():
            if lk.declared and lk.durations:
                lk.failed_attempts = lk.durations - lk.at_min
                lk.wait_instructions = lk.duration_sum - lk.duration_min * lk.durations
        locks = sorted(
            (lk for lk in self.locks.values() if lk.releases),
            key=lambda lk: (-lk.wait_instructions, -lk.acquisitions, lk.address),
        )
        return {
            "schema": SCHEMA,
            "harts": [
                {
                    "hart": i,
                    "amos": h.amos,
                    "lr": h.lr,
                    "sc_success": h.sc_success,
                    "sc_failure": h.sc_failure,
                    "cas_retries": h.cas_retries,
                    "release_fences": h.release_fences,
                }
                for i, h in enumerate(self.harts)
            ],
            "sites": [
                {
                    "pc": f"{s.pc:#x}",
                    "where": self.image.where(s.pc),
                    "kind": s.kind,
                    "op": s.op,
                    "count": s.count,
                    "sc_failures": s.sc_failures,
                    "retries": s.retries,
                    "by_hart": {str(k): v for k, v in sorted(s.by_hart.items())},
                }
                for s in sites
            ],
            "locks": [
                {
                    "address": f"{lk.address:#x}",
                    "name": self._name(lk.address),
                    "found": "declared" if lk.declared else "pattern",
                    "acquisitions": lk.acquisitions,
                    "failed_attempts": lk.failed_attempts,
                    "wait_instructions": lk.wait_instructions,
                    "hold_instructions_total": lk.hold_total,
                    "hold_instructions_max": lk.hold_max,
                    "holders": {str(k): v for k, v in sorted(lk.holders.items())},
                }
                for lk in locks
            ],
        }


def format_report(report: dict, top: int = 12) -> str:
    """The end-of-run tables: per hart, per lock, hottest sites."""
    out = [
        "atomics per hart:",
        f"  {'hart':>4} {'amos':>8} {'lr':>8} {'sc ok':>8} {'sc fail':>8} {'retries':>8}",
    ]
    for h in report["harts"]:
        out.append(
            f"  {h['hart']:>4} {h['amos']:>8} {h['lr']:>8} {h['sc_success']:>8} "
            f"{h['sc_failure']:>8} {h['cas_retries']:>8}"
        )
    out.append("locks (waits and holds in instructions):")
    if not report["locks"]:
        out.append("  none seen")
    for lk in report["locks"]:
        mean = lk["hold_instructions_total"] / max(1, lk["acquisitions"])
        holders = ", ".join(f"h{k}:{v}" for k, v in lk["holders"].items())
        out.append(
            f"  {lk['name']} ({lk['address']}): {lk['acquisitions']} acquisitions, "
            f"{lk['failed_attempts']} failed attempts, {lk['wait_instructions']} waiting, "
            f"hold mean {mean:.1f} max {lk['hold_instructions_max']}; held by {holders}"
        )
    out.append(f"hottest sites (of {len(report['sites'])}):")
    for s in [s for s in report["sites"] if s["count"]][:top]:
        extra = f", {s['sc_failures']} sc failures" if s["sc_failures"] else ""
        extra += f", {s['retries']} retries" if s["retries"] else ""
        out.append(f"  {s['count']:>9}  {s['op']:<12} {s['where']}{extra}")
    return "\n".join(out)
