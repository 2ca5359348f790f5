"""The RTMP handshake, sans-IO: simple (plain echo) and complex (Flash/FMS digests).

    client                     server
    C0 (0x03) + C1 (1536)  ->
                           <-  S0 (0x03) + S1 (1536) + S2 (1536)
    C2 (1536)              ->  ... then the chunk stream (often in the same TCP segment as C2)

Complex handshake (what Flash Player and FMS do; srs_rtmp_handshake.cpp): C1/S1 are
``time(4) version(4)`` then two 764-byte blocks, a *key* block and a *digest* block, in one of two
orders: schema 0 = key then digest, schema 1 = digest then key. In the digest block the first four
bytes summed mod 728 give where the 32-byte digest sits (after those four bytes); the digest is an
HMAC-SHA256 over the other 1504 bytes of the packet, keyed by the first 30 bytes of the Flash
Player key (C1) or the first 36 of the FMS key (S1). C2/S2 are 1504 random bytes plus an HMAC of
them keyed by HMAC(full peer key, the other side's C1/S1 digest).

The key block should hold a Diffie-Hellman public key (for RTMPE); nobody checks it for plain RTMP
and SRS only fills it for show, so we fill it with random bytes and do no key exchange.

The server tries schema 0, then schema 1 on C1 and answers with the simple handshake when neither
validates (as SRS). Randomness and time come from the caller so tests are deterministic.
"""
from __future__ import annotations

import enum
import hashlib
import hmac
import struct
from typing import Callable

from srs.kernel.errors import HandshakeError

RTMP_VERSION = 3
RTMPE_VERSIONS = (6, 8)  # encrypted RTMP (Diffie-Hellman + RC4 / XTEA), not supported
PACKET_SIZE = 1536
DIGEST_SIZE = 32
BLOCK_SIZE = 764
KEY_SIZE = 128

# Genuine Flash Player / FMS keys: an ASCII prefix followed by the same 32 fixed bytes.
_KEY_TAIL = bytes((
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1,
    0x02, 0x9E, 0x7E, 0x57, 0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB,
    0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
))
FP_KEY = b"Genuine Adobe Flash Player 001" + _KEY_TAIL        # 62 bytes
FMS_KEY = b"Genuine Adobe Flash Media Server 001" + _KEY_TAIL  # 68 bytes
FP_KEY_PARTIAL = FP_KEY[:30]
FMS_KEY_PARTIAL = FMS_KEY[:36]

# Version fields SRS writes: a Flash Player 9+ style C1 and its server S1.
CLIENT_VERSION = 0x80000702
SERVER_VERSION = 0x01000504

_U32 = struct.Struct(">I")


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def digest_pos(packet: bytes, schema: int) -> int:
    """Absolute offset of the 32-byte digest in a C1/S1 packet laid out with ``schema``."""
    block = 8 + BLOCK_SIZE if schema == 0 else 8
    offset = sum(packet[block:block + 4]) % (BLOCK_SIZE - 4 - DIGEST_SIZE)  # % 728
    return block + 4 + offset


def key_pos(packet: bytes, schema: int) -> int:
    """Absolute offset of the 128-byte (DH public) key in a C1/S1 packet laid out with ``schema``."""
    block = 8 if schema == 0 else 8 + BLOCK_SIZE
    offset = sum(packet[block + BLOCK_SIZE - 4:block + BLOCK_SIZE]) % (BLOCK_SIZE - KEY_SIZE - 4)  # % 632
    return block + offset


def _packet_digest(packet: bytes, pos: int, key: bytes) -> bytes:
    return _hmac(key, packet[:pos] + packet[pos + DIGEST_SIZE:])


def sign_c1s1(packet: bytearray, schema: int, key: bytes) -> bytes:
    """Write the digest of ``packet`` (1536 bytes) into it at the schema's place; return it."""
    pos = digest_pos(packet, schema)
    digest = _packet_digest(packet, pos, key)
    packet[pos:pos + DIGEST_SIZE] = digest
    return digest


def find_digest(packet: bytes, key: bytes) -> tuple:
    """Validate a C1/S1 with schema 0 then 1; return ``(schema, digest)`` or ``(None, None)``."""
    for schema in (0, 1):
        pos = digest_pos(packet, schema)
        digest = bytes(packet[pos:pos + DIGEST_SIZE])
        if hmac.compare_digest(_packet_digest(packet, pos, key), digest):
            return schema, digest
    return None, None


def make_c2s2(random_bytes: Callable[[int], bytes], peer_digest: bytes, full_key: bytes) -> bytes:
    """C2 or S2 of the complex handshake: random bytes signed with a key derived from the peer."""
    body = _random(random_bytes, PACKET_SIZE - DIGEST_SIZE)
    return body + _hmac(_hmac(full_key, peer_digest), body)


def verify_c2s2(packet: bytes, own_digest: bytes, full_key: bytes) -> bool:
    """Check the trailing signature of a C2/S2 made by :func:`make_c2s2` against our C1/S1 digest."""
    body = bytes(packet[:PACKET_SIZE - DIGEST_SIZE])
    expect = _hmac(_hmac(full_key, own_digest), body)
    return hmac.compare_digest(expect, bytes(packet[PACKET_SIZE - DIGEST_SIZE:PACKET_SIZE]))


def make_complex_c1s1(random_bytes: Callable[[int], bytes], time: int, version: int,
                      schema: int, key: bytes) -> tuple:
    """A signed C1/S1: ``(packet, digest)``. The key block is random (no DH, see module doc)."""
    packet = bytearray(_U32.pack(time & 0xFFFFFFFF) + _U32.pack(version)
                       + _random(random_bytes, PACKET_SIZE - 8))
    digest = sign_c1s1(packet, schema, key)
    return bytes(packet), digest


def _random(random_bytes: Callable[[int], bytes], n: int) -> bytes:
    data = bytes(random_bytes(n))
    if len(data) != n:
        raise HandshakeError(f"handshake: random source gave {len(data)} bytes, wanted {n}")
    return data


def _check_version(c0: int, who: str) -> None:
    if c0 == RTMP_VERSION:
        return
    if c0 in RTMPE_VERSIONS:
        raise HandshakeError(f"handshake: {who}0={c0}: RTMPE not supported")
    raise HandshakeError(f"handshake: {who}0={c0}, only plain RTMP version 3 is supported")


class State(enum.Enum):
    START = "start"
    WAIT_C0C1 = "wait_c0c1"
    WAIT_C2 = "wait_c2"
    WAIT_S0S1S2 = "wait_s0s1s2"
    DONE = "done"


class ServerHandshake:
    """Feed received bytes to :meth:`receive_data`; send what it returns; stop at ``done``.

    ``leftover`` holds whatever arrived after C2: the start of the chunk stream.
    """

    def __init__(self, random_bytes: Callable[[int], bytes], now_ms: int):
        self._random_bytes = random_bytes
        self._now_ms = now_ms
        self._buf = bytearray()
        self.state = State.WAIT_C0C1
        self.complex = False
        self.schema: int | None = None
        self.c1 = b""
        self.leftover = b""

    @property
    def done(self) -> bool:
        return self.state is State.DONE

    def receive_data(self, data: bytes) -> bytes:
        if self.state is State.DONE:
            self.leftover += bytes(data)
            return b""
        buf = self._buf
        buf += data
        out = b""
        if self.state is State.WAIT_C0C1:
            if not buf:
                return b""
            _check_version(buf[0], "C")
            if len(buf) < 1 + PACKET_SIZE:
                return b""
            self.c1 = bytes(buf[1:1 + PACKET_SIZE])
            del buf[:1 + PACKET_SIZE]
            out = self._make_s0s1s2()
            self.state = State.WAIT_C2
        if self.state is State.WAIT_C2 and len(buf) >= PACKET_SIZE:
            # C2 is not checked: SRS ignores it too, and some clients send garbage there.
            self.leftover = bytes(buf[PACKET_SIZE:])
            buf.clear()
            self.state = State.DONE
        return out

    def _make_s0s1s2(self) -> bytes:
        c1 = self.c1
        schema, c1_digest = find_digest(c1, FP_KEY_PARTIAL)
        if schema is not None:
            self.complex = True
            self.schema = schema
            s1, _ = make_complex_c1s1(self._random_bytes, self._now_ms, SERVER_VERSION, schema,
                                      FMS_KEY_PARTIAL)
            s2 = make_c2s2(self._random_bytes, c1_digest, FMS_KEY)
            return bytes((RTMP_VERSION,)) + s1 + s2
        # simple: S1 = our time + the client's time + random; S2 = echo of C1
        s1 = _U32.pack(self._now_ms & 0xFFFFFFFF) + c1[:4] + _random(self._random_bytes, PACKET_SIZE - 8)
        return bytes((RTMP_VERSION,)) + s1 + c1


class ClientHandshake:
    """:meth:`start` gives C0C1; feed the server's bytes to :meth:`receive_data`, which returns C2.

    With ``complex`` (default) C1 carries a Flash Player digest laid out with ``schema`` (1, as
    SRS and ffmpeg send). If the server's S1 is not signed (a simple-only server), we answer with
    the simple C2 (an echo of S1) and ``complex`` becomes False.
    """

    def __init__(self, random_bytes: Callable[[int], bytes], now_ms: int, complex: bool = True,
                 schema: int = 1):
        self._random_bytes = random_bytes
        self._now_ms = now_ms
        self._buf = bytearray()
        self.state = State.START
        self.complex = complex
        self.schema = schema
        self.c1 = b""
        self._c1_digest = b""
        self.s2_valid: bool | None = None  # complex only: the server's S2 signs our C1 digest
        self.leftover = b""

    @property
    def done(self) -> bool:
        return self.state is State.DONE

    def start(self) -> bytes:
        if self.state is not State.START:
            raise HandshakeError(f"handshake: start() in state {self.state.value}")
        if self.complex:
            self.c1, self._c1_digest = make_complex_c1s1(self._random_bytes, self._now_ms,
                                                         CLIENT_VERSION, self.schema, FP_KEY_PARTIAL)
        else:
            self.c1 = (_U32.pack(self._now_ms & 0xFFFFFFFF) + b"\x00\x00\x00\x00"
                       + _random(self._random_bytes, PACKET_SIZE - 8))
        self.state = State.WAIT_S0S1S2
        return bytes((RTMP_VERSION,)) + self.c1

    def receive_data(self, data: bytes) -> bytes:
        if self.state is State.DONE:
            self.leftover += bytes(data)
            return b""
        if self.state is not State.WAIT_S0S1S2:
            raise HandshakeError(f"handshake: data before start() (state {self.state.value})")
        buf = self._buf
        buf += data
        if not buf:
            return b""
        _check_version(buf[0], "S")
        need = 1 + 2 * PACKET_SIZE
        if len(buf) < need:
            return b""
        s1 = bytes(buf[1:1 + PACKET_SIZE])
        s2 = bytes(buf[1 + PACKET_SIZE:need])
        self.leftover = bytes(buf[need:])
        buf.clear()
        self.state = State.DONE
        if self.complex:
            pos = digest_pos(s1, self.schema)
            s1_digest = s1[pos:pos + DIGEST_SIZE]
            if hmac.compare_digest(_packet_digest(s1, pos, FMS_KEY_PARTIAL), s1_digest):
                self.s2_valid = verify_c2s2(s2, self._c1_digest, FMS_KEY)
                return make_c2s2(self._random_bytes, s1_digest, FP_KEY)
            self.complex = False
        return s1
