"""Headless Chromium plays an RTMP stream over WebRTC through the real server: our WHEP page
(research/players/rtc_player.html, served by http_server) posts the offer to the API port, ICE-lite +
DTLS + SRTP run on the rtc_server UDP port, and getStats() must show > 100 video frames decoded and
Opus packets received (AAC transcoded once per stream). Chromium needs
--allow-loopback-in-peer-connection for the 127.0.0.1 candidate."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from fixtures.chromium_cdp import Chromium, chromium_path
from fixtures.srs_server import TRUNK, publish_bg, wait_for
from play_clients import rtc_server

FRAMES_WANTED = 100
PLAYERS = os.path.join(TRUNK, "research", "players")
STATE = "JSON.stringify(window.rtcPlayerState || null)"


@pytest.mark.skipif(not chromium_path(), reason="chromium is not installed")
def test_chromium_plays_rtmp_over_whep_page(tmp_path, media_flv):
    state = {}
    with rtc_server(tmp_path) as srs:
        shutil.copytree(PLAYERS, os.path.join(srs.html, "players"))
        publisher = publish_bg(media_flv.path, srs.rtmp_url("live/livestream"), loops=15)
        assert srs.wait_published("live/livestream"), srs.output()[-3000:]
        with Chromium(tmp_path, extra_flags=["--allow-loopback-in-peer-connection"]) as browser:
            page = browser.new_page(srs.http_url("players/rtc_player.html") +
                                    f"?app=live&stream=livestream&api=http://127.0.0.1:{srs.api_port}")

            def decoded():
                state.update(json.loads(page.evaluate(STATE)) or {})
                return state.get("error") or (state.get("frames", 0) > FRAMES_WANTED
                                              and state.get("audioPackets", 0) > 0)

            wait_for(decoded, 45, 0.25)
            # Stop: the page closes its peer connection (DTLS close_notify) and DELETEs the Location
            page.evaluate("document.getElementById('stop').click(); 0")
            assert srs.wait_log("HTTP API DELETE /rtc/v1/whip/?action=delete&token="), srs.output()[-3000:]
            assert srs.wait_log("rtc-play __defaultVhost__/live/livestream closed"), srs.output()[-3000:]
        assert state.get("error") is None, state
        assert state["frames"] > FRAMES_WANTED, (state, srs.output()[-3000:])
        assert (state["width"], state["height"]) == (320, 240)
        assert state["audioPackets"] > 0, state
        print("chromium rtc player:", state)
        # Opus decoded, not concealed: the joined 60 ms packets are real audio to NetEq
        assert state["audioSamples"] > 0 and state["audioConcealed"] < state["audioSamples"] / 2, state
        # the goal: the first frame <= 1 s after the answer (asserted loosely: a loaded machine)
        assert state["firstFrameMs"] is not None and state["firstFrameMs"] < 5000, state
        assert publisher.error is None
