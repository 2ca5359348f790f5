"""RTP packets and the H.264 / AAC (RFC 3640) payload formats: bytes tables both ways, loss,
malformed input."""
from __future__ import annotations

import os
import struct

import pytest

from srs.kernel.errors import (ERROR_RTP_HEADER_CORRUPT, ERROR_RTP_TYPE96_CORRUPT,
                               ERROR_RTP_TYPE97_CORRUPT, CodecError)
from srs.protocol.rtp import (AacDepacketizer, H264Depacketizer, ReorderBuffer, RtpPacket, packetize_aac,
                              packetize_h264)

# (bytes, fields) pairs: minimal, marker+csrc, extension+padding
PACKETS = [
    (bytes.fromhex("8060 0001 00000064 11223344") + b"\x65abc",
     dict(payload_type=96, seq=1, timestamp=100, ssrc=0x11223344, payload=b"\x65abc", marker=False)),
    (bytes.fromhex("82e1 ffff ffffffff 00000001 0000000a 0000000b") + b"x",
     dict(payload_type=97, seq=0xFFFF, timestamp=0xFFFFFFFF, ssrc=1, payload=b"x", marker=True,
          csrcs=(10, 11))),
    (bytes.fromhex("b060 0002 00000000 00000002 bede0001 01020304") + b"pl" + b"\x00\x00\x03",
     dict(payload_type=96, seq=2, timestamp=0, ssrc=2, payload=b"pl", extension=(0xBEDE, b"\x01\x02\x03\x04"),
          padding=3)),
]


@pytest.mark.parametrize("data,fields", PACKETS)
def test_rtp_packet_table_both_ways(data, fields):
    pkt = RtpPacket.parse(data)
    for k, v in fields.items():
        assert getattr(pkt, k) == v, k
    assert pkt.build() == data
    assert RtpPacket(**fields).build() == data
    assert RtpPacket.parse(pkt.build()) == pkt


@pytest.mark.parametrize("data", [
    b"", b"\x80\x60\x00", bytes(12),                                 # short, version 0
    bytes.fromhex("8f60 0001 00000000 00000000"),                     # 15 CSRCs missing
    bytes.fromhex("9060 0001 00000000 00000000 bede00ff"),            # extension past the end
    bytes.fromhex("a060 0001 00000000 00000000 00"),                  # padding 0
    bytes.fromhex("a060 0001 00000000 00000000 0102ff"),              # padding past the end
])
def test_rtp_packet_malformed(data):
    with pytest.raises(CodecError) as e:
        RtpPacket.parse(data)
    assert e.value.code == ERROR_RTP_HEADER_CORRUPT


def _packets(payloads, ts, seq=0, pt=96):
    return [RtpPacket(pt, (seq + i) & 0xFFFF, ts, 7, p, marker=(i == len(payloads) - 1))
            for i, p in enumerate(payloads)]


SPS = bytes.fromhex("6742c01e d9005005 bb011000 00030010 00000303 20f162e4 80")
PPS = bytes.fromhex("68cb83cb 20")


def test_h264_single_stap_fua_round_trip():
    idr = b"\x65" + os.urandom(5000)
    sei = b"\x06\x05\x01\x80"
    payloads = packetize_h264([SPS, PPS, sei, idr], mtu=1200)
    kinds = [p[0] & 0x1F for p in payloads]
    assert kinds[0] == 24 and set(kinds[1:]) == {28}           # STAP-A then FU-A
    assert all(len(p) <= 1200 for p in payloads)
    d = H264Depacketizer()
    out = []
    for pkt in _packets(payloads, 9000):
        out += d.push(RtpPacket.parse(pkt.build()))
    assert out == [(9000, [SPS, PPS, sei, idr])]
    # a single small NALU goes alone; a timestamp change also ends the previous access unit
    p = b"\x41" + b"z" * 10
    assert packetize_h264([p]) == [p]
    pkts = _packets([p], 12000, seq=50)
    pkts[0].marker = False
    assert d.push(pkts[0]) == []
    nxt = _packets([p], 15600, seq=51)[0]
    nxt.marker = False
    assert d.push(nxt) == [(12000, [p])]
    assert d.flush() == [(15600, [p])]


def test_h264_loss_drops_only_the_broken_nalu():
    big = b"\x65" + bytes(range(256)) * 20
    small = b"\x41abc"
    payloads = packetize_h264([big], mtu=1000)
    assert len(payloads) > 3
    d = H264Depacketizer()
    pkts = _packets(payloads, 0, seq=65530)                      # wraps 65535 -> 0
    out = []
    for i, pkt in enumerate(pkts):
        if i == 2:
            continue                                               # one fragment lost
        out += d.push(pkt)
    assert out == [] and d.lost == 1 and d.dropped == 1
    out = d.push(_packets([small], 3600, seq=(65530 + len(pkts)) & 0xFFFF)[0])
    assert out == [(3600, [small])]
    # an FU-A whose start was lost is skipped until the next start fragment
    d2 = H264Depacketizer()
    pk = _packets(payloads, 0)
    assert d2.push(pk[1]) == [] and d2.push(pk[2]) == []


@pytest.mark.parametrize("payload", [
    b"",                        # empty
    b"\x18\x00",                # STAP-A size truncated
    b"\x18\x00\x09abc",         # STAP-A NALU past the end
    b"\x18\x00\x00",            # STAP-A zero size
    b"\x1c\x85",                # FU-A without data
    b"\x19abc",                 # STAP-B unsupported
])
def test_h264_malformed(payload):
    with pytest.raises(CodecError) as e:
        H264Depacketizer().push(RtpPacket(96, 1, 0, 1, payload, True))
    assert e.value.code == ERROR_RTP_TYPE96_CORRUPT


def test_aac_au_headers_table_both_ways():
    frames = [b"\x21" * 200, b"\x21\x10" * 150, b"\x01"]
    payload = packetize_aac(frames)
    # AU-headers-length 48 bits, 3 x (13-bit size, 3-bit index)
    assert payload[:2] == struct.pack(">H", 48)
    assert payload[2:8] == struct.pack(">HHH", 200 << 3, 300 << 3, 1 << 3)
    d = AacDepacketizer()
    out = d.push(RtpPacket(97, 1, 1000, 1, payload, True))
    assert out == [(1000, frames[0]), (2024, frames[1]), (3048, frames[2])]
    # the hand-written bytes decode the same way
    raw = struct.pack(">HH", 16, 5 << 3) + b"hello"
    assert AacDepacketizer().push(RtpPacket(97, 1, 0xFFFFFFFF, 1, raw, True)) == [(0xFFFFFFFF, b"hello")]


def test_aac_fragmented_au_and_loss():
    au = os.urandom(3000)
    header = struct.pack(">HH", 16, len(au) << 3)
    parts = [header + au[:1400], header + au[1400:2800], header + au[2800:]]
    d = AacDepacketizer()
    out = []
    for i, p in enumerate(parts):
        out += d.push(RtpPacket(97, 10 + i, 500, 1, p, i == 2))
    assert out == [(500, au)]
    d2 = AacDepacketizer()
    assert d2.push(RtpPacket(97, 1, 500, 1, parts[0])) == []
    assert d2.push(RtpPacket(97, 3, 500, 1, parts[2], True)) == []   # middle lost: dropped
    assert d2.lost == 1 and d2.dropped == 1


@pytest.mark.parametrize("payload", [
    b"\x00",                          # no AU-headers-length
    b"\x00\x10\x00",                  # headers past the end
    b"\x00\x00hello",                 # zero headers
    struct.pack(">HHH", 32, 5 << 3, 9 << 3) + b"hello",   # second AU past the end
])
def test_aac_malformed(payload):
    with pytest.raises(CodecError) as e:
        AacDepacketizer().push(RtpPacket(97, 1, 0, 1, payload, True))
    assert e.value.code == ERROR_RTP_TYPE97_CORRUPT


def test_aac_garbage_never_untyped():
    rnd = __import__("random").Random(15)
    for _ in range(300):
        data = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 40)))
        for d in (AacDepacketizer(), H264Depacketizer()):
            try:
                d.push(RtpPacket(97, 1, 0, 1, data, True))
            except CodecError:
                pass


def _seqs(pkts):
    return [p.seq for p in pkts]


def test_reorder_buffer_puts_overtaken_packets_back():
    rb = ReorderBuffer(max_wait=9000)                         # 100 ms at 90 kHz
    pkt = {s: RtpPacket(96, s & 0xFFFF, 1000 + 3600 * (s // 3), 7, b"x") for s in range(65530, 65550)}
    assert _seqs(rb.push(pkt[65530])) == [65530]              # in order: out at once
    assert rb.push(pkt[65532]) == []                          # 65531 overtaken: wait
    assert _seqs(rb.push(pkt[65531])) == [65531, 65532] and rb.reordered == 1
    assert rb.push(pkt[65531]) == [] and rb.late == 1         # a duplicate is dropped
    # across the 16-bit wrap: 65535 and 0 swapped
    out = rb.push(pkt[65533]) + rb.push(pkt[65534]) + rb.push(pkt[65536]) + rb.push(pkt[65535])
    assert _seqs(out) == [65533, 65534, 65535, 0]
    # a real loss (seq 1): given up once the held packets span more than 100 ms of RTP time
    got = []
    for s in range(65538, 65550):
        got += _seqs(rb.push(pkt[s]))
        if got:
            break
    assert got and got[0] == 2 and got == list(range(2, got[-1] + 1))
    assert pkt[got[-1] + 65536].timestamp - pkt[65538].timestamp > 9000
    assert rb.push(pkt[65537]) == [] and rb.late == 2         # too late now: dropped
    assert rb.flush() == []


def test_reorder_buffer_bounds_and_flush():
    rb = ReorderBuffer(max_wait=1 << 30, max_held=3)
    assert rb.push(RtpPacket(96, 10, 0, 7, b"a")) != []
    for s in (12, 13, 14):                                    # 11 lost, timestamps equal
        assert rb.push(RtpPacket(96, s, 0, 7, b"b")) == []
    assert _seqs(rb.push(RtpPacket(96, 16, 0, 7, b"c"))) == [12, 13, 14]   # over max_held
    assert _seqs(rb.flush()) == [16]


def test_h264_through_reorder_buffer_loses_nothing():
    nalus = [SPS, PPS, b"\x65" + os.urandom(5000)]
    pkts = [RtpPacket(96, i, 90000, 7, p, marker=(i == n - 1))
            for n in [len(packetize_h264(nalus, 1200))] for i, p in enumerate(packetize_h264(nalus, 1200))]
    shuffled = pkts[:]
    shuffled[1], shuffled[3] = shuffled[3], shuffled[1]
    rb, d = ReorderBuffer(9000), H264Depacketizer()
    units = [u for p in shuffled for q in rb.push(p) for u in d.push(q)]
    assert len(units) == 1 and units[0][1] == nalus and d.lost == 0 and rb.reordered == 1
