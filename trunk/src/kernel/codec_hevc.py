"""H.265/HEVC: the hvcC sequence header (ISO 14496-15 8.3.3), SPS size fields and NALU types.

FLV carries HEVC like H.264: length-prefixed NALUs (``nal_length_size`` from the hvcC) after a
legacy codec-id-12 header (as SRS 6 accepts) or an Enhanced RTMP ``hvc1`` header. MPEG-TS
(stream type 0x24) wants Annex-B with VPS/SPS/PPS before each random access picture, which
``annexb_parameter_sets`` gives.
"""
from __future__ import annotations

import struct

from srs.kernel.codec_avc import START_CODE, ebsp_to_rbsp
from srs.kernel.codec_avc import _Bits as BitReader  # the same exp-Golomb reader as the AVC SPS
from srs.kernel.errors import CodecError

# nal_unit_type (H.265 table 7-1)
NALU_BLA_W_LP = 16
NALU_RSV_IRAP_23 = 23
NALU_IDR_W_RADL = 19
NALU_IDR_N_LP = 20
NALU_CRA = 21
NALU_VPS = 32
NALU_SPS = 33
NALU_PPS = 34
NALU_AUD = 35
NALU_SEI_PREFIX = 39

# An access unit delimiter (type 35, layer 0, tid 1; pic_type 2 = any slice type), as SRS writes.
AUD_ANNEXB = START_CODE + b"\x46\x01\x50"

# Names as SRS's srs_hevc_profile2str prints them.
PROFILE_NAMES = {1: "Main", 2: "Main10", 3: "MainStillPicture", 4: "RExt"}


def nalu_type(nalu) -> int:
    """The nal_unit_type of an HEVC NALU (2-byte header, type in bits 1..6 of the first byte)."""
    if not nalu:
        raise CodecError("empty HEVC NALU")
    return (nalu[0] >> 1) & 0x3F


def is_irap(nal_type: int) -> bool:
    """A random access point (BLA/IDR/CRA): where a decoder can start, so a keyframe."""
    return NALU_BLA_W_LP <= nal_type <= NALU_RSV_IRAP_23


def profile_name(profile_idc: int) -> str:
    return PROFILE_NAMES.get(profile_idc, "Other")


def level_name(level_idc: int) -> str:
    """general_level_idc is 30 x the level: 93 -> "3.1", 120 -> "4"."""
    if level_idc <= 0 or level_idc % 3:
        return "Other"
    major, minor = divmod(level_idc // 3, 10)
    return f"{major}.{minor}" if minor else str(major)


def sps_size(nalu) -> tuple:
    """(width, height) from an HEVC SPS NALU (with its 2-byte header), conformance window applied."""
    if len(nalu) < 4 or nalu_type(nalu) != NALU_SPS:
        raise CodecError("not an HEVC SPS")
    r = BitReader(ebsp_to_rbsp(bytes(nalu[2:])))
    r.u(4)  # sps_video_parameter_set_id
    sub_layers = r.u(3)  # sps_max_sub_layers_minus1
    r.u(1)  # sps_temporal_id_nesting_flag
    # profile_tier_level(1, sub_layers): general part is 88 bits (profile 8, flags 32+48, level 8).
    r.u(8)
    r.u(32)
    r.u(32)
    r.u(16)
    r.u(8)
    present = [(r.u(1), r.u(1)) for _ in range(sub_layers)]
    if sub_layers:
        r.u(2 * (8 - sub_layers))  # reserved_zero_2bits up to 8 sub-layers
    for profile_present, level_present in present:
        if profile_present:
            r.u(32)
            r.u(32)
            r.u(24)  # 88 bits of sub-layer profile
        if level_present:
            r.u(8)
    r.ue()  # sps_seq_parameter_set_id
    chroma = r.ue()
    if chroma > 3:
        raise CodecError(f"bad HEVC chroma_format_idc {chroma}")
    if chroma == 3 and r.u(1):  # separate_colour_plane_flag
        chroma = 0
    width, height = r.ue(), r.ue()
    if r.u(1):  # conformance_window_flag: offsets in chroma units
        sub_w = 2 if chroma in (1, 2) else 1
        sub_h = 2 if chroma == 1 else 1
        left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
        width -= (left + right) * sub_w
        height -= (top + bottom) * sub_h
    if width <= 0 or height <= 0:
        raise CodecError(f"bad HEVC picture size {width}x{height}")
    return width, height


class HevcConfig:
    """HEVCDecoderConfigurationRecord: profile/tier/level, NAL length size, the parameter sets."""

    __slots__ = ("profile_idc", "tier", "level_idc", "nal_length_size", "vps", "sps", "pps",
                 "others", "width", "height", "raw")

    def __init__(self, vps: list, sps: list, pps: list, nal_length_size: int = 4,
                 profile_idc: int = 0, tier: int = 0, level_idc: int = 0, raw: bytes = b"",
                 others: list = ()):
        self.vps, self.sps, self.pps = list(vps), list(sps), list(pps)
        self.others = list(others)  # e.g. SEI arrays: kept, not written before keyframes
        self.nal_length_size = nal_length_size
        self.profile_idc = profile_idc
        self.tier = tier
        self.level_idc = level_idc
        self.raw = raw
        self.width = self.height = 0
        if self.sps:
            self.width, self.height = sps_size(self.sps[0])

    @property
    def profile(self) -> str:
        return profile_name(self.profile_idc)

    @property
    def level(self) -> str:
        return level_name(self.level_idc)

    @classmethod
    def parse(cls, data) -> "HevcConfig":
        data = bytes(data)
        if len(data) < 23:
            raise CodecError(f"hvcC too short: {len(data)} bytes")
        if data[0] != 1:
            raise CodecError(f"hvcC configurationVersion {data[0]} != 1")
        nal_length_size = (data[21] & 0x03) + 1
        if nal_length_size == 3:
            raise CodecError("hvcC lengthSizeMinusOne must not be 2")
        sets = {NALU_VPS: [], NALU_SPS: [], NALU_PPS: []}
        others = []
        pos = 23
        for _ in range(data[22]):
            if pos + 3 > len(data):
                raise CodecError("hvcC truncated in an array header")
            nal_type = data[pos] & 0x3F
            (count,) = struct.unpack_from(">H", data, pos + 1)
            pos += 3
            for _ in range(count):
                if pos + 2 > len(data):
                    raise CodecError("hvcC truncated in a NALU length")
                (size,) = struct.unpack_from(">H", data, pos)
                pos += 2
                if size == 0 or pos + size > len(data):
                    raise CodecError(f"hvcC NALU of {size} bytes exceeds the record")
                sets.get(nal_type, others).append(data[pos:pos + size])
                pos += size
        if not sets[NALU_SPS]:
            raise CodecError("hvcC without SPS")
        b1 = data[1]
        return cls(sets[NALU_VPS], sets[NALU_SPS], sets[NALU_PPS], nal_length_size, b1 & 0x1F,
                   (b1 >> 5) & 1, data[12], data, others)

    def annexb_parameter_sets(self) -> bytes:
        """VPS, SPS and PPS with start codes, to put before a random access picture in Annex-B."""
        return b"".join(START_CODE + bytes(p) for p in (*self.vps, *self.sps, *self.pps))
