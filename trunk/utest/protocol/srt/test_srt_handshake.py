"""The HSv5 listener handshake, driven by a scripted caller in bytes: induction, conclusion with
HSREQ/SID/KMREQ, cookies, latency negotiation and every refusal with its SRT_REJ_* code."""
from __future__ import annotations

import pytest

from srs.protocol.srt.crypto import REJ_BADSECRET, REJ_UNSECURE, KeyMaterial, make_key_material
from srs.protocol.srt.errors import SrtError
from srs.protocol.srt.handshake import (EXT_CONGESTION, EXT_FILTER, EXT_SID, HS_EXT_CONFIG, HS_EXT_HSREQ,
                                        HS_EXT_KMREQ, HS_VERSION_SRT1, HS_VERSION_UDT4, REJ_FILTER,
                                        REJ_MESSAGEAPI, REJ_ROGUE, REJ_VERSION, SRT_MAGIC,
                                        SRT_OPT_NAKREPORT, SRT_OPT_REXMITFLG, SRT_OPT_STREAM,
                                        SRT_OPT_TLPKTDROP, SRT_OPT_TSBPDRCV, SRT_OPT_TSBPDSND,
                                        UDT_DGRAM, URQ_CONCLUSION, URQ_INDUCTION, Handshake,
                                        HandshakeListener, HsReq, ListenerConfig, decode_sid,
                                        encode_sid, rejection_reason)
from srs.protocol.srt.packet import EXT_HSREQ, EXT_HSRSP, EXT_KMREQ, EXT_KMRSP, HANDSHAKE, ControlPacket, parse_packet

PEER = ("127.0.0.1", 5000)
NOW = 1_000_000_000
CALLER_ID = 0x1234
ISN = 0x2000
LIVE_FLAGS = SRT_OPT_TSBPDSND | SRT_OPT_TSBPDRCV | SRT_OPT_TLPKTDROP | SRT_OPT_NAKREPORT | SRT_OPT_REXMITFLG
SALT = bytes(range(16))
SEK = bytes(range(100, 116))


def induction() -> ControlPacket:
    hs = Handshake(HS_VERSION_UDT4, 0, UDT_DGRAM, ISN, 1500, 8192, URQ_INDUCTION, CALLER_ID, 0)
    return ControlPacket(HANDSHAKE, 10, 0, hs.build())


def conclusion(cookie, sid="#!::r=live/s,m=publish", flags=LIVE_FLAGS, km=None, version=HS_VERSION_SRT1,
               latency=(120, 200), extra=()) -> ControlPacket:
    exts = [(EXT_HSREQ, HsReq(0x010501, flags, *latency).build())]
    ext_field = HS_EXT_HSREQ
    if sid is not None:
        exts.append((EXT_SID, encode_sid(sid)))
        ext_field |= HS_EXT_CONFIG
    if km is not None:
        exts.append((EXT_KMREQ, km.build()))
        ext_field |= HS_EXT_KMREQ
    exts += extra
    hs = Handshake(version, 2 if km else 0, ext_field, ISN, 1500, 8192, URQ_CONCLUSION, CALLER_ID, cookie,
                   extensions=exts)
    return ControlPacket(HANDSHAKE, 5000, 0, hs.build())


def listener(**kw) -> HandshakeListener:
    return HandshakeListener(ListenerConfig(**kw), b"secret")


def handshake_to_cookie(lst) -> int:
    reply, req = lst.on_handshake(induction(), PEER, NOW)
    assert req is None
    pkt = parse_packet(reply)
    assert pkt.dst_id == CALLER_ID
    hs = Handshake.parse(pkt.cif)
    assert (hs.version, hs.ext_field, hs.req_type, hs.isn) == (HS_VERSION_SRT1, SRT_MAGIC, URQ_INDUCTION, ISN)
    return hs.cookie


def test_handshake_cif_both_ways():
    hs = Handshake(5, 2, 7, 1, 1500, 8192, URQ_CONCLUSION, 9, 0xABCD, bytes(16),
                   [(EXT_HSREQ, HsReq(0x010501, LIVE_FLAGS, 120, 0).build()), (EXT_SID, encode_sid("abc"))])
    data = hs.build()
    assert data[:48] == bytes.fromhex("00000005 0002 0007 00000001 000005dc 00002000 ffffffff 00000009 "
                                      "0000abcd") + bytes(16)
    assert data[48:] == bytes.fromhex("0001 0003 00010501 0000003b 00780000  0005 0001 00636261")
    assert Handshake.parse(data) == hs


@pytest.mark.parametrize("cif", [bytes(47), Handshake(isn=0x80000000).build(), Handshake(mtu=10).build(),
                                 Handshake().build() + bytes.fromhex("0001 0005 00000000"),
                                 Handshake().build() + b"\x00\x01"])
def test_malformed_handshakes_raise(cif):
    with pytest.raises(SrtError):
        Handshake.parse(cif)


def test_sid_uses_libsrt_word_reversed_encoding():
    # what libsrt (little-endian host) puts on the wire for "#!::r=live/livestream,m=publish"
    wire = encode_sid("#!::r=live/livestream,m=publish")
    assert wire[:8] == b"::!#il=r"
    assert len(wire) % 4 == 0
    assert decode_sid(wire) == "#!::r=live/livestream,m=publish"
    with pytest.raises(SrtError):
        decode_sid(bytes(516))
    with pytest.raises(SrtError):
        decode_sid(b"\xff\xfe\xfd\xfc")


def test_induction_then_conclusion_accepts_and_negotiates_latency():
    lst = listener(recv_latency_ms=300, peer_latency_ms=50)
    cookie = handshake_to_cookie(lst)
    reply, req = lst.on_handshake(conclusion(cookie, latency=(120, 200)), PEER, NOW)
    assert reply is None
    assert req.streamid == "#!::r=live/s,m=publish" and req.peer_socket_id == CALLER_ID
    assert req.recv_latency_ms == 300   # max(ours 300, caller's sender delay 200)
    assert req.send_latency_ms == 120   # max(our peer latency 50, caller's receiver delay 120)
    assert req.peer_timestamp == 5000 and req.isn == ISN and req.tlpktdrop
    rsp = lst.response(req, 0x55)
    assert (rsp.req_type, rsp.socket_id, rsp.isn, rsp.cookie) == (URQ_CONCLUSION, 0x55, ISN, cookie)
    hsrsp = HsReq.parse(rsp.extension(EXT_HSRSP))
    assert (hsrsp.recv_delay_ms, hsrsp.send_delay_ms) == (300, 120)
    assert hsrsp.flags & SRT_OPT_REXMITFLG and hsrsp.flags & SRT_OPT_TLPKTDROP
    assert rsp.extension(EXT_KMRSP) is None


def test_cookie_from_previous_minute_accepted_older_or_wrong_dropped():
    lst = listener()
    cookie = handshake_to_cookie(lst)
    assert lst.on_handshake(conclusion(cookie), PEER, NOW + 60_000_000)[1] is not None
    with pytest.raises(SrtError):
        lst.on_handshake(conclusion(cookie), PEER, NOW + 120_000_000)
    with pytest.raises(SrtError):
        lst.on_handshake(conclusion(cookie ^ 1), PEER, NOW)
    with pytest.raises(SrtError):  # same cookie from another port
        lst.on_handshake(conclusion(cookie), ("127.0.0.1", 5001), NOW)


def rejected(lst, pkt) -> int:
    reply, req = lst.on_handshake(pkt, PEER, NOW)
    assert req is None
    return rejection_reason(Handshake.parse(parse_packet(reply).cif))


@pytest.mark.parametrize("kw,reason", [
    (dict(version=4), REJ_VERSION),
    (dict(flags=LIVE_FLAGS | SRT_OPT_STREAM), REJ_MESSAGEAPI),
    (dict(flags=0), REJ_ROGUE),
    (dict(extra=[(EXT_FILTER, encode_sid("fec,cols:10"))]), REJ_FILTER),
    (dict(extra=[(EXT_CONGESTION, encode_sid("file"))]), 13),
])
def test_conclusions_refused_with_reason(kw, reason):
    lst = listener()
    assert rejected(lst, conclusion(handshake_to_cookie(lst), **kw)) == reason


def test_encryption_accepted_and_refused():
    km = make_key_material(b"passphrase-1", SALT, SEK)
    lst = listener(passphrase="passphrase-1")
    cookie = handshake_to_cookie(lst)
    _, req = lst.on_handshake(conclusion(cookie, km=km), PEER, NOW)
    assert req.keys == {1: SEK} and req.km.salt == SALT
    rsp = lst.response(req, 1)
    assert rsp.ext_field & HS_EXT_KMREQ and rsp.enc_field == 2
    assert KeyMaterial.parse(rsp.extension(EXT_KMRSP)).wrapped == km.wrapped
    assert rejected(lst, conclusion(cookie, km=make_key_material(b"wrong-passphrase", SALT, SEK))) == REJ_BADSECRET
    assert rejected(lst, conclusion(cookie)) == REJ_UNSECURE              # we want a passphrase
    plain = listener()
    assert rejected(plain, conclusion(handshake_to_cookie(plain), km=km)) == REJ_UNSECURE


def test_application_rejection_codes():
    lst = listener()
    _, req = lst.on_handshake(conclusion(handshake_to_cookie(lst)), PEER, NOW)
    assert rejection_reason(Handshake.parse(parse_packet(lst.reject(req, 1403)).cif)) == 1403
    assert rejection_reason(Handshake.parse(parse_packet(lst.reject(req, 5)).cif)) == 5


def test_non_listener_handshake_types_dropped():
    lst = listener()
    hs = Handshake(HS_VERSION_SRT1, 0, 0, ISN, 1500, 8192, 0, CALLER_ID, 0)  # rendezvous WAVEAHAND
    with pytest.raises(SrtError):
        lst.on_handshake(ControlPacket(HANDSHAKE, 0, 0, hs.build()), PEER, NOW)
    bad_induction = Handshake(HS_VERSION_SRT1, 0, 0, ISN, 1500, 8192, URQ_INDUCTION, CALLER_ID, 0)
    with pytest.raises(SrtError):
        lst.on_handshake(ControlPacket(HANDSHAKE, 0, 0, bad_induction.build()), PEER, NOW)
