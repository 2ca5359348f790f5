"""What every stream caster shares: raw frames -> FLV-style Messages, and the RTMP publish of
those messages back into this server (as SRS's casters do: rtmp://127.0.0.1:[port]/[app]/[stream]),
so hooks, HLS, DVR, forward and players all see an ordinary RTMP publisher.

``FrameMuxer`` is pure: H.264 access units (NALU lists) and AAC frames (raw + AudioSpecificConfig,
or ADTS) in, ``Message`` lists out. It builds the AVC sequence header from SPS/PPS (again when they
change), the AAC one from the config, and holds video back until a keyframe follows the header.
The audio/video ordering is srs.kernel.interleaver's (TS and RTP bundle audio ahead of video).
``RtmpOutput`` owns the RtmpClient: it connects on the first message, re-sends the cached sequence
headers after a reconnect, and retries at most once per RECONNECT_S after a failure.
"""
from __future__ import annotations

import logging
import time
from typing import List, Optional

import gevent
from gevent.lock import BoundedSemaphore

from srs.app.server.listener import HTTP_REFUSAL, Listener, make_listener
from srs.app.rtmp.client import open_client
from srs.kernel.codec import (AAC_RAW, AAC_SEQUENCE_HEADER, AVC_NALU, AVC_SEQUENCE_HEADER, NALU_AUD,
                              NALU_IDR, NALU_PPS, NALU_SPS, AacConfig, AvcConfig, aac_payload,
                              adts_split, annexb_to_avcc, avc_payload)
from srs.kernel.errors import ERROR_STREAM_CASTER_PORT, CodecError, SrsError
from srs.kernel.interleaver import Interleaver
from srs.kernel.log import cid_var
from srs.kernel.message import MSG_AMF0_DATA, MSG_AUDIO, MSG_VIDEO, Message

log = logging.getLogger(__name__)

RECONNECT_S = 1.0   # a failed publish is retried on the next message after this long
TIMEOUT_S = 5.0     # RTMP connect/publish timeout towards our own listener


def expand_output(template: str, app: str = "", stream: str = "", port: int = 0) -> str:
    """The output url: [app], [stream] (rtsp/flv) and [port] (our RTMP port) replaced."""
    url = template
    if app:
        url = url.replace("[app]", app)
    url = url.replace("[stream]", stream)
    if port:
        url = url.replace("[port]", str(port))
    return url


class FrameMuxer:
    """Frames -> Messages with sequence headers; timestamps are given in ms."""

    def __init__(self):
        self.sps = b""
        self.pps = b""
        self.avc_header: Optional[bytes] = None   # the last avcC sent
        self.asc: Optional[bytes] = None          # the last AudioSpecificConfig sent
        self.stereo = True
        self.waiting_key = True                   # no video until a keyframe after the header
        self.dropped_video = 0

    # --- video
    def on_h264(self, nalus, dts_ms: int, pts_ms: Optional[int] = None) -> List[Message]:
        out: List[Message] = []
        frame = []
        key = False
        for n in nalus:
            if not n:
                continue
            t = n[0] & 0x1F
            if t == NALU_SPS:
                self.sps = bytes(n)
            elif t == NALU_PPS:
                self.pps = bytes(n)
            elif t == NALU_AUD:
                continue  # FLV frames carry no access unit delimiters
            else:
                key = key or t == NALU_IDR
                frame.append(n)
        if self.sps and self.pps:
            try:
                header = AvcConfig.from_parameter_sets(self.sps, self.pps).build()
            except CodecError as e:
                log.warning("caster: bad SPS/PPS ignored: %s", e)
                header = None
            if header is not None and header != self.avc_header:
                self.avc_header = header
                self.waiting_key = True
                out.append(Message.make(MSG_VIDEO, dts_ms, avc_payload(True, AVC_SEQUENCE_HEADER, 0, header)))
        if not frame:
            return out
        if self.avc_header is None or (self.waiting_key and not key):
            self.dropped_video += 1
            return out
        self.waiting_key = False
        cts = 0 if pts_ms is None else pts_ms - dts_ms
        out.append(Message.make(MSG_VIDEO, dts_ms, avc_payload(key, AVC_NALU, cts, annexb_to_avcc(frame))))
        return out

    # --- audio
    def on_aac(self, frame, ts_ms: int, asc: bytes) -> List[Message]:
        out: List[Message] = []
        if asc != self.asc:
            self.asc = bytes(asc)
            try:
                self.stereo = AacConfig.parse(asc).channels != 1
            except CodecError:
                self.stereo = True
            out.append(Message.make(MSG_AUDIO, ts_ms, aac_payload(AAC_SEQUENCE_HEADER, asc, self.stereo)))
        if frame:
            out.append(Message.make(MSG_AUDIO, ts_ms, aac_payload(AAC_RAW, frame, self.stereo)))
        return out

    def on_adts(self, data, pts_ms: int) -> List[Message]:
        """One PES of ADTS frames: frame i is at pts + i * 1024 samples."""
        out: List[Message] = []
        for i, (h, raw) in enumerate(adts_split(data)):
            cfg = h.config
            ts = pts_ms + (i * 1024 * 1000) // cfg.sample_rate
            out += self.on_aac(raw, ts, cfg.build())
        return out


class RtmpOutput:
    """A publisher towards ``url``; ``send`` blocks only the calling greenlet. With ``interleave``
    the messages go through an ``Interleaver`` first (inputs with separately bundled tracks)."""

    def __init__(self, url: str, tag: str = "caster", interleave: bool = True):
        self.url = url
        self.interleaver = Interleaver() if interleave else None
        self.tag = tag
        self.client = None
        self.stream = ""
        self.reader = None
        self.headers = {}            # kind -> the last sequence header sent (re-sent on reconnect)
        self.metadata: Optional[Message] = None
        self.failed_at = 0.0
        self.sent_msgs = 0
        self.connects = 0
        self.closed = False
        self._lock = BoundedSemaphore()   # RTSP feeds audio and video from two greenlets

    @property
    def connected(self) -> bool:
        return self.client is not None

    def send(self, msgs) -> bool:
        """Publish; False when the messages were dropped (no connection, retry later)."""
        if not msgs or self.closed:
            return False
        with self._lock:
            if self.interleaver is None:
                return self._send(list(msgs))
            ready = self.interleaver.push(msgs)
            return self._send(ready) if ready else True

    def expect(self, kinds) -> None:
        """The tracks the input announced: the interleaver waits only for those."""
        if self.interleaver is not None:
            self.interleaver.expect(kinds)

    def flush(self) -> bool:
        """The input paused: publish what the interleaver holds now rather than at its window."""
        if self.interleaver is None or self.closed:
            return False
        with self._lock:
            rest = self.interleaver.flush()
            return self._send(rest) if rest else True

    def _send(self, msgs: list) -> bool:
        for m in msgs:
            if m.seq_header:
                self.headers[m.kind] = m
            elif m.kind == MSG_AMF0_DATA:
                self.metadata = m
        if self.client is None:
            if time.monotonic() - self.failed_at < RECONNECT_S:
                return False
            if not self._connect():
                return False
            # the new session starts with metadata and the latest headers, at the batch's time
            ts = msgs[0].ts_ms
            replay = ([self.metadata] if self.metadata is not None else []) + list(self.headers.values())
            msgs = [m.with_ts(ts) for m in replay] + [
                m for m in msgs if not m.seq_header and m is not self.metadata]
        try:
            self.client.send_messages(msgs)
        except (SrsError, OSError) as e:
            log.warning("%s: publish to %s failed: %s", self.tag, self.url, e)
            self._drop()
            return False
        self.sent_msgs += len(msgs)
        return True

    def open(self) -> bool:
        """Connect and publish now (the FLV caster refuses a POST it cannot publish)."""
        with self._lock:
            return self.client is not None or self._connect()

    def _connect(self) -> bool:
        try:
            client, stream = open_client(self.url, TIMEOUT_S)
        except (SrsError, OSError) as e:
            log.warning("%s: connect %s failed: %s", self.tag, self.url, e)
            self.failed_at = time.monotonic()
            return False
        try:
            client.publish(stream)
        except (SrsError, OSError) as e:
            log.warning("%s: publish %s refused: %s", self.tag, self.url, e)
            client.close()
            self.failed_at = time.monotonic()
            return False
        self.client, self.stream = client, stream
        self.connects += 1
        self.reader = gevent.spawn(self._read, client, cid_var.get(0))
        log.info("%s: publishing to %s", self.tag, self.url)
        return True

    def _read(self, client, cid: int) -> None:
        """Answer acks/pings; a server that closes the session drops the connection."""
        cid_var.set(cid)
        try:
            while True:
                for _ in client.read_messages(None):
                    pass
        except (SrsError, OSError) as e:
            if self.client is client:
                log.warning("%s: %s closed: %s", self.tag, self.url, e)
                self.client = None
                self.failed_at = time.monotonic()
                client.close()

    def _drop(self) -> None:
        client, self.client = self.client, None
        self.failed_at = time.monotonic()
        reader, self.reader = self.reader, None
        if client is not None:
            client.close()
        if reader is not None and reader is not gevent.getcurrent():
            reader.kill(block=False)

    def close(self) -> None:
        """Unpublish (closing the connection unpublishes the stream on the server)."""
        if self.closed:
            return
        if self.interleaver is not None:
            with self._lock:   # what the interleaver still holds is the end of the stream
                rest = self.interleaver.flush()
                if rest and self.client is not None:
                    self._send(rest)
        self.closed = True
        if self.client is not None:
            log.info("%s: stop publishing %s, %d messages", self.tag, self.url, self.sent_msgs)
        self._drop()


class TcpCaster:
    """The TCP listener life cycle shared by the RTSP and FLV casters: one greenlet and cid per
    connection, the connections tracked so ``stop`` can kick them. Subclasses name ``conn_class``
    and may override ``kick`` and ``describe``."""

    name = "caster"
    scheme = "tcp"
    conn_class: type = object

    def __init__(self, server, conf):
        self.server = server
        self.conf = conf
        self.listener = None  # a srs.app.server.listener.Listener, sharing the server's max_connections
        self.conns: set = set()
        self.port = 0

    def describe(self) -> str:
        return f"output {self.conf.output}"

    def start(self) -> None:
        host, port = self.conf.listen
        try:
            sock = make_listener(host or "0.0.0.0", port)
        except OSError as e:
            raise SrsError(f"{self.name} caster: listen tcp {host}:{port} failed: {e}",
                           ERROR_STREAM_CASTER_PORT) from e
        # past max_connections an HTTP (FLV POST) client reads a 503; an RTSP one is just closed
        refusal = HTTP_REFUSAL if self.scheme == "http" else b""
        self.listener = Listener(f"{self.name} caster", sock, self._accept, self.server.gate, refusal)
        self.listener.start()
        self.port = self.listener.server_port
        log.info("%s caster: listen at %s://%s:%d, %s", self.name, self.scheme, host or "0.0.0.0", self.port,
                 self.describe())

    def _accept(self, sock, addr) -> None:
        cid = self.server.next_cid()
        cid_var.set(cid)
        conn = self.conn_class(self, sock, addr, cid)
        self.conns.add(conn)
        try:
            conn.run()
        finally:
            self.conns.discard(conn)
            sock.close()

    def kick(self, conn) -> None:
        conn.close()

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.close()
        for conn in list(self.conns):
            self.kick(conn)
        if self.listener is not None:
            self.listener.stop(timeout=1.0)
            self.listener = None
        gevent.sleep(0)
