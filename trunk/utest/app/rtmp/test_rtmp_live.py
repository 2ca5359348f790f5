"""RTMP live end to end: the real server process, PyAV (FFmpeg's RTMP) and, when installed,
Debian's ffmpeg/ffprobe/rtmpdump. Media is checked by decoding it."""
import os
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

from fixtures.srs_server import Player, SrsProcess, publish_bg, publish_flv, rtmp_client, rtmp_wait, wait_for


def flv_video_packets(path) -> int:
    """Video packets in an FLV file that is still being written (0 before its header is there)."""
    import av

    try:
        with av.open(str(path)) as c:
            return sum(1 for p in c.demux(video=0) if p.size)
    except Exception:  # noqa: BLE001 - a header or packet not all written yet
        return 0


def wait_playing(players, timeout=10.0):
    for p in players:
        assert p.opened.wait(timeout), "player did not open"


def test_publish_then_play_decodes_every_frame(tmp_path, media_flv):
    with SrsProcess(tmp_path) as srs:
        url = srs.rtmp_url("live/livestream")
        player = Player(url, read_timeout_s=3)
        player.start()
        assert srs.wait_players("live/livestream")  # play before publish waits for the stream
        publish_flv(media_flv.path, url, realtime=True, speed=4.0)
        player.join(30)
        assert player.error is None, player.error
        assert player.video_frames == media_flv.video_frames
        assert player.first_video_key is True
        assert (player.width, player.height) == (320, 240)
        assert player.vcodec == "h264" and player.acodec == "aac"
        assert player.sample_rate == 44100
        assert player.monotonic()
        assert abs(player.audio_frames - media_flv.audio_frames) <= 2


def test_gop_cache_gives_late_player_a_keyframe_first(tmp_path, media_flv):
    with SrsProcess(tmp_path, vhost_body="gop_cache on;") as srs:
        url = srs.rtmp_url("live/gop")
        pub = publish_bg(media_flv.path, url, loops=3)
        assert pub.wait_sent(1500)  # join in the middle of a GOP (GOP 1 s)
        player = Player(url, read_timeout_s=3, max_seconds=3)
        player.start()
        player.join(20)
        pub.join(30)
        assert player.error is None, player.error
        assert player.first_video_key is True
        assert player.video_frames >= 25
        assert player.monotonic()


def test_second_publisher_is_refused_and_first_untouched(tmp_path, media_flv):
    with SrsProcess(tmp_path) as srs:
        url = srs.rtmp_url("live/busy")
        first = publish_bg(media_flv.path, url)
        assert srs.wait_published("live/busy")
        player = Player(url, read_timeout_s=2, max_seconds=2)
        player.start()
        with pytest.raises(Exception):
            publish_flv(media_flv.path, url, realtime=False)
        player.join(10)
        first.join(20)
        assert player.video_frames > 10
        assert "busy" in srs.log_text()


def test_republish_resumes_waiting_players(tmp_path, media_flv):
    with SrsProcess(tmp_path) as srs:
        url = srs.rtmp_url("live/again")
        player = Player(url, read_timeout_s=4, max_seconds=20)
        player.start()
        assert srs.wait_players("live/again")
        publish_flv(media_flv.path, url, realtime=True, speed=4.0)
        assert srs.wait_unpublished("live/again")  # the stream is free again before the next publish
        publish_flv(media_flv.path, url, realtime=True, speed=4.0)
        player.join(30)
        assert player.video_frames == 2 * media_flv.video_frames
        assert player.monotonic()


def test_many_players_all_get_whole_stream(tmp_path, media_flv):
    """200 RTMP players on one stream (raw sockets through our own client session: cheap)."""
    from srs.protocol.rtmp_stack import ClientSession, Media
    from srs.protocol.rtmp_handshake import ClientHandshake

    n = 200
    with SrsProcess(tmp_path) as srs:
        url = srs.rtmp_url("live/many")
        counts = [0] * n
        errors = []

        def play(i):
            try:
                s, cs = rtmp_client(srs.rtmp_port)
                cs.play("many", 1)
                s.sendall(cs.data_to_send())
                s.settimeout(4)
                while True:
                    try:
                        data = s.recv(65536)
                    except socket.timeout:
                        break
                    if not data:
                        break
                    for ev in cs.receive_data(data):
                        m = ev.message if isinstance(ev, Media) else None
                        if m is not None and m.is_video and m.payload[1] == 1:  # NALUs, not headers/EOS
                            counts[i] += 1
                    out = cs.data_to_send()
                    if out:
                        s.sendall(out)
                s.close()
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        threads = [threading.Thread(target=play, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        assert srs.wait_players("live/many", n, 30), errors[:3]
        publish_flv(media_flv.path, url, realtime=True, speed=2.0)
        for t in threads:
            t.join(30)
        assert not errors, errors[:3]
        assert counts == [media_flv.video_frames] * n, sorted(set(counts))


def test_stalled_player_does_not_slow_others_or_publisher(tmp_path, media_flv):
    with SrsProcess(tmp_path, vhost_body="queue_length 10;") as srs:
        url = srs.rtmp_url("live/slow")
        # A player that completes the handshake and play but never reads again.
        from srs.protocol.rtmp_handshake import ClientHandshake
        from srs.protocol.rtmp_stack import ClientSession
        s, cs = rtmp_client(srs.rtmp_port, rcvbuf=4096)
        cs.play("slow", 1)
        s.sendall(cs.data_to_send())
        good = Player(url, read_timeout_s=3)
        good.start()
        assert srs.wait_players("live/slow", 2)  # the stalled player and the good one
        t0 = time.monotonic()
        # ~7 MB paced at 20x real time: more than loopback's socket buffers can hide from the stalled player,
        # slow enough for a decoding player to follow.
        loops, speed = 30, 20.0
        publish_flv(media_flv.path, url, realtime=True, speed=speed, loops=loops)
        publish_s = time.monotonic() - t0
        good.join(60)
        assert good.video_frames >= 0.98 * loops * media_flv.video_frames, good.video_frames
        assert good.monotonic()
        assert publish_s < loops * media_flv.duration_ms / 1000.0 / speed + 3.0  # the publisher kept its pace
        s.close()
        assert srs.wait_log("over queue_length", timeout_s=5), srs.log_text()[-2000:]


def test_latency_realtime_mode_under_50ms(tmp_path, media_flv):
    """min_latency on; mw_latency 0; gop_cache off: a frame published reaches a player fast."""
    from srs.kernel.message import Message
    from srs.protocol.rtmp_handshake import ClientHandshake
    from srs.protocol.rtmp_stack import Media, Status

    body = "min_latency on;\nmw_latency 0;\ngop_cache off;\ntcp_nodelay on;"
    with SrsProcess(tmp_path, vhost_body=body) as srs:
        def connect():
            s, cs = rtmp_client(srs.rtmp_port)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return s, cs

        pub, pcs = connect()
        pcs.publish("lat", 1)
        pub.sendall(pcs.data_to_send())
        rtmp_wait(pub, pcs, Status, code="NetStream.Publish.Start")
        play, ccs = connect()
        ccs.play("lat", 1)
        play.sendall(ccs.data_to_send())
        assert srs.wait_players("live/lat")
        pub.settimeout(0.01)
        for s_ in (pub,):
            try:
                s_.recv(65536)
            except OSError:
                pass
        play.settimeout(0.5)
        try:
            while True:
                ccs.receive_data(play.recv(65536))
        except socket.timeout:
            pass
        delays = []
        play.settimeout(2)
        for i in range(40):
            sent_at = time.perf_counter()
            payload = bytes([0x27, 1, 0, 0, 0]) + struct.pack(">d", sent_at)
            pcs.send_media(Message.make(9, i * 40, payload, 1))
            pub.sendall(pcs.data_to_send())
            got = None
            while got is None:
                for ev in ccs.receive_data(play.recv(65536)):
                    if isinstance(ev, Media) and ev.message.is_video and len(ev.message.payload) == 13:
                        got = struct.unpack(">d", ev.message.payload[5:13])[0]
            delays.append((time.perf_counter() - got) * 1000)
            time.sleep(0.02)  # pacing: one frame every 20 ms, as a live stream sends them
        delays.sort()
        median = delays[len(delays) // 2]
        print(f"realtime latency median={median:.2f}ms p90={delays[int(len(delays) * 0.9)]:.2f}ms")
        assert median < 50


BAD_INPUTS = {
    "garbage_handshake": b"GET / HTTP/1.1\r\n\r\n" + b"x" * 3000,
    "c0_not_3": b"\x06" + b"\x00" * 1536,
    "truncated_handshake": b"\x03" + b"\x00" * 100,
}


def _handshaken(port):
    from srs.protocol.rtmp_handshake import ClientHandshake

    s = socket.create_connection(("127.0.0.1", port))
    hs = ClientHandshake(os.urandom, 0, complex=False)
    s.sendall(hs.start())
    while not hs.done:
        out = hs.receive_data(s.recv(65536))
        if out:
            s.sendall(out)
    return s


CHUNK_ATTACKS = {
    # Set Chunk Size 0 and 2^31.
    "chunk_size_zero": bytes([2]) + b"\x00\x00\x00" + b"\x00\x00\x04" + b"\x01" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00",
    "chunk_size_2_31": bytes([2]) + b"\x00\x00\x00" + b"\x00\x00\x04" + b"\x01" + b"\x00\x00\x00\x00" + b"\x80\x00\x00\x00",
    # A message length of 16 MB + 1.
    # The largest length RTMP can express (24 bits: 16 MB - 1) with no body: must not be preallocated,
    # and the connection must not hurt the others (it is closed by the identify timeout later).
    "huge_message": bytes([3]) + b"\x00\x00\x00" + b"\xff\xff\xff" + b"\x14" + b"\x00\x00\x00\x00" + b"x" * 128,
    # A fmt3 chunk on a stream never seen.
    "fmt3_fresh": bytes([0xC5]) + b"x" * 200,
    # A command whose AMF0 is broken.
    "broken_amf": bytes([3]) + b"\x00\x00\x00" + b"\x00\x00\x0a" + b"\x14" + b"\x00\x00\x00\x00" + b"\x02\x00\xff" + b"abcdefg",
    # publish before connect.
    "publish_before_connect": None,
}


def _expect_closed(s, timeout_s=5.0) -> bool:
    s.settimeout(timeout_s)
    try:
        while True:
            if not s.recv(65536):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


def test_bad_input_closes_only_that_connection(tmp_path, media_flv):
    """Garbage handshakes, bad chunk sizes, broken AMF, commands out of order... each closes only its own
    connection, with a logged reason, while a publisher and a player on the server go on untouched."""
    from srs.protocol import amf0

    body = amf0.encode("publish", 1.0, None, "x", "live")
    publish_before_connect = (bytes([3]) + b"\x00\x00\x00" + len(body).to_bytes(3, "big") + b"\x14"
                              + b"\x01\x00\x00\x00" + body)
    with SrsProcess(tmp_path) as srs:
        url = srs.rtmp_url("live/safe")
        player = Player(url, read_timeout_s=3)
        player.start()
        assert srs.wait_players("live/safe")
        pub = publish_bg(media_flv.path, url, loops=2)
        assert srs.wait_published("live/safe")
        not_closed = []
        for name, data in sorted(BAD_INPUTS.items()):
            s = socket.create_connection(("127.0.0.1", srs.rtmp_port))
            s.sendall(data)
            if not _expect_closed(s, 3.0) and name != "truncated_handshake":
                not_closed.append(name)
            s.close()
        for name, data in sorted(CHUNK_ATTACKS.items()):
            s = _handshaken(srs.rtmp_port)
            s.sendall(data if data is not None else publish_before_connect)
            # huge_message waits for its body: it may stay open until the identify timeout.
            if not _expect_closed(s, 3.0) and name != "huge_message":
                not_closed.append(name)
            s.close()
        pub.join(30)
        player.join(30)
        assert srs.alive()
        assert not not_closed, not_closed
        assert player.video_frames == 2 * media_flv.video_frames
        log = srs.log_text()
        assert "chunk size" in log.lower() and "amf0" in log.lower()


def test_publisher_vanishing_mid_frame(tmp_path, media_flv):
    from srs.kernel.message import Message
    from srs.protocol.rtmp_stack import Status

    with SrsProcess(tmp_path) as srs:
        s, cs = rtmp_client(srs.rtmp_port)
        cs.publish("vanish", 1)
        s.sendall(cs.data_to_send())
        rtmp_wait(s, cs, Status, code="NetStream.Publish.Start")
        cs.send_media(Message.make(9, 0, bytes([0x17, 1, 0, 0, 0]) + b"x" * 100000, 1))
        data = cs.data_to_send()
        s.sendall(data[: len(data) // 2])
        s.close()
        assert srs.wait_unpublished("live/vanish", timeout_s=5)  # noticed at once, not at a publish timeout
        # The same stream can be published again.
        publish_flv(media_flv.path, srs.rtmp_url("live/vanish"))
        assert srs.alive()


FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")
RTMPDUMP = shutil.which("rtmpdump")


@pytest.mark.skipif(not (FFMPEG and FFPROBE), reason="Debian ffmpeg/ffprobe not installed")
def test_ffmpeg_publish_ffprobe_play(tmp_path, media_flv):
    with SrsProcess(tmp_path) as srs:
        url = srs.rtmp_url("live/ff")
        pub = subprocess.Popen([FFMPEG, "-v", "error", "-re", "-stream_loop", "2", "-i", media_flv.path,
                                "-c", "copy", "-f", "flv", url])
        assert srs.wait_published("live/ff")
        r = subprocess.run([FFPROBE, "-v", "error", "-rw_timeout", "5000000", "-show_entries",
                            "stream=codec_name,width,height,sample_rate", "-of", "csv=p=0", url],
                           capture_output=True, text=True, timeout=30)
        pub.wait(30)
        out = r.stdout
        assert "h264,320,240" in out and "aac,44100" in out, r.stdout + r.stderr
        assert "complex=True" in srs.log_text()  # FFmpeg's RTMP does the digest handshake


@pytest.mark.skipif(not RTMPDUMP, reason="rtmpdump not installed")
def test_rtmpdump_complex_handshake_play(tmp_path, media_flv):
    """rtmpdump (librtmp, simple handshake) records the stream; its FLV decodes with PyAV."""
    import av

    with SrsProcess(tmp_path) as srs:
        url = srs.rtmp_url("live/dump")
        out = tmp_path / "dump.flv"
        dump = subprocess.Popen([RTMPDUMP, "-q", "-v", "-r", url, "-o", str(out), "-B", "30", "-m", "4"],
                                stderr=subprocess.DEVNULL)
        assert srs.wait_players("live/dump")
        publish_flv(media_flv.path, url, realtime=True, speed=2.0)
        # rtmpdump has written every frame once its file holds them all (it would wait -m 4 s to stop itself)
        assert wait_for(lambda: flv_video_packets(out) >= media_flv.video_frames, 10)
        dump.terminate()
        dump.wait(10)
        c = av.open(str(out))
        frames = sum(1 for p in c.demux(video=0) for _ in p.decode())
        c.close()
        assert frames >= media_flv.video_frames - 2


def test_max_connections_closes_the_excess_at_once(tmp_path):
    srs = SrsProcess(tmp_path, http_api=False, http_server=False)
    text = open(srs.conf_path).read().replace("max_connections 2000;", "max_connections 2;")
    open(srs.conf_path, "w").write(text)
    with srs:
        held = [_handshaken(srs.rtmp_port) for _ in range(2)]
        extra = socket.create_connection(("127.0.0.1", srs.rtmp_port))
        assert _expect_closed(extra, 3.0)
        for s in held:  # the first two are still served
            s.settimeout(0.5)
            try:
                assert s.recv(1) != b""
            except socket.timeout:
                pass
        for s in held:
            s.close()
        assert "max_connections=2" in srs.log_text()
