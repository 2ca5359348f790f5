"""HTTP delivery end to end: HTTP-FLV/TS/AAC/MP3 live remux and HLS from a stream published by PyAV,
read back and decoded by PyAV (FFmpeg's HTTP/HLS code) from the real server process."""
import re
import socket
import threading
import urllib.request

import av
import pytest

from fixtures.srs_server import Player, SrsProcess, media_playlist, publish_bg, publish_flv

REMUX = "http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }"


@pytest.mark.parametrize("ext,video", [("flv", True), ("ts", True), ("aac", False)])
def test_http_remux_formats_decode(tmp_path, media_flv, ext, video):
    with SrsProcess(tmp_path, vhost_body=REMUX) as srs:
        url = srs.rtmp_url("live/livestream")
        # hstrs: the player asks before the stream exists and starts receiving when it is published.
        player = Player(srs.http_url(f"live/livestream.{ext}"), read_timeout_s=3)
        player.start()
        assert srs.wait_players("live/livestream")
        publish_flv(media_flv.path, url, realtime=True, speed=4.0)
        player.join(30)
        assert player.error is None, player.error
        assert abs(player.audio_frames - media_flv.audio_frames) <= 2
        if video:
            assert player.video_frames == media_flv.video_frames
            assert (player.width, player.height) == (320, 240)
            assert player.vcodec == "h264" and player.first_video_key
            assert player.monotonic()
        else:
            assert player.video_frames == 0 and player.acodec == "aac"


def test_http_mp3_remux_of_mp3_stream(tmp_path, media_flv_mp3):
    with SrsProcess(tmp_path, vhost_body=REMUX) as srs:
        player = Player(srs.http_url("live/radio.mp3"), read_timeout_s=3)
        player.start()
        assert srs.wait_players("live/radio")
        publish_flv(media_flv_mp3.path, srs.rtmp_url("live/radio"), realtime=True, speed=4.0)
        player.join(30)
        assert player.error is None, player.error
        assert player.acodec.startswith("mp3")  # FFmpeg names its decoder mp3float
        assert player.audio_frames >= media_flv_mp3.audio_frames - 2


def test_http_flv_late_player_starts_with_gop(tmp_path, media_flv):
    with SrsProcess(tmp_path, vhost_body=REMUX) as srs:
        url = srs.rtmp_url("live/late")
        pub = publish_bg(media_flv.path, url, loops=2)
        assert pub.wait_sent(1500)  # join in the middle of a GOP (GOP 1 s)
        player = Player(srs.http_url("live/late.flv"), read_timeout_s=3, max_seconds=4)
        player.start()
        pub.join(30)
        player.join(30)
        assert player.first_video_key is True
        assert player.video_frames >= 50
        assert player.monotonic()


def _count_flv_video(data: bytes) -> int:
    from srs.kernel.flv import FlvDecoder

    msgs = FlvDecoder().receive_data(data)
    return sum(1 for m in msgs if m.is_video and not m.seq_header and m.payload[1] == 1)


def test_200_http_flv_players_get_whole_stream(tmp_path, media_flv):
    n = 200
    with SrsProcess(tmp_path, vhost_body=REMUX) as srs:
        bodies = [b""] * n
        errors = []

        def play(i):
            try:
                s = socket.create_connection(("127.0.0.1", srs.http_port), timeout=10)
                s.sendall(b"GET /live/many.flv HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                s.settimeout(4)
                chunks = []
                while True:
                    try:
                        d = s.recv(65536)
                    except socket.timeout:
                        break
                    if not d:
                        break
                    chunks.append(d)
                s.close()
                raw = b"".join(chunks)
                bodies[i] = raw[raw.index(b"\r\n\r\n") + 4:]
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        threads = [threading.Thread(target=play, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        assert srs.wait_players("live/many", n, 30), errors[:3]
        publish_flv(media_flv.path, srs.rtmp_url("live/many"), realtime=True, speed=2.0)
        for t in threads:
            t.join(30)
        assert not errors, errors[:3]
        counts = {_count_flv_video(b) for b in bodies}
        assert counts == {media_flv.video_frames}, counts


def test_hls_over_http_decodes_and_m3u8_is_valid(tmp_path, media_flv):
    body = (f"{REMUX}\nhls {{ enabled on; hls_fragment 2; hls_window 10; hls_path {tmp_path}/html; }}")
    with SrsProcess(tmp_path, vhost_body=body) as srs:
        publish_flv(media_flv.path, srs.rtmp_url("live/hls"), realtime=True, speed=2.0, loops=3)
        assert srs.wait_unpublished("live/hls")  # the last segment and the playlist are written
        m3u8, _ = media_playlist(srs.http_url("live/hls.m3u8"))
        assert m3u8.startswith("#EXTM3U\n#EXT-X-VERSION:3\n")
        target = int(re.search(r"#EXT-X-TARGETDURATION:(\d+)", m3u8).group(1))
        durations = [float(x) for x in re.findall(r"#EXTINF:([\d.]+),", m3u8)]
        assert durations and all(d <= target for d in durations)
        assert all(abs(d - 2.0) <= 0.2 for d in durations[:-1]), durations
        c = av.open(srs.http_url("live/hls.m3u8"), timeout=(5, 5))
        frames = 0
        try:
            for pkt in c.demux(video=0):
                for fr in pkt.decode():
                    frames += 1
                    assert (fr.width, fr.height) == (320, 240)
        except av.error.ExitError:
            pass  # a live playlist has no ENDLIST: the reader waits for more until its timeout
        c.close()
        assert frames >= 3 * 2.0 * 25 - 5  # a live reader starts three segments from the end
        # Every listed segment, fetched over HTTP, decodes on its own and starts with a keyframe.
        total = 0
        for uri in [ln for ln in m3u8.splitlines() if ln and not ln.startswith("#")]:
            seg = av.open(srs.http_url("live/" + uri), timeout=(5, 5))
            first = None
            for pkt in seg.demux(video=0):
                if first is None and pkt.size:
                    first = pkt.is_keyframe
                total += len(pkt.decode())
            seg.close()
            assert first is True, uri
        assert abs(total - sum(durations) * 25) <= max(3, 0.02 * total), (total, durations)


def test_players_page_and_static_files(tmp_path):
    with SrsProcess(tmp_path) as srs:
        (tmp_path / "html" / "index.html").write_text("<h1>hello</h1>")
        r = urllib.request.urlopen(srs.http_url("/"), timeout=5)
        assert r.status == 200 and b"hello" in r.read()
        assert r.headers["Server"].startswith("SRS/")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(srs.http_url("/../etc/passwd"), timeout=5)
        assert e.value.code in (400, 403, 404)


def test_http_static_mount_serves_another_dir(tmp_path):
    other = tmp_path / "vod"
    other.mkdir()
    (other / "a.txt").write_text("from the vod dir")
    body = f"http_static {{ enabled on; mount [vhost]/vod/; dir {other}; }}"
    with SrsProcess(tmp_path, vhost_body=body) as srs:
        r = urllib.request.urlopen(srs.http_url("vod/a.txt"), timeout=5)
        assert r.read() == b"from the vod dir"
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(srs.http_url("vod/../../etc/passwd"), timeout=5)
        assert e.value.code in (400, 403, 404)


FFPROBE = __import__("shutil").which("ffprobe")


@pytest.mark.skipif(not FFPROBE, reason="Debian ffprobe not installed")
@pytest.mark.parametrize("ext", ["flv", "ts"])
def test_ffprobe_reads_http_live(tmp_path, media_flv, ext):
    import subprocess

    with SrsProcess(tmp_path, vhost_body=REMUX) as srs:
        url = srs.rtmp_url("live/probe")
        pub = publish_bg(media_flv.path, url, loops=2)
        assert srs.wait_published("live/probe")
        r = subprocess.run([FFPROBE, "-v", "error", "-rw_timeout", "5000000", "-show_entries",
                            "stream=codec_name,width,height,sample_rate", "-of", "csv=p=0",
                            srs.http_url(f"live/probe.{ext}")], capture_output=True, text=True, timeout=30)
        pub.join(30)
        assert "h264,320,240" in r.stdout and "aac,44100" in r.stdout, r.stdout + r.stderr
