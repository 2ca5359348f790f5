"""H.264/AVC: the avcC sequence header, SPS fields (size, profile, level) and NALU framing.

FLV carries H.264 as AVCC: NALUs prefixed by a 1/2/4-byte big-endian length (``nal_length_size``
from the AVCDecoderConfigurationRecord). MPEG-TS and raw files use Annex-B: NALUs separated by
``00 00 01`` / ``00 00 00 01`` start codes. The helpers here convert between the two without
per-byte Python loops (``bytes.find`` does the scanning).
"""
from __future__ import annotations

import struct

from srs.kernel.errors import ERROR_AVC_NALU_UEV, CodecError

NALU_NON_IDR = 1
NALU_IDR = 5
NALU_SEI = 6
NALU_SPS = 7
NALU_PPS = 8
NALU_AUD = 9

START_CODE = b"\x00\x00\x00\x01"

# Names as SRS's srs_codec_avc_profile2str / level2str print them in the HTTP API.
PROFILE_NAMES = {
    66: "Baseline", 77: "Main", 88: "Extended", 100: "High", 110: "High(10)",
    122: "High(422)", 144: "High(444)", 244: "High(444+Predictive)",
}
LEVEL_NAMES = {
    10: "1", 11: "1.1", 12: "1.2", 13: "1.3", 20: "2", 21: "2.1", 22: "2.2", 30: "3", 31: "3.1",
    32: "3.2", 40: "4", 41: "4.1", 50: "5", 51: "5.1",
}
# Profiles whose SPS carries chroma_format_idc, bit depths and scaling lists (H.264 7.3.2.1.1).
_HIGH_PROFILES = frozenset((100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135))


def profile_name(profile_idc: int) -> str:
    return PROFILE_NAMES.get(profile_idc, "Other")


def level_name(level_idc: int) -> str:
    return LEVEL_NAMES.get(level_idc, "Other")


def nalu_type(nalu: bytes) -> int:
    """The nal_unit_type of a NALU (without start code or length prefix)."""
    if not nalu:
        raise CodecError("empty NALU")
    return nalu[0] & 0x1F


def ebsp_to_rbsp(data: bytes) -> bytes:
    """Remove emulation-prevention bytes (the 0x03 in ``00 00 03``)."""
    if b"\x00\x00\x03" not in data:
        return bytes(data)
    out = bytearray()
    start = 0
    while True:
        i = data.find(b"\x00\x00\x03", start)
        if i < 0:
            out += data[start:]
            return bytes(out)
        out += data[start:i + 2]
        start = i + 3


class _Bits:
    """MSB-first bit reader with exp-Golomb codes over RBSP bytes."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0
        self.end = len(data) * 8

    def u(self, n: int) -> int:
        if self.pos + n > self.end:
            raise CodecError("SPS truncated", ERROR_AVC_NALU_UEV)
        v = 0
        data, pos = self.data, self.pos
        for _ in range(n):
            v = (v << 1) | ((data[pos >> 3] >> (7 - (pos & 7))) & 1)
            pos += 1
        self.pos = pos
        return v

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise CodecError("exp-golomb code too long", ERROR_AVC_NALU_UEV)
        return (1 << zeros) - 1 + (self.u(zeros) if zeros else 0)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


class Sps:
    """The fields of a sequence parameter set that servers care about."""

    __slots__ = ("profile_idc", "constraint_flags", "level_idc", "sps_id", "chroma_format_idc",
                 "bit_depth_luma", "frame_mbs_only", "width", "height")

    def __init__(self, profile_idc=0, constraint_flags=0, level_idc=0, sps_id=0,
                 chroma_format_idc=1, bit_depth_luma=8, frame_mbs_only=1, width=0, height=0):
        self.profile_idc = profile_idc
        self.constraint_flags = constraint_flags
        self.level_idc = level_idc
        self.sps_id = sps_id
        self.chroma_format_idc = chroma_format_idc
        self.bit_depth_luma = bit_depth_luma
        self.frame_mbs_only = frame_mbs_only
        self.width = width
        self.height = height

    @classmethod
    def parse(cls, nalu: bytes) -> "Sps":
        """Parse an SPS NALU (first byte is the NAL header, type 7)."""
        if len(nalu) < 4:
            raise CodecError(f"SPS too short: {len(nalu)} bytes")
        if nalu[0] & 0x1F != NALU_SPS:
            raise CodecError(f"not an SPS: nal_unit_type={nalu[0] & 0x1F}")
        r = _Bits(ebsp_to_rbsp(bytes(nalu[1:])))
        s = cls(profile_idc=r.u(8), constraint_flags=r.u(8), level_idc=r.u(8))
        s.sps_id = r.ue()
        if s.sps_id > 31:
            raise CodecError(f"SPS id {s.sps_id} out of range")
        separate_colour_plane = 0
        if s.profile_idc in _HIGH_PROFILES:
            s.chroma_format_idc = r.ue()
            if s.chroma_format_idc > 3:
                raise CodecError(f"bad chroma_format_idc {s.chroma_format_idc}")
            if s.chroma_format_idc == 3:
                separate_colour_plane = r.u(1)
            s.bit_depth_luma = r.ue() + 8
            r.ue()  # bit_depth_chroma_minus8
            r.u(1)  # qpprime_y_zero_transform_bypass_flag
            if r.u(1):  # seq_scaling_matrix_present_flag
                for i in range(8 if s.chroma_format_idc != 3 else 12):
                    if r.u(1):
                        _skip_scaling_list(r, 16 if i < 6 else 64)
        r.ue()  # log2_max_frame_num_minus4
        poc_type = r.ue()
        if poc_type == 0:
            r.ue()  # log2_max_pic_order_cnt_lsb_minus4
        elif poc_type == 1:
            r.u(1)
            r.se()
            r.se()
            n = r.ue()
            if n > 255:
                raise CodecError(f"num_ref_frames_in_pic_order_cnt_cycle {n} too big")
            for _ in range(n):
                r.se()
        elif poc_type != 2:
            raise CodecError(f"bad pic_order_cnt_type {poc_type}")
        r.ue()  # max_num_ref_frames
        r.u(1)  # gaps_in_frame_num_value_allowed_flag
        width_mbs = r.ue() + 1
        height_units = r.ue() + 1
        s.frame_mbs_only = r.u(1)
        if not s.frame_mbs_only:
            r.u(1)  # mb_adaptive_frame_field_flag
        r.u(1)  # direct_8x8_inference_flag
        width = width_mbs * 16
        height = (2 - s.frame_mbs_only) * height_units * 16
        if r.u(1):  # frame_cropping_flag
            left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
            chroma_array_type = 0 if separate_colour_plane else s.chroma_format_idc
            if chroma_array_type == 0:
                unit_x, unit_y = 1, 2 - s.frame_mbs_only
            else:
                sub_w = 1 if chroma_array_type == 3 else 2
                sub_h = 2 if chroma_array_type == 1 else 1
                unit_x, unit_y = sub_w, sub_h * (2 - s.frame_mbs_only)
            width -= (left + right) * unit_x
            height -= (top + bottom) * unit_y
            if width <= 0 or height <= 0:
                raise CodecError("SPS cropping larger than the picture")
        s.width, s.height = width, height
        return s


def _skip_scaling_list(r: _Bits, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt != 0:
            nxt = (last + r.se() + 256) % 256
        if nxt != 0:
            last = nxt


class AvcConfig:
    """AVCDecoderConfigurationRecord (the payload of an AVC sequence header after 5 FLV bytes)."""

    __slots__ = ("profile_idc", "compatibility", "level_idc", "nal_length_size", "sps", "pps",
                 "width", "height", "raw")

    def __init__(self, sps: list, pps: list, nal_length_size: int = 4, profile_idc: int = 0,
                 compatibility: int = 0, level_idc: int = 0, raw: bytes = b""):
        self.sps = list(sps)
        self.pps = list(pps)
        self.nal_length_size = nal_length_size
        self.profile_idc = profile_idc
        self.compatibility = compatibility
        self.level_idc = level_idc
        self.raw = raw
        self.width = self.height = 0
        if self.sps:
            info = Sps.parse(self.sps[0])
            self.width, self.height = info.width, info.height

    @property
    def profile(self) -> str:
        return profile_name(self.profile_idc)

    @property
    def level(self) -> str:
        return level_name(self.level_idc)

    @classmethod
    def parse(cls, data: bytes) -> "AvcConfig":
        data = bytes(data)
        if len(data) < 7:
            raise CodecError(f"avcC too short: {len(data)} bytes")
        if data[0] != 1:
            raise CodecError(f"avcC configurationVersion {data[0]} != 1")
        nal_length_size = (data[4] & 0x03) + 1
        if nal_length_size == 3:
            raise CodecError("avcC lengthSizeMinusOne must not be 2")
        pos = 5
        lists = []
        for mask in (0x1F, 0xFF):
            if pos >= len(data):
                raise CodecError("avcC truncated before the parameter set count")
            count = data[pos] & mask
            pos += 1
            sets = []
            for _ in range(count):
                if pos + 2 > len(data):
                    raise CodecError("avcC truncated in a parameter set length")
                (size,) = struct.unpack_from(">H", data, pos)
                pos += 2
                if size == 0 or pos + size > len(data):
                    raise CodecError(f"avcC parameter set of {size} bytes exceeds the record")
                sets.append(data[pos:pos + size])
                pos += size
            lists.append(sets)
        sps, pps = lists
        if not sps:
            raise CodecError("avcC without SPS")
        # The trailing high-profile extension (chroma format, bit depths, SPS-ext) is not needed.
        return cls(sps, pps, nal_length_size, data[1], data[2], data[3], data)

    def build(self) -> bytes:
        """Serialise as an AVCDecoderConfigurationRecord."""
        if not self.sps:
            raise CodecError("cannot build avcC without SPS")
        if len(self.sps) > 31 or len(self.pps) > 255:
            raise CodecError("too many parameter sets")
        sps0 = self.sps[0]
        parts = [bytes((1, sps0[1], sps0[2], sps0[3], 0xFC | (self.nal_length_size - 1),
                        0xE0 | len(self.sps)))]
        for s in self.sps:
            parts.append(struct.pack(">H", len(s)) + bytes(s))
        parts.append(bytes((len(self.pps),)))
        for p in self.pps:
            parts.append(struct.pack(">H", len(p)) + bytes(p))
        return b"".join(parts)

    @classmethod
    def from_parameter_sets(cls, sps: bytes, pps: bytes) -> "AvcConfig":
        """A 4-byte-length config from one SPS and one PPS (raw H.264 publishing)."""
        if len(sps) < 4:
            raise CodecError("SPS too short")
        cfg = cls([bytes(sps)], [bytes(pps)], 4, sps[1], sps[2], sps[3])
        return cls.parse(cfg.build())

    def annexb_parameter_sets(self) -> bytes:
        """SPS and PPS with start codes, to put before an IDR in Annex-B output."""
        return b"".join(START_CODE + bytes(p) for p in (*self.sps, *self.pps))


def avcc_split(data: bytes, nal_length_size: int = 4) -> list:
    """Split length-prefixed NALUs; returns memoryview slices of ``data``."""
    if nal_length_size not in (1, 2, 4):
        raise CodecError(f"bad NAL length size {nal_length_size}")
    view = memoryview(data)
    total = len(view)
    fmt = {1: ">B", 2: ">H", 4: ">I"}[nal_length_size]
    out = []
    pos = 0
    while pos < total:
        if pos + nal_length_size > total:
            raise CodecError("AVCC NALU length truncated", ERROR_AVC_NALU_UEV)
        (size,) = struct.unpack_from(fmt, view, pos)
        pos += nal_length_size
        if size == 0 or pos + size > total:
            raise CodecError(f"AVCC NALU of {size} bytes exceeds the {total}-byte frame")
        out.append(view[pos:pos + size])
        pos += size
    return out


def avcc_to_annexb(data: bytes, nal_length_size: int = 4) -> bytes:
    """Length-prefixed NALUs -> Annex-B with 4-byte start codes."""
    return b"".join(START_CODE + bytes(n) for n in avcc_split(data, nal_length_size))


def annexb_split(data: bytes) -> list:
    """Split an Annex-B byte stream into NALUs (no start codes; trailing zero bytes trimmed).

    Data before the first start code is ignored; an input without any start code raises.
    """
    data = bytes(data)
    i = data.find(b"\x00\x00\x01")
    if i < 0:
        raise CodecError("no Annex-B start code")
    out = []
    start = i + 3
    while True:
        j = data.find(b"\x00\x00\x01", start)
        end = len(data) if j < 0 else j
        nalu = data[start:end].rstrip(b"\x00") if j >= 0 else data[start:end]
        if nalu:
            out.append(nalu)
        if j < 0:
            return out
        start = j + 3


def annexb_to_avcc(nalus) -> bytes:
    """NALUs (no start codes) -> 4-byte length-prefixed AVCC."""
    return b"".join(struct.pack(">I", len(n)) + bytes(n) for n in nalus)
