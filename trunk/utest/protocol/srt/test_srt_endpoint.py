"""The SRT endpoint (one UDP socket's peers) in bytes: handshake to events, accept/reject, demultiplexing
by socket id and address, backlog bound, close and timeouts."""
from __future__ import annotations

import itertools

import pytest

from srs.protocol.srt.endpoint import ConnectionClosed, ConnectionRequested, SrtEndpoint
from srs.protocol.srt.handshake import (HS_EXT_HSREQ, HS_VERSION_SRT1, HS_VERSION_UDT4, REJ_BACKLOG,
                                        SRT_OPT_TSBPDRCV, SRT_OPT_TSBPDSND, UDT_DGRAM, URQ_CONCLUSION,
                                        URQ_INDUCTION, Handshake, HandshakeListener, HsReq, ListenerConfig,
                                        rejection_reason)
from srs.protocol.srt.packet import (EXT_HSREQ, HANDSHAKE, KEEPALIVE, ControlPacket, DataPacket, build_shutdown,
                                     parse_packet)

NOW = 10_000_000
ADDR = ("127.0.0.1", 4000)


def endpoint(**kw):
    ids = itertools.chain([7, 7], itertools.count(8))  # the second 7 collides: a new id is drawn
    return SrtEndpoint(HandshakeListener(ListenerConfig(), b"s"), lambda: next(ids), **kw)


def connect(ep, addr=ADDR, peer_id=0x100, now=NOW):
    """A scripted caller: induction, then conclusion with the cookie; returns the conclusion bytes."""
    ind = Handshake(HS_VERSION_UDT4, 0, UDT_DGRAM, 50, 1500, 8192, URQ_INDUCTION, peer_id, 0)
    reply = ep.on_datagram(ControlPacket(HANDSHAKE, 0, 0, ind.build()).build(), addr, now)
    cookie = Handshake.parse(parse_packet(reply[0]).cif).cookie
    hsreq = HsReq(0x010501, SRT_OPT_TSBPDSND | SRT_OPT_TSBPDRCV, 120, 120).build()
    con = Handshake(HS_VERSION_SRT1, 0, HS_EXT_HSREQ, 50, 1500, 8192, URQ_CONCLUSION, peer_id, cookie,
                    extensions=[(EXT_HSREQ, hsreq)])
    data = ControlPacket(HANDSHAKE, 0, 0, con.build()).build()
    assert ep.on_datagram(data, addr, now) == []
    return data


def test_handshake_request_accept_and_demultiplex():
    ep = endpoint()
    conclusion = connect(ep)
    (ev,) = ep.take_events()
    assert isinstance(ev, ConnectionRequested) and ev.request.peer == ADDR
    assert ep.on_datagram(conclusion, ADDR, NOW) == []            # undecided: repeats ignored
    conn = ep.accept(ev.request, NOW)
    assert conn.socket_id == 7 and ep.connections == {7: conn}
    assert ep.on_datagram(conclusion, ADDR, NOW) == [conn.response]
    with pytest.raises(ValueError):
        ep.accept(ev.request, NOW)
    connect(ep, peer_id=0x200)
    second = ep.accept(ep.take_events()[0].request, NOW)
    assert second.socket_id == 8                                   # 7 was taken
    ep.on_datagram(DataPacket(50, 1, 0, 7, b"a").build(), ADDR, NOW)
    ep.on_datagram(DataPacket(50, 1, 0, 7, b"b").build(), ("127.0.0.1", 4001), NOW)  # wrong address
    ep.on_datagram(DataPacket(50, 1, 0, 99, b"c").build(), ADDR, NOW)                # unknown id
    ep.on_datagram(b"garbage", ADDR, NOW)
    assert ep.dropped == 3 and conn.receiver.received == 1 and second.receiver.received == 0


def test_shutdown_close_and_idle_timeout_emit_closed_events():
    ep = endpoint(peer_idle_timeout_us=1_000_000)
    for peer_id in (1, 2, 3):
        connect(ep, peer_id=peer_id)
    a, b, c = (ep.accept(ev.request, NOW) for ev in ep.take_events())
    ep.on_datagram(build_shutdown(0, a.socket_id), ADDR, NOW)
    assert parse_packet(ep.close(b, NOW)).type == 5
    assert [e.connection for e in ep.take_events()] == [a, b]
    assert list(ep.connections) == [c.socket_id]
    assert ep.next_timer_us() <= NOW + 1_000_000
    out = ep.on_timer(NOW + 999_999)
    assert [(parse_packet(d).type, addr) for d, addr in out] == []   # nothing to acknowledge yet
    ep.on_timer(NOW + 1_000_001)
    assert ep.connections == {} and isinstance(ep.take_events()[0], ConnectionClosed)
    ep2 = endpoint()
    connect(ep2)
    conn = ep2.accept(ep2.take_events()[0].request, NOW)
    ka = ep2.on_timer(NOW + 1_000_000)
    assert [(parse_packet(d).type, addr) for d, addr in ka] == [(KEEPALIVE, ADDR)]
    assert conn.state.value == "connected"


def test_backlog_bound_and_reject():
    ep = endpoint(max_pending=2)
    connect(ep, peer_id=1)
    connect(ep, peer_id=2)
    ind = Handshake(HS_VERSION_UDT4, 0, UDT_DGRAM, 50, 1500, 8192, URQ_INDUCTION, 3, 0)
    cookie = Handshake.parse(parse_packet(ep.on_datagram(
        ControlPacket(HANDSHAKE, 0, 0, ind.build()).build(), ADDR, NOW)[0]).cif).cookie
    con = Handshake(HS_VERSION_SRT1, 0, HS_EXT_HSREQ, 50, 1500, 8192, URQ_CONCLUSION, 3, cookie,
                    extensions=[(EXT_HSREQ, HsReq(0x010501, SRT_OPT_TSBPDSND, 0, 0).build())])
    (refused,) = ep.on_datagram(ControlPacket(HANDSHAKE, 0, 0, con.build()).build(), ADDR, NOW)
    assert rejection_reason(Handshake.parse(parse_packet(refused).cif)) == REJ_BACKLOG
    first, _ = ep.take_events()
    rej = ep.reject(first.request, 1403)
    assert parse_packet(rej).dst_id == 1
    assert rejection_reason(Handshake.parse(parse_packet(rej).cif)) == 1403
    connect(ep, peer_id=4)                                          # room again
    assert len(ep.take_events()) == 1
