"""SRT live-mode state machines on a simulated clock: loss list, receiver (reordering, immediate and
periodic NAK, ACK/ACKACK RTT, TSBPD, too-late drop, bounds), sender (retransmission, ACK, drop),
and a connection talking to a receiver over a lossy in-memory link."""
from __future__ import annotations

import random

import pytest

from srs.protocol.srt.connection import CloseReason, SrtConnection, State
from srs.protocol.srt.crypto import PayloadCipher, make_key_material
from srs.protocol.srt.errors import SrtError
from srs.protocol.srt.handshake import (HS_VERSION_SRT1, URQ_CONCLUSION, ConnectRequest, Handshake,
                                        HandshakeListener, ListenerConfig)
from srs.protocol.srt.packet import (DROPREQ, HANDSHAKE, KEEPALIVE, KK_EVEN, KK_ODD, NAK, USER_DEFINED, Ack,
                                     ControlPacket, DataPacket, build_ackack, build_nak, build_shutdown,
                                     parse_dropreq, parse_packet)
from srs.protocol.srt.receiver import LossList, Receiver
from srs.protocol.srt.sender import Sender

MS = 1000


def data(seq, ts_us, payload=b"p", retransmitted=False):
    return DataPacket(seq, seq + 1, ts_us, 1, payload, retransmitted=retransmitted)


def test_loss_list_append_remove_split_and_trim():
    ll = LossList()
    ll.append(3, 5)
    ll.append(6, 6)          # adjacent: merged
    ll.append(9, 12)
    assert ll.ranges == [(3, 6), (9, 12)] and len(ll) == 8
    assert ll.remove(4) and ll.ranges == [(3, 3), (5, 6), (9, 12)]
    assert not ll.remove(7) and not ll.remove(2)
    assert ll.remove_before(10) == 4 and ll.ranges == [(10, 12)]
    assert ll.first() == 10
    wrap = LossList()
    wrap.append(0x7FFFFFFE, 1)
    assert len(wrap) == 4 and wrap.remove(0) and wrap.ranges == [(0x7FFFFFFE, 0x7FFFFFFF), (1, 1)]


def test_receiver_reorders_naks_at_once_and_delivers_at_tsbpd_time():
    r = Receiver(isn=100, latency_us=120 * MS, peer_start_us=0)
    assert r.on_data(data(100, 0), b"a", 0) == []
    assert r.on_data(data(103, 30 * MS), b"d", 30 * MS) == [(101, 102)]   # gap -> immediate NAK
    assert r.deliver(119 * MS) == []
    assert r.deliver(120 * MS) == [b"a"]
    assert r.on_data(data(102, 20 * MS, retransmitted=True), b"c", 121 * MS) == []
    assert r.on_data(data(101, 10 * MS), b"b", 122 * MS) == []
    assert not r.loss and r.ack_seq() == 104
    assert r.deliver(150 * MS) == [b"b", b"c", b"d"]
    assert (r.received, r.lost, r.retransmitted, r.dropped) == (4, 2, 1, 0)
    assert r.on_data(data(101, 10 * MS), b"b", 151 * MS) == [] and r.duplicates == 1


def test_receiver_too_late_drop_and_without_it():
    for tlpktdrop, expected in ((True, [b"c"]), (False, [])):
        r = Receiver(isn=0, latency_us=100 * MS, peer_start_us=0, tlpktdrop=tlpktdrop)
        r.on_data(data(0, 0), b"a", 0)
        r.on_data(data(2, 10 * MS), b"c", 10 * MS)
        assert r.deliver(100 * MS) == [b"a"]
        assert r.next_delivery_us() == (110 * MS if tlpktdrop else None)
        assert r.deliver(110 * MS) == expected
        assert r.dropped == (1 if tlpktdrop else 0) and bool(r.loss) is not tlpktdrop


def test_receiver_periodic_nak_ack_and_rtt():
    r = Receiver(isn=0, latency_us=1000 * MS, peer_start_us=0)
    r.on_data(data(0, 0), b"a", 0)
    r.on_data(data(3, 0), b"d", 0)
    ack, nak = r.on_timer(1 * MS)
    assert ack.last_ack_seq == 1 and ack.ack_no == 1 and ack.avail_buf > 2
    assert nak == [(1, 2)]
    assert r.on_timer(2 * MS) == (None, [])                  # neither period over
    assert r.on_timer(15 * MS)[0] is None                    # ACK point unchanged: no new ACK
    ack2, nak2 = r.on_timer(301 * MS)                        # rtt + 4 rttvar later:
    assert nak2 == [(1, 2)]                                  # periodic NAK again
    assert (ack2.ack_no, ack2.last_ack_seq) == (2, 1)        # the unanswered ACK repeated
    r.on_ackack(1, 5 * MS)
    assert r.rtt_us == 4 * MS and r.rttvar_us == 2 * MS      # first sample taken as is
    r.on_data(data(1, 0), b"b", 301 * MS)
    r.on_dropreq(2, 2)
    assert not r.loss and r.dropped == 1
    assert r.on_timer(400 * MS)[0].last_ack_seq == 4
    r.on_ackack(99, 401 * MS)                                # unknown ACK number: ignored
    assert r.rtt_us == 4 * MS


def test_receiver_bounds_and_timestamp_wrap():
    r = Receiver(isn=0, latency_us=0, peer_start_us=0, capacity=4)
    for seq in range(6):
        r.on_data(data(seq, 0), b"x", 0)
    assert len(r.buf) == 4 and r.overflow == 2
    w = Receiver(isn=0, latency_us=0, peer_start_us=0)
    w.on_data(data(0, 0xFFFFFF00), b"a", 0)
    w.on_data(data(1, 0x10), b"b", 0)                        # the 32-bit clock wrapped
    assert w.deliver(0xFFFFFF00) == [b"a"]
    assert w.deliver(0xFFFFFFFF) == [] and w.deliver(0x100000010) == [b"b"]


def test_sender_retransmits_on_nak_frees_on_ack_and_drops_old():
    s = Sender(isn=10, peer_id=7, start_us=0, latency_us=120 * MS, capacity=8)
    wire = [parse_packet(s.send(bytes([i]), i * MS)) for i in range(5)]
    assert [p.seq for p in wire] == [10, 11, 12, 13, 14] and [p.msgno for p in wire] == [1, 2, 3, 4, 5]
    assert wire[2].timestamp == 2 * MS and wire[0].dst_id == 7
    again = [parse_packet(d) for d in s.on_nak([(11, 12)], 50 * MS)]
    assert [(p.seq, p.retransmitted, p.timestamp, p.payload) for p in again] == [
        (11, True, 1 * MS, b"\x01"), (12, True, 2 * MS, b"\x02")]
    assert s.on_nak([(20, 30)], 50 * MS) == []                # never sent: ignored
    s.on_ack(Ack(1, 13, rtt_us=3 * MS))
    assert s.held() == [13, 14] and s.rtt_us == 3 * MS
    gone = [parse_packet(d) for d in s.on_nak([(12, 13)], 60 * MS)]
    assert [type(p) for p in gone] == [DataPacket] and gone[0].seq == 13  # 12 acked: nothing for it
    s.drop_old(1005 * MS)                                     # 1 s (> 1.25 x 120 ms) after sending
    assert not s.buf and s.dropped == 2
    dropreq = [parse_packet(d) for d in s.on_nak([(13, 14)], 1006 * MS)]
    assert dropreq[0].type == DROPREQ and parse_dropreq(dropreq[0]) == (13, 14)
    for i in range(10):
        s.send(b"y", 2000 * MS)
    assert len(s.held()) == 8 and s.dropped == 4                 # bounded


def make_conn(now=0, **kw):
    lst = HandshakeListener(ListenerConfig(), b"k")
    hs = Handshake(HS_VERSION_SRT1, 0, 1, 500, 1500, 8192, URQ_CONCLUSION, 0x99, 1)
    req = ConnectRequest(peer=("127.0.0.1", 1), peer_socket_id=0x99, isn=500, mtu=1500, flow_window=8192,
                         streamid="s", recv_latency_ms=120, send_latency_ms=120, tlpktdrop=True, km=None,
                         keys=None, handshake=hs, peer_timestamp=0)
    return SrtConnection(lst, req, 0x42, now, **kw)


def test_connection_over_a_lossy_link_delivers_everything_in_order():
    conn = make_conn()
    peer = Receiver(isn=500, latency_us=120 * MS, peer_start_us=0)
    got, t = [], 0
    for i in range(200):
        t = i * MS
        pkt = parse_packet(conn.send(i.to_bytes(2, "big"), t))
        if i % 7 == 3:
            continue  # lost on the wire
        lost = peer.on_data(pkt, pkt.payload, t)
        if lost:
            for d in conn.on_packet(parse_packet(build_nak(lost, t, 0x42)), t):
                again = parse_packet(d)
                peer.on_data(again, again.payload, t)
        got += peer.deliver(t)
    got += peer.deliver(t + 200 * MS)
    assert [int.from_bytes(p, "big") for p in got] == list(range(199))  # the last one was lost
    assert conn.sender.retransmitted == 28 and peer.dropped == 0


def test_connection_ack_gets_ackack_keepalive_idle_timeout():
    conn = make_conn()
    conn.send(b"x", 0)
    out = conn.on_packet(parse_packet(Ack(5, 501, rtt_us=MS).build(0, 0x42)), 1 * MS)
    assert parse_packet(out[0]).info == 5 and not conn.sender.buf
    assert conn.on_timer(500 * MS) == []
    ka = [parse_packet(d) for d in conn.on_timer(1002 * MS)]
    assert [p.type for p in ka] == [KEEPALIVE]
    assert conn.next_timer_us() >= 1002 * MS
    conn.on_packet(parse_packet(build_ackack(1, 0, 0x42)), 4000 * MS)   # anything refreshes the peer
    conn.on_timer(8999 * MS)
    assert conn.state is State.CONNECTED
    conn.on_timer(9001 * MS)
    assert conn.state is State.CLOSED and conn.close_reason is CloseReason.IDLE_TIMEOUT


def test_connection_shutdown_flushes_and_handshake_repeats_response():
    conn = make_conn()
    assert conn.on_packet(ControlPacket(HANDSHAKE, 0, 0x42, b""), 0) == [conn.response]
    conn.on_packet(data(500, 0), 0)
    conn.on_packet(data(502, 0, b"c"), 0)
    assert conn.take_payloads() == []
    conn.on_packet(parse_packet(build_shutdown(0, 0x42)), 1 * MS)
    assert conn.take_payloads() == [b"p", b"c"]
    assert conn.state is State.CLOSED and conn.close_reason is CloseReason.PEER_SHUTDOWN
    assert conn.on_timer(2 * MS) == [] and conn.on_packet(data(503, 0), 2 * MS) == []


def test_connection_refuses_what_it_cannot_use():
    conn = make_conn()
    with pytest.raises(SrtError):
        conn.on_packet(DataPacket(500, 1, 0, 0x42, b"x", key=1), 0)           # encrypted, no keys
    with pytest.raises(SrtError):
        conn.on_packet(ControlPacket(USER_DEFINED, 0, 0x42, b"", subtype=3), 0)  # KMREQ, plain
    with pytest.raises(SrtError):
        conn.on_packet(ControlPacket(NAK, 0, 0x42, b"\x80\x00\x00\x01"), 0)
    with pytest.raises(ValueError):
        conn.send(bytes(1457), 0)
    assert parse_packet(conn.close(0)).type == 5 and conn.state is State.CLOSED


def test_encrypted_connection_decrypts_and_takes_refreshed_keys():
    salt, even, odd = bytes(range(16)), bytes(16), bytes(range(32, 48))
    lst = HandshakeListener(ListenerConfig(passphrase="passphrase-1"), b"k")
    km = make_key_material(b"passphrase-1", salt, even)
    hs = Handshake(HS_VERSION_SRT1, 2, 3, 500, 1500, 8192, URQ_CONCLUSION, 0x99, 1)
    req = ConnectRequest(peer=("127.0.0.1", 1), peer_socket_id=0x99, isn=500, mtu=1500, flow_window=8192,
                         streamid="s", recv_latency_ms=0, send_latency_ms=0, tlpktdrop=True, km=km,
                         keys={KK_EVEN: even}, handshake=hs, peer_timestamp=0)
    conn = SrtConnection(lst, req, 0x42, 0)
    peer = PayloadCipher(salt, {KK_EVEN: even, KK_ODD: odd})
    sent = parse_packet(conn.send(b"\x47hello", 0))
    assert sent.key == KK_EVEN and peer.crypt(KK_EVEN, sent.seq, sent.payload) == b"\x47hello"
    conn.on_packet(DataPacket(500, 1, 0, 0x42, peer.crypt(KK_EVEN, 500, b"\x47a"), key=KK_EVEN), 0)
    with pytest.raises(SrtError):  # odd key not announced yet
        conn.on_packet(DataPacket(501, 2, 0, 0x42, peer.crypt(KK_ODD, 501, b"\x47b"), key=KK_ODD), 0)
    refresh = make_key_material(b"passphrase-1", salt, even, odd).build()
    rsp = parse_packet(conn.on_packet(ControlPacket(USER_DEFINED, 0, 0x42, refresh, subtype=3), 0)[0])
    assert (rsp.type, rsp.subtype, rsp.cif) == (USER_DEFINED, 4, refresh)
    conn.on_packet(DataPacket(501, 2, 0, 0x42, peer.crypt(KK_ODD, 501, b"\x47b"), key=KK_ODD), 0)
    conn.on_timer(1)
    assert conn.take_payloads() == [b"\x47a", b"\x47b"]


def test_garbage_never_escapes_as_anything_but_srt_error():
    """Random and bit-flipped datagrams through the parser, the listener and a connection."""
    rng = random.Random(16)
    lst = HandshakeListener(ListenerConfig(passphrase="passphrase-1"), b"k")
    conn = make_conn()
    seeds = [build_nak([(500, 510)], 0, 0x42), Ack(1, 501).build(0, 0x42), build_shutdown(0, 0x42),
             ControlPacket(HANDSHAKE, 0, 0, Handshake(4, 0, 2, 1, 1500, 8192, 1, 7, 0).build()).build(),
             ControlPacket(USER_DEFINED, 0, 0x42, make_key_material(b"passphrase-1", bytes(16), bytes(16)).build(),
                           subtype=3).build(),
             DataPacket(501, 1, 0, 0x42, b"\x47" * 188).build()]
    outcomes = set()
    for i in range(3000):
        if i % 2:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 120)))
        else:
            data = bytearray(rng.choice(seeds))
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            data = bytes(data)
        try:
            pkt = parse_packet(data)
            if pkt.dst_id == 0 and isinstance(pkt, ControlPacket) and pkt.type == HANDSHAKE:
                lst.on_handshake(pkt, ("127.0.0.1", 9), 0)
            else:
                conn.on_packet(pkt, i)
                if conn.state is State.CLOSED:  # a SHUTDOWN got through: keep fuzzing a live one
                    conn = make_conn()
            outcomes.add("ok")
        except SrtError:
            outcomes.add("refused")
    assert outcomes == {"ok", "refused"}
    assert len(conn.receiver.buf) <= conn.receiver.capacity and len(conn.receiver.loss.ranges) < 3000
