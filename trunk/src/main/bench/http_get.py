"""A minimal HTTP/1.1 GET for the bench tools on (gevent-patched) blocking sockets.

Only what srs-bench needs: one request per connection, the response header parsed by hand,
the body counted by the caller (live) or returned whole (``get``). A file needs a
Content-Length, as srs-bench requires; a live stream (no length, or chunked as SRS sends
HTTP-FLV) is read until the server closes, counting the raw bytes including chunk framing.
"""
from __future__ import annotations

import socket
from typing import Optional, Tuple
from urllib.parse import urlsplit

HEADER_LIMIT = 64 * 1024


class HttpFailure(Exception):
    """A status other than 200, a bad header, or a short body."""


def split(url: str) -> Tuple[str, int, str]:
    u = urlsplit(url)
    if u.scheme != "http" or not u.hostname:
        raise ValueError(f"not an http url: {url}")
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    return u.hostname, u.port or 80, path


def open_get(url: str, timeout_s: float = 10.0) -> Tuple[socket.socket, int, Optional[int], bytes]:
    """Connect, send the GET, read the header: (sock, header bytes, content length or None
    when the body is chunked or unbounded, body bytes already read)."""
    host, port, path = split(url)
    sock = socket.create_connection((host, port), timeout=timeout_s)
    try:
        sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: srs-bench-py\r\n"
                      "Accept: */*\r\nConnection: close\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(65536)
            if not data:
                raise HttpFailure(f"closed before the response header ({len(head)} bytes)")
            head += data
            if len(head) > HEADER_LIMIT:
                raise HttpFailure("response header too large")
        header, _, rest = head.partition(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise HttpFailure(f"bad status line {lines[0]!r}")
        status = int(parts[1])
        if status != 200:
            raise HttpFailure(f"GET {url}: status {status}")
        length = None
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        return sock, len(header) + 4, None if chunked else length, rest
    except BaseException:
        sock.close()
        raise


def get(url: str, timeout_s: float = 10.0) -> bytes:
    """A whole body (needs Content-Length)."""
    sock, _, length, body = open_get(url, timeout_s)
    try:
        if length is None:
            raise HttpFailure(f"GET {url}: no Content-Length (chunked or live)")
        chunks = [body]
        got = len(body)
        while got < length:
            data = sock.recv(min(262144, length - got))
            if not data:
                raise HttpFailure(f"GET {url}: body short by {length - got} bytes")
            chunks.append(data)
            got += len(data)
        return b"".join(chunks)[:length]
    finally:
        sock.close()
