"""DASH end to end (issue 17): the real server, PyAV publishing over RTMP, and real DASH readers.

- Debian's ffmpeg 5.1 dash demuxer reads the live MPD over HTTP while the stream is published and
  decodes every frame across several segment boundaries (H.264 + AAC);
- HEVC and AV1: PyAV (whose wheel has no DASH reader: no libxml2) decodes the init + media segments
  fetched over HTTP, every frame, at the published size;
- the window: the MPD lists dash_window_size segments, the files of older ones are deleted
  (dash_cleanup), and dash_dispose removes everything after the publisher left;
- a stream name that would write outside dash_path (through a symlink planted in it) stops DASH for
  that publish; the stream itself goes on.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import urllib.request

import av
import pytest

from fixtures.media import make_flv
from fixtures.media_ex import make_flv_ex, publish_ex
from fixtures.srs_server import SrsProcess, publish_bg, publish_flv, wait_for

FFMPEG = shutil.which("ffmpeg")


def dash_block(html, extra=""):
    return f"dash {{ enabled on; dash_fragment 1; dash_update_period 1; dash_path {html}; {extra} }}"


def fetch(srs, path: str) -> bytes:
    with urllib.request.urlopen(srs.http_url(path), timeout=5) as r:
        return r.read()


def timeline(mpd: str, rid: str):
    """(startNumber, [(t, d)]) of one representation of the MPD text."""
    block = mpd[mpd.index(f'<Representation id="{rid}"'):]
    block = block[:block.index("</Representation>")]
    start = int(re.search(r'startNumber="(\d+)"', block).group(1))
    return start, [(int(t), int(d)) for t, d in re.findall(r'<S t="(\d+)" d="(\d+)"/>', block)]


@pytest.fixture(scope="module")
def media10(tmp_path_factory):
    """10 s of H.264 + AAC, 1 s GOPs."""
    return make_flv(tmp_path_factory.mktemp("dash") / "av10.flv", seconds=10, fps=25, gop=25, audio="aac")


@pytest.mark.skipif(FFMPEG is None, reason="Debian ffmpeg not installed")
def test_ffmpeg_dash_demuxer_decodes_the_live_mpd_frame_complete(tmp_path, media10):
    with SrsProcess(tmp_path, vhost_body=dash_block(tmp_path / "html", "dash_window_size 5;")) as srs:
        pub = publish_bg(media10.path, srs.rtmp_url("live/livestream"))
        mpd_file = tmp_path / "html/live/livestream.mpd"
        # two segments listed: the reader starts at the first and follows the live edge from there
        assert wait_for(lambda: mpd_file.exists() and len(timeline(mpd_file.read_text(), "video")[1]) >= 2, 20)
        r = subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-i", srs.http_url("live/livestream.mpd"),
                            "-t", "4.5", "-f", "framecrc", "-"], capture_output=True, text=True, timeout=90)
        pub.join(30)
    assert r.returncode == 0, r.stderr[-2000:]
    frames = [line.split(",") for line in r.stdout.splitlines() if line and not line.startswith("#")]
    video = [int(f[1]) for f in frames if f[0] == "0"]
    audio = [f for f in frames if f[0] == "1"]
    # 4.5 s at 25 fps across at least 4 segment boundaries, no frame missing or repeated
    assert len(video) >= 100, len(video)
    assert video == list(range(video[0], video[0] + len(video)))
    assert len(audio) >= 4 * 43


@pytest.mark.parametrize("vcodec,decoders", [("hevc", ("hevc",)), ("av1", ("libdav1d", "av1"))])
def test_hevc_av1_segments_over_http_decode_every_frame(tmp_path, vcodec, decoders):
    media = make_flv_ex(tmp_path / f"{vcodec}.flv", vcodec=vcodec, seconds=3, width=352, height=288, gop=25)
    with SrsProcess(tmp_path, vhost_body=dash_block(tmp_path / "html", "dash_window_size 5;")) as srs:
        publish_ex(media.path, srs.rtmp_url(f"live/{vcodec}"), realtime=False)
        mpd_file = tmp_path / f"html/live/{vcodec}.mpd"
        assert wait_for(lambda: mpd_file.exists() and len(timeline(mpd_file.read_text(), "video")[1]) == 3, 10)
        mpd = fetch(srs, f"live/{vcodec}.mpd").decode()
        start, segs = timeline(mpd, "video")
        data = fetch(srs, f"live/{vcodec}/video-init.mp4") + b"".join(
            fetch(srs, f"live/{vcodec}/video-{n}.m4s") for n in range(start, start + len(segs)))
        audio = fetch(srs, f"live/{vcodec}/audio-init.mp4") + fetch(srs, f"live/{vcodec}/audio-{start}.m4s")
    assert 'codecs="%s' % {"hevc": "hvc1.1.6.L", "av1": "av01.0."}[vcodec] in mpd
    frames = 0
    with av.open(io.BytesIO(data), format="mp4") as c:
        s = c.streams.video[0]
        s.thread_type = "NONE"  # libdav1d would keep frames back until the flush below
        for _ in c.decode(s):
            frames += 1
        assert s.codec_context.name in decoders
        assert (s.codec_context.width, s.codec_context.height) == (352, 288)
    assert frames == media.video_frames
    with av.open(io.BytesIO(audio), format="mp4") as c:
        assert c.streams.audio[0].codec_context.name == "aac"
        assert sum(1 for _ in c.decode(audio=0)) >= 40


def test_window_cleanup_and_dispose(tmp_path, media10):
    html = tmp_path / "html"
    with SrsProcess(tmp_path, vhost_body=dash_block(html, "dash_window_size 2; dash_dispose 1;")) as srs:
        publish_flv(media10.path, srs.rtmp_url("live/w"), realtime=False)
        mpd_file = html / "live/w.mpd"
        assert wait_for(lambda: mpd_file.exists() and timeline(mpd_file.read_text(), "video")[0] == 9, 10)
        start, segs = timeline(mpd_file.read_text(), "video")
        assert len(segs) == 2 and segs[0][0] + segs[0][1] == segs[1][0]  # contiguous
        names = sorted(os.listdir(html / "live/w"))
        videos = sorted(int(n[6:-4]) for n in names if n.startswith("video-") and n.endswith(".m4s"))
        assert videos == [7, 8, 9, 10]  # twice the window is kept
        assert "video-init.mp4" in names and "audio-init.mp4" in names
        assert not [n for n in names if n.endswith(".tmp")]
        # one second after the unpublish, every file of the stream is gone
        assert wait_for(lambda: not mpd_file.exists() and not os.listdir(html / "live/w"), 10)


def test_a_name_leaving_dash_path_stops_dash_only(tmp_path, media10):
    html, elsewhere = tmp_path / "html", tmp_path / "elsewhere"
    html.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, html / "evil")  # planted inside the root, pointing outside it
    with SrsProcess(tmp_path, vhost_body=dash_block(html) + " http_remux { enabled on; }") as srs:
        publish_flv(media10.path, srs.rtmp_url("evil/s"), realtime=False)
        assert srs.wait_log("dash: ", 1) and wait_for(lambda: "refused for this publish" in srs.log_text(), 5)
    assert os.listdir(elsewhere) == []
