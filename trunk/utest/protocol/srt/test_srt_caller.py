"""The sans-IO caller (srs-bench's SRT clients) against our listener endpoint, in bytes: the handshake,
a rejection's reason, and data whose TSBPD time is the caller's send time plus the latency (the caller's
timestamps count from its handshake, as libsrt's do)."""
from __future__ import annotations

import pytest

from srs.protocol.srt.caller import SrtCaller
from srs.protocol.srt.endpoint import ConnectionRequested, SrtEndpoint
from srs.protocol.srt.errors import SrtRejected
from srs.protocol.srt.handshake import REJX_FORBIDDEN, HandshakeListener, ListenerConfig
from srs.protocol.srt.packet import parse_packet

MS = 1000
T0 = 50_000_000_000   # a monotonic clock far from zero: the caller must not send it raw
SERVER = ("127.0.0.1", 10080)
CLIENT = ("127.0.0.1", 5000)


def handshake(ep, caller, now):
    """Runs the exchange; returns the listener's request (undecided)."""
    out = ep.on_datagram(caller.induction(now), CLIENT, now)
    con = caller.on_handshake(parse_packet(out[0]), now + MS)
    assert ep.on_datagram(con, CLIENT, now + 2 * MS) == []
    (ev,) = ep.take_events()
    assert isinstance(ev, ConnectionRequested)
    return ev.request


def test_caller_connects_and_its_data_is_delivered_after_the_latency():
    ep = SrtEndpoint(HandshakeListener(ListenerConfig(recv_latency_ms=120), b"k"), lambda: 77)
    caller = SrtCaller(0x1234, 100, "#!::r=live/x,m=publish", latency_ms=120)
    req = handshake(ep, caller, T0)
    assert req.streamid == "#!::r=live/x,m=publish" and req.recv_latency_ms == 120
    conn = ep.accept(req, T0 + 3 * MS)
    assert caller.on_handshake(parse_packet(conn.response), T0 + 4 * MS) is None and caller.done
    mine = caller.connection(SERVER, T0 + 4 * MS)
    assert mine.peer_id == 77 and mine.sender.start_us == T0
    sent_at = T0 + 10 * MS
    ep.on_datagram(mine.send(b"\x47" * 188, sent_at), CLIENT, sent_at)
    ep.on_timer(sent_at + 100 * MS)
    assert not conn.take_payloads()              # not before its time ...
    ep.on_timer(sent_at + 125 * MS)
    assert conn.take_payloads() == [b"\x47" * 188]   # ... and right after send time + latency


def test_caller_sees_the_rejection_reason():
    ep = SrtEndpoint(HandshakeListener(ListenerConfig(), b"k"), lambda: 77)
    caller = SrtCaller(0x1234, 100, "#!::r=live/x,m=publish")
    req = handshake(ep, caller, T0)
    with pytest.raises(SrtRejected) as e:
        caller.on_handshake(parse_packet(ep.reject(req, REJX_FORBIDDEN)), T0 + 5 * MS)
    assert e.value.reason == REJX_FORBIDDEN
