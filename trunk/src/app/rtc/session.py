"""One WebRTC session (SRS's SrsRtcConnection): ICE-lite, DTLS, SRTP, then its play or publish side.

A session is made by the signalling (signalling.py) with the negotiated answer, and lives in the
UDP server's tables (server.py) by its ICE ufrag and, once a binding request came, by its peer
address. States: NEW (answer sent, waiting for STUN) -> DTLS (a valid binding request came; the
handshake runs, we are passive unless the offer said otherwise) -> ESTABLISHED (SRTP keys from the
DTLS exporter; the play side attaches to the live source, the publish side gets a ``PublishSink``)
-> CLOSED. Every binding request with good MESSAGE-INTEGRITY refreshes the peer address: a client
that changes address (a NAT rebinding, a new interface) keeps the session.

The hook for publishing (WHIP, /rtc/v1/publish/) is ``PublishSink`` (below): the server builds one
with its ``publish_factory`` when the session is established, hands it every decrypted RTP packet
and RTCP compound, ticks it, and closes it with the session. The sink sends RTCP (NACK, PLI,
transport-cc) back through ``RtcSession.send_rtcp``.
"""
from __future__ import annotations

import enum
import logging
import time
from typing import Callable, List, Optional, Protocol

from srs.app.rtc.dtls import DtlsSession
from srs.app.rtc.play import Pithy, RtcPlayOutput
from srs.app.rtc.srtp import SrtpSession
from srs.protocol.rtc import rtcp
from srs.protocol.rtc.errors import RtcError
from srs.protocol.rtc.sdp import LocalIce, Negotiation
from srs.protocol.rtc.stun import BindingRequest

log = logging.getLogger(__name__)

PLAY = "rtc-play"
PUBLISH = "rtc-publish"
DTLS_HANDSHAKE_TIMEOUT_S = 10.0   # a handshake not finished by then (or stun_timeout) is hostile or broken


class State(enum.Enum):
    NEW = "new"
    DTLS = "dtls"
    ESTABLISHED = "established"
    CLOSED = "closed"


_TRANSITIONS = {
    State.NEW: (State.DTLS, State.CLOSED),
    State.DTLS: (State.ESTABLISHED, State.CLOSED),
    State.ESTABLISHED: (State.CLOSED,),
    State.CLOSED: (),
}


class PublishSink(Protocol):
    """What a publishing session feeds (built by the server's ``publish_factory(session)`` once the
    session is established; the publish helper's ingest implements it)."""

    def on_rtp(self, packet: bytes, now_ms: int) -> None:
        """One decrypted RTP packet from the publisher."""

    def on_rtcp(self, packets: list, now_ms: int) -> None:
        """A decrypted RTCP compound, parsed (protocol/rtc/rtcp.py objects)."""

    def on_timer(self, now_ms: int) -> None:
        """About every 20 ms: NACKs, PLIs, transport-cc feedback, jitter-buffer release."""

    def close(self) -> None:
        """The session ends: unpublish (the session fires on_unpublish itself)."""


class RtcSession:
    """One peer. All methods run in the UDP server's greenlet, but ``close`` (also the API's kick)."""

    def __init__(self, *, cid: int, kind: str, req, negotiation: Negotiation, local: LocalIce,
                 remote_ufrag: str, dtls: DtlsSession, token: str, stun_timeout_s: float,
                 strict_stun: bool = False):
        self.cid = cid
        self.kind = kind
        self.req = req
        self.negotiation = negotiation
        self.local = local
        self.remote_ufrag = remote_ufrag
        self.username = f"{local.ufrag}:{remote_ufrag}"   # SRS's session id
        self.dtls = dtls
        self.token = token
        self.stun_timeout_s = stun_timeout_s
        self.strict_stun = strict_stun
        self.state = State.NEW
        self.peer = None
        self.srtp: Optional[SrtpSession] = None
        now = time.monotonic()
        self.created = now
        self.last_recv = now
        self.dtls_since = 0.0
        self.close_reason = ""
        # wired by the server
        self.sendto: Callable = lambda data, addr: False
        self.on_closed: List[Callable[["RtcSession"], None]] = []
        # play side
        self.output: Optional[RtcPlayOutput] = None
        self.encoder = None           # the stream's RtcStreamEncoder or RtcForward (NACK answers, SRs)
        self.forward = None           # the stream's RtcForward when the publisher is a WebRTC session
        self.consumer = None
        self.source = None
        self.on_keyframe_request: Optional[Callable[[], bool]] = None   # a player's PLI -> True if forwarded
        # publish side
        self.sink: Optional[PublishSink] = None
        self.last_pli_forward = -1e9   # when a player's PLI was last passed on to this publisher
        # figures
        self.reported = (0, 0)        # (recv, sent) bytes already in the API's client entry
        self.recv_bytes = self.binding_requests = self.rtp_in = self.rtcp_in = 0
        self.nacks = self.retransmits = self.plis = self.firs = self.errors = 0
        self.pithy = Pithy(5.0)

    def _to(self, state: State) -> None:
        if state not in _TRANSITIONS[self.state]:
            raise RtcError(f"rtc session {self.state.value} -> {state.value}")
        self.state = state

    @property
    def established(self) -> bool:
        return self.state is State.ESTABLISHED

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    # ------------------------------------------------------------------ ICE
    def on_binding(self, request: BindingRequest, addr) -> bytes:
        """A binding request for our ufrag: check it, take ``addr`` as the peer, answer. Raises StunError."""
        request.verify(self.local.pwd, strict=self.strict_stun)
        if request.remote_ufrag != self.remote_ufrag:
            raise RtcError(f"STUN from ufrag {request.remote_ufrag[:32]!r}, the offer's is {self.remote_ufrag}")
        self.binding_requests += 1
        self.last_recv = time.monotonic()
        if self.peer != addr:
            if self.peer is not None:
                log.info("rtc session %s: peer moves %s:%d -> %s:%d", self.username, self.peer[0], self.peer[1],
                         addr[0], addr[1])
            self.peer = addr
            if self.output is not None:
                self.output.peer = addr
        reply = request.success(self.local.pwd, addr[0], addr[1])
        if self.state is State.NEW:
            self._to(State.DTLS)
            self.dtls_since = self.last_recv
        return reply

    def dtls_start(self) -> list:
        """Our first flight when the answer made us the DTLS client (an offer with setup:passive)."""
        return self.dtls.start()

    # ------------------------------------------------------------------ DTLS
    def on_dtls(self, data: bytes) -> list:
        """A DTLS record from the peer -> records to send. Raises DtlsError (the session ends)."""
        self.last_recv = time.monotonic()
        self.recv_bytes += len(data)
        out = self.dtls.feed(data)
        if self.dtls.done and self.srtp is None:
            self.srtp = SrtpSession(*self.dtls.srtp_keys())
            self._to(State.ESTABLISHED)
        if self.dtls.closed:
            self.close_reason = "DTLS close_notify"
        return out

    def dtls_timer(self, now: float) -> list:
        """DTLS retransmissions due (the peer lost our flight); raises DtlsError past the deadline."""
        if self.state is not State.DTLS:
            return []
        deadline = min(DTLS_HANDSHAKE_TIMEOUT_S, self.stun_timeout_s)
        if now - self.dtls_since > deadline:
            raise RtcError(f"DTLS handshake not done after {deadline:.0f}s")
        timeout = self.dtls.timeout()
        if timeout is not None and timeout <= 0:
            return self.dtls.handle_timeout()
        return []

    # ------------------------------------------------------------------ SRTP
    def on_rtp(self, data: bytes, now_ms: int) -> None:
        self.last_recv = time.monotonic()
        self.recv_bytes += len(data)
        plain = self.srtp.unprotect(data)
        self.rtp_in += 1
        if self.sink is not None:
            self.sink.on_rtp(plain, now_ms)

    def on_rtcp(self, data: bytes, now_ms: int) -> None:
        self.last_recv = time.monotonic()
        self.recv_bytes += len(data)
        packets = rtcp.parse_compound(self.srtp.unprotect_rtcp(data))
        self.rtcp_in += 1
        if self.sink is not None:
            self.sink.on_rtcp(packets, now_ms)
            return
        for p in packets:
            if isinstance(p, rtcp.Nack):
                self._on_nack(p)
            elif isinstance(p, rtcp.Pli):
                self.plis += 1
                forwarded = self.on_keyframe_request is not None and self.on_keyframe_request()
                if not forwarded and self.pithy.due("pli"):
                    log.info("rtc play %s: PLI from the player (%d), its source (RTMP, or a publisher asked "
                             "less than a second ago) is not asked for a keyframe", self.username, self.plis)
            elif isinstance(p, rtcp.Fir):
                self.firs += 1
                if self.pithy.due("fir"):
                    log.info("rtc play %s: FIR from the player (%d), not handled (as SRS)", self.username,
                             self.firs)

    def _on_nack(self, nack) -> None:
        self.nacks += 1
        if self.encoder is None or self.output is None:
            return
        packets = self.encoder.retransmit(nack.media_ssrc, nack.lost)
        if packets:
            self.retransmits += len(packets)
            self.output.write(packets)

    def send_rtcp(self, plain: bytes) -> None:
        """For the publish sink: protect an RTCP compound and send it to the peer."""
        if self.srtp is None or self.peer is None or self.closed:
            return
        if not self.sendto(self.srtp.protect_rtcp(plain), self.peer):
            self.errors += 1

    # ------------------------------------------------------------------ life
    def expired(self, now: float) -> bool:
        return now - self.last_recv > self.stun_timeout_s

    def figures(self) -> dict:
        out = self.output
        return {"rtc": {"state": self.state.value, "session": self.username,
                        "peer": f"{self.peer[0]}:{self.peer[1]}" if self.peer else "",
                        "binding_requests": self.binding_requests, "rtp_in": self.rtp_in, "rtcp_in": self.rtcp_in,
                        "nacks": self.nacks, "retransmits": self.retransmits, "plis": self.plis,
                        "packets_out": out.packets if out is not None else 0,
                        "send_drops": out.send_drops if out is not None else 0,
                        "queue_drops": out.queue_drops if out is not None else 0,
                        **self._path()}}

    def _path(self) -> dict:
        """How the media flows: a player "forward"ed from a WebRTC publisher (no transcoding) or
        "bridge"d from the live source (RTMP -> RTC); a publisher's forwarder figures."""
        if self.kind == PUBLISH:
            sink_forward = getattr(self.sink, "forward", None)
            return {"forward": sink_forward.figures()} if sink_forward is not None else {}
        if self.forward is not None:
            return {"path": "forward"}
        return {"path": "bridge"} if self.consumer is not None else {}

    def close(self, reason: str) -> None:
        """End the session (once): the server forgets it, the play/publish side ends, hooks fire."""
        if self.state is State.CLOSED:
            return
        self.close_reason = self.close_reason or reason
        self.state = State.CLOSED
        for cb in self.on_closed:
            try:
                cb(self)
            except Exception:  # noqa: BLE001 - every part of the teardown runs
                log.exception("rtc session %s: close step failed", self.username)
