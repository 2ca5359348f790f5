"""Origin cluster (SRS 3 coworkers + RTMP 302) and reuseport, end to end with real server processes.

Origin cluster: origins A and B list each other's HTTP API as coworkers; a stream published on B is
played on A by a redirect to B (our RtmpClient sees the 302), and an edge whose origin is A follows
that redirect. reuseport: two edge processes listen on one RTMP port; both serve, and when one is
killed the other keeps serving new players.
"""
import json
import signal
import time
import urllib.request

import pytest

from fixtures.srs_server import Player, SrsProcess, free_port, publish_bg, subdir, wait_for
from srs.app.cluster import coworkers
from srs.app.rtmp.client import Redirected, RtmpClient, open_client
from srs.kernel.errors import RtmpError, SrsError
from srs.protocol.request import Request

CLUSTER = "cluster { mode local; origin_cluster on; coworkers COWORKERS; }"


def api_get(srs, path):
    with urllib.request.urlopen(srs.api_url(path), timeout=5) as r:
        return json.loads(r.read())


def origins(tmp_path):
    """Two origins, each listing both APIs (itself included, as SRS's example confs do)."""
    a = SrsProcess(subdir(tmp_path, "a"), vhost_body=CLUSTER)
    b = SrsProcess(subdir(tmp_path, "b"), vhost_body=CLUSTER)
    peers = f"127.0.0.1:{a.api_port} 127.0.0.1:{b.api_port}"
    for srs in (a, b):
        with open(srs.conf_path) as f:
            text = f.read()
        with open(srs.conf_path, "w") as f:
            f.write(text.replace("COWORKERS", peers))
    return a, b


def cluster_query(srs, stream, coworker_port):
    return api_get(srs, f"api/v1/clusters?vhost=__defaultVhost__&app=live&stream={stream}&ip=127.0.0.1"
                        f"&coworker=127.0.0.1:{coworker_port}")


# ------------------------------------------------------------------------------- pure helpers
def test_parse_origin_answers():
    ok = json.dumps({"code": 0, "data": {"query": {}, "origin": {"ip": "10.0.0.2", "port": 19350}}}).encode()
    assert coworkers.parse_origin(ok) == ("10.0.0.2", 19350)
    assert coworkers.parse_origin(b'{"code":0,"data":{"query":{},"origin":null}}') is None
    assert coworkers.parse_origin(b'{"code":0,"data":{"origin":{"ip":"","port":1935}}}') is None
    assert coworkers.parse_origin(b'{"code":0,"data":{"origin":{"ip":"h","port":true}}}') is None
    for bad in (b"", b"not json", b"[1,2]", b'{"code":0}', b"\xff\xfe"):
        with pytest.raises(SrsError):
            coworkers.parse_origin(bad)


def test_redirect_and_query_urls():
    req = Request.from_url("rtmp://10.0.0.1:1935/live/show?token=abc")
    req.update_vhost("__defaultVhost__")
    assert coworkers.redirect_url("10.0.0.2", 19350, req) == "rtmp://10.0.0.2:19350/live/show?token=abc"
    assert coworkers.tc_url_of("rtmp://10.0.0.2:19350/live/show?token=abc") == "rtmp://10.0.0.2:19350/live"
    req = Request.from_url("rtmp://10.0.0.1/live?vhost=v.com/show")
    req.update_vhost("v.com")
    assert coworkers.redirect_url("10.0.0.2", 1935, req) == "rtmp://10.0.0.2:1935/live/show?vhost=v.com"
    url = coworkers.query_url("127.0.0.1:9090", req)
    assert url.startswith("http://127.0.0.1:9090/api/v1/clusters?vhost=v.com&ip=10.0.0.1&app=live&stream=show")
    assert url.endswith("&coworker=127.0.0.1%3A9090")


def test_rtmp_302_round_trip_through_the_sessions():
    from srs.app.rtmp.client import redirect_of
    from srs.protocol import rtmp_stack as stack

    cs, ss = stack.ClientSession(), stack.ServerSession()
    cs.connect("rtmp://127.0.0.1/live", "live")
    evs = ss.receive_data(cs.data_to_send())
    assert any(isinstance(e, stack.ConnectRequest) for e in evs)
    ss.accept_connect()
    cs.receive_data(ss.data_to_send())
    url = "rtmp://10.0.0.2:19350/live/show?token=1"
    ss.redirect(coworkers.tc_url_of(url), url)
    status = [e for e in cs.receive_data(ss.data_to_send()) if isinstance(e, stack.Status)]
    assert len(status) == 1 and status[0].level == "error"
    assert status[0].code == "NetConnection.Connect.Rejected" and status[0].description == "RTMP 302 Redirect"
    assert status[0].info["ex"] == {"code": 302.0, "redirect": "rtmp://10.0.0.2:19350/live", "redirect2": url}
    assert redirect_of(status[0].info) == url
    assert redirect_of({"ex": {"redirect": "rtmp://h:1/app"}}) == "rtmp://h:1/app"  # early SRS 3
    assert redirect_of({"level": "error"}) == "" and redirect_of({"ex": {"redirect2": 5}}) == ""
    assert redirect_of(None) == ""
    err = Redirected("x", url)
    assert (err.host, err.port, err.code) == ("10.0.0.2", 19350, 2997)


# ------------------------------------------------------------------------------- end to end
def test_origin_cluster_redirects_players_and_edges(tmp_path, media_flv):
    a, b = origins(tmp_path)
    edge = SrsProcess(subdir(tmp_path, "edge"), http_api=False, http_server=False,
                      vhost_body=f"cluster {{ mode remote; origin 127.0.0.1:{a.rtmp_port}; }}")
    with a, b, edge:
        # nothing published anywhere: refused with StreamNotFound (SRS 3 closes the player too)
        c = RtmpClient("127.0.0.1", a.rtmp_port, 5)
        try:
            c.connect(f"rtmp://127.0.0.1:{a.rtmp_port}/live", "live")
            c.play("nobody")
            with pytest.raises(RtmpError) as info:
                for _ in range(20):
                    list(c.read_messages(3))
            assert not isinstance(info.value, Redirected)
            assert "StreamNotFound" in str(info.value)
        finally:
            c.close()

        pub = publish_bg(media_flv.path, b.rtmp_url("live/show"), speed=1.0, loops=2)
        assert wait_for(lambda: cluster_query(b, "show", b.api_port)["data"]["origin"] is not None, 5)
        got = cluster_query(b, "show", b.api_port)
        assert got["code"] == 0
        assert got["data"]["query"] == {"ip": "127.0.0.1", "vhost": "__defaultVhost__", "app": "live",
                                        "stream": "show"}
        assert got["data"]["origin"] == {"ip": "127.0.0.1", "port": b.rtmp_port, "vhost": "__defaultVhost__",
                                         "api": f"127.0.0.1:{b.api_port}", "routers": [f"127.0.0.1:{b.api_port}"]}
        assert cluster_query(a, "show", a.api_port)["data"]["origin"] is None

        # a player on A is redirected to B (RTMP 302), and plays there
        c = RtmpClient("127.0.0.1", a.rtmp_port, 5)
        try:
            c.connect(f"rtmp://127.0.0.1:{a.rtmp_port}/live", "live")
            c.play("show")
            with pytest.raises(Redirected) as info:
                for _ in range(20):
                    list(c.read_messages(3))
        finally:
            c.close()
        assert info.value.url == f"rtmp://127.0.0.1:{b.rtmp_port}/live/show"
        assert (info.value.host, info.value.port) == ("127.0.0.1", b.rtmp_port)
        assert info.value.code == 2997
        c, stream = open_client(info.value.url, 5)
        try:
            c.play(stream)
            kinds = set()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not {8, 9} <= kinds:
                kinds.update(m.kind for m in c.read_messages(3))
            assert {8, 9} <= kinds
        finally:
            c.close()
        assert wait_for(lambda: "redirected to rtmp://127.0.0.1:%d/live/show" % b.rtmp_port in a.log_text(), 3)

        # an edge whose origin is A follows the redirect to B; its player decodes the stream
        player = Player(edge.rtmp_url("live/show"), read_timeout_s=3, stop_after_video=40)
        player.start()
        player.join(20)
        assert player.error is None, player.error
        assert player.first_video_key is True
        assert player.video_frames >= 40
        assert (player.width, player.height) == (320, 240)
        assert "redirects to rtmp://127.0.0.1:%d/live/show" % b.rtmp_port in edge.log_text()
        assert pub.is_alive()  # cut off when B stops


def _edge_conf(port, origin_port, http_port):
    # a template for SrsProcess (it fills {pid} and {log}): the ports are shared, so they are written here
    return (f"listen {port};\nreuseport on;\ndaemon off;\npid {{pid}};\nsrs_log_tank file;\nsrs_log_file {{log}};\n"
            f"http_server {{{{ enabled on; listen {http_port}; }}}}\n"
            f"vhost __defaultVhost__ {{{{ cluster {{{{ mode remote; origin 127.0.0.1:{origin_port}; }}}}\n"
            "    http_remux {{ enabled on; mount [vhost]/[app]/[stream].flv; }} }}\n")


@pytest.mark.skipif(not hasattr(__import__("socket"), "SO_REUSEPORT"), reason="no SO_REUSEPORT")
def test_reuseport_two_edges_share_one_port(tmp_path, media_flv):
    origin = SrsProcess(subdir(tmp_path, "origin"), http_server=False)
    port, http_port = free_port(), free_port()
    edges = []
    for name in ("e1", "e2"):
        d = subdir(tmp_path, name)
        edges.append(SrsProcess(d, conf=_edge_conf(port, origin.rtmp_port, http_port)))
    with origin:
        for e in edges:
            e.rtmp_port = port
            e.start()
        try:
            assert all(e.alive() for e in edges), edges[1].output()
            # long enough for every player below; cut off when the origin stops
            publish_bg(media_flv.path, origin.rtmp_url("live/shared"), speed=1.0, loops=8)
            assert origin.wait_published("live/shared")

            def play_some(n):
                players = [Player(f"rtmp://127.0.0.1:{port}/live/shared", read_timeout_s=3, stop_after_video=10)
                           for _ in range(n)]
                for p in players:
                    p.start()
                for p in players:
                    p.join(15)
                    assert p.error is None, p.error
                    assert p.video_frames >= 10

            # the kernel spreads connections over both processes (by a hash of the client address)
            served = lambda e: e.log_text().count("RTMP play __defaultVhost__/live/shared")  # noqa: E731
            for _ in range(4):
                play_some(6)
                if all(served(e) for e in edges):
                    break
            assert all(served(e) for e in edges), [served(e) for e in edges]
            # the HTTP server shares its port too (the second edge would not start otherwise)
            flv = Player(f"http://127.0.0.1:{http_port}/live/shared.flv", read_timeout_s=3, stop_after_video=10)
            flv.start()
            flv.join(15)
            assert flv.error is None and flv.video_frames >= 10, flv.error
            edges[0].proc.send_signal(signal.SIGKILL)
            edges[0].proc.wait(5)
            before = served(edges[1])
            play_some(3)  # every new player now lands on the survivor
            assert edges[1].alive()
            assert served(edges[1]) == before + 3
        finally:
            for e in edges:
                e.stop()
