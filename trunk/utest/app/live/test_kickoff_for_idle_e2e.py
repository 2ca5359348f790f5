"""publish { kickoff_for_idle } (SRS 5) on the real server: a publisher nobody plays is disconnected
after the timeout (its unpublish runs as for any disconnect); a played one is kept."""
from __future__ import annotations

from fixtures.srs_server import Player, SrsProcess, publish_bg

BODY = "publish { kickoff_for_idle 1; }"


def test_publisher_without_players_is_kicked(tmp_path, media_flv):
    with SrsProcess(tmp_path, vhost_body=BODY) as srs:
        pub = publish_bg(media_flv.path, srs.rtmp_url("live/idle"), loops=5)  # 20 s if never kicked
        assert srs.wait_published("live/idle")
        assert srs.wait_log("kickoff publisher cid=", timeout_s=10)
        assert srs.wait_unpublished("live/idle")
        pub.join(10)
        assert not pub.is_alive() and pub.sent_ms < 15000  # cut off long before the end


def test_played_publisher_is_kept(tmp_path, media_flv):
    with SrsProcess(tmp_path, vhost_body=BODY) as srs:
        player = Player(srs.rtmp_url("live/watched"), read_timeout_s=5, decode=False)
        player.start()
        assert srs.wait_players("live/watched", 1)
        pub = publish_bg(media_flv.path, srs.rtmp_url("live/watched"), speed=1.5)
        pub.join(30)
        player.join(20)
        assert pub.error is None and player.video_frames == media_flv.video_frames, (pub.error, player.error)
        assert "kickoff publisher" not in srs.log_text()
