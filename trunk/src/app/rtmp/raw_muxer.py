"""Raw H.264 (Annex-B) and raw AAC (ADTS) -> RTMP messages, as srs-librtmp's raw publishing.

No I/O here: ``RtmpSession.write_h264_raw`` / ``write_aac_raw`` (app/librtmp.py), the raw
publishing tools and HLS ingest (TS PES payloads are Annex-B and ADTS) feed these muxers and
send the messages they return.

H.264: SPS and PPS are remembered, and an AVC sequence header is emitted (at the frame's dts)
before the next picture whenever either one changed - a repeated identical SPS/PPS (every IDR
in a TS) sends nothing. Access unit delimiters are dropped; SEI and other non-VCL NALUs ride
with the next picture. All NALUs of one call form one RTMP message (one access unit), a
keyframe when any is an IDR. Pictures before the first SPS+PPS cannot be decoded and are
dropped (counted in ``dropped``), as SRS's ERROR_H264_DROP_BEFORE_SPS_PPS.

AAC: each ADTS frame of a call becomes one raw AAC message; an AudioSpecificConfig sequence
header is emitted first, and again when the ADTS header announces another config. Frames after
the first of one call are spaced by 1024 samples (a TS PES carries several frames under one PTS).
"""
from __future__ import annotations

import logging

from srs.kernel.codec import (AVC_NALU, AVC_SEQUENCE_HEADER, NALU_AUD, NALU_IDR, NALU_PPS, NALU_SPS,
                              AvcConfig, aac_payload, adts_split, annexb_split, annexb_to_avcc,
                              avc_payload)
from srs.kernel.message import MSG_AUDIO, MSG_VIDEO, Message

log = logging.getLogger(__name__)

__all__ = ["AvcRawMuxer", "AacRawMuxer", "split_access_units", "AAC_SAMPLES_PER_FRAME"]

AAC_SAMPLES_PER_FRAME = 1024
_VCL = frozenset((1, 2, 3, 4, 5))  # coded slices (non-IDR, partitions A-C, IDR)


class AvcRawMuxer:
    """Annex-B access units -> AVC sequence header + AVCC video messages."""

    __slots__ = ("sps", "pps", "_changed", "_pending", "dropped", "config")

    def __init__(self):
        self.sps = b""
        self.pps = b""
        self._changed = False
        self._pending: list = []   # SEI & co. waiting for their picture
        self.dropped = 0
        self.config = None         # AvcConfig of the last sequence header sent

    def on_frames(self, annexb: bytes, dts: int, pts: int, stream_id: int = 1) -> list:
        """Messages for the NALUs in ``annexb`` (one or more start-code prefixed NALUs).

        Raises CodecError when the data holds no start code or the SPS cannot be parsed."""
        body = self._pending
        key = False
        picture = False
        for nalu in annexb_split(annexb):
            t = nalu[0] & 0x1F
            if t == NALU_SPS:
                if nalu != self.sps:
                    self.sps, self._changed = nalu, True
            elif t == NALU_PPS:
                if nalu != self.pps:
                    self.pps, self._changed = nalu, True
            elif t == NALU_AUD:
                continue
            else:
                body.append(nalu)
                if t in _VCL:
                    picture = True
                    key = key or t == NALU_IDR
        if not picture:
            return []  # parameter sets only, or SEI before its picture (kept in _pending)
        self._pending = []
        out = []
        if self._changed and self.sps and self.pps:
            self.config = AvcConfig.from_parameter_sets(self.sps, self.pps)
            out.append(Message.make(MSG_VIDEO, dts, avc_payload(True, AVC_SEQUENCE_HEADER, 0,
                                                                self.config.build()), stream_id))
            self._changed = False
        if self.config is None:
            self.dropped += 1
            log.info("librtmp: drop a picture before SPS/PPS (dts=%d, %d dropped)", dts, self.dropped)
            return out
        out.append(Message.make(MSG_VIDEO, dts, avc_payload(key, AVC_NALU, pts - dts,
                                                            annexb_to_avcc(body)), stream_id))
        return out


class AacRawMuxer:
    """ADTS frames -> AAC sequence header + raw AAC audio messages."""

    __slots__ = ("asc", "config")

    def __init__(self):
        self.asc = b""
        self.config = None

    def on_frames(self, adts: bytes, ts: int, stream_id: int = 1) -> list:
        """Messages for every ADTS frame in ``adts``; raises CodecError on a broken header."""
        out = []
        for i, (header, raw) in enumerate(adts_split(adts)):
            config = header.config
            asc = config.build()
            stereo = config.channels != 1
            if asc != self.asc:
                self.asc, self.config = asc, config
                out.append(Message.make(MSG_AUDIO, ts, aac_payload(0, asc, stereo), stream_id))
            t = ts + (i * AAC_SAMPLES_PER_FRAME * 1000 + config.sample_rate // 2) // config.sample_rate
            out.append(Message.make(MSG_AUDIO, t, aac_payload(1, raw, stereo), stream_id))
        return out


def split_access_units(annexb: bytes) -> list:
    """Cut an Annex-B elementary stream (a .h264 file) into access units, each as Annex-B bytes.

    A new unit starts at an AUD, or at an SPS/PPS/SEI or a slice with first_mb_in_slice 0 that
    follows a picture of the current unit (H.264 7.4.1.2.3, enough for encoder output)."""
    units = []
    cur: list = []
    seen_picture = False
    for nalu in annexb_split(annexb):
        t = nalu[0] & 0x1F
        first_slice = t in _VCL and len(nalu) > 1 and nalu[1] & 0x80  # ue(v) 0 is a single 1 bit
        starts = t == NALU_AUD or (seen_picture and (t in (NALU_SPS, NALU_PPS, 6) or first_slice))
        if starts and cur:
            units.append(b"".join(b"\x00\x00\x00\x01" + n for n in cur))
            cur, seen_picture = [], False
        cur.append(nalu)
        if t in _VCL:
            seen_picture = True
    if cur:
        units.append(b"".join(b"\x00\x00\x00\x01" + n for n in cur))
    return units
