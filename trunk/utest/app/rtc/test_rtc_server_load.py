"""sb_rtc_load (srs-bench's WebRTC players) against the real server: a few WHEP players do ICE and
DTLS with the server, then count the SRTP bytes they get; every one must be alive and the bytes
must carry the stream's rate (RTMP in, one packetisation, SRTP per player)."""
from __future__ import annotations

import json
import subprocess
import sys

from fixtures.srs_server import Player, publish_bg
from play_clients import rtc_server

PLAYERS = 5
SECONDS = 6


def test_sb_rtc_load_players_get_the_stream(tmp_path, media_flv):
    with rtc_server(tmp_path) as srs:
        publish_bg(media_flv.path, srs.rtmp_url("live/livestream"), loops=8)
        assert srs.wait_published("live/livestream"), srs.output()[-3000:]
        out = tmp_path / "load.json"
        r = subprocess.run([sys.executable, "-m", "srs.main.bench.sb_rtc_load", "-c", str(PLAYERS), "-r",
                            srs.api_url("rtc/v1/whep/?app=live&stream=livestream"), "-s", "0.5", "-m", "1",
                            "--duration", str(SECONDS), "--json", str(out), "-v"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        d = json.loads(out.read_text())
        assert d["etasks"] == 0 and d["tasks"] == PLAYERS, r.stdout + r.stderr
        assert max(s[1] for s in d["samples"]) == PLAYERS       # every player's DTLS done
        kbps = d["nread_bytes"] * 8 / 1000 / (SECONDS - 1) / PLAYERS
        assert kbps > 150, (kbps, r.stdout)                     # the 4 s stream is ~350 kbps
        assert srs.wait_log("established", PLAYERS)


def test_sb_rtc_publish_publishers_decoded_and_forwarded(tmp_path, media_flv):
    """sb_rtc_publish (N WHIP publishers of an FLV, our own ICE/DTLS/SRTP): every publisher is alive,
    a PyAV RTMP player decodes one of the streams (rtc_to_rtmp on: the bench's packets are real H.264
    and Opus), and sb_rtc_load's WHEP players of another get it forwarded at its rate."""
    publishers = 3
    with rtc_server(tmp_path, rtc="rtc_to_rtmp on;") as srs:
        pub_json = tmp_path / "pub.json"
        pub = subprocess.Popen([sys.executable, "-m", "srs.main.bench.sb_rtc_publish", "-i", media_flv.path,
                                "-c", str(publishers), "-r", srs.api_url("rtc/v1/whip/?app=live&stream=s{i}"),
                                "-s", "0", "-m", "1", "--duration", "12", "--json", str(pub_json), "-v"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert srs.wait_published("live/s0") and srs.wait_published("live/s2"), srs.output()[-3000:]
            rtmp = Player(srs.rtmp_url("live/s0"), max_seconds=20, read_timeout_s=4, stop_after_video=40)
            rtmp.start()
            out = tmp_path / "load.json"
            r = subprocess.run([sys.executable, "-m", "srs.main.bench.sb_rtc_load", "-c", "2", "-r",
                                srs.api_url("rtc/v1/whep/?app=live&stream=s1"), "-s", "0", "-m", "1",
                                "--duration", "5", "--json", str(out)], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stdout + r.stderr
            rtmp.join(25)
        finally:
            log, _ = pub.communicate(timeout=60)
        d = json.loads(pub_json.read_text())
        assert d["etasks"] == 0 and d["tasks"] == publishers and max(s[1] for s in d["samples"]) == publishers, log
        load = json.loads(out.read_text())
        kbps = load["nread_bytes"] * 8 / 1000 / 4 / 2
        assert kbps > 150, (kbps, r.stdout)                     # the 4 s file is ~350 kbps
        assert rtmp.error is None and (rtmp.vcodec, rtmp.acodec) == ("h264", "aac"), rtmp.error
        assert rtmp.video_frames >= 40 and rtmp.first_video_key, rtmp.video_frames
        assert "Traceback" not in srs.log_text(), srs.log_text()[-5000:]
