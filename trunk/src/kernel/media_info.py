"""What a sequence header says about a stream, in the words of SRS's API (codec, profile, size...)."""
from __future__ import annotations

from typing import Optional

from srs.kernel.codec import ACODEC_AAC, VCODEC_AVC, audio_codec_name, video_codec_name
from srs.kernel.codec_aac import AacConfig
from srs.kernel.codec_avc import AvcConfig
from srs.kernel.errors import CodecError
from srs.kernel.message import Message


def describe_sequence_header(msg: Message) -> Optional[dict]:
    """A dict for the statistic/API from an AVC or AAC sequence header; None when not parseable."""
    p = msg.payload
    try:
        if msg.is_video and len(p) > 5 and (p[0] & 0x0F) == VCODEC_AVC:
            cfg = AvcConfig.parse(p[5:])
            return {"codec": video_codec_name(VCODEC_AVC), "profile": cfg.profile, "level": cfg.level,
                    "width": cfg.width, "height": cfg.height}
        if msg.is_audio and len(p) > 2 and (p[0] >> 4) == ACODEC_AAC:
            cfg = AacConfig.parse(p[2:])
            return {"codec": audio_codec_name(ACODEC_AAC), "profile": cfg.profile,
                    "sample_rate": cfg.sample_rate, "channels": cfg.channels}
    except CodecError:
        return None
    return None
