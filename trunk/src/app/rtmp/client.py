"""A gevent RTMP client on the sans-IO ``ClientSession`` (SRS's SrsSimpleRtmpClient).

Used by forward (publish to another server), edge (play from / publish to the origin) and tools.
Every call blocks only the calling greenlet. Sends go through one lock, and the session's queued
bytes are drained in order under it, so a reader greenlet answering acks/pings and a writer
greenlet pushing media may share one client.

    c = RtmpClient("127.0.0.1", 1935, timeout_s=3)
    c.connect("rtmp://127.0.0.1:1935/live", "live")
    c.play("livestream")
    while True:
        for msg in c.read_messages(1.0):   # socket.timeout when nothing came for 1 s
            ...
"""
from __future__ import annotations

import logging
import os
import time
from typing import Iterator, List, Optional

from gevent import socket
from gevent.lock import BoundedSemaphore

from srs.app.rtmp.recv import recv_some
from srs.core import performance
from srs.kernel.errors import (ERROR_CONTROL_REDIRECT, ERROR_RTMP_ACCESS_DENIED, ERROR_SOCKET_CLOSED,
                               ERROR_SOCKET_CONNECT, ERROR_SOCKET_TIMEOUT, RtmpError, SrsError)
from srs.protocol import rtmp_stack as stack
from srs.protocol.request import Request
from srs.protocol.rtmp_handshake import ClientHandshake

log = logging.getLogger(__name__)

__all__ = ["RtmpClient", "ClientClosed", "Redirected", "open_client"]


class ClientClosed(SrsError):
    """The server closed the connection (EOF, ``close`` call or rejected connect)."""

    code = ERROR_SOCKET_CLOSED
    peer = True


class Redirected(RtmpError):
    """H14: the server answered with an RTMP 302 (SRS 3 origin cluster): ``url`` is where the stream
    is (``rtmp://host:port/app/stream?params``), ``host``/``port`` its server."""

    code = ERROR_CONTROL_REDIRECT

    def __init__(self, message: str, url: str):
        super().__init__(message)
        self.url = url
        req = Request.from_url(url)
        self.host = req.host
        self.port = req.port


def redirect_of(info) -> str:
    """The target of an RTMP 302 status object (``ex.redirect2``, else the tcUrl ``ex.redirect``
    of early SRS 3 versions), or "" when ``info`` is no redirect."""
    ex = info.get("ex") if isinstance(info, dict) else None
    if not isinstance(ex, dict):
        return ""
    for key in ("redirect2", "redirect"):
        url = ex.get(key)
        if isinstance(url, str) and url.startswith("rtmp://"):
            return url
    return ""


class RtmpClient:
    """One outgoing RTMP connection. ``timeout_s`` bounds connect, handshake and every wait for a
    reply; reading media takes its own timeout per call."""

    def __init__(self, host: str, port: int, timeout_s: float = 3.0, chunk_size: int = performance.CHUNK_SIZE):
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.sock = None
        self.session = stack.ClientSession(out_chunk_size=chunk_size)
        self.events: List[stack.Event] = []
        self.buf = bytearray(performance.RECV_BUFFER_SIZE)
        self.view = memoryview(self.buf)
        self.recv_bytes = 0
        self.sent_bytes = 0
        self.server_info = None
        self.closed = False
        self._send_lock = BoundedSemaphore()
        # H16 librtmp: tools choose the handshake (srs_rtmp_dump --complex); False = simple only.
        self.complex_handshake = True

    # ------------------------------------------------------------------ socket plumbing
    def open(self) -> None:
        """TCP connect and handshake (complex, falling back to simple as the server answers)."""
        try:
            self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        except socket.timeout as e:
            raise SrsError(f"connect {self.host}:{self.port} timeout", ERROR_SOCKET_TIMEOUT) from e
        except OSError as e:
            raise SrsError(f"connect {self.host}:{self.port} failed: {e}", ERROR_SOCKET_CONNECT) from e
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        hs = ClientHandshake(os.urandom, int(time.time() * 1000), complex=self.complex_handshake)
        self._sendall(hs.start())
        try:
            while not hs.done:
                out = hs.receive_data(bytes(self._recv(self.timeout_s)))
                if out:
                    self._sendall(out)
        except socket.timeout as e:
            raise SrsError(f"handshake with {self.host}:{self.port} timeout", ERROR_SOCKET_TIMEOUT) from e
        if hs.leftover:
            self.events.extend(self.session.receive_data(hs.leftover))

    def _recv(self, timeout_s: Optional[float]) -> memoryview:
        n = recv_some(self.sock, self.buf, timeout_s, self._closed_error)
        self.recv_bytes += n
        return self.view[:n]

    def _closed_error(self, error: Optional[OSError]) -> ClientClosed:
        if error is not None:
            return ClientClosed(f"recv from {self.host}:{self.port} failed: {error}")
        return ClientClosed(f"{self.host}:{self.port} closed the connection")

    def _sendall(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise ClientClosed(f"send to {self.host}:{self.port} failed: {e}") from e
        self.sent_bytes += len(data)

    def flush(self) -> None:
        """Send what the session queued (commands, acks, media), in order."""
        with self._send_lock:
            data = self.session.data_to_send()
            if data:
                self.sock.settimeout(self.timeout_s * 10)
                self._sendall(data)

    def recv_events(self, timeout_s: Optional[float]) -> list:
        """The next events; raises socket.timeout when nothing arrived within ``timeout_s``."""
        if self.events:
            evs, self.events = self.events, []
            return evs
        self.flush()
        data = self._recv(timeout_s)
        evs = self.session.receive_data(data)
        self.flush()  # acknowledgements and ping responses the session queued
        return evs

    def _wait(self, kind, code_prefix: str = "") -> stack.Event:
        """Read until an event of ``kind`` (a Status whose code starts with ``code_prefix``)."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SrsError(f"{self.host}:{self.port}: no {kind.__name__} {code_prefix} in "
                               f"{self.timeout_s:.1f}s", ERROR_SOCKET_TIMEOUT)
            try:
                evs = self.recv_events(left)
            except socket.timeout as e:
                raise SrsError(f"{self.host}:{self.port}: timeout waiting for {kind.__name__}",
                               ERROR_SOCKET_TIMEOUT) from e
            for i, ev in enumerate(evs):
                self._check(ev)
                if isinstance(ev, kind) and (not code_prefix or ev.code.startswith(code_prefix)):
                    self.events[:0] = evs[i + 1:]
                    return ev

    def _check(self, ev) -> None:
        if isinstance(ev, stack.ConnectResult) and not ev.ok:
            raise RtmpError(f"{self.host}:{self.port} rejected connect: {ev.info!r}", ERROR_RTMP_ACCESS_DENIED)
        if isinstance(ev, stack.Close):
            raise ClientClosed(f"{self.host}:{self.port} closed the session")
        if isinstance(ev, stack.Status) and ev.level == "error":
            url = redirect_of(ev.info)  # H14: origin cluster 302
            if url:
                raise Redirected(f"{self.host}:{self.port} redirects to {url}", url)
            raise RtmpError(f"{self.host}:{self.port} error status {ev.code}: {ev.description}")

    # ------------------------------------------------------------------ RTMP commands
    def connect(self, tc_url: str, app: str, page_url: str = "", swf_url: str = "",
                args: Optional[dict] = None):
        """open() when needed, then connect; returns the server's info object. A refusal raises
        RtmpError (ERROR_RTMP_ACCESS_DENIED)."""
        if self.sock is None:
            self.open()
        self.session.connect(tc_url, app, page_url, swf_url, args)
        self.flush()
        ev = self._wait(stack.ConnectResult)
        self.server_info = ev.info
        return ev.info

    def play(self, stream: str) -> None:
        """createStream then play; media follows (read it with read_messages)."""
        self.session.create_stream()
        self.flush()
        self._wait(stack.StreamCreated)
        self.session.play(stream)
        self.flush()

    def publish(self, stream: str) -> None:
        """FMLE style, as SRS's forwarder: releaseStream, FCPublish, createStream, publish, then
        wait for NetStream.Publish.Start (a busy stream makes the server close: ClientClosed)."""
        s = self.session
        s.release_stream(stream)
        s.fc_publish(stream)
        s.create_stream()
        self.flush()
        self._wait(stack.StreamCreated)
        s.publish(stream)
        self.flush()
        self._wait(stack.Status, "NetStream.Publish.Start")

    def read_messages(self, timeout_s: Optional[float]) -> Iterator:
        """Media messages (audio, video, metadata) of one receive; raises ClientClosed on EOF or
        close, RtmpError on an error status, socket.timeout when nothing came in ``timeout_s``."""
        for ev in self.recv_events(timeout_s):
            if isinstance(ev, stack.Media):
                yield ev.message
            else:
                self._check(ev)

    def send_messages(self, msgs) -> None:
        """Publish a batch of messages with their own timestamps."""
        if msgs:
            self.session.send_media_batch(msgs, 0)
            self.flush()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass


def open_client(url: str, timeout_s: float = 3.0, page_url: str = "", args: Optional[dict] = None) -> tuple:
    """Connect to ``rtmp://host[:port]/app[?vhost=..]/stream``: returns (client, stream name)."""
    req = Request.from_url(url)
    tc_url = url[:url.rfind("/")]
    c = RtmpClient(req.host, req.port, timeout_s)
    try:
        c.connect(tc_url, req.app, page_url=page_url, args=args)
    except BaseException:
        c.close()
        raise
    stream = url[url.rfind("/") + 1:]
    return c, stream
