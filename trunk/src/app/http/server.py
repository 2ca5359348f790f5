"""The HTTP server on gevent: accept loop, one greenlet per connection, a Go-style mux.

A connection greenlet sets its cid first, reads with ``recv_into`` into one small buffer,
feeds ``srs.protocol.http.HttpRequestParser`` and runs the matched handler in the same
greenlet, so a handler that blocks (a live stream) holds only its own connection.

Handler contract: ``handler(conn: HttpConnection, req: HttpRequest) -> None``. It answers with
``send_response`` (small bodies), ``send_head`` + ``send_raw`` (a streamed body of known length),
``start_chunked`` / ``write_chunk`` / ``end_chunked`` (unknown length, the connection closes
after the handler) or ``take_over`` (the handler owns the socket until it returns; it may use
``wait_closed`` to block until the client goes away, while other greenlets write to
``conn.sock`` — e.g. ``conn.sock.send(buf, timeout=0.0)`` for a non-blocking send).
A handler may raise ``HttpError(status=...)`` before answering to get that status (a 4xx keeps
the connection alive); any other exception gives a 500, the traceback logged, and a close.

The socket's own timeout stays None (plain gevent blocking): every deadline here is a
``gevent.Timeout``, so nothing we do changes how other greenlets' sends on the socket behave.
"""
from __future__ import annotations

import errno
import logging
import time
from collections import deque
from email.utils import formatdate
from typing import Callable

import gevent
from gevent import socket

from srs.core.version import SIGNATURE
from srs.app.server.listener import HTTP_REFUSAL, ConnectionGate, Listener, make_listener, unlimited_gate
from srs.app.server.tls import ServerTls
from srs.kernel.errors import ERROR_HTTP_HANDLER_INVALID, HttpError, SrsError
from srs.kernel.log import set_cid, trace
from srs.protocol.http import (LAST_CHUNK, MAX_BODY, MAX_HEADER_BYTES, MAX_HEADERS, HttpRequest,
                               HttpRequestParser, chunk, reason_phrase, response_head)

log = logging.getLogger(__name__)

# Per-connection read buffer: requests are small; 2000 idle players must not cost 64 KiB each.
RECV_SIZE = 8192
# After refusing a request, read (and drop) what the client still sends for this long, so the
# kernel does not answer its pending bytes with a RST that destroys our error response.
LINGER_S = 0.5
# Longest path we try to map to a file or a stream: Linux's PATH_MAX. A longer one is a 414, and
# so is a path the file system calls too long (a segment over NAME_MAX), not a 500.
MAX_PATH_CHARS = 4096

CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, POST, HEAD, PUT, DELETE, OPTIONS"),
    ("Access-Control-Expose-Headers", "Server,range,Content-Length,Content-Range"),
    ("Access-Control-Allow-Headers",
     "origin,range,accept-encoding,referer,Cache-Control,X-Proxy-Authorization,X-Requested-With,"
     "Content-Type"),
)

# errnos meaning "the client went away" rather than "the handler has a bug"
_GONE = {errno.EPIPE, errno.ECONNRESET, errno.EBADF, errno.ENOTCONN, errno.ETIMEDOUT,
         errno.ECONNABORTED}

Handler = Callable[["HttpConnection", HttpRequest], None]


class HttpMux:
    """Patterns as Go's ServeMux and SRS's: ``/api/v1/versions`` matches exactly, ``/live/``
    (trailing slash) matches the subtree, the longest pattern wins, and ``vhost.com/live/``
    (no leading slash) applies only when the Host is vhost.com and beats host-less patterns.
    Handlers can be added and removed at any time (remux mounts change on publish and reload).
    """

    def __init__(self):
        # host ("" for any) -> {"exact": {path: handler}, "prefix": [(path, handler)] longest first}
        self._hosts: dict = {}

    @staticmethod
    def _split(pattern: str):
        if not pattern:
            raise SrsError("empty http pattern", code=ERROR_HTTP_HANDLER_INVALID)
        if pattern.startswith("/"):
            return "", pattern
        slash = pattern.find("/")
        if slash <= 0:
            raise SrsError(f"http pattern {pattern!r} has no path", code=ERROR_HTTP_HANDLER_INVALID)
        return pattern[:slash].lower(), pattern[slash:]

    def handle(self, pattern: str, handler: Handler) -> None:
        """Register; a pattern already registered raises (unhandle it first to replace)."""
        if not callable(handler):
            raise SrsError(f"http handler for {pattern!r} is not callable",
                           code=ERROR_HTTP_HANDLER_INVALID)
        host, path = self._split(pattern)
        table = self._hosts.setdefault(host, {"exact": {}, "prefix": []})
        if path.endswith("/"):
            if any(p == path for p, _ in table["prefix"]):
                raise SrsError(f"http pattern {pattern!r} duplicated", code=ERROR_HTTP_HANDLER_INVALID)
            table["prefix"].append((path, handler))
            table["prefix"].sort(key=lambda item: len(item[0]), reverse=True)
        else:
            if path in table["exact"]:
                raise SrsError(f"http pattern {pattern!r} duplicated", code=ERROR_HTTP_HANDLER_INVALID)
            table["exact"][path] = handler

    def unhandle(self, pattern: str):
        """Remove a pattern; returns its handler, or None when it was not registered."""
        host, path = self._split(pattern)
        table = self._hosts.get(host)
        if table is None:
            return None
        found = None
        if path.endswith("/"):
            for i, (p, h) in enumerate(table["prefix"]):
                if p == path:
                    found = h
                    del table["prefix"][i]
                    break
        else:
            found = table["exact"].pop(path, None)
        if not table["exact"] and not table["prefix"]:
            del self._hosts[host]
        return found

    def patterns(self) -> list:
        out = []
        for host, table in self._hosts.items():
            out += [host + p for p in table["exact"]] + [host + p for p, _ in table["prefix"]]
        return sorted(out)

    def match(self, req: HttpRequest):
        path = req.path
        hosts = ((req.host or "").lower(), "") if req.host else ("",)
        for host in hosts:
            table = self._hosts.get(host)
            if table is None:
                continue
            handler = table["exact"].get(path)
            if handler is not None:
                return handler
            for prefix, handler in table["prefix"]:
                if path.startswith(prefix):
                    return handler
        return None


class HttpConnection:
    """One TCP connection; handlers answer through it (see the module docstring)."""

    def __init__(self, server: "HttpServer", sock, addr, cid: int):
        self.sock = sock
        self.cid = cid
        self.ip = addr[0] if addr else ""
        self.port = addr[1] if addr and len(addr) > 1 else 0
        self.server_header = server.server_header
        self.keep_alive = True
        self.closed = False
        self.request: HttpRequest | None = None
        self.requests = 0
        self._server = server
        self._parser = HttpRequestParser(server.max_header_bytes, server.max_headers,
                                         server.max_body)
        self._buf = bytearray(RECV_SIZE)
        self._taken = False
        self._responded = False
        self._chunked = None       # None: no streamed response; True: chunk framing; False: raw
        self._chunk_ended = False
        self._head_only = False
        self._cors = False

    # ----- answering

    @property
    def chunked(self) -> bool:
        """True when start_chunked uses chunk framing (HTTP/1.1); False for HTTP/1.0 (raw + close)."""
        return bool(self._chunked)

    @property
    def responded(self) -> bool:
        return self._responded

    def _headers(self, headers, content_length=None, chunked=False) -> list:
        out = list(headers)
        names = {n.lower() for n, _ in out}
        if "server" not in names:
            out.append(("Server", self.server_header))
        if "date" not in names:
            out.append(("Date", formatdate(usegmt=True)))
        if content_length is not None and "content-length" not in names:
            out.append(("Content-Length", str(content_length)))
        if chunked:
            out.append(("Transfer-Encoding", "chunked"))
        if self._cors:
            out.extend(h for h in CORS_HEADERS if h[0].lower() not in names)
        if "connection" not in names:
            if not self.keep_alive:
                out.append(("Connection", "close"))
            elif self.request is not None and self.request.version == "1.0":
                out.append(("Connection", "keep-alive"))
        return out

    def _check_can_respond(self) -> None:
        if self._responded:
            raise HttpError("a response was already sent", status=500)

    def send_response(self, status: int, headers, body: bytes = b"", head_only: bool = False) -> None:
        """A complete response; Server/Date/Content-Length/Connection are added. The body is
        left out for HEAD requests (or head_only), its length still announced."""
        self._check_can_respond()
        no_body = status < 200 or status in (204, 304)  # these never carry a body or its length
        if no_body:
            body = b""
        head = response_head(status, self._headers(headers, None if no_body else len(body)))
        self._responded = True
        if head_only or self._head_only or not body:
            self._send(head)
        elif len(body) <= 16384:
            self._send(head + bytes(body))  # one segment for the common small answer
        else:
            self._send(head)
            self._send(body)

    def send_head(self, status: int, headers, content_length: int | None = None) -> None:
        """Only the head; the body follows with send_raw (a file). Without a length the body
        ends with the connection, so it is marked to close."""
        self._check_can_respond()
        if content_length is None:
            self.keep_alive = False
        self._responded = True
        self._send(response_head(status, self._headers(headers, content_length)))

    def start_chunked(self, status: int, headers) -> None:
        """Head of a body of unknown length (a live stream). HTTP/1.1 gets chunk framing; an
        HTTP/1.0 client gets the raw bytes. The connection closes after the handler."""
        self._check_can_respond()
        self.keep_alive = False
        v11 = self.request is None or self.request.version != "1.0"
        self._chunked = v11
        self._responded = True
        self._send(response_head(status, self._headers(headers, chunked=v11)))

    def write_chunk(self, data) -> None:
        if self._head_only or not data:
            return
        if self._chunked is None or self._chunk_ended:
            raise HttpError("write_chunk without start_chunked", status=500)
        self._send(chunk(data) if self._chunked else data)

    def end_chunked(self) -> None:
        if self._chunked is None or self._chunk_ended:
            return
        self._chunk_ended = True
        if self._chunked and not self._head_only and not self.closed:
            self._send(LAST_CHUNK)

    def send_raw(self, data) -> None:
        self._responded = True
        self._send(data)

    def _send(self, data) -> None:
        if self.closed:
            raise ConnectionAbortedError("connection closed")
        # a client that stops reading must not hold this greenlet forever
        with gevent.Timeout(self._server.idle_timeout_s, ConnectionAbortedError("send timeout")):
            self.sock.sendall(data)

    # ----- ownership and lifetime

    def take_over(self) -> None:
        """The handler owns the socket: no more requests are read from it; it closes after."""
        self._taken = True
        self.keep_alive = False

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Read and drop bytes until the peer closes (True) or ``timeout`` passes (False)."""
        if self.closed:
            return True
        try:
            with gevent.Timeout(timeout, False):
                while True:
                    if self.sock.recv_into(self._buf) == 0:
                        return True
            return False
        except OSError:
            return True

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    # ----- the request loop (runs in the connection greenlet)

    def _recv(self, deadline: float):
        """recv_into with a deadline: bytes count, 0 on EOF, None on timeout."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        with gevent.Timeout(remaining, False):
            return self.sock.recv_into(self._buf)
        return None

    def _run(self) -> str:
        srv = self._server
        parser = self._parser
        pending: deque = deque()
        now = time.monotonic()
        idle_deadline = now + srv.header_timeout_s
        head_deadline: float | None = idle_deadline
        while not self.closed:
            if pending:
                self._dispatch(pending.popleft())
                if self.closed or self._taken or not self.keep_alive:
                    return "taken over" if self._taken else "done"
                idle_deadline = time.monotonic() + srv.idle_timeout_s
                continue
            was_idle = parser.idle
            if parser.in_head:
                deadline = head_deadline
            elif was_idle:
                deadline = idle_deadline
            else:  # reading a body: the client must keep it flowing
                deadline = time.monotonic() + srv.idle_timeout_s
            try:
                n = self._recv(deadline)
            except OSError as exc:
                return "closed by server" if self.closed else f"read error {exc}"
            if n is None:
                if was_idle:
                    return "idle timeout"
                log.warning("HTTP client ip=%s request not complete in %.1fs (%s), closed",
                            self.ip, srv.header_timeout_s if parser.in_head else srv.idle_timeout_s,
                            "head" if parser.in_head else "body")
                self._reject(408)
                return "request timeout"
            if n == 0:
                return "eof" if was_idle else "eof inside a request"
            try:
                pending.extend(parser.receive_data(memoryview(self._buf)[:n]))
            except HttpError as err:
                log.warning("HTTP client ip=%s bad request: %s", self.ip, err)
                self._reject(err.status)
                return f"bad request {err.status}"
            if not parser.in_head:
                head_deadline = None
            elif head_deadline is None:
                # a new request head started (keep-alive, or pipelined behind the last one):
                # it has header_timeout_s from its first byte; the first one counts from accept
                head_deadline = time.monotonic() + srv.header_timeout_s
        return "closed"

    def _reject(self, status: int) -> None:
        """Answer an error and close, lingering briefly so the answer is not reset away."""
        self.keep_alive = False
        body = f"{status} {reason_phrase(status)}\n".encode()
        try:
            with gevent.Timeout(LINGER_S, False):
                self.sock.sendall(response_head(status, self._headers(
                    [("Content-Type", "text/plain; charset=utf-8")], len(body))) + body)
                self.sock.shutdown(socket.SHUT_WR)
                while self.sock.recv_into(self._buf):
                    pass
        except OSError:
            pass
        self.close()

    def _dispatch(self, req: HttpRequest) -> None:
        srv = self._server
        self.requests += 1
        self.request = req
        self.keep_alive = req.keep_alive
        self._responded = False
        self._chunked = None
        self._chunk_ended = False
        self._head_only = req.method == "HEAD"
        self._cors = srv.crossdomain and req.header("origin") is not None
        trace(log, "HTTP %s %s, content-length=%d", req.method, req.target[:256], len(req.body))
        if len(req.path) > MAX_PATH_CHARS:
            log.warning("HTTP client ip=%s path of %d chars refused (max %d)", self.ip, len(req.path),
                        MAX_PATH_CHARS)
            self._reject(414)
            return
        if req.method == "OPTIONS":
            if srv.crossdomain:
                self.send_response(200, [])
            else:
                self.send_response(405, [("Allow", "GET, HEAD, POST, PUT, DELETE")])
            return
        handler = srv.mux.match(req)
        try:
            if handler is None:
                self.send_response(404, [("Content-Type", "text/plain; charset=utf-8")],
                                   b"404 Not Found\n")
                return
            handler(self, req)
        except HttpError as err:
            # a refusal (404, 403, 416...): the request was read whole, so keep-alive survives
            if err.status >= 500:
                log.warning("HTTP %s %s failed: %s", req.method, req.path, err)
            else:
                trace(log, "HTTP %s %s answered %d: %s", req.method, req.path, err.status, err)
            if self._responded or self.closed:
                self.close()
                return
            if err.status >= 500:
                self.keep_alive = False
            body = f"{err.status} {reason_phrase(err.status)}\n".encode()
            try:
                self.send_response(err.status, [("Content-Type", "text/plain; charset=utf-8")], body)
            except OSError:
                self.close()
            return
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG and not self._responded:
                log.warning("HTTP %s path of %d chars: file name too long", req.method, len(req.path))
                self._reject(414)
                return
            if not (self.closed or isinstance(exc, ConnectionError) or exc.errno in _GONE):
                log.error("HTTP %s %s handler failed", req.method, req.path, exc_info=True)
                self._fail(500)
                return
            trace(log, "HTTP client ip=%s gone during %s %s: %s", self.ip, req.method, req.path, exc)
            self.close()
            return
        except Exception:
            log.error("HTTP %s %s handler failed", req.method, req.path, exc_info=True)
            self._fail(500)
            return
        if self._taken or self.closed:
            return
        if self._chunked is not None:
            try:
                self.end_chunked()
            except OSError:
                pass
            self.keep_alive = False
        elif not self._responded:
            log.error("HTTP %s %s handler sent no response", req.method, req.path)
            self._fail(500)

    def _fail(self, status: int) -> None:
        if not self._responded and not self.closed:
            self._reject(status)
        self.close()


class HttpServer:
    """``listen(host, port)`` then ``start()``; ``stop()`` closes the listener and every connection.

    ``crossdomain`` may be changed at runtime (reload). ``connections`` lists the live ones.
    """

    def __init__(self, name: str, mux: HttpMux, cid_factory: Callable[[], int],
                 idle_timeout_s: float = 60.0, header_timeout_s: float = 10.0,
                 server_header: str = SIGNATURE, crossdomain: bool = False,
                 max_header_bytes: int = MAX_HEADER_BYTES, max_headers: int = MAX_HEADERS,
                 max_body: int = MAX_BODY, gate: ConnectionGate | None = None,
                 tls: ServerTls | None = None):
        self.name = name
        self.tls = tls  # HTTPS: each connection's TLS handshake runs first, in its own greenlet
        self.mux = mux
        self.cid_factory = cid_factory
        self.idle_timeout_s = idle_timeout_s
        self.header_timeout_s = header_timeout_s
        self.server_header = server_header
        self.crossdomain = crossdomain
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self.max_body = max_body
        # shared with every listener of the server: max_connections counts them all together
        self.gate = gate if gate is not None else unlimited_gate()
        self._listener = None
        self._accepter: Listener | None = None
        self._conns: set = set()
        self.host = ""
        self.port = 0

    @property
    def connections(self) -> list:
        return list(self._conns)

    def listen(self, host: str, port: int, reuseport: bool = False) -> None:
        """``reuseport``: several processes share the port (``reuseport on;``), as for RTMP; the
        socket is made as every listener's of the server (``make_listener``)."""
        sock = make_listener(host, port, reuseport)
        self._listener = sock
        self.host = host
        self.port = sock.getsockname()[1]
        trace(log, "%s listen at tcp://%s:%d, fd=%d", self.name, host, self.port, sock.fileno())

    def start(self) -> None:
        if self._listener is None:
            raise SrsError(f"{self.name}: start() before listen()")
        # a client past max_connections reads a canned 503 and is closed, never read from
        self._accepter = Listener(self.name, self._listener, self._serve, self.gate, HTTP_REFUSAL, tls=self.tls)
        self._accepter.start()

    @property
    def _greenlets(self) -> list:
        """The live connection greenlets (tests check none is left after stop)."""
        return self._accepter.greenlets if self._accepter is not None else []

    def stop(self, timeout: float = 1.0) -> None:
        accepter = self._accepter
        if accepter is not None:
            accepter.close()
        elif self._listener is not None:
            self._listener.close()
        self._listener = None
        for conn in list(self._conns):
            conn.close()
        if accepter is not None:
            accepter.stop(timeout)
        trace(log, "%s stopped", self.name)

    def _serve(self, sock, addr) -> None:
        try:
            cid = self.cid_factory()
        except Exception:
            log.error("%s: no cid for a new client", self.name, exc_info=True)
            return
        set_cid(cid)
        conn = HttpConnection(self, sock, addr, cid)
        self._conns.add(conn)
        trace(log, "HTTP client ip=%s:%d, %s", conn.ip, conn.port, self.name)
        reason = "killed"
        try:
            reason = conn._run()
        except Exception:
            reason = "internal error"
            log.error("HTTP client ip=%s failed", conn.ip, exc_info=True)
        finally:
            conn.close()
            self._conns.discard(conn)
            trace(log, "HTTP client ip=%s closed, requests=%d, %s", conn.ip, conn.requests, reason)
