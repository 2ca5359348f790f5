"""A minimal HTTP/1.1 client on gevent sockets, for hooks, heartbeat and HLS notify.

It only waits in the calling greenlet: the socket is a gevent socket, so a slow or dead peer costs
that greenlet its ``timeout_s`` and nothing else. One request per connection (``Connection: close``);
the response is parsed by srs.protocol.http's sans-IO HttpResponseParser (Content-Length, chunked
or until close).

Failures raise ``HttpError`` with the SRS code of what went wrong (connect 1012, timeout 1011,
truncated response 3088, or the parser's code for a malformed response) and a gateway-ish
``status`` (502, or 504 for timeouts) for callers that relay them.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
import urllib.parse

import gevent
import gevent.socket

from srs.core.version import SIGNATURE
from srs.kernel.errors import (ERROR_HTTP_PARSE_URI, ERROR_HTTP_RESPONSE_EOF, ERROR_SOCKET_CONNECT,
                               ERROR_SOCKET_READ, ERROR_SOCKET_TIMEOUT, ERROR_SOCKET_WRITE, HttpError)
from srs.protocol.http_response import HttpResponseParser, ResponseEnd, ResponseHead

log = logging.getLogger(__name__)

# A response body we refuse to buffer beyond (hooks answer a few bytes).
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_HEAD_BYTES = 64 * 1024
RECV_SIZE = 16 * 1024


def parse_url(url: str) -> tuple[str, int, str, str]:
    """``http://host[:port]/path?query`` -> (host, port, target, Host header value)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise HttpError(f"invalid url {url!r}", status=400, code=ERROR_HTTP_PARSE_URI) from e
    if parts.scheme != "http" or not parts.hostname:
        raise HttpError(f"unsupported url {url!r} (only http://host[:port]/path)", status=400,
                        code=ERROR_HTTP_PARSE_URI)
    host = parts.hostname
    port = port or 80
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    host_header = f"[{host}]" if ":" in host else host
    if port != 80:
        host_header += f":{port}"
    return host, port, target, host_header


class _Deadline:
    __slots__ = ("url", "end")

    def __init__(self, url: str, timeout_s: float):
        self.url = url
        self.end = time.monotonic() + timeout_s

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise HttpError(f"timeout for {self.url}", status=504, code=ERROR_SOCKET_TIMEOUT)
        return left


def _recv(sock, deadline: _Deadline) -> bytes:
    sock.settimeout(deadline.left())
    try:
        return sock.recv(RECV_SIZE)
    except (TimeoutError, gevent.socket.timeout) as e:
        raise HttpError(f"timeout reading {deadline.url}", status=504, code=ERROR_SOCKET_TIMEOUT) from e
    except OSError as e:
        raise HttpError(f"read {deadline.url}: {e}", status=502, code=ERROR_SOCKET_READ) from e


def _read_response(sock, deadline: _Deadline, head_request: bool, max_bytes: int | None):
    """Feed the socket to the sans-IO response parser until the response ends (or ``max_bytes``
    of body are in, when the caller wants only a prefix)."""
    cap = MAX_BODY_BYTES if max_bytes is None else 1 << 62
    parser = HttpResponseParser(head_request=head_request, max_header_bytes=MAX_HEAD_BYTES, max_body=cap)
    head: ResponseHead | None = None
    body = bytearray()
    while True:
        data = _recv(sock, deadline)
        events = parser.receive_data(data) if data else parser.receive_eof()
        for ev in events:
            if isinstance(ev, ResponseHead):
                head = ev
            elif isinstance(ev, ResponseEnd):
                return head.status, list(head.headers), bytes(body)
            else:
                body += ev
                if max_bytes is not None and len(body) >= max_bytes:
                    return head.status, list(head.headers), bytes(body[:max_bytes])
                if len(body) > cap:
                    raise HttpError("response body too large", status=502, code=ERROR_SOCKET_READ)
        if not data:  # receive_eof() neither ended the response nor raised: nothing was received
            raise HttpError(f"no response from {deadline.url}", status=502, code=ERROR_HTTP_RESPONSE_EOF)


def _connect(host: str, port: int, timeout_s: float):
    """Connect without the resolver for numeric hosts (hooks usually name 127.0.0.1): gevent's threadpool
    resolver would otherwise sit outside the timeout. Names are resolved under the same deadline."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        with gevent.Timeout(timeout_s, gevent.socket.timeout("resolve timeout")):
            return gevent.socket.create_connection((host, port), timeout=timeout_s)
    sock = gevent.socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def http_request(method: str, url: str, body: bytes = b"", headers: list[tuple[str, str]] | None = None,
                 timeout_s: float = 30.0, max_bytes: int | None = None
                 ) -> tuple[int, list[tuple[str, str]], bytes]:
    """One request, one connection; returns (status, headers, body). The whole exchange is
    bounded by ``timeout_s``; ``max_bytes`` reads only that much of the body."""
    host, port, target, host_header = parse_url(url)
    deadline = _Deadline(url, timeout_s)
    head = [f"{method} {target} HTTP/1.1", f"Host: {host_header}", f"User-Agent: {SIGNATURE}",
            "Connection: close", "Accept: */*"]
    for name, value in headers or ():
        head.append(f"{name}: {value}")
    if body or method in ("POST", "PUT"):
        head.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
    try:
        sock = _connect(host, port, deadline.left())
    except (TimeoutError, gevent.socket.timeout) as e:
        raise HttpError(f"connect {url} timeout", status=504, code=ERROR_SOCKET_TIMEOUT) from e
    except OSError as e:
        raise HttpError(f"connect {url}: {e}", status=502, code=ERROR_SOCKET_CONNECT) from e
    try:
        try:
            sock.settimeout(deadline.left())
            sock.sendall(data)
        except (TimeoutError, gevent.socket.timeout) as e:
            raise HttpError(f"timeout writing {url}", status=504, code=ERROR_SOCKET_TIMEOUT) from e
        except OSError as e:
            raise HttpError(f"write {url}: {e}", status=502, code=ERROR_SOCKET_WRITE) from e
        return _read_response(sock, deadline, method == "HEAD", max_bytes)
    finally:
        sock.close()


def http_post_json(url: str, obj, timeout_s: float = 30.0) -> tuple[int, bytes]:
    body = json.dumps(obj, separators=(",", ":")).encode()
    status, _, resp = http_request("POST", url, body, [("Content-Type", "application/json")], timeout_s)
    return status, resp


def http_get(url: str, timeout_s: float = 30.0, max_bytes: int | None = None) -> tuple[int, bytes]:
    status, _, resp = http_request("GET", url, b"", None, timeout_s, max_bytes)
    return status, resp
