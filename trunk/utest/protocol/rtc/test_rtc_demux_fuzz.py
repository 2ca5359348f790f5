"""Garbage on the single media port: every datagram is classified by its first bytes and handed to
that protocol's parser, which must either accept it or raise a typed PeerError (never anything
else), so a session loop can drop the packet (or end that one session) with a log line."""
from __future__ import annotations

import random

from srs.kernel.errors import PeerError
from srs.protocol.rtc import rtcp, stun
from srs.protocol.rtc.rtp_h264 import H264Reassembler
from srs.protocol.rtp import RtpPacket

SEEDS = [
    stun.binding_request(bytes(12), "a:b", "p" * 22, 1, True, 7, True),
    RtpPacket(102, 1, 2, 3, b"\x7c\x85" + bytes(50), True).build(),
    RtpPacket(102, 1, 2, 3, b"\x18\x00\x02\x67\x42\x00\x02\x68\xce", True, extension=(0xBEDE, bytes(4))).build(),
    rtcp.build_compound([rtcp.ReceiverReport(1, [rtcp.ReportBlock(2)]), rtcp.Pli(1, 2),
                         rtcp.Nack(1, 2, [5, 9])]),
    bytes([22, 0xFE, 0xFD]) + bytes(30),
]


def handle(data: bytes) -> str:
    kind = stun.classify(data)
    if kind == stun.PACKET_STUN:
        stun.BindingRequest.parse(data).verify("p" * 22)
    elif kind == stun.PACKET_RTP:
        pkt = RtpPacket.parse(data)
        rtcp.transport_sequence(pkt.extension, 1)
        H264Reassembler().push(pkt)
    elif kind == stun.PACKET_RTCP:
        rtcp.parse_compound(data)
    return kind


def test_mutated_and_random_datagrams_raise_only_peer_errors():
    rng = random.Random(7983)
    kinds = set()
    for i in range(20000):
        if i % 4 == 0:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 80)))
        else:
            data = bytearray(rng.choice(SEEDS))
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data[:rng.randint(1, len(data))]) if rng.random() < 0.3 else bytes(data)
        try:
            kinds.add(handle(data))
        except PeerError:
            pass
    assert {stun.PACKET_STUN, stun.PACKET_RTP, stun.PACKET_RTCP, stun.PACKET_DTLS} <= kinds
