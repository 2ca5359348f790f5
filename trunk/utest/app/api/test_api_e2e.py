"""The HTTP API end to end: the real server process, a live stream published by PyAV in realtime
(looping in a thread), RTMP and HTTP-FLV players, and plain urllib/socket API clients."""
from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from fixtures.media import make_flv
from fixtures.raw_socket import exchange
from fixtures.srs_server import Player, SrsProcess, publish_flv, wait_for, wait_port

REMUX = "http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }"
RAW_API = "raw_api { enabled on; allow_reload on; }"


def api(srs, path: str, method: str = "GET", data: bytes | None = None):
    """(http status, content type, body text) of one API request; HTTP errors are answers too."""
    req = urllib.request.Request(srs.api_url(path), method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def api_json(srs, path: str, method: str = "GET") -> dict:
    status, ctype, body = api(srs, path, method)
    assert status == 200 and ctype.startswith("application/json"), (status, ctype, body)
    return json.loads(body)


class LoopPublisher(threading.Thread):
    """Publishes the test file in realtime, again and again, until stopped or the server kicks it."""

    def __init__(self, path: str, url: str):
        super().__init__(daemon=True)
        self.path = path
        self.url = url
        self.stop_flag = threading.Event()
        self.error: str | None = None
        self.ended_at: float | None = None

    def run(self) -> None:
        try:
            while not self.stop_flag.is_set():
                publish_flv(self.path, self.url, realtime=True, loops=3)
        except Exception as e:  # noqa: BLE001 - a kicked publisher ends with an I/O error
            self.error = str(e)
        finally:
            self.ended_at = time.monotonic()


def streams_named(srs, name: str) -> list:
    return [s for s in api_json(srs, "/api/v1/streams")["streams"] if s["name"] == name]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    # 8 s per loop: the realtime publisher restarts (a new RTMP connection) less often
    return make_flv(tmp_path_factory.mktemp("apimedia") / "av8.flv", seconds=8, width=320, height=240, fps=25,
                    gop=25, audio="aac")


@pytest.fixture(scope="module")
def live(tmp_path_factory, media):
    """One server with one live stream live/api and one RTMP + one HTTP-FLV player on it."""
    srs = SrsProcess(tmp_path_factory.mktemp("api"), vhost_body=REMUX).start()
    assert wait_port(srs.api_port) and wait_port(srs.http_port)
    pub = LoopPublisher(media.path, srs.rtmp_url("live/api"))
    players = []
    try:
        pub.start()
        assert wait_for(lambda: [s for s in streams_named(srs, "api") if s["publish"]["active"]], 10), srs.output()
        pub.live_at = time.monotonic()
        players = [Player(srs.rtmp_url("live/api"), max_seconds=120, decode=False),
                   Player(srs.http_url("live/api.flv"), max_seconds=120, decode=False)]
        for p in players:
            p.start()
        assert wait_for(lambda: all(p.video_frames > 0 for p in players), 10)
        yield srs, pub, players
    finally:
        pub.stop_flag.set()
        srs.stop()
        pub.join(15)
        for p in players:
            p.join(10)


# ------------------------------------------------------------------ read-only endpoints
def test_versions_and_summaries(live):
    srs, _, _ = live
    v = api_json(srs, "/api/v1/versions")
    assert v["code"] == 0 and v["server"]
    d = v["data"]
    assert d["version"] == f'{d["major"]}.{d["minor"]}.{d["revision"]}'
    s = api_json(srs, "/api/v1/summaries")["data"]
    assert s["ok"] is True and abs(s["now_ms"] - time.time() * 1000) < 5000
    assert s["self"]["pid"] == srs.proc.pid and s["self"]["mem_kbyte"] > 0
    for key in ("cpu_percent", "mem_ram_kbyte", "cpus", "load_1m", "ilde_time", "srs_recv_bytes",
                "srs_send_bytes", "conn_srs", "net_recv_bytes"):
        assert key in s["system"], key
    assert s["system"]["conn_srs"] >= 3  # publisher + 2 players at least
    assert s["system"]["srs_recv_bytes"] > 0


def test_stream_fields_and_bitrate(live, media):
    srs, pub, players = live
    real_kbps = media.size * 8 / media.duration_ms
    # the server samples kbps every second; give the window a few seconds of realtime publishing
    time.sleep(max(0.0, 6.0 - (time.monotonic() - pub.live_at)))
    streams = streams_named(srs, "api")
    assert len(streams) == 1, streams
    st = streams[0]
    assert st["app"] == "live" and st["id"].startswith("vid-")
    vhosts = api_json(srs, "/api/v1/vhosts")["vhosts"]
    default = [v for v in vhosts if v["name"] == "__defaultVhost__"][0]
    assert st["vhost"] == default["id"]
    # SRS counts every client of the stream, its publisher included
    assert st["clients"] == len(players) + 1
    assert st["video"] == {"codec": "H264", "profile": "Baseline", "level": st["video"]["level"],
                           "width": 320, "height": 240}
    assert st["video"]["level"] in ("1.2", "1.3", "2", "2.1", "3")
    assert st["audio"]["codec"] == "AAC" and st["audio"]["sample_rate"] == 44100 and st["audio"]["channel"] == 2
    assert st["publish"]["active"] is True and isinstance(st["publish"]["cid"], str)
    assert st["frames"] > 0
    assert st["recv_bytes"] > 0
    kbps = st["kbps"]["recv_30s"]
    print(f"stream recv_30s={kbps} kbps, file bitrate={real_kbps:.0f} kbps")
    # the RTMP framing adds a little; the sampling window may cut a loop boundary
    assert 0.75 * real_kbps <= kbps <= 1.3 * real_kbps, (kbps, real_kbps)
    one = api_json(srs, f"/api/v1/streams/{st['id']}")
    assert one["stream"]["id"] == st["id"] and one["stream"]["name"] == "api"
    # the vhost rolls its streams up
    assert default["streams"] >= 1 and default["clients"] >= 3 and default["kbps"]["recv_30s"] > 0


def test_clients_types(live):
    srs, _, players = live
    stream = streams_named(srs, "api")[0]
    clients = [c for c in api_json(srs, "/api/v1/clients")["clients"] if c["stream"] == stream["id"]]
    types = sorted(c["type"] for c in clients)
    assert types == ["Play", "Play", "fmle-publish"], clients
    pub = [c for c in clients if c["publish"]][0]
    assert pub["id"] == stream["publish"]["cid"]
    assert pub["url"] == "/live/api" and pub["ip"] == "127.0.0.1"
    assert pub["tcUrl"].startswith("rtmp://127.0.0.1:") and pub["tcUrl"].endswith("/live")
    tc_urls = sorted(c["tcUrl"].split(":")[0] for c in clients if not c["publish"])
    assert tc_urls == ["http", "rtmp"]  # the HTTP-FLV player is counted
    one = api_json(srs, f"/api/v1/clients/{pub['id']}")["client"]
    assert one["type"] == "fmle-publish" and one["alive"] > 0


def test_vhosts(live):
    srs, _, _ = live
    vhosts = api_json(srs, "/api/v1/vhosts")["vhosts"]
    v = [v for v in vhosts if v["name"] == "__defaultVhost__"][0]
    assert v["enabled"] is True and v["hls"] == {"enabled": False}
    assert api_json(srs, f"/api/v1/vhosts/{v['id']}")["vhost"]["name"] == "__defaultVhost__"


def test_metrics(live):
    srs, _, _ = live
    status, ctype, body = api(srs, "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    lines = dict(line.rsplit(" ", 1) for line in body.splitlines() if line and not line.startswith("#"))
    assert int(lines["srs_streams_publishing"]) >= 1
    assert int(lines["srs_clients"]) >= 3
    key = 'srs_stream_frames_total{vhost="__defaultVhost__",app="live",stream="api"}'
    assert int(lines[key]) > 0


# ------------------------------------------------------------------ malformed requests
def test_errors_and_bad_ids(live):
    srs, _, _ = live
    status, ctype, body = api(srs, "/api/v1/nothing")
    assert status == 404 and ctype.startswith("application/json") and json.loads(body)["code"] == 404
    assert api_json(srs, "/api/v1/streams/vid-nope")["code"] == 2048
    assert api_json(srs, "/api/v1/clients/999999")["code"] == 2049
    assert api_json(srs, "/api/v1/vhosts/nope")["code"] == 2014
    assert api_json(srs, "/api/v1/clients/999999", "DELETE")["code"] == 2049
    # malformed ids (a client id is a number; no id has other characters or 64+ of them): HTTP 400
    # with SRS's not-found code, never a traceback
    for path, code in (("clients/abc", 2049), ("clients/-1", 2049), ("clients/" + "9" * 40, 2049),
                       ("clients/1%00", 2049), ("streams/" + "9" * 5000, 2048), ("streams/a%20b", 2048),
                       ("streams/%C3%A9", 2048), ("vhosts/x%00y", 2014), ("vhosts/" + "v" * 65, 2014)):
        for method in ("GET", "DELETE") if path.startswith("clients") else ("GET",):
            status, ctype, body = api(srs, "/api/v1/" + path, method)
            assert status == 400 and ctype.startswith("application/json"), (path, method, status, body)
            assert json.loads(body)["code"] == code
    # wrong method on a known path; an unknown override
    assert api(srs, "/api/v1/versions", "POST", b"")[0] == 405
    assert api(srs, "/api/v1/streams", "DELETE")[0] == 405
    assert api(srs, "/api/v1/versions?method=PATCH")[0] == 405
    assert api(srs, "/api/v1/raw?rpc=reload")[2] and json.loads(api(srs, "/api/v1/raw?rpc=reload")[2])["code"] != 0


def _raw_answer(port: int, request: bytes) -> bytes:
    """Everything the server answers to ``request`` until it closes."""
    return exchange(port, request)


@pytest.mark.parametrize("request_line", [b"GET /api/v1/versions HTTP/5.1", b"GET /api/v1/versions HTTP/5",
                                          b"GET /api/v1/versions HTTP/1.x", b"GET /api/v1/versions 5.1"])
def test_bad_http_version_is_400_quietly(live, request_line):
    srs, _, _ = live
    before = srs.log_text().count("HTTP API client ip=127.0.0.1 bad request")
    answer = _raw_answer(srs.api_port, request_line + b"\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert wait_for(lambda: srs.log_text().count("HTTP API client ip=127.0.0.1 bad request") > before, 5)
    assert "Traceback" not in srs.output()


def test_too_many_headers_is_400_quietly(live):
    srs, _, _ = live
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(101))
    answer = _raw_answer(srs.api_port, b"GET /api/v1/versions HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert wait_for(lambda: "got more than 100 headers" in srs.log_text(), 5)
    assert "Traceback" not in srs.output()
    assert api_json(srs, "/api/v1/versions")["code"] == 0  # and the API still answers


def test_jsonp(live):
    srs, _, _ = live
    status, ctype, body = api(srs, "/api/v1/versions?callback=cb_1.x")
    assert status == 200 and ctype.startswith("text/javascript")
    assert body.startswith("cb_1.x({") and body.endswith("})")
    assert json.loads(body[len("cb_1.x("):-1])["code"] == 0
    # JSONP can delete through ?method=: an unknown client gives its code, still as JSONP
    status, ctype, body = api(srs, "/api/v1/clients/999999?callback=f&method=DELETE")
    assert status == 200 and json.loads(body[2:-1])["code"] == 2049
    for bad in ("alert(1)", "<script>", "a;b", "x%22%3E", "f%0a"):
        status, ctype, body = api(srs, f"/api/v1/versions?callback={bad}")
        assert status == 400, (bad, status, body)
        assert "script" not in body and "alert" not in body


def test_huge_body_is_refused_and_server_lives(live):
    srs, _, _ = live
    s = socket.create_connection(("127.0.0.1", srs.api_port), timeout=10)
    size = 10 * 1024 * 1024
    s.sendall(b"POST /api/v1/raw?rpc=raw HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % size)
    sent = 0
    chunk = b"x" * 65536
    started = time.monotonic()
    try:
        while sent < size:
            sent += s.send(chunk)
    except OSError:
        pass  # the server closed on us: allowed
    s.settimeout(10)
    try:
        head = s.recv(4096)
    except OSError:
        head = b""
    s.close()
    elapsed = time.monotonic() - started
    print(f"10 MB POST: sent {sent} B, answer {head[:40]!r} in {elapsed:.2f}s")
    assert head == b"" or head.startswith(b"HTTP/1.1 413"), head
    # alive and serving
    assert srs.alive()
    assert api_json(srs, "/api/v1/versions")["code"] == 0


# ------------------------------------------------------------------ kickoff
def test_kick_rtmp_player_http_player_and_publisher(live, media):
    srs, _, _ = live
    pub = LoopPublisher(media.path, srs.rtmp_url("live/kick"))
    pub.start()
    try:
        assert wait_for(lambda: [s for s in streams_named(srs, "kick") if s["publish"]["active"]], 10)
        rtmp = Player(srs.rtmp_url("live/kick"), max_seconds=60, decode=False)
        flv = Player(srs.http_url("live/kick.flv"), max_seconds=60, decode=False)
        rtmp.start()
        flv.start()
        assert wait_for(lambda: rtmp.video_frames > 0 and flv.video_frames > 0, 10)
        sid = streams_named(srs, "kick")[0]["id"]

        def client_of(kind: str):
            for c in api_json(srs, "/api/v1/clients?count=100")["clients"]:
                if c["stream"] == sid and (kind == "pub") == c["publish"] and (
                        kind == "pub" or c["tcUrl"].startswith(kind)):
                    return c["id"]
            return None

        for kind, thread in (("rtmp", rtmp), ("http", flv), ("pub", pub)):
            cid = client_of(kind)
            assert cid is not None, kind
            t0 = time.monotonic()
            assert api_json(srs, f"/api/v1/clients/{cid}", "DELETE")["code"] == 0
            thread.join(5)
            took = time.monotonic() - t0
            print(f"kick {kind} client {cid}: ended in {took:.2f}s")
            assert not thread.is_alive() and took < 1.5, (kind, took)
            assert api_json(srs, f"/api/v1/clients/{cid}")["code"] == 2049
        # the publisher's kick unpublished the stream
        assert wait_for(lambda: not [s for s in streams_named(srs, "kick") if s["publish"]["active"]], 5)
    finally:
        pub.stop_flag.set()
        pub.join(10)


# ------------------------------------------------------------------ raw api reload
def test_raw_api_reload_applies_conf_change(tmp_path, media):
    conf = ("listen {rtmp_port};\ndaemon off;\npid {pid};\nsrs_log_tank file;\nsrs_log_file {log};\n"
            "http_api {{ enabled on; listen {api_port}; " + RAW_API.replace("{", "{{").replace("}", "}}") +
            " }}\nvhost __defaultVhost__ {{\n}}\n")
    with SrsProcess(tmp_path, conf=conf) as srs:
        assert wait_port(srs.api_port)
        assert api_json(srs, "/api/v1/raw?rpc=raw")["http_api"]["raw_api"]["allow_reload"] is True
        url = srs.rtmp_url("live/r")
        assert publish_flv(media.path, url) > 0  # allowed by the running config
        with open(srs.conf_path) as f:
            text = f.read()
        denied = text.replace("vhost __defaultVhost__ {\n", "vhost __defaultVhost__ {\n"
                              "security { enabled on; deny publish 127.0.0.1; }\n")
        assert denied != text
        with open(srs.conf_path, "w") as f:
            f.write(denied)
        assert api_json(srs, "/api/v1/raw?rpc=reload")["code"] == 0
        with pytest.raises(Exception):
            publish_flv(media.path, url)
        assert not streams_named(srs, "r")
        # a broken file keeps the running config (still denied) and says so
        with open(srs.conf_path, "w") as f:
            f.write(text + "vhost broken {\n")
        assert api_json(srs, "/api/v1/raw?rpc=reload")["code"] != 0
        assert srs.alive() and api_json(srs, "/api/v1/versions")["code"] == 0
        with pytest.raises(Exception):
            publish_flv(media.path, url)


def test_raw_api_reload_disabled_by_default(tmp_path):
    with SrsProcess(tmp_path) as srs:
        assert wait_port(srs.api_port)
        assert api_json(srs, "/api/v1/raw?rpc=reload")["code"] == 1061  # ERROR_SYSTEM_CONFIG_RAW_DISABLED
