"""The ABR ladder end to end: a 720p stream published over RTMP (PyAV), the server's worker process
encodes 480p and 240p, each published back as a live stream with its own HLS; the test parses the
master playlist and plays every variant it lists with PyAV (FFmpeg's HLS demuxer over HTTP).

Heavier than most tests: one 720p decode and two x264 encodes in real time (~15 s).
"""
from __future__ import annotations

import os
import re
import signal
import urllib.request

import av
import pytest

from fixtures.media import make_flv
from fixtures.srs_server import SrsProcess, publish_bg, wait_for

LADDER = """
hls { enabled on; hls_fragment 1; hls_window 60; hls_path {html}; }
abr {
    enabled on;
    preset ultrafast;
    rendition 480p { height 480; vbitrate 800; abitrate 64; }
    rendition 240p { height 240; vbitrate 300; }
}
"""


@pytest.fixture(scope="module")
def media_720p(tmp_path_factory):
    """8 s of 1280x720 at 25 fps, a keyframe each second, AAC: 200 frames, 8 keyframes."""
    return make_flv(tmp_path_factory.mktemp("abr") / "720p.flv", seconds=8, width=1280, height=720, fps=25, gop=25)


def parse_master(text: str) -> list:
    """[(attributes dict, uri)] of each EXT-X-STREAM-INF."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines[0] == "#EXTM3U"
    out = []
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF:"):
            attrs = dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1]))
            out.append(({k: v.strip('"') for k, v in attrs.items()}, lines[i + 1]))
    return out


def play_hls(url: str) -> dict:
    """Decode a (finished) live playlist from its first segment: frames, size, keyframe pts."""
    got = {"frames": 0, "keys": [], "size": None, "audio": 0}
    # no EXT-X-ENDLIST in a live playlist: give up after 2 reloads without a new segment (1 fails the open)
    with av.open(url, options={"live_start_index": "0", "m3u8_hold_counters": "2"}, timeout=(10, 10)) as c:
        for pkt in c.demux():
            if pkt.size == 0:
                continue
            if pkt.stream.type == "video":
                if pkt.is_keyframe:
                    got["keys"].append(round(float(pkt.pts * pkt.time_base), 3))
                for frame in pkt.decode():
                    got["frames"] += 1
                    got["size"] = (frame.width, frame.height)
            elif pkt.stream.type == "audio":
                got["audio"] += len(pkt.decode())
    return got


def test_ladder_renditions_master_playlist_and_aligned_keyframes(tmp_path, media_720p):
    html = os.path.join(str(tmp_path), "html")
    with SrsProcess(tmp_path, vhost_body=LADDER.replace("{html}", html)) as srs:
        pub = publish_bg(media_720p.path, srs.rtmp_url("live/livestream"))
        assert srs.wait_published("live/livestream_480p", timeout_s=30), srs.log_text()[-3000:]
        assert srs.wait_published("live/livestream_240p", timeout_s=30)
        pub.join(60)
        assert srs.wait_unpublished("live/livestream_480p", timeout_s=30), srs.log_text()[-3000:]
        assert srs.wait_unpublished("live/livestream_240p", timeout_s=30)
        with urllib.request.urlopen(srs.http_url("live/livestream_abr.m3u8"), timeout=10) as r:
            variants = parse_master(r.read().decode())
        # hls_ctx on (SRS 5's default): the master itself opens the session, its variants carry it
        assert [uri.split("?")[0] for _, uri in variants] == ["livestream_480p.m3u8", "livestream_240p.m3u8"]
        assert len({uri.split("?")[1] for _, uri in variants}) == 1 and "hls_ctx=" in variants[0][1], variants
        assert [a["RESOLUTION"] for a, _ in variants] == ["852x480", "426x240"]
        for attrs, _ in variants:
            assert re.fullmatch(r"avc1\.[0-9a-f]{6},mp4a\.40\.2", attrs["CODECS"]), attrs
        assert int(variants[0][0]["BANDWIDTH"]) > int(variants[1][0]["BANDWIDTH"]) > 300_000
        played = [play_hls(srs.http_url("live/" + uri)) for _, uri in variants]
        log = srs.log_text()
    assert [p["size"] for p in played] == [(852, 480), (426, 240)]
    for p in played:
        # the worker joins at a keyframe of the live source: at most its first GOPs are missed
        assert media_720p.video_frames - 3 * media_720p.gop <= p["frames"] <= media_720p.video_frames, p
        assert p["audio"] > 0
        assert len(p["keys"]) >= 4
        assert all(abs(b - a - 1.0) < 0.05 for a, b in zip(p["keys"], p["keys"][1:])), p["keys"]
    assert played[0]["keys"] == played[1]["keys"]  # keyframes aligned: the same pts in every rendition
    # the worker's stderr is in our log, with its own cid
    assert re.search(r"\]\[\d+\] abr\(__defaultVhost__/live/livestream\): abr worker: source 1280x720", log)
    assert "Traceback" not in log


def test_worker_restarted_after_a_crash(tmp_path, media_flv):
    body = "abr { enabled on; preset ultrafast; rendition low { height 120; vbitrate 100; } }"
    with SrsProcess(tmp_path, vhost_body=body) as srs:
        pub = publish_bg(media_flv.path, srs.rtmp_url("live/crash"), loops=3)
        assert srs.wait_published("live/crash_low", timeout_s=30), srs.log_text()[-3000:]
        m = re.search(r"abr\(__defaultVhost__/live/crash\): started pid=(\d+) \(start #1\)", srs.log_text())
        assert m, srs.log_text()[-3000:]
        os.kill(int(m.group(1)), signal.SIGKILL)
        assert srs.wait_log("(start #2)", timeout_s=20), srs.log_text()[-3000:]
        assert srs.wait_published("live/crash_low", count=2, timeout_s=30)  # the rendition is back
        assert "exited with code -9, restart in 1s" in srs.log_text()
        pub.join(60)
        # the source's unpublish stops the worker for good
        assert srs.wait_log("abr(__defaultVhost__/live/crash): stop pid=", timeout_s=20)
        assert not wait_for(lambda: "(start #3)" in srs.log_text(), timeout_s=2)


def test_reload_starts_and_stops_the_ladder_of_a_published_stream(tmp_path, media_flv):
    with SrsProcess(tmp_path) as srs:
        pub = publish_bg(media_flv.path, srs.rtmp_url("live/rl"), loops=4)
        assert srs.wait_published("live/rl")
        conf = open(srs.conf_path).read()
        with open(srs.conf_path, "w") as f:
            f.write(conf.replace("vhost __defaultVhost__ {", "vhost __defaultVhost__ {\n"
                                 "abr { enabled on; preset ultrafast; ladder q:0x120:100:0; }"))
        srs.signal(signal.SIGHUP)
        assert srs.wait_published("live/rl_q", timeout_s=30), srs.log_text()[-3000:]  # the ladder joined
        with open(srs.conf_path, "w") as f:
            f.write(conf)
        srs.signal(signal.SIGHUP)
        assert srs.wait_log("abr(__defaultVhost__/live/rl): stop pid=", timeout_s=20)
        assert srs.wait_unpublished("live/rl_q", timeout_s=20)
        pub.join(60)


def test_master_playlist_with_hls_ctx_keeps_one_session(tmp_path, media_flv):
    html = os.path.join(str(tmp_path), "html")
    body = ("hls { enabled on; hls_fragment 1; hls_path %s; hls_ctx on; } "
            "abr { enabled on; preset ultrafast; ladder q:0x120:100:0; }" % html)
    with SrsProcess(tmp_path, vhost_body=body) as srs:
        pub = publish_bg(media_flv.path, srs.rtmp_url("live/ctx"))
        master = os.path.join(html, "live", "ctx_abr.m3u8")
        variant = os.path.join(html, "live", "ctx_q.m3u8")
        assert wait_for(lambda: os.path.exists(master) and os.path.exists(variant), timeout_s=30), srs.log_text()[-3000:]

        def get(path):
            with urllib.request.urlopen(srs.http_url(path), timeout=10) as r:
                return r.read().decode()
        # the master on disk opens the session itself (no wrapper master around it), its variant carries it
        variants = parse_master(get("live/ctx_abr.m3u8"))
        assert len(variants) == 1 and variants[0][1].startswith("ctx_q.m3u8?hls_ctx="), variants
        ctx = variants[0][1].split("hls_ctx=")[1]
        again = parse_master(get("live/ctx_abr.m3u8?hls_ctx=" + ctx))  # a reload of the master: same session
        assert [uri for _, uri in again] == ["ctx_q.m3u8?hls_ctx=" + ctx]
        media = get("live/" + variants[0][1])  # the same session: the media playlist itself
        assert "#EXTINF" in media and "hls_ctx=" + ctx in media
        pub.join(60)
