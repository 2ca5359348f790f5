"""SRT play: a consumer of a live source whose "socket" is one SRT connection.

The TS comes from the source's shared TS remux (app/http/remux.py ``RemuxEncoder``, the HTTP-TS
players' one, keyed ("ts", False)): muxed ONCE per stream for every SRT and HTTP-TS player, and cut
ONCE into payloads of ``payload_size`` (7 x 188 by default, SRS's; ``_Cut``). Each player's
connection only numbers them (a 16-byte header each) and, with a passphrase, encrypts them: what
SRT makes per peer.

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


class _Cut:
    """The last write cut into payloads, shared by every player it goes to: the source's tick
    writes the same bytes object to each member of the TS group in turn, so the first player cuts
    and the others (same object, same payload size) reuse the slices. One entry is enough: a tick
    finishes a group before the next; a reference is held, so the identity is never reused."""

    __slots__ = ("data", "size", "chunks")

    def __init__(self):
        self.data, self.size, self.chunks = None, 0, ()

    def cut(self, data, size: int):
        if data is not self.data or size != self.size:
            view = memoryview(data)
            self.chunks = [bytes(view[i:i + size]) for i in range(0, len(view), size)]
            self.data, self.size = data, size
        return self.chunks


_CUT = _Cut()


class SrtPlayOutput:
    __slots__ = ("conn", "send_datagrams", "clock_us", "payload_size", "closed", "sent_bytes",
                 "on_close", "cid")

    backlog_bytes = 0   # never a backlog: the source never shrinks an SRT player
    blocked = False

    def __init__(self, conn, send_datagrams: Callable[[list, tuple], None], clock_us: Callable[[], int],
                 payload_size: int, cid: int = 0, on_close: Optional[Callable[[], None]] = None):
        self.conn = conn
        self.send_datagrams = send_datagrams
        self.clock_us = clock_us
        self.payload_size = payload_size - payload_size % TS_PACKET
        self.closed = False
        self.sent_bytes = 0
        self.on_close = on_close
        self.cid = cid

    def write(self, data) -> None:
        """Cut into payloads (once per stream, ``_Cut``) and send now; the last one of a write may
        be shorter (whole TS packets still: the remux writes whole packets)."""
        if self.closed or not data:
            return
        conn = self.conn
        self.send_datagrams(conn.send_all(_CUT.cut(data, self.payload_size), self.clock_us()), conn.peer)
        self.sent_bytes += len(data)

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
