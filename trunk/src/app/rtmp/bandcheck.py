"""The server side of SRS's RTMP bandwidth test (srs_app_bandwidth.cpp).

A vhost with ``bandcheck { enabled on; key K; interval S; limit_kbps N; }`` serves no streams:
right after connect (Window Ack Size and Set Peer Bandwidth are sent by accept_connect, as SRS
branches there) the connection runs the test and closes:

- the tcUrl must contain ``key=K``, else the connection is closed without an answer (SRS's
  ERROR_SYSTEM_BANDWIDTH_KEY);
- one test per ``interval`` seconds for the whole server (SRS's static last_check_time): a client
  inside the window gets NetConnection.Connect.Rejected "bandcheck rejected";
- play: 3 s of onSrsBandCheckPlaying packets (1, 3, 5... filler strings), at most ``limit_kbps``;
  publish: 3 s of the client's onSrsBandCheckPublishing packets, read at most at ``limit_kbps``;
  then onSrsBandCheckFinished with the figures, and SRS's 600 ms for Flash to read them.

The packet order is in srs.protocol.rtmp_bandwidth. kbps = bytes * 8 / ms of the phase; SRS
counts the connection's total bytes (handshake and connect included), we count the phase's own.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Optional

import gevent

from srs.kernel.errors import (ERROR_RTMP_BWTC_DATA, ERROR_SYSTEM_BANDWIDTH_DENIED, ERROR_SYSTEM_BANDWIDTH_KEY,
                               AccessDenied, RtmpError)
from srs.kernel.log import trace
from srs.kernel.message import MSG_AMF0_COMMAND
from srs.protocol import rtmp_bandwidth as bw
from srs.protocol import rtmp_stack as stack
from srs.protocol.rtmp_chunk import CSID_OVER_STREAM

log = logging.getLogger(__name__)

SAMPLE_DURATION_MS = 3000   # SRS's _SRS_BANDWIDTH_SAMPLE_DURATION_MS
LIMIT_INTERVAL_S = 0.1      # SRS's _SRS_BANDWIDTH_LIMIT_INTERVAL_MS: sleep while over the limit
FINAL_WAIT_S = 0.6          # SRS's _SRS_BANDWIDTH_FINAL_WAIT_MS: let Flash read the report


class BandcheckGate:
    """One test per interval for the whole server (SRS keeps the last check time in a static)."""

    __slots__ = ("last_check_ms",)

    def __init__(self):
        self.last_check_ms = 0

    def admit(self, now_ms: int, interval_ms: float) -> bool:
        if self.last_check_ms > 0 and now_ms - self.last_check_ms < interval_ms:
            return False
        self.last_check_ms = now_ms
        return True


class Sample:
    """One direction of the test (SrsBandwidthSample)."""

    __slots__ = ("duration_ms", "interval_ms", "actual_duration_ms", "bytes", "kbps")

    def __init__(self, duration_ms: int = SAMPLE_DURATION_MS):
        self.duration_ms = duration_ms
        self.interval_ms = 0
        self.actual_duration_ms = 0
        self.bytes = 0
        self.kbps = 0

    def calc(self, nbytes: int, elapsed_ms: int) -> None:
        self.bytes = nbytes
        self.actual_duration_ms = elapsed_ms
        if elapsed_ms > 0:
            self.kbps = nbytes * 8 // elapsed_ms


def _ms_since(t0: float) -> int:
    return int((time.monotonic() - t0) * 1000)


def _over_limit(nbytes: int, t0: float, limit_kbps: int) -> bool:
    elapsed = _ms_since(t0)
    return limit_kbps > 0 and elapsed > 0 and nbytes * 8 / elapsed > limit_kbps


def serve(conn, vc) -> None:
    """Run the test on a just-connected RtmpConn (its connect not answered yet). Returns when the
    test is over (the caller closes); raises AccessDenied when the key or the interval refuses."""
    cfg = vc.bandcheck
    req = conn.req
    key = "key=" + cfg.key
    if key not in req.tc_url:
        raise AccessDenied(f"bandcheck vhost={req.vhost}: {key} not in tcUrl={req.tc_url}",
                           ERROR_SYSTEM_BANDWIDTH_KEY)
    now = conn.clock()
    gate = conn.bandcheck_gate
    if not gate.admit(now, cfg.interval * 1000.0):
        trace(log, "bandcheck reject, last_check=%d, now=%d, interval=%.1fs", gate.last_check_ms, now, cfg.interval)
        conn.session.reject_connect("bandcheck rejected")
        conn.flush()
        raise AccessDenied("bandcheck rejected: one test per interval", ERROR_SYSTEM_BANDWIDTH_DENIED)
    conn.session.accept_connect(server_ip=conn.local_ip(), pid=os.getpid(), cid=conn.cid,
                                object_encoding=req.object_encoding)
    conn.flush()
    BandwidthTest(conn, int(cfg.limit_kbps)).run()


class BandwidthTest:
    def __init__(self, conn, limit_kbps: int):
        self.conn = conn
        self.session = conn.session
        self.limit_kbps = limit_kbps
        # Flash never sends StoppedPublishBytes/finalClientPacket (its queue is full of publish data).
        self.is_flash = bool(conn.req.swf_url)

    # ------------------------------------------------------------------ plumbing
    def send(self, name: str, data: Optional[dict] = None) -> None:
        s = self.session
        s.queue_bytes(s.encoder.encode(MSG_AMF0_COMMAND, 0, 0, bw.encode_packet(name, data), CSID_OVER_STREAM))
        self.conn.flush()

    def expect(self, name: str, timeout_s: float) -> dict:
        """Read until the client's packet ``name``; everything else is skipped (as SRS)."""
        while True:
            ev = self.conn.next_event(timeout_s)
            if isinstance(ev, stack.UnknownCall) and ev.command.name == name:
                return bw.packet_data(ev.command)

    # ------------------------------------------------------------------ the test
    def run(self) -> None:
        play, publish = Sample(), Sample()
        timeout_s = play.duration_ms * 2 / 1000.0
        start_ms = self.conn.clock()
        self.play(play, timeout_s)
        self.publish(publish, timeout_s)
        end_ms = self.conn.clock()
        trace(log, "bandwidth ok. duartion=%dms(%d+%d), play=%dkbps, publish=%dkbps", end_ms - start_ms,
              play.actual_duration_ms, publish.actual_duration_ms, play.kbps, publish.kbps)
        self.send(bw.FINISHED, {"start_time": start_ms, "end_time": end_ms, "play_kbps": play.kbps,
                                "publish_kbps": publish.kbps, "play_bytes": play.bytes,
                                "publish_bytes": publish.bytes, "play_time": play.actual_duration_ms,
                                "publish_time": publish.actual_duration_ms})
        if not self.is_flash:
            try:
                self.expect(bw.FINAL, timeout_s)
            except Exception as e:  # SRS ignores any error here: the report is out
                log.info("bandcheck: no final packet: %s", e)
        gevent.sleep(FINAL_WAIT_S)

    def play(self, sample: Sample, timeout_s: float) -> None:
        self.send(bw.START_PLAY, {"limit_kbps": self.limit_kbps, "duration_ms": sample.duration_ms,
                                  "interval_ms": sample.interval_ms})
        self.expect(bw.STARTING_PLAY, timeout_s)
        output = self.conn.output
        sent0 = output.sent_bytes
        t0 = time.monotonic()
        count = 1
        while _ms_since(t0) < sample.duration_ms:
            gevent.sleep(sample.interval_ms / 1000.0)
            self.send(bw.PLAYING, bw.filler(count, bw.PLAY_FILLER))
            count += 2
            while _over_limit(output.sent_bytes - sent0, t0, self.limit_kbps):
                gevent.sleep(LIMIT_INTERVAL_S)
        sample.calc(output.sent_bytes - sent0, _ms_since(t0))
        self.send(bw.STOP_PLAY, {"duration_ms": sample.duration_ms, "interval_ms": sample.interval_ms,
                                 "duration_delta": sample.actual_duration_ms, "bytes_delta": sample.bytes})
        self.expect(bw.STOPPED_PLAY, timeout_s)

    def publish(self, sample: Sample, timeout_s: float) -> None:
        self.send(bw.START_PUBLISH, {"limit_kbps": self.limit_kbps, "duration_ms": sample.duration_ms,
                                     "interval_ms": sample.interval_ms})
        self.expect(bw.STARTING_PUBLISH, timeout_s)
        conn = self.conn
        recv0 = conn.recv_bytes
        t0 = time.monotonic()
        while _ms_since(t0) < sample.duration_ms:
            ev = conn.next_event(timeout_s)
            if not isinstance(ev, stack.UnknownCall) or ev.command.name not in bw.NAMES:
                continue
            if ev.command.name == bw.STOP_PUBLISH:  # the client is done
                break
            if ev.command.name != bw.PUBLISHING:
                raise RtmpError(f"bandcheck: unexpected {ev.command.name} while publishing", ERROR_RTMP_BWTC_DATA)
            while _over_limit(conn.recv_bytes - recv0, t0, self.limit_kbps):
                gevent.sleep(LIMIT_INTERVAL_S)
        sample.calc(conn.recv_bytes - recv0, _ms_since(t0))
        self.send(bw.STOP_PUBLISH, {"duration_ms": sample.duration_ms, "interval_ms": sample.interval_ms,
                                    "duration_delta": sample.actual_duration_ms, "bytes_delta": sample.bytes})
        if not self.is_flash:
            self.expect(bw.STOPPED_PUBLISH, timeout_s)
