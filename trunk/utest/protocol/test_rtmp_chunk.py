"""Chunk stream decoder/encoder: byte tables both ways, round trips, malformed input."""
from __future__ import annotations

import random
import struct

import pytest

from srs.kernel.errors import (ERROR_RTMP_CHUNK_SIZE, ERROR_RTMP_CHUNK_START,
                               ERROR_RTMP_MSG_INVALID_SIZE, ERROR_RTMP_PACKET_SIZE, ChunkError,
                               SrsError)
from srs.kernel.message import Message
from srs.protocol.rtmp_chunk import ChunkDecoder, ChunkEncoder, RawMessage, csid_for_kind


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", "").replace("\n", ""))


def set_chunk_size_msg(n: int) -> bytes:
    # fmt0 csid2, ts 0, len 4, type 1, sid 0, payload n
    return h("02 000000 000004 01 00000000") + struct.pack(">I", n)


def feed_bytewise(data: bytes, dec: ChunkDecoder | None = None) -> list:
    dec = dec or ChunkDecoder()
    out = []
    for i in range(len(data)):
        out += dec.receive_data(data[i:i + 1])
    return out


# ------------------------------------------------------------------------------ decode tables
DECODE_TABLE = [
    # (id, wire bytes, expected messages as (type, ts, sid, csid, payload))
    ("fmt0-1byte-basic",
     h("03 000102 000005 14 00000000") + b"hello",
     [(20, 0x102, 0, 3, b"hello")]),
    ("fmt0-sid-little-endian",
     h("08 000000 000002 09 01000000") + b"\x17\x01",
     [(9, 0, 1, 8, b"\x17\x01")]),
    ("fmt0-2byte-basic-csid64",
     h("00 00 000010 000001 08 01000000") + b"A",
     [(8, 16, 1, 64, b"A")]),
    ("fmt0-2byte-basic-csid319",
     h("00 ff 000010 000001 08 01000000") + b"A",
     [(8, 16, 1, 319, b"A")]),
    ("fmt0-3byte-basic-csid320",
     h("01 00 01 000010 000001 08 01000000") + b"A",
     [(8, 16, 1, 320, b"A")]),
    ("fmt0-3byte-basic-csid65599",
     h("01 ff ff 000010 000001 08 01000000") + b"A",
     [(8, 16, 1, 65599, b"A")]),
    ("fmt1-delta-new-length-type",
     h("04 000064 000002 08 01000000") + b"ab" + h("44 00000a 000003 09") + b"cde",
     [(8, 100, 1, 4, b"ab"), (9, 110, 1, 4, b"cde")]),
    ("fmt2-delta-same-length",
     h("04 000064 000002 08 01000000") + b"ab" + h("84 000014") + b"cd",
     [(8, 100, 1, 4, b"ab"), (8, 120, 1, 4, b"cd")]),
    ("fmt3-new-message-reuses-delta",
     h("04 000064 000002 08 01000000") + b"ab" + h("84 000014") + b"cd" + h("c4") + b"ef",
     [(8, 100, 1, 4, b"ab"), (8, 120, 1, 4, b"cd"), (8, 140, 1, 4, b"ef")]),
    ("fmt3-after-fmt0-delta-is-the-timestamp",
     h("04 00001a 000001 08 01000000") + b"a" + h("c4") + b"b",
     [(8, 26, 1, 4, b"a"), (8, 52, 1, 4, b"b")]),
    ("extended-ts-fmt0",
     h("04 ffffff 000002 08 01000000 01000000") + b"ab",
     [(8, 0x01000000, 1, 4, b"ab")]),
    ("extended-ts-fmt1-delta",
     h("04 000010 000001 08 01000000") + b"a" + h("44 ffffff 000001 08 01000000") + b"b",
     [(8, 16, 1, 4, b"a"), (8, 16 + 0x01000000, 1, 4, b"b")]),
    ("zero-length-message",
     h("03 000000 000000 14 00000000"),
     [(20, 0, 0, 3, b"")]),
    ("librtmp-fmt1-ping-on-fresh-csid2",
     h("42 000000 000006 04") + h("0006 00000d0f"),
     [(4, 0, 0, 2, h("0006 00000d0f"))]),
    ("interleaved-csids",
     # video (csid 6) 200 bytes at chunk size 128, audio (csid 4) in between its chunks
     h("06 000000 0000c8 09 01000000") + b"V" * 128
     + h("04 000000 000003 08 01000000") + b"AAA"
     + h("c6") + b"V" * 72,
     [(8, 0, 1, 4, b"AAA"), (9, 0, 1, 6, b"V" * 200)]),
]


@pytest.mark.parametrize("wire,expected", [t[1:] for t in DECODE_TABLE],
                         ids=[t[0] for t in DECODE_TABLE])
def test_decode_table(wire, expected):
    want = [RawMessage(t, ts, sid, cs, p) for t, ts, sid, cs, p in expected]
    assert ChunkDecoder().receive_data(wire) == want
    # the same bytes one at a time give the same messages (partial state is kept)
    assert feed_bytewise(wire) == want
    # memoryview and bytearray inputs too
    assert ChunkDecoder().receive_data(memoryview(bytearray(wire))) == want


def test_extended_ts_on_fmt3_continuation_with_and_without_repeat():
    payload = bytes(range(200))
    head = h("06 ffffff 0000c8 09 01000000 12345678")
    flash = head + payload[:128] + h("c6 12345678") + payload[128:]   # Flash/SRS repeat it
    librtmp = head + payload[:128] + h("c6") + payload[128:]            # ffmpeg/librtmp do not
    for wire in (flash, librtmp):
        want = [RawMessage(9, 0x12345678, 1, 6, payload)]
        assert ChunkDecoder().receive_data(wire) == want
        assert feed_bytewise(wire) == want


def test_extended_ts_fmt3_new_message_reads_extended_field():
    wire = (h("04 ffffff 000001 08 01000000 01000000") + b"a"
            + h("c4 01000000") + b"b")
    msgs = ChunkDecoder().receive_data(wire)
    assert [(m.ts_ms, m.payload) for m in msgs] == [(0x01000000, b"a"), (0x02000000, b"b")]


def test_chunk_size_change_mid_buffer_applies_to_the_rest():
    payload = bytes(300)
    wire = (set_chunk_size_msg(256)
            + h("06 000000 00012c 09 01000000") + payload[:256] + h("c6") + payload[256:])
    dec = ChunkDecoder()
    msgs = dec.receive_data(wire)
    assert [m.type for m in msgs] == [1, 9]       # set chunk size is returned too
    assert msgs[1].payload == payload
    assert dec.in_chunk_size == 256
    assert feed_bytewise(wire) == msgs


def test_abort_discards_partial_message():
    wire = (h("06 000000 0000c8 09 01000000") + b"x" * 128          # first chunk of 200 bytes
            + h("02 000000 000004 02 00000000 00000006")            # abort csid 6
            + h("06 000000 000002 09 01000000") + b"ok")            # fmt0 is legal again
    msgs = ChunkDecoder().receive_data(wire)
    assert [(m.type, m.payload) for m in msgs] == [(2, h("00000006")), (9, b"ok")]


def test_bytes_received_counter_and_partial_tail():
    dec = ChunkDecoder()
    wire = h("03 000000 000005 14 00000000") + b"hello"
    assert dec.receive_data(wire[:7]) == []
    assert dec.bytes_received == 7
    assert len(dec.receive_data(wire[7:] + wire)) == 2
    assert dec.bytes_received == 2 * len(wire)


# ------------------------------------------------------------------------------ encode tables
ENCODE_TABLE = [
    # (id, (type, ts, sid, payload, csid), chunk size, wire bytes)
    ("small", (20, 0, 0, b"hello", 3), 128, h("03 000000 000005 14 00000000") + b"hello"),
    ("sid-le", (9, 0x10203, 1, b"\x17", 6), 128, h("06 010203 000001 09 01000000 17")),
    ("csid64", (8, 0, 1, b"A", 64), 128, h("00 00 000000 000001 08 01000000") + b"A"),
    ("csid320", (8, 0, 1, b"A", 320), 128, h("01 00 01 000000 000001 08 01000000") + b"A"),
    ("continuation", (9, 5, 1, b"a" * 5 + b"b" * 3, 6), 5,
     h("06 000005 000008 09 01000000") + b"aaaaa" + h("c6") + b"bbb"),
    ("ext-ts-repeated-on-fmt3", (9, 0x1000000, 1, b"a" * 5 + b"b" * 3, 6), 5,
     h("06 ffffff 000008 09 01000000 01000000") + b"aaaaa" + h("c6 01000000") + b"bbb"),
    ("ext-ts-boundary", (8, 0xFFFFFF, 1, b"z", 7), 128,
     h("07 ffffff 000001 08 01000000 00ffffff") + b"z"),
    ("ts-just-below-ext", (8, 0xFFFFFE, 1, b"z", 7), 128, h("07 fffffe 000001 08 01000000") + b"z"),
    ("csid320-continuation", (8, 0, 1, b"abc", 320), 2,
     h("01 00 01 000000 000003 08 01000000") + b"ab" + h("c1 00 01") + b"c"),
]


@pytest.mark.parametrize("args,chunk_size,wire", [t[1:] for t in ENCODE_TABLE],
                         ids=[t[0] for t in ENCODE_TABLE])
def test_encode_table(args, chunk_size, wire):
    enc = ChunkEncoder(chunk_size)
    assert enc.encode(*args) == wire
    # and back
    dec = ChunkDecoder()
    if chunk_size != 128:
        dec.receive_data(set_chunk_size_msg(chunk_size))
    mtype, ts, sid, payload, csid = args
    assert dec.receive_data(wire) == [RawMessage(mtype, ts, sid, csid, payload)]


# ------------------------------------------------------------------------------ round trips
SIZES = [0, 1, 127, 128, 129, 4095, 4096, 4097, 60000, 60001, 3 * 4096 + 7, 200000]
TIMESTAMPS = [0, 40, 0xFFFFFE, 0xFFFFFF, 0x12345678, 0xFFFFFFFF]


@pytest.mark.parametrize("chunk_size", [128, 4096, 60000])
def test_round_trip(chunk_size):
    enc = ChunkEncoder(chunk_size)
    rng = random.Random(chunk_size)
    sent = []
    wire = [set_chunk_size_msg(chunk_size)] if chunk_size != 128 else []
    for i, size in enumerate(SIZES):
        payload = rng.randbytes(size) if hasattr(rng, "randbytes") else bytes(
            rng.getrandbits(8) for _ in range(size))
        ts = TIMESTAMPS[i % len(TIMESTAMPS)]
        csid = (3, 6, 7, 64, 320, 65599)[i % 6]
        sent.append(RawMessage(9 if i % 2 else 8, ts, i % 3, csid, payload))
        wire.append(enc.encode(9 if i % 2 else 8, ts, i % 3, payload, csid))
    data = b"".join(wire)
    got = ChunkDecoder().receive_data(data)
    got = [m for m in got if m.type != 1]
    assert got == sent
    # split at awkward places
    dec = ChunkDecoder()
    got2 = []
    step = 1
    pos = 0
    while pos < len(data):
        got2 += dec.receive_data(data[pos:pos + step])
        pos += step
        step = step * 3 % 1013 + 1
    assert [m for m in got2 if m.type != 1] == sent


@pytest.mark.parametrize("chunk_size", [128, 4096, 60000])
def test_encode_media_round_trip(chunk_size):
    msgs = []
    for i in range(128):
        if i % 3 == 0:
            msgs.append(Message.make(9, 1000 + i * 10, bytes([0x27, 1]) + bytes(2046), 1))
        else:
            msgs.append(Message.make(8, 1000 + i * 10, bytes([0xAF, 1]) + bytes(298), 1))
    msgs.append(Message(18, 2280, b"\x02\x00\x0aonMetaData\x03\x00\x00\x09", 1))
    msgs.append(Message.make(9, 0x1000000 + 1000, b"\x17\x01" + bytes(70000), 1))
    enc = ChunkEncoder(chunk_size)
    wire = enc.encode_media(msgs, ts_base=1000)
    dec = ChunkDecoder()
    if chunk_size != 128:
        dec.receive_data(set_chunk_size_msg(chunk_size))
    got = dec.receive_data(wire)
    assert [(m.type, m.ts_ms, m.stream_id, m.csid, m.payload) for m in got] == [
        (m.kind, m.ts_ms - 1000, 1, csid_for_kind(m.kind), m.payload) for m in msgs]
    assert {m.csid for m in got} == {5, 6, 7}
    # the player's stream id overrides the message's; negative relative ts wraps to 32 bits
    got = ChunkDecoder().receive_data(ChunkEncoder(128).encode_media(msgs[:2], 1005, 3))
    assert [(m.stream_id, m.ts_ms) for m in got] == [(3, 0xFFFFFFFB), (3, 5)]


def test_encode_media_matches_encode():
    enc = ChunkEncoder(60000)
    msgs = [Message.make(9, 100, b"\x17\x01abc", 1), Message.make(8, 0xFFFFFF, b"\xaf\x01z", 2),
            Message.make(18, 3, b"\x02\x00\x01x", 1)]
    assert enc.encode_media(msgs) == b"".join(
        enc.encode(m.kind, m.ts_ms, m.stream_id, m.payload, csid_for_kind(m.kind)) for m in msgs)


# ------------------------------------------------------------------------------ malformed
@pytest.mark.parametrize("size", [0, 0x80000000, 0xFFFFFFFF])
def test_invalid_peer_chunk_size(size):
    with pytest.raises(ChunkError) as e:
        ChunkDecoder().receive_data(set_chunk_size_msg(size))
    assert e.value.code == ERROR_RTMP_CHUNK_SIZE


def test_valid_extreme_chunk_sizes():
    for size in (1, 0x7FFFFFFF):
        dec = ChunkDecoder()
        dec.receive_data(set_chunk_size_msg(size))
        assert dec.in_chunk_size == size
        wire = ChunkEncoder(size).encode(8, 0, 1, b"abcdef", 4)
        assert dec.receive_data(wire)[0].payload == b"abcdef"


def test_short_set_chunk_size_payload():
    with pytest.raises(ChunkError):
        ChunkDecoder().receive_data(h("02 000000 000002 01 00000000 0100"))


def test_message_too_large():
    with pytest.raises(ChunkError) as e:
        ChunkDecoder(max_message_size=1024).receive_data(h("03 000000 000401 14 00000000"))
    assert e.value.code == ERROR_RTMP_MSG_INVALID_SIZE
    # exactly the maximum is fine (waits for the payload)
    assert ChunkDecoder(max_message_size=1024).receive_data(h("03 000000 000400 14 00000000")) == []
    # fmt1 is checked as well
    dec = ChunkDecoder(max_message_size=1024)
    dec.receive_data(h("03 000000 000001 14 00000000 00"))
    with pytest.raises(ChunkError):
        dec.receive_data(h("43 000000 100000 14"))


def test_default_maximum_accepts_largest_24bit_length():
    # 16 MB + 1 cannot be written in 24 bits; the largest representable length is accepted
    dec = ChunkDecoder()
    assert dec.receive_data(h("03 000000 ffffff 09 01000000") + bytes(10)) == []


@pytest.mark.parametrize("first", ["43 000000 000001 14", "83 000000", "c3"],
                         ids=["fmt1", "fmt2", "fmt3"])
def test_fresh_csid_must_start_with_fmt0(first):
    with pytest.raises(ChunkError) as e:
        ChunkDecoder().receive_data(h(first) + b"x")
    assert e.value.code == ERROR_RTMP_CHUNK_START


def test_fmt0_inside_partial_message():
    with pytest.raises(ChunkError) as e:
        ChunkDecoder().receive_data(h("06 000000 0000c8 09 01000000") + bytes(128)
                                    + h("06 000000 000001 09 01000000") + b"x")
    assert e.value.code == ERROR_RTMP_CHUNK_START


def test_fmt1_changing_length_mid_message():
    with pytest.raises(ChunkError) as e:
        ChunkDecoder().receive_data(h("06 000000 0000c8 09 01000000") + bytes(128)
                                    + h("46 000000 0000c9 09") + b"x")
    assert e.value.code == ERROR_RTMP_PACKET_SIZE


def test_garbage_bytes():
    with pytest.raises(ChunkError):
        ChunkDecoder().receive_data(b"\xff" * 64)


@pytest.mark.parametrize("seed", range(40))
def test_random_garbage_never_crashes_untyped(seed):
    rng = random.Random(seed)
    dec = ChunkDecoder(max_message_size=65536)
    try:
        for _ in range(20):
            dec.receive_data(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))))
    except ChunkError:
        pass


def test_encoder_rejects_bad_chunk_size():
    with pytest.raises(ChunkError):
        ChunkEncoder(0)
    enc = ChunkEncoder()
    with pytest.raises(ChunkError):
        enc.set_chunk_size(0x80000000)
    enc.set_chunk_size(4096)
    assert enc.chunk_size == 4096


@pytest.mark.parametrize("csid", [0, 1, 65600])
def test_encoder_rejects_bad_csid(csid):
    with pytest.raises(SrsError):
        ChunkEncoder().encode(8, 0, 1, b"x", csid)


def test_encoder_rejects_oversized_payload():
    with pytest.raises(SrsError):
        ChunkEncoder().encode(9, 0, 1, bytes(0x1000000), 6)
