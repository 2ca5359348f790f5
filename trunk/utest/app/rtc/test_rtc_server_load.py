"""sb_rtc_load (srs-bench's WebRTC players) against the real server: a few WHEP players do ICE and
DTLS with the server, then count the SRTP bytes they get; every one must be alive and the bytes
must carry the stream's rate (RTMP in, one packetisation, SRTP per player)."""
from __future__ import annotations

import json
import subprocess
import sys

from fixtures.srs_server import publish_bg
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
