"""Raw H.264 and raw AAC -> RTMP/FLV messages with sequence headers (sans-IO, timestamps passed in).

One muxer for every raw input: srs-librtmp's raw publishing (``RtmpSession.write_h264_raw`` /
``write_aac_raw`` and the tools on them: srs_h264_raw_publish, srs_aac_raw_publish,
srs_ingest_hls) and the stream casters (MPEG-TS over UDP: Annex-B and ADTS PES payloads; RTSP:
NALU lists and raw AAC frames with the SDP's AudioSpecificConfig).

H.264 (``AvcRawMuxer``): SPS and PPS are remembered; an AVC sequence header is emitted (at the
picture's dts) before the next picture whenever either one changed, so a repeated identical
SPS/PPS (every IDR of a TS) sends nothing. A new header makes video wait for a keyframe: a
picture that refers to frames decoded with other parameter sets (or to none) cannot be shown.
Pictures before the first SPS+PPS are dropped too (as SRS's ERROR_H264_DROP_BEFORE_SPS_PPS);
``dropped`` counts both. Access unit delimiters are dropped; SEI and other non-VCL NALUs ride
with the next picture, even of a later call (bounded by MAX_PENDING_BYTES: the input is
untrusted). All NALUs of one call form one message, a keyframe when any is an IDR, with
cts = pts - dts. Parameter sets that do not parse raise CodecError once; the config in effect
stays (the same broken pair repeated raises nothing more).

AAC (``AacRawMuxer``): every frame becomes one raw AAC message; an AudioSpecificConfig sequence
header goes first, and again when the config changes. ADTS input may hold several frames under
one timestamp (a TS PES): frame i is at ts + i * 1024 samples, rounded to the nearest ms.
"""
from __future__ import annotations

from typing import Iterable, List, Optional

from srs.kernel.codec import (AAC_RAW, AAC_SEQUENCE_HEADER, AVC_NALU, AVC_SEQUENCE_HEADER, NALU_AUD,
                              NALU_IDR, NALU_PPS, NALU_SEI, NALU_SPS, AacConfig, AvcConfig,
                              aac_payload, adts_split, annexb_split, annexb_to_avcc, avc_payload)
from srs.kernel.errors import CodecError
from srs.kernel.message import MSG_AUDIO, MSG_VIDEO, Message

__all__ = ["AvcRawMuxer", "AacRawMuxer", "split_access_units", "AAC_SAMPLES_PER_FRAME",
           "MAX_PENDING_BYTES"]

AAC_SAMPLES_PER_FRAME = 1024
MAX_PENDING_BYTES = 1 << 20   # SEI & co. held for a picture that never comes are dropped past this
_VCL = frozenset((1, 2, 3, 4, 5))  # coded slices (non-IDR, partitions A-C, IDR)


class AvcRawMuxer:
    """H.264 access units (Annex-B bytes or NALU lists) -> AVC sequence header + AVCC video messages."""

    __slots__ = ("sps", "pps", "config", "dropped", "_changed", "_pending", "_pending_bytes",
                 "_waiting_key")

    def __init__(self):
        self.sps = b""
        self.pps = b""
        self.config: Optional[AvcConfig] = None   # the config of the last sequence header sent
        self.dropped = 0                          # pictures before SPS/PPS or before a keyframe
        self._changed = False
        self._pending: list = []                  # non-VCL NALUs waiting for their picture
        self._pending_bytes = 0
        self._waiting_key = True

    def on_annexb(self, annexb: bytes, dts_ms: int, pts_ms: Optional[int] = None) -> List[Message]:
        """Messages for one access unit of start-code prefixed NALUs; CodecError when ``annexb``
        holds no start code or its parameter sets do not parse."""
        return self.on_nalus(annexb_split(annexb), dts_ms, pts_ms)

    def on_nalus(self, nalus: Iterable[bytes], dts_ms: int, pts_ms: Optional[int] = None) -> List[Message]:
        """Messages for one access unit given as NALUs (no start codes); ``pts_ms`` defaults to dts."""
        body = self._pending
        key = picture = False
        for nalu in nalus:
            if not nalu:
                continue
            t = nalu[0] & 0x1F
            if t == NALU_SPS:
                if nalu != self.sps:
                    self.sps, self._changed = bytes(nalu), True
            elif t == NALU_PPS:
                if nalu != self.pps:
                    self.pps, self._changed = bytes(nalu), True
            elif t == NALU_AUD:
                continue  # FLV frames carry no access unit delimiters
            else:
                body.append(nalu)
                if t in _VCL:
                    picture = True
                    key = key or t == NALU_IDR
                else:
                    self._pending_bytes += len(nalu)
        if not picture:
            if self._pending_bytes > MAX_PENDING_BYTES:
                self._pending, self._pending_bytes = [], 0
            return []  # parameter sets only, or SEI before its picture (kept in _pending)
        self._pending, self._pending_bytes = [], 0
        out = []
        if self._changed and self.sps and self.pps:
            self._changed = False
            config = AvcConfig.from_parameter_sets(self.sps, self.pps)   # CodecError: keep the old one
            self.config, self._waiting_key = config, True
            out.append(Message.make(MSG_VIDEO, dts_ms, avc_payload(True, AVC_SEQUENCE_HEADER, 0, config.build())))
        if self.config is None or (self._waiting_key and not key):
            self.dropped += 1
            return out
        self._waiting_key = False
        cts = 0 if pts_ms is None else pts_ms - dts_ms
        out.append(Message.make(MSG_VIDEO, dts_ms, avc_payload(key, AVC_NALU, cts, annexb_to_avcc(body))))
        return out


class AacRawMuxer:
    """Raw AAC frames (ADTS, or raw + AudioSpecificConfig) -> AAC sequence header + audio messages."""

    __slots__ = ("asc", "stereo")

    def __init__(self):
        self.asc: Optional[bytes] = None   # the AudioSpecificConfig of the last sequence header sent
        self.stereo = True

    def on_adts(self, adts: bytes, ts_ms: int) -> List[Message]:
        """Messages for every ADTS frame in ``adts``; CodecError on a broken or truncated header."""
        out: List[Message] = []
        for i, (header, raw) in enumerate(adts_split(adts)):
            config = header.config
            rate = config.sample_rate
            t = ts_ms + (i * AAC_SAMPLES_PER_FRAME * 1000 + rate // 2) // rate
            out += self._frame(raw, t, config.build(), config)
        return out

    def on_raw(self, frame: bytes, ts_ms: int, asc: bytes) -> List[Message]:
        """Messages for one raw AAC frame whose config is ``asc`` (an empty frame: the header only).
        An ``asc`` that does not parse is still sent (the player may know better), as stereo."""
        if asc == self.asc:
            return self._frame(frame, ts_ms, asc, None)
        try:
            config = AacConfig.parse(asc)
        except CodecError:
            config = None
        return self._frame(frame, ts_ms, asc, config)

    def _frame(self, raw: bytes, ts_ms: int, asc: bytes, config: Optional[AacConfig]) -> List[Message]:
        out = []
        if asc != self.asc:
            self.asc = bytes(asc)
            self.stereo = config is None or config.channels != 1
            out.append(Message.make(MSG_AUDIO, ts_ms, aac_payload(AAC_SEQUENCE_HEADER, asc, self.stereo)))
        if raw:
            out.append(Message.make(MSG_AUDIO, ts_ms, aac_payload(AAC_RAW, raw, self.stereo)))
        return out


def split_access_units(annexb: bytes) -> List[bytes]:
    """Cut an Annex-B elementary stream (a .h264 file) into access units, each as Annex-B bytes.

    A new unit starts at an AUD, or at an SPS/PPS/SEI or a slice with first_mb_in_slice 0 that
    follows a picture of the current unit (H.264 7.4.1.2.3, enough for encoder output)."""
    units = []
    cur: list = []
    seen_picture = False
    for nalu in annexb_split(annexb):
        t = nalu[0] & 0x1F
        first_slice = t in _VCL and len(nalu) > 1 and nalu[1] & 0x80  # ue(v) 0 is a single 1 bit
        starts = t == NALU_AUD or (seen_picture and (t in (NALU_SPS, NALU_PPS, NALU_SEI) or first_slice))
        if starts and cur:
            units.append(b"".join(b"\x00\x00\x00\x01" + n for n in cur))
            cur, seen_picture = [], False
        cur.append(nalu)
        if t in _VCL:
            seen_picture = True
    if cur:
        units.append(b"".join(b"\x00\x00\x00\x01" + n for n in cur))
    return units
