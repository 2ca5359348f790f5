"""Statistic: the registry behind /api/v1/{vhosts,streams,clients}, fed with real Requests."""
from __future__ import annotations

import json

from srs.app.api.statistic import Statistic, stream_url
from srs.protocol.request import Request


def make_req(url="rtmp://127.0.0.1/live/livestream", vhost="__defaultVhost__", page_url=""):
    req = Request.from_url(url, ip="10.0.0.1")
    req.update_vhost(vhost)
    req.page_url = page_url
    return req


def test_server_id_like_srs3():
    stat = Statistic()
    assert stat.server_id.startswith("vid-")
    assert Statistic(server_id="vid-fixed").server_id == "vid-fixed"


def test_publish_then_play_counts_and_dump_shapes():
    stat = Statistic()
    pub, player = make_req(), make_req(page_url="http://a.com/p.html")
    stat.on_client(100, pub, "fmle-publish", "10.0.0.1", None, now_ms=1000)
    stat.on_stream_publish(pub, 100)
    stat.on_client(101, player, "Play", "10.0.0.2", None, now_ms=2000)
    stat.on_video_info(pub, "H264", "High", "3.1", 768, 320)
    stat.on_audio_info(pub, "AAC", 44100, 2, "LC")
    stat.on_frames(pub, 25)

    [stream] = stat.dumps_streams(now_ms=5000)
    assert stream["name"] == "livestream" and stream["app"] == "live"
    assert stream["clients"] == 2 and stream["frames"] == 25 and stream["live_ms"] == 5000
    assert stream["publish"] == {"active": True, "cid": "100"}  # SRS 5: ids are strings
    assert stream["tcUrl"] == "rtmp://127.0.0.1/live" and stream["url"] == "/live/livestream"
    assert stream["video"] == {"codec": "H264", "profile": "High", "level": "3.1", "width": 768, "height": 320}
    assert stream["audio"] == {"codec": "AAC", "sample_rate": 44100, "channel": 2, "profile": "LC"}
    assert set(stream["kbps"]) == {"recv_30s", "send_30s"}

    [vhost] = stat.dumps_vhosts()
    assert vhost["name"] == "__defaultVhost__" and vhost["id"] == stream["vhost"]
    assert vhost["clients"] == 2 and vhost["streams"] == 1 and vhost["enabled"] is True
    assert vhost["hls"] == {"enabled": False}

    clients = {int(c["id"]): c for c in stat.dumps_clients(now_ms=4000)}
    assert all(isinstance(c["id"], str) for c in clients.values())
    assert clients[101]["name"] == "livestream" and set(clients[101]["kbps"]) == {"recv_30s", "send_30s"}
    assert clients[100]["type"] == "fmle-publish" and clients[100]["publish"] is True
    assert clients[101]["type"] == "Play" and clients[101]["publish"] is False
    assert clients[101]["pageUrl"] == "http://a.com/p.html"
    assert clients[101]["tcUrl"] == "rtmp://127.0.0.1/live"
    assert clients[101]["url"] == "/live/livestream"  # default vhost left out, as SRS
    assert clients[101]["alive"] == 2.0 and clients[100]["alive"] == 3.0
    assert clients[101]["stream"] == stream["id"] and clients[101]["vhost"] == vhost["id"]
    json.dumps([stream, vhost, list(clients.values())])  # JSON-able


def test_stream_id_stable_and_stream_removed_when_unused():
    stat = Statistic()
    req = make_req()
    stat.on_client(1, req, "flash-publish", "1.1.1.1", None, 0)
    stat.on_stream_publish(req, 1)
    sid = stat.dumps_streams(0)[0]["id"]
    assert stat.stream_id(req) == sid and stat.find_stream(sid) is not None
    stat.on_client(2, make_req(), "Play", "1.1.1.2", None, 0)
    assert stat.dumps_streams(0)[0]["id"] == sid  # same name, same id

    stat.on_stream_unpublish(req)
    [stream] = stat.dumps_streams(0)  # a player is still there
    assert stream["publish"]["active"] is False and stream["video"] is None
    assert stat.dumps_vhosts()[0]["streams"] == 0
    stat.on_disconnect(1)
    stat.on_disconnect(2)
    assert stat.dumps_streams(0) == [] and stat.find_stream(sid) is None
    assert stat.nb_clients == 0

    # republished later: the id is remembered
    stat.on_client(3, req, "fmle-publish", "1.1.1.1", None, 0)
    stat.on_stream_publish(req, 3)
    assert stat.dumps_streams(0)[0]["id"] == sid


def test_vhosts_and_streams_separate():
    stat = Statistic()
    a = make_req("rtmp://127.0.0.1/live/a")
    b = make_req("rtmp://127.0.0.1/live/b")
    c = make_req("rtmp://v.com/live/a", vhost="v.com")
    for cid, req in ((1, a), (2, b), (3, c)):
        stat.on_client(cid, req, "Play", "ip", None, 0)
    streams = stat.dumps_streams(0)
    assert len(streams) == 3 and len({s["id"] for s in streams}) == 3
    vhosts = {v["name"]: v for v in stat.dumps_vhosts()}
    assert vhosts["__defaultVhost__"]["clients"] == 2 and vhosts["v.com"]["clients"] == 1
    assert [s["vhost"] for s in streams if s["name"] == "a" and s["vhost"] == vhosts["v.com"]["id"]]
    assert stream_url("v.com", "live", "a") == "v.com/live/a"


def test_same_connection_identifies_again_is_not_double_counted():
    stat = Statistic()
    a, b = make_req("rtmp://h/live/a"), make_req("rtmp://h/live/b")
    stat.on_client(7, a, "fmle-publish", "ip", None, 100)
    stat.on_client(7, b, "fmle-publish", "ip", None, 900)  # republish another stream
    assert stat.nb_clients == 1
    [stream] = stat.dumps_streams(1000)
    assert stream["name"] == "b" and stream["clients"] == 1
    assert stat.dumps_clients(1100)[0]["alive"] == 1.0  # keeps its start time


def test_bytes_roll_up_and_kbps_window():
    stat = Statistic()
    req = make_req()
    stat.on_client(5, req, "Play", "ip", None, 0)
    stat.sample(0)
    stat.add_bytes(5, recv=1000, send=125_000)   # 1 Mbit sent
    stat.add_bytes(999, recv=10, send=10)        # unknown connection: server total only
    stat.sample(1000)
    [stream] = stat.dumps_streams(0)
    assert stream["send_bytes"] == 125_000 and stream["recv_bytes"] == 1000
    assert stream["kbps"]["send_30s"] == 1000 and stream["kbps"]["recv_30s"] == 8
    assert stat.dumps_vhosts()[0]["send_bytes"] == 125_000
    assert stat.kbps.send_bytes == 125_010
    assert stat.dumps_clients(0)[0]["send_bytes"] == 125_000


def test_kick_runs_the_callable_and_lookup_by_text_id():
    stat = Statistic()
    kicked = []
    stat.on_client(42, make_req(), "Play", "ip", lambda: kicked.append(42), 0)
    assert stat.find_client("42") is stat.find_client(42) is not None
    assert stat.find_client("nope") is None and stat.find_client(None) is None
    assert stat.kick("42") is True and kicked == [42]
    assert stat.kick(43) is False


def test_clients_paging():
    stat = Statistic()
    for cid in range(30):
        stat.on_client(cid, make_req(), "Play", "ip", None, 0)
    assert [c["id"] for c in stat.dumps_clients(0, start=5, count=3)] == ["5", "6", "7"]
    assert len(stat.dumps_clients(0)) == 10
    assert stat.dumps_clients(0, start=100, count=10) == []


def test_vhost_info_from_owner():
    stat = Statistic(vhost_info=lambda name: {"enabled": name != "off.com",
                                              "hls": {"enabled": True, "fragment": 10.0}})
    stat.on_client(1, make_req("rtmp://off.com/live/s", vhost="off.com"), "Play", "ip", None, 0)
    [vhost] = stat.dumps_vhosts()
    assert vhost["enabled"] is False and vhost["hls"] == {"enabled": True, "fragment": 10.0}
