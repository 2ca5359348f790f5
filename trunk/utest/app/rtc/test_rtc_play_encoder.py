"""The RTMP->WebRTC packetisation of a stream (app/rtc/play.py) on a real LiveSource fed from a
generated FLV: one encoder for every player, a player joins at the GOP cache's keyframe (SPS/PPS
STAP-A first), NACKs are answered from the ring with the bytes first sent, B-frames are dropped
(keep_bframe off), and each player's packets leave through its own SRTP keys and payload types:
a real UDP socket receives them and a real SrtpSession (the player's side) decrypts them."""
from __future__ import annotations

import os
import socket

import gevent
import pytest

from fixtures.media import make_flv_bytes
from srs.app.live.source import Consumer, LiveSource, SourceOptions
from srs.app.rtc.play import AUDIO_PT, VIDEO_PT, BridgeOptions, RtcPlayOutput, RtcSender, attach_player
from srs.app.server.udp_batch import UdpBatchSender
from srs.app.rtc.srtp import SrtpSession
from srs.kernel.flv import iter_flv_tags
from srs.protocol.rtc.rtp_h264 import H264Reassembler
from srs.protocol.rtp import NALU_STAP_A, RtpPacket


def published_source(bframes: int = 0) -> LiveSource:
    data, _ = make_flv_bytes(seconds=2, gop=25, bframes=bframes, audio="aac")
    src = LiveSource("__defaultVhost__/live/enc", SourceOptions(mw_latency_ms=0, min_latency=True))
    src.on_publish(1)
    for msg in iter_flv_tags(data):
        if msg.ts_ms < 1500:        # mid-GOP, as a player joins a live stream (not its audio-only tail)
            src.on_message(msg)
    return src


class Player:
    """A player's end: a UDP socket and the SRTP session with the keys mirrored."""

    def __init__(self, sender: RtcSender, video_pt: int, audio_pt):
        key = self.key = os.urandom(30)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.settimeout(0.2)
        self.rx = SrtpSession(key, key)
        tx = SrtpSession(key, key)
        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.out_sock = out
        self.output = RtcPlayOutput(9, tx.protect_batch, UdpBatchSender(out, "test"), self.sock.getsockname(), video_pt, audio_pt,
                                    sender)

    def received(self) -> list:
        got = []
        while True:
            try:
                got.append(RtpPacket.parse(self.rx.unprotect(self.sock.recv(4096))))
            except socket.timeout:
                return got

    def close(self):
        self.sock.close()
        self.out_sock.close()


@pytest.fixture
def players():
    made = []
    yield made
    for p in made:
        p.close()


def test_one_encoder_for_every_player_gop_join_nack_and_srtp(players):
    src = published_source()
    sender = RtcSender()
    a = Player(sender, VIDEO_PT, AUDIO_PT)          # SRS's own payload types
    b = Player(sender, 96, None)                     # another H.264 PT, no audio offered
    players += [a, b]
    enc_a = attach_player(src, Consumer(1, a.output), BridgeOptions())
    enc_b = attach_player(src, Consumer(2, b.output), BridgeOptions())
    assert enc_a is enc_b and len(src.groups) == 1, "one packetisation per stream"
    gevent.sleep(0)     # the sender greenlet runs
    got_a, got_b = a.received(), b.received()
    video_a = [p for p in got_a if p.payload_type == VIDEO_PT]
    assert video_a and video_a[0].payload[0] & 0x1F == NALU_STAP_A, "a joiner starts with SPS/PPS"
    assert {p.payload_type for p in got_a} == {VIDEO_PT, AUDIO_PT}
    assert {p.payload_type for p in got_b} == {96}, "PT rewritten, audio skipped for b"
    assert [p.seq for p in got_b] == [p.seq for p in video_a], "the same packets, one numbering"
    units = []
    reassembler = H264Reassembler()
    for p in video_a:
        units += reassembler.push(p)
    assert units and units[0][2], "the GOP burst decodes from a keyframe"
    # a NACK: the ring gives back the very bytes sent, encrypted again for the asking player (who
    # lost them: a receiver that has them refuses a replay, so a fresh one checks them here)
    lost = [video_a[3].seq, video_a[5].seq]
    again = enc_a.retransmit(enc_a.video_ssrc, lost)
    a.output.write(again)
    gevent.sleep(0)
    a.rx = SrtpSession(a.key, a.key)
    resent = a.received()
    assert [p.seq for p in resent] == lost and resent[0].payload == video_a[3].payload
    assert enc_a.retransmit(enc_a.video_ssrc, [(video_a[0].seq - 5000) & 0xFFFF]) == []


def test_b_frames_are_dropped_unless_kept():
    src = published_source(bframes=2)
    dropped = attach_player(src, Consumer(1, RtcPlayOutput(1, bytes, lambda d, a: None, None, VIDEO_PT, AUDIO_PT,
                                                           RtcSender())), BridgeOptions(keep_bframe=False))
    assert dropped.bframes_dropped > 0
    src2 = published_source(bframes=2)
    kept = attach_player(src2, Consumer(1, RtcPlayOutput(1, bytes, lambda d, a: None, None, VIDEO_PT, AUDIO_PT,
                                                         RtcSender())), BridgeOptions(keep_bframe=True))
    assert kept.bframes_dropped == 0 and kept.frames > dropped.frames
