"""Snapshots end to end: a red|blue test pattern published over RTMP (PyAV), fetched as .jpg/.png from
the real server, decoded with PyAV and checked by size and by the colour of each half.

The pattern's GOP is long (4 s) so that requests made together fall on one keyframe: the server's log
then shows how many decodes they cost (one per keyframe however many clients asked).
"""
from __future__ import annotations

import io
import json
import os
import re
import threading
import urllib.error
import urllib.request

import av
import pytest

from fixtures.media_ex import make_flv_ex, publish_ex_bg
from fixtures.srs_server import SrsProcess, wait_for

WIDTH, HEIGHT = 640, 360
RED = (81, 90, 240)    # BT.601 limited-range Y, U, V of pure red
BLUE = (41, 240, 110)  # ... and of pure blue


def paint_red_blue(frame, _index, width, height):
    """Left half red, right half blue (yuv420p: the chroma planes are half as wide)."""
    for plane, (left, right) in zip(frame.planes, zip(RED, BLUE)):
        half = plane.width // 2
        row = bytes([left]) * half + bytes([right]) * (plane.line_size - half)
        plane.update(row * plane.height)


@pytest.fixture(scope="module")
def split_media(tmp_path_factory):
    d = tmp_path_factory.mktemp("snap")
    return {codec: make_flv_ex(d / ("split-%s.flv" % codec), vcodec=codec, seconds=8, width=WIDTH, height=HEIGHT,
                               gop=100, audio="aac", paint=paint_red_blue)
            for codec in ("h264", "hevc")}


def fetch(url: str):
    """(status, content type, body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def decode_picture(data: bytes):
    """The picture as (width, height, rgb24 frame) decoded by PyAV (FFmpeg's mjpeg/png decoders)."""
    with av.open(io.BytesIO(data)) as c:
        frame = next(c.decode(video=0))
    return frame.width, frame.height, frame.reformat(format="rgb24")


def rgb_at(frame, x: int, y: int):
    plane = frame.planes[0]
    off = y * plane.line_size + 3 * x
    return tuple(bytes(plane)[off:off + 3])


def assert_red_blue(data: bytes, width: int, height: int) -> None:
    w, h, rgb = decode_picture(data)
    assert (w, h) == (width, height)
    r, g, b = rgb_at(rgb, w // 4, h // 2)
    assert r > 200 and g < 50 and b < 50, (r, g, b)
    r, g, b = rgb_at(rgb, 3 * w // 4, h // 2)
    assert b > 200 and r < 50 and g < 50, (r, g, b)


def api_snapshots(srs) -> list:
    """The ``snapshot`` fields of /api/v1/streams (None for a stream without video)."""
    with urllib.request.urlopen(srs.api_url("api/v1/streams"), timeout=10) as r:
        return [s["snapshot"] for s in json.loads(r.read())["streams"]]


def wait_snapshot(srs, path: str):
    """Polls until the stream's first keyframe is there (the snapshot answers 200)."""
    got = wait_for(lambda: (lambda s: s if s[0] == 200 else None)(fetch(srs.http_url(path))), timeout_s=20)
    assert got, "no snapshot of %s: %s" % (path, fetch(srs.http_url(path))[:2])
    return got


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_snapshot_jpg_png_sizes_and_colours(tmp_path, split_media, codec):
    with SrsProcess(tmp_path, vhost_body="http_remux { enabled on; }") as srs:
        pub = publish_ex_bg(split_media[codec].path, srs.rtmp_url("live/snap"))
        status, ctype, data = wait_snapshot(srs, "live/snap.jpg")
        assert ctype == "image/jpeg" and data[:2] == b"\xff\xd8"
        assert_red_blue(data, WIDTH, HEIGHT)
        status, ctype, data = fetch(srs.http_url("live/snap.png?w=320"))
        assert status == 200 and ctype == "image/png" and data[:4] == b"\x89PNG"
        assert_red_blue(data, 320, 180)  # the aspect kept
        status, _, data = fetch(srs.http_url("live/snap.jpg?h=90"))
        assert status == 200
        assert_red_blue(data, 160, 90)
        status, _, data = fetch(srs.http_url("live/snap.jpg?w=4000"))  # over max_width 1920
        assert status == 400
        assert api_snapshots(srs) == ["/live/snap.jpg"]  # the API names the snapshot of each stream
        pub.join(30)


def test_concurrent_requests_cost_one_decode(tmp_path, split_media):
    with SrsProcess(tmp_path) as srs:
        pub = publish_ex_bg(split_media["h264"].path, srs.rtmp_url("live/many"))
        # no request before the burst: the API's snapshot field says when the stream has video
        assert wait_for(lambda: "/live/many.jpg" in api_snapshots(srs), timeout_s=20)
        results = []
        barrier = threading.Barrier(12)

        def client(i):
            barrier.wait()
            results.append(fetch(srs.http_url("live/many.%s" % ("jpg" if i % 2 else "png"))))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(results) == 12 and all(s == 200 for s, _, _ in results)
        assert len({body for _, ctype, body in results if ctype == "image/jpeg"}) <= 2  # one per keyframe
        pub.join(30)
        srs.wait_unpublished("live/many")
        decodes = re.findall(r"snapshot \S+ decoded keyframe ts=(\d+)", srs.log_text())
        # 12 clients at once: one decode (two if a keyframe came in between), never one per client
        assert decodes and len(decodes) == len(set(decodes)) and len(decodes) <= 2, decodes


def test_snapshot_404_and_bad_names(tmp_path, media_flv_audio_only):
    with SrsProcess(tmp_path, vhost_body="http_remux { enabled on; }") as srs:
        assert fetch(srs.http_url("live/nostream.jpg"))[0] == 404
        pub = publish_ex_bg(media_flv_audio_only.path, srs.rtmp_url("live/audio"))
        assert srs.wait_published("live/audio")
        assert fetch(srs.http_url("live/audio.png"))[0] == 404  # published, but no video
        for bad in ("live/%252E%252E.jpg", "%252E%252E/x.png", "live/x.jpg?w=abc", "live/x.jpg?w=1", "live/x.png?h=-5",
                    "live/a%01b.jpg"):
            assert fetch(srs.http_url(bad))[0] == 400, bad
        assert "Traceback" not in srs.log_text()
        pub.join(30)


def test_periodic_snapshot_file(tmp_path, split_media):
    body = "snapshot { enabled on; interval 1; path %s/[app]/[stream].png; }" % os.path.join(str(tmp_path), "html")
    with SrsProcess(tmp_path, vhost_body=body) as srs:
        pub = publish_ex_bg(split_media["h264"].path, srs.rtmp_url("live/file"))
        path = os.path.join(srs.html, "live", "file.png")
        assert wait_for(lambda: os.path.exists(path), timeout_s=20), srs.log_text()[-2000:]
        with open(path, "rb") as f:
            assert_red_blue(f.read(), WIDTH, HEIGHT)
        pub.join(30)
        assert srs.wait_unpublished("live/file")
        # no longer live: the static file of that name answers
        status, _, data = fetch(srs.http_url("live/file.png"))
        assert status == 200
        assert_red_blue(data, WIDTH, HEIGHT)


def test_snapshot_obeys_the_play_security_rules(tmp_path, split_media):
    with SrsProcess(tmp_path, vhost_body="security { enabled on; deny play all; allow publish all; }") as srs:
        pub = publish_ex_bg(split_media["h264"].path, srs.rtmp_url("live/secret"))
        assert wait_for(lambda: "/live/secret.jpg" in api_snapshots(srs), timeout_s=20)
        assert fetch(srs.http_url("live/secret.jpg"))[0] == 403  # a picture of a stream is a play of it
        assert "snapshot '__defaultVhost__/live/secret' denied" in srs.log_text()
        pub.join(30)
