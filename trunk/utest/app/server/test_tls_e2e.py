"""HTTPS and RTMPS with real clients: PyAV (its FFmpeg's TLS) and Debian's ffmpeg/ffprobe.

The server under test uses the example key pair of trunk/conf (self-signed, for examples only), so
the clients do not verify it (FFmpeg's default; ``-tls_verify 0`` said explicitly for ffprobe).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import urllib.request

import av
import pytest

from fixtures.chromium_cdp import Chromium, chromium_path
from fixtures.media import make_flv
from fixtures.srs_server import (TRUNK, Player, SrsProcess, free_port, media_playlist, publish_bg, publish_flv,
                                  wait_for)

CONF_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "conf")
KEY = os.path.abspath(os.path.join(CONF_DIR, "server.key"))
CERT = os.path.abspath(os.path.join(CONF_DIR, "server.crt"))
REMUX = "http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }"


def _tls_block(port: int) -> str:
    return f"https {{ enabled on; listen {port}; key {KEY}; cert {CERT}; }}"


def _https_server(tmp_path, vhost_body: str = REMUX) -> SrsProcess:
    """The fixture's server plus http_server { https {} } on a free port (``srs.https_port``)."""
    srs = SrsProcess(tmp_path, vhost_body=vhost_body)
    port = free_port()
    text = open(srs.conf_path).read().replace(f"dir {srs.html}; }}", f"dir {srs.html}; {_tls_block(port)} }}")
    open(srs.conf_path, "w").write(text)
    srs.https_port = port
    return srs


def _insecure() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class FfprobeCount(threading.Thread):
    """Debian's ffprobe reads a live URL to its end and counts the video packets it read."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.packets = -1
        self.stderr = ""

    def run(self) -> None:
        p = subprocess.run(["ffprobe", "-v", "error", "-tls_verify", "0", "-rw_timeout", "5000000",
                            "-select_streams", "v", "-count_packets", "-show_entries", "stream=nb_read_packets",
                            "-of", "csv=p=0", self.url], capture_output=True, text=True, timeout=60)
        self.stderr = p.stderr
        out = p.stdout.strip()
        self.packets = int(out) if out.isdigit() else -1


def test_https_flv_pyav_and_ffprobe_get_every_frame(tmp_path, media_flv):
    with _https_server(tmp_path) as srs:
        assert srs.wait_log("HTTPS server listen at")
        url = f"https://127.0.0.1:{srs.https_port}/live/livestream.flv"
        player = Player(url, read_timeout_s=3)
        player.start()
        probe = FfprobeCount(url)
        probe.start()
        assert srs.wait_players("live/livestream", 2)  # both play before the publish
        publish_flv(media_flv.path, srs.rtmp_url("live/livestream"), realtime=True, speed=4.0)
        player.join(30)
        probe.join(60)
        assert player.error is None, player.error
        assert player.video_frames == media_flv.video_frames
        assert player.first_video_key is True and player.monotonic()
        assert (player.width, player.height) == (320, 240)
        assert probe.packets == media_flv.video_frames, probe.stderr
        # a static file, the same over HTTP and HTTPS (one mux behind both ports)
        with open(os.path.join(srs.html, "hello.txt"), "wb") as f:
            f.write(b"hello tls\n")
        with urllib.request.urlopen(srs.http_url("hello.txt"), timeout=5) as r:
            assert r.read() == b"hello tls\n"
        with urllib.request.urlopen(f"https://127.0.0.1:{srs.https_port}/hello.txt", timeout=5,
                                    context=_insecure()) as r:
            assert r.read() == b"hello tls\n"
    assert "Traceback" not in srs.output()


def test_hls_over_https_pyav_and_ffmpeg(tmp_path, media_flv):
    body = f"{REMUX}\nhls {{ enabled on; hls_fragment 2; hls_window 10; hls_path {tmp_path}/html; }}"
    with _https_server(tmp_path, body) as srs:
        publish_flv(media_flv.path, srs.rtmp_url("live/hls"), realtime=True, speed=2.0, loops=3)
        assert srs.wait_unpublished("live/hls")  # the last segment and the playlist are written
        base = f"https://127.0.0.1:{srs.https_port}/live/"
        m3u8, _ = media_playlist(base + "hls.m3u8", context=_insecure())
        assert m3u8.startswith("#EXTM3U")
        durations = [float(x) for x in re.findall(r"#EXTINF:([\d.]+),", m3u8)]
        uris = [ln for ln in m3u8.splitlines() if ln and not ln.startswith("#")]
        assert uris and len(uris) == len(durations)
        # every segment, fetched over HTTPS by PyAV, decodes whole from a keyframe
        total = 0
        for uri in uris:
            seg = av.open(base + uri, timeout=(5, 5))
            first = None
            for pkt in seg.demux(video=0):
                if first is None and pkt.size:
                    first = pkt.is_keyframe
                total += len(pkt.decode())
            seg.close()
            assert first is True, uri
        assert abs(total - sum(durations) * 25) <= max(3, 0.02 * total), (total, durations)
        # Debian's ffmpeg plays the playlist over HTTPS from its first segment. A live playlist has no
        # ENDLIST: ffmpeg polls for more forever, and holds the last frame of the last segment (its TS
        # demuxer hands a frame out when the next begins), so it stops one frame short of what PyAV
        # decoded; a missing frame would leave it waiting into the timeout
        want = total - 1
        p = subprocess.run(["ffmpeg", "-v", "error", "-tls_verify", "0", "-rw_timeout", "5000000",
                            "-live_start_index", "0", "-i", base + "hls.m3u8",
                            "-map", "0:v", "-c", "copy", "-frames:v", str(want), "-f", "framecrc", "-"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr[-2000:]
        frames = [ln for ln in p.stdout.splitlines() if ln and not ln.startswith("#")]
        assert len(frames) == want, (len(frames), want, p.stderr[-2000:])
    assert "Traceback" not in srs.output()


def test_rtmps_publish_then_play_over_rtmps_and_rtmp(tmp_path, media_flv):
    port = free_port()
    tls = f"rtmps {{ enabled on; listen {port}; key {KEY}; cert {CERT}; }}"
    with SrsProcess(tmp_path, global_body=tls) as srs:
        assert srs.wait_log("RTMPS listen at")
        rtmps_url = f"rtmps://127.0.0.1:{port}/live/livestream"
        over_tls = Player(rtmps_url, read_timeout_s=3)
        plain = Player(srs.rtmp_url("live/livestream"), read_timeout_s=3)
        over_tls.start()
        plain.start()
        assert srs.wait_players("live/livestream", 2)
        publish_flv(media_flv.path, rtmps_url, realtime=True, speed=4.0)
        for p in (over_tls, plain):
            p.join(30)
            assert p.error is None, (p.url, p.error)
            assert p.video_frames == media_flv.video_frames, p.url
            assert abs(p.audio_frames - media_flv.audio_frames) <= 2, p.url
            assert p.first_video_key is True and p.monotonic()
            assert (p.vcodec, p.acodec) == ("h264", "aac")
    assert "Traceback" not in srs.output()


def test_plaintext_and_stalled_handshake_do_not_harm_an_honest_player(tmp_path, media_flv):
    with _https_server(tmp_path) as srs:
        assert srs.wait_log("HTTPS server listen at")
        # stalled: TCP connected, half a TLS ClientHello, then nothing; silent: connected, nothing at all
        stalled = socket.create_connection(("127.0.0.1", srs.https_port), timeout=5)
        stalled.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        silent = socket.create_connection(("127.0.0.1", srs.https_port), timeout=5)
        # plaintext HTTP on the TLS port: refused by the handshake, closed
        plain = socket.create_connection(("127.0.0.1", srs.https_port), timeout=5)
        plain.sendall(b"GET /live/livestream.flv HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        try:
            while True:
                data = plain.recv(4096)
                if not data:
                    break
                answer += data
        except ConnectionResetError:
            pass
        assert b"HTTP/1.1 200" not in answer and b"FLV" not in answer
        plain.close()
        assert srs.wait_log("https: handshake: [SSL: HTTP_REQUEST]")
        url = f"https://127.0.0.1:{srs.https_port}/live/livestream.flv"
        player = Player(url, read_timeout_s=3)
        player.start()
        assert srs.wait_players("live/livestream")
        publisher = publish_bg(media_flv.path, srs.rtmp_url("live/livestream"), speed=4.0)
        publisher.join(30)
        player.join(30)
        assert publisher.error is None, publisher.error
        assert player.error is None, player.error
        assert player.video_frames == media_flv.video_frames
        assert player.first_video_key is True and player.monotonic()
        # the two that never finish a handshake are cut at its deadline (10 s from accept)
        assert srs.wait_log("https: handshake: handshake timeout", 2, timeout_s=20)
        stalled.close()
        silent.close()
    assert "Traceback" not in srs.output()


def test_https_api_and_bad_key_refuses_to_start(tmp_path):
    port = free_port()
    srs = SrsProcess(tmp_path)
    text = open(srs.conf_path).read().replace(f"listen {srs.api_port}; }}",
                                              f"listen {srs.api_port}; {_tls_block(port)} }}")
    open(srs.conf_path, "w").write(text)
    with srs:
        assert srs.wait_log("HTTPS API listen at")
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/api/v1/versions", timeout=5,
                                    context=_insecure()) as r:
            assert r.status == 200 and b'"code":0' in r.read()
    bad = tmp_path / "bad"
    bad.mkdir()
    srs = SrsProcess(bad, global_body=f"rtmps {{ enabled on; listen {free_port()}; key {bad}/none.key; "
                                      f"cert {CERT}; }}")
    srs.start(wait=False)
    assert srs.proc.wait(20) != 0
    assert "none.key" in srs.output()


def _flv_tags(body: bytes) -> int:
    """The tags of an FLV stream, every previous-tag-size checked; asserts it is whole and well formed."""
    assert body[:3] == b"FLV"
    pos, tags = 13, 0
    while pos < len(body):
        assert body[pos] in (8, 9, 18), ("tag type", pos, body[pos])
        size = int.from_bytes(body[pos + 1:pos + 4], "big")
        assert int.from_bytes(body[pos + 11 + size:pos + 15 + size], "big") == size + 11, ("tag size", pos)
        pos += 15 + size
        tags += 1
    assert pos == len(body)
    return tags


def test_https_player_that_stops_reading_gets_every_byte_through_its_backlog(tmp_path):
    """A TLS player whose socket fills: the tick's non-blocking TLS send (server/tls.py) leaves the
    whole buffer to the backlog, whose drainer sends those same bytes first (what OpenSSL requires);
    the stream arrives whole, tag by tag, every frame decodable."""
    # ~1.1 MB a loop, 13 MB in all: more than the kernel buffers hold (tcp_wmem's 4 MB + the 256 KB below)
    media = make_flv(tmp_path / "big.flv", seconds=4, width=640, height=360, vbitrate=4_000_000)
    loops = 12
    with _https_server(tmp_path, f"queue_length 60; {REMUX}") as srs:
        assert srs.wait_log("HTTPS server listen at")
        raw = socket.create_connection(("127.0.0.1", srs.https_port), timeout=30)
        # a fixed receive window (no autotuning to 32 MB): what the kernels hold stays below the stream
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
        s = _insecure().wrap_socket(raw)
        s.sendall(b"GET /live/slow.flv HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        assert srs.wait_players("live/slow")
        publisher = publish_bg(media.path, srs.rtmp_url("live/slow"), speed=8.0, loops=loops)
        assert srs.wait_log("blocked=1", timeout_s=30)  # not reading: its backlog holds the stream
        data = bytearray()
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if not publisher.is_alive():
                    s.settimeout(3)  # a live stream does not end: after the publisher, a quiet socket does
        except socket.timeout:
            pass
        publisher.join(30)
        assert publisher.error is None, publisher.error
        s.close()
        head, _, body = bytes(data).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.0 200")
        assert _flv_tags(body) > 0
        path = tmp_path / "got.flv"
        path.write_bytes(body)
        with av.open(str(path)) as c:
            frames = sum(len(p.decode()) for p in c.demux(video=0))
        assert frames == loops * media.video_frames
        assert not re.search(r"drops=[1-9]", srs.log_text())  # queue_length 60: nothing dropped
    assert "Traceback" not in srs.output()


def test_players_page_over_https_plays_https_flv_in_chromium(tmp_path, media_flv):
    """research/players served over HTTPS: srs_player.html plays HTTPS-FLV with mpegts.js, and the
    index links the HTTPS API port."""
    if chromium_path() is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    with _https_server(tmp_path) as srs:
        shutil.copytree(os.path.join(TRUNK, "research", "players"), os.path.join(srs.html, "players"))
        assert srs.wait_log("HTTPS server listen at")
        base = f"https://127.0.0.1:{srs.https_port}"
        publisher = publish_bg(media_flv.path, srs.rtmp_url("live/livestream"), loops=10)
        assert srs.wait_published("live/livestream")
        probe = ("JSON.stringify({t: document.getElementById('video').currentTime,"
                 " st: window.srsPlayerState || null})")
        with Chromium(tmp_path, extra_flags=["--ignore-certificate-errors"]) as browser:
            page = browser.new_page(f"{base}/players/srs_player.html?url={base}/live/livestream.flv")
            seen = {}

            def advanced():
                try:
                    state = json.loads(page.evaluate(probe))
                except Exception:  # noqa: BLE001 - page still loading
                    return False
                if state["st"] and state["st"]["state"] == "playing":
                    seen.setdefault("first", state["t"])
                    seen["last"] = state
                    return state["t"] - seen["first"] > 1.0
                return False
            assert wait_for(advanced, 30, 0.25), (seen, page.console()[-10:])
            assert seen["last"]["st"]["engine"].startswith("mpegts.js")
            index = browser.new_page(f"{base}/players/index.html")
            api = wait_for(lambda: (lambda h: h if h and ":1990/" in h else None)(
                _evaluate(index, "document.querySelector('a.api').href")), 5, 0.1)
            assert api == "https://127.0.0.1:1990/api/v1/streams/", api
        publisher.join(0)
    assert "Traceback" not in srs.output()


def _evaluate(page, script: str):
    try:
        return page.evaluate(script)
    except Exception:  # noqa: BLE001 - page still loading
        return None


def test_reload_turns_rtmps_on_then_off(tmp_path):
    """rtmps {} follows SIGHUP: on (a TLS handshake then answers), off (the port is closed)."""
    port = free_port()
    with SrsProcess(tmp_path) as srs:
        conf = open(srs.conf_path).read()
        with open(srs.conf_path, "w") as f:
            f.write(conf + f"rtmps {{ enabled on; listen {port}; key {KEY}; cert {CERT}; }}\n")
        srs.signal(signal.SIGHUP)
        assert srs.wait_log("RTMPS listen at")
        with _insecure().wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5)) as s:
            assert s.version() in ("TLSv1.2", "TLSv1.3")
        with open(srs.conf_path, "w") as f:
            f.write(conf)
        srs.signal(signal.SIGHUP)
        assert srs.wait_log("reload ok", 2)

        def refused():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except ConnectionRefusedError:
                return True
            return False
        assert wait_for(refused)
    assert "Traceback" not in srs.output()
