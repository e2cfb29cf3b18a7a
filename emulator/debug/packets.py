"""GDB's remote serial protocol on the wire: framing, checksums, acknowledgements, escapes.

A packet is `$payload#cc`, cc the two-hex-digit sum of the payload bytes modulo 256. The
receiver answers `+` (taken) or `-` (send it again) until both sides agree on no-ack mode
(QStartNoAckMode). A lone 0x03 byte outside a packet is an interrupt request (Ctrl-C). Binary
data (X packets in, qXfer replies out) escapes `$`, `#`, `}` and `*` as `}` and the byte XOR 0x20.

`Reader` turns bytes as they arrive into events; it never raises on what a client sends: a
packet with a bad checksum or no end is reported as such, and the stub answers as the protocol
says (a `-`, or an empty or error reply).
"""

from __future__ import annotations

from dataclasses import dataclass

INTERRUPT = 0x03
_ESCAPED = frozenset(b"$#}*")
MAX_PACKET = 0x4000  # PacketSize offered in qSupported; a longer packet is dropped


def checksum(payload: bytes) -> int:
    return sum(payload) & 0xFF


def frame(payload: bytes) -> bytes:
    """The packet that carries `payload` (escape binary data first)."""
    return b"$" + payload + b"#" + b"%02x" % checksum(payload)


def escape(data: bytes) -> bytes:
    out = bytearray()
    for byte in data:
        if byte in _ESCAPED:
            out += bytes((0x7D, byte ^ 0x20))
        else:
            out.append(byte)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    out = bytearray()
    it = iter(data)
    for byte in it:
        if byte == 0x7D:
            following = next(it, None)
            if following is None:
                break
            out.append(following ^ 0x20)
        else:
            out.append(byte)
    return bytes(out)


@dataclass(frozen=True)
class Event:
    """What arrived: a packet (its payload), an ack, a nack, an interrupt, or a packet that
    was broken (`problem` says how)."""

    kind: str  # "packet" | "ack" | "nack" | "interrupt" | "bad"
    payload: bytes = b""
    problem: str = ""


class Reader:
    """Bytes in, events out, across any split of the stream into reads."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Event]:
        self._buffer += data
        events: list[Event] = []
        buf = self._buffer
        while buf:
            first = buf[0]
            if first == ord("+"):
                events.append(Event("ack"))
                del buf[:1]
            elif first == ord("-"):
                events.append(Event("nack"))
                del buf[:1]
            elif first == INTERRUPT:
                events.append(Event("interrupt"))
                del buf[:1]
            elif first == ord("$"):
                end = buf.find(b"#")
                if end < 0:
                    if len(buf) > MAX_PACKET + 4:
                        events.append(Event("bad", problem="packet too long"))
                        del buf[:]
                    break  # the rest has not arrived yet
                if len(buf) < end + 3:
                    break
                payload, digits = bytes(buf[1:end]), bytes(buf[end + 1 : end + 3])
                del buf[: end + 3]
                try:
                    sent = int(digits, 16)
                except ValueError:
                    events.append(Event("bad", payload, f"checksum {digits!r} is not hex"))
                    continue
                if sent != checksum(payload):
                    problem = f"checksum {sent:02x}, computed {checksum(payload):02x}"
                    events.append(Event("bad", payload, problem))
                    continue
                events.append(Event("packet", payload))
            else:  # noise between packets (a client's stray byte): skip to the next start
                following = [i for i in (buf.find(b"$"), buf.find(b"\x03")) if i > 0]
                cut = min(following) if following else len(buf)
                for sign in (b"+", b"-"):
                    at = buf.find(sign)
                    if 0 < at < cut:
                        cut = at
                del buf[:cut]
        return events
