"""A test-only UDP loop around the sans-IO SRT listener: one OS thread, one socket on 127.0.0.1.

It is not the server (that is app/srt, later): it accepts every stream id, keeps what publishers
send per stream id, and plays a list of payloads to every caller whose stream id asks to play.
Real clients (ffmpeg, srt-live-transmit) run as subprocesses against it.
"""
from __future__ import annotations

import os
import select
import socket
import threading
import time

from srs.protocol.srt.connection import State
from srs.protocol.srt.endpoint import ConnectionClosed, ConnectionRequested, SrtEndpoint
from srs.protocol.srt.handshake import Handshake, HandshakeListener, ListenerConfig, rejection_reason
from srs.protocol.srt.packet import HANDSHAKE, ControlPacket, parse_packet, peek_dst_id
from srs.protocol.srt.streamid import MODE_PLAY, parse_streamid

PLAY_INTERVAL_US = 2000  # one payload every 2 ms to players: quick, yet no burst over the socket buffer


def now_us() -> int:
    return time.monotonic_ns() // 1000


def is_rejection(datagram) -> bool:
    pkt = parse_packet(datagram)
    return (isinstance(pkt, ControlPacket) and pkt.type == HANDSHAKE
            and rejection_reason(Handshake.parse(pkt.cif)) is not None)


class SrtHarness:
    def __init__(self, config: ListenerConfig | None = None, play_payloads=(), linger_us=1_000_000,
                 lose_every: int = 0):
        listener = HandshakeListener(config or ListenerConfig(), os.urandom(16))
        self.endpoint = SrtEndpoint(listener, lambda: int.from_bytes(os.urandom(4), "big"))
        self.play_payloads = list(play_payloads)
        self.linger_us = linger_us
        # a lossy link without netem: drop every n-th first transmission of data, in and out
        self.lose_every = lose_every
        self.lost_in = 0
        self.lost_out = 0
        self._originals_in = 0
        self._originals_out = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = {}     # stream id -> bytearray of delivered payloads
        self.payload_sizes = set()
        self.accepted = []     # stream ids
        self.rejections = []   # bytes of rejection handshakes sent
        self.closed = []       # (stream id, close reason, stats)
        self._play = {}        # connection -> [index of the next payload, time it was due]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.changed = threading.Condition()

    @property
    def by_id(self):
        return self.endpoint.connections

    @property
    def dropped(self):
        return self.endpoint.dropped

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def wait(self, predicate, timeout=20.0):
        """Wait until predicate() holds (checked on every state change), else fail."""
        assert self.wait_for(predicate, timeout), "SRT harness: timed out waiting"

    def wait_for(self, predicate, timeout: float) -> bool:
        """Wait up to timeout for predicate() (checked on every state change); whether it holds."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(left)
        return True

    # --- the loop
    def _run(self):
        while not self._stop.is_set():
            t = now_us()
            wake = min(self.endpoint.next_timer_us() or t + 20_000, t + 20_000)
            if self._play:
                wake = min(wake, t + PLAY_INTERVAL_US)
            r, _, _ = select.select([self.sock], [], [], max(0, wake - t) / 1e6)
            if r:
                for _ in range(64):
                    try:
                        data, addr = self.sock.recvfrom(2048, socket.MSG_DONTWAIT)
                    except BlockingIOError:
                        break
                    self._on_datagram(data, addr, now_us())
            self._tick(now_us())

    def _on_datagram(self, data, addr, t):
        if self.lose_every and len(data) > 16 and not data[0] & 0x80 and not data[4] & 0x04:
            conn = self.endpoint.connections.get(peek_dst_id(data))
            if conn is not None and conn.peer == addr:
                self._originals_in += 1
                if self._originals_in % self.lose_every == 0:
                    self.lost_in += 1
                    return
        for reply in self.endpoint.on_datagram(data, addr, t):
            self.sock.sendto(reply, addr)
            if is_rejection(reply):
                with self.changed:
                    self.rejections.append(reply)
                    self.changed.notify_all()
        self._on_events(t)

    def _on_events(self, t):
        for ev in self.endpoint.take_events():
            if isinstance(ev, ConnectionRequested):
                conn = self.endpoint.accept(ev.request, t)
                self.sock.sendto(conn.response, conn.peer)
                with self.changed:
                    self.accepted.append(conn.streamid)
                    self.received.setdefault(conn.streamid, bytearray())
                    self.changed.notify_all()
                if parse_streamid(conn.streamid).mode == MODE_PLAY:
                    self._play[conn] = [0, t]
            elif isinstance(ev, ConnectionClosed):
                conn = ev.connection
                self._take_payloads(conn)
                self._play.pop(conn, None)
                with self.changed:
                    self.closed.append((conn.streamid, conn.close_reason, conn.stats()))
                    self.changed.notify_all()

    def _take_payloads(self, conn):
        payloads = conn.take_payloads()
        if payloads:
            with self.changed:
                buf = self.received[conn.streamid]
                for p in payloads:
                    buf += p
                    self.payload_sizes.add(len(p))
                self.changed.notify_all()

    def _tick(self, t):
        for datagram, addr in self.endpoint.on_timer(t):
            self.sock.sendto(datagram, addr)
        for conn in list(self.endpoint.connections.values()):
            self._take_payloads(conn)
            play = self._play.get(conn)
            if play is not None and conn.state is State.CONNECTED:
                self._play_some(conn, play, t)
        self._on_events(t)

    def _play_some(self, conn, play, t):
        index, last = play
        while index < len(self.play_payloads) and t - last >= PLAY_INTERVAL_US:
            datagram = conn.send(self.play_payloads[index], t)
            self._originals_out += 1
            if self.lose_every and self._originals_out % self.lose_every == 0:
                self.lost_out += 1
            else:
                self.sock.sendto(datagram, conn.peer)
            index, last = index + 1, last + PLAY_INTERVAL_US
        play[0], play[1] = index, last
        done = index == len(self.play_payloads) and t - last >= self.linger_us
        # close once libsrt acknowledged everything and had time to play it (its TSBPD latency)
        if done and (not conn.sender.buf or t - last >= 5 * self.linger_us):
            self.sock.sendto(self.endpoint.close(conn, t), conn.peer)
