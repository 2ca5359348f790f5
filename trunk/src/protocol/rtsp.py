"""Sans-IO RTSP 1.0 (RFC 2326) for the push caster: requests in, responses out, plus the SDP
(RFC 4566) of an ANNOUNCE and the Transport header of a SETUP.

``RtspParser.receive_data(bytes)`` returns ``RtspRequest`` and ``InterleavedFrame`` events: with
``RTP/AVP/TCP`` the client interleaves ``$ <channel> <length16> <data>`` frames with requests on
the same connection. Anything malformed raises ``RtspError`` (``status`` = the answer to send).
"""
from __future__ import annotations

import base64
import binascii
import re
import struct

from srs.kernel.errors import (ERROR_RTSP_AUDIO_CONFIG, ERROR_RTSP_REQUEST_HEADER_EOF,
                               ERROR_RTSP_TOKEN_NOT_NORMAL, RtspError)

RTSP_VERSION = "RTSP/1.0"
MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024
METHODS = ("OPTIONS", "DESCRIBE", "ANNOUNCE", "SETUP", "PLAY", "PAUSE", "RECORD", "TEARDOWN",
           "GET_PARAMETER", "SET_PARAMETER", "REDIRECT")
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           406: "Not Acceptable", 415: "Unsupported Media Type", 451: "Parameter Not Understood",
           453: "Not Enough Bandwidth", 454: "Session Not Found", 455: "Method Not Valid in This State",
           459: "Aggregate Operation Not Allowed", 461: "Unsupported Transport",
           500: "Internal Server Error", 501: "Not Implemented", 505: "RTSP Version Not Supported"}

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_TOKEN = re.compile(r"^[A-Z_]+$")


class RtspRequest:
    __slots__ = ("method", "uri", "version", "headers", "body")

    def __init__(self, method: str, uri: str, headers=(), body: bytes = b"", version: str = RTSP_VERSION):
        self.method = method
        self.uri = uri
        self.version = version
        self.headers = list(headers)
        self.body = body

    def __repr__(self) -> str:
        return f"RtspRequest({self.method} {self.uri}, cseq={self.cseq}, body={len(self.body)})"

    def header(self, name: str):
        low = name.lower()
        for k, v in self.headers:
            if k.lower() == low:
                return v
        return None

    @property
    def cseq(self) -> int:
        try:
            return int(self.header("CSeq") or 0)
        except ValueError:
            return 0

    @property
    def session(self) -> str:
        """The Session header without its ``;timeout=`` parameter."""
        return (self.header("Session") or "").split(";", 1)[0].strip()

    def build(self) -> bytes:
        headers = [h for h in self.headers if h[0].lower() != "content-length"]
        if self.body:
            headers.append(("Content-Length", str(len(self.body))))
        lines = [f"{self.method} {self.uri} {self.version}"] + [f"{k}: {v}" for k, v in headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + bytes(self.body)


class InterleavedFrame:
    """A ``$``-framed packet on the RTSP connection (RTP on even channels, RTCP on odd)."""

    __slots__ = ("channel", "data")

    def __init__(self, channel: int, data: bytes):
        self.channel = channel
        self.data = data

    def __repr__(self) -> str:
        return f"InterleavedFrame(channel={self.channel}, size={len(self.data)})"

    def build(self) -> bytes:
        if len(self.data) > 0xFFFF:
            raise RtspError("interleaved frame too big", 500)
        return struct.pack(">BBH", 0x24, self.channel, len(self.data)) + bytes(self.data)


def response(status: int, cseq: int, headers=(), body: bytes = b"", server: str = "") -> bytes:
    """An RTSP response head (+ body); CSeq first as clients expect."""
    lines = [f"{RTSP_VERSION} {status} {REASONS.get(status, 'Unknown')}", f"CSeq: {cseq}"]
    if server:
        lines.append(f"Server: {server}")
    lines += [f"{k}: {v}" for k, v in headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + bytes(body)


class RtspParser:
    """Bytes -> [RtspRequest | InterleavedFrame]. After an error every call raises it again."""

    def __init__(self, max_head: int = MAX_HEAD, max_body: int = MAX_BODY):
        self.max_head = max_head
        self.max_body = max_body
        self._buf = bytearray()
        self._pending = None   # request waiting for its body
        self._need = 0
        self._error = None

    def receive_data(self, data) -> list:
        if self._error is not None:
            raise self._error
        self._buf += data
        out = []
        try:
            self._parse(out)
        except RtspError as e:
            self._error = e
            raise
        return out

    def _parse(self, out: list) -> None:
        buf = self._buf
        while True:
            if self._pending is not None:
                if len(buf) < self._need:
                    return
                self._pending.body = bytes(buf[:self._need])
                del buf[:self._need]
                out.append(self._pending)
                self._pending = None
                continue
            while buf[:2] == b"\r\n" or buf[:1] == b"\n":  # tolerate blank lines between messages
                del buf[:2 if buf[:1] == b"\r" else 1]
            if not buf:
                return
            if buf[0] == 0x24:
                if len(buf) < 4:
                    return
                channel, size = buf[1], (buf[2] << 8) | buf[3]
                if len(buf) < 4 + size:
                    return
                out.append(InterleavedFrame(channel, bytes(buf[4:4 + size])))
                del buf[:4 + size]
                continue
            m = _HEAD_END.search(buf)
            if m is None:
                if len(buf) > self.max_head:
                    raise RtspError(f"RTSP head over {self.max_head} bytes", 400,
                                    ERROR_RTSP_REQUEST_HEADER_EOF)
                return
            if m.start() > self.max_head:
                raise RtspError(f"RTSP head over {self.max_head} bytes", 400, ERROR_RTSP_REQUEST_HEADER_EOF)
            head = bytes(buf[:m.start()])
            del buf[:m.end()]
            req = self._head(head)
            length = req.header("Content-Length")
            try:
                size = int(length) if length is not None else 0
            except ValueError:
                raise RtspError(f"bad Content-Length {length!r}", 400) from None
            if size < 0 or size > self.max_body:
                raise RtspError(f"RTSP body of {size} bytes refused", 413 if size > 0 else 400)
            if size:
                self._pending, self._need = req, size
            else:
                out.append(req)

    @staticmethod
    def _head(head: bytes) -> RtspRequest:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            raise RtspError("RTSP head is not text", 400, ERROR_RTSP_TOKEN_NOT_NORMAL) from None
        lines = [ln.rstrip("\r") for ln in text.split("\n")]
        parts = lines[0].split(" ")
        if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[1]:
            raise RtspError(f"bad RTSP request line {lines[0][:80]!r}", 400, ERROR_RTSP_TOKEN_NOT_NORMAL)
        if parts[2] != RTSP_VERSION:
            raise RtspError(f"unsupported version {parts[2][:20]!r}", 505, ERROR_RTSP_TOKEN_NOT_NORMAL)
        headers = []
        for ln in lines[1:]:
            name, sep, value = ln.partition(":")
            if not sep or not name.strip() or name != name.strip():
                raise RtspError(f"bad RTSP header line {ln[:80]!r}", 400, ERROR_RTSP_TOKEN_NOT_NORMAL)
            headers.append((name, value.strip()))
        return RtspRequest(parts[0], parts[1], headers, b"", parts[2])


# --- URLs

def split_url(uri: str) -> tuple:
    """``rtsp://host[:port]/app[/more]/stream[?q]`` -> (host, port, path without query).
    The path keeps its leading ``/``."""
    if not uri.lower().startswith("rtsp://"):
        raise RtspError(f"not an rtsp url: {uri[:80]!r}", 400)
    rest = uri[7:]
    slash = rest.find("/")
    authority, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    authority = authority.rsplit("@", 1)[-1]
    host, port = authority, 554
    if authority.startswith("["):
        end = authority.find("]")
        host = authority[1:end]
        if authority[end + 1:end + 2] == ":":
            port = int(authority[end + 2:] or 554)
    elif ":" in authority:
        host, p = authority.rsplit(":", 1)
        try:
            port = int(p) if p else 554
        except ValueError:
            raise RtspError(f"bad port in {uri[:80]!r}", 400) from None
    return host, port, path.split("?", 1)[0]


def app_stream(uri: str) -> tuple:
    """The (app, stream) an ANNOUNCE url publishes: the last path part is the stream."""
    path = split_url(uri)[2].strip("/")
    app, _, stream = path.rpartition("/")
    if not app or not stream:
        raise RtspError(f"no app/stream in {uri[:80]!r}", 400)
    return app, stream


# --- Transport (RFC 2326 12.39)

class Transport:
    __slots__ = ("profile", "lower", "unicast", "client_port", "server_port", "interleaved", "mode",
                 "extra")

    def __init__(self, profile: str = "RTP/AVP", lower: str = "UDP", unicast: bool = True,
                 client_port=None, server_port=None, interleaved=None, mode: str = "", extra=()):
        self.profile = profile
        self.lower = lower
        self.unicast = unicast
        self.client_port = client_port
        self.server_port = server_port
        self.interleaved = interleaved
        self.mode = mode
        self.extra = tuple(extra)

    @property
    def tcp(self) -> bool:
        return self.lower == "TCP"

    @classmethod
    def parse(cls, value: str) -> "Transport":
        """The first transport of the (comma separated) list the client offers."""
        spec = value.split(",", 1)[0].strip()
        params = [p.strip() for p in spec.split(";") if p.strip()]
        if not params:
            raise RtspError("empty Transport", 461)
        proto = params[0].upper().split("/")
        if len(proto) < 2 or proto[0] != "RTP" or proto[1] != "AVP" or len(proto) > 3:
            raise RtspError(f"unsupported transport {params[0][:40]!r}", 461)
        t = cls(lower=proto[2] if len(proto) == 3 else "UDP")
        if t.lower not in ("UDP", "TCP"):
            raise RtspError(f"unsupported lower transport {t.lower!r}", 461)
        extra = []
        for p in params[1:]:
            key, _, val = p.partition("=")
            key = key.lower()
            if key in ("unicast", "multicast"):
                t.unicast = key == "unicast"
            elif key in ("client_port", "server_port", "interleaved"):
                setattr(t, key, _pair(val, key))
            elif key == "mode":
                t.mode = val.strip('"').lower()
            else:
                extra.append(p)
        t.extra = tuple(extra)
        return t

    def build(self) -> str:
        parts = [f"{self.profile}/{self.lower}", "unicast" if self.unicast else "multicast"]
        for key in ("client_port", "server_port", "interleaved"):
            v = getattr(self, key)
            if v is not None:
                parts.append(f"{key}={v[0]}-{v[1]}")
        if self.mode:
            parts.append(f"mode={self.mode}")
        return ";".join(parts)


def _pair(text: str, what: str) -> tuple:
    a, sep, b = text.partition("-")
    try:
        lo = int(a)
        hi = int(b) if sep else lo + 1
    except ValueError:
        raise RtspError(f"bad {what} {text[:20]!r}", 461) from None
    if not (0 <= lo <= 65535 and 0 <= hi <= 65535):
        raise RtspError(f"{what} {text[:20]!r} out of range", 461)
    return lo, hi


# --- SDP (only what a push needs: media, rtpmap, fmtp, control)

class SdpMedia:
    __slots__ = ("kind", "port", "proto", "payload_type", "encoding", "clock_rate", "channels",
                 "fmtp", "control")

    def __init__(self, kind: str, port: int, proto: str, payload_type: int):
        self.kind = kind
        self.port = port
        self.proto = proto
        self.payload_type = payload_type
        self.encoding = ""
        self.clock_rate = 0
        self.channels = 1
        self.fmtp: dict = {}
        self.control = ""

    def __repr__(self) -> str:
        return f"SdpMedia({self.kind} {self.encoding}/{self.clock_rate}, pt={self.payload_type})"

    # -- H.264 (RFC 6184 sprop-parameter-sets)
    def h264_parameter_sets(self) -> tuple:
        """(sps, pps) from sprop-parameter-sets, or (b"", b"") when absent (then in-band)."""
        value = self.fmtp.get("sprop-parameter-sets", "")
        sps = pps = b""
        for item in filter(None, value.split(",")):
            try:
                nalu = base64.b64decode(item + "=" * (-len(item) % 4), validate=True)
            except (binascii.Error, ValueError):
                raise RtspError(f"bad sprop-parameter-sets {item[:40]!r}", 400) from None
            if not nalu:
                continue
            if nalu[0] & 0x1F == 7 and not sps:
                sps = nalu
            elif nalu[0] & 0x1F == 8 and not pps:
                pps = nalu
        return sps, pps

    # -- AAC (RFC 3640 mpeg4-generic)
    def aac_config(self) -> bytes:
        """The AudioSpecificConfig from ``config=`` (hex)."""
        text = self.fmtp.get("config", "")
        try:
            asc = bytes.fromhex(text)
        except ValueError:
            raise RtspError(f"bad AAC config {text[:40]!r}", 400, ERROR_RTSP_AUDIO_CONFIG) from None
        if len(asc) < 2:
            raise RtspError("AAC without config", 400, ERROR_RTSP_AUDIO_CONFIG)
        return asc

    def aac_lengths(self) -> tuple:
        """(sizelength, indexlength, indexdeltalength) of the AU headers."""
        try:
            return tuple(int(self.fmtp.get(k, d)) for k, d in
                         (("sizelength", 13), ("indexlength", 3), ("indexdeltalength", 3)))
        except ValueError:
            raise RtspError("bad AU header lengths", 400, ERROR_RTSP_AUDIO_CONFIG) from None


class Sdp:
    __slots__ = ("media", "attributes")

    def __init__(self, media=(), attributes=None):
        self.media = list(media)
        self.attributes = dict(attributes or {})

    @classmethod
    def parse(cls, data) -> "Sdp":
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise RtspError("SDP is not text", 400) from None
        sdp = cls()
        cur = None
        seen_v = False
        for raw in text.splitlines():
            line = raw.strip()
            if not line:
                continue
            if len(line) < 2 or line[1] != "=":
                raise RtspError(f"bad SDP line {line[:60]!r}", 400)
            kind, value = line[0], line[2:]
            if kind == "v":
                seen_v = True
            elif kind == "m":
                parts = value.split()
                if len(parts) < 4:
                    raise RtspError(f"bad SDP media line {value[:60]!r}", 400)
                try:
                    port, pt = int(parts[1].split("/")[0]), int(parts[3])
                except ValueError:
                    raise RtspError(f"bad SDP media line {value[:60]!r}", 400) from None
                cur = SdpMedia(parts[0], port, parts[2], pt)
                sdp.media.append(cur)
            elif kind == "a":
                name, _, attr = value.partition(":")
                if cur is None:
                    sdp.attributes[name] = attr
                else:
                    cls._media_attribute(cur, name, attr)
        if not seen_v or not sdp.media:
            raise RtspError("SDP without version or media", 400)
        return sdp

    @staticmethod
    def _media_attribute(m: SdpMedia, name: str, attr: str) -> None:
        if name == "rtpmap":
            pt, _, enc = attr.partition(" ")
            if pt.strip() != str(m.payload_type):
                return
            fields = enc.strip().split("/")
            m.encoding = fields[0].upper()
            try:
                m.clock_rate = int(fields[1]) if len(fields) > 1 else 0
                m.channels = int(fields[2]) if len(fields) > 2 else 1
            except ValueError:
                raise RtspError(f"bad rtpmap {attr[:60]!r}", 400) from None
        elif name == "fmtp":
            pt, _, params = attr.partition(" ")
            if pt.strip() != str(m.payload_type):
                return
            for item in params.split(";"):
                k, _, v = item.strip().partition("=")
                if k:
                    m.fmtp[k.lower()] = v.strip()
        elif name == "control":
            m.control = attr.strip()

    def find(self, kind: str):
        for m in self.media:
            if m.kind == kind:
                return m
        return None


__all__ = ["RtspRequest", "InterleavedFrame", "RtspParser", "response", "split_url", "app_stream",
           "Transport", "Sdp", "SdpMedia", "METHODS", "REASONS"]
