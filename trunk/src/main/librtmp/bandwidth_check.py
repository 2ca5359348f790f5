"""srs_bandwidth_check: the client side of SRS's RTMP bandwidth test (research/librtmp/srs_bandwidth_check.c).

    srs_bandwidth_check "rtmp://127.0.0.1:1935/app?key=35c9b402c12a7246868752e2878f7e0e,vhost=bandcheck.srs.com"

The URL is a tcUrl (no stream): the server's bandcheck vhost checks ``key=`` in it. Progress and
the figures go to stdout as SRS prints them; one JSON object goes to stderr::

    {"code":0,"srs_server":"SRS/...", ..., "duration":6700, "play_duration":3000,
     "publish_duration":3000,"play_kbps":4000, "publish_kbps":3990}

``code`` is the SRS error code (0 when the test ran); the exit status is 0 or 1.
"""
from __future__ import annotations

import json
import sys
import time

import gevent
from gevent import socket

from srs.app.rtmp.client import RtmpClient
from srs.kernel.errors import ERROR_RTMP_BWTC_DATA, ERROR_SOCKET_TIMEOUT, RtmpError, SrsError
from srs.main.librtmp import banner, patch, run, trace
from srs.protocol import rtmp_bandwidth as bw
from srs.protocol.request import Request
from srs.protocol.rtmp_bandwidth import BandwidthClientSession

USAGE = """RTMP bandwidth check/test with server.
Usage: srs_bandwidth_check <rtmp_url>
   rtmp_url     RTMP bandwidth url to check. format: rtmp://server:port/app?key=xxx,vhost=xxx
For example:
   srs_bandwidth_check rtmp://127.0.0.1:1935/app?key=35c9b402c12a7246868752e2878f7e0e,vhost=bandcheck.srs.com
   srs_bandwidth_check rtmp://127.0.0.1:1935/app?key=35c9b402c12a7246868752e2878f7e0e,vhost=bandcheck.srs.com>/dev/null
@remark, output text to stdout, while json to stderr.
"""

WAIT_S = 10.0          # any one server packet (the server's own samples are 3 s)
LIMIT_SLEEP_S = 0.1    # SRS's client sleeps 100 ms while over the server's limit


class BandwidthChecker:
    """Runs the test on an RtmpClient whose session is a BandwidthClientSession."""

    def __init__(self, client):
        self.client = client
        self.session = client.session

    def expect(self, name: str) -> dict:
        c = self.client
        deadline = time.monotonic() + WAIT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SrsError(f"bandwidth check: no {name} in {WAIT_S:.0f}s", ERROR_SOCKET_TIMEOUT)
            try:
                evs = c.recv_events(left)
            except socket.timeout as e:
                raise SrsError(f"bandwidth check: timeout waiting for {name}", ERROR_SOCKET_TIMEOUT) from e
            for i, ev in enumerate(evs):
                c._check(ev)
                if isinstance(ev, bw.BandwidthCall) and ev.name == name:
                    c.events[:0] = evs[i + 1:]
                    return ev.data

    def send(self, name: str, data=None) -> None:
        self.session.send_bandwidth(name, data)
        self.client.flush()

    def run(self) -> dict:
        """The whole test; returns the server's onSrsBandCheckFinished data."""
        self.expect(bw.START_PLAY)
        self.send(bw.STARTING_PLAY)
        self.expect(bw.STOP_PLAY)      # the play data came in between: the server measures it
        self.send(bw.STOPPED_PLAY)
        start = self.expect(bw.START_PUBLISH)
        duration_ms = bw.number(start, "duration_ms")
        limit_kbps = bw.number(start, "limit_kbps")
        if duration_ms <= 0 or limit_kbps <= 0:
            raise RtmpError(f"server must specify duration_ms and limit_kbps: {start!r}", ERROR_RTMP_BWTC_DATA)
        self.send(bw.STARTING_PUBLISH)
        self.publish(duration_ms, limit_kbps)
        self.send(bw.STOP_PUBLISH)
        self.expect(bw.STOP_PUBLISH)
        self.send(bw.STOPPED_PUBLISH)
        report = self.expect(bw.FINISHED)
        self.send(bw.FINAL)
        return report

    def publish(self, duration_ms: float, limit_kbps: float) -> None:
        """Send Publishing packets (1, 3, 5... fillers) for ``duration_ms``, at most ``limit_kbps``."""
        c = self.client
        sent0 = c.sent_bytes
        t0 = time.monotonic()
        count = 1
        while (time.monotonic() - t0) * 1000 < duration_ms:
            self.send(bw.PUBLISHING, bw.filler(count, bw.PUBLISH_FILLER))
            count += 2
            while True:
                elapsed_ms = (time.monotonic() - t0) * 1000
                if elapsed_ms <= 0 or (c.sent_bytes - sent0) * 8 / elapsed_ms <= limit_kbps:
                    break
                gevent.sleep(LIMIT_SLEEP_S)


def check(url: str, out=None) -> dict:
    """Run the test against ``url``; returns the figures (the stderr JSON fields, code 0).
    Raises SrsError (refused, closed, timeout) like the tool reports with a non-zero code."""
    req = Request(url)
    client = RtmpClient(req.host, req.port, timeout_s=WAIT_S)
    client.session = BandwidthClientSession(out_chunk_size=client.session.out_chunk_size)
    figures = {"code": 0, "srs_server": "", "srs_primary": "", "srs_authors": "", "srs_server_ip": "",
               "srs_version": "", "srs_pid": 0, "srs_id": 0}
    try:
        client.open()
        trace("simple handshake success", out)
        info = client.connect(url, req.app)
        trace("connect vhost/app success", out)
        data = info.get("data") if isinstance(info, dict) else None
        if isinstance(data, dict):
            for k in ("srs_server", "srs_primary", "srs_authors", "srs_server_ip", "srs_version"):
                figures[k] = str(data.get(k, ""))
            for k in ("srs_pid", "srs_id"):
                v = data.get(k)
                figures[k] = int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0
        t0 = time.time()
        report = BandwidthChecker(client).run()
        t1 = time.time()
    finally:
        client.close()

    def num(key: str) -> int:
        v = report.get(key)
        return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0

    figures.update({"duration": int((t1 - t0) * 1000), "play_duration": num("play_time"),
                    "publish_duration": num("publish_time"), "play_kbps": num("play_kbps"),
                    "publish_kbps": num("publish_kbps"), "play_bytes": num("play_bytes"),
                    "publish_bytes": num("publish_bytes")})
    return figures


def main(argv) -> int:
    patch()

    banner("RTMP bandwidth check/test with server.")
    if not argv:
        print(USAGE)
        return 255
    url = argv[0]
    trace(f"bandwidth check/test url: {url}")
    try:
        f = check(url)
        trace("bandwidth check/test success")
        trace(f"\n{f['srs_server']}, {f['srs_primary']}, {f['srs_authors']}\n"
              f"{f['srs_server_ip']}, {f['srs_version']}, srs_pid={f['srs_pid']}, srs_id={f['srs_id']}\n"
              f"duration: {f['duration']}ms({f['play_duration']}+{f['publish_duration']})\n"
              f"play: {f['play_kbps']}kbps\n"
              f"publish: {f['publish_kbps']}kbps")
    except (SrsError, OSError) as e:
        trace(f"bandwidth check/test failed: {e}")
        code = e.code if isinstance(e, SrsError) else 1
        f = {"code": code, "srs_server": "", "srs_primary": "", "srs_authors": "", "srs_server_ip": "",
             "srs_version": "", "srs_pid": 0, "srs_id": 0, "duration": 0, "play_duration": 0,
             "publish_duration": 0, "play_kbps": 0, "publish_kbps": 0}
    keys = ("code", "srs_server", "srs_primary", "srs_authors", "srs_server_ip", "srs_version", "srs_pid",
            "srs_id", "duration", "play_duration", "publish_duration", "play_kbps", "publish_kbps")
    sys.stderr.write(json.dumps({k: f[k] for k in keys}, separators=(",", ":")) + "\n")
    sys.stderr.flush()
    trace(" ")
    trace("completed")
    return 0 if f["code"] == 0 else 1


if __name__ == "__main__":
    run(main)
