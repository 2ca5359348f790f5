"""research/api-server/server.py: the standalone callback receiver, run as a subprocess."""
from __future__ import annotations

import ast
import json
import time
import urllib.error
import urllib.request

import pytest

from fixtures.api_server import SERVER_PY, ApiServer


def post(url: str, body) -> tuple[int, bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.read()


@pytest.fixture(scope="module")
def srv():
    with ApiServer("--deny-publish", "secret", "--deny-play", "private", "--deny-connect", "closed") as s:
        yield s


def body(action, **kw):
    base = {"action": action, "client_id": 107, "ip": "127.0.0.1", "vhost": "__defaultVhost__", "app": "live",
            "stream": "livestream", "param": "", "tcUrl": "rtmp://127.0.0.1/live", "pageUrl": ""}
    base.update(kw)
    return base


@pytest.mark.parametrize("path,action", [
    ("/api/v1/clients", "on_connect"), ("/api/v1/clients", "on_close"),
    ("/api/v1/streams", "on_publish"), ("/api/v1/streams", "on_unpublish"),
    ("/api/v1/sessions", "on_play"), ("/api/v1/sessions", "on_stop"),
    ("/api/v1/dvrs", "on_dvr"), ("/api/v1/hls", "on_hls"),
])
def test_each_callback_allowed_and_recorded(srv, path, action):
    srv.clear()
    assert post(srv.url(path), body(action)) == (200, b"0")
    [entry] = srv.received()
    assert entry["code"] == 0 and entry["body"]["action"] == action and entry["body"]["client_id"] == 107


def test_deny_rules(srv):
    assert post(srv.url("/api/v1/streams"), body("on_publish", stream="secret")) == (200, b"403")
    assert post(srv.url("/api/v1/streams"), body("on_unpublish", stream="secret")) == (200, b"0")
    assert post(srv.url("/api/v1/sessions"), body("on_play", stream="private")) == (200, b"403")
    assert post(srv.url("/api/v1/sessions"), body("on_play", stream="public")) == (200, b"0")
    assert post(srv.url("/api/v1/clients"), body("on_connect", app="closed")) == (200, b"403")
    assert post(srv.url("/api/v1/clients"), body("on_connect", app="live")) == (200, b"0")


def test_error_codes(srv):
    assert post(srv.url("/api/v1/clients"), b"{not json") == (200, b"100")
    assert post(srv.url("/api/v1/clients"), b"[1, 2]") == (200, b"100")
    assert post(srv.url("/api/v1/clients"), body("on_play")) == (200, b"200")   # wrong resource
    assert post(srv.url("/api/v1/dvrs"), body("on_hls")) == (200, b"200")


def test_knobs(srv):
    assert post(srv.url("/api/v1/streams?status=500"), body("on_publish"))[0] == 500
    assert post(srv.url("/api/v1/streams?reply=garbage"), body("on_publish")) == (200, b"garbage")
    start = time.monotonic()
    assert post(srv.url("/api/v1/streams?delay=0.3"), body("on_publish")) == (200, b"0")
    assert time.monotonic() - start >= 0.3


def test_hls_notify_get_and_heartbeat(srv):
    srv.clear()
    assert get(srv.url("/api/v1/hls/live/livestream/live/livestream-1.ts?token=1")) == (200, b"0")
    [entry] = srv.received()
    assert entry["body"] == {"action": "on_hls_notify", "path": "/live/livestream/live/livestream-1.ts",
                             "query": {"token": "1"}}
    assert post(srv.url("/api/v1/servers"), {"device_id": "dev-1", "ip": "10.0.0.9"}) == (200, b"0")
    status, data = get(srv.url("/api/v1/servers"))
    [server] = json.loads(data)["data"]
    assert server["device_id"] == "dev-1" and server["ip"] == "10.0.0.9"


def test_logs_json_lines(srv):
    post(srv.url("/api/v1/clients"), body("on_connect", client_id=4242))
    lines = [json.loads(line) for line in srv.output().splitlines() if line.strip()]
    assert lines[0]["event"] == "listening"
    assert any(line.get("body", {}).get("client_id") == 4242 for line in lines[1:])


def test_json_replies():
    with ApiServer("--json-replies", "--deny-publish", "x") as s:
        status, data = post(s.url("/api/v1/streams"), body("on_publish"))
        assert json.loads(data) == {"code": 0, "data": None}
        status, data = post(s.url("/api/v1/streams"), body("on_publish", stream="x"))
        assert json.loads(data)["code"] == 403


def test_standalone_does_not_import_srs():
    tree = ast.parse(SERVER_PY.read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if n == "srs" or n.startswith("srs.")]
