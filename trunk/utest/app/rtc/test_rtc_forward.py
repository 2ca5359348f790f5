"""WebRTC -> WebRTC through the real server: aiortc publishes H.264 + Opus (SRS 4's JSON API, or WHIP),
another aiortc plays the stream over WHEP and decodes its frames. The packets are forwarded, not
transcoded: the Opus payloads the player gets are byte for byte those the publisher sent (an
Opus -> AAC -> Opus round trip would make other bytes and 60 ms packets). With ``rtc_to_rtmp on`` a
PyAV RTMP player decodes the same stream meanwhile; with it off the stream is WebRTC only."""
from __future__ import annotations

import asyncio
import json
import urllib.request

from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RtpPacket, is_rtcp

from fixtures.srs_server import Player, wait_for
from play_clients import aiortc_play, rtc_server, whep_answer
from publish_clients import aiortc_publish, json_publish, whip_publish

FRAMES = 60


def record_opus(monkeypatch) -> tuple:
    """(payloads sent by any aiortc peer of this process, Opus payloads received by an audio receiver)."""
    sent, received = set(), []
    send_rtp, handle_rtp = RTCDtlsTransport._send_rtp, RTCRtpReceiver._handle_rtp_packet

    async def _send_rtp(self, data: bytes) -> None:
        if not is_rtcp(data):
            sent.add(RtpPacket.parse(data).payload)
        await send_rtp(self, data)

    async def _handle_rtp_packet(self, packet, arrival_time_ms: int) -> None:
        if self._RTCRtpReceiver__kind == "audio":
            received.append(packet.payload)
        await handle_rtp(self, packet, arrival_time_ms)
    monkeypatch.setattr(RTCDtlsTransport, "_send_rtp", _send_rtp)
    monkeypatch.setattr(RTCRtpReceiver, "_handle_rtp_packet", _handle_rtp_packet)
    return sent, received


def rtc_clients(srs) -> list:
    """The API's WebRTC client entries (their "rtc" figures)."""
    with urllib.request.urlopen(srs.api_url("api/v1/clients?count=100"), timeout=10) as r:
        clients = json.loads(r.read())["clients"]
    return [c["rtc"] for c in clients if "rtc" in c]


async def publish_and_play(srs, stream: str, seconds: float = 12, whip: bool = False) -> tuple:
    """aiortc publishes ``live/<stream>`` (the 4 s file looped; over WHIP or SRS 4's JSON API) while
    another aiortc plays it over WHEP; (player result, the API's rtc entries while both run)."""
    loop = asyncio.get_running_loop()
    api, signalling = ("rtc/v1/whip/", whip_publish) if whip else ("rtc/v1/publish/", json_publish)
    publisher = asyncio.ensure_future(aiortc_publish(srs.api_url(api), f"live/{stream}", srs.media, seconds,
                                                     loop=True, signalling=signalling))
    established = await loop.run_in_executor(None, srs.wait_log, f"rtc-publish __defaultVhost__/live/{stream} "
                                             "established", 1, 20.0)
    assert established, srs.log_text()[-3000:]
    try:
        play = asyncio.ensure_future(aiortc_play(whep_answer(srs, stream), FRAMES, timeout_s=20))
        figures = []

        def playing() -> bool:   # the API while both run: the player's path, the forwarder's figures
            now = rtc_clients(srs)
            if any(f.get("path") for f in now) and any(
                    f.get("forward", {}).get("latency_ms", {}).get("samples", 0) >= 30 for f in now):
                figures[:] = now
                return True
            return play.done()   # the player is gone: nothing more to see
        await loop.run_in_executor(None, wait_for, playing, 20.0, 0.1)
        result = await play
    finally:
        await publisher
    return result, figures


def check_player(result: dict, sent: set, received: list) -> None:
    frames = result["video"]
    assert len(frames) == FRAMES
    assert frames[0][2], "a player starts at a keyframe"
    assert {(w, h) for w, h, _, _ in frames} == {(320, 240)}
    pts = [p for _, _, _, p in frames]
    assert all(b > a for a, b in zip(pts, pts[1:])), pts
    apts = result["audio_pts"]
    assert len(apts) >= 10 and all(b > a for a, b in zip(apts, apts[1:])), apts[:50]
    # forwarded, not transcoded: what the player got is what the publisher sent, byte for byte
    assert len(received) >= 10
    same = sum(1 for p in received if p in sent)
    assert same >= 0.95 * len(received), (same, len(received))
    print(f"WHEP first frame {result['first_frame_s']:.3f}s after the answer (RTC -> RTC)")


def test_aiortc_to_aiortc_forwarded_while_rtmp_plays(tmp_path, media_flv, monkeypatch):
    sent, received = record_opus(monkeypatch)
    stream = "fwd"
    with rtc_server(tmp_path, rtc="rtc_to_rtmp on;") as srs:
        srs.media = media_flv.path
        rtmp = Player(srs.rtmp_url(f"live/{stream}"), max_seconds=40, read_timeout_s=6, stop_after_video=60)
        rtmp.start()
        result, figures = asyncio.run(publish_and_play(srs, stream))
        rtmp.join(40)
        log = srs.log_text()
        assert "Traceback" not in log, log[-5000:]
    check_player(result, sent, received)
    assert [f["path"] for f in figures if f.get("path")] == ["forward"], figures
    forward = next(f["forward"] for f in figures if "forward" in f)
    assert forward["forwarded"] > 30 and forward["latency_ms"]["samples"] >= 30, forward
    print(f"RTC -> RTC server-added latency: {forward['latency_ms']}")
    # the RTMP side of the same stream: depacketised H.264, Opus -> AAC
    assert rtmp.error is None, rtmp.error
    assert (rtmp.vcodec, rtmp.acodec) == ("h264", "aac") and rtmp.first_video_key and rtmp.monotonic()
    assert rtmp.video_frames >= 30 and rtmp.audio_frames > 0, (rtmp.video_frames, rtmp.audio_frames)


def test_rtc_to_rtmp_off_webrtc_players_only(tmp_path, media_flv, monkeypatch):
    sent, received = record_opus(monkeypatch)
    stream = "only"
    with rtc_server(tmp_path, rtc="rtc_to_rtmp off;") as srs:
        srs.media = media_flv.path
        rtmp = Player(srs.rtmp_url(f"live/{stream}"), max_seconds=30, read_timeout_s=4)
        rtmp.start()
        result, figures = asyncio.run(publish_and_play(srs, stream, seconds=8, whip=True))
        rtmp.join(30)
        log = srs.log_text()
        assert "rtc_to_rtmp off: WebRTC players only" in log, log[-3000:]
        assert "Traceback" not in log, log[-5000:]
    check_player(result, sent, received)
    assert [f["path"] for f in figures if f.get("path")] == ["forward"], figures
    # the live source never had a publisher: the RTMP player got no media at all
    assert rtmp.video_frames == 0 and rtmp.audio_frames == 0, (rtmp.video_frames, rtmp.audio_frames)
    assert "source live/only published" not in log and "source __defaultVhost__/live/only published" not in log



def test_republish_the_player_plays_on(tmp_path, media_flv):
    """A WHEP player stays while its WHIP publisher leaves and another comes: it decodes the second one's
    frames too (the forwarder is kept for its players; the sequence numbers go on)."""
    stream = "again"

    async def run(srs) -> dict:
        api = srs.api_url("rtc/v1/whip/")
        first = asyncio.ensure_future(aiortc_publish(api, f"live/{stream}", media_flv.path, 5, loop=True,
                                                     signalling=whip_publish))
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, srs.wait_log, f"rtc-publish __defaultVhost__/live/{stream} "
                                          "established", 1, 20.0)
        play = asyncio.ensure_future(aiortc_play(whep_answer(srs, stream), 150, timeout_s=20))
        await first
        assert await loop.run_in_executor(None, srs.wait_log, "forwarder ended", 1, 20.0)
        second = asyncio.ensure_future(aiortc_publish(api, f"live/{stream}", media_flv.path, 8, loop=True,
                                                      signalling=whip_publish))
        try:
            return await play
        finally:
            await second

    with rtc_server(tmp_path, rtc="rtc_to_rtmp off;") as srs:
        result = asyncio.run(run(srs))
        log = srs.log_text()
        assert log.count(f"rtc-publish __defaultVhost__/live/{stream} established") == 2, log[-3000:]
        assert "Traceback" not in log, log[-5000:]
    # 25 fps: 150 frames take 6 s, more than the first publisher's 5 s
    assert len(result["video"]) == 150 and result["video"][0][2]
