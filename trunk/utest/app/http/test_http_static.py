"""StaticFileHandler served by the real HttpServer on 127.0.0.1:0 inside gevent."""
from __future__ import annotations

import itertools
import logging
import os
import struct

import gevent
import pytest
from gevent import socket as gsocket

from srs.app.http.server import HttpMux, HttpServer
from srs.app.http.static import StaticFileHandler, flv_head_size
from srs.protocol.http_response import HttpResponseParser, ResponseEnd, ResponseHead


# ----------------------------------------------------------------------------- helpers

class Client:
    def __init__(self, port):
        self.sock = gsocket.create_connection(("127.0.0.1", port), timeout=5)
        self.parser = HttpResponseParser()
        self.queue = []

    def request(self, path, method="GET", headers=b"", host=b"h"):
        self.sock.sendall(b"%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n"
                          % (method.encode(), path.encode("latin-1"), host, headers))
        return self.response(head_request=method == "HEAD")

    def response(self, head_request=False, timeout=3.0):
        self.parser.head_request = head_request
        head, body = None, []
        with gevent.Timeout(timeout):
            while True:
                while self.queue:
                    ev = self.queue.pop(0)
                    if isinstance(ev, ResponseHead):
                        head = ev
                    elif isinstance(ev, ResponseEnd):
                        return head, b"".join(body)
                    else:
                        body.append(ev)
                data = self.sock.recv(65536)
                self.queue.extend(self.parser.receive_data(data) if data else self.parser.receive_eof())
                if not data and not self.queue:
                    raise AssertionError("EOF before the response ended")

    def close(self):
        self.sock.close()


def flv_tag(kind: int, ts: int, payload: bytes) -> bytes:
    head = bytes([kind]) + len(payload).to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big") \
        + bytes([ts >> 24 & 0xFF]) + b"\x00\x00\x00"
    return head + payload + struct.pack(">I", 11 + len(payload))


FLV_HEADER = b"FLV\x01\x05\x00\x00\x00\x09" + b"\x00\x00\x00\x00"
META = flv_tag(18, 0, b"\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00\x00\x00\x09")
AVC_SH = flv_tag(9, 0, b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f\xff\xe1")
AAC_SH = flv_tag(8, 0, b"\xaf\x00\x12\x10")
FRAMES = [flv_tag(9, 0, b"\x17\x01\x00\x00\x00" + b"K" * 300),
          flv_tag(8, 10, b"\xaf\x01" + b"A" * 50),
          flv_tag(9, 40, b"\x27\x01\x00\x00\x00" + b"P" * 200),
          flv_tag(9, 80, b"\x17\x01\x00\x00\x00" + b"k" * 300),
          flv_tag(8, 90, b"\xaf\x01" + b"a" * 50)]
FLV_SEQ = FLV_HEADER + META + AVC_SH + AAC_SH
FLV_FILE = FLV_SEQ + b"".join(FRAMES)


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "html"
    (root / "sub").mkdir(parents=True)
    (root / "live").mkdir()
    (root / "index.html").write_bytes(b"<html>root index</html>")
    (root / "sub" / "index.html").write_bytes(b"<html>sub index</html>")
    (root / "a.txt").write_bytes(b"0123456789" * 10)
    (root / "live" / "s.m3u8").write_bytes(b"#EXTM3U\n")
    (root / "live" / "s-1.ts").write_bytes(b"\x47" + b"\x00" * 187)
    (root / "v.flv").write_bytes(FLV_FILE)
    (root / "v.mp4").write_bytes(bytes(range(256)) * 4)
    (root / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    (root / "sp ace.txt").write_bytes(b"spaced")
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"TOP SECRET")
    os.symlink(secret, root / "leak.txt")
    os.symlink(tmp_path, root / "up")
    os.symlink(root / "a.txt", root / "alias.txt")  # inside the root: allowed
    return root


@pytest.fixture
def server(site):
    mux = HttpMux()
    mux.handle("/", StaticFileHandler(str(site), "/"))
    mux.handle("/hls/", StaticFileHandler(str(site / "live"), "/hls/"))
    ids = itertools.count(500)
    srv = HttpServer("test-static", mux, lambda: next(ids), idle_timeout_s=5.0, header_timeout_s=2.0)
    srv.listen("127.0.0.1", 0)
    srv.start()
    yield srv
    srv.stop()
    assert not srv.connections and not srv._greenlets


# ----------------------------------------------------------------------------- tests

def test_get_head_index_and_mime(server, site):
    c = Client(server.port)
    head, body = c.request("/a.txt")
    assert head.status == 200 and body == b"0123456789" * 10
    assert head.header("content-type").startswith("text/plain")
    assert head.header("content-length") == "100"
    assert head.header("last-modified").endswith("GMT")
    head, body = c.request("/a.txt", method="HEAD")
    assert head.status == 200 and body == b"" and head.header("content-length") == "100"
    head, body = c.request("/")
    assert body == b"<html>root index</html>" and head.header("content-type").startswith("text/html")
    head, body = c.request("/sub/")
    assert body == b"<html>sub index</html>"
    head, body = c.request("/sub?x=1")
    assert head.status == 301 and head.header("location") == "/sub/?x=1"
    for path, mime in [("/live/s.m3u8", "application/vnd.apple.mpegurl"),
                       ("/live/s-1.ts", "video/MP2T"), ("/v.flv", "video/x-flv"),
                       ("/v.mp4", "video/mp4"), ("/big.bin", "application/octet-stream")]:
        head, _ = c.request(path, method="HEAD")
        assert head.header("content-type") == mime, path
    head, body = c.request("/sp%20ace.txt")
    assert body == b"spaced"
    head, body = c.request("/alias.txt")
    assert head.status == 200 and body == b"0123456789" * 10
    # a second mount strips its prefix
    head, body = c.request("/hls/s.m3u8")
    assert head.status == 200 and body == b"#EXTM3U\n"
    c.close()


def test_keep_alive_two_files_one_connection(server):
    c = Client(server.port)
    h1, b1 = c.request("/a.txt")
    h2, b2 = c.request("/big.bin")
    assert h1.status == h2.status == 200 and len(b2) == 3 * 1024 * 1024 + 17
    assert len(server.connections) == 1
    c.close()


def test_404_and_405(server):
    c = Client(server.port)
    assert c.request("/missing.txt")[0].status == 404
    assert c.request("/a.txt/x")[0].status == 404
    assert c.request("/a.txt", method="POST", headers=b"Content-Length: 0\r\n")[0].status == 405
    assert c.request("/a.txt")[0].status == 200  # still the same connection
    c.close()


def test_range_requests(server, site):
    data = (site / "a.txt").read_bytes()
    c = Client(server.port)
    head, body = c.request("/a.txt", headers=b"Range: bytes=10-19\r\n")
    assert head.status == 206 and body == data[10:20]
    assert head.header("content-range") == "bytes 10-19/100"
    head, body = c.request("/a.txt", headers=b"Range: bytes=90-\r\n")
    assert head.status == 206 and body == data[90:]
    head, body = c.request("/a.txt", headers=b"Range: bytes=-5\r\n")
    assert head.status == 206 and body == data[-5:]
    head, body = c.request("/a.txt", headers=b"Range: bytes=100-200\r\n")
    assert head.status == 416 and head.header("content-range") == "bytes */100"
    head, body = c.request("/a.txt", headers=b"Range: bytes=5-1\r\n")   # malformed: whole file
    assert head.status == 200 and body == data
    mp4 = (site / "v.mp4").read_bytes()
    head, body = c.request("/v.mp4?range=100-199")
    assert head.status == 206 and body == mp4[100:200]
    head, body = c.request("/v.mp4?bytes=1000-")
    assert head.status == 206 and body == mp4[1000:]
    head, body = c.request("/v.mp4", headers=b"Range: bytes=0-0\r\n")
    assert head.status == 206 and body == mp4[:1]
    c.close()


def test_flv_seek_with_start(server):
    assert flv_head_size  # the scan is also unit-tested below
    offset = len(FLV_SEQ) + len(FRAMES[0]) + len(FRAMES[1])
    c = Client(server.port)
    head, body = c.request("/v.flv?start=%d" % offset)
    assert head.status == 200 and head.header("content-type") == "video/x-flv"
    assert body == FLV_SEQ + b"".join(FRAMES[2:])
    assert int(head.header("content-length")) == len(body)
    head, body = c.request("/v.flv?start=0")
    assert body == FLV_FILE
    head, body = c.request("/v.flv?start=5")   # inside the headers: whole file
    assert body == FLV_FILE
    for junk in ("abc", "%C2%B2", "-5", ""):     # not a byte offset: whole file
        head, body = c.request("/v.flv?start=" + junk)
        assert head.status == 200 and body == FLV_FILE, junk
    head, body = c.request("/v.flv?start=%d" % len(FLV_FILE))
    assert head.status == 416
    head, body = c.request("/v.flv?start=%d" % offset, method="HEAD")
    assert head.status == 200 and body == b""
    assert int(head.header("content-length")) == len(FLV_SEQ) + len(b"".join(FRAMES[2:]))
    c.close()


def test_flv_head_size_scan(tmp_path):
    def scan(data):
        p = tmp_path / "x.flv"
        p.write_bytes(data)
        with open(p, "rb") as f:
            return flv_head_size(f.fileno(), len(data))

    assert scan(FLV_FILE) == len(FLV_SEQ)
    assert scan(FLV_HEADER + AVC_SH + b"".join(FRAMES)) == len(FLV_HEADER + AVC_SH)
    assert scan(FLV_HEADER + b"".join(FRAMES)) == len(FLV_HEADER)
    assert scan(b"NOTFLV" + b"\x00" * 50) == 0
    assert scan(FLV_SEQ[:-3]) == len(FLV_HEADER + META + AVC_SH)  # truncated last tag
    assert scan(b"FLV") == 0


TRAVERSALS = [
    "/../secret.txt",
    "/sub/../../secret.txt",
    "/%2e%2e/secret.txt",
    "/sub/%2E%2E/%2e%2e/secret.txt",
    "/..%2fsecret.txt",
    "/sub/..%5c..%5csecret.txt",
    "/sub\\..\\..\\secret.txt",
    "/leak.txt",                 # symlink to a file outside the root
    "/up/secret.txt",            # symlinked directory outside the root
    "/hls/../a.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_refused(server, path, caplog):
    c = Client(server.port)
    with caplog.at_level(logging.WARNING, logger="srs.app.http.static"):
        head, body = c.request(path)
    assert head.status == 403, (path, head.status)
    assert b"SECRET" not in body
    warns = [r for r in caplog.records if r.name == "srs.app.http.static"]
    assert warns and all(getattr(r, "cid", 0) >= 500 and "cid=" in r.getMessage() for r in warns)
    c.close()


def test_nul_in_path_is_a_bad_request(server):
    c = Client(server.port)
    head, _ = c.request("/a.txt%00.html")
    assert head.status == 400


def test_file_replaced_while_served(server, site):
    """HLS rewrites by rename: a reader keeps the file it opened, served to its end."""
    original = os.urandom(12 * 1024 * 1024)  # more than the socket buffers can hold
    (site / "live" / "seg.ts").write_bytes(original)
    static = StaticFileHandler(str(site / "live"), "/w/")
    finished = []

    def watched(conn, req):
        static(conn, req)
        finished.append(req.path)

    server.mux.handle("/w/", watched)
    c = Client.__new__(Client)
    # a small receive window keeps most of the file on the server side during the rename
    c.sock = gsocket.socket(gsocket.AF_INET, gsocket.SOCK_STREAM)
    c.sock.setsockopt(gsocket.SOL_SOCKET, gsocket.SO_RCVBUF, 4096)
    c.sock.connect(("127.0.0.1", server.port))
    c.parser, c.queue = HttpResponseParser(), []
    c.sock.sendall(b"GET /w/seg.ts HTTP/1.1\r\nHost: h\r\n\r\n")
    first = c.sock.recv(1024)       # the server has opened the file and started sending
    assert first.startswith(b"HTTP/1.1 200")
    gevent.sleep(0.05)              # let it fill the socket buffers and block
    assert not finished             # still inside the handler's send loop
    tmp = site / "live" / "seg.ts.tmp"
    tmp.write_bytes(b"new content")
    os.replace(tmp, site / "live" / "seg.ts")
    c.queue.extend(c.parser.receive_data(first))
    head, body = c.response(timeout=10)
    assert head.status == 200 and len(body) == len(original) and body == original
    assert finished == ["/w/seg.ts"]
    head, body = c.request("/w/seg.ts")  # a new request sees the new file
    assert body == b"new content"
    c.close()


def test_a_file_swapped_for_a_symlink_is_refused_while_its_directory_is_remembered(server, site, tmp_path):
    # the directory's realpath is reused for a second (HLS players ask the same directory all the time);
    # the file itself is checked at each request
    c = Client(server.port)
    head, body = c.request("/live/s-1.ts")
    assert head.status == 200 and body[:1] == b"\x47"
    os.unlink(site / "live" / "s-1.ts")
    os.symlink(tmp_path / "secret.txt", site / "live" / "s-1.ts")
    head, body = c.request("/live/s-1.ts")
    assert head.status == 403 and b"SECRET" not in body
    c.close()
