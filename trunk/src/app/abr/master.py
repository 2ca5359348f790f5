"""The HLS master playlist of an ABR ladder: one ``EXT-X-STREAM-INF`` per rendition (pure functions).

    text = render_master([Variant("livestream_480p.m3u8", 1166000, 852, 480, "avc1.42c01e,mp4a.40.2")])

BANDWIDTH is the rendition's peak: its video VBV max rate plus its audio bitrate (the source's when
audio is copied: ``COPIED_AUDIO_KBPS`` as a guess), plus ``TS_OVERHEAD`` for the MPEG-TS packets;
RESOLUTION and CODECS come from the rendition's own sequence headers (what x264 really made), so
a player (hls.js, Safari) can choose a level before it loads any segment.
"""
from __future__ import annotations

from collections import deque
from typing import List, NamedTuple, Optional, Tuple

from srs.kernel.codec import ACODEC_AAC, ACODEC_MP3, VCODEC_AVC, VideoTag
from srs.kernel.codec_aac import AacConfig
from srs.kernel.codec_avc import AvcConfig
from srs.kernel.errors import CodecError
from srs.kernel.message import Message

TS_OVERHEAD = 1.1       # PES/TS headers and PAT/PMT on top of the elementary streams
COPIED_AUDIO_KBPS = 128  # a copied audio track's bitrate is not known here
MP3_CODECS = "mp4a.40.34"  # RFC 6381 for MPEG-1 layer 3 in TS (a copied MP3 track)


class Variant(NamedTuple):
    uri: str
    bandwidth: int   # bits per second
    width: int
    height: int
    codecs: str


def video_codecs(video_sh: Message) -> Optional[tuple]:
    """(``avc1.PPCCLL``, width, height) of an H.264 sequence header (RFC 6381), None otherwise."""
    try:
        tag = VideoTag.parse(video_sh.payload)
        if tag.codec_id != VCODEC_AVC or tag.avc_packet_type != 0:
            return None
        cfg = AvcConfig.parse(video_sh.payload[tag.data_offset:])
    except CodecError:
        return None
    return "avc1.%02x%02x%02x" % (cfg.profile_idc, cfg.compatibility, cfg.level_idc), cfg.width, cfg.height


def audio_codecs(audio_sh: Optional[Message]) -> str:
    """``mp4a.40.<object type>`` of an AAC sequence header (MP3's for an MP3 track), "" for none."""
    if audio_sh is None or not audio_sh.payload:
        return ""
    if audio_sh.payload[0] >> 4 == ACODEC_MP3:
        return MP3_CODECS
    if len(audio_sh.payload) < 3 or audio_sh.payload[0] >> 4 != ACODEC_AAC:
        return ""
    try:
        return "mp4a.40.%d" % AacConfig.parse(audio_sh.payload[2:]).object_type
    except CodecError:
        return ""


def bandwidth_bps(vbitrate_kbps: int, abitrate_kbps: int, has_audio: bool) -> int:
    audio = (abitrate_kbps or COPIED_AUDIO_KBPS) if has_audio else 0
    return int((vbitrate_kbps + audio) * 1000 * TS_OVERHEAD)


class PeakRate:
    """The source's peak bitrate, for listing it in the masters (``abr { source on; }``): its payload
    bytes from one video keyframe to the next over their time span, video and audio apart, the GOP
    with the highest total of the last ``GOPS`` (bounded). Media time, no clock: pure."""

    GOPS = 8
    MIN_SPAN_MS = 200   # keyframes closer than this are taken as one GOP (no rate from a sliver)

    def __init__(self):
        self.start: Optional[int] = None
        self.video = self.audio = 0
        self.rates: deque = deque(maxlen=self.GOPS)

    def add(self, msg: Message) -> None:
        if msg.seq_header or not msg.is_av:
            return
        if msg.is_video and msg.keyframe:
            span = msg.ts_ms - self.start if self.start is not None else -1
            if span >= self.MIN_SPAN_MS:
                self.rates.append((self.video * 8000 // span, self.audio * 8000 // span))
            if span < 0 or span >= self.MIN_SPAN_MS:  # first keyframe, or time went back: restart
                self.start, self.video, self.audio = msg.ts_ms, 0, 0
        if self.start is None:
            return
        if msg.is_video:
            self.video += len(msg.payload)
        else:
            self.audio += len(msg.payload)

    def peak(self) -> Tuple[int, int]:
        """(video, audio) bits per second of the busiest recent GOP; (0, 0) before two keyframes."""
        return max(self.rates, key=sum, default=(0, 0))


def render_master(variants: List[Variant]) -> bytes:
    """The master playlist, variants in the order given (the ladder's, highest first as configured)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for v in variants:
        lines.append('#EXT-X-STREAM-INF:BANDWIDTH=%d,RESOLUTION=%dx%d,CODECS="%s"' % (
            v.bandwidth, v.width, v.height, v.codecs))
        lines.append(v.uri)
    return ("\n".join(lines) + "\n").encode()
