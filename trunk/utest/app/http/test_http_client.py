"""The gevent HTTP client against real loopback servers: framings, limits, failures."""
from __future__ import annotations

import json
import socket

import gevent
import gevent.server
import pytest
from gevent.pywsgi import WSGIServer

from srs.app.http.client import http_get, http_post_json, http_request, parse_url
from srs.kernel.errors import (ERROR_HTTP_PARSE_URI, ERROR_HTTP_RESPONSE_EOF, ERROR_SOCKET_CONNECT,
                               ERROR_SOCKET_TIMEOUT, HttpError)


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/chunked":  # no Content-Length: pywsgi answers HTTP/1.1 chunked
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([b"hello ", b"chunked ", b"world"])  # unknown length
    if path == "/echo":
        body = environ["wsgi.input"].read()
        data = json.dumps({"method": environ["REQUEST_METHOD"], "body": body.decode(),
                           "ctype": environ.get("CONTENT_TYPE"), "host": environ.get("HTTP_HOST"),
                           "query": environ.get("QUERY_STRING")}).encode()
        start_response("200 OK", [("Content-Length", str(len(data)))])
        return [data]
    if path == "/big":
        start_response("200 OK", [("Content-Length", str(100_000))])
        return [b"x" * 100_000]
    start_response("404 Not Found", [("Content-Length", "2")])
    return [b"no"]


@pytest.fixture(scope="module")
def base():
    server = WSGIServer(("127.0.0.1", 0), app, log=None, error_log=None)
    server.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.stop(timeout=1)


def raw_server(handler):
    """A TCP server answering with whatever bytes ``handler(sock)`` writes."""
    server = gevent.server.StreamServer(("127.0.0.1", 0), lambda sock, addr: handler(sock))
    server.start()
    return server


def test_parse_url():
    assert parse_url("http://h/a?b=1") == ("h", 80, "/a?b=1", "h")
    assert parse_url("http://h:8085") == ("h", 8085, "/", "h:8085")
    assert parse_url("http://[::1]:1985/api") == ("::1", 1985, "/api", "[::1]:1985")
    for bad in ("https://h/", "ftp://h/", "h/x", "http://:80/", "http://h:99999/"):
        with pytest.raises(HttpError) as info:
            parse_url(bad)
        assert info.value.code == ERROR_HTTP_PARSE_URI


def test_post_json_and_get(base):
    status, body = http_post_json(base + "/echo?x=1", {"a": 1}, timeout_s=5)
    echo = json.loads(body)
    assert status == 200 and echo["method"] == "POST" and json.loads(echo["body"]) == {"a": 1}
    assert echo["ctype"] == "application/json" and echo["query"] == "x=1"
    assert echo["host"] == base[len("http://"):]
    assert http_get(base + "/nothing", timeout_s=5) == (404, b"no")


def test_chunked_and_prefix(base):
    status, headers, body = http_request("GET", base + "/chunked", timeout_s=5)
    assert status == 200 and body == b"hello chunked world"
    assert any(k.lower() == "transfer-encoding" for k, _ in headers)
    assert http_get(base + "/chunked", timeout_s=5, max_bytes=8) == (200, b"hello ch")
    assert http_get(base + "/big", timeout_s=5, max_bytes=64) == (200, b"x" * 64)
    assert len(http_get(base + "/big", timeout_s=5)[1]) == 100_000
    assert http_request("HEAD", base + "/big", timeout_s=5)[2] == b""


def test_until_close_and_truncated():
    def until_close(sock):
        sock.recv(4096)
        sock.sendall(b"HTTP/1.0 200 OK\r\n\r\nall of it")
        sock.close()

    def truncated(sock):
        sock.recv(4096)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
        sock.close()

    def silent_close(sock):
        sock.recv(4096)
        sock.close()

    def garbage(sock):
        sock.recv(4096)
        sock.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")
        sock.close()

    servers = [raw_server(h) for h in (until_close, truncated, silent_close, garbage)]
    try:
        urls = [f"http://127.0.0.1:{s.server_port}/" for s in servers]
        assert http_get(urls[0], timeout_s=5) == (200, b"all of it")
        for url in urls[1:3]:
            with pytest.raises(HttpError) as info:
                http_get(url, timeout_s=5)
            assert info.value.code == ERROR_HTTP_RESPONSE_EOF
        with pytest.raises(HttpError):
            http_get(urls[3], timeout_s=5)
    finally:
        for s in servers:
            s.stop()


def test_connect_refused_and_timeout():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(HttpError) as info:
        http_get(f"http://127.0.0.1:{port}/", timeout_s=2)
    assert info.value.code == ERROR_SOCKET_CONNECT

    def stall(sock):  # accepts, reads, never answers
        sock.recv(4096)
        gevent.sleep(10)

    server = raw_server(stall)
    try:
        with pytest.raises(HttpError) as info:
            http_get(f"http://127.0.0.1:{server.server_port}/", timeout_s=0.3)
        assert info.value.code == ERROR_SOCKET_TIMEOUT and info.value.status == 504
    finally:
        server.stop(timeout=0.1)
