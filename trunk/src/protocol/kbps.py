"""Byte counters and their 30 s kbps average (SRS's srs_protocol_kbps.cpp SrsKbps), for the
HTTP API's statistic of the server, its vhosts, streams and clients.

Sans-IO: the caller adds the bytes it moved and calls ``sample(now_ms)`` with its clock.
"""
from __future__ import annotations

import collections

# kbps over this window, as SRS's *_30s figures.
KBPS_WINDOW_MS = 30 * 1000


class Kbps:
    """Cumulative byte counters plus a sliding window of samples for the 30 s average."""

    __slots__ = ("recv_bytes", "send_bytes", "_samples")

    def __init__(self):
        self.recv_bytes = 0
        self.send_bytes = 0
        self._samples: collections.deque = collections.deque()  # (time_ms, recv, send)

    def add(self, recv: int, send: int) -> None:
        self.recv_bytes += recv
        self.send_bytes += send

    def sample(self, now_ms: int) -> None:
        self._samples.append((now_ms, self.recv_bytes, self.send_bytes))
        # keep one sample at or before the window start so the average spans the whole window
        while len(self._samples) > 2 and self._samples[1][0] <= now_ms - KBPS_WINDOW_MS:
            self._samples.popleft()

    def _kbps(self, index: int) -> int:
        if len(self._samples) < 2:
            return 0
        first, last = self._samples[0], self._samples[-1]
        elapsed_ms = last[0] - first[0]
        if elapsed_ms <= 0:
            return 0
        # bytes * 8 / ms = kbit/s
        return int((last[index] - first[index]) * 8 / elapsed_ms)

    @property
    def recv_kbps_30s(self) -> int:
        return self._kbps(1)

    @property
    def send_kbps_30s(self) -> int:
        return self._kbps(2)

    def dumps(self) -> dict:
        return {"recv_30s": self.recv_kbps_30s, "send_30s": self.send_kbps_30s}


class RecentKbps:
    """A client's recent kbps without a per-client timer or sample list: two checkpoints, the older one
    between one and two windows back, moved forward when read (the server samples streams and vhosts on
    its tick; there may be 10,000 clients, read only when the API lists them).

    The rate spans from the older checkpoint to now: the whole life of a client younger than a window,
    else 30 to 60 s (more when nobody read it for longer, which is still the most recent figure it has).
    """

    __slots__ = ("_old", "_new")

    def __init__(self, now_ms: int):
        self._old = self._new = (now_ms, 0, 0)

    def read(self, now_ms: int, recv_bytes: int, send_bytes: int) -> dict:
        if now_ms - self._new[0] >= KBPS_WINDOW_MS:
            self._old, self._new = self._new, (now_ms, recv_bytes, send_bytes)
        t0, recv0, send0 = self._old
        elapsed_ms = now_ms - t0
        if elapsed_ms <= 0:
            return {"recv_30s": 0, "send_30s": 0}
        return {"recv_30s": (recv_bytes - recv0) * 8 // elapsed_ms, "send_30s": (send_bytes - send0) * 8 // elapsed_ms}
