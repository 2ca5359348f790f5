"""WebRTC publish over a lossy link: an aiortc publisher (a subprocess) reaches the server through a
UDP relay that loses 5% of the datagrams each way (STUN, DTLS, RTP and RTCP alike, as ``tc netem loss
5%`` would; netem is not in every sandbox); our NACKs get the lost RTP retransmitted, so an RTMP player
decodes at least 95% of the frames the file holds (~20 s)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from fixtures.media import make_flv
from fixtures.srs_server import Player, SrsProcess
from srs.main.bench.srt_runs import free_udp_port
from fixtures.udp_relay import RandomLossRelay
from play_clients import RTC_VHOST

SECONDS, FPS = 8, 25
HERE = os.path.dirname(os.path.abspath(__file__))


def test_nack_keeps_95_percent_of_frames_through_5_percent_loss(tmp_path):
    info = make_flv(tmp_path / "src.flv", seconds=SECONDS, fps=FPS, gop=FPS, audio="aac")
    (tmp_path / "srs").mkdir()
    udp = free_udp_port()
    # the configured candidate (127.0.0.3, where nothing listens) fails its ICE check: media goes
    # through the relay, the answer's other candidate (?eip= below)
    srs = SrsProcess(tmp_path / "srs", vhost_body=RTC_VHOST.format("rtc_to_rtmp on;"),
                     global_body=f"rtc_server {{ enabled on; listen 127.0.0.1:{udp}; candidate 127.0.0.3; }}")
    with srs:
        relay = RandomLossRelay(udp, loss=0.05)
        relay.start()
        stream = "live/lossy"
        player = Player(srs.rtmp_url(stream), max_seconds=60, read_timeout_s=6)
        player.start()
        assert srs.wait_players(stream), srs.log_text()[-3000:]
        # ?eip= puts the relay in the answer
        api = srs.api_url(f"rtc/v1/publish/?eip=127.0.0.1:{relay.port}")
        try:
            pub = subprocess.run([sys.executable, os.path.join(HERE, "publish_clients.py"), api, stream, info.path,
                                  str(SECONDS + 3)], capture_output=True, timeout=90)
        finally:
            relay.close()
        assert pub.returncode == 0, pub.stderr.decode(errors="replace")[-3000:]
        assert srs.wait_unpublished(stream, timeout_s=40), srs.log_text()[-3000:]
        player.join(30)
        log = srs.log_text()
        assert "Traceback" not in log, log[-5000:]
        nacks = re.search(r"RTC publish __defaultVhost__/live/lossy ended: .* nacks=(\d+)", log)
        assert nacks and int(nacks.group(1)) > 10, log[-3000:]
    assert relay.lost["up"] > 20, relay.lost
    assert player.error is None, player.error
    assert player.first_video_key and player.monotonic()
    ratio = player.video_frames / info.video_frames
    print(f"5% loss ({relay.lost} of {relay.counts} datagrams): {player.video_frames}/{info.video_frames} "
          f"frames decoded ({ratio:.1%}), {player.audio_frames} AAC frames")
    assert ratio >= 0.95, (player.video_frames, info.video_frames)
