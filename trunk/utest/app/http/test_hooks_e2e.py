"""HTTP callbacks and the heartbeat end to end: the real server process calling the real demo receiver
(research/api-server) for PyAV publishers and players over RTMP and HTTP-FLV."""
from __future__ import annotations

import json
import time
import urllib.request

import pytest

from fixtures.api_server import ApiServer
from fixtures.srs_server import Player, SrsProcess, publish_bg, publish_flv, wait_for, wait_port

REMUX = "http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }"


def hooks_body(rx: ApiServer, query: str = "") -> str:
    q = ("?" + query) if query else ""
    return (f"http_hooks {{ enabled on; on_connect {rx.url('/api/v1/clients')}{q}; "
            f"on_close {rx.url('/api/v1/clients')}; on_publish {rx.url('/api/v1/streams')}{q}; "
            f"on_unpublish {rx.url('/api/v1/streams')}; on_play {rx.url('/api/v1/sessions')}{q}; "
            f"on_stop {rx.url('/api/v1/sessions')}; }}")


def bodies(rx: ApiServer, action: str) -> list:
    return [e["body"] for e in rx.received() if isinstance(e.get("body"), dict) and e["body"].get("action") == action]


def api_streams(srs) -> list:
    with urllib.request.urlopen(srs.api_url("/api/v1/streams"), timeout=5) as resp:
        return json.loads(resp.read())["streams"]


def test_hook_bodies_for_rtmp_publish_rtmp_play_and_http_flv_play(tmp_path, media_flv):
    with ApiServer() as rx, SrsProcess(tmp_path, vhost_body=REMUX + hooks_body(rx)) as srs:
        assert wait_port(srs.http_port)  # SrsProcess waits for the RTMP port only
        rtmp = Player(srs.rtmp_url("live/hooked?token=play1"), read_timeout_s=3, decode=False)
        flv = Player(srs.http_url("live/hooked.flv?token=play2"), read_timeout_s=3, decode=False)
        rtmp.start()
        flv.start()
        assert srs.wait_players("live/hooked", 2)  # both passed on_play and wait for the stream
        publish_flv(media_flv.path, srs.rtmp_url("live/hooked?token=pub"), realtime=True, speed=4.0)
        rtmp.join(20)
        flv.join(20)
        assert rtmp.video_frames > 0 and flv.video_frames > 0, (rtmp.error, flv.error)
        # the close/stop/unpublish hooks come when the connections end
        assert wait_for(lambda: len(bodies(rx, "on_close")) >= 2 and len(bodies(rx, "on_stop")) >= 2
                        and bodies(rx, "on_unpublish"), 10), rx.received()
        connects = bodies(rx, "on_connect")
        publishes = bodies(rx, "on_publish")
        plays = bodies(rx, "on_play")
        assert len(publishes) == 1 and len(plays) == 2 and len(connects) == 2, rx.received()
        rtmp_port = srs.rtmp_port
        for b in connects:
            assert b["ip"] == "127.0.0.1" and b["vhost"] == "__defaultVhost__" and b["app"] == "live"
            assert b["tcUrl"].startswith(f"rtmp://127.0.0.1:{rtmp_port}/live") and "pageUrl" in b
            assert isinstance(b["client_id"], str) and b["client_id"].isdigit()  # SRS 5: a string
        pub = publishes[0]
        assert pub["stream"] == "hooked" and pub["param"] == "?token=pub" and pub["app"] == "live"
        assert pub["tcUrl"].startswith(f"rtmp://127.0.0.1:{rtmp_port}/live")
        assert pub["client_id"] in [c["client_id"] for c in connects]
        by_param = {b["param"]: b for b in plays}
        assert set(by_param) == {"?token=play1", "?token=play2"}, plays
        for b in plays:
            assert b["stream"] == "hooked" and b["vhost"] == "__defaultVhost__" and b["app"] == "live"
            assert b["ip"] == "127.0.0.1" and "pageUrl" in b
        # the HTTP-FLV player's play/stop carry its own HTTP connection id, with no on_connect
        http_cid = by_param["?token=play2"]["client_id"]
        assert http_cid not in [c["client_id"] for c in connects]
        assert http_cid in [b["client_id"] for b in bodies(rx, "on_stop")]
        unpub = bodies(rx, "on_unpublish")[0]
        assert unpub["client_id"] == pub["client_id"] and unpub["stream"] == "hooked" and unpub["param"] == "?token=pub"
        closes = {b["client_id"]: b for b in bodies(rx, "on_close")}
        assert closes[pub["client_id"]]["recv_bytes"] >= media_flv.size * 0.9
        assert closes[by_param["?token=play1"]["client_id"]]["send_bytes"] > 100_000
        # the order of one connection's life
        pub_actions = [e["body"]["action"] for e in rx.received() if e["body"]["client_id"] == pub["client_id"]]
        assert pub_actions == ["on_connect", "on_publish", "on_unpublish", "on_close"], pub_actions


def test_denied_publish_creates_no_stream(tmp_path, media_flv):
    with ApiServer("--deny-publish", "secret") as rx, SrsProcess(tmp_path, vhost_body=hooks_body(rx)) as srs:
        assert wait_port(srs.api_port)
        # As SRS, NetStream.Publish.Start goes out before on_publish is asked: a publisher notices the
        # refusal when its writes fail on the closed connection, so publish at realtime pace.
        t0 = time.monotonic()
        with pytest.raises(Exception):
            publish_flv(media_flv.path, srs.rtmp_url("live/secret"), realtime=True)
        assert time.monotonic() - t0 < 3.0
        assert [b["stream"] for b in bodies(rx, "on_publish")] == ["secret"]
        assert not [s for s in api_streams(srs) if s["name"] == "secret"]
        assert not bodies(rx, "on_unpublish")  # never published
        # another stream is fine
        assert publish_flv(media_flv.path, srs.rtmp_url("live/open")) > 0


def test_denied_play_rtmp_and_http_flv(tmp_path, media_flv):
    with ApiServer("--deny-play", "paid") as rx, SrsProcess(tmp_path, vhost_body=REMUX + hooks_body(rx)) as srs:
        assert wait_port(srs.http_port)
        pub = publish_bg(media_flv.path, srs.rtmp_url("live/paid"))
        assert srs.wait_published("live/paid")
        rtmp = Player(srs.rtmp_url("live/paid"), read_timeout_s=2, decode=False)
        rtmp.start()
        rtmp.join(15)
        assert rtmp.video_frames == 0
        try:
            urllib.request.urlopen(srs.http_url("live/paid.flv"), timeout=5)
            status = 200
        except urllib.error.HTTPError as e:
            status = e.code
        assert status == 403
        pub.join(30)
        assert len(bodies(rx, "on_play")) == 2


def test_hanging_hook_rejects_within_timeout_while_other_stream_flows(tmp_path, media_flv, monkeypatch):
    """SRS has no hook timeout knob (30 s); the server reads SRS_HOOKS_TIMEOUT_S for a short one."""
    monkeypatch.setenv("SRS_HOOKS_TIMEOUT_S", "1.5")
    with ApiServer() as rx:
        slow = (f"vhost slow.vhost {{ http_hooks {{ enabled on; "
                f"on_publish {rx.url('/api/v1/streams')}?delay=6; }} }}\n")
        with SrsProcess(tmp_path, vhost_body=REMUX, extra_vhosts=slow) as srs:
            assert wait_port(srs.http_port)
            flowing = publish_bg(media_flv.path, srs.rtmp_url("live/flowing"), loops=2)
            assert srs.wait_published("live/flowing")
            player = Player(srs.http_url("live/flowing.flv"), read_timeout_s=3, decode=False)
            player.start()
            assert wait_for(lambda: player.video_frames > 0, 5)
            frames_before = player.video_frames
            t0 = time.monotonic()
            with pytest.raises(Exception):
                publish_flv(media_flv.path, srs.rtmp_url("live/hung?vhost=slow.vhost"), realtime=True)
            took = time.monotonic() - t0
            frames_during = player.video_frames - frames_before
            print(f"hung hook: publish rejected after {took:.2f}s (timeout 1.5 s); "
                  f"{frames_during} frames flowed meanwhile")
            assert 1.4 <= took < 4.0, took
            assert frames_during >= 25  # about 1.5 s of 25 fps video kept flowing
            assert not [s for s in api_streams(srs) if s["name"] == "hung"]
            flowing.join(30)
            player.join(15)
            assert player.error is None


def test_heartbeat_reaches_receiver(tmp_path):
    with ApiServer() as rx:
        beat = (f"heartbeat {{ enabled on; interval 0.5; url {rx.url('/api/v1/servers')}; "
                f"device_id \"srs-h12\"; summaries on; }}")
        with SrsProcess(tmp_path, global_body=beat) as srs:
            def servers():
                with urllib.request.urlopen(rx.url("/api/v1/servers"), timeout=5) as resp:
                    return json.loads(resp.read())["data"]
            got = wait_for(lambda: [s for s in servers() if s.get("device_id") == "srs-h12"], 8)
            assert got, rx.output() + srs.output()
            s = got[0]
            assert s["ip"] and s["ip"].count(".") == 3
            assert s["summaries"]["ok"] is True and s["summaries"]["self"]["pid"] == srs.proc.pid
            # it keeps beating
            n1 = len([e for e in rx.received() if e.get("resource") == "servers"])
            assert wait_for(lambda: len([e for e in rx.received() if e.get("resource") == "servers"]) >= n1 + 1, 5)
        # the server stopped: no more beats. A beat sent just before the exit may still be on its way to the
        # receiver's log (nothing tells when it has landed): let it land, then check that nothing comes for
        # more than two intervals.
        time.sleep(0.3)
        n3 = len([e for e in rx.received() if e.get("resource") == "servers"])
        time.sleep(1.2)  # the "nothing happens" window is the test
        assert len([e for e in rx.received() if e.get("resource") == "servers"]) == n3
