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

from srs.protocol.srt.connection import SrtConnection, State
from srs.protocol.srt.errors import SrtError
from srs.protocol.srt.handshake import Handshake, HandshakeListener, ListenerConfig, rejection_reason
from srs.protocol.srt.packet import HANDSHAKE, ControlPacket, DataPacket, parse_packet
from srs.protocol.srt.streamid import MODE_PLAY, parse_streamid

PLAY_INTERVAL_US = 2000  # one payload every 2 ms to players: quick, yet no burst over the socket buffer


def now_us() -> int:
    return time.monotonic_ns() // 1000


class SrtHarness:
    def __init__(self, config: ListenerConfig | None = None, play_payloads=(), linger_us=1_000_000,
                 lose_every: int = 0):
        self.listener = HandshakeListener(config or ListenerConfig(), os.urandom(16))
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
        self.by_peer = {}      # (addr, peer socket id) -> connection
        self.by_id = {}        # our socket id -> connection
        self.received = {}     # stream id -> bytearray of delivered payloads
        self.payload_sizes = set()
        self.accepted = []     # stream ids
        self.rejections = []   # bytes of rejection handshakes sent
        self.closed = []       # (stream id, close reason, stats)
        self.dropped = 0       # datagrams that raised SrtError
        self._play = {}        # connection -> index of the next payload
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.changed = threading.Condition()

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
            wake = min([c.next_timer_us() for c in self.by_id.values()] + [t + 20_000])
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

    def _send(self, datagrams, addr):
        for d in datagrams:
            self.sock.sendto(d, addr)

    def _on_datagram(self, data, addr, t):
        try:
            pkt = parse_packet(data)
            if pkt.dst_id == 0:
                self._on_handshake(pkt, addr, t)
                return
            conn = self.by_id.get(pkt.dst_id)
            if conn is None or conn.peer != addr:
                raise SrtError(f"no connection {pkt.dst_id:#x}")
            if self.lose_every and isinstance(pkt, DataPacket) and not pkt.retransmitted:
                self._originals_in += 1
                if self._originals_in % self.lose_every == 0:
                    self.lost_in += 1
                    return
            self._send(conn.on_packet(pkt, t), addr)
        except SrtError:
            self.dropped += 1

    def _on_handshake(self, pkt, addr, t):
        if not isinstance(pkt, ControlPacket) or pkt.type != HANDSHAKE:
            raise SrtError("non-handshake to socket id 0")
        reply, req = self.listener.on_handshake(pkt, addr, t)
        if req is None:
            if reply is not None:
                self.sock.sendto(reply, addr)
                if rejection_reason(Handshake.parse(parse_packet(reply).cif)) is not None:
                    with self.changed:
                        self.rejections.append(reply)
                        self.changed.notify_all()
            return
        conn = self.by_peer.get((addr, req.peer_socket_id))
        if conn is None:
            sid = int.from_bytes(os.urandom(4), "big") & 0x3FFFFFFF or 1
            conn = SrtConnection(self.listener, req, sid, t)
            self.by_peer[(addr, req.peer_socket_id)] = conn
            self.by_id[sid] = conn
            with self.changed:
                self.accepted.append(req.streamid)
                self.received.setdefault(req.streamid, bytearray())
                self.changed.notify_all()
            if parse_streamid(req.streamid).mode == MODE_PLAY:
                self._play[conn] = [0, t]
        self.sock.sendto(conn.response, addr)

    def _tick(self, t):
        for conn in list(self.by_id.values()):
            if conn.state is State.CONNECTED and conn.next_timer_us() <= t:
                self._send(conn.on_timer(t), conn.peer)
            payloads = conn.take_payloads()
            if payloads:
                with self.changed:
                    buf = self.received[conn.streamid]
                    for p in payloads:
                        buf += p
                        self.payload_sizes.add(len(p))
                    self.changed.notify_all()
            play = self._play.get(conn)
            if play is not None and conn.state is State.CONNECTED:
                self._play_some(conn, play, t)
            if conn.state is State.CLOSED:
                self._forget(conn)

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
        if index == len(self.play_payloads) and t - last >= self.linger_us and not conn.sender.buf:
            self.sock.sendto(conn.close(t), conn.peer)
        elif index == len(self.play_payloads) and t - last >= 5 * self.linger_us:
            self.sock.sendto(conn.close(t), conn.peer)

    def _forget(self, conn):
        self.by_id.pop(conn.socket_id, None)
        self.by_peer.pop((conn.peer, conn.peer_id), None)
        self._play.pop(conn, None)
        with self.changed:
            self.closed.append((conn.streamid, conn.close_reason, conn.stats()))
            self.changed.notify_all()
