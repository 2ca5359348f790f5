"""The WebRTC server (SRS's rtc_server): one UDP socket, one greenlet, every session.

Each datagram is told apart by its first bytes (RFC 7983, protocol/rtc/stun.classify): a STUN
binding request finds its session by the USERNAME's local ufrag (and is checked with that
session's ice-pwd: only then does the sender's address become the session's peer), DTLS and
SRTP/SRTCP find theirs by the sender's address. Anything else, or anything from an address no
session owns, is dropped and counted (one log line per second at most): garbage on the port costs
its sender nothing but a parse. A session's failure (a broken DTLS handshake, a peer that sends
bad SRTP forever) ends that session alone, with a log line.

The loop also runs the timers: DTLS retransmissions and handshake deadline, ``stun_timeout``
(a session without a valid packet for that long is closed), the publish sinks' ticks and the
API's byte counters. Players are written by their source's tick (play.py), not by this loop.

Sessions are made by the signalling (signalling.py) with ``create_session``: each takes a slot of
the server's ``max_connections`` gate (shared with every TCP listener) until it closes.
"""
from __future__ import annotations

import errno
import fcntl
import ipaddress
import logging
import os
import socket as _stdsocket
import struct
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import gevent
from gevent import socket

from srs.app.live.source import Consumer
from srs.app.ports import CidSource, ClientStats, Clock, ConfigSource, ConnectionHooks, LiveSources
from srs.app.rtc.dtls import DtlsCertificate, DtlsSession
from srs.app.rtc.forward import RtcForward
from srs.app.rtc.play import BridgeOptions, RtcPlayOutput, RtcSender, attach_player, stream_ssrcs
from srs.app.rtc.session import PLAY, PUBLISH, RtcSession, State
from srs.app.server.listener import ConnectionGate
from srs.app.server.udp_batch import UdpBatchSender
from srs.kernel.errors import SrsError
from srs.kernel.log import cid_var, escape
from srs.protocol.rtc import rtcp, stun
from srs.protocol.rtc.errors import RtcError
from srs.protocol.rtc.sdp import LocalIce, Negotiation, build_answer

log = logging.getLogger(__name__)

ERROR_RTC_PORT = 5000          # SRS 4/5: the UDP port cannot be bound
MAX_WAIT_S = 0.02              # the loop wakes at least this often (DTLS retransmits, publish ticks)
RECV_BATCH = 256               # datagrams read per wake before the timers run
DATAGRAM_MAX = 1600            # a WebRTC datagram stays under the MTU
BUFFER_BYTES = 4 << 20         # a busy port must not cost datagrams (the kernel may clamp it)
HOUSEKEEPING_S = 1.0           # expiry and API counters this often
FAULT_LOG_INTERVAL_S = 1.0
PLI_FORWARD_INTERVAL_S = 1.0   # players' PLIs reach a WebRTC publisher at most this often


@dataclass(frozen=True)
class RtcPorts:
    """What the Server hands the WebRTC server (app.ports)."""

    config: ConfigSource
    clock: Clock
    next_cid: CidSource
    hooks: ConnectionHooks
    sources: LiveSources
    stats: ClientStats
    gate: ConnectionGate


class Refused(SrsError):
    """A session the server cannot take now (disabled, full): the signalling answers 503."""


def interface_ipv4s() -> list:
    """The IPv4 addresses of this host's interfaces but loopback (SIOCGIFADDR, Linux), for
    ``candidate *`` with use_auto_detect_network_ip."""
    out = []
    s = _stdsocket.socket(_stdsocket.AF_INET, _stdsocket.SOCK_DGRAM)
    try:
        for _, name in _stdsocket.if_nameindex():
            try:
                raw = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue
            ip = _stdsocket.inet_ntoa(raw[20:24])
            if not ip.startswith("127.") and ip not in out:
                out.append(ip)
    finally:
        s.close()
    return out


def _is_ipv4(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 4
    except ValueError:
        return False


def candidate_ips(conf, api_host: str, eip: str, port: int, env=os.environ) -> list:
    """SRS's candidate set, in its order: ``eip`` (ip[:port]), the API host the client used
    (api_as_candidates; loopback skipped), then ``candidate`` (``$NAME`` reads env NAME, unset is
    ``*``) and, when that is ``*``/``0.0.0.0``, the interfaces. [(ip, port)] without duplicates."""
    out = []

    def add(ip: str, p: int = port) -> None:
        if ip and (ip, p) not in out:
            out.append((ip, p))

    if eip:
        host, _, p = eip.rpartition(":") if eip.count(":") == 1 else (eip, "", "")
        add(host or eip, int(p) if p.isdigit() and 0 < int(p) < 65536 else port)
    host = api_host
    if conf.api_as_candidates and host and host not in ("localhost", "127.0.0.1", "::1"):
        if _is_ipv4(host):
            add(host)
        else:
            if conf.resolve_api_domain:
                try:
                    add(socket.gethostbyname(host))
                except OSError:
                    pass
            if conf.keep_api_domain:
                add(host)
    candidate = conf.candidate
    if candidate.startswith("$"):
        candidate = env.get(candidate[1:], "") or "*"
    if candidate not in ("*", "0.0.0.0"):
        add(candidate)
        return out
    if conf.use_auto_detect_network_ip:
        for ip in interface_ipv4s():
            add(ip)
    if not out:
        add("127.0.0.1")
    return out


class RtcServer:
    def __init__(self, ports: RtcPorts):
        self.ports = ports
        self.conf = None
        self.sock = None
        self.raw = None
        self.udp: Optional[UdpBatchSender] = None
        self.port = 0
        self.greenlet = None
        self.cid = 0
        self.certificate: Optional[DtlsCertificate] = None
        self._context = None
        self.by_ufrag: Dict[str, RtcSession] = {}
        self.by_addr: Dict[tuple, RtcSession] = {}
        self.by_cid: Dict[int, RtcSession] = {}
        # the publish helper's ingest: session -> PublishSink (None: publishers are accepted, media dropped)
        self.publish_factory: Optional[Callable[..., object]] = None
        self.forwards: Dict[str, RtcForward] = {}   # stream url -> its WebRTC publisher's forwarder
        self.sender = RtcSender()       # the players' send tick (play.py)
        self.dropped = 0
        self.send_errors = 0
        self._last_fault = 0.0
        self._last_housekeeping = 0.0

    # ------------------------------------------------------------------ life cycle
    @property
    def enabled(self) -> bool:
        return self.sock is not None

    def start(self, conf) -> None:
        """Listen if ``conf.enabled`` (rtc_server of the running config)."""
        self.conf = conf
        if not conf.enabled:
            return
        host, port = conf.listen
        host = host or "0.0.0.0"
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, opt, BUFFER_BYTES)
                except OSError:
                    pass
            sock.bind((host, port))
        except OSError as e:
            sock.close()
            raise SrsError(f"rtc: bind udp {host}:{port} failed: {e}", ERROR_RTC_PORT) from e
        if self.certificate is None:   # one certificate for the life of the process, as SRS
            self.certificate = DtlsCertificate.generate()
            self._context = self.certificate.context()
        self.sock = sock
        self.raw = getattr(sock, "_sock", sock)
        self.raw.setblocking(False)
        self.udp = UdpBatchSender(self.raw, "rtc")
        self.port = sock.getsockname()[1]
        self.cid = self.sender.cid = self.ports.next_cid()
        self.greenlet = gevent.spawn(self._run)
        log.info("RTC listen at udp://%s:%d, candidate=%s, fingerprint=%s", host, self.port, conf.candidate,
                 self.certificate.fingerprint)

    def stop(self) -> None:
        if self.sock is None:
            return
        for session in list(self.by_cid.values()):
            session.close("server stop")
        if self.greenlet is not None and self.greenlet is not gevent.getcurrent():
            self.greenlet.kill(block=True, timeout=1.0)
        self.greenlet = None
        self.sock.close()
        self.sock = self.raw = None
        log.info("RTC server stopped, %d datagrams dropped", self.dropped)

    def on_reload(self, old, new, changes) -> None:
        if any(c.kind == "rtc_server" for c in changes):
            self.stop()
            self.start(new.rtc_server)

    # ------------------------------------------------------------------ sessions
    def create_session(self, cid: int, kind: str, req, negotiation: Negotiation, vc, api_host: str, eip: str,
                       ufrag: str, pwd: str, token: str, session_id: int) -> tuple:
        """A new session for an accepted offer -> (session, answer SDP). Raises Refused."""
        if self.sock is None:
            raise Refused("rtc_server is disabled")
        if ufrag in self.by_ufrag:
            raise Refused(f"ICE ufrag {ufrag} is in use")
        gate = self.ports.gate
        if not gate.try_enter():
            raise Refused(f"max_connections {gate.limit} reached")
        try:
            offer = negotiation.offer
            fp = offer.fingerprint or next((m.fingerprint for m in offer.media if m.fingerprint), "")
            algo, _, value = fp.partition(" ")
            dtls = DtlsSession(self.certificate, negotiation.setup, value if algo == "sha-256" else "",
                               context=self._context)
            ssrcs = stream_ssrcs(req.stream_url) if kind == PLAY else {}
            local = LocalIce(ufrag, pwd, self.certificate.fingerprint,
                             candidate_ips(self.conf, api_host, eip, self.port), ssrcs, cname=token)
            remote_ufrag = offer.remote_ice()[0]
            rtc = vc.rtc
            session = RtcSession(cid=cid, kind=kind, req=req, negotiation=negotiation, local=local,
                                 remote_ufrag=remote_ufrag, dtls=dtls, token=token,
                                 stun_timeout_s=rtc.stun_timeout, strict_stun=rtc.stun_strict_check)
            answer = build_answer(negotiation, local, kind == PUBLISH, f"{req.app}/{req.stream}", session_id)
        except BaseException:
            gate.leave()
            raise
        session.sendto = self._sendto
        session.on_closed.append(self._forget)
        # no greenlet switch from the ufrag check above to here: two offers cannot take one ufrag
        self.by_ufrag[ufrag] = session
        self.by_cid[cid] = session
        self.ports.stats.on_client(cid, req, kind, req.ip, lambda: session.close("kicked"), self.ports.clock())
        self.ports.stats.set_client_extra(cid, session.figures)
        return session, answer

    def find(self, username: str) -> Optional[RtcSession]:
        ufrag = username.partition(":")[0]
        session = self.by_ufrag.get(ufrag)
        return session if session is not None and session.username == username else None

    def _forget(self, session: RtcSession) -> None:
        """A session's teardown (its ``close``): out of the tables, its side ended, its gate slot back."""
        if self.by_cid.pop(session.cid, None) is None:
            return
        self.by_ufrag.pop(session.local.ufrag, None)
        if session.peer is not None and self.by_addr.get(session.peer) is session:
            del self.by_addr[session.peer]
        token = cid_var.set(session.cid)
        try:
            self._end(session)
        finally:
            self.ports.gate.leave()
            cid_var.reset(token)

    def _end(self, session: RtcSession) -> None:
        ports, req = self.ports, session.req
        vc = ports.config().vhost(req.vhost)
        hooks = vc.http_hooks if vc is not None and vc.http_hooks is not None and vc.http_hooks.enabled else None
        if session.output is not None:
            session.output.on_close = None
            session.output.close()
        self._detach_player(session)
        if session.kind == PLAY and session.req.stream_url in self.forwards:
            self._forget_forward(session.req.stream_url)
        if session.kind == PLAY and hooks is not None and hooks.on_stop:
            ports.hooks.on_stop(hooks.on_stop, req, session.cid, req.ip)
        if session.kind == PUBLISH:
            if session.sink is not None:
                session.sink.close()
            self._end_forward(session)
            if hooks is not None and hooks.on_unpublish:
                ports.hooks.on_unpublish(hooks.on_unpublish, req, session.cid, req.ip)
        self._report(session)
        ports.stats.on_disconnect(session.cid)
        log.info("RTC %s %s closed: %s, peer=%s, state reached=%s, recv=%dB, sent=%dB, nacks=%d, retransmits=%d",
                 session.kind, req.stream_url, session.close_reason, session.peer, session.dtls.done and "srtp" or
                 session.state.value, session.recv_bytes, session.output.sent_bytes if session.output else 0,
                 session.nacks, session.retransmits)

    def _report(self, session: RtcSession) -> None:
        sent = session.output.sent_bytes if session.output is not None else 0
        recv = session.recv_bytes
        old_recv, old_sent = session.reported
        if recv != old_recv or sent != old_sent:
            self.ports.stats.add_bytes(session.cid, recv - old_recv, sent - old_sent)
            session.reported = (recv, sent)

    def _established(self, session: RtcSession) -> None:
        """DTLS done: the player joins its stream's RTC group; the publisher gets its sink."""
        req = session.req
        log.info("RTC %s %s established, peer %s:%d, DTLS %s", session.kind, req.stream_url, session.peer[0],
                 session.peer[1], session.dtls.role)
        if session.kind == PUBLISH:
            self._start_forward(session)
            return
        vc = self.ports.config().vhost(req.vhost)
        neg = session.negotiation
        video, audio = neg.track("video"), neg.track("audio")
        output = RtcPlayOutput(session.cid, session.srtp.protect_batch, self.udp, session.peer,
                               video.pt if video is not None else 0, audio.pt if audio is not None else None,
                               self.sender)
        output.on_close = lambda: session.close("output closed")
        session.output = output
        session.on_keyframe_request = lambda: self._ask_publisher_keyframe(session)
        self._attach_player(session, vc)

    # ------------------------------------------------------------------ players: forwarded or bridged
    def _attach_player(self, session: RtcSession, vc=None) -> None:
        """A player with its output: forwarded from the stream's WebRTC publisher if it has one, else
        in the live source's RTC group (RTMP -> RTC, or waiting for any publisher)."""
        req = session.req
        fwd = self.forwards.get(req.stream_url)
        if fwd is not None and fwd.publisher is not None:
            fwd.add(session)
            return
        vc = vc or self.ports.config().vhost(req.vhost)
        src = self.ports.sources.fetch_or_create(req.stream_url, req.vhost)
        session.source = src
        session.consumer = Consumer(session.cid, session.output)
        session.encoder = attach_player(src, session.consumer, BridgeOptions.from_vhost(vc.rtc))

    def _detach_player(self, session: RtcSession) -> None:
        if session.consumer is not None:
            session.source.remove_consumer(session.consumer)
            session.consumer = session.source = None
        if session.forward is not None:
            session.forward.remove(session)
        session.encoder = None

    def publishing(self, url: str) -> bool:
        """A WebRTC publisher has the stream (with rtc_to_rtmp off the live source does not know)."""
        fwd = self.forwards.get(url)
        return fwd is not None and fwd.publisher is not None

    def _players_of(self, url: str) -> list:
        return [s for s in self.by_cid.values() if s.kind == PLAY and s.output is not None and not s.closed
                and s.req.stream_url == url]

    def _start_forward(self, session: RtcSession) -> None:
        """A WebRTC publisher established: its sink (the ingest), and its forwarder, to which the
        stream's WebRTC players move (from the RTC group where they waited)."""
        url = session.req.stream_url
        if self.publishing(url):
            log.warning("RTC publish %s refused: stream busy (a WebRTC publisher)", url)
            session.close("stream busy")
            return
        if self.publish_factory is None:
            return
        fwd = self.forwards.get(url) or RtcForward(url)   # a republish goes on in the same sequence spaces
        session.sink = self.publish_factory(session, fwd)
        if session.sink is None or session.closed:
            return
        fwd.set_publisher(session, lambda: self._pli(session, "a player waits for a keyframe"))
        self.forwards[url] = fwd
        for player in self._players_of(url):
            self._detach_player(player)
            fwd.add(player)

    def _end_forward(self, session: RtcSession) -> None:
        """The publisher is gone: its players go back to the live source's RTC group, where an RTMP
        publisher (rtmp_to_rtc) or the next WebRTC publisher finds them."""
        url = session.req.stream_url
        fwd = self.forwards.get(url)
        if fwd is None or fwd.publisher is not session:
            return
        fwd.clear_publisher()
        log.info("RTC publish %s forwarder ended: %s", url, fwd.figures())
        for player in fwd.sessions:
            fwd.remove(player)
            if not player.closed:
                self._attach_player(player)
        self._forget_forward(url)

    def _forget_forward(self, url: str) -> None:
        """A forwarder without a publisher is kept while the stream has WebRTC players: the next WHIP
        publisher's packets continue its sequence numbers, and the players' decoders see no jump."""
        fwd = self.forwards.get(url)
        if fwd is not None and fwd.publisher is None and not self._players_of(url):
            del self.forwards[url]

    def _ask_publisher_keyframe(self, player: RtcSession) -> bool:
        """A player's PLI goes on to the stream's WebRTC publisher (as SRS), at most once a second per
        publisher whatever the number of players; an RTMP/SRT source has nobody to ask."""
        fwd = self.forwards.get(player.req.stream_url)
        if fwd is None or fwd.publisher is None:
            return False
        return self._pli(fwd.publisher, f"from the player {player.username}")

    def _pli(self, pub: RtcSession, why: str) -> bool:
        """A PLI to a WebRTC publisher, unless one went less than a second ago (True if sent)."""
        if pub.kind != PUBLISH or not pub.established:
            return False
        video = pub.negotiation.track("video")
        now = time.monotonic()
        if video is None or not video.ssrc or now - pub.last_pli_forward < PLI_FORWARD_INTERVAL_S:
            return False
        pub.last_pli_forward = now
        pub.send_rtcp(rtcp.Pli(1, video.ssrc).build())
        log.info("rtc: PLI passed on to the publisher %s (%s)", pub.username, why)
        return True

    # ------------------------------------------------------------------ the loop
    def _run(self) -> None:
        cid_var.set(self.cid)
        raw = self.raw
        fd = raw.fileno()
        while True:
            try:
                socket.wait_read(fd, MAX_WAIT_S)
            except socket.timeout:
                pass
            try:
                for _ in range(RECV_BATCH):
                    try:
                        data, addr = raw.recvfrom(DATAGRAM_MAX)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as e:   # ICMP port unreachable from a gone peer: not ours to end
                        log.debug("rtc: recvfrom: %s", e)
                        continue
                    self._on_datagram(data, addr)
                self._timers()
            except Exception:  # noqa: BLE001 - the loop serves every session: log, go on
                log.exception("rtc: loop error")

    def _drop(self, why: str, data: bytes, addr) -> None:
        self.dropped += 1
        now = time.monotonic()
        if now - self._last_fault >= FAULT_LOG_INTERVAL_S:
            self._last_fault = now
            log.warning("rtc: datagram of %d bytes from %s:%d dropped (%d so far): %s", len(data), addr[0], addr[1],
                        self.dropped, escape(why)[:200])

    def _on_datagram(self, data: bytes, addr) -> None:
        kind = stun.classify(data)
        if kind == stun.PACKET_STUN:
            self._on_stun(data, addr)
            return
        session = self.by_addr.get(addr)
        if session is None:
            self._drop(f"{kind} from an address no session owns", data, addr)
            return
        token = cid_var.set(session.cid)
        try:
            if kind == stun.PACKET_DTLS:
                self._on_dtls(session, data)
            elif session.srtp is None:
                self._drop(f"{kind} before DTLS is done", data, addr)
            elif kind == stun.PACKET_RTP:
                session.on_rtp(data, self.ports.clock())
            elif kind == stun.PACKET_RTCP:
                session.on_rtcp(data, self.ports.clock())
            else:
                self._drop("not STUN, DTLS, RTP or RTCP", data, addr)
        except RtcError as e:
            # a bad SRTP packet (replay, wrong keys) or RTCP costs that packet only
            session.errors += 1
            if session.pithy.due("error"):
                log.warning("rtc session %s: %s packet dropped (%d so far): %s", session.username, kind,
                            session.errors, e)
        finally:
            cid_var.reset(token)

    def _on_stun(self, data: bytes, addr) -> None:
        try:
            req = stun.BindingRequest.parse(data)
        except RtcError as e:
            self._drop(f"STUN: {e}", data, addr)
            return
        session = self.by_ufrag.get(req.local_ufrag)
        if session is None or session.closed:
            self._drop(f"STUN for unknown ufrag {req.local_ufrag[:32]!r}", data, addr)
            return
        token = cid_var.set(session.cid)
        try:
            old_peer = session.peer
            first = session.state is State.NEW
            reply = session.on_binding(req, addr)
        except RtcError as e:
            self._drop(f"STUN for session {session.username}: {e}", data, addr)
            return
        finally:
            cid_var.reset(token)
        if old_peer != addr:
            if old_peer is not None and self.by_addr.get(old_peer) is session:
                del self.by_addr[old_peer]
            other = self.by_addr.get(addr)
            if other is not None and other is not session:
                other.peer = None   # the address moved to another session: the old one waits for its STUN
            self.by_addr[addr] = session
        self._sendto(reply, addr)
        if first and session.dtls.role == "active":
            for out in session.dtls_start():
                self._sendto(out, addr)

    def _on_dtls(self, session: RtcSession, data: bytes) -> None:
        was = session.established
        try:
            out = session.on_dtls(data)
        except RtcError as e:
            log.warning("rtc session %s: DTLS failed, session closed: %s", session.username, e)
            session.close(f"DTLS: {e}")
            return
        for d in out:
            self._sendto(d, session.peer)
        if session.dtls.closed:
            session.close("DTLS close_notify from the peer")
            return
        if session.established and not was:
            self._established(session)

    def _timers(self) -> None:
        now = time.monotonic()
        now_ms = self.ports.clock()
        for session in list(self.by_cid.values()):
            if session.sink is not None:
                session.sink.on_timer(now_ms)
            if session.state is State.DTLS:
                try:
                    for d in session.dtls_timer(now):
                        self._sendto(d, session.peer)
                except RtcError as e:
                    token = cid_var.set(session.cid)
                    log.warning("rtc session %s: DTLS handshake failed, session closed: %s", session.username, e)
                    session.close(f"DTLS: {e}")
                    cid_var.reset(token)
        if now - self._last_housekeeping < HOUSEKEEPING_S:
            return
        self._last_housekeeping = now
        for session in list(self.by_cid.values()):
            if session.expired(now):
                token = cid_var.set(session.cid)
                log.warning("rtc session %s: no STUN or media for %.0fs (stun_timeout), closed", session.username,
                            session.stun_timeout_s)
                session.close("stun_timeout")
                cid_var.reset(token)
            else:
                self._report(session)
                if session.encoder is not None and session.output is not None:
                    out = session.output
                    sr = session.encoder.sender_reports(out.packets, out.sent_bytes)
                    if sr:        # nothing before the stream's first message
                        session.send_rtcp(sr)

    def _sendto(self, data, addr) -> bool:
        """One non-blocking send; False when the kernel refused it (a full buffer drops the datagram:
        NACK or the DTLS retransmission brings it back)."""
        raw = self.raw
        if raw is None or addr is None:
            return False
        try:
            raw.sendto(data, addr)
            return True
        except (BlockingIOError, InterruptedError):
            self.send_errors += 1
        except OSError as e:
            self.send_errors += 1
            if e.errno not in (errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH):
                log.debug("rtc: sendto %s: %s", addr, e)
        return False
