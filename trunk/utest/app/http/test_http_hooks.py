"""HTTP hooks and heartbeat against the real research/api-server running as a subprocess."""
from __future__ import annotations

import socket
import time

import gevent
import pytest

from fixtures.api_server import ApiServer
from srs.app.config.conf import Config
from srs.app.server.heartbeat import Heartbeat, report_ip, start_heartbeat
from srs.app.http.hooks import HttpHooks, check_response
from srs.app.api.statistic import Statistic
from srs.kernel.errors import (ERROR_HTTP_DATA_INVALID, ERROR_HTTP_STATUS_INVALID, ERROR_RESPONSE_CODE,
                               ERROR_SOCKET_CONNECT, ERROR_SOCKET_TIMEOUT, AccessDenied)
from srs.protocol.request import Request


@pytest.fixture(scope="module")
def srv():
    with ApiServer("--deny-publish", "secret", "--deny-play", "private", "--deny-connect", "closed") as s:
        yield s


@pytest.fixture
def hooks():
    stat = Statistic()
    h = HttpHooks(timeout_s=5.0, server_id=stat.server_id, stream_id_fn=stat.stream_id, cwd="/srv/srs")
    h.statistic = stat
    yield h
    h.stop()


def make_req(stream="livestream", app="live", page_url="http://ossrs.net/p.html"):
    req = Request.from_url(f"rtmp://127.0.0.1/{app}/{stream}?token=abc", ip="10.1.1.1")
    req.update_vhost("__defaultVhost__")
    req.page_url = page_url
    return req


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def last(srv, action):
    entries = [e for e in srv.received() if e.get("body", {}).get("action") == action]
    assert entries, f"no {action} received"
    return entries[-1]["body"]


def test_on_connect_allow_and_body(srv, hooks):
    hooks.on_connect([srv.url("/api/v1/clients")], make_req(), 107, "10.1.1.1")
    body = last(srv, "on_connect")
    assert body["client_id"] == "107" and body["ip"] == "10.1.1.1" and body["vhost"] == "__defaultVhost__"
    assert body["app"] == "live" and body["tcUrl"] == "rtmp://127.0.0.1/live"
    assert body["pageUrl"] == "http://ossrs.net/p.html" and body["server_id"] == hooks.server_id


def test_on_connect_deny(srv, hooks):
    url = srv.url("/api/v1/clients")
    with pytest.raises(AccessDenied) as info:
        hooks.on_connect([url], make_req(app="closed"), 108, "10.1.1.1")
    assert info.value.code == ERROR_HTTP_DATA_INVALID and info.value.url == url  # body "403"


def test_on_publish_allow_deny_and_body(srv, hooks):
    req = make_req()
    hooks.statistic.on_client(109, req, "fmle-publish", "10.1.1.1", None, 0)
    hooks.on_publish([srv.url("/api/v1/streams")], req, 109, "10.1.1.1")
    body = last(srv, "on_publish")
    assert body["stream"] == "livestream" and body["param"] == "?token=abc"
    assert body["tcUrl"] == "rtmp://127.0.0.1/live" and body["client_id"] == "109"
    assert body["stream_url"] == "/live/livestream"
    assert body["stream_id"] == hooks.statistic.stream_id(req) and body["stream_id"].startswith("vid-")
    with pytest.raises(AccessDenied):
        hooks.on_publish([srv.url("/api/v1/streams")], make_req("secret"), 110, "10.1.1.1")


def test_on_play_allow_deny(srv, hooks):
    hooks.on_play([srv.url("/api/v1/sessions")], make_req(), 111, "10.1.1.2")
    body = last(srv, "on_play")
    assert body["pageUrl"] == "http://ossrs.net/p.html" and body["stream"] == "livestream"
    with pytest.raises(AccessDenied):
        hooks.on_play([srv.url("/api/v1/sessions")], make_req("private"), 112, "10.1.1.2")


def test_first_failing_url_stops_the_list(srv, hooks):
    srv.clear()
    url = srv.url("/api/v1/sessions")
    with pytest.raises(AccessDenied):  # the first url denies "private": the second is not called
        hooks.on_play([url, url], make_req("private"), 113, "ip")
    assert len(srv.received()) == 1
    srv.clear()
    hooks.on_play([url, url], make_req(), 114, "ip")  # every url is called when all allow
    assert len(srv.received()) == 2
    hooks.on_play([], make_req(), 114, "ip")        # no url: allowed
    hooks.on_play(None, make_req(), 114, "ip")


@pytest.mark.parametrize("query,code", [
    ("status=500", ERROR_HTTP_STATUS_INVALID),
    ("status=404", ERROR_HTTP_STATUS_INVALID),
    ("reply=", ERROR_HTTP_DATA_INVALID),
    ("reply=garbage", ERROR_HTTP_DATA_INVALID),
    ("reply=1", ERROR_HTTP_DATA_INVALID),
    ("reply=%7B%22data%22%3A1%7D", ERROR_RESPONSE_CODE),           # {"data":1}
    ("reply=%7B%22code%22%3A2%7D", ERROR_RESPONSE_CODE),           # {"code":2}
    ("reply=%7B%22code%22%3A%220%22%7D", ERROR_RESPONSE_CODE),     # {"code":"0"}
])
def test_bad_answers_reject(srv, hooks, query, code):
    with pytest.raises(AccessDenied) as info:
        hooks.on_publish([srv.url("/api/v1/streams?" + query)], make_req(), 115, "ip")
    assert info.value.code == code


def test_json_object_answers():
    with ApiServer("--json-replies", "--deny-play", "private") as s:
        h = HttpHooks(timeout_s=5)
        h.on_play([s.url("/api/v1/sessions")], make_req(), 1, "ip")
        with pytest.raises(AccessDenied) as info:
            h.on_play([s.url("/api/v1/sessions")], make_req("private"), 1, "ip")
        assert info.value.code == ERROR_RESPONSE_CODE


def test_unreachable_hook_denies(hooks):
    url = f"http://127.0.0.1:{closed_port()}/api/v1/clients"
    with pytest.raises(AccessDenied) as info:
        hooks.on_connect([url], make_req(), 116, "ip")
    assert info.value.code == ERROR_SOCKET_CONNECT and info.value.url == url
    with pytest.raises(AccessDenied):
        hooks.on_connect(["https://127.0.0.1/x"], make_req(), 116, "ip")  # only http:// is supported


def test_slow_hook_times_out_without_stalling_others(srv):
    h = HttpHooks(timeout_s=0.5)
    ticks = []

    def ticker():
        while True:
            ticks.append(time.monotonic())
            gevent.sleep(0.02)

    other = gevent.spawn(ticker)
    start = time.monotonic()
    with pytest.raises(AccessDenied) as info:
        h.on_publish([srv.url("/api/v1/streams?delay=3")], make_req(), 117, "ip")
    elapsed = time.monotonic() - start
    other.kill()
    assert info.value.code == ERROR_SOCKET_TIMEOUT
    assert 0.45 <= elapsed < 1.5
    assert len(ticks) >= 15  # the other greenlet kept running while we waited


def test_ignored_results_never_raise(srv, hooks):
    dead = f"http://127.0.0.1:{closed_port()}/x"
    hooks.on_close([dead, srv.url("/api/v1/clients")], make_req(), 118, "ip", send_bytes=1000, recv_bytes=2000)
    body = last(srv, "on_close")  # the dead url did not stop the next one
    assert body["send_bytes"] == 1000 and body["recv_bytes"] == 2000 and "stream" not in body
    hooks.on_unpublish([srv.url("/api/v1/streams?status=500")], make_req(), 118, "ip")
    hooks.on_unpublish([srv.url("/api/v1/streams")], make_req(), 118, "ip")
    assert last(srv, "on_unpublish")["param"] == "?token=abc"
    hooks.on_stop([srv.url("/api/v1/sessions")], make_req(), 118, "ip")
    assert last(srv, "on_stop")["stream"] == "livestream"


def test_async_dvr_hls_do_not_block_caller(srv, hooks):
    srv.clear()
    start = time.monotonic()
    hooks.on_dvr([srv.url("/api/v1/dvrs?delay=0.3")], make_req(), 119, "ip", "./objs/nginx/html/live/a.flv")
    hooks.on_hls([srv.url("/api/v1/hls")], make_req(), 119, "ip", 9.87654, "./objs/nginx/html/live/livestream-3.ts",
                 "livestream-3.ts", "./objs/nginx/html/live/livestream.m3u8", "live/livestream.m3u8", 3)
    hooks.on_hls_notify([srv.url("/api/v1/hls/[app]/[stream]/[ts_url][param]")], make_req(),
                        "live/livestream-3.ts", 64)
    assert time.monotonic() - start < 0.1 and hooks.pending() >= 2
    assert hooks.join(timeout_s=5)
    entries = [e["body"] for e in srv.received()]
    assert [e["action"] for e in entries] == ["on_dvr", "on_hls", "on_hls_notify"]  # order kept
    dvr, hls, notify = entries
    assert dvr["file"] == "./objs/nginx/html/live/a.flv" and dvr["cwd"] == "/srv/srs" and dvr["client_id"] == "119"
    assert hls["url"] == "live/livestream-3.ts" and hls["duration"] == 9.877 and hls["seq_no"] == 3
    assert hls["m3u8_url"] == "live/livestream.m3u8" and hls["m3u8"].endswith(".m3u8")
    assert notify["path"] == "/live/livestream/live/livestream-3.ts" and notify["query"] == {"token": "abc"}


def test_async_queue_overflow_drops(srv):
    h = HttpHooks(timeout_s=2, queue_size=2)
    try:
        for i in range(5):
            h.on_dvr([srv.url("/api/v1/dvrs?delay=0.2")], make_req(), i, "ip", f"f{i}.flv")
        assert h.dropped == 3 and h.pending() == 2
    finally:
        h.stop()
    assert h.pending() == 0


def test_no_fd_or_greenlet_leak(srv):
    import gc

    import psutil
    proc = psutil.Process()
    def live_greenlets():
        return {id(g) for g in gc.get_objects() if isinstance(g, gevent.Greenlet) and not g.dead}

    # Other tests in this process may still have server greenlets winding down: count only ours.
    before = live_greenlets()
    h = HttpHooks(timeout_s=2)
    h.on_play([srv.url("/api/v1/sessions")], make_req(), 1, "ip")  # warm up imports and pools
    fds = proc.num_fds()
    for i in range(20):
        h.on_play([srv.url("/api/v1/sessions")], make_req(), i, "ip")
        with pytest.raises(AccessDenied):
            h.on_play([srv.url("/api/v1/sessions?status=500")], make_req(), i, "ip")
        h.on_dvr([srv.url("/api/v1/dvrs")], make_req(), i, "ip", "x.flv")
    assert h.join(timeout_s=5)
    h.stop()
    gc.collect()
    assert proc.num_fds() <= fds
    assert live_greenlets() - before == set()


def test_check_response_table():
    check_response(200, b"0")
    check_response(200, b" 0\n")
    check_response(200, b'{"code": 0, "data": null}')
    check_response(201, b"0")
    for status, body, code in [(302, b"0", ERROR_HTTP_STATUS_INVALID), (200, b"", ERROR_HTTP_DATA_INVALID),
                               (200, b"00x", ERROR_HTTP_DATA_INVALID), (200, b"[]", ERROR_HTTP_DATA_INVALID),
                               (200, b'{"code": true}', ERROR_RESPONSE_CODE),
                               (200, b'{"code": 0.0}', ERROR_RESPONSE_CODE)]:
        with pytest.raises(AccessDenied) as info:
            check_response(status, body)
        assert info.value.code == code, body


def test_heartbeat(srv):
    hb = Heartbeat(srv.url("/api/v1/servers"), "dev-7", 0.1, lambda: {"ok": True, "now_ms": 1}, "10.9.9.9")
    assert hb.beat()
    body = last_server(srv, "dev-7")
    assert body == {"device_id": "dev-7", "ip": "10.9.9.9", "summaries": {"ok": True, "now_ms": 1}}
    hb.start()
    for _ in range(300):  # beats every 0.1 s; a loaded host may take longer than 0.4 s for 4 of them
        if hb.beats >= 4:
            break
        gevent.sleep(0.05)
    hb.stop()
    assert not hb.running and hb.beats >= 4, hb.beats
    dead = Heartbeat(f"http://127.0.0.1:{closed_port()}/api/v1/servers", "d", 1.0, None, lambda: "1.2.3.4")
    assert dead.body() == {"device_id": "d", "ip": "1.2.3.4"}
    assert dead.beat() is False and dead.failures == 1
    with pytest.raises(ValueError):
        Heartbeat("http://x/", "d", 0, None, "")


def test_start_heartbeat_from_its_block(srv):
    """start_heartbeat gets the heartbeat {} block, stats.network and the summaries, nothing else."""
    def block(body):
        return Config.parse_text(f"listen 1935; heartbeat {{ {body} }}").heartbeat

    def beats(device_id):
        return [e["body"] for e in srv.received() if e.get("resource") == "servers"
                and e["body"].get("device_id") == device_id]
    summaries = lambda: {"ok": True}  # noqa: E731
    assert start_heartbeat(block("enabled off; summaries on;"), 0, summaries) is None
    url = srv.url("/api/v1/servers")
    for device_id, flag, want in (("dev-8", "off", None), ("dev-9", "on", {"ok": True})):
        hb = start_heartbeat(block(f"enabled on; interval 0.1; url {url}; device_id {device_id}; summaries {flag};"),
                             0, summaries)
        try:
            with gevent.Timeout(5):
                while not beats(device_id):
                    gevent.sleep(0.02)
        finally:
            hb.stop()
        body = beats(device_id)[0]
        assert body.get("summaries") == want and body["ip"] == report_ip(0) and not hb.running


def last_server(srv, device_id):
    entries = [e["body"] for e in srv.received() if e.get("resource") == "servers"
               and e["body"].get("device_id") == device_id]
    assert entries
    return entries[-1]


def test_join_waits_for_the_running_task_and_times_out(srv):
    """join() is done only when the task that runs is done too, not when the queue is empty; a
    timeout returns False; after stop() nothing is left to wait for."""
    h = HttpHooks(timeout_s=5)
    try:
        srv.clear()
        h.on_dvr([srv.url("/api/v1/dvrs?delay=0.5")], make_req(), 1, "ip", "join-a.flv")
        gevent.sleep(0)  # the worker takes the task: the queue is empty, the task runs
        assert h.pending() == 0
        assert h.join(timeout_s=0.05) is False
        # (the receiver is shared by the module's tests: a late hook of an earlier test may arrive too)
        assert h.join(timeout_s=5) is True
        assert [e["body"]["file"] for e in srv.received() if e["body"].get("file") == "join-a.flv"] == ["join-a.flv"]
        h.on_dvr([srv.url("/api/v1/dvrs?delay=2")], make_req(), 2, "ip", "b.flv")
        h.on_dvr([srv.url("/api/v1/dvrs?delay=2")], make_req(), 3, "ip", "c.flv")
    finally:
        h.stop()
    assert h.pending() == 0 and h.join(timeout_s=0.05) is True
