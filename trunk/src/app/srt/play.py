"""SRT play: a consumer of a live source whose "socket" is one SRT connection.

The TS comes from the source's shared TS remux (app/http/remux.py ``RemuxEncoder``, the HTTP-TS
players' one, keyed ("ts", False)): muxed ONCE per stream for every SRT and HTTP-TS player. Each
player only cuts those bytes into payloads of ``payload_size`` (7 x 188 by default, SRS's), and its
connection numbers (and, with a passphrase, encrypts) them: what SRT makes per peer.

``SrtPlayOutput`` is the ``Output`` the source's tick writes to: it never blocks and keeps no
backlog. A datagram the kernel does not take is not queued here: the SRT sender already holds it
(bounded by its capacity) and the player's NAK gets it retransmitted, so a slow SRT player costs
its own send buffer and nothing else.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional

log = logging.getLogger(__name__)

TS_PACKET = 188


class SrtPlayOutput:
    __slots__ = ("conn", "send_datagram", "clock_us", "payload_size", "closed", "sent_bytes",
                 "on_close", "cid")

    backlog_bytes = 0   # never a backlog: the source never shrinks an SRT player
    blocked = False

    def __init__(self, conn, send_datagram: Callable[[bytes, tuple], None], clock_us: Callable[[], int],
                 payload_size: int, cid: int = 0, on_close: Optional[Callable[[], None]] = None):
        self.conn = conn
        self.send_datagram = send_datagram
        self.clock_us = clock_us
        self.payload_size = payload_size - payload_size % TS_PACKET
        self.closed = False
        self.sent_bytes = 0
        self.on_close = on_close
        self.cid = cid

    def write(self, data) -> None:
        """Cut into payloads and send now; the last one of a write may be shorter (whole TS
        packets still: the remux writes whole packets)."""
        if self.closed or not data:
            return
        view = memoryview(data)
        size = self.payload_size
        conn, send, peer, now = self.conn, self.send_datagram, self.conn.peer, self.clock_us()
        for i in range(0, len(view), size):
            send(conn.send(bytes(view[i:i + size]), now), peer)
        self.sent_bytes += len(view)

    def write_blocking(self, data) -> None:
        self.write(data)

    def drop_backlog(self, keep) -> int:
        return 0

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        cb, self.on_close = self.on_close, None
        if cb is not None:
            cb()
