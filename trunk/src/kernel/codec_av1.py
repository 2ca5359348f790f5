"""AV1 and VP9 sequence headers as Enhanced RTMP carries them (``av01``: av1C, ``vp09``: vpcC).

Only what the API reports is read: profile, level and, for AV1, the maximum frame size from the
sequence header OBU inside the av1C (AV1 spec 5.5). VP9 keeps its size in each keyframe, not in
the vpcC, so its size stays 0.
"""
from __future__ import annotations

from srs.kernel.codec_avc import _Bits as BitReader  # MSB-first, as AV1's f(n)
from srs.kernel.errors import CodecError

OBU_SEQUENCE_HEADER = 1
AV1_PROFILE_NAMES = {0: "Main", 1: "High", 2: "Professional"}


def av1_level_name(seq_level_idx: int) -> str:
    """seq_level_idx 0 -> "2.0", 5 -> "3.1"; 31 means no level constraint."""
    if seq_level_idx >= 24:
        return "Other"
    return f"{2 + (seq_level_idx >> 2)}.{seq_level_idx & 3}"


def _uvlc(r: BitReader) -> int:
    zeros = 0
    while not r.u(1):
        zeros += 1
        if zeros >= 32:
            raise CodecError("AV1 uvlc too long")
    return r.u(zeros) + (1 << zeros) - 1 if zeros else 0


def _leb128(data, pos: int) -> tuple:
    value = 0
    for i in range(8):
        if pos >= len(data):
            raise CodecError("AV1 leb128 truncated")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return value, pos
    raise CodecError("AV1 leb128 too long")


def sequence_header_size(obu_payload) -> tuple:
    """(max_frame_width, max_frame_height) from a sequence_header_obu payload."""
    r = BitReader(bytes(obu_payload))
    r.u(3)  # seq_profile
    r.u(1)  # still_picture
    if r.u(1):  # reduced_still_picture_header
        r.u(5)
    else:
        decoder_model = False
        delay_bits = 0
        if r.u(1):  # timing_info_present_flag
            r.u(32)
            r.u(32)
            if r.u(1):  # equal_picture_interval
                _uvlc(r)
            decoder_model = bool(r.u(1))
            if decoder_model:
                delay_bits = r.u(5) + 1  # buffer_delay_length_minus_1
                r.u(32)
                r.u(10)  # buffer_removal_time_length_minus_1, frame_presentation_time_length_minus_1
        initial_delay = r.u(1)
        for _ in range(r.u(5) + 1):  # operating points
            r.u(12)
            if r.u(5) > 7:
                r.u(1)  # seq_tier
            if decoder_model and r.u(1):
                r.u(2 * delay_bits + 1)
            if initial_delay and r.u(1):
                r.u(4)
    wbits, hbits = r.u(4) + 1, r.u(4) + 1
    return r.u(wbits) + 1, r.u(hbits) + 1


class Av1Config:
    """AV1CodecConfigurationRecord: profile, level and the size from its sequence header OBU."""

    __slots__ = ("profile_idc", "level_idx", "tier", "width", "height", "raw")

    def __init__(self, profile_idc: int, level_idx: int, tier: int, width: int = 0, height: int = 0,
                 raw: bytes = b""):
        self.profile_idc, self.level_idx, self.tier = profile_idc, level_idx, tier
        self.width, self.height, self.raw = width, height, raw

    @property
    def profile(self) -> str:
        return AV1_PROFILE_NAMES.get(self.profile_idc, "Other")

    @property
    def level(self) -> str:
        return av1_level_name(self.level_idx)

    @classmethod
    def parse(cls, data) -> "Av1Config":
        data = bytes(data)
        if len(data) < 4 or data[0] != 0x81:
            raise CodecError("not an av1C record (marker 1, version 1)")
        cfg = cls(data[1] >> 5, data[1] & 0x1F, data[2] >> 7, raw=data)
        pos = 4
        while pos < len(data):  # configOBUs: find the sequence header
            header = data[pos]
            obu_type = (header >> 3) & 0x0F
            pos += 2 if header & 0x04 else 1  # extension byte
            if header & 0x02:
                size, pos = _leb128(data, pos)
            else:
                size = len(data) - pos
            if pos + size > len(data):
                raise CodecError("av1C OBU exceeds the record")
            if obu_type == OBU_SEQUENCE_HEADER:
                cfg.width, cfg.height = sequence_header_size(data[pos:pos + size])
                break
            pos += size
        return cfg


class Vp9Config:
    """VPCodecConfigurationRecord (a FullBox body: version, flags, then profile and level)."""

    __slots__ = ("profile_idc", "level_idc", "bit_depth", "width", "height", "raw")

    def __init__(self, profile_idc: int, level_idc: int, bit_depth: int, raw: bytes = b""):
        self.profile_idc, self.level_idc, self.bit_depth, self.raw = profile_idc, level_idc, bit_depth, raw
        self.width = self.height = 0

    @property
    def profile(self) -> str:
        return f"Profile{self.profile_idc}"

    @property
    def level(self) -> str:
        return f"{self.level_idc // 10}.{self.level_idc % 10}" if self.level_idc else "Other"

    @classmethod
    def parse(cls, data) -> "Vp9Config":
        data = bytes(data)
        if len(data) < 8:
            raise CodecError(f"vpcC too short: {len(data)} bytes")
        return cls(data[4], data[5], data[6] >> 4, data)
