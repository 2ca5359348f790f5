"""Messages -> an ADTS byte stream (HTTP live ``.aac``): raw AAC frames get ADTS headers.

The AudioSpecificConfig from the sequence header is cached; frames before it, and
non-AAC audio, produce nothing (counted in ``dropped``).
"""
from __future__ import annotations

from srs.kernel.codec import ACODEC_AAC, AAC_SEQUENCE_HEADER, AacConfig, adts_header
from srs.kernel.message import MSG_AUDIO, Message


class AdtsMuxer:
    def __init__(self):
        self.config: AacConfig | None = None
        self.dropped = 0

    def on_message(self, msg: Message) -> bytes:
        payload = msg.payload
        if msg.kind != MSG_AUDIO or len(payload) < 2:
            return b""
        if payload[0] >> 4 != ACODEC_AAC:
            self.dropped += 1
            return b""
        if payload[1] == AAC_SEQUENCE_HEADER:
            self.config = AacConfig.parse(payload[2:])
            return b""
        if self.config is None:
            self.dropped += 1
            return b""
        raw = payload[2:]
        return adts_header(self.config, len(raw)) + raw

    def on_messages(self, msgs) -> bytes:
        return b"".join([self.on_message(m) for m in msgs])
