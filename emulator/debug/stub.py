"""The GDB stub: a hooks.Debugger that serves GDB's remote protocol on a TCP port.

Each hart is a GDB thread (thread id = hart + 1). The target is all-stop: when any hart stops,
every hart is stopped, and the machine waits in this stub until GDB resumes it. Stops happen
only between two instructions inside a hart's turn (a breakpoint, a watchpoint, the end of a
step, ebreak, the `--gdb-at` point) or between two turns (Ctrl-C, a client connecting), and the
same turn goes on afterwards, so a session that steps and continues leaves the schedule, the
instruction counts and the digest as they are without GDB.

Resuming follows the schedule, not GDB's wishes about other threads: `stepi` on hart N runs the
machine as scheduled until hart N has retired one instruction (the harts whose turns come first
run theirs), whatever vCont says about the other threads (scheduler-locking cannot hold them
without changing the run).

Bad input from the client gets the protocol's answer: a `-` for a broken packet (in ack mode),
an empty reply for what the stub does not know, `E01` for a thread that does not exist, `E14`
for memory it cannot reach, `E22` for a malformed command.
"""

from __future__ import annotations

import errno
import socket
import sys
from bisect import bisect_left
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emulator.debug import registers as regs
from emulator.debug.connection import Connection, Disconnected
from emulator.debug.packets import MAX_PACKET, escape, unescape
from emulator.machine.errors import BadInput
from emulator.machine.hart import HartState
from emulator.machine.hooks import Watch
from emulator.machine.image import Image
from guest.contract import C

if TYPE_CHECKING:
    from emulator.machine.hart import Hart
    from emulator.machine.machine import Machine, RunResult

SIGINT, SIGTRAP, SIGSEGV = 2, 5, 11
POLL_TURNS = 64  # turns between two looks for Ctrl-C or a client connecting
MAX_MEMORY = 0x1000  # bytes per m reply (GDB splits larger reads)
STOP_AT_FORMS = "violation|fault|instruction:N|symbol:NAME[:K]"
WATCH_KINDS = {2: "write", 3: "read", 4: "access"}


@dataclass(frozen=True)
class StopAt:
    """--gdb-at: where the run stops for GDB."""

    kind: str  # "violation" | "fault" | "instruction" | "symbol"
    count: int = 0  # instruction: retired instructions over all harts; symbol: the Kth entry
    symbol: str = ""


def parse_stop_at(text: str) -> StopAt:
    """`violation`, `fault`, `instruction:N` or `symbol:NAME[:K]`; ValueError says why not."""
    kind, _, rest = text.partition(":")
    if kind in ("violation", "fault") and not rest:
        return StopAt(kind)
    if kind == "instruction":
        try:
            n = int(rest, 0)
        except ValueError:
            raise ValueError(f"instruction:N wants a number, got {rest!r}") from None
        if n < 1:
            raise ValueError("instruction:N wants N >= 1")
        return StopAt(kind, n)
    if kind == "symbol" and rest:
        name, _, k = rest.partition(":")
        try:
            count = int(k, 0) if k else 1
        except ValueError:
            raise ValueError(f"symbol:NAME:K wants a number K, got {k!r}") from None
        if not name or count < 1:
            raise ValueError("symbol:NAME:K wants a name and K >= 1")
        return StopAt(kind, count, name)
    raise ValueError(f"want {STOP_AT_FORMS}, got {text!r}")


class _Resume(Exception):
    """Raised inside a command handler: leave the command loop."""

    def __init__(self, action: str):
        self.action = action  # "go" | "detach" | "kill"


def _say(text: str) -> None:
    print(f"emulator: gdb: {text}", file=sys.stderr, flush=True)


class GdbStub:
    """The debugger the machine asks (hooks.Debugger), and the server GDB talks to."""

    def __init__(
        self,
        port: int,
        image: Image,
        wait: bool = False,
        at: StopAt | None = None,
        end_on_disconnect: bool = False,
    ):
        self.image = image
        self.wait = wait
        self.at = at
        self.end_on_disconnect = end_on_disconnect
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.listener.bind(("127.0.0.1", port))
        except OSError as e:
            self.listener.close()
            why = "in use" if e.errno == errno.EADDRINUSE else f"not usable ({e.strerror})"
            raise BadInput(
                f"--gdb {port}: port {why}; pick another, or --gdb 0 for any free port"
            ) from None
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self._at_address: int | None = None
        if at is not None and at.kind == "symbol":
            symbol = image.symbol(at.symbol)
            if symbol is None:
                raise BadInput(
                    f"--gdb-at symbol:{at.symbol}: no such symbol in {image.path} "
                    "(a function's name, as `nm` shows it)"
                )
            self._at_address = symbol.address
        self._at_hits = 0
        self._reached_at = False
        self._stop_total = at.count if at is not None and at.kind == "instruction" else 0
        self.machine: Machine | None = None
        self.harts: list[Hart] = []
        self.conn: Connection | None = None
        self.breakpoints: dict[int, str] = {}  # address -> "swbreak" | "hwbreak"
        self.watches: set[Watch] = set()
        self.stepping: Hart | None = None
        self.stop_hart: Hart | None = None
        self.stop_reply = b"S05"
        self.awaiting_stop = False  # GDB resumed and waits for a stop reply
        self.gdb_features: set[str] = set()
        self.g_thread = 0  # Hg: 0 = the thread that stopped
        self.c_thread = 0
        self._turns = 0
        self._trap_sites: list[int] = []
        self.sessions = 0  # clients served (a test reads it)

    # ---- hooks.Debugger --------------------------------------------------------------------

    @property
    def attached(self) -> bool:
        return self.conn is not None

    def attach(self, machine: Machine) -> None:
        """The machine exists: with --gdb-wait, wait for GDB before the first instruction."""
        self.machine = machine
        self.harts = machine.harts
        self._trap_sites = sorted(machine.under_traps)
        self._apply_breakpoints()
        if self.wait:
            self._accept(f"waiting for GDB before the first instruction on port {self.port}")
            self._serve(self.harts[0], SIGTRAP)
        elif self.at is None:
            _say(f"listening on port {self.port} (target remote :{self.port})")
        else:
            _say(f"will wait for GDB on port {self.port} at {self._at_text()}")

    def limit(self, hart: Hart) -> int:
        step = 1 if self.stepping is hart else 0
        if not self._stop_total:
            return step
        left = max(self._stop_total - self._total_now(), 1)
        return min(step, left) if step else left

    def stopped(self, hart: Hart, why: str, address: int) -> bool:
        extra = b""
        signal = SIGTRAP
        if why == "limit":
            if self._stop_total and self._total_now() >= self._stop_total:
                self._stop_total = 0
                self._reached(f"instruction {self._total_now()} (hart {hart.id})")
            elif self.stepping is hart:
                self.stepping = None
            else:
                return True  # a limit set for someone else's sake (the other ran out first)
        elif why == "break":
            ours = address in self.breakpoints
            if address == self._at_address:
                self._at_hits += 1
                if self._at_hits >= self.at.count:  # type: ignore[union-attr]
                    self._at_address = None
                    self._apply_breakpoints()
                    self._reached(f"entry {self._at_hits} of {self.at.symbol} (hart {hart.id})")  # type: ignore[union-attr]
                    ours = True
            if not ours:
                return True
            kind = self.breakpoints.get(address, "swbreak")
            if kind in self.gdb_features:
                extra = kind.encode() + b":;"
        elif why in ("watch", "rwatch", "awatch"):
            watched = self._watched(address)
            extra = b"%s:%x;" % (why.encode(), watched)
        return self._serve(hart, signal, extra)

    def after_turn(self, hart: Hart, retired: int, total: int) -> None:
        """Between turns: Ctrl-C from GDB, or a GDB connecting, stops the machine here."""
        self._turns += 1
        if self._turns % POLL_TURNS:
            return
        try:
            if self.conn is not None:
                if self.awaiting_stop and self.conn.interrupted():
                    self._serve(hart, SIGINT)
            elif self.at is None and self._pending_client():
                self._accept(None)
                self._serve(hart, SIGINT)
        except Disconnected:
            self._lost(hart)

    def finish(self, result: RunResult, status: int) -> None:
        """The run ended: stop for GDB if --gdb-at says so, then tell GDB it exited."""
        machine = self.machine
        assert machine is not None
        at = self.at
        if at is not None and at.kind == result.outcome and self.conn is None:
            hart = self.harts[result.stopped_hart or 0]
            _say(f"the run stopped: {result.outcome}: {result.message}")
            self._accept(f"waiting for GDB at the {result.outcome} on port {self.port}")
            signal = SIGSEGV if at.kind == "fault" else SIGTRAP
            self._serve(hart, signal)
        elif self.conn is None and self._pending_at():
            _say(f"the run ended ({result.outcome}) before {self._at_text()}: nothing to debug")
        if self.conn is not None:
            try:
                if self.awaiting_stop:
                    self.stop_reply = b"W%02x" % (status & 0xFF)
                    self.conn.send(self.stop_reply)
                    self._drain()
            except Disconnected:
                pass
            self.conn.close()
            self.conn = None
        self.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.listener.close()

    # ---- stopping ------------------------------------------------------------------------

    def _total_now(self) -> int:
        return sum(h.now() for h in self.harts)

    def _at_text(self) -> str:
        at = self.at
        assert at is not None
        if at.kind == "instruction":
            return f"instruction {at.count}"
        if at.kind == "symbol":
            return f"entry {at.count} of {at.symbol}"
        return f"a {at.kind}"

    def _pending_at(self) -> bool:
        """Whether the --gdb-at point is still ahead."""
        return self.at is not None and not self._reached_at

    def _reached(self, what: str) -> None:
        self._reached_at = True
        if self.conn is None:
            self._accept(f"stopped at {what}; waiting for GDB on port {self.port}")

    def _watched(self, address: int) -> int:
        for w in self.watches:
            if w.address <= address < w.address + w.length:
                return address
            if address < w.address < address + 8:
                return w.address
        return address

    def _pending_client(self) -> bool:
        import select

        ready, _, _ = select.select([self.listener], [], [], 0)
        return bool(ready)

    def _accept(self, message: str | None) -> None:
        if message:
            _say(f"{message} (gdb-multiarch {self.image.path} -ex 'target remote :{self.port}')")
        sock, _ = self.listener.accept()
        self.conn = Connection(sock)
        self.sessions += 1
        self.awaiting_stop = False
        self.g_thread = self.c_thread = 0

    def _serve(self, hart: Hart, signal: int, extra: bytes = b"") -> bool:
        """Hold the machine stopped at `hart` and answer GDB until it resumes it; True if the
        run goes on."""
        self.stop_hart = hart
        self.stop_reply = b"T%02xthread:%x;%s" % (signal, hart.id + 1, extra)
        # GDB takes a stop as selecting the thread that stopped (it sends no H after it)
        self.g_thread = self.c_thread = 0
        if self.conn is None:
            return True
        try:
            if self.awaiting_stop:
                self.conn.send(self.stop_reply)
                self.awaiting_stop = False
            while True:
                payload = self.conn.packet()
                if payload is None:  # Ctrl-C while stopped: nothing to interrupt
                    continue
                try:
                    reply = self._command(payload)
                except _Resume as r:
                    return self._resume(hart, r.action)
                if reply is not None:
                    self.conn.send(reply)
        except Disconnected:
            return self._lost(hart)

    def _resume(self, hart: Hart, action: str) -> bool:
        if action == "go":
            self.awaiting_stop = True
            return True
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()
        self._forget()
        if action == "kill":
            assert self.machine is not None
            self.machine.end(hart, f"killed by GDB at hart {hart.id} pc {hart.pc:#x}")
            _say("killed by GDB: the run ends here")
            return False
        _say("GDB detached: the run goes on")
        return True

    def _lost(self, hart: Hart) -> bool:
        """The client went away without detaching."""
        if self.conn is not None:
            self.conn.close()
        self.conn = None
        self._forget()
        if self.end_on_disconnect:
            assert self.machine is not None
            self.machine.end(hart, "GDB disconnected (--gdb-disconnect end)")
            _say("GDB disconnected: the run ends here (--gdb-disconnect end)")
            return False
        _say("GDB disconnected: the run goes on without it")
        return True

    def _forget(self) -> None:
        """No client: no breakpoints, watchpoints or steps of its stay behind."""
        self.breakpoints.clear()
        self.watches.clear()
        self.stepping = None
        self.awaiting_stop = False
        self._apply_breakpoints()

    def _drain(self) -> None:
        """After the exit reply, answer what GDB still asks until it goes (bounded)."""
        assert self.conn is not None
        self.conn.sock.settimeout(2.0)
        try:
            for _ in range(16):
                payload = self.conn.packet()
                if payload is None or payload[:1] in (b"k", b"D") or payload.startswith(b"vKill"):
                    if payload is not None and payload[:1] != b"k":
                        self.conn.send(b"OK")
                    return
                self.conn.send(self.stop_reply if payload == b"?" else b"E01")
        except (Disconnected, OSError):
            return

    def _apply_breakpoints(self) -> None:
        addresses = set(self.breakpoints)
        if self._at_address is not None:
            addresses.add(self._at_address)
        for hart in self.harts:
            hart.set_breakpoints(addresses)
            hart.set_watchpoints(set(self.watches))

    # ---- commands ------------------------------------------------------------------------

    def _command(self, p: bytes) -> bytes | None:
        """The reply to one packet (None: no reply); raises _Resume to leave the loop."""
        head = p[:1]
        try:
            if head == b"?":
                return self.stop_reply
            if head == b"q" or head == b"Q":
                return self._query(p)
            if head == b"H":
                return self._set_thread(p)
            if head == b"T":
                return b"OK" if self._hart(p[1:]) is not None else b"E01"
            if head == b"g":
                hart = self._thread(self.g_thread)
                values = (regs.read(hart, n) for n in range(regs.G_REGISTERS))
                rs = regs.registers()
                return b"".join(regs.encode(rs[n], v) for n, v in enumerate(values))
            if head == b"G":
                return self._write_all(p[1:])
            if head == b"p":
                return self._read_register(p[1:])
            if head == b"P":
                return self._write_register(p[1:])
            if head == b"m":
                return self._read_memory(p[1:])
            if head == b"M":
                where, _, data = p[1:].partition(b":")
                return self._write_memory(where, bytes.fromhex(data.decode()))
            if head == b"X":
                where, _, data = p[1:].partition(b":")
                return self._write_memory(where, unescape(data))
            if head in (b"Z", b"z"):
                return self._breakpoint(head == b"Z", p[1:])
            if head == b"v":
                return self._v(p)
            if head == b"c":
                self._set_pc_from(p[1:])
                raise _Resume("go")
            if head == b"s":
                self._set_pc_from(p[1:])
                self.stepping = self._thread(self.c_thread)
                raise _Resume("go")
            if head == b"D":
                self.conn.send(b"OK")  # type: ignore[union-attr]
                raise _Resume("detach")
            if head == b"k":
                raise _Resume("kill")
        except (ValueError, IndexError):
            return b"E22"
        return b""  # not supported: the protocol's empty reply

    def _query(self, p: bytes) -> bytes:
        if p.startswith(b"qSupported"):
            _, _, theirs = p.partition(b":")
            self.gdb_features = {f[:-1].decode() for f in theirs.split(b";") if f.endswith(b"+")}
            return (
                b"PacketSize=%x;qXfer:features:read+;qXfer:threads:read+;QStartNoAckMode+;"
                b"vContSupported+;swbreak+;hwbreak+" % MAX_PACKET
            )
        if p == b"QStartNoAckMode":
            self.conn.send(b"OK")  # type: ignore[union-attr]
            self.conn.acks = False  # type: ignore[union-attr]
            return None  # type: ignore[return-value]
        if p == b"qAttached" or p.startswith(b"qAttached:"):
            return b"1"
        if p == b"qC":
            return b"QC%x" % (self._thread(0).id + 1)
        if p == b"qfThreadInfo":
            return b"m" + b",".join(b"%x" % (h.id + 1) for h in self.harts)
        if p == b"qsThreadInfo":
            return b"l"
        if p.startswith(b"qThreadExtraInfo,"):
            hart = self._hart(p.split(b",", 1)[1])
            if hart is None:
                return b"E01"
            return self._describe(hart).encode().hex().encode()
        if p.startswith(b"qXfer:"):
            return self._xfer(p)
        if p == b"qSymbol::":
            return b"OK"
        if p == b"qOffsets":
            return b"Text=0;Data=0;Bss=0"
        return b""

    def _describe(self, hart: Hart) -> str:
        state = {
            HartState.RUNNING: "running",
            HartState.SLEEPING: "asleep in wfi",
            HartState.STALLED: "stalled",
        }[hart.state]
        mode = {0: "U", 1: "S", 3: "M"}.get(hart.priv, "?")
        return f"hart {hart.id}, {state}, {mode}-mode, {hart.now()} instructions"

    def _xfer(self, p: bytes) -> bytes:
        parts = p.split(b":")
        if len(parts) != 5 or parts[2] != b"read":
            return b""
        obj, annex, span = parts[1], parts[3], parts[4]
        if obj == b"features":
            if annex != b"target.xml":
                return b"E00"
            data = regs.target_xml()
        elif obj == b"threads":
            rows = "".join(
                f'<thread id="{h.id + 1:x}" core="{h.id}" name="hart {h.id}">'
                f"{self._describe(h)}</thread>"
                for h in self.harts
            )
            data = f'<?xml version="1.0"?>\n<threads>{rows}</threads>\n'.encode()
        else:
            return b""
        offset, _, length = span.partition(b",")
        start, size = int(offset, 16), int(length, 16)
        chunk = data[start : start + min(size, MAX_PACKET - 64)]
        more = start + len(chunk) < len(data)
        return (b"m" if more else b"l") + escape(chunk)

    def _hart(self, text: bytes) -> Hart | None:
        """The hart a thread id names (None: no such thread)."""
        try:
            tid = int(text, 16)
        except ValueError:
            return None
        if 1 <= tid <= len(self.harts):
            return self.harts[tid - 1]
        return None

    def _thread(self, tid: int) -> Hart:
        """The hart of a selected thread (0 or -1: the one that stopped)."""
        if tid > 0:
            return self.harts[tid - 1]
        return self.stop_hart or self.harts[0]

    def _set_thread(self, p: bytes) -> bytes:
        which, text = p[1:2], p[2:]
        if text in (b"-1", b"0"):
            tid = 0
        else:
            hart = self._hart(text)
            if hart is None:
                return b"E01"
            tid = hart.id + 1
        if which == b"g":
            self.g_thread = tid
        elif which == b"c":
            self.c_thread = tid
        else:
            return b"E22"
        return b"OK"

    def _read_register(self, text: bytes) -> bytes:
        number = int(text, 16)
        register = regs.by_number().get(number)
        if register is None:
            return b"E45"
        return regs.encode(register, regs.read(self._thread(self.g_thread), number))

    def _write_register(self, text: bytes) -> bytes:
        number_text, _, value_text = text.partition(b"=")
        number = int(number_text, 16)
        register = regs.by_number().get(number)
        if register is None:
            return b"E45"
        value = regs.decode(register, value_text)
        return b"OK" if regs.write(self._thread(self.g_thread), number, value) else b"E45"

    def _write_all(self, text: bytes) -> bytes:
        hart = self._thread(self.g_thread)
        rs = regs.registers()
        if len(text) % 16 or len(text) // 16 > regs.G_REGISTERS:
            return b"E22"
        for n in range(len(text) // 16):
            regs.write(hart, n, regs.decode(rs[n], text[16 * n : 16 * n + 16]))
        return b"OK"

    def _set_pc_from(self, text: bytes) -> None:
        if text:
            self._thread(self.c_thread).set_pc(int(text, 16))

    # ---- memory --------------------------------------------------------------------------

    def _span(self, text: bytes) -> tuple[int, int]:
        address, _, length = text.partition(b",")
        return int(address, 16), int(length, 16)

    def _read_memory(self, text: bytes) -> bytes:
        address, length = self._span(text)
        length = min(length, MAX_MEMORY)
        hart = self._thread(self.g_thread)
        out = bytearray()
        while len(out) < length:
            at = address + len(out)
            size = min(length - len(out), 0x1000 - (at & 0xFFF))
            chunk = self._read_physical(hart, at, size)
            if chunk is None:
                break
            out += chunk
        if not out and length:
            return b"E14"
        return out.hex().encode()

    def _read_physical(self, hart: Hart, address: int, size: int) -> bytes | None:
        machine = self.machine
        assert machine is not None
        physical = hart.physical(address)
        if physical is None:
            return None
        offset = physical - C.RAM_BASE
        if offset >= 0 and offset + size <= machine.ram_size:
            data = bytearray(machine.ram[offset : offset + size])
            # show the instructions the loader replaced with traps, not the traps
            i = bisect_left(self._trap_sites, physical - 3)
            while i < len(self._trap_sites) and self._trap_sites[i] < physical + size:
                site = self._trap_sites[i]
                for k, byte in enumerate(machine.under_traps[site]):
                    if 0 <= site + k - physical < size:
                        data[site + k - physical] = byte
                i += 1
            return bytes(data)
        for base, rom_size in ((C.MROM_BASE, C.MROM_SIZE), (C.HOST_ROM_BASE, C.HOST_ROM_SIZE)):
            if base <= physical and physical + size <= base + rom_size:
                return bytes(hart.uc.mem_read(physical, size))
        return None  # devices (a read may change them) and unmapped addresses

    def _write_memory(self, where: bytes, data: bytes) -> bytes:
        address, length = self._span(where)
        if length != len(data):
            return b"E22"
        machine = self.machine
        assert machine is not None
        hart = self._thread(self.g_thread)
        physical = hart.physical(address, 2)  # UC_PROT_WRITE
        if physical is None or not length:
            return b"E14" if length else b"OK"
        offset = physical - C.RAM_BASE
        if not (offset >= 0 and offset + length <= machine.ram_size):
            return b"E14"
        i = bisect_left(self._trap_sites, physical - 3)
        if i < len(self._trap_sites) and self._trap_sites[i] < physical + length:
            return b"E0e"  # an instruction the machine executes itself lies there
        machine.ram[offset : offset + length] = data
        for h in self.harts:  # code written behind unicorn's back: translate it again
            h.uc.ctl_remove_cache(physical, physical + length)
        return b"OK"

    # ---- breakpoints and resuming --------------------------------------------------------

    def _breakpoint(self, insert: bool, text: bytes) -> bytes:
        kind_text, _, rest = text.partition(b",")
        kind = int(kind_text)
        address_text, _, size_text = rest.partition(b",")
        address = int(address_text, 16)
        size = int(size_text.split(b";")[0], 16)
        if kind in (0, 1):
            if insert:
                self.breakpoints[address] = "swbreak" if kind == 0 else "hwbreak"
            else:
                self.breakpoints.pop(address, None)
        elif kind in WATCH_KINDS:
            if size < 1:
                return b"E22"
            ram = C.RAM_BASE + self.machine.ram_size  # type: ignore[union-attr]
            if address < C.RAM_BASE or address + size > ram:
                return b"E01"  # devices: an access restarted at a stop would happen twice
            watch = Watch(WATCH_KINDS[kind], address, size)
            if insert:
                self.watches.add(watch)
            else:
                self.watches.discard(watch)
        else:
            return b""
        self._apply_breakpoints()
        return b"OK"

    def _v(self, p: bytes) -> bytes:
        if p == b"vCont?":
            return b"vCont;c;C;s;S;t"
        if p.startswith(b"vCont;"):
            return self._vcont(p[6:])
        if p == b"vMustReplyEmpty":
            return b""
        if p.startswith(b"vKill"):
            self.conn.send(b"OK")  # type: ignore[union-attr]
            raise _Resume("kill")
        return b""

    def _vcont(self, text: bytes) -> bytes:
        step: Hart | None = None
        for action in text.split(b";"):
            verb, _, tid = action.partition(b":")
            if not verb or verb[:1] not in b"cCsSt":
                return b"E22"
            if tid and tid not in (b"-1", b"0") and self._hart(tid) is None:
                return b"E01"
            if verb[:1] in b"sS" and step is None:
                step = self._hart(tid) if tid and tid != b"-1" else self._thread(self.c_thread)
        if text.startswith(b"t"):
            return b"OK"  # all-stop: everything is stopped already
        self.stepping = step
        raise _Resume("go")
