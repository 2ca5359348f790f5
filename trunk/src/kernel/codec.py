"""FLV audio/video tag headers, codec ids and names, MP3 frame headers.

The AVC and AAC specifics live in ``codec_avc`` and ``codec_aac``; their main names are
re-exported here so callers can ``from srs.kernel.codec import AvcConfig, AacConfig``.
Everything raises ``CodecError`` on malformed input.
"""
from __future__ import annotations

import struct

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
VCODEC_HEVC = 12
VIDEO_CODEC_NAMES = {VCODEC_H263: "H263", VCODEC_SCREEN: "Screen", VCODEC_VP6: "VP6",
                     VCODEC_VP6A: "VP6Alpha", VCODEC_SCREEN2: "Screen2", VCODEC_AVC: "H264",
                     VCODEC_HEVC: "HEVC"}

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
    """The FLV VideoTagHeader of a video message; ``data_offset`` is where the body starts."""

    __slots__ = ("frame_type", "codec_id", "avc_packet_type", "cts", "data_offset")

    def __init__(self, frame_type, codec_id, avc_packet_type=-1, cts=0, data_offset=1):
        self.frame_type = frame_type
        self.codec_id = codec_id
        self.avc_packet_type = avc_packet_type
        self.cts = cts
        self.data_offset = data_offset

    @classmethod
    def parse(cls, payload) -> "VideoTag":
        if not payload:
            raise CodecError("empty video tag")
        b0 = payload[0]
        frame_type, codec_id = b0 >> 4, b0 & 0x0F
        if frame_type < 1 or frame_type > 5:
            raise CodecError(f"bad video frame type {frame_type}")
        if codec_id in (VCODEC_AVC, VCODEC_HEVC):
            if len(payload) < 5:
                raise CodecError(f"AVC video tag truncated: {len(payload)} bytes")
            cts = int.from_bytes(payload[2:5], "big")
            if cts & 0x800000:  # SI24
                cts -= 0x1000000
            return cls(frame_type, codec_id, payload[1], cts, 5)
        return cls(frame_type, codec_id)

    @property
    def codec_name(self) -> str:
        return video_codec_name(self.codec_id)

    @property
    def is_keyframe(self) -> bool:
        return self.frame_type == FRAME_KEY

    @property
    def is_sequence_header(self) -> bool:
        return self.codec_id in (VCODEC_AVC, VCODEC_HEVC) and self.avc_packet_type == 0


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
