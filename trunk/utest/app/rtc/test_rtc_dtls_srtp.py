"""DTLS over memory BIOs (our passive server against our active client, both pyOpenSSL), the
exported SRTP keys working through pylibsrtp, and the failure cases that must end one session
with a typed error: a wrong fingerprint, garbage records, a handshake that never finishes."""
from __future__ import annotations

import random
import struct

import pytest

from srs.app.rtc.dtls import (MAX_HANDSHAKE_DATAGRAMS, SRTP_KEY_LEN, SRTP_SALT_LEN, DtlsCertificate,
                              DtlsError, DtlsSession)
from srs.app.rtc.srtp import SrtpError, SrtpSession
from srs.protocol.rtc.errors import ERROR_RTC_DTLS, ERROR_RTC_SRTP_UNPROTECT
from srs.protocol.rtc.stun import PACKET_DTLS, classify


@pytest.fixture(scope="module")
def certs():
    return DtlsCertificate.generate(), DtlsCertificate.generate()


def handshake(server: DtlsSession, client: DtlsSession, max_rounds: int = 10) -> int:
    flight = client.start()
    for rounds in range(1, max_rounds + 1):
        assert all(classify(d) == PACKET_DTLS for d in flight)
        back = [out for d in flight for out in server.feed(d)]
        flight = [out for d in back for out in client.feed(d)]
        if server.done and client.done:
            return rounds
    raise AssertionError("handshake did not finish")


def rtp(seq: int, size: int = 200) -> bytes:
    return struct.pack(">BBHII", 0x80, 102, seq, seq * 3000, 0x1234) + bytes(range(256))[:size]


def test_handshake_fingerprints_and_srtp_both_ways(certs):
    server_cert, client_cert = certs
    assert len(server_cert.fingerprint.split(":")) == 32
    server = DtlsSession(server_cert, "passive", client_cert.fingerprint)
    client = DtlsSession(client_cert, "active", server_cert.fingerprint)
    assert server.start() == []
    assert handshake(server, client) <= 3
    s_local, s_remote = server.srtp_keys()
    c_local, c_remote = client.srtp_keys()
    assert len(s_local) == SRTP_KEY_LEN + SRTP_SALT_LEN
    assert (s_local, s_remote) == (c_remote, c_local) and s_local != s_remote
    srv, cli = SrtpSession(s_local, s_remote), SrtpSession(c_local, c_remote)
    for seq in range(5):
        protected = srv.protect(rtp(seq))
        assert protected != rtp(seq) and len(protected) == len(rtp(seq)) + 10
        assert cli.unprotect(protected) == rtp(seq)
    rr = struct.pack(">BBHI", 0x80, 201, 1, 0x99)
    assert srv.unprotect_rtcp(cli.protect_rtcp(rr)) == rr
    tampered = bytearray(srv.protect(rtp(9)))
    tampered[20] ^= 1
    with pytest.raises(SrtpError) as e:
        cli.unprotect(bytes(tampered))
    assert e.value.code == ERROR_RTC_SRTP_UNPROTECT


def test_resent_packet_for_nack_is_protected_again(certs):
    server_cert, client_cert = certs
    server, client = DtlsSession(server_cert), DtlsSession(client_cert, "active")
    handshake(server, client)
    srv, cli = SrtpSession(*server.srtp_keys()), SrtpSession(*client.srtp_keys())
    first = srv.protect(rtp(7))           # lost on the way: the player NACKs it
    again = srv.protect(rtp(7))           # allow_repeat_tx: libsrtp would refuse it otherwise
    assert cli.unprotect(again) == rtp(7)
    with pytest.raises(SrtpError):         # a late copy of the first one is a replay for the player
        cli.unprotect(first)


def test_wrong_peer_fingerprint_fails_the_handshake(certs):
    server_cert, client_cert = certs
    server = DtlsSession(server_cert, "passive", ":".join(["00"] * 32))
    client = DtlsSession(client_cert, "active")
    with pytest.raises(DtlsError) as e:
        handshake(server, client)
    assert e.value.code == ERROR_RTC_DTLS


def test_garbage_and_endless_handshakes_end_with_dtls_errors(certs):
    server_cert, _ = certs
    rng = random.Random(5764)
    for _ in range(50):
        server = DtlsSession(server_cert)
        record = bytes([22, 0xFE, 0xFD]) + bytes(rng.randrange(256) for _ in range(rng.randint(10, 300)))
        try:
            server.feed(record)
        except DtlsError:
            pass
        assert not server.done
    server = DtlsSession(server_cert)
    with pytest.raises(DtlsError):
        for _ in range(MAX_HANDSHAKE_DATAGRAMS + 1):
            server.feed(b"\x16\xfe\xfd" + bytes(20))
    with pytest.raises(DtlsError):
        DtlsSession(server_cert).srtp_keys()


def test_close_notify_ends_the_session_normally(certs):
    server_cert, client_cert = certs
    server, client = DtlsSession(server_cert), DtlsSession(client_cert, "active")
    handshake(server, client)
    client._ssl.shutdown()                # what a browser sends when the tab closes
    for d in client._outgoing():
        server.feed(d)
    assert server.closed


def test_retransmission_timer_is_exposed(certs):
    server_cert, _ = certs
    client = DtlsSession(server_cert, "active")
    hello = client.start()
    assert hello and client.timeout() is not None and client.timeout() > 0


def test_protect_batch_is_the_packets_protected_back_to_back():
    """The players' hot path (libsrtp through pylibsrtp's binding, into one shared buffer) makes the
    bytes pylibsrtp's own protect makes, packet for packet; the peer decrypts every one. A packet
    libsrtp refuses (too short to be RTP) costs itself alone; a batch larger than the buffer grows it."""
    key = bytes(range(30))
    rng = random.Random(7)

    def packet(seq: int, size: int) -> bytes:
        return struct.pack("!BBHII", 0x80, 102, seq, seq * 3000, 0x1234) + bytes(rng.getrandbits(8) for _ in range(size))

    packets = [packet(s, size) for s, size in enumerate((1188, 1188, 400, 120, 1188, 37), 1)]
    batch, each, peer = SrtpSession(key, key), SrtpSession(key, key), SrtpSession(key, key)
    packed, sizes, failed = batch.protect_batch(packets[:3] + [b"\x80\x66"] + packets[3:])
    assert failed == 1 and len(sizes) == len(packets)
    cut, off = [], 0
    for n in sizes:
        cut.append(bytes(packed[off:off + n]))
        off += n
    assert off == len(packed)
    assert cut == [each.protect(p) for p in packets]
    assert [peer.unprotect(c) for c in cut] == packets
    # the path for a pylibsrtp without the binding: the same bytes
    packed2, sizes2, failed2 = SrtpSession(key, key)._protect_each(packets[:3] + [b"\x80\x66"] + packets[3:])
    assert (bytes(packed2), sizes2, failed2) == (b"".join(cut), sizes, 1)
    big = [packet(100 + i, 1188) for i in range(200)]         # ~240 KB: past the first allocation
    packed, sizes, failed = batch.protect_batch(big)
    assert failed == 0 and len(sizes) == 200 and len(packed) == sum(sizes) == 200 * (1200 + 10)
