"""SRS 5's ``http_api { auth {} }``: HTTP Basic credentials on every API route (raw API and kicks
included), checked in constant time; 401 with ``WWW-Authenticate`` without them or with wrong ones.

The real server process; clients are urllib, curl and a raw socket; the kicked client is a PyAV
publisher.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from fixtures.srs_server import SrsProcess, free_port, publish_bg, wait_for
from srs.app.api.routes import basic_auth_ok
from srs.app.config.conf import Config

CONF_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "conf")
AUTH = "auth { enabled on; username admin; password s3cret:x; }"
RAW_API = "raw_api { enabled on; allow_reload on; }"
GOOD = ("admin", "s3cret:x")  # a ':' in the password: only the first one splits user from password
ROUTES = ("/api/v1/versions", "/api/v1/streams", "/api/v1/streams/", "/api/v1/clients", "/api/v1/summaries",
          "/api/v1/vhosts", "/api/v1/raw?rpc=reload", "/api/v1/clusters", "/api/v1", "/api/", "/api",
          "/api/v1/tests/errors", "/api/v1/nope", "/favicon.ico")


def _with_api(srs: SrsProcess, inner: str) -> SrsProcess:
    text = open(srs.conf_path).read().replace(f"listen {srs.api_port}; }}", f"listen {srs.api_port}; {inner} }}")
    open(srs.conf_path, "w").write(text)
    return srs


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def call(url: str, method: str = "GET", auth: str | None = None, headers: dict | None = None):
    """(status, headers, body) of one request; HTTP errors are answers too."""
    req = urllib.request.Request(url, method=method, headers=dict(headers or {}))
    if auth is not None:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


@pytest.mark.parametrize("header,ok", [
    (_basic(*GOOD), True),
    ("basic " + base64.b64encode(b"admin:s3cret:x").decode(), True),  # the scheme is case-insensitive
    (_basic("admin", "s3cret"), False), (_basic("admin", "s3cret:xx"), False), (_basic("Admin", "s3cret:x"), False),
    (_basic("", ""), False), ("Basic " + base64.b64encode(b"admins3cret:x").decode(), False),
    ("Basic !!!", False), ("Bearer abc", False), ("", False), ("Basic", False),
])
def test_basic_auth_ok(header, ok):
    assert basic_auth_ok(header, *GOOD) is ok


def test_every_route_needs_credentials_then_answers(tmp_path):
    srs = _with_api(SrsProcess(tmp_path), f"{AUTH} {RAW_API}")
    with srs:
        for path in ROUTES:
            for auth in (None, _basic("admin", "wrong"), _basic("root", GOOD[1]), "Basic !!!"):
                status, headers, body = call(srs.api_url(path), auth=auth)
                assert status == 401 and body == b"", (path, auth, status, body)
                assert headers.get("WWW-Authenticate", "").startswith("Basic realm="), (path, headers)
            status, _, body = call(srs.api_url(path), auth=_basic(*GOOD))
            assert status != 401, (path, status, body)
        status, _, body = call(srs.api_url("/api/v1/versions"), auth=_basic(*GOOD))
        assert status == 200 and json.loads(body)["code"] == 0
        # POST/DELETE and the method override of JSONP need them too
        assert call(srs.api_url("/api/v1/raw?rpc=reload"), "POST")[0] == 401
        assert call(srs.api_url("/api/v1/clients/100?method=DELETE&callback=f"))[0] == 401
        # CORS preflight carries no credentials (browsers never send them there): answered before auth
        status, headers, _ = call(srs.api_url("/api/v1/streams"), "OPTIONS", headers={"Origin": "http://x"})
        assert status == 200 and headers.get("Access-Control-Allow-Origin") == "*"
        # Prometheus scrapes /metrics without credentials, as SRS 5's exporter is
        assert call(srs.api_url("/metrics"))[0] == 200
        # curl: 401, then 200 with -u
        code = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", srs.api_url("/api/v1/streams")],
                              capture_output=True, text=True, timeout=20).stdout
        assert code == "401"
        out = subprocess.run(["curl", "-s", "-u", "admin:s3cret:x", "-w", "\n%{http_code}",
                              srs.api_url("/api/v1/streams")], capture_output=True, text=True, timeout=20).stdout
        body, _, code = out.rpartition("\n")
        assert code == "200" and json.loads(body)["code"] == 0
    assert "Traceback" not in srs.output()


def test_kick_needs_credentials(tmp_path, media_flv):
    srs = _with_api(SrsProcess(tmp_path), AUTH)
    with srs:
        publisher = publish_bg(media_flv.path, srs.rtmp_url("live/kickme"), loops=10)  # 40 s unless kicked
        assert srs.wait_published("live/kickme")

        def publisher_id():
            status, _, body = call(srs.api_url("/api/v1/clients"), auth=_basic(*GOOD))
            assert status == 200
            ids = [str(c["id"]) for c in json.loads(body)["clients"] if "kickme" in str(c.get("url", ""))]
            return ids[0] if ids else None

        assert wait_for(lambda: publisher_id() is not None)
        cid = publisher_id()
        status, headers, _ = call(srs.api_url(f"/api/v1/clients/{cid}"), "DELETE")
        assert status == 401 and headers.get("WWW-Authenticate")
        assert publisher.is_alive() and publisher_id() == cid  # still publishing
        started = time.monotonic()
        status, _, body = call(srs.api_url(f"/api/v1/clients/{cid}"), "DELETE", auth=_basic(*GOOD))
        assert status == 200 and json.loads(body)["code"] == 0
        assert srs.wait_unpublished("live/kickme")
        publisher.join(20)
        assert not publisher.is_alive() and time.monotonic() - started < 20
    assert "Traceback" not in srs.output()


def test_https_api_with_auth_from_env(tmp_path, monkeypatch):
    """SRS 5's variables turn auth and the HTTPS API on over a conf that has neither (-c + env)."""
    port = free_port()
    for name, value in (("SRS_HTTP_API_AUTH_ENABLED", "on"), ("SRS_HTTP_API_AUTH_USERNAME", "ops"),
                        ("SRS_HTTP_API_AUTH_PASSWORD", "pw"), ("SRS_HTTP_API_HTTPS_ENABLED", "on"),
                        ("SRS_HTTP_API_HTTPS_LISTEN", str(port)),
                        ("SRS_HTTP_API_HTTPS_KEY", os.path.abspath(os.path.join(CONF_DIR, "server.key"))),
                        ("SRS_HTTP_API_HTTPS_CERT", os.path.abspath(os.path.join(CONF_DIR, "server.crt")))):
        monkeypatch.setenv(name, value)
    config = Config.parse_text("listen 1935; http_api { enabled on; }", env=dict(os.environ))
    assert config.http_api.auth.enabled and config.http_api.auth.username == "ops"
    assert config.http_api.https.listen[1] == port
    with SrsProcess(tmp_path) as srs:  # the server process inherits the variables
        assert srs.wait_log("HTTPS API listen at")
        out = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                              f"https://127.0.0.1:{port}/api/v1/versions"], capture_output=True, text=True,
                             timeout=20).stdout
        assert out == "401"
        out = subprocess.run(["curl", "-sk", "-u", "ops:pw", "-o", "/dev/null", "-w", "%{http_code}",
                              f"https://127.0.0.1:{port}/api/v1/versions"], capture_output=True, text=True,
                             timeout=20).stdout
        assert out == "200"
        assert call(srs.api_url("/api/v1/versions"))[0] == 401  # the plain port too
        assert call(srs.api_url("/api/v1/versions"), auth=_basic("ops", "pw"))[0] == 200
