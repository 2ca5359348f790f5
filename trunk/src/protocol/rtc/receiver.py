"""The receive side of a WebRTC publisher (SRS's SrsRtcPublishStream), sans-IO: decrypted RTP and
RTCP in, media frames and RTCP feedback out. Time is the caller's ``now_ms``.

Per track (the negotiated H.264 and Opus payload types) a ``JitterBuffer`` puts packets back in
order and says which to NACK; video then goes through the ``H264Reassembler`` into access units.
Feedback: NACKs for holes (SRS's 10/50 ms, 15 tries), a PLI at the start, when a hole is given up
and every ``pli_interval_ms`` (SRS's ``pli_for_rtmp``, so an RTMP/HLS player that joins gets a
keyframe soon), and transport-cc feedback (protocol/rtc/twcc.py) so the browser ramps its bitrate.

Timestamps: each track's 32-bit RTP clock is unwrapped and mapped to stream milliseconds. Until a
Sender Report comes, a track is anchored at its first packet's arrival (stream time 0 is the first
packet of any track), which keeps audio and video aligned to the network jitter. The video
track's first SR fixes the stream's NTP epoch without moving video (an audio SR that comes first
waits for it); each track's first SR re-anchors it on that epoch, so audio and video line up as
the publisher captured them (SRS's "avsync time"); audio absorbs the step (OpusToAac fills or
drops). Later SRs are ignored unless
they move a track by more than ``RESYNC_MS`` (a restarted clock).
"""
from __future__ import annotations

from srs.kernel.codec_avc import avcc_split
from srs.kernel.errors import CodecError
from srs.protocol.rtc import rtcp
from srs.protocol.rtc.errors import RtcError
from srs.protocol.rtc.jitter import JitterBuffer
from srs.protocol.rtc.nack_ring import AUDIO_RING_SIZE, VIDEO_RING_SIZE
from srs.protocol.rtc.rtp_h264 import VIDEO_CLOCK, H264Reassembler
from srs.protocol.rtc.twcc import TwccRecorder
from srs.protocol.rtp import RtpPacket

OPUS_CLOCK = 48000
PLI_INTERVAL_MS = 6000        # SRS's pli_for_rtmp default (6 s)
PLI_MIN_GAP_MS = 1000         # loss-triggered PLIs at most this often
RESYNC_MS = 1000
JITTER_MAX_WAIT_MS = 1000     # SRS keeps a NACKed packet alive 1 s


class VideoUnit:
    """One H.264 access unit: NALUs without start codes, at ``ts_ms`` (stream time)."""

    __slots__ = ("ts_ms", "nalus", "keyframe")

    def __init__(self, ts_ms: int, nalus: list, keyframe: bool):
        self.ts_ms, self.nalus, self.keyframe = ts_ms, nalus, keyframe


class AudioPacket:
    """One Opus payload; ``ts`` is stream time in 48 kHz samples (``ts // 48`` ms)."""

    __slots__ = ("ts", "payload")

    def __init__(self, ts: int, payload: bytes):
        self.ts, self.payload = ts, payload

    @property
    def ts_ms(self) -> int:
        return self.ts * 1000 // OPUS_CLOCK


def ntp_to_ms(ntp: int) -> int:
    return (ntp >> 32) * 1000 + ((ntp & 0xFFFFFFFF) * 1000 >> 32)


class TrackClock:
    """A track's RTP timestamps -> stream time in the track's clock units."""

    def __init__(self, clock: int):
        self.clock = clock
        self._last = None          # last extended timestamp seen
        self.anchor_rtp = None     # extended RTP ts ...
        self.anchor_units = 0      # ... at this stream time (clock units)
        self.synced = False        # anchored by a Sender Report

    def extend(self, ts32: int) -> int:
        if self._last is None:
            self._last = ts32
            return ts32
        delta = ((ts32 - self._last + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        ext = self._last + delta
        if delta > 0:
            self._last = ext
        return ext

    def units(self, ts32: int, now_ms: int, epoch_ms: int) -> int:
        ext = self.extend(ts32)
        if self.anchor_rtp is None:
            self.anchor_rtp = ext
            self.anchor_units = (now_ms - epoch_ms) * self.clock // 1000
        return ext - self.anchor_rtp + self.anchor_units

    def on_sr(self, sr_rtp32: int, sr_ms: int, epoch_ntp_ms: int) -> None:
        ext = self.extend(sr_rtp32)
        units = (sr_ms - epoch_ntp_ms) * self.clock // 1000
        if self.synced and self.anchor_rtp is not None:
            current = ext - self.anchor_rtp + self.anchor_units
            if abs(units - current) <= RESYNC_MS * self.clock // 1000:
                return
        self.anchor_rtp, self.anchor_units, self.synced = ext, units, True


class _Track:
    def __init__(self, kind: str, pt: int, clock: int, ring: int):
        self.kind = kind
        self.pt = pt
        self.rate = clock
        self.ring = ring
        self.ssrc = 0
        self.packets = 0
        self.restarts = 0
        self.restart()

    def restart(self) -> None:
        """A new SSRC (the publisher restarted its encoder): new sequence and timestamp spaces."""
        self.clock = TrackClock(self.rate)
        self.jitter = JitterBuffer(capacity=self.ring, max_wait_ms=JITTER_MAX_WAIT_MS)
        self.units: dict = {}      # RTP timestamp -> stream time of a video unit in assembly


class PublishReceiver:
    """One publisher's tracks. ``video_pt``/``audio_pt`` come from the negotiated answer (None: no
    such track); ``twcc_id`` is the negotiated transport-cc extension id (0: none)."""

    def __init__(self, video_pt, audio_pt, twcc_id: int = 0, sender_ssrc: int = 1, nack: bool = True,
                 pli_interval_ms: int = PLI_INTERVAL_MS, assemble: bool = True):
        self.assemble = assemble      # False: packets only feed NACK/PLI/transport-cc (nobody wants frames)
        self.tracks: dict = {}
        if video_pt is not None:
            self.tracks[video_pt] = _Track("video", video_pt, VIDEO_CLOCK, VIDEO_RING_SIZE)
        if audio_pt is not None:
            self.tracks[audio_pt] = _Track("audio", audio_pt, OPUS_CLOCK, AUDIO_RING_SIZE)
        self.video = self.tracks.get(video_pt)
        self.twcc_id = twcc_id
        self.twcc = TwccRecorder(sender_ssrc) if twcc_id else None
        self.sender_ssrc = sender_ssrc
        self.nack = nack
        self.pli_interval_ms = pli_interval_ms
        self.reassembler = H264Reassembler()
        self.epoch_ms = None          # local time of the first packet: stream time 0
        self.epoch_ntp_ms = None      # publisher's NTP ms at stream time 0 (first SR)
        self._pending_sr = None
        self._next_pli = None
        self._last_pli = -PLI_MIN_GAP_MS
        self._losses = 0
        self.plis = self.nacks = self.unknown_pt = self.srs = 0

    # ------------------------------------------------------------------ input
    def on_rtp(self, data: bytes, now_ms: int) -> None:
        """A decrypted RTP packet; RtcError when it does not parse (the caller drops it)."""
        try:
            pkt = RtpPacket.parse(data)
        except CodecError as e:
            raise RtcError(f"bad RTP packet: {e}") from None
        if self.twcc is not None:
            tseq = rtcp.transport_sequence(pkt.extension, self.twcc_id)
            if tseq is not None:
                self.twcc.record(tseq, pkt.ssrc, now_ms * 1000)
        track = self.tracks.get(pkt.payload_type)
        if track is None:
            self.unknown_pt += 1       # rtx/red/fec we did not negotiate, or garbage
            return
        if self.epoch_ms is None:
            self.epoch_ms = now_ms
        if track.ssrc and pkt.ssrc != track.ssrc:
            # its clock starts again where it arrives; an unfinished access unit is lost
            track.restart()
            track.restarts += 1
            if track is self.video:
                self.reassembler = H264Reassembler()
                self._next_pli = None      # ask the new encoder for a keyframe now
        track.ssrc = pkt.ssrc
        track.packets += 1
        if track.clock.anchor_rtp is None:
            track.clock.units(pkt.timestamp, now_ms, self.epoch_ms)   # anchored by its arrival
        track.jitter.push(pkt, now_ms)

    def on_rtcp(self, packets: list, now_ms: int) -> None:
        for p in packets:
            if isinstance(p, rtcp.SenderReport):
                self._on_sr(p)

    def _on_sr(self, sr) -> None:
        track = next((t for t in self.tracks.values() if t.ssrc == sr.ssrc and t.ssrc), None)
        if track is None or track.clock.anchor_rtp is None:
            return
        self.srs += 1
        epoch_track = self.video if self.video is not None else track
        if self.epoch_ntp_ms is None:
            if track is not epoch_track:
                self._pending_sr = sr        # audio waits: video's SR fixes the epoch, video never jumps
                return
            # the first SR of the epoch track keeps its current mapping, which fixes the NTP epoch
            clock = track.clock
            units = clock.extend(sr.rtp_ts) - clock.anchor_rtp + clock.anchor_units
            self.epoch_ntp_ms = ntp_to_ms(sr.ntp) - units * 1000 // clock.clock
        track.clock.on_sr(sr.rtp_ts, ntp_to_ms(sr.ntp), self.epoch_ntp_ms)
        pending, self._pending_sr = self._pending_sr, None
        if pending is not None:
            self._on_sr(pending)

    # ------------------------------------------------------------------ output
    def tick(self, now_ms: int):
        """``(rtcp_packets, frames)``: RTCP bytes to send back, and media in arrival order per track
        (``VideoUnit`` and ``AudioPacket``)."""
        out_rtcp: list = []
        frames: list = []
        if self.twcc is not None:
            out_rtcp += self.twcc.feedback(now_ms)
        for track in self.tracks.values():
            if not track.ssrc:
                continue
            if self.nack:
                lost = track.jitter.nacks(now_ms)
                if lost:
                    self.nacks += 1
                    out_rtcp.append(rtcp.Nack(self.sender_ssrc, track.ssrc, lost).build())
            for pkt in track.jitter.pop(now_ms):
                if self.assemble:
                    frames += self._frames(track, pkt, now_ms)
        video = self.video
        if video is not None and video.ssrc and self._pli_due(now_ms):
            self.plis += 1
            self._last_pli = now_ms
            self._next_pli = now_ms + self.pli_interval_ms
            out_rtcp.append(rtcp.Pli(self.sender_ssrc, video.ssrc).build())
        return out_rtcp, frames

    def _pli_due(self, now_ms: int) -> bool:
        losses = self.video.jitter.gave_up + self.reassembler.lost
        due = self._next_pli is None or now_ms >= self._next_pli or (
            losses > self._losses and now_ms - self._last_pli >= PLI_MIN_GAP_MS)
        if due:
            self._losses = losses   # a loss in the PLI's shadow still asks once the gap is over
        return due

    def _frames(self, track: _Track, pkt, now_ms: int) -> list:
        units = track.clock.units(pkt.timestamp, now_ms, self.epoch_ms)
        if track.kind == "audio":
            return [AudioPacket(units, pkt.payload)] if pkt.payload else []
        # the reassembler returns RTP timestamps; ours replaces it (same packet, same unit)
        try:
            aus = self.reassembler.push(pkt)
        except RtcError:
            return []                  # a broken NALU: counted by the reassembler, PLI follows
        track.units[pkt.timestamp] = units
        out = []
        for ts32, avcc, key in aus:
            unit_ts = track.units.pop(ts32, units)
            out.append(VideoUnit(unit_ts * 1000 // VIDEO_CLOCK, list(avcc_split(avcc)), key))
        if len(track.units) > 64:      # timestamps of units that never completed
            for k in list(track.units)[:-8]:
                del track.units[k]
        return out
