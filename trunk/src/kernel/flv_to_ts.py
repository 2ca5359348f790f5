"""FLV/RTMP messages -> MPEG-TS bytes (HLS segments and HTTP-TS live).

H.264 access units become Annex-B with an AUD first and SPS/PPS before every IDR; AAC frames
get ADTS headers; MP3 passes through. Sequence headers are cached, not emitted. Timestamps:
dts = ts_ms * 90, pts = dts + cts * 90 (no added delay, like SRS).

Audio goes out as one PES per audio message (SRS batches several AAC frames per PES; one per
message is valid TS, costs a few percent more overhead, and keeps latency minimal).
"""
from __future__ import annotations

import logging

from srs.kernel.codec import (ACODEC_AAC, ACODEC_MP3, AVC_END_OF_SEQUENCE, AVC_NALU,
                              AVC_SEQUENCE_HEADER, NALU_AUD, NALU_IDR, NALU_SPS, VCODEC_AVC,
                              AacConfig, AudioTag, AvcConfig, VideoTag, adts_header, avcc_split)
from srs.kernel.errors import CodecError
from srs.kernel.message import MSG_AUDIO, MSG_VIDEO, Message
from srs.kernel.ts import TsMuxer

log = logging.getLogger(__name__)

AUD_NALU = b"\x00\x00\x00\x01\x09\xf0"
_START = b"\x00\x00\x00\x01"


class FlvToTs:
    """Remuxes Messages to TS; ``on_message`` returns the TS bytes for one message (maybe b"").

    The first PES is preceded by PAT/PMT; call ``pat_pmt()`` to start each new segment (the
    next PES then does not repeat it). After each call ``last_keyframe`` tells whether the
    output was an IDR video frame and ``last_kind`` what was written ("video", "audio", None).
    """

    def __init__(self, vcodec: str | None = "h264", acodec: str | None = "aac"):
        if vcodec not in ("h264", None):
            raise CodecError(f"TS video codec {vcodec!r} unsupported")
        self.vcodec = vcodec
        self.acodec = acodec
        self.muxer = TsMuxer(vcodec is not None, acodec)
        self.avc: AvcConfig | None = None
        self.aac: AacConfig | None = None
        self._need_psi = True
        self.last_keyframe = False
        self.last_kind: str | None = None
        self.dropped = 0  # messages that could not be written (no sequence header, other codec)

    def pat_pmt(self) -> bytes:
        self._need_psi = False
        return self.muxer.pat_pmt()

    def on_message(self, msg: Message) -> bytes:
        self.last_keyframe = False
        self.last_kind = None
        if msg.kind == MSG_VIDEO and msg.payload:
            return self._video(msg) if self.vcodec else b""
        if msg.kind == MSG_AUDIO and msg.payload:
            return self._audio(msg) if self.acodec else b""
        return b""

    def on_messages(self, msgs) -> bytes:
        return b"".join([self.on_message(m) for m in msgs])

    def _psi(self) -> bytes:
        if self._need_psi:
            self._need_psi = False
            return self.muxer.pat_pmt()
        return b""

    def _video(self, msg: Message) -> bytes:
        payload = msg.payload
        tag = VideoTag.parse(payload)
        if tag.codec_id != VCODEC_AVC:
            self.dropped += 1
            log.debug("ts: drop video codec %s", tag.codec_name)
            return b""
        if tag.avc_packet_type == AVC_SEQUENCE_HEADER:
            self.avc = AvcConfig.parse(payload[5:])
            return b""
        if tag.avc_packet_type == AVC_END_OF_SEQUENCE:
            return b""
        if tag.avc_packet_type != AVC_NALU or self.avc is None:
            self.dropped += 1
            return b""
        parts = [AUD_NALU]
        idr = has_sps = False
        nalus = avcc_split(payload[5:], self.avc.nal_length_size)
        for n in nalus:
            t = n[0] & 0x1F
            if t == NALU_IDR:
                idr = True
            elif t == NALU_SPS:
                has_sps = True
        if idr and not has_sps:
            parts.append(self.avc.annexb_parameter_sets())
        for n in nalus:
            if n[0] & 0x1F == NALU_AUD:
                continue  # ours is already first
            parts.append(_START)
            parts.append(n)
        dts = msg.ts_ms * 90
        keyframe = idr or tag.is_keyframe
        out = self._psi() + self.muxer.write_video(dts + tag.cts * 90, dts, b"".join(parts),
                                                   keyframe)
        self.last_keyframe = keyframe
        self.last_kind = "video"
        return out

    def _audio(self, msg: Message) -> bytes:
        payload = msg.payload
        tag = AudioTag.parse(payload)
        if tag.sound_format == ACODEC_AAC and self.acodec == "aac":
            if tag.aac_packet_type == 0:
                self.aac = AacConfig.parse(payload[2:])
                return b""
            if self.aac is None:
                self.dropped += 1
                return b""
            raw = payload[2:]
            data = adts_header(self.aac, len(raw)) + raw
        elif tag.sound_format == ACODEC_MP3 and self.acodec == "mp3":
            data = payload[1:]
        else:
            self.dropped += 1
            log.debug("ts: drop audio codec %s (want %s)", tag.codec_name, self.acodec)
            return b""
        if not data:
            return b""
        out = self._psi() + self.muxer.write_audio(msg.ts_ms * 90, data)
        self.last_kind = "audio"
        return out
