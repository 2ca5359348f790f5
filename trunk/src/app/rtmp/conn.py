"""One RTMP client connection: handshake, identify, then play or publish (SRS's SrsRtmpConn).

The greenlet of the connection reads the socket and drives the sans-IO ``ServerSession``;
everything it sends goes through the connection's ``Output``, the same one the source's tick
writes media to, so replies never interleave inside a media batch.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from typing import Optional

import gevent

from srs.app.cluster.coworkers import redirect_player
from srs.app.live.output import Output, OutputClosed
from srs.app.live.encoders import RtmpEncoder
from srs.app.live.source import Consumer, LiveSource
from srs.app.ports import Clock, ClientStats, ConfigSource, ConnectionHooks, EdgeCluster, SendMeter, LiveSources
from srs.app.rtmp import bandcheck
from srs.app.rtmp.recv import recv_some
from srs.core import performance
from srs.kernel import errors as E
from srs.kernel.errors import AccessDenied, ControlSignal, RequestError, SrsError
from srs.kernel.media_info import describe_sequence_header
from srs.protocol import names, security
from srs.protocol import rtmp_stack as stack
from srs.protocol.request import Request
from srs.protocol.rtmp_handshake import ServerHandshake

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT_S = 30.0
RECV_TIMEOUT_S = 30.0

# The onStatus a refused client gets before the close (FMS's codes, which clients know):
BAD_PUBLISH_NAME = "NetStream.Publish.BadName"     # a name we refuse to publish
BAD_PLAY_NAME = "NetStream.Play.StreamNotFound"    # a name that cannot name a stream
PLAY_DENIED = "NetStream.Play.Failed"              # refused by policy: refer or the on_play hook


class ConnClosed(Exception):
    """The peer closed, or we kicked the connection."""


class RtmpConn:
    """Takes the server's parts it uses as keyword ports (app.ports); the Server binds them once
    (``functools.partial``) and each accepted socket adds ``sock, addr, cid``."""

    def __init__(self, sock, addr, cid: int, *, config: ConfigSource, clock: Clock, hooks: ConnectionHooks,
                 sources: LiveSources, stats: ClientStats, meter: SendMeter, edge: EdgeCluster,
                 bandcheck_gate: bandcheck.BandcheckGate):
        self.config = config
        self.clock = clock
        self.hooks = hooks
        self.sources = sources
        self.stats = stats
        self.meter = meter
        self.edge = edge
        self.bandcheck_gate = bandcheck_gate
        self.sock = sock
        self.ip = addr[0]
        self.port = addr[1]
        self.cid = cid
        self.output = Output(sock, cid)
        self.session: Optional[stack.ServerSession] = None
        self.req: Optional[Request] = None
        # Players send almost nothing: a small read buffer each (2000 players x 128 KB would be 256 MB);
        # a publisher gets the big one when it starts publishing.
        self.buf = bytearray(4096)
        self.view = memoryview(self.buf)
        self.events: list = []
        self.recv_bytes = 0
        self.kicked = False
        self.conn_type = ""
        self.connected = False
        self.started = time.monotonic()

    # ------------------------------------------------------------------ plumbing
    def kick(self) -> None:
        """Disconnect from another greenlet (API kickoff, server stop)."""
        self.kicked = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def recv(self, timeout_s: Optional[float]) -> memoryview:
        n = recv_some(self.sock, self.buf, timeout_s, self._closed_error)
        self.recv_bytes += n
        self.stats.add_bytes(self.cid, n, 0)
        return self.view[:n]

    def _closed_error(self, error: Optional[OSError]) -> ConnClosed:
        if error is not None:
            return ConnClosed(f"recv failed: {error}")
        return ConnClosed("peer closed" if not self.kicked else "kicked")

    def flush(self) -> None:
        data = self.session.data_to_send()
        if data:
            self.output.write_blocking(data)

    def next_event(self, timeout_s: Optional[float] = RECV_TIMEOUT_S):
        while not self.events:
            self.flush()
            data = self.recv(timeout_s)
            self.events.extend(self.session.receive_data(data))
        return self.events.pop(0)

    # ------------------------------------------------------------------ session
    def run(self) -> None:
        log.info("RTMP client ip=%s:%d, fd=%d", self.ip, self.port, self.sock.fileno())
        reason = "done"
        try:
            self.handshake()
            self.identify_and_serve()
        except ConnClosed as e:
            reason = str(e)
        except socket.timeout:
            reason = "timeout"
        except OutputClosed:
            reason = "output closed"
        except AccessDenied as e:
            reason = f"denied: {e}"
            log.warning("client %s denied: %s", self.ip, e)
        except RequestError as e:
            reason = f"refused, code={e.code}"  # the name is in the warning line, once
            log.warning("client %s refused: %s", self.ip, e)
        except SrsError as e:
            reason = str(e)
            level = logging.WARNING if e.peer else logging.ERROR
            log.log(level, "client %s error: %s", self.ip, e)
        except Exception:
            reason = "internal error"
            log.exception("client %s: unexpected error", self.ip)
        finally:
            self.close(reason)

    def close(self, reason: str) -> None:
        self.output.close()
        try:
            self.sock.close()
        except OSError:
            pass
        st = self.stats
        if self.connected and self.req is not None:
            hooks = self.hooks_cfg()
            if hooks is not None and hooks.on_close:
                self.hooks.on_close(hooks.on_close, self.req, self.cid, self.ip,
                                    self.output.sent_bytes, self.recv_bytes)
        st.on_disconnect(self.cid)
        log.info("RTMP client closed, %s, recv=%dB, send=%dB, %.1fs", reason, self.recv_bytes,
                 self.output.sent_bytes, time.monotonic() - self.started)

    def handshake(self) -> None:
        hs = ServerHandshake(os.urandom, int(time.time() * 1000))
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT_S
        while not hs.done:
            data = self.recv(max(0.1, deadline - time.monotonic()))
            out = hs.receive_data(bytes(data))
            if out:
                self.output.write_blocking(out)
        log.info("handshake ok, complex=%s", hs.complex)
        self.session = stack.ServerSession(out_chunk_size=self.config().chunk_size)
        if hs.leftover:
            self.events.extend(self.session.receive_data(hs.leftover))

    def vhost_cfg(self):
        return self.config().vhost(self.req.vhost) if self.req else None

    def hooks_cfg(self):
        vc = self.vhost_cfg()
        hooks = vc.http_hooks if vc is not None else None
        return hooks if hooks is not None and hooks.enabled else None

    def identify_and_serve(self) -> None:
        ev = self.next_event(HANDSHAKE_TIMEOUT_S)
        while not isinstance(ev, stack.ConnectRequest):
            ev = self.next_event(HANDSHAKE_TIMEOUT_S)
        self.on_connect(ev)
        while True:
            try:
                self.identify_client()
            except ControlSignal as sig:
                if sig.code in (E.ERROR_CONTROL_REPUBLISH, E.ERROR_CONTROL_RTMP_CLOSE):
                    log.info("stream closed (%s), identify the client again", sig)
                    continue
                raise

    def on_connect(self, ev) -> None:
        req: Request = ev.request
        req.ip = self.ip
        self.req = req
        try:
            names.check_request(req, with_stream=False)
        except RequestError as e:
            self.session.reject_connect(str(e))
            self.flush()
            raise
        vc = self.config().vhost(req.vhost)
        if vc is None or not vc.enabled:
            self.session.reject_connect(f"vhost {req.vhost} not found")
            self.flush()
            raise SrsError(f"vhost {req.vhost} not found or disabled", E.ERROR_RTMP_VHOST_NOT_FOUND)
        req.update_vhost(vc.name)
        if vc.tcp_nodelay:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        refer = vc.refer
        if refer is not None and refer.all:
            security.check_refer(list(refer.all), req.page_url)
        hooks = self.hooks_cfg()
        if hooks is not None and hooks.on_connect:
            self.hooks.on_connect(hooks.on_connect, req, self.cid, self.ip)
        if vc.is_edge and vc.token_traverse:  # H11: the origin authenticates the client first
            self.edge.check_token(req)
        self.connected = True
        if vc.bandcheck.enabled:  # H17: SRS branches to the bandwidth test right after connect
            bandcheck.serve(self, vc)
            raise ConnClosed("bandcheck done")
        self.session.accept_connect(server_ip=self.local_ip(), pid=os.getpid(), cid=self.cid,
                                    object_encoding=req.object_encoding)
        self.flush()
        log.info("connect app=%s, vhost=%s, tcUrl=%s, pageUrl=%s", req.app, req.vhost, req.tc_url, req.page_url)

    def local_ip(self) -> str:
        try:
            return self.sock.getsockname()[0]
        except OSError:
            return "127.0.0.1"

    def identify_client(self) -> None:
        """Wait for play or publish (FMLE, Flash or Haivision), answering the commands before."""
        while True:
            ev = self.next_event(None)
            if isinstance(ev, stack.CreateStream):
                self.session.reply_create_stream(ev.tid, 1)
            elif isinstance(ev, stack.ReleaseStream):
                self.session.reply_release_stream(ev.tid)
            elif isinstance(ev, stack.FCPublish):
                self.session.reply_fcpublish(ev.tid)
            elif isinstance(ev, stack.PlayRequest):
                self.set_stream(ev.stream, BAD_PLAY_NAME)
                self.serve_play(ev)
                return
            elif isinstance(ev, stack.PublishRequest):
                self.set_stream(ev.stream, BAD_PUBLISH_NAME)
                self.serve_publish(ev)
                return
            # anything else (acks, unknown calls already answered, media before publish) is ignored

    def set_stream(self, name: str, refusal_code: str) -> None:
        """The stream name may carry ?vhost=...: resolve the vhost again, as SRS does.

        The names are checked before anything uses them; a bad one gets the ``refusal_code``
        onStatus, then the connection closes (RequestError)."""
        req = self.req
        req.set_stream(name)
        try:
            names.check_request(req)
        except RequestError as e:
            self.session.on_play_error(refusal_code, str(e))  # any stream-level error status
            self.flush()
            raise
        vc = self.config().vhost(req.vhost)
        if vc is None or not vc.enabled:
            raise SrsError(f"vhost {req.vhost} not found or disabled", E.ERROR_RTMP_VHOST_NOT_FOUND)
        req.update_vhost(vc.name)
        req.ip = self.ip

    def check_stream(self, method: str) -> None:
        vc = self.vhost_cfg()
        sec = vc.security
        if sec is not None and sec.enabled:
            security.check_security(sec.rules, method, self.ip)

    def source(self) -> LiveSource:
        return self.sources.fetch_or_create(self.req.stream_url, self.req.vhost)

    # ------------------------------------------------------------------ play
    def serve_play(self, ev) -> None:
        req = self.req
        vc = self.vhost_cfg()
        self.conn_type = "Play"
        hooks = self.hooks_cfg()
        # Policy first: a refused player gets NetStream.Play.Failed and the close, never Play.Start
        # (SRS sends Play.Start before asking on_play; a client then believes it plays).
        try:
            self.check_stream("play")
            if vc.refer is not None and vc.refer.play:
                security.check_refer(list(vc.refer.play), req.page_url)
            if hooks is not None and hooks.on_play:  # H18: before a redirect, as SRS (on_play, playing, on_stop)
                self.hooks.on_play(hooks.on_play, req, self.cid, self.ip)
        except AccessDenied as e:
            self.session.on_play_error(PLAY_DENIED, f"play denied: {e}")
            self.flush()
            raise
        self.session.start_play(1, req.stream)
        self.flush()
        if vc.origin_cluster and not vc.is_edge:  # H14: a stream published on a coworker plays there (302)
            try:
                url = redirect_player(self, vc)
            except BaseException:
                url = "nowhere"  # no coworker has it: the player is refused, and stops here too
                raise
            finally:
                if url and hooks is not None and hooks.on_stop:  # a redirected or refused player stops here
                    self.hooks.on_stop(hooks.on_stop, req, self.cid, self.ip)
            if url:
                raise ConnClosed(f"redirected to {url}")
        self.stats.on_client(self.cid, req, "Play", self.ip, self.kick, self.clock())
        src = self.source()
        consumer = Consumer(self.cid, self.output)
        chunk_size = self.session.out_chunk_size
        src.attach(consumer, ("rtmp", chunk_size), lambda: RtmpEncoder(chunk_size))
        if vc.is_edge:  # H11: an edge source is pulled from the origin (one ingester per source)
            self.edge.on_play(src, req)
        log.info("RTMP play %s, start=%s, duration=%s", req.stream_url, ev.start, ev.duration)
        self.meter.meter(self.cid, self.output)
        try:
            self.play_cycle(consumer)
        finally:
            src.remove_consumer(consumer)
            self.meter.unmeter(self.cid)
            if hooks is not None and hooks.on_stop:
                self.hooks.on_stop(hooks.on_stop, req, self.cid, self.ip)

    def play_cycle(self, consumer: Consumer) -> None:
        """The source's tick sends media; this greenlet only reads control messages."""
        while True:
            ev = self.next_event(None)
            if isinstance(ev, stack.Pause):
                consumer.paused = ev.is_pause
                self.session.on_pause(ev.is_pause)
                self.flush()
            elif isinstance(ev, (stack.CloseStream, stack.DeleteStream)):
                raise ControlSignal("closeStream", E.ERROR_CONTROL_RTMP_CLOSE)
            elif self.output.closed:
                raise ConnClosed("output closed")

    # ------------------------------------------------------------------ publish
    def serve_publish(self, ev) -> None:
        req = self.req
        self.check_stream("publish")
        vc = self.vhost_cfg()
        kind = ev.kind
        self.conn_type = {"fmle": "fmle-publish", "flash": "flash-publish"}.get(kind, "haivision-publish")
        src = self.source()
        if not src.can_publish:
            raise E.StreamBusy(f"stream {req.stream_url} is busy")
        if kind == "fmle":
            self.session.start_fmle_publish(1)
        else:
            self.session.start_flash_publish()
        self.flush()
        if vc.refer is not None and vc.refer.publish:
            security.check_refer(list(vc.refer.publish), req.page_url)
        hooks = self.hooks_cfg()
        if hooks is not None and hooks.on_publish:
            self.hooks.on_publish(hooks.on_publish, req, self.cid, self.ip)
        src = self.source()  # fetch again: a hook may have switched greenlets
        src.on_publish(self.cid)
        # H11: a publish on an edge vhost is also pushed to the origin (a hub output until unpublish)
        edge_out = self.edge.on_publish(src, req) if vc.is_edge else None
        st = self.stats
        st.on_client(self.cid, req, self.conn_type, self.ip, self.kick, self.clock())
        st.on_stream_publish(req, self.cid)
        log.info("RTMP publish %s, type=%s", req.stream_url, self.conn_type)
        try:
            self.publish_cycle(src, vc)
        finally:
            if edge_out is not None:  # H11
                src.remove_hub_output(edge_out)
            src.on_unpublish()
            st.on_stream_unpublish(req)
            if hooks is not None and hooks.on_unpublish:
                self.hooks.on_unpublish(hooks.on_unpublish, req, self.cid, self.ip)

    def publish_cycle(self, src: LiveSource, vc) -> None:
        if len(self.buf) < performance.RECV_BUFFER_SIZE:
            self.buf = bytearray(performance.RECV_BUFFER_SIZE)
            self.view = memoryview(self.buf)
        first_timeout = vc.publish_1stpkt_timeout / 1000.0
        normal_timeout = vc.publish_normal_timeout / 1000.0
        timeout = first_timeout
        st = self.stats
        req = self.req
        nb_msgs = 0
        # H12 fix: the API's stream "frames" counts video frames; report the delta at each pithy print
        nb_video = reported_video = 0
        last_pithy = time.monotonic()
        pithy_s = max(self.config().pithy_print_ms, 1000) / 1000.0
        events = self.events
        session = self.session
        # Merged read (SRS's mr): sleep between reads so each recv takes a bigger batch; off in realtime mode.
        mr_sleep_s = vc.mr_latency / 1000.0 if vc.mr_enabled and not vc.min_latency else 0.0
        while True:
            if not events:
                self.flush()
                if mr_sleep_s:
                    gevent.sleep(mr_sleep_s)
                try:
                    data = self.recv(timeout)
                except socket.timeout:
                    raise SrsError(f"publish timeout {timeout:.1f}s without packets", E.ERROR_SOCKET_TIMEOUT)
                events.extend(session.receive_data(data))
                continue
            ev = events.pop(0)
            if isinstance(ev, stack.Media):
                msg = ev.message
                timeout = normal_timeout
                if msg.seq_header:
                    self.report_codec(msg)
                src.on_message(msg)
                nb_msgs += 1
                if msg.is_video and not msg.seq_header:
                    nb_video += 1
                if nb_msgs % 64 == 0:
                    # Keep the API's frame count current (an add per 64 messages); log at the pithy interval.
                    st.on_frames(req, nb_video - reported_video)
                    reported_video = nb_video
                    now = time.monotonic()
                    if now - last_pithy >= pithy_s:
                        last_pithy = now
                        log.info("<- CPB time=%ds, msgs=%d, recv=%dKB", int(now - self.started), nb_msgs,
                                 self.recv_bytes // 1024)
            elif isinstance(ev, stack.FCUnpublish):
                self.flush()
                raise ControlSignal("FMLE unpublish", E.ERROR_CONTROL_REPUBLISH)
            elif isinstance(ev, (stack.CloseStream, stack.DeleteStream)):
                raise ControlSignal("flash unpublish", E.ERROR_CONTROL_RTMP_CLOSE)

    def report_codec(self, msg) -> None:
        info = describe_sequence_header(msg)
        if info is None:
            return
        st = self.stats
        if msg.is_video:
            st.on_video_info(self.req, info["codec"], info["profile"], info["level"], info["width"], info["height"])
            log.info("video %s profile=%s level=%s %dx%d", info["codec"], info["profile"], info["level"],
                     info["width"], info["height"])
        else:
            st.on_audio_info(self.req, info["codec"], info["sample_rate"], info["channels"], info["profile"])
            log.info("audio %s %dHz %dch profile=%s", info["codec"], info["sample_rate"], info["channels"],
                     info["profile"])
