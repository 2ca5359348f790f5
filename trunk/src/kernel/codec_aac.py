"""AAC: AudioSpecificConfig (the FLV/RTMP sequence header) and ADTS framing.

FLV carries raw AAC frames plus one AudioSpecificConfig; MPEG-TS, .aac files and raw publishing
use ADTS, where every frame has a 7-byte header repeating the config. ``adts_header`` builds one
from a parsed config; ``AdtsHeader``/``adts_split`` read them back (for ADTS ingest and tests).
"""
from __future__ import annotations

from srs.kernel.errors import (ERROR_AAC_ADTS_HEADER, ERROR_AAC_BYTES_INVALID,
                               ERROR_AAC_DATA_INVALID, CodecError)

SAMPLE_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025,
                8000, 7350)

OBJECT_MAIN = 1
OBJECT_LC = 2
OBJECT_SSR = 3
OBJECT_HE = 5     # SBR
OBJECT_HEV2 = 29  # SBR + PS

# SRS's srs_codec_aac_object2str names, shown in the HTTP API.
OBJECT_NAMES = {OBJECT_MAIN: "Main", OBJECT_LC: "LC", OBJECT_SSR: "SSR", OBJECT_HE: "HE",
                OBJECT_HEV2: "HEv2"}

ADTS_HEADER_SIZE = 7
ADTS_MAX_FRAME = 0x1FFF  # 13-bit frame_length, header included


def sample_rate_index(rate: int) -> int:
    try:
        return SAMPLE_RATES.index(rate)
    except ValueError:
        raise CodecError(f"AAC sample rate {rate} has no index", ERROR_AAC_DATA_INVALID) from None


class AacConfig:
    """AudioSpecificConfig: object type, sampling frequency, channels.

    For explicit HE-AAC(v2) signalling ``object_type`` is 5/29 (what the API reports) and
    ``core_object_type`` the underlying (LC) type; ``sample_rate_index`` is the core rate,
    which is what ADTS carries.
    """

    __slots__ = ("object_type", "core_object_type", "sample_rate_index", "sample_rate",
                 "channels", "ext_sample_rate", "raw")

    def __init__(self, object_type: int = OBJECT_LC, sample_rate: int = 44100, channels: int = 2,
                 core_object_type: int | None = None, ext_sample_rate: int = 0, raw: bytes = b""):
        self.object_type = object_type
        self.core_object_type = object_type if core_object_type is None else core_object_type
        self.sample_rate = sample_rate
        self.sample_rate_index = (SAMPLE_RATES.index(sample_rate)
                                  if sample_rate in SAMPLE_RATES else 15)
        self.channels = channels
        self.ext_sample_rate = ext_sample_rate
        self.raw = raw

    def __repr__(self) -> str:
        return (f"AacConfig({self.profile}, {self.sample_rate} Hz, {self.channels} ch)")

    @property
    def profile(self) -> str:
        return OBJECT_NAMES.get(self.object_type, "Other")

    @property
    def adts_profile(self) -> int:
        """The 2-bit ADTS profile: MPEG-4 object type - 1 for Main/LC/SSR; HE maps to LC."""
        core = self.core_object_type
        if core in (OBJECT_HE, OBJECT_HEV2):
            core = OBJECT_LC
        if not 1 <= core <= 4:
            raise CodecError(f"AAC object type {core} cannot be carried in ADTS",
                             ERROR_AAC_DATA_INVALID)
        return core - 1

    @classmethod
    def parse(cls, data: bytes) -> "AacConfig":
        data = bytes(data)
        if len(data) < 2:
            raise CodecError(f"AudioSpecificConfig too short: {len(data)} bytes",
                             ERROR_AAC_BYTES_INVALID)
        bits = int.from_bytes(data, "big")
        total = len(data) * 8
        pos = [0]

        def u(n: int) -> int:
            if pos[0] + n > total:
                raise CodecError("AudioSpecificConfig truncated", ERROR_AAC_BYTES_INVALID)
            pos[0] += n
            return (bits >> (total - pos[0])) & ((1 << n) - 1)

        def object_type() -> int:
            t = u(5)
            return 32 + u(6) if t == 31 else t

        def rate() -> int:
            idx = u(4)
            if idx == 15:
                return u(24)
            if idx >= len(SAMPLE_RATES):
                raise CodecError(f"reserved AAC sampling index {idx}", ERROR_AAC_DATA_INVALID)
            return SAMPLE_RATES[idx]

        aot = object_type()
        if aot == 0:
            raise CodecError("AAC object type 0 is invalid", ERROR_AAC_DATA_INVALID)
        sample_rate = rate()
        channels = u(4)
        core, ext = aot, 0
        if aot in (OBJECT_HE, OBJECT_HEV2):
            ext = rate()
            core = object_type()
        if sample_rate <= 0:
            raise CodecError("AAC sample rate 0", ERROR_AAC_DATA_INVALID)
        return cls(aot, sample_rate, channels, core, ext, data)

    def build(self) -> bytes:
        """A 2-byte AudioSpecificConfig (plain signalling: object type, rate index, channels)."""
        if not 1 <= self.object_type <= 30 or self.sample_rate_index > 12 or self.channels > 15:
            raise CodecError("AAC config not representable in 2 bytes", ERROR_AAC_DATA_INVALID)
        v = (self.object_type << 11) | (self.sample_rate_index << 7) | (self.channels << 3)
        return v.to_bytes(2, "big")


def adts_header(config: AacConfig, payload_len: int) -> bytes:
    """The 7-byte ADTS header (no CRC) for a raw AAC frame of ``payload_len`` bytes."""
    length = payload_len + ADTS_HEADER_SIZE
    if payload_len < 0 or length > ADTS_MAX_FRAME:
        raise CodecError(f"AAC frame of {payload_len} bytes does not fit ADTS",
                         ERROR_AAC_DATA_INVALID)
    sfi = config.sample_rate_index
    if sfi > 12:
        raise CodecError(f"AAC rate {config.sample_rate} has no ADTS index", ERROR_AAC_DATA_INVALID)
    ch = config.channels & 0x07
    return bytes((
        0xFF, 0xF1,  # syncword, MPEG-4, layer 0, protection_absent
        (config.adts_profile << 6) | (sfi << 2) | (ch >> 2),
        ((ch & 0x03) << 6) | (length >> 11),
        (length >> 3) & 0xFF,
        ((length & 0x07) << 5) | 0x1F,  # buffer fullness 0x7FF (VBR)
        0xFC,  # rest of fullness, one raw data block
    ))


class AdtsHeader:
    """One parsed ADTS header."""

    __slots__ = ("profile", "sample_rate_index", "channels", "frame_length", "header_size")

    def __init__(self, profile, sample_rate_index, channels, frame_length, header_size):
        self.profile = profile
        self.sample_rate_index = sample_rate_index
        self.channels = channels
        self.frame_length = frame_length
        self.header_size = header_size

    @property
    def config(self) -> AacConfig:
        return AacConfig(self.profile + 1, SAMPLE_RATES[self.sample_rate_index], self.channels)

    @classmethod
    def parse(cls, data, pos: int = 0) -> "AdtsHeader":
        if len(data) - pos < ADTS_HEADER_SIZE:
            raise CodecError("ADTS header truncated", ERROR_AAC_ADTS_HEADER)
        b = data[pos:pos + 7]
        if b[0] != 0xFF or (b[1] & 0xF6) != 0xF0:
            raise CodecError("ADTS syncword not found", ERROR_AAC_ADTS_HEADER)
        header_size = 7 if b[1] & 0x01 else 9
        sfi = (b[2] >> 2) & 0x0F
        if sfi > 12:
            raise CodecError(f"ADTS reserved sampling index {sfi}", ERROR_AAC_ADTS_HEADER)
        length = ((b[3] & 0x03) << 11) | (b[4] << 3) | (b[5] >> 5)
        if length < header_size:
            raise CodecError(f"ADTS frame_length {length} too small", ERROR_AAC_ADTS_HEADER)
        return cls(b[2] >> 6, sfi, ((b[2] & 0x01) << 2) | (b[3] >> 6), length, header_size)


def adts_split(data: bytes) -> list:
    """Split an ADTS stream into ``(AdtsHeader, raw_frame_bytes)``; a partial frame raises."""
    data = bytes(data)
    out = []
    pos = 0
    while pos < len(data):
        h = AdtsHeader.parse(data, pos)
        if pos + h.frame_length > len(data):
            raise CodecError("ADTS frame truncated", ERROR_AAC_ADTS_HEADER)
        out.append((h, data[pos + h.header_size:pos + h.frame_length]))
        pos += h.frame_length
    return out
