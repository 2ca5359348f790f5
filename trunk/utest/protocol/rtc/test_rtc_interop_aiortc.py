"""Our SDP answer, STUN (ICE-lite), DTLS server and SRTP against aiortc, an independent WebRTC
stack: aiortc offers to play, the harness answers and sends the H.264 of the source FLV packetized
by protocol/rtc/rtp_h264.py; aiortc's receiver must decode the frames, a keyframe first, 768x320."""
from __future__ import annotations

import asyncio
import pathlib

import pytest
import av
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer

from rtc_udp_harness import RtcHarness
from srs.kernel.codec_avc import avcc_to_annexb
from srs.kernel.flv import iter_flv_tags
from srs.protocol.rtc.rtp_h264 import H264Packetizer

SOURCE = pathlib.Path(__file__).resolve().parents[3] / "doc" / "source.200kbps.768x320.flv"
VIDEO_SSRC = 0x5A5A0001
FRAMES_TO_DECODE = 60
PUBLISHED_FRAMES = 40


def packetize_source(pt: int) -> tuple:
    pk = H264Packetizer(VIDEO_SSRC, pt, seq=1000)
    packets, frames = [], 0
    for msg in iter_flv_tags(SOURCE.read_bytes()):
        if not msg.is_video:
            continue
        body = bytes(msg.payload)
        if body[1] == 0:
            pk.set_sequence_header(body[5:])
            continue
        if body[1] != 1:                         # 2 is the end-of-sequence tag: no access unit
            continue
        packets += pk.packetize(body[5:], msg.ts_ms * 90, msg.keyframe)
        frames += 1
    return packets, frames


async def play_with_aiortc(harness: RtcHarness, timeout_s: float) -> list:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    tracks = asyncio.Queue()
    pc.on("track", lambda track: tracks.put_nowait(track))
    await pc.setLocalDescription(await pc.createOffer())
    answer = harness.answer(pc.localDescription.sdp, publish=False, ssrcs={"video": VIDEO_SSRC})
    harness.packets, _ = packetize_source(harness.negotiation.track("video").pt)
    harness.start()
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    frames = []
    try:
        track = await asyncio.wait_for(tracks.get(), timeout_s)
        while len(frames) < FRAMES_TO_DECODE:
            frame = await asyncio.wait_for(track.recv(), timeout_s)
            frames.append((frame.width, frame.height, frame.key_frame, frame.pts))
    finally:
        await pc.close()
    return frames


def test_aiortc_decodes_our_h264_over_ice_dtls_srtp():
    harness = RtcHarness()
    try:
        frames = asyncio.run(play_with_aiortc(harness, timeout_s=30))
    finally:
        harness.close()
    assert len(frames) == FRAMES_TO_DECODE
    assert frames[0][2], "the first decoded frame must be the keyframe"
    assert {(w, h) for w, h, _, _ in frames} == {(768, 320)}
    assert harness.binding_requests >= 1
    assert harness.dtls.done and harness.errors == []
    assert harness.sent > FRAMES_TO_DECODE


async def publish_with_aiortc(harness: RtcHarness, timeout_s: float) -> None:
    """aiortc re-encodes the source file with its own libx264 and publishes it to the harness."""
    player = MediaPlayer(str(SOURCE))
    pc = RTCPeerConnection()
    pc.addTransceiver(player.video, direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    answer = harness.answer(pc.localDescription.sdp, publish=True)
    harness.start()
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while len(harness.units) < PUBLISHED_FRAMES and loop.time() < deadline:
            await asyncio.sleep(0.05)   # polls the harness's state, written by its thread
    finally:
        await pc.close()
        player.video.stop()


def test_aiortc_publishes_h264_that_we_depacketize_and_decode():
    harness = RtcHarness()
    try:
        asyncio.run(publish_with_aiortc(harness, timeout_s=30))
    finally:
        harness.close()
    units = list(harness.units)
    assert len(units) >= PUBLISHED_FRAMES, (harness.rtp_in, harness.errors)
    assert units[0][2], "aiortc starts with a keyframe (SPS/PPS/IDR)"
    codec = av.CodecContext.create("h264", "r")
    frames = []
    for _ts, au, _key in units:
        frames += codec.decode(av.Packet(avcc_to_annexb(au)))
    frames += codec.decode(None)                      # drain what frame threading held back
    assert len(frames) >= PUBLISHED_FRAMES
    assert {(f.width, f.height) for f in frames} == {(768, 320)}
    assert harness.reassembler.dropped == 0 and harness.errors == []
