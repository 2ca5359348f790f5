"""gop_cache_max_frames (SRS 5) on the real server: a small bound clears the cache and warns; the
default (2500) never does for a 1 s GOP; players still play."""
from __future__ import annotations

from fixtures.srs_server import Player, SrsProcess, publish_bg


def test_small_bound_clears_the_gop_cache(tmp_path, media_flv):
    with SrsProcess(tmp_path, vhost_body="play { gop_cache_max_frames 10; }") as srs:
        pub = publish_bg(media_flv.path, srs.rtmp_url("live/bounded"), speed=2.0)
        assert srs.wait_log("gop cache exceeds max frames=10")
        player = Player(srs.rtmp_url("live/bounded"), read_timeout_s=3, decode=False)
        player.start()
        pub.join(30)
        player.join(20)
        assert pub.error is None and player.video_frames > 0, (pub.error, player.error)


def test_default_bound_keeps_the_gop(tmp_path, media_flv):
    with SrsProcess(tmp_path) as srs:
        pub = publish_bg(media_flv.path, srs.rtmp_url("live/gop"), speed=4.0)
        pub.join(30)
        assert pub.error is None and srs.wait_unpublished("live/gop")
        assert "gop cache exceeds" not in srs.log_text()
