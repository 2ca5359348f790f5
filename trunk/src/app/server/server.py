"""The server: owns the config, the source registry and statistics, and every listener.

Signals reach it only as queued words (``post``): the control greenlet applies them one at a time
(reload, reopen, quit, grace), so no handler runs server code in a signal context.
"""
from __future__ import annotations

import functools
import logging
import os
import resource
import time
from itertools import count
from typing import Callable, Dict, List, Optional

import gevent
from gevent.event import Event
from gevent.queue import Queue

from srs.app.abr import ladder as abr
from srs.app.api.routes import ApiApp, ProcessInfo, Summaries
from srs.app.api.statistic import Statistic, new_server_id, server_id_for
from srs.app.api.exporter import start_exporter
from srs.app.api.system import SystemStats
from srs.app.casters.output import CasterPorts
from srs.app.casters.start import start_casters
from srs.app.cluster import edge, forward
from srs.app.config.conf import Config, diff
from srs.app.config.live_reload import LiveReload
from srs.app.dvr import plan as dvr
from srs.app.ffmpeg import exec as exec_
from srs.app.ffmpeg import ingest
from srs.app.ffmpeg import transcode as encoder
from srs.app.ffmpeg.process import ChildRegistry, FfmpegPorts
from srs.app.hds import muxer as hds
from srs.app.dash import muxer as dash
from srs.app.hls import muxer as hls
from srs.app.http.entry import start_http_api, start_http_server, start_https_api, start_https_server
from srs.app.hls.ctx import HlsSessions
from srs.app.http.hooks import HttpHooks
from srs.app.live.idle import IdleKicker
from srs.app.http.stream import LiveRouter, PlayerPorts
from srs.app.live.source import SourceOptions, SourceRegistry
from srs.app.rtmp import bandcheck
from srs.app.rtmp.conn import RtmpConn
from srs.app.server.heartbeat import start_heartbeat
from srs.app.server.listener import ConnectionGate, Listener, make_listener
from srs.app.server.logfile import ReopenableFileHandler
from srs.app.server.tls import ServerTls
from srs.app.server.meters import SendMeters
from srs.app.rtc.ingest import make_publish_factory
from srs.app.rtc.server import RtcPorts, RtcServer
from srs.app.rtc.signalling import RtcSignalling
from srs.app.snapshot.cache import Snapshots
from srs.app.snapshot.http import SnapshotRoute
from srs.app.srt.server import SrtPorts, SrtServer
from srs.kernel.errors import ConfigError, SrsError
from srs.kernel.log import cid_var, level_from_name

log = logging.getLogger(__name__)


def now_ms() -> int:
    return int(time.time() * 1000)


# SIGQUIT waits at most this long for the RTMP clients to leave once the listeners are closed.
GRACE_CLIENTS_WAIT_S = 30.0

# fds beside the clients' sockets: listeners, log, pid file, HLS/DVR files, ffmpeg pipes...
FD_RESERVE = 128


def hooks_timeout_s() -> float:
    """The http_hooks timeout: 30 s as SRS, or the env var SRS_HOOKS_TIMEOUT_S (seconds, > 0)."""
    text = os.environ.get("SRS_HOOKS_TIMEOUT_S", "")
    try:
        value = float(text) if text else 30.0
    except ValueError:
        log.warning("ignore SRS_HOOKS_TIMEOUT_S=%r: not a number", text)
        return 30.0
    return value if value > 0 else 30.0


class Server:
    def __init__(self, config: Config, config_path: str = "", argv: Optional[list] = None,
                 log_handler: Optional[logging.Handler] = None):
        self.config = config
        self.config_path = config_path
        self.argv = argv or []
        self.cwd = os.getcwd()
        self.pid = os.getpid()
        self.log_handler = log_handler
        self.start_time_ms = now_ms()
        self._cids = count(100)
        self.connections: Dict[int, RtmpConn] = {}
        self.no_connections = Event()  # set while ``connections`` is empty: the graceful quit waits on it
        self.no_connections.set()
        # SRS 5: server_id configured, else kept in <pid>.id across restarts; the service id is new each start
        self.statistic = Statistic(vhost_info=self._vhost_info,
                                   server_id=server_id_for(config.server_id, config.pid, new_server_id))
        self.meters = SendMeters(self.statistic)
        self.statistic.stream_extra = self._stream_extra  # H18: forwarders/edge pull in /api/v1/streams
        self.server_id = self.statistic.server_id
        # SRS has no knob for the hook timeout (30 s); SRS_HOOKS_TIMEOUT_S overrides it (tests, ops).
        self.hooks = HttpHooks(timeout_s=hooks_timeout_s(), server_id=self.server_id,
                               service_id=self.statistic.service_id,
                               stream_id_fn=self.statistic.stream_id, cwd=self.cwd)
        self.sources = SourceRegistry(self.source_options)
        # HLS keeps per-stream state (sequence numbers, window, counters) across publishes and reloads.
        self.hls = hls.HlsManager(config=self.current_config, clock=now_ms, hooks=self.hooks,
                                  connections=self.connections, sources=self.sources, cwd=self.cwd)
        # Outputs that remux a stream once per source (HLS, DVR, ...), in this order.
        self.sources.hub_factories.append(functools.partial(
            dvr.make_hub_output, config=self.current_config, clock=now_ms, hooks=self.hooks,
            clients=self.statistic, cwd=self.cwd))
        self.sources.hub_factories.append(self.hls.output_for)
        # H11: forward published streams to the vhost's forward destinations; the edge manager
        # pulls played streams of edge vhosts from the origin (hooked in rtmp_conn/http_stream).
        self.sources.hub_factories.append(functools.partial(
            forward.make_hub_output, config=self.current_config, next_cid=self.next_cid, listening=self.rtmp_ports,
            hooks=self.hooks, publisher_of=self._publisher_of))  # SRS 5's forward backend asks hooks
        # H17: HDS fragments per source (hds {}); bandcheck keeps SRS's one-test-per-interval clock.
        self.sources.hub_factories.append(functools.partial(hds.make_hub_output, config=self.current_config,
                                                            cwd=self.cwd))
        # issue 17: DASH (dash {}): fMP4 segments and a live MPD per source.
        self.sources.hub_factories.append(functools.partial(dash.make_hub_output, config=self.current_config,
                                                            clock=now_ms, cwd=self.cwd))
        # issue 14: each source keeps its latest keyframe for /app/stream.jpg|png and snapshot files
        self.snapshots = Snapshots(self.current_config, self.sources, self.cwd)
        self.sources.hub_factories.append(self.snapshots.output_for)
        self.bandcheck = bandcheck.BandcheckGate()
        self.edge = edge.EdgeManager(self.current_config, self.next_cid)
        # every TCP connection of the process (RTMP, HTTP server, API, TCP casters) counts here
        # against max_connections, read at each accept so a reload applies at once (SRS's rule)
        self.gate = ConnectionGate(lambda: self.config.max_connections)
        self.process = ProcessInfo(server_id=self.server_id, service_id=self.statistic.service_id,
                                   pid=self.pid, argv=" ".join(self.argv),
                                   cwd=self.cwd, start_time_ms=self.start_time_ms)
        # the HTTP API app lives as long as the server; a reload of http_api only re-listens
        self.api_app = ApiApp(config=self.current_config, statistic=self.statistic, clock=now_ms,
                              process=self.process, reload=self.reload, gate=self.gate, sources=self.sources)
        self.rtmp_servers: List[Listener] = []
        self.rtmps_server: Optional[Listener] = None  # rtmps {}: RTMP over TLS, the same connections
        self.http_api = None
        self.http_server = None
        self.https_api = None     # http_api { https {} }
        self.https_server = None  # http_server { https {} }
        self.heartbeat = None  # global heartbeat {}: started with the server, stopped with it
        self.exporter = None   # exporter {} (SRS 5): started with the server, stopped with it
        self.casters = None    # stream casters: started with the server, stopped first
        self._stopping = False
        self.commands: Queue = Queue()
        self.stopped = Event()
        self.greenlets: list = []
        self.grace = False
        self.reload_handlers: List[Callable[[Config, Config, list], None]] = []
        self.reload_handlers.append(self.hls.on_reload)
        # H14: a changed dvr/forward of a vhost is rebuilt on its live sources (SRS's on_reload_vhost_*)
        self.reload_handlers.append(LiveReload(self.sources))
        # H13: transcode and exec run child processes per published stream (hub outputs); ingesters
        # run from start to stop; each follows its own reload changes.
        # every transcode/ingest/exec child of this server: stop() ends them all
        self.children = ChildRegistry()
        self.ffmpeg = FfmpegPorts(config=self.current_config, cwd=self.cwd, children=self.children,
                                  next_cid=self.next_cid, rtmp_port=self.rtmp_port)
        transcode_output = functools.partial(encoder.make_hub_output, self.ffmpeg, self.connections)
        exec_output = functools.partial(exec_.make_hub_output, self.ffmpeg, self.connections)
        self.sources.hub_factories.append(transcode_output)
        self.sources.hub_factories.append(exec_output)
        self.ingesters = ingest.IngestManager(self.ffmpeg)
        # issue 14: abr {} runs one worker process per published stream (one decode, N encodes)
        abr_output = functools.partial(abr.make_hub_output, self.ffmpeg, self.sources)
        self.sources.hub_factories.append(abr_output)
        self.reload_handlers.append(functools.partial(abr.on_reload, abr_output, self.sources))
        self.reload_handlers.append(functools.partial(encoder.on_reload, transcode_output, self.sources))
        self.reload_handlers.append(functools.partial(exec_.on_reload, exec_output, self.sources))
        self.reload_handlers.append(self.ingesters.on_reload)
        # issue 16: the SRT server publishes into and plays from the live sources directly
        self.srt = SrtServer(SrtPorts(config=self.current_config, clock=now_ms, next_cid=self.next_cid,
                                      hooks=self.hooks, sources=self.sources, stats=self.statistic, gate=self.gate))
        self.reload_handlers.append(self.srt.on_reload)
        # issue 15: WebRTC media on one UDP port, its signalling on the API's routes
        self.rtc = RtcServer(RtcPorts(config=self.current_config, clock=now_ms, next_cid=self.next_cid,
                                      hooks=self.hooks, sources=self.sources, stats=self.statistic, gate=self.gate))
        self.reload_handlers.append(self.rtc.on_reload)
        self.rtc.publish_factory = make_publish_factory(self.rtc.ports)   # WHIP -> the live source
        RtcSignalling(self.rtc, self.current_config, self.hooks, self.sources, self.process.identity).install(
            self.api_app)
        # what each accepted RTMP socket is handed with (its ports, app.ports)
        self.make_rtmp_conn = functools.partial(
            RtmpConn, config=self.current_config, clock=now_ms, hooks=self.hooks, sources=self.sources,
            stats=self.statistic, meter=self.meters, edge=self.edge, bandcheck_gate=self.bandcheck)

    # ------------------------------------------------------------------ helpers for components
    def next_cid(self) -> int:
        return next(self._cids)

    def now_ms(self) -> int:
        return now_ms()

    def current_config(self) -> Config:
        """The running config (a ``ConfigSource``): a reload replaces ``self.config``."""
        return self.config

    def nb_connections(self) -> int:
        """SRS's conn_srs: every TCP connection of the process (RTMP, HTTP, API, TCP casters)."""
        return self.gate.active

    def _vhost_info(self, name: str) -> dict:
        vc = self.config.vhost(name)
        if vc is None:
            return {"enabled": False, "hls": {"enabled": False}}
        hls_info = {"enabled": vc.hls.enabled}
        if vc.hls.enabled:
            hls_info["fragment"] = vc.hls.hls_fragment
        return {"enabled": vc.enabled, "hls": hls_info}

    def _publisher_of(self, cid: int):
        conn = self.connections.get(cid)
        return (conn.req, conn.ip) if conn is not None and conn.req is not None else None

    def _kickoff_for_idle(self, vhost: str) -> float:
        vc = self.config.vhost(vhost)
        return vc.kickoff_for_idle if vc is not None else 0.0

    def _stream_extra(self, vhost: str, app: str, stream: str) -> dict:
        """H18: the live forwarders (forward, edge publish) and the edge pull of a stream, for the API."""
        key = f"{vhost}/{app}/{stream}"
        forwards = []
        src = self.sources.get(key)
        for out in list(src.hub) if src is not None else ():
            if isinstance(out, forward.ForwardHub):
                fwds = list(out.forwarders)
            elif isinstance(out, edge.EdgeForwardOutput) and out.forwarder is not None:
                fwds = [out.forwarder]
            else:
                continue
            for f in fwds:
                host, port = f.destination
                # connected: published there and not in a reconnection (which clears `accepting`)
                connected = f.client is not None and f.accepting and f.connects > 0
                forwards.append({"destination": f"{host}:{port}", "connected": bool(connected),
                                 "sent_msgs": f.sent_msgs, "dropped": f.dropped, "retries": f.index})
        # not "edge": a local of that name made the module above unbound (every stream with a hub output failed)
        pull = None
        ing = self.edge.ingesters.get(key)
        if ing is not None and not ing.stopped:
            client = ing.client
            host, port = (client.host, client.port) if client is not None else ing.origin
            pull = {"origin": f"{host}:{port}", "connected": bool(client is not None and ing.published),
                    "ingests": ing.attempts}
        return {"forwards": forwards, "edge": pull}

    def source_options(self, vhost: str) -> SourceOptions:
        return SourceOptions.from_vhost(self.config.vhost(vhost))

    def rtmp_port(self) -> int:
        """The first RTMP port (a ``PortSource`` for the ffmpeg children's and casters' URLs), read
        at each use: a reload of listen moves it."""
        if self.rtmp_servers:
            return self.rtmp_servers[0].server_port
        return self.config.listen[0][1]

    def rtmp_ports(self) -> List[int]:
        """The ports the RTMP listeners hold now (a ``ListenPorts``; ``listen 0`` got one)."""
        return [srv.server_port for srv in self.rtmp_servers]

    # ------------------------------------------------------------------ lifecycle
    def post(self, word: str) -> None:
        """Queue a command; safe from a signal handler."""
        self.commands.put_nowait(word)

    def start(self) -> None:
        self._check_fd_limit()
        self.listen_rtmp()
        self.listen_rtmps()
        self.start_http()
        beat = self.config.heartbeat
        summaries = (Summaries(self.process, self.statistic, now_ms, self.gate, SystemStats())
                     if beat.enabled and beat.summaries else None)
        self.heartbeat = start_heartbeat(beat, self.config.stats.network, summaries)
        # SRS 5's exporter { enabled on; }: /metrics with SRS 5's names on its own port
        self.exporter = start_exporter(self.config, self.process, self.statistic, self.next_cid, self.gate)
        # H15: stream casters (mpegts_over_udp, rtsp, flv) publish into our own RTMP listener
        self.casters = start_casters(self.config.stream_casters,
                                     CasterPorts(next_cid=self.next_cid, rtmp_port=self.rtmp_port, gate=self.gate))
        self.srt.start(self.config.srt_server)
        self.rtc.start(self.config.rtc_server)
        self.ingesters.start()  # H13: ingesters start with the server (they publish to our listener)
        self.greenlets.append(gevent.spawn(self._control))
        self.greenlets.append(gevent.spawn(self._pithy))
        # SRS 5's publish.kickoff_for_idle: one greenlet checks every source once a second
        idle = IdleKicker(sources=lambda: list(self.sources.sources.values()), timeout_s=self._kickoff_for_idle,
                          kick=self.statistic.kick, clock=now_ms)
        self.greenlets.append(gevent.spawn(idle.run))
        log.info("srs started, pid=%d, cwd=%s, rtmp=%s", self.pid, self.cwd,
                 ",".join(f"{h}:{p}" for h, p in self.config.listen))

    def _check_fd_limit(self) -> None:
        """SRS's check: max_connections must fit the open-files limit (listeners, logs and
        children's pipes need some too), else the fd table, not the limit, refuses clients."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = self.config.max_connections + FD_RESERVE
        if soft != resource.RLIM_INFINITY and want > soft:
            log.warning("max_connections=%d needs about %d fds, but the open-files limit is %d: "
                        "raise it (ulimit -n) or lower max_connections", self.config.max_connections,
                        want, soft)

    def wait(self) -> None:
        self.stopped.wait()

    def listen_rtmp(self) -> None:
        for srv in self.rtmp_servers:
            srv.close()  # a reload of listen: the clients of the old ports keep their connections
        self.rtmp_servers = []
        for host, port in self.config.listen:
            sock = make_listener(host or "0.0.0.0", port, self.config.reuseport)
            srv = Listener("rtmp", sock, self._accept, self.gate)
            srv.start()
            self.rtmp_servers.append(srv)
            log.info("RTMP listen at %s:%d, fd=%d", host or "0.0.0.0", srv.server_port, srv.fd)

    def listen_rtmps(self) -> None:
        """``rtmps { enabled on; listen 1943; key; cert; }``: RTMP over TLS (OBS's rtmps://). Each
        client's handshake runs in its own greenlet (server/tls.py), then it is an RTMP client as any."""
        if self.rtmps_server is not None:
            self.rtmps_server.close()  # a reload: its clients keep their connections
            self.rtmps_server = None
        cfg = self.config.rtmps
        if not cfg.enabled:
            return
        tls = ServerTls(cfg.key, cfg.cert, "rtmps")  # a bad key/cert: TlsError, as SRS refuses to start
        host, port = cfg.listen
        sock = make_listener(host or "0.0.0.0", port, self.config.reuseport)
        self.rtmps_server = Listener("rtmps", sock, self._accept, self.gate, tls=tls)
        self.rtmps_server.start()
        log.info("RTMPS listen at %s:%d, fd=%d, key=%s, cert=%s", host or "0.0.0.0",
                 self.rtmps_server.server_port, self.rtmps_server.fd, cfg.key, cfg.cert)

    def _accept(self, sock, addr) -> None:
        """An RTMP client the gate admitted (the Listener refuses one past max_connections)."""
        cid = self.next_cid()
        cid_var.set(cid)
        conn = self.make_rtmp_conn(sock, addr, cid)
        self.connections[cid] = conn
        self.no_connections.clear()
        try:
            conn.run()
        finally:
            self.connections.pop(cid, None)
            if not self.connections:
                self.no_connections.set()

    def start_http(self) -> None:
        self.http_api = start_http_api(self.config, self.api_app, self.next_cid, self.gate)
        self.http_server = start_http_server(self.config, self._make_live_router, self.next_cid,
                                             self.gate)
        self.https_api = start_https_api(self.config, self.api_app, self.next_cid, self.gate)
        self.https_server = start_https_server(self.config, self.http_server, self._make_live_router,
                                               self.next_cid, self.gate)

    def _http_fronts(self) -> list:
        return [f for f in (self.http_api, self.http_server, self.https_api, self.https_server) if f is not None]

    def _make_live_router(self, root_dir: str) -> LiveRouter:
        """The HTTP-FLV/TS/AAC/MP3 players' router with exactly the parts a player uses."""
        ports = PlayerPorts(config=self.current_config, clock=self.now_ms, sources=self.sources,
                            hooks=self.hooks, statistic=self.statistic, edge=self.edge, meter=self.meters)
        return LiveRouter(ports, root_dir, hls_sessions=HlsSessions(ports, self.next_cid),  # SRS 5's hls_ctx
                          snapshots=SnapshotRoute(self.snapshots, self.current_config, self.hooks),
                          hls_ll=self.hls.ll)

    def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        if self.heartbeat is not None:
            self.heartbeat.stop()
        if self.casters is not None:  # H15: casters first, they publish to us
            self.casters.stop()
        self.srt.stop()
        self.rtc.stop()
        for srv in self.rtmp_servers:
            srv.close()
        if self.rtmps_server is not None:
            self.rtmps_server.close()
        for closer in self._http_fronts() + ([self.exporter] if self.exporter is not None else []):
            try:
                closer.stop()
            except Exception:
                log.exception("stop http failed")
        self.edge.stop()  # H11: stop the edge ingesters (upstream plays)
        self.hls.stop()   # close open segments; hls_dispose deletes the files at shutdown
        for src in list(self.sources.sources.values()):
            for out in list(src.hub):
                src.remove_hub_output(out)
        # H13: stop the ingesters, then wait for every transcode/ingest/exec child (SIGKILL after 3 s)
        self.ingesters.stop()
        self.children.stop_all()
        self.snapshots.stop()
        for conn in list(self.connections.values()):
            conn.kick()
        gevent.killall([g for g in self.greenlets if g is not gevent.getcurrent()], block=False)
        self.stopped.set()

    # ------------------------------------------------------------------ control
    def _control(self) -> None:
        cid_var.set(0)
        while True:
            word = self.commands.get()
            try:
                if word == "reload":
                    self.reload()
                elif word == "reopen":
                    self.reopen_log()
                elif word == "quit":
                    log.info("signal: fast quit")
                    self.stop()
                    return
                elif word == "grace":
                    self.graceful_quit()
                    return
            except SrsError as e:  # e.g. a reload of a bad conf: the running config is kept, no traceback
                log.error("control command %s failed: %s", word, e)
            except Exception:
                log.exception("control command %s failed", word)

    def graceful_quit(self) -> None:
        """SIGQUIT: wait grace_start_wait, close listeners, wait for clients, grace_final_wait."""
        c = self.config
        log.info("signal: graceful quit, start wait %dms", c.grace_start_wait)
        gevent.sleep(c.grace_start_wait / 1000.0)
        for srv in self.rtmp_servers + ([self.rtmps_server] if self.rtmps_server is not None else []):
            srv.close()
        if self.connections:
            log.info("graceful quit: wait for %d clients, at most %.0fs", len(self.connections),
                     GRACE_CLIENTS_WAIT_S)
            if self.no_connections.wait(GRACE_CLIENTS_WAIT_S):
                log.info("graceful quit: all clients gone")
            else:
                log.warning("graceful quit: %d clients still connected after %.0fs, stop them",
                            len(self.connections), GRACE_CLIENTS_WAIT_S)
        log.info("graceful quit: final wait %dms", c.grace_final_wait)
        gevent.sleep(c.grace_final_wait / 1000.0)
        self.stop()

    def reopen_log(self) -> None:
        h = self.log_handler
        if isinstance(h, ReopenableFileHandler):  # a console handler has nothing to reopen
            h.reopen()
            log.info("log file reopened: %s", h.path)

    def reload(self) -> None:
        """Parse + check the file again (``srs -e``: the SRS_* variables again, as SRS 5); a bad one
        keeps the running config (SRS 2.0 behaviour). The new config's warnings are logged."""
        try:
            new = Config.reread(self.config, self.config_path)
            if new is None:
                log.warning("reload ignored: no config file")
                return
            changes = diff(self.config, new)
        except ConfigError as e:
            log.error("reload failed, keep the running config: %s", e)
            raise
        except OSError as e:
            log.error("reload failed, keep the running config: %s", e)
            raise SrsError(str(e)) from e
        for warning in new.warnings:  # the same warnings a start logs (ignored directives and variables)
            log.warning("reload: %s", warning)
        old, self.config = self.config, new
        self.apply_reload(old, new, changes)
        log.info("reload ok, %d changes", len(changes))

    def apply_reload(self, old: Config, new: Config, changes: list) -> None:
        kinds = {c.kind for c in changes}
        if "listen" in kinds:
            self.listen_rtmp()
        if {"srs_log_level", "srs_log_file", "srs_log_tank", "utc_time"} & kinds:
            logging.getLogger().setLevel(level_from_name(new.srs_log_level))
            h = self.log_handler
            if isinstance(h, ReopenableFileHandler) and new.srs_log_file != h.path:
                h.reopen(new.srs_log_file)
        if "rtmps" in kinds:
            self.listen_rtmps()
        if {"http_api", "http_server"} & kinds:
            for closer in self._http_fronts():
                closer.stop()
            self.start_http()
        for src in self.sources.sources.values():
            vhost = src.url.split("/", 1)[0]
            src.update_options(self.source_options(vhost))
        for handler in self.reload_handlers:
            try:
                handler(old, new, changes)
            except Exception:
                log.exception("reload handler failed")

    def _pithy(self) -> None:
        cid_var.set(0)
        last_print = None
        while True:
            interval = max(self.config.pithy_print_ms, 1000) / 1000.0
            gevent.sleep(min(interval, 5.0))
            self.meters.sample()
            self.statistic.sample(now_ms())
            if last_print is None or time.monotonic() - last_print >= interval:
                last_print = time.monotonic()
                ru = resource.getrusage(resource.RUSAGE_SELF)
                log.info("<- SRS time=%ds, conns=%d, sources=%d, cpu=%.2fs, rss=%dKB",
                         (now_ms() - self.start_time_ms) // 1000, len(self.connections),
                         len(self.sources.sources), ru.ru_utime + ru.ru_stime, ru.ru_maxrss)
                for src in list(self.sources.sources.values()):
                    if src.consumers:
                        log.info("%s", src.pithy())
