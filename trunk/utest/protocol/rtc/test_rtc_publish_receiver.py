"""The publish receive side (protocol/rtc/receiver.py, twcc.py), sans-IO with a clock passed in:
the repo's source FLV packetized as a browser would send it, reordered and with holes that our
NACKs get retransmitted; every access unit comes out in order, PLI at start and on give-up,
Sender Reports align the tracks, transport-cc feedback reports what arrived."""
from __future__ import annotations

import random
import struct

from test_rtc_h264_nack_jitter import packetize_all, slices

from srs.protocol.rtc import rtcp
from srs.protocol.rtc.receiver import AudioPacket, PublishReceiver, TrackClock, VideoUnit, ntp_to_ms
from srs.protocol.rtc.twcc import TwccRecorder
from srs.protocol.rtp import RtpPacket

VPT, APT, TWCC_ID = 102, 111, 3


def with_twcc(pkt: RtpPacket, tseq: int) -> bytes:
    pkt.extension = (0xBEDE, bytes((TWCC_ID << 4 | 1,)) + struct.pack(">H", tseq) + b"\x00")
    return pkt.build()


def kinds(rtcp_bytes) -> list:
    return [p for data in rtcp_bytes for p in rtcp.parse_compound(data)]


def run(receiver, wire, start_ms=1000, step_ms=2, drop=(), retransmit=True):
    """Feed ``wire`` (bytes) one packet per ``step_ms``; NACKed packets are sent again (as the
    browser does from its history). Returns (frames, rtcp packets)."""
    by_seq = {RtpPacket.parse(d).seq: d for d in wire}
    frames, feedback, now = [], [], start_ms
    for i, data in enumerate(wire):
        if i not in drop:
            receiver.on_rtp(data, now)
        out, got = receiver.tick(now)
        frames += got
        for p in kinds(out):
            feedback.append(p)
            if retransmit and isinstance(p, rtcp.Nack):
                for seq in p.lost:
                    receiver.on_rtp(by_seq[seq], now)
        now += step_ms
    for _ in range(600):                 # let the last holes expire
        now += 5
        out, got = receiver.tick(now)
        frames += got
        feedback += kinds(out)
    return frames, feedback


def test_reordered_and_lost_video_is_recovered_by_nack_in_order():
    _header, units, packets = packetize_all()
    wire = [p.build() for p in packets]
    rnd = random.Random(7)
    for i in range(17, len(wire) - 3, 17):           # local reordering (not of the very first)
        wire[i], wire[i + 2] = wire[i + 2], wire[i]
    drop = set(rnd.sample(range(10, len(wire)), len(wire) // 30))
    r = PublishReceiver(VPT, None)
    frames, feedback = run(r, wire, drop=drop)
    assert all(isinstance(f, VideoUnit) for f in frames)
    assert [[bytes(n) for n in f.nalus if n[0] & 0x1F not in (7, 8)] for f in frames] == \
        [slices(au) for _ts, au, _k in units]
    assert frames[0].keyframe
    ts = [f.ts_ms for f in frames]
    assert ts == sorted(ts) and ts[0] == 0
    # 90 kHz timestamps -> ms: the FLV's own spacing comes back
    assert [t - ts[0] for t in ts] == [u[0] - units[0][0] for u in units]
    nacked = {s for p in feedback if isinstance(p, rtcp.Nack) for s in p.lost}
    dropped = {RtpPacket.parse(wire[i]).seq for i in drop}
    assert dropped <= nacked
    plis = [p for p in feedback if isinstance(p, rtcp.Pli)]
    assert len(plis) == 1 and plis[0].media_ssrc == packets[0].ssrc   # the start; no give-up
    assert r.video.jitter.gave_up == 0


def test_a_hole_never_filled_is_given_up_and_asks_for_a_keyframe():
    _header, _units, packets = packetize_all()
    wire = [p.build() for p in packets[:300]]
    r = PublishReceiver(VPT, None, pli_interval_ms=10 ** 9)
    frames, feedback = run(r, wire, drop={100}, retransmit=False)
    nacks = [p for p in feedback if isinstance(p, rtcp.Nack)]
    assert len(nacks) == 15                                     # SRS's max tries
    assert r.video.jitter.gave_up == 1
    assert len([p for p in feedback if isinstance(p, rtcp.Pli)]) == 2   # start + the loss
    assert len(frames) > 10


def test_sender_reports_align_audio_and_video():
    r = PublishReceiver(VPT, APT)
    vts, ats = 1_000_000, 4_000_000_000                 # unrelated random RTP bases (audio wraps)
    ntp0 = (3_900_000_000 << 32)                        # the publisher's wall clock
    now = 5000
    # audio arrives 300 ms late at the start (a slow path); SRs tell the truth: both at ntp0
    r.on_rtp(RtpPacket(VPT, 1, vts, 0xA, b"\x65\x88", marker=True).build(), now)
    r.on_rtp(RtpPacket(APT, 1, ats, 0xB, b"\x01").build(), now + 300)
    r.on_rtcp([rtcp.SenderReport(0xA, ntp0, vts, 1, 1)], now + 300)
    r.on_rtcp([rtcp.SenderReport(0xB, ntp0, ats, 1, 1)], now + 300)
    assert r.srs == 2
    r.on_rtp(RtpPacket(VPT, 2, vts + 90 * 40, 0xA, b"\x41\x88", marker=True).build(), now + 340)
    r.on_rtp(RtpPacket(APT, 2, (ats + 960) & 0xFFFFFFFF, 0xB, b"\x02").build(), now + 340)
    _out, frames = r.tick(now + 400)
    video = [f for f in frames if isinstance(f, VideoUnit)]
    audio = [f for f in frames if isinstance(f, AudioPacket)]
    assert [f.ts_ms for f in video] == [0, 40]
    # by arrival audio was 300 ms late; the SRs put it where it was captured
    assert [a.ts_ms for a in audio] == [0, 20]
    assert audio[-1].ts == 960


def test_track_clock_unwraps_and_ntp_to_ms():
    c = TrackClock(48000)
    assert c.units(0xFFFFFF00, 0, 0) == 0
    assert c.units(0x00000100, 0, 0) == 0x200
    assert c.units(0xFFFFFF80, 0, 0) == 0x80               # a late one from before the wrap
    assert ntp_to_ms((5 << 32) | (1 << 31)) == 5500


def test_twcc_feedback_reports_arrivals_and_losses():
    rec = TwccRecorder(sender_ssrc=1)
    for seq in [65530, 65531, 65533, 65534, 0, 2]:        # 65532 and 1 lost, across the wrap
        rec.record(seq, 0xCAFE, 1_000_000 + seq % 100 * 1000)
    (data,) = rec.feedback(0)
    (fb,) = rtcp.parse_compound(data)
    assert fb.base_seq == 65530 and fb.media_ssrc == 0xCAFE
    got = {s: a is not None for s, a in fb.packets}
    assert got == {65530: True, 65531: True, 65532: False, 65533: True, 65534: True, 65535: False,
                   0: True, 1: False, 2: True}
    assert rec.feedback(10) == []                          # interval not over, nothing new
    rec.record(1, 0xCAFE, 1_050_000)                       # too late: already reported lost
    assert rec.late == 1
    rec.record(3, 0xCAFE, 1_060_000)
    (data,) = rec.feedback(100)
    assert rtcp.parse_compound(data)[0].base_seq == 3


def test_receiver_sends_twcc_and_ignores_unknown_payload_types():
    _header, _units, packets = packetize_all()
    r = PublishReceiver(VPT, APT, twcc_id=TWCC_ID)
    for i, p in enumerate(packets[:50]):
        r.on_rtp(with_twcc(p, i), 1000 + i)
    r.on_rtp(RtpPacket(96, 1, 0, 0xD, b"xx").build(), 1100)   # rtx/red we did not negotiate
    out, frames = r.tick(1200)
    fbs = [p for p in kinds(out) if isinstance(p, rtcp.TransportCc)]
    assert len(fbs) == 1 and len(fbs[0].packets) == 50 and all(a for _, a in fbs[0].packets)
    assert r.unknown_pt == 1 and frames


def test_an_audio_sender_report_first_waits_for_video_which_never_jumps():
    r = PublishReceiver(VPT, APT)
    vts, ats, ntp0 = 90_000, 48_000, 3_900_000_000 << 32
    r.on_rtp(RtpPacket(VPT, 1, vts, 0xA, b"\x65\x88", marker=True).build(), 1000)
    r.on_rtp(RtpPacket(APT, 1, ats, 0xB, b"\x01").build(), 1000)
    _out, first = r.tick(1000)
    # the audio SR says audio was captured 100 ms after video's first frame; it comes first
    r.on_rtcp([rtcp.SenderReport(0xB, ntp0 + (100 << 32) // 1000, ats, 1, 1)], 1050)
    assert r.epoch_ntp_ms is None
    r.on_rtcp([rtcp.SenderReport(0xA, ntp0, vts, 1, 1)], 1060)
    r.on_rtp(RtpPacket(VPT, 2, vts + 90 * 40, 0xA, b"\x41\x88", marker=True).build(), 1040)
    r.on_rtp(RtpPacket(APT, 2, ats + 960, 0xB, b"\x02").build(), 1020)
    _out, frames = r.tick(1100)
    assert [f.ts_ms for f in first + frames if isinstance(f, VideoUnit)] == [0, 40]
    audio = [f.ts_ms for f in first + frames if isinstance(f, AudioPacket)]
    assert audio[0] == 0 and audio[1] in (119, 120)       # 100 ms later + 20 ms (NTP rounding)
