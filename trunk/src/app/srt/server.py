"""The SRT server (SRS's srt_server): one UDP socket, one greenlet, the sans-IO SRT endpoint.

The loop reads every datagram with its address into ``SrtEndpoint.on_datagram`` (handshakes,
demultiplexing by socket id and peer address: a datagram that does not parse, or names a socket
of another peer, is dropped and counted, nothing else), sends the replies, and wakes at the
endpoint's ``next_timer_us`` (ACK/NAK, TSBPD delivery, keep-alive, idle timeouts). Publishers'
delivered payloads go to their session (demux -> the live source) from this loop; players are
written by their source's tick (play.py), not by this loop.

A caller that passed the cookie and the SRT checks takes a slot of the server's ``max_connections``
gate (shared with every TCP listener) and gets its own greenlet and cid to be decided in (stream
id, names, vhost, security, hooks: session.py), so a slow hook never stalls the socket. The
endpoint bounds the undecided callers (``max_pending``); each connection's buffers are bounded by
its capacity in packets. ``stop`` sends every peer a SHUTDOWN and closes the socket.
"""
from __future__ import annotations

import errno
import logging
import os
import time
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

import gevent
from gevent import socket

from srs.app.ports import CidSource, ClientStats, Clock, ConfigSource, ConnectionHooks, LiveSources
from srs.app.live.source import SourceRegistry
from srs.app.server.listener import ConnectionGate
from srs.app.server.udp_batch import UdpBatchSender
from srs.app.srt.session import Refused, SrtSession
from srs.kernel.errors import SrsError
from srs.kernel.log import cid_var
from srs.protocol.srt.endpoint import ConnectionClosed, ConnectionRequested, SrtEndpoint
from srs.protocol.srt.handshake import REJ_RESOURCE, HandshakeListener, ListenerConfig

log = logging.getLogger(__name__)

ERROR_SRT_LISTEN = 6004       # SRS 5 srs_kernel_error.hpp: the UDP port cannot be bound
MAX_WAIT_S = 0.05             # the loop wakes at least this often (stop, players' flushes)
RECV_BATCH = 256              # datagrams read per wake before the timers run
DATAGRAM_MAX = 65536          # a live-mode SRT packet is at most 16 + 1456 bytes; a handshake may be more
RECV_BUFFER = 4 << 20         # a busy hub must not cost datagrams (the kernel may clamp it)
FORCED_BUFFER = 32 << 20      # past net.core.rmem_max when we may (root): ~250 ms of 200 publishers
STATS_INTERVAL_S = 1.0        # bytes moved into the API's client entries this often
FAULT_LOG_INTERVAL_S = 1.0    # at most one log line per this long about datagrams that break the parser


def set_buffers(sock) -> None:
    """Big socket buffers: every SRT peer shares this one socket, so a pause of the loop (a busy
    tick, a loaded host) must be absorbed here rather than cost datagrams to ARQ. SO_*BUFFORCE
    (CAP_NET_ADMIN) passes the system's cap; without it the capped size applies."""
    for force, plain in ((getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF),
                         (getattr(socket, "SO_SNDBUFFORCE", None), socket.SO_SNDBUF)):
        try:
            if force is None:
                raise OSError("no SO_*BUFFORCE")
            sock.setsockopt(socket.SOL_SOCKET, force, FORCED_BUFFER)
        except OSError:
            try:
                sock.setsockopt(socket.SOL_SOCKET, plain, RECV_BUFFER)
            except OSError:
                pass


def now_us() -> int:
    return time.monotonic_ns() // 1000


class SrtStats(ClientStats, Protocol):
    """The statistic as an SRT client reports to it: also its SRT figures (``Statistic``)."""

    def set_client_extra(self, cid: int, extra: Callable[[], dict]) -> None: ...


@dataclass(frozen=True)
class SrtPorts:
    """What the Server hands the SRT server (app.ports)."""

    config: ConfigSource
    clock: Clock
    next_cid: CidSource
    hooks: ConnectionHooks
    sources: LiveSources
    stats: SrtStats
    gate: ConnectionGate


def buffer_packets(conf, size: int) -> int:
    """sendbuf/recvbuf in bytes -> packets of the MSS's payload (libsrt's SRTO_SNDBUF/RCVBUF rule)."""
    return max(32, size // max(conf.mss - 28, 1))


def listener_config(conf) -> ListenerConfig:
    """The handshake's options from srt_server: latency sets the receive latency unless recvlatency
    asks for more (SRS sets SRTO_LATENCY then SRTO_RCVLATENCY); the peer's wish may raise both."""
    pbkeylen = int(conf.pbkeylen) if conf.passphrase else 0
    return ListenerConfig(mss=conf.mss, flow_window=buffer_packets(conf, conf.recvbuf),
                          recv_latency_ms=max(conf.latency, conf.recvlatency) if conf.tsbpdmode else 0,
                          peer_latency_ms=conf.peerlatency, tlpktdrop=conf.tlpktdrop,
                          passphrase=conf.passphrase, pbkeylen=pbkeylen or (16 if conf.passphrase else 0))


class SrtServer:
    def __init__(self, ports: SrtPorts):
        self.ports = ports
        self.conf = None
        self.sock = None
        self.raw = None
        self.endpoint = None
        self.greenlet = None
        self.cid = 0
        self.port = 0
        self.sessions = {}        # our socket id -> SrtSession (accepted)
        # streams of vhosts with srt_to_rtmp off: a registry of their own, without hub outputs
        # (no HLS/DVR/forward) and out of reach of RTMP/HTTP players
        self.srt_only = SourceRegistry(ports.sources.options_for)
        self.deciding = set()     # greenlets deciding a caller
        self.send_errors = 0
        self.udp: Optional[UdpBatchSender] = None
        self._last_stats = 0.0
        self._last_fault = 0.0

    # ------------------------------------------------------------------ life cycle
    def start(self, conf) -> None:
        """Listen if ``conf.enabled`` (srt_server of the running config)."""
        self.conf = conf
        if not conf.enabled:
            return
        host, port = conf.listen
        host = host or "0.0.0.0"
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            set_buffers(sock)
            sock.bind((host, port))
        except OSError as e:
            sock.close()
            raise SrsError(f"srt: bind udp {host}:{port} failed: {e}", ERROR_SRT_LISTEN) from e
        self.sock = sock
        self.raw = getattr(sock, "_sock", sock)   # the stdlib socket: non-blocking reads and sends
        self.raw.setblocking(False)
        self.udp = UdpBatchSender(self.raw, "srt")
        self.port = sock.getsockname()[1]
        self.endpoint = SrtEndpoint(HandshakeListener(listener_config(conf), os.urandom(32)),
                                    lambda: int.from_bytes(os.urandom(4), "big"),
                                    peer_idle_timeout_us=conf.peer_idle_timeout * 1000,
                                    capacity=buffer_packets(conf, conf.recvbuf),
                                    send_capacity=buffer_packets(conf, conf.sendbuf))
        self.cid = self.ports.next_cid()
        self.greenlet = gevent.spawn(self._run)
        log.info("SRT listen at udp://%s:%d, latency=%dms, passphrase=%s, default_app=%s", host, self.port,
                 max(conf.latency, conf.recvlatency), "on" if conf.passphrase else "off", conf.default_app)

    def stop(self) -> None:
        """Every peer gets a SHUTDOWN, every session ends (unpublish, hooks), the socket closes."""
        if self.sock is None:
            return
        for g in list(self.deciding):
            g.kill(block=False)
        endpoint = self.endpoint
        t = now_us()
        for conn in list(endpoint.connections.values()):
            self._send(endpoint.close(conn, t), conn.peer)
        self._on_events(t)
        self.endpoint = None
        if self.greenlet is not None and self.greenlet is not gevent.getcurrent():
            self.greenlet.kill(block=True, timeout=1.0)
        self.greenlet = None
        self.sock.close()
        self.sock = self.raw = self.udp = None
        log.info("SRT server stopped, %d datagrams dropped", endpoint.dropped)

    def on_reload(self, old, new, changes) -> None:
        """A reload of srt_server listens again with the new options (its clients are closed)."""
        if any(c.kind == "srt_server" for c in changes):
            self.stop()
            self.start(new.srt_server)

    # ------------------------------------------------------------------ the loop
    def _run(self) -> None:
        cid_var.set(self.cid)
        raw, endpoint = self.raw, self.endpoint
        fd = raw.fileno()
        # one reused buffer as big as a UDP datagram: an oversized handshake is read whole (and
        # refused with a reason), never truncated into a parse error
        buf = bytearray(DATAGRAM_MAX)
        view = memoryview(buf)
        while True:
            t = now_us()
            nxt = endpoint.next_timer_us()
            wait_s = MAX_WAIT_S if nxt is None else min(MAX_WAIT_S, (nxt - t) / 1e6)
            if wait_s > 0:
                try:
                    socket.wait_read(fd, wait_s)
                except socket.timeout:
                    pass
            else:
                gevent.sleep(0)   # a timer always due must not starve the other greenlets
            try:
                for _ in range(RECV_BATCH):
                    try:
                        n, addr = raw.recvfrom_into(buf)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as e:   # e.g. ICMP port unreachable from a gone peer: not ours to end
                        log.debug("srt: recvfrom: %s", e)
                        continue
                    self._on_datagram(view[:n], addr)
                self._tick(now_us())
            except Exception:  # noqa: BLE001 - the loop serves every peer: log, go on
                log.exception("srt: loop error")

    def _on_datagram(self, data, addr) -> None:
        t = now_us()
        try:
            replies = self.endpoint.on_datagram(data, addr, t)
        except Exception:  # noqa: BLE001 - a datagram the protocol layer chokes on is only dropped
            self.endpoint.dropped += 1
            if time.monotonic() - self._last_fault >= FAULT_LOG_INTERVAL_S:
                self._last_fault = time.monotonic()
                log.exception("srt: datagram of %d bytes from %s dropped (%d so far)", len(data), addr,
                              self.endpoint.dropped)
            return
        for reply in replies:
            self._send(reply, addr)
        self._on_events(t)

    def _tick(self, t: int) -> None:
        endpoint = self.endpoint
        for datagram, addr in endpoint.on_timer(t):
            self._send(datagram, addr)
        for conn in endpoint.take_delivered():   # publishers whose TSBPD time came: not every session
            session = self.sessions.get(conn.socket_id)
            if session is not None and session.publisher is not None:
                payloads = conn.take_payloads()
                if payloads:
                    self._feed(session, payloads)
        self._on_events(t)
        if time.monotonic() - self._last_stats >= STATS_INTERVAL_S:
            self._last_stats = time.monotonic()
            for session in self.sessions.values():
                session.report_bytes()

    def _feed(self, session: SrtSession, payloads) -> None:
        token = cid_var.set(session.cid)   # the publisher's log lines carry its own cid
        try:
            session.on_payloads(payloads)
        except Exception:  # noqa: BLE001 - one publisher's bad stream never ends the server
            log.exception("SRT publish: payloads dropped")
        finally:
            cid_var.reset(token)

    def _send(self, data, addr) -> None:
        if self.raw is None:
            return
        try:
            self.raw.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            self.send_errors += 1   # the SRT sender keeps it: a NAK brings it back
        except OSError as e:
            self.send_errors += 1
            if e.errno not in (errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH):
                log.debug("srt: sendto %s: %s", addr, e)

    def send_many(self, datagrams, addr) -> None:
        """A player's share of one write. Its datagrams go to one peer and all but the last have one
        size (one cut of the stream, see play.py), so with UDP GSO one ``sendmsg`` hands the kernel
        a run of them to split (app/server/udp_batch.py): the per-datagram system call was most of
        the server's time with a thousand players. What the socket refuses the SRT sender keeps: a
        NAK brings it back."""
        if self.udp is None:
            return
        sent, _nbytes = self.udp.send(datagrams, addr)
        self.send_errors += len(datagrams) - sent

    def _on_events(self, t: int) -> None:
        for ev in self.endpoint.take_events():
            if isinstance(ev, ConnectionRequested):
                self._on_request(ev.request)
            elif isinstance(ev, ConnectionClosed):
                conn = ev.connection
                session = self.sessions.pop(conn.socket_id, None)
                if session is not None:
                    payloads = conn.take_payloads()
                    if payloads:
                        self._feed(session, payloads)
                    self._end(session, conn.close_reason.value if conn.close_reason else "closed")

    # ------------------------------------------------------------------ callers
    def _on_request(self, req) -> None:
        gate = self.ports.gate
        if not gate.try_enter():
            log.warning("SRT caller %s:%d refused: max_connections %d reached", req.peer[0], req.peer[1],
                        gate.limit)
            self._send(self.endpoint.reject(req, REJ_RESOURCE), req.peer)
            return
        g = gevent.spawn(self._decide, req, self.endpoint)
        self.deciding.add(g)
        g.link(self.deciding.discard)

    def _decide(self, req, endpoint) -> None:
        """The caller's greenlet: decide, then accept (no switch from the last check to accept)."""
        cid = self.ports.next_cid()
        cid_var.set(cid)
        conf = self.conf
        session = SrtSession(self.ports, req, cid, conf.default_app, self._host(), self.srt_only, conf.sei_filter)
        log.info("SRT client ip=%s:%d, streamid=%r", session.ip, session.port, req.streamid[:200])
        accepted = False
        try:
            session.decide()
            if endpoint is not self.endpoint:
                raise Refused("the SRT server stopped", REJ_RESOURCE)
            session.check_publish()
            conn = endpoint.accept(req, now_us())
            self.sessions[conn.socket_id] = session
            accepted = True
            self._send(conn.response, conn.peer)
            session.start(conn, self.send_many, now_us, conf.payloadsize, lambda: self.kick(session))
        except Refused as e:
            log.warning("SRT client %s:%d refused (%d): %s", session.ip, session.port, e.reason, e)
            if endpoint is self.endpoint:
                self._send(endpoint.reject(req, e.reason), req.peer)
            session.close(f"refused {e.reason}")
        except Exception:
            log.exception("SRT client %s:%d: unexpected error", session.ip, session.port)
            if accepted:
                self.kick(session)
            else:
                session.close("internal error")
                if endpoint is self.endpoint:
                    self._send(endpoint.reject(req, REJ_RESOURCE), req.peer)
        finally:
            if not accepted:
                self.ports.gate.leave()

    def _host(self) -> str:
        host = self.conf.listen[0]
        return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host

    def kick(self, session: SrtSession) -> None:
        """End a session from anywhere (API DELETE, a player's source closing it): SHUTDOWN to the
        peer, then the same end as a peer's own close."""
        conn = session.conn
        if conn is None or self.endpoint is None or conn.socket_id not in self.endpoint.connections:
            return
        t = now_us()
        self._send(self.endpoint.close(conn, t), conn.peer)
        self._on_events(t)

    def _end(self, session: SrtSession, reason: str) -> None:
        token = cid_var.set(session.cid)
        try:
            session.close(reason)
        except Exception:  # noqa: BLE001 - a failing hook/unpublish never ends the loop
            log.exception("SRT close failed")
        finally:
            self.ports.gate.leave()
            cid_var.reset(token)
