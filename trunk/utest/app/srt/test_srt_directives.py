"""srt_server directives beyond the handshake's: vhost srt_to_rtmp off, peer_idle_timeout, sendbuf and
recvbuf, sei_filter; maxbw and connect_timeout are accepted with a warning (see rows_srt.py)."""
from __future__ import annotations

import pytest

from fixtures.srs_server import Player, SrsProcess, wait_for
from srs.app.config.conf import Config
from srs.app.srt.publish import TsPublisher
from srs.app.srt.server import buffer_packets, listener_config
from srs.kernel.codec import NALU_SEI
from srs.kernel.flv import FlvDecoder
from srs.kernel.flv_to_ts import FlvToTs
from srs.kernel.message import MSG_VIDEO
from srt_clients import (SOURCE, RawCaller, count_frames, ffmpeg_play, ffmpeg_publish, free_udp_port, sid,
                         source_frames, srt_url)


@pytest.fixture(scope="module")
def srs(tmp_path_factory):
    port = free_udp_port()
    with SrsProcess(tmp_path_factory.mktemp("srtdir"), vhost_body="srt { enabled on; srt_to_rtmp off; }",
                    global_body=f"srt_server {{ enabled on; listen {port}; peer_idle_timeout 1500; }}") as proc:
        proc.srt_port = port
        assert proc.wait_log("SRT listen at udp://0.0.0.0:"), proc.output()
        yield proc
        assert "Traceback" not in proc.log_text(), proc.log_text()[-5000:]


def test_srt_to_rtmp_off_keeps_the_stream_to_srt_players(srs, tmp_path):
    """SRT publish on a vhost with srt_to_rtmp off: an SRT player decodes every frame, an RTMP player
    of the same stream gets nothing (SRS 5: no bridge)."""
    stream = "live/srtonly"
    out = str(tmp_path / "srtonly.ts")
    rtmp = Player(srs.rtmp_url(stream), max_seconds=15, read_timeout_s=8)
    rtmp.start()
    player = ffmpeg_play(srt_url(srs.srt_port, f"#!::r={stream},m=request", latency=500000), out)
    assert srs.wait_players(stream, 1) and srs.wait_log("SRT play __defaultVhost__/" + stream)
    pub = ffmpeg_publish(srt_url(srs.srt_port, f"#!::r={stream},m=publish", linger=2, latency=500000))
    assert pub.returncode == 0, pub.stderr
    player.communicate(timeout=30)
    rtmp.join(20)
    want = source_frames(4)
    got = count_frames(out)
    assert got["h264"] == (want["h264"], 768, 320) and got["aac"][0] == want["aac"], got
    assert rtmp.video_frames == 0 and rtmp.audio_frames == 0


def test_peer_idle_timeout_closes_a_silent_caller(srs):
    caller = RawCaller(srs.srt_port, socket_id=0x6161)
    try:
        assert caller.connect(sid("#!::r=live/idle,m=request")) == "accepted"
        # peer_idle_timeout 1500 ms: no keep-alive from this caller, so it is closed (not after SRS's 10 s)
        assert wait_for(lambda: "SRT client closed, idle-timeout" in srs.log_text(), timeout_s=9)
    finally:
        caller.close()


def test_buffers_maxbw_and_connect_timeout():
    c = Config.parse_text("listen 1935; srt_server { enabled on; mss 1500; sendbuf 147200; recvbuf 294400; "
                          "maxbw 1000000000; connect_timeout 4000; } vhost __defaultVhost__ { }")
    s = c.srt_server
    assert (buffer_packets(s, s.sendbuf), buffer_packets(s, s.recvbuf)) == (100, 200)
    assert listener_config(s).flow_window == 200
    assert any("maxbw" in w and "ignored" in w for w in c.warnings)
    assert any("connect_timeout" in w and "ignored" in w for w in c.warnings)


class _Sink:
    """What TsPublisher feeds: the messages (a live source's on_message) and the stats it reports."""

    url = "__defaultVhost__/live/sei"

    def __init__(self):
        self.msgs = []

    def on_message(self, m):
        self.msgs.append(m)

    def __getattr__(self, name):   # the stats calls: on_frames, on_video_info, on_audio_info
        return lambda *a, **k: None


def _nalu_types(msgs) -> set:
    out = set()
    for m in msgs:
        if m.kind != MSG_VIDEO or m.payload[1] != 1:
            continue
        body, pos = m.payload, 5
        while pos + 4 <= len(body):
            n = int.from_bytes(body[pos:pos + 4], "big")
            out.add(body[pos + 4] & 0x1F)
            pos += 4 + n
    return out


@pytest.mark.parametrize("sei_filter", [True, False])
def test_sei_filter_drops_h264_sei(sei_filter):
    """The sample's x264 pictures carry SEI NALUs; sei_filter on (the default) drops them on the way to
    RTMP, off keeps them; every picture passes either way."""
    with open(SOURCE, "rb") as f:
        msgs = FlvDecoder().receive_data(f.read())
    ts = FlvToTs().on_messages(msgs)
    sink = _Sink()
    pub = TsPublisher(sink, sink, None, sei_filter)
    for i in range(0, len(ts), 1316):
        pub.on_payloads([ts[i:i + 1316]])
    pub.close()
    types = _nalu_types(sink.msgs)
    assert (NALU_SEI in _nalu_types(msgs)) and (NALU_SEI in types) is not sei_filter
    pictures = sum(1 for m in msgs if m.kind == MSG_VIDEO and m.payload[1] == 1)
    assert sum(1 for m in sink.msgs if m.kind == MSG_VIDEO and m.payload[1] == 1) == pictures
