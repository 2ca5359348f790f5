"""stream_caster mpegts_over_udp: MPEG-TS datagrams on a UDP port -> one RTMP stream.

As SRS's SrsMpegtsOverUdp: every datagram on the port (whoever sends it) feeds one TsDemuxer;
H.264 (stream type 0x1b) and AAC/ADTS (0x0f) PES become FLV messages published to the fixed
``output`` url. Timestamps are the PES dts/pts in 90 kHz / 90 (ms). Lost datagrams show up as
continuity gaps: the demuxer drops the damaged PES (logged) and the stream goes on.
A video PES usually has no length (it ends where the next one starts), so after FLUSH_S without
a datagram the PES still in assembly and the frames the interleaver holds are published: the
last frames of a push (or of a pause) reach players without waiting for more input.
After IDLE_S without a datagram the RTMP publish is closed (the stream unpublishes); the next
datagram publishes again.
"""
from __future__ import annotations

import logging
import time
from typing import Optional

import gevent
from gevent import socket

from srs.app.casters.output import CasterPorts, RtmpOutput, expand_output
from srs.kernel.errors import ERROR_STREAM_CASTER_PORT, CodecError, SrsError
from srs.kernel.log import cid_var
from srs.kernel.message import MSG_AUDIO, MSG_VIDEO
from srs.kernel.raw_muxer import AacRawMuxer, AvcRawMuxer
from srs.kernel.ts_demux import TsDemuxer

log = logging.getLogger(__name__)

STREAM_TYPE_H264 = 0x1B
STREAM_TYPE_AAC = 0x0F
IDLE_S = 5.0              # SRS 3.0's publish_normal_timeout: no data this long ends the publish
FLUSH_S = 1.0             # no data this long: the input paused, publish what is held back
KINDS = {STREAM_TYPE_H264: MSG_VIDEO, STREAM_TYPE_AAC: MSG_AUDIO}
RECV_BUFFER = 4 << 20     # ask for a large kernel buffer: a busy greenlet must not cost datagrams


class MpegtsCaster:
    def __init__(self, parts: CasterPorts, conf):
        self.parts = parts
        self.conf = conf
        self.sock = None
        self.greenlet = None
        self.cid = 0
        self.port = 0
        self.datagrams = 0
        self.demuxer = self.output = None
        self.video: Optional[AvcRawMuxer] = None
        self.audio: Optional[AacRawMuxer] = None
        self._unsupported = set()
        self._streams = {}        # the PMT's streams the output was told about
        self._held = False        # frames may be held back (flushed after FLUSH_S of silence)

    def start(self) -> None:
        host, port = self.conf.listen
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
            except OSError:
                pass
            sock.bind((host or "0.0.0.0", port))
        except OSError as e:
            sock.close()
            raise SrsError(f"mpegts caster: bind udp {host}:{port} failed: {e}", ERROR_STREAM_CASTER_PORT) from e
        self.sock = sock
        self.port = sock.getsockname()[1]
        self.cid = self.parts.next_cid()
        self.greenlet = gevent.spawn(self._run)
        log.info("mpegts caster: listen at udp://%s:%d, output %s", host or "0.0.0.0", self.port,
                 self.conf.output)

    def stop(self) -> None:
        if self.greenlet is not None:
            self.greenlet.kill(block=True, timeout=1.0)
            self.greenlet = None
        self._close_stream("caster stopped")
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _run(self) -> None:
        cid_var.set(self.cid)
        sock = self.sock
        sock.settimeout(FLUSH_S)
        last = time.monotonic()
        while True:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                if self._held:
                    self._flush()
                if self.output is not None and time.monotonic() - last >= IDLE_S:
                    self._close_stream(f"no data in {IDLE_S:.0f}s")
                continue
            except OSError as e:
                log.warning("mpegts caster: recv failed: %s", e)
                return
            self.datagrams += 1
            last = time.monotonic()
            try:
                self.on_datagram(data)
            except Exception:  # noqa: BLE001 - one bad datagram never ends the caster
                log.exception("mpegts caster: datagram dropped")

    def on_datagram(self, data: bytes) -> None:
        if self.output is None:
            url = expand_output(self.conf.output, port=self.parts.rtmp_port())
            self.demuxer, self.video, self.audio = TsDemuxer(), AvcRawMuxer(), AacRawMuxer()
            self.output = RtmpOutput(url, "mpegts caster")
            log.info("mpegts caster: stream starts, output %s", url)
        errors = self.demuxer.errors
        frames = self.demuxer.receive_data(data)
        self._held = True
        if self.demuxer.errors != errors:
            log.warning("mpegts caster: %d TS errors so far (loss or garbage), go on",
                        self.demuxer.errors)
        if self.demuxer.streams != self._streams:
            self._streams = dict(self.demuxer.streams)
            self.output.expect(KINDS[t] for t in self._streams.values() if t in KINDS)
        self._publish(frames)

    def _flush(self) -> None:
        """The input paused: the PES in assembly are complete as far as anyone can tell."""
        self._held = False
        if self.output is None:
            return
        self._publish(self.demuxer.flush())
        self.output.flush()

    def _publish(self, frames) -> None:
        msgs = []
        for f in frames:
            try:
                msgs += self._frame(f)
            except CodecError as e:
                log.warning("mpegts caster: drop a frame of pid %#x: %s", f.pid, e)
        if msgs:
            self.output.send(msgs)

    def _frame(self, f) -> list:
        if f.pts is None:
            return []
        pts_ms, dts_ms = f.pts // 90, f.dts // 90
        if f.stream_type == STREAM_TYPE_H264:
            return self.video.on_annexb(f.payload, dts_ms, pts_ms)
        if f.stream_type == STREAM_TYPE_AAC:
            return self.audio.on_adts(f.payload, pts_ms)
        if f.stream_type not in self._unsupported:
            self._unsupported.add(f.stream_type)
            log.warning("mpegts caster: ignore stream type %#x (only H.264 and AAC)", f.stream_type)
        return []

    def _close_stream(self, why: str) -> None:
        if self.output is not None:
            self._flush()
            log.info("mpegts caster: stream ends (%s)", why)
            self.output.close()
            self.output = None
            self._streams = {}
