"""LL-HLS (``hls_ll on`` with ``hls_use_fmp4 on``, app/hls/ll.py) through the real server.

PyAV publishes over RTMP. The LL playlist lists parts (EXT-X-PART) whose bytes, concatenated, are the
segment on disk; Debian's ffmpeg 5.1 (a client that ignores parts) decodes every frame from it. While a
stream is published in real time: a blocking reload (``_HLS_msn`` of the next segment) returns only
once that segment is listed, a request for the preload-hinted part waits for it, ``_HLS_skip=YES`` gives
an EXT-X-SKIP, and garbage directives are 400. hls.js with ``lowLatencyMode`` plays it in Chromium:
test_llhls_hlsjs.py.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from fixtures.media import make_flv
from fixtures.srs_server import SrsProcess, media_playlist, publish_flv, wait_for

FFMPEG = shutil.which("ffmpeg")
PART_TARGET = 0.333


def ll_block(html, extra="", td_ratio=1):
    return (f"hls {{ enabled on; hls_fragment 1; hls_td_ratio {td_ratio}; hls_path {html}; hls_use_fmp4 on; "
            f"hls_ll on; hls_part {PART_TARGET}; {extra} }}")


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def status_of(url):
    try:
        get(url)
    except urllib.error.HTTPError as e:
        return e.code
    return 200


def parts_of(text):
    """[(duration, uri, independent)] of the EXT-X-PART lines."""
    return [(float(m.group(1)), m.group(2), bool(m.group(3)))
            for m in re.finditer(r'#EXT-X-PART:DURATION=([0-9.]+),URI="([^"]+)"(,INDEPENDENT=YES)?', text)]


def msns(text):
    first = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))
    return first, first + text.count("#EXTINF") - 1


def with_query(url, **q):
    return url + ("&" if "?" in url else "?") + urllib.parse.urlencode(q)


@pytest.mark.skipif(FFMPEG is None, reason="Debian ffmpeg not installed")
def test_parts_make_the_segments_and_ffmpeg_decodes_every_frame(tmp_path, media_flv):
    html = str(tmp_path / "html")
    with SrsProcess(tmp_path, vhost_body=ll_block(html)) as srs:
        publish_flv(media_flv.path, srs.rtmp_url("live/ll"), realtime=False)
        m3u8 = os.path.join(html, "live/ll.m3u8")
        assert wait_for(lambda: os.path.exists(m3u8) and open(m3u8).read().count("#EXTINF") >= 4, 10)
        assert srs.wait_unpublished("live/ll")
        text, url = media_playlist(srs.http_url("live/ll.m3u8"))
        lines = text.splitlines()
        assert "#EXT-X-VERSION:9" in lines and "#EXT-X-PART-INF:PART-TARGET=0.333" in lines
        assert any(ln.startswith("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,") for ln in lines)
        parts = parts_of(text)
        assert len(parts) >= 8, text
        # every part within the target (one 40 ms frame of jitter at most), the first of a segment independent
        assert all(0 < d <= PART_TARGET + 0.041 for d, _, _ in parts), parts
        segments = [ln for ln in lines if ln and not ln.startswith("#")]
        ctx = segments[0].split("?hls_ctx=")[1]  # hls_ctx on (the default): parts name the session too
        assert all(u.endswith("?hls_ctx=" + ctx) for _, u, _ in parts), parts
        sent = 0
        for seg in segments:
            name = seg.split("?")[0]
            mine = [(u, ind) for _, u, ind in parts if u.startswith(name[:-4] + ".part")]
            assert mine and mine[0][1], (seg, mine)
            data = b"".join(get(urllib.parse.urljoin(url, u)) for u, _ in mine)
            sent += len(data)
            disk = open(os.path.join(html, "live", name), "rb").read()
            assert data == disk, (seg, mine, len(data), len(disk), data.find(disk[:200]), disk.find(data[:200]))
            assert data[4:8] == b"styp" and data.count(b"moof") == len(mine)

        def session_bytes():
            with urllib.request.urlopen(srs.api_url("/api/v1/clients"), timeout=5) as r:
                return sum(c["send_bytes"] for c in json.load(r)["clients"] if c.get("type") == "hls-play")
        assert wait_for(lambda: session_bytes() >= sent, 5)  # the parts counted to the session
        # an old client (ffmpeg 5.1 knows no EXT-X-PART) plays the full segments
        r = subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-live_start_index", "0",
                            "-m3u8_hold_counters", "2", "-i", url, "-f", "framecrc", "-"],
                           capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr[-2000:]
    frames = [ln for ln in r.stdout.splitlines() if ln and not ln.startswith("#")]
    assert sum(ln.startswith("0,") for ln in frames) == media_flv.video_frames
    assert abs(sum(ln.startswith("1,") for ln in frames) - media_flv.audio_frames) <= 1


def test_blocking_reload_preload_hint_and_delta_update(tmp_path):
    media = make_flv(tmp_path / "long.flv", seconds=10, fps=25, gop=25, audio="aac")
    html = str(tmp_path / "html")
    with SrsProcess(tmp_path, vhost_body=ll_block(html)) as srs:
        pub = threading.Thread(target=publish_flv, args=(media.path, srs.rtmp_url("live/b")),
                               kwargs={"realtime": True}, daemon=True)
        pub.start()
        m3u8 = os.path.join(html, "live/b.m3u8")
        assert wait_for(lambda: os.path.exists(m3u8) and open(m3u8).read().count("#EXTINF") >= 2, 15)
        text, url = media_playlist(srs.http_url("live/b.m3u8"))

        # garbage directives: 400 at once
        for q in ({"_HLS_msn": "x"}, {"_HLS_part": "0"}, {"_HLS_msn": "-3"}, {"_HLS_msn": "99999"},
                  {"_HLS_skip": "no"}, {"_HLS_msn": "1", "_HLS_part": "1" * 12}):
            assert status_of(with_query(url, **q)) == 400, q

        # blocking reload: the next full segment; the answer lists it, and it took a while to come
        _, last = msns(text)
        t0 = time.monotonic()
        blocked = get(with_query(url, _HLS_msn=last + 1)).decode()
        waited = time.monotonic() - t0
        assert msns(blocked)[1] >= last + 1, blocked
        assert waited > 0.05, waited  # loosely: the segment was not there when asked

        # the preload-hinted part, asked before it exists, comes when it is written
        hint = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"', blocked).group(1)
        data = get(urllib.parse.urljoin(url, hint))
        assert b"moof" in data[:64] and b"mdat" in data
        # and the blocking reload for that part lists it
        m = re.match(r".*-(\d+)\.part(\d+)\.m4s(\?|$)", hint)
        msn, part = int(m.group(1)), int(m.group(2))
        listed = get(with_query(url, _HLS_msn=msn, _HLS_part=part)).decode()
        assert hint in [u for _, u, _ in parts_of(listed)]

        # delta update: once the playlist is longer than CAN-SKIP-UNTIL (6 s here), older segments skip
        def delta():
            body = get(with_query(url, _HLS_skip="YES")).decode()
            return body if "#EXT-X-SKIP:SKIPPED-SEGMENTS=" in body else None
        skipped = wait_for(delta, 15, 0.3)
        assert skipped, get(url).decode()
        n = int(re.search(r"SKIPPED-SEGMENTS=(\d+)", skipped).group(1))
        full = get(url).decode()
        assert skipped.count("#EXTINF") + n >= full.count("#EXTINF") - 1  # a segment may have come between
        pub.join(30)


def test_ll_without_hls_ctx_and_regular_file_on_disk(tmp_path, media_flv):
    """hls_ctx off: the router serves the LL playlist itself; the m3u8 on disk stays the regular one."""
    html = str(tmp_path / "html")
    with SrsProcess(tmp_path, vhost_body=ll_block(html, "hls_ctx off;")) as srs:
        publish_flv(media_flv.path, srs.rtmp_url("live/n"), realtime=False)
        m3u8 = os.path.join(html, "live/n.m3u8")
        assert wait_for(lambda: os.path.exists(m3u8) and open(m3u8).read().count("#EXTINF") >= 3, 10)
        assert srs.wait_unpublished("live/n")
        url = srs.http_url("live/n.m3u8")
        text = get(url).decode()
        assert "#EXT-X-STREAM-INF" not in text and parts_of(text), text
        assert "#EXT-X-PART" not in open(m3u8).read()
        # the stream is over: a blocking request for what exists answers at once, the next one too (no wait)
        _, last = msns(text)
        assert msns(get(with_query(url, _HLS_msn=last)).decode())[1] == last
        t0 = time.monotonic()
        assert status_of(with_query(url, _HLS_msn=last + 1)) == 503
        assert time.monotonic() - t0 < 2  # no publisher: nothing to wait for
        assert status_of(srs.http_url("live/n-0.part99.m4s")) == 404


def test_audio_only_stream_has_parts_all_independent(tmp_path, media_flv_audio_only):
    """No video: parts are cut before audio frames, each independent; PyAV decodes every parts' audio."""
    import av
    html = str(tmp_path / "html")
    # audio segments are cut at hls_aof_ratio (2) x hls_fragment: a 2 s target keeps them
    with SrsProcess(tmp_path, vhost_body=ll_block(html, "hls_ctx off;", td_ratio=2)) as srs:
        publish_flv(media_flv_audio_only.path, srs.rtmp_url("live/a"), realtime=False)
        m3u8 = os.path.join(html, "live/a.m3u8")
        assert wait_for(lambda: os.path.exists(m3u8) and open(m3u8).read().count("#EXTINF") >= 2, 10)
        assert srs.wait_unpublished("live/a")
        text = get(srs.http_url("live/a.m3u8")).decode()
        parts = parts_of(text)
        assert len(parts) >= 4 and all(ind and d <= PART_TARGET + 0.03 for d, _, ind in parts), text
        init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text).group(1)
        data = get(srs.http_url("live/" + init)) + b"".join(get(srs.http_url("live/" + u)) for _, u, _ in parts)
    samples = 0
    import io
    with av.open(io.BytesIO(data), format="mp4") as c:
        for frame in c.decode(audio=0):
            samples += frame.samples
    listed = sum(d for d, _, _ in parts)
    assert abs(samples / 44100.0 - listed) < 0.1, (samples, listed)
