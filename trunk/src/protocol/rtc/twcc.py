"""transport-cc receive side: arrival times of a publisher's packets -> feedback RTCP (sans-IO).

A browser publisher sends every packet with a transport-wide sequence number (the header
extension negotiated in the SDP) and estimates its bandwidth from our feedback: without it,
Chromium's pacer holds its bitrate at the start value (~300 kbps) or stops sending. The recorder
keeps the arrival time of each sequence number (``arrival_us`` on the caller's clock) and, once
per ``interval_ms``, reports every number from the first unreported one to the highest seen;
numbers that never arrived are reported lost. Bounded: at most ``max_packets`` per feedback
(older ones are skipped), and arrival times held only for numbers not yet reported.
"""
from __future__ import annotations

from srs.protocol.rtc.errors import RtcpError
from srs.protocol.rtc.rtcp import TransportCc

FEEDBACK_INTERVAL_MS = 50     # libwebrtc's receive-side feedback every 50-100 ms
MAX_PACKETS_PER_FEEDBACK = 1000


class TwccRecorder:
    def __init__(self, sender_ssrc: int, interval_ms: int = FEEDBACK_INTERVAL_MS,
                 max_packets: int = MAX_PACKETS_PER_FEEDBACK):
        self.sender_ssrc = sender_ssrc
        self.interval_ms = interval_ms
        self.max_packets = max_packets
        self.media_ssrc = 0
        self.next = None          # the first transport sequence number not yet reported
        self._arrivals: dict = {}
        self._highest = None
        self._due = 0
        self.feedbacks = 0
        self.late = 0             # arrived after their number was reported lost

    def record(self, tseq: int, media_ssrc: int, arrival_us: int) -> None:
        tseq &= 0xFFFF
        self.media_ssrc = media_ssrc
        if self.next is None:
            self.next = tseq
        ahead = (tseq - self.next) & 0xFFFF
        if ahead >= 0x8000:
            self.late += 1
            return
        self._arrivals[tseq] = arrival_us
        if self._highest is None or ahead > (self._highest - self.next) & 0xFFFF:
            self._highest = tseq
        if len(self._arrivals) > 2 * self.max_packets:   # never reported (no ticks): keep the newest
            self._skip_to((self._highest - self.max_packets) & 0xFFFF)

    def _skip_to(self, seq: int) -> None:
        while self.next != seq:
            self._arrivals.pop(self.next, None)
            self.next = (self.next + 1) & 0xFFFF

    def feedback(self, now_ms: int) -> list:
        """RTCP bytes to send now (none, or one transport-cc feedback)."""
        if self._highest is None or now_ms < self._due or not self._arrivals:
            return []
        self._due = now_ms + self.interval_ms
        count = ((self._highest - self.next) & 0xFFFF) + 1
        if count > self.max_packets:
            self._skip_to((self._highest - self.max_packets + 1) & 0xFFFF)
            count = self.max_packets
        seqs = [(self.next + i) & 0xFFFF for i in range(count)]
        packets = [(s, self._arrivals.pop(s, None)) for s in seqs]
        base = self.next
        self.next = (self._highest + 1) & 0xFFFF
        self._highest = None
        received = [a for _, a in packets if a is not None]
        if not received:
            return []
        try:
            fb = TransportCc(self.sender_ssrc, self.media_ssrc, base, min(received), self.feedbacks,
                             packets).build()
        except RtcpError:
            # arrival deltas beyond 16 bits of 250 us (a stall of > 8 s): report from here on
            return []
        self.feedbacks += 1
        return [fb]
