"""The HTTP API app served by gevent.pywsgi on loopback, exercised with our HTTP client."""
from __future__ import annotations

import itertools
import json
import os
import time
from types import SimpleNamespace

import gevent
import pytest
from gevent import socket as gsocket
from gevent.pywsgi import WSGIServer

from srs.app.api.routes import ApiApp, ProcessInfo
from srs.app.api.statistic import Statistic
from srs.app.config.conf import Config
from srs.app.http.client import http_request
from srs.app.http.entry import ApiServer
from srs.app.server.listener import ConnectionGate
from srs.core.version import SIGNATURE, VERSION, VERSION_MAJOR
from srs.kernel.errors import ConfigError
from srs.protocol.request import Request


def api_config(http_api: str = "") -> Config:
    return Config.parse_text(f"listen 1935; http_api {{ enabled on; {http_api} }}")


class Ctx:
    """The parts the Server hands the API (app.ports), real where they can be: the Config (swapped
    by ``reconfigure`` as a reload does), Statistic and ConnectionGate; a clock the test can break
    and a reload entry that counts. ``api_app`` is the ApiApp built from them, as the Server does."""

    def __init__(self, max_connections: int = 1000):
        self.config = api_config()
        self.statistic = Statistic()
        self.gate = ConnectionGate(lambda: max_connections)
        self.process = ProcessInfo(server_id=self.statistic.server_id, pid=os.getpid(), argv="srs -c conf/srs.conf",
                                   cwd=os.getcwd(), start_time_ms=int(time.time() * 1000) - 5000)
        self.server_id = self.process.server_id
        self.reloads = 0
        self.reload_error = None
        self.fail_now = False
        self.api_app = ApiApp(config=lambda: self.config, statistic=self.statistic, clock=self.now_ms,
                              process=self.process, reload=self.reload, gate=self.gate)

    def reconfigure(self, http_api: str) -> None:
        self.config = api_config(http_api)

    def now_ms(self):
        if self.fail_now:
            raise RuntimeError("clock exploded")
        return int(time.time() * 1000)

    def reload(self):
        if self.reload_error is not None:
            raise self.reload_error
        self.reloads += 1


@pytest.fixture
def api():
    ctx = Ctx()
    server = WSGIServer(("127.0.0.1", 0), ctx.api_app, log=None, error_log=None)
    server.start()
    base = f"http://127.0.0.1:{server.server_port}"

    def call(method, path, headers=None):
        status, hdrs, body = http_request(method, base + path, b"", headers, timeout_s=5)
        return status, {k.lower(): v for k, v in hdrs}, body

    def get_json(path, method="GET", status=200):
        got, hdrs, body = call(method, path)
        assert got == status, (path, got, body)
        assert hdrs["content-type"].startswith("application/json")
        return json.loads(body)

    yield SimpleNamespace(ctx=ctx, call=call, json=get_json)
    server.stop(timeout=1)


def populate(stat: Statistic, kicked: list):
    pub = Request.from_url("rtmp://127.0.0.1/live/livestream", ip="10.0.0.1")
    pub.update_vhost("__defaultVhost__")
    stat.on_client(200, pub, "fmle-publish", "10.0.0.1", lambda: kicked.append(200), 1000)
    stat.on_stream_publish(pub, 200)
    stat.on_video_info(pub, "H264", "High", "3.1", 1280, 720)
    for cid in range(300, 315):
        req = Request.from_url("rtmp://127.0.0.1/live/livestream", ip="10.0.0.2")
        req.update_vhost("__defaultVhost__")
        stat.on_client(cid, req, "Play", "10.0.0.2", lambda c=cid: kicked.append(c), 1000)


def test_index_endpoints_and_server_header(api):
    status, hdrs, body = api.call("GET", "/api/")
    assert status == 200 and hdrs["server"] == SIGNATURE
    obj = json.loads(body)
    # SRS 5: server, service and pid (strings) on every answer
    assert obj == {"code": 0, "server": api.ctx.server_id, "service": "", "pid": str(os.getpid()),
                   "urls": {"v1": "the api version 1.0"}}
    v1 = api.json("/api/v1/")
    assert v1["code"] == 0 and "streams" in v1["urls"] and "clients" in v1["urls"]
    assert set(v1["tests"]) == {"requests", "errors", "redirects"}


def test_versions_authors_features(api):
    data = api.json("/api/v1/versions")["data"]
    assert data["major"] == VERSION_MAJOR and data["version"] == VERSION
    assert {"license", "contributors", "primary"} <= set(api.json("/api/v1/authors")["data"])
    features = api.json("/api/v1/features")["data"]
    assert features["features"]["hls"] is True and "options" in features


def test_system_figures(api):
    data = api.json("/api/v1/summaries")["data"]
    assert data["ok"] is True and isinstance(data["now_ms"], int)
    assert data["self"]["pid"] == os.getpid() and data["self"]["version"] == VERSION
    assert data["self"]["argv"] == "srs -c conf/srs.conf" and data["self"]["srs_uptime"] >= 4
    for key in ("cpu_percent", "mem_ram_kbyte", "mem_ram_percent", "cpus", "cpus_online", "uptime",
                "ilde_time", "load_1m", "net_recv_bytes", "net_recvi_bytes", "srs_send_bytes", "conn_sys",
                "conn_srs", "disk_read_KBps"):
        assert key in data["system"], key
    assert data["system"]["mem_ram_kbyte"] > 0
    ru = api.json("/api/v1/rusages")["data"]
    assert ru["ok"] and ru["ru_maxrss"] > 0 and "ru_nvcsw" in ru
    me = api.json("/api/v1/self_proc_stats")["data"]
    assert me["pid"] == os.getpid() and {"percent", "utime", "stime", "rss", "num_threads"} <= set(me)
    sysstat = api.json("/api/v1/system_proc_stats")["data"]
    assert {"percent", "user", "nice", "sys", "idle", "iowait", "irq", "softirq", "steal", "guest"} <= set(sysstat)
    mem = api.json("/api/v1/meminfos")["data"]
    assert mem["MemTotal"] > 0 and 0 <= mem["percent_ram"] <= 1
    assert {"MemActive", "RealInUse", "NotInUse", "SwapTotal", "SwapFree", "percent_swap"} <= set(mem)


def test_requests_echo(api):
    for path in ("/api/v1/requests", "/api/v1/tests/requests"):
        data = api.json(path + "?a=1", method="POST")["data"]
        assert data["METHOD"] == "POST" and data["path"] == path and data["uri"] == path + "?a=1"
        assert "Host" in data["headers"] and data["server"]["version"] == VERSION


def test_vhosts_streams_clients(api):
    kicked = []
    populate(api.ctx.statistic, kicked)
    [stream] = api.json("/api/v1/streams/")["streams"]
    assert stream["clients"] == 16 and stream["publish"]["active"] is True
    assert stream["video"]["width"] == 1280
    assert api.json("/api/v1/streams")["streams"][0]["id"] == stream["id"]  # no-slash form answers too
    one = api.json(f"/api/v1/streams/{stream['id']}")
    assert one["stream"]["id"] == stream["id"] and one["server"] == api.ctx.server_id
    assert api.json("/api/v1/streams/vid-nope")["code"] == 2048

    [vhost] = api.json("/api/v1/vhosts/")["vhosts"]
    assert vhost["id"] == stream["vhost"] and vhost["clients"] == 16
    assert api.json(f"/api/v1/vhosts/{vhost['id']}")["vhost"]["name"] == "__defaultVhost__"
    assert api.json("/api/v1/vhosts/vid-nope")["code"] == 2014

    clients = api.json("/api/v1/clients/")["clients"]
    assert len(clients) == 10 and clients[0]["id"] == "200" and clients[0]["type"] == "fmle-publish"
    page = api.json("/api/v1/clients/?start=10&count=20")["clients"]
    assert [c["id"] for c in page] == [str(i) for i in range(309, 315)]
    assert len(api.json("/api/v1/clients/?count=3")["clients"]) == 10  # at least 10, as SRS
    assert api.json("/api/v1/clients/301")["client"]["ip"] == "10.0.0.2"
    assert api.json("/api/v1/clients/999")["code"] == 2049
    assert api.json("/api/v1/clients/abc", status=400)["code"] == 2049


def test_kick_client(api):
    kicked = []
    populate(api.ctx.statistic, kicked)
    assert api.json("/api/v1/clients/305", method="DELETE") == {"code": 0, "server": api.ctx.server_id, "service": "",
                                                                 "pid": str(os.getpid())}
    assert kicked == [305]
    assert api.json("/api/v1/clients/999", method="DELETE")["code"] == 2049
    # JSONP can not send DELETE: ?method= overrides it
    status, hdrs, body = api.call("GET", "/api/v1/clients/306?callback=cb&method=DELETE")
    assert status == 200 and body.startswith(b"cb(") and json.loads(body[3:-1])["code"] == 0
    assert kicked == [305, 306]


def test_jsonp(api):
    status, hdrs, body = api.call("GET", "/api/v1/versions?callback=jQuery.cb_123")
    assert status == 200 and hdrs["content-type"].startswith("text/javascript")
    assert body.startswith(b"jQuery.cb_123(") and body.endswith(b")")
    assert json.loads(body[len("jQuery.cb_123("):-1])["data"]["version"] == VERSION
    status, _, body = api.call("GET", "/api/v1/streams/nope?callback=f")
    assert json.loads(body[2:-1])["code"] == 2048
    for bad in ("alert(1)", "a%3Bb", "x%20y", "%3Cscript%3E"):
        status, _, body = api.call("GET", f"/api/v1/versions?callback={bad}")
        assert status == 400, bad
        assert b"alert" not in body and b"script" not in body


def test_not_found_and_method_not_allowed(api):
    status, hdrs, body = api.call("GET", "/api/v1/nothing")
    assert status == 404 and json.loads(body)["code"] == 404 and hdrs["server"] == SIGNATURE
    assert api.call("GET", "/")[0] == 404
    assert api.call("POST", "/api/v1/streams/")[0] == 405
    assert api.call("PUT", "/api/v1/clients/1")[0] == 405
    assert api.call("GET", "/api/v1/streams/?method=DELETE")[0] == 405
    assert api.call("GET", "/api/v1/versions?method=BREW")[0] == 405


def test_cors(api):
    status, hdrs, body = api.call("OPTIONS", "/api/v1/versions", [("Origin", "http://x.com")])
    assert status == 200 and hdrs["access-control-allow-origin"] == "*"
    assert "DELETE" in hdrs["access-control-allow-methods"]
    status, hdrs, _ = api.call("GET", "/api/v1/versions", [("Origin", "http://x.com")])
    assert hdrs["access-control-allow-origin"] == "*"
    status, hdrs, _ = api.call("GET", "/api/v1/versions")
    assert "access-control-allow-origin" not in hdrs  # only for cross-origin requests
    api.ctx.reconfigure("crossdomain off;")            # as after a reload
    assert api.call("OPTIONS", "/api/v1/versions")[0] == 405
    status, hdrs, _ = api.call("GET", "/api/v1/versions", [("Origin", "http://x.com")])
    assert status == 200 and "access-control-allow-origin" not in hdrs


def test_raw_api_reload(api):
    assert api.json("/api/v1/raw?rpc=reload")["code"] == 1061          # raw api disabled
    cfg = api.json("/api/v1/raw?rpc=raw")
    assert cfg["code"] == 0 and cfg["http_api"] == {"crossdomain": True, "raw_api": {
        "enabled": False, "allow_reload": False, "allow_query": False, "allow_update": False}}
    api.ctx.reconfigure("raw_api { enabled on; }")
    assert api.json("/api/v1/raw?rpc=reload")["code"] == 1061          # reload not allowed
    assert api.json("/api/v1/raw?rpc=nothing")["code"] == 1060
    assert api.json("/api/v1/raw")["code"] == 1060
    api.ctx.reconfigure("raw_api { enabled on; allow_reload on; }")
    assert api.json("/api/v1/raw?rpc=raw")["http_api"]["raw_api"]["allow_reload"] is True
    assert api.json("/api/v1/raw?rpc=reload")["code"] == 0 and api.ctx.reloads == 1
    api.ctx.reload_error = ConfigError("bad file", file="srs.conf", line=3)
    assert api.json("/api/v1/raw?rpc=reload")["code"] == 1023 and api.ctx.reloads == 1
    api.ctx.reconfigure("raw_api { enabled on; allow_reload on; allow_query on; }")
    assert api.json("/api/v1/raw?rpc=query&scope=global")["code"] == 1062  # not implemented


def test_clusters_and_tests(api):
    data = api.json("/api/v1/clusters?vhost=v&app=live&stream=s&ip=1.2.3.4&coworker=x:1985")["data"]
    assert data == {"query": {"ip": "1.2.3.4", "vhost": "v", "app": "live", "stream": "s"}, "origin": None}
    assert api.json("/api/v1/tests/errors")["code"] == 100
    status, hdrs, _ = api.call("GET", "/api/v1/tests/redirects")
    assert status == 301 and hdrs["location"].endswith("/api/v1/tests/errors")


def test_metrics(api):
    populate(api.ctx.statistic, [])
    api.ctx.statistic.add_bytes(200, 5000, 0)
    api.ctx.statistic.add_bytes(301, 0, 7000)
    status, hdrs, body = api.call("GET", "/metrics")
    assert status == 200 and hdrs["content-type"].startswith("text/plain")
    text = body.decode()
    lines = set(text.splitlines())
    assert "srs_streams 1" in lines and "srs_clients 16" in lines
    assert "srs_receive_bytes_total 5000" in lines and "srs_send_bytes_total 7000" in lines
    assert 'srs_stream_clients{vhost="__defaultVhost__",app="live",stream="livestream"} 16' in lines
    assert "# TYPE srs_send_bytes_total counter" in lines
    assert any(line.startswith("process_resident_memory_bytes ") for line in lines)
    assert any(line.startswith("process_cpu_seconds_total ") for line in lines)


def test_handler_error_is_json_500_and_server_survives(api):
    api.ctx.fail_now = True
    status, hdrs, body = api.call("GET", "/api/v1/streams/")
    assert status == 500 and json.loads(body) == {"code": 500}
    api.ctx.fail_now = False
    assert api.json("/api/v1/streams/")["code"] == 0


def test_many_concurrent_requests(api):
    jobs = [gevent.spawn(api.json, "/api/v1/summaries") for _ in range(20)]
    gevent.joinall(jobs, timeout=10, raise_error=True)
    assert all(j.value["code"] == 0 for j in jobs)


def test_api_server_shares_the_gate_and_closes_idle_connections():
    """ApiServer (our Listener + pywsgi): past the gate's limit a client reads a canned 503
    without a request read; an idle keep-alive connection is closed after the idle timeout."""
    ctx = Ctx(max_connections=1)
    ids = itertools.count(100)
    api_server = ApiServer(ctx.api_app, "127.0.0.1", 0, next_cid=lambda: next(ids), gate=ctx.gate,
                           idle_timeout_s=0.5)
    try:
        held = gsocket.create_connection(("127.0.0.1", api_server.port), timeout=5)
        held.sendall(b"GET /api/v1/versions HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while not got.endswith(b"}"):  # the whole JSON answer; the connection stays open
            data = held.recv(65536)
            assert data, got
            got += data
        assert got.startswith(b"HTTP/1.1 200 ")
        extra = gsocket.create_connection(("127.0.0.1", api_server.port), timeout=5)
        answer = b""
        while True:
            data = extra.recv(65536)
            if not data:
                break
            answer += data
        assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n") and ctx.gate.refused == 1
        extra.close()
        t0 = time.monotonic()
        assert held.recv(65536) == b""  # the idle keep-alive connection is closed by the server
        assert 0.3 <= time.monotonic() - t0 < 3.0
        held.close()
        with gevent.Timeout(3):
            while ctx.gate.active:
                gevent.sleep(0.01)
        s = gsocket.create_connection(("127.0.0.1", api_server.port), timeout=5)
        s.sendall(b"GET /api/v1/versions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 200 ")
        s.close()
    finally:
        api_server.stop()
    assert ctx.gate.active == 0
