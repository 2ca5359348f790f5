"""The forwarder's parts without a server: header re-writing (SSRC, PT, sequence continuity across a
publisher restart, extensions dropped, payload untouched), keyframe detection on RFC 6184 payloads,
and RtcForward's keyframe start, per-PT-set rewrite and NACK answers (with a real SRTP-less output on loopback sockets)."""
from __future__ import annotations

import socket

from srs.app.rtc.forward import RtcForward
from srs.app.rtc.play import AUDIO_PT, VIDEO_PT, RtcPlayOutput, stream_ssrcs
from srs.app.server.udp_batch import UdpBatchSender
from srs.protocol.rtc.rtp_forward import TrackRewrite, h264_keyframe_start
from srs.protocol.rtp import RtpPacket


def rtp(pt, seq, ts, ssrc, payload, ext=None, marker=False) -> bytes:
    return RtpPacket(pt, seq, ts, ssrc, payload, marker, extension=ext).build()


def test_rewrite_header_only_and_sequence_continuity():
    t = TrackRewrite(ssrc=0xABCD, pt=102, first_seq=100)
    data, seq, ts, pos = t.rewrite(rtp(96, 5000, 9000, 7, b"\x65abc", ext=(0xBEDE, b"\x10\xff\x00\x00"), marker=True))
    p = RtpPacket.parse(data)
    assert (p.payload_type, p.seq, p.timestamp, p.ssrc, p.marker, p.extension, p.payload) == \
        (102, 100, 9000, 0xABCD, True, None, b"\x65abc")
    assert (seq, ts, pos) == (100, 9000, 12)
    # a late packet keeps its place; the highest sequence goes on
    assert t.rewrite(rtp(96, 4999, 8000, 7, b"x"))[1] == 99
    assert t.rewrite(rtp(96, 5001, 9000, 7, b"x"))[1] == 101
    # a new SSRC (the publisher restarted): its sequence continues ours
    assert t.rewrite(rtp(96, 17, 1, 8, b"x"))[1] == 102 and t.restarts == 1
    # wrap
    t2 = TrackRewrite(1, 111, 0xFFFF)
    assert [t2.rewrite(rtp(111, s, 0, 3, b"o"))[1] for s in (10, 11)] == [0xFFFF, 0]


def test_h264_keyframe_start():
    assert h264_keyframe_start(b"\x67\x42")                           # SPS
    assert h264_keyframe_start(b"\x65\x88")                           # IDR slice
    assert not h264_keyframe_start(b"\x41\x9a")                       # P slice
    assert h264_keyframe_start(bytes([0x7C, 0x85]) + b"..")           # FU-A start of an IDR
    assert not h264_keyframe_start(bytes([0x7C, 0x05]) + b"..")       # FU-A middle of an IDR
    assert not h264_keyframe_start(bytes([0x5C, 0x81]) + b"..")       # FU-A start of a P slice
    stap = bytes([0x78]) + b"\x00\x02\x06\x01" + b"\x00\x03\x67\x42\x00"   # STAP-A: SEI, SPS
    assert h264_keyframe_start(stap)
    assert not h264_keyframe_start(bytes([0x78]) + b"\x00\x02\x06\x01")
    assert not h264_keyframe_start(bytes([0x78, 0x00, 0x09]) + b"\x67")   # truncated: no read past the end
    assert not h264_keyframe_start(b"")


class _Track:
    def __init__(self, pt, ssrc):
        self.pt, self.ssrc = pt, ssrc


class _Negotiation:
    def __init__(self, video_pt=96, audio_pt=109):
        self.tracks = {"video": _Track(video_pt, 11), "audio": _Track(audio_pt, 22)}

    def track(self, kind):
        return self.tracks.get(kind)


class _Session:
    def __init__(self, output=None, negotiation=None):
        self.output = output
        self.negotiation = negotiation
        self.forward = self.encoder = None


class _Sender:
    def __init__(self):
        self.ready = []

    def schedule(self, out):
        self.ready.append(out)


class Received:
    """A player's UDP socket on loopback: the datagrams the output really sent, in order."""

    def __init__(self):
        self.rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rx.bind(("127.0.0.1", 0))
        self.rx.setblocking(False)
        self.got = []

    def all(self) -> list:
        while True:
            try:
                self.got.append(self.rx.recv(65536))
            except BlockingIOError:
                return self.got


def unencrypted(packets):
    """An output's protect_batch without SRTP: the packets as they are, back to back."""
    return memoryview(b"".join(packets)), [len(p) for p in packets], 0


def player(video_pt=VIDEO_PT, audio_pt=AUDIO_PT):
    received = Received()
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setblocking(False)
    out = RtcPlayOutput(1, unencrypted, UdpBatchSender(tx, "test"), received.rx.getsockname(), video_pt, audio_pt,
                        _Sender())
    return _Session(out), received


def test_forward_keyframe_start_pt_sets_and_nack():
    fwd = RtcForward("__defaultVhost__/live/x")
    asked = []
    fwd.set_publisher(_Session(negotiation=_Negotiation()), lambda: asked.append(1) or True)
    a, a_sent = player()
    b, b_sent = player(video_pt=125, audio_pt=111)
    fwd.add(a)
    assert fwd.waiting == [a] and asked, "no GOP yet: the player waits and a keyframe is asked"
    fwd.on_rtp(rtp(96, 1, 0, 11, b"\x41p"))            # a P slice before any keyframe: not for a
    fwd.on_rtp(rtp(109, 1, 0, 22, b"\xfcopus"))
    fwd.flush()
    fwd.on_rtp(rtp(96, 2, 3000, 11, b"\x65idr"))       # the keyframe: a starts here
    fwd.on_rtp(rtp(109, 2, 960, 22, b"\xfcopus2"))
    fwd.flush()
    fwd.add(b)                                         # a fresh GOP: b gets it at once
    fwd.on_rtp(rtp(96, 3, 6000, 11, b"\x41p2"))
    fwd.flush()
    for s in (a, b):
        s.output.flush()
    ssrcs = stream_ssrcs("__defaultVhost__/live/x")
    got_a = [RtpPacket.parse(d) for d in a_sent.all()]
    assert [(p.payload_type, p.payload) for p in got_a] == [(102, b"\x65idr"), (111, b"\xfcopus2"), (102, b"\x41p2")]
    assert {p.ssrc for p in got_a} == {ssrcs["video"], ssrcs["audio"]}
    got_b = [RtpPacket.parse(d) for d in b_sent.all()]
    assert [(p.payload_type, p.payload) for p in got_b] == [(125, b"\x65idr"), (125, b"\x41p2")]
    # b's NACK of the keyframe packet: answered from the ring, in b's payload type
    idr = got_a[0]
    b.output.write(fwd.retransmit(ssrcs["video"], [idr.seq]))
    b.output.flush()
    assert RtpPacket.parse(b_sent.all()[-1]).payload == b"\x65idr" and RtpPacket.parse(b_sent.all()[-1]).payload_type == 125
    assert fwd.retransmit(ssrcs["video"], [(idr.seq + 500) & 0xFFFF]) == []
    assert len(fwd.latency) >= 3 and fwd.figures()["players"] == 2
    fwd.on_rtp(rtp(100, 4, 0, 11, b"rtx"))             # a PT not negotiated: dropped, counted
    fwd.on_rtp(b"\x80")                               # garbage
    assert fwd.dropped == 2
