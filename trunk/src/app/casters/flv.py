"""stream_caster flv: ``POST http://host:8936/[app]/[stream].flv`` with an FLV body (chunked,
Content-Length or until close) becomes an RTMP publish of ``output`` (SRS's SrsAppCasterFlv).

The body of a live POST never ends while the stream lives, so this is not an HttpServer handler
(those run after the whole body is read): each connection reads the request head itself, then
feeds the body as it arrives - through ``BodyDecoder`` (chunked framing) - into an FlvDecoder.
The answer (200, or the error status) is sent when the body ends or fails.
"""
from __future__ import annotations

import logging
import posixpath
import re
from typing import Optional
from urllib.parse import unquote

from gevent import socket

from srs.app.casters.output import RtmpOutput, TcpCaster, expand_output
from srs.core.version import SIGNATURE
from srs.kernel.errors import HttpError, RequestError, SrsError
from srs.kernel.flv import FlvDecoder
from srs.protocol import names
from srs.protocol import http
from srs.protocol.http import reason_phrase, response_head

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024
HEAD_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 30.0    # a POST whose body stops flowing this long is dropped
RECV_SIZE = 65536
_HEAD_END = re.compile(rb"\r?\n\r?\n")


class PostHead:
    """The request line and headers of the POST."""

    __slots__ = ("method", "target", "path", "version", "headers")

    def __init__(self, method, target, path, version, headers):
        self.method, self.target, self.path, self.version, self.headers = method, target, path, version, headers

    def header(self, name: str) -> Optional[str]:
        low = name.lower()
        for k, v in self.headers:
            if k.lower() == low:
                return v
        return None

    @classmethod
    def parse(cls, head: bytes) -> "PostHead":
        try:
            text = head.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
            raise HttpError("bad head") from None
        lines = [ln.rstrip("\r") for ln in text.split("\n")]
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
            raise HttpError(f"bad request line {lines[0][:80]!r}", 400)
        headers = []
        for ln in lines[1:]:
            name, sep, value = ln.partition(":")
            if not sep or not name or name != name.strip():
                raise HttpError(f"bad header line {ln[:80]!r}", 400)
            headers.append((name, value.strip()))
        # Decoded once, here; invalid UTF-8 stays visible (surrogates) for names.check_path_name.
        path = unquote(parts[1].split("?", 1)[0], errors="surrogateescape")
        return cls(parts[0], parts[1], path, parts[2][5:], headers)


class BodyDecoder(http.BodyDecoder):
    """The POST body's framing, chosen from the head; the decoding is protocol.http's."""

    @classmethod
    def for_head(cls, head: PostHead) -> "BodyDecoder":
        te = (head.header("Transfer-Encoding") or "").lower()
        cl = head.header("Content-Length")
        if te:
            if te.split(",")[-1].strip() != "chunked":
                raise HttpError(f"unsupported Transfer-Encoding {te!r}", 501)
            if cl is not None:
                raise HttpError("both Transfer-Encoding and Content-Length", 400)
            return cls(True, None)
        if cl is not None:
            if not cl.isdigit():
                raise HttpError(f"bad Content-Length {cl!r}", 400)
            return cls(False, int(cl))
        return cls(False, None)


def stream_of(path: str) -> tuple:
    """``/live/livestream.flv`` -> ("live", "livestream"), as SRS's caster: dirname is the app,
    basename without ``.flv`` the stream. Both become the output's RTMP URL and, through it, file
    names: a name ``protocol.names`` refuses (``/../../X/s.flv``, NUL...) is a 400."""
    app = posixpath.dirname(path).strip("/")
    stream = posixpath.basename(path)
    if stream.endswith(".flv"):
        stream = stream[:-4]
    if not app or not stream:
        raise HttpError(f"no app/stream in '{names.shown(path)}'", 400)
    try:
        names.check_path_name("app", app)
        names.check_path_name("stream", stream)
    except RequestError as e:
        raise HttpError(e.args[0], 400, e.code) from e
    return app, stream


class FlvPostConn:
    def __init__(self, caster: "FlvCaster", sock, addr, cid: int):
        self.caster = caster
        self.sock = sock
        self.ip = addr[0] if addr else ""
        self.cid = cid
        self.output: Optional[RtmpOutput] = None
        self.version = "1.1"
        self.body_bytes = 0
        self.msgs = 0

    def run(self) -> None:
        status, reason = 200, "done"
        try:
            head, rest = self._read_head()
            self.version = head.version
            status, reason = self._serve(head, rest)
        except HttpError as e:
            log.warning("flv caster: client %s refused: %s", self.ip, e)
            status, reason = e.status, f"refused {e.status}, code={e.code}"  # the details are logged once, above
        except socket.timeout:
            status, reason = 408, "timeout"
        except OSError as e:
            status, reason = 0, f"socket error {e}"
        finally:
            if self.output is not None:
                self.output.close()
        if status:
            self._answer(status)
        log.info("flv caster: client %s closed (%s), body=%d bytes, msgs=%d", self.ip, reason,
                 self.body_bytes, self.msgs)

    def _read_head(self) -> tuple:
        buf = bytearray()
        self.sock.settimeout(HEAD_TIMEOUT_S)
        while True:
            m = _HEAD_END.search(buf)
            if m is not None:
                return PostHead.parse(bytes(buf[:m.start()])), bytes(buf[m.end():])
            if len(buf) > MAX_HEAD:
                raise HttpError("request head too large", 431)
            data = self.sock.recv(RECV_SIZE)
            if not data:
                raise OSError("closed before the request head")
            buf += data

    def _serve(self, head: PostHead, rest: bytes) -> tuple:
        if head.method not in ("POST", "PUT"):
            raise HttpError(f"{head.method} not allowed, POST an FLV stream", 405)
        app, stream = stream_of(head.path)
        body = BodyDecoder.for_head(head)
        url = expand_output(self.caster.conf.output, app, stream, self.caster.parts.rtmp_port())
        if url.endswith(".flv"):
            url = url[:-4]
        log.info("flv caster: %s %s from %s to %s", head.method, head.target, self.ip, url)
        # FLV arrives interleaved by its muxer: no interleaver (an audio-only POST would wait on it)
        self.output = RtmpOutput(url, f"flv caster {app}/{stream}", interleave=False)
        if not self.output.open():
            raise HttpError(f"cannot publish {url}", 503)
        if (head.header("Expect") or "").lower() == "100-continue":
            self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        decoder = FlvDecoder()
        self.sock.settimeout(BODY_TIMEOUT_S)
        data = rest
        while True:
            if data:
                payload = body.receive_data(data)
                self.body_bytes += len(payload)
                try:
                    msgs = decoder.receive_data(payload)
                except SrsError as e:
                    raise HttpError(f"bad FLV body: {e}", 400) from e
                if msgs:
                    if not self.output.send(msgs):
                        return 503, "rtmp publish lost"
                    self.msgs += len(msgs)
            if body.done:
                return 200, "body complete"
            data = self.sock.recv(RECV_SIZE)
            if not data:
                if body.until_close:
                    return 200, "eof"
                return 0, "client closed inside the body"

    def _answer(self, status: int) -> None:
        text = f"{status} {reason_phrase(status)}\n".encode() if status != 200 else b""
        head = response_head(status, [("Server", SIGNATURE), ("Content-Type", "text/plain; charset=utf-8"),
                                      ("Content-Length", str(len(text))), ("Connection", "close")])
        try:
            self.sock.settimeout(2.0)
            self.sock.sendall(head + text)
        except OSError:
            pass


class FlvCaster(TcpCaster):
    name = "flv"
    scheme = "http"
    conn_class = FlvPostConn

    def kick(self, conn) -> None:
        try:
            conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
