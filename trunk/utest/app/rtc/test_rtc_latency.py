"""The WebRTC row of the latency table (trunk/doc/PERFORMANCE.md, beside LL-HLS, HLS and HTTP-FLV in
utest/app/hls/test_llhls_hlsjs.py): aiortc plays over WHEP; for each decoded video frame, the
publisher's stream time (real-time pacing) minus the frame's RTP time (SRS maps a frame at ``dts_ms``
to RTP ``dts_ms * 90``). Run with ``-s`` to see the figure."""
from __future__ import annotations

import asyncio
import statistics

from fixtures.media import make_flv
from fixtures.srs_server import publish_bg
from play_clients import aiortc_play, rtc_server, whep_answer

FRAMES = 150


def test_webrtc_delivery_latency_reference(tmp_path, monkeypatch):
    # aiortc rebases the RTP timestamps of a track to its first packet (TimestampMapper): the frames keep
    # the server's own here, so that they tell the stream time (the client still decodes every frame)
    import aiortc.rtcrtpreceiver
    monkeypatch.setattr(aiortc.rtcrtpreceiver.TimestampMapper, "map", lambda self, timestamp: timestamp)
    media = make_flv(tmp_path / "long.flv", seconds=12, fps=25, gop=25, audio="aac")
    with rtc_server(tmp_path) as srs:
        pub = publish_bg(media.path, srs.rtmp_url("live/w"))
        assert srs.wait_published("live/w"), srs.output()[-3000:]
        assert pub.wait_sent(1500), pub.error
        result = asyncio.run(aiortc_play(whep_answer(srs, "w"), FRAMES, timeout_s=20, stamp=lambda: pub.sent_ms))
    frames = result["video"]
    assert len(frames) == FRAMES and {(w, h) for w, h, _, _ in frames} == {(320, 240)}
    lags = [sent / 1000.0 - pts / 90000.0 for (_, _, _, pts), sent in zip(frames, result["stamps"])]
    median = round(statistics.median(lags[75:]), 2)  # past the GOP cache burst
    print(f"\nLATENCY webrtc: behind_s {median} (min {min(lags[75:]):.2f}, max {max(lags[75:]):.2f})")
    assert -0.5 < median < 3.0, lags[-10:]  # loosely: a loaded machine delays the server
