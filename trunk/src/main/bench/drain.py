"""The load tools' reader: one epoll loop drains every client's socket once its session is set up.

A greenlet per client costs a hub switch per wakeup, and against servers that write every
message separately (nginx-rtmp, node-media-server: ~70 small writes per second per player) that
made the Python load tool the bottleneck (a whole core for 2000 players) instead of the server.
So the clients set up their sessions as greenlets (handshake, play, HTTP header: once), then
hand the socket here and park; one greenlet waits on the epoll fd itself (gevent watches it like
any socket) and, per wakeup, reads every ready socket with the C-level ``recv_into`` into one
reused buffer: a few hundred nanoseconds of Python per read, no switch.

``--read-size`` pacing (batch reads) parks a socket's epoll registration until its deadline
instead of sleeping a greenlet. A stream ends at EOF, at its byte limit (a file), on an error, or
when ``on_read`` says so; the parked client then returns or raises, as its session would.
"""
from __future__ import annotations

import heapq
import time
from typing import Callable, Dict, List, Optional

import gevent
from gevent.event import AsyncResult
from gevent.monkey import get_original
from gevent.socket import wait_read

READ_BUFFER = 256 * 1024


class ReadPacer:
    """--read-size: after a short read, sleep about as long as the client's own rate needs to
    buffer ``size`` bytes, so each recv takes a batch (fewer wakeups, bigger reads)."""

    __slots__ = ("size", "t0", "got")

    def __init__(self, size: int):
        self.size = size
        self.t0 = time.monotonic()
        self.got = 0

    def after_read(self, n: int) -> float:
        """Seconds to sleep after reading ``n`` bytes (0 when the batch was big enough)."""
        self.got += n
        if self.size <= 0 or n >= self.size:
            return 0.0
        elapsed = time.monotonic() - self.t0
        if elapsed < 1.0 or self.got <= 0:
            return 0.0
        rate = self.got / elapsed
        return min(1.0, (self.size - n) / rate)


class Stream:
    __slots__ = ("raw", "fd", "got", "limit", "on_read", "pacer", "done")

    def __init__(self, raw, got: int, limit: Optional[int], on_read, pacer, done):
        self.raw = raw  # the C-level socket under gevent's wrapper: never blocks, never switches
        self.fd = raw.fileno()
        self.got = got
        self.limit = limit
        self.on_read = on_read
        self.pacer = pacer
        self.done = done


class Drain:
    """Reads for every client of one process (see the module doc)."""

    def __init__(self, stats, read_size: int = 0):
        self.ep = get_original("select", "epoll")()  # gevent's patch hides select.epoll
        self.in_flag = get_original("select", "EPOLLIN")
        self.stats = stats
        self.read_size = read_size
        self.streams: Dict[int, Stream] = {}
        self.timers: List[tuple] = []  # (due monotonic, fd) of paced streams, re-armed when due
        self.buf = bytearray(READ_BUFFER)
        self.loop = None

    def read(self, sock, got: int = 0, limit: Optional[int] = None,
             on_read: Optional[Callable[[Stream, int], bool]] = None) -> int:
        """Count ``sock``'s bytes until it ends; returns the total (``got`` counted before).
        Raises the socket's error, or ``ValueError`` when ``limit`` is set and EOF comes first."""
        pacer = ReadPacer(self.read_size) if self.read_size > 0 else None
        s = Stream(sock._sock, got, limit, on_read, pacer, AsyncResult())
        self.streams[s.fd] = s
        self.ep.register(s.fd, self.in_flag)
        if self.loop is None or self.loop.dead:
            self.loop = gevent.spawn(self._run)
        try:
            return s.done.get()
        finally:
            if self.streams.pop(s.fd, None) is not None:
                try:
                    self.ep.unregister(s.fd)
                except OSError:
                    pass

    def _end(self, s: Stream, error: Optional[BaseException]) -> None:
        if self.streams.pop(s.fd, None) is None:
            return
        try:
            self.ep.unregister(s.fd)
        except OSError:
            pass
        if error is None:
            s.done.set(s.got)
        else:
            s.done.set_exception(error)

    def _run(self) -> None:
        ep, buf, streams, stats, timers = self.ep, self.buf, self.streams, self.stats, self.timers
        in_flag = self.in_flag
        epfd = ep.fileno()
        while streams:
            timeout = None
            if timers:
                timeout = max(0.0, timers[0][0] - time.monotonic())
            try:
                wait_read(epfd, timeout=timeout, timeout_exc=TimeoutError)
            except TimeoutError:
                pass
            if timers:
                now = time.monotonic()
                while timers and timers[0][0] <= now:
                    fd = heapq.heappop(timers)[1]
                    if fd in streams:
                        ep.modify(fd, in_flag)
            for fd, _ in ep.poll(0, 4096):
                s = streams.get(fd)
                if s is None:
                    continue
                try:
                    n = s.raw.recv_into(buf)
                except BlockingIOError:
                    continue
                except OSError as e:
                    self._end(s, e)
                    continue
                if not n:
                    short = s.limit is not None and s.got < s.limit
                    self._end(s, ValueError(f"body short by {s.limit - s.got} bytes") if short else None)
                    continue
                s.got += n
                stats.nread += n
                if (s.on_read is not None and s.on_read(s, n)) or (s.limit is not None and s.got >= s.limit):
                    self._end(s, None)
                    continue
                if s.pacer is not None:
                    pause = s.pacer.after_read(n)
                    if pause > 0:
                        ep.modify(fd, 0)  # parked: no events until the deadline
                        heapq.heappush(timers, (time.monotonic() + pause, fd))
