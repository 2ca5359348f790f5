"""An independent WebRTC publisher (aiortc, H.264 + Opus from a generated FLV) through SRS 4's JSON
``/rtc/v1/publish/``: a PyAV RTMP player decodes H.264 + AAC from it, keyframe first, timestamps
monotonic; the on_publish/on_unpublish hooks see the session's stream."""
from __future__ import annotations

import asyncio
import json

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer

from fixtures.api_server import ApiServer
from fixtures.srs_server import Player, wait_for
from play_clients import post, rtc_server

STREAM = "live/aiortc"


def json_publish(srs, offer: str) -> str:
    body = json.dumps({"api": srs.api_url("rtc/v1/publish/"), "streamurl": f"webrtc://127.0.0.1/{STREAM}",
                       "clientip": None, "sdp": offer}).encode()
    status, _, data = post(srs.api_url("rtc/v1/publish/"), body, "application/json")
    reply = json.loads(data)
    assert status == 200 and reply["code"] == 0, (status, reply)
    return reply["sdp"]


async def aiortc_publish(srs, path: str, seconds: float) -> None:
    pc = RTCPeerConnection()
    media = MediaPlayer(path)
    for track in (media.video, media.audio):
        pc.addTransceiver(track, direction="sendonly")
    h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264"]
    next(t for t in pc.getTransceivers() if t.kind == "video").setCodecPreferences(h264)
    await pc.setLocalDescription(await pc.createOffer())
    loop = asyncio.get_running_loop()
    answer = await loop.run_in_executor(None, json_publish, srs, pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    await asyncio.sleep(seconds)
    await pc.close()


def test_aiortc_publishes_over_json_api_rtmp_player_decodes(tmp_path, media_flv):
    with ApiServer() as hooks:
        url = hooks.url("/api/v1/streams")
        body = f"http_hooks {{ enabled on; on_publish {url}; on_unpublish {url}; }}"
        with rtc_server(tmp_path, rtc="rtc_to_rtmp on;", vhost_body=body) as srs:
            player = Player(srs.rtmp_url(STREAM), max_seconds=30, read_timeout_s=4)
            player.start()
            assert srs.wait_players(STREAM), srs.log_text()[-3000:]
            asyncio.run(aiortc_publish(srs, media_flv.path, 6))
            assert srs.wait_unpublished(STREAM, timeout_s=40), srs.log_text()[-3000:]
            player.join(30)
            assert "Traceback" not in srs.log_text(), srs.log_text()[-5000:]

            def events():
                return [(e["body"]["action"], e["body"]["stream"]) for e in hooks.received()]
            assert wait_for(lambda: ("on_unpublish", "aiortc") in events(), 10), events()
            assert player.error is None, player.error
    assert (player.vcodec, player.acodec, player.sample_rate) == ("h264", "aac", 48000)
    assert (player.width, player.height) == (320, 240)
    pts = player.video_pts
    assert player.first_video_key and player.monotonic(), [(a, b) for a, b in zip(pts, pts[1:]) if b <= a]
    # aiortc sends the 4 s file in real time: most of its 100 frames and ~190 AAC frames arrive
    assert player.video_frames >= 60 and player.audio_frames >= 100, (player.video_frames, player.audio_frames)
