"""What a sequence header says about a stream, in the words of SRS's API (codec, profile, size...)."""
from __future__ import annotations

from typing import Optional

from srs.kernel.codec import (ACODEC_AAC, ACODEC_EX_HEADER, AUDIO_FOURCC_NAMES, VCODEC_AV1,
                              VCODEC_AVC, VCODEC_HEVC, VCODEC_VP9, VideoTag, audio_codec_name,
                              video_codec_name)
from srs.kernel.codec_aac import AacConfig
from srs.kernel.codec_av1 import Av1Config, Vp9Config
from srs.kernel.codec_avc import AvcConfig
from srs.kernel.codec_hevc import HevcConfig
from srs.kernel.errors import CodecError
from srs.kernel.message import Message

_VIDEO_CONFIGS = {VCODEC_AVC: AvcConfig, VCODEC_HEVC: HevcConfig, VCODEC_AV1: Av1Config,
                  VCODEC_VP9: Vp9Config}


def describe_sequence_header(msg: Message) -> Optional[dict]:
    """A dict for the statistic/API from a video (AVC, HEVC, AV1, VP9) or audio (AAC, Enhanced
    FourCC) sequence header; None when not parseable."""
    p = msg.payload
    try:
        if msg.is_video and len(p) > 5:
            tag = VideoTag.parse(p)
            config = _VIDEO_CONFIGS.get(tag.codec_id)
            if config is None or tag.avc_packet_type != 0:
                return None
            cfg = config.parse(p[tag.data_offset:])
            return {"codec": video_codec_name(tag.codec_id), "profile": cfg.profile, "level": cfg.level,
                    "width": cfg.width, "height": cfg.height}
        if msg.is_audio and len(p) > 2 and (p[0] >> 4) == ACODEC_AAC:
            cfg = AacConfig.parse(p[2:])
            return {"codec": audio_codec_name(ACODEC_AAC), "profile": cfg.profile,
                    "sample_rate": cfg.sample_rate, "channels": cfg.channels}
        if msg.is_audio and len(p) >= 5 and (p[0] >> 4) == ACODEC_EX_HEADER:
            return _describe_ex_audio(bytes(p[1:5]), p[5:])
    except CodecError:
        return None
    return None


def _describe_ex_audio(fourcc: bytes, body) -> Optional[dict]:
    """Enhanced audio: AAC's config is an AudioSpecificConfig; Opus's an OpusHead (RFC 7845)."""
    name = AUDIO_FOURCC_NAMES.get(fourcc)
    if name is None:
        return None
    if fourcc == b"mp4a":
        cfg = AacConfig.parse(body)
        return {"codec": name, "profile": cfg.profile, "sample_rate": cfg.sample_rate,
                "channels": cfg.channels}
    if fourcc == b"Opus" and len(body) >= 16 and bytes(body[:8]) == b"OpusHead":
        return {"codec": name, "profile": "", "sample_rate": 48000, "channels": body[9]}
    return {"codec": name, "profile": "", "sample_rate": 0, "channels": 0}
