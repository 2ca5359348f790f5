"""SRT packet codec: data/control headers and the ACK, NAK, DROPREQ bodies as byte tables both ways,
31-bit sequence arithmetic, and malformed input as typed errors."""
from __future__ import annotations

import pytest

from srs.protocol.srt.errors import SrtError
from srs.protocol.srt.packet import (ACK, ACKACK, KEEPALIVE, KK_EVEN, KK_ODD, MAX_PAYLOAD, NAK, PP_FIRST,
                                     PP_SOLO, SHUTDOWN, Ack, ControlPacket, DataPacket, build_ackack,
                                     build_dropreq, build_keepalive, build_nak, build_shutdown,
                                     decode_loss_list, encode_loss_list, parse_dropreq, parse_packet,
                                     peek_dst_id, seq_add, seq_diff)

DATA = [
    (bytes.fromhex("00000001 c0000001 00000064 11223344") + b"\x47ts",
     dict(seq=1, position=PP_SOLO, in_order=False, key=0, retransmitted=False, msgno=1, timestamp=100,
          dst_id=0x11223344, payload=b"\x47ts")),
    (bytes.fromhex("7fffffff b4000005 ffffffff 00000001") + b"x",   # FIRST, O, KK=odd, R
     dict(seq=0x7FFFFFFF, position=PP_FIRST, in_order=True, key=KK_ODD, retransmitted=True, msgno=5,
          timestamp=0xFFFFFFFF, dst_id=1, payload=b"x")),
    (bytes.fromhex("00000000 cbffffff 00000000 00000002") + bytes(MAX_PAYLOAD),  # KK=even, max msgno
     dict(seq=0, position=PP_SOLO, key=KK_EVEN, msgno=0x3FFFFFF, timestamp=0, dst_id=2,
          payload=bytes(MAX_PAYLOAD))),
]


@pytest.mark.parametrize("data,fields", DATA)
def test_data_packet_table_both_ways(data, fields):
    pkt = parse_packet(data)
    assert isinstance(pkt, DataPacket)
    for k, v in fields.items():
        assert getattr(pkt, k) == v, k
    assert pkt.build() == data
    assert DataPacket(**fields).build() == data
    assert peek_dst_id(data) == fields["dst_id"]


CONTROL = [
    (build_keepalive(7, 9), dict(type=KEEPALIVE, timestamp=7, dst_id=9, cif=bytes(4))),
    (build_shutdown(1, 2), dict(type=SHUTDOWN, timestamp=1, dst_id=2, cif=bytes(4))),
    (build_ackack(42, 3, 4), dict(type=ACKACK, info=42, timestamp=3, dst_id=4)),
    (bytes.fromhex("80020000 00000005 00000010 00000020") + bytes.fromhex("00000064"),
     dict(type=ACK, info=5, timestamp=16, dst_id=32, cif=bytes.fromhex("00000064"))),
    (bytes.fromhex("ffff0003 00000000 00000000 00000001"),
     dict(type=0x7FFF, subtype=3, info=0, timestamp=0, dst_id=1, cif=b"")),
]


@pytest.mark.parametrize("data,fields", CONTROL)
def test_control_packet_table_both_ways(data, fields):
    pkt = parse_packet(data)
    assert isinstance(pkt, ControlPacket)
    for k, v in fields.items():
        assert getattr(pkt, k) == v, k
    assert pkt.build() == data
    assert parse_packet(pkt.build()) == pkt


@pytest.mark.parametrize("data", [
    b"", bytes(15),                                          # shorter than a header
    bytes.fromhex("00000001 c0000001 00000000 00000001"),    # data without payload
    bytes.fromhex("80090000 00000000 00000000 00000001"),    # control type 9 does not exist
    bytes(16) + bytes(1500),                                 # over the MTU
])
def test_malformed_packets_raise_typed_errors(data):
    with pytest.raises(SrtError):
        parse_packet(data)


def test_sequence_arithmetic_wraps_at_31_bits():
    assert seq_add(0x7FFFFFFF) == 0
    assert seq_add(0, -1) == 0x7FFFFFFF
    assert seq_diff(0, 0x7FFFFFFF) == 1
    assert seq_diff(0x7FFFFFFF, 0) == -1
    assert seq_diff(5, 3) == 2 and seq_diff(3, 5) == -2


def test_ack_full_light_small():
    full = Ack(3, 1000, 5000, 2500, 8000, 100, 200, 300000)
    data = full.build(10, 20)
    assert data == bytes.fromhex("80020000 00000003 0000000a 00000014 000003e8 00001388 000009c4 "
                                 "00001f40 00000064 000000c8 000493e0")
    assert Ack.parse(parse_packet(data)) == full
    light = Ack(0, 77)
    assert light.light and len(light.build(0, 1)) == 20
    assert Ack.parse(parse_packet(light.build(0, 1))).last_ack_seq == 77
    small = ControlPacket(ACK, 0, 1, bytes.fromhex("00000009 00000001 00000002 00000003"), 8)
    assert Ack.parse(small) == Ack(8, 9, 1, 2, 3)
    for cif in (b"", bytes(5), bytes(8), bytes(36), bytes.fromhex("80000000")):
        with pytest.raises(SrtError):
            Ack.parse(ControlPacket(ACK, 0, 1, cif, 1))


def test_nak_loss_list_both_ways():
    ranges = [(5, 5), (7, 9), (0x7FFFFFFE, 1)]  # a range across the wrap
    cif = encode_loss_list(ranges)
    assert cif == bytes.fromhex("00000005 80000007 00000009 fffffffe 00000001")
    assert decode_loss_list(cif) == ranges
    assert parse_packet(build_nak(ranges, 1, 2)).type == NAK
    for bad in (b"", bytes(3), bytes.fromhex("80000007"), bytes.fromhex("80000007 80000009"),
                bytes.fromhex("80000009 00000007")):
        with pytest.raises(SrtError):
            decode_loss_list(bad)


def test_dropreq_both_ways():
    pkt = parse_packet(build_dropreq(4, 10, 12, 0, 1))
    assert pkt.info == 4 and parse_dropreq(pkt) == (10, 12)
    for cif in (bytes(4), bytes.fromhex("0000000c 0000000a"), bytes.fromhex("8000000a 0000000c")):
        with pytest.raises(SrtError):
            parse_dropreq(ControlPacket(7, 0, 1, cif))
