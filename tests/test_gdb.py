"""The GDB stub (emulator/debug/): the wire format, the protocol as a client sees it (no gdb
needed), the real gdb-multiarch on 4 harts, --gdb-at, and bad input. Every socket and process
has a timeout, so a broken stub fails a test instead of hanging it."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import ROOT, cli

from emulator.debug.packets import Reader, checksum, escape, frame, unescape
from emulator.debug.registers import FIRST_CSR, G_REGISTERS, PC_REGNUM
from emulator.machine.image import Image
from guest.contract import Status
from toolchain import build

TIMEOUT = 60  # seconds any one wait may take
GDB = shutil.which("gdb-multiarch")
HELLO = ["--app", "hello", "-D", "HELLO_ITERS=200"]
ALLOC_SEQ = ["--app", "alloc-seq", "--config", "bbuddy-spin"]

# ---- the wire format, no sockets -----------------------------------------------------------------


def test_frame_and_checksum():
    assert frame(b"OK") == b"$OK#9a"
    assert checksum(b"") == 0
    assert frame(b"qSupported") == b"$qSupported#37"


def test_escapes_round_trip():
    data = bytes(range(256))
    escaped = escape(data)
    for special in b"$#*":
        assert special not in escaped
    assert unescape(escaped) == data


def test_reader_handles_splits_acks_interrupts_and_broken_packets():
    r = Reader()
    stream = b"+" + frame(b"qC") + b"\x03-" + b"$g#00" + b"$m0,4#zz" + b"junk" + frame(b"?")
    events = []
    for i in range(len(stream)):  # one byte at a time: no split loses anything
        events += r.feed(stream[i : i + 1])
    kinds = [(e.kind, e.payload) for e in events]
    assert kinds == [
        ("ack", b""),
        ("packet", b"qC"),
        ("interrupt", b""),
        ("nack", b""),
        ("bad", b"g"),
        ("bad", b"m0,4"),
        ("packet", b"?"),
    ]
    assert "checksum" in events[4].problem


# ---- a client over TCP ---------------------------------------------------------------------------


class Client:
    """A minimal GDB: send a packet, read the reply, ack in ack mode."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.reader = Reader()
        self.events: list = []
        self.acks = True

    def _next(self):
        while not self.events:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("the stub closed the connection")
            self.events += self.reader.feed(data)
        return self.events.pop(0)

    def raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> bytes:
        while True:
            event = self._next()
            if event.kind == "packet":
                if self.acks:
                    self.raw(b"+")
                return event.payload
            assert event.kind in ("ack", "nack", "bad"), event

    def ask(self, payload: bytes) -> bytes:
        self.raw(frame(payload))
        return self.reply()

    def expect_nack(self, data: bytes) -> None:
        self.raw(data)
        assert self._next().kind == "nack"

    def close(self) -> None:
        self.sock.close()


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


class Emulator:
    """`python -m emulator run ... --gdb 0` in the background; the port from its stderr."""

    def __init__(self, args: list[str], out: Path):
        self.out = out
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulator", "run", *args, "--gdb", "0", "--quiet", "--out", out],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
            cwd=ROOT,
        )
        self.stderr = ""

    def port(self, waiting: str = "port") -> int:
        """Wait for the stub's line naming its port."""
        deadline = time.monotonic() + TIMEOUT * 3  # the first run may build the app
        assert self.proc.stderr is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stderr], [], [], 1)
            if ready:
                line = self.proc.stderr.readline()
                self.stderr += line
                match = re.search(r"port (\d+)", line)
                if match and waiting in line:
                    return int(match.group(1))
                if not line and self.proc.poll() is not None:
                    break
        self.proc.kill()
        raise AssertionError(f"no port announced; stderr so far:\n{self.stderr}")

    def finish(self) -> tuple[int, str]:
        _, err = self.proc.communicate(timeout=TIMEOUT * 3)
        self.stderr += err
        return self.proc.returncode, self.stderr

    def summary(self) -> dict:
        return json.loads((self.out / "summary.json").read_text())

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=TIMEOUT)


@pytest.fixture
def emulators():
    started: list[Emulator] = []

    def start(args: list[str], out: Path) -> Emulator:
        e = Emulator(args, out)
        started.append(e)
        return e

    yield start
    for e in started:
        e.kill()


def _same_run(with_gdb: dict, without: dict) -> None:
    """summary.json of a run under GDB equals the run without it, but wall time (and mips)
    and the run directory."""
    skip = {"wall_seconds", "mips"}
    a = {k: v for k, v in with_gdb.items() if k not in skip}
    b = {k: v for k, v in without.items() if k not in skip}
    a["options"].pop("out")
    b["options"].pop("out")
    assert a == b


def _plain_run(args: list[str], out: Path) -> dict:
    r = cli("run", *args, "--quiet", "--out", str(out), timeout=TIMEOUT * 5)
    assert r.returncode == 0, r.stderr
    return json.loads((out / "summary.json").read_text())


def _register(client: Client, number: int) -> int:
    return int.from_bytes(bytes.fromhex(client.ask(b"p%x" % number).decode()), "little")


# ---- the protocol, as a client sees it -----------------------------------------------------------


def test_protocol_session(tmp_path, emulators):
    image = Image(build("hello", defines={"HELLO_ITERS": "200"}))
    emu = emulators([*HELLO, "--harts", "2", "--gdb-wait"], tmp_path / "gdb")
    client = Client(emu.port("waiting"))
    # broken packets are refused with '-', and the stub goes on
    client.expect_nack(b"$qC#00")
    features = client.ask(b"qSupported:swbreak+;hwbreak+;xmlRegisters=riscv")
    assert b"qXfer:features:read+" in features and b"vContSupported+" in features
    # what the stub does not know gets the empty reply
    assert client.ask(b"qNoSuchQuery") == b""
    assert client.ask(b"y") == b""
    assert client.ask(b"vMustReplyEmpty") == b""
    # threads: one per hart; a thread that does not exist is an error
    assert client.ask(b"qfThreadInfo") == b"m1,2"
    assert client.ask(b"qsThreadInfo") == b"l"
    assert client.ask(b"T2") == b"OK"
    assert client.ask(b"T9") == b"E01"
    assert client.ask(b"Hg9") == b"E01"
    assert client.ask(b"qThreadExtraInfo,9") == b"E01"
    assert client.ask(b"vCont;s:9") == b"E01"
    assert bytes.fromhex(client.ask(b"qThreadExtraInfo,2").decode()).startswith(b"hart 1")
    assert client.ask(b"?") == b"T05thread:1;"
    # the target description, read in pieces
    xml, offset = b"", 0
    while True:
        chunk = client.ask(b"qXfer:features:read:target.xml:%x,100" % offset)
        xml += unescape(chunk[1:])
        offset += len(unescape(chunk[1:]))
        if chunk[:1] == b"l":
            break
        assert chunk[:1] == b"m"
    root = ET.fromstring(xml)
    assert root.findtext("architecture") == "riscv:rv64"
    names = {f.get("name") for f in root.iter("feature")}
    assert {"org.gnu.gdb.riscv.cpu", "org.gnu.gdb.riscv.fpu", "org.gnu.gdb.riscv.csr"} <= names
    assert client.ask(b"qXfer:features:read:other.xml:0,100") == b"E00"
    threads = ET.fromstring(unescape(client.ask(b"qXfer:threads:read::0,1000")[1:]))
    assert [t.get("id") for t in threads] == ["1", "2"]
    # no-ack mode from here on
    assert client.ask(b"QStartNoAckMode") == b"OK"
    client.acks = False
    # registers: g holds x0-x31 and pc; every hart starts at the entry with a0 = its id
    g = client.ask(b"g")
    assert len(g) == G_REGISTERS * 16
    assert int.from_bytes(bytes.fromhex(g[-16:].decode()), "little") == image.entry
    assert client.ask(b"Hg2") == b"OK"
    assert _register(client, 10) == 1  # a0 of hart 1
    assert _register(client, FIRST_CSR + 0xF14) == 1  # mhartid
    assert client.ask(b"p9999") == b"E45"
    assert client.ask(b"pzz") == b"E22"
    # memory: the image's bytes; unmapped memory and malformed requests are errors
    assert client.ask(b"m%x,4" % image.entry) == image.read(image.entry, 4).hex().encode()
    assert client.ask(b"m0,4") == b"E14"
    assert client.ask(b"mzz") == b"E22"
    # a breakpoint, a continue, a step
    main = image.symbol("app_main").address
    assert client.ask(b"Z0,%x,2" % main) == b"OK"
    client.raw(frame(b"vCont;c"))
    stop = client.reply()
    assert stop.startswith(b"T05thread:") and b"swbreak:;" in stop
    assert _register(client, PC_REGNUM) == main
    assert client.ask(b"z0,%x,2" % main) == b"OK"
    thread = int(stop.split(b"thread:")[1].split(b";")[0], 16)
    client.raw(frame(b"vCont;s:%x;c" % thread))
    assert client.reply() == b"T05thread:%x;" % thread
    assert _register(client, PC_REGNUM) != main
    # watchpoints: a read, then a write, of a counter every hart increments under a lock
    counter = image.symbol("spin_count").address
    for kind, reason in ((3, b"rwatch"), (2, b"watch"), (4, b"awatch")):
        assert client.ask(b"Z%d,%x,8" % (kind, counter)) == b"OK"
        client.raw(frame(b"vCont;c"))
        stop = client.reply()
        assert re.fullmatch(rb"T05thread:[12];%s:%x;" % (reason, counter), stop), stop
        assert client.ask(b"z%d,%x,8" % (kind, counter)) == b"OK"
    assert client.ask(b"Z9,0,4") == b""  # a kind it does not know
    assert client.ask(b"D") == b"OK"
    status, err = emu.finish()
    assert status == 0, err
    assert "Traceback" not in err
    _same_run(emu.summary(), _plain_run([*HELLO, "--harts", "2"], tmp_path / "plain"))


def test_ebreak_goes_to_the_debugger_when_attached(tmp_path, emulators):
    args = ["--app", "traps", "-D", "TRAPS_EBREAK=1"]
    alone = cli("run", *args, "--quiet", "--out", str(tmp_path / "alone"), timeout=TIMEOUT * 5)
    assert alone.returncode == Status.FAULT, alone.stderr  # to the guest, which has no handler
    emu = emulators([*args, "--gdb-wait"], tmp_path / "gdb")
    client = Client(emu.port("waiting"))
    client.raw(frame(b"vCont;c"))
    assert client.reply() == b"T05thread:1;"
    pc = _register(client, PC_REGNUM)
    image = Image(build("traps", defines={"TRAPS_EBREAK": "1"}))
    ebreak, c_ebreak = (0x00100073).to_bytes(4, "little"), (0x9002).to_bytes(2, "little")
    assert image.read(pc - 2, 2) == c_ebreak or image.read(pc - 4, 4) == ebreak  # past it
    client.raw(frame(b"k"))  # kill has no reply
    status, err = emu.finish()
    assert status == Status.KILLED, err
    assert emu.summary()["outcome"] == "killed"


@pytest.mark.parametrize(
    "schedule",
    [
        ["--schedule", "random", "--quantum", "7", "--seed", "3"],
        ["--schedule", "preempt-atomics", "--quantum", "50", "--seed", "1", "--atomics"],
    ],
)
def test_many_stops_leave_the_run_unchanged(tmp_path, emulators, schedule):
    """Breakpoints, steps of every hart, a watchpoint, under schedules that switch often (and
    at atomics): the summary and digest are the run's without GDB."""
    image = Image(build("alloc-seq", "bbuddy-spin"))
    args = [*ALLOC_SEQ, "--harts", "3", *schedule]
    emu = emulators([*args, "--gdb-wait"], tmp_path / "gdb")
    client = Client(emu.port("waiting"))
    malloc = image.symbol("uk_malloc").address
    assert b"swbreak+" in client.ask(b"qSupported:swbreak+")
    assert client.ask(b"Z0,%x,2" % malloc) == b"OK"
    for _ in range(3):
        client.raw(frame(b"vCont;c"))
        stop = client.reply()
        assert stop.startswith(b"T05thread:") and b"swbreak" in stop, stop
        thread = int(stop.split(b"thread:")[1].split(b";")[0], 16)
        assert client.ask(b"z0,%x,2" % malloc) == b"OK"  # step over it, as GDB does
        for tid in (thread, 1, 2, 3):
            client.raw(frame(b"vCont;s:%x;c" % tid))
            assert client.reply() == b"T05thread:%x;" % tid
        assert client.ask(b"Z0,%x,2" % malloc) == b"OK"
    assert client.ask(b"z0,%x,2" % malloc) == b"OK"
    assert client.ask(b"D") == b"OK"
    status, err = emu.finish()
    assert status == 0, err
    _same_run(emu.summary(), _plain_run(args, tmp_path / "plain"))


@pytest.mark.parametrize(
    "app, symbol, opcode",
    [
        ("treiber", "top", "sc"),  # an SC, which the machine executes itself
        ("hello", "spin", "amoswap"),  # an AMO, which unicorn executes
    ],
)
def test_watchpoints_see_atomic_writes(tmp_path, emulators, app, symbol, opcode):
    image = Image(build(app))
    emu = emulators(["--app", app, "--harts", "2", "--gdb-wait"], tmp_path / "g")
    client = Client(emu.port("waiting"))
    address = image.symbol(symbol).address
    assert client.ask(b"Z2,%x,8" % address) == b"OK"
    for _ in range(20):  # the first writes may be plain stores (initialisation)
        client.raw(frame(b"vCont;c"))
        stop = client.reply()
        assert re.fullmatch(rb"T05thread:[12];watch:%x;" % address, stop), stop
        pc = _register(client, PC_REGNUM)
        word = int.from_bytes(bytes.fromhex(client.ask(b"m%x,4" % pc).decode()), "little")
        if word & 0x7F == 0x2F:  # the A extension's opcode: GDB sees the instruction, not a trap
            break
    funct5 = word >> 27
    assert funct5 == {"sc": 3, "amoswap": 1}[opcode], hex(word)
    assert client.ask(b"z2,%x,8" % address) == b"OK"
    assert client.ask(b"D") == b"OK"
    status, err = emu.finish()
    assert status == 0, err


def test_ctrl_c_stops_a_running_machine(tmp_path, emulators):
    args = ["--app", "runaway", "--harts", "2", "--max-instructions", "1e10"]
    emu = emulators([*args, "--gdb-wait"], tmp_path / "g")
    client = Client(emu.port("waiting"))
    client.raw(frame(b"vCont;c"))
    time.sleep(0.2)
    client.raw(b"\x03")
    stop = client.reply()
    assert re.fullmatch(rb"T02thread:[12];", stop), stop
    client.raw(frame(b"k"))
    status, err = emu.finish()
    assert status == Status.KILLED, err
    assert emu.summary()["total_instructions"] > 0


def test_a_client_connecting_mid_run_stops_it(tmp_path, emulators):
    emu = emulators(["--app", "runaway", "--max-instructions", "1e10"], tmp_path / "g")
    client = Client(emu.port("listening"))
    assert client.ask(b"?") == b"T02thread:1;"
    assert client.ask(b"qC") == b"QC1"
    client.raw(frame(b"k"))
    status, err = emu.finish()
    assert status == Status.KILLED, err


# ---- the real client -----------------------------------------------------------------------------


@pytest.mark.skipif(GDB is None, reason="gdb-multiarch is not installed")
def test_gdb_multiarch_session_leaves_the_run_unchanged(tmp_path, emulators):
    """On 4 harts: threads, a breakpoint on uk_palloc, backtrace, the allocator's struct by its
    DWARF type, x/, stepi, a write watchpoint that fires on a remote free, detach; then the
    run's summary is the run's without GDB."""
    image = build("alloc-seq", "bbuddy-spin")
    emu = emulators([*ALLOC_SEQ, "--harts", "4", "--gdb-wait"], tmp_path / "gdb")
    port = emu.port("waiting")
    commands = [
        f"target remote :{port}",
        "info threads",
        "break uk_palloc",
        "continue",
        "bt",
        "print *(struct bbuddy *)default_alloc",
        "x/4xg $sp",
        "stepi",
        "delete",
        # hart 1 frees the block hart 0 allocated (alloc-seq's handoff): a remote free
        "break uk_free thread 2",
        "continue",
        "delete",
        "watch ((struct bbuddy *)default_alloc)->nr_free_pages",
        "continue",
        "bt",
        "detach",
    ]
    script = tmp_path / "session.gdb"
    script.write_text("\n".join(commands) + "\n")
    out = subprocess.run(
        [GDB, "-nx", "-batch", "-x", str(script), str(image)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 2,
        check=False,
    )
    text = out.stdout + out.stderr
    assert "Error" not in text, text
    for hart in range(4):
        assert f'Thread {hart + 1} "hart {hart}"' in text, text
    assert 'Thread 1 "hart 0" hit Breakpoint 1, uk_palloc' in text, text
    assert re.search(r"#\d+ .* app_main \(hart=0", text), text
    assert "free_head = {" in text and "nr_free_pages = " in text, text
    assert re.search(r"0x[0-9a-f]+:\s+0x[0-9a-f]{16}\s+0x[0-9a-f]{16}", text), text
    assert 'Thread 2 "hart 1" hit Breakpoint 2, uk_free' in text, text
    assert 'Thread 2 "hart 1" hit Hardware watchpoint 3' in text, text
    assert "in bbuddy_pfree" in text and "hart1 ()" in text, text  # the remote free, on hart 1
    assert "detached" in text, text
    status, err = emu.finish()
    assert status == 0, err
    _same_run(emu.summary(), _plain_run([*ALLOC_SEQ, "--harts", "4"], tmp_path / "plain"))


# ---- --gdb-at ------------------------------------------------------------------------------------


def test_gdb_at_violation_stops_where_the_oracle_did(tmp_path, emulators):
    args = ["--app", "alloc-faults", "--config", "bbuddy-spin", "-D", "FAULT=double_free"]
    emu = emulators([*args, "--harts", "2", "--gdb-at", "violation"], tmp_path / "gdb")
    client = Client(emu.port("violation"))
    stop = client.ask(b"?")
    assert stop.startswith(b"T05thread:")
    pc = _register(client, PC_REGNUM)
    client.raw(frame(b"c"))
    assert client.reply() == b"W%02x" % Status.VIOLATION
    assert client.ask(b"?") == b"W%02x" % Status.VIOLATION  # the run is over
    assert client.ask(b"g") == b"E01"
    client.close()
    status, err = emu.finish()
    assert status == Status.VIOLATION, err
    violation = emu.summary()["violation"]
    assert pc == int(violation["pc"], 16)
    assert stop == b"T05thread:%x;" % (violation["hart"] + 1)


def test_gdb_at_symbol_stops_at_its_kth_entry_and_kill_ends_the_run(tmp_path, emulators):
    image = Image(build("alloc-seq", "bbuddy-spin"))
    emu = emulators([*ALLOC_SEQ, "--harts", "2", "--gdb-at", "symbol:uk_palloc:2"], tmp_path)
    client = Client(emu.port("uk_palloc"))
    assert client.ask(b"?").startswith(b"T05thread:")
    assert _register(client, PC_REGNUM) == image.symbol("uk_palloc").address
    client.raw(frame(b"k"))
    status, err = emu.finish()
    assert status == Status.KILLED, err
    summary = emu.summary()
    assert summary["outcome"] == "killed" and "killed by GDB" in summary["message"]


def test_gdb_at_instruction_stops_after_exactly_n(tmp_path, emulators):
    n = 123_457
    emu = emulators([*ALLOC_SEQ, "--harts", "3", "--gdb-at", f"instruction:{n}"], tmp_path / "g")
    client = Client(emu.port("instruction"))
    counts = []
    for tid in (1, 2, 3):
        text = bytes.fromhex(client.ask(b"qThreadExtraInfo,%x" % tid).decode()).decode()
        counts.append(int(re.search(r"(\d+) instructions", text).group(1)))
    assert sum(counts) == n
    assert client.ask(b"D") == b"OK"
    status, err = emu.finish()
    assert status == 0, err
    _same_run(emu.summary(), _plain_run([*ALLOC_SEQ, "--harts", "3"], tmp_path / "plain"))


# ---- going away, and bad input -------------------------------------------------------------------


@pytest.mark.parametrize("choice", ["go-on", "end"])
def test_gdb_going_away_mid_run(tmp_path, emulators, choice):
    emu = emulators([*HELLO, "--gdb-wait", "--gdb-disconnect", choice], tmp_path / "g")
    client = Client(emu.port("waiting"))
    assert client.ask(b"?") == b"T05thread:1;"
    client.close()
    status, err = emu.finish()
    assert "Traceback" not in err
    assert "GDB disconnected" in err
    if choice == "go-on":
        assert status == 0, err
    else:
        assert status == Status.KILLED, err
        assert emu.summary()["outcome"] == "killed"


def test_a_port_in_use_is_bad_input(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = cli("run", *HELLO, "--gdb", str(port), "--out", str(tmp_path / "r"), timeout=TIMEOUT)
    assert r.returncode == Status.BAD_INPUT
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--gdb {port}: port in use" in lines[0], r.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "args, said",
    [
        (["--gdb-wait"], "--gdb-wait is for the GDB stub: add --gdb PORT"),
        (["--gdb-at", "fault"], "--gdb-at is for the GDB stub"),
        (["--gdb", "0", "--gdb-at", "somewhere"], "--gdb-at want violation|fault"),
        (["--gdb", "0", "--gdb-at", "instruction:x"], "instruction:N wants a number"),
        (["--gdb", "0", "--gdb-at", "symbol:no_such_fn"], "no such symbol"),
        (["--gdb", "0", "--gdb-wait", "--gdb-at", "fault"], "give one"),
        (["--gdb", "70000"], "--gdb must be between 0 and 65535"),
    ],
)
def test_bad_gdb_options(tmp_path, args, said):
    r = cli("run", *HELLO, *args, "--out", str(tmp_path / "r"), timeout=TIMEOUT * 3)
    assert r.returncode == Status.BAD_INPUT, r.stderr
    assert said in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_explore_prints_the_command_that_stops_a_failure_for_gdb(tmp_path):
    args = ["--app", "alloc-faults", "--config", "bbuddy-spin", "-D", "FAULT=double_free"]
    r = cli("explore", *args, "--harts", "2", "--seeds", "1", "--jobs", "1", "--out", str(tmp_path))
    assert r.returncode == 1, r.stderr
    debug = [line for line in r.stdout.splitlines() if line.startswith("debug:")]
    assert len(debug) == 1, r.stdout
    assert debug[0].endswith("--gdb 1234 --gdb-at violation")
    assert "python -m emulator run --app alloc-faults" in debug[0]
