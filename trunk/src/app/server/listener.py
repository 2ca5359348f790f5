"""One TCP listener for every port of the server (RTMP, HTTP server, HTTP API, TCP casters).

SRS counts every connection of the process against ``max_connections`` (srs_app_server.cpp
``accept_client``) and closes the one past it at once. Here one ``ConnectionGate`` per server is
shared by every ``Listener``; a listener accepts in one greenlet and, for a client past the limit,
writes its canned refusal (HTTP: ``503``) with one non-blocking send and closes: no greenlet, no
read, no gevent socket object per refused connection, so a flood costs one fd for a moment.

With ``tls`` (server/tls.py: HTTPS, RTMPS) the handshake runs in the admitted client's greenlet with
its own deadline, and ``handle`` gets the TLS socket: a stalled or plaintext client holds only itself.

Stop is ``close()`` (no more accepts) then ``stop(timeout)``: the connection greenlets get
``timeout`` to end (their owners close their sockets first), then they are killed.
"""
from __future__ import annotations

import _socket
import errno
import logging
import socket as _stdsocket
import time
from typing import Callable, Optional

import gevent
from gevent import socket as gsocket
from gevent.pool import Group

from srs.app.server.tls import ServerTls, TlsError
from srs.kernel.log import set_cid

log = logging.getLogger(__name__)

# EMFILE/ENFILE/ENOBUFS/ENOMEM: the fd table or memory is full; wait rather than spin on accept.
ACCEPT_BACKOFF_S = 0.1
# One log line per this many seconds about refused clients, however many a flood brings.
REFUSE_LOG_INTERVAL_S = 1.0
# What an HTTP client past the limit reads before the close (SRS answers nothing; a 503 tells
# browsers and load balancers to retry elsewhere).
HTTP_REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
                b"Content-Length: 24\r\nConnection: close\r\n\r\n503 Service Unavailable\n")
_RETRY_ACCEPT = (errno.ECONNABORTED, errno.EINTR, errno.EPROTO, errno.EPERM)


class ConnectionGate:
    """The count of every TCP connection of the process, bounded by ``limit()`` (read at each
    accept, so a reload of ``max_connections`` applies to the next client)."""

    def __init__(self, limit: Callable[[], int]):
        self._limit = limit
        self.active = 0
        self.refused = 0

    @property
    def limit(self) -> int:
        return self._limit()

    def try_enter(self) -> bool:
        """Take a slot (True) or count a refusal (False). No greenlet switch in here."""
        if self.active >= self._limit():
            self.refused += 1
            return False
        self.active += 1
        return True

    def leave(self) -> None:
        self.active -= 1


def make_listener(host: str, port: int, reuseport: bool = False) -> _stdsocket.socket:
    """A bound, listening, non-blocking TCP socket; ``reuseport`` lets several processes share
    the port (``reuseport on;``)."""
    family = _stdsocket.AF_INET6 if ":" in host else _stdsocket.AF_INET
    sock = _stdsocket.socket(family, _stdsocket.SOCK_STREAM)
    sock.setsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_REUSEADDR, 1)
    if reuseport and hasattr(_stdsocket, "SO_REUSEPORT"):
        sock.setsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_REUSEPORT, 1)
    if family == _stdsocket.AF_INET6:
        sock.setsockopt(_stdsocket.IPPROTO_IPV6, _stdsocket.IPV6_V6ONLY, 0)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def unlimited_gate() -> ConnectionGate:
    """For an HTTP server used on its own (tests, tools): counts but never refuses."""
    return ConnectionGate(lambda: 1 << 62)


class Listener:
    """Accepts on a bound, listening socket and runs ``handle(sock, addr)`` (a gevent socket) in
    a greenlet per admitted client. ``refusal`` is sent to a client past the gate's limit (in the
    clear, also on a TLS port: nothing else can be said before a handshake). With ``tls``, ``handle``
    gets the socket once its TLS handshake is done."""

    def __init__(self, name: str, sock, handle: Callable, gate: ConnectionGate, refusal: bytes = b"",
                 tls: Optional[ServerTls] = None):
        self.name = name
        self.handle = handle
        self.gate = gate
        self.refusal = refusal
        self.tls = tls
        # the stdlib socket under a gevent one: _accept() gives a bare fd we wrap only if admitted
        self._sock = sock
        self._raw = getattr(sock, "_sock", sock)
        self._raw.setblocking(False)
        self.family, self.type, self.proto = self._raw.family, self._raw.type, self._raw.proto
        self.server_port = self._raw.getsockname()[1]
        self.fd = self._raw.fileno()
        self._group = Group()
        self._accepter: Optional[gevent.Greenlet] = None
        self._closed = False
        self._refused_unlogged = 0
        self._refuse_logged_at = 0.0

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def greenlets(self) -> list:
        """The live connection greenlets."""
        return list(self._group)

    def start(self) -> None:
        self._accepter = gevent.spawn(self._accept_loop)

    def close(self) -> None:
        """Stop accepting and close the listening socket; admitted connections keep running."""
        if self._closed:
            return
        self._closed = True
        if self._accepter is not None and self._accepter is not gevent.getcurrent():
            self._accepter.kill(block=True, timeout=1.0)  # before the close: it waits on the fd
        self._accepter = None
        try:
            self._sock.close()
        except OSError:
            pass

    def stop(self, timeout: float = 1.0) -> None:
        """close(), then give the connection greenlets ``timeout`` seconds, then kill them."""
        self.close()
        self._group.join(timeout=timeout)
        self._group.kill(block=True, timeout=timeout)

    # ----- accept loop

    def _accept_loop(self) -> None:
        set_cid(0)
        raw = self._raw
        while not self._closed:
            try:
                fd, addr = raw._accept()
            except BlockingIOError:
                gsocket.wait_read(self.fd)
                continue
            except OSError as exc:
                if self._closed:
                    break
                if exc.errno in _RETRY_ACCEPT:
                    continue
                log.warning("%s accept failed: %s, back off %.1fs", self.name, exc, ACCEPT_BACKOFF_S)
                gevent.sleep(ACCEPT_BACKOFF_S)
                continue
            if not self.gate.try_enter():
                self._refuse(fd, addr)
                continue
            try:
                sock = gsocket.socket(self.family, self.type, self.proto, fileno=fd)
            except OSError:
                self.gate.leave()
                _close_fd(fd)
                continue
            self._group.spawn(self._run, sock, addr)

    def _run(self, sock, addr) -> None:
        try:
            if self.tls is not None:
                try:
                    sock = self.tls.wrap(sock)
                except TlsError as exc:
                    ip = addr[0] if isinstance(addr, tuple) else addr
                    log.warning("%s client ip=%s: %s", self.name, ip, exc)
                    return
            self.handle(sock, addr)
        finally:
            self.gate.leave()
            try:
                sock.close()
            except OSError:
                pass

    def _refuse(self, fd: int, addr) -> None:
        """One non-blocking send of the canned answer, then close; never a read."""
        s = _socket.socket(self.family, self.type, self.proto, fd)  # the C class: never gevent's
        try:
            if self.refusal:
                s.send(self.refusal, _stdsocket.MSG_DONTWAIT | getattr(_stdsocket, "MSG_NOSIGNAL", 0))
        except OSError:
            pass
        finally:
            s.close()
        self._refused_unlogged += 1
        now = time.monotonic()
        if now - self._refuse_logged_at >= REFUSE_LOG_INTERVAL_S:
            ip, port = (addr[0], addr[1]) if isinstance(addr, tuple) and len(addr) > 1 else (str(addr), 0)
            log.warning("%s: drop client %s:%d, max_connections=%d reached, refused %d (total %d)",
                        self.name, ip, port, self.gate.limit, self._refused_unlogged, self.gate.refused)
            self._refused_unlogged = 0
            self._refuse_logged_at = now


def _close_fd(fd: int) -> None:
    try:
        _socket.socket(fileno=fd).close()
    except OSError:
        pass
