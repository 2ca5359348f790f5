"""STUN for an ICE-lite server (RFC 8489/5389, ICE RFC 8445) and the first-byte demux (RFC 7983).

Only what ICE-lite needs: parse a Binding request (USERNAME, PRIORITY, USE-CANDIDATE,
ICE-CONTROLLING/CONTROLLED, MESSAGE-INTEGRITY, FINGERPRINT) and build the success response with
XOR-MAPPED-ADDRESS. The transaction id of requests we build is passed in (no randomness here).
"""
from __future__ import annotations

import binascii
import hashlib
import hmac
import ipaddress
import struct

from srs.protocol.rtc.errors import StunError

MAGIC_COOKIE = 0x2112A442
HEADER_SIZE = 20
MAX_MESSAGE_SIZE = 1500       # one UDP datagram on the media port; anything longer is hostile
FINGERPRINT_XOR = 0x5354554E
BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
BINDING_ERROR = 0x0111

ATTR_MAPPED_ADDRESS = 0x0001
ATTR_USERNAME = 0x0006
ATTR_MESSAGE_INTEGRITY = 0x0008
ATTR_ERROR_CODE = 0x0009
ATTR_XOR_MAPPED_ADDRESS = 0x0020
ATTR_PRIORITY = 0x0024
ATTR_USE_CANDIDATE = 0x0025
ATTR_SOFTWARE = 0x8022
ATTR_FINGERPRINT = 0x8028
ATTR_ICE_CONTROLLED = 0x8029
ATTR_ICE_CONTROLLING = 0x802A

# RFC 7983 first-byte classes on the shared media port
PACKET_STUN, PACKET_DTLS, PACKET_RTP, PACKET_RTCP, PACKET_UNKNOWN = (
    "stun", "dtls", "rtp", "rtcp", "unknown")


def classify(data) -> str:
    """Which protocol a datagram on the single media port carries (SRS's order: RTP/RTCP first)."""
    n = len(data)
    if n == 0:
        return PACKET_UNKNOWN
    b0 = data[0]
    if n >= 12 and (b0 & 0xC0) == 0x80:
        return PACKET_RTCP if 192 <= data[1] <= 223 else PACKET_RTP
    if b0 <= 3 and n >= HEADER_SIZE:
        return PACKET_STUN
    if n >= 13 and 19 < b0 < 64:
        return PACKET_DTLS
    return PACKET_UNKNOWN


def _pad4(n: int) -> int:
    return (n + 3) & ~3


class StunMessage:
    """One STUN message; ``attrs`` keeps (type, value) in wire order, integrity checks are explicit."""

    __slots__ = ("type", "transaction_id", "attrs", "raw", "_mi_at", "_fp_at")

    def __init__(self, type: int, transaction_id: bytes, attrs=None):
        if len(transaction_id) != 12:
            raise StunError(f"STUN transaction id of {len(transaction_id)} bytes")
        self.type = type
        self.transaction_id = bytes(transaction_id)
        self.attrs = list(attrs or [])
        self.raw = b""
        self._mi_at = -1   # offset of the MESSAGE-INTEGRITY attribute header in ``raw``
        self._fp_at = -1

    # -- reading
    def get(self, attr_type: int):
        for t, v in self.attrs:
            if t == attr_type:
                return v
        return None

    @property
    def username(self) -> str:
        v = self.get(ATTR_USERNAME)
        if v is None:
            return ""
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            raise StunError("STUN USERNAME is not UTF-8") from None

    @property
    def priority(self) -> int:
        v = self.get(ATTR_PRIORITY)
        return struct.unpack(">I", v)[0] if v is not None and len(v) == 4 else 0

    @property
    def use_candidate(self) -> bool:
        return self.get(ATTR_USE_CANDIDATE) is not None

    @property
    def ice_controlling(self) -> bool:
        return self.get(ATTR_ICE_CONTROLLING) is not None

    @property
    def ice_controlled(self) -> bool:
        return self.get(ATTR_ICE_CONTROLLED) is not None

    def xor_mapped_address(self):
        """(ip, port) from XOR-MAPPED-ADDRESS, or None."""
        v = self.get(ATTR_XOR_MAPPED_ADDRESS)
        if v is None:
            return None
        return _unxor_address(v, self.transaction_id)

    @classmethod
    def parse(cls, data) -> "StunMessage":
        data = bytes(data)
        n = len(data)
        if n < HEADER_SIZE:
            raise StunError(f"STUN message of {n} bytes")
        if n > MAX_MESSAGE_SIZE:
            raise StunError(f"STUN message of {n} bytes exceeds {MAX_MESSAGE_SIZE}")
        mtype, length, cookie = struct.unpack_from(">HHI", data)
        if mtype & 0xC000:
            raise StunError(f"STUN type 0x{mtype:04x}: top bits set")
        if cookie != MAGIC_COOKIE:
            raise StunError(f"STUN magic cookie 0x{cookie:08x}")
        if length % 4 or HEADER_SIZE + length != n:
            raise StunError(f"STUN length {length} for a {n}-byte datagram")
        msg = cls(mtype, data[8:20])
        msg.raw = data
        pos = HEADER_SIZE
        while pos < n:
            if pos + 4 > n:
                raise StunError("STUN attribute header truncated")
            atype, alen = struct.unpack_from(">HH", data, pos)
            end = pos + 4 + alen
            if end > n:
                raise StunError(f"STUN attribute 0x{atype:04x} of {alen} bytes overruns")
            if msg._fp_at >= 0:
                raise StunError("STUN attribute after FINGERPRINT")
            if atype == ATTR_MESSAGE_INTEGRITY:
                if alen != 20:
                    raise StunError(f"MESSAGE-INTEGRITY of {alen} bytes")
                msg._mi_at = pos
            elif atype == ATTR_FINGERPRINT:
                if alen != 4:
                    raise StunError(f"FINGERPRINT of {alen} bytes")
                msg._fp_at = pos
            elif msg._mi_at >= 0:
                # RFC 8489 14.5: attributes after MESSAGE-INTEGRITY (but FINGERPRINT) are not
                # covered by it, so they are skipped rather than trusted
                pos = pos + 4 + _pad4(alen)
                continue
            msg.attrs.append((atype, data[pos + 4:end]))
            pos = pos + 4 + _pad4(alen)
        if pos != n:
            raise StunError("STUN attribute padding overruns")
        if msg._fp_at >= 0:
            want = struct.unpack_from(">I", data, msg._fp_at + 4)[0]
            if want != _fingerprint(data[:msg._fp_at]):
                raise StunError("STUN FINGERPRINT mismatch")
        return msg

    def check_integrity(self, key: bytes) -> bool:
        """MESSAGE-INTEGRITY of a parsed message with ``key`` (ICE: the ice-pwd as bytes)."""
        if self._mi_at < 0:
            return False
        head = bytearray(self.raw[:self._mi_at])
        struct.pack_into(">H", head, 2, self._mi_at + 24 - HEADER_SIZE)
        want = self.raw[self._mi_at + 4:self._mi_at + 24]
        return hmac.compare_digest(hmac.new(key, bytes(head), hashlib.sha1).digest(), want)

    # -- writing
    def build(self, integrity_key: bytes | None = None, fingerprint: bool = True) -> bytes:
        body = bytearray()
        for atype, value in self.attrs:
            body += struct.pack(">HH", atype, len(value)) + value + bytes(_pad4(len(value)) - len(value))
        head = struct.pack(">HHI", self.type, 0, MAGIC_COOKIE) + self.transaction_id
        msg = bytearray(head) + body
        if integrity_key is not None:
            struct.pack_into(">H", msg, 2, len(msg) + 24 - HEADER_SIZE)
            digest = hmac.new(integrity_key, bytes(msg), hashlib.sha1).digest()
            msg += struct.pack(">HH", ATTR_MESSAGE_INTEGRITY, 20) + digest
        if fingerprint:
            struct.pack_into(">H", msg, 2, len(msg) + 8 - HEADER_SIZE)
            msg += struct.pack(">HHI", ATTR_FINGERPRINT, 4, _fingerprint(bytes(msg)))
        struct.pack_into(">H", msg, 2, len(msg) - HEADER_SIZE)
        self.raw = bytes(msg)
        return self.raw


def _fingerprint(data: bytes) -> int:
    return (binascii.crc32(data) & 0xFFFFFFFF) ^ FINGERPRINT_XOR


def xor_address(ip: str, port: int, transaction_id: bytes) -> bytes:
    addr = ipaddress.ip_address(ip)
    xport = port ^ (MAGIC_COOKIE >> 16)
    key = struct.pack(">I", MAGIC_COOKIE) + transaction_id
    raw = addr.packed
    xored = bytes(a ^ b for a, b in zip(raw, key))
    family = 0x01 if addr.version == 4 else 0x02
    return struct.pack(">BBH", 0, family, xport) + xored


def _unxor_address(v: bytes, transaction_id: bytes):
    if len(v) not in (8, 20):
        raise StunError(f"XOR-MAPPED-ADDRESS of {len(v)} bytes")
    family = v[1]
    if (family, len(v)) not in ((1, 8), (2, 20)):
        raise StunError(f"XOR-MAPPED-ADDRESS family {family} with {len(v)} bytes")
    port = struct.unpack_from(">H", v, 2)[0] ^ (MAGIC_COOKIE >> 16)
    key = struct.pack(">I", MAGIC_COOKIE) + transaction_id
    ip = ipaddress.ip_address(bytes(a ^ b for a, b in zip(v[4:], key)))
    return str(ip), port


def binding_request(transaction_id: bytes, username: str, password: str, priority: int,
                    controlling: bool, tie_breaker: int, use_candidate: bool = False) -> bytes:
    """A connectivity check as an ICE agent sends it (tests and a future ICE-full side use it)."""
    attrs = [(ATTR_USERNAME, username.encode()), (ATTR_PRIORITY, struct.pack(">I", priority))]
    role = ATTR_ICE_CONTROLLING if controlling else ATTR_ICE_CONTROLLED
    attrs.append((role, struct.pack(">Q", tie_breaker)))
    if use_candidate:
        attrs.append((ATTR_USE_CANDIDATE, b""))
    return StunMessage(BINDING_REQUEST, transaction_id, attrs).build(password.encode())


class BindingRequest:
    """A checked ICE Binding request addressed to us: ``local_ufrag``/``remote_ufrag`` split out.

    SRS looks a session up by the USERNAME ``local:remote``; the integrity check needs that
    session's ice-pwd, so ``parse`` only decodes and ``verify`` is called with the pwd found.
    """

    __slots__ = ("message", "local_ufrag", "remote_ufrag")

    def __init__(self, message: StunMessage):
        self.message = message
        local, sep, remote = message.username.partition(":")
        if not sep or not local or not remote:
            raise StunError(f"STUN USERNAME {message.username[:64]!r} is not local:remote")
        self.local_ufrag = local
        self.remote_ufrag = remote

    @classmethod
    def parse(cls, data) -> "BindingRequest":
        msg = StunMessage.parse(data)
        if msg.type != BINDING_REQUEST:
            raise StunError(f"STUN type 0x{msg.type:04x} is not a Binding request")
        return cls(msg)

    def verify(self, local_pwd: str, strict: bool = False) -> None:
        if not self.message.check_integrity(local_pwd.encode()):
            raise StunError(f"STUN MESSAGE-INTEGRITY fails for {self.local_ufrag}")
        if strict and self.message.ice_controlled:
            raise StunError("STUN ICE-CONTROLLED from the peer: an ICE-lite server is never controlling")

    def success(self, local_pwd: str, peer_ip: str, peer_port: int) -> bytes:
        """The Binding success response: XOR-MAPPED-ADDRESS of the peer, signed with our pwd."""
        m = self.message
        attrs = [(ATTR_USERNAME, m.get(ATTR_USERNAME)),
                 (ATTR_XOR_MAPPED_ADDRESS, xor_address(peer_ip, peer_port, m.transaction_id))]
        return StunMessage(BINDING_SUCCESS, m.transaction_id, attrs).build(local_pwd.encode())
