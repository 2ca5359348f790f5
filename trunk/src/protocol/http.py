"""HTTP/1.1 for the server and our own clients, sans-IO (bytes in, requests/events out).

``HttpRequestParser.receive_data(bytes)`` returns the complete requests found so far (pipelining
works: several per call, or none until more bytes come). It is strict on purpose: a request we
would have to guess about (conflicting Content-Length, obs-fold, spaces before the colon, bad
chunk framing) is refused with ``HttpError(status=4xx/5xx)`` because lenient parsing of exactly
those cases is what request smuggling exploits. ``HttpResponseParser`` (http_response.py) is the
client-side twin, for hooks, HLS ingest and the bench tools. The builders (``response_head``, ``request_head``,
``chunk``) produce the bytes the app layer sends. Nothing here touches sockets or clocks.
"""
from __future__ import annotations

import enum
import re
from urllib.parse import parse_qsl

from srs.kernel.errors import (ERROR_HTTP_INVALID_CHUNK_HEADER, ERROR_HTTP_PARSE_HEADER,
                               ERROR_HTTP_PARSE_URI, ERROR_HTTP_STATUS_INVALID, HttpError)

MAX_HEADER_BYTES = 8192
MAX_HEADERS = 100
MAX_BODY = 1024 * 1024
# A chunk-size line is "hex[;ext]": anything longer is garbage or an attack.
MAX_CHUNK_LINE = 1024

# RFC 9110 token characters (method, header names).
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# Header field value: visible chars, SP, HTAB and obs-text; no other control bytes.
_FIELD_VALUE_BAD = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_TARGET_OK = re.compile(rb"[\x21-\x7e]+\Z")
_VERSION = re.compile(rb"HTTP/(\d)\.(\d)\Z")
_STATUS_LINE = re.compile(rb"HTTP/(\d)\.(\d) (\d{3})(?: (.*))?\Z")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}\Z")
_DIGITS = re.compile(r"[0-9]+\Z")
_PCT = re.compile(rb"%([0-9A-Fa-f]{2})")
_PCT_BAD = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_HEAD_END = re.compile(rb"\r?\n\r?\n")

_REASONS = {
    100: "Continue", 101: "Switching Protocols",
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content",
    301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
    307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 408: "Request Timeout", 409: "Conflict",
    411: "Length Required", 413: "Payload Too Large", 414: "URI Too Long",
    415: "Unsupported Media Type", 416: "Range Not Satisfiable", 417: "Expectation Failed",
    429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
}

LAST_CHUNK = b"0\r\n\r\n"


def reason_phrase(status: int) -> str:
    return _REASONS.get(status, "Unknown")


def _check_field(name: str, value: str) -> None:
    """Our own headers must not smuggle CR/LF into the response (a header-injection bug)."""
    if not _TOKEN.match(name.encode("latin-1", "replace")):
        raise HttpError(f"invalid header name {name!r}", status=500, code=ERROR_HTTP_PARSE_HEADER)
    if _FIELD_VALUE_BAD.search(value.encode("latin-1", "replace")):
        raise HttpError(f"invalid header value for {name}", status=500, code=ERROR_HTTP_PARSE_HEADER)


def _fields(headers) -> list:
    out = []
    for name, value in headers:
        value = str(value)
        _check_field(name, value)
        out.append(f"{name}: {value}\r\n")
    out.append("\r\n")
    return out


def response_head(status: int, headers, reason: str | None = None) -> bytes:
    """``HTTP/1.1 <status> <reason>`` + headers + the blank line, latin-1 encoded."""
    if not 100 <= status <= 999:
        raise HttpError(f"invalid status {status}", status=500, code=ERROR_HTTP_STATUS_INVALID)
    reason = reason_phrase(status) if reason is None else reason
    if _FIELD_VALUE_BAD.search(reason.encode("latin-1", "replace")):
        raise HttpError("invalid reason phrase", status=500, code=ERROR_HTTP_STATUS_INVALID)
    return "".join([f"HTTP/1.1 {status} {reason}\r\n"] + _fields(headers)).encode("latin-1")


def request_head(method: str, target: str, headers) -> bytes:
    """A request head for our own clients; the caller supplies Host and body framing headers."""
    if not _TOKEN.match(method.encode("latin-1", "replace")) or not _TARGET_OK.match(
            target.encode("latin-1", "replace")):
        raise HttpError(f"invalid request line {method} {target!r}", status=500,
                        code=ERROR_HTTP_PARSE_URI)
    return "".join([f"{method} {target} HTTP/1.1\r\n"] + _fields(headers)).encode("latin-1")


def chunk(data) -> bytes:
    """One chunk of a chunked body; empty data gives b"" because a 0-size chunk ends the body.

    The one place chunk framing is written: HTTP responses and the live fan-out (where it is part of
    the bytes a group of players shares, so it is one formatting = one copy of the payload)."""
    if not data:
        return b""
    return b"%x\r\n%s\r\n" % (len(data), data)


def parse_byte_range(spec: str, size: int):
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` -> (first, last) inclusive, clipped to size.

    Returns None when the header is unusable (malformed, several ranges): the RFC lets a server
    ignore such a Range and send the whole file. Raises HttpError(416) when it is well formed
    but starts past the end.
    """
    spec = spec.strip()
    if not spec.lower().startswith("bytes="):
        return None
    ranges = spec[6:].strip()
    if "," in ranges or "-" not in ranges:
        return None
    first_s, last_s = (p.strip() for p in ranges.split("-", 1))
    if first_s == "":
        if not _DIGITS.match(last_s):
            return None
        suffix = int(last_s)
        if suffix == 0 or size == 0:
            raise HttpError("empty suffix range", status=416)
        return max(0, size - suffix), size - 1
    if not _DIGITS.match(first_s) or (last_s and not _DIGITS.match(last_s)):
        return None
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if last_s and last < first:
        return None
    if first >= size:
        raise HttpError(f"range {first}- beyond size {size}", status=416)
    return first, min(last, size - 1)


def _percent_decode_path(raw: bytes) -> str:
    if b"%" in raw:
        if _PCT_BAD.search(raw):
            raise HttpError("bad percent-escape in path", status=400, code=ERROR_HTTP_PARSE_URI)
        raw = _PCT.sub(lambda m: bytes([int(m.group(1), 16)]), raw)
    if b"\x00" in raw:
        raise HttpError("NUL in path", status=400, code=ERROR_HTTP_PARSE_URI)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HttpError("path is not UTF-8", status=400, code=ERROR_HTTP_PARSE_URI) from exc


def _strip_port(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [v6]:port
        end = host.find("]")
        return host[1:end] if end > 0 else host
    return host.split(":", 1)[0]


def _parse_fields(lines, max_headers: int, status_too_many: int = 431) -> list:
    """Header lines (bytes, without line endings) -> [(name, value)] with strict validation."""
    headers = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            raise HttpError("obsolete header line folding", status=400, code=ERROR_HTTP_PARSE_HEADER)
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.match(name):
            # also catches "Name : value" (a space before the colon is not a token character)
            raise HttpError(f"bad header line {line[:40]!r}", status=400, code=ERROR_HTTP_PARSE_HEADER)
        value = value.strip(b" \t")
        if _FIELD_VALUE_BAD.search(value):
            raise HttpError("control character in header value", status=400,
                            code=ERROR_HTTP_PARSE_HEADER)
        headers.append((name.decode("ascii"), value.decode("latin-1")))
        if len(headers) > max_headers:
            raise HttpError("too many headers", status=status_too_many, code=ERROR_HTTP_PARSE_HEADER)
    return headers


def first_header(headers, name: str) -> str | None:
    """The first value of a header, case-insensitive; None when absent."""
    lname = name.lower()
    for n, v in headers:
        if n.lower() == lname:
            return v
    return None


def _values(headers, lname: str) -> list:
    return [v for n, v in headers if n.lower() == lname]


def _tokens(headers, lname: str) -> set:
    out = set()
    for v in _values(headers, lname):
        out.update(t.strip().lower() for t in v.split(",") if t.strip())
    return out


def _content_length(headers, status_too_big: int, max_body: int):
    values = _values(headers, "content-length")
    if not values:
        return None
    parts = {p.strip() for v in values for p in v.split(",")}
    if len(parts) != 1:
        raise HttpError("conflicting Content-Length", status=400, code=ERROR_HTTP_PARSE_HEADER)
    text = parts.pop()
    if not _DIGITS.match(text) or len(text) > 18:
        raise HttpError(f"bad Content-Length {text!r}", status=400, code=ERROR_HTTP_PARSE_HEADER)
    length = int(text)
    if length > max_body:
        raise HttpError(f"body of {length} bytes exceeds {max_body}", status=status_too_big)
    return length


def _chunked(headers) -> bool:
    values = _values(headers, "transfer-encoding")
    if not values:
        return False
    codings = [c.strip().lower() for v in values for c in v.split(",") if c.strip()]
    if codings != ["chunked"]:
        # gzip etc. we cannot decode; a final coding other than chunked has no framing at all
        raise HttpError(f"unsupported Transfer-Encoding {codings}", status=501)
    return True


class HttpRequest:
    """One parsed request. ``path`` is percent-decoded; ``query`` keeps the first value per key."""

    __slots__ = ("method", "target", "path", "raw_path", "query", "query_list", "version",
                 "headers", "body", "keep_alive", "host")

    def __init__(self, method: str, target: str, path: str, raw_path: str, query: dict,
                 query_list: list, version: str, headers: list, body: bytes, keep_alive: bool,
                 host: str):
        self.method = method
        self.target = target
        self.path = path
        self.raw_path = raw_path
        self.query = query
        self.query_list = query_list
        self.version = version
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.host = host

    def header(self, name: str) -> str | None:
        return first_header(self.headers, name)

    def __repr__(self) -> str:
        return f"HttpRequest({self.method} {self.target} HTTP/{self.version})"


class _State(enum.Enum):
    HEAD = "head"
    BODY = "body"              # Content-Length body
    CHUNK_SIZE = "chunk_size"
    CHUNK_DATA = "chunk_data"
    CHUNK_CRLF = "chunk_crlf"  # the CRLF after a chunk's data
    TRAILERS = "trailers"
    UNTIL_CLOSE = "until_close"  # responses only
    DONE = "done"              # responses only: the message ended
    ERROR = "error"


# Allowed moves of the body state machine; anything else is a bug in this module.
_TRANSITIONS = {
    _State.HEAD: {_State.HEAD, _State.BODY, _State.CHUNK_SIZE, _State.UNTIL_CLOSE, _State.DONE},
    _State.BODY: {_State.HEAD, _State.DONE},
    _State.CHUNK_SIZE: {_State.CHUNK_DATA, _State.TRAILERS},
    _State.CHUNK_DATA: {_State.CHUNK_CRLF},
    _State.CHUNK_CRLF: {_State.CHUNK_SIZE},
    _State.TRAILERS: {_State.HEAD, _State.DONE},
    _State.UNTIL_CLOSE: {_State.DONE},
    _State.DONE: {_State.HEAD},
    _State.ERROR: set(),
}


class _BodyReader:
    """Shared framing (head split, Content-Length, chunked) of the request and response parsers."""

    def __init__(self, max_header_bytes: int, max_headers: int, max_body: int):
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self.max_body = max_body
        self._buf = bytearray()
        self._state = _State.HEAD
        self._error: HttpError | None = None
        self._remaining = 0        # bytes left of the CL body or current chunk
        self._body_size = 0        # bytes of body so far (limit check)
        self._scan_from = 0        # where to resume the head-end search

    @property
    def state(self) -> str:
        return self._state.value

    def _goto(self, state: _State) -> None:
        if state is not _State.ERROR and state not in _TRANSITIONS[self._state]:
            raise HttpError(f"bad transition {self._state} -> {state}", status=500)
        self._state = state

    def _fail(self, err: HttpError) -> HttpError:
        self._state = _State.ERROR
        self._error = err
        return err

    def _take_head(self):
        """Split off a complete head, or None. Accepts CRLF or bare LF line ends (RFC 9112 2.2)."""
        buf = self._buf
        # Ignore empty lines before a message (RFC 9112 2.2: robustness after a POST body).
        strip = 0
        while strip < len(buf) and buf[strip] in (0x0d, 0x0a):
            strip += 1
        if strip:
            del buf[:strip]
            self._scan_from = 0
        m = _HEAD_END.search(buf, max(0, self._scan_from - 3))
        if m is None:
            self._scan_from = len(buf)
            if len(buf) > self.max_header_bytes:
                first_line_done = b"\n" in buf
                raise HttpError("request line too long" if not first_line_done else
                                "header section too large",
                                status=self._status_line_too_long() if not first_line_done else 431,
                                code=ERROR_HTTP_PARSE_HEADER)
            return None
        if m.start() > self.max_header_bytes:
            first_nl = buf.find(b"\n")
            raise HttpError("header section too large",
                            status=431 if first_nl <= self.max_header_bytes else
                            self._status_line_too_long(), code=ERROR_HTTP_PARSE_HEADER)
        head = bytes(buf[:m.start()])
        del buf[:m.end()]
        self._scan_from = 0
        lines = [line[:-1] if line.endswith(b"\r") else line for line in head.split(b"\n")]
        for line in lines:
            if b"\r" in line:
                raise HttpError("bare CR in head", status=400, code=ERROR_HTTP_PARSE_HEADER)
        return lines

    def _status_line_too_long(self) -> int:
        return 414

    def _start_body(self, headers, status_too_big: int):
        """After a head: pick the framing. Returns 'chunked', an int length, or None."""
        chunked = _chunked(headers)
        length = _content_length(headers, status_too_big, self.max_body)
        if chunked and length is not None:
            raise HttpError("both Transfer-Encoding and Content-Length", status=400,
                            code=ERROR_HTTP_PARSE_HEADER)
        self._body_size = 0
        if chunked:
            self._goto(_State.CHUNK_SIZE)
            return "chunked"
        return length

    def _read_body(self, out: list, status_too_big: int) -> bool:
        """Consume body bytes into ``out``; True when the body is complete."""
        buf = self._buf
        while True:
            st = self._state
            if st is _State.BODY:
                take = min(self._remaining, len(buf))
                if take:
                    out.append(bytes(buf[:take]))
                    del buf[:take]
                    self._remaining -= take
                return self._remaining == 0
            if st is _State.CHUNK_SIZE:
                nl = buf.find(b"\n")
                if nl < 0:
                    if len(buf) > MAX_CHUNK_LINE:
                        raise HttpError("chunk size line too long", status=400,
                                        code=ERROR_HTTP_INVALID_CHUNK_HEADER)
                    return False
                line = bytes(buf[:nl])
                del buf[:nl + 1]
                if line.endswith(b"\r"):
                    line = line[:-1]
                size_text = line.split(b";", 1)[0].strip(b" \t")
                if not _HEX.match(size_text):
                    raise HttpError(f"bad chunk size {line[:20]!r}", status=400,
                                    code=ERROR_HTTP_INVALID_CHUNK_HEADER)
                size = int(size_text, 16)
                if size == 0:
                    self._goto(_State.TRAILERS)
                    continue
                self._body_size += size
                if self._body_size > self.max_body:
                    raise HttpError(f"chunked body exceeds {self.max_body}", status=status_too_big)
                self._remaining = size
                self._goto(_State.CHUNK_DATA)
                continue
            if st is _State.CHUNK_DATA:
                take = min(self._remaining, len(buf))
                if take:
                    out.append(bytes(buf[:take]))
                    del buf[:take]
                    self._remaining -= take
                if self._remaining:
                    return False
                self._goto(_State.CHUNK_CRLF)
                continue
            if st is _State.CHUNK_CRLF:
                if buf[:2] == b"\r\n":
                    del buf[:2]
                elif buf[:1] == b"\n":
                    del buf[:1]
                elif len(buf) < 2 and buf in (b"", b"\r"):
                    return False
                else:
                    raise HttpError("missing CRLF after chunk data", status=400,
                                    code=ERROR_HTTP_INVALID_CHUNK_HEADER)
                self._goto(_State.CHUNK_SIZE)
                continue
            if st is _State.TRAILERS:
                # trailer section: header lines ending with an empty line; validated, then dropped
                if buf[:2] == b"\r\n" or buf[:1] == b"\n":
                    del buf[:2 if buf[:1] == b"\r" else 1]
                    return True
                m = _HEAD_END.search(buf)
                if m is None:
                    if len(buf) > self.max_header_bytes:
                        raise HttpError("trailers too large", status=431,
                                        code=ERROR_HTTP_PARSE_HEADER)
                    return False
                lines = [ln[:-1] if ln.endswith(b"\r") else ln
                         for ln in bytes(buf[:m.start()]).split(b"\n")]
                del buf[:m.end()]
                _parse_fields(lines, self.max_headers)
                return True
            raise HttpError(f"no body in state {st}", status=500)


class BodyDecoder(_BodyReader):
    """A body decoded as it arrives, for a body that may never end (the stream_caster's live FLV
    POST): ``receive_data`` returns the body bytes found so far; ``done`` once it ended. The
    framing (Content-Length or chunked, with the same strict chunk rules as the request parser)
    is ``_BodyReader``'s; neither form here has a size limit. ``length`` None and not
    ``chunked``: the body runs until the connection closes (``until_close``)."""

    def __init__(self, chunked: bool, length: int | None):
        super().__init__(MAX_HEADER_BYTES, MAX_HEADERS, max_body=float("inf"))  # type: ignore[arg-type]
        self.chunked = chunked
        self.until_close = length is None and not chunked
        if chunked:
            self._goto(_State.CHUNK_SIZE)
        elif length is not None:
            self._remaining = length
            self._goto(_State.BODY)
        else:
            self._goto(_State.UNTIL_CLOSE)
        self.done = length == 0 and not chunked

    def receive_data(self, data) -> bytes:
        if self._error is not None:
            raise self._error
        if self.done:
            return b""
        if self.until_close:
            return bytes(data)
        self._buf += data
        out: list = []
        try:
            self.done = self._read_body(out, 413)
        except HttpError as err:
            raise self._fail(err)
        return b"".join(out)


class HttpRequestParser(_BodyReader):
    """Server side: bytes -> [HttpRequest]. After an error every call raises the same error."""

    def __init__(self, max_header_bytes: int = MAX_HEADER_BYTES, max_headers: int = MAX_HEADERS,
                 max_body: int = MAX_BODY):
        super().__init__(max_header_bytes, max_headers, max_body)
        self._pending: HttpRequest | None = None
        self._parts: list = []

    @property
    def idle(self) -> bool:
        """True between requests with nothing buffered (the connection is keep-alive idle)."""
        return self._state is _State.HEAD and not self._buf.strip(b"\r\n")

    @property
    def in_head(self) -> bool:
        """True while a request head has started but is not complete (the slowloris window)."""
        return self._state is _State.HEAD and bool(self._buf.strip(b"\r\n"))

    def receive_data(self, data) -> list:
        if self._error is not None:
            raise self._error
        self._buf += data
        out = []
        try:
            while True:
                if self._state is _State.HEAD:
                    lines = self._take_head()
                    if lines is None:
                        break
                    req = self._build(lines)
                    framing = self._start_body(req.headers, 413)
                    if framing == "chunked":
                        self._pending, self._parts = req, []
                        continue
                    if framing:
                        self._remaining = framing
                        self._goto(_State.BODY)
                        self._pending, self._parts = req, []
                        continue
                    out.append(req)
                    continue
                if not self._read_body(self._parts, 413):
                    break
                req = self._pending
                req.body = b"".join(self._parts)
                self._pending, self._parts = None, []
                self._goto(_State.HEAD)
                out.append(req)
        except HttpError as err:
            raise self._fail(err)
        return out

    def _build(self, lines) -> HttpRequest:
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not all(parts):
            raise HttpError(f"bad request line {lines[0][:60]!r}", status=400,
                            code=ERROR_HTTP_PARSE_URI)
        method_b, target_b, version_b = parts
        if not _TOKEN.match(method_b):
            raise HttpError("bad method", status=400, code=ERROR_HTTP_PARSE_URI)
        m = _VERSION.match(version_b)
        if m is None:
            raise HttpError(f"bad version {version_b[:20]!r}", status=400, code=ERROR_HTTP_PARSE_URI)
        if m.group(1) != b"1":
            raise HttpError(f"unsupported version {version_b!r}", status=505)
        version = "1.0" if m.group(2) == b"0" else "1.1"  # 1.x (x>1) is handled as 1.1
        if not _TARGET_OK.match(target_b):
            raise HttpError("bad request target", status=400, code=ERROR_HTTP_PARSE_URI)
        headers = _parse_fields(lines[1:], self.max_headers)
        method = method_b.decode("ascii")
        target = target_b.decode("ascii")

        host_values = _values(headers, "host")
        if len(host_values) > 1:
            raise HttpError("several Host headers", status=400, code=ERROR_HTTP_PARSE_HEADER)
        if version == "1.1" and not host_values:
            raise HttpError("HTTP/1.1 request without Host", status=400, code=ERROR_HTTP_PARSE_HEADER)
        host = host_values[0] if host_values else ""

        origin = target_b
        low = target_b[:8].lower()
        if low.startswith(b"http://") or low.startswith(b"https://"):
            rest = target_b.split(b"://", 1)[1]
            slash = rest.find(b"/")
            qmark = rest.find(b"?")
            cut = min(i for i in (slash, qmark, len(rest)) if i >= 0)
            authority, origin = rest[:cut], rest[cut:]
            if not authority or b"@" in authority:
                raise HttpError("bad absolute-form target", status=400, code=ERROR_HTTP_PARSE_URI)
            host = authority.decode("ascii")  # RFC 9112 3.2.2: the target's authority wins
            if not origin.startswith(b"/"):
                origin = b"/" + origin
        elif target_b == b"*":
            if method != "OPTIONS":
                raise HttpError("asterisk target for non-OPTIONS", status=400,
                                code=ERROR_HTTP_PARSE_URI)
        elif not target_b.startswith(b"/"):
            raise HttpError("bad request target form", status=400, code=ERROR_HTTP_PARSE_URI)

        raw_path_b, _, query_b = origin.partition(b"?")
        raw_path_b = raw_path_b.split(b"#", 1)[0]
        path = _percent_decode_path(raw_path_b)
        query_list = parse_qsl(query_b.split(b"#", 1)[0].decode("ascii"), keep_blank_values=True)
        query: dict = {}
        for k, v in query_list:
            query.setdefault(k, v)

        conn = _tokens(headers, "connection")
        if version == "1.1":
            keep_alive = "close" not in conn
        else:
            keep_alive = "keep-alive" in conn and "close" not in conn
        return HttpRequest(method, target, path, raw_path_b.decode("ascii"), query, query_list,
                           version, headers, b"", keep_alive, _strip_port(host))


__all__ = ["HttpRequest", "HttpRequestParser", "BodyDecoder", "response_head", "request_head", "reason_phrase", "chunk", "LAST_CHUNK",
           "parse_byte_range", "MAX_HEADER_BYTES", "MAX_HEADERS", "MAX_BODY"]
