"""WebRTC -> WebRTC: a WebRTC publisher's RTP forwarded to the stream's WebRTC players, untranscoded.

``RtcForward`` is one stream's forwarder (SRS's SrsRtcSource without its bridge), kept by the UDP
server (server.py) while the stream has a WebRTC publisher. The publisher's ingest hands it each
decrypted RTP packet straight as received, before its jitter buffer: waiting there for a hole to
be filled would add up to the jitter buffer's 1 s to every player's latency at each loss, and the
players have their own jitter buffers and NACK (answered from our ring; the packet we NACKed from
the publisher is forwarded when it comes, at its place in the sequence). Each packet's header is
re-written once (protocol/rtc/rtp_forward: the stream's SSRC, PT 102/111, our sequence), kept in
the track's NACK ring, and queued; the ingest's tick (every wake of the UDP loop: right after the
datagrams that woke it) ``flush``es the queue to the players, re-written once per distinct set of
payload types the players negotiated. Per player there is only the SRTP protect and the send
(play.py's ``RtcPlayOutput`` and ``RtcSender``). Opus goes as it came: no Opus -> AAC -> Opus.

A player starts at a keyframe: with a GOP that began at most ``GOP_JOIN_MAX_AGE_S`` ago it gets
the packets since the keyframe at once; else it waits for the next keyframe, asked from the
publisher by PLI (repeated, at most once a second, while someone waits). The RTMP side of the
stream (rtc_to_rtmp on) is the ingest's business and unaffected.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from typing import Callable, List, Optional

from srs.app.rtc.play import (AUDIO_PT, NTP_EPOCH_OFFSET, OPUS_CLOCK, VIDEO_PT, Batch, Sent, random16,
                              map_pts, ring_answer, stream_ssrcs)
from srs.protocol.rtc import rtcp
from srs.protocol.rtc.errors import RtcError
from srs.protocol.rtc.nack_ring import AUDIO_RING_SIZE, VIDEO_RING_SIZE, NackRing
from srs.protocol.rtc.rtp_forward import TrackRewrite, h264_keyframe_start
from srs.protocol.rtc.rtp_h264 import VIDEO_CLOCK

log = logging.getLogger(__name__)

GOP_PACKETS_MAX = 2048        # a longer GOP (~2.5 MB) is not kept: joiners wait for the next keyframe
GOP_JOIN_MAX_AGE_S = 3.0      # an older GOP would be a burst of stale video: joiners wait instead
LATENCY_SAMPLES = 4096        # the last sends' server-added latency, for the API and the bench
MAX_PENDING = 512             # packets queued between two flushes (the UDP loop reads 256 a wake)


class RtcForward:
    def __init__(self, url: str):
        self.url = url
        ssrcs = stream_ssrcs(url)
        self.video = TrackRewrite(ssrcs["video"], VIDEO_PT, random16())
        self.audio = TrackRewrite(ssrcs["audio"], AUDIO_PT, random16())
        self.rings = {self.video.ssrc: NackRing(VIDEO_RING_SIZE), self.audio.ssrc: NackRing(AUDIO_RING_SIZE)}
        self.by_pt: dict = {}         # publisher's PT -> (TrackRewrite, ring, is video)
        self.publisher = None         # the publishing RtcSession
        self.request_keyframe: Callable[[], bool] = lambda: False
        self.players: list = []       # RtcSessions fed
        self.waiting: list = []       # RtcSessions waiting for a keyframe
        self.pending: Optional[Batch] = None
        self.gop: List[bytes] = []
        self.gop_ts = None            # RTP timestamp of the GOP's keyframe
        self.gop_since = 0.0
        self.gop_full = True          # nothing to give a joiner before the first keyframe
        self.sr: dict = {}            # our SSRC -> (rtp ts, monotonic s, clock) of the publisher's last SR
        self.latency: deque = deque(maxlen=LATENCY_SAMPLES)
        self.forwarded = self.dropped = self.keyframes = 0

    # ------------------------------------------------------------------ publisher side
    def set_publisher(self, session, request_keyframe: Callable[[], bool]) -> None:
        """A WebRTC publisher takes the stream: its negotiated PTs map to our tracks."""
        self.publisher = session
        self.request_keyframe = request_keyframe
        neg = session.negotiation
        video, audio = neg.track("video"), neg.track("audio")
        self.by_pt = {}
        if video is not None:
            self.by_pt[video.pt] = (self.video, self.rings[self.video.ssrc], True)
        if audio is not None:
            self.by_pt[audio.pt] = (self.audio, self.rings[self.audio.ssrc], False)
        self.gop, self.gop_ts, self.gop_full = [], None, True
        self.video.in_ssrc = self.audio.in_ssrc = None   # its first packets continue our sequences

    def clear_publisher(self) -> None:
        self.flush()
        self.publisher = None
        self.request_keyframe = lambda: False
        self.by_pt = {}
        self.sr.clear()

    @property
    def has_video(self) -> bool:
        return any(video for _, _, video in self.by_pt.values())

    def on_rtp(self, plain: bytes) -> None:
        """One decrypted RTP packet of the publisher, as received."""
        entry = self.by_pt.get(plain[1] & 0x7F) if len(plain) > 1 else None
        if entry is None:
            self.dropped += 1          # rtx/red/fec we did not negotiate, or garbage
            return
        track, ring, video = entry
        try:
            data, seq, ts, pos = track.rewrite(plain)
        except RtcError:
            self.dropped += 1
            return
        ring.put(Sent(seq, data))
        if video:
            if ts != self.gop_ts and h264_keyframe_start(data, pos):
                self._keyframe(ts)
            if not self.gop_full:
                self.gop.append(data)
                if len(self.gop) > GOP_PACKETS_MAX:
                    self.gop, self.gop_full = [], True
        pending = self.pending
        if pending is None:
            pending = self.pending = Batch(arrived=time.monotonic(), samples=self.latency)
        elif len(pending) >= MAX_PENDING:
            self.flush()
            pending = self.pending = Batch(arrived=time.monotonic(), samples=self.latency)
        pending.append(data)
        self.forwarded += 1

    def _keyframe(self, ts: int) -> None:
        """A keyframe starts with this packet: a new GOP, and the waiting players start here."""
        self.keyframes += 1
        self.gop, self.gop_ts, self.gop_since, self.gop_full = [], ts, time.monotonic(), False
        if self.waiting:
            self.flush()               # what came before the keyframe is not theirs
            self.players += self.waiting
            self.waiting = []

    def on_sender_report(self, sr) -> None:
        """The publisher's RTCP SR: its RTP/NTP mapping, which our SRs carry on (same timestamps)."""
        for track in (self.video, self.audio):
            if track.in_ssrc == sr.ssrc:
                clock = VIDEO_CLOCK if track is self.video else OPUS_CLOCK
                self.sr[track.ssrc] = (sr.rtp_ts, time.monotonic(), clock)

    def flush(self) -> None:
        """The queued packets to every player (the ingest's tick); waiting players ask again."""
        batch, self.pending = self.pending, None
        if self.waiting:
            self.request_keyframe()    # rate-limited by the server (once a second per publisher)
        if not batch:
            return
        variants: dict = {}
        for session in self.players:
            out = session.output
            if out is None or out.closed:
                continue
            mapped = variants.get(out.pt_key)
            if mapped is None:
                mapped = batch if not out.pt_map else Batch(map_pts(batch, out.pt_map), True, batch.arrived,
                                                             batch.samples)
                variants[out.pt_key] = mapped
            out.write(mapped)

    # ------------------------------------------------------------------ player side
    def add(self, session) -> None:
        """A player of the stream (its output made): it starts at a keyframe."""
        session.forward = session.encoder = self
        if not self.has_video:
            self.players.append(session)
            return
        if not self.gop_full and self.gop and time.monotonic() - self.gop_since <= GOP_JOIN_MAX_AGE_S:
            self.flush()               # the queued packets are in the GOP already
            session.output.write(list(self.gop))
            self.players.append(session)
            return
        self.waiting.append(session)
        self.request_keyframe()

    def remove(self, session) -> None:
        for group in (self.players, self.waiting):
            if session in group:
                group.remove(session)
        session.forward = session.encoder = None

    @property
    def sessions(self) -> list:
        return self.players + self.waiting

    def retransmit(self, media_ssrc: int, lost) -> list:
        return ring_answer(self.rings, media_ssrc, lost)

    def sender_reports(self, packets: int, octets: int) -> bytes:
        """Our SRs for one player: the publisher's RTP time carried on to now, against our NTP now
        (both tracks the same way: the browser's audio/video sync holds)."""
        if not self.sr:
            return b""
        now = time.monotonic()
        ntp = int((time.time() + NTP_EPOCH_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF
        reports = [rtcp.SenderReport(ssrc, ntp, int(rtp + (now - mono) * clock) & 0xFFFFFFFF, packets, octets)
                   for ssrc, (rtp, mono, clock) in self.sr.items()]
        return rtcp.build_compound(reports)

    def figures(self) -> dict:
        """For the publisher's API entry: players, packets, and the server-added latency (ms)."""
        lat = sorted(self.latency)
        pick = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 3)) if lat else (lambda q: None)
        return {"players": len(self.players), "waiting": len(self.waiting), "forwarded": self.forwarded,
                "dropped": self.dropped, "keyframes": self.keyframes,
                "latency_ms": {"median": pick(0.5), "p95": pick(0.95), "samples": len(lat)}}
