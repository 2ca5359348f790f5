"""What every stream caster shares: the RTMP publish of its messages back into this server (as
SRS's casters do: rtmp://127.0.0.1:[port]/[app]/[stream]), so hooks, HLS, DVR, forward and players
all see an ordinary RTMP publisher, and the TCP listener life cycle of the RTSP and FLV casters.

The raw frames -> messages muxers are srs.kernel.raw_muxer's (shared with srs-librtmp), the
audio/video ordering is srs.kernel.interleaver's (TS and RTP bundle audio ahead of video).
``RtmpOutput`` owns the RtmpClient: it connects on the first message, re-sends the cached sequence
headers after a reconnect, and retries at most once per RECONNECT_S after a failure.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Optional

import gevent
from gevent.lock import BoundedSemaphore

from srs.app.ports import CidSource, PortSource
from srs.app.rtmp.client import open_client
from srs.app.server.listener import HTTP_REFUSAL, ConnectionGate, Listener, make_listener
from srs.kernel.errors import ERROR_STREAM_CASTER_PORT, SrsError
from srs.kernel.interleaver import Interleaver
from srs.kernel.log import cid_var
from srs.kernel.message import MSG_AMF0_DATA, Message

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


@dataclass(frozen=True)
class CasterPorts:
    """What the Server hands a caster (app.ports): cids for its connections' log lines, the RTMP
    port it publishes back into (read at each publish), and the max_connections gate its TCP
    listener admits through."""

    next_cid: CidSource
    rtmp_port: PortSource
    gate: ConnectionGate


class TcpCaster:
    """The TCP listener life cycle shared by the RTSP and FLV casters: one greenlet and cid per
    connection, the connections tracked so ``stop`` can kick them. Subclasses name ``conn_class``
    and may override ``kick`` and ``describe``."""

    name = "caster"
    scheme = "tcp"
    conn_class: type = object

    def __init__(self, parts: CasterPorts, conf):
        self.parts = parts
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
        self.listener = Listener(f"{self.name} caster", sock, self._accept, self.parts.gate, refusal)
        self.listener.start()
        self.port = self.listener.server_port
        log.info("%s caster: listen at %s://%s:%d, %s", self.name, self.scheme, host or "0.0.0.0", self.port,
                 self.describe())

    def _accept(self, sock, addr) -> None:
        cid = self.parts.next_cid()
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
