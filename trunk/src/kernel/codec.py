"""FLV audio/video tag headers (legacy and Enhanced RTMP), codec ids and names, MP3 frame headers.

Enhanced RTMP (veovera enhanced-rtmp v1/v2) sets bit 0x80 of a video tag's first byte
(IsExHeader): the low nibble is then a PacketType, not a codec id, and a FourCC (``hvc1``,
``av01``, ``vp09``, ``avc1``) follows. Audio signals it with SoundFormat 9 and a FourCC.

The AVC and AAC specifics live in ``codec_avc`` and ``codec_aac``; their main names are
re-exported here so callers can ``from srs.kernel.codec import AvcConfig, AacConfig``.
Everything raises ``CodecError`` on malformed input.
"""
from __future__ import annotations

import struct
from typing import Optional

from srs.kernel.codec_aac import (AacConfig, AdtsHeader, adts_header,  # noqa: F401
                                  adts_split)
from srs.kernel.codec_avc import (NALU_AUD, NALU_IDR, NALU_PPS, NALU_SEI,  # noqa: F401
                                  NALU_SPS, AvcConfig, Sps, annexb_split, annexb_to_avcc,
                                  avcc_split, avcc_to_annexb, nalu_type)
from srs.kernel.errors import CodecError

# FLV VideoTagHeader.CodecID
VCODEC_H263 = 2
VCODEC_SCREEN = 3
VCODEC_VP6 = 4
VCODEC_VP6A = 5
VCODEC_SCREEN2 = 6
VCODEC_AVC = 7
VCODEC_HEVC = 12  # legacy (pre-Enhanced) HEVC id, as SRS 6 and Chinese CDNs use it
# Not FLV wire ids (Enhanced RTMP names these codecs by FourCC): our ids for them, SRS's for AV1.
VCODEC_AV1 = 13
VCODEC_VP9 = 14
VIDEO_CODEC_NAMES = {VCODEC_H263: "H263", VCODEC_SCREEN: "Screen", VCODEC_VP6: "VP6",
                     VCODEC_VP6A: "VP6Alpha", VCODEC_SCREEN2: "Screen2", VCODEC_AVC: "H264",
                     VCODEC_HEVC: "HEVC", VCODEC_AV1: "AV1", VCODEC_VP9: "VP9"}

# Enhanced RTMP video: IsExHeader bit, VideoPacketType, FourCC.
VIDEO_EX_HEADER = 0x80
EX_SEQUENCE_START = 0
EX_CODED_FRAMES = 1  # HEVC/AVC: with an SI24 composition time
EX_SEQUENCE_END = 2
EX_CODED_FRAMES_X = 3  # HEVC/AVC: composition time 0, not sent
EX_METADATA = 4  # AMF colorInfo; no picture
EX_MPEG2TS_SEQUENCE_START = 5  # AV1 config as the MPEG-2 TS descriptor carries it
EX_MULTITRACK = 6
EX_MODEX = 7  # modifier extension before the real packet type (v2)
VIDEO_FOURCCS = {b"avc1": VCODEC_AVC, b"hvc1": VCODEC_HEVC, b"av01": VCODEC_AV1, b"vp09": VCODEC_VP9}
# The legacy AVCPacketType each Enhanced packet type acts as (-1: neither header nor frame).
_EX_AS_AVC = {EX_SEQUENCE_START: 0, EX_MPEG2TS_SEQUENCE_START: 0, EX_CODED_FRAMES: 1,
              EX_CODED_FRAMES_X: 1, EX_SEQUENCE_END: 2}
# Codecs the GOP cache keeps (SRS 6: H.264 and HEVC; AV1/VP9 decode from a keyframe just as well).
GOP_CODECS = frozenset((VCODEC_AVC, VCODEC_HEVC, VCODEC_AV1, VCODEC_VP9))

# FLV AudioTagHeader.SoundFormat
ACODEC_PCM = 0
ACODEC_ADPCM = 1
ACODEC_MP3 = 2
ACODEC_PCM_LE = 3
ACODEC_NELLY16K = 4
ACODEC_NELLY8K = 5
ACODEC_NELLY = 6
ACODEC_G711A = 7
ACODEC_G711U = 8
ACODEC_EX_HEADER = 9  # Enhanced RTMP audio: low nibble AudioPacketType, then a FourCC
ACODEC_AAC = 10
ACODEC_SPEEX = 11
ACODEC_MP3_8K = 14
ACODEC_DEVICE = 15
AUDIO_CODEC_NAMES = {ACODEC_PCM: "LinearPCMPlatformEndian", ACODEC_ADPCM: "ADPCM",
                     ACODEC_MP3: "MP3", ACODEC_PCM_LE: "LinearPCMLittleEndian",
                     ACODEC_NELLY16K: "Nellymoser16kHzMono", ACODEC_NELLY8K: "Nellymoser8kHzMono",
                     ACODEC_NELLY: "Nellymoser", ACODEC_G711A: "G711ALaw",
                     ACODEC_G711U: "G711MuLaw", ACODEC_AAC: "AAC", ACODEC_SPEEX: "Speex",
                     ACODEC_MP3_8K: "MP3_8kHz", ACODEC_DEVICE: "DeviceSpecific"}

FRAME_KEY = 1
FRAME_INTER = 2
FRAME_DISPOSABLE = 3
FRAME_GENERATED_KEY = 4
FRAME_INFO = 5  # video info/command frame (no picture)

AVC_SEQUENCE_HEADER = 0
AVC_NALU = 1
AVC_END_OF_SEQUENCE = 2
AAC_SEQUENCE_HEADER = 0
AAC_RAW = 1

FLV_SAMPLE_RATES = (5512, 11025, 22050, 44100)


def video_codec_name(codec_id: int) -> str:
    return VIDEO_CODEC_NAMES.get(codec_id, "Other")


def audio_codec_name(sound_format: int) -> str:
    return AUDIO_CODEC_NAMES.get(sound_format, "Other")


class VideoTag:
    """The FLV VideoTagHeader of a video message; ``data_offset`` is where the body starts.

    ``avc_packet_type`` is the legacy AVCPacketType (0 sequence header, 1 frames, 2 end of
    sequence), also for Enhanced tags (their SequenceStart/CodedFrames[X]/SequenceEnd map onto
    it; Metadata and others give -1), so remuxers treat every codec alike. ``ex_packet_type``
    is the Enhanced VideoPacketType (-1 for a legacy tag), ``fourcc`` its FourCC (b"" legacy).
    """

    __slots__ = ("frame_type", "codec_id", "avc_packet_type", "cts", "data_offset",
                 "ex_packet_type", "fourcc")

    def __init__(self, frame_type, codec_id, avc_packet_type=-1, cts=0, data_offset=1,
                 ex_packet_type=-1, fourcc=b""):
        self.frame_type = frame_type
        self.codec_id = codec_id
        self.avc_packet_type = avc_packet_type
        self.cts = cts
        self.data_offset = data_offset
        self.ex_packet_type = ex_packet_type
        self.fourcc = fourcc

    @classmethod
    def parse(cls, payload) -> "VideoTag":
        if not payload:
            raise CodecError("empty video tag")
        b0 = payload[0]
        if b0 & VIDEO_EX_HEADER:
            return cls._parse_ex(payload)
        frame_type, codec_id = b0 >> 4, b0 & 0x0F
        if frame_type < 1 or frame_type > 5:
            raise CodecError(f"bad video frame type {frame_type}")
        if codec_id in (VCODEC_AVC, VCODEC_HEVC):
            if len(payload) < 5:
                raise CodecError(f"AVC video tag truncated: {len(payload)} bytes")
            return cls(frame_type, codec_id, payload[1], _si24(payload, 2), 5)
        return cls(frame_type, codec_id)

    @classmethod
    def _parse_ex(cls, payload) -> "VideoTag":
        b0 = payload[0]
        frame_type, packet_type = (b0 >> 4) & 0x07, b0 & 0x0F
        if frame_type < 1 or frame_type > 5:
            raise CodecError(f"bad video frame type {frame_type}")
        pos, n = 1, len(payload)
        while packet_type == EX_MODEX:  # skip the modifiers: [size-1][data] then the real type
            if pos >= n:
                raise CodecError("Enhanced RTMP ModEx truncated")
            size = payload[pos] + 1
            pos += 1
            if size == 256:
                size = int.from_bytes(payload[pos:pos + 2], "big") + 1
                pos += 2
            pos += size
            if pos >= n:
                raise CodecError("Enhanced RTMP ModEx truncated")
            packet_type = payload[pos] & 0x0F
            pos += 1
        if packet_type == EX_MULTITRACK:  # several tracks in one tag: passed through, not parsed
            return cls(frame_type, 0, -1, 0, pos, packet_type)
        if pos + 4 > n:
            raise CodecError(f"Enhanced RTMP video tag truncated: {n} bytes")
        fourcc = bytes(payload[pos:pos + 4])
        pos += 4
        codec_id = VIDEO_FOURCCS.get(fourcc, 0)
        cts = 0
        if packet_type == EX_CODED_FRAMES and codec_id in (VCODEC_HEVC, VCODEC_AVC):
            if pos + 3 > n:
                raise CodecError("Enhanced RTMP CodedFrames truncated")
            cts = _si24(payload, pos)
            pos += 3
        return cls(frame_type, codec_id, _EX_AS_AVC.get(packet_type, -1), cts, pos, packet_type,
                   fourcc)

    @property
    def codec_name(self) -> str:
        return video_codec_name(self.codec_id)

    @property
    def is_keyframe(self) -> bool:
        return self.frame_type == FRAME_KEY

    @property
    def is_sequence_header(self) -> bool:
        return self.codec_id in GOP_CODECS and self.avc_packet_type == 0


def _si24(payload, pos: int) -> int:
    v = int.from_bytes(payload[pos:pos + 3], "big")
    return v - 0x1000000 if v & 0x800000 else v


def video_codec_of(payload) -> int:
    """The codec of a video payload without parsing the whole header: the legacy CodecID, or our
    id for an Enhanced FourCC (0 when unknown, multitrack or truncated)."""
    if not payload:
        return 0
    b0 = payload[0]
    if not b0 & VIDEO_EX_HEADER:
        return b0 & 0x0F
    if b0 & 0x0F in (EX_MODEX, EX_MULTITRACK):
        try:
            return VideoTag.parse(payload).codec_id
        except CodecError:
            return 0
    return VIDEO_FOURCCS.get(bytes(payload[1:5]), 0)


def is_video_sequence_header(payload) -> bool:
    """An AVC/HEVC sequence header or an Enhanced SequenceStart (for ``Message.seq_header``)."""
    if len(payload) < 2:
        return False
    b0 = payload[0]
    if not b0 & VIDEO_EX_HEADER:
        return (b0 & 0x0F) in (VCODEC_AVC, VCODEC_HEVC) and payload[1] == 0
    pt = b0 & 0x0F
    if pt == EX_MODEX:
        return _modex_packet_type(payload) == 0
    return pt == EX_SEQUENCE_START or pt == EX_MPEG2TS_SEQUENCE_START


def is_video_frame(payload) -> bool:
    """A coded picture of H.264/HEVC (legacy packet type 1) or of any Enhanced FourCC
    (CodedFrames/CodedFramesX), not a header, end of sequence or metadata."""
    if len(payload) < 2:
        return False
    b0 = payload[0]
    if not b0 & VIDEO_EX_HEADER:
        return len(payload) >= 5 and payload[1] == 1
    pt = b0 & 0x0F
    if pt == EX_MODEX:
        return _modex_packet_type(payload) == 1
    return pt == EX_CODED_FRAMES or pt == EX_CODED_FRAMES_X


def _modex_packet_type(payload) -> Optional[int]:
    """The packet type a ModEx-wrapped Enhanced tag carries (0 header, 1 frame...), None if unreadable."""
    try:
        return VideoTag.parse(payload).avc_packet_type
    except CodecError:
        return None


class AudioTag:
    """The FLV AudioTagHeader of an audio message."""

    __slots__ = ("sound_format", "sound_rate", "sound_size", "sound_type", "aac_packet_type",
                 "data_offset")

    def __init__(self, sound_format, sound_rate, sound_size, sound_type, aac_packet_type=-1,
                 data_offset=1):
        self.sound_format = sound_format
        self.sound_rate = sound_rate  # index into FLV_SAMPLE_RATES
        self.sound_size = sound_size  # 0 = 8 bit, 1 = 16 bit
        self.sound_type = sound_type  # 0 = mono, 1 = stereo
        self.aac_packet_type = aac_packet_type
        self.data_offset = data_offset

    @classmethod
    def parse(cls, payload) -> "AudioTag":
        if not payload:
            raise CodecError("empty audio tag")
        b0 = payload[0]
        fmt = b0 >> 4
        if fmt == ACODEC_AAC:
            if len(payload) < 2:
                raise CodecError("AAC audio tag truncated")
            return cls(fmt, (b0 >> 2) & 3, (b0 >> 1) & 1, b0 & 1, payload[1], 2)
        return cls(fmt, (b0 >> 2) & 3, (b0 >> 1) & 1, b0 & 1)

    @property
    def codec_name(self) -> str:
        return audio_codec_name(self.sound_format)

    @property
    def sample_rate(self) -> int:
        return FLV_SAMPLE_RATES[self.sound_rate]

    @property
    def channels(self) -> int:
        return self.sound_type + 1

    @property
    def is_sequence_header(self) -> bool:
        return self.sound_format == ACODEC_AAC and self.aac_packet_type == 0


# Enhanced RTMP audio FourCCs and the names the API gives them.
AUDIO_FOURCC_NAMES = {b"Opus": "Opus", b"fLaC": "FLAC", b"ac-3": "AC3", b"ec-3": "EAC3",
                      b".mp3": "MP3", b"mp4a": "AAC"}
EX_AUDIO_SEQUENCE_START = 0


def is_audio_sequence_header(payload) -> bool:
    """An AAC sequence header, or an Enhanced audio SequenceStart (Opus/FLAC/... config)."""
    if len(payload) < 2:
        return False
    fmt = payload[0] >> 4
    if fmt == ACODEC_AAC:
        return payload[1] == 0
    return fmt == ACODEC_EX_HEADER and payload[0] & 0x0F == EX_AUDIO_SEQUENCE_START


def avc_payload(keyframe: bool, packet_type: int, cts: int, body: bytes) -> bytes:
    """An FLV/RTMP AVC video payload: 5-byte header + body (avcC or AVCC NALUs)."""
    b0 = ((FRAME_KEY if keyframe else FRAME_INTER) << 4) | VCODEC_AVC
    return struct.pack(">BB", b0, packet_type) + (cts & 0xFFFFFF).to_bytes(3, "big") + bytes(body)


def aac_payload(packet_type: int, body: bytes, stereo: bool = True) -> bytes:
    """An FLV/RTMP AAC audio payload; FLV always signals 44 kHz 16-bit for AAC."""
    b0 = (ACODEC_AAC << 4) | (3 << 2) | (1 << 1) | (1 if stereo else 0)
    return bytes((b0, packet_type)) + bytes(body)


# --- MP3 (MPEG-1/2/2.5 audio) frame headers
_MP3_BITRATES = {  # (version is MPEG-1, layer) -> kbps by index
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {"1": (44100, 48000, 32000), "2": (22050, 24000, 16000), "2.5": (11025, 12000, 8000)}
_MP3_VERSIONS = {0: "2.5", 2: "2", 3: "1"}


class Mp3Header:
    """An MPEG audio frame header: version "1"/"2"/"2.5", layer 1..3, sizes in bytes."""

    __slots__ = ("version", "layer", "bitrate", "sample_rate", "channels", "padding",
                 "frame_length", "samples")

    def __init__(self, version, layer, bitrate, sample_rate, channels, padding, frame_length,
                 samples):
        self.version = version
        self.layer = layer
        self.bitrate = bitrate  # bits per second
        self.sample_rate = sample_rate
        self.channels = channels
        self.padding = padding
        self.frame_length = frame_length
        self.samples = samples

    @classmethod
    def parse(cls, data, pos: int = 0) -> "Mp3Header":
        if len(data) - pos < 4:
            raise CodecError("MP3 header truncated")
        b1, b2, b3 = data[pos + 1], data[pos + 2], data[pos + 3]
        if data[pos] != 0xFF or (b1 & 0xE0) != 0xE0:
            raise CodecError("MP3 frame sync not found")
        version = _MP3_VERSIONS.get((b1 >> 3) & 3)
        layer = 4 - ((b1 >> 1) & 3)
        if version is None or layer == 4:
            raise CodecError("MP3 reserved version or layer")
        br_index, sr_index = b2 >> 4, (b2 >> 2) & 3
        if br_index in (0, 15) or sr_index == 3:
            raise CodecError(f"MP3 bad/free bitrate index {br_index} or rate index {sr_index}")
        mpeg1 = version == "1"
        bitrate = _MP3_BITRATES[(mpeg1, layer)][br_index] * 1000
        rate = _MP3_RATES[version][sr_index]
        padding = (b2 >> 1) & 1
        channels = 1 if (b3 >> 6) == 3 else 2
        if layer == 1:
            length, samples = (12 * bitrate // rate + padding) * 4, 384
        elif layer == 2 or mpeg1:
            length, samples = 144 * bitrate // rate + padding, 1152
        else:
            length, samples = 72 * bitrate // rate + padding, 576
        return cls(version, layer, bitrate, rate, channels, padding, length, samples)
