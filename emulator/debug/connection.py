"""One GDB client on a socket: packets in and out, acks and no-ack mode, Ctrl-C while running.

The stub runs in the machine's own thread: it blocks here while the machine is stopped and
only peeks (`interrupted`) while it runs, so nothing runs beside the machine.
"""

from __future__ import annotations

import contextlib
import select
import socket
from collections import deque

from emulator.debug.packets import Event, Reader, frame

RECV_BYTES = 65536


class Disconnected(Exception):
    """The client closed the connection (or it broke)."""


class Connection:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = Reader()
        self.events: deque[Event] = deque()
        self.acks = True  # until QStartNoAckMode
        self._last_sent = b""
        self.bad_packets = 0  # broken packets received (bad checksum, too long)

    def _fill(self, timeout: float | None) -> bool:
        """Read what has arrived (waiting up to `timeout` seconds; None: until something
        does); False if nothing had."""
        if timeout is not None:
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                return False
        try:
            data = self.sock.recv(RECV_BYTES)
        except OSError as e:
            raise Disconnected(str(e)) from None
        if not data:
            raise Disconnected("the client closed the connection")
        self.events.extend(self.reader.feed(data))
        return True

    def packet(self) -> bytes | None:
        """The next packet's payload, waiting for it; None for an interrupt (0x03)."""
        while True:
            while not self.events:
                self._fill(None)
            event = self.events.popleft()
            if event.kind == "packet":
                if self.acks:
                    self._write(b"+")
                return event.payload
            if event.kind == "interrupt":
                return None
            if event.kind == "bad":
                self.bad_packets += 1
                if self.acks:
                    self._write(b"-")  # the client sends it again
            elif event.kind == "nack" and self.acks and self._last_sent:
                self._write(self._last_sent)

    def interrupted(self) -> bool:
        """Whether the client sent Ctrl-C since the last look (never waits)."""
        if not self.events:
            self._fill(0)
        for i, event in enumerate(self.events):
            if event.kind == "interrupt":
                del self.events[i]
                return True
        return False

    def send(self, payload: bytes) -> None:
        packet = frame(payload)
        self._last_sent = packet
        self._write(packet)

    def _write(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise Disconnected(str(e)) from None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
