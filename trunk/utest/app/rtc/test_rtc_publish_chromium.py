"""WebRTC publish through the real server: headless Chromium's fake camera and microphone publish over
WHIP from our page (research/players/rtc_publisher.html); PyAV players decode the stream as RTMP
and HTTP-FLV (H.264 + AAC transcoded from Opus, frames counted, keyframe first, monotonic
timestamps), HLS is written, Chromium's bandwidth estimate ramps up on our transport-cc feedback,
an aiortc WHEP player gets it back over WebRTC (forwarded), a second WHIP publish of the same stream is
refused, and the publisher is listed in /api/v1/clients and can be kicked."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import urllib.request

import pytest

from fixtures.chromium_cdp import Chromium, chromium_path
from fixtures.srs_server import TRUNK, Player, wait_for
from play_clients import aiortc_play, post, rtc_server, whep_answer

PLAYERS = os.path.join(TRUNK, "research", "players")
STATE = "JSON.stringify(window.rtcPublisherState || null)"
FLAGS = ["--allow-loopback-in-peer-connection", "--use-fake-device-for-media-stream",
         "--use-fake-ui-for-media-stream"]
VHOST = """http_remux {{ enabled on; mount [vhost]/[app]/[stream].flv; }}
hls {{ enabled on; hls_path {html}; hls_fragment 1; hls_window 60; }}"""
STREAM = "live/webcam"


def api(srs, path: str):
    with urllib.request.urlopen(srs.api_url(path), timeout=5) as r:
        return json.loads(r.read())


def rtc_publishers(srs) -> list:
    return [c for c in api(srs, "/api/v1/clients?count=100")["clients"] if c["type"] == "rtc-publish"]


@pytest.mark.skipif(not chromium_path(), reason="chromium is not installed")
def test_chromium_whip_publish_plays_as_rtmp_flv_hls_and_whep(tmp_path):
    state = {}
    (tmp_path / "srs").mkdir()
    # a PLI every second: Chromium sends a keyframe only when asked, HLS cuts segments at keyframes
    with rtc_server(tmp_path / "srs", rtc="rtc_to_rtmp on; pli_for_rtmp 1;",
                    vhost_body=VHOST.format(html=tmp_path / "srs" / "html")) as srs:
        shutil.copytree(PLAYERS, os.path.join(srs.html, "players"))
        with Chromium(tmp_path, extra_flags=FLAGS) as browser:
            page = browser.new_page(srs.http_url("players/rtc_publisher.html") +
                                    f"?app=live&stream=webcam&api=http://127.0.0.1:{srs.api_port}")

            def publishing():
                state.update(json.loads(page.evaluate(STATE)) or {})
                return state.get("error") or state.get("framesEncoded", 0) > 10

            wait_for(publishing, 30, 0.25)
            assert state.get("error") is None, (state, srs.log_text()[-3000:])
            assert srs.wait_published(STREAM, timeout_s=20), srs.log_text()[-3000:]
            # players open once the video and the audio are there: FFmpeg's FLV demuxer opened on one
            # track alone (the first keyframe ~1 s after the publish under load) never shows the other
            assert srs.wait_log("RTC publish __defaultVhost__/live/webcam: video H264", timeout_s=20)
            # and the audio (Opus -> AAC: its first AAC sequence header comes a little later under load)
            assert wait_for(lambda: any((st.get("audio") or {}).get("codec") == "AAC"
                                        for st in api(srs, "/api/v1/streams")["streams"]), 20, 0.2), \
                api(srs, "/api/v1/streams")
            rtmp = Player(srs.rtmp_url(STREAM), max_seconds=6, read_timeout_s=5)
            flv = Player(srs.http_url(STREAM + ".flv"), max_seconds=6, read_timeout_s=5)
            rtmp.start()
            flv.start()
            # the same stream back over WebRTC: Chromium's packets forwarded (not re-made from the source)
            whep = asyncio.run(aiortc_play(whep_answer(srs, "webcam"), 20, 20))
            # a second publisher of the same stream is refused by the signalling
            with open(os.path.join(TRUNK, "utest", "protocol", "rtc", "data", "chromium_publish_offer.sdp"), "rb") as f:
                offer = f.read()
            status, _h, _b = post(srs.api_url("/rtc/v1/whip/?app=live&stream=webcam"), offer)
            assert status == 409, status
            rtmp.join(30)
            flv.join(30)
            entry = rtc_publishers(srs)
            assert entry and entry[0]["publish"] and entry[0]["url"] == "/" + STREAM, entry
            state.update(json.loads(page.evaluate(STATE)) or {})
            # kick: the session ends, the source is unpublished
            req = urllib.request.Request(srs.api_url(f"/api/v1/clients/{entry[0]['id']}"), method="DELETE")
            urllib.request.urlopen(req, timeout=5).read()
            assert srs.wait_unpublished(STREAM, timeout_s=15), srs.log_text()[-3000:]
            assert srs.wait_log("RTC publish __defaultVhost__/live/webcam forwarder ended"), srs.log_text()[-3000:]
        log = srs.log_text()
        assert "Traceback" not in log, log[-5000:]
    for p in (rtmp, flv):
        assert p.error is None, p.error
        assert (p.vcodec, p.acodec, p.sample_rate) == ("h264", "aac", 48000), (p.url, p.video_frames, p.audio_frames, log[-4000:])
        # 640x480, unless Chromium scaled down on a loaded machine (a new SPS: a new sequence header)
        assert p.width <= 640 and p.width * 3 == p.height * 4, (p.width, p.height)
        assert p.first_video_key and p.monotonic()
        assert p.video_frames >= 60 and p.audio_frames >= 100, (p.video_frames, p.audio_frames)
    assert len(whep["video"]) == 20 and whep["video"][0][0] <= 640 and whep["audio"] > 0
    # HLS: the playlist the stream left decodes, H.264 + AAC
    hls = Player(str(tmp_path / "srs" / "html" / "live" / "webcam.m3u8"), max_seconds=20)
    hls.run()
    assert hls.error is None and (hls.vcodec, hls.acodec) == ("h264", "aac"), hls.error
    assert hls.video_frames >= 30 and hls.audio_frames >= 50, (hls.video_frames, hls.audio_frames)
    assert state["audioPackets"] > 0
    # our transport-cc feedback lets Chromium's estimate leave its 300 kbps start (~2.5 Mbps after ~8 s;
    # with `twcc off` it stays at 300)
    assert state["maxEstimate"] > 400, state
