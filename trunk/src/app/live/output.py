"""Socket helpers for the fan-out: a non-blocking writer with a bounded backlog.

The merged-write tick of a source calls ``Output.write(buf)`` once per player with a buffer
shared by every player of its group. ``write`` tries one non-blocking ``send`` on the raw socket;
whatever the kernel does not take goes to the player's backlog, and only then does the player get
a greenlet that waits for the socket to drain. The tick never waits on a slow player.
"""
from __future__ import annotations

import errno
import logging
import socket as _stdsocket
import time
from collections import deque
from typing import Callable, Optional

import gevent

from srs.kernel.log import cid_var

log = logging.getLogger(__name__)

_WOULD_BLOCK = (errno.EAGAIN, errno.EWOULDBLOCK)


def raw_socket(sock):
    """The stdlib socket under a gevent socket (non-blocking fd) for direct non-blocking sends; a
    TLS socket's own non-blocking sender (server/tls.py), since its fd would bypass the encryption."""
    nonblocking = getattr(sock, "nonblocking", None)
    if nonblocking is not None:
        return nonblocking
    return getattr(sock, "_sock", sock)


class OutputClosed(Exception):
    pass


class Output:
    """One connection's outgoing byte stream, shared by the tick and the connection greenlet.

    ``backlog_limit`` bounds the bytes waiting for a slow player; ``on_overflow`` decides what to
    keep (the source drops media but keeps sequence headers, as SRS's queue does). ``send_timeout_s``
    closes a player whose socket has not drained for that long.
    """

    __slots__ = ("sock", "raw", "backlog", "backlog_bytes", "drainer", "closed", "cid",
                 "sent_bytes", "on_close", "send_timeout_s", "__weakref__")

    def __init__(self, sock, cid: int = 0, send_timeout_s: float = 30.0,
                 on_close: Optional[Callable[[], None]] = None):
        self.sock = sock
        self.raw = raw_socket(sock)
        self.backlog: deque = deque()
        self.backlog_bytes = 0
        self.drainer = None
        self.closed = False
        self.cid = cid
        self.sent_bytes = 0
        self.on_close = on_close
        self.send_timeout_s = send_timeout_s

    @property
    def blocked(self) -> bool:
        return self.backlog_bytes > 0

    def write(self, data) -> None:
        """Queue ``data`` (bytes or memoryview) without ever blocking the caller."""
        if self.closed:
            return
        if self.backlog_bytes:
            self.backlog.append(data)
            self.backlog_bytes += len(data)
            return
        try:
            n = self.raw.send(data)
        except BlockingIOError:
            n = 0
        except InterruptedError:
            n = 0
        except OSError as e:
            if e.errno in _WOULD_BLOCK:
                n = 0
            else:
                self._fail(e)
                return
        self.sent_bytes += n
        if n < len(data):
            rest = memoryview(data)[n:]
            self.backlog.append(rest)
            self.backlog_bytes += len(rest)
            if self.drainer is None:
                self.drainer = gevent.spawn(self._drain, self.cid)

    def write_blocking(self, data) -> None:
        """For the connection's own greenlet (handshake, replies): waits until everything is sent."""
        if self.closed:
            raise OutputClosed()
        if self.backlog_bytes:
            self.write(data)
            # The drainer greenlet ends when the backlog is empty or the output closed: wait on it.
            while self.backlog_bytes and not self.closed:
                drainer = self.drainer
                if drainer is None:
                    drainer = self.drainer = gevent.spawn(self._drain, self.cid)
                drainer.join()
            if self.closed:
                raise OutputClosed()
            return
        try:
            self.sock.sendall(data)
            self.sent_bytes += len(data)
        except OSError as e:
            self._fail(e)
            raise OutputClosed() from e

    def drop_backlog(self, keep: Callable[[], list]) -> int:
        """Drop what waits (but the part already half-sent), then append ``keep()``; returns bytes dropped."""
        if not self.backlog:
            return 0
        head = self.backlog.popleft()
        dropped = self.backlog_bytes - len(head)
        self.backlog.clear()
        self.backlog.append(head)
        self.backlog_bytes = len(head)
        for piece in keep():
            self.backlog.append(piece)
            self.backlog_bytes += len(piece)
        return dropped

    def _drain(self, cid: int) -> None:
        cid_var.set(cid)
        sock = self.sock
        try:
            while self.backlog and not self.closed:
                head = self.backlog[0]
                started = time.monotonic()
                try:
                    with gevent.Timeout(self.send_timeout_s):
                        n = sock.send(head)
                except gevent.Timeout:
                    log.warning("player send timeout after %.1fs with %d bytes waiting, closing",
                             time.monotonic() - started, self.backlog_bytes)
                    self._fail(None)
                    return
                except OSError as e:
                    self._fail(e)
                    return
                self.sent_bytes += n
                self.backlog_bytes -= n
                if n >= len(head):
                    self.backlog.popleft()
                else:
                    self.backlog[0] = memoryview(head)[n:]
        finally:
            self.drainer = None

    def _fail(self, err) -> None:
        if self.closed:
            return
        if err is not None:
            log.info("output closed: %s", err)
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.backlog.clear()
        self.backlog_bytes = 0
        drainer = self.drainer
        if drainer is not None and drainer is not gevent.getcurrent():
            drainer.kill(block=False)
        try:
            self.sock.shutdown(_stdsocket.SHUT_RDWR)
        except OSError:
            pass
        cb = self.on_close
        self.on_close = None
        if cb is not None:
            cb()


def recv_into_buffer(sock, buf: bytearray, view: memoryview, timeout_s: Optional[float]) -> memoryview:
    """Reads once into ``buf``; returns the filled view, empty on EOF; raises socket.timeout on timeout."""
    if timeout_s is not None:
        sock.settimeout(timeout_s)
    n = sock.recv_into(buf)
    return view[:n]
