"""One SRT client (SRS's SrsMpegtsSrtConn): who it is, what it may do, and its life as a publisher
or a player of a live source.

``decide`` runs in the client's own greenlet (with its own cid) before the handshake is answered:
the stream id is parsed and its names validated like every client's, the vhost must enable
``srt``, then security rules and the on_connect + on_publish/on_play hooks may refuse it. A refusal
is an SRT rejection the caller sees at connect time (1400 bad request, 1403 forbidden, 1404 no
such vhost, 1409 stream busy): libsrt reports the reason, ffmpeg fails at once instead of
publishing into a void. The accepted session is then driven by the server's loop (server.py):
payloads in for a publisher, the source's tick out for a player; ``close`` ends either.
"""
from __future__ import annotations

import logging
import time
from typing import Optional

from srs.app.http.remux import attach_remux_player
from srs.app.live.source import Consumer
from srs.app.srt.play import SrtPlayOutput
from srs.app.srt.publish import TsPublisher
from srs.kernel.errors import AccessDenied, RequestError, SrsError, StreamBusy
from srs.protocol import names, security
from srs.protocol.request import Request
from srs.protocol.srt.errors import SrtError
from srs.protocol.srt.handshake import REJX_BAD_REQUEST, REJX_CONFLICT, REJX_FORBIDDEN, REJX_NOTFOUND
from srs.protocol.srt.streamid import MODE_PUBLISH, StreamId, parse_streamid

log = logging.getLogger(__name__)

PUBLISH = "srt-publish"
PLAY = "srt-play"


class Refused(Exception):
    """The client may not connect: ``reason`` is the SRT rejection sent back."""

    def __init__(self, message: str, reason: int):
        super().__init__(message)
        self.reason = reason


def make_request(sid: StreamId, ip: str, host: str) -> Request:
    """The client's Request as an RTMP client's would be: tcUrl srt://host/app, the stream id's
    other keys as the query (``vhost=`` first when it named a host)."""
    req = Request(f"srt://{sid.vhost or host}/{sid.app}", ip=ip)
    req.set_stream(sid.stream + ("?" + sid.params if sid.params else ""))
    return req


class SrtSession:
    def __init__(self, ports, handshake, cid: int, default_app: str, host: str, srt_only=None,
                 sei_filter: bool = True):
        self.ports = ports
        # vhost srt { srt_to_rtmp off; }: the stream lives in the SRT server's own registry, out of
        # reach of RTMP/HTTP/HLS (SRS 5 then has an SRT source and no RTMP bridge); SRT players
        # of that vhost play it from there
        self.srt_only = srt_only if srt_only is not None else ports.sources
        self.sources = ports.sources
        self.sei_filter = sei_filter
        self.handshake = handshake        # the endpoint's ConnectRequest
        self.cid = cid
        self.ip, self.port = handshake.peer[0], handshake.peer[1]
        self.default_app = default_app
        self.host = host
        self.req: Optional[Request] = None
        self.conn_type = ""
        self.conn = None                  # the SrtConnection once accepted
        self.source = None
        self.publisher: Optional[TsPublisher] = None
        self.consumer: Optional[Consumer] = None
        self.output: Optional[SrtPlayOutput] = None
        self.connected = False            # on_connect passed: on_close is due at the end
        self.closed = False
        self.started = time.monotonic()
        self.reported = (0, 0)            # (recv, send) bytes already added to the statistic

    # ------------------------------------------------------------------ admission
    def hooks_cfg(self, vc):
        hooks = vc.http_hooks if vc is not None else None
        return hooks if hooks is not None and hooks.enabled else None

    def decide(self) -> None:
        """Raise Refused, or return with the session ready to ``start``."""
        ports = self.ports
        try:
            sid = parse_streamid(self.handshake.streamid, self.default_app)
            req = make_request(sid, self.ip, self.host)
            names.check_request(req)
        except (SrtError, RequestError) as e:
            raise Refused(f"SRT stream id {names.shown(self.handshake.streamid)} refused: {e}",
                          REJX_BAD_REQUEST) from e
        self.conn_type = PUBLISH if sid.mode == MODE_PUBLISH else PLAY
        vc = ports.config().vhost(req.vhost)
        if vc is None or not vc.enabled:
            raise Refused(f"vhost {req.vhost} not found or disabled", REJX_NOTFOUND)
        req.update_vhost(vc.name)
        self.req = req
        if not vc.srt.enabled:
            raise Refused(f"srt disabled in vhost {vc.name}", REJX_FORBIDDEN)
        if not vc.srt.srt_to_rtmp:
            self.sources = self.srt_only
        method = "publish" if self.conn_type == PUBLISH else "play"
        hooks = self.hooks_cfg(vc)
        try:
            if vc.security is not None and vc.security.enabled:
                security.check_security(vc.security.rules, method, self.ip)
            if hooks is not None and hooks.on_connect:
                ports.hooks.on_connect(hooks.on_connect, req, self.cid, self.ip)
            self.connected = True
            if self.conn_type == PUBLISH:
                if not self.sources.fetch_or_create(req.stream_url, req.vhost).can_publish:
                    raise StreamBusy(f"stream {req.stream_url} is busy")
                if hooks is not None and hooks.on_publish:
                    ports.hooks.on_publish(hooks.on_publish, req, self.cid, self.ip)
            elif hooks is not None and hooks.on_play:
                ports.hooks.on_play(hooks.on_play, req, self.cid, self.ip)
        except AccessDenied as e:
            raise Refused(f"{method} denied: {e}", REJX_FORBIDDEN) from e
        except StreamBusy as e:
            raise Refused(str(e), REJX_CONFLICT) from e
        except SrsError as e:
            raise Refused(f"{method} refused: {e}", REJX_FORBIDDEN) from e

    def check_publish(self) -> None:
        """Again at accept time, with no greenlet switch until ``start``: a hook may have let
        another publisher in meanwhile."""
        if self.conn_type == PUBLISH:
            src = self.sources.fetch_or_create(self.req.stream_url, self.req.vhost)
            if not src.can_publish:
                raise Refused(f"stream {self.req.stream_url} is busy", REJX_CONFLICT)

    def start(self, conn, send_datagrams, clock_us, payload_size: int, kick) -> None:
        """Accepted: publish into the source, or attach to its shared TS remux."""
        ports, req = self.ports, self.req
        self.conn = conn
        ports.stats.on_client(self.cid, req, self.conn_type, self.ip, kick, ports.clock())
        ports.stats.set_client_extra(self.cid, self.figures)
        src = self.source = self.sources.fetch_or_create(req.stream_url, req.vhost)
        if self.conn_type == PUBLISH:
            src.on_publish(self.cid)
            ports.stats.on_stream_publish(req, self.cid)
            self.publisher = TsPublisher(src, ports.stats, req, self.sei_filter)
            log.info("SRT publish %s, peer %s:%d, latency %dms, %s", req.stream_url, self.ip, self.port,
                     conn.request.recv_latency_ms, "encrypted" if conn.cipher else "plain")
        else:
            self.output = SrtPlayOutput(conn, send_datagrams, clock_us, payload_size, self.cid, kick)
            self.consumer = Consumer(self.cid, self.output)
            attach_remux_player(src, self.consumer, "ts", False, 0.0)
            log.info("SRT play %s, peer %s:%d, latency %dms, %s", req.stream_url, self.ip, self.port,
                     conn.request.send_latency_ms, "encrypted" if conn.cipher else "plain")

    # ------------------------------------------------------------------ running
    def on_payloads(self, payloads) -> None:
        if self.publisher is not None and payloads:
            self.publisher.on_payloads(payloads)

    def report_bytes(self) -> None:
        """What the connection moved since the last report, into the API's client entry."""
        conn = self.conn
        if conn is None:
            return
        recv, send = conn.receiver.received_bytes, conn.sender.sent_bytes
        old_recv, old_send = self.reported
        if recv != old_recv or send != old_send:
            self.ports.stats.add_bytes(self.cid, recv - old_recv, send - old_send)
            self.reported = (recv, send)

    def figures(self) -> dict:
        """The SRT figures of the API's client entry (SRS 5 has none; names after libsrt's)."""
        conn = self.conn
        if conn is None:
            return {}
        s = conn.stats()
        return {"srt": {"rtt_ms": round(s["rtt_us"] / 1000.0, 3), "latency_ms": conn.request.recv_latency_ms
                        if self.conn_type == PUBLISH else conn.request.send_latency_ms,
                        "encrypted": conn.cipher is not None,
                        "recv_pkts": s["recv_pkts"], "recv_payload_bytes": s["recv_bytes"],
                        "recv_retransmitted": s["recv_retransmitted"],
                        "recv_lost": s["recv_lost"], "recv_dropped": s["recv_dropped"],
                        "send_pkts": s["send_pkts"], "send_retransmitted": s["send_retransmitted"],
                        "send_dropped": s["send_dropped"]}}

    def close(self, reason: str) -> None:
        """The connection ended (peer shutdown, idle timeout, kick, server stop): unpublish or
        detach, fire the hooks, forget the client. Runs once."""
        if self.closed:
            return
        self.closed = True
        ports, req = self.ports, self.req
        vc = ports.config().vhost(req.vhost) if req is not None else None
        hooks = self.hooks_cfg(vc)
        src = self.source
        if self.publisher is not None:
            try:
                self.publisher.close()
            finally:
                src.on_unpublish()
                ports.stats.on_stream_unpublish(req)
                if hooks is not None and hooks.on_unpublish:
                    ports.hooks.on_unpublish(hooks.on_unpublish, req, self.cid, self.ip)
        if self.consumer is not None:
            self.output.on_close = None
            self.output.close()
            src.remove_consumer(self.consumer)
            if hooks is not None and hooks.on_stop:
                ports.hooks.on_stop(hooks.on_stop, req, self.cid, self.ip)
        self.report_bytes()
        if self.connected and hooks is not None and hooks.on_close:
            recv, send = self.reported
            ports.hooks.on_close(hooks.on_close, req, self.cid, self.ip, send, recv)
        ports.stats.on_disconnect(self.cid)
        stats = self.conn.stats() if self.conn is not None else {}
        log.info("SRT client closed, %s, %s, recv=%dB, send=%dB, retrans=%d/%d, lost=%d, %.1fs", reason,
                 self.conn_type, stats.get("recv_bytes", 0), stats.get("send_bytes", 0),
                 stats.get("recv_retransmitted", 0), stats.get("send_retransmitted", 0),
                 stats.get("recv_lost", 0), time.monotonic() - self.started)
