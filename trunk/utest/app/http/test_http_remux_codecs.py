"""HTTP-TS/AAC/MP3 follow the stream's real audio codec (issue 18 §7, §9): a .ts player that
asks before an H.264 + MP3 publisher gets MP3 in its TS, and so does a later one sharing its remux;
.mp3 of an AAC stream (and .aac of an MP3 one) is refused or closed instead of sending nothing.
The real server, PyAV publishing and decoding."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from fixtures.srs_server import Player, SrsProcess, publish_bg, wait_for

REMUX = "http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }"


def _wait_log(srs, text: str, count: int = 1, timeout_s: float = 10.0) -> None:
    assert wait_for(lambda: srs.log_text().count(text) >= count, timeout_s), f"no {text!r} in the log"


def test_ts_of_mp3_stream_early_and_late_joiners(tmp_path, media_flv_mp3):
    media = media_flv_mp3
    with SrsProcess(tmp_path, vhost_body=REMUX) as srs:
        early = Player(srs.http_url("live/mp3.ts"), read_timeout_s=3, max_seconds=20)
        early.start()
        _wait_log(srs, "HTTP ts play __defaultVhost__/live/mp3")
        # two loops (8 s) in real time: the late player joins in the first, sees the second whole
        pub = publish_bg(media.path, srs.rtmp_url("live/mp3"), loops=2)
        _wait_log(srs, "HTTP ts __defaultVhost__/live/mp3: remux with audio mp3")
        late = Player(srs.http_url("live/mp3.ts"), read_timeout_s=3, max_seconds=20)
        late.start()
        _wait_log(srs, "HTTP ts play __defaultVhost__/live/mp3", 2)
        pub.join(30)
        early.join(30)
        late.join(30)
        assert not pub.is_alive() and not early.is_alive() and not late.is_alive()
        for p in (early, late):
            assert p.error is None, p.error
            assert p.vcodec == "h264" and p.acodec.startswith("mp3"), (p.vcodec, p.acodec)
            assert p.first_video_key and p.monotonic()
        # the early player has every frame of both loops, the late one all since its keyframe
        assert early.video_frames == 2 * media.video_frames
        assert early.audio_frames == 2 * media.audio_frames
        assert early.video_pts[-1] == late.video_pts[-1]
        joined = sum(1 for t in early.video_pts if t >= late.video_pts[0])
        assert late.video_frames == joined and late.video_frames >= media.video_frames
        assert late.audio_frames >= media.audio_frames


def _get_head(port: int, path: str, timeout_s: float = 10.0) -> tuple:
    """(status line, seconds until the server closed, body bytes) of a raw HTTP/1.1 GET."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
    s.sendall(f"GET /{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    data = b""
    t0 = time.monotonic()
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), time.monotonic() - t0, body


@pytest.mark.parametrize("ext,fixture,codec", [("mp3", "media_flv", "AAC"), ("aac", "media_flv_mp3", "MP3")])
def test_audio_format_of_other_codec_is_refused(tmp_path, request, ext, fixture, codec):
    media = request.getfixturevalue(fixture)
    want = "MP3" if ext == "mp3" else "AAC"
    why = f"the stream's audio is {codec}, .{ext} needs {want} audio"
    with SrsProcess(tmp_path, vhost_body=REMUX) as srs:
        # asked before the publisher: 200 (the codec is unknown), closed once the audio tells
        early = []
        t = threading.Thread(target=lambda: early.append(_get_head(srs.http_port, f"live/s.{ext}")))
        t.start()
        _wait_log(srs, f"HTTP {ext} play __defaultVhost__/live/s")
        pub = publish_bg(media.path, srs.rtmp_url("live/s"), loops=2)
        t.join(15)
        assert not t.is_alive()
        status, took, body = early[0]
        assert status == "HTTP/1.1 200 OK" and body in (b"", b"0\r\n\r\n"), early
        _wait_log(srs, f"of __defaultVhost__/live/s closed: {why}")
        # asked while the stream plays: refused at once with the reason
        status, _, body = _get_head(srs.http_port, f"live/s.{ext}")
        assert status == "HTTP/1.1 415 Unsupported Media Type" and why.encode() in body
        _wait_log(srs, f"HTTP play __defaultVhost__/live/s refused: {why}")
        pub.join(30)
        assert "Traceback" not in srs.log_text()


def test_mp3_of_video_only_stream_is_closed(tmp_path, media_flv_video_only):
    why = "the stream has no audio for .mp3"
    with SrsProcess(tmp_path, vhost_body=REMUX) as srs:
        early = []
        t = threading.Thread(target=lambda: early.append(_get_head(srs.http_port, "live/v.mp3", 20)))
        t.start()
        _wait_log(srs, "HTTP mp3 play __defaultVhost__/live/v")
        pub = publish_bg(media_flv_video_only.path, srs.rtmp_url("live/v"), loops=2)
        t.join(20)
        assert not t.is_alive() and early[0][0] == "HTTP/1.1 200 OK", early
        _wait_log(srs, f"of __defaultVhost__/live/v closed: {why}")
        pub.join(30)
