"""forward { backend } (SRS 5's dynamic forward) on real servers: at publish the origin POSTs on_forward
to the backend (checked by the strict SRS 5 receiver) and forwards to the rtmp url it answers, here
another server under another app and stream, where a player plays it."""
from __future__ import annotations

from fixtures.srs5_receiver import Srs5Receiver
from fixtures.srs_server import Player, SrsProcess, publish_bg, subdir


def test_backend_urls_receive_the_stream(tmp_path, media_flv):
    with SrsProcess(subdir(tmp_path, "dest")) as dest:
        target = f"rtmp://127.0.0.1:{dest.rtmp_port}/fwd/copy?from=backend"
        answers = {"on_forward": {"code": 0, "data": {"urls": [target]}}}
        with Srs5Receiver(answers) as rx:
            body = f"forward {{ enabled on; backend {rx.url('/api/v1/forward')}; }}"
            with SrsProcess(subdir(tmp_path, "origin"), vhost_body=body) as origin:
                pub = publish_bg(media_flv.path, origin.rtmp_url("live/src?token=t"), loops=3)
                assert dest.wait_published("fwd/copy", timeout_s=15), origin.log_text()[-2000:]
                player = Player(dest.rtmp_url("fwd/copy"), read_timeout_s=3, decode=False)
                player.start()
                player.join(30)
                pub.join(30)
                assert pub.error is None and player.video_frames > 25, (player.error, origin.log_text()[-2000:])
                got = rx.state()
    assert got["errors"] == []
    [asked] = [b for b in got["received"] if b["action"] == "on_forward"]
    assert asked["stream"] == "src" and asked["app"] == "live" and asked["param"] == "?token=t"
    assert asked["tcUrl"].startswith("rtmp://127.0.0.1:") and isinstance(asked["client_id"], str)


def test_failing_backend_keeps_the_publish(tmp_path, media_flv):
    with Srs5Receiver({"on_forward": {"code": 500}}) as rx:
        body = f"forward {{ enabled on; backend {rx.url('/api/v1/forward')}; }}"
        with SrsProcess(tmp_path, vhost_body=body) as origin:
            # long enough (20 s) that the backend answers while it is published, even under load
            pub = publish_bg(media_flv.path, origin.rtmp_url("live/src"), loops=5)
            assert origin.wait_log("no dynamic forward", timeout_s=20)
            assert pub.is_alive() and pub.error is None  # the publish goes on (the server's stop ends it)
