"""FLV/RTMP messages -> MPEG-TS bytes (HLS segments and HTTP-TS live).

H.264 access units become Annex-B with an AUD first and SPS/PPS before every IDR; HEVC (legacy
codec id 12 or Enhanced RTMP ``hvc1``) the same with VPS/SPS/PPS before every random access
picture, in stream type 0x24. AV1 and VP9 have no standard TS mapping that players read: their
video is dropped with one warning. AAC frames get ADTS headers; MP3 passes through. Sequence
headers are cached, not emitted. Timestamps: dts = ts_ms * 90, pts = dts + cts * 90 (no added
delay, like SRS).

Audio goes out as one PES per audio message (SRS batches several AAC frames per PES; one per
message is valid TS, costs a few percent more overhead, and keeps latency minimal).
"""
from __future__ import annotations

import logging

from srs.kernel import codec_hevc as hevc
from srs.kernel.codec import (ACODEC_AAC, ACODEC_MP3, AVC_END_OF_SEQUENCE, AVC_NALU,
                              AVC_SEQUENCE_HEADER, EX_METADATA, NALU_AUD, NALU_IDR, NALU_SPS,
                              VCODEC_AVC, VCODEC_HEVC, AacConfig, AudioTag, AvcConfig, VideoTag,
                              adts_header, avcc_split)
from srs.kernel.codec_hevc import HevcConfig
from srs.kernel.errors import CodecError
from srs.kernel.message import MSG_AUDIO, MSG_VIDEO, Message
from srs.kernel.ts import TsMuxer

log = logging.getLogger(__name__)

AUD_NALU = b"\x00\x00\x00\x01\x09\xf0"
_START = b"\x00\x00\x00\x01"
TS_VIDEO_CODECS = {VCODEC_AVC: "h264", VCODEC_HEVC: "hevc"}


class FlvToTs:
    """Remuxes Messages to TS; ``on_message`` returns the TS bytes for one message (maybe b"").

    The first PES is preceded by PAT/PMT; call ``pat_pmt()`` to start each new segment (the
    next PES then does not repeat it). After each call ``last_keyframe`` tells whether the
    output was an IDR video frame and ``last_kind`` what was written ("video", "audio", None).

    ``vcodec`` is the video the PMT names first ("h264", "hevc" or None for none); a sequence
    header of the other one switches it (the next PAT/PMT names the new stream type), so a
    caller that does not know the codec yet may pass "h264".
    """

    def __init__(self, vcodec: str | None = "h264", acodec: str | None = "aac"):
        if vcodec not in ("h264", "hevc", None):
            raise CodecError(f"TS video codec {vcodec!r} unsupported")
        self.vcodec = vcodec
        self.acodec = acodec
        self.muxer = TsMuxer(vcodec is not None, acodec, vcodec or "h264")
        self.avc: AvcConfig | HevcConfig | None = None
        self.refused_video = ""  # the codec whose video was dropped (warned once)
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
        vcodec = TS_VIDEO_CODECS.get(tag.codec_id)
        if vcodec is None:
            self.dropped += 1
            if not self.refused_video and tag.codec_id:
                self.refused_video = tag.codec_name
                log.warning("ts: %s video cannot go into MPEG-TS (no standard mapping), dropped; "
                            "play it over RTMP or HTTP-FLV", tag.codec_name)
                if self.acodec is not None and self.muxer.has_video:
                    self.muxer.set_video_codec(None)  # the next PMT: audio only, not an empty video
            return b""
        if tag.avc_packet_type == AVC_SEQUENCE_HEADER:
            body = payload[tag.data_offset:]
            self.avc = AvcConfig.parse(body) if vcodec == "h264" else HevcConfig.parse(body)
            if vcodec != self.vcodec or not self.muxer.has_video:
                self.vcodec = vcodec
                self.muxer.set_video_codec(vcodec)
            return b""
        if tag.avc_packet_type == AVC_END_OF_SEQUENCE or tag.ex_packet_type == EX_METADATA:
            return b""  # no picture: nothing is lost
        if (tag.avc_packet_type != AVC_NALU or self.avc is None or vcodec != self.vcodec
                or tag.data_offset >= len(payload)):
            self.dropped += 1
            return b""
        nalus = avcc_split(payload[tag.data_offset:], self.avc.nal_length_size)
        if vcodec == "h264":
            idr, parts = self._h264(nalus)
        else:
            idr, parts = self._hevc(nalus)
        dts = msg.ts_ms * 90
        keyframe = idr or tag.is_keyframe
        out = self._psi() + self.muxer.write_video(dts + tag.cts * 90, dts, b"".join(parts),
                                                   keyframe)
        self.last_keyframe = keyframe
        self.last_kind = "video"
        return out

    def _h264(self, nalus) -> tuple:
        parts = [AUD_NALU]
        idr = has_sps = False
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
        return idr, parts

    def _hevc(self, nalus) -> tuple:
        parts = [hevc.AUD_ANNEXB]
        irap = has_sps = False
        for n in nalus:
            t = (n[0] >> 1) & 0x3F
            if hevc.is_irap(t):
                irap = True
            elif t == hevc.NALU_SPS:
                has_sps = True
        if irap and not has_sps:
            parts.append(self.avc.annexb_parameter_sets())
        for n in nalus:
            if (n[0] >> 1) & 0x3F == hevc.NALU_AUD:
                continue
            parts.append(_START)
            parts.append(n)
        return irap, parts

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
