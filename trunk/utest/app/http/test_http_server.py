"""The real HttpServer on 127.0.0.1:0 inside gevent (no monkey-patching), with gevent-socket clients."""
from __future__ import annotations

import itertools
import logging
import os
import time

import gevent
import pytest
from gevent import socket as gsocket

from fixtures.raw_socket import exchange
from fixtures.srs_server import SrsProcess
from srs.app.http.server import HttpMux, HttpServer
from srs.kernel.errors import HttpError, SrsError
from srs.kernel.log import get_cid
from srs.protocol.http import HttpRequest
from srs.protocol.http_response import HttpResponseParser, ResponseEnd, ResponseHead


# ----------------------------------------------------------------------------- helpers

def make_server(mux=None, **kw):
    mux = mux or HttpMux()
    ids = itertools.count(100)
    kw.setdefault("idle_timeout_s", 5.0)
    kw.setdefault("header_timeout_s", 1.0)
    srv = HttpServer("test-http", mux, lambda: next(ids), **kw)
    srv.listen("127.0.0.1", 0)
    srv.start()
    return srv


@pytest.fixture
def mux():
    return HttpMux()


@pytest.fixture
def server(mux):
    srv = make_server(mux)
    yield srv
    srv.stop()
    assert not srv.connections and not srv._greenlets


def connect(srv):
    return gsocket.create_connection(("127.0.0.1", srv.port), timeout=5)


class Resp:
    def __init__(self, head, body):
        self.head, self.body = head, body
        self.status = head.status

    def header(self, name):
        return self.head.header(name)


_pending: dict = {}  # socket -> (parser, [events not yet consumed])


def read_response(sock, head_request=False, timeout=3.0):
    """Read one response (body joined). Events past it (pipelining) wait for the next call."""
    parser, queue = _pending.setdefault(sock, (HttpResponseParser(), []))
    parser.head_request = head_request
    head, body = None, []
    with gevent.Timeout(timeout):
        while True:
            while queue:
                ev = queue.pop(0)
                if isinstance(ev, ResponseHead):
                    head = ev
                elif isinstance(ev, ResponseEnd):
                    return Resp(head, b"".join(body))
                else:
                    body.append(ev)
            data = sock.recv(65536)
            queue.extend(parser.receive_data(data) if data else parser.receive_eof())
            if not data and not queue:
                raise AssertionError("EOF before the response ended")


def is_closed(sock, timeout=3.0) -> bool:
    """True when the server closed the connection (EOF or reset) within timeout."""
    try:
        with gevent.Timeout(timeout):
            while True:
                if not sock.recv(65536):
                    return True
    except gevent.Timeout:
        return False
    except OSError:
        return True


def get(path="/", host="h", extra=b""):
    return b"GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (path.encode(), host.encode(), extra)


def text_handler(body=b"hello", status=200):
    def handler(conn, req):
        conn.send_response(status, [("Content-Type", "text/plain")], body)
    return handler


# ----------------------------------------------------------------------------- mux

def req_for(path, host="h"):
    return HttpRequest("GET", path, path, path, {}, [], "1.1", [], b"", True, host)


def test_mux_exact_prefix_longest_and_host():
    m = HttpMux()
    root, live, live_s, api, vh_live = (lambda c, r: None for _ in range(5))
    m.handle("/", root)
    m.handle("/live/", live)
    m.handle("/live/s.flv", live_s)
    m.handle("/api/v1/versions", api)
    m.handle("vhost.com/live/", vh_live)
    assert m.match(req_for("/api/v1/versions")) is api
    assert m.match(req_for("/api/v1/versions/x")) is root   # exact pattern has no subtree
    assert m.match(req_for("/live/s.flv")) is live_s
    assert m.match(req_for("/live/other.flv")) is live
    assert m.match(req_for("/live")) is root                # "/live/" does not match "/live"
    assert m.match(req_for("/x")) is root
    assert m.match(req_for("/live/other.flv", host="VHOST.com")) is vh_live
    assert m.match(req_for("/live/s.flv", host="vhost.com")) is vh_live  # host patterns first
    assert m.match(req_for("/x", host="vhost.com")) is root
    assert sorted(m.patterns()) == sorted(["/", "/live/", "/live/s.flv", "/api/v1/versions",
                                           "vhost.com/live/"])


def test_mux_dynamic_and_errors():
    m = HttpMux()
    h1, h2 = (lambda c, r: None), (lambda c, r: None)
    assert m.match(req_for("/live/a.flv")) is None
    m.handle("/live/a.flv", h1)
    assert m.match(req_for("/live/a.flv")) is h1
    with pytest.raises(SrsError):
        m.handle("/live/a.flv", h2)
    assert m.unhandle("/live/a.flv") is h1
    assert m.unhandle("/live/a.flv") is None
    assert m.match(req_for("/live/a.flv")) is None
    m.handle("/live/a.flv", h2)
    assert m.match(req_for("/live/a.flv")) is h2
    m.handle("v.com/hls/", h1)
    assert m.unhandle("v.com/hls/") is h1 and m.patterns() == ["/live/a.flv"]
    for bad in ("", "nohostpath", "/ok"):
        if bad == "/ok":
            with pytest.raises(SrsError):
                m.handle(bad, "not callable")
        else:
            with pytest.raises(SrsError):
                m.handle(bad, h1)


# ----------------------------------------------------------------------------- basic serving

def test_get_head_and_standard_headers(server, mux):
    mux.handle("/hello", text_handler(b"hello world"))
    s = connect(server)
    s.sendall(get("/hello"))
    r = read_response(s)
    assert r.status == 200 and r.body == b"hello world"
    assert r.header("content-length") == "11"
    assert r.header("server").startswith("SRS/")
    assert r.header("date").endswith("GMT")
    assert r.header("connection") is None and r.head.keep_alive
    s.sendall(b"HEAD /hello HTTP/1.1\r\nHost: h\r\n\r\n")
    r = read_response(s, head_request=True)
    assert r.status == 200 and r.body == b"" and r.header("content-length") == "11"
    s.close()


def test_keep_alive_two_requests_and_pipelining(server, mux):
    seen = []

    def handler(conn, req):
        seen.append((conn.cid, req.path, req.body))
        conn.send_response(200, [], req.path.encode())

    mux.handle("/k/", handler)
    s = connect(server)
    s.sendall(get("/k/1"))
    assert read_response(s).body == b"/k/1"
    s.sendall(get("/k/2"))
    assert read_response(s).body == b"/k/2"
    # pipelined: three requests in one segment, answered in order on the same connection
    s.sendall(get("/k/3") + b"POST /k/4 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
              + get("/k/5", extra=b"Connection: close\r\n"))
    bodies = [read_response(s).body for _ in range(3)]
    assert bodies == [b"/k/3", b"/k/4", b"/k/5"]
    assert is_closed(s)   # the last one asked to close
    assert len({cid for cid, _, _ in seen}) == 1
    assert seen[3] == (seen[0][0], "/k/4", b"abc")


def test_http10_keep_alive(server, mux):
    mux.handle("/x", text_handler())
    s = connect(server)
    s.sendall(b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    r = read_response(s)
    assert r.status == 200 and r.header("connection") == "keep-alive"
    s.sendall(b"GET /x HTTP/1.0\r\n\r\n")
    r = read_response(s)
    assert r.header("connection") == "close"
    assert is_closed(s)


def test_404_keeps_connection(server, mux):
    s = connect(server)
    s.sendall(get("/nothing"))
    assert read_response(s).status == 404
    mux.handle("/late", text_handler(b"registered at runtime"))
    s.sendall(get("/late"))
    assert read_response(s).body == b"registered at runtime"
    mux.unhandle("/late")
    s.sendall(get("/late"))
    assert read_response(s).status == 404


@pytest.mark.parametrize("raw,status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),   # TLS hello-ish
    (b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999\r\n\r\n", 413),
])
def test_bad_request_answered_and_closed(server, raw, status):
    s = connect(server)
    s.sendall(raw)
    r = read_response(s)
    assert r.status == status
    assert r.header("connection") == "close"
    assert is_closed(s)


def test_slowloris_partial_head_closed_after_timeout(server, mux):
    mux.handle("/", text_handler())
    s = connect(server)
    t0 = time.monotonic()
    s.sendall(b"GET / HTTP/1.1\r\nHost: h\r\n")
    # keep trickling bytes: the deadline counts from the first byte, not from the last one
    for _ in range(3):
        gevent.sleep(0.3)  # the trickle's pace is the test (3 x 0.3 s spans the 1 s header deadline)
        try:
            s.sendall(b"X")
        except OSError:
            break
    r = read_response(s)
    elapsed = time.monotonic() - t0
    assert r.status == 408
    assert is_closed(s)
    assert 0.9 <= elapsed < 2.5, elapsed


def test_head_deadline_restarts_for_each_request(server, mux):
    mux.handle("/", text_handler())
    s = connect(server)
    s.sendall(get("/"))
    assert read_response(s).status == 200
    gevent.sleep(1.2)  # older than header_timeout_s, younger than idle_timeout_s
    s.sendall(get("/") + b"GET / HTTP/1.1\r\nHo")   # a full request and a pipelined partial one
    assert read_response(s).status == 200
    gevent.sleep(0.5)  # measured: the pipelined head's own deadline starts at its first byte
    s.sendall(b"st: h\r\n\r\n")
    assert read_response(s).status == 200


def test_silent_connection_closed_after_header_timeout(server):
    s = connect(server)
    t0 = time.monotonic()
    assert is_closed(s, timeout=3)
    assert 0.9 <= time.monotonic() - t0 < 2.5


def test_idle_keep_alive_timeout():
    srv = make_server(idle_timeout_s=0.5, header_timeout_s=5.0)
    try:
        srv.mux.handle("/", text_handler())
        s = connect(srv)
        s.sendall(get("/"))
        assert read_response(s).status == 200
        t0 = time.monotonic()
        assert is_closed(s, timeout=3)
        assert 0.4 <= time.monotonic() - t0 < 2.0
    finally:
        srv.stop()


def test_bad_client_does_not_affect_a_good_one(server, mux):
    mux.handle("/ok", text_handler(b"fine"))
    slow = connect(server)
    slow.sendall(b"GET /ok HTTP/1.1\r\nHo")       # never finishes its head
    garbage = connect(server)
    garbage.sendall(b"\x00\x01\x02 nonsense\r\n\r\n")
    results = []

    def good_client():
        s = connect(server)
        for _ in range(5):
            t0 = time.monotonic()
            s.sendall(get("/ok"))
            results.append((read_response(s).body, time.monotonic() - t0))
        s.close()

    gevent.joinall([gevent.spawn(good_client) for _ in range(3)], timeout=5, raise_error=True)
    assert len(results) == 15
    assert all(body == b"fine" and dt < 0.5 for body, dt in results)
    assert read_response(garbage).status == 400
    assert read_response(slow).status == 408


# ----------------------------------------------------------------------------- CORS

def test_crossdomain_on(mux):
    srv = make_server(mux, crossdomain=True)
    try:
        mux.handle("/api", text_handler(b"{}"))
        s = connect(srv)
        s.sendall(b"OPTIONS /api HTTP/1.1\r\nHost: h\r\nOrigin: http://a.com\r\n"
                  b"Access-Control-Request-Method: POST\r\n\r\n")
        r = read_response(s)
        assert r.status == 200
        assert r.header("access-control-allow-origin") == "*"
        assert "OPTIONS" in r.header("access-control-allow-methods")
        assert r.header("access-control-allow-headers")
        s.sendall(get("/api", extra=b"Origin: http://a.com\r\n"))
        r = read_response(s)
        assert r.body == b"{}" and r.header("access-control-allow-origin") == "*"
        s.sendall(get("/api"))  # no Origin: no CORS headers
        assert read_response(s).header("access-control-allow-origin") is None
        srv.crossdomain = False  # reload turns it off
        s.sendall(b"OPTIONS /api HTTP/1.1\r\nHost: h\r\nOrigin: http://a.com\r\n\r\n")
        r = read_response(s)
        assert r.status == 405 and r.header("access-control-allow-origin") is None
    finally:
        srv.stop()


def test_crossdomain_off_options_405(server, mux):
    mux.handle("/api", text_handler())
    s = connect(server)
    s.sendall(b"OPTIONS /api HTTP/1.1\r\nHost: h\r\nOrigin: http://a.com\r\n\r\n")
    r = read_response(s)
    assert r.status == 405 and r.header("access-control-allow-origin") is None


# ----------------------------------------------------------------------------- handler contract

def test_handler_exception_gives_500_and_closes(server, mux, caplog):
    def boom(conn, req):
        raise RuntimeError("handler bug")

    mux.handle("/boom", boom)
    mux.handle("/ok", text_handler())
    with caplog.at_level(logging.ERROR, logger="srs.app.http.server"):
        s = connect(server)
        s.sendall(get("/boom"))
        assert read_response(s).status == 500
        assert is_closed(s)
    assert any("handler bug" in (r.exc_text or "") or (r.exc_info and "handler bug" in str(r.exc_info[1]))
               for r in caplog.records)
    s2 = connect(server)  # the server still serves
    s2.sendall(get("/ok"))
    assert read_response(s2).status == 200


def test_handler_http_error_status(server, mux):
    def deny(conn, req):
        raise HttpError("on_play refused", status=403)

    def silent(conn, req):
        pass

    mux.handle("/deny", deny)
    mux.handle("/silent", silent)
    s = connect(server)
    s.sendall(get("/deny"))
    assert read_response(s).status == 403
    s.sendall(get("/silent"))  # a handler that answers nothing is a bug: 500
    assert read_response(s).status == 500
    assert is_closed(s)


def test_cid_per_connection_and_identity(server, mux):
    seen = []

    def who(conn, req):
        seen.append((get_cid(), conn.cid, conn.ip, conn.port, conn.keep_alive))
        conn.send_response(200, [], b"")

    mux.handle("/who", who)
    socks = [connect(server) for _ in range(3)]
    for s in socks:
        s.sendall(get("/who"))
        assert read_response(s).status == 200
    assert len({c for c, _, _, _, _ in seen}) == 3
    for ctx_cid, cid, ip, port, ka in seen:
        assert ctx_cid == cid >= 100 and ip == "127.0.0.1" and port > 0 and ka


def test_chunked_stream_http11_and_http10(server, mux):
    def stream(conn, req):
        conn.start_chunked(200, [("Content-Type", "video/x-flv")])
        for piece in (b"FLV", b"\x01\x05", b"data" * 100):
            conn.write_chunk(piece)
        # returning ends the body and closes the connection

    mux.handle("/live/s.flv", stream)
    s = connect(server)
    s.sendall(get("/live/s.flv"))
    r = read_response(s)
    assert r.header("transfer-encoding") == "chunked" and r.header("content-length") is None
    assert r.body == b"FLV\x01\x05" + b"data" * 100
    assert is_closed(s)
    s = connect(server)
    s.sendall(b"GET /live/s.flv HTTP/1.0\r\n\r\n")
    r = read_response(s)  # HTTP/1.0: raw body delimited by the close
    assert r.header("transfer-encoding") is None and r.header("connection") == "close"
    assert r.body == b"FLV\x01\x05" + b"data" * 100


def test_take_over_and_wait_closed(server, mux):
    events = []

    def live(conn, req):
        conn.take_over()
        conn.send_raw(b"HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\n\r\n")
        events.append(("short wait", conn.wait_closed(timeout=0.2)))

        def pump():  # another greenlet writes while the handler greenlet waits for the close
            for i in range(5):
                conn.sock.send(b"tick%d" % i, timeout=0.0)
                gevent.sleep(0.02)

        g = gevent.spawn(pump)
        events.append(("closed", conn.wait_closed()))
        g.kill()

    mux.handle("/live/", live)
    s = connect(server)
    # a pipelined request behind the take-over must not be read as a request
    s.sendall(get("/live/a.flv") + get("/live/b.flv"))
    got = b""
    with gevent.Timeout(3):
        while got.count(b"tick") < 5:
            got += s.recv(65536)
    assert got.startswith(b"HTTP/1.1 200 OK") and got.count(b"HTTP/1.1") == 1
    s.close()
    with gevent.Timeout(3):
        while len(events) < 2 or server.connections:
            gevent.sleep(0.01)
    assert events == [("short wait", False), ("closed", True)]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_stop_closes_live_connections():
    fds_before = open_fds()
    srv = make_server()
    entered = []

    def live(conn, req):
        conn.take_over()
        conn.start_chunked(200, [])
        entered.append(conn)
        conn.wait_closed()

    def blocked(conn, req):
        entered.append(conn)
        gevent.sleep(30)  # stuck elsewhere: stop() must kill it

    srv.mux.handle("/live", live)
    srv.mux.handle("/blocked", blocked)
    a, b, c = connect(srv), connect(srv), connect(srv)
    a.sendall(get("/live"))
    b.sendall(get("/blocked"))
    with gevent.Timeout(3):
        while len(entered) < 2 or len(srv.connections) < 3:
            gevent.sleep(0.01)
    t0 = time.monotonic()
    srv.stop(timeout=1.0)
    assert time.monotonic() - t0 < 2.0
    assert not srv.connections and not srv._greenlets
    assert all(conn.closed for conn in entered)
    assert is_closed(a) and is_closed(b) and is_closed(c)
    with pytest.raises(OSError):
        connect(srv)
    for sock in (a, b, c):
        sock.close()
    assert open_fds() <= fds_before  # no socket left behind by the server


# ----------------------------------------------------------------------------- max_connections

def test_gate_refuses_past_the_limit_with_a_canned_503_and_no_greenlet():
    from srs.app.server.listener import ConnectionGate

    gate = ConnectionGate(lambda: 2)
    srv = make_server(gate=gate, header_timeout_s=5.0)
    try:
        a, b = connect(srv), connect(srv)
        with gevent.Timeout(3):
            while gate.active < 2:
                gevent.sleep(0.01)
        for _ in range(3):  # past the limit: 503 + close, before the client sends anything
            c = connect(srv)
            resp = read_response(c)
            assert resp.status == 503 and resp.header("connection") == "close"
            assert is_closed(c)
            c.close()
        assert gate.refused == 3 and gate.active == 2
        assert len(srv._greenlets) == 2 and len(srv.connections) == 2  # none spawned for the refused
        a.close()  # a freed slot admits the next client
        with gevent.Timeout(3):
            while gate.active > 1:
                gevent.sleep(0.01)
        srv.mux.handle("/", text_handler())
        d = connect(srv)
        d.sendall(get("/"))
        assert read_response(d).status == 200
        for s in (b, d):
            s.close()
    finally:
        srv.stop()
    assert gate.active == 0 and not srv._greenlets


# ----------------------------------------------------------------------------- long paths (e2e)

def test_long_paths_are_414_not_500(tmp_path):
    """The real server and its static files: a path longer than PATH_MAX, or with a segment the
    file system calls too long (ENAMETOOLONG), answers 414, with no traceback."""
    def answer(port, path):
        return exchange(port, b"GET /%s HTTP/1.1\r\nHost: h\r\n\r\n" % path, until=b"\r\n\r\n", timeout_s=5)

    with SrsProcess(tmp_path, http_api=False) as srs:
        for path in (b"a" * 5000, b"a" * 5000 + b".flv", b"x" * 300 + b".html"):
            assert answer(srs.http_port, path).startswith(b"HTTP/1.1 414 "), path[:20]
        assert answer(srs.http_port, b"index-that-is-not-there.html").startswith(b"HTTP/1.1 404 ")
    assert "Traceback" not in srs.output()
