"""The SRT side of srs-bench: many SRT callers over a few UDP sockets (sb_srt_publish, sb_srt_load).

A ``Hub`` is one UDP socket and one reader greenlet; every caller on it has its own SRT socket id,
and the reader hands each datagram to the caller its destination id names (the server keys its
peers by address *and* socket id, so callers can share a socket, and one process can drive a
thousand of them without a greenlet switch per datagram). The handshake is our sans-IO caller
(srs.protocol.srt.caller), resent until answered as libsrt does.

Publishers keep a full ``SrtConnection`` (retransmission on NAK, ACKACK, keep-alive); players only
count: bytes and packets per player, sequence gaps as losses, and a light ACK every 64 packets
(libsrt's light-ACK cadence), which also keeps the server's idle timer fed.
"""
from __future__ import annotations

import os
import socket
import struct
import time
from typing import Callable, Dict, Optional

import gevent
from gevent.event import Event
from gevent.socket import wait_read

from srs.app.srt.server import set_buffers
from srs.protocol.srt.caller import SrtCaller
from srs.protocol.srt.errors import SrtError
from srs.protocol.srt.packet import ACK, HANDSHAKE, SHUTDOWN, ControlPacket, parse_packet

HANDSHAKE_RESEND_S = 0.25     # libsrt resends its handshake every 250 ms
LIGHT_ACK_EVERY = 64
_HEADER = struct.Struct(">IIII")


def now_us() -> int:
    return time.monotonic_ns() // 1000


def srt_target(url: str) -> tuple:
    """``srt://host:port?streamid=...`` -> ((host, port), streamid); ``{i}`` already replaced."""
    if not url.startswith("srt://"):
        raise ValueError(f"not an srt:// URL: {url}")
    rest = url[6:]
    hostport, _, query = rest.partition("?")
    host, _, port = hostport.rpartition(":")
    sid = ""
    for part in query.split("&") if query else []:
        if part.startswith("streamid="):
            sid = part[len("streamid="):]
    return (host or "127.0.0.1", int(port or 10080)), sid


def random_id() -> int:
    return int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF or 1


class Hub:
    """One UDP socket shared by many callers; ``handlers[our socket id](buf, n)`` gets each datagram."""

    def __init__(self, server: tuple):
        self.server = server
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        set_buffers(sock)   # the server's rule: forced past the system cap where allowed
        sock.connect(server)
        self.sock = sock
        self.raw = getattr(sock, "_sock", sock)   # the C-level socket: no greenlet switch per call
        self.raw.setblocking(False)
        self.handlers: Dict[int, Callable] = {}
        self.send_errors = 0
        self.reader = gevent.spawn(self._run)

    def send(self, data) -> None:
        try:
            self.raw.send(data)
        except OSError:
            self.send_errors += 1   # a full buffer: SRT's ARQ (or the next ACK) covers it

    def _run(self) -> None:
        buf = bytearray(2048)
        raw, handlers, unpack = self.raw, self.handlers, _HEADER.unpack_from
        fd = raw.fileno()
        while True:
            wait_read(fd)
            while True:
                try:
                    n = raw.recv_into(buf)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    continue   # ICMP unreachable while the server restarts
                if n < 16:
                    continue
                h = handlers.get(unpack(buf)[3])
                if h is not None:
                    h(buf, n)

    def connect(self, streamid: str, latency_ms: int = 120, timeout_s: float = 10.0) -> SrtCaller:
        """The handshake for one caller (in its own greenlet); SrtRejected or TimeoutError."""
        caller = SrtCaller(random_id(), random_id(), streamid, latency_ms)
        while caller.socket_id in self.handlers:
            caller = SrtCaller(random_id(), random_id(), streamid, latency_ms)
        done = Event()
        failure = []

        def on_handshake(buf, n) -> None:
            try:
                pkt = parse_packet(bytes(buf[:n]))
                if not isinstance(pkt, ControlPacket) or pkt.type != HANDSHAKE:
                    return
                reply = caller.on_handshake(pkt, now_us())
            except SrtError as e:
                failure.append(e)
                done.set()
                return
            if reply is not None:
                self.send(reply)
            elif caller.done:
                done.set()

        self.handlers[caller.socket_id] = on_handshake
        try:
            deadline = time.monotonic() + timeout_s
            while not done.is_set():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"SRT handshake with {self.server} timed out")
                self.send(caller.conclusion() if caller.cookie else caller.induction(now_us()))
                done.wait(HANDSHAKE_RESEND_S)
            if failure:
                raise failure[0]
            return caller
        finally:
            self.handlers.pop(caller.socket_id, None)

    def close(self) -> None:
        self.reader.kill()
        self.sock.close()


class Hubs:
    """Callers spread over sockets: ``per_socket`` callers each (a new socket every that many)."""

    def __init__(self, per_socket: int):
        self.per_socket = max(1, per_socket)
        self.hubs: Dict[tuple, list] = {}

    def get(self, server: tuple, index: int) -> Hub:
        hubs = self.hubs.setdefault(server, [])
        k = index // self.per_socket
        while len(hubs) <= k:
            hubs.append(None)
        if hubs[k] is None:
            hubs[k] = Hub(server)
        return hubs[k]


class PlayCounter:
    """One SRT player that only counts: bytes, packets, gaps; a light ACK every 64 packets."""

    __slots__ = ("hub", "peer_id", "next_seq", "bytes", "pkts", "lost", "closed", "_acked", "_t0")

    def __init__(self, hub: Hub, caller: SrtCaller):
        self.hub = hub
        self.peer_id = caller.peer_socket_id
        self.next_seq: Optional[int] = None
        self.bytes = self.pkts = self.lost = 0
        self.closed = Event()
        self._acked = 0
        self._t0 = now_us()

    def on_datagram(self, buf, n: int) -> None:
        w0 = buf[0]
        if w0 & 0x80:
            if (_HEADER.unpack_from(buf)[0] >> 16) & 0x7FFF == SHUTDOWN:
                self.closed.set()
            return
        seq = _HEADER.unpack_from(buf)[0]
        nxt = self.next_seq
        if nxt is not None and seq != nxt:
            gap = (seq - nxt) & 0x7FFFFFFF
            if gap < 0x40000000:
                self.lost += gap
            else:
                return   # a late or retransmitted packet we already counted as lost
        self.next_seq = (seq + 1) & 0x7FFFFFFF
        self.bytes += n - 16
        self.pkts += 1
        if self.pkts - self._acked >= LIGHT_ACK_EVERY:
            self.ack()

    def ack(self) -> None:
        """A light ACK (ack number 0, one word: the next sequence number expected)."""
        self._acked = self.pkts
        if self.next_seq is None:
            return
        ts = (now_us() - self._t0) & 0xFFFFFFFF
        self.hub.send(ControlPacket(ACK, ts, self.peer_id, struct.pack(">I", self.next_seq)).build())
