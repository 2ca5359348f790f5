"""H.264 packetize -> (reorder, loss, NACK) -> depacketize round trips with the real source FLV,
decoded by PyAV afterwards; the NACK ring and the jitter buffer on their own."""
from __future__ import annotations

import pathlib
import random

import av
import pytest

from srs.kernel.codec_avc import AvcConfig, avcc_split, avcc_to_annexb
from srs.kernel.flv import iter_flv_tags
from srs.protocol.rtc.errors import RtcError
from srs.protocol.rtc.jitter import JitterBuffer
from srs.protocol.rtc.nack_ring import NackRing
from srs.protocol.rtc.rtp_h264 import (NALU_FU_A, NALU_STAP_A, H264Packetizer, H264Reassembler,
                                       parameter_sets)
from srs.protocol.rtp import RtpPacket

SOURCE = pathlib.Path(__file__).resolve().parents[3] / "doc" / "source.200kbps.768x320.flv"


def source_video():
    header, units = None, []
    for msg in iter_flv_tags(SOURCE.read_bytes()):
        if msg.is_video:
            body = bytes(msg.payload)
            if body[1] == 0:
                header = body[5:]
            elif body[1] == 1:                  # 2 is the end-of-sequence tag: no access unit
                units.append((msg.ts_ms, body[5:], msg.keyframe))
    return header, units


def packetize_all(max_payload=1200):
    header, units = source_video()
    pk = H264Packetizer(ssrc=1, payload_type=102, seq=65000, max_payload=max_payload)
    pk.set_sequence_header(header)
    return header, units, [p for ts, au, key in units for p in pk.packetize(au, ts * 90, key)]


def slices(au) -> list:
    return [bytes(n) for n in avcc_split(au) if n[0] & 0x1F not in (7, 8, 9)]


def decode(header, units) -> list:
    """Annex-B of the access units through PyAV's H.264 decoder -> decoded frame sizes."""
    cfg = AvcConfig.parse(header)
    codec = av.CodecContext.create("h264", "r")
    frames = []
    for i, (_ts, au, key) in enumerate(units):
        data = (cfg.annexb_parameter_sets() if key else b"") + avcc_to_annexb(au, cfg.nal_length_size)
        for frame in codec.decode(av.Packet(data)):
            frames.append((frame.width, frame.height))
    frames += [(f.width, f.height) for f in codec.decode(None)]
    return frames


def test_packetizer_uses_stap_a_before_keyframes_and_fu_a_above_the_mtu():
    _header, units, packets = packetize_all(max_payload=600)
    kinds = [p.payload[0] & 0x1F for p in packets]
    assert kinds[0] == NALU_STAP_A
    assert kinds.count(NALU_STAP_A) == sum(1 for u in units if u[2])
    assert NALU_FU_A in kinds and all(len(p.payload) <= 600 for p in packets)
    assert sum(p.marker for p in packets) == len(units)
    assert packets[0].seq == 65000 and packets[-1].seq == (65000 + len(packets) - 1) & 0xFFFF
    out = H264Reassembler()
    first = [u for p in packets[:kinds.index(NALU_FU_A) + 40] for u in out.push(p)][0]
    cfg = AvcConfig.parse(_header)
    assert first[2] and parameter_sets(avcc_split(first[1])) == (cfg.sps[0], cfg.pps[0])


def test_round_trip_through_wire_bytes_decodes_every_frame():
    header, units, packets = packetize_all()
    out = H264Reassembler()
    got = []
    for p in packets:
        got += out.push(RtpPacket.parse(p.build()))
    got += out.flush()
    assert [(ts, key) for ts, _, key in got] == [(ts * 90, key) for ts, _, key in units]
    # the same slice NALUs come back; SPS/PPS now travel in the STAP-A before each keyframe
    assert [slices(au) for _, au, _ in got] == [slices(au) for _, au, _ in units]
    # what comes back decodes as the original does: every frame, 768x320
    frames = decode(header, [(ts // 90, au, key) for ts, au, key in got])
    assert len(frames) == len(decode(header, units)) >= 250 and set(frames) == {(768, 320)}


def test_padding_only_probe_packets_are_skipped_without_a_false_loss():
    _header, units, packets = packetize_all(max_payload=500)
    out, got, seq = H264Reassembler(), [], 0
    for i, p in enumerate(packets):
        if i % 5 == 2:                                            # a probe between fragments
            out.push(RtpPacket(102, seq, p.timestamp, 1, b"", padding=200))
            seq += 1
        got += out.push(RtpPacket(102, seq, p.timestamp, 1, p.payload, p.marker))
        seq += 1
    got += out.flush()
    assert out.padding_packets > 0 and out.lost == 0 and out.dropped == 0
    assert len(got) == len(units)


def test_reordered_and_lost_packets_recovered_by_jitter_buffer_and_nack_ring():
    header, units, packets = packetize_all()
    ring = NackRing(1000)
    for p in packets:
        ring.put(p)
    rng = random.Random(6184)
    wire = [p for p in packets if rng.random() > 0.05]          # 5% lost on the way
    for i in range(0, len(wire) - 3, 7):                          # and some reordered
        wire[i], wire[i + 2] = wire[i + 2], wire[i]
    jb, out, got, now = JitterBuffer(capacity=512, max_wait_ms=500), H264Reassembler(), [], 0
    for p in wire:
        now += 2
        jb.push(p, now)
        for seq in jb.nacks(now + 10):                            # answered at once from the ring
            for again in ring.answer([seq]):
                jb.push(again, now)
        for ready in jb.pop(now):
            got += out.push(ready)
    got += [u for ready in jb.pop(now + 10_000) for u in out.push(ready)] + out.flush()
    assert jb.gave_up == 0 and out.lost == 0 and ring.hits > 0
    assert len(got) == len(units)
    assert len(decode(header, [(ts // 90, au, key) for ts, au, key in got])) == len(decode(header, units))


def test_jitter_buffer_gives_up_after_max_wait_and_counts_nack_tries():
    jb = JitterBuffer(max_wait_ms=100, first_nack_ms=10, interval_ms=20, max_tries=3)
    mk = lambda s: RtpPacket(96, s, 0, 1, b"\x01")             # noqa: E731
    jb.push(mk(65535), 0)
    jb.push(mk(1), 0)                                             # 0 is missing (across the wrap)
    assert [p.seq for p in jb.pop(0)] == [65535]
    assert jb.nacks(5) == [] and jb.nacks(10) == [0] and jb.nacks(20) == []
    assert jb.nacks(30) == [0] and jb.nacks(50) == [0] and jb.nacks(500) == []   # max 3 tries
    assert jb.pop(99) == []
    assert [p.seq for p in jb.pop(100)] == [1] and jb.gave_up == 1
    jb.push(mk(0), 101)
    assert jb.late == 1
    jb.push(mk(30000), 102)                                       # a restarted publisher: resync
    assert [p.seq for p in jb.pop(102)] == [30000] and jb.late == 1
    jb.push(mk(100), 103)                                         # far behind: also a restart
    assert [p.seq for p in jb.pop(103)] == [100] and jb.late == 1


def test_nack_ring_misses_overwritten_slots():
    ring = NackRing(4)
    for s in range(10):
        ring.put(RtpPacket(96, s, 0, 1, b""))
    assert [p.seq for p in ring.answer([9, 8, 5, 6, 1])] == [9, 8, 6]
    assert ring.misses == 2


def test_hostile_rtp_payloads_raise_rtc_errors_only():
    rng = random.Random(7)
    header, _units, packets = packetize_all()
    for p in packets[:300]:
        data = bytearray(p.payload)
        data[rng.randrange(len(data))] = rng.randrange(256)
        out = H264Reassembler()
        try:
            out.push(RtpPacket(102, p.seq, p.timestamp, 1, bytes(data[:rng.randint(0, len(data))]), True))
        except RtcError:
            pass
    pk = H264Packetizer(1, 102)
    with pytest.raises(RtcError):
        pk.packetize(b"\x00\x00\x00\x05abc", 0, False)            # before the sequence header
    pk.set_sequence_header(header)
    with pytest.raises(RtcError):
        pk.packetize(b"\x00\x00\x10\x00abc", 0, False)            # NALU length overruns
