"""RTCP build/parse round trips, a compound packet, and hostile RTCP -> RtcpError only."""
from __future__ import annotations

import random

import pytest

from srs.protocol.rtc import rtcp
from srs.protocol.rtc.errors import RtcpError


def test_compound_round_trip():
    block = rtcp.ReportBlock(7, 12, -3, 70000, 44, 5, 6)
    pkts = [rtcp.SenderReport(1, 0x0102030405060708, 90000, 10, 1000, [block]),
            rtcp.ReceiverReport(2, [block]), rtcp.Nack(2, 7, [100, 101, 105, 117, 118, 200]),
            rtcp.Pli(2, 7), rtcp.Fir(2, [(7, 3)]), rtcp.Remb(2, 1_500_000, [7, 8])]
    got = rtcp.parse_compound(rtcp.build_compound(pkts))
    assert [type(p) for p in got] == [type(p) for p in pkts]
    sr, rr, nack, pli, fir, remb = got
    assert (sr.ssrc, sr.ntp, sr.rtp_ts, sr.packets, sr.octets) == (1, 0x0102030405060708, 90000, 10, 1000)
    assert sr.reports == [block] and rr.reports == [block]
    assert nack.lost == [100, 101, 105, 117, 118, 200] and nack.media_ssrc == 7
    assert (pli.sender_ssrc, pli.media_ssrc) == (2, 7)
    assert fir.entries == [(7, 3)]
    assert abs(remb.bitrate - 1_500_000) < 1_500_000 / 2 ** 17 and remb.ssrcs == [7, 8]


def test_nack_across_the_sequence_wrap():
    nack = rtcp.parse_compound(rtcp.Nack(1, 2, [65534, 65535, 0, 3]).build())[0]
    assert nack.lost == [65534, 65535, 0, 3]
    assert len(rtcp.Nack(1, 2, [65534, 65535, 0, 3]).build()) == 16    # one FCI entry


def test_transport_cc_round_trip():
    ref = 10 * 64000
    arrivals = [(65530, ref + 1000), (65531, None), (65532, ref + 3000), (65533, ref + 200_000),
                (65534, ref + 150_000), (65535, None), (0, ref + 150_250), (1, ref + 151_000)]
    pkt = rtcp.TransportCc(1, 2, 65530, ref + 5, 9, arrivals)
    got = rtcp.parse_compound(pkt.build())[0]
    assert isinstance(got, rtcp.TransportCc)
    assert (got.base_seq, got.fb_count, got.reference_us) == (65530, 9, ref)
    assert got.packets == arrivals      # every arrival is on the 250 us grid here


def test_hostile_rtcp_raises_rtcp_error_only():
    base = rtcp.build_compound([rtcp.ReceiverReport(2, [rtcp.ReportBlock(7)]),
                                rtcp.TransportCc(1, 2, 5, 64000, 1, [(5, 64000), (6, None)])])
    rng = random.Random(4585)
    for _ in range(3000):
        data = bytearray(base)
        for _ in range(rng.randint(1, 5)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            rtcp.parse_compound(bytes(data[:rng.randint(0, len(data))]))
        except RtcpError:
            pass
    with pytest.raises(RtcpError):
        rtcp.parse_compound(b"\x80\xc9\x00\x09")


def test_transport_sequence_from_header_extensions():
    one_byte = (0xBEDE, bytes([0x10, 0xAA, 0, 0x31, 0x12, 0x34, 0, 0]))   # id 1 (1 byte), id 3 (2 bytes)
    assert rtcp.transport_sequence(one_byte, 3) == 0x1234
    assert rtcp.transport_sequence(one_byte, 5) is None
    two_byte = (0x1000, bytes([3, 2, 0xAB, 0xCD]))
    assert rtcp.transport_sequence(two_byte, 3) == 0xABCD
    assert rtcp.transport_sequence((0xBEDE, bytes([0x31, 0x12])), 3) is None      # truncated
    assert rtcp.transport_sequence(None, 3) is None
