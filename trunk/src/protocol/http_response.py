"""The client side of HTTP/1.1, sans-IO: response bytes -> [ResponseHead | body bytes | ResponseEnd].

For hooks, HLS ingest, the edge's HTTP pulls and the bench tools; it shares the body framing
(Content-Length, chunked) and the header checks of the server's request parser in http.py.
"""
from __future__ import annotations

from srs.kernel.errors import ERROR_HTTP_RESPONSE_EOF, ERROR_HTTP_STATUS_INVALID, HttpError
from srs.protocol.http import (MAX_HEADERS, _STATUS_LINE, _BodyReader, _parse_fields, _State,
                               _tokens, first_header)


class ResponseHead:
    __slots__ = ("status", "reason", "headers", "version", "keep_alive")

    def __init__(self, status: int, reason: str, headers: list, version: str, keep_alive: bool):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.version = version
        self.keep_alive = keep_alive

    def header(self, name: str) -> str | None:
        return first_header(self.headers, name)

    def __repr__(self) -> str:
        return f"ResponseHead({self.status} {self.reason})"


class ResponseEnd:
    """The response body is complete."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ResponseEnd()"


class HttpResponseParser(_BodyReader):
    """Client side: bytes -> [ResponseHead | bytes (body pieces) | ResponseEnd].

    ``head_request=True`` for the response to a HEAD (no body whatever the headers say).
    Call ``receive_eof()`` when the peer closes: it ends an until-close body, or raises
    HttpError(ERROR_HTTP_RESPONSE_EOF) when the response was cut short. 1xx interim responses
    are skipped. After ResponseEnd the parser accepts the next response (keep-alive).
    """

    def __init__(self, head_request: bool = False, max_header_bytes: int = 64 * 1024,
                 max_headers: int = MAX_HEADERS, max_body: int = 1 << 62):
        super().__init__(max_header_bytes, max_headers, max_body)
        self.head_request = head_request

    def _status_line_too_long(self) -> int:
        return 502

    def receive_data(self, data) -> list:
        if self._error is not None:
            raise self._error
        self._buf += data
        out: list = []
        try:
            while self._buf:
                if self._state is _State.DONE:
                    self._goto(_State.HEAD)
                if self._state is _State.HEAD:
                    lines = self._take_head()
                    if lines is None:
                        break
                    head = self._build(lines)
                    if head is None:
                        continue  # 1xx interim response
                    out.append(head)
                    no_body = (self.head_request or head.status in (204, 304)
                               or 100 <= head.status < 200)
                    if no_body:
                        self._goto(_State.DONE)
                        out.append(ResponseEnd())
                        continue
                    framing = self._start_body(head.headers, 502)
                    if framing == "chunked":
                        continue
                    if framing is None:
                        self._goto(_State.UNTIL_CLOSE)
                        continue
                    if framing == 0:
                        self._goto(_State.DONE)
                        out.append(ResponseEnd())
                        continue
                    self._remaining = framing
                    self._goto(_State.BODY)
                    continue
                if self._state is _State.UNTIL_CLOSE:
                    out.append(bytes(self._buf))
                    self._buf.clear()
                    break
                pieces: list = []
                done = self._read_body(pieces, 502)
                out.extend(pieces)
                if not done:
                    break
                self._goto(_State.DONE)
                out.append(ResponseEnd())
        except HttpError as err:
            raise self._fail(err)
        return out

    def receive_eof(self) -> list:
        if self._error is not None:
            raise self._error
        if self._state is _State.UNTIL_CLOSE:
            self._goto(_State.DONE)
            return [ResponseEnd()]
        if self._state in (_State.DONE,) or (self._state is _State.HEAD and not self._buf):
            return []
        raise self._fail(HttpError(f"connection closed in state {self._state.value}", status=502,
                                   code=ERROR_HTTP_RESPONSE_EOF))

    def _build(self, lines):
        m = _STATUS_LINE.match(lines[0])
        if m is None or m.group(1) != b"1":
            raise HttpError(f"bad status line {lines[0][:60]!r}", status=502,
                            code=ERROR_HTTP_STATUS_INVALID)
        version = "1.0" if m.group(2) == b"0" else "1.1"
        status = int(m.group(3))
        if status < 100:
            raise HttpError(f"bad status {status}", status=502, code=ERROR_HTTP_STATUS_INVALID)
        headers = _parse_fields(lines[1:], self.max_headers, status_too_many=502)
        if 100 <= status < 200 and status != 101:
            return None
        conn = _tokens(headers, "connection")
        keep_alive = ("close" not in conn) if version == "1.1" else ("keep-alive" in conn)
        return ResponseHead(status, (m.group(4) or b"").decode("latin-1"), headers, version,
                            keep_alive)


__all__ = ["HttpResponseParser", "ResponseHead", "ResponseEnd"]
