"""WebRTC publish (WHIP, /rtc/v1/publish/) -> the live source, so RTMP, HTTP-FLV, HLS, DVR and
forward see an RTC publisher as they see an RTMP one (SRS's ``rtc_to_rtmp``).

``RtcIngest`` is the UDP server's ``PublishSink`` for one publishing session: decrypted RTP and
RTCP go into the sans-IO ``PublishReceiver`` (jitter buffers, NACK, PLI, transport-cc, RTP ->
stream time); every timer tick sends its RTCP back through the session and turns its frames into
RTMP messages: H.264 access units through ``AvcRawMuxer`` (AVC sequence header from the SPS/PPS,
keyframe flag, composition time 0: WebRTC has no B-frames), Opus through ``OpusToAac`` (transcoded
once, here) and ``AacRawMuxer`` (the AudioSpecificConfig first). ``BridgePublisher`` puts them in
time order and into the source with the API's figures.

``make_publish_factory`` builds what the UDP server calls when a publishing session's DTLS is
done: it takes the stream (one publisher per stream: a busy stream ends the new session) and
returns the sink. The signalling already ran the security rules and the on_publish hook; the
server fires on_unpublish when the session ends.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional

from srs.app.live.bridge import BridgePublisher
from srs.app.rtc.audio import OpusToAac
from srs.kernel.errors import CodecError, StreamBusy
from srs.kernel.log import cid_var
from srs.kernel.message import MSG_AUDIO, MSG_VIDEO
from srs.kernel.raw_muxer import AacRawMuxer, AvcRawMuxer
from srs.protocol.rtc import rtcp
from srs.protocol.rtc.errors import RtcError
from srs.protocol.rtc.receiver import OPUS_CLOCK, PLI_INTERVAL_MS, AudioPacket, PublishReceiver

log = logging.getLogger(__name__)

ERRORS_LOGGED_EVERY = 100   # bad packets are counted; one log line per this many


class RtcIngest(BridgePublisher):
    """One WebRTC publisher feeding ``source`` (already ``on_publish``-ed by the caller)."""

    def __init__(self, source, stats, req, negotiation, send_rtcp: Callable[[bytes], None], *,
                 nack: bool = True, pli_interval_ms: int = PLI_INTERVAL_MS, aac_bitrate: int = 48000,
                 audio_factory=OpusToAac, on_closed: Optional[Callable[[], None]] = None, cid: int = 0,
                 forward=None, bridge: bool = True):
        super().__init__(source, stats, req, "RTC publish")
        self.cid = cid
        self.forward = forward        # the stream's RtcForward (WebRTC players), or None
        self.bridge = bridge          # rtc_to_rtmp: frames into the live source
        self.on_closed = on_closed
        video, audio = negotiation.track("video"), negotiation.track("audio")
        twcc_id = next((t.twcc_id for t in negotiation.tracks if t.twcc_id), 0)
        self.receiver = PublishReceiver(video.pt if video is not None else None,
                                        audio.pt if audio is not None else None, twcc_id=twcc_id,
                                        nack=nack, pli_interval_ms=pli_interval_ms, assemble=bridge)
        self.send_rtcp = send_rtcp
        self.video = AvcRawMuxer()
        self.audio = AacRawMuxer()
        self.transcoder = audio_factory(aac_bitrate) if audio is not None and bridge else None
        kinds = [MSG_VIDEO] if video is not None else []
        self.interleaver.expect(kinds + ([MSG_AUDIO] if audio is not None else []))
        self._last_video_ms = -1
        self.bad_packets = 0
        self.closed = False

    # ------------------------------------------------------------------ PublishSink
    def on_rtp(self, packet: bytes, now_ms: int) -> None:
        if self.forward is not None:
            self.forward.on_rtp(packet)   # as received: the players do not wait for our jitter buffer
        try:
            self.receiver.on_rtp(packet, now_ms)
        except RtcError as e:
            self._bad(e)

    def on_rtcp(self, packets: list, now_ms: int) -> None:
        self.receiver.on_rtcp(packets, now_ms)
        if self.forward is not None:
            for p in packets:
                if isinstance(p, rtcp.SenderReport):
                    self.forward.on_sender_report(p)

    def on_timer(self, now_ms: int) -> None:
        if self.closed:
            return
        # the UDP server's timer runs for every session: our log lines name this one
        token = cid_var.set(self.cid)
        try:
            if self.forward is not None:
                self.forward.flush()
            feedback, frames = self.receiver.tick(now_ms)
            for data in feedback:
                self.send_rtcp(data)
            if frames and self.bridge:
                self.publish(self._messages(frames))
        finally:
            cid_var.reset(token)

    def close(self) -> None:
        """What the interleaver holds goes out, then ``on_closed`` (the factory's: unpublish)."""
        if self.closed:
            return
        self.closed = True
        r = self.receiver
        log.info("RTC publish %s ended: %d messages, video dropped=%d, nacks=%d, plis=%d, srs=%d, "
                 "transport-cc feedbacks=%d, bad packets=%d", self.req.stream_url, self.msgs, self.video.dropped,
                 r.nacks, r.plis, r.srs, r.twcc.feedbacks if r.twcc is not None else 0, self.bad_packets)
        try:
            if self.bridge:
                self.publish([], final=True)
        finally:
            if self.on_closed is not None:
                self.on_closed()

    # ------------------------------------------------------------------ frames -> messages
    def _messages(self, frames) -> list:
        msgs = []
        for f in frames:
            try:
                if isinstance(f, AudioPacket):
                    msgs += self._audio(f)
                else:
                    # RTMP wants increasing video timestamps, whatever the publisher's RTP says
                    ts = max(f.ts_ms, self._last_video_ms + 1) if self._last_video_ms >= 0 else f.ts_ms
                    self._last_video_ms = ts
                    msgs += self.video.on_nalus(f.nalus, ts)
            except CodecError as e:
                self._bad(e)
        return msgs

    def _audio(self, pkt: AudioPacket) -> list:
        t = self.transcoder
        if t is None:
            return []
        out = []
        for raw, ts in t.transcode(pkt.payload, pkt.ts):
            out += self.audio.on_raw(raw, ts * 1000 // OPUS_CLOCK, t.sequence_header)
        return out

    def _bad(self, e: Exception) -> None:
        self.bad_packets += 1
        if self.bad_packets % ERRORS_LOGGED_EVERY == 1:
            log.warning("RTC publish %s: dropped a bad packet (%d so far): %s", self.req.stream_url,
                        self.bad_packets, e)


def make_publish_factory(ports) -> Callable:
    """``(session, forward) -> RtcIngest`` for the UDP server's ``publish_factory`` (``ports``: config,
    sources, stats). With the vhost's ``rtc_to_rtmp`` on the session publishes the live source (a
    stream that got another publisher since the signalling ends the session); off, the stream
    reaches WebRTC players only (through ``forward``), as SRS 5 without its bridge."""

    def make(session, forward=None) -> Optional[RtcIngest]:
        req = session.req
        vc = ports.config().vhost(req.vhost)
        rtc = vc.rtc if vc is not None else None
        bridge = bool(getattr(rtc, "rtc_to_rtmp", False))
        src = ports.sources.fetch_or_create(req.stream_url, req.vhost) if bridge else None
        if src is not None:
            try:
                src.on_publish(session.cid)
            except StreamBusy as e:
                log.warning("RTC publish %s refused: %s", req.stream_url, e)
                session.close("stream busy")
                return None
        ports.stats.on_stream_publish(req, session.cid)

        def unpublish() -> None:
            if src is not None:
                src.on_unpublish()
            ports.stats.on_stream_unpublish(req)

        sink = RtcIngest(src, ports.stats, req, session.negotiation, session.send_rtcp,
                         nack=getattr(rtc, "nack", True),
                         # SRS's periodic PLI is for the RTMP side's GOPs; players ask by their own PLIs
                         pli_interval_ms=int(getattr(rtc, "pli_for_rtmp", 6.0) * 1000) if bridge else 3600_000,
                         aac_bitrate=getattr(rtc, "aac_bitrate", 48000), on_closed=unpublish, cid=session.cid,
                         forward=forward, bridge=bridge)
        video, audio = session.negotiation.track("video"), session.negotiation.track("audio")
        log.info("RTC publish %s: ingest started (video pt %s, audio pt %s, %s)", req.stream_url,
                 video.pt if video is not None else "-", audio.pt if audio is not None else "-",
                 f"rtc_to_rtmp on, Opus -> AAC {getattr(rtc, 'aac_bitrate', 48000)} bps" if bridge else
                 "rtc_to_rtmp off: WebRTC players only")
        return sink

    return make
