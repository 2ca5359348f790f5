"""SRT handshake v5, listener side (draft-sharabayko-srt 3.2.1 and 4.3; libsrt processConnectRequest).

Caller -> INDUCTION (version 4, cookie 0) ; listener -> INDUCTION (version 5, SRT magic 0x4A17 in the
extension field, the advertised key length in the encryption field, a SYN cookie).
Caller -> CONCLUSION (version 5, the cookie, HSREQ + optional SID + KMREQ) ; listener -> CONCLUSION
(HSRSP + KMRSP) or a rejection: the handshake type set to 1000 + SRT_REJ_* reason.

The cookie is an HMAC of the peer's address and a one-minute time bucket under a secret that the
caller passes in; the current and the previous bucket are accepted, as libsrt does. A conclusion
with a wrong cookie is dropped without an answer (libsrt does the same), so a flood of forged
conclusions costs one HMAC each and no state. The listener keeps no per-peer state at all: what it
accepts becomes a ``ConnectRequest`` that the application accepts (building the response) or rejects.
"""
from __future__ import annotations

import hashlib
import hmac
import struct

from .crypto import REJ_UNSECURE, KeyMaterial, unwrap_keys
from .errors import SrtError, SrtRejected
from .packet import EXT_HSREQ, EXT_HSRSP, EXT_KMREQ, EXT_KMRSP, HANDSHAKE, ControlPacket

HS_VERSION_UDT4 = 4
HS_VERSION_SRT1 = 5
UDT_DGRAM = 2
SRT_MAGIC = 0x4A17
HS_CIF_SIZE = 48

URQ_INDUCTION = 1
URQ_WAVEAHAND = 0
URQ_CONCLUSION = 0xFFFFFFFF  # -1
URQ_AGREEMENT = 0xFFFFFFFE   # -2
URQ_DONE = 0xFFFFFFFD        # -3
URQ_FAILURE_TYPES = 1000

# Handshake extension flags (the extension field of a v5 conclusion)
HS_EXT_HSREQ = 0x1
HS_EXT_KMREQ = 0x2
HS_EXT_CONFIG = 0x4
# Extension block types beyond HSREQ/HSRSP/KMREQ/KMRSP
EXT_SID = 5
EXT_CONGESTION = 6
EXT_FILTER = 7
EXT_GROUP = 8

# HSREQ/HSRSP SRT flags
SRT_OPT_TSBPDSND = 0x01
SRT_OPT_TSBPDRCV = 0x02
SRT_OPT_HAICRYPT = 0x04
SRT_OPT_TLPKTDROP = 0x08
SRT_OPT_NAKREPORT = 0x10
SRT_OPT_REXMITFLG = 0x20
SRT_OPT_STREAM = 0x40
SRT_OPT_FILTERCAP = 0x80
SRT_VERSION = 0x010503  # we speak as libsrt 1.5.3 does

# SRT_REJ_* reasons (srt.h)
REJ_UNKNOWN = 0
REJ_SYSTEM = 1
REJ_PEER = 2
REJ_RESOURCE = 3
REJ_ROGUE = 4
REJ_BACKLOG = 5
REJ_IPE = 6
REJ_CLOSE = 7
REJ_VERSION = 8
REJ_RDVCOOKIE = 9
REJ_MESSAGEAPI = 12
REJ_CONGESTION = 13
REJ_FILTER = 14
REJ_GROUP = 15
# Application-level reasons (SRT_REJC_PREDEFINED + HTTP-like code), e.g. 1403 forbidden, 1404 not found
REJX_BAD_REQUEST = 1400
REJX_FORBIDDEN = 1403
REJX_NOTFOUND = 1404
REJX_CONFLICT = 1409

MAX_STREAMID = 512
COOKIE_BUCKET_US = 60_000_000

_CIF = struct.Struct(">IHHIIIIII16s")


class Handshake:
    __slots__ = ("version", "enc_field", "ext_field", "isn", "mtu", "flow_window", "req_type",
                 "socket_id", "cookie", "peer_ip", "extensions")

    def __init__(self, version=HS_VERSION_SRT1, enc_field=0, ext_field=0, isn=0, mtu=1500,
                 flow_window=8192, req_type=URQ_INDUCTION, socket_id=0, cookie=0, peer_ip=bytes(16),
                 extensions=()):
        self.version = version
        self.enc_field = enc_field
        self.ext_field = ext_field
        self.isn = isn
        self.mtu = mtu
        self.flow_window = flow_window
        self.req_type = req_type
        self.socket_id = socket_id
        self.cookie = cookie
        self.peer_ip = peer_ip
        self.extensions = list(extensions)  # [(type, bytes)]

    def __eq__(self, other) -> bool:
        return isinstance(other, Handshake) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self) -> str:
        return (f"Handshake(v{self.version}, type={self.req_type:#x}, ext={self.ext_field:#x}, "
                f"isn={self.isn}, id={self.socket_id:#x}, cookie={self.cookie:#x}, "
                f"exts={[t for t, _ in self.extensions]})")

    @classmethod
    def parse(cls, cif) -> "Handshake":
        n = len(cif)
        if n < HS_CIF_SIZE:
            raise SrtError(f"SRT handshake of {n} bytes")
        hs = cls(*_CIF.unpack_from(cif))
        if hs.isn & 0x80000000:
            raise SrtError(f"SRT handshake ISN {hs.isn:#x}")
        if not 76 <= hs.mtu <= 65536:
            raise SrtError(f"SRT handshake MTU {hs.mtu}")
        pos = HS_CIF_SIZE
        while pos < n:
            if pos + 4 > n:
                raise SrtError("SRT handshake extension header truncated")
            etype, words = struct.unpack_from(">HH", cif, pos)
            end = pos + 4 + 4 * words
            if end > n:
                raise SrtError(f"SRT handshake extension {etype} of {words} words past the end")
            hs.extensions.append((etype, bytes(cif[pos + 4:end])))
            pos = end
        return hs

    def build(self) -> bytes:
        out = [_CIF.pack(self.version, self.enc_field, self.ext_field, self.isn, self.mtu,
                         self.flow_window, self.req_type, self.socket_id, self.cookie, self.peer_ip)]
        for etype, body in self.extensions:
            body += bytes(-len(body) % 4)
            out.append(struct.pack(">HH", etype, len(body) // 4) + body)
        return b"".join(out)

    def extension(self, etype: int):
        for t, body in self.extensions:
            if t == etype:
                return body
        return None


class HsReq:
    """HSREQ/HSRSP body: SRT version, flags, receiver and sender TSBPD delays (ms)."""

    __slots__ = ("version", "flags", "recv_delay_ms", "send_delay_ms")

    def __init__(self, version: int, flags: int, recv_delay_ms: int, send_delay_ms: int):
        self.version = version
        self.flags = flags
        self.recv_delay_ms = recv_delay_ms
        self.send_delay_ms = send_delay_ms

    @classmethod
    def parse(cls, body: bytes) -> "HsReq":
        if len(body) < 12:
            raise SrtError(f"SRT HSREQ of {len(body)} bytes")
        version, flags, delays = struct.unpack_from(">III", body)
        return cls(version, flags, delays >> 16, delays & 0xFFFF)

    def build(self) -> bytes:
        return struct.pack(">III", self.version, self.flags,
                           (self.recv_delay_ms & 0xFFFF) << 16 | (self.send_delay_ms & 0xFFFF))


def decode_sid(body: bytes) -> str:
    """libsrt writes the stream id as host-order (little-endian) 32-bit words: reverse each word."""
    if len(body) % 4 or len(body) > MAX_STREAMID:
        raise SrtError(f"SRT stream id of {len(body)} bytes")
    raw = b"".join(body[i:i + 4][::-1] for i in range(0, len(body), 4)).rstrip(b"\0")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SrtError("SRT stream id is not UTF-8") from e


def encode_sid(sid: str) -> bytes:
    raw = sid.encode("utf-8")
    raw += bytes(-len(raw) % 4)
    return b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))


class ListenerConfig:
    """The srt_server options that shape the handshake (SRS defaults; latencies in ms)."""

    def __init__(self, mss: int = 1500, flow_window: int = 8192, recv_latency_ms: int = 120,
                 peer_latency_ms: int = 0, tlpktdrop: bool = True, passphrase: str = "",
                 pbkeylen: int = 0):
        self.mss = mss
        self.flow_window = flow_window
        self.recv_latency_ms = recv_latency_ms
        self.peer_latency_ms = peer_latency_ms
        self.tlpktdrop = tlpktdrop
        self.passphrase = passphrase.encode("utf-8")
        self.pbkeylen = pbkeylen


class ConnectRequest:
    """A conclusion that passed the cookie and the SRT checks; accept() or reject() it."""

    __slots__ = ("peer", "peer_socket_id", "isn", "mtu", "flow_window", "streamid", "recv_latency_ms",
                 "send_latency_ms", "tlpktdrop", "km", "keys", "handshake", "peer_timestamp")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))


class HandshakeListener:
    def __init__(self, config: ListenerConfig, cookie_secret: bytes):
        self.config = config
        self._secret = cookie_secret

    def cookie(self, peer: tuple, now_us: int, bucket_offset: int = 0) -> int:
        bucket = now_us // COOKIE_BUCKET_US + bucket_offset
        msg = f"{peer[0]}:{peer[1]}:{bucket}".encode()
        return int.from_bytes(hmac.new(self._secret, msg, hashlib.sha256).digest()[:4], "big")

    def on_handshake(self, pkt: ControlPacket, peer: tuple, now_us: int):
        """-> (reply bytes or None, ConnectRequest or None); SrtError for what is dropped silently."""
        hs = Handshake.parse(pkt.cif)
        if hs.req_type == URQ_INDUCTION:
            if hs.version != HS_VERSION_UDT4 or hs.ext_field != UDT_DGRAM:
                raise SrtError(f"SRT induction v{hs.version} type {hs.ext_field}")
            rsp = Handshake(HS_VERSION_SRT1, self.config.pbkeylen // 8, SRT_MAGIC, hs.isn, hs.mtu,
                            hs.flow_window, URQ_INDUCTION, hs.socket_id, self.cookie(peer, now_us),
                            hs.peer_ip)
            return ControlPacket(HANDSHAKE, pkt.timestamp, hs.socket_id, rsp.build()).build(), None
        if hs.req_type != URQ_CONCLUSION:
            raise SrtError(f"SRT handshake type {hs.req_type:#x} to a listener")
        if hs.cookie not in (self.cookie(peer, now_us), self.cookie(peer, now_us, -1)):
            raise SrtError(f"SRT conclusion from {peer} with a wrong cookie {hs.cookie:#x}")
        try:
            return None, self._conclusion(hs, peer, pkt.timestamp)
        except SrtRejected as e:
            return self.reject_handshake(hs, e.reason), None

    def _conclusion(self, hs: Handshake, peer: tuple, peer_ts: int) -> ConnectRequest:
        if hs.version != HS_VERSION_SRT1:
            raise SrtRejected(f"SRT handshake version {hs.version}", REJ_VERSION)
        body = hs.extension(EXT_HSREQ)
        if not hs.ext_field & HS_EXT_HSREQ or body is None:
            raise SrtRejected("SRT conclusion without HSREQ", REJ_ROGUE)
        req = HsReq.parse(body)
        if req.flags & SRT_OPT_STREAM:
            raise SrtRejected("SRT stream (file) mode; live only", REJ_MESSAGEAPI)
        if not req.flags & SRT_OPT_TSBPDSND and not req.flags & SRT_OPT_TSBPDRCV:
            raise SrtRejected("SRT peer without TSBPD", REJ_ROGUE)
        for etype in (EXT_CONGESTION, EXT_FILTER, EXT_GROUP):
            ext = hs.extension(etype)
            if etype == EXT_CONGESTION and ext is not None and decode_sid(ext) != "live":
                raise SrtRejected("SRT congestion control other than live", REJ_CONGESTION)
            if etype != EXT_CONGESTION and ext is not None:
                raise SrtRejected(f"SRT extension {etype} unsupported",
                                  REJ_FILTER if etype == EXT_FILTER else REJ_GROUP)
        sid = hs.extension(EXT_SID)
        km_body = hs.extension(EXT_KMREQ)
        cfg = self.config
        km, keys = None, None
        if km_body is not None and hs.ext_field & HS_EXT_KMREQ:
            if not cfg.passphrase:
                raise SrtRejected("SRT peer encrypts, we have no passphrase", REJ_UNSECURE)
            km = KeyMaterial.parse(km_body)
            keys = unwrap_keys(km, cfg.passphrase)
        elif cfg.passphrase:
            raise SrtRejected("SRT passphrase required", REJ_UNSECURE)
        recv = max(cfg.recv_latency_ms, req.send_delay_ms) if req.flags & SRT_OPT_TSBPDSND else 0
        send = max(cfg.peer_latency_ms, req.recv_delay_ms) if req.flags & SRT_OPT_TSBPDRCV else 0
        return ConnectRequest(
            peer=peer, peer_socket_id=hs.socket_id, isn=hs.isn, mtu=min(hs.mtu, cfg.mss),
            flow_window=hs.flow_window, streamid=self._streamid(sid),
            recv_latency_ms=recv, send_latency_ms=send,
            tlpktdrop=bool(cfg.tlpktdrop and req.flags & SRT_OPT_TLPKTDROP), km=km, keys=keys,
            handshake=hs, peer_timestamp=peer_ts)

    @staticmethod
    def _streamid(body) -> str:
        """The SID extension; one over 512 bytes or not UTF-8 is refused as a bad request (1400),
        which the caller sees, like any other stream id we cannot route."""
        if body is None:
            return ""
        try:
            return decode_sid(body)
        except SrtError as e:
            raise SrtRejected(str(e), REJX_BAD_REQUEST) from e

    def response(self, req: ConnectRequest, socket_id: int) -> Handshake:
        """Our conclusion: the caller's ISN for both directions (as libsrt), HSRSP and KMRSP."""
        flags = (SRT_OPT_TSBPDSND | SRT_OPT_TSBPDRCV | SRT_OPT_NAKREPORT | SRT_OPT_REXMITFLG
                 | (SRT_OPT_TLPKTDROP if req.tlpktdrop else 0) | (SRT_OPT_HAICRYPT if req.km else 0))
        exts = [(EXT_HSRSP, HsReq(SRT_VERSION, flags, req.recv_latency_ms, req.send_latency_ms).build())]
        ext_field = HS_EXT_HSREQ
        if req.km is not None:
            exts.append((EXT_KMRSP, req.km.build()))
            ext_field |= HS_EXT_KMREQ
        hs = req.handshake
        return Handshake(HS_VERSION_SRT1, req.km.klen // 8 if req.km else 0, ext_field, req.isn,
                         req.mtu, min(hs.flow_window, self.config.flow_window), URQ_CONCLUSION,
                         socket_id, hs.cookie, hs.peer_ip, exts)

    @staticmethod
    def reject_handshake(hs: Handshake, reason: int) -> bytes:
        """A rejection: the caller's handshake back with type 1000 + reason; reason is an SRT_REJ_*
        (< 1000), a predefined SRT_REJX_* (1000 + HTTP-like code, e.g. 1403) or a user code (2000+)."""
        code = URQ_FAILURE_TYPES + reason
        rsp = Handshake(HS_VERSION_SRT1, 0, 0, hs.isn, hs.mtu, hs.flow_window, code, hs.socket_id,
                        hs.cookie, hs.peer_ip)
        return ControlPacket(HANDSHAKE, 0, hs.socket_id, rsp.build()).build()

    def reject(self, req: ConnectRequest, reason: int) -> bytes:
        return self.reject_handshake(req.handshake, reason)


def rejection_reason(hs: Handshake):
    """The SRT_REJ_* reason of a rejecting handshake, else None."""
    if URQ_FAILURE_TYPES <= hs.req_type < 0x80000000:
        return hs.req_type - URQ_FAILURE_TYPES
    return None
