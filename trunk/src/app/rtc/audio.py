"""Audio transcoders between RTMP's AAC and WebRTC's Opus, with PyAV (FFmpeg) in-process.

WebRTC carries Opus only and FLV/RTMP (and HLS) carry AAC, so each bridge transcodes audio once
per stream (never per player): ``AacToOpus`` for RTMP -> RTC (SRS's ``rtmp_to_rtc``, at
``opus_bitrate``), ``OpusToAac`` for RTC -> RTMP (``rtc_to_rtmp``, at ``aac_bitrate``).

Timestamps are counted in samples, not copied from the input: RTMP's millisecond timestamps
round 1024-sample AAC frames (21.33 ms) to whole ms and RTP Opus timestamps may skip (loss, DTX),
so output timestamps advance by exactly one frame per packet (960 for Opus at 48 kHz, 1024 for
AAC) from an anchor taken at the first input. The anchor is taken again when the input jumps by
more than ``RESYNC_MS`` (a republish, a clock step); a smaller hole in the Opus input (lost
packets, DTX) is filled with silence so the AAC track has no gap for HLS/FLV players to stall on;
Opus input that is behind (a duplicate, or the clock stepped back by an RTCP SR re-anchoring) is
dropped until it catches up, so the output never goes back either.

Bounded: input frames larger than the codecs allow are refused (``dropped``), a decode error
drops that frame only (``errors``), the silence filled at once is at most ``RESYNC_MS``, and what
the resampler holds is less than one output frame.
"""
from __future__ import annotations

import logging
from fractions import Fraction

from srs.core.lazy import lazy_module
from srs.kernel.codec_aac import AacConfig
from srs.kernel.errors import ERROR_AAC_DATA_INVALID, CodecError

av = lazy_module("av")   # the FFmpeg libraries load with the first transcoder (core/lazy.py)

log = logging.getLogger(__name__)

OPUS_RATE = 48000            # WebRTC's Opus clock (RFC 7587), whatever the encoded bandwidth
OPUS_FRAME = 960             # 20 ms, the browsers' default ptime
AAC_FRAME = 1024
RESYNC_MS = 1000             # an input jump larger than this re-anchors the output timestamps
MAX_AAC_FRAME = 8192         # 6144 bits per channel * 8 channels / 8 (ISO 14496-3), rounded up
MAX_OPUS_PACKET = 1275 * 3   # RFC 6716: 1275 bytes per frame, at most 120 ms of frames in code 3
DEFAULT_BITRATE = 48000      # SRS's opus_bitrate / aac_bitrate default
MIN_BITRATE, MAX_BITRATE = 8000, 320000


def _check_bitrate(bitrate: int) -> int:
    if not MIN_BITRATE <= bitrate <= MAX_BITRATE:
        raise ValueError(f"audio bitrate {bitrate} outside [{MIN_BITRATE}, {MAX_BITRATE}]")
    return bitrate


class _Clock:
    """Output timestamps from a sample count, anchored to the input's clock (``rate`` Hz)."""

    __slots__ = ("rate", "next_in", "next_out")

    def __init__(self, rate: int):
        self.rate = rate
        self.next_in = None      # where the next input should start if nothing was lost
        self.next_out = None     # timestamp of the next output frame

    def gap(self, ts: int) -> int:
        """Samples between where the input should be and ``ts``; re-anchors on a jump."""
        if self.next_in is None or abs(ts - self.next_in) > self.rate * RESYNC_MS // 1000:
            if self.next_in is not None:
                log.info(f"audio transcoder: input jumped {ts - self.next_in} samples, re-anchored")
            self.next_in = ts
            self.next_out = ts
            return 0
        return ts - self.next_in

    def advance_in(self, samples: int) -> None:
        self.next_in += samples

    def take_out(self, samples: int) -> int:
        ts = self.next_out
        self.next_out += samples
        return ts


class _Encoder:
    """decoded frames -> resampled to the encoder's layout, rate and frame size -> packets."""

    def __init__(self, codec: str, rate: int, fmt: str, frame: int, bitrate: int, layout="stereo",
                 options=None):
        ctx = av.CodecContext.create(codec, "w")
        if options:
            ctx.options = dict(options)
        ctx.sample_rate = rate
        ctx.layout = layout
        ctx.format = fmt
        ctx.bit_rate = _check_bitrate(bitrate)
        ctx.time_base = Fraction(1, rate)
        ctx.open()
        self.ctx = ctx
        self.frame = frame
        self.rate = rate
        self._resampler = av.AudioResampler(format=fmt, layout=layout, rate=rate, frame_size=frame)
        self._input_key = None

    def encode(self, frame) -> list:
        key = (frame.format.name, frame.layout.name, frame.sample_rate)
        if key != self._input_key:
            # A resampler is built for its first frame's parameters; a new stream layout or rate
            # (a republish with another AudioSpecificConfig) needs a new one.
            if self._input_key is not None:
                self._resampler = av.AudioResampler(format=self.ctx.format.name, layout="stereo",
                                                    rate=self.rate, frame_size=self.frame)
            self._input_key = key
        frame.pts = None
        out = []
        for resampled in self._resampler.resample(frame):
            resampled.pts = None
            out.extend(bytes(p) for p in self.ctx.encode(resampled))
        return out


def _silence(like, samples: int):
    """``samples`` of silence in the format of the decoded frame ``like`` (for the resampler)."""
    frame = av.AudioFrame(format=like.format.name, layout=like.layout.name, samples=samples)
    frame.sample_rate = like.sample_rate
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    return frame


class AacToOpus:
    """RTMP AAC -> Opus 48 kHz stereo 20 ms packets, for RTC players of an RTMP stream.

        t = AacToOpus(bitrate=48000)
        t.on_sequence_header(asc)                  # the FLV AudioSpecificConfig
        for payload, rtp_ts in t.transcode(raw, dts_ms): ...   # rtp_ts in 48 kHz, not wrapped

    ``rtp_ts`` starts at ``dts_ms * 48`` of the first frame (SRS's mapping) and then advances by
    960 per packet; mask it with ``0xFFFFFFFF`` for the RTP header.
    """

    def __init__(self, bitrate: int = DEFAULT_BITRATE):
        self._encoder = _Encoder("libopus", OPUS_RATE, "s16", OPUS_FRAME, bitrate)
        self._clock = _Clock(OPUS_RATE)
        self._decoder = None
        self.config: AacConfig | None = None
        self.frames_in = 0
        self.packets_out = 0
        self.dropped = 0         # frames before a sequence header, or too large
        self.errors = 0          # frames FFmpeg could not decode

    def on_sequence_header(self, asc: bytes) -> None:
        config = AacConfig.parse(bytes(asc))   # CodecError on a bad one: the stream is refused
        if self.config is not None and self.config.raw == config.raw:
            return
        decoder = av.CodecContext.create("aac", "r")
        decoder.extradata = bytes(asc)
        self._decoder = decoder
        self.config = config

    def transcode(self, raw: bytes, dts_ms: int) -> list:
        """One raw AAC frame at ``dts_ms`` -> ``[(opus_payload, rtp_ts_48k)]`` (0..n packets)."""
        if self._decoder is None or not raw or len(raw) > MAX_AAC_FRAME:
            self.dropped += 1
            return []
        self.frames_in += 1
        try:
            frames = self._decoder.decode(av.Packet(bytes(raw)))
        except av.FFmpegError as e:
            self.errors += 1
            log.warning(f"AAC->Opus: dropped an undecodable AAC frame ({e})")
            return []
        self._clock.gap(dts_ms * OPUS_RATE // 1000)   # AAC timestamps only anchor and resync
        out = []
        for frame in frames:
            self._clock.advance_in(frame.samples * OPUS_RATE // frame.sample_rate)
            for payload in self._encoder.encode(frame):
                out.append((payload, self._clock.take_out(OPUS_FRAME)))
        self.packets_out += len(out)
        return out


class OpusToAac:
    """RTC Opus RTP payloads -> AAC-LC raw frames (+ the AudioSpecificConfig) for RTMP/FLV/HLS.

        t = OpusToAac(bitrate=48000)
        asc = t.sequence_header                   # send as the FLV AAC sequence header first
        for raw, ts_48k in t.transcode(payload, rtp_ts_48k): ...

    ``rtp_ts_48k`` is the (unwrapped) RTP timestamp; output timestamps are in the same clock,
    one AAC frame (1024 samples, 21.33 ms) apart; divide by 48 for FLV milliseconds.
    """

    def __init__(self, bitrate: int = DEFAULT_BITRATE, sample_rate: int = OPUS_RATE):
        # FFmpeg's default AAC coder (twoloop) costs ~2.4% of a core per stream; "fast" a fraction
        self._encoder = _Encoder("aac", sample_rate, "fltp", AAC_FRAME, bitrate, options={"aac_coder": "fast"})
        decoder = av.CodecContext.create("opus", "r")
        decoder.sample_rate = OPUS_RATE
        decoder.layout = "stereo"
        self._decoder = decoder
        self._clock = _Clock(OPUS_RATE)
        self._out_step = AAC_FRAME * OPUS_RATE // sample_rate
        self._last = None        # the last decoded frame: the format silence is made in
        extradata = self._encoder.ctx.extradata
        if not extradata:
            raise CodecError("the AAC encoder gave no AudioSpecificConfig", ERROR_AAC_DATA_INVALID)
        self.sequence_header = bytes(extradata)
        self.config = AacConfig.parse(self.sequence_header)
        self.packets_in = 0
        self.frames_out = 0
        self.silence_samples = 0  # filled for lost packets / DTX
        self.dropped = 0
        self.errors = 0

    def transcode(self, payload: bytes, rtp_ts: int) -> list:
        """One Opus RTP payload -> ``[(raw_aac, ts_48k)]`` (0..n frames)."""
        if not payload or len(payload) > MAX_OPUS_PACKET:
            self.dropped += 1
            return []
        self.packets_in += 1
        try:
            frames = self._decoder.decode(av.Packet(bytes(payload)))
        except av.FFmpegError as e:
            self.errors += 1
            log.warning(f"Opus->AAC: dropped an undecodable Opus packet ({e})")
            return []
        gap = self._clock.gap(rtp_ts)
        if gap <= -OPUS_FRAME // 2:
            self.dropped += 1            # a duplicate or a late packet: its time is already played
            return []
        out = []
        if gap > 0 and self._last is not None:
            # Lost packets or DTX: silence keeps the AAC track continuous (players stall on holes).
            self.silence_samples += gap
            self._clock.advance_in(gap)
            self._emit(self._encoder.encode(_silence(self._last, gap)), out)
        for frame in frames:
            self._last = frame
            self._clock.advance_in(frame.samples * OPUS_RATE // frame.sample_rate)
            self._emit(self._encoder.encode(frame), out)
        return out

    def _emit(self, packets: list, out: list) -> None:
        for raw in packets:
            out.append((raw, self._clock.take_out(self._out_step)))
        self.frames_out += len(packets)
