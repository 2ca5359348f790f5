"""RTMP handshake, bytes only: server against client, schemas, fallbacks, partial feeding."""
from __future__ import annotations

import hashlib
import hmac

import pytest

from srs.kernel.errors import HandshakeError
from srs.protocol import rtmp_handshake as hs
from srs.protocol.rtmp_handshake import ClientHandshake, ServerHandshake


class SeededRandom:
    """Deterministic byte source (a counter hashed with a seed), so runs are reproducible."""

    def __init__(self, seed: int):
        self.seed = seed
        self.counter = 0

    def __call__(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            self.counter += 1
            out += hashlib.sha256(f"{self.seed}:{self.counter}".encode()).digest()
        return bytes(out[:n])


def run(client: ClientHandshake, server: ServerHandshake, extra_c: bytes = b"", extra_s: bytes = b"",
        step: int = 0):
    """Drive both sides; ``step`` > 0 feeds that many bytes at a time. Returns the bytes sent."""
    c0c1 = client.start()

    def feed(side, data):
        if not step:
            return side.receive_data(data)
        out = b""
        for i in range(0, len(data), step):
            out += side.receive_data(data[i:i + step])
        return out

    s0s1s2 = feed(server, c0c1)
    c2 = feed(client, s0s1s2 + extra_s)
    feed(server, c2 + extra_c)
    return c0c1, s0s1s2, c2


@pytest.mark.parametrize("complex_", [True, False])
@pytest.mark.parametrize("schema", [0, 1])
def test_client_server(complex_, schema):
    client = ClientHandshake(SeededRandom(1), now_ms=1000, complex=complex_, schema=schema)
    server = ServerHandshake(SeededRandom(2), now_ms=2000)
    c0c1, s0s1s2, c2 = run(client, server)
    assert len(c0c1) == 1537 and c0c1[0] == 3
    assert len(s0s1s2) == 3073 and s0s1s2[0] == 3
    assert len(c2) == 1536
    assert client.done and server.done
    assert server.complex is complex_ and client.complex is complex_
    assert server.leftover == b"" and client.leftover == b""
    if complex_:
        assert server.schema == schema
        assert client.s2_valid is True
        # S1 carries a valid FMS digest with the client's schema
        s1 = s0s1s2[1:1537]
        assert hs.find_digest(s1, hs.FMS_KEY_PARTIAL)[0] == schema
        # C2 is signed with HMAC(FP full key, S1 digest)
        s1_digest = hs.find_digest(s1, hs.FMS_KEY_PARTIAL)[1]
        assert hs.verify_c2s2(c2, s1_digest, hs.FP_KEY)
    else:
        # simple: S2 echoes C1, C2 echoes S1, S1 carries the client's time in its 2nd field
        assert s0s1s2[1537:] == c0c1[1:]
        assert c2 == s0s1s2[1:1537]
        assert s0s1s2[5:9] == c0c1[1:5]
        assert c0c1[5:9] == b"\x00\x00\x00\x00"


def test_deterministic_bytes():
    def once():
        client = ClientHandshake(SeededRandom(7), now_ms=123456)
        server = ServerHandshake(SeededRandom(8), now_ms=654321)
        return run(client, server)

    first = once()
    assert once() == first
    c0c1, s0s1s2, _ = first
    assert c0c1[1:5] == (123456).to_bytes(4, "big")
    assert c0c1[5:9] == hs.CLIENT_VERSION.to_bytes(4, "big")
    assert s0s1s2[1:5] == (654321).to_bytes(4, "big")
    assert s0s1s2[5:9] == hs.SERVER_VERSION.to_bytes(4, "big")


def test_digest_layout_schema0_and_schema1():
    for schema in (0, 1):
        c1, digest = hs.make_complex_c1s1(SeededRandom(schema), 0, hs.CLIENT_VERSION, schema,
                                          hs.FP_KEY_PARTIAL)
        block = 8 + 764 if schema == 0 else 8
        offset = sum(c1[block:block + 4]) % 728
        pos = block + 4 + offset
        assert c1[pos:pos + 32] == digest
        expect = hmac.new(hs.FP_KEY[:30], c1[:pos] + c1[pos + 32:], hashlib.sha256).digest()
        assert digest == expect
        assert hs.find_digest(c1, hs.FP_KEY_PARTIAL) == (schema, digest)
        kp = hs.key_pos(c1, schema)
        key_block = 8 if schema == 0 else 8 + 764
        assert key_block <= kp and kp + 128 <= key_block + 760


def test_hand_built_schema0_c1_is_validated():
    """A C1 laid out by hand (not with our signer): key block first, digest block second."""
    c1 = bytearray(SeededRandom(99)(1536))
    c1[0:8] = b"\x00\x00\x00\x00\x80\x00\x07\x02"
    c1[772:776] = b"\x40\x40\x40\x40"  # offset = sum of the 4 bytes = 256
    pos = 772 + 4 + 256
    c1[pos:pos + 32] = hmac.new(b"Genuine Adobe Flash Player 001", bytes(c1[:pos] + c1[pos + 32:]),
                                hashlib.sha256).digest()
    server = ServerHandshake(SeededRandom(3), now_ms=0)
    out = server.receive_data(b"\x03" + bytes(c1))
    assert server.complex and server.schema == 0
    # S2 = random 1504 + HMAC(HMAC(FMS full key, C1 digest), random)
    s2 = out[1537:]
    temp = hmac.new(hs.FMS_KEY, bytes(c1[pos:pos + 32]), hashlib.sha256).digest()
    assert s2[1504:] == hmac.new(temp, s2[:1504], hashlib.sha256).digest()
    assert len(hs.FMS_KEY) == 68 and len(hs.FP_KEY) == 62


def test_garbage_c1_falls_back_to_simple():
    c1 = SeededRandom(5)(1536)
    assert hs.find_digest(c1, hs.FP_KEY_PARTIAL) == (None, None)
    server = ServerHandshake(SeededRandom(6), now_ms=0)
    out = server.receive_data(b"\x03" + c1)
    assert not server.complex
    assert out[1537:] == c1
    assert not server.done
    server.receive_data(b"\x00" * 1536)
    assert server.done


def test_c1_signed_with_wrong_key_falls_back():
    c1, _ = hs.make_complex_c1s1(SeededRandom(5), 0, hs.CLIENT_VERSION, 1, hs.FMS_KEY_PARTIAL)
    server = ServerHandshake(SeededRandom(6), now_ms=0)
    server.receive_data(b"\x03" + c1)
    assert not server.complex


@pytest.mark.parametrize("complex_", [True, False])
def test_one_byte_at_a_time_with_leftover(complex_):
    client = ClientHandshake(SeededRandom(11), now_ms=5, complex=complex_)
    server = ServerHandshake(SeededRandom(12), now_ms=6)
    connect = b"\x03\x00\x00\x00\x00\x00\x20\x14\x00\x00\x00\x00connect..."
    run(client, server, extra_c=connect, extra_s=b"\x02abc", step=1)
    assert server.done and client.done
    assert server.leftover == connect
    assert client.leftover == b"\x02abc"
    assert server.complex is complex_


def test_leftover_in_same_segment_as_c2():
    client = ClientHandshake(SeededRandom(1), now_ms=0)
    server = ServerHandshake(SeededRandom(2), now_ms=0)
    s0s1s2 = server.receive_data(client.start())
    c2 = client.receive_data(s0s1s2)
    assert server.receive_data(c2 + b"CHUNKS") == b""
    assert server.leftover == b"CHUNKS"
    # later data after done also goes to leftover rather than being lost
    server.receive_data(b"MORE")
    assert server.leftover == b"CHUNKSMORE"


def test_c0c1_and_c2_together_in_one_buffer():
    # a client that pipelines: the server must not eat C2 as part of C1
    client = ClientHandshake(SeededRandom(1), now_ms=0, complex=False)
    server = ServerHandshake(SeededRandom(2), now_ms=0)
    c0c1 = client.start()
    out = server.receive_data(c0c1 + b"\x00" * 1536 + b"x")
    assert len(out) == 3073 and server.done and server.leftover == b"x"


@pytest.mark.parametrize("c0,msg", [(6, "RTMPE not supported"), (8, "RTMPE not supported"),
                                    (0x47, "version 3"), (0, "version 3")])
def test_bad_c0_raises(c0, msg):
    server = ServerHandshake(SeededRandom(1), now_ms=0)
    with pytest.raises(HandshakeError, match=msg) as info:
        server.receive_data(bytes([c0]))  # rejected on the first byte, before C1 arrives
    assert info.value.code == 2016


def test_bad_s0_raises():
    client = ClientHandshake(SeededRandom(1), now_ms=0)
    client.start()
    with pytest.raises(HandshakeError):
        client.receive_data(b"\x06" + b"\x00" * 3072)


def test_client_against_simple_only_server():
    """A server that answers a complex C1 with plain S1/S2: the client echoes S1 (simple C2)."""
    client = ClientHandshake(SeededRandom(1), now_ms=0, complex=True)
    c0c1 = client.start()
    s1 = b"\x00" * 8 + SeededRandom(9)(1528)
    c2 = client.receive_data(b"\x03" + s1 + c0c1[1:])
    assert c2 == s1 and not client.complex and client.done


def test_client_misuse():
    client = ClientHandshake(SeededRandom(1), now_ms=0)
    with pytest.raises(HandshakeError):
        client.receive_data(b"\x03")
    client.start()
    with pytest.raises(HandshakeError):
        client.start()


def test_empty_feeds_are_harmless():
    server = ServerHandshake(SeededRandom(1), now_ms=0)
    assert server.receive_data(b"") == b""
    client = ClientHandshake(SeededRandom(2), now_ms=0)
    c0c1 = client.start()
    assert client.receive_data(b"") == b""
    assert len(server.receive_data(memoryview(c0c1))) == 3073


def test_short_random_source_raises():
    server = ServerHandshake(lambda n: b"\x00" * (n - 1), now_ms=0)
    with pytest.raises(HandshakeError):
        server.receive_data(b"\x03" + b"\x00" * 1536)
