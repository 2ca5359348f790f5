"""Client-chosen names that try to leave their directory, end to end (issue 18 §1, §2, §5).

One real server with HLS, DVR, HTTP remux and the FLV and RTSP casters on, its cwd and every
directory inside the test's tmp dir. Each bad name is sent by the client that can send it - ffmpeg
and PyAV for URLs, our raw RTMP client for bytes ffmpeg cannot put in a name (invalid UTF-8, NUL,
10 KB), raw sockets for the HTTP and RTSP requests - and must be refused with that client's status
and one escaped log line, while an honest stream published at the same time decodes frame for frame.
Every bad name carries a random token: afterwards no file anywhere we look has it in its name.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import urllib.request
import uuid

import pytest

from fixtures.api_server import ApiServer
from fixtures.raw_socket import exchange, status_of
from fixtures.srs_server import (Player, SrsProcess, free_port, publish_flv, rtmp_client, rtmp_connect, wait_for,
                                 wait_port)
from srs.protocol.rtmp_stack import ConnectResult, Status

TOKEN = "PWNED" + uuid.uuid4().hex[:10]
FFMPEG = "/usr/bin/ffmpeg" if os.path.exists("/usr/bin/ffmpeg") else None
LOOPS = 3  # the honest stream plays 3 x the 4 s file while the bad clients come and go

VHOST_BODY = """
hls { enabled on; hls_path ./html; hls_fragment 1; hls_window 10; hls_dispose 0; }
dvr { enabled on; dvr_path ./dvr/[app]/[stream].[timestamp].flv; dvr_plan session; }
http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }
"""


@pytest.fixture(scope="module")
def srs(tmp_path_factory):
    d = tmp_path_factory.mktemp("untrusted")
    flv_port, rtsp_port = free_port(), free_port()
    lo = 43000 + (os.getpid() % 500) * 20
    casters = (f"stream_caster {{ enabled on; caster flv; output rtmp://127.0.0.1:[port]/[app]/[stream]; "
               f"listen {flv_port}; }}\n"
               f"stream_caster {{ enabled on; caster rtsp; output rtmp://127.0.0.1:[port]/[app]/[stream]; "
               f"listen {rtsp_port}; rtp_port_min {lo}; rtp_port_max {lo + 19}; }}\n")
    with SrsProcess(d, vhost_body=VHOST_BODY, global_body=casters) as proc:
        proc.flv_port, proc.rtsp_port = flv_port, rtsp_port
        assert all(wait_port(p) for p in (proc.http_port, proc.api_port, flv_port, rtsp_port)), proc.output()
        yield proc
        assert proc.alive(), proc.output()[-3000:]
    console = open(proc.stderr_path, errors="replace").read()
    assert "Logging error" not in console and "Traceback" not in console, console[-3000:]


# ------------------------------------------------------------------------------------------ helpers
def files_with_token(*roots) -> list:
    """Paths whose name holds TOKEN: every ancestor of the test dir (one level), /tmp and the
    test dir's parent (a few levels), and the given roots (whole trees)."""
    found = []

    def walk(top: str, depth: int) -> None:
        try:
            entries = list(os.scandir(top))
        except OSError:
            return
        for e in entries:
            if TOKEN in e.name:
                found.append(e.path)
            if depth > 1 and e.is_dir(follow_symlinks=False):
                walk(e.path, depth - 1)

    for r in roots:
        walk(str(r), 50)
        p = os.path.abspath(str(r))
        while p != os.path.dirname(p):
            p = os.path.dirname(p)
            walk(p, 1)
        walk(os.path.dirname(os.path.abspath(str(r))), 4)
    walk("/tmp", 4)
    return sorted(set(found))


def log_count(srs, text: str) -> int:
    return srs.log_text().count(text)


def wait_log(srs, text: str, n: int = 1) -> bool:
    return bool(wait_for(lambda: log_count(srs, text) >= n, 10))


def _recv_statuses(s, cs, pending: list) -> tuple:
    """Every onStatus until the server closes the connection -> (statuses, closed)."""
    statuses = [ev for ev in pending if isinstance(ev, Status)]
    while True:
        try:
            data = s.recv(65536)
        except ConnectionResetError:
            return statuses, True
        except socket.timeout:
            return statuses, False
        if not data:
            return statuses, True
        for ev in cs.receive_data(data):
            if isinstance(ev, Status):
                statuses.append(ev)
        out = cs.data_to_send()
        if out:
            try:
                s.sendall(out)
            except OSError:
                return statuses, True


def raw_stream_command(port: int, command: str, name: str) -> tuple:
    """Our own RTMP client (any str goes on the wire, lone surrogates as the raw bytes they stand for):
    connect to live, createStream, then publish/play ``name`` -> (statuses, closed)."""
    s, cs = rtmp_client(port, "live")
    try:
        getattr(cs, command)(name)
        s.sendall(cs.data_to_send())
        return _recv_statuses(s, cs, [])
    finally:
        s.close()


def raw_connect(port: int, app: str) -> tuple:
    """Handshake and connect with ``app`` -> (ConnectResult, closed after it)."""
    s, cs, pending = rtmp_connect(port, app)
    try:
        while not any(isinstance(ev, ConnectResult) for ev in pending):
            data = s.recv(65536)
            assert data, "closed before the connect answer"
            pending.extend(cs.receive_data(data))
        result = [ev for ev in pending if isinstance(ev, ConnectResult)][0]
        _, closed = _recv_statuses(s, cs, [])
        return result, closed
    finally:
        s.close()


def http_status(port: int, request: bytes) -> int:
    """Send raw request bytes; -> the answer's status code (0 when the server just closed)."""
    return status_of(exchange(port, request, until=b"\r\n"))


def api_clients(srs) -> list:
    with urllib.request.urlopen(srs.api_url("/api/v1/clients?count=1000"), timeout=5) as resp:
        return json.loads(resp.read())["clients"]


class HonestStream:
    """A player that is in before the publisher starts, and the publisher (LOOPS x the file)."""

    def __init__(self, srs, media, name: str):
        self.srs, self.media, self.name = srs, media, name
        self.player = Player(srs.rtmp_url(f"live/{name}"), max_seconds=60, read_timeout_s=3)
        self.error = None
        self.publisher = threading.Thread(target=self._publish, daemon=True)

    def _publish(self) -> None:
        try:
            publish_flv(self.media.path, self.srs.rtmp_url(f"live/{self.name}"), realtime=True, loops=LOOPS)
        except Exception as e:  # noqa: BLE001 - reported by check()
            self.error = e

    def start(self) -> None:
        self.player.start()
        # the play request is in (the API lists the player) before the first frame is published
        assert wait_for(lambda: any(c["type"] == "Play" and c["url"] == f"/live/{self.name}"
                                    for c in api_clients(self.srs)), 10), api_clients(self.srs)
        self.publisher.start()

    def check(self) -> None:
        self.publisher.join(60)
        self.player.join(30)
        p = self.player
        assert self.error is None, self.error
        assert p.error is None, p.error
        assert p.video_frames == LOOPS * self.media.video_frames, (p.video_frames, self.media.video_frames)
        assert p.first_video_key is True and p.monotonic()
        assert (p.width, p.height, p.vcodec, p.acodec) == (320, 240, "h264", "aac")


# ------------------------------------------------------------------------------------ bad names
# Names our raw RTMP client sends in publish and play; the refusal line shows them escaped.
RAW_NAMES = [
    (f"../../../../../../tmp/{TOKEN}a", f"../../../../../../tmp/{TOKEN}a"),
    (f"..%2F..%2F..%2F{TOKEN}b", f"..%2F..%2F..%2F{TOKEN}b"),
    (f"..\\..\\{TOKEN}c", f"..\\..\\{TOKEN}c"),
    (f"{TOKEN}d\x00x", f"{TOKEN}d\\x00x"),
    (f"{TOKEN}e\x1b[31m\x07", f"{TOKEN}e\\x1b[31m\\x07"),   # (CR, LF, TAB are stripped, as SRS does)
    (f"{TOKEN}f\udcbe\udcff", f"{TOKEN}f\\xbe\\xff"),              # invalid UTF-8 on the wire
    (TOKEN + "g" + "x" * 10240, TOKEN + "g" + "x" * 50),
]


def test_rtmp_bad_names_refused_while_an_honest_stream_plays(srs, media_flv):
    honest = HonestStream(srs, media_flv, "honest")
    honest.start()
    for name, shown in RAW_NAMES:
        for command, code in (("publish", "NetStream.Publish.BadName"), ("play", "NetStream.Play.StreamNotFound")):
            before = log_count(srs, f"refused: code=2057 bad stream name '{shown[:20]}")
            statuses, closed = raw_stream_command(srs.rtmp_port, command, name)
            codes = [st.code for st in statuses]
            assert codes == [code] and statuses[0].level == "error", (name[:40], codes)
            assert closed, name[:40]
            line = f"refused: code=2057 bad stream name '{shown[:20]}"
            assert wait_log(srs, line, before + 1), name[:40]
            assert log_count(srs, line) == before + 1  # one line per refusal, the name escaped in it
    # an empty name: SRS's code, the same statuses
    statuses, closed = raw_stream_command(srs.rtmp_port, "publish", "")
    assert [st.code for st in statuses] == ["NetStream.Publish.BadName"] and closed
    assert wait_log(srs, "refused: code=2051 empty stream name")
    # a bad app in connect: NetConnection.Connect.Rejected
    for app in (f"../../../../{TOKEN}h", f"live/..%2F{TOKEN}i", f"live\\{TOKEN}j"):
        result, closed = raw_connect(srs.rtmp_port, app)
        assert not result.ok and result.info["code"] == "NetConnection.Connect.Rejected", result.info
        assert "bad app name" in result.info["description"] and closed
    honest.check()
    assert files_with_token(srs.dir) == []


def test_ffmpeg_and_pyav_publishers_refused(srs, media_flv):
    """The issue's repro: ffmpeg splits ``live/../../../../../../tmp/X`` into app ``live/..`` and
    stream ``../../../../tmp/X``: the connect is refused (app), nothing is written."""
    honest = HonestStream(srs, media_flv, "honest2")
    honest.start()
    urls = [srs.rtmp_url(f"live/../../../../../../tmp/{TOKEN}k"),
            srs.rtmp_url(f"../../../../../{TOKEN}l/s"),
            srs.rtmp_url(f"live/..%2F..%2F{TOKEN}m"),
            srs.rtmp_url(f"live/..\\..\\{TOKEN}n")]
    if FFMPEG:
        for url in urls[:2]:
            before = log_count(srs, "refused: code=2057")
            r = subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-re", "-i", media_flv.path,
                                "-c", "copy", "-f", "flv", url], capture_output=True, timeout=30)
            assert r.returncode != 0, url
            assert wait_log(srs, "refused: code=2057", before + 1), url
    for url in urls[2:] if FFMPEG else urls:
        before = log_count(srs, "refused: code=2057")
        with pytest.raises(Exception):
            publish_flv(media_flv.path, url, realtime=True)
        assert wait_log(srs, "refused: code=2057", before + 1), url
    # one refusal line per attempt
    assert log_count(srs, "refused: code=2057 bad app name 'live/..'") == 1
    assert log_count(srs, "refused: code=2057 bad app name '../..'") == 1
    assert log_count(srs, f"refused: code=2057 bad stream name '..%2F..%2F{TOKEN}m'") == 1
    assert log_count(srs, f"refused: code=2057 bad stream name '..\\..\\{TOKEN}n'") == 1
    honest.check()
    assert files_with_token(srs.dir) == []


FLV_POSTS = [  # request targets of the FLV caster, literal and %-encoded, all 400
    f"/..%2F..%2F..%2F{TOKEN}o/s.flv",
    f"/../../{TOKEN}p/s.flv",
    f"/live/..%2f..%2f{TOKEN}q.flv",
    f"/live/%2e%2e/{TOKEN}r.flv",
    f"/live/{TOKEN}s%00.flv",
    f"/live/{TOKEN}t%5c..%5cx.flv",
    f"/live/{TOKEN}u%ff%fe.flv",
    f"/live/%252e%252e%252f{TOKEN}v/y.flv",
    f"/live/{TOKEN}w" + "x" * 10240 + ".flv",
]


def test_flv_caster_refuses_bad_urls(srs, media_flv):
    honest = HonestStream(srs, media_flv, "honest3")
    honest.start()
    body = media_flv.data[:4096]
    for target in FLV_POSTS:
        req = (f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        assert http_status(srs.flv_port, req) == 400, target[:60]
    line = "flv caster: client 127.0.0.1 refused: code="
    assert wait_log(srs, line, len(FLV_POSTS))
    assert log_count(srs, line) == len(FLV_POSTS) and log_count(srs, f"{TOKEN}u\\xff\\xfe") == 1
    honest.check()
    assert files_with_token(srs.dir) == []


HTTP_GETS = [  # HTTP-FLV/TS/AAC/MP3 players, all 400
    f"/live/..%2F..%2F{TOKEN}A.flv",
    f"/..%2F..%2F{TOKEN}B/s.flv",
    f"/live/%2e%2e.flv?{TOKEN}C",
    f"/live/{TOKEN}D%255c.ts",
    f"/live/%252e%252e/{TOKEN}E.aac",
    f"/live/{TOKEN}F%00.mp3",
    f"/live/{TOKEN}G%ff.flv",
    f"/live/{TOKEN}H.flv?x=%0a\x01",
]


def test_http_live_refuses_bad_urls(srs):
    for target in HTTP_GETS:
        req = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode("latin-1")
        assert http_status(srs.http_port, req) == 400, target
    assert files_with_token(srs.dir) == []
    assert srs.alive()


def _rtsp(port: int, head_lines: list, body: str = "") -> str:
    request = ("\r\n".join(head_lines) + "\r\n\r\n" + body).encode("utf-8")
    return exchange(port, request, until=b"\r\n\r\n").decode("utf-8", "replace")


SDP = "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:streamid=0\r\n"


@pytest.mark.parametrize("path", [f"../../{TOKEN}I/s", f"live/..%2F..%2F{TOKEN}J", f"live/{TOKEN}K\\..\\x",
                                  f"live/%2e%2e/{TOKEN}L"],
                         ids=["dotdot", "pct-2F", "backslash", "pct-2e"])  # ids without the random token (xdist)
def test_rtsp_caster_refuses_bad_announce(srs, path):
    url = f"rtsp://127.0.0.1:{srs.rtsp_port}/{path}"
    r = _rtsp(srs.rtsp_port, [f"ANNOUNCE {url} RTSP/1.0", "CSeq: 1", "Content-Type: application/sdp",
                              f"Content-Length: {len(SDP)}"], SDP)
    assert r.startswith("RTSP/1.0 400"), r
    assert wait_log(srs, f"ANNOUNCE {url} refused: code=2057")
    assert files_with_token(srs.dir) == []


def test_invalid_utf8_name_is_logged_escaped(srs):
    """§2: bytes be ff in a name reach srs.log as \\xbe\\xff, on one line; never a "Logging error"."""
    name = f"{TOKEN}M\udcbe\udcff\udcfe"
    statuses, _ = raw_stream_command(srs.rtmp_port, "publish", name)
    assert [st.code for st in statuses] == ["NetStream.Publish.BadName"]
    assert wait_log(srs, f"bad stream name '{TOKEN}M\\xbe\\xff\\xfe'")
    raw = open(srs.log_file, "rb").read()
    assert raw.decode("utf-8")  # the whole file is valid UTF-8
    assert b"\xbe\xff" not in raw
    assert "Logging error" not in open(srs.stderr_path, errors="replace").read()


# ------------------------------------------------------------------------------------- §5: on_play
def test_player_denied_by_on_play_gets_no_play_start(tmp_path, media_flv):
    with ApiServer("--deny-play", "paid") as rx, \
            SrsProcess(tmp_path, vhost_body=f"http_hooks {{ enabled on; on_play {rx.url('/api/v1/sessions')}; }}") as srs:
        statuses, closed = raw_stream_command(srs.rtmp_port, "play", "paid")
        codes = [st.code for st in statuses]
        assert codes == ["NetStream.Play.Failed"] and statuses[0].level == "error", codes
        assert closed
        assert wait_log(srs, "denied: code=")
        # an allowed player still gets the usual start
        s, cs = rtmp_client(srs.rtmp_port, "live")
        try:
            cs.play("free")
            s.sendall(cs.data_to_send())
            pending = []
            while "NetStream.Play.Start" not in [ev.code for ev in pending if isinstance(ev, Status)]:
                data = s.recv(65536)
                assert data, [ev.code for ev in pending if isinstance(ev, Status)]
                pending.extend(cs.receive_data(data))
            assert [ev.code for ev in pending if isinstance(ev, Status)][:2] == \
                ["NetStream.Play.Reset", "NetStream.Play.Start"]
        finally:
            s.close()
