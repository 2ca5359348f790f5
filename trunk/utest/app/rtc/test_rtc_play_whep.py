"""RTMP -> WebRTC play through the real server: ffmpeg's RTMP code (PyAV) publishes, aiortc (an
independent WebRTC stack) plays over WHEP and SRS 4's JSON API and decodes the frames."""
from __future__ import annotations

import asyncio
from fixtures.srs_server import publish_bg
from play_clients import aiortc_play, json_play_answer, rtc_server, whep_answer

FRAMES = 50


def test_aiortc_plays_an_rtmp_stream_over_whep(tmp_path, media_flv):
    with rtc_server(tmp_path) as srs:
        publisher = publish_bg(media_flv.path, srs.rtmp_url("live/livestream"), loops=8)
        assert srs.wait_published("live/livestream"), srs.output()[-3000:]
        exchange = whep_answer(srs)
        result = asyncio.run(aiortc_play(exchange, FRAMES, timeout_s=20))
        frames = result["video"]
        assert len(frames) == FRAMES
        assert frames[0][2], "a player starts at a keyframe (the GOP cache)"
        assert {(w, h) for w, h, _, _ in frames} == {(320, 240)}
        assert result["audio"] > 0, "AAC transcoded to Opus once for the stream, decoded by aiortc"
        # the goal is 1 s from the answer to the first frame; asserted loosely (a loaded box)
        print(f"WHEP first frame {result['first_frame_s']:.3f}s after the answer")
        assert result["first_frame_s"] < 5, result["first_frame_s"]
        assert exchange.location.startswith("/rtc/v1/whip/?action=delete&token=")
        assert srs.wait_log("closed: DTLS close_notify"), srs.output()[-3000:]   # aiortc's pc.close()
        assert publisher.error is None


def test_srs4_json_play_api(tmp_path, media_flv):
    with rtc_server(tmp_path) as srs:
        publish_bg(media_flv.path, srs.rtmp_url("live/livestream"), loops=8)
        assert srs.wait_published("live/livestream"), srs.output()[-3000:]
        exchange = json_play_answer(srs)
        result = asyncio.run(aiortc_play(exchange, 20, timeout_s=20, audio=False))
        assert len(result["video"]) == 20 and result["video"][0][2]
