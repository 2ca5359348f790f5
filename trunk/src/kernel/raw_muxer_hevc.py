"""Raw H.265/HEVC access units (Annex-B, as MPEG-TS stream type 0x24 carries them) -> FLV messages.

The Enhanced RTMP form (``hvc1`` FourCC): a SequenceStart with the hvcC built from the stream's
VPS/SPS/PPS, then CodedFrames (SI24 composition time + 4-byte length-prefixed NALUs), as OBS 30 and
FFmpeg 6.1+ publish HEVC and as players since then read it. Like ``AvcRawMuxer``: parameter sets are
taken from the stream (a change sends a new sequence header), pictures before the first parameter
sets or before the first random access picture are dropped and counted, AUDs are left out.

The hvcC (ISO 14496-15 8.3.3.1) copies general_profile_tier_level from the SPS; chroma format and
bit depths say 4:2:0 8-bit (decoders take them from the SPS, which the record carries).
"""
from __future__ import annotations

import struct
from typing import Iterable, List, Optional

from srs.kernel.codec import EX_CODED_FRAMES, EX_SEQUENCE_START, FRAME_INTER, FRAME_KEY, VIDEO_EX_HEADER
from srs.kernel.codec_avc import annexb_split, annexb_to_avcc, ebsp_to_rbsp
from srs.kernel.codec_hevc import NALU_AUD, NALU_PPS, NALU_SPS, NALU_VPS, is_irap, nalu_type
from srs.kernel.errors import CodecError
from srs.kernel.message import MSG_VIDEO, Message

FOURCC_HEVC = b"hvc1"
MAX_PENDING_BYTES = 1 << 20   # non-VCL NALUs (SEI) held for their picture, at most


def hevc_ex_payload(keyframe: bool, packet_type: int, body: bytes, cts: int = 0) -> bytes:
    """An Enhanced RTMP HEVC video payload: ex-header, ``hvc1``, [SI24 cts for CodedFrames], body."""
    b0 = VIDEO_EX_HEADER | ((FRAME_KEY if keyframe else FRAME_INTER) << 4) | packet_type
    head = bytes((b0,)) + FOURCC_HEVC
    if packet_type == EX_CODED_FRAMES:
        head += (cts & 0xFFFFFF).to_bytes(3, "big")
    return head + bytes(body)


def build_hvcc(vps: bytes, sps: bytes, pps: bytes) -> bytes:
    """An HEVCDecoderConfigurationRecord with one VPS, SPS and PPS (NALUs with their 2-byte headers)."""
    rbsp = ebsp_to_rbsp(bytes(sps[2:]))
    if len(rbsp) < 13:
        raise CodecError(f"HEVC SPS too short ({len(sps)} bytes)")
    max_sub_layers = ((rbsp[0] >> 1) & 0x07) + 1
    nesting = rbsp[0] & 0x01
    ptl = rbsp[1:13]   # profile_space/tier/profile_idc, 32 compatibility flags, 48 constraint bits, level
    out = bytearray((1,)) + ptl[:12]
    out += struct.pack(">HBBBBHB", 0xF000, 0xFC, 0xFD, 0xF8, 0xF8, 0,
                       (max_sub_layers << 3) | (nesting << 2) | 0x03)
    out.append(3)
    for t, nalu in ((NALU_VPS, vps), (NALU_SPS, sps), (NALU_PPS, pps)):
        out += struct.pack(">BHH", 0x80 | t, 1, len(nalu)) + bytes(nalu)
    return bytes(out)


class HevcRawMuxer:
    """HEVC access units -> an ``hvc1`` SequenceStart + CodedFrames messages."""

    __slots__ = ("vps", "sps", "pps", "hvcc", "dropped", "_changed", "_pending", "_pending_bytes",
                 "_waiting_key")

    def __init__(self):
        self.vps = self.sps = self.pps = b""
        self.hvcc: Optional[bytes] = None    # the record of the last sequence header sent
        self.dropped = 0
        self._changed = False
        self._pending: list = []
        self._pending_bytes = 0
        self._waiting_key = True

    def on_annexb(self, annexb: bytes, dts_ms: int, pts_ms: Optional[int] = None) -> List[Message]:
        return self.on_nalus(annexb_split(annexb), dts_ms, pts_ms)

    def on_nalus(self, nalus: Iterable[bytes], dts_ms: int, pts_ms: Optional[int] = None) -> List[Message]:
        body = self._pending
        key = picture = False
        for nalu in nalus:
            if len(nalu) < 2:
                continue
            t = nalu_type(nalu)
            if t in (NALU_VPS, NALU_SPS, NALU_PPS):
                name = {NALU_VPS: "vps", NALU_SPS: "sps", NALU_PPS: "pps"}[t]
                if bytes(nalu) != getattr(self, name):
                    setattr(self, name, bytes(nalu))
                    self._changed = True
            elif t == NALU_AUD:
                continue
            else:
                body.append(nalu)
                if t < 32:   # VCL
                    picture = True
                    key = key or is_irap(t)
                else:
                    self._pending_bytes += len(nalu)
        if not picture:
            if self._pending_bytes > MAX_PENDING_BYTES:
                self._pending, self._pending_bytes = [], 0
            return []
        self._pending, self._pending_bytes = [], 0
        out = []
        if self._changed and self.vps and self.sps and self.pps:
            self._changed = False
            self.hvcc, self._waiting_key = build_hvcc(self.vps, self.sps, self.pps), True
            out.append(Message.make(MSG_VIDEO, dts_ms, hevc_ex_payload(True, EX_SEQUENCE_START, self.hvcc)))
        if self.hvcc is None or (self._waiting_key and not key):
            self.dropped += 1
            return out
        self._waiting_key = False
        cts = 0 if pts_ms is None else pts_ms - dts_ms
        out.append(Message.make(MSG_VIDEO, dts_ms, hevc_ex_payload(key, EX_CODED_FRAMES, annexb_to_avcc(body), cts)))
        return out
