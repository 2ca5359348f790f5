"""The SRT server end to end, with real clients: Debian's ffmpeg (libsrt) and srt-live-transmit publish
and play; PyAV RTMP/HTTP-FLV players and ffprobe decode what comes out, frame by frame."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request

import pytest

from fixtures.srs_server import Player, SrsProcess, publish_flv, wait_for
from srt_clients import (SLT, LossyRelay, RawCaller, count_frames, ffmpeg_play, ffmpeg_publish, free_udp_port, need,
                         sid, source_frames, srt_url)


@pytest.fixture(scope="module")
def srs(tmp_path_factory):
    port = free_udp_port()
    vhost = f"""srt {{ enabled on; }}
    http_remux {{ enabled on; mount [vhost]/[app]/[stream].flv; }}
    hls {{ enabled on; hls_path {{html}}; hls_fragment 1; }}"""
    tmp = tmp_path_factory.mktemp("srt")
    with SrsProcess(tmp, vhost_body=vhost.replace("{html}", str(tmp / "html")),
                    global_body=f"srt_server {{ enabled on; listen {port}; }}") as proc:
        proc.srt_port = port
        assert proc.wait_log("SRT listen at udp://0.0.0.0:"), proc.output()
        yield proc
        assert proc.alive(), proc.output()
        assert "Traceback" not in proc.log_text(), proc.log_text()[-5000:]


def api(srs, path: str):
    with urllib.request.urlopen(srs.api_url(path), timeout=5) as r:
        return json.loads(r.read())


def clients_of(srs, kind: str) -> list:
    return [c for c in api(srs, "/api/v1/clients")["clients"] if c["type"] == kind]


def check_player(p: Player, want: dict) -> None:
    assert p.error is None, p.error
    assert (p.width, p.height, p.vcodec, p.acodec) == (768, 320, "h264", "aac")
    assert p.first_video_key and p.monotonic()
    assert (p.video_frames, p.audio_frames) == (want["h264"], want["aac"])


def test_srt_publish_reaches_rtmp_flv_hls_players_despite_garbage(srs):
    """ffmpeg publishes 4 s over SRT; a PyAV RTMP and an HTTP-FLV player waiting for the stream decode
    every frame of those 4 s; HLS is written. Garbage datagrams and packets for made-up sockets hit
    the port meanwhile: dropped, the publish is not disturbed."""
    stream = "live/srtpub"
    rtmp = Player(srs.rtmp_url(stream), max_seconds=30, read_timeout_s=3)
    flv = Player(srs.http_url(stream + ".flv"), max_seconds=30, read_timeout_s=3)
    rtmp.start()
    flv.start()
    assert srs.wait_players(stream, 2), srs.log_text()[-3000:]
    # linger: libsrt's live mode closes without waiting for its last packets to be acknowledged
    # (and a latency of 500 ms, in us for ffmpeg: a loaded test machine may delay a retransmission)
    pub = ffmpeg_publish(srt_url(srs.srt_port, f"#!::r={stream},m=publish", linger=2, latency=500000),
                         wait=False)
    assert srs.wait_published(stream, timeout_s=15), srs.log_text()[-3000:]
    junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(200):
        junk.sendto(os.urandom(16 + i % 1400), ("127.0.0.1", srs.srt_port))
        # a data packet to a made-up socket id, and a control packet too short for its type
        junk.sendto(b"\x00\x00\x00\x01" + bytes(8) + (i + 1).to_bytes(4, "big") + b"x" * 100,
                    ("127.0.0.1", srs.srt_port))
        junk.sendto(b"\x80\x02\x00\x00" + bytes(12), ("127.0.0.1", srs.srt_port))
    junk.close()
    entry = wait_for(lambda: clients_of(srs, "srt-publish"))
    assert entry and entry[0]["publish"] and entry[0]["url"] == "/" + stream
    assert entry[0]["srt"]["latency_ms"] == 500 and entry[0]["srt"]["rtt_ms"] >= 0
    _, err = pub.communicate(timeout=30)
    assert pub.returncode == 0, err.decode(errors="replace")
    assert srs.wait_unpublished(stream, timeout_s=15)
    rtmp.join(20)
    flv.join(20)
    want = source_frames(4)
    check_player(rtmp, want)
    check_player(flv, want)
    assert os.path.exists(os.path.join(srs.html, stream + ".m3u8"))
    assert srs.wait_log("SRT client closed, peer-shutdown, srt-publish")


def test_rtmp_publish_plays_on_two_srt_players(srs, tmp_path):
    """RTMP publish -> two ffmpeg SRT players at once: each decodes every frame (TS muxed once)."""
    stream = "live/srtplay"
    outs = [str(tmp_path / f"p{i}.ts") for i in range(2)]
    players = [ffmpeg_play(srt_url(srs.srt_port, f"#!::r={stream},m=request", latency=500000), o) for o in outs]
    assert srs.wait_players(stream, 2), srs.log_text()[-3000:]
    publish_flv("doc/source.200kbps.768x320.flv", srs.rtmp_url(stream), realtime=True, speed=4)
    for p in players:
        _, err = p.communicate(timeout=30)
        assert p.returncode == 0 or b"timed out" in err.lower(), err.decode(errors="replace")
    want = source_frames(100)
    for o in outs:
        got = count_frames(o)
        assert got["h264"] == (want["h264"], 768, 320) and got["aac"][0] == want["aac"], got
    assert srs.log_text().count("HTTP ts __defaultVhost__/" + stream + ": remux with audio aac") == 1


def test_srt_live_transmit_publishes_1456_byte_payloads(srs, tmp_path):
    """srt-live-transmit (caller, libsrt's own tool) forwards 1456-byte UDP datagrams as 1456-byte
    SRT payloads (its default chunk; SRS 5 wants 1316): TS packets cut in the middle, which the
    demuxer takes as the byte stream they are."""
    need(SLT, "srt-live-transmit")
    stream = "live/slt"
    ts = tmp_path / "t4.ts"
    r = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", "doc/source.200kbps.768x320.flv",
                        "-t", "4", "-c", "copy", "-f", "mpegts", str(ts)], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    data = ts.read_bytes()
    udp = free_udp_port()
    slt = subprocess.Popen([SLT, "-q", f"udp://127.0.0.1:{udp}",
                            srt_url(srs.srt_port, f"#!::r={stream},m=publish")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rtmp = Player(srs.rtmp_url(stream), max_seconds=30, read_timeout_s=3)
    try:
        assert srs.wait_published(stream, timeout_s=15), srs.log_text()[-3000:]
        rtmp.start()
        assert srs.wait_players(stream, 1)
        feed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(0, len(data), 1456):
            feed.sendto(data[i:i + 1456], ("127.0.0.1", udp))
            time.sleep(0.004)   # pace the feed (about 3x real time): srt-live-transmit's UDP buffer
        feed.close()
        figures = wait_for(lambda: clients_of(srs, "srt-publish")[0]["srt"]["recv_payload_bytes"] >= len(data)
                           and clients_of(srs, "srt-publish")[0]["srt"])
        assert figures, clients_of(srs, "srt-publish")
        # every byte, in 1456-byte payloads (the last one shorter)
        assert (figures["recv_payload_bytes"], figures["recv_pkts"]) == (len(data), -(-len(data) // 1456))
    finally:
        slt.terminate()
        slt.wait(10)
    assert srs.wait_unpublished(stream, timeout_s=15)
    rtmp.join(20)
    assert rtmp.error is None and rtmp.vcodec == "h264" and rtmp.first_video_key
    assert (rtmp.video_frames, rtmp.audio_frames) == (100, 173)   # it joined before the first byte


def test_srt_live_transmit_plays(srs, tmp_path):
    """srt-live-transmit as a player (caller, m=request) of an RTMP-published stream gets every frame."""
    need(SLT, "srt-live-transmit")
    stream = "live/sltplay"
    out = tmp_path / "slt.ts"
    with open(out, "wb") as f:
        slt = subprocess.Popen([SLT, "-q", srt_url(srs.srt_port, f"#!::r={stream},m=request", latency=500),
                                "file://con"], stdout=f, stderr=subprocess.DEVNULL)
        try:
            assert srs.wait_players(stream, 1), srs.log_text()[-3000:]
            publish_flv("doc/source.200kbps.768x320.flv", srs.rtmp_url(stream), realtime=True, speed=4)
            want = source_frames(100)
            got = wait_for(lambda: count_frames(str(out)).get("h264", (0,))[0] == want["h264"]
                           and count_frames(str(out)), timeout_s=15, step_s=0.5)
        finally:
            slt.terminate()
            slt.wait(10)
    assert got and got["h264"] == (want["h264"], 768, 320) and got["aac"][0] == want["aac"], got


def test_hevc_srt_publish_plays_over_rtmp(srs, tmp_path):
    """TS stream type 0x24 (HEVC, as SRS 6) published over SRT reaches a PyAV RTMP player as Enhanced
    RTMP hvc1: every frame decoded."""
    ts = tmp_path / "hevc.ts"
    r = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                        "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=f=440:sample_rate=44100",
                        "-t", "2", "-pix_fmt", "yuv420p", "-c:v", "libx265", "-x265-params",
                        "log-level=error:keyint=25:bframes=0", "-c:a", "aac", "-f", "mpegts", str(ts)],
                       capture_output=True, timeout=60)
    if r.returncode != 0:
        pytest.skip("ffmpeg cannot encode HEVC here: " + r.stderr.decode(errors="replace")[-200:])
    want = count_frames(str(ts))
    stream = "live/hevc"
    rtmp = Player(srs.rtmp_url(stream), max_seconds=30, read_timeout_s=3)
    rtmp.start()
    assert srs.wait_players(stream, 1)
    pub = ffmpeg_publish(srt_url(srs.srt_port, f"#!::r={stream},m=publish", linger=2, latency=500000),
                         src=str(ts), seconds=10)
    assert pub.returncode == 0, pub.stderr
    assert srs.wait_unpublished(stream, timeout_s=15)
    rtmp.join(20)
    assert rtmp.error is None and (rtmp.vcodec, rtmp.width, rtmp.height) == ("hevc", 320, 240)
    assert rtmp.first_video_key and rtmp.monotonic()
    assert (rtmp.video_frames, rtmp.audio_frames) == (want["hevc"][0], want["aac"][0])
    assert srs.wait_log("SRT publish __defaultVhost__/live/hevc: video HEVC 320x240")


def test_arq_repairs_a_lossy_link_both_ways(srs, tmp_path):
    """5% of the data packets lost each way (a relay in between): the SRT publish still reaches an RTMP
    player frame-complete and an SRT player through another lossy relay decodes every frame; the
    retransmissions show in the figures."""
    stream = "live/lossy"
    pub_relay, play_relay = LossyRelay(srs.srt_port), LossyRelay(srs.srt_port)
    pub_relay.start()
    play_relay.start()
    out = str(tmp_path / "lossy.ts")
    try:
        rtmp = Player(srs.rtmp_url(stream), max_seconds=30, read_timeout_s=3)
        rtmp.start()
        player = ffmpeg_play(srt_url(play_relay.port, f"#!::r={stream},m=request", latency=500000), out)
        assert srs.wait_players(stream, 2), srs.log_text()[-3000:]
        pub = ffmpeg_publish(srt_url(pub_relay.port, f"#!::r={stream},m=publish", linger=2, latency=500000))
        assert pub.returncode == 0, pub.stderr
        assert srs.wait_unpublished(stream, timeout_s=15)
        rtmp.join(20)
        player.communicate(timeout=30)
    finally:
        pub_relay.close()
        play_relay.close()
    assert pub_relay.lost["up"] >= 3 and play_relay.lost["down"] >= 3
    want = source_frames(4)
    check_player(rtmp, want)
    got = count_frames(out)
    assert got["h264"][0] == want["h264"] and got["aac"][0] == want["aac"], got

    def retransmitted(kind: str) -> list:
        return [line for line in srs.log_text().splitlines()
                if "SRT client closed" in line and kind in line and "retrans=0/0" not in line]
    assert wait_for(lambda: retransmitted("srt-publish") and retransmitted("srt-play")), srs.log_text()[-3000:]


@pytest.mark.parametrize("text,reason", [
    ("#!::r=live/..,m=publish", 1400),
    ("#!::r=live/a\0b,m=publish", 1400),
    ("#!::r=live/x,m=bogus", 1400),
    ("#!::h=nosuchvhost.example,r=live/x,m=request", "accepted"),   # unknown host: the default vhost
])
def test_stream_ids_refused_with_the_name_error(srs, text, reason):
    caller = RawCaller(srs.srt_port, socket_id=0x4000 + len(text))
    try:
        assert caller.connect(sid(text)) == reason
    finally:
        caller.close()


def test_oversized_stream_id_is_rejected_and_others_unaffected(srs):
    """A 10 KB stream id (one handshake datagram of 10 KB, past any MTU) is refused with a reason the
    caller can report, 1400 (bad request), not dropped in silence; the next caller is served."""
    caller = RawCaller(srs.srt_port, socket_id=0x5555)
    try:
        assert caller.connect(sid("#!::r=live/" + "x" * 10000 + ",m=publish"), reply_timeout_s=5.0) == 1400
    finally:
        caller.close()
    caller = RawCaller(srs.srt_port, socket_id=0x5556)
    try:
        assert caller.connect(sid("#!::r=live/fine,m=request")) == "accepted"
    finally:
        caller.close()


def test_rtmp_hevc_publish_plays_on_an_srt_player(srs, tmp_path):
    """Enhanced RTMP HEVC (PyAV libx265) published over RTMP -> an ffmpeg SRT player decodes every HEVC
    frame of the TS (stream type 0x24) and every AAC frame."""
    from fixtures.media_ex import make_flv_ex, publish_ex
    try:
        media = make_flv_ex(tmp_path / "hevc.flv", vcodec="hevc", seconds=3)
    except Exception as e:  # noqa: BLE001 - PyAV without libx265
        pytest.skip(f"no HEVC encoder: {e!r}")
    stream = "live/hevcplay"
    out = str(tmp_path / "hevcplay.ts")
    player = ffmpeg_play(srt_url(srs.srt_port, f"#!::r={stream},m=request", latency=500000), out)
    assert srs.wait_players(stream, 1), srs.log_text()[-3000:]
    publish_ex(media.path, srs.rtmp_url(stream), speed=2.0)
    _, err = player.communicate(timeout=30)
    got = count_frames(out)
    assert got.get("hevc") == (media.video_frames, 320, 240), (got, err.decode(errors="replace"))
    assert got["aac"][0] == media.audio_frames, got
