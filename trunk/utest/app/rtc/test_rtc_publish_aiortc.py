"""An independent WebRTC publisher (aiortc, H.264 + Opus from a generated FLV) through SRS 4's JSON
``/rtc/v1/publish/``: a PyAV RTMP player decodes H.264 + AAC from it, keyframe first, timestamps
monotonic; the on_publish/on_unpublish hooks see the session's stream."""
from __future__ import annotations

import asyncio

from fixtures.api_server import ApiServer
from fixtures.srs_server import Player, wait_for
from play_clients import rtc_server
from publish_clients import aiortc_publish

STREAM = "live/aiortc"


def test_aiortc_publishes_over_json_api_rtmp_player_decodes(tmp_path, media_flv):
    with ApiServer() as hooks:
        url = hooks.url("/api/v1/streams")
        body = f"http_hooks {{ enabled on; on_publish {url}; on_unpublish {url}; }}"
        with rtc_server(tmp_path, rtc="rtc_to_rtmp on;", vhost_body=body) as srs:
            player = Player(srs.rtmp_url(STREAM), max_seconds=30, read_timeout_s=4)
            player.start()
            assert srs.wait_players(STREAM), srs.log_text()[-3000:]
            asyncio.run(aiortc_publish(srs.api_url("rtc/v1/publish/"), STREAM, media_flv.path, 6))
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
