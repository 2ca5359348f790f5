"""``hls_use_fmp4 on`` (issue 17): HLS in fMP4/CMAF through the real server, read by real HLS demuxers.

PyAV publishes over RTMP; after the publish the playlist (version 7, EXT-X-MAP to the init segment,
.m4s segments) is read over HTTP by Debian's ffmpeg 5.1 (H.264 + AAC, HEVC) and by PyAV's FFmpeg 8
(AV1), which decode every frame at the published size. (hls.js plays it in Chromium:
utest/app/http/test_players_page.py.) A codec change mid-stream writes a new init and a new EXT-X-MAP.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess

import av
import pytest

from fixtures.media_ex import make_flv_ex, publish_ex
from fixtures.srs_server import SrsProcess, publish_flv, wait_for
from srs.kernel.m3u8 import Segment, render

FFMPEG = shutil.which("ffmpeg")
# a live playlist read from its first segment; the reader gives up 2 reloads after the last one
LIVE_FROM_START = {"live_start_index": "0", "m3u8_hold_counters": "2"}


def hls_block(html):
    return f"hls {{ enabled on; hls_fragment 1; hls_path {html}; hls_use_fmp4 on; }}"


def ffmpeg_frames(url: str):
    """(video frames, audio frames) Debian's ffmpeg decodes from a live HLS URL."""
    args = [FFMPEG, "-hide_banner", "-loglevel", "error"]
    for k, v in LIVE_FROM_START.items():
        args += ["-" + k, v]
    r = subprocess.run(args + ["-i", url, "-f", "framecrc", "-"], capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [ln for ln in r.stdout.splitlines() if ln and not ln.startswith("#")]
    return sum(ln.startswith("0,") for ln in lines), sum(ln.startswith("1,") for ln in lines)


def publish_and_wait(srs, html, path, name, ex=False, segments=4):
    (publish_ex if ex else publish_flv)(path, srs.rtmp_url(f"live/{name}"), realtime=False)
    m3u8 = os.path.join(html, f"live/{name}.m3u8")
    assert wait_for(lambda: os.path.exists(m3u8) and open(m3u8).read().count("#EXTINF") >= segments, 10)
    assert srs.wait_unpublished(f"live/{name}")
    return open(m3u8).read()


@pytest.mark.skipif(FFMPEG is None, reason="Debian ffmpeg not installed")
def test_h264_aac_playlist_and_ffmpeg_decodes_every_frame(tmp_path, media_flv):
    html = str(tmp_path / "html")
    with SrsProcess(tmp_path, vhost_body=hls_block(html)) as srs:
        text = publish_and_wait(srs, html, media_flv.path, "livestream")
        lines = text.splitlines()
        assert "#EXT-X-VERSION:7" in lines
        assert lines.count('#EXT-X-MAP:URI="livestream-init0.mp4"') == 1
        assert [ln for ln in lines if ln.endswith(".m4s")][:2] == ["livestream-0.m4s", "livestream-1.m4s"]
        video, audio = ffmpeg_frames(srs.http_url("live/livestream.m3u8"))
    assert video == media_flv.video_frames
    assert abs(audio - media_flv.audio_frames) <= 1
    assert not [n for n in os.listdir(os.path.join(html, "live")) if n.endswith((".ts", ".tmp"))]


@pytest.mark.skipif(FFMPEG is None, reason="Debian ffmpeg not installed")
def test_hevc_fmp4_hls_decodes_in_ffmpeg_5(tmp_path):
    media = make_flv_ex(tmp_path / "hevc.flv", vcodec="hevc", seconds=4, width=352, height=288)
    html = str(tmp_path / "html")
    with SrsProcess(tmp_path, vhost_body=hls_block(html)) as srs:
        publish_and_wait(srs, html, media.path, "hevc", ex=True)
        video, audio = ffmpeg_frames(srs.http_url("live/hevc.m3u8"))
        init = open(os.path.join(html, "live/hevc-init0.mp4"), "rb").read()
    assert b"hvc1" in init and b"hvcC" in init
    assert video == media.video_frames
    assert abs(audio - media.audio_frames) <= 1


def test_av1_fmp4_hls_decodes_in_pyav(tmp_path):
    media = make_flv_ex(tmp_path / "av1.flv", vcodec="av1", seconds=4, width=352, height=288)
    html = str(tmp_path / "html")
    with SrsProcess(tmp_path, vhost_body=hls_block(html)) as srs:
        publish_and_wait(srs, html, media.path, "av1", ex=True)
        frames, size, name = 0, None, None
        with av.open(srs.http_url("live/av1.m3u8"), options=LIVE_FROM_START, timeout=10) as c:
            s = c.streams.video[0]
            s.thread_type = "NONE"  # libdav1d would hold frames back with frame threads
            for frame in c.decode(s):
                frames += 1
                size, name = (frame.width, frame.height), s.codec_context.name
    assert name in ("libdav1d", "av1") and size == (352, 288)
    assert frames == media.video_frames


def test_playlist_text_with_maps():
    segs = []
    for seq, init in enumerate(("a-init0.mp4", "a-init0.mp4", "a-init1.mp4")):
        s = Segment(seq, seq * 1000, f"/h/a-{seq}.m4s", f"a-{seq}.m4s")
        s.duration_ms, s.map_uri = 1000, init
        segs.append(s)
    segs[2].discontinuity = True
    assert render(segs, 1.5).decode().splitlines() == [
        "#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-ALLOW-CACHE:YES", "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-TARGETDURATION:2",
        '#EXT-X-MAP:URI="a-init0.mp4"', "#EXTINF:1.000, no desc", "a-0.m4s",
        "#EXTINF:1.000, no desc", "a-1.m4s",
        "#EXT-X-DISCONTINUITY", '#EXT-X-MAP:URI="a-init1.mp4"', "#EXTINF:1.000, no desc", "a-2.m4s"]


def test_a_new_video_size_mid_stream_writes_a_new_init(tmp_path, media_flv):
    """The publisher changes resolution (a new avcC): the segment ends, init1 is written and mapped after
    a discontinuity; each init with its segments decodes at its own size, every frame."""
    from fixtures.hls_output import conf, publish
    from fixtures.hub_host import hls_host, is_eos
    from fixtures.media import make_flv
    from srs.kernel.flv import iter_flv_tags
    big = make_flv(tmp_path / "big.flv", seconds=2, width=352, height=288, fps=25, gop=25, audio="aac")
    first = [m for m in iter_flv_tags(media_flv.data) if not is_eos(m)]
    shift = max(m.ts_ms for m in first) + 40
    second = [m.with_ts(m.ts_ms + shift) for m in iter_flv_tags(big.data) if not is_eos(m) and m.is_av]
    host = hls_host(conf(str(tmp_path / "h"), "hls_fragment 1; hls_use_fmp4 on;"), tmp_path)
    publish(host, first + second)
    lines = open(tmp_path / "h/live/livestream.m3u8").read().splitlines()
    maps = [i for i, ln in enumerate(lines) if ln.startswith("#EXT-X-MAP:")]
    assert [lines[i] for i in maps] == ['#EXT-X-MAP:URI="livestream-init0.mp4"', '#EXT-X-MAP:URI="livestream-init1.mp4"']
    assert lines[maps[1] - 1] == "#EXT-X-DISCONTINUITY"
    sizes, frames = [], 0
    for start, end in ((maps[0], maps[1]), (maps[1], len(lines))):
        init = lines[start].split('"')[1]
        data = open(tmp_path / "h/live" / init, "rb").read() + b"".join(
            open(tmp_path / "h/live" / ln, "rb").read() for ln in lines[start:end] if ln.endswith(".m4s"))
        with av.open(io.BytesIO(data), format="mp4") as c:
            for frame in c.decode(video=0):
                frames += 1
                sizes.append((frame.width, frame.height))
    assert frames == media_flv.video_frames + big.video_frames
    assert sizes[0] == (320, 240) and sizes[-1] == (352, 288)


def test_hls_ctx_sessions_count_fmp4_segments(tmp_path, media_flv):
    """hls_ctx on (SRS 5 sessions): the .m4s lines carry the session, and fetching them counts to it."""
    import json
    import re
    import urllib.request
    html = str(tmp_path / "html")
    block = f"hls {{ enabled on; hls_fragment 1; hls_path {html}; hls_use_fmp4 on; hls_ctx on; }}"
    with SrsProcess(tmp_path, vhost_body=block) as srs:
        publish_and_wait(srs, html, media_flv.path, "c")
        master = urllib.request.urlopen(srs.http_url("live/c.m3u8"), timeout=5).read().decode()
        ctx = re.search(r"hls_ctx=([a-z0-9]{8})", master).group(1)
        playlist = urllib.request.urlopen(srs.http_url(f"live/c.m3u8?hls_ctx={ctx}"), timeout=5).read().decode()
        segments = [ln for ln in playlist.splitlines() if ln and not ln.startswith("#")]
        assert segments and all(ln.endswith(f".m4s?hls_ctx={ctx}") for ln in segments), playlist
        size = len(urllib.request.urlopen(srs.http_url("live/" + segments[0]), timeout=5).read())

        def session_bytes():
            with urllib.request.urlopen(srs.api_url("/api/v1/clients"), timeout=5) as r:
                clients = [c for c in json.load(r)["clients"] if c.get("type") == "hls-play"]
            return clients[0]["send_bytes"] if clients else 0
        assert wait_for(lambda: session_bytes() >= size, 5)
