"""RtcIngest (app/rtc/ingest.py) end to end in-process: the repo's source FLV sent as a browser
sends it (H.264 RTP through our packetizer, its AAC transcoded to Opus RTP by AacToOpus, Sender
Reports, transport-cc sequence numbers), with loss that our NACKs recover; the RTMP messages that
reach the source are written as FLV and decoded by PyAV: every video frame, AAC audio for the
whole duration, keyframe first, monotonic timestamps, and the API's stream figures."""
from __future__ import annotations

import io
import pathlib
import random
import struct

import av

from srs.app.api.statistic import Statistic
from srs.app.rtc.audio import AacToOpus
from srs.app.rtc.ingest import RtcIngest
from srs.kernel.flv import encode_tags, flv_header, iter_flv_tags
from srs.protocol.request import Request
from srs.protocol.rtc import rtcp
from srs.protocol.rtc.rtp_h264 import H264Packetizer
from srs.protocol.rtc.sdp import negotiate, parse_offer
from srs.protocol.rtp import RtpPacket

TRUNK = pathlib.Path(__file__).resolve().parents[3]
SOURCE = TRUNK / "doc" / "source.200kbps.768x320.flv"
OFFER = TRUNK / "utest" / "protocol" / "rtc" / "data" / "chromium_publish_offer.sdp"
NTP0 = 3_900_000_000 << 32


class SourceRecorder:
    """The live source's publish side as the ingest sees it: messages in, kept for decoding."""

    def __init__(self):
        self.url = "/live/rtc"
        self.msgs = []

    def on_message(self, msg):
        self.msgs.append(msg)


class Browser:
    """What Chromium sends for the source FLV: (send time ms, RTP bytes) and its SRs."""

    def __init__(self, neg):
        self.video, self.audio = neg.track("video"), neg.track("audio")
        self.twcc_id = self.video.twcc_id
        self.tseq = 0
        self.sent = {}     # (ssrc, seq) -> bytes, the browser's history that NACKs are served from

    def _wire(self, pkt) -> bytes:
        pkt.extension = (0xBEDE, bytes((self.twcc_id << 4 | 1,)) + struct.pack(">H", self.tseq) + b"\x00")
        self.tseq = (self.tseq + 1) & 0xFFFF
        data = pkt.build()
        self.sent[(pkt.ssrc, pkt.seq)] = data
        return data

    def packets(self):
        vts0, ats0 = 123_456, 4_294_000_000          # random bases; audio wraps within the stream
        pk = H264Packetizer(self.video.ssrc, self.video.pt, seq=65500)
        aac = AacToOpus()
        aseq = 40000
        out = []
        self.video_frames = 0
        for msg in iter_flv_tags(SOURCE.read_bytes()):
            body = bytes(msg.payload)
            if msg.is_video and body[1] == 0:
                pk.set_sequence_header(body[5:])
            elif msg.is_video and body[1] == 1:
                self.video_frames += 1
                for p in pk.packetize(body[5:], vts0 + msg.ts_ms * 90, msg.keyframe):
                    out.append((msg.ts_ms, p))
            elif msg.is_audio and body[1] == 0:
                aac.on_sequence_header(body[2:])
            elif msg.is_audio:
                for payload, ts in aac.transcode(body[2:], msg.ts_ms):
                    out.append((ts // 48, RtpPacket(self.audio.pt, aseq & 0xFFFF, (ats0 + ts) & 0xFFFFFFFF,
                                                    self.audio.ssrc, payload)))
                    aseq += 1
        out.sort(key=lambda t: t[0])
        self.srs = [(0, rtcp.SenderReport(self.video.ssrc, NTP0, vts0, 0, 0)),
                    (0, rtcp.SenderReport(self.audio.ssrc, NTP0, ats0, 0, 0))]
        return [(t, self._wire(p)) for t, p in out]


def decode_flv(msgs):
    data = flv_header() + encode_tags(msgs)
    video = audio = 0
    with av.open(io.BytesIO(data), format="flv") as c:
        for packet in c.demux():
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    video += 1
                    size = (frame.width, frame.height)
                else:
                    audio += frame.samples
    return video, audio, size


def test_browser_publish_with_loss_becomes_rtmp_h264_and_aac():
    neg = negotiate(parse_offer(OFFER.read_text()), publish=True)
    browser = Browser(neg)
    wire = browser.packets()
    source, stats = SourceRecorder(), Statistic()
    req = Request.from_url("rtmp://127.0.0.1/live/rtc")
    stats.on_stream_publish(req, 7)
    sent_rtcp = []
    ingest = RtcIngest(source, stats, req, neg, sent_rtcp.append)
    rnd = random.Random(15)
    lost = 0
    srs = list(browser.srs)

    def timer(now):
        before = len(sent_rtcp)
        ingest.on_timer(now)
        for p in [p for d in sent_rtcp[before:] for p in rtcp.parse_compound(d)]:
            if isinstance(p, rtcp.Nack):       # the browser resends from its history
                for seq in p.lost:
                    ingest.on_rtp(browser.sent[(p.media_ssrc, seq)], now)

    for i, (t, data) in enumerate(wire):
        now = 10_000 + t
        if srs and i == 30:                    # the SRs come a little after the first packets
            ingest.on_rtcp([sr for _, sr in srs], now)
            srs = []
        if i > 5 and rnd.random() < 0.03:
            lost += 1
        else:
            ingest.on_rtp(data, now)
        if i % 4 == 0:
            timer(now)
    for k in range(1, 100):
        timer(10_000 + wire[-1][0] + 20 * k)
    ingest.close()
    assert lost > 20
    feedback = [p for d in sent_rtcp for p in rtcp.parse_compound(d)]
    assert any(isinstance(p, rtcp.Nack) for p in feedback)
    assert any(isinstance(p, rtcp.Pli) for p in feedback)
    assert sum(isinstance(p, rtcp.TransportCc) for p in feedback) > 10
    assert ingest.receiver.video.jitter.gave_up == 0 and ingest.bad_packets == 0

    msgs = source.msgs
    assert msgs[0].seq_header or msgs[1].seq_header
    first_video = next(m for m in msgs if m.is_video and not m.seq_header)
    assert first_video.keyframe
    video_ts = [m.ts_ms for m in msgs if m.is_video and not m.seq_header]
    assert video_ts == sorted(video_ts) and len(video_ts) == browser.video_frames
    audio_ts = [m.ts_ms for m in msgs if m.is_audio and not m.seq_header]
    assert audio_ts == sorted(audio_ts)
    # A/V aligned by the SRs: audio starts where video starts (both captured at NTP0)
    assert abs(audio_ts[0] - video_ts[0]) <= 30
    video, samples, size = decode_flv(msgs)
    assert video == browser.video_frames and size == (768, 320)
    # ~10 s of AAC at 48 kHz (the encoders' priming and the last partial frames aside)
    assert abs(samples / 48000 - 9.9) < 0.3, samples
    stream = stats.dumps_streams(20_000)[0]
    assert stream["video"]["codec"] == "H264" and stream["audio"]["codec"] == "AAC", stream


def test_garbage_rtp_is_counted_not_fatal():
    neg = negotiate(parse_offer(OFFER.read_text()), publish=True)
    source = SourceRecorder()
    ingest = RtcIngest(source, Statistic(), Request.from_url("rtmp://127.0.0.1/live/rtc"), neg,
                       lambda data: None)
    for junk in (b"", b"\x80", bytes(11), b"\x80\x66" + bytes(5), b"\xbf" * 40):
        ingest.on_rtp(junk, 1000)
    ingest.on_timer(1020)
    assert ingest.bad_packets == 5 and source.msgs == []
