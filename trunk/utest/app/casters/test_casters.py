"""Stream casters: POST body framing (pure; the raw muxers and the interleaver are tested in
utest/kernel), then the real server with the three casters, fed by Debian's ffmpeg, checked by
decoding the RTMP output with PyAV: every frame the pusher sent is decoded, on the pusher's timeline."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import av
import pytest

from fixtures.raw_socket import exchange
from fixtures.srs_server import Player, SrsProcess, free_port, wait_for
from srs.app.casters.flv import BodyDecoder, PostHead, stream_of
from fixtures.media import make_flv
from srs.app.casters.output import expand_output
from srs.kernel.errors import HttpError
from srs.protocol.rtp import AacDepacketizer, RtpPacket

FFMPEG = shutil.which("ffmpeg")
SPEED = 4


# ----------------------------------------------------------------------------- pure parts
def test_post_body_decoder():
    data = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n"
    for step in (1, 3, len(data)):
        d = BodyDecoder(True, None)
        got = b"".join(d.receive_data(data[i:i + step]) for i in range(0, len(data), step))
        assert got == b"hello world" and d.done
    d = BodyDecoder(False, 4)
    assert d.receive_data(b"abcdef") == b"abcd" and d.done
    d = BodyDecoder(False, None)
    assert d.receive_data(b"abc") == b"abc" and not d.done
    for bad in (b"zz\r\n", b"5\r\nhelloXX", b"1" * 2000):
        with pytest.raises(HttpError):
            BodyDecoder(True, None).receive_data(bad)


def test_post_head_and_paths():
    h = PostHead.parse(b"POST /live/a%20b.flv?x=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked")
    assert (h.method, h.path, h.version) == ("POST", "/live/a b.flv", "1.1")
    assert BodyDecoder.for_head(h).chunked
    assert stream_of("/live/livestream.flv") == ("live", "livestream")
    assert stream_of("/a/b/c") == ("a/b", "c")
    for bad in ("/x.flv", "/"):
        with pytest.raises(HttpError):
            stream_of(bad)
    for bad in (b"POST live HTTP/1.1", b"GET / HTTP/2", b"POST / HTTP/1.1\r\nbad"):
        with pytest.raises(HttpError):
            PostHead.parse(bad)
    with pytest.raises(HttpError):
        BodyDecoder.for_head(PostHead.parse(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked"))
    assert expand_output("rtmp://127.0.0.1:[port]/[app]/[stream]", "live", "x", 1935) == "rtmp://127.0.0.1:1935/live/x"


# ----------------------------------------------------------------------------- the server
@pytest.fixture(scope="module")
def srs(tmp_path_factory):
    udp, rtsp_port, flv_port = free_port(), free_port(), free_port()
    lo = 42000 + (os.getpid() % 500) * 20
    body = f"""
stream_caster {{ enabled on; caster mpegts_over_udp; output rtmp://127.0.0.1:[port]/live/ts; listen {udp}; }}
stream_caster {{ enabled on; caster rtsp; output rtmp://127.0.0.1:[port]/[app]/[stream]; listen {rtsp_port};
                 rtp_port_min {lo}; rtp_port_max {lo + 19}; }}
stream_caster {{ enabled on; caster flv; output rtmp://127.0.0.1:[port]/[app]/[stream]; listen {flv_port}; }}
"""
    with SrsProcess(tmp_path_factory.mktemp("casters"), global_body=body, http_api=False,
                    http_server=False) as proc:
        proc.udp_port, proc.rtsp_port, proc.flv_port = udp, rtsp_port, flv_port
        assert _wait_tcp(rtsp_port) and _wait_tcp(flv_port), proc.output()
        yield proc
        assert proc.alive(), proc.output()
        assert "Traceback" not in proc.log_text(), proc.log_text()[-5000:]


def _wait_tcp(port: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def push(src: str, url: str, fmt: str, ffmpeg_args=()) -> None:
    """Debian's ffmpeg copies the file at SPEED x real time (a harsher burst rate than -re)."""
    if not FFMPEG:
        pytest.skip("ffmpeg is not installed")
    cmd = [FFMPEG, "-hide_banner", "-loglevel", "error", "-readrate", str(SPEED), "-i", src,
           "-c", "copy", *ffmpeg_args, "-f", fmt, url]
    r = subprocess.run(cmd, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]


def play_while(srs, stream: str, feed) -> Player:
    """A player that is waiting for ``stream`` before ``feed`` pushes it, so it gets it all."""
    line = f"RTMP play __defaultVhost__/{stream},"
    before = srs.log_text().count(line)
    p = Player(srs.rtmp_url(stream), max_seconds=15, read_timeout_s=2.5)
    p.start()
    assert wait_for(lambda: srs.log_text().count(line) > before), "the player never got to play"
    feed()
    p.join(20)
    assert not p.is_alive()
    return p


def check_exact(p: Player, media, audio_sent: int) -> None:
    """Every frame sent is decoded, on the sender's timeline: a caster that publishes bundled
    audio ahead of its video makes the server's jitter correction stretch the stream."""
    assert p.error is None
    assert (p.width, p.height, p.vcodec, p.acodec) == (320, 240, "h264", "aac")
    assert p.first_video_key and p.monotonic()
    assert (p.video_frames, p.audio_frames) == (media.video_frames, audio_sent)
    span = p.video_pts[-1] - p.video_pts[0]
    assert abs(span - (media.video_frames - 1) / media.fps) < 0.005, (span, p.video_pts)


@pytest.fixture(scope="module")
def media_cast(tmp_path_factory):
    """The usual 4 s 25 fps H.264 + AAC, AAC at 32 kbps: frames of ~90 bytes, which the TS muxer
    bundles 15 to a PES (350 ms) and the RTP one 14 to a packet (325 ms)."""
    return make_flv(tmp_path_factory.mktemp("cast") / "cast.flv", seconds=4, abitrate=32000)


def _wait_udp_stream_ended(srs) -> None:
    """An earlier push to the UDP port idles out after 5 s: the next one is a new publish."""
    log = srs.log_text
    assert wait_for(lambda: log().count("mpegts caster: stream starts") == log().count("mpegts caster: stream ends"),
                    timeout_s=10)


def test_mpegts_over_udp(srs, media_cast):
    _wait_udp_stream_ended(srs)
    p = play_while(srs, "live/ts", lambda: push(
        media_cast.path, f"udp://127.0.0.1:{srs.udp_port}?pkt_size=1316", "mpegts"))
    check_exact(p, media_cast, media_cast.audio_frames)
    assert "mpegts caster: stream starts" in srs.log_text()


def _ts_bytes(src: str) -> bytes:
    import io
    buf = io.BytesIO()
    inp = av.open(src)
    out = av.open(buf, "w", format="mpegts")
    streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
    for pkt in inp.demux():
        if pkt.dts is None:
            continue
        pkt.stream = streams[pkt.stream.index]
        out.mux(pkt)
    out.close()
    inp.close()
    return buf.getvalue()


def test_mpegts_over_udp_survives_loss_and_garbage(srs, media_flv):
    data = _ts_bytes(media_flv.path)
    size = 7 * 188
    grams = [data[i:i + size] for i in range(0, len(data), size)]
    _wait_udp_stream_ended(srs)

    def feed():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(os.urandom(1000), ("127.0.0.1", srs.udp_port))        # garbage first
        for i, g in enumerate(grams):
            if i > 10 and i % 25 == 0:
                continue                                                 # every 25th lost
            s.sendto(g, ("127.0.0.1", srs.udp_port))
            if i % 8 == 0:
                time.sleep(media_flv.duration / len(grams) * 8 / SPEED)
        s.close()

    p = play_while(srs, "live/ts", feed)
    assert p.error is None and p.vcodec == "h264"
    assert 20 < p.video_frames <= media_flv.video_frames
    assert "TS errors so far" in srs.log_text()
    assert srs.alive()


@pytest.fixture(scope="module")
def rtp_audio_sent(media_cast) -> int:
    """How many AAC frames ffmpeg's RTP muxer sends for the file: it never sends the packet it is
    still filling at the end (its trailer does not flush), so fewer than the file has. Counted
    from the same ffmpeg sending plain RTP to a socket of ours."""
    if not FFMPEG:
        pytest.skip("ffmpeg is not installed")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", 0))
    push(media_cast.path, f"rtp://127.0.0.1:{s.getsockname()[1]}", "rtp", ("-vn",))
    s.setblocking(False)
    depacketizer, frames = AacDepacketizer(), 0
    while True:
        try:
            frames += len(depacketizer.push(RtpPacket.parse(s.recv(65536))))
        except BlockingIOError:
            break
    s.close()
    assert depacketizer.lost == 0 and media_cast.audio_frames - 20 < frames <= media_cast.audio_frames
    return frames


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_rtsp_push(srs, media_cast, rtp_audio_sent, transport):
    stream = f"rtsp_{transport}"
    p = play_while(srs, f"live/{stream}", lambda: push(
        media_cast.path, f"rtsp://127.0.0.1:{srs.rtsp_port}/live/{stream}", "rtsp",
        ("-rtsp_transport", transport)))
    check_exact(p, media_cast, rtp_audio_sent)
    log = srs.log_text()
    assert f"rtsp caster live/{stream}: publishing to rtmp://127.0.0.1:" in log


def _rtsp(sock, text: str, body: bytes = b"") -> str:
    head = text.replace("\n", "\r\n")
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    return exchange(0, (head + "\r\n").encode() + body, until=b"\r\n\r\n", sock=sock).decode()


def test_rtsp_refusals(srs):
    s = socket.create_connection(("127.0.0.1", srs.rtsp_port), timeout=5)
    url = f"rtsp://127.0.0.1:{srs.rtsp_port}/live/bad"
    assert "200 OK" in _rtsp(s, f"OPTIONS {url} RTSP/1.0\nCSeq: 1\n")
    r = _rtsp(s, f"SETUP {url}/streamid=0 RTSP/1.0\nCSeq: 2\nTransport: RTP/AVP/TCP;interleaved=0-1\n")
    assert r.startswith("RTSP/1.0 455") and "CSeq: 2" in r
    r = _rtsp(s, f"ANNOUNCE {url} RTSP/1.0\nCSeq: 3\nContent-Type: application/sdp\n", b"not an sdp")
    assert r.startswith("RTSP/1.0 400")
    r = _rtsp(s, f"ANNOUNCE {url} RTSP/1.0\nCSeq: 4\nContent-Type: application/sdp\n",
              b"v=0\r\nm=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
    assert r.startswith("RTSP/1.0 415")
    assert _rtsp(s, f"PLAY {url} RTSP/1.0\nCSeq: 5\n").startswith("RTSP/1.0 405")
    assert _rtsp(s, "garbage\n").startswith("RTSP/1.0 400")
    assert s.recv(100) == b""          # a request that does not parse closes the connection
    s.close()
    log = srs.log_text()
    assert "ANNOUNCE rtsp://127.0.0.1" in log and "refused" in log and "bad request from" in log


def test_flv_post_chunked(srs, media_cast):
    p = play_while(srs, "live/post", lambda: push(
        media_cast.path, f"http://127.0.0.1:{srs.flv_port}/live/post.flv", "flv", ("-method", "POST")))
    check_exact(p, media_cast, media_cast.audio_frames)
    assert "flv caster: client 127.0.0.1 closed (body complete)" in srs.log_text()


def test_flv_post_content_length(srs, media_cast):
    data = media_cast.data
    answer = []

    def feed():
        s = socket.create_connection(("127.0.0.1", srs.flv_port), timeout=10)
        s.sendall(f"POST /live/post_cl.flv HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n".encode())
        step = len(data) // 40
        for i in range(0, len(data), step):
            s.sendall(data[i:i + step])
            time.sleep(media_cast.duration / 40 / SPEED)   # pacing the sender, not a sync
        answer.append(s.recv(1000))
        s.close()

    p = play_while(srs, "live/post_cl", feed)
    check_exact(p, media_cast, media_cast.audio_frames)
    assert answer[0].startswith(b"HTTP/1.1 200 OK")


def test_flv_refusals(srs):
    def ask(raw: bytes) -> bytes:
        return exchange(srs.flv_port, raw, timeout_s=5)

    assert ask(b"GET /live/x.flv HTTP/1.1\r\nHost: h\r\n\r\n").startswith(b"HTTP/1.1 405")
    assert ask(b"POST /x.flv HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n").startswith(b"HTTP/1.1 400")
    r = ask(b"POST /live/junk.flv HTTP/1.1\r\nHost: h\r\nContent-Length: 64\r\n\r\n" + b"NOTFLV" + bytes(58))
    assert r.startswith(b"HTTP/1.1 400")
    assert "bad FLV body" in srs.log_text()


def test_caster_that_cannot_listen_fails_start(tmp_path):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        srs = SrsProcess(tmp_path, global_body=f"stream_caster {{ enabled on; caster flv; "
                                               f"output rtmp://127.0.0.1/[app]/[stream]; listen 127.0.0.1:{port}; }}",
                         http_api=False, http_server=False)
        srs.start(wait=False)
        assert srs.proc.wait(15) == 1
        srs.stop()
        assert "flv caster: listen tcp 127.0.0.1" in srs.output()
    finally:
        blocker.close()

