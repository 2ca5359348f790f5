"""What the README and conf/full.conf say about two directives a newcomer tripped on (issue 18 §9), checked
against the real server: over HTTP a vhost is chosen by the Host header; ``reuseport on;`` shares the RTMP,
HTTP server and HTTP API ports between processes."""
from __future__ import annotations

import http.client
import io
import json
import socket
import time

import av
import pytest

from fixtures.srs_server import SrsProcess, free_port, publish_bg, subdir, wait_for


def http_get(port: int, path: str, host: str, max_bytes: int = 0, timeout_s: float = 5.0):
    """(status, body) of a GET with exactly this Host header; a live body is read up to ``max_bytes``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request("GET", path, headers={"Host": host})  # given, so http.client sends no Host of its own
        resp = conn.getresponse()
        body = resp.read(max_bytes) if max_bytes else resp.read()
        return resp.status, body
    finally:
        conn.close()


def test_http_vhost_is_chosen_by_the_host_header(tmp_path, media_flv):
    remux = "http_remux { enabled on; mount [vhost]/[app]/[stream].flv; }"
    with SrsProcess(tmp_path, extra_vhosts="vhost a.com { %s }" % remux) as srs:
        publish_bg(media_flv.path, srs.rtmp_url("live?vhost=a.com/s"), loops=3)
        assert wait_for(lambda: "a.com/live/s" in srs.log_text(), 10), srs.output()[-3000:]
        status, body = http_get(srs.http_port, "/live/s.flv", "a.com:%d" % srs.http_port, max_bytes=120_000)
        assert status == 200, srs.output()[-3000:]
        frames, keys, first_key = 0, 0, None
        with av.open(io.BytesIO(body), format="flv") as c:
            try:
                for pkt in c.demux(video=0):
                    if pkt.size:
                        first_key = bool(pkt.is_keyframe) if first_key is None else first_key
                        keys += bool(pkt.is_keyframe)
                        frames += len(pkt.decode())
            except av.error.InvalidDataError:
                pass  # the body is cut at max_bytes, maybe inside a tag
        assert first_key and frames >= 10, (frames, first_key)
        # the same path without that Host (or with ?vhost=, which is RTMP's way) is __defaultVhost__'s: 404
        assert http_get(srs.http_port, "/live/s.flv", "127.0.0.1")[0] == 404
        assert http_get(srs.http_port, "/live/s.flv?vhost=a.com", "127.0.0.1")[0] == 404


def _api_pid(port: int) -> int:
    status, body = http_get(port, "/api/v1/summaries", "127.0.0.1")
    assert status == 200
    return json.loads(body)["data"]["self"]["pid"]


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT")
def test_reuseport_shares_rtmp_http_and_api_ports(tmp_path):
    rtmp, http_port, api = free_port(), free_port(), free_port()
    conf = ("listen %d;\nreuseport on;\ndaemon off;\npid {pid};\nsrs_log_tank file;\nsrs_log_file {log};\n"
            "http_api {{ enabled on; listen %d; }}\nhttp_server {{ enabled on; listen %d; dir {html}; }}\n"
            "vhost __defaultVhost__ {{ }}\n" % (rtmp, api, http_port))
    servers = [SrsProcess(subdir(tmp_path, name), conf=conf) for name in ("a", "b")]
    try:
        for srs in servers:
            srs.rtmp_port, srs.api_port, srs.http_port = rtmp, api, http_port
            srs.start()  # waits for the three ports; the second process would fail to bind without reuseport
        assert all(srs.alive() for srs in servers), servers[1].output()[-3000:]
        for srs in servers:
            for what in ("RTMP listen at 0.0.0.0:%d" % rtmp, "HTTP API listen at 0.0.0.0:%d" % api,
                         "HTTP server listen at 0.0.0.0:%d" % http_port):
                assert wait_for(lambda: what in srs.log_text(), 10), srs.output()[-3000:]
        # the kernel spreads API connections (by a hash of the client's address) over both processes
        pids, deadline = set(), time.monotonic() + 20
        while len(pids) < 2 and time.monotonic() < deadline:
            pids.add(_api_pid(api))
        assert pids == {srs.proc.pid for srs in servers}, pids
    finally:
        for srs in servers:
            srs.stop()
