"""A test-only WebRTC peer on one UDP socket (127.0.0.1), built on the product's session: it
answers one offer with protocol/rtc/sdp.py, and an ``RtcSession`` (app/rtc/session.py, the server's
own) does ICE-lite (binding requests checked and answered, the peer address refreshed), the DTLS
handshake (server, or client when the offer says setup:passive) and SRTP. The harness then sends the
given RTP packets through the session's SRTP, paced, and, as the session's ``PublishSink``, receives
what a publishing peer sends: transport-cc feedback, the jitter buffer with NACKs, H.264 reassembly.

It is not the server (app/rtc/server.py): one OS thread, one peer, no config; the interop tests use
it to check our parts against Chromium and aiortc without the server's admission and fan-out.
"""
from __future__ import annotations

import select
import socket
import threading
import time

from srs.app.rtc.dtls import DtlsCertificate, DtlsSession
from srs.app.rtc.session import PLAY, PUBLISH, RtcSession
from srs.protocol.rtc import rtcp, stun
from srs.protocol.rtc.jitter import JitterBuffer
from srs.protocol.rtc.rtp_h264 import H264Reassembler
from srs.protocol.rtp import RtpPacket
from srs.protocol.rtc.sdp import LocalIce, build_answer, negotiate, parse_offer

PACKET_INTERVAL_S = 0.002     # paced: no burst over the receiver's socket buffer on a loaded box
DTLS_RETRANSMIT_CHECK_S = 0.05


class RtcHarness:
    def __init__(self, certificate: DtlsCertificate | None = None, realtime: bool = False):
        self.certificate = certificate or DtlsCertificate.generate()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.ufrag, self.pwd = "srsufrag", "srs0pwd0for0the0interop0test0000"
        self.session: RtcSession | None = None
        self.packets: list = []          # RtpPacket to send after DTLS
        self.realtime = realtime         # pace by RTP timestamp (a browser renders in real time)
        self.errors: list = []
        # publish direction: SRTP in -> jitter buffer (NACKs back) -> H.264 access units
        self.jitter = JitterBuffer(capacity=512, max_wait_ms=1000)
        self.reassembler = H264Reassembler()
        self.units: list = []            # (rtp timestamp, avcc bytes, keyframe)
        self.nacks_sent = 0
        # transport-cc: Chromium's pacer stops sending when its feedback never comes
        self.twcc_arrivals: dict = {}    # transport seq -> arrival us
        self.twcc_next = None            # first transport seq not yet reported
        self.twcc_feedbacks = 0
        self._twcc_due = 0.0
        self.rtp_in = 0
        self.rtp_all = 0
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def answer(self, offer_sdp: str, publish: bool, ssrcs=None, stream: str = "live/livestream") -> str:
        offer = parse_offer(offer_sdp)
        self.negotiation = negotiate(offer, publish=publish)
        local = LocalIce(self.ufrag, self.pwd, self.certificate.fingerprint,
                         [("127.0.0.1", self.port)], ssrcs or {}, cname="srsinterop")
        fp = offer.fingerprint or next(m.fingerprint for m in offer.media if m.fingerprint)
        algo, _, value = fp.partition(" ")
        dtls = DtlsSession(self.certificate, self.negotiation.setup, value if algo == "sha-256" else "")
        self.session = RtcSession(cid=0, kind=PUBLISH if publish else PLAY, req=None, negotiation=self.negotiation,
                                  local=local, remote_ufrag=offer.remote_ice()[0], dtls=dtls, token="harness",
                                  stun_timeout_s=60.0)
        if publish:
            self.session.sink = self      # on_rtp/on_rtcp/on_timer/close below
        return build_answer(self.negotiation, local, publish, stream, session_id=1)

    # the session's state, as the tests read it
    @property
    def dtls(self) -> DtlsSession | None:
        return self.session.dtls if self.session is not None else None

    @property
    def srtp(self):
        return self.session.srtp if self.session is not None else None

    @property
    def peer(self):
        return self.session.peer if self.session is not None else None

    @property
    def binding_requests(self) -> int:
        return self.session.binding_requests if self.session is not None else 0

    @property
    def rtcp_in(self) -> int:
        return self.session.rtcp_in if self.session is not None else 0

    def start(self):
        self._thread.start()
        return self

    def close(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.sock.close()

    def _run(self):
        queue = None
        next_send = 0.0
        while not self._stop.is_set():
            timeout = DTLS_RETRANSMIT_CHECK_S
            if queue:
                timeout = max(0.0, min(timeout, next_send - time.monotonic()))
            readable, _, _ = select.select([self.sock], [], [], timeout)
            if readable:
                data, addr = self.sock.recvfrom(65536)
                try:
                    self._on_datagram(data, addr)
                except Exception as e:  # a test harness: keep going, the test asserts on errors
                    self.errors.append(repr(e))
            if self.srtp is not None and self.peer:
                try:
                    self._jitter_tick(int(time.monotonic() * 1000))
                except Exception as e:  # as above: recorded for the test's assertions
                    self.errors.append(repr(e))
            if self.session is not None and self.peer:
                try:
                    for out in self.session.dtls_timer(time.monotonic()):
                        self.sock.sendto(out, self.peer)
                except Exception as e:  # as above
                    self.errors.append(repr(e))
            if self.srtp is not None and queue is None:
                queue = list(self.packets)
                start = next_send = time.monotonic()
                ts0 = queue[0].timestamp if queue else 0
            if queue and time.monotonic() >= next_send:
                pkt = queue.pop(0)
                self.sock.sendto(self.srtp.protect(pkt.build()), self.peer)
                self.sent += 1
                if self.realtime and queue:
                    next_send = max(next_send + PACKET_INTERVAL_S / 4,
                                    start + ((queue[0].timestamp - ts0) & 0xFFFFFFFF) / 90000)
                else:
                    next_send += PACKET_INTERVAL_S

    def _on_datagram(self, data: bytes, addr) -> None:
        session = self.session
        kind = stun.classify(data)
        if kind == stun.PACKET_STUN:
            req = stun.BindingRequest.parse(data)
            if req.local_ufrag != self.ufrag:
                raise ValueError(f"STUN for ufrag {req.local_ufrag}")
            first = session.binding_requests == 0
            # ICE-lite: every request refreshes the peer address (the session checks it first)
            self.sock.sendto(session.on_binding(req, addr), addr)
            if first and session.dtls.role == "active":
                # an offer with setup:passive (FFmpeg's WHIP muxer) makes us the DTLS client:
                # like SRS, start the handshake right after the first binding request
                for out in session.dtls_start():
                    self.sock.sendto(out, addr)
        elif kind == stun.PACKET_DTLS and session is not None and session.peer is not None:
            for out in session.on_dtls(data):
                self.sock.sendto(out, addr)
        elif kind == stun.PACKET_RTCP and self.srtp is not None:
            session.on_rtcp(data, int(time.monotonic() * 1000))
        elif kind == stun.PACKET_RTP and self.srtp is not None:
            session.on_rtp(data, int(time.monotonic() * 1000))

    # ---- the session's PublishSink: what a publishing peer sends, decrypted by the session
    def on_rtp(self, plain: bytes, now_ms: int) -> None:
        pkt = RtpPacket.parse(plain)
        self.rtp_all += 1
        self._twcc_record(pkt)
        video = self.negotiation.track("video")
        if video is not None and pkt.payload_type == video.pt:
            self.rtp_in += 1
            self.media_ssrc = pkt.ssrc
            self.jitter.push(pkt, now_ms)

    def on_rtcp(self, packets: list, now_ms: int) -> None:
        pass

    def on_timer(self, now_ms: int) -> None:
        pass

    def _twcc_record(self, pkt) -> None:
        ids = [t.twcc_id for t in self.negotiation.tracks if t.twcc_id]
        tseq = rtcp.transport_sequence(pkt.extension, ids[0]) if ids else None
        if tseq is None:
            return
        self.twcc_media_ssrc = pkt.ssrc
        self.twcc_arrivals[tseq] = time.monotonic_ns() // 1000
        if self.twcc_next is None:
            self.twcc_next = tseq

    def _twcc_tick(self) -> None:
        if self.twcc_next is None or time.monotonic() < self._twcc_due or not self.twcc_arrivals:
            return
        self._twcc_due = time.monotonic() + 0.05
        highest = max(self.twcc_arrivals, key=lambda s: (s - self.twcc_next) & 0xFFFF)
        count = ((highest - self.twcc_next) & 0xFFFF) + 1
        seqs = [(self.twcc_next + i) & 0xFFFF for i in range(count)]
        packets = [(s, self.twcc_arrivals.pop(s, None)) for s in seqs]
        first = min(a for _, a in packets if a is not None)
        fb = rtcp.TransportCc(1, self.twcc_media_ssrc, self.twcc_next, first,
                              self.twcc_feedbacks, packets)
        self.sock.sendto(self.srtp.protect_rtcp(fb.build()), self.peer)
        self.twcc_feedbacks += 1
        self.twcc_next = (highest + 1) & 0xFFFF

    def _jitter_tick(self, now_ms: int) -> None:
        self._twcc_tick()
        lost = self.jitter.nacks(now_ms)
        if lost:
            nack = rtcp.Nack(1, self.media_ssrc, lost).build()
            self.sock.sendto(self.srtp.protect_rtcp(nack), self.peer)
            self.nacks_sent += 1
        for pkt in self.jitter.pop(now_ms):
            self.units += self.reassembler.push(pkt)
